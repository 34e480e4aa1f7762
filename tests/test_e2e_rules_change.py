"""When the rules change, or a case could not be handled, the next cycle catches up.

Incremental cycles read only what Jira lists as updated; neither a lead's edit of the
rules nor a case skipped for a bad value makes Jira list anything, so the bridge must
remember on its own (a policy fingerprint; a wake-up for skipped cases).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import Sandbox
from e2e_helpers import RULES, BridgeFactory, end_state, iter_org, write_config

from bridge import cli
from bridge.sync import cycle as sync_cycle
from bridge.sync.cycle import Engine

NOW = "2026-11-24T10:00+10:00"


def test_editing_the_rules_re_evaluates_every_case_on_the_next_run(
    sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = Path(shutil.copytree(RULES, tmp_path / "rules"))
    config = write_config(sandbox, tmp_path)
    tree = yaml.safe_load(config.read_text())
    tree["rules"] = str(rules)
    config.write_text(yaml.safe_dump(tree, sort_keys=False))

    assert cli.main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    acme = list(iter_org(sandbox, "Acme Networks"))
    assert acme and {c.field("Support tier") for c in acme} == {"Standard"}
    assert cli.main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    assert "cycle incremental:" in capsys.readouterr().out

    # the lead moves Acme to Premium; nothing changes in Jira
    customers = rules / "customers.yaml"
    text = customers.read_text()
    assert "tier: standard" in text
    customers.write_text(text.replace("tier: standard", "tier: premium", 1))
    assert cli.main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    out = capsys.readouterr().out
    assert f"cycle full: {len(sandbox.store.issues)} read" in out, out
    assert {c.field("Support tier") for c in iter_org(sandbox, "Acme Networks")} == {"Premium"}

    # and once applied, the next run is incremental again and writes nothing
    writes = sandbox.requests.count(kind="write")
    assert cli.main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    assert "cycle incremental:" in capsys.readouterr().out
    assert sandbox.requests.count(kind="write") == writes


def test_an_upgrade_that_decides_differently_re_evaluates_every_case_on_its_first_run(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(sandbox, tmp_path)
    assert cli.main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    assert cli.main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    assert "cycle incremental:" in capsys.readouterr().out

    # the same rules and state file, a release whose decisions differ on unchanged cases
    monkeypatch.setattr(sync_cycle, "DECISIONS", sync_cycle.DECISIONS + 1)
    assert cli.main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    out = capsys.readouterr().out
    assert f"cycle full: {len(sandbox.store.issues)} read" in out, out
    assert cli.main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    assert "cycle incremental:" in capsys.readouterr().out


def test_a_case_that_failed_evaluation_is_retried_next_cycle(
    sandbox: Sandbox, bridges: BridgeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    bridge = bridges(sandbox)
    real = Engine.evaluate
    victim = "SUP-21"

    def flaky(self: Engine, snapshot, cycle):  # type: ignore[no-untyped-def]
        if snapshot.key == victim:
            raise ValueError("odd value")
        return real(self, snapshot, cycle)

    monkeypatch.setattr(Engine, "evaluate", flaky)
    first = bridge.cycle()
    assert (victim, "ValueError: odd value") in first.report.skipped
    assert end_state(sandbox, victim).field("SLA state") is None

    monkeypatch.setattr(Engine, "evaluate", real)
    second = bridge.cycle()  # nothing changed in Jira for the victim
    assert victim in second.keys_read
    assert end_state(sandbox, victim).field("SLA state") is not None
