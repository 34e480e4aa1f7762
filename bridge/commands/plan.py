"""``jsm-bridge plan``: the changes a cycle would make, grouped by issue; writes nothing."""

from __future__ import annotations

import argparse
import json

from bridge.commands._runtime import (
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_PARTIAL,
    CommandError,
    preview,
    setup_logging,
)
from bridge.logs import complain
from bridge.sync.plan import describe, to_json


def run(args: argparse.Namespace) -> int:
    setup_logging(args, quiet_by_default=True)
    try:
        result = preview(args, only_key=args.issue)
    except CommandError as exc:
        complain(f"error: {exc}")
        return exc.code
    settings, now, report = result.settings, result.now, result.report
    plans = [o.plan for o in report.outcomes if o.plan is not None and o.plan.actions]
    missing = bool(args.issue and not report.outcomes and not report.skipped)
    # the same exit status in both modes: 1 for a key out of scope, 4 for skipped cases
    code = EXIT_CONFIG if missing else EXIT_PARTIAL if report.skipped else EXIT_OK
    if args.json:
        print(
            json.dumps(
                {
                    "now": now.isoformat(),
                    "issues_read": report.read,
                    "skipped": [{"key": k, "problem": why} for k, why in report.skipped],
                    "actions": to_json(plans),
                    **({"not_in_scope": args.issue} if missing else {}),
                },
                indent=2,
            )
        )
        return code
    print(f"Plan at {now.isoformat(timespec='minutes')} — {report.read} issue(s) read")
    if missing:
        print(f"{args.issue} is not in the bridge's scope ({settings.jira.jql}) or does not exist")
        return code
    for line in describe(plans):
        print(line)
    for key, why in report.skipped:
        print(f"{key}: skipped — {why}")
    if not plans:
        print("Nothing to change.")
    else:
        n = sum(len(p.actions) for p in plans)
        print(f"{n} action(s) on {len(plans)} issue(s). Nothing was written.")
    return code
