"""The bridge's ledger on each issue: the issue entity property ``jsm-bridge``.

It records every comment and transition the bridge has made on the issue, by stable
action id (issue, rule or ladder step, due time), so that neither a restart nor a lost
local state file can make the bridge write the same thing twice.  It travels with the
issue (``search/jql`` returns it through ``properties=``), so no extra read is needed.

Shape (JSON, version 1)::

    {"version": 1,
     "done":    {"<action id>": "<UTC ISO time done>", ...},
     "skipped": {"<action id>": "<UTC ISO time>", ...}}

``skipped`` holds transitions that were not available from the issue's status when
their moment came: they are not retried every cycle (a ladder step fires once).

Jira caps an entity property at 32 KB; :meth:`Ledger.to_json` drops the oldest entries
first when the ledger would be larger (an old comment is still recognised by its own
comment property, and an old ladder step is not wanted again once its clock stopped).

Comments the bridge writes also carry the comment property ``jsm-bridge`` =
``{"action_id": ...}``: see :func:`comment_marker` and :func:`comment_action_id`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

PROPERTY = "jsm-bridge"
VERSION = 1
#: Jira's limit is 32,768 bytes; leave room for the encoding's overhead.
MAX_BYTES = 30_000


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("ledger times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Ledger:
    version: int = VERSION
    done: Mapping[str, str] = field(default_factory=dict)  # action id -> UTC ISO time
    skipped: Mapping[str, str] = field(default_factory=dict)  # action id -> UTC ISO time
    #: True when the stored value was unreadable or of an older shape: it must be rewritten
    needs_repair: bool = field(default=False, compare=False)

    # -- queries ------------------------------------------------------------------------

    def handled(self, action_id: str) -> bool:
        """Done or deliberately skipped: either way, not to be planned again."""
        return action_id in self.done or action_id in self.skipped

    def __len__(self) -> int:
        return len(self.done) + len(self.skipped)

    # -- updates (return new ledgers) ---------------------------------------------------

    def with_done(self, action_id: str, at: datetime) -> Ledger:
        done = dict(self.done)
        done.setdefault(action_id, _iso(at))
        skipped = {k: v for k, v in self.skipped.items() if k != action_id}
        return replace(self, done=done, skipped=skipped)

    def with_skipped(self, action_id: str, at: datetime) -> Ledger:
        if action_id in self.done:
            return self
        skipped = dict(self.skipped)
        skipped.setdefault(action_id, _iso(at))
        return replace(self, skipped=skipped)

    def repaired(self) -> Ledger:
        return replace(self, needs_repair=False)

    # -- (de)serialisation --------------------------------------------------------------

    @classmethod
    def from_json(cls, value: Any) -> Ledger:
        """The ledger from the property's value (None, a dict, or JSON text).

        Never raises: an absent property is an empty ledger; a damaged one (someone edited
        it, an old shape) keeps whatever entries can be read and is marked for repair.
        """
        if value is None:
            return cls()
        if isinstance(value, str | bytes):
            try:
                value = json.loads(value)
            except ValueError:
                return cls(needs_repair=True)
        if not isinstance(value, Mapping):
            return cls(needs_repair=True)
        repair = value.get("version") != VERSION
        done, bad_done = _entries(value.get("done"))
        skipped, bad_skipped = _entries(value.get("skipped"))
        return cls(
            done=done,
            skipped={k: v for k, v in skipped.items() if k not in done},
            needs_repair=repair or bad_done or bad_skipped,
        )

    def to_dict(self, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
        """The JSON value to store, pruned (oldest first) to fit in ``max_bytes``."""
        data = self._as_dict(self.done, self.skipped)
        if _size(data) <= max_bytes:
            return data
        # Oldest first, by the time each entry was written; skipped entries go first on ties.
        entries = sorted(
            [(at, 0, aid) for aid, at in self.skipped.items()]
            + [(at, 1, aid) for aid, at in self.done.items()]
        )
        done, skipped = dict(self.done), dict(self.skipped)
        # Drop in chunks (fast even for a ledger far over the limit), then fine-tune.
        excess = _size(data) - max_bytes
        per_entry = max(1, _size(data) // max(1, len(entries)))
        cut = min(len(entries), excess // per_entry)
        for _at, kind, aid in entries[:cut]:
            (skipped if kind == 0 else done).pop(aid, None)
        rest = entries[cut:]
        data = self._as_dict(done, skipped)
        while rest and _size(data) > max_bytes:
            _, kind, aid = rest.pop(0)
            (skipped if kind == 0 else done).pop(aid, None)
            data = self._as_dict(done, skipped)
        return data

    def to_json(self, max_bytes: int = MAX_BYTES) -> str:
        return json.dumps(self.to_dict(max_bytes), sort_keys=True, separators=(",", ":"))

    @staticmethod
    def _as_dict(done: Mapping[str, str], skipped: Mapping[str, str]) -> dict[str, Any]:
        data: dict[str, Any] = {"version": VERSION, "done": dict(done)}
        if skipped:
            data["skipped"] = dict(skipped)
        return data


def _entries(raw: Any) -> tuple[dict[str, str], bool]:
    """Readable ``{id: time}`` entries, and whether anything had to be dropped."""
    if raw is None:
        return {}, False
    if not isinstance(raw, Mapping):
        return {}, True
    good = {str(k): v for k, v in raw.items() if isinstance(v, str)}
    return good, len(good) != len(raw)


def _size(data: Mapping[str, Any]) -> int:
    return len(json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8"))


# ------------------------------------------------------------------------- comment marker


def comment_marker(action_id: str) -> dict[str, Any]:
    """The comment properties the bridge attaches to a comment it writes."""
    return {PROPERTY: {"action_id": action_id}}


def comment_action_id(comment: Mapping[str, Any]) -> str | None:
    """The bridge's action id carried by a comment's JSON, or None.

    Accepts Jira's ``properties: [{"key": ..., "value": ...}]`` shape and a plain mapping.
    """
    props = comment.get("properties")
    value: Any = None
    if isinstance(props, Mapping):
        value = props.get(PROPERTY)
    elif isinstance(props, list):
        for prop in props:
            if isinstance(prop, Mapping) and prop.get("key") == PROPERTY:
                value = prop.get("value")
                break
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if isinstance(value, Mapping):
        aid = value.get("action_id")
        return aid if isinstance(aid, str) else None
    return None
