"""Reading end to end: paging over several pages on both flavours, and incremental
polling that re-reads only what changed since the watermark."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import SandboxFactory
from e2e_helpers import (
    JANE,
    RULES,
    SAM,
    BridgeFactory,
    add_label,
    all_keys,
    comment,
    end_state,
    new_case,
    set_fields_as,
    set_priority,
    transition,
)

from bridge.jira.port import JiraError
from bridge.sandbox.store import IssueType

BNE = ZoneInfo("Australia/Brisbane")
LON = ZoneInfo("Europe/London")


def t(hour: int, minute: int = 0, day: int = 24, tz: ZoneInfo = BNE) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=tz)


def _searches(sb: object, route: str) -> int:
    return sb.requests.count(kind="read", route=route)  # type: ignore[attr-defined]


def test_cloud_reads_every_page_of_the_largest_size_the_api_allows(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb = sandbox_factory(seed="demo", cases=170)  # 224 cases: three pages of 100 with fields
    total = len(all_keys(sb))
    assert total > 200
    bridge = bridges(sb, page_size=5000)  # asks for more than the site gives with fields
    run = bridge.cycle(dry_run=True)
    assert run.keys_read == set(all_keys(sb))
    assert run.report.skipped == []
    pages = _searches(sb, "/search/jql")
    # the site's cap for searches with fields: 100, so three pages, read once and kept
    # (the cases fit in the configured 5000); and the channel reminder's searches, one
    # per channel it names (email, api), none of whose cases the demo has
    assert pages == -(-total // 100) + 2
    assert run.writes == 0


def test_data_center_learns_from_the_first_page_that_the_site_is_larger(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb = sandbox_factory(seed="demo", flavour="datacenter")
    keys = all_keys(sb)
    first = sb.store.issue(keys[0])
    jane = sb.store.user_by_email(JANE)
    assert jane is not None
    with sb.store.lock:  # a history longer than the search embeds: read per issue
        for n in range(101):
            sb.store.apply_changes(first, jane, {"description": f"draft {n}"})
    bridge = bridges(sb, page_size=7)
    sb.requests.clear()
    run = bridge.cycle()
    assert run.keys_read == set(keys)
    pages = -(-len(keys) // 7)
    # pages of 7: the first (more follow: let go unread), a ranking pass and the full
    # read, each page by page; and the channel reminder's one search per channel
    reads = sb.requests.reads
    searches = [i for i, r in enumerate(reads) if r.route == "/rest/api/2/search"]
    assert len(searches) == 1 + 2 * pages + 2
    # nothing is read per issue until the ranking pass is done: the probe page and the
    # ranking pages are searches alone, and the long history is read once, in full
    per_issue = [i for i, r in enumerate(reads) if "{issueIdOrKey}" in r.route]
    assert per_issue and min(per_issue) > searches[pages]
    assert [r.path for r in reads if r.route == "/rest/api/2/issue/{issueIdOrKey}"] == [
        f"/rest/api/2/issue/{first.key}"
    ]
    for key in keys:  # each page's cases were evaluated and written
        issue = end_state(sb, key)
        if issue.fields["Organizations"] != ["Umbrella Labs"]:
            assert issue.field("Support tier") is not None, key
            assert issue.field("SLA state") is not None, key
    assert bridge.cycle().writes == 0


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_incremental_polling_reads_only_what_changed_after_the_watermark(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(10))
    # P4 cases raised Mon 14:00 London: due Tue 17:00 London, no moment before Wed in Brisbane
    keys = [
        new_case(
            sb,
            org="Initech Systems",
            request_type="Request for information",
            priority="Minor",
            created=t(14, day=23, tz=LON),
        )
        for _ in range(6)
    ]
    bridge = bridges(sb)
    first = bridge.cycle()
    assert first.report.full and first.keys_read == set(keys)

    # later cycles: the bridge's own edits of the first cycle are the only news
    sb.set_now(t(10, 10))
    assert bridge.cycle().writes == 0
    sb.set_now(t(10, 20))
    quiet = bridge.cycle()
    assert not quiet.report.full
    assert quiet.keys_read == set()
    assert quiet.writes == 0

    # someone works on one case after the watermark: that case, and nothing else
    sb.set_now(t(10, 25))
    comment(sb, keys[2], "Here is the port list you asked for.", by=SAM)
    set_priority(sb, keys[4], "Major", by=SAM)
    sb.set_now(t(10, 30))
    news = bridge.cycle()
    assert news.keys_read == {keys[2], keys[4]}
    assert end_state(sb, keys[2]).field("SLA state") == "met"  # the reply stopped the clock
    assert end_state(sb, keys[4]).priority == "Major"  # an engineer's choice: kept
    sb.set_now(t(10, 40))
    # the bridge's own edit (the SLA state of the answered case), read once more
    assert bridge.cycle().keys_read == {keys[2]}
    sb.set_now(t(10, 50))
    assert bridge.cycle().keys_read == set()


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_site_larger_than_a_page_learns_each_cases_channel_in_its_ranking_pass(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """The channel reminder on a site read page by page (its channels asked about once,
    from the light ranking pass) reaches the cases a site fitting in one page would: a
    Standard case raised by e-mail and a Premium one through the API, not one from the
    portal."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(10))
    raised = {
        ("Acme Networks", "email"): True,
        ("Acme Networks", "portal"): False,
        ("Initech Systems", "api"): True,
    }
    keys = {}
    for org, channel in raised:
        keys[org, channel] = key = new_case(sb, org=org, created=t(9))
        sb.store.issue(key).channel = channel
    bridge = bridges(sb, page_size=2)
    run = bridge.cycle()
    assert run.keys_read == set(keys.values())
    for case, reminded in raised.items():
        assert ("raised-outside-portal" in end_state(sb, keys[case]).labels) is reminded, case


def test_a_state_recorded_before_both_reporter_ids_is_read_in_full_once_then_incremental(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, tmp_path: Path
) -> None:
    """Upgrading from a state that recorded one id of who raised each case (schema 6):
    the first cycle reads every case again and records both ids, so the local record
    is complete again: a case changed later is ranked from it, without searching its
    month, as before the upgrade."""
    sb = sandbox_factory(seed="empty", flavour="cloud", now=t(10))
    keys = [new_case(sb, created=t(9, minute=n)) for n in range(3)]
    state = tmp_path / "upgraded.sqlite"
    bridge = bridges(sb, state=state)
    bridge.cycle()
    sb.set_now(t(10, 10))
    bridge.cycle()  # the bridge's own edits, read once

    def one_case_changed(minute: int) -> int:
        sb.set_now(t(10, minute))
        comment(sb, keys[1], f"Any news? ({minute})", by=JANE)
        sb.set_now(t(10, minute + 5))
        run = bridges(sb, state=state).cycle()
        assert not run.report.full and run.keys_read == {keys[1]}
        return run.reads

    before = one_case_changed(20)
    # the record as schema 6 wrote it: one id of the reporter, as text
    db = sqlite3.connect(state, isolation_level=None)
    for key, raised in db.execute("SELECT key, raised FROM cases").fetchall():
        ids, *rest = json.loads(raised)
        db.execute("UPDATE cases SET raised = ? WHERE key = ?", (json.dumps([ids[0], *rest]), key))
    db.execute("DROP TABLE owed_followers")  # schema 11's
    db.execute("ALTER TABLE journal DROP COLUMN ledger_behind")  # schema 10's
    db.execute("ALTER TABLE journal DROP COLUMN landed")  # schema 9's
    db.execute("UPDATE meta SET value = '6' WHERE name = 'schema_version'")
    db.close()

    sb.set_now(t(10, 40))
    upgraded = bridges(sb, state=state).cycle()
    assert upgraded.report.full and upgraded.keys_read == set(keys)
    db = sqlite3.connect(state)
    recorded = [json.loads(r)[0] for (r,) in db.execute("SELECT raised FROM cases")]
    db.close()
    assert all(isinstance(ids, list) for ids in recorded), recorded
    assert one_case_changed(50) == before


@pytest.mark.parametrize(("window", "page"), [(6, 4), (4, 4), (3, 4)])
def test_data_center_reads_a_scope_larger_than_its_search_window_a_span_of_days_at_a_time(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, window: int, page: int
) -> None:
    """Data Center's search pages no deeper than its result window (10,000 unless the
    site, 11.3 and later, says otherwise): a scope matching more is read in spans of
    creation days, each within the window.  Every case is read once and ranked among
    all the others, and the daily check lists them all as well."""
    sb = sandbox_factory(seed="empty", flavour="datacenter", now=t(10))
    sb.server.result_window = window  # (4, 4): the first page already reaches it
    keys = [new_case(sb, created=t(9, day=day)) for day in range(2, 22)]  # 20 cases
    bridge = bridges(sb, page_size=page)
    run = bridge.cycle()
    assert run.report.full and run.keys_read == set(keys)
    assert _places(sb, keys) == [f"{n} of 4" for n in range(1, 21)]

    _delete(sb, keys[0])
    sb.set_now(t(10, day=25))
    bridge.cycle()  # the daily check: the scope listed a span at a time
    assert keys[0] not in bridge.engine.state.recorded_keys()
    assert _places(sb, keys[1:]) == [f"{n} of 4" for n in range(1, 20)]
    assert not [r for r in sb.requests.entries() if r.status >= 500]


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_field_value_jira_refuses_leaves_the_rest_of_the_edit_to_land(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str, tmp_path: Path
) -> None:
    """A support lead adds a Gold tier to the rules before Jira's Support tier field has
    the option: Jira refuses the whole edit for that one value (HTTP 400).  The case
    still gets its SLA state and due time; the tier alone fails, and is written once
    Jira has the option."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(10))
    rules = tmp_path / "gold"
    shutil.copytree(RULES, rules)
    tiers = (rules / "tiers.yaml").read_text(encoding="utf-8")
    gold = tiers.replace(
        "tiers:\n", "tiers:\n  gold: {name: Gold, contacts: 1, cases_per_month: 4}\n", 1
    )
    (rules / "tiers.yaml").write_text(gold, encoding="utf-8")
    customers = (rules / "customers.yaml").read_text(encoding="utf-8")
    moved = customers.replace(
        "Acme Networks:\n    tier: standard", "Acme Networks:\n    tier: gold"
    )
    assert moved != customers
    (rules / "customers.yaml").write_text(moved, encoding="utf-8")
    key = new_case(sb, created=t(9))
    bridge = bridges(sb, rules_path=rules)
    report = bridge.engine.cycle(sb.now)
    assert report.failed_actions == 1
    case = end_state(sb, key)
    assert case.field("SLA state") == "running" and case.field("Response due")
    assert not case.field("Support tier")

    tier = sb.store.field_by_name("Support tier")
    assert tier is not None
    sb.store.add_options(tier, ["Gold"])
    sb.set_now(t(10, 10))
    bridge.cycle(full=True)
    assert end_state(sb, key).field("Support tier") == "Gold"


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_label_renamed_in_the_rules_is_taken_off_the_open_cases_that_carry_it(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str, tmp_path: Path
) -> None:
    """The bridge owns the labels its rules name: when a lead renames needs-info, the old
    label comes off the open cases as the new one goes on (the cycle after the change
    reads every case); a resolved case is left as it is."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(10))
    open_case = new_case(sb, created=t(9), version=None)
    closed = new_case(sb, created=t(9, 10), version=None)
    first = bridges(sb)
    first.cycle()
    assert "needs-info" in end_state(sb, open_case).labels
    assert "needs-info" in end_state(sb, closed).labels
    transition(sb, closed, "Resolve")

    rules = tmp_path / "renamed"
    shutil.copytree(RULES, rules)
    sla = (rules / "sla.yaml").read_text(encoding="utf-8")
    assert "  label: needs-info\n" in sla
    renamed = sla.replace("  label: needs-info\n", "  label: needs-information\n", 1)
    (rules / "sla.yaml").write_text(renamed, encoding="utf-8")
    sb.set_now(t(10, 30))
    second = bridges(sb, state=first.engine.state.path, rules_path=rules)
    assert second.cycle().report.full
    labels = end_state(sb, open_case).labels
    assert "needs-information" in labels and "needs-info" not in labels
    assert "needs-info" in end_state(sb, closed).labels
    sb.set_now(t(10, 40))
    assert second.cycle().writes == 0  # nothing more to take off


def _acme_month(sb: object) -> list[str]:
    """Five Acme Networks cases of November (its quota is 4), oldest first."""
    return [new_case(sb, created=t(10, day=day)) for day in (2, 3, 4, 5, 6)]  # type: ignore[arg-type]


def _places(sb: object, keys: list[str]) -> list[str]:
    return [end_state(sb, k).field("Cases this month") for k in keys]  # type: ignore[arg-type]


def _within_quota(sb: object, month: list[str]) -> None:
    """``month``, Acme's cases still counted, ranked 1 to 4 of 4, the last not over quota."""
    assert _places(sb, month) == ["1 of 4", "2 of 4", "3 of 4", "4 of 4"]
    assert "over-quota" not in end_state(sb, month[-1]).labels  # type: ignore[arg-type]


def _delete(sb: object, key: str) -> None:
    """An administrator deletes the issue (no agent route deletes one)."""
    store = sb.store  # type: ignore[attr-defined]
    with store.lock:
        gone = store.issues.pop(key)
        del store._by_id[gone.id]
        store._touch()


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_case_deleted_in_jira_stops_counting_once_a_full_read_misses_it(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """A full read finds every case in scope: a recorded case it does not find was
    deleted (or left the scope), so an incremental cycle ranking a later case from the
    record no longer counts it."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(10))
    keys = _acme_month(sb)
    bridge = bridges(sb)
    bridge.cycle()
    assert _places(sb, keys) == ["1 of 4", "2 of 4", "3 of 4", "4 of 4", "5 of 4"]
    _delete(sb, keys[1])
    sb.set_now(t(10, 10))
    assert bridge.cycle(full=True).report.full
    live = [keys[0], *keys[2:]]
    assert _places(sb, live) == ["1 of 4", "2 of 4", "3 of 4", "4 of 4"]

    sb.set_now(t(10, 20))
    add_label(sb, keys[4], "triaged", by=SAM)
    sb.set_now(t(10, 30))
    run = bridge.cycle()
    assert not run.report.full and keys[4] in run.keys_read
    _within_quota(sb, live)


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_deleted_case_no_cycle_awaits_stops_counting_at_the_daily_check_of_the_record(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """A case past every ladder step awaits no next moment, so no cycle names it: once a
    day an incremental cycle lists the scope's keys, finds the recorded case Jira no
    longer has, and ranks the later cases of its month without it."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(10))
    keys = _acme_month(sb)
    bridge = bridges(sb)
    bridge.cycle()
    state = bridge.engine.state
    assert state.get_wakeup(keys[1]) is None
    checked = state.reconciled_at()
    assert checked is not None  # the full read checked the record
    _delete(sb, keys[1])

    sb.set_now(t(10, 30))
    quiet = bridge.cycle()
    assert not quiet.report.full and state.reconciled_at() == checked  # once a day only

    sb.set_now(t(10, 30, day=25))
    run = bridge.cycle()
    assert not run.report.full and run.report.complete
    assert state.reconciled_at() == sb.now
    live = [keys[0], *keys[2:]]
    _within_quota(sb, live)
    assert keys[1] not in state.recorded_keys()


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_case_moved_to_another_organisation_moves_its_old_months_later_cases_up(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """The incremental cycle that reads the moved case re-ranks the later cases of the
    month it left, though Jira does not list them as updated: the same places a full
    read gives."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(10))
    keys = _acme_month(sb)
    bridge = bridges(sb)
    bridge.cycle()
    sb.set_now(t(10, 10))
    bridge.cycle()
    assert "over-quota" in end_state(sb, keys[4]).labels
    initech = sb.store.organization_by_name("Initech Systems")
    assert initech is not None
    set_fields_as(sb, keys[1], JANE, {"Organizations": [initech.id]})
    sb.set_now(t(10, 20))
    run = bridge.cycle()
    assert not run.report.full
    acme = [keys[0], *keys[2:]]
    _within_quota(sb, acme)


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_case_deleted_while_its_next_moment_is_awaited_stops_counting_at_that_moment(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """Jira refuses a search naming a key that does not exist (HTTP 400): the cycle
    that names the deleted case finds it gone, forgets it and re-ranks the later cases
    of its month, instead of stopping on Jira's refusal cycle after cycle."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(10))
    keys = [new_case(sb, created=t(9, minute)) for minute in (0, 10, 20, 30, 40)]
    bridge = bridges(sb)
    bridge.cycle()
    sb.set_now(t(10, 10))
    bridge.cycle()
    assert _places(sb, keys) == ["1 of 4", "2 of 4", "3 of 4", "4 of 4", "5 of 4"]
    state = bridge.engine.state
    moment = state.get_wakeup(keys[1])
    later = state.get_wakeup(keys[2])
    assert moment is not None and later is not None and moment < later
    _delete(sb, keys[1])

    sb.set_now(moment.astimezone(BNE).replace(second=0, microsecond=0) + (later - moment) / 2)
    assert sb.now < later
    run = bridge.cycle()
    assert not run.report.full and run.report.complete
    live = [keys[0], *keys[2:]]
    _within_quota(sb, live)
    assert state.get_wakeup(keys[1]) is None


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_two_deleted_cases_are_found_though_each_refusal_names_one(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """Jira's refusal of a search naming two deleted keys names the first it met: the
    search is made again without it, is refused for the second, and again without both.
    The awaited cases deleted and, at the daily check, the recorded ones are forgotten."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(10))
    month = _acme_month(sb)  # past every ladder step: nothing awaited
    awaited = [new_case(sb, created=t(9, minute)) for minute in (0, 10, 20)]
    bridge = bridges(sb)
    bridge.cycle()
    state = bridge.engine.state
    _delete(sb, month[1])
    _delete(sb, month[3])
    _delete(sb, awaited[0])
    _delete(sb, awaited[2])
    moment = max(m for m in map(state.get_wakeup, awaited) if m is not None)
    sb.set_now(max(moment.astimezone(BNE), t(10, day=25)) + timedelta(minutes=1))
    run = bridge.cycle()
    assert not run.report.full and run.report.complete
    gone = {month[1], month[3], awaited[0], awaited[2]}
    assert not gone & state.recorded_keys()
    assert _places(sb, [month[0], month[2], month[4]]) == ["1 of 4", "2 of 4", "3 of 4"]


def test_jira_failing_to_say_whether_a_case_is_deleted_is_an_outage_not_a_bad_scope(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked whether a case a refused search named still exists, Jira fails (503 after
    the retries): the cycle stops as in an outage, to be tried again, and not as if the
    scope itself were refused, which stops the daemon for good."""
    sb = sandbox_factory(seed="empty", now=t(10))
    keys = [new_case(sb, created=t(9, minute)) for minute in (0, 10)]
    bridge = bridges(sb)
    bridge.cycle()
    state = bridge.engine.state
    _delete(sb, keys[0])
    moment = state.get_wakeup(keys[0])
    assert moment is not None
    sb.set_now(moment.astimezone(BNE) + timedelta(minutes=1))

    def unavailable(*_: object, **__: object) -> object:
        raise JiraError("GET /rest/api/3/issue/SUP-1 failed after 5 attempts", status=503)

    monkeypatch.setattr(bridge.engine.port, "get_issue", unavailable)
    report = bridge.engine.cycle(sb.now)
    assert report.aborted is not None and not report.aborted_permanent
    assert keys[0] in state.recorded_keys()  # nothing forgotten on a guess


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_scope_jira_refuses_for_another_reason_asks_for_none_of_the_awaited_cases(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """An administrator removes an issue type the scope names: Jira refuses every search
    (HTTP 400), naming no case.  The cycle stops on that refusal without asking for each
    case it awaits, one by one, as it does when Jira names a deleted one."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(10))
    sb.store.issue_types.append(IssueType(id="10199", name="Legacy"))
    keys = [new_case(sb, created=t(9, minute)) for minute in (0, 10, 20)]
    bridge = bridges(sb, jql='project = SUP AND issuetype != "Legacy"')
    bridge.cycle()
    state = bridge.engine.state
    assert all(state.get_wakeup(k) is not None for k in keys)
    sb.store.issue_types.pop()
    awaited = max(m for m in map(state.get_wakeup, keys) if m is not None)
    sb.set_now(awaited.astimezone(BNE).replace(second=0, microsecond=0) + timedelta(minutes=1))
    assert set(keys) <= set(state.due_wakeups(sb.now))

    before = len(sb.requests.entries())  # type: ignore[attr-defined]
    report = bridge.engine.cycle(sb.now)
    assert report.aborted is not None and "Legacy" in report.aborted
    asked = [r.path for r in sb.requests.entries()[before:]]  # type: ignore[attr-defined]
    assert not [p for p in asked if any(p.endswith(f"/issue/{k}") for k in keys)], asked
    assert all(state.get_wakeup(k) is not None for k in keys)  # still awaited


@pytest.mark.parametrize(("moved", "deleted"), [(1, 3), (3, 4)])
@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_later_case_found_deleted_when_its_month_moves_up_no_longer_counts(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    flavour: str,
    moved: int,
    deleted: int,
) -> None:
    """A case moves to another organisation and a later one is deleted (SUP-2 and
    SUP-4; or SUP-4 and SUP-5, the only later case): the later cases of the old month
    are read again, Jira refuses the search naming the deleted one (HTTP 400), and the
    cases still there are ranked without it."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(10))
    keys = _acme_month(sb)
    bridge = bridges(sb)
    bridge.cycle()
    sb.set_now(t(10, 10))
    bridge.cycle()
    initech = sb.store.organization_by_name("Initech Systems")
    assert initech is not None
    set_fields_as(sb, keys[moved], JANE, {"Organizations": [initech.id]})
    _delete(sb, keys[deleted])
    sb.set_now(t(10, 20))
    run = bridge.cycle()
    assert not run.report.full and run.report.complete
    live = [k for k in keys if k not in (keys[moved], keys[deleted])]
    assert _places(sb, live) == ["1 of 4", "2 of 4", "3 of 4"]
    assert not any("over-quota" in end_state(sb, k).labels for k in live)


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_an_organisation_named_like_a_credential_keeps_its_places_in_incremental_cycles(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str, tmp_path: Path
) -> None:
    """Redaction masks "Bearer" and a long word after it; the organisation "Bearer
    Technologies" is ranked from the local record by its name all the same."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(10))
    keys = _acme_month(sb)
    org = sb.store.organization_by_name("Acme Networks")
    assert org is not None
    org.name = "Bearer Technologies"
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    customers = rules / "customers.yaml"
    text = customers.read_text(encoding="utf-8")
    customers.write_text(text.replace("  Acme Networks:", "  Bearer Technologies:", 1))
    bridge = bridges(sb, rules_path=rules)
    bridge.cycle()
    sb.set_now(t(10, 10))
    bridge.cycle()
    assert _places(sb, keys) == ["1 of 4", "2 of 4", "3 of 4", "4 of 4", "5 of 4"]

    sb.set_now(t(10, 20))
    add_label(sb, keys[4], "triaged", by=SAM)
    sb.set_now(t(10, 30))
    run = bridge.cycle()
    assert not run.report.full and run.keys_read == {keys[4]}
    assert _places(sb, keys) == ["1 of 4", "2 of 4", "3 of 4", "4 of 4", "5 of 4"]
    assert "over-quota" in end_state(sb, keys[4]).labels


def test_a_case_a_shifting_page_left_out_of_a_full_read_is_not_forgotten(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data Center pages a search by offset: a case deleted after the first page was
    read moves every later case one place back, so one is never listed.  The full read
    asks for the cases it did not list by key before forgetting any: the Acme case left
    out still counts for the later cases of its month."""
    sb = sandbox_factory(seed="empty", flavour="datacenter", now=t(10))
    other = new_case(sb, org="Initech Systems", created=t(9, day=2))
    keys = _acme_month(sb)
    bridge = bridges(sb, page_size=2)
    bridge.cycle()
    assert _places(sb, keys) == ["1 of 4", "2 of 4", "3 of 4", "4 of 4", "5 of 4"]
    port = bridge.engine.port
    search_pages = port.search_pages
    armed = [True]

    def shifting(jql: str, *args: object, **kwargs: object) -> Iterator[object]:
        for n, page in enumerate(search_pages(jql, *args, **kwargs)):
            yield page
            if n == 0 and armed[0]:  # between the first page and the next
                armed[0] = False
                _delete(sb, other)

    monkeypatch.setattr(port, "search_pages", shifting)
    sb.set_now(t(10, 10))
    assert bridge.cycle(full=True).report.full
    assert not armed[0]
    monkeypatch.setattr(port, "search_pages", search_pages)

    sb.set_now(t(10, 20))
    add_label(sb, keys[4], "triaged", by=SAM)
    sb.set_now(t(10, 30))
    run = bridge.cycle()
    assert not run.report.full and keys[4] in run.keys_read
    assert _places(sb, keys) == ["1 of 4", "2 of 4", "3 of 4", "4 of 4", "5 of 4"]
