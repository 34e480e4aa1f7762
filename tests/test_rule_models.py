"""The rule models are the one description of the rule files' shape.

The published schema and the README's reference come from them; the shipped
rule files and every example in the README validate against the schema.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from test_ruleset import patch, rules_copy

from bridge.policy.ruleset import RulesInvalid
from bridge.rules.load import load_ruleset
from bridge.rules.models import FILES as MODELS
from bridge.rules.reference import render_readme, rows, table
from bridge.rules.schema import FILES, schema_for
from bridge.rules.shape import read_document
from bridge.yamlsafe import parse_yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: The key that tells which rule file an example is of.
FIRST_KEYS = {"tiers": "tiers", "customers": "customers", "priorities": "priorities"}


def _as_json_types(value: Any) -> Any:
    """YAML dates -> strings, as an editor's YAML language server sees them."""
    if isinstance(value, dict):
        return {str(k): _as_json_types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_as_json_types(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _file_of(document: dict[str, Any]) -> str | None:
    for key, file in FIRST_KEYS.items():
        if key in document:
            return file
    return "sla" if "calendars" in document or "response" in document else None


def readme_examples() -> list[tuple[str, dict[str, Any]]]:
    """Every YAML example of a rule file in the README, with the file it is of."""
    text = README.read_text(encoding="utf-8")
    found = []
    for block in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL):
        document = yaml.safe_load(block)
        file = _file_of(document) if isinstance(document, dict) else None
        if file is not None:
            found.append((file, _as_json_types(document)))
    return found


def test_readme_reference_is_generated_from_the_models() -> None:
    text = README.read_text(encoding="utf-8")
    assert text.count("<!-- reference: rules/") == len(FILES)
    assert render_readme(text) == text, (
        "README's rule reference is out of date: run "
        ".venv/bin/python -m bridge.rules.reference README.md"
    )


def test_a_field_added_to_a_model_shows_in_the_reference() -> None:
    keys = [key for key, _, _ in rows(MODELS["sla"])]
    assert "escalation[].at" in keys
    assert "calendars.<name>.holidays.country" in keys
    assert "`rules[].when.in`" in table("priorities")  # by its alias, as written in YAML


def test_every_readme_example_validates_against_the_schema() -> None:
    examples = readme_examples()
    assert {file for file, _ in examples} == set(FILES)  # one example of each file at least
    for file, document in examples:
        jsonschema.validate(document, schema_for(file))


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("rules", ["rules", "tests/rules_cases/spec-canonical"])
def test_shipped_rules_fit_the_models_and_the_published_schema(rules: str, name: str) -> None:
    document = _as_json_types(yaml.safe_load((ROOT / rules / f"{name}.yaml").read_text()))
    MODELS[name].model_validate(document, strict=True)
    jsonschema.validate(document, schema_for(name))


def test_schema_rejects_what_the_models_reject() -> None:
    bad = {"calendars": {"x": {"timezone": "UTC", "hours": {"mon": "9-5"}}}, "response": {}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema_for("sla"))


# (file, text in the shipped file, replacement): each a shape mistake
SHAPE_MISTAKES = [
    ("tiers", "cases_per_month: 4,", "cases_per_month: four,"),
    ("tiers", "\nquota:", "\nquotas:"),
    ("tiers", "comment: {visibility: public,", "comment: {visibility: everyone,"),
    ("tiers", 'text: "{key}: {request_type} is not', 'text: "{request_type} is not'),
    ("customers", "contacts: [ops@acme.example]", "contacts: [ops at acme]"),
    ("customers", "contacts: [ops@acme.example]", "contacts: []"),
    ("customers", "contract_start: 2026-04-01", "contract_start: April 2026"),
    ("priorities", "respect_engineer_changes: true", "respect_engineer_changes: maybe"),
    ("priorities", "    when: {request_type: [Installation]}\n", ""),
    ("sla", "at_risk_at: 75%", "at_risk_at: 75"),
    ("sla", "at_risk_at: 75%", "at_risk_at: 175%"),
    ("sla", "- at: 50%", "- at: 1001%"),
    ("sla", "P1: 4h", "P1: 1d"),
    ("sla", "- label: sla-at-risk", "- label: sla at risk"),
    ("sla", 'hours: {mon-fri: "09:00-17:00"}', 'hours: {mon-fri: "9am-5pm"}'),
    ("sla", 'hours: {mon-fri: "09:00-17:00"}', 'hours: {mon-fry: "09:00-17:00"}'),
    ("sla", "      - label: sla-breached\n", "      - label: sla-breached\n        assign: x\n"),
    ("sla", "escalation_owner: sam.agent@vendor.example", "escalation_owner: Sam Agent"),
    ("sla", "holidays: {country: GB, subdivision: ENG}", "holidays: {subdivision: ENG}"),
    ("sla", "{field: description, min_length: 15}", "{min_length: 15}"),
    (
        "priorities",
        "not_in: [Production]}\n    set: P4",
        "not_in: [Production]}\n    set: P4\n    cap: P3",
    ),
    ("priorities", "    cap: P3\n", ""),
    ("priorities", "when: {request_type: [Installation]}", "when: {not_in: [Production]}"),
    ("priorities", "field: environment,", "field: environment, equals: Test,"),
]


@pytest.mark.parametrize(("file", "old", "new"), SHAPE_MISTAKES)
def test_check_and_the_published_schema_refuse_the_same_shapes(
    tmp_path: Path, file: str, old: str, new: str
) -> None:
    """One description of the shape: what the schema refuses, `check` refuses, at file:line,
    in words (no validator jargon)."""
    rules = rules_copy(tmp_path)
    patch(rules, f"{file}.yaml", old, new)
    path = rules / f"{file}.yaml"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(_as_json_types(yaml.safe_load(path.read_text())), schema_for(file))
    with pytest.raises(RulesInvalid) as caught:
        load_ruleset(rules)
    (problem,) = caught.value.problems
    assert problem.file == str(path) and problem.line is not None
    for jargon in ("Input should", "pydantic", "http", "constrained-str", "literal["):
        assert jargon not in str(problem), str(problem)


def test_readme_examples_pass_check_s_shape_checks() -> None:
    for file, document in readme_examples():
        block = yaml.safe_dump(document, sort_keys=False)
        tree, problems = parse_yaml(block, f"README {file}.yaml")
        assert tree is not None and problems == []
        _, problems = read_document(file, f"README {file}.yaml", tree)
        assert problems == [], "\n".join(map(str, problems))


def test_a_mistake_inside_one_of_several_shapes_is_reported_as_the_author_meant_it(
    tmp_path: Path,
) -> None:
    """A required item is a field name or a mapping: a misspelt key of the mapping is an
    unknown key with a did-you-mean, not "must be text"."""
    rules = rules_copy(tmp_path)
    patch(rules, "sla.yaml", "{field: description,", "{feild: description,")
    path = rules / "sla.yaml"
    with pytest.raises(RulesInvalid) as caught:
        load_ruleset(rules)
    (problem,) = caught.value.problems
    assert problem.message == "required_information: fields: item 2: unknown key 'feild'"
    assert problem.hint is not None and problem.hint.startswith("did you mean 'field'?")
    line = next(i for i, ln in enumerate(path.read_text().splitlines(), 1) if "feild" in ln)
    assert problem.line == line
