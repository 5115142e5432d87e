#!/usr/bin/env python
"""Public tracking (``GET /api/public/track/{code}/?phone=…``) against a bare Django view that
does one indexed SELECT by primary key, with 1,000,000 dossiers present.

    .venv/bin/python bench/tracking.py [--dossiers 1000000] [--seconds 10] [--connections 4]
                                       [--workers 2] [--rounds 5] [--slice 2] [--sample 2000]
                                       [--driver auto|wrk|python] [--database-url URL]
                                       [--json FILE] [--seed-only]

The database is ``--database-url``, else ``postgres://postgres@127.0.0.1:5432/motcua_bench_track``
(its own, so that it never collides with the queue bench loading ``motcua_bench``); it is
created, migrated, given the demo organisation and catalogue and, unless it already holds them,
``--dossiers`` dossiers from ``seed_bulk`` (a few minutes the first time; kept for the next run).

One gunicorn (``--workers`` sync workers, as the production image) on a loopback port serves
the project with one extra URL, ``/bench/pk/<id>/``: a plain Django view (no DRF) that reads one
dossier's state by primary key (one indexed SELECT) and answers a small JSON body. In the same
run, ``--rounds`` times, over ``--sample`` dossiers picked at random (each round gives each side
``--seconds`` in slices of ``--slice`` seconds, alternating, so that load from elsewhere on a
shared machine falls on both sides alike):

- ``pk`` — ``GET /bench/pk/<id>/``;
- ``track`` — ``GET /api/public/track/<code>/?phone=<phone>``: throttle, lock-out check, proof
  by code + phone, the dossier's timeline, apologies, fees and what to do next, as JSON.

The throttle of scope ``public_track`` would cap the load at a citizen's rate (20/min by
default): the server runs with ``PUBLIC_TRACK_THROTTLE_RATE=100000000/min`` — the throttle
still runs (its cache read and write are measured), it just never refuses. Every pair is right,
so the lock-out never counts a failure. Prints requests per second and latencies of both and the
ratio of each round (both sides timed back to back), and their median (target: track ≥ 60 % of
pk). Exits 1 when the target is missed or a request failed.

When gunicorn imports this file (``DJANGO_SETTINGS_MODULE=bench.tracking``) it is the server's
settings and URLconf: the project's settings, with ``/bench/pk/<id>/`` after the project's URLs
(resolving it walks them, as resolving the tracking URL does).
"""

from __future__ import annotations

import os
import sys

if __name__ != "__main__":
    # Imported by the bench's gunicorn: the settings and the URLconf of the server.
    from django.urls import include, path

    from motcua.settings import *  # noqa: F403

    ROOT_URLCONF = "bench.tracking"

    def pk_view(request, pk: int):
        """The baseline: one indexed SELECT by primary key, a small JSON answer."""
        from django.db import connection
        from django.http import Http404, JsonResponse

        with connection.cursor() as cur:
            cur.execute("SELECT code, state FROM dossiers_dossier WHERE id = %s", [pk])
            row = cur.fetchone()
        if row is None:
            raise Http404
        return JsonResponse({"code": row[0], "state": row[1]})

    _urlpatterns: list = []

    def __getattr__(name: str):
        # The URL patterns are built on first use (PEP 562): the project's URLconf imports
        # models, which cannot happen while Django is still reading these settings.
        if name != "urlpatterns":
            raise AttributeError(name)
        if not _urlpatterns:
            # Last, so that resolving it walks the project's URL patterns as a real request
            # does (first, it would skip them and flatter the baseline).
            _urlpatterns.extend([
                path("", include("motcua.urls")),
                path("bench/pk/<int:pk>/", pk_view),
            ])
        return _urlpatterns

else:
    import argparse
    import statistics
    import tempfile
    from urllib.parse import quote, urlencode

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import common  # noqa: E402  (fixes sys.path: bench/ shadows calendar and queue)

    TARGET_SHARE = 0.6
    DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/motcua_bench_track"
    BENCH_RATE = "100000000/min"

    def parse_args():
        parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
        parser.add_argument("--dossiers", type=int, default=1_000_000)
        parser.add_argument("--seconds", type=float, default=10)
        parser.add_argument("--connections", type=int, default=4)
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--rounds", type=int, default=5)
        parser.add_argument("--slice", type=float, default=2,
                            help="seconds of one side before the other's turn, within a round")
        parser.add_argument("--sample", type=int, default=2000)
        parser.add_argument("--driver", choices=["auto", "wrk", "python"], default="auto")
        parser.add_argument("--database-url", default=None)
        parser.add_argument("--json", default=None)
        parser.add_argument("--seed-only", action="store_true",
                            help="load the dossiers and stop (no server, no load)")
        return parser.parse_args()

    def ensure_data(n: int) -> int:
        from django.db import connection

        from dossiers.bulk import seed_bulk

        have = common.dossier_count()
        if have < n:
            print(f"seeding {n - have:,} dossiers (have {have:,}) …", flush=True)
            result = seed_bulk(dossiers=n - have, progress=lambda m: print(m, flush=True))
            print(f"  {result.dossiers:,} dossiers in {result.seconds:.0f} s "
                  f"({result.rate:,.0f}/s, {result.mode})", flush=True)
            with connection.cursor() as cur:
                for table in ("dossiers_dossier", "dossiers_dossierevent",
                              "dossiers_dossierstep"):
                    cur.execute(f"VACUUM (ANALYZE) {table}")
        return common.dossier_count()

    def sample(n: int) -> list[tuple[int, str, str, str]]:
        """``n`` dossiers at random, every state: (id, code, phone, state)."""
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute(
                "SELECT id, code, applicant_phone, state FROM dossiers_dossier "
                "TABLESAMPLE SYSTEM (1) REPEATABLE (2026) LIMIT %s", [n],
            )
            return list(cur.fetchall())

    def warm(rows) -> None:
        """Read every sampled dossier once the way each side will (its row for ``pk``; its
        row, events, steps, fees for ``track``), so that both are timed on data in memory —
        the baseline cycles through its 2,000 rows many times a second, tracking would
        otherwise pay the first reads from disk during its short rounds."""
        from dossiers.public.tracking import _load

        for _pk, code, phone, _state in rows:
            assert _load(code, phone) is not None, code

    def merge(parts: list) -> common.LoadResult:
        """One round's slices as one result: requests and time summed, each latency
        percentile the median of the slices' (wrk gives percentiles, not the samples)."""
        status: dict[str, int] = {}
        for part in parts:
            for code, n in part.status.items():
                status[code] = status.get(code, 0) + n
        return common.LoadResult(
            requests=sum(p.requests for p in parts), seconds=sum(p.seconds for p in parts),
            errors=sum(p.errors for p in parts), status=status,
            latency_ms={k: statistics.median(p.latency_ms[k] for p in parts)
                        for k in parts[0].latency_ms},
            driver=parts[0].driver,
        )

    def preflight(base: str, requests: dict[str, list]) -> None:
        """One request of each kind must answer 200 before anything is timed."""
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(base)
        for name, reqs in requests.items():
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            conn.request("GET", reqs[0].path)
            response = conn.getresponse()
            body = response.read()
            conn.close()
            if response.status != 200:
                raise SystemExit(f"{name}: {reqs[0].path} answered {response.status}: "
                                 f"{body[:300]!r}")

    def main() -> int:
        args = parse_args()
        url = args.database_url or os.environ.get("BENCH_TRACK_DATABASE_URL") or DEFAULT_URL
        common.setup_django(url)
        common.ensure_demo()
        total = ensure_data(args.dossiers)
        print(f"{total:,} dossiers in {common.database_name(url)}", flush=True)
        if args.seed_only:
            return 0
        rows = sample(args.sample)
        warm(rows)
        common.close_connections()
        states: dict[str, int] = {}
        for _id, _code, _phone, state in rows:
            states[state] = states.get(state, 0) + 1
        requests = {
            "pk": [common.Request("GET", f"/bench/pk/{pk}/") for pk, *_ in rows],
            "track": [
                common.Request(
                    "GET", f"/api/public/track/{quote(code, safe='')}/?"
                    + urlencode({"phone": phone}),
                )
                for _pk, code, phone, _state in rows
            ],
        }
        results: dict[str, list[common.LoadResult]] = {"pk": [], "track": []}
        env = {"PUBLIC_TRACK_THROTTLE_RATE": BENCH_RATE}
        with tempfile.TemporaryDirectory(prefix="bench-broker-") as broker, common.gunicorn(
            url=url, settings="bench.tracking", workers=args.workers,
            env={**env, "BROKER_DIR": broker},
        ) as server:
            preflight(server.base, requests)
            for name in requests:  # warm both: imports, connections, caches
                common.run_load(server.base, requests[name], seconds=2,
                                connections=args.connections, threads=2, driver=args.driver)
            for round_no in range(1, args.rounds + 1):
                # Both sides in short slices, alternating (and swapping which goes first), so
                # that a burst of load from elsewhere on the machine falls on both alike.
                slices: dict[str, list[common.LoadResult]] = {"pk": [], "track": []}
                n_slices = max(1, round(args.seconds / args.slice))
                for k in range(n_slices):
                    for name in (("pk", "track") if k % 2 == 0 else ("track", "pk")):
                        slices[name].append(common.run_load(
                            server.base, requests[name], seconds=args.seconds / n_slices,
                            connections=args.connections, threads=2, driver=args.driver,
                        ))
                for name in ("pk", "track"):
                    result = merge(slices[name])
                    results[name].append(result)
                    print(f"round {round_no}: {name:<5} {result.rps:8.1f} req/s, "
                          f"p50 {result.latency_ms['p50']:.1f} ms, "
                          f"p95 {result.latency_ms['p95']:.1f} ms, errors {result.errors} "
                          f"({result.driver}) {result.status}", flush=True)
                pair = results["track"][-1].rps / results["pk"][-1].rps
                print(f"round {round_no}: track / pk {pair:.0%}, load average "
                      f"{os.getloadavg()[0]:.2f}", flush=True)

        def median_rps(name: str) -> float:
            return statistics.median(r.rps for r in results[name])

        pk, track = median_rps("pk"), median_rps("track")
        # The machine is shared: its load drifts between rounds far more than within one. Each
        # round times both sides back to back, so the ratio is taken round by round, then the
        # median of those ratios (the ratio of the medians is printed beside it).
        ratios = [t.rps / p.rps if p.rps else 0.0
                  for p, t in zip(results["pk"], results["track"], strict=True)]
        share = statistics.median(ratios)
        share_of_medians = track / pk if pk else 0.0
        errors = sum(r.errors for rs in results.values() for r in rs)
        table = []
        for name in ("pk", "track"):
            runs = results[name]
            table.append([
                name, median_rps(name), statistics.median(r.latency_ms["p50"] for r in runs),
                statistics.median(r.latency_ms["p95"] for r in runs),
                statistics.median(r.latency_ms["p99"] for r in runs),
                sum(r.requests for r in runs), sum(r.errors for r in runs),
            ])
        common.print_table(
            ["endpoint", "req/s", "p50 ms", "p95 ms", "p99 ms", "requests", "errors"], table,
            title=(f"GET on gunicorn ({args.workers} sync workers), {args.connections} "
                   f"connections, {args.seconds:.0f} s × {args.rounds} rounds, driver "
                   f"{results['pk'][0].driver}, {total:,} dossiers, {len(rows):,} sampled "
                   f"({', '.join(f'{k} {v}' for k, v in sorted(states.items()))}); "
                   f"PUBLIC_TRACK_THROTTLE_RATE={BENCH_RATE}"),
        )
        print(f"\ntrack / pk, round by round: {', '.join(f'{r:.0%}' for r in ratios)}; "
              f"median {share:.0%} of the bare primary-key view's throughput "
              f"(target ≥ {TARGET_SHARE:.0%}); ratio of the median rates {share_of_medians:.0%}")
        common.write_json(args.json, {
            "benchmark": "tracking", "dossiers": total, "sample": len(rows), "states": states,
            "pk_rps": pk, "track_rps": track, "share": share, "ratios": ratios,
            "share_of_medians": share_of_medians, "errors": errors,
            "throttle_rate": BENCH_RATE,
            "runs": {k: [vars(r) for r in v] for k, v in results.items()},
            "targets": {"share": TARGET_SHARE},
        })
        return 0 if share >= TARGET_SHARE and errors == 0 else 1

    if __name__ == "__main__":
        sys.exit(main())
