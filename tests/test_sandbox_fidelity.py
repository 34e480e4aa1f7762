"""Fidelity: the sandbox against Atlassian's official OpenAPI specs.

* every route it serves exists with that method in the specs (v2 paths via their v3 twins);
* its JSON responses validate against the spec's response schemas;
* request bodies are validated against the spec's request schemas: non-conforming → 400.

The schemas come from ``bridge/sandbox/spec_schemas.json``, extracted from the reference
specs; when those are present (``../shared/reference`` or ``$JSM_BRIDGE_REFERENCE``) the
bundle is checked to match them exactly.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import Sandbox, SandboxFactory

from bridge.sandbox import specdata
from bridge.sandbox.routes import ROUTES

REFERENCE = Path(
    os.environ.get(
        "JSM_BRIDGE_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "reference"
    )
)


def assert_valid(spec: str, schema: str, payload: Any, *, array: bool = False) -> None:
    v = specdata.validator(spec, schema, nullable=True)
    items = payload if array else [payload]
    if array:
        assert isinstance(payload, list) and payload, "expected a non-empty JSON array"
    for item in items:
        errors = sorted(v.iter_errors(item), key=lambda e: list(e.path))
        assert not errors, "\n".join(
            f"{schema} at {'/'.join(map(str, e.path))}: {e.message}" for e in errors[:5]
        )


def field_id(sb: Sandbox, name: str) -> str:
    f = sb.store.field_by_name(name)
    assert f is not None
    return f.id


# --------------------------------------------------------------------------- routes


def test_every_route_exists_in_the_official_specs() -> None:
    bundle = specdata.bundle()
    missing = [
        f"{r.method} {r.template} (spec path {r.spec_path})"
        for r in ROUTES
        if r.method not in bundle[r.spec]["routes"].get(r.spec_path, []) and not r.documented
    ]
    assert not missing, "routes not in Atlassian's specs:\n" + "\n".join(missing)
    # a resource only Data Center has cites the Atlassian page documenting it
    elsewhere = [r for r in ROUTES if r.documented]
    assert all(r.flavours == {"datacenter"} for r in elsewhere), elsewhere
    assert all(
        r.documented.startswith("https://developer.atlassian.com/server/") for r in elsewhere
    ), elsewhere
    # the table is what the server dispatches on: both API versions are served
    templates = {r.template for r in ROUTES}
    assert "/rest/api/2/issue/{issueIdOrKey}" in templates
    assert "/rest/api/3/issue/{issueIdOrKey}" in templates


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="reference specs not available")
def test_bundled_schemas_match_the_reference_specs() -> None:
    assert specdata.extract(REFERENCE) == specdata.bundle(), (
        "bridge/sandbox/spec_schemas.json is stale: run "
        "`python -m bridge.sandbox.specdata ../shared/reference`"
    )


@pytest.mark.parametrize("api", ["2", "3"])
def test_cloud_gives_comment_properties_only_through_get_comments_by_ids(
    sandbox: Sandbox, api: str
) -> None:
    """Cloud's "Get comments" documents ``renderedBody`` as its only expansion; "Get
    comments by IDs" (``POST /comment/list``, at most 1,000 ids) expands ``properties``."""
    s = sandbox.session()
    base = f"{sandbox.url}/rest/api/{api}"
    text = {"type": "text", "text": "Marked"}
    body: Any = (
        "Marked"
        if api == "2"
        else {
            "type": "doc",
            "version": 1,
            "content": [{"type": "paragraph", "content": [text]}],
        }
    )
    posted = s.post(
        base + "/issue/SUP-5/comment",
        json={"body": body, "properties": [{"key": "jsm-bridge", "value": {"a": 1}}]},
    )
    assert posted.status_code == 201
    mine = posted.json()["id"]
    page = s.get(base + "/issue/SUP-5/comment", params={"expand": "properties"}).json()
    assert mine in [c["id"] for c in page["comments"]]
    assert all("properties" not in c for c in page["comments"])
    one = s.get(base + f"/issue/SUP-5/comment/{mine}", params={"expand": "properties"}).json()
    assert "properties" not in one
    listed = s.post(
        base + "/comment/list", params={"expand": "properties"}, json={"ids": [int(mine), 999999]}
    ).json()
    assert [(c["id"], c["properties"]) for c in listed["values"]] == [
        (mine, [{"key": "jsm-bridge", "value": {"a": 1}}])
    ]
    plain = s.post(base + "/comment/list", json={"ids": [int(mine)]}).json()
    assert "properties" not in plain["values"][0]
    too_many = s.post(base + "/comment/list", json={"ids": list(range(1, 1002))})
    assert too_many.status_code == 400


def test_data_center_expands_comment_properties_on_the_issue_and_has_no_comment_list(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory(flavour="datacenter")
    s = sb.session()
    base = f"{sb.url}/rest/api/2"
    page = s.get(base + "/issue/SUP-5/comment", params={"expand": "properties"}).json()
    assert page["comments"] and all("properties" in c for c in page["comments"])
    assert s.post(base + "/comment/list", json={"ids": [1]}).status_code == 404


def test_unserved_methods_and_paths_are_refused(sandbox: Sandbox) -> None:
    s = sandbox.session()
    assert s.delete(sandbox.url + "/rest/api/3/issue/SUP-1").status_code == 405
    assert s.get(sandbox.url + "/rest/api/3/nothing/here").status_code == 404


# --------------------------------------------------------------------------- responses


def test_platform_responses_validate(sandbox: Sandbox) -> None:
    s = sandbox.session()
    u = sandbox.url
    sandbox.store.issue("SUP-5").properties["jsm-bridge"] = {"done": []}
    a3 = u + "/rest/api/3"
    a2 = u + "/rest/api/2"
    assert_valid("platform", "ServerInformation", s.get(a3 + "/serverInfo").json())
    assert_valid("platform", "User", s.get(a3 + "/myself").json())
    assert_valid(
        "platform", "User", s.get(a3 + "/user/search", params={"query": "j"}).json(), array=True
    )
    assert_valid(
        "platform",
        "User",
        s.get(
            a2 + "/user", params={"accountId": sandbox.store.issue("SUP-5").values["reporter"]}
        ).json(),
    )
    assert_valid("platform", "FieldDetails", s.get(a2 + "/field").json(), array=True)
    assert_valid("platform", "Priority", s.get(a3 + "/priority").json(), array=True)
    assert_valid("platform", "StatusDetails", s.get(a3 + "/status").json(), array=True)
    assert_valid("platform", "StatusCategory", s.get(a3 + "/statuscategory").json(), array=True)
    assert_valid("platform", "Resolution", s.get(a3 + "/resolution").json(), array=True)
    assert_valid("platform", "IssueTypeDetails", s.get(a3 + "/issuetype").json(), array=True)
    for api in (a2, a3):
        issue = s.get(
            api + "/issue/SUP-5",
            params={"expand": "changelog,names,schema,transitions", "properties": "jsm-bridge"},
        )
        assert_valid("platform", "IssueBean", issue.json())
        page = s.post(
            api + "/search/jql",
            json={
                "jql": "project = SUP",
                "fields": ["*all"],
                "expand": "names,changelog",
                "properties": ["jsm-bridge"],
                "maxResults": 7,
            },
        )
        assert page.status_code == 200
        assert_valid("platform", "SearchAndReconcileResults", page.json())
        ids = s.get(api + "/search/jql", params={"jql": "project = SUP", "maxResults": 3})
        assert_valid("platform", "SearchAndReconcileResults", ids.json())
        comments = s.get(api + "/issue/SUP-5/comment", params={"expand": "properties"}).json()
        assert_valid("platform", "PageOfComments", comments)
        listed = s.post(
            api + "/comment/list",
            params={"expand": "properties"},
            json={"ids": [int(c["id"]) for c in comments["comments"]]},
        )
        assert listed.status_code == 200
        assert_valid("platform", "PageBeanComment", listed.json())
        assert_valid(
            "platform",
            "Transitions",
            s.get(api + "/issue/SUP-5/transitions", params={"expand": "transitions.fields"}).json(),
        )
        assert_valid(
            "platform",
            "PageBeanChangelog",
            s.get(api + "/issue/SUP-5/changelog", params={"maxResults": 1}).json(),
        )
        assert_valid("platform", "PropertyKeys", s.get(api + "/issue/SUP-5/properties").json())
        assert_valid(
            "platform", "EntityProperty", s.get(api + "/issue/SUP-5/properties/jsm-bridge").json()
        )
    body2: Any = "From the fidelity test"
    body3: Any = {
        "type": "doc",
        "version": 1,
        "content": [{"type": "paragraph", "content": [{"type": "text", "text": "v3"}]}],
    }
    for api, body in ((a2, body2), (a3, body3)):
        c = s.post(
            api + "/issue/SUP-5/comment",
            json={"body": body, "properties": [{"key": "k", "value": 1}]},
            params={"expand": "properties"},
        )
        assert c.status_code == 201
        assert_valid("platform", "Comment", c.json())
        assert_valid(
            "platform", "PropertyKeys", s.get(api + f"/comment/{c.json()['id']}/properties").json()
        )
        assert_valid(
            "platform",
            "EntityProperty",
            s.get(api + f"/comment/{c.json()['id']}/properties/k").json(),
        )
    created = s.post(
        a2 + "/issue",
        json={
            "fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Support"}, "summary": "x"}
        },
    )
    assert_valid("platform", "CreatedIssue", created.json())
    for bad in (
        s.get(a3 + "/issue/SUP-999"),
        s.put(a2 + "/issue/SUP-5", json={"fields": {"nope": 1}}),
        requests.get(a3 + "/myself"),
        s.get(a3 + "/search", params={"jql": "project=SUP"}),
        s.get(a3 + "/search/jql", params={"jql": "project = = SUP"}),
    ):
        assert bad.status_code >= 400
        assert_valid("platform", "ErrorCollection", bad.json())


def test_datacenter_responses_validate(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(flavour="datacenter")
    s = sb.session()
    a2 = sb.url + "/rest/api/2"
    info = s.get(a2 + "/serverInfo").json()
    assert info["deploymentType"] == "Server"
    assert_valid("platform", "ServerInformation", info)
    page = s.post(
        a2 + "/search",
        json={"jql": "project = SUP", "fields": ["*all"], "expand": ["names"], "maxResults": 5},
    )
    assert page.status_code == 200 and page.json()["total"] == len(sb.store.issues)
    assert_valid("platform", "SearchResults", page.json())
    assert_valid("platform", "User", s.get(a2 + "/myself").json())
    assert_valid(
        "platform", "IssueBean", s.get(a2 + "/issue/SUP-5", params={"expand": "changelog"}).json()
    )
    # JSM Data Center's name for Cloud's "Request Type" field, searchable under it
    names = {f["name"] for f in s.get(a2 + "/field").json()}
    assert "Customer Request Type" in names and "Request Type" not in names
    found = s.get(a2 + "/search", params={"jql": '"Customer Request Type" is not EMPTY'})
    assert found.status_code == 200 and found.json()["total"] > 0


def test_service_management_responses_validate(sandbox: Sandbox) -> None:
    s = sandbox.session()
    sd = sandbox.url + "/rest/servicedeskapi"
    assert_valid(
        "jsm", "PagedDTOOrganizationDTO", s.get(sd + "/organization", params={"limit": 2}).json()
    )
    assert_valid("jsm", "OrganizationDTO", s.get(sd + "/organization/1").json())
    desk = s.get(sd + "/servicedesk").json()["values"][0]["id"]
    types = s.get(sd + f"/servicedesk/{desk}/requesttype", params={"limit": 2}).json()
    assert_valid("jsm", "PagedDTORequestTypeDTO", types)
    assert len(types["values"]) == 2 and types["isLastPage"] is False
    assert_valid("jsm", "PagedDTOUserDTO", s.get(sd + "/organization/1/user").json())
    participants = s.get(sd + "/request/SUP-5/participant")
    assert participants.status_code == 200 and participants.json()["values"] == []
    assert_valid("jsm", "PagedDTOUserDTO", participants.json())
    assert s.put(sd + "/organization/1/property/p", json={"a": 1}).status_code == 201
    assert_valid("jsm", "EntityProperty", s.get(sd + "/organization/1/property/p").json())
    assert_valid("jsm", "PropertyKeys", s.get(sd + "/organization/1/property").json())
    assert_valid(
        "jsm",
        "CustomerRequestDTO",
        s.get(sd + "/request/SUP-5", params={"expand": "requestType"}).json(),
    )
    posted = s.post(sd + "/request/SUP-5/comment", json={"body": "hi", "public": False})
    assert posted.status_code == 201
    assert_valid("jsm", "CommentDTO", posted.json())
    assert_valid("jsm", "PagedDTOCommentDTO", s.get(sd + "/request/SUP-5/comment").json())
    for bad in (
        s.get(sd + "/organization/99"),
        requests.get(sd + "/organization"),
        s.get(sd + "/request/SUP-999"),
    ):
        assert bad.status_code >= 400
        assert_valid("jsm", "ErrorResponse", bad.json())


def test_issue_field_shapes_match_jira(sandbox: Sandbox) -> None:
    """Shapes the spec leaves open (``fields`` is free-form): select, datetime, JSM fields."""
    s = sandbox.session()
    f = s.get(sandbox.url + "/rest/api/2/issue/SUP-5").json()["fields"]
    env = f[field_id(sandbox, "Environment type")]
    assert set(env) == {"self", "value", "id"}
    assert f["created"].endswith("+1000") and len(f["created"]) == len(
        "2026-11-27T09:00:00.000+1000"
    )
    rt = f[field_id(sandbox, "Request Type")]
    assert {"_links", "requestType", "currentStatus"} <= set(rt)
    assert_valid("jsm", "CustomerRequestStatusDTO", rt["currentStatus"])
    assert_valid("jsm", "RequestTypeDTO", rt["requestType"])
    orgs = f[field_id(sandbox, "Organizations")]
    assert [o["name"] for o in orgs] == ["Acme Networks"]
    for org in orgs:
        assert_valid("jsm", "OrganizationDTO", org)
    assert_valid("platform", "User", f["reporter"])
    assert f["reporter"]["accountType"] == "customer"


# --------------------------------------------------------------------------- requests


BAD_BODIES: dict[tuple[str, str], Any] = {
    ("platform", "IssueUpdateDetails"): {"update": {"labels": [{"append": "x"}]}},
    ("platform", "Comment"): {"body": "x", "visibility": {"type": "team", "value": "x"}},
    ("platform", "SearchAndReconcileRequestBean"): {"jql": "project = SUP", "startAt": 5},
    ("platform", "SearchRequestBean"): {"jql": "project = SUP", "validateQuery": "maybe"},
    ("jsm", "CommentCreateDTO"): {"body": "x", "public": "yes"},
    ("platform", "IssueCommentListRequestBean"): {"ids": ["one"]},
}
GOOD_BODIES: dict[tuple[str, str], Any] = {
    ("platform", "IssueCommentListRequestBean"): {"ids": [1, 2]},
    ("platform", "IssueUpdateDetails"): {"update": {"labels": [{"add": "fidelity"}]}},
    ("platform", "Comment"): {
        "body": "x",
        "visibility": {"type": "role", "value": "Administrators"},
    },
    ("platform", "SearchAndReconcileRequestBean"): {"jql": "project = SUP", "fields": ["summary"]},
    ("platform", "SearchRequestBean"): {"jql": "project = SUP", "startAt": 0},
    ("jsm", "CommentCreateDTO"): {"body": "x", "public": True},
}


def _path(template: str) -> str:
    return (
        template.replace("{issueIdOrKey}", "SUP-5")
        .replace("{organizationId}", "1")
        .replace("{propertyKey}", "p")
    )


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_request_bodies_are_checked_against_the_spec(
    sandbox_factory: SandboxFactory, flavour: str
) -> None:
    sb = sandbox_factory(flavour=flavour)
    s = sb.session()
    checked = 0
    for route in ROUTES:
        if route.request_schema is None or flavour not in route.flavours:
            continue
        if route.template.endswith("/issue") or route.template.endswith("/transitions"):
            continue  # need fuller bodies; covered below
        if route.handler.__module__ == "bridge.sandbox.admin":
            continue  # site administration: tests/test_site_setup.py
        schema = route.request_schema
        assert schema in BAD_BODIES, f"no bad body for {schema}"
        url = sb.url + _path(route.template)
        bad = s.request(route.method, url, json=BAD_BODIES[schema])
        assert bad.status_code == 400, (route.template, bad.text)
        good_body = dict(GOOD_BODIES[schema])
        if "/rest/api/3/" in route.template and schema == ("platform", "Comment"):
            good_body["body"] = {"type": "doc", "version": 1, "content": []}
            good_body["body"]["content"] = [
                {"type": "paragraph", "content": [{"type": "text", "text": "x"}]}
            ]
        good = s.request(route.method, url, json=good_body)
        assert good.status_code < 300, (route.template, good.text)
        checked += 1
    assert checked >= (6 if flavour == "cloud" else 4)
    a2 = sb.url + "/rest/api/2"
    bad_transition = s.post(a2 + "/issue/SUP-5/transitions", json={"transition": {"id": 71}})
    assert bad_transition.status_code == 400  # IssueTransition.id is a string in the spec
    bad_create = s.post(
        a2 + "/issue", json={"fields": {}, "properties": [{"key": "k", "value": 1, "extra": 2}]}
    )
    assert bad_create.status_code == 400
    assert "Invalid request payload" in bad_create.json()["errorMessages"][0]
