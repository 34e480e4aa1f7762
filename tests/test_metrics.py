"""Metrics and health: `/metrics` and `/healthz` from a running daemon, the textfile of
`run --once`, systemd notifications, journald priorities and sleeping to the next deadline.

The daemon runs as a real process against a sandbox on loopback (real clock); its
metrics port is 0 (any free port), read back from its log line.  Figures are checked
against what the sandbox saw and what the state database holds, not against constants.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from conftest import SANDBOX_NOW, Sandbox, SandboxFactory
from e2e_helpers import BridgeFactory, load_rules, new_case, shipped_settings, without_waiting
from prometheus_client.parser import text_string_to_metric_families

from bridge import sdnotify
from bridge.cli import main
from bridge.commands import run as run_command
from bridge.commands.run import MIN_PAUSE, KeepAlive, next_pause
from bridge.jira.client import JiraClient
from bridge.jira.port import JiraError
from bridge.logs import configure_logging
from bridge.metrics import STUCK_AFTER_S, Metrics, MetricsServer
from bridge.sandbox import seed as seeds
from bridge.sandbox.server import SandboxServer
from bridge.settings import ConfigInvalid, load_settings
from bridge.sync.cycle import CycleReport, Engine
from bridge.sync.ledger import comment_action_ids
from bridge.sync.signals import Shutdown
from bridge.sync.state import State

REPO = Path(__file__).resolve().parents[1]
NOW = SANDBOX_NOW.isoformat()
DEADLINE = 60.0


def write_config(tmp_path: Path, url: str, metrics: str, rules: Path = REPO / "rules") -> Path:
    text = (REPO / "config" / "bridge.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  url: .*$", f"  url: {url}", text)
    text = re.sub(r"(?m)^state: .*$", f"state: {{path: {tmp_path / 'state.sqlite'}}}", text)
    text = re.sub(r"(?m)^rules: .*$", f"rules: {rules}", text)
    path = tmp_path / "bridge.yaml"
    path.write_text(text + f"metrics: {metrics}\n", encoding="utf-8")
    return path


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def total(figures: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> float:
    return sum(v for (n, _), v in figures.items() if n == name)


def by_label(
    figures: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, label: str
) -> dict[str, float]:
    out: Counter[str] = Counter()
    for (n, labels), v in figures.items():
        if n == name:
            out[dict(labels)[label]] += v
    return {k: v for k, v in out.items() if v}


# ------------------------------------------------------------------------------ the daemon


@pytest.fixture
def live_sandbox() -> Iterator[SandboxServer]:
    store = seeds.build("demo", now=datetime.now(SANDBOX_NOW.tzinfo), frozen=False)
    server = SandboxServer(store, "127.0.0.1", 0).start()
    yield server
    server.stop()


def events(log: Path) -> list[dict[str, Any]]:
    out = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
        except ValueError:
            continue
        if isinstance(item, dict):
            out.append(item)
    return out


def wait_for_event(proc: subprocess.Popen[bytes], log: Path, name: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        found = [e for e in events(log) if e.get("event") == name]
        if found:
            return found[0]
        if proc.poll() is not None:
            break
        time.sleep(0.05)  # polling a log file for an event, not timing anything
    raise AssertionError(f"no {name!r} event; log:\n{log.read_text()}")


@contextlib.contextmanager
def daemon(
    config: Path, tmp_path: Path
) -> Iterator[tuple[subprocess.Popen[bytes], socket.socket, Path]]:
    """``jsm-bridge run --config CONFIG`` in a process of its own, told of a notify socket
    as systemd tells it: the process, the socket (systemd's end) and its log file."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify.sock"))
    notify.settimeout(DEADLINE)
    env = {
        **os.environ,
        "JIRA_API_TOKEN": seeds.BRIDGE_TOKEN,
        "NOTIFY_SOCKET": str(tmp_path / "notify.sock"),
    }
    log = tmp_path / "daemon.log"
    with log.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "run", "--config", str(config)],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        yield proc, notify, log
    finally:
        proc.terminate()
        proc.wait(timeout=DEADLINE)
        notify.close()


def test_a_running_daemon_serves_the_figures_of_its_cycle_and_tells_systemd(
    live_sandbox: SandboxServer, tmp_path: Path
) -> None:
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    config = write_config(tmp_path, live_sandbox.url, '{listen: "127.0.0.1:0"}', rules)
    with daemon(config, tmp_path) as (proc, notify, log):
        served = wait_for_event(proc, log, "metrics served")
        base = str(served["url"]).removesuffix("/metrics")
        cycle = wait_for_event(proc, log, "cycle")
        # systemd hears READY=1 and the watchdog only after that cycle succeeded; while
        # the first cycle works through its cases it asks for more start-up time
        before_ready = []
        message = notify.recv(4096).decode()
        while message.startswith("EXTEND_TIMEOUT_USEC="):
            before_ready.append(message)
            message = notify.recv(4096).decode()
        assert before_ready, message
        assert all(int(m.split("=")[1]) >= 60_000_000 for m in before_ready), before_ready
        assert "READY=1" in message.splitlines() and "WATCHDOG=1" in message.splitlines()
        assert "STATUS=last cycle ok" in message

        health = requests.get(f"{base}/healthz", timeout=10)
        assert health.status_code == 200, health.text
        body = health.json()
        assert body["last_cycle_succeeded"] is True
        assert 0 <= body["seconds_since_success"] < DEADLINE

        text = requests.get(f"{base}/metrics", timeout=10).text
        seen = Counter(str(r.status) for r in live_sandbox.requests.entries())
        with State.open(tmp_path / "state.sqlite") as state:
            states = Counter(s or "none" for s in state.sla_states().values())
        steps = {  # (case, ladder step) of every escalation comment the bridge posted
            (issue.key, aid.split("/esc/")[1].split(".")[0])
            for issue in live_sandbox.store.iter_issues()
            for c in issue.comments
            for aid in comment_action_ids({"properties": c.properties})
            if "/esc/" in aid
        }

        # bad rules dropped in and a reload asked for: refused, counted, still healthy
        (rules / "sla.yaml").write_text("calendars: [\n", encoding="utf-8")
        proc.send_signal(signal.SIGHUP)
        wait_for_event(proc, log, "new rules rejected; the last good rules stay in force")
        after = samples(requests.get(f"{base}/metrics", timeout=10).text)
        assert after[("jsm_bridge_rules_reload_failures_total", ())] == 1
    figures = samples(text)
    assert figures[("jsm_bridge_last_cycle_success", ())] == 1
    assert figures[("jsm_bridge_cycles_total", (("result", "ok"),))] == 1
    assert abs(figures[("jsm_bridge_last_success_timestamp_seconds", ())] - time.time()) < 120
    assert figures[("jsm_bridge_cycle_duration_seconds", ())] == pytest.approx(
        cycle["seconds"], abs=0.01
    )
    # writes by kind as the cycle logged them; requests by status as the sandbox saw them
    assert by_label(figures, "jsm_bridge_writes_total", "kind") == cycle["writes"]
    assert by_label(figures, "jsm_bridge_requests_total", "status") == seen
    assert total(figures, "jsm_bridge_retries_total") == 0
    assert figures[("jsm_bridge_last_cycle_skipped_cases", ())] == cycle["skipped"]
    # every case read is counted once, by customer, tier and the SLA state in the state db
    assert total(figures, "jsm_bridge_cases") == cycle["read"]
    assert by_label(figures, "jsm_bridge_cases", "sla_state") == states
    assert set(by_label(figures, "jsm_bridge_cases", "tier")) >= {"Standard", "Premium"}
    assert figures[("jsm_bridge_state_file_bytes", ())] > 0
    # breaches: cases breached (or missed) on their first evaluation
    assert total(figures, "jsm_bridge_breaches_total") == states["breached"] + states["missed"]
    assert figures[("jsm_bridge_rules_reload_failures_total", ())] == 0
    # every ladder step in the rules posts a comment when it acts on a case
    assert steps and total(figures, "jsm_bridge_escalations_total") == len(steps)


def test_healthz_says_starting_while_the_first_cycle_makes_progress_and_503_once_stuck(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A first full read of a large site takes up to an hour: the container's health
    check must not fail it while it makes progress (what the daemon tells systemd),
    only once it stops making any, or a cycle fails.  The daemon's own health server
    on a loopback port, and the daemon's keep-alive, on a clock the test moves."""
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    now = [1_800_000_000.0]
    metrics = Metrics(clock=lambda: now[0])
    keep_alive = KeepAlive(clock=lambda: now[0], on_progress=metrics.made_progress)
    server = MetricsServer(metrics, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{server.address[1]}/healthz"

    def healthz() -> tuple[int, str, dict[str, Any]]:
        answer = requests.get(url, timeout=10)
        body = answer.json()
        return answer.status_code, body["status"], body

    def cycle(**outcome: Any) -> None:
        report = CycleReport(started=datetime.now(UTC), full=True, dry_run=True, **outcome)
        metrics.observe_cycle(report, state=None, ruleset=load_rules(shipped_settings()))

    search = ("POST", "rest/api/3/search/jql")
    try:
        code, status, body = healthz()  # just started
        assert (code, status, body["last_cycle_succeeded"]) == (200, "starting", None)
        keep_alive.cycling = True
        for _ in range(61):  # an hour of search pages, one a minute, then cases done
            now[0] += 60
            keep_alive.answered(*search, 200)
        for _ in range(30):
            now[0] += 60
            keep_alive(1, 10_000)
        assert healthz()[:2] == (200, "starting")
        # then Jira only refuses or fails, or nothing answers: no progress
        for status_code in (429, 503, 0):
            now[0] += (STUCK_AFTER_S - 1) / 3
            keep_alive.answered(*search, status_code)
        assert healthz()[:2] == (200, "starting")
        now[0] += 2
        code, status, body = healthz()
        assert (code, status) == (503, "failing"), body
        assert "no progress" in body["detail"] or "made progress" in body["detail"], body
        keep_alive.answered(*search, 200)  # going again
        assert healthz()[:2] == (200, "starting")
        cycle()
        code, status, body = healthz()
        assert (code, status, body["last_cycle_succeeded"]) == (200, "ok", True)
        now[0] += 10 * STUCK_AFTER_S  # between cycles: no progress is no news
        assert healthz()[:2] == (200, "ok")
        cycle(aborted="HTTP 503 from Jira")
        code, status, body = healthz()
        assert (code, status, body["last_cycle_succeeded"]) == (503, "failing", False)
    finally:
        server.stop()


def test_the_daemon_answers_healthz_with_starting_during_its_first_cycle(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon itself, in this process: /healthz asked while its first cycle reads
    Jira's search pages answers 200 "starting", though each page comes long after the
    last (the metrics' clock is moved on): Jira's answers are the progress; and "ok"
    after that cycle."""
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    now = [time.time()]

    class Clocked(Metrics):
        def __init__(self, **_: Any) -> None:
            super().__init__(clock=lambda: now[0])

    monkeypatch.setattr(run_command, "Metrics", Clocked)
    servers: list[MetricsServer] = []
    starting = MetricsServer.start

    def start(self: MetricsServer) -> MetricsServer:
        servers.append(self)
        return starting(self)

    monkeypatch.setattr(MetricsServer, "start", start)
    seen: list[tuple[int, str]] = []

    def healthz() -> tuple[int, str]:
        answer = requests.get(f"http://127.0.0.1:{servers[0].address[1]}/healthz", timeout=10)
        return answer.status_code, answer.json()["status"]

    searching = JiraClient.search_pages

    def search_pages(self: JiraClient, *args: Any, **kwargs: Any) -> Any:
        pages = searching(self, *args, **kwargs)
        while True:
            now[0] += 10 * STUCK_AFTER_S  # a long wait for the next page
            page = next(pages, None)
            if page is None:
                return
            seen.append(healthz())
            yield page

    monkeypatch.setattr(JiraClient, "search_pages", search_pages)

    class OneCycle(Shutdown):
        def wait(self, seconds: float, **_: Any) -> bool:
            seen.append(healthz())
            self.request_stop("test over")
            return True

    monkeypatch.setattr(run_command, "install_handlers", lambda on_reload=None: OneCycle())
    config = write_config(tmp_path, sandbox.url, '{listen: "127.0.0.1:0"}')
    assert main(["run", "--config", str(config)]) == 0
    assert seen[0] == (200, "starting"), seen
    assert seen[-1] == (200, "ok"), seen


# ------------------------------------------------------------------------------ run --once


def test_run_once_writes_the_textfile_and_its_counters_keep_counting(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    textfile = tmp_path / "textfile" / "jsm-bridge.prom"
    config = write_config(tmp_path, sandbox.url, f"{{textfile: {textfile}}}")
    assert main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    capsys.readouterr()
    first = samples(textfile.read_text())
    writes = sandbox.requests.count(kind="write")
    assert writes > 0
    assert total(first, "jsm_bridge_writes_total") == writes
    assert first[("jsm_bridge_last_cycle_success", ())] == 1
    assert total(first, "jsm_bridge_cases") == len(sandbox.store.issues)  # the demo seed's
    assert not list(textfile.parent.glob("*.tmp*"))  # written whole, then renamed

    sandbox.reset_requests()
    assert main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    second = samples(textfile.read_text())
    assert sandbox.requests.count(kind="write") == 0
    # counters carried over from the previous file: still the first run's writes, 2 cycles
    assert total(second, "jsm_bridge_writes_total") == writes
    assert second[("jsm_bridge_cycles_total", (("result", "ok"),))] == 2
    assert total(second, "jsm_bridge_requests_total") > total(first, "jsm_bridge_requests_total")
    # all cases, though only some were re-read
    assert total(second, "jsm_bridge_cases") == len(sandbox.store.issues)


def test_a_run_once_that_cannot_write_its_textfile_fails_and_says_where_and_what_to_do(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cycle did its work, but monitoring would go on showing an old file (or none):
    exit 1, which the timer unit shows as failed and cron mails, and an error naming the
    file and the fix.  (Its directory is a file here: unwritable even for root.)"""
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    (tmp_path / "collector").write_text("not a directory\n")
    textfile = tmp_path / "collector" / "jsm-bridge.prom"
    config = write_config(tmp_path, sandbox.url, f"{{textfile: {textfile}}}")
    capsys.readouterr()
    assert main(["run", "--once", "-q", "--config", str(config), "--now", NOW]) == 1
    captured = capsys.readouterr()
    # the line cron mails names the file and the fix, not "the config ... is wrong"
    (mailed,) = captured.out.splitlines()
    assert mailed.startswith("jsm-bridge run --once failed with exit status 1: "), mailed
    assert "metrics textfile not written" in mailed and str(textfile) in mailed, mailed
    assert "ReadWritePaths=" in mailed and "the JQL is wrong" not in mailed, mailed
    [line] = [x for x in captured.err.splitlines() if "metrics textfile not written" in x]
    assert str(textfile) in line and "ReadWritePaths=" in line, line
    assert sandbox.requests.count(kind="write") > 0  # the cycle itself went ahead


@pytest.mark.parametrize("permanent", [True, False], ids=["refused-for-good", "jira-down"])
def test_an_unwritable_textfile_does_not_hide_why_the_cycle_failed(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    permanent: bool,
) -> None:
    """A cycle Jira stopped (a revoked token: exit 1; an outage: exit 3) while the textfile
    cannot be written either: the line cron mails gives the cycle's reason, and the
    textfile's problem is a warning beside it."""
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    (tmp_path / "collector").write_text("not a directory\n")
    textfile = tmp_path / "collector" / "jsm-bridge.prom"
    config = write_config(tmp_path, sandbox.url, f"{{textfile: {textfile}}}")
    real = Engine.cycle

    def stopped(self: Engine, now: datetime, dry_run: bool = False) -> CycleReport:
        report = real(self, now, dry_run=dry_run)
        report.aborted = "search: HTTP 401: the token was revoked; make a new API token"
        report.aborted_permanent = permanent
        report.complete = False
        return report

    monkeypatch.setattr(Engine, "cycle", stopped)
    capsys.readouterr()
    code = main(["run", "--once", "-q", "--config", str(config), "--now", NOW])
    assert code == (1 if permanent else 3)
    captured = capsys.readouterr()
    (mailed,) = captured.out.splitlines()
    assert "metrics textfile" not in mailed, mailed
    if permanent:
        assert "the token was revoked" in mailed, mailed
    assert "warning: metrics textfile not written" in captured.err


def test_a_previous_textfile_with_other_labels_is_carried_over_without_them(
    tmp_path: Path,
) -> None:
    """Another version's file (labels this one does not use) must not stop the run."""
    path = tmp_path / "jsm-bridge.prom"
    path.write_text(
        "# TYPE jsm_bridge_cycles_total counter\n"
        'jsm_bridge_cycles_total{result="ok"} 5\n'
        'jsm_bridge_cycles_total{result="ok",host="a"} 7\n'
        "# TYPE jsm_bridge_cases gauge\n"
        'jsm_bridge_cases{customer="Acme Networks",sla_state="ok",tier="Standard"} 3\n'
        'jsm_bridge_cases{customer="Acme Networks",state="ok"} 9\n'
    )
    metrics = Metrics()
    metrics.carry_over(path)
    figures = samples(metrics.exposition().decode())
    assert total(figures, "jsm_bridge_cycles_total") == 5
    assert total(figures, "jsm_bridge_cases") == 3


#: A previous run's textfile: a good cycle, its cases, and counters to carry on.
PREVIOUS_TEXTFILE = """\
# TYPE jsm_bridge_last_success_timestamp_seconds gauge
jsm_bridge_last_success_timestamp_seconds 1.7e9
# TYPE jsm_bridge_last_cycle_success gauge
jsm_bridge_last_cycle_success 1
# TYPE jsm_bridge_cycles_total counter
jsm_bridge_cycles_total{result="ok"} 5
# TYPE jsm_bridge_cases gauge
jsm_bridge_cases{customer="Acme Networks",sla_state="breached",tier="Standard"} 3
"""


def assert_failed_start_recorded(textfile: Path, failed: int) -> None:
    figures = samples(textfile.read_text())
    assert figures[("jsm_bridge_last_cycle_success", ())] == 0
    assert figures[("jsm_bridge_cycles_total", (("result", "failed"),))] == failed
    assert abs(figures[("jsm_bridge_last_cycle_timestamp_seconds", ())] - time.time()) < 120
    # carried on from the previous file: nothing newer is known of them
    assert figures[("jsm_bridge_cycles_total", (("result", "ok"),))] == 5
    assert figures[("jsm_bridge_last_success_timestamp_seconds", ())] == 1.7e9
    acme = (("customer", "Acme Networks"), ("sla_state", "breached"), ("tier", "Standard"))
    assert total(figures, "jsm_bridge_cases") == figures[("jsm_bridge_cases", acme)] == 3


def test_a_run_once_that_cannot_reach_jira_records_a_failed_cycle_and_one_line_for_cron(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jira down at start (exit 3): the textfile says the last cycle failed, each time,
    rather than keep showing the last good one."""
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    without_waiting(monkeypatch)  # retries, no waits
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    textfile = tmp_path / "jsm-bridge.prom"
    textfile.write_text(PREVIOUS_TEXTFILE)
    config = write_config(tmp_path, f"http://127.0.0.1:{port}", f"{{textfile: {textfile}}}")
    code = main(["run", "--once", "-q", "--config", str(config), "--now", NOW])
    assert code == 3
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1 and "failed with exit status 3" in out[0], out
    assert_failed_start_recorded(textfile, failed=1)
    assert (
        samples(textfile.read_text())[
            ("jsm_bridge_requests_total", (("method", "GET"), ("status", "error")))
        ]
        > 0
    )
    assert main(["run", "--once", "-q", "--config", str(config), "--now", NOW]) == 3
    assert_failed_start_recorded(textfile, failed=2)
    # a dry run is no cycle: it leaves the file as it was
    before = textfile.read_text()
    assert main(["run", "--once", "--dry-run", "-q", "--config", str(config), "--now", NOW]) == 3
    assert textfile.read_text() == before


def test_a_run_once_whose_token_is_refused_records_a_failed_cycle(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", "not-the-token")
    textfile = tmp_path / "jsm-bridge.prom"
    textfile.write_text(PREVIOUS_TEXTFILE)
    config = write_config(tmp_path, sandbox.url, f"{{textfile: {textfile}}}")
    assert main(["run", "--once", "-q", "--config", str(config), "--now", NOW]) == 1
    assert "401" in capsys.readouterr().err
    assert_failed_start_recorded(textfile, failed=1)


def test_a_breach_counts_under_the_customer_found_from_its_reporter(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """A P1 raised by Acme's contact without naming an organisation, long past its
    response time: its breach counts under Acme (as the case itself does), not under
    "(no agreement)"."""
    sb = sandbox_factory(seed="empty", now=SANDBOX_NOW)
    key = new_case(
        sb,
        org=None,
        reporter="ops@acme.example",
        priority="Blocker",
        created=SANDBOX_NOW - timedelta(days=3),
    )
    bridge = bridges(sb)
    run = bridge.cycle()
    assert run.outcome(key).sla_state == "breached" and run.outcome(key).organization is None
    metrics = Metrics()
    metrics.observe_cycle(
        run.report, state=bridge.runtime.state, ruleset=bridge.runtime.ruleset, before={}
    )
    figures = samples(metrics.exposition().decode())
    cases = {k: v for k, v in figures.items() if k[0] == "jsm_bridge_cases"}
    breaches = {k: v for k, v in figures.items() if k[0] == "jsm_bridge_breaches_total"}
    acme = (("customer", "Acme Networks"), ("tier", "Standard"))
    assert cases == {("jsm_bridge_cases", tuple(sorted((*acme, ("sla_state", "breached"))))): 1}
    assert breaches == {("jsm_bridge_breaches_total", acme): 1}


def test_the_textfile_is_readable_by_node_exporter_whatever_the_umask(tmp_path: Path) -> None:
    """The units run with ``UMask=0077``; node-exporter runs as another user: the file
    is 0644 all the same, replacing a 0600 one left by an older version."""
    path = tmp_path / "jsm-bridge.prom"
    path.write_text("# older\n")
    path.chmod(0o600)
    metrics = Metrics()
    metrics.cycles.labels("ok").inc()
    old = os.umask(0o077)
    try:
        metrics.write_textfile(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert samples(path.read_text())[("jsm_bridge_cycles_total", (("result", "ok"),))] == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


# ------------------------------------------------------------------------------ pieces


def test_sdnotify_sends_one_datagram_to_the_socket_and_is_silent_without_one(
    tmp_path: Path,
) -> None:
    path = tmp_path / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        assert sdnotify.notify("READY=1", "STATUS=a\nb", env={"NOTIFY_SOCKET": str(path)})
        assert sock.recv(100) == b"READY=1\nSTATUS=a b"
    assert not sdnotify.notify("READY=1", env={})
    assert not sdnotify.notify("READY=1", env={"NOTIFY_SOCKET": str(tmp_path / "gone")})
    name = f"@jsm-bridge-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name[1:])
        assert sdnotify.notify("WATCHDOG=1", env={"NOTIFY_SOCKET": name})
        assert sock.recv(100) == b"WATCHDOG=1"
    env = {"WATCHDOG_USEC": "900000000", "WATCHDOG_PID": str(os.getpid())}
    assert sdnotify.watchdog_seconds(env) == 900.0
    assert sdnotify.watchdog_seconds({**env, "WATCHDOG_PID": "1"}) is None


class Systemd:
    """systemd's end of the notify socket, and a keep-alive on a clock the test moves."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.now = 0.0
        self.keep_alive = KeepAlive(clock=lambda: self.now)

    def heard(self) -> list[bytes]:
        """What the bridge said since last asked."""
        out = []
        while True:
            try:
                out.append(self.sock.recv(100))
            except BlockingIOError:
                return out

    def cases_at(self, *moments: float) -> list[bytes]:
        """A case done at each of ``moments``: what the bridge said."""
        for moment in moments:
            self.now = moment
            self.keep_alive(1, 100)
        return self.heard()

    def answer_at(self, moment: float, status: int) -> list[bytes]:
        """Jira answering a request with ``status`` at ``moment``: what the bridge said."""
        self.now = moment
        self.keep_alive.answered("GET", "rest/api/3/search/jql", status)
        return self.heard()


@pytest.fixture
def systemd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Systemd]:
    path = tmp_path / "n.sock"
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.setblocking(False)
        yield Systemd(sock)


EXTEND = f"EXTEND_TIMEOUT_USEC={KeepAlive.extend_s * 1_000_000}".encode()


def test_a_long_cycle_keeps_systemd_waiting_then_pings_the_watchdog_every_few_seconds(
    systemd: Systemd,
) -> None:
    # the first cycle, before READY: at 0 and 5, never more often than every 5 s
    assert systemd.cases_at(0.0, 1.0, 4.9, 5.0, 6.0) == [EXTEND, EXTEND]
    assert KeepAlive.extend_s > 10 * KeepAlive.every
    systemd.keep_alive.ready = True
    # a later long cycle: at 10 and 30
    assert systemd.cases_at(7.0, 9.9, 10.0, 30.0) == [b"WATCHDOG=1", b"WATCHDOG=1"]


def test_answers_from_jira_keep_systemd_waiting_but_refusals_and_failures_do_not(
    systemd: Systemd,
) -> None:
    # between cycles (the site lock's upkeep) an answer is no progress
    assert systemd.answer_at(0.0, 200) == []
    systemd.keep_alive.cycling = True
    # a search page read long before any case is done: start-up is extended
    assert systemd.answer_at(1.0, 200) == [EXTEND]
    # Jira pacing us, failing, or not answering is no progress
    assert systemd.answer_at(10.0, 429) == []
    assert systemd.answer_at(20.0, 503) == []
    assert systemd.answer_at(30.0, 0) == []
    systemd.keep_alive.ready = True
    assert systemd.answer_at(40.0, 404) == [b"WATCHDOG=1"]  # an answer, if not the hoped one
    assert systemd.answer_at(41.0, 200) == []  # never more often than every 5 s
    assert systemd.cases_at(42.0) == []  # nor with a case done in between
    assert systemd.answer_at(45.0, 200) == [b"WATCHDOG=1"]


def test_a_daemon_whose_cycles_fail_does_not_pet_the_watchdog_between_them(
    sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After one good cycle Jira's search fails: the daemon backs off and tries again, and
    Jira still answers the site lock's upkeep in between, but systemd hears no
    ``WATCHDOG=1`` until a cycle succeeds again, so ``WatchdogSec=`` restarts it."""
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    heard: list[str] = []
    monkeypatch.setattr(
        run_command.sdnotify, "notify", lambda *lines, env=None: heard.extend(lines) or True
    )
    monkeypatch.setattr(KeepAlive, "every", 0.0)  # every sign of progress is told
    without_waiting(monkeypatch)
    searching = JiraClient.search_pages
    failing = [False]

    def search_pages(self: JiraClient, *args: Any, **kwargs: Any) -> Any:
        if failing[0]:
            raise JiraError("POST /rest/api/3/search/jql failed after 5 attempts", status=503)
        return searching(self, *args, **kwargs)

    monkeypatch.setattr(JiraClient, "search_pages", search_pages)

    class Backoffs(Shutdown):
        """The daemon's pauses between cycles: the first ends Jira's search, the fourth
        ends the daemon."""

        pauses = 0

        def wait(self, seconds: float, **_: Any) -> bool:
            self.pauses += 1
            heard.append(f"pause {seconds:.0f}")
            failing[0] = True
            if self.pauses == 4:
                self.request_stop("test over")
                return True
            return False

    monkeypatch.setattr(run_command, "install_handlers", lambda on_reload=None: Backoffs())
    config = write_config(tmp_path, sandbox.url, "null")
    assert main(["run", "--config", str(config)]) == 0
    first = heard.index(next(m for m in heard if m.startswith("pause")))
    assert "WATCHDOG=1" in heard[:first]  # the good cycle
    assert "WATCHDOG=1" not in heard[first:], heard[first:]
    assert sum(m.startswith("STATUS=cycle failed") for m in heard) == 3


def test_a_daemon_tells_systemd_it_is_alive_while_jira_answers_before_any_case_is_done(
    live_sandbox: SandboxServer, tmp_path: Path
) -> None:
    """A full read of a large site reads its search pages before the first case is done;
    its answers extend the start-up timeout (here a scope of no case: nothing else could)."""
    config = write_config(tmp_path, live_sandbox.url, "null")
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("jql: project = SUP ", 'jql: project = SUP AND summary ~ "no such case" ')
    )
    with daemon(config, tmp_path) as (proc, notify, log):
        cycle = wait_for_event(proc, log, "cycle")
        messages = [notify.recv(4096).decode()]
        while "READY=1" not in messages[-1].splitlines():
            messages.append(notify.recv(4096).decode())
    assert cycle["read"] == 0, cycle
    assert messages[0].startswith("EXTEND_TIMEOUT_USEC="), messages


def test_run_once_beside_the_daemon_of_its_state_directory_runs_between_its_cycles(
    live_sandbox: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An operator's ``run --once`` on the daemon's own config and state file waits for
    the daemon's cycle lock, then runs under the daemon's site lock, which it leaves as
    it is: the daemon goes on."""
    config = write_config(tmp_path, live_sandbox.url, "null")
    with daemon(config, tmp_path) as (proc, _, log):
        wait_for_event(proc, log, "cycle")
        record = live_sandbox.store.project.properties.get("jsm-bridge.lock")
        assert record is not None and record.get("lock_file"), record
        assert main(["run", "--once", "--config", str(config)]) == 0
        assert "cycle incremental:" in capsys.readouterr().out
        assert proc.poll() is None  # the daemon runs on
        assert live_sandbox.store.project.properties.get("jsm-bridge.lock") == record


def test_log_lines_carry_their_syslog_priority_for_journald(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "journal"
    with path.open("w") as stream:
        info = os.fstat(stream.fileno())
        monkeypatch.setenv("JOURNAL_STREAM", f"{info.st_dev}:{info.st_ino}")
        configure_logging(stream=stream)
        log = logging.getLogger("bridge.test")
        log.info("fine")
        log.warning("careful")
        log.error("broken")
        stream.flush()
    lines = path.read_text().splitlines()
    assert [line[:3] for line in lines] == ["<6>", "<4>", "<3>"]
    assert json.loads(lines[2][3:])["event"] == "broken"

    other = io.StringIO()  # not the journal's stream: no prefix
    configure_logging(stream=other)
    logging.getLogger("bridge.test").error("broken")
    assert other.getvalue().startswith("{")
    monkeypatch.setenv("JSM_BRIDGE_LOG_PRIORITY_PREFIX", "1")  # for `logger --prio-prefix`
    configure_logging(stream=other)
    logging.getLogger("bridge.test").error("again")
    assert other.getvalue().splitlines()[-1].startswith("<3>{")


def test_the_daemon_sleeps_to_the_next_known_moment_when_it_comes_before_the_interval(
    tmp_path: Path,
) -> None:
    now = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
    with State.open(tmp_path / "s.sqlite") as state:
        assert next_pause(state, now, 300.0) == 300.0  # nothing known: the interval
        state.set_wakeup("SUP-1", now + timedelta(hours=2))
        assert next_pause(state, now, 300.0) == 300.0  # later than the interval
        state.set_wakeup("SUP-2", now + timedelta(seconds=70))
        state.set_wakeup("SUP-3", now - timedelta(seconds=5))  # past: read by the next cycle
        assert next_pause(state, now, 300.0) == 71.0  # just past SUP-2's moment
        state.set_wakeup("SUP-4", now + timedelta(seconds=1))
        assert next_pause(state, now, 300.0) == MIN_PAUSE  # never a busy loop
        assert next_pause(state, now, 10.0) == 10.0  # nor later than a shorter interval


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9464", ("127.0.0.1", 9464)),
        ('"0.0.0.0:9100"', ("0.0.0.0", 9100)),
        ('"[::1]:9"', ("::1", 9)),
    ],
)
def test_metrics_listen_is_loopback_unless_a_host_is_given(
    tmp_path: Path, value: str, expected: tuple[str, int]
) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:8089", f"{{listen: {value}}}")
    settings = load_settings(config, env={})
    assert settings.metrics_listen == expected
    assert settings.metrics_textfile is None


def test_metrics_are_off_by_default_and_a_bad_listen_says_where(tmp_path: Path) -> None:
    assert load_settings(REPO / "config" / "bridge.yaml", env={}).metrics_listen is None
    config = write_config(tmp_path, "http://127.0.0.1:8089", "{listen: nine}")
    with pytest.raises(ConfigInvalid) as err:
        load_settings(config, env={})
    assert re.search(r"bridge\.yaml:\d+: metrics: listen 'nine' is not a port", str(err.value))


# ------------------------------------------------------------------------------ deploy/


def exposed_names() -> set[str]:
    names = set()
    for family in Metrics().registry.collect():
        names.add(family.name + ("_total" if family.type == "counter" else ""))
    return names


def test_the_alert_rules_use_only_figures_the_bridge_exposes() -> None:
    rules = yaml.safe_load((REPO / "deploy" / "prometheus" / "jsm-bridge-alerts.yml").read_text())
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"]}
    # no successful cycle for 3 intervals of the default 5 minutes; breaches rising
    assert "jsm_bridge_last_success_timestamp_seconds > 900" in alerts["JsmBridgeNoSuccessfulCycle"]
    assert "increase(jsm_bridge_breaches_total" in alerts["JsmBridgeBreachesRising"]
    used = {n for expr in alerts.values() for n in re.findall(r"jsm_bridge_\w+", expr)}
    assert used and used <= exposed_names(), used - exposed_names()


def test_the_dashboard_fits_one_screen_and_queries_only_figures_the_bridge_exposes() -> None:
    board = json.loads((REPO / "deploy" / "grafana" / "jsm-bridge-dashboard.json").read_text())
    panels = board["panels"]
    used = {
        n for p in panels for t in p["targets"] for n in re.findall(r"jsm_bridge_\w+", t["expr"])
    }
    assert used <= exposed_names(), used - exposed_names()
    assert len(used) >= 12
    for p in panels:
        box = p["gridPos"]
        assert box["x"] + box["w"] <= 24
    assert max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels) <= 26  # ~1 screen
