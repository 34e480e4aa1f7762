"""A bounded memo: answers kept by value across cycles, forgotten all at once past a size.

What depends only on the rules and on values a case carries (never on ``now``) is the
same answer every cycle, so the compiled rules keep it
(:class:`~bridge.policy.compiled.Policy`, a calendar): a daemon's later cycles, like
``explain`` after a report, reuse what the first one worked out.  An organisation's
month ranked is kept the same way, by the month's cases it was ranked from.  Keys are values
derived from what the decision declares it reads; the memo forgets everything once
it holds ``limit`` answers, so memory stays bounded however long the daemon runs.

A memo is a dictionary (its look-up is the dictionary's own ``get``, with no Python
call around it: every case looks up several memos) that is written only through
:meth:`Memo.keep`.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

#: answers shared by many cases (the priority decisions: few combinations of what they read)
LIMIT = 4096
#: answers that differ from case to case (free-text answers, creation times): room for
#: every open case of a large site, so each case's answer is kept until its next cycle
PER_CASE = 16384


class Memo(dict[K, V]):
    """Answers by key (``get``), at most ``limit`` of them (all forgotten when full)."""

    def __init__(self, limit: int = LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"a memo's limit must be at least 1, got {limit}")
        super().__init__()
        self.limit = limit

    def keep(self, key: K, answer: V) -> V:
        """Keep ``answer`` for ``key`` (forgetting every answer first when full); returns it."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = answer
        return answer

    def __repr__(self) -> str:
        return f"Memo({len(self)} of {self.limit})"
