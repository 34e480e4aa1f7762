"""Tiers: authorised contacts, entitlements and the monthly case quota."""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from functools import lru_cache
from typing import NamedTuple

from bridge.policy.model import (
    Actor,
    Customer,
    IssueSnapshot,
    MonthCase,
    QuotaPosition,
    RuleSet,
    Tier,
    filled,
)
from bridge.policy.priority import folded as _folded


class ContactCheck(NamedTuple):
    authorised: bool
    why: str


def check_contact(snapshot: IssueSnapshot, customer: Customer) -> ContactCheck:
    """Whether the reporter may raise cases for the customer.

    An agent (or the bridge) raising a case on a customer's behalf is authorised:
    the contact list restricts who at the customer may open cases, not engineers.
    """
    reporter = snapshot.reporter
    if reporter is None:
        return ContactCheck(False, "the case has no reporter, so no authorised contact raised it")
    if reporter.actor in (Actor.ENGINEER, Actor.BRIDGE):
        return ContactCheck(
            True,
            f"{reporter.display_name} is an agent raising the case on the customer's behalf",
        )
    allowed = _folded(customer.contacts)
    ids = {x.strip().casefold() for x in (reporter.email, reporter.account_id) if x}
    shown = reporter.email or reporter.account_id
    if ids & allowed:
        return ContactCheck(True, f"{shown} is an authorised contact of {customer.organization}")
    listed = ", ".join(customer.contacts) or "nobody"
    return ContactCheck(
        False,
        f"{shown} is not an authorised contact of {customer.organization} (contacts: {listed})",
    )


def contact_authorised(snapshot: IssueSnapshot, contacts: frozenset[str]) -> bool:
    """``check_contact(...).authorised`` without its explanation; ``contacts`` as `folded`."""
    reporter = snapshot.reporter
    if reporter is None:
        return False
    actor = reporter.actor
    if actor is _ENGINEER or actor is _BRIDGE:
        return True
    email = reporter.email
    if email and email.strip().casefold() in contacts:
        return True
    account_id = reporter.account_id
    return bool(account_id) and account_id.strip().casefold() in contacts


def entitlement_problems(request_type: str | None, tier: Tier, ruleset: RuleSet) -> tuple[str, ...]:
    """The entitlements the request type needs that the tier does not include."""
    return tuple(
        e for e in needed_entitlements(request_type, ruleset) if e not in tier.entitlements
    )


def needed_entitlements(request_type: str | None, ruleset: RuleSet) -> tuple[str, ...]:
    if request_type is None:
        return ()
    wanted = request_type.strip().casefold()
    return tuple(
        e for e, types in ruleset.entitlement_request_types.items() if wanted in _folded(types)
    )


# ------------------------------------------------------------------------- quota


class QuotaRanking(NamedTuple):
    position: QuotaPosition | None  # None when the case itself does not count
    month: str
    why: str


def month_of(at: datetime, zone: tzinfo) -> str:
    local = at.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def _day_month(day: int, zone: tzinfo) -> str | None:
    """The zone's month throughout UTC day ``day`` (days since 1970), or None when the
    day holds a change of month or of UTC offset (its cases are then placed one by one).

    With one offset all day the zone's clock runs forward with UTC, so a month that is
    the same at the day's first and last microsecond is the same throughout."""
    first = datetime.fromtimestamp(day * 86400, UTC).astimezone(zone)
    last = (datetime.fromtimestamp((day + 1) * 86400, UTC) - _MICROSECOND).astimezone(zone)
    if first.utcoffset() != last.utcoffset():
        return None
    if (first.year, first.month) != (last.year, last.month):
        return None
    return f"{first.year:04d}-{first.month:02d}"


_MICROSECOND = timedelta(microseconds=1)


def find_org_cases(
    snapshot: IssueSnapshot, org_cases: Mapping[str, tuple[MonthCase, ...]], customer: Customer
) -> tuple[MonthCase, ...]:
    """The organisation's cases from the context (exact name, then case-insensitive)."""
    for name in (snapshot.organization, customer.organization):
        if name is not None and name in org_cases:
            return org_cases[name]
    folded = {n.casefold() for n in (snapshot.organization, customer.organization) if n}
    for name, listed in org_cases.items():
        if name.casefold() in folded:
            return listed
    return ()


SortKey = tuple[float, int, str]


def _sort_key(case: MonthCase) -> SortKey:
    # epoch seconds compare much faster than aware datetimes; microseconds are exact in a float
    return (case.created.timestamp(), case.key_number, case.key)


@dataclass(frozen=True)
class _Month:
    """One month of an organisation's cases, ranked."""

    counted: tuple[SortKey, ...]  # oldest first, ties by key number
    excluded: tuple[str, ...]  # keys whose resolution is not counted


_EMPTY_MONTH = _Month((), ())


@dataclass(frozen=True)
class _OrgIndex:
    cases: tuple[MonthCase, ...]  # the indexed tuple itself (kept alive: ids stay unique)
    #: by case key (plain dicts of shared values: no object per case to build or collect)
    listed: Mapping[str, MonthCase]  # the case as the context lists it
    month: Mapping[str, str]  # its month in the zone
    rank: Mapping[str, int]  # counted cases of its month sorted before it, plus one
    excluded: AbstractSet[str]  # cases their resolution keeps out of the count
    months: Mapping[str, _Month]


#: Ranking an organisation's month once per cycle instead of once per case: the sync
#: layer hands every case of an organisation the same tuple.  Keyed by the tuple's
#: identity (and the zone and the not-counted resolutions); small and bounded.
_INDEX: dict[tuple[int, tzinfo, frozenset[str]], _OrgIndex] = {}
_INDEX_SIZE = 64


def _org_index(cases: tuple[MonthCase, ...], zone: tzinfo, skip: frozenset[str]) -> _OrgIndex:
    cache_key = (id(cases), zone, skip)
    found = _INDEX.get(cache_key)
    if found is not None and found.cases is cases:
        return found
    # each case's sort key and month made once (this runs for every case of a cycle)
    grouped: defaultdict[str, list[SortKey]] = defaultdict(list)
    listed: dict[str, MonthCase] = {}  # each issue once: the first listing of a key
    month_of_key: dict[str, str] = {}
    excluded_keys: set[str] = set()
    not_counted: dict[str | None, bool] = {None: False}
    days: dict[int, str | None] = {}  # UTC day -> the zone's month all that day (None: two)
    for case in cases:
        key = case.key
        if key in listed:  # the same issue twice (a search's pages overlapping): once
            continue
        created = case.created
        stamp = created.timestamp()
        day = int(stamp // 86400)
        month = days.get(day, "")
        if month == "":
            month = days[day] = _day_month(day, zone)
        if month is None:  # a month begins in the zone during this UTC day
            month = month_of(created, zone)
        excluded = not_counted.get(case.resolution)
        if excluded is None:
            excluded = not_counted[case.resolution] = _excluded(case.resolution, skip)
        if excluded:
            excluded_keys.add(key)
        listed[key] = case
        month_of_key[key] = month
        # the sort key of _sort_key(), with MonthCase.key_number inlined
        tail = key[key.rfind("-") + 1 :]
        grouped[month].append((stamp, int(tail) if tail.isdigit() else 0, key))
    months: dict[str, _Month] = {}
    # each case's rank, found once here instead of once per evaluation: what the bisect
    # in rank_quota gives, the number of counted cases sorted before it, plus one
    rank: dict[str, int] = {}
    for month, owns in grouped.items():
        owns.sort()  # sort keys are unique: they end with the case key, listed once
        counted: list[SortKey] = []
        month_excluded: list[str] = []
        for own in owns:
            key = own[2]
            rank[key] = len(counted) + 1
            if key in excluded_keys:
                month_excluded.append(key)
            else:
                counted.append(own)
        months[month] = _Month(tuple(counted), tuple(month_excluded))
    index = _OrgIndex(cases, listed, month_of_key, rank, excluded_keys, months)
    if len(_INDEX) >= _INDEX_SIZE:
        _INDEX.pop(next(iter(_INDEX)))
    _INDEX[cache_key] = index
    return index


_new_tuple = tuple.__new__  # a NamedTuple without its Python-level __new__


#: The last organisation ranked: (cases, zone, not_counted, skipped, index), one tuple
#: so that it is read whole even with threads.
_LastIndex = tuple[
    tuple[MonthCase, ...] | None, tzinfo | None, frozenset[str] | None, frozenset[str], _OrgIndex
]
_LAST: _LastIndex = (None, None, None, frozenset(), _OrgIndex((), {}, {}, {}, frozenset(), {}))


#: The same for each index in use: (ids) -> what _LAST holds (which keeps the ids unique)
_RECENT: dict[tuple[int, int, int], _LastIndex] = {}


def _set_last(last: _LastIndex) -> None:
    global _LAST
    _LAST = last


@lru_cache(maxsize=64)
def _skipped(not_counted: frozenset[str]) -> frozenset[str]:
    return frozenset(r.strip().casefold() for r in not_counted)


def _excluded(resolution: str | None, skip: frozenset[str]) -> bool:
    return resolution is not None and resolution.strip().casefold() in skip


def _listing(keys: Sequence[str], total: int, limit: int) -> str:
    """The month's keys for explain, bounded: all of a small month, else the first ``limit``."""
    if total <= max(limit, 12):
        return ", ".join(keys)
    return ", ".join(keys[:limit]) + f", ... ({total - limit} more)"


def _month_case(snapshot: IssueSnapshot) -> MonthCase:
    return MonthCase(snapshot.key, snapshot.created, snapshot.resolution)


def _position(used: int, limit: int, month: str) -> QuotaPosition:
    """``QuotaPosition(used, limit, used > limit, month)``, made once per case and cycle."""
    return filled(
        QuotaPosition, {"used": used, "limit": limit, "over": used > limit, "month": month}
    )


def rank_quota(
    snapshot: IssueSnapshot,
    cases: tuple[MonthCase, ...],
    tier: Tier,
    not_counted: frozenset[str],
    zone: tzinfo,
    explain: bool = True,
) -> QuotaRanking:
    """The case's rank among its organisation's cases of its month (customer's zone).

    ``cases`` are the organisation's cases from the context; the case itself is
    taken as the snapshot describes it (added when the context lacks it).
    Costs O(log n) per case once the organisation's month is indexed.
    """
    # the previous case's organisation again (the sync layer evaluates an organisation's
    # cases together): the same tuple, zone and resolutions give the same index
    last = _LAST
    if last[0] is cases and last[1] is zone and last[2] is not_counted:
        skip, index = last[3], last[4]
    else:
        # organisations' cases interleave: the few indexes in use, by identity
        ids = (id(cases), id(zone), id(not_counted))
        recent = _RECENT.get(ids)
        if (
            recent is not None
            and recent[0] is cases
            and recent[1] is zone
            and recent[2] is not_counted
        ):
            skip, index = recent[3], recent[4]
        else:
            skip = _skipped(not_counted)
            index = _org_index(cases, zone, skip)
            if len(_RECENT) >= _INDEX_SIZE:
                _RECENT.pop(next(iter(_RECENT)))
            _RECENT[ids] = (cases, zone, not_counted, skip, index)
        _set_last((cases, zone, not_counted, skip, index))
    limit = tier.cases_per_month
    key = snapshot.key
    listed = index.listed.get(key)
    # the context has this case exactly as the snapshot says (MonthCase equality,
    # without building a MonthCase for the case: the usual answer is yes)
    present = (
        listed is not None
        and type(listed) is MonthCase
        and listed.created == snapshot.created
        and listed.resolution == snapshot.resolution
    )
    if present and not explain and key not in index.excluded:
        # the usual case, without NamedTuple's Python-level __new__
        month = index.month[key]
        return _new_tuple(QuotaRanking, (_position(index.rank[key], limit, month), month, ""))
    if present:  # same instant: the same month, sort key and rank
        assert listed is not None
        month, own, rank = index.month[key], _sort_key(listed), index.rank[key]
    else:
        month, own = month_of(snapshot.created, zone), _sort_key(_month_case(snapshot))
        rank = 0  # not indexed: found below
    current = index.months.get(month, _EMPTY_MONTH)
    counted: Sequence[SortKey] = current.counted
    excluded: Sequence[str] = current.excluded
    if listed is not None and not present:
        # the context knows an older version of this case: rank it without that entry
        counted = [k for k in counted if k[2] != snapshot.key]
        excluded = [k for k in excluded if k != snapshot.key]
    if _excluded(snapshot.resolution, skip):
        why = (
            f"{snapshot.key} is not counted in {month}: resolution {snapshot.resolution!r}; "
            f"{len(counted)} of {limit} used"
        )
        return QuotaRanking(None, month, why)
    used = rank or bisect_left(counted, own) + 1
    position = _position(used, limit, month)
    if not explain:
        return QuotaRanking(position, month, "")
    total = len(counted) + (0 if present else 1)
    shown = total if total <= max(limit, 12) else limit
    keys = [k[2] for k in counted[:shown]]
    if not present and used <= shown:
        keys.insert(used - 1, snapshot.key)
    keys = keys[:shown]
    state = "over quota" if position.over else "within quota"
    why = (
        f"case {used} of {limit} in {month} ({state}); oldest first: {_listing(keys, total, limit)}"
    )
    if excluded:
        why += f"; not counted: {_listing(excluded[:12], len(excluded), limit)}"
    return QuotaRanking(position, month, why)


# Enum members read through their class cost a class-attribute look-up each (about
# 0.1 µs in CPython 3.11); the hot paths compare with these module constants instead.
_ENGINEER = Actor.ENGINEER
_BRIDGE = Actor.BRIDGE
