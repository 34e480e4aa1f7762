"""`jsm-bridge check`, `due` and `schema` through the CLI entry point (in-process, fast)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from test_ruleset import patch, rules_copy

from bridge.cli import main
from bridge.commands import check
from bridge.rules.schema import FILES, schema_for

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
CONFIG = ROOT / "config" / "bridge.yaml"


@pytest.fixture(autouse=True)
def no_token_in_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JIRA_API_TOKEN", raising=False)


# ------------------------------------------------------------------------ check


def test_check_on_the_shipped_config_and_rules(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(config=str(CONFIG), rules=None, today=dt.date(2026, 11, 27))
    assert check.run(args) == 0
    out = capsys.readouterr().out
    assert "Jira http://127.0.0.1:8089 (cloud), scope: project = SUP" in out
    # tiers table
    assert [
        line.split()[:3] for line in out.splitlines() if line.strip().startswith("Premium ")
    ] == [["Premium", "2", "12"]]
    # customers: tier, calendar, contacts n/allowed, named engineer
    assert "Globex Telecom   Enterprise  new-york  3/3       jane.engineer@vendor.example" in out
    assert "Acme Networks    Standard    brisbane  1/1" in out
    # every Jira priority has a level (defect 14: an engineer's Trivial is P4)
    assert "P1 = Blocker (also Highest)" in out
    assert "P4 = Minor (also Trivial, Low, Lowest)" in out
    assert "5. P1 needs customer staff available" in out
    assert "when priority P1 and staff_available not in [Yes] (or empty) -> set P2" in out
    assert "P1  4h of business time" in out
    assert "P3  close of the next business day" in out
    assert (
        "brisbane (default): Australia/Brisbane, Mon-Fri 09:00-17:00, AU/QLD holidays + 1 extra"
        in out
    )
    # the holidays of the twelve months from 27 Nov 2026 on a business weekday
    assert (
        "    holidays 27 Nov 2026 - 26 Nov 2027:\n"
        "      Thu 24 Dec 2026  Closed (extra date)\n"
        "      Fri 25 Dec 2026  Christmas Day\n"
        "      Mon 28 Dec 2026  Boxing Day (observed)\n"
    ) in out
    assert "3. at 100% of the target:" in out
    assert "transition 'Escalate'" in out
    assert out.rstrip().endswith("OK: config and rules are valid.")


def _calendar_block(out: str, name: str) -> str:
    """A calendar's lines in ``check``'s summary: its heading and the indented ones below."""
    lines = out.split(f"\n  {name}", 1)[1].splitlines()
    block = [lines[0]]
    for line in lines[1:]:
        if not line.startswith("    "):
            break
        block.append(line)
    return "\n".join(block) + "\n"


def test_defect_5_check_prints_each_calendars_holidays_for_the_next_twelve_months(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = argparse.Namespace(config=str(CONFIG), rules=None, today=dt.date(2026, 3, 1))
    assert check.run(args) == 0
    out = capsys.readouterr().out
    london = _calendar_block(out, "london:")
    # England and Wales: Easter Monday and the August bank holiday close London
    assert "holidays 01 Mar 2026 - 28 Feb 2027:" in london
    assert "Mon 06 Apr 2026  Easter Monday" in london
    assert "Mon 31 Aug 2026  Late Summer Bank Holiday" in london
    new_york = _calendar_block(out, "new-york:")
    assert "holidays worked: Columbus Day, Election Day" in new_york
    assert "escalation owner: sam.agent@vendor.example" in new_york
    assert "Thu 26 Nov 2026  Thanksgiving Day" in new_york
    assert "Mon 15 Feb 2027  Washington's Birthday\n" in new_york  # not Susan B. Anthony's
    for worked in ("Columbus Day", "Election Day", "Veterans Day", "Lincoln's Birthday"):
        assert f"  {worked}\n" not in new_york, worked


def test_check_through_main_with_rules_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config/bridge.yaml here: only the rules are checked
    assert main(["check", "--rules", str(RULES)]) == 0
    out = capsys.readouterr().out
    assert "no config found (looked at --config, $JSM_BRIDGE_CONFIG" in out
    assert "checking the rules only" in out
    assert "OK: rules are valid." in out


def test_check_prints_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = rules_copy(tmp_path)
    patch(rules, "tiers.yaml", "contacts: 1,", "contacts: one,")
    patch(rules, "customers.yaml", "calendar: london", "calendar: paris")
    patch(rules, "sla.yaml", "P2: 6h", "P2: 6 hours")
    code = main(["check", "--config", str(CONFIG), "--rules", str(rules)])
    out = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    assert any(
        line.startswith(f"{rules / 'tiers.yaml'}:14: tier standard: contacts") for line in lines
    )
    assert any(
        line.startswith(f"{rules / 'customers.yaml'}:23: customer Initech Systems")
        for line in lines
    )
    assert any(line.startswith(f"{rules / 'sla.yaml'}:") and "'6 hours'" in line for line in lines)
    assert lines[-1] == "3 problems found; nothing was changed in Jira."
    assert "Tiers" not in out  # no summary for broken rules


def test_check_reports_config_and_rules_problems_together(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text(CONFIG.read_text().replace("page_size: 100", "page_sise: 100"))
    rules = rules_copy(tmp_path)
    patch(rules, "sla.yaml", "label: sla-at-risk", "label: sla at risk")
    assert main(["check", "--config", str(config), "--rules", str(rules)]) == 1
    out = capsys.readouterr().out
    assert f"{config}:10: jira: unknown key 'page_sise'" in out
    assert "label must be a Jira label, not 'sla at risk'" in out


def test_check_checks_the_rules_a_broken_config_names(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # the config fails (unknown key) and names its own rules directory: those rules,
    # not ./rules, are the ones checked and reported
    site = tmp_path / "site"
    (site / "conf").mkdir(parents=True)
    rules = shutil.copytree(RULES, site / "policy")
    patch(rules, "sla.yaml", "label: sla-at-risk", "label: sla at risk")
    config = site / "conf" / "bridge.yaml"
    text = CONFIG.read_text().replace("page_size: 100", "page_sise: 100")
    config.write_text(text.replace("rules: ../rules", "rules: ../policy"))
    assert "rules: ../policy" in config.read_text()
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "unknown key 'page_sise'" in out
    assert "label must be a Jira label, not 'sla at risk'" in out
    assert str(rules / "sla.yaml") in out or "policy/sla.yaml" in out


def test_check_with_an_explicit_missing_config_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--config", str(tmp_path / "none.yaml"), "--rules", str(RULES)]) == 1
    assert "none.yaml: config file not found" in capsys.readouterr().out


# -------------------------------------------------------------------------- due


def due(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["due", "--config", str(CONFIG), *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_due_spec_example_friday_afternoon_p1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = due(
        capsys,
        "--created",
        "2026-11-27T15:00+10:00",
        "--priority",
        "P1",
        "--customer",
        "Acme Networks",
    )
    assert code == 0
    assert "Acme Networks: Standard tier, calendar brisbane (Australia/Brisbane)" in out
    assert "due      Mon 30 Nov 2026 11:00 AEST  (2026-11-30 01:00 UTC)" in out
    assert "a response at this instant is in time: breached only after it" in out  # defect 11
    assert "business time to respond: 4h" in out


def test_due_spec_example_saturday_p1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = due(capsys, "--created", "2026-11-28T10:00+10:00", "--priority", "P1")
    assert code == 0
    assert "calendar brisbane (the default calendar)" in out
    assert "due      Mon 30 Nov 2026 13:00 AEST" in out


def test_due_next_business_day_from_monday_morning(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = due(
        capsys, "--created", "2026-11-30T08:00+10:00", "--priority", "P3", "--calendar", "brisbane"
    )
    assert code == 0
    assert "due      Tue 1 Dec 2026 17:00 AEST" in out
    assert "business time to respond: 16h" in out  # all of Monday and Tuesday


def test_due_skips_holidays_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = due(
        capsys,
        "--created",
        "2026-12-23T15:00+10:00",
        "--priority",
        "P4",
        "--customer",
        "acme networks",
    )
    assert code == 0
    assert "due      Tue 29 Dec 2026 17:00 AEST" in out
    assert "holidays skipped:" in out and "Christmas Day" in out


def test_due_on_a_dst_calendar_with_a_jira_priority_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Globex (new-york): created Fri 6 Mar 2026 15:00 EST; DST starts Sun 8 Mar.
    code, out, _ = due(
        capsys,
        "--created",
        "2026-03-06T15:00-05:00",
        "--priority",
        "Critical",
        "--customer",
        "Globex Telecom",
    )
    assert code == 0
    assert "P2 (Critical) target: 6h of business time" in out
    assert "due      Mon 9 Mar 2026 13:00 EDT  (2026-03-09 17:00 UTC)" in out


def test_due_naive_time_is_read_in_the_calendar_zone(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = due(
        capsys, "--created", "2026-11-27T15:00", "--priority", "P1", "--customer", "Initech Systems"
    )
    assert code == 0
    assert "read as Europe/London time" in out
    assert "created  Fri 27 Nov 2026 15:00 GMT" in out
    assert "due      Mon 30 Nov 2026 11:00 GMT" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--priority", "P9"], "unknown priority 'P9'; use one of P1 (Blocker), P2 (Critical)"),
        (
            ["--priority", "P1", "--customer", "Umbrella Labs"],
            "unknown customer 'Umbrella Labs'; customers in the rules: Acme Networks, Globex Telecom, Initech Systems",
        ),
        (
            ["--priority", "P1", "--calendar", "paris"],
            "unknown calendar 'paris'; calendars in sla.yaml: brisbane, london, new-york",
        ),
    ],
)
def test_due_unknown_names_list_the_valid_ones(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = due(capsys, "--created", "2026-11-27T15:00+10:00", *argv)
    assert code == 2
    assert message in err
    assert out == ""


def test_due_with_rules_given_tolerates_a_config_without_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bridge.yaml"
    config.write_text(CONFIG.read_text().replace("http://127.0.0.1:8089", "https://x.example"))
    argv = [
        "due",
        "--config",
        str(config),
        "--created",
        "2026-11-27T15:00+10:00",
        "--priority",
        "P1",
    ]
    assert main(argv) == 1  # without --rules the config decides where the rules are
    assert "JIRA_API_TOKEN is not set" in capsys.readouterr().err
    assert main([*argv, "--rules", str(RULES)]) == 0
    captured = capsys.readouterr()
    assert "note: " in captured.err and "JIRA_API_TOKEN" in captured.err
    assert "due      Mon 30 Nov 2026 11:00 AEST" in captured.out


def test_due_bad_time(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = due(capsys, "--created", "next friday", "--priority", "P1")
    assert code == 2
    assert "is not an ISO 8601 time" in err


# ----------------------------------------------------------------------- schema


def _as_json_types(value: Any) -> Any:
    """YAML dates -> strings, as an editor's YAML language server sees them."""
    if isinstance(value, dict):
        return {str(k): _as_json_types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json_types(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _load(path: Path) -> Any:
    return _as_json_types(yaml.safe_load(path.read_text()))


@pytest.mark.parametrize("name", FILES)
def test_schema_command_prints_valid_json_that_accepts_the_shipped_rules(
    capsys: pytest.CaptureFixture[str], name: str
) -> None:
    assert main(["schema", "--file", name]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.validate(_load(RULES / f"{name}.yaml"), schema)


def test_whole_schema_accepts_all_four_files(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema == json.loads(json.dumps(schema_for(None)))
    jsonschema.Draft202012Validator.check_schema(schema)
    document = {name: _load(RULES / f"{name}.yaml") for name in FILES}
    jsonschema.validate(document, schema)


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("tiers.yaml", "contacts: 1,", "contacts: one,"),
        ("sla.yaml", "P2: 6h", "P2: 6 hours"),
        ("sla.yaml", "at_risk_at: 75%", "at_risk_at: 75"),
        ("customers.yaml", "tier: standard", "tier: standard\n    teir: premium"),
        ("priorities.yaml", "set: P4", "sett: P4"),
        ("sla.yaml", "label: sla-at-risk", "label: sla at risk"),
    ],
)
def test_schema_rejects_broken_files(tmp_path: Path, file: str, old: str, new: str) -> None:
    rules = rules_copy(tmp_path)
    patch(rules, file, old, new)
    schema = schema_for(file.removesuffix(".yaml"))
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_load(rules / file), schema)


def test_hints_name_the_config_that_was_given_not_the_usual_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--config /etc/jsm-bridge/site.yaml`: a hint saying `config/bridge.yaml` sends the
    operator to a file that is not the one in use."""
    repo = Path(__file__).resolve().parents[1]
    etc = tmp_path / "etc"
    etc.mkdir()
    config = etc / "site.yaml"
    text = (repo / "config" / "bridge.yaml").read_text(encoding="utf-8")
    config.write_text(text.replace("rules: ../rules", "rules: ./nowhere"), encoding="utf-8")
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert f"set `rules:` in {config})" in out, out
    assert "config/bridge.yaml" not in out.replace(str(config), "")

    rules = tmp_path / "rules"
    shutil.copytree(repo / "rules", rules)
    priorities = rules / "priorities.yaml"
    edited = priorities.read_text(encoding="utf-8").replace(
        "field: environment", "field: envirnment"
    )
    priorities.write_text(edited, encoding="utf-8")
    assert main(["check", "--config", str(config), "--rules", str(rules)]) == 1
    out = capsys.readouterr().out
    assert f"the keys of `fields:` in {config};" in out, out
