"""What the write journal remembers, end to end over loopback: a write Jira took and a
comment the bridge recorded are never written again, whatever a later read shows."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import SANDBOX_NOW, SandboxFactory
from e2e_helpers import CONTACT, SAM, Bridge, BridgeFactory, clock_at, new_case, set_fields_as
from e2e_helpers import end_state as view
from e2e_helpers import transition as move
from test_apply import Wall
from test_e2e_clock import _rules_with_approval_hold, t

from bridge.jira.port import JiraError, SearchPage
from bridge.rules.load import load_ruleset
from bridge.sync.ledger import PROPERTY
from bridge.sync.state import JOURNAL_KEEP


def ledger_refused(
    bridge: Bridge, key: str, monkeypatch: pytest.MonkeyPatch, *, alone: bool = False
) -> dict[str, bool]:
    """While ``refused["on"]``, Jira refuses every write of ``key``'s ledger (with the
    edit it travels in, and on its own) with a 500: the writes before it stay landed.
    ``alone``: only a ledger written with no field beside it."""
    port = bridge.engine.port
    edit, put = port.edit_issue, port.set_property
    refused = {"on": True}

    def edit_issue(k: str, *args: Any, **kwargs: Any) -> Any:
        carries = PROPERTY in (kwargs.get("properties") or {})
        fields = kwargs.get("fields") or kwargs.get("update")
        if refused["on"] and k == key and carries and not (alone and fields):
            raise JiraError("the edit failed (500)", status=500)
        return edit(k, *args, **kwargs)

    def set_property(k: str, prop: str, value: Any) -> Any:
        if refused["on"] and k == key and prop == PROPERTY:
            raise JiraError("the property write failed (500)", status=500)
        return put(k, prop, value)

    monkeypatch.setattr(port, "edit_issue", edit_issue)
    monkeypatch.setattr(port, "set_property", set_property)
    return refused


def lagging_search(port: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """Make ``port``'s search show each issue as its first search showed it, while
    ``lag["on"]``: a search index behind the bridge's own writes.  Cloud's search/jql
    says "Recent updates might not be immediately visible in the returned search
    results" (https://developer.atlassian.com/cloud/jira/platform/rest/v3/
    api-group-issue-search/#api-rest-api-3-search-jql-get)."""
    real = port.search_pages
    first: dict[str, Any] = {}
    lag = {"on": False}

    def search_pages(jql: str, *args: Any, **kwargs: Any) -> Iterator[SearchPage]:
        asked = json.dumps([args, kwargs], sort_keys=True, default=str)
        for page in real(jql, *args, **kwargs):
            issues = []
            for issue in page.issues:
                seen = first.setdefault(f"{asked}|{issue['key']}", copy.deepcopy(issue))
                issues.append(copy.deepcopy(seen) if lag["on"] else issue)
            yield SearchPage(issues, page.last)

    monkeypatch.setattr(port, "search_pages", search_pages)
    return lag


def test_a_comment_is_not_posted_again_while_the_search_still_shows_the_case_before_it(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Cloud: the bridge asks for the missing information; a minute later the search
    still gives the case without that comment and with its ledger as it was.  The
    journal knows the comment is in the ledger: it is not posted again.  (Data Center
    reads each ledger on its own, not through the search.)"""
    sb = sandbox_factory(seed="empty", flavour="cloud", now=SANDBOX_NOW)
    key = new_case(sb, created=SANDBOX_NOW - timedelta(minutes=30), impact=None)
    bridge = bridges(sb)
    lag = lagging_search(bridge.engine.port, monkeypatch)
    bridge.cycle()
    asked = [c.body for c in view(sb, key).bridge_comments if c.public]
    assert len(asked) == 1, asked

    lag["on"] = True
    sb.advance("1m")
    bridge.cycle()
    sb.advance("1m")
    bridge.cycle()
    assert [c.body for c in view(sb, key).bridge_comments if c.public] == asked

    # the journal's done entries go once past JOURNAL_KEEP; the case's stay until then
    state = bridge.engine.state
    done = state.journal_done_actions(key)
    assert done
    state.journal_intent("SUP-999", "old", "comment", at=sb.now - JOURNAL_KEEP - timedelta(days=1))
    state.journal_done("SUP-999", "old", at=sb.now - JOURNAL_KEEP - timedelta(days=1))
    lag["on"] = False
    bridge.cycle()
    assert state.journal_done_actions("SUP-999") == {}
    assert state.journal_done_actions(key) == done


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_hold_jira_made_whose_ledger_write_failed_is_not_made_again_once_approved(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    flavour: str,
) -> None:
    """Acme's fifth case this month is over quota and, with the documented hold switched
    on, moved to Pending approval; Jira answers, then refuses the ledger.  An agent
    approves it.  Well past the settle time the bridge records the hold from its
    journal: the case stays approved, the hold is not made again."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 9, 5))
    for day in (2, 3, 4, 5):  # Acme's four cases of November
        new_case(sb, priority="Minor", created=t(day, 10), summary=f"Question {day}")
    key = new_case(sb, priority="Blocker", created=t(24, 9))
    bridge = bridges(sb)
    bridge.engine.ruleset = load_ruleset(
        _rules_with_approval_hold(tmp_path), tuple(bridge.runtime.settings.fields)
    )
    wall = Wall()  # the bridge's real clock (when an unanswered write may be believed absent)
    bridge.engine.wall = wall
    refused = ledger_refused(bridge, key, monkeypatch)
    bridge.cycle()
    held = view(sb, key)
    assert held.status == "Pending approval"

    refused["on"] = False
    with clock_at(sb, t(24, 9, 30)):
        move(sb, key, "Approve", by=SAM)
    sb.set_now(t(24, 10))
    wall.now += timedelta(hours=1)
    bridge.cycle()
    approved = view(sb, key)
    assert approved.status == "Open"
    assert approved.bridge_comments == held.bridge_comments
    assert bridge.engine.state.pending_intents() == []
    assert bridge.cycle().writes == 0


def test_a_merged_public_comment_is_not_posted_again_when_only_its_second_part_is_still_due(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cloud: a P1 asked for outside production and without its impact gets one public
    comment saying both (the priority's explanation first, so it follows the priority
    edit, whose ledger announces it); Jira refuses any ledger written on its own after
    it.  The customer then says it is production, so only the request for the impact is
    still due (the priority goes back, told in a comment of its own), and the search
    gives the comments without their properties: the merged comment is recorded, not
    posted again."""
    sb = sandbox_factory(seed="empty", flavour="cloud", now=SANDBOX_NOW)
    key = new_case(
        sb, priority="Blocker", env="Test", impact=None, created=SANDBOX_NOW - timedelta(hours=1)
    )
    bridge = bridges(sb)
    refused = ledger_refused(bridge, key, monkeypatch, alone=True)
    bridge.cycle()
    said = [c.body for c in view(sb, key).bridge_comments if c.public]
    assert len(said) == 1 and "still need" in said[0], said

    refused["on"] = False
    set_fields_as(sb, key, CONTACT["Acme Networks"], {"Environment type": "Production"})
    sb.advance("10m")
    bridge.cycle()
    public = [c.body for c in view(sb, key).bridge_comments if c.public]
    assert public[:1] == said and len(public) == 2 and "back to P1" in public[1], public
    assert bridge.engine.state.pending_intents() == []


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_comment_a_stop_kept_from_being_sent_goes_out_at_once_next_time(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """A stop (SIGTERM) arrives while the bridge waits out Jira's 429 on a comment: the
    comment was never taken (a write is retried only when Jira turned it away), so the
    next run posts it at once, once, instead of holding the case for the settling time
    of an answer lost."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    key = new_case(sb, created=SANDBOX_NOW - timedelta(minutes=30), impact=None)
    first = bridges(sb)
    first.runtime.client.interrupt_waits(lambda seconds: True)  # a stop is pending
    sb.server.faults.set("429:1@1s,only:write")
    assert not first.cycle().report.complete
    sb.server.faults.set(None)
    assert view(sb, key).bridge_comments == []
    assert not first.engine.state.pending_intents(key)

    sb.advance("1m")
    bridges(sb, state=first.engine.state.path).cycle()
    asked = [c.body for c in view(sb, key).bridge_comments if c.public]
    assert len(asked) == 1 and "we still need: Impact" in asked[0], asked
