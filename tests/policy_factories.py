"""Build RuleSets, snapshots and contexts in Python, mirroring the canonical YAML of SPEC §3.

Tests of the policy core use these instead of `rules/` files, so they depend on
nothing but the model.  ``default_ruleset()`` is the demo world's policy; pass
keyword overrides (any RuleSet field) or use ``dataclasses.replace`` for more.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from bridge.policy.clock import BusinessCalendar, HolidaySpec
from bridge.policy.compiled import Policy
from bridge.policy.cycle import Cycle
from bridge.policy.evaluate import evaluate as evaluate_in_cycle
from bridge.policy.model import (
    Actor,
    CaseComment,
    ChannelReminder,
    CommentTemplate,
    Condition,
    Customer,
    Desired,
    EscalationAction,
    EscalationStep,
    EvalContext,
    FlagPolicy,
    IssueSnapshot,
    MonthCase,
    Person,
    PriorityChange,
    PriorityPolicy,
    PriorityRule,
    QuotaPolicy,
    RequiredInformation,
    RequiredItem,
    ResponsePolicy,
    RuleSet,
    StatusChange,
    Target,
    Tier,
)

NINE_TO_FIVE = {d: [(time(9), time(17))] for d in range(5)}  # Mon..Fri

BASE = ["knowledge_base", "documentation", "support_portal", "configuration_support"]
PREMIUM = [*BASE, "screen_share", "development_input", "architecture_workshop"]
ENTERPRISE = [*PREMIUM, "product_webinar", "named_engineer"]

#: the demo world's statuses -> category keys
CATEGORIES = {
    "Open": "new",
    "Work in progress": "indeterminate",
    "Waiting for customer": "indeterminate",
    "Escalated": "indeterminate",
    "Pending approval": "new",
    "Resolved": "done",
    "Closed": "done",
}

FIELD_NAMES = {
    "environment": "Environment type",
    "staff_available": "Staff available",
    "product": "Product",
    "product_version": "Product version",
    "impact": "Impact",
    "contact_phone": "Contact phone",
    "contact_skype": "Skype",
    "description": "Description",
}


def comment_template(text: str, visibility: str = "internal") -> CommentTemplate:
    assert visibility in ("public", "internal")
    return CommentTemplate(visibility, text)  # type: ignore[arg-type]


_CALENDARS: dict[str, BusinessCalendar] | None = None


#: New York State holidays most New York businesses work (rules/sla.yaml)
NY_WORKED = frozenset(
    {
        "Lincoln's Birthday",
        "Susan B. Anthony Day",
        "Columbus Day",
        "Election Day",
        "Veterans Day",
    }
)
#: the regional leads of rules/sla.yaml
ESCALATION_OWNERS = {
    "brisbane": "priya.lead@vendor.example",
    "new-york": "sam.agent@vendor.example",
    "london": "priya.lead@vendor.example",
}


def calendars() -> dict[str, BusinessCalendar]:
    """brisbane (no DST, QLD holidays + 24 Dec 2026), london and new-york (DST)."""
    global _CALENDARS
    if _CALENDARS is None:
        _CALENDARS = {
            "brisbane": BusinessCalendar(
                "brisbane",
                "Australia/Brisbane",
                NINE_TO_FIVE,
                HolidaySpec(country="AU", subdivision="QLD", extra=frozenset({date(2026, 12, 24)})),
            ),
            "london": BusinessCalendar(
                "london",
                "Europe/London",
                NINE_TO_FIVE,
                HolidaySpec(country="GB", subdivision="ENG"),
            ),
            "new-york": BusinessCalendar(
                "new-york",
                "America/New_York",
                NINE_TO_FIVE,
                HolidaySpec(country="US", subdivision="NY", leave_out=NY_WORKED),
            ),
        }
    return dict(_CALENDARS)


def tiers() -> dict[str, Tier]:
    return {
        "standard": Tier("standard", "Standard", 1, 4, frozenset(BASE)),
        "premium": Tier("premium", "Premium", 2, 12, frozenset(PREMIUM)),
        "enterprise": Tier("enterprise", "Enterprise", 2, 20, frozenset(ENTERPRISE)),
    }


ACME = Customer("Acme Networks", "standard", "brisbane", ("ops@acme.example",))
INITECH = Customer(
    "Initech Systems", "premium", "london", ("it@initech.example", "support@initech.example")
)
GLOBEX = Customer(
    "Globex Telecom",
    "enterprise",
    "new-york",
    ("noc@globex.example", "lead@globex.example", "cto@globex.example"),
    contacts_allowed=3,
    named_engineer="jane.engineer@vendor.example",
)


def customers(*extra: Customer) -> dict[str, Customer]:
    found = {c.organization: c for c in (ACME, INITECH, GLOBEX, *extra)}
    return found


#: the shipped rule's comment (rules/priorities.yaml)
NON_PRODUCTION_TEXT = (
    "{key} is now {priority} ({priority_name}): priorities P1 to P3 are for production "
    "systems only, and the environment of this case is not set to Production. If it is "
    "about a production system, set Environment type to Production and we will review "
    "the priority (other support terms may still apply)."
)
#: the shipped staff rule's comment: the change may lower (from P1) or raise (from the
#: P4 an earlier rule held the case at), so it says from what to what
STAFF_TEXT = (
    "{key}: we changed the priority from {previous_priority} to {priority} "
    "({priority_name}): P1 needs your staff available throughout. To have P1, set Staff "
    "available to Yes once they are."
)


def priority_rules() -> tuple[PriorityRule, ...]:
    return (
        PriorityRule(
            "Non-production systems are P4",
            Condition(field="environment", not_in=("Production",)),
            set="P4",
            comment=comment_template(NON_PRODUCTION_TEXT, "public"),
        ),
        PriorityRule(
            "Installation issues are P4", Condition(request_type=("Installation",)), set="P4"
        ),
        PriorityRule(
            "Requests for information are P4",
            Condition(request_type=("Request for information",)),
            set="P4",
        ),
        PriorityRule(
            "Feature requests and cosmetic defects are at most P3",
            Condition(request_type=("Feature request", "Cosmetic defect")),
            cap="P3",
        ),
        PriorityRule(
            "P1 needs customer staff available",
            Condition(priority=("P1",), field="staff_available", not_in=("Yes",)),
            set="P2",
            comment=comment_template(STAFF_TEXT, "public"),
        ),
    )


def priorities(**overrides: Any) -> PriorityPolicy:
    base = PriorityPolicy(
        levels=("P1", "P2", "P3", "P4"),
        jira_names={"P1": "Blocker", "P2": "Critical", "P3": "Major", "P4": "Minor"},
        respect_engineer_changes=True,
        rules=priority_rules(),
    )
    return dataclasses.replace(base, **overrides)


def response(**overrides: Any) -> ResponsePolicy:
    base = ResponsePolicy(
        targets={
            "P1": Target("duration", timedelta(hours=4)),
            "P2": Target("duration", timedelta(hours=6)),
            "P3": Target("next_business_day"),
            "P4": Target("next_business_day"),
        },
        responded_statuses=frozenset({"Work in progress"}),
        pause_statuses=frozenset({"Waiting for customer"}),
        at_risk_at=0.75,
        approval_statuses=frozenset({"Pending approval"}),
    )
    return dataclasses.replace(base, **overrides)


def ladder() -> tuple[EscalationStep, ...]:
    return (
        EscalationStep(
            0,
            0.5,
            frozenset({"P1", "P2"}),
            (
                EscalationAction(
                    "comment",
                    comment=comment_template(
                        "{key} ({priority}, {organization}) has used half its response time; due {due}."
                    ),
                ),
            ),
        ),
        EscalationStep(
            1,
            0.75,
            None,
            (
                EscalationAction("label", label="sla-at-risk"),
                EscalationAction("assign", assign="named_engineer"),
                EscalationAction("assign", assign="escalation_owner"),
                EscalationAction(
                    "comment",
                    comment=comment_template(
                        "{escalation_owner}: {key} ({priority}, {tier}, {organization}) has "
                        "used 75% of its response time and needs help; due {due}."
                    ),
                ),
            ),
        ),
        EscalationStep(
            2,
            1.0,
            None,
            (
                EscalationAction("label", label="sla-breached"),
                EscalationAction("transition", transition="Escalate"),
                EscalationAction(
                    "comment",
                    comment=comment_template(
                        "{key} breached its {priority} response target ({due})."
                    ),
                ),
            ),
        ),
    )


def default_ruleset(**overrides: Any) -> RuleSet:
    """The policy of SPEC §3's canonical YAML (plus a london calendar for Initech)."""
    base = RuleSet(
        tiers=tiers(),
        entitlement_request_types={
            "screen_share": ("Screen share session",),
            "architecture_workshop": ("Architecture workshop",),
            "product_webinar": ("Product webinar",),
            "development_input": ("Development plan input",),
        },
        not_entitled=FlagPolicy(
            label="not-entitled",
            comment=comment_template(
                "{key}: {request_type} is not included in the {tier} tier.", "public"
            ),
        ),
        quota=QuotaPolicy(
            not_counted_resolutions=frozenset({"Duplicate", "Raised in error"}),
            over_quota=FlagPolicy(
                label="over-quota",
                comment=comment_template(
                    "Case {key} is case {quota_used} of {quota_limit} included this month for {organization}.",
                    "public",
                ),
                transition=None,
            ),
        ),
        customers=customers(),
        unauthorised_contact=FlagPolicy(
            label="unauthorised-contact",
            comment=comment_template(
                "{key}: {reporter} is not an authorised contact of {organization}."
            ),
        ),
        unknown_customer=FlagPolicy(
            label="unknown-customer",
            comment=comment_template("{key}: {organization} has no support agreement on file."),
        ),
        priorities=priorities(),
        calendars=calendars(),
        default_calendar="brisbane",
        response=response(),
        escalation=ladder(),
        required_information=RequiredInformation(
            fields=(
                "contact_phone",
                "contact_skype",
                "description",
                "product",
                "product_version",
                "impact",
                "environment",
            ),
            label="needs-info",
            comment=comment_template("To work on {key} we still need: {missing}.", "public"),
            items=(
                RequiredItem(("contact_phone", "contact_skype"), min_length=6),
                RequiredItem(("description",), min_length=15),
                RequiredItem(("product",)),
                RequiredItem(("product_version",), pattern=r"\d"),
                RequiredItem(("impact",), accept=("none", "no", "n/a", "nil", "no impact")),
                RequiredItem(("environment",)),
            ),
        ),
        escalation_owners=dict(ESCALATION_OWNERS),
        channel_reminder=ChannelReminder(
            tiers=frozenset({"standard", "premium"}),
            channels=frozenset({"email", "api"}),
            label="raised-outside-portal",
            comment=comment_template(
                "{key}: thank you, we have your request. As a {tier} support customer, please "
                "raise your next case through our support portal (https://opmantek.com/support/)"
                ": it asks for everything we need to help you quickly.",
                "public",
            ),
        ),
    )
    return dataclasses.replace(base, **overrides)


# ----------------------------------------------------------------------- people


def customer_user(email: str, name: str | None = None) -> Person:
    return Person(f"cust-{email}", name or email.split("@")[0].title(), email, Actor.CUSTOMER)


def engineer(email: str = "jane.engineer@vendor.example", name: str = "Jane Engineer") -> Person:
    return Person(f"agent-{email}", name, email, Actor.ENGINEER)


BRIDGE = Person("bridge-account", "jsm-bridge", "bridge@vendor.example", Actor.BRIDGE)
JANE = engineer()
SAM = engineer("sam.agent@vendor.example", "Sam Agent")
OPS = customer_user("ops@acme.example", "Acme Ops")
INTERN = customer_user("intern@acme.example", "Acme Intern")
NOC = customer_user("noc@globex.example", "Globex NOC")
IT = customer_user("it@initech.example", "Initech IT")
HELP = customer_user("help@umbrella.example", "Umbrella Help")

#: organisation -> a reporter who is an authorised contact
REPORTERS = {
    "Acme Networks": OPS,
    "Globex Telecom": NOC,
    "Initech Systems": IT,
    "Umbrella Labs": HELP,
}

COMPLETE_FIELDS: Mapping[str, str | None] = {
    "environment": "Production",
    "staff_available": "Yes",
    "product": "NMIS",
    "product_version": "9.4",
    "impact": "Polling stopped",
    "contact_phone": "+61 7 5555 0100",
    "contact_skype": None,
    "description": "Polling stopped for every device after the upgrade.",
}


def at(text: str) -> datetime:
    """An aware datetime from ISO text; naive text is UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def snapshot(
    key: str = "SUP-1",
    created: datetime | str = "2026-11-30T09:00:00+10:00",  # Mon 09:00 Brisbane
    *,
    organization: str | None = "Acme Networks",
    reporter: Person | str | None = "default",
    priority: str | None = "Major",
    request_type: str | None = "Technical support",
    status: str = "Open",
    status_category: str | None = None,
    fields: Mapping[str, str | None] | None = None,
    extra_fields: Mapping[str, str | None] | None = None,
    comments: Iterable[CaseComment] = (),
    status_history: Iterable[tuple[datetime | str, str] | tuple[datetime | str, str, Actor]] = (),
    priority_history: Iterable[tuple[datetime | str, str | None, str, Actor]] = (),
    initial_priority: str | bool | None = True,
    labels: Iterable[str] = (),
    components: Iterable[str] = (),
    summary: str = "Polling stopped",
    resolution: str | None = None,
    resolved: datetime | str | None = None,
    assignee: str | None = None,
) -> IssueSnapshot:
    """A case; by default a complete, well-formed Acme P3 case in status Open.

    ``status_history`` is ``[(when, to_status), ...]`` from the first status
    ``Open`` (moved by an agent; ``(when, to_status, actor)`` says who); ``status`` defaults to the last entry.  ``initial_priority=True``
    means "created with ``priority``" (only when there is no priority history).
    """
    created_at = at(created) if isinstance(created, str) else created
    if reporter == "default":
        reporter = REPORTERS.get(organization or "", OPS)
    assert not isinstance(reporter, str)
    changes: list[StatusChange] = []
    previous = "Open"
    for when, to, *by in status_history:
        when_at = at(when) if isinstance(when, str) else when
        who = by[0] if by else Actor.ENGINEER
        changes.append(
            StatusChange(when_at, previous, to, CATEGORIES.get(to, "indeterminate"), who)
        )
        previous = to
    if changes and status == "Open":
        status = previous
    category = status_category or CATEGORIES.get(status, "indeterminate")
    p_changes = [
        PriorityChange(at(w) if isinstance(w, str) else w, f, t, by)
        for w, f, t, by in priority_history
    ]
    if initial_priority is True:
        initial = p_changes[0].from_name if p_changes else priority
    elif initial_priority is False:
        initial = None
    else:
        initial = initial_priority
    values = dict(COMPLETE_FIELDS if fields is None else fields)
    values.update(extra_fields or {})
    resolved_at = at(resolved) if isinstance(resolved, str) else resolved
    return IssueSnapshot(
        key=key,
        created=created_at,
        updated=created_at,
        summary=summary,
        status=status,
        status_category=category,
        reporter=reporter,
        organization=organization,
        priority=priority,
        request_type=request_type,
        labels=frozenset(labels),
        components=frozenset(components),
        fields=values,
        comments=tuple(comments),
        status_history=tuple(changes),
        priority_history=tuple(p_changes),
        initial_priority=initial,
        resolution=resolution,
        resolved=resolved_at,
        assignee=assignee,
    )


_comment_ids = iter(range(10_000, 10**9))


def comment(
    author: Person, when: datetime | str, *, public: bool = True, action_id: str | None = None
) -> CaseComment:
    return CaseComment(
        str(next(_comment_ids)),
        author,
        at(when) if isinstance(when, str) else when,
        public,
        action_id,
    )


def context(
    org_cases: Mapping[str, Iterable[MonthCase]] | None = None,
    *,
    field_names: Mapping[str, str] | None = None,
    bridge_account: str | None = "bridge@vendor.example",
) -> EvalContext:
    return EvalContext(
        org_cases={k: tuple(v) for k, v in (org_cases or {}).items()},
        bridge_account=bridge_account,
        field_names=dict(FIELD_NAMES if field_names is None else field_names),
    )


def month_case(key: str, created: datetime | str, resolution: str | None = None) -> MonthCase:
    return MonthCase(key, at(created) if isinstance(created, str) else created, resolution)


def evaluate(case: IssueSnapshot, rules: RuleSet, ctx: EvalContext, now: datetime) -> Desired:
    """One case evaluated on its own: the rules compiled and a cycle started at ``now``."""
    return evaluate_in_cycle(case, Policy.compile(rules), Cycle.start(now, ctx))
