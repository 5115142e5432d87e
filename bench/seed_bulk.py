#!/usr/bin/env python
"""seed_bulk against one hand-written INSERT … SELECT over generate_series writing the same rows.

    .venv/bin/python bench/seed_bulk.py [--dossiers 200000] [--rounds 2] [--database-url URL]
                                        [--live-baseline] [--json FILE] [--keep]

Each run starts from a fresh copy (``CREATE DATABASE … TEMPLATE``) of a template database
holding only the migrated schema, the demo organisation and the catalogue
(``<database>_seedtpl``, made once), so both sides write into the same empty tables with the
same indexes, foreign keys and triggers. In the same run, ``--rounds`` times, alternating:

1. ``seed_bulk`` — ``dossiers.bulk.seed_bulk(dossiers=N, indexes="rebuild")``: realistic
   dossiers with their steps, events, apology letters and ratings, one transaction;
2. ``baseline`` — the same rows written by one plain ``INSERT … SELECT … FROM
   generate_series`` per table, inside the same load window (``dossiers.bulk.LoadWindow``:
   same locks and session settings, the same indexes and foreign keys dropped, rebuilt and
   validated, the same ANALYZE), one transaction.

**The same rows** means: into the same tables (dossiers, steps, events, apology letters,
ratings), exactly as many rows in each as seed_bulk wrote in that round (taken from its
counts), every column written that seed_bulk writes, and the same indexes, constraints and
triggers standing at the end (built over the same number of entries: the baseline's open share
is 20 %, as seed_bulk's, so the partial indexes over open rows hold about as many). The
baseline's values are cheap arithmetic on the series number, varied so that indexed columns
have about the variety of real ones (constants would make the index builds artificially cheap:
sorting equal keys costs nothing). What the baseline does not do is what makes the rows
realistic: the calendar, the plans, the state machine's event chains, gapless codes.

Prints, per side, the phases (prepare, insert, indexes, foreign keys, ANALYZE) and dossiers
per second end to end, best and median of the rounds, the load average around each round
(the machine is shared), the ratio of seed_bulk's time to the baseline's (target: within
1.3×) and the absolute rate against the target of 50,000 dossiers/s. ``--live-baseline`` adds,
once, the naive load for scale: the same INSERT … SELECTs with every index and foreign key in
place (no load window). Then a table of what each index, unique key and foreign key costs the
load (its rebuild or validation in the baseline's window, median of the rounds) against the
bare INSERT … SELECTs with primary keys only. Exits 1 when the ratio target is missed. The copies are dropped at the
end (``--keep`` keeps the last two).
"""

from __future__ import annotations

import argparse
import os
import statistics
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
    parser.add_argument("--live-baseline", action="store_true",
                        help="also time the baseline once with every index and key live")
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


def loadavg() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def backend_cpu() -> float:
    """CPU seconds (user + system) used so far by this connection's PostgreSQL backend (same
    host: /proc). A figure the machine's load moves much less than wall time; parallel
    workers of index builds are other processes, not counted."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_seed(url: str, n: int, batch: int) -> dict:
    from dossiers.bulk import seed_bulk

    use_database(url)
    load_before = loadavg()
    cpu_before = backend_cpu()
    started = time.perf_counter()
    result = seed_bulk(dossiers=n, batch=batch, indexes="rebuild")
    seconds = time.perf_counter() - started
    cpu = backend_cpu() - cpu_before
    common.close_connections()
    return {
        "seconds": seconds, **{k: result.phases.get(k, 0.0) for k in PHASES},
        "counts": {"dossiers": result.dossiers, "steps": result.steps, "events": result.events,
                   "apologies": result.apologies, "ratings": result.ratings,
                   "documents": result.documents},
        "open": result.open, "load": f"{load_before} → {loadavg()}", "cpu": cpu,
    }


PHASES = ("prepare", "insert", "indexes", "foreign_keys", "analyze")

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
            supplement_requests, is_due_soon, is_overdue, version, created_at, updated_at,
            first_officer_unit_id)
        SELECT %(d0)s + g, '000.20.' || lpad((g %% 13)::text, 2, '0') || '.H01-'
                   || to_char(date '2025-11-24' + (g / 4000)::int, 'YYMMDD') || '-' || lpad(g::text, 6, '0'),
               CASE WHEN g %% 4 = 0 THEN 'TT-251124-' || g END,
               (%(versions)s::bigint[])[1 + g %% %(n_versions)s], (%(agencies)s::bigint[])[1 + g %% %(n_agencies)s], 'in_person',
               'Nguyễn Văn An ' || g %% 4096, 'nguyen van an ' || g %% 4096, 'citizen_id',
               lpad(((g * 7919) %% 1000000000000)::text, 12, '0'),
               '09' || lpad(((g * 104729) %% 100000000)::text, 8, '0'), '',
               'Số 12 đường Trần Hưng Đạo, phường Long Xuyên, tỉnh An Giang',
               (ARRAY['returned', 'returned', 'returned', 'returned', 'returned',
                      'returned', 'withdrawn', 'stopped', 'in_progress',
                      'awaiting_approval'])[1 + g %% 10],
               now() - g * interval '30 second', now() - g * interval '30 second',
               now() - g * interval '30 second', now() + (g %% 9973) * interval '1 hour',
               now() + (g %% 9973) * interval '1 hour', NULL,
               CASE WHEN g %% 10 >= 8 THEN (%(units)s::bigint[])[1 + g %% %(n_units)s] END,
               CASE WHEN g %% 10 = 8 THEN 'officer' WHEN g %% 10 = 9 THEN 'leader' ELSE '' END,
               NULL, 'granted',
               '', now(), now(), now(), NULL, 0, 0, false, g %% 17 = 0, 5,
               now() - g * interval '30 second', now(),
               (%(units)s::bigint[])[1 + g %% %(n_units)s]
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
    ("ratings", """
        INSERT INTO ratings_rating (dossier_id, overall, time, attitude, guidance, publicity,
            comment, source, created_at)
        SELECT %(d0)s + g, (ARRAY['very_satisfied', 'satisfied', 'dissatisfied'])[1 + g %% 3],
               'satisfied', '', 'very_satisfied', '', '', 'tracking',
               now() - g * interval '40 second'
        FROM generate_series(0::bigint, %(ratings)s - 1) AS g"""),
]


def run_baseline(url: str, counts: dict, *, live: bool = False) -> dict:
    """The hand-written statements in one transaction: in the load window (as seed_bulk), or
    with ``live`` in a plain transaction with every index and foreign key in place."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction

    from dossiers.bulk import LoadWindow, loaded_tables, reserve_ids
    from dossiers.models import Dossier, DossierStep
    from motcua.models import Agency, Unit
    from procedures.models import ProcedureVersion, ProcessStep

    use_database(url)
    step = ProcessStep.objects.select_related("version").order_by("id").first()
    unit = Unit.objects.filter(code="VHXH").order_by("id").first()
    user = get_user_model().objects.get(username="officer1")
    versions = list(ProcedureVersion.objects.order_by("id").values_list("id", flat=True))
    agencies = list(Agency.objects.order_by("id").values_list("id", flat=True))
    units = list(Unit.objects.order_by("id").values_list("id", flat=True))
    load_before = loadavg()
    cpu_before = backend_cpu()
    started = time.perf_counter()
    phases = {}
    with transaction.atomic(), connection.cursor() as cur:
        window = None
        if not live:
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
        phases["prepare"] = time.perf_counter() - started
        t0 = time.perf_counter()
        for name, sql in BASELINE_SQL:
            if params.get(name, 0) > 0:
                cur.execute(sql, params)
        if live:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred keys, inside the timing
        phases["insert"] = time.perf_counter() - t0
        if window is not None:
            phases.update(window.restore())
    seconds = time.perf_counter() - started
    cpu = backend_cpu() - cpu_before
    common.close_connections()
    return {"seconds": seconds, **{k: phases.get(k, 0.0) for k in PHASES}, "counts": counts,
            "load": f"{load_before} → {loadavg()}", "cpu": cpu,
            "timings": list(window.timings) if window is not None else []}


def describe(side: str, r: dict) -> str:
    return (f"{side:9} {r['seconds']:6.1f} s = prepare {r['prepare']:.1f} + insert "
            f"{r['insert']:.1f} + indexes {r['indexes']:.1f} + foreign keys "
            f"{r['foreign_keys']:.1f} + ANALYZE {r['analyze']:.1f} (+ rest); backend CPU "
            f"{r['cpu']:.1f} s; load {r['load']}")


TABLE_COUNTS = {"dossiers_dossier": "dossiers", "dossiers_dossierstep": "steps",
                "dossiers_dossierevent": "events", "dossiers_apology": "apologies",
                "ratings_rating": "ratings"}


def print_index_costs(baselines: list[dict], counts: dict) -> list[dict]:
    """What each index and foreign key costs a load: its rebuild (or validation) time in the
    load window, median over the baseline rounds, per row of its table, against the bare
    INSERT … SELECTs (primary keys only) of the same rounds."""
    by_name: dict[tuple, list[float]] = {}
    for r in baselines:
        for kind, table, name, seconds in r["timings"]:
            by_name.setdefault((kind, table, name), []).append(seconds)
    insert = statistics.median(r["insert"] for r in baselines)
    rows, out = [], []
    for (kind, table, name), values in sorted(by_name.items(),
                                              key=lambda kv: -statistics.median(kv[1])):
        seconds = statistics.median(values)
        n = counts.get(TABLE_COUNTS.get(table, ""), 0)
        rows.append([table, name, kind, seconds, seconds / n * 1e6 if n else 0.0,
                     100 * seconds / insert])
        out.append({"table": table, "name": name, "kind": kind, "seconds": seconds,
                    "rows": n})
    total = sum(r[3] for r in rows)
    rows.append(["all", f"{len(rows)} indexes, unique keys and foreign keys", "", total,
                 0.0, 100 * total / insert])
    common.print_table(
        ["table", "index / constraint", "kind", "seconds", "µs per row of its table",
         "% of the bare insert"], rows,
        title=(f"What each index and foreign key costs the load (baseline, median of "
               f"{len(baselines)} rounds): the bare INSERT … SELECTs (primary keys only) took "
               f"{insert:.1f} s = {counts['dossiers'] / insert:,.0f} dossiers/s"),
    )
    return out


def main() -> int:
    args = parse_args()
    url = common.database_url(args.database_url)
    template = prepare_template(url)
    base_name = common.database_name(url)
    seeds, baselines = [], []
    live = None
    names = [f"{base_name}_seed_a", f"{base_name}_seed_b"]
    try:
        for round_no in range(1, args.rounds + 1):
            a = common.clone_database(url, template, names[0])
            seed = run_seed(a, args.dossiers, args.batch)
            seeds.append(seed)
            print(f"round {round_no}: {describe('seed_bulk', seed)}  {seed['counts']}",
                  flush=True)
            b = common.clone_database(url, template, names[1])
            base = run_baseline(b, seed["counts"])
            baselines.append(base)
            print(f"round {round_no}: {describe('baseline', base)}  "
                  f"(ratio {seed['seconds'] / base['seconds']:.2f}×)", flush=True)
        if args.live_baseline:
            b = common.clone_database(url, template, names[1])
            live = run_baseline(b, seeds[-1]["counts"], live=True)
            print(f"live:    {describe('baseline', live)}", flush=True)
    finally:
        if not args.keep:
            for name in names:
                common.drop_database(url, name)

    seed = min(seeds, key=lambda r: r["seconds"])
    base = min(baselines, key=lambda r: r["seconds"])
    n = seed["counts"]["dossiers"]
    ratio = seed["seconds"] / base["seconds"]
    round_ratios = [a["seconds"] / b["seconds"] for a, b in zip(seeds, baselines, strict=True)]
    insert_ratio = seed["insert"] / base["insert"]
    cpu_ratio = (statistics.median(r["cpu"] for r in seeds)
                 / statistics.median(r["cpu"] for r in baselines))

    def row(name: str, r: dict) -> list:
        return [name, r["seconds"], n / r["seconds"], r["prepare"], r["insert"],
                n / r["insert"], r["indexes"], r["foreign_keys"], r["analyze"], r["cpu"]]

    rows = [row("seed_bulk", seed), row("hand-written INSERT … SELECT, same window", base)]
    if live:
        rows.append(row("hand-written INSERT … SELECT, indexes live", live))
    c = seed["counts"]
    common.print_table(
        ["", "total s", "dossiers/s", "prepare s", "insert s", "dossiers/s (insert)",
         "indexes s", "foreign keys s", "ANALYZE s", "backend CPU s"], rows,
        title=(f"seed_bulk vs hand-written SQL, same rows: {c['dossiers']:,} dossiers, "
               f"{c['steps']:,} steps, {c['events']:,} events "
               f"({c['events'] / max(1, c['dossiers']):.2f} per dossier), "
               f"{c['apologies']:,} apology letters, {c['ratings']:,} ratings; best of "
               f"{args.rounds}; load average now {loadavg()}"),
    )
    print(f"\nratio seed_bulk / baseline: {ratio:.2f}× end to end, best against best (target "
          f"≤ {TARGET_RATIO}×); per round {', '.join(f'{r:.2f}×' for r in round_ratios)} "
          f"(median {statistics.median(round_ratios):.2f}×); {insert_ratio:.2f}× for the "
          f"insert phase alone; {cpu_ratio:.2f}× in backend CPU time (medians)")
    rate = n / seed["seconds"]
    print(f"seed_bulk: {rate:,.0f} dossiers/s end to end (target ≥ {TARGET_RATE:,}): "
          f"{'met' if rate >= TARGET_RATE else 'missed'}; the baseline itself does "
          f"{n / base['seconds']:,.0f}/s end to end and {n / base['insert']:,.0f}/s for its "
          "INSERT … SELECTs alone on this machine now")
    index_costs = print_index_costs(baselines, seed["counts"])
    if live:
        print(f"with every index and foreign key live (no load window): {live['seconds']:.1f} s "
              f"= {n / live['seconds']:,.0f} dossiers/s")
    common.write_json(args.json, {
        "index_costs": index_costs,
        "benchmark": "seed_bulk", "dossiers": n, "seed_bulk": seed, "baseline": base,
        "live_baseline": live, "ratio": ratio, "round_ratios": round_ratios,
        "insert_ratio": insert_ratio, "cpu_ratio": cpu_ratio, "rate": rate, "rounds": {"seed_bulk": seeds,
                                                               "baseline": baselines},
        "targets": {"ratio": TARGET_RATIO, "rate": TARGET_RATE},
    })
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
