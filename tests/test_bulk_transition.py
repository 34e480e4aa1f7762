"""Bulk transition: Jira Cloud moves many cases in one request; every other path falls back
to one request per case, and no transition is lost or made twice.

The sandbox's bulk routes answer as Jira Cloud documents them (bridge/sandbox/bulk.py);
Data Center has none."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import Sandbox, SandboxFactory
from e2e_helpers import BridgeFactory, end_state, new_case, snapshot_all

BNE = ZoneInfo("Australia/Brisbane")
NOW = datetime(2026, 11, 24, 16, 0, tzinfo=BNE)
CASES = 5
BULK = "/rest/api/3/bulk/issues/transition"
ONE = "/rest/api/2/issue/{issueIdOrKey}/transitions"


def breached_site(sandbox_factory: SandboxFactory, **kw: object) -> tuple[Sandbox, list[str]]:
    """Cases long past their response target: each is due the ladder's Escalate transition."""
    sb = sandbox_factory(seed="empty", now=NOW, **kw)  # type: ignore[arg-type]
    created = datetime(2026, 11, 23, 9, 0, tzinfo=BNE)
    keys = [
        new_case(sb, org="Globex Telecom", priority="Critical", created=created)
        for _ in range(CASES)
    ]
    return sb, keys


def transition_writes(sb: Sandbox) -> list[str]:
    return [w.route for w in sb.requests.writes if w.route in (BULK, ONE)]


def test_a_cycle_moves_its_cases_in_one_bulk_request(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb, keys = breached_site(sandbox_factory)
    bridge = bridges(sb, workers=4)
    first = bridge.cycle()
    assert transition_writes(sb) == [BULK]
    assert first.report.failed_actions == 0
    assert {end_state(sb, k).status for k in keys} == {"Escalated"}
    # recorded as made: the next cycle writes nothing
    assert bridge.cycle().writes == 0


def test_bulk_and_one_by_one_reach_the_same_end_state(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    bulk, _ = breached_site(sandbox_factory)
    alone, _ = breached_site(sandbox_factory)
    bridges(bulk).cycle()
    one_by_one = bridges(alone)
    one_by_one.engine.bulk_transitions = False
    one_by_one.cycle()
    assert transition_writes(alone) == [ONE] * CASES
    assert _without_times(snapshot_all(bulk)) == _without_times(snapshot_all(alone))


def test_without_the_bulk_change_permission_each_case_is_moved_on_its_own(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb, keys = breached_site(sandbox_factory)
    bridge = bridges(sb)
    sb.store.denied_permissions[bridge.engine.site.bridge_account_id] = {"BULK_CHANGE"}
    first = bridge.cycle()
    assert transition_writes(sb) == [BULK] + [ONE] * CASES  # refused (403), then one by one
    assert first.report.failed_actions == 0
    assert {end_state(sb, k).status for k in keys} == {"Escalated"}
    assert not bridge.engine.bulk_transitions  # not asked again by this process
    assert bridge.cycle().writes == 0


def test_a_case_the_bulk_task_could_not_move_is_tried_on_its_own(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """Between the look-up and the bulk request an agent escalated one case by hand: the
    task reports it failed, and on its own it is found already there (skipped, no error)."""
    sb, keys = breached_site(sandbox_factory)
    bridge = bridges(sb)
    store = sb.store
    escalate = next(t for t in store.transitions if t.name == "Escalate")
    original = bridge.engine.port.bulk_transition

    def agent_first(moves: dict[str, list[str]], *, patience: float) -> object:
        issue = store.issue(keys[0])
        store.transition(issue, store.user_by_email("sam.agent@vendor.example"), escalate)
        return original(moves, patience=patience)

    bridge.engine.port.bulk_transition = agent_first  # type: ignore[method-assign]
    first = bridge.cycle()
    assert first.report.failed_actions == 0
    assert {end_state(sb, k).status for k in keys} == {"Escalated"}
    progress = next(iter(store.bulk_tasks.values()))
    assert list(progress["failedAccessibleIssues"]) == [str(store.issue(keys[0]).id)]
    assert bridge.cycle().writes == 0


@pytest.mark.parametrize("mode", ["landed", "lost"])
def test_a_bulk_request_whose_answer_is_lost_moves_each_case_once(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, tmp_path: Path, mode: str
) -> None:
    """The connection drops around the bulk request (after Jira did the work, or before).
    No case is moved twice, none is lost: the next cycle reads the cases' status."""
    clean, _ = breached_site(sandbox_factory)
    bridges(clean).cycle()
    nth = 1 + [w.route for w in clean.requests.writes].index(BULK)

    sb, keys = breached_site(sandbox_factory, faults=f"fail-write:{nth}:{mode}")
    bridge = bridges(sb, state=tmp_path / "faulted.sqlite")
    bridge.engine.write_settle = bridge.engine.write_settle * 0  # faults land at once or never
    first = bridge.cycle()
    assert first.report.failed_actions == CASES  # unconfirmed, not failed for good
    second = bridge.cycle()
    assert second.report.failed_actions == 0
    assert {end_state(sb, k).status for k in keys} == {"Escalated"}
    moves = [
        item
        for k in keys
        for h in sb.store.issue(k).changelog
        for item in h.items
        if item.field == "status"
    ]
    assert len(moves) == CASES  # each case moved exactly once
    assert bridge.cycle().writes == 0
    assert _without_times(snapshot_all(sb)) == _without_times(snapshot_all(clean))


def test_data_center_has_no_bulk_transition(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(seed="empty", flavour="datacenter")
    s = sb.session()
    body = {"bulkTransitionInputs": [{"selectedIssueIdsOrKeys": ["SUP-1"], "transitionId": "1"}]}
    assert s.post(sb.url + BULK, json=body).status_code == 404


def test_the_sandbox_answers_bulk_transition_as_documented(
    sandbox_factory: SandboxFactory,
) -> None:
    sb, keys = breached_site(sandbox_factory)
    s = sb.session()
    store = sb.store
    escalate = next(t for t in store.transitions if t.name == "Escalate")
    bad = s.post(
        sb.url + BULK,
        json={
            "bulkTransitionInputs": [{"selectedIssueIdsOrKeys": ["SUP-999"], "transitionId": "1"}]
        },
    )
    assert bad.status_code == 400
    assert bad.json() == {
        "errors": [{"message": "Some of the issues in the issueIdsOrKeys are not valid"}]
    }
    made = s.post(
        sb.url + BULK,
        json={
            "bulkTransitionInputs": [
                {"selectedIssueIdsOrKeys": keys[:2], "transitionId": escalate.id},
                {"selectedIssueIdsOrKeys": [keys[2]], "transitionId": "no-such"},
            ],
            "sendBulkNotification": False,
        },
    )
    assert made.status_code == 201
    task = made.json()["taskId"]
    first = s.get(f"{sb.url}/rest/api/3/bulk/queue/{task}").json()
    assert first["status"] == "RUNNING" and "processedAccessibleIssues" not in first
    done = s.get(f"{sb.url}/rest/api/3/bulk/queue/{task}").json()
    ids = [store.issue(k).id for k in keys[:3]]
    assert done["status"] == "COMPLETE" and done["totalIssueCount"] == 3
    assert done["processedAccessibleIssues"] == ids[:2]
    assert list(done["failedAccessibleIssues"]) == [str(ids[2])]
    assert [end_state(sb, k).status for k in keys[:3]] == ["Escalated", "Escalated", "Open"]
    assert s.get(f"{sb.url}/rest/api/3/bulk/queue/4").status_code == 404


def _without_times(views: dict[str, object]) -> dict[str, object]:
    """End states to compare across two sites: what the bridge wrote, not when."""
    out: dict[str, object] = {}
    for key, view in views.items():
        v = view.__dict__
        out[key] = (
            v["status"],
            v["priority"],
            v["assignee"],
            v["labels"],
            dict(v["fields"]),
            tuple((c.body, c.public, c.action_id) for c in v["comments"]),
        )
    return out
