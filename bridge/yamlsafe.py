"""The one YAML loader for the rule files and ``config/bridge.yaml``: safe and bounded.

PyYAML's ``SafeLoader`` refuses code-running tags, but it still expands aliases
without limit: a 2 KB "billion laughs" file (each level an anchor listing the
previous one ten times) expands to millions of values and takes minutes and
gigabytes.  This loader composes the document (aliases stay shared references,
so composing is linear in the file's size), then measures what the document
*would* expand to before building anything.  A file whose aliases would bring
in more than :data:`MAX_ALIAS_VALUES` values, or that nests deeper than
:data:`MAX_DEPTH`, is refused with a ``file:line`` problem pointing at the
alias (or the nesting) -- in ``check``, at start-up and on a daemon reload alike,
because all of them read files through here.

Aliases and merge keys (``<<: *defaults``) stay usable for what people write by
hand: a few shared blocks used a few times.

The result is the located :class:`~bridge.policy.problems.Node` tree the rule
and config validators work on.  Characters YAML forbids (a NUL byte, other
control characters) are a problem with the line they are on, not an exception.
"""

from __future__ import annotations

from dataclasses import replace
from os import PathLike
from pathlib import Path
from typing import Any

import yaml

from bridge.policy.problems import Node, Problem

__all__ = ["MAX_ALIAS_VALUES", "MAX_DEPTH", "parse_yaml", "read_yaml"]

#: At most this many values may be brought into a document by aliases, in total.
MAX_ALIAS_VALUES = 5_000
#: Mappings and lists nested deeper than this are refused (rule files need fewer than 10).
MAX_DEPTH = 64

_TAG_HINT = "YAML tags (!!python/..., !foo) are not allowed; write plain values"
_ALIAS_HINT = "aliases (*name) may repeat a small block a few times; write the values out instead"


class _Refused(Exception):
    def __init__(self, line: int | None, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.message = message
        self.hint = hint


class _Loader(yaml.SafeLoader):
    """A ``SafeLoader`` that remembers where each alias is used (its line)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        #: (line of the alias, the node it refers to), in document order
        self.alias_uses: list[tuple[int, Any]] = []

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            line = self.peek_event().start_mark.line + 1  # type: ignore[no-untyped-call]
            node = super().compose_node(parent, index)
            self.alias_uses.append((line, node))
            return node
        return super().compose_node(parent, index)


def parse_yaml(text: str, file: str) -> tuple[Node | None, list[Problem]]:
    """Parse YAML text into a located tree; every refusal is a ``file:line`` problem."""
    loader: _Loader | None = None
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
        if root is None:
            return None, []
        _check_size(root, loader.alias_uses)
        return _convert(loader, root, set()), []
    except _Refused as exc:
        return None, [Problem(file, exc.line, exc.message, exc.hint)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        what = exc.problem or exc.context or "cannot be read"
        hint = _TAG_HINT if "tag" in what else "check indentation, quotes and colons"
        return None, [Problem(file, line, f"not valid YAML: {what}", hint)]
    except yaml.reader.ReaderError as exc:
        # a character YAML does not allow (NUL, other control characters, a lone surrogate)
        line = text.count("\n", 0, exc.position) + 1
        return None, [
            Problem(
                file,
                line,
                f"not valid YAML: the character {_char_name(exc.character)} is not allowed",
                "remove it (a NUL byte or a control character: was the file saved as text?)",
            )
        ]
    except yaml.YAMLError as exc:
        return None, [Problem(file, None, f"not valid YAML: {exc}")]
    except RecursionError:
        return None, [Problem(file, None, f"not valid YAML: nested deeper than {MAX_DEPTH} levels")]
    finally:
        if loader is not None:
            loader.dispose()


def read_yaml(
    path: str | PathLike[str], label: str | None = None, missing_hint: str | None = None
) -> tuple[Node | None, list[Problem]]:
    """Read and parse one YAML file; a missing or unreadable file is a problem."""
    file = Path(path)
    name = label if label is not None else str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [
            Problem(
                name,
                None,
                "file not found",
                missing_hint or f"create {file.name} or point --rules at the right directory",
            )
        ]
    except UnicodeDecodeError as exc:
        return None, [_not_utf8(file, name, exc)]
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        return None, [Problem(name, None, f"cannot read the file: {exc.__class__.__name__}")]
    return parse_yaml(text, name)


def _not_utf8(file: Path, name: str, exc: UnicodeDecodeError) -> Problem:
    """Where a file that is not UTF-8 first goes wrong, and what to do about it: an
    editor's "Unicode" (UTF-16) or a Western code page (Latin-1) are the usual causes."""
    raw = exc.object if isinstance(exc.object, bytes) else b""
    utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")
    line = None if utf16 else raw[: exc.start].count(b"\n") + 1
    what = (
        'UTF-16 (an editor\'s "Unicode")' if utf16 else f"byte 0x{raw[exc.start]:02X} is not UTF-8"
    )
    return Problem(
        name,
        line,
        f"the file is not UTF-8: {what}",
        "save it as UTF-8 (in Notepad: Save as, Encoding UTF-8)",
    )


# ------------------------------------------------------------------------------ internals


def _char_name(character: object) -> str:
    code = character if isinstance(character, int) else ord(str(character)[:1] or "\0")
    return "NUL" if code == 0 else f"U+{code:04X}"


def _check_size(root: Any, alias_uses: list[tuple[int, Any]]) -> None:
    """Refuse documents whose aliases expand too far or that nest too deeply.

    Each node's expanded size is computed once (aliases are shared nodes), so the
    check is linear in the size of the file, not of its expansion.
    """
    sizes: dict[int, int] = {}
    _measure(root, sizes, set(), 0)
    brought_in = 0
    for line, node in alias_uses:
        brought_in += sizes.get(id(node), 1)
        if brought_in > MAX_ALIAS_VALUES:
            raise _Refused(
                line,
                f"YAML aliases would expand this file to more than {MAX_ALIAS_VALUES:,} values",
                _ALIAS_HINT,
            )


def _measure(node: Any, sizes: dict[int, int], path: set[int], depth: int) -> int:
    known = sizes.get(id(node))
    if known is not None:
        return known
    line = node.start_mark.line + 1
    if id(node) in path:
        raise _Refused(line, "not valid YAML: a YAML alias refers to itself")
    if depth > MAX_DEPTH:
        raise _Refused(
            line,
            f"not valid YAML: nested deeper than {MAX_DEPTH} levels",
            "rule and config files need only a few levels; is this the right file?",
        )
    total = 1
    if node.id in ("sequence", "mapping"):
        path.add(id(node))
        children = node.value if node.id == "sequence" else [c for kv in node.value for c in kv]
        for child in children:
            total += _measure(child, sizes, path, depth + 1)
            if total > 10 * MAX_ALIAS_VALUES + 1_000_000:  # stop counting a bomb early
                break
        path.discard(id(node))
    sizes[id(node)] = total
    return total


def _convert(loader: Any, node: Any, path: set[int]) -> Node:
    line = node.start_mark.line + 1
    if id(node) in path:
        raise _Refused(line, "not valid YAML: a YAML alias refers to itself")
    if node.id == "scalar":
        try:
            value = loader.construct_object(node, deep=True)
        except ValueError:  # e.g. 2026-13-45 looks like a date but is not one
            value = node.value
        return Node("scalar", line, value=value, text=str(node.value))
    if node.tag not in ("tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"):
        raise _Refused(
            line,
            f"not valid YAML: could not determine a constructor for the tag {node.tag!r}",
            _TAG_HINT,
        )
    path = path | {id(node)}
    if node.id == "sequence":
        return Node("seq", line, items=tuple(_convert(loader, n, path) for n in node.value))
    entries: list[tuple[Node, Node]] = []
    merged: list[tuple[Node, Node]] = []
    for key, value in node.value:
        if key.tag == "tag:yaml.org,2002:merge":
            sources = value.value if value.id == "sequence" else [value]
            for source in sources:
                converted = _convert(loader, source, path)
                merged.extend(converted.entries)
            continue
        key_node = _convert(loader, key, path)
        value_node = replace(_convert(loader, value, path), key_line=key_node.line)
        entries.append((key_node, value_node))
    explicit = {k.text for k, _ in entries}
    inherited = [(k, v) for k, v in merged if k.text not in explicit]
    return Node("map", line, entries=tuple(inherited + entries))
