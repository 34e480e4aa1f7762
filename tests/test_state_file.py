"""The state file as an operator meets it: pointed at another Jira site, damaged, or on
a full disk.  Each is refused or stopped with one line that names the file and the
config actually given and says what to do, with the exit status the README gives; and
what it says to do works (the bridge rebuilds from Jira without repeating a write)."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import SANDBOX_NOW, Sandbox, SandboxFactory
from test_run_command import NOW, duplicate_comments, write_config

from bridge.cli import main
from bridge.sandbox import seed as seeds
from bridge.sync.state import SCHEMA_VERSION, State


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)


def run_once(config: Path, *extra: str) -> int:
    return main(["run", "--once", "--config", str(config), "--now", NOW, *extra])


def point_at(config: Path, url: str, flavour: str) -> None:
    """Edit the config's `jira.url` and `jira.flavour`, as an operator would."""
    text = config.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  url: .*$", f"  url: {url}", text)
    text = re.sub(r"(?m)^  flavour: .*$", f"  flavour: {flavour}", text)
    config.write_text(text, encoding="utf-8")


def move_aside(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.rename(part.with_name(part.name + ".old"))


# ------------------------------------------------------------------------- another site


def test_a_state_file_of_another_site_is_refused_before_jira_is_asked_then_rebuilt(
    sandbox_factory: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Data Center staging -> Cloud production with the same project key and names."""
    staging = sandbox_factory(flavour="datacenter")
    production = sandbox_factory(flavour="cloud")
    config = write_config(tmp_path, staging.url)
    point_at(config, staging.url, "datacenter")
    assert run_once(config) == 0
    # another form of the same URL is the same site: its state goes on incrementally
    point_at(config, staging.url.replace("http://", "HTTP://") + "/", "datacenter")
    assert run_once(config) == 0
    assert "cycle incremental:" in capsys.readouterr().out
    state_file = tmp_path / "state.sqlite"
    with State.open(state_file) as state:
        watermark = state.get_watermark()
        runs = len(state.last_runs())

    point_at(config, production.url, "cloud")
    for extra in ((), ("--dry-run",)):
        assert run_once(config, *extra) == 1  # as any other configuration error
        err = capsys.readouterr().err
        assert f"{staging.url} (Data Center)" in err and f"{production.url} (Cloud)" in err
        assert f"state.path in {config}" in err, err
        assert "new state.path" in err and "move the old file aside" in err, err
        assert "internal error" not in err and "Traceback" not in err
    assert len(production.requests.reads) == 0  # refused offline: site B never asked
    assert production.requests.count(kind="write") == 0
    with State.open(state_file) as state:  # staging's state is left as it was
        assert state.site() == (staging.url, "datacenter")
        assert state.get_watermark() == watermark and len(state.last_runs()) == runs

    # what the message says to do works: production's cases are all read and evaluated
    move_aside(state_file)
    assert run_once(config) == 0
    out = capsys.readouterr().out
    assert f"cycle full: {len(production.store.issues)} read" in out, out
    assert production.requests.count(kind="write") > 0


# ------------------------------------------------------------------------ a damaged file


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_a_damaged_state_file_says_to_move_it_aside_and_that_works(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    home = tmp_path / "elsewhere"  # --config points away from config/bridge.yaml
    home.mkdir()
    config = write_config(home, sandbox.url)
    state_file = home / "state.sqlite"
    assert run_once(config) == 0
    written = sandbox.requests.count(kind="write")
    comments = sum(len(i.comments) for i in sandbox.store.iter_issues())
    if damage == "garbage":
        state_file.write_bytes(b"not a database\n" * 4096)
    else:
        with state_file.open("r+b") as f:
            f.truncate(state_file.stat().st_size // 2)
    capsys.readouterr()
    damaged = on_disk(state_file)

    for extra in (("--dry-run",), ()):  # a dry run says the same, leaving it as it is
        assert run_once(config, *extra) == 1
        err = capsys.readouterr().err
        assert f"the state file {state_file} (state.path in {config}) is damaged" in err, err
        assert "move it aside" in err and "full read" in err, err
        if extra:
            assert on_disk(state_file) == damaged
    assert "config/bridge.yaml" not in err
    assert "internal error" not in err and "Traceback" not in err
    assert sandbox.requests.count(kind="write") == written  # nothing sent

    # moved aside, the state is rebuilt from Jira: every case read, no write repeated
    move_aside(state_file)
    assert run_once(config) == 0
    assert "cycle full:" in capsys.readouterr().out
    assert duplicate_comments(sandbox.store) == []
    assert sum(len(i.comments) for i in sandbox.store.iter_issues()) == comments


# --------------------------------------------------------------------------- a full disk


def fill_disk_after(monkeypatch: pytest.MonkeyPatch, pages: int) -> None:
    """Every state file opened from now on may grow by ``pages`` pages only: SQLite
    answers "database or disk is full" past them, as on a full disk."""
    opened = State.open.__func__  # type: ignore[attr-defined]

    def small(cls: type[State], path: Any, **kwargs: Any) -> State:
        state: State = opened(cls, path, **kwargs)
        size = state._db.execute("PRAGMA page_count").fetchone()[0]
        state._db.execute(f"PRAGMA max_page_count = {size + pages}")
        return state

    monkeypatch.setattr(State, "open", classmethod(small))


def test_a_full_disk_mid_cycle_names_the_file_exits_3_and_the_next_run_resumes(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, sandbox.url)
    state_file = tmp_path / "state.sqlite"
    with monkeypatch.context() as disk:
        fill_disk_after(disk, 3)
        code = run_once(config)
        err = capsys.readouterr().err
    assert code == 3, err  # the README's "the next run resumes"
    assert f"the disk holding the state file {state_file}" in err and "is full" in err, err
    assert f"state.path in {config}" in err
    assert "internal error" not in err and "Traceback" not in err
    assert sandbox.requests.count(kind="write") > 0  # it stopped mid-cycle
    with State.open(state_file) as state:
        assert state.get_watermark() is None  # the cycle is not taken for done

    # space freed: the next run finishes the work, writing nothing twice
    assert run_once(config) == 0
    assert duplicate_comments(sandbox.store) == []
    sandbox.reset_requests()
    assert run_once(config) == 0
    assert "writes: none" in capsys.readouterr().out
    assert sandbox.requests.count(kind="write") == 0
    with State.open(state_file) as state:
        assert state.get_watermark() == SANDBOX_NOW


def test_the_daemon_on_a_full_disk_exits_3_for_systemd_to_start_it_again(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Exit 3, not 70 nor 1: the unit restarts it (RestartPreventExitStatus=1 only)."""
    config = write_config(tmp_path, sandbox.url)
    fill_disk_after(monkeypatch, 3)
    assert main(["run", "--config", str(config)]) == 3
    err = capsys.readouterr().err
    assert f"the disk holding the state file {tmp_path / 'state.sqlite'}" in err, err
    assert "internal error" not in err


def test_a_full_disk_is_one_line_in_cron_mail_with_quiet(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, sandbox.url)
    fill_disk_after(monkeypatch, 3)
    assert run_once(config, "-q") == 3
    captured = capsys.readouterr()
    # the line cron mails carries the error itself: which file's disk, and what to do
    (line,) = captured.out.splitlines()
    assert line.startswith("jsm-bridge run --once failed with exit status 3: "), line
    assert "the disk holding the state file" in line and "is full" in line, line
    assert "is full" in captured.err


def test_a_state_file_locked_by_another_process_mid_cycle_stops_it_with_3_not_75(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tool holding the state file's write lock past the wait, met in the middle of a
    cycle: the cycle stopped after writing to Jira, so not 75 ("nothing was done", which
    the timer unit takes for success) but 3, saying the cycle stopped and resumes."""
    config = write_config(tmp_path, sandbox.url)

    def locked(self: State, *args: Any, **kwargs: Any) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(State, "remember_cases", locked)
    assert run_once(config) == 3
    err = capsys.readouterr().err
    assert "the cycle stopped there" in err and "nothing was written" not in err, err
    assert "internal error" not in err


def test_a_full_disk_when_the_state_is_opened_exits_3(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Recording the site in the state (its first use) finds the disk full."""
    config = write_config(tmp_path, sandbox.url)
    state_file = tmp_path / "state.sqlite"
    assert run_once(config) == 0
    with State.open(state_file) as state:
        watermark = state.get_watermark()
    capsys.readouterr()
    sandbox.reset_requests()

    def full(self: State, url: str, flavour: str) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(State, "claim_site", full)
    assert run_once(config) == 3
    err = capsys.readouterr().err
    assert f"the disk holding the state file {state_file}" in err, err
    assert "internal error" not in err
    assert len(sandbox.requests.reads) == 0  # stopped before Jira was asked
    with State.open(state_file) as state:
        assert state.get_watermark() == watermark


# ------------------------------------------------------------- the daemon writing to it


def test_a_run_once_beside_the_daemon_mid_write_waits_for_its_cycle_lock_not_70(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The daemon mid-cycle holds its cycle lock and a write transaction on the state
    file: a `run --once` reads the recorded site without waiting on that transaction,
    then waits for the cycle lock and gives up as the README says (75, nothing done),
    instead of "database is locked" after 30 s and an internal error (70)."""
    import bridge.commands.run as run_command
    from bridge.sync.lock import CycleLock

    config = write_config(tmp_path, sandbox.url)
    assert run_once(config) == 0  # the site is recorded
    capsys.readouterr()
    sandbox.reset_requests()

    class FakeTimeLock(CycleLock):
        """The real lock, waiting on a fake clock (no real 10 s)."""

        def acquire(self, wait: float = 10.0, poll: float = 0.2, **_: Any) -> None:
            t = [0.0]

            def sleep(s: float) -> None:
                t[0] += s

            super().acquire(wait=wait, poll=poll, sleep=sleep, clock=lambda: t[0])

    monkeypatch.setattr(run_command, "CycleLock", FakeTimeLock)
    state_file = tmp_path / "state.sqlite"
    cycle_lock = CycleLock(tmp_path / "state.sqlite.lock")
    cycle_lock.acquire(wait=0)
    daemon = sqlite3.connect(state_file, isolation_level=None)
    daemon.execute("BEGIN IMMEDIATE")
    try:
        code = run_once(config, "-q")
    finally:
        daemon.rollback()
        daemon.close()
        cycle_lock.release()
    captured = capsys.readouterr()
    assert code == 75, captured.err
    assert "another jsm-bridge" in captured.err, captured.err
    assert "internal error" not in captured.err and "database is locked" not in captured.err
    assert captured.out == ""  # with -q, a held lock mails nothing, as before
    assert sandbox.requests.count(kind="write") == 0


def test_a_state_file_locked_past_the_wait_exits_75_saying_so(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Recording the site finds the file locked for writing by another process for longer
    than SQLite waits: exit 75 as for a held lock (EX_TEMPFAIL: nothing was done, the
    next run goes ahead; the once unit counts it a success, the daemon's restarts), with
    a line naming the file, never "internal error ... please report" (70)."""
    config = write_config(tmp_path, sandbox.url)
    state_file = tmp_path / "state.sqlite"

    def locked(self: State, url: str, flavour: str) -> None:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(State, "claim_site", locked)
    assert run_once(config) == 75
    err = capsys.readouterr().err
    assert f"the state file {state_file} (state.path in {config}) is locked for writing" in err
    assert "next run goes ahead" in err, err
    assert "internal error" not in err and "Traceback" not in err
    assert len(sandbox.requests.reads) == 0  # stopped before Jira was asked
    assert main(["run", "--config", str(config)]) == 75  # the daemon too: systemd restarts it


# ------------------------------------------------------------------------- a dry run


def test_a_dry_run_on_a_state_file_from_before_sites_records_no_site(
    sandbox_factory: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dry run changes nothing, the site too: a staging config sharing production's
    state.path (a file from before this version, recording no site) must not label the
    file staging's, or the production daemon would then refuse to start."""
    production = sandbox_factory(flavour="cloud")
    staging = sandbox_factory(flavour="datacenter")
    config = write_config(tmp_path, production.url)
    assert run_once(config) == 0
    state_file = tmp_path / "state.sqlite"
    db = sqlite3.connect(state_file, isolation_level=None)
    db.execute("DELETE FROM meta WHERE name = 'site'")  # as the previous version left it
    db.close()

    staging_config = tmp_path / "staging.yaml"
    staging_config.write_text(config.read_text(encoding="utf-8"), encoding="utf-8")
    point_at(staging_config, staging.url, "datacenter")
    assert run_once(staging_config, "--dry-run") == 0
    assert staging.requests.count(kind="write") == 0
    with State.open(state_file) as state:
        assert state.site() is None

    # production's own run then takes the file as its own, as after the upgrade
    capsys.readouterr()
    assert run_once(config) == 0, capsys.readouterr().err
    assert "cycle incremental:" in capsys.readouterr().out
    with State.open(state_file) as state:
        assert state.site() == (production.url, "cloud")
    # and a dry run of another site's config is still refused against it
    assert run_once(staging_config, "--dry-run") == 1
    assert f"{production.url} (Cloud)" in capsys.readouterr().err


def on_disk(path: Path) -> dict[str, tuple[bytes, int]]:
    """The state file and any -wal and -shm file beside it: bytes and mtime of each."""
    return {
        f.name: (f.read_bytes(), f.stat().st_mtime_ns)
        for f in sorted(path.parent.iterdir())
        if f.name.startswith(path.name) and not f.name.endswith(".lock")
    }


def schema_on_disk(path: Path) -> int:
    """What a reader of the file sees as its schema (what its -wal holds counts)."""
    db = sqlite3.connect(path)  # (closing, it removes the -wal and -shm it made)
    try:
        return int(db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()[0])
    finally:
        db.close()


def test_a_dry_run_leaves_a_state_file_of_an_older_version_as_it_was(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trial of the new version on production's state.path (a staging host sharing
    it, an operator trying the upgrade first) runs on the file's content but leaves the
    file as the old version wrote it: its bytes, its time, its schema, no -wal or -shm
    beside it.  The first real run upgrades it."""
    config = write_config(tmp_path, sandbox.url)
    assert run_once(config) == 0
    state_file = tmp_path / "state.sqlite"
    db = sqlite3.connect(state_file, isolation_level=None)  # as schema 8 left it
    db.execute("DROP TABLE owed_followers")  # schema 11's
    db.execute("ALTER TABLE journal DROP COLUMN ledger_behind")  # schema 10's
    db.execute("ALTER TABLE journal DROP COLUMN landed")  # schema 9's
    db.execute("UPDATE meta SET value = '8' WHERE name = 'schema_version'")
    db.close()
    before = on_disk(state_file)
    assert list(before) == [state_file.name]
    capsys.readouterr()
    sandbox.reset_requests()

    assert run_once(config, "--dry-run") == 0
    assert "cycle (dry run) full:" in capsys.readouterr().out
    assert sandbox.requests.count(kind="write") == 0
    assert on_disk(state_file) == before
    assert schema_on_disk(state_file) == 8
    # the run had the file's content: another site's config is refused against it
    other = tmp_path / "other.yaml"
    other.write_text(config.read_text(encoding="utf-8"), encoding="utf-8")
    point_at(other, "https://other.example.net", "cloud")
    assert run_once(other, "--dry-run") == 1
    assert f"{sandbox.url} (Cloud)" in capsys.readouterr().err
    assert on_disk(state_file) == before

    assert run_once(config) == 0  # the real run upgrades it
    assert schema_on_disk(state_file) == SCHEMA_VERSION
    assert "cycle incremental:" in capsys.readouterr().out


@pytest.mark.parametrize("directory", ["there", "not yet made"])
def test_a_dry_run_with_no_state_file_creates_none(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str], directory: str
) -> None:
    """Nor its directory: the dry run of a new install before its first run."""
    config = write_config(tmp_path, sandbox.url)
    state_file = tmp_path / "state.sqlite"
    if directory == "not yet made":
        state_file = tmp_path / "var" / "state.sqlite"
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace(str(tmp_path / "state.sqlite"), str(state_file)))
    assert run_once(config, "--dry-run") == 0, capsys.readouterr().err
    assert "cycle (dry run) full:" in capsys.readouterr().out
    assert state_file.parent.is_dir() == (directory == "there")
    if directory == "there":
        assert on_disk(state_file) == {}
    assert sandbox.requests.count(kind="write") == 0

    assert run_once(config) == 0  # a real run creates it
    assert schema_on_disk(state_file) == SCHEMA_VERSION
    with State.open(state_file) as state:
        assert state.site() == (sandbox.url, "cloud") and state.get_watermark() is not None
