#!/usr/bin/env python
"""Mixed load: 60 clerks receiving, 200 officers and leaders working their queues, 500 citizens
tracking, on gunicorn + PostgreSQL + Redis + a Celery worker and beat, for five minutes.

    .venv/bin/python bench/mixed_load.py [--duration 300] [--quick] [--scale 1.0]
                                         [--dossiers 200000] [--reseed]
                                         [--workers N] [--threads 1] [--celery-concurrency 2]
                                         [--spawn-rate 50] [--think 1.0] [--redis-db 13]
                                         [--env production|development]
                                         [--costs 30] [--database-url URL] [--json FILE]
                                         [--keep-logs]

1. The database (``--database-url``, default ``motcua_bench_load`` on 127.0.0.1; kept between
   runs, ``--reseed`` drops it first): migrated, the demo organisation and catalogue
   (``common.ensure_demo``), the bench's staff — 60 clerks over the reception desks, 160
   officers and 40 leaders over the units in proportion to the work waiting there
   (``assign_units``, at every run) — with an API token and a logged-in
   session each (written straight into the session store: 260 password checks would cost the
   server more than the first minute of load), and ``manage.py seed_bulk --dossiers N``
   (only when the database holds fewer dossiers), then ``VACUUM ANALYZE``.
2. The servers, each its own process group, stopped at the end (Ctrl-C included):
   ``collectstatic`` (production serves the hashed names), gunicorn (``--workers``, default
   2 × cores + 1 sync workers; ``--threads`` > 1: gthread), a Celery worker and beat on Redis
   db ``--redis-db`` (flushed first: keep it for this bench), all with ``MOTCUA_ENV=production``
   over plain HTTP (``SECURE_SSL_REDIRECT=0``, a throwaway ``SECRET_KEY``, ``DEBUG=0``,
   ``ALLOW_DEMO_ADAPTERS=1``: SMS, portal and mail recorded in tables, not sent). The
   public throttles would refuse 500 citizens behind one address: ``PUBLIC_TRACK_THROTTLE_RATE``
   and ``PUBLIC_THROTTLE_RATE`` are raised to 100000000/min (the throttle still runs).
3. locust, headless (bench/load/locustfile.py: what each user does and why those think times),
   ``-u 760`` (× ``--scale``) for ``--duration`` seconds after the ramp. Every
   ``--sample-every`` seconds the resident memory (``VmRSS``; ``RssAnon`` too) and the CPU
   time, on a CPU and runnable but waiting for one (``/proc/<pid>/schedstat``), of every
   process: gunicorn master and workers, Celery worker (and its pool), beat, the PostgreSQL
   backends of the bench database (summed), Redis, locust. Every second, what those backends
   are doing (``pg_stat_activity``) and how many connections wait in gunicorn's accept queue.
4. One table: per action requests, req/s, p50 / p95 / p99 / max, errors (measured once every
   user has started); totals; conflicts (two people acting on one dossier: 409 / 400
   ``transition_not_allowed``, the right answers, not errors). Then memory per process: start,
   minute 1, max, end, growth from minute 1 to the end, CPU and CPU wait; where the time went.
   Targets: no error; p95 < 300 ms for every staff action; no group of processes growing more
   than 10 % (and 5 MB per process) from minute 1 to the end (``memory_table`` says why both).
   Exits 1 when one is missed.
5. The servers stopped, ``--costs N`` (default 30): N requests of each action through
   Django's test client in a fresh process (bench/load/costs.py): CPU ms in Django and in
   its PostgreSQL backend, statements; and what one core serves of the mix the load made. On
   a shared machine these move far less than the latencies.

``--quick``: 30 s, a tenth of the users, think times × 0.25 (bench/run's smoke mode).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402  (fixes sys.path: bench/ shadows calendar and queue)

# Again, in case ``common`` was imported before (a test loading this file): bench/ must not
# stay in front of the standard library.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != common.HERE]

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/motcua_bench_load"
LOCUSTFILE = os.path.join(common.HERE, "load", "locustfile.py")
USERS = {"clerks": 60, "officers": 200, "citizens": 500}
LEADER_SHARE = 0.2  # of the 200 working staff: 160 officers, 40 leaders
TARGET_STAFF_P95_MS = 300.0
TARGET_GROWTH = 0.10
GROWTH_FLOOR_KB = 5 * 1024
BENCH_RATE = "100000000/min"
# The servers' key, and the runner's when it writes the sessions (they are signed with it).
BENCH_SECRET_KEY = "bench-mixed-load-throwaway-" + "k" * 40
PREFIX = "load_"
STAFF_PREFIXES = ("clerk:", "officer:")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds of load")
    parser.add_argument("--quick", action="store_true",
                        help="30 s, a tenth of the users (smoke test)")
    parser.add_argument("--scale", type=float, default=None,
                        help="share of the 760 users (default 1; --quick: 0.1)")
    parser.add_argument("--dossiers", type=int, default=200_000)
    parser.add_argument("--reseed", action="store_true", help="drop the database first")
    parser.add_argument("--workers", type=int, default=2 * (os.cpu_count() or 1) + 1)
    parser.add_argument("--threads", type=int, default=1, help="> 1: gthread workers")
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--spawn-rate", type=float, default=50)
    parser.add_argument("--think", type=float, default=None,
                        help="scale of the think times (0.5: twice the request rate; "
                             "default 1, --quick: 0.25)")
    parser.add_argument("--redis-db", type=int, default=13)
    parser.add_argument("--env", choices=["production", "development"], default="production")
    parser.add_argument("--sample-every", type=float, default=10.0)
    parser.add_argument("--citizen-pairs", type=int, default=2000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--json", default=None)
    parser.add_argument("--costs", type=int, default=None, metavar="N",
                        help="after the load, N requests of each action in this process: CPU "
                             "and statements per action (default 30, --quick 5; 0: skip)")
    parser.add_argument("--keep-logs", action="store_true")
    parser.add_argument("--costs-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--mix", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        if args.duration == parser.get_default("duration"):
            args.duration = 30
        if args.scale is None:
            args.scale = 0.1
        if args.think is None:
            args.think = 0.25  # every action a few times within 30 s
        if args.costs is None:
            args.costs = 5
    if args.scale is None:
        args.scale = 1.0
    if args.think is None:
        args.think = 1.0
    if args.costs is None:
        args.costs = 30
    return args


def user_count(scale: float) -> int:
    return max(3, round(sum(USERS.values()) * scale))


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def ensure_staff(password: str) -> None:
    """The bench's users (``load_clerk_…``, ``load_officer_…``, ``load_leader_…``), created once,
    in bulk; their units are given by :func:`assign_units` at every run."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password

    User = get_user_model()
    if User.objects.filter(username__startswith=PREFIX).exists():
        return
    n_leaders = round(USERS["officers"] * LEADER_SHARE)
    names = ([f"{PREFIX}clerk_{i + 1:03d}" for i in range(USERS["clerks"])]
             + [f"{PREFIX}officer_{i + 1:03d}" for i in range(USERS["officers"] - n_leaders)]
             + [f"{PREFIX}leader_{i + 1:03d}" for i in range(n_leaders)])
    hashed = make_password(password)  # one hash for all: hashing 260 times costs minutes
    User.objects.bulk_create([
        User(username=name, password=hashed, first_name=name.rsplit("_", 1)[1],
             last_name="Cán bộ thử tải")
        for name in names
    ])


def spread(n: int, weights: dict[int, int]) -> list[int]:
    """``n`` users over the keys of ``weights`` in proportion to them (largest remainders),
    each key with a weight getting at least one when ``n`` allows."""
    keys = sorted((k for k, w in weights.items() if w > 0), key=lambda k: -weights[k])
    if not keys or n <= 0:
        return []
    base = dict.fromkeys(keys, 1) if n >= len(keys) else dict.fromkeys(keys[:n], 1)
    left = n - sum(base.values())
    total = sum(weights[k] for k in keys)
    shares = {k: left * weights[k] / total for k in keys}
    for k in keys:
        base[k] = base.get(k, 0) + int(shares[k])
    rest = n - sum(base.values())
    for k in sorted(keys, key=lambda k: -(shares[k] - int(shares[k])))[:rest]:
        base[k] += 1
    return [k for k in keys for _ in range(base.get(k, 0))]


def assign_units(bodies: list[dict]) -> None:
    """Give the bench's staff their units, by where the work is now: officers over the units
    whose queue holds dossiers they may act on (unassigned officer steps, received dossiers
    whose first step is theirs), leaders over the units with dossiers awaiting approval, in
    proportion to those counts; clerks over the desks of the agencies that receive in person
    (a service-center desk receives for all). Officers with an empty queue would measure
    nothing but an empty page."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.db.models import Count

    from dossiers.models import OPEN_STATES, Dossier, State
    from motcua.models import Agency, Role, StaffRole, Unit

    users = {u.username: u for u in get_user_model().objects.filter(username__startswith=PREFIX)}

    def count(qs, field_name) -> dict[int, int]:
        return {row[field_name]: row["n"] for row in qs.values(field_name).annotate(n=Count("id"))
                if row[field_name] is not None}

    open_qs = Dossier.objects.filter(state__in=OPEN_STATES)
    officer_work = count(open_qs.filter(current_role=Role.OFFICER, current_handler__isnull=True),
                         "current_unit")
    for unit_id, n in count(Dossier.objects.filter(state=State.RECEIVED),
                            "first_officer_unit").items():
        officer_work[unit_id] = officer_work.get(unit_id, 0) + n
    leader_work = count(open_qs.filter(current_role=Role.LEADER), "current_unit")
    receiving = {b["agency"] for b in bodies}
    desks = {u.pk: 1 for u in Unit.objects.filter(is_active=True, is_reception=True)
             .select_related("agency")
             if u.agency.kind == Agency.Kind.CENTER or u.agency.code in receiving}
    plan = []
    for prefix, role, weights in (("clerk", Role.CLERK, desks),
                                  ("officer", Role.OFFICER, officer_work),
                                  ("leader", Role.LEADER, leader_work)):
        mine = sorted(name for name in users if name.startswith(f"{PREFIX}{prefix}_"))
        plan += [StaffRole(user=users[name], unit_id=unit_id, role=role)
                 for name, unit_id in zip(mine, spread(len(mine), weights), strict=False)]
    with transaction.atomic():
        StaffRole.objects.filter(user__username__startswith=PREFIX).delete()
        StaffRole.objects.bulk_create(plan)


def staff_accounts() -> dict[str, list[dict]]:
    """Token and fresh session of each bench user, with the agency of each clerk's desk."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from rest_framework.authtoken.models import Token

    from motcua.models import Agency, Role, StaffRole

    store = import_module(settings.SESSION_ENGINE).SessionStore
    roles = StaffRole.objects.filter(user__username__startswith=PREFIX).select_related(
        "user", "unit__agency").order_by("user__username")
    out: dict[str, list[dict]] = {"clerks": [], "officers": []}
    for staff_role in roles:
        user = staff_role.user
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        account = {
            "username": user.username, "role": staff_role.role,
            "token": Token.objects.get_or_create(user=user)[0].key,
            "session": session.session_key, "unit": staff_role.unit_id,
        }
        if staff_role.role == Role.CLERK:
            agency = staff_role.unit.agency
            account["agency"] = None if agency.kind == Agency.Kind.CENTER else agency.code
            out["clerks"].append(account)
        else:
            out["officers"].append(account)
    # Leaders and officers mixed (locust takes the accounts in order: a tenth of the users
    # must not be leaders only).
    random.Random(2026).shuffle(out["officers"])
    return out


def _reception():
    """bench/reception.py, whose bodies and preflight are reused here. Importing it puts
    bench/ back at the front of ``sys.path`` (where its queue.py would shadow the standard
    library's): taken out again at once."""
    from bench import reception

    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != common.HERE]
    return reception


def reception_bodies() -> list[dict]:
    """One reception per (in-person procedure, receiving agency), as bench/reception.py."""
    return _reception().bodies()


def ensure_dossiers(url: str, n: int) -> int:
    have = common.dossier_count()
    if have < n:
        print(f"seeding {n - have:,} dossiers (have {have:,}) with manage.py seed_bulk …",
              flush=True)
        common.close_connections()
        started = time.perf_counter()
        subprocess.run(
            [os.path.join(common.VENV_BIN, "python"), "manage.py", "seed_bulk",
             "--dossiers", str(n - have)],
            cwd=common.ROOT, check=True,
            env={**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "motcua.settings"},
        )
        print(f"  seeded in {time.perf_counter() - started:.0f} s", flush=True)
        from django.db import connection

        with connection.cursor() as cur:
            for table in ("dossiers_dossier", "dossiers_dossierstep", "dossiers_dossierevent"):
                cur.execute(f"VACUUM (ANALYZE) {table}")
    return common.dossier_count()


def citizen_pairs(n: int) -> list[list[str]]:
    """``n`` (code, phone) pairs at random over the whole table."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "SELECT code, applicant_phone FROM dossiers_dossier TABLESAMPLE SYSTEM (5) "
            "WHERE code IS NOT NULL AND code <> '' AND applicant_phone <> '' LIMIT %s", [n],
        )
        return [list(row) for row in cur.fetchall()]


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    process: subprocess.Popen
    log: str


def start(name: str, command: list[str], env: dict, logdir: str) -> Proc:
    """A process in a group of its own (stopped with its children; never anyone else's)."""
    log = os.path.join(logdir, f"{name}.log")
    handle = open(log, "w", encoding="utf-8")  # noqa: SIM115 (closed by the child's exit)
    process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT,
                               cwd=common.ROOT, start_new_session=True)
    handle.close()
    return Proc(name, process, log)


def stop(proc: Proc, *, grace: float = 20) -> None:
    """SIGTERM to the process (it stops its own children), then SIGKILL to its group."""
    process = proc.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)


def server_env(args, url: str, static_root: str) -> dict[str, str]:
    redis = f"redis://127.0.0.1:6379/{args.redis_db}"
    env = {
        **os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "motcua.settings",
        "PYTHONPATH": common.ROOT, "REDIS_URL": redis, "DEBUG": "0", "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": "600", "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "PUBLIC_TRACK_THROTTLE_RATE": BENCH_RATE, "PUBLIC_THROTTLE_RATE": BENCH_RATE,
        "STATIC_ROOT": static_root, "CELERY_TASK_ALWAYS_EAGER": "false",
        "SECRET_KEY": BENCH_SECRET_KEY,
    }
    if args.env == "production":
        env.update({
            "MOTCUA_ENV": "production", "SECURE_SSL_REDIRECT": "0", "SECURE_HSTS_SECONDS": "0",
            # The demo SMS, portal and mail adapters, on purpose: they write what they would
            # send into tables (the outbox's work stays in the load), they send nothing.
            "ALLOW_DEMO_ADAPTERS": "1",
        })
    else:
        env["MOTCUA_ENV"] = "development"
    return env


def collect_static(env: dict, static_root: str) -> None:
    """``collectstatic`` into ``static_root`` (production serves the manifest's hashed names),
    skipped when its manifest is newer than every file of static/ (the packages' files change
    only with an install: ``rm -r`` the folder then). Compressing takes minutes on 2 cores."""
    manifest = os.path.join(static_root, "staticfiles.json")
    if os.path.exists(manifest):
        made = os.path.getmtime(manifest)
        newest = max((os.path.getmtime(os.path.join(d, f))
                      for d, _dirs, files in os.walk(os.path.join(common.ROOT, "static"))
                      for f in files), default=0.0)
        if newest < made:
            return
    print(f"collectstatic into {static_root} …", flush=True)
    subprocess.run([os.path.join(common.VENV_BIN, "python"), "manage.py", "collectstatic",
                    "--noinput", "-v", "0"], cwd=common.ROOT, env=env, check=True)


def children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                out += [int(x) for x in handle.read().split()]
    return sorted(set(out))


def proc_memory(pid: int) -> tuple[int, int] | None:
    """(VmRSS, RssAnon) in kB, None when the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
    except OSError:
        return None
    return (int(fields.get("VmRSS", "0 kB").split()[0]),
            int(fields.get("RssAnon", "0 kB").split()[0]))


def proc_cpu(pid: int) -> tuple[float, float] | None:
    """(seconds on a CPU, seconds runnable but waiting for one) from ``/proc/<pid>/schedstat``:
    the second is what a crowded machine adds to every request."""
    try:
        with open(f"/proc/{pid}/schedstat") as handle:
            on_cpu, waiting, _slices = handle.read().split()
    except (OSError, ValueError):
        return None
    return int(on_cpu) / 1e9, int(waiting) / 1e9


@dataclass
class Sampler:
    """Memory and CPU of every process of the system under test, every ``every`` seconds."""

    groups: dict  # name -> callable returning pids
    every: float
    samples: list[dict] = field(default_factory=list)
    cpu_first: dict = field(default_factory=dict)
    cpu_last: dict = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    started: float = 0.0

    def sample(self) -> None:
        row: dict = {"t": time.monotonic() - self.started, "load": os.getloadavg()[0]}
        for name, pids in self.groups.items():
            rss = anon = 0
            alive = 0
            for pid in pids():
                memory = proc_memory(pid)
                if memory is None:
                    continue
                alive += 1
                rss += memory[0]
                anon += memory[1]
                cpu = proc_cpu(pid)
                if cpu is not None:
                    self.cpu_first.setdefault((name, pid), cpu)
                    self.cpu_last[(name, pid)] = cpu
            row[name] = {"rss": rss, "anon": anon, "n": alive}
        self.samples.append(row)

    def run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def start(self) -> None:
        self.started = time.monotonic()
        self.sample()
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread:
            self._thread.join()
        self.sample()

    def cpu_seconds(self) -> dict[str, float]:
        """Per group: seconds on a CPU during the run (processes seen at two samples at least)."""
        return self._delta(0)

    def wait_seconds(self) -> dict[str, float]:
        """Per group: seconds runnable but waiting for a CPU during the run."""
        return self._delta(1)

    def _delta(self, i: int) -> dict[str, float]:
        out: dict[str, float] = {}
        for (name, pid), last in self.cpu_last.items():
            out[name] = out.get(name, 0.0) + last[i] - self.cpu_first[(name, pid)][i]
        return out


@dataclass
class Waits:
    """Every ``every`` seconds: what the bench database's backends are doing
    (``pg_stat_activity``: running, waiting on a lock, on I/O, on the client…) and how many
    connections wait in gunicorn's accept queue for a free worker (``ss``: Recv-Q of the
    listening socket). Where a request's time goes when the server is slow."""

    url: str
    port: int
    every: float = 1.0
    backends: dict = field(default_factory=dict)
    accept_queue: list = field(default_factory=list)
    polls: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def run(self) -> None:
        import shutil

        import psycopg2

        ss = shutil.which("ss")
        conn = psycopg2.connect(self.url)
        conn.autocommit = True
        try:
            while not self._stop.wait(self.every):
                self.polls += 1
                with conn.cursor() as cur:
                    cur.execute(
                        "SELECT CASE WHEN state = 'active' THEN coalesce(wait_event_type, "
                        "'running') ELSE state END, count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                        "GROUP BY 1")
                    for what, n in cur.fetchall():
                        self.backends[what] = self.backends.get(what, 0) + n
                if ss:
                    done = subprocess.run([ss, "-Hltn", f"sport = :{self.port}"],
                                          capture_output=True, text=True, check=False)
                    for line in done.stdout.splitlines():
                        parts = line.split()
                        if len(parts) > 1 and parts[1].isdigit():
                            self.accept_queue.append(int(parts[1]))
        finally:
            conn.close()

    def start(self) -> None:
        self._thread = threading.Thread(target=self.run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def summary(self) -> dict:
        polls = max(self.polls, 1)
        queue = sorted(self.accept_queue)
        return {
            "backends_mean": {k: v / polls for k, v in sorted(self.backends.items())},
            "accept_queue": {
                "mean": sum(queue) / len(queue) if queue else None,
                "p95": common.percentile(queue, 95) if queue else None,
                "max": queue[-1] if queue else None,
            },
            "polls": self.polls,
        }


def backend_pids(url: str):
    """The PostgreSQL backends connected to the bench database (our own connection excepted)."""
    import psycopg2

    conn = psycopg2.connect(url)
    conn.autocommit = True
    name = common.database_name(url)

    def pids() -> list[int]:
        with conn.cursor() as cur:
            cur.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s "
                        "AND pid <> pg_backend_pid()", [name])
            return [row[0] for row in cur.fetchall()]

    return conn, pids


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------


def read_samples(path: str) -> tuple[dict, list[tuple]]:
    """The locustfile's output: a header (conflicts, transitions, spawned_at), then one
    ``[at, name, ms, status, ok]`` per request."""
    with open(path, encoding="utf-8") as handle:
        header = json.loads(handle.readline() or "{}")
        rows = [tuple(json.loads(line)) for line in handle if line.strip()]
    return header, rows


def action_table(rows: list[tuple], *, since: float | None = None,
                 until: float | None = None) -> dict:
    """Per action: requests, req/s, percentiles, errors; and totals. ``since`` / ``until``:
    the measured window (epoch seconds); rows outside it are left out."""
    kept = [r for r in rows if (since is None or r[0] >= since) and (until is None or r[0] <= until)]
    if not kept:
        return {"actions": {}, "totals": {"requests": 0, "rps": 0.0, "errors": 0}, "seconds": 0.0}
    start = since if since is not None else min(r[0] for r in kept)
    end = until if until is not None else max(r[0] for r in kept)
    seconds = max(end - start, 1e-9)
    by_name: dict[str, list[tuple]] = {}
    for r in kept:
        by_name.setdefault(r[1], []).append(r)
    actions = {}
    for name in sorted(by_name, key=_action_order):
        items = by_name[name]
        ms = [r[2] for r in items]
        actions[name] = {
            "requests": len(items), "rps": len(items) / seconds,
            "p50": common.percentile(ms, 50), "p95": common.percentile(ms, 95),
            "p99": common.percentile(ms, 99), "max": max(ms),
            "errors": sum(1 for r in items if not r[4]),
            "staff": name.startswith(STAFF_PREFIXES),
        }
    ms = [r[2] for r in kept]
    totals = {
        "requests": len(kept), "rps": len(kept) / seconds,
        "p50": common.percentile(ms, 50), "p95": common.percentile(ms, 95),
        "p99": common.percentile(ms, 99), "max": max(ms),
        "errors": sum(a["errors"] for a in actions.values()),
    }
    return {"actions": actions, "totals": totals, "seconds": seconds}


def _action_order(name: str) -> tuple:
    kind = next((i for i, p in enumerate(("clerk:", "officer:", "citizen:")) if
                 name.startswith(p)), 9)
    return (kind, name)


def print_actions(table: dict, *, title: str) -> None:
    rows = [[name, a["requests"], a["rps"], a["p50"], a["p95"], a["p99"], a["max"], a["errors"],
             ("pass" if a["p95"] < TARGET_STAFF_P95_MS else "FAIL") if a["staff"] else "—"]
            for name, a in table["actions"].items()]
    t = table["totals"]
    if t["requests"]:
        rows.append(["all", t["requests"], t["rps"], t["p50"], t["p95"], t["p99"], t["max"],
                     t["errors"], ""])
    common.print_table(["action", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
                        "errors", f"p95 < {TARGET_STAFF_P95_MS:g} ms"], rows, title=title)


def memory_table(samples: list[dict], *, minute: float = 60.0) -> dict[str, dict]:
    """Per process group: kB at start, at ``minute`` seconds of load, max, end; growth from
    ``minute`` to the end. A group passes when it grew at most 10 % or at most 5 MB per
    process: Python and PostgreSQL processes grow by a few MB while their caches fill (Django's
    templates, the per-process stores of versions and agencies, PostgreSQL's catalogue and plan
    caches, one prepared statement per connection), then stop; a leak grows with the requests,
    without bound. The PostgreSQL backends are judged on ``RssAnon`` (their own memory): their
    ``VmRSS`` also counts the pages of shared buffers they have touched, which grows as they
    read more of the table and is no leak."""
    if not samples:
        return {}
    names = [k for k in samples[0] if k not in ("t", "load")]
    at_minute = min(samples, key=lambda s: abs(s["t"] - minute))
    out = {}
    for name in names:
        key = "anon" if name == "postgres backends" else "rss"
        values = [s[name][key] for s in samples if s.get(name) and s[name]["n"]]
        if not values:
            continue
        first_kb = at_minute[name][key] if at_minute.get(name) and at_minute[name]["n"] else values[0]
        end_kb = values[-1]
        growth = (end_kb - first_kb) / first_kb if first_kb else 0.0
        processes = max(s[name]["n"] for s in samples if s.get(name))
        out[name] = {
            "measure": "RssAnon" if key == "anon" else "VmRSS",
            "start_kb": values[0], "minute_kb": first_kb, "max_kb": max(values),
            "end_kb": end_kb, "growth": growth,
            "processes": processes,
            "ok": growth <= TARGET_GROWTH or end_kb - first_kb <= GROWTH_FLOOR_KB * processes,
        }
    return out


def print_memory(memory: dict[str, dict], cpu: dict[str, float], *, minute: float,
                 waited: dict[str, float] | None = None) -> None:
    waited = waited or {}
    rows = [[name, m["processes"], m["measure"], m["start_kb"] / 1024, m["minute_kb"] / 1024,
             m["max_kb"] / 1024, m["end_kb"] / 1024, f"{m['growth']:+.1%}",
             cpu.get(name, float("nan")), waited.get(name, float("nan")),
             "pass" if m["ok"] else "FAIL"]
            for name, m in memory.items()]
    common.print_table(
        ["process", "n", "measure", "start MB", f"at {minute:.0f} s MB", "max MB", "end MB",
         "growth", "CPU s", "CPU wait s", f"growth ≤ {TARGET_GROWTH:.0%} or 5 MB each"], rows,
        title="Memory per process (growth: from the first minute of load to the end)",
    )


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def prepare(args, url: str) -> dict:
    if args.reseed:
        print(f"dropping {common.database_name(url)} (--reseed)", flush=True)
        common.drop_database(url, common.database_name(url))
    os.environ["REDIS_URL"] = f"redis://127.0.0.1:6379/{args.redis_db}"
    os.environ["SECRET_KEY"] = BENCH_SECRET_KEY  # the sessions are signed as the server will
    # This process measures the actions' costs too (--costs): as the servers run.
    os.environ.update({"DEBUG": "0", "LOG_LEVEL": "WARNING",
                       "PUBLIC_TRACK_THROTTLE_RATE": BENCH_RATE,
                       "PUBLIC_THROTTLE_RATE": BENCH_RATE})
    common.setup_django(url)
    password = common.ensure_demo()
    ensure_staff(password)
    total = ensure_dossiers(url, args.dossiers)
    bodies = reception_bodies()
    assign_units(bodies)
    from dossiers.models import OPEN_STATES, Dossier

    open_rows = Dossier.objects.filter(state__in=OPEN_STATES).count()
    import redis

    redis.Redis(host="127.0.0.1", port=6379, db=args.redis_db).flushdb()
    accounts = staff_accounts()  # after the flush: sessions may live in the cache
    pairs = citizen_pairs(args.citizen_pairs)
    common.close_connections()
    return {"dossiers": total, "open": open_rows, "accounts": accounts, "bodies": bodies,
            "pairs": pairs}


def preflight(base: str, token: str, bodies: list[dict]) -> list[dict]:
    return _reception().preflight(base, token, bodies)


def clerk_bodies(clerks: list[dict], kept: list[dict]) -> list[dict]:
    """Each clerk gets the receptions of the agency of the desk (a center desk: every one);
    clerks of a desk with no in-person procedure are left out."""
    out = []
    for clerk in clerks:
        mine = [b for b in kept if clerk["agency"] is None or b["agency"] == clerk["agency"]]
        if mine:
            out.append({**clerk, "bodies": mine})
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.costs_only:
        return costs_main(args)
    url = args.database_url or DEFAULT_URL
    users = user_count(args.scale)
    static_root = os.path.join(tempfile.gettempdir(), "motcua-bench-load-static")
    os.environ["STATIC_ROOT"] = static_root  # whitenoise in this process too (--costs)
    prepared = prepare(args, url)
    print(f"{prepared['dossiers']:,} dossiers ({prepared['open']:,} open) in "
          f"{common.database_name(url)}; {len(prepared['accounts']['clerks'])} clerks, "
          f"{len(prepared['accounts']['officers'])} officers and leaders; "
          f"{len(prepared['pairs']):,} code/phone pairs for the citizens", flush=True)
    logdir = tempfile.mkdtemp(prefix="bench-mixed-load-")
    env = server_env(args, url, static_root)
    procs: list[Proc] = []
    interrupted = False

    def on_term(signum, frame):
        raise KeyboardInterrupt

    previous_term = signal.signal(signal.SIGTERM, on_term)
    result = 1
    report: dict | None = None
    try:
        collect_static(env, static_root)
        with contextlib.ExitStack() as stack:
            server = stack.enter_context(common.gunicorn(
                url=url, workers=args.workers, threads=args.threads, env=env,
            ))
            celery = os.path.join(common.VENV_BIN, "celery")
            procs.append(start("celery-worker", [
                celery, "-A", "motcua", "worker", "--concurrency", str(args.celery_concurrency),
                "--loglevel", "WARNING", "--hostname", f"bench-load-{os.getpid()}@%h",
            ], env, logdir))
            procs.append(start("celery-beat", [
                celery, "-A", "motcua", "beat", "--loglevel", "WARNING",
                "--schedule", os.path.join(logdir, "celerybeat-schedule"),
                "--pidfile", os.path.join(logdir, "celerybeat.pid"),
            ], env, logdir))
            stack.callback(lambda: [stop(p) for p in reversed(procs)])
            health = wait_health(server.base)
            print(f"gunicorn {server.base}: {args.workers} worker(s) × {args.threads} "
                  f"thread(s) ({'gthread' if args.threads > 1 else 'sync'}), "
                  f"MOTCUA_ENV={args.env}; health {health}", flush=True)
            accounts = prepared["accounts"]
            center = next((c for c in accounts["clerks"] if c["agency"] is None),
                          accounts["clerks"][0])
            kept = preflight(server.base, center["token"], prepared["bodies"])
            clerks = clerk_bodies(accounts["clerks"], kept)
            if not clerks or not accounts["officers"] or not prepared["pairs"]:
                print("nothing to run: no clerk with a reception, no officer or no dossier")
                return 1
            warm(server.base, args.workers * args.threads, clerks, accounts["officers"],
                 prepared["pairs"])
            data_path = os.path.join(logdir, "data.json")
            samples_path = os.path.join(logdir, "samples.jsonl")
            with open(data_path, "w", encoding="utf-8") as handle:
                json.dump({"clerks": clerks, "officers": accounts["officers"],
                           "citizens": prepared["pairs"], "think": args.think}, handle)
            pg_conn, pg_pids = backend_pids(url)
            stack.callback(pg_conn.close)
            redis_pid = redis_server_pid(args.redis_db)
            locust_env = {**os.environ, "MOTCUA_LOAD_DATA": data_path,
                          "MOTCUA_LOAD_SAMPLES": samples_path}
            spawn_seconds = users / args.spawn_rate
            locust = start("locust", [
                os.path.join(common.VENV_BIN, "locust"), "-f", LOCUSTFILE, "--headless",
                "-u", str(users), "-r", str(args.spawn_rate),
                "--run-time", f"{round(args.duration + spawn_seconds)}s",
                "--host", server.base, "--csv", os.path.join(logdir, "locust"),
                "--only-summary", "--stop-timeout", "10", "--loglevel", "WARNING",
            ], locust_env, logdir)
            procs.append(locust)
            master = server.process.pid
            sampler = Sampler(groups={
                "gunicorn master": lambda: [master],
                "gunicorn workers": lambda: children(master),
                "celery worker": lambda: [procs[0].process.pid, *children(procs[0].process.pid)],
                "celery beat": lambda: [procs[1].process.pid],
                "postgres backends": pg_pids,
                "redis": lambda: [redis_pid] if redis_pid else [],
                "locust": lambda: [locust.process.pid],
            }, every=args.sample_every)
            waits = Waits(url=url, port=server.port)
            load_start = time.time()
            sampler.start()
            waits.start()
            # Stopped before the connection they read through is closed (Ctrl-C included).
            stack.callback(waits.stop)
            stack.callback(sampler.stop)
            print(f"locust: {users} users ({describe_users(users)}), spawn rate "
                  f"{args.spawn_rate:g}/s, {args.duration:.0f} s of load after the "
                  f"{spawn_seconds:.0f} s ramp; think × {args.think:g}; logs in {logdir}",
                  flush=True)
            deadline = time.monotonic() + args.duration + spawn_seconds + 90
            while locust.process.poll() is None:
                if time.monotonic() > deadline:
                    print("locust did not stop in time: stopping it", flush=True)
                    stop(locust)
                    break
                time.sleep(1)
                elapsed = time.time() - load_start
                if int(elapsed) % 30 == 0:
                    print(f"  {elapsed:4.0f} s: load average {os.getloadavg()[0]:.2f}", flush=True)
            sampler.stop()
            waits.stop()
            worker_pids = children(master)
            header, rows = read_samples(samples_path)
            since = header.get("spawned_at") or (load_start + spawn_seconds)
            table = action_table(rows, since=since)
            print_actions(table, title=(
                f"{users} users, {table['seconds']:.0f} s measured after the ramp, gunicorn "
                f"{args.workers}×{args.threads}, {prepared['dossiers']:,} dossiers"))
            minute = 60.0 if args.duration >= 120 else args.duration / 5
            memory = memory_table(sampler.samples, minute=minute + spawn_seconds)
            cpu, waited = sampler.cpu_seconds(), sampler.wait_seconds()
            print_memory(memory, cpu, minute=minute + spawn_seconds, waited=waited)
            served = table["totals"]["requests"] or 1
            server_cpu = cpu.get("gunicorn workers", 0.0) + cpu.get("postgres backends", 0.0)
            print(f"\nCPU per request (gunicorn workers + PostgreSQL backends, whole run incl. "
                  f"the ramp): {server_cpu / served * 1000:.1f} ms; time those processes spent "
                  f"runnable but waiting for a CPU: "
                  f"{waited.get('gunicorn workers', 0) + waited.get('postgres backends', 0):.1f} s "
                  f"(on a CPU: {server_cpu:.1f} s)")
            wait_summary = waits.summary()
            queue = wait_summary["accept_queue"]
            print("PostgreSQL backends of the bench database, mean number at any moment: "
                  + ", ".join(f"{k} {v:.2f}" for k, v in wait_summary["backends_mean"].items())
                  + " (running: on or waiting for a CPU; Lock / LWLock / IO: waiting on those; "
                    "ClientRead: idle in a transaction, waiting for the web process)")
            if queue["mean"] is not None:
                print(f"requests waiting in gunicorn's accept queue for a free worker: mean "
                      f"{queue['mean']:.1f}, p95 {queue['p95']:.0f}, max {queue['max']}")
            loads = [s["load"] for s in sampler.samples]
            print(f"\nload average (1 min) during the run: min {min(loads):.2f}, max "
                  f"{max(loads):.2f}; gunicorn workers at the end: {len(worker_pids)}")
            print(f"conflicts (409 / transition_not_allowed, not errors): "
                  f"{header.get('conflicts', {})}; transitions done: "
                  f"{header.get('transitions', {})}")
            print(f"public throttles raised for the bench: PUBLIC_TRACK_THROTTLE_RATE = "
                  f"PUBLIC_THROTTLE_RATE = {BENCH_RATE}")
            verdict = judge(table, memory)
            for line in verdict["lines"]:
                print(line)
            report = figures(args, users, prepared, table, memory, cpu, header, loads, verdict,
                             waited)
            report["waits"] = wait_summary
            result = 0 if verdict["passed"] else 1
        # The servers are stopped: the costs are measured on a quieter machine.
        if report is not None and args.costs:
            try:
                report["costs"] = measure_costs(args, url, report["actions"], logdir)
            except (OSError, ValueError, subprocess.CalledProcessError) as exc:
                # the load's figures are written all the same
                print(f"costs not measured: {type(exc).__name__}: {exc}")
                report["costs"] = {"error": f"{type(exc).__name__}: {exc}"}
        if report is not None:
            common.write_json(args.json, report)
    except KeyboardInterrupt:
        interrupted = True
        print("\ninterrupted: stopping everything", flush=True)
        result = 130
    finally:
        for proc in reversed(procs):
            stop(proc)
        signal.signal(signal.SIGTERM, previous_term)
        if not args.keep_logs and not interrupted and result == 0:
            import shutil

            shutil.rmtree(logdir, ignore_errors=True)
    return result


def warm(base: str, slots: int, clerks, officers, pairs) -> None:
    """A few requests of each kind per worker before the load (imports, templates, each
    process's stores, prepared statements: a server that has run a while), and a check that
    the sessions written by the runner are accepted (a redirect to the login page would
    otherwise be measured as a page)."""
    import http.client
    from urllib.parse import quote, urlencode, urlsplit

    parts = urlsplit(base)

    def get(path: str, cookie: str = "") -> int:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
        try:
            conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    for i in range(slots * 3):
        code, phone = pairs[i % len(pairs)]
        officer, clerk = officers[i % len(officers)], clerks[i % len(clerks)]
        statuses = {
            "track": get(f"/api/public/track/{quote(code, safe='')}/?"
                         + urlencode({"phone": phone})),
            "queue": get("/staff/dossiers/", f"sessionid={officer['session']}"),
            "desk": get("/staff/dossiers/tiep-nhan/", f"sessionid={clerk['session']}"),
        }
        bad = {k: v for k, v in statuses.items() if v != 200}
        if bad:
            raise RuntimeError(f"warm-up: {bad} (a staff page answering 302: the session "
                               "written by the runner is not accepted)")


def measure_costs(args, url: str, actions: dict, logdir: str) -> dict:
    """CPU and statements per action (bench/load/costs.py) in a fresh process of this script
    (``--costs-only``), and what one core serves of the mix the load test made. A fresh
    process, so that nothing of this one (its threads, what it holds) is counted with the
    requests."""
    out = os.path.join(logdir, "costs.json")
    mix = os.path.join(logdir, "mix.json")
    with open(mix, "w", encoding="utf-8") as handle:
        json.dump({name: a["requests"] for name, a in actions.items()}, handle)
    print(f"\ncosts: {args.costs} requests of each action through the test client, in a new "
          "process …", flush=True)
    subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--costs-only", "--costs", str(args.costs),
         "--database-url", url, "--redis-db", str(args.redis_db), "--json", out,
         "--mix", mix],
        cwd=common.ROOT, check=True,
    )
    with open(out, encoding="utf-8") as handle:
        return json.load(handle)


def costs_main(args) -> int:
    """``--costs-only``: the costs of each action on the prepared database (no seeding, no
    servers), weighted by ``--mix`` (requests per action of a load run)."""
    from bench.load.costs import action_costs

    url = args.database_url or DEFAULT_URL
    os.environ.update({
        "REDIS_URL": f"redis://127.0.0.1:6379/{args.redis_db}", "SECRET_KEY": BENCH_SECRET_KEY,
        "DEBUG": "0", "LOG_LEVEL": "WARNING", "PUBLIC_TRACK_THROTTLE_RATE": BENCH_RATE,
        "PUBLIC_THROTTLE_RATE": BENCH_RATE,
        "STATIC_ROOT": os.path.join(tempfile.gettempdir(), "motcua-bench-load-static"),
    })
    common.setup_django(url, migrate=False)
    accounts = staff_accounts()
    accounts["clerks"] = clerk_bodies(accounts["clerks"], reception_bodies())
    costs = action_costs(accounts, citizen_pairs(args.citizen_pairs), n=args.costs)
    common.close_connections()
    rows = [[name, c["django_ms"], c["postgres_ms"], c["total_ms"], c["statements"],
             c["wall_ms"]] for name, c in costs.items()]
    common.print_table(["action", "Django CPU ms", "PostgreSQL CPU ms", "total CPU ms",
                        "statements", "wall ms (median)"], rows,
                       title=f"What one request of each action costs ({args.costs} each, test "
                             "client, this process and its PostgreSQL backend)")
    served = {}
    if args.mix:
        with open(args.mix, encoding="utf-8") as handle:
            served = {k: v for k, v in json.load(handle).items() if k in costs}
    total = sum(served.values())
    mix_ms = (sum(costs[name]["total_ms"] * k for name, k in served.items()) / total
              if total else None)
    if mix_ms:
        print(f"the load test's mix costs {mix_ms:.1f} ms of CPU per request (Django + "
              f"PostgreSQL): one core serves ~{1000 / mix_ms:.0f} requests/s of it at full use")
    common.write_json(args.json, {"actions": costs, "mix_cpu_ms": mix_ms, "n": args.costs})
    return 0


def describe_users(users: int) -> str:
    total = sum(USERS.values())
    return ", ".join(f"~{round(users * n / total)} {kind}" for kind, n in USERS.items())


def wait_health(base: str, timeout: float = 60) -> dict:
    """/health/ until the worker and beat answer (the heartbeat goes through the broker)."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(base)
    deadline = time.monotonic() + timeout
    body: dict = {}
    while time.monotonic() < deadline:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        try:
            conn.request("GET", "/health/")
            body = json.loads(conn.getresponse().read() or b"{}")
        except (OSError, ValueError):
            body = {}
        finally:
            conn.close()
        if body and all(v == "ok" for v in body.values()):
            return body
        time.sleep(1)
    return body


def redis_server_pid(db: int) -> int | None:
    import redis

    with contextlib.suppress(Exception):
        return int(redis.Redis(host="127.0.0.1", port=6379, db=db).info("server")["process_id"])
    return None


def judge(table: dict, memory: dict) -> dict:
    lines, passed = [], True
    errors = table["totals"]["errors"]
    if errors:
        passed = False
    lines.append(f"errors: {errors} (target 0)")
    staff = {n: a for n, a in table["actions"].items() if a["staff"]}
    slow = {n: a["p95"] for n, a in staff.items() if not a["p95"] < TARGET_STAFF_P95_MS}
    worst = max(staff.items(), key=lambda kv: kv[1]["p95"]) if staff else None
    if slow or not staff:
        passed = False
    if worst:
        lines.append(f"slowest staff action at p95: {worst[0]} {worst[1]['p95']:.0f} ms "
                     f"(target < {TARGET_STAFF_P95_MS:.0f} ms for every one)"
                     + (f"; missed by: {', '.join(slow)}" if slow else ""))
    grown = [n for n, m in memory.items() if not m["ok"] and n != "locust"]
    if grown:
        passed = False
    lines.append("memory: " + ("no growth beyond the tolerance" if not grown
                               else "GROWING: " + ", ".join(grown)))
    lines.append("PASS" if passed else "FAIL")
    return {"passed": passed, "lines": lines, "worst_staff": worst[0] if worst else None,
            "slow": slow, "grown": grown}


def figures(args, users, prepared, table, memory, cpu, header, loads, verdict,
            waited=None) -> dict:
    staff = {n: a for n, a in table["actions"].items() if a["staff"]}
    worst = verdict["worst_staff"]
    judged = {n: m for n, m in memory.items() if n != "locust"}
    worst_growth = max(judged.items(), key=lambda kv: kv[1]["growth"]) if judged else None
    return {
        "benchmark": "mixed_load", "quick": args.quick, "users": users,
        "mix": {k: round(users * n / sum(USERS.values())) for k, n in USERS.items()},
        "duration_s": args.duration, "measured_s": table["seconds"],
        "dossiers": prepared["dossiers"], "open": prepared["open"],
        "server": {"workers": args.workers, "threads": args.threads, "env": args.env,
                   "celery_concurrency": args.celery_concurrency, "think": args.think},
        "actions": table["actions"], "totals": table["totals"],
        "errors": table["totals"]["errors"],
        "worst_staff": {"action": worst, **(staff[worst] if worst else {})},
        "conflicts": header.get("conflicts", {}), "transitions": header.get("transitions", {}),
        "memory": memory, "cpu_s": cpu, "cpu_wait_s": waited or {},
        "worst_growth": ({"process": worst_growth[0], "growth": worst_growth[1]["growth"],
                          "ok": worst_growth[1]["ok"]} if worst_growth else None),
        "memory_ok": not verdict["grown"],
        "load_average": {"min": min(loads), "max": max(loads)},
        "throttle_rate": BENCH_RATE, "passed": verdict["passed"],
        "targets": {"staff_p95_ms": TARGET_STAFF_P95_MS, "errors": 0,
                    "memory_growth": TARGET_GROWTH, "memory_floor_mb": GROWTH_FLOOR_KB / 1024},
    }


if __name__ == "__main__":
    random.seed(2026)
    sys.exit(main())
