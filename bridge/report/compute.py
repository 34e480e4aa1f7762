"""The month's numbers, aggregated from evaluated cases.  Pure: no I/O, no clock.

Input is what a cycle computes for each case (its snapshot and the policy's
`Desired` at ``now``); output is a `MonthReport` the renderers turn into a
table, CSV and HTML.

Decisions where the SPEC is silent:

* A case belongs to the month by its creation time in its customer's calendar
  zone (the zone the quota uses); an unknown organisation's case by the default
  calendar's zone.  A case created after ``now`` did not exist yet: left out.
* Cases resolved as not counted (e.g. Duplicate), and cases flagged so
  (``quota.not_counted_flags``: raised by someone who is not an authorised contact,
  a request the customer is not entitled to), are left out of the quota only; their
  response still counts for compliance, as the bridge wrote their SLA state.  Each
  is listed with why.
* ``running`` includes ``at_risk``; ``breached`` is a case still unanswered past
  its due time (final once the case is answered: it becomes ``missed``).
* Compliance = met / (met + missed + breached); no decided case → None ("n/a").
* A case is still open -- its figures may still change -- while it is neither
  answered nor resolved (a resolved case has its response: Done is one): running,
  at risk, paused, held for approval, breached and unanswered, or without a target.
  A month is final once it is over and none of its cases is still open.
* A case held for quota approval (in an approval status, or resolved straight
  from one, by a hold that began before its due time and first response:
  ``Desired.held``) is counted apart, as ``held``, and not in compliance: its clock
  stopped while the customer's approval was awaited.  A customer's own move there
  is no hold: the case is judged like any other.
* Time to first response is the business time from creation to the first
  response with paused time left out (the clock's own measure).  The median is
  the middle value (the mean of the two middle ones for an even count); p90 is
  the nearest-rank 90th percentile (the smallest value at or above 90 % of them).
* A case's priority is the level whose response target applies; without a
  target, the level the rules left (or its Jira priority's level), else "-".
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from bridge.policy.compiled import Policy
from bridge.policy.model import Desired, IssueSnapshot, RuleSet
from bridge.policy.tiers import not_counted

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
NO_PRIORITY = "-"
#: The months a report can be asked for: the calendars' arithmetic (a day either side
#: of the month, its zones) stays within what dates can hold.
FIRST_YEAR, LAST_YEAR = 1970, 9998


class MonthError(ValueError):
    """A month that is not ``YYYY-MM``."""


class CustomerError(ValueError):
    """A ``--customer`` that names no customer of customers.yaml."""


def pick_customers(ruleset: RuleSet, names: Iterable[str]) -> tuple[str, ...]:
    """The customers.yaml organisations ``names`` name (any case, spaces around ignored),
    in the rules' spelling and without repeats; raises `CustomerError` listing the known
    customers for a name that is none of them."""
    known = {c.organization.casefold(): c.organization for c in ruleset.customers.values()}
    picked: list[str] = []
    for name in names:
        found = known.get(name.strip().casefold())
        if found is None:
            listed = ", ".join(sorted(known.values(), key=str.casefold)) or "none"
            raise CustomerError(
                f"--customer {name!r} is not a customer in customers.yaml; the customers are: "
                f"{listed}"
            )
        if found not in picked:
            picked.append(found)
    return tuple(picked)


def parse_month(text: str) -> str:
    """``"2026-11"`` → ``"2026-11"``; anything else raises `MonthError` saying what to write."""
    value = (text or "").strip()
    m = _MONTH.match(value)
    if m is None or not 1 <= int(m.group(2)) <= 12 or int(m.group(1)) < 1:
        raise MonthError(f"--month {text!r} is not a calendar month; write YYYY-MM, e.g. 2026-11")
    if not FIRST_YEAR <= int(m.group(1)) <= LAST_YEAR:
        raise MonthError(
            f"--month {text!r} is out of range; give a month from {FIRST_YEAR}-01 to {LAST_YEAR}-12"
        )
    return value


def month_bounds(month: str) -> tuple[datetime, datetime]:
    """The month's first instant and the next month's first instant, as naive local times."""
    year, mon = (int(x) for x in parse_month(month).split("-"))
    start = datetime(year, mon, 1)
    end = datetime(year + 1, 1, 1) if mon == 12 else datetime(year, mon + 1, 1)
    return start, end


def month_of(at: datetime, zone: tzinfo) -> str:
    local = at.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


# ------------------------------------------------------------------------------ numbers


def median(values: Sequence[timedelta]) -> timedelta | None:
    """The middle of sorted ``values`` (mean of the two middle ones), None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def percentile(values: Sequence[timedelta], share: float) -> timedelta | None:
    """Nearest rank: the smallest value with at least ``share`` of the values at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


#: What a case still open is, in the order the report names them: (kind, words).
OPEN_KINDS: tuple[tuple[str, str], ...] = (
    ("running", "running"),
    ("breached", "breached and unanswered"),
    ("paused", "paused"),
    ("held", "held for approval"),
    ("no_target", "without a response target"),
)
_OPEN_KIND = {
    "running": "running",
    "at_risk": "running",
    "breached": "breached",
    "paused": "paused",
}


@dataclass
class Stats:
    """Counts for a set of cases (a customer, or a customer's priority)."""

    cases: int = 0  # created in the month
    counted: int = 0  # counted for the quota
    excluded: int = 0  # not counted: its resolution, or its flags (quota.not_counted_flags)
    over_quota: int = 0
    met: int = 0
    missed: int = 0
    breached: int = 0
    running: int = 0  # includes at_risk
    at_risk: int = 0
    paused: int = 0
    no_target: int = 0  # SLA state none
    held: int = 0  # held for quota approval: apart from compliance
    first_responses: list[timedelta] = field(default_factory=list)  # business time
    #: the cases still open (neither answered nor resolved: their figures may change),
    #: by what they are (`OPEN_KINDS`)
    still_open: dict[str, int] = field(default_factory=dict)

    def add(self, desired: Desired, *, resolved: bool = False) -> None:
        """Count ``desired``; ``resolved``: its case is in a Done-category status."""
        self.cases += 1
        state = desired.sla_state
        if state not in ("met", "missed") and not resolved:
            kind = "held" if desired.held else _OPEN_KIND.get(state, "no_target")
            self.still_open[kind] = self.still_open.get(kind, 0) + 1
        if desired.known_customer:
            if desired.quota is None:
                self.excluded += 1
            else:
                self.counted += 1
                self.over_quota += int(desired.quota.over)
        if desired.held:
            self.held += 1
            return
        if state == "met":
            self.met += 1
        elif state == "missed":
            self.missed += 1
        elif state == "breached":
            self.breached += 1
        elif state in ("running", "at_risk"):
            self.running += 1
            self.at_risk += int(state == "at_risk")
        elif state == "paused":
            self.paused += 1
        else:
            self.no_target += 1
        if (
            desired.first_response is not None
            and desired.business_used is not None
            and state in ("met", "missed")
        ):
            self.first_responses.append(desired.business_used)

    @property
    def decided(self) -> int:
        return self.met + self.missed + self.breached

    @property
    def open(self) -> int:
        """The cases still open: neither answered nor resolved, so their figures may change."""
        return sum(self.still_open.values())

    @property
    def compliance(self) -> float | None:
        """Share of decided cases answered in time (0..1), None when none is decided."""
        return self.met / self.decided if self.decided else None

    @property
    def median_response(self) -> timedelta | None:
        return median(self.first_responses)

    @property
    def p90_response(self) -> timedelta | None:
        return percentile(self.first_responses, 0.9)


@dataclass(frozen=True)
class CaseLine:
    """A breached or missed case, for the report's list (times in the customer's zone)."""

    key: str
    organization: str
    level: str
    sla_state: str
    created: datetime
    due: datetime | None
    first_response: datetime | None


#: Why a flag (``quota.not_counted_flags``) keeps a case out of the quota, in words.
FLAG_WORDS = {
    "unauthorised_contact": "raised by someone who is not an authorised contact",
    "not_entitled": "a request the customer is not entitled to",
}
#: a request the tier includes, refused by a usage limit (its allowance used up, or its
#: product not bought): the ``not_entitled`` flag, told apart for the customer
USAGE_LIMIT_WORDS = "a request beyond a usage limit of the customer's agreement"


@dataclass(frozen=True)
class NotCounted:
    """A case of the month left out of the quota, and why."""

    key: str
    level: str
    why: str


def not_counted_why(snapshot: IssueSnapshot, desired: Desired, policy: Policy) -> str:
    """Why the case does not use up the quota: its resolution, its flags, or both."""
    reasons = []
    resolution = snapshot.resolution
    if resolution is not None and not_counted(resolution, policy.not_counted):
        reasons.append(f"resolved as {resolution.strip()}")
    for flag in desired.quota_flags:
        if flag == "not_entitled" and not desired.entitlement_problems:
            reasons.append(USAGE_LIMIT_WORDS)  # the tier includes it: a usage limit refused it
        else:
            reasons.append(FLAG_WORDS.get(flag, flag.replace("_", " ")))
    return "; ".join(reasons) or "not counted"


@dataclass
class CustomerReport:
    organization: str
    tier: str  # display name
    calendar: str
    quota: int  # cases per month
    total: Stats = field(default_factory=Stats)
    by_priority: dict[str, Stats] = field(default_factory=dict)  # level -> stats
    keys: list[str] = field(default_factory=list)  # the month's cases, oldest first
    over_quota_keys: list[str] = field(default_factory=list)
    not_counted: list[NotCounted] = field(default_factory=list)  # excluded from the quota
    late: list[CaseLine] = field(default_factory=list)  # breached or missed, oldest first

    @property
    def excluded_keys(self) -> list[str]:
        """The month's cases left out of the quota, oldest first."""
        return [case.key for case in self.not_counted]

    @property
    def over_by(self) -> int:
        return max(0, self.total.counted - self.quota)


@dataclass
class UnknownOrganization:
    organization: str | None  # None: the cases name no organisation
    keys: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.organization or "(no organisation)"


@dataclass
class MonthReport:
    month: str
    now: datetime
    customers: list[CustomerReport]
    unknown: list[UnknownOrganization]
    total: Stats  # every known customer's cases
    by_priority: dict[str, Stats]  # every known customer's cases, per level
    priorities: tuple[str, ...]  # levels in order (highest first), then "-" if used
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (key, why)
    #: with ``selected``: cases that could not be read, whose customer is not known (their
    #: keys and problems are left out of a report meant for the selected customers)
    unread_elsewhere: int = 0
    #: the month has ended in every calendar's zone (a month not over is never final)
    month_over: bool = True
    #: the month has begun in some calendar's zone
    month_started: bool = True
    #: the customers the report was limited to (``--customer``); empty: every customer
    selected: tuple[str, ...] = ()
    #: what keeps a case out of the quota (the rules' quota section)
    not_counted_resolutions: tuple[str, ...] = ()
    not_counted_flags: tuple[str, ...] = ()
    #: the rules have usage limits: ``not_entitled`` covers a request past one too
    usage_limited: bool = False

    @property
    def final(self) -> bool:
        """The month is over and none of its cases is still open (each is answered or
        resolved): the numbers will not change."""
        return self.month_over and self.total.open == 0


# ------------------------------------------------------------------------------ compute


def _level(snapshot: IssueSnapshot, desired: Desired, ruleset: RuleSet) -> str:
    return (
        desired.sla_priority
        or desired.priority
        or ruleset.priorities.level_of(snapshot.priority)
        or NO_PRIORITY
    )


def in_month(
    snapshot: IssueSnapshot, month: str, policy: Policy, customer: str | None = None
) -> bool:
    """Whether the case was created in ``month`` in its customer's calendar zone
    (``customer``: the organisation the case counts under, when the bridge found it)."""
    zone = policy.calendar_of(customer or snapshot.organization).tz
    return month_of(snapshot.created, zone) == month


def compute(
    cases: Iterable[tuple[IssueSnapshot, Desired]],
    policy: Policy,
    month: str,
    now: datetime,
    *,
    skipped: Sequence[tuple[str, str]] = (),
    only: Sequence[str] = (),
    skipped_owners: Mapping[str, str] | None = None,
) -> MonthReport:
    """The month's report from evaluated cases (any superset of the month: filtered here).

    ``only``: customers.yaml organisations (`pick_customers`) to keep; the other
    customers' cases and the unknown organisations' are left out, so the report can be
    sent to those customers.  Empty: every customer.  ``skipped_owners``: the customer
    each skipped case was found to count under, when known: with ``only``, a skipped
    case of another customer is left out, and one of an unknown customer is counted
    without its key or problem (`MonthReport.unread_elsewhere`)."""
    month = parse_month(month)
    ruleset = policy.rules
    customers: dict[str, CustomerReport] = {}
    entries = [c for c in ruleset.customers.values() if not only or c.organization in only]
    for entry in sorted(entries, key=lambda c: c.organization.casefold()):
        tier = ruleset.tiers.get(entry.tier)
        customers[entry.organization] = CustomerReport(
            organization=entry.organization,
            tier=tier.name if tier is not None else entry.tier,
            calendar=entry.calendar,
            quota=tier.cases_per_month if tier is not None else 0,
        )
    unknown: dict[str | None, UnknownOrganization] = {}
    total = Stats()
    by_priority: dict[str, Stats] = defaultdict(Stats)

    ordered = sorted(cases, key=lambda c: (c[0].created, c[0].key_number, c[0].key))
    for snapshot, desired in ordered:
        if snapshot.created > now or not in_month(snapshot, month, policy, desired.customer):
            continue
        # the customer the bridge decided (a case naming no organisation may be
        # its reporter's customer), not only the organisation field as read
        facts = policy.customer(desired.customer or snapshot.organization)
        if only and (facts is None or facts.customer.organization not in customers):
            continue  # another customer's, or an unknown organisation's
        if facts is None or not desired.known_customer:
            org = snapshot.organization
            folded = org.casefold() if org else None
            unknown.setdefault(folded, UnknownOrganization(org)).keys.append(snapshot.key)
            continue
        customer = facts.customer
        report = customers[customer.organization]
        level = _level(snapshot, desired, ruleset)
        resolved = snapshot.status_category == "done"
        report.total.add(desired, resolved=resolved)
        report.by_priority.setdefault(level, Stats()).add(desired, resolved=resolved)
        total.add(desired, resolved=resolved)
        by_priority[level].add(desired, resolved=resolved)
        report.keys.append(snapshot.key)
        if desired.quota is None:
            report.not_counted.append(
                NotCounted(snapshot.key, level, not_counted_why(snapshot, desired, policy))
            )
        elif desired.quota.over:
            report.over_quota_keys.append(snapshot.key)
        if desired.sla_state in ("breached", "missed") and not desired.held:
            zone = facts.calendar.tz
            report.late.append(
                CaseLine(
                    key=snapshot.key,
                    organization=customer.organization,
                    level=level,
                    sla_state=desired.sla_state,
                    created=snapshot.created.astimezone(zone),
                    due=desired.response_due.astimezone(zone) if desired.response_due else None,
                    first_response=(
                        desired.first_response.astimezone(zone) if desired.first_response else None
                    ),
                )
            )

    levels = tuple(ruleset.priorities.levels)
    used = set(by_priority)
    order = tuple(lv for lv in levels if lv in used) + tuple(
        sorted(lv for lv in used if lv not in levels)
    )
    for report in customers.values():
        report.by_priority = {
            lv: report.by_priority[lv] for lv in order if lv in report.by_priority
        }
    start, end = month_bounds(month)
    calendars = (
        [policy.calendar_of(name) for name in customers] if only else ruleset.calendars.values()
    )
    zones: list[tzinfo] = [calendar.tz for calendar in calendars] or [UTC]
    month_over = all(now >= end.replace(tzinfo=zone) for zone in zones)
    month_started = any(now >= start.replace(tzinfo=zone) for zone in zones)
    kept_skipped, unread_elsewhere = list(skipped), 0
    if only:
        owners = skipped_owners or {}
        kept_skipped = [(k, why) for k, why in skipped if owners.get(k) in only]
        unread_elsewhere = sum(1 for k, _ in skipped if owners.get(k) is None)
    return MonthReport(
        month=month,
        month_over=month_over,
        month_started=month_started,
        now=now,
        customers=list(customers.values()),
        unknown=sorted(unknown.values(), key=lambda u: (u.organization is None, u.name.casefold())),
        total=total,
        by_priority={lv: by_priority[lv] for lv in order},
        priorities=order,
        skipped=kept_skipped,
        unread_elsewhere=unread_elsewhere,
        selected=tuple(customers) if only else (),
        not_counted_resolutions=tuple(
            sorted(ruleset.quota.not_counted_resolutions, key=str.casefold)
        ),
        not_counted_flags=tuple(f for f in FLAG_WORDS if f in ruleset.quota.not_counted_flags),
        usage_limited=bool(ruleset.usage_limits),
    )
