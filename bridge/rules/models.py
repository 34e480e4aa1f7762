"""The rule files' shape, described once: typed models of the four files.

These models are the one description of what `rules/*.yaml` may contain: the
published JSON Schema (``jsm-bridge schema``) is generated from them, so is the
README's rule reference (a test keeps it current), and ``check`` validates the
files with them (``bridge.rules.shape`` turns their errors into ``file:line``
problems, worded from each field's ``form`` and ``hint``).  Each field says its
type for the reference (``shown``) and its meaning (``description``).  What a
rule *means* (references between files, ordering, templates, contact counts)
is checked by ``bridge.policy.ruleset``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from bridge.policy.model import QuotaFlag


def form(noun: str, hint: str, **field: Any) -> Any:
    """A constrained text type: ``noun`` names it in a problem ("must be a percentage"),
    ``hint`` says how to write one; both also show in the schema (an editor's hover)."""
    return Field(json_schema_extra={"form": noun, "hint": hint}, **field)


Name = Annotated[str, Field(min_length=1)]
Names = list[Name]
NameOrNames = Name | Names
Label = Annotated[
    str,
    form(
        "a Jira label",
        "Jira labels have no spaces (use - or _) and at most 255 characters",
        pattern=r"^\S{1,255}$",
        description="A Jira label (no spaces).",
    ),
]
Level = Annotated[str, Field(min_length=1, description="A priority level of priorities.yaml.")]
_ABOVE_0 = r"0\.\d*[1-9]\d*"  # 0.5 and the like: above 0, below 1


_SHARE_HINT = 'write a share of the target with a percent sign, e.g. "75%"'


def _share(at_most: int, whole: str) -> str:
    """The pattern of a percentage above 0% and at most ``at_most``% (``whole``: the whole
    numbers from 1 to ``at_most``)."""
    return rf"^\s*({at_most}(\.0+)?|{whole}(\.\d+)?|{_ABOVE_0})\s*%\s*$"


#: The share of the target after which a case is at risk: at most all of it.
Share = Annotated[
    str,
    form(
        "a percentage above 0% and at most 100%",
        _SHARE_HINT,
        pattern=_share(100, r"[1-9]\d?"),
        description='A share of the target, e.g. "75%".',
    ),
]
#: The share of the target an escalation step fires at: up to ten times the target.
LadderShare = Annotated[
    str,
    form(
        "a percentage above 0% and at most 1000%",
        _SHARE_HINT,
        pattern=_share(1000, r"[1-9]\d{0,2}"),
        description='A share of the target, e.g. "150%".',
    ),
]


Duration = Annotated[
    str,
    form(
        "a business duration",
        'write business time such as "4h", "90m" or "1h30m" - days are ambiguous in '
        "business time: use hours, e.g. 16h",
        pattern=r"^(\d+h)?(\d+m)?(\d+s)?$",
        min_length=2,
        description='Business time such as "4h", "90m" or "1h30m".',
    ),
]
Target = Duration | Literal["next_business_day"]
Date = Annotated[
    str,
    form(
        "a date",
        "write dates as YYYY-MM-DD",
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="YYYY-MM-DD.",
    ),
]
_HOUR = r"([01]?\d|2[0-3]):[0-5]\d"  # a time of day, 00:00 to 23:59
Opening = Annotated[
    str,
    form(
        "an opening time",
        'write "HH:MM-HH:MM" in quotes, e.g. "09:00-17:00"',
        pattern=rf"^\s*{_HOUR}\s*-\s*({_HOUR}|24:00)\s*$",
        description='"HH:MM-HH:MM", e.g. "09:00-17:00".',
    ),
]
Email = Annotated[
    str,
    form(
        "an e-mail address",
        "contacts are the reporters' e-mail addresses",
        pattern=r"^\s*[^@\s]+@[^@\s]+\s*$",
    ),
]
Person = Annotated[
    str,
    form(
        "an e-mail address or account id",
        "write the person's e-mail address or Jira account id (no spaces)",
        pattern=r"^\s*\S+\s*$",
    ),
]
_DAY = "(mon|tue|wed|thu|fri|sat|sun)"
_DAYS = rf"{_DAY}(\s*-\s*{_DAY})?"
DaySpec = Annotated[str, Field(pattern=rf"^\s*{_DAYS}(\s*,\s*{_DAYS})*\s*$")]
#: How a day key of ``hours`` is written (JSON Schema has no place for a key's own hint).
DAY_FORM = (
    "a day, a day range or a list of days",
    "days are mon tue wed thu fri sat sun; ranges like mon-fri, lists like mon,wed",
)


def doc(
    shown: str, meaning: str, *, each: str = "", schema: dict[str, Any] | None = None, **field: Any
) -> Any:
    """A field with its type as the reference shows it and its meaning (``each``: how the
    reference names a key of a mapping field, e.g. ``<key>``; ``schema``: more JSON Schema)."""
    extra: dict[str, Any] = {"shown": shown, **(schema or {})}
    if each:
        extra["each"] = each
    return Field(description=meaning, json_schema_extra=extra, **field)


def _keys_together(schema: dict[str, Any], model: type[Any]) -> None:
    """The JSON Schema of a model's :attr:`Shape.one_of` and :attr:`Shape.needs`."""
    rules = []
    for when, keys, _ in model.one_of:
        one = {"oneOf": [{"required": [key]} for key in keys]}
        rules.append({"if": {"required": [when]}, "then": one} if when else one)
    if rules:
        schema["allOf"] = rules
    if model.needs:
        schema["dependentRequired"] = {key: [needed] for key, needed in model.needs}


class Shape(BaseModel):
    """A mapping of a rule file: no keys but its fields; keys that go together (below)."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_keys_together)
    #: (key, keys, hint): when ``key`` is given (always, when it is ""), exactly one of
    #: ``keys`` must be given too
    one_of: ClassVar[tuple[tuple[str, tuple[str, ...], str | None], ...]] = ()
    #: (key, needed): ``key`` may only be given with ``needed``
    needs: ClassVar[tuple[tuple[str, str], ...]] = ()

    @model_validator(mode="after")
    def _together(self) -> Shape:
        fields = type(self).model_fields
        given = [fields[n].alias or n for n in fields if n in self.model_fields_set]
        for when, keys, hint in self.one_of:
            chosen = [key for key in given if key in keys]
            if (not when or when in given) and len(chosen) != 1:
                ctx = {"when": when, "keys": keys, "given": chosen, "hint": hint}
                raise PydanticCustomError("one_of", "give exactly one of {keys}", ctx)
        for key, needed in self.needs:
            if key in given and needed not in given:
                ctx = {"key": key, "needed": needed}
                raise PydanticCustomError("needs", "{key} needs {needed}", ctx)
        return self


class Comment(Shape):
    """A comment template (see "comment" above)."""

    visibility: Literal["public", "internal"] = doc(
        "`public` or `internal`, required", "public comments reach the customer"
    )
    text: Annotated[
        str,
        form(
            "a template naming its case",
            "put {key} in the text: every comment says which case it is about",
            pattern=r"\{key\}",
        ),
    ] = doc(
        "template, required",
        "must contain {key}; placeholders: {key} {priority} {priority_name} {due} {tier} "
        "{organization} {reporter} {request_type} {quota_used} {quota_limit} {missing} "
        "{customers} {escalation_owner}; in `usage_limit_comment` also {why}; in priority "
        "change comments also "
        "{previous_priority} and {rule}",
    )


class Flag(Shape):
    """What the bridge does while a condition holds."""

    label: Label | None = doc(
        "label", "added while the condition holds, removed after", default=None
    )
    comment: Comment | None = doc("comment", "posted once", default=None)
    transition: str | None = doc("transition name", "a workflow transition's name", default=None)


# ------------------------------------------------------------------------- tiers.yaml


class Tier(Shape):
    contacts: Annotated[int, Field(ge=1)] = doc(
        "integer ≥ 1, required", "authorised contacts the tier includes"
    )
    cases_per_month: Annotated[int, Field(ge=0)] = doc(
        "integer ≥ 0, required", "cases included per calendar month"
    )
    entitlements: Names | None = doc(
        "list of names",
        "what the tier includes (free names; those in `entitlement_request_types` gate "
        "request types; `named_engineer` allows a customer's `named_engineer`)",
        default=None,
    )
    name: Name | None = doc(
        "text",
        "display name, matched case-insensitively to the `Support tier` field's options "
        "(default: the key capitalised, `premium` → `Premium`)",
        default=None,
    )
    contacts_negotiable: bool | None = doc(
        "boolean",
        "customers of this tier may set `contacts_allowed` (default: `true` for the tier "
        'keyed `enterprise` — "2 or more" — and `false` otherwise)',
        default=None,
    )


class OverQuota(Flag):
    """What the bridge does with a case past the month's quota, and when it is no longer."""

    cleared_comment: Comment | None = doc(
        "comment",
        "posted once when an open case the bridge flagged over quota (it carries `label`) "
        "is within the quota again, say because an older case of the month was resolved "
        "as not counted: the correction of `comment` (default: a built-in text, with "
        "`comment`'s visibility, when there is a `comment`; `null`: none)",
        default=None,
    )


class Quota(Shape):
    not_counted_resolutions: NameOrNames | None = doc(
        "list of resolution names", "cases resolved so do not use up the quota", default=None
    )
    not_counted_flags: QuotaFlag | list[QuotaFlag] | None = doc(
        "list of `unauthorised_contact`, `not_entitled`",
        "cases so flagged do not use up the quota: an authorised contact's case is never "
        '"case 5 of 4" because of an unauthorised or refused request (default: both; '
        "`[]`: every case counts)",
        default=None,
    )
    over_quota: OverQuota | None = doc(
        "flag",
        "for cases past `cases_per_month` (default: label `over-quota`); a `transition` "
        "such as `Needs approval` holds them",
        default=None,
    )


Channel = Literal["portal", "email", "api", "jira", "anonymousportal"]


class ChannelReminder(Shape):
    tiers: Name | Names = doc(
        "list of tier keys, required",
        "the tiers whose customers contact us via the support portal",
    )
    channels: Channel | list[Channel] = doc(
        "list of channels, required",
        "request channels, as JSM records them (JQL `request-channel-type`: `portal`, "
        "`email`, `api`, `jira`, `anonymousportal`), whose cases get the reminder",
    )
    label: Label | None = doc(
        "label",
        "on such a case while open, answered or not: it marks how the case was raised (the "
        "bridge owns it: removed from any other)",
        default=None,
    )
    comment: Comment | None = doc(
        "comment",
        "posted once on such a case that has no first response yet: a case an engineer "
        "already answered (an old case when the bridge starts) gets none, and `explain` "
        "says so",
        default=None,
    )


class UsageLimit(Shape):
    per_contract_year: Annotated[int, Field(ge=1)] = doc(
        "integer ≥ 1, required",
        "how many requests needing the entitlement a customer's contract year includes "
        "(from its `contract_start`)",
    )
    per_product: bool | None = doc(
        "boolean",
        "counted per product bought (the case's `product` field): a product the customer "
        "did not buy (`products` in customers.yaml) is not entitled (default `false`)",
        default=None,
    )


class TiersFile(Shape):
    """rules/tiers.yaml"""

    tiers: Annotated[dict[str, Tier], Field(min_length=1)] = doc(
        "mapping, required", "tier key (`standard`) → tier", each="<key>"
    )
    entitlement_request_types: dict[str, NameOrNames] | None = doc(
        "mapping",
        "entitlement → request type names (as in the service desk) that need it; each "
        "entitlement must be in some tier, each request type under one entitlement",
        default=None,
    )
    not_entitled: Flag | None = doc(
        "flag",
        "for a request the tier does not include (default: label `not-entitled`)",
        default=None,
    )
    quota: Quota | None = doc("mapping", "the monthly case quota", default=None)
    usage_limits: dict[str, UsageLimit] | None = doc(
        "mapping",
        "entitlement → its usage limit: a request past it (the customer's older requests "
        "of the contract year used it) is flagged like any not-entitled request",
        each="<entitlement>",
        default=None,
    )
    usage_limit_comment: Comment | None = doc(
        "comment",
        "posted instead of `not_entitled`'s for a request a usage limit refuses; `{why}` "
        "says why in sentences, the last without its full stop (a product not bought and "
        "that the account manager can arrange one, or the earlier cases that used the "
        "contract year's and that they can arrange another; default: a built-in text)",
        default=None,
    )
    channel_reminder: ChannelReminder | None = doc(
        "mapping",
        "a reminder (label, comment) for a case of the listed tiers raised through the "
        "listed channels, e.g. Standard and Premium by e-mail or API (default: none; one "
        "search per cycle per channel for the cases read, once per case)",
        default=None,
    )


# --------------------------------------------------------------------- customers.yaml


class Customer(Shape):
    tier: Name = doc("tier key, required", "a key of `tiers`")
    calendar: Name | None = doc(
        "calendar name", "a calendar of `sla.yaml` (default: `default_calendar`)", default=None
    )
    contacts: Annotated[list[Email], Field(min_length=1)] = doc(
        "list of e-mail addresses, required",
        "the authorised contacts (case does not matter); at most the tier's `contacts`, "
        "or `contacts_allowed`",
    )
    contacts_allowed: Annotated[int, Field(ge=1)] | None = doc(
        "integer",
        "the contract's own number of contacts; only on tiers with `contacts_negotiable` "
        "(enterprise), and not below the tier's number",
        default=None,
    )
    named_engineer: Person | None = doc(
        "e-mail or account id",
        "unassigned cases are assigned to this engineer; the tier must include `named_engineer`",
        default=None,
    )
    products: Names | None = doc(
        "list of product names",
        "the products the customer bought, as the case's `product` field names them "
        "(usage limits `per_product`: one webinar for every product you buy)",
        default=None,
    )
    contract_start: Date | None = doc(
        "date",
        "when the contract began, `YYYY-MM-DD`: its contract years (for usage limits) start "
        "on that day each year (default: 1 January)",
        default=None,
    )


class UnknownCustomer(Flag):
    """What the bridge does with a case of no known customer."""

    no_organization_comment: Comment | None = doc(
        "comment",
        "instead of `comment` for a case naming no organisation whose reporter is on no "
        "customer's contact list and in no customer's JSM organisation (default: a "
        "built-in text naming the reporter, with `comment`'s visibility; `null`: none)",
        default=None,
    )
    several_customers_comment: Comment | None = doc(
        "comment",
        "instead of `comment` for a case naming no organisation whose reporter matches "
        "several customers: the bridge does not guess; `{customers}` names them (default: "
        "a built-in text, with `comment`'s visibility; `null`: none)",
        default=None,
    )


class CustomersFile(Shape):
    """rules/customers.yaml"""

    customers: dict[str, Customer] = doc(
        "mapping, required",
        "JSM organisation name (as in Jira; matched case-insensitively) → customer",
        each="<org>",
    )
    unauthorised_contact: Flag | None = doc(
        "flag",
        "for a reporter not on the list (default: label `unauthorised-contact`)",
        default=None,
    )
    unknown_customer: UnknownCustomer | None = doc(
        "flag",
        "for an organisation not listed (default: label `unknown-customer`); such cases "
        "get no contact check, no quota and SLA state `none`. A case naming no "
        "organisation belongs to the customer whose `contacts` list, or JSM organisation, "
        "holds its reporter; it is unknown only when the reporter matches no customer, or "
        "several",
        default=None,
    )


# -------------------------------------------------------------------- priorities.yaml


class Priority(Shape):
    jira: Name = doc(
        "Jira priority name, required", "the level's priority in Jira (the name the bridge writes)"
    )
    also: NameOrNames | None = doc(
        "list of Jira priority names",
        "other Jira priorities that mean this level (`Trivial`, Cloud's `Lowest`); read, never "
        "written, so an engineer's `Trivial` stays `Trivial` and counts as P4",
        default=None,
    )


class ChangeComments(Shape):
    """The public comment on each priority change the bridge makes (`null` turns one off)."""

    rule: Comment | None = doc(
        "comment",
        "a rule changed the priority and has no `comment` of its own (default: names the rule)",
        default=None,
    )
    restored: Comment | None = doc(
        "comment",
        "the requested priority comes back because the reason for the bridge's earlier change "
        "no longer holds (e.g. the environment was filled in)",
        default=None,
    )
    engineer: Comment | None = doc(
        "comment",
        "a customer's change to a priority an engineer set is put back",
        default=None,
    )


class Condition(Shape):
    """A rule's `when:`; every key present must hold (`{}` means always)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    one_of = (
        (
            "field",
            ("in", "not_in", "equals", "missing"),
            "a field is tested by one of them; split the rule in two if you need two",
        ),
    )
    needs = tuple((test, "field") for test in ("in", "not_in", "equals", "missing"))

    field: Name | None = doc(
        "logical field name",
        "a key of `fields:` in `config/bridge.yaml`, tested by one of `in`, `not_in`, "
        "`equals`, `missing` (alone: the field has a value)",
        default=None,
    )
    in_: NameOrNames | None = doc(
        "list", "the field's value is one of these", default=None, alias="in"
    )
    not_in: NameOrNames | None = doc(
        "list",
        "the field's value is none of these; an **empty field matches** (an undeclared "
        "environment is not Production)",
        default=None,
    )
    equals: str | None = doc("text", "the field's value is exactly this", default=None)
    missing: bool | None = doc("boolean", "the field is empty (`true`) or filled", default=None)
    request_type: NameOrNames | None = doc(
        "list", "the JSM request type is one of these", default=None
    )
    labels_any: NameOrNames | None = doc("list", "the issue has any of these labels", default=None)
    components_any: NameOrNames | None = doc(
        "list", "the issue has any of these components", default=None
    )
    priority: Level | list[Level] | None = doc(
        "level or list", "the priority left by the rules before is one of these", default=None
    )
    summary_matches: str | None = doc(
        "regular expression",
        "the summary matches it (case-insensitive search); write it in single quotes "
        "(`'\\binstall'`): in double quotes YAML reads `\\b` as a backspace",
        default=None,
    )


class Rule(Shape):
    one_of = (
        (
            "",
            ("set", "cap"),
            "give it `set: P4` or `cap: P3`; its comment is posted when it changes the priority",
        ),
    )

    name: Name = doc(
        "text, required, unique", "shown by `explain` and part of the comment's action id"
    )
    when: Condition = doc("condition, required", "every key present must hold (`{}` means always)")
    set: Level | None = doc("level", "set the priority to this level (or `cap`)", default=None)
    cap: Level | None = doc(
        "level", "lower the priority to at most this level (never raises it)", default=None
    )
    comment: Comment | None = doc(
        "comment",
        "posted with each priority change the rule makes (default: `change_comments: rule`)",
        default=None,
    )


class PrioritiesFile(Shape):
    """rules/priorities.yaml"""

    priorities: Annotated[dict[str, Priority], Field(min_length=1)] = doc(
        "ordered mapping, required",
        "level → `{jira: <Jira priority name>}`, highest first; each Jira name once",
        each="<level>",
    )
    respect_engineer_changes: bool | None = doc(
        "boolean",
        "`true` (default): once an engineer sets the priority it stands until an engineer "
        "changes it: the rules do not run, and a customer's later change is put back with a "
        "public comment. `false`: an engineer's change is a request like a customer's; the "
        "rules run from it",
        default=None,
    )
    change_comments: ChangeComments | None = doc(
        "mapping",
        "every priority change the bridge makes is explained in one public comment: a "
        "rule's own `comment`, else these (`rule`, `restored`, `engineer`)",
        default=None,
    )
    rules: list[Rule] | None = doc(
        "list",
        "priority rules, applied in order; each sees the priority the rules before it left",
        default=None,
    )


# --------------------------------------------------------------------------- sla.yaml


class Holidays(Shape):
    needs = (("subdivision", "country"),)

    country: str | None = doc(
        "ISO code",
        "public holidays from the `holidays` package (`AU`, `US`, `GB`, …)",
        default=None,
    )
    subdivision: str | None = doc(
        "code", "state/province (`QLD`, `NY`); needs `country`", default=None
    )
    extra: list[Date] | None = doc(
        "list of dates", "extra closed dates, `YYYY-MM-DD`", default=None
    )
    remove: list[Date] | None = doc(
        "list of dates",
        "public holidays the office works, each on a day the calendar opens (for one "
        "on a weekend, its observed day)",
        default=None,
    )
    leave_out: NameOrNames | None = doc(
        "list of holiday names",
        "public holidays the office works every year, by the `holidays` package's name "
        '(`"Columbus Day"`; its observed day too); `check` lists the names on a typo',
        default=None,
    )


Hours = Opening | list[Opening] | Literal["closed"] | None


class Calendar(Shape):
    timezone: Name = doc(
        "IANA zone, required",
        "a place, e.g. `Australia/Brisbane`, `Europe/London` (DST handled); fixed-offset "
        "abbreviations such as `EST` or `GMT` are refused (no daylight saving), `UTC` is not",
    )
    hours: Annotated[dict[DaySpec, Hours], Field(min_length=1)] = doc(
        "mapping, required",
        "days → opening times. Days: `mon` … `sun`, ranges `mon-fri`, lists `mon,wed`. "
        'Times: `"09:00-17:00"`, a list `["08:00-12:00", "13:00-17:00"]`, `"22:00-24:00"` '
        "to midnight, or `closed` / `[]`. A later entry overrides an earlier one for the "
        'same day (`{mon-fri: "09:00-17:00", fri: "09:00-15:00"}`). Quote times.',
        schema={"additionalProperties": False},  # day names only
    )
    holidays: Holidays | None = doc("mapping", "closed dates", default=None)
    escalation_owner: Person | None = doc(
        "e-mail or account id",
        "the regional lead for this calendar's customers, every tier: a ladder step "
        "`assign: escalation_owner` assigns them, `{escalation_owner}` in a comment mentions "
        "them (Jira notifies them)",
        default=None,
    )


class Response(Shape):
    targets: dict[str, Target] = doc(
        "mapping, required",
        "level → duration or `next_business_day`; every level of `priorities` needs one",
    )
    responded_statuses: NameOrNames | None = doc(
        "list of statuses",
        "an agent moving the case into one counts as the first response (a customer's "
        "portal transition does not)",
        default=None,
    )
    pause_statuses: NameOrNames | None = doc(
        "list of statuses",
        "stop the clock only after an agent's public reply (itself the first response), so "
        "an unanswered case parked in one keeps its clock running; not also a responded status",
        default=None,
    )
    approval_statuses: NameOrNames | None = doc(
        "list of statuses",
        "a case held in one for quota approval (e.g. `Pending approval`, where the "
        "`over_quota` transition leads) has its clock paused until it leaves; no ladder "
        "meanwhile; the report counts held cases apart from compliance; a customer's portal "
        "move into one is no hold; required when `quota.over_quota` has a `transition`",
        default=None,
    )
    at_risk_at: Share | None = doc(
        "percentage",
        "share of the target after which a running case is `at_risk` (default `75%`)",
        default=None,
    )


class CommentAction(Shape):
    comment: Comment = doc("comment", "post this comment")


class LabelAction(Shape):
    label: Label = doc("label", "add this label")


class AssignAction(Shape):
    assign: Person = doc(
        "`named_engineer`, `escalation_owner` or an e-mail/account id",
        "assign the case if nobody owns it and no person has ever assigned it "
        "(`escalation_owner`: the regional lead of the customer's calendar)",
    )


class TransitionAction(Shape):
    transition: Name = doc("transition name", "move the case through this transition")


Action = CommentAction | LabelAction | AssignAction | TransitionAction


class Step(Shape):
    at: LadderShare = doc(
        "percentage, required",
        "share of the target (above 0%, at most 1000%); ascending among steps that apply "
        "to the same priorities",
    )
    priorities: Level | list[Level] | None = doc(
        "level or list", "only for these levels (default: all)", default=None
    )
    actions: Annotated[list[Action], Field(min_length=1)] = doc(
        "list, required",
        "one action per item: `comment: <comment>`, `label: <label>`, `assign: "
        "named_engineer` (or `escalation_owner`, an e-mail/account id), `transition: <name>`",
    )


class RequiredItem(Shape):
    """A required item with checks on its answer (in `required_information: fields`)."""

    one_of = (
        (
            "",
            ("field", "any_of"),
            "field: product, or any_of: [contact_phone, contact_skype] when any one answers it",
        ),
    )

    field: Name | None = doc(
        "logical field name", "the field that answers the item (or `any_of`)", default=None
    )
    any_of: NameOrNames | None = doc(
        "list of logical field names",
        "any one of these answers the item (`[contact_phone, contact_skype]`: a Skype name "
        "is as good as a phone number)",
        default=None,
    )
    pattern: str | None = doc(
        "regular expression",
        "the answer must match it (case-insensitive search), e.g. `\\d` for a version",
        default=None,
    )
    min_length: Annotated[int, Field(ge=0)] | None = doc(
        "integer ≥ 0", "the answer has at least this many characters", default=None
    )
    accept: NameOrNames | None = doc(
        "list",
        "answers that count whatever the other checks and `placeholders` say "
        '("Impact (if any)": `none`)',
        default=None,
    )


class RequiredInformation(Shape):
    fields: Name | list[Name | RequiredItem] | None = doc(
        "list of items",
        "what every case needs: a logical field name (keys of `fields:` in the config), or "
        "`{field: …}` / `{any_of: […]}` with `pattern`, `min_length`, `accept`",
        default=None,
    )
    placeholders: NameOrNames | None = doc(
        "list",
        "answers that say nothing and count as missing (`n/a`, `?`, `asdf`, `Version`…; "
        "compared without case, spaces and punctuation around them; an answer repeating "
        "the field's own name is one too). Typed answers only: the value of a field that is a "
        "select list on the site (single, multiple or cascading select, as Jira describes "
        "the field) is an option the customer picked and always an answer, even one listed "
        "here. Default: the list shipped in `rules/sla.yaml` (without `test`: Test is an "
        "environment)",
        default=None,
    )
    label: Label | None = doc("label", "on the case while something is missing", default=None)
    comment: Comment | None = doc(
        "comment",
        "posted once; `{missing}` lists the missing fields by their Jira names",
        default=None,
    )


class SlaFile(Shape):
    """rules/sla.yaml"""

    calendars: Annotated[dict[str, Calendar], Field(min_length=1)] = doc(
        "mapping, required", "calendar name → calendar", each="<name>"
    )
    default_calendar: Name | None = doc(
        "calendar name",
        "for customers without `calendar` (required when there is more than one calendar)",
        default=None,
    )
    response: Response = doc("mapping, required", "the response targets and the clock")
    escalation: list[Step] | None = doc(
        "list of steps",
        "the ladder; each step fires once per case while the clock runs (pauses between "
        "do not repeat it); a step at 100% or more strictly after its moment",
        default=None,
    )
    required_information: RequiredInformation | None = doc(
        "mapping", "what every case must supply", default=None
    )


#: The four rule files by name (``tiers`` is ``rules/tiers.yaml``), in reading order.
FILES: dict[str, type[Shape]] = {
    "tiers": TiersFile,
    "customers": CustomersFile,
    "priorities": PrioritiesFile,
    "sla": SlaFile,
}
