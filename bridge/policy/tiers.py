"""Tiers: authorised contacts, entitlements and the monthly case quota."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo

from bridge.policy.model import (
    Actor,
    Customer,
    IssueSnapshot,
    MonthCase,
    QuotaPosition,
    RuleSet,
    Tier,
)


@dataclass(frozen=True)
class ContactCheck:
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
    allowed = {c.strip().casefold() for c in customer.contacts}
    ids = {x.strip().casefold() for x in (reporter.email, reporter.account_id) if x}
    shown = reporter.email or reporter.account_id
    if ids & allowed:
        return ContactCheck(True, f"{shown} is an authorised contact of {customer.organization}")
    listed = ", ".join(customer.contacts) or "nobody"
    return ContactCheck(
        False,
        f"{shown} is not an authorised contact of {customer.organization} (contacts: {listed})",
    )


def entitlement_problems(request_type: str | None, tier: Tier, ruleset: RuleSet) -> tuple[str, ...]:
    """The entitlements the request type needs that the tier does not include."""
    if request_type is None:
        return ()
    wanted = request_type.strip().casefold()
    missing = []
    for entitlement, types in ruleset.entitlement_request_types.items():
        if wanted in {t.strip().casefold() for t in types} and (
            entitlement not in tier.entitlements
        ):
            missing.append(entitlement)
    return tuple(missing)


def needed_entitlements(request_type: str | None, ruleset: RuleSet) -> tuple[str, ...]:
    if request_type is None:
        return ()
    wanted = request_type.strip().casefold()
    return tuple(
        e
        for e, types in ruleset.entitlement_request_types.items()
        if wanted in {t.strip().casefold() for t in types}
    )


# ------------------------------------------------------------------------- quota


@dataclass(frozen=True)
class QuotaRanking:
    position: QuotaPosition | None  # None when the case itself does not count
    month: str
    ranking: tuple[str, ...]  # the month's counted keys, oldest first
    excluded: tuple[str, ...]  # the month's keys not counted (their resolution)
    why: str


def month_of(at: datetime, zone: tzinfo) -> str:
    local = at.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


def org_cases(
    snapshot: IssueSnapshot, org_cases: Mapping[str, tuple[MonthCase, ...]], customer: Customer
) -> list[MonthCase]:
    """The organisation's cases, with this case in them as the snapshot describes it."""
    found: tuple[MonthCase, ...] | None = None
    for name in (snapshot.organization, customer.organization):
        if name is not None and name in org_cases:
            found = org_cases[name]
            break
    if found is None:
        folded = {n.casefold() for n in (snapshot.organization, customer.organization) if n}
        for name, listed in org_cases.items():
            if name.casefold() in folded:
                found = listed
                break
    result = [c for c in (found or ()) if c.key != snapshot.key]
    result.append(MonthCase(snapshot.key, snapshot.created, snapshot.resolution))
    return result


def rank_quota(
    snapshot: IssueSnapshot,
    cases: list[MonthCase],
    tier: Tier,
    not_counted: frozenset[str],
    zone: tzinfo,
) -> QuotaRanking:
    """The case's rank among its organisation's cases of its month (customer's zone)."""
    month = month_of(snapshot.created, zone)
    skip = {r.strip().casefold() for r in not_counted}
    same_month = sorted(
        (c for c in cases if month_of(c.created, zone) == month),
        key=lambda c: (c.created, c.key_number, c.key),
    )
    counted = [c for c in same_month if (c.resolution or "").strip().casefold() not in skip]
    excluded = tuple(c.key for c in same_month if c not in counted)
    ranking = tuple(c.key for c in counted)
    limit = tier.cases_per_month
    if snapshot.key not in ranking:
        why = (
            f"{snapshot.key} is not counted in {month}: its resolution "
            f"{snapshot.resolution!r} is not counted; {len(ranking)} of {limit} used"
        )
        return QuotaRanking(None, month, ranking, excluded, why)
    used = ranking.index(snapshot.key) + 1
    over = used > limit
    listed = ", ".join(ranking)
    why = f"case {used} of {limit} in {month} ({'over quota' if over else 'within quota'}); oldest first: {listed}"
    if excluded:
        why += f"; not counted: {', '.join(excluded)}"
    return QuotaRanking(QuotaPosition(used, limit, over, month), month, ranking, excluded, why)
