"""The business clock: business hours, holidays and DST, in real seconds.

A :class:`BusinessCalendar` answers the questions SLA targets ask (SPEC §2, "Clock
semantics"):

* ``add(start, duration)`` — when does ``duration`` of business time run out?
* ``elapsed(start, end, pauses)`` — how much business time lies between two instants?
* ``next_business_day_close(start)`` — close of business of the first business day
  after the calendar day of ``start`` (the next close).
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

How it works
------------
Per calendar we keep, for a contiguous range of local years, the business intervals
as UTC datetimes plus the cumulative business time before each interval.  ``B(t)`` (business time since the table origin) is one bisection;
``elapsed = B(end) - B(start)`` and ``add`` is a bisection on the cumulative array.
``next_business_day_close`` bisects the local midnights of each year's business
days.  The tables are built lazily for the years actually used and extended on
demand, for any year from 2 to 9998.  Holidays come from the ``holidays`` package
(pure computation) one year at a time.  Every question takes the same one path:
the instant in UTC, a bisection, exact datetime arithmetic, the answer.

Inputs are aware datetimes in any zone; a naive datetime is a :class:`ValueError`.
Results are aware datetimes in the calendar's zone.
"""

from __future__ import annotations

import difflib
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_pkg

from bridge.policy.memo import PER_CASE, Memo

if TYPE_CHECKING:  # pragma: no cover
    from bridge.policy.sla import Due

__all__ = ("BusinessCalendar", "CalendarError", "HolidaySpec")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_ZERO = timedelta(0)
_MIDNIGHT = time(0)
_DAY = timedelta(days=1)
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
    #: holidays the office works, by name as the `holidays` package gives it
    #: ("Columbus Day"); its observed day ("Columbus Day (observed)") too
    leave_out: frozenset[str] = frozenset()


#: The years whose holiday names a ``leave_out`` name is checked against.
_NAME_YEARS = range(2020, 2032)


def _kept(label: str, leave_out: frozenset[str]) -> str:
    """The holidays named on a date (the package joins several with "; ") that are not
    left out (``leave_out`` case-folded); "" when the office works that day."""
    return "; ".join(p for p in label.split("; ") if not _name_left_out(p, leave_out))


def _name_left_out(name: str, leave_out: frozenset[str]) -> bool:
    folded = name.strip().casefold()
    base = folded.split(" (", 1)[0]  # "independence day (observed)" -> "independence day"
    return folded in leave_out or base in leave_out


def holiday_names(country: str, subdivision: str | None) -> frozenset[str]:
    """Every holiday name a country (subdivision) has in 2020-2031, "(observed)" dropped."""
    found = holidays_pkg.country_holidays(country, subdiv=subdivision, years=_NAME_YEARS)
    names: set[str] = set()
    for label in found.values():
        names.update(part.split(" (", 1)[0] for part in str(label).split("; "))
    return frozenset(names)


def holidays_near(
    country: str, subdivision: str | None, day: date, days: int = 3
) -> dict[date, str]:
    """The country's (subdivision's) holidays within ``days`` of ``day``, by date: whether
    a date a calendar's ``remove`` names is a holiday at all, and which one was meant."""
    found = holidays_pkg.country_holidays(
        country, subdiv=subdivision, years={day.year - 1, day.year, day.year + 1}
    )
    span = timedelta(days=days)
    return {d: str(name) for d, name in found.items() if abs(d - day) <= span}


def _naive_error(what: str, value: datetime) -> ValueError:
    return ValueError(
        f"{what} must be a timezone-aware datetime, got naive {value.isoformat()}; "
        "attach a zone, e.g. value.replace(tzinfo=ZoneInfo('UTC'))"
    )


def _utc(t: datetime, what: str = "datetime") -> datetime:
    """An aware datetime as the same instant in UTC."""
    if t.tzinfo is None or t.utcoffset() is None:
        raise _naive_error(what, t)
    return t if t.tzinfo is UTC else t.astimezone(UTC)


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
        if spec.leave_out:
            raise CalendarError(f"calendar {name!r}: leave_out names holidays without a country")
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
    if spec.leave_out:
        names = holiday_names(spec.country, spec.subdivision)
        folded = {n.casefold() for n in names}
        unknown = sorted(n for n in spec.leave_out if n.strip().casefold() not in folded)
        if unknown:
            where = spec.country + (f"-{spec.subdivision}" if spec.subdivision else "")
            close = difflib.get_close_matches(unknown[0], sorted(names), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise CalendarError(
                f"calendar {name!r}: leave_out names {', '.join(map(repr, unknown))}, which "
                f"is not a holiday of {where}{hint}; its holidays: {', '.join(sorted(names))}"
            )


class _Table(NamedTuple):
    """One immutable snapshot of the interval tables; swapped in whole on extension.

    ``bounds`` interleaves the openings and closings of the business intervals
    ``[o0, c0, o1, c1, ...]`` as UTC datetimes.  For an instant ``x`` (in UTC) let
    ``k = bisect_right(bounds, x)``: ``k`` odd means ``x`` is inside an interval, even
    means it is closed.  Then

        B(x) = base[k] + (x - bounds[k - 1] if k is odd else 0)

    is the business time from the table origin to ``x``.  ``cum_end[m]`` is B at the
    close of interval ``m``, and B reaches ``target`` inside interval ``m`` at
    ``shifted[m] + target``.  Sentinels (``datetime.max``, ``timedelta.max``) close the
    lists, so bisections never run off the end.  UTC datetime and timedelta
    arithmetic is exact to the microsecond over every year a datetime holds.
    """

    bounds: list[datetime]
    base: list[timedelta]  # per k, see above
    cum_end: list[timedelta]  # per interval: B at its close
    shifted: list[datetime]  # per interval: its opening minus B at the opening
    lo: datetime  # exact coverage: B(x) is right for lo <= x <= hi
    hi: datetime
    first_year: int  # local years [first_year, end_year) are in the table
    end_year: int


class _Days(NamedTuple):
    """A local year's business days: where each begins (its local midnight) and its close."""

    starts: list[datetime]  # in UTC
    close_utc: list[datetime]
    closes: list[datetime]  # the same closes in the calendar's zone


_UTC_MAX = datetime.max.replace(tzinfo=UTC)
_UTC_MIN = datetime.min.replace(tzinfo=UTC)
_EMPTY = _Table([], [], [], [], _UTC_MAX, _UTC_MIN, 0, 0)


def _utc_of(us: int) -> datetime:
    return _EPOCH + _ONE_US * us


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
        self._listed_years: dict[int, dict[date, str]] = {}  # the holidays package's
        self._holiday_years: dict[int, dict[date, str]] = {}
        self._year_intervals: dict[int, list[tuple[int, int]]] = {}
        self._table = _EMPTY
        self._days: dict[int, _Days] = {}  # local year -> its business days
        #: local year -> the listed holidays the calendar keeps open (for explain)
        self._worked_years: dict[int, tuple[tuple[date, str], ...]] = {}
        # format() by instant: cases due at the same close of business share the text
        self._formatted: dict[datetime, str] = {}
        #: ``sla.target_due``'s answers by (start, target): the same every cycle
        self.dues: Memo[tuple[datetime, object], Due] = Memo(PER_CASE)
        #: ``holidays_on_working_days``'s answers by (first day, last day, worked): cases
        #: raised on the same day and due on the same day share them
        self.holidays_seen: Memo[tuple[date, date, bool], tuple[tuple[date, str], ...]] = Memo()

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

    def _listed_of(self, year: int) -> dict[date, str]:
        """The country's public holidays of ``year`` as the holidays package lists them
        (asked once per year: the package builds a country's year slowly)."""
        found = self._listed_years.get(year)
        if found is None:
            spec = self._spec
            found = {}
            if spec.country is not None:
                country = holidays_pkg.country_holidays(
                    spec.country, subdiv=spec.subdivision, years=year
                )
                found = {d: str(n) for d, n in country.items() if d.year == year}
            self._listed_years[year] = found
        return found

    def _holidays_of(self, year: int) -> dict[date, str]:
        found = self._holiday_years.get(year)
        if found is None:
            spec = self._spec
            found = dict(self._listed_of(year))
            if spec.leave_out:
                out = frozenset(n.strip().casefold() for n in spec.leave_out)
                kept = {d: _kept(n, out) for d, n in found.items()}
                found = {d: n for d, n in kept.items() if n}
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

    def worked_holidays_between(self, start: date, end: date) -> list[tuple[date, str]]:
        """The country's public holidays in ``[start, end]`` that the calendar keeps open
        (``leave_out``, ``remove``): days the office works though the list closes them."""
        out: list[tuple[date, str]] = []
        for year in range(start.year, end.year + 1):
            out.extend((d, n) for d, n in self._worked_of(year) if start <= d <= end)
        return sorted(out)

    def holidays_on_working_days(
        self, start: date, end: date, *, worked: bool = False
    ) -> tuple[tuple[date, str], ...]:
        """The holidays in ``[start, end]`` that fall on a weekday with business hours (the
        ones a due time moves past), sorted: those the calendar closes on, or with
        ``worked`` the country's holidays it works (``leave_out``, ``remove``).  What
        ``explain``, ``due`` and ``check`` list (kept by the days asked)."""
        key = (start, end, worked)
        kept = self.holidays_seen.get(key)
        if kept is None:
            found = self.worked_holidays_between if worked else self.holidays_between
            listed = tuple((d, name) for d, name in found(start, end) if self._hours[d.weekday()])
            kept = self.holidays_seen.keep(key, listed)
        return kept

    def _worked_of(self, year: int) -> tuple[tuple[date, str], ...]:
        """The country's holidays listed for ``year`` that the calendar keeps open."""
        found = self._worked_years.get(year)
        if found is None:
            closed = self._holidays_of(year)
            found = tuple((d, n) for d, n in self._listed_of(year).items() if d not in closed)
            self._worked_years[year] = found
        return found

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
        merged: list[list[int]] = []  # business intervals, epoch µs; adjacent ones joined
        for year in range(first, end):
            for o, c in self._intervals_of_year(year):
                if merged and merged[-1][1] == o:  # adjacent (e.g. across midnight)
                    merged[-1][1] = c
                else:
                    merged.append([o, c])
        bounds: list[datetime] = []
        base = [_ZERO]
        cum_end: list[timedelta] = []
        shifted: list[datetime] = []
        total = _ZERO
        for o, c in merged:
            opening, closing = _utc_of(o), _utc_of(c)
            bounds += (opening, closing)
            shifted.append(opening - total)
            base.append(total)
            total += closing - opening
            base.append(total)
            cum_end.append(total)
        bounds.append(_UTC_MAX)
        cum_end.append(timedelta.max)
        lo, hi = _utc_of(self._year_start_us(first)), _utc_of(self._year_start_us(end))
        table = _Table(bounds, base, cum_end, shifted, lo, hi, first, end)
        self._table = table
        return table

    def _local_year(self, x: datetime) -> int:
        try:
            return x.astimezone(self._tz).year
        except OverflowError:
            return 0 if x.year < 5000 else 10000

    def _covering(self, lo: datetime, hi: datetime) -> _Table:
        """A table in which B(x) is right for every ``lo <= x <= hi`` (UTC)."""
        table = self._table
        if table.lo <= lo and hi <= table.hi:
            return table
        return self._extended(lo, hi)

    def _extended(self, lo: datetime, hi: datetime) -> _Table:
        table = self._table
        lo_year = self._local_year(lo)
        hi_year = self._local_year(hi)
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
    def _b(table: _Table, x: datetime) -> timedelta:
        """B(x): business time from the table origin to ``x`` (UTC, covered by ``table``)."""
        k = bisect_right(table.bounds, x)
        return table.base[k] + (x - table.bounds[k - 1]) if k & 1 else table.base[k]

    # ------------------------------------------------------------------ the clock
    #
    # One path for every question: the instant in UTC (inputs in UTC, as the bridge
    # keeps Jira times, need no conversion), a bisection in the tables, exact datetime
    # and timedelta arithmetic, the answer in the calendar's zone.

    def is_open(self, t: datetime) -> bool:
        """True when ``t`` lies inside business hours (closed at the closing instant)."""
        x = _utc(t, "is_open(t)")
        return bisect_right(self._covering(x, x).bounds, x) & 1 == 1

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
        s = start if start.tzinfo is UTC else _utc(start, "elapsed(start)")
        e = end if end.tzinfo is UTC else _utc(end, "elapsed(end)")
        if e <= s:
            return _ZERO
        table = self._covering(s, e)
        # B(e) - B(s), with one bisection from where the first left off
        bounds, base = table.bounds, table.base
        ks = bisect_right(bounds, s)
        ke = bisect_right(bounds, e, ks)
        total = base[ke] - base[ks]
        if ke & 1:
            total += e - bounds[ke - 1]
        if ks & 1:
            total -= s - bounds[ks - 1]
        if pauses:
            total -= self._paused(table, s, e, pauses)
        return total

    def _paused(
        self,
        table: _Table,
        s: datetime,
        e: datetime,
        pauses: Iterable[tuple[datetime, datetime]],
    ) -> timedelta:
        clipped: list[tuple[datetime, datetime]] = []
        for n, (p_start, p_end) in enumerate(pauses):
            a = max(_utc(p_start, f"pause {n + 1} start"), s)
            b = min(_utc(p_end, f"pause {n + 1} end"), e)
            if b > a:
                clipped.append((a, b))
        clipped.sort()
        paused = _ZERO
        run: tuple[datetime, datetime] | None = None
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
        s = start if start.tzinfo is UTC else _utc(start, "add(start)")
        if duration <= _ZERO:
            if duration < _ZERO:
                raise ValueError(
                    f"add() needs a duration >= 0, got {duration}; "
                    "business time cannot be subtracted"
                )
            return s.astimezone(self._tz)
        table = self._covering(s, s)
        target = self._b(table, s) + duration
        m = bisect_left(table.cum_end, target)
        while m == len(table.cum_end) - 1:  # only the sentinel is left: need later years
            table = self._grow_forward()
            m = bisect_left(table.cum_end, target)
        return (table.shifted[m] + target).astimezone(self._tz)

    def next_business_day_close(self, start: datetime) -> datetime:
        """Close of business of the first business day after the local date of ``start``."""
        return self.next_close(start)[0]

    def next_close(self, start: datetime) -> tuple[datetime, timedelta]:
        """The close of business of the first business day after the local date of
        ``start`` (the first business day whose local midnight is after ``start``), and
        the business time from ``start`` to it."""
        s = _utc(start, "next_business_day_close(start)")
        # local years differ from UTC years by less than a day: start a year early;
        # ten years without a business day is a broken calendar
        for year in range(max(s.year - 1, _FIRST_YEAR), min(s.year + 11, _END_YEAR)):
            days = self._business_days(year)
            i = bisect_right(days.starts, s)
            if i < len(days.starts):
                close = days.close_utc[i]
                table = self._covering(s, close)
                return days.closes[i], self._b(table, close) - self._b(table, s)
        local = start.astimezone(self._tz).date()
        raise CalendarError(
            f"calendar {self._name!r}: no business day within ten years after {local}"
        )

    def _business_days(self, year: int) -> _Days:
        """The local year's business days (made once per year)."""
        found = self._days.get(year)
        if found is None:
            starts: list[datetime] = []
            close_utc: list[datetime] = []
            d = date(year, 1, 1)
            while d.year == year:
                intervals = self._day_intervals(d)
                if intervals:
                    starts.append(_utc_of(_wall_to_us(d, _MIDNIGHT, self._tz)))
                    close_utc.append(_utc_of(intervals[-1][1]))
                d += _DAY
            closes = [c.astimezone(self._tz) for c in close_utc]
            found = self._days[year] = _Days(starts, close_utc, closes)
        return found

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
