"""SPEC §2 response clauses: targets on the customer's calendar, first response,
pauses, and every SLA state."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from policy_factories import (
    BRIDGE,
    INTERN,
    OPS,
    SAM,
    at,
    comment,
    context,
    default_ruleset,
    evaluate,
    response,
    snapshot,
)

from bridge.policy.clock import BusinessCalendar
from bridge.policy.model import (
    Actor,
    Desired,
    IssueSnapshot,
    Person,
    RuleSet,
    Target,
)
from bridge.policy.sla import is_bridge, target_due

RULES = default_ruleset()
MON_0900 = "2026-11-30T09:00:00+10:00"  # Acme (Brisbane, UTC+10, no DST)


def run(case: IssueSnapshot, now: str, rules: RuleSet = RULES) -> Desired:
    return evaluate(case, rules, context(), at(now))


# ---------------------------------------------------------------------- due times


@pytest.mark.parametrize(
    ("organization", "priority", "created", "due"),
    [
        # P1 4h, P2 6h business hours; P3/P4 next business day (Brisbane)
        ("Acme Networks", "Blocker", "2026-11-30T09:00:00+10:00", "2026-11-30T13:00:00+10:00"),
        ("Acme Networks", "Critical", "2026-11-30T09:00:00+10:00", "2026-11-30T15:00:00+10:00"),
        ("Acme Networks", "Blocker", "2026-11-27T15:00:00+10:00", "2026-11-30T11:00:00+10:00"),
        ("Acme Networks", "Blocker", "2026-11-28T10:00:00+10:00", "2026-11-30T13:00:00+10:00"),
        ("Acme Networks", "Blocker", "2026-11-30T13:00:00+10:00", "2026-11-30T17:00:00+10:00"),
        ("Acme Networks", "Critical", "2026-11-30T16:00:00+10:00", "2026-12-01T14:00:00+10:00"),
        ("Acme Networks", "Major", "2026-11-30T08:00:00+10:00", "2026-12-01T17:00:00+10:00"),
        ("Acme Networks", "Major", "2026-11-30T16:59:00+10:00", "2026-12-01T17:00:00+10:00"),
        ("Acme Networks", "Minor", "2026-11-27T11:00:00+10:00", "2026-11-30T17:00:00+10:00"),
        ("Acme Networks", "Minor", "2026-11-29T11:00:00+10:00", "2026-11-30T17:00:00+10:00"),
        # holidays: 24 Dec (extra), 25 Dec, 28 Dec (Boxing Day observed) in Queensland
        ("Acme Networks", "Major", "2026-12-23T10:00:00+10:00", "2026-12-29T17:00:00+10:00"),
        ("Acme Networks", "Blocker", "2026-12-23T15:00:00+10:00", "2026-12-29T11:00:00+10:00"),
        # other customers' calendars: New York (Thanksgiving 26 Nov) and London
        ("Globex Telecom", "Blocker", "2026-11-25T15:00:00-05:00", "2026-11-27T11:00:00-05:00"),
        ("Globex Telecom", "Major", "2026-11-30T10:00:00-05:00", "2026-12-01T17:00:00-05:00"),
        ("Initech Systems", "Critical", "2026-11-30T12:00:00+00:00", "2026-12-01T10:00:00+00:00"),
    ],
)
def test_response_due_on_the_customer_calendar(organization, priority, created, due):
    case = snapshot(created=created, organization=organization, priority=priority)
    desired = run(case, created)
    assert desired.response_due == at(due)
    assert desired.response_due is not None
    assert desired.response_due.utcoffset() == at(due).utcoffset()  # in the calendar's zone
    assert desired.sla_priority is not None


def test_target_is_a_business_duration_and_next_business_day_counts_from_creation():
    p1 = run(snapshot(priority="Blocker"), MON_0900)
    assert p1.target == timedelta(hours=4)
    # created Mon 08:00: the rest of Monday (8h) and Tuesday (8h)
    p3 = run(snapshot(priority="Major", created="2026-11-30T08:00:00+10:00"), MON_0900)
    assert p3.target == timedelta(hours=16)
    p3_late = run(snapshot(priority="Major", created="2026-11-30T16:00:00+10:00"), MON_0900)
    assert p3_late.target == timedelta(hours=9)


def test_customer_without_calendar_entry_uses_the_default_calendar_for_the_due_time():
    rules = default_ruleset(calendars={"brisbane": RULES.calendars["brisbane"]})
    case = snapshot(organization="Initech Systems", created="2026-11-30T09:00:00+10:00")
    desired = run(case, MON_0900, rules=rules)
    assert desired.calendar == "brisbane"
    assert desired.response_due == at("2026-12-01T17:00:00+10:00")


# ------------------------------------------------------------------ first response

NOW_LATE = "2026-11-30T16:00:00+10:00"  # P1 created Mon 09:00 is due 13:00
UNKNOWN = Person("who-1", "Someone", "someone@example.org", Actor.UNKNOWN)
IMPOSTOR = Person("bridge-account", "jsm-bridge", "bridge@vendor.example", Actor.ENGINEER)


@pytest.mark.parametrize(
    ("comments", "history", "state", "first"),
    [
        ([], [], "breached", None),
        ([comment(SAM, "2026-11-30T10:00:00+10:00")], [], "met", "2026-11-30T10:00:00+10:00"),
        ([comment(SAM, "2026-11-30T14:00:00+10:00")], [], "missed", "2026-11-30T14:00:00+10:00"),
        ([comment(SAM, "2026-11-30T10:00:00+10:00", public=False)], [], "breached", None),
        ([comment(OPS, "2026-11-30T10:00:00+10:00")], [], "breached", None),
        ([comment(INTERN, "2026-11-30T10:00:00+10:00")], [], "breached", None),
        ([comment(BRIDGE, "2026-11-30T10:00:00+10:00")], [], "breached", None),
        ([comment(IMPOSTOR, "2026-11-30T10:00:00+10:00")], [], "breached", None),
        ([comment(SAM, "2026-11-30T10:00:00+10:00", action_id="SUP-1/x")], [], "breached", None),
        ([comment(UNKNOWN, "2026-11-30T10:00:00+10:00")], [], "breached", None),
        ([], [("2026-11-30T12:00:00+10:00", "Work in progress")], "met", "2026-11-30T12:00:00+10:00"),
        ([], [("2026-11-30T14:00:00+10:00", "Work in progress")], "missed",
         "2026-11-30T14:00:00+10:00"),
        ([], [("2026-11-30T11:00:00+10:00", "Escalated")], "breached", None),
        # the earliest response wins
        ([comment(SAM, "2026-11-30T14:00:00+10:00")],
         [("2026-11-30T12:00:00+10:00", "Work in progress")], "met", "2026-11-30T12:00:00+10:00"),
        ([comment(OPS, "2026-11-30T09:30:00+10:00"), comment(SAM, "2026-11-30T12:30:00+10:00")],
         [], "met", "2026-11-30T12:30:00+10:00"),
        ([comment(SAM, "2026-11-30T14:00:00+10:00"), comment(SAM, "2026-11-30T10:00:00+10:00")],
         [], "met", "2026-11-30T10:00:00+10:00"),  # the earliest, not the first listed
        # Done stops the clock like a response, even after a reopen
        ([], [("2026-11-30T12:00:00+10:00", "Resolved")], "met", "2026-11-30T12:00:00+10:00"),
        ([], [("2026-11-30T12:00:00+10:00", "Resolved"), ("2026-11-30T15:00:00+10:00", "Open")],
         "met", "2026-11-30T12:00:00+10:00"),
    ],
)  # fmt: skip
def test_first_response(comments, history, state, first):
    case = snapshot(priority="Blocker", comments=comments, status_history=history)
    desired = run(case, NOW_LATE)
    assert desired.sla_state == state
    assert desired.first_response == (at(first) if first else None)
    assert desired.response_due == at("2026-11-30T13:00:00+10:00")


def test_responded_status_names_are_case_insensitive():
    rules = default_ruleset(response=response(responded_statuses=frozenset({"work IN progress"})))
    case = snapshot(
        priority="Blocker", status_history=[("2026-11-30T10:00:00+10:00", "Work in progress")]
    )
    assert run(case, NOW_LATE, rules=rules).sla_state == "met"


def test_bridge_account_is_recognised_by_account_id_too():
    impostor = Person("acc-123", "jsm-bridge", None, Actor.ENGINEER)
    case = snapshot(priority="Blocker", comments=[comment(impostor, "2026-11-30T10:00:00+10:00")])
    desired = evaluate(case, RULES, context(bridge_account="acc-123"), at(NOW_LATE))
    assert desired.sla_state == "breached"


def test_case_created_in_a_done_status_without_history_is_answered():
    case = snapshot(priority="Blocker", status="Resolved", resolved="2026-11-30T09:30:00+10:00")
    desired = run(case, NOW_LATE)
    assert desired.sla_state == "met"
    assert desired.first_response == at("2026-11-30T09:30:00+10:00")


# ------------------------------------------------------- holds for approval (pauses)

#: Before the first response only a hold for quota approval pauses the clock.
WAIT = "Pending approval"


def test_paused_case_keeps_its_due_time_and_is_paused():
    case = snapshot(priority="Blocker", status_history=[("2026-11-30T10:00:00+10:00", WAIT)])
    desired = run(case, "2026-11-30T15:00:00+10:00")
    assert desired.sla_state == "paused"
    assert desired.response_due == at("2026-11-30T13:00:00+10:00")  # the last value
    assert desired.business_used == timedelta(hours=1)
    assert desired.escalation_steps == ()
    assert desired.next_wakeup is None


def test_after_the_pause_the_due_time_is_later_by_the_paused_business_time():
    case = snapshot(
        priority="Blocker",
        status_history=[
            ("2026-11-30T10:00:00+10:00", WAIT),
            ("2026-11-30T11:30:00+10:00", "Escalated"),
        ],
    )
    desired = run(case, "2026-11-30T12:00:00+10:00")
    assert desired.sla_state == "running"
    assert desired.response_due == at("2026-11-30T14:30:00+10:00")
    assert desired.paused_business == timedelta(hours=1, minutes=30)
    assert desired.business_used == timedelta(hours=1, minutes=30)


def test_pause_overnight_counts_only_business_time():
    # P1 created Mon 15:00 (due Tue 11:00); paused Mon 16:00 -> Tue 10:00 = 2 business hours
    case = snapshot(
        priority="Blocker",
        created="2026-11-30T15:00:00+10:00",
        status_history=[
            ("2026-11-30T16:00:00+10:00", WAIT),
            ("2026-12-01T10:00:00+10:00", "Open"),
        ],
    )
    desired = run(case, "2026-12-01T10:30:00+10:00")
    assert desired.response_due == at("2026-12-01T13:00:00+10:00")
    assert desired.sla_state == "running"


def test_several_pauses_add_up():
    case = snapshot(
        priority="Blocker",
        status_history=[
            ("2026-11-30T09:30:00+10:00", WAIT),
            ("2026-11-30T10:00:00+10:00", "Open"),
            ("2026-11-30T11:00:00+10:00", WAIT),
            ("2026-11-30T12:00:00+10:00", "Open"),
        ],
    )
    desired = run(case, "2026-11-30T12:30:00+10:00")
    assert desired.response_due == at("2026-11-30T14:30:00+10:00")


def test_response_after_a_pause_is_judged_against_the_later_due_time():
    # due 13:00 + 2h paused = 15:00; answered at 14:30 -> met
    case = snapshot(
        priority="Blocker",
        status_history=[
            ("2026-11-30T10:00:00+10:00", WAIT),
            ("2026-11-30T12:00:00+10:00", "Open"),
        ],
        comments=[comment(SAM, "2026-11-30T14:30:00+10:00")],
    )
    desired = run(case, NOW_LATE)
    assert desired.sla_state == "met"
    assert desired.response_due == at("2026-11-30T15:00:00+10:00")


def test_pause_after_the_due_time_does_not_undo_a_breach():
    case = snapshot(
        priority="Blocker",
        status_history=[
            ("2026-11-30T14:00:00+10:00", WAIT),
            ("2026-11-30T15:00:00+10:00", "Open"),
        ],
    )
    desired = run(case, NOW_LATE)
    assert desired.response_due == at("2026-11-30T13:00:00+10:00")
    assert desired.sla_state == "breached"
    still_waiting = snapshot(
        priority="Blocker", status_history=[("2026-11-30T14:00:00+10:00", WAIT)]
    )
    assert run(still_waiting, NOW_LATE).sla_state == "breached"


def test_unanswered_case_parked_in_a_pause_status_keeps_its_clock_running():
    # defect 8: "Waiting for customer" pauses only after an agent's public reply
    case = snapshot(
        priority="Blocker",
        status_history=[("2026-11-30T10:00:00+10:00", "Waiting for customer")],
    )
    desired = run(case, "2026-11-30T13:30:00+10:00")
    assert desired.sla_state == "breached"
    assert desired.response_due == at("2026-11-30T13:00:00+10:00")
    texts = [e.text for e in desired.explanation if e.topic == "clock"]
    assert any("no agent has replied publicly yet" in t for t in texts), texts


def test_customer_moving_the_case_into_a_responded_status_is_not_a_response():
    from bridge.policy.model import Actor

    by_customer = snapshot(
        priority="Blocker",
        status_history=[("2026-11-30T10:00:00+10:00", "Work in progress", Actor.CUSTOMER)],
    )
    desired = run(by_customer, "2026-11-30T13:30:00+10:00")
    assert (desired.sla_state, desired.first_response) == ("breached", None)
    texts = [e.text for e in desired.explanation if e.topic == "clock"]
    assert any("not a response (only an agent's action is)" in t for t in texts), texts
    by_agent = snapshot(
        priority="Blocker",
        status_history=[("2026-11-30T10:00:00+10:00", "Work in progress", Actor.ENGINEER)],
    )
    assert run(by_agent, "2026-11-30T13:30:00+10:00").sla_state == "met"


def test_created_in_an_approval_status_by_an_agent_is_held_and_by_the_customer_is_not():
    by_agent = snapshot(priority="Blocker", status=WAIT, reporter=SAM)
    desired = run(by_agent, "2026-11-30T10:00:00+10:00")
    assert desired.sla_state == "paused"
    assert desired.business_used == timedelta(0)
    by_customer = snapshot(priority="Blocker", status=WAIT)  # the portal's own first status
    desired = run(by_customer, "2026-11-30T10:00:00+10:00")
    assert (desired.sla_state, desired.held) == ("running", False)
    assert desired.business_used == timedelta(hours=1)


# ------------------------------------------- which moves into approval hold the case


def test_a_customers_move_into_approval_is_never_a_hold():
    case = snapshot(
        priority="Blocker", status_history=[("2026-11-30T10:00:00+10:00", WAIT, Actor.CUSTOMER)]
    )
    desired = run(case, NOW_LATE)
    assert (desired.sla_state, desired.held) == ("breached", False)
    texts = [e.text for e in desired.explanation if e.topic == "clock"]
    assert any("a customer's move never is" in t for t in texts), texts


def test_a_case_parked_in_approval_after_its_answer_is_judged_on_the_answer():
    # answered late at 14:00 (due 13:00), then parked for approval: missed, not held apart
    case = snapshot(
        priority="Blocker",
        status_history=[("2026-11-30T14:30:00+10:00", WAIT)],
        comments=[comment(SAM, "2026-11-30T14:00:00+10:00")],
    )
    desired = run(case, NOW_LATE)
    assert (desired.sla_state, desired.held) == ("missed", False)
    held_first = snapshot(
        priority="Blocker",
        status_history=[("2026-11-30T10:00:00+10:00", WAIT)],
        comments=[comment(SAM, "2026-11-30T14:00:00+10:00")],
    )
    assert run(held_first, NOW_LATE).held


def test_a_case_parked_in_approval_after_its_breach_stays_breached_not_held():
    # due 13:00, unanswered, parked at 14:30: the hold pauses nothing, the report counts
    # the breach
    case = snapshot(priority="Blocker", status_history=[("2026-11-30T14:30:00+10:00", WAIT)])
    desired = run(case, NOW_LATE)
    assert (desired.sla_state, desired.held) == ("breached", False)
    texts = [e.text for e in desired.explanation if e.topic == "clock"]
    assert any("after the due time: the hold paused nothing" in t for t in texts), texts
    assert not any(t.startswith("held for approval 1 time") for t in texts), texts


# ----------------------------------------------------------------------- SLA states


@pytest.mark.parametrize(
    ("now", "state"),
    [
        ("2026-11-30T08:00:00+10:00", "running"),  # before creation: nothing used
        ("2026-11-30T10:00:00+10:00", "running"),  # 25 %
        ("2026-11-30T11:59:00+10:00", "running"),  # just under 75 %
        ("2026-11-30T12:00:00+10:00", "at_risk"),  # exactly 75 %
        ("2026-11-30T13:00:00+10:00", "at_risk"),  # exactly due: not yet past it
        ("2026-11-30T13:00:01+10:00", "breached"),
        ("2026-12-01T09:00:00+10:00", "breached"),
    ],
)
def test_running_at_risk_breached(now, state):
    assert run(snapshot(priority="Blocker"), now).sla_state == state


def test_no_target_for_the_level_means_state_none_and_no_due():
    rules = default_ruleset(
        response=response(targets={"P1": Target("duration", timedelta(hours=4))})
    )
    desired = run(snapshot(priority="Major"), "2026-11-30T10:00:00+10:00", rules=rules)
    assert desired.sla_state == "none"
    assert desired.response_due is None
    assert desired.priority == "P3"
    assert desired.escalation_steps == ()


def test_business_used_stops_at_the_response():
    case = snapshot(priority="Blocker", comments=[comment(SAM, "2026-11-30T10:30:00+10:00")])
    desired = run(case, "2026-12-02T10:00:00+10:00")
    assert desired.business_used == timedelta(hours=1, minutes=30)


def test_explanation_names_calendar_due_and_business_time_used():
    desired = run(snapshot(priority="Blocker"), "2026-11-30T11:00:00+10:00")
    text = "\n".join(f"{e.topic}: {e.text}" for e in desired.explanation)
    assert "calendar: calendar brisbane (Australia/Brisbane)" in text
    assert "Mon 30 Nov 2026 09:00 AEST -> due Mon 30 Nov 2026 13:00 AEST" in text
    assert "2h00m business time used" in text
    assert "sla: SLA state running" in text


@pytest.mark.parametrize(
    ("email", "account_id", "bridge", "expected"),
    [
        ("Bridge@Vendor.example", "acc-1", " bridge@vendor.example ", True),  # email, any case
        (None, "ACC-BRIDGE", "acc-bridge", True),  # account id
        ("jane@vendor.example", "acc-1", "bridge@vendor.example", False),
        (None, "", "bridge@vendor.example", False),
        ("bridge@vendor.example", "acc-1", None, False),  # no bridge account configured
        ("bridge@vendor.example", "acc-1", "", False),
    ],
)
def test_is_bridge_matches_email_or_account_id(email, account_id, bridge, expected) -> None:
    assert is_bridge(email, account_id, bridge) is expected


def test_a_due_time_is_kept_per_instant_not_per_wall_clock_time() -> None:
    """The calendar keeps each target's due time; a creation in the hour New York repeats
    when its clocks go back (fold 1, an hour after fold 0) falls due an hour later."""
    new_york = ZoneInfo("America/New_York")
    hours = {day: [(time(0), time(23, 59))] for day in range(7)}
    calendar = BusinessCalendar("round the clock", "America/New_York", hours)
    target = Target("duration", timedelta(hours=4))
    first = datetime(2026, 11, 1, 1, 30, tzinfo=new_york)
    due_first = target_due(calendar, first, target).at
    due_second = target_due(calendar, first.replace(fold=1), target).at
    assert due_second.astimezone(UTC) - due_first.astimezone(UTC) == timedelta(hours=1)
