"""Logging for every command: structlog on top of stdlib logging, with secrets redacted.

One call, :func:`configure_logging`, sets it up at start-up:

* **JSON lines** when the stream is not a terminal (systemd's journal, cron via
  ``logger``, files): one object per line with ``timestamp`` (ISO 8601, UTC),
  ``level``, ``event`` and ``logger`` plus the event's own keys.
* **Readable console lines** on a terminal (no colours when ``NO_COLOR`` is set).
* **Redaction** on every line, from the bridge's own loggers *and* from stdlib
  loggers such as ``urllib3`` and ``atlassian``: any registered secret value
  (:func:`register_secret`; the settings loader registers the API token) is
  replaced by ``***`` wherever it appears -- in the message, in keyword values,
  inside nested dicts and lists, in exception text and tracebacks.  Values of
  keys named like credentials (``token``, ``password``, ``authorization``,
  ``api_token``, ``secret``, ...) are masked whatever they contain.

Redaction runs twice: once on the structured event (so masked keys stay
masked and the JSON stays valid), and once more on the rendered line (so a
secret that reaches the output through a ``repr``, a traceback or a renderer
detail is still caught).

Levels: ``quiet`` shows warnings and errors only; default is INFO; ``-v`` is
DEBUG for the bridge.  Third-party loggers (``urllib3``, ``atlassian``,
``requests``) stay at WARNING unless ``-vv``: atlassian-python-api logs URLs
and sometimes request bodies at DEBUG.
"""

from __future__ import annotations

import io
import json as _json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import IO, Any, cast

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

__all__ = [
    "MASK",
    "SENSITIVE_KEYS",
    "RedactingStream",
    "complain",
    "configure_logging",
    "first_complaint",
    "forget_complaints",
    "get_logger",
    "print_demo_credentials",
    "redact_text",
    "redact_value",
    "register_basic_auth",
    "register_secret",
]

#: What a secret is replaced with.
MASK = "***"

#: Keys whose values are always masked (compared case-insensitively, ``-`` read as ``_``).
SENSITIVE_KEYS: frozenset[str] = frozenset(
    {
        "token",
        "api_token",
        "access_token",
        "refresh_token",
        "password",
        "passwd",
        "secret",
        "client_secret",
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
    }
)

#: Third-party loggers kept at WARNING unless ``verbosity >= 2``.
NOISY_LOGGERS: tuple[str, ...] = ("urllib3", "atlassian", "requests", "charset_normalizer")

_HANDLER_MARK = "_jsm_bridge_handler"

_secrets_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


# --------------------------------------------------------------------------- secrets


def register_secret(value: str | None) -> None:
    """Never let ``value`` appear in any log line from now on.

    Empty values are ignored (they would match everywhere).  The JSON-escaped
    and ``repr`` forms of the value are registered too, so a secret containing
    quotes or backslashes is caught after rendering as well.
    """
    if not value:
        return
    variants = {value, _json.dumps(value)[1:-1], repr(value)[1:-1]}
    global _pattern
    with _secrets_lock:
        _secrets.update(v for v in variants if v)
        # Longest first, so a secret that contains another is masked whole.
        ordered = sorted(_secrets, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(s) for s in ordered))


def register_basic_auth(user: str, token: str) -> None:
    """Register an API token and the ``Authorization: Basic`` value built from it."""
    import base64

    register_secret(token)
    register_secret(base64.b64encode(f"{user}:{token}".encode()).decode("ascii"))


def _forget_secrets_for_tests() -> None:
    """Clear the registry (tests only: a running bridge never forgets a secret)."""
    global _pattern
    with _secrets_lock:
        _secrets.clear()
        _pattern = None


#: An ``Authorization``/``Proxy-Authorization`` header echoed back (by Jira, a proxy, a
#: gateway's error page) in any of the usual spellings: ``Authorization: Basic x``,
#: ``"authorization": "Bearer x"``, ``authorization=x``.  The value is masked whatever it is.
_HEADER_ECHO = re.compile(
    r"(?i)(\b(?:proxy[-_])?authorization\b[\"']?\s*[:=]\s*[\"']?)"
    r"((?:basic|bearer|token|digest)\s+)?([^\s\"',;&<>]+)"
)
#: ``Bearer <credential>`` anywhere (a personal access token, an OAuth token).
_BEARER = re.compile(r"(?i)(\bbearer\s+)([A-Za-z0-9._~+/-]{12,}=*)")
#: ``Basic <base64>`` anywhere; masked only when it decodes to ``user:secret``, so
#: ordinary text ("Basic tier", "Basic support") is left alone.
_BASIC = re.compile(r"(?i)(\bbasic\s+)([A-Za-z0-9+/]{8,}={0,2})")


def _basic_credentials(match: re.Match[str]) -> str:
    import base64
    import binascii

    value = match.group(2)
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    return match.group(1) + MASK if b":" in decoded else match.group(0)


def redact_text(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``.

    Also masks credentials that were never registered but are recognisable: an
    echoed ``Authorization`` header's value, a ``Bearer`` token, a ``Basic``
    value that decodes to ``user:password``.  :class:`RedactingStream` applies
    this to everything the CLI writes to stdout and stderr.
    """
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    if "uthoriz" in text or "UTHORIZ" in text:
        text = _HEADER_ECHO.sub(lambda m: m.group(1) + (m.group(2) or "") + MASK, text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    if "asic" in text or "ASIC" in text:
        text = _BASIC.sub(_basic_credentials, text)
    return text


class RedactingStream(io.TextIOBase):
    """A text stream that passes everything through :func:`redact_text` on its way out.

    The CLI wraps ``sys.stdout`` and ``sys.stderr`` in it for the length of a
    command, so every byte printed -- tables, summaries, error messages, log
    lines, a traceback -- is redacted in one place.  Each ``write`` is redacted
    whole (``print`` writes its text in one call).
    """

    def __init__(self, inner: IO[str]) -> None:
        super().__init__()
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(redact_text(text))
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:  # type: ignore[override]
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self.inner.flush()

    def isatty(self) -> bool:
        return _is_tty(self.inner)

    def fileno(self) -> int:
        return self.inner.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.inner, "encoding", None) or "utf-8"

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _is_sensitive_key(key: object) -> bool:
    return isinstance(key, str) and key.lower().replace("-", "_") in SENSITIVE_KEYS


def redact_value(value: Any) -> Any:
    """A copy of ``value`` with secrets masked in strings, nested containers and credential keys."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, bytes):
        text = value.decode("utf-8", "replace")
        cleaned = redact_text(text)
        return value if cleaned == text else cleaned.encode("utf-8")
    if isinstance(value, Mapping):
        return {
            k: (MASK if _is_sensitive_key(k) and v is not None else redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        items = [redact_value(v) for v in value]
        return items if isinstance(value, list | set | frozenset) else tuple(items)
    return value


def _redact_event(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """structlog processor: mask secrets in every value of the event dict."""
    out: EventDict = {}
    for key, value in event_dict.items():
        if key.startswith("_"):  # structlog/stdlib plumbing (_record, _from_structlog)
            out[key] = value
        elif _is_sensitive_key(key) and value is not None:
            out[key] = MASK
        elif key == "exc_info" or key == "stack_info":
            out[key] = value  # rendered later; the rendered text is redacted
        else:
            out[key] = redact_value(value)
    return out


def _redact_rendered(_logger: WrappedLogger, _name: str, rendered: Any) -> Any:
    """structlog processor placed after the renderer: the last line of defence."""
    if isinstance(rendered, str):
        return redact_text(rendered)
    if isinstance(rendered, bytes):
        return redact_text(rendered.decode("utf-8", "replace")).encode("utf-8")
    return rendered


_LEAD_KEYS = ("timestamp", "level", "logger", "event")


def _lead_keys_first(_logger: WrappedLogger, _name: str, event_dict: EventDict) -> EventDict:
    """Put timestamp, level, logger and event first, so JSON lines read well in ``journalctl``."""
    lead = {k: event_dict[k] for k in _LEAD_KEYS if k in event_dict}
    return {**lead, **{k: v for k, v in event_dict.items() if k not in lead}}


# --------------------------------------------------------------------------- set-up


def _is_tty(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if callable(isatty) else False
    except (ValueError, OSError):  # closed or detached stream
        return False


def _bridge_level(verbosity: int, quiet: bool) -> int:
    if quiet:
        return logging.WARNING
    return logging.DEBUG if verbosity >= 1 else logging.INFO


def configure_logging(
    *,
    verbosity: int = 0,
    quiet: bool = False,
    json: bool | None = None,
    stream: IO[str] | None = None,
    secrets: Iterable[str] = (),
) -> None:
    """Set up structlog and stdlib logging for this process (safe to call again).

    ``verbosity`` counts ``-v`` flags; ``quiet`` wins over it.  ``json=None``
    picks JSON lines unless ``stream`` (default: ``sys.stderr``) is a terminal.
    ``secrets`` are registered as with :func:`register_secret`.
    """
    out = stream if stream is not None else sys.stderr
    for secret in secrets:
        register_secret(secret)
    use_json = (not _is_tty(out)) if json is None else json

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: Processor
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if use_json:
        final += [
            structlog.processors.format_exc_info,
            _redact_event,
            _lead_keys_first,
        ]
        renderer = structlog.processors.JSONRenderer(sort_keys=False, default=str)
    else:
        colors = _is_tty(out) and os.environ.get("NO_COLOR", "") == ""
        final.append(_redact_event)
        renderer = structlog.dev.ConsoleRenderer(
            colors=colors, exception_formatter=structlog.dev.plain_traceback
        )
    final += [renderer, cast(Processor, _redact_rendered)]

    formatter = structlog.stdlib.ProcessorFormatter(
        processors=final,
        foreign_pre_chain=shared,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        _PriorityPrefix(formatter) if wants_priority_prefix(out, os.environ) else formatter
    )
    setattr(handler, _HANDLER_MARK, True)

    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, _HANDLER_MARK, False):
            root.removeHandler(old)
            old.close()
    root.addHandler(handler)

    level = _bridge_level(verbosity, quiet)
    root.setLevel(level)
    logging.getLogger("bridge").setLevel(level)
    noisy_level = logging.DEBUG if verbosity >= 2 and not quiet else logging.WARNING
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(noisy_level, level))
    # Python warnings (e.g. urllib3's InsecureRequestWarning) become log lines, redacted like
    # the rest.  Off-then-on re-installs the hook if something swapped ``showwarning`` since.
    logging.captureWarnings(False)
    logging.captureWarnings(True)

    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        # Not cached: loggers made at import time follow a later reconfiguration.
        cache_logger_on_first_use=False,
    )


# --------------------------------------------------------------------------- journald


#: syslog priorities for the stdlib levels (journalctl -p err shows 3 and below).
_SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def wants_priority_prefix(stream: IO[str], env: Mapping[str, str]) -> bool:
    """True when ``stream`` is systemd's journal (``JOURNAL_STREAM`` names its device and
    inode) or ``JSM_BRIDGE_LOG_PRIORITY_PREFIX=1`` asks for it (``logger --prio-prefix``)."""
    if env.get("JSM_BRIDGE_LOG_PRIORITY_PREFIX", "") == "1":
        return True
    journal = env.get("JOURNAL_STREAM", "")
    if ":" not in journal:
        return False
    try:
        info = os.fstat(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return False
    return journal == f"{info.st_dev}:{info.st_ino}"


class _PriorityPrefix(logging.Formatter):
    """Prefixes every line with ``<N>``, its syslog priority: journald (``SyslogLevelPrefix=``,
    on by default) and ``logger --prio-prefix`` take it as the entry's priority and strip it
    (sd-daemon(3))."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return _prefixed(record.levelno, self.inner.format(record))


def _prefixed(level: int, text: str) -> str:
    """``text`` with each line prefixed by ``level``'s syslog priority (``<3>``); a level
    between the standard ones takes informational's below WARNING, error's above."""
    priority = _SYSLOG_PRIORITY.get(level, 6 if level < logging.WARNING else 3)
    return "\n".join(f"<{priority}>{line}" for line in text.splitlines() or [""])


def print_demo_credentials(text: str, *, stream: IO[str] | None = None) -> None:
    """Print ``text``, a line showing the embedded sandbox's own demo credentials (public
    test data, meant to be copied: ``curl -H 'Authorization: Bearer sandbox-token'``),
    without the masking :func:`redact_text` gives anything that looks like a credential.
    A registered secret (a real token this process read) is still masked."""
    out = stream if stream is not None else sys.stdout
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    inner = out.inner if isinstance(out, RedactingStream) else out
    print(text, file=inner)


#: The error lines :func:`complain` printed in this command, first first (`run --once -q`
#: names the first in the one line cron mails: the reason, not a guess from the status).
_complaints: list[str] = []


def complain(text: str, *, level: int = logging.ERROR, stream: IO[str] | None = None) -> None:
    """Print ``text``, a line for the operator (why a command stopped, a warning), to
    ``stream`` (default: ``sys.stderr``).  When its log lines carry their syslog priority
    (:func:`wants_priority_prefix`), each of its lines starts with ``level``'s priority
    (``<3>`` error, ``<4>`` warning), so ``journalctl -p warning`` shows why the bridge
    stopped; otherwise it is printed exactly as given."""
    out = stream if stream is not None else sys.stderr
    if level >= logging.ERROR:
        _complaints.append(text)
    if wants_priority_prefix(out, os.environ):
        text = _prefixed(level, text)
    print(text, file=out)


def first_complaint() -> str | None:
    """The first error line :func:`complain` printed since :func:`forget_complaints`."""
    return _complaints[0] if _complaints else None


def forget_complaints() -> None:
    """Start afresh (a command's start: `main` may run several in one process)."""
    _complaints.clear()


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    """A structlog logger named ``name`` (use ``__name__``), routed through the redaction."""
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
