"""What each action of the mixed load costs, in this process, through Django's test client: CPU
milliseconds here (middleware, views, templates, serializers) and in this connection's
PostgreSQL backend (``/proc/<pid>/stat``, same host), statements, and wall time.

On a shared machine the load test's latencies follow the other work on the machine; these
costs move much less, and they say which action to make cheaper and how many requests a core
serves. Used by bench/mixed_load.py (``--costs N``) once the servers are stopped.
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from collections.abc import Callable

CODE_LINK = re.compile(
    r'href="/staff/dossiers/((?:[0-9]{3}\.[0-9A-Za-z.]+-[0-9]{6}-[0-9]+)|(?:TT-[0-9A-Za-z-]+))/"'
)
ACTIONS = ("start", "forward", "submit_for_approval", "approve")
RESULT_TEXT = "Đủ điều kiện giải quyết theo quy định."
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "dossier-results"}


def _backend_cpu() -> Callable[[], float]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        stat = f"/proc/{cursor.fetchone()[0]}/stat"
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        with open(stat) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    return cpu


_clients: dict[str, object] = {}


def _client(account: dict | None = None):
    """The test client, with ``account``'s session cookie (or none). One client for all: a
    new client loads the whole middleware chain again at its first request — whitenoise then
    lists every collected static file, ~60 ms that no server pays per request."""
    from django.test import Client

    key = "staff" if account else "anonymous"
    if key not in _clients:
        _clients[key] = Client()
    client = _clients[key]
    if account:
        client.cookies["sessionid"] = account["session"]
    return client


def _plan(accounts: dict, pairs: list[list[str]]) -> dict[str, Callable]:
    """One preparer per action: each call picks an account and a dossier (as the load does,
    several in turn) and returns the request to time, a callable without arguments. Only that
    request is measured: the act's preparation reads the dossier to pick its transition."""
    rng = random.Random(2026)
    clerks = [c for c in accounts["clerks"] if c.get("bodies")]
    officers = accounts["officers"]
    queues: dict[str, list[str]] = {}

    def codes(officer: dict) -> list[str]:
        if officer["username"] not in queues:
            html = _client(officer).get("/staff/dossiers/").content.decode()
            queues[officer["username"]] = list(dict.fromkeys(CODE_LINK.findall(html)))
        return queues[officer["username"]]

    def with_work() -> tuple[dict, str]:
        for _ in range(len(officers)):
            officer = rng.choice(officers)
            found = codes(officer)
            if found:
                return officer, rng.choice(found)
        raise RuntimeError("no officer has a dossier in the queue")

    def receive():
        clerk = rng.choice(clerks)
        body = json.dumps(rng.choice(clerk["bodies"]))
        return lambda: _client().post("/api/v1/dossiers/", data=body,
                                      content_type="application/json",
                                      HTTP_AUTHORIZATION=f"Token {clerk['token']}")

    def desk():
        client = _client(rng.choice(clerks))
        return lambda: client.get("/staff/dossiers/tiep-nhan/")

    def queue():
        client = _client(rng.choice(officers))
        return lambda: client.get("/staff/dossiers/")

    def queue_htmx():
        client = _client(rng.choice(officers))
        return lambda: client.get("/staff/dossiers/?page=2", **HTMX)

    def dossier_page():
        officer, code = with_work()
        client = _client(officer)
        return lambda: client.get(f"/staff/dossiers/{code}/")

    def dossier_api():
        officer, code = with_work()
        return lambda: _client().get(f"/api/v1/dossiers/{code}/",
                                     HTTP_AUTHORIZATION=f"Token {officer['token']}")

    def act():
        for _ in range(200):
            officer, code = with_work()
            auth = {"HTTP_AUTHORIZATION": f"Token {officer['token']}"}
            detail = _client().get(f"/api/v1/dossiers/{code}/", **auth).json()
            offered = [t for t in ACTIONS if t in detail.get("available_transitions", [])]
            if not offered:
                queues[officer["username"]].remove(code)
                continue
            body = {"transition": offered[0], "expected_version": detail["version"]}
            if offered[0] in ("submit_for_approval", "approve"):
                body["result_text"] = RESULT_TEXT
            return lambda: _client().post(f"/api/v1/dossiers/{code}/transitions/",
                                          data=json.dumps(body),
                                          content_type="application/json", **auth)
        raise RuntimeError("no dossier to act on")

    def track_api():
        code, phone = rng.choice(pairs)
        return lambda: _client().get(f"/api/public/track/{code}/", {"phone": phone})

    def track_form():
        code, _phone = rng.choice(pairs)
        return lambda: _client().get("/tra-cuu/", {"ma": code})

    def track_answer():
        code, phone = rng.choice(pairs)
        return lambda: _client().post("/tra-cuu/", {"code": code, "phone": phone})

    return {
        "clerk: receive (API)": receive, "clerk: desk page": desk,
        "officer: queue page": queue, "officer: queue htmx (page 2)": queue_htmx,
        "officer: dossier page": dossier_page, "officer: dossier (API)": dossier_api,
        "officer: act (API transition)": act,
        "citizen: track (API)": track_api, "citizen: track page (form)": track_form,
        "citizen: track page (answer)": track_answer,
    }


def action_costs(accounts: dict, pairs: list[list[str]], *, n: int,
                 warmup: int = 3) -> dict[str, dict]:
    """Per action, ``n`` requests after ``warmup`` ones: mean CPU ms here and in PostgreSQL,
    statements per request, median wall ms. ``accounts``: the runner's, the clerks with their
    reception bodies."""
    from django.db import connection

    backend = _backend_cpu()
    statements = [0]

    def count(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    out = {}
    for name, prepare in _plan(accounts, pairs).items():
        for _ in range(warmup):
            prepare()()
        django_s = postgres_s = 0.0
        walls: list[float] = []
        statements[0] = 0
        for _ in range(n):
            request = prepare()
            c0, p0, t0 = time.process_time(), backend(), time.perf_counter()
            with connection.execute_wrapper(count):
                response = request()
            c1, p1, t1 = time.process_time(), backend(), time.perf_counter()
            if response.status_code >= 400:
                raise RuntimeError(f"{name}: {response.status_code} {response.content[:200]!r}")
            django_s += c1 - c0
            postgres_s += p1 - p0
            walls.append(t1 - t0)
        walls.sort()
        out[name] = {
            "n": n, "django_ms": django_s / n * 1000, "postgres_ms": postgres_s / n * 1000,
            "total_ms": (django_s + postgres_s) / n * 1000,
            "statements": statements[0] / n, "wall_ms": walls[len(walls) // 2] * 1000,
        }
    return out
