"""A value nested past Python's JSON parser marks its issue, not the whole page."""

from __future__ import annotations

import json

import pytest

from bridge.jira.jsondepth import MALFORMED, MAX_DEPTH, loads


def page(*issues: str) -> str:
    return '{"startAt": 0, "issues": [' + ", ".join(issues) + "]}"


def issue(key: str, value: str = '"x"') -> str:
    return f'{{"key": "{key}", "fields": {{"summary": {value}, "note": "[[[ in a string ]]]"}}}}'


@pytest.mark.parametrize("depth", [1_000, 5_000, 100_000])
def test_only_the_deep_issue_is_marked(depth: int) -> None:
    deep = "[" * depth + '"x"' + "]" * depth
    data = loads(page(issue("SUP-1"), issue("SUP-2", deep), issue("SUP-3")))
    marked = {i["key"]: MALFORMED in i for i in data["issues"]}
    assert marked == {"SUP-1": False, "SUP-2": True, "SUP-3": False}
    assert data["issues"][2]["fields"]["note"] == "[[[ in a string ]]]"


def test_an_answer_that_is_one_issue_is_marked_itself() -> None:
    deep = '{"a":' * 2000 + "1" + "}" * 2000
    data = loads(issue("SUP-9", deep))
    assert MALFORMED in data and data["key"] == "SUP-9"


def test_ordinary_json_is_parsed_as_is() -> None:
    text = page(issue("SUP-1", "[" * (MAX_DEPTH + 50) + "]" * (MAX_DEPTH + 50)))
    assert loads(text) == json.loads(text)  # deep, but within what Python parses: untouched
