"""Refuse rule regular expressions that can backtrack catastrophically.

Python's ``re`` engine backtracks: a pattern such as ``(a+)+$`` or ``(\\w|\\d)*x``
tries exponentially many ways to split a hostile summary before failing, and a
255-character summary is enough to take minutes.  Summaries are written by
customers, so such a pattern in ``summary_matches`` would let any customer stall
every cycle.  :func:`backtracking_risk` finds the two shapes responsible, in the
parsed pattern, and ``check`` refuses them at load:

* a repeat inside a repeat of more than a few rounds (``(a+)+``, ``(a*b?)*``,
  ``(.*a){20}``), and
* an unbounded repeat over alternatives that can start with the same character
  (``(a|ab)*``, ``(\\w|\\d)+``, ``(.|x)*``).

Repeats over alternatives with distinct first characters (``(foo|bar)+``) and
everything without nested repetition stay allowed.
"""

from __future__ import annotations

import re
import re._constants as c
import re._parser as sre
from typing import Any

__all__ = ("backtracking_risk",)

_REPEATS = (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT)
_ANY = "any"  # a first-character set that may be anything
#: An outer repeat of at most this many rounds may hold an inner one (``(\d{1,3}\.){3}``).
_FEW = 5


def backtracking_risk(pattern: str, flags: int = 0) -> str | None:
    """Why ``pattern`` may backtrack catastrophically, or None when it is safe.

    ``pattern`` must compile (check that first).
    """
    try:
        parsed = sre.parse(pattern, flags)
    except (re.error, RecursionError):
        return None
    return _scan(list(parsed), inside_unbounded=False)


def _scan(items: list[tuple[Any, Any]], *, inside_unbounded: bool) -> str | None:
    for op, av in items:
        if op in _REPEATS:
            _low, high, body = av
            if op is c.POSSESSIVE_REPEAT:
                continue  # never backtracks into its body
            if inside_unbounded and high > 1:
                return "a repeat (+, *, {n,m}) inside another repeat"
            unbounded = high == c.MAXREPEAT or high > _FEW
            if unbounded:
                overlap = _overlapping_branch(list(body))
                if overlap:
                    return overlap
            found = _scan(list(body), inside_unbounded=inside_unbounded or unbounded)
            if found:
                return found
        elif op is c.SUBPATTERN:
            found = _scan(list(av[-1]), inside_unbounded=inside_unbounded)
            if found:
                return found
        elif op is c.BRANCH:
            for branch in av[1]:
                found = _scan(list(branch), inside_unbounded=inside_unbounded)
                if found:
                    return found
        elif op in (c.ATOMIC_GROUP, c.ASSERT, c.ASSERT_NOT):
            body = av if op is c.ATOMIC_GROUP else av[1]
            found = _scan(list(body), inside_unbounded=inside_unbounded)
            if found:
                return found
    return None


def _overlapping_branch(items: list[tuple[Any, Any]]) -> str | None:
    """A branch directly under an unbounded repeat whose alternatives share a first character."""
    for op, av in items:
        if op is c.SUBPATTERN:
            return _overlapping_branch(list(av[-1]))
        if op is c.BRANCH:
            firsts = [_first(list(branch)) for branch in av[1]]
            for i, one in enumerate(firsts):
                for other in firsts[i + 1 :]:
                    if one == _ANY or other == _ANY or (one & other):  # type: ignore[operator]
                        return "an unbounded repeat over alternatives that can match the same text"
            return None
        if op in (c.AT,):
            continue
        return None
    return None


def _first(items: list[tuple[Any, Any]]) -> frozenset[int] | str:
    """The characters a sequence can start with (a set of code points), or ``_ANY``."""
    for op, av in items:
        if op is c.LITERAL:
            return frozenset({av})
        if op is c.AT:
            continue
        if op is c.SUBPATTERN:
            return _first(list(av[-1]))
        if op is c.IN:
            chars = {v for o, v in av if o is c.LITERAL}
            if all(o is c.LITERAL for o, _ in av):
                return frozenset(chars)
            return _ANY
        return _ANY  # a class, a repeat, any character, an empty alternative
    return _ANY  # an empty alternative matches where any other does
