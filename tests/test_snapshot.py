"""Jira issue JSON (shapes from the platform/JSM specs) → IssueSnapshot."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.jira.fields import FieldMap
from bridge.policy.model import Actor
from bridge.sync.snapshot import SnapshotError, ledger_of, to_person, to_snapshot

CF = "com.atlassian.jira.plugin.system.customfieldtypes:"
SITE = [
    {
        "id": "customfield_10040",
        "name": "Response due",
        "schema": {"type": "datetime", "custom": CF + "datetime"},
    },
    {
        "id": "customfield_10041",
        "name": "SLA state",
        "schema": {"type": "option", "custom": CF + "select"},
    },
    {
        "id": "customfield_10044",
        "name": "Environment type",
        "schema": {"type": "option", "custom": CF + "select"},
    },
    {
        "id": "customfield_10045",
        "name": "Product version",
        "schema": {"type": "string", "custom": CF + "textfield"},
    },
    {
        "id": "customfield_10046",
        "name": "Contact phone",
        "schema": {"type": "string", "custom": CF + "textfield"},
    },
    {
        "id": "customfield_10002",
        "name": "Organizations",
        "schema": {
            "type": "array",
            "items": "sd-customerorganization",
            "custom": "com.atlassian.servicedesk:sd-customer-organizations",
        },
    },
    {
        "id": "customfield_10010",
        "name": "Request Type",
        "schema": {
            "type": "sd-customerrequesttype",
            "custom": "com.atlassian.servicedesk:vp-origin",
        },
    },
]
FM = FieldMap.resolve(
    {
        "response_due": "Response due",
        "sla_state": "SLA state",
        "environment": "Environment type",
        "product_version": "Product version",
        "contact_phone": "Contact phone",
        "organization": "Organizations",
        "request_type": "Request Type",
    },
    SITE,
)
CATEGORIES = {
    "Open": "new",
    "Work in progress": "indeterminate",
    "Waiting for customer": "indeterminate",
    "Escalated": "indeterminate",
    "Resolved": "done",
}

CUSTOMER = {
    "accountId": "qm:cust-ops",
    "emailAddress": "OPS@acme.example",
    "displayName": "Acme Ops",
    "accountType": "customer",
    "active": True,
}
JANE = {
    "accountId": "acc-jane",
    "emailAddress": "jane.engineer@vendor.example",
    "displayName": "Jane Engineer",
    "accountType": "atlassian",
}
BRIDGE = {"accountId": "acc-bridge", "displayName": "jsm-bridge", "accountType": "atlassian"}


def sample() -> dict[str, Any]:
    return {
        "id": "10007",
        "key": "SUP-7",
        "self": "https://acme.atlassian.net/rest/api/2/issue/10007",
        "properties": {"jsm-bridge": {"v": 1, "done": {"SUP-7/step0": "2026-11-27T01:00:00Z"}}},
        "fields": {
            "summary": "NMIS polling stopped",
            "created": "2026-11-27T09:00:00.000+1000",
            "updated": "2026-11-27T11:30:00.000+1000",
            "status": {
                "name": "Work in progress",
                "id": "3",
                "statusCategory": {"id": 4, "key": "indeterminate", "name": "In Progress"},
            },
            "priority": {"name": "Critical", "id": "2"},
            "reporter": CUSTOMER,
            "assignee": JANE,
            "labels": ["needs-info", "vip"],
            "components": [{"id": "100", "name": "Polling"}, {"id": "101", "name": "Web UI"}],
            "resolution": None,
            "resolutiondate": None,
            "customfield_10040": "2026-11-27T15:00:00.000+1000",
            "customfield_10041": {"value": "running", "id": "10100"},
            "customfield_10044": {"value": "Production", "id": "10200"},
            "customfield_10045": "9.4.1",
            "customfield_10046": None,
            "customfield_10002": [{"id": "1", "name": "Acme Networks"}],
            "customfield_10010": {
                "requestType": {"id": "12", "name": "Technical support"},
                "currentStatus": {"status": "Open"},
            },
            "comment": {
                "startAt": 0,
                "maxResults": 3,
                "total": 3,
                "comments": [
                    {
                        "id": "301",
                        "author": BRIDGE,
                        "body": "SUP-7 (P2, Acme Networks) has used half its response time",
                        "created": "2026-11-27T11:00:00.000+1000",
                        "jsdPublic": False,
                        "properties": [
                            {"key": "sd.public.comment", "value": {"internal": True}},
                            {
                                "key": "jsm-bridge",
                                "value": {"action_id": "SUP-7/escalation/0/2026-11-27T05:00Z"},
                            },
                        ],
                    },
                    {
                        "id": "300",
                        "author": CUSTOMER,
                        "body": "Any news?",
                        "created": "2026-11-27T10:00:00.000+1000",
                        "jsdPublic": True,
                    },
                    {
                        # Data Center: no jsdPublic; the internal flag is the property
                        "id": "302",
                        "author": JANE,
                        "body": "Looking",
                        "created": "2026-11-27T11:15:00.000+1000",
                        "properties": [{"key": "sd.public.comment", "value": {"internal": True}}],
                    },
                ],
            },
        },
        "changelog": {
            "startAt": 0,
            "maxResults": 3,
            "total": 3,
            "histories": [  # most recent first, as search/jql documents
                {
                    "id": "5003",
                    "author": JANE,
                    "created": "2026-11-27T11:10:00.000+1000",
                    "items": [
                        {
                            "field": "status",
                            "fieldtype": "jira",
                            "from": "1",
                            "fromString": "Open",
                            "to": "3",
                            "toString": "Work in progress",
                        }
                    ],
                },
                {
                    "id": "5002",
                    "author": BRIDGE,
                    "created": "2026-11-27T09:05:00.000+1000",
                    "items": [
                        {
                            "field": "priority",
                            "fieldtype": "jira",
                            "fromString": "Blocker",
                            "toString": "Critical",
                        },
                        {
                            "field": "labels",
                            "fieldtype": "jira",
                            "fromString": "",
                            "toString": "needs-info",
                        },
                    ],
                },
                {
                    "id": "5001",
                    "author": CUSTOMER,
                    "created": "2026-11-27T09:01:00.000+1000",
                    "items": [
                        {
                            "field": "Environment type",
                            "fieldtype": "custom",
                            "fromString": "Staging",
                            "toString": "Production",
                        }
                    ],
                },
            ],
        },
    }


def snap(issue: dict[str, Any], **kw: Any):
    return to_snapshot(
        issue, FM, bridge_account_id="acc-bridge", status_categories=CATEGORIES, **kw
    )


def test_maps_a_realistic_issue() -> None:
    s = snap(sample())
    assert s.key == "SUP-7" and s.key_number == 7
    assert s.created == datetime(2026, 11, 26, 23, 0, tzinfo=UTC)
    assert s.updated == datetime(2026, 11, 27, 1, 30, tzinfo=UTC)
    assert s.summary == "NMIS polling stopped"
    assert (s.status, s.status_category) == ("Work in progress", "indeterminate")
    assert s.priority == "Critical"
    assert s.reporter is not None and s.reporter.actor is Actor.CUSTOMER
    assert s.reporter.email == "ops@acme.example" and s.reporter.account_id == "qm:cust-ops"
    assert s.organization == "Acme Networks"
    assert s.request_type == "Technical support"
    assert s.labels == frozenset({"needs-info", "vip"})
    assert s.components == frozenset({"Polling", "Web UI"})
    assert s.assignee == "jane.engineer@vendor.example"
    assert s.resolution is None and s.resolved is None
    assert s.fields == {
        "response_due": "2026-11-27T15:00:00.000+1000",
        "sla_state": "running",
        "environment": "Production",
        "product_version": "9.4.1",
        "contact_phone": None,
        "organization": "Acme Networks",
        "request_type": "Technical support",
    }


def test_every_time_is_kept_in_utc() -> None:
    """Jira writes the site's offset (+1000 here); snapshots hold the instants in UTC."""
    s = snap(sample())
    times = [s.created, s.updated, *(c.created for c in s.comments)]
    times += [h.at for h in (*s.status_history, *s.priority_history)]
    assert len(times) > 2
    assert all(t.tzinfo is UTC for t in times)


def test_comments_in_order_with_visibility_authors_and_action_ids() -> None:
    comments = snap(sample()).comments
    assert [c.id for c in comments] == ["300", "301", "302"]
    customer, bridge, jane = comments
    assert (
        customer.public and customer.author.actor is Actor.CUSTOMER and customer.action_id is None
    )
    assert not bridge.public and bridge.author.actor is Actor.BRIDGE
    assert bridge.action_id == "SUP-7/escalation/0/2026-11-27T05:00Z"
    assert not jane.public and jane.author.actor is Actor.ENGINEER
    assert customer.created == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)


def test_comment_without_jsd_public_or_flag_is_public() -> None:
    issue = sample()
    del issue["fields"]["comment"]["comments"][2]["properties"]
    assert snap(issue).comments[2].public


def test_histories_oldest_first_and_who_set_the_priority() -> None:
    s = snap(sample())
    assert [(h.from_status, h.to_status, h.to_category) for h in s.status_history] == [
        ("Open", "Work in progress", "indeterminate")
    ]
    assert s.status_history[0].at == datetime(2026, 11, 27, 1, 10, tzinfo=UTC)
    assert [(p.from_name, p.to_name, p.by) for p in s.priority_history] == [
        ("Blocker", "Critical", Actor.BRIDGE)
    ]
    assert s.initial_priority == "Blocker"
    assert s.priority_set_by is Actor.BRIDGE


def test_initial_priority_without_history_is_the_current_one() -> None:
    issue = sample()
    issue["changelog"]["histories"] = []
    s = snap(issue)
    assert s.initial_priority == "Critical" and s.priority_history == ()
    assert s.priority_set_by is Actor.CUSTOMER  # the reporter


def test_resolved_issue() -> None:
    issue = sample()
    issue["fields"]["status"] = {"name": "Resolved"}  # no category in the payload: use the map
    issue["fields"]["resolution"] = {"id": "2", "name": "Duplicate"}
    issue["fields"]["resolutiondate"] = "2026-11-28T10:00:00.000+1000"
    s = snap(issue)
    assert s.status_category == "done" and s.resolution == "Duplicate"
    assert s.resolved == datetime(2026, 11, 28, 0, 0, tzinfo=UTC)


def test_status_in_history_unknown_to_the_map_counts_as_in_progress() -> None:
    issue = sample()
    issue["changelog"]["histories"][0]["items"][0]["toString"] = "Triage (old)"
    assert snap(issue).status_history[0].to_category == "indeterminate"


def test_assignee_without_email_is_the_account_id() -> None:
    issue = sample()
    issue["fields"]["assignee"] = {"accountId": "acc-sam", "displayName": "Sam Agent"}
    assert snap(issue).assignee == "acc-sam"
    issue["fields"]["assignee"] = None
    assert snap(issue).assignee is None


def test_ledger_property_is_read_from_the_search_result() -> None:
    assert ledger_of(sample()) == {"v": 1, "done": {"SUP-7/step0": "2026-11-27T01:00:00Z"}}
    assert ledger_of({"key": "SUP-1"}) is None


@pytest.mark.parametrize(
    ("mutate", "problem"),
    [
        (lambda i: i["fields"].pop("created"), "created is missing"),
        (
            lambda i: i["fields"].__setitem__("created", "27/11/2026"),
            "created is not a Jira datetime",
        ),
        (lambda i: i["fields"].__setitem__("status", None), "status is missing"),
        (
            lambda i: i["fields"].__setitem__("status", {"name": "Limbo"}),
            "no known status category",
        ),
        (lambda i: i.pop("fields"), "no fields"),
        (lambda i: i["fields"].__setitem__("labels", "a,b"), "not lists"),
        (lambda i: i["fields"].__setitem__("resolutiondate", "soon"), "resolutiondate"),
        (
            lambda i: i["changelog"]["histories"][0].__setitem__("created", None),
            "changelog 5003 created is missing",
        ),
        (lambda i: i["fields"]["comment"]["comments"].append("junk"), "malformed comment"),
    ],
)
def test_malformed_issues_raise_snapshot_error_with_the_key(mutate, problem: str) -> None:
    issue = copy.deepcopy(sample())
    mutate(issue)
    with pytest.raises(SnapshotError) as caught:
        snap(issue)
    assert caught.value.key == "SUP-7"
    assert problem in caught.value.problem


def test_issue_without_key() -> None:
    with pytest.raises(SnapshotError, match="no key"):
        snap({"id": "1", "fields": {}})


def test_datacenter_people_without_account_type() -> None:
    dc_customer = {
        "name": "ops",
        "key": "JIRAUSER1",
        "emailAddress": "ops@acme.example",
        "displayName": "Ops",
    }
    dc_agent = {"name": "jane", "key": "JIRAUSER2", "emailAddress": "jane@vendor.example"}
    dc_bridge = {"name": "bridge", "key": "JIRAUSER9", "emailAddress": "bridge@vendor.example"}
    customers = {"ops@acme.example"}
    assert (
        to_person(dc_customer, bridge_account_id="bridge", customers=customers).actor
        is Actor.CUSTOMER
    )  # type: ignore[union-attr]
    assert (
        to_person(dc_agent, bridge_account_id="bridge", customers=customers).actor is Actor.ENGINEER
    )  # type: ignore[union-attr]
    assert to_person(dc_bridge, bridge_account_id="bridge").actor is Actor.BRIDGE  # type: ignore[union-attr]
    assert to_person(dc_agent, bridge_account_id="bridge").account_id == "jane"  # type: ignore[union-attr]
    assert to_person(None, bridge_account_id="bridge") is None
    # an atlassian account is never a customer, even if listed
    assert (
        to_person(JANE, bridge_account_id="x", customers={"jane.engineer@vendor.example"}).actor
        is Actor.ENGINEER
    )  # type: ignore[union-attr]
