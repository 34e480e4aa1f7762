"""The response clock: target, first response, pauses, due time and SLA state.

All business time is measured on the customer's calendar.  A target is a
business duration (``4h``; or for ``next_business_day`` the business time from
creation to the close of the next business day).  Paused business time before
the due moment moves the due time later by the same amount; a pause that starts
after the due moment does not undo a breach.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
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

    @property
    def running(self) -> bool:
        """The clock still runs: no response, not paused, not done (breached still runs)."""
        return self.first_response is None and self.paused_since is None and not self.done

    def moment(self, calendar: BusinessCalendar, share: float) -> datetime:
        """When ``share`` of the target is used up (with the completed pauses)."""
        created = self.created
        if not self.completed_pauses:  # the usual case: nothing to shift by
            return calendar.add(created, self.target_business * share)
        return shifted_due(calendar, created, self.target_business * share, self.completed_pauses)


def status_spans(snapshot: IssueSnapshot) -> list[StatusSpan]:
    """The statuses the case has been in, from creation, oldest first."""
    if not snapshot.status_history:  # the usual case: no sort needed
        return [StatusSpan(snapshot.status, snapshot.status_category, snapshot.created, None)]
    history = sorted(snapshot.status_history, key=lambda c: c.at)
    spans: list[StatusSpan] = []
    first_status = history[0].from_status or snapshot.status
    start, status, category = snapshot.created, first_status, None
    for change in history:
        at = max(change.at, snapshot.created)
        spans.append(StatusSpan(status, category, start, at))
        start, status, category = at, change.to_status, change.to_category
    spans.append(StatusSpan(status, category, start, None))
    return spans


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
    """The earliest response: an agent's public comment, a responded status, or Done."""
    found: list[FirstResponse] = []
    for comment in snapshot.comments:
        if counts_as_response(comment, bridge_account):
            who = comment.author.display_name
            found.append(
                FirstResponse(max(comment.created, snapshot.created), f"public comment by {who}")
            )
    responded = policy.responded_names
    for span in spans:
        if span.status.strip().casefold() in responded:
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


def shifted_due(
    calendar: BusinessCalendar,
    created: datetime,
    business: timedelta,
    pauses: Sequence[Interval],
) -> datetime:
    """``business`` time after ``created``, moved later by each pause that starts before it."""
    due = calendar.add(created, business)
    for start, end in sorted(pauses):
        if start < due:
            due = calendar.add(due, calendar.elapsed(start, end))
    return due


def target_due(
    calendar: BusinessCalendar, created: datetime, target: Target
) -> tuple[datetime, timedelta]:
    """When a target set at ``created`` falls due, and its length in business time: the
    one answer the response clock, ``explain`` and ``jsm-bridge due`` all use."""
    if target.kind == "next_business_day":
        return calendar.next_close(created)
    if target.duration is None:
        raise ValueError("a duration target needs a duration")
    return calendar.add(created, target.duration), target.duration


def response_clock(
    snapshot: IssueSnapshot,
    target: Target,
    policy: ResponsePolicy,
    calendar: BusinessCalendar,
    bridge_account: str | None,
    now: datetime,
) -> ResponseClock:
    """The response clock of a case at ``now``: the record the SLA decisions read."""
    if snapshot.status_category != "done" and untouched(snapshot, policy, bridge_account):
        return _untouched_clock(snapshot, target, policy, calendar, now)
    return _general_clock(snapshot, target, policy, calendar, bridge_account, now)


def _neutral(status: str | None, policy: ResponsePolicy) -> bool:
    """The status neither pauses the clock nor counts as a response."""
    folded = (status or "").strip().casefold()
    return folded not in policy.paused_names and folded not in policy.responded_names


def untouched(snapshot: IssueSnapshot, policy: ResponsePolicy, bridge_account: str | None) -> bool:
    """The clock runs from creation untouched: no status the case has been in pauses,
    answers or closes, and no comment is a response.  Statuses that do neither (an
    escalation status, say) and comments that are not responses (the customer's,
    internal notes, the bridge's own) leave the clock running from creation."""
    if not _neutral(snapshot.status, policy):
        return False
    for change in snapshot.status_history:
        if change.to_category == "done":
            return False
        if not (_neutral(change.to_status, policy) and _neutral(change.from_status, policy)):
            return False
    return not any(counts_as_response(c, bridge_account) for c in snapshot.comments)


def _pauses(
    spans: Sequence[StatusSpan], policy: ResponsePolicy, cutoff: datetime, answered: bool
) -> tuple[list[Interval], list[Interval], datetime | None]:
    """The paused spans up to ``cutoff``, those of them that ended, and the start of a
    pause still going on (None when there is none)."""
    pauses: list[Interval] = []
    completed: list[Interval] = []
    paused_since: datetime | None = None
    for span in spans:
        if span.status.strip().casefold() not in policy.paused_names or span.start >= cutoff:
            continue
        end = cutoff if span.end is None else min(span.end, cutoff)
        if end <= span.start:
            continue
        pauses.append((span.start, end))
        if span.end is not None or answered:
            completed.append((span.start, end))
        else:
            paused_since = span.start
    return pauses, completed, paused_since


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
    pauses, completed, paused_since = _pauses(spans, policy, cutoff, response is not None)
    plain_due, business = target_due(calendar, created, target)
    due = shifted_due(calendar, created, business, completed)
    paused_business = _ZERO
    if completed:
        paused_business = calendar.elapsed(created, due) - calendar.elapsed(created, plain_due)
    used = calendar.elapsed(created, cutoff, pauses)
    state: SlaState
    if response is not None:
        state = "met" if response.at <= due else "missed"
    elif paused_since is not None and paused_since < due:
        state = "paused"
    else:
        state = _running_state(now > due, used, business, policy)
    return ResponseClock(
        target=target,
        target_business=business,
        first_response=response,
        pauses=tuple(pauses),
        completed_pauses=tuple(completed),
        paused_since=paused_since,
        paused_business=paused_business,
        due=due,
        business_used=used,
        state=state,
        done=snapshot.status_category == "done",
        created=created,
    )


def _untouched_clock(
    snapshot: IssueSnapshot,
    target: Target,
    policy: ResponsePolicy,
    calendar: BusinessCalendar,
    now: datetime,
) -> ResponseClock:
    """``response_clock`` for the usual case: open, never paused, never answered.

    There is no first response and no pause: the clock runs from creation to ``now``
    and the due time is the target's own.
    """
    created = snapshot.created
    due, business = target_due(calendar, created, target)
    used = calendar.elapsed(created, now)  # nothing when ``now`` is before creation
    past_due = now > due
    return ResponseClock(
        target=target,
        target_business=business,
        first_response=None,
        pauses=(),
        completed_pauses=(),
        paused_since=None,
        paused_business=_ZERO,
        due=due,
        business_used=used,
        state=_running_state(past_due, used, business, policy),
        done=False,
        created=created,
    )


_ZERO = timedelta(0)


def _running_state(
    past_due: bool, used: timedelta, business: timedelta, policy: ResponsePolicy
) -> SlaState:
    """The state of a clock still running: breached, at risk or running."""
    if past_due:
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
