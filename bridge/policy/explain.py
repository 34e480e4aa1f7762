"""The explanation of a case, rendered from the decision records.

Nothing here decides: every line reads a record that ``evaluate`` made (and the
case and rules it was made from).  A sync cycle that does not show explanations
never calls this module.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from bridge.policy.compiled import CustomerDecision, Policy
from bridge.policy.escalation import LadderOutcome, Rung, not_running_reason
from bridge.policy.model import Actor, Customer, Explanation, IssueSnapshot
from bridge.policy.priority import PriorityOutcome, PriorityWrite, change_text
from bridge.policy.sla import ResponseClock, format_duration, paused_due
from bridge.policy.tiers import ContactDecision, QuotaDecision
from bridge.policy.writes import over_quota_cleared, over_quota_move

if TYPE_CHECKING:  # pragma: no cover
    from bridge.policy.clock import BusinessCalendar
    from bridge.policy.evaluate import Decisions

Notes = Iterator[tuple[str, str]]


def explain_unknown(
    snapshot: IssueSnapshot, policy: Policy, customer: CustomerDecision | None = None
) -> tuple[Explanation, ...]:
    notes = _unknown(snapshot, policy, customer)
    return tuple(Explanation(topic, text) for topic, text in notes)


def _unknown(snapshot: IssueSnapshot, policy: Policy, customer: CustomerDecision | None) -> Notes:
    org = snapshot.organization
    if org:
        yield "customer", f"{org} has no entry in customers.yaml: unknown customer"
    elif customer is not None and customer.basis == "several":
        yield (
            "customer",
            f"the case names no organisation and {_who(snapshot)} matches several customers "
            f"({', '.join(customer.candidates)}): unknown customer until someone sets the "
            "organisation (the bridge does not guess)",
        )
    else:
        yield (
            "customer",
            f"the case names no organisation and {_who(snapshot)} is not a contact of any "
            "customer in customers.yaml nor a member of a customer's JSM organisation: "
            "unknown customer",
        )
    yield "sla", "no response target applies to an unknown customer: SLA state none"
    label = policy.rules.unknown_customer.label
    if snapshot.status_category == "done":
        yield "case", "the case is resolved: fields only, no labels or comments"
    elif label:
        yield "customer", f"label {label}"


def explain_known(
    snapshot: IssueSnapshot, policy: Policy, decisions: Decisions
) -> tuple[Explanation, ...]:
    return tuple(Explanation(topic, text) for topic, text in _known(snapshot, policy, decisions))


def _who(snapshot: IssueSnapshot) -> str:
    reporter = snapshot.reporter
    if reporter is None:
        return "it has no reporter, so it"
    return f"its reporter {reporter.email or reporter.display_name}"


def _known(snapshot: IssueSnapshot, policy: Policy, d: Decisions) -> Notes:
    facts = d.facts
    if d.customer is not None and d.customer.basis in ("contact", "membership"):
        how = (
            "is an authorised contact of"
            if d.customer.basis == "contact"
            else "is a member of the JSM organisation of"
        )
        yield (
            "customer",
            f"the case names no organisation: {_who(snapshot)} {how} "
            f"{facts.customer.organization}, so it is theirs",
        )
    yield "tier", f"{facts.customer.organization}: {facts.tier.name} tier"
    yield "contact", contact_text(snapshot, d.contact, facts.customer)
    yield "quota", quota_text(snapshot, d.quota)
    yield "entitlement", _entitlement_text(snapshot, d)
    if d.channel.applies:
        yield "channel", _channel_text(policy, d)
    yield from _priority(snapshot, d.priority)
    yield from _priority_write(snapshot, d.priority_write)
    if d.information.missing:
        yield "information", f"missing: {d.information.missing_names}"
        for lacking in d.information.why:
            yield "information", f"{lacking.shown}: {lacking.why}"
    elif d.information.required:
        yield "information", "every required item is supplied"
    for note in d.information.answered:
        yield "information", note
    if d.assignment.applies:
        if d.assignment.basis == "owned":
            yield "assignment", f"already assigned to {snapshot.assignee}: left alone"
        elif d.assignment.basis == "left_alone":
            yield (
                "assignment",
                "unassigned by a person (changelog): the named engineer is not assigned "
                "again, nor is anyone by a ladder step",
            )
        else:
            engineer = d.assignment.assignee
            yield "assignment", f"unassigned: assign to the named engineer {engineer}"
    yield "calendar", f"calendar {facts.calendar_name} ({facts.calendar.tz})"
    if d.clock is None:
        yield "sla", f"no response target for {d.priority.level}: SLA state none"
    else:
        yield from _clock(snapshot, policy, d.clock, facts.calendar, d.priority)
    if d.ladder is not None:
        yield from _ladder(policy, d, d.ladder)
    elif d.clock is not None:
        yield "escalation", not_running_reason(d.clock)
    if not d.open:
        yield "case", "the case is resolved: fields only (no labels, comments, assignment)"
        return
    yield from _quota_writes(snapshot, policy, d)


def _quota_writes(snapshot: IssueSnapshot, policy: Policy, d: Decisions) -> Notes:
    """What the quota moves an open case to: a transition, a correction."""
    move = over_quota_move(d, policy.flags)
    if move == "answered":
        yield "quota", "over quota but already answered: no transition"
    elif move == "transition":
        yield "quota", f"over quota: transition {policy.rules.quota.over_quota.transition}"
    if over_quota_cleared(snapshot, d, policy.flags) is not None:
        yield (
            "quota",
            f"flagged over quota before (label {policy.rules.quota.over_quota.label}) and "
            f"within the quota now: the correction {snapshot.key}/over-quota/cleared is "
            "posted (once"
            + (
                ", after the over-quota comment itself)"
                if policy.rules.quota.over_quota.comment
                else ")"
            ),
        )


def contact_text(snapshot: IssueSnapshot, contact: ContactDecision, customer: Customer) -> str:
    organization = customer.organization
    reporter = snapshot.reporter
    if reporter is None:
        return "the case has no reporter, so no authorised contact raised it"
    if contact.basis == "agent":
        return f"{reporter.display_name} is an agent raising the case on the customer's behalf"
    shown = reporter.email or reporter.account_id
    if contact.basis == "listed":
        return f"{shown} is an authorised contact of {organization}"
    listed = ", ".join(customer.contacts) or "nobody"
    return f"{shown} is not an authorised contact of {organization} (contacts: {listed})"


def _listing(keys: Sequence[str], total: int, limit: int) -> str:
    """The month's keys, bounded: all of a small month, else the first ``limit``."""
    if total <= max(limit, 12):
        return ", ".join(keys)
    return ", ".join(keys[:limit]) + f", ... ({total - limit} more)"


def quota_text(snapshot: IssueSnapshot, quota: QuotaDecision) -> str:
    counted, limit, month = quota.counted, quota.limit, quota.month
    position = quota.position
    if position is None:
        why = (
            f"flagged {' and '.join(f.replace('_', ' ') for f in quota.flags)} "
            "(quota.not_counted_flags)"
            if quota.flags
            else f"resolution {snapshot.resolution!r}"
        )
        return f"{snapshot.key} is not counted in {month}: {why}; {len(counted)} of {limit} used"
    used = position.used
    total = len(counted) + (0 if quota.listed else 1)
    shown = total if total <= max(limit, 12) else limit
    keys = [k[2] for k in counted[:shown]]
    if not quota.listed and used <= shown:
        keys.insert(used - 1, snapshot.key)
    keys = keys[:shown]
    state = "over quota" if position.over else "within quota"
    why = (
        f"case {used} of {limit} in {month} ({state}); oldest first: {_listing(keys, total, limit)}"
    )
    if quota.excluded:
        excluded = quota.excluded
        why += f"; not counted: {_listing(excluded[:12], len(excluded), limit)}"
    return why


def _entitlement_text(snapshot: IssueSnapshot, d: Decisions) -> str:
    request_type = snapshot.request_type
    needed, lacking = d.entitlement.needed, d.entitlement.lacking
    if d.entitlement.refused:  # only ever set when nothing is lacking
        return f"{request_type} needs {', '.join(needed)}: not entitled, {d.entitlement.refused}"
    if lacking:
        return f"{request_type} needs {', '.join(lacking)}, not included in {d.facts.tier.name}"
    if needed:
        return f"{request_type} needs {', '.join(needed)}: included"
    return f"{request_type or 'no request type'}: no entitlement needed"


def _channel_text(policy: Policy, d: Decisions) -> str:
    reminder = policy.rules.channel_reminder
    assert reminder is not None  # the decision applies only with a reminder
    tier = d.facts.tier.name
    label = f"; label {reminder.label}" if reminder.label else ""
    if d.channel.remind:
        return (
            f"raised by {d.channel.channel}: {tier} customers contact us via the support "
            f"portal, so the case gets the reminder{label}"
        )
    if d.channel.answered:
        return (
            f"raised by {d.channel.channel}, but already answered: no reminder (it thanks "
            f"the customer for a request just received){label}"
        )
    shown = " or ".join(sorted(reminder.channels))
    return f"not raised by {shown} (JQL request-channel-type): no reminder"


def _priority(snapshot: IssueSnapshot, decided: PriorityOutcome) -> Notes:
    yield "priority", f"requested {decided.requested.level}: {decided.requested.source}"
    if decided.engineer_override:
        yield "priority", f"engineer's choice respected: {decided.reason}"
        if decided.put_back is not None:
            yield (
                "priority",
                f"later request put back: {decided.put_back.source} (an engineer's priority "
                "stands until an engineer changes it)",
            )
        return
    for fired in decided.fired:
        effect = f"{fired.before} -> {fired.after}" if fired.changed else f"stays {fired.after}"
        why = "; ".join(fired.matched) or "always"
        yield "priority", f"rule {fired.rule.name!r} fired ({why}): {effect}"
    yield "priority", f"priority {decided.level}"


def _priority_write(snapshot: IssueSnapshot, write: PriorityWrite) -> Notes:
    if write.change is not None:
        yield "priority", change_text(write.change, snapshot.key)
    elif write.level is not None:
        yield "priority", f"the case already has {write.level} ({snapshot.priority}): no change"


def _clock(
    snapshot: IssueSnapshot,
    policy: Policy,
    clock: ResponseClock,
    calendar: BusinessCalendar,
    decided: PriorityOutcome,
) -> Notes:
    level = decided.level
    shown = "next business day" if clock.target.kind == "next_business_day" else "business"
    yield (
        "clock",
        f"{level} target {format_duration(clock.target_business)} ({shown}); created "
        f"{calendar.format(snapshot.created)} -> due {calendar.format(clock.due)}; "
        f"{format_duration(clock.business_used)} business time used",
    )
    closed = _holidays_between(calendar, snapshot.created, clock.due)
    if closed:
        yield "calendar", f"closed between creation and due: {closed}"
    worked = _holidays_between(calendar, snapshot.created, clock.due, worked=True)
    if worked:
        yield "calendar", f"open between creation and due, though a public holiday: {worked}"
    yield from _holds(clock, calendar)
    yield from _automatic_replies(snapshot, clock, calendar)
    if clock.first_response is not None:
        response = clock.first_response
        yield "clock", f"first response {calendar.format(response.at)}: {response.how}"
        if response.at == clock.due:
            yield "clock", "answered at the due instant: met (breach is strictly after due)"
    elif (
        clock.running and clock.business_used >= clock.target_business and clock.state != "breached"
    ):
        yield "clock", "the due instant has not passed: breach is strictly after due"
    # a priority change recomputes the due time from creation with the new target
    previous = decided.previous
    old_target = policy.rules.response.targets.get(previous) if previous is not None else None
    if old_target is not None:
        old_due = paused_due(calendar, snapshot.created, old_target, clock.completed_pauses).at
        yield (
            "clock",
            f"reprioritised {previous} -> {level}: due recomputed from creation, "
            f"was {calendar.format(old_due)}, now {calendar.format(clock.due)}",
        )
    yield "sla", f"SLA state {clock.state}"


def _holidays_between(
    calendar: BusinessCalendar, start: datetime, end: datetime, *, worked: bool = False
) -> str:
    """The public holidays on days with business hours from ``start`` to ``end`` (local
    dates): those the calendar closes on, or with ``worked`` those it works
    (``leave_out``)."""
    first, last = (t.astimezone(calendar.tz).date() for t in (start, end))
    found = calendar.holidays_on_working_days(first, last, worked=worked)
    note = " (the office works it: the calendar leaves it out)" if worked else ""
    return "; ".join(f"{d:%a %d %b %Y} {name}{note}" for d, name in found)


def _holds(clock: ResponseClock, calendar: BusinessCalendar) -> Notes:
    """The holds for approval, a pause status that does not pause, a status that is not a
    response."""
    late = [start for start, _ in clock.pauses if start >= clock.due]
    if clock.paused_business > timedelta(0) or len(late) < len(clock.pauses):
        yield (
            "clock",
            f"held for approval {len(clock.pauses) - len(late)} time(s): the clock stops "
            f"while held; ended holds moved the due time "
            f"{format_duration(clock.paused_business)} later",
        )
    if late:
        yield (
            "clock",
            f"held for approval from {calendar.format(late[0])}, after the due time: the hold "
            "paused nothing, the case is judged on its due time",
        )
    if clock.held:
        yield "clock", "held for quota approval: the report counts the case apart"
    if clock.parked is not None:
        yield (
            "clock",
            f"in pause status {clock.parked}, but no agent has replied publicly yet: "
            "the clock keeps running",
        )
    unheld = clock.not_a_hold
    if unheld is not None:
        yield (
            "clock",
            f"the customer moved the case into {unheld.status} at "
            f"{calendar.format(unheld.start)}: not a hold for quota approval (a customer's "
            "move never is); the clock ran on",
        )
    moved = clock.not_a_response
    if moved is not None:
        who = "the customer" if moved.by is Actor.CUSTOMER else f"a non-agent ({moved.by})"
        yield (
            "clock",
            f"{who} moved the case into {moved.status} at {calendar.format(moved.start)}: "
            "not a response (only an agent's action is)",
        )


def _automatic_replies(
    snapshot: IssueSnapshot, clock: ResponseClock, calendar: BusinessCalendar
) -> Notes:
    """An app's public comment before the first response (an automatic acknowledgement,
    say): why the case's clock ran on past it."""
    answered = clock.first_response.at if clock.first_response is not None else None
    for comment in snapshot.comments:
        automatic = comment.public and comment.author.actor is Actor.APP
        if automatic and (answered is None or comment.created < answered):
            yield (
                "clock",
                f"public comment by {comment.author.display_name} at "
                f"{calendar.format(comment.created)}: an app's account, not an agent, "
                "so not a response",
            )
            return


def _ladder(policy: Policy, d: Decisions, ladder: LadderOutcome) -> Notes:
    if not policy.rules.escalation:
        yield "escalation", "no escalation ladder configured"
        return
    clock = d.clock
    assert clock is not None  # the ladder runs only while the clock runs
    full = clock.target_business
    share = clock.business_used / full if full.total_seconds() > 0 else 1.0
    for rung in ladder.rungs:
        done = ", ".join(_step_actions(rung, ladder, d.facts.customer.organization))
        step = rung.step
        yield (
            "escalation",
            f"step {step.index + 1} at {step.at:.0%} reached ({share:.0%} of the target "
            f"used): " + (done or "no actions"),
        )
    if clock.completed_pauses and ladder.rungs:
        yield (
            "escalation",
            "steps taken before a hold are not taken again (their ids carry the due time "
            f"before pauses, {d.facts.calendar.format(clock.unpaused_due)})",
        )
    if ladder.next_step is not None and ladder.next_step_at is not None:
        at = d.facts.calendar.format(ladder.next_step_at)
        yield (
            "escalation",
            f"next step {ladder.next_step.index + 1} at {ladder.next_step.at:.0%}: {at}",
        )
    elif not ladder.rungs:
        yield "escalation", f"no ladder step applies to {d.priority.level}"
    else:
        yield "escalation", "every ladder step has been reached"


def _step_actions(rung: Rung, ladder: LadderOutcome, organization: str) -> Iterator[str]:
    assigned = {(a.step, a.position): a for a in ladder.assignments}
    for act in rung.actions:
        action = act.action
        if action.kind == "comment" and action.comment is not None:
            yield f"{action.comment.visibility} comment"
        elif action.kind == "label":
            yield f"label {action.label}"
        elif action.kind == "transition":
            yield f"transition {action.transition}"
        else:
            made = assigned[(rung.step.index, act.position)]
            if made.how == "no_engineer":
                yield f"assign skipped: {organization} has no named engineer"
            elif made.how == "no_owner":
                yield "assign skipped: the customer's calendar has no escalation owner"
            elif made.how == "left_alone":
                yield "assign skipped: a person assigned or unassigned the case before"
            elif made.how == "owned":
                yield f"assign skipped: already assigned to {made.who}"
            else:
                yield f"assign to {made.who}"
