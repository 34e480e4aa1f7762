"""Logging: secrets never reach the output, JSON lines parse, levels follow -v/-q."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator

import pytest

from bridge import logs
from bridge.logs import (
    MASK,
    configure_logging,
    get_logger,
    redact_text,
    register_basic_auth,
    register_secret,
)

TOKEN = "ATATT3xFfGF0-s3cr3t-T0KEN_value"


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _clean_registry() -> Iterator[None]:
    logs._forget_secrets_for_tests()
    yield
    logs._forget_secrets_for_tests()
    configure_logging(stream=io.StringIO())  # detach from the test's buffer


def capture(**kwargs: object) -> io.StringIO:
    stream = io.StringIO()
    configure_logging(stream=stream, **kwargs)  # type: ignore[arg-type]
    return stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


# --------------------------------------------------------------------------- redaction


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "console"])
def test_registered_token_never_appears_anywhere(as_json: bool) -> None:
    out = capture(json=as_json, verbosity=2)
    register_secret(TOKEN)  # at run time, after configuration, as the settings loader does
    log = get_logger("bridge.test")

    log.info(f"connecting with {TOKEN} now")
    log.info("kwargs", url=f"https://x.example/?t={TOKEN}", count=3)
    log.info(
        "nested",
        request={"headers": {"X-Other": f"Bearer {TOKEN}"}, "body": [1, {"deep": [TOKEN]}]},
        pair=("a", TOKEN),
    )
    log.info("positional %s", TOKEN)
    log.debug("bytes", raw=f"auth={TOKEN}".encode())
    try:
        raise RuntimeError(f"401 for token {TOKEN!r}")
    except RuntimeError:
        log.exception("request failed")
    try:
        try:
            raise KeyError(TOKEN)
        except KeyError as inner:
            raise ValueError("wrapped") from inner
    except ValueError:
        logging.getLogger("atlassian.rest_client").exception("stdlib with cause")
    logging.getLogger("urllib3.connectionpool").warning("GET /rest?token=%s", TOKEN)
    logging.getLogger("atlassian.rest_client").debug("body: %s", {"token": TOKEN})

    text = out.getvalue()
    assert TOKEN not in text
    # Every one of those lines was written, with the secret masked rather than the line dropped.
    assert text.count(MASK) >= 9
    assert "request failed" in text and "RuntimeError" in text and "KeyError" in text
    assert "GET /rest?token=***" in text


def test_secret_with_quotes_is_masked_in_json_escaped_form() -> None:
    tricky = 'p@ss"w\\rd-123'
    out = capture(json=True, secrets=[tricky])
    get_logger("bridge.test").warning("login", detail=f"used {tricky}")
    text = out.getvalue()
    assert tricky not in text
    assert json.dumps(tricky)[1:-1] not in text
    assert lines(out)[0]["detail"] == f"used {MASK}"


def test_credential_keys_are_masked_whatever_their_value() -> None:
    out = capture(json=True)
    get_logger("bridge.test").info(
        "call",
        token="not-registered-1",
        password="hunter2",
        api_token="t-9",
        secret="s",
        headers={"Authorization": "Basic dXNlcjpwYXNz", "Accept": "application/json"},
        token_file="/etc/jsm-bridge/token",
        next_step=None,
    )
    (line,) = lines(out)
    assert line["token"] == MASK
    assert line["password"] == MASK
    assert line["api_token"] == MASK
    assert line["secret"] == MASK
    assert line["headers"] == {"Authorization": MASK, "Accept": "application/json"}
    # A path to a secret is not a secret; ordinary keys are untouched.
    assert line["token_file"] == "/etc/jsm-bridge/token"
    assert line["next_step"] is None
    assert "hunter2" not in out.getvalue()


def test_basic_auth_header_value_is_registered_too() -> None:
    import base64

    register_basic_auth("bridge@vendor.example", TOKEN)
    header = base64.b64encode(f"bridge@vendor.example:{TOKEN}".encode()).decode()
    out = capture(json=True)
    get_logger("bridge.test").info("sent", raw=f"Authorization: Basic {header}")
    assert header not in out.getvalue()
    assert TOKEN not in out.getvalue()


def test_redact_text_for_messages_outside_logging() -> None:
    assert redact_text("nothing registered") == "nothing registered"
    register_secret("")  # ignored: an empty secret would mask everything
    assert redact_text("abc") == "abc"
    register_secret("abc")
    register_secret("abcdef")
    assert redact_text("x abcdef y abc") == f"x {MASK} y {MASK}"


def test_python_warnings_are_routed_and_redacted() -> None:
    out = capture(json=True, secrets=[TOKEN])
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn(f"insecure request to host with {TOKEN}", UserWarning, stacklevel=1)
    text = out.getvalue()
    assert "insecure request" in text
    assert TOKEN not in text


# --------------------------------------------------------------------------- format


def test_json_lines_have_the_journal_fields() -> None:
    out = capture(json=True)
    get_logger("bridge.sync.loop").info("cycle done", issues=12, writes={"edit": 3})
    logging.getLogger("urllib3.connectionpool").warning("retrying")
    first, second = lines(out)
    assert first["event"] == "cycle done"
    assert first["level"] == "info"
    assert first["logger"] == "bridge.sync.loop"
    assert first["issues"] == 12 and first["writes"] == {"edit": 3}
    ts = str(first["timestamp"])
    assert ts.endswith("Z") and "T" in ts  # ISO 8601, UTC
    assert list(first)[:4] == ["timestamp", "level", "logger", "event"]
    assert second["logger"] == "urllib3.connectionpool" and second["level"] == "warning"


def test_json_is_chosen_when_the_stream_is_not_a_terminal() -> None:
    plain = capture()  # StringIO: not a TTY
    get_logger("bridge.test").info("hello", n=1)
    assert lines(plain)[0]["event"] == "hello"


def test_console_on_a_terminal_and_no_colour_with_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    tty = FakeTTY()
    configure_logging(stream=tty)
    get_logger("bridge.test").info("hello there", n=1)
    text = tty.getvalue()
    assert "hello there" in text and "n=1" in text
    assert not text.lstrip().startswith("{")
    assert "\x1b[" not in text


def test_console_on_a_terminal_uses_colour_without_no_color(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    tty = FakeTTY()
    configure_logging(stream=tty)
    get_logger("bridge.test").warning("careful")
    assert "\x1b[" in tty.getvalue()


# --------------------------------------------------------------------------- levels


def emit_all() -> None:
    log = get_logger("bridge.test")
    log.debug("b-debug")
    log.info("b-info")
    log.warning("b-warning")
    lib = logging.getLogger("atlassian.rest_client")
    lib.debug("a-debug")
    lib.info("a-info")
    lib.warning("a-warning")
    logging.getLogger("urllib3.connectionpool").debug("u-debug")


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, {"b-info", "b-warning", "a-warning"}),
        ({"quiet": True}, {"b-warning", "a-warning"}),
        ({"verbosity": 1}, {"b-debug", "b-info", "b-warning", "a-warning"}),
        (
            {"verbosity": 2},
            {"b-debug", "b-info", "b-warning", "a-debug", "a-info", "a-warning", "u-debug"},
        ),
        ({"verbosity": 2, "quiet": True}, {"b-warning", "a-warning"}),
    ],
    ids=["default", "quiet", "-v", "-vv", "quiet-wins"],
)
def test_levels(kwargs: dict[str, object], expected: set[str]) -> None:
    out = capture(json=True, **kwargs)
    emit_all()
    assert {str(line["event"]) for line in lines(out)} == expected


def test_reconfiguring_replaces_the_handler_instead_of_doubling_lines() -> None:
    first = capture(json=True)
    second = capture(json=True)
    get_logger("bridge.test").info("once")
    assert first.getvalue() == ""
    assert len(lines(second)) == 1
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_jsm_bridge_handler", False)]
    assert len(ours) == 1


def test_logger_made_before_configuration_follows_it() -> None:
    early = get_logger("bridge.early")
    out = capture(json=True, secrets=[TOKEN])
    early.info("late", value=TOKEN)
    assert lines(out) and TOKEN not in out.getvalue()


def test_the_sandbox_banner_line_shows_its_demo_token_but_never_a_registered_secret() -> None:
    inner = io.StringIO()
    out = logs.RedactingStream(inner)
    logs.print_demo_credentials("curl -H 'Authorization: Bearer sandbox-token'", stream=out)
    assert inner.getvalue() == "curl -H 'Authorization: Bearer sandbox-token'\n"
    logs.register_secret("real-token-from-the-config")
    logs.print_demo_credentials("Bearer real-token-from-the-config", stream=out)
    assert inner.getvalue().splitlines()[-1] == "Bearer ***"
    print("curl -H 'Authorization: Bearer sandbox-token'", file=out)  # any other line: masked
    assert inner.getvalue().splitlines()[-1] == "curl -H 'Authorization: Bearer ***'"
