"""`jsm-bridge run`: exit codes, the cycle lock, the daemon's SIGTERM and rules reload.

`run --once` goes through `bridge.cli.main` in-process against a sandbox on
loopback; the daemon runs as a real process (it installs signal handlers and is
stopped with a real SIGTERM).  Nothing here sleeps for timing: waits are for
events (a log line, a request reaching the sandbox) with generous deadlines.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SANDBOX_NOW, Sandbox
from e2e_helpers import without_waiting

from bridge.cli import main
from bridge.sandbox import seed as seeds
from bridge.sandbox.faults import Decision, Faults
from bridge.sandbox.server import SandboxServer
from bridge.sync.cycle import Site
from bridge.sync.ledger import comment_action_id
from bridge.sync.lock import CycleLock
from bridge.sync.state import State

REPO = Path(__file__).resolve().parents[1]
NOW = SANDBOX_NOW.isoformat()
DEADLINE = 60.0  # seconds to wait for an event from the daemon before calling it broken


def write_config(
    tmp_path: Path, url: str, *, interval: str = "5m", rules: Path | None = None
) -> Path:
    """The shipped config with this sandbox's URL, a private state database and rules."""
    text = (REPO / "config" / "bridge.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  url: .*$", f"  url: {url}", text)
    text = re.sub(r"(?m)^polling: .*$", f"polling: {{interval: {interval}, overlap: 2m}}", text)
    text = re.sub(r"(?m)^state: .*$", f"state: {{path: {tmp_path / 'state.sqlite'}}}", text)
    text = re.sub(r"(?m)^rules: .*$", f"rules: {rules or REPO / 'rules'}", text)
    path = tmp_path / "bridge.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)


@pytest.fixture
def no_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every client the commands build retries as usual but never sleeps."""
    without_waiting(monkeypatch)


def state_of(tmp_path: Path) -> State:
    return State.open(tmp_path / "state.sqlite")


def duplicate_comments(store: Any) -> list[str]:
    dups = []
    for issue in store.iter_issues():
        ids = Counter(comment_action_id({"properties": c.properties}) for c in issue.comments)
        dups += [f"{issue.key}: {aid}" for aid, n in ids.items() if aid and n > 1]
    return dups


# ------------------------------------------------------------------------------ run --once


def test_run_once_exits_0_with_a_summary_line_then_an_incremental_run_writes_nothing(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, sandbox.url)
    assert main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    out = capsys.readouterr().out
    cases = len(sandbox.store.issues)  # the demo seed's
    assert re.search(rf"cycle full: {cases} read, \d+ changed, writes: .*edit \d+", out), out
    assert sandbox.requests.count(kind="write") > 0
    # the summary counts the requests the cycle made, as the sandbox saw them
    made = re.search(r"requests: (\d+) reads, (\d+) writes, (\d+) retries", out)
    assert made, out
    assert int(made.group(2)) == sandbox.requests.count(kind="write")
    assert int(made.group(3)) == 0
    with state_of(tmp_path) as state:
        assert state.get_watermark() == SANDBOX_NOW

    sandbox.reset_requests()
    assert main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    out = capsys.readouterr().out
    assert "cycle incremental:" in out and "writes: none" in out, out
    assert sandbox.requests.count(kind="write") == 0


def test_rules_edited_in_the_folder_given_with_rules_are_applied_to_every_case(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--rules DIR`` is the rules in force: an edit there makes the next run evaluate
    every case again, and a file beside the rules that is not one of them (notes, a
    backup) changes nothing."""
    rules = tmp_path / "my-rules"
    shutil.copytree(REPO / "rules", rules)
    config = write_config(tmp_path, sandbox.url)  # its `rules:` names the shipped ones
    once = ["run", "--once", "--config", str(config), "--rules", str(rules), "--now", NOW]
    assert main(once) == 0
    assert "cycle full:" in capsys.readouterr().out

    (rules / "notes.yaml").write_text("todo: ask finance about Initech\n", encoding="utf-8")
    assert main(once) == 0
    assert "cycle incremental:" in capsys.readouterr().out

    tiers = rules / "tiers.yaml"
    text = tiers.read_text(encoding="utf-8")
    edited = re.sub(r"cases_per_month: (\d+)", lambda m: f"cases_per_month: {m[1]}0", text, count=1)
    assert edited != text
    tiers.write_text(edited, encoding="utf-8")
    assert main(once) == 0
    assert "cycle full:" in capsys.readouterr().out


def test_dry_run_writes_nothing_and_keeps_no_state(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, sandbox.url)
    assert main(["run", "--once", "--dry-run", "--config", str(config), "--now", NOW]) == 0
    assert "(dry run)" in capsys.readouterr().out
    assert sandbox.requests.count(kind="write") == 0
    with state_of(tmp_path) as state:
        assert state.get_watermark() is None


def test_a_second_instance_waits_for_the_lock_then_exits_75_naming_the_holder(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import bridge.commands.run as run_command

    config = write_config(tmp_path, sandbox.url)
    waited: list[float] = []

    class FakeTimeLock(CycleLock):
        """The real lock, with the waiting on a fake clock (no real 10 s)."""

        def acquire(self, wait: float = 10.0, poll: float = 0.2, **_: Any) -> None:
            t = [0.0]

            def sleep(s: float) -> None:
                t[0] += s
                waited.append(s)

            super().acquire(wait=wait, poll=poll, sleep=sleep, clock=lambda: t[0])

    monkeypatch.setattr(run_command, "CycleLock", FakeTimeLock)
    holder = CycleLock(tmp_path / "state.sqlite.lock")
    holder.acquire(wait=0)
    try:
        code = main(["run", "--once", "--config", str(config), "--now", NOW])
    finally:
        holder.release()
    err = capsys.readouterr().err
    assert code == 75
    assert f"pid {os.getpid()}" in err and "another jsm-bridge" in err, err
    assert sum(waited) >= 10.0  # it waited the full grace period before giving up
    assert sandbox.requests.count(kind="write") == 0  # never a double write
    # and once the holder is gone, the next run goes ahead
    assert main(["run", "--once", "--config", str(config), "--now", NOW]) == 0


def test_bad_config_exits_1_and_says_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text("jira:\n  url: http://127.0.0.1:9\n  flavour: cloudy\n", encoding="utf-8")
    assert main(["run", "--once", "--config", str(config), "--now", NOW]) == 1
    err = capsys.readouterr().err
    assert "flavour" in err and str(config) in err, err


def test_missing_config_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert main(["run", "--once", "--config", str(missing)]) == 1
    assert "nope.yaml" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["run", "--once", "--now", "next tuesday"], "ISO 8601"),
        (["run", "--now", NOW], "--once"),
        (["run", "--dry-run"], "--once"),  # a dry-run daemon must not write: refused
    ],
)
def test_bad_now_exits_2(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    needle: str,
) -> None:
    config = write_config(tmp_path, sandbox.url)
    assert main([*argv, "--config", str(config)]) == 2
    assert needle in capsys.readouterr().err
    assert sandbox.requests.count(kind="write") == 0


def test_jira_refusing_connections_exits_3_keeps_the_watermark_and_the_next_run_resumes(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    no_retry_waits: None,
) -> None:
    config = write_config(tmp_path, sandbox.url)
    earlier = (SANDBOX_NOW - timedelta(hours=2)).isoformat()
    assert main(["run", "--once", "--config", str(config), "--now", earlier]) == 0
    port = sandbox.server.port
    sandbox.server.stop()  # connection refused from now on
    capsys.readouterr()
    assert main(["run", "--once", "--config", str(config), "--now", NOW]) == 3
    err = capsys.readouterr().err
    assert sandbox.url in err and "unavailable" in err, err
    assert "Traceback" not in err
    with state_of(tmp_path) as state:
        assert state.get_watermark() == SANDBOX_NOW - timedelta(hours=2)
    back = SandboxServer(sandbox.store, "127.0.0.1", port).start()
    try:
        assert main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
        assert "cycle incremental" in capsys.readouterr().out
        with state_of(tmp_path) as state:
            assert state.get_watermark() == SANDBOX_NOW
    finally:
        back.stop()


def test_jira_failing_after_start_up_stops_the_cycle_with_exit_3_and_the_next_run_resumes(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    no_retry_waits: None,
) -> None:
    """Start-up reads the site, then every request is dropped: the search fails."""
    config = write_config(tmp_path, sandbox.url)
    connect = Site.connect.__func__  # type: ignore[attr-defined]

    def connect_then_fail(cls: type[Site], *args: Any, **kwargs: Any) -> Site:
        site = connect(cls, *args, **kwargs)
        sandbox.set_faults("drop:1.0")
        return site

    monkeypatch.setattr(Site, "connect", classmethod(connect_then_fail))
    assert main(["run", "--once", "--config", str(config), "--now", NOW]) == 3
    out = capsys.readouterr().out
    assert "stopped:" in out and "unavailable" in out, out
    with state_of(tmp_path) as state:
        assert state.get_watermark() is None
        assert state.last_runs(1)[0].ok is False
    monkeypatch.undo()
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    sandbox.set_faults(None)
    assert main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    assert f"cycle full: {len(sandbox.store.issues)} read" in capsys.readouterr().out


# ------------------------------------------------------------------------------ the daemon


class WriteGate(Faults):
    """No faults; the Nth write waits at the sandbox until the test lets it through."""

    def __init__(self, at_write: int) -> None:
        super().__init__(None)
        self.at_write = at_write
        self.writes = 0
        self.reached = threading.Event()
        self.release = threading.Event()
        self.count_lock = threading.Lock()

    def decide(self, endpoint: str, kind: str, issues: Collection[str] = ()) -> Decision:
        if kind == "write":
            with self.count_lock:
                self.writes += 1
                n = self.writes
            if n == self.at_write:
                self.reached.set()
                self.release.wait(DEADLINE)
        return super().decide(endpoint, kind, issues)


class Daemon:
    """`jsm-bridge run` (no --once) as a process; stderr (JSON log lines) goes to a file."""

    def __init__(self, config: Path, log: Path) -> None:
        self.log = log
        self.err = log.open("w", encoding="utf-8")
        env = {**os.environ, "JIRA_API_TOKEN": seeds.BRIDGE_TOKEN}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "run", "--config", str(config)],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.err,
        )

    def events(self) -> list[dict[str, Any]]:
        out = []
        for line in self.log.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                out.append(item)
        return out

    def wait_for(self, what: Callable[[list[dict[str, Any]]], bool], why: str) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            if what(self.events()):
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)  # polling a log file for an event, not timing anything
        raise AssertionError(f"daemon: {why} did not happen; log:\n{self.log.read_text()}")

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def wait(self) -> int:
        try:
            return self.proc.wait(timeout=DEADLINE)
        finally:
            self.err.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.err.close()


@pytest.fixture
def live_sandbox() -> Iterator[Callable[..., SandboxServer]]:
    """A demo sandbox on the real clock (the daemon runs in real time)."""
    started: list[SandboxServer] = []

    def make(faults: Faults | None = None) -> SandboxServer:
        store = seeds.build("demo", now=datetime.now(SANDBOX_NOW.tzinfo), frozen=False)
        server = SandboxServer(store, "127.0.0.1", 0, faults=faults).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def writes_by_issue(server: SandboxServer) -> list[str]:
    # (a bulk transition names no one issue)
    return [
        r.path.split("/issue/")[1].split("/")[0]
        for r in server.requests.writes
        if "/issue/" in r.path
    ]


def test_sigterm_mid_cycle_finishes_the_issue_in_hand_records_state_and_exits_0(
    live_sandbox: Callable[..., SandboxServer], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gate = WriteGate(at_write=5)
    server = live_sandbox(gate)
    config = write_config(tmp_path, server.url)
    daemon = Daemon(config, tmp_path / "daemon.log")
    try:
        assert gate.reached.wait(DEADLINE), daemon.log.read_text()
        in_hand = writes_by_issue(server)[-1]  # the gated write's issue
        daemon.signal(signal.SIGTERM)
        gate.release.set()
        assert daemon.wait() == 0, daemon.log.read_text()
    finally:
        gate.release.set()
        daemon.kill()
    written = writes_by_issue(server)
    assert written[-1] == in_hand, "no issue after the one in hand was touched"
    events = daemon.events()
    stop_events = [e for e in events if e.get("event", "").startswith("stop requested")]
    assert stop_events, "the cycle noticed the stop request"
    assert any(e.get("event") == "daemon stopped" and "SIGTERM" in str(e) for e in events)
    with state_of(tmp_path) as state:
        run = state.last_runs(1)[0]
        assert run.finished is not None  # recorded, not left open
        assert state.get_watermark() is None  # incomplete: the next cycle reads everything
        assert state.pending_intents() == []  # nothing half-done
    # the next run finishes the rest, and the issue in hand had nothing left to do
    server.requests.clear()
    assert main(["run", "--once", "--config", str(config)]) == 0
    assert "cycle full" in capsys.readouterr().out
    after = writes_by_issue(server)
    assert after and in_hand not in after, after
    assert not duplicate_comments(server.store)


def test_bad_rules_dropped_in_while_the_daemon_runs_are_logged_and_the_old_ones_stay(
    live_sandbox: Callable[..., SandboxServer], tmp_path: Path
) -> None:
    server = live_sandbox()
    rules = tmp_path / "rules"
    rules.mkdir()
    for f in (REPO / "rules").glob("*.yaml"):
        (rules / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    config = write_config(tmp_path, server.url, interval="1s", rules=rules)
    daemon = Daemon(config, tmp_path / "daemon.log")
    try:
        daemon.wait_for(lambda ev: any(e.get("event") == "cycle" for e in ev), "a first cycle")
        writes = server.requests.count(kind="write")
        assert writes > 0
        tiers = rules / "tiers.yaml"
        tiers.write_text(
            tiers.read_text(encoding="utf-8") + "\nnot_a_key: [1, 2\n", encoding="utf-8"
        )
        daemon.wait_for(
            lambda ev: any(e.get("event", "").startswith("new rules rejected") for e in ev),
            "rejecting the bad rules",
        )

        def cycles_after_rejection(ev: list[dict[str, Any]]) -> bool:
            seen = [e.get("event") for e in ev]
            at = next(i for i, e in enumerate(seen) if str(e).startswith("new rules rejected"))
            return "cycle" in seen[at:]

        daemon.wait_for(cycles_after_rejection, "a cycle on the last good rules")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.kill()
    events = daemon.events()
    problems = [e for e in events if e.get("event") == "rules problem"]
    assert problems and "tiers.yaml" in json.dumps(problems), problems
    cycles = [e for e in events if e.get("event") == "cycle"]
    assert len(cycles) >= 2
    # the cycles after the rejection still ran the good rules: nothing to change, no errors
    assert all(not c.get("writes") and not c.get("skipped") for c in cycles[1:]), cycles
    assert server.requests.count(kind="write") == writes
    assert not duplicate_comments(server.store)


def test_progress_redraws_one_line_and_clears_it() -> None:
    import io

    from bridge.commands.run import Progress

    ticks = iter([0.0, 0.05, 0.3, 0.31])
    stream = io.StringIO()
    progress = Progress(stream, clock=lambda: next(ticks))
    progress(1, 3)  # drawn
    progress(2, 3)  # too soon after the last redraw: skipped
    progress(2, 3)  # drawn
    progress(3, 3)  # the last one is always drawn
    progress.close()
    frames = stream.getvalue().split("\r")
    assert [f for f in frames if f.startswith("  cases")] == [
        "  cases 1/3 (33%)",
        "  cases 2/3 (66%)",
        "  cases 3/3 (100%)",
    ]
    assert stream.getvalue().endswith("\r\x1b[K")


def test_new_rules_met_by_a_jira_outage_leave_the_old_ones_and_are_checked_again(
    sandbox_factory: Any, bridges: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rules reloaded while Jira is down cannot be checked against the site: the daemon
    keeps the rules in force and asks to check the new ones again, rather than dying on
    the outage (it exits only on what a restart cannot fix)."""
    from bridge.commands.run import _adopt_rules
    from bridge.rules.load import load_ruleset

    without_waiting(monkeypatch, max_attempts=2)
    sb = sandbox_factory(seed="empty")
    bridge = bridges(sb)
    runtime = bridge.runtime
    before = runtime.ruleset
    settings = runtime.settings
    newer = load_ruleset(settings.rules_path, tuple(settings.fields))
    sb.set_faults("503:1")
    assert _adopt_rules(runtime, newer) is False
    assert runtime.ruleset is before and runtime.engine.ruleset is before
    sb.set_faults(None)
    assert _adopt_rules(runtime, newer) is True
    assert runtime.ruleset is newer
