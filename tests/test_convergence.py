"""Convergence over simulated days: whatever people do and however cycles die, the bridge
leaves the site as a fresh bridge would want it.

A Hypothesis state machine drives a sandbox (over loopback HTTP, as Jira) and one
long-running bridge with its own state file.  Each step is something that happens on a
support desk — time passing (minutes, a night, a weekend, the month's end), an agent
replying publicly or internally, a customer commenting, a case waiting for the customer
and coming back, resolved and reopened, reprioritised, a new case — followed by the
bridge's cycle at that moment.  Some cycles are killed part-way: a write whose answer is
lost (landed or not), or the bridge process dying after its nth write and restarting on
the same state file.

The bridge runs as shipped: the write pool of `writes.workers`' default for the dialect
(16 on Cloud, 4 on Data Center) and, on Cloud, bulk transition.  With several cases
written at once, the nth write the site receives is any case's, from run to run; so
the position is one case's own: the nth write to the first case (by key) the cycle has
work for.  A case's writes are one task on one worker, in order (comments, transition,
edit), so that write is the same whatever the pool does; a bulk transition that moves
the case counts as one of its writes.  When the bridge dies, the writes other workers
have in flight may land but their answers are lost, and nothing more is sent: every
later answer to that process raises, as a killed process hears nothing.

After every step:

* a fresh bridge with an EMPTY state file, planning at the same moment, finds nothing to
  do (everything the long-running bridge knows is on the site, nothing more, nothing less);
* no issue holds the same bridge comment (action id) twice.

Bounded for CI: few examples, few steps, derandomized, no example database.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from conftest import Sandbox
from e2e_helpers import (
    JANE,
    SAM,
    comment,
    load_rules,
    new_case,
    set_fields_as,
    set_priority,
    settings_at,
    shipped_settings,
)
from e2e_helpers import transition as move
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from bridge.jira.client import JiraClient
from bridge.jira.retry import RetryPolicy
from bridge.policy.model import RuleSet
from bridge.sandbox import seed as seeds
from bridge.sandbox.server import SandboxServer
from bridge.settings import DEFAULT_WORKERS
from bridge.sync.cycle import CycleReport, Engine, Site
from bridge.sync.state import State

BRISBANE = ZoneInfo("Australia/Brisbane")

#: Monday 23 Nov 2026, 08:30 in Brisbane: the week before a month's end
START = datetime(2026, 11, 23, 8, 30, tzinfo=BRISBANE)

#: Retries as in production, minus the waiting.
FAST_RETRY = RetryPolicy(sleep=lambda _s: None, uniform=lambda _a, _b: 0.0)

#: every member of each organisation: contacts and people who are not
MEMBERS = {org: [email for email, _ in people] for org, people in seeds.ORGANIZATIONS.items()}

CONTACT_PHONE = "+61 7 3000 0000"

PRIORITIES = ["Blocker", "Critical", "Major", "Minor", "Trivial"]

#: how far time moves in one step: minutes, hours, a night, a weekend
STEPS = [
    timedelta(minutes=5),
    timedelta(minutes=40),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=15),
    timedelta(days=1),
    timedelta(days=3),
]


@cache
def ruleset() -> RuleSet:
    return load_rules(shipped_settings())


class BridgeDied(BaseException):
    """The bridge process dying (kill -9): nothing in the bridge catches it."""


def _by_key(outcome: Any) -> tuple[int, str]:
    return (len(outcome.key), outcome.key)


class Desk(RuleBasedStateMachine):
    """A support desk on one dialect, its people, its clock and one bridge."""

    flavour = "cloud"
    cases = Bundle("cases")

    def __init__(self) -> None:
        super().__init__()
        store = seeds.build("empty", now=START, frozen=True)
        self.server = SandboxServer(store, "127.0.0.1", 0, flavour=self.flavour).start()
        self.sb = Sandbox(self.server)
        self.tmp = tempfile.TemporaryDirectory(prefix="convergence-")
        self.state_path = Path(self.tmp.name) / "state.sqlite"
        self.state = State.open(self.state_path)
        #: the running bridge dies after this many more writes to `die_on` (None: it does not)
        self.die_after: int | None = None
        self.die_on = ""
        self.die_moves = False  # `die_on` has a transition to make (maybe in a bulk request)
        #: the running bridge has died: whatever it still hears raises
        self.dead = False
        self.engine = self.bridge(self.state, on_request=self._count_write)
        self.last: CycleReport | None = None
        #: the next cycle is killed part-way: how, after which write
        self.kill: tuple[str, int] | None = None

    # -- the bridge -------------------------------------------------------------------------

    def bridge(self, state: State, on_request: Any = None, site: Site | None = None) -> Engine:
        """A bridge process on ``state``; ``site``: what an earlier start-up read of the
        site (its fields, statuses, workflows, customers), which no step changes."""
        settings = settings_at(self.sb.url, self.flavour)
        client = JiraClient.from_settings(settings.jira, retry=FAST_RETRY, on_request=on_request)
        site = site or Site.connect(client, settings, ruleset())
        # a lost answer here has landed already or never will (nothing lands late), so
        # any later read is conclusive: no settle period before an unconfirmed write is
        # sent again (tests/test_faults_e2e.py has the slow-write cases)
        return Engine(
            client,
            settings,
            ruleset(),
            state,
            site,
            write_settle=timedelta(0),
            workers=DEFAULT_WORKERS[self.flavour],
        )

    def _count_write(self, method: str, path: str, status: int) -> None:
        if self.dead:
            raise BridgeDied
        if self.die_after is None or method not in ("PUT", "POST") or "/search" in path:
            return
        if 200 <= status < 300 and self._writes_to(path, self.die_on):
            self.die_after -= 1
            if self.die_after == 0:
                self.die_after = None
                self.dead = True
                raise BridgeDied

    def _writes_to(self, path: str, key: str) -> bool:
        """Whether a write to ``path`` is one to issue ``key``: its path names it (by key
        or id), or it is the cycle's bulk transition, which carries every case's
        transition when it is sent (`killed_cycle` counts it only for a case that has one)."""
        if "/bulk/" in path:
            return self.die_moves
        parts = path.strip("/").split("/")
        for resource in ("issue", "request"):
            if resource in parts and parts.index(resource) + 1 < len(parts):
                ref = parts[parts.index(resource) + 1]
                return ref.upper() == key or ref == str(self.sb.store.issue(key).id)
        return False

    def cycle(self) -> CycleReport:
        """The daemon's cycle at the site's now (killed part-way first, when one is due);
        it must finish with everything done."""
        if self.kill is not None:
            how, n = self.kill
            planned = self.engine.cycle(self.sb.now, dry_run=True)
            work = sorted((o for o in planned.outcomes if o.actions), key=_by_key)
            if work:  # else the kill waits for a cycle with work to do
                target = work[0]
                self.die_moves = any(a.startswith("transition") for a in target.actions)
                self.killed_cycle(how, (n - 1) % len(target.actions) + 1, target.key)
                self.kill = None
        report = self.engine.cycle(self.sb.now)
        assert report.ok and report.complete, report.counts()
        self.last = report
        return report

    def killed_cycle(self, how: str, n: int, key: str) -> None:
        """A cycle whose nth write to ``key`` fails (its answer lost; the write landed or
        not), or after whose nth write to ``key`` the bridge dies and restarts on the same
        state file."""
        if how == "died":
            self.die_after, self.die_on = n, key
            try:
                self.engine.cycle(self.sb.now)
            except BridgeDied:
                self.state.close()
                self.state = State.open(self.state_path)
                self.dead = False
                self.engine = self.bridge(self.state, on_request=self._count_write)
            hit = self.die_after is None
            self.die_after = None
        else:
            before = len(self.server.requests.writes)
            self.server.faults.set(f"fail-write:{n}:{how}@{key}")
            self.engine.cycle(self.sb.now)
            self.server.faults.set(None)
            hit = any(w.fault for w in self.server.requests.writes[before:])
        event(f"killed cycle: {how}, {'part-way' if hit else 'after its last write'}")

    # -- people -----------------------------------------------------------------------------

    def available(self, key: str, name: str) -> bool:
        store = self.sb.store
        return any(t.name == name for t in store.transitions_for(store.issue(key)))

    def move_if_offered(self, key: str, name: str, **kwargs: Any) -> None:
        if self.available(key, name):
            move(self.sb, key, name, **kwargs)

    @initialize(target=cases)
    def first_case(self) -> str:
        key = new_case(self.sb, created=self.sb.now, org="Initech Systems", priority="Critical")
        self.cycle()
        return key

    @rule(target=cases, org=st.sampled_from(sorted(MEMBERS)), data=st.data())
    def a_new_case_arrives(self, org: str, data: st.DataObject) -> str:
        reporter = data.draw(st.sampled_from(MEMBERS[org]), label="reporter")
        priority = data.draw(st.sampled_from(PRIORITIES), label="priority")
        phone = data.draw(st.sampled_from([CONTACT_PHONE, None]), label="phone")
        key = new_case(
            self.sb,
            created=self.sb.now,
            org=org,
            reporter=reporter,
            priority=priority,
            phone=phone,
        )
        self.cycle()
        return key

    @rule(step=st.sampled_from(STEPS))
    def time_passes(self, step: timedelta) -> None:
        self.sb.set_now(self.sb.now + step)
        self.cycle()

    @rule()
    def the_month_ends(self) -> None:
        """To 17:00 on the month's last day, or into the next month's first morning."""
        local = self.sb.now.astimezone(BRISBANE)
        first_next = (local.replace(day=28) + timedelta(days=4)).replace(day=1)
        last_day = (first_next - timedelta(days=1)).replace(hour=17, minute=0)
        when = last_day if local < last_day else first_next.replace(hour=9, minute=5)
        self.sb.set_now(when)
        self.cycle()

    @rule(key=cases, public=st.booleans(), by=st.sampled_from([JANE, SAM]))
    def an_agent_replies(self, key: str, public: bool, by: str) -> None:
        comment(self.sb, key, "Looking into it.", by=by, internal=not public)
        self.cycle()

    @rule(key=cases, data=st.data())
    def the_customer_or_a_colleague_comments(self, key: str, data: st.DataObject) -> None:
        store = self.sb.store
        field = store.field_by_name("Organizations")
        assert field is not None
        (org,) = store.issue(key).values[field.id]
        who = data.draw(st.sampled_from(MEMBERS[store.organizations[org].name]), label="by")
        comment(self.sb, key, "Any update?", by=who)
        self.cycle()

    @rule(key=cases)
    def the_customer_supplies_the_missing_details(self, key: str) -> None:
        reporter = self.sb.store.user(self.sb.store.issue(key).values["reporter"])
        assert reporter is not None
        set_fields_as(self.sb, key, reporter.email, {"Contact phone": CONTACT_PHONE})
        self.cycle()

    @rule(key=cases)
    def work_starts(self, key: str) -> None:
        self.move_if_offered(key, "Start work")
        self.cycle()

    @rule(key=cases)
    def waiting_for_the_customer(self, key: str) -> None:
        self.move_if_offered(key, "Wait for customer")
        self.cycle()

    @rule(key=cases)
    def the_customer_responds(self, key: str) -> None:
        if self.available(key, "Customer responded"):
            reporter = self.sb.store.user(self.sb.store.issue(key).values["reporter"])
            assert reporter is not None
            comment(self.sb, key, "Here is the log you asked for.", by=reporter.email)
            move(self.sb, key, "Customer responded")
        self.cycle()

    @rule(key=cases, error=st.booleans())
    def resolved(self, key: str, error: bool) -> None:
        self.move_if_offered(key, "Resolve", resolution="Raised in error" if error else None)
        self.cycle()

    @rule(key=cases)
    def reopened(self, key: str) -> None:
        self.move_if_offered(key, "Reopen")
        self.cycle()

    @rule(key=cases, priority=st.sampled_from(PRIORITIES))
    def an_engineer_reprioritises(self, key: str, priority: str) -> None:
        set_priority(self.sb, key, priority)
        self.cycle()

    # -- cycles killed part-way -------------------------------------------------------------

    @rule(how=st.sampled_from(["landed", "lost", "died"]), n=st.integers(1, 4))
    def the_next_cycle_is_killed_part_way(self, how: str, n: int) -> None:
        """The bridge's next cycle with work to do is killed part-way (see
        `killed_cycle`); the cycle after it finishes the work."""
        self.kill = (how, n)

    # -- what must always hold --------------------------------------------------------------

    @invariant()
    def a_fresh_bridge_finds_nothing_to_do(self) -> None:
        if self.last is None:
            return
        fresh = self.state_path.with_name("fresh.sqlite")
        state = State.open(fresh)  # a new, empty state file
        try:
            # fresh is its state; the site's start-up facts are the running bridge's
            report = self.bridge(state, site=self.engine.site).cycle(
                self.last.started, dry_run=True
            )
        finally:
            state.close()
            fresh.unlink()
        assert not report.skipped, report.skipped
        wanted = {o.key: o.actions for o in report.outcomes if o.actions}
        assert not wanted, f"a fresh bridge at {self.last.started} would still: {wanted}"

    @invariant()
    def no_issue_holds_a_bridge_comment_twice(self) -> None:
        for issue in self.sb.store.iter_issues():
            ids = Counter(
                (c.properties.get("jsm-bridge") or {}).get("action_id")
                for c in issue.comments
                if "jsm-bridge" in c.properties
            )
            twice = [a for a, n in ids.items() if n > 1]
            assert not twice, f"{issue.key} holds bridge comments twice: {twice}"

    def teardown(self) -> None:
        self.server.stop()
        self.state.close()
        self.tmp.cleanup()


BOUNDED = settings(
    max_examples=15,
    stateful_step_count=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


class DataCenterDesk(Desk):
    flavour = "datacenter"


TestConvergenceCloud = Desk.TestCase
TestConvergenceCloud.settings = BOUNDED
TestConvergenceDataCenter = DataCenterDesk.TestCase
TestConvergenceDataCenter.settings = BOUNDED
