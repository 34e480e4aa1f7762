"""Every retry jsm-bridge makes against Jira happens here, and only here.

The rules (Atlassian's rate-limiting guidance, SPEC §7):

* **429**, and a 5xx that carries ``Retry-After``: wait what the server asks
  (seconds or an HTTP date), capped, and log the wait.
* **5xx, timeouts, dropped connections**: exponential backoff with jitter,
  a bounded number of attempts.
* **Permanent errors** (400, 401, 403, 404, 409, 422, ...): never retried.
* **Non-idempotent calls** (POST comment, POST transition) are only retried
  when the request cannot have landed: 429, a 503 with ``Retry-After`` (the
  server refused it), or a connection that was never established.  A timeout
  or dropped connection *after* sending raises ``JiraError(ambiguous=True)`` so
  the caller re-reads the issue and decides; a 5xx without ``Retry-After`` is
  ambiguous too (a proxy may answer 502/504 after Jira did the work).

**Circuit breaker.**  When Jira keeps refusing -- ``breaker_threshold`` calls in
a row ran out of attempts (constant 429s, a site down behind a proxy that still
answers 503) -- every further call would only add minutes of waiting.  The call
that makes it ``breaker_threshold`` in a row raises :class:`CircuitOpen` instead
of failing on its own.  It is deliberately not a ``JiraError``: nothing that
handles one failed action catches it, so the cycle ends at once (exit 3) and
the next cycle (the daemon backs off first) starts with a fresh count.

**Waits that stop.**  ``Retrier.pause`` (set by the daemon and ``run --once``
to the signal handlers' interruptible sleep) makes every wait between
attempts end at once on SIGTERM/SIGINT with :class:`WaitInterrupted`, so a
stop request never waits behind a ``Retry-After``.

The sleep function is injectable so tests assert the waits without sleeping.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

log = structlog.get_logger("bridge.jira.retry")

#: HTTP statuses worth another try (a transient server-side condition).
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try.  Defaults follow Atlassian's guidance: few retries, bounded waits."""

    max_attempts: int = 5  # total tries, the first included
    initial_wait: float = 1.0  # seconds; doubles each retry
    max_wait: float = 30.0  # cap for one exponential wait
    jitter: float = 1.0  # up to this many random seconds added to each exponential wait
    retry_after_cap: float = 60.0  # cap for a server-requested wait (Retry-After)
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    #: the random source for jitter (``random.uniform``-like); injectable for tests
    uniform: Callable[[float, float], float] = field(default=random.uniform, compare=False)
    #: the wall clock used to turn an HTTP-date Retry-After into seconds
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC), compare=False)
    #: calls in a row that ran out of attempts before the cycle is ended (0: never)
    breaker_threshold: int = 3

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")


class CircuitOpen(Exception):
    """Jira kept failing call after call: end this cycle now (not a per-action failure)."""


class WaitInterrupted(Exception):
    """A stop was requested during a wait between attempts; nothing more was sent."""


class Transient(Exception):
    """An attempt failed in a way another attempt may fix (internal to the retry loop)."""

    def __init__(
        self,
        kind: str,
        detail: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        response: requests.Response | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind  # "429" | "5xx" | "timeout" | "connection"
        self.detail = detail
        self.status = status
        self.retry_after = retry_after
        self.response = response


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), or None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def classify_response(
    response: requests.Response, *, idempotent: bool, now: datetime | None = None
) -> Transient | None:
    """A `Transient` when this response should be retried, else None (success or permanent)."""
    status = response.status_code
    if status not in TRANSIENT_STATUSES:
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now)
    kind = "429" if status == 429 else "5xx"
    if not idempotent and not (status == 429 or (status == 503 and retry_after is not None)):
        # The server may have done the work before failing (a proxy's 502 or 504 may come
        # after Jira saved the comment, Retry-After or not): not ours to repeat.  Only a
        # 429 and a 503 with Retry-After say the request was turned away.
        return None
    return Transient(
        kind, f"HTTP {status}", status=status, retry_after=retry_after, response=response
    )


def never_sent(exc: requests.RequestException) -> bool:
    """True when the request provably never reached the server (connect refused or timed out)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        # requests wraps urllib3's MaxRetryError(reason=NewConnectionError) for refused connects.
        from urllib3.exceptions import MaxRetryError, NewConnectionError

        inner = exc.args[0] if exc.args else None
        if isinstance(inner, MaxRetryError):
            inner = inner.reason
        return isinstance(inner, NewConnectionError)
    return False


class Retrier:
    """Runs one HTTP exchange under a `RetryPolicy`, counting retries by kind."""

    def __init__(
        self,
        policy: RetryPolicy | None = None,
        *,
        on_retry: Callable[[str], None] | None = None,
    ) -> None:
        self.policy = policy or RetryPolicy()
        self._on_retry = on_retry
        #: interruptible sleep: ``pause(seconds)`` returns True when a stop cut it short
        self.pause: Callable[[float], bool] | None = None
        self._failures = 0  # calls in a row that ran out of attempts

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds`` the way retries do: a stop request cuts it short
        (`WaitInterrupted`)."""
        self._sleep(seconds)

    def _sleep(self, seconds: float) -> None:
        if self.pause is not None:
            if self.pause(seconds):
                raise WaitInterrupted("stop requested while waiting to retry")
            return
        self.policy.sleep(seconds)

    @property
    def failures_in_a_row(self) -> int:
        """Calls in a row that ran out of attempts (0 after any final answer)."""
        return self._failures

    def _record(self, exhausted: Transient | None, what: str) -> None:
        if exhausted is None:
            self._failures = 0
            return
        self._failures += 1
        threshold = self.policy.breaker_threshold
        if threshold and self._failures >= threshold:
            failures, self._failures = self._failures, 0  # the next cycle counts afresh
            log.error("jira.circuit_open", call=what, failures=failures, reason=exhausted.detail)
            raise CircuitOpen(
                f"{what} failed after {self.policy.max_attempts} attempts ({exhausted.detail}),"
                f" {failures} calls in a row: Jira is refusing work;"
                " this cycle stops and the next one tries again"
            ) from None

    def _wait(self, state: RetryCallState) -> float:
        policy = self.policy
        exc = state.outcome.exception() if state.outcome is not None else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return min(exc.retry_after, policy.retry_after_cap)
        exponent = max(0, state.attempt_number - 1)
        base = min(policy.max_wait, policy.initial_wait * (2.0**exponent))
        jitter = policy.uniform(0.0, policy.jitter) if policy.jitter > 0 else 0.0
        return min(policy.max_wait, base + jitter)

    def _before_sleep(self, what: str) -> Callable[[RetryCallState], None]:
        def hook(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            wait = state.next_action.sleep if state.next_action is not None else 0.0
            kind = exc.kind if isinstance(exc, Transient) else "error"
            if self._on_retry is not None:
                self._on_retry(kind)
            log.warning(
                "jira.retry",
                call=what,
                reason=exc.detail if isinstance(exc, Transient) else type(exc).__name__,
                kind=kind,
                attempt=state.attempt_number,
                of=self.policy.max_attempts,
                wait_s=round(wait, 3),
                retry_after=exc.retry_after if isinstance(exc, Transient) else None,
            )

        return hook

    def run(
        self,
        send: Callable[[], requests.Response],
        *,
        idempotent: bool,
        what: str,
    ) -> requests.Response:
        """Call ``send`` until it yields a final response.

        Returns the final response (success *or* permanent failure: the caller
        turns statuses into errors).  Raises `Transient` when the attempts run
        out, and `AmbiguousWrite` when a non-idempotent request may have landed.
        """

        def attempt() -> requests.Response:
            try:
                response = send()
            except requests.exceptions.Timeout as exc:
                if idempotent or never_sent(exc):
                    raise Transient("timeout", f"timed out ({type(exc).__name__})") from None
                raise AmbiguousWrite(f"timed out after sending ({type(exc).__name__})") from None
            except requests.exceptions.ConnectionError as exc:
                if idempotent or never_sent(exc):
                    raise Transient("connection", "connection failed") from None
                raise AmbiguousWrite("the connection dropped after sending") from None
            transient = classify_response(response, idempotent=idempotent, now=self.policy.now())
            if transient is not None:
                raise transient
            return response

        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(Transient),
            sleep=self._sleep,
            before_sleep=self._before_sleep(what),
            reraise=True,
        )
        try:
            response = retrying(attempt)
        except Transient as exc:
            self._record(exc, what)  # raises CircuitOpen when this was one too many
            raise
        self._record(None, what)
        return response


class AmbiguousWrite(Exception):
    """A non-idempotent request was (perhaps) sent and no answer came back."""
