"""Transition names the rules use are checked against the site's workflows at start-up.

* the client lists every workflow's transition names (paged), or None when the bridge's
  account may not read workflows or the flavour lists none;
* the sandbox serves ``GET /rest/api/3/workflows/search`` in the spec's shape;
* ``jsm-bridge run --once`` stops with exit 1 naming a misspelt transition (with a
  suggestion); unreadable workflows only warn, and the shipped rules start.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from conftest import SANDBOX_NOW, Sandbox, SandboxFactory
from e2e_helpers import RULES, bridge_settings, write_config
from structlog.testing import capture_logs

from bridge.cli import main
from bridge.jira.client import JiraClient
from bridge.jira.port import JiraError
from bridge.jira.retry import RetryPolicy
from bridge.policy.model import EscalationAction, EscalationStep, FlagPolicy, RuleSet
from bridge.rules.load import load_ruleset
from bridge.sandbox import seed as seeds
from bridge.sandbox import specdata
from bridge.sandbox.routes import ROUTES
from bridge.sync.cycle import Site, SiteError

BASE = "https://acme.atlassian.net"
WORKFLOWS = f"{BASE}/rest/api/3/workflows/search"
NOW = SANDBOX_NOW.isoformat()


def client(flavour: str = "cloud", url: str = BASE) -> JiraClient:
    return JiraClient(
        url,
        flavour=flavour,
        email="bridge@vendor.example" if flavour == "cloud" else None,
        token="t0ken-for-tests",
        retry=RetryPolicy(sleep=lambda _s: None, uniform=lambda _a, _b: 0.0),
    )


def workflow(*names: str, initial: str | None = "Create") -> dict[str, object]:
    transitions = [
        {"id": str(10 * n), "name": name, "type": "DIRECTED"} for n, name in enumerate(names, 1)
    ]
    if initial:
        transitions.insert(0, {"id": "1", "name": initial, "type": "INITIAL"})
    return {"id": "w", "name": "wf", "transitions": transitions}


# ------------------------------------------------------------------------------ the client


@responses.activate
def test_cloud_lists_every_page_of_workflows_and_leaves_out_initial_transitions() -> None:
    responses.get(
        WORKFLOWS,
        json={
            "startAt": 0,
            "maxResults": 2,
            "total": 3,
            "isLast": False,
            "values": [workflow("Escalate", "Resolve"), workflow("Start work")],
        },
    )
    responses.get(
        WORKFLOWS,
        json={
            "startAt": 2,
            "maxResults": 2,
            "total": 3,
            "isLast": True,
            "values": [workflow("Escalate", " Close ")],
        },
    )
    names = client().workflow_transition_names()
    assert names == {"Escalate", "Resolve", "Start work", "Close"}
    starts = [parse_qs(urlsplit(c.request.url).query) for c in responses.calls]
    assert [q["startAt"] for q in starts] == [["0"], ["2"]]
    assert all(q["expand"] == ["values.transitions"] for q in starts)


@pytest.mark.parametrize("status", [401, 403, 404])
@responses.activate
def test_no_permission_to_read_workflows_is_none_not_an_error(status: int) -> None:
    responses.get(
        WORKFLOWS,
        status=status,
        json={"errorMessages": ["Only Jira administrators can access workflows."], "errors": {}},
    )
    assert client().workflow_transition_names() is None


@responses.activate
def test_no_readable_workflow_is_none_and_other_failures_are_errors() -> None:
    responses.get(WORKFLOWS, json={"startAt": 0, "total": 0, "isLast": True, "values": []})
    assert client().workflow_transition_names() is None  # nothing to check against
    responses.replace(responses.GET, WORKFLOWS, status=400, json={"errorMessages": ["bad"]})
    with pytest.raises(JiraError) as caught:
        client().workflow_transition_names()
    assert caught.value.status == 400


@responses.activate
def test_data_center_lists_no_transitions_and_asks_nothing() -> None:
    assert client("datacenter").workflow_transition_names() is None
    assert len(responses.calls) == 0


# ------------------------------------------------------------------------------ the sandbox


def test_the_route_is_in_the_spec_and_the_page_validates_against_its_schema(
    sandbox: Sandbox,
) -> None:
    bundle = specdata.bundle()["platform"]["routes"]
    served = [r for r in ROUTES if r.template == "/rest/api/3/workflows/search"]
    assert served and all(r.method in bundle[r.spec_path] for r in served)
    page = sandbox.session().get(
        sandbox.url + "/rest/api/3/workflows/search", params={"expand": "values.transitions"}
    )
    assert page.status_code == 200
    body = page.json()
    errors = list(
        specdata.validator("platform", "WorkflowSearchResponse", nullable=True).iter_errors(body)
    )
    assert not errors, [e.message for e in errors[:5]]
    names = {t["name"] for w in body["values"] for t in w["transitions"]}
    assert {"Escalate", "Resolve", "Create"} <= names
    plain = sandbox.session().get(sandbox.url + "/rest/api/3/workflows/search").json()
    assert plain["values"] and "transitions" not in plain["values"][0]


def test_customers_are_refused_and_agents_without_admin_see_no_workflow(sandbox: Sandbox) -> None:
    url = sandbox.url + "/rest/api/3/workflows/search"
    customer = sandbox.session("ops@acme.example")
    refused = customer.get(url)
    assert refused.status_code == 403
    assert not list(
        specdata.validator("platform", "ErrorCollection", nullable=True).iter_errors(refused.json())
    )
    agent = sandbox.session("sam.agent@vendor.example")
    assert agent.get(url).json()["values"] == []


def test_the_client_reads_the_sandbox_workflow(sandbox: Sandbox) -> None:
    names = JiraClient(
        sandbox.url, flavour="cloud", email=seeds.BRIDGE_EMAIL, token=seeds.BRIDGE_TOKEN
    ).workflow_transition_names()
    assert names == {t.name for t in sandbox.store.transitions}


# ------------------------------------------------------------------------------ start-up


def misspelt_rules(tmp_path: Path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    sla = rules / "sla.yaml"
    text = sla.read_text(encoding="utf-8")
    assert "transition: Escalate" in text
    sla.write_text(text.replace("transition: Escalate", "transition: Escalte"), encoding="utf-8")
    return rules


def config_with_rules(sandbox: Sandbox, tmp_path: Path, rules: Path) -> Path:
    config = write_config(sandbox, tmp_path)
    config.write_text(
        config.read_text(encoding="utf-8").replace(str(RULES), str(rules)), encoding="utf-8"
    )
    return config


def test_run_once_stops_with_exit_1_on_a_misspelt_transition(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    config = config_with_rules(sandbox, tmp_path, misspelt_rules(tmp_path))
    assert main(["run", "--once", "--config", str(config), "--now", NOW]) == 1
    captured = capsys.readouterr()
    said = captured.out + captured.err
    assert "transition 'Escalte' does not exist in the workflow" in said, said
    assert "did you mean 'Escalate'" in said
    assert "sla.yaml escalation step 3 (100%)" in said
    assert sandbox.requests.count(kind="write") == 0


def test_run_once_with_the_shipped_rules_starts(
    sandbox: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)
    config = write_config(sandbox, tmp_path)
    assert main(["run", "--once", "--dry-run", "--config", str(config), "--now", NOW]) == 0
    assert "does not exist in the workflow" not in capsys.readouterr().err


def shipped() -> RuleSet:
    return load_ruleset(RULES)


def with_transitions(ruleset: RuleSet, *, over_quota: str | None, ladder: str | None) -> RuleSet:
    steps = ruleset.escalation
    if ladder is not None:
        steps = (
            *steps,
            EscalationStep(
                len(steps), 1.5, None, (EscalationAction("transition", transition=ladder),)
            ),
        )
    over = dataclasses.replace(ruleset.quota.over_quota, transition=over_quota)
    quota = dataclasses.replace(ruleset.quota, over_quota=over)
    return dataclasses.replace(ruleset, escalation=steps, quota=quota)


def test_every_misspelt_transition_is_listed_with_where_the_rules_use_it(
    sandbox: Sandbox,
) -> None:
    settings = bridge_settings(sandbox)
    ruleset = with_transitions(shipped(), over_quota="Needs aproval", ladder="Teleport")
    port = JiraClient.from_settings(settings.jira)
    with pytest.raises(SiteError) as caught:
        Site.connect(port, settings, ruleset)
    problems = caught.value.problems
    assert any(
        p.startswith("rules tiers.yaml quota.over_quota.transition:")
        and "'Needs aproval'" in p
        and "did you mean 'Needs approval'" in p
        for p in problems
    ), problems
    assert any("'Teleport' does not exist" in p and "step 4 (150%)" in p for p in problems)
    assert not any("'Escalate'" in p for p in problems)


def test_unreadable_workflows_warn_once_and_start_up_goes_on(sandbox: Sandbox) -> None:
    bridge_user = sandbox.store.user_by_email(seeds.BRIDGE_EMAIL)
    assert bridge_user is not None
    bridge_user.admin = False  # may not read workflows: Jira lists none
    settings = bridge_settings(sandbox)
    ruleset = with_transitions(shipped(), over_quota="Needs aproval", ladder=None)
    with capture_logs() as logs:
        site = Site.connect(JiraClient.from_settings(settings.jira), settings, ruleset)
    assert site.bridge_account_id
    warnings = [e for e in logs if "transition names not checked" in e["event"]]
    assert len(warnings) == 1 and warnings[0]["log_level"] == "warning"
    assert warnings[0]["transitions"] == ["Escalate", "Needs aproval"]


def test_data_center_warns_instead_of_checking(sandbox_factory: SandboxFactory) -> None:
    sb = sandbox_factory(flavour="datacenter")
    settings = bridge_settings(sb)
    with capture_logs() as logs:
        Site.connect(JiraClient.from_settings(settings.jira), settings, shipped())
    assert sum("transition names not checked" in e["event"] for e in logs) == 1
    assert not any("workflows/search" in r.path for r in sb.requests.entries())


def test_rules_without_transitions_ask_jira_nothing_about_workflows(sandbox: Sandbox) -> None:
    settings = bridge_settings(sandbox)
    ruleset = shipped()
    ruleset = dataclasses.replace(
        ruleset,
        escalation=tuple(
            dataclasses.replace(s, actions=tuple(a for a in s.actions if a.kind != "transition"))
            for s in ruleset.escalation
        ),
        quota=dataclasses.replace(
            ruleset.quota, over_quota=FlagPolicy(label="over-quota", transition=None)
        ),
    )
    sandbox.reset_requests()
    with capture_logs() as logs:
        Site.connect(JiraClient.from_settings(settings.jira), settings, ruleset)
    assert not any("workflows/search" in r.path for r in sandbox.requests.entries())
    assert not any("transition names not checked" in e["event"] for e in logs)


def test_an_approval_status_the_site_lacks_is_listed_at_start_up(sandbox: Sandbox) -> None:
    settings = bridge_settings(sandbox)
    ruleset = shipped()
    response = dataclasses.replace(ruleset.response, approval_statuses=frozenset({"Aproval"}))
    port = JiraClient.from_settings(settings.jira)
    with pytest.raises(SiteError) as caught:
        Site.connect(port, settings, dataclasses.replace(ruleset, response=response))
    assert any(
        p.startswith("rules sla.yaml: response.approval_statuses names 'Aproval'")
        for p in caught.value.problems
    ), caught.value.problems
