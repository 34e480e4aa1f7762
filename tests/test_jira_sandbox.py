"""`JiraClient` against the sandbox over loopback, for Cloud and Data Center.

The assertions are on the sandbox's end state (read back through the API or
the sandbox's request log), not on which calls were made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import pytest

from bridge.jira.client import JiraClient
from bridge.jira.fields import FieldMap, resolve_priorities, resolve_user, transition_id
from bridge.jira.port import JiraError
from bridge.jira.retry import RetryPolicy
from bridge.policy.model import Actor, IssueSnapshot
from bridge.sync.customers import CustomerDirectory
from bridge.sync.poll import org_month_cases, read_issues, scope_jql
from bridge.sync.snapshot import comment_action_id, ledger_of

FLAVOURS = ["cloud", "datacenter"]
WANTED = {
    "response_due": "Response due",
    "sla_state": "SLA state",
    "support_tier": "Support tier",
    "quota_usage": "Cases this month",
    "environment": "Environment type",
    "staff_available": "Staff available",
    "product": "Product",
    "product_version": "Product version",
    "impact": "Impact",
    "contact_phone": "Contact phone",
    "organization": "Organizations",
    "request_type": "Request Type",
}


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client_for(
    sb: Any, *, page_size: int = 100, token: str | None = None, sleeps: Sleeps | None = None
) -> JiraClient:
    return JiraClient(
        sb.url,
        flavour=sb.flavour,
        email=sb.email,
        token=token or sb.token,
        page_size=page_size,
        retry=RetryPolicy(sleep=sleeps or Sleeps(), jitter=0.0),
    )


def open_issue(client: JiraClient) -> str:
    hits = list(client.search('project = SUP AND status = "Open" ORDER BY key ASC', ["status"]))
    assert hits, "the demo seed has open cases"
    return str(hits[0]["key"])


@pytest.fixture(params=FLAVOURS)
def sb(request: pytest.FixtureRequest, sandbox_factory: Any) -> Any:
    return sandbox_factory(flavour=request.param)


def test_search_reads_every_page_of_the_largest_size(
    sandbox_factory: Any, flavour: str = ""
) -> None:
    for flavour in FLAVOURS:
        sb = sandbox_factory(flavour=flavour, cases=230)
        client = client_for(sb, page_size=100_000)
        sb.reset_requests()
        keys = [
            i["key"] for i in client.search("project = SUP ORDER BY key ASC", ["summary", "status"])
        ]
        total = len(list(sb.store.iter_issues()))
        assert len(keys) == total == len(set(keys)) >= 270
        assert keys == sorted(keys, key=lambda k: int(k.split("-")[1]))
        searches = [r for r in sb.requests.entries() if r.route.endswith(("/search", "/jql"))]
        # Cloud answers at most 100 issues with fields; Data Center up to 1000 per page
        expected = -(-total // 100) if flavour == "cloud" else 1
        assert len(searches) == expected, flavour
        # Data Center: and, once, how deep its search pages (a 9.x site has no answer)
        assert client.stats["reads"] == expected + (flavour == "datacenter")


def test_each_search_page_says_whether_another_follows(sb: Any) -> None:
    client = client_for(sb, page_size=7)
    total = len(list(sb.store.iter_issues()))
    pages = list(client.search_pages("project = SUP ORDER BY key ASC", ["summary"]))
    sizes = [min(7, total - start) for start in range(0, total, 7)]
    assert [len(p.issues) for p in pages] == sizes
    assert [p.last for p in pages] == [False] * (len(sizes) - 1) + [True]
    # a result that fills its one page exactly: the first page already says it is the last
    seven = ", ".join(f"SUP-{n}" for n in range(1, 8))
    (only,) = client.search_pages(f"key in ({seven})", ["summary"])
    assert len(only.issues) == 7 and only.last


def test_small_pages_and_snapshots_of_the_demo_site(sb: Any) -> None:
    client = client_for(sb, page_size=7)
    fm = FieldMap.resolve(WANTED, client.fields())
    me = client.myself()
    categories = client.status_categories()
    dc = sb.flavour == "datacenter"
    got = list(
        read_issues(
            client,
            scope_jql("project = SUP", updated_since=None),
            fm,
            bridge_account_id=str(me.get("accountId") or me.get("name")),
            status_categories=categories,
            # Data Center users say nothing of being customers: JSM's lists do
            customers=CustomerDirectory(client) if dc else (),
            datacenter=dc,
        )
    )
    snapshots = [s for _, s in got if isinstance(s, IssueSnapshot)]
    assert len(snapshots) == len(got) == len(list(sb.store.iter_issues()))
    for snap in snapshots:
        assert snap.organization is None or snap.organization == snap.fields["organization"]
        assert snap.reporter is not None
    acme = [s for s in snapshots if s.organization == "Acme Networks"]
    assert acme and all(s.request_type for s in acme)
    assert any(s.reporter and s.reporter.actor is Actor.CUSTOMER for s in snapshots)
    # multi-line text arrives as ADF on Cloud's v3 search and reads as the same text as v2
    for snap in snapshots:
        stored = sb.store.issue(snap.key).get(fm.id("impact"))
        assert snap.fields["impact"] == (stored.strip() or None if stored else None), snap.key


def test_edit_writes_fields_and_label_verbs_without_notifying(sb: Any) -> None:
    client = client_for(sb)
    fm = FieldMap.resolve(WANTED, client.fields())
    key = open_issue(client)
    before = client.get_issue(key, ["labels"])["fields"]["labels"]
    due = datetime.fromisoformat("2026-11-25T15:30:00+10:00")

    client.edit_issue(
        key,
        fields={
            fm.id("response_due"): fm.encode("response_due", due),
            fm.id("sla_state"): fm.encode("sla_state", "at_risk"),
            fm.id("quota_usage"): fm.encode("quota_usage", "3 of 4"),
        },
        update={"labels": [{"add": "sla-at-risk"}]},
    )

    after = client.get_issue(
        key, [fm.id("response_due"), fm.id("sla_state"), fm.id("quota_usage"), "labels"]
    )["fields"]
    assert fm.same("response_due", after[fm.id("response_due")], due)
    assert fm.same("sla_state", after[fm.id("sla_state")], "AT_RISK")
    assert fm.decode("quota_usage", after[fm.id("quota_usage")]) == "3 of 4"
    assert set(after["labels"]) == {*before, "sla-at-risk"}  # others' labels untouched
    (put,) = [r for r in sb.requests.writes if r.method == "PUT"]
    assert parse_qs(put.query) == {"notifyUsers": ["false"]}

    client.edit_issue(key, update={"labels": [{"remove": "sla-at-risk"}]})
    assert set(client.get_issue(key, ["labels"])["fields"]["labels"]) == set(before)


def test_internal_comment_with_action_id_reads_back(sb: Any) -> None:
    client = client_for(sb)
    key = open_issue(client)
    action = f"{key}/escalation/0/2026-11-24T05:00Z"

    made = client.add_comment(
        key,
        f"{key} used half its response time",
        internal=True,
        properties={"jsm-bridge": {"action_id": action}},
    )
    client.add_comment(key, f"{key}: we still need your phone number", internal=False)

    # the comment listing expands comment properties: what apply re-reads after a crash
    comments = {c["id"]: c for c in client.comments(key)}
    internal = {"key": "sd.public.comment", "value": {"internal": True}}
    if sb.flavour == "cloud":
        assert comments[str(made["id"])]["jsdPublic"] is False
    else:  # Data Center says it only through the comment property
        assert "jsdPublic" not in comments[str(made["id"])]
    assert internal in comments[str(made["id"])]["properties"]
    assert comment_action_id(comments[str(made["id"])]) == action
    assert client.comment_property(str(made["id"]), "jsm-bridge") == {"action_id": action}

    fm = FieldMap.resolve(WANTED, client.fields())
    me = client.myself()
    # Cloud: visibility comes with the search.  Data Center: from the comment properties,
    # which the bridge reads for its own comments only before posting another; once read
    # (here: `facts` from the listing above) the search's comments are marked from them
    facts = {cid: {p["key"]: p["value"] for p in c["properties"]} for cid, c in comments.items()}
    ((_raw, snap),) = list(
        read_issues(
            client,
            f'key = "{key}"',
            fm,
            bridge_account_id=str(me.get("accountId") or me.get("name")),
            status_categories=client.status_categories(),
            datacenter=sb.flavour == "datacenter",
            comment_facts=facts,
        )
    )
    assert isinstance(snap, IssueSnapshot)
    mine = [c for c in snap.comments if c.author.actor is Actor.BRIDGE]
    assert [c.public for c in mine] == [False, True]
    if sb.flavour == "datacenter":  # the properties carried the action id too
        assert [c.action_id for c in mine] == [action, None]


def test_transition_by_name_and_issue_property(sb: Any) -> None:
    client = client_for(sb)
    key = open_issue(client)
    tid = transition_id(client, key, "escalate")
    assert tid is not None
    assert transition_id(client, key, "Close") is None  # not available from Open

    client.do_transition(key, tid)
    assert client.get_issue(key, ["status"])["fields"]["status"]["name"] == "Escalated"

    assert client.get_property(key, "jsm-bridge") is None
    ledger = {"v": 1, "done": {f"{key}/escalation/2": "2026-11-24T00:00:00Z"}}
    client.set_property(key, "jsm-bridge", ledger)
    assert client.get_property(key, "jsm-bridge") == ledger
    (found,) = list(client.search(f'key = "{key}"', ["status"], properties=["jsm-bridge"]))
    # Data Center's search returns no issue properties (JRASERVER-62898): the issue does
    assert ledger_of(found) == (ledger if sb.flavour == "cloud" else None)
    got = client.get_issue(key, ["status"], properties=["jsm-bridge"])
    assert ledger_of(got) == ledger


def test_site_names_resolve(sb: Any) -> None:
    client = client_for(sb)
    assert set(
        resolve_priorities(["Blocker", "Critical", "Major", "Minor"], client.priorities())
    ) == {
        "Blocker",
        "Critical",
        "Major",
        "Minor",
    }
    jane = resolve_user(client, "jane.engineer@vendor.example")
    assert jane and "@" not in jane
    orgs = {o["name"] for o in client.organizations()}
    assert {"Acme Networks", "Initech Systems", "Globex Telecom"} <= orgs
    fm = FieldMap.resolve(WANTED, client.fields())
    since = datetime.fromisoformat("2026-11-01T00:00:00+10:00")
    starts = dict.fromkeys(["Acme Networks", "Globex Telecom"], since)
    cases = org_month_cases(client, "project = SUP", fm, starts)
    assert cases["Acme Networks"] and all(c.created >= since for c in cases["Acme Networks"])


def test_wrong_token_and_missing_issue_are_clear_errors(sb: Any) -> None:
    bad = client_for(sb, token="not-the-token")
    with pytest.raises(JiraError) as e401:
        bad.myself()
    assert e401.value.status == 401 and "not-the-token" not in str(e401.value)
    with pytest.raises(JiraError) as e404:
        client_for(sb).get_issue("SUP-99999")
    assert e404.value.status == 404 and "not found" in str(e404.value)


def test_faults_are_retried_and_an_ambiguous_comment_is_reported(sb: Any) -> None:
    sleeps = Sleeps()
    client = client_for(sb, sleeps=sleeps)
    key = open_issue(client)
    sb.set_faults("429:0.3@2s,503:0.2,drop:0.1,only:read,seed:7")
    keys = [i["key"] for i in client.search("project = SUP ORDER BY key ASC", ["summary"])]
    for _ in range(5):
        client.transitions(key)
    sb.set_faults(None)
    assert len(keys) == len(list(sb.store.iter_issues()))
    assert client.stats["retries"] > 0 and 2.0 in sleeps.waits

    sb.set_faults("fail-write:1:landed")
    with pytest.raises(JiraError) as caught:
        client.add_comment(key, f"{key}: once only", internal=False)
    sb.set_faults(None)
    assert caught.value.ambiguous
    landed = [c for c in client.comments(key) if "once only" in str(c.get("body"))]
    assert len(landed) == 1  # it landed, and the client did not repeat it


def test_multi_line_text_reads_the_same_on_both_flavours(sb: Any) -> None:
    client = client_for(sb)
    fm = FieldMap.resolve(WANTED, client.fields())
    key = open_issue(client)
    text = "Core polling stopped.\nAll sites affected.\n\nStarted after the 9.5 upgrade."
    client.edit_issue(key, fields={fm.id("impact"): fm.encode("impact", text)})
    me = client.myself()
    ((_raw, snap),) = list(
        read_issues(
            client,
            f'key = "{key}"',
            fm,
            bridge_account_id=str(me.get("accountId") or me.get("name")),
            status_categories=client.status_categories(),
        )
    )
    assert isinstance(snap, IssueSnapshot)
    assert snap.fields["impact"] == text
