"""Two instances with separate state files never both write: the lock lives on the Jira
site (a project property), on Cloud and Data Center alike."""

from __future__ import annotations

import threading
from collections.abc import Collection
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import SandboxFactory
from test_run_command import NOW, duplicate_comments, write_config

from bridge.cli import main
from bridge.jira.client import JiraClient
from bridge.sandbox import seed as seeds
from bridge.sandbox.faults import Decision, Faults
from bridge.sync.lock import SITE_LOCK_PROPERTY, SiteHolder, SiteLock, SiteLockBusy, lock_project

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
    again = SiteLock(client, "SUP", "crashed", ttl=timedelta(minutes=10), clock=lambda: clock[0])
    again.acquire()  # the same instance (same state file), restarted: its own lock
    clock[0] = now + timedelta(minutes=11)
    other.acquire()  # expired: taken over
    holder = SiteHolder.parse(sb.store.project.properties[SITE_LOCK_PROPERTY])
    assert holder is not None and holder.instance == "other"


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
        ("PROJECT=abc", "abc"),
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
