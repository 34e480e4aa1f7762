"""The bridge on both dialects, end to end: Data Center must end where Cloud ends.

The demo world on a Data Center sandbox (users without accountType, comments without
jsdPublic, a search without issue properties) is brought to exactly the state the same
world reaches on Cloud; the second cycle writes nothing; and the faults that matter most
on Data Center — every write failing, the bridge dying between a comment and its ledger
with the state file lost, Jira going away — end like a clean run there too.  (The 30 %
fault mix, on both dialects, and the fail-the-Nth-write sweep live in `test_faults_e2e`;
`run --once` and `demo` run on both in `test_e2e_commands`.)
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SANDBOX_NOW, SandboxFactory
from e2e_helpers import BridgeFactory, clock_at, comment, new_case
from e2e_helpers import end_state as view
from test_faults_e2e import (
    assert_same_end_state,
    clean,
    demo_server,
    end_state,
    make_engine,
)

from bridge.sandbox import seed as seeds
from bridge.sandbox.server import SandboxServer
from bridge.sandbox.store import Store, User
from bridge.sync.ledger import comment_action_id
from bridge.sync.state import State

FLAVOURS = ["cloud", "datacenter"]


def duplicates(store: Store) -> list[str]:
    out = []
    for issue in store.iter_issues():
        ids = Counter(comment_action_id({"properties": c.properties}) for c in issue.comments)
        out += [f"{issue.key}: {aid}" for aid, n in ids.items() if aid and n > 1]
    return out


def test_datacenter_brings_the_demo_world_to_the_same_end_state_as_cloud() -> None:
    """`clean(flavour)` runs the demo cycle and checks the second one writes nothing."""
    cloud, dc = clean("cloud"), clean("datacenter")
    assert_same_end_state(dc.state, cloud.state)

    # the same comments, transitions and edits (where the ledger travels may differ)
    def kinds(writes: tuple[tuple[str, str], ...]) -> Counter[str]:
        return Counter(kind for kind, _ in writes if kind != "ledger")

    assert kinds(dc.writes) == kinds(cloud.writes)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_cycle_whose_writes_all_fail_is_redone_by_the_next_one(flavour: str) -> None:
    server = demo_server(flavour=flavour)
    try:
        engine = make_engine(server.url, flavour=flavour)
        server.faults.set("500:1.0,only:write")
        first = engine.cycle(SANDBOX_NOW)
        # either every write failed on its own, or the circuit breaker ended the cycle early
        assert (first.complete and first.failed_actions > 0) or first.aborted, first.counts()
        assert first.total_writes == 0
        untouched = seeds.build("demo", now=SANDBOX_NOW, frozen=True)
        assert_same_end_state(end_state(server.store), end_state(untouched))
        server.faults.set(None)
        assert engine.cycle(SANDBOX_NOW).ok
        assert_same_end_state(end_state(server.store), clean(flavour).state)
    finally:
        server.stop()


class BridgeDied(BaseException):
    """The bridge process dying (kill -9): nothing in the bridge catches it."""


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_dying_after_a_comment_with_the_state_file_lost_never_posts_it_twice(
    flavour: str,
) -> None:
    """The bridge dies right after its first comment landed (before the issue's ledger
    records it) and its state file is lost: a new process, with nothing but what Jira
    holds, finishes the work without a second copy of that comment."""
    ref = clean(flavour)
    n = next(i for i, (kind, _) in enumerate(ref.writes, 1) if kind == "comment")
    key = ref.writes[n - 1][1]
    server = demo_server(flavour=flavour)
    writes = 0

    def die_after_nth_write(method: str, path: str, status: int) -> None:
        nonlocal writes
        if method in ("PUT", "POST") and "/search" not in path and 200 <= status < 300:
            writes += 1
            if writes == n:
                raise BridgeDied

    try:
        engine = make_engine(server.url, flavour=flavour, on_request=die_after_nth_write)
        with pytest.raises(BridgeDied):
            engine.cycle(SANDBOX_NOW)
        stored: Any = server.store.issue(key).properties.get("jsm-bridge") or {}
        assert not stored.get("done"), "the ledger should not hold the comment yet"
        fresh = make_engine(server.url, flavour=flavour)  # a new, empty state
        report = fresh.cycle(SANDBOX_NOW)
        assert report.ok and report.complete, report.counts()
        assert duplicates(server.store) == []
        assert_same_end_state(end_state(server.store, with_clock=False), clean_no_clock(flavour))
        assert fresh.cycle(SANDBOX_NOW).total_writes == 0
    finally:
        server.stop()


_NO_CLOCK: dict[str, dict[str, Any]] = {}


def clean_no_clock(flavour: str) -> dict[str, Any]:
    if flavour not in _NO_CLOCK:
        server = demo_server(flavour=flavour)
        try:
            make_engine(server.url, flavour=flavour).cycle(SANDBOX_NOW)
            _NO_CLOCK[flavour] = end_state(server.store, with_clock=False)
        finally:
            server.stop()
    return _NO_CLOCK[flavour]


def test_data_center_reads_a_ledger_only_where_there_is_work_and_once_per_process() -> None:
    """The ledger is read per issue that has a comment, transition or repair to make (not
    per issue read); a second cycle of the same process reads neither ledgers nor the
    bridge's own comments again."""
    server = demo_server(flavour="datacenter")
    try:
        engine = make_engine(server.url, flavour="datacenter")
        server.requests.clear()
        first = engine.cycle(SANDBOX_NOW)
        ledgers = server.requests.count(
            route="/rest/api/2/issue/{issueIdOrKey}/properties/{propertyKey}", kind="read"
        )
        with_work = sum(
            1 for o in first.outcomes if any(not a.startswith("edit") for a in o.actions)
        )
        assert 0 < ledgers == with_work < first.read
        server.requests.clear()
        second = engine.cycle(SANDBOX_NOW)
        assert second.read > 0 and second.total_writes == 0
        reads = Counter(r.route for r in server.requests.entries("read"))
        assert not [r for r in reads if "/properties/" in r or r.endswith("/comment")], reads
    finally:
        server.stop()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_portal_customer_in_no_organisation_is_a_customer_not_an_engineer(
    flavour: str, sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """A customer only the service desk's customer list knows (no organisation, not a
    contact) raises a case and asks "any update?": not a response on either dialect.
    On Data Center that list is read once per cycle that reads cases, and not at all in
    a cycle that reads none."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    sb.store.add_user(
        User(
            "qm:walkin",
            "walk-in@acme.example",
            "Walk-in Customer",
            account_type="customer",
            token=seeds.CUSTOMER_TOKEN,
            pat="pat-walk-in",
        )
    )
    created = SANDBOX_NOW - timedelta(minutes=30)
    key = new_case(sb, priority="Critical", created=created, reporter="walk-in@acme.example")
    with clock_at(sb, created + timedelta(minutes=10)):
        comment(sb, key, "Any update?", by="walk-in@acme.example")
    bridge = bridges(sb)
    sb.reset_requests()
    bridge.cycle()
    assert view(sb, key).field("SLA state") == "running"
    customer_lists = sb.requests.count(
        route="/rest/servicedeskapi/servicedesk/{serviceDeskId}/customer"
    )
    assert customer_lists == (1 if flavour == "datacenter" else 0)
    # later cycles re-read what the first one wrote (its overlap), then read nothing: a
    # cycle that reads no case asks JSM for nothing
    for _ in range(3):
        sb.advance("10m")
        sb.reset_requests()
        if bridge.cycle().report.read == 0:
            break
    assert bridge.runs[-1].report.read == 0
    assert sb.requests.count(route="/rest/servicedeskapi") == 0


def test_a_request_participant_asking_for_news_is_a_customer_on_data_center(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """A colleague of the reporter who holds a Jira account of their own (so no JSM list
    names them a customer) is added to the request as a participant and asks "any
    update?": on Data Center, where users carry no accountType, the request's participant
    list (read for this issue only) says they are on the customer's side, so the response
    clock runs on."""
    sb = sandbox_factory(seed="empty", flavour="datacenter", now=SANDBOX_NOW)
    colleague = sb.store.add_user(
        User("qm:colleague", "it-lead@acme.example", "Acme IT Lead", pat="pat-colleague")
    )
    created = SANDBOX_NOW - timedelta(minutes=30)
    key = new_case(sb, priority="Critical", created=created)
    sb.store.add_participant(sb.issue(key), colleague, at=created + timedelta(minutes=5))
    with clock_at(sb, created + timedelta(minutes=10)):
        comment(sb, key, "Any update?", by="it-lead@acme.example")
    bridge = bridges(sb)
    sb.reset_requests()
    bridge.cycle()
    assert view(sb, key).field("SLA state") == "running"
    participant_reads = sb.requests.entries("read")
    assert [r.path for r in participant_reads if r.path.endswith("/participant")] == [
        f"/rest/servicedeskapi/request/{key}/participant"
    ]
    # the next cycle re-reads the case it wrote to, not its participants (nothing new)
    sb.advance("5m")
    sb.reset_requests()
    assert bridge.cycle().report.read >= 1
    assert view(sb, key).field("SLA state") == "running"
    assert sb.requests.count(route="/rest/servicedeskapi/request/{issueIdOrKey}/participant") == 0


def test_jira_down_mid_run_on_data_center_stops_the_cycle_and_the_next_resumes(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    """(Cloud: `test_faults_e2e`.)  Connection refused is passing trouble: the cycle stops
    without moving the watermark, and the next one, Jira back, finishes the work."""
    sb = sandbox_factory(flavour="datacenter")
    state = State.open(tmp_path / "state.sqlite")
    engine = make_engine(sb.url, state=state, flavour="datacenter")
    earlier = SANDBOX_NOW - timedelta(hours=1)
    assert engine.cycle(earlier).ok
    sb.server.stop()
    down = engine.cycle(SANDBOX_NOW)
    assert down.aborted and not down.complete and not down.aborted_permanent
    assert state.get_watermark() == earlier
    again = SandboxServer(sb.store, "127.0.0.1", sb.server.port, flavour="datacenter").start()
    try:
        resumed = engine.cycle(SANDBOX_NOW)
        assert resumed.ok and resumed.complete and not resumed.full, resumed.counts()
        assert state.get_watermark() == SANDBOX_NOW
        assert engine.cycle(SANDBOX_NOW).total_writes == 0
    finally:
        again.stop()


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_account_that_may_not_silence_edits_still_writes_the_sla_fields(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """Jira refuses an edit asking not to notify watchers (``notifyUsers=false``) from an
    account without Administer Projects ("To discard the user notification either admin
    or project admin permissions are required."): the bridge makes the edit anyway, with
    notifications, rather than stopping with every field unwritten."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    account = sb.store.user_by_email(seeds.BRIDGE_EMAIL)
    assert account is not None
    account.admin = False
    key = new_case(sb, created=SANDBOX_NOW - timedelta(hours=1))
    run = bridges(sb, flavour=flavour).cycle()
    assert run.report.aborted is None
    assert view(sb, key).field("SLA state") == "running"
    assert bridges(sb, flavour=flavour).cycle().writes == 0  # nothing left to write
