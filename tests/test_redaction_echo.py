"""A Jira (or a proxy in front of it) that echoes the request's Authorization header.

Gateways and some Jira error pages put the request's headers into the error body
(401, 429, 500).  Whatever the command -- ``run``, ``plan``, ``explain``,
``report`` -- neither the token nor its Basic or Bearer form may reach stdout,
stderr or a file the command writes.  The "Jira" here is a loopback server that
answers every request with the chosen status and the header in its body.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import without_waiting

from bridge.cli import main
from bridge.logs import RedactingStream, redact_text

REPO = Path(__file__).resolve().parents[1]
EMAIL = "bridge@vendor.example"
TOKEN = "Tk-echo-4c1d9a77e02b6f35-XY"


class Echo(BaseHTTPRequestHandler):
    status = 401

    def _answer(self) -> None:
        header = self.headers.get("Authorization", "")
        body = json.dumps(
            {
                "errorMessages": [f"Request rejected. Authorization: {header}"],
                "errors": {"headers": f"authorization={header}; via=gateway"},
            }
        ).encode()
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _config(tmp_path: Path, url: str, flavour: str) -> Path:
    text = (REPO / "config" / "bridge.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  url: .*$", f"  url: {url}", text)
    text = re.sub(r"(?m)^  flavour: .*$", f"  flavour: {flavour}", text)
    text = re.sub(r"(?m)^state: .*$", f"state: {{path: {tmp_path / 'state.sqlite'}}}", text)
    text = re.sub(r"(?m)^rules: .*$", f"rules: {REPO / 'rules'}", text)
    path = tmp_path / "bridge.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _forms() -> list[str]:
    basic = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
    return [TOKEN, basic, basic.rstrip("=")]


COMMANDS = [
    ["run", "--once", "--now", "2026-11-24T10:00+10:00"],
    ["plan", "--now", "2026-11-24T10:00+10:00"],
    ["explain", "SUP-1", "--now", "2026-11-24T10:00+10:00"],
    ["report", "--month", "2026-10", "--now", "2026-11-24T10:00+10:00"],
]


@pytest.mark.parametrize("status", [401, 429, 500])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_an_echoed_authorization_header_never_reaches_the_output(
    echo: ThreadingHTTPServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: int,
    command: list[str],
    flavour: str,
) -> None:
    monkeypatch.setattr(Echo, "status", status)
    without_waiting(monkeypatch, max_attempts=2)
    monkeypatch.setenv("JIRA_API_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    host, port = echo.server_address[:2]
    config = _config(tmp_path, f"http://{host}:{port}", flavour)
    code = main(["-v", "-v", *command, "--config", str(config)])
    out = capsys.readouterr()
    assert code in (1, 3, 4), out.err[-2000:]
    assert str(status) in out.err or str(status) in out.out, out.err[-2000:]
    written = [p.read_text(encoding="utf-8", errors="replace") for p in tmp_path.rglob("*.*")]
    for text in (out.out, out.err, *written):
        for secret in _forms():
            assert secret not in text, f"{secret[:8]}… leaked: {text[-1500:]}"


@pytest.mark.parametrize(
    "text",
    [
        "upstream said Authorization: Basic {basic}",
        '{"authorization": "Basic {basic}"}',
        "Proxy-Authorization=Bearer abcdefABCDEF0123456789.xyz",
        "curl -H 'Authorization: Bearer abcdefABCDEF0123456789'",
        "<pre>Authorization: Basic {basic}</pre>",
        "headers: Basic {basic}",
    ],
)
def test_unregistered_credentials_in_echoed_headers_are_masked(text: str) -> None:
    """Recognisable by their shape alone: the bridge may not know a proxy's credential."""
    basic = base64.b64encode(b"someone@example.com:a-proxy-password").decode()
    line = text.replace("{basic}", basic)
    cleaned = redact_text(line)
    assert basic not in cleaned and "abcdefABCDEF0123456789" not in cleaned, cleaned
    assert "***" in cleaned


@pytest.mark.parametrize(
    "text", ["Basic tier customers get 4 cases", "Authorization failed", "a Bearer of news"]
)
def test_ordinary_words_are_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_the_redacting_stream_masks_what_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    basic = base64.b64encode(b"ops@example.com:hunter22-hunter22").decode()
    stream = RedactingStream(sys.stdout)
    print(f"error: GET /myself -> HTTP 401 — Authorization: Basic {basic}", file=stream)
    stream.flush()
    out = capsys.readouterr().out
    assert basic not in out and "HTTP 401" in out


def test_report_files_go_through_the_redaction(tmp_path: Path) -> None:
    """A case's text (a summary someone pasted a curl line into) reaches the report files."""
    from bridge.commands.report import write_files
    from bridge.logs import register_secret

    register_secret(TOKEN)
    basic = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
    csv_path, html_path = write_files(
        tmp_path, f"customer,note\nAcme,{TOKEN}\n", f"<p>Authorization: Basic {basic}</p>"
    )
    for path in (csv_path, html_path):
        text = path.read_text(encoding="utf-8")
        assert TOKEN not in text and basic not in text and "***" in text


def test_state_file_contents_go_through_the_redaction(tmp_path: Path) -> None:
    """What the state file keeps of Jira's words (a journal entry's detail) is redacted
    like every other output: the file's bytes hold no secret."""
    from bridge.logs import register_secret
    from bridge.sync.state import State

    register_secret(TOKEN)
    basic = base64.b64encode(f"{EMAIL}:{TOKEN}".encode()).decode()
    path = tmp_path / "state.sqlite"
    with State.open(path) as state:
        state.journal_intent("SUP-1", "SUP-1/esc/0", "transition", f"Escalated {TOKEN}")
        state.journal_intent("SUP-2", "SUP-2/esc/0", "transition", f"Authorization: Basic {basic}")
        assert {i.detail for i in state.pending_intents()} == {
            "Escalated ***",
            "Authorization: Basic ***",
        }
    data = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert TOKEN.encode() not in data and basic.encode() not in data
