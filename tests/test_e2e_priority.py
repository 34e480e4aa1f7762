"""Issue 12's priority defects end to end: the bridge's priority changes, said and undone.

Each test raises cases on the sandbox, lets people act over HTTP (or on the portal form,
for customers), runs real cycles and reads the END STATE back: priority, labels and the
bridge's comments.  Both flavours: the changelog author that tells the bridge's own
change from an engineer's is an ``accountId`` on Cloud and a ``name``/``key`` on Data
Center (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/
#api-rest-api-3-issue-issueidorkey-changelog-get and the Jira Server REST reference for
``GET /rest/api/2/issue/{key}?expand=changelog``).

Times: the sandbox's frozen clock is Tue 24 Nov 2026 10:00 Brisbane.
"""

from __future__ import annotations

import base64
import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import Sandbox, SandboxFactory
from e2e_helpers import (
    CONTACT,
    JANE,
    RULES,
    SLA_FIELDS,
    Bridge,
    BridgeFactory,
    end_state,
    explain,
    new_case,
    set_fields_as,
    set_priority,
    without_waiting,
    write_config,
)
from structlog.testing import capture_logs
from test_apply import Wall

from bridge import cli
from bridge.sandbox.store import Priority
from bridge.settings import SANDBOX_TOKEN
from bridge.sync import apply
from bridge.sync import ledger as ledger_module
from bridge.sync.ledger import PROPERTY as LEDGER
from bridge.sync.ledger import Ledger

BNE = ZoneInfo("Australia/Brisbane")
ACME = CONTACT["Acme Networks"]
NOW = "2026-11-24T10:00:00+10:00"


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BNE)


def _public_bridge_comments(sb, key):  # type: ignore[no-untyped-def]
    return [c.body for c in end_state(sb, key).bridge_comments if c.public]


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_an_environment_picked_from_the_dropdown_is_never_missing_information(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    flavour: str,
) -> None:
    """The option "Test" of Environment type: a customer who picks it has said
    which environment, so the case is P4 (not production) but asks for nothing, and
    gets no needs-info label it could never clear.  With the shipped rules, and with a
    lead's rules whose placeholders list an option ("staging"): an option of a select
    list is an answer; the same word typed into a text field is still a placeholder."""
    sb = sandbox_factory(seed="empty", flavour=flavour)
    test_env = new_case(sb, env="Test", priority="Critical", created=t(24, 9))
    bridges(sb).cycle()
    issue = end_state(sb, test_env)
    assert issue.priority == "Minor"
    assert "needs-info" not in issue.labels
    assert not any("still need" in body for body in _public_bridge_comments(sb, test_env))

    rules = tmp_path / "lead"
    shutil.copytree(RULES, rules)
    text = (rules / "sla.yaml").read_text(encoding="utf-8")
    listed = text.replace("  placeholders: [n/a,", "  placeholders: [staging, n/a,")
    assert listed != text
    (rules / "sla.yaml").write_text(listed, encoding="utf-8")
    lead = sandbox_factory(seed="empty", flavour=flavour)
    staging = new_case(lead, env="Staging", priority="Critical", created=t(24, 9))
    typed = new_case(lead, env="Production", impact="Staging.", created=t(24, 9))
    bridges(lead, rules_path=rules).cycle()
    assert "needs-info" not in end_state(lead, staging).labels
    assert "needs-info" in end_state(lead, typed).labels
    assert _public_bridge_comments(lead, typed) == [f"To work on {typed} we still need: Impact."]


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_the_shipped_rule_comments_promise_only_what_the_rules_do(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """A staging installation case is P4 twice over: its comment names the environment
    it has, and promises a review, not the priority back (Production leaves it P4).  A
    P1 without an environment nor staff is held at P4, then, the environment given, the
    staff rule raises it to P2 (its comment says from P4, not "lowered") and says how
    to have P1, which setting Staff available to Yes then gives."""
    sb = sandbox_factory(seed="empty", flavour=flavour)
    install = new_case(
        sb, env="Staging", request_type="Installation", priority="Critical", created=t(24, 9)
    )
    staff = new_case(sb, env=None, staff="No", priority="Blocker", created=t(24, 9))
    bridge = bridges(sb)
    bridge.cycle()
    assert _public_bridge_comments(sb, install) == [
        f"{install} is now P4 (Minor): priorities P1 to P3 are for production systems only, "
        "and the environment of this case is not set to Production. If it is about a "
        "production system, set Environment type to Production and we will review the "
        "priority (other support terms may still apply)."
    ]
    assert end_state(sb, staff).priority == "Minor"

    sb.advance("10m")
    set_fields_as(sb, install, ACME, {"Environment type": "Production"})
    set_fields_as(sb, staff, ACME, {"Environment type": "Production"})
    bridge.cycle()
    assert end_state(sb, install).priority == "Minor"  # installation issues are P4
    assert end_state(sb, staff).priority == "Critical"
    assert _public_bridge_comments(sb, staff)[1:] == [
        f"{staff}: we changed the priority from P4 to P2 (Critical): P1 needs your staff "
        "available throughout. To have P1, set Staff available to Yes once they are."
    ]

    sb.advance("10m")
    set_fields_as(sb, staff, ACME, {"Staff available": "Yes"})
    bridge.cycle()
    assert end_state(sb, staff).priority == "Blocker"
    assert _public_bridge_comments(sb, staff)[2:] == [
        f"{staff}: the priority is back to P1 (Blocker), as requested: the reason we "
        "changed it no longer applies."
    ]


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_defect_2_empty_environment_is_asked_for_and_priority_restored(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flavour: str,
) -> None:
    sb = sandbox_factory(seed="empty", flavour=flavour)
    key = new_case(sb, priority="Blocker", env=None, created=t(24, 9))
    # the same case where an engineer, not the bridge, made it P4: that choice stands
    by_engineer = new_case(sb, priority="Blocker", env=None, created=t(24, 9))
    sb.advance("1m")
    set_priority(sb, by_engineer, "Minor", by=JANE)
    bridge = bridges(sb)

    # P1 asked for, environment not given: P4 for now, and the customer is told why and
    # asked for the environment
    bridge.cycle()
    issue = end_state(sb, key)
    assert issue.priority == "Minor"
    assert "needs-info" in issue.labels
    said = _public_bridge_comments(sb, key)
    # both public notes of this cycle, one paragraph each, in one comment
    # (writes.merge_comments, on by default)
    assert said == [
        f"{key} is now P4 (Minor): priorities P1 to P3 are for production systems only, and "
        "the environment of this case is not set to Production. If it is about a production "
        "system, set Environment type to Production and we will review the priority (other "
        "support terms may still apply)."
        f"\n\nTo work on {key} we still need: Environment type.",
    ]

    # explain says what the bridge did and why, and that nothing is left to do
    config = write_config(sb, tmp_path)
    text = explain(key, config, NOW, capsys)
    assert "missing: Environment type" in text
    assert "rule 'Non-production systems are P4' fired (environment is empty" in text

    # the customer says Production: the rules are applied again, the requested P1 comes
    # back (the P4 was the bridge's own change, not an engineer's), said once
    sb.advance("10m")
    for case in (key, by_engineer):
        set_fields_as(sb, case, ACME, {"Environment type": "Production"})
    bridge.cycle()
    issue = end_state(sb, key)
    assert issue.priority == "Blocker"
    assert end_state(sb, by_engineer).priority == "Minor"  # the engineer's P4 stands
    assert _public_bridge_comments(sb, by_engineer) == [
        f"To work on {by_engineer} we still need: Environment type."
    ]
    assert "needs-info" not in issue.labels
    restored = f"{key}: the priority is back to P1 (Blocker), as requested: the reason we changed it no longer applies."
    assert _public_bridge_comments(sb, key) == [*said, restored]

    # nothing more to say or do, cycle after cycle
    sb.advance("10m")
    assert bridge.cycle().writes == 0
    assert len(end_state(sb, key).bridge_comments) == 2  # the merged pair, the restoration


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_defect_9_a_customers_later_change_is_put_back_to_the_engineers_priority(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flavour: str,
) -> None:
    sb = sandbox_factory(seed="empty", flavour=flavour)
    key = new_case(sb, priority="Major", created=t(24, 9))
    sb.advance("5m")
    set_priority(sb, key, "Critical", by=JANE)  # the engineer's call
    bridge = bridges(sb)
    bridge.cycle()
    assert end_state(sb, key).priority == "Critical"
    assert end_state(sb, key).bridge_comments == []

    # the customer raises it on the portal: put back, with a public comment
    sb.advance("10m")
    set_fields_as(sb, key, ACME, {"Priority": "Blocker"})
    bridge.cycle()
    issue = end_state(sb, key)
    assert issue.priority == "Critical"
    kept = (
        f"{key}: our engineer set the priority to P2 (Critical); it stays so until an "
        "engineer changes it. Please reply here if the impact has changed."
    )
    assert _public_bridge_comments(sb, key) == [kept]
    sb.advance("10m")
    assert bridge.cycle().writes == 0
    config = write_config(sb, tmp_path)
    text = explain(key, config, NOW, capsys)
    assert "later request put back: set to Blocker by the customer" in text
    assert "an engineer's choice is put back" in text

    # an engineer may change it again: that stands, and nothing is said
    sb.advance("10m")
    set_priority(sb, key, "Blocker", by=JANE)
    bridge.cycle()
    assert end_state(sb, key).priority == "Blocker"
    assert _public_bridge_comments(sb, key) == [kept]


def test_defect_14_an_engineers_trivial_counts_as_p4_and_stays_trivial(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(seed="empty")
    key = new_case(sb, priority="Major", created=t(24, 9))
    sb.advance("5m")
    set_priority(sb, key, "Trivial", by=JANE)
    bridges(sb).cycle()
    issue = end_state(sb, key)
    assert issue.priority == "Trivial"  # never renamed to Minor
    assert issue.bridge_comments == []
    # P4's target: the close of the next business day (Wed 25 Nov 17:00 Brisbane)
    assert issue.field("Response due") == t(25, 17)
    assert issue.field("SLA state") == "running"

    config = write_config(sb, tmp_path)
    text = explain(key, config, NOW, capsys)
    assert "requested P4: set to Trivial by an engineer" in text
    assert "not one of the policy's priorities" not in text

    # `check` says the mapping; online, it names a priority of the site with no level
    sb.store.priorities.append(Priority("6", "Emergency", "#ff0000", "Added by an admin."))
    assert cli.main(["check", "--online", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "P4 = Minor (also Trivial, Low, Lowest)" in out
    assert "note: Jira priority 'Emergency' has no level in priorities.yaml" in out
    assert "'Trivial' has no level" not in out


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_defect_7_placeholder_answers_and_a_missing_explanation_count_as_missing(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flavour: str,
) -> None:
    # the description travels as rich text (ADF) on Cloud's v3 API, as plain text on
    # Data Center's v2 API: both are read as the customer typed it
    sb = sandbox_factory(seed="empty", flavour=flavour)
    key = new_case(sb, version="Version", impact="None.", phone=" ? ", created=t(24, 9))
    set_fields_as(sb, key, ACME, {"Description": "asdf"})
    bridge = bridges(sb)
    bridge.cycle()
    issue = end_state(sb, key)
    assert "needs-info" in issue.labels
    # "Impact (if any)": none is an answer
    assert _public_bridge_comments(sb, key) == [
        f"To work on {key} we still need: Contact phone or Skype, Description, Product version."
    ]
    config = write_config(sb, tmp_path)
    text = explain(key, config, NOW, capsys)
    assert "Product version 'Version' is a placeholder, not an answer" in text
    assert "Description 'asdf' is a placeholder, not an answer" in text

    # real answers (a Skype name for the phone): the label goes, nothing is asked again
    sb.advance("10m")
    set_fields_as(
        sb,
        key,
        ACME,
        {
            "Skype": "live:acme.noc",
            "Description": "The poller stopped collecting after the upgrade to 9.5.1.",
            "Product version": "9.5.1",
        },
    )
    bridge.cycle()
    issue = end_state(sb, key)
    assert "needs-info" not in issue.labels
    assert len(_public_bridge_comments(sb, key)) == 1
    sb.advance("10m")
    assert bridge.cycle().writes == 0


def test_clause_a_skype_name_is_as_good_as_a_phone_number(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(seed="empty")
    by_skype = new_case(sb, phone=None, created=t(24, 9))
    set_fields_as(sb, by_skype, ACME, {"Skype": "acme.noc.desk"})
    neither = new_case(sb, phone=None, created=t(24, 9))
    bridges(sb).cycle()
    assert "needs-info" not in end_state(sb, by_skype).labels
    assert end_state(sb, by_skype).bridge_comments == []
    assert "needs-info" in end_state(sb, neither).labels
    assert _public_bridge_comments(sb, neither) == [
        f"To work on {neither} we still need: Contact phone or Skype."
    ]
    config = write_config(sb, tmp_path)
    text = explain(by_skype, config, NOW, capsys)
    assert "Contact phone or Skype: answered by Skype ('acme.noc.desk')" in text


def _renamed(tmp_path: Path, rule: str, name: str) -> Path:
    """A copy of the shipped rules with the priority rule ``rule`` called ``name``."""
    rules = tmp_path / "renamed"
    shutil.copytree(RULES, rules)
    text = (rules / "priorities.yaml").read_text(encoding="utf-8")
    renamed = text.replace(f"- name: {rule}\n", f"- name: {name}\n")
    assert renamed != text
    (rules / "priorities.yaml").write_text(renamed, encoding="utf-8")
    return rules


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_renamed_rule_does_not_tell_the_customer_of_its_change_again(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    flavour: str,
    tmp_path: Path,
) -> None:
    """A priority comment's action id names the rule: a support lead renaming the rule
    after it changed a case's priority makes the next cycle read every case, and the
    change it made (still the case's last) must not be explained to the customer twice."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 10))
    key = new_case(sb, created=t(24, 9), env="Staging", priority="Major")
    first = bridges(sb)
    first.cycle()
    assert end_state(sb, key).priority == "Minor"
    told = _public_bridge_comments(sb, key)
    assert len(told) == 1 and "is now P4" in told[0]

    rules = _renamed(tmp_path, "Non-production systems are P4", "Test systems are P4")
    sb.set_now(t(24, 10, 30))
    second = bridges(sb, state=first.engine.state.path, rules_path=rules)
    assert second.cycle().report.full
    assert _public_bridge_comments(sb, key) == told
    assert end_state(sb, key).priority == "Minor"


def _ledger_compacted_after(sb: Sandbox, key: str, *, before_upgrade: bool = False) -> None:
    """The issue's ledger as months of later ladder steps leave it: grown past its size
    cap and compacted by the bridge's own rule, its oldest entries kept as digests only.
    ``before_upgrade``: as a bridge that compacted strictly oldest first left it, the
    priority comments' ids among those digests."""
    with sb.store.lock:
        props = sb.store.issue(key).properties
        ledger = Ledger.from_json(props[LEDGER])
        for aid in ledger.telling:  # announced by the edit, recorded by the next ledger write
            ledger = ledger.with_done(aid, t(24, 10, 15))
        n = 0
        while len(ledger.to_json(max_bytes=10**6)) < ledger_module.MAX_BYTES + 2_000:
            ledger = ledger.with_done(f"{key}/esc/9.{n}/20200101T0000Z", t(24, 10, 15))
            n += 1
        stored = ledger.to_dict()
        if before_upgrade:  # the oldest entries, the priority comment's among them
            told = [aid for aid in stored["done"] if "/priority/" in aid]
            packed = b"".join(map(ledger_module.digest, told)) + base64.b64decode(stored["compact"])
            stored["compact"] = base64.b64encode(packed).decode("ascii")
            stored["done"] = {k: v for k, v in stored["done"].items() if k not in told}
        props[LEDGER] = stored
    assert stored.get("compact")
    assert len(json.dumps(stored, separators=(",", ":"))) <= ledger_module.MAX_BYTES
    assert ("/priority/" in json.dumps(stored)) is not before_upgrade


@pytest.mark.parametrize(
    "before_upgrade", [False, True], ids=["compacted", "compacted-by-an-older-bridge"]
)
@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_renamed_rule_does_not_tell_a_change_again_once_the_ledger_compacted_its_comment(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    flavour: str,
    before_upgrade: bool,
    tmp_path: Path,
) -> None:
    """As above, on a long-lived case whose ledger has since been compacted: the text of
    the comment's action id (the rule's old name, the change's number) says the change
    is told, and it is not explained twice.  Compaction keeps that text; a ledger an
    older bridge compacted holds it as a digest, and then the comment's own action id
    (its ``jsm-bridge`` property) says so, which Cloud's search does not give."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 10))
    key = new_case(sb, created=t(24, 9), env="Staging", priority="Major")
    first = bridges(sb)
    first.cycle()
    told = _public_bridge_comments(sb, key)
    assert len(told) == 1 and "is now P4" in told[0]
    _ledger_compacted_after(sb, key, before_upgrade=before_upgrade)
    # told long ago: the ledger writes since recorded it, and the local journal (kept a
    # week after that) no longer holds it
    first.engine.state.journal_recorded(key)
    first.engine.state.prune_journal(t(24, 10, 30))
    assert not first.engine.state.journal_done_actions(key)

    rules = _renamed(tmp_path, "Non-production systems are P4", "Test systems are P4")
    sb.set_now(t(24, 10, 30))
    second = bridges(sb, state=first.engine.state.path, rules_path=rules)
    assert second.cycle().report.full
    assert _public_bridge_comments(sb, key) == told
    assert end_state(sb, key).priority == "Minor"


def _lowered_to_p2_with_its_edit_lost(
    sb: Sandbox, bridge: Bridge, monkeypatch: pytest.MonkeyPatch
) -> str:
    """A Blocker raised with no staff available: the cycle posts "from P1 to P2", and
    every write after that comment (the priority edit among them) is lost.  Its key.

    The bridge now posts a priority's comment only after the priority's edit landed;
    before it did, the comment went first, and a site upgraded since may hold such
    cases: the cycle here is run in that order."""
    key = new_case(sb, created=t(24, 9, 30), priority="Blocker", staff="No")
    sb.server.faults.set(",".join(f"fail-write:{n}:lost@{key}" for n in range(2, 9)))
    with monkeypatch.context() as before:
        before.setattr(apply._Issue, "hold", lambda run, action: False)
        bridge.cycle()
    sb.server.faults.set(None)
    return key


def test_a_new_change_after_one_whose_edit_failed_is_told_to_the_customer(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comment "from P1 to P2" went out but the priority edit was lost, so Jira's
    changelog holds no change by the bridge: the next change (to P4, the environment now
    Staging) is the bridge's first in the changelog as well, and is told all the same."""
    sb = sandbox_factory(seed="empty", now=t(24, 10))
    without_waiting(monkeypatch)  # the lost writes' retries wait on a stepped clock
    bridge = bridges(sb)
    key = _lowered_to_p2_with_its_edit_lost(sb, bridge, monkeypatch)
    assert end_state(sb, key).priority == "Blocker"
    assert any("from P1 to P2" in body for body in _public_bridge_comments(sb, key))
    sb.set_now(t(24, 10, 10))
    set_fields_as(sb, key, ACME, {"Environment type": "Staging"})
    sb.set_now(t(24, 10, 20))
    bridge.cycle()
    assert end_state(sb, key).priority == "Minor"
    assert any("is now P4" in body for body in _public_bridge_comments(sb, key))


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_change_is_told_though_an_earlier_comment_of_its_number_went_out_for_another(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    flavour: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "from P1 to P2" went out, its edit lost; the next change (to P4) has the same
    number, its comment's answer is lost too but its edit lands.  The P4 comment is
    owed until it is posted: the P2 comment, under a rule still in force, is another
    change's."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 10))
    without_waiting(monkeypatch)  # the lost writes' retries wait on a stepped clock
    bridge = bridges(sb)
    wall = Wall()
    bridge.engine.wall = wall
    key = _lowered_to_p2_with_its_edit_lost(sb, bridge, monkeypatch)
    sb.set_now(t(24, 10, 10))
    set_fields_as(sb, key, ACME, {"Environment type": "Staging"})
    sb.set_now(t(24, 10, 20))
    sb.server.faults.set(f"fail-write:1:lost@{key}")
    bridge.cycle()
    sb.server.faults.set(None)
    assert end_state(sb, key).priority == "Minor"
    for minutes in (30, 40, 50):
        wall.now += timedelta(hours=1)  # past the settling time of the lost comment
        sb.set_now(t(24, 10, minutes))
        bridge.cycle()
    said = _public_bridge_comments(sb, key)
    assert sum("is now P4" in body for body in said) == 1, said


def test_a_renamed_rule_does_not_tell_again_a_change_whose_edit_keeps_failing(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ "from P1 to P2" went out and the priority edit was lost, so the change is still
    owed when a lead renames the rule: it is told already, under the rule's old name."""
    sb = sandbox_factory(seed="empty", now=t(24, 10))
    without_waiting(monkeypatch)  # the lost writes' retries wait on a stepped clock
    first = bridges(sb)
    key = _lowered_to_p2_with_its_edit_lost(sb, first, monkeypatch)
    told = _public_bridge_comments(sb, key)
    assert len(told) == 1 and "from P1 to P2" in told[0]
    rules = _renamed(tmp_path, "P1 needs customer staff available", "P1 needs staff")
    sb.set_now(t(24, 10, 30))
    bridges(sb, state=first.engine.state.path, rules_path=rules).cycle()
    assert _public_bridge_comments(sb, key) == told
    assert end_state(sb, key).priority == "Critical"


def _scheme_without(sb: Sandbox, name: str) -> None:
    """The project's priority scheme lacks the site's priority ``name`` (an admin left it
    out): Jira refuses an edit that sets it (`Store.in_priority_scheme`)."""
    sb.store.project.priority_ids = [p.id for p in sb.store.priorities if p.name != name]


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_priority_the_scheme_lacks_holds_up_no_sla_field_and_is_not_told_until_it_lands(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """A Blocker raised with no staff available is lowered to P2 (Critical), which the
    project's priority scheme lacks: Jira refuses the edit for the priority.  The case gets
    its SLA fields all the same, and the customer is not told of a change that did not
    happen; once an admin adds Critical to the scheme, the next cycle makes the change and
    tells it, once."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 10))
    _scheme_without(sb, "Critical")
    key = new_case(sb, created=t(24, 9, 30), priority="Blocker", staff="No")
    bridge = bridges(sb)

    with capture_logs() as logs:
        bridge.cycle()
    issue = end_state(sb, key)
    assert issue.priority == "Blocker"
    landed = {name: issue.field(name) for name in SLA_FIELDS}
    assert None not in landed.values(), landed
    assert _public_bridge_comments(sb, key) == []
    # nor is the comment announced in the ledger the edit without the priority stored
    assert _told_id(_stored_ledger(sb, key)) == []
    assert bridge.last.report.failed_actions == 1  # the run exits "partly done"
    (warning,) = [e for e in logs if e["event"] == "edit: priority refused"]
    assert (warning["key"], warning["priority"]) == (key, "Critical")
    assert "priority scheme" in warning["action"] and SANDBOX_TOKEN not in str(warning)

    sb.set_now(t(24, 10, 5))  # a cycle later, the scheme still without it: the same
    with capture_logs() as logs:
        bridge.cycle()
    assert end_state(sb, key).priority == "Blocker"
    assert _public_bridge_comments(sb, key) == []
    assert [e["key"] for e in logs if e["event"] == "edit: priority refused"] == [key]

    sb.store.project.priority_ids = None  # the admin adds Critical to the scheme
    sb.set_now(t(24, 10, 10))
    bridge.cycle()
    issue = end_state(sb, key)
    assert issue.priority == "Critical"
    assert {name: issue.field(name) for name in SLA_FIELDS} == landed
    said = _public_bridge_comments(sb, key)
    assert said == [
        f"{key}: we changed the priority from P1 to P2 (Critical): P1 needs your staff "
        "available throughout. To have P1, set Staff available to Yes once they are."
    ]
    assert bridge.last.report.failed_actions == 0

    sb.set_now(t(24, 10, 20))
    assert bridge.cycle().writes == 0
    assert _public_bridge_comments(sb, key) == said


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
@pytest.mark.parametrize(
    ("env", "request_type", "priority", "now_env"),
    [
        # P3 on Staging is P4 as non-production; on Production a request for information
        # is P4 all the same
        ("Staging", "Request for information", "Major", "Production"),
        # P2 installation on Production is P4; on Staging the non-production rule holds it
        ("Production", "Installation", "Critical", "Staging"),
    ],
    ids=["production-named-later", "staging-named-later"],
)
def test_a_change_held_by_another_rule_since_is_not_told_again(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    flavour: str,
    env: str,
    request_type: str,
    priority: str,
    now_env: str,
) -> None:
    """The bridge made the case P4 and said why once.  The customer then changes the
    environment: another rule now keeps the case at P4, but nothing changes, so the
    customer is told nothing (the change was told, under the rule that made it)."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 10))
    key = new_case(
        sb,
        org="Initech Systems",
        created=t(24, 9),
        env=env,
        request_type=request_type,
        priority=priority,
    )
    bridge = bridges(sb)
    bridge.cycle()
    told = _public_bridge_comments(sb, key)
    assert end_state(sb, key).priority == "Minor"
    assert sum("P4" in body for body in told) == 1, told
    sb.set_now(t(24, 10, 10))
    set_fields_as(sb, key, CONTACT["Initech Systems"], {"Environment type": now_env})
    sb.set_now(t(24, 10, 20))
    bridge.cycle()
    assert end_state(sb, key).priority == "Minor"
    assert _public_bridge_comments(sb, key) == told


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_an_engineers_trivial_is_put_back_as_trivial(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """An engineer's "Trivial" (P4, not the level's own name "Minor") changed by the
    customer is put back as the engineer named it, and the comment names it so."""
    sb = sandbox_factory(seed="empty", flavour=flavour)
    key = new_case(sb, priority="Major", created=t(24, 9))
    sb.advance("5m")
    set_priority(sb, key, "Trivial", by=JANE)
    bridge = bridges(sb)
    bridge.cycle()
    sb.advance("10m")
    set_fields_as(sb, key, ACME, {"Priority": "Blocker"})
    bridge.cycle()
    assert end_state(sb, key).priority == "Trivial"
    assert _public_bridge_comments(sb, key) == [
        f"{key}: our engineer set the priority to P4 (Trivial); it stays so until an "
        "engineer changes it. Please reply here if the impact has changed."
    ]
    sb.advance("10m")
    assert bridge.cycle().writes == 0


# ------------------------------------------------- the priority comment announced by its edit


def _stored_ledger(sb: Sandbox, key: str) -> Ledger:
    with sb.store.lock:
        return Ledger.from_json(sb.store.issue(key).properties.get(LEDGER))


def _told_id(ledger: Ledger) -> list[str]:
    return [aid for aid in (*ledger.done, *ledger.telling) if "/priority/" in aid]


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_priority_comment_follows_its_edit_with_no_ledger_write_of_its_own(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """The edit that lowers a Blocker to P2 carries the ledger, announcing the comment that
    tells of it; the comment follows, and the journal records it: two writes, not three.
    The next cycle knows it is told and writes nothing."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 10))
    key = new_case(sb, created=t(24, 9, 30), priority="Blocker", staff="No")
    bridge = bridges(sb)

    first = bridge.cycle()
    assert [route.split(" ")[0] for route in first.write_routes] == ["PUT", "POST"], first
    assert first.write_routes[1].endswith(f"/issue/{key}/comment")
    said = _public_bridge_comments(sb, key)
    assert len(said) == 1 and "from P1 to P2" in said[0]
    stored = _stored_ledger(sb, key)
    (told,) = _told_id(stored)
    assert told in stored.telling and told not in stored.done
    assert told in bridge.engine.state.journal_done_actions(key)

    sb.set_now(t(24, 10, 5))
    assert bridge.cycle().writes == 0
    assert _public_bridge_comments(sb, key) == said


def _comment_reads(sb: Sandbox, since: int) -> list[str]:
    return [r.path for r in sb.requests.reads[since:] if r.path.endswith("/comment")]


def _state_file_lost(bridge: Bridge, bridges: BridgeFactory, sb: Sandbox, state: Path) -> Bridge:
    bridge.close()
    for path in state.parent.glob(state.name + "*"):
        path.unlink()
    return bridges(sb, state=state)


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_the_journal_keeps_an_announced_comment_until_a_ledger_records_it(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """Only the journal records the comment the edit's ledger announced, so it keeps it
    past its week: the case, visited again, reads none of its comments and writes
    nothing.  The next ledger write of the case records it, and the journal may then
    let it go with its age."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 10))
    key = new_case(sb, created=t(24, 9, 30), priority="Blocker", staff="No")
    bridge = bridges(sb)
    bridge.cycle()
    said = _public_bridge_comments(sb, key)
    (told,) = _told_id(_stored_ledger(sb, key))
    state = bridge.engine.state
    state.prune_journal(t(30, 10))  # a week on
    assert told in state.journal_done_actions(key)

    set_fields_as(sb, key, ACME, {"Summary": "Poller stopped twice"})
    sb.set_now(t(24, 10, 30))
    since = len(sb.requests.reads)
    assert bridge.cycle().writes == 0
    assert _comment_reads(sb, since) == [] and _public_bridge_comments(sb, key) == said

    set_priority(sb, key, "Blocker")  # an engineer's P1: the bridge edits the case's fields
    sb.set_now(t(24, 10, 40))
    run = bridge.cycle()
    assert run.write_routes == [f"PUT /rest/api/2/issue/{key}"], run.write_routes
    stored = _stored_ledger(sb, key)  # that edit carried the ledger, recording the comment
    assert told in stored.done and not stored.telling
    state.prune_journal(t(30, 10))
    assert told not in state.journal_done_actions(key)
    assert _public_bridge_comments(sb, key) == said


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_an_announced_priority_comment_is_not_told_again_once_the_state_file_is_lost(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str, tmp_path: Path
) -> None:
    """The state file is lost after the comment the edit's ledger announced went out: the
    bridge reads the issue's comments before telling the change, finds it there, and
    writes nothing; its new journal remembers it, so later visits read no comments."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 10))
    key = new_case(sb, created=t(24, 9, 30), priority="Blocker", staff="No")
    state = tmp_path / "state.sqlite"
    bridge = bridges(sb, state=state)
    bridge.cycle()
    said = _public_bridge_comments(sb, key)
    (told,) = _told_id(_stored_ledger(sb, key))
    bridge = _state_file_lost(bridge, bridges, sb, state)

    sb.set_now(t(24, 10, 30))
    run = bridge.cycle()
    assert _public_bridge_comments(sb, key) == said
    assert run.writes == 0, run.write_routes
    assert told in bridge.engine.state.journal_done_actions(key)
    set_fields_as(sb, key, ACME, {"Summary": "Poller stopped twice"})
    sb.set_now(t(24, 10, 40))
    since = len(sb.requests.reads)
    assert bridge.cycle().writes == 0
    assert _comment_reads(sb, since) == [] and _public_bridge_comments(sb, key) == said
    assert end_state(sb, key).priority == "Critical"


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_an_announced_change_is_not_told_again_under_a_renamed_rule_once_the_state_is_lost(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str, tmp_path: Path
) -> None:
    """A lead renames the rule whose change the edit's ledger announced, and the state
    file is lost: the comment's id is no longer the one announced, but the change is
    looked for on the issue all the same, and not told twice."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 10))
    key = new_case(sb, created=t(24, 9), env="Staging", priority="Major")
    state = tmp_path / "state.sqlite"
    first = bridges(sb, state=state)
    first.cycle()
    told = _public_bridge_comments(sb, key)
    assert len(told) == 1 and "is now P4" in told[0]
    first.close()
    for path in tmp_path.glob("state.sqlite*"):
        path.unlink()
    rules = _renamed(tmp_path, "Non-production systems are P4", "Test systems are P4")
    sb.set_now(t(24, 10, 30))
    second = bridges(sb, state=state, rules_path=rules)
    second.cycle()
    assert _public_bridge_comments(sb, key) == told


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_refused_priority_costs_one_put_a_cycle(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory, flavour: str
) -> None:
    """While the scheme lacks the priority, each later cycle sends the edit once (Jira
    refuses it); no second PUT carries a ledger with nothing new in it."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 10))
    _scheme_without(sb, "Critical")
    key = new_case(sb, created=t(24, 9, 30), priority="Blocker", staff="No")
    bridge = bridges(sb)
    bridge.cycle()
    for minute in (5, 10):
        sb.set_now(t(24, 10, minute))
        run = bridge.cycle()
        assert [r for r in run.write_routes if r.startswith("PUT ")] == run.write_routes
        assert [r.rsplit("/", 1)[-1] for r in run.write_routes] == [key], run.write_routes
    assert end_state(sb, key).priority == "Blocker"
    assert _public_bridge_comments(sb, key) == []


@pytest.mark.parametrize("then", ["state-kept", "state-file-lost"])
@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_priority_comment_turned_away_after_its_edit_is_told_later_once(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    flavour: str,
    then: str,
    tmp_path: Path,
) -> None:
    """The edit lands (priority P2, the ledger announcing the comment); Jira turns the
    comment away (503, every retry), and again in the next cycle.  The announcement is
    not a record: the cycle after tells the customer, once, and records it."""
    sb = sandbox_factory(seed="empty", flavour=flavour, now=t(24, 10))
    key = new_case(sb, created=t(24, 9, 30), priority="Blocker", staff="No")
    state = tmp_path / "state.sqlite"
    bridge = bridges(sb, state=state)
    turned_away = ",".join(f"fail-write:{n}:refused@{key}" for n in range(2, 12))

    sb.server.faults.set(turned_away)  # write 1 is the edit; the comment's tries fail
    bridge.cycle()
    assert end_state(sb, key).priority == "Critical"
    assert _public_bridge_comments(sb, key) == []
    assert _told_id(_stored_ledger(sb, key)) == list(_stored_ledger(sb, key).telling)
    if then == "state-file-lost":
        bridge = _state_file_lost(bridge, bridges, sb, state)

    sb.server.faults.set(",".join(f"fail-write:{n}:refused@{key}" for n in range(1, 12)))
    sb.set_now(t(24, 10, 5))
    bridge.cycle()  # turned away once more
    assert _public_bridge_comments(sb, key) == []

    sb.server.faults.set(None)
    sb.set_now(t(24, 10, 10))
    bridge.cycle()
    said = _public_bridge_comments(sb, key)
    assert len(said) == 1 and "from P1 to P2" in said[0]
    stored = _stored_ledger(sb, key)
    assert _told_id(stored) == [aid for aid in stored.done if "/priority/" in aid]
    assert not stored.telling

    sb.set_now(t(24, 10, 15))
    assert bridge.cycle().writes == 0
    assert _public_bridge_comments(sb, key) == said
