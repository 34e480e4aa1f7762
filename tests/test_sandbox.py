"""Contract tests of the sandbox's behaviour, through real HTTP on loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from conftest import SANDBOX_NOW, Sandbox, SandboxFactory

from bridge.sandbox.faults import Faults, FaultSpec
from bridge.sandbox.seed import build, generate
from bridge.sandbox.store import Store, parse_duration, parse_instant

API3 = "/rest/api/3"
API2 = "/rest/api/2"


def field_id(sb: Sandbox, name: str) -> str:
    f = sb.store.field_by_name(name)
    assert f is not None
    return f.id


def key_of(sb: Sandbox, summary: str) -> str:
    """The demo case whose summary starts with ``summary`` (keys depend on the clock)."""
    found = [i.key for i in sb.store.iter_issues() if i.values["summary"].startswith(summary)]
    assert len(found) == 1, (summary, found)
    return found[0]


def adf(text: str) -> dict[str, object]:
    return {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}],
    }


# --------------------------------------------------------------------------- search


def test_search_jql_pages_to_the_end_without_duplicates_or_gaps(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory(seed="empty", cases=257)
    s = sb.session()
    keys: list[str] = []
    token = None
    pages = 0
    while True:
        body: dict[str, object] = {"jql": "project = SUP", "fields": ["summary"], "maxResults": 50}
        if token:
            body["nextPageToken"] = token
        r = s.post(sb.url + API3 + "/search/jql", json=body)
        assert r.status_code == 200, r.text
        page = r.json()
        assert "total" not in page
        keys += [i["key"] for i in page["issues"]]
        pages += 1
        token = page.get("nextPageToken")
        if page["isLast"]:
            assert token is None
            break
    assert pages == 6
    assert len(keys) == len(set(keys)) == 257
    assert set(keys) == set(sb.store.issues)


def test_search_jql_caps_page_size_by_weight_of_the_request(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory(seed="empty", cases=300)
    s = sb.session()
    heavy = s.get(
        sb.url + API3 + "/search/jql",
        params={"jql": "project=SUP", "fields": "summary", "maxResults": 5000},
    )
    light = s.get(
        sb.url + API3 + "/search/jql",
        params={"jql": "project=SUP", "fields": "key", "maxResults": 5000},
    )
    assert len(heavy.json()["issues"]) == 100
    assert len(light.json()["issues"]) == 300
    assert light.json()["issues"][0].keys() == {"id", "key"}


def test_search_jql_filters_orders_and_returns_properties(sandbox: Sandbox) -> None:
    s = sandbox.session()
    iss = sandbox.store.issue("SUP-7")
    iss.properties["jsm-bridge"] = {"done": ["a"]}
    r = s.get(
        sandbox.url + API3 + "/search/jql",
        params={
            "jql": 'project = SUP AND "Environment type" = Staging ORDER BY created ASC',
            "fields": "summary,priority",
            "properties": "jsm-bridge",
            "expand": "names",
        },
    )
    assert r.status_code == 200, r.text
    issues = r.json()["issues"]
    assert [i["key"] for i in issues] == [key_of(sandbox, "Staging poller is down")]
    r = s.get(
        sandbox.url + API3 + "/search/jql",
        params={"jql": "key = SUP-7", "properties": "jsm-bridge", "fields": "summary"},
    )
    assert r.json()["issues"][0]["properties"] == {"jsm-bridge": {"done": ["a"]}}
    assert (
        "names"
        in s.get(
            sandbox.url + API3 + "/search/jql",
            params={"jql": "key = SUP-7", "fields": "summary", "expand": "names"},
        ).json()
    )


def test_search_jql_rejects_bad_jql_and_unbounded_queries(sandbox: Sandbox) -> None:
    s = sandbox.session()
    bad = s.get(sandbox.url + API3 + "/search/jql", params={"jql": "project = = SUP"})
    assert bad.status_code == 400
    assert bad.json()["errorMessages"] and bad.json()["errors"] == {}
    unknown = s.get(sandbox.url + API3 + "/search/jql", params={"jql": "bogus = 1"})
    assert unknown.status_code == 400
    assert "bogus" in unknown.json()["errorMessages"][0]
    unbounded = s.get(sandbox.url + API3 + "/search/jql", params={"jql": ""})
    assert unbounded.status_code == 400
    token = s.get(
        sandbox.url + API3 + "/search/jql",
        params={"jql": "project=SUP", "nextPageToken": "nonsense"},
    )
    assert token.status_code == 400


def test_updated_since_finds_only_recently_changed(sandbox: Sandbox) -> None:
    s = sandbox.session()
    sandbox.advance("1h")
    r = s.put(sandbox.url + API2 + "/issue/SUP-3", json={"update": {"labels": [{"add": "poked"}]}})
    assert r.status_code == 204
    found = s.get(
        sandbox.url + API3 + "/search/jql",
        params={"jql": "project = SUP AND updated >= -30m", "fields": "key"},
    )
    assert [i["key"] for i in found.json()["issues"]] == ["SUP-3"]


def test_old_search_is_gone_on_cloud(sandbox: Sandbox) -> None:
    s = sandbox.session()
    for path in (API2 + "/search", API3 + "/search"):
        r = s.get(sandbox.url + path, params={"jql": "project=SUP"})
        assert r.status_code == 410
        assert "/rest/api/3/search/jql" in r.json()["errorMessages"][0]


def test_datacenter_search_pages_with_start_at_and_total(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(seed="empty", flavour="datacenter", cases=120)
    s = sb.session()
    assert s.get(sb.url + API2 + "/search/jql", params={"jql": "project=SUP"}).status_code == 404
    assert s.get(sb.url + API3 + "/myself").status_code == 404  # Data Center has no v3
    seen: list[str] = []
    start = 0
    while True:
        r = s.post(
            sb.url + API2 + "/search",
            json={
                "jql": "project = SUP",
                "startAt": start,
                "maxResults": 50,
                "fields": ["summary"],
            },
        )
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["total"] == 120
        seen += [i["key"] for i in page["issues"]]
        start += len(page["issues"])
        if start >= page["total"]:
            break
    assert len(seen) == len(set(seen)) == 120
    wrong = requests.get(sb.url + API2 + "/myself", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    basic = requests.get(sb.url + API2 + "/myself", auth=("bridge", "sandbox-token"))
    assert basic.status_code == 200 and basic.json()["name"] == "bridge"


# --------------------------------------------------------------------------- edits


def test_label_add_remove_and_set_semantics(sandbox: Sandbox) -> None:
    s = sandbox.session()
    url = sandbox.url + API2 + "/issue/SUP-5"
    sandbox.store.issue("SUP-5").values["labels"] = ["engineer-own"]
    assert (
        s.put(
            url, json={"update": {"labels": [{"add": "over-quota"}, {"add": "needs-info"}]}}
        ).status_code
        == 204
    )
    assert sandbox.store.issue("SUP-5").values["labels"] == [
        "engineer-own",
        "over-quota",
        "needs-info",
    ]
    assert (
        s.put(
            url, json={"update": {"labels": [{"remove": "needs-info"}, {"remove": "absent"}]}}
        ).status_code
        == 204
    )
    assert sandbox.store.issue("SUP-5").values["labels"] == ["engineer-own", "over-quota"]
    assert (
        s.put(url, json={"update": {"labels": [{"add": "over-quota"}]}}).status_code == 204
    )  # idempotent
    assert sandbox.store.issue("SUP-5").values["labels"] == ["engineer-own", "over-quota"]
    assert s.put(url, json={"update": {"labels": [{"set": ["only"]}]}}).status_code == 204
    assert sandbox.store.issue("SUP-5").values["labels"] == ["only"]
    bad = s.put(url, json={"update": {"labels": [{"add": "two words"}]}})
    assert bad.status_code == 400 and "labels" in bad.json()["errors"]


def test_every_change_is_logged_with_author_and_bumps_updated(sandbox: Sandbox) -> None:
    s = sandbox.session()
    key = key_of(sandbox, "Export opCharts dashboards")
    iss = sandbox.store.issue(key)
    before_updated = iss.values["updated"]
    before_hist = len(iss.changelog)
    sandbox.advance("2h")
    due = "2026-11-24T14:00:00.000+1000"
    body = {
        "fields": {
            "priority": {"name": "Critical"},
            field_id(sandbox, "Response due"): due,
            field_id(sandbox, "SLA state"): {"value": "running"},
            field_id(sandbox, "Cases this month"): "2 of 12",
        },
        "update": {"labels": [{"add": "sla-at-risk"}]},
    }
    r = s.put(sandbox.url + API2 + f"/issue/{key}", params={"notifyUsers": "false"}, json=body)
    assert r.status_code == 204, r.text
    assert iss.values["updated"] > before_updated
    assert len(iss.changelog) == before_hist + 1
    entry = s.get(sandbox.url + API3 + f"/issue/{key}/changelog").json()["values"][-1]
    assert entry["author"]["emailAddress"] == "bridge@vendor.example"
    assert entry["created"] == "2026-11-24T12:00:00.000+1000"
    items = {i["field"]: i for i in entry["items"]}
    assert (
        items["priority"]["fromString"] == "Blocker" and items["priority"]["toString"] == "Critical"
    )
    assert items["labels"]["toString"] == "sla-at-risk"
    assert (
        items["SLA state"]["fieldtype"] == "custom" and items["SLA state"]["toString"] == "running"
    )
    got = s.get(sandbox.url + API2 + f"/issue/{key}").json()["fields"]
    assert got[field_id(sandbox, "Response due")] == due
    assert got[field_id(sandbox, "SLA state")]["value"] == "running"
    # the same edit again changes nothing: no history, no `updated` bump
    sandbox.advance("1h")
    stamp = iss.values["updated"]
    assert s.put(sandbox.url + API2 + f"/issue/{key}", json=body).status_code == 204
    assert iss.values["updated"] == stamp and len(iss.changelog) == before_hist + 1


def test_priority_set_by_reporter_at_create_has_no_changelog_but_agent_change_does(
    sandbox: Sandbox,
) -> None:
    # created Major by the customer, raised to Critical by Jane (demo seed)
    key = key_of(sandbox, "Event correlation misfires")
    hist = (
        sandbox.session()
        .get(sandbox.url + API2 + f"/issue/{key}", params={"expand": "changelog"})
        .json()["changelog"]["histories"]
    )
    prio = [
        (h["author"]["emailAddress"], i["fromString"], i["toString"])
        for h in hist
        for i in h["items"]
        if i["field"] == "priority"
    ]
    assert prio == [("jane.engineer@vendor.example", "Major", "Critical")]
    untouched = key_of(sandbox, "Export opCharts dashboards")
    assert (
        sandbox.session()
        .get(sandbox.url + API2 + f"/issue/{untouched}", params={"expand": "changelog"})
        .json()["changelog"]["histories"]
        == []
    )


def test_edit_errors_are_jira_shaped_and_change_nothing(sandbox: Sandbox) -> None:
    s = sandbox.session()
    iss = sandbox.store.issue("SUP-6")
    snapshot = dict(iss.values)
    r = s.put(
        sandbox.url + API2 + "/issue/SUP-6",
        json={
            "fields": {
                "bogus": 1,
                "priority": {"name": "Urgent"},
                field_id(sandbox, "SLA state"): {"value": "late"},
                "summary": "ok",
            }
        },
    )
    assert r.status_code == 400
    errs = r.json()["errors"]
    assert (
        errs["bogus"]
        == "Field 'bogus' cannot be set. It is not on the appropriate screen, or unknown."
    )
    assert "priority" in errs and field_id(sandbox, "SLA state") in errs
    assert iss.values == snapshot
    assert s.get(sandbox.url + API2 + "/issue/SUP-999").status_code == 404
    assert s.get(sandbox.url + API2 + "/issue/SUP-999").json()["errorMessages"] == [
        "Issue does not exist or you do not have permission to see it."
    ]
    shape = s.put(
        sandbox.url + API2 + "/issue/SUP-6", json={"update": {"labels": [{"append": "x"}]}}
    )
    assert shape.status_code == 400


def test_a_priority_the_projects_scheme_lacks_is_refused_as_jira_refuses_it(
    sandbox: Sandbox,
) -> None:
    """A priority of the site left out of the project's priority scheme: an edit setting
    it answers 400 with ``errors.priority`` and changes nothing; GET /priority still
    lists it (it is the site's)."""
    s = sandbox.session()
    iss = sandbox.store.issue("SUP-6")
    snapshot = dict(iss.values)
    critical = sandbox.store.priority_by_name("Critical")
    assert critical is not None and iss.values["priority"] != critical.id
    sandbox.store.project.priority_ids = [
        p.id for p in sandbox.store.priorities if p is not critical
    ]
    r = s.put(
        sandbox.url + API2 + "/issue/SUP-6",
        json={"fields": {"priority": {"id": critical.id}, "summary": "ok"}},
    )
    assert r.status_code == 400
    assert r.json() == {
        "errorMessages": [],
        "errors": {"priority": "The priority selected is invalid."},
    }
    assert iss.values == snapshot
    names = [p["name"] for p in s.get(sandbox.url + API2 + "/priority").json()]
    assert "Critical" in names
    sandbox.store.project.priority_ids = None  # an admin adds it to the scheme
    r = s.put(
        sandbox.url + API2 + "/issue/SUP-6", json={"fields": {"priority": {"id": critical.id}}}
    )
    assert r.status_code == 204, r.text


def test_assignee_select_null_and_number_values(sandbox: Sandbox) -> None:
    s = sandbox.session()
    jane = sandbox.store.user_by_email("jane.engineer@vendor.example")
    assert jane is not None
    env = field_id(sandbox, "Environment type")
    assert (
        s.put(
            sandbox.url + API2 + "/issue/SUP-22",
            json={"fields": {"assignee": {"accountId": jane.account_id}, env: None}},
        ).status_code
        == 204
    )
    iss = sandbox.store.issue("SUP-22")
    assert iss.values["assignee"] == jane.account_id and iss.values[env] is None
    customer = sandbox.store.user_by_email("noc@globex.example")
    assert customer is not None
    bad = s.put(
        sandbox.url + API2 + "/issue/SUP-22",
        json={"fields": {"assignee": {"accountId": customer.account_id}}},
    )
    assert bad.status_code == 400 and "assignee" in bad.json()["errors"]


def test_v3_rich_text_is_adf(sandbox: Sandbox) -> None:
    s = sandbox.session()
    impact = field_id(sandbox, "Impact")
    r = s.put(sandbox.url + API3 + "/issue/SUP-9", json={"fields": {impact: "plain"}})
    assert r.status_code == 400
    assert (
        s.put(
            sandbox.url + API3 + "/issue/SUP-9", json={"fields": {impact: adf("Whole site down")}}
        ).status_code
        == 204
    )
    assert sandbox.store.issue("SUP-9").values[impact] == "Whole site down"
    v3 = s.get(
        sandbox.url + API3 + "/issue/SUP-9", params={"fields": f"description,{impact}"}
    ).json()["fields"]
    assert v3[impact]["type"] == "doc" and v3["description"]["type"] == "doc"
    v2 = s.get(sandbox.url + API2 + "/issue/SUP-9", params={"fields": impact}).json()["fields"]
    assert v2 == {impact: "Whole site down"}


def test_create_issue_and_fields_selection(sandbox: Sandbox) -> None:
    s = sandbox.session("jane.engineer@vendor.example")
    orgs = field_id(sandbox, "Organizations")
    rt = field_id(sandbox, "Request Type")
    r = s.post(
        sandbox.url + API2 + "/issue",
        json={
            "fields": {
                "project": {"key": "SUP"},
                "issuetype": {"name": "Support"},
                "summary": "New case from a test",
                "priority": {"name": "Blocker"},
                orgs: [1],
                rt: "Installation",
            }
        },
    )
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    got = s.get(
        sandbox.url + API2 + f"/issue/{key}", params={"fields": "*all,-comment", "expand": "names"}
    ).json()
    assert "comment" not in got["fields"]
    assert got["fields"][orgs] == [
        {
            "id": "1",
            "name": "Acme Networks",
            "scimManaged": False,
            "_links": {"self": sandbox.url + "/rest/servicedeskapi/organization/1"},
            "created": got["fields"][orgs][0]["created"],
        }
    ]
    assert got["fields"][rt]["requestType"]["name"] == "Installation"
    assert got["fields"]["status"]["statusCategory"]["key"] == "new"
    assert got["names"]["summary"] == "Summary"
    only = s.get(sandbox.url + API2 + f"/issue/{key}", params={"fields": "summary"}).json()
    assert only["fields"] == {"summary": "New case from a test"}
    missing = s.post(sandbox.url + API2 + "/issue", json={"fields": {"project": {"key": "NOPE"}}})
    assert missing.status_code == 400 and {"project", "issuetype", "summary"} <= set(
        missing.json()["errors"]
    )


# --------------------------------------------------------------------------- properties, comments


def test_issue_properties_round_trip_and_32kb_limit(sandbox: Sandbox) -> None:
    s = sandbox.session()
    url = sandbox.url + API2 + "/issue/SUP-5/properties/jsm-bridge"
    assert s.get(url).status_code == 404
    stamp = sandbox.store.issue("SUP-5").values["updated"]
    assert s.put(url, json={"done": ["x"]}).status_code == 201
    assert s.put(url, json={"done": ["x", "y"]}).status_code == 200
    assert s.get(url).json() == {"key": "jsm-bridge", "value": {"done": ["x", "y"]}}
    assert [
        k["key"] for k in s.get(sandbox.url + API2 + "/issue/SUP-5/properties").json()["keys"]
    ] == ["jsm-bridge"]
    assert (
        sandbox.store.issue("SUP-5").values["updated"] == stamp
    )  # properties do not touch `updated`
    too_big = s.put(url, json={"blob": "x" * 33000})
    assert too_big.status_code == 400
    assert s.get(url).json()["value"] == {"done": ["x", "y"]}
    # the same limit holds for a property an edit carries, and nothing of that edit lands
    edit = s.put(
        sandbox.url + API2 + "/issue/SUP-5",
        json={
            "fields": {"summary": "renamed"},
            "properties": [{"key": "jsm-bridge", "value": {"blob": "x" * 33000}}],
        },
    )
    assert edit.status_code == 400
    assert s.get(url).json()["value"] == {"done": ["x", "y"]}
    assert sandbox.store.issue("SUP-5").values["summary"] != "renamed"
    assert s.delete(url).status_code == 204
    assert s.get(url).status_code == 404


def test_comment_properties_round_trip_and_jsd_public(sandbox: Sandbox) -> None:
    s = sandbox.session()
    url = sandbox.url + API2 + "/issue/SUP-8/comment"
    internal = s.post(
        url,
        json={
            "body": "SUP-8 breached",
            "properties": [
                {"key": "sd.public.comment", "value": {"internal": True}},
                {"key": "jsm-bridge", "value": {"action": "a1"}},
            ],
        },
    )
    assert internal.status_code == 201, internal.text
    assert internal.json()["jsdPublic"] is False
    public = s.post(url, json={"body": "Hello from SUP-8"})
    assert public.json()["jsdPublic"] is True
    listed = s.post(
        sandbox.url + API2 + "/comment/list",
        params={"expand": "properties"},
        json={"ids": [int(internal.json()["id"])]},
    ).json()
    mine = listed["values"][0]
    assert {p["key"]: p["value"] for p in mine["properties"]}["jsm-bridge"] == {"action": "a1"}
    prop = s.get(sandbox.url + API2 + f"/comment/{mine['id']}/properties/jsm-bridge")
    assert prop.json() == {"key": "jsm-bridge", "value": {"action": "a1"}}
    v3 = sandbox.session().post(
        sandbox.url + API3 + "/issue/SUP-8/comment", json={"body": "not adf"}
    )
    assert v3.status_code == 400
    jsm = s.get(
        sandbox.url + "/rest/servicedeskapi/request/SUP-8/comment", params={"internal": "false"}
    ).json()
    assert all(c["public"] for c in jsm["values"])


def test_comments_page(sandbox: Sandbox) -> None:
    s = sandbox.session()
    before = len(sandbox.store.issue("SUP-30").comments)
    for i in range(5):
        s.post(sandbox.url + API2 + "/issue/SUP-30/comment", json={"body": f"note {i}"})
    first = s.get(
        sandbox.url + API2 + "/issue/SUP-30/comment", params={"startAt": 0, "maxResults": 2}
    ).json()
    rest = s.get(
        sandbox.url + API2 + "/issue/SUP-30/comment", params={"startAt": 2, "maxResults": 100}
    ).json()
    assert first["total"] == rest["total"] == before + 5
    bodies = [c["body"] for c in first["comments"] + rest["comments"]]
    assert bodies[before:] == [f"note {i}" for i in range(5)]
    newest = s.get(
        sandbox.url + API2 + "/issue/SUP-30/comment",
        params={"orderBy": "-created", "maxResults": 1},
    ).json()
    assert newest["comments"][0]["body"] == "note 4"


def test_customer_comments_via_service_management_api(sandbox: Sandbox) -> None:
    cust = sandbox.session("ops@acme.example")
    r = cust.post(
        sandbox.url + "/rest/servicedeskapi/request/SUP-5/comment",
        json={"body": "Attached the log", "public": True},
    )
    assert r.status_code == 201, r.text
    c = sandbox.store.issue("SUP-5").comments[-1]
    assert c.public and sandbox.store.users[c.author].account_type == "customer"
    assert (
        cust.post(
            sandbox.url + "/rest/servicedeskapi/request/SUP-5/comment",
            json={"body": "x", "public": False},
        ).status_code
        == 403
    )
    other = sandbox.session("help@umbrella.example")
    assert other.get(sandbox.url + "/rest/servicedeskapi/request/SUP-5").status_code == 404
    agent = sandbox.session("sam.agent@vendor.example")
    internal = agent.post(
        sandbox.url + "/rest/servicedeskapi/request/SUP-5/comment",
        json={"body": "internal", "public": False},
    )
    assert internal.json()["public"] is False
    as_v2 = agent.get(sandbox.url + API2 + "/issue/SUP-5/comment").json()["comments"][-1]
    assert as_v2["jsdPublic"] is False


# --------------------------------------------------------------------------- workflow


def test_transitions_change_status_category_and_resolution(sandbox: Sandbox) -> None:
    s = sandbox.session()
    key = key_of(sandbox, "Quarterly service review")
    url = sandbox.url + API2 + f"/issue/{key}/transitions"
    names = {t["name"]: t["id"] for t in s.get(url).json()["transitions"]}
    assert set(names) == {
        "Start work",
        "Wait for customer",
        "Escalate",
        "Needs approval",
        "Resolve",
    }
    assert s.post(url, json={"transition": {"id": names["Escalate"]}}).status_code == 204
    issue = s.get(
        sandbox.url + API2 + f"/issue/{key}", params={"fields": "status,resolution"}
    ).json()["fields"]
    assert (
        issue["status"]["name"] == "Escalated"
        and issue["status"]["statusCategory"]["key"] == "indeterminate"
    )
    assert s.post(url, json={"transition": {"id": names["Needs approval"]}}).status_code == 400
    resolve = next(
        t
        for t in s.get(url, params={"expand": "transitions.fields"}).json()["transitions"]
        if t["name"] == "Resolve"
    )
    assert "resolution" in resolve["fields"]
    r = s.post(
        url,
        json={"transition": {"id": resolve["id"]}, "fields": {"resolution": {"name": "Won't do"}}},
    )
    assert r.status_code == 204, r.text
    f = s.get(
        sandbox.url + API2 + f"/issue/{key}", params={"fields": "status,resolution,resolutiondate"}
    ).json()["fields"]
    assert (
        f["status"]["statusCategory"]["key"] == "done"
        and f["resolution"]["name"] == "Won't do"
        and f["resolutiondate"]
    )
    reopen = {t["name"]: t["id"] for t in s.get(url).json()["transitions"]}["Reopen"]
    assert s.post(url, json={"transition": {"id": reopen}}).status_code == 204
    f = s.get(
        sandbox.url + API2 + f"/issue/{key}", params={"fields": "status,resolution,resolutiondate"}
    ).json()["fields"]
    assert f["resolution"] is None and f["resolutiondate"] is None and f["status"]["name"] == "Open"
    hist = sandbox.store.issue(key).changelog
    assert [i.field for i in hist[-1].items] == ["status", "resolution"]


def test_waiting_for_customer_history_in_demo(sandbox: Sandbox) -> None:
    iss = sandbox.store.issue(key_of(sandbox, "opEvents raises duplicate"))
    assert sandbox.store.statuses[iss.values["status"]].name == "Waiting for customer"
    steps = [
        (i.from_string, i.to_string) for h in iss.changelog for i in h.items if i.field == "status"
    ]
    assert steps == [("Open", "Waiting for customer")]  # before any response: the clock pauses


# --------------------------------------------------------------------------- auth, users, orgs


def test_auth_401_and_customer_403(sandbox: Sandbox) -> None:
    url = sandbox.url + API3 + "/issue/SUP-1"
    assert requests.get(url).status_code == 401
    wrong = requests.get(url, auth=("bridge@vendor.example", "wrong"))
    assert wrong.status_code == 401 and wrong.json()["errorMessages"]
    assert requests.get(sandbox.url + API3 + "/serverInfo").status_code == 200
    cust = sandbox.session("ops@acme.example")
    assert cust.get(sandbox.url + API3 + "/myself").json()["accountType"] == "customer"
    assert cust.get(url).status_code == 403
    assert cust.get(sandbox.url + "/rest/servicedeskapi/organization").status_code == 403
    assert cust.get(sandbox.url + "/rest/servicedeskapi/request/SUP-5").status_code == 200
    agent = sandbox.session("sam.agent@vendor.example")
    assert (
        agent.put(
            sandbox.url + API2 + "/issue/SUP-5",
            params={"notifyUsers": "false"},
            json={"fields": {}},
        ).status_code
        == 403
    )


def test_organizations_and_users_paged(sandbox: Sandbox) -> None:
    s = sandbox.session()
    first = s.get(sandbox.url + "/rest/servicedeskapi/organization", params={"limit": 3}).json()
    assert first["isLastPage"] is False and len(first["values"]) == 3
    rest = s.get(
        sandbox.url + "/rest/servicedeskapi/organization", params={"start": 3, "limit": 3}
    ).json()
    assert rest["isLastPage"] is True
    names = [o["name"] for o in first["values"] + rest["values"]]
    assert names == ["Acme Networks", "Initech Systems", "Globex Telecom", "Umbrella Labs"]
    users = s.get(sandbox.url + "/rest/servicedeskapi/organization/3/user").json()["values"]
    assert [u["emailAddress"] for u in users] == [
        "noc@globex.example",
        "lead@globex.example",
        "cto@globex.example",
    ]
    url = sandbox.url + "/rest/servicedeskapi/organization/1/property/tier"
    assert s.put(url, json={"tier": "standard"}).status_code == 201
    assert s.get(url).json()["value"] == {"tier": "standard"}
    found = s.get(sandbox.url + API3 + "/user/search", params={"query": "jane"}).json()
    assert [u["emailAddress"] for u in found] == ["jane.engineer@vendor.example"]


def test_request_type_and_customer_request(sandbox: Sandbox) -> None:
    s = sandbox.session()
    key = key_of(sandbox, "Screen share to walk through")
    r = s.get(
        sandbox.url + f"/rest/servicedeskapi/request/{key}", params={"expand": "requestType"}
    ).json()
    assert r["requestType"]["name"] == "Screen share session"
    assert r["currentStatus"]["statusCategory"] == "NEW"
    assert r["reporter"]["emailAddress"] == "ops@acme.example"


# --------------------------------------------------------------------------- the demo world


def test_demo_seed_exercises_the_policy_clauses(sandbox: Sandbox) -> None:
    st = sandbox.store
    month_start = SANDBOX_NOW.replace(day=1, hour=0)
    org_field = st.field_by_name("Organizations")
    assert org_field is not None

    def org_cases(name: str) -> list[str]:
        org = st.organization_by_name(name)
        assert org is not None
        return [
            i.key
            for i in st.iter_issues()
            if org.id in (i.values.get(org_field.id) or []) and i.values["created"] >= month_start
        ]

    assert len(org_cases("Acme Networks")) >= 5  # over quota
    assert org_cases("Umbrella Labs")
    reporters = {st.users[i.values["reporter"]].email for i in st.iter_issues()}
    assert "intern@acme.example" in reporters
    assert any(i.values["created"] < month_start for i in st.iter_issues())
    assert all(i.values["created"] <= SANDBOX_NOW for i in st.iter_issues())
    resolutions = {
        st.resolution(i.values["resolution"]).name
        for i in st.iter_issues()
        if i.values["resolution"]
    }  # type: ignore[union-attr]
    assert {"Duplicate", "Done"} <= resolutions
    assert 50 <= len(st.issues) <= 60  # about forty, then the defect chapter
    # deterministic for a given now
    again = build("demo", now=SANDBOX_NOW, frozen=True)
    assert [(i.key, i.values["created"]) for i in again.iter_issues()] == [
        (i.key, i.values["created"]) for i in st.iter_issues()
    ]


def test_generator_makes_n_valid_reproducible_cases() -> None:
    store = build("empty", now=SANDBOX_NOW, frozen=True)
    issues = generate(store, 2000, seed=3)
    assert len(store.issues) == 2000 and issues[-1].key == "SUP-2000"
    assert all(i.values["created"] <= SANDBOX_NOW for i in issues)
    again = generate(build("empty", now=SANDBOX_NOW, frozen=True), 2000, seed=3)
    assert [i.values["summary"] for i in again] == [i.values["summary"] for i in issues]


# --------------------------------------------------------------------------- clock, log, admin


def test_clock_and_request_log_admin_routes(sandbox: Sandbox) -> None:
    s = sandbox.session()
    assert (
        requests.get(sandbox.url + "/_sandbox/clock")
        .json()["now"]
        .startswith("2026-11-24T10:00:00.000+10:00")
    )
    moved = requests.post(sandbox.url + "/_sandbox/clock", json={"advance": "90m"}).json()
    assert moved["now"].startswith("2026-11-24T11:30")
    typo = requests.post(sandbox.url + "/_sandbox/clock", json={"set": "2026-12-01T09:00"})
    assert typo.status_code == 400 and "set" in typo.json()["error"]
    assert sandbox.now == SANDBOX_NOW + timedelta(minutes=90)  # not moved by the typo
    assert (
        s.get(sandbox.url + API3 + "/serverInfo").json()["serverTime"]
        == "2026-11-24T11:30:00.000+1000"
    )
    s.put(sandbox.url + API2 + "/issue/SUP-1/properties/x", json=1)
    s.post(sandbox.url + API3 + "/search/jql", json={"jql": "project=SUP"})
    log = requests.get(sandbox.url + "/_sandbox/requests").json()["requests"]
    assert [(r["method"], r["kind"], r["status"]) for r in log] == [
        ("GET", "read", 200),
        ("PUT", "write", 201),
        ("POST", "read", 200),
    ]
    assert sandbox.requests.count(kind="write") == 1
    assert requests.delete(sandbox.url + "/_sandbox/requests").status_code == 204
    assert sandbox.requests.entries() == []


def test_act_as_another_user(sandbox: Sandbox) -> None:
    r = requests.post(
        sandbox.url + "/_sandbox/issues/SUP-20/as/priya.lead@vendor.example",
        json={"method": "PUT", "body": {"fields": {"priority": {"name": "Major"}}}},
    )
    assert r.status_code == 204, r.text
    last = sandbox.store.issue("SUP-20").changelog[-1]
    assert sandbox.store.users[last.author].email == "priya.lead@vendor.example"


# --------------------------------------------------------------------------- faults


def test_fault_spec_parsing() -> None:
    spec = FaultSpec.parse(
        "429:0.1@3s,503:0.05@2s,drop:0.05,slow:0.02@0.2s,fail-write:7:landed,burst:10/5s,seed:4"
    )
    assert spec.rate_limit == 0.1 and spec.rate_limit_after == 3
    assert spec.errors == [(503, 0.05, 2.0)]
    assert spec.fail_writes == {7: "landed"} and spec.burst == (10, 5.0) and spec.seed == 4
    with pytest.raises(ValueError, match="bad fault item"):
        FaultSpec.parse("teapot:1")


def test_a_slow_write_delays_only_the_writes_of_its_kind() -> None:
    faults = Faults("slow-write:1@0.7s:comment")
    comment = faults.decide("POST /rest/api/2/issue/{issueIdOrKey}/comment", "write")
    assert comment.delay == 0.7 and comment.label == "slow-write" and comment.status is None
    edit = faults.decide("PUT /rest/api/2/issue/{issueIdOrKey}", "write")
    assert edit.delay == 0 and edit.label == ""
    read = faults.decide("GET /rest/api/2/issue/{issueIdOrKey}/comment", "read")
    assert read.delay == 0
    assert Faults("slow-write:1@2s").decide("PUT /rest/api/2/issue/{issueIdOrKey}", "write").delay
    with pytest.raises(ValueError, match="write kind"):
        FaultSpec.parse("slow-write:1@2s:worklog")


def test_faults_are_reproducible_for_a_seed() -> None:
    a, b = Faults("500:0.3,drop:0.2,seed:9"), Faults("500:0.3,drop:0.2,seed:9")
    seq_a = [a.decide("GET x", "read").label for _ in range(50)]
    assert seq_a == [b.decide("GET x", "read").label for _ in range(50)]
    assert {"500", "drop", ""} <= set(seq_a)


def test_rate_limit_and_server_errors_carry_retry_after(sandbox: Sandbox) -> None:
    s = sandbox.session()
    sandbox.set_faults("429:1@7s")
    r = s.get(sandbox.url + API3 + "/myself")
    assert r.status_code == 429 and r.headers["Retry-After"] == "7"
    sandbox.set_faults("503:1@4s")
    r = s.get(sandbox.url + API3 + "/myself")
    assert r.status_code == 503 and r.headers["Retry-After"] == "4"
    sandbox.set_faults("502:1")
    assert s.get(sandbox.url + API3 + "/myself").status_code == 502
    assert requests.get(sandbox.url + "/_sandbox/clock").status_code == 200  # admin never faulted
    sandbox.set_faults(None)
    assert s.get(sandbox.url + API3 + "/myself").status_code == 200


def test_burst_budget_per_endpoint(sandbox: Sandbox) -> None:
    s = sandbox.session()
    sandbox.set_faults("burst:3/60s")
    codes = [s.get(sandbox.url + API3 + "/myself").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert s.get(sandbox.url + API3 + "/field").status_code == 200  # another endpoint, own budget
    r = s.get(sandbox.url + API3 + "/myself")
    assert 1 <= int(r.headers["Retry-After"]) <= 60


def test_fail_the_nth_write_landed_or_lost(sandbox: Sandbox) -> None:
    s = sandbox.session()
    url = sandbox.url + API2 + "/issue/SUP-2/properties/"
    sandbox.set_faults("fail-write:2:landed,fail-write:3:lost")
    assert s.put(url + "one", json=1).status_code == 201
    with pytest.raises(requests.ConnectionError):
        s.put(url + "two", json=2)
    with pytest.raises(requests.ConnectionError):
        s.put(url + "three", json=3)
    assert s.put(url + "four", json=4).status_code == 201
    props = sandbox.store.issue("SUP-2").properties
    assert set(props) == {"one", "two", "four"}  # "two" landed despite the drop, "three" was lost
    assert [r.fault for r in sandbox.requests.writes] == [
        "",
        "fail-write:landed",
        "fail-write:lost",
        "",
    ]


def test_fail_the_nth_write_to_one_issue(sandbox: Sandbox) -> None:
    """``@KEY`` counts only that issue's writes, whether its path names it by key or id."""
    s = sandbox.session()
    issue_id = sandbox.store.issue("SUP-3").id
    sandbox.set_faults("fail-write:2:landed@SUP-3")
    assert s.put(sandbox.url + API2 + "/issue/SUP-2/properties/a", json=1).status_code == 201
    assert s.put(sandbox.url + API2 + "/issue/SUP-3/properties/a", json=1).status_code == 201
    assert s.put(sandbox.url + API2 + "/issue/SUP-2/properties/b", json=2).status_code == 201
    with pytest.raises(requests.ConnectionError):
        s.put(sandbox.url + API2 + f"/issue/{issue_id}/properties/b", json=2)
    assert set(sandbox.store.issue("SUP-3").properties) >= {"a", "b"}  # landed
    assert [r.fault for r in sandbox.requests.writes] == ["", "", "", "fail-write:landed"]


def test_slow_responses_are_marked_and_still_answered(sandbox: Sandbox) -> None:
    sandbox.set_faults("slow:1@0.01s")
    assert sandbox.session().get(sandbox.url + API3 + "/myself").status_code == 200
    assert sandbox.requests.entries()[-1].fault == "slow"


def test_site_time_zone_is_configurable(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(site_tz="Europe/London")
    info = sb.session().get(sb.url + API3 + "/serverInfo").json()
    assert info["serverTimeZone"] == "Europe/London"
    assert info["serverTime"] == "2026-11-24T00:00:00.000+0000"


def test_dropped_connection_applies_nothing(sandbox: Sandbox) -> None:
    s = sandbox.session()
    sandbox.set_faults("drop:1")
    with pytest.raises(requests.ConnectionError):
        s.put(sandbox.url + API2 + "/issue/SUP-2/properties/x", json=1)
    assert "x" not in sandbox.store.issue("SUP-2").properties
    assert sandbox.requests.entries()[-1].status == 0


# --------------------------------------------------------------------------- persistence, CLI


def test_state_file_persists_between_restarts(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    state = tmp_path / "state.json"
    sb = sandbox_factory(state=state)
    s = sb.session()
    assert (
        s.put(
            sb.url + API2 + "/issue/SUP-4", json={"update": {"labels": [{"add": "kept"}]}}
        ).status_code
        == 204
    )
    s.post(
        sb.url + API2 + "/issue/SUP-4/comment",
        json={"body": "kept too", "properties": [{"key": "k", "value": {"v": 1}}]},
    )
    sb.server.stop()
    again = Store.load(state)
    iss = again.issue("SUP-4")
    assert "kept" in iss.values["labels"]
    assert iss.comments[-1].body == "kept too" and iss.comments[-1].properties == {"k": {"v": 1}}
    assert iss.changelog[-1].items[0].field == "labels"
    sb2 = sandbox_factory(seed=str(state))
    assert "kept" in sb2.store.issue("SUP-4").values["labels"]
    assert sb2.store.find_comment(iss.comments[-1].id) is not None
    assert not list(tmp_path.glob("*.tmp"))
    assert json.loads(state.read_text())["format"] == "jsm-bridge-sandbox/1"


def test_cli_starts_and_serves(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    state = tmp_path / "cli.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bridge.cli",
            "sandbox",
            "--port",
            str(port),
            "--now",
            "2026-11-24T10:00+10:00",
            "--state",
            str(state),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        banner = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner
        r = requests.get(
            f"http://127.0.0.1:{port}/rest/api/3/search/jql",
            params={"jql": "project=SUP", "fields": "key"},
            auth=("bridge@vendor.example", "sandbox-token"),
        )
        assert r.status_code == 200 and len(r.json()["issues"]) >= 35
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
    assert state.exists()


def test_helpers() -> None:
    assert parse_duration("1d 2h").total_seconds() == 93600
    assert parse_duration("-30m").total_seconds() == -1800
    with pytest.raises(ValueError):
        parse_duration("soon")
    assert parse_instant("2026-11-27T09:00:00.000+1000").isoformat() == "2026-11-27T09:00:00+10:00"


def test_concurrent_writes_on_one_issue_are_all_kept(sandbox: Sandbox) -> None:
    """The sandbox is a threaded server over one store: writes from many connections at
    once each land, once."""
    from concurrent.futures import ThreadPoolExecutor

    def post(n: int) -> int:
        s = sandbox.session()
        return s.post(
            sandbox.url + API2 + "/issue/SUP-1/comment", json={"body": f"parallel {n}"}
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(post, range(40))) == {201}
    issue = sandbox.store.issue("SUP-1")
    bodies = [c.body for c in issue.comments if c.body.startswith("parallel ")]
    assert sorted(bodies) == sorted(f"parallel {n}" for n in range(40))
    assert len({c.id for c in issue.comments}) == len(issue.comments)
