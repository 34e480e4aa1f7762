"""The shipped `rules/` mean what the factories (SPEC §3's canonical YAML) mean."""

from __future__ import annotations

from pathlib import Path

import pytest
from policy_factories import (
    INTERN,
    SAM,
    at,
    comment,
    context,
    default_ruleset,
    evaluate,
    month_case,
    snapshot,
)

from bridge.policy.model import Actor
from bridge.rules.load import load_ruleset

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
MONTH = {
    "Acme Networks": [month_case(f"SUP-{n}", f"2026-11-0{n}T10:00:00+10:00") for n in (2, 3, 4, 5)]
}

CASES = {
    "plain P3": snapshot("SUP-9"),
    "everything wrong": snapshot(
        "SUP-9",
        reporter=INTERN,
        priority="Blocker",
        request_type="Screen share session",
        extra_fields={"staff_available": "No", "impact": None},
    ),
    "staging P1": snapshot(priority="Blocker", extra_fields={"environment": "Staging"}),
    "feature request": snapshot(priority="Critical", request_type="Feature request"),
    "engineer choice": snapshot(
        priority="Critical",
        extra_fields={"environment": "Staging"},
        priority_history=[("2026-11-30T09:10:00+10:00", "Blocker", "Critical", Actor.ENGINEER)],
    ),
    "enterprise": snapshot(
        organization="Globex Telecom", priority="Blocker", created="2026-11-30T09:00:00-05:00"
    ),
    "premium london": snapshot(
        organization="Initech Systems", priority="Critical", created="2026-11-30T09:00:00Z"
    ),
    "answered": snapshot(priority="Blocker", comments=[comment(SAM, "2026-11-30T10:00:00+10:00")]),
    "paused": snapshot(
        priority="Blocker", status_history=[("2026-11-30T10:00:00+10:00", "Waiting for customer")]
    ),
    "unknown": snapshot(organization="Umbrella Labs"),
}


@pytest.fixture(scope="module")
def shipped():
    return load_ruleset(RULES_DIR)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("now", ["2026-11-30T11:30:00+10:00", "2026-12-01T18:00:00+10:00"])
def test_shipped_rules_evaluate_like_the_canonical_policy(shipped, name, now):
    case = CASES[name]
    expected = evaluate(case, default_ruleset(), context(MONTH), at(now))
    actual = evaluate(case, shipped, context(MONTH), at(now))
    assert actual == expected


def test_shipped_rules_flag_what_the_terms_say(shipped):
    desired = evaluate(
        CASES["everything wrong"], shipped, context(MONTH), at("2026-11-30T17:00:00+10:00")
    )
    assert desired.priority == "P2"
    assert desired.sla_state == "breached"
    # an unauthorised, not-entitled request does not use up the quota (not_counted_flags)
    assert desired.quota is None
    assert {
        "unauthorised-contact",
        "not-entitled",
        "needs-info",
        "sla-at-risk",
        "sla-breached",
    } <= desired.labels_present


def test_shipped_placeholders_leave_a_test_environment_answered(shipped):
    """An environment "Test" is real (an option of Environment type): the shipped
    placeholders do not list it, so even where the bridge does not know the field is a
    select list the case is P4 but asks for nothing."""
    case = snapshot(priority="Critical", extra_fields={"environment": "Test"})
    desired = evaluate(case, shipped, context(MONTH), at("2026-11-30T11:30:00+10:00"))
    assert desired.priority == "P4"
    assert desired.missing_information == ()
    assert "needs-info" not in desired.labels_present
