"""The information decision: which required items a case still lacks, and why.

The support terms ask every case for "Contact name, email address and phone
number (or skype)", a "brief explanation of issue", the "affected product(s) and
version" and the "impact (if any)".  Each item of ``required_information`` is
answered by any one of its fields (a Skype name is as good as a phone number); an
answer counts when it is not blank, is not a placeholder (``n/a``, ``?``,
``asdf``, the field's own name such as "Version"...), is at least ``min_length``
characters and matches ``pattern``.  An answer listed under ``accept`` always
counts ("Impact (if any)": ``none`` is an answer).

Compiled once per rule set (:class:`InformationCheck`); deciding reads only the
case's fields and the site's field names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from bridge.policy.model import IssueSnapshot, RequiredInformation, RequiredItem

#: Characters that do not make an answer: spaces and punctuation around it.
_NOISE = " \t\r\n.,;:!?-_*/\\|'\"()[]{}<>#~`"


def bare(text: str) -> str:
    """An answer as compared with placeholders: folded, without spaces and punctuation
    around it ("N/A." -> "n/a", " ??? " -> "")."""
    return text.strip().strip(_NOISE).casefold()


class Item(NamedTuple):
    """A required item compiled: its fields, checks, and what it is called."""

    item: RequiredItem
    name: str  # logical names joined with " or " (Desired.missing_information)
    pattern: re.Pattern[str] | None
    accept: frozenset[str]  # bare forms


class Missing(NamedTuple):
    """A required item the case lacks, and why (for explain)."""

    name: str  # logical names joined with " or "
    shown: str  # the site's field names joined with " or " ({missing})
    why: str


class Information(NamedTuple):
    """The required information the case lacks."""

    required: tuple[str, ...]  # the items' names
    missing: tuple[str, ...]  # the missing items' names
    missing_names: str  # the missing items as the customer sees them, joined
    why: tuple[Missing, ...] = ()
    #: items answered other than by their first field as typed: by another field of
    #: ``any_of`` (a Skype name) or by an ``accept``ed answer ("none"), for explain
    answered: tuple[str, ...] = ()


@dataclass(frozen=True)
class InformationCheck:
    """``required_information`` compiled once: patterns compiled, placeholders folded."""

    items: tuple[Item, ...]
    placeholders: frozenset[str]  # bare forms

    @classmethod
    def of(cls, info: RequiredInformation) -> InformationCheck:
        items = tuple(
            Item(
                item,
                " or ".join(item.fields),
                re.compile(item.pattern, re.IGNORECASE) if item.pattern else None,
                frozenset(bare(a) for a in item.accept),
            )
            for item in info.required
        )
        return cls(items, frozenset(bare(p) for p in info.placeholders))

    def decide(self, snapshot: IssueSnapshot, field_names: Mapping[str, str]) -> Information:
        """The items the case lacks (``field_names``: logical name -> the site's name)."""
        required = tuple(item.name for item in self.items)
        missing: list[Missing] = []
        answered: list[str] = []
        for item in self.items:
            why, note = self._lacking(item, snapshot.fields, field_names)
            if why:
                missing.append(Missing(item.name, _shown(item, field_names), why))
            elif note:
                answered.append(note)
        names = ", ".join(m.shown for m in missing)
        return Information(
            required, tuple(m.name for m in missing), names, tuple(missing), tuple(answered)
        )

    def _lacking(
        self, item: Item, fields: Mapping[str, str | None], field_names: Mapping[str, str]
    ) -> tuple[str, str]:
        """Why no field of the item answers it ("" when one does), and how it was answered
        when that is worth telling (by a later field of ``any_of``, or an accepted answer)."""
        reasons = []
        for position, name in enumerate(item.item.fields):
            value, shown = fields.get(name), field_names.get(name, name)
            why = self.refused(item, name, value, shown)
            if not why:
                text = (value or "").strip()[:40]
                if position:
                    return "", f"{_shown(item, field_names)}: answered by {shown} ({text!r})"
                if bare(text) in item.accept:
                    return "", f"{shown}: {text!r} is an accepted answer"
                return "", ""
            reasons.append(why)
        return "; ".join(reasons), ""

    def refused(self, item: Item, name: str, value: str | None, shown: str) -> str:
        """Why this field's value does not answer the item ("" when it does)."""
        text = (value or "").strip()
        if not text:
            return f"{shown} is empty"
        folded = bare(text)
        if folded in item.accept:
            return ""
        if not folded or folded in self.placeholders or folded == bare(shown):
            return f"{shown} {text[:40]!r} is a placeholder, not an answer"
        if len(text) < item.item.min_length:
            return f"{shown} {text[:40]!r} is shorter than {item.item.min_length} characters"
        if item.pattern is not None and item.pattern.search(text) is None:
            return f"{shown} {text[:40]!r} does not match /{item.item.pattern}/"
        return ""


def _shown(item: Item, field_names: Mapping[str, str]) -> str:
    return " or ".join(field_names.get(name, name) for name in item.item.fields)
