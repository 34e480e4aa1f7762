"""SPEC §2 priority clauses: production-only P1–P3, installation/information P4,
feature requests capped at P3, P1 needs staff, engineer reprioritisation respected."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
from policy_factories import (
    COMPLETE_FIELDS,
    at,
    context,
    default_ruleset,
    evaluate,
    priorities,
    snapshot,
)

from bridge.policy.model import Actor, Condition, Desired, IssueSnapshot, PriorityRule, RuleSet
from bridge.policy.priority import Pipeline, decide_priority, told_change

NOW = at("2026-11-30T09:30:00+10:00")  # Mon 09:30 Brisbane; Acme cases are created Mon 09:00
RULES = default_ruleset()
STAFF_RULE_ID = "SUP-1/priority/p1-needs-customer-staff-available"
JIRA = {"P1": "Blocker", "P2": "Critical", "P3": "Major", "P4": "Minor"}


def run(case: IssueSnapshot, rules: RuleSet = RULES, now=NOW) -> Desired:
    return evaluate(case, rules, context(), now)


def fired(desired: Desired) -> list[str]:
    return [e.text for e in desired.explanation if e.topic == "priority" and "fired" in e.text]


@pytest.mark.parametrize(
    ("requested", "request_type", "fields", "expected", "rules_fired"),
    [
        # P1–P3 only for production systems
        ("Blocker", "Technical support", {"environment": "Staging"}, "P4", ["Non-production"]),
        ("Critical", "Technical support", {"environment": "Development"}, "P4", ["Non-production"]),
        ("Major", "Technical support", {"environment": None}, "P4", ["Non-production"]),
        ("Major", "Technical support", {"environment": "  "}, "P4", ["Non-production"]),
        ("Major", "Technical support", {"environment": "production"}, "P3", []),
        # installation issues and requests for information are P4
        ("Blocker", "Installation", {}, "P4", ["Installation"]),
        ("Critical", "Request for information", {}, "P4", ["Requests for information"]),
        ("Major", "request for information", {}, "P4", ["Requests for information"]),
        # feature requests and cosmetic defects are at most P3
        ("Critical", "Feature request", {}, "P3", ["Feature requests"]),
        ("Blocker", "Cosmetic defect", {}, "P3", ["Feature requests"]),
        ("Major", "Feature request", {}, "P3", ["Feature requests"]),
        ("Minor", "Feature request", {}, "P4", ["Feature requests"]),  # a cap never raises
        # P1 needs staff available; the pipeline: a capped P1 is no longer P1
        ("Blocker", "Technical support", {"staff_available": "No"}, "P2", ["P1 needs"]),
        ("Blocker", "Technical support", {"staff_available": None}, "P2", ["P1 needs"]),
        ("Blocker", "Technical support", {"staff_available": "yes"}, "P1", []),
        ("Critical", "Technical support", {"staff_available": "No"}, "P2", []),
        ("Blocker", "Feature request", {"staff_available": "No"}, "P3", ["Feature requests"]),
        # staging P1 without staff: P4 first, so the P1 rule does not fire
        ("Blocker", "Technical support", {"environment": "Test", "staff_available": "No"}, "P4",
         ["Non-production"]),
    ],
)  # fmt: skip
def test_priority_rules(requested, request_type, fields, expected, rules_fired):
    case = snapshot(priority=requested, request_type=request_type, extra_fields=fields)
    desired = run(case)
    assert desired.priority == expected
    assert desired.priority_jira == JIRA[expected]
    notes = fired(desired)
    assert len(notes) == len(rules_fired)
    for note, name in zip(notes, rules_fired, strict=True):
        assert name in note


def test_p1_without_staff_is_lowered_with_a_public_comment_naming_the_case():
    case = snapshot(priority="Blocker", extra_fields={"staff_available": "No"})
    desired = run(case)
    (c,) = [c for c in desired.comments if c.action_id == STAFF_RULE_ID]
    assert c.public
    assert c.body == (
        "SUP-1: we changed the priority from P1 to P2 (Critical): P1 needs your staff "
        "available throughout. To have P1, set Staff available to Yes once they are."
    )
    assert "P1 -> P2" in desired.priority_reason


def test_a_rule_that_changes_nothing_writes_no_comment():
    quiet = PriorityRule(
        "Already low",
        Condition(priority=("P4",)),
        set="P4",
        comment=RULES.priorities.rules[-1].comment,
    )
    rules = default_ruleset(priorities=priorities(rules=(quiet,)))
    desired = run(snapshot(priority="Minor"), rules=rules)
    assert desired.priority == "P4"
    assert desired.comments == ()
    assert "stays P4" in fired(desired)[0]


# ------------------------------------------------------------- who set the priority


def test_engineer_change_is_respected_and_due_uses_it():
    # the customer asked for Blocker on staging; an engineer made it Critical
    case = snapshot(
        priority="Critical",
        extra_fields={"environment": "Staging"},
        priority_history=[("2026-11-30T09:10:00+10:00", "Blocker", "Critical", Actor.ENGINEER)],
    )
    desired = run(case)
    assert desired.priority == "P2"
    assert desired.priority_jira == "Critical"
    assert fired(desired) == []
    assert "engineer" in desired.priority_reason
    assert desired.response_due == at("2026-11-30T15:00:00+10:00")  # 6 business hours
    assert any("engineer's choice respected" in e.text for e in desired.explanation)


def test_an_apps_priority_change_is_a_request_the_rules_weigh_not_an_engineers_choice():
    # an automation (Cloud accountType "app") made the staging case Critical: the rules
    # still apply (a non-production case is at most P3), as for a customer's request
    case = snapshot(
        priority="Critical",
        extra_fields={"environment": "Staging"},
        priority_history=[("2026-11-30T09:10:00+10:00", "Major", "Critical", Actor.APP)],
    )
    desired = run(case)
    assert desired.priority == "P4"
    assert (
        desired.priority_reason == "P4: requested P2, then Non-production systems are P4: P2 -> P4"
    )
    assert any("by an app" in e.text for e in desired.explanation)


def test_engineer_raising_to_p1_recomputes_the_due_time_from_creation():
    case = snapshot(
        priority="Blocker",
        priority_history=[("2026-11-30T11:00:00+10:00", "Major", "Blocker", Actor.ENGINEER)],
    )
    desired = run(case, now=at("2026-11-30T11:30:00+10:00"))
    assert desired.priority == "P1"
    assert desired.response_due == at("2026-11-30T13:00:00+10:00")  # created 09:00 + 4h
    clock = [e.text for e in desired.explanation if "reprioritised" in e.text]
    assert clock == [
        "reprioritised P3 -> P1: due recomputed from creation, "
        "was Tue 1 Dec 2026 17:00 AEST, now Mon 30 Nov 2026 13:00 AEST"
    ]


def test_a_customers_change_after_an_engineers_is_put_back_with_a_public_comment():
    # an engineer set Critical, then the customer raised it to Blocker on staging
    case = snapshot(
        priority="Blocker",
        extra_fields={"environment": "Staging"},
        priority_history=[
            ("2026-11-30T09:05:00+10:00", "Major", "Critical", Actor.ENGINEER),
            ("2026-11-30T09:10:00+10:00", "Critical", "Blocker", Actor.CUSTOMER),
        ],
    )
    desired = run(case)
    assert (desired.priority, desired.priority_jira) == ("P2", "Critical")
    assert not fired(desired)  # the engineer's choice stands: no rule runs
    [said] = desired.comments
    assert said.public and said.action_id == "SUP-1/priority/engineer"
    assert said.body.startswith("SUP-1: our engineer set the priority to P2 (Critical)")
    assert "put back" in desired.priority_reason


def test_respect_engineer_changes_false_lets_the_customer_and_the_rules_decide():
    rules = default_ruleset(priorities=priorities(respect_engineer_changes=False))
    case = snapshot(
        priority="Blocker",
        priority_history=[
            ("2026-11-30T09:05:00+10:00", "Major", "Critical", Actor.ENGINEER),
            ("2026-11-30T09:10:00+10:00", "Critical", "Blocker", Actor.CUSTOMER),
        ],
    )
    assert run(case, rules=rules).priority == "P1"  # the customer's later Blocker stands


def test_bridge_changes_are_ignored_when_finding_the_requested_priority():
    # created Blocker without staff; the bridge lowered it to Critical last cycle
    case = snapshot(
        priority="Critical",
        extra_fields={"staff_available": "No"},
        priority_history=[("2026-11-30T09:01:00+10:00", "Blocker", "Critical", Actor.BRIDGE)],
    )
    desired = run(case)
    assert desired.priority == "P2"
    assert any("requested P1" in e.text for e in desired.explanation)
    # the change is made; its comment keeps the id it had when the change was planned
    # (a comment that failed while the edit landed is still owed; the ledger writes it once)
    assert [c.action_id for c in desired.comments] == [STAFF_RULE_ID]


def test_each_priority_change_gets_its_own_comment_id():
    # created Blocker on staging; the bridge lowered it to Minor; the customer asked for
    # Critical since: a second change, a second comment (counted from the bridge's changes)
    case = snapshot(
        priority="Critical",
        extra_fields={"environment": "Staging"},
        priority_history=[
            ("2026-11-30T09:01:00+10:00", "Blocker", "Minor", Actor.BRIDGE),
            ("2026-11-30T09:20:00+10:00", "Minor", "Critical", Actor.CUSTOMER),
        ],
    )
    [said] = run(case).comments
    assert said.action_id == "SUP-1/priority/non-production-systems-are-p4/2"
    assert said.public and said.body.startswith("SUP-1 is now P4 (Minor): priorities P1 to P3")


def test_bridge_change_after_engineer_change_does_not_hide_the_engineer():
    case = snapshot(
        priority="Critical",
        extra_fields={"staff_available": "No"},
        priority_history=[
            ("2026-11-30T09:05:00+10:00", "Major", "Blocker", Actor.ENGINEER),
            ("2026-11-30T09:06:00+10:00", "Blocker", "Critical", Actor.BRIDGE),
        ],
    )
    desired = run(case)
    assert desired.priority == "P1"  # the engineer's Blocker is restored, rules not applied
    assert [c.action_id for c in desired.comments] == ["SUP-1/priority/engineer/2"]


def test_only_bridge_changes_and_no_initial_priority_uses_the_first_from_name():
    case = snapshot(
        priority="Minor",
        extra_fields={"environment": "Staging"},
        priority_history=[("2026-11-30T09:01:00+10:00", "Blocker", "Minor", Actor.BRIDGE)],
        initial_priority=False,
    )
    desired = run(case)
    assert desired.priority == "P4"
    assert any("requested P1" in e.text for e in desired.explanation)


def test_engineer_changes_not_respected_when_the_rules_say_so():
    rules = default_ruleset(priorities=priorities(respect_engineer_changes=False))
    case = snapshot(
        priority="Critical",
        extra_fields={"environment": "Staging"},
        priority_history=[("2026-11-30T09:10:00+10:00", "Major", "Critical", Actor.ENGINEER)],
    )
    assert run(case, rules=rules).priority == "P4"


@pytest.mark.parametrize("name", ["Trivial", None])
def test_unknown_or_absent_priority_is_treated_as_the_lowest_level(name):
    desired = run(snapshot(priority=name))
    assert desired.priority == "P4"
    assert desired.priority_jira == "Minor"
    assert any("treated as P4" in e.text for e in desired.explanation)


def test_a_jira_priority_listed_under_also_means_its_level_and_is_never_renamed():
    mapped = default_ruleset(priorities=priorities(also={"P4": ("Trivial",)}))
    case = snapshot(
        priority="Trivial",
        priority_history=[("2026-11-30T09:10:00+10:00", "Major", "Trivial", Actor.ENGINEER)],
    )
    desired = run(case, rules=mapped)
    assert (desired.priority, desired.priority_jira, desired.sla_priority) == (
        "P4",
        "Trivial",
        "P4",
    )
    assert desired.comments == ()
    # a customer's Trivial is P4 for the rules too
    assert run(snapshot(priority="Trivial"), rules=mapped).priority_jira == "Trivial"


def test_engineer_choosing_an_unmapped_priority_is_left_alone():
    case = snapshot(
        priority="Trivial",
        priority_history=[("2026-11-30T09:10:00+10:00", "Major", "Trivial", Actor.ENGINEER)],
    )
    desired = run(case)
    assert desired.priority is None and desired.priority_jira is None
    assert desired.sla_priority == "P4"


# -------------------------------------------------------------- condition vocabulary


def with_rule(when: Condition) -> RuleSet:
    return default_ruleset(priorities=priorities(rules=(PriorityRule("Lift", when, set="P1"),)))


@pytest.mark.parametrize(
    ("when", "case_kwargs", "holds"),
    [
        (Condition(field="product", in_=("NMIS", "opEvents")), {}, True),
        (Condition(field="product", in_=("opEvents",)), {}, False),
        (Condition(field="product", in_=("nmis",)), {}, True),
        (Condition(field="product", in_=("NMIS",)), {"extra_fields": {"product": None}}, False),
        (Condition(field="product", not_in=("opEvents",)), {}, True),
        (Condition(field="product", equals="nmis"), {}, True),
        (Condition(field="product", equals="NMIS 9"), {}, False),
        (Condition(field="impact", missing=True), {"extra_fields": {"impact": ""}}, True),
        (Condition(field="impact", missing=True), {}, False),
        (Condition(field="impact", missing=False), {}, True),
        (Condition(field="product", in_=("Open-AudIT",)),
         {"extra_fields": {"product": "NMIS, Open-AudIT"}}, True),
        (Condition(request_type=("technical SUPPORT",)), {}, True),
        (Condition(request_type=("Installation",)), {"request_type": None}, False),
        (Condition(labels_any=("vip", "urgent")), {"labels": ["urgent"]}, True),
        (Condition(labels_any=("vip",)), {"labels": ["other"]}, False),
        (Condition(components_any=("Poller",)), {"components": ["poller"]}, True),
        (Condition(components_any=("Poller",)), {}, False),
        (Condition(summary_matches=r"outage|down"), {"summary": "Site DOWN since 3am"}, True),
        (Condition(summary_matches=r"^outage"), {"summary": "no outage"}, False),
        (Condition(priority=("P3",)), {}, True),
        (Condition(priority=("P1", "P2")), {}, False),
        (Condition(priority=("P3",), labels_any=("vip",)), {"labels": ["vip"]}, True),
        (Condition(priority=("P3",), labels_any=("vip",)), {}, False),  # all must hold
    ],
)  # fmt: skip
def test_condition_vocabulary(when, case_kwargs, holds):
    desired = run(snapshot(priority="Major", **case_kwargs), rules=with_rule(when))
    assert desired.priority == ("P1" if holds else "P3")


@pytest.mark.parametrize(
    ("when", "why"),
    [
        (Condition(field="product", in_=("NMIS", "opEvents"), labels_any=("VIP", "urgent"),
                   components_any=("Poller",), priority=("P3",), summary_matches="DOWN"),
         "product is 'NMIS' (one of NMIS, opEvents); labelled urgent, vip; component poller; "
         "priority is P3; summary matches /DOWN/"),
        (Condition(field="impact", missing=True, not_in=("High",)),
         "impact is empty; impact is empty (not High)"),
        (Condition(field="product", equals=" nmis "), "product is ' nmis '"),
        (Condition(field="product", request_type=("technical support",)),
         "product is 'NMIS'; request type is Technical support"),
        (Condition(), "always"),
    ],
)  # fmt: skip
def test_a_fired_rule_is_explained_by_what_made_its_condition_hold(when, why):
    case = snapshot(
        priority="Major",
        labels=["urgent", "VIP", "other"],
        components=["Poller"],
        summary="Site down",
        extra_fields={"impact": None},
    )
    assert fired(run(case, rules=with_rule(when))) == [f"rule 'Lift' fired ({why}): P3 -> P1"]


def test_each_rule_sees_the_level_left_by_the_rules_before():
    rules = default_ruleset(
        priorities=priorities(
            rules=(
                PriorityRule("VIP is P1", Condition(labels_any=("vip",)), set="P1"),
                PriorityRule("P1 is checked", Condition(priority=("P1",)), cap="P2"),
            )
        )
    )
    assert run(snapshot(priority="Minor", labels=["vip"]), rules=rules).priority == "P2"
    assert run(snapshot(priority="Minor"), rules=rules).priority == "P4"


def test_a_rule_without_a_comment_uses_the_default_change_comment():
    rule = dataclasses.replace(RULES.priorities.rules[-1], name="P1 needs staff", comment=None)
    rules = default_ruleset(priorities=priorities(rules=(rule,)))
    case = snapshot(priority="Blocker", fields={**COMPLETE_FIELDS, "staff_available": "No"})
    [said] = run(case, rules=rules).comments
    assert said.public
    assert said.body == (
        "SUP-1: we changed the priority from P1 to P2 (Critical) under our support terms: "
        "P1 needs staff."
    )


def test_change_by_an_unclassified_account_is_not_an_engineer_choice():
    case = snapshot(
        priority="Blocker",
        extra_fields={"environment": "Staging"},
        priority_history=[("2026-11-30T09:10:00+10:00", "Major", "Blocker", Actor.UNKNOWN)],
    )
    desired = run(case)
    assert desired.priority == "P4"  # the rules run on it
    assert any("requested P1" in e.text for e in desired.explanation)


# ------------------------------------------------------------ what the decision reads


def only_declared(case: IssueSnapshot, pipeline: Pipeline) -> SimpleNamespace:
    """The case as the priority decision declares it reads it (its memo key): nothing else."""
    reads = pipeline.decision_reads
    attributes = {r.what: r.of(case) for r in reads if r.what != "field"}
    return SimpleNamespace(**attributes, fields={r.name: r.of(case) for r in reads if r.name})


@pytest.mark.parametrize(
    "case",
    [
        snapshot(priority="Blocker", extra_fields={"environment": "Staging"}),
        snapshot(
            priority="Blocker",
            priority_history=[
                ("2026-11-30T09:10:00+10:00", "Blocker", "Critical", Actor.ENGINEER),
                ("2026-11-30T09:20:00+10:00", "Critical", "Blocker", Actor.CUSTOMER),
            ],
        ),
        snapshot(
            priority="Minor",
            priority_history=[("2026-11-30T09:10:00+10:00", "Major", "Minor", Actor.BRIDGE)],
            initial_priority=None,
        ),
    ],
    ids=["rules", "engineer", "bridge-only"],
)
def test_the_priority_decision_reads_only_what_its_memo_key_holds(case):
    pipeline = Pipeline.of(RULES.priorities)
    assert decide_priority(only_declared(case, pipeline), pipeline) == decide_priority(
        case, pipeline
    )


def test_a_priority_comments_action_id_says_which_change_it_tells_of_whatever_the_rule() -> None:
    assert told_change("SUP-7/priority/non-production-systems-are-p4") == (
        "non-production-systems-are-p4",
        1,
    )
    assert told_change("SUP-7/priority/test-systems-are-p4") == ("test-systems-are-p4", 1)
    assert told_change("SUP-7/priority/restored/2") == ("restored", 2)
    assert told_change("SUP-7/priority/engineer/3") == ("engineer", 3)
    assert told_change("SUP-7/esc/1.0/20261125T0700Z") is None
    assert told_change("SUP-7/needs-info") is None
    assert told_change("SUP-7/priority/") is None
