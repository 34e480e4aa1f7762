"""Jira field names → ids, and values in the shape each field's type asks for.

Custom field ids differ from site to site (``customfield_10042`` here,
``customfield_10107`` there), so configuration names fields by their **name**
and `FieldMap.resolve` maps them through ``GET /rest/api/2/field`` at start-up.
Every unknown name is reported at once, each with the closest names that do
exist.  The same goes for priority names, transition names and users.

`FieldMap.encode` writes a value the way the field's schema wants it (datetime
string, ``{"value": ...}`` option, number, plain text, or None to clear);
`FieldMap.decode` reads any raw value back to display text; `FieldMap.same`
compares what is there with what is wanted in the field's own terms, so the
planner writes only real changes.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from bridge.jira.port import JiraPort

# ---------------------------------------------------------------------- datetimes


def parse_jira_datetime(text: str) -> datetime:
    """Parse Jira's datetimes: ``2026-11-27T09:00:00.000+1000``, ``...+10:00``, ``...Z``.

    Always returns an aware datetime; raises ValueError for anything else.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"not a Jira datetime: {text!r}")
    value = text.strip()
    if value.endswith(("z", "Z")):
        value = value[:-1] + "+00:00"
    # Jira writes offsets as +1000; fromisoformat wants +10:00 on older Pythons.
    if len(value) >= 5 and value[-5] in "+-" and value[-4:].isdigit() and "T" in value:
        value = value[:-2] + ":" + value[-2:]
    # more than microsecond precision (some proxies) — keep six digits
    if "." in value:
        head, _, tail = value.partition(".")
        digits = ""
        while tail and tail[0].isdigit():
            digits += tail[0]
            tail = tail[1:]
        value = f"{head}.{(digits + '000000')[:6]}{tail}"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"Jira datetime without a UTC offset: {text!r}")
    return parsed


def format_jira_datetime(value: datetime) -> str:
    """``2026-11-27T09:00:00.000+1000``: the form Jira's datetime fields accept."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"refusing to write a datetime without a time zone: {value.isoformat()}")
    millis = value.microsecond // 1000
    return value.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}" + value.strftime("%z")


# ---------------------------------------------------------------------- resolution


class FieldResolutionError(Exception):
    """Names in configuration that the Jira site does not have (all of them at once)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


#: How close a Jira built-in field's name must be to be suggested for a missing field:
#: the bridge's fields are mostly custom ones, and at difflib's usual 0.6 "Response due"
#: would suggest the unrelated "Resolved" and "Product" the built-in "Project".
SYSTEM_FIELD_CUTOFF = 0.85


def _did_you_mean(name: str, candidates: Iterable[str], *, n: int = 3, cutoff: float = 0.6) -> str:
    pool = sorted({c for c in candidates if c})
    folded = {c.casefold(): c for c in pool}
    close = difflib.get_close_matches(name.casefold(), list(folded), n=n, cutoff=cutoff)
    if not close:
        return ""
    return " (did you mean " + ", ".join(repr(folded[c]) for c in close) + "?)"


@dataclass(frozen=True)
class SiteField:
    id: str
    name: str
    schema_type: str | None
    items: str | None
    custom: str | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> SiteField:
        schema = raw.get("schema") or {}
        return cls(
            id=str(raw.get("id") or raw.get("key") or ""),
            name=str(raw.get("name") or ""),
            schema_type=schema.get("type"),
            items=schema.get("items"),
            custom=schema.get("custom"),
        )

    # -- kinds -------------------------------------------------------------------------------
    @property
    def is_custom(self) -> bool:
        """A custom field (``customfield_NNNNN``), not one of Jira's built-in ones."""
        return self.custom is not None or self.id.startswith("customfield_")

    @property
    def is_request_type(self) -> bool:
        return self.schema_type == "sd-customerrequesttype" or (self.custom or "").endswith(
            ":vp-origin"
        )

    @property
    def is_organizations(self) -> bool:
        return self.items == "sd-customerorganization" or (self.custom or "").endswith(
            ":sd-customer-organizations"
        )

    @property
    def kind(self) -> str:
        """One of: datetime, date, number, option, options, strings, user, users,
        request_type, organizations, string."""
        if self.is_request_type:
            return "request_type"
        if self.is_organizations:
            return "organizations"
        t = self.schema_type
        if t == "array":
            return {"option": "options", "user": "users"}.get(self.items or "", "strings")
        if t in ("datetime", "date", "number", "option", "user"):
            return t
        if t == "option-with-child":
            return "option"
        return "string"


#: Logical fields that are JSM's own, with the `SiteField` test that finds them by type.
_JSM_FIELDS = {"request_type": "is_request_type", "organization": "is_organizations"}


@dataclass(frozen=True)
class FieldMap:
    by_logical: Mapping[str, SiteField]

    @classmethod
    def resolve(cls, wanted: Mapping[str, str], site_fields: list[dict[str, Any]]) -> FieldMap:
        """Map logical names to the site's fields by name (case-insensitive) or id.

        Raises `FieldResolutionError` listing every name that is unknown or
        ambiguous, each with the closest existing names.
        """
        fields = [SiteField.from_json(f) for f in site_fields if f.get("id")]
        by_name: dict[str, list[SiteField]] = {}
        by_id: dict[str, SiteField] = {}
        for f in fields:
            by_name.setdefault(f.name.casefold(), []).append(f)
            by_id[f.id.casefold()] = f
        resolved: dict[str, SiteField] = {}
        problems: list[str] = []
        for logical, name in wanted.items():
            matches = by_name.get(name.strip().casefold(), [])
            if not matches and name.strip().casefold() in by_id:
                matches = [by_id[name.strip().casefold()]]
            if not matches and logical in _JSM_FIELDS:
                # JSM's own fields are known by their type, whatever the product calls
                # them: Cloud's "Request Type" is "Customer Request Type" on Data Center
                matches = [f for f in fields if getattr(f, _JSM_FIELDS[logical])]
            if len(matches) == 1:
                resolved[logical] = matches[0]
            elif len(matches) > 1:
                ids = ", ".join(sorted(m.id for m in matches))
                problems.append(
                    f"fields.{logical}: {name!r} names {len(matches)} fields on this Jira site ({ids}); "
                    f"rename one in Jira or give the field id instead"
                )
            else:
                # close custom fields, else a built-in one only when nearly the same name
                problems.append(
                    f"fields.{logical}: no field named {name!r} on this Jira site"
                    + (
                        _did_you_mean(name, (f.name for f in fields if f.is_custom))
                        or _did_you_mean(
                            name,
                            (f.name for f in fields if not f.is_custom),
                            cutoff=SYSTEM_FIELD_CUTOFF,
                        )
                    )
                )
        if problems:
            raise FieldResolutionError(problems)
        return cls(by_logical=dict(resolved))

    # -- lookups -------------------------------------------------------------------------------
    def field(self, logical: str) -> SiteField:
        try:
            return self.by_logical[logical]
        except KeyError:
            raise KeyError(
                f"logical field {logical!r} is not configured (under `fields:` in the config)"
            ) from None

    def id(self, logical: str) -> str:
        return self.field(logical).id

    def ids(self) -> list[str]:
        return [f.id for f in self.by_logical.values()]

    def select_fields(self) -> frozenset[str]:
        """The logical fields that are select lists (single, multiple or cascading): their
        values are options the site offers, never a placeholder the customer typed."""
        return frozenset(
            logical for logical, f in self.by_logical.items() if f.kind in ("option", "options")
        )

    def get(self, logical: str) -> SiteField | None:
        return self.by_logical.get(logical)

    def __contains__(self, logical: object) -> bool:
        return logical in self.by_logical

    def jql_name(self, logical: str) -> str:
        """How JQL refers to the field: its site name as a quoted JQL string.

        Resolution guarantees the name is unique on the site, so the quoted name
        is unambiguous (``"Organizations" = "Acme Networks"``).
        """
        name = self.field(logical).name
        escaped = name.replace("\\", "\\\\").replace('"', '\\"')
        return f'"{escaped}"'

    # -- values ----------------------------------------------------------------------------------
    def encode(self, logical: str, value: str | int | float | datetime | None) -> Any:
        """The JSON Jira wants to set this field to ``value`` (None clears it)."""
        f = self.field(logical)
        if value is None:
            return [] if f.kind in ("options", "strings", "users", "organizations") else None
        kind = f.kind
        if kind == "datetime":
            if isinstance(value, datetime):
                return format_jira_datetime(value)
            return format_jira_datetime(parse_jira_datetime(str(value)))
        if kind == "date":
            if isinstance(value, datetime):
                return value.date().isoformat()
            return str(value)[:10]
        if kind == "number":
            if isinstance(value, bool | datetime):
                raise ValueError(f"fields.{logical} ({f.name}) is a number field, not {value!r}")
            number = float(value)
            return int(number) if number.is_integer() else number
        if kind == "option":
            return {"value": _text(value)}
        if kind == "options":
            return [{"value": v.strip()} for v in _text(value).split(",") if v.strip()]
        if kind == "strings":
            return [v.strip() for v in _text(value).split(",") if v.strip()]
        if kind == "user":
            return {"accountId": _text(value)}
        if kind in ("request_type", "organizations", "users"):
            raise ValueError(
                f"fields.{logical} ({f.name}) is a {kind} field; the bridge does not write it"
            )
        return _text(value)

    def decode(self, logical: str, raw: Any) -> str | None:
        """Display text of a raw field value (None when empty).

        A JSM organisations field decodes to its first organisation (the case's).
        """
        f = self.by_logical.get(logical)
        if f is not None and f.kind == "organizations" and isinstance(raw, list):
            return decode_value(raw[0]) if raw else None
        return decode_value(raw)

    def same(
        self, logical: str, raw_current: Any, wanted: str | int | float | datetime | None
    ) -> bool:
        """Whether the field already holds ``wanted`` (compared in the field's own terms)."""
        f = self.field(logical)
        current = self.decode(logical, raw_current)
        if wanted is None or (isinstance(wanted, str) and not wanted.strip()):
            return current is None
        if current is None:
            return False
        kind = f.kind
        if kind == "datetime":
            try:
                have = parse_jira_datetime(current)
                want = wanted if isinstance(wanted, datetime) else parse_jira_datetime(str(wanted))
            except ValueError:
                return False
            # Jira keeps millisecond precision
            return abs((have - want).total_seconds()) < 0.001
        if kind == "date":
            want_text = wanted.date().isoformat() if isinstance(wanted, datetime) else str(wanted)
            return current[:10] == want_text[:10]
        if kind == "number":
            try:
                return float(current) == float(_text(wanted))
            except ValueError:
                return False
        if kind in ("option", "request_type", "organizations"):
            return current.casefold() == _text(wanted).strip().casefold()
        if kind in ("options", "strings", "users"):
            fold = kind == "options"
            have_set = {v.strip().casefold() if fold else v.strip() for v in current.split(",")}
            want_set = {
                v.strip().casefold() if fold else v.strip() for v in _text(wanted).split(",")
            }
            return have_set - {""} == want_set - {""}
        return current == _text(wanted)


def _text(value: str | int | float | datetime) -> str:
    if isinstance(value, datetime):
        return format_jira_datetime(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_ADF_BLOCK_JOIN = {"doc": "\n\n", "blockquote": "\n\n", "bulletList": "\n", "orderedList": "\n"}


def _adf_text(node: Any) -> str:
    """Plain text of an Atlassian Document Format node (v3 rich-text fields).

    Paragraphs are separated by a blank line and hard breaks become newlines,
    so a v3 value reads the same as the plain string v2 returns.
    """
    if isinstance(node, list):
        return "".join(_adf_text(c) for c in node)
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text") or "")
    if kind == "hardBreak":
        return "\n"
    children = [_adf_text(c) for c in node.get("content") or []]
    joiner = _ADF_BLOCK_JOIN.get(str(kind))
    if joiner is not None:
        return joiner.join(c for c in children if c)
    return "".join(children)


def decode_value(raw: Any) -> str | None:
    """Display text for any Jira field value (see `FieldMap.decode`)."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        return "Yes" if raw else "No"
    if isinstance(raw, int):
        return str(raw)
    if isinstance(raw, float):
        return str(int(raw)) if raw.is_integer() else repr(raw)
    if isinstance(raw, str):
        return raw if raw.strip() else None
    if isinstance(raw, list):
        parts = [decode_value(x) for x in raw]
        joined = ", ".join(p for p in parts if p)
        return joined or None
    if isinstance(raw, dict):
        if raw.get("type") == "doc":  # ADF
            text = _adf_text(raw).strip()
            return text or None
        if isinstance(raw.get("requestType"), dict):  # JSM request type
            return decode_value(raw["requestType"].get("name"))
        if "value" in raw:  # select option (cascading: "parent - child")
            child = raw.get("child")
            base = decode_value(raw.get("value"))
            if isinstance(child, dict) and child.get("value"):
                return f"{base} - {child['value']}"
            return base
        if "accountId" in raw or "emailAddress" in raw or "displayName" in raw:  # user
            return decode_value(raw.get("emailAddress")) or decode_value(
                raw.get("displayName") or raw.get("accountId") or raw.get("name")
            )
        if "name" in raw:  # priority, status, resolution, component, organisation, version
            return decode_value(raw.get("name"))
    return str(raw)


# ---------------------------------------------------------------------- other names


def resolve_priorities(
    wanted: Iterable[str], site_priorities: Sequence[Mapping[str, Any]]
) -> dict[str, str]:
    """Priority name (as configured) -> priority id; every unknown name reported at once."""
    by_name = {
        str(p.get("name", "")).casefold(): str(p.get("id")) for p in site_priorities if p.get("id")
    }
    names = [str(p.get("name", "")) for p in site_priorities]
    out: dict[str, str] = {}
    problems: list[str] = []
    for name in wanted:
        found = by_name.get(name.casefold())
        if found is None:
            problems.append(
                f"priorities: no priority named {name!r} on this Jira site"
                + _did_you_mean(name, names)
                + f"; the site has: {', '.join(names) or 'none'}"
            )
        else:
            out[name] = found
    if problems:
        raise FieldResolutionError(problems)
    return out


def find_transition(
    transitions: Sequence[Mapping[str, Any]], name: str
) -> Mapping[str, Any] | None:
    """The available transition called ``name`` (case-insensitive), else None."""
    wanted = name.strip().casefold()
    for t in transitions:
        if str(t.get("name", "")).strip().casefold() == wanted:
            return t
    return None


def transition_id(port: JiraPort, key: str, name: str) -> str | None:
    """Id of the transition ``name`` available on issue ``key`` now, or None if not available."""
    found = find_transition(port.transitions(key), name)
    return None if found is None else str(found.get("id"))


def check_transitions(wanted: Iterable[str], workflow_names: Iterable[str]) -> list[str]:
    """Problems for transition names the workflow does not have (for start-up checks)."""
    names = sorted({n for n in workflow_names if n})
    folded = {n.casefold() for n in names}
    return [
        f"transition {name!r} does not exist in the workflow" + _did_you_mean(name, names)
        for name in wanted
        if name.casefold() not in folded
    ]


def user_ref(user: Mapping[str, Any], flavour: str | None = None) -> str | None:
    """How to refer to a user when writing (Cloud accountId; Data Center user name).

    Data Center writes name users (``{"name": ...}``), so there the name wins even when
    the user object also carries an ``accountId`` (as some proxies and plugins add)."""
    if flavour == "datacenter":
        ref = user.get("name") or user.get("key") or user.get("accountId")
    else:
        ref = user.get("accountId") or user.get("name") or user.get("key")
    return str(ref) if ref else None


def resolve_user(port: JiraPort, email: str, *, flavour: str | None = None) -> str:
    """The account id (Data Center: user name) for an e-mail address.

    Raises `FieldResolutionError` if no user or several users match.
    """
    wanted = email.strip().casefold()
    found = port.find_users(email.strip())
    exact = [u for u in found if str(u.get("emailAddress") or "").casefold() == wanted]
    if not exact:
        # e-mail hidden by privacy settings: accept a single unambiguous hit
        hidden = [u for u in found if not u.get("emailAddress")]
        exact = hidden if len(hidden) == 1 and len(found) == 1 else []
    refs = sorted({r for r in (user_ref(u, flavour) for u in exact) if r})
    if len(refs) == 1:
        return refs[0]
    if not refs:
        raise FieldResolutionError(
            [
                f"user {email!r}: no Jira user has this e-mail address (or the bridge cannot browse users)"
            ]
        )
    raise FieldResolutionError([f"user {email!r}: several Jira accounts match ({', '.join(refs)})"])
