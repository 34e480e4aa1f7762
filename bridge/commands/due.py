"""``jsm-bridge due``: when is a case raised at T due? The business clock's public face.

    jsm-bridge due --created 2026-11-27T15:00+10:00 --priority P1 --customer "Acme Networks"

prints the due time in the calendar's zone and in UTC, the target's business
duration, and the holidays the clock skipped.  Without ``--customer`` or
``--calendar`` the rules' ``default_calendar`` is used.  A time without an
offset is read in the chosen calendar's zone (and the output says so).
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from bridge.commands.check import (
    describe_target,
    format_business_duration,
    load_policy,
    print_problems,
)
from bridge.policy.compiled import CustomerFacts, Policy
from bridge.policy.model import RuleSet
from bridge.policy.sla import target_due

EXIT_USAGE = 2


def _fail(message: str) -> int:
    print(f"jsm-bridge due: {message}", file=sys.stderr)
    return EXIT_USAGE


def _level(ruleset: RuleSet, given: str) -> str | None:
    wanted = given.strip().casefold()
    for level in ruleset.priorities.levels:
        if level.casefold() == wanted:
            return level
    return ruleset.priorities.level_of(given.strip())


def run(args: argparse.Namespace) -> int:
    policy = load_policy(args)
    rules_problems = [p for p in policy.problems if Path(p.file) != policy.config_path]
    if rules_problems or policy.ruleset is None or (policy.problems and not args.rules):
        print_problems(policy.problems, sys.stderr)
        return 1
    for problem in policy.problems:  # the config does not matter with --rules: say, go on
        print(f"note: {problem}", file=sys.stderr)
    ruleset = policy.ruleset
    assert ruleset is not None
    out = sys.stdout

    level = _level(ruleset, args.priority)
    if level is None:
        known = ", ".join(
            f"{lv} ({ruleset.priorities.jira_names[lv]})" for lv in ruleset.priorities.levels
        )
        return _fail(f"unknown priority {args.priority!r}; use one of {known}")

    customer: CustomerFacts | None = None  # its calendar as a case of it is timed
    if args.customer is not None:
        customer = Policy.compile(ruleset).customer(args.customer)
        if customer is None:
            known = ", ".join(sorted(ruleset.customers)) or "none"
            return _fail(f"unknown customer {args.customer!r}; customers in the rules: {known}")
        calendar_name = customer.calendar_name
    elif args.calendar is not None:
        calendar_name = args.calendar
        if calendar_name not in ruleset.calendars:
            known = ", ".join(sorted(ruleset.calendars))
            return _fail(f"unknown calendar {args.calendar!r}; calendars in sla.yaml: {known}")
    else:
        calendar_name = ruleset.default_calendar
    calendar = ruleset.calendars[calendar_name]

    try:
        created = datetime.fromisoformat(args.created.strip())
    except ValueError:
        return _fail(
            f"--created {args.created!r} is not an ISO 8601 time; "
            "e.g. 2026-11-27T15:00+10:00 or 2026-11-27T15:00 (read in the calendar's zone)"
        )
    naive = created.tzinfo is None
    if naive:
        created = created.replace(tzinfo=calendar.tz)

    target = ruleset.response.targets[level]
    due, business, _ = target_due(calendar, created, target)

    jira_name = ruleset.priorities.jira_names[level]
    if customer is not None:
        print(
            f"{customer.customer.organization}: {customer.tier.name} tier, "
            f"calendar {calendar_name} ({calendar.timezone})",
            file=out,
        )
    else:
        source = "" if args.calendar is not None else " (the default calendar)"
        print(f"calendar {calendar_name}{source}: {calendar.timezone}", file=out)
    print(f"{level} ({jira_name}) target: {describe_target(target)}", file=out)
    if naive:
        print(f"note: --created has no offset; read as {calendar.timezone} time", file=out)
    print(f"created  {calendar.format(created)}", file=out)
    utc = due.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"due      {calendar.format(due)}  ({utc})", file=out)
    print("a response at this instant is in time: breached only after it", file=out)
    print(f"business time to respond: {format_business_duration(business)}", file=out)
    skipped = calendar.holidays_on_working_days(
        created.astimezone(calendar.tz).date(), due.astimezone(calendar.tz).date()
    )
    if skipped:
        listed = "; ".join(f"{d:%a %d %b %Y} {n}" for d, n in skipped)
        print(f"holidays skipped: {listed}", file=out)
    return 0
