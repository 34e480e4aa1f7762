"""Exit codes that tell an operator what to do: a person must fix it (1) or the next run
will get through (3); a transition the workflow does not offer is a skip (4).

`run --once` goes through `bridge.cli.main` in-process against a sandbox on loopback.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Collection
from pathlib import Path

import pytest
from conftest import SANDBOX_NOW, Sandbox, SandboxFactory
from e2e_helpers import without_waiting

from bridge.cli import main
from bridge.jira.port import JiraError
from bridge.sandbox import seed as seeds

REPO = Path(__file__).resolve().parents[1]
NOW = SANDBOX_NOW.isoformat()


def config_for(
    tmp_path: Path,
    sb: Sandbox,
    *,
    flavour: str | None = None,
    jql: str = "project = SUP",
    email: str = seeds.BRIDGE_EMAIL,
    rules: Path | None = None,
) -> Path:
    text = (REPO / "config" / "bridge.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  url: .*$", f"  url: {sb.url}", text)
    text = re.sub(r"(?m)^  flavour: .*$", f"  flavour: {flavour or sb.flavour}", text)
    text = re.sub(r"(?m)^  email: .*$", f"  email: {email}", text)
    text = re.sub(r"(?m)^  jql: .*$", f"  jql: '{jql}'", text)
    text = re.sub(r"(?m)^state: .*$", f"state: {{path: {tmp_path / 'state.sqlite'}}}", text)
    text = re.sub(r"(?m)^rules: .*$", f"rules: {rules or REPO / 'rules'}", text)
    path = tmp_path / "bridge.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run_once(config: Path) -> int:
    return main(["run", "--once", "--config", str(config), "--now", NOW])


@pytest.mark.parametrize(
    ("status", "permanent"),
    [
        *[(status, True) for status in (400, 401, 403, 404, 405)],
        *[(status, False) for status in (None, 408, 409, 429, 500, 503)],
    ],
)
def test_only_timeouts_rate_limits_and_server_errors_are_passing(
    status: int | None, permanent: bool
) -> None:
    assert JiraError("x", status=status).permanent is permanent


def test_a_rejected_token_exits_1_saying_what_to_fix(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sb = sandbox_factory(flavour="datacenter")
    monkeypatch.setenv("JIRA_API_TOKEN", "not-the-token")
    assert run_once(config_for(tmp_path, sb)) == 1
    err = capsys.readouterr().err
    assert "401" in err and "personal access token" in err and "not-the-token" not in err


def test_a_forbidden_call_exits_1(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A portal customer's account may not read the site's fields: 403."""
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.CUSTOMER_TOKEN)
    assert run_once(config_for(tmp_path, sandbox, email="noc@globex.example")) == 1
    assert "403" in capsys.readouterr().err


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_bad_jql_query_exits_1_naming_the_setting(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    flavour: str,
) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    sb = sandbox_factory(flavour=flavour)
    assert run_once(config_for(tmp_path, sb, jql="project = = SUP")) == 1
    captured = capsys.readouterr()
    assert "jira.jql" in captured.err and "400" in captured.err
    assert sb.requests.count(kind="write") == 0


def test_the_wrong_flavour_for_the_site_exits_1_naming_the_setting(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Cloud config against a Data Center site: the first call the dialects do
    differently (the user look-up) is refused and the message names the setting.  The
    other way round Cloud refuses the bearer token (401)."""
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    sb = sandbox_factory(flavour="datacenter")
    assert run_once(config_for(tmp_path, sb, flavour="cloud")) == 1
    assert "jira.flavour (cloud)" in capsys.readouterr().err
    sb = sandbox_factory(flavour="cloud")
    assert run_once(config_for(tmp_path, sb, flavour="datacenter")) == 1
    assert "401" in capsys.readouterr().err


def test_server_errors_stay_passing_exit_3(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    without_waiting(monkeypatch)
    sb = sandbox_factory(flavour="datacenter", faults="503:1.0")
    assert run_once(config_for(tmp_path, sb)) == 3


def test_a_transition_the_workflow_lacks_is_counted_as_skipped_and_exits_4(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Data Center lists no workflow transitions, so a wrong name is only found per issue:
    the summary counts it, the exit code says so, and `explain` shows it."""
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    sla = rules / "sla.yaml"
    sla.write_text(
        sla.read_text(encoding="utf-8").replace("transition: Escalate", "transition: Teleport"),
        encoding="utf-8",
    )
    sb = sandbox_factory(flavour="datacenter")
    config = config_for(tmp_path, sb, rules=rules)
    assert run_once(config) == 4
    captured = capsys.readouterr()
    skipped = int(re.search(r"(\d+) skipped", captured.out).group(1))  # type: ignore[union-attr]
    teleports = len(re.findall(r"(?m)^warning: SUP-\d+: transition 'Teleport'", captured.err))
    assert teleports >= 1 and skipped == teleports
    key = re.search(r"warning: (SUP-\d+): transition 'Teleport'", captured.err).group(1)  # type: ignore[union-attr]
    assert main(["explain", key, "--config", str(config), "--now", NOW]) == 0
    shown = capsys.readouterr().out
    assert "Skipped by the bridge" in shown and "Teleport" in shown


def test_the_daemon_stops_with_exit_1_when_jira_refuses_it_for_good(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The token is revoked once the daemon has started: its first cycle gets 401.  A
    retry cannot fix that, so the daemon exits 1 saying so instead of backing off for
    ever (a SIGTERM on the third search ends a daemon that retries: it exits 0)."""
    import os
    import signal

    from bridge.commands import run as run_command
    from bridge.sandbox.faults import Decision, Faults

    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    monkeypatch.setattr(run_command, "MAX_BACKOFF", 0.0)  # a retrying daemon retries at once
    user = sandbox.store.user_by_email(seeds.BRIDGE_EMAIL)
    assert user is not None
    take = run_command.take_site_lock

    def take_then_revoke(site_lock: object) -> int | None:
        refused = take(site_lock)  # type: ignore[arg-type]
        user.token = user.pat = None
        return refused

    class StopOnThirdSearch(Faults):
        searches = 0

        def decide(self, endpoint: str, kind: str, issues: Collection[str] = ()) -> Decision:
            if "search" in endpoint and "/user" not in endpoint:  # issue searches only
                self.searches += 1
                if self.searches == 3:
                    os.kill(os.getpid(), signal.SIGTERM)
            return super().decide(endpoint, kind, issues)

    monkeypatch.setattr(run_command, "take_site_lock", take_then_revoke)
    sandbox.server.faults = StopOnThirdSearch(None)
    assert main(["run", "--config", str(config_for(tmp_path, sandbox))]) == 1
    err = capsys.readouterr().err
    assert "error:" in err and "401" in err and seeds.BRIDGE_TOKEN not in err
    assert sandbox.requests.count(kind="write") == 0


@pytest.mark.parametrize("problem", ["401", "403", "404"])
def test_check_online_exits_1_when_jira_refuses_the_bridge_for_good(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    problem: str,
) -> None:
    """A wrong token, a missing permission or a wrong path in jira.url is for a person to
    fix, as `run --once` and `plan` say with exit 1: `check --online` says the same."""
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    if problem == "401":
        monkeypatch.setenv("JIRA_API_TOKEN", "not-the-token")
        config = config_for(tmp_path, sandbox)
    elif problem == "403":
        monkeypatch.setenv("JIRA_API_TOKEN", seeds.CUSTOMER_TOKEN)
        config = config_for(tmp_path, sandbox, email="noc@globex.example")
    else:
        config = config_for(tmp_path, sandbox)
        text = config.read_text(encoding="utf-8").replace(sandbox.url, f"{sandbox.url}/jira")
        config.write_text(text, encoding="utf-8")
    assert main(["check", "--online", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert f"HTTP {problem}" in out and "not-the-token" not in out
    assert run_once(config) == 1  # the same answer as a cycle's
