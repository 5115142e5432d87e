"""Faults: nothing is lost, nothing is written twice (issue 9). What tests/test_resilience.py,
tests/test_apology_concurrency.py and tests/test_outbox.py already prove is not repeated here.

- The PostgreSQL connection dropped in the middle of a reception (API and desk form) or a
  transition: a clean 503 with a Vietnamese message, no row of the attempt (dossier, code
  counter, steps, event, outbox message, stored file), the next request works and gets the next
  gapless number. A connection dropped while idle between requests is replaced (health checks).
- A real Celery worker killed (SIGKILL) in the middle of the deadline sweep or of the outbox
  delivery: run again, every letter exactly once, every notification and portal message once
  (at least once with one idempotency key where the provider is outside our database).
- The sweep, the delivery and the due-soon notices running at the same time: no duplicates.
- The clock jumping over a weekend (Friday 16:55 → Monday 07:35) and over Tết: the sweep catches
  up once, with the right dates, and leaves alone a dossier due on Monday afternoon.
- Redis (cache, throttles) down and back: the public pages answer, degraded, never a 500.
"""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories / outbox_fixtures

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import psycopg2
import pytest
import requests
from django.conf import settings as django_settings
from django.core.handlers.wsgi import WSGIHandler
from django.db import connection, connections

from dossiers.models import (
    Apology,
    Attachment,
    Dossier,
    DossierCounter,
    DossierDocument,
    DossierEvent,
    DossierStep,
)
from motcua.models import DemoPortalRecord, DemoSms, OutboxMessage, StaffNotice
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    TZ,
    act,
    eager_celery,
    org,
    receive,
    version,
)

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="the faults are PostgreSQL's (pg_terminate_backend)"
)
PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
Status = OutboxMessage.Status


# ---------------------------------------------------------------------------------------------
# A real web server in a thread: one thread, one persistent connection (CONN_MAX_AGE), Django's
# request signals as in production — unlike the test client, which never closes a connection.
# ---------------------------------------------------------------------------------------------


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):  # the test reads the answers, not the access log
        pass


class WebServer:
    def __init__(self):
        self.httpd: WSGIServer = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=_QuietHandler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            self.httpd.serve_forever(poll_interval=0.05)
        finally:
            connections.close_all()  # this thread's connection: the test database is dropped later

    def stop(self):
        self.httpd.shutdown()
        self.thread.join(timeout=10)
        self.httpd.server_close()


@pytest.fixture
def web(org):
    server = WebServer()
    yield server
    server.stop()


def _dsn() -> dict:
    db = django_settings.DATABASES["default"]
    return {
        "dbname": db["NAME"], "user": db["USER"], "password": db["PASSWORD"] or None,
        "host": db["HOST"] or "127.0.0.1", "port": db["PORT"] or 5432,
    }


def terminate_backend(pid: int) -> None:
    """What a database restart or a failover does to one connection, from another connection;
    returns once the backend is gone."""
    with contextlib.closing(psycopg2.connect(**_dsn())) as admin:
        admin.autocommit = True
        with admin.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
            for _ in range(200):
                cursor.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid])
                if cursor.fetchone() is None:
                    return
                time.sleep(0.025)
    raise AssertionError(f"backend {pid} did not go away")


def other_backends() -> list[int]:
    """Connections to the test database other than the test's own (the server thread's)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return [row[0] for row in cursor.fetchall()]


class DropConnection:
    """Armed, the next call of ``append_event`` in ``module`` — inside the service's transaction,
    after the dossier was written and before its event — first kills its own connection."""

    def __init__(self, monkeypatch, module):
        self.armed = False
        self.fired = 0
        original = module.append_event

        def append_event(**kwargs):
            if self.armed:
                self.armed = False
                self.fired += 1
                terminate_backend(connection.connection.get_backend_pid())
            return original(**kwargs)

        monkeypatch.setattr(module, "append_event", append_event)


def snapshot() -> dict[str, int]:
    """Row counts of everything a reception or a transition writes."""
    return {
        "dossiers": Dossier.objects.count(),
        "counters": DossierCounter.objects.count(),
        "counted": sum(DossierCounter.objects.values_list("last", flat=True)),
        "steps": DossierStep.objects.count(),
        "documents": DossierDocument.objects.count(),
        "attachments": Attachment.objects.count(),
        "events": DossierEvent.objects.count(),
        "outbox": OutboxMessage.objects.count(),
    }


def assert_clean_503(response: requests.Response, *, api: bool) -> None:
    assert response.status_code == 503, response.text[:500]
    assert response.headers["Retry-After"].isdigit()
    text = response.text
    assert "Traceback" not in text and "psycopg2" not in text and "OperationalError" not in text
    if api:
        body = response.json()
        assert body["code"] == "service_unavailable"
        assert "cơ sở dữ liệu" in body["detail"] and "chưa được lưu" in body["detail"]
    else:
        assert response.headers["Content-Type"].startswith("text/html")
        assert "Hệ thống tạm thời gián đoạn" in text and "chưa được lưu" in text


def api_session(user) -> requests.Session:
    from rest_framework.authtoken.models import Token

    session = requests.Session()
    token, _created = Token.objects.get_or_create(user=user)
    session.headers["Authorization"] = f"Token {token.key}"
    return session


def staff_session(user, web: WebServer) -> requests.Session:
    """A browser logged in as ``user``: a session cookie made the way the login makes one, and
    a CSRF cookie with its token in the header, as the desk's htmx sends it."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    session = requests.Session()
    session.cookies.set(django_settings.SESSION_COOKIE_NAME, client.cookies[django_settings.SESSION_COOKIE_NAME].value)
    csrf = "f" * 32
    session.cookies.set(django_settings.CSRF_COOKIE_NAME, csrf)
    session.headers.update({"X-CSRFToken": csrf, "HX-Request": "true", "Referer": web.url + "/"})
    return session


def reception_body(version) -> dict:
    return {"procedure": version.procedure.code, "channel": "in_person", "applicant": APPLICANT}


def desk_form(version) -> dict:
    data = {"procedure": version.procedure.code, "channel": "in_person", "id_type": "citizen_id"}
    data.update(APPLICANT)
    for doc in version.documents.all():
        if doc.is_mandatory:
            data[f"doc-{doc.pk}"] = "on"
        data[f"orig-{doc.pk}"] = str(doc.originals)
        data[f"copy-{doc.pk}"] = str(doc.copies)
    return data


def first_code(agency) -> str:
    from django.utils import timezone

    from dossiers.codes import format_code, local_day

    return format_code(agency.code, local_day(timezone.now()), 1)


# ---------------------------------------------------------------------------------------------
# PostgreSQL connection dropped mid-request
# ---------------------------------------------------------------------------------------------


@POSTGRES
@pytest.mark.django_db(transaction=True)
def test_connection_dropped_during_an_api_reception_stores_nothing_and_the_next_one_works(
    org, version, web, monkeypatch
):
    from dossiers.services import reception

    drop = DropConnection(monkeypatch, reception)
    clerk = api_session(org.clerk)
    url = f"{web.url}/api/v1/dossiers/"
    before = snapshot()

    drop.armed = True
    response = clerk.post(url, json=reception_body(version), timeout=30)
    assert drop.fired == 1
    assert_clean_503(response, api=True)
    assert snapshot() == before  # no dossier, no number taken, no step, event or message

    response = clerk.post(url, json=reception_body(version), timeout=30)
    assert response.status_code == 201, response.text[:500]
    # The number the failed attempt would have had: the sequence has no gap.
    assert response.json()["code"] == first_code(org.a)
    dossier = Dossier.objects.get()
    assert dossier.events.count() == 1
    assert OutboxMessage.objects.filter(dossier=dossier).count() == 3  # SMS, e-mail, portal


@POSTGRES
@pytest.mark.django_db(transaction=True)
def test_connection_dropped_during_a_desk_reception_keeps_no_file_and_the_next_one_works(
    org, version, web, monkeypatch, settings, tmp_path
):
    from dossiers.services import reception

    settings.MEDIA_ROOT = str(tmp_path / "media")
    drop = DropConnection(monkeypatch, reception)
    browser = staff_session(org.clerk, web)
    url = f"{web.url}/staff/dossiers/tiep-nhan/"
    scan = {"attachments": ("don.pdf", PDF_BYTES, "application/pdf")}
    before = snapshot()

    drop.armed = True
    response = browser.post(url, data=desk_form(version), files=scan, timeout=30)
    assert drop.fired == 1
    assert_clean_503(response, api=False)
    assert snapshot() == before
    media = Path(settings.MEDIA_ROOT)
    assert not [p for p in media.rglob("*") if p.is_file()], "the scan of the failed reception stayed"

    response = browser.post(url, data=desk_form(version), files=scan, timeout=30)
    assert response.status_code == 200 and "HX-Redirect" in response.headers, response.text[:500]
    dossier = Dossier.objects.get()
    assert dossier.code == first_code(org.a)
    assert [p.read_bytes() for p in media.rglob("*") if p.is_file()] == [PDF_BYTES]


@POSTGRES
@pytest.mark.django_db(transaction=True)
def test_connection_dropped_during_a_transition_leaves_the_dossier_as_it_was(
    org, version, web, monkeypatch
):
    from dossiers.services import transitions

    dossier = receive(org, version)
    drop = DropConnection(monkeypatch, transitions)
    clerk = api_session(org.clerk)
    url = f"{web.url}/api/v1/dossiers/{dossier.code}/transitions/"
    before = snapshot()
    row = Dossier.objects.values("state", "version", "current_step_id", "due_at").get(pk=dossier.pk)

    drop.armed = True
    response = clerk.post(url, json={"transition": "start"}, timeout=30)
    assert drop.fired == 1
    assert_clean_503(response, api=True)
    assert snapshot() == before
    # The dossier's own update (written before the event) went with the rest.
    assert Dossier.objects.values("state", "version", "current_step_id", "due_at").get(pk=dossier.pk) == row

    response = clerk.post(url, json={"transition": "start"}, timeout=30)
    assert response.status_code == 200, response.text[:500]
    assert response.json()["state"] == "in_progress"
    assert list(dossier.events.order_by("id").values_list("transition", flat=True)) == ["receive", "start"]


@POSTGRES
@pytest.mark.django_db(transaction=True)
def test_a_connection_dropped_while_idle_is_replaced_before_the_next_request(org, version, web):
    """A database restart between two requests: the web process's persistent connection
    (CONN_MAX_AGE) is dead; the health check at the start of the next request replaces it."""
    assert django_settings.DATABASES["default"]["CONN_HEALTH_CHECKS"] is True
    clerk = api_session(org.clerk)
    url = f"{web.url}/api/v1/dossiers/"
    assert clerk.get(url, timeout=30).status_code == 200
    (server_backend,) = other_backends()

    terminate_backend(server_backend)
    response = clerk.post(url, json=reception_body(version), timeout=30)
    assert response.status_code == 201, response.text[:500]
    assert response.json()["code"] == first_code(org.a)
    assert other_backends() and server_backend not in other_backends()


# ---------------------------------------------------------------------------------------------
# A real Celery worker killed mid-task (SIGKILL: no clean-up, no acknowledgement)
# ---------------------------------------------------------------------------------------------

#: Dossiers received on Monday 24/11/2025 09:00 are due on Monday 1/12 09:00; on Wednesday 3/12
#: they are two days late and the sweep owes each one letter.
RECEIVED = datetime(2025, 11, 24, 9, 0, tzinfo=TZ)
LATE = datetime(2025, 12, 3, 10, 0, tzinfo=TZ)
#: Past the sweep's announce grace (10 minutes): letters whose messages a lost task never
#: recorded get them from this sweep.
LATE_PLUS = datetime(2025, 12, 3, 10, 20, tzinfo=TZ)


def _database_url() -> str:
    db = django_settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """``celery -A motcua worker`` on the embedded (file-system) broker in ``folder``, against
    the test database; tasks are sent to it with :meth:`send`."""

    def __init__(self, folder: Path, **extra_env: str):
        from celery import Celery

        self.folder = folder
        queue = folder / "queue"
        queue.mkdir(parents=True, exist_ok=True)
        (folder / "processed").mkdir(exist_ok=True)
        # Not the current app: shared tasks elsewhere in the run must keep using ours.
        self.sender = Celery("faults-sender", broker="filesystem://", set_as_current=False)
        self.sender.conf.broker_transport_options = {
            "data_folder_in": str(queue), "data_folder_out": str(queue),
            "processed_folder": str(folder / "processed"), "store_processed": False,
            "control_folder": str(folder / "control"),  # not ./control in the project
        }
        env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_TASK_ALWAYS_EAGER")}
        env.update(
            DATABASE_URL=_database_url(), BROKER_DIR=str(folder), EMAIL_URL="dummymail://",
            MOTCUA_SWEEP_BATCH_SIZE="2", MOTCUA_SWEEP_WORKERS="1", **extra_env,
        )
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.log = folder / "worker.log"

    def start(self) -> Worker:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "motcua", "worker", "--pool=solo",
             "--loglevel=INFO", "--without-heartbeat", "--without-gossip", "--without-mingle"],
            cwd=ROOT, env=self.env, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
        )
        return self

    def send(self, name: str, **kwargs) -> None:
        self.sender.send_task(name, kwargs=kwargs)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def wait_for(condition, *, timeout: float, what: str, log: Path | None = None, every=None) -> None:
    deadline = time.monotonic() + timeout
    last_poke = 0.0
    while time.monotonic() < deadline:
        if condition():
            return
        if every is not None and time.monotonic() - last_poke > 3:
            every()  # what the beat would do meanwhile
            last_poke = time.monotonic()
        time.sleep(0.1)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise AssertionError(f"timed out waiting for {what}\n{tail}")


def wait_until_disconnected(timeout: float = 20) -> None:
    """PostgreSQL notices the killed worker's socket and rolls back what it had in flight."""
    wait_for(lambda: not other_backends(), timeout=timeout, what="the killed worker's connection to end")


@contextlib.contextmanager
def slow_inserts(table: str, seconds: float, *, per: str = "STATEMENT"):
    """Every insert into ``table`` takes ``seconds`` longer (a trigger in the test database): a
    task slow enough to be killed half-way, without touching the worker's code."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE OR REPLACE FUNCTION faults_slow() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN PERFORM pg_sleep({float(seconds)}); RETURN NULL; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER faults_slow AFTER INSERT ON {table} FOR EACH {per} "
            "EXECUTE FUNCTION faults_slow()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS faults_slow ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS faults_slow()")


@pytest.fixture
def quiet_broker(org):
    """Tasks enqueued by the test's own writes go nowhere (the in-memory broker nobody reads):
    their outbox rows wait for the worker under test."""
    from motcua.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = False
    yield
    app.conf.task_always_eager = previous


def late_dossiers(org, version, n: int) -> list[Dossier]:
    import time_machine

    with time_machine.travel(RECEIVED, tick=False):
        return [act(receive(org, version), "start", org.officer) for _ in range(n)]


def assert_every_letter_and_message_once(dossiers: list[Dossier]) -> None:
    ids = sorted(d.pk for d in dossiers)
    assert sorted(Apology.objects.values_list("dossier_id", "number")) == [(pk, 1) for pk in ids]
    events = DossierEvent.objects.filter(transition="apology")
    assert sorted(events.values_list("dossier_id", flat=True)) == ids
    for letter in Apology.objects.select_related("dossier"):
        assert letter.dossier.due_at == letter.new_due_at
    messages = OutboxMessage.objects.filter(event__in=events)
    # Each letter: one SMS, one e-mail, one portal message, all sent.
    assert sorted(messages.values_list("event__dossier_id", "channel")) == sorted(
        (pk, channel) for pk in ids for channel in ("email", "portal", "sms")
    )
    assert set(messages.values_list("status", flat=True)) == {Status.SENT}
    # Our own providers (database tables) received each exactly once.
    sms_keys = list(messages.filter(channel="sms").values_list("key", flat=True))
    assert sorted(DemoSms.objects.filter(key__in=sms_keys).values_list("key", flat=True)) == sorted(sms_keys)
    portal_keys = list(messages.filter(channel="portal").values_list("key", flat=True))
    assert sorted(DemoPortalRecord.objects.filter(key__in=portal_keys).values_list("key", flat=True)) == sorted(portal_keys)


@POSTGRES
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_in_the_middle_of_the_sweep_loses_no_letter_and_doubles_none(
    org, version, quiet_broker, tmp_path
):
    dossiers = late_dossiers(org, version, 8)
    OutboxMessage.objects.all().delete()  # the receptions' messages are not the subject
    worker = Worker(tmp_path / "broker")
    try:
        with slow_inserts("dossiers_apology", 0.5):
            worker.start()
            worker.send("dossiers.sweep_deadlines", at=LATE.isoformat())
            # Batches of two letters, half a second each: kill it after the first commits.
            wait_for(lambda: Apology.objects.exists(), timeout=90, what="the first batch", log=worker.log)
            worker.kill()
            wait_until_disconnected()
        issued = Apology.objects.count()
        assert 0 < issued < len(dossiers), "the worker was not killed half-way"
        assert issued % 2 == 0  # whole batches only: the one in flight rolled back

        # The beat's next sweep (a new worker), then its deliveries.
        worker.start()
        worker.send("dossiers.sweep_deadlines", at=LATE_PLUS.isoformat())

        def done() -> bool:
            events = DossierEvent.objects.filter(transition="apology")
            messages = OutboxMessage.objects.filter(event__in=events)
            return (
                events.count() == len(dossiers) and messages.count() == 3 * len(dossiers)
                and not messages.exclude(status=Status.SENT).exists()
            )

        wait_for(done, timeout=120, what="every letter and its messages", log=worker.log,
                 every=lambda: worker.send("motcua.deliver_outbox"))
    finally:
        worker.stop()
    assert_every_letter_and_message_once(dossiers)


@POSTGRES
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_in_the_middle_of_a_delivery_sends_each_message_once(
    org, version, quiet_broker, tmp_path
):
    for _ in range(6):
        receive(org, version)
    rows = OutboxMessage.objects.all()
    assert rows.count() == 18 and set(rows.values_list("status", flat=True)) == {Status.PENDING}
    worker = Worker(tmp_path / "broker")
    try:
        with slow_inserts("motcua_demosms", 0.5, per="ROW"):
            worker.start()
            worker.send("motcua.deliver_outbox")
            wait_for(lambda: rows.filter(status=Status.SENT, channel="sms").exists(), timeout=90,
                     what="the first SMS", log=worker.log)
            worker.kill()
            wait_until_disconnected()
        sent = rows.filter(status=Status.SENT).count()
        assert 0 < sent < 18, "the worker was not killed half-way"
        # Nothing recorded by our own provider without its row marked sent, and the reverse.
        assert DemoSms.objects.count() == rows.filter(channel="sms", status=Status.SENT).count()

        worker.start()
        worker.send("motcua.deliver_outbox")
        wait_for(lambda: not rows.exclude(status=Status.SENT).exists(), timeout=120,
                 what="every message sent", log=worker.log,
                 every=lambda: worker.send("motcua.deliver_outbox"))
    finally:
        worker.stop()
    sms_keys = sorted(rows.filter(channel="sms").values_list("key", flat=True))
    assert sorted(DemoSms.objects.values_list("key", flat=True)) == sms_keys
    portal_keys = sorted(rows.filter(channel="portal").values_list("key", flat=True))
    assert sorted(DemoPortalRecord.objects.values_list("key", flat=True)) == portal_keys
    assert set(DemoPortalRecord.objects.values_list("sequence", flat=True)) == {1}


# ---------------------------------------------------------------------------------------------
# The clock jumps: a weekend (and Tết) with no sweep at all
# ---------------------------------------------------------------------------------------------


def at(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def _run_beat_tasks(capture) -> None:
    """What the beat sends at this moment: the sweep (as of its own "now"), then the due-soon
    notices; their on-commit tasks run inline."""
    from dossiers.tasks import sweep_deadlines
    from motcua.tasks import notice_due_soon

    with capture(execute=True):
        sweep_deadlines.apply()
    with capture(execute=True):
        notice_due_soon.apply()


@pytest.mark.django_db
def test_a_weekend_jump_is_caught_up_once_with_the_right_dates(
    org, version, django_capture_on_commit_callbacks
):
    import time_machine

    from dossiers.models import State

    def awaiting(dossier):
        for who, transition in (("officer", "forward"), ("officer", "submit_for_approval")):
            dossier = act(dossier, transition, getattr(org, who))
        return dossier

    with time_machine.travel(at(24, 7, 0), tick=False) as clock:
        # Received before opening on Monday 24/11: the 5 working days end on Friday 28/11 at 17:00.
        friday_close = awaiting(act(receive(org, version), "start", org.clerk))
        clock.move_to(at(24, 14, 0))
        # Received on Monday 24/11 14:00: due on Monday 1/12 at 14:00 — Monday afternoon.
        monday_pm = awaiting(act(receive(org, version), "start", org.clerk))
        monday_pm_running = act(receive(org, version), "start", org.clerk)
        assert friday_close.due_at == at(28, 17, 0) and monday_pm.due_at == at(1, 14, 0, month=12)

        clock.move_to(at(28, 16, 50))  # the last sweep of the week
        _run_beat_tasks(django_capture_on_commit_callbacks)
        # Predicted late (less than 8 working hours left, not yet at approval): its letter now.
        assert Apology.objects.get().dossier_id == monday_pm_running.pk
        assert not Apology.objects.filter(dossier=friday_close).exists()  # due at 17:00, not yet
        told = StaffNotice.objects.filter(kind=StaffNotice.Kind.DUE_SOON)
        notices_friday = {d.pk: told.filter(dossier=d).count() for d in (friday_close, monday_pm)}
        assert all(n >= 1 for n in notices_friday.values())

        # The beat, the worker or the machine stop at 16:55 and come back on Monday at 07:35.
        clock.move_to(at(1, 7, 35, month=12))
        for _ in range(2):  # the catch-up and the first regular sweep of the morning
            _run_beat_tasks(django_capture_on_commit_callbacks)
        clock.move_to(at(1, 7, 40, month=12))
        _run_beat_tasks(django_capture_on_commit_callbacks)

    letters = {a.dossier_id: a for a in Apology.objects.all()}
    assert set(letters) == {friday_close.pk, monday_pm_running.pk}  # Monday afternoon: none yet
    late = letters[friday_close.pk]
    assert (late.number, late.for_due_at, late.issued_at) == (1, at(28, 17, 0), at(1, 7, 35, month=12))
    # The procedure's 5 working days again, from the letter: Monday 1/12 07:35 → Monday 8/12 07:35.
    assert late.new_due_at == at(8, 7, 35, month=12)
    assert Dossier.objects.get(pk=friday_close.pk).due_at == late.new_due_at
    assert letters[monday_pm_running.pk].number == 1
    assert DossierEvent.objects.filter(transition="apology").count() == 2
    for letter in letters.values():
        event = DossierEvent.objects.get(dossier_id=letter.dossier_id, transition="apology")
        assert sorted(OutboxMessage.objects.filter(event=event).values_list("channel", flat=True)) == [
            "email", "portal", "sms"]
    # Monday afternoon's dossier: still due soon, told once for that appointment, no letter.
    waiting = Dossier.objects.get(pk=monday_pm.pk)
    assert waiting.state == State.AWAITING_APPROVAL and waiting.is_due_soon and not waiting.is_overdue
    assert told.filter(dossier=monday_pm).count() == notices_friday[monday_pm.pk]
    # The Friday dossier has a new appointment a week away: no new due-soon notice for it.
    assert told.filter(dossier=friday_close).count() == notices_friday[friday_close.pk]
    overdue = Dossier.objects.get(pk=friday_close.pk)
    assert overdue.is_overdue and not overdue.is_due_soon


# ---------------------------------------------------------------------------------------------
# Redis (cache: throttles, proof lock-outs, short-lived page data) down and back
# ---------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RedisServer:
    def __init__(self, folder: Path):
        self.port = _free_port()
        self.folder = folder
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def production_caches(redis_url: str) -> dict:
    """CACHES exactly as the settings build them when REDIS_URL is set (read in a subprocess:
    the test process's own settings were built without Redis)."""
    import json

    env = {k: v for k, v in os.environ.items() if k not in ("CACHE_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE="motcua.settings")
    out = subprocess.run(
        [sys.executable, "-c", "import json; from django.conf import settings; "
         "print(json.dumps(settings.CACHES))"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    caches = json.loads(out)
    assert "redis" in caches["default"]["BACKEND"].lower(), caches
    return caches


@pytest.fixture
def redis_cache(settings, tmp_path):
    import shutil

    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed for this test (apt-get install redis-server)")
    server = RedisServer(tmp_path)
    server.start()
    settings.CACHES = production_caches(server.url)
    yield server
    server.stop()


def _public_requests(client, dossier) -> dict[str, int]:
    """The citizen's tracking: the page, the proof by code and phone, the JSON API."""
    page = client.get("/tra-cuu/", {"ma": dossier.code})
    proof = client.post("/tra-cuu/", {"code": dossier.code, "phone": APPLICANT["phone"]})
    api = client.get(f"/api/public/track/{dossier.code}/", {"phone": APPLICANT["phone"]})
    assert dossier.code in proof.content.decode() or proof.status_code != 200
    return {"page": page.status_code, "proof": proof.status_code, "api": api.status_code}


@pytest.mark.django_db
def test_public_tracking_answers_while_redis_is_down_and_counts_again_once_it_is_back(
    org, version, redis_cache, client, monkeypatch
):
    import redis

    from motcua.cache import FallbackRedisCache

    # Redis is tried again this long after it was found down (5 s in production).
    monkeypatch.setattr(FallbackRedisCache, "retry_seconds", 0.5)
    dossier = receive(org, version)
    everything_ok = {"page": 200, "proof": 200, "api": 200}
    assert _public_requests(client, dossier) == everything_ok
    assert redis.Redis.from_url(redis_cache.url).dbsize() > 0  # throttle counters live there

    redis_cache.stop()
    started = time.monotonic()
    assert _public_requests(client, dossier) == everything_ok  # degraded, not a 500
    assert time.monotonic() - started < 10, "the pages waited on the dead Redis"

    redis_cache.start()
    redis.Redis.from_url(redis_cache.url).flushall()
    time.sleep(0.6)
    assert _public_requests(client, dossier) == everything_ok
    assert redis.Redis.from_url(redis_cache.url).dbsize() > 0  # counting again


# ---------------------------------------------------------------------------------------------
# Everything the beat sends, twice and at the same time
# ---------------------------------------------------------------------------------------------


def _all_at_once(*calls) -> list:
    """Run the calls in threads released together, each with its own connection; re-raise."""
    from concurrent.futures import ThreadPoolExecutor

    barrier = threading.Barrier(len(calls))

    def run(call):
        try:
            barrier.wait(timeout=30)
            return call()
        finally:
            connection.close()

    with ThreadPoolExecutor(len(calls)) as pool:
        return [f.result(timeout=120) for f in [pool.submit(run, c) for c in calls]]


@POSTGRES
@pytest.mark.django_db(transaction=True)
def test_sweeps_deliveries_and_due_soon_notices_twice_at_once_duplicate_nothing(org, version, quiet_broker):
    import time_machine

    from dossiers.deadlines import deadline_sweep
    from motcua.models import DueSoonNotified
    from motcua.tasks import deliver_outbox, notice_due_soon

    late = late_dossiers(org, version, 6)
    with time_machine.travel(datetime(2025, 11, 26, 14, 0, tzinfo=TZ), tick=False):
        # Due on Wednesday 3/12 at 14:00, awaiting approval: due soon at 10:00, no letter yet.
        waiting = []
        for _ in range(3):
            dossier = act(receive(org, version), "start", org.clerk)
            dossier = act(dossier, "forward", org.officer)
            waiting.append(act(dossier, "submit_for_approval", org.officer))
    OutboxMessage.objects.all().delete()  # the receptions' messages are not the subject

    _all_at_once(
        lambda: deadline_sweep(at=LATE), lambda: deadline_sweep(at=LATE),
        notice_due_soon.apply, notice_due_soon.apply,
        deliver_outbox.apply, deliver_outbox.apply,
    )
    # The batch tasks were lost (nobody reads this broker): the next sweeps record their
    # messages, while deliveries and notices run beside them, twice each.
    _all_at_once(
        lambda: deadline_sweep(at=LATE_PLUS), lambda: deadline_sweep(at=LATE_PLUS),
        notice_due_soon.apply, notice_due_soon.apply,
        deliver_outbox.apply, deliver_outbox.apply,
    )
    deliver_outbox.apply()

    assert_every_letter_and_message_once(late)
    assert not Apology.objects.filter(dossier__in=waiting).exists()
    assert sorted(DueSoonNotified.objects.values_list("dossier_id", flat=True)) == sorted(d.pk for d in waiting)
    due_soon = OutboxMessage.objects.filter(channel="notice", key__startswith="due_soon:")
    keys = list(due_soon.values_list("key", flat=True))
    assert keys and len(keys) == len(set(keys))
    assert set(due_soon.values_list("status", flat=True)) == {Status.SENT}
    assert StaffNotice.objects.filter(kind=StaffNotice.Kind.DUE_SOON).count() == len(keys)


@pytest.mark.django_db
def test_a_jump_over_tet_is_caught_up_once_and_the_new_appointment_skips_the_holiday(
    org, version, django_capture_on_commit_callbacks
):
    """Tết 2026: Saturday 14/2 to Sunday 22/2 off. Nothing runs from Friday 13/2 16:55 until
    Monday 23/2 07:35."""
    import time_machine

    def awaiting(dossier):
        dossier = act(act(dossier, "start", org.clerk), "forward", org.officer)
        return act(dossier, "submit_for_approval", org.officer)

    with time_machine.travel(at(9, 7, 0, month=2, year=2026), tick=False) as clock:
        before_tet = awaiting(receive(org, version))
        clock.move_to(at(9, 14, 0, month=2, year=2026))
        after_tet = awaiting(receive(org, version))
        assert before_tet.due_at == at(13, 17, 0, month=2, year=2026)
        assert after_tet.due_at == at(23, 14, 0, month=2, year=2026)  # the Tết days do not count

        clock.move_to(at(13, 16, 55, month=2, year=2026))
        _run_beat_tasks(django_capture_on_commit_callbacks)
        assert not Apology.objects.exists()
        clock.move_to(at(23, 7, 35, month=2, year=2026))
        for _ in range(3):
            _run_beat_tasks(django_capture_on_commit_callbacks)

    letter = Apology.objects.get()
    assert letter.dossier_id == before_tet.pk
    assert (letter.for_due_at, letter.issued_at) == (
        at(13, 17, 0, month=2, year=2026), at(23, 7, 35, month=2, year=2026))
    assert letter.new_due_at == at(2, 7, 35, month=3, year=2026)
    (event,) = DossierEvent.objects.filter(transition="apology")
    assert sorted(OutboxMessage.objects.filter(event=event).values_list("channel", flat=True)) == [
        "email", "portal", "sms"]
