"""Malformed issues in Jira's answers: each is skipped and reported, the cycle goes on.

One real ``run --once`` (in process) against the demo sandbox through a loopback
proxy that damages one issue per case (tests/malformed/proxy.py).  Every damaged
issue must be listed as skipped with its key, get no write, and leave no
traceback; the healthy issues are processed as usual and the exit status is 4.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import SANDBOX_NOW

from bridge.cli import main
from bridge.sandbox import seed as seeds
from bridge.sandbox.server import SandboxServer

from .proxy import DEEP, Mutation, damaging_proxy

REPO = Path(__file__).resolve().parents[2]
ORG = "customfield_10002"
REQUEST_TYPE = "customfield_10010"


def setf(name: str, value: Any) -> Mutation:
    def mutate(issue: dict[str, Any]) -> None:
        issue["fields"][name] = value

    return mutate


def drop(name: str) -> Mutation:
    def mutate(issue: dict[str, Any]) -> None:
        issue["fields"].pop(name, None)

    return mutate


def top(name: str, value: Any) -> Mutation:
    def mutate(issue: dict[str, Any]) -> None:
        issue[name] = value

    return mutate


def status_category(value: Any) -> Mutation:
    def mutate(issue: dict[str, Any]) -> None:
        issue["fields"]["status"]["statusCategory"] = value

    return mutate


def comments(value: Any) -> Mutation:
    def mutate(issue: dict[str, Any]) -> None:
        issue["fields"]["comment"] = {"comments": value, "total": 1, "maxResults": 1}

    return mutate


def history(value: Any) -> Mutation:
    def mutate(issue: dict[str, Any]) -> None:
        issue["changelog"] = {"histories": value, "total": 1, "maxResults": 1, "startAt": 0}

    return mutate


def nested(depth: int, leaf: Any = "x") -> Any:
    value: Any = leaf
    for _ in range(depth):
        value = [value]
    return value


#: name -> mutation; each damages one issue of the demo seed (SUP-1, SUP-2, ... in order)
CASES: dict[str, Mutation] = {
    "status category is a string": status_category("done"),
    "status category is a list": status_category(["done"]),
    "status category is a number": status_category(3),
    "status is a number": setf("status", 42),
    "status is missing": drop("status"),
    "status is an empty object": setf("status", {}),
    "created is missing": drop("created"),
    "created is not a date": setf("created", "yesterday-ish"),
    "created is a number": setf("created", 1732400000),
    "created is a list": setf("created", ["2026-11-20T10:00:00.000+1000"]),
    "created is out of range": setf("created", "99999-01-01T00:00:00.000+0000"),
    "updated is not a date": setf("updated", "soon"),
    "resolution date is not a date": setf("resolutiondate", "2026-02-30T25:61:00.000+0000"),
    "fields is a list": top("fields", []),
    "fields is null": top("fields", None),
    "fields is a string": top("fields", "summary"),
    "a comment is a string": comments(["hello"]),
    "a comment is a number": comments([7]),
    "a comment's date is garbage": comments([{"id": "1", "created": "later", "body": "x"}]),
    "a comment has no date": comments([{"id": "1", "body": "x"}]),
    "a changelog entry's date is garbage": history(
        [{"id": "1", "created": "then", "items": [{"field": "status", "toString": "Done"}]}]
    ),
    "a changelog entry has no date": history([{"id": "1", "items": []}]),
    "labels is a string": setf("labels", "urgent"),
    "labels is an object": setf("labels", {"a": 1}),
    "components is an object": setf("components", {"name": "x"}),
    "the organisation field is nested 1,500 deep": setf(ORG, DEEP),
    "the request type is nested 1,500 deep": setf(REQUEST_TYPE, DEEP),
    "the summary is nested 1,500 deep": setf("summary", DEEP),
    "the key is empty": top("key", ""),
}


@dataclass
class Outcome:
    code: int
    out: str
    err: str
    events: list[dict[str, Any]]
    writes: list[str]  # request paths of writes
    keys: dict[str, str]  # case name -> issue key


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    tmp = tmp_path_factory.mktemp("malformed-issues")
    store = seeds.build("demo", now=SANDBOX_NOW)
    server = SandboxServer(store, "127.0.0.1", 0).start()
    keys = {name: f"SUP-{i}" for i, name in enumerate(CASES, 1)}
    mutations = {keys[name]: mutate for name, mutate in CASES.items()}
    try:
        with damaging_proxy(server.url, mutations) as url:
            text = (REPO / "config" / "bridge.yaml").read_text(encoding="utf-8")
            text = re.sub(r"(?m)^  url: .*$", f"  url: {url}", text)
            text = re.sub(r"(?m)^state: .*$", f"state: {{path: {tmp / 's.sqlite'}}}", text)
            text = re.sub(r"(?m)^rules: .*$", f"rules: {REPO / 'rules'}", text)
            (tmp / "bridge.yaml").write_text(text, encoding="utf-8")
            out, err = io.StringIO(), io.StringIO()
            argv = ["run", "--once", "--config", str(tmp / "bridge.yaml")]
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main([*argv, "--now", SANDBOX_NOW.isoformat()])
        events = []
        for line in err.getvalue().splitlines():
            with contextlib.suppress(ValueError):
                item = json.loads(line)
                if isinstance(item, dict):
                    events.append(item)
        writes = [r.path for r in server.requests.writes]
        yield Outcome(code, out.getvalue(), err.getvalue(), events, writes, keys)
    finally:
        server.stop()


def test_the_cycle_goes_on_and_exits_4(outcome: Outcome) -> None:
    assert outcome.code == 4, outcome.err[-3000:]
    assert "Traceback" not in outcome.err + outcome.out
    assert "internal error" not in outcome.err
    healthy = {f"SUP-{i}" for i in range(len(CASES) + 1, 41)}
    written = {p.split("/issue/")[1].split("/")[0] for p in outcome.writes if "/issue/" in p}
    assert written & healthy, "the healthy issues were processed"


@pytest.mark.parametrize("name", list(CASES))
def test_a_malformed_issue_is_skipped_and_reported(outcome: Outcome, name: str) -> None:
    key = outcome.keys[name]
    skipped = [e for e in outcome.events if e.get("event") == "issue skipped"]
    reported = {str(e.get("key")) for e in skipped}
    if name == "the key is empty":
        assert any(k in ("", "?", "None") or k.isdigit() for k in reported), reported
    else:
        assert key in reported, (name, reported)
        problem = next(str(e.get("problem")) for e in skipped if e.get("key") == key)
        assert problem and "Traceback" not in problem
    assert not [p for p in outcome.writes if f"/issue/{key}/" in p or p.endswith(f"/{key}")]
