"""The sandbox's in-memory Jira site: metadata, issues, a settable clock and persistence.

Everything the HTTP layer serves lives here as plain dataclasses.  Issue field
values are kept in an *internal* form (ids for priorities/statuses/options,
account ids for users, aware UTC datetimes for dates, plain text for rich text)
and rendered to Jira's JSON by :mod:`bridge.sandbox.render`.

All mutation goes through :class:`Store` methods that take the acting user and
stamp changes with the sandbox clock, so changelog authors and times behave as
on a real site.  Callers hold ``store.lock`` around read-modify-write sequences.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

DEFAULT_SITE_TZ = "Australia/Brisbane"

# --------------------------------------------------------------------------- clock


def wall_clock() -> datetime:
    """This host's time: where a sandbox clock given no start begins."""
    return datetime.now(UTC)


class Clock:
    """The sandbox's notion of now.

    ``frozen`` clocks stand still until set or advanced (tests); running clocks
    tick with real time from their start (the demo: ``--now`` then live).
    Times are truncated to milliseconds, the precision of Jira's timestamps.
    """

    def __init__(self, start: datetime | None = None, *, frozen: bool = False) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("the sandbox clock needs an aware datetime (with a UTC offset)")
        self._lock = threading.Lock()
        self._base = (start or wall_clock()).astimezone(UTC)
        self._mono = time.monotonic()
        self.frozen = frozen

    def now(self) -> datetime:
        with self._lock:
            t = self._base
            if not self.frozen:
                t = t + timedelta(seconds=time.monotonic() - self._mono)
        return t.replace(microsecond=t.microsecond // 1000 * 1000)

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("the sandbox clock needs an aware datetime (with a UTC offset)")
        with self._lock:
            self._base = when.astimezone(UTC)
            self._mono = time.monotonic()

    def advance(self, delta: timedelta) -> None:
        self.set(self.now() + delta)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([wdhms])")
_UNIT = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """``"2h"``, ``"1d 3h"``, ``"90s"``, ``"-30m"`` → timedelta."""
    s = text.strip().lower()
    sign = -1 if s.startswith("-") else 1
    s = s.lstrip("+-")
    pos, total = 0, 0.0
    for m in _DURATION.finditer(s):
        if s[pos : m.start()].strip():
            break
        total += float(m.group(1)) * _UNIT[m.group(2)]
        pos = m.end()
    if pos == 0 or s[pos:].strip():
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 30m, 2h, 1d, 1w)")
    return timedelta(seconds=sign * total)


def parse_instant(text: str, tz: ZoneInfo | None = None) -> datetime:
    """ISO 8601 or Jira's ``2026-11-27T09:00:00.000+1000``; naive times are read in ``tz``."""
    s = text.strip()
    m = re.fullmatch(r"(.*[T ]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)([+-]\d\d)(\d\d)", s)
    if m:
        s = f"{m.group(1)}{m.group(2)}:{m.group(3)}"
    if s.endswith("Z"):
        s = s[:-1] + "+00:00"
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz or UTC)
    return dt


# --------------------------------------------------------------------------- model


@dataclass
class User:
    account_id: str
    email: str
    display_name: str
    account_type: str = "atlassian"  # atlassian | customer | app
    token: str | None = None  # Cloud API token (basic auth email:token)
    pat: str | None = None  # Data Center personal access token (bearer)
    active: bool = True
    time_zone: str = DEFAULT_SITE_TZ
    admin: bool = False

    @property
    def name(self) -> str:
        """The Data Center user name (the e-mail's local part)."""
        return self.email.split("@", 1)[0]

    @property
    def is_customer(self) -> bool:
        return self.account_type == "customer"


@dataclass
class Option:
    id: str
    value: str
    disabled: bool = False


#: internal kinds of fields (how values are parsed, stored and rendered)
FIELD_KINDS = (
    "summary",
    "description",
    "priority",
    "status",
    "resolution",
    "user",
    "labels",
    "datetime",
    "issuetype",
    "project",
    "comment",
    "issuekey",
    "select",
    "number",
    "text",
    "textarea",
    "organizations",
    "requesttype",
    "statuscategorychangedate",
)


@dataclass
class Field:
    id: str
    name: str
    kind: str
    custom: bool = False
    options: list[Option] = field(default_factory=list)
    navigable: bool = True
    orderable: bool = True
    searchable: bool = True
    settable: bool = True
    #: the field's custom field context (Cloud), once it has one; the sandbox keeps one
    #: global context per field, holding the field's options
    context_id: str | None = None

    @property
    def custom_id(self) -> int | None:
        if self.custom and self.id.startswith("customfield_"):
            return int(self.id.removeprefix("customfield_"))
        return None

    def option_by_value(self, value: str) -> Option | None:
        for o in self.options:
            if o.value == value:
                return o
        for o in self.options:
            if o.value.lower() == value.lower():
                return o
        return None

    def option_by_id(self, oid: str) -> Option | None:
        return next((o for o in self.options if o.id == oid), None)


@dataclass
class SavedFilter:
    """A saved filter (``/rest/api/3/filter``), owned by the account that made it."""

    id: str
    name: str
    jql: str
    owner: str  # account id
    description: str = ""
    favourite: bool = False


@dataclass
class Priority:
    id: str
    name: str
    color: str = "#ffab00"
    description: str = ""
    is_default: bool = False


@dataclass
class Status:
    id: str
    name: str
    category: str  # new | indeterminate | done
    description: str = ""


STATUS_CATEGORIES: dict[str, dict[str, Any]] = {
    "undefined": {"id": 1, "key": "undefined", "colorName": "medium-gray", "name": "No Category"},
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {
        "id": 4,
        "key": "indeterminate",
        "colorName": "yellow",
        "name": "In Progress",
    },
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}


@dataclass
class Transition:
    id: str
    name: str
    to: str  # status id
    sources: list[str] = field(default_factory=list)  # status ids; empty = every non-done status
    resolution_field: bool = False  # offers the resolution field on its screen
    default_resolution: str | None = None  # resolution id set when none is given
    clears_resolution: bool = False


@dataclass
class Resolution:
    id: str
    name: str
    description: str = ""


@dataclass
class RequestType:
    id: str
    name: str
    description: str = ""
    key: str = ""


@dataclass
class Organization:
    id: str
    name: str
    members: list[str] = field(default_factory=list)  # account ids
    properties: dict[str, Any] = field(default_factory=dict)
    created: datetime | None = None


@dataclass
class Comment:
    id: str
    author: str
    body: str
    created: datetime
    updated: datetime
    update_author: str
    properties: dict[str, Any] = field(default_factory=dict)
    visibility: dict[str, Any] | None = None

    @property
    def public(self) -> bool:
        """JSM's reading: internal when the ``sd.public.comment`` property says so."""
        prop = self.properties.get("sd.public.comment")
        return not (isinstance(prop, dict) and prop.get("internal") is True)


@dataclass
class ChangeItem:
    field: str
    fieldtype: str
    field_id: str
    from_: str | None
    from_string: str | None
    to: str | None
    to_string: str | None


@dataclass
class History:
    id: str
    author: str
    created: datetime
    items: list[ChangeItem]


@dataclass
class Issue:
    id: int
    key: str
    values: dict[str, Any]
    comments: list[Comment] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    changelog: list[History] = field(default_factory=list)
    #: JSM request participants (account ids): customers who view and comment on the
    #: request beside its reporter (Atlassian, JSM Data Center "Adding request participants")
    participants: list[str] = field(default_factory=list)
    #: the channel JSM recorded the request was raised through, which JQL searches as
    #: ``request-channel-type`` (portal, email, api, jira, anonymousportal: JSM Data Center
    #: API, CustomerRequestChannelSource, "Backing Issue's then can be queried via JQL like
    #: request-channel-type = "api"", https://docs.atlassian.com/jira-servicedesk/10.3.2/
    #: com/atlassian/servicedesk/api/request/CustomerRequestChannelSource.html; on Cloud,
    #: Atlassian Support, Jira Cloud "JQL fields", Request channel type,
    #: https://support.atlassian.com/jira-software-cloud/docs/jql-fields/).
    #: No REST issue field shows it.
    channel: str = "portal"

    @property
    def number(self) -> int:
        return int(self.key.rsplit("-", 1)[1])

    def get(self, field_id: str) -> Any:
        return self.values.get(field_id)


@dataclass
class Project:
    id: str = "10000"
    key: str = "SUP"
    name: str = "Support"
    service_desk_id: str = "1"
    properties: dict[str, Any] = field(default_factory=dict)
    #: the ids of the priorities in the project's priority scheme; None: the default
    #: scheme, which has every priority of the site.  An issue edit naming a priority the
    #: scheme lacks is refused (`Store.in_priority_scheme`).
    priority_ids: list[str] | None = None


@dataclass
class IssueType:
    id: str = "10100"
    name: str = "Support"
    description: str = "A customer's support case."


class StoreError(Exception):
    """A domain error the HTTP layer turns into a Jira-shaped response."""

    def __init__(
        self,
        status: int,
        messages: Iterable[str] = (),
        errors: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.messages = list(messages)
        self.errors = dict(errors or {})
        super().__init__(
            "; ".join([*self.messages, *(f"{k}: {v}" for k, v in self.errors.items())])
        )


@dataclass(frozen=True)
class StoreSnapshot:
    """The issues of a site and its id counters at one moment (:meth:`Store.snapshot`)."""

    issues: tuple[Issue, ...]
    #: next issue id, issue number, comment id, history id
    counters: tuple[int, int, int, int]


# --------------------------------------------------------------------------- store


class Store:
    """One Jira site with one service-desk project."""

    def __init__(self, clock: Clock | None = None, site_tz: str = DEFAULT_SITE_TZ) -> None:
        self.lock = threading.RLock()
        self.clock = clock or Clock()
        self.site_tz = ZoneInfo(site_tz)
        self.project = Project()
        self.issue_types = [IssueType()]
        self.users: dict[str, User] = {}
        self.fields: dict[str, Field] = {}
        self.priorities: list[Priority] = []
        self.statuses: dict[str, Status] = {}
        self.initial_status = ""
        self.transitions: list[Transition] = []
        self.resolutions: list[Resolution] = []
        self.request_types: dict[str, RequestType] = {}
        self.organizations: dict[str, Organization] = {}
        self.issues: dict[str, Issue] = {}
        self.next_issue_id = 10001
        self.next_issue_number = 1
        self.next_comment_id = 10001
        self.next_history_id = 10001
        self.next_custom_id = 10040
        self.next_option_id = 10100
        self.filters: dict[str, SavedFilter] = {}
        #: project permissions a user lacks (account id -> keys), for `mypermissions`
        self.denied_permissions: dict[str, set[str]] = {}
        self.next_filter_id = 10000
        #: bulk transition tasks by id (bridge/sandbox/bulk.py)
        self.bulk_tasks: dict[str, dict[str, Any]] = {}
        self.next_bulk_task = 10600
        self.next_context_id = 10300
        #: bumped on every mutation: search snapshots and caches key on it
        self.version = 0
        self._by_id: dict[int, Issue] = {}
        self._by_email: dict[str, User] = {}
        self._comments: dict[str, int] = {}  # comment id -> issue id

    # ----------------------------------------------------------------- metadata setup

    def now(self) -> datetime:
        return self.clock.now()

    def add_user(self, user: User) -> User:
        self.users[user.account_id] = user
        self._by_email[user.email.lower()] = user
        return user

    def add_field(
        self,
        name: str,
        kind: str,
        options: Iterable[str] = (),
        *,
        field_id: str | None = None,
    ) -> Field:
        if kind not in FIELD_KINDS:
            raise ValueError(f"unknown field kind {kind!r}")
        custom = field_id is None or field_id.startswith("customfield_")
        if field_id is None:
            field_id = f"customfield_{self.next_custom_id}"
            self.next_custom_id += 1
        opts = []
        for value in options:
            opts.append(Option(str(self.next_option_id), value))
            self.next_option_id += 1
        f = Field(field_id, name, kind, custom=custom, options=opts)
        self.fields[field_id] = f
        return f

    def field_by_name(self, name: str) -> Field | None:
        low = name.lower()
        return next((f for f in self.fields.values() if f.name.lower() == low), None)

    def add_options(self, f: Field, values: Iterable[str]) -> None:
        """Add options to a select list, as an administrator does in Jira's administration
        pages (Data Center's REST API has no route for it)."""
        with self.lock:
            for value in values:
                if value not in {o.value for o in f.options}:
                    f.options.append(Option(str(self.next_option_id), value))
                    self.next_option_id += 1
            self._touch()

    def name_fields_as_datacenter(self) -> None:
        """JSM Data Center names its request type field "Customer Request Type" (the
        field JSM creates: "the Customer Request Type custom field, that is created by
        Jira Service Management", docs.atlassian.com/jira-servicedesk, Java API
        ``com.atlassian.servicedesk.api.request.type.CustomerRequestType``); Cloud calls
        it "Request Type".  Called once for a Data Center site."""
        f = self.field_of_kind("requesttype")
        if f is not None and f.name == "Request Type":
            f.name = "Customer Request Type"

    def field_of_kind(self, kind: str) -> Field | None:
        return next((f for f in self.fields.values() if f.kind == kind and f.custom), None)

    def user(self, account_id: str | None) -> User | None:
        return self.users.get(account_id) if account_id else None

    def user_by_email(self, email: str) -> User | None:
        return self._by_email.get(email.lower())

    def user_by_name(self, name: str) -> User | None:
        low = name.lower()
        return next((u for u in self.users.values() if u.name.lower() == low), None)

    def find_user(self, ref: str) -> User | None:
        """Account id, e-mail, or Data Center user name."""
        return self.users.get(ref) or self.user_by_email(ref) or self.user_by_name(ref)

    def priority(self, pid: str | None) -> Priority | None:
        return next((p for p in self.priorities if p.id == pid), None)

    def priority_by_name(self, name: str) -> Priority | None:
        low = name.lower()
        return next((p for p in self.priorities if p.name.lower() == low), None)

    def in_priority_scheme(self, p: Priority) -> bool:
        """Whether the project's priority scheme has ``p`` (a priority of the site may be
        left out of it: Cloud's and Data Center's priority schemes)."""
        ids = self.project.priority_ids
        return ids is None or p.id in ids

    def default_priority(self) -> Priority:
        return next((p for p in self.priorities if p.is_default), self.priorities[0])

    def status_by_name(self, name: str) -> Status | None:
        low = name.lower()
        return next((s for s in self.statuses.values() if s.name.lower() == low), None)

    def resolution(self, rid: str | None) -> Resolution | None:
        return next((r for r in self.resolutions if r.id == rid), None)

    def resolution_by_name(self, name: str) -> Resolution | None:
        low = name.lower()
        return next((r for r in self.resolutions if r.name.lower() == low), None)

    def request_type_by_name(self, name: str) -> RequestType | None:
        low = name.lower()
        return next((r for r in self.request_types.values() if r.name.lower() == low), None)

    def organization_by_name(self, name: str) -> Organization | None:
        low = name.lower()
        return next((o for o in self.organizations.values() if o.name.lower() == low), None)

    def add_organization(self, name: str, members: Iterable[str] = ()) -> Organization:
        oid = str(len(self.organizations) + 1)
        org = Organization(oid, name, list(members), {}, self.now())
        self.organizations[oid] = org
        return org

    # ----------------------------------------------------------------- issues

    def issue(self, key_or_id: str) -> Issue:
        """The issue by key (case-insensitive) or numeric id, else a Jira 404."""
        found = self.issues.get(key_or_id.upper())
        if found is None and key_or_id.isdigit():
            found = self._by_id.get(int(key_or_id))
        if found is None:
            raise StoreError(404, ["Issue does not exist or you do not have permission to see it."])
        return found

    def issue_by_id(self, issue_id: int) -> Issue | None:
        return self._by_id.get(issue_id)

    def find_comment(self, comment_id: str) -> tuple[Issue, Comment] | None:
        found = self._comments.get(comment_id)
        if found is None:
            return None
        issue = self._by_id.get(found)
        if issue is None:
            return None
        c = next((c for c in issue.comments if c.id == comment_id), None)
        return None if c is None else (issue, c)

    def view(self, issue: Issue) -> JqlIssue:
        """The issue as the JQL evaluator sees it."""
        return JqlIssue(self, issue)

    def jql_knows(self, name: str) -> bool:
        """Whether ``name`` (lower-cased clause name) is a field JQL may use."""
        low = name.lower()
        if low in SYSTEM_CLAUSES:
            return True
        if low.startswith("cf[") and low.endswith("]"):
            return f"customfield_{low[3:-1]}" in self.fields
        return low in self.fields or self.field_by_name(low) is not None

    def jql_value_known(self, name: str, value: str) -> bool:
        """Whether a JQL literal names something that exists (Jira refuses unknown values)."""
        low, v = name.lower(), value.lower()
        if low in ("key", "issuekey", "issue"):
            return value.upper() in self.issues or (value.isdigit() and int(value) in self._by_id)
        if low == "status":
            return any(v in (s.name.lower(), s.id) for s in self.statuses.values())
        if low == "priority":
            return any(v in (p.name.lower(), p.id) for p in self.priorities)
        if low == "resolution":
            return any(v in (r.name.lower(), r.id) for r in self.resolutions)
        if low == "project":
            p = self.project
            return v in (p.key.lower(), p.name.lower(), p.id)
        if low in ("issuetype", "type"):
            return any(v in (t.name.lower(), t.id) for t in self.issue_types)
        if low == "statuscategory":
            return any(
                v in (c["name"].lower(), c["key"], str(c["id"])) for c in STATUS_CATEGORIES.values()
            )
        return True

    def jql_rank(self, name: str, value: str) -> float | None:
        """Rank for ordered comparisons (larger = more important)."""
        low, v = name.lower(), value.lower()
        if low == "priority":
            for i, p in enumerate(self.priorities):
                if v in (p.name.lower(), p.id):
                    return float(len(self.priorities) - i)
        if low == "resolution":
            for i, r in enumerate(self.resolutions):
                if v in (r.name.lower(), r.id):
                    return float(len(self.resolutions) - i)
        return None

    def jql_date_field(self, name: str) -> bool:
        low = name.lower()
        if low.startswith("cf[") and low.endswith("]"):
            f = self.fields.get(f"customfield_{low[3:-1]}")
        else:
            f = self.field_by_name(low)
        return f is not None and f.custom and f.kind == "datetime"

    def iter_issues(self) -> Iterator[Issue]:
        return iter(self._by_id[i] for i in sorted(self._by_id))

    def transitions_for(self, issue: Issue) -> list[Transition]:
        status = self.statuses[issue.values["status"]]
        out = []
        for t in self.transitions:
            if t.sources:
                if status.id in t.sources:
                    out.append(t)
            elif status.category != "done" and t.to != status.id:
                out.append(t)
        return out

    def _touch(self) -> None:
        self.version += 1

    def create_issue(
        self,
        actor: User,
        values: dict[str, Any],
        *,
        at: datetime | None = None,
    ) -> Issue:
        """A new issue in the initial status.  No changelog: the values are its start."""
        when = at or self.now()
        vals: dict[str, Any] = {
            "issuetype": self.issue_types[0].id,
            "priority": self.default_priority().id,
            "status": self.initial_status,
            "resolution": None,
            "resolutiondate": None,
            "reporter": actor.account_id,
            "assignee": None,
            "creator": actor.account_id,
            "labels": [],
            "description": None,
        }
        vals.update(values)
        vals["created"] = when
        vals["updated"] = when
        vals["statuscategorychangedate"] = when
        key = f"{self.project.key}-{self.next_issue_number}"
        issue = Issue(self.next_issue_id, key, vals)
        self.next_issue_id += 1
        self.next_issue_number += 1
        self.issues[key] = issue
        self._by_id[issue.id] = issue
        self._touch()
        return issue

    def insert_issue(self, issue: Issue) -> None:
        """Add a fully formed issue (the generator's fast path)."""
        self.issues[issue.key] = issue
        self._by_id[issue.id] = issue
        for c in issue.comments:
            self._comments[c.id] = issue.id
        self.next_issue_id = max(self.next_issue_id, issue.id + 1)
        self.next_issue_number = max(self.next_issue_number, issue.number + 1)
        self._touch()

    # -- change bookkeeping

    def describe(self, f: Field, value: Any) -> tuple[str | None, str | None]:
        """(raw, display) strings of an internal value, as Jira's changelog shows them."""
        if value is None or value == []:
            return None, None
        kind = f.kind
        if kind == "priority":
            p = self.priority(value)
            return value, p.name if p else value
        if kind == "status":
            s = self.statuses.get(value)
            return value, s.name if s else value
        if kind == "resolution":
            r = self.resolution(value)
            return value, r.name if r else value
        if kind == "user":
            u = self.user(value)
            return value, u.display_name if u else value
        if kind == "labels":
            return None, " ".join(value)
        if kind == "select":
            o = f.option_by_id(value)
            return value, o.value if o else value
        if kind == "datetime":
            return format_jira(value, self.site_tz), format_jira(value, self.site_tz)
        if kind == "number":
            return None, _num(value)
        if kind == "organizations":
            names = [self.organizations[o].name for o in value if o in self.organizations]
            return ",".join(value), ",".join(names)
        if kind == "requesttype":
            rt = self.request_types.get(value)
            return value, rt.name if rt else value
        return None, str(value)

    def _item(self, f: Field, old: Any, new: Any) -> ChangeItem:
        fo, fs = self.describe(f, old)
        to, ts = self.describe(f, new)
        name = f.name if f.custom else f.id
        return ChangeItem(name, "custom" if f.custom else "jira", f.id, fo, fs, to, ts)

    def apply_changes(
        self,
        issue: Issue,
        actor: User,
        changes: dict[str, Any],
        *,
        at: datetime | None = None,
    ) -> History | None:
        """Set field values; log what actually changed as one history entry and bump ``updated``.

        Returns None (and touches nothing) when every value is already as asked.
        """
        when = at or self.now()
        items: list[ChangeItem] = []
        for fid, new in changes.items():
            old = issue.values.get(fid)
            if fid == "labels":
                old = list(old or [])
                new = list(new or [])
                if sorted(old) == sorted(new):
                    continue
            elif old == new:
                continue
            f = self.fields[fid]
            items.append(self._item(f, old, new))
            issue.values[fid] = new
            if fid == "status":
                olds = self.statuses.get(old) if old else None
                if olds is None or olds.category != self.statuses[new].category:
                    issue.values["statuscategorychangedate"] = when
        if not items:
            return None
        hist = History(str(self.next_history_id), actor.account_id, when, items)
        self.next_history_id += 1
        issue.changelog.append(hist)
        issue.values["updated"] = max(issue.values["updated"], when)
        self._touch()
        return hist

    def transition(
        self,
        issue: Issue,
        actor: User,
        transition: Transition,
        *,
        resolution: str | None = None,
        extra: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> History | None:
        when = at or self.now()
        changes: dict[str, Any] = {"status": transition.to}
        target = self.statuses[transition.to]
        if transition.clears_resolution or target.category != "done":
            changes["resolution"] = None
            changes["resolutiondate"] = None
        if target.category == "done":
            res = resolution or issue.values.get("resolution") or transition.default_resolution
            if res:
                changes["resolution"] = res
                if not issue.values.get("resolutiondate"):
                    changes["resolutiondate"] = when
        changes.update(extra or {})
        # resolutiondate is not a changelog field in Jira: set it quietly
        rdate = changes.pop("resolutiondate", issue.values.get("resolutiondate"))
        hist = self.apply_changes(issue, actor, changes, at=when)
        issue.values["resolutiondate"] = rdate
        return hist

    def add_participant(self, issue: Issue, user: User, *, at: datetime | None = None) -> None:
        """Share the request with ``user`` (a request participant), as an agent does."""
        if user.account_id not in issue.participants:
            issue.participants.append(user.account_id)
            issue.values["updated"] = max(issue.values["updated"], at or self.now())
            self._touch()

    def add_comment(
        self,
        issue: Issue,
        actor: User,
        body: str,
        *,
        properties: dict[str, Any] | None = None,
        visibility: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> Comment:
        when = at or self.now()
        c = Comment(
            str(self.next_comment_id),
            actor.account_id,
            body,
            when,
            when,
            actor.account_id,
            dict(properties or {}),
            visibility,
        )
        self.next_comment_id += 1
        issue.comments.append(c)
        self._comments[c.id] = issue.id
        issue.values["updated"] = max(issue.values["updated"], when)
        self._touch()
        return c

    def set_property(self, props: dict[str, Any], key: str, value: Any) -> bool:
        """Returns True when the property was created (201), False when replaced (200)."""
        created = key not in props
        props[key] = value
        self._touch()
        return created

    def delete_property(self, props: dict[str, Any], key: str) -> None:
        del props[key]
        self._touch()

    # ----------------------------------------------------------------- restore points

    def snapshot(self) -> StoreSnapshot:
        """A copy of every issue (fields, comments, properties, changelog) and the id
        counters, to :meth:`restore` later.  Site metadata (users, fields, workflow,
        organisations) is not part of it: it stays as it is."""
        with self.lock:
            return StoreSnapshot(
                copy.deepcopy(tuple(self.iter_issues())),
                (
                    self.next_issue_id,
                    self.next_issue_number,
                    self.next_comment_id,
                    self.next_history_id,
                ),
            )

    def restore(self, snap: StoreSnapshot, keys: Iterable[str] | None = None) -> None:
        """Put issues back as they were at ``snap``.

        Without ``keys``, the whole site: issues created since are gone and the id
        counters are as they were.  With ``keys``, only those issues (one missing from
        ``snap`` is removed); the rest and the counters stay, so new ids stay unique.
        The store's version moves on either way: caches keyed on it never serve the
        state from before."""
        with self.lock:
            wanted = None if keys is None else set(keys)
            if wanted is None:
                self.issues.clear()
                self._by_id.clear()
                self._comments.clear()
                (
                    self.next_issue_id,
                    self.next_issue_number,
                    self.next_comment_id,
                    self.next_history_id,
                ) = snap.counters
            else:
                for key in wanted & set(self.issues):
                    gone = self.issues.pop(key)
                    del self._by_id[gone.id]
                    for c in gone.comments:
                        self._comments.pop(c.id, None)
            for saved in snap.issues:
                if wanted is None or saved.key in wanted:
                    issue = copy.deepcopy(saved)
                    self.issues[issue.key] = issue
                    self._by_id[issue.id] = issue
                    for c in issue.comments:
                        self._comments[c.id] = issue.id
            self._touch()

    # ----------------------------------------------------------------- persistence

    def to_json(self) -> dict[str, Any]:
        meta = {
            "site_tz": self.site_tz.key,
            "project": asdict(self.project),
            "issue_types": [asdict(t) for t in self.issue_types],
            "users": [asdict(u) for u in self.users.values()],
            "fields": [asdict(f) for f in self.fields.values()],
            "priorities": [asdict(p) for p in self.priorities],
            "statuses": [asdict(s) for s in self.statuses.values()],
            "initial_status": self.initial_status,
            "transitions": [asdict(t) for t in self.transitions],
            "resolutions": [asdict(r) for r in self.resolutions],
            "request_types": [asdict(r) for r in self.request_types.values()],
            "organizations": [asdict(o) for o in self.organizations.values()],
            "filters": [asdict(f) for f in self.filters.values()],
            "counters": {
                "issue_id": self.next_issue_id,
                "issue_number": self.next_issue_number,
                "comment_id": self.next_comment_id,
                "history_id": self.next_history_id,
                "custom_id": self.next_custom_id,
                "option_id": self.next_option_id,
            },
        }
        return {
            "format": "jsm-bridge-sandbox/1",
            "clock": self.now().isoformat(),
            "meta": meta,
            "issues": [asdict(i) for i in self.iter_issues()],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], clock: Clock | None = None) -> Store:
        if data.get("format") != "jsm-bridge-sandbox/1":
            raise ValueError("not a sandbox state file (expected format jsm-bridge-sandbox/1)")
        meta = data["meta"]
        store = cls(clock or Clock(parse_instant(data["clock"])), site_tz=meta["site_tz"])
        store.project = Project(**meta["project"])
        store.issue_types = [IssueType(**t) for t in meta["issue_types"]]
        for u in meta["users"]:
            store.add_user(User(**u))
        for f in meta["fields"]:
            f["options"] = [Option(**o) for o in f["options"]]
            store.fields[f["id"]] = Field(**f)
        store.filters = {f["id"]: SavedFilter(**f) for f in meta.get("filters", [])}
        if store.filters:
            store.next_filter_id = max(int(i) for i in store.filters) + 1
        contexts = [int(f.context_id) for f in store.fields.values() if f.context_id]
        store.next_context_id = max([store.next_context_id - 1, *contexts]) + 1
        store.priorities = [Priority(**p) for p in meta["priorities"]]
        store.statuses = {s["id"]: Status(**s) for s in meta["statuses"]}
        store.initial_status = meta["initial_status"]
        store.transitions = [Transition(**t) for t in meta["transitions"]]
        store.resolutions = [Resolution(**r) for r in meta["resolutions"]]
        store.request_types = {r["id"]: RequestType(**r) for r in meta["request_types"]}
        store.organizations = {o["id"]: Organization(**o) for o in meta["organizations"]}
        c = meta["counters"]
        store.next_issue_id = c["issue_id"]
        store.next_issue_number = c["issue_number"]
        store.next_comment_id = c["comment_id"]
        store.next_history_id = c["history_id"]
        store.next_custom_id = c["custom_id"]
        store.next_option_id = c["option_id"]
        for raw in data["issues"]:
            raw["comments"] = [Comment(**x) for x in raw["comments"]]
            raw["changelog"] = [
                History(
                    h["id"],
                    h["author"],
                    h["created"],
                    [ChangeItem(**it) for it in h["items"]],
                )
                for h in raw["changelog"]
            ]
            issue = Issue(**raw)
            store.issues[issue.key] = issue
            store._by_id[issue.id] = issue
            for cm in issue.comments:
                store._comments[cm.id] = issue.id
        return store

    def save(self, path: str | Path) -> None:
        """Atomic write: a temporary file in the same directory, then rename."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        with self.lock:
            text = json.dumps(self.to_json(), default=_encode, separators=(",", ":"))
        fd, tmp = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: str | Path, clock: Clock | None = None) -> Store:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"), object_hook=_decode)
        except (OSError, json.JSONDecodeError) as exc:
            raise ValueError(f"cannot read sandbox state {path}: {exc}") from exc
        return cls.from_json(data, clock)


def _encode(obj: Any) -> Any:
    if isinstance(obj, datetime):
        return {"$dt": obj.isoformat()}
    raise TypeError(f"cannot store {type(obj).__name__}")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$dt" in obj:
        return datetime.fromisoformat(obj["$dt"])
    return obj


SYSTEM_CLAUSES = {
    "project",
    "key",
    "issuekey",
    "id",
    "issue",
    "summary",
    "description",
    "text",
    "status",
    "statuscategory",
    "priority",
    "labels",
    "reporter",
    "assignee",
    "creator",
    "created",
    "createddate",
    "updated",
    "updateddate",
    "resolved",
    "resolutiondate",
    "resolution",
    "issuetype",
    "type",
    "organizations",
    "request type",
    "customer request type",
    "request-channel-type",
}


class JqlIssue:
    """Adapter from an :class:`Issue` to the JQL evaluator's ``IssueView`` protocol."""

    __slots__ = ("issue", "store")

    def __init__(self, store: Store, issue: Issue) -> None:
        self.store = store
        self.issue = issue

    def _user(self, account_id: str | None) -> list[object]:
        u = self.store.user(account_id)
        return [] if u is None else [u.account_id, u.email, u.display_name]

    def jql_values(self, name: str) -> list[object]:
        store, v = self.store, self.issue.values
        low = name.lower()
        if low == "project":
            proj = store.project
            return [proj.key, proj.name, proj.id]
        if low in ("key", "issuekey", "issue"):
            return [self.issue.key]
        if low == "id":
            return [str(self.issue.id)]
        if low == "summary":
            return [v["summary"]] if v.get("summary") else []
        if low in ("description",):
            return [v["description"]] if v.get("description") else []
        if low == "text":
            return [x for x in (v.get("summary"), v.get("description")) if x]
        if low == "status":
            s = store.statuses[v["status"]]
            return [s.name, s.id]
        if low == "statuscategory":
            cat = STATUS_CATEGORIES[store.statuses[v["status"]].category]
            return [cat["name"], cat["key"], str(cat["id"])]
        if low == "priority":
            p = store.priority(v.get("priority"))
            return [] if p is None else [p.name, p.id]
        if low == "labels":
            return list(v.get("labels") or [])
        if low in ("reporter", "assignee", "creator"):
            return self._user(v.get(low))
        if low in ("created", "createddate"):
            return [v["created"]]
        if low in ("updated", "updateddate"):
            return [v["updated"]]
        if low in ("resolved", "resolutiondate"):
            return [v["resolutiondate"]] if v.get("resolutiondate") else []
        if low == "resolution":
            r = store.resolution(v.get("resolution"))
            return [] if r is None else [r.name, r.id]
        if low in ("issuetype", "type"):
            t = store.issue_types[0]
            return [t.name, t.id]
        if low == "request-channel-type":
            return [self.issue.channel]
        f: Field | None
        if low in ("request type", "customer request type"):
            f = store.field_of_kind("requesttype")
        elif low.startswith("cf[") and low.endswith("]"):
            f = store.fields.get(f"customfield_{low[3:-1]}")
        else:
            f = store.fields.get(low) or store.field_by_name(low)
        if f is None:
            return []
        return self._custom(f)

    def _custom(self, f: Field) -> list[object]:
        raw = self.issue.values.get(f.id)
        if raw is None or raw == []:
            return []
        if f.kind == "select":
            o = f.option_by_id(raw)
            return [] if o is None else [o.value, o.id]
        if f.kind == "organizations":
            return [self.store.organizations[o].name for o in raw if o in self.store.organizations]
        if f.kind == "requesttype":
            rt = self.store.request_types.get(raw)
            return [] if rt is None else [rt.name]
        if f.kind == "user":
            return self._user(raw)
        return [raw]

    def sort_value(self, name: str) -> object:
        low = name.lower()
        store, v = self.store, self.issue.values
        if low == "priority":
            ids = [p.id for p in store.priorities]
            pid = v.get("priority")
            return len(ids) - ids.index(pid) if pid in ids else 0
        if low in ("key", "issuekey", "id"):
            return self.issue.id
        vals = self.jql_values(low)
        return vals[0] if vals else None


@functools.lru_cache(maxsize=1 << 16)
def format_jira(dt: datetime, tz: ZoneInfo) -> str:
    """Jira's timestamp format: ``2026-11-27T09:00:00.000+1000`` in the site's zone."""
    local = dt.astimezone(tz)
    return (
        local.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{local.microsecond // 1000:03d}"
        + local.strftime("%z")
    )


def _num(value: Any) -> str:
    f = float(value)
    return str(int(f)) if f.is_integer() else str(f)
