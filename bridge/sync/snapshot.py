"""Jira issue JSON → `IssueSnapshot`, the plain values the policy works on.

The issue is the shape ``search`` / ``get issue`` return with the fields of
`bridge.sync.poll.needed_fields`, ``expand=changelog`` and, when asked,
``properties=["jsm-bridge"]``.  A malformed issue raises `SnapshotError` so the
cycle logs it with its key and goes on with the others.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from bridge.jira.fields import FieldMap, parse_jira_datetime
from bridge.jira.jsondepth import MALFORMED
from bridge.policy.model import (
    Actor,
    AssigneeChange,
    CaseComment,
    IssueSnapshot,
    Person,
    PriorityChange,
    StatusChange,
)
from bridge.sync.customers import identities

#: The bridge's issue entity property, and the comment property carrying an action id.
LEDGER_PROPERTY = "jsm-bridge"
INTERNAL_COMMENT_PROPERTY = "sd.public.comment"


#: Set on a raw issue (Data Center) by `bridge.sync.poll.with_reads`: the case-folded
#: identities of the request's participants, who are customers of that request.
PARTICIPANTS = "_jsm_bridge_participants"


class _Either(Collection[str]):
    """Membership in either of two collections (the site's customers, one request's
    participants) without copying the larger one."""

    def __init__(self, first: Collection[str], second: Collection[str]) -> None:
        self.first = first
        self.second = second

    def __contains__(self, item: object) -> bool:
        return item in self.second or item in self.first

    def __iter__(self) -> Iterator[str]:
        yield from self.second
        yield from (i for i in self.first if i not in self.second)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class SnapshotError(Exception):
    """An issue the bridge cannot read; the cycle logs it and skips the issue."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


def to_person(
    user: Any, *, bridge_account_id: str, customers: Collection[str] = ()
) -> Person | None:
    """A Jira user object as a `Person` (None when there is no user).

    The actor: the bridge's own account → BRIDGE; ``accountType: "customer"`` →
    CUSTOMER; a user one of whose case-folded identities (e-mail, name, key, id) is in
    ``customers`` (for Data Center, where users carry no ``accountType``: see
    `bridge.sync.customers`) → CUSTOMER; ``accountType: "app"`` (Cloud: "system account
    used for Connect applications and OAuth to represent external systems", the User
    schema of the platform REST API) → APP; anyone else → ENGINEER.  Data Center tells
    no app apart from a person: an automation there acts as the user it runs as.
    """
    if not isinstance(user, Mapping):
        return None
    ids = identities(user)
    account_type = user.get("accountType")
    if bridge_account_id and bridge_account_id.casefold() in ids:
        actor = Actor.BRIDGE
    elif account_type == "customer" or (account_type is None and any(i in customers for i in ids)):
        actor = Actor.CUSTOMER
    elif account_type == "app":
        actor = Actor.APP
    elif ids:
        actor = Actor.ENGINEER
    else:
        actor = Actor.UNKNOWN
    email = user.get("emailAddress")
    return Person(
        account_id=str(user.get("accountId") or user.get("name") or user.get("key") or ""),
        display_name=str(user.get("displayName") or email or ""),
        email=str(email).casefold() if email else None,
        actor=actor,
    )


def _time(key: str, value: Any, what: str) -> datetime:
    """A Jira time as an instant in UTC.

    Jira writes times in the site's zone, and every parsed time gets a zone object of
    its own; comparing, subtracting or taking ``timestamp()`` of two such times asks
    both zones for their offsets, about a microsecond each time.  In UTC they share one
    zone object, so all of that is plain arithmetic, and the business calendar takes
    its exact UTC path.  Due times and the other times evaluation shows are in the
    customer's calendar zone; a priority change's time in the priority reason is
    shown as ISO 8601 in UTC.
    """
    if value is None or value == "":
        raise SnapshotError(key, f"{what} is missing")
    try:
        parsed = parse_jira_datetime(value)
    except (TypeError, ValueError):
        raise SnapshotError(key, f"{what} is not a Jira datetime: {value!r}") from None
    return parsed if parsed.tzinfo is UTC else parsed.astimezone(UTC)


def _name(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("name")
    if isinstance(value, str) and value.strip():
        return value
    return None


def _properties(raw: Any) -> dict[str, Any]:
    """Entity properties as key -> value, from a list of {key, value} or a mapping."""
    if isinstance(raw, Mapping):
        return dict(raw)
    out: dict[str, Any] = {}
    if isinstance(raw, list):
        for item in raw:
            if isinstance(item, Mapping) and isinstance(item.get("key"), str):
                out[item["key"]] = item.get("value")
    return out


def comment_action_id(comment: Mapping[str, Any]) -> str | None:
    """The bridge's action id carried by a comment (its ``jsm-bridge`` property), if any."""
    prop = _properties(comment.get("properties")).get(LEDGER_PROPERTY)
    if isinstance(prop, Mapping) and isinstance(prop.get("action_id"), str):
        return str(prop["action_id"])
    return None


def comment_action_ids(comment: Mapping[str, Any]) -> tuple[str, ...]:
    """Every action id a comment carries: its ``action_id`` and, for a comment that merges
    several of the bridge's actions, the ``action_ids`` listed beside it."""
    first = comment_action_id(comment)
    if first is None:
        return ()
    prop = _properties(comment.get("properties")).get(LEDGER_PROPERTY)
    listed = prop.get("action_ids") if isinstance(prop, Mapping) else None
    more = [a for a in listed if isinstance(a, str)] if isinstance(listed, list) else []
    return tuple(dict.fromkeys([first, *more]))


def _comment_public(comment: Mapping[str, Any]) -> bool:
    public = comment.get("jsdPublic")
    if isinstance(public, bool):
        return public
    flag = _properties(comment.get("properties")).get(INTERNAL_COMMENT_PROPERTY)
    return not (isinstance(flag, Mapping) and flag.get("internal") is True)


def _histories(issue: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    changelog = issue.get("changelog") or {}
    histories = changelog.get("histories") if isinstance(changelog, Mapping) else None
    return [h for h in histories or [] if isinstance(h, Mapping)]


def to_snapshot(
    issue: Mapping[str, Any],
    fields: FieldMap,
    *,
    bridge_account_id: str,
    status_categories: Mapping[str, str],
    customers: Collection[str] = (),
) -> IssueSnapshot:
    """Reduce one issue's JSON to an `IssueSnapshot` (raises `SnapshotError`)."""
    key = issue.get("key")
    if not isinstance(key, str) or not key:
        raise SnapshotError(str(issue.get("id") or "?"), "issue has no key")
    if MALFORMED in issue:  # marked by the client: a value nested past what can be read
        raise SnapshotError(key, str(issue[MALFORMED]))
    raw = issue.get("fields")
    if not isinstance(raw, Mapping):
        raise SnapshotError(key, "issue has no fields (was the search asked for fields?)")

    categories = {name.casefold(): cat for name, cat in status_categories.items()}

    participants = issue.get(PARTICIPANTS)
    if isinstance(participants, list) and participants:
        customers = _Either(customers, frozenset(str(p) for p in participants))

    def person(user: Any) -> Person | None:
        return to_person(user, bridge_account_id=bridge_account_id, customers=customers)

    created = _time(key, raw.get("created"), "created")
    updated = _time(key, raw.get("updated"), "updated") if raw.get("updated") else created

    status_raw = raw.get("status")
    status = _name(status_raw)
    if status is None:
        raise SnapshotError(key, "status is missing")
    category = None
    if isinstance(status_raw, Mapping) and status_raw.get("statusCategory") is not None:
        given = status_raw["statusCategory"]
        if not isinstance(given, Mapping):
            raise SnapshotError(key, f"status {status!r} has a malformed category: {given!r}"[:200])
        category = given.get("key")
    if not isinstance(category, str):
        category = categories.get(status.casefold())
    if category is None:
        raise SnapshotError(key, f"status {status!r} has no known status category")

    priority = _name(raw.get("priority"))

    # -- comments --------------------------------------------------------------------------
    comment_block = raw.get("comment")
    raw_comments: list[Any] = []
    if isinstance(comment_block, Mapping):
        raw_comments = list(comment_block.get("comments") or [])
    elif isinstance(comment_block, list):
        raw_comments = comment_block
    comments: list[CaseComment] = []
    for c in raw_comments:
        if not isinstance(c, Mapping):
            raise SnapshotError(key, f"malformed comment: {c!r}")
        author = person(c.get("author")) or Person("", "", None, Actor.UNKNOWN)
        comments.append(
            CaseComment(
                id=str(c.get("id") or ""),
                author=author,
                created=_time(key, c.get("created"), f"comment {c.get('id')} created"),
                public=_comment_public(c),
                action_id=comment_action_id(c),
                action_ids=comment_action_ids(c),
            )
        )
    comments.sort(key=lambda c: (c.created, c.id))

    # -- history ---------------------------------------------------------------------------
    status_history: list[StatusChange] = []
    priority_history: list[PriorityChange] = []
    assignee_history: list[AssigneeChange] = []
    for h in _histories(issue):
        at = _time(key, h.get("created"), f"changelog {h.get('id')} created")
        changer = person(h.get("author"))
        by = changer.actor if changer is not None else Actor.UNKNOWN
        for item in h.get("items") or []:
            if not isinstance(item, Mapping):
                continue
            name = str(item.get("field") or item.get("fieldId") or "").casefold()
            to_text = item.get("toString")
            if name == "status" and isinstance(to_text, str):
                status_history.append(
                    StatusChange(
                        at=at,
                        from_status=item.get("fromString"),
                        to_status=to_text,
                        # a status renamed or deleted since: assume work in progress
                        to_category=categories.get(to_text.casefold(), "indeterminate"),
                        by=by,
                    )
                )
            elif name == "assignee":
                # Cloud and Data Center both log the assignee as field "assignee"
                # (toString: the display name, None when unassigned)
                to_name = item.get("toString")
                assignee_history.append(
                    AssigneeChange(at, by, to_name if isinstance(to_name, str) else None)
                )
            elif name == "priority" and isinstance(to_text, str):
                priority_history.append(
                    PriorityChange(
                        at=at,
                        from_name=item.get("fromString"),
                        to_name=to_text,
                        by=by,
                    )
                )
    status_history.sort(key=lambda s: s.at)
    priority_history.sort(key=lambda p: p.at)
    assignee_history.sort(key=lambda a: a.at)
    initial_priority = priority
    if priority_history:
        initial_priority = priority_history[0].from_name or priority_history[0].to_name

    # -- custom fields -----------------------------------------------------------------------
    logical_values: dict[str, str | None] = {}
    for logical, site_field in fields.by_logical.items():
        logical_values[logical] = fields.decode(logical, raw.get(site_field.id))
    organization = logical_values.get("organization")
    request_type = logical_values.get("request_type")

    labels = raw.get("labels") or []
    components = raw.get("components") or []
    if not isinstance(labels, list) or not isinstance(components, list):
        raise SnapshotError(key, "labels/components are not lists")

    assignee_raw = raw.get("assignee")
    assignee = None
    if isinstance(assignee_raw, Mapping):
        ref = assignee_raw.get("emailAddress") or assignee_raw.get("accountId")
        ref = ref or assignee_raw.get("name")
        assignee = str(ref).casefold() if assignee_raw.get("emailAddress") else ref

    resolved_raw = raw.get("resolutiondate")
    return IssueSnapshot(
        key=key,
        created=created,
        updated=updated,
        summary=str(raw.get("summary") or ""),
        status=status,
        status_category=category,
        reporter=person(raw.get("reporter")),
        organization=organization,
        priority=priority,
        request_type=request_type,
        labels=frozenset(str(x) for x in labels if x),
        components=frozenset(n for n in (_name(c) for c in components) if n),
        fields=logical_values,
        comments=tuple(comments),
        status_history=tuple(status_history),
        priority_history=tuple(priority_history),
        initial_priority=initial_priority,
        resolution=_name(raw.get("resolution")),
        resolved=_time(key, resolved_raw, "resolutiondate") if resolved_raw else None,
        assignee=assignee,
        assignee_history=tuple(assignee_history),
    )


def ledger_of(issue: Mapping[str, Any]) -> Any | None:
    """The bridge's ``jsm-bridge`` issue property as the search returned it, if any."""
    return _properties(issue.get("properties")).get(LEDGER_PROPERTY)
