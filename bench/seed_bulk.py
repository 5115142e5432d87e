#!/usr/bin/env python
"""seed_bulk against one hand-written INSERT … SELECT over generate_series writing the same rows.

    .venv/bin/python bench/seed_bulk.py [--dossiers 200000] [--rounds 2] [--database-url URL]
                                        [--json FILE] [--keep]

Each run starts from a fresh copy (``CREATE DATABASE … TEMPLATE``) of a template database
holding only the migrated schema, the demo organisation and the catalogue
(``<database>_seedtpl``, made once), so both sides write into the same empty tables with the
same indexes, foreign keys and triggers. In the same run, ``--rounds`` times, alternating:

1. ``seed_bulk`` — ``dossiers.bulk.seed_bulk(dossiers=N)``: realistic dossiers with their steps,
   events and apology letters;
2. ``baseline`` — the same number of rows in every table (taken from what seed_bulk wrote),
   written by one plain ``INSERT … SELECT … FROM generate_series`` per table, values from
   cheap arithmetic on the series number (so that indexed columns vary about as much as real
   ones), inside the same load window (``dossiers.bulk.LoadWindow``: same locks, session
   settings, indexes and foreign keys dropped and rebuilt, ANALYZE), one transaction.

Prints dossiers per second for both (end to end and the insert phase alone) and the ratio of
their times (target: seed_bulk within 1.3× of the baseline), and the absolute rate against the
target of 50,000 dossiers/s. Best round of each side. Exits 1 when the ratio target is missed.
The copies are dropped at the end (``--keep`` keeps the last two).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (fixes sys.path: bench/ shadows calendar and queue)

TARGET_RATIO = 1.3
TARGET_RATE = 50_000


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", default=None, help="write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the last two copies")
    return parser.parse_args()


def prepare_template(url: str) -> str:
    """The template database (schema + organisation + catalogue); its name."""
    template = common.database_name(url) + "_seedtpl"
    tpl_url = common.with_database(url, template)
    created = common.ensure_database(tpl_url)
    common.setup_django(tpl_url)  # migrates (a no-op when up to date)
    common.ensure_demo()
    if created:
        print(f"template database {template} created")
    common.close_connections()
    return template


def use_database(url: str) -> None:
    """Point Django's default connection at ``url`` (after a clone)."""
    from django.db import connections

    connections.close_all()
    settings_dict = connections["default"].settings_dict
    settings_dict["NAME"] = common.database_name(url)


def run_seed(url: str, n: int, batch: int) -> dict:
    from dossiers.bulk import seed_bulk

    use_database(url)
    started = time.perf_counter()
    result = seed_bulk(dossiers=n, batch=batch, indexes="rebuild")
    seconds = time.perf_counter() - started
    common.close_connections()
    return {
        "seconds": seconds, "insert": result.phases.get("insert", 0.0),
        "indexes": result.phases.get("indexes", 0.0),
        "foreign_keys": result.phases.get("foreign_keys", 0.0),
        "counts": {"dossiers": result.dossiers, "steps": result.steps, "events": result.events,
                   "apologies": result.apologies, "documents": result.documents},
        "open": result.open,
    }


BASELINE_SQL = [
    # One statement per table. Values come from cheap arithmetic on the series number, so the
    # indexed columns have about the variety of real rows (constants would make the index
    # builds artificially cheap: sorting equal keys costs nothing).
    ("dossiers", """
        INSERT INTO dossiers_dossier (id, code, provisional_code, procedure_version_id,
            agency_id, channel, applicant_name, applicant_name_folded, applicant_id_type,
            applicant_id_number, applicant_phone, applicant_email, applicant_address, state,
            submitted_at, received_at, clock_started_at, due_at, original_due_at,
            current_step_id, current_unit_id, "current_role", current_handler_id, outcome,
            result_text, result_ready_at, returned_at, closed_at, paused_at, paused_hours,
            supplement_requests, is_due_soon, is_overdue, version, created_at, updated_at)
        SELECT %(d0)s + g, '000.20.' || lpad((g %% 13)::text, 2, '0') || '.H01-'
                   || to_char(date '2025-11-24' + (g / 4000)::int, 'YYMMDD') || '-' || lpad(g::text, 6, '0'),
               CASE WHEN g %% 4 = 0 THEN 'TT-251124-' || g END,
               (%(versions)s::bigint[])[1 + g %% %(n_versions)s], (%(agencies)s::bigint[])[1 + g %% %(n_agencies)s], 'in_person',
               'Nguyễn Văn An ' || g %% 4096, 'nguyen van an ' || g %% 4096, 'citizen_id',
               lpad(((g * 7919) %% 1000000000000)::text, 12, '0'),
               '09' || lpad(((g * 104729) %% 100000000)::text, 8, '0'), '',
               'Số 12 đường Trần Hưng Đạo, phường Long Xuyên, tỉnh An Giang',
               (ARRAY['returned', 'returned', 'returned', 'returned', 'in_progress',
                      'received', 'awaiting_approval', 'result_ready', 'withdrawn',
                      'stopped'])[1 + g %% 10],
               now() - g * interval '30 second', now() - g * interval '30 second',
               now() - g * interval '30 second', now() + (g %% 9973) * interval '1 hour',
               now() + (g %% 9973) * interval '1 hour', NULL,
               CASE WHEN g %% 10 BETWEEN 4 AND 7 THEN (%(units)s::bigint[])[1 + g %% %(n_units)s] END, '', NULL, 'granted',
               '', now(), now(), now(), NULL, 0, 0, false, g %% 17 = 0, 5,
               now() - g * interval '30 second', now()
        FROM generate_series(0::bigint, %(dossiers)s - 1) AS g"""),
    ("steps", """
        INSERT INTO dossiers_dossierstep (id, dossier_id, process_step_id, position, attempt,
            name, agency_id, unit_id, role, hours, started_at, due_at, finished_at, handler_id,
            on_time)
        SELECT %(s0)s + g, %(d0)s + g %% %(dossiers)s, %(process_step)s, g / %(dossiers)s + 1,
               1, 'Thẩm định, xử lý hồ sơ', %(agency)s, (%(units)s::bigint[])[1 + g %% %(n_units)s],
               'officer', 6,
               now() - g * interval '7 second', now() + (g %% 9973) * interval '1 hour',
               now(), %(user)s, true
        FROM generate_series(0::bigint, %(steps)s - 1) AS g"""),
    ("events", """
        INSERT INTO dossiers_dossierevent (dossier_id, at, actor_id, transition, from_state,
            to_state, step_id, comment, on_time, data)
        SELECT %(d0)s + g %% %(dossiers)s, now() - g * interval '6 second', %(user)s,
               'forward', 'in_progress', 'in_progress', %(s0)s + g %% %(steps)s, '', true,
               '{}'::jsonb
        FROM generate_series(0::bigint, %(events)s - 1) AS g"""),
    ("apologies", """
        INSERT INTO dossiers_apology (dossier_id, number, kind, issued_at, issued_by_id,
            for_due_at, new_due_at, state, at_fault_step_id, at_fault_unit_id,
            at_fault_officer_id, reason)
        SELECT %(d0)s + g %% %(dossiers)s, g / %(dossiers)s + 1, 'auto', now(), NULL,
               now() + g * interval '1 second', now() + interval '1 day' + g * interval '1 second',
               'in_progress', %(s0)s + g %% %(steps)s, %(unit)s, %(user)s,
               'hồ sơ chưa được giải quyết xong khi đã hết thời hạn giải quyết theo quy định'
        FROM generate_series(0::bigint, %(apologies)s - 1) AS g"""),
]


def run_baseline(url: str, counts: dict) -> dict:
    from django.db import connection, transaction

    from dossiers.bulk import LoadWindow, loaded_tables, reserve_ids
    from dossiers.models import Dossier, DossierStep
    from motcua.models import Unit
    from procedures.models import ProcessStep

    use_database(url)
    step = ProcessStep.objects.select_related("version").order_by("id").first()
    unit = Unit.objects.filter(code="VHXH").order_by("id").first()
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="officer1")
    from motcua.models import Agency
    from procedures.models import ProcedureVersion

    versions = list(ProcedureVersion.objects.order_by("id").values_list("id", flat=True))
    agencies = list(Agency.objects.order_by("id").values_list("id", flat=True))
    units = list(Unit.objects.order_by("id").values_list("id", flat=True))
    started = time.perf_counter()
    phases = {}
    with transaction.atomic(), connection.cursor() as cur:
        window = LoadWindow(cur, tables=loaded_tables(), rebuild=True)
        window.open()
        params = {
            **counts, "process_step": step.pk,
            "versions": versions, "n_versions": len(versions),
            "agencies": agencies, "n_agencies": len(agencies),
            "units": units, "n_units": len(units),
            "agency": unit.agency_id, "unit": unit.pk, "user": user.pk,
            "d0": reserve_ids(cur, Dossier._meta.db_table, counts["dossiers"]),
            "s0": reserve_ids(cur, DossierStep._meta.db_table, counts["steps"]),
        }
        t0 = time.perf_counter()
        for name, sql in BASELINE_SQL:
            if params.get(name, 0) > 0:
                cur.execute(sql, params)
        phases["insert"] = time.perf_counter() - t0
        phases.update(window.restore())
    seconds = time.perf_counter() - started
    common.close_connections()
    return {"seconds": seconds, "insert": phases["insert"], "indexes": phases.get("indexes", 0.0),
            "foreign_keys": phases.get("foreign_keys", 0.0), "counts": counts}


def main() -> int:
    args = parse_args()
    url = common.database_url(args.database_url)
    template = prepare_template(url)
    base_name = common.database_name(url)
    seeds, baselines = [], []
    names = [f"{base_name}_seed_a", f"{base_name}_seed_b"]
    try:
        for round_no in range(1, args.rounds + 1):
            a = common.clone_database(url, template, names[0])
            seed = run_seed(a, args.dossiers, args.batch)
            seeds.append(seed)
            print(f"round {round_no}: seed_bulk {seed['seconds']:.1f} s "
                  f"(insert {seed['insert']:.1f} s, indexes {seed['indexes']:.1f} s, "
                  f"foreign keys {seed['foreign_keys']:.1f} s) {seed['counts']}")
            b = common.clone_database(url, template, names[1])
            base = run_baseline(b, seed["counts"])
            baselines.append(base)
            print(f"round {round_no}: baseline  {base['seconds']:.1f} s "
                  f"(insert {base['insert']:.1f} s, indexes {base['indexes']:.1f} s, "
                  f"foreign keys {base['foreign_keys']:.1f} s)")
    finally:
        if not args.keep:
            for name in names:
                common.drop_database(url, name)

    seed = min(seeds, key=lambda r: r["seconds"])
    base = min(baselines, key=lambda r: r["seconds"])
    n = seed["counts"]["dossiers"]
    ratio = seed["seconds"] / base["seconds"]
    insert_ratio = seed["insert"] / base["insert"]
    rows = [
        ["seed_bulk", n, seed["seconds"], n / seed["seconds"], seed["insert"],
         n / seed["insert"], seed["indexes"] + seed["foreign_keys"]],
        ["hand-written INSERT … SELECT", n, base["seconds"], n / base["seconds"],
         base["insert"], n / base["insert"], base["indexes"] + base["foreign_keys"]],
    ]
    c = seed["counts"]
    common.print_table(
        ["", "dossiers", "total s", "dossiers/s", "insert s", "dossiers/s (insert)",
         "indexes + FK s"], rows,
        title=(f"seed_bulk vs hand-written SQL, same rows: {c['dossiers']:,} dossiers, "
               f"{c['steps']:,} steps, {c['events']:,} events "
               f"({c['events'] / max(1, c['dossiers']):.2f} per dossier), "
               f"{c['apologies']:,} apology letters; best of {args.rounds}"),
    )
    print(f"\nratio seed_bulk / baseline: {ratio:.2f}× end to end (target ≤ {TARGET_RATIO}×), "
          f"{insert_ratio:.2f}× for the insert phase alone")
    rate = n / seed["seconds"]
    print(f"seed_bulk: {rate:,.0f} dossiers/s end to end (target ≥ {TARGET_RATE:,}); "
          f"{'met' if rate >= TARGET_RATE else 'missed'}; the baseline itself does "
          f"{n / base['seconds']:,.0f}/s on this machine")
    common.write_json(args.json, {
        "benchmark": "seed_bulk", "dossiers": n, "seed_bulk": seed, "baseline": base,
        "ratio": ratio, "insert_ratio": insert_ratio, "rate": rate,
        "targets": {"ratio": TARGET_RATIO, "rate": TARGET_RATE},
    })
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
