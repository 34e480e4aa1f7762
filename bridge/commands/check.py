"""``jsm-bridge check``: validate the config and the rules; print a summary of the policy.

Every problem in ``config/bridge.yaml`` and ``rules/*.yaml`` is printed as
``file:line: message (hint)`` and the exit status is 1.  When everything is
valid, a readable summary of the policy follows (tiers, customers, priorities
and rules, targets, calendars with their next holidays, the escalation ladder)
and the exit status is 0.

:func:`load_policy` is the shared way for commands to find and load the
settings and the rule set from ``--config``/``--rules``.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any, TextIO

from bridge.discovery import LOCAL_CONFIG, find_config
from bridge.logs import complain
from bridge.policy.clock import BusinessCalendar
from bridge.policy.model import (
    Condition,
    EscalationAction,
    FlagPolicy,
    RequiredItem,
    RuleSet,
    Target,
)
from bridge.policy.problems import Problem
from bridge.policy.ruleset import RulesInvalid
from bridge.rules.load import load_ruleset
from bridge.settings import ConfigInvalid, Settings, load_settings
from bridge.yamlsafe import read_yaml

__all__ = [
    "Policy",
    "describe_condition",
    "format_business_duration",
    "load_policy",
    "print_summary",
    "run",
]

_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass
class Policy:
    """What :func:`load_policy` found: settings (if any), the rule set (if valid), and problems."""

    settings: Settings | None
    ruleset: RuleSet | None
    rules_path: Path
    config_path: Path
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_policy(args: argparse.Namespace, *, need_config: bool = False) -> Policy:
    """Load ``--config`` (when it exists) and the rules from ``--rules`` or the config's ``rules:``.

    A missing config at the default path is only a note (unless ``need_config``);
    a missing config named explicitly is a problem.  Config problems do not stop
    the rules from being checked too.
    """
    location = find_config(getattr(args, "config", None))
    config_path = location.path if location.path is not None else LOCAL_CONFIG
    rules_arg = getattr(args, "rules", None)
    settings: Settings | None = None
    problems: list[Problem] = []
    notes: list[str] = []
    if location.path is not None and location.path.exists():
        notes.append(f"config {location.path} (from {location.source})")
        try:
            settings = load_settings(location.path)
        except ConfigInvalid as exc:
            problems.extend(exc.problems)
        else:
            notes.extend(settings.notes)
    elif location.explicit:
        problems.append(
            Problem(
                str(config_path),
                None,
                f"config file not found (named by {location.source})",
                "run `jsm-bridge init DIR` for a config to start from, or fix the path",
            )
        )
    elif need_config:
        problems.append(
            Problem(
                str(config_path),
                None,
                f"no config found (looked at {location.looked})",
                "run `jsm-bridge init DIR` and work in DIR, or pass --config PATH",
            )
        )
    else:
        notes.append(f"no config found (looked at {location.looked}): checking the rules only")

    if rules_arg:
        rules_path = Path(rules_arg)
    elif settings is not None:
        rules_path = settings.rules_path
    elif location.path is not None and config_path.exists():
        # the config has problems, but its rules are still the ones to check
        rules_path = _rules_named_by(config_path)
    else:
        rules_path = Path("rules")
    known_fields = tuple(settings.fields) if settings is not None else None
    ruleset: RuleSet | None = None
    try:
        ruleset = load_ruleset(rules_path, known_fields, config=config_path)
    except RulesInvalid as exc:
        problems.extend(exc.problems)
    return Policy(settings, ruleset, rules_path, config_path, problems, notes)


def _rules_named_by(config_path: Path) -> Path:
    """The `rules:` entry of a config that did not load (default ``../rules`` beside it)."""
    base = config_path.parent
    tree, _ = read_yaml(config_path)  # the bounded loader: a bad config cannot hang `check`
    entry = None
    if tree is not None and tree.kind == "map":
        entry = next((v.value for k, v in tree.entries if k.text == "rules"), None)
    path = Path(entry) if isinstance(entry, str) and entry.strip() else Path("../rules")
    return Path(os.path.normpath(path if path.is_absolute() else base / path))


def print_problems(problems: Sequence[Problem], out: TextIO | None = None) -> None:
    """One line per problem, then their count; to ``out``, else to stderr as errors (with
    their syslog priority when the log lines carry theirs: `bridge.logs.complain`)."""
    count = len(problems)
    lines = [*map(str, problems)]
    lines.append(f"{count} problem{'s' if count != 1 else ''} found; nothing was changed in Jira.")
    for line in lines:
        if out is None:
            complain(line)
        else:
            print(line, file=out)


def run(args: argparse.Namespace) -> int:
    out = sys.stdout
    policy = load_policy(args)
    for note in policy.notes:
        print(f"note: {note}", file=out)
    if policy.problems:
        print_problems(policy.problems, out)
        return 1
    assert policy.ruleset is not None
    today = getattr(args, "today", None) or date.today()  # the command layer may read the date
    if policy.settings is not None:
        for warning in scope_warnings(policy.settings):
            print(f"warning: {warning}", file=out)
        _print_settings(policy.settings, out)
    print_summary(policy.ruleset, today, out, rules_path=policy.rules_path)
    if getattr(args, "online", False):
        if policy.settings is None:
            print("\nerror: --online needs a config (the Jira site to ask)", file=out)
            return 1
        # the rules checked (`--rules DIR` when given): the online problems point into them
        in_use = dataclasses.replace(policy.settings, rules_path=policy.rules_path)
        return _online(in_use, policy.ruleset, out)
    checked = "config and rules are" if policy.settings is not None else "rules are"
    print(f"\nOK: {checked} valid.", file=out)
    return 0


def scope_warnings(settings: Settings, organization: Sequence[str] = ()) -> list[str]:
    """A warning for each clause of ``jira.jql`` that selects cases by status or
    resolution, or by organisation, with the config's ``file:line``: the cases it hides
    still count for the quota, which then costs a search per cycle outside the scope.
    ``organization``: the names JQL may give the organisation field on the site (with
    ``--online``: its ``cf[id]`` too); by default the name the config gives it."""
    from bridge.sync.poll import organization_names, scope_field_clauses, scope_status_clauses

    jql = settings.jira.jql
    names = organization or organization_names(None, settings.fields.get("organization"))
    statuses = scope_status_clauses(jql)
    organisations = scope_field_clauses(jql, names)
    if not statuses and not organisations:
        return []
    where = str(settings.path)
    try:
        lines = Path(settings.path).read_text(encoding="utf-8").splitlines()
        line = next(n for n, text in enumerate(lines, 1) if text.strip().startswith("jql:"))
        where += f":{line}"
    except (OSError, StopIteration, UnicodeDecodeError):
        pass
    searched = (
        "so each cycle the bridge searches the organisations' months in the projects of "
        "the cases it reads, outside the scope."
    )
    return [
        f"{where}: jira.jql selects cases by status or resolution ({clause}): the cases it "
        f"leaves out (resolved ones, say) still count for the quota, {searched} To count "
        "from the scope and save that search, remove the clause: the bridge writes only "
        "fields (tier, quota, SLA state, due) on resolved cases."
        for clause in statuses
    ] + [
        f"{where}: jira.jql selects cases by organisation ({clause}): a customer's month "
        "also holds the cases it leaves out (its contacts' cases naming no organisation, "
        f"or those naming it), {searched}"
        for clause in organisations
    ]


def _online(settings: Settings, ruleset: RuleSet, out: TextIO) -> int:
    """``--online``: the site's names, options, permissions and screens, as `run` will need them."""
    from bridge.jira.client import JiraClient
    from bridge.jira.port import JiraError
    from bridge.sitesetup import online_check

    print(f"\nJira site {settings.jira.url} ({settings.jira.flavour})", file=out)
    client = JiraClient.from_settings(settings.jira)
    try:
        result = online_check(client, settings, ruleset)
        result.notes.extend(unmapped_priorities(client.priorities(), ruleset))
    except JiraError as exc:
        # the exit code `run` and `plan` give for the same answer: 1 when a person must fix
        # something (token, permission, jira.url, TLS), 3 when Jira is down or busy
        from bridge.commands._runtime import jira_exit

        print(f"error: cannot use Jira at {settings.jira.url}: {exc}", file=out)
        return jira_exit(exc)
    finally:
        client.close()
    for fact in result.facts:
        print(f"  {fact}", file=out)
    told = set(scope_warnings(settings))  # offline: by the configured name only
    for warning in scope_warnings(settings, result.organization_names):
        if warning not in told:  # a clause naming the field by its id (cf[10002])
            print(f"warning: {warning}", file=out)
    for note in result.notes:
        print(f"note: {note}", file=out)
    if result.problems:
        for problem in result.problems:
            print(f"  - {problem}", file=out)
        count = len(result.problems)
        print(
            f"{count} problem{'s' if count != 1 else ''} with the Jira site;"
            " `run` would stop (exit 1) or skip writes until they are fixed"
            " (`jsm-bridge setup-site` creates missing fields, options and filters).",
            file=out,
        )
        return 1
    print("\nOK: config and rules are valid, and the Jira site has everything they name.", file=out)
    return 0


def unmapped_priorities(site_priorities: list[dict[str, Any]], ruleset: RuleSet) -> list[str]:
    """A note for each priority of the Jira site that means no level of priorities.yaml
    (a case an engineer gives it would fall back to the lowest level)."""
    policy = ruleset.priorities
    names = [str(p.get("name") or "") for p in site_priorities]
    unmapped = [name for name in names if name and policy.level_of(name) is None]
    if not unmapped:
        return []
    return [
        f"Jira priority {name!r} has no level in priorities.yaml: a case with it counts as "
        f"{policy.levels[-1]} and explain says so; list it under `also:` of its level"
        for name in unmapped
    ]


# ------------------------------------------------------------------------ summary


def format_business_duration(value: timedelta) -> str:
    """``4h``, ``1h30m``, ``45m``, ``2h0m5s`` (business time is shown in hours, not days)."""
    total = int(value.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours}h" if hours else ""
    if minutes or seconds:
        text += f"{minutes}m"
    if seconds:
        text += f"{seconds}s"
    return text or "0m"


def describe_target(target: Target) -> str:
    if target.kind == "next_business_day" or target.duration is None:
        return "close of the next business day"
    return f"{format_business_duration(target.duration)} of business time"


def describe_condition(condition: Condition) -> str:
    """A rule's ``when:`` in words, e.g. ``environment not in [Production] and priority P1``."""
    parts: list[str] = []

    def listing(values: Sequence[str]) -> str:
        return "[" + ", ".join(values) + "]"

    if condition.priority is not None:
        parts.append("priority " + " or ".join(condition.priority))
    if condition.field is not None:
        if condition.in_ is not None:
            parts.append(f"{condition.field} in {listing(condition.in_)}")
        if condition.not_in is not None:
            parts.append(f"{condition.field} not in {listing(condition.not_in)} (or empty)")
        if condition.equals is not None:
            parts.append(f"{condition.field} = {condition.equals!r}")
        if condition.missing is not None:
            parts.append(f"{condition.field} {'is empty' if condition.missing else 'is filled'}")
    if condition.request_type is not None:
        parts.append(f"request type in {listing(condition.request_type)}")
    if condition.labels_any is not None:
        parts.append(f"any label of {listing(condition.labels_any)}")
    if condition.components_any is not None:
        parts.append(f"any component of {listing(condition.components_any)}")
    if condition.summary_matches is not None:
        parts.append(f"summary matches /{condition.summary_matches}/")
    return " and ".join(parts) if parts else "always"


def _describe_flag(flag: FlagPolicy) -> str:
    parts = []
    if flag.label:
        parts.append(f"label {flag.label}")
    if flag.comment:
        parts.append(f"{flag.comment.visibility} comment")
    if flag.transition:
        parts.append(f"transition {flag.transition!r}")
    return ", ".join(parts) if parts else "nothing"


def _describe_action(action: EscalationAction) -> str:
    if action.kind == "comment" and action.comment is not None:
        return f'{action.comment.visibility} comment "{action.comment.text}"'
    if action.kind == "label":
        return f"label {action.label}"
    if action.kind == "assign":
        return f"assign to {action.assign}"
    return f"transition {action.transition!r}"


def _hhmm(t: time) -> str:
    return "24:00" if t == time(0) else f"{t:%H:%M}"


def describe_hours(weekly: dict[int, tuple[tuple[time, time], ...]]) -> str:
    """``Mon-Fri 09:00-17:00`` (consecutive days with the same hours are grouped)."""
    groups: list[str] = []
    days = [(d, tuple(weekly.get(d, ()))) for d in range(7)]
    for hours, run in itertools.groupby(days, key=lambda item: item[1]):
        members = [d for d, _ in run]
        if not hours:
            continue
        span = (
            _DAY_NAMES[members[0]]
            if len(members) == 1
            else f"{_DAY_NAMES[members[0]]}-{_DAY_NAMES[members[-1]]}"
        )
        groups.append(span + " " + ", ".join(f"{_hhmm(a)}-{_hhmm(b)}" for a, b in hours))
    return "; ".join(groups)


def _table(rows: list[list[str]], out: TextIO, indent: str = "  ") -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        print(indent + "  ".join(cells).rstrip(), file=out)


def _print_settings(settings: Settings, out: TextIO) -> None:
    jira = settings.jira
    print(f"Config {settings.path}", file=out)
    print(f"  Jira {jira.url} ({jira.flavour}), scope: {jira.jql}", file=out)
    print(f"  token: {jira.token_source}", file=out)
    print(
        f"  polling every {format_business_duration(settings.polling_interval)} "
        f"(overlap {format_business_duration(settings.polling_overlap)}); state {settings.state_path}",
        file=out,
    )
    print(f"  {len(settings.fields)} fields mapped", file=out)
    print(file=out)


def print_summary(
    ruleset: RuleSet, today: date, out: TextIO, *, rules_path: Path | None = None
) -> None:
    """The readable summary of a valid rule set that ``check`` prints."""
    title = f"Rules in {rules_path}" if rules_path is not None else "Rules"
    print(title, file=out)

    print("\nTiers", file=out)
    rows = [["tier", "contacts", "cases/month", "entitlements"]]
    for tier in ruleset.tiers.values():
        rows.append(
            [
                tier.name,
                str(tier.contacts),
                str(tier.cases_per_month),
                ", ".join(sorted(tier.entitlements)) or "-",
            ]
        )
    _table(rows, out)
    for entitlement, types in ruleset.entitlement_request_types.items():
        print(f"  {', '.join(types)} needs {entitlement}", file=out)
    print(f"  not entitled: {_describe_flag(ruleset.not_entitled)}", file=out)
    quota = ruleset.quota
    print(f"  over quota: {_describe_flag(quota.over_quota)}", file=out)
    if quota.not_counted_resolutions:
        print(
            f"  not counted: cases resolved as {', '.join(sorted(quota.not_counted_resolutions))}",
            file=out,
        )
    if quota.not_counted_flags:
        flagged = " or ".join(sorted(f.replace("_", " ") for f in quota.not_counted_flags))
        print(f"  not counted: cases flagged {flagged}", file=out)
    for entitlement, limit in ruleset.usage_limits.items():
        each = " for each product bought" if limit.per_product else ""
        print(
            f"  {entitlement}: {limit.times} per contract year{each}; more is not entitled",
            file=out,
        )
    reminder = ruleset.channel_reminder
    if reminder is not None:
        tiers = ", ".join(ruleset.tiers[t].name for t in sorted(reminder.tiers))
        print(
            f"  {tiers} cases raised by {' or '.join(sorted(reminder.channels))}: "
            "reminder to use the portal "
            f"({_describe_flag(FlagPolicy(reminder.label, reminder.comment))})",
            file=out,
        )

    print("\nCustomers", file=out)
    rows = [["organisation", "tier", "calendar", "contacts", "named engineer"]]
    for customer in ruleset.customers.values():
        tier = ruleset.tiers[customer.tier]
        allowed = customer.contacts_allowed or tier.contacts
        rows.append(
            [
                customer.organization,
                tier.name,
                customer.calendar,
                f"{len(customer.contacts)}/{allowed}",
                customer.named_engineer or "-",
            ]
        )
    _table(rows, out)
    for customer in ruleset.customers.values():
        if customer.products or customer.contract_start:
            start = customer.contract_start
            year = f"{start.day} {start:%B}" if start else "1 January"
            bought = ", ".join(customer.products) or "no products listed"
            print(
                f"  {customer.organization}: bought {bought}; contract years from {year}",
                file=out,
            )
    print(f"  unauthorised contact: {_describe_flag(ruleset.unauthorised_contact)}", file=out)
    print(f"  unknown organisation: {_describe_flag(ruleset.unknown_customer)}", file=out)

    policy = ruleset.priorities
    print("\nPriorities (highest first)", file=out)
    for level in policy.levels:
        others = policy.also.get(level, ())
        also = f" (also {', '.join(others)})" if others else ""
        print(f"  {level} = {policy.jira_names[level]}{also}", file=out)
    if policy.also:
        print("  a priority listed under `also` counts as its level and is never renamed", file=out)
    print(
        "  priorities set by an engineer are "
        + (
            "respected: they stand until an engineer changes them (a customer's later "
            "change is put back)"
            if policy.respect_engineer_changes
            else "overridden by the rules"
        ),
        file=out,
    )
    print(
        "  every priority change the bridge makes gets one comment (a rule's own, else "
        + ", ".join(
            f"{kind}: {template.visibility if template else 'none'}"
            for kind, template in (
                ("rule", policy.change_comments.rule),
                ("restored", policy.change_comments.restored),
                ("engineer", policy.change_comments.engineer),
            )
        )
        + ")",
        file=out,
    )
    if policy.rules:
        print("  rules, in order:", file=out)
    for number, rule in enumerate(policy.rules, start=1):
        actions = []
        if rule.set:
            actions.append(f"set {rule.set}")
        if rule.cap:
            actions.append(f"cap at {rule.cap}")
        if rule.comment:
            actions.append(f"{rule.comment.visibility} comment")
        print(f"  {number}. {rule.name}", file=out)
        print(f"     when {describe_condition(rule.when)} -> {', '.join(actions)}", file=out)

    response = ruleset.response
    print("\nResponse targets", file=out)
    for level in policy.levels:
        print(f"  {level}  {describe_target(response.targets[level])}", file=out)
    print(f"  at risk from {response.at_risk_at * 100:g}% of the target", file=out)
    if response.responded_statuses:
        print(f"  responded statuses: {', '.join(sorted(response.responded_statuses))}", file=out)
    if response.pause_statuses:
        print(f"  pause statuses: {', '.join(sorted(response.pause_statuses))}", file=out)
    if response.approval_statuses:
        held = ", ".join(sorted(response.approval_statuses))
        print(f"  approval statuses (clock stopped while held): {held}", file=out)

    print("\nCalendars", file=out)
    for name, calendar in ruleset.calendars.items():
        marker = " (default)" if name == ruleset.default_calendar else ""
        spec = calendar.holiday_spec
        source = "no public holidays"
        if spec.country:
            source = f"{spec.country}{'/' + spec.subdivision if spec.subdivision else ''} holidays"
        if spec.extra:
            source += f" + {len(spec.extra)} extra"
        if spec.remove:
            source += f" - {len(spec.remove)} removed"
        hours = describe_hours(dict(calendar.weekly_hours))
        print(f"  {name}{marker}: {calendar.timezone}, {hours}, {source}", file=out)
        if spec.leave_out:
            print(f"    holidays worked: {', '.join(sorted(spec.leave_out))}", file=out)
        owner = ruleset.escalation_owners.get(name)
        print(f"    escalation owner: {owner or '-'}", file=out)
        _print_holidays(calendar, today, out)

    print("\nEscalation ladder", file=out)
    if not ruleset.escalation:
        print("  (none)", file=out)
    for step in ruleset.escalation:
        scope = f" ({', '.join(sorted(step.priorities))} only)" if step.priorities else ""
        print(f"  {step.index + 1}. at {step.at * 100:g}% of the target{scope}:", file=out)
        for action in step.actions:
            print(f"     - {_describe_action(action)}", file=out)

    info = ruleset.required_information
    if info.fields:
        flag = _describe_flag(FlagPolicy(info.label, info.comment))
        print(f"\nRequired information (missing -> {flag})", file=out)
        for item in info.required:
            print(f"  {describe_item(item)}", file=out)
        print(
            f"  {len(info.placeholders)} placeholder answers count as missing "
            f"({', '.join(info.placeholders[:6])}, ...)",
            file=out,
        )


def describe_item(item: RequiredItem) -> str:
    """``contact_phone or contact_skype (at least 6 characters)``."""
    checks = []
    if item.min_length:
        checks.append(f"at least {item.min_length} characters")
    if item.pattern:
        checks.append(f"matching /{item.pattern}/")
    if item.accept:
        checks.append(f"{' / '.join(item.accept)} accepted")
    text = " or ".join(item.fields)
    return f"{text} ({'; '.join(checks)})" if checks else text


def _print_holidays(calendar: BusinessCalendar, today: date, out: TextIO) -> None:
    """The closed dates of the twelve months from ``today`` on days with business hours."""
    last = _a_year_after(today) - timedelta(days=1)
    found = calendar.holidays_on_working_days(today, last)
    span = f"{today:%d %b %Y} - {last:%d %b %Y}"
    if not found:
        print(f"    holidays {span}: none", file=out)
        return
    print(f"    holidays {span}:", file=out)
    for d, holiday in found:
        print(f"      {_DAY_NAMES[d.weekday()]} {d:%d %b %Y}  {holiday}", file=out)


def _a_year_after(day: date) -> date:
    """The same date a year later (28 Feb for 29 Feb)."""
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        return day.replace(year=day.year + 1, day=28)
