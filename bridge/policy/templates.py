"""Safe comment templates: ``{name}`` placeholders only, no attribute access, no code.

``str.format`` would allow ``{x.__class__}`` and ``{x[0]}``; this renderer only
substitutes plain names from a fixed vocabulary.  ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping

#: Every placeholder a template may use (SPEC §3).
PLACEHOLDERS: frozenset[str] = frozenset(
    {
        "key",
        "priority",
        "priority_name",
        "due",
        "tier",
        "organization",
        "reporter",
        "request_type",
        "quota_used",
        "quota_limit",
        "missing",
        "customers",
        "why",
        "previous_priority",
        "rule",
        "escalation_owner",
    }
)

_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class TemplateError(ValueError):
    """A template is malformed or names an unknown placeholder."""


def placeholders_in(text: str) -> list[str]:
    """The placeholder names used by ``text``, in order; raises on malformed braces."""
    names: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token in ("{{", "}}"):
            continue
        name = match.group(1)
        if name is None:
            raise TemplateError(
                f"unbalanced brace at position {match.start()} (use {{{{ or }}}} for a literal brace)"
            )
        if not re.fullmatch(r"[a-z_]+", name):
            meant = name.strip().casefold()
            hint = (
                f"placeholders are lower case: {{{meant}}}"
                if meant in PLACEHOLDERS
                else "use a plain name such as {key}"
            )
            raise TemplateError(f"{{{name}}} is not a placeholder: {hint}")
        names.append(name)
    return names


def check_template(text: str) -> list[str]:
    """Problems with a template (empty when it is fine)."""
    try:
        names = placeholders_in(text)
    except TemplateError as exc:
        return [str(exc)]
    problems = []
    for name in names:
        if name not in PLACEHOLDERS:
            known = ", ".join(sorted("{" + p + "}" for p in PLACEHOLDERS))
            close = difflib.get_close_matches(name, sorted(PLACEHOLDERS), n=1, cutoff=0.6)
            meant = f"did you mean {{{close[0]}}}? " if close else ""
            problems.append(f"unknown placeholder {{{name}}} ({meant}known: {known})")
    if "key" not in names:
        problems.append("comment text must contain {key} so every comment names its case")
    return problems


#: Characters that start markup in a Jira comment (wiki renderer: links ``[x|url]``,
#: macros ``{color}``, images ``!x!``, bold ``*x*``, mentions ``[~user]``, ...).
_MARKUP_CHARS = "[]{}|!*^~#\\"
_MARKUP = str.maketrans(dict.fromkeys(_MARKUP_CHARS, " "))


def neutralise(value: str) -> str:
    """A placeholder value as plain text: no markup, no hidden direction changes.

    Display names, organisation names and request types come from people: a name
    like ``[Pay here|https://x]`` or one with a right-to-left override (U+202E)
    must not turn into a link, a macro or reversed text in a comment the bridge
    signs.  Markup characters become spaces; format characters (bidi controls,
    zero-width characters) are dropped; control characters (line breaks) become
    spaces.
    """
    if value.isascii() and value.isprintable() and not any(c in value for c in _MARKUP_CHARS):
        return value  # the usual case: nothing to do
    kept = []
    for ch in value.translate(_MARKUP):
        category = unicodedata.category(ch)
        if category == "Cf":
            continue
        kept.append(" " if category in ("Cc", "Zl", "Zp") else ch)
    return " ".join("".join(kept).split())


def render(text: str, values: Mapping[str, str]) -> str:
    """Fill ``text``; a placeholder without a value renders as an empty string."""

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        if name is None:
            return token
        return values.get(name, "")

    return _TOKEN.sub(substitute, text)
