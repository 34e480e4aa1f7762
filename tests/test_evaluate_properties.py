"""Properties of evaluation over random cases: what must hold whatever the times."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from policy_factories import SAM, comment, context, default_ruleset, evaluate, snapshot

from bridge.policy.model import Desired

RULES = default_ruleset()
START = datetime(2026, 11, 1, tzinfo=UTC)
ORGS = ["Acme Networks", "Initech Systems", "Globex Telecom"]
PRIORITIES = ["Blocker", "Critical", "Major", "Minor"]
MINUTES = st.integers(min_value=0, max_value=60 * 24 * 10)


@st.composite
def cases(draw):
    created = START + timedelta(minutes=draw(st.integers(0, 60 * 24 * 40)))
    pause = draw(st.one_of(st.none(), st.tuples(MINUTES, st.integers(1, 60 * 24 * 3))))
    history = []
    if pause is not None:
        begin = created + timedelta(minutes=pause[0])
        history = [(begin, "Waiting for customer"), (begin + timedelta(minutes=pause[1]), "Open")]
    reply = draw(st.one_of(st.none(), MINUTES))
    comments = [] if reply is None else [comment(SAM, created + timedelta(minutes=reply))]
    case = snapshot(
        "SUP-7",
        created=created,
        organization=draw(st.sampled_from(ORGS)),
        priority=draw(st.sampled_from(PRIORITIES)),
        status_history=history,
        comments=comments,
        assignee=draw(st.sampled_from([None, "jane.engineer@vendor.example"])),
    )
    last_event = max([created, *(h[0] for h in history), *(c.created for c in comments)])
    return case, last_event


def run(case, now: datetime) -> Desired:
    return evaluate(case, RULES, context(), now)


@settings(max_examples=80, deadline=None)
@given(cases(), MINUTES, st.integers(1, 60 * 24 * 5))
def test_evaluation_invariants(drawn, offset, later):
    case, last_event = drawn
    now = last_event + timedelta(minutes=offset)
    then = now + timedelta(minutes=later)
    a, b = run(case, now), run(case, then)

    assert a.response_due is not None and a.business_used is not None
    assert a.response_due >= case.created
    if a.sla_state == "breached":
        assert now > a.response_due and a.first_response is None
    if a.sla_state in ("met", "missed"):
        assert a.first_response is not None
        assert (a.sla_state == "met") == (a.first_response <= a.response_due)
    assert a.business_used <= b.business_used  # time used never goes backwards
    if a.next_wakeup is not None:
        assert a.next_wakeup > now
    # steps are reached in ladder order, and a later look never un-reaches one
    assert list(a.escalation_steps) == sorted(a.escalation_steps)
    if a.response_due == b.response_due and b.sla_state not in ("met", "missed", "paused"):
        assert set(a.escalation_steps) <= set(b.escalation_steps)
        ids_a = {c.action_id for c in a.comments} | {t.action_id for t in a.transitions}
        ids_b = {c.action_id for c in b.comments} | {t.action_id for t in b.transitions}
        assert ids_a <= ids_b
    # stable: the same inputs give the same answer
    assert run(case, now) == a
    # a sync cycle's evaluation (no explanation) takes the same decisions
    quiet = dataclasses.replace(context(), explain=False)
    assert evaluate(case, RULES, quiet, now) == dataclasses.replace(a, explanation=())
