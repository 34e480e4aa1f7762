"""evaluate(): everything the support terms decide about one case, computed purely.

``evaluate(snapshot, policy, cycle)`` takes each decision once (customer, contact,
quota, entitlement, priority, information, assignment, clock, ladder), each a
small function returning a record of what it decided and why, gathered in
:class:`Decisions`.  What the case should look like (:class:`~bridge.policy.model.Desired`)
is read off the records, and so is the explanation (``bridge.policy.explain``),
which is rendered only when the cycle asks for it.  Comment and transition
action ids are stable: they depend on the case, the rule or ladder step, and
(for the ladder) the due time, never on ``now``.

Decisions where SPEC §2–§3 are silent:

* An unknown organisation gets only the ``unknown_customer`` label and comment.
  Other bridge labels are left alone (nothing about the case is known).
* An agent raising a case on a customer's behalf is an authorised contact.
* A case whose own resolution is not counted has no quota position, nor has a
  case whose own flags keep it out of the count (``quota.not_counted_flags``).
* The over-quota transition is requested only while the case is unanswered:
  a case an engineer already took up is not bounced to approval.
* A priority comment is written only when the bridge changes the case's
  priority (one per change); a rule that fires without changing anything, or
  whose outcome the case already carries, has nothing to tell.
* An unknown or absent requested priority is treated as the lowest level.
* A resolved case gets its fields (tier, quota, SLA state, due) and nothing
  else: no labels added or removed, no comments, transitions, assignment or
  priority change.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, NamedTuple

from bridge.policy.compiled import CustomerDecision, CustomerFacts, Policy
from bridge.policy.cycle import Cycle
from bridge.policy.escalation import JUST_AFTER, LadderOutcome, Owners, run_ladder
from bridge.policy.explain import explain_known, explain_unknown
from bridge.policy.information import Information
from bridge.policy.model import Desired, Explanation, IssueSnapshot, MonthCase
from bridge.policy.priority import LEFT_ALONE, PriorityOutcome, PriorityWrite
from bridge.policy.sla import ResponseClock, response_clock
from bridge.policy.tiers import (
    NO_REMINDER,
    ChannelDecision,
    ContactDecision,
    EntitlementDecision,
    OrgIndex,
    QuotaDecision,
    contact_of,
    decide_channel,
    decide_entitlement,
    decide_quota,
    flags_of,
)
from bridge.policy.writes import (
    TemplateValues,
    Writes,
    reporter_text,
    unknown_customer_writes,
    writes_of,
)

__all__ = ("Decisions", "decide", "evaluate", "reporter_text")


#: Why the named engineer rule assigns or leaves a case: "owned" (someone is assigned),
#: "left_alone" (a person assigned or unassigned it before), "unowned" (nobody ever did)
AssignmentBasis = Literal["owned", "left_alone", "unowned"]


class Assignment(NamedTuple):
    """The named engineer rule: whom to assign (None: leave the assignee alone), and why."""

    applies: bool  # the case is open and the tier assigns a named engineer
    assignee: str | None
    #: someone other than the bridge assigned or unassigned the case (changelog): the
    #: bridge never assigns it again, neither the named engineer nor a ladder step
    by_person: bool = False
    basis: AssignmentBasis = "unowned"


class Decisions(NamedTuple):
    """Every decision about a known customer's case, as records."""

    facts: CustomerFacts
    open: bool  # the case is not in a Done-category status
    contact: ContactDecision
    quota: QuotaDecision
    entitlement: EntitlementDecision
    priority: PriorityOutcome
    information: Information
    assignment: Assignment
    clock: ResponseClock | None  # None: no response target for the level
    ladder: LadderOutcome | None  # None: the clock is not running
    values: TemplateValues  # the case's placeholder values, for the comments it asks for
    next_wakeup: datetime | None
    priority_write: PriorityWrite  # what to write as the priority, and the change it makes
    #: how the customer was found (by the organisation, or by the reporter when none)
    customer: CustomerDecision | None = None
    #: whether the case gets the reminder to use the support portal
    channel: ChannelDecision = NO_REMINDER


def evaluate(snapshot: IssueSnapshot, policy: Policy, cycle: Cycle) -> Desired:
    """What the support terms want this case to look like at ``cycle.now``."""
    cycle.used_with(policy)
    customer = policy.decide_customer(snapshot)
    facts = customer.facts
    if facts is None:
        writes = _retiring(snapshot, cycle, unknown_customer_writes(snapshot, policy, customer))
        notes = explain_unknown(snapshot, policy, customer) if cycle.explain else ()
        return _unknown_desired(snapshot, writes, notes)
    decisions = decide(snapshot, policy, cycle, facts, customer)
    writes = _retiring(snapshot, cycle, writes_of(snapshot, policy, decisions))
    notes = explain_known(snapshot, policy, decisions) if cycle.explain else ()
    return _known_desired(snapshot, policy, decisions, writes, notes)


def _retiring(snapshot: IssueSnapshot, cycle: Cycle, writes: Writes) -> Writes:
    """An open case's writes, taking off the labels earlier rules owned (renamed since)."""
    retired = cycle.context.retired_labels
    if not retired or snapshot.status_category == "done":
        return writes
    return writes._replace(labels_absent=writes.labels_absent | (retired - writes.labels_present))


def decide(
    snapshot: IssueSnapshot,
    policy: Policy,
    cycle: Cycle,
    facts: CustomerFacts,
    customer: CustomerDecision | None = None,
) -> Decisions:
    """Every decision about a known customer's case, in the order they depend on."""
    rules = policy.rules
    contact, entitlement, quota = _terms(snapshot, policy, cycle, facts)
    priority = policy.priority.decide(snapshot)
    information = cycle.information(policy).decide(snapshot)
    open_case = snapshot.status_category != "done"
    write = priority.write if open_case else LEFT_ALONE  # decided with the priority
    assignment = decide_assignment(snapshot, facts, open_case)
    target = rules.response.targets.get(priority.level)
    clock = None
    if target is not None:
        bridge = cycle.context.bridge_account
        clock = response_clock(snapshot, target, rules.response, facts.calendar, bridge, cycle.now)
    values = TemplateValues(
        snapshot,
        policy,
        priority.level,
        clock.due if clock is not None else None,
        facts,
        quota.position,
        information.missing_names,
        change=write.change,
        mentions=cycle.context.mentions,
        why=entitlement.refused,
        jira_name=write.jira_name,
    )
    ladder = None
    if clock is not None and clock.running:
        ladder = decide_ladder(snapshot, policy, facts, clock, assignment, values, priority.level)
    return Decisions(
        facts=facts,
        open=open_case,
        contact=contact,
        quota=quota,
        entitlement=entitlement,
        priority=priority,
        information=information,
        assignment=assignment,
        clock=clock,
        ladder=ladder,
        values=values,
        next_wakeup=next_wakeup(clock, ladder, rules.response.at_risk_at, facts, cycle.now),
        priority_write=write,
        customer=customer,
        channel=decide_channel(
            snapshot,
            rules.channel_reminder,
            facts.customer.tier,
            clock is not None and clock.first_response is not None,
        ),
    )


def _terms(
    snapshot: IssueSnapshot, policy: Policy, cycle: Cycle, facts: CustomerFacts
) -> tuple[ContactDecision, EntitlementDecision, QuotaDecision]:
    """The contact, the entitlement, and the case's place in its customer's month (its
    own flags may keep it out of the count), each decided on the case as its month
    lists it (who raised it, what it asks for)."""
    own = policy.month_case(snapshot)
    assert own.raised is not None  # a snapshot always says who raised it
    contact = contact_of(own.raised, facts.contacts)
    tier_key = facts.customer.tier
    entitlement = decide_entitlement(snapshot.request_type, policy.entitlements, tier_key)
    index = cycle.org_index(snapshot.organization, facts, policy)
    if entitlement.limited and not entitlement.lacking:
        entitlement = entitlement._replace(refused=_refusal(own, policy, facts, index))
    flags = flags_of(contact, entitlement, policy.not_counted_flags)
    zone = facts.calendar.tz
    quota = decide_quota(own, index, facts.tier, policy.not_counted, zone, flags)
    return contact, entitlement, quota


def _refusal(own: MonthCase, policy: Policy, facts: CustomerFacts, index: OrgIndex) -> str:
    """Why a usage limit refuses the case ``own`` (as its snapshot describes it; "" when
    none does): as the cycle ranked its organisation's cases once when they list the
    case as it is, else ranked again with the case as it is among the others."""
    if index.listed.get(own.key) == own:
        return index.refused.get(own.key, "")
    others = [c for k, c in index.listed.items() if k != own.key]
    return policy.refusals([*others, own], facts).get(own.key, "")


def decide_ladder(
    snapshot: IssueSnapshot,
    policy: Policy,
    facts: CustomerFacts,
    clock: ResponseClock,
    assignment: Assignment,
    values: TemplateValues,
    level: str,
) -> LadderOutcome:
    """The ladder of a case whose clock runs: its steps reached and what they ask for."""
    return run_ladder(
        key=snapshot.key,
        rungs=policy.ladder(level),
        clock=clock,
        calendar=facts.calendar,
        customer=facts.customer,
        owners=Owners(
            snapshot.assignee or assignment.assignee, assignment.by_person, facts.escalation_owner
        ),
        render=values.render,
        stamp=clock.stamp,
    )


def decide_assignment(snapshot: IssueSnapshot, facts: CustomerFacts, open_case: bool) -> Assignment:
    """Only a case no person has ever assigned gets the named engineer: an engineer's
    unassign or reassign stands (SPEC §1)."""
    applies = open_case and facts.assigns_named_engineer
    by_person = snapshot.assigned_by_a_person
    basis: AssignmentBasis = "unowned"
    if snapshot.assignee is not None:
        basis = "owned"
    elif by_person:
        basis = "left_alone"
    assignee = facts.customer.named_engineer if applies and basis == "unowned" else None
    return Assignment(applies, assignee, by_person, basis)


def next_wakeup(
    clock: ResponseClock | None,
    ladder: LadderOutcome | None,
    at_risk_at: float,
    facts: CustomerFacts,
    now: datetime,
) -> datetime | None:
    """The earliest of the due time, the at-risk moment and the next ladder step still
    ahead (the sync layer re-reads the case then); None when nothing time-driven remains.

    The at-risk moment (a share <= 1 of the target) is never later than the due
    time, so once the due time has passed it is not needed.
    """
    if clock is None or ladder is None:  # the ladder runs exactly while the clock runs
        return None
    due_ahead = clock.state != "breached"  # at the due instant the case is not breached yet
    if not due_ahead and at_risk_at <= 1 and ladder.next_step_at is None:
        return None  # the usual case: past due, every step reached
    moments = [clock.due + JUST_AFTER] if due_ahead else []
    if at_risk_at > 1 or due_ahead:
        moments.append(clock.moment(facts.calendar, at_risk_at))
    if ladder.next_step_at is not None:
        moments.append(ladder.next_step_at)
    future = [m for m in moments if m > now]
    return min(future) if future else None


# ------------------------------------------------------------------------ Desired


def _unknown_desired(
    snapshot: IssueSnapshot, writes: Writes, notes: tuple[Explanation, ...]
) -> Desired:
    return Desired(
        key=snapshot.key,
        known_customer=False,
        tier=None,
        calendar=None,
        priority=None,
        priority_jira=None,
        priority_reason="unknown customer: priority rules do not apply",
        quota=None,
        authorised_contact=None,
        entitlement_problems=(),
        missing_information=(),
        response_due=None,
        target=None,
        business_used=None,
        first_response=None,
        sla_state="none",
        escalation_steps=(),
        labels_present=writes.labels_present,
        labels_absent=writes.labels_absent,
        comments=writes.comments,
        assignee=None,
        transitions=(),
        explanation=notes,
    )


def _known_desired(
    snapshot: IssueSnapshot,
    policy: Policy,
    decisions: Decisions,
    writes: Writes,
    notes: tuple[Explanation, ...],
) -> Desired:
    decided, clock = decisions.priority, decisions.clock
    reason = decided.reason
    priority, jira = decisions.priority_write.level, decisions.priority_write.jira_name
    if not decisions.open:
        reason += " (resolved case: priority left alone)"
    ladder = decisions.ladder if decisions.open else None
    return Desired(
        key=snapshot.key,
        known_customer=True,
        tier=decisions.facts.tier.name,
        calendar=decisions.facts.calendar_name,
        priority=priority,
        priority_jira=jira,
        priority_reason=reason,
        quota=decisions.quota.position,
        authorised_contact=decisions.contact.authorised,
        entitlement_problems=decisions.entitlement.lacking,
        missing_information=decisions.information.missing,
        response_due=clock.due if clock is not None else None,
        target=clock.target_business if clock is not None else None,
        business_used=clock.business_used if clock is not None else None,
        first_response=_first_response_at(clock),
        sla_state=clock.state if clock is not None else "none",
        escalation_steps=ladder.reached if ladder is not None else (),
        labels_present=writes.labels_present,
        labels_absent=writes.labels_absent,
        comments=writes.comments,
        assignee=writes.assignee,
        transitions=writes.transitions,
        explanation=notes,
        next_wakeup=decisions.next_wakeup if decisions.open else None,
        sla_priority=decided.level if clock is not None else None,
        paused_business=clock.paused_business if clock is not None else None,
        held=clock.held if clock is not None else False,
        customer=decisions.facts.customer.organization,
        quota_flags=decisions.quota.flags,
    )


def _first_response_at(clock: ResponseClock | None) -> datetime | None:
    if clock is None or clock.first_response is None:
        return None
    return clock.first_response.at
