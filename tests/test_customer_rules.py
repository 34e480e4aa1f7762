"""The rule keys of issue 12's customer, quota and entitlement items: each checked with
its file:line, and what an omitted key means."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from test_ruleset import line_of, patch, problems_of, rules_copy

from bridge.policy.model import UnknownCustomerPolicy
from bridge.policy.tiers import contract_year
from bridge.rules.load import load_ruleset


def test_unknown_customer_comments_for_a_case_naming_no_organisation_are_checked(
    tmp_path: Path,
) -> None:
    rules = rules_copy(tmp_path)
    patch(
        rules,
        "customers.yaml",
        "several_customers_comment: {visibility: internal",
        "several_customers_comment: {visibility: loud",
    )
    [problem] = problems_of(rules)
    assert problem.line == line_of(rules, "customers.yaml", "several_customers_comment: {")
    assert "several_customers_comment: visibility must be public or internal" in problem.message


def test_without_its_own_no_organisation_comment_the_built_in_one_names_the_reporter(
    tmp_path: Path,
) -> None:
    rules = rules_copy(tmp_path)
    text = (rules / "customers.yaml").read_text(encoding="utf-8")
    kept = [
        ln
        for ln in text.splitlines()
        if "_customers_comment" not in ln and "no_organization_comment" not in ln
    ]
    (rules / "customers.yaml").write_text("\n".join(kept) + "\n", encoding="utf-8")
    unknown = load_ruleset(rules).unknown_customer
    assert isinstance(unknown, UnknownCustomerPolicy)
    assert unknown.no_organization_comment is not None
    assert "{reporter}" in unknown.no_organization_comment.text
    assert unknown.several_customers_comment is not None
    assert "{customers}" in unknown.several_customers_comment.text
    assert unknown.no_organization_comment.visibility == "internal"


def test_channel_reminder_names_known_tiers_and_jsm_request_channels(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    patch(rules, "tiers.yaml", "  tiers: [standard, premium]", "  tiers: [standard, premum]")
    patch(rules, "tiers.yaml", "  channels: [email, api]", "  channels: [e-mail, api]")
    problems = problems_of(rules)
    assert [(p.line, p.message) for p in problems] == [
        (
            line_of(rules, "tiers.yaml", "  tiers: [standard, premum]"),
            "channel_reminder: tiers: unknown tier 'premum'",
        ),
        (
            line_of(rules, "tiers.yaml", "  channels: [e-mail, api]"),
            "channel_reminder: channels: 'e-mail' is not portal, email, api, jira or "
            "anonymousportal",
        ),
    ]
    assert "did you mean 'premium'" in str(problems[0])
    assert "did you mean 'email'" in str(problems[1])


def test_not_counted_flags_names_flags_the_bridge_knows(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    patch(
        rules,
        "tiers.yaml",
        "not_counted_flags: [unauthorised_contact,",
        "not_counted_flags: [unauthorized_contact,",
    )
    [problem] = problems_of(rules)
    assert problem.line == line_of(rules, "tiers.yaml", "not_counted_flags: [")
    assert "'unauthorized_contact' is not unauthorised_contact or not_entitled" in problem.message
    assert problem.hint == "did you mean 'unauthorised_contact'?"


def test_usage_limits_and_contract_start_are_checked(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    patch(
        rules,
        "tiers.yaml",
        "  architecture_workshop: {per_contract_year: 1}",
        "  architecture_workshops: {per_contract_year: 1}",
    )
    patch(rules, "customers.yaml", "contract_start: 2026-04-01", "contract_start: April 2026")
    problems = problems_of(rules)
    assert [(p.line, p.message) for p in problems] == [
        (
            line_of(rules, "tiers.yaml", "  architecture_workshops:"),
            "usage_limits: unknown entitlement 'architecture_workshops'",
        ),
        (
            line_of(rules, "customers.yaml", "contract_start: April 2026"),
            "customer Initech Systems: contract_start must be a date, not 'April 2026'",
        ),
    ]
    assert problems[1].hint == "write dates as YYYY-MM-DD"


@pytest.mark.parametrize(
    ("at", "start", "year"),
    [
        ("2026-03-31T23:30:00+10:00", date(2020, 4, 1), date(2025, 4, 1)),
        ("2026-04-01T00:30:00+10:00", date(2020, 4, 1), date(2026, 4, 1)),
        ("2027-02-28T12:00:00+10:00", date(2024, 2, 29), date(2027, 2, 28)),
        ("2026-06-01T12:00:00+10:00", None, date(2026, 1, 1)),
    ],
)
def test_a_contract_year_starts_on_the_contract_s_day_in_the_customer_s_zone(
    at: str, start: date | None, year: date
) -> None:
    assert contract_year(datetime.fromisoformat(at), start, ZoneInfo("Australia/Brisbane")) == year
