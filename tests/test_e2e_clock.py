"""The response clock, the calendars and the ladder as the support terms have them
(issue 12, defects 3, 5, 6, 8, 10, 11, 13), end to end: the real bridge against the
sandbox over HTTP.

Brisbane times; 24 Nov 2026 is a Tuesday.  An Acme Networks (Standard, Brisbane)
P1 created at 09:00 is due at 13:00; a Globex Telecom (Enterprise, New York) case
gets its named engineer, Jane.
"""

from __future__ import annotations

import dataclasses
import shutil
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from conftest import Sandbox, SandboxFactory
from e2e_helpers import (
    JANE,
    PRIYA,
    RULES,
    SAM,
    Bridge,
    BridgeFactory,
    acme_month_used,
    agent,
    assign,
    clock_at,
    comment,
    end_state,
    explain,
    new_case,
    transition,
    write_config,
)

from bridge import cli
from bridge.rules.load import load_ruleset
from bridge.sandbox.store import User

BNE = ZoneInfo("Australia/Brisbane")
NYC = ZoneInfo("America/New_York")
LON = ZoneInfo("Europe/London")
FLAVOURS = ("cloud", "datacenter")
HALF_WAY = "has used half its response time"
BREACH_COMMENT = "breached its"


def t(day: int, hour: int, minute: int = 0, second: int = 0, tz: ZoneInfo = BNE) -> datetime:
    return datetime(2026, 11, day, hour, minute, second, tzinfo=tz)


def breach_marks(sb: Sandbox, key: str) -> tuple[bool, int, str]:
    """(has the sla-breached label, breach comments, status)."""
    issue = end_state(sb, key)
    return (
        "sla-breached" in issue.labels,
        len(issue.bridge_comments_containing(BREACH_COMMENT)),
        issue.status,
    )


# ------------------------------------------------------------------------- defect 11


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_defect_11_answered_at_due_instant_is_met_not_breached(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    flavour: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 13))
    answered = new_case(sb, priority="Blocker", created=t(24, 9))  # P1: due 13:00
    unanswered = new_case(sb, priority="Blocker", created=t(24, 9), summary="Collector down")
    bridge = bridges(sb)

    bridge.cycle(t(24, 13))  # exactly the due instant: nothing is breached yet
    for key in (answered, unanswered):
        assert end_state(sb, key).field("SLA state") == "at_risk"
        assert breach_marks(sb, key) == (False, 0, "Open")
    config = write_config(sb, tmp_path)
    text = explain(unanswered, config, t(24, 13), capsys)
    assert "breach is strictly after due" in text

    comment(sb, answered, "We are on it: please send the collector log.", by=JANE)  # at 13:00
    sb.set_now(t(24, 13, 5))
    bridge.cycle()
    issue = end_state(sb, answered)
    assert (issue.field("SLA state"), issue.field("Response due")) == ("met", t(24, 13))
    assert breach_marks(sb, answered) == (False, 0, "Open")
    assert "answered at the due instant: met" in explain(answered, config, t(24, 13, 5), capsys)
    # the case nobody answered is breached just after
    assert end_state(sb, unanswered).field("SLA state") == "breached"
    assert breach_marks(sb, unanswered) == (True, 1, "Escalated")


# -------------------------------------------------------------------------- defect 6


def test_defect_6_escalation_step_fires_once_whatever_pauses_come_between(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(seed="empty", now=t(24, 11, 5))
    key = new_case(sb, priority="Blocker", created=t(24, 9))  # P1: due 13:00, half-way 11:00
    bridge = bridges(sb)
    bridge.cycle()
    assert len(end_state(sb, key).bridge_comments_containing(HALF_WAY)) == 1

    with clock_at(sb, t(24, 11, 10)):
        transition(sb, key, "Needs approval", by=SAM)  # held: the clock stops
    sb.set_now(t(24, 11, 30))
    bridge.cycle()
    assert end_state(sb, key).field("SLA state") == "paused"
    with clock_at(sb, t(24, 12, 10)):
        transition(sb, key, "Approve", by=SAM)  # back to Open: the clock runs again
    sb.set_now(t(24, 12, 15))
    bridge.cycle()
    issue = end_state(sb, key)
    # one hour held: due 14:00, the half-way step not taken again
    assert (issue.field("SLA state"), issue.field("Response due")) == ("running", t(24, 14))
    assert len(issue.bridge_comments_containing(HALF_WAY)) == 1
    sb.set_now(t(24, 12, 20))
    assert bridge.cycle().writes == 0
    text = explain(key, write_config(sb, tmp_path), t(24, 12, 20), capsys)
    assert "steps taken before a hold are not taken again" in text


# -------------------------------------------------------------------------- defect 8


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_defect_8_customer_transition_and_parked_case_do_not_stop_the_clock(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    flavour: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 9, 30))
    by_customer = new_case(sb, priority="Blocker", created=t(24, 9))
    parked = new_case(sb, priority="Blocker", created=t(24, 9), summary="Collector down")
    # the customer moves their own case to "Work in progress" on the portal
    session = agent(sb, "ops@acme.example")
    url = f"{sb.url}/rest/servicedeskapi/request/{by_customer}/transition"
    assert session.post(url, json={"id": "11"}).status_code == 204  # "Start work"
    assert end_state(sb, by_customer).status == "Work in progress"
    # an agent parks the other in "Waiting for customer" without a public reply
    transition(sb, parked, "Wait for customer", by=SAM)

    sb.set_now(t(24, 13, 30))
    config = write_config(sb, tmp_path)
    text = explain(by_customer, config, t(24, 13, 30), capsys)
    assert "not a response (only an agent's action is)" in text
    text = explain(parked, config, t(24, 13, 30), capsys)
    assert "no agent has replied publicly yet: the clock keeps running" in text
    bridges(sb).cycle()
    for key in (by_customer, parked):
        issue = end_state(sb, key)
        assert (issue.field("SLA state"), issue.field("Response due")) == ("breached", t(24, 13))
        assert "sla-breached" in issue.labels


# ------------------------------------------------------------------------- defect 10


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_defect_10_named_engineer_is_not_assigned_again_after_an_engineer_unassigned(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    flavour: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 9, 5, tz=NYC))
    key = new_case(sb, org="Globex Telecom", priority="Blocker", created=t(24, 9, tz=NYC))
    bridge = bridges(sb)
    bridge.cycle()
    assert end_state(sb, key).assignee == JANE  # no person has assigned it: the named engineer

    response = agent(sb, SAM).put(
        f"{sb.url}/rest/api/2/issue/{key}", json={"fields": {"assignee": None}}
    )
    assert response.status_code == 204, response.text
    sb.set_now(t(24, 13, 30, tz=NYC))  # past the 75 % step too
    bridge.cycle()
    assert end_state(sb, key).assignee is None  # the engineer's unassign stands
    text = explain(key, write_config(sb, tmp_path), t(24, 13, 30, tz=NYC), capsys)
    assert "unassigned by a person (changelog)" in text


# -------------------------------------------------------------------------- defect 3


def _bridge_holding(sb: Sandbox, bridges: BridgeFactory, tmp_path: Path) -> tuple[Bridge, Path]:
    """A bridge whose rules move over-quota cases into Pending approval themselves, and
    a config for the commands with those rules."""
    bridge = bridges(sb)
    rules = _rules_with_approval_hold(tmp_path)
    bridge.engine.ruleset = load_ruleset(rules, tuple(bridge.runtime.settings.fields))
    config = write_config(sb, tmp_path)
    tree = yaml.safe_load(config.read_text(encoding="utf-8"))
    tree["rules"] = str(rules)
    config.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return bridge, config


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_a_held_case_back_within_its_quota_stays_held_until_it_leaves_approval(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    flavour: str,
    tmp_path: Path,
) -> None:
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 9, 5))
    first, *_ = acme_month_used(sb, t(1, 0))
    key = new_case(sb, priority="Blocker", created=t(24, 9))  # the fifth: over quota
    bridge, _ = _bridge_holding(sb, bridges, tmp_path)
    bridge.cycle()
    assert end_state(sb, key).status == "Pending approval"  # the bridge's move: held
    with clock_at(sb, t(24, 10)):  # an older case was a duplicate: within the quota now
        transition(sb, first, "Resolve", by=JANE, resolution="Duplicate")
    sb.set_now(t(24, 14))
    bridge.cycle()
    issue = end_state(sb, key)
    assert "over-quota" not in issue.labels
    # the hold is the bridge's move: it goes on, the due time keeps its last value
    assert (issue.field("SLA state"), issue.field("Response due")) == ("paused", t(24, 13))
    assert breach_marks(sb, key) == (False, 0, "Pending approval")
    with clock_at(sb, t(24, 14, 5)):
        transition(sb, key, "Approve", by=SAM)  # 09:05-14:05 held: 5h of business time
    sb.set_now(t(24, 14, 10))
    bridge.cycle()
    issue = end_state(sb, key)
    assert (issue.field("SLA state"), issue.field("Response due")) == ("running", t(25, 10))


def _rules_with_approval_hold(tmp_path: Path) -> Path:
    """The shipped rules with the documented over-quota hold switched on."""
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    tiers = rules / "tiers.yaml"
    tree = yaml.safe_load(tiers.read_text(encoding="utf-8"))
    tree["quota"]["over_quota"]["transition"] = "Needs approval"
    tiers.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return rules


def test_defect_3_over_quota_case_held_for_approval_is_paused_not_breached(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(seed="empty", now=t(24, 9, 5))
    for day in (2, 3, 4, 5):  # Acme's four cases of November
        new_case(sb, priority="Minor", created=t(day, 10), summary=f"Question {day}")
    key = new_case(sb, priority="Blocker", created=t(24, 9))  # the fifth: over quota
    rules = _rules_with_approval_hold(tmp_path)
    bridge = bridges(sb)
    settings = bridge.runtime.settings
    bridge.engine.ruleset = load_ruleset(rules, tuple(settings.fields))
    bridge.cycle()
    assert end_state(sb, key).status == "Pending approval"

    sb.set_now(t(24, 14))  # an hour past the due time it had
    bridge.cycle()
    issue = end_state(sb, key)
    assert (issue.field("SLA state"), issue.field("Response due")) == ("paused", t(24, 13))
    assert breach_marks(sb, key) == (False, 0, "Pending approval")
    assert not issue.bridge_comments_containing(HALF_WAY)

    config = write_config(sb, tmp_path)
    tree = yaml.safe_load(config.read_text(encoding="utf-8"))
    tree["rules"] = str(rules)
    config.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    text = explain(key, config, t(24, 14), capsys)
    assert "held for quota approval: the report counts the case apart" in text
    out = tmp_path / "report"
    argv = ["report", "--month", "2026-11", "--config", str(config), "--out", str(out)]
    assert cli.main([*argv, "--now", t(24, 14).isoformat()]) == 0
    capsys.readouterr()
    acme = next(
        row
        for row in (out / "report.csv").read_text(encoding="utf-8").splitlines()
        if ",Acme Networks,Standard,all," in row
    )
    header = (out / "report.csv").read_text(encoding="utf-8").splitlines()[0].split(",")
    row = dict(zip(header, acme.split(","), strict=True))
    # held apart; the breached are the four questions of early November nobody answered
    assert (row["held_for_approval"], row["breached"], row["paused"]) == ("1", "4", "0")

    with clock_at(sb, t(24, 14, 30)):
        transition(sb, key, "Approve", by=SAM)  # 09:05-14:30 held: 5h25 of business time
    sb.set_now(t(24, 14, 35))
    bridge.cycle()
    issue = end_state(sb, key)
    assert (issue.field("SLA state"), issue.field("Response due")) == ("running", t(25, 10, 25))


# ------------------------------------------------------------------------- defect 13


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_defect_13_the_ladder_brings_in_the_regional_lead_for_standard_and_premium(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    flavour: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 11, 55))
    acme = new_case(sb, priority="Blocker", created=t(24, 9))  # Standard, Brisbane: 75 % at 12:00
    initech = new_case(  # Premium, London; an engineer already owns it
        sb,
        org="Initech Systems",
        priority="Blocker",
        created=t(24, 9, tz=LON),
        summary="Collector down",
    )
    assign(sb, initech, JANE)
    bridge = bridges(sb)
    bridge.cycle()
    assert end_state(sb, acme).assignee is None  # 11:55: not yet at 75 %

    sb.set_now(t(24, 12, 5))
    text = explain(acme, write_config(sb, tmp_path), t(24, 12, 5), capsys)
    assert "assign to priya.lead@vendor.example" in text
    bridge.cycle()
    issue = end_state(sb, acme)
    assert issue.assignee == PRIYA  # Brisbane's regional lead takes the unowned case
    (help_call,) = issue.bridge_comments_containing("needs help")
    lead = _mention(sb, PRIYA)  # a mention: Jira notifies the lead
    assert _line_starting(help_call.body, f"{lead}: {acme} (P1, Standard, Acme Networks)")
    assert not help_call.public

    sb.set_now(t(24, 12, 5, tz=LON))
    bridge.cycle()
    issue = end_state(sb, initech)
    assert issue.assignee == JANE  # the engineer who owns it keeps it
    (help_call,) = issue.bridge_comments_containing("needs help")
    # (posted in the same cycle as the half-way note: one comment carries both)
    assert _line_starting(help_call.body, f"{lead}: {initech} (P1, Premium, Initech Systems)")


def _mention(sb: Sandbox, email: str) -> str:
    """Jira's wiki-markup mention of a user: by account id on Cloud, by name on DC."""
    user = sb.store.user_by_email(email)
    assert user is not None
    return f"[~accountid:{user.account_id}]" if sb.flavour == "cloud" else f"[~{user.name}]"


def _line_starting(body: str, start: str) -> bool:
    return any(line.startswith(start) for line in body.splitlines())


# -------------------------------------------------------------------------- defect 5


def test_defect_5_shipped_calendars_close_on_the_days_the_city_does(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(seed="empty")
    # New York works on Election Day (Tue 3 Nov 2026): a P1 raised at 09:00 is due 13:00
    election_day = new_case(
        sb, org="Globex Telecom", priority="Blocker", created=datetime(2026, 11, 3, 9, tzinfo=NYC)
    )
    # London closes on the August bank holiday (Mon 31 Aug 2026): a P1 raised on Friday
    # at 15:00 has 2 h that day, then 2 h on Tuesday
    bank_holiday = new_case(
        sb,
        org="Initech Systems",
        priority="Blocker",
        created=datetime(2026, 8, 28, 15, tzinfo=LON),
        summary="Collector down",
    )
    bridges(sb).cycle()
    assert end_state(sb, election_day).field("Response due") == datetime(
        2026, 11, 3, 13, tzinfo=NYC
    )
    assert end_state(sb, bank_holiday).field("Response due") == datetime(2026, 9, 1, 11, tzinfo=LON)
    text = explain(bank_holiday, write_config(sb, tmp_path), sb.now, capsys)
    assert "closed between creation and due: Mon 31 Aug 2026 Late Summer Bank Holiday" in text


# ----------------------------------------------------------------- automation (Cloud)


def test_an_automations_public_reply_is_no_initial_response(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Jira Cloud names an app's system account ``accountType: "app"`` (Automation for
    Jira, an integration).  Its automatic public "we have received your request" is not
    an agent's initial response: the clock runs on and breaches."""
    sb = sandbox_factory(seed="empty", flavour="cloud", now=t(24, 9, 1))
    robot = User("app-automation", "automation@connect.example", "Automation for Jira", "app")
    sb.store.add_user(dataclasses.replace(robot, token="robot-token"))
    key = new_case(sb, priority="Blocker", created=t(24, 9))
    robot_session = sb.session(robot.email)
    url = f"{sb.url}/rest/api/2/issue/{key}/comment"
    assert robot_session.post(url, json={"body": "We have received your request."}).ok
    sb.set_now(t(24, 13, 30))
    text = explain(key, write_config(sb, tmp_path), t(24, 13, 30), capsys)
    assert "public comment by Automation for Jira" in text
    assert "an app's account, not an agent, so not a response" in text
    bridges(sb).cycle()
    issue = end_state(sb, key)
    assert (issue.field("SLA state"), issue.field("Response due")) == ("breached", t(24, 13))
    assert "sla-breached" in issue.labels
