"""What the write journal remembers, end to end over loopback: a write Jira took and a
comment the bridge recorded are never written again, whatever a later read shows."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from conftest import SANDBOX_NOW, SandboxFactory
from e2e_helpers import BridgeFactory, new_case
from e2e_helpers import end_state as view

from bridge.jira.port import SearchPage
from bridge.sync.state import JOURNAL_KEEP


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
