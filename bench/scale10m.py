#!/usr/bin/env python
"""Ten million dossiers: load them once (``seed_bulk``), then measure every screen and report
that the other benches measure, against that database, and print one table.

    .venv/bin/python bench/scale10m.py [--dossiers 10000000] [--database-url URL]
                                       [--seed-only] [--only queue,page,...] [--rounds 2]
                                       [--min-free-gb 20] [--json FILE]

1. **Seed** (skipped when the database already holds ``--dossiers``): the database
   (``--database-url``, default ``…/motcua_bench_10m``) is created, migrated, given the demo
   organisation and catalogue, then ``seed_bulk`` writes the missing dossiers in one load
   (steps, about five events each, apology letters, ratings of 30 % of the returned ones;
   ``seed_bulk_ratings`` afterwards rates what an older load left unrated), and
   ``VACUUM (ANALYZE)`` leaves the tables as autovacuum would leave a live
   database (visibility map set: index-only scans possible; this server runs with autovacuum
   off). Refuses to start a load that would leave less than ``--min-free-gb`` on the disk
   (estimate: ``BYTES_PER_DOSSIER``, measured at 10M).
2. **Measure** (``--only`` picks some), each with its own bench against this database, so the
   figures are theirs, with their own targets:

   - ``queue`` — bench/queue.py: the officer queue page (officer1's queue: the largest);
   - ``page`` — here: the staff dossier page ``/staff/dossiers/<code>/`` for dossiers drawn
     across the table, and the staff search ``/staff/dossiers/tra-cuu/?q=…`` (whole table,
     closed dossiers included), through Django's test client, DEBUG off;
   - ``sql`` — here: the queries that grow with the table, timed alone (``COUNT(*)`` of the
     table and of the open rows, a deep ``OFFSET``, the keyset equivalent);
   - ``tracking`` — bench/tracking.py: public tracking against a bare primary-key view;
   - ``reception`` — bench/reception.py: reception through the API against a minimal endpoint
     (its dossiers land in this database: counters of today's cells are already high);
   - ``report`` — bench/report.py: the yearly summary against hand-written SQL and the weekly
     report (PDF + xlsx).

Prints the load average with each figure (``/proc/loadavg``): the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (fixes sys.path: bench/ shadows calendar and queue)

DEFAULT_DB = "motcua_bench_10m"
#: Disk taken per dossier with its steps, events, letters, ratings and every index (measured on
#: the 10M load; see docs/bulk-data.md, "Ten million dossiers").
BYTES_PER_DOSSIER = 3_400
MEASURES = ["sql", "page", "queue", "tracking", "reception", "report"]
PY = os.path.join(common.VENV_BIN, "python")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", type=int, default=10_000_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--seed-only", action="store_true")
    parser.add_argument("--only", default=",".join(MEASURES),
                        help=f"comma-separated, among {', '.join(MEASURES)}")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--min-free-gb", type=float, default=20.0)
    parser.add_argument("--json", default=None)
    return parser.parse_args()


def loadavg() -> str:
    with open("/proc/loadavg") as fh:
        return " ".join(fh.read().split()[:3])


def free_gb(path: str = "/") -> float:
    return shutil.disk_usage(path).free / 1e9


def data_directory() -> str:
    from django.db import connection

    with connection.cursor() as cur:
        try:
            cur.execute("SHOW data_directory")
            return cur.fetchone()[0]
        except Exception:  # not a superuser: the root of the disk is as good a guess
            return "/"


# ---------------------------------------------------------------------------------------------
# Seed
# ---------------------------------------------------------------------------------------------


def seed(url: str, n: int, min_free_gb: float) -> dict:
    common.setup_django(url)
    common.ensure_demo()
    from django.db import connection

    from dossiers.bulk import seed_bulk, seed_bulk_ratings

    have = common.dossier_count()
    figures: dict = {"had": have}
    if have < n:
        need = (n - have) * BYTES_PER_DOSSIER / 1e9
        free = free_gb(data_directory())
        if free - need < min_free_gb:
            raise SystemExit(f"refusing: {free:.0f} GB free, the load needs ~{need:.0f} GB and "
                             f"{min_free_gb:.0f} GB must stay free")
        print(f"seeding {n - have:,} dossiers (have {have:,}; {free:.0f} GB free, "
              f"~{need:.0f} GB needed; load {loadavg()}) …", flush=True)
        result = seed_bulk(dossiers=n - have, progress=lambda m: print(m, flush=True))
        figures.update({
            "seconds": result.seconds, "rate": result.rate, "phases": result.phases,
            "dossiers": result.dossiers, "steps": result.steps, "events": result.events,
            "apologies": result.apologies, "ratings": getattr(result, "ratings", 0),
            "open": result.open, "load": loadavg(),
        })
        print(f"  {result.dossiers:,} dossiers, {result.steps:,} steps, {result.events:,} "
              f"events, {result.apologies:,} letters, {figures['ratings']:,} ratings in {result.seconds:.0f} s "
              f"({result.rate:,.0f} dossiers/s; phases "
              + ", ".join(f"{k} {v:.0f} s" for k, v in result.phases.items())
              + f"; load {loadavg()})", flush=True)
        t0 = time.perf_counter()
        # Nothing left to rate after a seed_bulk that rates (same draws); kept for databases
        # loaded before it did.
        figures["ratings"] += seed_bulk_ratings()
        figures["ratings_seconds"] = time.perf_counter() - t0
        print(f"  {figures['ratings']:,} ratings", flush=True)
        t0 = time.perf_counter()
        with connection.cursor() as cur:
            for table in ("dossiers_dossier", "dossiers_dossierstep", "dossiers_dossierevent",
                          "dossiers_apology", "ratings_rating", "dossiers_dossiercounter"):
                cur.execute(f"VACUUM (ANALYZE) {table}")
        figures["vacuum_seconds"] = time.perf_counter() - t0
        print(f"  VACUUM (ANALYZE) in {figures['vacuum_seconds']:.0f} s", flush=True)
    with connection.cursor() as cur:
        cur.execute("SELECT pg_database_size(current_database())")
        figures["database_bytes"] = int(cur.fetchone()[0])
    figures["total"] = common.dossier_count()
    print(f"database: {figures['total']:,} dossiers, "
          f"{figures['database_bytes'] / 1e9:.1f} GB", flush=True)
    return figures


# ---------------------------------------------------------------------------------------------
# Measures made here
# ---------------------------------------------------------------------------------------------

OPEN = ("'submitted', 'received', 'in_progress', 'supplement_requested', 'awaiting_approval', "
        "'result_ready'")
#: (label, SQL): what grows with the table, and the cheaper form of the same answer.
SQL_PROBES = [
    ("COUNT(*) of every dossier", "SELECT count(*) FROM dossiers_dossier"),
    ("COUNT(*) of the open dossiers", f"SELECT count(*) FROM dossiers_dossier WHERE state IN ({OPEN})"),
    ("capped count: the first 1,001 dossiers",
     "SELECT count(*) FROM (SELECT 1 FROM dossiers_dossier LIMIT 1001) x"),
    ("COUNT(*) of every event", "SELECT count(*) FROM dossiers_dossierevent"),
    ("newest 25 (API list, page 1)",
     "SELECT id FROM dossiers_dossier ORDER BY created_at DESC, id DESC LIMIT 25"),
    ("newest, OFFSET %(deep)s (a deep page)",
     "SELECT id FROM dossiers_dossier ORDER BY created_at DESC, id DESC OFFSET %(deep)s LIMIT 25"),
    ("newest, keyset after the same row",
     "SELECT id FROM dossiers_dossier WHERE (created_at, id) < ((SELECT created_at FROM "
     "dossiers_dossier WHERE id = %(key)s), %(key)s) ORDER BY created_at DESC, id DESC LIMIT 25"),
    ("one dossier's events (dossier_event_dossier_idx)",
     "SELECT * FROM dossiers_dossierevent WHERE dossier_id = %(key)s ORDER BY at"),
    ("overdue open dossiers of one unit, first 25",
     f"SELECT id FROM dossiers_dossier WHERE state IN ({OPEN}) AND is_overdue "
     "AND current_unit_id = %(unit)s ORDER BY due_at LIMIT 25"),
]


def timed(fn, rounds: int) -> list[float]:
    fn()  # warm-up
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def measure_sql(rounds: int, total: int) -> list[list]:
    from django.db import connection

    deep = min(250_000, total // 2)
    with connection.cursor() as cur:
        cur.execute("SELECT id FROM dossiers_dossier ORDER BY created_at DESC, id DESC "
                    "OFFSET %s LIMIT 1", [deep - 1])
        key = cur.fetchone()[0]
        cur.execute(f"SELECT current_unit_id FROM dossiers_dossier WHERE state IN ({OPEN}) "
                    "AND is_overdue GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
        unit = cur.fetchone()[0]
        rows = []
        for label, sql in SQL_PROBES:
            params = {"key": key, "unit": unit, "deep": deep}
            times = timed(lambda sql=sql, params=params: (cur.execute(sql, params),
                                                          cur.fetchall()), max(3, rounds))
            rows.append([f"SQL: {label % {'deep': f'{deep:,}'}}", statistics.median(times) * 1000, max(times) * 1000,
                         "", loadavg()])
    return rows


def measure_pages(rounds: int, sample: int = 20) -> list[list]:
    """The staff dossier page, the staff search and the API list, through the test client."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.MOTCUA_CALENDAR_RECHECK_SECONDS = 3600
    with connection.cursor() as cur:
        # Spread over the whole table (ids are dense: they come from the sequence).
        cur.execute("SELECT min(id), max(id) FROM dossiers_dossier")
        lo, hi = cur.fetchone()
        ids = [lo + (hi - lo) * i // max(1, sample - 1) for i in range(sample)]
        cur.execute("SELECT code, applicant_name_folded, applicant_phone FROM dossiers_dossier "
                    "WHERE id = ANY(%s) ORDER BY id", [ids])
        picked = cur.fetchall()
        # A cursor deep in the API list (newest first): the row a program reading everything
        # reaches after a tenth of the table.
        cur.execute("SELECT count(*) / 10 FROM dossiers_dossier")
        depth = cur.fetchone()[0]
        cur.execute("SELECT created_at, id FROM dossiers_dossier ORDER BY created_at DESC, id DESC "
                    "OFFSET %s LIMIT 1", [depth])
        deep = cur.fetchone()
    from dossiers.api.pagination import CappedCountPaginator, encode_cursor

    last_page = (CappedCountPaginator.COUNT_CAP + 24) // 25
    deep_cursor = encode_cursor("newest", deep[0], deep[1]) if deep else ""
    users = get_user_model().objects
    rows = []
    for username in ("supervisor1", "officer1"):
        client = Client()
        client.force_login(users.get(username=username))
        plan = [(f"dossier page as {username}", [f"/staff/dossiers/{c}/" for c, _n, _p in picked])]
        if username == "supervisor1":
            family = " ".join(picked[0][1].split()[:2])
            plan += [
                ("staff search by name (whole table)",
                 [f"/staff/dossiers/tra-cuu/?q={family.replace(' ', '+')}"]),
                ("staff search by code", [f"/staff/dossiers/tra-cuu/?q={picked[1][0]}"]),
                ("staff search by whole phone", [f"/staff/dossiers/tra-cuu/?q={picked[2][2]}"]),
                ("staff search by last 6 digits of a phone",
                 [f"/staff/dossiers/tra-cuu/?q={picked[2][2][-6:]}"]),
                ("API list, page 1", ["/api/v1/dossiers/"]),
                (f"API list, page {last_page} (the last numbered page)",
                 [f"/api/v1/dossiers/?page={last_page}"]),
                ("API list by cursor, first page", ["/api/v1/dossiers/?pagination=cursor"]),
                (f"API list by cursor, {depth:,} rows deep",
                 [f"/api/v1/dossiers/?cursor={deep_cursor}"]),
            ]
        for label, urls in plan:
            times, statuses = [], set()
            reset_queries()  # the log is a bounded deque: full, it would count nothing
            with CaptureQueriesContext(connection) as queries:
                response = client.get(urls[0])
            count = len(queries)  # now: the slice is read from the live log
            statuses.add(response.status_code)
            for _ in range(max(1, rounds)):
                for u in urls:
                    t0 = time.perf_counter()
                    response = client.get(u)
                    times.append(time.perf_counter() - t0)
                    statuses.add(response.status_code)
            rows.append([label, statistics.median(times) * 1000,
                         common.percentile(times, 95) * 1000,
                         f"{count} queries; HTTP {'/'.join(map(str, sorted(statuses)))}",
                         loadavg()])
    return rows


# ---------------------------------------------------------------------------------------------
# The other benches, against this database
# ---------------------------------------------------------------------------------------------


def run_bench(script: str, args: list[str], url: str) -> tuple[int, dict, float, str]:
    out = tempfile.NamedTemporaryFile(suffix=".json", delete=False).name
    log = os.path.join(tempfile.gettempdir(), f"scale10m-{script}.log")
    env = {**os.environ, "DATABASE_URL": url}
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        code = subprocess.call([PY, os.path.join(common.HERE, f"{script}.py"), *args,
                                "--database-url", url, "--json", out],
                               stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=common.ROOT)
    seconds = time.perf_counter() - t0
    try:
        with open(out) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        data = {}
    print(f"  {script}: exit {code} in {seconds:.0f} s (log {log})", flush=True)
    return code, data, seconds, log


def bench_rows(name: str, n: int, url: str, rounds: int) -> list[list]:
    if name == "queue":
        code, d, _s, log = run_bench("queue", ["--dossiers", str(n), "--requests", "60",
                                               "--small", "2000"], url)
        if not d:
            return [[f"queue: FAILED (exit {code}, {log})", "", "", "", loadavg()]]
        o = d["overall"]
        return [[f"officer queue page ({d['queue_rows']:,} rows in officer1's queue)",
                 o["median"], o["p95"], f"target p95 < {d['target_p95_ms']:.0f} ms; exit {code}",
                 loadavg()]] + [
            [f"  queue: {k}", v["median"], v["p95"], "", ""] for k, v in d["variants"].items()
        ]
    if name == "tracking":
        code, d, _s, log = run_bench("tracking", ["--dossiers", str(n), "--rounds", str(rounds),
                                                  "--seconds", "6"], url)
        if not d:
            return [[f"tracking: FAILED (exit {code}, {log})", "", "", "", loadavg()]]
        return [[f"public tracking: {d['track_rps']:,.0f} req/s vs pk view "
                 f"{d['pk_rps']:,.0f} req/s", "", "",
                 f"share {d['share']:.0%} (target ≥ {d['targets']['share']:.0%}); exit {code}",
                 loadavg()]]
    if name == "reception":
        code, d, _s, log = run_bench("reception", ["--rounds", str(rounds), "--seconds", "8",
                                                   "--renders", "10"], url)
        if not d:
            return [[f"reception: FAILED (exit {code}, {log})", "", "", "", loadavg()]]
        pdf = d.get("pdf", {}).get("render", {})
        return [[f"reception API: {d['reception_rps']:,.0f} req/s vs minimal "
                 f"{d['minimal_rps']:,.0f} req/s; receipt PDF", pdf.get("median", ""),
                 pdf.get("p95", ""), f"share {d['share']:.0%} (target ≥ "
                 f"{d['targets']['share']:.0%}); exit {code}", loadavg()]]
    if name == "report":
        code, d, _s, log = run_bench("report", ["--dossiers", str(n), "--repeat", str(rounds)],
                                     url)
        if not d:
            return [[f"report: FAILED (exit {code}, {log})", "", "", "", loadavg()]]
        rows = []
        for key in ("summary_agency", "summary_procedure"):
            if key in d:
                v = d[key]
                rows.append([f"yearly {key.replace('_', ' by ')}", v["orm_ms"], "",
                             f"hand SQL {v['sql_ms']:.0f} ms, {v['ratio']:.2f}× (target ≤ 2×); "
                             f"same numbers: {v['same_numbers']}", loadavg()])
        if "weekly" in d:
            rows.append(["weekly report (PDF + xlsx)", min(d["weekly"]["seconds"]) * 1000, "",
                         f"target < 10 s; exit {code}", loadavg()])
        return rows
    raise ValueError(name)


def index_use() -> list[list]:
    """How often each index of the loaded tables was used since the statistics were reset
    (the measures above are the traffic): the evidence for keeping or dropping each."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT s.relname, s.indexrelname, s.idx_scan, pg_relation_size(s.indexrelid) "
            "FROM pg_stat_user_indexes s WHERE s.relname IN ('dossiers_dossier', "
            "'dossiers_dossierstep', 'dossiers_dossierevent', 'dossiers_apology', "
            "'ratings_rating') ORDER BY 1, 3 DESC, 2"
        )
        return [[t, i, n, size / 1e6] for t, i, n, size in cur.fetchall()]


def main() -> int:
    args = parse_args()
    os.environ["DEBUG"] = "false"  # before Django reads its settings
    url = args.database_url or common.with_database(
        common.database_url("postgres://postgres@127.0.0.1:5432/postgres"), DEFAULT_DB)
    figures = {"seed": seed(url, args.dossiers, args.min_free_gb)}
    if args.seed_only:
        common.write_json(args.json, figures)
        return 0
    only = [m.strip() for m in args.only.split(",") if m.strip()]
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_stat_reset()")  # index use below = the measures' traffic
    n = figures["seed"]["total"]
    rows: list[list] = []
    if "sql" in only:
        rows += measure_sql(args.rounds, n)
    if "page" in only:
        rows += measure_pages(args.rounds)
    common.close_connections()
    for name in ("queue", "tracking", "reception", "report"):
        if name in only:
            rows += bench_rows(name, n, url, args.rounds)
    common.print_table(["what", "median ms", "p95 / max ms", "notes", "load average"], rows,
                       title=f"{n:,} dossiers ({figures['seed']['database_bytes'] / 1e9:.0f} GB)")
    time.sleep(1)  # the statistics collector's last report
    uses = index_use()
    common.print_table(["table", "index", "scans during the measures", "MB"], uses,
                       title="Index use during these measures (pg_stat_user_indexes)")
    figures["rows"] = rows
    figures["index_use"] = uses
    common.write_json(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
