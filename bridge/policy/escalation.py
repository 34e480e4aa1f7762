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
    CommentTemplate,
    Customer,
    DesiredComment,
    DesiredTransition,
    EscalationStep,
    Explanation,
    IssueSnapshot,
    PriorityLevel,
)
from bridge.policy.priority import slug
from bridge.policy.sla import ResponseClock

if TYPE_CHECKING:  # pragma: no cover
    from bridge.policy.clock import BusinessCalendar

Render = Callable[[CommentTemplate], str]


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


def due_stamp(due: datetime) -> str:
    """``20261130T0700Z``: the due time in UTC, to the minute."""
    u = due.astimezone(UTC)
    if u.year < 1000:  # strftime's %Y does not pad years below 1000 on every platform
        return u.strftime("%Y%m%dT%H%MZ")
    # the same text as strftime, without its per-call format parsing (one per reached case)
    return f"{u.year}{u.month:02d}{u.day:02d}T{u.hour:02d}{u.minute:02d}Z"


def action_id(key: str, step: EscalationStep, action_index: int, due: datetime | str) -> str:
    stamp = due if isinstance(due, str) else due_stamp(due)
    return f"{key}/esc/{step.index}.{action_index}/{stamp}"


_ORDER: tuple[tuple[EscalationStep, ...] | None, tuple[EscalationStep, ...]] = (None, ())


def _in_order(steps: tuple[EscalationStep, ...]) -> tuple[EscalationStep, ...]:
    """The steps by share, then index (remembered for the rule set's ladder)."""
    global _ORDER
    last, ordered = _ORDER  # one tuple: read whole even with threads
    if last is not steps:
        ordered = tuple(sorted(steps, key=lambda s: (s.at, s.index)))
        _ORDER = (steps, ordered)
    return ordered


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
    reached: list[int] = []
    labels: set[str] = set()
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
    for step in _in_order(steps):
        if step.priorities is not None and level not in step.priorities:
            continue
        if used < full * step.at:
            if next_step is None:
                next_step = step
                next_at = clock.moment(calendar, clock.created_utc, step.at)
                if not explain:
                    break  # steps are in order of their share: the rest are not reached either
            continue
        reached.append(step.index)
        if not stamp:
            stamp = due_stamp(clock.due)
        done: list[str] = []
        for i, action in enumerate(step.actions):
            if action.kind == "comment" and action.comment is not None:
                comments.append(
                    DesiredComment(
                        action_id(snapshot.key, step, i, stamp),
                        action.comment.visibility == "public",
                        render(action.comment),
                    )
                )
                done.append(f"{action.comment.visibility} comment")
            elif action.kind == "label" and action.label:
                labels.add(action.label)
                done.append(f"label {action.label}")
            elif action.kind == "transition" and action.transition:
                # the transition's name is part of its id: a rule file whose name had a
                # typo (skipped: "not available") fires once the name is corrected
                transitions.append(
                    DesiredTransition(
                        f"{action_id(snapshot.key, step, i, stamp)}/{slug(action.transition)}",
                        action.transition,
                    )
                )
                done.append(f"transition {action.transition}")
            elif action.kind == "assign" and action.assign:
                target = action.assign
                if target == "named_engineer":
                    if customer.named_engineer is None:
                        done.append(
                            f"assign skipped: {customer.organization} has no named engineer"
                        )
                        continue
                    target = customer.named_engineer
                if owner is not None:
                    done.append(f"assign skipped: already assigned to {owner}")
                    continue
                owner = new_assignee = target
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
    elif not reached:
        notes.append(Explanation("escalation", f"no ladder step applies to {level}"))
    else:
        notes.append(Explanation("escalation", "every ladder step has been reached"))
    if explain and not steps:
        notes = [Explanation("escalation", "no escalation ladder configured")]
    return LadderOutcome(
        reached=tuple(reached),
        labels=frozenset(labels),
        comments=tuple(comments),
        transitions=tuple(transitions),
        assignee=new_assignee,
        next_step_at=next_at,
        explanation=tuple(notes),
    )


def not_running_reason(clock: ResponseClock) -> str:
    if clock.done:
        return "the case is resolved: no ladder"
    if clock.first_response is not None:
        return f"responded ({clock.first_response.how}): the ladder no longer applies"
    if clock.paused_since is not None:
        return "the clock is paused: no ladder steps while paused"
    return "the clock is not running"
