"""Secrets never reach the output: a whole `run --once` at -vv, grepped for the token.

The bridge's sandbox account gets a distinctive API token; the run's stdout and
its JSON log (every library logger on at DEBUG with ``-v -v``) must contain
neither the token nor the Basic-auth header value made from it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import SANDBOX_NOW, Sandbox
from e2e_helpers import without_waiting

from bridge.cli import main
from bridge.sandbox import seed as seeds

REPO = Path(__file__).resolve().parents[1]
TOKEN = "Tk-redact-9f3c1e7a2b5d4c8e-ZZ"
WRONG = "Tk-wrong-51d0c0ffee77aa-QQ"
RUN = [sys.executable, "-m", "bridge.cli", "-v", "-v", "run", "--once"]


def forms(token: str) -> list[str]:
    """The token and every way it travels on the wire (HTTP Basic for Cloud)."""
    basic = base64.b64encode(f"{seeds.BRIDGE_EMAIL}:{token}".encode()).decode()
    return [token, basic, basic.rstrip("="), f"Basic {basic}"]


def assert_clean(text: str, token: str) -> None:
    for secret in forms(token):
        assert secret not in text, f"secret form {secret[:6]}… found in the output"


def write_config(tmp_path: Path, url: str) -> Path:
    text = (REPO / "config" / "bridge.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  url: .*$", f"  url: {url}", text)
    text = re.sub(r"(?m)^state: .*$", f"state: {{path: {tmp_path / 'state.sqlite'}}}", text)
    text = re.sub(r"(?m)^rules: .*$", f"rules: {REPO / 'rules'}", text)
    path = tmp_path / "bridge.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def site(sandbox: Sandbox) -> Sandbox:
    """The demo sandbox with the bridge's account on a distinctive token."""
    bridge = sandbox.store.user_by_email(seeds.BRIDGE_EMAIL)
    assert bridge is not None
    bridge.token = TOKEN
    return sandbox


def log_lines(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


def test_a_full_run_at_debug_never_shows_the_token(site: Sandbox, tmp_path: Path) -> None:
    config = write_config(tmp_path, site.url)
    log = tmp_path / "run.log"
    with log.open("w", encoding="utf-8") as err:
        done = subprocess.run(
            [*RUN, "--config", str(config), "--now", SANDBOX_NOW.isoformat()],
            cwd=REPO,
            env={**os.environ, "JIRA_API_TOKEN": TOKEN},
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=120,
        )
    text = log.read_text(encoding="utf-8")
    assert done.returncode == 0, text[-3000:]
    assert site.requests.count(kind="write") > 0  # it really ran, authenticated
    lines = log_lines(text)
    # the log is the verbose one: JSON lines, library debug output included
    assert len(lines) > 50
    assert any(e.get("logger", "").startswith("urllib3") for e in lines), {
        e.get("logger") for e in lines
    }
    assert any(e.get("event") == "cycle" for e in lines)
    assert_clean(text, TOKEN)
    assert_clean(done.stdout, TOKEN)


def test_a_run_through_faults_and_retries_never_shows_the_token(
    site: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Retries, ambiguous writes and failures log more (reasons, URLs, Jira's messages)."""
    without_waiting(monkeypatch)
    monkeypatch.setenv("JIRA_API_TOKEN", TOKEN)
    config = write_config(tmp_path, site.url)
    site.set_faults("429:0.15,500:0.1,503:0.05,drop:0.1,seed:7")
    argv = ["-v", "-v", "run", "--once", "--config", str(config), "--now", SANDBOX_NOW.isoformat()]
    code = main(argv)
    captured = capsys.readouterr()
    assert code in (0, 3, 4), captured.err[-2000:]
    events = {e.get("event") for e in log_lines(captured.err)}
    assert "jira.retry" in events, events
    assert_clean(captured.err, TOKEN)
    assert_clean(captured.out, TOKEN)


def test_a_wrong_token_fails_with_a_message_that_does_not_contain_it(
    site: Sandbox, tmp_path: Path
) -> None:
    config = write_config(tmp_path, site.url)
    done = subprocess.run(
        [*RUN, "--config", str(config), "--now", SANDBOX_NOW.isoformat()],
        cwd=REPO,
        env={**os.environ, "JIRA_API_TOKEN": WRONG},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr[-3000:]
    assert "401" in done.stderr and "credentials" in done.stderr, done.stderr[-3000:]
    assert site.requests.count(kind="write") == 0
    assert_clean(done.stderr, WRONG)
    assert_clean(done.stdout, WRONG)
