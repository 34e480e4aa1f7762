"""The quota index agrees with ranking each case on its own, in any zone.

The index places a whole UTC day's cases in one month when the zone shows a
single month and offset all that day, and ranks a month's cases in one sorted
walk; both must give what month_of() and a bisect over the counted cases give,
across month ends, DST changes and zones with 30- and 45-minute offsets.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.policy.model import MonthCase
from bridge.policy.tiers import _org_index, _sort_key, first_listings, month_of

ZONES = [
    "Australia/Brisbane",
    "Australia/Lord_Howe",  # 30-minute DST
    "Asia/Kathmandu",  # +05:45
    "America/New_York",
    "Pacific/Chatham",  # +12:45 / +13:45
    "Europe/London",
]
START = datetime(2026, 3, 1, tzinfo=UTC)
SKIP = frozenset({"duplicate"})


@st.composite
def org_cases(draw):
    # clustered around month ends and DST changes: minutes within ~9 months
    minutes = draw(st.lists(st.integers(0, 60 * 24 * 280), min_size=1, max_size=60))
    cases = []
    for n, m in enumerate(minutes, 1):
        offset = draw(st.sampled_from([0, 5.5, -4, 10, 12.75]))  # how Jira wrote it
        created = (START + timedelta(minutes=m)).astimezone(
            ZoneInfo("UTC") if offset == 0 else _fixed(offset)
        )
        resolution = draw(st.sampled_from([None, None, "Done", "Duplicate"]))
        cases.append(MonthCase(f"SUP-{n}", created, resolution))
    return tuple(cases)


def _fixed(hours: float):
    from datetime import timezone

    return timezone(timedelta(hours=hours))


@settings(max_examples=200, deadline=None)
@given(org_cases(), st.sampled_from(ZONES))
def test_index_months_and_ranks_match_case_by_case(cases, zone_name):
    zone = ZoneInfo(zone_name)
    index = _org_index(first_listings(cases), zone, SKIP)
    for case in cases:
        month, own, rank = index.month[case.key], _sort_key(case), index.rank[case.key]
        assert index.listed[case.key] is case
        assert (case.key in index.excluded) == ((case.resolution or "").casefold() in SKIP)
        assert month == month_of(case.created, zone), case
        counted = sorted(
            _sort_key(c)
            for c in cases
            if month_of(c.created, zone) == month and (c.resolution or "").casefold() not in SKIP
        )
        assert rank == bisect_left(counted, own) + 1
        assert list(index.months[month].counted) == counted


def test_a_day_holding_a_month_end_splits_it_by_the_zones_midnight():
    """30 Nov 13:00 UTC is 1 Dec 00:00 in Brisbane: the UTC day holds two months."""
    zone = ZoneInfo("Australia/Brisbane")
    before = MonthCase("SUP-1", datetime(2026, 11, 30, 13, 59, tzinfo=UTC))
    after = MonthCase("SUP-2", datetime(2026, 11, 30, 14, 0, tzinfo=UTC))
    index = _org_index(first_listings((before, after)), zone, SKIP)
    assert index.month["SUP-1"] == "2026-11"
    assert index.month["SUP-2"] == "2026-12"
    assert index.rank["SUP-2"] == 1  # first case of December


def test_an_issue_listed_twice_is_one_case() -> None:
    """Overlapping search pages can list an issue twice: it is counted once (first listing)."""
    zone = ZoneInfo("Australia/Brisbane")
    first = MonthCase("SUP-1", datetime(2026, 11, 2, tzinfo=UTC))
    again = MonthCase("SUP-1", datetime(2026, 11, 2, tzinfo=UTC), "Duplicate")
    later = MonthCase("SUP-2", datetime(2026, 11, 3, tzinfo=UTC))
    index = _org_index(first_listings((first, later, again)), zone, SKIP)
    assert index.listed["SUP-1"] is first and "SUP-1" not in index.excluded
    assert (index.rank["SUP-1"], index.rank["SUP-2"]) == (1, 2)
    assert len(index.months["2026-11"].counted) == 2
