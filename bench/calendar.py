#!/usr/bin/env python
"""Benchmark of motcua.calendar.deadline against a naive day-by-day loop.

    .venv/bin/python bench/calendar.py [--calls 100000] [--naive-calls 10000] [--seed 2026]
                                       [--rounds 3] [--json FILE]

Sets Django up itself (DJANGO_SETTINGS_MODULE=motcua.settings; the default SQLite database or
DATABASE_URL; an unmigrated database only means "no admin overrides"). Runs ``deadline()`` on
random (seeded) starts across 2025–2027 with random limits and units, then the same calls, in
the same run, through a naive implementation of the same rules that asks
``holidays.Vietnam().is_working_day`` day by day, and prints both rates and their ratio.
Target: at least 10×. Exits non-zero when the two disagree or the target is missed.
"""

from __future__ import annotations

import os
import sys

# This file is called calendar.py: drop its own folder from the path before anything imports the
# standard library's calendar, and put the project's root there instead.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "motcua.settings")

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import time  # noqa: E402
from datetime import date, datetime, timedelta  # noqa: E402
from decimal import Decimal  # noqa: E402

import django  # noqa: E402

django.setup()

import holidays  # noqa: E402
from django.conf import settings  # noqa: E402

from motcua import calendar  # noqa: E402
from motcua.calendar import TZ, deadline  # noqa: E402

TARGET = 10.0
# Realistic limits: TTHC time limits in working days, internal steps in working hours, a few
# procedures in calendar days.
WORKING_DAYS = [0, 1, 2, 3, 3, 5, 5, 5, 7, 7, 10, 10, 12, 15, 15, 20, 20, 30, 45]
WORKING_HOURS = [1, 2, 4, 4, 8, 8, 16, 24, Decimal("0.5"), Decimal("1.5"), Decimal("2.25")]
CALENDAR_DAYS = [0, 1, 3, 5, 7, 10, 15, 30, 45, 60]
UNITS = ["working_days"] * 6 + ["working_hours"] * 2 + ["calendar_days"] * 2


def make_calls(n: int, seed: int) -> list[tuple[datetime, int | Decimal, str]]:
    rng = random.Random(seed)
    first = datetime(2025, 1, 1, tzinfo=TZ)
    span = int((datetime(2028, 1, 1, tzinfo=TZ) - first).total_seconds())
    calls = []
    for _ in range(n):
        start = first + timedelta(seconds=rng.randrange(span))
        unit = rng.choice(UNITS)
        pool = {"working_days": WORKING_DAYS, "working_hours": WORKING_HOURS,
                "calendar_days": CALENDAR_DAYS}[unit]
        calls.append((start, rng.choice(pool), unit))
    return calls


class Naive:
    """The same rules, the obvious way: walk the days one by one, asking the package."""

    def __init__(self):
        self.vn = holidays.Vietnam()
        self.periods = [
            (self._us(start), self._us(end)) for start, end in settings.MOTCUA_OFFICE_HOURS
        ]
        self.day_us = sum(end - start for start, end in self.periods)

    @staticmethod
    def _us(clock: str) -> int:
        hour, minute = map(int, clock.split(":"))
        return (hour * 60 + minute) * 60_000_000

    @staticmethod
    def _at(day: date, us: int) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=TZ) + timedelta(microseconds=us)

    def deadline(self, start: datetime, amount, unit: str) -> datetime:
        local = start.astimezone(TZ)
        day = local.date()
        tod = ((local.hour * 60 + local.minute) * 60 + local.second) * 1_000_000 + local.microsecond
        closing = self.periods[-1][1]
        # The clock starts at the next opening.
        while not (self.vn.is_working_day(day) and tod < closing):
            day += timedelta(days=1)
            tod = 0
        if unit == "calendar_days":
            target = day + timedelta(days=int(amount))
            while not self.vn.is_working_day(target):
                target += timedelta(days=1)
            return self._at(target, closing)
        if amount == 0:
            return self._at(day, closing)
        per = self.day_us if unit == "working_days" else 3_600_000_000
        remaining = int(Decimal(amount) * per)
        while True:
            if self.vn.is_working_day(day):
                for begin, end in self.periods:
                    begin = max(begin, tod)
                    if begin >= end:
                        continue
                    if remaining <= end - begin:
                        return self._at(day, begin + remaining)
                    remaining -= end - begin
            day += timedelta(days=1)
            tod = 0


def _run(fn, calls) -> tuple[float, list]:
    results = []
    append = results.append
    began = time.perf_counter()
    for start, amount, unit in calls:
        append(fn(start, amount, unit))
    return time.perf_counter() - began, results


def rates(ours_calls, naive_calls, rounds: int = 3):
    """Calls per second of ours and of the naive loop, the best of ``rounds`` runs each, the
    two taking turns round by round so that a change in the machine's load (it only slows
    down) falls on both alike. Returns (ours/s, ours' results, naive/s, naive's results)."""
    best_ours = best_naive = float("inf")
    ours = theirs = []
    naive = Naive()
    for _ in range(rounds):
        seconds, ours = _run(deadline, ours_calls)
        best_ours = min(best_ours, seconds)
        seconds, theirs = _run(naive.deadline, naive_calls)
        best_naive = min(best_naive, seconds)
    return len(ours_calls) / best_ours, ours, len(naive_calls) / best_naive, theirs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--naive-calls", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--rounds", type=int, default=3, help="best of N runs of each")
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()

    calls = make_calls(args.calls, args.seed)
    naive = Naive()
    # Warm both up (tables, the package's lazily populated years, the overrides' first read).
    for start, amount, unit in calls[:200]:
        deadline(start, amount, unit)
        naive.deadline(start, amount, unit)
    overrides = len(calendar._OVERRIDES)

    sample = calls[: args.naive_calls]
    ours_rate, ours, naive_rate, theirs = rates(calls, sample, args.rounds)
    disagreements = sum(1 for a, b in zip(ours, theirs, strict=False) if a != b)

    rows = [("motcua.calendar.deadline", len(calls), ours_rate)]
    rows.append(("naive day-by-day loop", len(sample), naive_rate))
    print()
    print(f"{'implementation':<28}{'calls':>10}{'calls/s':>14}{'µs/call':>10}")
    print("-" * 62)
    for name, n, r in rows:
        print(f"{name:<28}{n:>10,}{r:>14,.0f}{1e6 / r:>10.2f}")
    print("-" * 62)
    ratio = ours_rate / naive_rate
    print(f"{'speed-up':<28}{'':>10}{ratio:>13.1f}×   (target ≥ {TARGET:.0f}×)")
    print()
    by_unit: dict[str, list] = {}
    units = {}
    for (start, amount, unit) in sample:
        by_unit.setdefault(unit, []).append((start, amount, unit))
    print(f"{'by unit (naive sample)':<28}{'calls':>10}{'ours/s':>14}{'naive/s':>12}{'ratio':>8}")
    print("-" * 72)
    for unit in ("working_days", "working_hours", "calendar_days"):
        part = by_unit.get(unit, [])
        if not part:
            continue
        ours_unit, _, naive_unit, _ = rates(part, part, args.rounds)
        print(f"{unit:<28}{len(part):>10,}{ours_unit:>14,.0f}{naive_unit:>12,.0f}"
              f"{ours_unit / naive_unit:>7.1f}×")
        units[unit] = {"calls": len(part), "ours_rate": ours_unit, "naive_rate": naive_unit,
                       "ratio": ours_unit / naive_unit}
    print()
    print(f"best of {args.rounds} runs each; seed {args.seed}; starts 2025-01-01..2027-12-31; admin overrides in the database: "
          f"{overrides}")
    print(f"results compared on {len(sample):,} calls: {disagreements} disagreement(s)"
          + (" (expected: the naive loop ignores admin overrides)" if overrides else ""))
    ok = ratio >= TARGET and (disagreements == 0 or overrides)
    print("PASS" if ok else "FAIL")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({
                "benchmark": "calendar", "calls": len(calls), "naive_calls": len(sample),
                "ours_rate": ours_rate, "naive_rate": naive_rate, "ratio": ratio,
                "by_unit": units, "disagreements": disagreements, "overrides": overrides,
                "rounds": args.rounds, "seed": args.seed, "targets": {"ratio": TARGET},
                "passed": ok,
            }, handle, indent=2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
