from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bridge.policy.model import MonthCase, Raised
from bridge.sync import state as state_mod
from bridge.sync.state import (
    BEHIND_KEEP,
    JOURNAL_KEEP,
    SCHEMA_VERSION,
    State,
    StateError,
    migrate,
)

BNE = timezone(timedelta(hours=10))
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=BNE)


@pytest.fixture
def st(tmp_path: Path) -> State:
    s = State.open(tmp_path / "var" / "state.sqlite")
    yield s
    s.close()


def test_new_file_is_created_at_latest_schema_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "dir" / "s.sqlite"
    with State.open(path) as s:
        assert s.schema_version == SCHEMA_VERSION
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def state_at_schema(tmp_path: Path, version: int) -> tuple[Path, sqlite3.Connection]:
    """A state file made by an older release (schema ``version``), open to fill in."""
    path = tmp_path / f"v{version}.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    assert migrate(db, target=version) == version
    return path, db


def test_migrates_an_older_schema_forward_keeping_its_data(tmp_path: Path) -> None:
    path, db = state_at_schema(tmp_path, 1)
    db.execute("INSERT INTO wakeups (key, at) VALUES ('SUP-1', '2026-11-26T22:00:00.000000+00:00')")
    db.execute(
        "INSERT INTO meta (name, value) VALUES ('watermark', '2026-11-26T00:00:00.000000+00:00')"
    )
    db.close()

    with State.open(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.due_wakeups(T0) == ["SUP-1"]
        assert s.get_watermark() == datetime(2026, 11, 26, tzinfo=UTC)
        # tables of later versions exist and work
        s.journal_intent("SUP-1", "a1", "comment", at=T0)
        assert [i.action_id for i in s.pending_intents()] == ["a1"]
        s.remember_issue("SUP-1", updated=T0, sla_state="running", due=T0, seen_at=T0)
        assert s.cached_issue("SUP-1") is not None


def newer_state_file(tmp_path: Path) -> Path:
    """A state file as a newer jsm-bridge leaves it (one schema version ahead)."""
    path = tmp_path / "new.sqlite"
    with State.open(path):
        pass
    db = sqlite3.connect(path, isolation_level=None)
    db.execute(
        "UPDATE meta SET value = ? WHERE name = 'schema_version'", (str(SCHEMA_VERSION + 1),)
    )
    db.close()
    return path


def test_refuses_a_state_file_from_a_newer_version(tmp_path: Path) -> None:
    path = newer_state_file(tmp_path)
    with pytest.raises(StateError, match="newer"):
        State.open(path)


def on_disk(path: Path) -> dict[str, tuple[bytes, int]]:
    """The state file and any -wal and -shm file beside it: bytes and mtime of each."""
    return {
        f.name: (f.read_bytes(), f.stat().st_mtime_ns)
        for f in sorted(path.parent.iterdir())
        if f.name.startswith(path.name)
    }


def schema_on_disk(path: Path) -> int:
    """The schema version a reader of the file sees (what is in its -wal counts)."""
    db = sqlite3.connect(path)  # (closing, it removes the -wal and -shm it made)
    try:
        return state_mod._schema_version(db)
    finally:
        db.close()


def test_a_read_only_open_migrates_an_older_file_in_memory_and_leaves_it_as_it_was(
    tmp_path: Path,
) -> None:
    """A dry run on a file of an older release: the file keeps its schema and its bytes,
    no -wal or -shm file is left beside it, and the state holds the file's data."""
    path, db = state_at_schema(tmp_path, 1)
    db.execute("PRAGMA journal_mode = WAL")  # as every state file is
    db.execute("INSERT INTO wakeups (key, at) VALUES ('SUP-1', '2026-11-26T22:00:00.000000+00:00')")
    db.close()
    before = on_disk(path)
    assert list(before) == [path.name]

    with State.open(path, read_only=True) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.due_wakeups(T0) == ["SUP-1"]
        s.journal_intent("SUP-1", "a1", "comment", at=T0)  # in memory only
        s.set_watermark(T0)
        assert [i.action_id for i in s.pending_intents()] == ["a1"]
    assert on_disk(path) == before
    assert schema_on_disk(path) == 1

    with State.open(path) as s:  # a real run upgrades it in place, without the dry run's
        assert s.schema_version == SCHEMA_VERSION and schema_on_disk(path) == SCHEMA_VERSION
        assert s.due_wakeups(T0) == ["SUP-1"]
        assert s.get_watermark() is None and s.pending_intents() == []


def test_a_read_only_open_of_no_file_creates_none(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "state.sqlite"
    with State.open(path, read_only=True) as s:
        assert s.schema_version == SCHEMA_VERSION and s.get_watermark() is None
        s.set_watermark(T0)
    assert not (tmp_path / "not").exists()
    with State.open(path) as s:  # a real run creates it
        assert s.get_watermark() is None
    assert path.exists()


def test_a_read_only_open_reads_what_another_process_committed_to_the_wal(
    tmp_path: Path,
) -> None:
    """The daemon has the file open: its last commits are in the -wal file, not yet in
    the database file, and are in the copy (the -wal and -shm are the daemon's: kept)."""
    path = tmp_path / "state.sqlite"
    wal = tmp_path / "state.sqlite-wal"
    with State.open(path) as daemon:
        daemon.set_watermark(T0)
        daemon.set_wakeup("SUP-7", T0)
        assert wal.stat().st_size > 0
        database, log = path.read_bytes(), wal.read_bytes()
        with State.open(path, read_only=True) as s:
            assert s.get_watermark() == T0 and s.due_wakeups(T0) == ["SUP-7"]
        assert path.read_bytes() == database and wal.read_bytes() == log
        daemon.set_watermark(T0 + timedelta(minutes=5))  # the daemon goes on writing
    with State.open(path) as s:
        assert s.get_watermark() == T0 + timedelta(minutes=5)


def test_a_read_only_open_refuses_a_newer_or_a_damaged_file_as_open_does(
    tmp_path: Path,
) -> None:
    path = newer_state_file(tmp_path)
    before = on_disk(path)
    with pytest.raises(StateError, match="newer than this jsm-bridge understands"):
        State.open(path, read_only=True)
    assert on_disk(path) == before

    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"not a database\n" * 4096)
    before = on_disk(damaged)
    with pytest.raises(StateError, match=r"is damaged \(file is not a database\)"):
        State.open(damaged, read_only=True, setting="state.path in bridge.yaml")
    assert on_disk(damaged) == before


def test_failed_migration_step_leaves_the_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    migrate(db, target=1)

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    monkeypatch.setattr(state_mod, "MIGRATIONS", (state_mod.MIGRATIONS[0], broken))
    with pytest.raises(RuntimeError):
        migrate(db, target=2)
    assert state_mod._schema_version(db) == 1
    assert not db.execute("SELECT 1 FROM sqlite_master WHERE name = 'half_done'").fetchone()


def test_watermark_round_trips_in_utc(st: State) -> None:
    assert st.get_watermark() is None
    st.set_watermark(T0)
    assert st.get_watermark() == T0
    assert st.get_watermark().tzinfo == UTC  # type: ignore[union-attr]
    st.set_watermark(T0 + timedelta(minutes=5))
    assert st.get_watermark() == T0 + timedelta(minutes=5)


def test_naive_times_are_refused(st: State) -> None:
    with pytest.raises(ValueError, match="time zone"):
        st.set_watermark(datetime(2026, 1, 1))


def test_due_wakeups_compare_instants_not_local_text(st: State) -> None:
    # 09:00 in Brisbane is 23:00 UTC the day before; New York 08:00 is 13:00 UTC.
    ny = timezone(timedelta(hours=-5))
    st.set_wakeup("SUP-1", datetime(2026, 11, 27, 9, 0, tzinfo=BNE))
    st.set_wakeup("SUP-2", datetime(2026, 11, 27, 8, 0, tzinfo=ny))
    st.set_wakeup("SUP-3", datetime(2026, 11, 28, 0, 0, tzinfo=UTC))
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert st.due_wakeups(now) == ["SUP-1"]
    assert st.due_wakeups(datetime(2026, 11, 27, 13, 0, tzinfo=UTC)) == ["SUP-1", "SUP-2"]
    st.set_wakeup("SUP-1", None)
    st.set_wakeups({"SUP-3": datetime(2026, 11, 26, tzinfo=UTC), "SUP-2": None})
    assert st.due_wakeups(now) == ["SUP-3"]
    assert st.get_wakeup("SUP-2") is None


def test_journal_intent_then_done(st: State) -> None:
    st.journal_intent("SUP-1", "c1", "comment", at=T0)
    st.journal_intent("SUP-1", "t1", "transition", "Escalated", at=T0)
    st.journal_intent("SUP-2", "c2", "comment", at=T0)
    st.journal_done("SUP-1", "c1", at=T0)
    pending = st.pending_intents()
    assert [(i.key, i.action_id, i.kind, i.detail) for i in pending] == [
        ("SUP-1", "t1", "transition", "Escalated"),
        ("SUP-2", "c2", "comment", None),
    ]
    assert [i.action_id for i in st.pending_intents("SUP-2")] == ["c2"]
    st.journal_forget("SUP-2", "c2")
    assert [i.action_id for i in st.pending_intents()] == ["t1"]
    # a done entry is not forgotten by journal_forget, only by pruning
    st.journal_forget("SUP-1", "c1")
    assert st.prune_journal(T0 + timedelta(days=1)) == 1


def test_journal_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with State.open(path) as s:
        s.journal_intent("SUP-9", "c9", "comment", at=T0)
    with State.open(path) as s:
        assert [i.action_id for i in s.pending_intents()] == ["c9"]


def test_run_history_newest_first(st: State) -> None:
    r1 = st.start_run(T0)
    st.finish_run(r1, {"comments": 2, "edits": 5}, errors=0, ok=True, at=T0 + timedelta(seconds=3))
    r2 = st.start_run(T0 + timedelta(minutes=5))
    st.finish_run(r2, {}, errors=1, ok=False, at=T0 + timedelta(minutes=6))
    r3 = st.start_run(T0 + timedelta(minutes=10))
    runs = st.last_runs(5)
    assert [r.id for r in runs] == [r3, r2, r1]
    assert runs[0].ok is None and runs[0].finished is None
    assert runs[1].ok is False and runs[1].errors == 1
    assert runs[2].counts == {"comments": 2, "edits": 5}
    assert runs[2].finished == T0 + timedelta(seconds=3)
    assert [r.id for r in st.last_runs(1)] == [r3]


def test_issue_cache_and_batch(st: State) -> None:
    with st.batch():
        st.remember_issue("SUP-2", updated=T0, sla_state="running", due=None, seen_at=T0)
        st.remember_issue("SUP-1", updated=None, sla_state=None, due=T0, seen_at=T0)
        st.set_wakeups({"SUP-1": T0})
    st.remember_issue("SUP-2", updated=T0, sla_state="at_risk", due=T0, seen_at=T0)
    assert [c.key for c in st.cached_issues()] == ["SUP-1", "SUP-2"]
    two = st.cached_issue("SUP-2")
    assert two is not None and two.sla_state == "at_risk" and two.due == T0
    assert st.cached_issue("SUP-404") is None


def test_batch_rolls_back_on_error(st: State) -> None:
    with pytest.raises(RuntimeError), st.batch():
        st.set_wakeup("SUP-1", T0)
        raise RuntimeError("stop")
    assert st.get_wakeup("SUP-1") is None


def test_unusable_path_says_what_to_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StateError, match=r"state\.path"):
        State.open(blocker / "sub" / "s.sqlite")


def test_a_memo_is_its_holders_alone_and_ends_with_the_process(tmp_path: Path) -> None:
    """What an engine remembers of the site (a Data Center ledger, a comment's flags) is
    kept in the state's connection, apart from any other memo, and is gone on reopening:
    a restarted bridge reads the site afresh."""
    path = tmp_path / "state.sqlite"
    with State.open(path) as st:
        ledgers, other = st.memo("ledgers"), st.memo("ledgers")
        ledgers["SUP-1"] = {"v": 1, "done": ["a/esc/1.1"]}
        ledgers["SUP-2"] = None
        ledgers["SUP-1"] = {"v": 1, "done": ["a/esc/1.1", "a/esc/2.1"]}
        assert ledgers["SUP-1"] == {"v": 1, "done": ["a/esc/1.1", "a/esc/2.1"]}
        assert "SUP-2" in ledgers and ledgers["SUP-2"] is None
        assert sorted(ledgers) == ["SUP-1", "SUP-2"] and len(ledgers) == 2
        assert "SUP-1" not in other and other.get("SUP-1") is None
        del ledgers["SUP-2"]
        assert ledgers.pop("SUP-2", "gone") == "gone"
        with pytest.raises(KeyError):
            ledgers["SUP-9"]
    with State.open(path) as st:
        assert len(st.memo("ledgers")) == 0


def test_who_raised_a_case_is_recorded_by_both_ids(st: State) -> None:
    """The quota index matches the e-mail or the account id against the contact lists,
    as a case's own evaluation does: the record keeps both."""
    raised = Raised(("ann@acme.example", "acc-ann"), False, "Bug", None)
    nobody = Raised(None, False, "Bug", "Widget")
    st.remember_cases(
        [
            ("Acme", MonthCase("SUP-1", T0, None, raised)),
            ("Acme", MonthCase("SUP-2", T0, None, nobody)),
            ("Acme", MonthCase("SUP-3", T0)),
        ]
    )
    assert st.org_cases({"Acme": T0})["Acme"] == (
        MonthCase("SUP-1", T0, None, raised),
        MonthCase("SUP-2", T0, None, nobody),
        MonthCase("SUP-3", T0, None, None),
    )


def test_a_case_recorded_with_one_id_reads_as_that_id_and_the_record_is_refilled(
    tmp_path: Path,
) -> None:
    path, db = state_at_schema(tmp_path, 6)
    db.execute(
        "INSERT INTO cases (key, organization, created, resolution, raised) VALUES "
        "('SUP-1', 'acme', '2026-11-26T23:00:00.000000+00:00', NULL, "
        '\'["ann@acme.example", false, "Bug", null]\')'
    )
    db.execute("INSERT INTO meta (name, value) VALUES ('cases_complete', '1')")
    db.execute("INSERT INTO meta (name, value) VALUES ('policy', 'abc')")
    db.close()

    with State.open(path) as s:
        [case] = s.org_cases({"acme": T0})["acme"]
        assert case.raised == Raised(("ann@acme.example",), False, "Bug", None)
        # the record holds one id of who raised each case: it is read afresh once, by
        # a full cycle (no rules fingerprint to compare with), which completes it again
        assert not s.cases_complete()
        assert s.get_policy() is None


def test_an_organisation_whose_name_looks_like_a_credential_finds_its_cases(st: State) -> None:
    """Redaction masks "Bearer" followed by a long word; an organisation's name is not a
    secret, and its cases are looked up by it: stored as named, found as named."""
    raised = Raised(("ann@bearer.example",), False, "Bearer authentication", None)
    st.remember_cases(
        [
            ("Bearer Technologies", MonthCase("SUP-1", T0, None, raised)),
            ("Bearer Transportation", MonthCase("SUP-2", T0, "Basic credentials4u", None)),
        ]
    )
    found = st.org_cases({"Bearer Technologies": T0, "Bearer Transportation": T0})
    assert found == {
        "Bearer Technologies": (MonthCase("SUP-1", T0, None, raised),),
        "Bearer Transportation": (MonthCase("SUP-2", T0, "Basic credentials4u", None),),
    }


@pytest.mark.parametrize("masked", [True, False])
def test_a_record_written_masked_is_read_again_in_full(tmp_path: Path, masked: bool) -> None:
    """A record made before schema 8 may hold an organisation written masked: nothing
    can unmask it, so the next cycle reads every case again (no complete record, no
    rules fingerprint).  A record with nothing masked stays as it was."""
    path, db = state_at_schema(tmp_path, 7)
    org = "bearer ***" if masked else "acme networks"
    db.execute(
        "INSERT INTO cases (key, organization, created, resolution, raised) VALUES "
        "('SUP-1', ?, '2026-11-26T23:00:00.000000+00:00', NULL, NULL)",
        (org,),
    )
    db.execute("INSERT INTO meta (name, value) VALUES ('cases_complete', '1')")
    db.execute("INSERT INTO meta (name, value) VALUES ('policy', 'abc')")
    db.close()

    with State.open(path) as s:
        assert s.cases_complete() is not masked
        assert s.get_policy() == (None if masked else "abc")


def test_a_forgotten_case_is_forgotten_everywhere_the_state_knows_it(st: State) -> None:
    """A case forgotten no longer counts in its month, in the metrics' count of cases
    (the issue cache), nor awaits a next moment."""
    st.remember_cases([("Acme", MonthCase(f"SUP-{n}", T0 + timedelta(hours=n))) for n in (1, 2, 3)])
    for key in ("SUP-1", "SUP-2", "SUP-3"):
        st.remember_issue(key, updated=T0, sla_state="running", due=T0, seen_at=T0)
        st.set_wakeup(key, T0)
    assert st.recorded_keys() == {"SUP-1", "SUP-2", "SUP-3"}
    st.forget_cases(["SUP-2"])
    assert [c.key for c in st.org_cases({"Acme": T0})["Acme"]] == ["SUP-1", "SUP-3"]
    assert st.sla_state_counts() == [("acme", "running", 2)]
    assert st.due_wakeups(T0) == ["SUP-1", "SUP-3"]


def test_a_v8_journal_upgrades_with_its_open_intents_unlanded_and_its_done_entries_kept(
    tmp_path: Path,
) -> None:
    path, db = state_at_schema(tmp_path, 8)
    db.execute(
        "INSERT INTO journal (key, action_id, kind, detail, intent_at, done_at, sent_at, "
        "unconfirmed) VALUES "
        "('SUP-1', 't1', 'transition', 'Escalated', '2026-11-26T23:00:00.000000+00:00', NULL, "
        "'2026-11-26T23:00:00.000000+00:00', 1), "
        "('SUP-1', 'c1', 'comment', NULL, '2026-11-26T23:00:00.000000+00:00', "
        "'2026-11-26T23:00:01.000000+00:00', '2026-11-26T23:00:00.000000+00:00', 0)"
    )
    db.close()

    with State.open(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        [intent] = s.pending_intents("SUP-1")
        # recorded before the answer was kept: checked on the issue as before, not trusted
        assert (intent.action_id, intent.unconfirmed, intent.landed) == ("t1", True, False)
        assert s.journal_done_actions("SUP-1") == {
            "c1": datetime(2026, 11, 26, 23, 0, 1, tzinfo=UTC)
        }
        s.journal_landed("SUP-1", "t1")
        [intent] = s.pending_intents("SUP-1")
        assert intent.landed and not intent.unconfirmed


def test_a_landed_intent_is_open_until_done_and_a_new_intent_is_not_landed(st: State) -> None:
    st.journal_intent("SUP-1", "c1", "comment", at=T0)
    st.journal_landed("SUP-1", "c1")
    assert [i.landed for i in st.pending_intents()] == [True]
    st.journal_intent("SUP-1", "c1", "comment", at=T0)  # sent again: its answer is awaited
    assert [i.landed for i in st.pending_intents()] == [False]
    st.journal_landed("SUP-1", "c1")
    st.journal_done("SUP-1", "c1", at=T0)
    st.journal_landed("SUP-1", "c1")  # no effect on a done entry
    assert st.pending_intents() == []
    assert st.journal_done_actions("SUP-1") == {"c1": T0.astimezone(UTC)}
    assert st.journal_done_actions("SUP-2") == {}


def test_pruning_forgets_only_done_entries_older_than_the_bound(st: State) -> None:
    st.journal_intent("SUP-1", "old", "comment", at=T0)
    st.journal_done("SUP-1", "old", at=T0)
    st.journal_intent("SUP-1", "new", "comment", at=T0)
    st.journal_done("SUP-1", "new", at=T0 + timedelta(days=8))
    st.journal_intent("SUP-1", "open", "comment", at=T0)  # never pruned, however old
    assert st.prune_journal(T0 + timedelta(days=1)) == 1
    assert set(st.journal_done_actions("SUP-1")) == {"new"}
    assert [i.action_id for i in st.pending_intents()] == ["open"]


# ------------------------------------------------------------------------ the site it is of

SITE_A = "https://staging.vendor.example"
SITE_B = "https://vendor.atlassian.net"


def test_a_state_file_of_another_site_is_refused_naming_both_and_keeps_its_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite"
    with State.open(path, setting="state.path in /etc/jsm-bridge/bridge.yaml") as s:
        s.claim_site(SITE_A, "datacenter")
        s.set_watermark(T0)
        s.journal_intent("SUP-1", "SUP-1/esc/1", "comment", at=T0)
    with State.open(path, setting="state.path in /etc/jsm-bridge/bridge.yaml") as s:
        with pytest.raises(StateError) as refused:
            s.claim_site(SITE_B, "cloud")
        message = str(refused.value)
        assert f"{SITE_A} (Data Center)" in message and f"{SITE_B} (Cloud)" in message
        assert "state.path in /etc/jsm-bridge/bridge.yaml" in message
        assert "new state.path" in message and "move the old file aside" in message
        assert not refused.value.passing  # a person must choose: not a passing failure
        # nothing of the old site's record was touched
        assert s.site() == (SITE_A, "datacenter")
        assert s.get_watermark() == T0
        assert [i.action_id for i in s.pending_intents()] == ["SUP-1/esc/1"]


@pytest.mark.parametrize(
    ("url", "flavour"),
    [
        (SITE_B, "datacenter"),  # a Data Center -> Cloud migration keeping the address
        ("https://vendor.atlassian.net:8443", "cloud"),  # another port is another server
        ("https://vendor.atlassian.net/jira", "cloud"),  # another context path
        ("http://vendor.atlassian.net", "cloud"),
    ],
)
def test_another_flavour_port_path_or_scheme_is_another_site(
    st: State, url: str, flavour: str
) -> None:
    st.claim_site(SITE_B, "cloud")
    st.set_watermark(T0)
    with pytest.raises(StateError, match="belongs to the Jira site"):
        st.claim_site(url, flavour)


@pytest.mark.parametrize(
    "url",
    [
        "https://vendor.atlassian.net/",
        "HTTPS://Vendor.Atlassian.NET",
        "https://vendor.atlassian.net:443//",
        "https://vendor.atlassian.net.",
        " https://bridge:s3cret@vendor.atlassian.net/?x=1#top ",
    ],
)
def test_forms_of_one_url_are_one_site_and_no_credential_is_recorded(
    tmp_path: Path, url: str
) -> None:
    path = tmp_path / "s.sqlite"
    with State.open(path) as s:
        s.claim_site(SITE_B, "cloud")
        s.set_watermark(T0)
        s.claim_site(url, "cloud")  # the same site: no error
        assert s.site() == (SITE_B, "cloud")
        s.claim_site(url, "cloud")
    assert b"s3cret" not in path.read_bytes()
    with State.open(path) as s, pytest.raises(StateError) as refused:
        s.claim_site("https://bridge:s3cret@other.atlassian.net", "cloud")
    assert "s3cret" not in str(refused.value) and "bridge@" not in str(refused.value)
    assert "https://other.atlassian.net (Cloud)" in str(refused.value)


def test_a_state_from_before_sites_were_recorded_is_taken_as_the_current_sites(
    tmp_path: Path,
) -> None:
    path, db = state_at_schema(tmp_path, SCHEMA_VERSION)
    db.execute("INSERT INTO meta (name, value) VALUES ('watermark', ?)", (state_mod.to_iso(T0),))
    db.close()
    with State.open(path) as s:
        assert s.site() is None
        s.claim_site(SITE_A, "cloud")  # first use after the upgrade: nothing changes
        assert s.get_watermark() == T0
    with State.open(path) as s:
        assert s.site() == (SITE_A, "cloud")
        with pytest.raises(StateError, match="belongs to the Jira site"):
            s.claim_site(SITE_B, "cloud")


def test_a_state_holding_nothing_of_its_site_yet_moves_to_the_new_one(st: State) -> None:
    """A first run against a mistyped URL that never finished a cycle does not tie the
    state to the typo."""
    st.claim_site("https://vendr.atlassian.net", "cloud")
    st.start_run(T0)  # its run history is no site's data
    st.claim_site(SITE_B, "cloud")
    assert st.site() == (SITE_B, "cloud")


def test_a_rollback_sqlite_made_itself_leaves_the_first_error_to_tell(st: State) -> None:
    """On a full disk SQLite may roll the transaction back itself: the error that says
    so reaches the caller, not "cannot rollback - no transaction is active"."""
    with pytest.raises(sqlite3.OperationalError, match="database or disk is full"), st.batch():
        st.set_watermark(T0)
        st._db.execute("ROLLBACK")  # as SQLite does on SQLITE_FULL, at times
        raise sqlite3.OperationalError("database or disk is full")
    assert st.get_watermark() is None
    assert not st._db.in_transaction


def test_a_merged_comments_intents_are_recorded_all_or_none(st: State) -> None:
    """A full disk at the second id of a merged comment leaves no intent: the comment is
    not sent, and nothing says it might have been."""
    st._db.execute(
        "CREATE TEMP TRIGGER full_disk BEFORE INSERT ON main.journal WHEN NEW.action_id = 'b' "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    with pytest.raises(sqlite3.DatabaseError, match="full"):
        st.journal_intents("SUP-1", ("a", "b"), "comment", at=T0, sent_at=T0)
    assert st.pending_intents() == []


def writer_holding(path: Path) -> sqlite3.Connection:
    """Another process mid-write on the state file (the daemon inside a cycle's batch)."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


def test_claiming_the_site_already_recorded_takes_no_write_lock(tmp_path: Path) -> None:
    """Every run claims the site: a `run --once` beside the daemon must not wait on the
    daemon's write transaction (and fail with "database is locked") to learn that the
    site is recorded already."""
    path = tmp_path / "s.sqlite"
    with State.open(path) as s:
        s.claim_site(SITE_B, "cloud")
        s.set_watermark(T0)
    other = writer_holding(path)
    try:
        with State.open(path) as s:
            s._db.execute("PRAGMA busy_timeout = 200")  # a wait would fail in 0.2 s, not 30
            s.claim_site(SITE_B + "/", "cloud")  # the same site: nothing to write
            with pytest.raises(StateError, match="belongs to the Jira site"):
                s.claim_site(SITE_A, "cloud")  # another's is still refused, read alone
    finally:
        other.rollback()
        other.close()


def test_a_state_file_held_locked_past_the_wait_says_so_and_is_passing(tmp_path: Path) -> None:
    """Where the site must be recorded and another process holds the write lock past the
    wait, the error says which file, who may hold it and that the next run goes ahead;
    not a fault to report."""
    path = tmp_path / "s.sqlite"
    State.open(path, setting="state.path in /etc/jsm-bridge/bridge.yaml").close()
    other = writer_holding(path)
    try:
        with State.open(path, setting="state.path in /etc/jsm-bridge/bridge.yaml") as s:
            s._db.execute("PRAGMA busy_timeout = 200")
            with pytest.raises(sqlite3.OperationalError) as locked:
                s.claim_site(SITE_B, "cloud")
            failure = s.failure(locked.value)
    finally:
        other.rollback()
        other.close()
    assert failure is not None and failure.busy and failure.passing
    message = str(failure)
    assert f"the state file {path} (state.path in /etc/jsm-bridge/bridge.yaml)" in message
    assert "locked for writing by another process" in message, message
    assert "another jsm-bridge" in message and "next run goes ahead" in message, message
    with State.open(path) as s:
        assert s.site() is None  # nothing was written


def test_checking_the_site_never_records_it(tmp_path: Path) -> None:
    """A dry run checks the state against its site but writes nothing: a state that
    records no site (made before this was kept) is left saying none."""
    path, db = state_at_schema(tmp_path, SCHEMA_VERSION)
    db.execute("INSERT INTO meta (name, value) VALUES ('watermark', ?)", (state_mod.to_iso(T0),))
    db.close()
    with State.open(path) as s:
        s.check_site(SITE_A, "cloud")
        assert s.site() is None
        s.claim_site(SITE_B, "cloud")  # the real run's site is still free to claim it
        s.check_site(SITE_B + "/", "cloud")
        with pytest.raises(StateError, match="belongs to the Jira site"):
            s.check_site(SITE_A, "cloud")
        assert s.site() == (SITE_B, "cloud")


def test_the_journal_keeps_what_the_ledger_only_announces_until_a_ledger_records_it(
    st: State,
) -> None:
    """A comment done while the issue's ledger only announces it (or found on the issue
    so) outlives the journal's week; once a ledger write of its case records it, it goes
    with its age like any other."""
    st.journal_intents("SUP-1", ["c1", "c2"], "comment", at=T0)
    st.journal_done("SUP-1", "c1", at=T0)
    st.journal_seen("SUP-1", "c2", at=T0)
    st.journal_seen("SUP-2", "c3", at=T0)
    later = T0 + timedelta(days=8)
    assert st.prune_journal(later) == 1
    assert set(st.journal_done_actions("SUP-1")) == {"c2"}
    assert set(st.journal_done_actions("SUP-2")) == {"c3"}
    assert st.pending_intents() == []
    st.journal_recorded("SUP-1")
    assert st.prune_journal(later) == 1
    assert st.journal_done_actions("SUP-1") == {}
    assert set(st.journal_done_actions("SUP-2")) == {"c3"}


def test_what_the_ledger_only_announces_goes_after_its_own_longer_keep_or_with_its_case(
    st: State,
) -> None:
    """Found on the issue with no intent here, it is made; a case nobody writes again
    keeps it `BEHIND_KEEP`, not for ever; a case forgotten takes its done entries along
    (an open intent stays, to be settled)."""
    st.journal_seen("SUP-1", "told", at=T0)  # no intent row before
    assert st.journal_behind("SUP-1") and not st.journal_behind("SUP-2")
    assert st.prune_journal(T0 + timedelta(days=80)) == 0
    assert st.prune_journal(T0 + timedelta(days=8) + BEHIND_KEEP - JOURNAL_KEEP) == 1
    assert not st.journal_behind("SUP-1")
    st.journal_seen("SUP-3", "told", at=T0)
    st.journal_intents("SUP-3", ["open"], "comment", at=T0)
    st.forget_cases(["SUP-3"])
    assert st.journal_done_actions("SUP-3") == {}
    assert [i.action_id for i in st.pending_intents("SUP-3")] == ["open"]


def test_followers_owed_are_kept_each_once_until_done_and_across_a_reopen(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.sqlite"
    raised = Raised(("it@initech.example", "acc-1"), False, "Architecture workshop", "NMIS")
    june = MonthCase("SUP-1", datetime(2026, 6, 1, 10, tzinfo=UTC), "Duplicate", raised)
    moved = MonthCase("SUP-7", datetime(2026, 11, 2, 10, tzinfo=UTC))
    with State.open(path) as s:
        assert s.owed_followers() == []
        s.owe_followers([("Initech Systems", june, frozenset({"architecture_workshop"}))])
        s.owe_followers(
            [
                ("Initech Systems", moved, None),
                ("Initech Systems", june, frozenset({"architecture_workshop"})),  # again
            ]
        )
    with State.open(path) as s:
        assert s.owed_followers() == [
            ("Initech Systems", june, frozenset({"architecture_workshop"})),
            ("Initech Systems", moved, None),
        ]
        s.followers_done()
        assert s.owed_followers() == []


def test_followers_owed_in_a_batch_that_fails_are_not_recorded_nor_the_cases(st: State) -> None:
    """Owed with the cases they were found in, all or none: a case recorded as moved
    always leaves its followers owed."""
    case = MonthCase("SUP-1", datetime(2026, 6, 1, 10, tzinfo=UTC))
    with pytest.raises(RuntimeError), st.batch():
        st.owe_followers([("Initech Systems", case, None)])
        st.remember_cases([("Globex Telecom", case)])
        raise RuntimeError("stopped")
    assert st.owed_followers() == [] and st.recorded_cases(["SUP-1"]) == {}


def test_a_v10_state_upgrades_owing_no_followers(tmp_path: Path) -> None:
    path, db = state_at_schema(tmp_path, 10)
    db.execute(
        "INSERT INTO cases (key, organization, created) VALUES ('SUP-1', 'initech systems', ?)",
        (state_mod.to_iso(T0),),
    )
    db.close()
    with State.open(path) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert s.owed_followers() == []
        assert s.recorded_cases(["SUP-1"])["SUP-1"][0] == "initech systems"
        s.owe_followers([("Initech Systems", MonthCase("SUP-1", T0), None)])
        assert [c.key for _, c, _ in s.owed_followers()] == ["SUP-1"]
