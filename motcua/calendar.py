"""The office calendar: working days, office hours and deadlines (DOMAIN.md "Time").

The one place where the project adds time to a moment::

    from motcua.calendar import deadline, is_working_day, working_hours_between

Which days are working days, in order of precedence:

1. an admin's override in :class:`motcua.models.CalendarDay` (``day_off`` / ``working_day``);
2. a make-up working day of the state calendar (``weekend_workdays`` of ``holidays.Vietnam``);
3. a public holiday or substitute day of ``holidays.Vietnam`` is a day off;
4. otherwise the weekday decides (``settings.MOTCUA_WORK_WEEKDAYS``).

Office hours are ``settings.MOTCUA_OFFICE_HOURS`` (half-open periods: 07:30 is open, 11:30 and
17:00 are closed), in ``Asia/Ho_Chi_Minh``.

How it stays fast: time is mapped onto a "working axis", the number of working microseconds
since the first day of a precomputed range of years. A table gives, for every day of the
range, how many working days precede it, and the list of working days in order, so a deadline
is two array look-ups and some arithmetic, whatever its length. The table is rebuilt when an
override changes (signals on ``CalendarDay`` in this process; a cheap stamp query, at most every
:data:`RECHECK_SECONDS`, notices the changes made by other processes) and grows when a date
falls outside it. Nothing touches the database at import time, and when the database cannot be
read the calendar carries on with the last overrides it knew (none at first).
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from decimal import ROUND_CEILING, Decimal
from zoneinfo import ZoneInfo

import holidays
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models.signals import post_delete, post_save

__all__ = [
    "TZ",
    "UNITS",
    "add_working_hours",
    "closing_time",
    "deadline",
    "invalidate",
    "is_working_day",
    "next_opening",
    "opening_time",
    "state_holidays",
    "statutory_is_working_day",
    "working_hours_between",
]

logger = logging.getLogger(__name__)

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
UNITS = ("working_days", "working_hours", "calendar_days")
#: How often (seconds) a process asks the database whether another process changed an override
#: (``settings.MOTCUA_CALENDAR_RECHECK_SECONDS`` when set).
RECHECK_SECONDS = 2.0

_HOUR_US = 3_600_000_000
_COUNTRY = "VN"
# Years precomputed around the first date asked for, and the step by which the range grows.
_YEARS_BEFORE, _YEARS_AFTER, _GROW_STEP = 2, 4, 3
# A guard against absurd limits (a typo of 10,000 days would otherwise build centuries).
_MAX_SPAN_YEARS = 200
_monotonic = time.monotonic  # a module attribute, so that tests can move the clock


# ---------------------------------------------------------------------------------------------
# Configuration: office hours and working weekdays
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Hours:
    """Office hours of one working day, in microseconds since midnight."""

    periods: tuple[tuple[int, int], ...]
    weekdays: frozenset[int]
    day_us: int  # working microseconds in a working day (8 hours by default)
    opening: dt_time
    closing: dt_time

    def is_open(self, tod: int) -> bool:
        return any(start <= tod < end for start, end in self.periods)


def _parse_clock(value) -> int:
    if isinstance(value, dt_time):
        clock = value
    else:
        try:
            clock = dt_time.fromisoformat(str(value))
        except ValueError as exc:
            raise ImproperlyConfigured(f"MOTCUA_OFFICE_HOURS: bad time {value!r}") from exc
    return ((clock.hour * 60 + clock.minute) * 60 + clock.second) * 1_000_000 + clock.microsecond


def _clock(us: int) -> dt_time:
    seconds, micro = divmod(us, 1_000_000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return dt_time(hour, minute, second, micro)


_HOURS: _Hours | None = None


def _hours() -> _Hours:
    global _HOURS
    if _HOURS is None:
        periods = tuple(
            (_parse_clock(start), _parse_clock(end)) for start, end in settings.MOTCUA_OFFICE_HOURS
        )
        if not periods:
            raise ImproperlyConfigured("MOTCUA_OFFICE_HOURS is empty.")
        previous_end = 0
        for start, end in periods:
            if not previous_end <= start < end:
                raise ImproperlyConfigured(
                    "MOTCUA_OFFICE_HOURS must be increasing, non-overlapping periods of one day."
                )
            previous_end = end
        weekdays = frozenset(int(d) for d in settings.MOTCUA_WORK_WEEKDAYS)
        if not weekdays or not weekdays <= set(range(7)):
            raise ImproperlyConfigured("MOTCUA_WORK_WEEKDAYS must list weekdays 0 (Mon)..6 (Sun).")
        _HOURS = _Hours(
            periods=periods,
            weekdays=weekdays,
            day_us=sum(end - start for start, end in periods),
            opening=_clock(periods[0][0]),
            closing=_clock(periods[-1][1]),
        )
    return _HOURS


# ---------------------------------------------------------------------------------------------
# The state calendar (the `holidays` package), cached per year for the life of the process
# ---------------------------------------------------------------------------------------------

# year -> (public holidays and substitute days off, make-up working days) of that year
_STATE: dict[int, tuple[frozenset[date], frozenset[date]]] = {}
_STATE_LOCK = threading.Lock()


def _state_days(first_year: int, last_year: int) -> dict[int, tuple[frozenset, frozenset]]:
    with _STATE_LOCK:
        missing = [y for y in range(first_year, last_year + 1) if y not in _STATE]
        if missing:
            # Substitutions cross the new year (31/12/2018 off for 05/01/2019): ask for a year
            # more on each side and keep each date under its own year.
            lo, hi = min(missing), max(missing)
            calendar = holidays.country_holidays(_COUNTRY, years=range(lo - 1, hi + 2))
            days_off = set(calendar.keys())
            make_up = set(calendar.weekend_workdays)
            for year in missing:
                _STATE[year] = (
                    frozenset(d for d in days_off if d.year == year),
                    frozenset(d for d in make_up if d.year == year),
                )
        return {y: _STATE[y] for y in range(first_year, last_year + 1)}


def statutory_is_working_day(day: date) -> bool:
    """Whether ``day`` is a working day by the state calendar alone, before any admin override."""
    hours = _hours()
    days_off, make_up = _state_days(day.year, day.year)[day.year]
    if day in make_up:
        return True
    return day.weekday() in hours.weekdays and day not in days_off


def state_holidays(year: int, language: str = "vi") -> list[tuple[date, str, bool]]:
    """The state calendar of ``year`` for people: ``(date, name, is_working_day)``, by date.

    Lists the public holidays and substitute days off (``False``) and the make-up working days
    (``True``) of the `holidays` package, named in ``language``.
    """
    return list(_state_holidays(year, language))


@functools.lru_cache(maxsize=32)
def _state_holidays(year: int, language: str) -> tuple[tuple[date, str, bool], ...]:
    # A make-up Saturday may pay for a day off of the year before (05/01/2019 for 31/12/2018).
    calendar = holidays.country_holidays(
        _COUNTRY, years=range(year - 1, year + 2), language=language
    )
    rows = [(d, name, False) for d, name in calendar.items() if d.year == year]
    for d in calendar.weekend_workdays:
        if d.year == year:
            rows.append((d, _make_up_name(d, calendar, language), True))
    return tuple(sorted(rows, key=lambda row: (row[0], row[1])))


def _make_up_name(day: date, days_off, language: str) -> str:
    # The package names the day off ("Ngày nghỉ (thay cho ngày 26/04/2025)"), not the Saturday
    # worked for it: name the Saturday after the day off it pays for.
    marks = (day.strftime("%d/%m/%Y"), day.strftime("%m/%d/%Y"))
    paid_for = next(
        (d for d, name in days_off.items() if any(mark in name for mark in marks)), None
    )
    if language.startswith("vi"):
        if paid_for:
            return f"Ngày làm việc bù (cho ngày nghỉ {paid_for:%d/%m/%Y})"
        return "Ngày làm việc bù"
    return f"Make-up working day (for {paid_for:%d/%m/%Y})" if paid_for else "Make-up working day"


# ---------------------------------------------------------------------------------------------
# Admin overrides, cached in process
# ---------------------------------------------------------------------------------------------

_LOCK = threading.RLock()
_OVERRIDES: dict[date, bool] = {}  # date -> is a working day, from CalendarDay
_STAMP: tuple | None = None  # what the overrides were read from (count, last change, max id)
_FORCED = True  # read the overrides at the next call, whatever the stamp says
_NEXT_CHECK = 0.0  # fast-path gate: before this moment (monotonic), trust the cache
_STAMP_DUE = 0.0  # when the stamp may be asked again
_DB_FAILING = False
# Transactions in which an override was written and which have not ended yet: when one of their
# atomic blocks ends (commit or rollback), the overrides are read again. Without this, a rolled
# back change (a failed request, every test) would stay in the cache until the next stamp check.
_WATCHES: list[tuple[object, tuple]] = []


def invalidate() -> None:
    """Forget the cached overrides (and office hours); the next call reads them again."""
    global _FORCED, _NEXT_CHECK, _HOURS, _TABLE
    with _LOCK:
        _FORCED = True
        _NEXT_CHECK = 0.0
        _HOURS = None
        _TABLE = None


def _refresh() -> None:
    if _monotonic() < _NEXT_CHECK:
        return
    _slow_refresh()


def _slow_refresh() -> None:
    global _FORCED, _NEXT_CHECK, _STAMP_DUE, _STAMP, _OVERRIDES, _TABLE, _DB_FAILING
    with _LOCK:
        if _WATCHES:
            _check_watches()
        now = _monotonic()
        if not _FORCED and now < _STAMP_DUE:
            _NEXT_CHECK = 0.0 if _WATCHES else _STAMP_DUE
            return
        try:
            stamp = _read_stamp()
            overrides = _read_overrides() if _FORCED or stamp != _STAMP else None
        except Exception as exc:
            # The calendar must answer even when the database cannot (not migrated yet, down,
            # an async context): it keeps the overrides it last knew and tries again later.
            if not _DB_FAILING:
                logger.warning(
                    "Calendar overrides unreadable (%s: %s); using the last known ones.",
                    type(exc).__name__, exc,
                )
            _DB_FAILING = True
        else:
            _DB_FAILING = False
            if overrides is not None:
                if overrides != _OVERRIDES:
                    _TABLE = None
                _OVERRIDES = overrides
                _STAMP = stamp
            _FORCED = False
        _STAMP_DUE = now + getattr(settings, "MOTCUA_CALENDAR_RECHECK_SECONDS", RECHECK_SECONDS)
        _NEXT_CHECK = 0.0 if _WATCHES else _STAMP_DUE


def _check_watches() -> None:
    global _FORCED
    still_open = []
    for connection, blocks in _WATCHES:
        current = getattr(connection, "atomic_blocks", [])
        kept = 0
        while kept < len(blocks) and kept < len(current) and current[kept] is blocks[kept]:
            kept += 1
        if kept < len(blocks):
            _FORCED = True  # a block holding the write has ended: committed or rolled back
        if kept:
            still_open.append((connection, blocks[:kept]))
    _WATCHES[:] = still_open


def _read_stamp() -> tuple:
    from django.db.models import Count, Max

    from motcua.models import CalendarDay

    row = CalendarDay.objects.aggregate(n=Count("id"), changed=Max("updated_at"), top=Max("id"))
    return (row["n"], row["changed"], row["top"])


def _read_overrides() -> dict[date, bool]:
    from motcua.models import CalendarDay

    return {
        day: kind == CalendarDay.Kind.WORKING_DAY
        for day, kind in CalendarDay.objects.values_list("date", "kind")
    }


def _on_calendar_day_change(sender, using, **kwargs) -> None:
    invalidate()
    connection = transaction.get_connection(using)
    if connection.in_atomic_block:
        # Other threads read committed data only: tell them again once it is committed.
        transaction.on_commit(invalidate, using=using)
        blocks = tuple(getattr(connection, "atomic_blocks", ()))
        if blocks:
            with _LOCK:
                _WATCHES.append((connection, blocks))


def _on_setting_changed(setting, **kwargs) -> None:
    if setting in ("MOTCUA_OFFICE_HOURS", "MOTCUA_WORK_WEEKDAYS"):
        invalidate()


post_save.connect(
    _on_calendar_day_change, sender="motcua.CalendarDay", dispatch_uid="motcua.calendar.save"
)
post_delete.connect(
    _on_calendar_day_change, sender="motcua.CalendarDay", dispatch_uid="motcua.calendar.delete"
)
setting_changed.connect(_on_setting_changed, dispatch_uid="motcua.calendar.settings")


# ---------------------------------------------------------------------------------------------
# The table: the working axis over a range of whole years
# ---------------------------------------------------------------------------------------------


class _Table:
    """The working axis over ``first_year``..``last_year``, overrides applied. Immutable.

    Time on the axis is counted in working microseconds from the table's first day. For day
    ``i`` of the range: ``rank[i]`` working days precede it, ``work[i]`` says whether it is one;
    ``midnights[k]`` is the (aware) midnight of the ``k``-th working day.
    """

    __slots__ = (
        "first_year", "last_year", "base", "size", "rank", "work", "midnights", "count",
        "hours", "periods", "day_us", "closing_us",
    )

    def __init__(self, first_year: int, last_year: int, overrides: dict[date, bool]):
        hours = _hours()
        state = _state_days(first_year, last_year)
        self.first_year, self.last_year = first_year, last_year
        self.hours, self.periods, self.day_us = hours, hours.periods, hours.day_us
        self.closing_us = hours.periods[-1][1]
        self.base = date(first_year, 1, 1).toordinal()
        self.size = date(last_year, 12, 31).toordinal() - self.base + 1
        self.rank: list[int] = []
        self.work = bytearray(self.size)
        self.midnights: list[datetime] = []
        for i in range(self.size):
            day = date.fromordinal(self.base + i)
            self.rank.append(len(self.midnights))
            working = overrides.get(day)
            if working is None:
                days_off, make_up = state[day.year]
                working = day in make_up or (
                    day.weekday() in hours.weekdays and day not in days_off
                )
            if working:
                self.work[i] = 1
                self.midnights.append(datetime(day.year, day.month, day.day, tzinfo=TZ))
        self.count = len(self.midnights)

    # Each method raises _OutOfRange when the table is too short; _run grows it and retries.

    def index(self, local: datetime) -> int:
        i = local.toordinal() - self.base
        if i < 0 or i >= self.size:
            raise _OutOfRange(local.year)
        return i

    def offset(self, local: datetime) -> int:
        """Working microseconds from the table's start to ``local``."""
        i = local.toordinal() - self.base
        if i < 0 or i >= self.size:
            raise _OutOfRange(local.year)
        offset = self.rank[i] * self.day_us
        if self.work[i]:
            tod = (
                (local.hour * 60 + local.minute) * 60 + local.second
            ) * 1_000_000 + local.microsecond
            for start, end in self.periods:
                if tod <= start:
                    break
                offset += (tod if tod < end else end) - start
        return offset

    def ending(self, offset: int) -> datetime:
        """The first moment at which ``offset`` (> 0) working microseconds have passed.

        A count ending exactly at the end of a period ends there (11:30, 17:00), not at the next
        opening.
        """
        k, worked = divmod(offset - 1, self.day_us)
        if k >= self.count:
            raise _OutOfRange(self.last_year + 1)
        worked += 1
        for start, end in self.periods:
            if worked <= end - start:
                return self.midnights[k] + _since_midnight(start + worked)
            worked -= end - start
        raise AssertionError("unreachable: worked <= day_us")

    def starting(self, offset: int) -> datetime:
        """The moment the clock runs again once ``offset`` working microseconds have passed."""
        k, worked = divmod(offset, self.day_us)
        if k >= self.count:
            raise _OutOfRange(self.last_year + 1)
        for start, end in self.periods:
            if worked < end - start:
                return self.midnights[k] + _since_midnight(start + worked)
            worked -= end - start
        raise AssertionError("unreachable: worked < day_us")

    def start_day(self, local: datetime) -> int:
        """The working day (its index ``k``) on which the clock starts for ``local``."""
        i = self.index(local)
        k = self.rank[i]
        if self.work[i] and _time_of_day(local) >= self.closing_us:
            k += 1  # received after closing: the next working day
        return k

    def closing(self, k: int) -> datetime:
        if k >= self.count:
            raise _OutOfRange(self.last_year + 1)
        return self.midnights[k] + _since_midnight(self.closing_us)

    def deadline(self, local: datetime, amount: int, unit: str) -> datetime:
        """``amount``: whole days for the day units, microseconds for ``working_hours``."""
        if unit == "working_days" and amount:
            return self.ending(self.offset(local) + amount * self.day_us)
        if unit == "working_hours" and amount:
            return self.ending(self.offset(local) + amount)
        k = self.start_day(local)
        if unit != "calendar_days" or amount == 0:
            return self.closing(k)
        if k >= self.count:
            raise _OutOfRange(self.last_year + 1)
        j = self.midnights[k].toordinal() - self.base + amount
        if j >= self.size:
            raise _OutOfRange(self.last_year + 1 + (j - self.size) // 365)
        # rank[j] is the first working day on or after day j
        return self.closing(self.rank[j])

    def is_working_day(self, day: date) -> bool:
        i = day.toordinal() - self.base
        if i < 0 or i >= self.size:
            raise _OutOfRange(day.year)
        return bool(self.work[i])

    def between(self, start: datetime, end: datetime) -> int:
        return self.offset(end) - self.offset(start)

    def next_opening(self, local: datetime) -> datetime:
        i = self.index(local)
        if self.work[i] and self.hours.is_open(_time_of_day(local)):
            return local
        return self.starting(self.offset(local))


_TABLE: _Table | None = None
# Times of day already turned into timedeltas: building one costs more than the rest of a
# deadline, and a few thousand values (whole minutes of the office hours) cover nearly all.
_SINCE_MIDNIGHT: dict[int, timedelta] = {}


def _since_midnight(us: int) -> timedelta:
    delta = _SINCE_MIDNIGHT.get(us)
    if delta is None:
        seconds, micro = divmod(us, 1_000_000)
        delta = timedelta(0, seconds, micro)
        if len(_SINCE_MIDNIGHT) < 100_000:
            _SINCE_MIDNIGHT[us] = delta
    return delta


class _OutOfRange(Exception):
    """The table does not reach the year asked for."""

    def __init__(self, year: int):
        self.year = year


def _table_for(first_year: int, last_year: int, current: _Table | None) -> _Table:
    """A table covering at least ``first_year``..``last_year``, built and published if needed."""
    global _TABLE
    with _LOCK:
        table = _TABLE
        if table is not None and table.first_year <= first_year and last_year <= table.last_year:
            return table
        if table is None:
            table = current
        if table is not None:
            first_year = min(first_year, table.first_year)
            last_year = max(last_year, table.last_year)
        if last_year - first_year > _MAX_SPAN_YEARS or first_year < 1 or last_year > 9998:
            raise ValueError("Thời hạn nằm ngoài phạm vi lịch làm việc.")
        table = _Table(first_year, last_year, _OVERRIDES)
        _TABLE = table
        return table


def _table() -> _Table:
    table = _TABLE
    if table is None:
        year = datetime.now(TZ).year
        table = _table_for(year - _YEARS_BEFORE, year + _YEARS_AFTER, None)
    return table


def _run(method: str, *args):
    """Call ``method`` of the current table, growing the table while it is too short."""
    table = _table()
    while True:
        try:
            return getattr(table, method)(*args)
        except _OutOfRange as missing:
            if missing.year < table.first_year:
                span = (missing.year - _GROW_STEP, table.last_year)
            else:
                span = (table.first_year, missing.year + _GROW_STEP)
            table = _table_for(*span, table)


def _local(moment: datetime) -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"expected an aware datetime, got {type(moment).__name__}")
    tz = moment.tzinfo
    if tz is not TZ and (tz is None or tz.utcoffset(moment) is None):
        raise ValueError(f"naive datetime {moment.isoformat()}: give a timezone-aware datetime")
    return moment.astimezone(TZ)


def _time_of_day(local: datetime) -> int:
    return (
        (local.hour * 60 + local.minute) * 60 + local.second
    ) * 1_000_000 + local.microsecond


def _whole_days(amount) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int | Decimal):
        raise TypeError(f"amount must be an int or a Decimal, got {type(amount).__name__}")
    if not (isinstance(amount, int) or amount.is_finite()) or amount != int(amount):
        raise ValueError(f"calendar days must be a whole number, got {amount}")
    if amount < 0:
        raise ValueError(f"amount must not be negative, got {amount}")
    return int(amount)


def _microseconds(amount, per: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int | Decimal):
        raise TypeError(f"amount must be an int or a Decimal, got {type(amount).__name__}")
    if isinstance(amount, int):
        value = amount * per
    else:
        if not amount.is_finite():
            raise ValueError(f"amount must be finite, got {amount}")
        # Rounded up to the microsecond, so that a deadline is never early.
        value = int((amount * per).to_integral_value(rounding=ROUND_CEILING))
    if value < 0:
        raise ValueError(f"amount must not be negative, got {amount}")
    return value


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def deadline(start: datetime, amount: int | Decimal, unit: str) -> datetime:
    """The end of a time limit of ``amount`` ``unit`` counted from ``start`` (DOMAIN.md "Time").

    - The clock starts at ``start`` if the office is open then, else at the next opening
      (:func:`next_opening`): a receipt at 12:00 counts from 13:00, on Friday 17:30 from Monday
      07:30.
    - ``working_days``: the first moment at which ``amount`` × 8 working hours have passed
      (Monday 09:00 + 5 = next Monday 09:00; Monday 07:30 + 1 = Monday 17:00, not Tuesday
      07:30: a count ending exactly at a closing time ends there). Fractions are allowed
      (``Decimal("0.5")`` = 4 working hours).
    - ``working_hours``: likewise, ``amount`` working hours (fractions allowed).
    - ``calendar_days`` (whole numbers only): closing time of the ``amount``-th calendar day
      after the day the clock starts, or of the next working day if that day is not one. The
      day the clock starts is the day of :func:`next_opening`, so a receipt on Saturday, or on
      Friday after 17:00, counts its calendar days from Monday.
    - ``amount`` 0, whatever the unit: closing time of the day the clock starts.

    ``start`` must be aware (``ValueError`` otherwise); the result is in Asia/Ho_Chi_Minh.
    ``amount`` is an int or a Decimal, never negative.
    """
    local = _local(start)
    if type(amount) is not int or amount < 0 or unit not in UNITS:
        # The uncommon cases, checked and brought to whole days or microseconds.
        if unit not in UNITS:
            raise ValueError(f"unit must be one of {', '.join(UNITS)}; got {unit!r}")
        if unit == "calendar_days":
            amount = _whole_days(amount)
        elif unit == "working_hours":
            amount = _microseconds(amount, _HOUR_US)
        else:
            amount, unit = _microseconds(amount, _hours().day_us), "working_hours"
    elif unit == "working_hours":
        amount *= _HOUR_US
    if _monotonic() >= _NEXT_CHECK:
        _slow_refresh()
    table = _TABLE
    if table is not None:
        try:
            return table.deadline(local, amount, unit)
        except _OutOfRange:
            pass
    return _run("deadline", local, amount, unit)


def add_working_hours(start: datetime, hours: int | Decimal) -> datetime:
    """``start`` plus ``hours`` working hours (fractions allowed).

    Unlike ``deadline(start, 0, ...)`` (closing time of the day), adding 0 hours gives the
    moment the clock starts, :func:`next_opening`.
    """
    if not isinstance(hours, bool) and isinstance(hours, int | Decimal) and hours == 0:
        return next_opening(start)
    return deadline(start, hours, "working_hours")


def working_hours_between(start: datetime, end: datetime) -> Decimal:
    """Working hours from ``start`` to ``end``: only office hours on working days count.

    Negative when ``end`` is before ``start`` (the time left to an appointment already passed).
    """
    local_start, local_end = _local(start), _local(end)
    _refresh()
    return Decimal(_run("between", local_start, local_end)) / _HOUR_US


def is_working_day(day: date) -> bool:
    """Whether the office works on ``day`` (overrides, then make-up days, holidays, weekdays).

    An aware datetime is taken as its date in Asia/Ho_Chi_Minh.
    """
    if isinstance(day, datetime):
        day = _local(day).date()
    _refresh()
    return _run("is_working_day", day)


def next_opening(moment: datetime) -> datetime:
    """When the clock starts for something received at ``moment``.

    ``moment`` itself (in Asia/Ho_Chi_Minh) during office hours on a working day, else the next
    opening: 11:30 → 13:00, Friday 17:00 → Monday 07:30, a holiday → the next working day 07:30.
    """
    local = _local(moment)
    _refresh()
    return _run("next_opening", local)


def opening_time(day: date) -> datetime:
    """The office's opening on ``day`` (07:30), aware; whether or not ``day`` is a working day."""
    return datetime.combine(day, _hours().opening, tzinfo=TZ)


def closing_time(day: date) -> datetime:
    """The office's closing on ``day`` (17:00), aware; whether or not ``day`` is a working day."""
    return datetime.combine(day, _hours().closing, tzinfo=TZ)
