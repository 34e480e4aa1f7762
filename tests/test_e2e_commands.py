"""Dry runs and the commands leads use (`plan`, `explain`, `run --once`, `demo`),
end to end against the sandbox: they tell the truth and the read-only ones write nothing."""

from __future__ import annotations

import difflib
import json
import re
import socket
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import SANDBOX_NOW, Sandbox, SandboxFactory
from e2e_helpers import (
    BridgeFactory,
    end_state,
    explain,
    find_key,
    new_case,
    snapshot_all,
    write_config,
)

from bridge import cli

BNE = ZoneInfo("Australia/Brisbane")
NOW = SANDBOX_NOW.isoformat()


def t(hour: int, minute: int = 0, day: int = 24) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=BNE)


@pytest.fixture(autouse=True)
def _no_token_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # the loopback default (the sandbox's token) applies, as on a newcomer's machine
    monkeypatch.delenv("JIRA_API_TOKEN", raising=False)


def _acme_over_quota(sb: Sandbox) -> str:
    """Four Acme cases this month, then a P2 installation case: the fifth."""
    for day in (2, 5, 9, 16):
        new_case(sb, created=t(10, day=day))
    return new_case(sb, request_type="Installation", priority="Critical", created=t(9))


# ---------------------------------------------------------------------------------- dry run


def test_a_dry_run_writes_nothing_and_plans_exactly_what_the_real_cycle_does(
    sandbox_factory: SandboxFactory, bridges: BridgeFactory
) -> None:
    sb = sandbox_factory(seed="demo")
    bridge = bridges(sb)
    before = snapshot_all(sb)
    dry = bridge.cycle(dry_run=True)
    assert dry.writes == 0
    assert snapshot_all(sb) == before
    planned = {o.key: o.actions for o in dry.report.outcomes}
    assert sum(len(a) for a in planned.values()) > 0
    # the dry run did not move the watermark: the real cycle is still a full one
    real = bridge.cycle()
    assert real.report.full
    assert {o.key: o.actions for o in real.report.outcomes} == planned
    assert real.writes > 0
    assert bridge.cycle(dry_run=True).writes == 0


def test_plan_command_prints_the_changes_and_writes_nothing(
    sandbox_factory: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = sandbox_factory(seed="demo")
    config = write_config(sb, tmp_path)
    install = find_key(sb, "Install NMIS 9 on Red Hat Enterprise Linux 9")
    before = snapshot_all(sb)

    assert cli.main(["plan", "--config", str(config), "--now", NOW]) == 0
    text = capsys.readouterr().out
    assert f"{install}: priority Critical → Minor" in text
    assert "Nothing was written." in text

    assert cli.main(["plan", "--config", str(config), "--now", NOW, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["issues_read"] == len(before)
    by_key = {entry["key"]: entry["actions"] for entry in data["actions"]}
    [edit] = [a for a in by_key[install] if a["kind"] == "edit"]
    minor = sb.store.priority_by_name("Minor")
    assert minor is not None
    assert edit["fields"]["priority"] == {"id": minor.id}

    assert cli.main(["plan", "--config", str(config), "--now", NOW, "--issue", install]) == 0
    one = capsys.readouterr().out
    assert f"{install}: priority Critical → Minor" in one
    assert {line.split(":")[0] for line in one.splitlines() if line.startswith("SUP-")} == {install}

    assert sb.requests.count(kind="write") == 0
    assert snapshot_all(sb) == before


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_run_once_applies_and_a_second_run_writes_nothing(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flavour: str,
) -> None:
    sb = sandbox_factory(seed="empty", flavour=flavour)
    key = _acme_over_quota(sb)
    config = write_config(sb, tmp_path)
    assert cli.main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    issue = end_state(sb, key)
    assert issue.priority == "Minor"
    assert "over-quota" in issue.labels
    writes = sb.requests.count(kind="write")
    assert writes > 0
    assert cli.main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    assert sb.requests.count(kind="write") == writes
    capsys.readouterr()


def test_explain_tells_the_truth_about_a_known_case_and_writes_nothing(
    sandbox_factory: SandboxFactory,
    bridges: BridgeFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sb = sandbox_factory(seed="empty")
    key = _acme_over_quota(sb)
    config = write_config(sb, tmp_path)

    text = explain(key, config, NOW, capsys)
    assert sb.requests.count(kind="write") == 0
    assert "organisation: Acme Networks   tier: Standard" in text
    assert "priority: Critical → Minor (P4;" in text
    assert "Installation issues are P4" in text
    assert "quota: case 5 of 4 in 2026-11 — OVER" in text
    # P4, created Tue 09:00 Brisbane: due at the close of the next business day
    assert "response due: 2026-11-25T17:00+10:00   SLA state: running" in text
    assert "business time used: 1h00m of 16h00m" in text
    assert "Already done by the bridge (ledger):\n  nothing yet" in text
    assert f"{key}: comment (public) 'Case {key} is case 5 of 4 included" in text

    # after a real cycle: the same reasoning, nothing left to do, and the ledger shows it
    bridges(sb).cycle()
    writes = sb.requests.count(kind="write")
    after = explain(key.lower(), config, NOW, capsys)
    assert sb.requests.count(kind="write") == writes
    assert "quota: case 5 of 4 in 2026-11 — OVER" in after
    assert "A cycle now would:\n  change nothing" in after
    assert f"{key}/over-quota" in after.split("Already done by the bridge (ledger):")[1]
    # the field the bridge wrote agrees with what explain says
    assert end_state(sb, key).field("Response due") == t(17, day=25)


def test_explain_an_unknown_key_says_so(
    sandbox_factory: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = sandbox_factory(seed="empty")
    config = write_config(sb, tmp_path)
    assert cli.main(["explain", "SUP-999", "--config", str(config), "--now", NOW]) == 1
    assert "SUP-999 was not found" in capsys.readouterr().out
    # Jira answers `key = "SUP-999"` with HTTP 400: a missing case, not Jira failing
    assert cli.main(["plan", "--issue", "SUP-999", "--config", str(config), "--now", NOW]) == 1
    assert "SUP-999 is not in the bridge's scope" in capsys.readouterr().out


# ------------------------------------------------------------------------------------- demo


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_demo_runs_a_cycle_and_the_second_writes_nothing(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flavour: str,
) -> None:
    # only to write a config (its flavour too); the demo starts its own site
    sb = sandbox_factory(seed="empty", flavour=flavour)
    config = write_config(sb, tmp_path, url=f"http://127.0.0.1:{_free_port()}")
    assert cli.main(["demo", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    first = re.search(r"requests: (\d+) reads, (\d+) writes", out)
    assert first is not None and int(first.group(2)) > 0
    second = re.search(
        r"3\) second cycle: (\d+) cases re-read, (\d+) read requests, (\d+) writes", out
    )
    assert second is not None, out
    assert second.group(3) == "0"
    table = out.split("2) run --once")[1]
    assert re.search(r"^KEY\s+ORGANISATION\s+TIER\s+PRIORITY", table, re.MULTILINE)
    assert len(re.findall(r"^SUP-\d+ ", table, re.MULTILINE)) >= 30
    # what each case got, and the customer of a case naming no organisation
    assert "+sla-breached, →Escalate" in table and "+over-quota" in table, table
    assert re.search(r"^SUP-\d+\s+\(Globex Telecom\)\s+Enterprise", table, re.MULTILINE), table


def test_the_demo_tells_the_same_story_on_any_day(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`make demo` on the 1st of March and on a July night: the demo's moment is the demo
    world's own (the host's clock is handed in, not slept on), so its output is the same
    but for the sandbox's port and the timings."""
    from bridge.sandbox import store as sandbox_store

    sb = sandbox_factory(seed="empty")
    config = write_config(sb, tmp_path, url=f"http://127.0.0.1:{_free_port()}")
    told = []
    for today in (datetime(2027, 3, 1, 0, 5, tzinfo=UTC), datetime(2027, 7, 15, 23, 0, tzinfo=UTC)):
        monkeypatch.setattr(sandbox_store, "wall_clock", lambda today=today: today)
        assert cli.main(["demo", "--config", str(config), "--port", "0"]) == 0
        out = capsys.readouterr().out
        out = re.sub(r"http://127\.0\.0\.1:\d+", "http://127.0.0.1:PORT", out)
        told.append(re.sub(r"\b\d+\.\d+s\b", "N.NNs", out))
    assert told[0] == told[1], "\n".join(difflib.unified_diff(*(t.splitlines() for t in told)))
    assert "run --once at Tue 24 Nov 2026 10:00 AEST" in told[0]
