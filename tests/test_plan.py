from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from fakes import (
    BRIDGE_PERSON,
    CREATED,
    DUE,
    MATCHING,
    desired,
    fid,
    make_fieldmap,
    resolve_priority,
    resolve_user,
    snapshot,
)

from bridge.policy.model import (
    CaseComment,
    Desired,
    DesiredComment,
    DesiredTransition,
    IssueSnapshot,
)
from bridge.sync.ledger import Ledger
from bridge.sync.plan import (
    AddComment,
    EditIssue,
    IssuePlan,
    Place,
    SetLedger,
    Transition,
    announced_may_be_on_issue,
    describe,
    place_of,
    plan_issue,
    to_json,
)


def plan(
    want: Desired,
    have: IssueSnapshot,
    raw: dict[str, Any] | None = None,
    ledger: Ledger | None = None,
    *,
    quota_type: str = "string",
) -> IssuePlan:
    return plan_issue(
        want,
        have,
        MATCHING if raw is None else raw,
        Ledger() if ledger is None else ledger,  # an empty one may still announce
        make_fieldmap(quota_type=quota_type),
        resolve_priority=resolve_priority,
        resolve_user=resolve_user,
    )


def edits(p: IssuePlan) -> list[EditIssue]:
    return [a for a in p.actions if isinstance(a, EditIssue)]


# ---------------------------------------------------------------------------- nothing to do


def test_matching_issue_plans_zero_actions() -> None:
    p = plan(desired(), snapshot())
    assert p.actions == () and not p
    assert describe(p) == [] and to_json(p) == []


def test_datetime_in_another_offset_is_the_same_instant() -> None:
    raw = dict(MATCHING)
    raw[fid("response_due")] = "2026-11-30T07:00:00.000+0000"  # 17:00 +10:00
    assert plan(desired(), snapshot(), raw).actions == ()


def test_select_option_compared_case_insensitively() -> None:
    raw = dict(MATCHING)
    raw[fid("support_tier")] = {"value": "premium"}
    assert plan(desired(), snapshot(), raw).actions == ()


def test_business_time_used_ticking_never_causes_a_write() -> None:
    later = desired(business_used=timedelta(hours=5, minutes=17))
    assert plan(later, snapshot()).actions == ()


# ----------------------------------------------------------------------- one combined edit


def test_one_edit_carries_fields_priority_assignee_and_labels() -> None:
    want = desired(
        priority="P2",
        priority_jira="Critical",
        priority_reason="P1 needs customer staff available",
        sla_state="at_risk",
        response_due=DUE + timedelta(hours=1),
        assignee="jane.engineer@vendor.example",
        labels_present=frozenset({"sla-at-risk", "over-quota"}),
    )
    have = snapshot(priority="Blocker", labels=frozenset({"vip", "over-quota"}))
    p = plan(want, have)
    [edit] = edits(p)
    assert len(p.actions) == 1
    assert edit.fields == {
        fid("response_due"): "2026-11-30T18:00:00.000+1000",
        fid("sla_state"): {"value": "at_risk"},
        "priority": {"id": "2"},
        "assignee": {"accountId": "acc-jane"},
    }
    assert edit.update == {"labels": [{"add": "sla-at-risk"}]}
    lines = describe(p)
    assert "SUP-12: priority Blocker → Critical (P1 needs customer staff available)" in lines
    assert "SUP-12: SLA state running → at_risk" in lines
    assert "SUP-12: labels +sla-at-risk" in lines


def test_labels_use_add_and_remove_verbs_and_leave_engineer_labels_alone() -> None:
    want = desired(
        labels_present=frozenset({"needs-info", "sla-breached"}),
        labels_absent=frozenset({"over-quota", "unauthorised-contact", "unknown-customer"}),
    )
    have = snapshot(labels=frozenset({"customer-vip", "over-quota", "sla-breached", "hotfix"}))
    [edit] = edits(plan(want, have))
    verbs = edit.update["labels"]
    assert verbs == [{"add": "needs-info"}, {"remove": "over-quota"}]
    assert all(set(v) <= {"add", "remove"} for v in verbs)
    assert "labels" not in edit.fields  # never a wholesale set


def test_absent_labels_not_on_the_issue_are_not_removed() -> None:
    want = desired(labels_absent=frozenset({"over-quota"}))
    assert plan(want, snapshot(labels=frozenset({"mine"}))).actions == ()


def test_label_both_wanted_and_unwanted_is_kept() -> None:
    want = desired(labels_present=frozenset({"x"}), labels_absent=frozenset({"x"}))
    assert plan(want, snapshot(labels=frozenset({"x"}))).actions == ()


def test_priority_left_alone_when_evaluation_says_none() -> None:
    want = desired(priority=None, priority_jira=None)
    assert plan(want, snapshot(priority="Trivial")).actions == ()


def test_priority_name_compared_case_insensitively() -> None:
    assert plan(desired(priority_jira="major"), snapshot(priority="Major")).actions == ()


def test_assignee_already_set_is_not_rewritten() -> None:
    want = desired(assignee="jane.engineer@vendor.example")
    assert plan(want, snapshot(assignee="Jane.Engineer@vendor.example")).actions == ()
    assert plan(want, snapshot(assignee="acc-jane")).actions == ()


def test_unknown_assignee_is_a_note_not_a_write() -> None:
    p = plan(desired(assignee="nobody@vendor.example"), snapshot())
    assert p.actions == ()
    assert p.notes and "nobody@vendor.example" in p.notes[0]
    assert any("skipped" in line for line in describe(p))


def test_data_center_assignee_is_written_by_name() -> None:
    p = plan_issue(
        desired(assignee="jane.engineer@vendor.example"),
        snapshot(),
        MATCHING,
        Ledger(),
        make_fieldmap(),
        resolve_priority=resolve_priority,
        resolve_user=lambda email: "jane",
        user_ref_key="name",
    )
    assert edits(p)[0].fields == {"assignee": {"name": "jane"}}


# --------------------------------------------------------------------------- field shapes


def test_quota_on_a_text_field_is_rank_of_limit() -> None:
    raw = {**MATCHING, fid("quota_usage"): "4 of 4"}
    [edit] = edits(plan(desired(), snapshot(), raw))
    assert edit.fields == {fid("quota_usage"): "5 of 4"}


def test_quota_on_a_number_field_is_the_rank() -> None:
    raw = {**MATCHING, fid("quota_usage"): 4.0}
    [edit] = edits(plan(desired(), snapshot(), raw, quota_type="number"))
    assert edit.fields == {fid("quota_usage"): 5}
    same = {**MATCHING, fid("quota_usage"): 5.0}
    assert plan(desired(), snapshot(), same, quota_type="number").actions == ()


def test_empty_issue_gets_every_field_written_in_its_shape() -> None:
    p = plan(desired(), snapshot(), {})
    [edit] = edits(p)
    assert edit.fields == {
        fid("response_due"): "2026-11-30T17:00:00.000+1000",
        fid("sla_state"): {"value": "running"},
        fid("support_tier"): {"value": "Premium"},
        fid("quota_usage"): "5 of 4",
    }
    assert "SUP-12: response due (empty) → 2026-11-30T17:00+10:00" in describe(p)


def test_unconfigured_field_is_not_written() -> None:
    p = plan_issue(
        desired(),
        snapshot(),
        {},
        Ledger(),
        make_fieldmap(omit=("quota_usage",)),
        resolve_priority=resolve_priority,
        resolve_user=resolve_user,
    )
    assert fid("quota_usage") not in edits(p)[0].fields


def test_unknown_customer_clears_fields_that_have_a_value() -> None:
    want = desired(
        known_customer=False,
        tier=None,
        quota=None,
        response_due=None,
        sla_state="none",
        priority=None,
        priority_jira=None,
    )
    [edit] = edits(plan(want, snapshot()))
    assert edit.fields == {
        fid("response_due"): None,
        fid("sla_state"): None,
        fid("support_tier"): None,
        fid("quota_usage"): None,
    }


def test_unknown_customer_with_empty_fields_plans_nothing() -> None:
    want = desired(known_customer=False, tier=None, quota=None, response_due=None, sla_state="none")
    empty = {fid("response_due"): None, fid("sla_state"): None}
    assert plan(want, snapshot(), empty).actions == ()


def test_only_the_fields_that_differ_are_sent() -> None:
    raw = {**MATCHING, fid("sla_state"): {"value": "paused"}}
    [edit] = edits(plan(desired(), snapshot(), raw))
    assert edit.fields == {fid("sla_state"): {"value": "running"}}


# ------------------------------------------------------------------ comments and transitions

NEEDS_INFO = DesiredComment("SUP-12:needs-info", True, "To work on SUP-12 we still need: Impact.")
HALF = DesiredComment("SUP-12:ladder-0:2026-11-30T07:00Z", False, "SUP-12 (P2) used half its time")
ESCALATE = DesiredTransition("SUP-12:ladder-2:transition:2026-11-30T07:00Z", "Escalate")


def test_comments_and_transitions_are_planned_with_visibility() -> None:
    p = plan(desired(comments=(NEEDS_INFO, HALF), transitions=(ESCALATE,)), snapshot())
    assert p.actions == (
        AddComment("SUP-12", NEEDS_INFO.action_id, NEEDS_INFO.body, internal=False),
        AddComment("SUP-12", HALF.action_id, HALF.body, internal=True),
        Transition("SUP-12", ESCALATE.action_id, "Escalate"),
    )
    lines = describe(p)
    assert "SUP-12: comment (public) 'To work on SUP-12 we still need: Impact.'" in lines
    assert "SUP-12: comment (internal) 'SUP-12 (P2) used half its time'" in lines
    assert "SUP-12: transition 'Escalate'" in lines


def test_action_in_the_ledger_is_not_planned_again() -> None:
    ledger = (
        Ledger().with_done(NEEDS_INFO.action_id, CREATED).with_done(ESCALATE.action_id, CREATED)
    )
    want = desired(comments=(NEEDS_INFO,), transitions=(ESCALATE,))
    assert plan(want, snapshot(), ledger=ledger).actions == ()


def test_skipped_transition_is_not_planned_again() -> None:
    ledger = Ledger().with_skipped(ESCALATE.action_id, CREATED)
    assert plan(desired(transitions=(ESCALATE,)), snapshot(), ledger=ledger).actions == ()


def test_comment_already_on_the_issue_repairs_the_ledger_instead_of_repeating() -> None:
    written = CaseComment(
        "c1", BRIDGE_PERSON, CREATED + timedelta(minutes=5), True, action_id=NEEDS_INFO.action_id
    )
    p = plan(desired(comments=(NEEDS_INFO,)), snapshot(comments=(written,)))
    assert not any(isinstance(a, AddComment) for a in p.actions)
    [fix] = p.actions
    assert isinstance(fix, SetLedger)
    assert fix.ledger.handled(NEEDS_INFO.action_id)
    assert p.ledger == fix.ledger
    # once the ledger says so, nothing at all
    again = plan(desired(comments=(NEEDS_INFO,)), snapshot(comments=(written,)), ledger=p.ledger)
    assert again.actions == ()


def test_a_correction_of_a_comment_whose_answer_was_lost_waits_for_a_look_at_the_issue() -> None:
    """The over-quota comment was posted and its answer lost (the ledger announces it):
    its correction is not planned on the ledger's word alone, and the plan says the
    issue's comments are to be read; there, the comment found, the correction is due."""
    told = DesiredComment("SUP-12/over-quota", True, "SUP-12 is case 5 of 4.")
    correction = DesiredComment(
        "SUP-12/over-quota/cleared", True, "SUP-12 is within the quota.", follows=told.action_id
    )
    ledger = Ledger().with_telling((told.action_id,), CREATED)
    blind = plan(desired(comments=(correction,)), snapshot(), ledger=ledger)
    assert not any(isinstance(a, AddComment) for a in blind.actions)
    assert blind.follows_announced == (told.action_id,)
    assert announced_may_be_on_issue(blind)
    # a correction of a comment nobody announced is no reason to read anything
    assert not announced_may_be_on_issue(plan(desired(comments=(correction,)), snapshot()))

    found = CaseComment(
        "c1", BRIDGE_PERSON, CREATED + timedelta(minutes=5), True, action_id=told.action_id
    )
    seen = plan(desired(comments=(correction,)), snapshot(comments=(found,)), ledger=ledger)
    assert [a.action_id for a in seen.actions if isinstance(a, AddComment)] == [
        correction.action_id
    ]
    assert seen.announced_found == (told.action_id,)


def test_duplicate_action_ids_in_desired_are_planned_once() -> None:
    p = plan(desired(comments=(NEEDS_INFO, NEEDS_INFO)), snapshot())
    assert len(p.actions) == 1


def test_damaged_ledger_is_rewritten() -> None:
    ledger = Ledger.from_json({"done": {NEEDS_INFO.action_id: "2026-11-27T00:00:00+00:00"}})
    p = plan(desired(comments=(NEEDS_INFO,)), snapshot(), ledger=ledger)
    [fix] = p.actions
    assert isinstance(fix, SetLedger) and not fix.ledger.needs_repair
    assert fix.ledger.handled(NEEDS_INFO.action_id)


def test_plan_json_is_serialisable_and_complete() -> None:
    want = desired(
        sla_state="breached",
        comments=(HALF,),
        transitions=(ESCALATE,),
        labels_present=frozenset({"sla-breached"}),
    )
    out = to_json([plan(want, snapshot()), plan(desired(), snapshot())])
    text = json.dumps(out)
    [issue] = json.loads(text)
    assert issue["key"] == "SUP-12"
    assert [a["kind"] for a in issue["actions"]] == ["edit", "comment", "transition"]
    assert issue["actions"][0]["update"] == {"labels": [{"add": "sla-breached"}]}
    assert issue["actions"][1]["internal"] is True


@pytest.mark.parametrize("state", ["met", "missed", "paused", "breached"])
def test_state_change_is_a_single_field_write(state: str) -> None:
    [edit] = edits(plan(desired(sla_state=state), snapshot()))
    assert edit.fields == {fid("sla_state"): {"value": state}}
    assert edit.update == {}


def test_a_comment_is_described_whole_on_one_line() -> None:
    body = "SUP-12: we still need\n  the product version " + "x" * 200
    [line] = describe(plan(desired(comments=(DesiredComment("id", True, body),)), snapshot()))
    assert (
        line
        == "SUP-12: comment (public) 'SUP-12: we still need the product version " + "x" * 200 + "'"
    )


# ------------------------------------------------------------------------- workflow place


def test_the_plan_carries_where_the_issue_stands_in_its_workflow() -> None:
    raw = {
        "status": {"id": "4", "name": "Escalated"},
        "issuetype": {"id": "10100", "name": "Support"},
        "project": {"key": "HELP"},
    }
    place = place_of("SUP-12", raw)
    assert place == Place("HELP", "10100", "4", "Escalated")
    assert place.workflow_key == ("HELP", "10100", "4")


def test_a_place_without_issue_type_or_status_id_is_not_shared_with_other_issues() -> None:
    # the project falls back to the key's prefix; without a type the workflow is unknown
    place = place_of("SUP-12", {"status": {"id": "4", "name": "Escalated"}})
    assert place.project == "SUP" and place.workflow_key is None
    assert place_of("SUP-12", {"issuetype": {"id": "1"}}).workflow_key is None
