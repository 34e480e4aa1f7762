"""JQL text as the client and the sync layer both handle it."""

from __future__ import annotations

import re


def split_order_by(jql: str) -> tuple[str, str]:
    """The query and its trailing ``ORDER BY`` clause (outside quotes; "" when none),
    each stripped: ``("project = SUP", "ORDER BY key ASC")``."""
    in_quote: str | None = None
    escaped = False
    last = -1
    lowered = jql.lower()
    for i, ch in enumerate(jql):
        if escaped:
            escaped = False
            continue
        if ch == "\\":
            escaped = True
            continue
        if in_quote:
            if ch == in_quote:
                in_quote = None
            continue
        if ch in "\"'":
            in_quote = ch
            continue
        if lowered.startswith("order", i) and (i == 0 or not lowered[i - 1].isalnum()):
            rest = lowered[i + 5 :]
            if re.match(r"\s+by\b", rest):
                last = i
    if last < 0:
        return jql.strip(), ""
    return jql[:last].strip(), jql[last:].strip()
