"""``jsm-bridge plan``: the changes a cycle would make, grouped by issue; writes nothing."""

from __future__ import annotations

import argparse
import json
import sys

from bridge.commands._runtime import (
    EXIT_JIRA,
    EXIT_OK,
    EXIT_USAGE,
    CommandError,
    connect,
    default_tz,
    load_config,
    parse_now,
    setup_logging,
)
from bridge.sync.plan import describe, to_json


def run(args: argparse.Namespace) -> int:
    setup_logging(args, quiet_by_default=True)
    try:
        settings, ruleset = load_config(args)
        now = parse_now(args.now, default_tz(ruleset))
        runtime = connect(settings, ruleset, state_path=":memory:")
    except CommandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.code
    try:
        try:
            report = runtime.engine.cycle(now, dry_run=True, only_key=args.issue)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    finally:
        runtime.close()
    if report.aborted:
        print(f"error: Jira failed while reading: {report.aborted}", file=sys.stderr)
        return EXIT_JIRA
    plans = [o.plan for o in report.outcomes if o.plan is not None and o.plan.actions]
    if args.json:
        print(
            json.dumps(
                {
                    "now": now.isoformat(),
                    "issues_read": report.read,
                    "skipped": [{"key": k, "problem": why} for k, why in report.skipped],
                    "actions": to_json(plans),
                },
                indent=2,
            )
        )
        return EXIT_OK
    print(f"Plan at {now.isoformat(timespec='minutes')} — {report.read} issue(s) read")
    if args.issue and not report.outcomes and not report.skipped:
        print(f"{args.issue} is not in the bridge's scope ({settings.jira.jql}) or does not exist")
        return 1
    for line in describe(plans):
        print(line)
    for key, why in report.skipped:
        print(f"{key}: skipped — {why}")
    if not plans:
        print("Nothing to change.")
    else:
        n = sum(len(p.actions) for p in plans)
        print(f"{n} action(s) on {len(plans)} issue(s). Nothing was written.")
    return EXIT_OK
