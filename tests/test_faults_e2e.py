"""Faults end to end: the real client, engine and state against the sandbox over loopback.

Every test compares the site's END STATE with the one a clean run leaves on an
identical sandbox: every issue's field values (labels, priority, assignee, the
custom fields), status, changelog, ledger property and comments (author, body,
visibility, properties), comments compared as a multiset so a duplicate or a
missing one shows.  Retry waits are no-ops (an injected sleep), so nothing here
really sleeps.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
import ssl
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import requests
from conftest import SANDBOX_NOW, SandboxFactory
from e2e_helpers import settings_at, shipped_settings
from urllib3.exceptions import ProtocolError

from bridge.jira.client import JiraClient
from bridge.jira.retry import RetryPolicy
from bridge.policy.model import RuleSet
from bridge.rules.load import load_ruleset
from bridge.sandbox import seed as seeds
from bridge.sandbox.server import SandboxServer
from bridge.sandbox.store import Store, StoreSnapshot
from bridge.settings import DEFAULT_WORKERS
from bridge.sync.cycle import CycleReport, Engine, Site
from bridge.sync.ledger import comment_action_ids
from bridge.sync.poll import jql_string
from bridge.sync.state import State

REPO = Path(__file__).resolve().parents[1]

#: Retries as in production, minus the waiting.
FAST_RETRY = RetryPolicy(sleep=lambda _s: None, uniform=lambda _a, _b: 0.0)

#: Sandbox-side timestamps: they differ when the sandbox's clock runs (a restarted process).
CLOCK_KEYS = frozenset({"updated", "statuscategorychangedate", "resolutiondate", "lastViewed"})


# ------------------------------------------------------------------------------ helpers


@cache
def ruleset() -> RuleSet:
    s = shipped_settings()
    return load_ruleset(s.rules_path, tuple(s.fields))


def make_engine(
    url: str,
    *,
    state: State | None = None,
    flavour: str = "cloud",
    on_request: Callable[[str, str, int], None] | None = None,
    site: Site | None = None,
    jql: str | None = None,
    write_settle: timedelta = timedelta(0),
    **engine: Any,
) -> Engine:
    """An engine on the sandbox at ``url``; ``site`` reuses what an earlier start-up read,
    ``jql`` narrows the scope.  ``write_settle`` is 0 by default: the faults here answer,
    or drop the connection, at once and nothing lands late, so any later read is
    conclusive (the slow-write tests use a real settle period)."""
    settings = settings_at(url, flavour, jql=jql)
    # each case's writes on their own: the sweep fails an issue's own nth write, and a bulk
    # transition is several issues' write (its faults: tests/test_bulk_transition.py)
    engine.setdefault("bulk_transitions", False)
    client = JiraClient.from_settings(settings.jira, retry=FAST_RETRY, on_request=on_request)
    site = site or Site.connect(client, settings, ruleset())
    return Engine(
        client,
        settings,
        ruleset(),
        state or State.open(":memory:"),
        site,
        write_settle=write_settle,
        **engine,
    )


def demo_server(
    faults: str | None = None, *, flavour: str = "cloud", state_path: Path | None = None
) -> SandboxServer:
    store = seeds.build("demo", now=SANDBOX_NOW, frozen=True)
    return SandboxServer(
        store, "127.0.0.1", 0, flavour=flavour, faults=faults, state_path=state_path
    ).start()


_MENTION = re.compile(r"\[~(accountid:)?([^\]]+)\]")


def _same_mentions(store: Store, body: str) -> str:
    """A comment's mentions named one way: Cloud mentions by account id, Data Center by
    user name (the same person either way)."""

    def account(match: re.Match[str]) -> str:
        user = None if match.group(1) else store.user_by_name(match.group(2))
        return f"[~accountid:{user.account_id if user else match.group(2)}]"

    return _MENTION.sub(account, body)


def end_state(store: Store, *, with_clock: bool = True) -> dict[str, Any]:
    """Everything the bridge may change, per issue, in a comparable form."""
    out: dict[str, Any] = {}
    for issue in store.iter_issues():
        values = {
            k: (sorted(v) if k == "labels" else v)
            for k, v in issue.values.items()
            if with_clock or k not in CLOCK_KEYS
        }
        comments = sorted(
            json.dumps(
                {
                    "author": c.author,
                    "body": _same_mentions(store, c.body),
                    "public": c.public,
                    "visibility": c.visibility,
                    "properties": c.properties,
                    **({"created": c.created.isoformat()} if with_clock else {}),
                },
                sort_keys=True,
                default=str,
            )
            for c in issue.comments
        )
        changes = sorted(
            f"{item.field}: {item.from_string} -> {item.to_string}"
            for history in issue.changelog
            for item in history.items
        )
        properties = json.loads(json.dumps(issue.properties, default=str))
        ledger = properties.get("jsm-bridge")
        if isinstance(ledger, dict) and isinstance(ledger.get("telling"), dict):
            # a comment the ledger announced (the priority comment after its edit) and the
            # issue holds is done, as a later ledger write records it: what the ledger
            # means is compared, not which write recorded it
            on_issue = {
                aid
                for c in issue.comments
                for aid in comment_action_ids({"properties": c.properties})
            }
            telling = ledger.pop("telling")
            done = ledger.setdefault("done", {})
            for aid, at in telling.items():
                if aid in on_issue:
                    done.setdefault(aid, at)
                else:
                    ledger.setdefault("telling", {})[aid] = at
        if not with_clock and isinstance(ledger, dict) and isinstance(ledger.get("done"), dict):
            # an action found on the issue after a crash is dated by the comment's own
            # (sandbox) time: which actions are done is compared, not when
            ledger["done"] = sorted(ledger["done"])
        out[issue.key] = {
            "values": values,
            "comments": comments,
            "changelog": changes,
            "properties": properties,
        }
    return out


def diff(got: dict[str, Any], want: dict[str, Any]) -> list[str]:
    """Readable differences between two end states (empty: identical)."""
    lines: list[str] = []
    for key in sorted(set(got) | set(want), key=lambda k: (len(k), k)):
        g, w = got.get(key), want.get(key)
        if g == w:
            continue
        if g is None or w is None:
            lines.append(f"{key}: only in {'clean run' if g is None else 'this run'}")
            continue
        for part in ("values", "properties"):
            for name in sorted(set(g[part]) | set(w[part])):
                if g[part].get(name) != w[part].get(name):
                    lines.append(
                        f"{key} {part}.{name}: {g[part].get(name)!r} != clean {w[part].get(name)!r}"
                    )
        for part in ("comments", "changelog"):
            extra = Counter(g[part]) - Counter(w[part])
            missing = Counter(w[part]) - Counter(g[part])
            lines += [f"{key} {part} extra (duplicate?): {x}" for x in extra.elements()]
            lines += [f"{key} {part} missing: {x}" for x in missing.elements()]
    return lines


def assert_same_end_state(got: dict[str, Any], want: dict[str, Any]) -> None:
    problems = diff(got, want)
    assert not problems, "end state differs from the clean run:\n" + "\n".join(problems[:40])


def write_kind(method: str, route: str) -> str:
    if route.endswith("/properties/{propertyKey}"):
        return "ledger"
    if route.endswith("/comment"):
        return "comment"
    if route.endswith("/transitions"):
        return "transition"
    if method == "PUT" and route.endswith("/issue/{issueIdOrKey}"):
        return "edit"
    return f"{method} {route}"


def issue_of(path: str) -> str:
    """The issue key or id in a write's path (Jira's issue resource or JSM's request)."""
    parts = path.split("/")
    for resource in ("issue", "request"):
        if resource in parts and parts.index(resource) + 1 < len(parts):
            return parts[parts.index(resource) + 1]
    return ""


@dataclasses.dataclass(frozen=True)
class Clean:
    state: dict[str, Any]
    #: the clean cycle's writes in order: (kind, issue key)
    writes: tuple[tuple[str, str], ...]
    report: CycleReport
    #: the site before and after the clean cycle
    before: StoreSnapshot
    after: StoreSnapshot


@cache
def clean(flavour: str = "cloud") -> Clean:
    """One clean demo cycle on a fresh sandbox: the reference end state (computed once)."""
    server = demo_server(flavour=flavour)
    try:
        engine = make_engine(server.url, flavour=flavour)
        before = server.store.snapshot()
        server.requests.clear()
        report = engine.cycle(SANDBOX_NOW)
        assert report.ok and report.complete, report.counts()
        writes = tuple(
            (write_kind(r.method, r.route), issue_of(r.path)) for r in server.requests.writes
        )
        server.requests.clear()
        again = engine.cycle(SANDBOX_NOW)
        assert again.total_writes == 0 and server.requests.count(kind="write") == 0
        return Clean(end_state(server.store), writes, report, before, server.store.snapshot())
    finally:
        server.stop()


def run_until_settled(engine: Engine, *, cycles: int = 6) -> list[CycleReport]:
    """Cycles (same frozen `now`) until one finishes with every action landed.

    A comment whose answer was dropped is re-sent only after a later read lacks it, and
    the seeded fault stream may drop the same comment again: seed 1 of the 30 % mix
    drops one three cycles running, so a few cycles of slack are allowed."""
    reports: list[CycleReport] = []
    for _ in range(cycles):
        reports.append(engine.cycle(SANDBOX_NOW))
        if reports[-1].ok and reports[-1].complete:
            break
    return reports


# ------------------------------------------------------------------------------ the clean run


#: what a clean cycle writes per flavour: the issue edit carries the ledger property on
#: both (Cloud: IssueUpdateDetails.properties; Data Center: IssueUpdateBean.properties)
WRITE_KINDS = {
    "cloud": {"edit", "comment", "transition"},
    "datacenter": {"edit", "comment", "transition"},
}


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_the_clean_reference_run_writes_every_kind(flavour: str) -> None:
    ref = clean(flavour)
    kinds = Counter(k for k, _ in ref.writes)
    assert set(kinds) == WRITE_KINDS[flavour], kinds
    assert dict(ref.report.writes) == dict(kinds)
    # the cases told of a priority change (a fresh site: each change made in this cycle)
    told = {k for k, s in ref.state.items() if any("/priority/" in c for c in s["comments"])}
    assert told
    # per issue: comments, then the transition, then the one edit (with the ledger); the
    # comment telling of the priority change the edit makes follows it, announced by the
    # edit's ledger and recorded by the journal: no ledger write of its own
    order = {"comment": 0, "transition": 1, "ledger": 2, "edit": 2}
    for key in {k for _, k in ref.writes}:
        writes = [kind for kind, k in ref.writes if k == key]
        if key in told:
            assert writes[-2:] == ["edit", "comment"], (key, writes)
            writes = writes[:-1]
        assert writes.count("edit") == 1, (key, writes)
        ranks = [order[kind] for kind in writes]
        assert ranks == sorted(ranks), (key, writes)
    # every issue with a comment or transition has its ledger
    recorded = {k for kind, k in ref.writes if kind in ("comment", "transition")}
    assert all("done" in ref.state[k]["properties"]["jsm-bridge"] for k in recorded)


# ------------------------------------------------------------------------------ 30 % fault mix


@pytest.mark.parametrize(
    ("flavour", "seed"),
    [("cloud", 1), ("cloud", 2), ("cloud", 3), ("datacenter", 4)],
)
def test_a_30_percent_mix_of_429_5xx_and_drops_ends_like_a_clean_run(
    flavour: str, seed: int
) -> None:
    spec = f"429:0.1,500:0.05,503:0.05,drop:0.1,seed:{seed}"
    server = demo_server(flavour=flavour)
    try:
        engine = make_engine(server.url, flavour=flavour)  # start-up without faults
        server.faults.set(spec)
        reports = run_until_settled(engine)
        faulted = [r for r in server.requests.entries() if r.fault]
        assert len(faulted) > 30, "the fault mix should have hit plenty of requests"
        assert {r.fault for r in faulted} >= {"429", "500", "503", "drop"}
        assert reports[-1].ok and reports[-1].complete, [r.counts() for r in reports]
        assert engine.port.stats["retries"] > 0  # type: ignore[attr-defined]
        assert_same_end_state(end_state(server.store), clean(flavour).state)
        # and the bridge agrees there is nothing left to do
        server.faults.set(None)
        server.requests.clear()
        assert engine.cycle(SANDBOX_NOW).total_writes == 0
        assert server.requests.count(kind="write") == 0
    finally:
        server.stop()


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_cycle_whose_writes_all_fail_is_redone_by_the_next_one(flavour: str) -> None:
    """Every write answers 500 for a whole cycle (nothing lands; the issues' `updated` does
    not move): the next cycle must still find and finish every one of them."""
    server = demo_server(flavour=flavour)
    try:
        engine = make_engine(server.url, flavour=flavour)
        server.faults.set("500:1.0,only:write")
        first = engine.cycle(SANDBOX_NOW)
        # either every write failed on its own, or the circuit breaker ended the cycle early
        assert (first.complete and first.failed_actions > 0) or first.aborted, first.counts()
        assert first.total_writes == 0
        untouched = seeds.build("demo", now=SANDBOX_NOW, frozen=True)
        assert_same_end_state(end_state(server.store), end_state(untouched))
        server.faults.set(None)
        second = engine.cycle(SANDBOX_NOW)
        assert second.ok, second.counts()
        assert_same_end_state(end_state(server.store), clean(flavour).state)
    finally:
        server.stop()


# ------------------------------------------------------------------------------ fail the Nth write
#
# Every write of the clean demo cycle is failed once per fault kind, then a rerun must leave
# the site exactly as the clean run did.  Replaying the cycle from the start for each write
# would repeat the same hundred writes a hundred times.  Instead each case starts from a
# restore point: the site as the clean run left it, except the issue whose write fails,
# which is as the seed made it; and the bridge's scope is that issue alone, within its
# organisation (the bridge decides a case from its own fields and its organisation's cases
# of the month, which a scope naming the organisation makes it count by a search of the
# projects, `Engine.scope_filters`; `test_each_organisation_alone_reaches_the_clean_end_state`
# and `test_each_case_alone_reaches_the_clean_end_state` keep that premise honest).  A cycle
# then reads one case, not its organisation's dozen (on Data Center each read is several
# requests), which halves the sweep's time.
#
# The sweep's bridge runs as shipped: the write pool of `writes.workers`' default for the
# dialect (16 on Cloud, 4 on Data Center) and, on Cloud, bulk transition.  The position
# stays well defined: the faulted cycle has writes for that one issue only, a case's
# writes are one task on one worker, in order (comments, transition, edit), and one case
# never fills a bulk request (`BULK_MIN`), so its transition goes alone, as in the
# reference run (one case at a time).  "Fail the nth write" is the issue's own nth write,
# whatever the pool does; a bulk request's own faults are in tests/test_bulk_transition.py.


@dataclasses.dataclass(frozen=True)
class WriteFault:
    """One way a write can go wrong, injected by the sandbox."""

    name: str
    #: the sandbox fault spec that fails the nth write from now on
    spec: Callable[[int], str]
    #: the label the sandbox's request log gives the write it failed
    label: str


#: fault kinds of the sweep; a new kind is one more entry
WRITE_FAULTS = {
    f.name: f
    for f in (
        WriteFault("landed", lambda n: f"fail-write:{n}:landed", "fail-write:landed"),
        WriteFault("lost", lambda n: f"fail-write:{n}:lost", "fail-write:lost"),
    )
}

#: flavours the sweep runs on
SWEEP_FLAVOURS = ("cloud", "datacenter")

#: each (flavour, fault) sweep is split into this many tests, so both xdist workers share it
SWEEP_SHARDS = 4


@dataclasses.dataclass(frozen=True)
class Position:
    """The nth write (1-based) of one issue in the clean cycle."""

    key: str
    n: int
    kind: str


def positions(ref: Clean) -> list[Position]:
    seen: Counter[str] = Counter()
    out: list[Position] = []
    for kind, key in ref.writes:
        seen[key] += 1
        out.append(Position(key, seen[key], kind))
    return out


def shard(ref: Clean, index: int) -> list[Position]:
    """The positions of every SWEEP_SHARDS-th issue the clean cycle writes to."""
    keys = sorted({p.key for p in positions(ref)}, key=lambda k: (len(k), k))
    mine = set(keys[index::SWEEP_SHARDS])
    return [p for p in positions(ref) if p.key in mine]


def organisation_scope(store: Store, key: str) -> str:
    """The bridge's scope narrowed to the organisation of ``key`` (or to no organisation)."""
    field = store.field_by_name("Organizations")
    assert field is not None
    orgs = sorted(store.organizations[o].name for o in store.issue(key).get(field.id) or [])
    clause = " OR ".join(f"Organizations = {jql_string(o)}" for o in orgs)
    return f"({shipped_settings().jira.jql}) AND ({clause or 'Organizations is EMPTY'})"


def case_scope(store: Store, key: str) -> str:
    """The bridge's scope narrowed to the case ``key``, within its organisation."""
    return f"{organisation_scope(store, key)} AND key = {key}"


@dataclasses.dataclass
class SweepSite:
    """A demo sandbox for many sweep cases, and the bridge's start-up knowledge of it (read
    once: the site's metadata does not change)."""

    server: SandboxServer
    site: Site
    ref: Clean

    def engine(self, scope: str) -> Engine:
        """A fresh bridge (empty state) whose scope is ``scope`` (JQL), with the write pool
        and bulk transition as shipped."""
        flavour = self.server.flavour
        return make_engine(
            self.server.url,
            flavour=flavour,
            site=self.site,
            jql=scope,
            workers=DEFAULT_WORKERS[flavour],
            bulk_transitions=True,
        )


@pytest.fixture(scope="module")
def sweep_sites() -> Iterator[Callable[[str], SweepSite]]:
    """One sandbox per flavour, as the clean run left it, for the module's sweep cases."""
    sites: dict[str, SweepSite] = {}

    def site(flavour: str) -> SweepSite:
        if flavour not in sites:
            server = demo_server(flavour=flavour)
            ref = clean(flavour)
            server.store.restore(ref.after)
            sites[flavour] = SweepSite(server, make_engine(server.url, flavour=flavour).site, ref)
        return sites[flavour]

    yield site
    for s in sites.values():
        s.server.stop()


def fail_one_write(sweep: SweepSite, at: Position, fault: WriteFault) -> list[str]:
    """Fail write ``at`` with ``fault``, rerun, and say how the end state differs from the
    clean run's (empty: identical).  Leaves the site as the clean run left it."""
    server, store, ref = sweep.server, sweep.server.store, sweep.ref
    store.restore(ref.before, keys=[at.key])
    engine = sweep.engine(case_scope(store, at.key))
    server.requests.clear()
    server.faults.set(fault.spec(at.n))
    first = engine.cycle(SANDBOX_NOW)
    server.faults.set(None)
    writes = server.requests.writes
    hit = [w for w in writes if w.fault]
    assert [w.fault for w in hit] == [fault.label], f"{at}: {[w.fault for w in hit]}"
    assert not [w for w in writes if "/bulk/" in w.path], f"{at}: one case filled a bulk request"
    assert issue_of(hit[0].path) == at.key and write_kind(hit[0].method, hit[0].route) == at.kind
    assert {issue_of(w.path) for w in writes} == {at.key}, f"{at}: other issues written"
    rerun = engine.cycle(SANDBOX_NOW)
    assert first.complete and rerun.ok, (at, first.counts(), rerun.counts())
    problems = diff(end_state(store), ref.state)
    # the rerun only finished what the failure left: a third cycle writes nothing
    server.requests.clear()
    assert engine.cycle(SANDBOX_NOW).total_writes == 0, at
    assert server.requests.count(kind="write") == 0, at
    store.restore(ref.after, keys=[at.key])  # only this issue was written to
    return problems


@pytest.mark.parametrize("flavour", SWEEP_FLAVOURS)
def test_the_sweep_covers_every_write_of_the_clean_cycle(flavour: str) -> None:
    ref = clean(flavour)
    swept = [p for i in range(SWEEP_SHARDS) for p in shard(ref, i)]
    assert sorted(swept, key=positions(ref).index) == positions(ref)
    assert len(swept) == len(ref.writes) == len(set(swept))
    assert {p.kind for p in swept} == WRITE_KINDS[flavour]


@pytest.mark.parametrize("flavour", SWEEP_FLAVOURS)
def test_each_organisation_alone_reaches_the_clean_end_state(
    sweep_sites: Callable[[str], SweepSite], flavour: str
) -> None:
    """The sweep's premise: a cycle over one organisation's cases (the rest of the site
    already as the clean run left it) writes just those cases, as the whole cycle did."""
    sweep = sweep_sites(flavour)
    store, ref = sweep.server.store, sweep.ref
    by_scope: dict[str, list[str]] = {}
    for issue in store.iter_issues():
        by_scope.setdefault(organisation_scope(store, issue.key), []).append(issue.key)
    assert len(by_scope) > 1
    for scope, keys in by_scope.items():
        store.restore(ref.before, keys=keys)
        sweep.server.requests.clear()
        report = sweep.engine(scope).cycle(SANDBOX_NOW)
        assert report.ok and {o.key for o in report.outcomes} == set(keys)
        # a bulk transition names no issue in its path; each case it moves is edited after
        written = {issue_of(w.path) for w in sweep.server.requests.writes} - {""}
        assert written == {key for _, key in ref.writes} & set(keys)
        assert_same_end_state(end_state(store), ref.state)


@pytest.mark.parametrize("flavour", SWEEP_FLAVOURS)
def test_each_case_alone_reaches_the_clean_end_state(
    sweep_sites: Callable[[str], SweepSite], flavour: str
) -> None:
    """The sweep's premise, case by case: a cycle over one case within its organisation
    (the rest of the site already as the clean run left it) writes just that case, as the
    whole cycle did: its month is counted as in the whole cycle."""
    sweep = sweep_sites(flavour)
    store, ref = sweep.server.store, sweep.ref
    keys = [issue.key for issue in store.iter_issues()]
    assert {key for _, key in ref.writes} <= set(keys)
    for key in keys:
        store.restore(ref.before, keys=[key])
        sweep.server.requests.clear()
        report = sweep.engine(case_scope(store, key)).cycle(SANDBOX_NOW)
        assert report.ok and [o.key for o in report.outcomes] == [key], (key, report.counts())
        written = {issue_of(w.path) for w in sweep.server.requests.writes} - {""}
        assert written == {k for _, k in ref.writes} & {key}, key
        assert_same_end_state(end_state(store), ref.state)


@pytest.mark.parametrize("part", range(SWEEP_SHARDS))
@pytest.mark.parametrize("fault", list(WRITE_FAULTS))
@pytest.mark.parametrize("flavour", SWEEP_FLAVOURS)
def test_failing_the_nth_write_then_rerunning_never_duplicates_or_misses(
    sweep_sites: Callable[[str], SweepSite], flavour: str, fault: str, part: int
) -> None:
    sweep = sweep_sites(flavour)
    failures: list[str] = []
    for at in shard(sweep.ref, part):
        problems = fail_one_write(sweep, at, WRITE_FAULTS[fault])
        if problems:
            failures.append(f"{at.key} write {at.n} ({at.kind}) {fault}: " + "; ".join(problems))
    assert not failures, "\n".join(failures)


# ------------------------------------------------------------------------------ the bridge dies


class BridgeDied(BaseException):
    """The bridge process dying (kill -9): nothing in the bridge catches it."""


def dies_after_write(n: int) -> Callable[[str, str, int], None]:
    """A request hook: the bridge dies right after its ``n``-th write that Jira took."""
    writes = 0

    def hook(method: str, path: str, status: int) -> None:
        nonlocal writes
        if method in ("PUT", "POST") and "/search" not in path and 200 <= status < 300:
            writes += 1
            if writes == n:
                raise BridgeDied

    return hook


def cycle_until_death(url: str, path: Path, flavour: str, n: int) -> None:
    """A cycle on the state file at ``path`` in which the bridge dies after its ``n``-th
    write that Jira took."""
    state = State.open(path)
    engine = make_engine(url, state=state, flavour=flavour, on_request=dies_after_write(n))
    with pytest.raises(BridgeDied):
        engine.cycle(SANDBOX_NOW)
    state.close()


def deaths(flavour: str = "cloud") -> list[int]:
    """Writes of the clean cycle after which the bridge dies before the issue's one
    ledger write: the first comment, the first transition, and a comment with a
    transition still to come on the same issue."""
    writes = clean(flavour).writes
    chosen: list[int] = []
    for kind in ("comment", "transition"):
        chosen.append(next(n for n, (k, _) in enumerate(writes, 1) if k == kind))
    for n, ((kind, key), (after, after_key)) in enumerate(pairwise(writes), 1):
        if kind == "comment" and after == "transition" and after_key == key:
            chosen.append(n)
            break
    return sorted(set(chosen))


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_the_bridge_dying_between_a_write_and_the_ledger_write_recovers_on_restart(
    tmp_path: Path, flavour: str
) -> None:
    """The bridge is killed right after a comment or transition landed, before the issue's
    ledger records it; a new process on the same state file finishes the cycle: no
    duplicate, nothing missed, the ledger exactly as after a clean run."""
    ref = clean(flavour)
    for n in deaths(flavour):
        assert ref.writes[n - 1][0] in ("comment", "transition"), ref.writes[n - 1]
        server = demo_server(flavour=flavour)
        path = tmp_path / f"state-{n}.sqlite"
        try:
            cycle_until_death(server.url, path, flavour, n)
            key = ref.writes[n - 1][1]
            restarted = State.open(path)
            pending = {i.action_id for i in restarted.pending_intents(key)}
            assert pending, f"write {n}: no intent left in the journal"
            stored = server.store.issue(key).properties.get("jsm-bridge") or {}
            assert not pending & set(stored.get("done") or {}), "the ledger already had it"
            again = make_engine(server.url, state=restarted, flavour=flavour)
            report = again.cycle(SANDBOX_NOW)
            assert report.ok and report.complete, (n, report.counts())
            assert_same_end_state(end_state(server.store), ref.state)
            assert restarted.pending_intents() == []
            server.requests.clear()
            assert again.cycle(SANDBOX_NOW).total_writes == 0, n
            restarted.close()
        finally:
            server.stop()


@pytest.mark.parametrize("state_file", ["kept", "lost"])
@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_the_bridge_dying_between_an_edit_and_the_priority_comment_it_announces(
    tmp_path: Path, flavour: str, state_file: str
) -> None:
    """The edit that changes a case's priority carries the ledger announcing the comment
    that tells of it (not recording it), and the comment follows.  Killed in between, the
    comment is announced but not on the issue: the restarted bridge, with its state file
    or without, reads the issue's comments, sees it is not there, and posts it, once."""
    ref = clean(flavour)
    n = next(
        i
        for i, ((kind, key), (after, after_key)) in enumerate(pairwise(ref.writes), 1)
        if kind == "edit" and after == "comment" and after_key == key
    )
    server = demo_server(flavour=flavour)
    path = tmp_path / "state.sqlite"
    try:
        cycle_until_death(server.url, path, flavour, n)
        key = ref.writes[n - 1][1]
        stored = server.store.issue(key).properties.get("jsm-bridge") or {}
        assert [aid for aid in stored.get("telling") or {} if "/priority/" in aid]
        assert not [aid for aid in stored.get("done") or {} if "/priority/" in aid]
        assert not any("/priority/" in c for c in end_state(server.store)[key]["comments"])
        if state_file == "lost":
            for file in tmp_path.glob("state.sqlite*"):
                file.unlink()
        restarted = State.open(path)
        again = make_engine(server.url, state=restarted, flavour=flavour)
        report = again.cycle(SANDBOX_NOW)
        assert report.ok and report.complete, report.counts()
        assert_same_end_state(end_state(server.store), ref.state)
        assert restarted.pending_intents() == []
        server.requests.clear()
        assert again.cycle(SANDBOX_NOW).total_writes == 0
        restarted.close()
    finally:
        server.stop()


# ------------------------------------------------------------------------------ restart mid-cycle


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SandboxProcess:
    """`jsm-bridge sandbox` as a real process (a kill is a real crash: connections reset)."""

    def __init__(self, port: int, state: Path, flavour: str = "cloud") -> None:
        self.port = port
        self.state = state
        self.flavour = flavour
        self.proc: subprocess.Popen[str] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        args = [
            sys.executable,
            "-m",
            "bridge.cli",
            "sandbox",
            "--port",
            str(self.port),
            "--state",
            str(self.state),
            "--now",
            SANDBOX_NOW.isoformat(),
            "--flavour",
            self.flavour,
        ]
        self.proc = subprocess.Popen(
            args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the banner: it is listening
        assert "jsm-bridge sandbox" in line, line + self.proc.stderr.read()  # type: ignore[union-attr]

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None:
            for stream in (self.proc.stdout, self.proc.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def sandbox_process(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SandboxProcess]:
    # the demo seed, frozen at SANDBOX_NOW, as the persisted state the process starts from
    state = tmp_path / "sandbox.json"
    seeds.build("demo", now=SANDBOX_NOW, frozen=True).save(state)
    proc = SandboxProcess(_free_port(), state, flavour=getattr(request, "param", "cloud"))
    proc.start()
    yield proc
    proc.stop()


@pytest.mark.parametrize(
    ("sandbox_process", "restart"),
    [("cloud", "at-once"), ("cloud", "after-the-cycle"), ("datacenter", "after-the-cycle")],
    indirect=["sandbox_process"],
)
def test_a_sandbox_crash_and_restart_mid_cycle(
    sandbox_process: SandboxProcess, restart: str
) -> None:
    """The sandbox process is killed after the 60th write; it comes back on the same port with
    its persisted state either at once (the cycle carries on) or only after the cycle
    (the rest of the cycle meets connection refused).  The next cycle completes; nothing is
    duplicated or missed (sandbox timestamps aside: the restarted process's clock runs).
    On Data Center too (one case: the ledgers there are read per issue, not searched)."""
    flavour = sandbox_process.flavour
    writes = 0

    def on_request(method: str, _path: str, status: int) -> None:
        nonlocal writes
        if method in ("PUT", "POST") and "/search" not in _path and status:
            writes += 1
            if writes == 60:
                sandbox_process.kill()
                if restart == "at-once":
                    sandbox_process.start()

    engine = make_engine(sandbox_process.url, flavour=flavour, on_request=on_request)
    first = engine.cycle(SANDBOX_NOW)
    assert writes >= 60, "the crash should have come mid-cycle"
    if restart == "after-the-cycle":
        # the writes after the crash failed, or the circuit breaker ended the cycle early
        assert first.failed_actions > 0 or first.aborted, first.counts()
        sandbox_process.start()
    second = engine.cycle(SANDBOX_NOW)
    assert second.ok and second.complete, second.counts()
    third = engine.cycle(SANDBOX_NOW)
    assert third.total_writes == 0
    sandbox_process.stop()  # saves nothing new: the state file is written after every write
    final = Store.load(sandbox_process.state)
    assert_same_end_state(end_state(final, with_clock=False), end_state_without_clock(flavour))


@cache
def end_state_without_clock(flavour: str = "cloud") -> dict[str, Any]:
    server = demo_server(flavour=flavour)
    try:
        make_engine(server.url, flavour=flavour).cycle(SANDBOX_NOW)
        return end_state(server.store, with_clock=False)
    finally:
        server.stop()


# ------------------------------------------------------------------------------ Jira down


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_jira_down_mid_run_stops_the_cycle_keeps_the_watermark_and_the_next_resumes(
    sandbox_factory: SandboxFactory, tmp_path: Path, flavour: str
) -> None:
    sb = sandbox_factory(flavour=flavour)
    state = State.open(tmp_path / "state.sqlite")
    engine = make_engine(sb.url, state=state, flavour=flavour)
    earlier = SANDBOX_NOW - timedelta(hours=1)
    assert engine.cycle(earlier).ok
    assert state.get_watermark() == earlier
    sb.server.stop()  # Jira goes away: connection refused from now on
    down = engine.cycle(SANDBOX_NOW)
    assert down.aborted and not down.complete
    assert "unavailable" in down.aborted and sb.url in down.aborted, down.aborted
    assert state.get_watermark() == earlier  # not moved: the next cycle re-reads from there
    runs = state.last_runs(2)
    assert runs and not runs[0].ok
    # back up (same port, same site): the next cycle resumes and finishes
    again = SandboxServer(sb.store, "127.0.0.1", sb.server.port, flavour=flavour).start()
    try:
        resumed = engine.cycle(SANDBOX_NOW)
        assert resumed.ok and resumed.complete and not resumed.full, resumed.counts()
        assert state.get_watermark() == SANDBOX_NOW
        assert engine.cycle(SANDBOX_NOW).total_writes == 0
    finally:
        again.stop()


# ------------------------------------------------------------------------------ quota from state


def test_incremental_cycles_rank_quota_from_local_state_and_agree_with_a_full_read() -> None:
    """After a full cycle the state knows every case; an incremental cycle after an early
    case is resolved as raised in error ranks from it (no search over the whole month) and
    leaves the site exactly as a fresh full evaluation wants it."""
    server = demo_server()
    try:
        engine = make_engine(server.url)
        assert engine.cycle(SANDBOX_NOW).ok
        later = SANDBOX_NOW + timedelta(minutes=10)
        server.store.clock.set(later)
        store = server.store
        agent = store.user_by_email("sam.agent@vendor.example")
        error = store.resolution_by_name("Raised in error")
        assert agent is not None and error is not None
        org_field = store.field_by_name("Organizations")
        assert org_field is not None
        acme = store.organization_by_name("Acme Networks")
        assert acme is not None
        early = next(
            i
            for i in sorted(store.iter_issues(), key=lambda i: i.values["created"])
            if acme.id in (i.values.get(org_field.id) or [])
            and store.statuses[i.values["status"]].category != "done"
            and i.values["created"].month == SANDBOX_NOW.month
        )
        resolve = next(t for t in store.transitions_for(early) if t.name == "Resolve")
        with store.lock:
            store.transition(early, agent, resolve, resolution=error.id, at=later)
        server.requests.clear()
        incremental = engine.cycle(later)
        assert incremental.ok and not incremental.full
        searches = server.requests.count(route="/search")
        # one search for the changed case; the month's cases come from the local state
        # (a search over the whole month would make it two)
        assert searches == 1, searches
        # a fresh bridge (no state) reading everything wants nothing more
        fresh = make_engine(server.url)
        plan = fresh.cycle(later, dry_run=True)
        changes = {o.key: o.actions for o in plan.outcomes if o.actions}
        assert not changes, changes
    finally:
        server.stop()


# ------------------------------------------------------------------------------ slow writes


class Wall:
    """The bridge's real clock, moved by hand (when a lost answer may be believed)."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


SETTLE = timedelta(minutes=5)


#: The impatient client's timeout, and how long a slow write is held before it lands: far
#: apart both ways, so on a loaded machine an ordinary loopback answer still comes well
#: within the timeout and a held write still lands well after the client gave up.  Each
#: held write costs the client one timeout, so few are held (`seed` picks four or five).
IMPATIENT = 1.0
HELD = 2.0


def impatient_engine(
    url: str, wall: Wall, *, timeout: float = IMPATIENT, flavour: str = "cloud"
) -> Engine:
    """An engine whose client gives up after ``timeout`` seconds, with the real settle rule."""
    s = settings_at(url, flavour)
    settings = dataclasses.replace(s, jira=dataclasses.replace(s.jira, timeout=timeout))
    client = JiraClient.from_settings(settings.jira, retry=FAST_RETRY)
    site = Site.connect(client, settings, ruleset())
    return Engine(
        client, settings, ruleset(), State.open(":memory:"), site, wall=wall, write_settle=SETTLE
    )


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_comments_answered_after_the_client_gave_up_are_never_posted_twice(flavour: str) -> None:
    """Some comment POSTs (one in ten) are answered after the client's timeout, and land
    then (the "slow write" fault).  The bridge neither repeats them in that cycle nor in
    the next one, which comes well inside the settle period: it finds them on the issues."""
    server = demo_server(flavour=flavour)
    wall = Wall()
    try:
        engine = impatient_engine(server.url, wall, flavour=flavour)
        # a seed that delays three comments or more on both flavours (which comments the
        # draw hits depends on the order of the writes)
        server.faults.set(f"slow-write:0.1@{HELD}s:comment,seed:18")
        first = engine.cycle(SANDBOX_NOW)
        assert server.wait_idle(), "the late writes should have landed"
        late = [r for r in server.requests.entries("write") if r.fault == "slow-write"]
        assert len(late) >= 3, "the fault should have delayed several comments"
        assert first.failed_actions >= len(late)  # each is unconfirmed, none repeated
        server.faults.set(None)
        wall.now += timedelta(minutes=1)  # the next cycle: the settle period not over
        second = engine.cycle(SANDBOX_NOW)
        assert second.ok, second.counts()
        assert second.writes.get("comment", 0) == 0  # every missing one was found, not sent
        assert_same_end_state(end_state(server.store), clean(flavour).state)
        assert engine.cycle(SANDBOX_NOW).total_writes == 0
    finally:
        server.stop()


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_comment_whose_answer_was_lost_is_sent_again_only_after_the_settle_period(
    flavour: str,
) -> None:
    """The connection drops after the first comment was sent and nothing landed.  A cycle
    within the settle period does not send it (it might still land); one after it does,
    once."""
    ref = clean(flavour)
    n = next(i for i, (kind, _) in enumerate(ref.writes, 1) if kind == "comment")
    server = demo_server(flavour=flavour)
    wall = Wall()
    try:
        engine = impatient_engine(server.url, wall, timeout=5.0, flavour=flavour)
        server.faults.set(f"fail-write:{n}:lost")
        first = engine.cycle(SANDBOX_NOW)
        assert first.failed_actions == 1
        server.faults.set(None)
        wall.now += SETTLE - timedelta(seconds=1)
        early = engine.cycle(SANDBOX_NOW)
        assert early.failed_actions == 1 and early.writes.get("comment", 0) == 0
        wall.now += timedelta(seconds=1)
        late = engine.cycle(SANDBOX_NOW)
        assert late.ok and late.writes.get("comment") == 1, late.counts()
        assert_same_end_state(end_state(server.store), ref.state)
    finally:
        server.stop()


# ------------------------------------------------------------------------------ lost state file


def test_the_bridge_dying_after_a_comment_with_its_state_file_lost_posts_nothing_twice(
    tmp_path: Path,
) -> None:
    """Killed right after a comment landed, before the issue's ledger recorded it; then
    the state file is gone (a new host, a restored backup).  Nothing the search returns
    shows comment properties, so the restarted bridge reads the comments of issues that
    carry its comments but that its new state file has no record of."""
    ref = clean()
    for n in [i for i, (kind, _) in enumerate(ref.writes, 1) if kind == "comment"][:3]:
        server = demo_server()
        path = tmp_path / f"state-{n}.sqlite"
        try:
            cycle_until_death(server.url, path, "cloud", n)
            key = ref.writes[n - 1][1]
            stored = server.store.issue(key).properties.get("jsm-bridge") or {}
            assert not stored.get("done"), "the ledger should not know the comment yet"
            path.unlink()  # the state file is lost
            again = make_engine(server.url, state=State.open(path))
            report = again.cycle(SANDBOX_NOW)
            assert report.ok and report.complete, (n, report.counts())
            assert_same_end_state(end_state(server.store), ref.state)
            server.requests.clear()
            assert again.cycle(SANDBOX_NOW).total_writes == 0, n
        finally:
            server.stop()


# ------------------------------------------------------------------------------ a full ledger


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_a_ledger_near_its_size_cap_never_makes_a_comment_go_out_twice(flavour: str) -> None:
    """Every issue's ledger already holds about 29 KB of older entries, stamped at this
    very cycle's time.  Recording the cycle's comments takes it over Jira's cap; whatever
    is compacted must still be known, so later cycles post nothing again."""
    ref = clean(flavour)
    server = demo_server(flavour=flavour)
    try:
        stamp = SANDBOX_NOW.astimezone(UTC).isoformat(timespec="seconds")

        def filler(key: str) -> dict[str, str]:  # the issue's own older ladder steps
            done: dict[str, str] = {}
            while len(compact_json({"version": 1, "done": done})) < 29_900:
                done[f"{key}/esc/9.{len(done)}/20200101T0000Z"] = stamp
            return done

        with server.store.lock:
            for issue in server.store.iter_issues():
                issue.properties["jsm-bridge"] = {"version": 1, "done": filler(issue.key)}
                size = len(compact_json(issue.properties["jsm-bridge"]))
                assert 29_000 < size < 30_000, size
        engine = make_engine(server.url, flavour=flavour)
        first = engine.cycle(SANDBOX_NOW)
        assert first.ok, first.counts()
        for _ in range(2):
            server.requests.clear()
            again = engine.cycle(SANDBOX_NOW)
            assert again.total_writes == 0, again.counts()
        got = end_state(server.store)
        for key, want in ref.state.items():
            assert Counter(got[key]["comments"]) == Counter(want["comments"]), key
            stored = got[key]["properties"]["jsm-bridge"]
            assert len(compact_json(stored)) <= 32_768 and not stored.get("dropped")
    finally:
        server.stop()


# ------------------------------------------------------------------------------ the write pool


@pytest.mark.parametrize("flavour", ["cloud", "datacenter"])
def test_the_write_pool_ends_like_one_case_at_a_time(flavour: str) -> None:
    """The reference run writes one case at a time (the default); a pool of 8 workers must
    leave the very same site, each case's writes in the same order."""
    ref = clean(flavour)
    server = demo_server(flavour=flavour)
    try:
        engine = make_engine(server.url, flavour=flavour, workers=8)
        report = engine.cycle(SANDBOX_NOW)
        assert report.ok, report.counts()
        assert_same_end_state(end_state(server.store), ref.state)
        writes = [(write_kind(r.method, r.route), issue_of(r.path)) for r in server.requests.writes]
        for key in {k for _, k in ref.writes}:
            assert [w for w in writes if w[1] == key] == [w for w in ref.writes if w[1] == key]
        assert server.peak_in_flight > 1  # the cases really were written side by side
        server.requests.clear()
        assert engine.cycle(SANDBOX_NOW).total_writes == 0
    finally:
        server.stop()


# ------------------------------------------------------------------ answers cut short


def _cut_by_tls(reason: str = "RECORD_LAYER_FAILURE") -> requests.exceptions.ConnectionError:
    """What requests raises when OpenSSL finds a damaged record reading Jira's answer
    (OpenSSL 3.2+ says RECORD_LAYER_FAILURE): the request was sent, the answer lost."""
    error = ssl.SSLError(1, f"[SSL: {reason}] {reason.lower().replace('_', ' ')} (_ssl.c:2580)")
    error.reason = reason
    return requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", error))


class CutFirst:
    """Wraps a client's ``session.request``: the first request ``matches`` picks reaches
    the sandbox (and is done there), then ``cut`` turns its answer into what it returns or
    raises; every other request goes through untouched."""

    def __init__(
        self,
        client: JiraClient,
        matches: Callable[[str, str], bool],
        cut: Callable[[requests.Response], requests.Response],
    ) -> None:
        self.real = client._session.request
        self.matches, self.cut, self.hits = matches, cut, []  # type: list[str]
        client._session.request = self  # type: ignore[method-assign]

    def __call__(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        response = self.real(method, url, **kwargs)
        if not self.hits and self.matches(method, url):
            self.hits.append(url)
            return self.cut(response)
        return response


def _comment_post(method: str, url: str) -> bool:
    return method == "POST" and url.endswith("/comment")


def _comments_posted_twice(store: Store) -> list[tuple[str, str]]:
    bodies = Counter((issue.key, c.body) for issue in store.iter_issues() for c in issue.comments)
    return [twice for twice, n in bodies.items() if n > 1]


def _posted_once_though_its_answer_was(
    damaged: Callable[[requests.Response], requests.Response],
) -> None:
    """A cycle in which the first comment's answer is ``damaged`` (the comment landed),
    then another: every comment is on its case once, the end state is the clean run's,
    and a third cycle writes nothing."""
    ref = clean()
    server = demo_server()
    try:
        engine = make_engine(server.url)
        assert isinstance(engine.port, JiraClient)
        cut = CutFirst(engine.port, _comment_post, damaged)
        first = engine.cycle(SANDBOX_NOW)
        assert cut.hits, "the fault should have cut a comment's answer"
        assert first.failed_actions == 1, first.counts()
        second = engine.cycle(SANDBOX_NOW)
        assert second.ok, second.counts()
        assert not _comments_posted_twice(server.store)
        assert_same_end_state(end_state(server.store), ref.state)
        assert engine.cycle(SANDBOX_NOW).total_writes == 0
    finally:
        server.stop()


def test_a_comment_whose_answer_a_damaged_tls_record_cut_is_posted_once() -> None:
    """The comment POST reaches Jira (and lands); reading its answer, OpenSSL finds a
    damaged record (RECORD_LAYER_FAILURE, inside urllib3's "Connection aborted.").  That is
    a lost answer, not a TLS configuration error: the intent stays, the next cycle finds
    the comment on the issue and posts nothing again.  (Cloud: there the next cycle
    trusted a forgotten intent and posted the comment again.)"""

    def damaged(_response: requests.Response) -> requests.Response:
        raise _cut_by_tls()

    _posted_once_though_its_answer_was(damaged)


def test_a_damaged_tls_record_reading_the_search_is_retried_not_fatal() -> None:
    """The search's answer is cut by a damaged TLS record: a read is retried like any
    dropped connection (it used to be a config error: exit 1, never restarted)."""
    ref = clean()
    server = demo_server()
    try:
        engine = make_engine(server.url)
        assert isinstance(engine.port, JiraClient)

        def damaged(_response: requests.Response) -> requests.Response:
            raise _cut_by_tls()

        cut = CutFirst(engine.port, lambda _m, url: "/search" in url, damaged)
        report = engine.cycle(SANDBOX_NOW)
        assert cut.hits, "the fault should have cut the search's answer"
        assert report.ok, report.counts()
        assert_same_end_state(end_state(server.store), ref.state)
    finally:
        server.stop()


def test_a_comment_whose_201_answer_is_cut_short_is_posted_once() -> None:
    """Jira took the comment and answered 201, but the answer's body arrives cut in half
    (not JSON).  That is a lost answer, not a config error (the rule for a login page
    answering a read): the next cycle finds the comment and posts nothing again."""

    def halved(response: requests.Response) -> requests.Response:
        assert response.status_code == 201
        response._content = response.content[: len(response.content) // 2]
        return response

    _posted_once_though_its_answer_was(halved)


def test_a_comment_whose_answer_the_connection_cut_is_posted_once_and_the_cycle_goes_on() -> None:
    """The connection closes before the comment's 201 body is in (requests raises
    ChunkedEncodingError, which is no ConnectionError).  It used to escape the retry loop
    and end the cycle with a raw exception; it is a lost answer like any other."""

    def closed(_response: requests.Response) -> requests.Response:
        raise requests.exceptions.ChunkedEncodingError(
            ProtocolError("Connection broken: IncompleteRead(10 bytes read, 20 more expected)")
        )

    _posted_once_though_its_answer_was(closed)
