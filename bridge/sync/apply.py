"""Apply: run one issue's planned actions against Jira, never writing anything twice.

Per issue the order is fixed: comments → transition → ONE edit, except that a comment
telling the customer of the priority change the edit makes follows the edit, and only
once Jira took the priority (a comment never says the priority changed when it did not).

* :class:`~bridge.sync.plan.AddComment` → the comment carries the comment property
  ``jsm-bridge = {"action_id": ...}``; internal ones use JSM's internal flag.
* :class:`~bridge.sync.plan.Transition` → the transition's id is looked up by name among
  those available from the current status; when it is not available, or the issue is
  already in the status it leads to, the step is skipped (a note, not an error, and no
  write) and recorded so it is not tried every cycle.  Which transitions an issue has
  depends on its workflow (project, issue type) and status, so a :class:`Transitions`
  cache shared by a cycle looks them up once per workflow and status, not once per issue;
  when a cached transition is then refused (400), the issue's own list is read afresh.
* last, ONE ``PUT /issue/{key}``: the :class:`~bridge.sync.plan.EditIssue`'s fields and
  label verbs and, where the flavour's edit accepts ``properties`` (``ledger_in_edit``),
  the ``jsm-bridge`` ledger with every comment and transition done, recovered or skipped
  (and a repair the plan asks for).  Otherwise, or when that edit is refused, the ledger
  goes in its own property ``PUT``.  When a priority comment waits for the edit, the edit
  carries the ledger announcing that comment (`Ledger.telling`), and the comment, once
  posted, is done in the journal alone until a later ledger write records it (see
  :meth:`_Issue.edit_then_tell`); where the edit takes no ledger, the ledger follows the
  comment.  An issue where nothing was recorded gets no ledger write.

Crash safety.  Before a comment or transition is sent, its intent goes into the local
journal with the wall-clock time of sending (a merged comment: under each of its action
ids); it is marked *landed* when Jira answers that the write succeeded, and done only
once the ledger on the issue records it.  A landed intent whose ledger write failed is
recorded by the next run as it is: never checked on the issue, never sent again (an
engineer may have moved the case on since; that move stands).  A write whose answer is
lost (a timeout, a dropped connection: it may land later) is marked *unconfirmed* and is
never sent again in the same cycle; an unconfirmed comment is also announced in the
ledger this run stores (`Ledger.telling`) until a read settles it, for the journal
speaks for its own state file alone: a bridge whose state file was lost or replaced
reads the issue's comments before posting an announced comment, and does not post it
twice.  An open intent that did not land as far as the bridge knows — unconfirmed, or left by a process that died during the write — is checked
on the issue before anything is sent: the issue's comments (each carries its action ids
as a comment property) or its status against the transition's target.  Found:
recorded, not repeated.  Not found: repeated only when that read came ``settle`` after
the write was sent (well past any answer Jira could still be working on); until then
the action waits for a later cycle.  An open intent no action of the plan stands for
(the step is no longer due, or it is the other part of a merged comment) is settled the
same way: recorded when landed or found, forgotten when certainly absent.

When the journal knows nothing (a lost or new state file) and the ledger may be missing
an action (``doubt``: the caller says when, e.g. the issue carries the bridge's comments
but the state has no record of it, or the ledger had to drop entries), the issue's
comments are read once before any comment is posted, and those found are recorded.

Each action stands alone: a failure is reported for that action and the rest go on.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from bridge.jira.fields import find_transition
from bridge.jira.port import JiraError, JiraPort
from bridge.jira.retry import WaitInterrupted
from bridge.policy.priority import told_change
from bridge.sync.ledger import PROPERTY, Ledger, comment_action_ids, comment_marker
from bridge.sync.plan import (
    Action,
    AddComment,
    EditIssue,
    IssuePlan,
    Place,
    SetLedger,
    Transition,
    merged,
)
from bridge.sync.state import Intent

log = structlog.get_logger("bridge.sync.apply")

TransitionLookup = Callable[[Sequence[Mapping[str, Any]], str], Mapping[str, Any] | None]
Clock = Callable[[], datetime]

#: How long after sending an unconfirmed write a read must come before its absence is
#: believed (see the module docstring): well past the client's timeout and any request
#: Jira could still be processing.  Engines pass ``max(this, 10 × jira.timeout)``.
DEFAULT_SETTLE = timedelta(minutes=5)


def wall_clock() -> datetime:
    return datetime.now(UTC)


class Journal(Protocol):
    """The part of :class:`bridge.sync.state.State` that apply uses."""

    def journal_intent(
        self,
        key: str,
        action_id: str,
        kind: str,
        detail: str | None = None,
        *,
        at: datetime | None = None,
        sent_at: datetime | None = None,
    ) -> None: ...
    def journal_intents(
        self,
        key: str,
        action_ids: Sequence[str],
        kind: str,
        detail: str | None = None,
        *,
        at: datetime | None = None,
        sent_at: datetime | None = None,
    ) -> None: ...
    def journal_unconfirmed(self, key: str, action_id: str) -> None: ...
    def journal_landed(self, key: str, action_id: str) -> None: ...
    def journal_done(self, key: str, action_id: str, *, at: datetime | None = None) -> None: ...
    def journal_seen(self, key: str, action_id: str, *, at: datetime | None = None) -> None: ...
    def journal_recorded(self, key: str) -> None: ...
    def journal_behind(self, key: str) -> bool: ...
    def journal_forget(self, key: str, action_id: str) -> None: ...
    def pending_intents(self, key: str | None = None) -> list[Intent]: ...


class Transitions:
    """The transitions Jira offers, per workflow and status, for one cycle.

    Keyed by :attr:`Place.workflow_key` (project, issue type, status): issues in the same
    place are offered the same transitions, so one ``GET /transitions`` serves them all.
    A transition missing from a cached list is looked for on the issue itself (a workflow
    condition may offer it to one issue and not another) until a second issue in that
    place confirms it is not offered there.

    Also learns, per workflow, which status each transition leads to, so a step whose
    target the issue is already in is skipped without a look-up; that knowledge carries
    over to the next cycle's cache (:meth:`next_cycle`), the lists do not.
    """

    def __init__(self, targets: dict[tuple[str, str], dict[str, str]] | None = None) -> None:
        #: shared by a cycle's write workers
        self._lock = threading.Lock()
        self._lists: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
        self._targets = targets if targets is not None else {}
        self._absent: set[tuple[tuple[str, str, str], str]] = set()
        #: ``GET /transitions`` requests made through this cache
        self.lookups = 0

    def next_cycle(self) -> Transitions:
        """A cache for the next cycle: lists are read afresh, learned targets are kept."""
        return Transitions(self._targets)

    def absent(self, place: Place | None, name: str) -> bool:
        """Whether two look-ups in ``place`` both lacked ``name`` (see :meth:`not_offered`)."""
        wk = place.workflow_key if place is not None else None
        with self._lock:
            return wk is not None and (wk, name.strip().casefold()) in self._absent

    def not_offered(self, place: Place | None, name: str) -> None:
        """A fresh look-up confirmed the cached list: ``name`` is not offered in ``place``."""
        wk = place.workflow_key if place is not None else None
        if wk is not None:
            with self._lock:
                self._absent.add((wk, name.strip().casefold()))

    def available(
        self, port: JiraPort, key: str, place: Place | None, *, fresh: bool = False
    ) -> tuple[list[Mapping[str, Any]], bool]:
        """The transitions available to issue ``key``, and whether they were read just now."""
        wk = place.workflow_key if place is not None else None
        with self._lock:
            if not fresh and wk is not None and wk in self._lists:
                return self._lists[wk], False
        # two workers may look up the same place at once: both lists are right
        listing: list[Mapping[str, Any]] = list(port.transitions(key))
        with self._lock:
            self.lookups += 1
            if wk is not None:
                self._lists[wk] = listing
            if place is not None and place.issue_type is not None:
                known = self._targets.setdefault((place.project, place.issue_type), {})
                for t in listing:
                    to = _target_status(t)
                    if to is not None and t.get("name"):
                        known[str(t["name"]).strip().casefold()] = to
        return listing, True

    def target(self, place: Place | None, name: str) -> str | None:
        """The status the transition ``name`` leads to in ``place``'s workflow, if seen."""
        if place is None or place.issue_type is None:
            return None
        with self._lock:
            known = self._targets.get((place.project, place.issue_type), {})
            return known.get(name.strip().casefold())


@dataclass
class ApplyResult:
    key: str
    done: list[Action] = field(default_factory=list)
    #: the action landed before (found on the issue after a crash or an ambiguous failure)
    recovered: list[Action] = field(default_factory=list)
    skipped: list[tuple[Action, str]] = field(default_factory=list)
    #: action ids of the skipped transitions whose target status the issue already is in
    #: (the wanted end, not a skip worth counting)
    arrived: set[str] = field(default_factory=set)
    failed: list[tuple[Action, str]] = field(default_factory=list)
    #: actions sent whose answer was lost: confirmed on the issue by a later cycle
    unconfirmed: list[Action] = field(default_factory=list)
    #: successful write requests by kind: edit, comment, transition, ledger (the ledger
    #: inside the edit counts as the edit)
    writes: dict[str, int] = field(default_factory=dict)
    #: the ledger as the bridge now believes it to be
    ledger: Ledger = field(default_factory=Ledger)

    @property
    def ok(self) -> bool:
        return not self.failed

    def _count(self, kind: str) -> None:
        self.writes[kind] = self.writes.get(kind, 0) + 1


class _Issue:
    """Applying one issue's plan: the working ledger and what was last stored."""

    def __init__(
        self,
        port: JiraPort,
        plan: IssuePlan,
        journal: Journal,
        now: datetime,
        lookup: TransitionLookup,
        transitions: Transitions,
        *,
        ledger_in_edit: bool,
        doubt: bool,
        wall: Clock,
        settle: timedelta,
    ) -> None:
        self.port = port
        self.key = plan.key
        self.plan_actions = plan.actions
        self.journal = journal
        self.now = now
        self.lookup = lookup
        self.transitions = transitions
        self.ledger_in_edit = ledger_in_edit
        self.doubt = doubt
        self.wall = wall
        self.settle = settle
        #: the issue's workflow place; moves with each transition made
        self.place = plan.place
        self.result = ApplyResult(plan.key, ledger=plan.ledger)
        self.pending = {i.action_id: i for i in journal.pending_intents(plan.key)}
        #: what the ledger property holds, as far as this run knows (None: not known).  The
        #: plan's ledger is the one read from the issue unless the plan repairs it.
        repairs = any(isinstance(a, SetLedger) for a in plan.actions)
        self.stored: dict[str, Any] | None = None if repairs else plan.ledger.to_dict()
        #: comments and transitions noted in the working ledger, not yet stored: (kind,
        #: action id), each part of a merged comment on its own
        self.recorded: list[tuple[str, str]] = []
        #: the plan's ledger repair, stored with the records
        self.repair: SetLedger | None = None
        #: the plan's field edit, sent last with the ledger
        self.edit: EditIssue | None = None
        #: the comments telling of the priority change the plan's edit makes: sent after
        #: the edit, and only once the priority landed (:meth:`hold`)
        self.held: list[AddComment] = []
        #: the held comments' action ids the stored ledger announces (`Ledger.telling`):
        #: once posted they are recorded in the journal alone (:meth:`edit_then_tell`)
        self.announced: set[str] = set()
        #: the stored ledger is behind in what it announces (`Ledger.telling`), with no
        #: record of this run to show it: a comment whose answer was lost is to be
        #: announced (:meth:`_announce_unconfirmed`) or is certainly absent, or one it
        #: announces was found on the issue (`IssuePlan.announced_found`, done in the
        #: working ledger): :meth:`finish` writes the ledger
        self.telling_behind = bool(plan.announced_found)
        self._sets_priority = any(
            isinstance(a, EditIssue) and "priority" in a.fields for a in plan.actions
        )
        #: action ids of the bridge's comments on the issue, and when they were read
        self._on_issue: tuple[set[str], datetime] | None = None

    @property
    def ledger(self) -> Ledger:
        return self.result.ledger

    # -- bookkeeping ----------------------------------------------------------------------------

    def _record(self, action: AddComment | Transition, *, skipped: str | None = None) -> None:
        """Note ``action`` in the working ledger; :meth:`finish` stores it with the rest."""
        if skipped is None:
            for aid in _ids(action):
                self._record_id(action.kind, aid)
        else:
            self.result.ledger = self.ledger.with_skipped(action.action_id, self.now)
            self.recorded.append((action.kind, action.action_id))

    def _record_id(self, kind: str, aid: str) -> None:
        self.result.ledger = self.ledger.with_done(aid, self.now)
        if aid in self.announced:  # the stored ledger announced it: the journal says done
            self.journal.journal_seen(self.key, aid, at=self.now)
            return
        self.recorded.append((kind, aid))

    def finish(self) -> None:
        """The issue's one edit: fields, label verbs and (where it travels there) the ledger
        with everything recorded this run plus any repair.

        Journal intents are marked done only after the ledger landed; when it fails they
        stay open, so the next run re-checks the issue instead of writing anything again."""
        value: dict[str, Any] | None = None
        edit = self.edit
        # an edit going anyway carries the ledger when the journal holds comments the
        # ledger only announces: recorded at no cost, the journal may let them go
        behind = edit is not None and self.ledger_in_edit and self.journal.journal_behind(self.key)
        if self.recorded or self.repair is not None or behind or self.telling_behind:
            value = self.ledger.to_dict()
            # (`stored` counts the announced comments the plan found on the issue as done:
            # only `telling_behind` says the property still announces them)
            if self.stored == value and not (behind or self.telling_behind):
                value = None  # already stored as it is
        ledger_done = value is None
        if edit is not None or (value is not None and self.ledger_in_edit):
            with_ledger = value is not None and self.ledger_in_edit
            took, _, _ = self._send_edit(edit, {PROPERTY: value} if with_ledger else None)
            ledger_done = ledger_done or (took and with_ledger)
        if not ledger_done:
            # no edit to carry it, the flavour's edit does not take it, or the edit was
            # refused (a field the site rejects must not hold up the bookkeeping)
            try:
                self.port.set_property(self.key, PROPERTY, value)
            except JiraError as exc:
                action = self.repair or SetLedger(
                    self.key, self.ledger, "record this run's comments and transitions"
                )
                what = ", ".join(f"{kind} {aid}" for kind, aid in self.recorded) or "a repair"
                self.result.failed.append(
                    (action, f"recording {what} in the jsm-bridge ledger failed: {exc}")
                )
                log.warning("ledger write failed", key=self.key, error=str(exc))
                return
            self.result._count("ledger")
        if value is not None:
            self.stored = value
            self.journal.journal_recorded(self.key)
        self._records_stored()

    def _records_stored(self) -> None:
        """The ledger holding this run's records and repair landed (or already held them):
        the repair is done, the records' intents are done in the journal."""
        if self.repair is not None:
            self.result.done.append(self.repair)
            self.repair = None
        for _, aid in self.recorded:
            self.journal.journal_done(self.key, aid, at=self.now)
        self.recorded = []

    def hold(self, action: AddComment) -> bool:
        """Keep ``action`` for after the edit when it tells of the priority change the edit
        makes (:meth:`edit_then_tell`): a comment never says the priority changed before
        Jira took the change."""
        if self._sets_priority and any(told_change(aid) for aid in action.action_ids):
            self.held.append(action)
            return True
        return False

    def edit_then_tell(self) -> None:
        """The edit, then the held comments: whole when the priority landed, else without
        the parts telling of its change.  Those stay owed (not in the ledger) and are told
        in the cycle whose edit makes the change.

        Where the edit carries the ledger (``ledger_in_edit``), it carries everything
        recorded so far and announces the held comments (`Ledger.telling`; when Jira
        refuses the priority, only the parts posted all the same): posted, they are done
        in the journal alone, kept there until a later ledger write records them.  A
        bridge whose journal lacks them (a lost state file) reads the issue's comments
        before posting one (`bridge.sync.plan.announced_may_be_on_issue`).  Otherwise the
        edit goes without the ledger and :meth:`finish` stores it after the comments."""
        edit, self.edit = self.edit, None
        properties = fallback = None
        if self.ledger_in_edit:
            held = [aid for action in self.held for aid in action.action_ids]
            untold = [aid for aid in held if told_change(aid) is None]
            properties = {PROPERTY: self.ledger.with_telling(held, self.now).to_dict()}
            told_less = self.ledger.with_telling(untold, self.now).to_dict()
            if told_less != self.stored or self.recorded or self.repair is not None:
                fallback = {PROPERTY: told_less}
            else:
                fallback = {}  # nothing new for the ledger: no properties, no PUT for them
        took, landed, stored = self._send_edit(edit, properties, fallback)
        if took and stored is not None:
            self._stored(stored[PROPERTY])
        changed = landed is not None and "priority" in landed.fields
        for action in self.held:
            rest = [p for p in action.parts or (action,) if told_change(p.action_id) is None]
            if changed:
                self.comment(action)
            elif rest:
                self.comment(merged(rest)[0])

    def _stored(self, value: Mapping[str, Any]) -> None:
        """The ledger ``value`` landed with the edit: this run's records and repair are
        done, and the comments it announces are recorded in the journal once posted."""
        self.stored = dict(value)
        self.telling_behind = False
        self.journal.journal_recorded(self.key)  # what the journal had done, it holds
        self.announced = set(Ledger.from_json(value).unsettled)
        self._records_stored()

    def _send_edit(
        self,
        edit: EditIssue | None,
        properties: Mapping[str, Any] | None,
        if_priority_refused: Mapping[str, Any] | None = None,
    ) -> tuple[bool, EditIssue | None, Mapping[str, Any] | None]:
        """:meth:`_edit`, its outcome noted in the result: whether Jira took the request,
        what of ``edit`` landed, and the properties that landed with it."""
        try:
            landed, stored = self._edit(edit, properties, if_priority_refused)
        except JiraError as exc:
            if edit is not None:
                self.result.failed.append((edit, str(exc)))
            log.info(
                "edit failed", key=self.key, error=str(exc), with_ledger=properties is not None
            )
            return False, None, None
        self.result._count("edit")
        if landed is not None:
            self.result.done.append(landed)
        return True, landed, stored

    def _edit(
        self,
        edit: EditIssue | None,
        properties: Mapping[str, Any] | None,
        if_priority_refused: Mapping[str, Any] | None = None,
    ) -> tuple[EditIssue | None, Mapping[str, Any] | None]:
        """The one ``PUT``.  Jira refuses a whole edit for one field's value (HTTP 400,
        ``errors`` by field id: a tier added to the rules and not yet to the field's
        options, say, or a priority the project's priority scheme lacks); the edit is
        then sent again without the fields it names, so the case still gets its SLA
        state, due time and labels (those of the level the rules give it, whatever Jira
        lets its priority show), and the refused fields fail on their own
        (`ApplyResult.failed`, retried next cycle); ``if_priority_refused`` then replaces
        ``properties`` when the priority is among them.  Returns what landed, and the
        properties that landed with it."""
        fields = dict(edit.fields) if edit else {}
        update = dict(edit.update) if edit else {}
        try:
            self.port.edit_issue(
                self.key, fields=fields, update=update, properties=properties, notify=False
            )
            return edit, properties
        except JiraError as exc:
            refused = _refused_fields(exc, {*fields, *update})
            if edit is not None and "priority" in refused:
                self._priority_refused(edit, exc)
                if if_priority_refused is not None:
                    properties = if_priority_refused or None
            if edit is None or not refused or not ({*fields, *update} - refused or properties):
                raise
            failure = exc
        kept = EditIssue(
            self.key,
            {k: v for k, v in fields.items() if k not in refused},
            {k: v for k, v in update.items() if k not in refused},
            edit.summary,
        )
        self.port.edit_issue(
            self.key,
            fields=dict(kept.fields),
            update=dict(kept.update),
            properties=properties,
            notify=False,
        )
        part = EditIssue(
            self.key,
            {k: v for k, v in fields.items() if k in refused},
            {k: v for k, v in update.items() if k in refused},
            tuple(f"{k}: refused" for k in sorted(refused)),
        )
        self.result.failed.append((part, str(failure)))
        log.warning(
            "edit: fields refused", key=self.key, fields=sorted(refused), error=str(failure)
        )
        return kept, properties

    def _priority_refused(self, edit: EditIssue, exc: JiraError) -> None:
        """Jira refused the priority the edit sets (not in the project's priority scheme,
        as a rule): what the operator is to do about it."""
        name = edit.priority_name or "the priority"
        log.warning(
            "edit: priority refused",
            key=self.key,
            priority=edit.priority_name,
            error=str(exc),
            action=(
                f"add {name} to the priority scheme of {self.key}'s project, or name a "
                "priority the scheme has as the level's `jira` in rules/priorities.yaml; "
                "until then the case keeps its priority and the customer is not told of "
                "the change"
            ),
        )

    # -- reading the issue before a write that may have happened already ----------------------

    def _landed(self) -> tuple[set[str], datetime]:
        """The action ids the bridge's comments on the issue carry, and when they were read.
        The comments are read once per run (nothing this run sends is looked for)."""
        if self._on_issue is None:
            read_at = self.wall()
            ids = {aid for c in self.port.comments(self.key) for aid in comment_action_ids(c)}
            self._on_issue = (ids, read_at)
        return self._on_issue

    def _announce_unconfirmed(self, action_ids: Sequence[str]) -> None:
        """A comment whose answer was lost may be on the issue: the ledger this run stores
        announces it (`Ledger.telling`) until a read of the comments settles it.  The
        journal's intent says so to this state only; the ledger says so to any bridge, one
        whose state file was lost or replaced included, which then reads the issue's
        comments before posting it (`bridge.sync.plan.announced_may_be_on_issue`)."""
        stored = Ledger.from_json(self.stored) if self.stored is not None else Ledger()
        new = [aid for aid in action_ids if aid not in stored.telling]
        if new:
            self.result.ledger = self.ledger.with_telling(new, self.now)
            self.telling_behind = True

    def _not_on_issue(self, action_id: str) -> None:
        """A comment whose answer was lost is certainly not on the issue: no longer
        announced by the ledger (the next ledger write says so)."""
        if action_id in self.ledger.telling:
            self.result.ledger = self.ledger.without_telling((action_id,))
            self.telling_behind = True

    def _too_soon(self, intent: Intent, read_at: datetime) -> bool:
        """Whether a read at ``read_at`` is too early to believe a write absent."""
        return intent.sent_at is not None and read_at - intent.sent_at < self.settle

    def _wait(self, action: AddComment | Transition, intent: Intent) -> None:
        assert intent.sent_at is not None
        until = (intent.sent_at + self.settle).isoformat(timespec="seconds")
        note = (
            f"{action.kind} {action.action_id} was sent but Jira's answer was lost and it is "
            f"not on the issue yet; it is not sent again before {until}"
        )
        log.info("unconfirmed write: waiting", key=self.key, action_id=action.action_id)
        self.result.unconfirmed.append(action)
        self.result.failed.append((action, note))

    def _status(self) -> str | None:
        issue = self.port.get_issue(self.key, ["status"])
        status = (issue.get("fields") or {}).get("status") or {}
        name = status.get("name") if isinstance(status, Mapping) else None
        return str(name) if name is not None else None

    def _lost_answer(self, action: AddComment | Transition, exc: JiraError) -> None:
        """The write was sent and its answer lost: confirm it on the issue next cycle."""
        for aid in _ids(action):
            self.journal.journal_unconfirmed(self.key, aid)
        if isinstance(action, AddComment):
            self._announce_unconfirmed(action.action_ids)
        log.warning("write unconfirmed", key=self.key, action_id=action.action_id, error=str(exc))
        self.result.unconfirmed.append(action)
        self.result.failed.append(
            (
                action,
                f"{exc} — it is checked on the issue next cycle and not sent again until sure "
                "it did not land",
            )
        )

    # -- actions --------------------------------------------------------------------------------

    def comment(self, action: AddComment) -> None:
        # parts Jira said it took (only their ledger entry was lost) are recorded as they are
        parts = action.parts or (action,)
        known = [p for p in parts if self._known_landed(p.action_id)]
        for part in known:
            log.info("comment known to have landed", key=self.key, action_id=part.action_id)
            self.result.recovered.append(part)
            self._record(part)
        if known:
            rest = [p for p in parts if p not in known]
            if not rest:
                return
            action = merged(rest)[0]
        # a merged comment: each of its parts' ids is journalled, an intent under any counts
        intent = next((self.pending[a] for a in action.action_ids if a in self.pending), None)
        try:
            if intent is not None or self.doubt:
                ids, read_at = self._landed()
                for part in action.parts or (action,):
                    if part.action_id in ids:
                        log.info(
                            "comment found on the issue", key=self.key, action_id=part.action_id
                        )
                        self.result.recovered.append(part)
                        self._record(part)
                rest = [p for p in action.parts or (action,) if p.action_id not in ids]
                if not rest:
                    return
                if intent is not None and self._too_soon(intent, read_at):
                    self._wait(action, intent)
                    return
                action = merged(rest)[0]  # what is not on the issue yet, still one comment
            # every id of a merged comment or none (a full disk): never a comment that was
            # not sent left looking as if its answer had been lost
            self.journal.journal_intents(
                self.key, action.action_ids, "comment", at=self.now, sent_at=self.wall()
            )
            try:
                self.port.add_comment(
                    self.key,
                    action.body,
                    internal=action.internal,
                    properties=comment_marker(action.action_id, action.also),
                )
            except WaitInterrupted:
                self._never_sent(action.action_ids)
                raise
            except JiraError as exc:
                if not exc.refused:  # it may have landed: checked on the issue first
                    self._lost_answer(action, exc)
                    return
                for aid in action.action_ids:
                    self.journal.journal_forget(self.key, aid)
                raise
        except JiraError as exc:
            self.result.failed.append((action, str(exc)))
            return
        for aid in action.action_ids:
            self.journal.journal_landed(self.key, aid)
        self.result._count("comment")
        self.result.done.append(action)
        self._record(action)

    def transition(self, action: Transition) -> None:
        chosen = self.choose_transition(action)
        if chosen is not None:
            self.send_transition(action, *chosen)

    def choose_transition(
        self, action: Transition
    ) -> tuple[Mapping[str, Any], bool, Intent | None] | None:
        """Everything before sending ``action``: an interrupted earlier attempt checked on
        the issue, the transition looked up among those offered.  Returns what to send
        (the transition, whether its list was read just now, the open intent), or None
        when nothing is to be sent (recovered, skipped, waiting, or failed: all noted)."""
        aid = action.action_id
        try:
            intent = self.pending.get(aid)
            if self._known_landed(aid):
                # Jira said it moved the issue; where it is now is an engineer's doing
                log.info("transition known to have landed", key=self.key, action_id=aid)
                self.result.recovered.append(action)
                self._record(action)
                return None
            if intent is not None and intent.detail:
                read_at = self.wall()
                if self._status() == intent.detail:
                    log.info("transition found on the issue", key=self.key, action_id=aid)
                    self.result.recovered.append(action)
                    self._record(action)
                    return None
                if self._too_soon(intent, read_at):
                    self._wait(action, intent)
                    return None
            if self._already_in(self.transitions.target(self.place, action.name)):
                self._skip_transition(action, intent, self._in_status_note(action), arrived=True)
                return None
            listing, fresh = self.transitions.available(self.port, self.key, self.place)
            found = self.lookup(listing, action.name)
            if found is None and not fresh and not self.transitions.absent(self.place, action.name):
                # not offered in the cached list: make sure for this issue before skipping
                listing, fresh = self.transitions.available(
                    self.port, self.key, self.place, fresh=True
                )
                found = self.lookup(listing, action.name)
                if found is None:
                    self.transitions.not_offered(self.place, action.name)
        except JiraError as exc:
            self.result.failed.append((action, str(exc)))
            return None
        if found is None:
            note = f"transition '{action.name}' is not available from the issue's status"
            self._skip_transition(action, intent, note)
            return None
        if self._already_in(_target_status(found)):
            self._skip_transition(action, intent, self._in_status_note(action), arrived=True)
            return None
        return found, fresh, intent

    def send_transition(
        self,
        action: Transition,
        found: Mapping[str, Any] | None,
        fresh: bool,
        intent: Intent | None,
    ) -> None:
        """``POST /transitions`` for ``action``; a cached transition Jira refuses (400) is
        looked up again on the issue's own list and tried once more."""
        aid = action.action_id
        try:
            for attempt in (1, 2):
                if found is None:
                    note = f"transition '{action.name}' is not available from the issue's status"
                    self._skip_transition(action, intent, note)
                    return
                target = _target_status(found)
                if self._already_in(target):
                    self._skip_transition(
                        action, intent, self._in_status_note(action), arrived=True
                    )
                    return
                self.intend_transition(action, found)
                try:
                    self.port.do_transition(self.key, str(found.get("id")))
                    break
                except WaitInterrupted:
                    self._never_sent((aid,))
                    raise
                except JiraError as exc:
                    if not exc.refused:  # it may have landed: checked on the issue first
                        self._lost_answer(action, exc)
                        return
                    self.journal.journal_forget(self.key, aid)
                    if attempt == 2 or fresh or exc.status != 400:
                        raise
                    # the cached transition is not valid for this issue: ask for its own list
                    log.info("cached transition refused; looking again", key=self.key)
                    listing, fresh = self.transitions.available(
                        self.port, self.key, self.place, fresh=True
                    )
                    found = self.lookup(listing, action.name)
        except JiraError as exc:
            self.result.failed.append((action, str(exc)))
            return
        if found is not None:
            self.transition_made(action, found)

    def look_again(self, action: Transition) -> None:
        """Send ``action`` after reading afresh what the issue's status offers (a bulk
        task could not move the issue: its status may have moved meanwhile)."""
        try:
            listing, _ = self.transitions.available(self.port, self.key, self.place, fresh=True)
        except JiraError as exc:
            self.result.failed.append((action, str(exc)))
            return
        self.send_transition(action, self.lookup(listing, action.name), True, None)

    def intend_transition(self, action: Transition, found: Mapping[str, Any]) -> None:
        """Journal ``action``'s intent just before it is sent (here, or in a bulk request)."""
        self.journal.journal_intent(
            self.key,
            action.action_id,
            "transition",
            _target_status(found),
            at=self.now,
            sent_at=self.wall(),
        )

    def _never_sent(self, action_ids: Iterable[str]) -> None:
        """A stop cut short the wait before sending (Jira's pace, or a retry of a write
        Jira turned away: a write is retried only then): nothing was taken, so the
        intents go and the next run sends at once, instead of waiting out the settling
        time of an answer lost."""
        for aid in action_ids:
            self.journal.journal_forget(self.key, aid)

    def withdraw(self, action: Transition) -> None:
        """Jira refused ``action`` before doing anything: its intent is withdrawn."""
        self.journal.journal_forget(self.key, action.action_id)

    def lost_answer(self, action: Transition, exc: JiraError) -> None:
        self._lost_answer(action, exc)

    def transition_made(
        self, action: Transition, found: Mapping[str, Any], *, counted: bool = True
    ) -> None:
        """``action`` landed: the issue is in its target status, and it is recorded.
        ``counted``: it took a request of its own (not a share of a bulk one)."""
        self.journal.journal_landed(self.key, action.action_id)
        self._moved_to(found)
        if counted:
            self.result._count("transition")
        self.result.done.append(action)
        self._record(action)

    def _already_in(self, target: str | None) -> bool:
        status = self.place.status if self.place is not None else None
        return target is not None and status is not None and target.casefold() == status.casefold()

    def _in_status_note(self, action: Transition) -> str:
        status = self.place.status if self.place is not None else None
        return f"transition '{action.name}' skipped: the issue is already in '{status}'"

    def _skip_transition(
        self, action: Transition, intent: Intent | None, note: str, *, arrived: bool = False
    ) -> None:
        log.info("transition skipped", key=self.key, action_id=action.action_id, reason=note)
        if intent is not None:
            self.journal.journal_forget(self.key, action.action_id)
        self.result.skipped.append((action, note))
        if arrived:
            self.result.arrived.add(action.action_id)
        self._record(action, skipped=note)

    def _moved_to(self, found: Mapping[str, Any]) -> None:
        """The issue is now in the transition's target status (its later look-ups)."""
        if self.place is None:
            return
        to = found.get("to")
        to = to if isinstance(to, Mapping) else {}
        self.place = replace(
            self.place,
            status_id=str(to["id"]) if to.get("id") not in (None, "") else None,
            status=_target_status(found),
        )

    def set_ledger(self, action: SetLedger) -> None:
        # The working ledger started from the plan's (repaired) one; :meth:`finish` stores
        # it together with every record this run makes.
        self.result.ledger = self.ledger.repaired()
        self.repair = action

    def _known_landed(self, aid: str) -> bool:
        intent = self.pending.get(aid)
        return intent is not None and intent.landed

    def settle_left(self) -> None:
        """Open intents no action of this plan stands for (no longer wanted, or another
        part of a merged comment): one whose write Jira took is recorded; a comment found
        on the issue is recorded (the comments read once for the issue); one certainly
        not landed (checked ``settle`` after it was sent) is forgotten."""
        planned = {
            aid
            for a in self.plan_actions
            if isinstance(a, AddComment | Transition)
            for aid in _ids(a)
        }
        recorded = {aid for _, aid in self.recorded}
        left = [
            i
            for aid, i in self.pending.items()
            if aid not in planned and aid not in recorded and not self.ledger.handled(aid)
        ]
        for intent in left:
            if intent.landed:
                self._record_id(intent.kind, intent.action_id)
                continue
            try:
                if intent.kind == "comment":
                    ids, read_at = self._landed()
                    found = intent.action_id in ids
                elif intent.detail:
                    read_at = self.wall()
                    found = self._status() == intent.detail
                else:
                    continue
            except JiraError as exc:
                log.info("open intent not checked", key=self.key, error=str(exc))
                continue
            if found:
                self._record_id(intent.kind, intent.action_id)
            elif not self._too_soon(intent, read_at):
                self.journal.journal_forget(self.key, intent.action_id)
                self._not_on_issue(intent.action_id)

    def settle_journal(self) -> None:
        """Close journal intents the stored ledger already records (crash after the ledger
        write, before the journal's done; or a repair found the comment on the issue)."""
        if self.stored is None:
            return
        stored = Ledger.from_json(self.stored)
        for aid in self.pending:
            if stored.handled(aid):
                self.journal.journal_done(self.key, aid, at=self.now)


def _ids(action: AddComment | Transition) -> tuple[str, ...]:
    """The action ids ``action`` stands for (every part of a merged comment)."""
    return action.action_ids if isinstance(action, AddComment) else (action.action_id,)


def _target_status(transition: Mapping[str, Any]) -> str | None:
    to = transition.get("to")
    if isinstance(to, Mapping) and to.get("name"):
        return str(to["name"])
    return None


@dataclass
class Deferred:
    """A case whose one transition waits to go out in a bulk request with others'
    (:mod:`bridge.sync.bulk`); its comments are done, its edit waits for the transition."""

    run: _Issue
    action: Transition
    found: Mapping[str, Any]
    fresh: bool
    intent: Intent | None
    #: sent on its own after a bulk task could not move it: look the transition up afresh
    look_again: bool = False

    @property
    def key(self) -> str:
        return self.run.key

    @property
    def issue_id(self) -> str | None:
        place = self.run.place
        return place.issue_id if place is not None else None


def start_plan(
    port: JiraPort,
    plan: IssuePlan,
    *,
    journal: Journal,
    now: datetime,
    transition_lookup: TransitionLookup = find_transition,
    transitions: Transitions | None = None,
    ledger_in_edit: bool = False,
    doubt: bool = False,
    wall: Clock = wall_clock,
    settle: timedelta = DEFAULT_SETTLE,
    defer: bool = False,
) -> _Issue | Deferred:
    """The first part of :func:`apply_plan`: comments, then transitions.  With ``defer``,
    a plan's single transition, once looked up, is handed back as :class:`Deferred`
    instead of being sent (the caller sends it with others', then :func:`finish_plan`);
    otherwise the run is handed back for :func:`finish_plan`."""
    run = _Issue(
        port,
        plan,
        journal,
        now,
        transition_lookup,
        transitions or Transitions(),
        ledger_in_edit=ledger_in_edit,
        doubt=doubt,
        wall=wall,
        settle=settle,
    )
    for action in plan.actions:
        if isinstance(action, AddComment) and not run.hold(action):
            run.comment(action)
    moves = [a for a in plan.actions if isinstance(a, Transition)]
    if defer and len(moves) == 1 and plan.place is not None and plan.place.issue_id:
        chosen = run.choose_transition(moves[0])
        return run if chosen is None else Deferred(run, moves[0], *chosen)
    for action in moves:
        run.transition(action)
    return run


def finish_plan(run: _Issue | Deferred) -> ApplyResult:
    """The last part of :func:`apply_plan`: the one edit with the ledger, the journal
    settled.  A :class:`Deferred` given here has its transition sent on its own first."""
    if isinstance(run, Deferred):
        if run.look_again:
            run.run.look_again(run.action)
        else:
            run.run.send_transition(run.action, run.found, run.fresh, run.intent)
        run = run.run
    for action in run.plan_actions:
        if isinstance(action, EditIssue):
            run.edit = action
        elif isinstance(action, SetLedger):
            run.set_ledger(action)
    run.settle_left()
    if run.held:
        run.edit_then_tell()
    run.finish()
    run.settle_journal()
    result = run.result
    if result.failed:
        log.warning(
            "issue partly applied",
            key=run.key,
            failed=[f"{a.kind}: {why}" for a, why in result.failed],
        )
    return result


def apply_plan(
    port: JiraPort,
    plan: IssuePlan,
    *,
    journal: Journal,
    now: datetime,
    transition_lookup: TransitionLookup = find_transition,
    transitions: Transitions | None = None,
    ledger_in_edit: bool = False,
    doubt: bool = False,
    wall: Clock = wall_clock,
    settle: timedelta = DEFAULT_SETTLE,
) -> ApplyResult:
    """Run ``plan``'s actions: comments, then transitions, then the one edit.

    Returns what was done, recovered, skipped, failed, left unconfirmed.  Never raises
    :class:`JiraError`: each failure is reported on its own action.  ``now`` stamps the
    ledger and journal entries; ``wall`` is the real clock, which decides when an
    unconfirmed write may be believed absent (``settle`` after it was sent).  Call it for
    empty plans too when the journal has intents for the issue: it then only settles
    them locally (no Jira call).  ``transitions`` is the cycle's look-up cache (share one
    across a cycle's issues; by default each call has its own).  ``ledger_in_edit``: the
    flavour's issue edit accepts ``properties`` (Cloud).  ``doubt``: the ledger may lack
    an action the issue has (see the module docstring).
    """
    run = start_plan(
        port,
        plan,
        journal=journal,
        now=now,
        transition_lookup=transition_lookup,
        transitions=transitions,
        ledger_in_edit=ledger_in_edit,
        doubt=doubt,
        wall=wall,
        settle=settle,
    )
    return finish_plan(run)


def _refused_fields(exc: JiraError, sent: Collection[str]) -> set[str]:
    """The fields of an edit Jira refused (HTTP 400, its ``errors`` by field id, which
    the client renders ``field: text``) among those ``sent``."""
    if exc.status != 400:
        return set()
    named = {message.split(": ", 1)[0] for message in exc.messages if ": " in message}
    return named & set(sent)
