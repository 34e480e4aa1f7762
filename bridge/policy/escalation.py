"""The escalation ladder: steps at shares of the response target, while the clock runs.

A step is reached when the business time used is at least its share of the
target (and it applies to the case's priority).  Every reached step is returned,
in order, even when several were reached at once: the sync layer's ledger makes
each action happen once.  Action ids carry the due time, so a recomputed due
time (new priority, ended pause) is a new escalation.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from bridge.policy.model import (
    Customer,
    DesiredComment,
    DesiredTransition,
    EscalationAction,
    EscalationStep,
    Explanation,
    IssueSnapshot,
    PriorityLevel,
    filled,
)
from bridge.policy.priority import slug
from bridge.policy.sla import ResponseClock

if TYPE_CHECKING:  # pragma: no cover
    from bridge.policy.clock import BusinessCalendar

Render = Callable[[str], str]  # a comment template's text -> the comment's text


class LadderOutcome(NamedTuple):
    reached: tuple[int, ...]  # step indexes
    labels: frozenset[str]
    comments: tuple[DesiredComment, ...]
    transitions: tuple[DesiredTransition, ...]
    assignee: str | None
    next_step_at: datetime | None  # when the next unreached step is due
    explanation: tuple[Explanation, ...]


def applies(step: EscalationStep, level: PriorityLevel) -> bool:
    return step.priorities is None or level in step.priorities


#: due_stamp() by instant: dues cluster on closes of business, shared by many cases
_STAMPS: dict[datetime, str] = {}


#: due_stamp() by the due time's identity: many cases share one due object (a business
#: day's close from the calendar), and hashing a zoned time asks its zone for the offset
_STAMPS_BY_ID: dict[int, tuple[datetime, str]] = {}


def due_stamp(due: datetime) -> str:
    """``20261130T0700Z``: the due time in UTC, to the minute."""
    same = _STAMPS_BY_ID.get(id(due))
    if same is not None and same[0] is due:  # the entry keeps ``due`` alive: ids stay unique
        return same[1]
    stamp = _due_stamp(due)
    if len(_STAMPS_BY_ID) >= 4096:  # bounded
        _STAMPS_BY_ID.clear()
    _STAMPS_BY_ID[id(due)] = (due, stamp)
    return stamp


def _due_stamp(due: datetime) -> str:
    # Only fold=0 times are remembered: two times of one zone compare by their wall
    # clock alone, so the two instants of a repeated hour would share an entry.
    if due.fold == 0:
        found = _STAMPS.get(due)
        if found is not None:
            return found
    u = due.astimezone(UTC)
    if u.year < 1000:  # strftime's %Y does not pad years below 1000 on every platform
        stamp = u.strftime("%Y%m%dT%H%MZ")
    else:
        # the same text as strftime, without its per-call format parsing
        stamp = f"{u.year}{u.month:02d}{u.day:02d}T{u.hour:02d}{u.minute:02d}Z"
    if due.fold == 0:
        if len(_STAMPS) >= 4096:  # bounded
            _STAMPS.clear()
        _STAMPS[due] = stamp
    return stamp


def action_id(key: str, step: EscalationStep, action_index: int, due: datetime | str) -> str:
    stamp = due if isinstance(due, str) else due_stamp(due)
    return f"{key}/esc/{step.index}.{action_index}/{stamp}"


class _Action(NamedTuple):
    """A step's action with what every case repeats worked out once."""

    position: int  # in the step's actions (part of its action id)
    kind: str
    action: EscalationAction
    public: bool  # a comment's visibility
    slug: str  # a transition's name as an id segment
    id_part: str  # "/esc/{step}.{position}/": the action id is key + id_part + due stamp


class _Step(NamedTuple):
    step: EscalationStep
    actions: tuple[_Action, ...]  # only the actions that do something
    quiet: tuple[_Action, ...]  # the same without labels (in ``labels``): what a cycle runs
    within: bool  # at or below 100 %: reached by every case past its due time
    #: steps are reached in order: the labels and step indexes of this step and every
    #: step before it (what a case that reached this far carries)
    labels: frozenset[str]
    reached: tuple[int, ...]


def _prepare(step: EscalationStep, before: _Step | None) -> _Step:
    actions: list[_Action] = []
    for i, action in enumerate(step.actions):
        part = action_id("", step, i, "")  # the id's middle: key + part + due stamp
        if action.kind == "comment" and action.comment is not None:
            public = action.comment.visibility == "public"
            actions.append(_Action(i, "comment", action, public, "", part))
        elif action.kind == "label" and action.label:
            actions.append(_Action(i, "label", action, False, "", part))
        elif action.kind == "transition" and action.transition:
            actions.append(_Action(i, "transition", action, False, slug(action.transition), part))
        elif action.kind == "assign" and action.assign:
            actions.append(_Action(i, "assign", action, False, "", part))
    labels = frozenset(a.action.label for a in actions if a.kind == "label" and a.action.label)
    if before is not None:
        labels |= before.labels
    reached = (*before.reached, step.index) if before is not None else (step.index,)
    quiet = tuple(a for a in actions if a.kind != "label")
    return _Step(step, tuple(actions), quiet, step.at <= 1, labels, reached)


#: The ladder last asked for, and per level its applicable steps by share, then index.
_ORDER: tuple[tuple[EscalationStep, ...] | None, dict[PriorityLevel, tuple[_Step, ...]]] = (
    None,
    {},
)


def _in_order(steps: tuple[EscalationStep, ...], level: PriorityLevel) -> tuple[_Step, ...]:
    """The steps that apply to ``level``, by share, then index (remembered per ladder)."""
    global _ORDER
    last, by_level = _ORDER  # one tuple: read whole even with threads
    if last is not steps:
        by_level = {}
        _ORDER = (steps, by_level)
    found = by_level.get(level)
    if found is None:
        prepared: list[_Step] = []
        for step in sorted(steps, key=lambda s: (s.at, s.index)):
            if applies(step, level):
                prepared.append(_prepare(step, prepared[-1] if prepared else None))
        found = by_level[level] = tuple(prepared)
    return found


def run_ladder(
    *,
    snapshot: IssueSnapshot,
    steps: tuple[EscalationStep, ...],
    level: PriorityLevel,
    clock: ResponseClock,
    calendar: BusinessCalendar,
    customer: Customer,
    assignee: str | None,
    render: Render,
    explain: bool = True,
) -> LadderOutcome:
    """The ladder's actions for a case whose clock is running.

    ``assignee`` is who owns the case after earlier decisions (the named
    engineer rule); a ladder ``assign`` only applies to a case still unowned.
    """
    notes: list[Explanation] = []
    last: _Step | None = None  # the last step reached (steps are reached in order)
    comments: list[DesiredComment] = []
    transitions: list[DesiredTransition] = []
    new_assignee: str | None = None
    owner = assignee
    next_at: datetime | None = None
    next_step: EscalationStep | None = None
    share = (
        clock.business_used / clock.target_business
        if explain and clock.target_business.total_seconds() > 0
        else 1.0
    )
    stamp = ""  # the due stamp of the action ids, made when a reached step needs it
    full, used = clock.target_business, clock.business_used
    key = snapshot.key
    past = used >= full  # the usual case: every step up to 100 % is reached
    for prepared in _in_order(steps, level):
        step = prepared.step
        if not (past and prepared.within) and used < full * step.at:
            if next_step is None:
                next_step = step
                next_at = clock.moment(calendar, step.at)
                if not explain:
                    break  # steps are in order of their share: the rest are not reached either
            continue
        last = prepared
        if not stamp:
            stamp = due_stamp(clock.due)
        done: list[str] = []  # what the step did, for explain
        for _, kind, action, public, transition_slug, id_part in (
            prepared.actions if explain else prepared.quiet
        ):
            if kind == "comment":
                assert action.comment is not None  # checked by _prepare
                comments.append(
                    _deferred(  # rendered only if the planner posts it
                        key + id_part + stamp,  # action_id(), inlined
                        public,
                        render,
                        action.comment.text,
                    )
                )
                if explain:
                    done.append(f"{action.comment.visibility} comment")
            elif kind == "label":  # the step's labels: in prepared.labels
                if explain:
                    done.append(f"label {action.label}")
            elif kind == "transition":
                # the transition's name is part of its id: a rule file whose name had a
                # typo (skipped: "not available") fires once the name is corrected
                assert action.transition is not None
                transitions.append(
                    _transition(
                        f"{key}{id_part}{stamp}/{transition_slug}",
                        action.transition,
                    )
                )
                if explain:
                    done.append(f"transition {action.transition}")
            else:  # assign
                target = action.assign
                assert target is not None
                if target == "named_engineer":
                    if customer.named_engineer is None:
                        if explain:
                            done.append(
                                f"assign skipped: {customer.organization} has no named engineer"
                            )
                        continue
                    target = customer.named_engineer
                if owner is not None:
                    if explain:
                        done.append(f"assign skipped: already assigned to {owner}")
                    continue
                owner = new_assignee = target
                if explain:
                    done.append(f"assign to {target}")
        if explain:
            notes.append(
                Explanation(
                    "escalation",
                    f"step {step.index + 1} at {step.at:.0%} reached ({share:.0%} of the target "
                    f"used): " + (", ".join(done) or "no actions"),
                )
            )
    if not explain:
        notes = []
    elif next_step is not None and next_at is not None:
        notes.append(
            Explanation(
                "escalation",
                f"next step {next_step.index + 1} at {next_step.at:.0%}: {calendar.format(next_at)}",
            )
        )
    elif last is None:
        notes.append(Explanation("escalation", f"no ladder step applies to {level}"))
    else:
        notes.append(Explanation("escalation", "every ladder step has been reached"))
    if explain and not steps:
        notes = [Explanation("escalation", "no escalation ladder configured")]
    return LadderOutcome(  # positional: in the order of the fields (reached, labels, ...)
        last.reached if last is not None else (),
        last.labels if last is not None else _NO_LABELS,
        tuple(comments),
        tuple(transitions),
        new_assignee,
        next_at,
        tuple(notes),
    )


def _transition(action_id: str, name: str) -> DesiredTransition:
    """``DesiredTransition(action_id, name)`` without the frozen ``__init__`` (per case)."""
    return filled(DesiredTransition, {"action_id": action_id, "name": name})


_deferred = DesiredComment.deferred
_NO_LABELS: frozenset[str] = frozenset()


def not_running_reason(clock: ResponseClock) -> str:
    if clock.done:
        return "the case is resolved: no ladder"
    if clock.first_response is not None:
        return f"responded ({clock.first_response.how}): the ladder no longer applies"
    if clock.paused_since is not None:
        return "the clock is paused: no ladder steps while paused"
    return "the clock is not running"
