"""Malformed rule and config files: each is a clear ``file:line`` error, never a traceback,
a hang or a write.

Every case is a real ``run --once`` (in process) against one sandbox that must see
no request at all: a bad file stops the bridge before it talks to Jira.  The rule
cases edit a copy of the shipped rules, the config cases a copy of the shipped
config.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import SANDBOX_NOW

from bridge.cli import main
from bridge.sandbox import seed as seeds
from bridge.sandbox.server import SandboxServer

REPO = Path(__file__).resolve().parents[2]

#: A guard against a hang (an alias bomb took minutes), not a speed claim.
HANG_GUARD_S = 30.0


def bomb(levels: int) -> str:
    lols = ", ".join(['"lol"'] * 10)
    lines = [f"x0: &x0 [{lols}]"]
    lines += [f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, levels + 1)]
    return "\n".join(lines) + "\n"


# (file, text to find, replacement); a find of None replaces the whole file
RULE_CASES: dict[str, tuple[str, str | None, str]] = {
    # YAML itself
    "tiers: alias bomb": ("tiers.yaml", None, bomb(9)),
    "sla: alias bomb appended": (
        "sla.yaml",
        "default_calendar: brisbane",
        bomb(8) + "default_calendar: brisbane",
    ),
    "customers: NUL byte": ("customers.yaml", "tier: standard", "tier: stan\0dard"),
    "priorities: NUL byte in a comment": (
        "priorities.yaml",
        "respect_engineer_changes",
        "# \0\nrespect_engineer_changes",
    ),
    "tiers: BEL control character": ("tiers.yaml", "not_entitled:", "not_entitled:\x07"),
    "sla: unclosed flow list": ("sla.yaml", "[Work in progress]", "[Work in progress"),
    "sla: unclosed quote": ("sla.yaml", '"09:00-17:00"}', '"09:00-17:00}'),
    "tiers: tab indentation": ("tiers.yaml", "  standard:", "\tstandard:"),
    "customers: python tag": (
        "customers.yaml",
        "tier: standard",
        "tier: !!python/object/apply:os.system [id]",
    ),
    "customers: custom tag": ("customers.yaml", "tier: standard", "tier: !secret standard"),
    "priorities: self-referencing alias": (
        "priorities.yaml",
        "respect_engineer_changes: true",
        "respect_engineer_changes: &r [*r]",
    ),
    "priorities: undefined alias": (
        "priorities.yaml",
        "respect_engineer_changes: true",
        "respect_engineer_changes: *nowhere",
    ),
    "sla: nested 5,000 deep": (
        "sla.yaml",
        "default_calendar: brisbane",
        "deep: " + "[" * 5000 + "]" * 5000 + "\ndefault_calendar: brisbane",
    ),
    "tiers: two documents": ("tiers.yaml", None, "tiers: {}\n---\ntiers: {}\n"),
    "tiers: binary junk": ("tiers.yaml", None, "\x00\x01\x02\xff\xfe garbage"),
    "sla: a list at the top": ("sla.yaml", None, "- a\n- b\n"),
    "customers: a scalar at the top": ("customers.yaml", None, "just text\n"),
    "priorities: empty file": ("priorities.yaml", None, ""),
    "tiers: duplicate key": ("tiers.yaml", "  premium:", "  standard: {contacts: 1}\n  premium:"),
    # durations and numbers
    "sla: huge target": ("sla.yaml", "P1: 4h", "P1: 99999999999999999999h"),
    "sla: target just over a year": ("sla.yaml", "P1: 4h", "P1: 8785h"),
    "sla: target in days": ("sla.yaml", "P1: 4h", "P1: 2d"),
    "sla: negative target": ("sla.yaml", "P1: 4h", "P1: -4h"),
    "sla: zero target": ("sla.yaml", "P1: 4h", "P1: 0h"),
    "sla: target is a number": ("sla.yaml", "P1: 4h", "P1: 4"),
    "sla: target .nan": ("sla.yaml", "P1: 4h", "P1: .nan"),
    "sla: at_risk_at .inf": ("sla.yaml", "at_risk_at: 75%", "at_risk_at: .inf"),
    "sla: at_risk_at 1e400%": ("sla.yaml", "at_risk_at: 75%", "at_risk_at: 1e400%"),
    "sla: at_risk_at over 100%": ("sla.yaml", "at_risk_at: 75%", "at_risk_at: 175%"),
    "sla: escalation at 10^30 %": (
        "sla.yaml",
        "- at: 50%",
        "- at: 1000000000000000000000000000000%",
    ),
    "tiers: huge quota": ("tiers.yaml", "cases_per_month: 4,", "cases_per_month: 1e999,"),
    "tiers: negative quota": ("tiers.yaml", "cases_per_month: 4,", "cases_per_month: -4,"),
    "tiers: quota is text": ("tiers.yaml", "cases_per_month: 4,", "cases_per_month: four,"),
    "tiers: contacts .nan": ("tiers.yaml", "contacts: 1,", "contacts: .nan,"),
    # times, zones, calendars
    "sla: opening hours 25:00": (
        "sla.yaml",
        'mon-fri: "09:00-17:00"}\n    holidays: {country: AU',
        'mon-fri: "09:00-25:00"}\n    holidays: {country: AU',
    ),
    "sla: opening hours reversed": (
        "sla.yaml",
        'mon-fri: "09:00-17:00"}\n    holidays: {country: AU',
        'mon-fri: "17:00-09:00"}\n    holidays: {country: AU',
    ),
    "sla: unknown weekday": (
        "sla.yaml",
        'mon-fri: "09:00-17:00"}\n    holidays: {country: AU',
        'mon-fry: "09:00-17:00"}\n    holidays: {country: AU',
    ),
    "sla: unknown time zone": ("sla.yaml", "Australia/Brisbane", "Australia/Brisbaine"),
    "sla: time zone path traversal": ("sla.yaml", "Australia/Brisbane", "../../../../etc/passwd"),
    "sla: time zone with NUL escape": (
        "sla.yaml",
        "timezone: Australia/Brisbane",
        'timezone: "Australia/Bris\\0bane"',
    ),
    "sla: unknown holiday country": ("sla.yaml", "country: AU", "country: XX"),
    "sla: holiday date 2026-13-45": ("sla.yaml", "extra: [2026-12-24]", "extra: [2026-13-45]"),
    "sla: holiday year 99999": ("sla.yaml", "extra: [2026-12-24]", "extra: ['99999-12-24']"),
    "sla: default calendar unknown": (
        "sla.yaml",
        "default_calendar: brisbane",
        "default_calendar: mars",
    ),
    "customers: calendar unknown": ("customers.yaml", "calendar: brisbane", "calendar: atlantis"),
    # references and shapes
    "customers: tier unknown": ("customers.yaml", "tier: standard", "tier: platinum"),
    "customers: contacts is a number": (
        "customers.yaml",
        "contacts: [ops@acme.example]",
        "contacts: 42",
    ),
    "customers: contact not an e-mail": (
        "customers.yaml",
        "contacts: [ops@acme.example]",
        "contacts: [ops]",
    ),
    "customers: too many contacts": (
        "customers.yaml",
        "contacts: [ops@acme.example]",
        "contacts: [a@x.example, b@x.example, c@x.example]",
    ),
    "priorities: unknown level": ("priorities.yaml", "set: P4", "set: P9"),
    "priorities: rule without when": (
        "priorities.yaml",
        "    when: {request_type: [Installation]}\n",
        "",
    ),
    "priorities: unknown field": ("priorities.yaml", "field: environment", "field: enviroment"),
    "priorities: catastrophic regex": (
        "priorities.yaml",
        "when: {request_type: [Installation]}",
        "when: {summary_matches: '(a+)+$'}",
    ),
    "priorities: catastrophic regex (overlapping alternatives)": (
        "priorities.yaml",
        "when: {request_type: [Installation]}",
        "when: {summary_matches: '(.|x)*y'}",
    ),
    "priorities: polynomial regex": (
        "priorities.yaml",
        "when: {request_type: [Installation]}",
        "when: {summary_matches: '(.*a){20}'}",
    ),
    "priorities: invalid regex": (
        "priorities.yaml",
        "when: {request_type: [Installation]}",
        "when: {summary_matches: '(unclosed'}",
    ),
    "priorities: respect_engineer_changes is text": (
        "priorities.yaml",
        "respect_engineer_changes: true",
        "respect_engineer_changes: maybe",
    ),
    "sla: escalation out of order": ("sla.yaml", "- at: 50%", "- at: 90%"),
    "sla: unknown action": ("sla.yaml", "- label: sla-at-risk", "- launch: rockets"),
    "sla: label with a space": ("sla.yaml", "- label: sla-at-risk", "- label: sla at risk"),
    "sla: label of 300 characters": ("sla.yaml", "- label: sla-at-risk", "- label: " + "x" * 300),
    "tiers: template without {key}": (
        "tiers.yaml",
        'text: "{key}: {request_type} is not',
        'text: "{request_type} is not',
    ),
    "tiers: template with unknown placeholder": (
        "tiers.yaml",
        "{request_type} is not",
        "{request_type.__class__} is not",
    ),
    "tiers: template with format spec": (
        "tiers.yaml",
        "{request_type} is not",
        "{request_type:>99999999} is not",
    ),
    "tiers: visibility unknown": (
        "tiers.yaml",
        'comment: {visibility: public, text: "{key}: {request_type}',
        'comment: {visibility: everyone, text: "{key}: {request_type}',
    ),
    "tiers: unknown top-level key": ("tiers.yaml", "quota:", "quotas:"),
    "sla: required information field unknown": (
        "sla.yaml",
        "    - product ",
        "    - shoe_size ",
    ),
}

CONFIG_CASES: dict[str, tuple[str | None, str]] = {
    "alias bomb": (
        "polling: {interval: 5m, overlap: 2m}",
        "polling: {interval: 5m, overlap: 2m}\n" + bomb(9),
    ),
    "NUL byte": ("page_size: 100", "page_\0size: 100"),
    "control character": ("jql: project = SUP", "jql: project = SUP\x1b"),
    "python tag": ("page_size: 100", "page_size: !!python/object/apply:os.system [id]"),
    "timeout .nan": ("page_size: 100", "page_size: 100\n  timeout: .nan"),
    "timeout .inf": ("page_size: 100", "page_size: 100\n  timeout: .inf"),
    "timeout -1": ("page_size: 100", "page_size: 100\n  timeout: -1"),
    "timeout 10^400": ("page_size: 100", "page_size: 100\n  timeout: 1e400"),
    "timeout text": ("page_size: 100", "page_size: 100\n  timeout: soon"),
    "page size 0": ("page_size: 100", "page_size: 0"),
    "page size huge": ("page_size: 100", "page_size: 1e999"),
    "page size text": ("page_size: 100", "page_size: many"),
    "interval huge": ("interval: 5m", "interval: 99999999999999999999h"),
    "interval over a year": ("interval: 5m", "interval: 9000h"),
    "overlap negative": ("overlap: 2m", "overlap: -2m"),
    "interval days": ("interval: 5m", "interval: 1d"),
    "URL with user and password": (
        "url: SITEURL",
        "url: https://bob:hunter2@example.atlassian.net",
    ),
    "URL with user only": ("url: SITEURL", "url: https://bob@example.atlassian.net"),
    "URL plain http, not loopback": (
        "url: SITEURL",
        "url: http://example.atlassian.net",
    ),
    "URL plain http to *.localhost": (
        "url: SITEURL",
        "url: http://jira.localhost:8089",
    ),
    "URL with a bad port": ("url: SITEURL", "url: http://127.0.0.1:80x9"),
    "URL with an unclosed IPv6 bracket": ("url: SITEURL", "url: http://[::1:8089"),
    "URL ftp": ("url: SITEURL", "url: ftp://127.0.0.1"),
    "URL empty": ("url: SITEURL", "url: ''"),
    "URL is a list": ("url: SITEURL", "url: [a, b]"),
    "literal token": ("token_env: JIRA_API_TOKEN", "token: abc123"),
    "unknown flavour": ("flavour: cloud", "flavour: server"),
    "state path is a directory": ("state: {path: STATE}", "state: {path: /tmp}"),
    "state path under a file": (
        "state: {path: STATE}",
        "state: {path: /etc/hostname/state.sqlite}",
    ),
    "state path with NUL": ("state: {path: STATE}", 'state: {path: "/tmp/a\\0b.sqlite"}'),
    "lock path is a directory": ("state: {path: STATE}", "state: {path: STATE, lock: /tmp}"),
    "fields missing": ("fields:", "fieldz:"),
    "a top-level list": (None, "- jira\n- fields\n"),
    "empty file": (None, ""),
    "unknown top-level key": ("polling:", "poling:"),
}


@pytest.fixture(scope="module")
def site() -> Iterator[SandboxServer]:
    server = SandboxServer(seeds.build("demo", now=SANDBOX_NOW), "127.0.0.1", 0).start()
    yield server
    server.stop()


def config_for(rules: Path) -> str:
    text = (REPO / "config" / "bridge.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  url: .*$", "  url: SITEURL", text)
    text = re.sub(r"(?m)^state: .*$", "state: {path: STATE}", text)
    text = re.sub(r"(?m)^rules: .*$", f"rules: {rules}", text)
    return text


def run_once(config: Path, rules: Path | None = None) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    argv = ["run", "--once", "--config", str(config), "--now", SANDBOX_NOW.isoformat()]
    if rules is not None:
        argv += ["--rules", str(rules)]
    began = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    assert time.monotonic() - began < HANG_GUARD_S
    return code, out.getvalue() + err.getvalue()


def assert_clear_error(code: int, text: str, file: Path) -> None:
    assert code == 1, text[-2000:]
    assert "Traceback" not in text and "internal error" not in text, text[-2000:]
    assert re.search(rf"{re.escape(str(file))}(:\d+)?: ", text), text[-2000:]
    assert "hunter2" not in text


@pytest.mark.parametrize("name", list(RULE_CASES))
def test_a_malformed_rule_file_is_a_clear_error(
    site: SandboxServer, tmp_path: Path, name: str
) -> None:
    file, find, replace = RULE_CASES[name]
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    target = rules / file
    text = target.read_text(encoding="utf-8")
    if find is None:
        text = replace
    else:
        assert find in text, f"case {name!r} no longer matches {file}"
        text = text.replace(find, replace, 1)
    target.write_text(text, encoding="utf-8", errors="surrogateescape")
    config = tmp_path / "bridge.yaml"
    config.write_text(
        config_for(REPO / "rules")
        .replace("STATE", str(tmp_path / "s.db"))
        .replace("SITEURL", site.url),
        encoding="utf-8",
    )
    before = site.requests.count()
    code, output = run_once(config, rules)
    assert_clear_error(code, output, target)
    assert site.requests.count() == before, "nothing was asked of Jira"
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("name", list(CONFIG_CASES))
def test_a_malformed_config_is_a_clear_error(
    site: SandboxServer, tmp_path: Path, name: str
) -> None:
    find, replace = CONFIG_CASES[name]
    text = config_for(REPO / "rules")
    if find is None:
        text = replace
    else:
        assert find in text, f"case {name!r} no longer matches the config"
        text = text.replace(find, replace, 1)
    config = tmp_path / "bridge.yaml"
    text = text.replace("STATE", str(tmp_path / "s.db")).replace("SITEURL", site.url)
    config.write_text(text, encoding="utf-8")
    before = site.requests.count()
    code, output = run_once(config)
    assert_clear_error(code, output, config)
    assert site.requests.count() == before, "nothing was asked of Jira"
    assert not (tmp_path / "s.db").exists()
