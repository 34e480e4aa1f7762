"""One cycle at a time: an exclusive ``flock`` on a file next to the state database.

Two instances can meet when cron starts a run while the previous one is still
going, when an operator runs ``jsm-bridge run --once`` by hand next to the
service, or when two hosts share the state directory.  Whoever holds the lock
runs the cycle; the other waits briefly (``wait`` seconds) and then gives up
with :class:`LockBusy`, whose message names the holder.  The CLI exits with
:data:`EX_TEMPFAIL` (75, from ``sysexits.h``: "try again later") so cron and
systemd can tell "someone else is on it" from a real failure.

Why ``flock``: the kernel drops the lock when the holder's process dies, however
it dies, so there is never a stale lock to clean up by hand.  The file itself is
never deleted (deleting a lock file races with a process that just opened it);
its content -- pid, host and start time of the holder -- is only there to write
a useful message.  On NFS, Linux implements ``flock`` with POSIX byte-range
locks, which the NFS lock manager honours across hosts; on storage that ignores
locks entirely (some FUSE file systems) no lock can protect you -- keep the
state directory local there.

The lock is per open file description, so two :class:`CycleLock` objects on one
path exclude each other even inside a single process.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

__all__ = ["EX_TEMPFAIL", "CycleLock", "Holder", "LockBusy", "lock_path_for"]

#: Exit status for "another instance holds the lock" (sysexits.h EX_TEMPFAIL).
EX_TEMPFAIL = 75

_BUSY_ERRNOS = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


def lock_path_for(state_db: str | os.PathLike[str]) -> Path:
    """The lock file that goes with a state database: ``<db>.lock`` in the same directory."""
    db = Path(state_db)
    return db.with_name(db.name + ".lock")


@dataclass(frozen=True)
class Holder:
    """Who holds the lock, as written into the lock file by the holder."""

    pid: int | None
    host: str | None
    since: datetime | None

    @classmethod
    def parse(cls, raw: bytes) -> Holder:
        """Read the lock file's content; anything unreadable gives an 'unknown' holder."""
        try:
            data = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return cls(None, None, None)
        if not isinstance(data, dict):
            return cls(None, None, None)
        pid = data.get("pid")
        host = data.get("host")
        since: datetime | None = None
        if isinstance(data.get("since"), str):
            with contextlib.suppress(ValueError):
                since = datetime.fromisoformat(data["since"])
        return cls(
            pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            host if isinstance(host, str) else None,
            since,
        )

    def describe(self, today: datetime | None = None) -> str:
        """``pid 1234 on host x, since 09:00:03Z`` (the date is added when it is not today)."""
        parts: list[str] = []
        if self.pid is not None:
            parts.append(f"pid {self.pid}")
        if self.host:
            parts.append(f"on host {self.host}")
        who = " ".join(parts) if parts else "holder unknown"
        if self.since is not None:
            since = self.since.astimezone(UTC)
            now = (today or datetime.now(UTC)).astimezone(UTC)
            fmt = "%H:%M:%SZ" if since.date() == now.date() else "%Y-%m-%d %H:%M:%SZ"
            who += f", since {since.strftime(fmt)}"
        return who


class LockBusy(Exception):
    """Another instance holds the cycle lock; this one should exit with :data:`EX_TEMPFAIL`."""

    exit_code = EX_TEMPFAIL

    def __init__(self, path: Path, holder: Holder, waited: float) -> None:
        self.path = path
        self.holder = holder
        self.waited = waited
        super().__init__(
            f"another jsm-bridge ({holder.describe()}) is running a cycle; this one exits "
            f"(waited {waited:g}s for the lock {path}; it is released when that process ends)"
        )


class CycleLock:
    """An exclusive, non-reentrant lock held for the length of one cycle.

    Use as a context manager (waits the default 10 s), or call :meth:`acquire`
    with explicit timing and :meth:`release` yourself::

        with CycleLock(lock_path_for(settings.state_path)):
            run_cycle()
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(
        self,
        wait: float = 10.0,
        poll: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Take the lock, retrying every ``poll`` seconds for up to ``wait`` seconds.

        Raises :class:`LockBusy` when it is still held by someone else after
        ``wait`` (``wait=0`` tries once), and ``OSError`` with the path when the
        lock file cannot be created (e.g. the state directory does not exist
        or is read-only).
        """
        if self._fd is not None:
            raise RuntimeError(f"cycle lock {self.path} is already held by this object")
        fd = self._open()
        start = clock()
        try:
            while True:
                if self._try_lock(fd):
                    break
                waited = clock() - start
                if waited >= wait:
                    raise LockBusy(self.path, Holder.parse(os.pread(fd, 4096, 0)), wait)
                sleep(max(0.0, min(poll, wait - waited)))
            self._write_holder(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (idempotent).  The holder line is cleared, the file kept."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def holder(self) -> Holder:
        """Who the lock file says holds the lock (for status output; not a lock check)."""
        try:
            return Holder.parse(self.path.read_bytes())
        except FileNotFoundError:
            return Holder(None, None, None)

    def __enter__(self) -> CycleLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    # ------------------------------------------------------------------ internals

    def _open(self) -> int:
        try:
            # O_CLOEXEC is Python's default: child processes never inherit the lock.
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"cannot open the cycle lock file {self.path}: {exc.strerror} "
                "(check that the state directory exists and is writable by this user)",
            ) from exc

    @staticmethod
    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno in _BUSY_ERRNOS:
                return False
            raise
        return True

    @staticmethod
    def _write_holder(fd: int) -> None:
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        data = (json.dumps(record) + "\n").encode("utf-8")
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
