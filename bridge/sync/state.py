"""Local state in SQLite: what the bridge must remember between cycles.

* the **watermark** of the last successful poll (later cycles read only what changed since);
* per issue the **next time-driven moment** (a ladder step, at-risk, due), because Jira
  cannot be searched for it: issues whose moment has passed are re-read even if unchanged;
* the **action journal**: a comment or transition is recorded as an *intent* before it is
  sent (each action id of a merged comment), marked *landed* when Jira answers that it
  succeeded and *done* once the issue's ledger records it, so a crash or a failed ledger
  write in between is noticed on the next run: a landed write is recorded as it is, any
  other is checked on the issue instead of repeated.  Done entries are kept
  `JOURNAL_KEEP` (the planner counts them as in the ledger while a search may still show
  the ledger as it was), then pruned;
* the **site** it was built against (`jira.url` in a normal form, and the flavour): a
  state file is refused against another site, whose cases, watermark and journal it
  does not hold (`State.claim_site`);
* **run history** (start, end, counts, errors) for operators;
* a small **issue cache** (what the bridge last saw: updated, SLA state, due) for
  ``explain`` and ``report``;
* every **case's organisation, creation and resolution**, so an incremental cycle ranks
  a case in its organisation's month without searching the whole month again;
* what this **process** has learnt of the site and must not re-read (`Memo`: a Data
  Center issue's ledger, its comments' properties, a case's request channel): in
  temporary tables of the connection, gone when the process ends, so that what a
  process remembers of a large site grows in SQLite's pages, not in memory.

Every time is stored as a UTC ISO-8601 string of fixed shape, so text order is time order.
Free text that came from Jira or from an error (a journal entry's detail, an SLA state, a
run's counts) passes through the same redaction as every other byte the program writes
(`bridge.logs.redact_text`): no secret reaches the file.  What the quota ranking matches
against the rules and looks up by (a case's organisation, resolution, who raised it, its
request type and product) is kept as Jira gives it: redaction masks what merely looks like
a credential ("Bearer Technologies" would be stored as "Bearer ***"), and a key written
masked is never found again by its real name.
The schema is versioned in ``meta.schema_version`` and migrated forward one step at a time
when the file is opened; a dry run opens a copy of the file in memory and migrates that
(``State.open(..., read_only=True)``), so a trial run never upgrades, creates nor
otherwise changes the file.  The policy layer never imports this module.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from bridge.logs import MASK, redact_text
from bridge.policy.model import MonthCase, Raised


class StateError(Exception):
    """The state file cannot be used (newer schema, corrupt file, bad path, another
    site's, a full disk); the message says what to do."""

    def __init__(self, message: str, *, passing: bool = False, busy: bool = False) -> None:
        super().__init__(message)
        #: the next run may succeed with nothing fixed in the config (a disk full until
        #: space is freed), as opposed to a file someone must move or a setting to fix
        self.passing = passing or busy
        #: another process held the file's write lock past the wait (another instance
        #: mid-write, a tool with the file open): as a held cycle lock, nothing was done
        self.busy = busy


#: SQLite's primary result codes for a file another connection holds locked, a damaged
#: file and a full disk (sqlite3.h).
_SQLITE_BUSY, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_NOTADB = 5, 11, 13, 26


def _sqlite_code(exc: sqlite3.Error) -> int | None:
    """``exc``'s primary result code (None: not said, e.g. an error raised by hand)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF  # an extended code (SQLITE_IOERR_SHORT_READ) carries its primary
    text = str(exc)
    if "database or disk is full" in text:
        return _SQLITE_FULL
    if "file is not a database" in text:
        return _SQLITE_NOTADB
    if "malformed" in text:
        return _SQLITE_CORRUPT
    if "database is locked" in text:
        return _SQLITE_BUSY
    return None


def state_failure(
    exc: sqlite3.Error, path: str, setting: str, *, in_cycle: bool = False
) -> StateError | None:
    """What a SQLite error on the state file at ``path`` means for its operator: a
    damaged file (move it aside: the state is rebuilt from Jira), a full disk (free
    space: the next run resumes) or a file another process kept locked for writing
    past the wait (another instance: run again later; met ``in_cycle``, after writes to
    Jira may have gone out, the cycle stopped and the next run resumes); None for any
    other error (a fault to report).  ``setting`` says where the path was given
    (``state.path in FILE``)."""
    code = _sqlite_code(exc)
    if code == _SQLITE_BUSY and in_cycle:
        return StateError(
            f"the state file {path} ({setting}) was held for writing by another process "
            f"longer than this one waits ({exc}): the cycle stopped there; what it wrote "
            "to Jira is in its journal and the ledgers, and the next run resumes "
            f"(`fuser -v {path}` names the process)",
            passing=True,
        )
    if code == _SQLITE_BUSY:
        return StateError(
            f"the state file {path} ({setting}) is locked for writing by another process "
            f"({exc}), which held it for longer than this one waits; another jsm-bridge "
            "on the same state.path (the daemon, a run --once) may be writing to it, or a "
            "tool (sqlite3, a backup) holds it open: nothing was written, and the next "
            f"run goes ahead once it is free (`fuser -v {path}` names the process)",
            busy=True,
        )
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return StateError(
            f"the state file {path} ({setting}) is damaged ({exc}); move it aside, with its "
            f"-wal and -shm files if there are any (e.g. `mv {path} {path}.damaged`), and "
            "run again: the bridge rebuilds its state from Jira with a full read, and the "
            "issues' own ledgers keep it from repeating a comment or a transition"
        )
    if code == _SQLITE_FULL:
        return StateError(
            f"the disk holding the state file {path} ({setting}) is full ({exc}); free some "
            "space there (or in the temporary directory SQLite uses, $TMPDIR): nothing "
            "was half-written and the next run resumes where this one stopped",
            passing=True,
        )
    return None


def site_url(url: str) -> str:
    """``jira.url`` in the form that names a site once: scheme and host in lower case,
    no default port, no trailing slash, and no user name, password, query or fragment
    (never written to the file nor shown).  A Data Center context path (``/jira``) is
    kept as given: paths are case-sensitive."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")  # `hostname`: lower case, no user info
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None and port != {"http": 80, "https": 443}.get(scheme):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path.rstrip('/')}"


def _site_name(url: str, flavour: str) -> str:
    return f"{url} ({'Data Center' if flavour == 'datacenter' else 'Cloud'})"


def to_iso(dt: datetime) -> str:
    """A timezone-aware datetime as a fixed-shape UTC string (sorts like time)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"naive datetime {dt.isoformat()} has no time zone; pass an aware one")
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def _text(value: str | None) -> str | None:
    """Free text on its way into the file, redacted like every other output."""
    return redact_text(value) if value else value


def _utcnow() -> datetime:
    return datetime.now(UTC)


#: How long a done journal entry is kept: well past the time a search may still show an
#: issue as it was before the bridge's last write to it (seconds to minutes on Cloud).
JOURNAL_KEEP = timedelta(days=7)
#: how long the journal keeps a comment the case's ledger only announces, when no ledger
#: write of the case records it (a case nobody touches again): past it, a bridge about
#: to tell that case of a priority change reads its comments once instead
BEHIND_KEEP = timedelta(days=90)


# ------------------------------------------------------------------------------ migrations
#
# Each entry moves the schema from version N-1 to N.  Never edit a released step:
# append a new one.  Version 0 is an empty file.


def _script(db: sqlite3.Connection, sql: str) -> None:
    # executescript() would COMMIT the migration's transaction first; run each statement.
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


def _v1(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE wakeups (key TEXT PRIMARY KEY, at TEXT NOT NULL);
        CREATE INDEX wakeups_at ON wakeups (at);
        """,
    )


def _v2(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE journal (
            key TEXT NOT NULL,
            action_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT,
            intent_at TEXT NOT NULL,
            done_at TEXT,
            PRIMARY KEY (key, action_id)
        );
        CREATE INDEX journal_pending ON journal (done_at);
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started TEXT NOT NULL,
            finished TEXT,
            counts TEXT NOT NULL DEFAULT '{}',
            errors INTEGER NOT NULL DEFAULT 0,
            ok INTEGER
        );
        """,
    )


def _v3(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        CREATE TABLE issues (
            key TEXT PRIMARY KEY,
            updated TEXT,
            sla_state TEXT,
            due TEXT,
            seen_at TEXT NOT NULL
        );
        """,
    )


def _v4(db: sqlite3.Connection) -> None:
    # every case's organisation, creation and resolution, for quota ranking without a search
    _script(
        db,
        """
        CREATE TABLE cases (
            key TEXT PRIMARY KEY,
            organization TEXT,
            created TEXT NOT NULL,
            resolution TEXT
        );
        CREATE INDEX cases_org_created ON cases (organization, created);
        """,
    )


def _v5(db: sqlite3.Connection) -> None:
    # when an intent's write was sent (wall clock) and whether its answer was lost: an
    # unconfirmed write is repeated only once a read well after it still lacks it
    _script(
        db,
        """
        ALTER TABLE journal ADD COLUMN sent_at TEXT;
        ALTER TABLE journal ADD COLUMN unconfirmed INTEGER NOT NULL DEFAULT 0
        """,
    )


def _v6(db: sqlite3.Connection) -> None:
    # who raised each case and its request type: whether its flags keep it out of the
    # quota (quota.not_counted_flags).  Cases recorded before do not say, so the record is
    # no longer complete: months are searched until the next full read fills it again.
    _script(
        db,
        """
        ALTER TABLE cases ADD COLUMN raised TEXT;
        DELETE FROM meta WHERE name = 'cases_complete'
        """,
    )


def _v7(db: sqlite3.Connection) -> None:
    # who raised each case is recorded by both the e-mail and the account id, as the
    # contact rule matches either against the contact lists.  A case recorded before
    # holds one id (the e-mail, else the account id): it is read as that one, and the
    # record is no longer complete.  The rules' fingerprint is forgotten too, so the
    # next cycle is a full read: it records every case again with both ids and marks
    # the record complete (left to the next rules edit, months would be searched every
    # cycle until then).
    _script(db, "DELETE FROM meta WHERE name IN ('cases_complete', 'policy')")


def _v8(db: sqlite3.Connection) -> None:
    # the record of cases was written through redaction, so an organisation whose name
    # looks like a credential ("Bearer Technologies") was recorded masked and its cases
    # never found by name.  Nothing masked can be unmasked: where any value holds the
    # mask, the record is no longer complete and the rules' fingerprint is forgotten,
    # so the next cycle is a full read that records every case again as Jira names it.
    if db.execute(
        "SELECT 1 FROM cases WHERE instr(organization, ?) OR instr(resolution, ?) "
        "OR instr(raised, ?) LIMIT 1",
        (MASK, MASK, MASK),
    ).fetchone():
        _script(db, "DELETE FROM meta WHERE name IN ('cases_complete', 'policy')")


def _v9(db: sqlite3.Connection) -> None:
    # whether a write's success answer arrived: a write known to have landed goes into
    # the ledger as it is, never checked against the issue nor sent again.  Intents
    # recorded before do not say: they are checked as before.
    _script(db, "ALTER TABLE journal ADD COLUMN landed INTEGER NOT NULL DEFAULT 0")


def _v10(db: sqlite3.Connection) -> None:
    # a comment done while the issue's ledger only announces it (the priority comment
    # after the edit that carried the ledger): kept until a ledger write records it
    _script(db, "ALTER TABLE journal ADD COLUMN ledger_behind INTEGER NOT NULL DEFAULT 0")


def _v11(db: sqlite3.Connection) -> None:
    # the cases an incremental cycle found moved (out of an organisation, or in or out
    # of a contract year's uses), whose later cases are still to be re-read: recorded
    # with the cases read, kept until a cycle that re-read them completes, so a cycle
    # stopped in between does not lose them (the record of cases already says the
    # moved case is where it went).  ``entitlements``: a JSON list for a usage move,
    # NULL for a case that left the organisation.  A file from before owes nothing.
    _script(
        db,
        """
        CREATE TABLE owed_followers (
            organization TEXT NOT NULL,
            key TEXT NOT NULL,
            created TEXT NOT NULL,
            resolution TEXT,
            raised TEXT,
            entitlements TEXT
        )
        """,
    )


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _v1,
    _v2,
    _v3,
    _v4,
    _v5,
    _v6,
    _v7,
    _v8,
    _v9,
    _v10,
    _v11,
)
SCHEMA_VERSION = len(MIGRATIONS)


def _schema_version(db: sqlite3.Connection) -> int:
    has_meta = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if not has_meta:
        return 0
    row = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(db: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Bring ``db`` forward to ``target``, one step per transaction; returns the version."""
    current = _schema_version(db)
    if current > SCHEMA_VERSION:
        raise StateError(
            f"the state file has schema version {current}, newer than this jsm-bridge "
            f"understands ({SCHEMA_VERSION}); upgrade jsm-bridge or point state.path elsewhere"
        )
    while current < target:
        step = MIGRATIONS[current]
        db.execute("BEGIN IMMEDIATE")
        try:
            step(db)
            current += 1
            db.execute(
                "INSERT INTO meta (name, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
                (str(current),),
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite may have rolled back itself (a full disk)
                db.execute("ROLLBACK")
            raise
    return current


def _read_into(db: sqlite3.Connection, path: str) -> None:
    """Copy the database file at ``path`` into ``db`` without writing to it.

    A read-only connection to a file in WAL mode that has no -wal and -shm files
    (the last process to close it removed them) creates them and, unlike a writer,
    cannot remove them: they are then removed the way SQLite removes them, by a
    connection that may write (but here reads only) closing last.  When another
    process has the file open, they are its, and stay."""
    uri = "file:" + quote(os.path.abspath(path))
    had_files = any(os.path.lexists(path + suffix) for suffix in ("-wal", "-shm"))
    source = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30.0)
    try:
        source.backup(db)  # in one step: one read transaction, one snapshot
    finally:
        source.close()
        if not had_files and any(os.path.lexists(path + s) for s in ("-wal", "-shm")):
            _let_sqlite_tidy(f"{uri}?mode=rw")


def _let_sqlite_tidy(uri: str) -> None:
    """Open the file at ``uri`` for writing, read from it and close it: SQLite removes
    its empty -wal and -shm files if no other connection has it open (it writes
    nothing else, as the -wal holds nothing).  Best effort: a file the user may not
    write to keeps them (harmless: the next writer uses and removes them)."""
    try:
        tidy = sqlite3.connect(uri, uri=True, timeout=1.0)
        try:
            tidy.execute("PRAGMA query_only = ON")
            tidy.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            tidy.close()
    except sqlite3.Error:
        pass


# ---------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Intent:
    key: str
    action_id: str
    kind: str  # "comment" | "transition"
    detail: str | None  # e.g. the transition's target status, to check whether it landed
    at: datetime
    #: wall-clock time the write was sent (None: recorded before this was kept)
    sent_at: datetime | None = None
    #: the write was sent but its answer was lost (a timeout, a dropped connection): it
    #: may land late, so it is confirmed on the issue before anything is sent again
    unconfirmed: bool = False
    #: Jira answered that the write succeeded (only the ledger entry may be missing): it
    #: is recorded as it is, never checked on the issue nor sent again
    landed: bool = False


@dataclass(frozen=True)
class Run:
    id: int
    started: datetime
    finished: datetime | None
    counts: Mapping[str, int]
    errors: int
    ok: bool | None  # None while running (or when the process died mid-cycle)


@dataclass(frozen=True)
class CachedIssue:
    key: str
    updated: datetime | None
    sla_state: str | None
    due: datetime | None
    seen_at: datetime


# ------------------------------------------------------------------------------------ state


class State:
    """The bridge's local memory.  Open with :meth:`open`; close with :meth:`close`."""

    def __init__(self, db: sqlite3.Connection, path: str, setting: str = "state.path") -> None:
        self._db = db
        self.path = path
        #: where the path was given, for messages (``state.path in /etc/.../bridge.yaml``)
        self.setting = setting
        #: the journal is written from the cycle's write workers: one statement at a time
        self._lock = threading.RLock()
        self._memos = 0  # `memo`s handed out: each has a name of its own

    @classmethod
    def open(
        cls, path: str | Path, *, setting: str = "state.path", read_only: bool = False
    ) -> State:
        """Open (creating if needed) and migrate the state file at ``path``.

        ``":memory:"`` gives a private in-memory state (tests, ``plan``).  ``setting``
        says in messages where the path was given (``state.path in FILE``).
        ``read_only`` (a dry run) never creates nor changes the file: the state is a
        copy of it in memory (`_copy`), migrated there, and what the run writes is
        gone when it closes.
        """
        text = str(path)
        if read_only and text != ":memory:":
            return cls._copy(text, setting)
        if text != ":memory:":
            parent = Path(text).parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
                # created owner-only (cases, accounts, the journal); SQLite gives its -wal
                # and -shm files the database file's permissions
                os.close(os.open(text, os.O_RDWR | os.O_CREAT, 0o600))
            except OSError as exc:
                raise StateError(
                    f"cannot create the state file {text} ({setting}): {exc.strerror}"
                ) from exc
        try:
            # the journal is written from the cycle's write workers, serialised by `_lock`
            db = sqlite3.connect(text, isolation_level=None, timeout=30.0, check_same_thread=False)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("PRAGMA foreign_keys = ON")
            migrate(db)
        except sqlite3.DatabaseError as exc:
            raise state_failure(exc, text, setting) or StateError(
                f"cannot use the state file {text} ({setting}): {exc}"
            ) from exc
        return cls(db, text, setting)

    @classmethod
    def _copy(cls, text: str, setting: str) -> State:
        """The state file at ``text`` copied into memory and migrated there (an empty
        state when there is no file).  The copy is read through a read-only connection,
        as one consistent snapshot holding what was committed, in the -wal file too
        (another process may be writing to it); a file of a newer schema or a damaged
        one is refused as `open` refuses it, and the file is left as it was."""
        db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA foreign_keys = ON")
            if os.path.lexists(text):
                _read_into(db, text)
            migrate(db)
        except sqlite3.DatabaseError as exc:
            db.close()
            raise state_failure(exc, text, setting) or StateError(
                f"cannot use the state file {text} ({setting}): {exc}"
            ) from exc
        except BaseException:
            db.close()
            raise
        return cls(db, text, setting)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return _schema_version(self._db)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        # the lock keeps a worker's journal entry out of this transaction (one connection)
        with self._lock:
            if self._db.in_transaction:  # nested inside batch(): the outer one commits
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                if self._db.in_transaction:  # SQLite may have rolled back itself (disk full)
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # -- one-value facts (the meta table) -------------------------------------------------

    def _meta(self, name: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else None

    def _set_meta(self, name: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def failure(self, exc: sqlite3.Error, *, in_cycle: bool = False) -> StateError | None:
        """What ``exc``, raised by this state, means for its operator (`state_failure`)."""
        return state_failure(exc, self.path, self.setting, in_cycle=in_cycle)

    # -- the site -----------------------------------------------------------------------

    #: what only a state that has worked on a site holds: its cycles' marks in `meta`,
    #: and the tables of its cases, their next moments and the journal of its writes
    _SITE_META = ("watermark", "policy", "cases_complete", "reconciled", "owned_labels")
    _SITE_TABLES = ("cases", "issues", "wakeups", "journal")

    def site(self) -> tuple[str, str] | None:
        """The site this state belongs to: (`site_url`, flavour); None: not recorded yet."""
        value = self._meta("site")
        if value is None:
            return None
        recorded = json.loads(value)
        return site_url(str(recorded["url"])), str(recorded["flavour"])

    def claim_site(self, url: str, flavour: str) -> None:
        """Make this the state of the site at ``url`` (``jira.url``) of ``flavour``, or
        raise `StateError` when it holds what the bridge learnt of another site: its
        watermark, its record of cases and its journal of actions done would hide this
        site's cases (and could pass this site's actions for done).

        A state that records no site (made before this was kept) is taken to be this
        site's, as it was used until now; so is one that holds nothing of its site yet
        (a first run that never finished a cycle, say against a mistyped URL).  Forms of
        one URL (a trailing slash, the host's case, the default port) are one site.

        The recorded site is read without the write lock, which is taken only when the
        site must be recorded: every run claims the site, and a ``run --once`` beside the
        daemon must not wait on the daemon's write transaction to learn that nothing
        needs writing (it waits for the daemon's cycle lock instead)."""
        current = (site_url(url), flavour)
        with self._lock:
            if not self._check_site(current):
                return
            with self._tx():
                # again under the write lock: another process may have recorded it since
                if self._check_site(current):
                    self._set_meta("site", json.dumps({"url": current[0], "flavour": current[1]}))

    def check_site(self, url: str, flavour: str) -> None:
        """`claim_site` that never writes (a dry run changes nothing): raise `StateError`
        when the state holds what the bridge learnt of another site; a state that
        records no site, or holds nothing of its site, is left as it is."""
        with self._lock:
            self._check_site((site_url(url), flavour))

    def _check_site(self, current: tuple[str, str]) -> bool:
        """Raise `StateError` when the state is another site's (see `claim_site`); True
        when ``current`` is yet to be recorded."""
        recorded = self.site()
        if recorded == current:
            return False
        if recorded is not None and self._holds_site_data():
            path = self.path
            raise StateError(
                f"the state file {path} ({self.setting}) belongs to the Jira site "
                f"{_site_name(*recorded)}, not to {_site_name(*current)} named by "
                "jira.url and jira.flavour: its watermark, its record of cases and its "
                "journal of actions done are that site's and would hide this site's "
                "cases.  Give this site a new state.path, or move the old file aside "
                f"with its -wal and -shm files if there are any (e.g. `mv {path} "
                f"{path}.old`): the bridge rebuilds its state from Jira with a full "
                "read, and the issues' own ledgers keep it from repeating a comment or "
                "a transition"
            )
        return True

    def _holds_site_data(self) -> bool:
        marks = ", ".join("?" * len(self._SITE_META))
        if self._db.execute(
            f"SELECT 1 FROM meta WHERE name IN ({marks}) LIMIT 1", self._SITE_META
        ).fetchone():
            return True
        return any(
            self._db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone()
            for table in self._SITE_TABLES
        )

    # -- watermark ----------------------------------------------------------------------

    def get_watermark(self) -> datetime | None:
        value = self._meta("watermark")
        return from_iso(value) if value is not None else None

    def set_watermark(self, at: datetime) -> None:
        self._set_meta("watermark", to_iso(at))

    def reconciled_at(self) -> datetime | None:
        """When the recorded cases were last checked against the scope's listing (a full
        read, or the daily check of an incremental cycle)."""
        value = self._meta("reconciled")
        return from_iso(value) if value is not None else None

    def set_reconciled(self, at: datetime) -> None:
        self._set_meta("reconciled", to_iso(at))

    # -- wakeups ------------------------------------------------------------------------

    def set_wakeup(self, key: str, at: datetime | None) -> None:
        """Remember when ``key`` next needs a look without a Jira change (None forgets it)."""
        if at is None:
            self._db.execute("DELETE FROM wakeups WHERE key = ?", (key,))
        else:
            self._db.execute(
                "INSERT INTO wakeups (key, at) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET at = excluded.at",
                (key, to_iso(at)),
            )

    def set_wakeups(self, wakeups: Mapping[str, datetime | None]) -> None:
        """Many :meth:`set_wakeup` in one transaction (a cycle's worth)."""
        with self._tx():
            for key, at in wakeups.items():
                self.set_wakeup(key, at)

    def get_wakeup(self, key: str) -> datetime | None:
        row = self._db.execute("SELECT at FROM wakeups WHERE key = ?", (key,)).fetchone()
        return from_iso(row[0]) if row else None

    def due_wakeups(self, now: datetime) -> list[str]:
        """Keys whose moment is at or before ``now``, soonest first."""
        rows = self._db.execute(
            "SELECT key FROM wakeups WHERE at <= ? ORDER BY at, key", (to_iso(now),)
        )
        return [r[0] for r in rows]

    def next_wakeup(self, after: datetime) -> datetime | None:
        """The soonest remembered moment strictly after ``after`` (the daemon sleeps to it)."""
        row = self._db.execute(
            "SELECT MIN(at) FROM wakeups WHERE at > ?", (to_iso(after),)
        ).fetchone()
        return from_iso(row[0]) if row and row[0] else None

    # -- action journal -----------------------------------------------------------------

    def journal_intent(
        self,
        key: str,
        action_id: str,
        kind: str,
        detail: str | None = None,
        *,
        at: datetime | None = None,
        sent_at: datetime | None = None,
    ) -> None:
        """Record that a write is about to be sent (before sending it); ``sent_at`` is the
        wall-clock time of sending (default: now)."""
        self.journal_intents(key, (action_id,), kind, detail, at=at, sent_at=sent_at)

    def journal_intents(
        self,
        key: str,
        action_ids: Sequence[str],
        kind: str,
        detail: str | None = None,
        *,
        at: datetime | None = None,
        sent_at: datetime | None = None,
    ) -> None:
        """`journal_intent` for each of one write's ``action_ids`` (a merged comment), all
        or none: a write whose intents were half recorded (a full disk) is never sent,
        and must not be left looking as if it had been."""
        intent_at, sent = to_iso(at or _utcnow()), to_iso(sent_at or _utcnow())
        with self._tx():
            self._db.executemany(
                "INSERT INTO journal (key, action_id, kind, detail, intent_at, done_at, sent_at,"
                " unconfirmed, landed) VALUES (?, ?, ?, ?, ?, NULL, ?, 0, 0) "
                "ON CONFLICT (key, action_id) DO UPDATE SET kind = excluded.kind, "
                "detail = COALESCE(excluded.detail, journal.detail), done_at = NULL, "
                "sent_at = excluded.sent_at, unconfirmed = 0, landed = 0",
                [(key, aid, kind, _text(detail), intent_at, sent) for aid in action_ids],
            )

    def journal_unconfirmed(self, key: str, action_id: str) -> None:
        """The write was sent but its answer was lost: it may still land.  The intent stays
        open and is confirmed on the issue later (never repeated on one early read)."""
        with self._lock:
            self._db.execute(
                "UPDATE journal SET unconfirmed = 1 WHERE key = ? AND action_id = ? "
                "AND done_at IS NULL",
                (key, action_id),
            )

    def journal_landed(self, key: str, action_id: str) -> None:
        """Jira answered that the write succeeded: whatever the issue shows later (an
        engineer may undo a transition), it is recorded, never sent again."""
        with self._lock:
            self._db.execute(
                "UPDATE journal SET landed = 1, unconfirmed = 0 WHERE key = ? AND action_id = ? "
                "AND done_at IS NULL",
                (key, action_id),
            )

    def journal_done(self, key: str, action_id: str, *, at: datetime | None = None) -> None:
        """Record that the write landed and the issue's ledger says so (one the ledger only
        announces: `journal_seen`)."""
        with self._lock:
            self._db.execute(
                "UPDATE journal SET done_at = ?, unconfirmed = 0 WHERE key = ? AND action_id = ?",
                (to_iso(at or _utcnow()), key, action_id),
            )

    def journal_behind(self, key: str) -> bool:
        """Whether the journal holds done actions of ``key`` its ledger only announces."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM journal WHERE key = ? AND ledger_behind = 1 "
                "AND done_at IS NOT NULL LIMIT 1",
                (key,),
            ).fetchone()
        return row is not None

    def journal_seen(self, key: str, action_id: str, *, at: datetime | None = None) -> None:
        """A comment the issue's ledger only announces (`Ledger.telling`) was posted, or
        found on the issue: done, and kept past the journal's week until a ledger write
        records it (`journal_recorded`), so later cycles need not read the issue's comments
        again.  Made if the write had no intent here."""
        stamp = to_iso(at or _utcnow())
        with self._lock:
            self._db.execute(
                "INSERT INTO journal (key, action_id, kind, intent_at, done_at, ledger_behind) "
                "VALUES (?, ?, 'comment', ?, ?, 1) ON CONFLICT (key, action_id) DO UPDATE "
                "SET done_at = excluded.done_at, unconfirmed = 0, ledger_behind = 1",
                (key, action_id, stamp, stamp),
            )

    def journal_recorded(self, key: str) -> None:
        """A ledger write of ``key`` landed holding every action the journal had done: an
        entry kept for the ledger behind it may go with its age now."""
        with self._lock:
            self._db.execute(
                "UPDATE journal SET ledger_behind = 0 WHERE key = ? AND ledger_behind = 1 "
                "AND done_at IS NOT NULL",
                (key,),
            )

    def journal_forget(self, key: str, action_id: str) -> None:
        """Drop an intent that certainly did not land (the write was refused)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM journal WHERE key = ? AND action_id = ? AND done_at IS NULL",
                (key, action_id),
            )

    def pending_intents(self, key: str | None = None) -> list[Intent]:
        """Intents without done: writes that may or may not have landed (a crash)."""
        sql = (
            "SELECT key, action_id, kind, detail, intent_at, sent_at, unconfirmed, landed "
            "FROM journal WHERE done_at IS NULL"
        )
        args: tuple[Any, ...] = ()
        if key is not None:
            sql += " AND key = ?"
            args = (key,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY intent_at, key, action_id", args).fetchall()
        return [
            Intent(
                r[0],
                r[1],
                r[2],
                r[3],
                from_iso(r[4]),
                from_iso(r[5]) if r[5] else None,
                bool(r[6]),
                bool(r[7]),
            )
            for r in rows
        ]

    def journal_done_actions(self, key: str) -> dict[str, datetime]:
        """The action ids of ``key`` whose writes the issue's ledger recorded, and when
        (kept `JOURNAL_KEEP`): what the ledger holds even where a search still shows it
        as it was before (Cloud's search may lag recent updates)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT action_id, done_at FROM journal WHERE key = ? AND done_at IS NOT NULL",
                (key,),
            ).fetchall()
        return {r[0]: from_iso(r[1]) for r in rows}

    def prune_journal(self, before: datetime) -> int:
        """Forget done entries older than ``before`` that the issue's ledger records, and
        those it only announces once `BEHIND_KEEP` old; returns how many."""
        behind_before = before - (BEHIND_KEEP - JOURNAL_KEEP)
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM journal WHERE done_at IS NOT NULL AND done_at < ? "
                "AND (ledger_behind = 0 OR done_at < ?)",
                (to_iso(before), to_iso(behind_before)),
            )
        return cur.rowcount

    # -- run history --------------------------------------------------------------------

    def start_run(self, now: datetime) -> int:
        cur = self._db.execute("INSERT INTO runs (started) VALUES (?)", (to_iso(now),))
        assert cur.lastrowid is not None
        return cur.lastrowid

    def finish_run(
        self,
        run_id: int,
        counts: Mapping[str, int],
        errors: int,
        ok: bool,
        *,
        at: datetime | None = None,
    ) -> None:
        self._db.execute(
            "UPDATE runs SET finished = ?, counts = ?, errors = ?, ok = ? WHERE id = ?",
            (
                to_iso(at or _utcnow()),
                _text(json.dumps(dict(counts), sort_keys=True)),
                errors,
                int(ok),
                run_id,
            ),
        )

    def last_runs(self, n: int = 10) -> list[Run]:
        """The ``n`` most recent runs, newest first."""
        rows = self._db.execute(
            "SELECT id, started, finished, counts, errors, ok FROM runs ORDER BY id DESC LIMIT ?",
            (n,),
        )
        return [
            Run(
                id=r[0],
                started=from_iso(r[1]),
                finished=from_iso(r[2]) if r[2] else None,
                counts=json.loads(r[3]),
                errors=r[4],
                ok=None if r[5] is None else bool(r[5]),
            )
            for r in rows
        ]

    # -- issue cache --------------------------------------------------------------------

    def remember_issue(
        self,
        key: str,
        *,
        updated: datetime | None,
        sla_state: str | None,
        due: datetime | None,
        seen_at: datetime,
    ) -> None:
        self._db.execute(
            "INSERT INTO issues (key, updated, sla_state, due, seen_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET updated = excluded.updated, "
            "sla_state = excluded.sla_state, due = excluded.due, seen_at = excluded.seen_at",
            (
                key,
                to_iso(updated) if updated else None,
                _text(sla_state),
                to_iso(due) if due else None,
                to_iso(seen_at),
            ),
        )

    def cached_issue(self, key: str) -> CachedIssue | None:
        row = self._db.execute(
            "SELECT key, updated, sla_state, due, seen_at FROM issues WHERE key = ?", (key,)
        ).fetchone()
        return _cached(row) if row else None

    def cached_issues(self) -> list[CachedIssue]:
        rows = self._db.execute(
            "SELECT key, updated, sla_state, due, seen_at FROM issues ORDER BY key"
        )
        return [_cached(r) for r in rows]

    def sla_states(self) -> dict[str, str | None]:
        """Each case's SLA state at its last evaluation (for metrics: what changed in a cycle)."""
        return dict(self._db.execute("SELECT key, sla_state FROM issues").fetchall())

    def sla_state_counts(self) -> list[tuple[str | None, str | None, int]]:
        """(organisation as recorded, SLA state, number of cases) over every known case."""
        rows = self._db.execute(
            "SELECT c.organization, i.sla_state, COUNT(*) FROM issues i "
            "LEFT JOIN cases c ON c.key = i.key GROUP BY c.organization, i.sla_state"
        )
        return [(r[0], r[1], int(r[2])) for r in rows]

    # -- cases (quota ranking) ------------------------------------------------------------

    def remember_cases(self, cases: Iterable[tuple[str | None, MonthCase]]) -> None:
        """Record (organisation, case) pairs as read from Jira, replacing what was known."""
        with self._tx():
            self._db.executemany(
                "INSERT INTO cases (key, organization, created, resolution, raised) "
                "VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET organization = excluded.organization, "
                "created = excluded.created, resolution = excluded.resolution, "
                "raised = excluded.raised",
                [
                    (
                        c.key,
                        org.casefold() if org else None,
                        to_iso(c.created),
                        c.resolution,
                        _raised_json(c.raised),
                    )
                    for org, c in cases
                ],
            )

    def recorded_cases(self, keys: Iterable[str]) -> dict[str, tuple[str | None, MonthCase]]:
        """The organisation (folded; None: none) and the case as recorded, for those of
        ``keys`` recorded."""
        wanted = list(dict.fromkeys(keys))
        out: dict[str, tuple[str | None, MonthCase]] = {}
        for at in range(0, len(wanted), 500):  # SQLite's bound on parameters, with margin
            chunk = wanted[at : at + 500]
            rows = self._db.execute(
                "SELECT key, organization, created, resolution, raised FROM cases "
                f"WHERE key IN ({', '.join('?' * len(chunk))})",
                chunk,
            )
            for r in rows.fetchall():
                out[r[0]] = (r[1], MonthCase(r[0], from_iso(r[2]), r[3], _raised(r[4])))
        return out

    def owe_followers(
        self, origins: Iterable[tuple[str, MonthCase, frozenset[str] | None]]
    ) -> None:
        """Record moved cases whose later cases are to be re-read: (the organisation as
        the rules spell it, the case, the limited entitlements whose uses it took or
        gave back; None: it left that organisation).  Kept until `followers_done`."""
        with self._tx():
            self._db.executemany(
                "INSERT INTO owed_followers "
                "(organization, key, created, resolution, raised, entitlements) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        org,
                        c.key,
                        to_iso(c.created),
                        c.resolution,
                        _raised_json(c.raised),
                        None if owed is None else json.dumps(sorted(owed)),
                    )
                    for org, c, owed in origins
                ],
            )

    def owed_followers(self) -> list[tuple[str, MonthCase, frozenset[str] | None]]:
        """The moved cases recorded by `owe_followers` and not yet done, each once."""
        rows = self._db.execute(
            "SELECT organization, key, created, resolution, raised, entitlements "
            "FROM owed_followers ORDER BY rowid"
        ).fetchall()
        owed = (
            (
                r[0],
                MonthCase(r[1], from_iso(r[2]), r[3], _raised(r[4])),
                None if r[5] is None else frozenset(json.loads(r[5])),
            )
            for r in rows
        )
        return list(dict.fromkeys(owed))

    def followers_done(self) -> None:
        """The later cases of every moved case recorded have been re-read."""
        with self._tx():
            self._db.execute("DELETE FROM owed_followers")

    def forget_cases(self, keys: Iterable[str]) -> None:
        """Forget the cases ``keys``, deleted or no longer in scope: their record for
        ranking, what was last seen of them (the metrics count cases by it), their next
        moment and their done journal entries (open intents stay, to be settled)."""
        rows = [(k,) for k in keys]
        with self._tx():
            for table in ("cases", "issues", "wakeups"):
                self._db.executemany(f"DELETE FROM {table} WHERE key = ?", rows)
            self._db.executemany("DELETE FROM journal WHERE key = ? AND done_at IS NOT NULL", rows)

    def recorded_keys(self) -> set[str]:
        """Every case the state knows of: recorded for ranking, last seen, or awaited."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key FROM cases UNION SELECT key FROM issues UNION SELECT key FROM wakeups"
            ).fetchall()
        return {r[0] for r in rows}

    def instance_id(self) -> str:
        """This state file's instance id (made once): how the site lock knows its own."""
        row = self._db.execute("SELECT value FROM meta WHERE name = 'instance'").fetchone()
        if row:
            return str(row[0])
        import uuid

        made = str(uuid.uuid4())
        self._db.execute(
            "INSERT INTO meta (name, value) VALUES ('instance', ?) ON CONFLICT (name) DO NOTHING",
            (made,),
        )
        again = self._db.execute("SELECT value FROM meta WHERE name = 'instance'").fetchone()
        return str(again[0])

    def get_policy(self) -> str | None:
        """The fingerprint of the rules and field mapping the last full evaluation used."""
        return self._meta("policy")

    def set_policy(self, fingerprint: str) -> None:
        self._set_meta("policy", fingerprint)

    def owned_labels(self) -> frozenset[str] | None:
        """The labels the rules the cases were last evaluated with owned (None: unknown,
        a state from before this was kept)."""
        value = self._meta("owned_labels")
        return frozenset(json.loads(value)) if value is not None else None

    def set_owned_labels(self, labels: frozenset[str]) -> None:
        self._set_meta("owned_labels", json.dumps(sorted(labels)))

    def set_cases_complete(self) -> None:
        """Every case in scope has been recorded (a full read finished)."""
        self._set_meta("cases_complete", "1")

    def cases_complete(self) -> bool:
        return self._meta("cases_complete") == "1"

    def org_cases(self, starts: Mapping[str, datetime]) -> dict[str, tuple[MonthCase, ...]]:
        """The recorded cases of each organisation of ``starts`` created at or after its
        start (organisation -> moment), oldest first (names matched case-insensitively,
        returned as given)."""
        out: dict[str, tuple[MonthCase, ...]] = {}
        for name, since in starts.items():
            bound = to_iso(since)
            rows = self._db.execute(
                "SELECT key, created, resolution, raised FROM cases "
                "WHERE organization = ? AND created >= ?",
                (name.casefold(), bound),
            ).fetchall()
            cases = [MonthCase(r[0], from_iso(r[1]), r[2], _raised(r[3])) for r in rows]
            out[name] = tuple(sorted(cases, key=lambda c: (c.created, c.key_number)))
        return out

    def memo(self, name: str) -> Memo:
        """A new, empty mapping for its holder only (see `Memo`); ``name`` says what it
        holds."""
        with self._lock:
            self._memos += 1
            return Memo(self, f"{name}.{self._memos}")

    @contextmanager
    def batch(self) -> Iterator[State]:
        """Group many writes in one transaction (much faster for a 10,000-issue cycle)."""
        with self._tx():
            yield self


def _raised_json(raised: Raised | None) -> str | None:
    if raised is None:
        return None
    reporter = None if raised.reporter is None else list(raised.reporter)
    return json.dumps([reporter, raised.agent, raised.request_type, raised.product])


def _raised(text: str | None) -> Raised | None:
    """A recorded case's reporter and request type (None: not recorded).  A case
    recorded before schema 7 holds one of its reporter's ids as a string."""
    if not text:
        return None
    try:
        reporter, agent, request_type, *rest = json.loads(text)
    except (ValueError, TypeError):
        return None
    if isinstance(reporter, str):
        reporter = [reporter]
    ids = None if reporter is None else tuple(reporter)
    return Raised(ids, bool(agent), request_type, rest[0] if rest else None)


def _cached(row: tuple[Any, ...]) -> CachedIssue:
    return CachedIssue(
        key=row[0],
        updated=from_iso(row[1]) if row[1] else None,
        sla_state=row[2],
        due=from_iso(row[3]) if row[3] else None,
        seen_at=from_iso(row[4]),
    )


class Memo(MutableMapping[str, Any]):
    """What its holder (an `Engine`) learnt and keeps for its own life, JSON values by
    key, in a temporary table of the state's connection: SQLite keeps a bounded cache of
    its pages in memory and the rest in a temporary file, deleted when the connection
    closes.  Nothing in it outlives the process, as nothing in a dict would: another
    process (a restart, a second host) or another engine reads the site afresh.  What
    is kept is what the bridge itself wrote or Jira's flags about a comment and who
    takes part in a request, not free text."""

    def __init__(self, state: State, name: str) -> None:
        self._state = state
        self._name = name
        with state._lock:
            state._db.execute(
                "CREATE TEMP TABLE IF NOT EXISTS memo (name TEXT NOT NULL, key TEXT NOT NULL, "
                "value TEXT NOT NULL, PRIMARY KEY (name, key)) WITHOUT ROWID"
            )

    def _one(self, sql: str, args: tuple[Any, ...]) -> Any:
        with self._state._lock:
            return self._state._db.execute(sql, args).fetchone()

    def __getitem__(self, key: str) -> Any:
        row = self._one("SELECT value FROM temp.memo WHERE name = ? AND key = ?", (self._name, key))
        if row is None:
            raise KeyError(key)
        return json.loads(row[0])

    def __contains__(self, key: object) -> bool:
        return (
            self._one("SELECT 1 FROM temp.memo WHERE name = ? AND key = ?", (self._name, key))
            is not None
        )

    def __setitem__(self, key: str, value: Any) -> None:
        self._one(
            "INSERT INTO temp.memo (name, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT (name, key) DO UPDATE SET value = excluded.value",
            (self._name, key, json.dumps(value, separators=(",", ":"))),
        )

    def __delitem__(self, key: str) -> None:
        if key not in self:
            raise KeyError(key)
        self._one("DELETE FROM temp.memo WHERE name = ? AND key = ?", (self._name, key))

    def __iter__(self) -> Iterator[str]:
        with self._state._lock:
            rows = self._state._db.execute(
                "SELECT key FROM temp.memo WHERE name = ? ORDER BY key", (self._name,)
            ).fetchall()
        return iter([r[0] for r in rows])

    def __len__(self) -> int:
        row = self._one("SELECT count(*) FROM temp.memo WHERE name = ?", (self._name,))
        return int(row[0])
