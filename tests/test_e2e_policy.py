"""SPEC §2 end to end: every policy clause, read back from the sandbox after a real cycle.

The bridge runs against the sandbox over HTTP on loopback (both flavours); each test
checks the END STATE of the site — fields, labels, priority, assignee, comments and
their visibility, status — for cases built to exercise one clause each.

Times: the sandbox's frozen clock is Tue 24 Nov 2026 10:00 Brisbane, which is Tue
00:00 in London and Mon 23 Nov 19:00 in New York (after hours).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import Sandbox, SandboxFactory
from e2e_helpers import (
    BRIDGE,
    JANE,
    SAM,
    SLA_FIELDS,
    Bridge,
    BridgeFactory,
    CommentView,
    CycleRun,
    add_label,
    api_issue,
    assign,
    clock_at,
    comment,
    end_state,
    new_case,
    set_fields_as,
    start_sandbox,
    transition,
)

from bridge.jira.port import JiraError

BNE = ZoneInfo("Australia/Brisbane")
LON = ZoneInfo("Europe/London")
NYC = ZoneInfo("America/New_York")


def t(day: int, hour: int, minute: int = 0, tz: ZoneInfo = BNE, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=tz)


# ------------------------------------------------------------------------ the clause world


@dataclass
class World:
    sb: Sandbox
    bridge: Bridge
    keys: dict[str, str]
    first: CycleRun

    def __getitem__(self, name: str) -> str:
        return self.keys[name]


def _build_world(sb: Sandbox) -> dict[str, str]:
    k: dict[str, str] = {}
    # Acme Networks (Standard, Brisbane): four cases this month, so none is over quota
    k["acme_screen"] = new_case(
        sb, summary="Screen share please", request_type="Screen share session",
        priority="Minor", created=t(24, 9, 0),
    )  # fmt: skip
    k["acme_running"] = new_case(sb, priority="Critical", created=t(24, 9, 0))
    k["acme_intern"] = new_case(sb, reporter="intern@acme.example", created=t(24, 9, 5))
    k["acme_install"] = new_case(
        sb, request_type="Installation", priority="Critical", created=t(23, 10)
    )
    # Initech Systems (Premium, London): ten cases, created Mon 23 Nov 14:00 London
    mon = t(23, 14, tz=LON)
    ini = "Initech Systems"
    k["staging"] = new_case(sb, org=ini, env="Staging", priority="Blocker", created=mon)
    k["testenv"] = new_case(sb, org=ini, env="Test", priority="Critical", created=mon)
    k["noenv"] = new_case(sb, org=ini, env=None, priority="Major", created=mon)
    k["rfi"] = new_case(
        sb, org=ini, request_type="Request for information", priority="Major", created=mon
    )
    k["feature"] = new_case(
        sb, org=ini, request_type="Feature request", priority="Blocker", created=mon
    )
    k["cosmetic"] = new_case(
        sb, org=ini, request_type="Cosmetic defect", priority="Critical", created=mon
    )
    k["cosmetic_minor"] = new_case(
        sb, org=ini, request_type="Cosmetic defect", priority="Minor", created=mon
    )
    k["webinar_premium"] = new_case(
        sb, org=ini, request_type="Product webinar", priority="Minor", created=mon
    )
    k["screen_premium"] = new_case(
        sb, org=ini, request_type="Screen share session", priority="Minor", created=mon
    )
    k["needs_info"] = new_case(
        sb, org=ini, product=None, version=None, impact=None, phone=None, created=mon
    )
    # Globex Telecom (Enterprise, New York, named engineer Jane)
    glx = "Globex Telecom"
    late = t(23, 16, tz=NYC)  # one business hour before close
    k["nostaff"] = new_case(sb, org=glx, priority="Blocker", staff="No", created=late)
    k["staff_missing"] = new_case(sb, org=glx, priority="Blocker", staff=None, created=late)
    k["p1ok"] = new_case(sb, org=glx, priority="Blocker", created=late)
    k["internal_only"] = new_case(sb, org=glx, priority="Critical", created=late)
    k["customer_only"] = new_case(sb, org=glx, priority="Critical", created=late)
    k["friday"] = new_case(sb, org=glx, priority="Blocker", created=t(20, 15, tz=NYC))
    k["saturday"] = new_case(sb, org=glx, priority="Blocker", created=t(21, 10, tz=NYC))
    k["missed"] = new_case(sb, org=glx, priority="Critical", created=t(23, 9, tz=NYC))
    k["started"] = new_case(sb, org=glx, priority="Major", created=t(23, 10, tz=NYC))
    k["glx_unassigned"] = new_case(sb, org=glx, created=t(23, 10, tz=NYC))
    k["glx_sam"] = new_case(sb, org=glx, created=t(23, 10, tz=NYC))
    k["webinar_enterprise"] = new_case(
        sb, org=glx, request_type="Product webinar", priority="Minor", created=t(23, 10, tz=NYC)
    )
    # Umbrella Labs: no agreement on file; a staging P1 with nothing filled in, whose SLA
    # fields hold values from earlier (as if its organisation had been dropped from the rules)
    k["unknown"] = new_case(
        sb, org="Umbrella Labs", env="Staging", priority="Blocker",
        product=None, version=None, impact=None, phone=None, created=t(24, 8),
    )  # fmt: skip
    set_fields_as(
        sb,
        k["unknown"],
        BRIDGE,
        {
            "Response due": t(25, 17),
            "SLA state": "running",
            "Support tier": "Standard",
            "Cases this month": "2 of 4",
        },
    )

    # what people did before the bridge first looks (over HTTP, at the time they did it)
    with clock_at(sb, t(24, 9, 10)):
        # a colleague who is not an authorised contact asks: a customer all the same (on
        # Data Center only JSM's customer lists say so), so not a response
        comment(sb, k["acme_running"], "Any update?", by="intern@acme.example")
    with clock_at(sb, t(23, 10, 30, tz=NYC)):
        comment(sb, k["friday"], "Looking at it now.", by=SAM)
    with clock_at(sb, t(23, 12, tz=NYC)):
        comment(sb, k["saturday"], "On it.", by=SAM)
    with clock_at(sb, t(23, 16, tz=NYC)):
        comment(sb, k["missed"], "Sorry for the wait: looking now.", by=SAM)
    with clock_at(sb, t(23, 11, tz=NYC)):
        transition(sb, k["started"], "Start work", by=SAM)
    with clock_at(sb, t(23, 16, 30, tz=NYC)):
        comment(sb, k["internal_only"], "Probably the trap receiver.", by=SAM, internal=True)
        comment(sb, k["customer_only"], "Any news?", by="noc@globex.example")
        assign(sb, k["glx_sam"], SAM, by=SAM)
    return k


@pytest.fixture(scope="module", params=["cloud", "datacenter"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    sb = start_sandbox("empty", flavour=request.param)
    try:
        keys = _build_world(sb)
        with BridgeFactory(tmp_path_factory.mktemp("world")) as factory:
            bridge = factory(sb)
            first = bridge.cycle()
            yield World(sb, bridge, keys, first)
    finally:
        sb.server.stop()


def view(world: World, name: str):  # type: ignore[no-untyped-def]
    return end_state(world.sb, world[name])


# ------------------------------------------------------------------------- §2, clause by clause


def test_the_first_cycle_reads_every_case_and_skips_none(world: World) -> None:
    assert world.first.keys_read == set(world.keys.values())
    assert world.first.report.skipped == []
    assert world.first.report.failed_actions == 0


def test_unauthorised_contact_is_labelled_with_an_internal_note(world: World) -> None:
    flagged = view(world, "acme_intern")
    assert "unauthorised-contact" in flagged.labels
    [note] = flagged.bridge_comments
    assert not note.public
    assert note.body == (
        f"{flagged.key}: Alex Intern <intern@acme.example> is not an authorised contact"
        " of Acme Networks."
    )
    for name in ("acme_running", "staging", "nostaff"):  # authorised contacts
        assert "unauthorised-contact" not in view(world, name).labels


def test_a_request_the_tier_does_not_include_is_flagged_publicly(world: World) -> None:
    standard = view(world, "acme_screen")
    assert "not-entitled" in standard.labels
    [note] = standard.bridge_comments
    assert note.public
    assert (
        note.body == f"{standard.key}: Screen share session is not included in the Standard tier."
    )
    premium_webinar = view(world, "webinar_premium")
    assert "not-entitled" in premium_webinar.labels
    assert [c.body for c in premium_webinar.bridge_comments] == [
        f"{premium_webinar.key}: Product webinar is not included in the Premium tier."
    ]
    # included in the tier: nothing said
    for name in ("screen_premium", "webinar_enterprise"):
        included = view(world, name)
        assert "not-entitled" not in included.labels
        assert included.bridge_comments == []


def test_named_engineer_gets_the_enterprise_customers_unassigned_cases(world: World) -> None:
    assert view(world, "glx_unassigned").assignee == JANE
    assert view(world, "glx_sam").assignee == SAM  # someone owns it: left alone
    # no named engineer for Acme and Initech: their cases stay unassigned
    for name in ("acme_running", "acme_screen", "staging", "needs_info"):
        assert view(world, name).assignee is None


@pytest.mark.parametrize(
    ("name", "before", "after"),
    [
        ("staging", "Blocker", "Minor"),  # non-production → P4
        ("testenv", "Critical", "Minor"),
        ("noenv", "Major", "Minor"),  # an undeclared environment is not Production
        ("acme_install", "Critical", "Minor"),  # installation → P4
        ("rfi", "Major", "Minor"),  # request for information → P4
        ("feature", "Blocker", "Major"),  # feature request capped at P3
        ("cosmetic", "Critical", "Major"),  # cosmetic defect capped at P3
        ("cosmetic_minor", "Minor", "Minor"),  # a cap never raises
        ("p1ok", "Blocker", "Blocker"),  # P1 with staff available stays P1
        ("acme_running", "Critical", "Critical"),  # production support: as raised
    ],
)
def test_priority_rules(world: World, name: str, before: str, after: str) -> None:
    issue = view(world, name)
    assert issue.priority == after
    if before == after:  # no priority change, so nothing to explain
        assert not any("/priority/" in c.action_id for c in issue.bridge_comments)


def test_p1_without_staff_available_becomes_p2_with_a_public_comment(world: World) -> None:
    for name in ("nostaff", "staff_missing"):  # "No", and not answered at all
        issue = view(world, name)
        assert issue.priority == "Critical"
        lowered = issue.bridge_comments_containing("staff available throughout")
        assert [(c.public, c.body) for c in lowered] == [
            (
                True,
                f"{issue.key}: we changed the priority from P1 to P2 (Critical): P1 needs "
                "your staff available throughout. To have P1, set Staff available to Yes "
                "once they are.",
            )
        ]
        # the P2 target applies: Mon 16:00 New York + 6h of business time → Tue 14:00
        assert issue.field("Response due") == t(24, 14, tz=NYC)


def test_unknown_organisation_gets_only_the_unknown_customer_treatment(world: World) -> None:
    issue = view(world, "unknown")
    assert issue.labels == {"unknown-customer"}  # no needs-info, although nothing is filled in
    [note] = issue.bridge_comments
    assert not note.public
    assert note.body == f"{issue.key}: Umbrella Labs has no support agreement on file."
    for name in SLA_FIELDS:  # SLA state `none` clears the SLA fields
        assert issue.field(name) is None, name
    assert issue.priority == "Blocker"  # priority rules do not apply
    assert issue.status == "Open"


def test_missing_information_asks_once_by_field_name(world: World) -> None:
    issue = view(world, "needs_info")
    assert "needs-info" in issue.labels
    [ask] = issue.bridge_comments
    assert ask.public
    assert ask.body == (
        f"To work on {issue.key} we still need: Contact phone or Skype, Product, Product version,"
        " Impact."
    )
    for name in ("staging", "acme_running", "nostaff"):
        assert "needs-info" not in view(world, name).labels


def test_response_due_sla_state_tier_and_quota_are_written_as_the_fields_ask(
    world: World,
) -> None:
    sb = world.sb
    issue = view(world, "acme_running")  # P2, created Tue 09:00 Brisbane: due 15:00
    assert issue.field("Response due") == t(24, 15)
    assert issue.field("SLA state") == "running"
    assert issue.field("Support tier") == "Standard"
    # Acme's cases this month, oldest first: install (Mon), running (Tue 09:00); the
    # screen share Standard lacks and the intern's case (no authorised contact) are
    # flagged, so they do not use up the quota and have no place in it
    assert view(world, "acme_install").field("Cases this month") == "1 of 4"
    assert view(world, "acme_screen").field("Cases this month") is None
    assert issue.field("Cases this month") == "2 of 4"
    assert view(world, "acme_intern").field("Cases this month") is None
    # as Jira's API shows them: select options (not free text), a datetime, a text field
    raw = api_issue(sb, issue.key)["fields"]
    fid = {n: sb.store.field_by_name(n).id for n in SLA_FIELDS}  # type: ignore[union-attr]
    state_field = sb.store.field_by_name("SLA state")
    assert state_field is not None
    assert raw[fid["SLA state"]]["value"] == "running"
    assert raw[fid["SLA state"]]["id"] == state_field.option_by_value("running").id  # type: ignore[union-attr]
    assert raw[fid["Support tier"]]["value"] == "Standard"
    assert raw[fid["Response due"]] == "2026-11-24T15:00:00.000+1000"  # the site's zone
    assert raw[fid["Cases this month"]] == "2 of 4"
    # other tiers and calendars
    assert view(world, "staging").field("Support tier") == "Premium"
    assert view(world, "staging").field("Response due") == t(24, 17, tz=LON)  # next business day
    assert view(world, "p1ok").field("Support tier") == "Enterprise"
    assert view(world, "p1ok").field("Response due") == t(24, 12, tz=NYC)  # Mon 16:00 + 4h


def test_sla_states_met_missed_running_and_what_counts_as_a_response(world: World) -> None:
    friday = view(world, "friday")  # P1 raised Fri 15:00 → due Mon 11:00, answered 10:30
    assert (friday.field("Response due"), friday.field("SLA state")) == (t(23, 11, tz=NYC), "met")
    saturday = view(world, "saturday")  # P1 raised Sat 10:00 → due Mon 13:00, answered 12:00
    assert (saturday.field("Response due"), saturday.field("SLA state")) == (
        t(23, 13, tz=NYC),
        "met",
    )
    missed = view(world, "missed")  # P2 raised Mon 09:00 → due 15:00, answered 16:00
    assert (missed.field("Response due"), missed.field("SLA state")) == (
        t(23, 15, tz=NYC),
        "missed",
    )
    # entering a "responded" status (Work in progress) is a response
    assert view(world, "started").field("SLA state") == "met"
    # an internal note, the customer's own comment and a colleague's are not responses
    assert view(world, "acme_running").field("SLA state") == "running"
    assert view(world, "internal_only").field("SLA state") == "running"
    assert view(world, "customer_only").field("SLA state") == "running"
    # nothing the bridge itself wrote counts either
    assert view(world, "acme_screen").field("SLA state") == "running"
    # answered or not yet due: no escalation anywhere in this world
    for name in world.keys:
        issue = view(world, name)
        assert not issue.labels & {"sla-at-risk", "sla-breached"}, name
        assert issue.status in {"Open", "Work in progress"}, name


def test_a_second_cycle_with_nothing_changed_writes_nothing(world: World) -> None:
    before = {name: view(world, name) for name in world.keys}
    again = world.bridge.cycle()
    assert again.writes == 0, again.write_routes
    assert {name: view(world, name) for name in world.keys} == before


# --------------------------------------------------------------------------------- quota


def test_quota_ranks_the_organisations_month_oldest_first(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb = sandbox_factory(seed="empty")
    acme: dict[str, str] = {}
    acme["last_month"] = new_case(sb, created=t(30, 10, month=10))  # SUP-1
    for _ in range(7):  # SUP-2..8: so that Acme's tie below is SUP-9 against SUP-10
        new_case(sb, org="Initech Systems", created=t(2, 10))
    # keys in creation order, created times out of key order
    acme["nov6_a"] = new_case(sb, created=t(6, 10))  # SUP-9
    acme["nov6_b"] = new_case(sb, created=t(6, 10))  # SUP-10: same instant, ranks after
    acme["nov5"] = new_case(sb, created=t(5, 10))
    acme["nov2"] = new_case(sb, created=t(2, 10))
    acme["duplicate"] = new_case(sb, created=t(1, 9))  # resolved as Duplicate: not counted
    acme["nov3"] = new_case(sb, created=t(3, 10))
    acme["nov1_early"] = new_case(sb, created=t(1, 0, 30))  # 1 Nov in Brisbane (31 Oct UTC)
    assert (acme["nov6_a"], acme["nov6_b"]) == ("SUP-9", "SUP-10")
    with clock_at(sb, t(1, 12)):
        transition(sb, acme["duplicate"], "Resolve", by=SAM, resolution="Duplicate")
    # Globex counts in New York: 31 Oct 20:00 there is already 1 Nov in Brisbane and UTC
    glx_oct = new_case(sb, org="Globex Telecom", created=t(31, 20, tz=NYC, month=10))
    glx_nov = new_case(sb, org="Globex Telecom", created=t(2, 10, tz=NYC))

    bridge = bridges(sb)
    bridge.cycle()

    rank = {name: end_state(sb, key).field("Cases this month") for name, key in acme.items()}
    assert rank == {
        "last_month": "1 of 4",  # October's only case
        "nov1_early": "1 of 4",
        "nov2": "2 of 4",
        "nov3": "3 of 4",
        "nov5": "4 of 4",
        "nov6_a": "5 of 4",
        "nov6_b": "6 of 4",
        "duplicate": None,  # a resolution that does not count: no position
    }
    for name, key in acme.items():
        issue = end_state(sb, key)
        over = name in ("nov6_a", "nov6_b")
        assert ("over-quota" in issue.labels) is over, name
        quota_notes = issue.bridge_comments_containing("included this month")
        if over:
            n = rank[name].split()[0]  # type: ignore[union-attr]
            assert [(c.public, c.body) for c in quota_notes] == [
                (True, f"Case {key} is case {n} of 4 included this month for Acme Networks.")
            ]
        else:
            assert quota_notes == []
    assert end_state(sb, glx_oct).field("Cases this month") == "1 of 20"
    assert end_state(sb, glx_nov).field("Cases this month") == "1 of 20"

    # an incremental cycle ranks the re-read cases with one search for their months:
    # it must agree with the full read (no rewrites, no new comments)
    sb.advance("10m")
    for key in [*acme.values(), glx_oct, glx_nov]:
        add_label(sb, key, "triaged", by=SAM)
    sb.advance("10m")
    again = bridge.cycle()
    assert not again.report.full
    assert again.keys_read >= {*acme.values(), glx_oct, glx_nov}
    assert again.writes == 0, again.write_routes


def quota_comments(sb: Sandbox, key: str) -> list[CommentView]:
    """The bridge's comments on the case's quota (not the ladder's), oldest first."""
    return [c for c in end_state(sb, key).bridge_comments if "/over-quota" in (c.action_id or "")]


def test_a_duplicate_frees_a_place_for_the_later_cases_of_its_month(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb = sandbox_factory(seed="empty")
    keys = [new_case(sb, created=t(day, 10)) for day in (2, 3, 4, 5, 6)]  # Acme: 5 of 4
    other = new_case(sb, org="Initech Systems", created=t(2, 10))
    bridge = bridges(sb)
    bridge.cycle()
    sb.advance("10m")
    bridge.cycle()  # the bridge's own edits, read back once
    sb.advance("10m")
    assert bridge.cycle().keys_read == set()  # quiet: incremental cycles read nothing

    def ranks() -> list[str | None]:
        return [end_state(sb, k).field("Cases this month") for k in keys]

    assert ranks() == ["1 of 4", "2 of 4", "3 of 4", "4 of 4", "5 of 4"]
    assert "over-quota" in end_state(sb, keys[4]).labels

    sb.advance("10m")  # the second case turns out to be a duplicate
    transition(sb, keys[1], "Resolve", by=SAM, resolution="Duplicate")
    sb.advance("10m")
    run = bridge.cycle()
    assert other not in run.keys_read  # another organisation's cases are not disturbed
    assert ranks() == ["1 of 4", None, "2 of 4", "3 of 4", "4 of 4"]
    assert "over-quota" not in end_state(sb, keys[4]).labels

    told = quota_comments(sb, keys[4])
    assert [c.action_id for c in told] == [
        f"{keys[4]}/over-quota",
        f"{keys[4]}/over-quota/cleared",
    ]  # corrected

    sb.advance("10m")  # reopened after all: it counts again, and the fifth is over again
    transition(sb, keys[1], "Reopen", by=SAM)
    sb.advance("10m")
    bridge.cycle()
    assert ranks() == ["1 of 4", "2 of 4", "3 of 4", "4 of 4", "5 of 4"]
    last = end_state(sb, keys[4])
    assert "over-quota" in last.labels
    # each is said once: over quota again, the case gets its label back, no comment
    assert quota_comments(sb, keys[4]) == told
    sb.advance("10m")
    bridge.cycle()
    sb.advance("10m")
    assert bridge.cycle().writes == 0


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_case_no_longer_over_quota_is_corrected_once_while_open(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """Acme (Standard, 4 a month) has six cases: the fifth and sixth are told they are over
    quota.  The fifth is resolved; then two older cases turn out to be duplicates: the
    sixth, open, is the fourth now and is told so, once; the resolved fifth is told
    nothing; the third, never over quota, is told nothing either."""
    sb = sandbox_factory(seed="empty", flavour=flavour)
    keys = [new_case(sb, created=t(day, 10)) for day in (2, 3, 4, 5, 6, 9)]
    bridge = bridges(sb)
    bridge.cycle()
    sb.advance("10m")
    bridge.cycle()  # the bridge's own edits, read back once
    for key, n in ((keys[4], 5), (keys[5], 6)):
        said = f"Case {key} is case {n} of 4 included this month for Acme Networks."
        assert [(c.public, c.body) for c in quota_comments(sb, key)] == [(True, said)]
        assert "over-quota" in end_state(sb, key).labels

    sb.advance("10m")  # the fifth is answered and resolved (it still counts)
    transition(sb, keys[4], "Resolve", by=SAM, resolution="Done")
    sb.advance("10m")
    bridge.cycle()
    sb.advance("10m")  # the second and third are duplicates
    for key in keys[1:3]:
        transition(sb, key, "Resolve", by=SAM, resolution="Duplicate")
    sb.advance("10m")
    bridge.cycle()

    ranks = [end_state(sb, k).field("Cases this month") for k in keys]
    assert ranks == ["1 of 4", None, None, "2 of 4", "3 of 4", "4 of 4"]
    sixth = end_state(sb, keys[5])
    assert "over-quota" not in sixth.labels
    correction = (
        f"Case {keys[5]} is within the 4 cases included this month for Acme Networks after "
        "all: it is now case 4 of 4."
    )
    told = quota_comments(sb, keys[5])
    assert [(c.public, c.body, c.action_id) for c in told] == [
        (True, f"Case {keys[5]} is case 6 of 4 included this month for Acme Networks.",
         f"{keys[5]}/over-quota"),
        (True, correction, f"{keys[5]}/over-quota/cleared"),
    ]  # fmt: skip
    assert [c.action_id for c in quota_comments(sb, keys[4])] == [f"{keys[4]}/over-quota"]
    assert "over-quota" in end_state(sb, keys[4]).labels  # a resolved case: fields only
    assert quota_comments(sb, keys[3]) == []  # never over quota: nothing to say

    for _ in range(3):  # later cycles (the first reads the bridge's own edits) say nothing
        sb.advance("10m")
        bridge.cycle()
    assert quota_comments(sb, keys[5]) == told
    assert bridge.last.writes == 0


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_an_over_quota_correction_past_the_journal_week_on_a_running_daemon(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """The bridge runs as a daemon (one process, `jsm-bridge run`): the fifth of Acme's
    cases (4 a month) is told it is over quota; eight days on, past the week the local
    journal remembers that comment, an older case turns out a duplicate.  The fifth is
    corrected.  On Data Center the search gives no ledger: the plan made without it left
    the correction out (the over-quota comment not known done), was a field edit only,
    and the label came off with the correction never posted."""
    sb = sandbox_factory(seed="empty", flavour=flavour)
    keys = [new_case(sb, created=t(2, 10 + n)) for n in range(5)]
    for key in keys:
        comment(sb, key, "Looking.", by=SAM)  # answered: no ladder step comes due
    bridge = bridges(sb)
    bridge.cycle()
    sb.advance("10m")
    bridge.cycle()  # the bridge's own edits, read back once
    assert "over-quota" in end_state(sb, keys[4]).labels
    sb.advance("8d")
    bridge.cycle()
    sb.advance("10m")
    transition(sb, keys[0], "Resolve", by=SAM, resolution="Duplicate")
    sb.advance("10m")
    bridge.cycle()
    assert "over-quota" not in end_state(sb, keys[4]).labels
    told = [c.action_id for c in quota_comments(sb, keys[4])]
    assert told == [f"{keys[4]}/over-quota", f"{keys[4]}/over-quota/cleared"]
    for _ in range(2):
        sb.advance("10m")
        bridge.cycle()
    assert [c.action_id for c in quota_comments(sb, keys[4])] == told
    assert bridge.last.writes == 0


def test_no_correction_for_an_over_quota_comment_that_never_went_out(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jira refuses the over-quota comment of the fifth case while the edit putting the
    `over-quota` label on it lands.  When an older case turns out a duplicate, the fifth
    is within the quota: the label comes off, and the customer, never told it was over,
    is not told it is within it "after all"."""
    sb = sandbox_factory(seed="empty")
    keys = [new_case(sb, created=t(day, 10)) for day in (2, 3, 4, 5, 6)]
    bridge = bridges(sb)
    port = bridge.engine.port
    post = port.add_comment

    def add_comment(key: str, body: str, **kwargs: object) -> object:
        if key == keys[4] and "included this month" in body:
            raise JiraError("the comment is refused (400)", status=400)
        return post(key, body, **kwargs)

    monkeypatch.setattr(port, "add_comment", add_comment)
    bridge.cycle()
    sb.advance("10m")
    bridge.cycle()  # the bridge's own edits, read back once
    assert "over-quota" in end_state(sb, keys[4]).labels
    assert quota_comments(sb, keys[4]) == []

    monkeypatch.setattr(port, "add_comment", post)
    sb.advance("10m")
    transition(sb, keys[1], "Resolve", by=SAM, resolution="Duplicate")
    sb.advance("10m")
    bridge.cycle()
    assert end_state(sb, keys[4]).field("Cases this month") == "4 of 4"
    assert "over-quota" not in end_state(sb, keys[4]).labels
    assert quota_comments(sb, keys[4]) == []


def test_a_correction_the_rules_ask_for_without_an_over_quota_comment_is_posted(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, tmp_path: Path
) -> None:
    """Rules that flag a case over quota by its label alone (`comment: null`) and still
    give a `cleared_comment`: the correction is posted when the case is within the quota
    again, there being no over-quota comment for it to follow."""
    rules = tmp_path / "rules"
    shutil.copytree(Path(__file__).resolve().parent.parent / "rules", rules)
    tiers = rules / "tiers.yaml"
    text = tiers.read_text(encoding="utf-8")
    said = (
        '    comment: {visibility: public, text: "Case {key} is case {quota_used} of '
        '{quota_limit} included this month for {organization}."}\n'
    )
    assert said in text
    tiers.write_text(text.replace(said, "    comment: null\n"), encoding="utf-8")
    sb = sandbox_factory(seed="empty")
    keys = [new_case(sb, created=t(day, 10)) for day in (2, 3, 4, 5, 6)]
    bridge = bridges(sb, rules_path=rules)
    bridge.cycle()
    sb.advance("10m")
    bridge.cycle()
    assert "over-quota" in end_state(sb, keys[4]).labels
    assert quota_comments(sb, keys[4]) == []
    sb.advance("10m")
    transition(sb, keys[1], "Resolve", by=SAM, resolution="Duplicate")
    sb.advance("10m")
    bridge.cycle()
    assert "over-quota" not in end_state(sb, keys[4]).labels
    assert [c.action_id for c in quota_comments(sb, keys[4])] == [f"{keys[4]}/over-quota/cleared"]


# ---------------------------------------------------------------------- conditions that end


def test_needs_info_label_goes_once_the_customer_supplies_the_fields(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb = sandbox_factory(seed="empty")
    key = new_case(
        sb, org="Initech Systems", product=None, version=None, impact=None, phone=None,
        created=t(23, 14, tz=LON),
    )  # fmt: skip
    bridge = bridges(sb)
    bridge.cycle()
    assert "needs-info" in end_state(sb, key).labels

    # the customer supplies part of it: still needed, and not asked again
    sb.advance("10m")
    set_fields_as(sb, key, "it@initech.example", {"Product": "NMIS", "Contact phone": "+44 20 1"})
    bridge.cycle()
    issue = end_state(sb, key)
    assert "needs-info" in issue.labels
    assert len(issue.bridge_comments_containing("we still need")) == 1

    # the rest: the label goes on the next cycle; an engineer's own label stays
    sb.advance("10m")
    set_fields_as(sb, key, "it@initech.example", {"Product version": "9.5.1", "Impact": "All"})
    sb.store.issue(key).values["labels"] = [*sb.store.issue(key).values["labels"], "vip"]
    bridge.cycle()
    issue = end_state(sb, key)
    assert "needs-info" not in issue.labels
    assert "vip" in issue.labels
    assert len(issue.bridge_comments_containing("we still need")) == 1
    sb.advance("10m")
    assert bridge.cycle().writes == 0


def test_hold_keeps_the_due_time_and_approval_moves_it_by_the_held_business_time(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb = sandbox_factory(seed="empty", now=t(24, 9, 15))
    key = new_case(sb, priority="Critical", created=t(24, 9))  # P2: due 15:00
    bridge = bridges(sb)
    bridge.cycle()
    assert (end_state(sb, key).field("SLA state"), end_state(sb, key).field("Response due")) == (
        "running",
        t(24, 15),
    )

    sb.set_now(t(24, 9, 30))
    transition(sb, key, "Needs approval", by=SAM)  # held for approval: a pause, not a response
    sb.set_now(t(24, 10, 0))
    bridge.cycle()
    issue = end_state(sb, key)
    assert (issue.field("SLA state"), issue.field("Response due")) == ("paused", t(24, 15))

    sb.set_now(t(24, 11, 0))
    transition(sb, key, "Approve", by=SAM)  # out of the approval status, still unanswered
    bridge.cycle()
    issue = end_state(sb, key)
    # 1h30 paused inside business hours: due 15:00 → 16:30
    assert (issue.field("SLA state"), issue.field("Response due")) == ("running", t(24, 16, 30))
    assert bridge.cycle().writes == 0


def test_condition_labels_go_when_the_condition_ends_and_engineers_labels_stay(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb = sandbox_factory(seed="empty")
    wrong_person = new_case(sb, reporter="intern@acme.example", created=t(24, 9))
    screen = new_case(
        sb, request_type="Screen share session", priority="Minor", created=t(24, 9, 5)
    )
    bridge = bridges(sb)
    bridge.cycle()
    assert "unauthorised-contact" in end_state(sb, wrong_person).labels
    assert "not-entitled" in end_state(sb, screen).labels

    sb.advance("5m")
    for key in (wrong_person, screen):
        add_label(sb, key, "customer-called", by=SAM)
    # the agent fixes the reporter, and turns the screen share into ordinary support
    ops = sb.store.user_by_email("ops@acme.example")
    assert ops is not None
    session = sb.session(SAM)
    rt_field = sb.store.field_of_kind("requesttype")
    assert rt_field is not None
    for key, fields in (
        (wrong_person, {"reporter": {"accountId": ops.account_id}}),
        (screen, {rt_field.id: "Technical support"}),
    ):
        r = session.put(f"{sb.url}/rest/api/2/issue/{key}", json={"fields": fields})
        assert r.status_code == 204, r.text
    sb.advance("5m")
    bridge.cycle()
    assert end_state(sb, wrong_person).labels == {"customer-called"}
    assert end_state(sb, screen).labels == {"customer-called"}
    # what was said stays said, once
    assert len(end_state(sb, wrong_person).bridge_comments) == 1
    assert len(end_state(sb, screen).bridge_comments) == 1
    sb.advance("5m")
    assert bridge.cycle().writes == 0


def test_a_resolved_case_gets_its_final_sla_fields_and_nothing_else(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb = sandbox_factory(seed="empty")
    for day in (2, 3, 4, 5):
        new_case(sb, created=t(day, 10))
    # Acme's fifth case this month: over quota, missing information, raised as P1 on
    # staging, never answered and resolved after its due time (Mon 23 17:00)
    late = new_case(
        sb, env="Staging", priority="Blocker", product=None, phone=None, created=t(20, 10)
    )
    with clock_at(sb, t(23, 16)):
        early = new_case(sb, org="Initech Systems", created=t(23, 9, tz=LON))
    with clock_at(sb, t(24, 9)):
        transition(sb, late, "Resolve", by=SAM)
        transition(sb, early, "Resolve", by=SAM)  # resolved before its due time
    bridges(sb).cycle()
    issue = end_state(sb, late)
    assert issue.field("Cases this month") == "5 of 4"  # still counted for quota
    assert issue.field("Support tier") == "Standard"
    # nothing but its SLA fields change: the priority stays as it was left; the target is
    # the rules' reading of the case (staging: P4, due the next business day's close)
    assert issue.priority == "Blocker"
    assert issue.field("Response due") == t(23, 17)
    assert issue.status == "Resolved"
    assert issue.labels == frozenset()
    assert issue.bridge_comments == []
    assert issue.field("SLA state") == "missed"
    assert end_state(sb, early).field("SLA state") == "met"
    assert end_state(sb, early).status == "Resolved"
    assert end_state(sb, early).bridge_comments == []


@pytest.mark.parametrize(
    ("org", "created", "priority", "now", "due"),
    [
        # New York springs forward on Sun 8 Mar 2026: Fri 15:00 EST + 4h → Mon 11:00 EDT
        (
            "Globex Telecom",
            datetime(2026, 3, 6, 15, 0, tzinfo=NYC),
            "Blocker",
            datetime(2026, 3, 9, 9, 30, tzinfo=NYC),
            datetime(2026, 3, 9, 11, 0, tzinfo=NYC),
        ),
        # Brisbane at Christmas: 24 Dec (extra date), 25, 26-27 (weekend), 28 (Boxing Day
        # observed) are closed: next business day after Wed 23 Dec is Tue 29 Dec
        (
            "Acme Networks",
            datetime(2026, 12, 23, 10, 0, tzinfo=BNE),
            "Minor",
            datetime(2026, 12, 23, 11, 0, tzinfo=BNE),
            datetime(2026, 12, 29, 17, 0, tzinfo=BNE),
        ),
    ],
)
def test_due_times_cross_dst_and_holidays_on_the_customers_calendar(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    org: str,
    created: datetime,
    priority: str,
    now: datetime,
    due: datetime,
) -> None:
    sb = sandbox_factory(seed="empty", now=now)
    key = new_case(sb, org=org, priority=priority, created=created)
    bridges(sb).cycle()
    issue = end_state(sb, key)
    assert issue.field("Response due") == due
    assert issue.field("SLA state") == "running"
    raw = api_issue(sb, key)["fields"]
    due_field = sb.store.field_by_name("Response due")
    assert due_field is not None
    # Jira shows it in the site's zone (Brisbane): the same instant
    assert raw[due_field.id] == due.astimezone(BNE).strftime("%Y-%m-%dT%H:%M:00.000+1000")
