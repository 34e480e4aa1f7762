"""Under constant 429s: a circuit breaker ends the cycle early (exit 3), and SIGTERM never
waits behind a Retry-After."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import Sandbox
from e2e_helpers import without_waiting
from test_run_command import NOW, Daemon, write_config

from bridge.cli import main
from bridge.jira.retry import CircuitOpen, Retrier, RetryPolicy, Transient, WaitInterrupted
from bridge.sync.signals import Shutdown, install_handlers


def answer(status: int) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers["Retry-After"] = "1"
    return response


def test_the_third_exhausted_call_in_a_row_ends_the_cycle_and_the_count_starts_afresh() -> None:
    policy = RetryPolicy(max_attempts=2, sleep=lambda _s: None, uniform=lambda _a, _b: 0.0)
    retrier = Retrier(policy)
    sent: list[str] = []

    def limited(what: str) -> Any:
        def send() -> requests.Response:
            sent.append(what)
            return answer(429)

        return send

    for n in (1, 2):
        with pytest.raises(Transient):
            retrier.run(limited(f"call {n}"), idempotent=True, what=f"call {n}")
    with pytest.raises(CircuitOpen, match="3 calls in a row"):
        retrier.run(limited("call 3"), idempotent=True, what="call 3")
    assert len(sent) == 6  # 3 calls x 2 attempts
    # the next cycle starts with a fresh count: one failure is one failure again
    assert retrier.failures_in_a_row == 0
    with pytest.raises(Transient):
        retrier.run(limited("call 4"), idempotent=True, what="call 4")
    assert retrier.run(lambda: answer(200), idempotent=True, what="ok").status_code == 200
    assert retrier.failures_in_a_row == 0


def test_a_permanent_error_between_failures_resets_the_count() -> None:
    retrier = Retrier(RetryPolicy(max_attempts=1, sleep=lambda _s: None))
    for _ in range(2):
        with pytest.raises(Transient):
            retrier.run(lambda: answer(503), idempotent=True, what="x")
    assert retrier.run(lambda: answer(404), idempotent=True, what="y").status_code == 404
    for _ in range(2):
        with pytest.raises(Transient):
            retrier.run(lambda: answer(503), idempotent=True, what="x")
    assert retrier.failures_in_a_row == 2


def test_a_stop_ends_a_wait_between_attempts() -> None:
    shutdown = Shutdown()
    retrier = Retrier(RetryPolicy(max_attempts=5, sleep=lambda _s: None))
    retrier.pause = shutdown.pause
    sent: list[int] = []

    def send() -> requests.Response:
        sent.append(1)
        shutdown.request_stop("SIGTERM")  # arrives while the 429 is being answered
        return answer(429)

    with pytest.raises(WaitInterrupted):
        retrier.run(send, idempotent=True, what="x")
    assert sent == [1]  # nothing more was sent after the stop


def test_sigterm_wakes_a_pause_at_once() -> None:
    shutdown = install_handlers()
    try:
        threading.Thread(target=os.kill, args=(os.getpid(), signal.SIGTERM)).start()
        assert shutdown.pause(30) is True  # False only after the full 30 s
        assert shutdown.stop.reason == "SIGTERM"
    finally:
        shutdown.restore()


def test_a_reload_does_not_end_a_pause_but_is_kept_for_the_daemon() -> None:
    shutdown = Shutdown()
    shutdown.request_reload()
    assert shutdown.pause(0.01) is False
    assert shutdown.wait(0) is True  # the reload is still seen between cycles


def test_constant_429s_end_the_cycle_early_with_exit_3(
    sandbox: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fast = without_waiting(monkeypatch)
    sandbox.set_faults("429:1@1s,only:write")
    config = write_config(tmp_path, sandbox.url)
    code = main(["run", "--once", "--config", str(config), "--now", NOW])
    out = capsys.readouterr()
    assert code == 3, out.err[-2000:]
    assert "stopped" in out.out and "in a row" in out.out
    attempts = fast.breaker_threshold * fast.max_attempts
    assert sandbox.requests.count(kind="write") == attempts  # not 5 per write of every case


def test_sigterm_during_a_retry_after_wait_stops_the_daemon_promptly(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    from test_run_command import DEADLINE

    site = sandbox_factory(frozen=False, faults="429:1@45s,only:write")
    config = write_config(tmp_path, site.url)
    daemon = Daemon(config, tmp_path / "daemon.log")
    try:
        daemon.wait_for(
            lambda ev: any(e.get("event") == "jira.retry" for e in ev), "a wait after a 429"
        )
        began = time.monotonic()
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0, daemon.log.read_text()
        stopped_in = time.monotonic() - began
    finally:
        daemon.kill()
    # the Retry-After alone was 45 s, four of them per write; a stop ends the wait at once
    assert stopped_in < min(DEADLINE, 30.0), stopped_in
    events = daemon.events()
    assert any(e.get("event") == "daemon stopped" for e in events)


def test_the_daemon_keeps_rules_dir_for_reloads_and_watches_it(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    """`run --rules DIR`: edits to DIR reload, and SIGHUP reloads DIR, not the config's rules."""
    import shutil
    import sys

    from test_run_command import REPO

    site = sandbox_factory(frozen=False)
    rules = tmp_path / "mine"
    shutil.copytree(REPO / "rules", rules)
    config = write_config(tmp_path, site.url, interval="1s")  # its `rules:` is the shipped set

    class RulesDaemon(Daemon):
        def __init__(self) -> None:
            self.log = tmp_path / "daemon.log"
            self.err = self.log.open("w", encoding="utf-8")
            env = {**os.environ, "JIRA_API_TOKEN": "sandbox-token"}
            argv = [sys.executable, "-m", "bridge.cli", "run", "--config", str(config)]
            self.proc = subprocess.Popen(
                [*argv, "--rules", str(rules)],
                cwd=REPO,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=self.err,
            )

    def count(event: str) -> Any:
        return lambda ev: sum(1 for e in ev if str(e.get("event", "")).startswith(event))

    daemon = RulesDaemon()
    try:
        daemon.wait_for(lambda ev: count("cycle")(ev) >= 1, "a first cycle")
        tiers = rules / "tiers.yaml"
        tiers.write_text(tiers.read_text(encoding="utf-8") + "\nnot_a_key: 1\n", "utf-8")
        daemon.wait_for(lambda ev: count("new rules rejected")(ev) >= 1, "DIR's edit noticed")
        daemon.signal(signal.SIGHUP)  # a reload of DIR (still bad), not of the config's rules
        daemon.wait_for(lambda ev: count("new rules rejected")(ev) >= 2, "SIGHUP reloads DIR")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.kill()
    events = daemon.events()
    assert not [e for e in events if e.get("event") == "rules reloaded"], "never the config's"
    started = next(e for e in events if e.get("event") == "daemon started")
    assert started.get("rules") == str(rules)


def test_a_reload_after_editing_bridge_yaml_says_which_settings_wait_for_a_restart(
    tmp_path: Path, sandbox_factory: Any
) -> None:
    """`systemctl reload` re-reads the rules only: an edited bridge.yaml is named, with the
    settings that changed, as needing a restart; a reload without an edit says nothing."""
    site = sandbox_factory(frozen=False)
    config = write_config(tmp_path, site.url, interval="1s")

    def said(ev: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
        return [e for e in ev if str(e.get("event", "")).startswith(event)]

    daemon = Daemon(config, tmp_path / "daemon.log")
    try:
        daemon.wait_for(lambda ev: len(said(ev, "cycle")) >= 1, "a first cycle")
        daemon.signal(signal.SIGHUP)  # nothing edited: the rules are re-read, nothing more
        daemon.wait_for(lambda ev: len(said(ev, "rules reloaded")) >= 1, "a reload")
        text = config.read_text(encoding="utf-8")
        edited = text.replace("interval: 1s", "interval: 2s").replace(
            "jql: project = SUP", "jql: project = SUP AND labels != x", 1
        )
        assert edited.count("interval: 2s") == 1 and "labels != x" in edited
        config.write_text(edited, encoding="utf-8")
        daemon.signal(signal.SIGHUP)
        daemon.wait_for(lambda ev: len(said(ev, "bridge.yaml changed")) >= 1, "the warning")
        daemon.wait_for(lambda ev: len(said(ev, "rules reloaded")) >= 2, "the second reload")
        daemon.signal(signal.SIGTERM)
        assert daemon.wait() == 0
    finally:
        daemon.kill()
    events = daemon.events()
    (warning,) = said(events, "bridge.yaml changed")
    assert warning["level"] == "warning" and warning["config"] == str(config)
    assert warning["changed"] == ["jira.jql", "polling.interval"]
    assert "systemctl restart jsm-bridge" in warning["hint"]
    assert "only the rules" in warning["event"]
    # the first reload, with bridge.yaml as it started, came and went without a word on it
    first = events.index(said(events, "rules reloaded")[0])
    assert events.index(warning) > first
