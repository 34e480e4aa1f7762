"""Jira write payloads (``fields`` / ``update``) → internal values, with Jira's error texts.

Validation collects every field error before anything is applied, as Jira does:
a request with one bad field changes nothing and answers 400 with
``errors: {field_id: message}``.
"""

from __future__ import annotations

from typing import Any

from bridge.sandbox.render import adf_to_text, is_adf
from bridge.sandbox.store import Field, Store, StoreError, User, parse_instant

NOT_SETTABLE = "Field '{0}' cannot be set. It is not on the appropriate screen, or unknown."
ADF_REQUIRED = "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
READ_ONLY = {
    "status",
    "created",
    "updated",
    "resolutiondate",
    "creator",
    "comment",
    "issuekey",
    "statuscategorychangedate",
}


class _Bad(Exception):
    pass


def parse_value(
    store: Store,
    f: Field,
    raw: Any,
    *,
    version: str,
    flavour: str,
) -> Any:
    """One field's JSON value → the internal value; raises _Bad(message)."""
    kind = f.kind
    if kind == "summary":
        if not isinstance(raw, str) or not raw.strip():
            raise _Bad("You must specify a summary of the issue.")
        if len(raw) > 255:
            raise _Bad("Summary must be less than 255 characters.")
        return raw
    if kind in ("description", "textarea"):
        if raw is None:
            return None
        if version == "3":
            if not is_adf(raw):
                raise _Bad(ADF_REQUIRED)
            return adf_to_text(raw) or None
        if not isinstance(raw, str):
            raise _Bad("Operation value must be a string")
        return raw or None
    if kind == "text":
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise _Bad("Operation value must be a string")
        if len(raw) > 255:
            raise _Bad(
                "The entered text is too long. It exceeds the allowed limit of 255 characters."
            )
        return raw or None
    if kind == "priority":
        if not isinstance(raw, dict):
            raise _Bad("Could not find valid 'id' or 'name' in priority object.")
        if "id" in raw:
            p = store.priority(str(raw["id"]))
        elif "name" in raw:
            p = store.priority_by_name(str(raw["name"]))
        else:
            raise _Bad("Could not find valid 'id' or 'name' in priority object.")
        if p is None or not store.in_priority_scheme(p):
            # a priority of the site that the project's priority scheme lacks is refused
            # as an unknown one is: 400, ``{"errorMessages": [], "errors": {"priority":
            # "The priority selected is invalid."}}`` (Jira Cloud's answer, quoted in
            # https://github.com/tenable/integration-jira-cloud/issues/205; "Edit issue"
            # answers 400 when "the request includes one or more fields that are not
            # found or are not associated with the issue's edit screen",
            # https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issues/
            # #api-rest-api-3-issue-issueidorkey-put)
            raise _Bad("The priority selected is invalid.")
        return p.id
    if kind == "resolution":
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise _Bad("Could not find valid 'id' or 'name' in resolution object.")
        r = (
            store.resolution(str(raw["id"]))
            if "id" in raw
            else store.resolution_by_name(str(raw.get("name", "")))
        )
        if r is None:
            raise _Bad(f"Resolution '{raw.get('name', raw.get('id'))}' is not valid.")
        return r.id
    if kind == "user":
        return _parse_user(store, f, raw, flavour)
    if kind == "labels":
        if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw):
            raise _Bad("Operation value must be an array of strings")
        for label in raw:
            _check_label(label)
        return list(dict.fromkeys(raw))
    if kind == "select":
        if raw is None:
            return None
        if not isinstance(raw, dict):
            raise _Bad(f"Specify a valid 'id' or 'name' for {f.name}")
        if "id" in raw:
            o = f.option_by_id(str(raw["id"]))
            bad = f"Option id '{raw['id']}' is not valid"
        elif "value" in raw:
            o = f.option_by_value(str(raw["value"]))
            bad = f"Option value '{raw['value']}' is not valid"
        else:
            raise _Bad(f"Specify a valid 'id' or 'name' for {f.name}")
        if o is None or o.disabled:
            raise _Bad(bad)
        return o.id
    if kind == "datetime":
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise _Bad("Operation value must be a string")
        try:
            return parse_instant(raw, store.site_tz).astimezone(store.site_tz)
        except ValueError:
            raise _Bad(
                "Invalid date format. Please enter the date in the format "
                "\"yyyy-MM-dd'T'HH:mm:ss.SSSZ\"."
            ) from None
    if kind == "number":
        if raw is None:
            return None
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise _Bad("Operation value must be a number")
        return float(raw)
    if kind == "organizations":
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise _Bad("Operation value must be an array")
        out = []
        for item in raw:
            oid = item.get("id") if isinstance(item, dict) else item
            if str(oid) not in store.organizations:
                raise _Bad(f"Organization with id '{oid}' does not exist.")
            out.append(str(oid))
        return list(dict.fromkeys(out))
    if kind == "requesttype":
        if raw is None:
            return None
        ref = raw.get("id", raw.get("requestTypeId")) if isinstance(raw, dict) else raw
        ref = str(ref)
        rt = store.request_types.get(ref) or store.request_type_by_name(ref)
        if rt is None:
            rt = next(
                (r for r in store.request_types.values() if r.key and ref.endswith(r.key)), None
            )
        if rt is None:
            raise _Bad(f"Request type '{ref}' does not exist.")
        return rt.id
    raise _Bad(NOT_SETTABLE.format(f.id))


def _check_label(label: str) -> None:
    if not label or " " in label:
        raise _Bad(f"The label '{label}' contains spaces which is invalid.")
    if len(label) > 255:
        raise _Bad("The label must not exceed 255 characters.")


def _parse_user(store: Store, f: Field, raw: Any, flavour: str) -> str | None:
    if raw is None:
        if f.id == "reporter":
            raise _Bad("Reporter is required.")
        return None
    u: User | None
    if flavour == "datacenter":
        # Data Center names a user by ``name`` (or ``key``): ``{"assignee": {"name": "harry"}}``
        # ("JIRA REST API Example - Edit issues", developer.atlassian.com/server/jira/platform);
        # it knows no accountId.
        if not isinstance(raw, dict) or not ({"name", "key"} & set(raw)):
            raise _Bad("expected Object containing a 'name' property")
        ref = raw.get("name") if "name" in raw else raw.get("key")
        if ref is None or ref == "-1":
            return None
        u = store.user_by_name(str(ref))
    else:
        if not isinstance(raw, dict) or "accountId" not in raw:
            raise _Bad(f"Could not find valid 'accountId' in {f.id} object.")
        if raw["accountId"] in (None, "-1"):
            return None
        u = store.user(str(raw["accountId"]))
        ref = raw["accountId"]
    if u is None or not u.active:
        raise _Bad(f"User '{ref}' does not exist.")
    if f.id == "assignee" and u.is_customer:
        raise _Bad(f"User '{u.display_name}' cannot be assigned issues.")
    return u.account_id


def parse_edit(
    store: Store,
    body: dict[str, Any],
    current: dict[str, Any] | None,
    *,
    version: str,
    flavour: str,
    allowed: set[str] | None = None,
) -> dict[str, Any]:
    """``{"fields": ..., "update": ...}`` → ``{field_id: new internal value}``.

    ``current`` holds the issue's values (labels add/remove work against it);
    None when creating.  ``allowed`` limits the settable fields (transition screens).
    """
    fields = body.get("fields") or {}
    update = body.get("update") or {}
    if not isinstance(fields, dict) or not isinstance(update, dict):
        raise StoreError(
            400, ["Invalid request payload. Refer to the REST API documentation and try again."]
        )
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}

    def lookup(fid: str) -> Field | None:
        f = store.fields.get(fid)
        if f is None or fid in READ_ONLY or (allowed is not None and fid not in allowed):
            errors[fid] = NOT_SETTABLE.format(fid)
            return None
        if current is not None and fid in ("project", "issuetype"):
            errors[fid] = NOT_SETTABLE.format(fid)
            return None
        return f

    for fid, raw in fields.items():
        if fid in update:
            errors[fid] = f"Field '{fid}' cannot be updated using both 'fields' and 'update'."
            continue
        f = lookup(fid)
        if f is None:
            continue
        if f.kind in ("project", "issuetype"):
            continue  # handled by the create route
        try:
            changes[fid] = parse_value(store, f, raw, version=version, flavour=flavour)
        except _Bad as exc:
            errors[fid] = str(exc)

    for fid, ops in update.items():
        f = lookup(fid)
        if f is None:
            continue
        if not isinstance(ops, list):
            errors[fid] = "Operation value must be an array of operations."
            continue
        try:
            if f.kind == "labels":
                labels = list((current or {}).get("labels") or [])
                for op in ops:
                    if "set" in op:
                        labels = parse_value(store, f, op["set"], version=version, flavour=flavour)
                    if "add" in op:
                        _check_label(_as_str(op["add"]))
                        if op["add"] not in labels:
                            labels.append(op["add"])
                    if "remove" in op:
                        value = _as_str(op["remove"])
                        labels = [x for x in labels if x != value]
                    if not {"set", "add", "remove"} & set(op):
                        raise _Bad(f"Operation(s) {sorted(op)} not supported for field {fid}.")
                changes[fid] = labels
            elif f.kind == "organizations":
                orgs = list((current or {}).get(fid) or [])
                for op in ops:
                    if "set" in op:
                        orgs = parse_value(store, f, op["set"], version=version, flavour=flavour)
                    for verb in ("add", "remove"):
                        if verb in op:
                            item = parse_value(
                                store, f, [op[verb]], version=version, flavour=flavour
                            )
                            for oid in item:
                                if verb == "add" and oid not in orgs:
                                    orgs.append(oid)
                                if verb == "remove" and oid in orgs:
                                    orgs.remove(oid)
                changes[fid] = orgs
            else:
                for op in ops:
                    if set(op) != {"set"}:
                        raise _Bad(f"Operation(s) {sorted(op)} not supported for field {fid}.")
                    changes[fid] = parse_value(
                        store, f, op["set"], version=version, flavour=flavour
                    )
        except _Bad as exc:
            errors[fid] = str(exc)

    if errors:
        raise StoreError(400, [], errors)
    return changes


def _as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad("Operation value must be a string")
    return value
