"""The rule set compiled once into a :class:`Policy`: what every case would otherwise repeat.

A :class:`~bridge.policy.model.RuleSet` says what the rule files say; a ``Policy``
holds the same rules ready to apply: customers by name and by folded name with
their tier, calendar and folded contacts, the entitlements each request type
needs, the priority pipeline with its conditions compiled, each level's
escalation ladder, and every comment template parsed.  It is built once per rule
set and never changes; everything per cycle lives in
:class:`~bridge.policy.cycle.Cycle`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Literal, NamedTuple

from bridge.policy.escalation import Rung, ladder_for, ladder_table
from bridge.policy.information import InformationCheck
from bridge.policy.memo import PER_CASE, Memo
from bridge.policy.model import (
    CommentTemplate,
    Customer,
    FlagPolicy,
    IssueSnapshot,
    MonthCase,
    OverQuotaPolicy,
    Person,
    PriorityLevel,
    Raised,
    RuleSet,
    Tier,
    UnknownCustomerPolicy,
    by_folded_name,
    find_named,
)
from bridge.policy.priority import Pipeline, folded, slug
from bridge.policy.templates import PLACEHOLDERS
from bridge.policy.templates import render as render_template
from bridge.policy.tiers import (
    EntitlementDecision,
    OrgIndex,
    entitlement_table,
    raised_by,
    usage_refusals,
)

if TYPE_CHECKING:  # pragma: no cover
    from bridge.policy.clock import BusinessCalendar


@dataclass(frozen=True)
class CustomerFacts:
    """What a customer's entry means, looked up once."""

    customer: Customer
    tier: Tier
    calendar_name: str
    calendar: BusinessCalendar
    contacts: frozenset[str]  # stripped and case-folded
    assigns_named_engineer: bool  # the tier includes it and the customer names one
    #: the regional lead of the customer's calendar (sla.yaml), whom the ladder can
    #: assign (`assign: escalation_owner`) or name in a comment (`{escalation_owner}`)
    escalation_owner: str | None = None


def _customer_facts(customer: Customer, rules: RuleSet) -> CustomerFacts | str:
    """The customer's facts, or why its entry cannot be used (raised when a case asks)."""
    tier = rules.tiers.get(customer.tier)
    if tier is None:
        return (
            f"customer {customer.organization!r} names tier {customer.tier!r}, which is "
            f"not in tiers.yaml (have: {', '.join(sorted(rules.tiers))})"
        )
    name = customer.calendar if customer.calendar in rules.calendars else rules.default_calendar
    calendar = rules.calendars.get(name)
    if calendar is None:
        return (
            f"customer {customer.organization!r}: calendar {customer.calendar!r} and the "
            f"default calendar {rules.default_calendar!r} are not in sla.yaml calendars "
            f"(have: {', '.join(sorted(rules.calendars)) or 'none'})"
        )
    named = "named_engineer" in tier.entitlements and bool(customer.named_engineer)
    owner = rules.escalation_owners.get(name)
    return CustomerFacts(customer, tier, name, calendar, folded(customer.contacts), named, owner)


#: How a case's customer was found: by the organisation it names; or, when it names
#: none, by its reporter's e-mail on a customer's contact list or membership of a
#: customer's JSM organisation; or not at all (no customer, or several to choose from).
CustomerBasis = Literal[
    "organization", "unknown_organization", "contact", "membership", "no_match", "several"
]


class CustomerDecision(NamedTuple):
    """Whose case this is, and how that was found."""

    facts: CustomerFacts | None  # None: an unknown customer
    basis: CustomerBasis
    #: the customers the reporter matched when the case names no organisation (in the
    #: rules' order): one for a match, several when the bridge will not guess
    candidates: tuple[str, ...] = ()


#: a case naming an organisation no customer entry has
UNKNOWN_ORGANIZATION = CustomerDecision(None, "unknown_organization")


def _named(entry: CustomerFacts | str) -> CustomerDecision | str:
    """A customer entry as the decision for a case naming it (a str: why it is unusable)."""
    return entry if isinstance(entry, str) else CustomerDecision(entry, "organization")


_MARK = "\x00"


class Template(NamedTuple):
    """A comment template parsed once: a ``str.format_map`` pattern and the names it uses.

    Made by the safe renderer itself (rendering markers), so the grammar and its
    ``{{``/``}}`` escapes live in one place; literals have their braces doubled and
    every name is a known placeholder.
    """

    pattern: str
    names: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Template | None:
        """None when the text cannot be parsed this way (it is then rendered directly)."""
        if _MARK in text:
            return None
        marked = render_template(text, {name: f"{_MARK}{name}{_MARK}" for name in PLACEHOLDERS})
        parts = marked.split(_MARK)
        pattern = "".join(
            "{" + part + "}" if i % 2 else part.replace("{", "{{").replace("}", "}}")
            for i, part in enumerate(parts)
        )
        return cls(pattern, tuple(dict.fromkeys(parts[1::2])))


def _templates(rules: RuleSet) -> Iterator[CommentTemplate]:
    for flag in (rules.unknown_customer, rules.unauthorised_contact, rules.not_entitled):
        yield from (flag.comment,) if flag.comment is not None else ()
    unknown = UnknownCustomerPolicy.of(rules.unknown_customer)
    for extra in (unknown.no_organization_comment, unknown.several_customers_comment):
        yield from (extra,) if extra is not None else ()
    reminder = rules.channel_reminder
    if reminder is not None and reminder.comment is not None:
        yield reminder.comment
    if rules.usage_comment is not None:
        yield rules.usage_comment
    over = OverQuotaPolicy.of(rules.quota.over_quota)
    for template in (over.comment, over.cleared_comment, rules.required_information.comment):
        yield from (template,) if template is not None else ()
    yield from (rule.comment for rule in rules.priorities.rules if rule.comment is not None)
    changes = rules.priorities.change_comments
    for template in (changes.rule, changes.restored, changes.engineer):
        yield from (template,) if template is not None else ()
    for step in rules.escalation:
        yield from (a.comment for a in step.actions if a.comment is not None)


def _by_contact(rules: RuleSet) -> Mapping[str, tuple[str, ...]]:
    found: dict[str, tuple[str, ...]] = {}
    for name, customer in rules.customers.items():
        for contact in folded(customer.contacts):
            found[contact] = (*found.get(contact, ()), name)
    return found


def _needs(rules: RuleSet) -> Mapping[str, tuple[str, ...]]:
    """Folded request type -> the entitlements it needs, in the rules' order."""
    needs: dict[str, tuple[str, ...]] = {}
    for entitlement, types in rules.entitlement_request_types.items():
        for request_type in folded(types):
            if entitlement not in needs.get(request_type, ()):
                needs[request_type] = (*needs.get(request_type, ()), entitlement)
    return needs


class Conditions(NamedTuple):
    """Which of the conditions the bridge flags with a label (and a comment) hold."""

    unauthorised: bool
    over_quota: bool
    not_entitled: bool
    needs_info: bool


class Flag(NamedTuple):
    policy: FlagPolicy
    id_part: str  # the comment's action id is "{key}/{id_part}"


#: A comment the conditions ask for: its action id's segment after the key, and template.
FlagComment = tuple[str, CommentTemplate]


class FlagWrites(NamedTuple):
    """What one combination of the flagged conditions and the channel reminder puts on a
    case: its labels, and its comments before the priority change's (the first three
    conditions', the usage limit's) and after it (needs-info's, the reminder's)."""

    present: frozenset[str]
    absent: frozenset[str]
    before: tuple[FlagComment, ...]
    after: tuple[FlagComment, ...]


#: (the conditions, a usage limit refuses the request, the channel reminder's comment is
#: for the case, it was raised by a reminded channel and is answered: `ChannelDecision`)
FlagKey = tuple[Conditions, bool, bool, bool]


@dataclass(frozen=True)
class Flags:
    """The flagged conditions compiled once: what every combination of them (and of the
    channel reminder) puts on (and takes off) a case: labels, and comments in order."""

    writes: Mapping[FlagKey, FlagWrites]
    over_quota_transition: tuple[str, str] | None  # the transition's name and its slug
    #: the over-quota label and the comment correcting the over-quota comment, posted on
    #: an open case carrying the label that is within the quota (None: no label, or no
    #: correction)
    over_quota_cleared: tuple[str, CommentTemplate] | None = None

    @classmethod
    def of(cls, rules: RuleSet) -> Flags:
        info = rules.required_information
        in_order = (
            Flag(rules.unauthorised_contact, "unauthorised-contact"),
            Flag(rules.quota.over_quota, "over-quota"),
            Flag(rules.not_entitled, "not-entitled"),
            Flag(FlagPolicy(info.label, info.comment), "needs-info"),
        )
        writes = {}
        for holds in itertools.product((False, True), repeat=len(in_order)):
            conditions = Conditions(*holds)
            present = {
                f.policy.label for f, h in zip(in_order, holds, strict=True) if h and f.policy.label
            }
            absent = {
                f.policy.label
                for f, h in zip(in_order, holds, strict=True)
                if not h and f.policy.label
            }
            if rules.unknown_customer.label:
                absent.add(rules.unknown_customer.label)
            labels = (frozenset(present), frozenset(absent - present))
            for refused in (False, True):
                before, after = _flag_comments(rules, in_order, holds, refused)
                for remind, answered in ((False, False), (True, False), (False, True)):
                    (on, off), then = _with_channel(rules, labels, after, remind, answered)
                    writes[conditions, refused, remind, answered] = FlagWrites(
                        on, off, before, then
                    )
        over = rules.quota.over_quota.transition
        quota = OverQuotaPolicy.of(rules.quota.over_quota)
        cleared = quota.cleared_comment
        return cls(
            writes,
            (over, slug(over)) if over else None,
            (quota.label, cleared) if quota.label and cleared is not None else None,
        )


def _with_channel(
    rules: RuleSet,
    labels: tuple[frozenset[str], frozenset[str]],
    after: tuple[FlagComment, ...],
    remind: bool,
    answered: bool,
) -> tuple[tuple[frozenset[str], frozenset[str]], tuple[FlagComment, ...]]:
    """The labels and the comments after the priority change's with the reminder to use
    the support portal: its label, owned by the bridge, on a case raised by a channel it
    names (taken off any other), and its comment on such a case not answered yet."""
    reminder = rules.channel_reminder
    label = frozenset((reminder.label,)) if reminder and reminder.label else frozenset()
    present, absent = labels
    if remind and reminder is not None and reminder.comment is not None:
        after = (*after, ("channel-reminder", reminder.comment))
    if not (remind or answered):
        return (present, absent | (label - present)), after
    return (present | label, absent - label), after


def _flag_comments(
    rules: RuleSet, in_order: tuple[Flag, ...], holds: tuple[bool, ...], refused: bool
) -> tuple[tuple[FlagComment, ...], tuple[FlagComment, ...]]:
    """The comments of the conditions that hold, before and after the priority change's:
    a usage limit's refusal says why in its own comment, not in not-entitled's."""
    before: list[FlagComment] = [
        (flag.id_part, flag.policy.comment)
        for flag, held in zip(in_order[:3], holds[:3], strict=True)
        if held
        and flag.policy.comment is not None
        and not (refused and flag.id_part == "not-entitled")
    ]
    if refused and rules.usage_comment is not None:
        before.append(("not-entitled/usage", rules.usage_comment))
    needs_info = in_order[3]
    after: tuple[FlagComment, ...] = ()
    if holds[3] and needs_info.policy.comment is not None:
        after = ((needs_info.id_part, needs_info.policy.comment),)
    return tuple(before), after


@dataclass(frozen=True)
class Policy:
    """A rule set compiled for evaluation, shared by every cycle: its compiled parts never
    change; its bounded memos (:mod:`bridge.policy.memo`) keep answers that depend only
    on the rules and a value a case carries."""

    rules: RuleSet
    #: the customer decision of a case naming an organisation, by the name as the rules
    #: write it (a str: why the customer entry cannot be used)
    customers: Mapping[str, CustomerDecision | str]
    folded_customers: Mapping[str, CustomerDecision | str]  # by folded name, first wins
    #: (folded request type, tier key) -> what it needs and the tier lacks
    entitlements: Mapping[tuple[str, str], EntitlementDecision]
    not_counted: frozenset[str]  # resolutions kept out of the quota, folded
    not_counted_flags: frozenset[str]  # flags that keep a case out of the quota
    priority: Pipeline
    ladders: Mapping[PriorityLevel, tuple[Rung, ...]]
    templates: Mapping[str, Template | None]  # by template text
    flags: Flags
    #: a contact's folded e-mail -> the customers (organisation names) listing it
    by_contact: Mapping[str, tuple[str, ...]]
    #: folded request type -> the entitlements it needs, in the rules' order
    needs: Mapping[str, tuple[str, ...]]
    unknown: UnknownCustomerPolicy  # rules.unknown_customer with its no-organisation comments
    information: InformationCheck  # required_information compiled
    #: who raised a case and what it asks for (``raised_by``), by its arguments (the
    #: reporter, the request type, the product): a reporter raises many cases of a few
    #: request types
    raised_by_value: Memo[tuple[Person | None, str | None, str | None], Raised] = field(
        default_factory=partial(Memo, PER_CASE), compare=False, repr=False
    )
    #: each organisation's month ranked for its quota (``Cycle.org_index``), by the
    #: customer and its calendar, with the cases it was ranked from: a later cycle that
    #: lists the same cases (most organisations, between two cycles) takes it as it is
    ranked_months: Memo[tuple[str, str], tuple[tuple[MonthCase, ...], OrgIndex]] = field(
        default_factory=Memo, compare=False, repr=False
    )

    @classmethod
    def compile(cls, rules: RuleSet) -> Policy:
        customers = {name: _named(_customer_facts(c, rules)) for name, c in rules.customers.items()}
        needs = _needs(rules)
        return cls(
            rules=rules,
            customers=customers,
            folded_customers=by_folded_name(customers),
            entitlements=entitlement_table(needs, rules.tiers, rules.usage_limits.keys()),
            not_counted=folded(tuple(rules.quota.not_counted_resolutions)),
            not_counted_flags=rules.quota.not_counted_flags,
            priority=Pipeline.of(rules.priorities),
            ladders=ladder_table(rules.escalation, rules.priorities.levels),
            templates={t.text: Template.parse(t.text) for t in _templates(rules)},
            flags=Flags.of(rules),
            by_contact=_by_contact(rules),
            needs=needs,
            unknown=UnknownCustomerPolicy.of(rules.unknown_customer),
            information=InformationCheck.of(rules.required_information),
        )

    @property
    def owned_labels(self) -> frozenset[str]:
        """Every label these rules put on cases and take off them: the flags', the
        unknown customer's, the channel reminder's and the ladder steps'."""
        rules = self.rules
        flags = (
            rules.unauthorised_contact.label,
            rules.quota.over_quota.label,
            rules.not_entitled.label,
            rules.required_information.label,
            rules.unknown_customer.label,
            rules.channel_reminder.label if rules.channel_reminder is not None else None,
        )
        steps = (a.label for step in rules.escalation for a in step.actions if a.kind == "label")
        return frozenset(label for label in (*flags, *steps) if label)

    def month_case(self, snapshot: IssueSnapshot) -> MonthCase:
        """The case as its organisation's month lists it (``tiers.month_case``), who
        raised it and what it asks for (``raised_by``) kept by its arguments."""
        asked = (snapshot.reporter, snapshot.request_type, snapshot.fields.get("product"))
        raised = self.raised_by_value.get(asked)
        if raised is None:
            raised = self.raised_by_value.keep(asked, raised_by(*asked))
        return MonthCase(snapshot.key, snapshot.created, snapshot.resolution, raised)

    def decide_customer(self, snapshot: IssueSnapshot) -> CustomerDecision:
        """The case's customer: by its organisation; when it names none, by its reporter.

        A reporter found on one customer's contact list, or in one customer's JSM
        organisation, makes the case that customer's.  A reporter matching several
        customers is not guessed: the case stays unknown and its comment names them."""
        return self.customer_of(
            snapshot.organization, snapshot.reporter, snapshot.reporter_organizations
        )

    def customer_of(
        self,
        organization: str | None,
        reporter: Person | None,
        reporter_organizations: tuple[str, ...] = (),
    ) -> CustomerDecision:
        """`decide_customer` from the case's organisation, reporter and the reporter's
        JSM organisations (for a case read without its whole snapshot)."""
        if organization:
            return self._named(organization) or UNKNOWN_ORGANIZATION
        if reporter is None or reporter.agent:
            return CustomerDecision(None, "no_match")
        # the customers listing the reporter as a contact, by either id (`contact_of`)
        listing = tuple(n for i in reporter.ids for n in self.by_contact.get(i, ()))
        members = tuple(
            facts.customer.organization
            for facts in map(self.customer, reporter_organizations)
            if facts is not None
        )
        candidates = tuple(dict.fromkeys((*listing, *members)))
        if len(candidates) > 1:
            return CustomerDecision(None, "several", candidates)
        if not candidates:
            return CustomerDecision(None, "no_match")
        return CustomerDecision(
            self.customer(candidates[0]), "contact" if listing else "membership", candidates
        )

    def customer(self, organization: str | None) -> CustomerFacts | None:
        """The customer entry for an organisation name (exact, then case-insensitive)."""
        found = self._named(organization) if organization is not None else None
        return found.facts if found is not None else None

    def calendar_of(self, organization: str | None) -> BusinessCalendar:
        """The calendar of the organisation's customer (`customer`: its own, else the
        default); the default calendar for an organisation without an entry."""
        facts = self.customer(organization)
        if facts is not None:
            return facts.calendar
        return self.rules.calendars[self.rules.default_calendar]

    def _named(self, organization: str) -> CustomerDecision | None:
        """The decision for a case naming ``organization`` (exact, then case-insensitive);
        None when no customer has that name.  Raises ValueError for an unusable entry."""
        entry = find_named(organization, self.customers, self.folded_customers)
        if isinstance(entry, str):
            raise ValueError(entry)
        return entry

    def refusals(self, cases: Sequence[MonthCase], facts: CustomerFacts) -> Mapping[str, str]:
        """The organisation's cases a usage limit refuses (key -> why)."""
        if not self.rules.usage_limits:
            return {}
        return usage_refusals(
            cases,
            self.rules.usage_limits,
            self.needs,
            facts.customer,
            facts.calendar.tz,
            self.not_counted,
        )

    def ladder(self, level: PriorityLevel) -> tuple[Rung, ...]:
        found = self.ladders.get(level)
        return found if found is not None else ladder_for(self.rules.escalation, level)

    def template(self, text: str) -> Template | None:
        return self.templates[text] if text in self.templates else Template.parse(text)
