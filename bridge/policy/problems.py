"""Problems found in a YAML file, each pinned to ``file:line``, and the located tree they point at.

The loaders (rule files, ``config/bridge.yaml``) turn YAML into a small tree of
:class:`Node` objects that remember the line of every key and value.  The rule
files' shape is checked against their models (``bridge.rules.shape``), which pins
each problem to its node; ``config/bridge.yaml`` is walked with a :class:`Checker`.
Both *collect* problems instead of stopping at the first one.  Nothing here reads a
file: the reading lives in the loaders.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

NodeKind = Literal["scalar", "map", "seq"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file: where, what, and what to do about it."""

    file: str
    line: int | None  # 1-based; None when the problem is the file itself (e.g. missing)
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        text = f"{where}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


@dataclass(frozen=True)
class Node:
    """A YAML value with the line it starts on.

    Scalars keep both the constructed value (``value``: str, int, bool, date,
    None, ...) and their source text (``text``), so ``Yes`` or ``17:00`` can be
    read back exactly as the author typed them.  Mappings keep their entries
    in file order as ``(key node, value node)`` pairs.
    """

    kind: NodeKind
    line: int
    value: object = None
    text: str = ""
    entries: tuple[tuple[Node, Node], ...] = ()
    items: tuple[Node, ...] = ()
    #: for a value inside a mapping: the line of its key (a block mapping or list
    #: starts on the line after its key; problems with the whole block point at the key)
    key_line: int | None = None

    @property
    def report_line(self) -> int:
        if self.kind != "scalar" and self.key_line is not None:
            return self.key_line
        return self.line

    @property
    def is_null(self) -> bool:
        return self.kind == "scalar" and self.value is None

    def find(self, path: Sequence[str | int]) -> Node:
        """The node at ``path`` (mapping keys by their text, list items by index), or the
        deepest node on the way when the rest of the path is not in the file."""
        node = self
        for step in path:
            found = node.child(step)
            if found is None:
                return node
            node = found
        return node

    def child(self, step: str | int) -> Node | None:
        """A mapping's value under key ``step``, or a list's item at index ``step``; None
        when there is none."""
        if self.kind == "map":
            return self.entry(step)
        if self.kind == "seq" and isinstance(step, int) and 0 <= step < len(self.items):
            return self.items[step]
        return None

    def entry(self, key: object) -> Node | None:
        """A mapping's value under ``key`` (the first one when it is given twice)."""
        return next((v for k, v in self.entries if k.text == key), None)

    def key_node(self, key: object) -> Node:
        """A mapping's key node for ``key`` (the mapping itself when it has no such key)."""
        return next((k for k, _ in self.entries if k.text == key), self)

    def describe(self) -> str:
        """What kind of value this is, for 'expected X, got Y' messages."""
        if self.kind == "map":
            return "a mapping"
        if self.kind == "seq":
            return "a list"
        value = self.value
        if value is None:
            return "nothing (null)"
        if isinstance(value, bool):
            return f"the boolean {self.text}"
        if isinstance(value, int | float):
            return f"the number {self.text}"
        return f"{self.text!r}"


@dataclass(frozen=True)
class Document:
    """One rule file after its shape checks.

    ``values`` holds each top-level part that has the right shape (model values);
    ``damaged`` the paths where shape problems were found (already reported)."""

    file: str
    tree: Node
    values: Mapping[str, Any]
    damaged: Sequence[tuple[str | int, ...]] = ()

    def get(self, key: str) -> Any:
        return self.values.get(key)

    def given(self, key: str) -> bool:
        """Whether the file has the key at all (``key: null`` included)."""
        return self.tree.entry(key) is not None

    def sound(self, *path: str | int) -> bool:
        """The part at ``path`` is there and has no shape problem anywhere inside."""
        present = bool(path) and path[0] in self.values
        return present and not any(bad[: len(path)] == path for bad in self.damaged)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """``"did you mean 'x'?"`` for the closest choice, or None."""
    options = list(choices)
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        folded = {c.casefold(): c for c in options}
        if word.casefold() in folded:
            close = [folded[word.casefold()]]
    return f"did you mean {close[0]!r}?" if close else None


#: Top-level mappings whose entries a problem names by their kind ("tier standard").
_NAMED_ENTRIES = MappingProxyType(
    {"tiers": "tier", "customers": "customer", "calendars": "calendar", "priorities": "priority"}
)
#: Lists whose items a problem names by their kind and number ("escalation step 2").
_NAMED_ITEMS = MappingProxyType({"escalation": "escalation step", "actions": "action"})


def where_of(tree: Node, path: Sequence[str | int], top: str) -> str:
    """How a problem names the place at ``path`` in a rule file (``top``: the file's name):
    ``tier standard: contacts``, ``rule 'P1 needs staff': when``, ``escalation step 2: at``.
    A plain list's item is named by its list."""
    parts: list[str] = []
    for i, step in enumerate(path):
        if i == 1 and str(path[0]) in _NAMED_ENTRIES:
            parts[-1] = f"{_NAMED_ENTRIES[str(path[0])]} {step}"
        elif isinstance(step, int) and i:
            item = tree.find(path[: i + 1])
            name = item.entry("name") if path[i - 1] == "rules" else None
            if name is not None and isinstance(name.value, str):
                parts[-1] = f"rule {name.value!r}"
            elif path[i - 1] in ("rules", *_NAMED_ITEMS):
                parts[-1] = f"{_NAMED_ITEMS.get(str(path[i - 1]), 'rule')} {step + 1}"
            elif item.kind == "map":
                parts.append(f"item {step + 1}")
        else:
            parts.append(str(step))
    return ": ".join(parts) or top


def known_list(choices: Iterable[str]) -> str:
    return ", ".join(sorted(choices))


def unknown_hint(name: str, choices: Collection[str], note: str | None = None) -> str:
    """The hint of an unknown name: ``did you mean ...? <note> known: ...`` (or that none
    are defined)."""
    parts = [p for p in (did_you_mean(name, choices), note) if p]
    parts.append(f"known: {known_list(choices)}" if choices else "none are defined")
    return " ".join(parts)


@dataclass
class Checker:
    """Collects problems for one file while its tree is being read."""

    file: str
    problems: list[Problem] = field(default_factory=list)

    # ------------------------------------------------------------------ reporting

    def add(self, where: Node | int | None, message: str, hint: str | None = None) -> None:
        line = where.report_line if isinstance(where, Node) else where
        self.problems.append(Problem(self.file, line, message, hint))

    def unknown(
        self,
        where_node: Node,
        where: str,
        what: str,
        name: str,
        choices: Collection[str],
        note: str | None = None,
    ) -> None:
        """``where: unknown <what> 'name' (did you mean ...? <note>; known: ...)``."""
        self.add(where_node, f"{where}: unknown {what} {name!r}", unknown_hint(name, choices, note))

    # ------------------------------------------------------------------ shapes

    def mapping(
        self,
        node: Node | None,
        where: str,
        *,
        required: Collection[str] = (),
        optional: Collection[str] = (),
        open_keys: bool = False,
        elsewhere: Mapping[str, str] | None = None,
    ) -> dict[str, Node] | None:
        """The entries of a mapping, keyed by the key's text.

        Unknown keys (unless ``open_keys``), duplicate keys and missing required
        keys are reported.  ``elsewhere`` maps keys that belong in another file
        to that file's name, for a better hint.  Returns None when the node is
        not a mapping at all.
        """
        if node is None:
            return None
        if node.kind != "map":
            self.add(node, f"{where} must be a mapping (key: value), not {node.describe()}")
            return None
        known = [*required, *optional]
        out: dict[str, Node] = {}
        suggested: set[str] = set()  # a misspelt key is not reported as missing as well
        for key_node, value_node in node.entries:
            if key_node.kind != "scalar" or key_node.is_null:
                self.add(key_node, f"{where}: keys must be plain names, not {key_node.describe()}")
                continue
            key = key_node.text
            if key in out:
                self.add(key_node, f"{where}: {key!r} is given twice", "keep only one of them")
                continue
            if not open_keys and key not in known:
                if elsewhere and key in elsewhere:
                    self.add(
                        key_node,
                        f"{where}: {key!r} does not belong here",
                        f"it belongs in {elsewhere[key]}",
                    )
                else:
                    self.unknown(key_node, where, "key", key, known)
                    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
                    if close:
                        suggested.add(close[0])
                continue
            out[key] = value_node
        for key in required:
            if key not in out and key not in suggested:
                self.add(node, f"{where}: {key!r} is missing")
        return out

    def string(self, node: Node, what: str, *, allow_empty: bool = False) -> str | None:
        """A scalar as text, exactly as typed (``Yes`` stays ``"Yes"``)."""
        if node.kind != "scalar" or node.is_null:
            self.add(node, f"{what} must be text, not {node.describe()}")
            return None
        text = node.value if isinstance(node.value, str) else node.text
        if not allow_empty and not text.strip():
            self.add(node, f"{what} must not be empty")
            return None
        return text

    def integer(self, node: Node, what: str, *, minimum: int | None = None) -> int | None:
        value = node.value
        if node.kind != "scalar" or isinstance(value, bool) or not isinstance(value, int):
            self.add(node, f"{what} must be a whole number, not {node.describe()}")
            return None
        if minimum is not None and value < minimum:
            self.add(node, f"{what} must be at least {minimum}, not {value}")
            return None
        return value

    def boolean(self, node: Node, what: str) -> bool | None:
        if node.kind != "scalar" or not isinstance(node.value, bool):
            self.add(node, f"{what} must be true or false, not {node.describe()}")
            return None
        return node.value
