"""Priority: the priority the case asked for, engineer overrides, and the rule pipeline.

The *requested* priority is the last priority set by someone other than the
bridge (the bridge's own changes are its output, never its input): the last
non-bridge changelog entry, else the priority the case was created with.  When
that last change was made by an engineer (and the rules say to respect them),
the engineer's choice stands and no rule runs.  Otherwise the rules run in
order, each seeing the level the rules before it left.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from bridge.policy.model import (
    Actor,
    Condition,
    IssueSnapshot,
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
    source: str  # human text for explain


class FiredRule(NamedTuple):
    rule: PriorityRule
    before: PriorityLevel
    after: PriorityLevel
    why: str  # the conditions that held, as text

    @property
    def changed(self) -> bool:
        return self.before != self.after


class PriorityOutcome(NamedTuple):
    requested: Requested
    level: PriorityLevel  # the final level
    engineer_override: bool  # True when an engineer's choice stood and no rules ran
    fired: tuple[FiredRule, ...]
    reason: str  # one line for Desired.priority_reason


class _RuleRun(NamedTuple):
    """The rules run quietly from one level: the final level and the rules that fired."""

    level: PriorityLevel
    fired: tuple[FiredRule, ...]
    steps: str  # the changing rules for the reason ("" when none changed the level)


@dataclass(frozen=True, slots=True)
class _Check:
    """A rule's condition with its names folded and its regex compiled, for the quiet path."""

    field: str | None
    missing: bool | None
    equals: str | None  # stripped and folded
    in_: frozenset[str] | None
    not_in: frozenset[str] | None
    bare: bool  # `field:` alone: asks for a value
    request_type: frozenset[str] | None
    labels_any: frozenset[str] | None
    components_any: frozenset[str] | None
    priority: tuple[PriorityLevel, ...] | None
    summary: re.Pattern[str] | None
    summary_given: bool  # summary_matches was set (a bad pattern never matches)


class _Compiled:
    """Per policy: Jira names by folded name, and each rule's condition ready to test."""

    __slots__ = ("checks", "levels", "memo", "memo_fields", "outcomes", "policy")

    def __init__(self, policy: PriorityPolicy) -> None:
        self.policy = policy  # kept alive so its id() stays unique while cached
        levels: dict[str, PriorityLevel] = {}
        for level, name in policy.jira_names.items():
            levels.setdefault(name.casefold(), level)  # the first level with the name wins
        self.levels = levels
        self.checks = tuple((rule, _check(rule.when)) for rule in policy.rules)
        #: The quiet rule run depends only on the starting level, the request type and
        #: these fields when no rule looks at labels, components or the summary: its
        #: result is then remembered by exactly those values (few combinations recur).
        #: None: some rule reads more of the case, every case runs the rules.
        self.memo_fields: tuple[str, ...] | None = None
        self.memo: dict[tuple[str | None, ...], _RuleRun] = {}
        #: The quiet outcome of a case without priority history: it depends on the
        #: priority it was created with (or has), then on what ``memo`` is keyed by.
        self.outcomes: dict[tuple[str | None, ...], PriorityOutcome] = {}
        checks = [check for _, check in self.checks]
        if all(
            c.labels_any is None and c.components_any is None and not c.summary_given
            for c in checks
        ):
            self.memo_fields = tuple(dict.fromkeys(c.field for c in checks if c.field is not None))

    def level_of(self, jira_name: str | None) -> PriorityLevel | None:
        """``PriorityPolicy.level_of``, one dict look-up."""
        if jira_name is None:
            return None
        return self.levels.get(jira_name.casefold())


def _check(when: Condition) -> _Check:
    def fold(items: tuple[str, ...] | None) -> frozenset[str] | None:
        return None if items is None else folded(items)

    return _Check(
        field=when.field,
        missing=when.missing,
        equals=None if when.equals is None else when.equals.strip().casefold(),
        in_=fold(when.in_),
        not_in=fold(when.not_in),
        bare=when.missing is None
        and when.equals is None
        and when.in_ is None
        and when.not_in is None,
        request_type=fold(when.request_type),
        labels_any=fold(when.labels_any),
        components_any=fold(when.components_any),
        priority=when.priority,
        summary=None if when.summary_matches is None else _regex(when.summary_matches),
        summary_given=when.summary_matches is not None,
    )


_COMPILED: dict[int, _Compiled] = {}
_COMPILED_SIZE = 16


def _compiled(policy: PriorityPolicy) -> _Compiled:
    found = _COMPILED.get(id(policy))
    if found is not None and found.policy is policy:
        return found
    if len(_COMPILED) >= _COMPILED_SIZE:
        _COMPILED.pop(next(iter(_COMPILED)))
    found = _COMPILED[id(policy)] = _Compiled(policy)
    return found


def level_of(policy: PriorityPolicy, jira_name: str | None) -> PriorityLevel | None:
    """``policy.level_of(jira_name)``, with the policy's names indexed once."""
    return _compiled(policy).level_of(jira_name)


def lowest(policy: PriorityPolicy) -> PriorityLevel:
    return policy.levels[-1]


def rank(policy: PriorityPolicy, level: PriorityLevel) -> int:
    """0 for the highest level; unknown levels rank as the lowest."""
    try:
        return policy.levels.index(level)
    except ValueError:
        return len(policy.levels) - 1


def requested_priority(
    snapshot: IssueSnapshot, policy: PriorityPolicy, compiled: _Compiled | None = None
) -> Requested:
    """The priority the case asks for, ignoring every change the bridge made."""
    name: str | None = None
    by: Actor | None = None
    source = ""
    for change in reversed(snapshot.priority_history):
        if change.by is _BRIDGE:
            continue
        name, by = change.to_name, change.by
        source = f"set to {change.to_name} by {_actor_text(change.by)} at {change.at.isoformat()}"
        break
    if by is None:
        if snapshot.initial_priority is not None:
            name, source = snapshot.initial_priority, f"{snapshot.initial_priority} as created"
        elif snapshot.priority_history and snapshot.priority_history[0].from_name is not None:
            # only the bridge ever changed it: what it was before the bridge's first change
            first = snapshot.priority_history[0].from_name
            name, source = first, f"{first} as created (before the bridge's changes)"
        elif snapshot.priority is not None:
            name, source = snapshot.priority, f"{snapshot.priority} (current)"
        else:
            source = "no priority on the case"
    level = policy.level_of(name) if compiled is None else compiled.level_of(name)
    if level is None:
        fallback = lowest(policy)
        if name is not None:
            source += f"; {name} is not one of the policy's priorities, treated as {fallback}"
        else:
            source += f"; treated as {fallback}"
        return Requested(fallback, name, by, False, source)
    return Requested(level, name, by, True, source)


_ACTOR_TEXT = {
    Actor.CUSTOMER: "the customer",
    Actor.ENGINEER: "an engineer",
    Actor.BRIDGE: "the bridge",
    Actor.UNKNOWN: "an unknown account",
}


def _actor_text(actor: Actor) -> str:
    return _ACTOR_TEXT[actor]


# ------------------------------------------------------------------ conditions


def _parts(value: str) -> list[str]:
    """A field's values, case-folded: a multi-value field is joined with ", "."""
    whole = value.strip().casefold()
    parts = [p.strip().casefold() for p in value.split(",") if p.strip()]
    return [whole, *parts] if len(parts) > 1 else [whole]


@lru_cache(maxsize=1024)
def folded(items: tuple[str, ...]) -> frozenset[str]:
    """Names stripped and case-folded, for case-insensitive membership (cached)."""
    return frozenset(i.strip().casefold() for i in items)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return None


def condition_holds(
    when: Condition, snapshot: IssueSnapshot, level: PriorityLevel
) -> tuple[bool, str]:
    """Whether every key of ``when`` holds, and the reasons (the checked facts) as text."""
    reasons: list[str] = []
    if when.field is not None:
        raw = snapshot.fields.get(when.field)
        text = raw.strip() if raw is not None else ""
        shown = repr(text) if text else "empty"
        values = set(_parts(text)) if text else set()
        checked = False
        if when.missing is not None:
            checked = True
            if (not text) != when.missing:
                return False, ""
            reasons.append(f"{when.field} is {'empty' if when.missing else 'filled in'}")
        if when.equals is not None:
            checked = True
            if text.casefold() != when.equals.strip().casefold():
                return False, ""
            reasons.append(f"{when.field} is {when.equals!r}")
        if when.in_ is not None:
            checked = True
            if not values & folded(when.in_):
                return False, ""
            reasons.append(f"{when.field} is {shown} (one of {', '.join(when.in_)})")
        if when.not_in is not None:
            checked = True
            if values & folded(when.not_in):
                return False, ""
            reasons.append(f"{when.field} is {shown} (not {', '.join(when.not_in)})")
        if not checked:  # a bare `field:` asks for a value
            if not text:
                return False, ""
            reasons.append(f"{when.field} is {shown}")
    if when.request_type is not None:
        rt = snapshot.request_type
        if rt is None or rt.strip().casefold() not in folded(when.request_type):
            return False, ""
        reasons.append(f"request type is {rt}")
    if when.labels_any is not None:
        have = {label.casefold() for label in snapshot.labels}
        hit = sorted(have & folded(when.labels_any))
        if not hit:
            return False, ""
        reasons.append(f"labelled {', '.join(hit)}")
    if when.components_any is not None:
        have = {c.casefold() for c in snapshot.components}
        hit = sorted(have & folded(when.components_any))
        if not hit:
            return False, ""
        reasons.append(f"component {', '.join(hit)}")
    if when.priority is not None:
        if level not in when.priority:
            return False, ""
        reasons.append(f"priority is {level}")
    if when.summary_matches is not None:
        regex = _regex(when.summary_matches)
        if regex is None or regex.search(snapshot.summary) is None:
            return False, ""
        reasons.append(f"summary matches /{when.summary_matches}/")
    return True, "; ".join(reasons) if reasons else "always"


@lru_cache(maxsize=1024)
def _values(text: str) -> frozenset[str]:
    """``set(_parts(text))``, remembered: a field's few values recur across cases."""
    return frozenset(_parts(text))


def _holds(check: _Check, snapshot: IssueSnapshot, level: PriorityLevel) -> bool:
    """``condition_holds(...)[0]`` without the reasons."""
    if check.field is not None:
        raw = snapshot.fields.get(check.field)
        text = raw.strip() if raw is not None else ""
        if check.missing is not None and (not text) != check.missing:
            return False
        if check.equals is not None and text.casefold() != check.equals:
            return False
        if check.in_ is not None or check.not_in is not None:
            values = _values(text) if text else frozenset()
            if check.in_ is not None and not values & check.in_:
                return False
            if check.not_in is not None and values & check.not_in:
                return False
        if check.bare and not text:
            return False
    if check.request_type is not None:
        rt = snapshot.request_type
        if rt is None or rt.strip().casefold() not in check.request_type:
            return False
    labels_any, components_any = check.labels_any, check.components_any
    if labels_any is not None and not any(x.casefold() in labels_any for x in snapshot.labels):
        return False
    if components_any is not None and not any(
        x.casefold() in components_any for x in snapshot.components
    ):
        return False
    if check.priority is not None and level not in check.priority:
        return False
    summary = check.summary
    return not check.summary_given or (
        summary is not None and summary.search(snapshot.summary) is not None
    )


def apply_rule(policy: PriorityPolicy, rule: PriorityRule, level: PriorityLevel) -> PriorityLevel:
    if rule.set is not None:
        level = rule.set
    if rule.cap is not None and rank(policy, level) < rank(policy, rule.cap):
        level = rule.cap
    return level


def decide_priority(
    snapshot: IssueSnapshot, policy: PriorityPolicy, explain: bool = True
) -> PriorityOutcome:
    """The level the case should have, with every rule that fired.

    Without ``explain`` the fired rules carry no ``why`` (the same decisions, cheaper).
    """
    compiled = _compiled(policy)
    memo_fields = compiled.memo_fields
    if explain or memo_fields is None or snapshot.priority_history:
        return _decide(snapshot, policy, compiled, explain)
    # no priority history: nobody changed the priority, so the outcome is the same for
    # every case created with it and asking the same of the rules (few combinations)
    fields = snapshot.fields
    key = (
        snapshot.initial_priority,
        snapshot.priority,
        snapshot.request_type,
        *map(fields.get, memo_fields),
    )
    outcomes = compiled.outcomes
    found = outcomes.get(key)
    if found is None:
        if len(outcomes) >= 4096:  # bounded: free-text fields could vary without end
            outcomes.clear()
        found = outcomes[key] = _decide(snapshot, policy, compiled, explain)
    return found


def _decide(
    snapshot: IssueSnapshot, policy: PriorityPolicy, compiled: _Compiled, explain: bool
) -> PriorityOutcome:
    requested = requested_priority(snapshot, policy, compiled)
    if requested.by is _ENGINEER and policy.respect_engineer_changes:
        if requested.mapped:
            reason = (
                f"{requested.level}: an engineer chose it ({requested.source}); rules not applied"
            )
        else:
            reason = (
                f"an engineer chose {requested.jira_name}, which is not one of the policy's "
                f"priorities; left alone (the response target uses {requested.level})"
            )
        return PriorityOutcome(requested, requested.level, True, (), reason)
    if explain:
        run = _run_rules(snapshot, policy, compiled, requested.level, True)
    else:
        memo_fields = compiled.memo_fields
        if memo_fields is None:
            run = _run_rules(snapshot, policy, compiled, requested.level, False)
        else:
            fields = snapshot.fields
            memo_key = (requested.level, snapshot.request_type, *map(fields.get, memo_fields))
            memo = compiled.memo
            found = memo.get(memo_key)
            if found is None:
                if len(memo) >= 4096:  # bounded: free-text fields could vary without end
                    memo.clear()
                found = memo[memo_key] = _run_rules(
                    snapshot, policy, compiled, requested.level, False
                )
            run = found
    level = run.level
    if run.steps:
        reason = f"{level}: requested {requested.level}, then {run.steps}"
    else:
        reason = f"{level}: as requested ({requested.source})"
    return PriorityOutcome(requested, level, False, run.fired, reason)


def _run_rules(
    snapshot: IssueSnapshot,
    policy: PriorityPolicy,
    compiled: _Compiled,
    level: PriorityLevel,
    explain: bool,
) -> _RuleRun:
    fired: list[FiredRule] = []
    for rule, check in compiled.checks:
        if explain:
            holds, why = condition_holds(rule.when, snapshot, level)
        else:
            holds, why = _holds(check, snapshot, level), ""
        if not holds:
            continue
        after = apply_rule(policy, rule, level)
        fired.append(FiredRule(rule, level, after, why))
        level = after
    steps = "; ".join(f"{f.rule.name}: {f.before} -> {f.after}" for f in fired if f.changed)
    return _RuleRun(level, tuple(fired), steps)


@lru_cache(maxsize=256)
def slug(text: str) -> str:
    """A rule name as an id segment: lower-case letters/digits joined by '-'.

    Remembered: the names come from the rule set, and every case repeats them.
    """
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-") or "rule"


# Enum members read through their class cost a class-attribute look-up each (about
# 0.1 µs in CPython 3.11); the hot paths compare with these module constants instead.
_ENGINEER = Actor.ENGINEER
_BRIDGE = Actor.BRIDGE
