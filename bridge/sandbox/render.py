"""Store objects → the JSON Jira returns (REST v2 and v3, Cloud and Data Center).

The differences that matter to clients are kept: v3 rich text (description,
multi-line text fields, comment bodies) is an Atlassian Document Format doc,
v2 is a plain string; Data Center users carry ``name``/``key``; timestamps are
``2026-11-27T09:00:00.000+1000`` in the site's time zone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from bridge.sandbox.store import (
    STATUS_CATEGORIES,
    ChangeItem,
    Comment,
    Field,
    History,
    Issue,
    Organization,
    Priority,
    RequestType,
    Status,
    Store,
    Transition,
    User,
    format_jira,
)


@dataclass(frozen=True)
class Ctx:
    store: Store
    base: str  # http://127.0.0.1:8089
    version: str = "3"  # REST API version: "2" | "3"
    flavour: str = "cloud"  # cloud | datacenter
    #: rendered users, organisations, request types... reused within one response
    memo: dict[Any, Any] = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def api(self) -> str:
        return f"{self.base}/rest/api/{self.version}"

    def ts(self, dt: Any) -> str | None:
        return None if dt is None else format_jira(dt, self.store.site_tz)

    def rich(self, text: str | None) -> Any:
        if text is None:
            return None
        return text_to_adf(text) if self.version == "3" else text


# --------------------------------------------------------------------------- ADF


def text_to_adf(text: str) -> dict[str, Any]:
    """Plain text → an ADF doc: blank lines split paragraphs, single newlines are hard breaks."""
    content: list[dict[str, Any]] = []
    for para in text.split("\n\n") if text else []:
        nodes: list[dict[str, Any]] = []
        for i, line in enumerate(para.split("\n")):
            if i:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes} if nodes else {"type": "paragraph"})
    return {"type": "doc", "version": 1, "content": content}


def adf_to_text(doc: Any) -> str:
    """An ADF doc → plain text (the inverse of :func:`text_to_adf` for simple documents)."""

    def walk(node: Any) -> str:
        if not isinstance(node, dict):
            return ""
        t = node.get("type")
        if t == "text":
            return str(node.get("text", ""))
        if t == "hardBreak":
            return "\n"
        if t == "mention":
            return str(node.get("attrs", {}).get("text", ""))
        inner = "".join(walk(c) for c in node.get("content", []) or [])
        return inner

    blocks = [walk(c) for c in doc.get("content", []) or []] if isinstance(doc, dict) else []
    return "\n\n".join(blocks)


def is_adf(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("type") == "doc"
        and isinstance(value.get("content", []), list)
        and value.get("version", 1) == 1
    )


# --------------------------------------------------------------------------- site objects


def avatar_urls(seed: str) -> dict[str, str]:
    base = f"https://avatar-management.services.atlassian.com/default/{quote(seed)}"
    return {size: f"{base}?s={size.split('x')[0]}" for size in ("48x48", "24x24", "16x16", "32x32")}


def user(ctx: Ctx, u: User | None) -> dict[str, Any] | None:
    if u is None:
        return None
    key = ("user", u.account_id)
    if key not in ctx.memo:
        ctx.memo[key] = _user(ctx, u)
    found: dict[str, Any] = ctx.memo[key]
    return found


def _user(ctx: Ctx, u: User) -> dict[str, Any]:
    if ctx.flavour == "datacenter":
        # Data Center's UserBean: ``name`` and ``key`` identify a user; there is no
        # ``accountId`` and no ``accountType`` (those are Cloud's, since the GDPR
        # changes).  Jira Server platform REST API reference, "api/2/user" and
        # "api/2/myself" (docs.atlassian.com/software/jira/docs/api/REST/9.12.0).
        # JSM customers are ordinary users on Data Center: nothing in the user says so.
        return {
            "self": f"{ctx.api}/user?username={quote(u.name)}",
            "key": u.name,
            "name": u.name,
            "emailAddress": u.email,
            "avatarUrls": avatar_urls(u.name),
            "displayName": u.display_name,
            "active": u.active,
            "timeZone": u.time_zone,
        }
    return {
        "self": f"{ctx.api}/user?accountId={quote(u.account_id)}",
        "accountId": u.account_id,
        "emailAddress": u.email,
        "avatarUrls": avatar_urls(u.account_id),
        "displayName": u.display_name,
        "active": u.active,
        "timeZone": u.time_zone,
        "accountType": u.account_type,
    }


def myself(ctx: Ctx, u: User) -> dict[str, Any]:
    out = _user(ctx, u)
    out["locale"] = "en_AU"
    out["groups"] = {"size": 1, "items": []}
    out["applicationRoles"] = {"size": 1, "items": []}
    out["expand"] = "groups,applicationRoles"
    return out


def priority(ctx: Ctx, p: Priority) -> dict[str, Any]:
    return {
        "self": f"{ctx.api}/priority/{p.id}",
        "statusColor": p.color,
        "description": p.description,
        "iconUrl": f"{ctx.base}/images/icons/priorities/{p.name.lower()}.svg",
        "name": p.name,
        "id": p.id,
        "isDefault": p.is_default,
    }


def _priority_ref(ctx: Ctx, p: Priority) -> dict[str, Any]:
    return {
        "self": f"{ctx.api}/priority/{p.id}",
        "iconUrl": f"{ctx.base}/images/icons/priorities/{p.name.lower()}.svg",
        "name": p.name,
        "id": p.id,
    }


def status_category(ctx: Ctx, key: str) -> dict[str, Any]:
    cat = STATUS_CATEGORIES[key]
    return {"self": f"{ctx.api}/statuscategory/{cat['id']}", **cat}


def status(ctx: Ctx, s: Status) -> dict[str, Any]:
    out = {
        "self": f"{ctx.api}/status/{s.id}",
        "description": s.description,
        "iconUrl": f"{ctx.base}/images/icons/statuses/generic.png",
        "name": s.name,
        "untranslatedName": s.name,
        "id": s.id,
        "statusCategory": status_category(ctx, s.category),
    }
    if ctx.flavour == "cloud":
        out["scope"] = {"type": "PROJECT", "project": {"id": ctx.store.project.id}}
    return out


def _status_ref(ctx: Ctx, s: Status) -> dict[str, Any]:
    out = status(ctx, s)
    out.pop("scope", None)
    out.pop("untranslatedName", None)
    return out


def resolution(ctx: Ctx, rid: str | None) -> dict[str, Any] | None:
    r = ctx.store.resolution(rid)
    if r is None:
        return None
    return {
        "self": f"{ctx.api}/resolution/{r.id}",
        "id": r.id,
        "description": r.description,
        "name": r.name,
    }


def issuetype(ctx: Ctx) -> dict[str, Any]:
    t = ctx.store.issue_types[0]
    return {
        "self": f"{ctx.api}/issuetype/{t.id}",
        "id": t.id,
        "description": t.description,
        "iconUrl": f"{ctx.base}/images/icons/issuetypes/support.svg",
        "name": t.name,
        "subtask": False,
        "hierarchyLevel": 0,
    }


def project(ctx: Ctx) -> dict[str, Any]:
    p = ctx.store.project
    return {
        "self": f"{ctx.api}/project/{p.id}",
        "id": p.id,
        "key": p.key,
        "name": p.name,
        "projectTypeKey": "service_desk",
        "simplified": False,
        "avatarUrls": avatar_urls(p.key),
    }


def field_schema(f: Field) -> dict[str, Any]:
    system = {
        "summary": ("string", None),
        "description": ("string", None),
        "priority": ("priority", None),
        "status": ("status", None),
        "resolution": ("resolution", None),
        "user": ("user", None),
        "labels": ("array", "string"),
        "datetime": ("datetime", None),
        "statuscategorychangedate": ("datetime", None),
        "issuetype": ("issuetype", None),
        "project": ("project", None),
        "comment": ("comments-page", None),
        "issuekey": None,
    }
    if not f.custom:
        spec = system.get(f.kind)
        if spec is None:
            return {}
        out: dict[str, Any] = {"type": spec[0], "system": f.id}
        if spec[1]:
            out["items"] = spec[1]
        return out
    custom = {
        "select": ({"type": "option"}, "com.atlassian.jira.plugin.system.customfieldtypes:select"),
        "datetime": (
            {"type": "datetime"},
            "com.atlassian.jira.plugin.system.customfieldtypes:datetime",
        ),
        "number": ({"type": "number"}, "com.atlassian.jira.plugin.system.customfieldtypes:float"),
        "text": (
            {"type": "string"},
            "com.atlassian.jira.plugin.system.customfieldtypes:textfield",
        ),
        "textarea": (
            {"type": "string"},
            "com.atlassian.jira.plugin.system.customfieldtypes:textarea",
        ),
        "organizations": (
            {"type": "array", "items": "sd-customerorganization"},
            "com.atlassian.servicedesk:sd-customer-organizations",
        ),
        "requesttype": (
            {"type": "sd-customerrequesttype"},
            "com.atlassian.servicedesk:vp-origin",
        ),
    }
    base, uri = custom[f.kind]
    return {**base, "custom": uri, "customId": f.custom_id}


def field_details(ctx: Ctx, f: Field) -> dict[str, Any]:
    clause = [f.id] if not f.custom else [f"cf[{f.custom_id}]", f.name]
    if f.id == "issuekey":
        clause = ["id", "issue", "issuekey", "key"]
    elif f.id == "resolutiondate":
        clause = ["resolutiondate", "resolved"]
    elif f.id == "created":
        clause = ["created", "createdDate"]
    elif f.id == "updated":
        clause = ["updated", "updatedDate"]
    elif f.id == "issuetype":
        clause = ["issuetype", "type"]
    out: dict[str, Any] = {
        "id": f.id,
        "key": f.id,
        "name": f.name,
        "custom": f.custom,
        "orderable": f.orderable,
        "navigable": f.navigable,
        "searchable": f.searchable,
        "clauseNames": clause,
    }
    schema = field_schema(f)
    if schema:
        out["schema"] = schema
    return out


def option(ctx: Ctx, f: Field, oid: str | None) -> dict[str, Any] | None:
    o = f.option_by_id(oid) if oid else None
    if o is None:
        return None
    return {"self": f"{ctx.api}/customFieldOption/{o.id}", "value": o.value, "id": o.id}


def date_dto(ctx: Ctx, dt: Any) -> dict[str, Any]:
    key = ("date", dt)
    if key not in ctx.memo:
        ctx.memo[key] = _date_dto(ctx, dt)
    found: dict[str, Any] = ctx.memo[key]
    return found


def _date_dto(ctx: Ctx, dt: Any) -> dict[str, Any]:
    local = dt.astimezone(ctx.store.site_tz)
    return {
        "iso8601": local.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "jira": ctx.ts(dt),
        "friendly": local.strftime("%d/%b/%y %-I:%M %p"),
        "epochMillis": int(dt.timestamp() * 1000),
    }


def organization(ctx: Ctx, org: Organization) -> dict[str, Any]:
    key = ("org", org.id)
    if key not in ctx.memo:
        ctx.memo[key] = _organization(ctx, org)
    found: dict[str, Any] = ctx.memo[key]
    return found


def _organization(ctx: Ctx, org: Organization) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": org.id,
        "name": org.name,
        "scimManaged": False,
        "_links": {"self": f"{ctx.base}/rest/servicedeskapi/organization/{org.id}"},
    }
    if org.created is not None:
        out["created"] = date_dto(ctx, org.created)
    return out


def request_type(ctx: Ctx, rt: RequestType) -> dict[str, Any]:
    key = ("rt", rt.id)
    if key not in ctx.memo:
        ctx.memo[key] = _request_type(ctx, rt)
    found: dict[str, Any] = ctx.memo[key]
    return found


def _request_type(ctx: Ctx, rt: RequestType) -> dict[str, Any]:
    p = ctx.store.project
    return {
        "_links": {
            "self": f"{ctx.base}/rest/servicedeskapi/servicedesk/{p.service_desk_id}/requesttype/{rt.id}"
        },
        "id": rt.id,
        "name": rt.name,
        "description": rt.description,
        "helpText": "",
        "issueTypeId": ctx.store.issue_types[0].id,
        "serviceDeskId": p.service_desk_id,
        "portalId": p.service_desk_id,
        "groupIds": [],
        "icon": {"id": "10000", "_links": {"iconUrls": avatar_urls(rt.name)}},
    }


def current_status(ctx: Ctx, issue: Issue) -> dict[str, Any]:
    s = ctx.store.statuses[issue.values["status"]]
    return {
        "status": s.name,
        "statusCategory": s.category.upper(),
        "statusDate": date_dto(
            ctx, issue.values.get("statuscategorychangedate") or issue.values["created"]
        ),
    }


def request_type_value(ctx: Ctx, issue: Issue, rtid: str | None) -> dict[str, Any] | None:
    rt = ctx.store.request_types.get(rtid) if rtid else None
    if rt is None:
        return None
    p = ctx.store.project
    return {
        "_links": {
            "jiraRest": f"{ctx.base}/rest/api/2/issue/{issue.id}",
            "web": f"{ctx.base}/servicedesk/customer/portal/{p.service_desk_id}/{issue.key}",
            "agent": f"{ctx.base}/browse/{issue.key}",
            "self": f"{ctx.base}/rest/servicedeskapi/request/{issue.id}",
        },
        "requestType": request_type(ctx, rt),
        "currentStatus": current_status(ctx, issue),
    }


# --------------------------------------------------------------------------- comments, changelog


def comment(ctx: Ctx, issue: Issue, c: Comment, *, with_properties: bool = False) -> dict[str, Any]:
    store = ctx.store
    out: dict[str, Any] = {
        "self": f"{ctx.api}/issue/{issue.id}/comment/{c.id}",
        "id": c.id,
        "author": user(ctx, store.user(c.author)),
        "body": ctx.rich(c.body),
        "updateAuthor": user(ctx, store.user(c.update_author)),
        "created": ctx.ts(c.created),
        "updated": ctx.ts(c.updated),
    }
    if ctx.flavour == "cloud":
        # Cloud's comment carries JSM's ``jsdPublic``.  Data Center's CommentJsonBean has
        # no such field: an internal JSM comment is one whose ``sd.public.comment``
        # property is ``{"internal": true}``, seen through ``expand=properties``
        # (Jira Service Management Data Center docs, "Adding internal comments through
        # the REST API": confluence.atlassian.com/servicemanagementserver, and
        # JSDSERVER-4335).
        out["jsdPublic"] = c.public
    if c.visibility:
        out["visibility"] = c.visibility
    if with_properties:
        out["properties"] = [{"key": k, "value": v} for k, v in c.properties.items()]
    return out


def comments_page(
    ctx: Ctx,
    issue: Issue,
    items: Sequence[Comment],
    start: int,
    limit: int,
    total: int,
    *,
    with_properties: bool = False,
) -> dict[str, Any]:
    return {
        "comments": [comment(ctx, issue, c, with_properties=with_properties) for c in items],
        "self": f"{ctx.api}/issue/{issue.id}/comment",
        "maxResults": limit,
        "total": total,
        "startAt": start,
    }


def change_item(ci: ChangeItem) -> dict[str, Any]:
    return {
        "field": ci.field,
        "fieldtype": ci.fieldtype,
        "fieldId": ci.field_id,
        "from": ci.from_,
        "fromString": ci.from_string,
        "to": ci.to,
        "toString": ci.to_string,
    }


def history(ctx: Ctx, h: History) -> dict[str, Any]:
    return {
        "id": h.id,
        "author": user(ctx, ctx.store.user(h.author)),
        "created": ctx.ts(h.created),
        "items": [change_item(i) for i in h.items],
    }


def transition(ctx: Ctx, t: Transition, *, with_fields: bool = False) -> dict[str, Any]:
    store = ctx.store
    out: dict[str, Any] = {
        "id": t.id,
        "name": t.name,
        "to": _status_ref(ctx, store.statuses[t.to]),
        "hasScreen": t.resolution_field,
        "isGlobal": not t.sources,
        "isInitial": False,
        "isAvailable": True,
        "isConditional": False,
        "isLooped": False,
    }
    if with_fields:
        fields: dict[str, Any] = {}
        if t.resolution_field:
            fields["resolution"] = {
                "required": False,
                "schema": {"type": "resolution", "system": "resolution"},
                "name": "Resolution",
                "key": "resolution",
                "operations": ["set"],
                "allowedValues": [resolution(ctx, r.id) for r in store.resolutions],
            }
        out["fields"] = fields
    return out


#: the new workflow API's status categories
_WORKFLOW_CATEGORIES = {"new": "TODO", "indeterminate": "IN_PROGRESS", "done": "DONE"}


def workflow_status(ctx: Ctx, s: Status) -> dict[str, Any]:
    """A status as ``GET /rest/api/3/workflows/search`` lists it (``JiraWorkflowStatus``)."""
    return {
        "id": s.id,
        "name": s.name,
        "description": s.description,
        "statusCategory": _WORKFLOW_CATEGORIES.get(s.category, "TODO"),
        "statusReference": s.id,
        "scope": {"type": "PROJECT", "project": {"id": ctx.store.project.id}},
    }


def workflow(ctx: Ctx, *, with_transitions: bool) -> dict[str, Any]:
    """The sandbox's one workflow (``JiraWorkflow``), its transitions when expanded.

    Like Jira it starts with the ``INITIAL`` "Create" transition; a transition without
    source statuses is ``GLOBAL`` (offered from every status but done ones here)."""
    store = ctx.store
    out: dict[str, Any] = {
        "id": "5e3b1a0c-0000-4000-8000-000000010000",
        "name": f"{store.project.name} workflow",
        "description": f"The {store.project.key} support workflow.",
        "isEditable": True,
        "scope": {"type": "PROJECT", "project": {"id": store.project.id}},
        "startPointLayout": {"x": 0.0, "y": 0.0},
        "statuses": [
            {
                "statusReference": sid,
                "deprecated": False,
                "layout": {"x": 150.0 * n, "y": 0.0},
                "properties": {},
            }
            for n, sid in enumerate(store.statuses)
        ],
        "version": {"id": "5e3b1a0c-0000-4000-8000-000000000001", "versionNumber": 1},
    }
    if with_transitions:
        create = {
            "id": "1",
            "name": "Create",
            "description": "",
            "type": "INITIAL",
            "toStatusReference": store.initial_status,
            "links": [],
            "actions": [],
            "validators": [],
            "triggers": [],
            "properties": {},
        }
        out["transitions"] = [create] + [
            {
                "id": t.id,
                "name": t.name,
                "description": "",
                "type": "DIRECTED" if t.sources else "GLOBAL",
                "toStatusReference": t.to,
                "links": [
                    {"fromStatusReference": src, "fromPort": 0, "toPort": 1} for src in t.sources
                ],
                "actions": [],
                "validators": [],
                "triggers": [],
                "properties": {},
            }
            for t in store.transitions
        ]
    return out


# --------------------------------------------------------------------------- issues


def field_value(ctx: Ctx, issue: Issue, f: Field) -> Any:
    store = ctx.store
    v = issue.values
    kind = f.kind
    if f.id == "comment":
        return comments_page(
            ctx, issue, issue.comments, 0, len(issue.comments), len(issue.comments)
        )
    if f.id == "project":
        return project(ctx)
    if f.id == "issuetype":
        return issuetype(ctx)
    if f.id == "issuekey":
        return None
    raw = v.get(f.id)
    if kind == "summary":
        return raw
    if kind in ("description", "textarea"):
        return ctx.rich(raw)
    if kind == "priority":
        key = ("prio", raw)
        if key not in ctx.memo:
            p = store.priority(raw)
            ctx.memo[key] = _priority_ref(ctx, p) if p else None
        return ctx.memo[key]
    if kind == "status":
        key = ("status", raw)
        if key not in ctx.memo:
            ctx.memo[key] = _status_ref(ctx, store.statuses[str(raw)])
        return ctx.memo[key]
    if kind == "resolution":
        return resolution(ctx, raw)
    if kind == "user":
        return user(ctx, store.user(raw))
    if kind == "labels":
        return list(raw or [])
    if kind in ("datetime", "statuscategorychangedate"):
        return ctx.ts(raw)
    if kind == "select":
        return option(ctx, f, raw)
    if kind == "number":
        return None if raw is None else float(raw)
    if kind == "text":
        return raw
    if kind == "organizations":
        if not raw:
            return []
        return [organization(ctx, store.organizations[o]) for o in raw if o in store.organizations]
    if kind == "requesttype":
        return request_type_value(ctx, issue, raw)
    return raw


def resolve_fields(
    store: Store, requested: Iterable[str] | None, default: str
) -> tuple[list[Field], bool]:
    """Jira's ``fields`` parameter → (fields to include, whether anything beyond ids is wanted).

    Accepts ``*all``, ``*navigable``, ``id``, ``key``, field ids, custom field
    names are NOT accepted (Jira wants ids), and ``-field`` exclusions.
    """
    items: list[str] = []
    for part in requested or []:
        items.extend(x.strip() for x in str(part).split(",") if x.strip())
    if not items:
        items = [default]
    include: list[str] = []
    exclude: set[str] = set()
    all_fields = [f for f in store.fields.values() if f.id != "issuekey"]
    only_ids = True
    for item in items:
        if item.startswith("-"):
            exclude.add(item[1:])
            if not any(i for i in items if not i.startswith("-")):
                include.extend(f.id for f in all_fields if f.navigable)
            only_ids = False
            continue
        if item == "*all":
            include.extend(f.id for f in all_fields)
            only_ids = False
        elif item == "*navigable":
            include.extend(f.id for f in all_fields if f.navigable)
            only_ids = False
        elif item in ("id", "key"):
            continue
        elif item in store.fields:
            include.append(item)
            only_ids = False
        else:
            f = store.field_by_name(item) if item.startswith("customfield_") else None
            if f is not None:
                include.append(f.id)
                only_ids = False
    seen: set[str] = set()
    out: list[Field] = []
    for fid in include:
        if fid in seen or fid in exclude:
            continue
        seen.add(fid)
        out.append(store.fields[fid])
    return out, not only_ids


def issue(
    ctx: Ctx,
    iss: Issue,
    fields: Sequence[Field],
    *,
    expand: Iterable[str] = (),
    properties: Iterable[str] = (),
    changelog_limit: int = 100,
) -> dict[str, Any]:
    exp = {e.strip() for e in expand if e.strip()}
    out: dict[str, Any] = {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
        "id": str(iss.id),
        "self": f"{ctx.api}/issue/{iss.id}",
        "key": iss.key,
        "fields": {f.id: field_value(ctx, iss, f) for f in fields},
    }
    props = list(properties)
    if props:
        wanted = list(iss.properties) if "*all" in props else props
        out["properties"] = {k: iss.properties[k] for k in wanted if k in iss.properties}
    if "names" in exp:
        out["names"] = {f.id: f.name for f in fields}
    if "schema" in exp:
        out["schema"] = {f.id: field_schema(f) for f in fields if field_schema(f)}
    if "changelog" in exp:
        hs = iss.changelog[-changelog_limit:]
        out["changelog"] = {
            "startAt": 0,
            "maxResults": len(hs),
            "total": len(iss.changelog),
            "histories": [history(ctx, h) for h in hs],
        }
    if "transitions" in exp:
        out["transitions"] = [transition(ctx, t) for t in ctx.store.transitions_for(iss)]
    return out


def customer_request(ctx: Ctx, iss: Issue, expand: Iterable[str] = ()) -> dict[str, Any]:
    store = ctx.store
    rt_field = store.field_of_kind("requesttype")
    rtid = iss.values.get(rt_field.id) if rt_field else None
    rt = store.request_types.get(rtid) if rtid else None
    reporter = store.user(iss.values.get("reporter"))
    p = store.project
    out: dict[str, Any] = {
        "_expands": [
            "participant",
            "status",
            "sla",
            "requestType",
            "serviceDesk",
            "attachment",
            "action",
            "comment",
        ],
        "issueId": str(iss.id),
        "issueKey": iss.key,
        "summary": iss.values.get("summary"),
        "requestTypeId": rt.id if rt else "",
        "serviceDeskId": p.service_desk_id,
        "createdDate": date_dto(ctx, iss.values["created"]),
        "currentStatus": current_status(ctx, iss),
        "requestFieldValues": [
            {"fieldId": "summary", "label": "Summary", "value": iss.values.get("summary")},
            {
                "fieldId": "description",
                "label": "Description",
                "value": iss.values.get("description"),
            },
        ],
        "_links": {
            "jiraRest": f"{ctx.base}/rest/api/2/issue/{iss.id}",
            "web": f"{ctx.base}/servicedesk/customer/portal/{p.service_desk_id}/{iss.key}",
            "agent": f"{ctx.base}/browse/{iss.key}",
            "self": f"{ctx.base}/rest/servicedeskapi/request/{iss.id}",
        },
    }
    if reporter is not None:
        out["reporter"] = user_dto(ctx, reporter)
    if rt is not None and "requestType" in set(expand):
        out["requestType"] = request_type(ctx, rt)
    return out


def user_dto(ctx: Ctx, u: User) -> dict[str, Any]:
    if ctx.flavour == "datacenter":
        # JSM Data Center's UserDTO: name/key/emailAddress, no accountId
        # (docs.atlassian.com/jira-servicedesk/REST/server, "UserDTO").
        link = f"{ctx.base}/rest/api/2/user?username={quote(u.name)}"
        return {
            "key": u.name,
            "name": u.name,
            "emailAddress": u.email,
            "displayName": u.display_name,
            "active": u.active,
            "timeZone": u.time_zone,
            "_links": {"jiraRest": link, "avatarUrls": avatar_urls(u.name), "self": link},
        }
    return {
        "accountId": u.account_id,
        "emailAddress": u.email,
        "displayName": u.display_name,
        "active": u.active,
        "timeZone": u.time_zone,
        "_links": {
            "jiraRest": f"{ctx.base}/rest/api/2/user?accountId={quote(u.account_id)}",
            "avatarUrls": avatar_urls(u.account_id),
            "self": f"{ctx.base}/rest/api/2/user?accountId={quote(u.account_id)}",
        },
    }


def comment_dto(ctx: Ctx, iss: Issue, c: Comment) -> dict[str, Any]:
    author = ctx.store.user(c.author)
    out: dict[str, Any] = {
        "_expands": ["attachment", "renderedBody"],
        "id": c.id,
        "body": c.body,
        "public": c.public,
        "created": date_dto(ctx, c.created),
        "_links": {"self": f"{ctx.base}/rest/servicedeskapi/request/{iss.id}/comment/{c.id}"},
    }
    if author is not None:
        out["author"] = user_dto(ctx, author)
    return out


def paged(
    ctx: Ctx, path: str, values: list[Any], start: int, limit: int, total: int
) -> dict[str, Any]:
    links: dict[str, str] = {
        "base": f"{ctx.base}/rest/servicedeskapi",
        "context": "",
        "self": f"{ctx.base}{path}?start={start}&limit={limit}",
    }
    is_last = start + len(values) >= total
    if not is_last:
        links["next"] = f"{ctx.base}{path}?start={start + limit}&limit={limit}"
    if start > 0:
        links["prev"] = f"{ctx.base}{path}?start={max(0, start - limit)}&limit={limit}"
    return {
        "_expands": [],
        "size": len(values),
        "start": start,
        "limit": limit,
        "isLastPage": is_last,
        "values": values,
        "_links": links,
    }
