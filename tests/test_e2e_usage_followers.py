"""Usage limits on incremental cycles, end to end against the sandbox (both flavours).

A usage limit counts a customer's requests of a kind per contract year; the quota
counts cases per month.  An incremental cycle reads only what changed, and the later
cases of a month whose quota place moved ("followers"); whatever it re-evaluates must
be judged with the contract year's earlier requests too, or a refused request looks
entitled until the next full cycle puts its refusal back: the label flaps.

A usage-limited request that stops or starts counting (resolved as a duplicate,
reopened, moved to another organisation) decides the later requests of its contract
year, in other months, though Jira does not list them as updated: they are re-read
in the same cycle, and with them the later cases of their months.  A cycle that stops
between the change and them (SIGTERM, the site lock lost) leaves them owed to the next.

Initech Systems (Premium, 12 cases a month, one architecture workshop per contract
year from 1 April, London calendar).  The sandbox's clock: Tue 24 Nov 2026 00:00 in
London.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Sandbox, SandboxFactory
from e2e_helpers import (
    JANE,
    SAM,
    Bridge,
    BridgeFactory,
    CycleRun,
    end_state,
    new_case,
    set_fields_as,
    set_priority,
    transition,
)
from structlog.testing import capture_logs
from test_ruleset import patch, rules_copy

FLAVOURS = ["cloud", "datacenter"]
INITECH = "Initech Systems"
WORKSHOP = "Architecture workshop"
REFUSED = "is not included: the architecture workshop is included once per contract year"


def _at(month: int, day: int) -> datetime:
    return datetime.fromisoformat(f"2026-{month:02d}-{day:02d}T10:00:00+00:00")


def _settled(sb: Sandbox, bridge: Bridge) -> None:
    """A first cycle, the next (it reads the bridge's own edits back), then a quiet one."""
    bridge.cycle()
    sb.advance("10m")
    bridge.cycle()
    sb.advance("10m")
    assert bridge.cycle().writes == 0


def _writes_on(run: CycleRun, key: str) -> list[str]:
    return [w for w in run.write_routes if w.endswith(f"/{key}") or f"/{key}/" in w]


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_refused_request_re_read_as_a_follower_keeps_its_refusal(
    flavour: str, sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """June's workshop is this contract year's one; November's is refused.  A case of
    November raised before it turns out to be a duplicate: the later cases of the month
    are re-read (their quota place may move), the refused workshop among them.  It is
    still this year's second workshop: it keeps its label and comment and is not
    written to; the case after it is ranked without it (a refused request does not use
    the quota)."""
    sb = sandbox_factory(seed="empty", flavour=flavour)
    june = new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(6, 1))
    duplicate = new_case(sb, org=INITECH, created=_at(11, 2))
    refused = new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(11, 3))
    later = new_case(sb, org=INITECH, created=_at(11, 4))
    bridge = bridges(sb)
    _settled(sb, bridge)
    before = end_state(sb, refused)
    assert "not-entitled" in before.labels
    assert [c.action_id for c in before.bridge_comments_containing(REFUSED)] != []
    assert end_state(sb, later).field("Cases this month") == "2 of 12"

    sb.advance("10m")
    transition(sb, duplicate, "Resolve", by=SAM, resolution="Duplicate")
    sb.advance("10m")
    run = bridge.cycle()
    assert {refused, later} <= run.keys_read  # followers of the duplicate, re-read
    assert june not in run.keys_read
    assert _writes_on(run, refused) == []
    after = end_state(sb, refused)
    assert after.labels == before.labels
    assert after.fields == before.fields
    assert after.comments == before.comments
    assert end_state(sb, later).field("Cases this month") == "1 of 12"

    for _ in range(2):  # nothing to put back: the refusal never went
        sb.advance("10m")
        assert bridge.cycle().writes == 0
    assert end_state(sb, refused).labels == before.labels


@pytest.mark.parametrize("jql", [None, "project = SUP AND resolution = EMPTY"])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_case_read_again_is_ranked_without_the_months_refused_request(
    flavour: str, jql: str | None, sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """November's workshop is refused (June's was this contract year's one), so it does
    not use November's quota.  An agent edits a later case of November: read alone on an
    incremental cycle, it is still ranked without the refused workshop, as every full
    cycle ranks it, so its quota field stays as it was.  Ranked from the recorded cases,
    or (a scope that selects by resolution) from a search of the cases it depends on."""
    sb = sandbox_factory(seed="empty", flavour=flavour)
    new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(6, 1))
    first = new_case(sb, org=INITECH, created=_at(11, 2))
    refused = new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(11, 3))
    later = new_case(sb, org=INITECH, created=_at(11, 4))
    bridge = bridges(sb, jql=jql)
    _settled(sb, bridge)
    assert "not-entitled" in end_state(sb, refused).labels
    ranks = {k: end_state(sb, k).field("Cases this month") for k in (first, later)}
    assert ranks == {first: "1 of 12", later: "2 of 12"}

    sb.advance("10m")
    set_priority(sb, later, "Minor")
    sb.advance("10m")
    run = bridge.cycle()
    assert run.keys_read == {later}
    assert end_state(sb, later).field("Cases this month") == "2 of 12"
    assert _writes_on(run, refused) == []  # not read, and nothing said to it
    sb.advance("10m")
    bridge.cycle()  # the agent's edit and the bridge's own, read back once
    sb.advance("10m")
    assert bridge.cycle().writes == 0
    assert end_state(sb, later).field("Cases this month") == "2 of 12"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_refused_request_re_read_as_a_follower_keeps_its_refusal_when_refusals_count(
    flavour: str, sandbox_factory: SandboxFactory, bridges: BridgeFactory, tmp_path: Path
) -> None:
    """The rules count refused requests in the quota (``not_entitled`` taken out of
    ``quota.not_counted_flags``, as tiers.yaml says a lead may): a case of November that
    is not a workshop then depends on its month alone.  It turns out to be a duplicate,
    and the later cases of November are re-read, the refused workshop among them; that
    one is still this year's second workshop (June's was the first), so it keeps its
    label and is not written to, on this cycle and the next."""
    rules = rules_copy(tmp_path)
    patch(
        rules,
        "tiers.yaml",
        "not_counted_flags: [unauthorised_contact, not_entitled]",
        "not_counted_flags: [unauthorised_contact]",
    )
    sb = sandbox_factory(seed="empty", flavour=flavour)
    new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(6, 1))
    duplicate = new_case(sb, org=INITECH, created=_at(11, 2))
    refused = new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(11, 3))
    later = new_case(sb, org=INITECH, created=_at(11, 4))
    bridge = bridges(sb, rules_path=rules)
    _settled(sb, bridge)
    before = end_state(sb, refused)
    assert "not-entitled" in before.labels
    assert before.field("Cases this month") == "2 of 12"  # refused, and counted all the same
    assert end_state(sb, later).field("Cases this month") == "3 of 12"

    sb.advance("10m")
    transition(sb, duplicate, "Resolve", by=SAM, resolution="Duplicate")
    sb.advance("10m")
    run = bridge.cycle()
    assert {refused, later} <= run.keys_read
    after = end_state(sb, refused)
    assert after.labels == before.labels
    assert after.field("Cases this month") == "1 of 12"
    assert [c.body for c in after.comments] == [c.body for c in before.comments]
    assert end_state(sb, later).field("Cases this month") == "2 of 12"
    for _ in range(2):  # its own edit read back, then quiet: the label never comes back
        sb.advance("10m")
        bridge.cycle()
        assert "not-entitled" in end_state(sb, refused).labels
    sb.advance("10m")
    assert bridge.cycle().writes == 0
    sb.advance("10m")
    assert bridge.cycle(full=True).writes == 0  # what a full cycle decides too


def _quiet_then_full(sb: Sandbox, bridge: Bridge) -> None:
    """The cycle after (it reads the bridge's own writes back) writes nothing, and a full
    cycle, which judges every case afresh, finds nothing to put right either."""
    sb.advance("10m")
    assert bridge.cycle().writes == 0
    sb.advance("10m")
    assert bridge.cycle(full=True).write_routes == []


def _june_turns_out_a_duplicate(sb: Sandbox, bridge: Bridge) -> tuple[str, str, str]:
    """June's workshop, November's (refused: the contract year's one went to June's) and
    a case after it in November (first in the quota: the refused workshop uses none),
    settled; then June's is resolved as a duplicate.  Returns their keys."""
    june = new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(6, 1))
    november = new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(11, 3))
    later = new_case(sb, org=INITECH, created=_at(11, 4))
    _settled(sb, bridge)
    assert "not-entitled" in end_state(sb, november).labels
    assert end_state(sb, later).field("Cases this month") == "1 of 12"

    sb.advance("10m")
    transition(sb, june, "Resolve", by=SAM, resolution="Duplicate")
    sb.advance("10m")
    return june, november, later


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_earlier_months_workshop_resolved_as_a_duplicate_frees_a_later_months(
    flavour: str, sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """June's workshop used this contract year's one, so November's was refused and left
    out of November's quota.  June's turns out to be a duplicate: it uses nothing, and
    November's is this year's workshop after all.  The incremental cycle that reads
    June's resolution re-reads November's (Jira does not list it as updated): its
    refusal is lifted, and the case after it in November moves down a place, now that
    the workshop uses the quota.  A full cycle has nothing left to put right."""
    sb = sandbox_factory(seed="empty", flavour=flavour)
    bridge = bridges(sb)
    june, november, later = _june_turns_out_a_duplicate(sb, bridge)
    run = bridge.cycle()
    assert {june, november, later} <= run.keys_read
    assert "not-entitled" not in end_state(sb, november).labels
    assert end_state(sb, november).field("Cases this month") == "1 of 12"
    assert end_state(sb, later).field("Cases this month") == "2 of 12"
    _quiet_then_full(sb, bridge)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_earlier_workshop_moved_to_another_organisation_frees_a_later_one(
    flavour: str, sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """June's workshop was raised under the wrong organisation: an agent moves it to Acme
    Networks.  Initech's November workshop is then its contract year's first, and the
    cycle that reads the move lifts its refusal."""
    sb = sandbox_factory(seed="empty", flavour=flavour)
    june = new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(6, 1))
    november = new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(11, 3))
    bridge = bridges(sb)
    _settled(sb, bridge)
    assert "not-entitled" in end_state(sb, november).labels

    acme = sb.store.organization_by_name("Acme Networks")
    assert acme is not None
    sb.advance("10m")
    set_fields_as(sb, june, JANE, {"Organizations": [acme.id]})
    sb.advance("10m")
    run = bridge.cycle()
    assert {june, november} <= run.keys_read
    assert "not-entitled" not in end_state(sb, november).labels
    assert end_state(sb, november).field("Cases this month") == "1 of 12"
    _quiet_then_full(sb, bridge)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_earlier_workshop_reopened_refuses_a_later_one(
    flavour: str, sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """June's workshop was closed as a duplicate, so November's was this contract year's
    one.  June's is reopened: it counts again, first, and the cycle that reads it
    refuses November's (label and comment, once), which leaves November's quota, so the
    case after it moves up a place."""
    sb = sandbox_factory(seed="empty", flavour=flavour)
    june = new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(6, 1))
    november = new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(11, 3))
    later = new_case(sb, org=INITECH, created=_at(11, 4))
    sb.advance("1m")
    transition(sb, june, "Resolve", by=SAM, resolution="Duplicate")
    bridge = bridges(sb)
    _settled(sb, bridge)
    assert "not-entitled" not in end_state(sb, november).labels
    assert end_state(sb, november).bridge_comments_containing(REFUSED) == []
    assert end_state(sb, later).field("Cases this month") == "2 of 12"

    sb.advance("10m")
    transition(sb, june, "Reopen", by=SAM)
    sb.advance("10m")
    run = bridge.cycle()
    assert {june, november, later} <= run.keys_read
    refused = end_state(sb, november)
    assert "not-entitled" in refused.labels
    [told] = refused.bridge_comments_containing(REFUSED)
    assert june in told.body and told.public
    assert end_state(sb, later).field("Cases this month") == "1 of 12"
    _quiet_then_full(sb, bridge)


@pytest.mark.parametrize("jql", [None, "project = SUP AND resolution = EMPTY"])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_contract_year_beginning_mid_month(
    flavour: str,
    jql: str | None,
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
) -> None:
    """Initech's contract years begin on 15 November.  November 2026 begins in the year
    from 15 Nov 2025, so its workshop of the 3rd is refused (June's was that year's),
    and is left out of November's quota: a case of the 20th, in the year from 15 Nov
    2026, is November's first counted case.  An agent edits it; read alone on an
    incremental cycle it is ranked among the cases of the year its month begins in (not
    the year it was raised in), so its quota place stays as every full cycle writes it."""
    rules = rules_copy(tmp_path)
    patch(rules, "customers.yaml", "contract_start: 2026-04-01", "contract_start: 2025-11-15")
    sb = sandbox_factory(seed="empty", flavour=flavour)
    june = new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(6, 1))
    refused = new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(11, 3))
    later = new_case(sb, org=INITECH, created=_at(11, 20))
    bridge = bridges(sb, rules_path=rules, jql=jql)
    _settled(sb, bridge)
    [told] = end_state(sb, refused).bridge_comments_containing(REFUSED)
    assert "(from 2025-11-15)" in told.body and june in told.body
    assert end_state(sb, later).field("Cases this month") == "1 of 12"

    sb.advance("10m")
    set_priority(sb, later, "Minor")
    sb.advance("10m")
    run = bridge.cycle()
    assert run.keys_read == {later}
    assert end_state(sb, later).field("Cases this month") == "1 of 12"
    _quiet_then_full(sb, bridge)


ACME = "Acme Networks"


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_only_the_customers_a_year_decides_for_are_searched_for_a_year(
    flavour: str, sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """A scope of open cases (``resolution = EMPTY``) leaves out cases a month counts, so
    an incremental cycle searches the cases those it read are ranked among.  Initech's
    November workshop is judged with its contract year (from 1 April); Acme Networks
    (Standard: no usage-limited request) with its month alone.  Read together, each
    customer's cases are searched from its own start: Acme's thirty open cases of the
    months before November are not listed, and the cycle asks for two search pages of
    ten (the cases changed, the cases they are ranked among), not five."""
    sb = sandbox_factory(seed="empty", flavour=flavour)
    for n in range(30):  # Acme's earlier months, from April: a case a week
        new_case(sb, org=ACME, created=_at(4, 6) + timedelta(days=7 * n))
    acme = new_case(sb, org=ACME, created=_at(11, 2))
    new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(6, 1))
    workshop = new_case(sb, org=INITECH, request_type=WORKSHOP, created=_at(11, 3))
    bridge = bridges(sb, jql="project = SUP AND resolution = EMPTY", page_size=10)
    _settled(sb, bridge)
    assert "not-entitled" in end_state(sb, workshop).labels

    sb.advance("10m")
    set_priority(sb, acme, "Minor")
    set_priority(sb, workshop, "Minor")
    sb.advance("10m")
    asked = len(sb.requests.reads)
    run = bridge.cycle()
    assert run.keys_read == {acme, workshop}
    searches = [r for r in sb.requests.reads[asked:] if "search" in r.route]
    assert len(searches) == 2, [r.query for r in searches]
    assert "not-entitled" in end_state(sb, workshop).labels  # still judged with June's
    _quiet_then_full(sb, bridge)


def _stopped_cycle(bridge: Bridge) -> CycleRun:
    """A cycle asked to stop before it takes up its first case (SIGTERM, the site lock
    lost): it reads and records what changed, writes nothing, and does not complete."""
    bridge.engine.should_stop = lambda: True
    try:
        run = bridge.cycle()
    finally:
        bridge.engine.should_stop = lambda: False
    assert not run.report.complete
    assert run.writes == 0
    return run


def _carried(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The log lines saying a cycle re-reads the followers an earlier stopped one owed."""
    return [e for e in logs if e["event"].startswith("an earlier cycle stopped before")]


@pytest.mark.parametrize("stops", [1, 2])
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_usage_move_read_by_a_stopped_cycle_still_frees_the_later_request(
    flavour: str, stops: int, sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """June's workshop is resolved as a duplicate, and the cycle that reads it stops
    before anything is written (twice in a row, say, on a flaky site).  The next cycle
    reads June's again (the watermark did not move) and finds it as the state now
    records it: the change was found by the first stopped cycle, and its followers are
    still owed, whatever later cycles stopped too.  November's workshop is this year's
    one after all: its refusal is lifted, and the case after it moves down a place (a
    refused request does not use the quota)."""
    sb = sandbox_factory(seed="empty", flavour=flavour)
    bridge = bridges(sb)
    june, november, later = _june_turns_out_a_duplicate(sb, bridge)
    for _ in range(stops):
        _stopped_cycle(bridge)
        _, recorded = bridge.runtime.state.recorded_cases([june])[june]
        assert recorded.resolution == "Duplicate"  # read and recorded before it stopped
        assert bridge.runtime.state.owed_followers() != []  # still owed
        sb.advance("10m")
    run = bridge.cycle()
    assert run.report.complete
    assert {june, november, later} <= run.keys_read
    assert "not-entitled" not in end_state(sb, november).labels
    assert end_state(sb, later).field("Cases this month") == "2 of 12"
    assert bridge.runtime.state.owed_followers() == []  # re-read once, owed no more
    _quiet_then_full(sb, bridge)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_case_moved_out_read_by_a_stopped_cycle_still_moves_its_old_month_up(
    flavour: str, sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """Initech's first case of November is moved to Globex Telecom, and the cycle that
    reads it stops before anything is written; the bridge is restarted on the same
    state file.  The case is recorded under Globex now, so the restarted bridge finds
    no move: the state still says Initech's later case of November is owed a re-read,
    and it moves up a place.  The operator is told the restarted bridge re-reads what
    the stopped cycle left owed."""
    sb = sandbox_factory(seed="empty", flavour=flavour)
    moved = new_case(sb, org=INITECH, created=_at(11, 2))
    later = new_case(sb, org=INITECH, created=_at(11, 3))
    bridge = bridges(sb)
    _settled(sb, bridge)
    assert end_state(sb, later).field("Cases this month") == "2 of 12"

    globex = sb.store.organization_by_name("Globex Telecom")
    sb.advance("10m")
    set_fields_as(sb, moved, JANE, {"Organizations": [globex.id]})
    sb.advance("10m")
    with capture_logs() as logs:
        _stopped_cycle(bridge)
    assert not _carried(logs)  # it found the move itself
    organisation, _ = bridge.runtime.state.recorded_cases([moved])[moved]
    assert organisation == "globex telecom"  # read and recorded before it stopped
    restarted = bridges(sb, state=bridge.runtime.state.path)
    sb.advance("10m")
    with capture_logs() as logs:
        run = restarted.cycle()
    assert [e["moved_cases"] for e in _carried(logs)] == [1]
    assert run.report.complete
    assert later in run.keys_read
    assert end_state(sb, later).field("Cases this month") == "1 of 12"
    _quiet_then_full(sb, restarted)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_quota_place_written_by_a_stopped_cycle_still_moves_the_later_case_up(
    flavour: str, sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """Initech's first case of November is resolved as a duplicate, and the cycle that
    reads it stops right after writing it (its quota field no longer says its place
    moved).  The later case of the month is still owed a re-read: the next cycle moves
    it up a place."""
    sb = sandbox_factory(seed="empty", flavour=flavour)
    duplicate = new_case(sb, org=INITECH, created=_at(11, 2))
    later = new_case(sb, org=INITECH, created=_at(11, 3))
    bridge = bridges(sb)
    _settled(sb, bridge)
    assert end_state(sb, later).field("Cases this month") == "2 of 12"

    sb.advance("10m")
    transition(sb, duplicate, "Resolve", by=SAM, resolution="Duplicate")
    sb.advance("10m")
    asked: list[bool] = []
    bridge.engine.should_stop = lambda: asked.append(True) or len(asked) > 1
    try:
        stopped = bridge.cycle()
    finally:
        bridge.engine.should_stop = lambda: False
    assert not stopped.report.complete
    assert _writes_on(stopped, duplicate) and not _writes_on(stopped, later)
    sb.advance("10m")
    run = bridge.cycle()
    assert run.report.complete
    assert later in run.keys_read
    assert end_state(sb, later).field("Cases this month") == "1 of 12"
    _quiet_then_full(sb, bridge)
