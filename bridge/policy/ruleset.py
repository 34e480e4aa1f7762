"""``rules/*.yaml`` → a validated, immutable :class:`RuleSet`; every problem with ``file:line``.

Support leads edit four files (SPEC §3).  Validation never stops at the first
mistake: every problem across all four files is collected and raised together
in :class:`RulesInvalid`, each as ``file:line: message (hint)``.

Pure: works on the located :class:`~bridge.policy.problems.Node` trees that
``bridge.rules.load`` reads from the files.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import date, time, timedelta
from typing import Any

from bridge.policy.clock import BusinessCalendar, CalendarError, HolidaySpec
from bridge.policy.model import (
    DEFAULT_PLACEHOLDERS,
    NO_ORGANIZATION_TEXT,
    QUOTA_FLAGS,
    REQUEST_CHANNELS,
    SEVERAL_CUSTOMERS_TEXT,
    ChangeComments,
    ChannelReminder,
    CommentTemplate,
    Condition,
    Customer,
    EscalationAction,
    EscalationStep,
    FlagPolicy,
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
from bridge.policy.problems import Checker, Node, Problem, did_you_mean
from bridge.policy.regexsafe import backtracking_risk
from bridge.policy.templates import check_template

__all__ = [
    "DEFAULT_FIELDS",
    "RULE_FILES",
    "RulesInvalid",
    "build_ruleset",
    "parse_duration",
    "parse_percentage",
]

#: The four rule files, in the order they are read.
RULE_FILES: tuple[str, ...] = ("tiers.yaml", "customers.yaml", "priorities.yaml", "sla.yaml")

#: Logical field names of the canonical config (SPEC §3 `fields:`), used when no config is given.
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

_TOP_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # file: (required keys, optional keys)
    "tiers.yaml": (
        ("tiers",),
        (
            "entitlement_request_types",
            "not_entitled",
            "quota",
            "channel_reminder",
            "usage_limits",
            "usage_limit_comment",
        ),
    ),
    "customers.yaml": (("customers",), ("unauthorised_contact", "unknown_customer")),
    "priorities.yaml": (
        ("priorities",),
        ("respect_engineer_changes", "change_comments", "rules"),
    ),
    "sla.yaml": (
        ("calendars", "response"),
        ("default_calendar", "escalation", "required_information"),
    ),
}
_HOME = {key: name for name, (req, opt) in _TOP_KEYS.items() for key in (*req, *opt)}

#: The longest duration :func:`parse_duration` accepts (366 days); longer ones are refused.
MAX_DURATION_SECONDS = 366 * 24 * 3600
_DURATION = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")
_CLOCK = re.compile(r"(\d{1,2}):(\d{2})")
_EMAILISH = re.compile(r"[^@\s]+@[^@\s]+")
NEXT_BUSINESS_DAY = "next_business_day"


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


def valid_label(text: str) -> str | None:
    """Why ``text`` cannot be a Jira label, or None when it can."""
    if any(ch.isspace() for ch in text):
        return "Jira labels cannot contain spaces; use - or _ instead"
    if len(text) > 255:
        return "Jira labels are at most 255 characters"
    return None


# ------------------------------------------------------------------------ building


@dataclass
class _Build:
    """Everything read so far; a value is None when its part could not be read."""

    known_fields: frozenset[str]
    problems: list[Problem] = field(default_factory=list)
    tiers: dict[str, Tier] | None = None
    negotiable: set[str] = field(default_factory=set)
    entitlement_request_types: dict[str, tuple[str, ...]] | None = None
    not_entitled: FlagPolicy | None = None
    quota: QuotaPolicy | None = None
    channel_reminder: ChannelReminder | None = None
    usage_limits: dict[str, UsageLimit] = field(default_factory=dict)
    usage_comment: CommentTemplate | None = None
    customers: dict[str, Customer] | None = None
    unauthorised_contact: FlagPolicy | None = None
    unknown_customer: UnknownCustomerPolicy | None = None
    priorities: PriorityPolicy | None = None
    levels: tuple[str, ...] | None = None
    calendars: dict[str, BusinessCalendar] | None = None
    calendar_names: set[str] | None = None
    default_calendar: str | None = None
    response: ResponsePolicy | None = None
    escalation: tuple[EscalationStep, ...] | None = None
    required_information: RequiredInformation | None = None
    escalation_owners: dict[str, str] = field(default_factory=dict)


def build_ruleset(
    documents: Mapping[str, tuple[str, Node | None]],
    known_fields: Collection[str] | None = None,
    problems: Sequence[Problem] = (),
) -> RuleSet:
    """Validate parsed rule files into a RuleSet (pure).

    ``documents`` maps each of :data:`RULE_FILES` to ``(display name, tree)``;
    a None tree (missing or unparseable file, already reported in
    ``problems``) is skipped without cascading errors.
    """
    build = _Build(frozenset(known_fields) if known_fields is not None else DEFAULT_FIELDS)
    build.problems.extend(problems)
    loaded = {name: documents.get(name, (name, None)) for name in RULE_FILES}

    def top(name: str) -> tuple[Checker, dict[str, Node]] | None:
        label, tree = loaded[name]
        check = Checker(label)
        if tree is None:
            if not any(p.file == label for p in build.problems):
                build.problems.append(Problem(label, None, "the file is empty"))
            return None
        required, optional = _TOP_KEYS[name]
        elsewhere = {k: f"{v}" for k, v in _HOME.items() if v != name}
        entries = check.mapping(
            tree, name, required=required, optional=optional, elsewhere=elsewhere
        )
        build.problems.extend(check.problems)
        check.problems.clear()
        if entries is None:
            return None
        return check, entries

    tiers = top("tiers.yaml")
    priorities = top("priorities.yaml")
    sla = top("sla.yaml")
    customers = top("customers.yaml")

    if tiers is not None:
        _read_tiers(build, *tiers)
    if priorities is not None:
        _read_priorities(build, *priorities)
    if sla is not None:
        _read_sla(build, *sla)
    if customers is not None:
        _read_customers(build, *customers)

    if build.problems:
        raise RulesInvalid(build.problems)
    assert build.tiers is not None and build.entitlement_request_types is not None
    assert build.not_entitled is not None and build.quota is not None
    assert build.customers is not None and build.unauthorised_contact is not None
    assert build.unknown_customer is not None and build.priorities is not None
    assert build.calendars is not None and build.default_calendar is not None
    assert build.response is not None and build.escalation is not None
    assert build.required_information is not None
    return RuleSet(
        tiers=build.tiers,
        entitlement_request_types=build.entitlement_request_types,
        not_entitled=build.not_entitled,
        quota=build.quota,
        customers=build.customers,
        unauthorised_contact=build.unauthorised_contact,
        unknown_customer=build.unknown_customer,
        priorities=build.priorities,
        calendars=build.calendars,
        default_calendar=build.default_calendar,
        response=build.response,
        escalation=build.escalation,
        required_information=build.required_information,
        escalation_owners=build.escalation_owners,
        channel_reminder=build.channel_reminder,
        usage_limits=build.usage_limits,
        usage_comment=build.usage_comment,
    )


def _flush(build: _Build, check: Checker) -> None:
    build.problems.extend(check.problems)
    check.problems.clear()


# --------------------------------------------------------------------- shared parts


def _comment(check: Checker, node: Node, where: str) -> CommentTemplate | None:
    entries = check.mapping(node, where, required=("visibility", "text"))
    if entries is None or "visibility" not in entries or "text" not in entries:
        return None
    visibility = check.string(entries["visibility"], f"{where}: visibility")
    if visibility is not None and visibility not in ("public", "internal"):
        check.add(
            entries["visibility"],
            f"{where}: visibility must be public or internal, not {visibility!r}",
            "public comments reach the customer; internal ones only engineers",
        )
        visibility = None
    text = check.string(entries["text"], f"{where}: text")
    if text is not None:
        for message in check_template(text):
            check.add(entries["text"], f"{where}: {message}")
            text = None
    if visibility is None or text is None:
        return None
    return CommentTemplate("public" if visibility == "public" else "internal", text)


def _label(check: Checker, node: Node, where: str) -> str | None:
    text = check.string(node, where)
    if text is None:
        return None
    reason = valid_label(text)
    if reason is not None:
        check.add(node, f"{where}: {text!r} is not a valid label", reason)
        return None
    return text


def _flag_policy(
    check: Checker, node: Node | None, where: str, *, default_label: str
) -> FlagPolicy | None:
    if node is None:
        return FlagPolicy(label=default_label)
    if node.is_null:
        return FlagPolicy()
    entries = check.mapping(node, where, optional=("label", "comment", "transition"))
    if entries is None:
        return None
    return _flag_entries(check, entries, where)


def _flag_entries(check: Checker, entries: Mapping[str, Node], where: str) -> FlagPolicy | None:
    ok = True
    label: str | None = None
    comment: CommentTemplate | None = None
    transition: str | None = None
    if "label" in entries and not entries["label"].is_null:
        label = _label(check, entries["label"], f"{where}: label")
        ok = ok and label is not None
    if "comment" in entries and not entries["comment"].is_null:
        comment = _comment(check, entries["comment"], f"{where}: comment")
        ok = ok and comment is not None
    if "transition" in entries and not entries["transition"].is_null:
        transition = check.string(entries["transition"], f"{where}: transition")
        ok = ok and transition is not None
    return FlagPolicy(label, comment, transition) if ok else None


def _level(check: Checker, build: _Build, node: Node, where: str) -> str | None:
    text = check.string(node, where)
    if text is None or build.levels is None:
        return text
    if text not in build.levels:
        check.unknown(node, where, "priority", text, build.levels)
        return None
    return text


def _levels(check: Checker, build: _Build, node: Node, where: str) -> tuple[str, ...] | None:
    items = check.sequence(node, where, allow_single=True)
    if items is None:
        return None
    out = [_level(check, build, item, where) for item in items]
    if any(level is None for level in out):
        return None
    return tuple(level for level in out if level is not None)


def _field_name(check: Checker, build: _Build, node: Node, where: str) -> str | None:
    text = check.string(node, where)
    if text is None:
        return None
    if text not in build.known_fields:
        check.unknown(
            node,
            where,
            "field",
            text,
            build.known_fields,
            note="logical names are the keys of `fields:` in config/bridge.yaml;",
        )
        return None
    return text


# ---------------------------------------------------------------------------- tiers


def _read_tiers(build: _Build, check: Checker, entries: dict[str, Node]) -> None:
    tiers: dict[str, Tier] = {}
    ok = True
    tier_map = (
        check.mapping(entries["tiers"], "tiers", open_keys=True) if "tiers" in entries else None
    )
    if tier_map is None:
        ok = False
    else:
        if not tier_map:
            check.add(entries["tiers"], "tiers: at least one tier is needed")
            ok = False
        for key, tier_node in tier_map.items():
            tier = _read_tier(build, check, key, tier_node)
            if tier is None:
                ok = False
            else:
                tiers[key] = tier
    all_entitlements = {e for t in tiers.values() for e in t.entitlements}

    ert: dict[str, tuple[str, ...]] = {}
    seen_types: dict[str, str] = {}
    node = entries.get("entitlement_request_types")
    if node is not None and not node.is_null:
        ert_map = check.mapping(node, "entitlement_request_types", open_keys=True)
        if ert_map is None:
            ok = False
        else:
            for entitlement, value in ert_map.items():
                key_line = _key_node(node, entitlement)
                if ok and tier_map is not None and entitlement not in all_entitlements:
                    check.unknown(
                        key_line,
                        "entitlement_request_types",
                        "entitlement",
                        entitlement,
                        all_entitlements,
                        note="no tier includes it;",
                    )
                    ok = False
                names = check.strings(
                    value, f"entitlement_request_types: {entitlement}", allow_single=True
                )
                if names is None:
                    ok = False
                    continue
                for name, item in zip(names, _items(value), strict=False):
                    if name.casefold() in seen_types:
                        check.add(
                            item,
                            f"request type {name!r} is listed under both "
                            f"{seen_types[name.casefold()]} and {entitlement}",
                            "a request type needs one entitlement",
                        )
                        ok = False
                    seen_types[name.casefold()] = entitlement
                ert[entitlement] = names

    not_entitled = _flag_policy(
        check, entries.get("not_entitled"), "not_entitled", default_label="not-entitled"
    )

    quota: QuotaPolicy | None = None
    node = entries.get("quota")
    if node is None or node.is_null:
        quota = QuotaPolicy(frozenset(), FlagPolicy(label="over-quota"))
    else:
        quota_map = check.mapping(
            node, "quota", optional=("not_counted_resolutions", "not_counted_flags", "over_quota")
        )
        if quota_map is not None:
            resolutions: tuple[str, ...] | None = ()
            if (
                "not_counted_resolutions" in quota_map
                and not quota_map["not_counted_resolutions"].is_null
            ):
                resolutions = check.strings(
                    quota_map["not_counted_resolutions"],
                    "quota: not_counted_resolutions",
                    allow_single=True,
                )
            over = _flag_policy(
                check, quota_map.get("over_quota"), "quota: over_quota", default_label="over-quota"
            )
            flags = _not_counted_flags(check, quota_map.get("not_counted_flags"))
            if resolutions is not None and over is not None and flags is not None:
                quota = QuotaPolicy(frozenset(resolutions), over, flags)

    _usage_limits(build, check, entries, all_entitlements if ok else None)
    reminder_node = entries.get("channel_reminder")
    if reminder_node is not None and not reminder_node.is_null:
        build.channel_reminder = _channel_reminder(check, reminder_node, tiers if ok else None)
    _flush(build, check)
    if ok:
        build.tiers = tiers
        build.entitlement_request_types = ert
    build.not_entitled = not_entitled
    build.quota = quota


#: The comment for a request a usage limit refuses, when the rules give none.
USAGE_LIMIT_TEXT = "{key}: {request_type} is not included: {why}."


def _usage_limits(
    build: _Build, check: Checker, entries: Mapping[str, Node], known: AbstractSet[str] | None
) -> None:
    """``usage_limits`` (entitlement -> per_contract_year, per_product) and their comment."""
    node = entries.get("usage_limits")
    limits: dict[str, UsageLimit] = {}
    if node is not None and not node.is_null:
        mapping = check.mapping(node, "usage_limits", open_keys=True)
        for entitlement, value in (mapping or {}).items():
            where = f"usage_limits: {entitlement}"
            if known is not None and entitlement not in known:
                check.unknown(
                    _key_node(node, entitlement),
                    "usage_limits",
                    "entitlement",
                    entitlement,
                    known,
                    note="no tier includes it;",
                )
                continue
            fields = check.mapping(
                value, where, required=("per_contract_year",), optional=("per_product",)
            )
            if fields is None or "per_contract_year" not in fields:
                continue
            times = check.integer(
                fields["per_contract_year"], f"{where}: per_contract_year", minimum=1
            )
            per_product: bool | None = False
            if "per_product" in fields:
                per_product = check.boolean(fields["per_product"], f"{where}: per_product")
            if times is not None and per_product is not None:
                limits[entitlement] = UsageLimit(times, per_product)
    build.usage_limits = limits
    comment_node = entries.get("usage_limit_comment")
    if comment_node is not None and not comment_node.is_null:
        build.usage_comment = _comment(check, comment_node, "usage_limit_comment")
    elif limits and comment_node is None:
        build.usage_comment = CommentTemplate("public", USAGE_LIMIT_TEXT)


def _channel_reminder(
    check: Checker, node: Node, tiers: Mapping[str, Tier] | None
) -> ChannelReminder | None:
    """``channel_reminder``: the tiers whose customers contact us via the portal, the
    request channels that get the reminder, its label and comment."""
    where = "channel_reminder"
    entries = check.mapping(
        node, where, required=("tiers", "channels"), optional=("label", "comment")
    )
    if entries is None or "tiers" not in entries or "channels" not in entries:
        return None
    ok = True
    keys = check.strings(entries["tiers"], f"{where}: tiers", allow_single=True)
    channels = check.strings(entries["channels"], f"{where}: channels", allow_single=True)
    for key, item in zip(keys or (), _items(entries["tiers"]), strict=False):
        if tiers is not None and key not in tiers:
            check.unknown(item, f"{where}: tiers", "tier", key, tiers)
            ok = False
    for channel, item in zip(channels or (), _items(entries["channels"]), strict=False):
        if channel not in REQUEST_CHANNELS:
            check.unknown(
                item,
                f"{where}: channels",
                "request channel",
                channel,
                REQUEST_CHANNELS,
                note="JSM's request-channel-type values;",
            )
            ok = False
    flag = _flag_entries(
        check, {k: v for k, v in entries.items() if k in ("label", "comment")}, where
    )
    if not ok or keys is None or channels is None or flag is None:
        return None
    return ChannelReminder(frozenset(keys), frozenset(channels), flag.label, flag.comment)


def _not_counted_flags(check: Checker, node: Node | None) -> frozenset[str] | None:
    """``quota.not_counted_flags`` (default: every flag that may keep a case out)."""
    if node is None:
        return frozenset(QUOTA_FLAGS)
    if node.is_null:
        return frozenset()
    names = check.strings(node, "quota: not_counted_flags", allow_single=True)
    if names is None:
        return None
    ok = True
    for name, item in zip(names, _items(node), strict=False):
        if name not in QUOTA_FLAGS:
            check.unknown(item, "quota: not_counted_flags", "flag", name, QUOTA_FLAGS)
            ok = False
    return frozenset(names) if ok else None


def _read_tier(build: _Build, check: Checker, key: str, node: Node) -> Tier | None:
    where = f"tier {key}"
    entries = check.mapping(
        node,
        where,
        required=("contacts", "cases_per_month"),
        optional=("name", "entitlements", "contacts_negotiable"),
    )
    if entries is None:
        return None
    name = key.replace("_", " ").title()
    if "name" in entries:
        name = check.string(entries["name"], f"{where}: name") or name
    contacts = (
        check.integer(entries["contacts"], f"{where}: contacts", minimum=1)
        if "contacts" in entries
        else None
    )
    cases = (
        check.integer(entries["cases_per_month"], f"{where}: cases_per_month", minimum=0)
        if "cases_per_month" in entries
        else None
    )
    entitlements: tuple[str, ...] | None = ()
    if "entitlements" in entries and not entries["entitlements"].is_null:
        entitlements = check.strings(entries["entitlements"], f"{where}: entitlements")
    negotiable: bool | None = key == "enterprise"
    if "contacts_negotiable" in entries:
        negotiable = check.boolean(entries["contacts_negotiable"], f"{where}: contacts_negotiable")
    if contacts is None or cases is None or entitlements is None or negotiable is None:
        return None
    if negotiable:
        build.negotiable.add(key)
    return Tier(key, name, contacts, cases, frozenset(entitlements))


def _key_node(mapping: Node, key: str) -> Node:
    for k, _ in mapping.entries:
        if k.text == key:
            return k
    return mapping


def _items(node: Node) -> tuple[Node, ...]:
    return node.items if node.kind == "seq" else (node,)


# ----------------------------------------------------------------------- priorities


_CONDITION_KEYS = (
    "field",
    "in",
    "not_in",
    "equals",
    "missing",
    "request_type",
    "labels_any",
    "components_any",
    "priority",
    "summary_matches",
)


def _read_priorities(build: _Build, check: Checker, entries: dict[str, Node]) -> None:
    levels: list[str] = []
    jira_names: dict[str, str] = {}
    also: dict[str, tuple[str, ...]] = {}
    ok = True
    level_map = (
        check.mapping(entries["priorities"], "priorities", open_keys=True)
        if "priorities" in entries
        else None
    )
    if level_map is None:
        ok = False
    else:
        if not level_map:
            check.add(entries["priorities"], "priorities: at least one priority is needed")
            ok = False
        seen: dict[str, str] = {}
        for level, level_node in level_map.items():
            where = f"priority {level}"
            levels.append(level)
            spec = check.mapping(level_node, where, required=("jira",), optional=("also",))
            if spec is None or "jira" not in spec:
                ok = False
                continue
            jira = check.string(spec["jira"], f"{where}: jira")
            if jira is None:
                ok = False
                continue
            others: tuple[str, ...] | None = ()
            if "also" in spec and not spec["also"].is_null:
                others = check.strings(spec["also"], f"{where}: also", allow_single=True)
            if others is None:
                ok = False
                continue
            names_nodes = [(jira, spec["jira"])]
            names_nodes += list(zip(others, _items(spec["also"]), strict=False)) if others else []
            for name, node_of_name in names_nodes:
                if name.casefold() in seen:
                    check.add(
                        node_of_name,
                        f"{where}: Jira priority {name!r} is already used by "
                        f"{seen[name.casefold()]}",
                        "each Jira priority means one level",
                    )
                    ok = False
                seen[name.casefold()] = level
            jira_names[level] = jira
            if others:
                also[level] = others
    build.levels = tuple(levels) if level_map is not None else None

    respect: bool | None = True
    if "respect_engineer_changes" in entries:
        respect = check.boolean(entries["respect_engineer_changes"], "respect_engineer_changes")
    changes = _change_comments(check, entries.get("change_comments"))

    rules: list[PriorityRule] = []
    node = entries.get("rules")
    if node is not None and not node.is_null:
        items = check.sequence(node, "rules")
        if items is None:
            ok = False
        else:
            names: set[str] = set()
            for index, item in enumerate(items, start=1):
                rule = _read_rule(build, check, item, index)
                if rule is None:
                    ok = False
                    continue
                if rule.name.casefold() in names:
                    check.add(
                        item,
                        f"rule {index}: the name {rule.name!r} is already used",
                        "rule names appear in `explain` and must be unique",
                    )
                    ok = False
                names.add(rule.name.casefold())
                rules.append(rule)
    _flush(build, check)
    if ok and respect is not None and changes is not None:
        build.priorities = PriorityPolicy(
            tuple(levels), jira_names, respect, tuple(rules), also, changes
        )


def _change_comments(check: Checker, node: Node | None) -> ChangeComments | None:
    """``change_comments:``: each kind's template, the default when absent, none when null."""
    if node is None or node.is_null:
        return ChangeComments()
    entries = check.mapping(node, "change_comments", optional=("rule", "restored", "engineer"))
    if entries is None:
        return None
    defaults = ChangeComments()
    chosen: dict[str, CommentTemplate | None] = {}
    ok = True
    for kind in ("rule", "restored", "engineer"):
        if kind not in entries:
            chosen[kind] = getattr(defaults, kind)
        elif entries[kind].is_null:
            chosen[kind] = None
        else:
            chosen[kind] = _comment(check, entries[kind], f"change_comments: {kind}")
            ok = ok and chosen[kind] is not None
    return ChangeComments(**chosen) if ok else None


def _read_rule(build: _Build, check: Checker, node: Node, index: int) -> PriorityRule | None:
    entries = check.mapping(
        node, f"rule {index}", required=("name", "when"), optional=("set", "cap", "comment")
    )
    if entries is None:
        return None
    name = check.string(entries["name"], f"rule {index}: name") if "name" in entries else None
    where = f"rule {name!r}" if name else f"rule {index}"
    condition = _read_condition(build, check, entries["when"], where) if "when" in entries else None
    set_level = cap = None
    ok = True
    if "set" in entries:
        set_level = _level(check, build, entries["set"], f"{where}: set")
        ok = ok and set_level is not None
    if "cap" in entries:
        cap = _level(check, build, entries["cap"], f"{where}: cap")
        ok = ok and cap is not None
    if "set" in entries and "cap" in entries:
        check.add(entries["cap"], f"{where}: use either set or cap, not both")
        ok = False
    if "set" not in entries and "cap" not in entries:
        check.add(
            node,
            f"{where}: the rule does nothing",
            "give it `set: P4` or `cap: P3` (its comment is posted when it changes the priority)",
        )
        ok = False
    comment = None
    if "comment" in entries:
        comment = _comment(check, entries["comment"], f"{where}: comment")
        ok = ok and comment is not None
    if not ok or name is None or condition is None:
        return None
    return PriorityRule(name=name, when=condition, set=set_level, cap=cap, comment=comment)


def _read_condition(build: _Build, check: Checker, node: Node, where: str) -> Condition | None:
    where = f"{where}: when"
    entries = check.mapping(node, where, optional=_CONDITION_KEYS)
    if entries is None:
        return None
    ok = True
    values: dict[str, Any] = {}
    if "field" in entries:
        values["field"] = _field_name(check, build, entries["field"], f"{where}: field")
        ok = ok and values["field"] is not None
        tests = [k for k in ("in", "not_in", "equals", "missing") if k in entries]
        if not tests:
            check.add(
                entries["field"],
                f"{where}: field needs a test",
                "add one of in: [...], not_in: [...], equals: X, missing: true",
            )
            ok = False
        elif len(tests) > 1:
            check.add(
                entries[tests[1]],
                f"{where}: use one test per field, not {' and '.join(tests)}",
                "split the rule in two if you need both",
            )
            ok = False
    else:
        for test in ("in", "not_in", "equals", "missing"):
            if test in entries:
                check.add(
                    entries[test],
                    f"{where}: {test} needs a field",
                    "add `field: <logical name>` (e.g. field: environment)",
                )
                ok = False
    for key, attr in (
        ("in", "in_"),
        ("not_in", "not_in"),
        ("request_type", "request_type"),
        ("labels_any", "labels_any"),
        ("components_any", "components_any"),
    ):
        if key in entries:
            values[attr] = check.strings(entries[key], f"{where}: {key}", allow_single=True)
            ok = ok and values[attr] is not None
    if "equals" in entries:
        values["equals"] = check.string(entries["equals"], f"{where}: equals", allow_empty=True)
        ok = ok and values["equals"] is not None
    if "missing" in entries:
        values["missing"] = check.boolean(entries["missing"], f"{where}: missing")
        ok = ok and values["missing"] is not None
    if "priority" in entries:
        values["priority"] = _levels(check, build, entries["priority"], f"{where}: priority")
        ok = ok and values["priority"] is not None
    if "summary_matches" in entries:
        pattern = check.string(entries["summary_matches"], f"{where}: summary_matches")
        if pattern is not None:
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                check.add(
                    entries["summary_matches"],
                    f"{where}: summary_matches is not a valid regular expression: {exc.msg}"
                    + (f" at position {exc.pos}" if exc.pos is not None else ""),
                    "escape special characters such as ( [ + * with a backslash",
                )
                pattern = None
            risk = backtracking_risk(pattern, re.IGNORECASE) if pattern is not None else None
            if risk is not None:  # a customer's summary could stall every cycle
                check.add(
                    entries["summary_matches"],
                    f"{where}: summary_matches {pattern!r} can take exponential time: {risk}",
                    "write it without nested repeats, e.g. (a+)+ as a+",
                )
                pattern = None
        values["summary_matches"] = pattern
        ok = ok and pattern is not None
    if not ok:
        return None
    return Condition(**values)


# ------------------------------------------------------------------------------ SLA


def _read_sla(build: _Build, check: Checker, entries: dict[str, Node]) -> None:
    calendars: dict[str, BusinessCalendar] = {}
    names: set[str] = set()
    ok = True
    node = entries.get("calendars")
    cal_map = check.mapping(node, "calendars", open_keys=True) if node is not None else None
    if cal_map is None:
        ok = False
    else:
        if not cal_map:
            check.add(node, "calendars: at least one calendar is needed")
            ok = False
        names = set(cal_map)
        for name, cal_node in cal_map.items():
            calendar = _read_calendar(check, name, cal_node, build.escalation_owners)
            if calendar is None:
                ok = False
            else:
                calendars[name] = calendar
    build.calendar_names = names if cal_map is not None else None

    default: str | None = None
    if "default_calendar" in entries:
        default = check.string(entries["default_calendar"], "default_calendar")
        if default is not None and cal_map is not None and default not in names:
            check.unknown(
                entries["default_calendar"], "default_calendar", "calendar", default, names
            )
            default = None
    elif cal_map is not None and len(cal_map) == 1:
        default = next(iter(cal_map))
    elif cal_map is not None and cal_map:
        check.add(
            node,
            "default_calendar is missing",
            f"name the calendar for customers without one, e.g. default_calendar: {next(iter(cal_map))}",
        )
    build.default_calendar = default

    response = _read_response(build, check, entries["response"]) if "response" in entries else None
    escalation: tuple[EscalationStep, ...] | None = ()
    if "escalation" in entries and not entries["escalation"].is_null:
        escalation = _read_escalation(build, check, entries["escalation"])
        if escalation and cal_map is not None:
            _check_owners(check, escalation, cal_map, build.escalation_owners)
    required: RequiredInformation | None = RequiredInformation((), None, None)
    if "required_information" in entries and not entries["required_information"].is_null:
        required = _read_required(build, check, entries["required_information"])
    _flush(build, check)
    if ok:
        build.calendars = calendars
    build.response = response
    build.escalation = escalation
    build.required_information = required


def _read_calendar(
    check: Checker, name: str, node: Node, owners: dict[str, str]
) -> BusinessCalendar | None:
    """The calendar; its escalation owner (if it names one) goes into ``owners``."""
    where = f"calendar {name}"
    entries = check.mapping(
        node, where, required=("timezone", "hours"), optional=("holidays", "escalation_owner")
    )
    if entries is None:
        return None
    owner_node = entries.get("escalation_owner")
    if owner_node is not None and not owner_node.is_null:
        owner = _person(check, owner_node, f"{where}: escalation_owner")
        owners[name] = owner or ""  # a bad one is reported here, not again as missing
        if owner is None:
            return None
    tz = check.string(entries["timezone"], f"{where}: timezone") if "timezone" in entries else None
    hours = _read_hours(check, entries["hours"], where) if "hours" in entries else None
    holidays: HolidaySpec | None = HolidaySpec()
    lines: dict[str, Node] = {"timezone": entries.get("timezone", node)}
    if "holidays" in entries and not entries["holidays"].is_null:
        holidays, hol_lines = _read_holidays(check, entries["holidays"], where)
        lines.update(hol_lines)
    if tz is None or hours is None or holidays is None:
        return None
    try:
        return BusinessCalendar(name, tz, hours, holidays)
    except CalendarError as exc:
        message = str(exc)
        lowered = message.casefold()
        if "leave_out" in lowered:
            at = lines.get("leave_out", node)
        elif "subdivision" in lowered:
            at = lines.get("subdivision", node)
        elif "country" in lowered:
            at = lines.get("country", node)
        elif "zone" in lowered:
            at = lines["timezone"]
        else:
            at = node
        hint = _timezone_hint(tz) if at is lines["timezone"] else None
        check.add(at, message, hint)
        return None


def _timezone_hint(name: str) -> str | None:
    from zoneinfo import available_timezones  # only on the error path

    return did_you_mean(name, available_timezones())


def _day_spec(check: Checker, key_node: Node, where: str) -> list[int] | None:
    text = key_node.text.strip().casefold()
    days: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if "-" in part:
            first, _, last = part.partition("-")
            first, last = first.strip(), last.strip()
            if first not in WEEKDAYS or last not in WEEKDAYS:
                bad = first if first not in WEEKDAYS else last
                check.add(
                    key_node,
                    f"{where}: {bad!r} is not a day",
                    (did_you_mean(bad[:3], WEEKDAYS) or "")
                    + " days are mon tue wed thu fri sat sun; ranges like mon-fri",
                )
                return None
            a, b = WEEKDAYS.index(first), WEEKDAYS.index(last)
            if a > b:
                check.add(
                    key_node,
                    f"{where}: the day range {part!r} runs backwards",
                    "write ranges from Monday towards Sunday, e.g. sat-sun",
                )
                return None
            days.extend(range(a, b + 1))
        elif part in WEEKDAYS:
            days.append(WEEKDAYS.index(part))
        else:
            suggestion = did_you_mean(part[:3], WEEKDAYS) if part else None
            check.add(
                key_node,
                f"{where}: {part!r} is not a day",
                ((suggestion + " ") if suggestion else "")
                + "days are mon tue wed thu fri sat sun; ranges like mon-fri",
            )
            return None
    return days


def _read_hours(
    check: Checker, node: Node, where: str
) -> dict[int, tuple[tuple[time, time], ...]] | None:
    where = f"{where}: hours"
    if node.kind != "map":
        check.add(
            node,
            f"{where} must map days to opening times, not {node.describe()}",
            'e.g. {mon-fri: "09:00-17:00"}',
        )
        return None
    week: dict[int, tuple[tuple[time, time], ...]] = {}
    ok = True
    for key_node, value in node.entries:
        days = _day_spec(check, key_node, where)
        intervals = _read_intervals(check, value, f"{where}: {key_node.text}")
        if days is None or intervals is None:
            ok = False
            continue
        for day in days:
            week[day] = intervals  # a later entry overrides an earlier one for the same day
    if ok and not any(week.values()):
        check.add(node, f"{where}: no business hours at all", "the response clock could never run")
        ok = False
    return {d: week.get(d, ()) for d in range(7)} if ok else None


def _read_intervals(check: Checker, node: Node, where: str) -> tuple[tuple[time, time], ...] | None:
    if node.is_null or (node.kind == "scalar" and node.text.strip().casefold() == "closed"):
        return ()
    items = check.sequence(node, where, allow_single=True)
    if items is None:
        return None
    spans: list[tuple[int, int]] = []  # minutes since midnight; an end of 24:00 is 1440
    for item in items:
        text = item.text if item.kind == "scalar" else ""
        start_text, sep, end_text = text.partition("-")
        start = _minutes(start_text) if sep else None
        end = _minutes(end_text, end=True) if sep else None
        if item.kind != "scalar" or start is None or end is None:
            check.add(
                item,
                f"{where}: {item.describe()} is not an opening time",
                'write "HH:MM-HH:MM" in quotes, e.g. "09:00-17:00"',
            )
            return None
        if end <= start:
            check.add(
                item,
                f"{where}: {text.strip()!r} closes before it opens",
                'e.g. "09:00-17:00"; "22:00-24:00" runs to midnight',
            )
            return None
        spans.append((start, end))
    spans.sort()
    for (s1, e1), (s2, e2) in itertools.pairwise(spans):
        if s2 < e1:
            check.add(
                node,
                f"{where}: opening times {_hhmm(s1)}-{_hhmm(e1)} and {_hhmm(s2)}-{_hhmm(e2)} overlap",
            )
            return None
    return tuple((_time(s), _time(e)) for s, e in spans)


def _minutes(text: str, *, end: bool = False) -> int | None:
    match = _CLOCK.fullmatch(text.strip())
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2))
    if minute > 59 or hour > 24 or (hour == 24 and (minute or not end)):
        return None
    value = hour * 60 + minute
    return 1440 if end and value == 0 else value


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _time(minutes: int) -> time:
    return time(0) if minutes == 1440 else time(minutes // 60, minutes % 60)


def _read_holidays(
    check: Checker, node: Node, where: str
) -> tuple[HolidaySpec | None, dict[str, Node]]:
    where = f"{where}: holidays"
    entries = check.mapping(
        node, where, optional=("country", "subdivision", "extra", "remove", "leave_out")
    )
    if entries is None:
        return None, {}
    ok = True
    country = subdivision = None
    if "country" in entries and not entries["country"].is_null:
        country = check.string(entries["country"], f"{where}: country")
        ok = ok and country is not None
    if "subdivision" in entries and not entries["subdivision"].is_null:
        subdivision = check.string(entries["subdivision"], f"{where}: subdivision")
        ok = ok and subdivision is not None
        if country is None and "country" not in entries:
            check.add(
                entries["subdivision"],
                f"{where}: a subdivision needs a country",
                "e.g. country: AU",
            )
            ok = False
    dates: dict[str, frozenset[date]] = {}
    for key in ("extra", "remove"):
        found: set[date] = set()
        if key in entries and not entries[key].is_null:
            items = check.sequence(entries[key], f"{where}: {key}", allow_single=True)
            if items is None:
                ok = False
                continue
            for item in items:
                value = _date(item)
                if value is None:
                    check.add(
                        item,
                        f"{where}: {key}: {item.describe()} is not a date",
                        "write dates as YYYY-MM-DD",
                    )
                    ok = False
                else:
                    found.add(value)
        dates[key] = frozenset(found)
    leave_out: tuple[str, ...] | None = ()
    if "leave_out" in entries and not entries["leave_out"].is_null:
        leave_out = check.strings(entries["leave_out"], f"{where}: leave_out", allow_single=True)
        ok = ok and leave_out is not None
    if not ok or leave_out is None:
        return None, dict(entries)
    spec = HolidaySpec(
        country=country.upper() if country else None,
        subdivision=subdivision,
        extra=dates.get("extra", frozenset()),
        remove=dates.get("remove", frozenset()),
        leave_out=frozenset(leave_out),
    )
    return spec, dict(entries)


def _date(node: Node) -> date | None:
    if node.kind != "scalar":
        return None
    value = node.value
    if isinstance(value, date) and not hasattr(value, "hour"):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            return None
    return None


def _percent(check: Checker, node: Node, where: str, *, maximum: float) -> float | None:
    text = node.text if node.kind == "scalar" else ""
    share = (
        parse_percentage(text) if node.kind == "scalar" and isinstance(node.value, str) else None
    )
    if share is None:
        hint = 'write a percentage such as "75%"'
        if (
            node.kind == "scalar"
            and isinstance(node.value, int | float)
            and not isinstance(node.value, bool)
        ):
            number = float(node.value)
            shown = number * 100 if 0 < number <= 1.5 and isinstance(node.value, float) else number
            hint = f"write {shown:g}% with a percent sign"
        check.add(node, f"{where} must be a percentage, not {node.describe()}", hint)
        return None
    if share <= 0 or share > maximum:
        check.add(node, f"{where} must be above 0% and at most {maximum * 100:g}%, not {text}")
        return None
    return share


def _read_response(build: _Build, check: Checker, node: Node) -> ResponsePolicy | None:
    entries = check.mapping(
        node,
        "response",
        required=("targets",),
        optional=("responded_statuses", "pause_statuses", "approval_statuses", "at_risk_at"),
    )
    if entries is None:
        return None
    ok = True
    targets: dict[str, Target] = {}
    if "targets" in entries:
        tmap = check.mapping(entries["targets"], "response: targets", open_keys=True)
        if tmap is None:
            ok = False
        else:
            for level, value in tmap.items():
                if build.levels is not None and level not in build.levels:
                    check.unknown(
                        _key_node(entries["targets"], level),
                        "response: targets",
                        "priority",
                        level,
                        build.levels,
                    )
                    ok = False
                    continue
                target = _target(check, value, f"response: targets: {level}")
                if target is None:
                    ok = False
                else:
                    targets[level] = target
            if build.levels is not None:
                missing = [lv for lv in build.levels if lv not in tmap]
                if missing:
                    check.add(
                        entries["targets"],
                        f"response: targets: no target for {', '.join(missing)}",
                        "every priority in priorities.yaml needs a target, e.g. P4: next_business_day",
                    )
                    ok = False
    statuses: dict[str, frozenset[str]] = {}
    for key in ("responded_statuses", "pause_statuses", "approval_statuses"):
        found = entries.get(key)
        names: tuple[str, ...] | None = ()
        if found is not None and not found.is_null:
            names = check.strings(found, f"response: {key}", allow_single=True)
        if names is None:
            ok = False
            names = ()
        statuses[key] = frozenset(names)
    for first, second in (
        ("responded_statuses", "pause_statuses"),
        ("responded_statuses", "approval_statuses"),
        ("pause_statuses", "approval_statuses"),
    ):
        both = statuses[first] & statuses[second]
        if both:
            check.add(
                entries[second],
                f"response: {', '.join(sorted(both))} is both a {first.split('_')[0]} "
                f"and a {second.split('_')[0]} status",
                "a status answers the case, pauses its clock after a reply, or holds it "
                "for approval: one of them",
            )
            ok = False
    hold = build.quota.over_quota.transition if build.quota is not None else None
    if hold and not statuses["approval_statuses"]:
        check.add(
            entries.get("approval_statuses", node),
            f"response: tiers.yaml holds over-quota cases with transition {hold!r}, but "
            "approval_statuses names no status: their clocks would run and breach while held",
            f"name the status {hold!r} leads to, e.g. approval_statuses: [Pending approval]",
        )
        ok = False
    at_risk: float | None = 0.75
    if "at_risk_at" in entries:
        at_risk = _percent(check, entries["at_risk_at"], "response: at_risk_at", maximum=1.0)
    if not ok or at_risk is None:
        return None
    return ResponsePolicy(
        targets,
        statuses["responded_statuses"],
        statuses["pause_statuses"],
        at_risk,
        statuses["approval_statuses"],
    )


def _target(check: Checker, node: Node, where: str) -> Target | None:
    if node.kind == "scalar" and isinstance(node.value, str):
        text = node.value.strip()
        if text == NEXT_BUSINESS_DAY:
            return Target("next_business_day")
        duration = parse_duration(text)
        if duration is not None:
            return Target("duration", duration)
    hint = 'write a business duration such as "4h", "90m", "1h30m", or next_business_day'
    if node.kind == "scalar" and node.text.strip().endswith("d"):
        hint = "days are ambiguous in business time: use next_business_day or hours, e.g. 16h"
    check.add(node, f"{where}: {node.describe()} is not a response target", hint)
    return None


_ACTIONS = ("comment", "label", "assign", "transition")


def _check_owners(
    check: Checker,
    steps: tuple[EscalationStep, ...],
    calendars: Mapping[str, Node],
    owners: Mapping[str, str],
) -> None:
    """A ladder that assigns or names the escalation owner needs one in every calendar."""
    uses = [
        step.index + 1
        for step in steps
        for action in step.actions
        if action.assign == "escalation_owner"
        or (action.comment is not None and "{escalation_owner}" in action.comment.text)
    ]
    if not uses:
        return
    for name, node in calendars.items():
        if name not in owners:
            check.add(
                node,
                f"calendar {name} has no escalation_owner, but escalation step {uses[0]} "
                "assigns or names it",
                "name the regional lead, e.g. escalation_owner: lead@vendor.example",
            )


def _read_escalation(
    build: _Build, check: Checker, node: Node
) -> tuple[EscalationStep, ...] | None:
    items = check.sequence(node, "escalation")
    if items is None:
        return None
    steps: list[EscalationStep] = []
    at_nodes: list[Node] = []
    ok = True
    for index, item in enumerate(items):
        where = f"escalation step {index + 1}"
        entries = check.mapping(item, where, required=("at", "actions"), optional=("priorities",))
        if entries is None:
            ok = False
            continue
        at = (
            _percent(check, entries["at"], f"{where}: at", maximum=10.0)
            if "at" in entries
            else None
        )
        priorities: frozenset[str] | None = None
        if "priorities" in entries and not entries["priorities"].is_null:
            levels = _levels(check, build, entries["priorities"], f"{where}: priorities")
            if levels is None:
                ok = False
            else:
                priorities = frozenset(levels)
        actions = _read_actions(check, entries["actions"], where) if "actions" in entries else None
        if at is None or actions is None:
            ok = False
            continue
        steps.append(EscalationStep(index, at, priorities, actions))
        at_nodes.append(entries["at"])
    for j, later in enumerate(steps):
        for earlier in steps[:j]:
            overlap = (
                earlier.priorities is None
                or later.priorities is None
                or bool(earlier.priorities & later.priorities)
            )
            if overlap and later.at <= earlier.at:
                check.add(
                    at_nodes[j],
                    f"escalation step {later.index + 1} at {later.at * 100:g}% does not come after "
                    f"step {earlier.index + 1} at {earlier.at * 100:g}%",
                    "list the steps in ascending order of the share of the target",
                )
                ok = False
                break
    return tuple(steps) if ok else None


def _read_actions(check: Checker, node: Node, where: str) -> tuple[EscalationAction, ...] | None:
    items = check.sequence(node, f"{where}: actions")
    if items is None:
        return None
    if not items:
        check.add(node, f"{where}: actions is empty", "add at least one action")
        return None
    actions: list[EscalationAction] = []
    ok = True
    for item in items:
        entries = check.mapping(item, f"{where}: action", optional=_ACTIONS)
        if entries is None:
            ok = False
            continue
        if len(item.entries) != 1:
            check.add(
                item,
                f"{where}: each action is one of {', '.join(_ACTIONS)}",
                "start a new list item (- ) for each action",
            )
            ok = False
            continue
        if not entries:
            ok = False
            continue
        kind, value = next(iter(entries.items()))
        action: EscalationAction | None = None
        if kind == "comment":
            comment = _comment(check, value, f"{where}: comment")
            action = EscalationAction("comment", comment=comment) if comment else None
        elif kind == "label":
            label = _label(check, value, f"{where}: label")
            action = EscalationAction("label", label=label) if label else None
        elif kind == "assign":
            who = _person(check, value, f"{where}: assign")
            action = EscalationAction("assign", assign=who) if who else None
        else:
            name = check.string(value, f"{where}: transition")
            action = EscalationAction("transition", transition=name) if name else None
        if action is None:
            ok = False
        else:
            actions.append(action)
    return tuple(actions) if ok else None


def _person(check: Checker, node: Node, where: str) -> str | None:
    """An e-mail or account id (for ``assign``: also named_engineer or escalation_owner)."""
    who = check.string(node, where)
    if who is not None and any(ch.isspace() for ch in who):
        check.add(
            node,
            f"{where} {who!r} is neither named_engineer, escalation_owner nor an e-mail/account id",
        )
        return None
    return who


def _read_required(build: _Build, check: Checker, node: Node) -> RequiredInformation | None:
    entries = check.mapping(
        node, "required_information", optional=("fields", "placeholders", "label", "comment")
    )
    if entries is None:
        return None
    ok = True
    items: list[RequiredItem] = []
    if "fields" in entries and not entries["fields"].is_null:
        nodes = check.sequence(entries["fields"], "required_information: fields", allow_single=True)
        if nodes is None:
            ok = False
        for index, item_node in enumerate(nodes or (), start=1):
            item = _required_item(build, check, item_node, index)
            ok = ok and item is not None
            items.extend((item,) if item is not None else ())
    placeholders: tuple[str, ...] | None = DEFAULT_PLACEHOLDERS
    if "placeholders" in entries:
        placeholders = ()
        if not entries["placeholders"].is_null:
            placeholders = check.strings(
                entries["placeholders"], "required_information: placeholders", allow_single=True
            )
        ok = ok and placeholders is not None
    label = comment = None
    if "label" in entries and not entries["label"].is_null:
        label = _label(check, entries["label"], "required_information: label")
        ok = ok and label is not None
    if "comment" in entries and not entries["comment"].is_null:
        comment = _comment(check, entries["comment"], "required_information: comment")
        ok = ok and comment is not None
    if not ok or placeholders is None:
        return None
    names = tuple(dict.fromkeys(name for item in items for name in item.fields))
    return RequiredInformation(names, label, comment, tuple(items), placeholders)


def _required_item(build: _Build, check: Checker, node: Node, index: int) -> RequiredItem | None:
    """One item of ``required_information: fields``: a logical field name, or a mapping
    ``{field: x | any_of: [x, y], pattern, min_length, accept}``."""
    where = f"required_information: fields: item {index}"
    if node.kind != "map":
        name = _field_name(check, build, node, "required_information: fields")
        return RequiredItem((name,)) if name is not None else None
    entries = check.mapping(
        node, where, optional=("field", "any_of", "pattern", "min_length", "accept")
    )
    if entries is None:
        return None
    given = [key for key in ("field", "any_of") if key in entries]
    if len(given) != 1:
        check.add(
            node,
            f"{where}: give either field or any_of",
            "field: product, or any_of: [contact_phone, contact_skype] (any one answers it)",
        )
        return None
    names_node = entries[given[0]]
    nodes = check.sequence(names_node, f"{where}: {given[0]}", allow_single=True) or []
    names = [_field_name(check, build, n, f"{where}: {given[0]}") for n in nodes]
    ok = bool(nodes) and all(name is not None for name in names)
    pattern = _item_pattern(check, entries.get("pattern"), where)
    ok = ok and (pattern is not None or "pattern" not in entries)
    min_length: int | None = 0
    if "min_length" in entries:
        min_length = check.integer(entries["min_length"], f"{where}: min_length", minimum=0)
    accept: tuple[str, ...] | None = ()
    if "accept" in entries:
        accept = check.strings(entries["accept"], f"{where}: accept", allow_single=True)
    if not ok or min_length is None or accept is None:
        return None
    fields = tuple(name for name in names if name is not None)
    return RequiredItem(fields, pattern, min_length, accept)


def _item_pattern(check: Checker, node: Node | None, where: str) -> str | None:
    """A required item's pattern, if valid and safe on a customer's answer."""
    if node is None:
        return None
    pattern = check.string(node, f"{where}: pattern")
    if pattern is None:
        return None
    try:
        re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        check.add(
            node,
            f"{where}: pattern is not a valid regular expression: {exc.msg}",
            "escape special characters such as ( [ + * with a backslash",
        )
        return None
    risk = backtracking_risk(pattern, re.IGNORECASE)
    if risk is not None:  # a customer's answer could stall every cycle
        check.add(
            node,
            f"{where}: pattern {pattern!r} can take exponential time: {risk}",
            "write it without nested repeats, e.g. (a+)+ as a+",
        )
        return None
    return pattern


# ------------------------------------------------------------------------ customers


def _read_customers(build: _Build, check: Checker, entries: dict[str, Node]) -> None:
    customers: dict[str, Customer] = {}
    ok = True
    node = entries.get("customers")
    cmap = check.mapping(node, "customers", open_keys=True) if node is not None else None
    if cmap is None:
        ok = False
    else:
        folded: dict[str, str] = {}
        for org, value in cmap.items():
            if org.casefold() in folded:
                check.add(
                    _key_node(node, org),  # type: ignore[arg-type]
                    f"customer {org!r} is already listed as {folded[org.casefold()]!r}",
                    "organisation names are matched case-insensitively",
                )
                ok = False
                continue
            folded[org.casefold()] = org
            customer = _read_customer(build, check, org, value)
            if customer is None:
                ok = False
            else:
                customers[org] = customer
    unauthorised = _flag_policy(
        check,
        entries.get("unauthorised_contact"),
        "unauthorised_contact",
        default_label="unauthorised-contact",
    )
    unknown = _unknown_customer(check, entries.get("unknown_customer"))
    _flush(build, check)
    if ok:
        build.customers = customers
    build.unauthorised_contact = unauthorised
    build.unknown_customer = unknown


def _unknown_customer(check: Checker, node: Node | None) -> UnknownCustomerPolicy | None:
    """``unknown_customer``: a flag plus the two comments for a case naming no organisation
    (defaults: built-in texts with the organisation comment's visibility)."""
    where = "unknown_customer"
    extra = ("no_organization_comment", "several_customers_comment")
    entries: dict[str, Node] = {}
    if node is None or node.is_null:
        flag = _flag_policy(check, node, where, default_label="unknown-customer")
    else:
        found = check.mapping(node, where, optional=("label", "comment", "transition", *extra))
        if found is None:
            return None
        entries = found
        flag = _flag_entries(check, entries, where)
    if flag is None:
        return None
    comments: dict[str, CommentTemplate | None] = {}
    ok = True
    for key, text in zip(extra, (NO_ORGANIZATION_TEXT, SEVERAL_CUSTOMERS_TEXT), strict=True):
        given = entries.get(key)
        if given is None:
            visible = flag.comment.visibility if flag.comment is not None else None
            comments[key] = CommentTemplate(visible, text) if visible is not None else None
        elif given.is_null:
            comments[key] = None
        else:
            comments[key] = _comment(check, given, f"{where}: {key}")
            ok = ok and comments[key] is not None
    if not ok:
        return None
    return UnknownCustomerPolicy(flag.label, flag.comment, flag.transition, **comments)


def _read_customer(build: _Build, check: Checker, org: str, node: Node) -> Customer | None:
    where = f"customer {org}"
    entries = check.mapping(
        node,
        where,
        required=("tier", "contacts"),
        optional=("calendar", "contacts_allowed", "named_engineer", "products", "contract_start"),
    )
    if entries is None:
        return None
    ok = True
    tier: Tier | None = None
    tier_key = check.string(entries["tier"], f"{where}: tier") if "tier" in entries else None
    if tier_key is not None and build.tiers is not None:
        tier = build.tiers.get(tier_key)
        if tier is None:
            check.unknown(entries["tier"], where, "tier", tier_key, build.tiers)
            ok = False
    ok = ok and tier_key is not None

    calendar: str | None = build.default_calendar
    if "calendar" in entries:
        calendar = check.string(entries["calendar"], f"{where}: calendar")
        if (
            calendar is not None
            and build.calendar_names is not None
            and calendar not in build.calendar_names
        ):
            check.unknown(entries["calendar"], where, "calendar", calendar, build.calendar_names)
            calendar = None
    ok = ok and calendar is not None

    contacts: list[str] = []
    contact_items: list[Node] = []
    if "contacts" in entries:
        items = check.sequence(entries["contacts"], f"{where}: contacts", allow_single=True)
        if items is None:
            ok = False
        else:
            seen: set[str] = set()
            for item in items:
                text = check.string(item, f"{where}: contact")
                if text is None:
                    ok = False
                    continue
                address = text.strip().lower()
                if not _EMAILISH.fullmatch(address):
                    check.add(
                        item,
                        f"{where}: {text!r} is not an e-mail address",
                        "contacts are the reporters' e-mail addresses",
                    )
                    ok = False
                    continue
                if address in seen:
                    check.add(item, f"{where}: {address} is listed twice")
                    ok = False
                    continue
                seen.add(address)
                contacts.append(address)
                contact_items.append(item)
            if not items:
                check.add(
                    entries["contacts"],
                    f"{where}: no authorised contacts",
                    "list at least one e-mail address",
                )
                ok = False

    allowed: int | None = None
    if "contacts_allowed" in entries and not entries["contacts_allowed"].is_null:
        allowed = check.integer(
            entries["contacts_allowed"], f"{where}: contacts_allowed", minimum=1
        )
        if allowed is None:
            ok = False
        elif tier is not None and tier_key is not None:
            if tier_key not in build.negotiable:
                check.add(
                    entries["contacts_allowed"],
                    f"{where}: contacts_allowed is only for tiers whose contracts set their own number of contacts; "
                    f"the {tier.name} tier allows {tier.contacts}",
                    "move the customer to the enterprise tier, or remove contacts_allowed",
                )
                ok = False
            elif allowed < tier.contacts:
                check.add(
                    entries["contacts_allowed"],
                    f"{where}: contacts_allowed {allowed} is below the {tier.name} tier's {tier.contacts}",
                    "contacts_allowed may only raise the tier's number",
                )
                ok = False

    if tier is not None and ok:
        limit = allowed if allowed is not None else tier.contacts
        if len(contacts) > limit:
            source = "contacts_allowed" if allowed is not None else f"the {tier.name} tier"
            check.add(
                contact_items[limit] if len(contact_items) > limit else entries["contacts"],
                f"{where}: {len(contacts)} contacts, but {source} allows {limit}",
                "remove a contact"
                + (
                    ", or raise contacts_allowed"
                    if tier_key in build.negotiable
                    else ", or move the customer to a tier with more contacts"
                ),
            )
            ok = False

    engineer: str | None = None
    if "named_engineer" in entries and not entries["named_engineer"].is_null:
        engineer = check.string(entries["named_engineer"], f"{where}: named_engineer")
        if engineer is None:
            ok = False
        elif tier is not None and "named_engineer" not in tier.entitlements:
            check.add(
                entries["named_engineer"],
                f"{where}: the {tier.name} tier does not include a named engineer",
                "add named_engineer to the tier's entitlements, or remove it from the customer",
            )
            ok = False
        else:
            engineer = engineer.strip()
            if "@" in engineer:
                engineer = engineer.lower()

    products: tuple[str, ...] | None = ()
    if "products" in entries and not entries["products"].is_null:
        products = check.strings(entries["products"], f"{where}: products", allow_single=True)
        ok = ok and products is not None
    start: date | None = None
    if "contract_start" in entries and not entries["contract_start"].is_null:
        start = _date(entries["contract_start"])
        if start is None:
            check.add(
                entries["contract_start"],
                f"{where}: contract_start must be a date, YYYY-MM-DD",
                "the day the contract began: its contract years start on that day",
            )
            ok = False
    if not ok or tier_key is None or calendar is None or products is None:
        return None
    return Customer(
        organization=org,
        tier=tier_key,
        calendar=calendar,
        contacts=tuple(contacts),
        contacts_allowed=allowed,
        named_engineer=engineer,
        products=products,
        contract_start=start,
    )
