"""Pacing requests from many workers below Atlassian's published rate limits.

Jira Cloud's rate limiting for API-token traffic ("Rate limiting", developer.atlassian.com
/cloud/jira/platform/rate-limiting/) budgets requests per endpoint per second — about 100
for GET and POST and 50 for PUT — and allows at most 20 writes per 2 seconds on any one
issue.  A pool of workers could pass either, so every request first takes a token here:

* one token bucket per endpoint (method + path with the issue key and ids folded), filled
  at :data:`ENDPOINT_RATES` — a fifth below the published figures — with a burst of half a
  second's worth;
* a sliding window per issue for writes: at most :data:`ISSUE_WRITES` per
  :data:`ISSUE_WINDOW` seconds (the published 20 per 2 s, less a margin);
* a pool-wide pause: when Jira answers 429 (or 503 with ``Retry-After``), :meth:`pause`
  holds back every worker until the server's time has passed, not only the one that was
  told (the retry itself is still `bridge.jira.retry`'s business).

Data Center publishes no such budgets (an admin may configure its own rate limiting,
which answers 429 like Cloud): the same pacing is safe there.

Clock and sleep are injectable, so tests check the pacing without waiting.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from bridge.jira.retry import WaitInterrupted

#: requests per second per endpoint, by method (a fifth below Cloud's published budget)
ENDPOINT_RATES: Mapping[str, float] = {"GET": 80.0, "POST": 80.0, "PUT": 40.0, "DELETE": 40.0}
#: writes allowed on one issue per window (Cloud: 20 per 2 s)
ISSUE_WRITES = 18
ISSUE_WINDOW = 2.0

_EPSILON = 1e-6

_ISSUE = re.compile(r"/issue/([^/?]+)")
_NUMBER = re.compile(r"/\d{3,}(?=/|$)")  # ids, not the API version


def endpoint(method: str, path: str) -> tuple[str, str | None]:
    """``(method + path template, issue key or None)`` for a request path."""
    path = "/" + path.lstrip("/").split("?", 1)[0]
    found = _ISSUE.search(path)
    key = found.group(1) if found else None
    template = _ISSUE.sub("/issue/{key}", path)
    return f"{method.upper()} {_NUMBER.sub('/{id}', template)}", key


class RateLimiter:
    """Blocks each request until its endpoint, its issue and the pool may go."""

    def __init__(
        self,
        rates: Mapping[str, float] | None = None,
        *,
        issue_writes: int = ISSUE_WRITES,
        issue_window: float = ISSUE_WINDOW,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rates = dict(rates if rates is not None else ENDPOINT_RATES)
        self.issue_writes = issue_writes
        self.issue_window = issue_window
        self._clock = clock
        self._sleep = sleep
        #: interruptible sleep set by the daemon: ``interrupt(seconds)`` returns True when a
        #: stop request cut the wait short, and the waiting request is then not sent at all
        self.interrupt: Callable[[float], bool] | None = None
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # endpoint -> (tokens, at)
        self._issues: dict[str, deque[float]] = {}
        self._paused_until = 0.0
        #: seconds spent waiting here, all workers together (for the cycle's log line)
        self.waited = 0.0

    def pause(self, seconds: float) -> None:
        """Jira asked for a pause (429 / Retry-After): no worker sends before it is over."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(0.0, seconds))

    def acquire(self, method: str, path: str, *, write: bool) -> None:
        """Wait until the request may be sent, then count it."""
        name, key = endpoint(method, path)
        while True:
            with self._lock:
                wait = self._take(name, key if write else None, method.upper())
                if wait <= 0:
                    return
                self.waited += wait
            if self.interrupt is None:
                self._sleep(wait)
            elif self.interrupt(wait):
                raise WaitInterrupted("stop requested while waiting for Jira's pace")

    def _take(self, name: str, key: str | None, method: str) -> float:
        """0 and the request counted, or how long to wait before asking again."""
        now = self._clock()
        if now < self._paused_until:
            return self._paused_until - now
        rate = self.rates.get(method)
        tokens = 0.0
        if rate:
            burst = max(1.0, rate / 2)
            tokens, at = self._buckets.get(name, (burst, now))
            tokens = min(burst, tokens + (now - at) * rate)
            if tokens < 1.0 - _EPSILON:  # (a wait computed to the last bit may fall short)
                self._buckets[name] = (tokens, now)
                return (1.0 - tokens) / rate + _EPSILON / rate
        if key is not None:
            window = self._issues.setdefault(key, deque())
            while window and now - window[0] >= self.issue_window - _EPSILON:
                window.popleft()
            if len(window) >= self.issue_writes:
                return self.issue_window - (now - window[0]) + _EPSILON
            window.append(now)
            if len(self._issues) > 10_000:  # forget issues whose window has passed
                for k in [
                    k for k, w in self._issues.items() if not w or now - w[-1] >= self.issue_window
                ]:
                    del self._issues[k]
        if rate:
            self._buckets[name] = (tokens - 1.0, now)
        return 0.0
