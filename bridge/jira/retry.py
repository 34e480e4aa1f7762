"""Every retry jsm-bridge makes against Jira happens here, and only here.

The rules (Atlassian's rate-limiting guidance, SPEC §7):

* **429**, and a 5xx that carries ``Retry-After``: wait what the server asks
  (seconds or an HTTP date), capped, and log the wait.
* **5xx, timeouts, dropped connections**: exponential backoff with jitter,
  a bounded number of attempts.
* **Permanent errors** (400, 401, 403, 404, 409, 422, ...): never retried.
* **TLS that cannot work**: a certificate the bridge does not trust (self-signed,
  expired, another host's) or a handshake that fails (``https://`` to a port serving
  plain http: "wrong version number") raises :class:`TlsFailure` at once: it is the
  config or the site's certificate that must change, not the moment.  Only the
  handshake, while connecting, counts: a TLS error reading the answer (a damaged
  record) is a dropped connection like any other.  A connection
  that fails otherwise (refused, reset, a name lookup failing for now) is retried,
  with its cause (`connection_cause`) in the log line and the final error.
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

import http.client
import math
import random
import re
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
import structlog
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt
from urllib3.exceptions import NameResolutionError, ProtocolError
from urllib3.util.ssl_match_hostname import CertificateError

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


class TlsFailure(Exception):
    """The TLS handshake failed in a way no retry fixes; nothing was sent.

    ``kind``: "certificate" (the server's certificate could not be verified: ``detail``
    says why, e.g. "self-signed certificate"), "version" (the server did not answer in
    TLS: "wrong version number", as plain http does) or "handshake" (another refusal
    to agree on TLS, e.g. "sslv3 alert handshake failure")."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail


#: OpenSSL's reasons for a handshake that will fail the same way next time.  Others (an
#: EOF, a bad record MAC) may be a connection cut short: those are retried.  They count only
#: when raised by the handshake itself (`_in_handshake`): once the request may have been
#: sent, a damaged record reads as RECORD_LAYER_FAILURE, PACKET_LENGTH_TOO_LONG or
#: WRONG_VERSION_NUMBER too (OpenSSL 3), and that is a connection cut short, not a config.
_HANDSHAKE_REASONS = frozenset(
    {
        "SSLV3_ALERT_HANDSHAKE_FAILURE",
        "SSLV3_ALERT_BAD_CERTIFICATE",
        "SSLV3_ALERT_CERTIFICATE_EXPIRED",
        "SSLV3_ALERT_CERTIFICATE_UNKNOWN",
        "TLSV1_ALERT_PROTOCOL_VERSION",
        "TLSV1_ALERT_UNKNOWN_CA",
        "TLSV1_ALERT_ACCESS_DENIED",
        "TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "TLSV1_UNRECOGNIZED_NAME",
        "UNSUPPORTED_PROTOCOL",
        "NO_PROTOCOLS_AVAILABLE",
        "NO_SHARED_CIPHER",
        "NO_CIPHERS_AVAILABLE",
        "DH_KEY_TOO_SMALL",
        "UNSAFE_LEGACY_RENEGOTIATION_DISABLED",
        "UNKNOWN_PROTOCOL",
        "PACKET_LENGTH_TOO_LONG",
        "RECORD_LAYER_FAILURE",
        "HTTP_REQUEST",
        "WRONG_VERSION_NUMBER",
    }
)
#: the reasons saying the other end does not speak TLS at all
_NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG"})
#: ``[Errno 111] Connection refused`` in a message urllib3 built around an OSError
_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^\])'\"]+)")


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: requests' ``args[0]``, urllib3's ``reason`` and
    ``ProtocolError`` argument, ``__cause__`` and ``__context__`` (outermost first)."""
    seen: list[BaseException] = []
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 20:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        inner = [a for a in current.args if isinstance(a, BaseException)]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            inner.append(reason)
        resolution = getattr(current, "_reason", None)  # urllib3's NameResolutionError
        if isinstance(resolution, BaseException):
            inner.append(resolution)
        inner += [e for e in (current.__cause__, current.__context__) if e is not None]
        todo.extend(inner)
    return seen


def _in_handshake(error: BaseException) -> bool:
    """True when ``error`` was raised by the TLS handshake (Python's ``do_handshake``,
    which urllib3 runs while connecting, before any of the request is sent).

    urllib3 wraps an OpenSSL error met while reading the answer exactly as one met while
    connecting (``MaxRetryError(reason=SSLError(...))``), so the wrapping proves nothing:
    only where the error was raised does.  No such evidence (an error built by hand, or
    raised reading or writing): not the handshake."""
    tb = error.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_name == "do_handshake":
            return True
        tb = tb.tb_next
    return False


def tls_failure(exc: BaseException, *, idempotent: bool = False) -> TlsFailure | None:
    """A `TlsFailure` when ``exc`` is a TLS handshake no retry will get through, else None.

    Only a failure while connecting is one (nothing was sent): a certificate that could not
    be verified, or a handshake `_in_handshake` refused for one of `_HANDSHAKE_REASONS`.
    A TLS error once the exchange was under way (urllib3's ``ProtocolError("Connection
    aborted.")``, or raised reading the answer) is a connection cut short: retried for a
    read, ambiguous for a write that may have landed.  But for an ``idempotent`` request
    (a read, an edit), an alert the other end sent (``TLSV13_ALERT_CERTIFICATE_REQUIRED``: TLS 1.3 tells a missing client
    certificate only once the client reads, after its handshake is done) is the site
    refusing the bridge, whenever it came: a damaged record is never an alert.  A comment
    or transition so refused stays ambiguous, and the next read meets the alert."""
    chain = _chain(exc)
    for inner in chain:
        reason = str(getattr(inner, "reason", "") or "") if isinstance(inner, ssl.SSLError) else ""
        if idempotent and "_ALERT_" in reason:
            return TlsFailure("handshake", reason.lower().replace("_", " "))
    if any(isinstance(inner, ProtocolError) for inner in chain):
        return None  # urllib3 says the request was under way
    for inner in chain:
        if isinstance(inner, ssl.SSLCertVerificationError):
            why = inner.verify_message or inner.reason or "certificate verify failed"
            return TlsFailure("certificate", str(why))
        if isinstance(inner, CertificateError):  # urllib3's own host name check
            return TlsFailure("certificate", str(inner) or "the host name does not match")
        if (
            isinstance(inner, ssl.SSLError)
            and inner.reason in _HANDSHAKE_REASONS
            and _in_handshake(inner)
        ):
            why = str(inner.reason).lower().replace("_", " ")
            return TlsFailure("version" if inner.reason in _NOT_TLS_REASONS else "handshake", why)
    return None


def connection_cause(exc: BaseException) -> str:
    """A short cause for a failed connection ("connection refused", "connection reset by
    peer", "host name not resolved: temporary failure in name resolution"), built from
    the OS's words, never from a URL or a header; "connection failed" when none is known."""
    chain = _chain(exc)
    for inner in chain:
        if isinstance(inner, socket.gaierror):
            return f"host name not resolved: {(inner.strerror or str(inner)).lower()}"
    for inner in chain:
        if isinstance(inner, NameResolutionError):
            return "host name not resolved"
        if isinstance(inner, http.client.RemoteDisconnected):
            return "the server closed the connection without answering"
        if isinstance(inner, ssl.SSLError) and inner.reason:
            return f"TLS connection failed: {str(inner.reason).lower().replace('_', ' ')}"
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror.lower()
    for inner in chain:
        found = _ERRNO_TEXT.search(str(inner.args[0]) if inner.args else "")
        if found:
            return found.group(1).strip().lower()
    return "connection failed"


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
        out, `AmbiguousWrite` when a non-idempotent request may have landed, and
        `TlsFailure` at once when the TLS handshake cannot work.
        """

        def attempt() -> requests.Response:
            try:
                response = send()
            except requests.exceptions.Timeout as exc:
                if idempotent or never_sent(exc):
                    raise Transient("timeout", f"timed out ({type(exc).__name__})") from None
                raise AmbiguousWrite(f"timed out after sending ({type(exc).__name__})") from None
            except requests.exceptions.ConnectionError as exc:
                # a handshake failed before anything was sent: no retry, nothing ambiguous
                failure = tls_failure(exc, idempotent=idempotent)
                if failure is not None:
                    raise failure from None
                cause = connection_cause(exc)
                if idempotent or never_sent(exc):
                    raise Transient("connection", cause) from None
                raise AmbiguousWrite(f"the connection dropped after sending ({cause})") from None
            except (
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                # the answer's body was cut short (or garbled) after the request was sent
                cause = f"the answer was cut short ({type(exc).__name__})"
                if idempotent:
                    raise Transient("connection", cause) from None
                raise AmbiguousWrite(cause) from None
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
