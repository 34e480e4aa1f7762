"""The sandbox's JQL: which cases a query selects, in which order, and Jira's errors for the rest."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.sandbox.jql import JqlError, Query, parse

BNE = ZoneInfo("Australia/Brisbane")  # UTC+10, no DST
LON = ZoneInfo("Europe/London")  # DST from 2026-03-29 01:00 UTC


def bne(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BNE)  # type: ignore[misc]


NOW = bne(2026, 11, 27, 9, 0)  # a Friday morning in Brisbane

PROJECTS = {"SUP": "Support", "OPS": "Operations"}
CATEGORY = {
    "Open": ("To Do", "new"),
    "Work in progress": ("In Progress", "indeterminate"),
    "Waiting for customer": ("In Progress", "indeterminate"),
    "Resolved": ("Done", "done"),
    "Closed": ("Done", "done"),
}
OPS = ("acc-ops", "ops@acme.example", "Acme Ops")
IT = ("acc-it", "it@initech.example", "Initech IT")
HELP = ("acc-help", "help@umbrella.example", "Umbrella Help")
JANE = ("acc-jane", "jane.engineer@vendor.example", "Jane Engineer")
SAM = ("acc-sam", "sam.agent@vendor.example", "Sam Agent")
RANKS = {"blocker": 5, "critical": 4, "major": 3, "minor": 2, "trivial": 1}


def rank(field_name: str, value: str) -> float | None:
    return RANKS.get(value.casefold()) if field_name == "priority" else None


@dataclass
class Case:
    """A fake issue answering ``jql_values`` as the sandbox's issue view does."""

    key: str
    status: str = "Open"
    priority: str = "Major"
    labels: tuple[str, ...] = ()
    reporter: tuple[str, ...] = OPS
    assignee: tuple[str, ...] = ()
    created: datetime = NOW
    resolved: datetime | None = None
    resolution: str | None = None
    summary: str = ""
    custom: dict[str, list[object]] = field(default_factory=dict)

    def jql_values(self, name: str) -> list[object]:
        project = self.key.split("-")[0]
        if name in ("key", "issuekey"):
            return [self.key]
        if name == "project":
            return [project, PROJECTS[project]]
        if name == "status":
            return [self.status]
        if name == "statuscategory":
            return list(CATEGORY[self.status])
        if name == "priority":
            return [self.priority]
        if name == "labels":
            return list(self.labels)
        if name in ("reporter", "assignee"):
            return list(getattr(self, name))
        if name in ("created", "updated"):
            return [self.created]
        if name == "resolved":
            return [self.resolved] if self.resolved else []
        if name == "resolution":
            return [self.resolution] if self.resolution else []
        if name == "summary":
            return [self.summary]
        if name == "cf[10042]":
            name = "environment type"
        return list(self.custom.get(name, []))


CASES = [
    Case(
        "SUP-1",
        priority="Blocker",
        labels=("sla-breached", "vip"),
        created=bne(2026, 11, 1, 0, 30),
        summary="VPN down at head office",
        custom={
            "environment type": ["Production"],
            "organizations": ["Acme Networks"],
            "story points": [5],
            "response due": [bne(2026, 11, 27, 8, 0)],
        },
    ),
    Case(
        "SUP-2",
        status="Work in progress",
        priority="Critical",
        labels=("vip",),
        reporter=IT,
        assignee=JANE,
        created=bne(2026, 10, 31, 23, 30),
        summary="Install NMIS on new server",
        custom={
            "environment type": ["Staging"],
            "organizations": ["Initech Systems", "Globex Telecom"],
            "story points": [3],
            "response due": [bne(2026, 11, 27, 12, 0)],
        },
    ),
    Case(
        "SUP-9",
        status="Waiting for customer",
        assignee=SAM,
        created=bne(2026, 11, 26, 10, 0),
        summary="Routing table wrong after upgrade",
        custom={"organizations": ["Acme Networks"]},
    ),
    Case(
        "SUP-10",
        status="Resolved",
        priority="Minor",
        labels=("sla-met",),
        reporter=IT,
        assignee=JANE,
        created=bne(2026, 11, 20, 9, 0),
        resolved=bne(2026, 11, 27, 8, 30),
        resolution="Done",
        summary="Dashboard slow; VPN ok",
        custom={"environment type": ["production"], "story points": [8]},
    ),
    Case(
        "SUP-12",
        status="Closed",
        priority="Trivial",
        labels=("duplicate",),
        reporter=HELP,
        assignee=SAM,
        created=bne(2026, 11, 27, 8, 0),
        resolved=bne(2026, 11, 27, 8, 45),
        resolution="Won't do",
        summary='User says "hello" from C:\\temp',
        custom={"organizations": ["Umbrella Labs"]},
    ),
    Case("OPS-3", created=bne(2026, 9, 15, 12, 0), summary="Rotate certificates"),
]
ALL = {c.key for c in CASES}
SUP = ALL - {"OPS-3"}
UNRESOLVED = {"SUP-1", "SUP-2", "SUP-9", "OPS-3"}
LABELLED = {"SUP-1", "SUP-2", "SUP-10", "SUP-12"}


def keys(jql: str, *, tz: tzinfo = BNE, now: datetime = NOW, **kwargs: object) -> set[str]:
    query = parse(jql, now=now, tz=tz, **kwargs)  # type: ignore[arg-type]
    return {c.key for c in CASES if query.matches(c)}


def order(jql: str, cases: list[Case] = CASES, **kwargs: object) -> list[str]:
    query = parse(jql, now=NOW, tz=BNE, **kwargs)  # type: ignore[arg-type]
    return [c.key for c in query.select(cases)]


def error(jql: str, **kwargs: object) -> JqlError:
    with pytest.raises(JqlError) as caught:
        parse(jql, now=NOW, tz=BNE, **kwargs)  # type: ignore[arg-type]
    return caught.value


# ---------------------------------------------------------------------------------------------
# Selection

SELECTIONS: list[tuple[str, set[str]]] = [
    # project: key or name, any case
    ("project = SUP", SUP),
    ("project = support", SUP),
    ("PROJECT = sup", SUP),
    ("project != SUP", {"OPS-3"}),
    ("project in (SUP, Operations)", ALL),
    # keys: equality any case, order by number within the project only
    ("key = SUP-9", {"SUP-9"}),
    ("issuekey = sup-9", {"SUP-9"}),
    ("key in (SUP-1, SUP-10, OPS-3)", {"SUP-1", "SUP-10", "OPS-3"}),
    ("key != SUP-9", ALL - {"SUP-9"}),
    ("key < SUP-10", {"SUP-1", "SUP-2", "SUP-9"}),
    ("key >= SUP-10", {"SUP-10", "SUP-12"}),
    ("key <= SUP-2", {"SUP-1", "SUP-2"}),
    ("key > OPS-1", {"OPS-3"}),
    # statuses and categories: any case, quoted names with spaces
    ("status = Open", {"SUP-1", "OPS-3"}),
    ('status = "waiting for customer"', {"SUP-9"}),
    ("status = 'Work in progress'", {"SUP-2"}),
    ("status in (Resolved, closed)", {"SUP-10", "SUP-12"}),
    ("status not in (Open, Resolved, Closed)", {"SUP-2", "SUP-9"}),
    ("statusCategory = Done", {"SUP-10", "SUP-12"}),
    ("statuscategory = indeterminate", {"SUP-2", "SUP-9"}),
    ('statusCategory != "To Do"', ALL - {"SUP-1", "OPS-3"}),
    ("priority = Blocker", {"SUP-1"}),
    ("priority in (blocker, Critical)", {"SUP-1", "SUP-2"}),
    # labels: multi-valued; != and NOT IN never match an issue without labels
    ("labels = vip", {"SUP-1", "SUP-2"}),
    ("labels = vip AND labels = sla-breached", {"SUP-1"}),
    ("labels != vip", {"SUP-10", "SUP-12"}),
    ("labels not in (vip, sla-met)", {"SUP-12"}),
    ("labels is EMPTY", {"SUP-9", "OPS-3"}),
    ("labels is null", {"SUP-9", "OPS-3"}),
    ("labels = EMPTY", {"SUP-9", "OPS-3"}),
    ("labels is not empty", LABELLED),
    ("labels IS NOT NULL", LABELLED),
    ("labels != EMPTY", LABELLED),
    ("labels in (EMPTY, duplicate)", {"SUP-9", "OPS-3", "SUP-12"}),
    ("labels not in (EMPTY, vip)", {"SUP-10", "SUP-12"}),
    ("NOT labels = vip", ALL - {"SUP-1", "SUP-2"}),
    ("labels != vip OR labels is EMPTY", ALL - {"SUP-1", "SUP-2"}),
    # users: any identifier; e-mail addresses must be quoted
    ('assignee = "jane.engineer@vendor.example"', {"SUP-2", "SUP-10"}),
    ('assignee = "Jane Engineer"', {"SUP-2", "SUP-10"}),
    ("assignee = ACC-JANE", {"SUP-2", "SUP-10"}),
    ("assignee is EMPTY", {"SUP-1", "OPS-3"}),
    ('assignee != "Jane Engineer"', {"SUP-9", "SUP-12"}),
    (
        'reporter in ("ops@acme.example", "it@initech.example")',
        {"SUP-1", "SUP-2", "SUP-9", "SUP-10", "OPS-3"},
    ),
    # Jira's escape for a reserved character in an unquoted word
    ("reporter = ops\\u0040acme.example", {"SUP-1", "SUP-9", "OPS-3"}),
    ("'reporter' = 'ops@acme.example'", {"SUP-1", "SUP-9", "OPS-3"}),
    # resolution: Unresolved is EMPTY; escapes inside quotes
    ("resolution = Unresolved", UNRESOLVED),
    ("resolution is EMPTY", UNRESOLVED),
    ("resolution in (Unresolved, Done)", UNRESOLVED | {"SUP-10"}),
    ("resolution = Done", {"SUP-10"}),
    ("resolution != Done", {"SUP-12"}),
    ("resolution = 'Won\\'t do'", {"SUP-12"}),
    ('resolution = "won\'t do"', {"SUP-12"}),
    ('resolution = "Won\\u0027t do"', {"SUP-12"}),
    # custom fields by quoted name or cf[id]; select values any case
    ('"Environment type" = production', {"SUP-1", "SUP-10"}),
    ("cf[10042] = Staging", {"SUP-2"}),
    ('"environment type" != Production', {"SUP-2"}),
    ('"Environment type" is EMPTY', {"SUP-9", "SUP-12", "OPS-3"}),
    ('organizations = "Globex Telecom"', {"SUP-2"}),
    ('Organizations in ("Acme Networks", "Umbrella Labs")', {"SUP-1", "SUP-9", "SUP-12"}),
    ('organizations != "Acme Networks"', {"SUP-2", "SUP-12"}),
    ('"story points" > 3', {"SUP-1", "SUP-10"}),
    ('"story points" = 5', {"SUP-1"}),
    ('"story points" <= 5', {"SUP-1", "SUP-2"}),
    ('"Response due" < now()', {"SUP-1"}),
    ('"response due" <= endOfDay()', {"SUP-1", "SUP-2"}),
    # text: every word, any order, any case; a quoted phrase; wildcards
    ("summary ~ vpn", {"SUP-1", "SUP-10"}),
    ('summary ~ "VPN down"', {"SUP-1"}),
    ('summary ~ "down VPN"', {"SUP-1"}),
    ('summary ~ "\\"VPN down\\""', {"SUP-1"}),
    ('summary ~ "\\"down VPN\\""', set()),
    ("summary !~ vpn", ALL - {"SUP-1", "SUP-10"}),
    ('summary ~ "rout*"', {"SUP-9"}),
    ('summary ~ "r?tate"', {"OPS-3"}),
    ('summary ~ "C:\\\\temp"', {"SUP-12"}),
    ("summary ~ '\"hello\"'", {"SUP-12"}),
    # precedence: NOT > AND > OR; symbols; keywords in any case
    ("status = Open OR status = Closed AND priority = Blocker", {"SUP-1", "OPS-3"}),
    ("(status = Open OR status = Closed) AND priority = Blocker", {"SUP-1"}),
    ("priority = Blocker AND status = Closed OR status = Open", {"SUP-1", "OPS-3"}),
    ("NOT status = Open AND priority = Major", {"SUP-9"}),
    ("NOT (status = Open AND priority = Major)", ALL - {"OPS-3"}),
    ("! status = Open AND priority = Major", {"SUP-9"}),
    ("NOT NOT status = Open", {"SUP-1", "OPS-3"}),
    ("status = Open && priority = Major || key = SUP-10", {"OPS-3", "SUP-10"}),
    ("status = Open & priority = Major | key = SUP-10", {"OPS-3", "SUP-10"}),
    ("status = open and not priority = blocker or key = sup-12", {"OPS-3", "SUP-12"}),
    ("((status = Open))", {"SUP-1", "OPS-3"}),
    ("status=Open", {"SUP-1", "OPS-3"}),
    ("status\n=\tOpen\r\nAND priority = Blocker", {"SUP-1"}),
    # an empty query, or one with only ORDER BY, selects everything
    ("", ALL),
    ("   ", ALL),
    ("ORDER BY created", ALL),
    # dates, relative to now (Friday 09:00 Brisbane); a day is 24 hours
    ("created >= -1d", {"SUP-9", "SUP-12"}),
    ("created > -2h", {"SUP-12"}),
    ('created > "-1h 30m"', {"SUP-12"}),
    ("created > -90m", {"SUP-12"}),
    ("created > -30m", set()),
    ('created > "-1w"', {"SUP-9", "SUP-12"}),
    ('created >= "-1w"', {"SUP-9", "SUP-10", "SUP-12"}),
    ('created >= "-4w 2d"', SUP),
    ('created < "-4w 2d"', {"OPS-3"}),
    ("updated <= 1w", ALL),
    # absolute dates are in the user's zone; a date alone is the start of that day
    ('created < "2026-11-01"', {"SUP-2", "OPS-3"}),
    ('created < "2026/11/1"', {"SUP-2", "OPS-3"}),
    ('created = "2026-11-01 00:30"', {"SUP-1"}),
    ('created = "2026/11/01 00:30"', {"SUP-1"}),
    ('created != "2026/11/01 00:30"', ALL - {"SUP-1"}),
    ('created in ("2026/11/01 00:30", "2026-11-27 08:00")', {"SUP-1", "SUP-12"}),
    ('resolved < "2026-11-27 08:40"', {"SUP-10"}),
    ("resolved is EMPTY", UNRESOLVED),
    ('resolved != "2026-11-27 08:30"', {"SUP-12"}),
    (f"created < {int(bne(2026, 10, 1).timestamp() * 1000)}", {"OPS-3"}),
    # date functions, in the user's zone
    ("created >= startOfMonth()", {"SUP-1", "SUP-9", "SUP-10", "SUP-12"}),
    ("created >= startOfMonth(-1) AND created < startOfMonth()", {"SUP-2"}),
    ("created < startOfMonth(-1)", {"OPS-3"}),
    ("resolved >= startOfDay()", {"SUP-10", "SUP-12"}),
    ('resolved > startOfDay("+8h")', {"SUP-10", "SUP-12"}),
    ('resolved > startOfDay("+510m")', {"SUP-12"}),
    ("created > endOfDay(-1)", {"SUP-12"}),
    ("created >= startOfWeek()", {"SUP-9", "SUP-12"}),
    ("created < startOfYear()", set()),
]


@pytest.mark.parametrize(
    ("jql", "expected"), SELECTIONS, ids=[q or "<empty>" for q, _ in SELECTIONS]
)
def test_selects(jql: str, expected: set[str]) -> None:
    assert keys(jql) == expected


def test_the_same_instant_is_another_month_in_another_zone() -> None:
    # SUP-1 was raised at 00:30 on 1 November in Brisbane, still 31 October in UTC.
    assert "SUP-1" in keys("created >= startOfMonth()", tz=BNE)
    assert "SUP-1" not in keys("created >= startOfMonth()", tz=UTC)
    assert "SUP-1" not in keys('created >= "2026-11-01"', tz=UTC)


def test_current_user_stands_for_every_identifier_given() -> None:
    jane = ("acc-jane", "jane.engineer@vendor.example")
    assert keys("assignee = currentUser()", current_user=jane) == {"SUP-2", "SUP-10"}
    assert keys("assignee in (currentUser(), acc-sam)", current_user=jane) == {
        "SUP-2",
        "SUP-9",
        "SUP-10",
        "SUP-12",
    }
    assert keys("assignee != currentUser()", current_user=jane) == {"SUP-9", "SUP-12"}
    # No user (an anonymous search): nobody is the current user.
    assert keys("assignee = currentUser()") == set()
    assert keys("assignee != currentUser()") == {"SUP-2", "SUP-9", "SUP-10", "SUP-12"}


def test_priority_order_needs_ranks_and_follows_them() -> None:
    assert keys("priority > Major", rank=rank) == {"SUP-1", "SUP-2"}
    assert keys("priority >= major", rank=rank) == {"SUP-1", "SUP-2", "SUP-9", "OPS-3"}
    assert keys("priority < Major", rank=rank) == {"SUP-10", "SUP-12"}
    assert str(error("priority > Bogus", rank=rank)) == (
        "The value 'Bogus' does not exist for the field 'priority'."
    )
    assert "not supported by the 'priority' field" in str(error("priority > Major"))


def test_custom_date_fields_can_be_declared_so_bad_dates_are_refused() -> None:
    # Undeclared, a custom field compares dates when the issue's value is a datetime ...
    assert keys('"Response due" < "2026-11-27 10:00"') == {"SUP-1"}
    assert keys('"Response due" < whenever-ish') == set()
    # ... declared, a value that is no date is Jira's 400.
    message = str(error('"Response due" < soon', date_fields=lambda f: f == "response due"))
    assert message.startswith("Date value 'soon' for field 'Response due' is invalid.")


# ---------------------------------------------------------------------------------------------
# Date functions at the edges: exact instants


@dataclass
class Probe:
    created: datetime

    def jql_values(self, name: str) -> list[object]:
        return [self.created]


MS = timedelta(milliseconds=1)
LAST_MS = (23, 59, 59, 999000)
DEC_1_BNE = bne(2026, 12, 1, 5, 0)  # Tuesday; still 30 November in UTC
DST_DAY = datetime(2026, 3, 29, 12, 0, tzinfo=LON)  # Sunday; clocks went forward at 01:00
JAN_31 = bne(2026, 1, 31, 12, 0)  # Saturday

INSTANTS: list[tuple[datetime, tzinfo, str, datetime, dict[str, object]]] = [
    (DEC_1_BNE, BNE, "startOfMonth()", bne(2026, 12, 1), {}),
    (DEC_1_BNE, UTC, "startOfMonth()", datetime(2026, 11, 1, tzinfo=UTC), {}),
    (DEC_1_BNE, BNE, "startOfMonth(-1)", bne(2026, 11, 1), {}),
    (DEC_1_BNE, BNE, 'startOfMonth("-1M")', bne(2026, 11, 1), {}),
    (DEC_1_BNE, BNE, 'startOfMonth("+14d")', bne(2026, 12, 15), {}),
    (DEC_1_BNE, BNE, "endOfMonth()", bne(2026, 12, 31, *LAST_MS), {}),
    (DEC_1_BNE, BNE, "endOfMonth(-1)", bne(2026, 11, 30, *LAST_MS), {}),
    (DEC_1_BNE, UTC, "endOfMonth()", datetime(2026, 11, 30, *LAST_MS, tzinfo=UTC), {}),
    (DEC_1_BNE, BNE, "startOfYear()", bne(2026, 1, 1), {}),
    (DEC_1_BNE, BNE, "startOfYear(1)", bne(2027, 1, 1), {}),
    (DEC_1_BNE, BNE, "endOfYear()", bne(2026, 12, 31, *LAST_MS), {}),
    (DEC_1_BNE, BNE, "endOfYear(-1)", bne(2025, 12, 31, *LAST_MS), {}),
    (DEC_1_BNE, BNE, "startOfDay()", bne(2026, 12, 1), {}),
    (DEC_1_BNE, BNE, "startOfDay(-1)", bne(2026, 11, 30), {}),
    (DEC_1_BNE, BNE, 'startOfDay("-2h")', bne(2026, 11, 30, 22, 0), {}),
    (DEC_1_BNE, BNE, "endOfDay()", bne(2026, 12, 1, *LAST_MS), {}),
    (DEC_1_BNE, BNE, 'endOfDay("+1d")', bne(2026, 12, 2, *LAST_MS), {}),
    (DEC_1_BNE, BNE, "startOfWeek()", bne(2026, 11, 29), {}),  # Sunday, Jira's en_US default
    (DEC_1_BNE, BNE, "startOfWeek()", bne(2026, 11, 30), {"week_start": 0}),  # Monday
    (DEC_1_BNE, BNE, "startOfWeek(-1)", bne(2026, 11, 22), {}),
    (DEC_1_BNE, BNE, "endOfWeek()", bne(2026, 12, 5, *LAST_MS), {}),
    (DEC_1_BNE, BNE, "endOfWeek()", bne(2026, 12, 6, *LAST_MS), {"week_start": 0}),
    (DEC_1_BNE, BNE, "now()", DEC_1_BNE, {}),
    (DEC_1_BNE, BNE, "-1d", bne(2026, 11, 30, 5, 0), {}),
    (DEC_1_BNE, BNE, '"-4w 2d"', DEC_1_BNE - timedelta(days=30), {}),
    (DEC_1_BNE, BNE, "1w", DEC_1_BNE + timedelta(weeks=1), {}),
    # Month arithmetic clamps to the month's last day; endOf moves the whole period.
    (JAN_31, BNE, 'startOfDay("+1M")', bne(2026, 2, 28), {}),
    (JAN_31, BNE, "startOfMonth(1)", bne(2026, 2, 1), {}),
    (JAN_31, BNE, "endOfMonth(1)", bne(2026, 2, 28, *LAST_MS), {}),
    (JAN_31, BNE, 'endOfMonth("-1d")', bne(2026, 1, 30, *LAST_MS), {}),
    # On the day clocks go forward a "day" function keeps wall-clock midnights; "-1d" is 24 hours.
    (DST_DAY, LON, "startOfDay()", datetime(2026, 3, 29, 0, 0, tzinfo=UTC), {}),
    (DST_DAY, LON, "startOfDay(1)", datetime(2026, 3, 29, 23, 0, tzinfo=UTC), {}),
    (DST_DAY, LON, "endOfDay()", datetime(2026, 3, 29, 22, 59, 59, 999000, tzinfo=UTC), {}),
    (DST_DAY, LON, "-1d", datetime(2026, 3, 28, 11, 0, tzinfo=UTC), {}),
    (DST_DAY, LON, '"2026-03-29 12:00"', datetime(2026, 3, 29, 11, 0, tzinfo=UTC), {}),
]


@pytest.mark.parametrize(("now", "tz", "expr", "instant", "extra"), INSTANTS)
def test_date_values_are_exact_instants(
    now: datetime, tz: tzinfo, expr: str, instant: datetime, extra: dict[str, object]
) -> None:
    query = parse(f"created = {expr}", now=now, tz=tz, **extra)  # type: ignore[arg-type]
    assert query.matches(Probe(instant))
    assert not query.matches(Probe(instant + MS))
    assert not query.matches(Probe(instant - MS))


# ---------------------------------------------------------------------------------------------
# Ordering


def test_order_by_key_sorts_by_project_then_number() -> None:
    assert order("ORDER BY key") == ["OPS-3", "SUP-1", "SUP-2", "SUP-9", "SUP-10", "SUP-12"]
    assert order("project = SUP ORDER BY issuekey DESC") == [
        "SUP-12",
        "SUP-10",
        "SUP-9",
        "SUP-2",
        "SUP-1",
    ]


def test_without_order_by_the_newest_key_comes_first() -> None:
    assert order("project = SUP") == ["SUP-12", "SUP-10", "SUP-9", "SUP-2", "SUP-1"]
    assert parse("project = SUP", now=NOW).order_by == ()


def test_empty_sorts_last_ascending_and_first_descending() -> None:
    assert order("ORDER BY resolved, key DESC") == [
        "SUP-10",
        "SUP-12",
        "SUP-9",
        "SUP-2",
        "SUP-1",
        "OPS-3",
    ]
    assert order("ORDER BY resolved DESC, key") == [
        "OPS-3",
        "SUP-1",
        "SUP-2",
        "SUP-9",
        "SUP-12",
        "SUP-10",
    ]


def test_order_by_text_ignores_case_and_custom_fields_work() -> None:
    assert order('ORDER BY "Environment type" ASC, key ASC') == [
        "SUP-1",  # Production
        "SUP-10",  # production
        "SUP-2",  # Staging
        "OPS-3",
        "SUP-9",
        "SUP-12",
    ]
    assert order("ORDER BY created") == ["OPS-3", "SUP-2", "SUP-1", "SUP-10", "SUP-9", "SUP-12"]


def test_order_by_is_stable() -> None:
    reversed_cases = list(reversed(CASES))
    assert order("status = Open ORDER BY status", reversed_cases) == ["OPS-3", "SUP-1"]
    assert order("status = Open ORDER BY status", CASES) == ["SUP-1", "OPS-3"]


@dataclass
class RankedCase(Case):
    def sort_value(self, name: str) -> object | None:
        return RANKS[self.priority.casefold()] if name == "priority" else None


def test_order_by_priority_uses_ranks_or_the_issue_sort_value() -> None:
    expected = ["SUP-1", "SUP-2", "SUP-9", "OPS-3", "SUP-10", "SUP-12"]
    assert order("ORDER BY priority DESC", rank=rank) == expected
    ranked = [RankedCase(**{f: getattr(c, f) for f in c.__dataclass_fields__}) for c in CASES]
    assert order("ORDER BY priority DESC", ranked) == expected
    # Without either, names sort as text: still deterministic.
    assert order("ORDER BY priority") == ["SUP-1", "SUP-2", "SUP-9", "OPS-3", "SUP-10", "SUP-12"]


def test_parsed_query_reports_its_order_and_fields() -> None:
    query = parse(
        'project = SUP AND "Environment Type" = Production ORDER BY resolved, Key DESC', now=NOW
    )
    assert query.order_by == (("resolved", True), ("key", False))
    assert query.fields_used == frozenset({"project", "environment type", "resolved", "key"})
    assert query.jql.startswith("project = SUP")


def test_a_big_shuffled_list_sorts_like_a_reference_sort() -> None:
    rng = random.Random(7)
    many = [
        Case(f"SUP-{n}", priority=rng.choice(list(RANKS)), created=NOW - timedelta(hours=n))
        for n in range(1, 400)
    ]
    rng.shuffle(many)
    got = order("ORDER BY priority ASC, created DESC", many, rank=rank)
    expected = sorted(many, key=lambda c: (RANKS[c.priority], -c.created.timestamp()))
    assert got == [c.key for c in expected]


# ---------------------------------------------------------------------------------------------
# Errors: Jira's messages and positions (1-based)

OPERATORS = (
    "The valid operators are '=', '!=', '<', '>', '<=', '>=', '~', '!~', 'IN', 'NOT IN', "
    "'IS' and 'IS NOT'."
)
SYNTAX_ERRORS: list[tuple[str, str]] = [
    ("project = ", "Expecting either a value, list or function before the end of the query."),
    ("project SUP", f"Expecting operator but got 'SUP'. {OPERATORS} (line 1, character 9)"),
    ("project", f"Expecting operator before the end of the query. {OPERATORS}"),
    (
        "status = Open status = Closed",
        "Expecting either 'OR' or 'AND' but got 'status'. (line 1, character 15)",
    ),
    (
        "status = Open)",
        "Expecting either 'OR' or 'AND' but got ')'. (line 1, character 14)",
    ),
    (
        "reporter = ops@acme.example",
        "The character '@' is a reserved JQL character. You must enclose it in a string or use "
        "the escape '\\u0040' instead. (line 1, character 15)",
    ),
    (
        'summary ~ "abc',
        "The quoted string 'abc' has not been completed. (line 1, character 11)",
    ),
    (
        "status = for",
        "'for' is a reserved JQL word. You must surround it in quotation marks to use it in a "
        "query. (line 1, character 10)",
    ),
    (
        "limit = 5",
        "'limit' is a reserved JQL word. You must surround it in quotation marks to use it in a "
        "query. (line 1, character 1)",
    ),
    ("(status = Open", "Expecting ')' before the end of the query."),
    ("project = SUP AND", "Expecting a field name at the end of the query."),
    (
        "status = = Open",
        "Expecting either a value, list or function but got '='. You must surround '=' in "
        "quotation marks to use it as a value. (line 1, character 10)",
    ),
    (
        "status = AND",
        "Expecting either a value, list or function but got 'AND'. You must surround 'AND' in "
        "quotation marks to use it as a value. (line 1, character 10)",
    ),
    ("status = Open ORDER created", "Expecting 'BY' but got 'created'. (line 1, character 21)"),
    ("status = Open ORDER", "Expecting 'BY' before the end of the query."),
    ("ORDER BY", "Expecting a field name at the end of the query."),
    ("ORDER BY created,", "Expecting a field name at the end of the query."),
    (
        "ORDER BY created DESC key",
        "Expecting either ',' or the end of the query but got 'key'. (line 1, character 23)",
    ),
    ("project = SUP\nAND ) ", "Expecting a field name but got ')'. (line 2, character 5)"),
    (
        "AND = x",
        "Expecting a field name but got 'AND'. You must surround 'AND' in quotation marks to use "
        "it as a field name. (line 1, character 1)",
    ),
    ("status in (Open, Closed", "Expecting ')' before the end of the query."),
    (
        "status in (Open Closed)",
        "Expecting either ',' or ')' but got 'Closed'. (line 1, character 17)",
    ),
    (
        "status in ()",
        "Expecting either a value, list or function but got ')'. You must surround ')' in "
        "quotation marks to use it as a value. (line 1, character 12)",
    ),
    ("status not Open", "Expecting 'IN' but got 'Open'. (line 1, character 12)"),
    ('status = "a\\qb"', "The escape sequence '\\q' is invalid. (line 1, character 12)"),
    (
        "status was Open",
        "History searches ('WAS') are not supported by the jsm-bridge sandbox; search the current "
        "values instead. (line 1, character 8)",
    ),
    (
        "status changed",
        "History searches ('CHANGED') are not supported by the jsm-bridge sandbox; search the "
        "current values instead. (line 1, character 8)",
    ),
    (
        "labels = a[1]",
        "The character '[' is a reserved JQL character. You must enclose it in a string or use "
        "the escape '\\u005b' instead. (line 1, character 11)",
    ),
]


@pytest.mark.parametrize(("jql", "message"), SYNTAX_ERRORS, ids=[q for q, _ in SYNTAX_ERRORS])
def test_syntax_errors_read_like_jira(jql: str, message: str) -> None:
    err = error(jql)
    assert err.messages == ("Error in the JQL Query: " + message,)
    assert str(err) == err.message == err.messages[0]
    if "(line " in message:
        assert (err.line, err.character) != (None, None)


VALIDATION_ERRORS: list[tuple[str, str]] = [
    ("summary = x", "The operator '=' is not supported by the 'summary' field."),
    ("status ~ Open", "The operator '~' is not supported by the 'status' field."),
    ("Status > Open", "The operator '>' is not supported by the 'Status' field."),
    ("key is EMPTY", "The operator 'is' is not supported by the 'key' field."),
    (
        "status in Open",
        "Operator 'in' does not support the non-list value 'Open' for field 'status'.",
    ),
    (
        "status = (Open, Closed)",
        "Operator '=' does not support the list value '(Open, Closed)' for field 'status'.",
    ),
    (
        "status is Open",
        "The operator 'is' only supports the values 'EMPTY' and 'NULL', but got 'Open' for field "
        "'status'.",
    ),
    (
        "created > yesterday",
        "Date value 'yesterday' for field 'created' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period format "
        "e.g. '-5d', '4w 2d'.",
    ),
    ('created > "2026-02-30"', "Date value '2026-02-30' for field 'created' is invalid."),
    ('created > "27/11/2026"', "Date value '27/11/2026' for field 'created' is invalid."),
    ("key = foo", "The issue key 'foo' for field 'key' is invalid."),
    ("created > nextTuesday()", "Unable to find JQL function 'nextTuesday()'."),
    ("assignee in membersOf(staff)", "Unable to find JQL function 'membersOf(staff)'."),
    ("created > now(1)", "Function 'now' expected '0' arguments but received '1'."),
    (
        "created > startOfMonth(1, 2)",
        "Function 'startOfMonth' expected between '0' and '1' arguments but received '2'.",
    ),
    (
        'created > startOfMonth("1q")',
        "Duration for function 'startOfMonth' should have the format (+/-)n(yMwdhm), e.g -1M for "
        "1 month earlier.",
    ),
    (
        "created > EMPTY",
        "The operator '>' does not support the value 'EMPTY' for field 'created'.",
    ),
]


@pytest.mark.parametrize(
    ("jql", "message"), VALIDATION_ERRORS, ids=[q for q, _ in VALIDATION_ERRORS]
)
def test_validation_errors_read_like_jira(jql: str, message: str) -> None:
    assert error(jql).message.startswith(message)


def test_unknown_fields_are_all_reported_with_the_name_as_written() -> None:
    seen: list[str] = []

    def known(name: str) -> bool:
        seen.append(name)
        return name in {"status", "project", "environment type"}

    err = error(
        'bogus = 1 AND "Other Thing" = 2 AND status = Open AND bogus = 3 ORDER BY Nope',
        known_fields=known,
    )
    assert err.messages == (
        "Field 'bogus' does not exist or you do not have permission to view it.",
        "Field 'Other Thing' does not exist or you do not have permission to view it.",
        "Field 'Nope' does not exist or you do not have permission to view it.",
    )
    assert set(seen) == {"bogus", "other thing", "status", "nope"}
    # Known fields, quoted or not, pass.
    assert keys('"Environment Type" = Staging', known_fields=known) == {"SUP-2"}


def test_unknown_values_and_missing_issues_are_refused_when_the_site_can_tell() -> None:
    statuses = {"open", "closed"}

    def known_value(name: str, value: str) -> bool:
        if name == "status":
            return value.casefold() in statuses
        if name == "key":
            return value.upper() != "SUP-999"
        return True

    assert error("status = Blocked", known_value=known_value).messages == (
        "The value 'Blocked' does not exist for the field 'status'.",
    )
    assert error("key in (SUP-1, SUP-999)", known_value=known_value).messages == (
        "An issue with key 'SUP-999' does not exist for field 'key'.",
    )
    assert keys("status in (Open, Closed)", known_value=known_value) == {
        "SUP-1",
        "SUP-12",
        "OPS-3",
    }
    assert keys("summary ~ anything", known_value=lambda f, v: False) == set()


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    assert "deeper than" in error("(" * 500 + "status = Open" + ")" * 500).message
    assert "deeper than" in error("NOT " * 500 + "status = Open").message


def test_now_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse("project = SUP", now=datetime(2026, 11, 27, 9, 0))


# ---------------------------------------------------------------------------------------------
# Properties: boolean structure agrees with set algebra

ATOMS = [
    "status = Open",
    "labels = vip",
    "labels != vip",
    "labels is EMPTY",
    "priority in (Major, Minor)",
    '"Environment type" = Production',
    "assignee is not EMPTY",
    "created >= startOfMonth()",
    "key < SUP-10",
    "summary ~ vpn",
    "resolution = Unresolved",
]
ATOM_SETS = {atom: keys(atom) for atom in ATOMS}


def _expressions() -> st.SearchStrategy[tuple[str, frozenset[str]]]:
    leaves = st.sampled_from(ATOMS).map(lambda a: (a, frozenset(ATOM_SETS[a])))
    everything = frozenset(ALL)

    def extend(
        children: st.SearchStrategy[tuple[str, frozenset[str]]],
    ) -> st.SearchStrategy[tuple[str, frozenset[str]]]:
        both = st.tuples(children, children)
        return st.one_of(
            children.map(lambda c: (f"NOT ({c[0]})", everything - c[1])),
            both.map(lambda p: (f"({p[0][0]}) AND ({p[1][0]})", p[0][1] & p[1][1])),
            both.map(lambda p: (f"({p[0][0]}) OR ({p[1][0]})", p[0][1] | p[1][1])),
        )

    return st.recursive(leaves, extend, max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(_expressions())
def test_and_or_not_follow_set_algebra(expression: tuple[str, frozenset[str]]) -> None:
    jql, expected = expression
    assert keys(jql) == expected


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["labels", "status", "organizations", '"environment type"', "assignee"]),
    st.sampled_from(["vip", "Open", '"Acme Networks"', "Production", "acc-jane", "nothing"]),
)
def test_not_equal_is_not_empty_and_not_equal(field_name: str, value: str) -> None:
    assert keys(f"{field_name} != {value}") == keys(
        f"{field_name} is not EMPTY AND NOT {field_name} = {value}"
    )
    assert keys(f"{field_name} = {value} OR NOT {field_name} = {value}") == ALL


def test_query_is_a_value() -> None:
    a = parse("status = Open ORDER BY key", now=NOW)
    b = parse("status = Open ORDER BY key", now=NOW)
    assert isinstance(a, Query)
    assert a == b
    assert hash(a) == hash(b)
