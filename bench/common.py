"""Shared helpers of the benchmarks in bench/: the database, timing, a gunicorn server on
loopback, a load driver, percentiles and a table.

Import it first thing from a bench script (it fixes ``sys.path``)::

    import common  # noqa: F401  (from bench/, or ``from bench import common``)

The database is ``--database-url``, else ``DATABASE_URL``, else
``postgres://postgres@127.0.0.1:5432/motcua_bench``; it is created when missing and migrated.
Nothing here runs at import time besides the path fix.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

# bench/ holds calendar.py and queue.py, which would shadow the standard library's modules:
# drop this folder from the path and put the project's root there instead.
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != HERE]
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/motcua_bench"
VENV_BIN = os.path.join(ROOT, ".venv", "bin")


# ---------------------------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------------------------


def database_url(explicit: str | None = None) -> str:
    return explicit or os.environ.get("DATABASE_URL") or DEFAULT_URL


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _admin_connection(url: str):
    import psycopg2

    conn = psycopg2.connect(with_database(url, "postgres"))
    conn.autocommit = True
    return conn


def ensure_database(url: str) -> bool:
    """Create the database of ``url`` if it does not exist; True when it was created."""
    name = database_name(url)
    conn = _admin_connection(url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
            if cur.fetchone():
                return False
            cur.execute(f'CREATE DATABASE "{name}"')
            return True
    finally:
        conn.close()


def clone_database(url: str, source: str, target: str) -> str:
    """``target`` as a fresh copy of ``source`` (dropped first if it exists); its URL."""
    conn = _admin_connection(url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
            cur.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    finally:
        conn.close()
    return with_database(url, target)


def drop_database(url: str, name: str) -> None:
    conn = _admin_connection(url)
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


def setup_django(url: str, *, migrate: bool = True, settings: str = "motcua.settings") -> None:
    """Django on ``url`` (created if missing, migrated)."""
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = settings
    os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "false")
    import django

    django.setup()
    # Benchmarks never send anything: tasks go to an in-memory broker.
    from motcua.celery import app

    app.conf.broker_url = "memory://"
    if migrate:
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)


def ensure_demo(password: str | None = None) -> str:
    """The demo organisation, users and catalogue (``seed_demo`` without its dossiers), when
    the catalogue is empty. Returns the demo users' password."""
    from motcua.demo import DEFAULT_DEMO_PASSWORD, seed_organisation, seed_users
    from procedures.models import Procedure

    password = password or DEFAULT_DEMO_PASSWORD
    from django.contrib.auth import get_user_model

    if not Procedure.objects.exists() or not get_user_model().objects.filter(
        username="officer1"
    ).exists():
        from django.db import transaction

        with transaction.atomic():
            seed_organisation()
            seed_users(password=password)
        from procedures.demo import seed_catalogue

        seed_catalogue()
    return password


def close_connections() -> None:
    from django.db import connections

    connections.close_all()


def dossier_count() -> int:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM dossiers_dossier")
        return int(cur.fetchone()[0])


# ---------------------------------------------------------------------------------------------
# Timing and figures
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def timer() -> Iterator[Callable[[], float]]:
    """``with timer() as elapsed: ...; elapsed()`` — seconds (frozen at the block's end)."""
    started = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - started
    end.append(time.perf_counter())


def percentile(values: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0–100), linear between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "median": statistics.median(ms) if ms else float("nan"),
        "p95": percentile(ms, 95),
        "p99": percentile(ms, 99),
        "max": max(ms) if ms else float("nan"),
    }


def print_table(headers: Sequence[str], rows: Sequence[Sequence], *, title: str = "") -> None:
    """A markdown table (it reads as plain text too)."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in cells)) if cells else len(str(h))
              for i, h in enumerate(headers)]
    if title:
        print(f"\n{title}")
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(v.rjust(w) if _numeric(v) else v.ljust(w)
                                for v, w in zip(row, widths, strict=True)) + " |")


def _fmt(value) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "—"
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _numeric(text: str) -> bool:
    return bool(re.fullmatch(r"[-\d.,×%]+", text))


def write_json(path: str | None, data: dict) -> None:
    if path:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle, ensure_ascii=False, indent=2, default=str)


# ---------------------------------------------------------------------------------------------
# gunicorn on loopback
# ---------------------------------------------------------------------------------------------


def redis_answers(url: str) -> bool:
    """Whether a Redis answers PING at ``url`` (within a second)."""
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except Exception:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    port: int
    process: subprocess.Popen
    log: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def gunicorn(
    *, url: str, settings: str = "motcua.settings", workers: int = 2, threads: int = 1,
    env: dict[str, str] | None = None, ready_path: str = "/health/",
) -> Iterator[Server]:
    """gunicorn serving the project on a free loopback port, stopped (this process only) at
    the end. ``settings``: the settings module (a bench may add its own URLconf)."""
    port = free_port()
    log = tempfile.NamedTemporaryFile(prefix="bench-gunicorn-", suffix=".log", delete=False)
    environment = {
        **os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": settings,
        "DEBUG": "false", "LOG_LEVEL": "WARNING", "PYTHONPATH": ROOT,
        "CONN_MAX_AGE": "600", **(env or {}),
    }
    command = [
        os.path.join(VENV_BIN, "gunicorn"), "motcua.wsgi:application",
        "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
        "--chdir", ROOT, "--log-level", "warning", "--keep-alive", "30", "--timeout", "120",
    ]
    process = subprocess.Popen(command, env=environment, stdout=log, stderr=log, cwd=ROOT)
    server = Server(port=port, process=process, log=log.name)
    try:
        _wait_ready(server, ready_path)
        yield server
    finally:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_ready(server: Server, path: str, timeout: float = 60) -> None:
    import http.client

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited; see {server.log}:\n{_tail(server.log)}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s; see {server.log}")


def _tail(path: str, lines: int = 30) -> str:
    with open(path, encoding="utf-8", errors="replace") as handle:
        return "".join(handle.readlines()[-lines:])


# ---------------------------------------------------------------------------------------------
# Load: wrk when there is one, else Python threads with keep-alive connections
# ---------------------------------------------------------------------------------------------


def ensure_wrk() -> str | None:
    """The wrk binary; installs Debian's ``wrk`` package when missing and apt-get can (as
    root); None when there is no way to have it (the Python driver is used then)."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        subprocess.run([apt, "install", "-y", "-qq", "wrk"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("wrk")


@dataclass
class LoadResult:
    requests: int
    seconds: float
    errors: int
    status: dict[str, int] = field(default_factory=dict)
    latency_ms: dict[str, float] = field(default_factory=dict)
    driver: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


@dataclass
class Request:
    method: str
    path: str
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


_WRK_SCRIPT = r"""
local requests = {}
local counts = {}
local lines = {}
for line in io.lines(os.getenv("BENCH_WRK_REQUESTS")) do table.insert(lines, line) end
local i = 1
while i <= #lines do
  local method, path, nheaders = lines[i]:match("^(%S+) (%S+) (%d+)$")
  local headers = {}
  for j = 1, tonumber(nheaders) do
    local k, v = lines[i + j]:match("^([^:]+): (.*)$")
    headers[k] = v
  end
  local body = lines[i + tonumber(nheaders) + 1]
  if body == "" then body = nil end
  table.insert(requests, wrk.format(method, path, headers, body))
  i = i + tonumber(nheaders) + 2
end
local n = 0
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  n = id
  codes = {}
end
function request()
  n = n + 1
  return requests[(n % #requests) + 1]
end
function response(status, headers, body)
  codes[status] = (codes[status] or 0) + 1
end
function done(summary, latency, requests)
  local out = io.open(os.getenv("BENCH_WRK_OUT"), "w")
  out:write(string.format("requests %d\n", summary.requests))
  out:write(string.format("duration_us %d\n", summary.duration))
  out:write(string.format("errors %d\n", summary.errors.connect + summary.errors.read
    + summary.errors.write + summary.errors.timeout))
  out:write(string.format("non2xx %d\n", summary.errors.status))
  for _, p in ipairs({50, 90, 95, 99}) do
    out:write(string.format("p%d %f\n", p, latency:percentile(p) / 1000.0))
  end
  out:write(string.format("max %f\n", latency.max / 1000.0))
  for _, t in ipairs(threads) do
    local c = t:get("codes")
    for code, k in pairs(c) do out:write(string.format("status %d %d\n", code, k)) end
  end
  out:close()
end
"""


def run_load(
    base: str, requests: Sequence[Request], *, seconds: float, connections: int,
    threads: int = 1, driver: str = "auto",
) -> LoadResult:
    """Send ``requests`` round-robin for ``seconds`` over ``connections`` keep-alive
    connections. ``driver``: ``wrk``, ``python`` or ``auto`` (wrk when available)."""
    wrk = ensure_wrk() if driver in ("auto", "wrk") else None
    if wrk:
        return _run_wrk(wrk, base, requests, seconds=seconds, connections=connections,
                        threads=threads)
    return _run_python(base, requests, seconds=seconds, connections=connections)


def _run_wrk(wrk, base, requests, *, seconds, connections, threads) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        spec = os.path.join(tmp, "requests.txt")
        with open(spec, "w", encoding="utf-8") as handle:
            for req in requests:
                body = req.body.decode()
                if "\n" in body:
                    raise ValueError("request bodies for wrk must be one line")
                handle.write(f"{req.method} {req.path} {len(req.headers)}\n")
                for k, v in req.headers.items():
                    handle.write(f"{k}: {v}\n")
                handle.write(body + "\n")
        script = os.path.join(tmp, "script.lua")
        with open(script, "w", encoding="utf-8") as handle:
            handle.write(_WRK_SCRIPT)
        out = os.path.join(tmp, "out.txt")
        env = {**os.environ, "BENCH_WRK_REQUESTS": spec, "BENCH_WRK_OUT": out}
        subprocess.run(
            [wrk, "-t", str(max(1, min(threads, connections))), "-c", str(connections),
             "-d", f"{max(1, round(seconds))}s", "--timeout", "30s", "-s", script, base],
            env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        values: dict[str, float] = {}
        status: dict[str, int] = {}
        with open(out, encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if parts[0] == "status":
                    status[parts[1]] = status.get(parts[1], 0) + int(parts[2])
                else:
                    values[parts[0]] = float(parts[1])
    bad = sum(n for code, n in status.items() if not code.startswith("2"))
    return LoadResult(
        requests=int(values["requests"]), seconds=values["duration_us"] / 1e6,
        errors=int(values["errors"]) + bad, status=status,
        latency_ms={k: values[k] for k in ("p50", "p90", "p95", "p99", "max")}, driver="wrk",
    )


def _run_python(base, requests, *, seconds, connections) -> LoadResult:
    import http.client

    parts = urlsplit(base)
    stop_at = time.monotonic() + seconds
    lock = threading.Lock()
    latencies: list[float] = []
    status: dict[str, int] = {}
    errors = [0]

    def worker(offset: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        n = offset
        mine, codes = [], {}
        while time.monotonic() < stop_at:
            req = requests[n % len(requests)]
            n += connections
            t0 = time.perf_counter()
            try:
                conn.request(req.method, req.path, body=req.body or None, headers=req.headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                with lock:
                    errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
                continue
            mine.append(time.perf_counter() - t0)
            codes[str(response.status)] = codes.get(str(response.status), 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, k in codes.items():
                status[code] = status.get(code, 0) + k

    started = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    bad = sum(n for code, n in status.items() if not code.startswith("2"))
    ms = [x * 1000 for x in latencies]
    return LoadResult(
        requests=len(latencies), seconds=elapsed, errors=errors[0] + bad, status=status,
        latency_ms={"p50": percentile(ms, 50), "p90": percentile(ms, 90),
                    "p95": percentile(ms, 95), "p99": percentile(ms, 99),
                    "max": max(ms) if ms else float("nan")},
        driver="python",
    )
