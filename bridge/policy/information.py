"""The information decision: which required items a case still lacks, and why.

The support terms ask every case for "Contact name, email address and phone
number (or skype)", a "brief explanation of issue", the "affected product(s) and
version" and the "impact (if any)".  Each item of ``required_information`` is
answered by any one of its fields (a Skype name is as good as a phone number); an
answer counts when it is not blank, is not a placeholder (``n/a``, ``?``,
``asdf``, the field's own name such as "Version"...), is at least ``min_length``
characters and matches ``pattern``.  An answer listed under ``accept`` always
counts ("Impact (if any)": ``none`` is an answer).  The chosen option of a select
list (the site says which fields are, ``EvalContext.select_fields``) is never a
placeholder: the customer picked it from the options the site offers, so "Test" in
Environment type is an environment, whatever ``placeholders`` lists.

Compiled once per rule set (:class:`InformationCheck`); deciding reads only the
case's fields and the site's field names and select lists, so the decisions are kept by the values
of the fields the items name, from cycle to cycle.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

from bridge.policy.memo import PER_CASE, Memo
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
    required: tuple[str, ...]  # the items' names
    reads: tuple[str, ...]  # every field an item names (logical names, in order)
    #: the check with each site's names and select lists, by those (``named``)
    named_checks: Memo[tuple[tuple[str, ...], frozenset[str]], NamedCheck] = field(
        default_factory=Memo, compare=False, repr=False
    )

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
        placeholders = frozenset(bare(p) for p in info.placeholders)
        reads = tuple(dict.fromkeys(name for item in items for name in item.item.fields))
        return cls(items, placeholders, tuple(item.name for item in items), reads)

    def named(
        self, field_names: Mapping[str, str], selects: frozenset[str] = frozenset()
    ) -> NamedCheck:
        """The check with the site's field names (``field_names``: logical -> the site's)
        and its select lists (``selects``: logical names; their options are answers)."""
        shown = tuple(field_names.get(name, name) for name in self.reads)
        selects = selects & frozenset(self.reads)
        found = self.named_checks.get((shown, selects))
        if found is None:
            names = dict(zip(self.reads, shown, strict=True))
            showing = {n: Shown(s, bare(s)) for n, s in names.items()}
            check = NamedCheck(self, names, showing, selects)
            found = self.named_checks.keep((shown, selects), check)
        return found

    def decide(
        self,
        snapshot: IssueSnapshot,
        field_names: Mapping[str, str],
        selects: frozenset[str] = frozenset(),
    ) -> Information:
        """The items the case lacks (``field_names``: logical name -> the site's name;
        ``selects``: the logical names of the site's select lists)."""
        return self.named(field_names, selects).decide(snapshot)


class Shown(NamedTuple):
    """A field as the site names it, and that name as a placeholder ("Version")."""

    name: str
    bare: str


@dataclass(frozen=True)
class NamedCheck:
    """The check with the site's field names, as a cycle uses it: each name looked up
    and folded once."""

    check: InformationCheck
    field_names: Mapping[str, str]  # the items' logical field names -> the site's
    shown: Mapping[str, Shown]  # every item's logical field names -> as shown
    #: the items' fields that are select lists on the site: a chosen option is an answer
    selects: frozenset[str] = frozenset()
    #: the decisions by the values of the fields the items name (``check.reads``)
    decided: Memo[tuple[str | None, ...], Information] = field(
        default_factory=partial(Memo, PER_CASE), compare=False, repr=False
    )

    def decide(self, snapshot: IssueSnapshot) -> Information:
        """``answers``, remembered by the values of the fields the items name."""
        key = tuple(map(snapshot.fields.get, self.check.reads))
        found = self.decided.get(key)
        if found is None:
            found = self.decided.keep(key, self.answers(snapshot))
        return found

    def answers(self, snapshot: IssueSnapshot) -> Information:
        """The items the case lacks, why, and how the others were answered when that is
        worth telling (by a later field of ``any_of``, or an accepted answer)."""
        missing: list[Missing] = []
        answered: list[str] = []
        fields = snapshot.fields
        for item in self.check.items:
            verdicts = []
            for position, name in enumerate(item.item.fields):
                text = (fields.get(name) or "").strip()
                verdict = self.verdict(item, text, name)
                if verdict == "accepted" or not verdict:
                    if position or verdict:
                        answered.append(self._note(item, position, text))
                    break
                verdicts.append((name, text, verdict))
            else:
                missing.append(self._missing(item, verdicts))
        return Information(
            self.check.required,
            tuple(m.name for m in missing),
            ", ".join(m.shown for m in missing),
            tuple(missing),
            tuple(answered),
        )

    def verdict(self, item: Item, text: str, name: str) -> str:
        """Whether the stripped answer ``text`` of field ``name`` answers the item: "" (it
        does), "accepted" (listed under ``accept``), or what keeps it from answering."""
        if not text:
            return "empty"
        folded = text.strip(_NOISE).casefold()  # bare(text): ``text`` is stripped already
        if folded in item.accept:
            return "accepted"
        if not folded or (name not in self.selects and self._placeholder(folded, name)):
            return "placeholder"
        if len(text) < item.item.min_length:
            return "short"
        if item.pattern is not None and item.pattern.search(text) is None:
            return "pattern"
        return ""

    def _placeholder(self, folded: str, name: str) -> bool:
        """A typed answer (folded) that says nothing: listed, or the field's own name."""
        return folded in self.check.placeholders or folded == self.shown[name].bare

    def _note(self, item: Item, position: int, text: str) -> str:
        shown = self.shown[item.item.fields[position]].name
        if position:
            return f"{_shown(item, self.field_names)}: answered by {shown} ({text[:40]!r})"
        return f"{shown}: {text[:40]!r} is an accepted answer"

    def _missing(self, item: Item, verdicts: list[tuple[str, str, str]]) -> Missing:
        reasons = [_reason(self.shown[name].name, text, why, item) for name, text, why in verdicts]
        return Missing(item.name, _shown(item, self.field_names), "; ".join(reasons))


def _reason(shown: str, text: str, verdict: str, item: Item) -> str:
    """Why a field's answer does not answer the item, in words."""
    if verdict == "empty":
        return f"{shown} is empty"
    if verdict == "placeholder":
        return f"{shown} {text[:40]!r} is a placeholder, not an answer"
    if verdict == "short":
        return f"{shown} {text[:40]!r} is shorter than {item.item.min_length} characters"
    return f"{shown} {text[:40]!r} does not match /{item.item.pattern}/"


def _shown(item: Item, field_names: Mapping[str, str]) -> str:
    return " or ".join(field_names.get(name, name) for name in item.item.fields)
