"""What the bridge needs from a Jira site, checked (`check --online`) or set up (`setup-site`).

The config names fields by their names on the site; the rules name tiers, option
values, priorities, statuses, transitions and people.  :func:`online_check` asks the
site about every one of them -- with the same `Site.connect` that `run` uses at
start-up, so "check says OK, then run exits 1" cannot happen -- and adds what `run`
would only find out per issue: the scope's JQL, the bridge account's permissions,
the options of the select fields, and whether the written fields are on the edit
screen.  :func:`setup_site` creates the custom fields the config names (with their
types and options) and the leads' saved filters, and is safe to run again.

Cloud routes (REST v3): ``POST /field``, ``GET/POST /field/{id}/context``,
``GET/POST /field/{id}/context/{ctx}/option``, ``GET /filter/search``,
``POST /filter``, ``PUT /filter/{id}``, ``GET /mypermissions``,
``GET /issue/{key}/editmeta``.  Data Center (REST v2) creates the same fields, select
lists included, but cannot add their options: `setup_site` prints that step for an
administrator (`options_by_hand`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

from bridge.jira.client import JiraClient
from bridge.jira.fields import FieldMap, FieldResolutionError, SiteField
from bridge.jira.port import JiraError
from bridge.policy.information import bare
from bridge.policy.model import RuleSet, SlaState
from bridge.policy.problems import did_you_mean
from bridge.settings import Settings
from bridge.sync.cycle import Site, SiteError
from bridge.sync.poll import jql_string, organization_names

__all__ = [
    "FILTER_NAMES",
    "OnlineResult",
    "WantedField",
    "WantedFilter",
    "online_check",
    "setup_site",
    "wanted_fields",
    "wanted_filters",
]

_TYPES = "com.atlassian.jira.plugin.system.customfieldtypes:"
#: field kind -> (custom field type, searcher) as Jira documents them for POST /field
CUSTOM_TYPES = {
    "datetime": (f"{_TYPES}datetime", f"{_TYPES}datetimerange"),
    "select": (f"{_TYPES}select", f"{_TYPES}multiselectsearcher"),
    "text": (f"{_TYPES}textfield", f"{_TYPES}textsearcher"),
    "textarea": (f"{_TYPES}textarea", f"{_TYPES}textsearcher"),
}
#: what each logical field is, when the bridge creates it (others: single-line text)
KINDS = {
    "response_due": "datetime",
    "sla_state": "select",
    "support_tier": "select",
    "quota_usage": "text",
    "environment": "select",
    "staff_available": "select",
    "impact": "textarea",
}
#: Jira Service Management's own fields: never created, only looked up
SYSTEM_FIELDS = ("organization", "request_type")
#: options every site needs for these fields, besides the values the rules name
DEFAULT_OPTIONS = {"staff_available": ("Yes", "No")}
#: the SLA states the bridge writes (``none`` clears the field)
SLA_STATES = tuple(s for s in get_args(SlaState) if s != "none")
#: the fields the bridge writes on every case: they must be on the edit screen
WRITTEN = ("response_due", "sla_state", "support_tier", "quota_usage")
#: project permissions a cycle uses
PERMISSIONS = ("BROWSE_PROJECTS", "EDIT_ISSUES", "ADD_COMMENTS", "TRANSITION_ISSUES")
FILTER_NAMES = ("SLA at risk", "Breached this week", "Over quota this month")


@dataclass(frozen=True)
class WantedField:
    logical: str
    name: str  # the name the config gives it
    kind: str  # datetime | select | text | textarea
    options: tuple[str, ...] = ()


@dataclass(frozen=True)
class WantedFilter:
    name: str
    jql: str
    description: str


def _rule_values(ruleset: RuleSet) -> dict[str, list[str]]:
    """Values the priority rules compare each logical field with (in order, once each)."""
    out: dict[str, list[str]] = {}
    for rule in ruleset.priorities.rules:
        when = rule.when
        if when.field is None:
            continue
        values = [*(when.in_ or ()), *(when.not_in or ())]
        if when.equals is not None:
            values.append(when.equals)
        seen = out.setdefault(when.field, [])
        seen.extend(v for v in values if v not in seen)
    return out


def wanted_fields(settings: Settings, ruleset: RuleSet) -> list[WantedField]:
    """The custom fields the config names, with the type and options the bridge needs."""
    values = _rule_values(ruleset)
    out = []
    for logical, name in settings.fields.items():
        if logical in SYSTEM_FIELDS:
            continue
        kind = KINDS.get(logical, "text")
        options: list[str] = []
        if logical == "sla_state":
            options = list(SLA_STATES)
        elif logical == "support_tier":
            options = [tier.name for tier in ruleset.tiers.values()]
        elif kind == "select":
            options = list(DEFAULT_OPTIONS.get(logical, ()))
            options += [v for v in values.get(logical, []) if v not in options]
        out.append(WantedField(logical, name, kind, tuple(options)))
    return out


def _scope(jql: str) -> str:
    base = re.split(r"(?i)\border\s+by\b", jql, maxsplit=1)[0].strip()
    return f"({base})"


def wanted_filters(settings: Settings, ruleset: RuleSet) -> list[WantedFilter]:
    """The saved filters leads need, over the bridge's scope."""
    scope = _scope(settings.jira.jql)
    state = jql_string(settings.fields["sla_state"])
    due = jql_string(settings.fields["response_due"])
    over = ruleset.quota.over_quota.label or "over-quota"
    return [
        WantedFilter(
            "SLA at risk",
            f"{scope} AND {state} = at_risk AND statusCategory != Done ORDER BY {due} ASC",
            "Cases past the at-risk share of their response target (jsm-bridge)",
        ),
        WantedFilter(
            "Breached this week",
            f"{scope} AND {state} in (breached, missed) AND {due} >= startOfWeek()"
            f" ORDER BY {due} ASC",
            "Cases whose response was due this week and came late or not at all (jsm-bridge)",
        ),
        WantedFilter(
            "Over quota this month",
            f"{scope} AND labels = {jql_string(over)} AND created >= startOfMonth()"
            " ORDER BY created ASC",
            "Cases past their organisation's monthly quota (jsm-bridge)",
        ),
    ]


# ------------------------------------------------------------------------------ the wire


class _Admin:
    """The administration calls, in the site's dialect (REST v3 on Cloud, v2 on Data Center)."""

    def __init__(self, client: JiraClient) -> None:
        self.client = client
        self.api = "rest/api/3" if client.flavour == "cloud" else "rest/api/2"

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.client._get(f"{self.api}/{path}", params)

    def send(self, method: str, path: str, body: Any) -> Any:
        response = self.client._call(method, f"{self.api}/{path}", body=body, write=True)
        return self.client._json(response, f"{method} /{self.api}/{path}")

    def pages(self, path: str, params: Mapping[str, Any] | None = None) -> list[Any]:
        out: list[Any] = []
        start = 0
        while True:
            page = self.get(path, {**(params or {}), "startAt": start, "maxResults": 50})
            values = list(page.get("values") or [])
            out.extend(values)
            start += len(values)
            if page.get("isLast", True) or not values:
                return out

    def context_id(self, field_id: str, *, create: bool, name: str) -> str | None:
        contexts = self.pages(f"field/{field_id}/context")
        if contexts:
            return str(contexts[0]["id"])
        if not create:
            return None
        made = self.send("POST", f"field/{field_id}/context", {"name": name})
        return str(made["id"])

    def options(self, field_id: str, context: str) -> list[str]:
        return [
            str(o.get("value")) for o in self.pages(f"field/{field_id}/context/{context}/option")
        ]

    @property
    def cloud(self) -> bool:
        return self.client.flavour == "cloud"

    def my_filters(self, name: str) -> list[dict[str, Any]]:
        """The account's filters with this name: Cloud searches them; Data Center has no
        filter search, so the bridge's filters are made favourites and found there."""
        if self.cloud:
            found = self.pages("filter/search", {"filterName": name, "expand": "jql"})
        else:
            found = list(self.get("filter/favourite") or [])
        return [f for f in found if str(f.get("name", "")).casefold() == name.casefold()]


# ------------------------------------------------------------------------------ check --online


@dataclass
class OnlineResult:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)  # what the site has, for the summary
    #: the names JQL may give the organisation field on this site (its id among them)
    organization_names: list[str] = field(default_factory=list)


def online_check(client: JiraClient, settings: Settings, ruleset: RuleSet) -> OnlineResult:
    """Everything `run` checks at start-up, plus what it would only meet per issue."""
    result = OnlineResult()
    try:
        site = Site.connect(client, settings, ruleset)
    except SiteError as exc:
        result.problems.extend(exc.problems)
        return result
    fieldmap = site.fieldmap
    result.organization_names = organization_names(fieldmap)
    result.facts.append(
        f"{len(fieldmap.by_logical)} fields, {len(site.priority_ids)} priorities,"
        f" {len(site.status_categories)} statuses, {len(site.users)} named engineer(s) found"
    )
    problems = result.problems
    for logical in WRITTEN:
        site_field = fieldmap.get(logical)
        if site_field is not None:
            problems.extend(_kind_problem(logical, settings.fields[logical], site_field))

    sample: dict[str, Any] | None = None
    try:
        sample = next(iter(client.search(settings.jira.jql, ["summary"])), None)
    except JiraError as exc:
        problems.append(f"config {settings.path}: jira.jql is refused by Jira: {exc}")
        return result
    key = str(sample["key"]) if sample else None
    result.facts.append(
        f"scope {settings.jira.jql!r}: " + (f"readable (e.g. {key})" if key else "no case yet")
    )
    problems.extend(_permission_problems(client, settings, key))
    result.notes.extend(_organization_notes(client, settings, ruleset))
    problems.extend(_resolution_problems(client, settings, ruleset))
    problems.extend(_request_type_problems(client, settings, ruleset))
    wanted = {w.logical: w for w in wanted_fields(settings, ruleset)}
    options, where = _site_options(client, fieldmap, wanted, key, result)
    for logical, want in wanted.items():
        site_field = fieldmap.get(logical)
        if site_field is None or site_field.kind != "option" or logical not in options:
            continue
        have = {o.casefold() for o in options[logical]}
        missing = [o for o in want.options if o.casefold() not in have]
        if missing:
            meant = [_did_you_mean(m, list(options[logical])) for m in missing]
            problems.append(
                f"field {want.name!r} ({site_field.id}) has no option"
                f" {', '.join(repr(m) + d for m, d in zip(missing, meant, strict=True))}"
                f" ({where}); correct the rules, or add"
                f" {'it' if len(missing) == 1 else 'them'} in Jira or run `jsm-bridge setup-site`"
            )
    result.notes.extend(_placeholder_options(settings, ruleset, fieldmap, options))
    return result


def _placeholder_options(
    settings: Settings, ruleset: RuleSet, fieldmap: FieldMap, options: Mapping[str, list[str]]
) -> list[str]:
    """The placeholders that are options of a required select list: a customer who picks
    one has answered (a chosen option is never a placeholder), which the lead who listed
    it may not expect.  A note: the word still counts as missing in text fields."""
    placeholders = {bare(p): p for p in ruleset.required_information.placeholders}
    path = settings.rules_path / "sla.yaml"
    notes = []
    for logical in dict.fromkeys(ruleset.required_information.fields):
        for option in options.get(logical, []) if logical in fieldmap else []:
            listed = placeholders.get(bare(option))
            if listed is not None:
                notes.append(
                    f"{_where(path, listed)}: required_information.placeholders lists"
                    f" {listed!r}, an option of field {fieldmap.field(logical).name!r}: a"
                    " customer who picks it has answered (a select list's option is never a"
                    " placeholder); it still counts as missing typed into a text field"
                )
    return notes


def _organization_notes(client: JiraClient, settings: Settings, ruleset: RuleSet) -> list[str]:
    """The customers whose organisation the site does not have: a misspelt one finds none
    of the cases naming the real one (each an unknown customer's, with no SLA).  A note,
    not a problem: a customer with no organisation in Jira is found by its contacts'
    cases naming none (SPEC §3)."""
    return _lacking(
        [c.organization for c in ruleset.customers.values()],
        [str(o.get("name") or "") for o in client.organizations()],
        settings.rules_path / "customers.yaml",
        "organisation {name!r} is not a Jira Service Management organisation on the site",
        "only its contacts' cases that name no organisation will be found as its",
    )


def _resolution_problems(client: JiraClient, settings: Settings, ruleset: RuleSet) -> list[str]:
    """The not-counted resolutions the site does not have: a misspelt one keeps no case out
    of the quota."""
    api = "rest/api/3" if client.flavour == "cloud" else "rest/api/2"
    return _lacking(
        sorted(ruleset.quota.not_counted_resolutions),
        [str(r.get("name") or "") for r in client._get(f"{api}/resolution") or []],
        settings.rules_path / "tiers.yaml",
        "resolution {name!r} is not one of the site's",
        "no case resolved so would be left out of the quota",
    )


def _request_type_problems(client: JiraClient, settings: Settings, ruleset: RuleSet) -> list[str]:
    """The request types the rules name that no service desk of the site has: a
    misspelt one never matches (a Standard customer's "Screen share session" is not
    flagged not entitled, an "Installation" case is not made P4)."""
    site = [
        str(t.get("name") or "")
        for desk in client.service_desks()
        for t in client.request_types(str(desk.get("id")))
    ]
    entitled = [name for types in ruleset.entitlement_request_types.values() for name in types]
    ruled = [name for rule in ruleset.priorities.rules for name in rule.when.request_type or ()]
    what = "request type {name!r} is not one of the service desk's"
    consequence = "no case would ever match it"
    tiers, priorities = settings.rules_path / "tiers.yaml", settings.rules_path / "priorities.yaml"
    return _lacking(entitled, site, tiers, what, consequence) + _lacking(
        [name for name in ruled if name not in entitled], site, priorities, what, consequence
    )


def _lacking(
    names: list[str], site: list[str], path: Path, what: str, consequence: str
) -> list[str]:
    """``path:line: <what> (did you mean ...?); <consequence>`` for each of ``names`` the
    site does not have, once each (Jira compares names without regard to case)."""
    return [
        f"{_where(path, name)}: {what.format(name=name)}{_did_you_mean(name, site)}; {consequence}"
        for name in dict.fromkeys(names)
        if not _named(name, site)
    ]


def _misspelt(name: str, names: list[str]) -> bool:
    """``name`` is one of ``names`` with a letter or two wrong ("Prodution"), or written
    with other separators or none ("at_risk" for "at risk", "Stag ing" for "Staging");
    not another value beside it: one more word ("Production DR"), other digits
    ("Enterprise 2" beside "Enterprise 1")."""
    words = _words(name)
    for other in names:
        theirs = _words(other)
        if "".join(theirs) == "".join(words):
            return True  # the same letters, other separators or case ("Stag ing", "Pre-production")
        if len(theirs) != len(words) or re.findall(r"\d+", name) != re.findall(r"\d+", other):
            continue
        if difflib.SequenceMatcher(None, " ".join(words), " ".join(theirs)).ratio() >= 0.85:
            return True
    return False


def _words(text: str) -> list[str]:
    return re.split(r"[\s_-]+", text.strip().casefold())


def _named(name: str, names: list[str]) -> bool:
    return name.strip().casefold() in {n.strip().casefold() for n in names}


def _did_you_mean(name: str, names: list[str]) -> str:
    """`did_you_mean`'s hint in brackets, or ""."""
    hint = did_you_mean(name, [n for n in names if n])
    return f" ({hint})" if hint else ""


def _where(path: Path, name: str) -> str:
    """``path:line`` of the first line naming ``name`` (as a key or a list item), else
    ``path``: where a lead finds the name to correct."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except OSError:
        return str(path)
    pattern = re.compile(
        rf"""(^|[\s\[,{{-])["']?{re.escape(name)}["']?\s*[:,\]]|(^|[\s-])["']?{re.escape(name)}["']?\s*$"""
    )
    for number, line in enumerate(lines, start=1):
        if pattern.search(line.split("#", 1)[0]):
            return f"{path}:{number}"
    return str(path)


def _kind_problem(logical: str, name: str, site_field: SiteField) -> list[str]:
    allowed = {
        "response_due": ("datetime", "date", "string"),
        "sla_state": ("option", "string"),
        "support_tier": ("option", "string"),
        "quota_usage": ("string", "number"),
    }[logical]
    if site_field.kind in allowed:
        return []
    return [
        f"field {name!r} ({site_field.id}) is a {site_field.kind} field; the bridge writes"
        f" {logical} as {' or '.join(allowed)}"
    ]


def _permission_problems(client: JiraClient, settings: Settings, key: str | None) -> list[str]:
    params: dict[str, str] = {"permissions": ",".join(PERMISSIONS)}
    project = re.match(r"(?i)^\s*project\s*=\s*\"?([A-Z][A-Z0-9_]*)\"?\s*$", settings.jira.jql)
    if key:
        params["issueKey"] = key
    elif project:
        params["projectKey"] = project.group(1)
    api = "rest/api/3" if client.flavour == "cloud" else "rest/api/2"
    answer = client._get(f"{api}/mypermissions", params)
    granted = (answer or {}).get("permissions") or {}
    lacking = [p for p in PERMISSIONS if not (granted.get(p) or {}).get("havePermission")]
    if not lacking:
        return []
    account = settings.bridge_account or settings.jira.email or "the bridge's account"
    return [
        f"the Jira account {account} lacks {', '.join(lacking)}"
        + (f" on {key}" if key else "")
        + ": give it an agent role in the service desk project"
    ]


def _site_options(
    client: JiraClient,
    fieldmap: FieldMap,
    wanted: Mapping[str, WantedField],
    key: str | None,
    result: OnlineResult,
) -> tuple[dict[str, list[str]], str]:
    """The options of the select fields: from a case's edit screen when there is a case
    (and whether the written fields are on it), else from the fields' contexts (Cloud)."""
    out: dict[str, list[str]] = {}
    selects = {
        logical: fieldmap.field(logical)
        for logical, w in wanted.items()
        if w.options and logical in fieldmap and fieldmap.field(logical).kind == "option"
    }
    if key is not None:
        api = "rest/api/3" if client.flavour == "cloud" else "rest/api/2"
        meta = (client._get(f"{api}/issue/{key}/editmeta") or {}).get("fields") or {}
        for logical in WRITTEN:
            if logical in fieldmap and fieldmap.id(logical) not in meta:
                result.problems.append(
                    f"field {fieldmap.field(logical).name!r} is not on the edit screen of {key}:"
                    " add it to the project's edit screen, or the bridge cannot write it"
                )
        for logical, site_field in selects.items():
            allowed = (meta.get(site_field.id) or {}).get("allowedValues")
            if allowed is not None:
                out[logical] = [str(v.get("value")) for v in allowed]
        return out, f"options on {key}'s edit screen"
    if client.flavour != "cloud":
        result.notes.append("no case in scope yet: select options are checked once there is one")
        return out, ""
    admin = _Admin(client)
    try:
        for logical, site_field in selects.items():
            context = admin.context_id(site_field.id, create=False, name="")
            out[logical] = admin.options(site_field.id, context) if context else []
    except JiraError as exc:
        if exc.status not in (401, 403):
            raise
        result.notes.append(
            "select options not checked: listing them needs Administer Jira, and there is"
            " no case in scope yet"
        )
        return {}, ""
    return out, "field contexts"


# ------------------------------------------------------------------------------ setup-site


def setup_site(
    client: JiraClient,
    settings: Settings,
    ruleset: RuleSet,
    *,
    dry_run: bool,
    say: Callable[[str], None],
) -> int:
    """Create the missing custom fields, options and filters; returns how many changes
    were made (or would be, with ``dry_run``).  Raises `JiraError` when Jira refuses."""
    admin = _Admin(client)
    changes = 0
    verb = "would " if dry_run else ""
    client_fields = list(client.fields())
    site_fields = [SiteField.from_json(f) for f in client_fields]
    by_name: dict[str, list[SiteField]] = {}
    for f in site_fields:
        by_name.setdefault(f.name.casefold(), []).append(f)
    for logical in SYSTEM_FIELDS:
        if logical in settings.fields:
            name = settings.fields[logical]
            try:  # found by name, or by type (Data Center: "Customer Request Type")
                site_name = FieldMap.resolve({logical: name}, client_fields).field(logical).name
                state = "found" if site_name == name else f"found as {site_name!r}"
            except FieldResolutionError:
                state = (
                    "MISSING (Jira Service Management's own field: is this a service desk site?)"
                )
            say(f"field {name!r} ({logical}): {state}")
    for want in wanted_fields(settings, ruleset):
        found = by_name.get(want.name.casefold(), [])
        if len(found) > 1:
            say(f"field {want.name!r}: {len(found)} fields have this name; rename all but one")
            continue
        kind_label = want.kind + (f" [{', '.join(want.options)}]" if want.options else "")
        if not found:
            say(f"field {want.name!r} ({want.logical}): {verb}create as {kind_label}")
            changes += 1 + (1 if want.options and admin.cloud else 0)
            if not admin.cloud and want.options:
                say(options_by_hand(want))
            if dry_run:
                continue
            field_type, searcher = CUSTOM_TYPES[want.kind]
            made = admin.send(
                "POST",
                "field",
                {
                    "name": want.name,
                    "type": field_type,
                    "searcherKey": searcher,
                    "description": f"Written by jsm-bridge ({want.logical})",
                },
            )
            if want.options and admin.cloud:
                context = admin.context_id(
                    str(made["id"]),
                    create=True,
                    name=f"Default Configuration Scheme for {want.name}",
                )
                assert context is not None
                admin.send(
                    "POST",
                    f"field/{made['id']}/context/{context}/option",
                    {"options": [{"value": o, "disabled": False} for o in want.options]},
                )
            continue
        site_field = found[0]
        if want.options and site_field.kind == "option" and not admin.cloud:
            say(f"field {want.name!r} ({site_field.id}): exists")
            say(options_by_hand(want, existing=True))
            continue
        if want.options and site_field.kind == "option":
            context = admin.context_id(
                site_field.id,
                create=not dry_run,
                name=f"Default Configuration Scheme for {want.name}",
            )
            have = admin.options(site_field.id, context) if context else []
            folded = {h.casefold() for h in have}
            missing = [o for o in want.options if o.casefold() not in folded]
            for option in [o for o in missing if _misspelt(o, have)]:
                # a misspelling in the rules would become a choice on the customers' form
                say(
                    f"field {want.name!r}: not adding option {option!r}"
                    f"{_did_you_mean(option, have)}: correct the rules"
                )
                missing.remove(option)
            if missing:
                say(f"field {want.name!r}: {verb}add options {', '.join(missing)}")
                changes += 1
                if not dry_run:
                    assert context is not None
                    admin.send(
                        "POST",
                        f"field/{site_field.id}/context/{context}/option",
                        {"options": [{"value": o, "disabled": False} for o in missing]},
                    )
                continue
        elif want.options and site_field.kind != "option":
            say(
                f"field {want.name!r} ({site_field.id}): exists as {site_field.kind}; left as it is"
            )
            continue
        say(f"field {want.name!r} ({site_field.id}): ok")
    for wanted in wanted_filters(settings, ruleset):
        changes += _filter(admin, wanted, dry_run=dry_run, say=say)
    return changes


#: Where a Jira Data Center administrator adds a select list's options (its REST API
#: cannot): Atlassian, Jira Data Center administration, "Configuring a custom field"
#: (confluence.atlassian.com/adminjiraserver, "Configuring a custom field": a field's
#: Contexts and default value > Edit Options).
DC_OPTIONS_PAGE = (
    "https://confluence.atlassian.com/adminjiraserver/configuring-a-custom-field-938847235.html"
)


def options_by_hand(want: WantedField, *, existing: bool = False) -> str:
    """The step a Data Center administrator takes for a select list's options.

    Jira Data Center's REST API creates a select field (``POST /rest/api/2/field``) but
    cannot add its options: its ``customFieldOption`` resource only reads one
    (``GET /rest/api/2/customFieldOption/{id}``) and ``/rest/api/2/customFields/{id}/options``
    only lists them (Jira Data Center REST API reference, groups "customFieldOption",
    "customFields", "field")."""
    values = ", ".join(want.options)
    lead = "make sure it has" if existing else "then add"
    return (
        f"    BY HAND (Data Center's REST API cannot add select options): {lead} the options"
        f" {values} -- Jira administration > Issues > Custom fields > {want.name!r} >"
        f' Contexts and default value > Edit Options (Atlassian: "Configuring a custom'
        f' field", {DC_OPTIONS_PAGE}); `jsm-bridge check --online` then checks them on a case'
    )


def _filter(
    admin: _Admin, wanted: WantedFilter, *, dry_run: bool, say: Callable[[str], None]
) -> int:
    verb = "would " if dry_run else ""
    found = admin.my_filters(wanted.name)
    body: dict[str, Any] = {
        "name": wanted.name,
        "jql": wanted.jql,
        "description": wanted.description,
    }
    if not admin.cloud:
        body["favourite"] = True  # how `my_filters` finds it again on Data Center
    if not found:
        say(f"filter {wanted.name!r}: {verb}create\n    JQL: {wanted.jql}")
        if not dry_run:
            admin.send("POST", "filter", body)
        return 1
    current = found[0]
    if str(current.get("jql") or "") == wanted.jql:
        say(f"filter {wanted.name!r} ({current.get('id')}): ok\n    JQL: {wanted.jql}")
        return 0
    say(
        f"filter {wanted.name!r} ({current.get('id')}): {verb}update the JQL\n    JQL: {wanted.jql}"
    )
    if not dry_run:
        admin.send("PUT", f"filter/{current['id']}", body)
    return 1
