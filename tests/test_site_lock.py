"""Two instances with separate state files never both write: the lock lives on the Jira
site (a project property), on Cloud and Data Center alike."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import Sandbox, SandboxFactory
from test_run_command import NOW, duplicate_comments, write_config

from bridge.cli import main
from bridge.jira.client import JiraClient
from bridge.metrics import MetricsServer
from bridge.sandbox import seed as seeds
from bridge.sandbox.faults import Decision, Faults
from bridge.sync.lock import SITE_LOCK_PROPERTY, SiteHolder, SiteLock, SiteLockBusy, lock_project
from bridge.sync.state import State

FLAVOURS = ["cloud", "datacenter"]


def client_for(url: str, flavour: str) -> JiraClient:
    return JiraClient(url, flavour=flavour, email=seeds.BRIDGE_EMAIL, token=seeds.BRIDGE_TOKEN)


def config_in(tmp_path: Path, name: str, url: str, flavour: str) -> Path:
    """Its own directory, its own state file: a second instance on another host."""
    home = tmp_path / name
    home.mkdir()
    config = write_config(home, url)
    text = config.read_text(encoding="utf-8").replace("flavour: cloud", f"flavour: {flavour}")
    config.write_text(text, encoding="utf-8")
    return config


def run_once(config: Path) -> int:
    return main(["run", "--once", "--config", str(config), "--now", NOW])


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_second_instance_with_its_own_state_exits_75_and_writes_nothing(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    flavour: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(flavour=flavour)
    first = SiteLock(client_for(sb.url, flavour), "SUP", "instance-a", ttl=timedelta(minutes=10))
    first.acquire()  # instance A is mid-cycle on another host
    second = config_in(tmp_path, "b", sb.url, flavour)
    assert run_once(second) == 75
    err = capsys.readouterr().err
    assert "another jsm-bridge" in err and SITE_LOCK_PROPERTY in err and "SUP" in err
    assert sb.requests.count(kind="write") == 0  # not one comment twice
    # A finishes and lets go: B runs normally, and leaves no lock behind
    first.release()
    assert run_once(second) == 0
    assert sb.requests.count(kind="write") > 0
    assert SITE_LOCK_PROPERTY not in sb.store.project.properties


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_two_instances_one_after_the_other_never_write_a_case_twice(
    sandbox_factory: SandboxFactory, tmp_path: Path, flavour: str
) -> None:
    sb = sandbox_factory(flavour=flavour)
    a = config_in(tmp_path, "a", sb.url, flavour)
    b = config_in(tmp_path, "b", sb.url, flavour)
    assert run_once(a) == 0
    assert run_once(b) == 0  # a full cycle from an empty state: the ledger says it is done
    assert not duplicate_comments(sb.store)


def test_an_expired_lock_is_taken_over_and_a_restarted_instance_takes_its_own_back(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    sb = sandbox_factory()
    client = client_for(sb.url, "cloud")
    now = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    clock = [now]
    dead = SiteLock(client, "SUP", "crashed", ttl=timedelta(minutes=10), clock=lambda: clock[0])
    dead.acquire()  # then it was killed: nobody releases it
    other = SiteLock(client, "SUP", "other", ttl=timedelta(minutes=10), clock=lambda: clock[0])
    with pytest.raises(SiteLockBusy):
        other.acquire()
    # it ran on this host as a process that has ended since
    client.set_project_property("SUP", SITE_LOCK_PROPERTY, {**record_of(dead), "pid": ended_pid()})
    again = SiteLock(client, "SUP", "crashed", ttl=timedelta(minutes=10), clock=lambda: clock[0])
    again.acquire()  # the same instance (same state file), restarted: its own lock, at once
    assert holder_token(sb) == again.token
    clock[0] = now + timedelta(minutes=11)
    other.acquire()  # expired: taken over
    holder = SiteHolder.parse(sb.store.project.properties[SITE_LOCK_PROPERTY])
    assert holder is not None and holder.instance == "other"


def record_of(lock: SiteLock) -> dict[str, Any]:
    return SiteLock._record(lock, lock.clock())


def ended_pid() -> int:
    """The pid of a process that ran on this host and has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def holder_token(sb: Sandbox) -> str | None:
    holder = SiteHolder.parse(sb.store.project.properties.get(SITE_LOCK_PROPERTY))
    return holder.token if holder is not None else None


def site_lock(sb: Sandbox, clock: Callable[[], datetime], **kw: Any) -> SiteLock:
    """Instance "copied"'s lock on SUP, nine minutes long, through a client of its own."""
    client = client_for(sb.url, "cloud")
    return SiteLock(client, "SUP", "copied", ttl=timedelta(minutes=9), clock=clock, **kw)


def test_a_second_process_with_a_copy_of_the_state_file_is_refused_while_the_first_is_live(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory()
    now = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    clock = [now]

    # one instance id: a restored backup, a copied volume
    first, second = (site_lock(sb, lambda: clock[0], settle=0.0) for _ in range(2))
    first.acquire()
    with pytest.raises(SiteLockBusy, match="this instance id"):
        second.acquire()
    assert not second.held
    for minutes in (4, 8, 12, 16):  # the first keeps renewing; the copy keeps trying
        clock[0] = now + timedelta(minutes=minutes)
        first.heartbeat()
        with pytest.raises(SiteLockBusy):
            second.acquire()
        assert first.held and holder_token(sb) == first.token
    # the first stops renewing (it hangs, or its host is gone): its lock expires
    clock[0] = now + timedelta(minutes=26)
    second.acquire()
    assert holder_token(sb) == second.token


def test_run_once_beside_its_own_daemon_runs_under_the_daemons_record_and_a_copy_does_not(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """``run --once`` holding the cycle lock of the daemon's own state directory runs
    between the daemon's cycles: the cycle lock keeps the two apart, and the daemon's
    record is left as it is.  A copy of the state file elsewhere (a restored backup)
    holds another directory's cycle lock, and is refused as before."""
    sb = sandbox_factory()
    now = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    here, elsewhere = tmp_path / "state.sqlite.lock", tmp_path / "copy" / "state.sqlite.lock"

    def lock(lock_file: Path) -> SiteLock:
        return site_lock(sb, lambda: now, settle=0.0, lock_file=lock_file)

    daemon, once, copy = lock(here), lock(here), lock(elsewhere)
    daemon.acquire()
    with pytest.raises(SiteLockBusy):
        once.acquire()  # without the cycle lock: the daemon may be mid-cycle
    once.acquire(cycle_lock_held=True)
    assert once.beside and not once.held
    once.release()
    assert holder_token(sb) == daemon.token  # the daemon's record, untouched
    with pytest.raises(SiteLockBusy, match="this instance id"):
        copy.acquire(cycle_lock_held=True)
    assert holder_token(sb) == daemon.token


def test_a_heartbeat_that_finds_another_process_s_lock_gives_it_up(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory()
    now = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    clock = [now]
    client = client_for(sb.url, "cloud")
    first = site_lock(sb, lambda: clock[0], settle=0)
    copy = site_lock(sb, lambda: clock[0])
    first.acquire()
    # the copy's write lands anyway (it found the lock free in the same second)
    client.set_project_property("SUP", SITE_LOCK_PROPERTY, record_of(copy))
    clock[0] = now + timedelta(minutes=4)
    with pytest.raises(SiteLockBusy):
        first.heartbeat()
    assert not first.held
    assert holder_token(sb) == copy.token  # not overwritten: one writer left
    first.heartbeat()  # no longer held: nothing to renew, nothing written
    assert holder_token(sb) == copy.token


def test_its_own_lock_from_another_host_or_a_running_pid_waits_for_the_expiry(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory()
    now = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    client = client_for(sb.url, "cloud")
    lock = SiteLock(client, "SUP", "copied", ttl=timedelta(minutes=9), clock=lambda: now)
    running = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        for elsewhere in (
            {"host": "another-host.example", "pid": ended_pid()},
            {"pid": running.pid},
            {"pid": None},
        ):
            record = {**record_of(lock), "token": "0123456789abcdef", **elsewhere}
            client.set_project_property("SUP", SITE_LOCK_PROPERTY, record)
            with pytest.raises(SiteLockBusy):
                lock.acquire()
            assert holder_token(sb) == "0123456789abcdef"
    finally:
        running.communicate()


def test_its_own_lock_left_by_an_earlier_process_with_this_pid_is_taken_back_at_once(
    sandbox_factory: SandboxFactory,
) -> None:
    """A restarted container runs the bridge as pid 1 again, on the same host name."""
    sb = sandbox_factory()
    client = client_for(sb.url, "cloud")
    lock = SiteLock(client, "SUP", "restarted", ttl=timedelta(minutes=9), settle=0.0)
    left = {**record_of(lock), "token": "0123456789abcdef"}  # this host, this pid
    client.set_project_property("SUP", SITE_LOCK_PROPERTY, left)
    lock.acquire()
    assert lock.held and holder_token(sb) == lock.token


def test_the_instance_id_lives_in_the_state_file(tmp_path: Path) -> None:
    from bridge.sync.state import State

    with State.open(tmp_path / "s.db") as state:
        first = state.instance_id()
    with State.open(tmp_path / "s.db") as state:
        assert state.instance_id() == first
    with State.open(tmp_path / "other.db") as state:
        assert state.instance_id() != first


def test_without_permission_to_set_project_properties_the_lock_is_off_with_a_warning(
    sandbox_factory: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = sandbox_factory()
    bridge = sb.store.user_by_email(seeds.BRIDGE_EMAIL)
    assert bridge is not None
    bridge.admin = False  # no Administer Projects
    config = config_in(tmp_path, "a", sb.url, "cloud")
    assert run_once(config) in (0, 4)
    assert "site lock off" in capsys.readouterr().err
    assert SITE_LOCK_PROPERTY not in sb.store.project.properties


@pytest.mark.parametrize(
    ("jql", "project"),
    [
        ("project = SUP", "SUP"),
        ('project = "SUP" AND status != Done', "SUP"),
        ("project in (OPS, SUP) ORDER BY key", "OPS"),
        ("PROJECT=abc", "ABC"),  # JQL finds it whatever the case; the property call does not
        ("assignee = currentUser()", None),
    ],
)
def test_the_lock_project_is_the_first_project_the_jql_names(jql: str, project: str | None) -> None:
    assert lock_project(jql) == project


class SameSecond(Faults):
    """Two bridges start in the same second: both read the lock before either writes it
    (the first two reads wait for each other), and the second write lands a tenth of a
    second after the first (well within the settle, as two hosts' round trips are)."""

    def __init__(self) -> None:
        super().__init__(None)
        self.both_read = threading.Barrier(2, timeout=10)
        self.reads = self.writes = 0
        self.count = threading.Lock()

    def decide(self, endpoint: str, kind: str, issues: Collection[str] = ()) -> Decision:
        if "/properties/{propertyKey}" in endpoint and "/project/" in endpoint:
            with self.count:
                if endpoint.startswith("GET"):
                    self.reads += 1
                    n, first_reads = self.reads, True
                else:
                    self.writes += 1
                    n, first_reads = self.writes, False
            if first_reads and n <= 2:
                self.both_read.wait()
            if not first_reads and n == 2:
                return Decision(delay=0.1)
        return super().decide(endpoint, kind, issues)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_two_bridges_starting_in_the_same_second_never_both_hold_the_site_lock(
    sandbox_factory: SandboxFactory, flavour: str
) -> None:
    sb = sandbox_factory(flavour=flavour)
    sb.server.faults = SameSecond()
    locks = [
        SiteLock(client_for(sb.url, flavour), "SUP", name, ttl=timedelta(minutes=10))
        for name in ("bridge-a", "bridge-b")
    ]
    outcome: dict[str, str] = {}

    def start(lock: SiteLock) -> None:
        try:
            lock.acquire()
            outcome[lock.instance] = "holds"
        except SiteLockBusy:
            outcome[lock.instance] = "backs off"

    threads = [threading.Thread(target=start, args=(lock,)) for lock in locks]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcome.values()) == ["backs off", "holds"], outcome
    holder = SiteHolder.parse(sb.store.project.properties[SITE_LOCK_PROPERTY])
    assert holder is not None and outcome[holder.instance] == "holds"


class TakenOverMidCycle(Faults):
    """Another instance takes the site lock just before the bridge's ``at_write``-th write
    (the bridge's own lock lapsed: a long stall on this host); with ``hand_back`` it lets go
    again once the bridge, backing off, has found it held ``hand_back`` times."""

    def __init__(self, store: object, at_write: int, hand_back: int | None = None) -> None:
        super().__init__(None)
        self.properties = store.project.properties  # type: ignore[attr-defined]
        self.at_write, self.hand_back = at_write, hand_back
        self.writes = self.reads_while_held = 0
        self.taken = False
        self.count = threading.Lock()

    def decide(self, endpoint: str, kind: str, issues: Collection[str] = ()) -> Decision:
        lock_property = "/properties/{propertyKey}" in endpoint and "/project/" in endpoint
        with self.count:
            if kind == "write" and not lock_property:
                self.writes += 1
                if self.writes == self.at_write and not self.taken:
                    self.taken = True
                    self.properties[SITE_LOCK_PROPERTY] = {
                        "instance": "the-other-one",
                        "heartbeat": datetime.now(UTC).isoformat(timespec="seconds"),
                        "expires": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                    }
            elif lock_property and endpoint.startswith("GET") and self.taken:
                held = SiteHolder.parse(self.properties.get(SITE_LOCK_PROPERTY))
                if held is not None and held.instance == "the-other-one":
                    self.reads_while_held += 1
                    if self.reads_while_held == self.hand_back:
                        del self.properties[SITE_LOCK_PROPERTY]  # it finished and let go
        return super().decide(endpoint, kind, issues)


@pytest.fixture
def beat_every_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every check of the site lock during a cycle reads it (as each does once a third of
    its life has passed), so a takeover is seen at the next case."""
    monkeypatch.setattr(SiteLock, "heartbeat", SiteLock.acquire)


@pytest.mark.usefixtures("beat_every_check")
def test_a_cycle_whose_site_lock_another_instance_took_stops_and_exits_75(
    sandbox_factory: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = sandbox_factory()
    sb.server.faults = TakenOverMidCycle(sb.store, at_write=3)
    config = config_in(tmp_path, "a", sb.url, "cloud")
    assert run_once(config) == 75  # not 0: the cycle did not do its work
    assert "another instance took the site lock" in capsys.readouterr().out
    with State.open(tmp_path / "a" / "state.sqlite") as state:
        run = state.last_runs(1)[0]
        assert run.finished is not None and not run.ok  # recorded as cut short
        assert state.get_watermark() is None  # the next cycle reads everything again
        assert state.pending_intents() == []
    # the other instance holds the site now: the bridge keeps off it
    holder = SiteHolder.parse(sb.store.project.properties[SITE_LOCK_PROPERTY])
    assert holder is not None and holder.instance == "the-other-one"


@pytest.mark.usefixtures("beat_every_check")
def test_a_daemon_whose_site_lock_was_taken_tells_systemd_nothing_good_and_takes_it_back(
    sandbox_factory: SandboxFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sb = sandbox_factory()
    faults = TakenOverMidCycle(sb.store, at_write=3, hand_back=2)
    sb.server.faults = faults
    config = config_in(tmp_path, "a", sb.url, "cloud")
    text = config.read_text(encoding="utf-8")
    text = text.replace("polling: {interval: 5m", "polling: {interval: 1s")
    config.write_text(text + 'metrics: {listen: "127.0.0.1:0"}\n', encoding="utf-8")
    path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(path))
    notify.settimeout(60)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    heard: list[list[str]] = []
    health: list[requests.Response] = []
    servers: list[MetricsServer] = []
    start = MetricsServer.start

    def started(server: MetricsServer) -> MetricsServer:
        servers.append(server)
        return start(server)

    monkeypatch.setattr(MetricsServer, "start", started)

    def systemd() -> None:
        """Listens as systemd does, asks /healthz at each word, and stops the daemon once
        it hears it is alive."""
        try:
            while True:
                lines = notify.recv(4096).decode().splitlines()
                if lines[0].startswith("EXTEND_TIMEOUT_USEC="):
                    continue  # a long first cycle asking for more time: not a verdict
                heard.append(lines)
                host, port = servers[0].address
                health.append(requests.get(f"http://{host}:{port}/healthz", timeout=10))
                if "WATCHDOG=1" in lines:
                    break
        except OSError:  # never heard alive (a timeout), or the socket closed
            pass
        if not over.is_set():  # stop the daemon, never the test run after it
            os.kill(os.getpid(), signal.SIGTERM)

    over = threading.Event()
    listener = threading.Thread(target=systemd, daemon=True)
    listener.start()
    try:
        code = main(["run", "--config", str(config)])
    finally:
        over.set()
        notify.close()
    listener.join(10)
    assert code == 0
    # the cycle cut short was not reported alive; the daemon kept going, took the site
    # lock back once the other instance let go, and the next cycle was
    assert heard[0] == ["STATUS=stopped: another instance took the site lock"], heard
    assert health[0].status_code == 503, health[0].text
    assert "site lock" in health[0].json()["detail"]
    assert faults.reads_while_held >= 2
    assert "READY=1" in heard[-1] and "WATCHDOG=1" in heard[-1], heard
    assert health[-1].status_code == 200, health[-1].text
    assert not duplicate_comments(sb.store)


def test_a_scope_naming_its_project_in_lower_case_still_locks_the_project(
    sandbox_factory: SandboxFactory,
) -> None:
    """``project = sup`` finds the project's cases, and the lock goes on project SUP: the
    property calls take the key only as Jira spells it."""
    sb = sandbox_factory()
    project = lock_project("project = sup AND resolution = EMPTY")
    assert project is not None
    lock = SiteLock(client_for(sb.url, "cloud"), project, "lower", ttl=timedelta(minutes=9))
    lock.acquire()
    assert lock.held and holder_token(sb) == lock.token
