"""``jsm-bridge explain KEY``: the full reasoning for one case.

Tier and contacts, quota position with the month's ranking, entitlement, every
priority rule that fired, the calendar, created → due with the business time used
so far, the SLA state, the escalation steps reached and the next one, what a cycle
would do now, and what the bridge already did (from the issue's ledger).
Reads only; writes nothing.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

from bridge.commands._runtime import (
    EXIT_OK,
    CommandError,
    preview,
    setup_logging,
)
from bridge.logs import complain
from bridge.sync.plan import describe

TOPIC_TITLES = {
    "customer": "Customer",
    "tier": "Tier",
    "contact": "Contact",
    "quota": "Quota",
    "entitlement": "Entitlement",
    "info": "Required information",
    "priority": "Priority",
    "clock": "Clock",
    "sla": "SLA",
    "escalation": "Escalation",
    "assign": "Assignment",
    "case": "Case",
}


def _hours(value: timedelta | None) -> str:
    if value is None:
        return "-"
    minutes = int(value.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


def run(args: argparse.Namespace) -> int:
    setup_logging(args, quiet_by_default=True)
    key = args.key.upper()
    try:
        result = preview(args, only_key=key, explain=True)
    except CommandError as exc:
        complain(f"error: {exc}")
        return exc.code
    settings, now, report = result.settings, result.now, result.report
    for skipped_key, why in report.skipped:
        print(f"{skipped_key}: cannot be evaluated — {why}")
    if not report.outcomes:
        if not report.skipped:
            print(
                f"{key} was not found in the bridge's scope ({settings.jira.jql}): "
                "check the key, or that the issue matches jira.jql"
            )
        return 1
    outcome = report.outcomes[0]
    desired, plan = outcome.desired, outcome.plan
    if desired is None or plan is None:
        return 1
    print(f"{key} at {now.isoformat(timespec='minutes')}")
    print(f"  organisation: {outcome.organization or '(none)'}   tier: {desired.tier or '-'}")
    print(
        f"  priority: {outcome.priority_before or '-'} → "
        f"{desired.priority_jira or outcome.priority_before or '-'}"
        f" ({desired.priority or '-'}; {desired.priority_reason})"
    )
    due = desired.response_due.isoformat(timespec="minutes") if desired.response_due else "-"
    print(
        f"  response due: {due}   SLA state: {desired.sla_state}   "
        f"business time used: {_hours(desired.business_used)} of {_hours(desired.target)}"
    )
    if desired.quota is not None:
        q = desired.quota
        print(f"  quota: case {q.used} of {q.limit} in {q.month}{' — OVER' if q.over else ''}")
    last = None
    for line in desired.explanation:
        if line.topic != last:
            print(f"\n{TOPIC_TITLES.get(line.topic, line.topic.title())}:")
            last = line.topic
        print(f"  - {line.text}")
    print("\nA cycle now would:")
    planned = describe(plan) if plan.actions else []
    for text in planned:
        print(f"  {text}")
    if not planned:
        print("  change nothing")
    print("\nAlready done by the bridge (ledger):")
    done = sorted(plan.ledger.done.items(), key=lambda kv: kv[1])
    for action_id, at in done:
        print(f"  {at}  {action_id}")
    if not done:
        print("  nothing yet")
    skipped = sorted(plan.ledger.skipped.items(), key=lambda kv: kv[1])
    if skipped:
        print("\nSkipped by the bridge (the transition was not made when its moment came):")
        for action_id, at in skipped:
            print(f"  {at}  {action_id}")
    return EXIT_OK
