"""The business clock: SPEC §2 "Clock semantics", holidays, DST and agreement with a
slow day-walking reference implementation."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.policy.clock import BusinessCalendar, CalendarError, HolidaySpec

try:  # tests/ may or may not be a package
    from tests.reference_clock import ReferenceClock
except ImportError:
    from reference_clock import ReferenceClock  # type: ignore[no-redef]

H = timedelta(hours=1)
NINE_TO_FIVE = {day: [(time(9), time(17))] for day in range(5)}

BNE = ZoneInfo("Australia/Brisbane")
NY = ZoneInfo("America/New_York")
LON = ZoneInfo("Europe/London")


def qld() -> BusinessCalendar:
    return BusinessCalendar(
        "brisbane", "Australia/Brisbane", NINE_TO_FIVE, HolidaySpec("AU", "QLD")
    )


def new_york() -> BusinessCalendar:
    return BusinessCalendar("new-york", "America/New_York", NINE_TO_FIVE, HolidaySpec("US"))


def same(a: datetime, b: datetime) -> bool:
    """Same instant and same zone (== within one zone ignores ``fold``)."""
    return a.tzinfo is b.tzinfo and a.astimezone(UTC) == b.astimezone(UTC)


def at(tz: ZoneInfo, *fields: int, fold: int = 0) -> datetime:
    return datetime(*fields, tzinfo=tz, fold=fold)  # type: ignore[misc]


# --------------------------------------------------------------------------- SPEC examples
# 27 Nov 2026 is a Friday, 30 Nov 2026 a Monday.


@pytest.mark.parametrize(
    ("start", "hours", "due"),
    [
        ((2026, 11, 27, 15), 4, (2026, 11, 30, 11)),  # Fri 15:00 + 4h -> Mon 11:00
        ((2026, 11, 28, 10), 4, (2026, 11, 30, 13)),  # Sat 10:00 + 4h -> Mon 13:00
        ((2026, 11, 30, 9), 8, (2026, 11, 30, 17)),  # uses it up at closing: due AT closing
        ((2026, 11, 27, 15), 6, (2026, 11, 30, 13)),  # P2 6h
    ],
)
def test_spec_add_examples(start: tuple[int, ...], hours: int, due: tuple[int, ...]) -> None:
    cal = qld()
    got = cal.add(at(BNE, *start), timedelta(hours=hours))
    assert got == at(BNE, *due)
    assert got.tzinfo is cal.tz


@pytest.mark.parametrize(
    ("created", "due"),
    [
        ((2026, 11, 30, 8), (2026, 12, 1, 17)),  # Mon 08:00 -> Tue 17:00
        ((2026, 11, 30, 16, 59), (2026, 12, 1, 17)),  # Mon 16:59 -> Tue 17:00
        ((2026, 11, 30, 23, 59), (2026, 12, 1, 17)),  # late Monday still Monday's date
        ((2026, 11, 27, 10), (2026, 11, 30, 17)),  # Fri -> Mon 17:00
        ((2026, 11, 28, 10), (2026, 11, 30, 17)),  # Sat -> Mon
        ((2026, 11, 29, 10), (2026, 11, 30, 17)),  # Sun -> Mon
        ((2026, 4, 2, 10), (2026, 4, 7, 17)),  # Thu before Easter: Fri+Mon holidays -> Tue
    ],
)
def test_next_business_day_close(created: tuple[int, ...], due: tuple[int, ...]) -> None:
    cal = qld()
    got = cal.next_business_day_close(at(BNE, *created))
    assert got == at(BNE, *due)
    assert got.tzinfo is cal.tz


def test_next_business_day_is_after_the_local_date_not_the_utc_date() -> None:
    cal = qld()
    # Mon 30 Nov 2026 07:00 in Brisbane is still Sunday 29 Nov in UTC.
    created = datetime(2026, 11, 29, 21, 0, tzinfo=UTC)
    assert cal.next_business_day_close(created) == at(BNE, 2026, 12, 1, 17)


# --------------------------------------------------------------------------- holidays


def test_easter_monday_after_a_friday_start() -> None:
    cal = qld()
    # Thu 2 Apr 2026 15:00 + 4h: 2h Thursday; Good Friday, the weekend and Easter
    # Monday are closed; the remaining 2h run Tuesday 09:00-11:00.
    assert cal.add(at(BNE, 2026, 4, 2, 15), 4 * H) == at(BNE, 2026, 4, 7, 11)
    assert cal.elapsed(at(BNE, 2026, 4, 2, 15), at(BNE, 2026, 4, 7, 11)) == 4 * H
    assert not cal.is_business_day(date(2026, 4, 6))
    assert not cal.is_open(at(BNE, 2026, 4, 6, 10))


def test_extra_closed_monday_and_removed_holiday() -> None:
    spec = HolidaySpec("AU", "QLD", extra=frozenset({date(2026, 11, 30)}))
    cal = BusinessCalendar("bne", "Australia/Brisbane", NINE_TO_FIVE, spec)
    assert cal.add(at(BNE, 2026, 11, 27, 15), 4 * H) == at(BNE, 2026, 12, 1, 11)
    assert cal.next_business_day_close(at(BNE, 2026, 11, 27, 15)) == at(BNE, 2026, 12, 1, 17)

    opened = HolidaySpec("AU", "QLD", remove=frozenset({date(2026, 4, 6)}))
    cal = BusinessCalendar("bne", "Australia/Brisbane", NINE_TO_FIVE, opened)
    assert cal.is_business_day(date(2026, 4, 6))
    assert cal.add(at(BNE, 2026, 4, 2, 15), 4 * H) == at(BNE, 2026, 4, 6, 11)


def test_starts_on_a_holiday_and_on_weekends() -> None:
    cal = qld()
    assert cal.add(at(BNE, 2026, 4, 3, 10), H) == at(BNE, 2026, 4, 7, 10)  # Good Friday
    assert cal.add(at(BNE, 2026, 11, 29, 23), H) == at(BNE, 2026, 11, 30, 10)  # Sunday night


def test_holidays_between_applies_extra_and_remove() -> None:
    spec = HolidaySpec(
        "AU", "QLD", extra=frozenset({date(2026, 4, 8)}), remove=frozenset({date(2026, 4, 6)})
    )
    cal = BusinessCalendar("bne", "Australia/Brisbane", NINE_TO_FIVE, spec)
    got = cal.holidays_between(date(2026, 4, 1), date(2026, 4, 10))
    assert [d for d, _ in got] == [
        date(2026, 4, 3),
        date(2026, 4, 4),
        date(2026, 4, 5),
        date(2026, 4, 8),
    ]
    assert got[0][1] == "Good Friday"
    assert "extra" in got[-1][1]
    assert cal.holidays_between(date(2026, 4, 10), date(2026, 4, 1)) == []


def test_holidays_on_working_days_leave_out_weekends_and_list_worked_ones() -> None:
    """What explain, due and check list: closed days with business hours (Easter Saturday
    and Sunday skip no business time), or with ``worked`` the holidays the office works."""
    spec = HolidaySpec(
        "AU", "QLD", extra=frozenset({date(2026, 4, 8)}), remove=frozenset({date(2026, 4, 6)})
    )
    cal = BusinessCalendar("bne", "Australia/Brisbane", NINE_TO_FIVE, spec)
    closed = cal.holidays_on_working_days(date(2026, 4, 1), date(2026, 4, 10))
    assert [d for d, _ in closed] == [date(2026, 4, 3), date(2026, 4, 8)]
    worked = cal.holidays_on_working_days(date(2026, 4, 1), date(2026, 4, 10), worked=True)
    assert [d for d, _ in worked] == [date(2026, 4, 6)]  # Easter Monday, removed


def test_no_country_means_only_extra_dates() -> None:
    cal = BusinessCalendar(
        "x", "UTC", NINE_TO_FIVE, HolidaySpec(extra=frozenset({date(2026, 12, 25)}))
    )
    assert cal.holidays_between(date(2026, 1, 1), date(2026, 12, 31)) == [
        (date(2026, 12, 25), "Closed (extra date)")
    ]
    assert cal.is_business_day(date(2026, 1, 1))  # New Year's Day is not closed here


# --------------------------------------------------------------------------- opening and closing


def test_exactly_at_close_and_open_boundaries() -> None:
    cal = qld()
    assert cal.add(at(BNE, 2026, 11, 30, 9), 8 * H) == at(BNE, 2026, 11, 30, 17)
    assert cal.add(at(BNE, 2026, 11, 30, 16), H) == at(BNE, 2026, 11, 30, 17)
    assert cal.is_open(at(BNE, 2026, 11, 30, 9))
    assert cal.is_open(at(BNE, 2026, 11, 30, 16, 59, 59, 999999))
    assert not cal.is_open(at(BNE, 2026, 11, 30, 17))
    assert not cal.is_open(at(BNE, 2026, 11, 30, 8, 59, 59, 999999))


def test_starts_before_opening_and_at_closing() -> None:
    cal = qld()
    assert cal.add(at(BNE, 2026, 11, 30, 7), H) == at(BNE, 2026, 11, 30, 10)
    assert cal.add(at(BNE, 2026, 11, 30, 17), H) == at(BNE, 2026, 12, 1, 10)
    assert cal.add(at(BNE, 2026, 11, 30, 17, 0, 0, 1), H) == at(BNE, 2026, 12, 1, 10)
    assert cal.elapsed(at(BNE, 2026, 11, 30, 7), at(BNE, 2026, 11, 30, 10)) == H
    assert cal.elapsed(at(BNE, 2026, 11, 30, 17), at(BNE, 2026, 12, 1, 9)) == timedelta(0)


def test_add_zero_returns_start_even_outside_hours() -> None:
    cal = qld()
    start = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # Saturday
    got = cal.add(start, timedelta(0))
    assert got == start
    assert got.tzinfo is cal.tz
    assert cal.elapsed(start, got) == timedelta(0)


def test_negative_duration_is_an_error() -> None:
    with pytest.raises(ValueError, match="duration >= 0"):
        qld().add(at(BNE, 2026, 11, 30, 9), -H)


def test_elapsed_is_zero_when_end_is_not_after_start() -> None:
    cal = qld()
    t = at(BNE, 2026, 11, 30, 12)
    assert cal.elapsed(t, t) == timedelta(0)
    assert cal.elapsed(t, t - H) == timedelta(0)


def test_microseconds_are_exact() -> None:
    cal = qld()
    start = at(BNE, 2026, 11, 30, 9, 0, 0, 123457)
    d = timedelta(hours=13, microseconds=999_999)
    due = cal.add(start, d)
    assert due == at(BNE, 2026, 12, 1, 14, 0, 1, 123456)
    assert cal.elapsed(start, due) == d


# --------------------------------------------------------------------------- DST


def test_new_york_spring_forward_counts_real_seconds() -> None:
    # Sunday 8 Mar 2026: 02:00 EST jumps to 03:00 EDT.  The interval 00:00-06:00 of
    # that date is the wall-clock interval and lasts 5 real hours.
    cal = BusinessCalendar("ny-sun", "America/New_York", {6: [(time(0), time(6))]})
    start, end = at(NY, 2026, 3, 8, 0), at(NY, 2026, 3, 8, 6)
    assert cal.elapsed(start, end) == 5 * H
    assert cal.add(start, 5 * H) == end
    assert cal.add(start, 3 * H) == at(NY, 2026, 3, 8, 4)  # 00:00 EST + 3 real hours
    assert cal.elapsed(at(NY, 2026, 3, 1, 0), at(NY, 2026, 3, 1, 6)) == 6 * H  # a week earlier


def test_new_york_fall_back_counts_real_seconds() -> None:
    # Sunday 1 Nov 2026: 02:00 EDT falls back to 01:00 EST; 00:00-06:00 lasts 7 h.
    cal = BusinessCalendar("ny-sun", "America/New_York", {6: [(time(0), time(6))]})
    start, end = at(NY, 2026, 11, 1, 0), at(NY, 2026, 11, 1, 6)
    assert cal.elapsed(start, end) == 7 * H
    due = cal.add(start, 2 * H)  # the second 01:00 of the night (EST)
    # (Same-zone == ignores fold, so compare in UTC.)
    assert due.astimezone(UTC) == datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    assert (due.hour, due.fold, due.utcoffset()) == (1, 1, timedelta(hours=-5))
    assert cal.add(start, H).astimezone(UTC) == datetime(2026, 11, 1, 5, 0, tzinfo=UTC)


def test_hours_starting_inside_the_gap_open_when_the_clocks_jump() -> None:
    cal = BusinessCalendar("ny-sun", "America/New_York", {6: [(time(2, 30), time(4))]})
    assert cal.elapsed(at(NY, 2026, 3, 8, 0), at(NY, 2026, 3, 8, 5)) == H  # 03:00-04:00 EDT
    assert cal.add(at(NY, 2026, 3, 8, 0), timedelta(minutes=30)) == at(NY, 2026, 3, 8, 3, 30)
    assert cal.elapsed(at(NY, 2026, 3, 1, 0), at(NY, 2026, 3, 1, 5)) == 1.5 * H


def test_ambiguous_opening_uses_the_first_occurrence() -> None:
    cal = BusinessCalendar("ny-sun", "America/New_York", {6: [(time(1, 30), time(3))]})
    # 01:30 EDT (05:30 UTC) until 03:00 EST (08:00 UTC): 2.5 real hours.
    assert cal.elapsed(at(NY, 2026, 11, 1, 0), at(NY, 2026, 11, 1, 4)) == 2.5 * H
    assert cal.is_open(datetime(2026, 11, 1, 5, 30, tzinfo=UTC))
    assert not cal.is_open(datetime(2026, 11, 1, 5, 29, tzinfo=UTC))


def test_london_weekday_hours_across_both_changes() -> None:
    cal = BusinessCalendar("lon", "Europe/London", NINE_TO_FIVE, HolidaySpec("GB", "ENG"))
    # Clocks go forward Sun 29 Mar 2026 and back Sun 25 Oct 2026: 09:00-17:00 stays
    # wall-clock, so Friday 16:00 GMT + 2h is Monday 10:00 BST (and back again).
    assert cal.add(at(LON, 2026, 3, 27, 16), 2 * H) == at(LON, 2026, 3, 30, 10)
    assert cal.add(at(LON, 2026, 10, 23, 16), 2 * H) == at(LON, 2026, 10, 26, 10)
    assert cal.add(at(LON, 2026, 10, 23, 16), 2 * H).utcoffset() == timedelta(0)
    always = BusinessCalendar(
        "lon-247", "Europe/London", {d: [(time(0), time(0))] for d in range(7)}
    )
    assert always.elapsed(at(LON, 2026, 3, 28, 12), at(LON, 2026, 3, 29, 12)) == 23 * H
    assert always.elapsed(at(LON, 2026, 10, 24, 12), at(LON, 2026, 10, 25, 12)) == 25 * H
    assert always.add(at(LON, 2026, 3, 28, 12), 23 * H) == at(LON, 2026, 3, 29, 12)


# --------------------------------------------------------------------------- spans and shapes


def test_two_hundred_business_hours_over_year_end() -> None:
    cal = new_york()
    start = at(NY, 2026, 12, 14, 9)  # Monday
    # 25 business days: Christmas (Fri 25 Dec), New Year (Fri 1 Jan) and
    # Martin Luther King Jr. Day (Mon 18 Jan 2027) are closed.
    due = cal.add(start, 200 * H)
    assert due == at(NY, 2027, 1, 20, 17)
    assert cal.elapsed(start, due) == 200 * H
    # 14-31 Dec: 13 business days; New Year's Day is closed.
    assert cal.elapsed(start, at(NY, 2027, 1, 1, 12)) == 13 * 8 * H
    assert cal.elapsed(start, at(NY, 2027, 1, 4, 12)) == 13 * 8 * H + 3 * H


def test_several_intervals_per_day_and_different_hours_per_weekday() -> None:
    split = [(time(8), time(12)), (time(13), time(17))]
    hours = {0: split, 1: split, 2: split, 3: split, 4: [(time(9), time(13))]}
    cal = BusinessCalendar("split", "Australia/Brisbane", hours)
    mon = (2026, 11, 30)
    assert cal.add(at(BNE, *mon, 11), H) == at(BNE, *mon, 12)  # at the lunch close
    assert cal.add(at(BNE, *mon, 11), 2 * H) == at(BNE, *mon, 14)
    assert cal.add(at(BNE, *mon, 12, 30), H) == at(BNE, *mon, 14)
    assert cal.elapsed(at(BNE, *mon, 11, 30), at(BNE, *mon, 13, 30)) == H
    assert not cal.is_open(at(BNE, *mon, 12, 30))
    # Friday closes at 13:00: Fri 12:00 + 2h -> Mon 09:00 (1h Fri, 1h Mon from 08:00).
    assert cal.add(at(BNE, 2026, 12, 4, 12), 2 * H) == at(BNE, 2026, 12, 7, 9)
    assert cal.elapsed(at(BNE, 2026, 12, 4, 0), at(BNE, 2026, 12, 5, 0)) == 4 * H
    assert cal.next_business_day_close(at(BNE, 2026, 12, 3, 10)) == at(BNE, 2026, 12, 4, 13)


def test_touching_intervals_and_midnight_end() -> None:
    hours = {0: [(time(20), time(0))], 1: [(time(0), time(2)), (time(2), time(4))]}
    cal = BusinessCalendar("night", "UTC", hours)
    mon = datetime(2026, 11, 30, 20, tzinfo=UTC)
    assert cal.add(mon, 7 * H) == datetime(2026, 12, 1, 3, tzinfo=UTC)
    assert cal.elapsed(mon, datetime(2026, 12, 2, tzinfo=UTC)) == 8 * H
    assert cal.next_business_day_close(datetime(2026, 11, 29, tzinfo=UTC)) == datetime(
        2026, 12, 1, 0, tzinfo=UTC
    )


def test_pauses_are_clipped_merged_and_subtracted() -> None:
    cal = qld()
    s, e = at(BNE, 2026, 11, 30, 9), at(BNE, 2026, 12, 1, 17)  # 16 business hours
    pauses = [
        (at(BNE, 2026, 11, 30, 10), at(BNE, 2026, 11, 30, 12)),  # 2h
        (at(BNE, 2026, 11, 30, 11), at(BNE, 2026, 11, 30, 13)),  # overlaps: +1h
        (at(BNE, 2026, 11, 30, 16), at(BNE, 2026, 12, 1, 10)),  # overnight: 1h + 1h
        (at(BNE, 2026, 11, 29, 0), at(BNE, 2026, 11, 30, 9, 30)),  # clipped to 30 min
        (at(BNE, 2026, 12, 1, 16, 30), at(BNE, 2026, 12, 2, 12)),  # clipped to 30 min
        (at(BNE, 2026, 12, 5, 0), at(BNE, 2026, 12, 6, 0)),  # outside: nothing
    ]
    assert cal.elapsed(s, e, pauses) == 16 * H - 3 * H - 2 * H - H
    assert cal.elapsed(s, e, []) == 16 * H
    # A pause moves the due time later by the paused business time.
    paused = cal.elapsed(s, e) - cal.elapsed(s, e, pauses)
    assert cal.add(s, 4 * H + paused) == cal.add(s, 10 * H)


def test_inputs_in_any_zone_results_in_the_calendar_zone() -> None:
    cal = qld()
    start = datetime(2026, 11, 27, 15, tzinfo=BNE)
    for other in (start.astimezone(UTC), start.astimezone(NY), start.astimezone(timezone(-H * 7))):
        got = cal.add(other, 4 * H)
        assert got == at(BNE, 2026, 11, 30, 11)
        assert got.tzinfo is cal.tz
        assert cal.elapsed(other, got.astimezone(LON)) == 4 * H


def test_format_uses_the_calendar_zone() -> None:
    cal = qld()
    assert cal.format(datetime(2026, 11, 30, 7, tzinfo=UTC)) == "Mon 30 Nov 2026 17:00 AEST"
    lon = BusinessCalendar("lon", "Europe/London", NINE_TO_FIVE)
    assert lon.format(datetime(2026, 7, 1, 8, tzinfo=UTC)) == "Wed 1 Jul 2026 09:00 BST"


# --------------------------------------------------------------------------- far years


def test_2045_works() -> None:
    cal = new_york()
    start = at(NY, 2045, 12, 22, 15)  # Friday; Mon 25 Dec 2045 is Christmas
    assert cal.add(start, 4 * H) == at(NY, 2045, 12, 26, 11)
    assert cal.next_business_day_close(start) == at(NY, 2045, 12, 26, 17)
    assert cal.elapsed(start, at(NY, 2045, 12, 26, 11)) == 4 * H


def test_years_before_2000_and_jumps_between_years() -> None:
    cal = new_york()
    assert cal.add(at(NY, 1995, 12, 22, 15), 4 * H) == at(NY, 1995, 12, 26, 11)
    assert cal.add(at(NY, 2045, 12, 22, 15), 4 * H) == at(NY, 2045, 12, 26, 11)
    assert cal.add(at(NY, 1995, 12, 22, 15), 4 * H) == at(NY, 1995, 12, 26, 11)
    ref = ReferenceClock("America/New_York", NINE_TO_FIVE, "US")
    s, e = at(NY, 1999, 6, 1, 10), at(NY, 2001, 3, 1, 12)
    assert cal.elapsed(s, e) == ref.elapsed(s, e)


def test_beyond_2106_takes_the_exact_path() -> None:
    cal = BusinessCalendar("ny", "America/New_York", NINE_TO_FIVE)
    ref = ReferenceClock("America/New_York", NINE_TO_FIVE)
    s = at(NY, 2150, 3, 5, 10, 11, 12, 345678)
    d = timedelta(hours=77, microseconds=1)
    assert same(cal.add(s, d), ref.add(s, d))
    assert cal.elapsed(s, cal.add(s, d)) == d


def test_a_long_duration_grows_the_table_forward() -> None:
    cal = new_york()
    start = at(NY, 2026, 1, 5, 9)
    due = cal.add(start, 8 * H * 2000)  # about eight years of business days
    ref = ReferenceClock("America/New_York", NINE_TO_FIVE, "US")
    assert same(due, ref.add(start, 8 * H * 2000))
    assert cal.elapsed(start, due) == 8 * H * 2000


# --------------------------------------------------------------------------- errors


def test_naive_datetimes_are_rejected_everywhere() -> None:
    cal = qld()
    naive = datetime(2026, 11, 30, 9)
    aware = at(BNE, 2026, 11, 30, 9)
    calls = [
        lambda: cal.add(naive, H),
        lambda: cal.elapsed(naive, aware),
        lambda: cal.elapsed(aware, naive),
        lambda: cal.elapsed(aware, aware + H, [(naive, naive)]),
        lambda: cal.is_open(naive),
        lambda: cal.next_business_day_close(naive),
        lambda: cal.format(naive),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="timezone-aware"):
            call()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown time zone 'Mars/Olympus'"),
        ({"timezone": "../etc/passwd"}, "unknown time zone"),
        ({"holidays": HolidaySpec("XX")}, "unknown holiday country 'XX'"),
        ({"holidays": HolidaySpec("au")}, "did you mean AU"),
        ({"holidays": HolidaySpec("AU", "ZZ")}, "AU has no subdivision 'ZZ'.*QLD"),
        ({"holidays": HolidaySpec(None, "QLD")}, "without a country"),
        ({"weekly_hours": {}}, "no business hours"),
        ({"weekly_hours": {7: [(time(9), time(17))]}}, "weekday 7"),
        (
            {"weekly_hours": {0: [(time(17), time(9))]}},
            "Mon interval 1: start 17:00 must be before",
        ),
        (
            {"weekly_hours": {2: [(time(9), time(13)), (time(12), time(17))]}},
            "Wed interval 2: 12:00-17:00 overlaps",
        ),
        ({"weekly_hours": {0: [("09:00", "17:00")]}}, "expected a datetime.time"),
    ],
)
def test_bad_calendars_have_clear_errors(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {
        "name": "support",
        "timezone": "Australia/Brisbane",
        "weekly_hours": NINE_TO_FIVE,
    }
    args.update(kwargs)
    with pytest.raises(CalendarError, match=message) as info:
        BusinessCalendar(**args)  # type: ignore[arg-type]
    assert "'support'" in str(info.value)


def test_calendar_error_is_a_value_error() -> None:
    assert issubclass(CalendarError, ValueError)


# --------------------------------------------------------------------------- properties

ZONES = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Sydney",
    "Australia/Brisbane",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "America/Santiago",  # DST changes at midnight
    "Asia/Kolkata",
    "Pacific/Chatham",  # +12:45 / +13:45
]
HOLIDAYS = [(None, None), ("US", None), ("AU", "QLD"), ("GB", "ENG"), ("CL", None)]


@st.composite
def day_hours(draw: st.DrawFn) -> list[tuple[time, time]]:
    """0-3 sorted, non-overlapping intervals on a quarter-hour grid; 96 means 24:00."""
    points = sorted(draw(st.sets(st.integers(0, 96), max_size=6)))
    if len(points) % 2:
        points = points[:-1]
    out = []
    for a, b in zip(points[::2], points[1::2], strict=True):
        out.append((time(a // 4, a % 4 * 15), time(0) if b == 96 else time(b // 4, b % 4 * 15)))
    return out


@st.composite
def calendars(draw: st.DrawFn) -> tuple[BusinessCalendar, ReferenceClock, timedelta]:
    zone = draw(st.sampled_from(ZONES))
    hours = {day: draw(day_hours()) for day in range(7)}
    week = timedelta(0)
    for ivs in hours.values():
        for a, b in ivs:
            end = 24 * 60 if b == time(0) else b.hour * 60 + b.minute
            week += timedelta(minutes=end - (a.hour * 60 + a.minute))
    if week == timedelta(0):
        hours[0] = [(time(9), time(17))]
        week = 8 * H
    country, subdivision = draw(st.sampled_from(HOLIDAYS))
    dates = st.dates(date(2025, 6, 1), date(2026, 12, 31))
    extra = frozenset(draw(st.lists(dates, max_size=4)))
    remove = frozenset(draw(st.lists(dates, max_size=2)))
    spec = HolidaySpec(country, subdivision, extra, remove)
    cal = BusinessCalendar("random", zone, hours, spec)
    ref = ReferenceClock(zone, hours, country, subdivision, extra, remove)
    return cal, ref, week


OUT_ZONES = [UTC, timezone(timedelta(hours=5, minutes=30)), NY, ZoneInfo("Asia/Tokyo")]


@st.composite
def instants(draw: st.DrawFn) -> datetime:
    t = draw(
        st.datetimes(
            min_value=datetime(2025, 9, 1), max_value=datetime(2026, 9, 1), timezones=st.just(UTC)
        )
    )
    return t.astimezone(draw(st.sampled_from(OUT_ZONES)))


def durations(up_to: timedelta) -> st.SearchStrategy[timedelta]:
    return st.timedeltas(min_value=timedelta(0), max_value=up_to)


PROPS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(data=st.data(), setup=calendars())
def test_agrees_with_the_day_walking_reference(
    data: st.DataObject, setup: tuple[BusinessCalendar, ReferenceClock, timedelta]
) -> None:
    cal, ref, week = setup
    s = data.draw(instants())
    e = s + data.draw(st.timedeltas(timedelta(0), timedelta(days=20)))
    d = data.draw(durations(2 * week))
    assert same(cal.add(s, d), ref.add(s, d))
    assert cal.elapsed(s, e) == ref.elapsed(s, e)
    assert cal.elapsed(e, s) == timedelta(0)
    assert cal.is_open(s) == ref.is_open(s)
    assert same(cal.next_business_day_close(s), ref.next_business_day_close(s))
    pauses = data.draw(st.lists(st.tuples(instants(), instants()), max_size=3))
    assert cal.elapsed(s, e, pauses) == ref.elapsed(s, e, pauses)


@settings(max_examples=60, deadline=None)
@given(
    starts=st.lists(
        st.datetimes(
            min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
        ),
        min_size=2,
        max_size=12,
    ),
    now=st.datetimes(
        min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(UTC)
    ),
)
def test_one_calendar_answers_as_fresh_ones_while_its_tables_grow(
    starts: list[datetime], now: datetime
) -> None:
    """One calendar asked about creations across five years (its tables grow with each
    new year) answers every question as a calendar asked only that question does."""

    def fresh() -> BusinessCalendar:
        return BusinessCalendar("grows", "America/New_York", NINE_TO_FIVE, HolidaySpec("US", "NY"))

    cal = fresh()
    for s in starts:
        close = cal.next_business_day_close(s)
        assert same(close, fresh().next_business_day_close(s))
        assert cal.elapsed(s, close) == fresh().elapsed(s, close)
        assert cal.elapsed(s, now) == fresh().elapsed(s, now)
        assert same(cal.add(s, timedelta(hours=5)), fresh().add(s, timedelta(hours=5)))


@PROPS
@given(data=st.data(), setup=calendars())
def test_add_and_elapsed_are_inverse_and_monotonic(
    data: st.DataObject, setup: tuple[BusinessCalendar, ReferenceClock, timedelta]
) -> None:
    cal, _, week = setup
    s = data.draw(instants())
    d1 = data.draw(durations(2 * week))
    d2 = data.draw(durations(2 * week))
    t1, t2 = cal.add(s, d1), cal.add(s, d2)
    assert cal.elapsed(s, t1) == d1
    assert cal.elapsed(s, t2) == d2
    assert (t1 < t2) == (d1 < d2)  # strictly monotonic in the duration
    assert (t1 == t2) == (d1 == d2)
    assert t1 >= s


@PROPS
@given(data=st.data(), setup=calendars())
def test_elapsed_is_additive(
    data: st.DataObject, setup: tuple[BusinessCalendar, ReferenceClock, timedelta]
) -> None:
    cal, _, _ = setup
    a, b, c = sorted(data.draw(instants()) for _ in range(3))
    assert cal.elapsed(a, c) == cal.elapsed(a, b) + cal.elapsed(b, c)
    assert cal.elapsed(a, c, [(a, b)]) == cal.elapsed(b, c)


@settings(max_examples=200, deadline=None)
@given(
    s=st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
    ),
    d=st.timedeltas(min_value=timedelta(0), max_value=timedelta(hours=300)),
)
def test_exact_to_the_microsecond_across_two_centuries(s: datetime, d: timedelta) -> None:
    cal = _shared_ny()
    due = cal.add(s, d)
    assert cal.elapsed(s, due) == d
    if d:
        assert cal.elapsed(s, due - timedelta(microseconds=1)) < d


_NY_CACHE: list[BusinessCalendar] = []


def _shared_ny() -> BusinessCalendar:
    if not _NY_CACHE:
        _NY_CACHE.append(
            BusinessCalendar("ny", "America/New_York", NINE_TO_FIVE, HolidaySpec("US"))
        )
    return _NY_CACHE[0]


def test_every_input_zone_and_code_path_gives_the_same_answer() -> None:
    """UTC inputs, other aware inputs and the exact integer path must agree exactly."""
    cal = BusinessCalendar("lon", "Europe/London", NINE_TO_FIVE, HolidaySpec("GB", "ENG"))
    ref = ReferenceClock("Europe/London", NINE_TO_FIVE, "GB", "ENG")
    rnd = random.Random(7)
    tokyo, plus_eleven = ZoneInfo("Asia/Tokyo"), timezone(timedelta(hours=11))
    for year in (2026, 2150):  # 2150 is past the float fast path: exact integers only
        first = datetime(year, 1, 1, tzinfo=UTC)
        for _ in range(300):
            s = first + timedelta(
                seconds=rnd.randrange(366 * 86400), microseconds=rnd.randrange(10**6)
            )
            e = s + timedelta(seconds=rnd.randrange(20 * 86400), microseconds=rnd.randrange(10**6))
            d = timedelta(seconds=rnd.randrange(1, 100 * 3600), microseconds=rnd.randrange(10**6))
            due = cal.add(s, d)
            assert same(due, ref.add(s, d)), (s, d)
            assert all(same(cal.add(s.astimezone(z), d), due) for z in (tokyo, plus_eleven, LON))
            spent = cal.elapsed(s, e)
            assert spent == ref.elapsed(s, e), (s, e)
            assert all(
                cal.elapsed(s.astimezone(z), e.astimezone(z)) == spent for z in (tokyo, plus_eleven)
            )
            assert cal.elapsed(s, e, [(e, e)]) == spent  # pauses take the exact path
            assert cal.is_open(s) == cal.is_open(s.astimezone(tokyo)) == ref.is_open(s)


def test_hours_with_seconds_and_microseconds_stay_exact() -> None:
    hours = {day: [(time(9, 0, 30), time(16, 59, 59, 500000))] for day in range(5)}
    cal = BusinessCalendar("odd", "America/New_York", hours)
    ref = ReferenceClock("America/New_York", hours)
    for s in (
        at(NY, 2026, 11, 27, 16),
        datetime(2026, 11, 28, 3, tzinfo=UTC),
        at(NY, 2026, 3, 6, 12),
    ):
        for d in (H, 9 * H, timedelta(hours=7, minutes=59, seconds=29, microseconds=500000)):
            assert same(cal.add(s, d), ref.add(s, d))
            assert cal.elapsed(s, cal.add(s, d)) == d
