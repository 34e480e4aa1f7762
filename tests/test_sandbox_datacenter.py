"""The sandbox's Data Center dialect answers as Jira / JSM Data Center is documented to,
including what it lacks (each behaviour's Atlassian page is cited where it is served)."""

from __future__ import annotations

import re
import shlex
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import Sandbox, SandboxFactory

from bridge.logs import redact_text
from bridge.sandbox import seed as seeds


@pytest.fixture(scope="module")
def dc() -> Iterator[Sandbox]:
    """One Data Center sandbox shared by the read-only checks of this module."""
    from conftest import SANDBOX_NOW

    from bridge.sandbox.server import SandboxServer

    store = seeds.build("demo", now=SANDBOX_NOW, frozen=True)
    server = SandboxServer(store, "127.0.0.1", 0, flavour="datacenter").start()
    yield Sandbox(server)
    server.stop()


def test_only_rest_v2_and_no_cloud_only_resources(dc: Sandbox) -> None:
    s = dc.session()
    for method, path in (
        ("GET", "/rest/api/3/myself"),
        ("GET", "/rest/api/3/issue/SUP-1"),
        ("POST", "/rest/api/3/search/jql"),
        ("POST", "/rest/api/2/search/jql"),
        ("GET", "/rest/api/3/workflows/search"),
        ("GET", "/rest/api/2/issue/SUP-1/changelog"),
    ):
        answer = s.request(method, dc.url + path, json={} if method == "POST" else None)
        assert answer.status_code == 404, (method, path, answer.status_code)
    assert s.get(dc.url + "/rest/api/2/myself").status_code == 200
    info = s.get(dc.url + "/rest/api/2/serverInfo").json()
    assert info["deploymentType"] == "Server" and info["versionNumbers"][0] >= 9


def test_bearer_personal_access_token_only_on_datacenter(
    dc: Sandbox, sandbox_factory: SandboxFactory
) -> None:
    me = dc.url + "/rest/api/2/myself"
    assert requests.get(me, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert requests.get(me, headers={"Authorization": f"Bearer {dc.token}"}).status_code == 200
    cloud = sandbox_factory(flavour="cloud")
    bearer = {"Authorization": f"Bearer {cloud.token}"}
    assert requests.get(cloud.url + "/rest/api/2/myself", headers=bearer).status_code == 401


def test_search_pages_by_start_at_with_no_issue_properties(dc: Sandbox) -> None:
    dc.store.issue("SUP-1").properties["jsm-bridge"] = {"version": 1, "done": {}}
    s = dc.session()
    url = dc.url + "/rest/api/2/search"
    body = {
        "jql": "project = SUP ORDER BY key ASC",
        "fields": ["summary"],
        "properties": ["jsm-bridge"],
        "maxResults": 5000,
    }
    posted = s.post(url, json=body).json()
    assert posted["maxResults"] == 1000 and posted["total"] == len(dc.store.issues)
    assert all("properties" not in issue for issue in posted["issues"])
    got = s.get(
        url,
        params={"jql": "project = SUP", "startAt": 3, "maxResults": 2, "properties": "jsm-bridge"},
    ).json()
    assert got["startAt"] == 3 and len(got["issues"]) == 2
    assert all("properties" not in issue for issue in got["issues"])
    # the property is there: only the issue resource returns it
    one = s.get(dc.url + "/rest/api/2/issue/SUP-1", params={"properties": "jsm-bridge"}).json()
    assert one["properties"]["jsm-bridge"]["version"] == 1


def test_users_by_name_and_key_without_account_ids(dc: Sandbox) -> None:
    s = dc.session()
    me = s.get(dc.url + "/rest/api/2/myself").json()
    assert (
        me["name"] == seeds.BRIDGE_EMAIL.split("@")[0]
        and "accountId" not in me
        and "accountType" not in me
    )
    issue = s.get(dc.url + "/rest/api/2/issue/SUP-5", params={"fields": "reporter"}).json()
    reporter = issue["fields"]["reporter"]
    assert {"name", "key", "emailAddress"} <= set(reporter)
    assert not {"accountId", "accountType"} & set(reporter)
    found = s.get(dc.url + "/rest/api/2/user/search", params={"username": "priya"}).json()
    assert [u["name"] for u in found] == ["priya.lead"]
    # Cloud's look-up parameter is not Data Center's
    assert s.get(dc.url + "/rest/api/2/user/search", params={"query": "priya"}).status_code == 400
    assert s.get(dc.url + "/rest/api/2/user", params={"username": "priya.lead"}).status_code == 200


def test_assignment_by_name_not_account_id(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(flavour="datacenter")
    s = sb.session()
    url = sb.url + "/rest/api/2/issue/SUP-1"
    priya = sb.store.user_by_name("priya.lead")
    assert priya is not None
    refused = s.put(url, json={"fields": {"assignee": {"accountId": priya.account_id}}})
    assert refused.status_code == 400 and "name" in refused.text
    assert s.put(url, json={"fields": {"assignee": {"name": "priya.lead"}}}).status_code == 204
    assert sb.store.issue("SUP-1").values["assignee"] == priya.account_id


def test_internal_comments_are_a_comment_property_not_jsd_public(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory(flavour="datacenter")
    s = sb.session()
    internal = {"key": "sd.public.comment", "value": {"internal": True}}
    url = sb.url + "/rest/api/2/issue/SUP-1/comment"
    assert s.post(url, json={"body": "note", "properties": [internal]}).status_code == 201
    assert s.post(url, json={"body": "reply"}).status_code == 201
    plain = s.get(url).json()["comments"]
    assert plain and all("jsdPublic" not in c and "properties" not in c for c in plain)
    expanded = s.get(url, params={"expand": "properties"}).json()["comments"]
    flags = {c["body"]: c["properties"] for c in expanded if c["body"] in ("note", "reply")}
    assert flags == {"note": [internal], "reply": []}
    # JSM's own view of the same comments says `public`
    jsm = s.get(sb.url + "/rest/servicedeskapi/request/SUP-1/comment").json()["values"]
    assert {c["body"]: c["public"] for c in jsm if c["body"] in ("note", "reply")} == {
        "note": False,
        "reply": True,
    }


def test_service_management_users_and_customers(dc: Sandbox) -> None:
    s = dc.session()
    sd = dc.url + "/rest/servicedeskapi"
    members = s.get(sd + "/organization/1/user").json()["values"]
    assert members and all("accountId" not in u and u["name"] for u in members)
    desks = s.get(sd + "/servicedesk").json()["values"]
    assert [d["projectKey"] for d in desks] == ["SUP"]
    # an experimental call: refused (412) without the header Data Center documents,
    # "X-ExperimentalApi: true" (Cloud's "opt-in" is not it)
    refused = s.get(sd + f"/servicedesk/{desks[0]['id']}/customer")
    assert refused.status_code == 412
    assert "'X-ExperimentalApi: true'" in refused.json()["errorMessage"]
    s.headers["X-ExperimentalApi"] = "opt-in"
    assert s.get(sd + f"/servicedesk/{desks[0]['id']}/customer").status_code == 412
    s.headers["X-ExperimentalApi"] = "true"
    customers = []
    start = 0
    while True:
        page = s.get(
            sd + f"/servicedesk/{desks[0]['id']}/customer", params={"start": start, "limit": 3}
        ).json()
        customers += [u["emailAddress"] for u in page["values"]]
        start += len(page["values"])
        if page["isLastPage"]:
            break
    expected = sorted(u.email for u in dc.store.users.values() if u.is_customer)
    assert sorted(customers) == expected
    assert seeds.BRIDGE_EMAIL not in customers
    assert s.get(sd + "/servicedesk/99/customer").status_code == 404


def test_the_data_center_banner_prints_a_curl_command_that_works_when_copied(
    tmp_path: Path,
) -> None:
    """The sandbox's demo token is public test data: its banner shows it unmasked (every
    other line anything prints still goes through the redaction)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    argv = [sys.executable, "-m", "bridge.cli", "sandbox", "--flavour", "datacenter"]
    proc = subprocess.Popen(
        [*argv, "--port", str(port), "--now", "2026-11-24T10:00+10:00"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=tmp_path,
    )
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline() for _ in range(5)]
        (tried,) = [line for line in banner if line.strip().startswith("try: curl")]
        assert "***" not in "".join(banner), banner
        words = shlex.split(tried.strip().removeprefix("try: "))
        header = words[words.index("-H") + 1]
        name, _, value = header.partition(": ")
        answer = requests.get(words[-1], headers={name: value}, timeout=30)
        assert answer.status_code == 200 and answer.json()["issues"], answer.text[:300]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # the redaction itself is as it was: an echoed header is masked whatever its value
    assert re.search(r"Bearer \*\*\*", redact_text("Authorization: Bearer sandbox-token"))
