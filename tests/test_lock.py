"""The cycle lock: one holder at a time, a clear message naming it, no real sleeping."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.sync.lock import EX_TEMPFAIL, CycleLock, Holder, LockBusy, lock_path_for


class FakeTime:
    """A monotonic clock that only moves when ``sleep`` is called."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def lock_file(tmp_path: Path) -> Path:
    return tmp_path / "jsm-bridge.sqlite.lock"


def test_lock_path_sits_next_to_the_state_database(tmp_path: Path) -> None:
    assert (
        lock_path_for(tmp_path / "var" / "state.sqlite") == tmp_path / "var" / "state.sqlite.lock"
    )


def test_second_lock_in_the_same_process_waits_then_reports_the_holder(lock_file: Path) -> None:
    first = CycleLock(lock_file)
    first.acquire(wait=0)
    fake = FakeTime()
    second = CycleLock(lock_file)
    with pytest.raises(LockBusy) as caught:
        second.acquire(wait=1.0, poll=0.3, sleep=fake.sleep, clock=fake.clock)

    # It waited in poll steps, the last one trimmed to the remaining budget, then gave up.
    assert fake.sleeps == pytest.approx([0.3, 0.3, 0.3, 0.1])
    busy = caught.value
    assert busy.holder.pid == os.getpid()
    assert busy.holder.host == socket.gethostname()
    assert busy.exit_code == EX_TEMPFAIL == 75
    message = str(busy)
    assert message.startswith(
        f"another jsm-bridge (pid {os.getpid()} on host {socket.gethostname()}, since "
    )
    assert "is running a cycle; this one exits" in message
    assert str(lock_file) in message
    assert not second.held

    first.release()
    second.acquire(wait=0)
    assert second.held
    second.release()


def test_waiting_ends_as_soon_as_the_holder_lets_go(lock_file: Path) -> None:
    first = CycleLock(lock_file)
    first.acquire(wait=0)
    fake = FakeTime()

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        if len(fake.sleeps) == 3:
            first.release()

    second = CycleLock(lock_file)
    second.acquire(wait=10.0, poll=0.2, sleep=sleep, clock=fake.clock)
    assert second.held and len(fake.sleeps) == 3
    # The file now names the new holder.
    assert second.holder().pid == os.getpid()
    second.release()


def test_wait_zero_tries_exactly_once(lock_file: Path) -> None:
    with CycleLock(lock_file):
        fake = FakeTime()
        with pytest.raises(LockBusy):
            CycleLock(lock_file).acquire(wait=0, sleep=fake.sleep, clock=fake.clock)
        assert fake.sleeps == []


def test_context_manager_releases_and_clears_the_holder_even_on_error(lock_file: Path) -> None:
    lock = CycleLock(lock_file)
    with pytest.raises(ZeroDivisionError), lock:
        assert lock.held
        assert lock.holder().pid == os.getpid()
        _ = 1 / 0
    assert not lock.held
    assert lock_file.exists()  # never deleted: deleting lock files races with openers
    assert lock.holder() == Holder(None, None, None)
    lock.release()  # idempotent
    with lock:  # and reusable
        assert lock.held


def test_acquiring_twice_on_one_object_is_a_programming_error(lock_file: Path) -> None:
    lock = CycleLock(lock_file)
    with lock, pytest.raises(RuntimeError, match="already held"):
        lock.acquire(wait=0)


def test_missing_state_directory_is_a_clear_error(tmp_path: Path) -> None:
    lock = CycleLock(tmp_path / "no-such-dir" / "state.sqlite.lock")
    with pytest.raises(OSError, match=r"cannot open the cycle lock file .*no-such-dir.*writable"):
        lock.acquire(wait=0)


# --------------------------------------------------------------------------- another process

HOLDER_SCRIPT = textwrap.dedent(
    """
    import sys
    from bridge.sync.lock import CycleLock
    lock = CycleLock(sys.argv[1])
    lock.acquire(wait=0)
    print("locked", flush=True)
    sys.stdin.read()   # hold until the parent closes our stdin
    lock.release()
    """
)


@pytest.fixture
def holder_process(lock_file: Path) -> Iterator[subprocess.Popen[str]]:
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, str(lock_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    ) as proc:
        assert proc.stdout is not None
        try:
            assert proc.stdout.readline().strip() == "locked"
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def test_a_second_process_gets_lock_busy_naming_the_holder_pid(
    lock_file: Path, holder_process: subprocess.Popen[str]
) -> None:
    fake = FakeTime()
    with pytest.raises(LockBusy) as caught:
        CycleLock(lock_file).acquire(wait=0.5, poll=0.2, sleep=fake.sleep, clock=fake.clock)
    assert caught.value.holder.pid == holder_process.pid
    assert caught.value.holder.since is not None
    assert f"pid {holder_process.pid} on host {socket.gethostname()}" in str(caught.value)

    # When the holder finishes, the lock is free again.
    assert holder_process.stdin is not None
    holder_process.stdin.close()
    assert holder_process.wait(timeout=30) == 0
    with CycleLock(lock_file) as lock:
        assert lock.held


def test_a_killed_holder_leaves_no_stale_lock(
    lock_file: Path, holder_process: subprocess.Popen[str]
) -> None:
    with pytest.raises(LockBusy):
        CycleLock(lock_file).acquire(wait=0)
    holder_process.send_signal(signal.SIGKILL)
    holder_process.wait(timeout=30)
    # The dead holder's line is still in the file, but the kernel released its lock.
    assert CycleLock(lock_file).holder().pid == holder_process.pid
    with CycleLock(lock_file) as lock:
        assert lock.holder().pid == os.getpid()


# --------------------------------------------------------------------------- holder text


def test_holder_description_adds_the_date_only_when_it_is_not_today() -> None:
    since = datetime(2026, 11, 30, 9, 0, 3, tzinfo=UTC)
    holder = Holder(1234, "x", since)
    assert holder.describe(today=datetime(2026, 11, 30, 18, 0, tzinfo=UTC)) == (
        "pid 1234 on host x, since 09:00:03Z"
    )
    assert holder.describe(today=datetime(2026, 12, 1, 0, 1, tzinfo=UTC)) == (
        "pid 1234 on host x, since 2026-11-30 09:00:03Z"
    )


@pytest.mark.parametrize(
    "raw",
    [b"", b"garbage", b"[1, 2]", b'{"pid": "12", "host": 5, "since": "yesterday"}', b"\xff\xfe"],
)
def test_an_unreadable_holder_line_still_gives_a_message(raw: bytes) -> None:
    holder = Holder.parse(raw)
    assert holder == Holder(None, None, None)
    busy = LockBusy(Path("/var/lib/jsm-bridge/state.sqlite.lock"), holder, 10.0)
    assert str(busy).startswith("another jsm-bridge (holder unknown) is running a cycle")
