"""The demo world (`bridge.sandbox.seed.demo` at its own moment, ``DEMO_NOW``) tells
plausible working-day stories, and shows defect 1 (a case naming no organisation) and
defect 5 (the shipped holiday calendars) as `make demo` runs them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from conftest import Sandbox, SandboxFactory
from e2e_helpers import BridgeFactory, end_state, explain, find_key, write_config

from bridge.rules.load import load_ruleset
from bridge.sandbox import seed as seeds

ROOT = Path(__file__).resolve().parent.parent


def test_every_demo_case_is_raised_and_answered_in_its_customers_office_hours() -> None:
    """Each case is raised in business hours on a working day of its customer's own
    calendar (the shipped rules': zone, hours, holidays), and so is every agent's public
    answer; keys follow creation, as Jira numbers them."""
    store = seeds.build("demo", frozen=True)
    rules = load_ruleset(ROOT / "rules")
    org_field = store.field_by_name("Organizations")
    assert org_field is not None
    outside: list[str] = []
    created: list[datetime] = []
    for issue in store.iter_issues():
        ids = issue.values.get(org_field.id) or []
        reporter = issue.values["reporter"]
        orgs = ids or [o.id for o in store.organizations.values() if reporter in o.members]
        customer = rules.customers.get(store.organizations[orgs[0]].name)
        calendar = rules.calendars[customer.calendar if customer else rules.default_calendar]
        at = issue.values["created"]
        created.append(at)
        if not calendar.is_open(at):
            outside.append(f"{issue.key} raised {at.astimezone(calendar.tz):%a %d %b %H:%M %Z}")
        for comment in issue.comments:
            author = store.users[comment.author]
            internal = (comment.properties or {}).get("sd.public.comment", {}).get("internal")
            if not author.is_customer and not internal and not calendar.is_open(comment.created):
                when = comment.created.astimezone(calendar.tz)
                outside.append(f"{issue.key} answered {when:%a %d %b %H:%M %Z}")
    assert outside == []
    assert created == sorted(created) and len(set(created)) == len(created)


def test_demo_shows_defect_1_a_case_naming_no_organisation_keeps_its_sla(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """Globex's contact raised a case without picking an organisation: the bridge finds
    Globex from the e-mail (Enterprise, clock running) and ranks it in Globex's month,
    the same place whether the scope is the project or the cases naming none."""
    places = []
    for scope in ("project = SUP", "project = SUP AND Organizations is EMPTY"):
        sb = sandbox_factory()
        key = find_key(sb, "opCharts e-mails every report twice")
        bridges(sb, jql=scope).cycle()
        case = end_state(sb, key)
        assert case.field("Support tier") == "Enterprise"
        assert case.field("SLA state") == "running"
        assert "unknown-customer" not in case.labels
        places.append(case.field("Cases this month"))
    assert places[0] == places[1]
    assert places[0].endswith(" of 20") and int(places[0].split()[0]) > 10


def test_demo_shows_defect_5_election_day_is_a_working_day_in_new_york(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Globex's P1 raised on Tuesday 3 November 2026, Election Day: New York State lists
    it, New York businesses work it, and so does the shipped New York calendar (due the
    same afternoon, four business hours on); `explain` names the day."""
    key = find_key(sandbox, "BGP peers flapping: opEvents floods the console")
    config = write_config(sandbox, tmp_path)
    text = explain(key, config, sandbox.now, capsys)
    assert "created Tue 3 Nov 2026 09:20 EST -> due Tue 3 Nov 2026 13:20 EST" in text, text
    assert "Tue 03 Nov 2026 Election Day (the office works it" in text
