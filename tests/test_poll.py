"""JQL building (quoting, incremental scope) and the reading side of a cycle."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.jira.fields import FieldMap
from bridge.policy.model import IssueSnapshot
from bridge.sync.poll import (
    SYSTEM_FIELDS,
    jql_string,
    month_cases_jql,
    needed_fields,
    org_month_cases,
    read_issues,
    scope_field_clauses,
    scope_jql,
    scope_projects,
    scope_status_clauses,
)
from bridge.sync.snapshot import SnapshotError

BRISBANE = ZoneInfo("Australia/Brisbane")
SITE = [
    {
        "id": "customfield_10002",
        "name": "Organizations",
        "schema": {
            "type": "array",
            "items": "sd-customerorganization",
            "custom": "com.atlassian.servicedesk:sd-customer-organizations",
        },
    },
    {"id": "customfield_10041", "name": "SLA state", "schema": {"type": "option"}},
]
FM = FieldMap.resolve({"organization": "Organizations", "sla_state": "SLA state"}, SITE)


# ------------------------------------------------------------------------------- JQL


def test_jql_string_escapes_quotes_and_backslashes() -> None:
    assert jql_string('O\'Brien "Data" Ltd') == '"O\'Brien \\"Data\\" Ltd"'
    assert jql_string("a\\b") == '"a\\\\b"'
    assert jql_string("line\nbreak\x01") == '"line\\nbreak\\u0001"'


def test_full_scope_orders_by_key() -> None:
    assert scope_jql("project = SUP", updated_since=None) == "(project = SUP) ORDER BY key ASC"


def test_incremental_scope_in_the_search_users_zone_plus_due_keys() -> None:
    since = datetime(2026, 11, 26, 23, 59, 59, tzinfo=UTC)  # 09:59:59 in Brisbane
    jql = scope_jql(
        "project = SUP", updated_since=since, keys=["SUP-9", "SUP-10", "SUP-9"], tz=BRISBANE
    )
    assert jql == (
        '(project = SUP) AND (updated >= "2026-11-27 09:59" OR key in ("SUP-10", "SUP-9"))'
        " ORDER BY key ASC"
    )


def test_incremental_scope_without_keys_and_base_order_by_replaced() -> None:
    since = datetime(2026, 11, 27, 9, 30, tzinfo=BRISBANE)
    jql = scope_jql(
        'project = SUP AND summary ~ "order by" ORDER BY created DESC', updated_since=since
    )
    assert (
        jql
        == '(project = SUP AND summary ~ "order by") AND (updated >= "2026-11-27 09:30") ORDER BY key ASC'
    )


def test_scope_refuses_junk_keys_naive_times_and_empty_scope() -> None:
    since = datetime(2026, 11, 27, tzinfo=UTC)
    with pytest.raises(ValueError, match="not an issue key"):
        scope_jql("project = SUP", updated_since=since, keys=['SUP-1") OR ("x'])
    with pytest.raises(ValueError, match="aware"):
        scope_jql("project = SUP", updated_since=datetime(2026, 11, 27))
    with pytest.raises(ValueError, match="empty"):
        scope_jql("  ORDER BY key", updated_since=None)


def test_month_cases_jql_quotes_the_organisation() -> None:
    jql = month_cases_jql(
        "project = SUP",
        'O\'Brien "Data" Ltd',
        datetime(2026, 11, 1, tzinfo=BRISBANE),
        org_field=FM.jql_name("organization"),
    )
    assert jql == (
        '(project = SUP) AND "Organizations" = "O\'Brien \\"Data\\" Ltd"'
        ' AND created >= "2026-11-01 00:00" ORDER BY key ASC'
    )


def test_needed_fields_has_system_and_custom_fields_once() -> None:
    fields = needed_fields(FM, extra=["summary", "duedate"])
    assert fields[: len(SYSTEM_FIELDS)] == list(SYSTEM_FIELDS)
    assert fields[len(SYSTEM_FIELDS) :] == ["customfield_10002", "customfield_10041", "duedate"]


# ------------------------------------------------------------------------------- reading


class Port:
    """Just enough of JiraPort: canned search results, counted follow-up reads."""

    def __init__(
        self, issues: list[dict[str, Any]], changelog: list[dict[str, Any]] | None = None
    ) -> None:
        self.issues = issues
        self.full_changelog = changelog or []
        self.searches: list[dict[str, Any]] = []
        self.changelog_reads: list[str] = []
        self.comment_reads: list[str] = []

    def search(
        self,
        jql: str,
        fields: Sequence[str],
        *,
        properties: Sequence[str] = (),
        expand: Sequence[str] = (),
    ) -> Iterator[dict[str, Any]]:
        self.searches.append(
            {
                "jql": jql,
                "fields": list(fields),
                "properties": list(properties),
                "expand": list(expand),
            }
        )
        yield from self.issues

    def changelog(self, key: str) -> Iterator[dict[str, Any]]:
        self.changelog_reads.append(key)
        yield from self.full_changelog

    def comments(self, key: str) -> list[dict[str, Any]]:
        self.comment_reads.append(key)
        return [
            {"id": "1", "created": "2026-11-27T09:30:00.000+1000", "author": {"accountId": "a"}}
        ]


def raw_issue(
    n: int,
    *,
    org: str | None = "Acme Networks",
    created: str = "2026-11-27T09:00:00.000+1000",
    **extra: Any,
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "summary": f"case {n}",
        "created": created,
        "updated": created,
        "status": {"name": "Open", "statusCategory": {"key": "new"}},
        "priority": {"name": "Major"},
        "reporter": {
            "accountId": "c1",
            "accountType": "customer",
            "emailAddress": "ops@acme.example",
        },
        "labels": [],
        "components": [],
        "customfield_10002": [{"id": "1", "name": org}] if org else [],
        "resolution": None,
    }
    fields.update(extra)
    return {
        "key": f"SUP-{n}",
        "fields": fields,
        "changelog": {"startAt": 0, "total": 0, "histories": []},
    }


def read(port: Port) -> list[tuple[dict[str, Any], IssueSnapshot | SnapshotError]]:
    return list(
        read_issues(
            port,
            "(project = SUP) ORDER BY key ASC",
            FM,
            bridge_account_id="acc-bridge",
            status_categories={"Open": "new"},
        )  # type: ignore[arg-type]
    )


def test_read_issues_asks_for_fields_ledger_and_changelog_in_one_search() -> None:
    port = Port([raw_issue(1), raw_issue(2)])
    got = read(port)
    assert [s.key for _, s in got if isinstance(s, IssueSnapshot)] == ["SUP-1", "SUP-2"]
    (search,) = port.searches
    assert search["properties"] == ["jsm-bridge"] and search["expand"] == ["changelog"]
    assert "customfield_10002" in search["fields"] and "comment" in search["fields"]
    assert port.changelog_reads == [] and port.comment_reads == []


def test_bad_issue_is_yielded_as_an_error_and_the_rest_goes_on() -> None:
    bad = raw_issue(2)
    del bad["fields"]["created"]
    got = read(Port([raw_issue(1), bad, raw_issue(3)]))
    kinds = [(raw["key"], type(s).__name__) for raw, s in got]
    assert kinds == [
        ("SUP-1", "IssueSnapshot"),
        ("SUP-2", "SnapshotError"),
        ("SUP-3", "IssueSnapshot"),
    ]


def test_truncated_changelog_and_comments_are_fetched_for_that_issue_only() -> None:
    cut = raw_issue(2)
    cut["changelog"] = {
        "startAt": 0,
        "maxResults": 1,
        "total": 2,
        "histories": [{"id": "h2", "created": "2026-11-27T10:00:00.000+1000", "items": []}],
    }
    cut["fields"]["comment"] = {"startAt": 0, "maxResults": 0, "total": 1, "comments": []}
    full = [
        {
            "id": "h1",
            "created": "2026-11-27T09:10:00.000+1000",
            "author": {"accountId": "acc-jane"},
            "items": [{"field": "priority", "fromString": "Blocker", "toString": "Major"}],
        },
        {"id": "h2", "created": "2026-11-27T10:00:00.000+1000", "items": []},
    ]
    port = Port([raw_issue(1), cut], changelog=full)
    got = read(port)
    assert port.changelog_reads == ["SUP-2"] and port.comment_reads == ["SUP-2"]
    snapshot = got[1][1]
    assert isinstance(snapshot, IssueSnapshot)
    assert snapshot.initial_priority == "Blocker" and len(snapshot.comments) == 1
    assert len(got[1][0]["changelog"]["histories"]) == 2


def test_org_month_cases_in_one_search_grouped_by_first_organisation() -> None:
    port = Port(
        [
            raw_issue(1, resolution={"name": "Duplicate"}),
            raw_issue(2, org='O\'Brien "Data" Ltd', created="2026-11-03T09:00:00.000+1000"),
            raw_issue(3, org="Umbrella Labs"),  # not asked for
            raw_issue(4, org=None),
            raw_issue(5, org="acme networks", created="2026-11-02T09:00:00.000+1000"),
        ]
    )
    since = datetime(2026, 10, 31, 14, 0, tzinfo=UTC)
    got = org_month_cases(
        port,
        "project = SUP",
        FM,
        dict.fromkeys(["Acme Networks", 'O\'Brien "Data" Ltd', "Initech Systems"], since),
        tz=BRISBANE,
    )  # type: ignore[arg-type]
    assert len(port.searches) == 1
    jql = port.searches[0]["jql"]
    assert (
        '"Organizations" in ("Acme Networks", "Initech Systems", "O\'Brien \\"Data\\" Ltd")' in jql
    )
    assert 'created >= "2026-11-01 00:00"' in jql
    assert [(c.key, c.resolution) for c in got["Acme Networks"]] == [
        ("SUP-5", None),
        ("SUP-1", "Duplicate"),
    ]
    assert [c.key for c in got['O\'Brien "Data" Ltd']] == ["SUP-2"]
    assert got["Initech Systems"] == ()
    assert set(got) == {"Acme Networks", 'O\'Brien "Data" Ltd', "Initech Systems"}


def test_org_month_cases_searches_each_organisation_from_its_own_start() -> None:
    """Initech's cases are gathered from its contract year, Acme's from its month, in one
    search: each organisation's clause has its own start, and a case naming none is
    searched from the earliest and kept only from its owner's start."""
    port = Port(
        [
            raw_issue(1, org="Initech Systems", created="2026-06-01T09:00:00.000+1000"),
            raw_issue(2, created="2026-10-05T09:00:00.000+1000"),  # Acme, before its start
            raw_issue(3, created="2026-11-02T09:00:00.000+1000"),
            raw_issue(4, org=None, created="2026-10-06T09:00:00.000+1000"),  # Acme's
            raw_issue(5, org=None, created="2026-11-03T09:00:00.000+1000"),  # Acme's
        ]
    )
    starts = {
        "Acme Networks": datetime(2026, 10, 31, 14, 0, tzinfo=UTC),
        "Initech Systems": datetime(2026, 3, 31, 14, 0, tzinfo=UTC),
    }
    got = org_month_cases(
        port,
        "project = SUP",
        FM,
        starts,
        tz=BRISBANE,
        owner=lambda snapshot: "Acme Networks",
    )  # type: ignore[arg-type]
    [search] = port.searches
    assert (
        '(("Organizations" in ("Initech Systems") AND created >= "2026-04-01 00:00")'
        ' OR ("Organizations" in ("Acme Networks") AND created >= "2026-11-01 00:00")'
        ' OR ("Organizations" is EMPTY AND created >= "2026-04-01 00:00"))'
    ) in search["jql"]
    assert [c.key for c in got["Initech Systems"]] == ["SUP-1"]
    assert [c.key for c in got["Acme Networks"]] == ["SUP-3", "SUP-5"]


def test_issue_deleted_before_its_follow_up_read_is_skipped_but_outages_stop_the_read() -> None:
    from bridge.jira.port import JiraError

    cut = raw_issue(2)
    cut["changelog"] = {"startAt": 0, "maxResults": 0, "total": 5, "histories": []}

    class Gone(Port):
        def __init__(self, status: int) -> None:
            super().__init__([cut, raw_issue(3)])
            self.status = status

        def changelog(self, key: str) -> Iterator[dict[str, Any]]:
            raise JiraError("nope", status=self.status)
            yield {}

    got = read(Gone(404))
    assert [type(s).__name__ for _, s in got] == ["SnapshotError", "IssueSnapshot"]
    assert "vanished" in str(got[0][1])
    with pytest.raises(JiraError):
        read(Gone(503))


@pytest.mark.parametrize(
    ("jql", "by_organisation", "by_status"),
    [
        ("project = SUP", [], []),
        ("project = SUP AND Organizations is EMPTY", ["Organizations is EMPTY"], []),
        (
            'project = SUP AND "Organizations" = "Acme Networks" ORDER BY key',
            ['"Organizations" = "Acme Networks"'],
            [],
        ),
        ('cf[10002] in ("Acme") AND status = Open', ['cf[10002] in ("Acme")'], ["status = Open"]),
        # inside a quoted literal a field name is text, not a clause
        ('project = SUP AND summary ~ "Organizations = x"', [], []),
        ('project = SUP AND summary ~ "status = open"', [], []),
    ],
)
def test_the_scope_clauses_that_leave_cases_of_a_customers_month_out(
    jql: str, by_organisation: list[str], by_status: list[str]
) -> None:
    assert scope_field_clauses(jql, ["Organizations", "cf[10002]"]) == by_organisation
    assert scope_status_clauses(jql) == by_status


@pytest.mark.parametrize(
    ("jql", "projects"),
    [
        ("project = SUP AND resolution = EMPTY", ["SUP"]),
        ('project in (SUP, "Ops Desk") AND status != Closed ORDER BY key', ["Ops Desk", "SUP"]),
        ("PROJECT='SUP' AND project != OPS AND project not in (X)", ["SUP"]),
        ('resolution = EMPTY AND summary ~ "project = SUP"', []),
    ],
)
def test_the_projects_a_scope_names(jql: str, projects: list[str]) -> None:
    assert scope_projects(jql) == projects
