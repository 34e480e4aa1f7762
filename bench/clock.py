"""Benchmark of the business clock against two peers, plus a correctness check.

    .venv/bin/python bench/clock.py [--cases N] [--seed S]

* Our ``BusinessCalendar.add`` / ``elapsed`` on 100,000 seeded random cases over three
  years on America/New_York, Mon-Fri 09:00-17:00, US public holidays.
* The same cases through ``businesstime`` (elapsed) and pandas ``CustomBusinessHour``
  (add of whole hours).  Both peers are naive wall-clock libraries: they get the
  cases as naive New York wall times.  They are much slower per call, so they are
  timed on the first part of the same case list (the count is printed).
* Agreement of our clock with the slow day-walking reference in
  ``tests/reference_clock.py`` on a sample (must be zero disagreements; exit 1
  otherwise), on the bench calendar and on a harder one (Lord Howe Island's
  30-minute DST shift, split hours, weekend hours, AU/NSW holidays).

Our clock is timed twice on the same instants: as ``datetime.UTC`` inputs (how the
bridge keeps Jira times; the fastest path, no input conversion) and as
America/New_York ``ZoneInfo`` inputs (converted with ``timestamp()``).

Timings are the best of three runs of a plain loop, in µs per call, as wall clock and
as this process's CPU time — ours and the peers' alike (the same number of runs each,
so no side is compared cold against the other warm).  The load average is printed because other processes on
the machine inflate both.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time as clock_time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
# bench/http.py must not stand in for the standard library's `http`: drop this script's
# own directory from the import path (Python puts it first).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import holidays  # noqa: E402
from reference_clock import ReferenceClock  # noqa: E402

from bridge.policy.clock import BusinessCalendar, HolidaySpec  # noqa: E402

ZONE = "America/New_York"
NY = ZoneInfo(ZONE)
HOURS = {day: [(time(9), time(17))] for day in range(5)}
FIRST, LAST = datetime(2025, 1, 1, tzinfo=UTC), datetime(2028, 1, 1, tzinfo=UTC)


#: every timing here, ours and the peers' alike, is the best of this many runs
RUNS = 3


class Timing:
    """Best-of-N seconds for one loop: wall clock and this process's CPU time."""

    def __init__(self, runs: int, loop: Callable[[], object]) -> None:
        self.wall = self.cpu = float("inf")
        for _ in range(runs):
            w0, c0 = clock_time.perf_counter(), clock_time.process_time()
            loop()
            self.wall = min(self.wall, clock_time.perf_counter() - w0)
            self.cpu = min(self.cpu, clock_time.process_time() - c0)

    def per_call(self, n: int) -> tuple[float, float]:
        return self.wall / n * 1e6, self.cpu / n * 1e6


def make_cases(n: int, seed: int) -> list[tuple[datetime, datetime, int]]:
    """(start, end, whole hours) with millisecond precision, like Jira timestamps."""
    rnd = random.Random(seed)
    span = int((LAST - FIRST).total_seconds())
    cases = []
    for _ in range(n):
        start = FIRST + timedelta(seconds=rnd.randrange(span), milliseconds=rnd.randrange(1000))
        end = start + timedelta(seconds=rnd.randrange(30 * 86400), milliseconds=rnd.randrange(1000))
        cases.append((start, end, rnd.randrange(1, 41)))
    return cases


Pair = tuple[float, float]  # (wall µs, CPU µs) per call


def row(label: str, ours: Pair, peer: Pair | None, peer_n: int, note: str) -> str:
    text = f"  {label:<32} {ours[0]:>7.2f} {ours[1]:>7.2f}"
    if peer is None:
        return f"{text} {'':>9} {'':>7}  {note}"
    return f"{text} {peer[0]:>9.1f} {peer[0] / ours[0]:>6.0f}x  {note} ({peer_n:,} cases)"


def check_against_reference(
    cal: BusinessCalendar,
    ref: ReferenceClock,
    cases: Sequence[tuple[datetime, datetime, timedelta]],
) -> list[str]:
    problems = []
    for s, e, d in cases:
        got, want = cal.add(s, d), ref.add(s, d)
        if got.astimezone(UTC) != want.astimezone(UTC) or got.tzinfo is not want.tzinfo:
            problems.append(
                f"add({s.isoformat()}, {d}) = {got.isoformat()}, reference {want.isoformat()}"
            )
        got_e, want_e = cal.elapsed(s, e), ref.elapsed(s, e)
        if got_e != want_e:
            problems.append(
                f"elapsed({s.isoformat()}, {e.isoformat()}) = {got_e}, reference {want_e}"
            )
        if cal.is_open(s) != ref.is_open(s):
            problems.append(f"is_open({s.isoformat()}) = {cal.is_open(s)}")
        got_c, want_c = cal.next_business_day_close(s), ref.next_business_day_close(s)
        if got_c.astimezone(UTC) != want_c.astimezone(UTC):
            problems.append(
                f"next_business_day_close({s.isoformat()}) = {got_c.isoformat()}, reference {want_c.isoformat()}"
            )
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=20261130)
    parser.add_argument("--peer-cases", type=int, default=20_000, help="businesstime cases")
    parser.add_argument("--pandas-cases", type=int, default=4_000, help="pandas cases")
    parser.add_argument("--reference-cases", type=int, default=5_000)
    args = parser.parse_args(argv)

    started = clock_time.perf_counter()
    us_holidays = HolidaySpec("US")
    cal = BusinessCalendar("bench", ZONE, HOURS, us_holidays)
    cases = make_cases(args.cases, args.seed)
    starts = [s for s, _, _ in cases]
    pairs = [(s, e) for s, e, _ in cases]
    adds = [(s, timedelta(hours=n)) for s, _, n in cases]
    local_pairs = [(s.astimezone(NY), e.astimezone(NY)) for s, e in pairs]
    local_adds = [(s.astimezone(NY), d) for s, d in adds]
    n = len(cases)

    # Cold start: the first call builds the tables for the years it needs.
    t0 = clock_time.perf_counter()
    cal.elapsed(FIRST, LAST + timedelta(days=400))
    cold_ms = (clock_time.perf_counter() - t0) * 1e3

    add, elapsed = cal.add, cal.elapsed
    ours_add = Timing(RUNS, lambda: [add(s, d) for s, d in adds]).per_call(n)
    ours_elapsed = Timing(RUNS, lambda: [elapsed(s, e) for s, e in pairs]).per_call(n)
    ours_add_local = Timing(RUNS, lambda: [add(s, d) for s, d in local_adds]).per_call(n)
    ours_elapsed_local = Timing(RUNS, lambda: [elapsed(s, e) for s, e in local_pairs]).per_call(n)
    ts = Timing(RUNS, lambda: [s.timestamp() for s in starts]).per_call(n)

    # ---------------------------------------------------------------- peers
    import pandas as pd
    from businesstime import BusinessTime

    closed = sorted(holidays.country_holidays("US", years=range(2024, 2030)))
    naive = [
        (s.astimezone(NY).replace(tzinfo=None), e.astimezone(NY).replace(tzinfo=None), h)
        for s, e, h in cases
    ]

    bt = BusinessTime(business_hours=(time(9), time(17)), holidays=closed)
    bt_n = min(args.peer_cases, n)
    bt_cases = naive[:bt_n]
    bt_elapsed = Timing(
        RUNS, lambda: [bt.businesstimedelta(s, e) for s, e, _ in bt_cases]
    ).per_call(bt_n)
    bt_disagree = 0
    for (s, e, _), (ss, ee, _) in zip(cases[:2000], naive[:2000], strict=True):
        theirs = timedelta(hours=bt.businesstime_hours(ss, ee).total_seconds() / 3600)
        if abs(theirs - elapsed(s, e)) > timedelta(seconds=1):
            bt_disagree += 1

    pd_n = min(args.pandas_cases, n)
    offsets = {
        h: pd.offsets.CustomBusinessHour(n=h, start="09:00", end="17:00", holidays=closed)
        for h in range(1, 41)
    }
    pd_cases = [(pd.Timestamp(s), offsets[h]) for s, _, h in naive[:pd_n]]
    pd_add = Timing(RUNS, lambda: [ts_ + off for ts_, off in pd_cases]).per_call(pd_n)
    pd_disagree = pd_at_close = 0
    for (s, _, h), (ts_, off) in zip(cases[:pd_n], pd_cases, strict=True):
        ours = add(s, timedelta(hours=h)).replace(tzinfo=None)
        theirs = (ts_ + off).to_pydatetime().replace(microsecond=0)
        if ours.replace(microsecond=0) != theirs:
            pd_disagree += 1
            pd_at_close += ours.time() == time(17) and ours.microsecond == 0
    # The SPEC example that separates the two: Mon 09:00 + 8h.
    spec_ours = cal.add(datetime(2026, 11, 30, 9, tzinfo=NY), timedelta(hours=8))
    spec_pandas = pd.Timestamp("2026-11-30 09:00") + offsets[8]

    # ---------------------------------------------------------------- correctness
    rnd = random.Random(args.seed + 1)
    sample = rnd.sample(cases, min(args.reference_cases, n))
    ref_cases = [
        (s, e, timedelta(seconds=rnd.randrange(1, 200 * 3600), microseconds=rnd.randrange(10**6)))
        for s, e, _ in sample
    ]
    ref = ReferenceClock(ZONE, HOURS, "US")
    problems = check_against_reference(cal, ref, ref_cases)

    hard_hours = {
        0: [(time(1), time(3)), (time(8), time(12)), (time(13), time(17))],
        1: [(time(8), time(12)), (time(13), time(17))],
        2: [(time(0), time(0))],
        3: [(time(8), time(12)), (time(13), time(17))],
        4: [(time(9), time(15))],
        6: [(time(1, 30), time(2, 45)), (time(23), time(0))],
    }
    hard_spec = HolidaySpec(
        "AU", "NSW", extra=frozenset({date(2026, 10, 5)}), remove=frozenset({date(2026, 12, 28)})
    )
    hard = BusinessCalendar("hard", "Australia/Lord_Howe", hard_hours, hard_spec)
    hard_ref = ReferenceClock(
        "Australia/Lord_Howe", hard_hours, "AU", "NSW", hard_spec.extra, hard_spec.remove
    )
    hard_cases = [(s, e, d) for s, e, d in ref_cases[: len(ref_cases) // 2]]
    problems += check_against_reference(hard, hard_ref, hard_cases)
    checked = len(ref_cases) + len(hard_cases)

    # ---------------------------------------------------------------- report
    load = os.getloadavg()
    out = print
    out("Business clock benchmark (bench/clock.py)")
    out(f"  calendar {ZONE}, Mon-Fri 09:00-17:00, US holidays; {n:,} cases, seed {args.seed}:")
    out(f"  starts {FIRST:%Y-%m-%d}..{LAST:%Y-%m-%d} with ms precision (like Jira), ends up to")
    out(
        f"  30 days later, adds of 1-40 h.  µs per call, best of {RUNS} runs each, wall clock and CPU time"
    )
    out(f"  of this process; load average {load[0]:.2f} / {load[1]:.2f} on {os.cpu_count()} CPUs.")
    out()
    out(f"  {'operation':<32} {'wall':>7} {'CPU':>7} {'peer':>9} {'ratio':>7}")
    out(row("add, UTC-aware inputs", ours_add, pd_add, pd_n, "pandas CustomBusinessHour"))
    out(row("elapsed, UTC-aware inputs", ours_elapsed, bt_elapsed, bt_n, "businesstime"))
    out(row("add, ZoneInfo-aware inputs", ours_add_local, None, 0, "same cases in New York time"))
    out(
        row(
            "elapsed, ZoneInfo-aware inputs",
            ours_elapsed_local,
            None,
            0,
            "same cases in New York time",
        )
    )
    out(row("datetime.timestamp() alone", ts, None, 0, "the floor: one input conversion"))
    table = cal._table
    out(
        f"  cold start: the first call built {table.first_year}-{table.end_year - 1} in {cold_ms:.1f} ms"
    )
    verdict = [
        f"add {'met' if min(ours_add) <= 3 else 'MISSED'} ({ours_add[0]:.2f} wall / {ours_add[1]:.2f} CPU)",
        f"elapsed {'met' if min(ours_elapsed) <= 1.5 else 'MISSED'} "
        f"({ours_elapsed[0]:.2f} wall / {ours_elapsed[1]:.2f} CPU)",
    ]
    out(f"  bar (add <= 3 µs, elapsed <= 1.5 µs, UTC-aware inputs): {'; '.join(verdict)}")
    out("  ZoneInfo-aware inputs cost more because datetime.timestamp() itself is slower for them.")
    out()
    out("Peers (informational; the reference below is what decides correctness):")
    out("  Both peers are naive wall-clock libraries, given naive New York wall times.  A")
    out("  09:00-17:00 weekday never contains a New York DST change, so answers are comparable.")
    out("  Neither has time zones, several intervals per day or different hours per weekday.")
    out(
        f"  businesstime elapsed differs from ours by > 1 s on {bt_disagree} of 2,000 cases: it returns 0"
    )
    out("  when the start is after closing and the end after closing on the next business day.")
    out(
        f"  pandas add differs from ours on {pd_disagree} of {pd_n:,} cases, {pd_at_close} of them a target"
    )
    out("  that runs out exactly at closing: pandas moves it to the next opening, the SPEC says")
    out(
        f"  due at closing (Mon 09:00 + 8h: ours {spec_ours:%a %H:%M}, pandas {spec_pandas:%a %H:%M})."
    )
    out()
    out("Correctness against tests/reference_clock.py (slow, day-walking):")
    out(f"  {checked:,} cases of add, elapsed, is_open and next_business_day_close, on the bench")
    out(f"  calendar and on {hard.timezone} (split and weekend hours, 30-minute DST shift):")
    out(f"  {len(problems)} disagreements")
    for problem in problems[:20]:
        out("   ", problem)
    out(f"\n(total {clock_time.perf_counter() - started:.1f} s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
