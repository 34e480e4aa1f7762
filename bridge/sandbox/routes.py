"""The sandbox's Jira routes: one table, introspectable by the fidelity tests.

Every :class:`Route` names the path exactly as Atlassian's OpenAPI spec spells it
(``/rest/api/3/issue/{issueIdOrKey}``); v2 routes are the v3 twins with ``2`` in
place of ``3``.  Handlers run under ``store.lock`` and return a :class:`Response`;
domain errors are :class:`StoreError` (Jira's ``errorMessages``/``errors`` shape)
or :class:`JsmError` (Service Management's ``errorMessage`` shape).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bridge.sandbox import render, specdata
from bridge.sandbox.edits import parse_edit
from bridge.sandbox.render import Ctx, adf_to_text, is_adf
from bridge.sandbox.store import STATUS_CATEGORIES, Issue, Store, StoreError, User, format_jira

if TYPE_CHECKING:  # pragma: no cover
    from bridge.sandbox.server import SandboxServer

PROPERTY_LIMIT = 32768
MAX_SEARCH_PROPERTIES = 5
#: Cloud search/jql page caps: ids/keys only → 5000, anything heavier → 100 (documented
#: by Atlassian: "max 5000 issues ... when requesting id or key only"; 100 otherwise)
CLOUD_MAX_IDS = 5000
CLOUD_MAX_FULL = 100
#: Data Center: jira.search.views.default.max
DC_MAX = 1000
GONE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
BAD_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."
NO_PERMISSION = "You do not have permission to access this resource."


class JsmError(Exception):
    """An error from ``/rest/servicedeskapi`` (``{"errorMessage", "i18nErrorMessage"}``)."""

    def __init__(self, status: int, message: str, i18n: str = "sd.error") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.i18n = i18n


@dataclass
class Request:
    method: str
    path: str
    params: dict[str, list[str]]
    body: Any
    user: User | None
    path_params: dict[str, str]
    server: SandboxServer
    version: str = "3"
    #: the client sent ``X-ExperimentalApi`` with its flavour's value (JSM's experimental calls)
    experimental_opt_in: bool = False

    @property
    def store(self) -> Store:
        return self.server.store

    @property
    def ctx(self) -> Ctx:
        return Ctx(self.server.store, self.server.url, self.version, self.server.flavour)

    def q(self, name: str, default: str | None = None) -> str | None:
        vals = self.params.get(name)
        return vals[-1] if vals else default

    def qint(self, name: str, default: int) -> int:
        raw = self.q(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise StoreError(
                400, [f"The '{name}' parameter must be an integer, not '{raw}'."]
            ) from None

    def qbool(self, name: str, default: bool) -> bool:
        raw = self.q(name)
        if raw is None:
            return default
        return raw.lower() == "true"

    def qlist(self, name: str) -> list[str]:
        out: list[str] = []
        for v in self.params.get(name, []):
            out.extend(x.strip() for x in v.split(",") if x.strip())
        return out

    @property
    def actor(self) -> User:
        assert self.user is not None
        return self.user


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Request], Response]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler
    kind: str = "read"  # read | write | site (for the request log and write faults)
    flavours: frozenset[str] = frozenset({"cloud", "datacenter"})
    anonymous: bool = False
    customers: bool = False  # portal customers may call it
    request_schema: tuple[str, str] | None = None  # (spec, component) for the body
    #: a Data Center resource the reference (Cloud) specs lack: the Atlassian page
    #: documenting it (the fidelity test checks every other route against the specs)
    documented: str = ""
    regex: re.Pattern[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.template))
        object.__setattr__(self, "regex", re.compile(pattern + r"/?$"))

    @property
    def spec(self) -> str:
        return "jsm" if self.template.startswith("/rest/servicedeskapi") else "platform"

    @property
    def spec_path(self) -> str:
        """The path in Atlassian's spec (v2 routes are checked against their v3 twin)."""
        return self.template.replace("/rest/api/2/", "/rest/api/3/")


# --------------------------------------------------------------------------- helpers


def _issue(req: Request) -> Issue:
    return req.store.issue(req.path_params["issueIdOrKey"])


def _require_body(req: Request) -> dict[str, Any]:
    if not isinstance(req.body, dict):
        raise StoreError(400, [BAD_PAYLOAD])
    return req.body


def _json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def _property_key(key: str) -> None:
    if not key or len(key) > 255:
        raise StoreError(400, ["The property key cannot be longer than 255 characters."])


def _body_properties(body: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The ``properties`` an issue create or edit carries, each checked as a property PUT
    is (a key of at most 255 characters, a value of at most 32,768: the platform
    reference's EntityProperty and "Set issue property"), before anything is applied."""
    checked: list[tuple[str, Any]] = []
    for prop in body.get("properties") or []:
        key = str(prop.get("key", ""))
        _checked_property(key, prop.get("value"))
        checked.append((key, prop.get("value")))
    return checked


def _checked_property(key: str, value: Any) -> None:
    """An entity property as Jira takes it: a key of at most 255 characters, a value of
    at most 32,768 once written as JSON."""
    _property_key(key)
    if _json_size(value) > PROPERTY_LIMIT:
        raise StoreError(
            400,
            [f"The property value is too long. The maximum allowed length is {PROPERTY_LIMIT}."],
        )


def _can_see(store: Store, u: User, issue: Issue) -> bool:
    if not u.is_customer:
        return True
    if issue.values.get("reporter") == u.account_id:
        return True
    org_field = store.field_of_kind("organizations")
    orgs = issue.values.get(org_field.id) if org_field else None
    return any(
        u.account_id in store.organizations[o].members
        for o in orgs or []
        if o in store.organizations
    )


# --------------------------------------------------------------------------- site metadata


def server_info(req: Request) -> Response:
    """``GET /serverInfo``.  Cloud says ``deploymentType: "Cloud"``; Data Center (and
    Server) say ``"Server"`` with a 9.x version (Jira Server platform REST API reference,
    "api/2/serverInfo", ServerInfoBean)."""
    store = req.store
    cloud = req.server.flavour == "cloud"
    body = {
        "baseUrl": req.server.url,
        "displayUrl": req.server.url,
        "version": "1001.0.0-SNAPSHOT" if cloud else "9.12.15",
        "versionNumbers": [1001, 0, 0] if cloud else [9, 12, 15],
        "deploymentType": "Cloud" if cloud else "Server",
        "buildNumber": 100289 if cloud else 9120015,
        "buildDate": "2026-11-01T00:00:00.000+0000",
        "serverTime": format_jira(store.now(), store.site_tz),
        "scmInfo": "0a1b2c3d4e5f60718293a4b5c6d7e8f901234567",
        "serverTitle": "jsm-bridge sandbox",
        "serverTimeZone": store.site_tz.key,
    }
    return Response(200, body)


def myself(req: Request) -> Response:
    return Response(200, render.myself(req.ctx, req.actor))


def fields(req: Request) -> Response:
    ctx = req.ctx
    return Response(200, [render.field_details(ctx, f) for f in req.store.fields.values()])


def priorities(req: Request) -> Response:
    ctx = req.ctx
    return Response(200, [render.priority(ctx, p) for p in req.store.priorities])


def statuses(req: Request) -> Response:
    ctx = req.ctx
    return Response(200, [render.status(ctx, s) for s in req.store.statuses.values()])


def status_categories(req: Request) -> Response:
    ctx = req.ctx
    return Response(200, [render.status_category(ctx, k) for k in STATUS_CATEGORIES])


def resolutions(req: Request) -> Response:
    ctx = req.ctx
    return Response(200, [render.resolution(ctx, r.id) for r in req.store.resolutions])


def issue_types(req: Request) -> Response:
    return Response(200, [render.issuetype(req.ctx)])


def user_search(req: Request) -> Response:
    """``GET /user/search``.  Cloud matches ``query`` (or one ``accountId``); its old
    ``username`` parameter was removed with the GDPR changes (developer.atlassian.com,
    "Deprecation notice - user privacy API migration").  Data Center matches
    ``username`` against user name, display name and e-mail and knows no ``query``
    (Jira Server platform REST API reference, "api/2/user/search")."""
    store = req.store
    if req.server.flavour == "datacenter":
        query = (req.q("username") or "").strip().lower()
        account = None
        if not query:
            raise StoreError(400, ["The username query parameter was not provided"])
    else:
        query = (req.q("query") or "").strip().lower()
        account = req.q("accountId")
        if not query and not account:
            raise StoreError(400, ["The query parameter 'query' is required."])
    start = max(0, req.qint("startAt", 0))
    limit = min(max(0, req.qint("maxResults", 50)), 1000)
    found = [
        u
        for u in store.users.values()
        if (account and u.account_id == account)
        or (
            query
            and (
                u.email.lower().startswith(query)
                or u.display_name.lower().startswith(query)
                or any(w.startswith(query) for w in u.display_name.lower().split())
                or u.name.lower() == query
            )
        )
    ]
    ctx = req.ctx
    return Response(200, [render.user(ctx, u) for u in found[start : start + limit]])


def get_user(req: Request) -> Response:
    store = req.store
    # Cloud names a user by accountId; Data Center by username or key
    if req.server.flavour == "datacenter":
        ref = req.q("username") or req.q("key")
        u = store.user_by_name(ref) if ref else None
    else:
        ref = req.q("accountId")
        u = store.users.get(ref) if ref else None
    if u is None:
        raise StoreError(
            404, ["Specified user does not exist or you do not have required permissions"]
        )
    return Response(200, render.user(req.ctx, u))


# --------------------------------------------------------------------------- issues


def get_issue(req: Request) -> Response:
    store = req.store
    iss = _issue(req)
    flds, _ = render.resolve_fields(store, req.qlist("fields"), "*all")
    body = render.issue(
        req.ctx,
        iss,
        flds,
        expand=req.qlist("expand"),
        properties=req.qlist("properties"),
    )
    return Response(200, body)


def edit_issue(req: Request) -> Response:
    store = req.store
    iss = _issue(req)
    body = _require_body(req)
    if not req.qbool("notifyUsers", True) and not req.actor.admin:
        raise StoreError(
            403,
            [
                "To discard the user notification either admin or project admin permissions are required."
            ],
        )
    changes = parse_edit(store, body, iss.values, version=req.version, flavour=req.server.flavour)
    properties = _body_properties(body)
    store.apply_changes(iss, req.actor, changes)
    for key, value in properties:
        store.set_property(iss.properties, key, value)
    if req.qbool("returnIssue", False):
        flds, _ = render.resolve_fields(store, None, "*all")
        return Response(200, render.issue(req.ctx, iss, flds, expand=req.qlist("expand")))
    return Response(204)


def create_issue(req: Request) -> Response:
    store = req.store
    body = _require_body(req)
    raw = body.get("fields") or {}
    errors: dict[str, str] = {}
    proj = raw.get("project")
    p = store.project
    if not isinstance(proj, dict) or (
        str(proj.get("key", "")).upper() != p.key and str(proj.get("id", "")) != p.id
    ):
        errors["project"] = "Specify a valid project ID or key"
    itype = raw.get("issuetype")
    t = store.issue_types[0]
    if not isinstance(itype, dict) or (
        itype.get("name") != t.name and str(itype.get("id")) != t.id
    ):
        errors["issuetype"] = "Specify an issue type"
    if "summary" not in raw:
        errors["summary"] = "You must specify a summary of the issue."
    try:
        values = parse_edit(store, body, None, version=req.version, flavour=req.server.flavour)
    except StoreError as exc:
        errors.update(exc.errors)
        values = {}
    if errors:
        raise StoreError(400, [], errors)
    properties = _body_properties(body)
    iss = store.create_issue(req.actor, values)
    for key, value in properties:
        store.set_property(iss.properties, key, value)
    return Response(
        201, {"id": str(iss.id), "key": iss.key, "self": f"{req.ctx.api}/issue/{iss.id}"}
    )


def get_properties(req: Request) -> Response:
    iss = _issue(req)
    api = req.ctx.api
    keys = [{"self": f"{api}/issue/{iss.id}/properties/{k}", "key": k} for k in iss.properties]
    return Response(200, {"keys": keys})


def get_property(req: Request) -> Response:
    iss = _issue(req)
    key = req.path_params["propertyKey"]
    if key not in iss.properties:
        raise StoreError(404, [f"The property with key '{key}' does not exist."])
    return Response(200, {"key": key, "value": iss.properties[key]})


def _property_to_set(req: Request) -> str:
    """The key of an entity property PUT, its value checked as Jira checks it."""
    key = req.path_params["propertyKey"]
    _property_key(key)
    if req.body is None:
        raise StoreError(400, ["The property value is required."])
    _checked_property(key, req.body)
    return key


def put_property(req: Request) -> Response:
    iss = _issue(req)
    key = _property_to_set(req)
    created = req.store.set_property(iss.properties, key, req.body)
    return Response(201 if created else 200)


def delete_property(req: Request) -> Response:
    iss = _issue(req)
    key = req.path_params["propertyKey"]
    if key not in iss.properties:
        raise StoreError(404, [f"The property with key '{key}' does not exist."])
    req.store.delete_property(iss.properties, key)
    return Response(204)


# ------------------------------------------------------------------- project properties
# "Project properties" (Cloud: /rest/api/3/project/{projectIdOrKey}/properties/{propertyKey};
# Data Center: the same under /rest/api/2).  Reading needs Browse Projects; setting and
# deleting need Administer Jira or Administer Projects for the project, which the
# sandbox models as the user's admin flag.  These writes touch the site, not a case: their
# request-log kind is "site", so case write counts and write faults stay about cases.


def _project(req: Request) -> Any:
    """The project a project-property call names: by id or by key, the key as Jira spells
    it ("projectIdOrKey (case sensitive)": Cloud platform REST API, project properties)."""
    ref = req.path_params["projectIdOrKey"]
    project = req.store.project
    if ref not in (project.id, project.key):
        raise StoreError(404, [f"No project could be found with key '{ref}'."])
    return project


def _project_admin(req: Request) -> None:
    if not req.actor.admin:
        raise StoreError(403, [NO_PERMISSION])


def get_project_property(req: Request) -> Response:
    project = _project(req)
    key = req.path_params["propertyKey"]
    if key not in project.properties:
        raise StoreError(404, [f"The property with key '{key}' does not exist."])
    return Response(200, {"key": key, "value": project.properties[key]})


def put_project_property(req: Request) -> Response:
    project = _project(req)
    _project_admin(req)
    key = _property_to_set(req)
    created = req.store.set_property(project.properties, key, req.body)
    return Response(201 if created else 200)


def delete_project_property(req: Request) -> Response:
    project = _project(req)
    _project_admin(req)
    key = req.path_params["propertyKey"]
    if key not in project.properties:
        raise StoreError(404, [f"The property with key '{key}' does not exist."])
    req.store.delete_property(project.properties, key)
    return Response(204)


# --------------------------------------------------------------------------- comments


def _comment_text(req: Request, body: Any) -> str:
    if req.version == "3":
        if not is_adf(body):
            raise StoreError(400, [], {"comment": "Comment body is not valid!"})
        text = adf_to_text(body)
    else:
        if not isinstance(body, str):
            raise StoreError(400, [], {"comment": "Comment body is not valid!"})
        text = body
    if not text.strip():
        raise StoreError(400, [], {"comment": "Comment body can not be empty!"})
    if len(text) > 32767:
        raise StoreError(413, ["The comment is too long: the maximum is 32767 characters."])
    return text


def get_comments(req: Request) -> Response:
    iss = _issue(req)
    start = max(0, req.qint("startAt", 0))
    limit = min(max(0, req.qint("maxResults", 100)), 5000)
    items = list(iss.comments)
    order = req.q("orderBy") or "created"
    if order.lstrip("+-") != "created":
        raise StoreError(400, [f"Ordering by '{order}' is not supported."])
    if order.startswith("-"):
        items.reverse()
    page = items[start : start + limit]
    return Response(
        200,
        render.comments_page(
            req.ctx, iss, page, start, limit, len(items), with_properties=_props_expanded(req)
        ),
    )


def _props_expanded(req: Request) -> bool:
    """Whether an issue's comments come with their properties: Data Center expands
    ``properties`` there (JSM Data Center docs read ``sd.public.comment`` that way, see
    `render.comment`); Cloud's "Get comments" and "Get comment" document ``renderedBody``
    as their only expansion (Cloud platform REST API v2/v3, Issue comments), and its
    comments' properties come from "Get comments by IDs" (`comments_by_ids`)."""
    return req.ctx.flavour == "datacenter" and "properties" in req.qlist("expand")


def comments_by_ids(req: Request) -> Response:
    """Cloud's ``POST /rest/api/{2,3}/comment/list`` ("Get comments by IDs", Cloud platform
    REST API, Issue comments): ``{"ids": [...]}``, at most 1,000, unique; a
    ``PageBeanComment`` of the comments found, in one page; ``expand`` takes
    ``renderedBody`` and ``properties``."""
    body = _require_body(req)
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise StoreError(400, ["The list of comment IDs is required."])
    if len(ids) > 1000:
        raise StoreError(400, ["The number of comment IDs must not exceed 1000."])
    with_props = "properties" in req.qlist("expand")
    values = []
    for cid in dict.fromkeys(ids):
        found = req.store.find_comment(str(cid))
        if found is not None:
            iss, c = found
            values.append(render.comment(req.ctx, iss, c, with_properties=with_props))
    return Response(
        200,
        {
            "isLast": True,
            "maxResults": 1000,
            "startAt": 0,
            "total": len(values),
            "values": values,
        },
    )


def add_comment(req: Request) -> Response:
    store = req.store
    iss = _issue(req)
    body = _require_body(req)
    text = _comment_text(req, body.get("body"))
    props: dict[str, Any] = {}
    for prop in body.get("properties") or []:
        key = str(prop.get("key", ""))
        _property_key(key)
        if _json_size(prop.get("value")) > PROPERTY_LIMIT:
            raise StoreError(400, ["The property value is too long."])
        props[key] = prop.get("value")
    vis = body.get("visibility")
    if vis is not None and (
        not isinstance(vis, dict) or not (vis.get("value") or vis.get("identifier"))
    ):
        raise StoreError(
            400, [], {"commentLevel": "You are currently not a member of the project role"}
        )
    c = store.add_comment(iss, req.actor, text, properties=props, visibility=vis)
    with_props = "properties" in req.qlist("expand")
    return Response(201, render.comment(req.ctx, iss, c, with_properties=with_props))


def get_comment(req: Request) -> Response:
    iss = _issue(req)
    cid = req.path_params["id"]
    c = next((c for c in iss.comments if c.id == cid), None)
    if c is None:
        raise StoreError(404, [f"Can not find a comment for key: {cid}."])
    return Response(200, render.comment(req.ctx, iss, c, with_properties=_props_expanded(req)))


def _find_comment(req: Request) -> tuple[Issue, Any]:
    found = req.store.find_comment(req.path_params["commentId"])
    if found is None:
        raise StoreError(404, [f"Can not find a comment for key: {req.path_params['commentId']}."])
    return found


def comment_property_keys(req: Request) -> Response:
    _, c = _find_comment(req)
    api = req.ctx.api
    keys = [{"self": f"{api}/comment/{c.id}/properties/{k}", "key": k} for k in c.properties]
    return Response(200, {"keys": keys})


def comment_property(req: Request) -> Response:
    _, c = _find_comment(req)
    key = req.path_params["propertyKey"]
    if key not in c.properties:
        raise StoreError(404, [f"The property with key '{key}' does not exist."])
    return Response(200, {"key": key, "value": c.properties[key]})


def put_comment_property(req: Request) -> Response:
    _, c = _find_comment(req)
    key = req.path_params["propertyKey"]
    _property_key(key)
    if _json_size(req.body) > PROPERTY_LIMIT:
        raise StoreError(400, ["The property value is too long."])
    created = req.store.set_property(c.properties, key, req.body)
    return Response(201 if created else 200)


def delete_comment_property(req: Request) -> Response:
    _, c = _find_comment(req)
    key = req.path_params["propertyKey"]
    if key not in c.properties:
        raise StoreError(404, [f"The property with key '{key}' does not exist."])
    req.store.delete_property(c.properties, key)
    return Response(204)


# --------------------------------------------------------------------------- workflow, history


def get_transitions(req: Request) -> Response:
    store = req.store
    iss = _issue(req)
    with_fields = "transitions.fields" in req.qlist("expand")
    only = req.q("transitionId")
    ts = [t for t in store.transitions_for(iss) if only is None or t.id == only]
    return Response(
        200,
        {
            "expand": "transitions",
            "transitions": [render.transition(req.ctx, t, with_fields=with_fields) for t in ts],
        },
    )


def do_transition(req: Request) -> Response:
    store = req.store
    iss = _issue(req)
    body = _require_body(req)
    tref = body.get("transition")
    tid = str(tref.get("id", "")) if isinstance(tref, dict) else ""
    if not tid:
        raise StoreError(400, ["Missing 'transition' identifier"])
    t = next((t for t in store.transitions_for(iss) if t.id == tid), None)
    if t is None:
        raise StoreError(400, [f"Transition id '{tid}' is not valid for this issue."])
    update = dict(body.get("update") or {})
    comment_ops = update.pop("comment", [])
    allowed = {"resolution"} if t.resolution_field else set()
    changes = parse_edit(
        store,
        {"fields": body.get("fields") or {}, "update": update},
        iss.values,
        version=req.version,
        flavour=req.server.flavour,
        allowed=allowed,
    )
    texts = []
    for op in comment_ops:
        add = op.get("add") if isinstance(op, dict) else None
        if not isinstance(add, dict):
            raise StoreError(400, [], {"comment": "Comment body is not valid!"})
        texts.append(_comment_text(req, add.get("body")))
    resolution = changes.pop("resolution", None)
    store.transition(iss, req.actor, t, resolution=resolution, extra=changes)
    for text in texts:
        store.add_comment(iss, req.actor, text)
    return Response(204)


def search_workflows(req: Request) -> Response:
    """``GET /rest/api/3/workflows/search``: the site's workflows, paged.

    Every workflow needs *Administer Jira*: the bridge's account (an admin in the
    sandbox) sees the workflow; other agents see none (an empty page, as Jira gives
    to an account without a project permission on project-scoped workflows); portal
    customers are refused (403) before this runs.  A real site may refuse the bridge
    too: it then warns at start-up and checks transition names per issue."""
    ctx = req.ctx
    start = max(0, req.qint("startAt", 0))
    limit = min(max(1, req.qint("maxResults", 50)), 50)
    name_part = (req.q("queryString") or "").casefold()
    expand = req.qlist("expand")
    with_transitions = "values.transitions" in expand or "transitions" in expand
    found = [render.workflow(ctx, with_transitions=with_transitions)] if req.actor.admin else []
    found = [w for w in found if name_part in str(w["name"]).casefold()]
    page = found[start : start + limit]
    is_last = start + len(page) >= len(found)
    base = f"{ctx.api}/workflows/search"
    out: dict[str, Any] = {
        "self": f"{base}?maxResults={limit}&startAt={start}",
        "maxResults": limit,
        "startAt": start,
        "total": len(found),
        "isLast": is_last,
        "statuses": [render.workflow_status(ctx, st) for st in req.store.statuses.values()]
        if page
        else [],
        "values": page,
    }
    if not is_last:
        out["nextPage"] = f"{base}?maxResults={limit}&startAt={start + limit}"
    return Response(200, out)


def get_changelog(req: Request) -> Response:
    iss = _issue(req)
    start = max(0, req.qint("startAt", 0))
    limit = min(max(1, req.qint("maxResults", 100)), 100)
    items = iss.changelog[start : start + limit]
    ctx = req.ctx
    base = f"{ctx.api}/issue/{iss.key}/changelog"
    is_last = start + len(items) >= len(iss.changelog)
    out: dict[str, Any] = {
        "self": f"{base}?maxResults={limit}&startAt={start}",
        "maxResults": limit,
        "startAt": start,
        "total": len(iss.changelog),
        "isLast": is_last,
        "values": [render.history(ctx, h) for h in items],
    }
    if not is_last:
        out["nextPage"] = f"{base}?maxResults={limit}&startAt={start + limit}"
    return Response(200, out)


# --------------------------------------------------------------------------- search


def _search_args(req: Request) -> dict[str, Any]:
    if req.method == "POST":
        body = _require_body(req)
        return {
            "jql": body.get("jql") or "",
            "fields": body.get("fields"),
            "expand": _split(body.get("expand")),
            "properties": _split(body.get("properties")),
            "maxResults": body.get("maxResults"),
            "nextPageToken": body.get("nextPageToken"),
            "startAt": body.get("startAt"),
        }
    return {
        "jql": req.q("jql") or "",
        "fields": req.qlist("fields") or None,
        "expand": req.qlist("expand"),
        "properties": req.qlist("properties"),
        "maxResults": req.q("maxResults"),
        "nextPageToken": req.q("nextPageToken"),
        "startAt": req.q("startAt"),
    }


def _split(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [x.strip() for x in value.split(",") if x.strip()]
    return [str(x).strip() for x in value if str(x).strip()]


def _int(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise StoreError(400, [f"The '{name}' parameter must be an integer."]) from None


def run_jql(req: Request, jql: str) -> list[int]:
    """Issue ids matching ``jql`` in result order (ORDER BY, else by id)."""
    from bridge.sandbox import jql as jqlmod  # written alongside; imported lazily

    store = req.store
    actor = req.actor
    now = store.now()
    # keyed on the clock too: relative dates ("updated >= -5m") move with a running clock
    cache_key = (jql, store.version, actor.account_id, now)
    cached = req.server.jql_cache.get(cache_key)
    if cached is not None:
        return cached
    try:
        query = jqlmod.parse(
            jql,
            now=now,
            known_fields=store.jql_knows,
            known_value=store.jql_value_known,
            date_fields=store.jql_date_field,
            rank=store.jql_rank,
            tz=store.site_tz,
            current_user=(actor.account_id, actor.email, actor.display_name),
        )
    except jqlmod.JqlError as exc:
        raise StoreError(400, [str(exc)]) from None
    views = [store.view(i) for i in store.iter_issues()]
    matched = query.sort([v for v in views if query.matches(v)])
    ids = [v.issue.id for v in matched]
    req.server.jql_cache[cache_key] = ids
    while len(req.server.jql_cache) > 32:
        req.server.jql_cache.pop(next(iter(req.server.jql_cache)))
    return ids


def _render_page(
    req: Request, ids: list[int], args: dict[str, Any], default_fields: str
) -> tuple[list[Any], bool]:
    store = req.store
    flds, wants_fields = render.resolve_fields(store, args["fields"], default_fields)
    props = args["properties"]
    if len(props) > MAX_SEARCH_PROPERTIES:
        raise StoreError(400, [f"The number of properties cannot exceed {MAX_SEARCH_PROPERTIES}."])
    expand = args["expand"]
    ctx = req.ctx
    out = []
    requested = set(_split(args["fields"])) if args["fields"] else {default_fields}
    heavy = wants_fields or bool(expand) or bool(props)
    for i in ids:
        iss = store.issue_by_id(i)
        if iss is None:
            continue
        if not heavy:
            item: dict[str, Any] = {"id": str(iss.id)}
            if "key" in requested:
                item["key"] = iss.key
            out.append(item)
        else:
            out.append(render.issue(ctx, iss, flds, expand=expand, properties=props))
    return out, heavy


def search_jql(req: Request) -> Response:
    """Cloud's enhanced search: ``nextPageToken`` pages over a snapshot taken on page one."""
    args = _search_args(req)
    jql = str(args["jql"]).strip()
    if not jql or jql.lower().startswith("order by"):
        raise StoreError(
            400,
            [
                "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
            ],
        )
    flds, wants = render.resolve_fields(req.store, args["fields"], "id")
    cap = CLOUD_MAX_FULL if (wants or args["expand"] or args["properties"]) else CLOUD_MAX_IDS
    limit = min(max(1, _int(args["maxResults"], "maxResults", 50)), cap)
    token = args["nextPageToken"]
    snapshots = req.server.snapshots
    if token:
        try:
            snap_id, offset = _decode_token(str(token))
            ids = snapshots[snap_id]
        except (KeyError, ValueError):
            raise StoreError(400, ["The provided next page token is invalid or expired."]) from None
    else:
        ids = run_jql(req, jql)
        snap_id, offset = secrets.token_hex(8), 0
        snapshots[snap_id] = ids
        while len(snapshots) > 256:
            snapshots.popitem(last=False)
    page_ids = ids[offset : offset + limit]
    issues, _ = _render_page(req, page_ids, args, "id")
    body: dict[str, Any] = {"issues": issues, "isLast": offset + limit >= len(ids)}
    if not body["isLast"]:
        body["nextPageToken"] = _encode_token(snap_id, offset + limit)
    if "names" in args["expand"]:
        body["names"] = {f.id: f.name for f in flds}
    return Response(200, body)


def _encode_token(snap: str, offset: int) -> str:
    raw = json.dumps({"s": snap, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_token(token: str) -> tuple[str, int]:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        return str(data["s"]), int(data["o"])
    except (binascii.Error, json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise ValueError("bad token") from exc


def max_result_window(req: Request) -> Response:
    """``GET /rest/api/2/searchLimits/maxResultWindow``: "Returns the maximum number of
    search results that can be returned by the underlying search platform", since Jira
    Data Center 11.3 (Jira Data Center REST API, "searchLimits",
    https://developer.atlassian.com/server/jira-servicedesk/rest/v1103/api-group-searchlimits/).
    Served when the sandbox is given a result window (a site of that version); without
    one it answers as the 9.x it models, which has no such resource."""
    window = req.server.result_window
    if window is None:
        raise StoreError(404, ["null for uri: /rest/api/2/searchLimits/maxResultWindow"])
    return Response(200, window)


def search_gone(req: Request) -> Response:
    raise StoreError(410, [GONE])


def search_dc(req: Request) -> Response:
    """Data Center's ``/rest/api/2/search`` (GET and POST): ``startAt``/``maxResults``/``total``.

    At most ``jira.search.views.default.max`` (1,000) issues a page.  Its request takes
    ``jql``, ``startAt``, ``maxResults``, ``validateQuery``, ``fields`` and ``expand``: there
    is no ``properties`` parameter, so no issue property comes back with the issues
    (Jira Server platform REST API reference, "api/2/search"; JRASERVER-62898, "Allow
    retrieving issue properties in search REST API", unresolved).  An unknown
    ``properties`` is ignored, as Jira ignores unknown query parameters and body members.
    """
    args = {**_search_args(req), "properties": []}
    jql = str(args["jql"]).strip()
    ids = run_jql(req, jql) if jql else [i.id for i in req.store.iter_issues()]
    start = max(0, _int(args["startAt"], "startAt", 0))
    limit = min(max(0, _int(args["maxResults"], "maxResults", 50)), DC_MAX)
    window = req.server.result_window
    if window is not None and start + limit > window:
        # "When you reach startAt=10000, the API returns an error or empty results due to
        # the max_result_window limit" (Atlassian Support, Data Center: "Handling JQL REST
        # API searching exceeding max_result_window in Jira"), with this message
        return Response(
            500,
            {
                "errorMessages": [
                    f"Search limit exceeded. We couldn't complete your search because it "
                    f"requests {start + limit:,} results which exceeded the search platform "
                    f"limit of {window:,}. Try refining your query or contact your Jira "
                    "administrator. Repeating the same search may not work."
                ],
                "errors": {},
            },
        )
    issues, _ = _render_page(
        req,
        ids[start : start + limit],
        {**args, "fields": args["fields"] or ["*navigable"]},
        "*navigable",
    )
    return Response(
        200,
        {
            "expand": "schema,names",
            "startAt": start,
            "maxResults": limit,
            "total": len(ids),
            "issues": issues,
        },
    )


# --------------------------------------------------------------------------- Service Management


def _org(req: Request) -> Any:
    org = req.store.organizations.get(req.path_params["organizationId"])
    if org is None:
        raise JsmError(404, "The organization does not exist.", "sd.organization.error.not.found")
    return org


def _page_args(req: Request, default: int = 50) -> tuple[int, int]:
    return max(0, req.qint("start", 0)), min(max(1, req.qint("limit", default)), 100)


def organizations(req: Request) -> Response:
    store = req.store
    start, limit = _page_args(req)
    orgs = list(store.organizations.values())
    account = req.q("accountId")
    if account:
        orgs = [o for o in orgs if account in o.members]
    page = [render.organization(req.ctx, o) for o in orgs[start : start + limit]]
    return Response(
        200,
        render.paged(req.ctx, "/rest/servicedeskapi/organization", page, start, limit, len(orgs)),
    )


def organization(req: Request) -> Response:
    return Response(200, render.organization(req.ctx, _org(req)))


def organization_users(req: Request) -> Response:
    org = _org(req)
    start, limit = _page_args(req)
    users = [req.store.users[a] for a in org.members if a in req.store.users]
    page = [render.user_dto(req.ctx, u) for u in users[start : start + limit]]
    path = f"/rest/servicedeskapi/organization/{org.id}/user"
    return Response(200, render.paged(req.ctx, path, page, start, limit, len(users)))


def organization_property_keys(req: Request) -> Response:
    org = _org(req)
    base = f"{req.server.url}/rest/servicedeskapi/organization/{org.id}/property"
    return Response(200, {"keys": [{"self": f"{base}/{k}", "key": k} for k in org.properties]})


def organization_property(req: Request) -> Response:
    org = _org(req)
    key = req.path_params["propertyKey"]
    if key not in org.properties:
        raise JsmError(
            404, f"The property with key '{key}' does not exist.", "sd.property.not.found"
        )
    return Response(200, {"key": key, "value": org.properties[key]})


def put_organization_property(req: Request) -> Response:
    org = _org(req)
    key = req.path_params["propertyKey"]
    if _json_size(req.body) > PROPERTY_LIMIT:
        raise JsmError(400, "The property value is too long.", "sd.property.too.long")
    created = req.store.set_property(org.properties, key, req.body)
    return Response(201 if created else 200)


def delete_organization_property(req: Request) -> Response:
    org = _org(req)
    key = req.path_params["propertyKey"]
    if key not in org.properties:
        raise JsmError(
            404, f"The property with key '{key}' does not exist.", "sd.property.not.found"
        )
    req.store.delete_property(org.properties, key)
    return Response(204)


def service_desks(req: Request) -> Response:
    """``GET /rest/servicedeskapi/servicedesk``: the service desks (here: the one project)."""
    p = req.store.project
    start, limit = _page_args(req)
    desks = [
        {
            "id": p.service_desk_id,
            "projectId": p.id,
            "projectName": p.name,
            "projectKey": p.key,
            "_links": {
                "self": f"{req.server.url}/rest/servicedeskapi/servicedesk/{p.service_desk_id}"
            },
        }
    ]
    page = desks[start : start + limit]
    return Response(
        200, render.paged(req.ctx, "/rest/servicedeskapi/servicedesk", page, start, limit, 1)
    )


def service_desk_request_types(req: Request) -> Response:
    """``GET /rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype``: the service
    desk's request types, paged by ``start``/``limit`` (jsm.v3.json, "Get request
    types", PagedDTORequestTypeDTO; Data Center: docs.atlassian.com/jira-servicedesk/REST/
    server, "servicedeskapi/servicedesk/{serviceDeskId}/requesttype")."""
    store = req.store
    if req.path_params["serviceDeskId"] != store.project.service_desk_id:
        raise JsmError(404, "The service desk does not exist.", "sd.servicedesk.error.not.found")
    start, limit = _page_args(req)
    types = sorted(store.request_types.values(), key=lambda t: int(t.id) if t.id.isdigit() else 0)
    page = [render.request_type(req.ctx, t) for t in types[start : start + limit]]
    path = f"/rest/servicedeskapi/servicedesk/{store.project.service_desk_id}/requesttype"
    return Response(200, render.paged(req.ctx, path, page, start, limit, len(types)))


def service_desk_customers(req: Request) -> Response:
    """``GET /rest/servicedeskapi/servicedesk/{serviceDeskId}/customer``: the service desk's
    customers, paged by ``start``/``limit`` (experimental on Cloud and Data Center; both
    document it: developer.atlassian.com/cloud/jira/service-desk/rest, "Servicedesk - Get
    customers", and docs.atlassian.com/jira-servicedesk/REST/server,
    "servicedeskapi/servicedesk/{serviceDeskId}/customer").  Agents need the *Service Desk
    Team* role to list them.  ``query`` narrows by name or e-mail.  An experimental call
    answers 412 without the ``X-ExperimentalApi`` header: ``opt-in`` on Cloud
    (jsm.v3.json: "Returned if the API is experimental but the X-ExperimentalApi: opt-in
    header was not passed"), ``true`` on Data Center ("Experimental methods will only
    process requests with X-ExperimentalApi : true", JSM Data Center REST API, Special
    headers, https://developer.atlassian.com/server/jira-servicedesk/info/special-headers/)."""
    store = req.store
    if not req.experimental_opt_in:
        value = "opt-in" if req.server.flavour == "cloud" else "true"
        raise JsmError(
            412,
            "This API is experimental. Experimental APIs are not guaranteed to be stable "
            f"within the preview period. You must set the header 'X-ExperimentalApi: {value}' "
            "to opt into using this API.",
            "sd.experimental.api.header.missing",
        )
    if req.path_params["serviceDeskId"] != store.project.service_desk_id:
        raise JsmError(404, "The service desk does not exist.", "sd.servicedesk.error.not.found")
    start, limit = _page_args(req)
    query = (req.q("query") or "").strip().lower()
    found = [
        u
        for u in store.users.values()
        if u.is_customer
        and (not query or query in u.email.lower() or query in u.display_name.lower())
    ]
    page = [render.user_dto(req.ctx, u) for u in found[start : start + limit]]
    path = f"/rest/servicedeskapi/servicedesk/{store.project.service_desk_id}/customer"
    return Response(200, render.paged(req.ctx, path, page, start, limit, len(found)))


def _request_issue(req: Request) -> Issue:
    try:
        iss = _issue(req)
    except StoreError:
        iss = None
    if iss is None or not _can_see(req.store, req.actor, iss):
        raise JsmError(
            404,
            "The request does not exist or you do not have permission to see it.",
            "sd.request.not.found",
        )
    return iss


def customer_request(req: Request) -> Response:
    iss = _request_issue(req)
    return Response(200, render.customer_request(req.ctx, iss, req.qlist("expand")))


def request_comments(req: Request) -> Response:
    iss = _request_issue(req)
    start, limit = _page_args(req)
    want_public = req.qbool("public", True)
    want_internal = req.qbool("internal", True) and not req.actor.is_customer
    items = [
        c for c in iss.comments if (c.public and want_public) or (not c.public and want_internal)
    ]
    page = [render.comment_dto(req.ctx, iss, c) for c in items[start : start + limit]]
    path = f"/rest/servicedeskapi/request/{iss.id}/comment"
    return Response(200, render.paged(req.ctx, path, page, start, limit, len(items)))


def request_participants(req: Request) -> Response:
    """``GET /rest/servicedeskapi/request/{issueIdOrKey}/participant``: the request's
    participants as UserDTOs, paged by ``start``/``limit`` (Cloud: "Request - Get request
    participants", developer.atlassian.com/cloud/jira/service-desk/rest; Data Center:
    docs.atlassian.com/jira-servicedesk/REST/server,
    "servicedeskapi/request/{issueIdOrKey}/participant").  Anyone who may view the
    request may list them, its customers included."""
    store = req.store
    iss = _request_issue(req)
    found = [u for u in (store.user(a) for a in iss.participants) if u is not None]
    start, limit = _page_args(req)
    page = [render.user_dto(req.ctx, u) for u in found[start : start + limit]]
    path = f"/rest/servicedeskapi/request/{iss.id}/participant"
    return Response(200, render.paged(req.ctx, path, page, start, limit, len(found)))


def add_request_comment(req: Request) -> Response:
    store = req.store
    iss = _request_issue(req)
    body = req.body if isinstance(req.body, dict) else {}
    text = body.get("body")
    if not isinstance(text, str) or not text.strip():
        raise JsmError(400, "The comment body is required.", "sd.comment.body.required")
    public = body.get("public", True)
    if not public and req.actor.is_customer:
        raise JsmError(
            403, "Customers cannot add internal comments.", "sd.comment.internal.forbidden"
        )
    props = {} if public else {"sd.public.comment": {"internal": True}}
    c = store.add_comment(iss, req.actor, text, properties=props)
    return Response(201, render.comment_dto(req.ctx, iss, c))


def perform_customer_transition(req: Request) -> Response:
    """``POST /rest/servicedeskapi/request/{issueIdOrKey}/transition`` ("Perform customer
    transition", JSM Cloud REST API and JSM Data Center REST API): body ``{"id": ...}``,
    answer 204.  The changelog records the customer as the author.  A real site offers
    the transitions its request type maps for customers; the sandbox offers the
    workflow's transitions from the current status."""
    store = req.store
    iss = _request_issue(req)
    body = req.body if isinstance(req.body, dict) else {}
    tid = str(body.get("id") or "")
    t = next((t for t in store.transitions_for(iss) if t.id == tid), None)
    if t is None:
        raise JsmError(
            400,
            f"Transition id '{tid}' is not valid for this request.",
            "sd.request.transition.invalid",
        )
    store.transition(iss, req.actor, t)
    return Response(204)


# --------------------------------------------------------------------------- the table


def _both(method: str, path: str, handler: Handler, **kw: Any) -> list[Route]:
    """The v3 route (Cloud only) and its v2 twin (both flavours)."""
    flavours = kw.pop("flavours", frozenset({"cloud", "datacenter"}))
    return [
        Route(
            method, f"/rest/api/3{path}", handler, flavours=frozenset({"cloud"}) & flavours, **kw
        ),
        Route(method, f"/rest/api/2{path}", handler, flavours=flavours, **kw),
    ]


_ISSUE_BODY = ("platform", "IssueUpdateDetails")
_CLOUD = frozenset({"cloud"})
_DC = frozenset({"datacenter"})

ROUTES: list[Route] = [
    *_both("GET", "/serverInfo", server_info, anonymous=True, customers=True),
    *_both("GET", "/myself", myself, customers=True),
    *_both("GET", "/field", fields),
    *_both("GET", "/priority", priorities),
    *_both("GET", "/status", statuses),
    *_both("GET", "/statuscategory", status_categories),
    *_both("GET", "/resolution", resolutions),
    *_both("GET", "/issuetype", issue_types),
    *_both("GET", "/user", get_user),
    *_both("GET", "/user/search", user_search),
    *_both("POST", "/issue", create_issue, kind="write", request_schema=_ISSUE_BODY),
    *_both("GET", "/issue/{issueIdOrKey}", get_issue),
    *_both("PUT", "/issue/{issueIdOrKey}", edit_issue, kind="write", request_schema=_ISSUE_BODY),
    *_both("GET", "/project/{projectIdOrKey}/properties/{propertyKey}", get_project_property),
    *_both(
        "PUT",
        "/project/{projectIdOrKey}/properties/{propertyKey}",
        put_project_property,
        kind="site",
    ),
    *_both(
        "DELETE",
        "/project/{projectIdOrKey}/properties/{propertyKey}",
        delete_project_property,
        kind="site",
    ),
    *_both("GET", "/issue/{issueIdOrKey}/properties", get_properties),
    *_both("GET", "/issue/{issueIdOrKey}/properties/{propertyKey}", get_property),
    *_both("PUT", "/issue/{issueIdOrKey}/properties/{propertyKey}", put_property, kind="write"),
    *_both(
        "DELETE", "/issue/{issueIdOrKey}/properties/{propertyKey}", delete_property, kind="write"
    ),
    *_both("GET", "/issue/{issueIdOrKey}/comment", get_comments),
    *_both(
        "POST",
        "/issue/{issueIdOrKey}/comment",
        add_comment,
        kind="write",
        request_schema=("platform", "Comment"),
    ),
    *_both("GET", "/issue/{issueIdOrKey}/comment/{id}", get_comment),
    *_both(
        "POST",
        "/comment/list",
        comments_by_ids,
        flavours=_CLOUD,
        request_schema=("platform", "IssueCommentListRequestBean"),
    ),
    *_both("GET", "/comment/{commentId}/properties", comment_property_keys),
    *_both("GET", "/comment/{commentId}/properties/{propertyKey}", comment_property),
    *_both(
        "PUT", "/comment/{commentId}/properties/{propertyKey}", put_comment_property, kind="write"
    ),
    *_both(
        "DELETE",
        "/comment/{commentId}/properties/{propertyKey}",
        delete_comment_property,
        kind="write",
    ),
    *_both("GET", "/issue/{issueIdOrKey}/transitions", get_transitions),
    *_both(
        "POST",
        "/issue/{issueIdOrKey}/transitions",
        do_transition,
        kind="write",
        request_schema=_ISSUE_BODY,
    ),
    # the workflow listing with transitions: Cloud only (Data Center's has no transitions)
    Route("GET", "/rest/api/3/workflows/search", search_workflows, flavours=_CLOUD),
    # Data Center has no paged changelog resource (only expand=changelog)
    *_both("GET", "/issue/{issueIdOrKey}/changelog", get_changelog, flavours=_CLOUD),
    *_both("GET", "/search/jql", search_jql, flavours=_CLOUD),
    *_both(
        "POST",
        "/search/jql",
        search_jql,
        flavours=_CLOUD,
        request_schema=("platform", "SearchAndReconcileRequestBean"),
    ),
    # the retired search: 410 on Cloud (v2 and v3), still served by Data Center (v2)
    Route("GET", "/rest/api/3/search", search_gone, flavours=_CLOUD),
    Route("POST", "/rest/api/3/search", search_gone, flavours=_CLOUD),
    Route("GET", "/rest/api/2/search", search_gone, flavours=_CLOUD),
    Route("POST", "/rest/api/2/search", search_gone, flavours=_CLOUD),
    Route("GET", "/rest/api/2/search", search_dc, flavours=_DC),
    Route(
        "GET",
        "/rest/api/2/searchLimits/maxResultWindow",
        max_result_window,
        flavours=_DC,
        documented="https://developer.atlassian.com/server/jira-servicedesk/rest/v1103/api-group-searchlimits/",
    ),
    Route(
        "POST",
        "/rest/api/2/search",
        search_dc,
        flavours=_DC,
        request_schema=("platform", "SearchRequestBean"),
    ),
    Route("GET", "/rest/servicedeskapi/organization", organizations),
    Route("GET", "/rest/servicedeskapi/organization/{organizationId}", organization),
    Route("GET", "/rest/servicedeskapi/organization/{organizationId}/user", organization_users),
    Route(
        "GET",
        "/rest/servicedeskapi/organization/{organizationId}/property",
        organization_property_keys,
    ),
    Route(
        "GET",
        "/rest/servicedeskapi/organization/{organizationId}/property/{propertyKey}",
        organization_property,
    ),
    Route(
        "PUT",
        "/rest/servicedeskapi/organization/{organizationId}/property/{propertyKey}",
        put_organization_property,
        kind="write",
    ),
    Route(
        "DELETE",
        "/rest/servicedeskapi/organization/{organizationId}/property/{propertyKey}",
        delete_organization_property,
        kind="write",
    ),
    Route("GET", "/rest/servicedeskapi/servicedesk", service_desks),
    Route(
        "GET",
        "/rest/servicedeskapi/servicedesk/{serviceDeskId}/requesttype",
        service_desk_request_types,
    ),
    Route(
        "GET", "/rest/servicedeskapi/servicedesk/{serviceDeskId}/customer", service_desk_customers
    ),
    Route("GET", "/rest/servicedeskapi/request/{issueIdOrKey}", customer_request, customers=True),
    Route(
        "GET",
        "/rest/servicedeskapi/request/{issueIdOrKey}/comment",
        request_comments,
        customers=True,
    ),
    Route(
        "GET",
        "/rest/servicedeskapi/request/{issueIdOrKey}/participant",
        request_participants,
        customers=True,
    ),
    Route(
        "POST",
        "/rest/servicedeskapi/request/{issueIdOrKey}/comment",
        add_request_comment,
        kind="write",
        customers=True,
        request_schema=("jsm", "CommentCreateDTO"),
    ),
    Route(
        "POST",
        "/rest/servicedeskapi/request/{issueIdOrKey}/transition",
        perform_customer_transition,
        kind="write",
        customers=True,
    ),
]


def _admin_routes() -> list[Route]:
    from bridge.sandbox import admin  # it builds on this module's request and route types

    return admin.ROUTES


ROUTES += _admin_routes()


def _bulk_routes() -> list[Route]:
    from bridge.sandbox import bulk  # it builds on this module's request and route types

    return bulk.ROUTES


ROUTES += _bulk_routes()


def match(method: str, path: str, flavour: str) -> tuple[Route | None, dict[str, str], bool]:
    """(route, path params, path exists with another method)."""
    other = False
    for r in ROUTES:
        if flavour not in r.flavours:
            continue
        m = r.regex.match(path)
        if m is None:
            continue
        if r.method != method:
            other = True
            continue
        return r, m.groupdict(), False
    return None, {}, other


def validate_body(route: Route, body: Any) -> None:
    if route.request_schema is None:
        return
    spec, name = route.request_schema
    problems = specdata.request_errors(spec, name, body)
    if problems:
        if route.spec == "jsm":
            raise JsmError(400, f"{BAD_PAYLOAD} ({problems[0]})", "sd.request.payload.invalid")
        raise StoreError(400, [BAD_PAYLOAD, *problems])


#: snapshots for search/jql tokens, oldest first
SnapshotCache = OrderedDict
