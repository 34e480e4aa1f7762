"""Layer contract: ``bridge/policy/`` is pure.

Every policy module may import only an allow-list of pure standard-library modules,
the ``holidays`` package and other policy modules.  Only the rule-file loader
(``ruleset.py``, or a ``loader.py`` if one appears) may also import ``yaml`` and
``pathlib`` and call ``open()``, to read the rule files.  Nothing in the policy core
may read the clock (``datetime.now()``, ``date.today()``, ``time.time()``): ``now`` is
always passed in.

Imports inside ``if TYPE_CHECKING:`` blocks never run, so they are exempt from the
purity allow-list, but they still may not reach into the I/O layers of the bridge.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

POLICY_DIR = Path(__file__).resolve().parents[1] / "bridge" / "policy"

#: Pure standard-library modules (no I/O, no clock, no processes) and pure packages.
ALLOWED = frozenset(
    {
        "__future__",
        "abc",
        "bisect",
        "calendar",
        "collections",
        "copy",
        "dataclasses",
        "datetime",
        "decimal",
        "difflib",
        "enum",
        "fractions",
        "functools",
        "heapq",
        "itertools",
        "json",  # parsing and dumping strings only; json.load(file) would need open()
        "keyword",
        "math",
        "numbers",
        "operator",
        "re",
        "string",
        "textwrap",
        "types",
        "typing",
        "typing_extensions",
        "unicodedata",
        "zoneinfo",
        "holidays",  # public holidays: pure computation
        "bridge.policy",
    }
)
#: The rule-file loader reads files, and only that.
LOADER_MODULES = frozenset({"ruleset.py", "loader.py"})
#: ``bridge.yamlsafe`` is the one bounded YAML loader (alias bombs, control characters).
LOADER_EXTRA = frozenset({"yaml", "pathlib", "bridge.yamlsafe"})
#: Named explicitly so the message says why (everything else off the allow-list fails too).
FORBIDDEN = {
    "bridge.jira": "the Jira client is I/O; the policy sees IssueSnapshot values",
    "bridge.sync": "sync depends on the policy, not the other way round",
    "bridge.sandbox": "the sandbox is a server",
    "bridge.commands": "commands sit above the policy",
    "bridge.cli": "the CLI sits above the policy",
    "bridge.report": "reports sit above the policy",
    "requests": "HTTP",
    "atlassian": "HTTP",
    "urllib": "HTTP",
    "http": "HTTP",
    "socket": "network",
    "sqlite3": "database files",
    "os": "files, environment and processes",
    "io": "files",
    "shutil": "files",
    "tempfile": "files",
    "subprocess": "processes",
    "time": "time.time() reads the clock; pass `now` in",
    "logging": "logging is output; return explanations instead",
    "structlog": "logging is output; return explanations instead",
    "random": "hidden state; results must be reproducible",
}
#: Calls that read the clock, whatever they are called on.
CLOCK_READS = frozenset({"now", "utcnow", "today"})
CLOCK_OWNERS = frozenset({"datetime", "date", "dt", "time", "pendulum", "arrow"})
#: Builtins that do I/O or run code.
IO_BUILTINS = frozenset({"open", "print", "input", "exec", "eval", "__import__", "breakpoint"})


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


def _top(name: str) -> str:
    return name.split(".", 1)[0]


def _type_checking_lines(tree: ast.AST) -> set[int]:
    """Line numbers of statements inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = (
                test.id
                if isinstance(test, ast.Name)
                else test.attr
                if isinstance(test, ast.Attribute)
                else None
            )
            if name == "TYPE_CHECKING":
                for stmt in node.body:
                    for sub in ast.walk(stmt):
                        if hasattr(sub, "lineno"):
                            lines.add(sub.lineno)
    return lines


def _imported(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:  # relative: from . import x / from .clock import y
        parts = package.split(".")
        base = ".".join(parts[: len(parts) - node.level + 1])
        if node.module:
            return [f"{base}.{node.module}"]
        return [f"{base}.{alias.name}" for alias in node.names]
    return [node.module or ""]


def _allowed(name: str, allowed: frozenset[str]) -> bool:
    return any(name == ok or name.startswith(ok + ".") for ok in allowed)


def check_source(source: str, path: str, filename: str) -> list[Violation]:
    """Every layer violation in one policy module's source."""
    tree = ast.parse(source, filename=path)
    type_only = _type_checking_lines(tree)
    allowed = ALLOWED | LOADER_EXTRA if filename in LOADER_MODULES else ALLOWED
    found: list[Violation] = []
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            for name in _imported(node, "bridge.policy"):
                forbidden = next(
                    (bad for bad in FORBIDDEN if name == bad or name.startswith(bad + ".")), None
                )
                if forbidden is not None and not (
                    node.lineno in type_only and not forbidden.startswith("bridge.")
                ):
                    found.append(
                        Violation(
                            path,
                            node.lineno,
                            f"imports {name!r}: {FORBIDDEN[forbidden]}; "
                            "bridge/policy must stay pure (do the I/O in bridge/sync or "
                            "bridge/commands and pass values in)",
                        )
                    )
                elif (
                    forbidden is None
                    and node.lineno not in type_only
                    and not _allowed(name, allowed)
                ):
                    hint = (
                        " (only the rule-file loader, ruleset.py, may import yaml/pathlib)"
                        if _top(name) in LOADER_EXTRA
                        else ""
                    )
                    found.append(
                        Violation(
                            path,
                            node.lineno,
                            f"imports {name!r}, which is not on the policy allow-list "
                            f"in tests/test_layers.py{hint}; if it is pure, add it there",
                        )
                    )
        elif isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in CLOCK_READS:
                found.append(
                    Violation(
                        path,
                        node.lineno,
                        f"calls .{func.attr}(): the policy core never reads the clock; "
                        "take `now` as a parameter",
                    )
                )
            elif (
                isinstance(func, ast.Name)
                and func.id in IO_BUILTINS
                and not (func.id == "open" and filename in LOADER_MODULES)
            ):
                found.append(
                    Violation(
                        path, node.lineno, f"calls {func.id}(): no I/O or dynamic code in policy"
                    )
                )
        elif (
            isinstance(node, ast.Attribute)
            and id(node) not in called  # calls are reported above
            and node.attr in CLOCK_READS
            and isinstance(node.value, ast.Name)
            and node.value.id in CLOCK_OWNERS
        ):
            found.append(
                Violation(
                    path,
                    node.lineno,
                    f"refers to {node.value.id}.{node.attr}: the policy core never reads "
                    "the clock; take `now` as a parameter",
                )
            )
    return sorted(found, key=lambda v: v.line)


def test_policy_modules_are_pure() -> None:
    modules = sorted(POLICY_DIR.glob("*.py"))
    assert any(m.name == "clock.py" for m in modules), f"no policy modules found in {POLICY_DIR}"
    violations: list[Violation] = []
    for module in modules:
        rel = module.relative_to(POLICY_DIR.parents[1]).as_posix()
        violations += check_source(module.read_text(encoding="utf-8"), rel, module.name)
    assert not violations, "bridge/policy must stay pure:\n" + "\n".join(map(str, violations))


# --------------------------------------------------------------------------- the checker itself


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import os\n", "x.py:1: imports 'os': files"),
        ("from datetime import datetime\nx = datetime.now()\n", "x.py:2: calls .now()"),
        ("import datetime\nx = datetime.datetime.utcnow()\n", "x.py:2: calls .utcnow()"),
        ("from datetime import date\n\n\nd = date.today()\n", "x.py:4: calls .today()"),
        ("from datetime import datetime\nclock = datetime.now\n", "x.py:2: refers to datetime.now"),
        ("import time\n", "x.py:1: imports 'time': time.time() reads the clock"),
        ("from time import time as t\n", "x.py:1: imports 'time'"),
        ("from bridge.jira.port import JiraPort\n", "x.py:1: imports 'bridge.jira.port'"),
        ("from bridge.sync import loop\n", "x.py:1: imports 'bridge.sync'"),
        ("import requests\n", "x.py:1: imports 'requests': HTTP"),
        ("import yaml\n", "only the rule-file loader"),
        ("from pathlib import Path\n", "x.py:1: imports 'pathlib', which is not on"),
        ("import importlib\n", "x.py:1: imports 'importlib', which is not on"),
        ("data = open('rules.yaml').read()\n", "x.py:1: calls open()"),
        ("print('hello')\n", "x.py:1: calls print()"),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from bridge.sync import x\n",
            "x.py:3: imports 'bridge.sync'",
        ),
    ],
)
def test_checker_catches(source: str, expected: str) -> None:
    found = [str(v) for v in check_source(source, "x.py", "x.py")]
    assert any(expected in v for v in found), found


@pytest.mark.parametrize(
    ("source", "filename"),
    [
        (
            "from __future__ import annotations\nimport re\nfrom collections.abc import Mapping\n",
            "x.py",
        ),
        (
            "from datetime import datetime, timedelta\nfrom zoneinfo import ZoneInfo\nimport holidays\n",
            "x.py",
        ),
        (
            "from bridge.policy.model import RuleSet\nfrom . import clock\nfrom .clock import add\n",
            "x.py",
        ),
        (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from os import PathLike\n",
            "x.py",
        ),
        ("def f(ctx):\n    return ctx.now\n", "x.py"),  # a `now` value passed in is fine
        (
            "import yaml\nfrom pathlib import Path\n\ndef load(p):\n    return open(p)\n",
            "ruleset.py",
        ),
    ],
)
def test_checker_allows(source: str, filename: str) -> None:
    assert check_source(source, "x.py", filename) == []
