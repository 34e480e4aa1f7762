"""Two instances with separate state files never both write: the lock lives on the Jira
site (a project property), on Cloud and Data Center alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import SandboxFactory
from test_run_command import NOW, duplicate_comments, write_config

from bridge.cli import main
from bridge.jira.client import JiraClient
from bridge.sandbox import seed as seeds
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
