"""Field resolution (with did-you-mean), value encoding/decoding/comparison per field type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bridge.jira.fields import (
    FieldMap,
    FieldResolutionError,
    check_transitions,
    find_transition,
    format_jira_datetime,
    parse_jira_datetime,
    resolve_priorities,
    resolve_user,
)

CF = "com.atlassian.jira.plugin.system.customfieldtypes:"


def cf(n: int, name: str, type_: str, custom: str, items: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": type_, "custom": custom, "customId": n}
    if items:
        schema["items"] = items
    return {
        "id": f"customfield_{n}",
        "key": f"customfield_{n}",
        "name": name,
        "custom": True,
        "schema": schema,
    }


SITE: list[dict[str, Any]] = [
    {
        "id": "summary",
        "name": "Summary",
        "custom": False,
        "schema": {"type": "string", "system": "summary"},
    },
    {
        "id": "labels",
        "name": "Labels",
        "custom": False,
        "schema": {"type": "array", "items": "string", "system": "labels"},
    },
    cf(10040, "Response due", "datetime", CF + "datetime"),
    cf(10041, "SLA state", "option", CF + "select"),
    cf(10042, "Support tier", "option", CF + "select"),
    cf(10043, "Cases this month", "string", CF + "textfield"),
    cf(10044, "Environment type", "option", CF + "select"),
    cf(10045, "Impact", "string", CF + "textarea"),
    cf(10046, "Quota number", "number", CF + "float"),
    cf(10047, "Platforms", "array", CF + "multiselect", items="option"),
    cf(
        10002,
        "Organizations",
        "array",
        "com.atlassian.servicedesk:sd-customer-organizations",
        items="sd-customerorganization",
    ),
    cf(10010, "Request Type", "sd-customerrequesttype", "com.atlassian.servicedesk:vp-origin"),
    cf(10048, "Duty engineer", "user", CF + "userpicker"),
    cf(10049, "Go-live", "date", CF + "datepicker"),
]

WANTED = {
    "response_due": "Response due",
    "sla_state": "sla STATE",  # case-insensitive
    "support_tier": "Support tier",
    "quota_usage": "Cases this month",
    "environment": "Environment type",
    "impact": "Impact",
    "quota_number": "Quota number",
    "platforms": "Platforms",
    "organization": "Organizations",
    "request_type": "Request Type",
    "duty": "Duty engineer",
    "go_live": "Go-live",
}


@pytest.fixture
def fm() -> FieldMap:
    return FieldMap.resolve(WANTED, SITE)


def test_resolve_maps_names_to_ids_case_insensitively(fm: FieldMap) -> None:
    assert fm.id("sla_state") == "customfield_10041"
    assert fm.id("organization") == "customfield_10002"
    assert fm.field("response_due").schema_type == "datetime"
    assert "customfield_10040" in fm.ids() and len(fm.ids()) == len(WANTED)
    assert fm.jql_name("organization") == '"Organizations"'


def test_jsm_request_type_field_is_found_under_its_data_center_name() -> None:
    """JSM Data Center calls Cloud's "Request Type" field "Customer Request Type": the
    shipped config's name finds it by its type on either product."""
    site = [
        f if f["id"] != "customfield_10010" else {**f, "name": "Customer Request Type"}
        for f in SITE
    ]
    fm = FieldMap.resolve({"request_type": "Request Type"}, site)
    assert fm.id("request_type") == "customfield_10010"
    assert fm.jql_name("request_type") == '"Customer Request Type"'
    with pytest.raises(FieldResolutionError):  # only JSM's own fields are found by type
        FieldMap.resolve({"impact": "Impact statement"}, site)


def test_resolve_accepts_a_field_id() -> None:
    assert FieldMap.resolve({"x": "customfield_10045"}, SITE).field("x").name == "Impact"


def test_resolve_lists_every_unknown_name_with_the_closest_existing_ones() -> None:
    with pytest.raises(FieldResolutionError) as caught:
        FieldMap.resolve(
            {"response_due": "Response Date", "tier": "Suport tier", "ok": "Impact", "zz": "Qwxz"},
            SITE,
        )
    problems = caught.value.problems
    assert len(problems) == 3
    assert problems[0].startswith("fields.response_due: no field named 'Response Date'")
    assert "'Response due'" in problems[0]
    assert "did you mean 'Support tier'" in problems[1]
    assert "did you mean" not in problems[2]
    assert "Response Date" in str(caught.value) and "Qwxz" in str(caught.value)


def test_a_missing_field_is_never_told_of_an_unrelated_built_in_one() -> None:
    """ "Response due" is 0.6 alike to Jira's "Resolved" and "Product" to "Project": a
    site without the bridge's fields must not send the operator to those."""
    builtin = [
        {
            "id": "resolutiondate",
            "name": "Resolved",
            "custom": False,
            "schema": {"type": "datetime"},
        },
        {"id": "project", "name": "Project", "custom": False, "schema": {"type": "project"}},
        {"id": "description", "name": "Description", "custom": False, "schema": {"type": "string"}},
    ]
    site = [*builtin, cf(10060, "Product line", "option", CF + "select")]
    with pytest.raises(FieldResolutionError) as caught:
        FieldMap.resolve(
            {"response_due": "Response due", "product": "Product", "description": "Descripton"},
            site,
        )
    due, product, description = caught.value.problems
    assert "did you mean" not in due, due
    assert "'Project'" not in product and "did you mean 'Product line'" in product, product
    assert "did you mean 'Description'" in description  # a built-in one that is a typo away


def test_resolve_reports_an_ambiguous_name() -> None:
    site = [*SITE, cf(10099, "Impact", "string", CF + "textfield")]
    with pytest.raises(
        FieldResolutionError, match=r"names 2 fields.*customfield_10045, customfield_10099"
    ):
        FieldMap.resolve({"impact": "Impact"}, site)


def test_unconfigured_logical_field_is_a_clear_key_error(fm: FieldMap) -> None:
    with pytest.raises(KeyError, match="not configured"):
        fm.id("staff_available")


# ------------------------------------------------------------------------ datetimes


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-27T09:00:00.000+1000",
        "2026-11-27T09:00:00.000+10:00",
        "2026-11-26T23:00:00Z",
        "2026-11-26T23:00:00.000Z",
        "2026-11-26T18:00:00.000000000-0500",
    ],
)
def test_parse_jira_datetime_forms(text: str) -> None:
    assert parse_jira_datetime(text) == datetime(2026, 11, 26, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-11-27T09:00:00"])
def test_parse_jira_datetime_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_jira_datetime(text)


def test_format_jira_datetime() -> None:
    brisbane = datetime(2026, 11, 27, 9, 0, 0, 123456, tzinfo=ZoneInfo("Australia/Brisbane"))
    assert format_jira_datetime(brisbane) == "2026-11-27T09:00:00.123+1000"
    ny = datetime(2026, 11, 27, 9, 0, tzinfo=ZoneInfo("America/New_York"))
    assert format_jira_datetime(ny) == "2026-11-27T09:00:00.000-0500"
    with pytest.raises(ValueError, match="time zone"):
        format_jira_datetime(datetime(2026, 11, 27, 9, 0))


# ------------------------------------------------------------------------ encode


def test_encode_per_field_type(fm: FieldMap) -> None:
    due = datetime(2026, 11, 27, 9, 0, tzinfo=timezone(timedelta(hours=10)))
    assert fm.encode("response_due", due) == "2026-11-27T09:00:00.000+1000"
    assert fm.encode("sla_state", "at_risk") == {"value": "at_risk"}
    assert fm.encode("quota_usage", "5 of 4") == "5 of 4"
    assert fm.encode("quota_usage", 5) == "5"
    assert fm.encode("quota_number", 5) == 5
    assert fm.encode("quota_number", 2.5) == 2.5
    assert fm.encode("platforms", "Linux, Windows") == [{"value": "Linux"}, {"value": "Windows"}]
    assert fm.encode("duty", "acc-jane") == {"accountId": "acc-jane"}
    assert fm.encode("go_live", due) == "2026-11-27"


def test_encode_none_clears(fm: FieldMap) -> None:
    assert fm.encode("response_due", None) is None
    assert fm.encode("sla_state", None) is None
    assert fm.encode("platforms", None) == []


def test_encode_refuses_what_cannot_be_written(fm: FieldMap) -> None:
    with pytest.raises(ValueError, match="time zone"):
        fm.encode("response_due", datetime(2026, 11, 27, 9, 0))
    with pytest.raises(ValueError, match="number field"):
        fm.encode("quota_number", True)
    with pytest.raises(ValueError, match="does not write"):
        fm.encode("organization", "Acme Networks")


# ------------------------------------------------------------------------ decode

REQUEST_TYPE = {
    "_links": {"jiraRest": "https://acme.atlassian.net/rest/api/2/issue/10001"},
    "requestType": {
        "id": "12",
        "name": "Technical support",
        "serviceDeskId": "1",
        "issueTypeId": "10002",
    },
    "currentStatus": {"status": "Open", "statusCategory": "NEW"},
}


@pytest.mark.parametrize(
    ("logical", "raw", "text"),
    [
        ("sla_state", {"self": "x", "value": "running", "id": "10100"}, "running"),
        ("sla_state", None, None),
        (
            "platforms",
            [{"value": "Linux", "id": "1"}, {"value": "Windows", "id": "2"}],
            "Linux, Windows",
        ),
        ("platforms", [], None),
        ("request_type", REQUEST_TYPE, "Technical support"),
        (
            "organization",
            [{"id": "1", "name": "Acme Networks"}, {"id": "2", "name": "Globex Telecom"}],
            "Acme Networks",
        ),
        ("organization", [], None),
        (
            "duty",
            {"accountId": "acc-jane", "emailAddress": "jane@vendor.example", "displayName": "Jane"},
            "jane@vendor.example",
        ),
        ("duty", {"accountId": "acc-jane", "displayName": "Jane Engineer"}, "Jane Engineer"),
        ("response_due", "2026-11-27T09:00:00.000+1000", "2026-11-27T09:00:00.000+1000"),
        ("quota_number", 5.0, "5"),
        ("quota_number", 2.5, "2.5"),
        ("quota_usage", "   ", None),
        (
            "impact",
            {
                "type": "doc",
                "version": 1,
                "content": [
                    {"type": "paragraph", "content": [{"type": "text", "text": "All sites down"}]}
                ],
            },
            "All sites down",
        ),
        (
            "impact",
            {
                "type": "doc",
                "version": 1,
                "content": [
                    {
                        "type": "paragraph",
                        "content": [
                            {"type": "text", "text": "Line one"},
                            {"type": "hardBreak"},
                            {"type": "text", "text": "line two"},
                        ],
                    },
                    {
                        "type": "paragraph",
                        "content": [{"type": "text", "text": "Second paragraph"}],
                    },
                ],
            },
            "Line one\nline two\n\nSecond paragraph",
        ),
    ],
)
def test_decode(fm: FieldMap, logical: str, raw: Any, text: str | None) -> None:
    assert fm.decode(logical, raw) == text


# ------------------------------------------------------------------------ same


def test_same_datetime_compares_instants(fm: FieldMap) -> None:
    raw = "2026-11-27T09:00:00.000+1000"
    assert fm.same("response_due", raw, datetime(2026, 11, 26, 23, 0, tzinfo=UTC))
    assert not fm.same("response_due", raw, datetime(2026, 11, 26, 23, 1, tzinfo=UTC))
    assert not fm.same("response_due", None, datetime(2026, 11, 26, 23, 0, tzinfo=UTC))
    assert fm.same("response_due", None, None)
    assert not fm.same("response_due", raw, None)


def test_same_options_ignore_case(fm: FieldMap) -> None:
    assert fm.same("support_tier", {"value": "Premium"}, "premium")
    assert not fm.same("support_tier", {"value": "Premium"}, "Standard")
    assert fm.same("platforms", [{"value": "Linux"}, {"value": "Windows"}], "windows, linux")


def test_same_text_and_number(fm: FieldMap) -> None:
    assert fm.same("quota_usage", "5 of 4", "5 of 4")
    assert not fm.same("quota_usage", "5 of 4", "6 of 4")
    assert fm.same("quota_usage", "5", 5)
    assert fm.same("quota_number", 5.0, 5)
    assert not fm.same("quota_number", 5.0, 6)
    assert fm.same("quota_usage", "", None)


# ------------------------------------------------------------------------ other names

PRIORITIES = [
    {"id": str(i), "name": n}
    for i, n in enumerate(["Blocker", "Critical", "Major", "Minor", "Trivial"], 1)
]


def test_resolve_priorities() -> None:
    assert resolve_priorities(["Blocker", "minor"], PRIORITIES) == {"Blocker": "1", "minor": "4"}
    with pytest.raises(FieldResolutionError) as caught:
        resolve_priorities(["Critcal", "Highest"], PRIORITIES)
    assert len(caught.value.problems) == 2
    assert "did you mean 'Critical'" in caught.value.problems[0]


def test_transitions_by_name() -> None:
    available = [{"id": "31", "name": "Escalate", "to": {"name": "Escalated"}}]
    assert find_transition(available, "escalate") == available[0]
    assert find_transition(available, "Resolve") is None
    problems = check_transitions(["Escalate", "Escalte"], ["Escalate", "Resolve"])
    assert problems == [
        "transition 'Escalte' does not exist in the workflow (did you mean 'Escalate'?)"
    ]


class Users:
    def __init__(self, users: list[dict[str, Any]]) -> None:
        self.users = users
        self.queries: list[str] = []

    def find_users(self, query: str) -> list[dict[str, Any]]:
        self.queries.append(query)
        return self.users


def test_resolve_user_by_exact_email() -> None:
    port = Users(
        [
            {"accountId": "acc-jane2", "emailAddress": "jane.engineer.old@vendor.example"},
            {
                "accountId": "acc-jane",
                "emailAddress": "Jane.Engineer@vendor.example",
                "accountType": "atlassian",
            },
        ]
    )
    assert resolve_user(port, "jane.engineer@vendor.example") == "acc-jane"  # type: ignore[arg-type]
    assert port.queries == ["jane.engineer@vendor.example"]


def test_resolve_user_datacenter_name_and_hidden_email() -> None:
    assert (
        resolve_user(Users([{"name": "jane", "emailAddress": "jane@v.example"}]), "jane@v.example")
        == "jane"
    )  # type: ignore[arg-type]
    assert (
        resolve_user(Users([{"accountId": "acc-x", "displayName": "X"}]), "x@v.example") == "acc-x"
    )  # type: ignore[arg-type]


def test_resolve_user_unknown_or_ambiguous() -> None:
    with pytest.raises(FieldResolutionError, match="no Jira user"):
        resolve_user(Users([]), "ghost@v.example")  # type: ignore[arg-type]
    with pytest.raises(FieldResolutionError, match="no Jira user"):
        resolve_user(Users([{"accountId": "a"}, {"accountId": "b"}]), "x@v.example")  # type: ignore[arg-type]
    dup = [
        {"accountId": "a", "emailAddress": "x@v.example"},
        {"accountId": "b", "emailAddress": "x@v.example"},
    ]
    with pytest.raises(FieldResolutionError, match="several"):
        resolve_user(Users(dup), "x@v.example")  # type: ignore[arg-type]
