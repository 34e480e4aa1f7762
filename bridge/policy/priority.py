"""Priority: the priority the case asked for, engineer overrides, and the rule pipeline.

The *requested* priority is the last priority set by someone other than the
bridge (the bridge's own changes are its output, never its input): the last
non-bridge changelog entry, else the priority the case was created with.  When
an engineer has set the priority (and the rules say to respect engineers'
changes), the engineer's last choice stands and no rule runs: a later change by
anyone else (a customer on the portal) is put back.  Otherwise the rules run in
order, each seeing the level the rules before it left.  With
``respect_engineer_changes: false`` an engineer's change is a request like any
other: the rules run from it.

Every Jira priority a site has can mean a level (``jira`` is the name the bridge
writes, ``also`` the other names meaning the same level), so an engineer's
"Trivial" is P4 and stays "Trivial".  When the level the rules want differs from
the case's current level, the bridge changes the priority and says why in one
public comment per change (:class:`BridgeChange`): the changing rule's own
comment or ``change_comments: rule``, ``restored`` when the requested priority
comes back (the reason for the bridge's earlier change no longer holds), and
``engineer`` when a customer's change to an engineer's priority is put back.

Every compiled condition declares what it reads of a case (:class:`Read`), and the
requested priority is worked out from the attributes :class:`Asked` names; the
pipeline's memo key is exactly those values, and each part of the decision is
given only them (a condition a mapping of its reads, the requested priority an
``Asked``), so a condition that reads something it did not declare fails loudly
instead of sharing a wrong answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter
from typing import NamedTuple

from bridge.policy.memo import Memo
from bridge.policy.model import (
    Actor,
    CommentTemplate,
    Condition,
    IssueSnapshot,
    PriorityChange,
    PriorityLevel,
    PriorityPolicy,
    PriorityRule,
)


class Requested(NamedTuple):
    """The priority the case asks for, and where that came from."""

    level: PriorityLevel  # mapped level (the lowest level when the name is unknown/absent)
    jira_name: str | None  # the Jira name as found (None when the case has none)
    by: Actor | None  # who set it: the last non-bridge changer, or None for "as created"
    mapped: bool  # False when jira_name is not one of the policy's levels
    source: str  # human text for explain and the priority reason


class FiredRule(NamedTuple):
    rule: PriorityRule
    before: PriorityLevel
    after: PriorityLevel
    #: what made each key of the rule's condition hold, as text (none: it has no keys)
    matched: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return self.before != self.after


class BridgeChange(NamedTuple):
    """A priority change the bridge makes now, and the public comment saying why."""

    number: int  # the bridge's n-th priority change on this case (part of the action id)
    before: str  # the current priority: its level, else its Jira name, else "none"
    after: PriorityLevel
    kind: str  # "rule", "restored" or "engineer"
    rule: PriorityRule | None  # the rule that made the change (kind "rule")
    template: CommentTemplate | None  # None: the rules turned this comment off
    #: the comment's action id after the case key (``/priority/{name}[/{number}]``): the
    #: change is decided by what the priority decision reads, which is not the key
    id_part: str
    made: bool  # already in Jira (the comment is owed until the ledger records it)

    @property
    def rule_text(self) -> str:
        """What ``{rule}`` says: the rule's name, else why there is no rule."""
        if self.rule is not None:
            return self.rule.name
        return "the case's priority is not one of our priority levels"


class PriorityWrite(NamedTuple):
    """What the priority decision asks to write on an open case."""

    level: PriorityLevel | None  # the level the case should have (None: leave it alone)
    jira_name: str | None  # the Jira name it should carry (the current one when it means level)
    change: BridgeChange | None  # the change the bridge makes now, if any


#: nothing to write: a resolved case, or an engineer's choice that names no level
LEFT_ALONE = PriorityWrite(None, None, None)


class PriorityOutcome(NamedTuple):
    """The priority decision: what was asked, what the rules made of it, and why."""

    requested: Requested
    level: PriorityLevel  # the final level
    engineer_override: bool  # True when an engineer's choice stood and no rules ran
    fired: tuple[FiredRule, ...]
    reason: str  # one line for Desired.priority_reason
    #: a later change by someone other than an engineer or the bridge, which the
    #: engineer's choice overrides (it is put back); None when there is none
    put_back: Requested | None = None
    #: the level the case had before ``level``, whose target its due time was reckoned
    #: from until now (``previous_level``); None when there is none
    previous: PriorityLevel | None = None
    #: what to write on the case while it is open (``decide_write``): it reads only what
    #: the decision reads, so it is decided (and kept) with it
    write: PriorityWrite = LEFT_ALONE


class RuleRun(NamedTuple):
    """The rules run from one level: the final level and the rules that fired."""

    level: PriorityLevel
    fired: tuple[FiredRule, ...]
    steps: str  # the changing rules for the reason ("" when none changed the level)


# ------------------------------------------------------------------ what conditions read


class Read(NamedTuple):
    """One thing of a case a condition reads: a logical field, or a snapshot attribute."""

    what: str  # "field", or a snapshot attribute: "request_type", "labels", "summary", ...
    name: str = ""  # the logical field's name for "field"

    def of(self, snapshot: IssueSnapshot) -> object:
        if self.what == "field":
            return snapshot.fields.get(self.name)
        return getattr(snapshot, self.what)


class Asked(NamedTuple):
    """What the requested priority and an engineer's choice are worked out from: these
    snapshot attributes (by their names), read through ``REQUESTED_READS``, so the memo
    key holds every one of them and those functions see nothing else of the case."""

    priority_history: tuple[PriorityChange, ...]
    initial_priority: str | None
    priority: str | None

    @classmethod
    def read(cls, snapshot: IssueSnapshot) -> Asked:
        return cls._make(read.of(snapshot) for read in REQUESTED_READS)


#: What the requested priority is worked out from: the attributes :class:`Asked` holds.
REQUESTED_READS = tuple(Read(name) for name in Asked._fields)


def folded(items: tuple[str, ...]) -> frozenset[str]:
    """Names stripped and case-folded, for case-insensitive membership."""
    return frozenset(i.strip().casefold() for i in items)


def _parts(value: str) -> frozenset[str]:
    """A field's values, case-folded: a multi-value field is joined with ", "."""
    whole = value.strip().casefold()
    parts = [p.strip().casefold() for p in value.split(",") if p.strip()]
    return frozenset([whole, *parts] if len(parts) > 1 else [whole])


def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return None


def _fold_optional(items: tuple[str, ...] | None) -> frozenset[str] | None:
    return None if items is None else folded(items)


@dataclass(frozen=True)
class Check:
    """A rule's condition compiled once: names folded, regex compiled, reads declared."""

    when: Condition  # as written: its values as the rules spell them, for the explanation
    reads: tuple[Read, ...]
    #: the values compared, folded (the rest -- field, missing, priority -- as written)
    equals: str | None  # stripped and folded
    in_: frozenset[str] | None
    not_in: frozenset[str] | None
    request_type: frozenset[str] | None
    labels_any: frozenset[str] | None
    components_any: frozenset[str] | None
    summary: re.Pattern[str] | None  # None also for a bad pattern, which never matches

    @classmethod
    def of(cls, when: Condition) -> Check:
        reads = [
            read
            for read, used in (
                (Read("field", when.field or ""), when.field is not None),
                (Read("request_type"), when.request_type is not None),
                (Read("labels"), when.labels_any is not None),
                (Read("components"), when.components_any is not None),
                (Read("summary"), when.summary_matches is not None),
            )
            if used
        ]
        return cls(
            when=when,
            reads=tuple(reads),
            equals=None if when.equals is None else when.equals.strip().casefold(),
            in_=_fold_optional(when.in_),
            not_in=_fold_optional(when.not_in),
            request_type=_fold_optional(when.request_type),
            labels_any=_fold_optional(when.labels_any),
            components_any=_fold_optional(when.components_any),
            summary=None if when.summary_matches is None else _regex(when.summary_matches),
        )

    def matched(self, facts: Mapping[Read, object], level: PriorityLevel) -> tuple[str, ...] | None:
        """What made each key of the condition hold for these facts at this level, as text
        (nothing for a condition without keys); None when a key does not hold."""
        found: list[str] = []
        when = self.when
        if when.field is not None:
            field_matched = self._field_matched(facts[Read("field", when.field)])
            if field_matched is None:
                return None
            found += field_matched
        if self.request_type is not None:
            request_type = facts[Read("request_type")]
            if not _member(request_type, self.request_type):
                return None
            found.append(f"request type is {request_type}")
        for read, names, shown in (
            (Read("labels"), self.labels_any, "labelled"),
            (Read("components"), self.components_any, "component"),
        ):
            if names is not None:
                have = _members(facts[read], names)
                if not have:
                    return None
                found.append(f"{shown} {', '.join(have)}")
        if when.priority is not None:
            if level not in when.priority:
                return None
            found.append(f"priority is {level}")
        if when.summary_matches is not None:
            summary = facts[Read("summary")]
            if self.summary is None or self.summary.search(str(summary)) is None:
                return None
            found.append(f"summary matches /{when.summary_matches}/")
        return tuple(found)

    def _field_matched(self, raw: object) -> list[str] | None:
        """What made the field's keys hold, or None; a bare ``field:`` asks for a value."""
        text = raw.strip() if isinstance(raw, str) else ""
        when = self.when
        name = when.field
        shown = repr(text) if text else "empty"
        found: list[str] = []
        if when.missing is not None:
            if (not text) != when.missing:
                return None
            found.append(f"{name} is {'empty' if when.missing else 'filled in'}")
        if self.equals is not None:
            if text.casefold() != self.equals:
                return None
            found.append(f"{name} is {when.equals!r}")
        values = _parts(text) if text else frozenset()
        if self.in_ is not None and when.in_ is not None:
            if not values & self.in_:
                return None
            found.append(f"{name} is {shown} (one of {', '.join(when.in_)})")
        if self.not_in is not None and when.not_in is not None:
            if values & self.not_in:
                return None
            found.append(f"{name} is {shown} (not {', '.join(when.not_in)})")
        if found:
            return found
        return [f"{name} is {shown}"] if text else None


def _member(value: object, names: frozenset[str]) -> bool:
    return isinstance(value, str) and value.strip().casefold() in names


def _members(values: object, names: frozenset[str]) -> list[str]:
    """Which of ``values`` (folded) are among ``names``, sorted."""
    assert isinstance(values, frozenset)
    return sorted({str(x).casefold() for x in values} & names)


# ------------------------------------------------------------------------ the pipeline


@dataclass(frozen=True)
class Pipeline:
    """The priority rules compiled once: Jira names by folded name, each rule's check,
    and the union of what the checks read (the memo key's shape)."""

    policy: PriorityPolicy
    levels: Mapping[str, PriorityLevel]  # folded Jira name -> level (first level wins)
    checks: tuple[tuple[PriorityRule, Check], ...]
    reads: tuple[Read, ...]  # what the rules read
    decision_reads: tuple[Read, ...]  # what the whole decision reads: its memo key
    #: the decision's reads of snapshot attributes, and of logical fields (the memo key)
    read_attributes: Callable[[IssueSnapshot], tuple[object, ...]]
    read_fields: tuple[str, ...]
    slugs: Mapping[str, str]  # rule name -> its id segment
    #: the name parts the priority comments of these rules carry (`told_change`): a
    #: comment under another name was told under a rule since renamed or removed
    change_names: frozenset[str]
    #: the decisions by what they read (``key``), kept from cycle to cycle: the same
    #: values read give the same decision whatever the moment
    outcomes: Memo[tuple[object, ...], PriorityOutcome] = field(
        default_factory=Memo, compare=False, repr=False
    )

    @classmethod
    def of(cls, policy: PriorityPolicy) -> Pipeline:
        levels: dict[str, PriorityLevel] = {}
        for level, name in policy.jira_names.items():
            levels.setdefault(name.casefold(), level)
        for level, names in policy.also.items():
            for name in names:
                levels.setdefault(name.casefold(), level)
        checks = tuple((rule, Check.of(rule.when)) for rule in policy.rules)
        reads = tuple(dict.fromkeys(read for _, check in checks for read in check.reads))
        decision_reads = (*REQUESTED_READS, *reads)
        attributes = [r.what for r in decision_reads if r.what != "field"]
        slugs = {rule.name: slug(rule.name) for rule in policy.rules}
        return cls(
            policy,
            levels,
            checks,
            reads,
            decision_reads,
            read_attributes=attrgetter(*attributes),  # several: the requested priority's
            read_fields=tuple(r.name for r in decision_reads if r.what == "field"),
            slugs=slugs,
            change_names=frozenset(slugs.values()) | CHANGE_KINDS,
        )

    def key(self, snapshot: IssueSnapshot) -> tuple[object, ...]:
        """What the decision reads of the case: the values of ``decision_reads``."""
        return (self.read_attributes(snapshot), *map(snapshot.fields.get, self.read_fields))

    def level_of(self, jira_name: str | None) -> PriorityLevel | None:
        """``PriorityPolicy.level_of``, one dict look-up."""
        return None if jira_name is None else self.levels.get(jira_name.casefold())

    def decide(self, snapshot: IssueSnapshot) -> PriorityOutcome:
        """``decide_priority``, remembered by what it reads: the case's priority, its
        history and what the rules read (few combinations recur, cycle after cycle)."""
        key = self.key(snapshot)
        found = self.outcomes.get(key)
        if found is None:
            found = self.outcomes.keep(key, decide_priority(snapshot, self))
        return found

    def run(self, snapshot: IssueSnapshot, level: PriorityLevel) -> RuleRun:
        """The rules run from ``level``; each condition sees only what it declared it reads."""
        facts = {read: read.of(snapshot) for read in self.reads}
        fired: list[FiredRule] = []
        for rule, check in self.checks:
            matched = check.matched(facts, level)
            if matched is not None:
                after = apply_rule(self.policy, rule, level)
                fired.append(FiredRule(rule, level, after, matched))
                level = after
        steps = "; ".join(f"{f.rule.name}: {f.before} -> {f.after}" for f in fired if f.changed)
        return RuleRun(level, tuple(fired), steps)


def lowest(policy: PriorityPolicy) -> PriorityLevel:
    return policy.levels[-1]


def rank(policy: PriorityPolicy, level: PriorityLevel) -> int:
    """0 for the highest level; unknown levels rank as the lowest."""
    try:
        return policy.levels.index(level)
    except ValueError:
        return len(policy.levels) - 1


def apply_rule(policy: PriorityPolicy, rule: PriorityRule, level: PriorityLevel) -> PriorityLevel:
    if rule.set is not None:
        level = rule.set
    if rule.cap is not None and rank(policy, level) < rank(policy, rule.cap):
        level = rule.cap
    return level


def _asked(asked: Asked) -> tuple[str | None, Actor | None, str]:
    """The Jira name the case asks for, who set it, and how that was found (text)."""
    history = asked.priority_history
    for change in reversed(history):
        if change.by is not Actor.BRIDGE:
            return change.to_name, change.by, _set_by(change)
    if asked.initial_priority is not None:
        return asked.initial_priority, None, f"{asked.initial_priority} as created"
    if history and history[0].from_name is not None:
        # only the bridge ever changed it: what it was before the bridge's first change
        first = history[0].from_name
        return first, None, f"{first} as created (before the bridge's changes)"
    if asked.priority is not None:
        return asked.priority, None, f"{asked.priority} (current)"
    return None, None, "no priority on the case"


def _set_by(change: PriorityChange) -> str:
    return f"set to {change.to_name} by {actor_text(change.by)} at {change.at.isoformat()}"


def _requested(pipeline: Pipeline, name: str | None, by: Actor | None, source: str) -> Requested:
    """The Jira name ``name`` as a request: its level, else the lowest level (and why)."""
    level = pipeline.level_of(name)
    if level is not None:
        return Requested(level, name, by, True, source)
    fallback = lowest(pipeline.policy)
    if name is not None:
        source += f"; {name} is not one of the policy's priorities, treated as {fallback}"
    else:
        source += f"; treated as {fallback}"
    return Requested(fallback, name, by, False, source)


def requested_priority(asked: Asked, pipeline: Pipeline) -> Requested:
    """The priority the case asks for, ignoring every change the bridge made."""
    return _requested(pipeline, *_asked(asked))


def actor_text(actor: Actor) -> str:
    return {
        Actor.CUSTOMER: "the customer",
        Actor.ENGINEER: "an engineer",
        Actor.BRIDGE: "the bridge",
        Actor.APP: "an app",
        Actor.UNKNOWN: "an unknown account",
    }[actor]


def engineer_choice(history: tuple[PriorityChange, ...]) -> tuple[PriorityChange, int] | None:
    """The last priority change an engineer made, and its place in the history."""
    for index in range(len(history) - 1, -1, -1):
        if history[index].by is Actor.ENGINEER:
            return history[index], index
    return None


def _as_requested(change: PriorityChange, pipeline: Pipeline) -> Requested:
    return _requested(pipeline, change.to_name, change.by, _set_by(change))


def _engineer_outcome(
    asked: Asked, pipeline: Pipeline, change: PriorityChange, index: int
) -> PriorityOutcome:
    """An engineer's choice stands: no rule runs, a later change by anyone else is put back."""
    chosen = _as_requested(change, pipeline)
    later = [c for c in asked.priority_history[index + 1 :] if c.by is not Actor.BRIDGE]
    put_back = _as_requested(later[-1], pipeline) if later else None
    if chosen.mapped:
        reason = f"{chosen.level}: an engineer chose it ({chosen.source}); rules not applied"
    else:
        reason = (
            f"an engineer chose {chosen.jira_name}, which is not one of the policy's "
            f"priorities; left alone (the response target uses {chosen.level})"
        )
    if put_back is not None:
        reason += (
            f"; {actor_text(put_back.by or Actor.UNKNOWN)}'s later change to "
            f"{put_back.jira_name} is put back"
        )
    previous = previous_level(asked, pipeline, chosen.level)
    return PriorityOutcome(chosen, chosen.level, True, (), reason, put_back, previous)


def decide_priority(snapshot: IssueSnapshot, pipeline: Pipeline) -> PriorityOutcome:
    """The level the case should have, with every rule that fired, and what to write on
    it while it is open."""
    outcome = _decide_level(snapshot, pipeline)
    return outcome._replace(write=decide_write(Asked.read(snapshot), outcome, pipeline))


def _decide_level(snapshot: IssueSnapshot, pipeline: Pipeline) -> PriorityOutcome:
    """The level the case should have, with every rule that fired."""
    asked = Asked.read(snapshot)
    if pipeline.policy.respect_engineer_changes:
        chosen = engineer_choice(asked.priority_history)
        if chosen is not None:
            return _engineer_outcome(asked, pipeline, *chosen)
    requested = requested_priority(asked, pipeline)
    run = pipeline.run(snapshot, requested.level)
    if run.steps:
        reason = f"{run.level}: requested {requested.level}, then {run.steps}"
    else:
        reason = f"{run.level}: as requested ({requested.source})"
    previous = previous_level(asked, pipeline, run.level)
    return PriorityOutcome(requested, run.level, False, run.fired, reason, None, previous)


def previous_level(asked: Asked, pipeline: Pipeline, level: PriorityLevel) -> PriorityLevel | None:
    """The level the case had before ``level``: its current level when that differs (the
    bridge changes it now), else the level its latest priority change (whoever made it)
    came from.  Unlike a change's ``before`` (see ``decide_write``), which names the
    priority the case carries even when it means no level, this looks past such a
    priority to the level before it: the one a due time was reckoned from."""
    current = pipeline.level_of(asked.priority)
    if current is not None and current != level:
        return current
    if asked.priority_history:
        before = pipeline.level_of(asked.priority_history[-1].from_name)
        if before is not None and before != level:
            return before
    return None


# ------------------------------------------------------------------------ the change


def decide_write(asked: Asked, outcome: PriorityOutcome, pipeline: Pipeline) -> PriorityWrite:
    """What to write on an open case (``asked``: what the decision read of it): nothing
    for an engineer's unmapped choice; the current name when it already means the level (an engineer's "Trivial" stays);
    else the level's Jira name, with the change and its comment.

    The comment of a change is owed from the cycle that makes the change until the
    ledger records it: while the case's last priority change is the bridge's own to
    this level, that change's comment is still asked for (a comment that failed while
    the priority edit landed is posted on the next cycle; the ledger keeps it to one).
    """
    if outcome.engineer_override and not outcome.requested.mapped:
        return LEFT_ALONE
    level = outcome.level
    current = pipeline.level_of(asked.priority)
    history = asked.priority_history
    made = sum(1 for c in history if c.by is Actor.BRIDGE)  # the bridge's changes so far
    if current != level:
        before = current or asked.priority or "none"
        change = _change(outcome, pipeline, before, made + 1, False)
        # an engineer's choice is put back as the engineer named it ("Trivial" stays)
        chosen = outcome.requested.jira_name if outcome.engineer_override else None
        return PriorityWrite(level, chosen or pipeline.policy.jira_names[level], change)
    last = history[-1] if history else None
    if last is None or last.by is not Actor.BRIDGE or pipeline.level_of(last.to_name) != level:
        return PriorityWrite(level, asked.priority, None)
    before = pipeline.level_of(last.from_name) or last.from_name or "none"
    return PriorityWrite(level, asked.priority, _change(outcome, pipeline, before, made, True))


def _change(
    outcome: PriorityOutcome,
    pipeline: Pipeline,
    before: str,
    number: int,
    made: bool,
) -> BridgeChange:
    """The bridge's ``number``-th priority change, to ``outcome.level``, and its comment.

    Its action id names the kind of change (the rule's slug, ``restored`` or
    ``engineer``) and, from the second change on, its number (the changelog entries
    by the bridge's account before it, plus one): a retry keeps the id, a later
    change gets a new one, so one comment per change and never two.  A first change
    by a rule keeps the id rule comments have always had (``{key}/priority/{slug}``).
    """
    comments = pipeline.policy.change_comments
    changing = [f for f in outcome.fired if f.changed]
    rule: PriorityRule | None = None
    if outcome.engineer_override:
        kind, name, template = "engineer", "engineer", comments.engineer
    elif changing and outcome.level != outcome.requested.level:
        rule = changing[-1].rule
        kind, name, template = "rule", pipeline.slugs[rule.name], rule.comment or comments.rule
    elif number > 1:  # the bridge changed it before: this change undoes that
        kind, name, template = "restored", "restored", comments.restored
    else:
        kind, name, template = "rule", "levels", comments.rule
    id_part = f"/priority/{name}" + (f"/{number}" if number > 1 else "")
    return BridgeChange(number, before, outcome.level, kind, rule, template, id_part, made)


def told_change(action_id: str) -> tuple[str, int] | None:
    """A priority comment's action id (`_change`: ``{key}/priority/{name}``, the first
    change, or ``{key}/priority/{name}/{n}``, the n-th) as (its name part, the change's
    number); None for another action.  The name part is a rule's slug, or
    ``restored``, ``engineer`` or ``levels``."""
    _, found, rest = action_id.partition("/priority/")
    if not found:
        return None
    parts = rest.split("/")
    if len(parts) == 1 and parts[0]:
        return parts[0], 1
    if len(parts) == 2 and parts[0] and parts[1].isdigit():
        return parts[0], int(parts[1])
    return None


#: The name parts of priority comments that are not a rule's (`_change`).
CHANGE_KINDS = frozenset({"restored", "engineer", "levels"})


def change_text(change: BridgeChange, key: str) -> str:
    """The change for explain: what, why, and what the customer is told."""
    why = {
        "rule": f"rule {change.rule_text!r}",
        "restored": "the requested priority comes back (the bridge's earlier change no "
        "longer applies)",
        "engineer": "an engineer's choice is put back",
    }[change.kind]
    said = (
        "no comment (turned off)"
        if change.template is None
        else (f"{change.template.visibility} comment {key}{change.id_part}")
    )
    what = "changed" if change.made else "changes"
    return (
        f"the bridge {what} the priority {change.before} -> {change.after} (its change "
        f"{change.number} on this case): {why}; {said}"
    )


def slug(text: str) -> str:
    """A rule name as an id segment: lower-case letters/digits joined by '-'."""
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "rule"
