"""``jsm-bridge due``: when is a case raised at T due? The business clock's public face.

    jsm-bridge due --created 2026-11-27T15:00+10:00 --priority P1 --customer "Acme Networks"

prints the due time in the calendar's zone and in UTC, the target's business
duration, and the holidays the clock skipped.  Without ``--customer`` or
``--calendar`` the rules' ``default_calendar`` is used.  A time without an
offset is read in the chosen calendar's zone (and the output says so).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

from bridge.commands.check import (
    describe_target,
    format_business_duration,
    load_policy,
    print_problems,
)
from bridge.logs import complain
from bridge.policy.clock import BusinessCalendar
from bridge.policy.compiled import CustomerFacts, Policy
from bridge.policy.model import RuleSet
from bridge.policy.sla import target_due

EXIT_USAGE = 2


def _fail(message: str) -> int:
    complain(f"jsm-bridge due: {message}")
    return EXIT_USAGE


def _level(ruleset: RuleSet, given: str) -> str | None:
    wanted = given.strip().casefold()
    for level in ruleset.priorities.levels:
        if level.casefold() == wanted:
            return level
    return ruleset.priorities.level_of(given.strip())


class _Refused(Exception):
    """An argument names nothing the rules know, or is not a time: the message says so."""


def run(args: argparse.Namespace) -> int:
    policy = load_policy(args)
    rules_problems = [p for p in policy.problems if Path(p.file) != policy.config_path]
    if rules_problems or policy.ruleset is None or (policy.problems and not args.rules):
        print_problems(policy.problems)
        return 1
    for problem in policy.problems:  # the config does not matter with --rules: say, go on
        complain(f"note: {problem}", level=logging.INFO)
    ruleset = policy.ruleset
    assert ruleset is not None
    try:
        level = _priority(ruleset, args.priority)
        customer, calendar_name = _calendar_of(ruleset, args)
        calendar = ruleset.calendars[calendar_name]
        created, naive = _created(args.created, calendar)
    except _Refused as refused:
        return _fail(str(refused))

    target = ruleset.response.targets[level]
    due, business, _, _ = target_due(calendar, created, target)
    out = sys.stdout
    if customer is not None:
        print(
            f"{customer.customer.organization}: {customer.tier.name} tier, "
            f"calendar {calendar_name} ({calendar.timezone})",
            file=out,
        )
    else:
        source = "" if args.calendar is not None else " (the default calendar)"
        print(f"calendar {calendar_name}{source}: {calendar.timezone}", file=out)
    jira_name = ruleset.priorities.jira_names[level]
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


def _priority(ruleset: RuleSet, given: str) -> str:
    level = _level(ruleset, given)
    if level is None:
        known = ", ".join(
            f"{lv} ({ruleset.priorities.jira_names[lv]})" for lv in ruleset.priorities.levels
        )
        raise _Refused(f"unknown priority {given!r}; use one of {known}")
    return level


def _calendar_of(ruleset: RuleSet, args: argparse.Namespace) -> tuple[CustomerFacts | None, str]:
    """The customer asked about (None: none) and the calendar its cases are timed in:
    ``--customer``'s, else ``--calendar``, else the rules' default calendar."""
    if args.customer is not None:
        customer = Policy.compile(ruleset).customer(args.customer)
        if customer is None:
            known = ", ".join(sorted(ruleset.customers)) or "none"
            raise _Refused(f"unknown customer {args.customer!r}; customers in the rules: {known}")
        return customer, customer.calendar_name
    if args.calendar is not None:
        if args.calendar not in ruleset.calendars:
            known = ", ".join(sorted(ruleset.calendars))
            raise _Refused(f"unknown calendar {args.calendar!r}; calendars in sla.yaml: {known}")
        return None, args.calendar
    return None, ruleset.default_calendar


def _created(given: str, calendar: BusinessCalendar) -> tuple[datetime, bool]:
    """``--created`` as a time, and whether it had no offset (read in the calendar's zone)."""
    try:
        created = datetime.fromisoformat(given.strip())
    except ValueError:
        raise _Refused(
            f"--created {given!r} is not an ISO 8601 time; "
            "e.g. 2026-11-27T15:00+10:00 or 2026-11-27T15:00 (read in the calendar's zone)"
        ) from None
    if created.tzinfo is None:
        return created.replace(tzinfo=calendar.tz), True
    return created, False
