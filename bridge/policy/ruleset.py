"""The rule files' meaning → a validated, immutable :class:`RuleSet`; every problem with ``file:line``.

Support leads edit four files (SPEC §3).  Their *shape* (keys, types, allowed
values, written forms) is checked by the rule models (``bridge.rules.shape``),
which hand over each file as a :class:`~bridge.policy.problems.Document`: its
located tree and the parts that have the right shape.  This module checks what
those parts *mean* and builds the rule set from them: references between files
(tiers, levels, calendars, field names, entitlements), ordering, templates,
contact counts, regular expressions a customer's text could stall, durations,
percentages, opening times and dates as values, time zones and holiday names.

Validation never stops at the first mistake: every problem across all four
files is collected and raised together in :class:`RulesInvalid`.  A check that
needs a part with a shape problem is skipped, so one mistake is one problem.

Pure: no files; the reading lives in ``bridge.rules.load``.
"""

from __future__ import annotations

import difflib
import itertools
import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, TypeVar

from bridge.policy.clock import BusinessCalendar, CalendarError, HolidaySpec, holidays_near
from bridge.policy.model import (
    DEFAULT_PLACEHOLDERS,
    NO_ORGANIZATION_TEXT,
    QUOTA_FLAGS,
    SEVERAL_CUSTOMERS_TEXT,
    ChangeComments,
    ChannelReminder,
    CommentTemplate,
    Condition,
    Customer,
    EscalationAction,
    EscalationStep,
    FlagPolicy,
    OverQuotaPolicy,
    PriorityPolicy,
    PriorityRule,
    QuotaPolicy,
    RequiredInformation,
    RequiredItem,
    ResponsePolicy,
    RuleSet,
    Target,
    Tier,
    UnknownCustomerPolicy,
    UsageLimit,
)
from bridge.policy.problems import Document, Problem, did_you_mean, unknown_hint, where_of
from bridge.policy.regexsafe import backtracking_risk
from bridge.policy.templates import check_template, placeholders_in

if TYPE_CHECKING:  # the models' types, for type checkers only: the policy core stays pure
    from bridge.rules import models as m

__all__ = (
    "DEFAULT_FIELDS",
    "RULE_FILES",
    "RulesInvalid",
    "build_ruleset",
    "parse_duration",
    "parse_percentage",
)

#: The four rule files, in the order they are read.
RULE_FILES: tuple[str, ...] = ("tiers.yaml", "customers.yaml", "priorities.yaml", "sla.yaml")

#: The logical field names of config `fields:` that rules may name, in the SPEC's order.
FIELD_NAMES: tuple[str, ...] = (
    "response_due",
    "sla_state",
    "support_tier",
    "quota_usage",
    "environment",
    "staff_available",
    "product",
    "product_version",
    "impact",
    "contact_phone",
    "organization",
    "request_type",
)
#: Logical names the shipped rules may use that a config need not map (a config that
#: does not map them gets a rules error naming the field when the rules use them).
OPTIONAL_FIELD_NAMES: tuple[str, ...] = ("description", "contact_skype")
DEFAULT_FIELDS: frozenset[str] = frozenset((*FIELD_NAMES, *OPTIONAL_FIELD_NAMES))

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: The longest duration :func:`parse_duration` accepts (366 days); longer ones are refused.
MAX_DURATION_SECONDS = 366 * 24 * 3600
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
NEXT_BUSINESS_DAY = "next_business_day"
#: The comment for a request a usage limit refuses, when the rules give none.
USAGE_LIMIT_TEXT = "{key}: {request_type} is not included: {why}."
_REGEX_HINT = "escape special characters such as ( [ + * with a backslash"
_SLOW_HINT = "write it without nested repeats, e.g. (a+)+ as a+"
#: The placeholders only some comments have a value for, and which.
_A_CHANGE = "a priority change's comment (change_comments, a priority rule's comment)"
SAID_IN: Mapping[str, str] = MappingProxyType(
    {
        "rule": _A_CHANGE,
        "previous_priority": _A_CHANGE,
        "why": "usage_limit_comment",
        "customers": "the unknown_customer comments",
    }
)
_CHANGE: frozenset[str] = frozenset({"rule", "previous_priority"})
_QUOTE_HINT = (
    "in double quotes YAML reads a backslash as an escape (\\b is a backspace): write "
    "regular expressions in single quotes, e.g. summary_matches: '\\binstall'"
)

Path = tuple[str | int, ...]


class RulesInvalid(Exception):
    """The rule files have problems; ``.problems`` lists every one of them."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = list(problems)
        count = len(self.problems)
        lines = "\n".join(str(p) for p in self.problems)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the rules:\n{lines}")


# ----------------------------------------------------------------------------- values


def parse_duration(text: str) -> timedelta | None:
    """``"4h"``, ``"90m"``, ``"1h30m"``, ``"30s"`` → a positive timedelta, else None."""
    cleaned = text.strip().replace(" ", "")
    match = _DURATION.fullmatch(cleaned)
    if not cleaned or match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    if hours * 3600 + minutes * 60 + seconds > MAX_DURATION_SECONDS:
        return None  # no business target or interval is longer than a year
    value = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    return value if value > timedelta(0) else None


def parse_percentage(text: str) -> float | None:
    """``"75%"`` → 0.75, else None."""
    match = _PERCENT.fullmatch(text.strip())
    return float(match.group(1)) / 100 if match else None


def _names(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """A name or a list of names as a tuple (None: none)."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


_T = TypeVar("_T")


def _each(path: Path, value: str | Sequence[_T] | None) -> list[tuple[Path, str | _T]]:
    """Each entry of a name or a list, with its path (a lone name: the key's)."""
    if isinstance(value, str):
        return [(path, value)]
    return [((*path, i), name) for i, name in enumerate(value or ())]


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


# ------------------------------------------------------------------------ building


#: The config file hints name when the caller does not say which one is in use.
DEFAULT_CONFIG_NAME = "config/bridge.yaml"


def build_ruleset(
    documents: Mapping[str, Document | None],
    known_fields: Collection[str] | None = None,
    problems: Sequence[Problem] = (),
    *,
    config: str = DEFAULT_CONFIG_NAME,
) -> RuleSet:
    """Check what the rule files mean and build the RuleSet (pure).

    ``documents`` maps each of :data:`RULE_FILES` to its shape-checked document;
    None (a missing or unreadable file, already in ``problems``) is skipped
    without cascading errors.  ``config`` names the config file in hints (the
    ``known_fields`` are its ``fields:``).  Raises :class:`RulesInvalid` with every problem."""
    build = _Build(
        frozenset(known_fields) if known_fields is not None else DEFAULT_FIELDS, config=config
    )
    build.problems.extend(problems)
    readers = {
        "tiers.yaml": _read_tiers,
        "priorities.yaml": _read_priorities,
        "sla.yaml": _read_sla,
        "customers.yaml": _read_customers,
    }
    for name, read in readers.items():  # customers refer to all three others
        document = documents.get(name)
        if document is not None:
            build.doc = document
            read(build)
    if build.problems:
        rank = {label: i for i, label in enumerate(_labels(documents, build.problems))}
        ordered = sorted(build.problems, key=lambda p: (rank[p.file], p.line or 0))
        raise RulesInvalid(ordered)
    return RuleSet(**build.parts)


def _labels(documents: Mapping[str, Document | None], problems: Sequence[Problem]) -> list[str]:
    """The files in reading order (for the order problems are listed in)."""
    known = [d.file for name in RULE_FILES if (d := documents.get(name)) is not None]
    return list(dict.fromkeys([*known, *(p.file for p in problems)]))


@dataclass
class _Build:
    """What the files said so far; a cross-file check is skipped when its side is unknown."""

    known_fields: frozenset[str]
    #: the config file, as hints name it (the one given, else the usual path)
    config: str = DEFAULT_CONFIG_NAME
    problems: list[Problem] = field(default_factory=list)
    parts: dict[str, Any] = field(default_factory=dict)  # the RuleSet's fields
    tiers: dict[str, Tier] | None = None
    negotiable: set[str] = field(default_factory=set)
    levels: tuple[str, ...] | None = None
    calendar_names: frozenset[str] | None = None
    doc: Document = field(init=False)  # the file being read

    # ------------------------------------------------------------------ reporting

    def add(self, path: Path, message: str, hint: str | None = None, *, key: bool = False) -> None:
        """A problem at ``path`` (``key``: at the key of a mapping entry, not its value)."""
        node = self.doc.tree.find(path[:-1]).key_node(path[-1]) if key else self.doc.tree.find(path)
        self.problems.append(Problem(self.doc.file, node.report_line, message, hint))

    def unknown(
        self,
        path: Path,
        what: str,
        name: str,
        choices: Collection[str],
        note: str | None = None,
        *,
        key: bool = False,
    ) -> None:
        """``where: unknown <what> 'name' (did you mean ...? <note>; known: ...)``."""
        where = where_of(self.doc.tree, path[:-1] if key else path, self.doc.file)
        self.add(
            path, f"{where}: unknown {what} {name!r}", unknown_hint(name, choices, note), key=key
        )

    def where(self, path: Path) -> str:
        return where_of(self.doc.tree, path, self.doc.file)

    # ------------------------------------------------------------------ shared parts

    def comment(
        self, path: Path, value: m.Comment | None, says: frozenset[str] = frozenset()
    ) -> CommentTemplate | None:
        """A comment template whose placeholders are known (None: none, or a problem), and
        of those said only in some comments (`SAID_IN`), only those in ``says``."""
        if value is None:
            return None
        problems = check_template(value.text)
        if not problems:
            problems = [
                f"{{{name}}} is said only in {SAID_IN[name]}: here it would be empty, or "
                "say what another comment is about"
                for name in placeholders_in(value.text)
                if name in SAID_IN and name not in says
            ]
        for message in problems:
            self.add((*path, "text"), f"{self.where(path)}: {message}")
        return None if problems else CommentTemplate(value.visibility, value.text)

    def flag(self, key: str, default_label: str, says: frozenset[str] = frozenset()) -> FlagPolicy:
        """A top-level flag: the default when absent, nothing when null."""
        given = self.doc.given(key)
        return self.flag_at((key,), self.doc.get(key), given, default_label, says)

    def flag_at(
        self,
        path: Path,
        value: m.Flag | None,
        given: bool,
        default_label: str,
        says: frozenset[str] = frozenset(),
    ) -> FlagPolicy:
        """The flag at ``path``: the default when absent (not ``given``), nothing when null."""
        if not given:
            return FlagPolicy(label=default_label)
        if value is None:
            return FlagPolicy()
        return FlagPolicy(
            value.label, self.comment((*path, "comment"), value.comment, says), value.transition
        )

    def level(self, path: Path, level: str) -> None:
        if self.levels is not None and level not in self.levels:
            self.unknown(path, "priority", level, self.levels)

    def field_name(self, path: Path, name: str) -> None:
        if name not in self.known_fields:
            note = f"logical names are the keys of `fields:` in {self.config};"
            self.unknown(path, "field", name, self.known_fields, note)

    def pattern(self, path: Path, pattern: str) -> None:
        """A regular expression searched in a customer's text: valid, and fast on any text."""
        where = self.where(path)
        control = next(
            (c for c in pattern if c not in "\t\n\r" and unicodedata.category(c) == "Cc"), None
        )
        if control is not None:  # YAML's double quotes read "\b" as a backspace
            message = f"{where} holds the control character {control!r}, which no text has"
            self.add(path, message, _QUOTE_HINT)
            return
        try:
            re.compile(pattern, re.IGNORECASE)
        except re.error as exc:
            at = f" at position {exc.pos}" if exc.pos is not None else ""
            message = f"{where} is not a valid regular expression: {exc.msg}{at}"
            self.add(path, message, _REGEX_HINT)
            return
        risk = backtracking_risk(pattern, re.IGNORECASE)
        if risk is not None:  # a customer's text could stall every cycle
            self.add(path, f"{where} {pattern!r} can take exponential time: {risk}", _SLOW_HINT)


# ---------------------------------------------------------------------------- tiers


def _read_tiers(build: _Build) -> None:
    given: dict[str, m.Tier] = build.doc.get("tiers") or {}
    tiers = {
        key: Tier(
            key,
            tier.name or key.replace("_", " ").title(),
            tier.contacts,
            tier.cases_per_month,
            frozenset(tier.entitlements or ()),
        )
        for key, tier in given.items()
    }
    build.negotiable = {
        key
        for key, tier in given.items()
        if (
            tier.contacts_negotiable
            if tier.contacts_negotiable is not None
            else key == "enterprise"
        )
    }
    sound = build.doc.sound("tiers")
    build.tiers = tiers if sound else None
    entitlements = {e for t in tiers.values() for e in t.entitlements} if sound else None
    build.parts.update(
        tiers=tiers,
        entitlement_request_types=_request_types(build, entitlements),
        not_entitled=build.flag("not_entitled", "not-entitled"),
        quota=_quota(build),
        usage_limits=_usage_limits(build, entitlements),
        channel_reminder=_channel_reminder(build),
    )
    comment: m.Comment | None = build.doc.get("usage_limit_comment")
    usage_comment = build.comment(("usage_limit_comment",), comment, frozenset({"why"}))
    if (
        comment is None
        and build.parts["usage_limits"]
        and not build.doc.given("usage_limit_comment")
    ):
        usage_comment = CommentTemplate("public", USAGE_LIMIT_TEXT)
    build.parts["usage_comment"] = usage_comment


def _request_types(build: _Build, entitlements: set[str] | None) -> dict[str, tuple[str, ...]]:
    """``entitlement_request_types``: each entitlement in some tier, each type under one."""
    given: dict[str, str | list[str]] = build.doc.get("entitlement_request_types") or {}
    seen: dict[str, str] = {}
    out: dict[str, tuple[str, ...]] = {}
    for entitlement, value in given.items():
        path: Path = ("entitlement_request_types", entitlement)
        if entitlements is not None and entitlement not in entitlements:
            note = "no tier includes it;"
            build.unknown(path, "entitlement", entitlement, entitlements, note, key=True)
        out[entitlement] = _names(value)
        for index, name in enumerate(out[entitlement]):
            if name.casefold() in seen:
                build.add(
                    (*path, index),
                    f"request type {name!r} is listed under both "
                    f"{seen[name.casefold()]} and {entitlement}",
                    "a request type needs one entitlement",
                )
            seen[name.casefold()] = entitlement
    return out


def _quota(build: _Build) -> QuotaPolicy:
    quota: m.Quota | None = build.doc.get("quota")
    given = quota is not None and "over_quota" in quota.model_fields_set
    value = quota.over_quota if quota is not None else None
    over = build.flag_at(("quota", "over_quota"), value, given, default_label="over-quota")
    if value is not None and "cleared_comment" in value.model_fields_set:
        path: Path = ("quota", "over_quota", "cleared_comment")
        cleared = build.comment(path, value.cleared_comment)
        over = OverQuotaPolicy(over.label, over.comment, over.transition, cleared)
    if quota is None:
        return QuotaPolicy(frozenset(), over)
    flags = frozenset(QUOTA_FLAGS)
    if "not_counted_flags" in quota.model_fields_set:
        flags = frozenset(_names(quota.not_counted_flags))
    return QuotaPolicy(frozenset(_names(quota.not_counted_resolutions)), over, flags)


def _usage_limits(build: _Build, entitlements: set[str] | None) -> dict[str, UsageLimit]:
    """``usage_limits``: entitlement -> how many requests a contract year includes."""
    given: dict[str, m.UsageLimit] = build.doc.get("usage_limits") or {}
    limits: dict[str, UsageLimit] = {}
    for entitlement, limit in given.items():
        if entitlements is not None and entitlement not in entitlements:
            path: Path = ("usage_limits", entitlement)
            note = "no tier includes it;"
            build.unknown(path, "entitlement", entitlement, entitlements, note, key=True)
            continue
        limits[entitlement] = UsageLimit(limit.per_contract_year, bool(limit.per_product))
    return limits


def _channel_reminder(build: _Build) -> ChannelReminder | None:
    """``channel_reminder``: the tiers whose customers contact us via the portal, the
    request channels that get the reminder, its label and comment."""
    reminder: m.ChannelReminder | None = build.doc.get("channel_reminder")
    if reminder is None:
        return None
    keys = _names(reminder.tiers)
    for path, key in _each(("channel_reminder", "tiers"), reminder.tiers):
        if build.tiers is not None and key not in build.tiers:
            build.unknown(path, "tier", key, build.tiers)
    comment = build.comment(("channel_reminder", "comment"), reminder.comment)
    channels = frozenset(_names(reminder.channels))
    return ChannelReminder(frozenset(keys), channels, reminder.label, comment)


# ----------------------------------------------------------------------- priorities


def _read_priorities(build: _Build) -> None:
    given: dict[str, m.Priority] = build.doc.get("priorities") or {}
    build.levels = tuple(given) if build.doc.sound("priorities") else None
    numbered = [int(level[1:]) for level in given if re.fullmatch(r"[Pp]\d+", level)]
    if len(numbered) == len(given) > 1 and numbered != sorted(numbered):
        # the first level listed is the most urgent: "at most P3" caps by this order
        first = next(level for level, n in zip(given, numbered, strict=True) if n != min(numbered))
        build.add(
            ("priorities", first),
            f"priorities: the levels are listed {', '.join(given)}, but the first is taken "
            "as the most urgent",
            f"list them most urgent first: {', '.join(sorted(given, key=lambda lv: int(lv[1:])))}",
            key=True,
        )
    seen: dict[str, str] = {}
    for level, spec in given.items():
        names = [(("priorities", level, "jira"), spec.jira)]
        for path, name in [*names, *_each(("priorities", level, "also"), spec.also)]:
            if name.casefold() in seen:
                build.add(
                    path,
                    f"priority {level}: Jira priority {name!r} is already used by "
                    f"{seen[name.casefold()]}",
                    "each Jira priority means one level",
                )
            seen[name.casefold()] = level
    respect: bool | None = build.doc.get("respect_engineer_changes")
    build.parts["priorities"] = PriorityPolicy(
        tuple(given),
        {level: spec.jira for level, spec in given.items()},
        True if respect is None else respect,
        _rules(build),
        {level: _names(spec.also) for level, spec in given.items() if spec.also},
        _change_comments(build),
    )


def _change_comments(build: _Build) -> ChangeComments:
    """``change_comments:``: each kind's template, the default when absent, none when null."""
    given: m.ChangeComments | None = build.doc.get("change_comments")
    if given is None:
        return ChangeComments()
    chosen = {
        kind: build.comment(("change_comments", kind), getattr(given, kind), _CHANGE)
        for kind in ("rule", "restored", "engineer")
        if kind in given.model_fields_set
    }
    return ChangeComments(**chosen)


def _rules(build: _Build) -> tuple[PriorityRule, ...]:
    rules: list[m.Rule] = build.doc.get("rules") or []
    names: set[str] = set()
    out: list[PriorityRule] = []
    for index, rule in enumerate(rules):
        path: Path = ("rules", index)
        if rule.name.casefold() in names:
            message = f"rule {index + 1}: the name {rule.name!r} is already used"
            build.add((*path, "name"), message, "rule names appear in `explain` and must be unique")
        names.add(rule.name.casefold())
        for key in ("set", "cap"):
            level = getattr(rule, key)
            if level is not None:
                build.level((*path, key), level)
        comment = build.comment((*path, "comment"), rule.comment, _CHANGE)
        when = _condition(build, (*path, "when"), rule.when)
        out.append(PriorityRule(rule.name, when, rule.set, rule.cap, comment))
    return tuple(out)


def _condition(build: _Build, path: Path, when: m.Condition) -> Condition:
    if when.field is not None:  # tested by exactly one of in, not_in, equals, missing
        build.field_name((*path, "field"), when.field)
    for at, level in _each((*path, "priority"), when.priority):
        build.level(at, level)
    if when.summary_matches is not None:
        build.pattern((*path, "summary_matches"), when.summary_matches)
    lists = ("in_", "not_in", "request_type", "labels_any", "components_any")
    values = {k: _names(getattr(when, k)) for k in lists if getattr(when, k) is not None}
    return Condition(
        field=when.field,
        equals=when.equals,
        missing=when.missing,
        priority=_names(when.priority) if when.priority is not None else None,
        summary_matches=when.summary_matches,
        **values,
    )


# ------------------------------------------------------------------------------ SLA


def _read_sla(build: _Build) -> None:
    given: dict[str, m.Calendar] = build.doc.get("calendars") or {}
    calendars: dict[str, BusinessCalendar] = {}
    for name, calendar in given.items():
        built = _calendar(build, name, calendar)
        if built is not None:
            calendars[name] = built
    build.calendar_names = frozenset(given) if build.doc.sound("calendars") else None
    owners = {n: c.escalation_owner for n, c in given.items() if c.escalation_owner is not None}
    steps = _escalation(build)
    if build.doc.sound("calendars"):
        _check_owners(build, steps, owners)
    build.parts.update(
        calendars=calendars,
        default_calendar=_default_calendar(build, list(given)),
        response=_response(build),
        escalation=steps,
        required_information=_required(build),
        escalation_owners=owners,
    )


def _default_calendar(build: _Build, names: list[str]) -> str:
    default: str | None = build.doc.get("default_calendar")
    if default is not None and build.calendar_names is not None:
        if default not in build.calendar_names:
            path: Path = ("default_calendar",)
            build.unknown(path, "calendar", default, build.calendar_names)
        return default
    if len(names) == 1 or build.calendar_names is None:
        return default or (names[0] if names else "")
    build.add(
        ("calendars",),
        "default_calendar is missing",
        f"name the calendar for customers without one, e.g. default_calendar: {names[0]}",
    )
    return ""


def _calendar(build: _Build, name: str, calendar: m.Calendar) -> BusinessCalendar | None:
    path: Path = ("calendars", name)
    hours = _hours(build, (*path, "hours"), calendar.hours)
    holidays = _holidays(build, (*path, "holidays"), calendar.holidays, hours)
    if hours is None or holidays is None:
        return None
    if _fixed_offset(calendar.timezone):
        build.add(
            (*path, "timezone"),
            f"calendar {name}: timezone {calendar.timezone} is a fixed offset from UTC, with "
            "no daylight saving: in summer every due time would be an hour out",
            "name the place instead, e.g. America/New_York, Europe/London, Australia/Sydney "
            "(UTC, or Etc/GMT+5, when a fixed offset is meant)",
        )
        return None
    try:
        return BusinessCalendar(name, calendar.timezone, hours, holidays)
    except CalendarError as exc:
        message = str(exc)
        lowered = message.casefold()
        hint = None
        at: Path = path
        for key in ("leave_out", "subdivision", "country"):
            if key in lowered:
                at = (*path, "holidays", key)
                break
        else:
            if "zone" in lowered:
                at = (*path, "timezone")
                hint = _timezone_hint(calendar.timezone)
        build.add(at, message, hint)
        return None


#: Zone names that are abbreviations of a fixed offset (the IANA database keeps them for
#: old systems): written for a place's zone ("EST" for New York, "GMT" for London), they
#: lose its daylight saving.  UTC, and the explicit Etc/GMT+N, are meant when written.
_FIXED_ABBREVIATIONS = frozenset({"EST", "MST", "HST", "GMT", "GMT0", "GMT+0", "GMT-0", "UCT"})


def _fixed_offset(zone: str) -> bool:
    return zone.strip().upper() in _FIXED_ABBREVIATIONS


def _timezone_hint(name: str) -> str | None:
    from zoneinfo import available_timezones  # only on the error path

    # places only: "AEST" is not meant as the fixed "EST"
    places = {z for z in available_timezones() if "/" in z and not z.startswith("Etc/")}
    return did_you_mean(name, places)


def _holidays(
    build: _Build,
    path: Path,
    holidays: m.Holidays | None,
    hours: Mapping[int, tuple[tuple[time, time], ...]] | None,
) -> HolidaySpec | None:
    if holidays is None:
        return HolidaySpec()
    where = build.where(path)
    ok = True
    dates: dict[str, frozenset[date]] = {}
    for key in ("extra", "remove"):
        found: set[date] = set()
        for index, text in enumerate(getattr(holidays, key) or ()):
            value = _date(text)
            if value is None:
                message = f"{where}: {key}: {text!r} is not a date"
                build.add((*path, key, index), message, "write dates as YYYY-MM-DD")
                ok = False
            found.add(value or date.min)
        dates[key] = frozenset(found)
    if not ok:
        return None
    spec = HolidaySpec(
        country=holidays.country.upper() if holidays.country else None,
        subdivision=holidays.subdivision,
        extra=dates["extra"],
        remove=dates["remove"],
        leave_out=frozenset(_names(holidays.leave_out)),
    )
    if spec.country is not None:
        for index, text in enumerate(holidays.remove or ()):
            _removed_holiday(build, (*path, "remove", index), spec, text, hours)
    return spec


def _removed_holiday(
    build: _Build,
    path: Path,
    spec: HolidaySpec,
    text: str,
    hours: Mapping[int, tuple[tuple[time, time], ...]] | None,
) -> None:
    """A date ``remove`` names must be one of the country's holidays on a day the office
    opens: another date changes nothing, and the holiday meant (its observed day, say)
    stays closed."""
    day = _date(text)
    assert day is not None and spec.country is not None  # dates and country checked before
    try:
        near = holidays_near(spec.country, spec.subdivision, day)
    except (KeyError, NotImplementedError, ValueError):
        return  # an unknown country or subdivision is reported with the calendar
    where = f"{spec.country}-{spec.subdivision}" if spec.subdivision else spec.country
    if day not in near:
        problem = f"{text!r} is not a holiday of {where}"
    elif hours is not None and not hours.get(day.weekday()):
        problem = f"{text!r} ({near[day]}) is a {day:%A}, closed by the calendar's hours anyway"
    else:
        return
    opened = [d for d in near if d != day and (hours is None or hours.get(d.weekday()))]
    meant = near.get(day, "").split(" (")[0]  # its observed day first: "Boxing Day (observed)"
    closest = min(
        opened,
        key=lambda d: (not meant or not near[d].startswith(meant), abs(d - day), d),
        default=None,
    )
    hint = (
        f"did you mean {closest.isoformat()}, {near[closest]}?"
        if closest is not None
        else "remove names a public holiday the office works; extra names a closed day"
    )
    build.add(path, f"{build.where(path)}: {problem}", hint)


def _hours(
    build: _Build, path: Path, hours: Mapping[str, Any]
) -> dict[int, tuple[tuple[time, time], ...]] | None:
    where = build.where(path)
    week: dict[int, tuple[tuple[time, time], ...]] = {}
    ok = True
    for spec, value in hours.items():
        days = _days(build, (*path, spec), spec)
        intervals = _intervals(build, (*path, spec), value)
        if days is None or intervals is None:
            ok = False
            continue
        for day in days:
            week[day] = intervals  # a later entry overrides an earlier one for the same day
    ok = ok and build.doc.sound(*path)  # with a day left out for its shape, no calendar
    if ok and not any(week.values()):
        build.add(path, f"{where}: no business hours at all", "the response clock could never run")
        ok = False
    return {d: week.get(d, ()) for d in range(7)} if ok else None


def _days(build: _Build, path: Path, spec: str) -> list[int] | None:
    """``mon-fri``, ``mon,wed``, ``sat`` → weekday numbers (their names are the shape's)."""
    days: list[int] = []
    for part in spec.strip().casefold().split(","):
        first, _, last = (p.strip() for p in part.partition("-"))
        a, b = WEEKDAYS.index(first), WEEKDAYS.index(last or first)
        if a > b:
            build.add(
                path,
                f"{build.where(path[:-1])}: the day range {part.strip()!r} runs backwards",
                "write ranges from Monday towards Sunday, e.g. sat-sun",
                key=True,
            )
            return None
        days.extend(range(a, b + 1))
    return days


def _intervals(
    build: _Build, path: Path, value: str | list[str] | None
) -> tuple[tuple[time, time], ...] | None:
    """Opening times (valid times of day, by their shape) → ordered, non-overlapping spans."""
    if value is None or value == "closed":
        return ()
    where = build.where(path)
    spans: list[tuple[int, int]] = []  # minutes since midnight; an end of 24:00 is 1440
    for at, text in _each(path, value):
        start, end = (_minutes(t) for t in text.split("-"))
        end = end or 1440  # "22:00-00:00" and "22:00-24:00" run to midnight
        if end <= start:
            message = f"{where}: {text.strip()!r} closes before it opens"
            build.add(at, message, 'e.g. "09:00-17:00"; "22:00-24:00" runs to midnight')
            return None
        spans.append((start, end))
    spans.sort()
    for (s1, e1), (s2, e2) in itertools.pairwise(spans):
        if s2 < e1:
            message = f"opening times {_hhmm(s1)}-{_hhmm(e1)} and {_hhmm(s2)}-{_hhmm(e2)} overlap"
            build.add(path, f"{where}: {message}")
            return None
    return tuple((_time(s), _time(e)) for s, e in spans)


def _minutes(text: str) -> int:
    hour, minute = text.strip().split(":")
    return int(hour) * 60 + int(minute)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _time(minutes: int) -> time:
    return time(0) if minutes == 1440 else time(minutes // 60, minutes % 60)


def _response(build: _Build) -> ResponsePolicy | None:
    response: m.Response | None = build.doc.get("response")
    if response is None:
        return None
    targets = _targets(build, response.targets)
    statuses = {
        key: frozenset(_names(getattr(response, key)))
        for key in ("responded_statuses", "pause_statuses", "approval_statuses")
    }
    for first, second in itertools.combinations(statuses, 2):
        both = statuses[first] & statuses[second]
        if both:
            build.add(
                ("response", second),
                f"response: {', '.join(sorted(both))} is both a {first.split('_')[0]} "
                f"and a {second.split('_')[0]} status",
                "a status answers the case, pauses its clock after a reply, or holds it "
                "for approval: one of them",
            )
    quota: QuotaPolicy | None = build.parts.get("quota")
    hold = quota.over_quota.transition if quota is not None else None
    if hold and not statuses["approval_statuses"]:
        build.add(
            ("response", "approval_statuses"),  # the response mapping when it names none
            f"response: tiers.yaml holds over-quota cases with transition {hold!r}, but "
            "approval_statuses names no status: their clocks would run and breach while held",
            f"name the status {hold!r} leads to, e.g. approval_statuses: [Pending approval]",
        )
    at_risk = parse_percentage(response.at_risk_at or "75%")  # above 0, at most 100% by shape
    assert at_risk is not None
    return ResponsePolicy(
        targets,
        statuses["responded_statuses"],
        statuses["pause_statuses"],
        at_risk,
        statuses["approval_statuses"],
    )


def _targets(build: _Build, given: Mapping[str, str]) -> dict[str, Target]:
    targets: dict[str, Target] = {}
    for level, text in given.items():
        path: Path = ("response", "targets", level)
        if build.levels is not None and level not in build.levels:
            build.unknown(path, "priority", level, build.levels, key=True)
            continue
        duration = parse_duration(text) if text != NEXT_BUSINESS_DAY else None
        if text == NEXT_BUSINESS_DAY:
            targets[level] = Target("next_business_day")
        elif duration is not None:
            targets[level] = Target("duration", duration)
        else:
            message = (
                f"response: targets: {level} must be above 0s and at most 366 days, not {text}"
            )
            build.add(path, message, "no response target is longer than a year")
    missing = [lv for lv in build.levels or () if lv not in given]
    if missing and build.doc.sound("response", "targets"):
        build.add(
            ("response", "targets"),
            f"response: targets: no target for {', '.join(missing)}",
            "every priority in priorities.yaml needs a target, e.g. P4: next_business_day",
        )
    return targets


def _escalation(build: _Build) -> tuple[EscalationStep, ...]:
    steps: list[EscalationStep] = []
    for index, step in enumerate(build.doc.get("escalation") or ()):
        path: Path = ("escalation", index)
        at = parse_percentage(step.at)  # above 0, at most 1000% by its shape
        for spot, level in _each((*path, "priorities"), step.priorities):
            build.level(spot, level)
        levels = frozenset(_names(step.priorities)) if step.priorities is not None else None
        actions = tuple(
            _action(build, (*path, "actions", i), a) for i, a in enumerate(step.actions)
        )
        assert at is not None  # a step's share parses by its shape
        later = EscalationStep(index, at, levels, actions)
        for earlier in steps:
            overlap = (
                earlier.priorities is None or levels is None or bool(earlier.priorities & levels)
            )
            if overlap and later.at <= earlier.at:
                build.add(
                    (*path, "at"),
                    f"escalation step {index + 1} at {later.at * 100:g}% does not come after "
                    f"step {earlier.index + 1} at {earlier.at * 100:g}%",
                    "list the steps in ascending order of the share of the target",
                )
                break
        steps.append(later)
    return tuple(steps)


def _action(build: _Build, path: Path, action: m.Action) -> EscalationAction:
    """One ladder action: its one key says which kind it is."""
    kind: Any = next(iter(type(action).model_fields))
    value = getattr(action, kind)
    if kind == "comment":
        return EscalationAction("comment", comment=build.comment((*path, kind), value))
    if kind == "assign":
        _assignee(build, (*path, kind), value)
    return EscalationAction(kind, **{kind: value})


#: What an ``assign`` action names besides a person.
_ASSIGN_WORDS = ("named_engineer", "escalation_owner")


def _assignee(build: _Build, path: Path, value: str) -> None:
    """An ``assign`` that reads like one of its words misspelt ("escalation-owner",
    "Named_Engineer") is that mistake, not a Jira user: the step would assign nobody."""
    if value in _ASSIGN_WORDS or "@" in value:
        return
    folded = re.sub(r"[\s-]+", "_", value.strip().casefold())
    close = difflib.get_close_matches(folded, _ASSIGN_WORDS, n=1, cutoff=0.85)
    if not close:
        return  # an account id, or a Data Center user name
    message = f"{build.where(path)}: {value!r} is neither named_engineer nor escalation_owner"
    hint = f"did you mean {close[0]!r}? (or give the person's e-mail or account id)"
    build.add(path, message, hint)


def _check_owners(
    build: _Build, steps: tuple[EscalationStep, ...], owners: Mapping[str, str]
) -> None:
    """A ladder that assigns or names the escalation owner needs one in every calendar."""
    uses = [
        step.index + 1
        for step in steps
        for action in step.actions
        if action.assign == "escalation_owner"
        or (
            action.comment is not None
            and "escalation_owner" in placeholders_in(action.comment.text)
        )
    ]
    calendars: dict[str, m.Calendar] = build.doc.get("calendars") or {}
    for name in calendars:
        if uses and name not in owners:
            build.add(
                ("calendars", name),
                f"calendar {name} has no escalation_owner, but escalation step {uses[0]} "
                "assigns or names it",
                "name the regional lead, e.g. escalation_owner: lead@vendor.example",
                key=True,
            )


def _required(build: _Build) -> RequiredInformation:
    given: m.RequiredInformation | None = build.doc.get("required_information")
    if given is None:
        return RequiredInformation((), None, None)
    path: Path = ("required_information",)
    at: Path = (*path, "fields")
    items = [_required_item(build, *pair) for pair in _each(at, given.fields)]
    placeholders = DEFAULT_PLACEHOLDERS
    if "placeholders" in given.model_fields_set:
        placeholders = _names(given.placeholders)
    comment = build.comment((*path, "comment"), given.comment)
    names = tuple(dict.fromkeys(name for item in items for name in item.fields))
    return RequiredInformation(names, given.label, comment, tuple(items), placeholders)


def _required_item(build: _Build, path: Path, item: str | m.RequiredItem) -> RequiredItem:
    """One item of ``required_information: fields``: a logical field name, or a mapping
    ``{field: x | any_of: [x, y], pattern, min_length, accept}``."""
    if isinstance(item, str):
        build.field_name(path, item)
        return RequiredItem((item,))
    key = "field" if "field" in item.model_fields_set else "any_of"  # exactly one of them
    value = item.field if key == "field" else item.any_of
    for at, name in _each((*path, key), value):
        build.field_name(at, name)
    if item.pattern is not None:
        build.pattern((*path, "pattern"), item.pattern)
    return RequiredItem(_names(value), item.pattern, item.min_length or 0, _names(item.accept))


# ------------------------------------------------------------------------ customers


def _read_customers(build: _Build) -> None:
    given: dict[str, m.Customer] = build.doc.get("customers") or {}
    customers: dict[str, Customer] = {}
    folded: dict[str, str] = {}
    for org, customer in given.items():
        path: Path = ("customers", org)
        if org.casefold() in folded:
            build.add(
                path,
                f"customer {org!r} is already listed as {folded[org.casefold()]!r}",
                "organisation names are matched case-insensitively",
                key=True,
            )
            continue
        folded[org.casefold()] = org
        customers[org] = _customer(build, org, customer)
    build.parts.update(
        customers=customers,
        unauthorised_contact=build.flag("unauthorised_contact", "unauthorised-contact"),
        unknown_customer=_unknown_customer(build),
    )


def _customer(build: _Build, org: str, customer: m.Customer) -> Customer:
    path: Path = ("customers", org)
    where = build.where(path)
    tier = build.tiers.get(customer.tier) if build.tiers is not None else None
    if build.tiers is not None and tier is None:
        build.unknown((*path, "tier"), "tier", customer.tier, build.tiers)
    calendar = customer.calendar or build.parts.get("default_calendar") or ""
    names = build.calendar_names
    if customer.calendar is not None and names is not None and calendar not in names:
        build.unknown((*path, "calendar"), "calendar", calendar, names)
    contacts = _contacts(build, (*path, "contacts"), customer.contacts)
    if tier is not None and build.doc.sound(*path):  # counts need the customer whole
        _contacts_allowed(build, path, customer, tier, len(contacts))
    engineer = customer.named_engineer
    if engineer is not None and tier is not None and "named_engineer" not in tier.entitlements:
        build.add(
            (*path, "named_engineer"),
            f"{where}: the {tier.name} tier does not include a named engineer",
            "add named_engineer to the tier's entitlements, or remove it from the customer",
        )
    if engineer is not None:
        engineer = engineer.strip().lower() if "@" in engineer else engineer.strip()
    start = _date(customer.contract_start) if customer.contract_start is not None else None
    if customer.contract_start is not None and start is None:
        build.add(
            (*path, "contract_start"),
            f"{where}: contract_start must be a date, YYYY-MM-DD",
            "the day the contract began: its contract years start on that day",
        )
    return Customer(
        organization=org,
        tier=customer.tier,
        calendar=calendar,
        contacts=contacts,
        contacts_allowed=customer.contacts_allowed,
        named_engineer=engineer,
        products=_names(customer.products),
        contract_start=start,
    )


def _contacts(build: _Build, path: Path, given: Sequence[str]) -> tuple[str, ...]:
    """The contacts' addresses, lower-cased, each once."""
    contacts: list[str] = []
    for index, text in enumerate(given):
        address = text.strip().lower()
        if address in contacts:
            build.add((*path, index), f"{build.where(path[:-1])}: {address} is listed twice")
        contacts.append(address)
    return tuple(dict.fromkeys(contacts))


def _contacts_allowed(
    build: _Build, path: Path, customer: m.Customer, tier: Tier, count: int
) -> None:
    """``contacts_allowed`` only raises a negotiable tier's number; the contacts fit."""
    where = build.where(path)
    allowed = customer.contacts_allowed
    negotiable = tier.key in build.negotiable
    if allowed is not None and not negotiable:
        build.add(
            (*path, "contacts_allowed"),
            f"{where}: contacts_allowed is only for tiers whose contracts set their own number "
            f"of contacts; the {tier.name} tier allows {tier.contacts}",
            "move the customer to the enterprise tier, or remove contacts_allowed",
        )
        return
    if allowed is not None and allowed < tier.contacts:
        build.add(
            (*path, "contacts_allowed"),
            f"{where}: contacts_allowed {allowed} is below the {tier.name} tier's {tier.contacts}",
            "contacts_allowed may only raise the tier's number",
        )
        return
    limit = allowed if allowed is not None else tier.contacts
    if count > limit:
        source = "contacts_allowed" if allowed is not None else f"the {tier.name} tier"
        more = (
            ", or raise contacts_allowed"
            if negotiable
            else ", or move the customer to a tier with more contacts"
        )
        build.add(
            (*path, "contacts", limit),
            f"{where}: {count} contacts, but {source} allows {limit}",
            "remove a contact" + more,
        )


def _unknown_customer(build: _Build) -> UnknownCustomerPolicy:
    """``unknown_customer``: a flag plus the two comments for a case naming no organisation
    (defaults: built-in texts with the organisation comment's visibility)."""
    customers = frozenset({"customers"})
    flag = build.flag("unknown_customer", "unknown-customer", customers)
    given: m.UnknownCustomer | None = build.doc.get("unknown_customer")
    comments: dict[str, CommentTemplate | None] = {}
    for key, text in (
        ("no_organization_comment", NO_ORGANIZATION_TEXT),
        ("several_customers_comment", SEVERAL_CUSTOMERS_TEXT),
    ):
        if given is not None and key in given.model_fields_set:
            comments[key] = build.comment(("unknown_customer", key), getattr(given, key), customers)
        else:
            visible = flag.comment.visibility if flag.comment is not None else None
            comments[key] = CommentTemplate(visible, text) if visible is not None else None
    return UnknownCustomerPolicy(flag.label, flag.comment, flag.transition, **comments)
