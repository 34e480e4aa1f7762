"""Small promises with sharp edges: loopback means loopback, state files are private,
a real cycle never runs in the future, and odd config values are errors, not tracebacks."""

from __future__ import annotations

import os
import re
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.commands._runtime import CommandError
from bridge.commands.run import refuse_future
from bridge.settings import ConfigInvalid, is_loopback_url, load_settings
from bridge.sync.lock import CycleLock
from bridge.sync.state import State

REPO = Path(__file__).resolve().parents[1]


def config_text(tmp_path: Path) -> str:
    text = (REPO / "config" / "bridge.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^state: .*$", f"state: {{path: {tmp_path / 'state.sqlite'}}}", text)
    return re.sub(r"(?m)^rules: .*$", f"rules: {REPO / 'rules'}", text)


# ---------------------------------------------------------------------------- item 16


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8089", True),
        ("http://127.8.9.10", True),
        ("http://[::1]:80", True),
        ("http://localhost:8089", True),
        ("http://LOCALHOST", True),
        ("http://jira.localhost", False),
        ("http://evil.localhost:8080", False),
        ("http://localhost.example.com", False),
        ("http://10.0.0.1", False),
        ("http://[::1", False),
    ],
)
def test_only_real_loopback_addresses_count_as_loopback(url: str, loopback: bool) -> None:
    assert is_loopback_url(url) is loopback


def test_plain_http_to_a_dot_localhost_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(
        config_text(tmp_path).replace("http://127.0.0.1:8089", "http://jira.localhost:8089"),
        encoding="utf-8",
    )
    with pytest.raises(ConfigInvalid) as caught:
        load_settings(path, env={"JIRA_API_TOKEN": "t"})
    assert "https" in str(caught.value)


def test_the_state_file_and_lock_file_are_created_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        path = tmp_path / "sub" / "state.sqlite"
        State.open(path).close()
        lock = CycleLock(tmp_path / "state.sqlite.lock")
        lock.acquire(wait=0)
        lock.release()
    finally:
        os.umask(old)
    for file in (path, tmp_path / "state.sqlite.lock"):
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    for extra in path.parent.glob("state.sqlite-*"):  # SQLite's -wal/-shm follow the db
        assert stat.S_IMODE(extra.stat().st_mode) & 0o077 == 0, extra


# ---------------------------------------------------------------------------- item 13


def test_a_future_now_is_refused_for_a_real_cycle() -> None:
    real = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    refuse_future(real - timedelta(days=3), real)  # the past: fine
    refuse_future(real + timedelta(seconds=30), real)  # clock skew: fine
    with pytest.raises(CommandError) as caught:
        refuse_future(real + timedelta(hours=5), real)
    assert caught.value.code == 2 and "--dry-run" in str(caught.value)


def test_run_once_with_a_future_now_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bridge.yaml"
    path.write_text(config_text(tmp_path), encoding="utf-8")
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    code = main(["run", "--once", "--now", future, "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "in the future" in err and "--dry-run" in err
    assert not (tmp_path / "state.sqlite").exists()


# ---------------------------------------------------------------------------- item 11


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("page_size: 100", "page_size: 100\n  timeout: .nan"), "timeout must be a number"),
        (("page_size: 100", "page_size: 100\n  timeout: .inf"), "timeout must be a number"),
        (("page_size: 100", "page_size: 100\n  timeout: -.inf"), "timeout must be a number"),
        (("page_size: 100", "page_size: 100\n  timeout: 1e308"), "timeout must be a number"),
        (("interval: 5m", "interval: 99999999999999999999h"), "is not a duration"),
        (("overlap: 2m", "overlap: 9999999999m"), "is not a duration"),
        (
            ("url: http://127.0.0.1:8089", "url: https://bob:s3cr3t-pw@x.atlassian.net"),
            "must not contain a user name or password",
        ),
        (("url: http://127.0.0.1:8089", "url: http://[::1"), "not an http(s) URL"),
        (("url: http://127.0.0.1:8089", "url: http://127.0.0.1:99x"), "not an http(s) URL"),
    ],
)
def test_odd_config_values_are_clear_errors(
    tmp_path: Path, edit: tuple[str, str], expected: str
) -> None:
    path = tmp_path / "bridge.yaml"
    text = config_text(tmp_path)
    assert edit[0] in text
    path.write_text(text.replace(edit[0], edit[1]), encoding="utf-8")
    with pytest.raises(ConfigInvalid) as caught:
        load_settings(path, env={"JIRA_API_TOKEN": "t"})
    message = str(caught.value)
    assert expected in message and f"{path}:" in message
    assert "s3cr3t-pw" not in message


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("/etc/passwd/state.sqlite", "is not a directory"),
        ("{tmp}", "is a directory"),
    ],
)
def test_an_unusable_state_path_is_a_config_error(
    tmp_path: Path, state: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bridge.yaml"
    text = re.sub(
        r"(?m)^state: .*$",
        "state: {path: " + state.format(tmp=tmp_path) + "}",
        config_text(tmp_path),
    )
    path.write_text(text, encoding="utf-8")
    assert main(["check", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    assert expected in out and f"{path}:" in out


def test_a_state_file_that_is_not_a_database_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "state.sqlite").write_text("not a database\n" * 400, encoding="utf-8")
    path = tmp_path / "bridge.yaml"
    path.write_text(config_text(tmp_path), encoding="utf-8")
    code = main(["run", "--once", "--config", str(path)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "state file" in err and "Traceback" not in err and "internal error" not in err
