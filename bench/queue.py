#!/usr/bin/env python
"""The officer queue page (/staff/dossiers/) with a province's year of dossiers.

    .venv/bin/python bench/queue.py [--dossiers 1000000] [--small 10000] [--requests 100]
                                    [--explain] [--try-index SQL ...] [--database-url URL]
                                    [--json FILE] [--no-cache]

1. The database (``--database-url``, default ``motcua_bench``) gets the demo organisation and
   catalogue and, unless it already holds them, ``--dossiers`` dossiers from ``seed_bulk``
   (reused by the next run), then ``VACUUM ANALYZE`` of the dossier table (the state
   autovacuum keeps a live table in).
2. ``officer1`` (officer of every appraisal unit: the biggest queue there is) opens the page
   through Django's test client — the whole stack but the socket: middleware, session,
   the view, its queries, the template — ``--requests`` times, cycling through filters,
   sorts, searches, deep pages and the htmx partial. Median and p95, overall and per variant.
   Target: p95 < 150 ms. The page keeps its tab counts and a filtered list's total (15 s) and
   its procedure choices (60 s) per user, as it does for a person clicking through;
   ``--no-cache`` computes them on every request.
3. Query counts per variant, here and in a small database (``--small`` dossiers, a copy made
   from the template of bench/seed_bulk.py): they must be the same.
4. ``--explain``: EXPLAIN (ANALYZE, BUFFERS) of every query the default page runs.
   ``--try-index "CREATE INDEX …"``: build the index inside a transaction, measure again, roll
   back (an index's before/after, for docs/bulk-data.md).

Exits 1 when the p95 target is missed or the query counts differ.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections import defaultdict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (fixes sys.path: bench/ is where this file, queue.py, lives)

TARGET_P95_MS = 150.0
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "dossier-results"}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dossiers", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--user", default="officer1")
    parser.add_argument("--explain", nargs="?", const="default", default=None,
                        metavar="VARIANTS", help="comma-separated variants (default: default)")
    parser.add_argument("--try-index", action="append", default=[], metavar="SQL")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--no-cache", action="store_true",
                        help="count the tabs and the filtered totals and read the procedure "
                             "choices on every request")
    return parser.parse_args()


def ensure_data(n: int) -> int:
    from dossiers.bulk import seed_bulk

    have = common.dossier_count()
    if have < n:
        print(f"seeding {n - have:,} dossiers (have {have:,}) …", flush=True)
        result = seed_bulk(dossiers=n - have, progress=lambda m: print(m, flush=True))
        print(f"  {result.dossiers:,} dossiers in {result.seconds:.0f} s "
              f"({result.rate:,.0f}/s, {result.mode})", flush=True)
        vacuum()
    return common.dossier_count()


def vacuum() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) dossiers_dossier")
        cur.execute("VACUUM (ANALYZE) dossiers_dossierstep")


def variants(user) -> list[tuple[str, str, dict]]:
    """(name, query string, extra headers): filters, sorts, searches, pages, htmx."""
    from dossiers.selectors import dossier_queue

    queue = dossier_queue(user=user)
    sample = queue.order_by("due_at", "id").values(
        "code", "applicant_phone", "applicant_name_folded", "procedure_version__procedure__code"
    )[100]
    family = " ".join(sample["applicant_name_folded"].split()[:2])
    return [
        ("default", "", {}),
        ("htmx partial", "", HTMX),
        ("sort newest", "?sort=newest", {}),
        ("state in_progress", "?state=in_progress", {}),
        ("state supplement", "?state=supplement_requested", {}),
        ("overdue", "?due=overdue", {}),
        ("due soon", "?due=soon", {}),
        ("procedure", f"?procedure={sample['procedure_version__procedure__code']}", {}),
        ("search name", f"?q={family.replace(' ', '+')}", HTMX),
        ("search code", f"?q={sample['code']}", HTMX),
        ("search phone", f"?q={sample['applicant_phone'][-6:]}", HTMX),
        ("page 2", "?page=2", HTMX),
        ("page 40", "?page=40", HTMX),
        ("newest page 10", "?sort=newest&page=10", HTMX),
        ("overdue in_progress", "?state=in_progress&due=overdue", HTMX),
    ]


def client_for(username: str):
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.get(username=username)
    client = Client()
    client.force_login(user)
    return client, user


def measure(client, plan, requests: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = defaultdict(list)
    for name, query, headers in plan:  # warm-up: one of each
        response = client.get("/staff/dossiers/" + query, **headers)
        assert response.status_code == 200, (name, response.status_code)
    for i in range(requests):
        name, query, headers = plan[i % len(plan)]
        t0 = time.perf_counter()
        response = client.get("/staff/dossiers/" + query, **headers)
        times[name].append(time.perf_counter() - t0)
        assert response.status_code == 200, (name, response.status_code)
    return times


def query_counts(client, plan) -> dict[str, int]:
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    counts = {}
    for name, query, headers in plan:
        cache.clear()  # count the tab counts and choices too (the page keeps them 15 / 60 s)
        with CaptureQueriesContext(connection) as captured:
            client.get("/staff/dossiers/" + query, **headers)
        counts[name] = len(captured.captured_queries)
    return counts


def explain_page(client, query: str = "", headers: dict | None = None) -> list[dict]:
    """EXPLAIN ANALYZE of each SELECT the page runs (session and auth lookups included), after
    the ``SET LOCAL`` it ran, in one transaction."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        client.get("/staff/dossiers/" + query, **(headers or {}))
    out = []
    with transaction.atomic(), connection.cursor() as cur:
        for q in captured.captured_queries:
            sql = q["sql"]
            if sql.lstrip().upper().startswith("SET LOCAL"):
                cur.execute(sql)  # as the page ran what follows (e.g. ``jit = off``)
                continue
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
            plan = [row[0] for row in cur.fetchall()]
            total = float(re.search(r"Execution Time: ([\d.]+)", plan[-1]).group(1))
            out.append({"sql": sql, "ms": total, "plan": plan})
        transaction.set_rollback(True)
    return out


def print_explain(explained: list[dict]) -> None:
    """Every query with its time; the plans of those over a millisecond."""
    for item in explained:
        print(f"-- {item['ms']:.1f} ms: {item['sql'][:200]}")
        if item["ms"] > 1:
            for line in item["plan"]:
                print("   " + line)


def aggregate_costs(user, runs: int = 7) -> list[list]:
    """What the page's whole-queue questions cost: the forms the page used before
    docs/queue-performance.md (whole-queue DISTINCT, COUNT, GROUP BY) and the forms it uses now
    (catalogue choices, capped counts in one query)."""
    from django.db.models import Count

    from dossiers.selectors import (
        dossier_queue,
        dossier_queue_counts,
        dossier_queue_parts,
        dossier_queue_pieces,
        dossier_queue_procedures,
    )
    from dossiers.views.lists import COUNT_CAP, QueueRows, queue_order
    from procedures.models import ProcedureVersion

    queue = dossier_queue(user=user).order_by()
    queue_due = dossier_queue(user=user)

    def choices_now():
        return list(queue.values_list("procedure_version__procedure__code",
                                      "procedure_version__name").distinct())

    def choices_by_id():
        ids = list(queue.values_list("procedure_version_id", flat=True).distinct())
        return list(ProcedureVersion.objects.filter(pk__in=ids)
                    .values_list("procedure__code", "name"))

    def page_rows():
        return QueueRows(dossier_queue_parts(user=user), queue_order())[0:26]

    def page_per_unit():
        return QueueRows(dossier_queue_parts(user=user), queue_order(),
                         groups=[dossier_queue_pieces(user=user)])[0:26]

    forms = [
        ("procedure choices: DISTINCT (code, name) over the joined queue (before)", choices_now),
        ("procedure choices: DISTINCT procedure_version_id, then ≤ 33 names", choices_by_id),
        ("procedure choices: the catalogue's, for the user's units (now; cached 60 s)",
         lambda: dossier_queue_procedures(user=user)),
        ("paginator: COUNT(*) of the queue (before)", lambda: queue.count()),
        ("tabs: COUNT(*) GROUP BY state (before)",
         lambda: list(queue.values("state").annotate(n=Count("id")))),
        (f"tabs + total: per state, each capped at {COUNT_CAP + 1:,}, one query (now; cached 15 s)",
         lambda: dossier_queue_counts(user=user, cap=COUNT_CAP)),
        ("capped count: COUNT(*) of the first 1,001 rows", lambda: queue[:1001].count()),
        ("page rows: one query, queue OR received-for-first-step", lambda: list(queue_due[:26])),
        ("page rows: the two parts' keys merged, then 26 rows by id (round 2)", page_rows),
        ("page rows: each unit (and state) an index range, one statement (now)", page_per_unit),
    ]
    rows = []
    for label, run in forms:
        run()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        rows.append([label, common.summary_ms(times)["median"]])
    return rows


def explain_variants(client, plan, names: str | None) -> None:
    if not names:
        return
    wanted = [n.strip() for n in names.split(",")]
    for name, query, headers in plan:
        if name in wanted:
            print(f"\n=== EXPLAIN: {name} /staff/dossiers/{query}")
            print_explain(explain_page(client, query, headers))


def summarise(times: dict[str, list[float]], title: str) -> dict:
    everything = [t for ts in times.values() for t in ts]
    overall = common.summary_ms(everything)
    rows = [[name, len(ts), common.summary_ms(ts)["median"], common.summary_ms(ts)["p95"]]
            for name, ts in times.items()]
    rows.append(["all", overall["n"], overall["median"], overall["p95"]])
    common.print_table(["variant", "requests", "median ms", "p95 ms"], rows, title=title)
    return overall


def small_counts(url: str, n: int, username: str, plan_names: list[str]) -> dict[str, int]:
    """Query counts of the same page in a database with ``n`` dossiers only."""
    from django.db import connections

    from dossiers.bulk import seed_bulk

    template = common.database_name(url) + "_seedtpl"
    tpl_url = common.with_database(url, template)
    common.close_connections()
    common.ensure_database(tpl_url)
    settings_dict = connections["default"].settings_dict
    original = settings_dict["NAME"]
    try:
        settings_dict["NAME"] = template
        # Always: a template made by an earlier run lacks the migrations added since.
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        common.ensure_demo()
        common.close_connections()
        small = common.database_name(url) + "_queue_small"
        common.clone_database(url, template, small)
        settings_dict["NAME"] = small
        seed_bulk(dossiers=n)
        client, user = client_for(username)
        plan = [v for v in variants(user) if v[0] in plan_names]
        return query_counts(client, plan)
    finally:
        common.close_connections()
        settings_dict["NAME"] = original
        common.drop_database(url, common.database_name(url) + "_queue_small")


def main() -> int:
    args = parse_args()
    os.environ["DEBUG"] = "false"
    url = common.database_url(args.database_url)
    common.setup_django(url)
    from django.conf import settings

    # The office calendar asks the database whether an admin changed a day off at most every
    # 2 s: a query that depends on the clock, not on the data. Once per run here.
    settings.MOTCUA_CALENDAR_RECHECK_SECONDS = 3600
    if args.no_cache:
        from dossiers.views import lists

        lists.COUNTS_CACHE_SECONDS = lists.PROCEDURES_CACHE_SECONDS = 0  # 0: expires at once
    common.ensure_demo()
    total = ensure_data(args.dossiers)
    from django.db import transaction

    from dossiers.models import OPEN_STATES, Dossier

    open_rows = Dossier.objects.filter(state__in=OPEN_STATES).count()
    client, user = client_for(args.user)
    plan = variants(user)
    from dossiers.selectors import dossier_queue

    queue_rows = dossier_queue(user=user).count()
    print(f"{total:,} dossiers, {open_rows:,} open, {queue_rows:,} in {args.user}'s queue")
    times = measure(client, plan, args.requests)
    overall = summarise(times, f"/staff/dossiers/ as {args.user}, {args.requests} requests "
                               f"(test client, DEBUG off)")
    counts = query_counts(client, plan)
    aggregates = aggregate_costs(user)
    common.print_table(["query the page runs on the whole queue", "median ms"], aggregates,
                       title=f"The page's whole-queue queries ({queue_rows:,} rows) and cheaper forms")
    explain_variants(client, plan, args.explain)
    tried = []
    for sql in args.try_index:
        with transaction.atomic():
            t0 = time.perf_counter()
            from django.db import connection

            with connection.cursor() as cur:
                cur.execute(sql)
                cur.execute("ANALYZE dossiers_dossier")
            built = time.perf_counter() - t0
            after = measure(client, plan, args.requests)
            result = summarise(after, f"with: {sql} (built in {built:.1f} s)")
            explain_variants(client, plan, args.explain)
            tried.append({"sql": sql, "built_s": built, "overall": result,
                          "variants": {k: common.summary_ms(v) for k, v in after.items()}})
            transaction.set_rollback(True)
    small = small_counts(url, args.small, args.user, [name for name, _q, _h in plan])
    rows = [[name, small.get(name), counts[name]] for name in counts]
    common.print_table(["variant", f"queries, {args.small:,} dossiers",
                        f"queries, {total:,} dossiers"], rows,
                       title="Queries per page: the same whatever the number of rows")
    same = all(small.get(name) == counts[name] for name in counts)
    print(f"\np95 {overall['p95']:.0f} ms, median {overall['median']:.0f} ms "
          f"(target p95 < {TARGET_P95_MS:.0f} ms); query counts "
          f"{'identical' if same else 'DIFFER'}")
    common.write_json(args.json, {
        "benchmark": "queue", "dossiers": total, "open": open_rows, "queue_rows": queue_rows,
        "overall": overall, "variants": {k: common.summary_ms(v) for k, v in times.items()},
        "queries": counts, "queries_small": small, "tried": tried,
        "aggregates": {label: ms for label, ms in aggregates},
        "target_p95_ms": TARGET_P95_MS,
    })
    return 0 if overall["p95"] < TARGET_P95_MS and same else 1


if __name__ == "__main__":
    sys.exit(main())
