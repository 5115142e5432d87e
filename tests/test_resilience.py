"""Resilience: the outbox, not the broker, is the source of truth.

- Broker (Redis) down: reception and transitions still succeed quickly, their messages wait in
  the outbox, and once the broker is back the delivery task sends everything exactly once.
- The delivery run twice (a task redelivered after a lost worker, ``acks_late``) sends nothing
  twice.
- A worker killed after the provider accepted a message but before our commit: the row is still
  pending and the message is sent again, with the same idempotency key — the at-least-once edge
  (docs/integrations.md). Where the provider is our own database, it stays exactly once.
- A real worker and beat on the embedded broker deliver what was written while the broker was
  down, with nobody touching it.
"""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories / outbox_fixtures

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.db import connection  # noqa: F401 - read by skipif

from dossiers.models import Dossier
from dossiers.tasks import publish_event
from motcua.celery import app
from motcua.models import DemoPortalRecord, DemoSms, OutboxMessage, StaffNotice
from motcua.outbox import outbox_deliver
from motcua.tasks import deliver_outbox
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    act,
    dossier_in,
    eager_celery,
    org,
    receive,
    version,
)
from tests.outbox_fixtures import deliver, portal_server, providers  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
Status = OutboxMessage.Status
UNREACHABLE_BROKER = "redis://127.0.0.1:1/0"


def _reset_broker_pools():
    # Celery caches its connection and producer pools; a new broker URL needs new ones.
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_down(org):
    """The Celery app pointed at a Redis that does not answer (connection refused at once;
    short timeouts in case the address is black-holed), tasks really published."""
    saved = {
        "broker_url": app.conf.broker_url,
        "broker_transport_options": app.conf.broker_transport_options,
        "broker_connection_timeout": app.conf.broker_connection_timeout,
        "task_always_eager": app.conf.task_always_eager,
    }
    app.conf.task_always_eager = False
    app.conf.broker_url = UNREACHABLE_BROKER
    app.conf.broker_transport_options = {"socket_connect_timeout": 0.5}
    app.conf.broker_connection_timeout = 0.5
    _reset_broker_pools()

    def back():
        for name, value in saved.items():
            setattr(app.conf, name, value)
        _reset_broker_pools()

    yield back
    back()


# ---------------------------------------------------------------------------------------------
# The broker is down
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_the_desk_works_and_everything_goes_out_once_it_is_back(
    org, version, broker_down, providers, caplog
):
    started = time.monotonic()
    with caplog.at_level(logging.ERROR):
        dossier = receive(org, version)
        dossier = act(dossier, "start", org.clerk)
        dossier = act(dossier, "forward", org.officer)
    assert time.monotonic() - started < 15, "a transition waited on the dead broker"

    # The writes are committed and their messages wait in the outbox.
    assert Dossier.objects.get(pk=dossier.pk).state == "in_progress"
    assert sum("Could not publish dossiers.deliver_events" in r.getMessage() for r in caplog.records) == 3
    rows = OutboxMessage.objects.filter(dossier=dossier)
    # receive: SMS, e-mail, portal; start: portal + both officers; forward: portal + the other
    assert rows.count() == 3 + 3 + 2
    assert set(rows.values_list("status", flat=True)) == {Status.PENDING}
    assert not providers.sms.calls and not providers.portal.calls and not mail.outbox

    # The broker is back: the beat's next delivery run sends everything, once.
    broker_down()
    assert deliver_outbox.apply().result == {"sent": 8, "failed": 0, "dead": 0}
    assert set(rows.values_list("status", flat=True)) == {Status.SENT}
    assert len(providers.sms.calls) == 1 and len(mail.outbox) == 1
    assert [c["payload"]["sequence"] for c in providers.portal.calls] == [1, 2, 3]
    assert StaffNotice.objects.count() == 3

    assert deliver_outbox.apply().result == {"sent": 0, "failed": 0, "dead": 0}
    assert len(providers.sms.calls) == 1 and len(providers.portal.calls) == 3


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_an_online_submission_and_its_refusal_still_work(org, version, broker_down):
    dossier = dossier_in(org, version, "refused")
    assert Dossier.objects.get(pk=dossier.pk).state == "refused"
    assert OutboxMessage.objects.filter(dossier=dossier, status=Status.PENDING).count() == 4
    broker_down()
    assert deliver().sent == 4
    assert DemoSms.objects.count() == 1 and DemoPortalRecord.objects.count() == 2


# ---------------------------------------------------------------------------------------------
# Running twice, workers lost
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_publication_delivered_twice_sends_nothing_twice(org, version, providers):
    dossier = receive(org, version)
    event_id = dossier.events.get().pk
    publish_event(event_id)  # the worker ran it …
    publish_event(event_id)  # … and the broker redelivered it (acks_late after a lost worker)
    deliver_outbox.apply()
    deliver_outbox.apply()
    assert len(providers.sms.calls) == len(providers.portal.calls) == len(mail.outbox) == 1


class WorkerKilled(BaseException):
    """Stands for the process dying: not an ``Exception``, nothing catches it."""


@pytest.mark.django_db
def test_a_worker_killed_after_the_gateway_accepted_resends_with_the_same_key(org, version, providers, monkeypatch):
    from motcua.outbox import delivery

    dossier = receive(org, version)
    sms = OutboxMessage.objects.get(dossier=dossier, channel="sms")

    def killed(*args, **kwargs):
        raise WorkerKilled

    monkeypatch.setattr(delivery, "mark_sent", killed)
    with pytest.raises(WorkerKilled):
        outbox_deliver(channels=["sms"])
    sms.refresh_from_db()
    assert (sms.status, sms.attempts, sms.sent_at) == (Status.PENDING, 0, None)  # rolled back
    assert providers.sms.keys == [sms.key]  # … but the gateway had it

    monkeypatch.undo()
    assert outbox_deliver(channels=["sms"]).sent == 1
    sms.refresh_from_db()
    assert sms.status == Status.SENT
    # At least once: the gateway saw the message twice, with the one key to drop the repeat.
    assert providers.sms.keys == [sms.key, sms.key]


@pytest.mark.django_db
def test_where_the_provider_is_our_database_a_killed_worker_leaves_no_trace(org, version, monkeypatch):
    from motcua.outbox import delivery

    dossier = act(receive(org, version), "start", org.clerk)
    monkeypatch.setattr(delivery, "mark_sent", lambda *a, **k: (_ for _ in ()).throw(WorkerKilled))
    with pytest.raises(WorkerKilled):
        outbox_deliver(dossier_id=dossier.pk)
    assert not DemoSms.objects.exists() and not StaffNotice.objects.exists()
    monkeypatch.undo()
    outbox_deliver(dossier_id=dossier.pk)
    outbox_deliver(dossier_id=dossier.pk)
    assert DemoSms.objects.count() == 1
    assert StaffNotice.objects.count() == 2
    assert DemoPortalRecord.objects.count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_celery")
def test_the_portal_failing_at_commit_time_leaves_the_transition_done(org, version, portal_server):
    portal_server.statuses = [500]
    dossier = receive(org, version)  # on commit: delivered at once (eager) → the portal fails
    dossier = act(dossier, "start", org.clerk)
    assert Dossier.objects.get(pk=dossier.pk).state == "in_progress"
    first, second = OutboxMessage.objects.filter(dossier=dossier, channel="portal").order_by("id")
    assert first.status == Status.FAILED and second.status == Status.PENDING
    deliver(now=first.next_attempt_at)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (Status.SENT, Status.SENT)
    assert [r["json"]["sequence"] for r in portal_server.requests][-2:] == [1, 2]


# ---------------------------------------------------------------------------------------------
# A real worker and beat on the embedded broker
# ---------------------------------------------------------------------------------------------


def _database_url() -> str:
    db = django_settings.DATABASES["default"]
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the worker shares the test database")
def test_a_real_worker_and_beat_deliver_what_was_written_while_the_broker_was_down(org, version, broker_down, tmp_path):
    dossier = act(receive(org, version), "start", org.clerk)
    pending = OutboxMessage.objects.filter(dossier=dossier, status=Status.PENDING)
    assert pending.count() == 6

    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_TASK_ALWAYS_EAGER")}
    env.update(
        DATABASE_URL=_database_url(), BROKER_DIR=str(tmp_path / "broker"),
        MOTCUA_OUTBOX_SWEEP_SECONDS="1", HEARTBEAT_SECONDS="30", EMAIL_URL="dummymail://",
    )
    celery = [sys.executable, "-m", "celery", "-A", "motcua"]
    worker = subprocess.Popen(
        [*celery, "worker", "--pool=solo", "--loglevel=WARNING"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    beat = subprocess.Popen(
        [*celery, "beat", "--loglevel=WARNING", "--schedule", str(tmp_path / "schedule")],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and pending.exists():
            time.sleep(0.5)
        assert not pending.exists(), "the beat's delivery run never came"
    finally:
        for proc in (beat, worker):
            proc.terminate()
        for proc in (beat, worker):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}
    assert DemoSms.objects.filter(to=APPLICANT["phone"]).count() == 1
    assert list(DemoPortalRecord.objects.order_by("id").values_list("sequence", flat=True)) == [1, 2]
    assert StaffNotice.objects.count() == 2
