"""Bulk transition: many cases' transitions in one request (Jira Cloud), with a fallback.

A first cycle moves thousands of cases (over quota, escalated); one request per case is
most of its time on a site far away.  Jira Cloud moves up to 1,000 issues in one
asynchronous request (`JiraClient.bulk_transition`), when the bridge's account has the
global *Bulk change* permission.  Data Center has no such request: there, and whenever
the bulk request cannot be used, each case's transition goes on its own as before.

What each case keeps (the promises of :mod:`bridge.sync.apply`):

* its intent is journalled, with the time of sending, before the request goes out;
* an issue the task reports moved is recorded like a transition made on its own;
* an issue the task reports failed (the status no longer offers it), or a request Jira
  refuses outright (no permission, a bad issue in the batch), is sent on its own: the
  per-issue path looks the transition up afresh and skips or fails it with its reason;
* when the outcome is not known — the request's answer lost, the task's progress
  unreadable or not ending in time, the task failing part-way — each issue not reported
  moved is *unconfirmed*: a later cycle reads its status before sending anything again.

Every issue's comments have gone out before its transition, and its one edit (with the
ledger) goes out after it, as for a case written on its own.
"""

from __future__ import annotations

from collections.abc import Sequence

import structlog

from bridge.jira.port import JiraError, JiraPort
from bridge.sync.apply import Deferred

log = structlog.get_logger("bridge.sync.bulk")

#: Fewer transitions than this go one by one: a bulk request costs a submission and at
#: least one progress read.
BULK_MIN = 3
#: The most issues one bulk transition may name (Jira Cloud's documented limit).
BULK_MAX = 1000
#: How long to wait for a bulk task to end before leaving its outcome to the next cycle.
BULK_PATIENCE = 120.0
#: Statuses that say the bulk request itself is not available to this account or site
#: (permission, no such resource): not tried again by this process.
UNAVAILABLE = frozenset({401, 403, 404, 405})


def send_together(
    port: JiraPort, batch: Sequence[Deferred], *, patience: float = BULK_PATIENCE
) -> tuple[list[Deferred], bool]:
    """Send ``batch``'s transitions in one bulk request.

    Returns the cases whose transition must now go on its own (their journal intent
    withdrawn), and whether bulk requests are still worth trying.  Every other case is
    recorded as moved or left unconfirmed.  Never raises `JiraError`."""
    moves: dict[str, list[str]] = {}
    for case in batch:
        assert case.issue_id is not None
        moves.setdefault(str(case.found.get("id")), []).append(case.issue_id)
        case.run.intend_transition(case.action, case.found)
    try:
        progress = port.bulk_transition(moves, patience=patience)
    except JiraError as exc:
        if not exc.refused:  # some issues may have moved: checked on the site first
            log.warning("bulk transition outcome unknown", cases=len(batch), error=str(exc))
            for case in batch:
                case.run.lost_answer(case.action, exc)
            return [], True
        usable = exc.status not in UNAVAILABLE
        log.info(
            "bulk transition refused; each case on its own",
            status=exc.status,
            error=str(exc),
            tried_again=usable,
        )
        return [_alone(case) for case in batch], usable
    moved = {str(i) for i in progress.get("processedAccessibleIssues") or ()}
    failed = progress.get("failedAccessibleIssues") or {}
    complete = progress.get("status") == "COMPLETE"
    alone: list[Deferred] = []
    for case in batch:
        if case.issue_id in moved:
            case.run.transition_made(case.action, case.found, counted=False)
        elif complete:
            why = failed.get(case.issue_id) if isinstance(failed, dict) else None
            log.info("bulk transition left a case out", key=case.key, reasons=why)
            alone.append(_alone(case, look_again=True))
        else:
            case.run.lost_answer(
                case.action,
                JiraError(f"bulk transition task ended {progress.get('status')}", ambiguous=True),
            )
    log.info("bulk transition", cases=len(batch), moved=len(batch) - len(alone))
    return alone, True


def _alone(case: Deferred, *, look_again: bool = False) -> Deferred:
    """The case, its bulk intent withdrawn, to be sent on its own; ``look_again``: the
    task could not move it, so what its status offers is read afresh first."""
    case.run.withdraw(case.action)
    case.intent = None
    case.look_again = look_again
    return case
