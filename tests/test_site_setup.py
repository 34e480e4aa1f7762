"""`jsm-bridge setup-site` and `check --online` against a sandbox site.

A "bare" site is a service desk without the bridge's custom fields: `check --online`
names what is missing, `setup-site --dry-run` changes nothing, `setup-site` creates the
fields (with their types and options) and the saved filters, a second run changes
nothing, and `check --online` then passes -- before and after the first case arrives
(options read from the fields' contexts, then from the case's edit screen).
"""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import SANDBOX_NOW, SandboxFactory
from e2e_helpers import new_case
from test_sandbox_fidelity import assert_valid

from bridge.cli import main
from bridge.sandbox import seed as seeds

REPO = Path(__file__).resolve().parents[1]
NOW = SANDBOX_NOW.isoformat()


def write_config(url: str, tmp_path: Path, flavour: str) -> Path:
    text = (REPO / "config" / "bridge.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  url: .*$", f"  url: {url}", text)
    text = re.sub(r"(?m)^  flavour: .*$", f"  flavour: {flavour}", text)
    text = re.sub(r"(?m)^state: .*$", f"state: {{path: {tmp_path / 'state.sqlite'}}}", text)
    text = re.sub(r"(?m)^rules: .*$", f"rules: {REPO / 'rules'}", text)
    path = tmp_path / "bridge.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def with_own_rules(url: str, tmp_path: Path, flavour: str) -> tuple[Path, Path]:
    """A config (`write_config`) whose rules are a copy of the shipped ones, to edit."""
    rules = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules)
    config = write_config(url, tmp_path, flavour)
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r"(?m)^rules: .*$", f"rules: {rules}", text), encoding="utf-8")
    return config, rules


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIRA_API_TOKEN", seeds.BRIDGE_TOKEN)


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_setup_site_on_a_bare_site_then_check_online_passes(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flavour: str,
) -> None:
    sb = sandbox_factory(seed="bare", flavour=flavour)
    config = write_config(sb.url, tmp_path, flavour)
    online = ["check", "--online", "--config", str(config)]
    setup = ["setup-site", "--config", str(config)]

    assert main(online) == 1
    out = capsys.readouterr().out
    assert "no field named 'SLA state' on this Jira site" in out

    fields_before = len(sb.store.fields)
    assert main([*setup, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "field 'SLA state' (sla_state): would create as" in out
    assert "nothing was changed" in out
    assert len(sb.store.fields) == fields_before and not sb.store.filters
    assert sb.requests.count(kind="write") == 0

    assert main(setup) == 0
    out = capsys.readouterr().out
    assert "MISSING" not in out  # JSM's own fields, under either product's names
    for name in ("SLA at risk", "Breached this week", "Over quota this month"):
        assert f"filter {name!r}: create" in out
    jqls = re.findall(r"JQL: (.*)", out)
    assert len(jqls) == 3 and all(j.startswith("(project = SUP) AND ") for j in jqls)

    store = sb.store
    due = store.field_by_name("Response due")
    assert due is not None and due.kind == "datetime"
    tier = store.field_by_name("Support tier")
    assert tier is not None
    if flavour == "cloud":
        assert tier.kind == "select"
        assert [o.value for o in tier.options] == ["Standard", "Premium", "Enterprise"]
        state = store.field_by_name("SLA state")
        assert state is not None and "breached" in [o.value for o in state.options]
    else:  # Data Center creates the select but cannot add its options through REST
        assert tier.kind == "select" and tier.options == []
        assert "BY HAND" in out and "Edit Options" in out
        assert "running, at_risk, breached" in out and "Standard, Premium, Enterprise" in out
    # every filter's JQL runs on the site
    s = sb.session()
    api = "/rest/api/3/search/jql" if flavour == "cloud" else "/rest/api/2/search"
    for f in store.filters.values():
        assert s.get(sb.url + api, params={"jql": f.jql}).status_code == 200, f.jql

    sb.reset_requests()
    assert main(setup) == 0  # idempotent
    assert "0 change(s) made" in capsys.readouterr().out
    assert sb.requests.count(kind="write") == 0

    assert main(online) == 0, capsys.readouterr().out
    assert "the Jira site has everything they name" in capsys.readouterr().out

    # with a case in scope, the edit screen is checked too, and a cycle runs
    new_case(sb, created=SANDBOX_NOW - timedelta(hours=1), env=None, staff=None, product=None)
    if flavour == "datacenter":
        # the options are missing until the administrator adds them by hand
        assert main(online) == 1
        assert "has no option 'running'" in capsys.readouterr().out
        wanted = re.findall(r"field '([^']+)' \(\w+\): (?:create as|exists)", out)
        steps = re.findall(r"the options (.*?) -- .*?Custom fields > '([^']+)'", out)
        assert {name for _, name in steps} <= set(wanted) and steps
        for values, name in steps:
            field = store.field_by_name(name)
            assert field is not None
            store.add_options(field, values.split(", "))
    assert main(online) == 0, capsys.readouterr().out
    capsys.readouterr()
    assert main(["run", "--once", "--config", str(config), "--now", NOW]) == 0
    assert "1 read" in capsys.readouterr().out


def test_check_online_names_a_missing_option_and_a_missing_permission(
    sandbox_factory: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = sandbox_factory(seed="demo")
    config = write_config(sb.url, tmp_path, "cloud")
    assert main(["check", "--online", "--config", str(config)]) == 0
    capsys.readouterr()

    tier = sb.store.field_by_name("Support tier")
    assert tier is not None
    tier.options = [o for o in tier.options if o.value != "Premium"]
    assert main(["check", "--online", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert re.search(r"field 'Support tier' \(customfield_\d+\) has no option 'Premium'", out)

    bridge = sb.store.user_by_email(seeds.BRIDGE_EMAIL)
    assert bridge is not None
    sb.store.denied_permissions[bridge.account_id] = {"EDIT_ISSUES", "TRANSITION_ISSUES"}
    assert main(["check", "--online", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "the Jira account bridge@vendor.example lacks EDIT_ISSUES, TRANSITION_ISSUES" in out


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_check_online_names_a_misspelt_organisation_and_resolution_where_the_rules_say_them(
    sandbox_factory: SandboxFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flavour: str,
) -> None:
    """A customer's organisation misspelt finds none of the cases naming the real one;
    a resolution misspelt keeps no case out of the quota.  Both pass the offline check;
    the online one says where (in the rules given with --rules), and what the site calls
    them.  A customer the site has no organisation for may be meant (its contacts' cases
    naming none are its): a note, not a failure."""
    sb = sandbox_factory(seed="demo", flavour=flavour)
    config = write_config(sb.url, tmp_path, flavour)  # its `rules:` are the shipped ones
    rules = tmp_path / "my-rules"
    shutil.copytree(REPO / "rules", rules)
    customers = (rules / "customers.yaml").read_text(encoding="utf-8")
    assert "Acme Networks:" in customers
    (rules / "customers.yaml").write_text(customers.replace("Acme Networks:", "Acme Netwrks:", 1))
    check = ["check", "--online", "--config", str(config), "--rules", str(rules)]
    assert main(check) == 0
    out = capsys.readouterr().out
    line = next(n for n, text in enumerate(customers.splitlines(), 1) if "Acme Networks:" in text)
    assert (
        f"note: {rules / 'customers.yaml'}:{line}: organisation 'Acme Netwrks' is not a Jira "
        "Service Management organisation on the site (did you mean 'Acme Networks'?)" in out
    ), out

    tiers = (rules / "tiers.yaml").read_text(encoding="utf-8")
    assert "Duplicate" in tiers and "[Screen share session]" in tiers
    tiers = tiers.replace("Duplicate", "Duplicat", 1)
    (rules / "tiers.yaml").write_text(tiers.replace("Screen share session", "Screen share sesion"))
    assert main(["check", "--config", str(config), "--rules", str(rules)]) == 0
    capsys.readouterr()
    assert main(check) == 1
    out = capsys.readouterr().out
    assert re.search(
        rf"{re.escape(str(rules / 'tiers.yaml'))}:\d+: resolution 'Duplicat' is not one of "
        r"the site's \(did you mean 'Duplicate'\?\)",
        out,
    ), out
    assert re.search(
        rf"{re.escape(str(rules / 'tiers.yaml'))}:\d+: request type 'Screen share sesion' is "
        r"not one of the service desk's \(did you mean 'Screen share session'\?\)",
        out,
    ), out


def test_a_misspelt_option_in_the_rules_is_named_and_not_added_to_the_site(
    sandbox_factory: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``not_in: [Prodution]``: the check asks whether the site's "Production" was meant,
    and setup-site does not put the misspelling on the customers' form; a new value
    with a word more than an existing one ("Production DR") is added as asked."""
    sb = sandbox_factory(seed="demo")
    config, rules = with_own_rules(sb.url, tmp_path, "cloud")
    text = (rules / "priorities.yaml").read_text(encoding="utf-8")
    assert "not_in: [Production]" in text
    edited = text.replace("not_in: [Production]", "not_in: [Prodution, Production DR, Stag ing]", 1)
    (rules / "priorities.yaml").write_text(edited, encoding="utf-8")

    assert main(["check", "--online", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    assert "has no option 'Prodution' (did you mean 'Production'?), 'Production DR'" in out

    environment = sb.store.field_by_name("Environment type")
    assert environment is not None
    assert main(["setup-site", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert (
        "field 'Environment type': not adding option 'Prodution' (did you mean "
        "'Production'?): correct the rules" in out
    ), out
    values = [o.value for o in environment.options]
    assert "Production DR" in values and "Prodution" not in values and "Stag ing" not in values


def test_the_administration_routes_answer_as_the_spec_describes(
    sandbox_factory: SandboxFactory,
) -> None:
    sb = sandbox_factory(seed="demo")
    s = sb.session()
    a3 = sb.url + "/rest/api/3"
    bad = s.post(a3 + "/field", json={"name": "X", "type": 7})
    assert bad.status_code == 400  # CustomFieldDefinitionJsonBean.type is a string
    made = s.post(
        a3 + "/field",
        json={
            "name": "Fidelity",
            "type": "com.atlassian.jira.plugin.system.customfieldtypes:select",
        },
    )
    assert made.status_code == 201
    assert_valid("platform", "FieldDetails", made.json())
    fid = made.json()["id"]
    contexts = s.get(f"{a3}/field/{fid}/context").json()
    assert_valid("platform", "PageBeanCustomFieldContext", contexts)
    ctx = contexts["values"][0]["id"]
    assert (
        s.post(f"{a3}/field/{fid}/context/{ctx}/option", json={"options": "x"}).status_code == 400
    )
    added = s.post(f"{a3}/field/{fid}/context/{ctx}/option", json={"options": [{"value": "A"}]})
    assert_valid("platform", "CustomFieldCreatedContextOptionsList", added.json())
    again = s.post(f"{a3}/field/{fid}/context/{ctx}/option", json={"options": [{"value": "A"}]})
    assert again.status_code == 400 and "not unique" in again.text
    options = s.get(f"{a3}/field/{fid}/context/{ctx}/option").json()
    assert_valid("platform", "PageBeanCustomFieldContextOption", options)
    assert s.post(a3 + "/filter", json={"name": 5}).status_code == 400
    assert s.post(a3 + "/filter", json={"name": "F", "jql": "project = = SUP"}).status_code == 400
    saved = s.post(a3 + "/filter", json={"name": "F", "jql": "project = SUP"})
    assert_valid("platform", "Filter", saved.json())
    assert s.post(a3 + "/filter", json={"name": "f", "jql": ""}).status_code == 400  # taken
    found = s.get(a3 + "/filter/search", params={"filterName": "f", "expand": "jql"}).json()
    assert_valid("platform", "PageBeanFilterDetails", found)
    assert [f["jql"] for f in found["values"]] == ["project = SUP"]
    assert "jql" not in s.get(a3 + "/filter/search").json()["values"][0]
    perms = s.get(a3 + "/mypermissions", params={"permissions": "EDIT_ISSUES"}).json()
    assert_valid("platform", "Permissions", perms)
    assert s.get(a3 + "/mypermissions").status_code == 400  # `permissions` is required
    meta = s.get(a3 + "/issue/SUP-5/editmeta").json()
    assert_valid("platform", "IssueUpdateMetadata", meta)
    # an agent without Administer Jira may not create fields
    agent = sb.session("jane.engineer@vendor.example", seeds.AGENT_TOKEN)
    denied = agent.post(a3 + "/field", json={"name": "Y", "type": "x"})
    assert denied.status_code == 403


def test_check_online_notes_a_placeholder_that_is_an_option_of_a_required_select_list(
    sandbox_factory: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A lead listing "staging" among the placeholders may expect a Staging case to be
    asked for its environment; it is not (an option picked is an answer), and the online
    check, which reads the options, says so: a note, as the word still counts as
    missing in a text field.  The shipped rules list no environment."""
    sb = sandbox_factory(seed="demo")
    config, rules = with_own_rules(sb.url, tmp_path, "cloud")
    assert main(["check", "--online", "--config", str(config)]) == 0
    assert "required_information.placeholders lists" not in capsys.readouterr().out
    sla = (rules / "sla.yaml").read_text(encoding="utf-8")
    listed = sla.replace("  placeholders: [n/a,", "  placeholders: [Staging, n/a,")
    assert listed != sla
    (rules / "sla.yaml").write_text(listed, encoding="utf-8")
    assert main(["check", "--online", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    line = next(n for n, text in enumerate(listed.splitlines(), 1) if "[Staging," in text)
    assert (
        f"note: {rules / 'sla.yaml'}:{line}: required_information.placeholders lists "
        "'Staging', an option of field 'Environment type': a customer who picks it has "
        "answered (a select list's option is never a placeholder); it still counts as "
        "missing typed into a text field"
    ) in " ".join(out.split()), out


def test_run_on_a_site_without_the_fields_says_setup_site_creates_them(
    sandbox_factory: SandboxFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sb = sandbox_factory(seed="bare")
    config = write_config(sb.url, tmp_path, "cloud")
    code = main(["run", "--once", "--config", str(config), "--now", SANDBOX_NOW.isoformat()])
    err = capsys.readouterr().err
    assert code == 1
    assert "no field named 'Response due'" in err, err
    assert f"`jsm-bridge setup-site --config {config}` creates" in err, err
    assert "'Resolved'" not in err  # not a suggestion for 'Response due'
