"""The reading side of a cycle: JQL for the cases in scope, and snapshots from it.

JQL is built from quoted, escaped literals only (`jql_string`), never by pasting
a name into a query.  Reads ask for the fields the policy needs, the bridge's
``jsm-bridge`` issue property and the changelog, in one search; only an issue
whose embedded changelog or comments were cut short costs an extra request.

Data Center differs in three ways (`read_issues` with ``datacenter=True``):

* its search returns no issue properties (JRASERVER-62898), so the ledger is not asked
  for here: the cycle reads it per issue that has something to do;
* its comments carry no ``jsdPublic``: whether one is internal is its
  ``sd.public.comment`` property, which only ``GET /issue/{key}/comment?expand=properties``
  shows (JSM Data Center, "Adding internal comments through the REST API").  Those are
  read only for an issue holding an engineer's comment that this process has not seen
  before (customers cannot write internal comments, and the bridge's own comments do not
  count as responses); what was learnt is kept in ``comment_facts`` (comment id → its
  properties) for later cycles.  The bridge's own comments are read only when it is about
  to post another on that issue (`unmarked_bridge_comments`, see `bridge.sync.cycle`);
* its users carry no ``accountType``: customers are who JSM lists (`bridge.sync.customers`)
  plus each request's participants, read only for an issue with a comment by someone
  those lists do not name (`unread`).
"""

from __future__ import annotations

import re
from collections.abc import (
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from contextlib import closing
from datetime import datetime, tzinfo
from typing import Any, NamedTuple

from bridge.jira.fields import FieldMap
from bridge.jira.jql import split_order_by
from bridge.jira.port import JiraError, JiraPort, Json, SearchPage
from bridge.jira.retry import CircuitOpen, WaitInterrupted
from bridge.policy.model import Actor, IssueSnapshot, MonthCase
from bridge.policy.tiers import month_case
from bridge.sync.ahead import Readers, read_ahead
from bridge.sync.customers import identities
from bridge.sync.snapshot import (
    INTERNAL_COMMENT_PROPERTY,
    LEDGER_PROPERTY,
    PARTICIPANTS,
    SnapshotError,
    to_person,
    to_snapshot,
)

#: System fields every snapshot needs (custom fields come from the FieldMap).
SYSTEM_FIELDS = (
    "summary",
    "status",
    "issuetype",  # with the project (the key's prefix) and status: which transitions it has
    "created",
    "updated",
    "reporter",
    "assignee",
    "priority",
    "labels",
    "components",
    "resolution",
    "resolutiondate",
    "comment",
)

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def jql_string(value: str) -> str:
    """A JQL string literal: double-quoted, with backslash, quote and controls escaped."""
    out = []
    for ch in str(value):
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def jql_datetime(moment: datetime, tz: tzinfo | None = None) -> str:
    """``"yyyy-MM-dd HH:mm"`` in ``tz`` (the searching user's zone), rounded down to the minute."""
    if moment.tzinfo is None:
        raise ValueError("JQL times need an aware datetime (whose zone is known)")
    local = moment.astimezone(tz) if tz is not None else moment
    return jql_string(local.strftime("%Y-%m-%d %H:%M"))


_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*-[0-9]+$")


def _strip_order_by(jql: str) -> str:
    """The query without a trailing ORDER BY clause (outside quotes)."""
    return split_order_by(jql)[0]


#: Fields whose clauses in the scope leave cases out by where they stand (open, resolved).
_HIDING_FIELDS = ("status", "statuscategory", "resolution", "resolutiondate", "resolved")
_OPERATOR = r"(!=|=|!~|~|>=|<=|>|<|not\s+in\b|in\b|is\b|was\b|changed\b)"
_CLAUSE = re.compile(r"\b(" + "|".join(_HIDING_FIELDS) + r")\b\s*" + _OPERATOR, re.IGNORECASE)
_CLAUSE_END = re.compile(r"\s+(and|or|order\s+by)\s+|\)\s*(and|or|$)", re.IGNORECASE)


def _blank_quotes(jql: str) -> str:
    """The query with the inside of every quoted literal blanked (same length)."""
    out, quote, escaped = [], None, False
    for ch in jql:
        if quote is not None:
            out.append(" " if ch != quote or escaped else ch)
            escaped = ch == "\\" and not escaped
            if ch == quote and not escaped:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        out.append(ch)
    return "".join(out)


def scope_status_clauses(base_jql: str) -> list[str]:
    """The clauses of the scope that select cases by status or resolution (e.g.
    ``resolution = EMPTY``): such a scope leaves cases of the month out, so the quota
    is not counted from the scope (SPEC §2: the count does not depend on it)."""
    return _clauses(base_jql, _CLAUSE)


#: ``project = X`` and ``project in (X, Y)`` (not ``!=`` nor ``not in``)
_PROJECTS = re.compile(
    r"""\bproject\s*(?:=\s*("[^"]*"|'[^']*'|[\w-]+)|in\s*\(([^)]*)\))""", re.IGNORECASE
)


def scope_projects(base_jql: str) -> list[str]:
    """The projects the scope names (``project = SUP``, ``project in (SUP, OPS)``), as
    written, sorted: where a month's cases are counted when the scope's cases are not
    all of them (`projects_jql`), even when the scope finds none of the month's now."""
    return sorted(named_projects(base_jql))


def named_projects(base_jql: str) -> list[str]:
    """The projects the scope names, as written, in the order written (the first holds
    the site lock: `lock_project`)."""
    found: list[str] = []
    for match in _PROJECTS.finditer(_blank_quotes(base_jql)):  # not inside a literal
        one, many = match.span(1), match.span(2)
        listed = [base_jql[slice(*one)]] if one[0] >= 0 else base_jql[slice(*many)].split(",")
        found.extend(p.strip().strip("\"'") for p in listed)
    return list(dict.fromkeys(p for p in found if p))


def projects_jql(projects: Iterable[str]) -> str:
    """The cases of ``projects`` (keys or names), whatever their status: where a
    customer's month is counted when the scope selects by status, resolution or
    organisation (`scope_status_clauses`, `scope_field_clauses`)."""
    listed = ", ".join(jql_string(p) for p in sorted(set(projects)))
    return f"project in ({listed})"


def project_of(key: str) -> str:
    """``"SUP-12"`` → ``"SUP"``."""
    return key.rsplit("-", 1)[0]


def customers_clause(
    fieldmap: FieldMap | None, organizations: Iterable[str], *, unnamed: bool
) -> str:
    """The cases naming one of ``organizations`` (and with ``unnamed``, those naming
    none: such a case counts for the customer its reporter belongs to)."""
    clause = field_clause(fieldmap, "organization", "Organizations")
    listed = ", ".join(jql_string(n) for n in sorted(organizations))
    return (
        f"({clause} in ({listed}) OR {clause} is EMPTY)" if unnamed else f"{clause} in ({listed})"
    )


def organization_names(fieldmap: FieldMap | None, configured: str | None = None) -> list[str]:
    """The names JQL may give the organisation field: as the site names it and by its id
    (``cf[10002]``); without the site, as the config names it (``configured``)."""
    org = fieldmap.get("organization") if fieldmap is not None else None
    if org is not None:
        return [org.name, f"cf[{org.id.removeprefix('customfield_')}]"]
    return [configured or "Organizations"]


def scope_field_clauses(base_jql: str, names: Iterable[str]) -> list[str]:
    """The clauses of the scope on the fields ``names`` (as JQL names them: bare, quoted
    or ``cf[10002]``), e.g. ``Organizations is EMPTY``.  A scope on the organisation
    field leaves out cases a customer's month counts (its contacts' cases naming no
    organisation, or those naming it), so the quota is not counted from it either."""
    spelled = [rf'"{re.escape(n)}"|(?<![\w"])' + re.escape(n) + r"(?![\w\]])" for n in names if n]
    if not spelled:
        return []
    field = re.compile(rf"({'|'.join(spelled)})\s*{_OPERATOR}", re.IGNORECASE)
    return _clauses(base_jql, field, quoted_names=True)


def _clauses(jql: str, field: re.Pattern[str], *, quoted_names: bool = False) -> list[str]:
    """Each clause of ``jql`` whose field ``field`` matches, outside quoted literals (a
    quoted field name, ``"Organizations" = ...``, is matched in the query itself)."""
    blanked = _blank_quotes(jql)
    found = []
    for match in field.finditer(jql if quoted_names else blanked):
        if quoted_names and blanked[match.start()] != jql[match.start()]:
            continue  # inside a quoted literal, not a clause
        end = _CLAUSE_END.search(blanked, match.end())
        stop = end.start() if end is not None else len(jql)
        clause = jql[match.start() : stop].strip()
        found.append(clause + ")" * (clause.count("(") - clause.count(")")))
    return found


def _scope(base_jql: str) -> str:
    base = _strip_order_by(base_jql)
    if not base:
        raise ValueError("jira.jql is empty: give the bridge a scope such as 'project = SUP'")
    return f"({base})"


def scope_jql(
    base_jql: str,
    *,
    updated_since: datetime | None,
    keys: Sequence[str] = (),
    tz: tzinfo | None = None,
) -> str:
    """The cases to read this cycle: all in scope, or those updated since the watermark
    plus ``keys`` (issues whose next time-driven moment has passed)."""
    scope = _scope(base_jql)
    if updated_since is None:
        return f"{scope} ORDER BY key ASC"
    for k in keys:
        if not _KEY.match(k):
            raise ValueError(f"not an issue key: {k!r}")
    clause = f"updated >= {jql_datetime(updated_since, tz)}"
    if keys:
        listed = ", ".join(jql_string(k.upper()) for k in sorted(set(keys)))
        clause = f"{clause} OR key in ({listed})"
    return f"{scope} AND ({clause}) ORDER BY key ASC"


def is_issue_key(text: str) -> bool:
    return bool(_KEY.match(text))


def scope_and(base_jql: str, clause: str) -> str:
    """The scope narrowed by ``clause`` (built from quoted literals), ordered by key."""
    return f"{_scope(base_jql)} AND ({clause}) ORDER BY key ASC"


def keys_jql(base_jql: str, keys: Sequence[str]) -> str:
    """The cases ``keys`` (quoted), as long as they are in the scope."""
    for k in keys:
        if not is_issue_key(k):
            raise ValueError(f"{k!r} is not an issue key (e.g. SUP-12)")
    listed = ", ".join(jql_string(k.upper()) for k in keys)
    return scope_and(base_jql, f"key in ({listed})")


def field_clause(fieldmap: FieldMap | None, logical: str, default_name: str) -> str:
    """How JQL names a configured field: its quoted site name (``"Organizations"``)."""
    if fieldmap is not None and logical in fieldmap:
        return fieldmap.jql_name(logical)
    return jql_string(default_name)


def month_cases_jql(
    base_jql: str,
    organization: str,
    month_start: datetime,
    *,
    org_field: str = '"Organizations"',
    tz: tzinfo | None = None,
) -> str:
    """One organisation's cases created since ``month_start`` (``org_field`` from `field_clause`)."""
    return (
        f"{_scope(base_jql)} AND {org_field} = {jql_string(organization)}"
        f" AND created >= {jql_datetime(month_start, tz)} ORDER BY key ASC"
    )


#: What quota ranking needs of a case (`bridge.policy.tiers.month_case` and the customer it
#: counts for) and whether the channel reminder asks about it: no comments, no history.
RANKING_FIELDS = ("created", "resolution", "status", "reporter")
RANKING_CUSTOM = ("organization", "request_type", "product")


def ranking_fields(fieldmap: FieldMap) -> list[str]:
    """`RANKING_FIELDS` plus the configured fields ranking reads (organisation, request
    type, product)."""
    return [*RANKING_FIELDS, *(fieldmap.id(n) for n in RANKING_CUSTOM if n in fieldmap)]


def needed_fields(fieldmap: FieldMap, extra: Iterable[str] = ()) -> list[str]:
    """System fields plus the configured custom fields, without duplicates, in order."""
    out: list[str] = []
    for f in (*SYSTEM_FIELDS, *fieldmap.ids(), *extra):
        if f not in out:
            out.append(f)
    return out


def _truncated(block: Any, items_key: str) -> bool:
    if not isinstance(block, Mapping):
        return False
    items = block.get(items_key)
    total = block.get("total")
    return isinstance(items, list) and isinstance(total, int) and len(items) < total


def complete_issue(port: JiraPort, issue: dict[str, Any]) -> dict[str, Any]:
    """Fill in the changelog and comments when the search cut them short (one issue only)."""
    key = str(issue.get("key"))
    changelog = issue.get("changelog")
    if _truncated(changelog, "histories"):
        histories = list(port.changelog(key))
        issue["changelog"] = {
            "startAt": 0,
            "maxResults": len(histories),
            "total": len(histories),
            "histories": histories,
        }
    fields = issue.get("fields")
    if isinstance(fields, dict) and _truncated(fields.get("comment"), "comments"):
        comments = port.comments(key)
        fields["comment"] = {
            "startAt": 0,
            "maxResults": len(comments),
            "total": len(comments),
            "comments": comments,
        }
    return issue


#: the comment properties that matter to the bridge (internal flag, its own action id)
_COMMENT_PROPERTIES = (INTERNAL_COMMENT_PROPERTY, LEDGER_PROPERTY)


def _kept_properties(comment: Mapping[str, Any]) -> dict[str, Any]:
    raw = comment.get("properties")
    items = raw.items() if isinstance(raw, Mapping) else []
    if isinstance(raw, list):
        items = [
            (p.get("key"), p.get("value"))
            for p in raw
            if isinstance(p, Mapping) and isinstance(p.get("key"), str)
        ]
    return {k: v for k, v in items if k in _COMMENT_PROPERTIES}


def _comment_list(issue: Mapping[str, Any]) -> list[Any]:
    fields = issue.get("fields")
    block = fields.get("comment") if isinstance(fields, Mapping) else None
    comments = block.get("comments") if isinstance(block, Mapping) else None
    return comments if isinstance(comments, list) else []


def read_comments(
    port: JiraPort, issue: dict[str, Any], facts: MutableMapping[str, Any]
) -> dict[str, Any]:
    """``issue`` with every comment as ``GET …/comment?expand=properties`` gives it (one
    read), what each says remembered in ``facts``."""
    return _with_comments(issue, port.comments(str(issue.get("key"))), facts)


def _with_comments(
    issue: dict[str, Any], full: list[Json], facts: MutableMapping[str, Any]
) -> dict[str, Any]:
    """``issue`` with ``full``, its comments as read with their properties, remembered."""
    for c in full:
        facts[str(c.get("id"))] = _kept_properties(c)
    fields = dict(issue.get("fields") or {})
    fields["comment"] = {
        "startAt": 0,
        "maxResults": len(full),
        "total": len(full),
        "comments": full,
    }
    return {**issue, "fields": fields}


def unmarked_bridge_comments(
    issue: Mapping[str, Any], facts: Mapping[str, Any], *, bridge_account_id: str
) -> bool:
    """Whether ``issue`` holds a comment by the bridge whose properties are not known."""
    for c in _comment_list(issue):
        if isinstance(c, Mapping) and "properties" not in c and str(c.get("id")) not in facts:
            author = to_person(c.get("author"), bridge_account_id=bridge_account_id)
            if author is not None and author.actor is Actor.BRIDGE:
                return True
    return False


class Unread(NamedTuple):
    """Data Center: what a case's search result leaves to be read for it, as decided on
    the cycle's thread (`unread`); the reads themselves may be made on a worker."""

    issue: dict[str, Any]
    #: ids of the comments by someone JSM's customer lists do not name, when the request's
    #: participants are to be read for them (None: known, or no such comment)
    participants_for: tuple[str, ...] | None
    #: the participants this process read for the issue before, when they still do
    known_participants: frozenset[str] | None
    comments: bool  # the comments are to be read with their properties


class Read(NamedTuple):
    """What Jira answered to a case's `Unread` reads (None: not asked)."""

    participants: list[Json] | None
    comments: list[Json] | None


def unread(
    issue: dict[str, Any],
    facts: MutableMapping[str, Any],
    *,
    bridge_account_id: str,
    customers: Collection[str],
) -> Unread:
    """Data Center: which reads ``issue`` needs beyond its search result.

    * Its request participants (`PARTICIPANTS`) are read only when it holds a comment
      by someone JSM's customer lists do not name that this process has not met on it
      before (what was read is kept in ``facts`` under ``participants:KEY``).  Request
      participants are customers of that request ("Request participants are customers
      and organizations who can view, comment, and receive notifications about a
      request": JSM Data Center, "Adding request participants"), so a customer's
      colleague the request was shared with asking "any update?" is not taken for an
      agent; the assignee, working the case, stays an agent even when listed.
    * Its comments are read (with the properties that say whether each is internal and
      which bridge action wrote it) only when ``facts`` lacks an engineer's comment.
    """
    by_engineers: set[str] = set()  # comments by someone the lists do not name
    comments_unknown = False
    for c in _comment_list(issue):
        if not isinstance(c, Mapping):
            continue
        comment_id = str(c.get("id"))
        author = to_person(
            c.get("author"), bridge_account_id=bridge_account_id, customers=customers
        )
        engineer = author is not None and author.actor is Actor.ENGINEER
        if engineer:
            by_engineers.add(comment_id)
        if comment_id in facts:
            continue
        if "properties" in c:  # already expanded (a cut-short page read in full)
            facts[comment_id] = _kept_properties(c)
        elif author is None or engineer:
            comments_unknown = True
    authors = tuple(sorted(by_engineers))
    known: frozenset[str] | None = None
    if authors:
        cached = facts.get(f"participants:{issue.get('key')}")
        if cached is not None and set(authors) <= set(cached.get("seen", ())):
            known = frozenset(cached.get("ids", ()))
    return Unread(issue, authors if authors and known is None else None, known, comments_unknown)


def reads_of(port: JiraPort, case: Unread) -> Callable[[], Read] | None:
    """The reads ``case`` needs, to be made on any thread (None: it needs none)."""
    if case.participants_for is None and not case.comments:
        return None
    key = str(case.issue.get("key"))

    def read() -> Read:
        participants = None
        if case.participants_for is not None:
            participants = list(port.request_participants(key))
        return Read(participants, port.comments(key) if case.comments else None)

    return read


def with_reads(case: Unread, read: Read | None, facts: MutableMapping[str, Any]) -> dict[str, Any]:
    """Data Center: the issue completed by what was read for it (`unread`), what was
    learnt kept in ``facts``."""
    issue = case.issue
    found = case.known_participants
    if read is not None and read.participants is not None:
        ids: set[str] = set()
        for user in read.participants:
            if isinstance(user, Mapping):
                ids |= identities(user)
        facts[f"participants:{issue.get('key')}"] = {
            "ids": sorted(ids),
            "seen": list(case.participants_for or ()),
        }
        found = frozenset(ids)
    if found is not None:
        fields = issue.get("fields")
        assignee = fields.get("assignee") if isinstance(fields, Mapping) else None
        listed = set(found)
        if isinstance(assignee, Mapping):
            listed -= identities(assignee)
        issue = {**issue, PARTICIPANTS: sorted(listed)}
    if read is not None and read.comments is not None:
        return _with_comments(issue, read.comments, facts)
    for c in _comment_list(issue):
        if isinstance(c, dict) and "properties" not in c and str(c.get("id")) in facts:
            c["properties"] = [{"key": k, "value": v} for k, v in facts[str(c["id"])].items()]
    return issue


def _search_terms(
    fieldmap: FieldMap, extra_fields: Iterable[str], *, datacenter: bool, ranking_only: bool
) -> dict[str, list[str]]:
    """What `read_issues` asks its search for: fields, issue properties, expansions."""
    return {
        "fields": ranking_fields(fieldmap)
        if ranking_only
        else needed_fields(fieldmap, extra_fields),
        "properties": [] if datacenter or ranking_only else [LEDGER_PROPERTY],
        "expand": [] if ranking_only else ["changelog"],
    }


def first_pages(
    port: JiraPort,
    jql: str,
    fieldmap: FieldMap,
    *,
    limit: int,
    datacenter: bool = False,
) -> SearchPage:
    """`read_issues`' search while its issues fit in ``limit`` (the configured page
    size: what a cycle may hold in memory at once), none of them read in full yet: every
    page up to the one Jira says is the last, together (``last``); or, once ``limit``
    issues are in and Jira says more follow, ``last`` False and the caller lets them go.

    A cycle learns from it whether the cases fit before anything is read per issue; a
    site whose search pages are smaller than ``limit`` (Cloud gives at most 100 issues
    a page with fields) still keeps up to ``limit`` cases in one pass.  The issues are
    read in full by passing them to `read_issues` as ``found``."""
    terms = _search_terms(fieldmap, (), datacenter=datacenter, ranking_only=False)
    issues: list[Json] = []
    for page in port.search_pages(jql, **terms):
        issues.extend(page.issues)
        if page.last:
            break
        if len(issues) >= limit:  # and more follow: more than a cycle keeps at once
            return SearchPage(issues, last=False)
    return SearchPage(issues, last=True)


def read_issues(
    port: JiraPort,
    jql: str,
    fieldmap: FieldMap,
    *,
    bridge_account_id: str,
    status_categories: Mapping[str, str],
    customers: Collection[str] = (),
    extra_fields: Iterable[str] = (),
    datacenter: bool = False,
    comment_facts: MutableMapping[str, Any] | None = None,
    ranking_only: bool = False,
    found: Iterable[Json] | None = None,
    readers: Readers | None = None,
) -> Iterator[tuple[dict[str, Any], IssueSnapshot | SnapshotError]]:
    """Every issue matching ``jql`` with its snapshot (or the reason it has none).

    On Cloud the raw issue carries the ledger in ``issue["properties"]["jsm-bridge"]``
    (see `bridge.sync.snapshot.ledger_of`).  On Data Center (``datacenter``) it does not,
    and what the search leaves out is read per issue where needed (`unread`: comments'
    properties, remembered in ``comment_facts``, and request participants), on
    ``readers`` ahead of the issue handed back (`read_ahead`); the issues still come
    back in the search's order.

    ``ranking_only``: only the fields quota ranking needs (`ranking_fields`), without
    comments, changelog or ledger, so nothing is read per issue: snapshots good for
    ranking, not for evaluation.

    ``found``: the issues a search with the same terms already returned (`first_pages`),
    read in full instead of searching again.
    """
    facts = comment_facts if comment_facts is not None else {}
    if found is None:
        terms = _search_terms(
            fieldmap, extra_fields, datacenter=datacenter, ranking_only=ranking_only
        )
        found = port.search(jql, **terms)
    Taken = tuple[dict[str, Any], Unread | None, Exception | None]

    def taken() -> Iterator[Taken]:
        for listed in found:
            issue = dict(listed)
            try:
                complete_issue(port, issue)
                case = None
                if datacenter:
                    case = unread(
                        issue, facts, bridge_account_id=bridge_account_id, customers=customers
                    )
            except (CircuitOpen, WaitInterrupted):
                raise  # the cycle stops, not this issue
            except Exception as exc:  # told in the issue's turn, below
                yield issue, None, exc
                continue
            yield issue, case, None

    def read_of(item: Taken) -> Callable[[], Read] | None:
        return reads_of(port, item[1]) if item[1] is not None else None

    with closing(read_ahead(taken(), read_of, readers)) as cases:
        for (issue, case, failed), read in cases:
            try:
                if failed is not None:
                    raise failed
                if case is not None:
                    issue = with_reads(case, read.result() if read is not None else None, facts)
                snapshot: IssueSnapshot | SnapshotError = to_snapshot(
                    issue,
                    fieldmap,
                    bridge_account_id=bridge_account_id,
                    status_categories=status_categories,
                    customers=customers,
                )
            except SnapshotError as exc:
                snapshot = exc
            except JiraError as exc:
                if exc.status != 404:
                    raise  # Jira itself is failing: the cycle stops and the next one resumes
                # deleted or moved between the search and the follow-up read: skip it
                key = str(issue.get("key"))
                snapshot = SnapshotError(key, f"vanished while being read: {exc}")
            except (CircuitOpen, WaitInterrupted):
                raise  # the cycle stops, not this issue
            except Exception as exc:  # one malformed issue never stops the cycle
                snapshot = SnapshotError(
                    str(issue.get("key")), f"malformed issue ({type(exc).__name__}): {exc}"[:300]
                )
            yield issue, snapshot


def _created_clause(
    fieldmap: FieldMap,
    wanted: Mapping[str, str],
    starts: Mapping[str, datetime],
    tz: tzinfo | None,
    unnamed: bool,
) -> str:
    """The cases of the organisations ``wanted`` (folded -> as given) created since
    their ``starts`` (folded -> moment), and with ``unnamed`` those naming none, since
    the earliest start: one clause per start, in one search."""
    by_start: dict[datetime, list[str]] = {}
    for folded, name in wanted.items():
        by_start.setdefault(starts[folded], []).append(name)
    if len(by_start) == 1:
        [(since, names)] = by_start.items()
        orgs = customers_clause(fieldmap, names, unnamed=unnamed)
        return f"{orgs} AND created >= {jql_datetime(since, tz)}"
    clause = field_clause(fieldmap, "organization", "Organizations")
    parts = [
        f"({customers_clause(fieldmap, names, unnamed=False)} AND created >= "
        f"{jql_datetime(since, tz)})"
        for since, names in sorted(by_start.items())
    ]
    if unnamed:
        parts.append(f"({clause} is EMPTY AND created >= {jql_datetime(min(by_start), tz)})")
    return f"({' OR '.join(parts)})"


def earliest_starts(starts: Iterable[tuple[str, datetime]]) -> dict[str, datetime]:
    """The earliest of the ``starts`` (organisation, moment) given for each organisation,
    by its folded name: names that differ only in case begin together."""
    earliest: dict[str, datetime] = {}
    for name, since in starts:
        key = name.casefold()
        if key not in earliest or since < earliest[key]:
            earliest[key] = since
    return earliest


def org_month_cases(
    port: JiraPort,
    base_jql: str,
    fieldmap: FieldMap,
    starts: Mapping[str, datetime],
    *,
    tz: tzinfo | None = None,
    bridge_account_id: str = "",
    status_categories: Mapping[str, str] | None = None,
    customers: Collection[str] = (),
    owner: Callable[[IssueSnapshot], str | None] | None = None,
) -> dict[str, tuple[MonthCase, ...]]:
    """Cases created since each organisation's own start (``starts``: organisation ->
    moment; a customer whose decisions depend on its months alone is not read for a year
    because another's do) for each organisation, from ONE search.

    An issue counts for its first organisation (the one its snapshot names).
    Organisation names are matched case-insensitively and returned as given.
    Each case is read as the cycle's ranking read reads it (`read_issues` with
    ``ranking_only``, then `month_case`), with its reporter and request type, so its
    quota flags can be decided (``quota.not_counted_flags``); a case that read cannot
    make a snapshot of is left out here too (the main read reports it).
    """
    wanted = {name.casefold(): name for name in starts}
    out: dict[str, list[MonthCase]] = {name: [] for name in wanted.values()}
    if not wanted:
        return {}
    earliest = earliest_starts(starts.items())
    # a case naming no organisation counts for the customer its reporter belongs to
    # (``owner``: that customer's name for such a case, or None)
    jql = f"{_scope(base_jql)} AND {_created_clause(fieldmap, wanted, earliest, tz, owner is not None)} ORDER BY key ASC"
    for _, snapshot in read_issues(
        port,
        jql,
        fieldmap,
        bridge_account_id=bridge_account_id,
        status_categories=status_categories or {},
        customers=customers,
        ranking_only=True,
    ):
        if isinstance(snapshot, SnapshotError):
            continue  # a malformed issue is reported by the main read, not here
        org = snapshot.organization
        if org is None and owner is not None:
            org = owner(snapshot)
        if org is None or org.casefold() not in wanted:
            continue
        if snapshot.created < earliest[org.casefold()]:
            continue  # a case naming none, listed for another customer's earlier start
        out[wanted[org.casefold()]].append(month_case(snapshot))
    return {
        name: tuple(sorted(cases, key=lambda c: (c.created, c.key_number)))
        for name, cases in out.items()
    }
