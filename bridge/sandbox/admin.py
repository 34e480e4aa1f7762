"""Site administration routes: custom fields with their contexts and options, saved
filters, the caller's permissions and an issue's edit metadata.

What `jsm-bridge setup-site` and `check --online` use, answered as Atlassian documents
Jira Cloud's REST API v3 (and its v2 twin):

* Create custom field -- ``POST /rest/api/3/field`` (*Administer Jira*; the body is a
  ``CustomFieldDefinitionJsonBean``; answers ``201`` with ``FieldDetails``).
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-fields/#api-rest-api-3-field-post
  A field made this way gets a global context ("Default Configuration Scheme for
  NAME"), as one made in the UI does.
* Custom field contexts -- ``GET/POST /rest/api/3/field/{fieldId}/context``
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-custom-field-contexts/
* Custom field options -- ``GET/POST /rest/api/3/field/{fieldId}/context/{contextId}/option``
  (option values are unique within a context).
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-custom-field-options/
* Filters -- ``POST /rest/api/3/filter``, ``PUT /rest/api/3/filter/{id}``,
  ``GET /rest/api/3/filter/search`` (``filterName`` is a case-insensitive partial match;
  ``jql`` is returned only with ``expand=jql``); a user's filter names are unique.
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-filters/
* My permissions -- ``GET /rest/api/3/mypermissions?permissions=...`` (the
  ``permissions`` parameter is required).
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-permissions/#api-rest-api-3-mypermissions-get
* Edit issue metadata -- ``GET /rest/api/3/issue/{issueIdOrKey}/editmeta``: the fields
  on the issue's edit screen with their allowed values.
  https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/#api-rest-api-3-issue-issueidorkey-editmeta-get

Data Center (REST v2) documents ``POST /rest/api/2/field``, ``POST /rest/api/2/filter``,
``PUT /rest/api/2/filter/{id}``, ``GET /rest/api/2/filter/favourite``,
``GET /rest/api/2/mypermissions`` and ``GET /rest/api/2/issue/{key}/editmeta``
(Jira Data Center REST API reference: api/2/field, api/2/filter, api/2/mypermissions,
api/2/issue) but no field contexts, no way to add select options (its
``/rest/api/2/customFields/{id}/options`` only lists them) and no filter search.
The sandbox keeps one context per field.
"""

from __future__ import annotations

from typing import Any

from bridge.sandbox import render
from bridge.sandbox.routes import (
    NO_PERMISSION,
    Request,
    Response,
    Route,
    _both,
    _issue,
    _require_body,
    run_jql,
)
from bridge.sandbox.store import Field, Option, SavedFilter, StoreError

_TYPES = "com.atlassian.jira.plugin.system.customfieldtypes:"
#: custom field type -> the sandbox's field kind
FIELD_TYPES = {
    f"{_TYPES}datetime": "datetime",
    f"{_TYPES}select": "select",
    f"{_TYPES}textfield": "text",
    f"{_TYPES}textarea": "textarea",
    f"{_TYPES}float": "number",
}
#: the project permissions the sandbox knows, with their display names
PERMISSIONS = {
    "BROWSE_PROJECTS": "Browse Projects",
    "EDIT_ISSUES": "Edit Issues",
    "ADD_COMMENTS": "Add Comments",
    "TRANSITION_ISSUES": "Transition Issues",
    "ASSIGN_ISSUES": "Assign Issues",
    "ASSIGNABLE_USER": "Assignable User",
    "CREATE_ISSUES": "Create Issues",
    "ADMINISTER": "Administer Jira",
}
_CLOUD = frozenset({"cloud"})


def _admin(req: Request) -> None:
    if not req.actor.admin:
        raise StoreError(403, [NO_PERMISSION])


def _custom_field(req: Request) -> Field:
    f = req.store.fields.get(req.path_params["fieldId"])
    if f is None or not f.custom:
        raise StoreError(404, [f"The custom field was not found: {req.path_params['fieldId']}"])
    return f


def _context_field(req: Request) -> Field:
    f = _custom_field(req)
    if f.context_id is None or f.context_id != req.path_params["contextId"]:
        raise StoreError(404, ["The context was not found."])
    return f


def _page(req: Request, values: list[Any]) -> dict[str, Any]:
    start, size = req.qint("startAt", 0), req.qint("maxResults", 50)
    chunk = values[start : start + size]
    return {
        "startAt": start,
        "maxResults": size,
        "total": len(values),
        "isLast": start + len(chunk) >= len(values),
        "values": chunk,
    }


# ------------------------------------------------------------------------------ fields


def create_field(req: Request) -> Response:
    _admin(req)
    body = _require_body(req)
    name = str(body.get("name") or "").strip()
    kind = FIELD_TYPES.get(str(body.get("type") or ""))
    errors = {}
    if not name:
        errors["name"] = "The custom field name must not be empty."
    if kind is None:
        errors["type"] = f"The custom field type {body.get('type')!r} is not valid."
    if errors:
        raise StoreError(400, [], errors)
    assert kind is not None
    store = req.store
    with store.lock:
        made = store.add_field(name, kind)
        made.context_id = str(store.next_context_id)
        store.next_context_id += 1
        store._touch()
    return Response(201, render.field_details(req.ctx, made))


def _context_json(f: Field) -> dict[str, Any]:
    return {
        "id": f.context_id,
        "name": f"Default Configuration Scheme for {f.name}",
        "description": "Default configuration scheme generated by Jira",
        "isGlobalContext": True,
        "isAnyIssueType": True,
    }


def get_contexts(req: Request) -> Response:
    _admin(req)
    f = _custom_field(req)
    return Response(200, _page(req, [_context_json(f)] if f.context_id else []))


def create_context(req: Request) -> Response:
    _admin(req)
    f = _custom_field(req)
    body = _require_body(req)
    if f.context_id is not None:
        raise StoreError(400, ["The sandbox keeps one context per custom field."])
    store = req.store
    with store.lock:
        f.context_id = str(store.next_context_id)
        store.next_context_id += 1
        store._touch()
    out = {
        "id": f.context_id,
        "name": str(body.get("name") or ""),
        "description": str(body.get("description") or ""),
        "projectIds": [],
        "issueTypeIds": [],
    }
    return Response(201, out)


def _option_json(o: Option) -> dict[str, Any]:
    return {"id": o.id, "value": o.value, "disabled": False}


def get_options(req: Request) -> Response:
    _admin(req)
    f = _context_field(req)
    return Response(200, _page(req, [_option_json(o) for o in f.options]))


def add_options(req: Request) -> Response:
    _admin(req)
    f = _context_field(req)
    body = _require_body(req)
    wanted = [str(o.get("value") or "") for o in body.get("options") or []]
    if f.kind != "select":
        raise StoreError(400, ["This custom field type does not support options."])
    existing = {o.value for o in f.options}
    for value in wanted:
        if not value.strip():
            raise StoreError(400, ["The option value must not be empty."])
        if value in existing or wanted.count(value) > 1:
            raise StoreError(400, [f"The option value '{value}' is not unique."])
    store = req.store
    made = []
    with store.lock:
        for value in wanted:
            option = Option(str(store.next_option_id), value)
            store.next_option_id += 1
            f.options.append(option)
            made.append(option)
        store._touch()
    return Response(200, {"options": [_option_json(o) for o in made]})


# ------------------------------------------------------------------------------ filters


def _filter_json(req: Request, saved: SavedFilter, *, with_jql: bool = True) -> dict[str, Any]:
    base = req.server.url
    owner = req.store.user(saved.owner)
    out: dict[str, Any] = {
        "self": f"{base}/rest/api/{req.version}/filter/{saved.id}",
        "id": saved.id,
        "name": saved.name,
        "description": saved.description,
        "owner": render.user(req.ctx, owner),
        "favourite": saved.favourite,
        "favouritedCount": 0,
        "sharePermissions": [],
        "editPermissions": [],
        "viewUrl": f"{base}/issues/?filter={saved.id}",
        "searchUrl": f"{base}/rest/api/{req.version}/search?jql=",
    }
    if with_jql:
        out["jql"] = saved.jql
    return out


def _filter_body(req: Request) -> tuple[str, str, str]:
    body = _require_body(req)
    name = str(body.get("name") or "").strip()
    jql = str(body.get("jql") or "")
    if not name:
        raise StoreError(400, [], {"filterName": "You must specify a name to save this filter as."})
    if jql.strip():
        run_jql(req, jql)  # a 400 naming the problem, as Jira answers a bad JQL
    return name, jql, str(body.get("description") or "")


def _name_taken(req: Request, name: str, but: str | None = None) -> bool:
    me = req.actor.account_id
    return any(
        f.owner == me and f.name.casefold() == name.casefold() and f.id != but
        for f in req.store.filters.values()
    )


def create_filter(req: Request) -> Response:
    name, jql, description = _filter_body(req)
    store = req.store
    with store.lock:
        if _name_taken(req, name):
            raise StoreError(400, [], {"filterName": "Filter with same name already exists."})
        saved = SavedFilter(
            str(store.next_filter_id),
            name,
            jql,
            req.actor.account_id,
            description,
            favourite=bool(_require_body(req).get("favourite", False)),
        )
        store.next_filter_id += 1
        store.filters[saved.id] = saved
        store._touch()
    return Response(200, _filter_json(req, saved))


def update_filter(req: Request) -> Response:
    saved = req.store.filters.get(req.path_params["id"])
    if saved is None or saved.owner != req.actor.account_id:
        raise StoreError(400, ["The selected filter is not available to you."])
    name, jql, description = _filter_body(req)
    with req.store.lock:
        if _name_taken(req, name, but=saved.id):
            raise StoreError(400, [], {"filterName": "Filter with same name already exists."})
        saved.name, saved.jql, saved.description = name, jql, description
        req.store._touch()
    return Response(200, _filter_json(req, saved))


def search_filters(req: Request) -> Response:
    wanted = (req.q("filterName") or "").casefold()
    with_jql = "jql" in (req.q("expand") or "").split(",")
    found = [
        _filter_json(req, f, with_jql=with_jql)
        for f in sorted(req.store.filters.values(), key=lambda f: int(f.id))
        if wanted in f.name.casefold()
    ]
    return Response(200, _page(req, found))


def favourite_filters(req: Request) -> Response:
    me = req.actor.account_id
    found = [
        _filter_json(req, f)
        for f in sorted(req.store.filters.values(), key=lambda f: int(f.id))
        if f.owner == me and f.favourite
    ]
    return Response(200, found)


# ------------------------------------------------------------------------------ permissions


def my_permissions(req: Request) -> Response:
    keys = [k for k in (req.q("permissions") or "").split(",") if k.strip()]
    if not keys:
        raise StoreError(400, ["The permissions query parameter is required."])
    unknown = [k for k in keys if k not in PERMISSIONS]
    if unknown:
        raise StoreError(404, [f"No project permissions with key {unknown[0]} found."])
    actor = req.actor
    agent = actor.account_type == "atlassian"
    denied = req.store.denied_permissions.get(actor.account_id, set())
    out = {
        key: {
            "id": str(10 + n),
            "key": key,
            "name": PERMISSIONS[key],
            "type": "GLOBAL" if key == "ADMINISTER" else "PROJECT",
            "description": PERMISSIONS[key],
            "havePermission": (actor.admin if key == "ADMINISTER" else agent) and key not in denied,
        }
        for n, key in enumerate(keys)
    }
    return Response(200, {"permissions": out})


def edit_meta(req: Request) -> Response:
    _issue(req)  # 404 for an issue that does not exist
    fields: dict[str, Any] = {}
    for f in req.store.fields.values():
        if not f.custom or not f.settable or f.kind in ("organizations", "requesttype"):
            continue
        entry: dict[str, Any] = {
            "required": False,
            "schema": render.field_schema(f),
            "name": f.name,
            "key": f.id,
            "operations": ["set"],
        }
        if f.kind == "select":
            entry["allowedValues"] = [
                {
                    "self": f"{req.server.url}/rest/api/{req.version}/customFieldOption/{o.id}",
                    "value": o.value,
                    "id": o.id,
                }
                for o in f.options
            ]
        fields[f.id] = entry
    return Response(200, {"fields": fields})


ROUTES: list[Route] = [
    *_both(
        "POST",
        "/field",
        create_field,
        kind="write",
        request_schema=("platform", "CustomFieldDefinitionJsonBean"),
    ),
    *_both("GET", "/field/{fieldId}/context", get_contexts, flavours=_CLOUD),
    *_both(
        "POST",
        "/field/{fieldId}/context",
        create_context,
        kind="write",
        flavours=_CLOUD,
        request_schema=("platform", "CreateCustomFieldContext"),
    ),
    *_both("GET", "/field/{fieldId}/context/{contextId}/option", get_options, flavours=_CLOUD),
    *_both(
        "POST",
        "/field/{fieldId}/context/{contextId}/option",
        add_options,
        kind="write",
        flavours=_CLOUD,
        request_schema=("platform", "BulkCustomFieldOptionCreateRequest"),
    ),
    *_both("GET", "/filter/search", search_filters, flavours=_CLOUD),
    *_both("GET", "/filter/favourite", favourite_filters),
    *_both("POST", "/filter", create_filter, kind="write", request_schema=("platform", "Filter")),
    *_both(
        "PUT", "/filter/{id}", update_filter, kind="write", request_schema=("platform", "Filter")
    ),
    *_both("GET", "/mypermissions", my_permissions),
    *_both("GET", "/issue/{issueIdOrKey}/editmeta", edit_meta),
]
