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
import socket
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from conftest import SANDBOX_NOW, SandboxFactory

from bridge.jira.client import JiraClient
from bridge.jira.retry import RetryPolicy
from bridge.policy.model import RuleSet
from bridge.policy.ruleset import load_ruleset
from bridge.sandbox import seed as seeds
from bridge.sandbox.server import SandboxServer
from bridge.sandbox.store import Store
from bridge.settings import Settings, load_settings
from bridge.sync.cycle import CycleReport, Engine, Site
from bridge.sync.state import State

REPO = Path(__file__).resolve().parents[1]

#: Retries as in production, minus the waiting.
FAST_RETRY = RetryPolicy(sleep=lambda _s: None, uniform=lambda _a, _b: 0.0)

#: Sandbox-side timestamps: they differ when the sandbox's clock runs (a restarted process).
CLOCK_KEYS = frozenset({"updated", "statuscategorychangedate", "resolutiondate", "lastViewed"})


# ------------------------------------------------------------------------------ helpers


@cache
def base_settings() -> Settings:
    return load_settings(
        REPO / "config" / "bridge.yaml", env={"JIRA_API_TOKEN": seeds.BRIDGE_TOKEN}
    )


@cache
def ruleset() -> RuleSet:
    s = base_settings()
    return load_ruleset(s.rules_path, tuple(s.fields))


def settings_for(url: str, flavour: str = "cloud") -> Settings:
    s = base_settings()
    return dataclasses.replace(s, jira=dataclasses.replace(s.jira, url=url, flavour=flavour))


def make_engine(
    url: str,
    *,
    state: State | None = None,
    flavour: str = "cloud",
    on_request: Callable[[str, str, int], None] | None = None,
) -> Engine:
    settings = settings_for(url, flavour)
    client = JiraClient.from_settings(settings.jira, retry=FAST_RETRY, on_request=on_request)
    site = Site.connect(client, settings, ruleset())
    return Engine(client, settings, ruleset(), state or State.open(":memory:"), site)


def demo_server(
    faults: str | None = None, *, flavour: str = "cloud", state_path: Path | None = None
) -> SandboxServer:
    store = seeds.build("demo", now=SANDBOX_NOW, frozen=True)
    return SandboxServer(
        store, "127.0.0.1", 0, flavour=flavour, faults=faults, state_path=state_path
    ).start()


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
                    "body": c.body,
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
        out[issue.key] = {
            "values": values,
            "comments": comments,
            "changelog": changes,
            "properties": json.loads(json.dumps(issue.properties, default=str)),
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
    parts = path.split("/")
    return parts[parts.index("issue") + 1] if "issue" in parts else ""


@dataclasses.dataclass(frozen=True)
class Clean:
    state: dict[str, Any]
    #: the clean cycle's writes in order: (kind, issue key)
    writes: tuple[tuple[str, str], ...]
    report: CycleReport


@cache
def clean(flavour: str = "cloud") -> Clean:
    """One clean demo cycle on a fresh sandbox: the reference end state (computed once)."""
    server = demo_server(flavour=flavour)
    try:
        engine = make_engine(server.url, flavour=flavour)
        server.requests.clear()
        report = engine.cycle(SANDBOX_NOW)
        assert report.ok and report.complete, report.counts()
        writes = tuple(
            (write_kind(r.method, r.route), issue_of(r.path)) for r in server.requests.writes
        )
        server.requests.clear()
        again = engine.cycle(SANDBOX_NOW)
        assert again.total_writes == 0 and server.requests.count(kind="write") == 0
        return Clean(end_state(server.store), writes, report)
    finally:
        server.stop()


def run_until_settled(engine: Engine, *, cycles: int = 4) -> list[CycleReport]:
    """Cycles (same frozen `now`) until one finishes with every action landed."""
    reports: list[CycleReport] = []
    for _ in range(cycles):
        reports.append(engine.cycle(SANDBOX_NOW))
        if reports[-1].ok and reports[-1].complete:
            break
    return reports


# ------------------------------------------------------------------------------ the clean run


def test_the_clean_reference_run_writes_every_kind() -> None:
    ref = clean()
    kinds = Counter(k for k, _ in ref.writes)
    assert set(kinds) == {"edit", "comment", "transition", "ledger"}, kinds
    # one edit per issue the bridge changes, never two
    edits = Counter(key for kind, key in ref.writes if kind == "edit")
    assert edits and max(edits.values()) == 1
    assert dict(ref.report.writes) == dict(kinds)


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


def test_a_cycle_whose_writes_all_fail_is_redone_by_the_next_one() -> None:
    """Every write answers 500 for a whole cycle (nothing lands; the issues' `updated` does
    not move): the next cycle must still find and finish every one of them."""
    server = demo_server()
    try:
        engine = make_engine(server.url)
        server.faults.set("500:1.0,only:write")
        first = engine.cycle(SANDBOX_NOW)
        assert first.complete and first.failed_actions > 0 and first.total_writes == 0
        untouched = seeds.build("demo", now=SANDBOX_NOW, frozen=True)
        assert_same_end_state(end_state(server.store), end_state(untouched))
        server.faults.set(None)
        second = engine.cycle(SANDBOX_NOW)
        assert second.ok, second.counts()
        assert_same_end_state(end_state(server.store), clean().state)
    finally:
        server.stop()


# ------------------------------------------------------------------------------ fail the Nth write


def sweep() -> list[int]:
    """Every write of the clean demo cycle, each failed in its own fresh sandbox (about
    100 cycles per variant; the two variants run in parallel under xdist)."""
    return list(range(1, len(clean().writes) + 1))


@pytest.mark.parametrize("mode", ["landed", "lost"])
def test_failing_the_nth_write_then_rerunning_never_duplicates_or_misses(mode: str) -> None:
    ref = clean()
    kinds_covered: set[str] = set()
    failures: list[str] = []
    for n in sweep():
        server = demo_server()
        try:
            engine = make_engine(server.url)
            server.faults.set(f"fail-write:{n}:{mode}")
            first = engine.cycle(SANDBOX_NOW)
            hit = [r for r in server.requests.entries("write") if r.fault.startswith("fail-write")]
            assert len(hit) == 1, f"write {n} was not failed"
            kinds_covered.add(write_kind(hit[0].method, hit[0].route))
            server.faults.set(None)
            rerun = engine.cycle(SANDBOX_NOW)
            assert first.complete and rerun.ok, (n, first.counts(), rerun.counts())
            problems = diff(end_state(server.store), ref.state)
            if problems:
                failures.append(f"write {n} ({ref.writes[n - 1]}) {mode}: " + "; ".join(problems))
            # the rerun only finishes what the failure left; a third cycle writes nothing
            server.requests.clear()
            assert engine.cycle(SANDBOX_NOW).total_writes == 0, n
        finally:
            server.stop()
    assert not failures, "\n".join(failures)
    assert kinds_covered == {"edit", "comment", "transition", "ledger"}


# ------------------------------------------------------------------------------ the bridge dies


class BridgeDied(BaseException):
    """The bridge process dying (kill -9): nothing in the bridge catches it."""


def deaths() -> list[int]:
    """Writes of the clean cycle after which the bridge dies before the issue's one
    ledger write: the first comment, the first transition, and a comment with a
    transition still to come on the same issue."""
    writes = clean().writes
    chosen: list[int] = []
    for kind in ("comment", "transition"):
        chosen.append(next(n for n, (k, _) in enumerate(writes, 1) if k == kind))
    for n, ((kind, key), (after, after_key)) in enumerate(pairwise(writes), 1):
        if kind == "comment" and after == "transition" and after_key == key:
            chosen.append(n)
            break
    return sorted(set(chosen))


def test_the_bridge_dying_between_a_write_and_the_ledger_write_recovers_on_restart(
    tmp_path: Path,
) -> None:
    """The bridge is killed right after a comment or transition landed, before the issue's
    ledger records it; a new process on the same state file finishes the cycle: no
    duplicate, nothing missed, the ledger exactly as after a clean run."""
    ref = clean()
    for n in deaths():
        assert ref.writes[n - 1][0] in ("comment", "transition"), ref.writes[n - 1]
        server = demo_server()
        path = tmp_path / f"state-{n}.sqlite"
        writes = 0

        def die_after_nth_write(method: str, path_: str, status: int, n: int = n) -> None:
            nonlocal writes
            if method in ("PUT", "POST") and "/search" not in path_ and 200 <= status < 300:
                writes += 1
                if writes == n:
                    raise BridgeDied

        try:
            state = State.open(path)
            engine = make_engine(server.url, state=state, on_request=die_after_nth_write)
            with pytest.raises(BridgeDied):
                engine.cycle(SANDBOX_NOW)
            state.close()
            key = ref.writes[n - 1][1]
            restarted = State.open(path)
            pending = {i.action_id for i in restarted.pending_intents(key)}
            assert pending, f"write {n}: no intent left in the journal"
            stored = server.store.issue(key).properties.get("jsm-bridge") or {}
            assert not pending & set(stored.get("done") or {}), "the ledger already had it"
            again = make_engine(server.url, state=restarted)
            report = again.cycle(SANDBOX_NOW)
            assert report.ok and report.complete, (n, report.counts())
            assert_same_end_state(end_state(server.store), ref.state)
            assert restarted.pending_intents() == []
            server.requests.clear()
            assert again.cycle(SANDBOX_NOW).total_writes == 0, n
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

    def __init__(self, port: int, state: Path) -> None:
        self.port = port
        self.state = state
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
def sandbox_process(tmp_path: Path) -> Iterator[SandboxProcess]:
    # the demo seed, frozen at SANDBOX_NOW, as the persisted state the process starts from
    state = tmp_path / "sandbox.json"
    seeds.build("demo", now=SANDBOX_NOW, frozen=True).save(state)
    proc = SandboxProcess(_free_port(), state)
    proc.start()
    yield proc
    proc.stop()


@pytest.mark.parametrize("restart", ["at-once", "after-the-cycle"])
def test_a_sandbox_crash_and_restart_mid_cycle(
    sandbox_process: SandboxProcess, restart: str
) -> None:
    """The sandbox process is killed after the 60th write; it comes back on the same port with
    its persisted state either at once (the cycle carries on) or only after the cycle
    (the rest of the cycle meets connection refused).  The next cycle completes; nothing is
    duplicated or missed (sandbox timestamps aside: the restarted process's clock runs)."""
    writes = 0

    def on_request(method: str, _path: str, status: int) -> None:
        nonlocal writes
        if method in ("PUT", "POST") and "/search" not in _path and status:
            writes += 1
            if writes == 60:
                sandbox_process.kill()
                if restart == "at-once":
                    sandbox_process.start()

    engine = make_engine(sandbox_process.url, on_request=on_request)
    first = engine.cycle(SANDBOX_NOW)
    assert writes >= 60, "the crash should have come mid-cycle"
    if restart == "after-the-cycle":
        assert first.failed_actions > 0, first.counts()
        sandbox_process.start()
    second = engine.cycle(SANDBOX_NOW)
    assert second.ok and second.complete, second.counts()
    third = engine.cycle(SANDBOX_NOW)
    assert third.total_writes == 0
    sandbox_process.stop()  # saves nothing new: the state file is written after every write
    final = Store.load(sandbox_process.state)
    assert_same_end_state(end_state(final, with_clock=False), end_state_without_clock())


@cache
def end_state_without_clock() -> dict[str, Any]:
    server = demo_server()
    try:
        make_engine(server.url).cycle(SANDBOX_NOW)
        return end_state(server.store, with_clock=False)
    finally:
        server.stop()


# ------------------------------------------------------------------------------ Jira down


def test_jira_down_mid_run_stops_the_cycle_keeps_the_watermark_and_the_next_resumes(
    sandbox_factory: SandboxFactory, tmp_path: Path
) -> None:
    sb = sandbox_factory()
    state = State.open(tmp_path / "state.sqlite")
    engine = make_engine(sb.url, state=state)
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
    again = SandboxServer(sb.store, "127.0.0.1", sb.server.port, flavour="cloud").start()
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
