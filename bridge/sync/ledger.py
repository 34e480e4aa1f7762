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

Jira caps an entity property at 32 KB.  A ledger that would be larger is compacted, oldest
entries first: they move into ``compact``, the base64 of an 8-byte BLAKE2b digest per
action id (about 11 characters an entry instead of about 80), which still answers "was
this done?" but no longer "when?" nor "which?".  The ids of priority-change comments
(`bridge.policy.priority.told_change`) go last, after every other entry: the planner
reads their text (the rule's name when the change was told, the change's number) so as
not to tell a change again once its rule is renamed (`bridge.sync.plan.plan_issue`), and
a case sees a handful of such changes against hundreds of ladder steps and reminders.
Only when even the digests do not fit (some 2,700 actions on one issue) are the oldest
dropped, and never silently: ``dropped`` counts them, a warning is logged, and before
posting any comment on such an issue the bridge reads the issue's comments, each of
which carries its own action id (see below)::

    {"version": 1, "done": {...}, "skipped": {...}, "compact": "<base64>", "dropped": 0}

``telling`` holds the comments the bridge was about to post when it stored the ledger
(`bridge.sync.apply`: the comment telling of a priority change follows the edit that
makes the change, and that edit carries the ledger), and the comments it posted whose
answer was lost (a dropped connection, a 502: Jira may have taken them), until a read of
the issue's comments settles them (recorded when found, let go once certainly absent).
Such an id counts as done only once something else says so: the local journal (which
records the post), a later ledger write, or the comment itself found on the issue (which
the journal then remembers, and the run's ledger write records).  The journal keeps such an
entry until a ledger write records it; a bridge whose journal lacks it (a lost state
file) reads the issue's comments before posting a comment whose id is announced and not
known done, or any priority comment while one is
(`bridge.sync.plan.announced_may_be_on_issue`), so it is neither repeated nor lost::

    {"version": 1, "done": {...}, "telling": {"<action id>": "<UTC ISO time>"}}

Comments the bridge writes also carry the comment property ``jsm-bridge`` =
``{"action_id": ...}``: see :func:`comment_marker` and :func:`comment_action_id`.  A
comment that merges several actions (``writes.merge_comments``) lists them all::

    {"action_id": "<the first>", "action_ids": ["<the first>", "<the second>", ...]}
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import structlog

from bridge.policy.priority import told_change

log = structlog.get_logger("bridge.sync.ledger")

PROPERTY = "jsm-bridge"
VERSION = 1
#: Jira's limit is 32,768 bytes; leave room for the encoding's overhead.
MAX_BYTES = 30_000
#: bytes of an action id's digest in the compact part of the ledger
DIGEST_BYTES = 8


def digest(action_id: str) -> bytes:
    """The compact form of an action id (8 bytes of BLAKE2b)."""
    return hashlib.blake2b(action_id.encode("utf-8"), digest_size=DIGEST_BYTES).digest()


def _iso(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("ledger times must be timezone-aware")
    return at.astimezone(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Ledger:
    version: int = VERSION
    done: Mapping[str, str] = field(default_factory=dict)  # action id -> UTC ISO time
    skipped: Mapping[str, str] = field(default_factory=dict)  # action id -> UTC ISO time
    #: digests of older handled action ids (done or skipped), oldest first
    compact: tuple[bytes, ...] = ()
    #: how many of the oldest entries had to be dropped to fit Jira's cap (see the module)
    dropped: int = 0
    #: comments announced as about to be posted (action id -> UTC ISO time), not done
    #: until the journal, a later ledger or the issue says so (see the module)
    telling: Mapping[str, str] = field(default_factory=dict)
    #: True when the stored value was unreadable or of an older shape: it must be rewritten
    needs_repair: bool = field(default=False, compare=False)
    _compact_set: frozenset[bytes] = field(
        default=frozenset(), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "_compact_set", frozenset(self.compact))

    # -- queries ------------------------------------------------------------------------

    def handled(self, action_id: str) -> bool:
        """Done or deliberately skipped: either way, not to be planned again."""
        return (
            action_id in self.done
            or action_id in self.skipped
            or (bool(self._compact_set) and digest(action_id) in self._compact_set)
        )

    @property
    def unsettled(self) -> tuple[str, ...]:
        """The announced comments not known done: each may or may not be on the issue."""
        return tuple(aid for aid in self.telling if not self.handled(aid))

    @property
    def complete(self) -> bool:
        """False when entries had to be dropped: a missing action id proves nothing, and
        the issue's own comments must be looked at before one is posted."""
        return self.dropped == 0

    def __len__(self) -> int:
        return len(self.done) + len(self.skipped) + len(self.compact)

    # -- updates (return new ledgers) ---------------------------------------------------

    def _compacted(self, action_id: str) -> bool:
        return bool(self._compact_set) and digest(action_id) in self._compact_set

    def with_done(self, action_id: str, at: datetime) -> Ledger:
        if action_id not in self.skipped and self._compacted(action_id):
            return self  # recorded long ago
        done = dict(self.done)
        done.setdefault(action_id, _iso(at))
        skipped = {k: v for k, v in self.skipped.items() if k != action_id}
        return replace(self, done=done, skipped=skipped)

    def with_skipped(self, action_id: str, at: datetime) -> Ledger:
        if action_id in self.done or self._compacted(action_id):
            return self
        skipped = dict(self.skipped)
        skipped.setdefault(action_id, _iso(at))
        return replace(self, skipped=skipped)

    def with_telling(self, action_ids: Iterable[str], at: datetime) -> Ledger:
        """The ledger announcing ``action_ids`` as about to be posted (those not done)."""
        telling = dict(self.telling)
        for aid in action_ids:
            if not self.handled(aid):
                telling.setdefault(aid, _iso(at))
        return replace(self, telling=telling)

    def without_telling(self, action_ids: Iterable[str]) -> Ledger:
        """The ledger no longer announcing ``action_ids`` (known not to be on the issue)."""
        gone = set(action_ids)
        return replace(self, telling={k: v for k, v in self.telling.items() if k not in gone})

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
        compact, bad_compact = _digests(value.get("compact"))
        telling, bad_telling = _entries(value.get("telling"))
        dropped = value.get("dropped", 0)
        bad_dropped = not isinstance(dropped, int) or isinstance(dropped, bool) or dropped < 0
        return cls(
            done=done,
            skipped={k: v for k, v in skipped.items() if k not in done},
            compact=compact,
            dropped=0 if bad_dropped else dropped,
            telling=telling,
            needs_repair=repair
            or bad_done
            or bad_skipped
            or bad_compact
            or bad_dropped
            or bad_telling,
        )

    def to_dict(self, max_bytes: int = MAX_BYTES) -> dict[str, Any]:
        """The JSON value to store, compacted (oldest first) to fit in ``max_bytes``."""
        telling = {aid: at for aid, at in self.telling.items() if not self.handled(aid)}
        data = self._as_dict(self.done, self.skipped, self.compact, self.dropped, telling)
        if _size(data) <= max_bytes:
            return data
        # Oldest first, by the time each entry was written; skipped entries go first on ties.
        # Priority-change ids go after all others: their text is read (see the module).
        entries = sorted(
            [(at, 0, aid) for aid, at in self.skipped.items()]
            + [(at, 1, aid) for aid, at in self.done.items()],
            key=lambda entry: (told_change(entry[2]) is not None, entry),
        )
        done, skipped = dict(self.done), dict(self.skipped)
        compact = list(self.compact)
        # Compact in chunks (fast even for a ledger far over the limit), then fine-tune.
        excess = _size(data) - max_bytes
        per_entry = max(1, _size(data) // max(1, len(entries) + len(compact)))
        cut = min(len(entries), excess // per_entry)
        for _at, kind, aid in entries[:cut]:
            (skipped if kind == 0 else done).pop(aid, None)
            compact.append(digest(aid))
        rest = entries[cut:]
        data = self._as_dict(done, skipped, compact, self.dropped, telling)
        while rest and _size(data) > max_bytes:
            _, kind, aid = rest.pop(0)
            (skipped if kind == 0 else done).pop(aid, None)
            compact.append(digest(aid))
            data = self._as_dict(done, skipped, compact, self.dropped, telling)
        dropped = self.dropped
        if _size(data) > max_bytes:
            # even the digests do not fit: the oldest go, counted (never silently)
            over = _size(data) - max_bytes
            per_digest = len(base64.b64encode(b"\0" * DIGEST_BYTES * 3)) / 3
            cut = min(len(compact), int(over / per_digest) + 1)
            while True:
                dropped += cut
                compact = compact[cut:]
                data = self._as_dict(done, skipped, compact, dropped, telling)
                if _size(data) <= max_bytes or not compact:
                    break
                cut = 1
            log.warning(
                "ledger full: the oldest entries were dropped; comments on this issue are "
                "checked on the issue before posting",
                dropped=dropped - self.dropped,
            )
        return data

    def to_json(self, max_bytes: int = MAX_BYTES) -> str:
        return json.dumps(self.to_dict(max_bytes), sort_keys=True, separators=(",", ":"))

    @staticmethod
    def _as_dict(
        done: Mapping[str, str],
        skipped: Mapping[str, str],
        compact: Iterable[bytes] = (),
        dropped: int = 0,
        telling: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        data: dict[str, Any] = {"version": VERSION, "done": dict(done)}
        if telling:
            data["telling"] = dict(telling)
        if skipped:
            data["skipped"] = dict(skipped)
        packed = b"".join(compact)
        if packed:
            data["compact"] = base64.b64encode(packed).decode("ascii")
        if dropped:
            data["dropped"] = dropped
        return data


def _entries(raw: Any) -> tuple[dict[str, str], bool]:
    """Readable ``{id: time}`` entries, and whether anything had to be dropped."""
    if raw is None:
        return {}, False
    if not isinstance(raw, Mapping):
        return {}, True
    good = {str(k): v for k, v in raw.items() if isinstance(v, str)}
    return good, len(good) != len(raw)


def _digests(raw: Any) -> tuple[tuple[bytes, ...], bool]:
    """The compact part's digests, and whether it was unreadable."""
    if raw is None:
        return (), False
    if not isinstance(raw, str):
        return (), True
    try:
        packed = base64.b64decode(raw.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        return (), True
    usable = len(packed) - len(packed) % DIGEST_BYTES
    out = tuple(packed[i : i + DIGEST_BYTES] for i in range(0, usable, DIGEST_BYTES))
    return out, usable != len(packed)


def _size(data: Mapping[str, Any]) -> int:
    return len(json.dumps(data, sort_keys=True, separators=(",", ":")).encode("utf-8"))


# ------------------------------------------------------------------------- comment marker


def comment_marker(action_id: str, also: Iterable[str] = ()) -> dict[str, Any]:
    """The comment properties the bridge attaches to a comment it writes; ``also``: the
    further actions a merged comment stands for."""
    more = [a for a in also if a != action_id]
    if not more:
        return {PROPERTY: {"action_id": action_id}}
    return {PROPERTY: {"action_id": action_id, "action_ids": [action_id, *more]}}


def _marker(comment: Mapping[str, Any]) -> Mapping[str, Any] | None:
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
    return value if isinstance(value, Mapping) else None


def comment_action_id(comment: Mapping[str, Any]) -> str | None:
    """The bridge's action id carried by a comment's JSON, or None.

    Accepts Jira's ``properties: [{"key": ..., "value": ...}]`` shape and a plain mapping.
    """
    value = _marker(comment)
    aid = value.get("action_id") if value is not None else None
    return aid if isinstance(aid, str) else None


def comment_action_ids(comment: Mapping[str, Any]) -> tuple[str, ...]:
    """Every action id a comment carries (several for a merged comment); () for none."""
    first = comment_action_id(comment)
    if first is None:
        return ()
    listed = (_marker(comment) or {}).get("action_ids")
    more = [a for a in listed if isinstance(a, str)] if isinstance(listed, list) else []
    return tuple(dict.fromkeys([first, *more]))
