"""The response clock: target, first response, pauses, due time and SLA state.

All business time is measured on the customer's calendar.  A target is a
business duration (``4h``; or for ``next_business_day`` the business time from
creation to the close of the next business day).  Paused business time before
the due moment moves the due time later by the same amount; a pause that starts
after the due moment does not undo a breach.

Only an agent's action answers a case: an agent's public comment, or an agent
moving it into a responded status (a customer's portal transition is not a
response).  Pause statuses ("Waiting for customer") stop the clock only after an
agent has replied publicly; that reply is itself the first response, so before
it a case parked in a pause status keeps its clock running (``parked`` says so
for ``explain``).  What does pause an unanswered case is a hold for quota
approval: the clock stops while the case sits in an approval status someone other
than the customer moved it into (``holds_for_approval``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from bridge.policy.model import (
    Actor,
    CaseComment,
    IssueSnapshot,
    ResponsePolicy,
    SlaState,
    Target,
)

if TYPE_CHECKING:  # pragma: no cover
    from bridge.policy.clock import BusinessCalendar

Interval = tuple[datetime, datetime]


class StatusSpan(NamedTuple):
    status: str
    category: str | None  # None when unknown (the status a case was created in)
    start: datetime
    end: datetime | None  # None: the case is still in it
    by: Actor  # who moved the case into it (the reporter for the first)
    #: the status as the rules name statuses (stripped, case-folded): folded once, read
    #: by each question the clock asks of the span (answered, held, paused)
    folded: str


class FirstResponse(NamedTuple):
    at: datetime
    how: str


class ResponseClock(NamedTuple):
    target: Target
    target_business: timedelta  # the target as a business duration
    first_response: FirstResponse | None
    pauses: tuple[Interval, ...]  # paused spans up to the response (or now), clipped
    completed_pauses: tuple[Interval, ...]  # the pauses that have ended (used for the due)
    paused_since: datetime | None  # set while the case sits in a pause status unanswered
    #: (a pause that began after the due moment leaves the state `breached`)
    paused_business: timedelta  # business time of the completed pauses before the due moment
    due: datetime
    business_used: timedelta
    state: SlaState
    done: bool  # the case is in a Done-category status now
    #: the case's creation as the snapshot gives it (snapshots keep UTC: the calendar's
    #: fastest input); ``moment`` counts from it
    created: datetime
    #: the due time the target gives from creation, before any pause moved it: the
    #: escalation's action ids carry it, so a step fires once whatever pauses come between
    unpaused_due: datetime
    #: ``unpaused_due`` as the escalation's action ids carry it (:func:`due_stamp`)
    stamp: str
    #: held for quota approval: in an approval status now, or resolved straight from one
    held: bool = False
    #: an unanswered case sits in this pause status, yet its clock runs (no agent reply yet)
    parked: str | None = None
    #: a responded status someone other than an agent moved the case into (not a response)
    not_a_response: StatusSpan | None = None
    #: an approval status the case was moved into before its first response that does
    #: not hold it (``holds_for_approval``): its clock ran on there
    not_a_hold: StatusSpan | None = None

    @property
    def running(self) -> bool:
        """The clock still runs: no response, not paused, not done (breached still runs)."""
        return self.first_response is None and self.paused_since is None and not self.done

    def moment(self, calendar: BusinessCalendar, share: float) -> datetime:
        """When ``share`` of the target is used up (with the completed pauses)."""
        unpaused = calendar.add(self.created, self.target_business * share)
        return shifted_due(calendar, unpaused, self.completed_pauses)


def status_spans(snapshot: IssueSnapshot) -> list[StatusSpan]:
    """The statuses the case has been in, from creation, oldest first."""
    creator = snapshot.reporter.actor if snapshot.reporter is not None else Actor.UNKNOWN
    if not snapshot.status_history:  # the usual case: no sort needed
        now_in = snapshot.status_category
        status = snapshot.status
        return [StatusSpan(status, now_in, snapshot.created, None, creator, _folded(status))]
    history = sorted(snapshot.status_history, key=lambda c: c.at)
    spans: list[StatusSpan] = []
    first_status = history[0].from_status or snapshot.status
    start, status, by = snapshot.created, first_status, creator
    category: str | None = None
    for change in history:
        at = max(change.at, snapshot.created)
        spans.append(StatusSpan(status, category, start, at, by, _folded(status)))
        start, status, category, by = at, change.to_status, change.to_category, change.by
    spans.append(StatusSpan(status, category, start, None, by, _folded(status)))
    return spans


def _folded(status: str) -> str:
    return status.strip().casefold()


def is_bridge(person_email: str | None, account_id: str, bridge_account: str | None) -> bool:
    if not bridge_account:
        return False
    wanted = bridge_account.strip().casefold()
    return bool(person_email and person_email.casefold() == wanted) or bool(
        account_id and account_id.casefold() == wanted
    )


def counts_as_response(comment: CaseComment, bridge_account: str | None) -> bool:
    """A public comment by an agent who is not the bridge.

    Only authors known to be agents count: a comment whose author cannot be
    classified (Actor.UNKNOWN) does not stop the clock, so a misread author
    can never hide a breach.  Comments carrying the bridge's action id are the
    bridge's own.
    """
    return (
        comment.public
        and comment.author.actor is Actor.ENGINEER
        and comment.action_id is None
        and not is_bridge(comment.author.email, comment.author.account_id, bridge_account)
    )


def first_response(
    snapshot: IssueSnapshot,
    policy: ResponsePolicy,
    spans: Sequence[StatusSpan],
    bridge_account: str | None,
) -> FirstResponse | None:
    """The earliest response: an agent's public comment, an agent moving the case into a
    responded status, or Done."""
    earliest = comment_response(snapshot, bridge_account)
    found = [earliest] if earliest is not None else []
    responded = policy.responded_names
    for span in spans:
        if span.folded in responded and span.by is Actor.ENGINEER:
            found.append(FirstResponse(span.start, f"entered responded status {span.status}"))
            break
        if span.category == "done":
            entered = span.start
            if not snapshot.status_history and snapshot.resolved is not None:
                # no changelog: the resolution date is when it entered Done
                entered = max(snapshot.resolved, snapshot.created)
            found.append(FirstResponse(entered, f"entered Done status {span.status}"))
            break
    if not found and snapshot.status_category == "done":
        at = snapshot.resolved or snapshot.updated
        found.append(FirstResponse(max(at, snapshot.created), f"resolved ({snapshot.status})"))
    if not found:
        return None
    return min(found, key=lambda r: r.at)


def comment_response(snapshot: IssueSnapshot, bridge_account: str | None) -> FirstResponse | None:
    """The earliest public comment by an agent, as a response (the first of equal times)."""
    earliest: FirstResponse | None = None
    for comment in snapshot.comments:
        if counts_as_response(comment, bridge_account):
            at = max(comment.created, snapshot.created)
            if earliest is None or at < earliest.at:
                earliest = FirstResponse(at, f"public comment by {comment.author.display_name}")
    return earliest


def shifted_due(calendar: BusinessCalendar, due: datetime, pauses: Sequence[Interval]) -> datetime:
    """The due time ``due`` (reckoned from creation), moved later by each pause that starts
    before it."""
    for start, end in sorted(pauses):
        if start < due:
            due = calendar.add(due, calendar.elapsed(start, end))
    return due


class Due(NamedTuple):
    """When a target set at a case's creation falls due (``paused_due``: moved later by
    the case's ended pauses), and the target's length in business time."""

    at: datetime  # in the calendar's zone, as the calendar answers
    business: timedelta
    #: the same instant in UTC, to compare with ``now`` and Jira's times (kept in UTC):
    #: CPython compares datetimes of two zones through four offset look-ups
    utc: datetime
    #: the instant as the escalation's action ids carry it (:func:`due_stamp`), made once
    #: with the due time the calendar keeps
    stamp: str


def due_stamp(due: datetime) -> str:
    """``20261130T0700Z``: the due time in UTC, to the minute (years padded to four
    digits).  %-formatting writes it in half the time an f-string with five format
    specifications takes."""
    u = due.astimezone(UTC)
    return "%04d%02d%02dT%02d%02dZ" % (u.year, u.month, u.day, u.hour, u.minute)  # noqa: UP031


def _due(at: datetime, business: timedelta) -> Due:
    """The due record of the instant ``at`` (in the calendar's zone)."""
    utc = at.astimezone(UTC)
    return Due(at, business, utc, due_stamp(utc))


def target_due(calendar: BusinessCalendar, created: datetime, target: Target) -> Due:
    """When a target set at ``created`` falls due, and its length in business time: the
    one answer the response clock, ``explain`` and ``jsm-bridge due`` all use (the
    calendar keeps it: it depends on nothing else).  Kept by the instant in UTC: the two
    instants of a repeated hour are one wall-clock time apart."""
    key = (created.astimezone(UTC), target)
    found = calendar.dues.get(key)
    if found is None:
        found = calendar.dues.keep(key, _target_due(calendar, created, target))
    return found


def paused_due(
    calendar: BusinessCalendar, created: datetime, target: Target, pauses: Sequence[Interval]
) -> Due:
    """When a target set at ``created`` falls due once the ended ``pauses`` have moved it:
    the response clock's due time, and the one ``explain`` shows for the target a
    reprioritised case had before."""
    return moved_by(calendar, target_due(calendar, created, target), pauses)


def moved_by(calendar: BusinessCalendar, due: Due, pauses: Sequence[Interval]) -> Due:
    """``due`` moved later by the ended ``pauses`` that start before it."""
    if not pauses:
        return due
    return _due(shifted_due(calendar, due.at, pauses), due.business)


def _target_due(calendar: BusinessCalendar, created: datetime, target: Target) -> Due:
    if target.kind == "next_business_day":
        return _due(*calendar.next_close(created))
    if target.duration is None:
        raise ValueError("a duration target needs a duration")
    return _due(calendar.add(created, target.duration), target.duration)


def response_clock(
    snapshot: IssueSnapshot,
    target: Target,
    policy: ResponsePolicy,
    calendar: BusinessCalendar,
    bridge_account: str | None,
    now: datetime,
) -> ResponseClock:
    """The response clock of a case at ``now``: the record the SLA decisions read."""
    if snapshot.status_category != "done" and _neutral_throughout(snapshot, policy):
        response = comment_response(snapshot, bridge_account)
        return _straight_clock(snapshot, target, policy, calendar, now, response)
    return _general_clock(snapshot, target, policy, calendar, bridge_account, now)


def _neutral(status: str | None, policy: ResponsePolicy) -> bool:
    """The status neither holds, pauses nor answers the case."""
    return _folded(status or "") not in policy.clock_names


def _neutral_throughout(snapshot: IssueSnapshot, policy: ResponsePolicy) -> bool:
    """No status the case has been in holds, pauses, answers or closes it: its clock runs
    from creation until an agent's public comment answers it.  Statuses that do neither
    (an escalation status, say) leave the clock running."""
    if not _neutral(snapshot.status, policy):
        return False
    for change in snapshot.status_history:
        if change.to_category == "done":
            return False
        if not (_neutral(change.to_status, policy) and _neutral(change.from_status, policy)):
            return False
    return True


class Holds(NamedTuple):
    """The case's holds for quota approval up to the clock's cutoff."""

    spans: list[Interval]  # every held span, clipped to the cutoff
    completed: list[Interval]  # those that ended (they move the due time)
    since: datetime | None  # the start of a hold still going on, unanswered


def holds_for_approval(span: StatusSpan, policy: ResponsePolicy) -> bool:
    """The move into ``span`` holds the case for quota approval: an approval status that
    someone other than the customer moved it into (a customer's portal transition is
    never a hold, as it is never a pause)."""
    return span.folded in policy.approval_names and span.by is not Actor.CUSTOMER


def _holds(
    spans: Sequence[StatusSpan], policy: ResponsePolicy, cutoff: datetime, answered: bool
) -> Holds:
    """The holds for quota approval before ``cutoff``: the clock's only pauses before a
    first response (a pause status counts only after an agent's public reply, which is
    itself the first response)."""
    held: list[Interval] = []
    completed: list[Interval] = []
    since: datetime | None = None
    for span in spans:
        if span.start >= cutoff or not holds_for_approval(span, policy):
            continue
        end = cutoff if span.end is None else min(span.end, cutoff)
        if end <= span.start:
            continue
        held.append((span.start, end))
        if span.end is not None or answered:
            completed.append((span.start, end))
        else:
            since = span.start
    return Holds(held, completed, since)


def _held_now(
    spans: Sequence[StatusSpan],
    policy: ResponsePolicy,
    response: FirstResponse | None,
    due_utc: datetime,
) -> bool:
    """Held for quota approval now, or resolved straight from such a hold (one never
    lifted), by a hold that began before the due time and the first response (one
    that began later paused nothing: the case is judged on its breach or its answer)."""
    if not policy.approval_names:
        return False
    last = spans[-1]
    if last.category == "done" and len(spans) > 1:
        last = spans[-2]
    elif last.folded not in policy.approval_names:
        return False
    began_in_time = last.start < due_utc and (response is None or last.start < response.at)
    return began_in_time and holds_for_approval(last, policy)


class SideNotes(NamedTuple):
    """What ``explain`` tells of statuses that did not do what their names suggest."""

    parked: str | None  # the pause status an unanswered case sits in (its clock runs)
    moved: StatusSpan | None  # the first responded status a non-agent moved the case into
    not_a_hold: StatusSpan | None  # the first approval status, before a response, not a hold


def _side_notes(
    spans: Sequence[StatusSpan], policy: ResponsePolicy, response: FirstResponse | None
) -> SideNotes:
    last = spans[-1]
    parked = None
    if response is None and last.folded in policy.paused_names:
        parked = last.status
    moved = next(
        (
            span
            for span in spans
            if span.folded in policy.responded_names and span.by is not Actor.ENGINEER
        ),
        None,
    )
    not_a_hold = next(
        (
            span
            for span in spans
            if span.folded in policy.approval_names
            and (response is None or span.start < response.at)
            and not holds_for_approval(span, policy)
        ),
        None,
    )
    return SideNotes(parked, moved, not_a_hold)


def _general_clock(
    snapshot: IssueSnapshot,
    target: Target,
    policy: ResponsePolicy,
    calendar: BusinessCalendar,
    bridge_account: str | None,
    now: datetime,
) -> ResponseClock:
    """``response_clock`` by walking the case's status spans and comments."""
    created = snapshot.created
    spans = status_spans(snapshot)
    response = first_response(snapshot, policy, spans, bridge_account)
    cutoff = max(created, min(now, response.at) if response is not None else now)
    holds = _holds(spans, policy, cutoff, response is not None)
    plain = target_due(calendar, created, target)  # the target's own due time
    due, business, due_utc, _ = moved_by(calendar, plain, holds.completed)
    paused_business = _ZERO
    if holds.completed:  # how far the pauses moved it
        paused_business = calendar.elapsed(created, due) - calendar.elapsed(created, plain.at)
    used = calendar.elapsed(created, cutoff, holds.spans)
    state = clock_state(response, holds.since, due_utc, used, business, policy, now)
    notes = _side_notes(spans, policy, response)
    return ResponseClock(
        target=target,
        target_business=business,
        first_response=response,
        pauses=tuple(holds.spans),
        completed_pauses=tuple(holds.completed),
        paused_since=holds.since,
        paused_business=paused_business,
        due=due,
        business_used=used,
        state=state,
        done=snapshot.status_category == "done",
        created=created,
        unpaused_due=plain.at,
        stamp=plain.stamp,
        held=_held_now(spans, policy, response, due_utc),
        parked=notes.parked,
        not_a_response=notes.moved,
        not_a_hold=notes.not_a_hold,
    )


def _straight_clock(
    snapshot: IssueSnapshot,
    target: Target,
    policy: ResponsePolicy,
    calendar: BusinessCalendar,
    now: datetime,
    response: FirstResponse | None,
) -> ResponseClock:
    """``response_clock`` for the usual case: open, and never held, paused, answered by a
    status or closed.

    Nothing pauses the clock: it runs from creation to the first response (an agent's
    public comment, ``response``) or to ``now``, and the due time is the target's own.
    """
    created = snapshot.created
    due, business, due_utc, stamp = target_due(calendar, created, target)
    cutoff = min(now, response.at) if response is not None else now
    used = calendar.elapsed(created, cutoff)  # nothing when ``now`` is before creation
    state = clock_state(response, None, due_utc, used, business, policy, now)
    return ResponseClock(
        target=target,
        target_business=business,
        first_response=response,
        pauses=(),
        completed_pauses=(),
        paused_since=None,
        paused_business=_ZERO,
        due=due,
        business_used=used,
        state=state,
        done=False,
        created=created,
        unpaused_due=due,
        stamp=stamp,
    )


_ZERO = timedelta(0)


def clock_state(
    response: FirstResponse | None,
    held_since: datetime | None,
    due_utc: datetime,
    used: timedelta,
    business: timedelta,
    policy: ResponsePolicy,
    now: datetime,
) -> SlaState:
    """The clock's state, the one rule both ways of reading the clock use: met or missed
    once answered (by the due time, in UTC), paused while a hold that began before the
    due time goes on, else breached past the due time, at risk from ``at_risk_at`` of
    the target's business time used, or running."""
    if response is not None:
        return "met" if response.at <= due_utc else "missed"
    if held_since is not None and held_since < due_utc:
        return "paused"
    if now > due_utc:
        return "breached"
    if business > _ZERO and used / business >= policy.at_risk_at:
        return "at_risk"
    return "running"


def format_duration(d: timedelta) -> str:
    seconds = int(d.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes = rest // 60
    return f"{sign}{hours}h{minutes:02d}m"
