"""One sync cycle: poll → evaluate → plan → apply, with the bookkeeping around it.

`Site` holds what the bridge learns about a Jira site at start-up (field ids,
priority ids, status categories, its own account, the named engineers' accounts);
a wrong name in the config or the rules stops start-up with every problem listed.

`Engine.cycle` reads the cases in scope (all of them the first time, afterwards
only those updated since the watermark minus the overlap, plus those whose next
time-driven moment has passed), evaluates each with the pure policy, plans the
difference and applies it.  A case that cannot be read or evaluated is logged and
skipped; Jira failing outright stops the cycle without moving the watermark, so
the next cycle resumes where this one stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import time
from collections import defaultdict
from collections.abc import (
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

import structlog

from bridge.jira.fields import (
    FieldMap,
    FieldResolutionError,
    check_transitions,
    resolve_priorities,
    resolve_user,
)
from bridge.jira.port import JiraError, JiraPort
from bridge.jira.retry import CircuitOpen, WaitInterrupted
from bridge.policy.compiled import Policy
from bridge.policy.cycle import Cycle, group_org_cases
from bridge.policy.evaluate import evaluate
from bridge.policy.model import (
    Actor,
    Customer,
    Desired,
    EvalContext,
    IssueSnapshot,
    MonthCase,
    RuleSet,
)
from bridge.policy.ruleset import RULE_FILES
from bridge.policy.tiers import contract_year, month_case, not_counted
from bridge.settings import Settings
from bridge.sync.ahead import Readers, read_ahead, readers
from bridge.sync.apply import (
    DEFAULT_SETTLE,
    ApplyResult,
    Deferred,
    Transitions,
    finish_plan,
    start_plan,
    wall_clock,
)
from bridge.sync.bulk import BULK_MAX, BULK_MIN, send_together
from bridge.sync.customers import CustomerDirectory, Memberships
from bridge.sync.ledger import Ledger
from bridge.sync.plan import (
    PLACE_FIELDS,
    WRITTEN_FIELDS,
    AddComment,
    EditIssue,
    IssuePlan,
    Place,
    Transition,
    announced_may_be_on_issue,
    in_brief,
    plan_issue,
    told_may_be_compacted,
)
from bridge.sync.poll import (
    earliest_starts,
    first_pages,
    is_issue_key,
    jql_datetime,
    jql_string,
    keys_jql,
    org_month_cases,
    organization_names,
    project_of,
    projects_jql,
    read_comments,
    read_issues,
    scope_and,
    scope_field_clauses,
    scope_jql,
    scope_status_clauses,
    unmarked_bridge_comments,
)
from bridge.sync.snapshot import (
    LEDGER_PROPERTY,
    SnapshotError,
    comment_action_id,
    comment_action_ids,
    ledger_of,
    to_snapshot,
)
from bridge.sync.state import JOURNAL_KEEP, State

log = structlog.get_logger("jsm_bridge.cycle")


class SiteError(Exception):
    """The config or rules name things the Jira site does not have; every problem listed."""

    def __init__(self, problems: Iterable[str], *, hint: str | None = None) -> None:
        self.problems = list(problems)
        #: what to do about them, when one thing does (fields missing: `setup-site`)
        self.hint = hint
        super().__init__(
            "the Jira site does not match the config/rules:\n"
            + "\n".join(f"  - {p}" for p in self.problems)
            + (f"\n{hint}" if hint else "")
        )


class _JiraFailed(Exception):
    """Carries a `JiraError` past the per-issue catch-all (the cycle must stop)."""

    def __init__(self, error: JiraError) -> None:
        super().__init__(str(error))
        self.error = error


class CycleAborted(Exception):
    """Jira failed in a way that stops the whole cycle (down, auth lost); state is consistent."""


# ------------------------------------------------------------------------------ site facts


@dataclass
class Site:
    fieldmap: FieldMap
    priority_ids: Mapping[str, str]  # Jira priority name -> id
    status_categories: Mapping[str, str]  # status name -> category key
    bridge_account_id: str
    user_tz: tzinfo  # the bridge user's zone: JQL dates are read in it
    flavour: str
    #: who is a customer beyond ``accountType`` (case-folded identities): the rules'
    #: contacts; on Data Center, where users carry no accountType, also everyone JSM lists
    #: as a customer (`CustomerDirectory`, read once per cycle when first needed)
    customer_ids: Collection[str]
    field_names: Mapping[str, str]
    users: dict[str, str | None] = field(default_factory=dict)  # e-mail -> account ref
    #: every transition name the site's workflows have (None: the site does not say)
    transition_names: frozenset[str] | None = None
    #: who belongs to which JSM organisation (read per cycle, only when a case names none)
    memberships: Memberships | None = None

    @classmethod
    def connect(cls, port: JiraPort, settings: Settings, ruleset: RuleSet) -> Site:
        """Resolve every name the config and rules use; raise `SiteError` listing all misses."""
        problems: list[str] = []
        me = port.myself()
        account = str(me.get("accountId") or me.get("name") or me.get("key") or "")
        try:
            user_tz: tzinfo = ZoneInfo(str(me.get("timeZone") or "UTC"))
        except (ValueError, KeyError):
            user_tz = ZoneInfo("UTC")

        fieldmap: FieldMap | None = None
        hint: str | None = None
        try:
            fieldmap = FieldMap.resolve(settings.fields, port.fields())
        except FieldResolutionError as exc:
            problems.extend(f"config {settings.path}: {p}" for p in exc.problems)
            if any(": no field named " in p for p in exc.problems):
                hint = (
                    f"fields the site lacks: `jsm-bridge setup-site --config {settings.path}`"
                    " creates the ones the bridge needs (add --dry-run to see them first), or"
                    " name the site's own fields under `fields:`"
                )

        priority_ids: dict[str, str] = {}
        site_priorities = port.priorities()
        try:
            priority_ids = resolve_priorities(
                ruleset.priorities.jira_names.values(), site_priorities
            )
        except FieldResolutionError as exc:
            problems.extend(f"rules priorities.yaml: {p}" for p in exc.problems)
        # the site's other priorities too: an engineer's own choice ("Trivial") is put back
        # under its own name
        for known in site_priorities:
            if known.get("name") and known.get("id"):
                priority_ids.setdefault(str(known["name"]), str(known["id"]))

        categories: dict[str, str] = {}
        for status in port.statuses():
            name = str(status.get("name") or "")
            cat = status.get("statusCategory") or {}
            if name:
                categories[name] = str(cat.get("key") or "indeterminate")
        folded = {n.casefold() for n in categories}
        for kind, names in (
            ("responded_statuses", ruleset.response.responded_statuses),
            ("pause_statuses", ruleset.response.pause_statuses),
            ("approval_statuses", ruleset.response.approval_statuses),
        ):
            for name in sorted(names):
                if name.casefold() not in folded:
                    problems.append(
                        f"rules sla.yaml: response.{kind} names {name!r}, which is not a status"
                        f" on this site (statuses: {', '.join(sorted(categories))})"
                    )

        transition_names = port.workflow_transition_names() if _transitions_used(ruleset) else None
        problems.extend(_check_transition_names(transition_names, ruleset))

        memberships = Memberships(port)
        site = cls(
            fieldmap=fieldmap if fieldmap is not None else FieldMap({}),
            priority_ids=priority_ids,
            status_categories=categories,
            bridge_account_id=account,
            user_tz=user_tz,
            flavour=settings.jira.flavour,
            customer_ids=_customers(port, settings.jira.flavour, ruleset, memberships),
            field_names=dict(settings.fields),
            transition_names=(
                frozenset(transition_names) if transition_names is not None else None
            ),
            memberships=memberships,
        )
        for email in sorted(_people_to_assign(ruleset)):
            try:
                site.users[email.casefold()] = resolve_user(port, email, flavour=site.flavour)
            except FieldResolutionError as exc:
                problems.extend(f"rules: {p}" for p in exc.problems)
        if problems:
            raise SiteError(problems, hint=hint)
        return site

    def user_ref(self, port: JiraPort, email: str) -> str | None:
        """Account id (Cloud) or user name (Data Center) for an e-mail, cached."""
        folded = email.casefold()
        if folded not in self.users:
            try:
                self.users[folded] = resolve_user(port, email, flavour=self.flavour)
            except FieldResolutionError:
                self.users[folded] = None
        return self.users[folded]

    def mentions(self) -> dict[str, str]:
        """Each person the rules name and Jira resolved -> a mention in wiki markup:
        ``[~accountid:ID]`` on Cloud ("user mentions ... [~accountid:...]", Atlassian's
        GDPR migration guide for the REST API), ``[~username]`` on Data Center (Jira
        Server "Text formatting notation help": Mentions)."""
        made = "[~accountid:{}]" if self.flavour == "cloud" else "[~{}]"
        return {person: made.format(ref) for person, ref in self.users.items() if ref}


def _customers(
    port: JiraPort, flavour: str, ruleset: RuleSet, memberships: Memberships | None = None
) -> Collection[str]:
    contacts = [c for cust in ruleset.customers.values() for c in cust.contacts]
    if flavour == "cloud":
        return frozenset(c.casefold() for c in contacts)
    return CustomerDirectory(port, contacts, memberships)


def _transitions_used(ruleset: RuleSet) -> dict[str, list[str]]:
    """Transition name -> where the rules use it (file and key), in rule order."""
    used: dict[str, list[str]] = {}
    over = ruleset.quota.over_quota.transition
    if over:
        used.setdefault(over, []).append("tiers.yaml quota.over_quota.transition")
    for step in ruleset.escalation:
        for n, action in enumerate(step.actions, 1):
            if action.kind == "transition" and action.transition:
                used.setdefault(action.transition, []).append(
                    f"sla.yaml escalation step {step.index + 1} ({step.at:.0%}) action {n}"
                )
    return used


def _check_transition_names(names: set[str] | None, ruleset: RuleSet) -> list[str]:
    """Problems for transition names the rules use that no workflow on the site has.

    When the bridge's account may not read workflows (or on Data Center, which lists
    no transitions), one warning says the names will be checked per issue instead."""
    used = _transitions_used(ruleset)
    if not used:
        return []
    if names is None:
        log.warning(
            "transition names not checked at start-up: the bridge's Jira account may not read "
            "workflows (Administer Jira) or the site does not list them; each is checked when "
            "an issue needs it (a wrong name is logged as 'transition skipped')",
            transitions=sorted(used),
        )
        return []
    return [
        f"rules {' and '.join(where)}: {problem}"
        for name, where in used.items()
        for problem in check_transitions([name], names)
    ]


def _people_to_assign(ruleset: RuleSet) -> set[str]:
    people = {c.named_engineer for c in ruleset.customers.values() if c.named_engineer}
    people |= set(ruleset.escalation_owners.values())
    roles = ("named_engineer", "escalation_owner")
    for step in ruleset.escalation:
        for action in step.actions:
            if action.kind == "assign" and action.assign and action.assign not in roles:
                people.add(action.assign)
    return {p for p in people if "@" in p}


def client_connections(workers: int) -> int:
    """The kept-alive connections an engine with ``workers`` uses at most: one per write
    worker, one per reader (Data Center's reads ahead, as many as the write workers) and
    one for the cycle's own reads (search pages, bulk transitions)."""
    return 2 * workers + 1


#: What the same rules decide, as a number: raised when a release decides differently on
#: cases Jira will not list as updated (2: a customer's own move into an approval status
#: no longer holds a case; 3: a case an incremental cycle reads, or re-reads as a later
#: case of its month, is judged with the contract year's requests a usage limit counts,
#: and a request whose use of the year moved re-reads the later requests of the year, so
#: a quota place or refusal written from its month alone, or left from an earlier
#: request's, is put right), so the first cycle after upgrading evaluates every case, as
#: after a rule edit.
DECISIONS = 3


def policy_fingerprint(settings: Settings) -> str:
    """A digest of what decides every case: the rule files (`RULE_FILES` of the rules in
    force, `settings.rules_path`), the field mapping, the scope and `DECISIONS`.

    When it changes (a lead edited the rules, an upgrade decides differently), every
    case must be evaluated again, not just those Jira lists as updated: the next cycle
    is a full one.  Other files beside the rules (notes, backups) decide nothing and are
    left out."""
    digest = hashlib.sha256(f"decisions {DECISIONS}\0".encode())
    rules = Path(settings.rules_path)
    for name in RULE_FILES:
        path = rules / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps([sorted(settings.fields.items()), settings.jira.jql]).encode())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------- results


@dataclass
class IssueOutcome:
    """What a cycle did with one case (a row of the demo table, a line of the log).

    A cycle that writes keeps one such row per case read, so a row stays small: once
    the case's writes are done its plan and desired state are let go (a dry run and
    `explain` keep them, to show them), and what the cycle's summary, the metrics, the
    quota follow-up and the demo's table need of them is kept as a few plain facts."""

    key: str
    organization: str | None
    tier: str | None
    priority_before: str | None
    priority_after: str | None
    response_due: datetime | None
    sla_state: str
    actions: list[str]
    plan: IssuePlan | None = None
    desired: Desired | None = None
    error: str | None = None
    writes: dict[str, int] = field(default_factory=dict)  # successful writes by kind
    failed: int = 0  # actions that failed (retried next cycle)
    #: transitions not made, as (name, why): not offered from the issue's status
    skipped_transitions: list[tuple[str, str]] = field(default_factory=list)
    #: the escalation steps the plan carries out (their numbers, as the action ids say)
    escalation_steps: frozenset[str] = frozenset()
    #: the plan rewrites the case's quota field: its rank in its month changed
    quota_moved: bool = False
    #: where the issue stood in its workflow, kept when a transition was skipped (set
    #: with `skipped_transitions`)
    place: Place | None = None
    #: the plan's actions in a few words (`in_brief`; "" when it had none)
    brief: str = ""
    #: the customer the case counts under: its organisation, or for a case naming none
    #: the customer found from its reporter (None: unknown)
    customer: str | None = None


@dataclass
class CycleReport:
    started: datetime
    full: bool
    dry_run: bool
    outcomes: list[IssueOutcome] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (key, why)
    writes: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failed_actions: int = 0
    seconds: float = 0.0
    complete: bool = True  # False when stopped by a signal or aborted
    aborted: str | None = None
    #: the abort needs a person (bad token, permission, JQL, URL): retrying will not help
    aborted_permanent: bool = False
    #: another instance took the site lock mid-cycle and the cycle stopped: not a Jira
    #: failure, yet not a cycle that did its work either
    lost_lock: bool = False
    #: (key, why) of transitions not made whose name no workflow on the site is known to
    #: have (a wrong name in the rules): a person must look
    skipped_actions: list[tuple[str, str]] = field(default_factory=list)

    @property
    def read(self) -> int:
        return len(self.outcomes) + len(self.skipped)

    @property
    def changed(self) -> int:
        return sum(1 for o in self.outcomes if o.actions)

    @property
    def total_writes(self) -> int:
        return sum(self.writes.values())

    @property
    def ok(self) -> bool:
        return self.aborted is None and not self.lost_lock and self.failed_actions == 0

    @property
    def skipped_count(self) -> int:
        """Cases that could not be evaluated plus transitions that could not be made."""
        return len(self.skipped) + len(self.skipped_actions)

    def counts(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "changed": self.changed,
            "skipped": self.skipped_count,
            "writes": dict(self.writes),
            "failed_actions": self.failed_actions,
        }


# ----------------------------------------------------------------------------------- engine


def month_start(moment: datetime, tz: tzinfo) -> datetime:
    local = moment.astimezone(tz)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


#: how many keys one search names when the bridge asks whether cases are still there
_KEYS_PER_SEARCH = 50


def _names_key(text: str, key: str) -> bool:
    """Whether ``text`` names the issue ``key`` (any case; "SUP-1" is not in "SUP-12")."""
    return re.search(rf"(?<![\w-]){re.escape(key)}(?!\d)", text, re.IGNORECASE) is not None


class _UsageMove(NamedTuple):
    """A usage-limited request whose claim on its contract year's uses changed since it
    was recorded (`Engine._usage_moves`): it now counts where it did not (reopened,
    moved in), or no longer does (resolved as not counted, moved out, deleted)."""

    organization: str  # the customer whose contract year it is, as the rules spell it
    case: MonthCase  # as recorded (it left) or as read
    entitlements: frozenset[str]  # the limited entitlements whose uses it took or gives


class _RankedRead(NamedTuple):
    """What `Engine._read_ranked` read: the cases to process and what their quota
    places and usage refusals are decided with."""

    issues: Iterable[tuple[dict[str, Any], IssueSnapshot]]  # to process, maybe page by page
    org_cases: dict[str, tuple[MonthCase, ...]]  # each organisation's cases, for ranking
    ranking: list[tuple[str | None, MonthCase]]  # every case read: (organisation, case)
    left: list[tuple[str, MonthCase]]  # cases that left their recorded organisation or scope
    moves: list[_UsageMove]  # usage-limited requests whose claim on their year changed


def _origins(
    left: Iterable[tuple[str, MonthCase]], moves: Iterable[_UsageMove]
) -> list[tuple[str, MonthCase]]:
    """The moved cases whose later cases may move with them (organisation, case): those
    that ``left`` an organisation and the usage ``moves``."""
    return [*left, *((m.organization, m.case) for m in moves)]


#: How often an incremental cycle lists the scope's keys to find the recorded cases Jira
#: no longer lists (deleted, or moved to another project) with no next moment awaited:
#: nothing else names them, and they would count in their month until the next full read
RECONCILE_EVERY = timedelta(days=1)

_T = TypeVar("_T")


class Engine:
    """Runs cycles against one Jira site with one rule set and one state database."""

    def __init__(
        self,
        port: JiraPort,
        settings: Settings,
        ruleset: RuleSet,
        state: State,
        site: Site,
        *,
        should_stop: Callable[[], bool] = lambda: False,
        progress: Callable[[int, int], None] | None = None,
        explain: bool = False,
        wall: Callable[[], datetime] = wall_clock,
        write_settle: timedelta | None = None,
        workers: int | None = None,
        bulk_transitions: bool | None = None,
    ) -> None:
        self.port = port
        self.settings = settings
        self.ruleset = ruleset
        self.state = state
        self.site = site
        self.should_stop = should_stop
        #: whether a stop asked for by `should_stop` was another instance taking the site lock
        self.lost_lock: Callable[[], bool] = lambda: False
        self.progress = progress
        #: build the explanation trail (for `explain`); cycles skip it: same decisions, less CPU
        self.explain = explain
        #: the rules and field mapping in force (see `policy_fingerprint`); set again when
        #: the daemon adopts new rules
        self.policy = policy_fingerprint(settings)
        #: transitions offered per workflow and status, looked up once per cycle
        self.transitions = Transitions()
        #: Data Center: what each comment's properties say (internal, action id), by id
        self.comment_facts: MutableMapping[str, Any] = state.memo("comment_facts")
        #: the request channel of each case asked about (JQL ``request-channel-type``), when
        #: it is one the channel reminder names, else None; a request's channel never changes
        self.channels: MutableMapping[str, str | None] = state.memo("channels")
        #: Data Center: each issue's ledger as this process last read it or saw it stored
        #: (only the bridge writes it, one instance at a time under the site lock)
        self.ledgers: MutableMapping[str, Any] = state.memo("ledgers")
        #: Cloud: cases' transitions go out together (bulk), until Jira refuses that for good
        #: (Data Center has no bulk transition); False: always one request per case
        self.bulk_transitions = site.flavour == "cloud" and bulk_transitions is not False
        #: cases whose writes are in flight at once (`writes.workers` in the config)
        self.workers = max(1, workers if workers is not None else settings.workers)
        #: the real clock: when a write whose answer was lost may be believed absent
        self.wall = wall
        timeout = float(getattr(settings.jira, "timeout", 30.0))
        #: how long after such a write a read must come before it is sent again
        self.write_settle = (
            write_settle
            if write_settle is not None
            else max(DEFAULT_SETTLE, timedelta(seconds=10 * timeout))
        )
        #: Data Center: the cycle's readers, as many as write workers, which read what the
        #: search leaves out per issue ahead of the case in hand (`bridge.sync.ahead`)
        self._readers: Readers | None = None

    # -- reading ---------------------------------------------------------------------------
    def _read(
        self, jql: str
    ) -> tuple[list[tuple[dict[str, Any], IssueSnapshot]], list[tuple[str, str]]]:
        bad: list[tuple[str, str]] = []
        good = list(self._stream(jql, bad))
        return self._with_channels(good), bad

    def _stream(
        self,
        jql: str,
        bad: list[tuple[str, str]],
        *,
        ranking_only: bool = False,
        found: Iterable[dict[str, Any]] | None = None,
    ) -> Iterator[tuple[dict[str, Any], IssueSnapshot]]:
        """The cases ``jql`` finds, page by page as Jira answers; those that cannot be
        read go to ``bad``.  ``ranking_only``: only what quota ranking needs of each.
        ``found``: the issues of search pages already read (`first_pages`), read in full."""
        for raw, snap in read_issues(
            self.port,
            jql,
            self.site.fieldmap,
            bridge_account_id=self.site.bridge_account_id,
            status_categories=self.site.status_categories,
            customers=self.site.customer_ids,
            datacenter=self.site.flavour == "datacenter",
            comment_facts=self.comment_facts,
            ranking_only=ranking_only,
            found=found,
            readers=self._readers,
        ):
            if isinstance(snap, SnapshotError):
                log.warning("issue skipped", key=snap.key, problem=snap.problem)
                bad.append((snap.key, snap.problem))
            else:
                yield self._slim(raw), self._with_memberships(snap)

    def _read_if_one_page(
        self, jql: str, bad: list[tuple[str, str]]
    ) -> list[tuple[dict[str, Any], IssueSnapshot]] | None:
        """The cases ``jql`` finds, read in full, when they fit in the configured page
        size (`first_pages`); None, nothing read per issue, when Jira says more follow
        (the pages read are let go)."""
        page = first_pages(
            self.port,
            jql,
            self.site.fieldmap,
            limit=max(1, int(getattr(self.port, "page_size", 100))),
            datacenter=self.site.flavour == "datacenter",
        )
        if not page.last:
            return None
        return list(self._stream(jql, bad, found=page.issues))

    def _with_channels(
        self, issues: list[tuple[dict[str, Any], IssueSnapshot]]
    ) -> list[tuple[dict[str, Any], IssueSnapshot]]:
        """The channel each open case of a tier the channel reminder is for was raised
        through (see `_learn_channels`)."""
        if not self._learn_channels(
            [(s.key, s.created) for _, s in issues if self._channel_unknown(s)]
        ):
            return issues
        return [(raw, self._with_memberships(s)) for raw, s in issues]

    def _channel_unknown(self, snapshot: IssueSnapshot) -> bool:
        reminder = self.ruleset.channel_reminder
        return (
            reminder is not None
            and snapshot.key not in self.channels
            and snapshot.status_category != "done"
            and self._tier_of(snapshot) in reminder.tiers
        )

    def _learn_channels(self, asked: Sequence[tuple[str, datetime]]) -> bool:
        """The request channel of the cases ``asked`` about (key, creation: those whose
        channel the reminder needs and was not asked about before, `_channel_unknown`),
        learnt once all of them are read; whether any was asked.  No REST field says
        it; JQL's ``request-channel-type`` does (JSM Data Center API, CustomerRequestChannelSource:
        "queried via JQL like request-channel-type = "api""; on Cloud, Atlassian
        Support's Jira Cloud "JQL fields" page, Request channel type,
        https://support.atlassian.com/jira-software-cloud/docs/jql-fields/): one search
        per channel the reminder names, for the scope's cases created since the oldest
        case not asked about before (a request's channel never changes)."""
        reminder = self.ruleset.channel_reminder
        if not asked or reminder is None:
            return False
        since = jql_datetime(min(created for _, created in asked), self.site.user_tz)
        for channel in sorted(reminder.channels):
            jql = scope_and(
                self.settings.jira.jql,
                f"request-channel-type = {jql_string(channel)} AND created >= {since}",
            )
            for issue in self.port.search(jql, ["created"]):
                self.channels[str(issue.get("key"))] = channel
        for key, _ in asked:
            self.channels.setdefault(key, None)
        return True

    def _tier_of(self, snapshot: IssueSnapshot) -> str | None:
        try:
            facts = self.compiled.decide_customer(snapshot).facts
        except ValueError:  # an unusable customer entry: the case itself reports it
            return None
        return facts.customer.tier if facts is not None else None

    def _read_ranked(
        self,
        jql: str,
        now: datetime,
        report: CycleReport,
        *,
        dry_run: bool,
        is_full: bool,
        named: Sequence[str] = (),
        gone: Collection[str] = (),
    ) -> _RankedRead:
        """The cases ``jql`` finds, ranked, in memory bounded by a page rather than by
        the site.

        Quota ranking needs every case read before any is evaluated.  The search pages
        say whether another follows (`first_pages`).  While the cases fit in the
        configured page size they are read once, kept and used as they are.  Beyond it,
        the pages read are let go before anything is read per issue, and a ranking pass reads
        only what ranking needs of each case (`ranking`: the customer it counts for,
        its key, creation, resolution; no comments or history, so nothing is read per
        issue on Data Center either); then the cases are read in full, page by page,
        and each page is evaluated, planned and written before the next is read.  A
        case that appears between the two passes is left to the next cycle: it is
        newer than this one.  Every case read is recorded for quota ranking; once a
        full read has finished that record is complete (a recorded case it did not find
        is forgotten, `_forget_unseen`) and later cycles rank from it.

        ``named``: the keys ``jql`` names (cases whose next moment has passed); one it
        does not find is gone from the scope (`_forget_missing`), as are ``gone``, those
        Jira no longer has.

        Returns (`_RankedRead`) the cases to process, the organisations' cases, the
        ranking, the cases that left the organisation they were recorded under, or the scope
        (`_left_organisations`, `_forget_missing`), and the usage-limited requests
        whose claim on their contract year's uses changed (`_usage_moves`), with those
        an earlier cycle found and stopped before re-reading their followers
        (`State.owed_followers`)."""
        bad: list[tuple[str, str]] = []
        kept = self._read_if_one_page(jql, bad)
        ranking: list[tuple[str | None, MonthCase]] = []
        if kept is None:  # more than a page: rank from a light read, then read page by page
            # the light read is let go as it goes, each case ranked and its channel noted
            # when it is to be asked; the full read (`_stream`) then gives each case its
            # channel as it reads it
            asked: list[tuple[str, datetime]] = []
            for _, snap in self._stream(jql, bad, ranking_only=True):
                ranking.extend(self.ranking([snap]))
                if self._channel_unknown(snap):
                    asked.append((snap.key, snap.created))
            self._learn_channels(asked)
        else:
            kept = self._with_channels(kept)
            ranking = self.ranking(s for _, s in kept)
        report.skipped.extend(bad)
        self._retry_later(bad, now, dry_run=dry_run)
        cached = False
        left: list[tuple[str, MonthCase]] = []
        moves: list[_UsageMove] = []
        if not dry_run:
            # what Jira no longer lists is asked for before the state's transaction opens
            listed = {case.key for _, case in ranking} | {key for key, _ in bad}
            missing = set(gone) | self._absent(set(named) - listed - set(gone))
            unseen = self._unseen(listed) if is_full else set()
            reconcile = is_full or self._reconcile_due(now)
            if reconcile and not is_full:  # the daily check: the scope is listed, keys only
                missing |= self._unseen(listed, list_scope=True)
            with self.state.batch():
                if not is_full:  # a full read ranks every case afresh: nothing follows
                    recorded = self.state.recorded_cases(case.key for _, case in ranking)
                    if "quota_usage" in self.site.fieldmap:  # else no quota place moves
                        left = self._left_organisations(ranking, recorded)
                    forgotten = self._forget_missing(missing)
                    left += forgotten
                    moves = self._usage_moves(ranking, recorded, forgotten)
                    # recorded with the cases, so a cycle stopped before their followers
                    # are re-read leaves them owed to the next (`followers_done`)
                    self.state.owe_followers(
                        [
                            *((org, case, None) for org, case in left),
                            *((m.organization, m.case, m.entitlements) for m in moves),
                        ]
                    )
                    owed = self.state.owed_followers()
                    found = {case.key for _, case in left} | {m.case.key for m in moves}
                    carried = {case.key for _, case, _ in owed} - found
                    if carried:
                        log.info(
                            "an earlier cycle stopped before re-reading the later cases of "
                            "cases that moved: this cycle re-reads them",
                            moved_cases=len(carried),
                        )
                    left = [(org, case) for org, case, uses in owed if uses is None]
                    moves = [_UsageMove(o, c, uses) for o, c, uses in owed if uses is not None]
                self.state.remember_cases(ranking)
                if is_full:
                    if unseen:
                        self.state.forget_cases(sorted(unseen))
                        log.info(
                            "cases no longer in scope are no longer counted", cases=sorted(unseen)
                        )
                    self.state.set_cases_complete()
                if reconcile:
                    self.state.set_reconciled(now)
            cached = self.state.cases_complete()
        moved = _origins(left, moves)
        org_cases = self._org_cases(ranking, complete=is_full, cached=cached, left=moved)
        if kept is not None:
            return _RankedRead(kept, org_cases, ranking, left, moves)
        ranked = {case.key for _, case in ranking}
        reported = {key for key, _ in bad}

        def again() -> Iterator[tuple[dict[str, Any], IssueSnapshot]]:
            later: list[tuple[str, str]] = []
            for raw, snap in self._stream(jql, later):
                if snap.key in ranked:
                    yield raw, snap
                else:
                    log.info("case new since this cycle began: the next one reads it", key=snap.key)
            fresh = [(key, why) for key, why in later if key not in reported]
            report.skipped.extend(fresh)
            self._retry_later(fresh, now, dry_run=dry_run)

        return _RankedRead(again(), org_cases, ranking, left, moves)

    def _left_organisations(
        self,
        ranking: Sequence[tuple[str | None, MonthCase]],
        recorded: Mapping[str, tuple[str | None, MonthCase]],
    ) -> list[tuple[str, MonthCase]]:
        """The read cases recorded under another organisation than they now count for
        (moved to another customer, or their organisation cleared): (the organisation
        they were recorded under, the case).  Their old month's later cases move up a
        place, though Jira does not list them as updated (`_quota_followers`).
        ``recorded``: the read cases as recorded before this read
        (`State.recorded_cases`)."""
        left: list[tuple[str, MonthCase]] = []
        for name, case in ranking:
            old, _ = recorded.get(case.key, (None, None))
            customer = self.ruleset.customer(old)  # the record keeps names folded
            if old and old != (name or "").casefold() and customer is not None:
                left.append((customer.organization, case))
        return left

    def _usage_moves(
        self,
        ranking: Sequence[tuple[str | None, MonthCase]],
        recorded: Mapping[str, tuple[str | None, MonthCase]],
        forgotten: Sequence[tuple[str, MonthCase]],
    ) -> list[_UsageMove]:
        """The read or forgotten cases whose claim on their contract year's usage limits
        changed since they were recorded (`_usage_claim`): a workshop resolved as a
        duplicate or reopened, moved to another customer or deleted.  Whether a later
        request of the same year for the same entitlement is refused depends on it,
        though Jira does not list that one as updated (`_usage_followers`).  A
        customer's claim is told under its name as the rules spell it."""
        if not self.ruleset.usage_limits:
            return []
        moves: list[_UsageMove] = []

        def move(name: str | None, case: MonthCase, claim: frozenset[tuple[str, str]]) -> None:
            customer = self.ruleset.customer(name) if name else None
            entitlements = frozenset(e for e, _ in claim)
            if customer is not None and entitlements:
                moves.append(_UsageMove(customer.organization, case, entitlements))

        for name, case in ranking:
            old, before = recorded.get(case.key, (None, None))
            now = self._usage_claim(name, case)
            was = self._usage_claim(old, before) if before is not None else frozenset()
            same = old is not None and old == (name or "").casefold()
            if same and was != now:
                move(name, case, was | now)
            elif not same:
                if before is not None:
                    move(old, before, was)
                move(name, case, now)
        for name, case in forgotten:
            move(name, case, self._usage_claim(name, case))
        return moves

    def _usage_claim(self, organization: str | None, case: MonthCase) -> frozenset[tuple[str, str]]:
        """What ``case`` claims of its customer's usage limits, as `usage_refusals` counts
        it: (entitlement, product when the limit is per product) for each limited
        entitlement its request type needs, unless it is resolved as not counted or
        counts for no customer of the rules.  Whether the claim is granted is the
        policy's to say; a request that claims nothing leaves every other as it was."""
        customer = self.ruleset.customer(organization) if organization else None
        raised = case.raised
        if (
            customer is None
            or raised is None
            or not_counted(case.resolution, self.compiled.not_counted)
        ):
            return frozenset()
        limits = self.ruleset.usage_limits
        product = (raised.product or "").strip().casefold()
        return frozenset(
            (e, product if limits[e].per_product else "") for e in self._needs(case) if e in limits
        )

    def _forget_missing(self, missing: Collection[str]) -> list[tuple[str, MonthCase]]:
        """The cases a read named and did not find, neither read nor unreadable, nor found
        by a search naming them (`_absent`): deleted, or gone from the scope (moved to
        another project).  Nothing more is awaited of them (their next moment is
        forgotten), and they no longer count in their month: they are forgotten, and
        returned as (their recorded customer, the case) so the later cases of that month
        are read again (`_quota_followers`).  With a scope that selects by status,
        resolution or organisation a case not found may still count (resolved since,
        say): only its next moment is forgotten then."""
        if not missing:
            return []
        if self.scope_filters:
            for key in missing:
                self.state.set_wakeup(key, None)
            return []
        recorded = self.state.recorded_cases(missing)
        self.state.forget_cases(missing)
        log.info("cases no longer in scope are no longer counted", cases=sorted(missing))
        left: list[tuple[str, MonthCase]] = []
        for old, case in recorded.values():
            customer = self.ruleset.customer(old)
            if customer is not None:
                left.append((customer.organization, case))
        return left

    def _gone(self, exc: JiraError, keys: Sequence[str]) -> set[str]:
        """Of the ``keys`` a refused search named, those Jira no longer has.  Jira
        refuses a search naming a key that does not exist with HTTP 400 ("An issue with
        key 'SUP-2' does not exist for field 'key'", not an empty result: Jira Cloud
        REST v3 "Search for issues using JQL", Data Center "Search"); each key Jira's
        messages name is then asked for (404: deleted).  The messages are in the
        account's language, the key as the query wrote it; a refusal naming none of the
        keys (a scope whose field was renamed, say) asks for nothing, however many
        cases the cycle awaits.  Empty when the refusal was about something else."""
        if exc.status != 400 or not keys:
            return set()
        said = "\n".join(exc.messages)
        gone: set[str] = set()
        for key in (k for k in keys if _names_key(said, k)):
            try:
                self.port.get_issue(key.upper(), ["summary"])
            except JiraError as probe:
                if probe.status != 404:  # Jira failing: a retry may settle it, not the 400
                    raise probe from exc
                gone.add(key)
        return gone

    def _unseen(self, listed: Collection[str], *, list_scope: bool = False) -> set[str]:
        """The recorded cases a full read did not find (``listed``: those it read or could
        not read), nor a search naming them (`_absent`): deleted, or gone from the scope
        (moved to another project); they no longer count.  ``list_scope``: the read was
        not a full one, so the scope's keys are listed too (`RECONCILE_EVERY`).  With a
        scope that selects by status, resolution or organisation (`scope_filters`) a case
        not found may still count (resolved since, say), and the months are searched
        rather than taken from the record: none then."""
        if self.scope_filters:
            return set()
        if list_scope:
            jql = scope_jql(self.settings.jira.jql, updated_since=None)
            keys = {
                str(issue.get("key", "")).upper() for issue in self.port.search(jql, ["created"])
            }
            log.info("recorded cases checked against the scope", listed=len(keys))
            listed = {*listed, *keys}
        return self._absent(self.state.recorded_keys() - set(listed))

    def _reconcile_due(self, now: datetime) -> bool:
        """Whether the recorded cases were last checked against the scope a day ago or more."""
        last = self.state.reconciled_at()
        return last is None or now - last >= RECONCILE_EVERY

    def _absent(self, keys: Collection[str]) -> set[str]:
        """Of ``keys``, which a read of the scope did not list, those a search naming them
        does not find either.  A read's pages may shift under it: on Data Center, which
        pages by offset, a case deleted or moved out before the page being read moves
        every later case one place back, so one is never listed.  A case is forgotten
        (its month's count, its next moment) only once a search naming it does not find
        it."""
        found: set[str] = set()
        ordered = sorted(keys)
        for start in range(0, len(ordered), _KEYS_PER_SEARCH):
            chunk = ordered[start : start + _KEYS_PER_SEARCH]
            issues, _ = self._without_gone(
                chunk,
                lambda there: (
                    list(self.port.search(keys_jql(self.settings.jira.jql, there), ["summary"]))
                    if there
                    else []
                ),
            )
            found |= {str(issue.get("key", "")).upper() for issue in issues}
        return {k for k in keys if k.upper() not in found}

    def _without_gone(
        self, keys: Sequence[str], search: Callable[[Sequence[str]], _T]
    ) -> tuple[_T, set[str]]:
        """``search(keys)``, and the keys Jira no longer has (`_gone`): a search naming a
        deleted key is refused, and is made again without those, as often as Jira names
        another (Jira may name one deleted key a refusal)."""
        gone: set[str] = set()
        while True:
            there = [k for k in keys if k not in gone]
            try:
                return search(there), gone
            except JiraError as exc:
                found = self._gone(exc, there)
                if not found:
                    raise
                gone |= found

    def _grouped(
        self, cases: Iterable[tuple[str | None, MonthCase]]
    ) -> dict[str, tuple[MonthCase, ...]]:
        """Cases by the organisation they count for (`group_org_cases`); {} when no case
        belongs to a customer of the rules."""
        grouped = group_org_cases(cases)
        known = any(self.ruleset.customer(name) is not None for name in grouped)
        return grouped if known else {}

    def _with_memberships(self, snapshot: IssueSnapshot) -> IssueSnapshot:
        """A case naming no organisation, with its reporter's JSM organisations (its
        customer is found from them and the contact lists; read once per cycle, and only
        when such a case comes by); and any case with its request channel, when known."""
        if self.ruleset.channel_reminder is not None:  # channels are asked about only then
            channel = self.channels.get(snapshot.key)
            if channel is not None and snapshot.channel != channel:
                snapshot = dataclasses.replace(snapshot, channel=channel)
        reporter, memberships = snapshot.reporter, self.site.memberships
        if snapshot.organization or reporter is None or memberships is None:
            return snapshot
        if reporter.agent:
            return snapshot  # an agent's case is not a customer's by membership
        orgs = memberships.organizations_of(reporter.email, reporter.account_id)
        return dataclasses.replace(snapshot, reporter_organizations=orgs) if orgs else snapshot

    def as_read(self, snapshot: IssueSnapshot) -> IssueSnapshot:
        """A case read outside a cycle (`report`), completed as the cycle's own read
        completes it (a case naming no organisation gets its reporter's JSM
        organisations), so both find the same customer for it."""
        return self._with_memberships(snapshot)

    def customer_name(self, snapshot: IssueSnapshot) -> str | None:
        """The organisation whose quota the case counts in: the one it names, or for a
        case naming none, the customer found from its reporter (None: unknown)."""
        if snapshot.organization:
            return snapshot.organization
        try:
            facts = self.compiled.decide_customer(snapshot).facts
        except ValueError:  # an unusable customer entry: the case itself reports it
            return None
        return facts.customer.organization if facts is not None else None

    def _slim(self, raw: dict[str, Any]) -> dict[str, Any]:
        """What planning still needs of an issue's JSON once its snapshot is made (Cloud):
        the fields the bridge writes, where the issue stands in its workflow, its
        properties.  The rest — comments and changelog, most of the bytes — is let go as
        each page is read instead of being kept for the whole cycle.  Data Center plans
        may re-read comments from the JSON, and `explain` shows it: both keep it whole."""
        if self.explain or self.site.flavour != "cloud":
            return raw
        fields = raw.get("fields") or {}
        keep = [*PLACE_FIELDS, *self._written_ids]
        return {
            "id": raw.get("id"),
            "key": raw.get("key"),
            "fields": {k: fields[k] for k in keep if k in fields},
            "properties": raw.get("properties"),
        }

    @property
    def _written_ids(self) -> list[str]:
        fieldmap = self.site.fieldmap
        return [fieldmap.id(name) for name in WRITTEN_FIELDS if name in fieldmap]

    def _retry_later(self, bad: list[tuple[str, str]], now: datetime, *, dry_run: bool) -> None:
        """Cases that could not be read are read again next cycle, changed in Jira or not."""
        if dry_run:
            return
        for key, _ in bad:
            if is_issue_key(key):
                self.state.set_wakeup(key, now)

    def _read_one(
        self, key: str, jql: str
    ) -> tuple[list[tuple[dict[str, Any], IssueSnapshot]], list[tuple[str, str]]]:
        """`_read` for one key.  Jira answers ``key = "SUP-999"`` for a key that does not
        exist with HTTP 400, not an empty result: when the issue itself is not found (404)
        that is "no such case", not Jira failing."""
        try:
            return self._read(jql)
        except JiraError as exc:
            if exc.status != 400:
                raise
            try:
                self.port.get_issue(key.upper(), ["summary"])
            except JiraError as probe:
                if probe.status == 404:
                    return [], []
            raise

    def _calendar_tz(self, organization: str | None) -> tzinfo:
        return self.compiled.calendar_of(organization).tz

    def ranking(self, snapshots: Iterable[IssueSnapshot]) -> list[tuple[str | None, MonthCase]]:
        """What quota ranking needs of each case: the organisation it counts for, and
        the case as its month lists it."""
        return [(self.customer_name(s), month_case(s)) for s in snapshots]

    def _org_cases(
        self,
        cases: Sequence[tuple[str | None, MonthCase]],
        *,
        complete: bool,
        cached: bool = False,
        left: Sequence[tuple[str, MonthCase]] = (),
    ) -> dict[str, tuple[MonthCase, ...]]:
        """The organisations' cases for quota ranking, from the cases read (`ranking`),
        and the months of the organisations ``left`` names (`_left_organisations`).

        When ``cases`` is the whole scope (a full read) they already are every
        case; when the local state has recorded every case (``cached``: a full read
        finished before, and each read since updated it) they come from there;
        otherwise one search fetches the months the read cases fall in.

        A scope that selects cases by status or resolution (``resolution = EMPTY``)
        leaves cases of the month out of both: the months are then always searched, in
        the projects of the cases read rather than in the scope (SPEC §2: the count does
        not depend on the scope's status filters; `check` warns about such a scope).
        """
        known = self._known([*cases, *left])
        if not known:
            return {}
        base_jql = self.settings.jira.jql
        if self.scope_filters:
            base_jql = projects_jql(project_of(c.key) for c, _ in known)
            complete = cached = False
        if complete:
            return self._grouped(cases)
        starts = self._starts(known)
        if cached:
            return self.state.org_cases(starts)
        return org_month_cases(
            self.port,
            base_jql,
            self.site.fieldmap,
            starts,
            tz=self.site.user_tz,
            bridge_account_id=self.site.bridge_account_id,
            status_categories=self.site.status_categories,
            customers=self.site.customer_ids,
            owner=self._owner,
        )

    def _known(self, cases: Iterable[tuple[str | None, MonthCase]]) -> list[tuple[MonthCase, str]]:
        """(case, organisation) for those of ``cases`` that count for a customer of the
        rules."""
        return [(c, n) for n, c in cases if n and self.ruleset.customer(n) is not None]

    def _starts(self, cases: Iterable[tuple[MonthCase, str]]) -> dict[str, datetime]:
        """Where each organisation's cases gathered for ``cases`` (case, organisation)
        begin: the earliest of its cases' `_counted_since`, less a day's margin for
        zones east or west of the search's.  Each organisation from its own start: a
        customer no usage limit decides for is read for its months alone, whatever the
        others need.  Names that differ only in case begin together."""
        own = [(name, self._counted_since(case, name) - timedelta(days=1)) for case, name in cases]
        earliest = earliest_starts(own)
        return {name: earliest[name.casefold()] for name, _ in own}

    def month_org_cases(
        self, cases: Sequence[tuple[str | None, MonthCase]]
    ) -> dict[str, tuple[MonthCase, ...]]:
        """The organisations' cases the ranked ``cases`` are ranked among, searched as a
        cycle that has not read the whole scope searches them (`_org_cases`): from each
        case's month, or the contract year its month begins in (`_counted_since`),
        in the scope or, when the scope filters (`scope_filters`), in the cases'
        projects.  `report` ranks with it, so a case's quota place there is the one a
        cycle writes on it."""
        return self._org_cases(cases, complete=False)

    def _owner(self, snapshot: IssueSnapshot) -> str | None:
        """The customer a case naming no organisation belongs to, found as the cycle's
        own read finds it (`_with_memberships`, then `customer_name`): from its
        reporter, by the contact lists, then JSM's organisation membership (read only
        when such a case comes by)."""
        return self.customer_name(self._with_memberships(snapshot))

    def _counted_since(self, case: MonthCase, organization: str) -> datetime:
        """Where the cases the case's decisions depend on begin: its month (the quota),
        or the contract year the month begins in (`_year_decides`).  A case read again
        on an incremental cycle, or re-read as a later case of a month whose quota place
        moved (`_quota_followers`), is judged with every case a full cycle judges it
        with, so it is decided as a full cycle decides it."""
        tz = self._calendar_tz(organization)
        start = month_start(case.created, tz)
        customer = self.ruleset.customer(organization)
        if customer is None or not self._year_decides(case, customer):
            return start
        year = contract_year(start, customer.contract_start, tz)
        return datetime.combine(year, datetime.min.time(), tz)

    def _year_decides(self, case: MonthCase, customer: Customer) -> bool:
        """Whether the contract year's earlier cases decide something of ``case``: it asks
        for an entitlement with a usage limit (whether the year's uses went to older
        requests), or its month's quota leaves out what a usage limit refuses
        (``quota.not_counted_flags`` holds ``not_entitled``) and the customer's tier
        includes such an entitlement, so a request of its month may be refused by one of
        an earlier month, and not use the quota."""
        limits = self.ruleset.usage_limits
        if not limits:
            return False
        if any(e in limits for e in self._needs(case)):
            return True
        tier = self.ruleset.tiers.get(customer.tier)
        return (
            "not_entitled" in self.compiled.not_counted_flags
            and tier is not None
            and not tier.entitlements.isdisjoint(limits)
        )

    def _needs(self, case: MonthCase) -> tuple[str, ...]:
        """The entitlements ``case``'s request type needs (none when its request type is
        not recorded or needs none); request types are matched case-insensitively."""
        request_type = case.raised.request_type if case.raised is not None else None
        return self.compiled.needs.get((request_type or "").strip().casefold(), ())

    @property
    def scope_filters(self) -> list[str]:
        """The scope's clauses on status, resolution or the organisation field: the
        quota is then never counted from the scope's cases alone (`_org_cases`).  A
        customer's month holds its contacts' cases naming no organisation as well as
        those naming it, so ``Organizations is EMPTY`` leaves out cases it counts."""
        jql = self.settings.jira.jql
        names = organization_names(self.site.fieldmap)
        return scope_status_clauses(jql) + scope_field_clauses(jql, names)

    # -- one issue ---------------------------------------------------------------------------
    @property
    def ruleset(self) -> RuleSet:
        return self.compiled.rules

    @ruleset.setter
    def ruleset(self, ruleset: RuleSet) -> None:
        """New rules are compiled once, when they are adopted."""
        self.compiled = Policy.compile(ruleset)

    def start_cycle(self, org_cases: Mapping[str, tuple[MonthCase, ...]], now: datetime) -> Cycle:
        """What the cases evaluated at ``now`` with these organisations' cases share."""
        context = EvalContext(
            org_cases=org_cases,
            bridge_account=self.site.bridge_account_id,
            field_names=self.site.field_names,
            select_fields=self.site.fieldmap.select_fields(),
            explain=self.explain,
            mentions=self.site.mentions(),
            retired_labels=self.retired_labels(),
        )
        return Cycle.start(now, context)

    def retired_labels(self) -> frozenset[str]:
        """The labels the rules the cases were last evaluated with owned and the rules in
        force do not (a lead renamed one): the cycle after the change reads every case,
        and takes them off the open ones."""
        owned = self.state.owned_labels()
        return owned - self.compiled.owned_labels if owned is not None else frozenset()

    def evaluate(self, snapshot: IssueSnapshot, cycle: Cycle) -> Desired:
        return evaluate(snapshot, self.compiled, cycle)

    def plan(self, raw: Mapping[str, Any], snapshot: IssueSnapshot, desired: Desired) -> IssuePlan:
        return plan_issue(
            desired,
            snapshot,
            raw.get("fields") or {},
            self._with_journal(snapshot.key, Ledger.from_json(ledger_of(raw))),
            self.site.fieldmap,
            resolve_priority=self._priority_id,
            resolve_user=lambda email: self.site.user_ref(self.port, email),
            user_ref_key="accountId" if self.site.flavour == "cloud" else "name",
            merge_comments=self.settings.merge_comments,
            issue_id=str(raw["id"]) if raw.get("id") not in (None, "") else None,
            priority_names=self.compiled.priority.change_names,
        )

    def _with_journal(self, key: str, ledger: Ledger) -> Ledger:
        """The ledger as read, with the actions the journal saw recorded in it (done
        entries, kept `JOURNAL_KEEP`).  A search may give the ledger as it was before the
        bridge's last write to it: Cloud's ``search/jql`` says "Recent updates might not be
        immediately visible in the returned search results"
        (https://developer.atlassian.com/cloud/jira/platform/rest/v3/api-group-issue-search/
        #api-rest-api-3-search-jql-get), and a comment then looks still due.  The journal
        knows it is done on both flavours, for any number of cases, with no extra request
        (``reconcileIssues`` would cover 50 cases a search, on Cloud only)."""
        for aid, at in self.state.journal_done_actions(key).items():
            if not ledger.handled(aid):
                ledger = ledger.with_done(aid, at)
        return ledger

    def _ledger_needed(
        self, snapshot: IssueSnapshot, desired: Desired, plan: IssuePlan, *, dry_run: bool
    ) -> bool:
        """Data Center: whether the plan must be made again with the issue's ledger (no
        issue properties in DC's search, JRASERVER-62898): when the plan made without it
        has a comment, transition or repair (a field edit needs no ledger and records
        none); when a comment that follows another (a correction, `DesiredComment.follows`)
        is wanted and not known done: the plan without the ledger leaves it out unless the
        journal still remembers the comment it follows (`JOURNAL_KEEP`), and the edit
        taking the label off would land without it, for good; for `explain`; or to settle
        an interrupted write."""
        return (
            any(not isinstance(a, EditIssue) for a in plan.actions)
            or any(
                c.follows is not None and not plan.ledger.handled(c.action_id)
                for c in desired.comments
            )
            or self.explain  # `explain` shows what the ledger holds
            or (not dry_run and bool(self.state.pending_intents(snapshot.key)))
        )

    def _datacenter_plan(
        self,
        raw: Mapping[str, Any],
        snapshot: IssueSnapshot,
        desired: Desired,
        cycle: Cycle,
    ) -> tuple[IssueSnapshot, Desired, IssuePlan]:
        """Data Center: the plan made with the issue's ledger (read once per issue in the
        process's life, `ledgers`, while its writes all land), and with the bridge's own
        earlier comments and their action ids when a comment is still to be posted and
        the issue holds bridge comments not seen with their properties (a comment posted
        just before a crash, its ledger entry lost), or when the ledger announces a
        comment a planned comment or a wanted correction depends on
        (`announced_may_be_on_issue`).  Jira failing on those reads stops the cycle
        (`_JiraFailed`)."""
        try:
            if snapshot.key not in self.ledgers:
                self.ledgers[snapshot.key] = self._ledger(snapshot.key)
            issue = {**raw, "properties": {LEDGER_PROPERTY: self.ledgers[snapshot.key]}}
            plan = self.plan(issue, snapshot, desired)
            if announced_may_be_on_issue(plan) or (
                any(isinstance(a, AddComment) for a in plan.actions)
                and unmarked_bridge_comments(
                    issue, self.comment_facts, bridge_account_id=self.site.bridge_account_id
                )
            ):
                issue = read_comments(self.port, issue, self.comment_facts)
                snapshot = to_snapshot(
                    issue,
                    self.site.fieldmap,
                    bridge_account_id=self.site.bridge_account_id,
                    status_categories=self.site.status_categories,
                    customers=self.site.customer_ids,
                )
                snapshot = self._with_memberships(snapshot)
                desired = self.evaluate(snapshot, cycle)
                plan = self.plan(issue, snapshot, desired)
        except JiraError as exc:
            raise _JiraFailed(exc) from exc
        return snapshot, desired, plan

    def _cloud_plan(
        self, raw: Mapping[str, Any], snapshot: IssueSnapshot, cycle: Cycle
    ) -> tuple[IssueSnapshot, Desired, IssuePlan]:
        """Cloud: the plan made again with the action ids the issue's comments carry, read
        with their properties (the search gives comments without them), when a change
        told long ago may be in the ledger as a digest only (`told_may_be_compacted`).
        Jira failing on that read stops the cycle (`_JiraFailed`)."""
        try:
            read = {str(c.get("id") or ""): c for c in self.port.comments(snapshot.key)}
        except JiraError as exc:
            raise _JiraFailed(exc) from exc
        comments = tuple(
            dataclasses.replace(
                c,
                action_id=comment_action_id(read[c.id]),
                action_ids=comment_action_ids(read[c.id]),
            )
            if c.id in read
            else c
            for c in snapshot.comments
        )
        snapshot = dataclasses.replace(snapshot, comments=comments)
        desired = self.evaluate(snapshot, cycle)
        return snapshot, desired, self.plan(raw, snapshot, desired)

    def _ledger(self, key: str) -> Any:
        """The issue's ``jsm-bridge`` property as stored (None when it has none)."""
        return self.port.get_property(key, LEDGER_PROPERTY)

    def _priority_id(self, name: str) -> str:
        for known, pid in self.site.priority_ids.items():
            if known.casefold() == name.casefold():
                return pid
        raise KeyError(f"priority {name!r} is not on this Jira site")

    # -- the cycle -----------------------------------------------------------------------------
    def cycle(
        self,
        now: datetime,
        *,
        dry_run: bool = False,
        only_key: str | None = None,
        full: bool = False,
    ) -> CycleReport:
        """One pass over the cases in scope.  ``dry_run`` plans without writing anything
        (and leaves the local state alone); ``only_key`` limits it to one case."""
        ahead = self.workers if self.site.flavour == "datacenter" else 1  # Cloud: no need
        with readers(ahead) as self._readers:
            try:
                return self._cycle(now, dry_run=dry_run, only_key=only_key, full=full)
            finally:
                self._readers = None

    def _cycle(
        self, now: datetime, *, dry_run: bool, only_key: str | None, full: bool
    ) -> CycleReport:
        began = time.perf_counter()
        watermark = None if (full or only_key or dry_run) else self.state.get_watermark()
        recorded = self.state.get_policy() if watermark is not None else self.policy
        if recorded != self.policy:
            if recorded is None:  # an upgrade that must record every case again
                log.info("the state does not say which rules it was made with: reading every case")
            else:
                log.info(
                    "rules, field mapping or this release's decisions changed since the last "
                    "full cycle: reading every case"
                )
            watermark = None
        is_full = watermark is None and only_key is None
        report = CycleReport(started=now, full=is_full, dry_run=dry_run)
        # a workflow may change between cycles: what it offers is read afresh each time
        self.transitions = self.transitions.next_cycle()
        if isinstance(self.site.customer_ids, CustomerDirectory):
            self.site.customer_ids.next_cycle()  # customers come and go: read afresh
        if self.site.memberships is not None:
            self.site.memberships.next_cycle()
        run_id = None if dry_run else self.state.start_run(now)
        wake: list[str] = []
        try:
            if only_key is not None:
                jql = keys_jql(self.settings.jira.jql, [only_key])
            elif watermark is None:
                jql = scope_jql(self.settings.jira.jql, updated_since=None)
            else:
                wake = self.state.due_wakeups(now)
                jql = self._changed_jql(watermark, wake)
            if only_key is not None:
                self._read_one_case(only_key, jql, now, report, dry_run=dry_run)
            else:
                # a case deleted while the bridge awaited its next moment is refused
                read, _ = self._without_gone(
                    wake,
                    lambda there: self._read_ranked(
                        self._changed_jql(watermark, there) if watermark and there != wake else jql,
                        now,
                        report,
                        dry_run=dry_run,
                        is_full=is_full,
                        named=there,
                        gone=set(wake) - set(there),
                    ),
                )
                self._process(
                    read.issues,
                    read.org_cases,
                    now,
                    report,
                    dry_run=dry_run,
                    total=len(read.ranking),
                    owe=not is_full,
                )
                if not is_full and report.complete:
                    # a case whose quota position moved (resolved as a duplicate, moved to
                    # another organisation) moves the later cases of its month too, and a
                    # usage-limited request that took or gave back its contract year's use
                    # decides the later requests of that year, though Jira does not list
                    # them as updated: re-read those once, now
                    followers = sorted(
                        {
                            *self._quota_followers(
                                read.ranking, report.outcomes, read.org_cases, read.left
                            ),
                            *self._usage_followers(read.ranking, read.moves, read.org_cases),
                        },
                        key=lambda k: (len(k), k),
                    )
                    if followers:
                        self._read_followers(
                            followers,
                            read.org_cases,
                            now,
                            report,
                            dry_run=dry_run,
                            gathered=[*read.ranking, *_origins(read.left, read.moves)],
                        )
        except JiraError as exc:
            report.aborted = str(exc)
            report.aborted_permanent = exc.permanent
            report.complete = False
            log.error("cycle stopped: Jira failed", error=str(exc), status=exc.status)
        except CircuitOpen as exc:  # Jira refused call after call: stop now, not per action
            report.aborted = str(exc)
            report.complete = False
            log.error("cycle stopped: Jira keeps failing", error=str(exc))
        except WaitInterrupted:
            report.complete = False
            log.info("stop requested during a wait for Jira: the cycle stops here")
        if not report.complete and self.lost_lock():
            report.lost_lock = True
            log.error("cycle stopped: another instance took the site lock")
        report.skipped_actions = self._unknown_transitions(report.outcomes)
        report.seconds = time.perf_counter() - began
        if not dry_run and run_id is not None:
            if report.complete and only_key is None:
                with self.state.batch():  # the followers owed were re-read (or read in full)
                    self.state.set_watermark(now)
                    self.state.followers_done()
                if is_full:
                    self.state.set_policy(self.policy)
                if is_full or self.state.owned_labels() is None:
                    self.state.set_owned_labels(self.compiled.owned_labels)
            self.state.finish_run(run_id, report.counts(), report.skipped_count, report.ok, at=now)
            self.state.prune_journal(now - JOURNAL_KEEP)
        log.info(
            "cycle",
            full=report.full,
            dry_run=dry_run,
            read=report.read,
            changed=report.changed,
            skipped=report.skipped_count,
            writes=dict(report.writes),
            failed_actions=report.failed_actions,
            transition_lookups=self.transitions.lookups,
            seconds=round(report.seconds, 3),
            complete=report.complete,
        )
        return report

    def _read_followers(
        self,
        followers: Sequence[str],
        org_cases: Mapping[str, tuple[MonthCase, ...]],
        now: datetime,
        report: CycleReport,
        *,
        dry_run: bool,
        gathered: Sequence[tuple[str | None, MonthCase]] = (),
    ) -> None:
        """Read and process the later cases of a month whose place moved
        (`_quota_followers`) and the later requests of a contract year whose uses moved
        (`_usage_followers`), as recorded.  One that is gone (deleted, or out of the
        scope) is forgotten (`_forget_missing`) and not counted for the others.

        ``org_cases`` were gathered for ``gathered`` (organisation, case: the cases
        read and those that left); a follower whose decisions depend on earlier cases
        than those (`_counted_since`: a refused workshop following a case of its month
        that is not one, when refused requests count in the quota) is judged with
        cases gathered again from its own start, so it is decided as a full cycle
        decides it."""
        (more, bad), gone = self._without_gone(
            followers,
            lambda there: (
                self._read(keys_jql(self.settings.jira.jql, there)) if there else ([], [])
            ),
        )
        report.skipped.extend(bad)
        self._retry_later(bad, now, dry_run=dry_run)
        forgotten: set[str] = set()
        if not dry_run:
            listed = {s.key for _, s in more} | {key for key, _ in bad}
            missing = gone | self._absent(set(followers) - listed - gone)
            with self.state.batch():
                forgotten = {c.key for _, c in self._forget_missing(missing)}
        ranked = self.ranking(s for _, s in more)
        org_cases = self._org_cases_for_followers(org_cases, gathered, ranked, dry_run=dry_run)
        if forgotten:
            org_cases = {
                name: tuple(c for c in cases if c.key not in forgotten)
                for name, cases in org_cases.items()
            }
        self._process(more, org_cases, now, report, dry_run=dry_run)

    def _org_cases_for_followers(
        self,
        org_cases: Mapping[str, tuple[MonthCase, ...]],
        gathered: Sequence[tuple[str | None, MonthCase]],
        followers: Sequence[tuple[str | None, MonthCase]],
        *,
        dry_run: bool,
    ) -> Mapping[str, tuple[MonthCase, ...]]:
        """The organisations' cases to judge the read ``followers`` (organisation, case)
        with: ``org_cases``, gathered for ``gathered``, when they begin early enough for
        every follower (`_starts`); else the cases gathered again for both (`_org_cases`),
        from the recorded cases when the record is complete."""
        had = {n.casefold(): since for n, since in self._starts(self._known(gathered)).items()}
        need = self._starts(self._known(followers))
        if any(n.casefold() not in had or since < had[n.casefold()] for n, since in need.items()):
            cached = not dry_run and self.state.cases_complete()
            return self._org_cases([*gathered, *followers], complete=False, cached=cached)
        return org_cases

    def _changed_jql(self, watermark: datetime, wake: Sequence[str]) -> str:
        """The cases changed since ``watermark`` (less the overlap) and ``wake``."""
        return scope_jql(
            self.settings.jira.jql,
            updated_since=watermark - self.settings.polling_overlap,
            keys=wake,
            tz=self.site.user_tz,
        )

    def _read_one_case(
        self, key: str, jql: str, now: datetime, report: CycleReport, *, dry_run: bool
    ) -> None:
        """One case (`plan --issue`, `explain`), ranked among its month's cases."""
        issues, bad = self._read_one(key, jql)
        report.skipped.extend(bad)
        self._retry_later(bad, now, dry_run=dry_run)
        org_cases = self._org_cases(self.ranking(s for _, s in issues), complete=False)
        self._process(issues, org_cases, now, report, dry_run=dry_run)

    def _process(
        self,
        issues: Iterable[tuple[dict[str, Any], IssueSnapshot]],
        org_cases: Mapping[str, tuple[MonthCase, ...]],
        now: datetime,
        report: CycleReport,
        *,
        dry_run: bool,
        total: int | None = None,
        owe: bool = False,
    ) -> None:
        """Evaluate and plan each case here, in order; apply the plans on the write pool.

        Each case's writes are one task, so they stay in order (comments → transition →
        edit); up to `workers` cases are written at once and at most as many plans again
        wait for a worker, so memory stays bounded.  On Cloud a case's one transition may
        wait, its comments done, to go out with other cases' in one bulk request
        (:mod:`bridge.sync.bulk`, up to 1,000 at a time); its edit follows.  On Data
        Center the ledger a plan needs is read ahead, on the cycle's readers, while the
        cases before it are planned (`_begin`, then `_prepare` in turn).  The local
        state is updated here as each case's writes finish.  ``owe``: a case whose
        quota place moved leaves the later cases of its month owed a re-read before
        its write goes (`_owe_quota_followers`)."""
        if total is None:
            total = len(issues) if isinstance(issues, list) else 0
        cycle = self.start_cycle(org_cases, now)
        done = 0
        workers = 1 if dry_run else self.workers
        waiting: dict[Future[ApplyResult | Deferred], _Prepared] = {}
        #: cases whose transition waits for a bulk request
        batch: list[tuple[_Prepared, Deferred]] = []
        executor = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jsm-bridge-write")
            if workers > 1
            else None
        )

        def submit(task: Callable[[], ApplyResult | Deferred]) -> Future[ApplyResult | Deferred]:
            if executor is not None:
                return executor.submit(task)
            future: Future[ApplyResult | Deferred] = Future()
            future.set_result(task())  # one case at a time: what stops the cycle stops it now
            return future

        def finished(outcome: IssueOutcome) -> None:
            nonlocal done
            done += 1
            if outcome.error:
                report.skipped.append((outcome.key, outcome.error))
            for kind, n in outcome.writes.items():
                report.writes[kind] += n
            report.failed_actions += outcome.failed
            if self.progress is not None:
                self.progress(done, total)

        def collect(futures: Iterable[Future[ApplyResult | Deferred]]) -> None:
            for future in futures:
                prepared = waiting.pop(future)
                out = future.result()
                if isinstance(out, Deferred):
                    batch.append((prepared, out))
                    if len(batch) >= BULK_MAX:
                        flush()
                    continue
                self._applied(prepared, out, now)
                finished(prepared.outcome)

        def flush() -> None:
            """The waiting transitions: in one bulk request, or each on its own."""
            todo = batch[:]
            batch.clear()
            alone = [d for _, d in todo]
            if len(todo) >= BULK_MIN and self.bulk_transitions:
                alone, self.bulk_transitions = send_together(self.port, alone)
                report.writes["bulk-transition"] += 1
            for prepared, deferred in todo:
                run = deferred if any(d is deferred for d in alone) else deferred.run
                waiting[submit(partial(finish_plan, run))] = prepared

        def drain() -> None:
            while waiting or batch:
                collect(list(waiting))
                flush()

        def taken() -> Iterator[_Begun]:
            """Each case begun in turn (on Data Center its ledger read then sent ahead).  A
            case a search listed twice (its pages shifted under it) is taken up once, as
            first listed: two plans from one ledger could both post a comment."""
            keys: set[str] = set()
            for raw, snapshot in issues:
                if snapshot.key in keys:
                    log.info("case listed twice: taken up once", key=snapshot.key)
                    continue
                keys.add(snapshot.key)
                yield self._begin(raw, snapshot, cycle, dry_run=dry_run)

        try:
            with closing(read_ahead(taken(), self._ledger_read, self._readers)) as begun_cases:
                for index, (begun, ledger) in enumerate(begun_cases):
                    if self.should_stop():  # the cases begun after it are let go unwritten
                        report.complete = False
                        log.info("stop requested: finishing the cases in flight", done=index)
                        break
                    prepared = self._prepare(begun, ledger, cycle, now, dry_run=dry_run)
                    report.outcomes.append(prepared.outcome)
                    if owe and prepared.outcome.quota_moved and not dry_run:
                        self._owe_quota_followers(prepared.snapshot)  # before its write
                    if prepared.plan is None or dry_run:
                        finished(prepared.outcome)
                        continue
                    plan = prepared.plan
                    if not (plan.actions or self.state.pending_intents(prepared.snapshot.key)):
                        self._applied(prepared, None, now)
                        finished(prepared.outcome)
                        continue
                    doubt = self._doubt(prepared.snapshot, plan)
                    waiting[submit(partial(self._write, plan, doubt, now))] = prepared
                    if len(waiting) >= 2 * workers:
                        ready, _ = wait(waiting, return_when=FIRST_COMPLETED)
                        collect(ready)
            drain()
        except Exception:
            # Jira failing stops the loop; the cases in flight still finish and are recorded.
            # Transitions waiting for a bulk request are not sent now: those cases' comments
            # stay open in the journal, and the next cycle confirms them on the issue.
            collect_only = list(waiting)
            for future in collect_only:
                prepared = waiting.pop(future)
                out = future.exception() or future.result()
                if isinstance(out, ApplyResult):
                    self._applied(prepared, out, now)
                    finished(prepared.outcome)
            raise
        finally:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)

    def _write(self, plan: IssuePlan, doubt: bool, now: datetime) -> ApplyResult | Deferred:
        """One case's writes (on a pool worker); a transition that can go in a bulk request
        is handed back (`Deferred`) with the comments done."""
        run = start_plan(
            self.port,
            plan,
            journal=self.state,
            now=now,
            transitions=self.transitions,
            ledger_in_edit=True,
            doubt=doubt,
            wall=self.wall,
            settle=self.write_settle,
            defer=self.bulk_transitions,
        )
        return run if isinstance(run, Deferred) else finish_plan(run)

    def _unknown_transitions(self, outcomes: list[IssueOutcome]) -> list[tuple[str, str]]:
        """Skipped transitions whose name no workflow is known to have: checked at
        start-up (Cloud, when the account may read workflows) or seen offered to some
        issue of the same project and type (Data Center lists no workflow transitions).
        A transition merely not offered from an issue's current status is the workflow
        at work, logged, not counted; one skipped because the issue already is where it
        leads is the wanted end."""
        known = {n.casefold() for n in self.site.transition_names or ()}
        out: list[tuple[str, str]] = []
        for outcome in outcomes:
            for name, why in outcome.skipped_transitions:
                if name.casefold() in known or self.transitions.target(outcome.place, name):
                    continue
                log.warning(
                    "transition skipped: no workflow offers it", key=outcome.key, transition=name
                )
                out.append(
                    (
                        outcome.key,
                        f"{why}, nor from any status seen: check the transition name in the rules",
                    )
                )
        return out

    def _doubt(self, snapshot: IssueSnapshot, plan: IssuePlan) -> bool:
        """Whether the ledger may lack a comment the issue has, so apply reads the issue's
        comments (their ``jsm-bridge`` property) before posting one.

        Only when a comment is to be posted and the issue carries comments by the bridge's
        account, and either the ledger had to drop entries, or the local state has no
        record of the issue (a new or lost state file: a crash between a comment and its
        ledger entry would have left no journal intent to say so)."""
        if not any(isinstance(a, AddComment) for a in plan.actions):
            return False
        if not any(c.author.actor == Actor.BRIDGE for c in snapshot.comments):
            return False
        return not plan.ledger.complete or self.state.cached_issue(snapshot.key) is None

    def _quota_followers(
        self,
        ranking: list[tuple[str | None, MonthCase]],
        outcomes: list[IssueOutcome],
        org_cases: Mapping[str, tuple[MonthCase, ...]],
        left: Sequence[tuple[str, MonthCase]] = (),
    ) -> list[str]:
        """Keys ranked after a re-read case whose quota position changed, in its month,
        and after a re-read case that left the organisation it was recorded under
        (``left``), in that organisation's month: each of those moves up a place.

        The quota field on the issue is the memory: a plan that rewrites it means the
        case's rank changed, and with it possibly the rank of every later case."""
        if "quota_usage" not in self.site.fieldmap:
            return []
        moved = {o.key for o in outcomes if o.quota_moved}
        read = {case.key for _, case in ranking}
        followers: set[str] = set()
        changed = [(name, own) for name, own in ranking if name and own.key in moved]
        # the month's cases by folded name: a case's organisation as Jira spells it, the
        # one it left as the rules spell it, and the month searched under either
        by_folded: dict[str, list[MonthCase]] = {}
        for org, cases in org_cases.items():
            by_folded.setdefault(org.casefold(), []).extend(cases)
        for name, own in [*changed, *left]:
            tz = self._calendar_tz(name)
            month = month_start(own.created, tz)
            for case in by_folded.get(name.casefold(), ()):
                if (
                    case.key not in read
                    and month_start(case.created, tz) == month
                    and (case.created, case.key_number) > (own.created, own.key_number)
                ):
                    followers.add(case.key)
        return sorted(followers, key=lambda k: (len(k), k))

    def _usage_followers(
        self,
        ranking: list[tuple[str | None, MonthCase]],
        moves: Sequence[_UsageMove],
        org_cases: Mapping[str, tuple[MonthCase, ...]],
    ) -> set[str]:
        """Keys of the later requests of the same contract year and customer needing an
        entitlement whose uses a read or forgotten case took or gave back (`_usage_moves`):
        each may be refused now, or no longer.  When refused requests are left out of
        the quota (``quota.not_counted_flags`` holds ``not_entitled``), the later cases
        of each such request's month too: the request may leave or join the month's
        count.  Jira lists none of them as updated; the cases gathered for the read
        cases reach back to the moved one's month (`_counted_since`), so every later
        case is among them."""
        if not moves:
            return set()
        read = {case.key for _, case in ranking}
        refusing = "not_entitled" in self.compiled.not_counted_flags
        by_folded: dict[str, list[MonthCase]] = {}
        for org, cases in org_cases.items():
            by_folded.setdefault(org.casefold(), []).extend(cases)
        followers: set[str] = set()
        for name, own, entitlements in moves:
            customer = self.ruleset.customer(name)
            if customer is None:
                continue
            tz = self._calendar_tz(name)
            year = contract_year(own.created, customer.contract_start, tz)
            later = {
                c.key: c
                for c in by_folded.get(name.casefold(), ())
                if (c.created, c.key_number) > (own.created, own.key_number)
            }.values()
            for case in later:
                if entitlements.isdisjoint(self._needs(case)) or (
                    contract_year(case.created, customer.contract_start, tz) != year
                ):
                    continue
                followers.add(case.key)
                if refusing:
                    month = month_start(case.created, tz)
                    followers.update(
                        c.key
                        for c in later
                        if month_start(c.created, tz) == month
                        and (c.created, c.key_number) > (case.created, case.key_number)
                    )
        return followers - read

    def _owe_quota_followers(self, snapshot: IssueSnapshot) -> None:
        """Record that the later cases of the month of ``snapshot``, whose quota place
        moved, are to be re-read (`_quota_followers`).  Once its plan is written the
        quota field no longer says the place moved: a cycle stopped before the followers
        are re-read leaves them to the next (`State.owed_followers`)."""
        name = self.customer_name(snapshot)
        customer = self.ruleset.customer(name) if name else None
        if customer is not None:
            self.state.owe_followers([(customer.organization, month_case(snapshot), None)])

    def _moves_quota(self, plan: IssuePlan) -> bool:
        """Whether ``plan`` rewrites the case's quota field (its rank in its month moved)."""
        if "quota_usage" not in self.site.fieldmap:
            return False
        quota_id = self.site.fieldmap.id("quota_usage")
        return any(isinstance(a, EditIssue) and quota_id in a.fields for a in plan.actions)

    def _begin(
        self,
        raw: Mapping[str, Any],
        snapshot: IssueSnapshot,
        cycle: Cycle,
        *,
        dry_run: bool,
    ) -> _Begun:
        """Evaluate and plan one case as the search gave it (nothing read, no writes); on
        Data Center, say whether the plan must be made again with the issue's ledger
        (`_ledger_read` says whether that is still to be read)."""
        began = time.perf_counter()
        try:
            desired = self.evaluate(snapshot, cycle)
            plan = self.plan(raw, snapshot, desired)
        except (CircuitOpen, WaitInterrupted):
            raise  # the cycle stops, not just this issue
        except Exception as exc:  # told in the case's turn (`_prepare`)
            return _Begun(raw, snapshot, began, error=exc)
        needed = self.site.flavour != "cloud" and self._ledger_needed(
            snapshot, desired, plan, dry_run=dry_run
        )
        return _Begun(raw, snapshot, began, desired, plan, ledger_needed=needed)

    def _ledger_read(self, begun: _Begun) -> Callable[[], Any] | None:
        """The ledger read a begun case waits for (made on a read worker), if any."""
        if not begun.ledger_needed or begun.snapshot.key in self.ledgers:
            return None
        return partial(self._ledger, begun.snapshot.key)

    def _prepare(
        self,
        begun: _Begun,
        ledger: Future[Any] | None,
        cycle: Cycle,
        now: datetime,
        *,
        dry_run: bool,
    ) -> _Prepared:
        """Finish planning a begun case with its ledger as read (``ledger``, Data Center),
        no writes.  A case that cannot be evaluated gets an outcome with its error and no
        plan (and is looked at again next cycle); Jira failing on a read stops the cycle."""
        snapshot = begun.snapshot
        outcome = IssueOutcome(
            key=snapshot.key,
            organization=snapshot.organization,
            tier=None,
            priority_before=snapshot.priority,
            priority_after=snapshot.priority,
            response_due=None,
            sla_state="none",
            actions=[],
        )
        try:
            if begun.error is not None:
                raise begun.error
            assert begun.desired is not None and begun.plan is not None
            desired, plan = begun.desired, begun.plan
            ledger_known = self.site.flavour == "cloud"  # it came with the search
            if begun.ledger_needed:
                if ledger is not None:
                    self._keep_ledger(snapshot.key, ledger)
                snapshot, desired, plan = self._datacenter_plan(begun.raw, snapshot, desired, cycle)
                ledger_known = True
            elif self.site.flavour == "cloud" and (
                told_may_be_compacted(plan) or announced_may_be_on_issue(plan)
            ):
                snapshot, desired, plan = self._cloud_plan(begun.raw, snapshot, cycle)
        except _JiraFailed as failed:
            raise failed.error from None
        except (CircuitOpen, WaitInterrupted):
            raise  # the cycle stops, not just this issue
        except Exception as exc:  # one bad issue never stops the cycle
            outcome.error = f"{type(exc).__name__}: {exc}"
            log.warning("issue skipped", key=snapshot.key, problem=outcome.error)
            if not dry_run:
                self.state.set_wakeup(snapshot.key, now)  # tried again next cycle
            return _Prepared(outcome, snapshot, None, None, False, begun.began)
        outcome.desired = desired
        outcome.plan = plan
        outcome.tier = desired.tier
        outcome.response_due = desired.response_due
        outcome.sla_state = desired.sla_state
        if desired.priority_jira:
            outcome.priority_after = desired.priority_jira
        outcome.actions = [_action_line(a) for a in plan.actions]
        outcome.brief = in_brief(plan)
        outcome.customer = desired.customer
        outcome.escalation_steps = escalation_steps(plan)
        outcome.quota_moved = self._moves_quota(plan)
        prepared = _Prepared(outcome, snapshot, desired, plan, ledger_known, begun.began)
        if dry_run:
            self._log_issue(prepared)
        else:
            for aid in plan.announced_found:  # seen on the issue: the journal need not look again
                self.state.journal_seen(snapshot.key, aid, at=now)
        return prepared

    def _keep_ledger(self, key: str, ledger: Future[Any]) -> None:
        """The ledger read ahead for ``key``, kept unless the issue's ledger is known by now."""
        try:
            value = ledger.result()
        except JiraError as exc:
            raise _JiraFailed(exc) from exc
        if key not in self.ledgers:
            self.ledgers[key] = value

    def _applied(self, prepared: _Prepared, result: ApplyResult | None, now: datetime) -> None:
        """The local state after one case's writes (or none were needed)."""
        outcome, snapshot, desired = prepared.outcome, prepared.snapshot, prepared.desired
        assert desired is not None
        if result is not None:
            outcome.writes = dict(result.writes)
            outcome.failed = len(result.failed)
            outcome.skipped_transitions = [
                (action.name, why)
                for action, why in result.skipped
                if isinstance(action, Transition) and action.action_id not in result.arrived
            ]
            if outcome.skipped_transitions and prepared.plan is not None:
                outcome.place = prepared.plan.place
            if self.site.flavour != "cloud" and prepared.ledger_known:
                if result.failed:  # what is stored is not sure: read it next time
                    self.ledgers.pop(snapshot.key, None)
                else:
                    self.ledgers[snapshot.key] = result.ledger.to_dict()
        # A failed write may have left the issue untouched (its `updated` did not move),
        # so the incremental query would never bring it back: wake it next cycle.
        wake = now if outcome.failed else desired.next_wakeup
        self.state.set_wakeup(snapshot.key, wake)
        self.state.remember_issue(
            snapshot.key,
            updated=snapshot.updated,
            sla_state=desired.sla_state,
            due=desired.response_due,
            seen_at=now,
        )
        self._log_issue(prepared)
        if not self.explain:
            # the outcome outlives the cycle's pages: the plan and the desired state (and
            # through its comment templates, the case as read) are let go once the case is
            # written, so that what a cycle keeps per case is a row, not the case
            outcome.desired = None
            outcome.plan = None

    def _log_issue(self, prepared: _Prepared) -> None:
        outcome, desired, plan = prepared.outcome, prepared.desired, prepared.plan
        assert desired is not None and plan is not None
        log.info(
            "issue",
            key=outcome.key,
            organization=outcome.organization,
            sla_state=desired.sla_state,
            priority=desired.priority,
            due=desired.response_due.isoformat() if desired.response_due else None,
            actions=len(plan.actions),
            writes=sum(outcome.writes.values()),
            failed=outcome.failed,
            ms=round((time.perf_counter() - prepared.began) * 1000, 2),
        )


@dataclass
class _Begun:
    """One case evaluated and planned as the search gave it (`Engine._begin`)."""

    raw: Mapping[str, Any]
    snapshot: IssueSnapshot
    began: float
    desired: Desired | None = None
    plan: IssuePlan | None = None
    #: Data Center: the plan is made again with the issue's ledger (`_datacenter_plan`)
    ledger_needed: bool = False
    error: Exception | None = None  # it could not be evaluated or planned


@dataclass
class _Prepared:
    """One case evaluated and planned, waiting for (or back from) its writes."""

    outcome: IssueOutcome
    snapshot: IssueSnapshot
    desired: Desired | None
    plan: IssuePlan | None  # None: the case could not be evaluated
    ledger_known: bool  # the plan's ledger is the issue's (Data Center reads it per case)
    began: float


def escalation_steps(plan: IssuePlan) -> frozenset[str]:
    """The escalation steps ``plan`` carries out, as its action ids name them
    (``…/esc/<step>.<action>``)."""
    return frozenset(
        aid.split("/esc/", 1)[1].split(".", 1)[0]
        for action in plan.actions
        if isinstance(action, AddComment | Transition)
        for aid in (action.action_ids if isinstance(action, AddComment) else (action.action_id,))
        if "/esc/" in aid
    )


def _action_line(action: Any) -> str:
    kind = getattr(action, "kind", type(action).__name__)
    if kind == "edit":
        return "edit: " + "; ".join(getattr(action, "summary", ()) or ("fields",))
    if kind == "comment":
        return "comment (internal)" if getattr(action, "internal", False) else "comment (public)"
    if kind == "transition":
        return f"transition: {getattr(action, 'name', '?')}"
    return str(kind)
