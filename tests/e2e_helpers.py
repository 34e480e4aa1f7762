"""End-to-end helpers: the real bridge (client, site, state, engine) against a sandbox.

The bridge talks to the sandbox over HTTP on loopback exactly as it talks to
Jira; tests then look at the sandbox's END STATE (fields, labels, priority,
assignee, comments with their visibility, status), never at call sequences.

    def test_x(sandbox_factory, bridges):
        sb = sandbox_factory(seed="empty")
        key = new_case(sb, org="Acme Networks", priority="Critical", created=...)
        bridge = bridges(sb)                       # Engine + a tmp state database
        bridge.cycle()                             # at the sandbox's (frozen) now
        issue = end_state(sb, key)
        assert issue.field("SLA state") == "running"
        assert bridge.last.writes == 0             # from the sandbox's request log

People act on the site over HTTP with :func:`agent` (an agent's session) and the
``set_priority`` / ``transition`` / ``comment`` helpers, so the bridge sees their
changes the way it would on a real site (changelog authors, comment authors).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest
import requests
import yaml
from conftest import Sandbox

from bridge import cli
from bridge.commands._runtime import Runtime, connect
from bridge.jira.client import JiraClient
from bridge.jira.rate import RateLimiter
from bridge.jira.retry import RetryPolicy
from bridge.policy.model import RuleSet
from bridge.rules.load import load_ruleset
from bridge.sandbox.store import Issue, Store
from bridge.settings import Settings, load_settings
from bridge.sync.cycle import CycleReport

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config" / "bridge.yaml"
RULES = REPO / "rules"

JANE = "jane.engineer@vendor.example"
SAM = "sam.agent@vendor.example"
PRIYA = "priya.lead@vendor.example"
BRIDGE = "bridge@vendor.example"

#: an authorised contact of each organisation (Umbrella Labs has no agreement)
CONTACT = {
    "Acme Networks": "ops@acme.example",
    "Initech Systems": "it@initech.example",
    "Globex Telecom": "noc@globex.example",
    "Umbrella Labs": "help@umbrella.example",
}

#: the fields the bridge writes (their names on the sandbox site)
SLA_FIELDS = ("Response due", "SLA state", "Support tier", "Cases this month")


# ------------------------------------------------------------------------------ the bridge


@cache
def shipped_settings() -> Settings:
    """The shipped config/bridge.yaml, read once (settings are frozen), with no token in
    the environment: on a loopback URL the token is the sandbox's, for both flavours."""
    return load_settings(CONFIG, env={})


def settings_at(
    url: str, flavour: str, *, page_size: int | None = None, jql: str | None = None
) -> Settings:
    """The shipped settings pointed at the sandbox at ``url`` (a ``flavour`` one);
    ``jql`` replaces the shipped scope."""
    settings = shipped_settings()
    jira = dataclasses.replace(
        settings.jira,
        url=url,
        flavour=flavour,  # type: ignore[arg-type]
        page_size=page_size or settings.jira.page_size,
        jql=jql or settings.jira.jql,
    )
    return dataclasses.replace(settings, jira=jira)


def bridge_settings(
    sb: Sandbox,
    *,
    flavour: str | None = None,
    page_size: int | None = None,
    jql: str | None = None,
) -> Settings:
    """:func:`settings_at` ``sb`` (of its own flavour unless ``flavour`` is given)."""
    return settings_at(sb.url, flavour or sb.flavour, page_size=page_size, jql=jql)


def load_rules(settings: Settings) -> RuleSet:
    return load_ruleset(settings.rules_path, tuple(settings.fields))


@dataclass
class CycleRun:
    """One cycle and what the sandbox saw during it."""

    report: CycleReport
    now: datetime
    reads: int
    writes: int
    write_routes: list[str]

    @property
    def keys_read(self) -> set[str]:
        return {o.key for o in self.report.outcomes} | {k for k, _ in self.report.skipped}

    def outcome(self, key: str) -> Any:
        return next(o for o in self.report.outcomes if o.key == key)


@dataclass
class Bridge:
    sb: Sandbox
    runtime: Runtime
    runs: list[CycleRun] = field(default_factory=list)

    @property
    def engine(self) -> Any:
        return self.runtime.engine

    @property
    def last(self) -> CycleRun:
        return self.runs[-1]

    def cycle(self, now: datetime | None = None, **kwargs: Any) -> CycleRun:
        """One cycle at ``now`` (default: the sandbox's clock, so both agree on time)."""
        when = now or self.sb.now
        log = self.sb.requests
        reads0, writes0 = len(log.reads), len(log.writes)
        report = self.engine.cycle(when, **kwargs)
        assert report.aborted is None, f"cycle aborted: {report.aborted}"
        new_writes = log.writes[writes0:]
        run = CycleRun(
            report=report,
            now=when,
            reads=len(log.reads) - reads0,
            writes=len(new_writes),
            write_routes=[f"{w.method} {w.path}" for w in new_writes],
        )
        self.runs.append(run)
        return run

    def close(self) -> None:
        self.runtime.close()


class BridgeFactory:
    """``factory(sb, flavour=None, page_size=None, jql=None, state=None)`` → a connected
    :class:`Bridge`, closed when the factory is.

    Each bridge gets its own state database under ``tmp_path`` unless ``state`` is given
    (two bridges sharing a state file model a restart).  ``jql`` scopes it (e.g. to one
    organisation's cases) instead of the shipped ``project = SUP``."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.made: list[Bridge] = []

    def __call__(
        self,
        sb: Sandbox,
        *,
        flavour: str | None = None,
        page_size: int | None = None,
        jql: str | None = None,
        state: Path | None = None,
        **overrides: Any,
    ) -> Bridge:
        """``overrides``: other settings (e.g. ``merge_comments=False``)."""
        settings = bridge_settings(sb, flavour=flavour, page_size=page_size, jql=jql)
        settings = dataclasses.replace(settings, **overrides)
        path = state or self.tmp_path / f"state-{len(self.made)}.sqlite"
        runtime = connect(settings, load_rules(settings), state_path=path)
        bridge = Bridge(sb, runtime)
        self.made.append(bridge)
        return bridge

    def __enter__(self) -> BridgeFactory:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for bridge in self.made:
            bridge.close()


class SteppedClock:
    """A monotonic clock that only a wait moves on, by exactly that wait."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)


class _Stepped:
    """What `without_waiting` put in place for one test: its clock and retry policy."""

    def __init__(self, retry: RetryPolicy, clock: SteppedClock) -> None:
        self.retry = retry
        self.clock = clock


def without_waiting(monkeypatch: pytest.MonkeyPatch, **policy: Any) -> RetryPolicy:
    """Every client the commands build in this process retries, honours Retry-After and
    paces its requests as in production, and the site lock waits its settle period,
    minus the waiting: each wait moves a stepped clock on instead.  The daemon's
    stop-aware pause is still asked (for no time), so a stop ends a wait as it does in
    production.  ``policy``: `RetryPolicy` fields (``max_attempts=2``); returns the policy
    the clients use.  Every test runs this way (conftest); called again in a test, it
    only changes the retry policy."""
    from bridge.commands import run as run_command

    applied = getattr(JiraClient.from_settings, "stepped", None)
    if isinstance(applied, _Stepped):
        applied.retry = RetryPolicy(
            **{"sleep": applied.clock.sleep, "uniform": lambda _a, _b: 0.0, **policy}
        )
        return applied.retry
    clock = SteppedClock()
    stepped = _Stepped(
        RetryPolicy(**{"sleep": clock.sleep, "uniform": lambda _a, _b: 0.0, **policy}), clock
    )
    build = JiraClient.from_settings.__func__  # type: ignore[attr-defined]
    interrupt_waits = JiraClient.interrupt_waits
    site_lock_for = run_command.site_lock_for

    def from_settings(cls: type[JiraClient], jira: Any, **overrides: Any) -> JiraClient:
        overrides.setdefault("retry", stepped.retry)
        if overrides.get("rate") is not None:  # the commands' pacing, on the stepped clock
            overrides["rate"] = RateLimiter(clock=clock, sleep=clock.sleep)
        return build(cls, jira, **overrides)  # type: ignore[no-any-return]

    def stepped_waits(client: JiraClient, pause: Callable[[float], bool] | None) -> None:
        def stepped_pause(seconds: float) -> bool:
            clock.sleep(seconds)
            return pause(0.0) if pause is not None else False

        interrupt_waits(client, stepped_pause if pause is not None else None)

    def stepped_site_lock(runtime: Runtime) -> Any:
        lock = site_lock_for(runtime)
        if lock is not None:  # written, then read back after the settle period
            lock.sleep = clock.sleep
        return lock

    from_settings.stepped = stepped  # type: ignore[attr-defined]
    monkeypatch.setattr(JiraClient, "from_settings", classmethod(from_settings))
    monkeypatch.setattr(JiraClient, "interrupt_waits", stepped_waits)
    monkeypatch.setattr(run_command, "site_lock_for", stepped_site_lock)
    return stepped.retry


def explain(key: str, config: Path, now: datetime | str, capsys: pytest.CaptureFixture[str]) -> str:
    """What `jsm-bridge explain KEY --config CONFIG --now NOW` prints, run in-process
    (it must exit 0); output captured before it is left out."""
    capsys.readouterr()
    when = now if isinstance(now, str) else now.isoformat()
    assert cli.main(["explain", key, "--config", str(config), "--now", when]) == 0
    return capsys.readouterr().out


def write_config(
    sb: Sandbox, directory: Path, *, flavour: str | None = None, url: str | None = None
) -> Path:
    """A copy of config/bridge.yaml in ``directory`` aimed at ``sb`` (for the CLI commands)."""
    tree = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    tree["jira"]["url"] = url or sb.url
    tree["jira"]["flavour"] = flavour or sb.flavour
    tree["rules"] = str(RULES)
    tree["state"] = {"path": str(directory / "state.sqlite")}
    path = directory / "bridge.yaml"
    path.write_text(yaml.safe_dump(tree, sort_keys=False), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- making cases


def new_case(
    sb: Sandbox,
    *,
    created: datetime,
    org: str | None = "Acme Networks",
    reporter: str | None = None,
    summary: str = "Poller stopped collecting",
    request_type: str = "Technical support",
    priority: str = "Major",
    env: str | None = "Production",
    staff: str | None = "Yes",
    product: str | None = "NMIS",
    version: str | None = "9.5.1",
    impact: str | None = "Operators are blind to outages.",
    phone: str | None = "+61 7 3000 0000",
) -> str:
    """A customer's case raised through the portal at ``created``; returns its key.
    ``org=None`` leaves the organisation field empty (then ``reporter`` is needed).

    Made directly in the site's store: the sandbox, like Jira's REST API for agents,
    has no portal "raise a request" route."""
    store = sb.store
    user = store.user_by_email(reporter or CONTACT[org or ""])
    assert user is not None, reporter
    f = _field
    values: dict[str, Any] = {
        "summary": summary,
        "description": f"{summary}.",
        "priority": _priority_id(store, priority),
        "reporter": user.account_id,
    }
    if org is not None:
        organization = store.organization_by_name(org)
        assert organization is not None, org
        values[f(store, "Organizations").id] = [organization.id]
    rt = store.request_type_by_name(request_type)
    assert rt is not None, request_type
    rt_field = store.field_of_kind("requesttype")  # "Customer Request Type" on Data Center
    assert rt_field is not None
    values[rt_field.id] = rt.id
    for name, value in (
        ("Environment type", env),
        ("Staff available", staff),
        ("Product", product),
    ):
        fld = f(store, name)
        option = fld.option_by_value(value) if value else None
        assert value is None or option is not None, (name, value)
        values[fld.id] = option.id if option else None
    values[f(store, "Product version").id] = version
    values[f(store, "Impact").id] = impact
    values[f(store, "Contact phone").id] = phone
    return store.create_issue(user, values, at=created).key


def set_fields_as(sb: Sandbox, key: str, email: str, changes: Mapping[str, Any]) -> None:
    """``email`` changes fields by NAME (select values by option text) at the sandbox's now.

    For people the REST API does not let edit (a customer on the portal form)."""
    store = sb.store
    user = store.user_by_email(email)
    assert user is not None, email
    values: dict[str, Any] = {}
    for name, value in changes.items():
        if name == "Priority":
            values["priority"] = _priority_id(store, value)
            continue
        fld = _field(store, name)
        if fld.kind == "select" and value is not None:
            option = fld.option_by_value(value)
            assert option is not None, (name, value)
            value = option.id
        values[fld.id] = value
    store.apply_changes(store.issue(key), user, values)


def find_key(sb: Sandbox, summary: str) -> str:
    """The key of the (demo) case with this summary."""
    matches = [i.key for i in sb.store.iter_issues() if i.values.get("summary") == summary]
    assert len(matches) == 1, f"{len(matches)} cases titled {summary!r}"
    return matches[0]


def _field(store: Store, name: str) -> Any:
    fld = store.field_by_name(name)
    assert fld is not None, name
    return fld


def _priority_id(store: Store, name: str) -> str:
    p = store.priority_by_name(name)
    assert p is not None, name
    return p.id


# --------------------------------------------------------------------- people, over HTTP


def agent(sb: Sandbox, email: str = JANE) -> requests.Session:
    return sb.session(email)


def _ok(response: requests.Response) -> requests.Response:
    assert response.status_code < 300, f"{response.status_code}: {response.text[:300]}"
    return response


def set_priority(sb: Sandbox, key: str, name: str, *, by: str = JANE) -> None:
    _ok(
        agent(sb, by).put(
            f"{sb.url}/rest/api/2/issue/{key}", json={"fields": {"priority": {"name": name}}}
        )
    )


def resolved_then_open(sb: Sandbox, resolved: int = 3, still_open: int = 2) -> list[str]:
    """An Acme Networks month as a scope of open cases (``resolution = EMPTY``) sees it:
    ``resolved`` cases raised two days before the sandbox's now and resolved, then
    ``still_open`` raised an hour later; returns the open ones' keys, oldest first."""
    start = sb.now - timedelta(days=2)
    for n in range(resolved):
        transition(sb, new_case(sb, created=start + timedelta(minutes=n)), "Resolve")
    return [new_case(sb, created=start + timedelta(hours=1, minutes=n)) for n in range(still_open)]


def acme_month_used(sb: Sandbox, month_start: datetime) -> list[str]:
    """Acme Networks' four cases (its quota) raised on the first days of ``month_start``'s
    month, from the second; a case raised after them is over quota.  Their keys."""
    return [
        new_case(sb, priority="Minor", created=month_start + timedelta(days=day, hours=1))
        for day in (1, 2, 3, 4)
    ]


def transition(
    sb: Sandbox, key: str, name: str, *, by: str = JANE, resolution: str | None = None
) -> None:
    s = agent(sb, by)
    available = _ok(s.get(f"{sb.url}/rest/api/2/issue/{key}/transitions")).json()
    ids = [t["id"] for t in available["transitions"] if t["name"] == name]
    assert ids, f"{key}: no transition {name!r} from {end_state(sb, key).status}"
    body: dict[str, Any] = {"transition": {"id": ids[0]}}
    if resolution:
        body["fields"] = {"resolution": {"name": resolution}}
    _ok(s.post(f"{sb.url}/rest/api/2/issue/{key}/transitions", json=body))


def comment(sb: Sandbox, key: str, body: str, *, by: str = JANE, internal: bool = False) -> None:
    """A comment as an agent (public unless ``internal``), or as a customer through JSM."""
    s = agent(sb, by)
    user = sb.store.user_by_email(by)
    assert user is not None
    if user.is_customer:
        url = f"{sb.url}/rest/servicedeskapi/request/{key}/comment"
        _ok(s.post(url, json={"body": body, "public": True}))
        return
    payload: dict[str, Any] = {"body": body}
    if internal:
        payload["properties"] = [{"key": "sd.public.comment", "value": {"internal": True}}]
    _ok(s.post(f"{sb.url}/rest/api/2/issue/{key}/comment", json=payload))


def api_issue(sb: Sandbox, key: str, fields: str = "*all") -> dict[str, Any]:
    """The issue as Jira's REST API shows it to the bridge (v2 JSON)."""
    r = _ok(sb.session().get(f"{sb.url}/rest/api/2/issue/{key}", params={"fields": fields}))
    data: dict[str, Any] = r.json()
    return data


# ----------------------------------------------------------------------------- end state


@dataclass(frozen=True)
class CommentView:
    id: str
    body: str
    author: str  # e-mail
    public: bool
    created: datetime
    action_id: str | None  # the bridge's action id (comment property), if any

    @property
    def by_bridge(self) -> bool:
        return self.author == BRIDGE


@dataclass(frozen=True)
class IssueView:
    """One issue's end state in the sandbox, with names instead of ids."""

    key: str
    status: str
    resolution: str | None
    priority: str
    assignee: str | None  # e-mail
    labels: frozenset[str]
    fields: Mapping[str, Any]  # custom field name -> value (select: option text)
    comments: tuple[CommentView, ...]
    created: datetime
    updated: datetime

    def field(self, name: str) -> Any:
        return self.fields[name]

    @property
    def bridge_comments(self) -> list[CommentView]:
        return [c for c in self.comments if c.by_bridge]

    def bridge_comments_containing(self, text: str) -> list[CommentView]:
        return [c for c in self.bridge_comments if text in c.body]


def end_state(sb: Sandbox, key: str) -> IssueView:
    store = sb.store
    issue: Issue = store.issue(key)
    v = issue.values
    fields: dict[str, Any] = {}
    for f in store.fields.values():
        if not f.custom:
            continue
        raw = v.get(f.id)
        value: Any = raw
        if raw is None or raw == []:
            value = None
        elif f.kind == "select":
            option = f.option_by_id(raw)
            value = option.value if option else raw
        elif f.kind == "organizations":
            value = [store.organizations[o].name for o in raw]
        elif f.kind == "requesttype":
            value = store.request_types[raw].name
        fields[f.name] = value
    comments = []
    for c in issue.comments:
        author = store.user(c.author)
        prop = c.properties.get("jsm-bridge")
        comments.append(
            CommentView(
                id=c.id,
                body=c.body,
                author=author.email if author else c.author,
                public=c.public,
                created=c.created,
                action_id=prop.get("action_id") if isinstance(prop, dict) else None,
            )
        )
    priority = store.priority(v.get("priority"))
    assignee = store.user(v.get("assignee")) if v.get("assignee") else None
    resolution = store.resolution(v.get("resolution")) if v.get("resolution") else None
    return IssueView(
        key=key,
        status=store.statuses[v["status"]].name,
        resolution=resolution.name if resolution else None,
        priority=priority.name if priority else "",
        assignee=assignee.email if assignee else None,
        labels=frozenset(v.get("labels") or ()),
        fields=fields,
        comments=tuple(comments),
        created=v["created"],
        updated=v["updated"],
    )


def all_keys(sb: Sandbox) -> list[str]:
    return [i.key for i in sb.store.iter_issues()]


def snapshot_all(sb: Sandbox) -> dict[str, IssueView]:
    return {k: end_state(sb, k) for k in all_keys(sb)}


def iter_org(sb: Sandbox, org: str) -> Iterator[IssueView]:
    for key in all_keys(sb):
        view = end_state(sb, key)
        if view.fields.get("Organizations") == [org]:
            yield view


@contextmanager
def clock_at(sb: Sandbox, when: datetime) -> Iterator[None]:
    """Run the block with the sandbox's clock at ``when`` (people acting in the past)."""
    before = sb.now
    sb.set_now(when)
    try:
        yield
    finally:
        sb.set_now(before)


def assign(sb: Sandbox, key: str, email: str, *, by: str = JANE) -> None:
    """An agent assigns the issue (Cloud names users by account id, Data Center by name)."""
    user = sb.store.user_by_email(email)
    assert user is not None, email
    ref = {"accountId": user.account_id} if sb.flavour == "cloud" else {"name": user.name}
    _ok(agent(sb, by).put(f"{sb.url}/rest/api/2/issue/{key}", json={"fields": {"assignee": ref}}))


def start_sandbox(
    seed: str = "empty", *, flavour: str = "cloud", now: datetime | None = None, cases: int = 0
) -> Sandbox:
    """A sandbox outside the function-scoped fixture (for module-scoped worlds); stop it
    with ``sb.server.stop()``."""
    from conftest import SANDBOX_NOW

    from bridge.sandbox import seed as seeds
    from bridge.sandbox.server import SandboxServer

    store = seeds.build(seed, now=now or SANDBOX_NOW, frozen=True, cases=cases)
    return Sandbox(SandboxServer(store, "127.0.0.1", 0, flavour=flavour).start())


def add_label(sb: Sandbox, key: str, label: str, *, by: str = JANE) -> None:
    """An agent adds a label of their own (a change the policy does not care about)."""
    _ok(
        agent(sb, by).put(
            f"{sb.url}/rest/api/2/issue/{key}", json={"update": {"labels": [{"add": label}]}}
        )
    )
