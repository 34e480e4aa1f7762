"""Process lifecycle for the daemon: stop cleanly, reload rules, sleep interruptibly.

* **SIGTERM / SIGINT** set a :class:`StopFlag`.  The cycle checks it between
  issues: it finishes the issue in hand, records state and returns; the daemon
  then exits 0.  A *second* SIGINT raises ``KeyboardInterrupt`` as usual, so a
  person at a terminal is never stuck behind a slow request.
* **SIGHUP** calls ``on_reload`` (typically :meth:`RulesWatcher.request_reload`)
  and wakes the daemon's sleep so the reload happens now, not after the interval.
* :meth:`Shutdown.wait` is the daemon's sleep between cycles: a
  ``threading.Event`` wait that returns early on stop or reload.
* :class:`RulesWatcher` notices edited rule files between cycles (mtime, size,
  then a content hash) and reloads them; bad new rules are logged, every
  problem, and the last good rules stay in force.

Signal-safety: Python runs signal handlers in the main thread between
bytecodes, possibly while that same thread is inside ``Event.wait`` holding
the event's internal lock -- calling ``Event.set`` from the handler could then
deadlock.  So the handlers only set plain attributes and drop a note into a
``queue.SimpleQueue`` (documented as safe to call from signal handlers); a
small helper thread, which blocks these signals so the kernel delivers them to
the main thread, rings the event.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Generic, TypeVar

from bridge.logs import get_logger

__all__ = ["RulesWatcher", "Shutdown", "StopFlag", "install_handlers"]

T = TypeVar("T")

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)
RELOAD_SIGNAL = signal.SIGHUP

log = get_logger("bridge.sync.signals")


class StopFlag:
    """ "Finish the current issue, record state, exit 0" -- checked by the cycle between issues.

    Setting it is lock-free (a plain attribute), so a signal handler may do it.
    It stays set once set; the first reason wins.
    """

    def __init__(self) -> None:
        self._reason: str | None = None

    def set(self, reason: str = "stop requested") -> None:
        if self._reason is None:
            self._reason = reason

    def is_set(self) -> bool:
        return self._reason is not None

    __bool__ = is_set

    @property
    def reason(self) -> str | None:
        """What asked for the stop (``"SIGTERM"``, ``"SIGINT"``, or the caller's text)."""
        return self._reason


_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class Shutdown:
    """The daemon's view of stop and reload requests; made by :func:`install_handlers`.

    It can also be created directly (no signal handlers) and driven with
    :meth:`request_stop` / :meth:`request_reload`, e.g. in tests or from a thread.
    """

    def __init__(self, on_reload: Callable[[], None] | None = None) -> None:
        self.stop = StopFlag()
        self._on_reload = on_reload
        self._reloads_requested = 0
        self._reloads_seen = 0
        self._doorbell = threading.Event()
        self._notes: queue.SimpleQueue[bool] = queue.SimpleQueue()  # True = ring, False = quit
        self._ringer: threading.Thread | None = None
        self._previous: dict[int, _Handler] = {}

    # ------------------------------------------------------------------ state

    @property
    def stopping(self) -> bool:
        return self.stop.is_set()

    @property
    def reloads_requested(self) -> int:
        """How many reloads were asked for since start (SIGHUP or :meth:`request_reload`)."""
        return self._reloads_requested

    def request_stop(self, reason: str = "stop requested") -> None:
        """Ask the daemon to finish the current issue and exit (safe from any thread or handler)."""
        self.stop.set(reason)
        self._ring()

    def request_reload(self) -> None:
        """Call ``on_reload`` and wake :meth:`wait` (safe from the main thread's signal handler)."""
        self._reloads_requested += 1
        if self._on_reload is not None:
            self._on_reload()
        self._ring()

    def wait(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> bool:
        """Sleep up to ``seconds``; True as soon as a stop or a new reload request arrives.

        A reload request wakes one wait only; a stop wakes every wait from then on.
        Returns False when the time simply ran out.
        """
        deadline = clock() + seconds
        while True:
            if self._interrupted():
                return True
            remaining = deadline - clock()
            if remaining <= 0:
                return False
            self._doorbell.wait(remaining)
            self._doorbell.clear()  # the state lives in the flags; the bell only wakes us

    def pause(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> bool:
        """Sleep up to ``seconds`` unless a stop arrives; True when it did.

        For waits inside a cycle (a ``Retry-After``): a reload request does not end
        them (it is picked up between cycles), a stop does, at once.
        """
        deadline = clock() + seconds
        while not self.stop.is_set():
            remaining = deadline - clock()
            if remaining <= 0:
                return False
            self._doorbell.wait(remaining)
            self._doorbell.clear()  # a reload rang: the flags keep it for `wait`
        return True

    def _interrupted(self) -> bool:
        if self.stop.is_set():
            return True
        if self._reloads_seen != self._reloads_requested:
            self._reloads_seen = self._reloads_requested
            return True
        return False

    # ------------------------------------------------------------------ signals

    def _ring(self) -> None:
        if self._ringer is not None:
            self._notes.put(True)  # the helper thread sets the event outside the handler
        else:
            self._doorbell.set()  # no handlers installed: we are not in a signal handler

    def _run_ringer(self) -> None:
        while self._notes.get():
            self._doorbell.set()

    def _on_stop_signal(self, signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if signum == signal.SIGINT and self.stop.is_set():
            raise KeyboardInterrupt  # second Ctrl-C: the person means it
        self.request_stop(name)

    def _on_reload_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.request_reload()

    def _install(self) -> None:
        handled = (*STOP_SIGNALS, RELOAD_SIGNAL)
        self._ringer = threading.Thread(
            target=self._run_ringer, name="jsm-bridge-signals", daemon=True
        )
        # The helper is born with these signals blocked, so the kernel delivers them to the
        # main thread, whose blocked Event.wait is then interrupted to run the handler.
        before = signal.pthread_sigmask(signal.SIG_BLOCK, handled)
        try:
            self._ringer.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, before)
        for signum in STOP_SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_stop_signal)
        self._previous[RELOAD_SIGNAL] = signal.signal(RELOAD_SIGNAL, self._on_reload_signal)

    def restore(self) -> None:
        """Put the previous signal handlers back and stop the helper thread (idempotent)."""
        for signum, previous in self._previous.items():
            signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        self._previous.clear()
        ringer, self._ringer = self._ringer, None
        if ringer is not None:
            self._notes.put(False)
            ringer.join()

    def __enter__(self) -> Shutdown:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore()


def install_handlers(on_reload: Callable[[], None] | None = None) -> Shutdown:
    """Install SIGTERM/SIGINT (stop) and SIGHUP (reload) handlers; call from the main thread.

    ``on_reload`` runs inside the SIGHUP handler, in the main thread, interrupting
    whatever was running: keep it to setting a flag (as
    :meth:`RulesWatcher.request_reload` does) -- no I/O, no logging, no locks.
    Use the result as a context manager to restore the previous handlers.
    """
    shutdown = Shutdown(on_reload)
    shutdown._install()
    return shutdown


# --------------------------------------------------------------------------- rules watcher

_Stat = tuple[int, int, int] | None  # (mtime_ns, size, inode), None when missing
RACY_SECONDS = 2.0  # files modified this recently may change again within one mtime tick


class RulesWatcher(Generic[T]):
    """Keeps the last good rules and reloads them when their files change.

    ``paths`` are rule files or directories (a directory means its ``*.yaml``
    and ``*.yml`` files, so a new file is noticed too).  ``loader()`` reads and
    validates the rules, raising on bad ones; an exception with a ``problems``
    attribute (the rule loader's error) has each problem logged.

    :meth:`poll` is cheap when nothing changed: a ``stat`` per file.  A changed
    mtime, size or inode (editors save by rename) leads to a content hash, and
    only a changed hash to a reload, so ``touch`` does nothing.  Files
    modified within the last :data:`RACY_SECONDS` are re-hashed on the next poll
    even with an unchanged stat, because a second save inside one timestamp tick
    with the same size would otherwise go unnoticed.
    """

    def __init__(
        self,
        paths: Iterable[str | os.PathLike[str]],
        loader: Callable[[], T],
        *,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.paths = tuple(Path(p) for p in paths)
        self._loader = loader
        self._wall_clock = wall_clock
        self._current: T | None = None
        self._loaded = False
        self._stats: dict[Path, _Stat] = {}
        self._digest: str | None = None
        self._racy = False
        self._forced = False
        self.generation = 0
        self.last_problems: tuple[str, ...] = ()

    @property
    def current(self) -> T:
        """The rules in force: the last set that loaded without problems."""
        if not self._loaded:
            raise RuntimeError("RulesWatcher.load() has not been called")
        return self._current  # type: ignore[return-value]

    def load(self) -> T:
        """First load, at start-up: bad rules raise (the daemon refuses to start)."""
        stats = self._stat_all()
        digest = self._hash(stats)
        rules = self._loader()
        self._adopt(rules, stats, digest)
        return rules

    def request_reload(self) -> None:
        """Make the next :meth:`poll` reload even if nothing changed (SIGHUP).  Signal-safe."""
        self._forced = True

    def poll(self) -> bool:
        """Reload if the files changed (or a reload was requested); True when new rules took over."""
        if not self._loaded:
            raise RuntimeError("RulesWatcher.load() has not been called")
        forced, self._forced = self._forced, False
        stats = self._stat_all()
        if not forced and not self._racy and stats == self._stats:
            return False
        digest = self._hash(stats)
        self._stats, self._racy = stats, self._is_racy(stats)
        if not forced and digest == self._digest:
            return False
        self._digest = digest  # a bad version is reported once, not on every poll
        reason = "reload requested" if forced else "rule files changed"
        try:
            rules = self._loader()
        except Exception as exc:
            self._reject(exc, reason)
            return False
        self._adopt(rules, stats, digest)
        log.info("rules reloaded", reason=reason, generation=self.generation)
        return True

    # ------------------------------------------------------------------ internals

    def _adopt(self, rules: T, stats: dict[Path, _Stat], digest: str) -> None:
        self._current = rules
        self._loaded = True
        self._stats, self._digest, self._racy = stats, digest, self._is_racy(stats)
        self.generation += 1
        self.last_problems = ()

    def _reject(self, exc: Exception, reason: str) -> None:
        problems = getattr(exc, "problems", None)
        texts = (
            tuple(str(p) for p in problems)
            if isinstance(problems, Iterable) and not isinstance(problems, str | bytes)
            else ()
        ) or (f"{type(exc).__name__}: {exc}",)
        self.last_problems = texts
        for text in texts:
            log.error("rules problem", problem=text)
        log.error(
            "new rules rejected; the last good rules stay in force",
            reason=reason,
            problems=len(texts),
            generation=self.generation,
            hint="fix the files (jsm-bridge check lists every problem); they are re-read on change",
        )

    def _files(self) -> list[Path]:
        files: list[Path] = []
        for path in self.paths:
            if path.is_dir():
                files.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml")))
            else:
                files.append(path)
        return files

    def _stat_all(self) -> dict[Path, _Stat]:
        stats: dict[Path, _Stat] = {}
        for path in self._files():
            try:
                st = path.stat()
            except OSError:
                stats[path] = None
            else:
                stats[path] = (st.st_mtime_ns, st.st_size, st.st_ino)
        return stats

    @staticmethod
    def _hash(stats: dict[Path, _Stat]) -> str:
        digest = hashlib.sha256()
        for path in stats:
            digest.update(str(path).encode("utf-8", "surrogateescape") + b"\0")
            with contextlib.suppress(OSError):
                digest.update(hashlib.sha256(path.read_bytes()).digest())
            digest.update(b"\0")
        return digest.hexdigest()

    def _is_racy(self, stats: dict[Path, _Stat]) -> bool:
        cutoff = int((self._wall_clock() - RACY_SECONDS) * 1e9)
        return any(st is not None and st[0] >= cutoff for st in stats.values())
