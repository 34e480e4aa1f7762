"""Apply: run one issue's planned actions against Jira, never writing anything twice.

* :class:`~bridge.sync.plan.EditIssue` → one ``PUT`` (fields + label verbs, no
  notifications).  Editing is idempotent, so it needs no bookkeeping.
* :class:`~bridge.sync.plan.AddComment` → the comment carries the comment property
  ``jsm-bridge = {"action_id": ...}``; internal ones use JSM's internal flag.
* :class:`~bridge.sync.plan.Transition` → the transition's id is looked up by name among
  those available from the current status; when it is not available the step is skipped
  (a note, not an error) and recorded so it is not tried every cycle.
* after each comment or transition the issue's ``jsm-bridge`` ledger is rewritten.

Crash safety.  Before a comment or transition is sent, its intent goes into the local
journal; it is marked done only once the ledger on the issue records it.  When a write
fails ambiguously (the request may have landed: connection dropped after sending), or the
journal holds an intent without done (the process died mid-write), the issue is re-read —
its comments' properties, or its status against the transition's target — and the write
is retried only if it did not land.

Each action stands alone: a failure is reported for that action and the rest go on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog

from bridge.jira.fields import find_transition
from bridge.jira.port import JiraError, JiraPort
from bridge.sync.ledger import PROPERTY, Ledger, comment_action_id, comment_marker
from bridge.sync.plan import Action, AddComment, EditIssue, IssuePlan, SetLedger, Transition
from bridge.sync.state import Intent

log = structlog.get_logger("bridge.sync.apply")

TransitionLookup = Callable[[Sequence[Mapping[str, Any]], str], Mapping[str, Any] | None]


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
    ) -> None: ...
    def journal_done(self, key: str, action_id: str, *, at: datetime | None = None) -> None: ...
    def journal_forget(self, key: str, action_id: str) -> None: ...
    def pending_intents(self, key: str | None = None) -> list[Intent]: ...


@dataclass
class ApplyResult:
    key: str
    done: list[Action] = field(default_factory=list)
    #: the action landed before (found on the issue after a crash or an ambiguous failure)
    recovered: list[Action] = field(default_factory=list)
    skipped: list[tuple[Action, str]] = field(default_factory=list)
    failed: list[tuple[Action, str]] = field(default_factory=list)
    #: successful write requests by kind: edit, comment, transition, ledger
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
    ) -> None:
        self.port = port
        self.key = plan.key
        self.journal = journal
        self.now = now
        self.lookup = lookup
        self.result = ApplyResult(plan.key, ledger=plan.ledger)
        self.pending = {i.action_id: i for i in journal.pending_intents(plan.key)}
        #: what the ledger property holds, as far as this run knows (None: not known).  The
        #: plan's ledger is the one read from the issue unless the plan repairs it.
        repairs = any(isinstance(a, SetLedger) for a in plan.actions)
        self.stored: dict[str, Any] | None = None if repairs else plan.ledger.to_dict()

    @property
    def ledger(self) -> Ledger:
        return self.result.ledger

    # -- bookkeeping ----------------------------------------------------------------------------

    def _write_ledger(self, action: Action) -> bool:
        value = self.ledger.to_dict()
        try:
            self.port.set_property(self.key, PROPERTY, value)
        except JiraError as exc:
            # The write itself stands; the journal keeps the intent open, so the next run
            # re-checks the issue instead of repeating the write.
            self.result.failed.append((action, f"recording it in the ledger failed: {exc}"))
            log.warning("ledger write failed", key=self.key, error=str(exc))
            return False
        self.stored = value
        self.result._count("ledger")
        return True

    def _record(self, action: AddComment | Transition, *, skipped: str | None = None) -> None:
        if skipped is None:
            self.result.ledger = self.ledger.with_done(action.action_id, self.now)
        else:
            self.result.ledger = self.ledger.with_skipped(action.action_id, self.now)
        if self._write_ledger(action):
            self.journal.journal_done(self.key, action.action_id, at=self.now)

    # -- re-reading after a crash or an ambiguous failure ---------------------------------------

    def _comment_landed(self, action_id: str) -> bool:
        return any(comment_action_id(c) == action_id for c in self.port.comments(self.key))

    def _status(self) -> str | None:
        issue = self.port.get_issue(self.key, ["status"])
        status = (issue.get("fields") or {}).get("status") or {}
        name = status.get("name") if isinstance(status, Mapping) else None
        return str(name) if name is not None else None

    # -- actions --------------------------------------------------------------------------------

    def edit(self, action: EditIssue) -> None:
        try:
            self.port.edit_issue(
                self.key, fields=dict(action.fields), update=dict(action.update), notify=False
            )
        except JiraError as exc:
            self.result.failed.append((action, str(exc)))
            return
        self.result._count("edit")
        self.result.done.append(action)

    def comment(self, action: AddComment) -> None:
        aid = action.action_id
        try:
            if aid in self.pending and self._comment_landed(aid):
                log.info("comment found after an interrupted run", key=self.key, action_id=aid)
                self.result.recovered.append(action)
                self._record(action)
                return
            self.journal.journal_intent(self.key, aid, "comment", at=self.now)
            for attempt in (1, 2):
                try:
                    self.port.add_comment(
                        self.key,
                        action.body,
                        internal=action.internal,
                        properties=comment_marker(aid),
                    )
                    break
                except JiraError as exc:
                    if not exc.ambiguous:
                        self.journal.journal_forget(self.key, aid)
                        raise
                    if self._comment_landed(aid):
                        self.result.recovered.append(action)
                        self._record(action)
                        return
                    if attempt == 2:
                        raise
                    log.info("comment did not land; sending it again", key=self.key, action_id=aid)
        except JiraError as exc:
            self.result.failed.append((action, str(exc)))
            return
        self.result._count("comment")
        self.result.done.append(action)
        self._record(action)

    def transition(self, action: Transition) -> None:
        aid = action.action_id
        try:
            intent = self.pending.get(aid)
            if intent is not None and intent.detail and self._status() == intent.detail:
                log.info("transition found after an interrupted run", key=self.key, action_id=aid)
                self.result.recovered.append(action)
                self._record(action)
                return
            found = self.lookup(self.port.transitions(self.key), action.name)
            if found is None:
                note = f"transition '{action.name}' is not available from the issue's status"
                log.info("transition skipped", key=self.key, action_id=aid, reason=note)
                if intent is not None:
                    self.journal.journal_forget(self.key, aid)
                self.result.skipped.append((action, note))
                self._record(action, skipped=note)
                return
            target = _target_status(found)
            self.journal.journal_intent(self.key, aid, "transition", target, at=self.now)
            for attempt in (1, 2):
                try:
                    self.port.do_transition(self.key, str(found.get("id")))
                    break
                except JiraError as exc:
                    if not exc.ambiguous:
                        self.journal.journal_forget(self.key, aid)
                        raise
                    if target is not None and self._status() == target:
                        self.result.recovered.append(action)
                        self._record(action)
                        return
                    if attempt == 2:
                        raise
                    log.info("transition did not land; trying again", key=self.key, action_id=aid)
        except JiraError as exc:
            self.result.failed.append((action, str(exc)))
            return
        self.result._count("transition")
        self.result.done.append(action)
        self._record(action)

    def set_ledger(self, action: SetLedger) -> None:
        # The working ledger started from the plan's (repaired) one and has every record
        # this run made since; it is only written if no bookkeeping write stored it already.
        self.result.ledger = self.ledger.repaired()
        if self.stored is not None and self.stored == self.ledger.to_dict():
            self.result.done.append(action)
            return
        if self._write_ledger(action):
            self.result.done.append(action)

    def settle(self) -> None:
        """Close journal intents the stored ledger already records (crash after the ledger
        write, before the journal's done; or a repair found the comment on the issue)."""
        if self.stored is None:
            return
        stored = _ids(self.stored)
        for aid in self.pending:
            if aid in stored:
                self.journal.journal_done(self.key, aid, at=self.now)


def _ids(stored: Mapping[str, Any]) -> set[str]:
    return set(stored.get("done") or ()) | set(stored.get("skipped") or ())


def _target_status(transition: Mapping[str, Any]) -> str | None:
    to = transition.get("to")
    if isinstance(to, Mapping) and to.get("name"):
        return str(to["name"])
    return None


def apply_plan(
    port: JiraPort,
    plan: IssuePlan,
    *,
    journal: Journal,
    now: datetime,
    transition_lookup: TransitionLookup = find_transition,
) -> ApplyResult:
    """Run ``plan``'s actions in order; returns what was done, recovered, skipped, failed.

    Never raises :class:`JiraError`: each failure is reported on its own action.
    ``now`` stamps the ledger and journal entries.  Call it for empty plans too when the
    journal has intents for the issue: it then only settles them locally (no Jira call).
    """
    run = _Issue(port, plan, journal, now, transition_lookup)
    for action in plan.actions:
        if isinstance(action, EditIssue):
            run.edit(action)
        elif isinstance(action, AddComment):
            run.comment(action)
        elif isinstance(action, Transition):
            run.transition(action)
        else:
            run.set_ledger(action)
    run.settle()
    result = run.result
    if result.failed:
        log.warning(
            "issue partly applied",
            key=plan.key,
            failed=[f"{a.kind}: {why}" for a, why in result.failed],
        )
    return result
