"""SPEC §2 automated escalation: the ladder, stable action ids, templates, wake-ups."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest
from policy_factories import (
    INTERN,
    SAM,
    at,
    comment,
    comment_template,
    context,
    default_ruleset,
    evaluate,
    month_case,
    snapshot,
)

from bridge.policy.model import (
    Actor,
    AssigneeChange,
    Desired,
    EscalationAction,
    EscalationStep,
    FlagPolicy,
    IssueSnapshot,
    RuleSet,
)

RULES = default_ruleset()
#: the rules with every flagged case counted for the quota (quota.not_counted_flags: []),
#: so one case can hold every condition at once, over quota included
COUNT_ALL = dataclasses.replace(
    RULES, quota=dataclasses.replace(RULES.quota, not_counted_flags=frozenset())
)
# an Acme P1 created Mon 30 Nov 09:00 Brisbane: 50 % 11:00, 75 % 12:00, due 13:00 (03:00Z)
DUE_STAMP = "20261130T0300Z"


def run(case: IssueSnapshot, now: str, rules: RuleSet = RULES) -> Desired:
    return evaluate(case, rules, context(), at(now))


def p1(**kwargs) -> IssueSnapshot:
    return snapshot(priority="Blocker", **kwargs)


@pytest.mark.parametrize(
    ("now", "steps"),
    [
        ("2026-11-30T10:59:00+10:00", ()),
        ("2026-11-30T11:00:00+10:00", (0,)),
        ("2026-11-30T11:59:00+10:00", (0,)),
        ("2026-11-30T12:00:00+10:00", (0, 1)),
        ("2026-11-30T13:00:00+10:00", (0, 1)),  # the due instant: not breached yet
        ("2026-11-30T13:00:01+10:00", (0, 1, 2)),
        ("2026-12-03T09:00:00+10:00", (0, 1, 2)),
    ],
)
def test_steps_reached_by_share_of_the_target(now, steps):
    assert run(p1(), now).escalation_steps == steps


def test_half_way_step_is_only_for_p1_and_p2():
    # P3 created Mon 09:00: due Tue 17:00 (16h); half-way is Tue 09:00
    desired = run(snapshot(priority="Major"), "2026-12-01T09:00:00+10:00")
    assert desired.escalation_steps == ()
    assert desired.comments == ()
    desired = run(snapshot(priority="Major"), "2026-12-01T13:00:00+10:00")  # 75 %
    assert desired.escalation_steps == (1,)
    p2 = run(snapshot(priority="Critical"), "2026-11-30T12:00:00+10:00")  # 3h of 6h
    assert p2.escalation_steps == (0,)


def test_half_way_comment_is_internal_with_a_stable_id_and_names_the_case():
    desired = run(p1(), "2026-11-30T11:00:00+10:00")
    assert [(c.action_id, c.public, c.body) for c in desired.comments] == [
        (
            f"SUP-1/esc/0.0/{DUE_STAMP}",
            False,
            "SUP-1 (P1, Acme Networks) has used half its response time; "
            "due Mon 30 Nov 2026 13:00 AEST.",
        )
    ]


def test_several_steps_reached_at_once_all_apply_in_order():
    # the bridge was down all day: every step applies on the next cycle
    desired = run(p1(), "2026-11-30T16:00:00+10:00")
    assert desired.escalation_steps == (0, 1, 2)
    assert [c.action_id for c in desired.comments] == [
        f"SUP-1/esc/0.0/{DUE_STAMP}",
        f"SUP-1/esc/1.3/{DUE_STAMP}",
        f"SUP-1/esc/2.2/{DUE_STAMP}",
    ]
    assert desired.comments[1].body.startswith("priya.lead@vendor.example: SUP-1 (P1, Standard")
    assert desired.comments[2].body == (
        "SUP-1 breached its P1 response target (Mon 30 Nov 2026 13:00 AEST)."
    )
    assert {"sla-at-risk", "sla-breached"} <= desired.labels_present
    assert [(t.action_id, t.name) for t in desired.transitions] == [
        (f"SUP-1/esc/2.1/{DUE_STAMP}/escalate", "Escalate")
    ]
    # Acme has no named engineer: that assign is skipped (explain says so) and the
    # regional lead of its calendar is assigned instead
    assert desired.assignee == "priya.lead@vendor.example"
    texts = [e.text for e in desired.explanation if e.topic == "escalation"]
    assert any(
        "assign skipped: Acme Networks has no named engineer, assign to priya.lead" in t
        for t in texts
    ), texts


def test_ladder_never_assigns_a_case_a_person_unassigned():
    # defect 10: the changelog shows an engineer unassigned it; nobody owns it now
    case = dataclasses.replace(
        p1(),
        assignee_history=(AssigneeChange(at("2026-11-30T09:30:00+10:00"), Actor.ENGINEER, None),),
    )
    desired = run(case, "2026-11-30T16:00:00+10:00")
    assert desired.escalation_steps == (0, 1, 2)
    assert desired.assignee is None
    texts = [e.text for e in desired.explanation if e.topic == "escalation"]
    assert any("a person assigned or unassigned the case before" in t for t in texts), texts
    by_bridge = dataclasses.replace(
        p1(),
        assignee_history=(AssigneeChange(at("2026-11-30T09:30:00+10:00"), Actor.BRIDGE, None),),
    )
    assert run(by_bridge, "2026-11-30T16:00:00+10:00").assignee == "priya.lead@vendor.example"


@pytest.mark.parametrize(
    ("mention", "shown"),
    [
        ("[~accountid:5b10a2844c20165700ede21g]", "[~accountid:5b10a2844c20165700ede21g]"),
        ("[~priya.lead]", "[~priya.lead]"),  # Data Center: by user name
        ("[Pay here|https://x.example]", "Pay here https://x.example"),  # not a mention
    ],
)
def test_the_help_call_mentions_the_regional_lead_as_jira_knows_them(mention, shown):
    ctx = dataclasses.replace(context(), mentions={"priya.lead@vendor.example": mention})
    desired = evaluate(p1(), RULES, ctx, at("2026-11-30T12:00:00+10:00"))
    (help_call,) = [c for c in desired.comments if "/esc/1.3/" in c.action_id]
    assert help_call.body.startswith(f"{shown}: SUP-1 (P1, Standard, Acme Networks)")


def test_ladder_labels_are_a_record_never_removed():
    desired = run(p1(), "2026-11-30T10:00:00+10:00")
    assert not {"sla-at-risk", "sla-breached"} & desired.labels_absent
    answered = run(
        p1(comments=[comment(SAM, "2026-11-30T14:00:00+10:00")]), "2026-11-30T16:00:00+10:00"
    )
    assert not {"sla-at-risk", "sla-breached"} & answered.labels_absent


def test_ladder_assigns_the_named_engineer_when_the_case_is_unassigned():
    rules = default_ruleset(
        customers={
            **RULES.customers,
            # a standard customer that has an engineer on file (not entitled to the rule)
            "Acme Networks": dataclasses.replace(
                RULES.customers["Acme Networks"], named_engineer="priya.lead@vendor.example"
            ),
        }
    )
    desired = run(p1(), "2026-11-30T12:00:00+10:00", rules=rules)
    assert desired.assignee == "priya.lead@vendor.example"
    assigned = run(p1(assignee="sam.agent@vendor.example"), "2026-11-30T12:00:00+10:00", rules)
    assert assigned.assignee is None


def test_ladder_assigns_a_literal_account():
    step = EscalationStep(
        0, 0.5, None, (EscalationAction("assign", assign="priya.lead@vendor.example"),)
    )
    rules = default_ruleset(escalation=(step,))
    assert run(p1(), "2026-11-30T11:00:00+10:00", rules).assignee == "priya.lead@vendor.example"
    assert run(p1(), "2026-11-30T10:00:00+10:00", rules).assignee is None


def test_enterprise_named_engineer_comes_before_the_ladder():
    case = p1(organization="Globex Telecom", created="2026-11-30T09:00:00-05:00")
    desired = run(case, "2026-11-30T16:00:00-05:00")
    assert desired.assignee == "jane.engineer@vendor.example"
    assert desired.escalation_steps == (0, 1, 2)
    # New York ladder ids carry the due time in UTC: 13:00 EST = 18:00Z
    assert desired.comments[0].action_id == "SUP-1/esc/0.0/20261130T1800Z"


@pytest.mark.parametrize(
    "case",
    [
        p1(comments=[comment(SAM, "2026-11-30T10:00:00+10:00")]),  # answered in time
        p1(comments=[comment(SAM, "2026-11-30T14:00:00+10:00")]),  # answered late
        p1(status_history=[("2026-11-30T11:30:00+10:00", "Work in progress")]),
        p1(status_history=[("2026-11-30T10:00:00+10:00", "Pending approval")]),  # held
        p1(status_history=[("2026-11-30T10:00:00+10:00", "Resolved")]),
    ],
)
def test_no_ladder_once_answered_paused_or_resolved(case):
    # first seen well after the answer: no steps at all, even those "missed" while running
    desired = run(case, "2026-11-30T16:00:00+10:00")
    assert desired.escalation_steps == ()
    assert not any("/esc/" in c.action_id for c in desired.comments)
    assert not any("/esc/" in t.action_id for t in desired.transitions)
    assert not {"sla-at-risk", "sla-breached"} & desired.labels_present
    assert desired.next_wakeup is None


def test_ladder_ids_stay_when_a_hold_moves_the_due_time():
    # defect 6: a step taken before a hold is the same step after it
    before = run(p1(), "2026-11-30T11:00:00+10:00")
    held = p1(
        status_history=[
            ("2026-11-30T11:10:00+10:00", "Pending approval"),
            ("2026-11-30T11:40:00+10:00", "Open"),
        ]
    )
    after = run(held, "2026-11-30T12:00:00+10:00")
    assert after.response_due == at("2026-11-30T13:30:00+10:00")  # 30 min held
    assert before.comments[0].action_id == f"SUP-1/esc/0.0/{DUE_STAMP}"
    assert after.comments[0].action_id == f"SUP-1/esc/0.0/{DUE_STAMP}"
    assert "13:30" in after.comments[0].body  # the text tells the moved due time


def test_ladder_ids_change_when_a_new_priority_recomputes_the_due_time():
    p1_ids = {c.action_id for c in run(p1(), "2026-11-30T12:00:00+10:00").comments}
    p2 = snapshot(priority="Critical")  # due 15:00: half-way is 12:00
    p2_ids = {c.action_id for c in run(p2, "2026-11-30T12:00:00+10:00").comments}
    assert p1_ids and p2_ids and not p1_ids & p2_ids


# ------------------------------------------------------------------- stable ids


def awkward_case() -> IssueSnapshot:
    """Unauthorised, not entitled, over quota, missing info, P1 without staff."""
    return snapshot(
        "SUP-9",
        reporter=INTERN,
        priority="Blocker",
        request_type="Screen share session",
        extra_fields={"staff_available": "No", "impact": None},
    )


def awkward_context():
    month = [month_case(f"SUP-{n}", f"2026-11-0{n}T10:00:00+10:00") for n in (2, 3, 4, 5)]
    return context({"Acme Networks": month})


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("2026-11-30T09:05:00+10:00", "2026-11-30T09:55:00+10:00"),
        ("2026-11-30T12:00:00+10:00", "2026-11-30T16:00:00+10:00"),
        ("2026-11-30T16:00:00+10:00", "2026-12-04T09:00:00+10:00"),
    ],
)
def test_action_ids_are_identical_across_evaluations_at_different_times(first, second):
    a = evaluate(awkward_case(), COUNT_ALL, awkward_context(), at(first))
    b = evaluate(awkward_case(), COUNT_ALL, awkward_context(), at(second))
    ids_a = {c.action_id: c.body for c in a.comments}
    ids_b = {c.action_id: c.body for c in b.comments}
    shared = ids_a.keys() & ids_b.keys()
    assert {
        "SUP-9/unauthorised-contact",
        "SUP-9/over-quota",
        "SUP-9/not-entitled",
        "SUP-9/priority/p1-needs-customer-staff-available",
        "SUP-9/needs-info",
    } <= shared
    # the same id always carries the same text
    assert all(ids_a[i] == ids_b[i] for i in shared)
    # every id present earlier is present later (steps fire once; later cycles repeat them)
    assert ids_a.keys() <= ids_b.keys()
    assert {t.action_id for t in a.transitions} <= {t.action_id for t in b.transitions}


def test_every_comment_names_the_case_key():
    desired = evaluate(
        awkward_case(), COUNT_ALL, awkward_context(), at("2026-11-30T17:00:00+10:00")
    )
    assert len(desired.comments) == 8  # five conditions + three ladder comments
    for c in desired.comments:
        assert "SUP-9" in c.body
        assert "{" not in c.body and "}" not in c.body


def test_templates_fill_every_placeholder():
    text = (
        "{key}|{priority}|{priority_name}|{due}|{tier}|{organization}|{reporter}|"
        "{request_type}|{quota_used}|{quota_limit}|{missing}"
    )
    rules = dataclasses.replace(
        COUNT_ALL, unauthorised_contact=FlagPolicy("x", comment_template(text))
    )
    case = snapshot(
        "SUP-9",
        reporter=INTERN,
        priority="Critical",
        extra_fields={"impact": None, "contact_phone": ""},
    )
    desired = evaluate(case, rules, awkward_context(), at("2026-11-30T09:30:00+10:00"))
    (c,) = [c for c in desired.comments if c.action_id == "SUP-9/unauthorised-contact"]
    assert c.body.split("|") == [
        "SUP-9",
        "P2",
        "Critical",
        "Mon 30 Nov 2026 15:00 AEST",
        "Standard",
        "Acme Networks",
        "Acme Intern <intern@acme.example>",
        "Technical support",
        "5",
        "4",
        "Contact phone or Skype, Impact",
    ]


# ------------------------------------------------------------------------ wake-ups


@pytest.mark.parametrize(
    ("now", "wakeup"),
    [
        ("2026-11-30T09:30:00+10:00", "2026-11-30T11:00:00+10:00"),  # the 50 % step
        ("2026-11-30T11:00:00+10:00", "2026-11-30T12:00:00+10:00"),  # 75 %: at risk + step
        ("2026-11-30T12:30:00+10:00", "2026-11-30T13:00:01+10:00"),  # just after due
        ("2026-11-30T13:00:00+10:00", "2026-11-30T13:00:01+10:00"),  # at due: not breached
        ("2026-11-30T13:30:00+10:00", None),  # everything reached
        ("2026-11-27T12:00:00+10:00", "2026-11-30T11:00:00+10:00"),  # before creation
    ],
)
def test_next_wakeup_is_the_next_time_driven_change(now, wakeup):
    desired = run(p1(), now)
    assert desired.next_wakeup == (at(wakeup) if wakeup else None)


def test_next_wakeup_for_p3_skips_steps_that_do_not_apply():
    # P3 due Tue 17:00 (16h): 50 % step is P1/P2 only, so next is 75 % = Tue 13:00
    desired = run(snapshot(priority="Major"), "2026-11-30T10:00:00+10:00")
    assert desired.next_wakeup == at("2026-12-01T13:00:00+10:00")


def test_explain_names_the_steps_reached_and_the_next_one():
    desired = run(p1(), "2026-11-30T11:30:00+10:00")
    notes = [e.text for e in desired.explanation if e.topic == "escalation"]
    assert notes[0].startswith("step 1 at 50% reached")
    assert notes[-1] == "next step 2 at 75%: Mon 30 Nov 2026 12:00 AEST"


# ------------------------------------------------------------------ explain off


@pytest.mark.parametrize(
    "now", ["2026-11-30T09:30:00+10:00", "2026-11-30T12:00:00+10:00", "2026-11-30T17:00:00+10:00"]
)
def test_without_explanation_the_decisions_are_the_same(now):
    ctx = awkward_context()
    quiet = dataclasses.replace(ctx, explain=False)
    for case in (awkward_case(), p1(), snapshot(organization="Umbrella Labs")):
        loud = evaluate(case, RULES, ctx, at(now))
        silent = evaluate(case, RULES, quiet, at(now))
        assert loud.explanation
        assert silent.explanation == ()
        assert dataclasses.replace(loud, explanation=()) == silent


def test_due_stamps_tell_the_two_instants_of_a_repeated_hour_apart():
    """Each due time carries its stamp, made from the instant in UTC: New York's 01:30
    on 1 Nov 2026 happens twice (EDT, then EST), and the two wall-clock-equal times
    stamp apart."""
    from zoneinfo import ZoneInfo

    from bridge.policy.sla import due_stamp

    first = datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    second = first.replace(fold=1)
    assert due_stamp(first) == "20261101T0530Z"
    assert due_stamp(second) == "20261101T0630Z"
