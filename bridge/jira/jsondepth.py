"""Jira answers whose JSON nests deeper than Python's parser goes: one issue, not the page.

Python's ``json`` parser recurses once per level and gives up near 1,000 levels
with ``RecursionError``.  A single issue carrying such a value (a custom field
written by an app, a pathological document) would otherwise make the whole
search page unreadable, and with it every case on the page.

:func:`loads` parses normally; only when that fails for depth does it cut every
value nested deeper than :data:`MAX_DEPTH` down to a marker string, parse the
rest, and mark each issue (in a search page's ``issues``, or the answer itself
when it is one issue) that held such a value with :data:`MALFORMED` and the
reason.  The snapshot code skips a marked issue and the cycle reports it, like
any other malformed case.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["MALFORMED", "MAX_DEPTH", "loads"]

#: Values nested deeper than this are cut (Jira's own shapes need fewer than 20 levels).
MAX_DEPTH = 200
#: The key a malformed issue carries, with the reason as its value.
MALFORMED = "_jsm_bridge_malformed"

_CUT = f"{MALFORMED}: nested too deeply"
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', re.DOTALL)


def loads(text: str) -> Any:
    """``json.loads``, except that values nested too deeply mark their issue instead."""
    try:
        return json.loads(text)
    except RecursionError:
        pass
    data = json.loads(_cut_deep(text))
    reason = f"a field is nested more than {MAX_DEPTH} levels deep; the issue cannot be read"
    if isinstance(data, dict):
        issues = data.get("issues")
        candidates = issues if isinstance(issues, list) else [data]
        for issue in candidates:
            if isinstance(issue, dict) and _CUT in json.dumps(issue):
                issue[MALFORMED] = reason
    return data


def _cut_deep(text: str) -> str:
    """``text`` with every array or object opened below :data:`MAX_DEPTH` replaced by a string."""
    pieces: list[str] = []
    depth = 0
    kept_until = 0
    cut_from: int | None = None
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token[0] == '"':
            continue
        if token in "[{":
            depth += 1
            if depth > MAX_DEPTH and cut_from is None:
                cut_from = match.start()
        else:
            depth -= 1
            if cut_from is not None and depth == MAX_DEPTH:
                pieces.append(text[kept_until:cut_from])
                pieces.append(json.dumps(_CUT))
                kept_until = match.end()
                cut_from = None
    pieces.append(text[kept_until:])
    return "".join(pieces)
