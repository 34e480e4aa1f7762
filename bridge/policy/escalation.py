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
from datetime import datetime, timedelta
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
from bridge.policy.sla import ResponseClock, due_stamp

if TYPE_CHECKING:  # pragma: no cover
    from bridge.policy.clock import BusinessCalendar

Render = Callable[[str], str]  # a comment template's text -> the comment's text

#: A step at 100 % or more is reached strictly after its moment: the sync layer
#: re-reads the case this long after it.
JUST_AFTER = timedelta(seconds=1)


def applies(step: EscalationStep, level: PriorityLevel) -> bool:
    return step.priorities is None or level in step.priorities


def action_id(key: str, step: EscalationStep, action_index: int, due: datetime | str) -> str:
    stamp = due if isinstance(due, str) else due_stamp(due)
    return f"{key}/esc/{step.index}.{action_index}/{stamp}"


class RungAction(NamedTuple):
    """A step's action that does something, with what every case repeats made once."""

    position: int  # in the step's actions
    action: EscalationAction
    id_part: str  # "/esc/{step}.{position}/": the action id is key + id_part + due stamp
    slug: str  # a transition's name as an id segment ("" for other kinds)
    step: int  # the step's index


class Asks(NamedTuple):
    """The comment, transition and assign actions of a step and every step before it,
    each kind in the steps' order, with what every case repeats made once."""

    comments: tuple[tuple[str, bool, str], ...] = ()  # (id part, public, template text)
    transitions: tuple[tuple[str, str, str], ...] = ()  # (id part, name's slug, name)
    assigns: tuple[RungAction, ...] = ()

    def then(self, actions: tuple[RungAction, ...]) -> Asks:
        """These asks followed by a later step's ``actions``."""
        comments, transitions, assigns = list(self.comments), list(self.transitions), []
        for act in actions:
            action = act.action
            if action.kind == "comment" and action.comment is not None:
                public = action.comment.visibility == "public"
                comments.append((act.id_part, public, action.comment.text))
            elif action.kind == "transition" and action.transition:
                transitions.append((act.id_part, act.slug, action.transition))
            elif action.kind == "assign" and action.assign:
                assigns.append(act)
        return Asks(tuple(comments), tuple(transitions), (*self.assigns, *assigns))


class Rung(NamedTuple):
    """A ladder step compiled once: its actions that do something, and what a case
    that reached it carries (steps are reached in order)."""

    step: EscalationStep
    actions: tuple[RungAction, ...]
    within: bool  # at or below 100 %: reached by every case past its due time
    labels: frozenset[str]  # the labels of this step and every step before it
    reached: tuple[int, ...]  # the indexes of this step and every step before it
    #: what a case that reached this step asks for (this step's and every step's before)
    asks: Asks


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
            RungAction(
                i,
                a,
                action_id("", step, i, ""),
                slug(a.transition) if a.transition else "",
                step.index,
            )
            for i, a in enumerate(step.actions)
            if _does_something(a)
        )
        labels = frozenset(a.action.label or "" for a in actions if a.action.kind == "label")
        before = rungs[-1] if rungs else None
        if before is not None:
            labels |= before.labels
        reached = (*before.reached, step.index) if before is not None else (step.index,)
        asks = (before.asks if before is not None else Asks()).then(actions)
        rungs.append(Rung(step, actions, step.at <= 1, labels, reached, asks))
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


class Owners(NamedTuple):
    """Who owns the case, and whom a ladder ``assign`` may bring in."""

    assignee: str | None  # the case's owner after the named engineer rule
    left_alone: bool  # a person assigned or unassigned the case before: never assign it
    escalation_owner: str | None  # the regional lead of the customer's calendar


def run_ladder(
    *,
    key: str,
    rungs: tuple[Rung, ...],
    clock: ResponseClock,
    calendar: BusinessCalendar,
    customer: Customer,
    owners: Owners,
    render: Render,
    stamp: str,
) -> LadderOutcome:
    """The ladder's actions for a case whose clock is running.

    ``owners.assignee`` is who owns the case after earlier decisions (the named
    engineer rule); a ladder ``assign`` only applies to a case still unowned and
    that no person has ever assigned (``owners.left_alone``).
    ``owners.escalation_owner`` is the regional lead of the customer's calendar
    (``assign: escalation_owner``).  ``stamp`` is what the action ids carry of the due
    time (``due_stamp`` of the clock's due before pauses moved it).
    """
    full, used = clock.target_business, clock.business_used
    past = clock.state == "breached"  # strictly after the due instant
    reached = 0
    next_step: EscalationStep | None = None
    for rung in rungs:
        at = rung.step.at
        if not ((past and rung.within) or used > full * at or (at < 1 and used >= full * at)):
            next_step = rung.step  # steps are in order of their share: the rest wait too
            break
        reached += 1
    next_at = None
    if next_step is not None:
        next_at = clock.moment(calendar, next_step.at)
        if next_step.at >= 1:  # reached just after that moment, never at it
            next_at += JUST_AFTER
    if not reached:
        return LadderOutcome((), (), (), (), None, next_step, next_at)
    asks = rungs[reached - 1].asks
    comments = tuple(  # rendered only if the planner posts them
        DesiredComment.deferred(key + part + stamp, public, render, text)  # action_id()
        for part, public, text in asks.comments
    )
    # a transition's name is part of its id: a rule file whose name had a typo
    # (skipped: "not available") fires once the name is corrected
    transitions = tuple(
        DesiredTransition(f"{key}{part}{stamp}/{name_slug}", name)
        for part, name_slug, name in asks.transitions
    )
    assignments, assignee = _assign(asks.assigns, customer, owners) if asks.assigns else ((), None)
    return LadderOutcome(
        rungs[:reached], comments, transitions, assignments, assignee, next_step, next_at
    )


def _assign(
    acts: tuple[RungAction, ...], customer: Customer, owners: Owners
) -> tuple[tuple[Assignment, ...], str | None]:
    """What the reached steps' ``assign`` actions do, in order, and the new assignee."""
    owner, new_assignee = owners.assignee, None
    done: list[Assignment] = []
    for act in acts:
        step, position, target = act.step, act.position, act.action.assign or ""
        if target == "named_engineer":
            if customer.named_engineer is None:
                done.append(Assignment(step, position, "no_engineer", None))
                continue
            target = customer.named_engineer
        elif target == "escalation_owner":
            if owners.escalation_owner is None:
                done.append(Assignment(step, position, "no_owner", None))
                continue
            target = owners.escalation_owner
        if owner is not None:
            done.append(Assignment(step, position, "owned", owner))
        elif owners.left_alone:
            done.append(Assignment(step, position, "left_alone", None))
        else:
            owner = new_assignee = target
            done.append(Assignment(step, position, "assigned", target))
    return tuple(done), new_assignee


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
