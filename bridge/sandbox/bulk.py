"""Bulk transition, as Jira Cloud documents it (REST API v3, Issue bulk operations).

* ``POST /rest/api/3/bulk/issues/transition`` -- "Bulk transition issue statuses": a body
  ``{"bulkTransitionInputs": [{"selectedIssueIdsOrKeys": [...], "transitionId": "11"}],
  "sendBulkNotification": false}``, up to 1,000 issues in one request; answers ``201
  {"taskId": "10641"}`` and does the work asynchronously.  It needs the global *Bulk change*
  permission (``BULK_CHANGE``) besides *Transition issues*; an invalid issue id or key
  makes the whole request ``400 {"errors": [{"message": "Some of the issues in the
  issueIdsOrKeys are not valid"}]}`` (``BulkOperationErrorResponse``).
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-bulk-operations/#api-rest-api-3-bulk-issues-transition-post
* ``GET /rest/api/3/bulk/queue/{taskId}`` -- "Get bulk issue operation progress":
  ``BulkOperationProgress`` with ``status`` (ENQUEUED, RUNNING, COMPLETE, FAILED, ...),
  ``progressPercent`` and, once complete, ``processedAccessibleIssues`` (the ids of the
  issues moved), ``failedAccessibleIssues`` (id -> reasons), ``totalIssueCount`` and
  ``invalidOrInaccessibleIssueCount``.
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-bulk-operations/#api-rest-api-3-bulk-queue-taskid-get

Cloud only: Jira Data Center has no bulk transition resource in its REST API (it moves
one issue at a time, ``POST /rest/api/2/issue/{issueIdOrKey}/transitions``), so the
Data Center sandbox answers these paths 404 like any path it does not have.

The sandbox does the task's work when it is submitted and reports it RUNNING to the first
progress read, COMPLETE from the second on: a client must poll, as on a real site.  An
issue whose status does not offer the transition fails on its own (listed in
``failedAccessibleIssues``), as Jira's bulk operations report per-issue failures.
"""

from __future__ import annotations

from typing import Any

from bridge.sandbox.routes import Request, Response, Route, _require_body
from bridge.sandbox.store import StoreError

#: the most issues one request may name (the documented limit)
MAX_ISSUES = 1000
_CLOUD = frozenset({"cloud"})
_INVALID = "Some of the issues in the issueIdsOrKeys are not valid"


def _refuse(status: int, message: str) -> Response:
    return Response(status, {"errors": [{"message": message}]})


def _inputs(body: Any) -> list[tuple[str, list[str]]] | Response:
    inputs = body.get("bulkTransitionInputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not inputs:
        return _refuse(400, "bulkTransitionInputs must list the issues and their transition.")
    out: list[tuple[str, list[str]]] = []
    for item in inputs:
        ids = item.get("selectedIssueIdsOrKeys") if isinstance(item, dict) else None
        tid = item.get("transitionId") if isinstance(item, dict) else None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return _refuse(400, "selectedIssueIdsOrKeys must be a list of issue ids or keys.")
        if not isinstance(tid, str) or not tid:
            return _refuse(400, "transitionId is required.")
        out.append((tid, ids))
    return out


def submit(req: Request) -> Response:
    store = req.store
    body = _require_body(req)
    inputs = _inputs(body)
    if isinstance(inputs, Response):
        return inputs
    if sum(len(ids) for _, ids in inputs) > MAX_ISSUES:
        return _refuse(400, f"A bulk transition can include at most {MAX_ISSUES} issues.")
    actor = req.actor
    if "BULK_CHANGE" in store.denied_permissions.get(actor.account_id, set()):
        return _refuse(403, "You don't have the global Bulk change permission.")
    try:
        moves = [(tid, [store.issue(i) for i in ids]) for tid, ids in inputs]
    except StoreError:
        return _refuse(400, _INVALID)
    processed: list[int] = []
    failed: dict[str, list[str]] = {}
    for tid, issues in moves:
        for issue in issues:
            found = next((t for t in store.transitions_for(issue) if t.id == tid), None)
            if found is None:
                failed[str(issue.id)] = [f"Transition id '{tid}' is not valid for this issue."]
                continue
            store.transition(issue, actor, found)
            processed.append(issue.id)
    task = str(store.next_bulk_task)
    store.next_bulk_task += 1
    created = int(store.now().timestamp() * 1000)
    total = sum(len(issues) for _, issues in moves)
    store.bulk_tasks[task] = {
        "taskId": task,
        "status": "COMPLETE",
        "progressPercent": 100,
        "submittedBy": {"accountId": actor.account_id},
        "created": created,
        "started": created,
        "updated": created,
        "totalIssueCount": total,
        "invalidOrInaccessibleIssueCount": 0,
        "processedAccessibleIssues": processed,
        "failedAccessibleIssues": failed,
        "_reads": 0,
    }
    return Response(201, {"taskId": task})


def progress(req: Request) -> Response:
    task = req.store.bulk_tasks.get(req.path_params["taskId"])
    if task is None:
        return _refuse(404, "The task was not found.")
    task["_reads"] += 1
    shown = {k: v for k, v in task.items() if not k.startswith("_")}
    if task["_reads"] == 1:  # the work is reported a poll later, as an async task's would be
        shown = {
            k: shown[k] for k in ("taskId", "submittedBy", "created", "started", "updated")
        } | {"status": "RUNNING", "progressPercent": 50}
    return Response(200, shown)


ROUTES: list[Route] = [
    Route("POST", "/rest/api/3/bulk/issues/transition", submit, kind="write", flavours=_CLOUD),
    Route("GET", "/rest/api/3/bulk/queue/{taskId}", progress, flavours=_CLOUD),
]
