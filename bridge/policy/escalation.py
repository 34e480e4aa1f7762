"""The escalation ladder: steps at shares of the response target, while the clock runs.

A step below 100 % is reached when the business time used is at least its share
of the target; a step at 100 % or more only strictly after that moment (breach is
strictly after the due instant, SPEC §2), and so is the 100 % step of a case past
its due time outside business hours (and it applies to the case's priority).
Every reached step is returned, in order, even when several were reached at
once: the sync layer's ledger makes each action happen once.  Action ids carry
the due time the target gives from creation, before pauses move it: a new
priority is a new escalation, an ended pause (a hold for approval) is not, so
each step fires once per case whatever pauses come between.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, NamedTuple

from bridge.policy.model import (
    Customer,
    DesiredComment,
    DesiredTransition,
    EscalationAction,
    EscalationStep,
    PriorityLevel,
)
from bridge.policy.priority import slug
from bridge.policy.sla import ResponseClock

if TYPE_CHECKING:  # pragma: no cover
    from bridge.policy.clock import BusinessCalendar

Render = Callable[[str], str]  # a comment template's text -> the comment's text

#: A step at 100 % or more is reached strictly after its moment: the sync layer
#: re-reads the case this long after it.
JUST_AFTER = timedelta(seconds=1)


def applies(step: EscalationStep, level: PriorityLevel) -> bool:
    return step.priorities is None or level in step.priorities


def due_stamp(due: datetime) -> str:
    """``20261130T0700Z``: the due time in UTC, to the minute."""
    u = due.astimezone(UTC)
    if u.year < 1000:  # strftime's %Y does not pad years below 1000 on every platform
        return u.strftime("%Y%m%dT%H%MZ")
    return f"{u.year}{u.month:02d}{u.day:02d}T{u.hour:02d}{u.minute:02d}Z"


def action_id(key: str, step: EscalationStep, action_index: int, due: datetime | str) -> str:
    stamp = due if isinstance(due, str) else due_stamp(due)
    return f"{key}/esc/{step.index}.{action_index}/{stamp}"


class RungAction(NamedTuple):
    """A step's action that does something, with what every case repeats made once."""

    position: int  # in the step's actions
    action: EscalationAction
    id_part: str  # "/esc/{step}.{position}/": the action id is key + id_part + due stamp
    slug: str  # a transition's name as an id segment ("" for other kinds)


class Rung(NamedTuple):
    """A ladder step compiled once: its actions that do something, and what a case
    that reached it carries (steps are reached in order)."""

    step: EscalationStep
    actions: tuple[RungAction, ...]
    within: bool  # at or below 100 %: reached by every case past its due time
    labels: frozenset[str]  # the labels of this step and every step before it
    reached: tuple[int, ...]  # the indexes of this step and every step before it


def _does_something(action: EscalationAction) -> bool:
    return bool(
        (action.kind == "comment" and action.comment is not None)
        or (action.kind == "label" and action.label)
        or (action.kind == "transition" and action.transition)
        or (action.kind == "assign" and action.assign)
    )


def ladder_for(steps: tuple[EscalationStep, ...], level: PriorityLevel) -> tuple[Rung, ...]:
    """The steps that apply to ``level``, by share, then index, compiled."""
    rungs: list[Rung] = []
    for step in sorted(steps, key=lambda s: (s.at, s.index)):
        if not applies(step, level):
            continue
        actions = tuple(
            RungAction(i, a, action_id("", step, i, ""), slug(a.transition) if a.transition else "")
            for i, a in enumerate(step.actions)
            if _does_something(a)
        )
        labels = frozenset(a.label for _, a, _, _ in actions if a.kind == "label" and a.label)
        before = rungs[-1] if rungs else None
        if before is not None:
            labels |= before.labels
        reached = (*before.reached, step.index) if before is not None else (step.index,)
        rungs.append(Rung(step, actions, step.at <= 1, labels, reached))
    return tuple(rungs)


AssignHow = Literal["assigned", "no_engineer", "no_owner", "owned", "left_alone"]


class Assignment(NamedTuple):
    """What a reached step's ``assign`` action did."""

    step: int  # the step's index
    position: int  # the action's position in the step
    how: AssignHow
    who: str | None  # the new assignee, or the current owner when "owned"


class LadderOutcome(NamedTuple):
    """The ladder decision: the steps reached, what they ask for, and the next step."""

    rungs: tuple[Rung, ...]  # the steps reached, in order
    comments: tuple[DesiredComment, ...]
    transitions: tuple[DesiredTransition, ...]
    assignments: tuple[Assignment, ...]
    assignee: str | None  # set when a step assigns the case
    next_step: EscalationStep | None  # the first step not reached yet
    next_step_at: datetime | None  # when it is due

    @property
    def reached(self) -> tuple[int, ...]:
        return self.rungs[-1].reached if self.rungs else ()

    @property
    def labels(self) -> frozenset[str]:
        return self.rungs[-1].labels if self.rungs else frozenset()


def run_ladder(
    *,
    key: str,
    rungs: tuple[Rung, ...],
    clock: ResponseClock,
    calendar: BusinessCalendar,
    customer: Customer,
    assignee: str | None,
    render: Render,
    left_alone: bool = False,
    escalation_owner: str | None = None,
) -> LadderOutcome:
    """The ladder's actions for a case whose clock is running.

    ``assignee`` is who owns the case after earlier decisions (the named
    engineer rule); a ladder ``assign`` only applies to a case still unowned and
    that no person has ever assigned (``left_alone``).  ``escalation_owner`` is the
    regional lead of the customer's calendar (``assign: escalation_owner``).
    """
    full, used = clock.target_business, clock.business_used
    past = clock.state == "breached"  # strictly after the due instant
    reached: list[Rung] = []
    next_step: EscalationStep | None = None
    for rung in rungs:
        at = rung.step.at
        if not ((past and rung.within) or used > full * at or (at < 1 and used >= full * at)):
            next_step = rung.step  # steps are in order of their share: the rest wait too
            break
        reached.append(rung)
    next_at = None
    if next_step is not None:
        next_at = clock.moment(calendar, next_step.at)
        if next_step.at >= 1:  # reached just after that moment, never at it
            next_at += JUST_AFTER
    stamp = due_stamp(clock.unpaused_due or clock.due) if reached else ""
    acts = _Acts(key, stamp, customer, _Owners(assignee, left_alone, escalation_owner), render)
    for rung in reached:
        acts.step(rung)
    return LadderOutcome(
        tuple(reached),
        tuple(acts.comments),
        tuple(acts.transitions),
        tuple(acts.assignments),
        acts.new_assignee,
        next_step,
        next_at,
    )


class _Owners(NamedTuple):
    """Who owns the case, and whom a ladder ``assign`` may bring in."""

    assignee: str | None  # the case's owner after the named engineer rule
    left_alone: bool  # a person assigned or unassigned the case before: never assign it
    escalation_owner: str | None  # the regional lead of the customer's calendar


class _Acts:
    """The actions of the reached steps, collected in order."""

    def __init__(
        self, key: str, stamp: str, customer: Customer, owners: _Owners, render: Render
    ) -> None:
        self.key, self.stamp, self.customer, self.render = key, stamp, customer, render
        self.owner = owners.assignee
        self.left_alone, self.escalation_owner = owners.left_alone, owners.escalation_owner
        self.comments: list[DesiredComment] = []
        self.transitions: list[DesiredTransition] = []
        self.assignments: list[Assignment] = []
        self.new_assignee: str | None = None

    def step(self, rung: Rung) -> None:
        for position, action, id_part, transition_slug in rung.actions:
            made = self.key + id_part + self.stamp  # action_id(), its middle made once
            if action.kind == "comment" and action.comment is not None:
                public = action.comment.visibility == "public"
                # rendered only if the planner posts it
                self.comments.append(
                    DesiredComment.deferred(made, public, self.render, action.comment.text)
                )
            elif action.kind == "transition" and action.transition:
                # the transition's name is part of its id: a rule file whose name had a
                # typo (skipped: "not available") fires once the name is corrected
                name = action.transition
                self.transitions.append(DesiredTransition(f"{made}/{transition_slug}", name))
            elif action.kind == "assign" and action.assign:
                self.assignments.append(self._assign(rung.step.index, position, action.assign))

    def _assign(self, step: int, position: int, target: str) -> Assignment:
        if target == "named_engineer":
            if self.customer.named_engineer is None:
                return Assignment(step, position, "no_engineer", None)
            target = self.customer.named_engineer
        elif target == "escalation_owner":
            if self.escalation_owner is None:
                return Assignment(step, position, "no_owner", None)
            target = self.escalation_owner
        if self.owner is not None:
            return Assignment(step, position, "owned", self.owner)
        if self.left_alone:
            return Assignment(step, position, "left_alone", None)
        self.owner = self.new_assignee = target
        return Assignment(step, position, "assigned", target)


def not_running_reason(clock: ResponseClock) -> str:
    if clock.done:
        return "the case is resolved: no ladder"
    if clock.first_response is not None:
        return f"responded ({clock.first_response.how}): the ladder no longer applies"
    if clock.paused_since is not None:
        return "the clock is paused: no ladder steps while paused"
    return "the clock is not running"


def ladder_table(
    steps: tuple[EscalationStep, ...], levels: tuple[PriorityLevel, ...]
) -> Mapping[PriorityLevel, tuple[Rung, ...]]:
    """Every level's compiled ladder (built once, with the policy)."""
    return {level: ladder_for(steps, level) for level in levels}
