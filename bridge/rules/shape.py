"""Shape checks of the rule files, from the rule models: a located tree → model values.

Each file's located YAML tree (``bridge.yamlsafe``) becomes plain values as an
editor's YAML language server reads them (YAML 1.2: ``Yes`` and ``17:00`` are
text, so are dates) and is validated by its model of ``bridge.rules.models`` in
strict mode, which is what the published JSON Schema says too.  Every error is
turned into a :class:`~bridge.policy.problems.Problem` at the ``file:line`` of
the node it is about (a missing key at its mapping, an unknown key at the key),
worded for whoever edits the file: what is wrong, and how to write it (from the
model's own ``form``/``hint`` of a typed value, its allowed values, its keys).

What the rules *mean* (references between files, ordering, templates, values
such as durations) is checked afterwards by ``bridge.policy.ruleset`` on the
validated parts; a part with a shape problem is left out of those checks so one
mistake is one problem.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import TypeAdapter, ValidationError

from bridge.policy.problems import (
    Document,
    Node,
    Problem,
    did_you_mean,
    unknown_hint,
    where_of,
)
from bridge.rules.models import DAY_FORM, FILES

__all__ = ["read_document"]

Path = tuple[str | int, ...]
#: How each JSON type is named in a problem.
_TYPE_NOUNS = {
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "object": "a mapping (key: value)",
    "array": "a list",
    "string": "text",
    "null": "",
}


@dataclass(frozen=True)
class _Error:
    """One pydantic error: ``loc`` (keys, indexes, and union branch names), type, context."""

    loc: Path
    type: str
    ctx: dict[str, Any]

    @classmethod
    def of(cls, raw: Any) -> _Error:
        return cls(tuple(raw["loc"]), raw["type"], dict(raw.get("ctx") or {}))


def read_document(name: str, label: str, tree: Node) -> tuple[Document, list[Problem]]:
    """Validate one rule file (``name``: ``tiers``, ...) by its model.

    Returns the document with every part that validated, and the shape problems."""
    reader = _Reader(name, label, tree)
    data = reader.plain(tree, ())
    model = FILES[name]
    try:
        valid = model.model_validate(data, strict=True)
    except ValidationError as exc:
        errors = [_Error.of(e) for e in exc.errors(include_url=False)]
        return reader.partial(data, errors)
    values = {key: getattr(valid, key) for key in data if key in model.model_fields}
    return Document(label, tree, values, reader.damaged), reader.problems


class _Reader:
    """The problems of one file, and where they are."""

    def __init__(self, name: str, label: str, tree: Node) -> None:
        self.name = name
        self.label = label
        self.tree = tree
        self.problems: list[Problem] = []
        self.damaged: list[Path] = []
        self._schema: dict[str, Any] | None = None

    # ------------------------------------------------------------------ plain values

    def plain(self, node: Node, path: Path) -> Any:
        """The node as JSON-like values; odd and repeated keys are problems here."""
        if node.kind == "seq":
            return [self.plain(item, (*path, i)) for i, item in enumerate(node.items)]
        if node.kind == "scalar":
            return _scalar(node)
        out: dict[str, Any] = {}
        for key, value in node.entries:
            where = self.where(path)
            if key.kind != "scalar" or key.is_null:
                self.add(key, path, f"{where}: keys must be plain names, not {key.describe()}")
            elif key.text in out:
                message = f"{where}: {key.text!r} is given twice"
                self.add(key, (*path, key.text), message, "keep only one of them")
            else:
                out[key.text] = self.plain(value, (*path, key.text))
        return out

    # ------------------------------------------------------------------ errors

    def partial(self, data: Any, raw: list[_Error]) -> tuple[Document, list[Problem]]:
        done: set[Path] = set()
        errors = _settle(self.tree, raw)
        suggested = {
            (e.loc[:-1], close)
            for e in errors
            if e.type == "extra_forbidden"
            for close in [self._closest(e.loc)]
            if close
        }
        for error in errors:
            real = _real(error.loc)
            if real in done or (error.type == "missing" and (real[:-1], real[-1]) in suggested):
                continue
            done.add(real)
            self.report(error)  # records the part as damaged
        values = self._valid_parts(data)
        return Document(self.label, self.tree, values, self.damaged), self.problems

    def report(self, error: _Error) -> None:
        loc = error.loc
        if error.type == "missing":
            where = self.where(loc[:-1])
            self.add(self.tree.find(loc[:-1]), loc, f"{where}: {loc[-1]!r} is missing")
        elif error.type == "extra_forbidden":
            self._unknown_key(loc)
        elif loc and loc[-1] == "[key]":
            mapping = self.tree.find(loc[:-2])
            message = f"{self.where(loc[:-2])}: {loc[-2]!r} is not {DAY_FORM[0]}"
            self.add(mapping.key_node(loc[-2]), loc, message, DAY_FORM[1])
        elif error.type in ("one_of", "needs"):
            self._keys_together(loc, error.ctx)
        elif error.type == "greater_than_equal":
            node = self.tree.find(loc)
            message = f"{self.where(loc)} must be at least {error.ctx['ge']}, not {node.text}"
            self.add(node, loc, message)
        elif error.type == "too_short":
            self.add(self.tree.find(loc), loc, f"{self.where(loc)} is empty", "give at least one")
        elif error.type == "string_too_short" and not self.tree.find(loc).text.strip():
            self.add(self.tree.find(loc), loc, f"{self.where(loc)} must not be empty")
        else:
            self._wrong_value(loc)

    def _unknown_key(self, loc: Path) -> None:
        parent, key = loc[:-1], str(loc[-1])
        at = self.tree.find(parent).key_node(key)
        home = [n for n, m in FILES.items() if n != self.name and key in m.model_fields]
        if not parent and home:
            message = f"{self.where(parent)}: {key!r} does not belong here"
            self.add(at, loc, message, f"it belongs in {home[0]}.yaml")
            return
        message = f"{self.where(parent)}: unknown key {key!r}"
        self.add(at, loc, message, unknown_hint(key, self._keys(parent)))

    def _keys_together(self, loc: Path, ctx: dict[str, Any]) -> None:
        """Keys that go together (a model's ``one_of`` and ``needs``) do not."""
        mapping, where = self.tree.find(loc), self.where(loc)
        if "needed" in ctx:
            message = f"{where}: {ctx['key']} needs {ctx['needed']}"
            self.add(mapping.key_node(ctx["key"]), loc, message, f"add {ctx['needed']} as well")
            return
        keys, given = _either(list(ctx["keys"]), "or"), list(ctx["given"])
        if given:
            message = f"{where}: use only one of {keys}, not {_either(given, 'and')}"
            self.add(mapping.key_node(given[1]), loc, message, ctx["hint"])
        else:
            start = f"{where}: {ctx['when']}" if ctx["when"] else where
            self.add(mapping, loc, f"{start} needs one of {keys}", ctx["hint"])

    def _wrong_value(self, loc: Path) -> None:
        node = self.tree.find(loc)
        choices = [a for a in _alternatives(self.schema, loc) if a.get("type") != "null"]
        where = self.where(loc)
        if node.kind == "map" and len(choices) > 1 and all("properties" in a for a in choices):
            keys = [k for a in choices for k in a.get("required", a["properties"])]
            message = f"{where} must have exactly one of the keys {_either(keys, 'or')}"
            self.add(node, loc, message, "start a new list item (- ) for each")
            return
        nouns = [n for n in dict.fromkeys(_noun(a) for a in choices) if n]
        shown = _shown(node)
        if not nouns:
            self.add(node, loc, f"{where}: {shown} is not allowed here")
            return
        plain_item = bool(loc) and isinstance(loc[-1], int) and where == self.where(loc[:-1])
        if plain_item:
            message = f"{where}: {shown} is not {_either(nouns, 'or')}"
        else:
            message = f"{where} must be {_either(nouns, 'or')}, not {shown}"
        self.add(node, loc, message, self._hint(node, choices))

    @staticmethod
    def _hint(node: Node, choices: list[dict[str, Any]]) -> str | None:
        enum = [
            str(v) for a in choices for v in a.get("enum", [a["const"]] if "const" in a else [])
        ]
        if enum and node.kind == "scalar":
            close = did_you_mean(node.text, enum)
            if close:
                return close
        hints = [str(a["hint"]) for a in choices if "hint" in a]
        if not hints:
            return None
        return hints[0] + (f"; or {_either(enum, 'or')}" if enum else "")

    # ------------------------------------------------------------------ the valid parts

    def _valid_parts(self, data: Any) -> dict[str, Any]:
        """Every top-level part that validates once the parts with problems are left out."""
        if not isinstance(data, dict) or any(not p for p in self.damaged):
            return {}
        for path in self.damaged:
            _drop(data, *self._removable(data, path))
        model = FILES[self.name]
        values: dict[str, Any] = {}
        for key, value in data.items():
            field = model.model_fields.get(key)
            if field is None:
                continue
            kind: Any = (
                Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
            )
            adapter: TypeAdapter[Any] = TypeAdapter(kind)
            try:
                values[key] = adapter.validate_python(value, strict=True)
            except ValidationError:
                continue  # e.g. a mapping left empty: its problem is already reported
        return values

    def _removable(self, data: Any, path: Path) -> tuple[Path, list[Any] | None]:
        """The smallest part holding ``path`` that the model can do without, and what
        stands in for it: a list a model requires stays as an empty list (so the rest of
        its mapping is still checked for meaning); anything else is left out (None)."""
        path = tuple(s for s in path if s != "[key]")
        for cut in range(len(path), 0, -1):
            step = path[cut - 1]
            if isinstance(step, int):
                continue  # list items are left out with their list: indexes keep their lines
            holders = _alternatives(self.schema, path[: cut - 1])
            if cut == 1 or not any(step in a.get("required", ()) for a in holders):
                return path[:cut], None
            if isinstance(_value_at(data, path[:cut]), list):
                return path[:cut], []
        return path[:1], None

    # ------------------------------------------------------------------ helpers

    @property
    def schema(self) -> dict[str, Any]:
        if self._schema is None:
            self._schema = FILES[self.name].model_json_schema(by_alias=True)
        return self._schema

    def _keys(self, path: Path) -> list[str]:
        return [k for a in _alternatives(self.schema, path) for k in a.get("properties", {})]

    def _closest(self, loc: Path) -> str | None:
        close = difflib.get_close_matches(str(loc[-1]), self._keys(loc[:-1]), n=1, cutoff=0.6)
        return close[0] if close else None

    def where(self, path: Sequence[str | int]) -> str:
        return where_of(self.tree, path, f"{self.name}.yaml")

    def add(self, node: Node, path: Path, message: str, hint: str | None = None) -> None:
        self.problems.append(Problem(self.label, node.report_line, message, hint))
        if _real(path) not in self.damaged:
            self.damaged.append(_real(path))


def _scalar(node: Node) -> Any:
    """A scalar as YAML 1.2 (and JSON) reads it: ``Yes``, ``17:00`` and dates are text."""
    value = node.value
    if value is None or isinstance(value, str | float):
        return value
    if isinstance(value, bool):
        return value if node.text.casefold() in ("true", "false") else node.text
    if isinstance(value, int) and ":" not in node.text:
        return value
    return node.text


def _real(loc: Path) -> Path:
    return loc[:-1] if loc and loc[-1] == "[key]" else loc


def _first_branch(tree: Node, error: _Error) -> int | None:
    """Where ``error.loc`` names a union branch rather than a key or an index, if it does."""
    node = tree
    for i, step in enumerate(error.loc):
        if step == "[key]":
            return None
        found = node.child(step)
        if found is not None:
            node = found
        elif node.kind == "map" and error.type == "missing" and i == len(error.loc) - 1:
            return None
        else:
            return i
    return None


def _settle(tree: Node, errors: list[_Error]) -> list[_Error]:
    """Each union's errors narrowed to the branch the author meant, branch names dropped."""
    while True:
        forks: dict[Path, list[int]] = {}
        for index, error in enumerate(errors):
            at = _first_branch(tree, error)
            if at is not None:
                forks.setdefault(error.loc[:at], []).append(index)
        if not forks:
            return errors
        prefix = min(forks, key=len)
        chosen = _choose(tree.find(prefix), prefix, [errors[i] for i in forks[prefix]])
        errors = [e for i, e in enumerate(errors) if i not in forks[prefix]] + chosen


def _choose(node: Node, prefix: Path, group: list[_Error]) -> list[_Error]:
    """The errors of the branch that fits the value best, or one error about the value."""
    at = len(prefix)
    branches: dict[Any, list[_Error]] = {}
    for error in group:
        branches.setdefault(error.loc[at], []).append(error)

    def misfit(error: _Error) -> bool:  # the value is not of this branch's kind at all
        rest = error.loc[at + 1 :]
        return not rest or (len(rest) == 1 and error.type in ("missing", "extra_forbidden"))

    fitting = [b for b, errs in branches.items() if not any(misfit(e) for e in errs)]
    if not fitting and node.kind == "map":  # a mapping: the one branch that is a mapping
        mappings = [
            b
            for b, errs in branches.items()
            if not any(not e.loc[at + 1 :] and e.type.endswith("_type") for e in errs)
        ]
        fitting = mappings if len(mappings) == 1 else []
    if not fitting:
        return [_Error(prefix, "union", {})]
    best = min(fitting, key=lambda b: len(branches[b]))
    return [_Error(e.loc[:at] + e.loc[at + 1 :], e.type, e.ctx) for e in branches[best]]


def _alternatives(schema: dict[str, Any], path: Sequence[str | int]) -> list[dict[str, Any]]:
    """The JSON Schema alternatives a value at ``path`` may take."""
    defs = schema.get("$defs", {})

    def expand(part: dict[str, Any]) -> list[dict[str, Any]]:
        if "$ref" in part:
            part = defs[part["$ref"].rsplit("/", 1)[1]]
        if "anyOf" in part:
            return [x for a in part["anyOf"] for x in expand(a)]
        return [part]

    current = expand(schema)
    for step in path:
        found: list[dict[str, Any]] = []
        for part in current:
            if isinstance(step, int):
                found += expand(part["items"]) if "items" in part else []
            elif step in part.get("properties", {}):
                found += expand(part["properties"][step])
            elif isinstance(part.get("additionalProperties"), dict):
                found += expand(part["additionalProperties"])
            else:
                found += [x for v in part.get("patternProperties", {}).values() for x in expand(v)]
        current = found
    return current


def _noun(choice: dict[str, Any]) -> str:
    items = choice.get("items", {})
    if "form" in items:  # "a list of opening times"
        noun = str(items["form"]).split(" ", 1)[1]
        return f"a list of {noun}{'es' if noun.endswith('s') else 's'}"
    if "form" in choice:
        return str(choice["form"])
    if "const" in choice:
        return str(choice["const"])
    if "enum" in choice:
        return _either([str(v) for v in choice["enum"]], "or")
    return _TYPE_NOUNS.get(str(choice.get("type")), "")


def _either(words: Sequence[str], joiner: str) -> str:
    """``a``, ``a or b``, ``a, b or c`` (nothing for no words)."""
    words = [w for w in words if w]
    if len(words) < 2:
        return "".join(words)
    return f"{', '.join(words[:-1])} {joiner} {words[-1]}"


def _shown(node: Node) -> str:
    text = node.describe()
    return text if len(text) <= 60 else text[:56] + "...'"


def _value_at(data: Any, path: Path) -> Any:
    for step in path:
        inside = isinstance(data, dict) and step in data
        inside = inside or (isinstance(data, list) and isinstance(step, int) and step < len(data))
        if not inside:
            return None
        data = data[step]
    return data


def _drop(data: Any, path: Path, replacement: list[Any] | None) -> None:
    """The part at ``path`` left out (``replacement`` None) or replaced; parts are only
    ever mapping entries (list items go with their list)."""
    holder = _value_at(data, path[:-1])
    if isinstance(holder, dict) and path[-1] in holder:
        if replacement is None:
            del holder[path[-1]]
        else:
            holder[path[-1]] = replacement
