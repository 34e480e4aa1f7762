"""Narrow HTTP tests of `JiraClient` (responses-mocked): paging, retries, errors, payloads."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers
from structlog.testing import capture_logs
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from bridge.jira.client import JiraClient
from bridge.jira.port import JiraError
from bridge.jira.retry import RetryPolicy, parse_retry_after

BASE = "https://acme.atlassian.net"
TOKEN = "s3cr3t-token-value"


class FakeSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def make(
    flavour: str = "cloud",
    *,
    page_size: int = 100,
    sleep: FakeSleep | None = None,
    jitter: float = 0.0,
    url: str = BASE,
    on_request=None,
) -> JiraClient:
    policy = RetryPolicy(
        sleep=sleep or FakeSleep(),
        jitter=jitter,
        uniform=lambda a, b: b,  # deterministic: the largest jitter
        now=lambda: datetime(2026, 11, 27, 0, 0, 0, tzinfo=UTC),
    )
    return JiraClient(
        url,
        flavour=flavour,
        email="bridge@vendor.example" if flavour == "cloud" else None,
        token=TOKEN,
        page_size=page_size,
        retry=policy,
        on_request=on_request,
    )


def body_of(call) -> dict:
    return json.loads(call.request.body)


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def issue(n: int) -> dict:
    return {"id": str(10000 + n), "key": f"SUP-{n}", "fields": {"summary": f"case {n}"}}


# ------------------------------------------------------------------------------- search


@responses.activate
def test_cloud_search_follows_next_page_token_and_asks_for_the_largest_page() -> None:
    url = f"{BASE}/rest/api/3/search/jql"
    responses.post(url, json={"issues": [issue(1), issue(2)], "nextPageToken": "tok-2"})
    responses.post(url, json={"issues": [issue(3)], "isLast": True})
    client = make(page_size=10_000)

    got = list(
        client.search(
            "project = SUP", ["summary", "status"], properties=["jsm-bridge"], expand=["changelog"]
        )
    )

    assert [i["key"] for i in got] == ["SUP-1", "SUP-2", "SUP-3"]
    first, second = (body_of(c) for c in responses.calls)
    assert first == {
        "jql": "project = SUP",
        "fields": ["summary", "status"],
        "maxResults": 5000,  # capped to what search/jql allows
        "properties": ["jsm-bridge"],
        "expand": "changelog",  # search/jql wants a comma-separated string
    }
    assert "nextPageToken" not in first
    assert second["nextPageToken"] == "tok-2"
    assert client.stats["reads"] == 2 and client.stats["writes"] == 0


@responses.activate
def test_cloud_search_stops_when_the_token_is_absent() -> None:
    responses.post(f"{BASE}/rest/api/3/search/jql", json={"issues": [issue(1)]})
    assert [i["key"] for i in make().search("project = SUP", ["summary"])] == ["SUP-1"]
    assert len(responses.calls) == 1


@responses.activate
def test_datacenter_search_pages_by_start_at_and_copes_with_short_pages() -> None:
    url = f"{BASE}/rest/api/2/search"
    # the server hands back fewer than asked for; paging must advance by what came
    responses.post(
        url, json={"startAt": 0, "maxResults": 2, "total": 5, "issues": [issue(1), issue(2)]}
    )
    responses.post(
        url, json={"startAt": 2, "maxResults": 2, "total": 5, "issues": [issue(3), issue(4)]}
    )
    responses.post(url, json={"startAt": 4, "maxResults": 2, "total": 5, "issues": [issue(5)]})
    # a Data Center older than 11.3 has no search limits resource: the default window
    responses.get(f"{BASE}/rest/api/2/searchLimits/maxResultWindow", status=404)
    client = make("datacenter", page_size=50)

    got = [i["key"] for i in client.search("project = SUP", ["summary"], expand=["changelog"])]

    assert got == [f"SUP-{n}" for n in range(1, 6)]
    bodies = [body_of(c) for c in responses.calls if c.request.method == "POST"]
    assert [b["startAt"] for b in bodies] == [0, 2, 4]
    assert all(b["maxResults"] == 50 for b in bodies)
    assert bodies[0]["expand"] == ["changelog"]


@responses.activate
def test_datacenter_page_size_is_capped_and_empty_page_ends_paging() -> None:
    responses.post(f"{BASE}/rest/api/2/search", json={"startAt": 0, "total": 99, "issues": []})
    responses.get(f"{BASE}/rest/api/2/searchLimits/maxResultWindow", status=404)
    client = make("datacenter", page_size=100_000)
    assert list(client.search("project = SUP", ["summary"])) == []
    searches = [c for c in responses.calls if c.request.method == "POST"]
    assert body_of(searches[0])["maxResults"] == 1000
    assert len(searches) == 1


def test_more_than_five_properties_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 5"):
        list(make().search("project = SUP", ["summary"], properties=[f"p{i}" for i in range(6)]))


# ------------------------------------------------------------------------------- auth


@responses.activate
def test_cloud_uses_basic_auth_with_email_and_token() -> None:
    responses.get(f"{BASE}/rest/api/2/myself", json={"accountId": "acc-bridge"})
    assert make().myself()["accountId"] == "acc-bridge"
    header = responses.calls[0].request.headers["Authorization"]
    assert header == "Basic " + base64.b64encode(f"bridge@vendor.example:{TOKEN}".encode()).decode()


@responses.activate
def test_datacenter_uses_a_bearer_token() -> None:
    responses.get(f"{BASE}/rest/api/2/myself", json={"name": "bridge"})
    make("datacenter").myself()
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"


def test_plain_http_is_refused_except_on_loopback() -> None:
    with pytest.raises(ValueError, match="HTTPS is required"):
        make(url="http://jira.example.com")
    make(url="http://127.0.0.1:8089")
    make(url="http://localhost:8089")
    make(url="http://[::1]:8089")


def test_credentials_in_the_url_are_refused_and_repr_hides_the_token() -> None:
    with pytest.raises(ValueError, match="must not contain credentials"):
        make(url="https://bridge:pw@acme.atlassian.net")
    assert TOKEN not in repr(make())


def test_from_settings_reveals_the_token_only_for_the_session() -> None:
    class Secret:
        def reveal(self) -> str:
            return TOKEN

        def __repr__(self) -> str:
            return "Secret(***)"

    jira = SimpleNamespace(
        url=BASE,
        flavour="datacenter",
        email=None,
        token=Secret(),
        page_size=250,
        verify_tls=True,
        timeout=12.5,
    )
    client = JiraClient.from_settings(jira)
    assert client.flavour == "datacenter" and client.page_size == 250
    assert client._session.headers["Authorization"] == f"Bearer {TOKEN}"


# ------------------------------------------------------------------------------- retries


@responses.activate
def test_429_waits_what_retry_after_says_and_logs_the_wait() -> None:
    url = f"{BASE}/rest/api/2/issue/SUP-1/transitions"
    responses.get(
        url, status=429, headers={"Retry-After": "7"}, json={"errorMessages": ["slow down"]}
    )
    responses.get(url, json={"transitions": [{"id": "31", "name": "Escalate"}]})
    sleep = FakeSleep()
    client = make(sleep=sleep)

    with capture_logs() as logs:
        assert client.transitions("SUP-1") == [{"id": "31", "name": "Escalate"}]

    assert sleep.waits == [7.0]
    assert client.stats["retries"] == 1 and client.stats["retries_429"] == 1
    assert client.stats["reads"] == 2
    retry_lines = [entry for entry in logs if entry["event"] == "jira.retry"]
    assert retry_lines and retry_lines[0]["wait_s"] == 7.0 and retry_lines[0]["kind"] == "429"


@responses.activate
def test_retry_after_as_http_date_and_capped() -> None:
    url = f"{BASE}/rest/api/2/serverInfo"
    # the injected clock says 2026-11-27 00:00:00 UTC
    responses.get(url, status=429, headers={"Retry-After": "Fri, 27 Nov 2026 00:00:12 GMT"})
    responses.get(url, status=429, headers={"Retry-After": "3600"})
    responses.get(url, json={"version": "10.0"})
    sleep = FakeSleep()
    make(sleep=sleep).server_info()
    assert sleep.waits == [12.0, 60.0]  # the hour is capped to a minute


def test_parse_retry_after_forms() -> None:
    now = datetime(2026, 11, 27, tzinfo=UTC)
    assert parse_retry_after("5", now=now) == 5.0
    assert parse_retry_after("Fri, 27 Nov 2026 00:01:00 GMT", now=now) == 60.0
    assert parse_retry_after("Thu, 26 Nov 2026 00:00:00 GMT", now=now) == 0.0  # in the past
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


@responses.activate
def test_503_backs_off_exponentially_and_gives_up_after_the_bound() -> None:
    url = f"{BASE}/rest/api/2/field"
    for _ in range(10):
        responses.get(url, status=503, body="<html>down</html>")
    sleep = FakeSleep()
    client = make(sleep=sleep, jitter=0.5)

    with pytest.raises(JiraError) as caught:
        client.fields()

    assert len(responses.calls) == 5  # bounded
    assert sleep.waits == [1.5, 2.5, 4.5, 8.5]  # 1, 2, 4, 8 s plus (maximal) jitter
    assert caught.value.status == 503 and not caught.value.ambiguous
    assert "5 attempts" in str(caught.value)
    assert client.stats["retries_5xx"] == 4


@responses.activate
def test_backoff_waits_never_exceed_the_cap() -> None:
    url = f"{BASE}/rest/api/2/status"
    for _ in range(12):
        responses.get(url, status=502)
    sleep = FakeSleep()
    policy = RetryPolicy(max_attempts=10, sleep=sleep, max_wait=30.0, uniform=lambda a, b: b)
    client = JiraClient(BASE, flavour="cloud", email="b@v.example", token=TOKEN, retry=policy)
    with pytest.raises(JiraError):
        client.statuses()
    assert len(sleep.waits) == 9
    assert max(sleep.waits) == 30.0
    assert sleep.waits == sorted(sleep.waits)


@responses.activate
def test_get_is_retried_after_a_dropped_connection() -> None:
    url = f"{BASE}/rest/api/2/priority"
    responses.get(url, body=requests.exceptions.ConnectionError("Connection aborted."))
    responses.get(url, body=requests.exceptions.ReadTimeout("read timed out"))
    responses.get(url, json=[{"id": "1", "name": "Blocker"}])
    client = make()
    assert client.priorities() == [{"id": "1", "name": "Blocker"}]
    assert client.stats["retries_connection"] == 1 and client.stats["retries_timeout"] == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404])
@responses.activate
def test_permanent_errors_are_not_retried(status: int) -> None:
    responses.get(f"{BASE}/rest/api/2/issue/SUP-9", status=status, json={"errorMessages": ["nope"]})
    sleep = FakeSleep()
    with pytest.raises(JiraError) as caught:
        make(sleep=sleep).get_issue("SUP-9")
    assert len(responses.calls) == 1 and sleep.waits == []
    assert caught.value.status == status and caught.value.messages == ("nope",)


@responses.activate
def test_error_messages_say_what_to_fix_and_never_show_the_token() -> None:
    responses.get(
        f"{BASE}/rest/api/2/myself",
        status=401,
        # a misbehaving proxy that echoes the credentials back
        json={"errorMessages": [f"bad credentials for token {TOKEN}"]},
    )
    responses.put(
        f"{BASE}/rest/api/2/issue/SUP-1",
        status=400,
        json={"errorMessages": [], "errors": {"customfield_10050": "Option 'late' is not valid"}},
    )
    responses.get(
        f"{BASE}/rest/api/2/issue/SUP-404/transitions",
        status=404,
        json={"errorMessages": ["Issue does not exist or you do not have permission to see it."]},
    )
    responses.get(
        f"{BASE}/rest/api/2/serverInfo", status=403, json={"errorMessages": ["Forbidden"]}
    )
    client = make()

    with capture_logs() as logs:
        with pytest.raises(JiraError) as e401:
            client.myself()
        with pytest.raises(JiraError) as e400:
            client.edit_issue("SUP-1", fields={"customfield_10050": {"value": "late"}})
        with pytest.raises(JiraError) as e404:
            client.transitions("SUP-404")
        with pytest.raises(JiraError) as e403:
            client.server_info()

    assert "check jira.email and the API token" in str(e401.value)
    assert "customfield_10050: Option 'late' is not valid" in str(e400.value)
    assert "not found" in str(e404.value) and "SUP-404" in str(e404.value)
    assert "permission" in str(e403.value)
    everything = " ".join(str(e.value) for e in (e401, e400, e404, e403)) + " ".join(
        " ".join(e.value.messages) for e in (e401, e400, e404, e403)
    )
    everything += json.dumps(logs, default=str)
    assert TOKEN not in everything
    assert base64.b64encode(f"bridge@vendor.example:{TOKEN}".encode()).decode() not in everything


@responses.activate
def test_a_body_that_is_not_json_is_a_clear_error() -> None:
    responses.get(f"{BASE}/rest/api/2/myself", body="<html>login</html>", content_type="text/html")
    with pytest.raises(JiraError, match="not JSON"):
        make().myself()


# ------------------------------------------------------------------------------- non-idempotent


@responses.activate
def test_comment_post_with_a_dropped_connection_is_ambiguous_and_not_repeated() -> None:
    url = f"{BASE}/rest/api/2/issue/SUP-1/comment"
    responses.post(url, body=requests.exceptions.ConnectionError("Connection aborted."))
    responses.post(url, status=201, json={"id": "1"})
    sleep = FakeSleep()
    with pytest.raises(JiraError) as caught:
        make(sleep=sleep).add_comment("SUP-1", "SUP-1: hello", internal=False)
    assert caught.value.ambiguous
    assert "re-read" in str(caught.value)
    assert len(responses.calls) == 1 and sleep.waits == []


@responses.activate
def test_transition_post_timing_out_is_ambiguous() -> None:
    url = f"{BASE}/rest/api/2/issue/SUP-1/transitions"
    responses.post(url, body=requests.exceptions.ReadTimeout("read timed out"))
    with pytest.raises(JiraError) as caught:
        make().do_transition("SUP-1", "31")
    assert caught.value.ambiguous and len(responses.calls) == 1


@responses.activate
def test_post_answered_by_a_bare_502_is_ambiguous() -> None:
    responses.post(f"{BASE}/rest/api/2/issue/SUP-1/transitions", status=502)
    with pytest.raises(JiraError) as caught:
        make().do_transition("SUP-1", "31")
    assert caught.value.ambiguous and caught.value.status == 502 and len(responses.calls) == 1


@pytest.mark.parametrize("status", [500, 502, 504])
@responses.activate
def test_post_answered_by_another_5xx_with_retry_after_is_ambiguous_not_repeated(
    status: int,
) -> None:
    """Only a 503 with Retry-After says the server turned the request away; a proxy's
    502 or 504 (or a 500) may come after Jira saved the comment, Retry-After or not."""
    url = f"{BASE}/rest/api/2/issue/SUP-1/comment"
    responses.post(url, status=status, headers={"Retry-After": "5"})
    responses.post(url, status=201, json={"id": "2"})
    sleep = FakeSleep()
    with pytest.raises(JiraError) as caught:
        make(sleep=sleep).add_comment("SUP-1", "SUP-1: hello", internal=False)
    assert caught.value.ambiguous and caught.value.status == status
    assert len(responses.calls) == 1 and sleep.waits == []


@responses.activate
def test_post_is_retried_when_it_provably_did_not_land() -> None:
    url = f"{BASE}/rest/api/2/issue/SUP-1/comment"
    refused = requests.exceptions.ConnectionError(
        MaxRetryError(None, url, NewConnectionError(None, "Connection refused"))  # type: ignore[arg-type]
    )
    responses.post(url, body=refused)
    responses.post(url, status=429, headers={"Retry-After": "2"})
    responses.post(url, status=503, headers={"Retry-After": "3"})
    responses.post(url, status=201, json={"id": "77", "jsdPublic": False})
    sleep = FakeSleep()
    client = make(sleep=sleep)
    assert client.add_comment("SUP-1", "SUP-1: x", internal=True)["id"] == "77"
    assert len(responses.calls) == 4
    assert sleep.waits[1:] == [2.0, 3.0]
    assert client.stats["writes"] == 4


# ------------------------------------------------------------------------------- payloads


@responses.activate
def test_edit_sends_notify_users_as_a_query_parameter() -> None:
    responses.put(f"{BASE}/rest/api/2/issue/SUP-1", status=204)
    client = make()
    client.edit_issue(
        "SUP-1",
        fields={"customfield_10050": {"value": "running"}},
        update={"labels": [{"add": "sla-at-risk"}]},
    )
    call = responses.calls[0]
    assert query_of(call) == {"notifyUsers": ["false"]}
    assert body_of(call) == {
        "fields": {"customfield_10050": {"value": "running"}},
        "update": {"labels": [{"add": "sla-at-risk"}]},
    }
    assert client.stats["writes"] == 1


@responses.activate
def test_edit_with_notify_leaves_jira_default_and_empty_edit_sends_nothing() -> None:
    responses.put(f"{BASE}/rest/api/2/issue/SUP-1", status=204)
    client = make()
    client.edit_issue("SUP-1", fields={"summary": "x"}, notify=True)
    client.edit_issue("SUP-1")
    assert len(responses.calls) == 1 and "notifyUsers" not in query_of(responses.calls[0])


@responses.activate
def test_comment_carries_its_properties_and_the_internal_flag() -> None:
    responses.post(f"{BASE}/rest/api/2/issue/SUP-1/comment", status=201, json={"id": "5"})
    make().add_comment(
        "SUP-1", "SUP-1 breached", internal=True, properties={"jsm-bridge": {"action_id": "a1"}}
    )
    body = body_of(responses.calls[0])
    assert body["body"] == "SUP-1 breached"
    assert {"key": "jsm-bridge", "value": {"action_id": "a1"}} in body["properties"]
    assert {"key": "sd.public.comment", "value": {"internal": True}} in body["properties"]


@responses.activate
def test_public_comment_has_no_internal_flag() -> None:
    responses.post(f"{BASE}/rest/api/2/issue/SUP-1/comment", status=201, json={"id": "5"})
    make().add_comment("SUP-1", "SUP-1: hi", internal=False)
    assert body_of(responses.calls[0]) == {"body": "SUP-1: hi"}


@responses.activate
def test_transition_property_and_missing_property() -> None:
    responses.post(f"{BASE}/rest/api/2/issue/SUP-1/transitions", status=204)
    responses.put(f"{BASE}/rest/api/2/issue/SUP-1/properties/jsm-bridge", status=200)
    responses.get(
        f"{BASE}/rest/api/2/issue/SUP-1/properties/jsm-bridge",
        status=404,
        json={"errorMessages": ["gone"]},
    )
    responses.get(
        f"{BASE}/rest/api/2/issue/SUP-2/properties/jsm-bridge",
        json={"key": "jsm-bridge", "value": {"v": 1}},
    )
    client = make()
    client.do_transition("SUP-1", "31")
    client.set_property("SUP-1", "jsm-bridge", {"v": 1, "done": []})
    assert client.get_property("SUP-1", "jsm-bridge") is None
    assert client.get_property("SUP-2", "jsm-bridge") == {"v": 1}
    assert body_of(responses.calls[0]) == {"transition": {"id": "31"}}
    assert body_of(responses.calls[1]) == {"v": 1, "done": []}


@responses.activate
def test_cloud_changelog_and_comments_are_paged() -> None:
    cl = f"{BASE}/rest/api/2/issue/SUP-1/changelog"
    responses.get(
        cl,
        json={
            "startAt": 0,
            "maxResults": 2,
            "total": 3,
            "isLast": False,
            "values": [{"id": "1"}, {"id": "2"}],
        },
    )
    responses.get(
        cl,
        json={"startAt": 2, "maxResults": 2, "total": 3, "isLast": True, "values": [{"id": "3"}]},
    )
    cm = f"{BASE}/rest/api/2/issue/SUP-1/comment"
    responses.get(cm, json={"startAt": 0, "total": 2, "comments": [{"id": "9"}]})
    responses.get(cm, json={"startAt": 1, "total": 2, "comments": [{"id": "12"}]})
    marked = [{"key": "jsm-bridge", "value": {"action": "a1"}}]
    responses.post(
        f"{BASE}/rest/api/2/comment/list",
        json={"isLast": True, "total": 1, "values": [{"id": "12", "properties": marked}]},
    )
    client = make()
    assert [h["id"] for h in client.changelog("SUP-1")] == ["1", "2", "3"]
    assert query_of(responses.calls[1])["startAt"] == ["2"]
    # Cloud's "Get comments" expands renderedBody only; the properties come by ids, and a
    # comment the by-ids answer leaves out is left without any
    assert client.comments("SUP-1") == [{"id": "9"}, {"id": "12", "properties": marked}]
    assert "expand" not in query_of(responses.calls[2])
    by_ids = responses.calls[4].request
    assert query_of(responses.calls[4])["expand"] == ["properties"]
    assert json.loads(by_ids.body or b"{}") == {"ids": [9, 12]}


@responses.activate
def test_datacenter_changelog_comes_from_the_issue_expansion() -> None:
    responses.get(
        f"{BASE}/rest/api/2/issue/SUP-1",
        json={"key": "SUP-1", "changelog": {"histories": [{"id": "1"}, {"id": "2"}]}},
    )
    assert [h["id"] for h in make("datacenter").changelog("SUP-1")] == ["1", "2"]
    assert query_of(responses.calls[0])["expand"] == ["changelog"]


@responses.activate
def test_user_search_parameter_per_flavour() -> None:
    responses.get(f"{BASE}/rest/api/2/user/search", json=[])
    make().find_users("jane@vendor.example")
    make("datacenter").find_users("jane@vendor.example")
    assert query_of(responses.calls[0])["query"] == ["jane@vendor.example"]
    assert query_of(responses.calls[1])["username"] == ["jane@vendor.example"]


@responses.activate
def test_organizations_are_paged_and_requests_reported() -> None:
    url = f"{BASE}/rest/servicedeskapi/organization"
    responses.get(
        url,
        json={
            "start": 0,
            "limit": 1,
            "isLastPage": False,
            "values": [{"id": "1", "name": "Acme Networks"}],
        },
    )
    responses.get(
        url,
        json={
            "start": 1,
            "limit": 1,
            "isLastPage": True,
            "values": [{"id": "2", "name": "Globex Telecom"}],
        },
    )
    seen: list[tuple[str, str, int]] = []
    client = make(on_request=lambda m, p, s: seen.append((m, p, s)))
    assert [o["name"] for o in client.organizations()] == ["Acme Networks", "Globex Telecom"]
    assert query_of(responses.calls[1])["start"] == ["1"]
    assert seen == [("GET", "rest/servicedeskapi/organization", 200)] * 2


@responses.activate
def test_experimental_calls_send_the_flavours_documented_header_and_try_the_other_once() -> None:
    """Data Center documents ``X-ExperimentalApi: true``, Cloud ``opt-in``: a Data Center
    site that holds to Cloud's value answers 412 to its own, and is asked again with the
    other, which later calls keep."""
    url = f"{BASE}/rest/servicedeskapi/servicedesk/1/customer"
    refused = {"errorMessage": "This API is experimental.", "i18nErrorMessage": {}}
    page = {"values": [{"name": "ops"}], "isLastPage": True}
    responses.get(
        url,
        status=412,
        json=refused,
        match=[matchers.header_matcher({"X-ExperimentalApi": "true"})],
    )
    responses.get(url, json=page, match=[matchers.header_matcher({"X-ExperimentalApi": "opt-in"})])
    client = make("datacenter")
    assert [c["name"] for c in client.service_desk_customers("1")] == ["ops"]
    assert [c["name"] for c in client.service_desk_customers("1")] == ["ops"]
    sent = [c.request.headers["X-ExperimentalApi"] for c in responses.calls]
    assert sent == ["true", "opt-in", "opt-in"]


@responses.activate
@pytest.mark.parametrize(
    ("body", "kind"),
    [('{"id": "10042", "bo', "application/json"), ("<html>Created</html>", "text/html")],
    ids=["cut-short", "not-json"],
)
def test_a_2xx_to_a_comment_whose_body_cannot_be_read_is_an_answer_lost(
    body: str, kind: str
) -> None:
    """Jira took the comment (201); its answer cannot be read.  That is no refusal (and no
    config error): the error is ambiguous, so the issue is checked before it is sent again.
    It is not sent again here either."""
    url = f"{BASE}/rest/api/2/issue/SUP-1/comment"
    responses.post(url, status=201, body=body, content_type=kind)
    with pytest.raises(JiraError) as caught:
        make().add_comment("SUP-1", "SUP-1: hello", internal=False)
    error = caught.value
    assert error.ambiguous and not error.config and not error.refused
    assert error.status == 201 and "re-read the issue" in str(error)
    assert len(responses.calls) == 1


@responses.activate
def test_a_2xx_to_a_bulk_transition_whose_body_cannot_be_read_is_an_answer_lost() -> None:
    """The bulk request was taken (201) but its task id cannot be read: ambiguous (some
    issues may move), not a config error that would send the cases again on their own."""
    url = f"{BASE}/rest/api/3/bulk/issues/transition"
    responses.post(url, status=201, body='{"taskId": "100', content_type="application/json")
    with pytest.raises(JiraError) as caught:
        make().bulk_transition({"31": ["10001", "10002"]}, patience=0.0)
    assert caught.value.ambiguous and not caught.value.config
    assert len(responses.calls) == 1


def _cut_body() -> requests.exceptions.ChunkedEncodingError:
    """What requests raises when the connection closes before the answer's body is in."""
    return requests.exceptions.ChunkedEncodingError(
        ProtocolError("Connection broken: IncompleteRead(10 bytes read, 20 more expected)")
    )


@responses.activate
def test_a_comment_whose_answer_body_is_cut_by_the_connection_is_ambiguous() -> None:
    """The connection closed before the 201's body was in: the comment may have landed.
    It is an ambiguous JiraError (the issue is checked first), not sent again, and not a
    raw requests exception that ends the cycle."""
    url = f"{BASE}/rest/api/2/issue/SUP-1/comment"
    responses.post(url, body=_cut_body())
    responses.post(url, status=201, json={"id": "2"})
    with pytest.raises(JiraError) as caught:
        make().add_comment("SUP-1", "SUP-1: hello", internal=False)
    assert caught.value.ambiguous and not caught.value.refused
    assert len(responses.calls) == 1


@responses.activate
def test_a_read_whose_answer_body_is_cut_by_the_connection_is_retried() -> None:
    url = f"{BASE}/rest/api/2/myself"
    responses.get(url, body=_cut_body())
    responses.get(url, json={"accountId": "me"})
    assert make().myself()["accountId"] == "me"
    assert len(responses.calls) == 2
