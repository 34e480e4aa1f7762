"""`jsm-bridge report`: the pure aggregation, its renderings, and the command end-to-end."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from conftest import SANDBOX_NOW, Sandbox, SandboxFactory
from e2e_helpers import (
    BridgeFactory,
    end_state,
    new_case,
    resolved_then_open,
    transition,
    write_config,
)
from policy_factories import (
    INTERN,
    JANE,
    NOC,
    at,
    comment,
    context,
    default_ruleset,
    evaluate,
    snapshot,
)

from bridge.cli import main
from bridge.commands import report as report_command
from bridge.commands._runtime import connect, load_config
from bridge.commands.report import evaluate_month
from bridge.policy.compiled import Policy
from bridge.policy.cycle import group_org_cases
from bridge.policy.model import Customer, Desired, IssueSnapshot, QuotaPosition, UsageLimit
from bridge.policy.tiers import month_case
from bridge.report.compute import (
    CustomerError,
    MonthError,
    MonthReport,
    compute,
    median,
    parse_month,
    percentile,
    pick_customers,
)
from bridge.report.render import CSV_COLUMNS, status_line, terminal, to_csv, to_html
from bridge.sync.cycle import Engine
from bridge.sync.snapshot import SnapshotError

ROOT = Path(__file__).resolve().parent.parent
H = timedelta(hours=1)
NOW = at("2026-12-15T12:00:00+10:00")


def desired(
    snap: IssueSnapshot,
    state: str,
    *,
    known: bool = True,
    level: str | None = "P3",
    used: timedelta | None = None,
    rank: int | None = 1,
    limit: int = 4,
) -> Desired:
    """A Desired as evaluation would give it, reduced to what the report reads."""
    answered = state in ("met", "missed")
    return Desired(
        key=snap.key,
        known_customer=known,
        tier="Standard" if known else None,
        calendar="brisbane" if known else None,
        priority=level if known else None,
        priority_jira=None,
        priority_reason="",
        quota=QuotaPosition(rank, limit, rank > limit, "2026-11")
        if known and rank is not None
        else None,
        authorised_contact=True if known else None,
        entitlement_problems=(),
        missing_information=(),
        response_due=snap.created + 8 * H if known else None,
        target=8 * H if known else None,
        business_used=used if known else None,
        first_response=snap.created + (used or H) if answered else None,
        sla_state=state,  # type: ignore[arg-type]
        escalation_steps=(),
        labels_present=frozenset(),
        labels_absent=frozenset(),
        comments=(),
        assignee=None,
        transitions=(),
        explanation=(),
        sla_priority=level if known else None,
    )


def acme(n: int, day: int = 2, hour: int = 10, **kw: Any) -> IssueSnapshot:
    return snapshot(f"SUP-{n}", f"2026-11-{day:02d}T{hour:02d}:00:00+10:00", **kw)


# ------------------------------------------------------------------------------ month


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "", "nov"])
def test_a_month_that_is_not_yyyy_mm_is_refused_with_the_shape_to_write(text: str) -> None:
    with pytest.raises(MonthError, match=r"write YYYY-MM, e\.g\. 2026-11"):
        parse_month(text)


def test_a_month_is_returned_as_given() -> None:
    assert parse_month(" 2026-02 ") == "2026-02"


@pytest.mark.parametrize("text", ["9999-12", "0001-01", "1969-12"])
def test_a_month_out_of_range_is_refused_with_the_range(text: str) -> None:
    with pytest.raises(MonthError, match=r"is out of range; give a month from 1970-01 to 9998-12"):
        parse_month(text)
    assert parse_month("1970-01") == "1970-01" and parse_month("9998-12") == "9998-12"


# ---------------------------------------------------------------------------- numbers


def test_median_is_the_middle_value_or_the_mean_of_the_two_middle_ones() -> None:
    assert median([3 * H, H, 2 * H]) == 2 * H
    assert median([4 * H, H, 2 * H, 3 * H]) == 2.5 * H
    assert median([]) is None


def test_p90_is_the_nearest_rank() -> None:
    ten = [i * H for i in range(10, 0, -1)]
    assert percentile(ten, 0.9) == 9 * H
    assert percentile([*ten, 11 * H], 0.9) == 10 * H  # ceil(9.9) = 10th of 11
    assert percentile([5 * H], 0.9) == 5 * H
    assert percentile([], 0.9) is None


# ---------------------------------------------------------------------------- compute


def acme_month() -> list[tuple[IssueSnapshot, Desired]]:
    cases = [
        (acme(1, 2), "met", 1 * H, 1),
        (acme(2, 3), "met", 3 * H, 2),
        (acme(3, 4), "missed", 10 * H, 3),
        (acme(4, 5), "breached", 12 * H, 4),
        (acme(5, 6), "running", 2 * H, 5),  # over quota
        (acme(6, 9), "at_risk", 7 * H, 6),  # over quota
        (acme(7, 10), "paused", 1 * H, None),  # excluded from the quota
    ]
    return [(s, desired(s, state, used=used, rank=rank)) for s, state, used, rank in cases]


def test_a_customer_month_counts_quota_outcomes_and_response_times() -> None:
    report = compute(acme_month(), Policy.compile(default_ruleset()), "2026-11", NOW)
    row = next(c for c in report.customers if c.organization == "Acme Networks")
    s = row.total
    assert (row.tier, row.quota) == ("Standard", 4)
    assert (s.cases, s.counted, s.excluded, s.over_quota) == (7, 6, 1, 2)
    assert row.over_quota_keys == ["SUP-5", "SUP-6"]
    assert row.excluded_keys == ["SUP-7"]
    assert (s.met, s.missed, s.breached, s.running, s.at_risk, s.paused) == (2, 1, 1, 2, 1, 1)
    assert s.compliance == pytest.approx(2 / 4)
    # only answered cases have a time to first response: 1h, 3h, 10h
    assert s.median_response == 3 * H
    assert s.p90_response == 10 * H
    assert not report.final


def test_no_decided_case_gives_no_compliance_and_an_empty_customer_is_still_listed() -> None:
    s1 = acme(1)
    report = compute(
        [(s1, desired(s1, "running"))], Policy.compile(default_ruleset()), "2026-11", NOW
    )
    by_name = {c.organization: c for c in report.customers}
    assert set(by_name) == {"Acme Networks", "Globex Telecom", "Initech Systems"}
    assert by_name["Acme Networks"].total.compliance is None
    assert by_name["Globex Telecom"].total.cases == 0
    text = terminal(report)
    acme_line = next(line for line in text.splitlines() if line.startswith("Acme Networks"))
    assert "n/a" in acme_line.split()
    csv_rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    acme_all = next(r for r in csv_rows if r["organization"] == "Acme Networks")
    assert acme_all["compliance_pct"] == ""


def test_cases_belong_to_the_month_of_their_customers_calendar_zone() -> None:
    cases = [
        # Acme (Brisbane, UTC+10): 31 Oct 15:00 UTC is 1 Nov 01:00 in Brisbane -> November
        snapshot("SUP-1", "2026-10-31T15:00:00+00:00"),
        # ... and 30 Nov 15:00 UTC is 1 Dec 01:00 in Brisbane -> December
        snapshot("SUP-2", "2026-11-30T15:00:00+00:00"),
        # Globex (New York, UTC-5): 1 Dec 03:00 UTC is 30 Nov 22:00 -> November
        snapshot("SUP-3", "2026-12-01T03:00:00+00:00", organization="Globex Telecom"),
        # Initech (London, UTC+0): 31 Oct 23:30 UTC is 31 Oct -> October
        snapshot("SUP-4", "2026-10-31T23:30:00+00:00", organization="Initech Systems"),
        # an unknown organisation: the default calendar's zone (Brisbane)
        snapshot("SUP-5", "2026-10-31T15:00:00+00:00", organization="Umbrella Labs"),
    ]
    pairs = [(s, desired(s, "met", known=s.organization != "Umbrella Labs")) for s in cases]
    report = compute(pairs, Policy.compile(default_ruleset()), "2026-11", NOW)
    keys = {c.organization: c.keys for c in report.customers}
    assert keys == {
        "Acme Networks": ["SUP-1"],
        "Globex Telecom": ["SUP-3"],
        "Initech Systems": [],
    }
    assert [(u.name, u.keys) for u in report.unknown] == [("Umbrella Labs", ["SUP-5"])]


def test_a_case_created_after_now_did_not_exist_yet() -> None:
    before, after = acme(1, day=9), acme(2, day=11)
    pairs = [(s, desired(s, "running")) for s in (before, after)]
    report = compute(
        pairs, Policy.compile(default_ruleset()), "2026-11", at("2026-11-10T12:00:00+10:00")
    )
    row = next(c for c in report.customers if c.organization == "Acme Networks")
    assert row.keys == ["SUP-1"]


def test_unknown_organisations_are_listed_apart_and_left_out_of_the_numbers() -> None:
    known = acme(1)
    odd = [
        acme(2, organization="Umbrella Labs"),
        acme(3, organization="umbrella labs"),  # the same organisation, other case
        acme(4, organization=None),
    ]
    pairs = [(known, desired(known, "met", used=H))]
    pairs += [(s, desired(s, "none", known=False)) for s in odd]
    report = compute(pairs, Policy.compile(default_ruleset()), "2026-11", NOW)
    assert report.total.cases == 1
    assert [(u.name, u.keys) for u in report.unknown] == [
        ("Umbrella Labs", ["SUP-2", "SUP-3"]),
        ("(no organisation)", ["SUP-4"]),
    ]
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    unknown_rows = [r for r in rows if r["tier"] == "unknown"]
    assert [(r["organization"], r["cases"]) for r in unknown_rows] == [
        ("Umbrella Labs", "2"),
        ("(no organisation)", "1"),
    ]
    assert "Umbrella Labs: 2 case(s): SUP-2, SUP-3" in terminal(report)


def test_a_case_naming_no_organisation_counts_for_the_customer_its_reporter_belongs_to() -> None:
    # Acme's authorised contact raised it without picking an organisation: evaluation
    # finds Acme from the reporter's e-mail, and the report follows that decision
    rules = default_ruleset()
    case = acme(5, organization=None)
    decided = evaluate(case, rules, context(), NOW)
    assert decided.known_customer and decided.customer == "Acme Networks"
    report = compute([(case, decided)], Policy.compile(rules), "2026-11", NOW)
    assert report.unknown == []
    acme_report = next(c for c in report.customers if c.organization == "Acme Networks")
    assert acme_report.keys == ["SUP-5"]


def test_priorities_are_grouped_highest_first_per_customer_and_overall() -> None:
    cases = [
        (acme(1), "met", "P4"),
        (acme(2), "missed", "P1"),
        (acme(3, organization="Globex Telecom"), "met", "P2"),
        (acme(4), "met", "P4"),
    ]
    pairs = [(s, desired(s, st, level=lv, used=H)) for s, st, lv in cases]
    report = compute(pairs, Policy.compile(default_ruleset()), "2026-11", NOW)
    assert report.priorities == ("P1", "P2", "P4")
    row = next(c for c in report.customers if c.organization == "Acme Networks")
    assert list(row.by_priority) == ["P1", "P4"]
    assert row.by_priority["P4"].met == 2
    assert row.by_priority["P1"].compliance == 0.0
    assert report.by_priority["P2"].cases == 1


def test_quota_from_the_reports_own_read_matches_evaluation_of_the_month() -> None:
    """Built with the real evaluation: six Acme cases, one resolved as a duplicate."""
    ruleset = default_ruleset()
    snaps = [acme(n, day=n + 1) for n in range(1, 6)]
    snaps.insert(
        2,
        acme(
            10,
            day=3,
            hour=11,
            status="Resolved",
            resolution="Duplicate",
            resolved="2026-11-03T12:00:00+10:00",
        ),
    )
    snaps.append(acme(11, day=20, comments=[comment(JANE, "2026-11-20T11:30:00+10:00")]))
    snaps.append(snapshot("SUP-12", "2026-10-30T10:00:00+10:00"))  # October: not in the month
    ctx = context(group_org_cases((s.organization, month_case(s)) for s in snaps))
    pairs = [(s, evaluate(s, ruleset, ctx, NOW)) for s in snaps]
    report = compute(pairs, Policy.compile(ruleset), "2026-11", NOW)
    row = next(c for c in report.customers if c.organization == "Acme Networks")
    assert (row.total.cases, row.total.counted, row.total.excluded) == (7, 6, 1)
    assert row.over_quota_keys == ["SUP-5", "SUP-11"]  # ranks 5 and 6; the duplicate not counted
    assert row.excluded_keys == ["SUP-10"]
    # SUP-11 answered after 1h30m of business time; the others breached long ago
    assert row.total.met == 2  # SUP-11, and the duplicate resolved within the hour
    assert row.total.breached == 5
    assert sorted(row.total.first_responses) == [H, 1.5 * H]
    # the month is over, but five cases are still open without an answer
    assert report.total.still_open == {"breached": 5}
    assert not report.final


def test_cases_left_out_of_the_quota_are_listed_with_why_everywhere() -> None:
    """Not counted: resolved as a not-counted resolution, or flagged (an unauthorised
    contact, a request the tier does not include) while open."""
    ruleset = default_ruleset()
    snaps = [
        acme(1, status="Resolved", resolution="Duplicate", resolved="2026-11-02T11:00:00+10:00"),
        acme(2, day=3, reporter=INTERN),
        acme(3, day=4, request_type="Architecture workshop"),
        acme(4, day=5),
    ]
    ctx = context(group_org_cases((s.organization, month_case(s)) for s in snaps))
    pairs = [(s, evaluate(s, ruleset, ctx, NOW)) for s in snaps]
    report = compute(pairs, Policy.compile(ruleset), "2026-11", NOW)
    row = next(c for c in report.customers if c.organization == "Acme Networks")
    assert [(n.key, n.why) for n in row.not_counted] == [
        ("SUP-1", "resolved as Duplicate"),
        ("SUP-2", "raised by someone who is not an authorised contact"),
        ("SUP-3", "a request the customer is not entitled to"),
    ]
    assert row.total.excluded == 3 and row.total.counted == 1
    text = terminal(report)
    assert (
        "not counted = cases that do not use up the quota: resolved as Duplicate or Raised in "
        "error, raised by someone who is not an authorised contact or a request the customer "
        "is not entitled to;" in " ".join(text.split())
    )
    assert (
        "  Acme Networks: SUP-1 (resolved as Duplicate), SUP-2 (raised by someone who is not an "
        "authorised contact), SUP-3 (a request the customer is not entitled to)" in text
    )
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    acme_all = next(r for r in rows if r["organization"] == "Acme Networks")
    assert acme_all["not_counted_cases"].startswith("SUP-1 (resolved as Duplicate), SUP-2 (")
    assert all(r["not_counted_cases"] == "" for r in rows if r["organization"] != "Acme Networks")
    page = to_html(report, site_url="https://acme.atlassian.net")
    assert "<h2>Not counted in the quota</h2>" in page
    assert '<a href="https://acme.atlassian.net/browse/SUP-2">SUP-2</a>' in page
    assert "raised by someone who is not an authorised contact</td>" in page
    assert "resolved in a way that does not use up the quota" not in page + text


def test_a_request_past_its_usage_limit_is_not_counted_as_past_the_limit() -> None:
    """Globex's tier includes architecture workshops, one a contract year: the second is
    left out of the quota as past the usage limit, not as a request the customer is not
    entitled to (the report may go to that customer)."""
    ruleset = default_ruleset(usage_limits={"architecture_workshop": UsageLimit(1)})
    snaps = [
        snapshot(
            f"SUP-{n}",
            f"2026-11-{day:02d}T10:00:00-05:00",
            organization="Globex Telecom",
            reporter=NOC,
            request_type="Architecture workshop",
        )
        for n, day in ((1, 3), (2, 10))
    ]
    ctx = context(group_org_cases((s.organization, month_case(s)) for s in snaps))
    pairs = [(s, evaluate(s, ruleset, ctx, NOW)) for s in snaps]
    report = compute(pairs, Policy.compile(ruleset), "2026-11", NOW)
    row = next(c for c in report.customers if c.organization == "Globex Telecom")
    assert [(n.key, n.why) for n in row.not_counted] == [
        ("SUP-2", "a request beyond a usage limit of the customer's agreement")
    ]
    text = " ".join(terminal(report).split())
    assert "a request the customer is not entitled to or a request beyond a usage limit" in text


def test_the_not_counted_legend_follows_the_rules() -> None:
    rules = default_ruleset()
    bare = dataclasses.replace(
        rules,
        quota=dataclasses.replace(
            rules.quota, not_counted_resolutions=frozenset(), not_counted_flags=frozenset()
        ),
    )
    text = " ".join(terminal(compute([], Policy.compile(bare), "2026-11", NOW)).split())
    assert "not counted = cases that do not use up the quota (the rules leave none out)" in text
    assert "held for approval = cases held for quota approval in an approval status" in text


# -------------------------------------------------------------------------- rendering


def odd_named_report() -> MonthReport:
    rd = Customer('R&D <Labs> "x"', "premium", "london", ("a@rd.example",))
    ruleset = default_ruleset(
        customers={**default_ruleset().customers, rd.organization: rd},
    )
    s = acme(1, organization=rd.organization)
    return compute(
        [(s, desired(s, "met", used=H)), *acme_month()], Policy.compile(ruleset), "2026-11", NOW
    )


def test_csv_has_a_row_per_customer_and_priority_and_parses() -> None:
    report = odd_named_report()
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    assert list(rows[0]) == list(CSV_COLUMNS)
    acme_rows = {r["priority"]: r for r in rows if r["organization"] == "Acme Networks"}
    assert set(acme_rows) == {"all", "P3"}
    assert acme_rows["all"]["cases"] == "7"
    assert acme_rows["all"]["over_quota"] == "2"
    assert acme_rows["all"]["compliance_pct"] == "50.0"
    assert acme_rows["all"]["median_first_response_hours"] == "3.00"
    assert any(r["organization"] == 'R&D <Labs> "x"' for r in rows)
    assert {r["month"] for r in rows} == {"2026-11"}


def test_html_is_self_contained_with_one_wellformed_svg_per_chart() -> None:
    page = to_html(odd_named_report())
    svgs = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)
    assert len(svgs) == 3
    for svg in svgs:
        ET.fromstring(svg)  # well-formed: names are escaped
    assert "R&amp;D &lt;Labs&gt; &quot;x&quot;" in page
    assert "<Labs>" not in page
    for name in ("Acme Networks", "Globex Telecom", "Initech Systems"):
        assert name in page
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)


def test_a_long_name_is_shortened_in_the_charts_and_given_in_full_on_hover() -> None:
    long = Customer("Very Long Organisation Name Holdings Pty Ltd", "premium", "london", ())
    ruleset = default_ruleset(customers={long.organization: long})
    page = to_html(compute([], Policy.compile(ruleset), "2026-11", NOW))
    svg = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)[0]
    assert "<title>Very Long Organisation Name Holdings Pty Ltd</title>" in svg
    assert ">Very Long Organisation Name…<" in svg


def test_charts_scale_to_the_largest_bar_and_mark_the_quota() -> None:
    page = to_html(odd_named_report())
    quota_svg = re.findall(r"<svg\b.*?</svg>", page, flags=re.S)[0]
    # Acme: 4 within quota, 2 over (red), 1 not counted; its bar reads "6 / 4"
    assert ">6 / 4<" in quota_svg
    assert "<title>4 within quota</title></rect>" in quota_svg
    assert "<title>2 over quota</title></rect>" in quota_svg
    assert "<title>1 not counted</title></rect>" in quota_svg
    assert quota_svg.count('stroke-dasharray="3,2"') >= len(odd_named_report().customers)


# ------------------------------------------------------------------------ end to end


#: each demo organisation's calendar zone (rules/customers.yaml, sla.yaml)
ZONES = {
    "Acme Networks": "Australia/Brisbane",
    "Initech Systems": "Europe/London",
    "Globex Telecom": "America/New_York",
    "Umbrella Labs": "Australia/Brisbane",  # unknown: the default calendar
}


def sandbox_config(tmp_path: Path, sandbox: Sandbox) -> Path:
    config: dict[str, Any] = yaml.safe_load((ROOT / "config" / "bridge.yaml").read_text())
    config["jira"]["url"] = sandbox.url
    config["jira"]["flavour"] = sandbox.flavour
    config["rules"] = str(ROOT / "rules")
    config["state"] = {"path": str(tmp_path / "var" / "state.sqlite")}
    path = tmp_path / "bridge.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def store_cases(sandbox: Sandbox) -> Iterable[tuple[str, str, datetime, str | None]]:
    """(key, organisation, created, resolution) straight from the sandbox's store."""
    store = sandbox.store
    org_field = store.field_by_name("Organizations")
    assert org_field is not None
    orgs = {o.id: o.name for o in store.organizations.values()}
    resolutions = {r.id: r.name for r in store.resolutions}
    for issue in store.issues.values():
        ids = issue.values.get(org_field.id) or []
        if not ids:  # naming none: its reporter's (each demo contact is in one organisation)
            reporter = issue.values["reporter"]
            ids = [o.id for o in store.organizations.values() if reporter in o.members]
        res = issue.values.get("resolution")
        yield issue.key, orgs[ids[0]], issue.values["created"], resolutions.get(res)


def quota_flagged(sandbox: Sandbox, key: str, org: str) -> bool:
    """Whether the shipped rules flag the case so that it does not use up the quota
    (quota.not_counted_flags: a reporter who is no authorised contact, a request type
    the tier lacks), from the store and the rule files."""
    from bridge.rules.load import load_ruleset

    rules = load_ruleset(Path(__file__).resolve().parent.parent / "rules")
    store = sandbox.store
    issue = store.issue(key)
    reporter = store.user(issue.values["reporter"])
    assert reporter is not None
    customer = rules.customers[org]
    field = store.field_of_kind("requesttype")  # its name differs on Data Center
    assert field is not None
    request_type = store.request_types[issue.values[field.id]].name.casefold()
    needs = {t.casefold(): e for e, ts in rules.entitlement_request_types.items() for t in ts}
    lacking = needs.get(request_type, "") not in rules.tiers[customer.tier].entitlements | {""}
    unauthorised = reporter.is_customer and reporter.email.casefold() not in customer.contacts
    return unauthorised or lacking


@pytest.fixture
def no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JIRA_API_TOKEN", raising=False)  # loopback: the sandbox's token


def run_report(
    tmp_path: Path,
    sandbox: Sandbox,
    month: str,
    capsys: pytest.CaptureFixture[str],
    *more: str,
) -> tuple[int, str, str, Path]:
    out = tmp_path / "out"
    code = main(
        [
            "report",
            "--config",
            str(sandbox_config(tmp_path, sandbox)),
            "--month",
            month,
            "--out",
            str(out),
            "--now",
            SANDBOX_NOW.isoformat(),
            *more,
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err, out


def _status(sandbox: Sandbox, key: str) -> str:
    store = sandbox.store
    return store.statuses[store.issue(key).values["status"]].name


@pytest.mark.usefixtures("no_token")
@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_report_against_the_sandbox_counts_what_the_store_holds(
    tmp_path: Path,
    sandbox_factory: SandboxFactory,
    flavour: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox = sandbox_factory(flavour=flavour)
    code, stdout, _, out = run_report(tmp_path, sandbox, "2026-11", capsys)
    assert code == 0, stdout
    assert sandbox.requests.count(kind="write") == 0
    assert not (tmp_path / "var").exists()  # the bridge's state is not touched

    expected: dict[str, list[tuple[str, str | None]]] = {org: [] for org in ZONES}
    for key, org, created, resolution in store_cases(sandbox):
        local = created.astimezone(ZoneInfo(ZONES[org]))
        if (local.year, local.month) == (2026, 11):
            expected[org].append((key, resolution))
    assert len(expected["Acme Networks"]) >= 5  # the demo world puts Acme over its quota

    rows = list(csv.DictReader(io.StringIO((out / "report.csv").read_text())))
    totals = {r["organization"]: r for r in rows if r["priority"] == "all"}
    not_counted = {"Duplicate", "Raised in error"}
    for org in ("Acme Networks", "Initech Systems", "Globex Telecom"):
        row = totals[org]
        cases = expected[org]
        excluded = sum(
            1 for key, res in cases if res in not_counted or quota_flagged(sandbox, key, org)
        )
        assert int(row["cases"]) == len(cases), org
        assert int(row["excluded"]) == excluded, org
        assert int(row["counted"]) == len(cases) - excluded, org
        assert int(row["over_quota"]) == max(0, len(cases) - excluded - int(row["quota"])), org
        parts = ("met", "missed", "breached", "running", "paused", "no_target")
        held = sum(1 for key, _ in cases if _status(sandbox, key) == "Pending approval")
        assert int(row["held_for_approval"]) == held, org  # apart from compliance
        assert sum(int(row[p]) for p in parts) == len(cases) - held, org
        per_priority = [r for r in rows if r["organization"] == org and r["priority"] != "all"]
        assert sum(int(r["cases"]) for r in per_priority) == len(cases), org
    assert totals["Acme Networks"]["quota"] == "4"
    assert totals["Umbrella Labs"]["tier"] == "unknown"
    assert int(totals["Umbrella Labs"]["cases"]) == len(expected["Umbrella Labs"])

    page = (out / "report.html").read_text()
    assert len(re.findall(r"<svg\b", page)) == 3
    for org in ZONES:
        assert org in page
    assert f"Wrote {out / 'report.csv'}" in stdout
    assert f"Wrote {out / 'report.html'}" in stdout
    assert "Acme Networks" in stdout and "Unknown organisations" in stdout
    assert "2026-11 is not over yet, so the numbers will change;" in stdout  # 24 Nov


@pytest.mark.usefixtures("no_token")
def test_report_states_are_the_ones_a_cycle_computes(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(config=str(sandbox_config(tmp_path, sandbox)), rules=None)
    settings, ruleset = load_config(args)
    runtime = connect(settings, ruleset, state_path=":memory:")
    try:
        evaluated, skipped = evaluate_month(runtime, "2026-11", SANDBOX_NOW)
        cycle = runtime.engine.cycle(SANDBOX_NOW, dry_run=True)
    finally:
        runtime.close()
    assert skipped == []
    by_key = {o.key: o.desired for o in cycle.outcomes}
    assert evaluated
    for snap, want in evaluated:
        got = by_key[snap.key]
        assert got is not None
        assert (want.sla_state, want.quota, want.first_response) == (
            got.sla_state,
            got.quota,
            got.first_response,
        ), snap.key
    assert sandbox.requests.count(kind="write") == 0


@pytest.mark.usefixtures("no_token")
def test_a_past_month_with_a_case_still_open_is_not_final(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    # the demo's October: SUP-4 breached and is still open, unanswered
    assert _status(sandbox, "SUP-4") != "Resolved"
    code, stdout, _, out = run_report(tmp_path, sandbox, "2026-10", capsys)
    assert code == 0
    first = stdout.splitlines()[0]
    assert "final" not in first
    assert "1 case still open (1 breached and unanswered), so the numbers may" in first
    rows = list(csv.DictReader(io.StringIO((out / "report.csv").read_text())))
    running = sum(int(r["running"]) + int(r["paused"]) for r in rows if r["tier"] != "unknown")
    assert running == 0


def test_a_past_month_is_final_once_every_case_is_answered_or_resolved() -> None:
    ruleset = default_ruleset()
    answered = acme(1, comments=[comment(JANE, "2026-11-02T11:00:00+10:00")])
    unanswered = acme(2, day=3)
    # resolved without a word: Done is its response (missed, long after its due time)
    closed = acme(
        2,
        day=3,
        status="Resolved",
        resolution="Done",
        resolved="2026-11-20T12:00:00+10:00",
        status_category="done",
    )
    policy = Policy.compile(ruleset)
    for case, final in ((unanswered, False), (closed, True)):
        snaps = [answered, case]
        ctx = context(group_org_cases((s.organization, month_case(s)) for s in snaps))
        report = compute(
            [(s, evaluate(s, ruleset, ctx, NOW)) for s in snaps], policy, "2026-11", NOW
        )
        assert report.final is final
    assert report.total.open == 0


def test_cases_still_open_are_named_running_paused_held_or_breached() -> None:
    cases = [
        (s, desired(s, st))
        for s, st in [
            (acme(1), "running"),
            (acme(2), "at_risk"),
            (acme(3), "paused"),
            (acme(4), "breached"),
            (acme(5), "met"),
            (acme(6), "none"),
        ]
    ]
    held = acme(7)
    cases.append((held, dataclasses.replace(desired(held, "paused", rank=5), held=True)))
    report = compute(cases, Policy.compile(default_ruleset()), "2026-11", NOW)
    assert report.total.open == 6 and not report.final
    assert report.total.still_open == {
        "running": 2,
        "paused": 1,
        "breached": 1,
        "no_target": 1,
        "held": 1,
    }
    assert status_line(report).endswith(
        ": 6 cases still open (2 running, 1 breached and unanswered, 1 paused, "
        "1 held for approval, 1 without a response target), so the numbers may still change"
    )


def test_a_month_not_started_or_without_cases_says_so() -> None:
    policy = Policy.compile(default_ruleset())
    later = compute([], policy, "2027-03", at("2026-12-10T12:00:00+10:00"))
    assert not later.month_started and not later.final
    assert status_line(later).endswith(": 2027-03 has not started yet, so it has no cases")
    assert "not over" not in terminal(later)
    empty = compute([], policy, "2026-10", NOW)
    assert status_line(empty).endswith(": no cases this month")
    assert "final" not in terminal(empty).splitlines()[0]
    current = compute([], policy, "2026-12", NOW)
    assert status_line(current).endswith(": 2026-12 is not over yet, and has no cases so far")


@pytest.mark.usefixtures("no_token")
@pytest.mark.parametrize(
    ("month", "says"),
    [
        ("2026-13", "--month '2026-13' is not a calendar month; write YYYY-MM"),
        ("9999-12", "--month '9999-12' is out of range; give a month from 1970-01 to 9998-12"),
        ("0001-01", "--month '0001-01' is out of range; give a month from 1970-01 to 9998-12"),
    ],
)
def test_a_bad_month_exits_2_before_touching_jira(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str], month: str, says: str
) -> None:
    code, _, err, out = run_report(tmp_path, sandbox, month, capsys)
    assert code == 2
    assert says in err
    assert not out.exists()
    assert sandbox.requests.count() == 0


def add_case_like(sandbox: Sandbox, organization: str, created: datetime) -> str:
    """A new open case of ``organization`` (fields copied from one of its cases) at ``created``."""
    store = sandbox.store
    key = next(k for k, org, _, _ in store_cases(sandbox) if org == organization)
    source = store.issue(key)
    values = {
        k: v
        for k, v in source.values.items()
        if k.startswith("customfield_") or k in ("summary", "priority", "reporter")
    }
    reporter = store.user(source.values["reporter"])
    assert reporter is not None
    return str(store.create_issue(reporter, values, at=created).key)


@pytest.mark.usefixtures("no_token")
def test_cases_at_the_months_edges_in_far_zones_are_read(tmp_path: Path, sandbox: Sandbox) -> None:
    # 1 Oct 05:00 in Brisbane is still 30 Sep in UTC; 31 Oct 21:00 in New York is 1 Nov in UTC
    early = add_case_like(
        sandbox, "Acme Networks", datetime(2026, 10, 1, 5, tzinfo=ZoneInfo("Australia/Brisbane"))
    )
    late = add_case_like(
        sandbox, "Globex Telecom", datetime(2026, 10, 31, 21, tzinfo=ZoneInfo("America/New_York"))
    )
    # ... and their mirror images belong to the neighbouring months
    add_case_like(
        sandbox, "Acme Networks", datetime(2026, 11, 1, 5, tzinfo=ZoneInfo("Australia/Brisbane"))
    )
    add_case_like(
        sandbox, "Globex Telecom", datetime(2026, 9, 30, 21, tzinfo=ZoneInfo("America/New_York"))
    )
    args = argparse.Namespace(config=str(sandbox_config(tmp_path, sandbox)), rules=None)
    settings, ruleset = load_config(args)
    runtime = connect(settings, ruleset, state_path=":memory:")
    try:
        evaluated, _ = evaluate_month(runtime, "2026-10", SANDBOX_NOW)
    finally:
        runtime.close()
    keys = {s.key: s.organization for s, _ in evaluated}
    assert keys[early] == "Acme Networks"
    assert keys[late] == "Globex Telecom"
    # the mirror cases are not in October: only the seed's October cases and these two
    october = [
        k
        for k, org, created, _ in store_cases(sandbox)
        if created.astimezone(ZoneInfo(ZONES[org])).month == 10
    ]
    assert sorted(keys) == sorted(october)


@pytest.mark.usefixtures("no_token")
def test_a_case_naming_no_organisation_at_the_months_edge_is_in_its_customers_month(
    tmp_path: Path, sandbox: Sandbox
) -> None:
    """Initech's contact raises a case naming no organisation at 15:30 on 31 October in
    London, already 1 November in Brisbane (the default calendar's zone): it is
    Initech's, so it is in October's report (in London's October) and not November's,
    ranked as the cycle ranks it."""
    store = sandbox.store
    source = store.issue(
        next(k for k, org, _, _ in store_cases(sandbox) if org == "Initech Systems")
    )
    org_field = store.field_by_name("Organizations")
    assert org_field is not None
    values = {
        k: v
        for k, v in source.values.items()
        if k.startswith("customfield_") or k in ("summary", "priority")
    }
    values[org_field.id] = []
    contact = store.user_by_email("it@initech.example")
    assert contact is not None
    values["reporter"] = contact.account_id
    edge = datetime(2026, 10, 31, 15, 30, tzinfo=ZoneInfo("Europe/London"))
    key = str(store.create_issue(contact, values, at=edge).key)
    args = argparse.Namespace(config=str(sandbox_config(tmp_path, sandbox)), rules=None)
    settings, ruleset = load_config(args)
    runtime = connect(settings, ruleset, state_path=":memory:")
    try:
        october, _ = evaluate_month(runtime, "2026-10", SANDBOX_NOW)
        november, _ = evaluate_month(runtime, "2026-11", SANDBOX_NOW)
        cycle = runtime.engine.cycle(SANDBOX_NOW, dry_run=True)
    finally:
        runtime.close()
    [decided] = [d for s, d in october if s.key == key]
    assert decided.customer == "Initech Systems"
    assert key not in {s.key for s, _ in november}
    by_key = {o.key: o.desired for o in cycle.outcomes}
    ranked = by_key[key]
    assert ranked is not None and decided.quota == ranked.quota
    assert decided.quota is not None and decided.quota.month == "2026-10"
    report = compute(october, Policy.compile(ruleset), "2026-10", SANDBOX_NOW)
    initech = next(c for c in report.customers if c.organization == "Initech Systems")
    assert key in initech.keys


@pytest.mark.usefixtures("no_token")
def test_a_case_that_cannot_be_read_is_listed_and_the_exit_status_says_so(
    tmp_path: Path,
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    november = next(
        k
        for k, org, created, _ in store_cases(sandbox)
        if created.astimezone(ZoneInfo(ZONES[org])).month == 11
    )
    # 31 Oct 20:00 in Brisbane (10:00 UTC): inside the read's margin, October in every zone
    brisbane = ZoneInfo("Australia/Brisbane")
    october = add_case_like(sandbox, "Acme Networks", datetime(2026, 10, 31, 20, tzinfo=brisbane))
    real = report_command.read_issues

    def damaging(*args: Any, **kwargs: Any) -> Iterator[tuple[dict[str, Any], Any]]:
        for raw, snap in real(*args, **kwargs):
            key = str(raw.get("key"))
            if key in (november, october):
                yield raw, SnapshotError(key, "status 'Limbo' has no known status category")
            else:
                yield raw, snap

    monkeypatch.setattr(report_command, "read_issues", damaging)
    code, stdout, _, out = run_report(tmp_path, sandbox, "2026-11", capsys)
    assert code == 4
    assert f"{november}: status 'Limbo' has no known status category" in stdout
    assert f"{october}:" not in stdout  # read for the margin, but not a case of November
    assert (out / "report.csv").exists()
    assert november in (out / "report.html").read_text()


@pytest.mark.usefixtures("no_token")
def test_a_report_limited_to_one_customer_leaves_the_others_out(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    _, everyone, _, _ = run_report(tmp_path, sandbox, "2026-11", capsys)
    acme_line = next(line for line in everyone.splitlines() if line.startswith("Acme Networks"))
    code, stdout, err, out = run_report(
        tmp_path, sandbox, "2026-11", capsys, "--customer", "  acme NETWORKS "
    )
    assert code == 0, err
    assert stdout.startswith("SLA compliance and quota for Acme Networks, 2026-11 — ")
    # the same figures as in the full report (the columns' widths may differ)
    assert acme_line.split() in [line.split() for line in stdout.splitlines()]
    for other in ("Globex", "Initech", "Umbrella", "Unknown organisations", "All customers"):
        assert other not in stdout
        assert other not in (out / "report.html").read_text()
    rows = list(csv.DictReader(io.StringIO((out / "report.csv").read_text())))
    assert {r["organization"] for r in rows} == {"Acme Networks"}
    assert (
        "<h1>SLA compliance and quota, Acme Networks, 2026-11</h1>"
        in (out / "report.html").read_text()
    )


@pytest.mark.parametrize("failing", ["another customer's", "its own", "unreadable"])
def test_a_customer_report_shows_no_other_customers_failures(
    tmp_path: Path,
    sandbox: Sandbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    """A report for Acme sent to Acme: a case of another customer that cannot be
    evaluated is neither listed nor makes it partial; one of Acme's is listed (exit 4);
    one that cannot be read at all (whose it is, unknown) is counted, without its key or
    its problem, and the report is partial."""
    key = {"another customer's": "SUP-12", "its own": "SUP-14", "unreadable": "SUP-12"}[failing]
    problem = f"cannot evaluate {key}: summary of Initech's outage"
    if failing == "unreadable":
        real = report_command.read_month

        def read_month(runtime: Any, month: str) -> Any:
            snapshots, skipped = real(runtime, month)
            kept = [s for s in snapshots if s.key != key]
            return kept, [*skipped, (key, problem)]

        monkeypatch.setattr(report_command, "read_month", read_month)
    else:
        evaluate_case = Engine.evaluate

        def evaluate_or_fail(engine: Engine, snap: IssueSnapshot, cycle: Any) -> Desired:
            if snap.key == key:
                raise ValueError(problem)
            return evaluate_case(engine, snap, cycle)

        monkeypatch.setattr(Engine, "evaluate", evaluate_or_fail)
    code, stdout, _, out = run_report(
        tmp_path, sandbox, "2026-11", capsys, "--customer", "Acme Networks"
    )
    page = (out / "report.html").read_text()
    if failing == "its own":
        assert code == 4 and f"{key}: ValueError: {problem}" in stdout and key in page
        return
    assert problem not in stdout + page and f"{key}:" not in stdout
    if failing == "unreadable":
        assert code == 4
        note = "1 case(s) of the month could not be read, and whose they are is not known"
        assert note in stdout and note in page
    else:
        assert code == 0 and "could not be read" not in stdout


@pytest.mark.usefixtures("no_token")
def test_an_unknown_customer_exits_2_listing_the_customers(
    tmp_path: Path, sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err, out = run_report(
        tmp_path, sandbox, "2026-11", capsys, "--customer", "Acme", "--customer", "Umbrella Labs"
    )
    assert code == 2
    assert (
        "--customer 'Acme' is not a customer in customers.yaml; the customers are: "
        "Acme Networks, Globex Telecom, Initech Systems" in err
    )
    assert not out.exists()
    assert sandbox.requests.count() == 0


def test_customers_are_picked_by_name_in_any_case_and_kept_apart() -> None:
    rules = default_ruleset()
    assert pick_customers(rules, ["globex telecom", "Acme Networks", "ACME NETWORKS"]) == (
        "Globex Telecom",
        "Acme Networks",
    )
    with pytest.raises(CustomerError, match="the customers are: Acme Networks, Globex"):
        pick_customers(rules, ["Umbrella Labs"])
    cases = [
        *acme_month(),
        (g := acme(20, organization="Globex Telecom"), desired(g, "breached")),
        (u := acme(21, organization="Umbrella Labs"), desired(u, "none", known=False)),
    ]
    policy = Policy.compile(rules)
    alone = compute(cases, policy, "2026-11", NOW, only=("Acme Networks",))
    full = compute(cases, policy, "2026-11", NOW)
    assert [c.organization for c in alone.customers] == ["Acme Networks"]
    assert alone.unknown == [] and alone.selected == ("Acme Networks",)
    assert alone.total.cases == 7 and full.total.cases == 8
    assert alone.customers[0].total == full.customers[0].total
    text = terminal(alone)
    assert "Total " in text and "All customers" not in text and "SUP-20" not in text


# ------------------------------------------------------------------ what a lead reads


def test_breached_and_missed_cases_are_listed_by_key_with_links_and_times() -> None:
    report = compute(acme_month(), Policy.compile(default_ruleset()), "2026-11", NOW)
    [acme_row] = [c for c in report.customers if c.organization == "Acme Networks"]
    assert [(c.key, c.sla_state) for c in acme_row.late] == [
        ("SUP-3", "missed"),
        ("SUP-4", "breached"),
    ]
    page = to_html(report, site_url="https://acme.atlassian.net/")
    for key in ("SUP-3", "SUP-4"):
        assert f'<a href="https://acme.atlassian.net/browse/{key}">{key}</a>' in page
    # SUP-3: created Wed 4 Nov 10:00, due 8 h later, answered 10 h later (Brisbane)
    assert "Wed 04 Nov 2026 18:00 AEST" in page and "Wed 04 Nov 2026 20:00 AEST" in page
    assert "none yet" in page  # SUP-4 breached without an answer
    text = terminal(report)
    assert "SUP-4  Acme Networks  P3  breached: due Thu 05 Nov 2026 18:00 AEST" in text
    # column headers are words, not abbreviations
    for heading in ("Not counted", "Over quota", "Median first response"):
        assert f">{heading}</th>" in page
        assert heading.upper() in text
    for short in ("EXCL", "P90", "1ST"):
        assert short not in page and short not in text


def test_a_month_that_has_not_ended_is_never_final() -> None:
    answered = [(s, d) for s, d in acme_month() if d.sla_state in ("met", "missed")]
    inside = at("2026-11-20T12:00:00+10:00")
    early = compute(answered, Policy.compile(default_ruleset()), "2026-11", inside)
    assert early.total.open == 0 and not early.month_over
    assert not early.final
    assert "2026-11 is not over yet" in terminal(early)
    assert "final" not in terminal(early).splitlines()[0]
    # the month's end in the westernmost calendar (New York) decides
    before_ny = at("2026-12-01T04:00:00+00:00")  # Dec in Brisbane and London, not New York
    assert not compute(answered, Policy.compile(default_ruleset()), "2026-11", before_ny).final
    assert compute(answered, Policy.compile(default_ruleset()), "2026-11", NOW).final


def test_a_lead_restyles_the_page_with_a_template_of_their_own_escaping_included(
    tmp_path: Path,
) -> None:
    template = tmp_path / "mine.html.j2"
    template.write_text(
        "<h1>{{ month }}</h1>{% for row in rows %}<p>{{ row.cells[0] }}</p>{% endfor %}"
    )
    page = to_html(odd_named_report(), template=template)
    assert page.startswith("<h1>2026-11</h1>")
    assert "<p>R&amp;D &lt;Labs&gt; &#34;x&#34;</p>" in page  # autoescaped


# ------------------------------------------------- ranked among the cases a cycle ranks


def scoped_config(sb: Sandbox, tmp_path: Path, jql: str | None) -> Path:
    config = write_config(sb, tmp_path)
    if jql is not None:
        tree = yaml.safe_load(config.read_text(encoding="utf-8"))
        tree["jira"]["jql"] = jql
        config.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return config


def report_places(sb: Sandbox, tmp_path: Path, month: str, jql: str) -> dict[str, str | None]:
    """Each case's quota place in the report, as a cycle writes it ("4 of 4")."""
    args = argparse.Namespace(config=str(scoped_config(sb, tmp_path, jql)), rules=None)
    runtime = connect(*load_config(args), state_path=":memory:")
    try:
        evaluated, _ = evaluate_month(runtime, month, sb.now)
    finally:
        runtime.close()
    return {
        s.key: f"{d.quota.used} of {d.quota.limit}" if d.quota is not None else None
        for s, d in evaluated
    }


def report_totals(
    sb: Sandbox,
    tmp_path: Path,
    month: str,
    capsys: pytest.CaptureFixture[str],
    *,
    jql: str | None = None,
) -> dict[str, dict[str, str]]:
    """``jsm-bridge report`` against ``sb`` (scoped by ``jql``): each customer's CSV row."""
    config = scoped_config(sb, tmp_path, jql)
    out = tmp_path / "out"
    capsys.readouterr()
    args = ["report", "--config", str(config), "--month", month, "--out", str(out)]
    code = main([*args, "--now", sb.now.isoformat()])
    assert code == 0, capsys.readouterr()
    rows = csv.DictReader(io.StringIO((out / "report.csv").read_text(encoding="utf-8")))
    return {r["organization"]: r for r in rows if r["priority"] == "all"}


@pytest.mark.usefixtures("no_token")
def test_a_workshop_refused_by_one_earlier_in_the_contract_year_is_not_counted(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Initech (contract year from 1 April) had its one workshop a year in May: the
    November one is not entitled, so the cycle gives it no quota place, and the report,
    reading only November's cases, must not count it either."""
    sb = sandbox_factory(seed="empty", now=SANDBOX_NOW)
    london = ZoneInfo("Europe/London")
    workshop = "Architecture workshop"
    new_case(
        sb,
        created=datetime(2026, 5, 12, 10, tzinfo=london),
        org="Initech Systems",
        request_type=workshop,
    )
    asked = new_case(
        sb,
        created=datetime(2026, 11, 16, 10, tzinfo=london),
        org="Initech Systems",
        request_type=workshop,
    )
    plain = new_case(sb, created=datetime(2026, 11, 17, 10, tzinfo=london), org="Initech Systems")
    bridges(sb).cycle()
    assert "not-entitled" in end_state(sb, asked).labels
    assert end_state(sb, asked).field("Cases this month") is None
    assert end_state(sb, plain).field("Cases this month") == "1 of 12"

    initech = report_totals(sb, tmp_path, "2026-11", capsys)["Initech Systems"]
    assert (initech["cases"], initech["counted"], initech["excluded"]) == ("2", "1", "1")


@pytest.mark.usefixtures("no_token")
@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_with_a_scope_of_open_cases_the_report_counts_the_months_resolved_ones(
    flavour: str,
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Scope ``resolution = EMPTY``: Acme's three cases resolved earlier this month count
    (SPEC §2: the count does not depend on the scope), so the open ones are 4 and 5 of
    4 on the cases, and the report says 5 cases, 1 over quota, with the resolved ones
    in its compliance figures."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    open_keys = resolved_then_open(sb)
    scope = "project = SUP AND resolution = EMPTY"
    bridges(sb, flavour=flavour, jql=scope).cycle()
    written = {k: end_state(sb, k).field("Cases this month") for k in open_keys}
    assert list(written.values()) == ["4 of 4", "5 of 4"]
    places = report_places(sb, tmp_path, "2026-11", scope)
    assert {k: places[k] for k in open_keys} == written
    assert sorted(p for k, p in places.items() if k not in written) == [
        "1 of 4",
        "2 of 4",
        "3 of 4",
    ]

    acme = report_totals(sb, tmp_path, "2026-11", capsys, jql=scope)["Acme Networks"]
    assert (acme["cases"], acme["counted"], acme["over_quota"]) == ("5", "5", "1")
    # resolved now, after their due time: missed, beside the two open ones breached
    assert (acme["missed"], acme["breached"]) == ("3", "2")

    # once all are resolved the scope finds none of them; the report still counts five
    for key in open_keys:
        transition(sb, key, "Resolve")
    acme = report_totals(sb, tmp_path, "2026-11", capsys, jql=scope)["Acme Networks"]
    assert (acme["cases"], acme["counted"], acme["missed"]) == ("5", "5", "5")
