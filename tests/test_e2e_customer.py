"""Issue 12's customer, quota and entitlement items, end to end against the sandbox.

Each test is named after the defect or clause it guards and runs on both dialects
where the wire differs (Data Center users carry no accountType and no accountId)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import SANDBOX_NOW, SandboxFactory
from e2e_helpers import (
    BRIDGE,
    SAM,
    BridgeFactory,
    clock_at,
    comment,
    end_state,
    explain,
    new_case,
    resolved_then_open,
    transition,
    write_config,
)

from bridge import cli
from bridge.sandbox import seed as seeds
from bridge.sandbox.store import User

FLAVOURS = ["cloud", "datacenter"]


def _customer(sb: object, email: str, name: str, *orgs: str) -> None:
    """A portal customer, a member of ``orgs`` (JSM organisations) and no contact."""
    store = sb.store  # type: ignore[attr-defined]
    user = User(f"qm:{email}", email, name, account_type="customer", token=seeds.CUSTOMER_TOKEN)
    store.add_user(user)
    for org in orgs:
        store.organization_by_name(org).members.append(user.account_id)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_defect_1_case_without_organisation_keeps_its_sla(
    flavour: str,
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Four P1s raised without an organisation: an authorised contact's keeps its
    customer's SLA; a mere member of a customer's JSM organisation is that customer's
    (and flagged as no authorised contact); a reporter of no customer is unknown and the
    comment names the reporter; one in two customers' organisations is not guessed."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    _customer(sb, "pat@partner.example", "Pat Partner", "Acme Networks", "Initech Systems")
    created = SANDBOX_NOW - timedelta(minutes=30)
    keys = {
        who: new_case(sb, org=None, reporter=who, priority="Blocker", created=created)
        for who in (
            "ops@acme.example",  # Acme's authorised contact
            "bob@initech.example",  # in Initech's JSM organisation, not a contact
            "help@umbrella.example",  # Umbrella Labs has no agreement
            "pat@partner.example",  # in Acme's and Initech's organisations
        )
    }
    # a later case of Acme's, naming it: the case without one counts in Acme's month
    named = new_case(sb, priority="Blocker", created=created + timedelta(minutes=5))
    bridges(sb).cycle()
    assert end_state(sb, named).field("Cases this month") == "2 of 4"

    contact = end_state(sb, keys["ops@acme.example"])
    assert contact.field("SLA state") == "running"
    assert contact.field("Support tier") == "Standard"
    assert contact.field("Response due") is not None
    assert contact.field("Cases this month") is not None
    assert "unknown-customer" not in contact.labels
    assert "unauthorised-contact" not in contact.labels

    member = end_state(sb, keys["bob@initech.example"])
    assert member.field("Support tier") == "Premium"
    assert member.field("SLA state") == "running"
    assert "unauthorised-contact" in member.labels
    [flagged] = member.bridge_comments_containing("not an authorised contact")
    assert "Initech Systems" in flagged.body

    stranger = end_state(sb, keys["help@umbrella.example"])
    assert "unknown-customer" in stranger.labels
    assert stranger.field("SLA state") is None
    [said] = stranger.bridge_comments
    assert "help@umbrella.example" in said.body and not said.public
    assert ":  has" not in said.body

    several = end_state(sb, keys["pat@partner.example"])
    assert "unknown-customer" in several.labels
    assert several.field("SLA state") is None
    [said] = several.bridge_comments
    assert "Acme Networks, Initech Systems" in said.body and "pat@partner.example" in said.body
    assert all(c.author == BRIDGE for c in several.comments)

    config = write_config(sb, tmp_path)
    text = explain(keys["bob@initech.example"], config, SANDBOX_NOW, capsys)
    assert "its reporter bob@initech.example is a member of the JSM organisation of " in text
    assert "Initech Systems, so it is theirs" in text
    text = explain(keys["pat@partner.example"], config, SANDBOX_NOW, capsys)
    assert "matches several customers (Acme Networks, Initech Systems)" in text
    # explain ranks from the month's search, which finds the case naming no organisation
    assert "quota: case 2 of 4 in 2026-11" in explain(named, config, SANDBOX_NOW, capsys)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_defect_1_case_without_organisation_counts_in_its_customers_month_whatever_the_scope(
    flavour: str,
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Acme's contact raises seven cases naming Acme, then one naming no organisation.
    A bridge scoped to the cases naming none ranks it among Acme's whole month (8 of 4,
    over quota), and one scoped to Acme's organisation counts it before Acme's next
    named case (9 of 4): the month is Acme's, whatever the scope reads.  `check` says
    such a scope costs a search outside it each cycle."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    start = SANDBOX_NOW - timedelta(days=2)
    named = [new_case(sb, created=start + timedelta(minutes=n)) for n in range(7)]
    loose = new_case(sb, org=None, reporter="ops@acme.example", created=start + timedelta(hours=1))
    later = new_case(sb, created=start + timedelta(hours=2))
    for scope, key, place in (
        ("project = SUP AND Organizations is EMPTY", loose, "8 of 4"),
        ('project = SUP AND Organizations = "Acme Networks"', later, "9 of 4"),
    ):
        bridge = bridges(sb, flavour=flavour, jql=scope)
        assert bridge.cycle().report.full
        assert end_state(sb, key).field("Cases this month") == place, scope
        assert "over-quota" in end_state(sb, key).labels
        # and the same place from the local record on the next (incremental) cycle
        sb.advance("5m")
        transition(sb, key, "Start work")
        assert not bridge.cycle().report.full
        assert end_state(sb, key).field("Cases this month") == place, scope
    assert end_state(sb, named[3]).field("Cases this month") == "4 of 4"

    config = write_config(sb, tmp_path)
    text = config.read_text(encoding="utf-8")
    scope = "project = SUP AND Organizations is EMPTY"
    config.write_text(text.replace("jql: ", f"jql: {scope!r} # was: ", 1), encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "jira.jql selects cases by organisation (Organizations is EMPTY)" in out, out
    # the same clause naming the field by its id: only the site can say which field that
    # is, so `check` alone is silent and `check --online` warns
    config.write_text(
        text.replace("jql: ", f"jql: {scope.replace('Organizations', 'cf[10002]')!r} # was: ", 1),
        encoding="utf-8",
    )
    assert cli.main(["check", "--config", str(config)]) == 0
    assert "selects cases by organisation" not in capsys.readouterr().out
    cli.main(["check", "--online", "--config", str(config)])
    out = capsys.readouterr().out
    assert "jira.jql selects cases by organisation (cf[10002] is EMPTY)" in out, out


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_defect_4_flagged_cases_do_not_use_up_the_quota(
    flavour: str,
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Acme (Standard, 4 cases a month): an intern who is no authorised contact raises
    two cases and the contact asks for a screen share the tier lacks, before the
    contact's four real cases.  Those four are cases 1-4 of 4, not 4-7; the fifth real
    one is over quota.  Ranked from a full read, from the local record, and (explain)
    from the month's search, which reads each case's reporter and request type."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    start = SANDBOX_NOW - timedelta(hours=20)
    flagged = [
        new_case(sb, reporter="intern@acme.example", created=start),
        new_case(sb, reporter="intern@acme.example", created=start + timedelta(minutes=1)),
        new_case(sb, request_type="Screen share session", created=start + timedelta(minutes=2)),
    ]
    good = [new_case(sb, created=start + timedelta(minutes=10 + n)) for n in range(4)]
    bridge = bridges(sb)
    bridge.cycle()
    assert [end_state(sb, k).field("Cases this month") for k in good] == [
        f"{n} of 4" for n in (1, 2, 3, 4)
    ]
    for key in flagged + good:
        assert "over-quota" not in end_state(sb, key).labels, key
    assert {"unauthorised-contact"} <= end_state(sb, flagged[0]).labels
    assert {"not-entitled"} <= end_state(sb, flagged[2]).labels

    sb.advance("30m")
    fifth = new_case(sb, created=sb.now - timedelta(minutes=5))
    bridge.cycle()
    assert end_state(sb, fifth).field("Cases this month") == "5 of 4"
    assert "over-quota" in end_state(sb, fifth).labels

    config = write_config(sb, tmp_path)
    text = explain(good[3], config, sb.now, capsys)
    assert "quota: case 4 of 4 in 2026-11" in text
    assert f"not counted: {', '.join(flagged)}" in text
    text = explain(flagged[0], config, sb.now, capsys)
    assert "is not counted in 2026-11: flagged unauthorised contact" in text


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_defect_12_quota_counts_the_month_whatever_the_scope_leaves_out(
    flavour: str,
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A scope of unresolved cases only (``resolution = EMPTY``): Acme's three cases
    resolved earlier this month still count, so its two open ones are cases 4 and 5 of 4
    on the first (full) cycle, and a new one is 6 of 4 on the next (incremental) one.
    `check` names the clause and says what to do."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    open_keys = resolved_then_open(sb)
    scope = "project = SUP AND resolution = EMPTY"
    bridge = bridges(sb, flavour=flavour, jql=scope)
    bridge.cycle()
    assert [end_state(sb, k).field("Cases this month") for k in open_keys] == ["4 of 4", "5 of 4"]
    assert "over-quota" in end_state(sb, open_keys[1]).labels
    sb.advance("30m")
    later = new_case(sb, created=sb.now - timedelta(minutes=5))
    assert not bridge.cycle().report.full
    assert end_state(sb, later).field("Cases this month") == "6 of 4"

    config = write_config(sb, tmp_path)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("jql: ", f"jql: {scope!r} # was: ", 1), encoding="utf-8")
    capsys.readouterr()
    assert cli.main(["check", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    line = next(n for n, t in enumerate(text.splitlines(), 1) if t.strip().startswith("jql:"))
    assert f"warning: {config}:{line}: jira.jql selects cases by status or resolution" in out
    assert "(resolution = EMPTY)" in out and "remove the clause" in out


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_clause_standard_and_premium_contact_us_via_the_portal(
    flavour: str,
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """JSM records each request's channel (JQL request-channel-type).  A Standard case
    raised by e-mail and a Premium one raised through the API get the reminder (label and
    public comment, once); a Standard case from the portal and an Enterprise case by
    e-mail (Enterprise customers contact their engineer directly) do not."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    created = SANDBOX_NOW - timedelta(hours=1)
    cases = {
        ("Acme Networks", "email"): True,
        ("Acme Networks", "portal"): False,
        ("Initech Systems", "api"): True,
        ("Globex Telecom", "email"): False,
    }
    keys = {}
    for org, channel in cases:
        key = new_case(sb, org=org, created=created)
        sb.store.issue(key).channel = channel
        keys[org, channel] = key
    bridge = bridges(sb)
    bridge.cycle()
    for case, reminded in cases.items():
        issue = end_state(sb, keys[case])
        assert ("raised-outside-portal" in issue.labels) is reminded, case
        said = issue.bridge_comments_containing("please raise your next case through our")
        assert len(said) == (1 if reminded else 0), case
        assert all(c.public for c in said)
    acme = end_state(sb, keys["Acme Networks", "email"])
    assert any("As a Standard support customer" in c.body for c in acme.bridge_comments)
    sb.advance("10m")
    sb.reset_requests()
    bridge.cycle()
    assert sb.requests.count(kind="write") == 0  # the reminder is given once

    config = write_config(sb, tmp_path)
    text = explain(keys["Acme Networks", "email"], config, sb.now, capsys)
    assert "raised by email: Standard customers contact us via the support portal" in text
    text = explain(keys["Acme Networks", "portal"], config, sb.now, capsys)
    assert "not raised by api or email (JQL request-channel-type): no reminder" in text


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_an_answered_case_raised_by_email_is_not_thanked_for_its_request(
    flavour: str,
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """At go-live the bridge meets a two-week-old case raised by e-mail that an engineer
    answered long ago: it gets the label (it was raised outside the portal) but not the
    public "thank you, we have your request" reminder.  A new e-mail case gets the
    reminder once, and keeps its label after an engineer answers it; an answer does not
    bring a reminder back."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    old_day = SANDBOX_NOW - timedelta(days=14)
    old = new_case(sb, org="Initech Systems", created=old_day)
    fresh = new_case(sb, created=SANDBOX_NOW - timedelta(hours=1))
    for key in (old, fresh):
        sb.store.issue(key).channel = "email"
    with clock_at(sb, old_day + timedelta(hours=1)):
        comment(sb, old, "Hi, we're looking at this now.", by=SAM)
    bridge = bridges(sb)
    bridge.cycle()

    reminder = "please raise your next case through our"
    issue = end_state(sb, old)
    assert "raised-outside-portal" in issue.labels
    assert issue.bridge_comments_containing(reminder) == []
    issue = end_state(sb, fresh)
    assert "raised-outside-portal" in issue.labels
    assert len(issue.bridge_comments_containing(reminder)) == 1

    sb.advance("10m")
    comment(sb, fresh, "We are on it.", by=SAM)
    sb.advance("10m")
    bridge.cycle()
    issue = end_state(sb, fresh)
    assert "raised-outside-portal" in issue.labels
    assert len(issue.bridge_comments_containing(reminder)) == 1
    sb.advance("10m")
    assert bridge.cycle().writes == 0

    config = write_config(sb, tmp_path)
    text = explain(old, config, sb.now, capsys)
    assert "raised by email, but already answered: no reminder" in text


def _at(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T10:00:00+10:00")


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_clause_architecture_workshop_once_per_contract_year(
    flavour: str,
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Initech (Premium; contract years from 1 April): a workshop last contract year, one
    in June (held, resolved) and one asked for now.  June's is this year's one workshop,
    so today's is flagged not entitled and its comment names the June case."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    workshop = {"org": "Initech Systems", "request_type": "Architecture workshop"}
    last_year = new_case(sb, created=_at("2026-03-20"), **workshop)
    june = new_case(sb, created=_at("2026-06-01"), **workshop)
    transition(sb, june, "Resolve")
    today = new_case(sb, created=SANDBOX_NOW - timedelta(hours=1), **workshop)
    bridges(sb).cycle()
    assert "not-entitled" not in end_state(sb, june).labels
    refused = end_state(sb, today)
    assert "not-entitled" in refused.labels
    [said] = refused.bridge_comments_containing("is not included")
    assert said.public and last_year not in said.body
    assert said.body == (
        f"{today}: Architecture workshop is not included: the architecture workshop is "
        f"included once per contract year (from 2026-04-01), used by {june}. Your account "
        "manager can arrange another."
    )

    config = write_config(sb, tmp_path)
    assert (
        "needs architecture_workshop: not entitled, the architecture workshop is included "
        f"once per contract year (from 2026-04-01), used by {june}"
        in explain(today, config, sb.now, capsys)
    )


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_clause_a_webinar_for_every_product_bought(
    flavour: str, sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    """Globex (Enterprise; bought NMIS and opCharts; contract years from 1 July): an
    NMIS webinar in August, and now another NMIS one (already given this contract year),
    an opEvents one (not bought) and an opCharts one (entitled)."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=SANDBOX_NOW)
    webinar = {"org": "Globex Telecom", "request_type": "Product webinar"}
    now = SANDBOX_NOW - timedelta(hours=1)
    august = new_case(sb, created=_at("2026-08-03"), product="NMIS", **webinar)
    again = new_case(sb, created=now, product="NMIS", **webinar)
    not_bought = new_case(sb, created=now, product="opEvents", **webinar)
    charts = new_case(sb, created=now, product="opCharts", **webinar)
    bridges(sb).cycle()
    for key in (august, charts):
        assert "not-entitled" not in end_state(sb, key).labels, key
    [said] = end_state(sb, again).bridge_comments_containing("is not included")
    assert said.body == (
        f"{again}: Product webinar is not included: the product webinar for NMIS is included "
        f"once per contract year (from 2026-07-01), used by {august}. Your account manager "
        "can arrange another."
    )
    # a product never bought: the account manager can arrange one, not "another"
    [said] = end_state(sb, not_bought).bridge_comments_containing("is not included")
    assert said.body == (
        f"{not_bought}: Product webinar is not included: opEvents is not a product Globex "
        "Telecom bought (NMIS, opCharts). Your account manager can arrange one."
    )
    assert "not-entitled" in end_state(sb, not_bought).labels
