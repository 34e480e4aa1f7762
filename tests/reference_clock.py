"""A slow, obviously-correct business clock that walks day by day.

It shares no code with :mod:`bridge.policy.clock`: it builds each local day's
intervals from wall-clock times with plain ``datetime`` arithmetic (exact to the
microsecond) and walks them one by one.  Tests and ``bench/clock.py`` check the fast
table-driven clock against it.

Conventions (the same contract as the real clock):

* an interval ``(start, end)`` is the wall-clock interval of that local date;
  ``end == time(0)`` means 24:00; intervals are half-open ``[open, close)``;
* a wall time in a spring-forward gap means the moment the clocks jump (the first
  wall time after it that exists); an ambiguous wall time means its first occurrence;
* closed days: the ``holidays`` package's dates for country/subdivision, plus
  ``extra``, minus ``remove``;
* ``add(s, 0) == s``; otherwise the earliest instant at which the time is used up.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays

_DAY = timedelta(days=1)
_MINUTE = timedelta(minutes=1)


class ReferenceClock:
    def __init__(
        self,
        timezone: str,
        weekly_hours: Mapping[int, Sequence[tuple[time, time]]],
        country: str | None = None,
        subdivision: str | None = None,
        extra: Iterable[date] = (),
        remove: Iterable[date] = (),
    ) -> None:
        self.tz = ZoneInfo(timezone)
        self.hours = {day: list(ivs) for day, ivs in weekly_hours.items()}
        self.country = country
        self.subdivision = subdivision
        self.extra = set(extra)
        self.remove = set(remove)
        self._years: dict[int, set[date]] = {}

    # -------------------------------------------------------------- days

    def closed(self, d: date) -> bool:
        if d in self.remove:
            return False
        if d in self.extra:
            return True
        if self.country is None:
            return False
        if d.year not in self._years:
            found = holidays.country_holidays(self.country, subdiv=self.subdivision, years=d.year)
            self._years[d.year] = set(found)
        return d in self._years[d.year]

    def wall(self, d: date, t: time) -> datetime:
        """The instant of wall time ``t`` on ``d``, as an aware UTC datetime."""
        naive = datetime.combine(d, t)
        while True:
            instant = naive.replace(tzinfo=self.tz).astimezone(UTC)
            if instant.astimezone(self.tz).replace(tzinfo=None) == naive:
                return instant
            naive += _MINUTE  # inside a gap: the first wall time that exists

    def intervals(self, d: date) -> list[tuple[datetime, datetime]]:
        if self.closed(d):
            return []
        out = []
        for start, end in self.hours.get(d.weekday(), []):
            opening = self.wall(d, start)
            closing = self.wall(d + _DAY, time(0)) if end == time(0) else self.wall(d, end)
            if closing > opening:
                out.append((opening, closing))
        return out

    def local_date(self, t: datetime) -> date:
        return t.astimezone(self.tz).date()

    # -------------------------------------------------------------- the clock

    def is_open(self, t: datetime) -> bool:
        d = self.local_date(t)
        return any(o <= t < c for day in (d - _DAY, d) for o, c in self.intervals(day))

    def elapsed(
        self, s: datetime, e: datetime, pauses: Iterable[tuple[datetime, datetime]] = ()
    ) -> timedelta:
        if e <= s:
            return timedelta(0)
        merged: list[list[datetime]] = []
        for a, b in sorted((max(a, s), min(b, e)) for a, b in pauses):
            if b <= a:
                continue
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], b)
            else:
                merged.append([a, b])
        total = timedelta(0)
        d = self.local_date(s) - _DAY
        last = self.local_date(e)
        while d <= last:
            for o, c in self.intervals(d):
                a, b = max(o, s), min(c, e)
                if b <= a:
                    continue
                total += b - a
                for pa, pb in merged:
                    qa, qb = max(a, pa), min(b, pb)
                    if qb > qa:
                        total -= qb - qa
            d += _DAY
        return total

    def add(self, s: datetime, duration: timedelta) -> datetime:
        if duration == timedelta(0):
            return s.astimezone(self.tz)
        remaining = duration
        d = self.local_date(s) - _DAY
        while True:
            for o, c in self.intervals(d):
                a = max(o, s)
                if a >= c:
                    continue
                if remaining <= c - a:
                    return (a + remaining).astimezone(self.tz)
                remaining -= c - a
            d += _DAY

    def next_business_day_close(self, s: datetime) -> datetime:
        d = self.local_date(s) + _DAY
        while not self.intervals(d):
            d += _DAY
        return self.intervals(d)[-1][1].astimezone(self.tz)
