"""Fault injection for the sandbox: seedable, combinable, described by one spec string.

Spec: comma-separated items, applied to Jira routes only (``/_sandbox/*`` is never faulted)::

    429:P[@Ns]          a request is rate-limited with probability P; Retry-After N s (default 1)
    burst:N/Ws          per endpoint (method + route), at most N requests per W seconds of real
                        time; the rest get 429 with Retry-After = seconds left in the window
                        (Cloud's burst budget)
    500:P  502:P        a 500 / 502 with probability P
    503:P[@Ns]          a 503 with probability P; with @Ns it carries Retry-After: N
    slow:P@Xs           the response is delayed X seconds with probability P
    slow-write:P@Xs[:W] a write is held X seconds with probability P, then applied and
                        answered: with X over the client's timeout the write lands after the
                        client gave up (an ambiguous write that lands late).  W limits it to
                        one kind of write: comment, transition, edit or property
    drop:P              the connection is closed without a response, nothing applied
    fail-write:N[:landed|:lost|:refused][@KEY]
                        the Nth write (1-based, counted since the spec was set) drops the
                        connection; ``landed`` applies the write first (an ambiguous
                        success), ``lost`` (default) does not; ``refused`` answers 429
                        (Retry-After: 0) instead, nothing applied: Jira turning it away  With @KEY only the writes
                        to issue KEY count (a bulk request that moves it among others
                        counts as one): a position that does not depend on how a client
                        interleaves its writes to several issues
    seed:S              random seed (default 0): the same spec + seed gives the same faults
    only:read|write     restrict the probabilistic faults to reads or to writes

Example: ``429:0.1,503:0.05@2s,drop:0.05,slow:0.02@0.2s,fail-write:7:landed,seed:42``.
Decisions are made in request order under a lock, so a single-threaded client sees a
reproducible sequence.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass, field


@dataclass
class Decision:
    """What to do with one request.  ``status`` None = serve it normally."""

    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    drop_before: bool = False  # close the connection, nothing applied
    drop_after: bool = False  # apply the write, then close the connection
    label: str = ""


@dataclass
class FaultSpec:
    spec: str = ""
    rate_limit: float = 0.0
    rate_limit_after: float = 1.0
    burst: tuple[int, float] | None = None
    errors: list[tuple[int, float, float | None]] = field(default_factory=list)
    slow: tuple[float, float] | None = None
    slow_write: tuple[float, float, str | None] | None = None  # p, seconds, kind
    drop: float = 0.0
    fail_writes: dict[int, str] = field(default_factory=dict)  # n -> landed|lost|refused
    fail_issue: str | None = None  # count only the writes to this issue (its key)
    seed: int = 0
    only: str | None = None

    @classmethod
    def parse(cls, spec: str | None) -> FaultSpec:
        out = cls(spec=spec or "")
        for raw in (spec or "").split(","):
            item = raw.strip()
            if not item:
                continue
            try:
                out._add(item)
            except (ValueError, IndexError) as exc:
                raise ValueError(f"bad fault item {item!r} in {spec!r}: {exc}") from None
        return out

    def _add(self, item: str) -> None:
        head, _, rest = item.partition(":")
        head = head.lower()
        if head == "seed":
            self.seed = int(rest)
        elif head == "only":
            if rest not in ("read", "write"):
                raise ValueError("only:read or only:write")
            self.only = rest
        elif head == "burst":
            n, _, w = rest.partition("/")
            self.burst = (int(n), _seconds(w or "1s"))
        elif head == "fail-write":
            rest, _, issue = rest.partition("@")
            n, _, mode = rest.partition(":")
            if mode not in ("", "landed", "lost", "refused"):
                raise ValueError("mode is landed, lost or refused")
            target = issue.strip().upper() or None
            if self.fail_writes and target != self.fail_issue:
                raise ValueError("every fail-write names the same issue, or none does")
            self.fail_issue = target
            self.fail_writes[int(n)] = mode or "lost"
        elif head == "slow-write":
            p_text, _, after = rest.partition("@")
            seconds, _, which = after.partition(":")
            p = float(p_text)
            if not 0.0 <= p <= 1.0:
                raise ValueError("probability must be between 0 and 1")
            if which not in ("", *WRITE_KINDS):
                raise ValueError(f"the write kind is one of {', '.join(WRITE_KINDS)}")
            self.slow_write = (p, _seconds(seconds or "1s"), which or None)
        elif head in ("429", "500", "502", "503", "slow", "drop"):
            p_text, _, after = rest.partition("@")
            p = float(p_text)
            if not 0.0 <= p <= 1.0:
                raise ValueError("probability must be between 0 and 1")
            if head == "429":
                self.rate_limit = p
                self.rate_limit_after = _seconds(after) if after else 1.0
            elif head == "slow":
                self.slow = (p, _seconds(after or "0.2s"))
            elif head == "drop":
                self.drop = p
            else:
                self.errors.append((int(head), p, _seconds(after) if after else None))
        else:
            raise ValueError(
                "expected 429:P, burst:N/Ws, 500:P, 502:P, 503:P[@Ns], slow:P@Xs, "
                "slow-write:P@Xs[:comment|transition|edit|property], drop:P, "
                "fail-write:N[:landed|:lost|:refused][@KEY], seed:S or only:read|write"
            )


#: write kinds `slow-write` can be limited to, by the endpoint's route
WRITE_KINDS = {
    "comment": "/comment",
    "transition": "/transitions",
    "edit": "/issue/{issueIdOrKey}",
    "property": "/properties/{propertyKey}",
}


def _seconds(text: str) -> float:
    t = text.strip().lower()
    if t.endswith("ms"):
        return float(t[:-2]) / 1000
    return float(t.rstrip("s"))


class Faults:
    """Stateful fault decisions (random stream, write counter, burst windows)."""

    def __init__(self, spec: str | FaultSpec | None = None) -> None:
        self._lock = threading.Lock()
        self.set(spec)

    def set(self, spec: str | FaultSpec | None) -> None:
        parsed = spec if isinstance(spec, FaultSpec) else FaultSpec.parse(spec)
        with self._lock:
            self.spec = parsed
            self._rng = random.Random(parsed.seed)
            self._writes = 0
            self._windows: dict[str, tuple[float, int]] = {}

    @property
    def active(self) -> bool:
        return bool(self.spec.spec.strip())

    def decide(self, endpoint: str, kind: str, issues: Collection[str] = ()) -> Decision:
        """One decision per request, in arrival order; ``issues``: the keys of the issues
        a write is to."""
        s = self.spec
        with self._lock:
            if s.burst is not None:
                limit, window = s.burst
                now = time.monotonic()
                start, count = self._windows.get(endpoint, (now, 0))
                if now - start >= window:
                    start, count = now, 0
                count += 1
                self._windows[endpoint] = (start, count)
                if count > limit:
                    left = max(1, math.ceil(window - (now - start)))
                    return Decision(429, retry_after=left, label="burst")
            random_ok = s.only is None or s.only == kind
            # always draw the same number of random values per request: reproducible streams
            draws = [self._rng.random() for _ in range(3 + len(s.errors))]
            if random_ok and draws[0] < s.rate_limit:
                return Decision(429, retry_after=s.rate_limit_after, label="429")
            for (code, p, after), d in zip(s.errors, draws[3:], strict=True):
                if random_ok and d < p:
                    return Decision(code, retry_after=after, label=str(code))
            if random_ok and draws[1] < s.drop:
                return Decision(drop_before=True, label="drop")
            delay = 0.0
            if random_ok and s.slow is not None and draws[2] < s.slow[0]:
                delay = s.slow[1]
            if kind == "write" and s.slow_write is not None:
                p, seconds, which = s.slow_write
                if (which is None or endpoint.endswith(WRITE_KINDS[which])) and (
                    p >= 1.0 or self._rng.random() < p
                ):
                    delay = max(delay, seconds)
            if kind == "write" and (s.fail_issue is None or s.fail_issue in issues):
                self._writes += 1
                mode = s.fail_writes.get(self._writes)
                if mode == "landed":
                    return Decision(delay=delay, drop_after=True, label="fail-write:landed")
                if mode == "lost":
                    return Decision(delay=delay, drop_before=True, label="fail-write:lost")
                if mode == "refused":
                    return Decision(429, retry_after=0.0, delay=delay, label="fail-write:refused")
            label = "slow" if delay else ""
            if delay and kind == "write" and s.slow_write is not None and delay >= s.slow_write[1]:
                label = "slow-write"
            return Decision(delay=delay, label=label)
