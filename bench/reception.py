#!/usr/bin/env python
"""Reception through the API against a minimal DRF endpoint, and the receipt PDF.

    .venv/bin/python bench/reception.py [--seconds 15] [--connections 4] [--workers 2]
                                        [--rounds 2] [--renders 30] [--driver auto|wrk|python]
                                        [--database-url URL] [--json FILE]

One gunicorn (``--workers`` sync workers, as the production image) on a loopback port serves
the project with one extra URL, ``/bench/minimal/`` (bench/minimal_urls.py through
bench/minimal_settings.py): token authentication, a body of the same shape validated by a DRF
serializer, one row inserted. In the same run, ``--rounds`` times, alternating:

- ``minimal`` — ``POST /bench/minimal/``;
- ``reception`` — ``POST /api/v1/dossiers/`` as ``clerk1`` with a token: a dossier received at
  the desk (no PDF), through ``dossier_receive_at_desk``, for every in-person procedure of the
  demo catalogue and every agency that receives it (round-robin, so desks do not all queue on
  one agency's daily counter).

The load comes from wrk (Debian package ``wrk``, installed when missing and possible) or, if
there is none, from Python threads with keep-alive connections. Prints requests per second,
latencies and errors of both and the ratio (target: reception ≥ 50 % of minimal), then the
receipt (Mẫu 01) render time, ``render_dossier_document(kind="receipt")`` in this process
after a few warm-up renders: median and p95 (target: median < 300 ms). Exits 1 when a target
is missed or a request failed.

``--cpu N`` adds a figure the machine's load moves much less: N requests of each endpoint in
this process through Django's test client, with the CPU time they cost here and in their
PostgreSQL backend (``/proc/<pid>/stat``, same host), and the statements each makes. On a
CPU-bound server the throughput ratio follows the ratio of these totals.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (fixes sys.path: bench/ shadows calendar and queue)

TARGET_SHARE = 0.5
TARGET_PDF_MS = 300.0
APPLICANTS = [
    ("Nguyễn Văn An", "089085000123", "0912345678"),
    ("Trần Thị Bình", "089185000456", "0987654321"),
    ("Lê Hoàng Cường", "089090001234", "0356789012"),
    ("Phạm Thị Dung", "089195004321", "0778123456"),
]


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--renders", type=int, default=30)
    parser.add_argument("--driver", choices=["auto", "wrk", "python"], default="auto")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--cpu", type=int, default=0, metavar="N",
                        help="also measure CPU per request in process (N requests each)")
    return parser.parse_args()


def bodies() -> list[dict]:
    """One reception per (in-person procedure, receiving agency) of the catalogue."""
    from django.db.models import F

    from motcua.models import Agency
    from procedures.models import Level, ProcedureVersion

    communes = list(Agency.objects.filter(kind=Agency.Kind.COMMUNE, is_active=True)
                    .values_list("code", flat=True))
    out = []
    versions = ProcedureVersion.objects.filter(
        procedure__is_active=True, procedure__current_version=F("pk"), accepts_in_person=True
    ).select_related("procedure", "agency").order_by("procedure__code")
    for i, version in enumerate(versions):
        if version.agency_id:
            agencies = [version.agency.code]
        elif version.level == Level.COMMUNE:
            agencies = communes
        else:
            continue
        for j, agency in enumerate(agencies):
            name, id_number, phone = APPLICANTS[(i + j) % len(APPLICANTS)]
            out.append({
                "procedure": version.procedure.code, "channel": "in_person", "agency": agency,
                "applicant": {"name": name, "id_number": id_number, "phone": phone},
            })
    return out


def preflight(base: str, token: str, candidates: list[dict]) -> list[dict]:
    """Keep the bodies the API receives (201); report the others once."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    kept = []
    for body in candidates:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        conn.request("POST", "/api/v1/dossiers/", body=json.dumps(body),
                     headers={"Authorization": f"Token {token}",
                              "Content-Type": "application/json"})
        response = conn.getresponse()
        answer = response.read()
        conn.close()
        if response.status == 201:
            kept.append(body)
        else:
            print(f"  not received, left out: {body['procedure']} at {body['agency']}: "
                  f"{response.status} {answer[:160]!r}")
    return kept


def render_times(renders: int) -> dict:
    from django.contrib.auth import get_user_model

    from dossiers.documents import render_dossier_document
    from dossiers.models import Dossier
    from dossiers.selectors import dossier_get
    from motcua.pdf import font_subsetter

    clerk = get_user_model().objects.get(username="clerk1")
    code = (Dossier.objects.filter(events__actor=clerk, events__transition="receive")
            .order_by("-id").values_list("code", flat=True).first())
    render, view = [], []
    for i in range(renders + 3):
        t0 = time.perf_counter()
        dossier = dossier_get(code=code, user=clerk)
        t1 = time.perf_counter()
        pdf = render_dossier_document(dossier=dossier, kind="receipt")
        t2 = time.perf_counter()
        if i >= 3:  # warm-up: fonts, templates, stylesheet
            render.append(t2 - t1)
            view.append(t2 - t0)
    return {"code": code, "bytes": len(pdf), "subsetter": font_subsetter(),
            "render": common.summary_ms(render),
            "view": common.summary_ms(view)}


def cpu_per_request(token: str, kept: list[dict], n: int) -> dict:
    """CPU milliseconds per request (this process + its PostgreSQL backend) and statements per
    request, for both endpoints, through the test client (middleware, DRF, the view)."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import override_settings
    from django.urls import clear_url_caches

    tick = os.sysconf("SC_CLK_TCK")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        stat = f"/proc/{cursor.fetchone()[0]}/stat"

    def backend_cpu() -> float:
        with open(stat) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    out = {}
    with override_settings(ROOT_URLCONF="bench.minimal_urls"):
        clear_url_caches()
        for name, path in (("minimal", "/bench/minimal/"), ("reception", "/api/v1/dossiers/")):
            for body in kept:  # warm: imports, templates, every version's plan
                client.post(path, data=json.dumps(body), content_type="application/json")
            statements[0] = 0
            c0, p0 = time.process_time(), backend_cpu()
            with connection.execute_wrapper(count):
                for i in range(n):
                    response = client.post(path, data=json.dumps(kept[i % len(kept)]),
                                           content_type="application/json")
                    if response.status_code != 201:
                        raise RuntimeError(f"{path}: {response.status_code} {response.content[:200]!r}")
            django_ms = (time.process_time() - c0) / n * 1000
            pg_ms = (backend_cpu() - p0) / n * 1000
            out[name] = {"django_ms": django_ms, "postgres_ms": pg_ms,
                         "total_ms": django_ms + pg_ms, "statements": statements[0] / n}
    clear_url_caches()
    out["share"] = out["minimal"]["total_ms"] / out["reception"]["total_ms"]
    return out


def main() -> int:
    args = parse_args()
    url = common.database_url(args.database_url)
    common.setup_django(url)
    common.ensure_demo()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    with connection.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS bench_minimal_row (id bigserial PRIMARY KEY, "
                    "at timestamptz NOT NULL, procedure varchar(64) NOT NULL, "
                    "applicant_name varchar(255) NOT NULL)")
    clerk = get_user_model().objects.get(username="clerk1")
    token = Token.objects.get_or_create(user=clerk)[0].key
    candidates = bodies()
    common.close_connections()
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    results: dict[str, list[common.LoadResult]] = {"minimal": [], "reception": []}
    # The broker production uses (Redis) when one answers on the usual port: each reception
    # publishes its delivery task, and the demo's file-system broker writes a file for it.
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    broker_env = {"REDIS_URL": redis_url} if common.redis_answers(redis_url) else {}
    print(f"broker: {'Redis ' + redis_url if broker_env else 'file system (no Redis answered)'}")
    with tempfile.TemporaryDirectory(prefix="bench-broker-") as broker, common.gunicorn(
        url=url, settings="bench.minimal_settings", workers=args.workers,
        env={"BROKER_DIR": broker, **broker_env},
    ) as server:
        kept = preflight(server.base, token, candidates)
        if not kept:
            print("no reception succeeded: nothing to measure")
            return 1
        requests = {
            name: [common.Request("POST", path, json.dumps(b).encode(), headers) for b in kept]
            for name, path in (("minimal", "/bench/minimal/"), ("reception", "/api/v1/dossiers/"))
        }
        # warm both (imports, connections, caches) before timing
        for name in requests:
            common.run_load(server.base, requests[name], seconds=2, connections=args.connections,
                            threads=2, driver=args.driver)
        for round_no in range(1, args.rounds + 1):
            for name in ("minimal", "reception"):
                result = common.run_load(server.base, requests[name], seconds=args.seconds,
                                         connections=args.connections, threads=2,
                                         driver=args.driver)
                results[name].append(result)
                print(f"round {round_no}: {name:<9} {result.rps:8.1f} req/s, "
                      f"p50 {result.latency_ms['p50']:.1f} ms, p95 {result.latency_ms['p95']:.1f} ms, "
                      f"errors {result.errors} ({result.driver}) {result.status}")
    if broker_env:  # the delivery tasks nobody consumed
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    pdf = render_times(args.renders)
    cpu = cpu_per_request(token, kept, args.cpu) if args.cpu else None

    def median_rps(name: str) -> float:
        return statistics.median(r.rps for r in results[name])

    minimal, reception = median_rps("minimal"), median_rps("reception")
    share = reception / minimal if minimal else 0.0
    errors = sum(r.errors for rs in results.values() for r in rs)
    rows = []
    for name in ("minimal", "reception"):
        best = results[name]
        rows.append([
            name, median_rps(name), statistics.median(r.latency_ms["p50"] for r in best),
            statistics.median(r.latency_ms["p95"] for r in best),
            statistics.median(r.latency_ms["p99"] for r in best), sum(r.requests for r in best),
            sum(r.errors for r in best),
        ])
    common.print_table(
        ["endpoint", "req/s", "p50 ms", "p95 ms", "p99 ms", "requests", "errors"], rows,
        title=(f"POST on gunicorn ({args.workers} sync workers), {args.connections} connections, "
               f"{args.seconds:.0f} s × {args.rounds} rounds, driver {results['minimal'][0].driver}, "
               f"{len(kept)} reception bodies"),
    )
    print(f"\nreception / minimal: {share:.0%} of the minimal endpoint's throughput "
          f"(target ≥ {TARGET_SHARE:.0%})")
    print(f"receipt PDF (Mẫu 01, {pdf['bytes']:,} bytes): render median {pdf['render']['median']:.0f} ms, "
          f"p95 {pdf['render']['p95']:.0f} ms; with dossier_get {pdf['view']['median']:.0f} ms "
          f"(target: median < {TARGET_PDF_MS:.0f} ms); fonts subset by {pdf['subsetter']}")
    if cpu:
        for name in ("minimal", "reception"):
            row = cpu[name]
            print(f"in process, {args.cpu} requests: {name:<9} CPU {row['total_ms']:.1f} ms/request "
                  f"(Django {row['django_ms']:.1f}, PostgreSQL {row['postgres_ms']:.1f}), "
                  f"{row['statements']:.1f} statements")
        print(f"CPU share: reception costs {1 / cpu['share']:.1f}× the minimal request "
              f"({cpu['share']:.0%})")
    common.write_json(args.json, {
        "benchmark": "reception", "minimal_rps": minimal, "reception_rps": reception,
        "share": share, "errors": errors, "pdf": pdf, "cpu": cpu,
        "runs": {k: [vars(r) for r in v] for k, v in results.items()},
        "targets": {"share": TARGET_SHARE, "pdf_median_ms": TARGET_PDF_MS},
    })
    ok = share >= TARGET_SHARE and pdf["render"]["median"] < TARGET_PDF_MS and errors == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
