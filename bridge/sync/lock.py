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

Instances that do *not* share a state directory meet on the Jira site instead:
:class:`SiteLock` keeps a lock there, as a project property.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from bridge.jira.port import JiraError
from bridge.jira.retry import WaitInterrupted
from bridge.logs import get_logger
from bridge.sync.poll import named_projects

__all__ = [
    "EX_TEMPFAIL",
    "SITE_LOCK_PROPERTY",
    "CycleLock",
    "Holder",
    "LockBusy",
    "SiteHolder",
    "SiteLock",
    "SiteLockBusy",
    "lock_path_for",
    "lock_project",
]

log = get_logger("bridge.sync.lock")

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


# --------------------------------------------------------------------------- the site lock

#: The project property that names the instance working on a Jira site.
SITE_LOCK_PROPERTY = "jsm-bridge.lock"


class ProjectProperties(Protocol):
    """What the site lock needs from the Jira client."""

    def project_property(self, project: str, prop: str) -> Any | None: ...

    def set_project_property(self, project: str, prop: str, value: Any) -> None: ...

    def delete_project_property(self, project: str, prop: str) -> None: ...


@dataclass(frozen=True)
class SiteHolder:
    """The instance a site lock names (the project property's value)."""

    instance: str
    host: str | None
    pid: int | None
    heartbeat: datetime | None
    expires: datetime | None
    #: drawn afresh by each `SiteLock` (each process): tells two writers apart even when
    #: they share an instance id (two copies of one state file)
    token: str | None = None
    #: the cycle lock file of the state directory the holder works from
    lock_file: str | None = None

    @classmethod
    def parse(cls, value: Any) -> SiteHolder | None:
        if not isinstance(value, dict) or not isinstance(value.get("instance"), str):
            return None

        def moment(name: str) -> datetime | None:
            text = value.get(name)
            if not isinstance(text, str):
                return None
            try:
                when = datetime.fromisoformat(text)
            except ValueError:
                return None
            return when if when.tzinfo is not None else when.replace(tzinfo=UTC)

        pid = value.get("pid")
        return cls(
            value["instance"],
            value.get("host") if isinstance(value.get("host"), str) else None,
            pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            moment("heartbeat"),
            moment("expires"),
            value.get("token") if isinstance(value.get("token"), str) else None,
            value.get("lock_file") if isinstance(value.get("lock_file"), str) else None,
        )

    def live(self, now: datetime) -> bool:
        return self.expires is not None and self.expires > now

    def describe(self) -> str:
        where = " ".join(
            p
            for p in (
                f"pid {self.pid}" if self.pid else "",
                f"on host {self.host}" if self.host else "",
            )
            if p
        )
        beat = (
            self.heartbeat.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ") if self.heartbeat else "?"
        )
        return f"instance {self.instance[:8]} ({where or 'host unknown'}, last heartbeat {beat})"


class SiteLockBusy(Exception):
    """Another live instance works on this Jira site; this one must not write."""

    exit_code = EX_TEMPFAIL

    def __init__(self, project: str, holder: SiteHolder, *, same_instance: bool = False) -> None:
        self.project = project
        self.holder = holder
        expires = holder.expires.astimezone(UTC).strftime("%H:%M:%SZ") if holder.expires else "?"
        who, fix = (
            (
                "another jsm-bridge process with this instance id (on this state file, or on a"
                " copy of it: a restored backup, a copied volume)",
                "wait for it or stop it; a copy needs a state file of its own",
            )
            if same_instance
            else (
                "another jsm-bridge with its own state",
                "stop the other instance, or point both at the same state file",
            )
        )
        super().__init__(
            f"{who} ({holder.describe()}) works on this Jira site"
            f" (lock property {SITE_LOCK_PROPERTY} on project {project}); this one exits so no"
            f" case is written twice. Its lock expires at {expires} unless it keeps running;"
            f" {fix}"
        )


#: Tokens drawn by the site locks of this process: a record naming this host and this
#: pid with another token was written by an earlier process that had the same pid.
_TOKENS_DRAWN_HERE: set[str] = set()


class SiteLock:
    """A lock on the Jira site itself: a project property naming one bridge instance.

    The file lock (:class:`CycleLock`) only excludes instances sharing a state
    directory.  Two instances with separate state files (two hosts, a restored
    backup, a second container) would both write every comment; this lock lives
    where both look: on the Jira project, as the entity property
    ``jsm-bridge.lock`` (project properties exist on Cloud and Data Center alike:
    "Project properties", Jira REST API v2/v3, ``/project/{projectIdOrKey}/properties``).

    The value names the instance (an id kept in the state file, so a restarted
    instance recognises its own lock), its host and pid, a token drawn afresh by
    each process, and a heartbeat with an expiry.  :meth:`acquire` refuses while
    another process's lock is live -- another instance's, or one sharing this
    instance id (a copy of the state file), told apart by the token; a lock whose
    holder stopped heartbeating expires after ``ttl`` and may be taken.  This
    instance's own lock is taken back at once only when it is provably left by an
    ended process: written on this host by a pid that no longer runs (or by this
    very pid, reused after a container restart, with a token this process never
    drew).  A renewal (:meth:`heartbeat`) that finds another live token gives the
    lock up instead of overwriting it.

    Two instances starting in the same second both find the lock free.  Jira offers
    no compare-and-set on entity properties (``PUT …/properties/{propertyKey}`` takes
    no version or ``If-Match``: Jira REST API, "Set project property"), so taking the
    lock is write, wait, read back: each writes its record, waits ``settle`` (long
    enough that everyone who found the lock free at the same time has written too:
    four times this instance's own read-and-write round trip, at least half a
    second), then reads the lock back.  Both read the same last write, so exactly
    one finds its own token and holds the lock; the other backs off
    (:class:`SiteLockBusy`).  What this leans on is that an instance writes within
    ``settle`` of having read; a renewal by the holder does not wait.

    Writing a project property needs *Administer Projects* (Atlassian: "Set project
    property").  Without it the lock cannot be taken: :meth:`acquire` logs that once
    and the bridge runs on the file lock alone (``enforced`` is False).
    """

    def __init__(
        self,
        port: ProjectProperties,
        project: str,
        instance: str,
        *,
        ttl: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        settle: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        timer: Callable[[], float] = time.monotonic,
        lock_file: str | os.PathLike[str] | None = None,
    ) -> None:
        self.port = port
        #: the cycle lock file of this process's state directory (`CycleLock`)
        self.lock_file = str(Path(lock_file).resolve()) if lock_file is not None else None
        self.project = project
        self.instance = instance
        self.ttl = ttl
        self.clock = clock
        #: seconds between writing the lock and reading it back (None: from the round trip)
        self.settle = settle
        self.sleep = sleep
        self.timer = timer
        self.token = secrets.token_hex(8)
        _TOKENS_DRAWN_HERE.add(self.token)
        self.enforced = True
        self.held = False
        #: running beside this state directory's daemon, under its record (`acquire`)
        self.beside = False
        self._last_beat: datetime | None = None

    def _record(self, now: datetime) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "token": self.token,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "heartbeat": now.isoformat(timespec="seconds"),
            "expires": (now + self.ttl).isoformat(timespec="seconds"),
            **({"lock_file": self.lock_file} if self.lock_file is not None else {}),
        }

    def acquire(self, *, cycle_lock_held: bool = False) -> None:
        """Take (or renew) the site lock; raises :class:`SiteLockBusy` when another holds it.

        ``cycle_lock_held``: this process holds the cycle lock of its state directory
        (`run --once`).  A live record of this installation's own daemon -- the same
        instance, host and cycle lock file -- then means the daemon is between cycles,
        and the cycle lock keeps the two apart: this process runs beside it, leaving the
        daemon's record as it is (`beside`)."""
        if not self.enforced:
            return
        now = self.clock()
        started = self.timer()
        holder = SiteHolder.parse(self.port.project_property(self.project, SITE_LOCK_PROPERTY))
        if (
            holder is not None
            and holder.live(now)
            and holder.token != self.token
            and not self._left_by_ended_process(holder)
        ):
            self.held = False
            if cycle_lock_held and self._same_state_directory(holder):
                self.beside = True
                log.info("running beside this state directory's daemon, under its site lock")
                return
            raise SiteLockBusy(self.project, holder, same_instance=holder.instance == self.instance)
        renewal = self.held and holder is not None and holder.token == self.token
        try:
            self.port.set_project_property(self.project, SITE_LOCK_PROPERTY, self._record(now))
        except JiraError as exc:
            if exc.status != 403:
                raise
            self.enforced = False
            log.warning(
                "site lock off: the bridge's account may not set project properties",
                project=self.project,
                hint="give it Administer Projects on the project so two instances with separate"
                " state files cannot both write (the file lock still guards one state directory)",
            )
            return
        if not renewal:
            # whoever found the lock free when this instance did has written by now:
            # the last write names the one holder, and everyone reads the same one
            round_trip = self.timer() - started
            self.sleep(self.settle if self.settle is not None else settle_for(round_trip))
            back = SiteHolder.parse(self.port.project_property(self.project, SITE_LOCK_PROPERTY))
            if back is None or back.token != self.token:
                self.held = False
                raise SiteLockBusy(self.project, back or SiteHolder("?", None, None, None, None))
        self.held = True
        self._last_beat = now

    def _same_state_directory(self, holder: SiteHolder) -> bool:
        """The record is this installation's: the same instance, on this host, working from
        the same state directory (its cycle lock file), not a copy of the state file."""
        return (
            self.lock_file is not None
            and holder.lock_file == self.lock_file
            and holder.instance == self.instance
            and holder.host == socket.gethostname()
        )

    def _left_by_ended_process(self, holder: SiteHolder) -> bool:
        """Whether a live record is this instance's own, written by a process that has
        ended (a crash, a kill): the same host and a pid that runs no longer.  Anything
        less certain waits for the record to expire, as another instance's would."""
        if holder.instance != self.instance or holder.host != socket.gethostname():
            return False
        if holder.pid is None or holder.pid <= 0:
            return False
        if holder.pid == os.getpid():
            # this pid, reused (a restarted container's pid 1), yet a token no lock in
            # this process drew: the process that wrote it is gone
            return holder.token not in _TOKENS_DRAWN_HERE
        try:
            os.kill(holder.pid, 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # it runs, as another user
        return False

    def heartbeat(self) -> None:
        """Renew the lock when a third of its lifetime has passed (cheap to call often).

        Raises :class:`SiteLockBusy` (and no longer holds the lock) when another process
        has written a live lock meanwhile: this one stops writing rather than overwrite it."""
        if not self.enforced or not self.held:
            return
        now = self.clock()
        if self._last_beat is not None and now - self._last_beat < self.ttl / 3:
            return
        self.acquire()

    def release(self) -> None:
        """Remove the lock if it is still this instance's (a best effort: it also expires)."""
        if not self.enforced or not self.held:
            return
        self.held = False
        try:
            holder = SiteHolder.parse(self.port.project_property(self.project, SITE_LOCK_PROPERTY))
            if holder is not None and holder.token in (None, self.token):
                self.port.delete_project_property(self.project, SITE_LOCK_PROPERTY)
        except (JiraError, WaitInterrupted) as exc:  # a stop does not wait for Jira's pace
            log.warning("could not remove the site lock; it expires by itself", error=str(exc))


#: The shortest and the longest wait between writing the site lock and reading it back.
MIN_SETTLE, MAX_SETTLE = 0.5, 5.0


def settle_for(round_trip: float) -> float:
    """How long to wait before reading the site lock back, given how long this instance's
    own read and write took (another instance's are assumed comparable)."""
    return min(MAX_SETTLE, max(MIN_SETTLE, 4 * round_trip))


def lock_project(jql: str) -> str | None:
    """The project whose property holds the site lock: the (first) project the JQL names,
    in capitals.  JQL finds ``project = sup`` whatever the case, but the project property
    calls take the key as Jira spells it ("projectIdOrKey (case sensitive)", Cloud
    platform REST API, Set project property), and a project key is always capitals."""
    named = named_projects(jql)
    return named[0].upper() if named else None
