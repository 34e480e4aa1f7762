"""apply_plan against the stateful FakeJira: assertions are on the fake's end state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fakes import (
    MATCHING,
    USERS,
    FakeJira,
    desired,
    fid,
    make_fieldmap,
    resolve_priority,
    resolve_user,
    snapshot,
)
from structlog.testing import capture_logs

from bridge.policy.model import (
    Actor,
    CaseComment,
    Desired,
    DesiredComment,
    DesiredTransition,
    Person,
)
from bridge.sync.apply import ApplyResult, Transitions, apply_plan
from bridge.sync.ledger import PROPERTY, Ledger, comment_action_id, comment_action_ids
from bridge.sync.plan import AddComment, IssuePlan, SetLedger, Transition, plan_issue
from bridge.sync.state import State

NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
KEY = "SUP-12"
PUBLIC = DesiredComment(f"{KEY}:needs-info", True, f"To work on {KEY} we still need: Impact.")
INTERNAL = DesiredComment(f"{KEY}:ladder-0:due", False, f"{KEY} (P2) has used half its time")
ESCALATE = DesiredTransition(f"{KEY}:ladder-2:transition:due", "Escalate")


@pytest.fixture
def jira() -> FakeJira:
    fake = FakeJira(now=NOW)
    fake.add_issue(KEY, labels=["customer-vip"], priority="Blocker", **MATCHING)
    return fake


@pytest.fixture
def state() -> Iterator[State]:
    s = State.open(":memory:")
    yield s
    s.close()


def read(jira: FakeJira, key: str = KEY) -> tuple[Any, dict[str, Any], Ledger]:
    """What a poll would give: a snapshot, the raw fields and the ledger."""
    issue = jira.issues[key]
    f = issue.fields
    comments = tuple(
        CaseComment(
            c["id"],
            Person("acc-bridge", "jsm-bridge", None, Actor.BRIDGE),
            datetime.fromisoformat(c["created"]),
            c["jsdPublic"],
            action_id=comment_action_id(c),
            action_ids=comment_action_ids(c),
        )
        for c in issue.comments
    )
    email = {u["accountId"]: u["emailAddress"] for u in USERS}
    snap = snapshot(
        key=key,
        status=f["status"]["name"],
        status_category=f["status"]["statusCategory"]["key"],
        labels=frozenset(f.get("labels") or []),
        priority=(f.get("priority") or {}).get("name"),
        assignee=email.get((f.get("assignee") or {}).get("accountId", "")),
        comments=comments,
    )
    return snap, f, Ledger.from_json(issue.properties.get(PROPERTY))


def plan_for(
    jira: FakeJira,
    want: Desired,
    key: str = KEY,
    *,
    merge_comments: bool = False,
    from_search: bool = False,
) -> IssuePlan:
    """The plan for the case as read (``from_search``: as a Cloud search gives it, its
    comments without their properties)."""
    snap, raw, ledger = read(jira, key)
    if from_search:
        snap = replace(
            snap, comments=tuple(replace(c, action_id=None, action_ids=()) for c in snap.comments)
        )
    return plan_issue(
        want,
        snap,
        raw,
        ledger,
        make_fieldmap(),
        resolve_priority=resolve_priority,
        resolve_user=resolve_user,
        merge_comments=merge_comments,
    )


class Wall:
    """The real clock, as apply sees it: moved by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


SETTLE = timedelta(minutes=5)


def cycle(
    jira: FakeJira, want: Desired, state: State, wall: Wall | None = None, **kw: Any
) -> ApplyResult:
    return apply_plan(
        jira, plan_for(jira, want), journal=state, now=NOW, wall=wall or Wall(), settle=SETTLE, **kw
    )


def busy() -> Desired:
    return desired(
        priority="P2",
        priority_jira="Critical",
        sla_state="breached",
        assignee="jane.engineer@vendor.example",
        labels_present=frozenset({"sla-breached", "needs-info"}),
        comments=(PUBLIC, INTERNAL),
        transitions=(ESCALATE,),
    )


# ------------------------------------------------------------------------------ end state


def test_a_cycle_reaches_the_desired_end_state(jira: FakeJira, state: State) -> None:
    result = cycle(jira, busy(), state)
    assert result.ok, result.failed
    issue = jira.issues[KEY]
    assert issue.fields["priority"]["name"] == "Critical"
    assert issue.fields["assignee"]["accountId"] == "acc-jane"
    assert issue.fields[fid("sla_state")] == {"value": "breached"}
    assert issue.labels == {"customer-vip", "sla-breached", "needs-info"}
    assert issue.status == "Escalated"
    # comments: body, visibility (JSM's internal flag), and the action id as a property
    assert jira.comment_bodies(KEY) == [PUBLIC.body, INTERNAL.body]
    assert [c["jsdPublic"] for c in issue.comments] == [True, False]
    internal_props = {p["key"]: p["value"] for p in issue.comments[1]["properties"]}
    assert internal_props["sd.public.comment"] == {"internal": True}
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id, INTERNAL.action_id]
    # the ledger on the issue records every comment and the transition, in ONE write
    assert jira.write_counts["set_property"] == 1 and result.writes["ledger"] == 1
    ledger = Ledger.from_json(issue.properties[PROPERTY])
    assert {PUBLIC.action_id, INTERNAL.action_id, ESCALATE.action_id} <= set(ledger.done)
    assert state.pending_intents() == []


def test_second_cycle_with_nothing_changed_writes_nothing(jira: FakeJira, state: State) -> None:
    cycle(jira, busy(), state)
    writes = jira.writes
    again = plan_for(jira, busy())
    assert again.actions == ()
    result = apply_plan(jira, again, journal=state, now=NOW)
    assert result.ok and jira.writes == writes


def test_edit_only_plan_is_one_write(jira: FakeJira, state: State) -> None:
    result = cycle(jira, desired(sla_state="at_risk", priority_jira="Blocker"), state)
    assert result.ok and jira.write_counts == {"edit_issue": 1}
    assert PROPERTY not in jira.issues[KEY].properties


def test_transition_not_available_is_skipped_and_not_retried(jira: FakeJira, state: State) -> None:
    jira.issues[KEY].fields["status"] = {
        "name": "Pending approval",
        "statusCategory": {"key": "new"},
    }
    want = desired(priority_jira="Blocker", transitions=(ESCALATE,))
    result = cycle(jira, want, state)
    assert result.ok and [a for a, _ in result.skipped] == [
        Transition(KEY, ESCALATE.action_id, "Escalate")
    ]
    assert jira.issues[KEY].status == "Pending approval"
    assert Ledger.from_json(jira.issues[KEY].properties[PROPERTY]).handled(ESCALATE.action_id)
    assert plan_for(jira, want).actions == ()


def test_transition_name_is_looked_up_from_the_current_status(jira: FakeJira, state: State) -> None:
    jira.issues[KEY].fields["status"] = {
        "name": "Work in progress",
        "statusCategory": {"key": "indeterminate"},
    }
    start = DesiredTransition(f"{KEY}:wait", "wait for customer")  # case-insensitive name
    result = cycle(jira, desired(priority_jira="Blocker", transitions=(start,)), state)
    assert result.ok and jira.issues[KEY].status == "Waiting for customer"


# ------------------------------------------------------------------ transition look-ups


def escalate(key: str) -> Desired:
    return desired(
        priority_jira="Blocker",
        transitions=(DesiredTransition(f"{key}:ladder-2:transition:due", "Escalate"),),
    )


def add_cases(jira: FakeJira, statuses: dict[str, str]) -> None:
    for key, status in statuses.items():
        jira.add_issue(key, status=status, priority="Blocker", **MATCHING)


def test_issues_in_the_same_status_share_one_transition_lookup(
    jira: FakeJira, state: State
) -> None:
    add_cases(jira, {"SUP-20": "Open", "SUP-21": "Open", "SUP-22": "Work in progress"})
    cache = Transitions()
    for key in (KEY, "SUP-20", "SUP-21", "SUP-22"):
        p = plan_for(jira, escalate(key), key)
        assert apply_plan(jira, p, journal=state, now=NOW, transitions=cache).ok
        assert jira.issues[key].status == "Escalated"
    # one look-up from Open (SUP-12, SUP-20, SUP-21 share it), one from Work in progress
    assert jira.transition_lookups == [KEY, "SUP-22"]
    assert cache.lookups == 2 and jira.write_counts["do_transition"] == 4


def test_a_cached_transition_refused_for_one_issue_is_looked_up_afresh(
    jira: FakeJira, state: State
) -> None:
    add_cases(jira, {"SUP-20": "Open"})
    cache = Transitions()
    assert apply_plan(
        jira, plan_for(jira, escalate(KEY)), journal=state, now=NOW, transitions=cache
    ).ok
    jira.fail("do_transition", key="SUP-20", status=400)  # e.g. a condition this issue fails
    result = apply_plan(
        jira,
        plan_for(jira, escalate("SUP-20"), "SUP-20"),
        journal=state,
        now=NOW,
        transitions=cache,
    )
    assert result.ok, result.failed
    assert jira.issues["SUP-20"].status == "Escalated"
    assert jira.transition_lookups == [KEY, "SUP-20"]  # the refusal cost one fresh look-up
    assert state.pending_intents() == []


def test_an_issue_moved_since_it_was_read_is_not_transitioned_from_the_cached_list(
    jira: FakeJira, state: State
) -> None:
    add_cases(jira, {"SUP-20": "Open"})
    cache = Transitions()
    p = plan_for(jira, escalate("SUP-20"), "SUP-20")  # read while Open
    assert apply_plan(
        jira, plan_for(jira, escalate(KEY)), journal=state, now=NOW, transitions=cache
    ).ok
    jira.do_transition("SUP-20", "41")  # an agent: Needs approval (Escalate not offered there)
    result = apply_plan(jira, p, journal=state, now=NOW, transitions=cache)
    assert result.ok and [a.kind for a, _ in result.skipped] == ["transition"]
    assert jira.issues["SUP-20"].status == "Pending approval"
    assert jira.write_counts["do_transition"] == 2  # SUP-12's and the agent's
    assert state.pending_intents() == []
    assert plan_for(jira, escalate("SUP-20"), "SUP-20").actions == ()  # recorded as skipped


def test_a_transition_missing_from_the_cached_list_is_checked_on_the_issue_itself(
    jira: FakeJira, state: State
) -> None:
    add_cases(jira, {"SUP-20": "Pending approval", "SUP-21": "Pending approval"})
    cache = Transitions()
    first = apply_plan(
        jira,
        plan_for(jira, escalate("SUP-20"), "SUP-20"),
        journal=state,
        now=NOW,
        transitions=cache,
    )
    assert [a.kind for a, _ in first.skipped] == ["transition"]  # not offered from there
    p = plan_for(jira, escalate("SUP-21"), "SUP-21")  # read while Pending approval
    jira.do_transition("SUP-21", "11")  # then moved on: Work in progress
    result = apply_plan(jira, p, journal=state, now=NOW, transitions=cache)
    assert result.ok and result.skipped == []
    assert jira.issues["SUP-21"].status == "Escalated"
    assert jira.transition_lookups == ["SUP-20", "SUP-21"]


def test_a_transition_two_issues_in_a_status_lack_is_not_looked_up_for_a_third(
    jira: FakeJira, state: State
) -> None:
    keys = ["SUP-20", "SUP-21", "SUP-22"]
    add_cases(jira, dict.fromkeys(keys, "Pending approval"))
    cache = Transitions()
    for key in keys:
        result = apply_plan(
            jira, plan_for(jira, escalate(key), key), journal=state, now=NOW, transitions=cache
        )
        assert result.ok and [a.kind for a, _ in result.skipped] == ["transition"]
        assert not result.arrived  # not offered: a skip that counts
    assert jira.transition_lookups == ["SUP-20", "SUP-21"]
    assert jira.write_counts == {"set_property": 3}  # each skip recorded, nothing else


def test_a_transition_to_the_status_the_issue_is_in_is_skipped_without_a_write(
    jira: FakeJira, state: State
) -> None:
    add_cases(jira, {"SUP-20": "Escalated"})
    cache = Transitions()
    assert apply_plan(
        jira, plan_for(jira, escalate(KEY)), journal=state, now=NOW, transitions=cache
    ).ok
    want = escalate("SUP-20")
    result = apply_plan(
        jira, plan_for(jira, want, "SUP-20"), journal=state, now=NOW, transitions=cache
    )
    assert result.ok and [why for _, why in result.skipped] == [
        "transition 'Escalate' skipped: the issue is already in 'Escalated'"
    ]
    assert result.arrived == {want.transitions[0].action_id}  # the wanted end: not counted
    assert jira.transition_lookups == [KEY]  # known from SUP-12's look-up: no read either
    assert jira.write_counts["do_transition"] == 1
    ledger = Ledger.from_json(jira.issues["SUP-20"].properties[PROPERTY])
    assert want.transitions[0].action_id in ledger.skipped
    assert plan_for(jira, want, "SUP-20").actions == ()
    # the next cycle reads the lists afresh but still knows where Escalate leads
    add_cases(jira, {"SUP-21": "Escalated"})
    later = cache.next_cycle()
    p = plan_for(jira, escalate("SUP-21"), "SUP-21")
    result = apply_plan(jira, p, journal=state, now=NOW, transitions=later)
    assert result.ok and len(result.skipped) == 1 and later.lookups == 0


# ------------------------------------------------------------------------- crash safety


def test_comment_that_landed_despite_a_lost_answer_is_confirmed_next_cycle(
    jira: FakeJira, state: State
) -> None:
    jira.fail("add_comment", land=True)  # written, then the connection dropped
    want = desired(priority_jira="Blocker", comments=(PUBLIC,))
    wall = Wall()
    first = cycle(jira, want, state, wall)
    # not repeated in the same cycle, not recorded either: it is unconfirmed
    assert [a.kind for a in first.unconfirmed] == ["comment"] and not first.ok
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id]
    assert [i.unconfirmed for i in state.pending_intents(KEY)] == [True]
    second = cycle(jira, want, state, wall)  # the read shows it: recorded, not sent
    assert second.ok
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id]
    assert Ledger.from_json(jira.issues[KEY].properties[PROPERTY]).handled(PUBLIC.action_id)
    assert state.pending_intents() == []


def test_a_comment_whose_answer_was_lost_is_never_sent_twice_in_one_cycle(
    jira: FakeJira, state: State
) -> None:
    jira.fail("add_comment", land=False, ambiguous=True)
    result = cycle(jira, desired(priority_jira="Blocker", comments=(PUBLIC,)), state)
    assert not result.ok and jira.comment_bodies(KEY) == []
    # one attempt only: no re-read-and-resend on the strength of an early read
    assert jira.attempts["add_comment"] == 1
    assert [i.action_id for i in state.pending_intents(KEY)] == [PUBLIC.action_id]


def test_a_comment_whose_error_is_no_refusal_keeps_its_intent_and_is_posted_once(
    jira: FakeJira, state: State
) -> None:
    """Jira took the comment (201) but its answer could not be read, and the error says
    neither "ambiguous" nor a refusal (as the client once raised it: a config error with
    status 201).  Only a refusal may forget the intent: the next cycle finds the comment
    on the issue and posts nothing again."""
    jira.fail("add_comment", land=True, ambiguous=False, status=201, config=True)
    want = desired(priority_jira="Blocker", comments=(PUBLIC,))
    wall = Wall()
    first = cycle(jira, want, state, wall)
    assert not first.ok
    assert [i.action_id for i in state.pending_intents(KEY)] == [PUBLIC.action_id]
    second = cycle(jira, want, state, wall)
    assert second.ok
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id]
    assert jira.attempts["add_comment"] == 1
    assert state.pending_intents() == []


def test_an_unconfirmed_comment_is_sent_again_only_once_a_late_read_lacks_it(
    jira: FakeJira, state: State
) -> None:
    """The answer was lost and the comment is not on the issue yet: it may still be on its
    way.  Reads before the settle period say nothing; one after it does."""
    jira.fail("add_comment", land=False, ambiguous=True)
    want = desired(priority_jira="Blocker", comments=(PUBLIC,))
    wall = Wall()
    cycle(jira, want, state, wall)
    wall.now += SETTLE - timedelta(seconds=1)
    early = cycle(jira, want, state, wall)
    assert not early.ok and [a.kind for a in early.unconfirmed] == ["comment"]
    assert jira.comment_bodies(KEY) == [] and jira.attempts["add_comment"] == 1
    wall.now += timedelta(seconds=1)
    late = cycle(jira, want, state, wall)
    assert late.ok and [a.kind for a in late.done] == ["comment"]
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id]
    assert state.pending_intents() == []


def test_the_ledger_announces_a_comment_whose_answer_was_lost_until_a_read_settles_it(
    jira: FakeJira, state: State
) -> None:
    """The journal's intent speaks to this state file alone: the issue's ledger announces
    the comment too, so a bridge without that journal reads the comments before posting
    it.  No longer wanted, and absent on a read past the settle period: announced no
    more."""
    jira.fail("add_comment", land=False, ambiguous=True)
    wall = Wall()
    cycle(jira, desired(priority_jira="Blocker", comments=(PUBLIC,)), state, wall)
    announced = Ledger.from_json(jira.issues[KEY].properties[PROPERTY])
    assert announced.unsettled == (PUBLIC.action_id,)
    assert not announced.handled(PUBLIC.action_id)
    wall.now += SETTLE
    settled = cycle(jira, desired(priority_jira="Blocker"), state, wall)
    assert settled.ok and jira.comment_bodies(KEY) == []
    assert Ledger.from_json(jira.issues[KEY].properties[PROPERTY]).unsettled == ()
    assert state.pending_intents() == []


def test_with_the_journal_lost_a_doubted_issue_is_read_before_posting(
    jira: FakeJira, state: State
) -> None:
    """The comment landed; the ledger and the journal never heard of it (a crash, then the
    state file was lost); the search showed no comment properties.  With ``doubt`` the
    issue's own comments are read first: recorded, not posted again."""
    jira.add_comment(
        KEY, PUBLIC.body, internal=False, properties={PROPERTY: {"action_id": PUBLIC.action_id}}
    )
    snap, raw, ledger = read(jira)
    blind = replace(
        snap, comments=tuple(replace(c, action_id=None, action_ids=()) for c in snap.comments)
    )
    want = desired(priority_jira="Blocker", comments=(PUBLIC, INTERNAL))
    p = plan_issue(
        want,
        blind,
        raw,
        ledger,
        make_fieldmap(),
        resolve_priority=resolve_priority,
        resolve_user=resolve_user,
    )
    assert [a.kind for a in p.actions] == ["comment", "comment"]
    result = apply_plan(jira, p, journal=state, now=NOW, doubt=True)
    assert result.ok and [a.kind for a in result.recovered] == ["comment"]
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id, INTERNAL.action_id]
    assert Ledger.from_json(jira.issues[KEY].properties[PROPERTY]).handled(PUBLIC.action_id)


# ------------------------------------------------------------------------ merged comments

LATER = DesiredComment(f"{KEY}:ladder-2:due", False, f"{KEY} (P2) breached its response target")


def merging(jira: FakeJira, want: Desired, state: State, wall: Wall, **kw: Any) -> ApplyResult:
    plan = plan_for(jira, want, merge_comments=True)
    return apply_plan(jira, plan, journal=state, now=NOW, wall=wall, settle=SETTLE, **kw)


def test_comments_of_one_visibility_are_posted_as_one_carrying_every_action_id(
    jira: FakeJira, state: State
) -> None:
    want = desired(priority_jira="Blocker", comments=(INTERNAL, PUBLIC, LATER))
    result = merging(jira, want, state, Wall())
    assert result.ok and result.writes["comment"] == 2
    assert jira.comment_bodies(KEY) == [f"{INTERNAL.body}\n\n{LATER.body}", PUBLIC.body]
    assert [comment_action_ids(c) for c in jira.issues[KEY].comments] == [
        (INTERNAL.action_id, LATER.action_id),
        (PUBLIC.action_id,),
    ]
    ledger = Ledger.from_json(jira.issues[KEY].properties[PROPERTY])
    assert all(ledger.handled(c.action_id) for c in (INTERNAL, PUBLIC, LATER))
    assert not plan_for(jira, want, merge_comments=True).actions  # nothing left to say


def test_a_merged_comment_whose_answer_was_lost_is_recorded_whole_next_cycle(
    jira: FakeJira, state: State
) -> None:
    jira.fail("add_comment", land=True)
    want = desired(priority_jira="Blocker", comments=(INTERNAL, LATER))
    wall = Wall()
    first = merging(jira, want, state, wall)
    assert [a.kind for a in first.unconfirmed] == ["comment"]
    second = merging(jira, want, state, wall)
    assert second.ok and not [a for a in second.done if isinstance(a, AddComment)]
    assert jira.attempts["add_comment"] == 1 and len(jira.issues[KEY].comments) == 1
    ledger = Ledger.from_json(jira.issues[KEY].properties[PROPERTY])
    assert ledger.handled(INTERNAL.action_id) and ledger.handled(LATER.action_id)
    assert state.pending_intents() == []


def test_with_the_journal_lost_only_what_a_merged_comment_lacks_is_posted(
    jira: FakeJira, state: State
) -> None:
    """A merged comment (the first two steps) landed, then the ledger and the state file
    were lost; the search showed no comment properties, and a third step is due now."""
    jira.add_comment(
        KEY,
        f"{INTERNAL.body}\n\n{PUBLIC.body}",
        internal=True,
        properties={
            PROPERTY: {
                "action_id": INTERNAL.action_id,
                "action_ids": [INTERNAL.action_id, PUBLIC.action_id],
            }
        },
    )
    snap, raw, ledger = read(jira)
    blind = replace(
        snap, comments=tuple(replace(c, action_id=None, action_ids=()) for c in snap.comments)
    )
    want = desired(
        priority_jira="Blocker",
        comments=(INTERNAL, replace_public(PUBLIC), LATER),
    )
    p = plan_issue(
        want,
        blind,
        raw,
        ledger,
        make_fieldmap(),
        resolve_priority=resolve_priority,
        resolve_user=resolve_user,
        merge_comments=True,
    )
    assert [len(a.action_ids) for a in p.actions if isinstance(a, AddComment)] == [3]
    result = apply_plan(jira, p, journal=state, now=NOW, doubt=True)
    assert result.ok and len(result.recovered) == 2
    assert jira.comment_bodies(KEY)[1:] == [LATER.body]  # only the new step is said
    ledger = Ledger.from_json(jira.issues[KEY].properties[PROPERTY])
    assert all(ledger.handled(c.action_id) for c in (INTERNAL, PUBLIC, LATER))


def replace_public(comment: DesiredComment) -> DesiredComment:
    """``comment`` as an internal one (so that all three merge into one)."""
    return DesiredComment(comment.action_id, False, comment.body)


def test_refused_comment_is_not_left_pending(jira: FakeJira, state: State) -> None:
    jira.fail("add_comment", status=400)
    result = cycle(jira, desired(priority_jira="Blocker", comments=(PUBLIC,)), state)
    assert not result.ok and state.pending_intents() == []


def test_failed_ledger_write_after_a_comment_recovers_without_duplicate(
    jira: FakeJira, state: State
) -> None:
    want = desired(priority_jira="Blocker", comments=(PUBLIC,))
    jira.fail("set_property", status=500)
    first = cycle(jira, want, state)
    assert [a.kind for a in first.done] == ["comment"]
    assert [a.kind for a, _ in first.failed] == ["ledger"]  # its bookkeeping failed
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id]
    assert PROPERTY not in jira.issues[KEY].properties
    assert [i.action_id for i in state.pending_intents()] == [PUBLIC.action_id]

    second_plan = plan_for(jira, want)
    assert [a.kind for a in second_plan.actions] == ["ledger"]  # repair, no comment
    result = apply_plan(jira, second_plan, journal=state, now=NOW)
    assert result.ok
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id]
    assert Ledger.from_json(jira.issues[KEY].properties[PROPERTY]).handled(PUBLIC.action_id)
    assert state.pending_intents() == []
    assert plan_for(jira, want).actions == ()


def searched(jira: FakeJira, want: Desired) -> IssuePlan:
    """The plan from a Cloud search, which gives comments without their properties."""
    return plan_for(jira, want, merge_comments=True, from_search=True)


OVER = DesiredComment(f"{KEY}:over-quota", True, f"{KEY} is over its monthly quota")


@pytest.mark.parametrize("answer", ["taken", "lost"])
def test_a_merged_comment_left_unrecorded_is_not_posted_again_for_its_second_part(
    jira: FakeJira, state: State, answer: str
) -> None:
    """A public comment merging two steps went out; Jira's answer arrived (its ledger
    write then failed) or was lost.  Next cycle only the second step is still due and the
    search shows comments without their properties: nothing is posted again, both steps
    are recorded, nothing stays open in the journal."""
    wall = Wall()
    if answer == "lost":
        jira.fail("add_comment", land=True)
    else:
        jira.fail("set_property", status=500)
    both = desired(priority_jira="Blocker", comments=(PUBLIC, OVER))
    first = apply_plan(jira, searched(jira, both), journal=state, now=NOW, wall=wall, settle=SETTLE)
    assert not first.ok and len(jira.issues[KEY].comments) == 1
    said = jira.comment_bodies(KEY)

    wall.now += 2 * SETTLE
    second = desired(priority_jira="Blocker", comments=(OVER,))
    result = apply_plan(
        jira, searched(jira, second), journal=state, now=NOW, wall=wall, settle=SETTLE
    )
    assert result.ok, result.failed
    assert jira.comment_bodies(KEY) == said
    ledger = Ledger.from_json(jira.issues[KEY].properties[PROPERTY])
    assert ledger.handled(PUBLIC.action_id) and ledger.handled(OVER.action_id)
    assert state.pending_intents() == []


def test_a_transition_jira_took_is_not_sent_again_after_an_engineer_moved_the_case_back(
    jira: FakeJira, state: State
) -> None:
    """Jira answered that Escalate moved the case; the ledger write after it failed, and
    an engineer then moved the case back.  The next cycle records the step as done: the
    engineer's move stands."""
    want = desired(priority_jira="Blocker", transitions=(ESCALATE,))
    jira.fail("set_property", status=500)
    first = cycle(jira, want, state)
    assert not first.ok and jira.issues[KEY].status == "Escalated"
    jira.issues[KEY].fields["status"] = {"name": "Open", "statusCategory": {"key": "new"}}

    result = cycle(jira, want, state)
    assert result.ok, result.failed
    assert jira.issues[KEY].status == "Open"
    assert jira.write_counts["do_transition"] == 1
    assert Ledger.from_json(jira.issues[KEY].properties[PROPERTY]).handled(ESCALATE.action_id)
    assert state.pending_intents() == []


def test_a_step_jira_took_that_is_no_longer_due_is_recorded_without_a_read(
    jira: FakeJira, state: State
) -> None:
    """A comment landed (Jira said so), its ledger write failed, and by the next cycle
    the step is no longer wanted: it is recorded as it is, without reading the issue."""
    jira.fail("set_property", status=500)
    cycle(jira, desired(priority_jira="Blocker", comments=(PUBLIC,)), state)
    jira.fail("comments", status=503)  # a read of the comments would leave it unsettled
    result = cycle(jira, desired(priority_jira="Blocker"), state)
    assert result.ok, result.failed
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id]
    assert Ledger.from_json(jira.issues[KEY].properties[PROPERTY]).handled(PUBLIC.action_id)
    assert state.pending_intents() == []


class Crash(BaseException):
    """The process dying mid-apply: nothing apply catches (KeyboardInterrupt-like)."""


def die_at_next_ledger_write(jira: FakeJira) -> None:
    real = jira.set_property

    def dying(key: str, prop: str, value: Any) -> None:
        jira.set_property = real  # type: ignore[method-assign]
        raise Crash

    jira.set_property = dying  # type: ignore[method-assign]


def test_process_dying_between_the_writes_and_the_ledger_write_recovers_on_restart(
    jira: FakeJira, state: State
) -> None:
    """A comment and a transition landed; the process died before the issue's one ledger
    write.  The restarted run finds the comment by its property and the transition by the
    status (the journal holds both intents): it records them, writes neither again."""
    want = desired(priority_jira="Blocker", comments=(PUBLIC,), transitions=(ESCALATE,))
    die_at_next_ledger_write(jira)
    with pytest.raises(Crash):
        cycle(jira, want, state)
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id]
    assert jira.issues[KEY].status == "Escalated"
    assert PROPERTY not in jira.issues[KEY].properties
    assert {i.action_id for i in state.pending_intents()} == {
        PUBLIC.action_id,
        ESCALATE.action_id,
    }

    restart = plan_for(jira, want)
    # the comment is known from the issue (a repair); the transition is re-checked
    assert [a.kind for a in restart.actions] == ["transition", "ledger"]
    result = apply_plan(jira, restart, journal=state, now=NOW)
    assert result.ok and [a.kind for a in result.recovered] == ["transition"]
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id]
    assert jira.write_counts == {"add_comment": 1, "do_transition": 1, "set_property": 1}
    ledger = Ledger.from_json(jira.issues[KEY].properties[PROPERTY])
    assert {PUBLIC.action_id, ESCALATE.action_id} <= set(ledger.done)
    assert state.pending_intents() == []
    assert plan_for(jira, want).actions == ()


def test_process_dying_before_the_ledger_write_with_the_journal_lost_writes_nothing_twice(
    jira: FakeJira, state: State
) -> None:
    """As above, but the local state went with the process: the issue alone tells."""
    want = desired(priority_jira="Blocker", comments=(PUBLIC,), transitions=(ESCALATE,))
    die_at_next_ledger_write(jira)
    with pytest.raises(Crash):
        cycle(jira, want, state)
    fresh = State.open(":memory:")
    try:
        result = cycle(jira, want, fresh)
        assert result.ok, result.failed
        assert jira.write_counts == {"add_comment": 1, "do_transition": 1, "set_property": 1}
        assert Ledger.from_json(jira.issues[KEY].properties[PROPERTY]).handled(ESCALATE.action_id)
        assert plan_for(jira, want).actions == ()
    finally:
        fresh.close()


def test_pending_intent_rechecks_the_issue_even_when_the_snapshot_missed_the_comment(
    jira: FakeJira, state: State
) -> None:
    # the process died right after POSTing; the next poll's snapshot lacked comments
    jira.add_comment(
        KEY, PUBLIC.body, internal=False, properties={PROPERTY: {"action_id": PUBLIC.action_id}}
    )
    state.journal_intent(KEY, PUBLIC.action_id, "comment", at=NOW)
    snap, raw, ledger = read(jira)
    stale = replace(snap, comments=())
    p = plan_issue(
        desired(priority_jira="Blocker", comments=(PUBLIC,)),
        stale,
        raw,
        ledger,
        make_fieldmap(),
        resolve_priority=resolve_priority,
        resolve_user=resolve_user,
    )
    assert isinstance(p.actions[0], AddComment)
    result = apply_plan(jira, p, journal=state, now=NOW)
    assert result.ok and [a.kind for a in result.recovered] == ["comment"]
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id]
    assert state.pending_intents() == []


def test_transition_that_landed_despite_an_error_is_not_repeated(
    jira: FakeJira, state: State
) -> None:
    jira.fail("do_transition", land=True)
    want = desired(priority_jira="Blocker", transitions=(ESCALATE,))
    wall = Wall()
    first = cycle(jira, want, state, wall)
    assert [a.kind for a in first.unconfirmed] == ["transition"]
    result = cycle(jira, want, state, wall)
    assert result.ok, result.failed
    assert [a.kind for a in result.recovered] == ["transition"]
    assert jira.issues[KEY].status == "Escalated"
    assert jira.write_counts["do_transition"] == 1
    assert Ledger.from_json(jira.issues[KEY].properties[PROPERTY]).handled(ESCALATE.action_id)


def test_transition_intent_from_a_crashed_run_is_checked_against_the_status(
    jira: FakeJira, state: State
) -> None:
    jira.do_transition(KEY, "31")  # Escalate landed; the process died before the ledger
    state.journal_intent(KEY, ESCALATE.action_id, "transition", "Escalated", at=NOW)
    want = desired(priority_jira="Blocker", transitions=(ESCALATE,))
    p = plan_for(jira, want)
    assert [a.kind for a in p.actions] == ["transition"]
    result = apply_plan(jira, p, journal=state, now=NOW)
    assert result.ok and [a.kind for a in result.recovered] == ["transition"]
    assert jira.write_counts["do_transition"] == 1
    assert state.pending_intents() == []
    assert plan_for(jira, want).actions == ()


def test_journal_settles_intent_when_only_the_done_mark_was_lost(
    jira: FakeJira, state: State
) -> None:
    want = desired(priority_jira="Blocker", comments=(PUBLIC,))
    cycle(jira, want, state)
    state.journal_intent(KEY, PUBLIC.action_id, "comment", at=NOW)  # as if done was lost
    p = plan_for(jira, want)
    assert p.actions == ()
    result = apply_plan(jira, p, journal=state, now=NOW)
    assert result.ok and state.pending_intents() == []


# ---------------------------------------------------------------------------- isolation


def test_one_failed_action_does_not_stop_the_others(jira: FakeJira, state: State) -> None:
    jira.fail("edit_issue", status=400)
    result = cycle(jira, busy(), state)
    assert [a.kind for a, _ in result.failed] == ["edit"]
    assert jira.issues[KEY].fields["priority"]["name"] == "Blocker"  # the edit did not happen
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id, INTERNAL.action_id]
    assert jira.issues[KEY].status == "Escalated"
    # next cycle: only the edit is left to do
    assert [a.kind for a in plan_for(jira, busy()).actions] == ["edit"]


REFUSED = ("priority: The priority selected is invalid.",)  # not in the project's scheme
#: the public comment telling of the priority change `busy` makes (Blocker → Critical)
TOLD = DesiredComment(
    f"{KEY}/priority/p1-needs-staff", True, f"{KEY} was lowered to P2: P1 needs your staff."
)


def test_an_edit_refused_for_the_priority_lands_without_it_and_its_comment_waits(
    jira: FakeJira, state: State
) -> None:
    """Jira refuses the priority (not in the project's scheme): the rest of the edit lands,
    the customer is not told of a change that did not happen, the operator is told what
    to do; once the scheme has the priority the next cycle makes the change and tells it."""
    want = replace(busy(), comments=(TOLD, PUBLIC, INTERNAL))
    jira.fail("edit_issue", status=400, messages=REFUSED)
    with capture_logs() as logs:
        result = cycle(jira, want, state)
    issue = jira.issues[KEY]
    assert issue.fields["priority"]["name"] == "Blocker"
    assert issue.fields[fid("sla_state")] == {"value": "breached"}
    assert issue.fields["assignee"]["accountId"] == "acc-jane"
    assert issue.labels == {"customer-vip", "sla-breached", "needs-info"}
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id, INTERNAL.action_id]
    assert [a.summary for a, _ in result.failed] == [("priority: refused",)]
    ledger = Ledger.from_json(issue.properties[PROPERTY])
    assert ledger.handled(PUBLIC.action_id) and not ledger.handled(TOLD.action_id)
    (warning,) = [e for e in logs if e["event"] == "edit: priority refused"]
    assert warning["key"] == KEY and warning["priority"] == "Critical"
    assert "add Critical to the priority scheme" in warning["action"]
    assert "rules/priorities.yaml" in warning["action"]

    result = cycle(jira, want, state)  # the scheme has Critical now
    assert result.ok, result.failed
    assert jira.issues[KEY].fields["priority"]["name"] == "Critical"
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id, INTERNAL.action_id, TOLD.action_id]
    assert plan_for(jira, want).actions == ()


def test_a_merged_comment_leaves_out_the_priority_change_jira_refused(
    jira: FakeJira, state: State
) -> None:
    want = replace(busy(), comments=(TOLD, PUBLIC, INTERNAL))
    jira.fail("edit_issue", status=400, messages=REFUSED)
    p = plan_for(jira, want, merge_comments=True)
    apply_plan(jira, p, journal=state, now=NOW, wall=Wall(), settle=SETTLE)
    assert jira.issues[KEY].fields["priority"]["name"] == "Blocker"
    public = [c["body"] for c in jira.issues[KEY].comments if c["jsdPublic"]]
    assert public == [PUBLIC.body]

    apply_plan(jira, plan_for(jira, want, merge_comments=True), journal=state, now=NOW, wall=Wall())
    assert jira.issues[KEY].fields["priority"]["name"] == "Critical"
    public = [c["body"] for c in jira.issues[KEY].comments if c["jsdPublic"]]
    assert public == [PUBLIC.body, TOLD.body]


def test_a_priority_change_is_not_told_while_its_edit_fails(jira: FakeJira, state: State) -> None:
    want = replace(busy(), comments=(TOLD, PUBLIC, INTERNAL))
    jira.fail("edit_issue", status=503)
    result = cycle(jira, want, state)
    assert [a.kind for a, _ in result.failed] == ["edit"]
    assert jira.issues[KEY].fields["priority"]["name"] == "Blocker"
    assert jira.comment_action_ids(KEY) == [PUBLIC.action_id, INTERNAL.action_id]
    # the edit and the comment telling of it are what is left to do
    assert [a.kind for a in plan_for(jira, want).actions] == ["edit", "comment"]


def test_failed_comment_is_not_recorded_but_the_next_one_is(jira: FakeJira, state: State) -> None:
    jira.fail("add_comment", status=403)
    result = cycle(jira, desired(priority_jira="Blocker", comments=(PUBLIC, INTERNAL)), state)
    assert [a.kind for a, _ in result.failed] == ["comment"]
    assert jira.comment_action_ids(KEY) == [INTERNAL.action_id]
    ledger = Ledger.from_json(jira.issues[KEY].properties[PROPERTY])
    assert ledger.handled(INTERNAL.action_id) and not ledger.handled(PUBLIC.action_id)
    again = plan_for(jira, desired(priority_jira="Blocker", comments=(PUBLIC, INTERNAL)))
    assert again.actions == (AddComment(KEY, PUBLIC.action_id, PUBLIC.body, internal=False),)


def test_repair_with_comments_writes_the_ledger_once(jira: FakeJira, state: State) -> None:
    # a damaged ledger plus a new comment: the comment's bookkeeping stores the repair too
    jira.issues[KEY].properties[PROPERTY] = {"done": "garbage"}
    p = plan_for(jira, desired(priority_jira="Blocker", comments=(PUBLIC,)))
    assert isinstance(p.actions[-1], SetLedger)
    result = apply_plan(jira, p, journal=state, now=NOW)
    assert result.ok and jira.write_counts == {"add_comment": 1, "set_property": 1}
    stored = jira.issues[KEY].properties[PROPERTY]
    assert stored["version"] == 1 and PUBLIC.action_id in stored["done"]
    assert NOW - timedelta(seconds=1) <= datetime.fromisoformat(stored["done"][PUBLIC.action_id])
