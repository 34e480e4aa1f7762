"""The response clock's short path agrees with the full walk over spans and comments.

``response_clock`` answers an open case that no status has held, paused, answered
or closed without walking its history, whether a comment answered it or not (most
cases of a cycle, the escalated and the answered ones included).  Over random cases
(statuses that pause, answer, close or do neither; responses, internal notes,
customers' and the bridge's own comments) its answer is always the full walk's.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st
from policy_factories import (
    BRIDGE,
    NINE_TO_FIVE,
    OPS,
    SAM,
    calendars,
    comment,
    response,
    snapshot,
)

from bridge.policy.clock import BusinessCalendar
from bridge.policy.model import Target
from bridge.policy.sla import _general_clock, response_clock

POLICY = response()
CREATED_ZONES = [UTC, timezone(timedelta(hours=10)), ZoneInfo("America/New_York")]
START = datetime(2026, 11, 1, tzinfo=UTC)
STATUSES = ["Open", "Escalated", "Pending approval", "Waiting for customer", "Work in progress"]
TARGETS = [
    Target("duration", timedelta(hours=4)),
    Target("duration", timedelta(hours=6)),
    Target("next_business_day"),
]


@st.composite
def clock_cases(draw):
    created = START + timedelta(minutes=draw(st.integers(0, 60 * 24 * 30)))
    # Jira gives times in the site's zone; the calendar answers UTC inputs another way
    created = created.astimezone(draw(st.sampled_from(CREATED_ZONES)))
    steps = draw(st.lists(st.integers(1, 60 * 24 * 3), max_size=4))
    when, history = created, []
    for minutes in steps:
        when += timedelta(minutes=minutes)
        to = draw(st.sampled_from([*STATUSES, "Resolved"] if draw(st.booleans()) else STATUSES))
        history.append((when, to))
    comments = []
    for _ in range(draw(st.integers(0, 4))):
        at = created + timedelta(minutes=draw(st.integers(-60, 60 * 24 * 6)))
        kind = draw(st.sampled_from(["response", "internal", "customer", "bridge"]))
        if kind == "response":
            comments.append(comment(SAM, at))
        elif kind == "internal":
            comments.append(comment(SAM, at, public=False))
        elif kind == "customer":
            comments.append(comment(OPS, at))
        else:
            comments.append(comment(BRIDGE, at, public=True, action_id=f"SUP-7/esc/0.0/{at:%H%M}"))
    status = history[-1][1] if history else draw(st.sampled_from(STATUSES))
    case = snapshot(
        "SUP-7",
        created=created,
        status=status,
        status_history=history,
        comments=comments,
        resolved=history[-1][0] if status == "Resolved" else None,
    )
    return case, when


@settings(max_examples=300, deadline=None)
@given(
    clock_cases(),
    st.sampled_from(TARGETS),
    st.sampled_from(sorted(calendars())),
    st.integers(-60 * 24, 60 * 24 * 8),
)
def test_short_path_gives_the_full_walks_answer(drawn, target, calendar_name, offset):
    case, last_event = drawn
    calendar = calendars()[calendar_name]
    now = last_event + timedelta(minutes=offset)
    fast = response_clock(case, target, POLICY, calendar, "bridge@vendor.example", now)
    full = _general_clock(case, target, POLICY, calendar, "bridge@vendor.example", now)
    assert fast == full


def test_an_escalated_case_with_the_bridges_comments_still_runs() -> None:
    """The shape most cases have after a cycle: the short path's own case."""
    case = snapshot(
        "SUP-7",
        created="2026-11-30T09:00:00+10:00",
        status_history=[("2026-11-30T13:00:00+10:00", "Escalated")],
        comments=[
            comment(BRIDGE, "2026-11-30T13:00:00+10:00", public=False, action_id="x"),
            comment(OPS, "2026-11-30T13:30:00+10:00"),
        ],
    )
    clock = response_clock(
        case,
        TARGETS[0],
        POLICY,
        calendars()["brisbane"],
        "bridge@vendor.example",
        datetime(2026, 11, 30, 5, 0, tzinfo=UTC),  # 15:00 Brisbane: 6 h used of 4
    )
    assert clock.first_response is None and clock.pauses == ()
    assert clock.state == "breached"
    assert clock.business_used == timedelta(hours=6)


def test_a_fresh_calendar_answers_before_and_after_its_tables_exist() -> None:
    """The first answer builds the calendar's tables; the second reads them: the same clock."""
    case = snapshot("SUP-8", created="2026-11-27T16:00:00+10:00")  # Fri 16:00 Brisbane
    now = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)  # Mon 11:00 Brisbane
    target = Target("next_business_day")
    calendar = BusinessCalendar("fresh", "Australia/Brisbane", NINE_TO_FIVE)
    first = response_clock(case, target, POLICY, calendar, None, now)
    again = response_clock(case, target, POLICY, calendar, None, now)
    assert first == again
    assert first.due == datetime(2026, 11, 30, 17, 0, tzinfo=ZoneInfo("Australia/Brisbane"))
    assert first.target_business == timedelta(hours=9)  # Fri 16-17, Mon 9-17
    assert first.business_used == timedelta(hours=3)  # Fri 16-17, Mon 9-11
    assert first.state == "running"  # a third of the target used
