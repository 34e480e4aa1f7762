"""Tiers: authorised contacts, entitlements and the monthly case quota.

Each decision is a small function returning a record of what it decided and
the facts it decided on; ``bridge.policy.explain`` renders the records.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, date, datetime, timedelta, tzinfo
from types import MappingProxyType
from typing import Literal, NamedTuple

from bridge.policy.model import (
    ChannelReminder,
    Customer,
    IssueSnapshot,
    MonthCase,
    Person,
    QuotaPosition,
    Raised,
    Tier,
    UsageLimit,
)

# --------------------------------------------------------------------------- contact

ContactBasis = Literal["no_reporter", "agent", "listed", "not_listed"]


class ContactDecision(NamedTuple):
    """Whether the reporter may raise cases for the customer, and on what basis."""

    authorised: bool
    basis: ContactBasis


def contact_of(raised: Raised, contacts: frozenset[str]) -> ContactDecision:
    """Whether whoever raised the case may raise cases for the customer: the one rule
    a case's own evaluation and its month's quota index both apply.

    An agent (or the bridge) raising a case on a customer's behalf is authorised:
    the contact list restricts who at the customer may open cases, not engineers.
    Any other reporter is authorised when its e-mail or its account id is listed.
    """
    if raised.reporter is None:
        return NO_REPORTER
    if raised.agent:
        return AGENT
    return NOT_LISTED if contacts.isdisjoint(raised.reporter) else LISTED


def raised_by(
    reporter: Person | None, request_type: str | None, product: str | None = None
) -> Raised:
    """What a month case records of who raised it and what it asks for."""
    if reporter is None:
        return Raised(None, False, request_type, product)
    return Raised(reporter.ids, reporter.agent, request_type, product)


def raised_of(snapshot: IssueSnapshot) -> Raised:
    return raised_by(snapshot.reporter, snapshot.request_type, snapshot.fields.get("product"))


def month_case(snapshot: IssueSnapshot) -> MonthCase:
    """The case as its organisation's month lists it for quota ranking."""
    return MonthCase(snapshot.key, snapshot.created, snapshot.resolution, raised_of(snapshot))


NO_REPORTER = ContactDecision(False, "no_reporter")
AGENT = ContactDecision(True, "agent")
LISTED = ContactDecision(True, "listed")
NOT_LISTED = ContactDecision(False, "not_listed")


# ----------------------------------------------------------------------- entitlement


class EntitlementDecision(NamedTuple):
    """The entitlements the request type needs, and those the tier lacks."""

    needed: tuple[str, ...]
    lacking: tuple[str, ...]
    #: why a usage limit refuses the request (its product not bought, or this contract
    #: year's use had), "" when none does
    refused: str = ""
    #: an entitlement it needs has a usage limit (the organisation's ranking decides)
    limited: bool = False

    @property
    def not_entitled(self) -> bool:
        """The tier lacks something the request needs, or a usage limit refuses it: the
        case's `not_entitled` flag."""
        return bool(self.lacking or self.refused)


def entitlement_table(
    needs: Mapping[str, tuple[str, ...]],
    tiers: Mapping[str, Tier],
    limits: AbstractSet[str],
) -> Mapping[tuple[str, str], EntitlementDecision]:
    """(folded request type, tier key) -> the decision, for every request type that needs
    something (``needs``: folded request type -> its entitlements, in the rules' order;
    ``limits``: the entitlements with a usage limit)."""
    return {
        (request_type, key): EntitlementDecision(
            needed,
            tuple(e for e in needed if e not in tier.entitlements),
            limited=not limits.isdisjoint(needed),
        )
        for request_type, needed in needs.items()
        for key, tier in tiers.items()
    }


NOTHING_NEEDED = EntitlementDecision((), ())


def decide_entitlement(
    request_type: str | None,
    table: Mapping[tuple[str, str], EntitlementDecision],
    tier_key: str,
) -> EntitlementDecision:
    """What the request type needs and the tier lacks (``table``: ``entitlement_table``)."""
    if request_type is None:
        return NOTHING_NEEDED
    return table.get((request_type.strip().casefold(), tier_key), NOTHING_NEEDED)


# ------------------------------------------------------------------- usage limits


def contract_year(at: datetime, start: date | None, zone: tzinfo) -> date:
    """The first day of the contract year ``at`` falls in (customer's zone); contract
    years start on ``start``'s day each year (1 January without one; 28 February in
    the years without the 29th)."""
    local = at.astimezone(zone).date()
    month, day = (start.month, start.day) if start is not None else (1, 1)

    def begins(year: int) -> date:
        return date(year, month, min(day, 28) if month == 2 and day == 29 else day)

    return begins(local.year) if begins(local.year) <= local else begins(local.year - 1)


def usage_refusals(
    cases: Sequence[MonthCase],
    limits: Mapping[str, UsageLimit],
    needs: Mapping[str, tuple[str, ...]],
    customer: Customer,
    zone: tzinfo,
    skip: AbstractSet[str],
) -> dict[str, str]:
    """Case key -> why a usage limit refuses it: its product is not one the customer
    bought, or the entitlement's uses this contract year (per product) went to older
    cases (oldest first, ties by key number; cases resolved as not counted use nothing)."""
    bought = {p.strip().casefold(): p for p in customer.products}
    used: defaultdict[tuple[str, date, str], list[str]] = defaultdict(list)
    refused: dict[str, str] = {}
    for case, needed in sorted(_limited(cases, limits, needs, skip), key=lambda c: _sort_key(c[0])):
        raised = case.raised
        assert raised is not None  # _limited keeps only cases raised for a limited entitlement
        for entitlement in needed:
            limit = limits.get(entitlement)
            if limit is None:
                continue
            product = (raised.product or "").strip()
            if limit.per_product and product.casefold() not in bought:
                refused[case.key] = _not_bought(entitlement, product, customer)
                break
            year = contract_year(case.created, customer.contract_start, zone)
            group = used[entitlement, year, product.casefold() if limit.per_product else ""]
            if len(group) >= limit.times:
                what = f"{entitlement.replace('_', ' ')}" + (
                    f" for {product}" if limit.per_product else ""
                )
                refused[case.key] = (
                    f"the {what} is included {_times(limit.times)} per contract year (from "
                    f"{year.isoformat()}), used by {', '.join(group)}. Your account manager "
                    "can arrange another"
                )
                break
            group.append(case.key)
    return refused


def _not_bought(entitlement: str, product: str, customer: Customer) -> str:
    """Why a request for a product the customer did not buy (or for none) is refused, as
    the customer reads it (``{why}``: sentences, the last without its full stop)."""
    shown = ", ".join(customer.products) or "none on file"
    what = entitlement.replace("_", " ")
    if not product:
        return (
            f"the case names no product, and the {what} is for the products "
            f"{customer.organization} bought ({shown}). Please name one of them"
        )
    return (
        f"{product} is not a product {customer.organization} bought ({shown}). Your "
        f"account manager can arrange one"
    )


def _times(times: int) -> str:
    """ "once", "twice", "3 times"."""
    return {1: "once", 2: "twice"}.get(times, f"{times} times")


def _limited(
    cases: Sequence[MonthCase],
    limits: Mapping[str, UsageLimit],
    needs: Mapping[str, tuple[str, ...]],
    skip: AbstractSet[str],
) -> Iterator[tuple[MonthCase, tuple[str, ...]]]:
    """The counted cases whose request type needs an entitlement with a usage limit, and
    what it needs (only they are ranked: most cases use no limited entitlement)."""
    for case in cases:
        raised = case.raised
        if raised is None or raised.request_type is None:
            continue
        needed = needs.get(raised.request_type.strip().casefold())
        if not needed or not any(entitlement in limits for entitlement in needed):
            continue
        if not not_counted(case.resolution, skip):
            yield case, needed


# ----------------------------------------------------------------------- channel


class ChannelDecision(NamedTuple):
    """Whether the case gets the reminder to use the support portal.

    The label marks a case of a portal tier raised by a channel the rules name, for as
    long as it is open (how a case was raised does not change); the comment, a thank-you
    for a request just received, goes only to such a case nobody has answered yet: an
    old case an engineer already took up (the bridge's first cycle on a site) is not
    thanked for "your request" weeks later."""

    applies: bool  # the customer's tier is one the reminder is for
    channel: str | None  # the channel the rules remind about that the case came by
    remind: bool  # the reminder's comment is for the case (raised so, not answered yet)
    answered: bool = False  # raised so, and already answered: the label, no comment


NO_REMINDER = ChannelDecision(False, None, False)


def decide_channel(
    snapshot: IssueSnapshot, reminder: ChannelReminder | None, tier_key: str, answered: bool
) -> ChannelDecision:
    """A case of a portal tier raised by e-mail or API (as the rules name them) is
    labelled; it is reminded unless it has a first response (``answered``)."""
    if reminder is None or tier_key not in reminder.tiers:
        return NO_REMINDER
    channel = snapshot.channel if snapshot.channel in reminder.channels else None
    raised = channel is not None
    return ChannelDecision(True, channel, raised and not answered, raised and answered)


# ------------------------------------------------------------------------- quota


def flags_of(
    contact: ContactDecision, entitlement: EntitlementDecision, counted_out: AbstractSet[str]
) -> tuple[str, ...]:
    """The case's flags among ``counted_out`` (``quota.not_counted_flags``), in order."""
    unauthorised = not contact.authorised and "unauthorised_contact" in counted_out
    refused = entitlement.not_entitled and "not_entitled" in counted_out
    if unauthorised and refused:
        return ("unauthorised_contact", "not_entitled")
    if unauthorised:
        return ("unauthorised_contact",)
    return ("not_entitled",) if refused else ()


def raised_flags(
    raised: Raised | None,
    contacts: frozenset[str],
    table: Mapping[tuple[str, str], EntitlementDecision],
    tier_key: str,
    counted_out: AbstractSet[str],
) -> tuple[str, ...]:
    """Another case's not-counted flags, decided as its own evaluation decides them
    (none when what it was raised with is not known: it counts)."""
    if raised is None or not counted_out:
        return ()
    entitlement = decide_entitlement(raised.request_type, table, tier_key)
    return flags_of(contact_of(raised, contacts), entitlement, counted_out)


Flagged = Callable[[MonthCase], tuple[str, ...]]


def _no_flags(case: MonthCase) -> tuple[str, ...]:
    return ()


def month_of(at: datetime, zone: tzinfo) -> str:
    local = at.astimezone(zone)
    return f"{local.year:04d}-{local.month:02d}"


SortKey = tuple[float, int, str]


def _key_number(key: str) -> int:
    tail = key[key.rfind("-") + 1 :]
    return int(tail) if tail.isdigit() else 0


def _sort_key(case: MonthCase) -> SortKey:
    # epoch seconds compare much faster than aware datetimes; microseconds are exact in a float
    return (case.created.timestamp(), _key_number(case.key), case.key)


class Month(NamedTuple):
    """One month of an organisation's cases, ranked."""

    counted: tuple[SortKey, ...]  # oldest first, ties by key number
    excluded: tuple[str, ...]  # keys whose resolution or flags keep them out of the count


_EMPTY_MONTH = Month((), ())


class OrgIndex(NamedTuple):
    """An organisation's cases ranked once per cycle, by case key."""

    listed: Mapping[str, MonthCase]  # the case as the context lists it
    month: Mapping[str, str]  # its month in the zone
    rank: Mapping[str, int]  # counted cases of its month sorted before it, plus one
    excluded: AbstractSet[str]  # cases their resolution or flags keep out of the count
    months: Mapping[str, Month]
    #: the listed cases a usage limit refuses (key -> why), ranked once per cycle
    refused: Mapping[str, str] = MappingProxyType({})
    #: each case's place in its month as listed (``placed``): ``decide_quota``'s answer
    #: for a case its snapshot describes as the context lists it
    placed: Mapping[str, QuotaDecision] = MappingProxyType({})


def first_listings(cases: Sequence[MonthCase]) -> dict[str, MonthCase]:
    """Each case once, by key: its first listing (a search's pages may overlap)."""
    listed: dict[str, MonthCase] = {}
    for case in cases:
        listed.setdefault(case.key, case)
    return listed


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


def not_counted(resolution: str | None, skip: AbstractSet[str]) -> bool:
    """``skip``: the not-counted resolutions, stripped and case-folded."""
    return resolution is not None and resolution.strip().casefold() in skip


def _org_index(
    listed: Mapping[str, MonthCase],
    zone: tzinfo,
    skip: AbstractSet[str],
    flagged: Flagged = _no_flags,
) -> OrgIndex:
    """Every case of an organisation (each once, by key: :func:`first_listings`) placed
    in its month (in ``zone``) and ranked (``flagged``: a case's flags that keep it out
    of the count)."""
    month_of_key: dict[str, str] = {}
    grouped: defaultdict[str, list[SortKey]] = defaultdict(list)
    days: dict[int, str | None] = {}  # UTC day -> the zone's month all that day (None: two)
    for key, case in listed.items():
        own = _sort_key(case)
        day = int(own[0] // 86400)
        if day not in days:  # one zone question per UTC day, not per case
            days[day] = _day_month(day, zone)
        month = days[day] or month_of(case.created, zone)
        month_of_key[key] = month
        grouped[month].append(own)
    excluded = frozenset(
        k for k, case in listed.items() if not_counted(case.resolution, skip) or flagged(case)
    )
    months: dict[str, Month] = {}
    rank: dict[str, int] = {}
    for month, owns in grouped.items():
        owns.sort()  # sort keys are unique: they end with the case key, listed once
        counted: list[SortKey] = []
        for own in owns:
            rank[own[2]] = len(counted) + 1
            if own[2] not in excluded:
                counted.append(own)
        months[month] = Month(tuple(counted), tuple(k[2] for k in owns if k[2] in excluded))
    return OrgIndex(listed, month_of_key, rank, excluded, months)


class QuotaDecision(NamedTuple):
    """The case's place in its organisation's month, and the month it was ranked in."""

    position: QuotaPosition | None  # None when the case itself does not count
    month: str
    limit: int
    counted: Sequence[SortKey]  # the month's counted cases (without an outdated listing)
    excluded: Sequence[str]  # the month's cases not counted (their resolution or flags)
    listed: bool  # the context lists the case as the snapshot describes it
    #: the case's own flags that keep it out of the count (``quota.not_counted_flags``)
    flags: tuple[str, ...] = ()


def decide_quota(
    case: MonthCase,
    index: OrgIndex,
    tier: Tier,
    skip: AbstractSet[str],
    zone: tzinfo,
    flags: tuple[str, ...] = (),
) -> QuotaDecision:
    """The case's rank among its organisation's cases of its month (customer's zone).

    The case itself is taken as its snapshot describes it (``case``: :func:`month_case`;
    added when the context lacks it, re-ranked when the context knows an older version
    of it); ``flags``, its own not-counted flags, keep it out of the count like its
    resolution would.
    """
    key, limit = case.key, tier.cases_per_month
    listed = index.listed.get(key)
    present = (
        listed is not None
        and listed.created == case.created
        and listed.resolution == case.resolution
        and (listed.raised is None or listed.raised == case.raised)
    )
    if present:
        found = index.placed.get(key)
        if found is not None and found.limit == limit and found.flags == flags:
            return found  # as listed: placed with the ranking
    month = index.month[key] if present else month_of(case.created, zone)
    current = index.months.get(month, _EMPTY_MONTH)
    counted: Sequence[SortKey] = current.counted
    excluded: Sequence[str] = current.excluded
    if listed is not None and not present:
        # the context knows an older version of this case: rank it without that entry
        counted = [k for k in counted if k[2] != key]
        excluded = [k for k in excluded if k != key]
    if not_counted(case.resolution, skip) or flags:
        return QuotaDecision(None, month, limit, counted, excluded, present, flags)
    if present and key not in index.excluded:
        used = index.rank[key]
    else:
        used = bisect_left(counted, _sort_key(case)) + 1
    position = QuotaPosition(used, limit, used > limit, month)
    return QuotaDecision(position, month, limit, counted, excluded, present)


def placed(index: OrgIndex, limit: int, flagged: Flagged = _no_flags) -> dict[str, QuotaDecision]:
    """Each case of ``index`` placed in its month (``limit``: the tier's cases per month;
    ``flagged``: the flags the index was ranked with), as ``decide_quota`` places a case
    its snapshot describes as listed: made once with the ranking, which later cycles
    listing the same cases reuse."""
    decisions: dict[str, QuotaDecision] = {}
    for key, month in index.month.items():
        current = index.months[month]
        if key in index.excluded:
            flags = flagged(index.listed[key])
            decisions[key] = QuotaDecision(
                None, month, limit, current.counted, current.excluded, True, flags
            )
        else:
            used = index.rank[key]
            position = QuotaPosition(used, limit, used > limit, month)
            decisions[key] = QuotaDecision(
                position, month, limit, current.counted, current.excluded, True
            )
    return decisions
