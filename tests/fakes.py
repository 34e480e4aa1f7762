"""Stateful in-memory stand-ins for unit tests of the sync layer.

``FakeJira`` keeps issues (raw fields, labels, comments with properties, issue properties,
status) and a small workflow, behaves like Jira where the bridge depends on it (label
verbs, transitions only from their source statuses, the 32 KB property limit, internal
comments as the ``sd.public.comment`` property) and can be told to fail a chosen call —
before or after the write lands — to exercise crash safety.  Tests assert its end state.

``make_fieldmap`` builds the real ``FieldMap`` over the demo site's field list; ``desired()``
and ``snapshot()`` build policy-side values for planning tests (keyword overrides).
"""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from bridge.jira.fields import FieldMap
from bridge.jira.port import JiraError, Json
from bridge.policy.model import (
    Actor,
    Desired,
    IssueSnapshot,
    Person,
    QuotaPosition,
)

BRIDGE = {"accountId": "acc-bridge", "displayName": "jsm-bridge", "accountType": "atlassian"}
INTERNAL = "sd.public.comment"

#: name -> (status category key)
STATUSES = {
    "Open": "new",
    "Work in progress": "indeterminate",
    "Waiting for customer": "indeterminate",
    "Escalated": "indeterminate",
    "Pending approval": "new",
    "Resolved": "done",
}

#: status name -> id (as Jira gives them with each status)
STATUS_IDS = {name: str(n) for n, name in enumerate(STATUSES, 1)}
#: every fake issue is a support case of this type
ISSUE_TYPE = {"id": "10100", "name": "Support"}

#: (id, name, from statuses (empty = any non-done), to status)
WORKFLOW: tuple[tuple[str, str, frozenset[str], str], ...] = (
    ("11", "Start work", frozenset({"Open", "Escalated", "Pending approval"}), "Work in progress"),
    (
        "21",
        "Wait for customer",
        frozenset({"Open", "Work in progress", "Escalated"}),
        "Waiting for customer",
    ),
    (
        "31",
        "Escalate",
        frozenset({"Open", "Work in progress", "Waiting for customer"}),
        "Escalated",
    ),
    ("41", "Needs approval", frozenset({"Open"}), "Pending approval"),
    ("51", "Resolve", frozenset(), "Resolved"),
)

PRIORITIES = [
    {"id": "1", "name": "Blocker"},
    {"id": "2", "name": "Critical"},
    {"id": "3", "name": "Major"},
    {"id": "4", "name": "Minor"},
    {"id": "5", "name": "Trivial"},
]

USERS = [
    {
        "accountId": "acc-jane",
        "emailAddress": "jane.engineer@vendor.example",
        "displayName": "Jane Engineer",
    },
    {
        "accountId": "acc-sam",
        "emailAddress": "sam.agent@vendor.example",
        "displayName": "Sam Agent",
    },
]


def _status(name: str) -> Json:
    return {"id": STATUS_IDS[name], "name": name, "statusCategory": {"key": STATUSES[name]}}


@dataclass
class FakeIssue:
    key: str
    fields: dict[str, Any] = field(default_factory=dict)  # raw, by field id
    comments: list[Json] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.fields["status"]["name"])

    @property
    def labels(self) -> set[str]:
        return set(self.fields.get("labels") or [])


@dataclass
class _Fault:
    method: str
    key: str | None
    land: bool  # True: the write happens, then the error (connection dropped after sending)
    error: JiraError


class FakeJira:
    """A JiraPort with state.  ``writes`` counts write requests that reached the 'server'."""

    def __init__(self, *, now: datetime | None = None) -> None:
        self.issues: dict[str, FakeIssue] = {}
        self.now = now or datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
        self.writes = 0
        #: successful write requests by method name ("add_comment", "do_transition", ...)
        self.write_counts: dict[str, int] = {}
        #: write calls made, whether they failed or not
        self.attempts: dict[str, int] = {}
        #: the issue of each ``transitions()`` call (a read the bridge should economise on)
        self.transition_lookups: list[str] = []
        self._ids = itertools.count(10001)
        self._faults: list[_Fault] = []

    # -- test set-up ------------------------------------------------------------------------

    def add_issue(
        self,
        key: str,
        *,
        status: str = "Open",
        labels: Sequence[str] = (),
        priority: str | None = "Major",
        assignee: str | None = None,
        **fields: Any,
    ) -> FakeIssue:
        raw: dict[str, Any] = {
            "status": _status(status),
            "issuetype": dict(ISSUE_TYPE),
            "labels": list(labels),
            "priority": self._priority(name=priority) if priority else None,
            "assignee": self._user(assignee) if assignee else None,
        }
        raw.update(fields)
        issue = FakeIssue(key, raw)
        self.issues[key] = issue
        return issue

    def fail(
        self,
        method: str,
        *,
        key: str | None = None,
        land: bool = False,
        ambiguous: bool | None = None,
        status: int | None = None,
        messages: tuple[str, ...] = (),
        config: bool = False,
    ) -> None:
        """Make the next ``method`` call (on ``key``, if given) raise.

        ``land=True`` applies the write first (the response was lost): the error is then
        ambiguous unless said otherwise.  ``messages``: Jira's, as the client gives them
        (``errors`` as ``field: text``).
        """
        amb = land if ambiguous is None else ambiguous
        err = JiraError(
            f"injected failure of {method}",
            status=status if status is not None else (None if amb else 400),
            messages=messages,
            ambiguous=amb,
            config=config,
        )
        self._faults.append(_Fault(method, key, land, err))

    def _fault(self, method: str, key: str | None) -> _Fault | None:
        for i, f in enumerate(self._faults):
            if f.method == method and (f.key is None or f.key == key):
                del self._faults[i]
                return f
        return None

    def _write(self, method: str, key: str, do: Any) -> Any:
        self.attempts[method] = self.attempts.get(method, 0) + 1
        fault = self._fault(method, key)
        if fault is not None and not fault.land:
            raise fault.error
        result = do()
        self.writes += 1
        self.write_counts[method] = self.write_counts.get(method, 0) + 1
        if fault is not None:
            raise fault.error
        return result

    def _issue(self, key: str) -> FakeIssue:
        try:
            return self.issues[key]
        except KeyError:
            raise JiraError(f"issue {key} does not exist", status=404) from None

    @staticmethod
    def _priority(*, name: str | None = None, id: str | None = None) -> Json:
        for p in PRIORITIES:
            if p["name"] == name or p["id"] == id:
                return dict(p)
        raise JiraError(f"no priority {name or id}", status=400)

    @staticmethod
    def _user(who: str) -> Json:
        for u in USERS:
            if who in (u["accountId"], u["emailAddress"]):
                return dict(u)
        raise JiraError(f"no user {who}", status=400)

    # -- convenience views for assertions -----------------------------------------------------

    def comment_bodies(self, key: str) -> list[str]:
        return [c["body"] for c in self.issues[key].comments]

    def comment_action_ids(self, key: str) -> list[str | None]:
        out: list[str | None] = []
        for c in self.issues[key].comments:
            marker = next((p["value"] for p in c["properties"] if p["key"] == "jsm-bridge"), None)
            out.append(marker.get("action_id") if marker else None)
        return out

    # -- JiraPort: site facts -------------------------------------------------------------------

    def server_info(self) -> Json:
        return {"deploymentType": "Cloud", "version": "1001.0.0"}

    def myself(self) -> Json:
        return dict(BRIDGE)

    def fields(self) -> list[Json]:
        return []

    def priorities(self) -> list[Json]:
        return [dict(p) for p in PRIORITIES]

    def statuses(self) -> list[Json]:
        return [{"name": n, "statusCategory": {"key": c}} for n, c in STATUSES.items()]

    def find_users(self, query: str) -> list[Json]:
        q = query.casefold()
        return [dict(u) for u in USERS if q in u["emailAddress"].casefold()]

    # -- JiraPort: reading ------------------------------------------------------------------------

    def _issue_json(self, issue: FakeIssue, properties: Sequence[str] = ()) -> Json:
        out: Json = {"key": issue.key, "fields": copy.deepcopy(issue.fields)}
        if properties:
            out["properties"] = {
                p: copy.deepcopy(issue.properties[p]) for p in properties if p in issue.properties
            }
        return out

    def search(
        self,
        jql: str,
        fields: Sequence[str],
        *,
        properties: Sequence[str] = (),
        expand: Sequence[str] = (),
    ) -> Iterator[Json]:
        for issue in list(self.issues.values()):
            yield self._issue_json(issue, properties)

    def get_issue(
        self,
        key: str,
        fields: Sequence[str] | None = None,
        *,
        properties: Sequence[str] = (),
        expand: Sequence[str] = (),
    ) -> Json:
        fault = self._fault("get_issue", key)
        if fault is not None:
            raise fault.error
        return self._issue_json(self._issue(key), properties)

    def changelog(self, key: str) -> Iterator[Json]:
        return iter(())

    def comments(self, key: str) -> list[Json]:
        fault = self._fault("comments", key)
        if fault is not None:
            raise fault.error
        return copy.deepcopy(self._issue(key).comments)

    def transitions(self, key: str) -> list[Json]:
        fault = self._fault("transitions", key)
        if fault is not None:
            raise fault.error
        self.transition_lookups.append(key)
        return self._offered(key)

    def _offered(self, key: str) -> list[Json]:
        status = self._issue(key).status
        return [
            {
                "id": tid,
                "name": name,
                "to": _status(to),
            }
            for tid, name, sources, to in WORKFLOW
            if (status in sources) or (not sources and STATUSES[status] != "done")
        ]

    def get_property(self, key: str, prop: str) -> Any | None:
        return copy.deepcopy(self._issue(key).properties.get(prop))

    # -- JiraPort: writing ------------------------------------------------------------------------

    def edit_issue(
        self,
        key: str,
        *,
        fields: Mapping[str, Any] | None = None,
        update: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        notify: bool = False,
    ) -> None:
        issue = self._issue(key)
        new = copy.deepcopy(issue.fields)
        new_props = {k: json.loads(json.dumps(v)) for k, v in (properties or {}).items()}
        for fid, value in (fields or {}).items():
            if fid == "priority":
                new["priority"] = self._priority(id=value.get("id"), name=value.get("name"))
            elif fid == "assignee":
                new["assignee"] = self._user(value["accountId"]) if value else None
            elif fid == "labels":
                raise JiraError("the bridge must not set labels wholesale", status=400)
            else:
                new[fid] = copy.deepcopy(value)
        for fid, verbs in (update or {}).items():
            if fid != "labels":
                raise JiraError(f"unexpected update verb for {fid}", status=400)
            labels = list(new.get("labels") or [])
            for verb in verbs:
                ((op, value),) = verb.items()
                if op == "add" and value not in labels:
                    labels.append(value)
                elif op == "remove" and value in labels:
                    labels.remove(value)
                elif op not in ("add", "remove"):
                    raise JiraError(f"label verb {op!r} is not allowed here", status=400)
            new["labels"] = labels

        def do() -> None:
            issue.fields = new
            issue.properties.update(new_props)

        self._write("edit_issue", key, do)

    def add_comment(
        self, key: str, body: str, *, internal: bool, properties: Mapping[str, Any] | None = None
    ) -> Json:
        issue = self._issue(key)
        props = [{"key": k, "value": copy.deepcopy(v)} for k, v in (properties or {}).items()]
        if internal:
            props.append({"key": INTERNAL, "value": {"internal": True}})
        comment: Json = {
            "id": str(next(self._ids)),
            "body": body,
            "author": dict(BRIDGE),
            "created": self.now.isoformat(),
            "jsdPublic": not internal,
            "properties": props,
        }

        def do() -> Json:
            issue.comments.append(comment)
            return copy.deepcopy(comment)

        return self._write("add_comment", key, do)  # type: ignore[no-any-return]

    def do_transition(self, key: str, transition_id: str) -> None:
        issue = self._issue(key)
        found = [t for t in self._offered(key) if t["id"] == transition_id]
        if not found:
            raise JiraError(
                f"transition {transition_id} is not available from {issue.status}", status=400
            )
        to = found[0]["to"]

        def do() -> None:
            issue.fields["status"] = _status(to["name"])

        self._write("do_transition", key, do)

    def set_property(self, key: str, prop: str, value: Any) -> None:
        issue = self._issue(key)
        text = json.dumps(value)
        if len(text.encode()) > 32_768:
            raise JiraError(f"property {prop} on {key} is larger than 32 KB", status=400)

        def do() -> None:
            issue.properties[prop] = json.loads(text)

        self._write("set_property", key, do)

    # -- JiraPort: Service Management ---------------------------------------------------------------

    def organizations(self) -> Iterator[Json]:
        return iter(())

    def organization_users(self, organization_id: str) -> Iterator[Json]:
        return iter(())

    def service_desks(self) -> Iterator[Json]:
        return iter(())

    def service_desk_customers(self, service_desk_id: str) -> Iterator[Json]:
        return iter(())

    def request_participants(self, key: str) -> Iterator[Json]:
        return iter(())


# ------------------------------------------------------------------------------- field map

#: The demo site's bridge-written fields, as ``GET /rest/api/2/field`` lists them.
SITE_FIELDS: dict[str, tuple[str, str, str]] = {
    # logical: (id, name, schema type)
    "response_due": ("customfield_10042", "Response due", "datetime"),
    "sla_state": ("customfield_10043", "SLA state", "option"),
    "support_tier": ("customfield_10044", "Support tier", "option"),
    "quota_usage": ("customfield_10045", "Cases this month", "string"),
}


def make_fieldmap(*, quota_type: str = "string", omit: Sequence[str] = ()) -> FieldMap:
    """A real FieldMap over the demo site's fields (``quota_type`` "number" or "string")."""
    site = []
    wanted = {}
    for logical, (fid, name, kind) in SITE_FIELDS.items():
        if logical in omit:
            continue
        if logical == "quota_usage":
            kind = quota_type
        site.append({"id": fid, "name": name, "custom": True, "schema": {"type": kind}})
        wanted[logical] = name
    return FieldMap.resolve(wanted, site)


def fid(logical: str) -> str:
    return SITE_FIELDS[logical][0]


# -------------------------------------------------------------------- policy-side builders

BNE = timezone(timedelta(hours=10))
CREATED = datetime(2026, 11, 27, 8, 0, tzinfo=BNE)
DUE = datetime(2026, 11, 30, 17, 0, tzinfo=BNE)
REPORTER = Person("acc-ops", "Ops", "ops@acme.example", Actor.CUSTOMER)
BRIDGE_PERSON = Person("acc-bridge", "jsm-bridge", "bridge@vendor.example", Actor.BRIDGE)


def desired(**changes: Any) -> Desired:
    base = Desired(
        key="SUP-12",
        known_customer=True,
        tier="Premium",
        calendar="brisbane",
        priority="P3",
        priority_jira="Major",
        priority_reason="as raised",
        quota=QuotaPosition(used=5, limit=4, over=True, month="2026-11"),
        authorised_contact=True,
        entitlement_problems=(),
        missing_information=(),
        response_due=DUE,
        target=timedelta(hours=8),
        business_used=timedelta(hours=1),
        first_response=None,
        sla_state="running",
        escalation_steps=(),
        labels_present=frozenset(),
        labels_absent=frozenset({"over-quota", "needs-info", "unknown-customer"}),
        comments=(),
        assignee=None,
        transitions=(),
        explanation=(),
    )
    return replace(base, **changes)


def snapshot(**changes: Any) -> IssueSnapshot:
    base = IssueSnapshot(
        key="SUP-12",
        created=CREATED,
        updated=CREATED,
        summary="Router down",
        status="Open",
        status_category="new",
        reporter=REPORTER,
        organization="Initech Systems",
        priority="Major",
        request_type="Technical support",
    )
    return replace(base, **changes)


#: raw Jira fields that already match `desired()` exactly
MATCHING: dict[str, Any] = {
    fid("response_due"): "2026-11-30T17:00:00.000+1000",
    fid("sla_state"): {"value": "running", "id": "100"},
    fid("support_tier"): {"value": "Premium", "id": "201"},
    fid("quota_usage"): "5 of 4",
}


def resolve_priority(name: str) -> str:
    return next(p["id"] for p in PRIORITIES if p["name"] == name)


def resolve_user(email: str) -> str | None:
    return next((u["accountId"] for u in USERS if u["emailAddress"] == email), None)
