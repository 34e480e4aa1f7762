"""The policy core stays readable: short functions, no hidden state, no identity caches.

Walks ``bridge/policy`` with ``ast``: no function over 60 lines, no mutable
value at module level (dict/list/set literals or comprehensions, ``dict()`` and
friends, ``lru_cache``/``cache`` memos, ``global`` rebinding), no ``id()`` (an
identity-keyed cache is the usual reason to call it) nor weak-reference maps (the
other), no ``tuple.__new__``/``object.__setattr__`` (records built or filled
around their own constructors) and no comment about threads (state shared
between cycles is what would need one).  What a cycle
shares lives in ``Cycle``; what a rule set compiles to lives in ``Policy``.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

import pytest

from bridge.policy.memo import Memo

POLICY_DIR = Path(__file__).resolve().parents[1] / "bridge" / "policy"
MAX_LINES = 60
MUTABLE_CALLS = frozenset({"dict", "list", "set", "defaultdict", "OrderedDict", "deque", "Counter"})
#: maps keyed (or valued) by objects' identity: an identity cache wherever they are made
IDENTITY_MAPS = frozenset({"WeakKeyDictionary", "WeakValueDictionary", "WeakSet"})
#: constructors bypassed: a record made or filled without its own __init__/__new__
BYPASSES = frozenset({("tuple", "__new__"), ("object", "__setattr__")})
MUTABLE_NODES = (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)
MEMOS = frozenset({"lru_cache", "cache"})


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Call):
        return _name(node.func)
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _bypass(func: ast.expr) -> bool:
    return (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and (func.value.id, func.attr) in BYPASSES
    )


def problems_in(source: str, file: str) -> list[str]:
    """Every breach of the rules above in one module's source."""
    tree = ast.parse(source)
    found: list[str] = []
    for node in tree.body:
        value = node.value if isinstance(node, ast.Assign | ast.AnnAssign) else None
        if isinstance(value, MUTABLE_NODES) or (
            isinstance(value, ast.Call) and _name(value) in MUTABLE_CALLS
        ):
            found.append(f"{file}:{node.lineno}: mutable value at module level")
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_LINES:
                found.append(f"{file}:{node.lineno}: {node.name}() is {length} lines")
            found.extend(
                f"{file}:{node.lineno}: {node.name}() is memoised by {_name(d)}"
                for d in node.decorator_list
                if _name(d) in MEMOS
            )
        elif isinstance(node, ast.Global):
            found.append(f"{file}:{node.lineno}: global {', '.join(node.names)}")
        elif isinstance(node, ast.Call) and _name(node) == "id" and isinstance(node.func, ast.Name):
            found.append(f"{file}:{node.lineno}: id() (an identity-keyed cache?)")
        elif isinstance(node, ast.Call) and _name(node) in IDENTITY_MAPS:
            found.append(f"{file}:{node.lineno}: {_name(node)}() (an identity-keyed cache?)")
        elif isinstance(node, ast.Call) and _bypass(node.func):
            found.append(f"{file}:{node.lineno}: {ast.unparse(node.func)}() bypasses a constructor")
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT and "thread" in token.string.lower():
            found.append(f"{file}:{token.start[0]}: a comment about threads")
    return found


@pytest.mark.parametrize(
    "path",
    sorted(POLICY_DIR.glob("*.py")),
    ids=lambda p: p.name,
)
def test_policy_module_is_plain(path: Path) -> None:
    assert problems_in(path.read_text(encoding="utf-8"), path.name) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("_SEEN: dict[int, str] = {}\n", "mutable value at module level"),
        ("CACHE = dict()\n", "mutable value at module level"),
        ("from functools import lru_cache\n@lru_cache\ndef f(x):\n    return x\n", "memoised"),
        ("def f(x, memo):\n    return memo.get(id(x))\n", "id()"),
        ("def f():\n    return weakref.WeakKeyDictionary()\n", "WeakKeyDictionary()"),
        ("def f(cls, a):\n    return tuple.__new__(cls, (a,))\n", "tuple.__new__()"),
        ("def f(self, a):\n    object.__setattr__(self, 'a', a)\n", "object.__setattr__()"),
        ("def f():\n    global _LAST\n", "global _LAST"),
        ("def f():\n    pass  # read whole even with threads\n", "threads"),
        ("def f():\n" + "    x = 1\n" * MAX_LINES, "f() is 61 lines"),
    ],
)
def test_each_breach_is_found(source: str, expected: str) -> None:
    found = problems_in(source, "m.py")
    assert len(found) == 1 and expected in found[0], found


def test_plain_constants_and_short_functions_pass() -> None:
    source = 'NAMES = ("a", "b")\nLIMIT = 4096\n\ndef f(x):\n    return {x: 1}\n'
    assert problems_in(source, "m.py") == []


def test_a_memo_kept_across_cycles_stays_bounded() -> None:
    """What the compiled rules remember from cycle to cycle (``bridge.policy.memo``) is
    forgotten past its limit, so a long-running daemon's memory stays bounded."""
    memo: Memo[int, int] = Memo(3)
    for n in range(10):
        assert memo.keep(n, n * n) == n * n
        assert len(memo) <= 3
    assert memo.get(9) == 81
    assert memo.get(0) is None
    with pytest.raises(ValueError, match="at least 1"):
        Memo(0)
