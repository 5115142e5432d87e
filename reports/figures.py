"""The summary tables of the reports (docs/reports.md, "Summary tables"): what they hold, how
they are rebuilt, and how a period's figures are read from them.

:class:`~reports.models.DailyFigure` holds, per day × agency × procedure version × channel, the
*flows*: facts that belong to one moment (received, result ready, closed, letter issued, rating
given) with the figures that hang on them. They are counted by one SQL statement,
:data:`FLOWS_SQL`, used both to fill the table and to count the days the table does not cover
yet — so the stored and the live part of a period are the same definition.
:class:`~reports.models.MonthlyStock` holds the dossiers in progress at the start of each month
(for ``carried_over``). "Pending at the end of the period" is never stored: it depends on the
dossier's present state (a supplement stops the clock) and is counted live over the open
dossiers and those closed since (:func:`reports.selectors.pending_counts`).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.utils import timezone

from dossiers.models import OPEN_STATES
from ratings.models import CRITERIA, SATISFIED_LEVELS
from reports.models import (
    FLOW_COLUMNS,
    DailyFigure,
    DailyStaffFigure,
    FigureState,
    MonthlyStock,
    OpenFigure,
)

TZ_NAME = "Asia/Ho_Chi_Minh"
#: pg_advisory_lock key of the rebuild: "MCRP" (one rebuild at a time, any process).
LOCK_KEY = 0x4D435250
#: The event log is re-read this far back at each incremental run, for transactions that
#: wrote their events before the previous run started but committed after it.
EVENT_MARGIN = timedelta(minutes=15)

KEY_COLUMNS = ("day", "agency_id", "procedure_version_id", "channel")


def _tz_start(day: date) -> datetime:
    from zoneinfo import ZoneInfo

    return datetime.combine(day, time.min, tzinfo=ZoneInfo(TZ_NAME))


def _payments_table() -> bool:
    from django.apps import apps

    try:
        apps.get_model("payments", "Payment")
    except LookupError:
        return False
    return True


def _zeros(*names: str) -> str:
    return ", ".join(f"0 AS {n}" for n in names)


def _flows_sql() -> str:
    """One ``SELECT`` of the flows of ``[%(s)s, %(e)s)``, grouped by day and key: one pass
    over the dossiers, one over the letters, one over the ratings (``UNION ALL``)."""
    day = "(({col}) AT TIME ZONE %(tz)s)::date"
    paid = (
        "(EXISTS (SELECT 1 FROM payments_payment p WHERE p.dossier_id = d.id "
        "AND p.state = 'paid'))::int" if _payments_table() else "0"
    )
    satisfied = ", ".join(f"'{level}'" for level in SATISFIED_LEVELS)
    criteria = [code for code, _label in CRITERIA]
    rating_cols = ", ".join(
        [f"(COALESCE(r.{c}, '') IN ({satisfied}))::int AS satisfied_{c}" for c in criteria]
        + [f"(COALESCE(r.{c}, '') <> '')::int AS answered_{c}" for c in criteria]
    )
    no_ratings = ("ratings", *(f"satisfied_{c}" for c in criteria),
                  *(f"answered_{c}" for c in criteria))
    late = ("(d.result_ready_at > d.due_at OR d.supplement_requests >= 2 "
            "OR a.dossier_id IS NOT NULL)")
    early = ("(d.result_ready_at < date_trunc('day', d.due_at AT TIME ZONE %(tz)s) "
             "AT TIME ZONE %(tz)s)")
    exit_at = "LEAST(d.result_ready_at, d.closed_at)"
    keys = "d.agency_id, d.procedure_version_id, d.channel"
    in_range = "({col} >= %(s)s AND {col} < %(e)s)"
    received = in_range.format(col="d.received_at")
    resolved = in_range.format(col="d.result_ready_at")
    closed = in_range.format(col="d.closed_at")
    exited = in_range.format(col=exit_at)
    dossier_flows = ("received", "supplements", "digitised", "paid_online", "resolved_early",
                     "resolved_on_time", "resolved_late", "refusals", "withdrawals", "stops",
                     "exits")
    branches = [
        # One pass over the dossiers of the range (one scan for a long range, three index
        # ranges OR-ed for a short one); each dossier gives up to four rows, one per moment:
        # received (with the figures that count by reception), resolved (early, on time or
        # late against the first appointment), closed (refused, withdrawn, stopped), and left
        # the "in progress" stock (the first of resolved and closed, if it was received).
        f"""SELECT k.day, {keys}, {", ".join(f"k.{c}" for c in dossier_flows)},
               {_zeros("apologies", *no_ratings)}
          FROM dossiers_dossier d
          LEFT JOIN dossiers_apology a ON a.dossier_id = d.id AND a.number = 1
         CROSS JOIN LATERAL (VALUES
           (CASE WHEN {received} THEN {day.format(col="d.received_at")} END, 1,
            (d.supplement_requests > 0)::int,
            CASE WHEN {received} THEN (EXISTS (SELECT 1 FROM dossiers_attachment x
                                               WHERE x.dossier_id = d.id))::int END,
            CASE WHEN {received} THEN {paid} END, 0, 0, 0, 0, 0, 0, 0),
           (CASE WHEN {resolved} THEN {day.format(col="d.result_ready_at")} END, 0, 0, 0, 0,
            (NOT {late} AND {early})::int, (NOT {late} AND NOT {early})::int, ({late})::int,
            0, 0, 0, 0),
           (CASE WHEN {closed} AND d.state IN ('refused', 'withdrawn', 'stopped')
                 THEN {day.format(col="d.closed_at")} END, 0, 0, 0, 0, 0, 0, 0,
            (d.state = 'refused')::int, (d.state = 'withdrawn')::int,
            (d.state = 'stopped')::int, 0),
           (CASE WHEN d.received_at IS NOT NULL AND {exited}
                 THEN {day.format(col=exit_at)} END, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)
         ) AS k(day, {", ".join(dossier_flows)})
         WHERE ({received} OR {resolved} OR {closed}) AND k.day IS NOT NULL""",
        # Apology letters issued that day, under their dossier's key.
        f"""SELECT {day.format(col="ap.issued_at")}, {keys},
               {_zeros("received", "supplements", "digitised",
                       "paid_online", "resolved_early", "resolved_on_time", "resolved_late",
                       "refusals", "withdrawals", "stops", "exits")},
               1, {_zeros(*no_ratings)}
          FROM dossiers_apology ap JOIN dossiers_dossier d ON d.id = ap.dossier_id
         WHERE ap.issued_at >= %(s)s AND ap.issued_at < %(e)s""",
        # Ratings given that day.
        f"""SELECT {day.format(col="r.created_at")}, {keys},
               {_zeros("received", "supplements", "digitised", "paid_online",
                       "resolved_early", "resolved_on_time", "resolved_late", "refusals",
                       "withdrawals", "stops", "exits", "apologies")},
               1, {rating_cols}
          FROM ratings_rating r JOIN dossiers_dossier d ON d.id = r.dossier_id
         WHERE r.created_at >= %(s)s AND r.created_at < %(e)s""",
    ]
    sums = ", ".join(f"sum({c})::int AS {c}" for c in FLOW_COLUMNS)
    return (
        f"SELECT day, agency_id, procedure_version_id, channel, {sums} FROM (\n"
        + "\nUNION ALL\n".join(branches)
        + "\n) f GROUP BY day, agency_id, procedure_version_id, channel"
    )


_SHARED: contextvars.ContextVar[dict | None] = contextvars.ContextVar("live_flows", default=None)


@contextlib.contextmanager
def shared_live_flows():
    """Inside this block, :func:`flows` counts each range of days once and hands the same rows
    to every later caller: for one page that reads the live days twice (the dashboard's table
    and its weekly trend both end today; at ten million dossiers each count took ~1 s)."""
    token = _SHARED.set({})
    try:
        yield
    finally:
        _SHARED.reset(token)


def flows(start: date, end: date, *, using: str = "default") -> list[tuple]:
    """The flow rows of days ``start``–``end`` (inclusive) counted live: ``(day, agency_id,
    procedure_version_id, channel, *FLOW_COLUMNS)``."""
    from django.db import connections

    shared = _SHARED.get()
    key = (start, end, using)
    if shared is not None and key in shared:
        return shared[key]
    params = {"s": _tz_start(start), "e": _tz_start(end + timedelta(days=1)), "tz": TZ_NAME}
    with connections[using].cursor() as cur:
        cur.execute(_flows_sql(), params)
        rows = cur.fetchall()
    if shared is not None:
        shared[key] = rows
    return rows


# ---------------------------------------------------------------------------------------------
# Rebuild
# ---------------------------------------------------------------------------------------------


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _rebuild_days(cur, start: date, end: date) -> int:
    """Replace the flow rows of ``start``–``end``: delete, then one ``INSERT … SELECT``."""
    params = {"s": _tz_start(start), "e": _tz_start(end + timedelta(days=1)), "tz": TZ_NAME,
              "a": start, "b": end}
    cur.execute(f"DELETE FROM {DailyFigure._meta.db_table} WHERE day >= %(a)s AND day <= %(b)s",
                params)
    columns = ", ".join(("day", "agency_id", "procedure_version_id", "channel", *FLOW_COLUMNS))
    cur.execute(f"INSERT INTO {DailyFigure._meta.db_table} ({columns}) {_flows_sql()}",
                params)
    return cur.rowcount


def _rebuild_staff(cur, start: date, end: date) -> int:
    """Replace the step rows of ``start``–``end``: one statement for the whole range (a long
    range is one pass over the steps, a short one reads the ``finished_at`` index)."""
    params = {"s": _tz_start(start), "e": _tz_start(end + timedelta(days=1)), "tz": TZ_NAME,
              "a": start, "b": end}
    table = DailyStaffFigure._meta.db_table
    cur.execute(f"DELETE FROM {table} WHERE day >= %(a)s AND day <= %(b)s", params)
    cur.execute(
        f"""INSERT INTO {table} (day, unit_id, handler_id, handled, on_time, late)
            SELECT (finished_at AT TIME ZONE %(tz)s)::date, unit_id, handler_id, count(*),
                   count(*) FILTER (WHERE on_time), count(*) FILTER (WHERE NOT on_time)
              FROM dossiers_dossierstep
             WHERE finished_at >= %(s)s AND finished_at < %(e)s
             GROUP BY 1, 2, 3""",
        params,
    )
    return cur.rowcount


def staff_flows(start: date, end: date, *, using: str = "default") -> list[tuple]:
    """The step rows of ``start``–``end`` counted live: ``(unit_id, handler_id, handled,
    on_time, late)``."""
    from django.db import connections

    params = {"s": _tz_start(start), "e": _tz_start(end + timedelta(days=1))}
    with connections[using].cursor() as cur:
        cur.execute(
            """SELECT unit_id, handler_id, count(*), count(*) FILTER (WHERE on_time),
                      count(*) FILTER (WHERE NOT on_time)
                 FROM dossiers_dossierstep
                WHERE finished_at >= %(s)s AND finished_at < %(e)s
                GROUP BY 1, 2""",
            params,
        )
        return cur.fetchall()


def _rebuild_stock(cur, month: date) -> None:
    """``MonthlyStock`` of ``month`` (a first day): the previous month's stock plus its
    received minus exits, from the tables — or, for the first month the tables know, counted
    on the dossiers directly (received before it, not resolved nor closed before it)."""
    table, flows_table = MonthlyStock._meta.db_table, DailyFigure._meta.db_table
    prev = _month_start(month - timedelta(days=1))
    cur.execute(f"DELETE FROM {table} WHERE month = %s", [month])
    cur.execute(f"SELECT EXISTS (SELECT 1 FROM {flows_table} WHERE day < %s)", [month])
    if cur.fetchone()[0]:
        cur.execute(
            f"""INSERT INTO {table} (month, agency_id, procedure_version_id, channel, in_progress)
                SELECT %(m)s, agency_id, procedure_version_id, channel, sum(n)
                  FROM (SELECT agency_id, procedure_version_id, channel, in_progress AS n
                          FROM {table} WHERE month = %(p)s
                        UNION ALL
                        SELECT agency_id, procedure_version_id, channel, received - exits
                          FROM {flows_table} WHERE day >= %(p)s AND day < %(m)s) s
                 GROUP BY agency_id, procedure_version_id, channel HAVING sum(n) <> 0""",
            {"m": month, "p": prev},
        )
        return
    at = _tz_start(month)
    states = list(OPEN_STATES)
    cur.execute(
        f"""INSERT INTO {table} (month, agency_id, procedure_version_id, channel, in_progress)
            SELECT %(m)s, agency_id, procedure_version_id, channel, count(*)
              FROM dossiers_dossier d
             WHERE d.received_at < %(at)s
               AND (d.state = ANY(%(open)s) OR d.result_ready_at >= %(at)s
                    OR d.closed_at >= %(at)s)
               AND (d.result_ready_at IS NULL OR d.result_ready_at >= %(at)s)
               AND (d.closed_at IS NULL OR d.closed_at >= %(at)s)
             GROUP BY agency_id, procedure_version_id, channel""",
        {"m": month, "at": at, "open": states},
    )


def _rebuild_open(now: datetime) -> None:
    """:class:`OpenFigure` as of ``now``: the pending figures of a period that is not over,
    counted with the selectors' own filters, replaced whole."""
    from reports.selectors import Period, Scope
    from reports.stored import pending_counts

    today = timezone.localdate(now)
    counts = pending_counts(Period(today, today), Scope(), None, now, using="default")
    OpenFigure.objects.all().delete()
    OpenFigure.objects.bulk_create(
        OpenFigure(agency_id=a, procedure_version_id=v, channel=c, **values)
        for (a, v, c), values in counts.items()
    )


def _first_day() -> date | None:
    """The first day anything happened (the earliest reception or closing)."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT LEAST((SELECT min(received_at) FROM dossiers_dossier), "
            "(SELECT min(closed_at) FROM dossiers_dossier))"
        )
        first = cur.fetchone()[0]
    return timezone.localdate(first) if first else None


def _ranges(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as contiguous ranges."""
    out: list[list[date]] = []
    for day in sorted(set(days)):
        if out and day == out[-1][1] + timedelta(days=1):
            out[-1][1] = day
        else:
            out.append([day, day])
    return [(a, b) for a, b in out]


def _advance(built_through: date, ranges: list[tuple[date, date]], limit: date) -> date:
    """How far the table is final after rebuilding ``ranges``: only through ranges that join
    on to what was already final, and never past ``limit`` (yesterday)."""
    moved = True
    while moved:
        moved = False
        for a, b in ranges:
            if a <= built_through + timedelta(days=1) <= b:
                built_through, moved = b, True
    return min(built_through, limit)


def _locked(cur, wait: bool) -> bool:
    if wait:
        cur.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        return True
    cur.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
    return bool(cur.fetchone()[0])


def figures_rebuild(
    *, start: date | None = None, end: date | None = None, days: Iterable[date] = (),
    step_days: Iterable[date] | None = None, wait: bool = True, progress: Callable[[str], None] | None = None,
    now: datetime | None = None, events_seen_at: datetime | None = None,
) -> dict | None:
    """Rebuild the summary tables for ``start``–``end`` (default: from the first day anything
    happened to today) and/or the given ``days``; the finished steps of the same days (or of
    ``step_days``); then the monthly stocks from the first month touched to this month; then
    :class:`FigureState`.

    Idempotent (delete and insert per range, one transaction per calendar year) and one at a time: a
    session advisory lock; with ``wait=False`` a second caller returns ``None`` at once instead
    of waiting. Returns what was done."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    say = progress or (lambda _msg: None)
    with connection.cursor() as cur:
        if not _locked(cur, wait):
            return None
        try:
            ranges = []
            if start is not None or end is not None or not days:
                first = start or _first_day() or today
                # Whole months: the stock of a month is built from the month before.
                ranges.append((_month_start(first), min(end or today, today)))
            ranges += [(d, d) for d in days if d <= today]
            if step_days is not None:
                step_days = [d for d in step_days if d <= today]
            wanted = _ranges(
                day for a, b in ranges for day in
                (a + timedelta(days=i) for i in range((b - a).days + 1))
            )
            rows = 0
            t0 = timezone.now()
            # Steps count on the day they finish, which never changes: only the days asked for
            # by date (the days the event log finds are days of reception).
            for a, b in (wanted if step_days is None else _ranges(step_days)):
                with transaction.atomic():
                    cur.execute("SET LOCAL jit = off")
                    n = _rebuild_staff(cur, a, b)
                say(f"  bước xử lý {a:%d/%m/%Y}–{b:%d/%m/%Y}: {n:,} dòng")
            for a, b in wanted:
                chunk = a
                while chunk <= b:
                    # Whole calendar years: a long range is one pass over the dossiers per
                    # year (a month at a time would scan the table once per month).
                    chunk_end = min(b, date(chunk.year, 12, 31))
                    with transaction.atomic():
                        # A year is ~10 M rows to group into ~100,000: in memory, not spilled;
                        # and compiling the plan (JIT) costs more than it saves.
                        cur.execute("SET LOCAL work_mem = '256MB'")
                        cur.execute("SET LOCAL jit = off")
                        n = _rebuild_days(cur, chunk, chunk_end)
                    rows += n
                    say(f"  {chunk:%d/%m/%Y}–{chunk_end:%d/%m/%Y}: {n:,} dòng")
                    chunk = chunk_end + timedelta(days=1)
            first_month = _month_start(wanted[0][0]) if wanted else _month_start(today)
            month, months = first_month, 0
            with transaction.atomic():
                while month <= today:
                    _rebuild_stock(cur, month)
                    month, months = _next_month(month), months + 1
                _rebuild_open(now)
                state, _created = FigureState.objects.select_for_update().get_or_create(pk=1)
                # Days rebuilt after they ended are final (until a later event touches them:
                # the incremental run finds those through the event log).
                covered = today - timedelta(days=1)
                if state.built_through is None:
                    # A first build must have started at the beginning of the history.
                    state.built_through = covered if start is None else None
                else:
                    state.built_through = _advance(state.built_through, wanted, covered)
                state.built_at = now
                if events_seen_at is not None:
                    state.events_seen_at = events_seen_at
                state.save()
            seconds = (timezone.now() - t0).total_seconds()
            say(f"Xong: {rows:,} dòng số liệu ngày, {months} tháng tồn, {seconds:.1f} s.")
            return {"ranges": wanted, "rows": rows, "months": months, "seconds": seconds}
        finally:
            cur.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


def dirty_days(since: datetime) -> set[date]:
    """The days of reception of the dossiers that had an event since ``since`` (a supplement
    request, a file attached, a payment change the figures of the day the dossier was received;
    a result, a closing, a letter, a rating land on the day they happen — today or yesterday,
    rebuilt anyway). Read through the event log's index on ``at``."""
    with connection.cursor() as cur:
        cur.execute(
            """SELECT DISTINCT (d.received_at AT TIME ZONE %(tz)s)::date
                 FROM dossiers_dossier d
                WHERE d.received_at IS NOT NULL
                  AND d.id IN (SELECT dossier_id FROM dossiers_dossierevent WHERE at >= %(t)s)""",
            {"tz": TZ_NAME, "t": since},
        )
        return {row[0] for row in cur.fetchall()}


def figures_refresh(*, now: datetime | None = None) -> dict | None:
    """The incremental run (beat, every few minutes): yesterday and today, and the days of
    reception of the dossiers touched since the last run (event log). Skips (``None``) when
    another rebuild holds the lock; does a full build when the tables were never built."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    state = FigureState.objects.filter(pk=1).first()
    if state is None or state.built_through is None:
        return figures_rebuild(wait=False, now=now, events_seen_at=now)
    since = (state.events_seen_at or state.built_at or now) - EVENT_MARGIN
    days = {today - timedelta(days=1), today}
    # Days the table does not cover yet (the task was stopped for a while).
    gap = state.built_through + timedelta(days=1)
    while gap < today:
        days.add(gap)
        gap += timedelta(days=1)
    step_days = set(days)
    days |= dirty_days(since)
    return figures_rebuild(days=sorted(days), step_days=step_days, wait=False, now=now,
                           events_seen_at=now)
