"""The README's rule reference, generated from the rule models.

Each rule file's table in README.md sits between ``<!-- reference: rules/X.yaml -->``
and ``<!-- end reference -->``; :func:`render_readme` rewrites those blocks from
the models and a test checks the README is current.  To refresh it::

    .venv/bin/python -m bridge.rules.reference README.md
"""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from bridge.rules.models import FILES, Comment, Flag, Shape

#: Shapes the README describes once, above the tables ("comment", "flag").
COMMON = (Comment, Flag)
_BLOCK = re.compile(
    r"(<!-- reference: rules/(\w+)\.yaml -->\n)(.*?)(<!-- end reference -->)", re.DOTALL
)


def _model_in(annotation: Any) -> tuple[type[Shape], str] | None:
    """The rule model a field holds (itself, a mapping's values or a list's items) and how
    the reference names one of them: ``.``, ``.<key>.`` (``each``) or ``[].``."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        found = [m for m in (_model_in(a) for a in get_args(annotation)) if m is not None]
        return found[0] if len(found) == 1 else None
    if origin is dict:
        inner = _model_in(get_args(annotation)[1])
        return (inner[0], ".{each}.") if inner is not None else None
    if origin is list:
        inner = _model_in(get_args(annotation)[0])
        return (inner[0], "[].") if inner is not None and inner[1] == "." else None
    for arg in get_args(annotation):  # Annotated[...]
        inner = _model_in(arg)
        if inner is not None:
            return inner
    if isinstance(annotation, type) and issubclass(annotation, Shape):
        return annotation, "."
    return None


def rows(model: type[Shape], prefix: str = "") -> Iterator[tuple[str, str, str]]:
    """(key, type, meaning) for every field of ``model`` and the models inside it."""
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        key = prefix + (info.alias or name)
        yield key, str(extra.get("shown", "")), info.description or ""
        inner = _model_in(info.annotation)
        if inner is not None and inner[0] not in COMMON:
            yield from rows(inner[0], key + inner[1].format(each=extra.get("each", "<key>")))


def table(file: str) -> str:
    """The reference table of ``rules/<file>.yaml`` (Markdown)."""
    lines = ["| key | type | meaning |", "|---|---|---|"]
    lines += [f"| `{key}` | {shown} | {meaning} |" for key, shown, meaning in rows(FILES[file])]
    return "\n".join(lines) + "\n"


def render_readme(text: str) -> str:
    """``text`` with every reference block rewritten from the models."""
    return _BLOCK.sub(lambda m: m.group(1) + table(m.group(2)) + m.group(4), text)


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "README.md")
    path.write_text(render_readme(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
