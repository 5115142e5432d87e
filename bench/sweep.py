#!/usr/bin/env python
"""The deadline sweep on a province's worth of open dossiers.

    .venv/bin/python bench/sweep.py [--dossiers 1000000] [--overdue 50000] [--due-soon 10000]
                                    [--closed 200000] [--database-url URL] [--keep]
                                    [--json FILE]

In its own PostgreSQL database (``--database-url``, default
``postgres://postgres@127.0.0.1:5432/motcua_bench_sweep``, created and migrated if missing;
nothing else is touched), generates with ``INSERT … SELECT`` inside PostgreSQL:

- ``--dossiers`` open dossiers, each with its current step and its ``receive`` event, as the
  previous sweep left them, except ``--overdue`` of them that have passed their appointment
  since (received, in progress or awaiting approval: newly overdue, each needs its letter);
  ``--due-soon`` awaiting approval with less than a working day left (flagged due soon already;
  no letter: awaiting approval is never "predicted late"), the rest due in 2 to 40 days (some
  paused for a supplement);
- ``--closed`` returned dossiers, one in ten with an apology letter (history for the flag pass).

Then, in the same run, as of Wednesday 03/12/2025 10:00:

1. ``baseline`` — one hand-written SQL UPDATE flagging the same overdue set (rolled back);
2. ``sweep`` — ``deadline_sweep()``: the letters (their outbox messages included) and the flags;
3. ``again`` — the sweep right after: nothing to issue.

Targets: sweep < 15 s, again < 2 s with nothing issued, sweep ≤ 5 × baseline. Exits 1 when a
target is missed or the counts are wrong.
"""

from __future__ import annotations

import os
import sys

# bench/ holds a calendar.py that would shadow the standard library's calendar module: drop
# this folder from the path before anything imports it, and put the project's root there.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
sys.path.insert(0, os.path.dirname(_HERE))

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import datetime  # noqa: E402
from decimal import Decimal  # noqa: E402
from urllib.parse import urlsplit, urlunsplit  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/motcua_bench_sweep"
AT = datetime(2025, 12, 3, 10, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))  # a Wednesday
TARGET_SWEEP, TARGET_AGAIN, TARGET_RATIO = 15.0, 2.0, 5.0
RUNNING = ("received", "in_progress", "awaiting_approval")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--overdue", type=int, default=50_000)
    parser.add_argument("--due-soon", type=int, default=10_000)
    parser.add_argument("--closed", type=int, default=200_000)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_SWEEP_URL", DEFAULT_URL))
    parser.add_argument("--keep", action="store_true", help="keep the data (default: reseed)")
    parser.add_argument("--seed-only", action="store_true", help="seed, then stop (profiling)")
    parser.add_argument("--json", default=None, help="write the figures to this file")
    args = parser.parse_args()
    if args.overdue + args.due_soon > args.dossiers:
        parser.error("--overdue + --due-soon must not exceed --dossiers")
    return args


def ensure_database(url: str) -> None:
    import psycopg2

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if not cursor.fetchone():
            cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()


@contextmanager
def timed(label: str, into: dict):
    started = time.perf_counter()
    yield
    into[label] = into.get(label, 0.0) + time.perf_counter() - started


def setup_django(url: str):
    os.environ["DATABASE_URL"] = url
    # As a worker runs it: DEBUG would keep every statement's text (megabytes per batch).
    os.environ["DEBUG"] = "off"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "motcua.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from motcua.celery import app

    app.conf.broker_url = "memory://"  # what the sweep enqueues stays in this process
    app.conf.task_always_eager = False
    call_command("migrate", verbosity=0)


# ---------------------------------------------------------------------------------------------
# The data
# ---------------------------------------------------------------------------------------------


def organisation():
    """One agency with its desk, specialist unit and leaders, one officer, one procedure of
    5 working days with the standard steps. Idempotent."""
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from motcua.models import Agency, Role, StaffRole, Unit
    from procedures.models import Field, Procedure, ProcedureVersion, ProcessStep

    agency, _ = Agency.objects.get_or_create(
        code="000.00.99.H01", defaults={"name": "Sở Thử tải", "short_name": "STT"}
    )
    units = {
        code: Unit.objects.get_or_create(
            agency=agency, code=code, defaults={"name": name, "is_reception": code == "MC"}
        )[0]
        for code, name in (("MC", "Bộ phận một cửa"), ("CM", "Phòng chuyên môn"),
                           ("LD", "Ban Lãnh đạo"))
    }
    officer, _ = get_user_model().objects.get_or_create(
        username="bench_officer", defaults={"first_name": "Cán bộ", "last_name": "Thử tải"}
    )
    StaffRole.objects.get_or_create(user=officer, unit=units["CM"], role=Role.OFFICER)
    field, _ = Field.objects.get_or_create(code="B01", defaults={"name": "Thử tải"})
    procedure, created = Procedure.objects.get_or_create(code="9.999999.000.00.00.H99")
    if created or procedure.current_version_id is None:
        version = ProcedureVersion.objects.create(
            procedure=procedure, number=1, effective_from=timezone.now(), name="Thủ tục thử tải",
            field=field, level="province", agency=agency, time_limit_amount=Decimal(5),
            time_limit_unit="working_days", accepts_in_person=True, accepts_online=True,
        )
        steps = [("Tiếp nhận hồ sơ", "MC", Role.CLERK, 2), ("Thẩm định hồ sơ", "CM", Role.OFFICER, 24),
                 ("Dự thảo kết quả", "CM", Role.OFFICER, 6), ("Phê duyệt", "LD", Role.LEADER, 6),
                 ("Trả kết quả", "MC", Role.CLERK, 2)]
        for position, (name, unit, role, hours) in enumerate(steps, start=1):
            ProcessStep.objects.create(version=version, position=position, name=name,
                                       unit_code=unit, role=role, hours=Decimal(hours))
        procedure.current_version = version
        procedure.save(update_fields=["current_version"])
    return agency, units, officer, procedure.current_version


SEED_OPEN = """
INSERT INTO dossiers_dossier (
    id, code, provisional_code, channel, applicant_name, applicant_name_folded,
    applicant_id_type, applicant_id_number, applicant_phone, applicant_email, applicant_address,
    state, submitted_at, received_at, clock_started_at, due_at, original_due_at, "current_role",
    outcome, result_text, result_ready_at, returned_at, closed_at, paused_at, paused_hours,
    supplement_requests, is_due_soon, is_overdue, version, created_at, updated_at, agency_id,
    current_handler_id, current_unit_id, procedure_version_id, current_step_id
)
SELECT g, %(code)s || '-B' || lpad(g::text, 8, '0'), NULL,
       CASE WHEN g %% 4 = 0 THEN 'online' ELSE 'in_person' END,
       'Nguyễn Văn Thử ' || g, 'nguyen van thu ' || g, 'citizen_id', lpad(g::text, 12, '0'),
       '09' || lpad((g %% 100000000)::text, 8, '0'),
       CASE WHEN g %% 3 = 0 THEN 'cd' || g || '@example.vn' ELSE '' END, '',
       s.state, NULL, s.due - interval '7 days', s.due - interval '7 days', s.due, s.due,
       s.role, '', '', NULL, NULL, NULL,
       CASE WHEN s.state = 'supplement_requested' THEN s.due - interval '2 days' END, 0,
       (s.state = 'supplement_requested')::int,
       (g > %(overdue)s AND g <= %(overdue)s + %(soon)s), false, 1,
       s.due - interval '7 days', s.due - interval '7 days', %(agency)s,
       CASE WHEN s.state = 'in_progress' AND g %% 2 = 0 THEN %(officer)s END,
       CASE s.role WHEN 'clerk' THEN %(mc)s WHEN 'leader' THEN %(ld)s ELSE %(cm)s END,
       %(version)s, g
FROM generate_series(1, %(n)s) AS g
CROSS JOIN LATERAL (
    SELECT st.state, st.due,
           CASE st.state WHEN 'received' THEN 'clerk' WHEN 'awaiting_approval' THEN 'leader'
                ELSE 'officer' END AS role
    FROM (SELECT
        CASE
            WHEN g <= %(overdue)s THEN
                CASE g %% 10 WHEN 0 THEN 'awaiting_approval' WHEN 1 THEN 'received'
                     ELSE 'in_progress' END
            WHEN g <= %(overdue)s + %(soon)s THEN 'awaiting_approval'
            WHEN g %% 20 = 3 THEN 'supplement_requested'
            WHEN g %% 10 = 1 THEN 'received'
            WHEN g %% 10 = 0 THEN 'awaiting_approval'
            ELSE 'in_progress'
        END AS state,
        CASE
            WHEN g <= %(overdue)s THEN %(at)s - interval '1 hour' * (1 + g %% 72)
            WHEN g <= %(overdue)s + %(soon)s THEN %(at)s + interval '1 minute' * (1 + g %% 300)
            ELSE %(at)s + interval '1 day' * (2 + g %% 40) + interval '1 minute' * (g %% 480)
        END AS due
    ) AS st
) AS s
"""

SEED_STEPS = """
INSERT INTO dossiers_dossierstep (
    id, position, attempt, name, role, hours, started_at, due_at, finished_at, on_time,
    agency_id, dossier_id, handler_id, process_step_id, unit_id
)
SELECT d.id,
       CASE d.state WHEN 'received' THEN 1 WHEN 'awaiting_approval' THEN 4 ELSE 2 END, 1,
       CASE d.state WHEN 'received' THEN 'Tiếp nhận hồ sơ' WHEN 'awaiting_approval' THEN 'Phê duyệt'
            ELSE 'Thẩm định hồ sơ' END,
       d.current_role, 24, d.received_at, d.due_at - interval '1 day', NULL, NULL,
       d.agency_id, d.id, d.current_handler_id, NULL, d.current_unit_id
FROM dossiers_dossier AS d
WHERE d.id BETWEEN %(first)s AND %(last)s
"""

SEED_EVENTS = """
INSERT INTO dossiers_dossierevent (
    dossier_id, at, actor_id, transition, from_state, to_state, step_id, comment, on_time, data
)
SELECT d.id, d.received_at, NULL, 'receive', '', 'received', NULL, '', NULL, '{}'::jsonb
FROM dossiers_dossier AS d
WHERE d.id BETWEEN %(first)s AND %(last)s
ORDER BY d.id
"""

SEED_CLOSED = """
INSERT INTO dossiers_dossier (
    id, code, provisional_code, channel, applicant_name, applicant_name_folded,
    applicant_id_type, applicant_id_number, applicant_phone, applicant_email, applicant_address,
    state, submitted_at, received_at, clock_started_at, due_at, original_due_at, "current_role",
    outcome, result_text, result_ready_at, returned_at, closed_at, paused_at, paused_hours,
    supplement_requests, is_due_soon, is_overdue, version, created_at, updated_at, agency_id,
    current_handler_id, current_unit_id, procedure_version_id, current_step_id
)
SELECT g, %(code)s || '-C' || lpad(g::text, 8, '0'), NULL, 'in_person',
       'Trần Thị Cũ ' || g, 'tran thi cu ' || g, 'citizen_id', lpad(g::text, 12, '0'),
       '09' || lpad((g %% 100000000)::text, 8, '0'), '', '', 'returned', NULL,
       %(at)s - interval '1 hour' * (200 + g %% 8000), %(at)s - interval '1 hour' * (200 + g %% 8000),
       %(at)s - interval '1 hour' * (g %% 8000), %(at)s - interval '1 hour' * (g %% 8000) - interval '5 days',
       '', 'granted', '', %(at)s - interval '1 hour' * (g %% 8000), %(at)s - interval '1 hour' * (g %% 8000),
       %(at)s - interval '1 hour' * (g %% 8000), NULL, 0, 0, false, false, 1,
       %(at)s - interval '1 hour' * (200 + g %% 8000), %(at)s, %(agency)s, NULL, NULL, %(version)s, NULL
FROM generate_series(%(first)s, %(last)s) AS g
"""

SEED_HISTORY_APOLOGIES = """
INSERT INTO dossiers_apology (
    dossier_id, number, kind, issued_at, issued_by_id, for_due_at, new_due_at, state,
    at_fault_step_id, at_fault_unit_id, at_fault_officer_id, reason
)
SELECT d.id, 1, 'auto', d.original_due_at + interval '1 hour', NULL, d.original_due_at,
       d.due_at, 'in_progress', NULL, %(cm)s, NULL, 'lịch sử'
FROM dossiers_dossier AS d
WHERE d.id BETWEEN %(first)s AND %(last)s AND d.id %% 10 = 0
"""


def seed(args, cursor, org) -> dict:
    agency, units, officer, version = org
    times: dict[str, float] = {}
    cursor.execute("SET motcua.allow_event_truncate = 'on'")
    cursor.execute(
        "TRUNCATE dossiers_apology, dossiers_dossierevent, dossiers_dossierstep, "
        "dossiers_dossier, motcua_outboxmessage, motcua_duesoonnotified, motcua_staffnotice "
        "RESTART IDENTITY CASCADE"
    )
    common = {
        "code": agency.code, "agency": agency.pk, "officer": officer.pk, "mc": units["MC"].pk,
        "cm": units["CM"].pk, "ld": units["LD"].pk, "version": version.pk, "at": AT,
    }
    n = args.dossiers
    with timed("open dossiers", times):
        cursor.execute(SEED_OPEN, {**common, "n": n, "overdue": args.overdue, "soon": args.due_soon})
    with timed("their steps", times):
        cursor.execute(SEED_STEPS, {"first": 1, "last": n})
    with timed("their events", times):
        cursor.execute(SEED_EVENTS, {"first": 1, "last": n})
    if args.closed:
        first, last = n + 1, n + args.closed
        with timed("closed dossiers", times):
            cursor.execute(SEED_CLOSED, {**common, "first": first, "last": last})
            cursor.execute(SEED_HISTORY_APOLOGIES, {**common, "first": first, "last": last})
    for table in ("dossiers_dossier", "dossiers_dossierstep"):
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 1) FROM {table}))"
        )
    return times


def vacuum(tables=("dossiers_dossier", "dossiers_dossierstep", "dossiers_dossierevent",
                   "dossiers_apology", "motcua_outboxmessage")) -> None:
    import psycopg2
    from django.conf import settings

    db = settings.DATABASES["default"]
    conn = psycopg2.connect(dbname=db["NAME"], user=db["USER"], password=db["PASSWORD"] or None,
                            host=db["HOST"], port=db["PORT"] or None)
    conn.autocommit = True
    with conn.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
        cursor.execute("CHECKPOINT")
    conn.close()


# ---------------------------------------------------------------------------------------------
# The measurements
# ---------------------------------------------------------------------------------------------


BASELINE_SQL = """
UPDATE dossiers_dossier SET is_overdue = true
WHERE state IN ('received', 'in_progress', 'awaiting_approval') AND due_at < %(at)s
  AND NOT is_overdue
"""


def baseline(cursor) -> tuple[float, int]:
    from django.db import transaction

    started = time.perf_counter()
    with transaction.atomic():
        cursor.execute(BASELINE_SQL, {"at": AT})
        rows = cursor.rowcount
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed, rows


def instrumented_sweep():
    """``deadline_sweep`` with its parts timed: the letters (terms in Python and the one
    statement per batch), the flags, the look for letters whose messages were lost; the rest is
    choosing the candidates and committing (the deferred foreign-key checks of the rows
    inserted run at each batch's commit)."""
    from dossiers import deadlines

    parts: dict[str, float] = {}
    real = {name: getattr(deadlines, name)
            for name in ("_issue_batch", "_mark_flags", "_record_unannounced")}
    labels = {"_issue_batch": "letters", "_mark_flags": "flags",
              "_record_unannounced": "lost messages"}

    def wrap(name):
        def timed_part(*args, **kwargs):
            with timed(labels[name], parts):
                return real[name](*args, **kwargs)
        return timed_part

    for name in real:
        setattr(deadlines, name, wrap(name))
    try:
        started = time.perf_counter()
        result = deadlines.deadline_sweep(at=AT)
        elapsed = time.perf_counter() - started
    finally:
        for name, function in real.items():
            setattr(deadlines, name, function)
    if deadlines.workers_setting() == 1:
        parts["selection and commits"] = elapsed - sum(parts.values())
    else:  # the letters' time is summed over workers running side by side
        parts[f"letters (summed over {deadlines.workers_setting()} workers)"] = parts.pop(
            "letters", 0.0
        )
    return elapsed, result, parts


def main() -> int:
    args = parse_args()
    ensure_database(args.database_url)
    setup_django(args.database_url)
    from django.db import connection, transaction

    from dossiers.models import Apology, Dossier

    org = organisation()
    from dossiers.deadlines import batch_size_setting, workers_setting

    print(f"bench/sweep.py — {args.database_url.rsplit('/', 1)[-1]}, as of {AT.isoformat()}, "
          f"batches of {batch_size_setting():,}, {workers_setting()} worker(s)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM dossiers_dossier WHERE state IN %s", [RUNNING])
        have = cursor.fetchone()[0]
        if not args.keep or not have:
            started = time.perf_counter()
            with transaction.atomic():
                times = seed(args, cursor, org)
            vacuum()
            print(f"seeded {args.dossiers:,} open + {args.closed:,} closed dossiers in "
                  f"{time.perf_counter() - started:.1f} s "
                  f"({', '.join(f'{k} {v:.1f} s' for k, v in times.items())})")
        else:
            print(f"kept the data ({have:,} running dossiers)")
        if args.seed_only:
            return 0

        baseline(cursor)  # warm-up: the table and its indexes in memory like the sweep's
        vacuum(("dossiers_dossier",))
        base, flagged = baseline(cursor)
        vacuum(("dossiers_dossier",))

    # A worker's process has its calendar table built long before (holidays, admin overrides).
    from motcua import calendar

    calendar.add_working_hours(AT, 8)
    first, result, parts = instrumented_sweep()
    again, second, _ = instrumented_sweep()
    letters = Apology.objects.filter(dossier_id__lte=args.dossiers).count()
    overdue = Dossier.objects.filter(state__in=RUNNING, is_overdue=True).count()
    due_soon = Dossier.objects.filter(state__in=RUNNING, is_due_soon=True).count()

    ratio = first / base if base else float("inf")
    print(f"baseline: hand-written UPDATE flagging {flagged:,} overdue   {base:7.2f} s")
    print(f"sweep:    {result.apologies:,} letters, +{result.marked_overdue:,} overdue, "
          f"+{result.marked_due_soon:,} due soon   {first:7.2f} s   "
          f"({ratio:.1f}× baseline; target < {TARGET_SWEEP:.0f} s, ≤ {TARGET_RATIO:.0f}×)")
    print("          " + ", ".join(f"{k} {v:.2f} s" for k, v in parts.items()))
    print(f"again:    {second.apologies:,} letters   {again:7.2f} s   (target < {TARGET_AGAIN:.0f} s)")
    print(f"after:    {letters:,} letters of open dossiers, {overdue:,} overdue, "
          f"{due_soon:,} due soon")

    failures = []
    if flagged != args.overdue:
        failures.append(f"baseline flagged {flagged}, expected {args.overdue}")
    if result.apologies != args.overdue or letters != args.overdue:
        failures.append(f"{result.apologies} letters issued, expected {args.overdue}")
    if overdue != args.overdue or due_soon != args.due_soon:
        failures.append(f"flags: {overdue} overdue, {due_soon} due soon")
    if second.apologies:
        failures.append(f"the second sweep issued {second.apologies} letters")
    if first >= TARGET_SWEEP:
        failures.append(f"sweep {first:.2f} s ≥ {TARGET_SWEEP} s")
    if again >= TARGET_AGAIN:
        failures.append(f"second sweep {again:.2f} s ≥ {TARGET_AGAIN} s")
    if ratio > TARGET_RATIO:
        failures.append(f"sweep {ratio:.1f}× the hand-written UPDATE (> {TARGET_RATIO}×)")
    for failure in failures:
        print(f"FAIL: {failure}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump({
                "benchmark": "sweep", "dossiers": args.dossiers, "overdue": args.overdue,
                "due_soon": args.due_soon, "closed": args.closed,
                "baseline_s": base, "sweep_s": first, "again_s": again, "ratio": ratio,
                "parts_s": parts, "letters": result.apologies,
                "letters_again": second.apologies, "flagged_by_baseline": flagged,
                "overdue_after": overdue, "due_soon_after": due_soon,
                "targets": {"sweep_s": TARGET_SWEEP, "again_s": TARGET_AGAIN,
                            "ratio": TARGET_RATIO},
                "failures": failures,
            }, handle, indent=2)
    print("OK" if not failures else "MISSED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
