"""Rule files: the shipped rules load exactly, and every kind of mistake is reported at file:line."""

from __future__ import annotations

import re
import shutil
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bridge.policy.model import (
    DEFAULT_PLACEHOLDERS,
    OVER_QUOTA_CLEARED_TEXT,
    CommentTemplate,
    OverQuotaPolicy,
    RuleSet,
    Target,
)
from bridge.policy.problems import Problem
from bridge.policy.ruleset import (
    DEFAULT_FIELDS,
    RulesInvalid,
    parse_duration,
    parse_percentage,
)
from bridge.rules.load import load_ruleset

RULES = Path(__file__).resolve().parent.parent / "rules"


@pytest.fixture(scope="module")
def shipped() -> RuleSet:
    return load_ruleset(RULES)


def rules_copy(tmp_path: Path) -> Path:
    target = tmp_path / "rules"
    shutil.copytree(RULES, target)
    return target


def patch(rules: Path, file: str, old: str, new: str) -> None:
    path = rules / file
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= 1, f"{old!r} not in {file}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(rules: Path, file: str, needle: str) -> int:
    """1-based line of the first line containing ``needle`` (after patching)."""
    for number, line in enumerate((rules / file).read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {file}")


def problems_of(rules: Path, known_fields: frozenset[str] | None = None) -> list[Problem]:
    with pytest.raises(RulesInvalid) as caught:
        load_ruleset(rules, known_fields)
    return caught.value.problems


# ------------------------------------------------------------------ shipped rules


def test_shipped_rules_encode_the_support_terms(shipped: RuleSet) -> None:
    tiers = shipped.tiers
    assert [(t.name, t.contacts, t.cases_per_month) for t in tiers.values()] == [
        ("Standard", 1, 4),
        ("Premium", 2, 12),
        ("Enterprise", 2, 20),
    ]
    base = {"knowledge_base", "documentation", "support_portal", "configuration_support"}
    premium = base | {"screen_share", "development_input", "architecture_workshop"}
    assert tiers["standard"].entitlements == base
    assert tiers["premium"].entitlements == premium
    assert tiers["enterprise"].entitlements == premium | {"product_webinar", "named_engineer"}
    assert shipped.priorities.levels == ("P1", "P2", "P3", "P4")
    assert dict(shipped.priorities.jira_names) == {
        "P1": "Blocker",
        "P2": "Critical",
        "P3": "Major",
        "P4": "Minor",
    }
    assert dict(shipped.response.targets) == {
        "P1": Target("duration", timedelta(hours=4)),
        "P2": Target("duration", timedelta(hours=6)),
        "P3": Target("next_business_day"),
        "P4": Target("next_business_day"),
    }
    assert shipped.response.at_risk_at == 0.75
    assert [step.at for step in shipped.escalation] == [0.5, 0.75, 1.0]
    assert [step.index for step in shipped.escalation] == [0, 1, 2]
    assert shipped.escalation[0].priorities == frozenset({"P1", "P2"})
    assert shipped.escalation[1].priorities is None
    rules = shipped.priorities.rules
    assert [(r.set, r.cap) for r in rules] == [
        ("P4", None),
        ("P4", None),
        ("P4", None),
        (None, "P3"),
        ("P2", None),
    ]
    assert rules[0].when.field == "environment" and rules[0].when.not_in == ("Production",)
    assert rules[4].when.priority == ("P1",) and rules[4].when.not_in == ("Yes",)
    assert shipped.quota.not_counted_resolutions == frozenset({"Duplicate", "Raised in error"})
    assert shipped.quota.over_quota.transition is None
    info = shipped.required_information
    assert info.fields == (
        "contact_phone",
        "contact_skype",  # "phone number (or skype)": either answers the contact item
        "description",  # "Brief explanation of issue"
        "product",
        "product_version",
        "impact",
        "environment",  # an empty environment is missing information (and not Production)
    )
    assert info.items[0].fields == ("contact_phone", "contact_skype")
    assert info.items[4].accept[0] == "none"  # "Impact (if any)"
    assert {"n/a", "?", "-", "asdf", "version"} <= set(info.placeholders)
    assert info.placeholders == DEFAULT_PLACEHOLDERS  # the documented default is what ships


def test_shipped_customers_and_calendars(shipped: RuleSet) -> None:
    customers = shipped.customers
    assert {name: (c.tier, c.calendar) for name, c in customers.items()} == {
        "Acme Networks": ("standard", "brisbane"),
        "Initech Systems": ("premium", "london"),
        "Globex Telecom": ("enterprise", "new-york"),
    }
    globex = customers["Globex Telecom"]
    assert globex.contacts_allowed == 3
    assert globex.named_engineer == "jane.engineer@vendor.example"
    assert shipped.customer("initech systems") is customers["Initech Systems"]
    assert shipped.default_calendar == "brisbane"
    zones = {name: cal.timezone for name, cal in shipped.calendars.items()}
    assert zones == {
        "brisbane": "Australia/Brisbane",
        "new-york": "America/New_York",
        "london": "Europe/London",
    }
    for calendar in shipped.calendars.values():
        assert dict(calendar.weekly_hours) == {d: ((time(9), time(17)),) for d in range(5)}
    brisbane = shipped.calendars["brisbane"]
    assert date(2026, 12, 24) in dict(
        brisbane.holidays_between(date(2026, 12, 1), date(2026, 12, 31))
    )


def test_an_over_quota_hold_needs_an_approval_status_that_stops_the_clock(
    tmp_path: Path,
) -> None:
    rules = rules_copy(tmp_path)
    patch(rules, "tiers.yaml", "transition: null", "transition: Needs approval")
    patch(rules, "sla.yaml", "  approval_statuses: [Pending approval]\n", "")
    (problem,) = problems_of(rules)
    assert problem.file == str(rules / "sla.yaml")
    assert problem.line == line_of(rules, "sla.yaml", "response:")
    assert "holds over-quota cases with transition 'Needs approval', but approval_statuses" in (
        str(problem)
    )
    patch(
        rules,
        "sla.yaml",
        "  pause_statuses:",
        "  approval_statuses: [Pending approval]\n  pause_statuses:",
    )
    assert load_ruleset(rules).quota.over_quota.transition == "Needs approval"


def test_shipped_calendar_answers_the_spec_example(shipped: RuleSet) -> None:
    brisbane = shipped.calendars["brisbane"]
    created = datetime(2026, 11, 27, 15, 0, tzinfo=ZoneInfo("Australia/Brisbane"))
    assert brisbane.add(created, timedelta(hours=4)) == datetime(
        2026, 11, 30, 11, 0, tzinfo=ZoneInfo("Australia/Brisbane")
    )


def test_contacts_are_lower_cased_and_tier_name_can_be_given(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    patch(rules, "customers.yaml", "[ops@acme.example]", "[Ops@ACME.example]")
    patch(
        rules, "tiers.yaml", "standard:   {contacts: 1,", "standard:   {name: Basic, contacts: 1,"
    )
    ruleset = load_ruleset(rules)
    assert ruleset.customers["Acme Networks"].contacts == ("ops@acme.example",)
    assert ruleset.tiers["standard"].name == "Basic"


def test_the_spec_canonical_yaml_loads_as_is() -> None:
    """SPEC §3's examples, verbatim (two customers, two calendars), are valid rules."""
    ruleset = load_ruleset(Path(__file__).parent / "rules_cases" / "spec-canonical")
    assert set(ruleset.customers) == {"Acme Networks", "Globex Telecom"}
    assert set(ruleset.calendars) == {"brisbane", "new-york"}
    assert ruleset.quota.over_quota.transition is None


def test_the_over_quota_correction_is_the_rules_own_or_follows_the_comment(
    tmp_path: Path,
) -> None:
    """`quota.over_quota.cleared_comment`: the shipped text; when absent, a built-in one
    with the over-quota comment's visibility (none without that comment); none when null."""
    shipped = OverQuotaPolicy.of(load_ruleset(RULES).quota.over_quota).cleared_comment
    assert shipped is not None and shipped.visibility == "public"
    assert shipped.text.startswith("Case {key} is within the {quota_limit} cases")
    found = re.search(r"\n    cleared_comment: .*\n", (RULES / "tiers.yaml").read_text())
    assert found is not None
    given, said = found.group(0), 'comment: {visibility: public, text: "Case {key} is case'

    def cleared(*changes: tuple[str, str]) -> CommentTemplate | None:
        rules = rules_copy(tmp_path / str(len(list(tmp_path.iterdir()))))
        for old, new in changes:
            patch(rules, "tiers.yaml", old, new)
        return OverQuotaPolicy.of(load_ruleset(rules).quota.over_quota).cleared_comment

    default = CommentTemplate("public", OVER_QUOTA_CLEARED_TEXT)
    assert cleared((given, "\n")) == default
    internal = (said, said.replace("public", "internal"))
    assert cleared((given, "\n"), internal) == replace(default, visibility="internal")
    assert cleared((given, "\n"), (said, "comment: null  # " + said)) is None
    assert cleared((given, "\n    cleared_comment: null\n")) is None
    bad = ("{organization} after all", "{organization} after all, {why}")
    with pytest.raises(RulesInvalid, match=r"tiers\.yaml:\d+:.*\{why\}"):
        cleared(bad)


def test_values_parse() -> None:
    assert parse_duration("4h") == timedelta(hours=4)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("1h30m") == timedelta(hours=1, minutes=30)
    assert parse_duration("30s") == timedelta(seconds=30)
    for bad in ("", "4", "h", "4 hours", "0h", "-1h", "1d", "4H"):
        assert parse_duration(bad) is None, bad
    assert parse_percentage("75%") == 0.75
    assert parse_percentage("12.5 %") == 0.125
    assert parse_percentage("75") is None
    assert parse_percentage("%") is None


# --------------------------------------------------------------- malformed files

# (file, old text, new text, line marker in the patched file, message substring)
MALFORMED = [
    pytest.param(
        "tiers.yaml",
        "cases_per_month: 4,",
        "cases_per_mnth: 4,",
        "standard:",
        "tier standard: unknown key 'cases_per_mnth'",
        id="unknown-key",
    ),
    pytest.param(
        "tiers.yaml",
        "contacts: 1,",
        "contacts: one,",
        "standard:",
        "tier standard: contacts must be a whole number, not 'one'",
        id="wrong-type",
    ),
    pytest.param(
        "sla.yaml",
        "P2: 6h",
        "P2: 6 hours",
        "targets:",
        "response: targets: P2 must be a business duration or next_business_day, not '6 hours'",
        id="bad-duration",
    ),
    pytest.param(
        "sla.yaml",
        "P1: 4h",
        "P1: 1d",
        "targets:",
        "response: targets: P1 must be a business duration or next_business_day, not '1d'",
        id="days-are-not-a-duration",
    ),
    pytest.param(
        "sla.yaml",
        "at_risk_at: 75%",
        "at_risk_at: 75",
        "at_risk_at:",
        "response: at_risk_at must be a percentage above 0% and at most 100%, not the number 75",
        id="percentage-without-sign",
    ),
    pytest.param(
        "sla.yaml",
        "- at: 50%",
        "- at: 0.5",
        "at: 0.5",
        "escalation step 1: at must be a percentage above 0% and at most 1000%, not the number 0.5",
        id="percentage-as-fraction",
    ),
    pytest.param(
        "priorities.yaml",
        "priorities:\n  P1: {jira: Blocker, also: [Highest]}\n  P2: {jira: Critical, also: [High]}\n"
        "  P3: {jira: Major, also: [Medium]}\n  P4: {jira: Minor, also: [Trivial, Low, Lowest]}\n",
        "priorities: [P1, P2, P3, P4]\n",
        "priorities: [P1",
        "priorities must be a mapping (key: value), not a list",
        id="list-instead-of-mapping",
    ),
    pytest.param(
        "sla.yaml",
        "at_risk_at: 75%",
        "at_risk_at: 175%",
        "at_risk_at:",
        "response: at_risk_at must be a percentage above 0% and at most 100%, not '175%'",
        id="percentage-out-of-range",
    ),
    pytest.param(
        "sla.yaml",
        'hours: {mon-fri: "09:00-17:00"}\n    holidays: {country: AU',
        'hours: {mon-fri: "9am-5pm"}\n    holidays: {country: AU',
        "9am-5pm",
        "calendar brisbane: hours: mon-fri must be an opening time, a list of opening times or "
        "closed, not '9am-5pm'",
        id="bad-hours",
    ),
    pytest.param(
        "sla.yaml",
        'hours: {mon-fri: "09:00-17:00"}\n    holidays: {country: AU',
        'hours: {mon-fri: "17:00-09:00"}\n    holidays: {country: AU',
        "17:00-09:00",
        "'17:00-09:00' closes before it opens",
        id="hours-backwards",
    ),
    pytest.param(
        "sla.yaml",
        'hours: {mon-fri: "09:00-17:00"}\n    holidays: {country: AU',
        'hours: {mon-fri: ["08:00-12:00", "11:00-17:00"]}\n    holidays: {country: AU',
        '["08:00-12:00", "11:00-17:00"]',
        "opening times 08:00-12:00 and 11:00-17:00 overlap",
        id="hours-overlap",
    ),
    pytest.param(
        "sla.yaml",
        'mon-fri: "09:00-17:00"}\n    holidays: {country: US',
        'mon-fry: "09:00-17:00"}\n    holidays: {country: US',
        "mon-fry",
        "calendar new-york: hours: 'mon-fry' is not a day, a day range or a list of days",
        id="bad-day",
    ),
    pytest.param(
        "sla.yaml",
        'mon-fri: "09:00-17:00"}\n    holidays: {country: US',
        'fri-mon: "09:00-17:00"}\n    holidays: {country: US',
        "fri-mon",
        "the day range 'fri-mon' runs backwards",
        id="day-range-backwards",
    ),
    pytest.param(
        "sla.yaml",
        "timezone: Australia/Brisbane",
        "timezone: Australia/Brisbaine",
        "Australia/Brisbaine",
        "unknown time zone 'Australia/Brisbaine'",
        id="bad-timezone",
    ),
    pytest.param(
        "sla.yaml",
        "holidays: {country: GB, subdivision: ENG}",
        "holidays: {country: XX}",
        "country: XX",
        "unknown holiday country 'XX'",
        id="bad-country",
    ),
    pytest.param(
        "sla.yaml",
        "Columbus Day,",
        "Colombus Day,",
        "leave_out:",
        "leave_out names 'Colombus Day', which is not a holiday of US-NY (did you mean "
        "'Columbus Day'?)",
        id="leave-out-typo",
    ),
    pytest.param(
        "sla.yaml",
        "    escalation_owner: sam.agent@vendor.example\n",
        "",
        "  new-york:",
        "calendar new-york has no escalation_owner, but escalation step 2 assigns or names it",
        id="calendar-without-escalation-owner",
    ),
    pytest.param(
        "sla.yaml",
        "escalation_owner: sam.agent@vendor.example",
        "escalation_owner: Sam Agent",
        "escalation_owner: Sam Agent",
        "calendar new-york: escalation_owner must be an e-mail address or account id, "
        "not 'Sam Agent'",
        id="escalation-owner-not-an-account",
    ),
    pytest.param(
        "sla.yaml",
        "subdivision: NY",
        "subdivision: ZZ",
        "subdivision: ZZ",
        "US has no subdivision 'ZZ'",
        id="bad-subdivision",
    ),
    pytest.param(
        "sla.yaml",
        "extra: [2026-12-24]",
        "extra: [2026-12-34]",
        "extra:",
        "holidays: extra: '2026-12-34' is not a date",
        id="bad-holiday-date",
    ),
    pytest.param(
        "customers.yaml",
        "tier: standard",
        "tier: standrd",
        "tier: standrd",
        "customer Acme Networks: tier: unknown tier 'standrd'",
        id="missing-tier",
    ),
    pytest.param(
        "customers.yaml",
        "calendar: london",
        "calendar: paris",
        "calendar: paris",
        "customer Initech Systems: calendar: unknown calendar 'paris'",
        id="missing-calendar",
    ),
    pytest.param(
        "customers.yaml",
        "contacts: [ops@acme.example]",
        "contacts: [ops@acme.example, boss@acme.example]",
        "boss@acme.example",
        "customer Acme Networks: 2 contacts, but the Standard tier allows 1",
        id="too-many-contacts",
    ),
    pytest.param(
        "customers.yaml",
        "contacts: [noc@globex.example, lead@globex.example, cto@globex.example]",
        "contacts: [noc@globex.example, lead@globex.example, cto@globex.example, ceo@globex.example]",
        "ceo@globex.example",
        "customer Globex Telecom: 4 contacts, but contacts_allowed allows 3",
        id="more-than-contacts-allowed",
    ),
    pytest.param(
        "customers.yaml",
        "    contacts: [it@initech.example",
        "    contacts_allowed: 3\n    contacts: [it@initech.example",
        "contacts_allowed: 3",
        "customer Initech Systems: contacts_allowed is only for tiers whose contracts set their own number",
        id="contacts-allowed-not-enterprise",
    ),
    pytest.param(
        "customers.yaml",
        "contacts_allowed: 3 ",
        "contacts_allowed: 1 ",
        "contacts_allowed: 1",
        "contacts_allowed 1 is below the Enterprise tier's 2",
        id="contacts-allowed-below-tier",
    ),
    pytest.param(
        "customers.yaml",
        "contacts: [ops@acme.example]",
        "contacts: [ops at acme]",
        "ops at acme",
        "'ops at acme' is not an e-mail address",
        id="contact-not-an-email",
    ),
    pytest.param(
        "customers.yaml",
        "tier: premium",
        "tier: premium\n    named_engineer: sam.agent@vendor.example",
        "named_engineer: sam",
        "the Premium tier does not include a named engineer",
        id="named-engineer-needs-entitlement",
    ),
    pytest.param(
        "sla.yaml",
        "- at: 100%",
        "- at: 60%",
        "at: 60%",
        "escalation step 3 at 60% does not come after step 2 at 75%",
        id="escalation-not-ascending",
    ),
    pytest.param(
        "sla.yaml",
        "priorities: [P1, P2]",
        "priorities: [P1, P5]",
        "priorities: [P1, P5]",
        "escalation step 1: priorities: unknown priority 'P5'",
        id="escalation-unknown-priority",
    ),
    pytest.param(
        "priorities.yaml",
        "not_in: [Production]}\n    set: P4",
        "not_in: [Production]}\n    set: P7",
        "set: P7",
        "rule 'Non-production systems are P4': set: unknown priority 'P7'",
        id="rule-unknown-priority",
    ),
    pytest.param(
        "sla.yaml",
        ", P4: next_business_day}",
        "}",
        "targets:",
        "response: targets: no target for P4",
        id="target-missing",
    ),
    pytest.param(
        "sla.yaml",
        "targets: {P1: 4h,",
        "targets: {P0: 2h, P1: 4h,",
        "targets:",
        "response: targets: unknown priority 'P0'",
        id="target-unknown-priority",
    ),
    pytest.param(
        "sla.yaml",
        "{key} ({priority}, {organization}) has used half",
        "{key} ({priority}, {customer}) has used half",
        "has used half",
        "escalation step 1: action 1: comment: unknown placeholder {customer}",
        id="template-unknown-placeholder",
    ),
    pytest.param(
        "customers.yaml",
        '"{key}: {organization} has no support',
        '"{organization} has no support',
        "has no support agreement",
        "unknown_customer: comment: text must be a template naming its case",
        id="template-without-key",
    ),
    pytest.param(
        "tiers.yaml",
        "is case {quota_used} of",
        "is case {quota_used.__class__} of",
        "is case {quota_used",
        "quota: over_quota: comment: {quota_used.__class__} is not a placeholder",
        id="template-attribute-access",
    ),
    pytest.param(
        "tiers.yaml",
        "is case {quota_used} of",
        "is case {quota_used} ({rule}) of",
        "is case {quota_used}",
        "quota: over_quota: comment: {rule} is said only in a priority change's comment",
        id="placeholder-of-another-comment",
    ),
    pytest.param(
        "tiers.yaml",
        "is case {quota_used} of",
        "is case {Quota_Used} of",
        "is case {Quota_Used}",
        "{Quota_Used} is not a placeholder: placeholders are lower case: {quota_used}",
        id="placeholder-in-capitals",
    ),
    pytest.param(
        "tiers.yaml",
        "is case {quota_used} of",
        "is case {quota_usde} of",
        "is case {quota_usde}",
        "unknown placeholder {quota_usde} (did you mean {quota_used}? known:",
        id="placeholder-misspelt",
    ),
    pytest.param(
        "priorities.yaml",
        "when: {request_type: [Installation]}",
        'when: {summary_matches: "install(ation"}',
        "summary_matches",
        "summary_matches is not a valid regular expression",
        id="bad-regex",
    ),
    pytest.param(
        "priorities.yaml",
        "when: {request_type: [Installation]}",
        'when: {summary_matches: "\\binstall"}',
        "summary_matches",
        "summary_matches holds the control character '\\x08', which no text has",
        id="regex-escape-read-by-yaml-double-quotes",
    ),
    pytest.param(
        "priorities.yaml",
        "field: environment",
        "field: environmnet",
        "environmnet",
        "when: field: unknown field 'environmnet'",
        id="unknown-field-in-condition",
    ),
    pytest.param(
        "sla.yaml",
        "    - product ",
        "    - prodcut ",
        "- prodcut",
        "required_information: fields: unknown field 'prodcut'",
        id="unknown-required-field",
    ),
    pytest.param(
        "sla.yaml",
        "{field: product_version, pattern: '\\d'}",
        "{field: product_version, pattern: '(\\d+)+$'}",
        "field: product_version, pattern",
        "required_information: fields: item 4: pattern",
        id="required-pattern-exponential",
    ),
    pytest.param(
        "sla.yaml",
        "{field: description, min_length: 15}",
        "{field: description, any_of: [impact], min_length: 15}",
        "field: description, any_of",
        "required_information: fields: item 2: use only one of field or any_of, not field and "
        "any_of",
        id="required-item-field-and-any-of",
    ),
    pytest.param(
        "priorities.yaml",
        "when: {request_type: [Installation]}",
        "when: {not_in: [Production]}",
        "when: {not_in",
        "rule 'Installation issues are P4': when: not_in needs field",
        id="test-without-field",
    ),
    pytest.param(
        "priorities.yaml",
        "not_in: [Production]}\n    set: P4",
        "not_in: [Production]}\n    set: P4\n    cap: P3",
        "cap: P3",
        "rule 'Non-production systems are P4': use only one of set or cap, not set and cap",
        id="set-and-cap",
    ),
    pytest.param(
        "priorities.yaml",
        "    cap: P3\n",
        "",
        "- name: Feature requests",
        "rule 'Feature requests and cosmetic defects are at most P3' needs one of set or cap",
        id="rule-without-set-or-cap",
    ),
    pytest.param(
        "sla.yaml",
        "default_calendar: brisbane",
        "default_calendar: sydney",
        "default_calendar:",
        "default_calendar: unknown calendar 'sydney'",
        id="unknown-default-calendar",
    ),
    pytest.param(
        "sla.yaml",
        "label: sla-at-risk",
        "label: sla at risk",
        "sla at risk",
        "escalation step 2: action 1: label must be a Jira label, not 'sla at risk'",
        id="label-with-spaces",
    ),
    pytest.param(
        "sla.yaml",
        'visibility: internal, text: "{key} breached',
        'visibility: private, text: "{key} breached',
        "visibility: private",
        "visibility must be public or internal, not 'private'",
        id="bad-visibility",
    ),
    pytest.param(
        "sla.yaml",
        "      - label: sla-breached\n",
        "      - label: sla-breached\n        transition: Escalate\n",
        "label: sla-breached",
        "escalation step 3: action 1 must have exactly one of the keys comment, label, assign "
        "or transition",
        id="two-actions-in-one-item",
    ),
    pytest.param(
        "tiers.yaml",
        "screen_share: [Screen",
        "screen_shar: [Screen",
        "screen_shar:",
        "entitlement_request_types: unknown entitlement 'screen_shar'",
        id="unknown-entitlement",
    ),
    pytest.param(
        "tiers.yaml",
        "quota:\n",
        "default_calendar: brisbane\nquota:\n",
        "default_calendar",
        "tiers.yaml: 'default_calendar' does not belong here",
        id="key-in-wrong-file",
    ),
    pytest.param(
        "customers.yaml",
        "named_engineer: jane",
        "calendar: brisbane  # again\n    named_engineer: jane",
        "# again",
        "customer Globex Telecom: 'calendar' is given twice",
        id="duplicate-key",
    ),
    pytest.param(
        "priorities.yaml",
        "- name: Installation issues are P4",
        "- name: Non-production systems are P4  # copy",
        "# copy",
        "the name 'Non-production systems are P4' is already used",
        id="duplicate-rule-name",
    ),
    pytest.param(
        "priorities.yaml",
        "P2: {jira: Critical, also: [High]}",
        "P2: {jira: Blocker, also: [High]}",
        "P2: {jira: Blocker",
        "Jira priority 'Blocker' is already used by P1",
        id="duplicate-jira-priority",
    ),
    pytest.param(
        "priorities.yaml",
        "also: [Trivial, Low, Lowest]",
        "also: [Trivial, Low, Lowest, highest]",
        "also: [Trivial",
        "priority P4: Jira priority 'highest' is already used by P1",
        id="jira-priority-under-two-levels",
    ),
    pytest.param(
        "priorities.yaml",
        'restored: {visibility: public, text: "{key}: the',
        'restored: {visibility: public, text: "{key} {reason}: the',
        "restored: {visibility",
        "change_comments: restored: unknown placeholder {reason}",
        id="change-comment-unknown-placeholder",
    ),
    pytest.param(
        "sla.yaml",
        "pause_statuses: [Waiting for customer]",
        "pause_statuses: [Waiting for customer, Work in progress]",
        "pause_statuses:",
        "Work in progress is both a responded and a pause status",
        id="status-both-responded-and-paused",
    ),
    pytest.param(
        "tiers.yaml",
        "tiers:\n",
        "tiers:\n  broken: [\n",
        "not-entitled",  # the parser notices at a later line; only the message is checked strictly
        "not valid YAML",
        id="yaml-syntax-error",
    ),
]


@pytest.mark.parametrize(("file", "old", "new", "marker", "message"), MALFORMED)
def test_malformed_rules_are_reported_at_file_and_line(
    tmp_path: Path, file: str, old: str, new: str, marker: str, message: str
) -> None:
    rules = rules_copy(tmp_path)
    patch(rules, file, old, new)
    problems = problems_of(rules)
    matching = [p for p in problems if message in p.message]
    assert matching, f"no problem says {message!r}; got:\n" + "\n".join(map(str, problems))
    problem = matching[0]
    assert problem.file == str(rules / file)
    if message != "not valid YAML":
        assert problem.line == line_of(rules, file, marker.rstrip("\n")), str(problem)
    assert str(problem).startswith(f"{rules / file}:{problem.line}: ")
    # one mistake, one problem: nothing cascades into noise
    assert len(problems) == 1, "\n".join(map(str, problems))


def test_misspelt_key_has_a_did_you_mean_hint(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    patch(rules, "tiers.yaml", "cases_per_month: 4,", "cases_per_mnth: 4,")
    (problem,) = problems_of(rules)
    assert problem.hint is not None and "did you mean 'cases_per_month'?" in problem.hint
    assert str(problem).endswith(f"({problem.hint})")


def test_a_pattern_may_hold_any_space_but_not_a_control_character(tmp_path: Path) -> None:
    """A non-breaking or zero-width space is text a customer may type; a backspace (YAML's
    reading of \\b in double quotes) is not."""
    rules = rules_copy(tmp_path)
    patch(
        rules,
        "priorities.yaml",
        "when: {request_type: [Installation]}",
        "when: {summary_matches: 'v\u00a0?\u200b?install'}",
    )
    load_ruleset(rules, None)


def test_priorities_listed_least_urgent_first_are_refused(tmp_path: Path) -> None:
    """The first level is the most urgent: listed P4 to P1, "at most P3" would raise a
    P4 feature request to P3 and let P1 and P2 ones through."""
    rules = rules_copy(tmp_path)
    text = (rules / "priorities.yaml").read_text(encoding="utf-8")
    block = re.search(r"(?m)^priorities:\n((?:  P\d: .*\n)+)", text)
    assert block is not None
    reversed_block = "".join(reversed(block.group(1).splitlines(keepends=True)))
    (rules / "priorities.yaml").write_text(text.replace(block.group(1), reversed_block))
    (problem,) = problems_of(rules)
    assert problem.line == text[: block.start(1)].count("\n") + 1
    assert "the levels are listed P4, P3, P2, P1" in problem.message
    assert problem.hint == "list them most urgent first: P1, P2, P3, P4"


def test_a_removed_date_that_is_no_holiday_is_refused_naming_the_holiday_near_it(
    tmp_path: Path,
) -> None:
    """Boxing Day 2026 is a Saturday, observed on Monday the 28th: removing the 26th
    opens nothing, and the 28th stays closed; nor does removing a day that is no
    holiday at all."""
    rules = rules_copy(tmp_path)
    patch(rules, "sla.yaml", "remove: []", "remove: [2026-12-25, 2026-12-26, 2027-01-02]")
    boxing, new_year = problems_of(rules)
    assert "'2026-12-26' (Boxing Day) is a Saturday, closed by the calendar's hours" in (
        boxing.message
    )
    assert boxing.hint == "did you mean 2026-12-28, Boxing Day (observed)?"
    assert "'2027-01-02' is not a holiday of AU-QLD" in new_year.message
    assert new_year.hint == "did you mean 2027-01-01, New Year's Day?"


@pytest.mark.parametrize("written", ["escalation-owner", "Escalation_Owner", "escalation_ownr"])
def test_an_assign_word_misspelt_is_not_taken_for_a_user(tmp_path: Path, written: str) -> None:
    """The step would assign nobody (no Jira user is called that) every cycle."""
    rules = rules_copy(tmp_path)
    patch(rules, "sla.yaml", "assign: escalation_owner", f"assign: {written}")
    (problem,) = problems_of(rules)
    assert f"{written!r} is neither named_engineer nor escalation_owner" in problem.message
    assert problem.hint is not None and "did you mean 'escalation_owner'?" in problem.hint


def test_an_assign_naming_a_user_is_taken_as_one(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    patch(rules, "sla.yaml", "assign: escalation_owner", "assign: jsmith")
    load_ruleset(rules, None)  # a Data Center user name: no problem


@pytest.mark.parametrize("zone", ["GMT", "EST"])
def test_a_fixed_offset_abbreviation_for_a_places_zone_is_refused(
    tmp_path: Path, zone: str
) -> None:
    """GMT for London has no British Summer Time: from April every due time is an hour
    out.  UTC is written on purpose, and stays allowed."""
    rules = rules_copy(tmp_path)
    patch(rules, "sla.yaml", "timezone: Europe/London", f"timezone: {zone}")
    (problem,) = problems_of(rules)
    assert f"timezone {zone} is a fixed offset from UTC, with no daylight saving" in problem.message
    patch(rules, "sla.yaml", f"timezone: {zone}", "timezone: UTC")
    load_ruleset(rules, None)


def test_a_misspelt_zone_is_not_offered_a_fixed_offset_abbreviation(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    patch(rules, "sla.yaml", "timezone: Europe/London", "timezone: AEST")
    (problem,) = problems_of(rules)
    assert problem.hint is None or "'EST'" not in problem.hint


def test_timezone_problem_suggests_the_closest_zone(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    patch(rules, "sla.yaml", "timezone: Europe/London", "timezone: Europe/Londn")
    (problem,) = problems_of(rules)
    assert problem.hint is not None and "Europe/London" in problem.hint


def test_all_problems_across_files_are_reported_at_once(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    patch(rules, "tiers.yaml", "contacts: 1,", "contacts: one,")
    patch(rules, "customers.yaml", "calendar: london", "calendar: paris")
    patch(rules, "priorities.yaml", "field: environment", "field: environmnet")
    patch(rules, "sla.yaml", "P2: 6h", "P2: 6 hours")
    patch(rules, "sla.yaml", "label: sla-at-risk", "label: sla at risk")
    problems = problems_of(rules)
    files = sorted({Path(p.file).name for p in problems})
    assert files == ["customers.yaml", "priorities.yaml", "sla.yaml", "tiers.yaml"]
    assert len(problems) == 5, "\n".join(map(str, problems))
    text = str(RulesInvalid(problems))
    assert text.startswith("5 problems in the rules:")


def test_missing_file_is_named(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    (rules / "customers.yaml").unlink()
    problems = problems_of(rules)
    assert [(Path(p.file).name, p.line, p.message) for p in problems] == [
        ("customers.yaml", None, "file not found")
    ]
    assert str(problems[0]).startswith(f"{rules / 'customers.yaml'}: file not found")


def test_missing_directory(tmp_path: Path) -> None:
    problems = problems_of(tmp_path / "nowhere")
    assert problems[0].message == "rules directory not found"


def test_empty_file(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    (rules / "priorities.yaml").write_text("# nothing yet\n")
    problems = problems_of(rules)
    assert [p.message for p in problems] == ["the file is empty"]


def test_unsafe_yaml_tags_are_refused(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    patch(rules, "tiers.yaml", "label: not-entitled", "label: !!python/object/apply:os.system [id]")
    problems = problems_of(rules)
    assert any("not valid YAML" in p.message for p in problems)


def test_known_fields_come_from_the_config(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    fields = (DEFAULT_FIELDS - {"impact"}) | {"severity"}
    problems = problems_of(rules, frozenset(fields))
    assert [p.message for p in problems] == [
        "required_information: fields: item 5: field: unknown field 'impact'"
    ]
    patch(rules, "sla.yaml", "{field: impact,", "{field: severity,")
    assert load_ruleset(rules, fields).required_information.fields[-2] == "severity"


def test_hours_variants_load(tmp_path: Path) -> None:
    rules = rules_copy(tmp_path)
    patch(
        rules,
        "sla.yaml",
        'hours: {mon-fri: "09:00-17:00"}\n    holidays: {country: AU',
        'hours: {mon-thu: ["08:00-12:00", "13:00-17:00"], fri: "08:00-12:00", sat: closed}\n'
        "    holidays: {country: AU",
    )
    calendar = load_ruleset(rules).calendars["brisbane"]
    assert calendar.weekly_hours[0] == ((time(8), time(12)), (time(13), time(17)))
    assert calendar.weekly_hours[4] == ((time(8), time(12)),)
    assert 5 not in calendar.weekly_hours


def test_escalation_steps_at_the_same_share_for_different_priorities_are_fine(
    tmp_path: Path,
) -> None:
    rules = rules_copy(tmp_path)
    patch(
        rules,
        "sla.yaml",
        "  - at: 75%\n",
        "  - at: 50%\n    priorities: [P3, P4]\n    actions:\n      - label: half-used\n"
        "  - at: 75%\n",
    )
    ladder = load_ruleset(rules).escalation
    assert [(s.index, s.at) for s in ladder] == [(0, 0.5), (1, 0.5), (2, 0.75), (3, 1.0)]
