"""The lines that say why a command stopped reach the journal at their own priority.

Under systemd (``JOURNAL_STREAM`` names stderr) or ``JSM_BRIDGE_LOG_PRIORITY_PREFIX=1``
(cron's ``logger --prio-prefix``) the JSON log lines start with ``<N>``; the plain lines
that explain an exit (a rejected token, bad rules, a lock another instance holds) must
too, or ``journalctl -p warning`` never shows why the bridge stopped.  On a terminal, or
anywhere else, they are printed exactly as before.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import Sandbox
from test_run_command import NOW, write_config

from bridge.jira.client import JiraClient
from bridge.logs import complain
from bridge.sandbox import seed as seeds
from bridge.sync.lock import SiteLock

REPO = Path(__file__).resolve().parents[1]
WRONG = "Tk-rejected-7a1be2c3d4-QQ"


def bridge(
    tmp_path: Path, *argv: str, journal: bool = False, env: dict[str, str] | None = None
) -> tuple[int, str, list[str]]:
    """``jsm-bridge ARGV`` in a process of its own, stderr in a file; ``journal``: that
    file is systemd's journal stream (``JOURNAL_STREAM`` names its device and inode)."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("JOURNAL_STREAM", "JSM_BRIDGE_LOG_PRIORITY_PREFIX")
    }
    clean["JIRA_API_TOKEN"] = seeds.BRIDGE_TOKEN
    clean.update(env or {})
    err_path = tmp_path / f"stderr-{len(list(tmp_path.glob('stderr-*')))}"
    with err_path.open("w", encoding="utf-8") as err:
        if journal:
            info = os.fstat(err.fileno())
            clean["JOURNAL_STREAM"] = f"{info.st_dev}:{info.st_ino}"
        done = subprocess.run(
            [sys.executable, "-m", "bridge.cli", *argv],
            cwd=REPO,
            env=clean,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            timeout=120,
        )
    return done.returncode, done.stdout, err_path.read_text(encoding="utf-8").splitlines()


def plain(lines: list[str]) -> list[str]:
    """The lines that are not JSON log lines (with or without their priority)."""
    return [line for line in lines if not line.lstrip("<0123456789>").startswith("{")]


def broken_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    customers = rules / "customers.yaml"
    text = customers.read_text(encoding="utf-8")
    customers.write_text(text.replace("tier: standard", "tier: platinum", 1), encoding="utf-8")
    return rules


def test_bad_rules_at_start_are_errors_in_the_journal_and_unchanged_elsewhere(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", rules=broken_rules(tmp_path))
    argv = ("run", "--once", "--config", str(config), "--now", NOW)

    code, _, lines = bridge(tmp_path, *argv, journal=True)
    assert code == 1
    said = plain(lines)
    problem = next(line for line in said if "customers.yaml:" in line)
    assert problem.startswith("<3>") and "platinum" in problem, said
    assert all(line.startswith("<3>") for line in said), said  # the count and the stop too

    # a stream that is not the journal's (a terminal, a file, a pipe): not one prefix
    code, _, lines = bridge(tmp_path, *argv, env={"JOURNAL_STREAM": "1:2"})
    assert code == 1
    said = plain(lines)
    assert not any(line.startswith("<") for line in said), said
    assert any(line.startswith(str(tmp_path / "rules" / "customers.yaml:")) for line in said)
    assert said[-1] == "error: the config or the rules have problems (listed above)"


def test_a_rejected_token_says_why_at_error_priority_and_cron_mails_the_reason(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    config = write_config(tmp_path, sandbox.url)
    argv = ("run", "--once", "-q", "--config", str(config), "--now", NOW)
    code, out, lines = bridge(tmp_path, *argv, journal=True, env={"JIRA_API_TOKEN": WRONG})
    assert code == 1
    why = [line for line in plain(lines) if "cannot use Jira at" in line]
    assert why and why[0].startswith(f"<3>error: cannot use Jira at {sandbox.url}"), lines
    assert "401" in why[0] and WRONG not in "\n".join(lines)
    # the one line cron mails names what failed, not a list of guesses
    assert out.startswith("jsm-bridge run --once failed with exit status 1: cannot use Jira at")
    assert "401" in out and "rules" not in out, out

    code, out, lines = bridge(tmp_path, *argv, env={"JIRA_API_TOKEN": WRONG})
    assert code == 1
    why = [line for line in plain(lines) if "cannot use Jira at" in line]
    assert why[0].startswith(f"error: cannot use Jira at {sandbox.url}: ") and "401" in why[0]
    assert not any(line.startswith("<") for line in lines), lines


def test_the_site_lock_another_instance_holds_is_an_error_for_logger_prio_prefix(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    client = JiraClient(
        sandbox.url, flavour="cloud", email=seeds.BRIDGE_EMAIL, token=seeds.BRIDGE_TOKEN
    )
    other = SiteLock(client, "SUP", "instance-elsewhere", ttl=timedelta(minutes=10))
    other.acquire()
    config = write_config(tmp_path, sandbox.url)
    argv = ("run", "--once", "--config", str(config), "--now", NOW)
    code, _, lines = bridge(tmp_path, *argv, env={"JSM_BRIDGE_LOG_PRIORITY_PREFIX": "1"})
    assert code == 75
    said = plain(lines)
    assert any(line.startswith("<3>error: ") and "another jsm-bridge" in line for line in said)

    code, _, lines = bridge(tmp_path, *argv)
    assert code == 75
    said = plain(lines)
    assert any(line.startswith("error: ") and "another jsm-bridge" in line for line in said)
    other.release()
    client.close()


def test_a_warning_line_carries_the_warning_priority_on_every_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal"
    with path.open("w") as stream:
        info = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
        complain(
            "warning: SUP-1: the transition was not offered", level=logging.WARNING, stream=stream
        )
        complain("first\nsecond", stream=stream)
    assert path.read_text().splitlines() == [
        "<4>warning: SUP-1: the transition was not offered",
        "<3>first",
        "<3>second",
    ]
    other = io.StringIO()
    complain("warning: SUP-1: as typed", level=logging.WARNING, stream=other)
    assert other.getvalue() == "warning: SUP-1: as typed\n"


def test_the_line_cron_mails_carries_the_whole_first_error_on_one_line() -> None:
    from bridge import logs
    from bridge.commands.run import failure

    logs.forget_complaints()
    assert failure(3).startswith("Jira was unreachable or failing")  # nothing said: the status
    sink = io.StringIO()
    complain("warning: SUP-1: not offered", level=logging.WARNING, stream=sink)  # not an error
    complain(
        "error: the Jira site does not match:\n  - no field 'A'\n  - no field 'B'", stream=sink
    )
    complain("error: the config or the rules have problems (listed above)", stream=sink)
    assert failure(1) == "the Jira site does not match: - no field 'A' - no field 'B' (see the log)"
    logs.forget_complaints()
    complain("error: " + "x" * 2000, stream=sink)
    assert len(failure(1)) < 600
    logs.forget_complaints()


def test_bad_arguments_are_an_error_for_the_journal_and_read_as_argparse_has_them(
    tmp_path: Path,
) -> None:
    """A unit's mistyped ExecStart= exits 2: the reason is an error line like the others."""
    code, _, lines = bridge(tmp_path, "run", "--bogus", env={"JSM_BRIDGE_LOG_PRIORITY_PREFIX": "1"})
    assert code == 2
    assert lines[-1] == "<3>jsm-bridge: error: unrecognized arguments: --bogus", lines
    code, _, lines = bridge(tmp_path, "run", "--bogus")
    assert code == 2
    assert lines[0].startswith("usage: jsm-bridge ")
    assert lines[-1] == "jsm-bridge: error: unrecognized arguments: --bogus", lines
