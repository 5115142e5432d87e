"""Bulk data for benchmarks (``manage.py seed_bulk``), generated inside PostgreSQL.

Python plans, PostgreSQL writes. Python reads the catalogue and the organisation (a few hundred
rows) and turns them into small tables: the *plans* (a procedure version received by one agency
through one channel, with its internal process resolved to units and staff), the *cells* (how
many dossiers one agency receives on one working day, and the sequence number to start from)
and the office calendar as a working-time axis. Then one ``INSERT … SELECT`` per batch expands
the cells over ``generate_series`` and writes the dossiers, their steps, their events, their
apology letters and (optionally) their document checklists in one statement; nothing travels
row by row between Python and the database.

The distributions, and why they look the way they do, are in docs/bulk-data.md. What the rows
promise:

- codes ``<agency code>-<yymmdd>-<seq>`` unique and gapless per agency and day, continuing from
  ``DossierCounter`` (read under lock) and written back to it, so a real reception afterwards
  gets the next number;
- appointments from the office calendar (``motcua.calendar``, admin overrides included):
  ``original_due_at`` is exactly what ``calendar.deadline`` gives for the version's time limit
  for that channel; step deadlines are ``add_working_hours`` of their allotment;
- every row as the services would have left it: states, current step/unit/role/handler, events
  in the order the state machine allows, flags (``is_overdue``, ``is_due_soon``) as the sweep
  sets them, one apology letter per missed appointment (when the model exists).

The event log stays append-only: its trigger is never touched (inserts are what it allows).
When a load at least doubles the dossier table, secondary indexes and foreign keys of the loaded
tables are dropped for the load and put back (same names, same definitions; the foreign keys
validated over every row) in the same transaction: the whole load is one transaction, so a
failure leaves the database as it was.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from dossiers import models as dossier_models
from dossiers.models import OPEN_STATES as OPEN_STATE_VALUES
from dossiers.models import (
    Dossier,
    DossierCounter,
    DossierDocument,
    DossierEvent,
    DossierStep,
)
from motcua import calendar
from motcua.models import Agency, Role, StaffRole, Unit
from motcua.text import fold
from procedures.models import Channel, Level, ProcedureVersion, SupplementClock, TimeUnit
from procedures.selectors import procedure_time_limit

__all__ = [
    "BulkError",
    "BulkResult",
    "LoadWindow",
    "seed_bulk",
]

# ---------------------------------------------------------------------------------------------
# Distributions (docs/bulk-data.md explains each)
# ---------------------------------------------------------------------------------------------

#: Relative yearly volume of a procedure, by its field. Certification and civil status are most
#: of a commune desk's day; land, residence and criminal records follow.
FIELD_WEIGHTS = {
    "CHUNGTHUC": 12.0, "HOTICH": 8.0, "CUTRU": 6.0, "DATDAI": 5.0, "LLTP": 3.0,
    "CANCUOC": 3.0, "GPLX": 2.0, "DANGKYXE": 2.0, "XNC": 2.0, "HKD": 2.0, "DOANHNGHIEP": 2.0,
    "SOBHXH": 1.0, "CSBHXH": 1.0, "XAYDUNG": 1.5, "KIENTRUC": 0.5,
}
DEFAULT_FIELD_WEIGHT = 1.0
#: Channels among those the version accepts (renormalised).
CHANNEL_WEIGHTS = {Channel.IN_PERSON: 0.70, Channel.ONLINE: 0.25, Channel.POST: 0.05}
#: Mondays are busiest; a make-up Saturday is quiet.
WEEKDAY_WEIGHTS = [1.20, 1.05, 1.00, 1.00, 0.90, 0.70, 0.70]
#: Open dossiers by state (cumulative thresholds over one uniform draw).
OPEN_STATES = [("received", 0.10), ("in_progress", 0.55), ("supplement_requested", 0.65),
               ("awaiting_approval", 0.80), ("result_ready", 1.00)]
#: Closed dossiers with an official code (refused ones never got one, see REFUSED_SHARE).
CLOSED_STATES = [("returned", 0.955), ("withdrawn", 0.98), ("stopped", 1.00)]
REFUSED_SHARE = 0.015  # of all dossiers: online submissions the desk refused
SUBMITTED_SHARE_OF_OPEN = 0.03  # online submissions waiting for the desk (last two days)
LATE_SHARE = 0.08  # processing ends after the appointment
SUPPLEMENT_SHARE = 0.10  # a supplement was requested (and brought) during appraisal
DENIED_SHARE = 0.04  # of results: a written denial
ASSIGNED_SHARE = 0.80  # officer steps with a named officer (the rest wait for assignment)
STUCK_OPEN_SHARE = 0.003  # old dossiers still open (stuck: the overdue tail)
#: Letters written per dossier: the first ones of its chain. The dossier carries the appointment
#: the whole chain would have given, so the sweep has nothing to catch up on.
MAX_APOLOGIES = 1
NAMES = 4096  # distinct applicant names (a person keeps theirs across dossiers)
DAYS_BACK = 365

STATE_CODES = {
    "submitted": 0, "received": 1, "in_progress": 2, "supplement_requested": 3,
    "awaiting_approval": 4, "result_ready": 5, "returned": 6, "refused": 7, "withdrawn": 8,
    "stopped": 9,
}

FAMILY_NAMES = [("Nguyễn", 38), ("Trần", 11), ("Lê", 9), ("Phạm", 7), ("Huỳnh", 5), ("Hoàng", 3),
                ("Phan", 4), ("Võ", 4), ("Vũ", 2), ("Đặng", 2), ("Bùi", 2), ("Đỗ", 2), ("Hồ", 2),
                ("Ngô", 2), ("Dương", 2), ("Lý", 1), ("Trương", 2), ("Lâm", 1), ("Thái", 1)]
MIDDLE_NAMES = [("Văn", 20), ("Thị", 20), ("Hoàng", 4), ("Minh", 6), ("Ngọc", 6), ("Thanh", 6),
                ("Hữu", 4), ("Đức", 4), ("Quang", 3), ("Thu", 3), ("Kim", 3), ("Bảo", 2),
                ("Gia", 2), ("Xuân", 2), ("Mỹ", 2), ("Quốc", 3), ("Phương", 2)]
GIVEN_NAMES = ["An", "Bình", "Cường", "Dũng", "Duy", "Hà", "Hạnh", "Hải", "Hiếu", "Hoa", "Hùng",
               "Hương", "Khánh", "Lan", "Linh", "Long", "Mai", "Minh", "Nam", "Nga", "Ngân",
               "Nhung", "Phúc", "Phương", "Quân", "Sơn", "Tâm", "Thảo", "Thắng", "Trang", "Trí",
               "Tuấn", "Tú", "Vy", "Yến", "Khoa", "Lộc", "Nhi", "Thư", "Tài", "Đạt", "Huy"]
STREETS = ["Trần Hưng Đạo", "Nguyễn Trãi", "Lê Lợi", "Hai Bà Trưng", "Tôn Đức Thắng",
           "Lý Thái Tổ", "Nguyễn Huệ", "Hùng Vương", "Phan Đình Phùng", "Lê Hồng Phong",
           "Võ Thị Sáu", "Trần Phú", "Hà Hoàng Hổ", "Ung Văn Khiêm", "Tỉnh lộ 943"]
MOBILE_PREFIXES = ["090", "091", "093", "094", "096", "097", "098", "032", "033", "034", "035",
                   "036", "037", "038", "039", "070", "076", "077", "078", "079", "081", "082",
                   "083", "084", "085", "086", "088", "089", "056", "058", "059"]
_PROVISIONAL_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # as dossiers.codes


class BulkError(Exception):
    """seed_bulk cannot run here (not PostgreSQL, no catalogue, bad arguments)."""


@dataclass
class BulkResult:
    dossiers: int = 0
    steps: int = 0
    events: int = 0
    documents: int = 0
    apologies: int = 0
    ratings: int = 0
    open: int = 0
    mode: str = ""
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    skipped_plans: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.dossiers / self.seconds if self.seconds else 0.0


# ---------------------------------------------------------------------------------------------
# The working-time axis
# ---------------------------------------------------------------------------------------------


@dataclass
class Axis:
    """Working days from ``first`` on, as ``motcua.calendar`` sees them (overrides included).

    A position is a number of working seconds since the opening of the first working day; the
    SQL turns positions back into moments with the same conventions as the calendar (a count
    that ends exactly at a closing time ends there, a moment at a closing time starts again at
    the next opening).
    """

    first: date
    days: list[date]
    rank: list[int]  # for each calendar day from `first`: index of the first working day >= it
    periods: list[tuple[int, int]]  # office periods, seconds since midnight
    day_sec: int

    @classmethod
    def build(cls, first: date, last: date) -> Axis:
        periods = [(_clock_seconds(a), _clock_seconds(b)) for a, b in settings.MOTCUA_OFFICE_HOURS]
        days, rank = [], []
        day = first
        while day <= last:
            rank.append(len(days))
            if calendar.is_working_day(day):
                days.append(day)
            day += timedelta(days=1)
        return cls(first, days, rank, periods, sum(b - a for a, b in periods))

    def index(self, day: date) -> int:
        return self.rank[(day - self.first).days]

    def position(self, moment: datetime) -> int:
        """Position of ``moment`` (the clock as it stands at that moment)."""
        local = timezone.localtime(moment, calendar.TZ)
        i = (local.date() - self.first).days
        k = self.rank[i]
        if k >= len(self.days) or self.days[k] != local.date():
            return k * self.day_sec  # not a working day: the next one's opening
        tod = local.hour * 3600 + local.minute * 60 + local.second
        worked = sum(max(0, min(tod, b) - a) for a, b in self.periods)
        return k * self.day_sec + worked

    def moment(self, pos: int, *, ending: bool = False) -> datetime:
        """The moment of a position (Python twin of the SQL functions, for tests)."""
        k, w = divmod(pos - 1 if ending else pos, self.day_sec)
        if ending:
            w += 1
        for start, end in self.periods:
            if (w <= end - start) if ending else (w < end - start):
                midnight = datetime.combine(self.days[k], datetime.min.time(), tzinfo=calendar.TZ)
                return midnight + timedelta(seconds=start + w)
            w -= end - start
        raise AssertionError("unreachable")

    def clock_sql(self, w: str, *, ending: bool) -> str:
        """SQL: seconds since midnight for ``w`` working seconds into a day."""
        parts, before = [], 0
        for start, end in self.periods[:-1]:
            length = end - start
            test = "<=" if ending else "<"
            parts.append(f"WHEN {w} {test} {before + length} THEN {start - before} + {w}")
            before += length
        # ``w`` is always within the day (below day_sec, or at most day_sec when ending): the
        # last period needs no test of its own.
        last = f"{self.periods[-1][0] - before} + {w}"
        return f"CASE {' '.join(parts)} ELSE {last} END" if parts else last

    def functions_sql(self) -> list[str]:
        """Temporary SQL functions (inlined by the planner): position → moment, both
        conventions, and the working day that closes a calendar-day limit."""
        mids = ",".join(
            str(int(datetime.combine(d, datetime.min.time(), tzinfo=calendar.TZ).timestamp()))
            for d in self.days
        )
        ranks = ",".join(str(r) for r in self.rank)
        d = self.day_sec
        # Epoch seconds and to_timestamp(float8): every piece immutable, so the planner inlines
        # the function and folds the array literal once (a timestamptz[] literal would be
        # parsed again for every row).
        ts = (f"to_timestamp(('{{{mids}}}'::bigint[])[pos / {d} + 1] + "
              f"({self.clock_sql(f'mod(pos, {d})', ending=False)}))")
        te = (f"to_timestamp(('{{{mids}}}'::bigint[])[(pos - 1) / {d} + 1] + "
              f"({self.clock_sql(f'(pos - ((pos - 1) / {d}) * {d})', ending=True)}))")
        return [
            "CREATE OR REPLACE FUNCTION pg_temp.bulk_ts(pos bigint) RETURNS timestamptz "
            f"LANGUAGE sql IMMUTABLE AS $$ SELECT {ts} $$",
            "CREATE OR REPLACE FUNCTION pg_temp.bulk_te(pos bigint) RETURNS timestamptz "
            f"LANGUAGE sql IMMUTABLE AS $$ SELECT {te} $$",
            "CREATE OR REPLACE FUNCTION pg_temp.bulk_cal(day_off integer, amount bigint) RETURNS bigint "
            f"LANGUAGE sql IMMUTABLE AS $$ SELECT ('{{{ranks}}}'::bigint[])[day_off + amount + 1] $$",
        ]


def _clock_seconds(value) -> int:
    hour, minute = (int(x) for x in str(value).split(":")[:2])
    return hour * 3600 + minute * 60


# ---------------------------------------------------------------------------------------------
# Plans: a version received by one agency through one channel
# ---------------------------------------------------------------------------------------------


@dataclass
class Plan:
    plan_id: int
    agency: Agency
    version: ProcedureVersion
    channel: str
    weight: float
    steps: list[dict]
    lim_kind: int  # 0 working seconds, 1 "0" (closing of the day), 2 calendar days
    lim_val: int
    ext: int  # an apology's extension, in working seconds

    def row(self) -> tuple:
        s = self.steps
        n = len(s)
        roles = [x["role"] for x in s]
        officers = [j + 1 for j, r in enumerate(roles) if r == Role.OFFICER and 0 < j < n - 1]
        leaders = [j + 1 for j, r in enumerate(roles) if r == Role.LEADER and 0 < j < n - 1]
        hours = [x["hours_sec"] for x in s]
        total = sum(hours[:-1]) or 1
        cum = [sum(hours[:j]) / total for j in range(n - 1)] + [1.0]
        trans, from_st, to_st, state_at = [], [], [], []
        for j in range(n):
            role = roles[j]
            if j == 0:
                state_at.append("received")
            elif j == n - 1:
                state_at.append("result_ready")
            else:
                state_at.append("awaiting_approval" if role == Role.LEADER else "in_progress")
        for j in range(n - 1):
            frm, to = state_at[j], state_at[j + 1]
            if j == 0:
                name = "start"
            elif roles[j] == Role.LEADER:
                name = "approve"
            elif roles[j + 1] == Role.LEADER:
                name = "submit_for_approval"
            else:
                # officer → officer, or (an odd process) officer → the return desk
                name = "forward"
            trans.append(name)
            from_st.append(frm)
            to_st.append(to)
        trans.append("")
        from_st.append("")
        to_st.append("")
        inter = [j > 0 and s[j]["agency_id"] != s[j - 1]["agency_id"] for j in range(n)]
        return (
            self.plan_id, self.agency.pk, self.version.pk, self.channel,
            self.channel == Channel.ONLINE, n, self.lim_kind, self.lim_val, self.ext,
            officers[0], leaders[0],
            self.version.supplement_clock != SupplementClock.RESTART,
            [x["unit_id"] for x in s], roles, [x["agency_id"] for x in s],
            [x["handler"] for x in s], hours, cum, trans, from_st, to_st, state_at,
            officers, leaders, inter, [x["process_step_id"] for x in s],
            [x["name"] for x in s], [x["hours"] for x in s],
        )


def _limit(version: ProcedureVersion, channel: str, day_sec: int) -> tuple[int, int, int]:
    amount, unit = procedure_time_limit(version=version, channel=channel)
    amount = Decimal(amount)
    if amount == 0:
        return 1, 0, day_sec
    if unit == TimeUnit.CALENDAR_DAYS:
        return 2, int(amount), max(day_sec, int(amount) * day_sec * 5 // 7)
    per = day_sec if unit == TimeUnit.WORKING_DAYS else 3600
    seconds = int((amount * per).to_integral_value(rounding=ROUND_CEILING))
    return 0, seconds, max(seconds, day_sec)


def build_plans(day_sec: int) -> tuple[list[Plan], list[str]]:
    """Every (current version, receiving agency, channel) that can be received, with its
    process resolved as ``dossiers.services.reception`` would; and what had to be skipped."""
    versions = list(
        ProcedureVersion.objects.filter(
            procedure__is_active=True, procedure__current_version=F("pk")
        ).select_related("procedure", "field", "agency").prefetch_related("steps", "time_limits")
        .order_by("procedure__code")
    )
    agencies = list(Agency.objects.filter(is_active=True).order_by("code"))
    communes = [a for a in agencies if a.kind == Agency.Kind.COMMUNE]
    units = {(u.agency_id, u.code): u for u in Unit.objects.filter(is_active=True)}
    staff: dict[tuple[int, str], int] = {}
    for unit_id, role, user_id in StaffRole.objects.filter(user__is_active=True).order_by(
        "user_id"
    ).values_list("unit_id", "role", "user_id"):
        staff.setdefault((unit_id, role), user_id)
    plans: list[Plan] = []
    skipped: list[str] = []
    for version in versions:
        if version.agency_id:
            receivers = [version.agency] if version.agency.is_active else []
        elif version.level == Level.COMMUNE:
            receivers = communes
        else:
            receivers = []
        if not receivers:
            skipped.append(f"{version.procedure.code}: không có cơ quan tiếp nhận")
            continue
        weight = FIELD_WEIGHTS.get(version.field.code, DEFAULT_FIELD_WEIGHT) / len(receivers)
        channels = [c for c in version.channels if c in CHANNEL_WEIGHTS]
        channel_total = sum(CHANNEL_WEIGHTS[c] for c in channels)
        for agency in receivers:
            steps, problem = [], None
            for step in sorted(version.steps.all(), key=lambda s: s.position):
                unit = units.get((step.agency_id or agency.pk, step.unit_code))
                if unit is None:
                    problem = f"không có đơn vị {step.unit_code}"
                    break
                hours_sec = int((step.hours * 3600).to_integral_value(rounding=ROUND_CEILING))
                steps.append({
                    "process_step_id": step.pk, "name": step.name, "agency_id": unit.agency_id,
                    "unit_id": unit.pk, "role": step.role, "hours": step.hours,
                    "hours_sec": hours_sec, "handler": staff.get((unit.pk, step.role)),
                })
            roles = [s["role"] for s in steps]
            if problem is None and (
                len(steps) < 3 or roles[0] != Role.CLERK or roles[-1] != Role.CLERK
                or Role.OFFICER not in roles[1:-1] or Role.LEADER not in roles[1:-1]
                or roles[1] != Role.OFFICER
            ):
                problem = "quy trình không có đủ bước tiếp nhận, thụ lý, phê duyệt, trả kết quả"
            if problem:
                skipped.append(f"{version.procedure.code} tại {agency.code}: {problem}")
                continue
            for channel in channels:
                kind, val, ext = _limit(version, channel, day_sec)
                plans.append(Plan(
                    plan_id=len(plans) + 1, agency=agency, version=version, channel=channel,
                    weight=weight * CHANNEL_WEIGHTS[channel] / channel_total, steps=steps,
                    lim_kind=kind, lim_val=val, ext=ext,
                ))
    return plans, skipped


# ---------------------------------------------------------------------------------------------
# Cells: how many dossiers one agency receives on one day
# ---------------------------------------------------------------------------------------------


@dataclass
class Cell:
    agency: Agency
    slot: int
    k: int  # working-day index on the axis
    day: date
    weight: float
    avail: int  # working seconds of that day available (today: until now)
    wall_max: int  # wall-clock seconds since midnight available (unnumbered rows)
    age: float  # working days before today
    n: int = 0
    m_ref: int = 0
    m_sub: int = 0
    base: int = 0
    start_off: int = 0  # working seconds into the day after the last reception already there
    p_open: float = 0.0


def _allocate(total: int, weights: list[float]) -> list[int]:
    """``total`` split in proportion to ``weights``, whole numbers (largest remainder)."""
    s = sum(weights)
    if total <= 0 or s <= 0:
        return [0] * len(weights)
    raw = [total * w / s for w in weights]
    out = [int(x) for x in raw]
    rest = total - sum(out)
    order = sorted(range(len(raw)), key=lambda i: raw[i] - out[i], reverse=True)
    for i in order[:rest]:
        out[i] += 1
    return out


def _p_open(age: float, centre: float, floor: float, width: float = 2.0) -> float:
    x = (age - centre) / width
    core = 0.0 if x > 60 else 1.0 / (1.0 + math.exp(x))
    return floor + (1.0 - floor) * core


def _calibrate(cells: list[Cell], target: int) -> None:
    """Choose the probability of being still open, by age, so that about ``target`` of the
    numbered dossiers are open: the recent ones, plus a thin stuck tail."""
    total = sum(c.n for c in cells)
    if target <= 0:
        for c in cells:
            c.p_open = 0.0
        return
    if target >= total:
        for c in cells:
            c.p_open = 1.0
        return
    floor = STUCK_OPEN_SHARE if target > 4 * STUCK_OPEN_SHARE * total else 0.0

    # Cells of one day share their age: one term per distinct age (a few hundred, not one
    # per agency and day) keeps the 80 rounds of bisection in milliseconds.
    by_age: dict[float, int] = {}
    for c in cells:
        by_age[c.age] = by_age.get(c.age, 0) + c.n
    terms = list(by_age.items())

    def expected(centre: float) -> float:
        return sum(n * _p_open(age, centre, floor) for age, n in terms)

    lo, hi = -100.0, 10_000.0
    for _ in range(80):
        mid = (lo + hi) / 2
        if expected(mid) < target:
            lo = mid
        else:
            hi = mid
    for c in cells:
        c.p_open = _p_open(c.age, hi, floor)


# ---------------------------------------------------------------------------------------------
# The load window: locks, session settings, indexes and foreign keys
# ---------------------------------------------------------------------------------------------


def _rating_model():
    """``ratings.Rating`` when the app is installed (seed_bulk rates returned dossiers)."""
    from django.apps import apps

    try:
        return apps.get_model("ratings", "Rating")
    except LookupError:
        return None


def loaded_tables() -> list[str]:
    tables = [Dossier._meta.db_table, DossierStep._meta.db_table, DossierEvent._meta.db_table,
              DossierDocument._meta.db_table]
    apology = getattr(dossier_models, "Apology", None)
    if apology is not None:
        tables.append(apology._meta.db_table)
    rating = _rating_model()
    if rating is not None:
        tables.append(rating._meta.db_table)
    return tables


class LoadWindow:
    """Inside the caller's transaction: lock the dossier tables against writers (readers carry
    on, but in ``rebuild`` mode dropping an index takes an ACCESS EXCLUSIVE lock until commit),
    tune the session for a bulk load, and in ``rebuild`` mode drop the loaded tables'
    secondary indexes and foreign keys, to put them back (same names, same definitions; the
    foreign keys validated over every row) in :meth:`restore`. Primary keys, check
    constraints and triggers (the append-only ones included) are never touched.

    Partial and expression indexes are rebuilt too, but only those whose definition comes
    back word for word: ``pg_get_indexdef`` prints ``state IN (…)`` on a ``varchar`` as
    ``(state)::text = ANY ((ARRAY['a'::character varying, …])::text[])``, which PostgreSQL
    re-reads with a cast per element (another expression tree, another definition). The
    definition is put back in Django's own words (:func:`_index_sql`) and tried first on an
    empty copy of the table; an index whose copy does not print exactly as the original stays
    in place (live) for the load."""

    SETTINGS = {
        "synchronous_commit": "off",  # a crash loses the load, never corrupts: it is one txn
        "work_mem": "256MB",
        "maintenance_work_mem": "512MB",
        "max_parallel_maintenance_workers": "2",
        "jit": "off",  # compiling the big statement costs more than it saves at batch size
    }

    def __init__(self, cursor, *, tables: list[str], rebuild: bool):
        self.cursor, self.tables, self.rebuild = cursor, tables, rebuild
        self.indexes: list[str] = []
        self.constraints: list[tuple[str, str, str]] = []  # (table, name, definition)
        self.foreign_keys: list[tuple[str, str, str]] = []
        #: (kind, table, name, seconds) of each index built and key validated by restore()
        self.timings: list[tuple[str, str, str, float]] = []

    def open(self) -> None:
        cur = self.cursor
        for name, value in self.SETTINGS.items():
            cur.execute("SELECT set_config(%s, %s, true)", [name, value])
        counter = DossierCounter._meta.db_table
        cur.execute(
            f"LOCK TABLE {', '.join(self.tables)}, {counter} IN EXCLUSIVE MODE"
        )
        if not self.rebuild:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # checked per batch, not all at commit
            return
        for table in self.tables:
            cur.execute(
                "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
                "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname", [table]
            )
            self.foreign_keys += [(table, name, d) for name, d in cur.fetchall()]
            cur.execute(
                "SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c "
                "WHERE c.conrelid = %s::regclass AND c.contype IN ('u', 'x') ORDER BY 1", [table]
            )
            self.constraints += [(table, name, d) for name, d in cur.fetchall()]
            cur.execute(
                "SELECT pg_get_indexdef(i.indexrelid), i.indexrelid::regclass::text, "
                "i.indpred IS NOT NULL OR i.indexprs IS NOT NULL FROM pg_index i "
                "WHERE i.indrelid = %s::regclass AND NOT i.indisprimary AND NOT EXISTS ("
                "  SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid"
                "  AND c.conrelid = i.indrelid AND c.contype IN ('u', 'x')) ORDER BY 2", [table]
            )
            for definition, name, special in cur.fetchall():
                if special:
                    definition = _index_sql(cur, table, name, definition)
                    if definition is None:
                        continue  # does not round-trip: stays live
                self.indexes.append(definition)
                cur.execute(f"DROP INDEX {name}")
        for table, name, _d in self.foreign_keys + self.constraints:
            cur.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')

    def restore(self, progress: Callable[[str], None] | None = None) -> dict[str, float]:
        cur = self.cursor
        phases: dict[str, float] = {}
        if self.rebuild:
            started = time.perf_counter()
            for definition in self.indexes:
                t0 = time.perf_counter()
                cur.execute(definition)
                words = definition.split(" ON ", 1)
                self.timings.append(("index", words[1].split()[0].removeprefix("public."),
                                     words[0].split()[-1], time.perf_counter() - t0))
            for table, name, definition in self.constraints:
                t0 = time.perf_counter()
                cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
                self.timings.append(("unique", table, name, time.perf_counter() - t0))
            phases["indexes"] = time.perf_counter() - started
            if progress:
                progress(f"  chỉ mục: {len(self.indexes) + len(self.constraints)} tạo lại "
                         f"trong {phases['indexes']:.1f} s")
            started = time.perf_counter()
            for table, name, definition in self.foreign_keys:
                t0 = time.perf_counter()
                cur.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
                self.timings.append(("foreign key", table, name, time.perf_counter() - t0))
            phases["foreign_keys"] = time.perf_counter() - started
            if progress:
                progress(f"  khóa ngoại: {len(self.foreign_keys)} kiểm tra lại "
                         f"trong {phases['foreign_keys']:.1f} s")
        started = time.perf_counter()
        for table in [*self.tables, DossierCounter._meta.db_table]:
            cur.execute(f"ANALYZE {table}")
        phases["analyze"] = time.perf_counter() - started
        return phases


_VARCHAR_IN = re.compile(
    r"\(\((\w+)\)::text = ANY \(\(ARRAY\[((?:'[^']*'::character varying(?:, )?)+)\]\)::text\[\]\)\)"
)
_VARCHAR_LITERAL = re.compile(r"('[^']*')::character varying")


def _index_sql(cur, table: str, name: str, definition: str) -> str | None:
    """``definition`` (from ``pg_get_indexdef``) in words that build the same index — the
    ``IN`` lists of a predicate as Django writes them — or None when a copy built from them on
    an empty twin of ``table`` does not print exactly as the original."""

    def as_in(match: re.Match) -> str:
        return f"({match.group(1)} IN ({', '.join(_VARCHAR_LITERAL.findall(match.group(2)))}))"

    candidate = _VARCHAR_IN.sub(as_in, definition)
    head, sep, tail = candidate.partition(" USING ")
    if not sep or not head.endswith(f" ON public.{table}") and not head.endswith(f" ON {table}"):
        return None
    twin = f"bulk_twin_{table}"
    cur.execute(f"CREATE TEMP TABLE IF NOT EXISTS {twin} (LIKE {table}) ON COMMIT DROP")
    cur.execute("SAVEPOINT bulk_twin")
    try:
        cur.execute(f"CREATE INDEX bulk_twin_idx ON {twin} USING {tail}")
        cur.execute("SELECT pg_get_indexdef('bulk_twin_idx'::regclass)")
        printed = cur.fetchone()[0]
    except Exception:  # noqa: BLE001 - any refusal means: leave this index alone
        cur.execute("ROLLBACK TO SAVEPOINT bulk_twin")
        return None
    cur.execute("ROLLBACK TO SAVEPOINT bulk_twin")
    if printed.partition(" USING ")[2] != definition.partition(" USING ")[2]:
        return None
    return candidate


def reserve_ids(cursor, table: str, count: int) -> int:
    """The first of ``count`` consecutive ids of ``table``, taken from its sequence (the table
    is locked against writers, so nobody else can take them in between)."""
    cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
    sequence = cursor.fetchone()[0]
    cursor.execute(f"SELECT GREATEST(nextval(%s), (SELECT COALESCE(max(id), 0) + 1 FROM {table}))",
                   [sequence])
    first = int(cursor.fetchone()[0])
    if count > 0:
        cursor.execute("SELECT setval(%s, %s)", [sequence, first + count - 1])
    return first


# ---------------------------------------------------------------------------------------------
# The statement
# ---------------------------------------------------------------------------------------------


def _u(k: int, seed: int) -> str:
    """A uniform draw in [0, 1), fixed by the dossier id, the seed and ``k``."""
    return f"((hashint8extended(g.id, {seed * 64 + k}) & 2147483647)::float8 / 2147483648.0)"


def _weighted(items: list[tuple[str, int]]) -> list[str]:
    return [name for name, weight in items for _ in range(weight)]


def _batch_sql(*, seed: int, documents: bool, apologies: bool, tz: str, day: int, half: int) -> str:
    """The statement that writes one batch of cells: dossiers, steps, events, letters (and
    checklists). Two stages are materialised: ``d0`` (the draws and the plan's arrays, read
    by every later expression) and ``d`` (scanned by every insert); the arithmetic between them
    is inlined, which recomputes a few cheap expressions but saves writing and reading a wide
    tuplestore per batch (~15 % of the insert phase, measured A/B at 50,000 dossiers)."""
    u = {k: _u(i, seed) for i, k in enumerate(
        ["plan", "open", "state", "c", "sup", "den", "asg", "t", "late", "f", "p", "pk", "e",
         "person", "wall", "ref"]
    )}
    open_case = " ".join(
        f"WHEN {u['state']} < {t} THEN {STATE_CODES[s]}" for s, t in OPEN_STATES[:-1]
    ) + f" ELSE {STATE_CODES[OPEN_STATES[-1][0]]}"
    closed_case = " ".join(
        f"WHEN {u['state']} < {t} THEN {STATE_CODES[s]}" for s, t in CLOSED_STATES[:-1]
    ) + f" ELSE {STATE_CODES[CLOSED_STATES[-1][0]]}"
    state_names = "(ARRAY['" + "','".join(STATE_CODES) + "'])[d.st + 1]"
    prov = " || ".join(
        f"substr('{_PROVISIONAL_ALPHABET}', (((d.id * 2654435761) >> {5 * j}) & 31)::int + 1, 1)"
        for j in range(8)
    )
    step_id = "%(step_base)s + ({row}.id - %(id_base)s) * %(stride)s + {pos} - 1"
    iso = "'YYYY-MM-DD\"T\"HH24:MI:SS+07:00'"
    on_time = f"(sp.finish_pos < sp.due_pos OR (sp.finish_pos = sp.due_pos AND sp.finish_pos %% {half} <> 0))"
    parts = [f"""
WITH g AS (
    SELECT c.cell_no, c.agency_id, c.agency_code, c.slot, c.k, c.day_off, c.yymmdd, c.n,
           c.base, c.start_off, c.avail - c.start_off AS span, c.p_open, c.wall_mid, c.wall_max, c.locality, s.s,
           %(id_base)s + c.first_i + s.s - 1 AS id,
           CASE WHEN s.s <= c.n THEN 0 WHEN s.s <= c.n + c.m_ref THEN 1 ELSE 2 END AS kind
    FROM bulk_cell c CROSS JOIN LATERAL generate_series(1, c.n + c.m_ref + c.m_sub) AS s(s)
    WHERE c.cell_no BETWEEN %(lo)s AND %(hi)s
), g1 AS (
    -- the draws, the state and where the plan is picked
    SELECT g.*, {u['c']} AS u_c, {u['sup']} AS u_sup, {u['e']} AS u_e,
           {u['den']} AS u_den, {u['asg']} AS u_asg, {u['late']} AS u_late, {u['f']} AS u_f,
           {u['p']} AS u_p, {u['pk']} AS u_pk, {u['wall']} AS u_wall, {u['ref']} AS u_ref,
           (hashint8extended(g.id, {seed * 64 + 40}) & 2147483647) %% %(people)s AS person,
           CASE WHEN g.kind = 0 THEN g.k * {day}::bigint
                     + g.start_off + floor(((g.s - 1) + {u['t']}) * g.span / g.n)::bigint END AS r,
           CASE
               WHEN g.kind = 1 THEN 7
               WHEN g.kind = 2 THEN 0
               WHEN %(now_pos)s - g.k * {day}::bigint - g.start_off
                    - floor(((g.s - 1) + {u['t']}) * g.span / g.n)::bigint < 600 THEN 1
               WHEN {u['open']} < g.p_open THEN CASE {open_case} END
               ELSE CASE {closed_case} END
           END AS st,
           g.slot * 2000 + CASE WHEN g.kind > 0 THEN 1000 ELSE 0 END
               + floor({u['plan']} * 1000)::int AS pick
    FROM g
    OFFSET 0
), d0 AS (
    -- the plan's scalars, the current step, the supplement, the appointment
    SELECT g1.id, g1.kind, g1.st, g1.k, g1.r, g1.s, g1.base, g1.agency_id, g1.agency_code,
           g1.yymmdd, g1.wall_mid, g1.wall_max, g1.locality, g1.u_e, g1.u_den, g1.u_asg,
           g1.u_ref, g1.u_wall, g1.person, p.plan_id, p.version_id, p.channel, p.online,
           p.n, p.o1, p.lead, p.ext, p.cum_req, p.clerk, p.leader, p.handler_o1,
           p.last_approve,
           -- the first processing step's unit: every plan's second step is an officer's
           p.units[2] AS first_unit,
           CASE g1.st
               WHEN 1 THEN 1
               WHEN 2 THEN p.ip[1 + floor(g1.u_c * cardinality(p.ip))::int]
               WHEN 3 THEN p.o1
               WHEN 4 THEN p.aa[1 + floor(g1.u_c * cardinality(p.aa))::int]
               WHEN 5 THEN p.n
               WHEN 6 THEN p.n
               WHEN 8 THEN CASE WHEN g1.u_c < 0.4 THEN 1
                                ELSE p.ip[1 + floor(g1.u_e * cardinality(p.ip))::int] END
               WHEN 9 THEN CASE WHEN g1.u_sup < 0.5 THEN p.o1
                                ELSE p.ip[1 + floor(g1.u_c * cardinality(p.ip))::int] END
               ELSE 1
           END AS c,
           CASE
               WHEN g1.st = 3 THEN 2
               WHEN g1.st = 9 AND g1.u_sup < 0.5 THEN 2
               WHEN g1.st IN (2, 4, 5, 6) AND p.sup_ok AND g1.u_sup < {SUPPLEMENT_SHARE} THEN 1
               ELSE 0
           END AS sup,
           CASE p.lim_kind
               WHEN 0 THEN g1.r + p.lim_val
               WHEN 1 THEN (g1.k + 1) * {day}::bigint
               ELSE (pg_temp.bulk_cal(g1.day_off, p.lim_val) + 1) * {day}::bigint
           END AS due0,
           CASE WHEN g1.u_late < {LATE_SHARE} THEN 1.02 + 0.6 * g1.u_f
                ELSE 0.25 + 0.72 * g1.u_f END AS lateness,
           {day} * (0.5 + 4.5 * g1.u_p) AS pause,
           3600.0 * (0.25 + 40 * g1.u_pk * g1.u_pk) AS pickup
    FROM g1 JOIN bulk_pick k ON k.key = g1.pick JOIN bulk_plan p ON p.plan_id = k.plan_id
    OFFSET 0
), d1 AS (
    -- the time line's length, shrunk so that nothing happens after now
    SELECT x.*,
           CASE WHEN x.horizon > x.elapsed * 0.97 THEN x.elapsed * 0.97 / x.horizon ELSE 1 END
               AS z
    FROM (
        SELECT d0.*, ps.cum AS cum_c, ps.cum_next AS cum_c1, ps.unit_id AS unit_c,
               ps.role AS role_c, ps.handler AS handler_c,
               GREATEST(0, %(now_pos)s - d0.r - 3 * d0.n - 20) AS elapsed,
               GREATEST(600.0, (d0.due0 - d0.r) * d0.lateness) AS f0,
               GREATEST(600.0, (d0.due0 - d0.r) * d0.lateness) * (CASE
                   WHEN d0.st IN (2, 4) AND d0.sup = 1 THEN GREATEST(ps.cum, d0.cum_req)
                   WHEN d0.st IN (2, 4) THEN ps.cum
                   WHEN d0.st = 3 THEN d0.cum_req
                   WHEN d0.st IN (5, 6) THEN 1
                   WHEN d0.st = 9 AND d0.sup = 2 THEN d0.cum_req
                   WHEN d0.st IN (8, 9) THEN ps.cum + d0.u_e * (ps.cum_next - ps.cum)
                   ELSE 0 END)
               + CASE WHEN d0.sup = 1 AND d0.st IN (2, 4, 5, 6) OR d0.sup = 2 AND d0.st = 9
                      THEN d0.pause ELSE 0 END
               + CASE WHEN d0.st = 6 THEN d0.pickup ELSE 0 END AS horizon
        FROM d0 LEFT JOIN bulk_plan_step ps ON ps.plan_id = d0.plan_id AND ps.pos = d0.c
                                             AND d0.kind = 0
        OFFSET 0
    ) x
    OFFSET 0
), d2 AS (
    SELECT d1.*, d1.f0 * d1.z AS f_val,
           CASE WHEN d1.sup > 0 THEN GREATEST(1, floor(d1.pause * d1.z)::bigint) ELSE 0 END AS p_int,
           CASE WHEN d1.st = 6 THEN floor(d1.pickup * d1.z)::bigint ELSE 0 END AS pk_int
    FROM d1
    OFFSET 0
), d3 AS (
    SELECT d2.*,
           d2.r + floor(d2.f_val * d2.cum_req)::bigint + 3 * (d2.o1 - 1) + 1 AS req_pos,
           d2.r + floor(d2.f_val)::bigint + CASE WHEN d2.sup = 1 THEN d2.p_int ELSE 0 END
               + 3 * (d2.n - 1) AS rr_pos,
           d2.due0 + CASE WHEN d2.sup = 1 THEN d2.p_int ELSE 0 END AS due,
           d2.r + floor(d2.f_val * d2.cum_c)::bigint + 3 * (d2.c - 1)
               + CASE WHEN d2.sup = 1 AND d2.c > d2.o1 THEN d2.p_int ELSE 0 END AS start_c,
           d2.r + floor(d2.f_val * (d2.cum_c + d2.u_e * (d2.cum_c1 - d2.cum_c)))::bigint
               + 3 * (d2.c - 1) + 1 AS mid_c,
           CASE WHEN d2.st IN (5, 6) THEN d2.n ELSE d2.c END AS reached,
           d2.st IN (5, 6) AND d2.u_den < {DENIED_SHARE} AND d2.last_approve AS denied
    FROM d2
    OFFSET 0
), d AS MATERIALIZED (
    -- only what the inserts read: this stage is scanned by every one of them
    SELECT d3.id, d3.kind, d3.st, d3.plan_id, d3.version_id, d3.channel, d3.online,
           d3.agency_id, d3.locality, d3.person, d3.n, d3.o1, d3.c, d3.sup, d3.r, d3.f_val,
           d3.p_int, d3.pk_int, d3.req_pos, d3.rr_pos, d3.due0, d3.due, d3.ext, d3.start_c,
           d3.reached, d3.denied, d3.unit_c, d3.role_c, d3.handler_c, d3.clerk, d3.leader,
           d3.handler_o1, d3.u_asg, d3.first_unit,
           CASE WHEN d3.st = 9 AND d3.sup = 2 THEN d3.req_pos + d3.p_int ELSE d3.mid_c END
               AS end_pos,
           CASE WHEN d3.kind = 0 AND (CASE d3.st
                    WHEN 3 THEN d3.req_pos WHEN 5 THEN d3.rr_pos WHEN 6 THEN d3.rr_pos
                    WHEN 8 THEN d3.mid_c WHEN 9 THEN CASE WHEN d3.sup = 2 THEN d3.req_pos ELSE d3.mid_c END
                    ELSE %(now_pos)s END) > d3.due
                THEN ceil(((CASE d3.st
                    WHEN 3 THEN d3.req_pos WHEN 5 THEN d3.rr_pos WHEN 6 THEN d3.rr_pos
                    WHEN 8 THEN d3.mid_c WHEN 9 THEN CASE WHEN d3.sup = 2 THEN d3.req_pos ELSE d3.mid_c END
                    ELSE %(now_pos)s END) - d3.due)::float8 / d3.ext)::int
                ELSE 0 END AS chain,
           CASE WHEN d3.kind = 0
                THEN d3.agency_code || '-' || d3.yymmdd || '-'
                     || CASE WHEN d3.base + d3.s < 10000 THEN lpad((d3.base + d3.s)::text, 4, '0')
                             ELSE (d3.base + d3.s)::text END
           END AS official,
           CASE WHEN d3.online THEN 'TT-' || d3.yymmdd || '-' || {prov.replace('d.id', 'd3.id')} END
               AS provisional,
           CASE WHEN d3.kind = 0 THEN pg_temp.bulk_ts(d3.r) END AS received_at,
           CASE WHEN d3.kind = 0 AND NOT d3.online THEN pg_temp.bulk_ts(d3.r)
                WHEN d3.kind = 0 THEN d3.wall_mid + d3.u_wall * (pg_temp.bulk_ts(d3.r) - d3.wall_mid)
                ELSE d3.wall_mid + (d3.u_wall * d3.wall_max) * interval '1 second'
           END AS submitted_at,
           CASE WHEN d3.st = 7 THEN LEAST(%(now)s, d3.wall_mid
               + (d3.u_wall * d3.wall_max + 1800 + 172800 * d3.u_ref) * interval '1 second') END
               AS refused_at
    FROM d3
)"""]
    if apologies:
        parts.append(f"""
, ap AS MATERIALIZED (
    SELECT d.id, k.k, d.plan_id, d.st, d.c, d.n, d.r, d.f_val, d.sup, d.p_int, d.o1,
           d.due + (k.k - 1) * d.ext AS for_pos, d.due + k.k * d.ext AS new_pos
    FROM d CROSS JOIN LATERAL generate_series(1, LEAST({MAX_APOLOGIES}, d.chain)) AS k(k)
    WHERE d.chain > 0
), apj AS MATERIALIZED (
    -- the step holding the dossier when the appointment passed
    SELECT ap.id, ap.k, ap.for_pos, ap.new_pos, ps.state_at, ps.unit_id, ps.pos,
           CASE WHEN ps.role = 'officer' THEN ps.handler END AS officer
    FROM ap JOIN bulk_plan_step ps ON ps.plan_id = ap.plan_id AND ps.pos = COALESCE(
        CASE WHEN ap.st IN (1, 2, 3, 4) THEN ap.c END, (
            SELECT max(q.pos) FROM bulk_plan_step q
            WHERE q.plan_id = ap.plan_id AND q.pos < ap.n
              AND ap.r + floor(ap.f_val * q.cum)::bigint + 3 * (q.pos - 1)
                  + CASE WHEN ap.sup = 1 AND q.pos > ap.o1 THEN ap.p_int ELSE 0 END <= ap.for_pos
        ), 1)
), ins_ap AS (
    INSERT INTO dossiers_apology (dossier_id, number, kind, issued_at, issued_by_id, for_due_at,
        new_due_at, state, at_fault_step_id, at_fault_unit_id, at_fault_officer_id, reason)
    SELECT apj.id, apj.k, 'auto', pg_temp.bulk_te(apj.for_pos), NULL, pg_temp.bulk_te(apj.for_pos),
           pg_temp.bulk_te(apj.new_pos), apj.state_at, {step_id.format(row='apj', pos='apj.pos')},
           apj.unit_id, apj.officer, %(apology_reason)s
    FROM apj
)""")
    if documents:
        parts.append(f"""
, ins_doc AS (
    INSERT INTO dossiers_dossierdocument (dossier_id, required_document_id, position, name,
        originals, copies, received)
    SELECT x.id, x.doc_id, x.position, x.name,
           CASE WHEN x.rec THEN x.originals ELSE 0 END, CASE WHEN x.rec THEN x.copies ELSE 0 END,
           x.rec
    FROM (
        SELECT d.id, pd.doc_id, pd.position, pd.name, pd.originals, pd.copies,
               pd.mandatory OR (hashint8extended(d.id * 64 + pd.position, {seed}) & 1023) < 600
                   AS rec
        FROM d JOIN bulk_plan_doc pd ON pd.version_id = d.version_id
        WHERE d.kind = 0
    ) x
)""")
    parts.append(f"""
, ins_d AS (
    INSERT INTO dossiers_dossier (id, code, provisional_code, procedure_version_id, agency_id,
        channel, applicant_name, applicant_name_folded, applicant_id_type, applicant_id_number,
        applicant_phone, applicant_email, applicant_address, state, submitted_at, received_at,
        clock_started_at, due_at, original_due_at, current_step_id, current_unit_id,
        "current_role", current_handler_id, outcome, result_text, result_ready_at, returned_at,
        closed_at, paused_at, paused_hours, supplement_requests, is_due_soon, is_overdue,
        version, created_at, updated_at, first_officer_unit_id)
    SELECT d.id, COALESCE(d.official, d.provisional), d.provisional, d.version_id, d.agency_id,
           d.channel,
           nm.name, nm.folded, 'citizen_id',
           '089' || lpad(((d.person * 7919 + 104729) %% 1000000000)::text, 9, '0'),
           nm.prefix || lpad(((d.person * 7 + 1234567) %% 10000000)::text, 7, '0'),
           CASE WHEN d.person %% 7 = 0 THEN nm.email || (d.person %% 1000) || '@gmail.com'
                ELSE '' END,
           nm.street || d.locality,
           {state_names},
           d.submitted_at, d.received_at, d.received_at,
           CASE WHEN d.kind = 0 THEN pg_temp.bulk_te(d.due + d.chain * d.ext) END,
           CASE WHEN d.kind = 0 THEN pg_temp.bulk_te(d.due0) END,
           CASE WHEN d.st BETWEEN 1 AND 5 THEN {step_id.format(row='d', pos='d.c')} END,
           CASE WHEN d.st BETWEEN 1 AND 5 THEN d.unit_c END,
           CASE WHEN d.st BETWEEN 1 AND 5 THEN d.role_c ELSE '' END,
           CASE WHEN d.st IN (2, 3) AND d.role_c = 'officer' AND d.u_asg < {ASSIGNED_SHARE}
                THEN d.handler_c END,
           CASE WHEN d.st IN (5, 6) THEN CASE WHEN d.denied THEN 'denied' ELSE 'granted' END
                ELSE '' END,
           '',
           CASE WHEN d.st IN (5, 6) THEN pg_temp.bulk_ts(d.rr_pos) END,
           CASE WHEN d.st = 6 THEN pg_temp.bulk_ts(d.rr_pos + d.pk_int) END,
           CASE WHEN d.st = 6 THEN pg_temp.bulk_ts(d.rr_pos + d.pk_int)
                WHEN d.st IN (8, 9) THEN pg_temp.bulk_ts(d.end_pos)
                WHEN d.st = 7 THEN d.refused_at
           END,
           CASE WHEN d.st = 3 THEN pg_temp.bulk_ts(d.req_pos) END,
           CASE WHEN d.sup = 1 THEN round((d.p_int / 3600.0)::numeric, 2) ELSE 0 END,
           CASE WHEN d.sup > 0 THEN 1 ELSE 0 END,
           d.st IN (1, 2, 4) AND d.chain = 0 AND d.due > %(now_pos)s AND d.due <= %(soon_pos)s,
           d.st IN (1, 2, 4) AND (d.chain > 0 OR d.due <= %(now_pos)s),
           CASE WHEN d.kind = 0 THEN d.reached + CASE WHEN d.sup > 0 THEN 1 ELSE 0 END
                    + CASE WHEN d.sup = 1 THEN 1 ELSE 0 END
                    + CASE WHEN d.st IN (6, 8, 9) THEN 1 ELSE 0 END
                    + CASE WHEN d.online THEN 1 ELSE 0 END
                WHEN d.kind = 1 THEN 2 ELSE 1 END,
           d.submitted_at,
           CASE d.st
               WHEN 0 THEN d.submitted_at
               WHEN 7 THEN d.refused_at
               WHEN 1 THEN d.received_at
               WHEN 3 THEN pg_temp.bulk_ts(d.req_pos)
               WHEN 5 THEN pg_temp.bulk_ts(d.rr_pos)
               WHEN 6 THEN pg_temp.bulk_ts(d.rr_pos + d.pk_int)
               WHEN 8 THEN pg_temp.bulk_ts(d.end_pos)
               WHEN 9 THEN pg_temp.bulk_ts(d.end_pos)
               ELSE pg_temp.bulk_ts(GREATEST(d.start_c,
                                             CASE WHEN d.sup = 1 THEN d.req_pos + d.p_int ELSE 0 END))
           END,
           CASE WHEN d.kind = 0 THEN d.first_unit END
    FROM d JOIN bulk_name nm ON nm.idx = d.person %% {NAMES}
), sp AS NOT MATERIALIZED (
    SELECT x.*,
           x.start_pos + x.hours_sec + CASE WHEN x.sup = 1 AND x.pos = x.o1 THEN x.p_int ELSE 0 END
               AS due_pos
    FROM (
        SELECT d.id, d.st, d.sup, d.o1, d.n, d.reached, d.denied, d.u_asg,
               ps.pos, ps.process_step_id, ps.name, ps.agency_id, ps.unit_id, ps.role, ps.hours,
               ps.hours_sec, ps.handler, ps.trans, ps.from_st, ps.to_st, ps.inter, d.p_int,
               d.r + floor(d.f_val * ps.cum)::bigint + 3 * (ps.pos - 1)
                   + CASE WHEN d.sup = 1 AND ps.pos > d.o1 THEN d.p_int ELSE 0 END AS start_pos,
               CASE WHEN ps.pos = d.n THEN d.rr_pos + d.pk_int
                    ELSE d.r + floor(d.f_val * ps.cum_next)::bigint + 3 * ps.pos
                         + CASE WHEN d.sup = 1 AND ps.pos >= d.o1 THEN d.p_int ELSE 0 END
               END AS finish_pos
        FROM d JOIN bulk_plan_step ps ON ps.plan_id = d.plan_id
        WHERE d.kind = 0
        OFFSET 0
    ) x
), ins_s AS (
    INSERT INTO dossiers_dossierstep (id, dossier_id, process_step_id, position, attempt, name,
        agency_id, unit_id, role, hours, started_at, due_at, finished_at, handler_id, on_time)
    SELECT {step_id.format(row='sp', pos='sp.pos')}, sp.id, sp.process_step_id, sp.pos, 1,
           sp.name, sp.agency_id, sp.unit_id, sp.role, sp.hours,
           CASE WHEN sp.pos <= sp.reached THEN pg_temp.bulk_ts(sp.start_pos) END,
           CASE WHEN sp.pos <= sp.reached THEN pg_temp.bulk_te(sp.due_pos) END,
           CASE WHEN sp.pos < sp.reached OR sp.st = 6 THEN pg_temp.bulk_ts(sp.finish_pos) END,
           CASE WHEN sp.pos < sp.reached OR sp.st = 6 OR sp.pos = 1 THEN sp.handler
                WHEN sp.pos = sp.reached AND sp.role = 'officer' AND sp.st IN (2, 3)
                     AND sp.u_asg < {ASSIGNED_SHARE} THEN sp.handler
           END,
           CASE WHEN sp.pos < sp.reached OR sp.st = 6 THEN {on_time} END
    FROM sp
)
INSERT INTO dossiers_dossierevent (dossier_id, at, actor_id, transition, from_state, to_state,
    step_id, comment, on_time, data)
SELECT d.id, d.submitted_at, NULL::integer, 'submit', '', 'submitted', NULL::bigint, '',
       NULL::boolean, '{{"channel": "online", "attachments": 0}}'::jsonb
FROM d WHERE d.online
UNION ALL
SELECT d.id, d.received_at, d.clerk, 'receive', CASE WHEN d.online THEN 'submitted' ELSE '' END,
       'received', {step_id.format(row='d', pos='1')}, '', NULL,
       CASE d.channel
           WHEN 'online' THEN '{{"channel": "online", "desk": false, "seed": "bulk"}}'::jsonb
           WHEN 'post' THEN '{{"channel": "post", "desk": true, "seed": "bulk"}}'::jsonb
           ELSE '{{"channel": "in_person", "desk": true, "seed": "bulk"}}'::jsonb END
FROM d WHERE d.kind = 0
UNION ALL
SELECT sp.id, pg_temp.bulk_ts(sp.finish_pos), sp.handler,
       CASE WHEN sp.denied AND sp.pos = sp.n - 1 THEN 'deny' ELSE sp.trans END,
       sp.from_st, sp.to_st, {step_id.format(row='sp', pos='sp.pos')}, '', {on_time},
       CASE WHEN sp.inter THEN '{{"inter_agency": true}}'::jsonb ELSE '{{}}'::jsonb END
FROM sp WHERE sp.pos < sp.reached AND sp.pos < sp.n
UNION ALL
SELECT d.id, pg_temp.bulk_ts(d.req_pos), d.handler_o1, 'request_supplement', 'in_progress',
       'supplement_requested', {step_id.format(row='d', pos='d.o1')}, '', NULL,
       '{{"request_number": 1, "counts_late": false}}'::jsonb
FROM d WHERE d.sup > 0
UNION ALL
SELECT d.id, pg_temp.bulk_ts(d.req_pos + d.p_int), d.clerk, 'supplement', 'supplement_requested',
       'in_progress', {step_id.format(row='d', pos='d.o1')}, '', NULL,
       jsonb_build_object('mode', 'pause', 'paused_hours', round((d.p_int / 3600.0)::numeric, 2)::text)
FROM d WHERE d.sup = 1
UNION ALL
SELECT d.id, pg_temp.bulk_ts(d.rr_pos + d.pk_int), d.clerk, 'return_result', 'result_ready',
       'returned', {step_id.format(row='d', pos='d.n')}, '', NULL,
       CASE WHEN d.denied THEN '{{"outcome": "denied"}}'::jsonb
            ELSE '{{"outcome": "granted"}}'::jsonb END
FROM d WHERE d.st = 6
UNION ALL
SELECT d.id, pg_temp.bulk_ts(d.end_pos), CASE WHEN d.st = 8 THEN d.clerk ELSE d.leader END,
       CASE WHEN d.st = 8 THEN 'withdraw' ELSE 'stop' END,
       CASE WHEN d.sup = 2 THEN 'supplement_requested' WHEN d.c = 1 THEN 'received'
            WHEN d.role_c = 'leader' THEN 'awaiting_approval' ELSE 'in_progress' END,
       CASE WHEN d.st = 8 THEN 'withdrawn' ELSE 'stopped' END,
       {step_id.format(row='d', pos='d.c')}, '', NULL,
       CASE WHEN d.st = 8 THEN '{{"reason": "Công dân đề nghị rút hồ sơ"}}'::jsonb
            ELSE '{{"legal_basis": "Quá thời hạn bổ sung hồ sơ theo quy định"}}'::jsonb END
FROM d WHERE d.st IN (8, 9)
UNION ALL
SELECT d.id, d.refused_at, d.clerk, 'refuse', 'submitted', 'refused', NULL, '', NULL,
       '{{"reasons": ["Hồ sơ không thuộc thẩm quyền tiếp nhận"]}}'::jsonb
FROM d WHERE d.st = 7""")
    if apologies:
        parts.append(f"""
UNION ALL
SELECT apj.id, pg_temp.bulk_te(apj.for_pos), NULL, 'apology', apj.state_at, apj.state_at,
       {step_id.format(row='apj', pos='apj.pos')}, %(apology_reason)s, NULL,
       jsonb_build_object('apology_number', apj.k, 'kind', 'auto',
           'previous_due_at', to_char(pg_temp.bulk_te(apj.for_pos) AT TIME ZONE '{tz}', {iso}),
           'new_due_at', to_char(pg_temp.bulk_te(apj.new_pos) AT TIME ZONE '{tz}', {iso}),
           'already_late', true, 'step', {step_id.format(row='apj', pos='apj.pos')},
           'unit', apj.unit_id, 'officer', apj.officer, 'reason', %(apology_reason)s)
FROM apj""")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# The service
# ---------------------------------------------------------------------------------------------


def _check_database() -> None:
    if connection.vendor != "postgresql":
        raise BulkError(
            "seed_bulk cần PostgreSQL (dữ liệu được sinh ngay trong cơ sở dữ liệu); cơ sở dữ "
            f"liệu hiện tại là {connection.vendor}. Đặt DATABASE_URL=postgres://… rồi chạy lại."
        )


def seed_bulk(
    *,
    dossiers: int,
    open_share: float = 0.2,
    batch: int = 100_000,
    documents: bool = False,
    seed: int = 2026,
    now: datetime | None = None,
    indexes: str = "auto",
    days: int = DAYS_BACK,
    ratings: bool = True,
    progress: Callable[[str], None] | None = None,
) -> BulkResult:
    """Write ``dossiers`` dossiers received over the last ``days`` days, with their steps,
    events and apology letters, the citizens' ratings of ``RATED_SHARE`` of the returned ones
    (``ratings``) and document checklists (``documents``), in one transaction. ``open_share``
    of them are still open. ``indexes``: ``live`` keeps every
    index and foreign key in place, ``rebuild`` drops and rebuilds them around the load,
    ``auto`` rebuilds when the load at least doubles the dossier table.

    Needs PostgreSQL and the organisation and catalogue (``seed_demo``); raises
    :class:`BulkError` otherwise. Returns the counts and the time taken.
    """
    _check_database()
    if dossiers < 0:
        raise BulkError("Số hồ sơ phải không âm.")
    if not 0 <= open_share <= 1:
        raise BulkError("--open-share phải nằm trong khoảng 0..1.")
    if batch < 1:
        raise BulkError("--batch phải lớn hơn 0.")
    if indexes not in ("auto", "live", "rebuild"):
        raise BulkError("--indexes: auto, live hoặc rebuild.")
    say = progress or (lambda message: None)
    started = time.perf_counter()
    now = now or timezone.now()
    today = timezone.localtime(now, calendar.TZ).date()
    first = today - timedelta(days=days)
    axis = Axis.build(first, today + timedelta(days=days + 1100))
    plans, skipped = build_plans(axis.day_sec)
    if plans:
        # Not before the catalogue's versions took effect (the oldest current one).
        oldest = min(timezone.localtime(p.version.effective_from, calendar.TZ).date()
                     for p in plans)
        first = min(max(first, oldest), today)
    if not plans:
        raise BulkError(
            "Chưa có danh mục thủ tục hoặc cơ cấu tổ chức để sinh hồ sơ (không có thủ tục đang "
            "áp dụng nào có quy trình nội bộ khớp với đơn vị). Chạy `manage.py seed_demo` "
            "trước."
        )
    result = BulkResult(skipped_plans=skipped)
    if dossiers == 0:
        return result
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM {Dossier._meta.db_table}")
        existing = int(cur.fetchone()[0])
        rebuild = indexes == "rebuild" or (indexes == "auto" and dossiers >= existing)
        result.mode = "rebuild" if rebuild else "live"
        window = LoadWindow(cur, tables=loaded_tables(), rebuild=rebuild)
        prepare_started = time.perf_counter()
        window.open()
        cells = _cells(cur, plans, axis, now=now, today=today, first=first,
                       total=dossiers, open_share=open_share)
        stride = max(len(p.steps) for p in plans)
        total = sum(c.n + c.m_ref + c.m_sub for c in cells)
        id_base = reserve_ids(cur, Dossier._meta.db_table, total)
        step_base = reserve_ids(cur, DossierStep._meta.db_table, total * stride)
        _prepare(cur, plans, cells, axis, documents=documents, seed=seed)
        apologies = hasattr(dossier_models, "Apology")
        sql = _batch_sql(seed=seed, documents=documents, apologies=apologies,
                         tz=str(calendar.TZ), day=axis.day_sec,
                         half=axis.periods[0][1] - axis.periods[0][0])
        params = {
            "id_base": id_base, "step_base": step_base, "stride": stride,
            "now": now, "now_pos": axis.position(now),
            "soon_pos": axis.position(now) + int(
                Decimal(str(getattr(settings, "MOTCUA_DUE_SOON_HOURS", 8))) * 3600),
            "people": max(1000, dossiers // 3),
            "apology_reason": (
                "hồ sơ chưa được giải quyết xong khi đã hết thời hạn giải quyết theo quy định"
            ),
        }
        say(f"Sinh {total:,} hồ sơ ({len(plans)} phương án thủ tục × cơ quan × cách thức nộp, "
            f"{len(cells)} ô cơ quan × ngày), chế độ chỉ mục: {result.mode}.")
        before = _inserted(cur)
        load_started = time.perf_counter()
        result.phases["prepare"] = load_started - prepare_started
        batches = _batches(cells, batch)
        rating = _rating_model() if ratings else None
        rating_sql = rating and _ratings_sql(
            seed=seed, table=rating._meta.db_table, now="%(now)s",
            where="d.id BETWEEN %(first_id)s AND %(last_id)s",
        )
        done = 0
        for number, (lo, hi, size) in enumerate(batches, start=1):
            t0 = time.perf_counter()
            cur.execute(sql, {**params, "lo": lo, "hi": hi})
            if rating_sql:
                # The batch's dossiers are the ids id_base + done … (cells in order); read
                # back through the primary key while they are still in the cache.
                cur.execute(rating_sql, {
                    "comments": RATING_COMMENTS, "share": RATED_SHARE, "now": now,
                    "first_id": id_base + done, "last_id": id_base + done + size - 1,
                })
            cur.execute(
                f"INSERT INTO {DossierCounter._meta.db_table} (agency_id, day, last) "
                "SELECT agency_id, day, base + n FROM bulk_cell "
                "WHERE cell_no BETWEEN %s AND %s AND n > 0 "
                "ON CONFLICT (agency_id, day) DO UPDATE SET last = GREATEST("
                f"{DossierCounter._meta.db_table}.last, EXCLUDED.last)", [lo, hi]
            )
            done += size
            elapsed = time.perf_counter() - t0
            say(f"  lô {number}/{len(batches)}: {done:,}/{total:,} hồ sơ "
                f"({size / elapsed if elapsed else 0:,.0f} hồ sơ/s)")
        result.phases["insert"] = time.perf_counter() - load_started
        result.phases.update(window.restore(say))
        count_started = time.perf_counter()
        _count(cur, result, before, id_base, total)
        result.phases["count"] = time.perf_counter() - count_started
    result.seconds = time.perf_counter() - started
    return result


def _names(seed: int) -> list[tuple]:
    """``NAMES`` people's names (family names weighted as in the south of Vietnam), folded as
    ``motcua.text.fold`` folds them, with an e-mail stem, a mobile prefix and a street."""
    import random

    rng = random.Random(seed)
    family, middle = _weighted(FAMILY_NAMES), _weighted(MIDDLE_NAMES)
    rows = []
    for idx in range(NAMES):
        parts = [rng.choice(family), rng.choice(middle), rng.choice(GIVEN_NAMES)]
        name = " ".join(parts)
        folded = fold(name)
        rows.append((
            idx, name, folded, f"{folded.split()[-1]}.{folded.split()[0]}",
            rng.choice(MOBILE_PREFIXES), f"Số {rng.randint(1, 300)} đường {rng.choice(STREETS)}, ",
        ))
    return rows


def _cells(cur, plans, axis: Axis, *, now, today, first, total, open_share) -> list[Cell]:
    """The (agency, day) cells with their counts, open probability and first sequence number
    (from ``DossierCounter``, read under the load's lock)."""
    by_agency: dict[int, list[Plan]] = {}
    for plan in plans:
        by_agency.setdefault(plan.agency.pk, []).append(plan)
    agencies = sorted({p.agency.pk: p.agency for p in plans}.values(), key=lambda a: a.code)
    now_local = timezone.localtime(now, calendar.TZ)
    now_pos = axis.position(now)
    k_today = axis.index(today)
    cells: list[Cell] = []
    for slot, agency in enumerate(agencies):
        weight = sum(p.weight for p in by_agency[agency.pk])
        for k in range(axis.index(first), min(k_today, len(axis.days) - 1) + 1):
            day = axis.days[k]
            if day > today:
                break
            avail = min(axis.day_sec, now_pos - k * axis.day_sec)
            if avail < 60:
                continue
            wall = (now_local - datetime.combine(day, datetime.min.time(), tzinfo=calendar.TZ))
            cells.append(Cell(
                agency=agency, slot=slot, k=k, day=day,
                weight=weight * WEEKDAY_WEIGHTS[day.weekday()] * avail / axis.day_sec,
                avail=avail, wall_max=int(min(86_399, wall.total_seconds())),
                age=max(0.0, (now_pos - k * axis.day_sec - avail / 2) / axis.day_sec),
            ))
    if not cells:
        raise BulkError("Không có ngày làm việc nào trong khoảng thời gian đã chọn.")
    online_weight = {
        a.pk: sum(p.weight for p in by_agency[a.pk] if p.channel == Channel.ONLINE)
        for a in agencies
    }
    online_cells = [c for c in cells if online_weight[c.agency.pk] > 0]
    open_total = round(open_share * total)
    submitted = round(open_total * SUBMITTED_SHARE_OF_OPEN) if online_cells else 0
    refused = round(total * REFUSED_SHARE) if online_cells and total >= 100 else 0
    numbered = total - submitted - refused
    for cell, n in zip(cells, _allocate(numbered, [c.weight for c in cells]), strict=True):
        cell.n = n
    online_w = [c.weight * online_weight[c.agency.pk] / max(1e-9, sum(
        p.weight for p in by_agency[c.agency.pk])) for c in online_cells]
    for cell, m in zip(online_cells, _allocate(refused, online_w), strict=True):
        cell.m_ref = m
    recent_k = sorted({c.k for c in online_cells})[-2:]
    recent = [(c, w) for c, w in zip(online_cells, online_w, strict=True) if c.k in recent_k]
    for (cell, _w), m in zip(recent, _allocate(submitted, [w for _c, w in recent]), strict=True):
        cell.m_sub = m
    _calibrate(cells, max(0, open_total - submitted))
    cur.execute(
        f"SELECT agency_id, day, last FROM {DossierCounter._meta.db_table} WHERE day >= %s",
        [axis.days[cells[0].k] if cells else first],
    )
    bases = {(a, d): last for a, d, last in cur.fetchall()}
    last_codes = {}
    for cell in cells:
        cell.base = bases.get((cell.agency.pk, cell.day), 0)
        if cell.base:
            last_codes[f"{cell.agency.code}-{cell.day:%y%m%d}-{cell.base:04d}"] = cell
    if last_codes:
        # New numbers come after the day's last reception (one index lookup per cell).
        cur.execute(
            f"SELECT code, received_at FROM {Dossier._meta.db_table} WHERE code = ANY(%s)",
            [list(last_codes)],
        )
        for code, received_at in cur.fetchall():
            cell = last_codes[code]
            if received_at is not None:
                offset = axis.position(received_at) - cell.k * axis.day_sec + 1
                cell.start_off = max(0, min(offset, cell.avail - 1))
    cells.sort(key=lambda c: (c.agency.code, c.k))
    return [c for c in cells if c.n + c.m_ref + c.m_sub > 0]


def _batches(cells: list[Cell], size: int) -> list[tuple[int, int, int]]:
    out, lo, count = [], 1, 0
    for number, cell in enumerate(cells, start=1):
        count += cell.n + cell.m_ref + cell.m_sub
        if count >= size:
            out.append((lo, number, count))
            lo, count = number + 1, 0
    if count:
        out.append((lo, len(cells), count))
    return out


def _locality(agency: Agency) -> str:
    name = agency.name
    for prefix in ("Ủy ban nhân dân ", "UBND "):
        if name.startswith(prefix):
            name = name[len(prefix):]
    province = getattr(settings, "MOTCUA_PROVINCE_NAME", "")
    if agency.kind != Agency.Kind.COMMUNE or not province:
        return province or name
    return f"{name}, {province[:1].lower()}{province[1:]}"


def _prepare(cur, plans: list[Plan], cells: list[Cell], axis: Axis, *, documents: bool,
             seed: int) -> None:
    """The small tables and functions the statement reads (temporary, gone at commit)."""
    for statement in axis.functions_sql():
        cur.execute(statement)
    # Twice in one transaction (a test, a caller's own atomic block): start afresh.
    cur.execute("DROP TABLE IF EXISTS bulk_plan, bulk_plan_step, bulk_pick, bulk_cell, "
                "bulk_plan_doc, bulk_name")
    cur.execute("""
        CREATE TEMP TABLE bulk_plan (
            plan_id int PRIMARY KEY, agency_id bigint, version_id bigint, channel text,
            online bool, n int, lim_kind int, lim_val bigint, ext bigint, o1 int, lead int,
            sup_ok bool, units bigint[], roles text[], agencies bigint[], handlers int[],
            hours_sec bigint[], cum float8[], trans text[], from_st text[], to_st text[],
            state_at text[], ip int[], aa int[], inter bool[], process_steps bigint[],
            names text[], hours numeric[]
        ) ON COMMIT DROP""")
    _fill(cur, "bulk_plan", PLAN_COLUMNS, [p.row() for p in plans])
    cur.execute("""
        ALTER TABLE bulk_plan ADD COLUMN cum_req float8, ADD COLUMN clerk int,
            ADD COLUMN leader int, ADD COLUMN handler_o1 int, ADD COLUMN last_approve bool""")
    # Where a supplement request falls: 30 % into the first appraisal step.
    cur.execute("""
        UPDATE bulk_plan SET cum_req = cum[o1] + 0.3 * (cum[o1 + 1] - cum[o1]),
            clerk = handlers[1], leader = handlers[lead], handler_o1 = handlers[o1],
            last_approve = trans[n - 1] = 'approve'""")
    cur.execute("""
        CREATE TEMP TABLE bulk_plan_step ON COMMIT DROP AS
        SELECT p.plan_id, j AS pos, p.process_steps[j] AS process_step_id, p.names[j] AS name,
               p.agencies[j] AS agency_id, p.units[j] AS unit_id, p.roles[j] AS role,
               p.hours[j] AS hours, p.hours_sec[j] AS hours_sec, p.cum[j] AS cum,
               p.cum[LEAST(j + 1, p.n)] AS cum_next, p.handlers[j] AS handler,
               p.trans[j] AS trans, p.from_st[j] AS from_st, p.to_st[j] AS to_st,
               p.inter[j] AS inter, p.state_at[j] AS state_at
        FROM bulk_plan p CROSS JOIN LATERAL generate_subscripts(p.units, 1) AS j""")
    cur.execute("ALTER TABLE bulk_plan_step ADD PRIMARY KEY (plan_id, pos)")
    # Which plan a draw lands on: 1000 buckets per agency (all plans / online plans only).
    keys, plan_ids = [], []
    slots = {c.agency.pk: c.slot for c in cells}
    for agency_id, slot in slots.items():
        own = [p for p in plans if p.agency.pk == agency_id]
        for online, candidates in ((0, own), (1, [p for p in own if p.channel == Channel.ONLINE])):
            if not candidates:
                continue
            counts = _allocate(1000, [p.weight for p in candidates])
            bucket = 0
            for plan, count in zip(candidates, counts, strict=True):
                for _ in range(count):
                    keys.append(slot * 2000 + online * 1000 + bucket)
                    plan_ids.append(plan.plan_id)
                    bucket += 1
    cur.execute("CREATE TEMP TABLE bulk_pick (key int PRIMARY KEY, plan_id int) ON COMMIT DROP")
    # Two columns of whole numbers: two array literals parse faster than 16,000 JSON objects.
    cur.execute("INSERT INTO bulk_pick SELECT * FROM unnest(%s::int[], %s::int[])",
                ["{" + ",".join(map(str, keys)) + "}", "{" + ",".join(map(str, plan_ids)) + "}"])
    cur.execute("""
        CREATE TEMP TABLE bulk_cell (
            cell_no int PRIMARY KEY, agency_id bigint, agency_code text, slot int, k int,
            day_off int, day date, yymmdd text, n int, m_ref int, m_sub int, base int,
            start_off int, avail int,
            p_open float8, wall_mid timestamptz, wall_max int, first_i bigint, locality text
        ) ON COMMIT DROP""")
    first_i, rows = 0, []
    for number, c in enumerate(cells, start=1):
        rows.append((
            number, c.agency.pk, c.agency.code, c.slot, c.k, (c.day - axis.first).days, c.day,
            f"{c.day:%y%m%d}", c.n, c.m_ref, c.m_sub, c.base, c.start_off, c.avail, c.p_open,
            datetime.combine(c.day, datetime.min.time(), tzinfo=calendar.TZ), c.wall_max,
            first_i, _locality(c.agency),
        ))
        first_i += c.n + c.m_ref + c.m_sub
    _fill(cur, "bulk_cell", [
        "cell_no", "agency_id", "agency_code", "slot", "k", "day_off", "day", "yymmdd", "n",
        "m_ref", "m_sub", "base", "start_off", "avail", "p_open", "wall_mid", "wall_max",
        "first_i", "locality",
    ], rows)
    if documents:
        version_ids = sorted({p.version.pk for p in plans})
        cur.execute(f"""
            CREATE TEMP TABLE bulk_plan_doc ON COMMIT DROP AS
            SELECT version_id, id AS doc_id, position, name, originals, copies,
                   is_mandatory AS mandatory
            FROM {DossierDocument._meta.get_field("required_document").related_model._meta.db_table}
            WHERE version_id = ANY(%s)""", [version_ids])
    cur.execute(
        "CREATE TEMP TABLE bulk_name (idx int PRIMARY KEY, name text, folded text, email text, "
        "prefix text, street text) ON COMMIT DROP"
    )
    _fill(cur, "bulk_name", ["idx", "name", "folded", "email", "prefix", "street"], _names(seed))
    cur.execute("ANALYZE bulk_plan; ANALYZE bulk_plan_step; ANALYZE bulk_pick; ANALYZE bulk_cell; "
                "ANALYZE bulk_name")


PLAN_COLUMNS = [
    "plan_id", "agency_id", "version_id", "channel", "online", "n", "lim_kind", "lim_val", "ext",
    "o1", "lead", "sup_ok", "units", "roles", "agencies", "handlers", "hours_sec", "cum",
    "trans", "from_st", "to_st", "state_at", "ip", "aa", "inter", "process_steps", "names",
    "hours",
]


def _fill(cur, table: str, columns: list[str], rows: list[tuple]) -> None:
    """``rows`` into the temporary ``table`` in one statement: one JSON document, parsed by
    the server (``json_populate_recordset``). A list of parameters per row, or an ``ARRAY[…]``
    of thousands of literals per column, cost a tenth of a second or more per table."""
    document = json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=str)
    cur.execute(
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} "
        f"FROM json_populate_recordset(NULL::{table}, %s)", [document],
    )


def _counted_tables() -> dict[str, type]:
    tables = {
        "dossiers": Dossier, "steps": DossierStep, "events": DossierEvent,
        "documents": DossierDocument,
    }
    apology = getattr(dossier_models, "Apology", None)
    if apology is not None:
        tables["apologies"] = apology
    rating = _rating_model()
    if rating is not None:
        tables["ratings"] = rating
    return tables


def _inserted(cur) -> dict[str, int]:
    """Rows inserted so far by this transaction, per table (the statistics collector's
    per-transaction counters: free)."""
    tables = _counted_tables()
    cur.execute(
        "SELECT relid::regclass::text, n_tup_ins FROM pg_stat_xact_user_tables "
        "WHERE relid = ANY(%s::regclass[])", [[m._meta.db_table for m in tables.values()]],
    )
    found = dict(cur.fetchall())
    return {attr: int(found.get(m._meta.db_table, 0)) for attr, m in tables.items()}


def _count(cur, result: BulkResult, before: dict[str, int], id_base: int, total: int) -> None:
    after = _inserted(cur)
    for attr, value in after.items():
        setattr(result, attr, value - before.get(attr, 0))
    cur.execute(
        f"SELECT count(*) FROM {Dossier._meta.db_table} WHERE id BETWEEN %s AND %s "
        "AND state = ANY(%s)", [id_base, id_base + total - 1, list(OPEN_STATE_VALUES)],
    )
    result.open = int(cur.fetchone()[0])


# ---------------------------------------------------------------------------------------------
# Ratings of returned dossiers (added for the reports' benchmark; docs/reports.md)
# ---------------------------------------------------------------------------------------------

#: Share of returned dossiers the citizen rates, and the levels' thresholds over one draw per
#: criterion: ~55 % very satisfied, ~38 % satisfied, ~7 % dissatisfied; the optional criteria
#: are answered by about 70 % of raters; ~8 % leave a comment.
RATED_SHARE = 0.30
RATING_COMMENTS = [
    "Cán bộ hướng dẫn tận tình.", "Thời gian giải quyết nhanh.", "Cần rút ngắn thời gian chờ.",
    "Thủ tục rõ ràng, dễ hiểu.", "Nên có thêm chỗ ngồi chờ.", "Hài lòng với thái độ phục vụ.",
]


def _ratings_sql(*, seed: int, table: str, where: str, now: str) -> str:
    """``INSERT … SELECT`` of the ratings of the returned dossiers ``d`` matching ``where``:
    parameters ``%(comments)s`` (RATING_COMMENTS) and ``%(share)s``. Draws
    ``hashint8extended(dossier id, seed·64 + 40 + k)``: the same dossiers and answers whoever
    runs it (seed_bulk during a load, seed_bulk_ratings afterwards)."""

    def draw(k: int) -> str:
        return (f"((hashint8extended(d.id, {seed * 64 + 40 + k}) & 2147483647)::float8"
                " / 2147483648.0)")

    def level(k: int, optional: bool) -> str:
        answered = f"{draw(k + 10)} < 0.70 AND " if optional else ""
        return (f"CASE WHEN {answered}{draw(k)} < 0.55 THEN 'very_satisfied' "
                f"WHEN {answered}{draw(k)} < 0.93 THEN 'satisfied' "
                f"WHEN {answered}TRUE THEN 'dissatisfied' ELSE '' END")

    comments = "%(comments)s::text[]"
    return f"""
        INSERT INTO {table}
            (dossier_id, overall, time, attitude, guidance, publicity, comment, source,
             created_at)
        SELECT d.id, {level(0, False)}, {level(1, True)}, {level(2, True)}, {level(3, True)},
               {level(4, True)},
               CASE WHEN {draw(5)} < 0.08
                    THEN ({comments})[1 + floor({draw(6)} * {len(RATING_COMMENTS)})::int]
                    ELSE '' END,
               (ARRAY['tracking', 'kiosk', 'link'])[1 + floor({draw(7)} * 3)::int],
               GREATEST(d.returned_at, LEAST({now}, d.returned_at
                            + make_interval(hours => 1 + floor({draw(8)} * 72)::int)))
        FROM {Dossier._meta.db_table} d
        WHERE d.state = 'returned' AND d.returned_at IS NOT NULL AND {draw(9)} < %(share)s
          AND {where}
    """


def seed_bulk_ratings(*, share: float = RATED_SHARE, seed: int = 2026) -> int:
    """Ratings for ``share`` of the returned dossiers that have none, in one ``INSERT …
    SELECT`` inside PostgreSQL (draws: ``hashint8extended(dossier id, seed·64 + 40 + k)``, so
    reruns pick the same dossiers and answers; seed_bulk rates its own dossiers with the same
    draws, so this adds nothing after it unless ``share`` or ``seed`` differ). Given one to 72
    hours after the return. Returns the number of rows inserted."""
    from ratings.models import Rating

    table = Rating._meta.db_table
    sql = _ratings_sql(
        seed=seed, table=table, now="now()",
        where=f"NOT EXISTS (SELECT 1 FROM {table} r WHERE r.dossier_id = d.id)",
    )
    with connection.cursor() as cur:
        cur.execute(sql, {"comments": RATING_COMMENTS, "share": share})
        return cur.rowcount
