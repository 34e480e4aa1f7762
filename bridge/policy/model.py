"""The policy core's vocabulary: frozen, I/O-free data shared by every layer.

Three families live here:

* the **rule set** (what `rules/*.yaml` say, validated and typed),
* the **snapshot** of one case as read from Jira (plain values, no JSON),
* the **desired** state the policy computes for that case.

Nothing here reads a clock, a file or the network.  ``now`` is always passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar, get_args

if TYPE_CHECKING:  # pragma: no cover - import only for type checkers
    from bridge.policy.clock import BusinessCalendar

Visibility = Literal["public", "internal"]
#: Logical priority levels, highest first.  Jira names come from `priorities.yaml`.
PriorityLevel = str  # "P1" .. "P4"


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class CommentTemplate:
    visibility: Visibility
    text: str  # uses {placeholders}; always contains {key}


@dataclass(frozen=True)
class FlagPolicy:
    """What to do when a condition holds: a label the bridge owns, a comment, maybe a transition."""

    label: str | None = None
    comment: CommentTemplate | None = None
    transition: str | None = None


@dataclass(frozen=True)
class UnknownCustomerPolicy(FlagPolicy):
    """``unknown_customer``: the flag, and the comments for a case that names no
    organisation (its reporter matches no customer, or several)."""

    no_organization_comment: CommentTemplate | None = None
    several_customers_comment: CommentTemplate | None = None

    @classmethod
    def of(cls, flag: FlagPolicy) -> UnknownCustomerPolicy:
        """``flag`` as given, or with the built-in comments for a case naming no
        organisation (with the organisation comment's visibility) when it is a plain flag."""
        if isinstance(flag, UnknownCustomerPolicy):
            return flag
        visible = flag.comment.visibility if flag.comment is not None else None
        return cls(
            flag.label,
            flag.comment,
            flag.transition,
            CommentTemplate(visible, NO_ORGANIZATION_TEXT) if visible else None,
            CommentTemplate(visible, SEVERAL_CUSTOMERS_TEXT) if visible else None,
        )


#: The comments for a case naming no organisation when the rules give only ``comment``
#: (the organisation's comment would read "SUP-12:  has no support agreement on file.").
NO_ORGANIZATION_TEXT = (
    "{key}: the case names no organisation, and {reporter} is not a contact or a member of "
    "any customer on file."
)
SEVERAL_CUSTOMERS_TEXT = (
    "{key}: the case names no organisation, and {reporter} is a contact or a member of "
    "several customers ({customers}): set the case's organisation."
)


@dataclass(frozen=True)
class OverQuotaPolicy(FlagPolicy):
    """``quota.over_quota``: the flag, and the correction posted when a case the bridge
    flagged over quota is within the quota again."""

    cleared_comment: CommentTemplate | None = None

    @classmethod
    def of(cls, flag: FlagPolicy) -> OverQuotaPolicy:
        """``flag`` as given, or with the built-in correction (with the over-quota comment's
        visibility) when it is a plain flag: nothing to correct when it has no comment."""
        if isinstance(flag, OverQuotaPolicy):
            return flag
        said = flag.comment
        cleared = CommentTemplate(said.visibility, OVER_QUOTA_CLEARED_TEXT) if said else None
        return cls(flag.label, flag.comment, flag.transition, cleared)


#: The correction of the over-quota comment when the rules give none of their own.
OVER_QUOTA_CLEARED_TEXT = (
    "Case {key} is within the {quota_limit} cases included this month for {organization} "
    "after all: it is now case {quota_used} of {quota_limit}."
)


@dataclass(frozen=True)
class Tier:
    key: str  # "standard"
    name: str  # "Standard" (display; matched case-insensitively to the Support tier field)
    contacts: int
    cases_per_month: int
    entitlements: frozenset[str]


@dataclass(frozen=True)
class Customer:
    organization: str  # the JSM organisation name, as in Jira
    tier: str  # key into RuleSet.tiers
    calendar: str  # key into RuleSet.calendars
    contacts: tuple[str, ...]  # lower-cased e-mail addresses
    contacts_allowed: int | None = None  # overrides the tier's number (enterprise)
    named_engineer: str | None = None  # e-mail or account id of the engineer
    products: tuple[str, ...] = ()  # the products bought (one webinar each a contract year)
    contract_start: date | None = None  # the contract years start on its day (None: 1 Jan)


@dataclass(frozen=True)
class UsageLimit:
    """An entitlement used at most ``times`` per contract year (per product bought)."""

    times: int
    per_product: bool = False  # counted per product; a product not bought is not entitled


@dataclass(frozen=True)
class ChannelReminder:
    """ "Standard and Premium customers contact us via our support portal": a case of
    those tiers raised through another channel gets a reminder (a label, a comment)."""

    tiers: frozenset[str]  # tier keys
    channels: frozenset[str]  # request channels that get the reminder ("email", "api")
    label: str | None = None
    comment: CommentTemplate | None = None


#: The flags that may keep a case out of the quota (``quota.not_counted_flags``; the
#: rule files' model takes its allowed values from here).
QuotaFlag = Literal["unauthorised_contact", "not_entitled"]
QUOTA_FLAGS: tuple[str, ...] = get_args(QuotaFlag)


@dataclass(frozen=True)
class QuotaPolicy:
    not_counted_resolutions: frozenset[str]
    over_quota: FlagPolicy
    #: cases flagged so do not use up the quota (an authorised contact's case is never
    #: "case 5 of 4" because of someone else's refused or unauthorised request)
    not_counted_flags: frozenset[str] = frozenset(QUOTA_FLAGS)


@dataclass(frozen=True)
class Condition:
    """A rule's `when:` block.  Every present key must hold (logical AND)."""

    field: str | None = None  # logical field name from config `fields:` (e.g. "environment")
    in_: tuple[str, ...] | None = None
    not_in: tuple[str, ...] | None = None  # an empty field matches not_in
    equals: str | None = None
    missing: bool | None = None
    request_type: tuple[str, ...] | None = None
    labels_any: tuple[str, ...] | None = None
    components_any: tuple[str, ...] | None = None
    priority: tuple[PriorityLevel, ...] | None = None  # priority left by the rules before
    summary_matches: str | None = None  # regex, searched case-insensitively


@dataclass(frozen=True)
class PriorityRule:
    name: str
    when: Condition
    set: PriorityLevel | None = None
    cap: PriorityLevel | None = None  # lower to at most this level
    comment: CommentTemplate | None = None


#: The public comment on each priority change the bridge makes, when the rules do not
#: give one (``change_comments:`` in priorities.yaml overrides each).
DEFAULT_RULE_CHANGE = CommentTemplate(
    "public",
    "{key}: we changed the priority from {previous_priority} to {priority} "
    "({priority_name}) under our support terms: {rule}.",
)
DEFAULT_RESTORED = CommentTemplate(
    "public",
    "{key}: the priority is back to {priority} ({priority_name}), as requested: "
    "the reason we changed it no longer applies.",
)
DEFAULT_ENGINEER_KEPT = CommentTemplate(
    "public",
    "{key}: our engineer set the priority to {priority} ({priority_name}); it stays so "
    "until an engineer changes it. Please reply here if the impact has changed.",
)


@dataclass(frozen=True)
class ChangeComments:
    """The public comment each kind of priority change gets (None: no comment)."""

    rule: CommentTemplate | None = DEFAULT_RULE_CHANGE  # a rule without its own comment
    restored: CommentTemplate | None = DEFAULT_RESTORED  # the requested priority comes back
    engineer: CommentTemplate | None = DEFAULT_ENGINEER_KEPT  # a customer's change put back


@dataclass(frozen=True)
class PriorityPolicy:
    levels: tuple[PriorityLevel, ...]  # highest first: ("P1", "P2", "P3", "P4")
    jira_names: Mapping[PriorityLevel, str]  # "P1" -> "Blocker" (the name the bridge writes)
    respect_engineer_changes: bool
    rules: tuple[PriorityRule, ...]
    #: other Jira priorities that mean a level ("P4" -> ("Trivial", "Low")); never written
    also: Mapping[PriorityLevel, tuple[str, ...]] = field(default_factory=dict)
    change_comments: ChangeComments = ChangeComments()

    def level_of(self, jira_name: str | None) -> PriorityLevel | None:
        """The logical level of a Jira priority name (case-insensitive), or None."""
        if jira_name is None:
            return None
        wanted = jira_name.casefold()
        for level, name in self.jira_names.items():
            if name.casefold() == wanted:
                return level
        for level, names in self.also.items():
            if any(name.casefold() == wanted for name in names):
                return level
        return None


class Target(NamedTuple):
    """A response target: a fixed business duration, or the next business day's close.

    (A NamedTuple: with the case's creation it keys the calendar's memo of due times,
    looked up by every case each cycle, and a tuple hashes in C.)"""

    kind: Literal["duration", "next_business_day"]
    duration: timedelta | None = None  # only for kind == "duration"


@dataclass(frozen=True)
class ResponsePolicy:
    targets: Mapping[PriorityLevel, Target]
    responded_statuses: frozenset[str]
    pause_statuses: frozenset[str]
    at_risk_at: float  # share of the target, 0.75 for "75%"
    #: statuses a case is held in for quota approval: the clock stops while it sits there
    approval_statuses: frozenset[str] = frozenset()

    @cached_property
    def paused_names(self) -> frozenset[str]:
        """The pause statuses stripped and case-folded (worked out once)."""
        return frozenset(n.strip().casefold() for n in self.pause_statuses)

    @cached_property
    def approval_names(self) -> frozenset[str]:
        """The approval statuses stripped and case-folded (worked out once)."""
        return frozenset(n.strip().casefold() for n in self.approval_statuses)

    @cached_property
    def responded_names(self) -> frozenset[str]:
        """The responded statuses stripped and case-folded (worked out once)."""
        return frozenset(n.strip().casefold() for n in self.responded_statuses)

    @cached_property
    def clock_names(self) -> frozenset[str]:
        """Every status that answers, pauses or holds a case, stripped and case-folded:
        a status outside them leaves the clock running (worked out once)."""
        return self.paused_names | self.responded_names | self.approval_names


EscalationKind = Literal["comment", "label", "assign", "transition"]


@dataclass(frozen=True)
class EscalationAction:
    kind: EscalationKind
    label: str | None = None  # kind == "label"
    #: kind == "assign": "named_engineer", "escalation_owner" or an e-mail/account id
    assign: str | None = None
    transition: str | None = None  # kind == "transition": the transition's name
    comment: CommentTemplate | None = None  # kind == "comment"


@dataclass(frozen=True)
class EscalationStep:
    index: int  # position in the ladder (0-based), part of action ids
    at: float  # share of the target, 0.5 for "50%"
    priorities: frozenset[PriorityLevel] | None  # None = every priority
    actions: tuple[EscalationAction, ...]


#: Answers that say nothing: a required item answered so counts as missing (compared
#: case-insensitively, ignoring surrounding spaces and punctuation).  The shipped
#: sla.yaml lists them under ``required_information: placeholders`` for editing.  No
#: real answer belongs here ("test" does not: Test is an environment); a select list's
#: chosen option is an answer whatever they say (``EvalContext.select_fields``).
DEFAULT_PLACEHOLDERS: tuple[str, ...] = (
    "n/a", "na", "n.a.", "none", "nil", "null", "no", "-", "?", ".", "x", "xx", "xxx",
    "asdf", "qwerty", "tbd", "tba", "todo", "unknown", "not sure", "dunno",
    "idk", "same", "see above", "see description", "whatever", "version", "latest",
    "product", "impact", "phone", "description",
)  # fmt: skip


@dataclass(frozen=True)
class RequiredItem:
    """One item the support terms ask for; any one of ``fields`` answers it."""

    fields: tuple[str, ...]  # logical field names
    pattern: str | None = None  # the answer must match (case-insensitive search)
    min_length: int = 0  # the answer has at least this many characters
    accept: tuple[str, ...] = ()  # answers that count whatever the checks say ("none")


@dataclass(frozen=True)
class RequiredInformation:
    fields: tuple[str, ...]  # logical field names (every item's, in order)
    label: str | None
    comment: CommentTemplate | None
    items: tuple[RequiredItem, ...] = ()  # empty: one plain item per name in ``fields``
    placeholders: tuple[str, ...] = DEFAULT_PLACEHOLDERS

    @property
    def required(self) -> tuple[RequiredItem, ...]:
        """The items, or one plain item per field when the rules list fields only."""
        return self.items or tuple(RequiredItem((name,)) for name in self.fields)


_Entry = TypeVar("_Entry")


def by_folded_name(entries: Mapping[str, _Entry]) -> dict[str, _Entry]:
    """``entries`` by case-folded name; of names that fold alike, the first listed wins."""
    folded: dict[str, _Entry] = {}
    for name, entry in entries.items():
        folded.setdefault(name.casefold(), entry)
    return folded


def find_named(
    name: str, entries: Mapping[str, _Entry], folded: Mapping[str, _Entry]
) -> _Entry | None:
    """The entry called ``name``: the exact name, then case-insensitively (``folded``:
    :func:`by_folded_name` of ``entries``).  How an organisation names its customer."""
    found = entries.get(name)
    return found if found is not None else folded.get(name.casefold())


@dataclass(frozen=True)
class RuleSet:
    tiers: Mapping[str, Tier]
    entitlement_request_types: Mapping[str, tuple[str, ...]]  # entitlement -> request types
    not_entitled: FlagPolicy
    quota: QuotaPolicy
    customers: Mapping[str, Customer]  # keyed by organisation name
    unauthorised_contact: FlagPolicy
    unknown_customer: FlagPolicy  # an UnknownCustomerPolicy when read from the files
    priorities: PriorityPolicy
    calendars: Mapping[str, BusinessCalendar]
    default_calendar: str
    response: ResponsePolicy
    escalation: tuple[EscalationStep, ...]
    required_information: RequiredInformation
    #: calendar name -> its escalation owner (a regional lead; e-mail or account id)
    escalation_owners: Mapping[str, str] = field(default_factory=dict)
    #: the reminder for a case raised outside the support portal (None: no reminder)
    channel_reminder: ChannelReminder | None = None
    #: entitlement -> its usage limit per contract year
    usage_limits: Mapping[str, UsageLimit] = field(default_factory=dict)
    #: the comment for a request refused by a usage limit or for a product not bought
    usage_comment: CommentTemplate | None = None

    def customer(self, organization: str | None) -> Customer | None:
        """The customer entry for an organisation name (exact, then case-insensitive)."""
        if organization is None:
            return None
        return find_named(organization, self.customers, self._folded_customers)

    @cached_property
    def _folded_customers(self) -> dict[str, Customer]:
        """Built once: every case of an organisation without an entry asks."""
        return by_folded_name(self.customers)


# ------------------------------------------------------------------------ snapshot


class Actor(StrEnum):
    """Who made a change, as far as the policy cares."""

    CUSTOMER = "customer"  # a JSM portal customer (accountType "customer")
    ENGINEER = "engineer"  # an agent who is not the bridge
    BRIDGE = "bridge"  # the bridge's own account
    #: an app's system account (Cloud's accountType "app": Automation for Jira, an
    #: integration): not an agent, so its public comment (an automatic "we have received
    #: your request") is no response and its priority change is no engineer's choice
    APP = "app"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Person:
    account_id: str
    display_name: str
    email: str | None
    actor: Actor  # CUSTOMER for portal customers, ENGINEER for agents, BRIDGE for us

    @property
    def agent(self) -> bool:
        """An engineer, the bridge or an app (an integration): someone raising a case on
        a customer's behalf, whom no contact list restricts and who finds no customer
        for a case."""
        return self.actor is Actor.ENGINEER or self.actor is Actor.BRIDGE or self.actor is Actor.APP

    @property
    def ids(self) -> tuple[str, ...]:
        """The e-mail and the account id (those given), stripped and case-folded: what
        a customer's contact list is matched against."""
        return tuple([given.strip().casefold() for given in (self.email, self.account_id) if given])


@dataclass(frozen=True)
class CaseComment:
    id: str
    author: Person
    created: datetime
    public: bool  # False for JSM internal comments
    action_id: str | None = None  # the bridge's stable action id (comment property), if any
    #: every action id the comment carries: one merged comment stands for several actions
    action_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class StatusChange:
    at: datetime
    from_status: str | None
    to_status: str
    to_category: str  # Jira status category key: "new" | "indeterminate" | "done"
    by: Actor = Actor.UNKNOWN  # who moved the case (a portal transition: CUSTOMER)


@dataclass(frozen=True)
class AssigneeChange:
    """A change of the assignee in the changelog (who changed it, and to whom)."""

    at: datetime
    by: Actor
    to: str | None  # the new assignee's display name, None when unassigned


@dataclass(frozen=True)
class PriorityChange:
    at: datetime
    from_name: str | None  # Jira priority names
    to_name: str
    by: Actor


@dataclass(frozen=True)
class IssueSnapshot:
    """One case as read from Jira, reduced to what the policy needs.

    ``fields`` holds the logical custom fields of config `fields:` (environment,
    staff_available, product, product_version, impact, contact_phone, ...) as
    display text, or None when empty.  Multi-value fields are joined with ", ".
    """

    key: str
    created: datetime
    updated: datetime
    summary: str
    status: str
    status_category: str  # "new" | "indeterminate" | "done"
    reporter: Person | None
    organization: str | None
    priority: str | None  # current Jira priority name
    request_type: str | None
    labels: frozenset[str] = frozenset()
    components: frozenset[str] = frozenset()
    fields: Mapping[str, str | None] = field(default_factory=dict)
    comments: tuple[CaseComment, ...] = ()
    status_history: tuple[StatusChange, ...] = ()  # oldest first
    priority_history: tuple[PriorityChange, ...] = ()  # oldest first
    #: The priority the case was created with (Jira name), and who created it.
    initial_priority: str | None = None
    resolution: str | None = None
    resolved: datetime | None = None
    assignee: str | None = None  # e-mail, or account id when e-mail is hidden
    #: the JSM organisations the reporter is a member of, read only for a case whose
    #: organisation field is empty (its customer is then found from the reporter)
    reporter_organizations: tuple[str, ...] = ()
    assignee_history: tuple[AssigneeChange, ...] = ()  # oldest first
    #: the channel the request was raised through when it is one the rules remind about
    #: (JQL ``request-channel-type``); None: another channel, or not asked
    channel: str | None = None

    @property
    def assigned_by_a_person(self) -> bool:
        """Someone other than the bridge has assigned or unassigned the case (changelog)."""
        return any(change.by is not Actor.BRIDGE for change in self.assignee_history)

    @property
    def priority_set_by(self) -> Actor:
        """Who last set the priority: the last changelog entry, else the reporter."""
        if self.priority_history:
            return self.priority_history[-1].by
        return self.reporter.actor if self.reporter is not None else Actor.UNKNOWN

    @property
    def key_number(self) -> int:
        tail = self.key.rsplit("-", 1)[-1]
        return int(tail) if tail.isdigit() else 0


class Raised(NamedTuple):
    """Who raised a case and what it asks for: what its quota flags are decided on.

    (A NamedTuple, as :class:`MonthCase`: every case of a cycle makes one and compares
    it with its month's listing, and a tuple is made and compared in C.)"""

    #: the reporter's ids (:attr:`Person.ids`: e-mail and account id, case-folded), as
    #: its contact is decided; None: the case has no reporter
    reporter: tuple[str, ...] | None
    agent: bool  # an engineer (or the bridge) raised it on the customer's behalf
    request_type: str | None
    product: str | None = None  # the case's product (webinars are counted per product)


class MonthCase(NamedTuple):
    """A case of an organisation, for quota ranking (any month; the policy filters)."""

    key: str
    created: datetime
    resolution: str | None = None
    #: None when not read (the case then counts whatever its flags would be)
    raised: Raised | None = None

    @property
    def key_number(self) -> int:
        tail = self.key.rsplit("-", 1)[-1]
        return int(tail) if tail.isdigit() else 0


@dataclass(frozen=True)
class EvalContext:
    """What evaluation needs beyond the case itself."""

    #: organisation name -> its cases around the case's month (the case itself included)
    org_cases: Mapping[str, tuple[MonthCase, ...]] = field(default_factory=dict)
    #: the bridge's own account (e-mail or account id) so its comments are not responses
    bridge_account: str | None = None
    #: logical field name -> the field's name on the Jira site (config `fields:`), so
    #: `{missing}` names what the customer sees; a logical name without an entry is used as is
    field_names: Mapping[str, str] = field(default_factory=dict)
    #: the logical fields that are select lists on the site: a chosen option answers a
    #: required item even when ``placeholders`` lists it ("Test" is an environment)
    select_fields: frozenset[str] = frozenset()
    #: a person as the rules name them (case-folded e-mail or account id) -> Jira's
    #: mention markup for them, so a comment naming the escalation owner notifies them
    mentions: Mapping[str, str] = field(default_factory=dict)
    #: False skips building the explanation trail (Desired.explanation is then empty):
    #: the same decisions, cheaper, for a sync cycle that does not show them
    explain: bool = True
    #: labels the rules the cases were last evaluated with owned and these rules do not
    #: (a label renamed): taken off every open case, as the bridge no longer owns them
    retired_labels: frozenset[str] = frozenset()


# ------------------------------------------------------------------------- desired


SlaState = Literal["running", "at_risk", "breached", "met", "missed", "paused", "none"]


_T = TypeVar("_T")


class DesiredComment:
    """A comment the case must carry once: its stable action id, visibility and text.

    ``DesiredComment(action_id, public, body)`` holds the text;
    ``DesiredComment.deferred(action_id, public, make, arg)`` renders it as
    ``make(arg)`` the first time ``body`` is read.  A sync cycle reads the body only
    of the comments it is about to post: the comments of the ladder steps a case
    reached cycles ago are in the ledger and are never rendered again.  Rendering
    is pure (the template and the case's values), so when it happens does not
    change what it gives.  Equality, hashing, ``repr`` and pickling see the body;
    the attributes are read-only.
    """

    __slots__ = ("_action_id", "_arg", "_body", "_change", "_follows", "_make", "_public")

    def __init__(
        self,
        action_id: str,
        public: bool,
        body: str | None,
        make: Callable[[Any], str] | None = None,
        arg: object = None,
        change: int | None = None,
        follows: str | None = None,
    ) -> None:
        self._action_id = action_id
        self._public = public
        self._body = body
        self._make = make
        self._arg = arg
        self._change = change
        self._follows = follows

    @classmethod
    def deferred(
        cls,
        action_id: str,
        public: bool,
        make: Callable[[_T], str],
        arg: _T,
        change: int | None = None,
        follows: str | None = None,
    ) -> DesiredComment:
        return cls(action_id, public, None, make, arg, change, follows)

    @property
    def change(self) -> int | None:
        """For the comment of a priority change: the change's number (the bridge's n-th on
        the case).  Its action id names the rule, which a lead may have renamed since: the
        planner counts it told when the case holds a comment of that number under a name
        the rules in force no longer use (`priority.told_change`), or under any name once
        the change is in Jira (another rule may hold the priority there now)."""
        return self._change

    @property
    def follows(self) -> str | None:
        """The action id of the comment this one corrects (the over-quota comment, for the
        one saying the case is within the quota after all): posted only once that one is
        done, as the ledger or the issue shows; None for a comment standing on its own."""
        return self._follows

    @property
    def action_id(self) -> str:
        """Stable: issue, rule/step, due time; recorded in the ledger."""
        return self._action_id

    @property
    def public(self) -> bool:
        return self._public

    @property
    def body(self) -> str:
        """The rendered text; always names the case key."""
        if self._body is None:
            assert self._make is not None  # set whenever the body is not
            self._body = self._make(self._arg)
            self._make = self._arg = None  # the values it rendered from are not kept alive
        return self._body

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DesiredComment):
            return NotImplemented
        return (
            self.action_id == other.action_id
            and self.public == other.public
            and self.body == other.body
        )

    def __hash__(self) -> int:
        return hash((self.action_id, self.public, self.body))

    def __repr__(self) -> str:
        return (
            f"DesiredComment(action_id={self.action_id!r}, public={self.public!r}, "
            f"body={self.body!r})"
        )

    def __reduce__(
        self,
    ) -> tuple[type[DesiredComment], tuple[str, bool, str, None, None, int | None]]:
        return (DesiredComment, (self.action_id, self.public, self.body, None, None, self.change))


class DesiredTransition(NamedTuple):
    """A transition the case must make once (a NamedTuple, as :class:`QuotaPosition`:
    records every case makes each cycle are made and compared in C)."""

    action_id: str
    name: str  # the transition's name in the workflow (e.g. "Escalate")


class QuotaPosition(NamedTuple):
    """The case's place in its organisation's month, and whether that is over the quota."""

    used: int  # the case's rank in its organisation's month (1-based)
    limit: int
    over: bool
    month: str  # "2026-11", in the customer's calendar zone


@dataclass(frozen=True)
class Explanation:
    """One line of reasoning for `explain`."""

    topic: str  # "tier", "contact", "quota", "entitlement", "priority", "clock", "sla", "escalation", ...
    text: str


@dataclass
class Desired:
    """What the support terms want one case to look like: made once per case and per
    cycle, read by the planner, never changed after.  (Not frozen: a frozen dataclass
    sets each of its fields through ``object.__setattr__``, and at 10,000 cases a
    cycle that was a tenth of the evaluation's CPU.)"""

    key: str
    known_customer: bool
    tier: str | None  # display name ("Premium"), None for unknown customers
    calendar: str | None
    #: target priority as a level, the Jira name to write, or None to leave it alone
    priority: PriorityLevel | None
    priority_jira: str | None
    priority_reason: str
    quota: QuotaPosition | None
    authorised_contact: bool | None
    entitlement_problems: tuple[str, ...]
    missing_information: tuple[str, ...]  # logical field names
    response_due: datetime | None  # None clears the field
    target: timedelta | None  # business duration of the target
    business_used: timedelta | None  # business time used so far (for explain, escalation)
    first_response: datetime | None
    sla_state: SlaState
    escalation_steps: tuple[int, ...]  # indexes of ladder steps reached (clock running only)
    labels_present: frozenset[str]  # labels that must be on the issue
    labels_absent: frozenset[str]  # bridge-owned labels that must not be on the issue
    comments: tuple[DesiredComment, ...]
    assignee: str | None  # set only when the case is unassigned and someone must own it
    transitions: tuple[DesiredTransition, ...]
    explanation: tuple[Explanation, ...]
    #: the next moment something time-driven changes (next ladder step, at-risk, due);
    #: the sync layer re-reads the case then even if Jira says nothing changed
    next_wakeup: datetime | None = None
    #: the level whose response target the SLA uses (set even when `priority` is None,
    #: e.g. for a resolved case whose priority is left alone); None when no target applies
    sla_priority: PriorityLevel | None = None
    #: business time the response clock spent paused (completed pauses before the response)
    paused_business: timedelta | None = None
    #: the case is held for quota approval (in an approval status now, or resolved from
    #: one): its clock is paused and the report counts it apart from compliance
    held: bool = False
    #: the customers.yaml organisation the case counts under: its own organisation, or
    #: the customer found from its reporter when it names none (None: unknown customer)
    customer: str | None = None
    #: the case's own flags that keep it out of the quota (``quota.not_counted_flags``:
    #: ``unauthorised_contact``, ``not_entitled``), in that order
    quota_flags: tuple[str, ...] = ()
