"""The outbox: one row per message, written in the event's transaction, delivered by a task
that locks each row (SKIP LOCKED), marks it sent in the same transaction, backs off on failure
and gives up ("dead") after the limit. Nothing is sent twice by running the task twice or on two
workers at once."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories / outbox_fixtures

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from dossiers.models import DossierEvent
from motcua.celery import app
from motcua.models import DemoSms, OutboxMessage
from motcua.outbox import outbox_deliver, outbox_record_event, outbox_requeue, retry_delay
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    act,
    frozen,
    org,
    receive,
    version,
)
from tests.outbox_fixtures import deliver, providers  # noqa: F401

Status = OutboxMessage.Status
Channel = OutboxMessage.Channel
postgres_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="row locks with SKIP LOCKED are PostgreSQL's"
)


def make_message(n: int, **fields) -> OutboxMessage:
    defaults = {
        "key": f"test:{n}:sms:0912345678", "channel": Channel.SMS, "topic": "received",
        "recipient": "0912345678", "body": f"Tin nhắn số {n}",
    }
    return OutboxMessage.objects.create(**{**defaults, **fields})


# ---------------------------------------------------------------------------------------------
# Writing: in the event's transaction, once per event and recipient
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_reception_writes_its_messages_with_the_event(org, version, frozen):
    dossier = receive(org, version)
    event = dossier.events.get()
    rows = {m.channel: m for m in OutboxMessage.objects.filter(event=event)}
    assert set(rows) == {Channel.SMS, Channel.EMAIL, Channel.PORTAL}
    assert rows[Channel.SMS].key == f"{event.pk}:sms:{APPLICANT['phone']}"
    assert rows[Channel.EMAIL].key == f"{event.pk}:email:{APPLICANT['email']}"
    assert rows[Channel.PORTAL].key == f"{event.pk}:portal:portal"
    for row in rows.values():
        assert (row.status, row.attempts, row.dossier_id) == (Status.PENDING, 0, dossier.pk)
        assert row.next_attempt_at == timezone.now()


@pytest.mark.django_db
def test_a_rolled_back_reception_leaves_no_message(org, version):
    with pytest.raises(RuntimeError), transaction.atomic():
        receive(org, version)
        assert OutboxMessage.objects.exists()
        raise RuntimeError("the caller's transaction fails after the reception")
    assert not OutboxMessage.objects.exists()
    assert not DossierEvent.objects.exists()


@pytest.mark.django_db
def test_a_refused_transition_writes_no_message(org, version):
    from motcua.errors import DomainError

    dossier = receive(org, version)
    before = OutboxMessage.objects.count()
    with pytest.raises(DomainError):
        act(dossier, "return_result", org.officer_b)
    assert OutboxMessage.objects.count() == before


@pytest.mark.django_db
def test_recording_an_event_again_adds_no_row(org, version):
    dossier = receive(org, version)
    event = dossier.events.get()
    before = list(OutboxMessage.objects.order_by("id").values_list("key", flat=True))
    with transaction.atomic():
        outbox_record_event(event=event, dossier=dossier)
    assert list(OutboxMessage.objects.order_by("id").values_list("key", flat=True)) == before


@pytest.mark.django_db
def test_the_database_refuses_two_rows_with_one_key():
    make_message(1)
    with pytest.raises(IntegrityError), transaction.atomic():
        make_message(1, body="again")


# ---------------------------------------------------------------------------------------------
# Delivery
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_delivery_marks_each_message_sent_with_time_and_reference(org, version, frozen, providers, mailoutbox):
    receive(org, version)
    report = deliver()
    assert (report.sent, report.failed, report.dead) == (3, 0, 0)
    for row in OutboxMessage.objects.all():
        assert (row.status, row.attempts, row.sent_at) == (Status.SENT, 1, timezone.now())
        assert row.provider_ref
    assert len(providers.sms.calls) == len(providers.portal.calls) == len(mailoutbox) == 1


@pytest.mark.django_db
def test_running_the_delivery_twice_sends_nothing_twice(org, version, providers, mailoutbox):
    receive(org, version)
    first = deliver()
    second = deliver()
    assert (first.sent, second.attempted) == (3, 0)
    assert len(providers.sms.calls) == len(providers.portal.calls) == len(mailoutbox) == 1


@pytest.mark.django_db
def test_the_celery_task_delivers_and_reports(org, version, providers, mailoutbox):
    from motcua.tasks import deliver_outbox

    receive(org, version)
    assert deliver_outbox.apply().result == {"sent": 3, "failed": 0, "dead": 0}
    assert deliver_outbox.apply().result == {"sent": 0, "failed": 0, "dead": 0}


@pytest.mark.django_db
def test_a_message_not_yet_due_waits(providers):
    make_message(1, next_attempt_at=timezone.now() + timedelta(minutes=5))
    assert deliver().attempted == 0
    assert deliver(now=timezone.now() + timedelta(minutes=5)).sent == 1


@pytest.mark.django_db
def test_failures_back_off_exponentially_then_the_message_is_dead(settings, providers, caplog):
    settings.MOTCUA_OUTBOX_MAX_ATTEMPTS = 4
    settings.MOTCUA_OUTBOX_RETRY_BASE_SECONDS = 60
    settings.MOTCUA_OUTBOX_RETRY_MAX_SECONDS = 200
    providers.sms.fail_next(*[ConnectionError("gateway down")] * 10)
    start = timezone.now()
    row = make_message(1, next_attempt_at=start)

    expected_gaps = [60, 120, 200]  # 60 × 2^(n−1), capped at 200
    moment = start
    for attempt, gap in enumerate(expected_gaps, start=1):
        deliver(now=moment)
        row.refresh_from_db()
        assert (row.status, row.attempts) == (Status.FAILED, attempt)
        assert row.next_attempt_at == moment + timedelta(seconds=gap)
        assert "ConnectionError: gateway down" in row.last_error
        assert deliver(now=row.next_attempt_at - timedelta(seconds=1)).attempted == 0
        moment = row.next_attempt_at

    deliver(now=moment)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.DEAD, 4)
    assert any("giving up" in r.getMessage() for r in caplog.records)
    assert deliver(now=moment + timedelta(days=30)).attempted == 0
    assert len(providers.sms.calls) == 4


def test_retry_delay_doubles_up_to_the_cap(settings):
    settings.MOTCUA_OUTBOX_RETRY_BASE_SECONDS = 60
    settings.MOTCUA_OUTBOX_RETRY_MAX_SECONDS = 6 * 3600
    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 4, 9, 10, 30)] == [
        60, 120, 240, 480, 15360, 21600, 21600,
    ]


@pytest.mark.django_db
def test_a_number_that_can_never_receive_an_sms_is_dead_at_once():
    row = make_message(1, recipient="12345", key="test:1:sms:12345")  # the demo gateway checks
    deliver()
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Status.DEAD, 1)
    assert "Số điện thoại không nhận được tin nhắn" in row.last_error
    assert not DemoSms.objects.exists()


@pytest.mark.django_db
def test_a_malformed_email_address_is_dead_at_once(mailoutbox):
    row = make_message(1, channel=Channel.EMAIL, recipient="khong-phai-thu", key="t:1:email:x",
                       subject="Hồ sơ")
    deliver()
    row.refresh_from_db()
    assert row.status == Status.DEAD
    assert not mailoutbox


@pytest.mark.django_db
def test_requeue_gives_failed_and_dead_messages_a_fresh_start_but_never_resends_a_sent_one(providers):
    dead = make_message(1, status=Status.DEAD, attempts=10, last_error="x")
    failed = make_message(2, status=Status.FAILED, attempts=3,
                          next_attempt_at=timezone.now() + timedelta(hours=2))
    sent = make_message(3, status=Status.SENT, attempts=1, sent_at=timezone.now())
    assert outbox_requeue(messages=OutboxMessage.objects.all()) == 2
    for row in (dead, failed):
        row.refresh_from_db()
        assert (row.status, row.attempts) == (Status.PENDING, 0)
    sent.refresh_from_db()
    assert sent.status == Status.SENT
    deliver()
    assert sorted(providers.sms.keys) == sorted([dead.key, failed.key])


@pytest.mark.django_db
def test_the_admin_lists_dead_messages_and_sends_them_again(org, admin_client, providers):
    dead = make_message(1, status=Status.DEAD, attempts=10, last_error="ConnectionError: x")
    make_message(2, status=Status.SENT, attempts=1, sent_at=timezone.now())
    page = admin_client.get("/admin/motcua/outboxmessage/?status__exact=dead")
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    response = admin_client.post(
        "/admin/motcua/outboxmessage/",
        {"action": "requeue", "_selected_action": [dead.pk]}, follow=True,
    )
    assert response.status_code == 200
    dead.refresh_from_db()
    assert dead.status == Status.PENDING
    for url in ("/admin/motcua/demosms/", "/admin/motcua/demoportalrecord/",
                "/admin/motcua/staffnotice/", f"/admin/motcua/outboxmessage/{dead.pk}/change/"):
        assert admin_client.get(url).status_code == 200, url


# ---------------------------------------------------------------------------------------------
# Concurrency (PostgreSQL, real threads with their own connections)
# ---------------------------------------------------------------------------------------------


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_message_locked_by_one_worker_is_skipped_by_another(providers):
    held, release = threading.Event(), threading.Event()
    busy = make_message(1)
    free = make_message(2)

    def worker_holding_the_first_row():
        try:
            with transaction.atomic():
                OutboxMessage.objects.select_for_update().get(pk=busy.pk)
                held.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=worker_holding_the_first_row)
    thread.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        report = deliver()
        assert time.monotonic() - started < 5, "the delivery waited for the lock"
        assert report.keys == [free.key]
    finally:
        release.set()
        thread.join(10)
    assert deliver().keys == [busy.key]


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_four_workers_at_once_send_each_message_exactly_once(providers):
    keys = [make_message(n).key for n in range(40)]
    providers.sms.before = lambda call: time.sleep(0.005)  # a gateway taking its time

    def worker(_):
        try:
            return outbox_deliver().sent
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        sent = list(pool.map(worker, range(4)))
    assert sum(sent) == 40
    assert sorted(providers.sms.keys) == sorted(keys)
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {Status.SENT}


# ---------------------------------------------------------------------------------------------
# Tasks and the beat
# ---------------------------------------------------------------------------------------------


def test_the_beat_delivers_the_outbox_every_minute_and_looks_for_due_soon_dossiers(settings):
    schedule = {entry["task"]: entry for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule["motcua.deliver_outbox"]["schedule"] == 60.0
    assert "motcua.notice_due_soon" in schedule
    assert "motcua.heartbeat" in schedule


@pytest.mark.parametrize(
    "name", ["motcua.deliver_outbox", "motcua.notice_due_soon", "dossiers.publish_event"]
)
def test_delivery_tasks_are_named_and_acknowledged_late(name):
    app.loader.import_default_modules()  # what a worker does at start: autodiscovery
    task = app.tasks[name]
    assert task.name == name
    assert task.acks_late is True
