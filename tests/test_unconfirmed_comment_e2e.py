"""A public comment whose answer was lost, no longer wanted for a while, then wanted again.

Globex Telecom bought NMIS and opCharts and gets one product webinar per product a
contract year.  An NMIS webinar was given in August; a second NMIS webinar asked for now
is refused with a public comment.  Jira takes that comment but the connection drops
before it answers, so the bridge does not know whether it landed.  The customer then
says the webinar is for opCharts (no refusal is due any more), and later goes back to
NMIS (the same refusal is due again).  The customer must read the refusal once.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import SANDBOX_NOW, Sandbox, SandboxFactory
from e2e_helpers import CONTACT, SAM, Bridge, BridgeFactory, new_case, set_fields_as
from e2e_helpers import transition as move
from test_apply import Wall

from bridge.sync.ledger import PROPERTY, Ledger, comment_action_id
from bridge.sync.state import JOURNAL_KEEP

FLAVOURS = ["cloud", "datacenter"]
GLOBEX = "Globex Telecom"
WEBINAR = {"org": GLOBEX, "request_type": "Product webinar"}


def comments_by_action(sb: Sandbox, key: str) -> Counter[str]:
    """How many comments on ``key`` carry each of the bridge's action ids."""
    return Counter(
        aid
        for c in sb.store.issue(key).comments
        if (aid := comment_action_id({"properties": c.properties}))
    )


def ledger(sb: Sandbox, key: str) -> Ledger:
    value: Any = sb.store.issue(key).properties.get(PROPERTY)
    return Ledger.from_json(value)


def refused_webinar(sb: Sandbox) -> tuple[str, str]:
    """The August NMIS webinar, then the one asked for now; the refusal's action id."""
    new_case(sb, created=datetime.fromisoformat("2026-08-03T10:00:00-04:00"), **WEBINAR)
    key = new_case(sb, created=SANDBOX_NOW - timedelta(hours=1), product="NMIS", **WEBINAR)
    return key, f"{key}/not-entitled/usage"


def lost_in_transit(sb: Sandbox, bridge: Bridge, key: str, action_id: str) -> None:
    """The bridge's first cycle: the comment ``action_id`` (the case's first write) lands
    in Jira and the connection drops before Jira answers."""
    sb.server.faults.set(f"fail-write:1:landed@{key}")
    bridge.cycle()
    sb.server.faults.set(None)
    assert comments_by_action(sb, key)[action_id] == 1
    [intent] = bridge.engine.state.pending_intents(key)
    assert intent.action_id == action_id and intent.unconfirmed


def customer_names(sb: Sandbox, key: str, product: str) -> None:
    set_fields_as(sb, key, CONTACT[GLOBEX], {"Product": product})
    sb.advance("10m")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_refusal_whose_answer_was_lost_is_not_posted_again_when_due_again_weeks_later(
    flavour: str, sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """The next cycle no longer wants the refusal and finds it on the issue all the same:
    it is recorded, so when it is due again, past the journal's week, it is not posted."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    key, refusal = refused_webinar(sb)
    bridge = bridges(sb)
    wall = Wall()  # the bridge's real clock: well past the settle period later on
    bridge.engine.wall = wall
    lost_in_transit(sb, bridge, key, refusal)

    customer_names(sb, key, "opCharts")
    wall.now += timedelta(minutes=10)
    bridge.cycle()
    assert "not-entitled" not in sb.store.issue(key).values.get("labels", [])
    assert ledger(sb, key).handled(refusal)
    assert bridge.engine.state.pending_intents(key) == []

    sb.advance(JOURNAL_KEEP + timedelta(days=1))
    wall.now += JOURNAL_KEEP + timedelta(days=1)
    bridge.cycle()  # the journal lets its week-old entries go
    assert refusal not in bridge.engine.state.journal_done_actions(key)
    customer_names(sb, key, "NMIS")
    bridge.cycle()
    assert "not-entitled" in sb.store.issue(key).values.get("labels", [])
    assert comments_by_action(sb, key)[refusal] == 1


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_refusal_whose_answer_was_lost_is_not_posted_again_after_the_state_is_moved_aside(
    flavour: str, sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """The operator moves the state file aside (as the bridge advises when a state file
    belongs to another site): the journal's unconfirmed intent is gone, and the first
    full read finds the case no longer refused.  When the refusal is due again, the issue
    itself must say the comment may be there: it is not posted a second time."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    key, refusal = refused_webinar(sb)
    lost_in_transit(sb, bridges(sb), key, refusal)

    customer_names(sb, key, "opCharts")
    fresh = bridges(sb)  # a new state file: no journal, no record of the case
    fresh.cycle()
    assert "not-entitled" not in sb.store.issue(key).values.get("labels", [])

    customer_names(sb, key, "NMIS")
    fresh.cycle()
    assert "not-entitled" in sb.store.issue(key).values.get("labels", [])
    assert comments_by_action(sb, key)[refusal] == 1
    assert ledger(sb, key).handled(refusal)
    sb.advance("10m")
    assert fresh.cycle().writes == 0


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_over_quota_comment_whose_answer_was_lost_is_corrected_once_the_quota_frees(
    flavour: str, sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """Acme's fifth case of the month is told it is over quota, and the connection drops
    before Jira answers.  Before the next cycle the second case turns out a duplicate:
    the fifth is within the quota after all.  That cycle takes the over-quota label off,
    so it is the only one that can tell the customer: it looks at the issue's comments,
    finds the over-quota comment there, and posts the correction, once."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    start = SANDBOX_NOW.replace(day=1)
    keys = [new_case(sb, created=start + timedelta(days=day)) for day in (1, 2, 3, 4, 5)]
    fifth, told = keys[4], f"{keys[4]}/over-quota"
    bridge = bridges(sb)
    lost_in_transit(sb, bridge, fifth, told)
    assert "over-quota" in sb.store.issue(fifth).values["labels"]

    sb.advance("10m")
    move(sb, keys[1], "Resolve", by=SAM, resolution="Duplicate")
    sb.advance("10m")
    bridge.cycle()
    assert "over-quota" not in sb.store.issue(fifth).values["labels"]

    def quota_comments() -> Counter[str]:
        return Counter({a: n for a, n in comments_by_action(sb, fifth).items() if told in a})

    assert quota_comments() == Counter({told: 1, f"{told}/cleared": 1})
    sb.advance("10m")
    bridge.cycle()
    assert quota_comments() == Counter({told: 1, f"{told}/cleared": 1})
    assert bridge.engine.state.pending_intents() == []
