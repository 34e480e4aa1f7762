"""The business clock: business hours, holidays and DST, in real seconds.

A :class:`BusinessCalendar` answers the questions SLA targets ask (SPEC §2, "Clock
semantics"):

* ``add(start, duration)`` — when does ``duration`` of business time run out?
* ``elapsed(start, end, pauses)`` — how much business time lies between two instants?
* ``next_business_day_close(start)`` — close of business of the first business day
  after the calendar day of ``start``.
* ``is_open(t)`` — is ``t`` inside business hours?

Semantics
---------
Business time runs only inside the calendar's weekly hours, on business days, in the
calendar's time zone.  An interval ``09:00-17:00`` is always the *wall-clock*
interval of that local date; its length is the real number of seconds between the
two instants, so on a DST-change day it may be longer or shorter than 8 h.

Wall-clock times that do not exist (inside a spring-forward gap) mean the moment the
clocks jump (like pandas' ``nonexistent="shift_forward"``); ambiguous wall-clock
times (fall-back) mean their first occurrence (``fold=0``).  Both rules keep the
mapping from wall-clock to instants monotonic, so intervals never overlap.

An interval end of ``time(0)`` means 24:00 (the end of that day).  Intervals are
half-open ``[open, close)``: at the closing instant the calendar is closed.

``add(start, d)`` returns the *earliest* instant ``t`` with ``elapsed(start, t) == d``:
a target that uses up its time exactly at closing is due at closing, and
``add(start, 0)`` is ``start`` itself even outside business hours (expressed in the
calendar's zone).  Durations are exact to the microsecond.

How it is fast
--------------
Per calendar we keep, for a contiguous range of local years, the business intervals
as integer UTC epoch microseconds plus the cumulative business time before each
interval.  ``B(t)`` (business time since the table origin) is one bisection;
``elapsed = B(end) - B(start)`` and ``add`` is a bisection on the cumulative array.
The table is built lazily for the years actually used and extended on demand, for any
year from 2 to 9998.  Holidays come from the ``holidays`` package (pure computation)
one year at a time.

Inputs whose ``tzinfo`` is :data:`datetime.UTC` (how the bridge should keep Jira times)
take the fastest path: the table is mirrored as UTC datetimes and timedeltas, so the
inputs need no conversion and every step is exact.  Other aware inputs are converted
once with ``timestamp()``.

Inputs are aware datetimes in any zone; a naive datetime is a :class:`ValueError`.
Results are aware datetimes in the calendar's zone.
"""

from __future__ import annotations

import difflib
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_pkg

__all__ = ("BusinessCalendar", "CalendarError", "HolidaySpec")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_ZERO = timedelta(0)
_MIDNIGHT = time(0)
_DAY = timedelta(days=1)
# Below 2**32 s from the epoch (years 1834-2106) ``round(t.timestamp() * 1e6)`` and
# ``datetime.fromtimestamp(us / 1e6)`` are exact to the microsecond: the float error is
# < 0.49 µs.  Outside that range we take the exact (slower) timedelta path.
_FAST_LIMIT = 4_000_000_000.0
_FAST_LIMIT_US = 4_000_000_000_000_000
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_EXTRA_NAME = "Closed (extra date)"
# Years the tables may cover; the margins keep local midnights representable in UTC.
_FIRST_YEAR = 2
_END_YEAR = 9999


class CalendarError(ValueError):
    """A calendar cannot be built or used: bad time zone, hours or holiday country."""


@dataclass(frozen=True)
class HolidaySpec:
    """Which dates are closed: a country's public holidays, plus ``extra``, minus ``remove``."""

    country: str | None = None  # ISO code for the `holidays` package, e.g. "AU"
    subdivision: str | None = None  # e.g. "QLD"
    extra: frozenset[date] = frozenset()  # extra closed dates
    remove: frozenset[date] = frozenset()  # business days despite being holidays


def _naive_error(what: str, value: datetime) -> ValueError:
    return ValueError(
        f"{what} must be a timezone-aware datetime, got naive {value.isoformat()}; "
        "attach a zone, e.g. value.replace(tzinfo=ZoneInfo('UTC'))"
    )


def _to_us(t: datetime, what: str = "datetime") -> int:
    """Exact UTC epoch microseconds of an aware datetime."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise _naive_error(what, t)
    f = t.timestamp()
    if -_FAST_LIMIT < f < _FAST_LIMIT:
        return round(f * 1e6)
    return (t - _EPOCH) // _ONE_US


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


_DAY_US = 86_400_000_000


def _time_us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def _midnight_offset_us(d: date, tz: ZoneInfo) -> int:
    offset = datetime.combine(d, _MIDNIGHT, tzinfo=tz).utcoffset()
    assert offset is not None  # ZoneInfo always answers
    return offset // _ONE_US


def _wall_to_us(d: date, t: time, tz: ZoneInfo) -> int:
    """The instant (epoch µs) of wall-clock ``t`` on local date ``d``.

    ``t == time(0)`` is the start of ``d``.  A time in a spring-forward gap maps to the
    moment the clocks jump; an ambiguous time maps to its first occurrence.
    """
    first = datetime.combine(d, t, tzinfo=tz)  # fold=0
    offset = first.utcoffset()
    offset_after = first.replace(fold=1).utcoffset()
    assert offset is not None and offset_after is not None  # ZoneInfo always answers
    wall_us = (
        (d.toordinal() - _EPOCH_ORDINAL) * 86_400 + t.hour * 3600 + t.minute * 60 + t.second
    ) * 1_000_000 + t.microsecond
    us = wall_us - offset // _ONE_US
    if offset_after <= offset:  # an ordinary time, or the first of two (fold=0)
        return us
    # In a gap (PEP 495: fold=0 uses the offset before the jump, fold=1 the one after):
    # the two readings bracket the transition; find it to the second.
    lo = (wall_us - offset_after // _ONE_US) // 1_000_000
    hi = -(-us // 1_000_000)
    lo_offset = datetime.fromtimestamp(lo, tz).utcoffset()
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == lo_offset:
            lo = mid
        else:
            hi = mid
    return hi * 1_000_000


def _check_time(value: object, where: str) -> time:
    if not isinstance(value, time):
        raise CalendarError(f"{where}: expected a datetime.time, got {value!r}")
    if value.tzinfo is not None:
        raise CalendarError(f"{where}: hours are wall-clock times; drop the tzinfo ({value})")
    return value


def _normalise_hours(
    name: str, weekly_hours: Mapping[int, Sequence[tuple[time, time]]]
) -> tuple[tuple[tuple[time, time], ...], ...]:
    days: list[tuple[tuple[time, time], ...]] = [() for _ in range(7)]
    for weekday, intervals in weekly_hours.items():
        if not isinstance(weekday, int) or isinstance(weekday, bool) or not 0 <= weekday <= 6:
            raise CalendarError(
                f"calendar {name!r}: weekday {weekday!r} is not 0 (Monday) .. 6 (Sunday)"
            )
        checked: list[tuple[time, time]] = []
        for pos, interval in enumerate(intervals):
            where = f"calendar {name!r}, {_DAY_NAMES[weekday]} interval {pos + 1}"
            if len(interval) != 2:
                raise CalendarError(f"{where}: expected (start, end), got {interval!r}")
            start = _check_time(interval[0], where)
            end = _check_time(interval[1], where)
            end_of_day = end == _MIDNIGHT
            if not end_of_day and not start < end:
                raise CalendarError(
                    f"{where}: start {start:%H:%M} must be before end {end:%H:%M} "
                    "(use 00:00 as the end for midnight)"
                )
            if checked:
                prev_end = checked[-1][1]
                if prev_end == _MIDNIGHT or start < prev_end:
                    raise CalendarError(
                        f"{where}: {start:%H:%M}-{end:%H:%M} overlaps or precedes the "
                        "previous interval; list intervals in order without overlaps"
                    )
            checked.append((start, end))
        days[weekday] = tuple(checked)
    if not any(days):
        raise CalendarError(
            f"calendar {name!r} has no business hours on any weekday; "
            "give at least one interval, e.g. Monday 09:00-17:00"
        )
    return tuple(days)


def _check_holidays(name: str, spec: HolidaySpec) -> None:
    if spec.country is None:
        if spec.subdivision is not None:
            raise CalendarError(
                f"calendar {name!r}: subdivision {spec.subdivision!r} given without a country"
            )
        return
    supported = holidays_pkg.list_supported_countries()
    if spec.country not in supported:
        close = difflib.get_close_matches(spec.country.upper(), list(supported), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise CalendarError(
            f"calendar {name!r}: unknown holiday country {spec.country!r} "
            f"(use an ISO 3166 code such as 'US', 'GB', 'AU'){hint}"
        )
    if spec.subdivision is not None and spec.subdivision not in supported[spec.country]:
        known = ", ".join(supported[spec.country]) or "none"
        raise CalendarError(
            f"calendar {name!r}: {spec.country} has no subdivision {spec.subdivision!r}; "
            f"known subdivisions: {known}"
        )


class _Table(NamedTuple):
    """One immutable snapshot of the interval tables; swapped in whole on extension.

    ``bounds`` interleaves the openings and closings of the business intervals
    ``[o0, c0, o1, c1, ...]``.  For an instant ``x`` let ``k = bisect_right(bounds, x)``:
    ``k`` odd means ``x`` is inside an interval, even means it is closed.  Then

        B(x) = base[k] + (x if k is odd else 0)

    is the business time (µs) from the table origin to ``x``.  ``cum_end[m]`` is B at
    the close of interval ``m`` and ``x = target - shift[m]`` is where B reaches
    ``target`` inside interval ``m``.  A sentinel interval far in the future closes
    every list, so bisections never run off the end and results computed from it
    exceed every fast-path limit.
    """

    bounds: list[float]  # epoch seconds (whole seconds), for bisecting float timestamps
    bounds_us: list[int]  # the same instants in exact epoch microseconds
    base: list[int]  # per k, see above
    cum_end: list[int]  # per interval: B at its close
    shift: list[int]  # per interval: B at the opening minus the opening's µs
    fast_lo: float  # float timestamps in [fast_lo, fast_hi] take the fast path
    fast_hi: float
    lo_us: int  # exact coverage: B(x) is right for lo_us <= x <= hi_us
    hi_us: int
    first_year: int  # local years [first_year, end_year) are in the table
    end_year: int


_Hot = tuple[list[float], list[int], list[int], list[int], float, float]
_SENTINEL = 10**30
_UTC_MAX = datetime.max.replace(tzinfo=UTC)
_UTC_MIN = datetime.min.replace(tzinfo=UTC)
_HotUTC = tuple[
    list[datetime], list[timedelta], datetime, datetime, list[timedelta], list[datetime], int
]
_EMPTY = _Table([], [], [], [], [], math.inf, -math.inf, 1, 0, 0, 0)


class _Closes(NamedTuple):
    """Per business day of a table's years: where the day begins and its close of business.

    ``next_close_span`` bisects ``starts`` (the local midnights, epoch seconds) to find the
    first business day after a local date without converting the instant to the zone.
    """

    table: _Table  # the table the B values belong to
    starts: list[float]  # the business days' local midnights (whole epoch seconds)
    closes: list[datetime]  # each day's close of business, in the calendar's zone
    close_us: list[int]  # the same instants in epoch microseconds
    b_close: list[int]  # B at each close (µs from the table's origin)


#: next_close_span() builds its day list for tables of at most this many years
_CLOSES_YEARS = 12
_fromtimestamp = datetime.fromtimestamp


class BusinessCalendar:
    """A named business calendar: time zone, weekly hours and closed dates."""

    def __init__(
        self,
        name: str,
        timezone: str,
        weekly_hours: Mapping[int, Sequence[tuple[time, time]]],
        holidays: HolidaySpec = HolidaySpec(),
    ) -> None:
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
            raise CalendarError(
                f"calendar {name!r}: unknown time zone {timezone!r}; "
                "use an IANA name such as 'Europe/London' or 'Australia/Brisbane'"
            ) from exc
        self._name = name
        self._timezone = timezone
        self._tz = tz
        self._hours = _normalise_hours(name, weekly_hours)
        # Per weekday: intervals as µs after local midnight (for days without a clock change).
        self._spans = tuple(
            tuple((_time_us(a), _DAY_US if b == _MIDNIGHT else _time_us(b)) for a, b in day)
            for day in self._hours
        )
        _check_holidays(name, holidays)
        self._spec = holidays
        self._holiday_years: dict[int, dict[date, str]] = {}
        self._year_intervals: dict[int, list[tuple[int, int]]] = {}
        self._table = _EMPTY
        self._hot: _Hot = ([], [], [], [], math.inf, -math.inf)
        self._hot_utc: _HotUTC = ([], [], _UTC_MAX, _UTC_MIN, [], [], 0)
        # next_business_day_close() by local date: every case created that day asks the same
        self._next_close: dict[date, datetime] = {}
        self._next_close_utc: dict[date, datetime] = {}  # the same instants in UTC
        # format() by instant: cases due at the same close of business share the text
        self._formatted: dict[datetime, str] = {}
        #: next_close_span()'s day list for the current table (made when first asked)
        self._closes: _Closes | None = None

    # ------------------------------------------------------------------ description

    @property
    def name(self) -> str:
        return self._name

    @property
    def timezone(self) -> str:
        return self._timezone

    @property
    def tz(self) -> ZoneInfo:
        return self._tz

    @property
    def holiday_spec(self) -> HolidaySpec:
        return self._spec

    @property
    def weekly_hours(self) -> Mapping[int, tuple[tuple[time, time], ...]]:
        """Weekday (0=Mon) -> intervals; days without hours are absent."""
        return {day: ivs for day, ivs in enumerate(self._hours) if ivs}

    def __repr__(self) -> str:
        return f"BusinessCalendar({self._name!r}, {self._timezone!r})"

    # ------------------------------------------------------------------ days

    def _holidays_of(self, year: int) -> dict[date, str]:
        found = self._holiday_years.get(year)
        if found is None:
            spec = self._spec
            found = {}
            if spec.country is not None:
                country = holidays_pkg.country_holidays(
                    spec.country, subdiv=spec.subdivision, years=year
                )
                found = {d: str(n) for d, n in country.items() if d.year == year}
            for d in spec.extra:
                if d.year == year:
                    found[d] = f"{found[d]}; {_EXTRA_NAME}" if d in found else _EXTRA_NAME
            for d in spec.remove:
                found.pop(d, None)
            self._holiday_years[year] = found
        return found

    def is_business_day(self, d: date) -> bool:
        """A weekday with hours that is not a holiday (extra dates closed, removed dates open)."""
        if isinstance(d, datetime):
            raise TypeError("is_business_day takes a date; use is_open() for an instant")
        return bool(self._hours[d.weekday()]) and d not in self._holidays_of(d.year)

    def holidays_between(self, start: date, end: date) -> list[tuple[date, str]]:
        """Closed dates in ``[start, end]`` (both inclusive), weekends included, sorted."""
        out: list[tuple[date, str]] = []
        for year in range(start.year, end.year + 1):
            for d, label in self._holidays_of(year).items():
                if start <= d <= end:
                    out.append((d, label))
        out.sort()
        return out

    def _day_intervals(self, d: date) -> list[tuple[int, int]]:
        """Business intervals of local date ``d`` as epoch µs (empty ones dropped)."""
        if not self.is_business_day(d):
            return []
        out: list[tuple[int, int]] = []
        tz = self._tz
        for start, end in self._hours[d.weekday()]:
            o = _wall_to_us(d, start, tz)
            c = (
                _wall_to_us(d + _DAY, _MIDNIGHT, tz)
                if end == _MIDNIGHT
                else _wall_to_us(d, end, tz)
            )
            if c > o:
                out.append((o, c))
        return out

    # ------------------------------------------------------------------ tables

    def _intervals_of_year(self, year: int) -> list[tuple[int, int]]:
        found = self._year_intervals.get(year)
        if found is None:
            found = []
            closed = self._holidays_of(year)
            spans = self._spans
            tz = self._tz
            d = date(year, 1, 1)
            offset_next = _midnight_offset_us(d, tz)
            while d.year == year:
                following = d + _DAY
                offset = offset_next
                offset_next = _midnight_offset_us(following, tz)
                day_spans = spans[d.weekday()]
                if day_spans and d not in closed:
                    if offset == offset_next:  # no clock change today: plain arithmetic
                        midnight = (d.toordinal() - _EPOCH_ORDINAL) * _DAY_US - offset
                        found += ((midnight + a, midnight + b) for a, b in day_spans)
                    else:
                        found += self._day_intervals(d)
                d = following
            self._year_intervals[year] = found
        return found

    def _year_start_us(self, year: int) -> int:
        return _wall_to_us(date(year, 1, 1), _MIDNIGHT, self._tz)

    def _build(self, first: int, end: int) -> _Table:
        bounds_us: list[int] = []
        cum_end: list[int] = []
        shift: list[int] = []
        base = [0]
        total = 0
        for year in range(first, end):
            for o, c in self._intervals_of_year(year):
                if bounds_us and bounds_us[-1] == o:  # adjacent (e.g. across midnight): merge
                    total += c - o
                    bounds_us[-1] = c
                    cum_end[-1] = total
                    base[-1] = total
                    continue
                shift.append(total - o)
                bounds_us += (o, c)
                base += (total - o, total + c - o)
                total += c - o
                cum_end.append(total)
        whole = all(x % 1_000_000 == 0 for x in bounds_us)
        has_intervals = bool(bounds_us)
        bounds_us += (_SENTINEL, _SENTINEL)
        base += (total - _SENTINEL, total)
        cum_end.append(_SENTINEL)
        shift.append(total - _SENTINEL)
        lo_us = self._year_start_us(first)
        hi_us = self._year_start_us(end)
        fast_lo, fast_hi = math.inf, -math.inf
        # The fast path compares float timestamps with whole-second boundaries.
        if has_intervals and whole:
            fast_lo = max(lo_us / 1e6, -_FAST_LIMIT)
            fast_hi = min(hi_us / 1e6, _FAST_LIMIT)
        table = _Table(
            [x / 1e6 for x in bounds_us],
            bounds_us,
            base,
            cum_end,
            shift,
            fast_lo,
            fast_hi,
            lo_us,
            hi_us,
            first,
            end,
        )
        self._table = table
        self._closes = None  # the day list belongs to the table it was made from
        # One plain tuple for the hot paths: a single attribute read, unpacked locally.
        self._hot = (table.bounds, table.base, table.cum_end, table.shift, fast_lo, fast_hi)
        self._hot_utc = self._utc_view(table)
        return table

    @staticmethod
    def _utc_view(table: _Table) -> _HotUTC:
        """The same B(x) over UTC datetimes and timedeltas, for inputs already in UTC.

        ``B(x) = base[k] + (x - bounds[k - 1])`` for odd ``k``, ``base[k]`` for even ``k``:
        comparisons of same-zone datetimes and timedelta sums are exact and need no
        conversion of the input at all.
        """
        real = len(table.bounds_us) - 2  # without the sentinel
        bounds = [_EPOCH + x * _ONE_US for x in table.bounds_us[:real]]
        base: list[timedelta] = []
        for k, value in enumerate(table.base[: real + 1]):
            base.append(_ONE_US * (value + table.bounds_us[k - 1] if k & 1 else value))
        bounds.append(_UTC_MAX)  # sentinel
        lo = _EPOCH + table.lo_us * _ONE_US
        hi = _EPOCH + table.hi_us * _ONE_US
        # add(): the interval m where B reaches the target, and the UTC instant
        # ``shifted[m] + target`` there (its opening minus B at the opening; never before
        # the table origin, because business time never outruns real time).
        intervals = len(table.cum_end) - 1
        cum_end = [_ONE_US * x for x in table.cum_end[:intervals]]
        cum_end.append(timedelta.max)  # sentinel
        shifted = [_EPOCH - _ONE_US * table.shift[m] for m in range(intervals)]
        return bounds, base, lo, hi, cum_end, shifted, intervals

    def _local_year(self, us: int) -> int:
        try:
            return (_EPOCH + us * _ONE_US).astimezone(self._tz).year
        except OverflowError:
            return 0 if us < 0 else 10000

    def _covering(self, lo_us: int, hi_us: int) -> _Table:
        """A table in which B(x) is right for every ``lo_us <= x <= hi_us``."""
        table = self._table
        if table.lo_us <= lo_us and hi_us <= table.hi_us:
            return table
        lo_year = self._local_year(lo_us)
        hi_year = self._local_year(hi_us)
        if lo_year < _FIRST_YEAR or hi_year >= _END_YEAR:
            raise CalendarError(
                f"calendar {self._name!r}: dates must lie in the years "
                f"{_FIRST_YEAR}..{_END_YEAR - 1}"
            )
        if table.end_year == 0:  # nothing built yet: just the years asked for
            first, end = lo_year, hi_year + 1
        else:  # growing: one year of slack in the direction of growth
            first = table.first_year if lo_year >= table.first_year else lo_year - 1
            end = table.end_year if hi_year < table.end_year else hi_year + 2
        first = max(first, _FIRST_YEAR)
        end = min(end, _END_YEAR)
        return self._build(first, end)

    def _grow_forward(self) -> _Table:
        """Extend the table into later years; the origin (and so every B value) is kept."""
        table = self._table
        if table.end_year >= _END_YEAR:
            raise CalendarError(
                f"calendar {self._name!r}: not enough business time before year {_END_YEAR}"
            )
        span = table.end_year - table.first_year
        return self._build(table.first_year, min(_END_YEAR, table.end_year + max(2, span)))

    @staticmethod
    def _b(table: _Table, x: int) -> int:
        """B(x): business µs from the table origin to ``x`` (``x`` must be covered)."""
        k = bisect_right(table.bounds_us, x)
        return table.base[k] + x if k & 1 else table.base[k]

    # ------------------------------------------------------------------ conversions

    def _from_us(self, us: int) -> datetime:
        if -_FAST_LIMIT_US < us < _FAST_LIMIT_US:
            return datetime.fromtimestamp(us / 1e6, self._tz)
        return (_EPOCH + us * _ONE_US).astimezone(self._tz)

    # ------------------------------------------------------------------ the clock
    #
    # The public methods try, in order: the UTC path (inputs already in UTC: datetime
    # and timedelta arithmetic, exact); the float path (other zones: inside the years
    # 1834-2106 a float timestamp is within 0.49 µs of the exact instant, interval
    # boundaries are whole seconds, so comparisons against them are exact and
    # ``(f * 1e6).__round__()`` recovers the exact microsecond); and exact integers
    # for everything else (first use of a year, far dates, e <= s, pauses).

    def is_open(self, t: datetime) -> bool:
        """True when ``t`` lies inside business hours (closed at the closing instant)."""
        if t.tzinfo is None:
            raise _naive_error("is_open(t)", t)
        f = t.timestamp()
        table = self._table
        if table.fast_lo <= f < table.fast_hi:
            return bisect_right(table.bounds, f) & 1 == 1
        x = _to_us(t, "is_open(t)")
        return bisect_right(self._covering(x, x).bounds_us, x) & 1 == 1

    def elapsed(
        self,
        start: datetime,
        end: datetime,
        pauses: Iterable[tuple[datetime, datetime]] = (),
    ) -> timedelta:
        """Business time in ``[start, end]`` minus business time inside ``pauses``.

        Zero when ``end <= start``.  Pauses are clipped to ``[start, end]`` and may
        overlap each other; overlapping business time is subtracted once.
        """
        if start.tzinfo is UTC and end.tzinfo is UTC and not pauses:
            # Inputs in UTC (how the bridge keeps Jira times): no conversion at all.
            bounds_utc, base_utc, lo_utc, hi_utc, _, _, _ = self._hot_utc
            if lo_utc <= start < end <= hi_utc:
                ks = bisect_right(bounds_utc, start)
                ke = bisect_right(bounds_utc, end, ks)
                span = base_utc[ke] - base_utc[ks]
                if ke & 1:
                    span += end - bounds_utc[ke - 1]
                if ks & 1:
                    span -= start - bounds_utc[ks - 1]
                return span
        if start.tzinfo is None:
            raise _naive_error("elapsed(start)", start)
        if end.tzinfo is None:
            raise _naive_error("elapsed(end)", end)
        fs = start.timestamp()
        fe = end.timestamp()
        bounds, base, _, _, lo, hi = self._hot
        if lo <= fs < fe <= hi and not pauses:
            ks = bisect_right(bounds, fs)
            ke = bisect_right(bounds, fe, ks)
            total = base[ke] - base[ks]
            if ke & 1:
                total += (fe * 1e6).__round__()
            if ks & 1:
                total -= (fs * 1e6).__round__()
            return _ONE_US * total
        s = _to_us(start, "elapsed(start)")
        e = _to_us(end, "elapsed(end)")
        if e <= s:
            return _ZERO
        table = self._covering(s, e)
        total = self._b(table, e) - self._b(table, s)
        if pauses:
            total -= self._paused(table, s, e, pauses)
        return _ONE_US * total

    def _paused(
        self, table: _Table, s: int, e: int, pauses: Iterable[tuple[datetime, datetime]]
    ) -> int:
        clipped: list[tuple[int, int]] = []
        for n, (p_start, p_end) in enumerate(pauses):
            a = max(_to_us(p_start, f"pause {n + 1} start"), s)
            b = min(_to_us(p_end, f"pause {n + 1} end"), e)
            if b > a:
                clipped.append((a, b))
        clipped.sort()
        paused = 0
        run: tuple[int, int] | None = None
        for a, b in clipped:  # merge overlapping pauses, then count business time once
            if run is not None and a <= run[1]:
                run = (run[0], max(run[1], b))
                continue
            if run is not None:
                paused += self._b(table, run[1]) - self._b(table, run[0])
            run = (a, b)
        if run is not None:
            paused += self._b(table, run[1]) - self._b(table, run[0])
        return paused

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant at which ``duration`` of business time has passed since ``start``.

        Due exactly at closing when the time runs out at closing; ``add(start, 0)`` is
        ``start`` (in the calendar's zone) even outside business hours.
        """
        if start.tzinfo is UTC and duration > _ZERO:
            # Inputs in UTC: exact datetime/timedelta arithmetic, no conversion in.
            bounds_utc, base_utc, lo_utc, hi_utc, cum_end_utc, shifted, intervals = self._hot_utc
            if lo_utc <= start < hi_utc:
                k = bisect_right(bounds_utc, start)
                reached = base_utc[k] + duration
                if k & 1:
                    reached += start - bounds_utc[k - 1]
                m = bisect_left(cum_end_utc, reached)
                if m < intervals:
                    return (shifted[m] + reached).astimezone(self._tz)
        if start.tzinfo is None:
            raise _naive_error("add(start)", start)
        fs = start.timestamp()
        d = duration // _ONE_US
        bounds, base, cum_end, shift, lo, hi = self._hot
        if d > 0 and lo <= fs < hi:
            k = bisect_right(bounds, fs)
            target = base[k] + d
            if k & 1:
                target += (fs * 1e6).__round__()
            x = target - shift[bisect_left(cum_end, target)]
            if x < _FAST_LIMIT_US:  # false for the sentinel: target lies in later years
                return _fromtimestamp(x / 1e6, self._tz)
        return self._add_exact(start, d)

    def _add_exact(self, start: datetime, d: int) -> datetime:
        s = _to_us(start, "add(start)")
        if d <= 0:
            if d < 0:
                raise ValueError(
                    f"add() needs a duration >= 0, got {_ONE_US * d}; "
                    "business time cannot be subtracted"
                )
            return self._from_us(s)
        table = self._covering(s, s)
        target = self._b(table, s) + d
        j = bisect_left(table.cum_end, target)
        while j == len(table.cum_end) - 1:  # only the sentinel is left: need later years
            table = self._grow_forward()
            j = bisect_left(table.cum_end, target)
        return self._from_us(target - table.shift[j])

    def next_business_day_close(self, start: datetime) -> datetime:
        """Close of business of the first business day after the local date of ``start``."""
        local = start.astimezone(self._tz) if start.tzinfo is not None else None
        if local is None:
            raise _naive_error("next_business_day_close(start)", start)
        d = local.date()
        found = self._next_close.get(d)
        if found is not None:
            return found
        day = d
        for _ in range(3660):  # ten years without a business day is a broken calendar
            if d.year >= _END_YEAR:
                break
            d += _DAY
            intervals = self._day_intervals(d)
            if intervals:
                if len(self._next_close) >= 4096:  # bounded: a year of dates, many times over
                    self._next_close.clear()
                found = self._next_close[day] = self._from_us(intervals[-1][1])
                return found
        raise CalendarError(
            f"calendar {self._name!r}: no business day within ten years after {local.date()}"
        )

    def next_business_day_close_utc(self, start: datetime) -> datetime:
        """``next_business_day_close(start)`` in UTC: the input ``elapsed()`` answers fastest."""
        local = start.astimezone(self._tz) if start.tzinfo is not None else None
        if local is not None:
            found = self._next_close_utc.get(local.date())
            if found is not None:
                return found
        close = self.next_business_day_close(start)  # raises for a naive ``start``
        assert local is not None
        if len(self._next_close_utc) >= 4096:  # bounded like _next_close
            self._next_close_utc.clear()
        found = self._next_close_utc[local.date()] = close.astimezone(UTC)
        return found

    def _closes_of(self, table: _Table) -> _Closes:
        """The business days of ``table``'s years, each with its close."""
        starts: list[float] = []
        closes: list[datetime] = []
        close_us: list[int] = []
        b_close: list[int] = []
        tz = self._tz
        d, end = date(table.first_year, 1, 1), date(table.end_year, 1, 1)
        while d < end:
            intervals = self._day_intervals(d)
            if intervals:
                close = intervals[-1][1]
                starts.append(_wall_to_us(d, _MIDNIGHT, tz) / 1e6)
                closes.append(self._from_us(close))
                close_us.append(close)
                b_close.append(self._b(table, close))
            d += _DAY
        return _Closes(table, starts, closes, close_us, b_close)

    def next_close_span(
        self, start: datetime, now: datetime
    ) -> tuple[datetime, timedelta, timedelta, bool] | None:
        """The next-business-day target of a case created at ``start``, seen at ``now``.

        ``(close, business, used, past)``: ``next_business_day_close(start)`` (in the
        calendar's zone), ``elapsed(start, close)``, ``elapsed(start, now)`` and whether
        ``now`` is after the close.  One call instead of four, without converting
        ``start`` to any zone: the first business day after ``start``'s local date is the
        first whose local midnight is after ``start``.  None when either instant lies
        outside the tables' fast range, when the next business day lies beyond the
        tables' years, or when the tables span more than ``_CLOSES_YEARS`` years (cases
        decades apart: the day list is not worth building); ask the four questions one
        by one then.
        """
        if start.tzinfo is None:
            raise _naive_error("next_close_span(start)", start)
        if now.tzinfo is None:
            raise _naive_error("next_close_span(now)", now)
        table = self._table
        if table.end_year - table.first_year > _CLOSES_YEARS:
            return None
        fs, fn = start.timestamp(), now.timestamp()
        lo, hi = table.fast_lo, table.fast_hi
        if not (lo <= fs < hi and lo <= fn < hi):
            return None
        closes = self._closes
        if closes is None:
            closes = self._closes = self._closes_of(table)
        i = bisect_right(closes.starts, fs)  # midnights are whole seconds: exact, see above
        if i >= len(closes.starts):
            return None
        bounds, base = table.bounds, table.base
        s = (fs * 1e6).__round__()
        k = bisect_right(bounds, fs)
        b_start = base[k] + s if k & 1 else base[k]
        n = (fn * 1e6).__round__()
        k = bisect_right(bounds, fn)
        b_now = base[k] + n if k & 1 else base[k]
        return (
            closes.closes[i],
            _ONE_US * (closes.b_close[i] - b_start),
            _ONE_US * (b_now - b_start) if n > s else _ZERO,
            n > closes.close_us[i],
        )

    def format(self, t: datetime) -> str:
        """``Mon 30 Nov 2026 17:00 AEST`` in the calendar's zone (locale-independent)."""
        if t.tzinfo is None:
            raise _naive_error("format(t)", t)
        # The text depends only on the instant.  Only fold=0 times are remembered: two
        # times of one zone compare by their wall clock alone, so the two instants of a
        # repeated hour would share an entry.
        remember = t.fold == 0
        if remember:
            found = self._formatted.get(t)
            if found is not None:
                return found
        local = t.astimezone(self._tz)
        found = (
            f"{_DAY_NAMES[local.weekday()]} {local.day} {_MONTH_NAMES[local.month - 1]} "
            f"{local.year} {local.hour:02d}:{local.minute:02d} {local.tzname()}"
        )
        if remember:
            if len(self._formatted) >= 4096:  # bounded: dues cluster on business-day closes
                self._formatted.clear()
            self._formatted[t] = found
        return found
