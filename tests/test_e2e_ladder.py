"""The escalation ladder, idempotence and hand-made priority changes, end to end.

The bridge and the sandbox share one frozen clock that the tests move; each cycle
runs at the sandbox's now.  Assertions are on the site's end state and on the
number of write requests the sandbox saw.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from conftest import Sandbox, SandboxFactory
from e2e_helpers import (
    JANE,
    PRIYA,
    SAM,
    BridgeFactory,
    IssueView,
    comment,
    end_state,
    new_case,
    set_fields_as,
    set_priority,
    snapshot_all,
)

BNE = ZoneInfo("Australia/Brisbane")


def t(hour: int, minute: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BNE)


def _same_but(before: IssueView, after: IssueView, *changed: str) -> None:
    """Everything the bridge could touch is as before, except the named attributes."""
    for attr in ("status", "priority", "assignee", "labels", "fields"):
        if attr not in changed:
            assert getattr(after, attr) == getattr(before, attr), attr


# ------------------------------------------------------------------------------- idempotence


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_demo_world_second_cycle_writes_nothing(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    sb = sandbox_factory(seed="demo", flavour=flavour)
    bridge = bridges(sb)
    first = bridge.cycle()
    assert first.writes > 0 and first.report.skipped == []
    after_first = snapshot_all(sb)
    second = bridge.cycle()
    assert second.writes == 0, second.write_routes
    assert snapshot_all(sb) == after_first
    # a restarted bridge (fresh process, same state file) agrees
    restarted = bridges(sb, state=bridge.runtime.state.path)
    assert restarted.cycle().writes == 0
    # and so does one that lost its local state: the ledger on the issues is the record
    amnesiac = bridges(sb)
    assert amnesiac.cycle().writes == 0


# ------------------------------------------------------------------------------------ ladder


def test_each_ladder_step_fires_once_when_its_moment_passes(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb = sandbox_factory(seed="empty", now=t(10))
    key = new_case(sb, priority="Critical", created=t(9))  # Acme P2: 6h → due 15:00
    bridge = bridges(sb)
    bridge.cycle()
    start = end_state(sb, key)
    assert (start.field("SLA state"), start.field("Response due")) == ("running", t(15))
    assert start.bridge_comments == [] and start.labels == frozenset()

    # 50 % (12:00): the internal half-time note, nothing else
    sb.set_now(t(12, 1))
    run = bridge.cycle()
    assert key in run.keys_read  # re-read for its moment, though Jira says nothing changed
    half = end_state(sb, key)
    _same_but(start, half)
    [note] = half.bridge_comments
    assert not note.public
    assert note.body == (
        f"{key} (P2, Acme Networks) has used half its response time; due Tue 24 Nov 2026 15:00 AEST."
    )
    for later in (t(12, 1), t(12, 30)):  # two more cycles: no duplicates, no writes
        sb.set_now(later)
        assert bridge.cycle().writes == 0
    assert end_state(sb, key) == half

    # 75 % (13:30): at risk, labelled; no named engineer for Acme, so the regional lead
    # of its calendar is assigned and asked to help in an internal comment
    sb.set_now(t(13, 31))
    bridge.cycle()
    risk = end_state(sb, key)
    _same_but(half, risk, "labels", "fields", "assignee", "comments")
    assert risk.labels == {"sla-at-risk"}
    assert risk.field("SLA state") == "at_risk"
    [help_call] = [c for c in risk.bridge_comments if c not in half.bridge_comments]
    assert (help_call.public, help_call.body) == (
        False,
        f"[~accountid:{_account(sb, PRIYA)}]: {key} (P2, Standard, Acme Networks) has used "
        "75% of its response time "
        "and needs help; due Tue 24 Nov 2026 15:00 AEST.",
    )
    assert risk.assignee == PRIYA

    # 100 % (15:00): breached, labelled, escalated, with an internal note
    sb.set_now(t(15, 1))
    bridge.cycle()
    breach = end_state(sb, key)
    _same_but(risk, breach, "labels", "fields", "status")
    assert breach.labels == {"sla-at-risk", "sla-breached"}  # step labels are a record
    assert breach.field("SLA state") == "breached"
    assert breach.field("Response due") == t(15)
    assert breach.status == "Escalated"
    new = [c for c in breach.bridge_comments if c not in risk.bridge_comments]
    assert [(c.public, c.body) for c in new] == [
        (False, f"{key} breached its P2 response target (Tue 24 Nov 2026 15:00 AEST).")
    ]
    for later in (t(15, 1), t(16, 0)):
        sb.set_now(later)
        assert bridge.cycle().writes == 0
    assert end_state(sb, key) == breach

    # the late answer: missed; the record labels stay, nothing more is said or done
    sb.set_now(t(16, 10))
    comment(sb, key, "Sorry: the SNMP community string was wrong. Fixed.", by=SAM)
    sb.set_now(t(16, 15))
    bridge.cycle()
    answered = end_state(sb, key)
    assert answered.field("SLA state") == "missed"
    assert answered.labels == breach.labels
    assert answered.bridge_comments == breach.bridge_comments
    assert answered.status == "Escalated"


@pytest.mark.parametrize("merge", [True, False], ids=["merged", "separate"])
def test_steps_reached_while_the_bridge_was_down_are_all_applied_in_order(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, merge: bool
) -> None:
    """Both steps' internal comments, in ladder order: one comment (a paragraph each) by
    default, or one comment each with ``writes.merge_comments: false``."""
    sb = sandbox_factory(seed="empty", now=t(16))
    key = new_case(sb, org="Globex Telecom", priority="Critical", created=t(9, day=23))
    # Globex, New York: created Sun 22 Nov 18:00 local → P2 due Mon 23 15:00 New York
    bridge = bridges(sb, merge_comments=merge)
    first = bridge.cycle()
    issue = end_state(sb, key)
    assert issue.field("SLA state") == "breached"
    assert issue.labels == {"sla-at-risk", "sla-breached"}
    assert issue.status == "Escalated"
    assert issue.assignee == JANE
    said = [
        f"{key} (P2, Globex Telecom) has used half its response time; due Mon 23 Nov 2026 15:00 EST.",
        f"[~accountid:{_account(sb, SAM)}]: {key} (P2, Enterprise, Globex Telecom) has used "
        "75% of its response time "
        "and needs help; due Mon 23 Nov 2026 15:00 EST.",
        f"{key} breached its P2 response target (Mon 23 Nov 2026 15:00 EST).",
    ]
    bodies = [c.body for c in issue.bridge_comments]
    assert bodies == (["\n\n".join(said)] if merge else said)
    assert first.report.writes["comment"] == len(bodies)
    assert not any(c.public for c in issue.bridge_comments)
    assert bridge.cycle().writes == 0


def test_a_case_first_seen_after_its_answer_gets_no_ladder_steps(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb = sandbox_factory(seed="empty", now=t(16))
    key = new_case(sb, priority="Critical", created=t(9))
    sb.set_now(t(15, 30))
    comment(sb, key, "Looking now.", by=SAM)  # answered 30 min late
    sb.set_now(t(16))
    bridges(sb).cycle()
    issue = end_state(sb, key)
    assert issue.field("SLA state") == "missed"
    assert issue.labels == frozenset() and issue.bridge_comments == []
    assert issue.status == "Open"


# --------------------------------------------------------------------- priorities by hand


def test_an_engineers_priority_is_kept_and_the_due_time_recomputed(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb = sandbox_factory(seed="empty", now=t(10))
    lowered = new_case(sb, priority="Critical", created=t(9))  # P2: due 15:00
    raised = new_case(sb, env="Staging", priority="Blocker", created=t(9))  # → P4 by the rules
    bridge = bridges(sb)
    bridge.cycle()
    assert end_state(sb, lowered).field("Response due") == t(15)
    assert end_state(sb, raised).priority == "Minor"
    assert end_state(sb, raised).field("Response due") == t(17, day=25)

    sb.set_now(t(10, 30))
    set_priority(sb, lowered, "Major", by=JANE)  # "we may reprioritise lower…"
    set_priority(sb, raised, "Blocker", by=JANE)  # "…or higher", even for staging
    sb.set_now(t(10, 35))
    bridge.cycle()
    low, high = end_state(sb, lowered), end_state(sb, raised)
    assert low.priority == "Major"
    assert low.field("Response due") == t(17, day=25)  # P3: next business day
    assert high.priority == "Blocker"
    assert high.field("Response due") == t(13)  # P1: 4h from creation
    assert high.field("SLA state") == "running"
    # the engineer's changes are not the bridge's: nothing said beyond the first cycle's P4
    assert low.bridge_comments == []
    assert [c.action_id for c in high.bridge_comments] == [
        f"{raised}/priority/non-production-systems-are-p4"
    ]

    for later in (t(10, 40), t(10, 50)):
        sb.set_now(later)
        assert bridge.cycle().writes == 0
    assert end_state(sb, lowered).priority == "Major"
    assert end_state(sb, raised).priority == "Blocker"
    # past the P2 half-time mark (12:00) the P3 case gets no P1/P2 step
    sb.set_now(t(12, 5))
    bridge.cycle()
    assert end_state(sb, lowered).bridge_comments == []


def test_a_customer_raising_their_case_is_corrected_with_one_comment_per_correction(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb = sandbox_factory(seed="empty", now=t(10))
    staging = new_case(sb, env="Staging", priority="Minor", created=t(9))
    no_staff = new_case(sb, org="Initech Systems", staff="No", priority="Critical", created=t(9))
    bridge = bridges(sb)
    bridge.cycle()
    due_staging = end_state(sb, staging).field("Response due")
    due_no_staff = end_state(sb, no_staff).field("Response due")
    assert end_state(sb, staging).priority == "Minor"
    assert end_state(sb, no_staff).priority == "Critical"

    for n, when in enumerate((t(10, 30), t(11, 30)), 1):
        sb.set_now(when)  # the customer raises both to P1 on the portal, twice
        set_fields_as(sb, staging, "ops@acme.example", {"Priority": "Blocker"})
        set_fields_as(sb, no_staff, "it@initech.example", {"Priority": "Blocker"})
        bridge.cycle()
        s, p = end_state(sb, staging), end_state(sb, no_staff)
        assert s.priority == "Minor", n  # non-production: back to P4
        assert p.priority == "Critical", n  # no staff available: P2
        assert s.field("Response due") == due_staging
        assert p.field("Response due") == due_no_staff
        # every change the bridge makes is explained, once: n corrections, n comments
        assert [c.action_id for c in s.bridge_comments] == [
            f"{staging}/priority/non-production-systems-are-p4",
            *(f"{staging}/priority/non-production-systems-are-p4/{i}" for i in range(2, n + 1)),
        ]
        lowered = p.bridge_comments_containing("staff available throughout")
        assert [c.body for c in lowered] == [
            f"{no_staff}: we changed the priority from P1 to P2 (Critical): P1 needs your "
            "staff available throughout. To have P1, set Staff available to Yes once they are."
        ] * n, n
        assert all(c.public for c in [*lowered, *s.bridge_comments])
        assert bridge.cycle().writes == 0


def _account(sb: Sandbox, email: str) -> str:
    user = sb.store.user_by_email(email)
    assert user is not None
    return str(user.account_id)
