"""National portal sync: every status change goes out through an adapter, as outbox rows of
channel "portal" delivered in order per dossier (different dossiers in parallel), retried, and
idempotent (event id and sequence in the payload, one row per event on our side). The state →
portal code mapping is ``dossiers.models.NATIONAL_STATUS``. The HTTP adapter is tested against a
real HTTP server on 127.0.0.1."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories / outbox_fixtures

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from dossiers.models import NATIONAL_CHANNEL, NATIONAL_STATUS, State
from motcua.models import DemoPortalRecord, OutboxMessage
from motcua.outbox import outbox_record_event, outbox_requeue
from procedures.models import Channel as SubmitChannel
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    PATHS,
    TZ,
    act,
    dossier_in,
    frozen,
    org,
    receive,
    version,
)
from tests.outbox_fixtures import deliver, portal_server, providers  # noqa: F401

Status = OutboxMessage.Status


def portal_rows(dossier):
    return list(OutboxMessage.objects.filter(dossier=dossier, channel="portal").order_by("id"))


def statuses(dossier):
    return [row.payload["dossier"]["status"] for row in portal_rows(dossier)]


# ---------------------------------------------------------------------------------------------
# What is published
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_every_status_change_of_the_main_path_is_published_in_sequence(org, version):
    dossier = dossier_in(org, version, "returned")
    rows = portal_rows(dossier)
    assert [r.payload["transition"] for r in rows] == [
        "receive", "start", "forward", "submit_for_approval", "approve", "return_result",
    ]
    assert statuses(dossier) == [2, 4, 4, 4, 9, 10]
    assert [r.payload["sequence"] for r in rows] == [1, 2, 3, 4, 5, 6]
    events = list(dossier.events.order_by("id").values_list("id", flat=True))
    assert [r.payload["event_id"] for r in rows] == events
    assert [r.event_id for r in rows] == events


@pytest.mark.parametrize("state", [s for s in PATHS if s != "in_progress_last"])
@pytest.mark.django_db
def test_the_portal_code_of_each_state_comes_from_the_one_mapping(org, version, state):
    dossier = dossier_in(org, version, state)
    last = portal_rows(dossier)[-1].payload["dossier"]
    assert last["status"] == NATIONAL_STATUS[State(state)]
    assert last["channel"] == NATIONAL_CHANNEL[SubmitChannel(dossier.channel)]


def test_the_mapping_covers_every_state_with_the_portals_codes():
    from motcua.integrations.portal import PORTAL_STATUS_LABELS

    assert set(NATIONAL_STATUS) == set(State)
    assert set(NATIONAL_STATUS.values()) <= set(PORTAL_STATUS_LABELS)
    assert sorted(NATIONAL_CHANNEL.values()) == [1, 2, 3]


@pytest.mark.django_db
def test_online_submission_is_code_1_channel_2_and_keeps_its_provisional_code(org, version):
    dossier = dossier_in(org, version, "submitted")
    [row] = portal_rows(dossier)
    assert (row.payload["dossier"]["status"], row.payload["dossier"]["channel"]) == (1, 2)
    dossier = act(dossier, "receive", org.clerk)
    received = portal_rows(dossier)[-1].payload["dossier"]
    assert received["status"] == 2
    assert received["provisional_code"] == row.payload["dossier"]["code"]
    assert received["code"] == dossier.code != received["provisional_code"]


@pytest.mark.django_db
def test_assignments_and_attachments_are_not_status_changes(org, version):
    from dossiers.services import dossier_assign

    dossier = act(receive(org, version), "start", org.clerk)
    before = len(portal_rows(dossier))
    dossier_assign(dossier=dossier, officer=org.officer, actor=org.leader)
    assert len(portal_rows(dossier)) == before


@pytest.mark.django_db
def test_the_payload_says_what_the_portal_needs_and_no_contact_details(org, version, frozen):
    dossier = receive(org, version)
    payload = portal_rows(dossier)[0].payload
    assert payload["schema"] == "motcua.portal-sync/1"
    assert payload["dossier"]["code"] == dossier.code
    assert payload["dossier"]["agency_code"] == org.a.code
    assert payload["dossier"]["procedure_code"] == "1.000001.000.00.00.H01"
    assert payload["dossier"]["status_label"] == "Được tiếp nhận"
    assert payload["dossier"]["due_at"] == dossier.due_at.isoformat()
    assert payload["dossier"]["applicant"]["id_number"] == APPLICANT["id_number"]
    text = json.dumps(payload, ensure_ascii=False)
    assert APPLICANT["phone"] not in text and APPLICANT["email"] not in text
    assert APPLICANT["address"] not in text


@pytest.mark.django_db
def test_one_event_never_makes_two_portal_messages(org, version):
    dossier = dossier_in(org, version, "in_progress")
    event = dossier.events.latest("id")
    with transaction.atomic():
        outbox_record_event(event=event, dossier=dossier)
        outbox_record_event(event=event, dossier=dossier)
    assert OutboxMessage.objects.filter(event=event, channel="portal").count() == 1
    ids = [r.payload["event_id"] for r in portal_rows(dossier)]
    assert len(ids) == len(set(ids))


# ---------------------------------------------------------------------------------------------
# Delivery: the demo adapter, order, retries
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_demo_adapter_records_what_it_would_have_sent(org, version):
    dossier = dossier_in(org, version, "in_progress")
    deliver()
    records = list(DemoPortalRecord.objects.order_by("id"))
    assert [(r.dossier_code, r.sequence, r.status) for r in records] == [
        (dossier.code, 1, 2), (dossier.code, 2, 4),
    ]
    rows = portal_rows(dossier)
    assert records[0].payload == rows[0].payload
    assert records[0].key == rows[0].key
    assert rows[0].provider_ref == f"demo-portal-{records[0].pk}"


@pytest.mark.django_db
def test_a_dossiers_next_message_waits_for_the_previous_one_while_other_dossiers_go_on(org, version, providers):
    a = dossier_in(org, version, "in_progress")
    b = dossier_in(org, version, "in_progress")
    a_first, a_second = portal_rows(a)

    def portal_down_for_a_once(call):
        if call["payload"]["event_id"] == a_first.event_id and not getattr(portal_down_for_a_once, "done", False):
            portal_down_for_a_once.done = True
            raise ConnectionError("portal unreachable")

    providers.portal.before = portal_down_for_a_once
    deliver()
    a_first.refresh_from_db()
    a_second.refresh_from_db()
    assert a_first.status == Status.FAILED
    assert a_second.status == Status.PENDING and a_second.attempts == 0  # held back, not tried
    assert all(r.status == Status.SENT for r in portal_rows(b))
    sent_for_a = [c["payload"]["event_id"] for c in providers.portal.calls
                  if c["payload"]["dossier"]["code"] == a.code]
    assert sent_for_a == [a_first.event_id]

    deliver(now=a_first.next_attempt_at)
    sent_for_a = [c["payload"]["sequence"] for c in providers.portal.calls
                  if c["payload"]["dossier"]["code"] == a.code]
    assert sent_for_a == [1, 1, 2]
    assert all(r.status == Status.SENT for r in portal_rows(a))


@pytest.mark.django_db
def test_a_dead_portal_message_holds_back_its_dossier_until_an_admin_sends_it_again(org, version, providers, settings):
    settings.MOTCUA_OUTBOX_MAX_ATTEMPTS = 1
    dossier = dossier_in(org, version, "in_progress")
    first, second = portal_rows(dossier)
    providers.portal.fail_next(ConnectionError("down"))
    deliver()
    first.refresh_from_db()
    assert first.status == Status.DEAD
    assert deliver(now=timezone.now() + timedelta(days=1)).attempted == 0
    outbox_requeue(messages=OutboxMessage.objects.filter(pk=first.pk))
    deliver()
    assert [c["payload"]["sequence"] for c in providers.portal.calls] == [1, 1, 2]
    second.refresh_from_db()
    assert second.status == Status.SENT


# ---------------------------------------------------------------------------------------------
# The HTTP adapter against a local server
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_http_adapter_posts_json_with_the_token_and_the_idempotency_key(org, version, portal_server):
    dossier = receive(org, version)
    assert deliver(channels=["portal"]).sent == 1
    [request] = portal_server.requests
    row = portal_rows(dossier)[0]
    assert request["headers"]["Authorization"] == "Bearer bi-mat-thu-nghiem"
    assert request["headers"]["Idempotency-Key"] == row.key
    assert request["headers"]["Content-Type"].startswith("application/json")
    assert request["json"] == row.payload
    assert request["path"] == "/api/dong-bo-ho-so"
    row.refresh_from_db()
    assert (row.status, row.provider_ref) == (Status.SENT, f"portal-{row.event_id}")


@pytest.mark.django_db
def test_a_500_is_retried_and_the_portal_sees_the_same_event_again_then_the_next_in_order(org, version, portal_server):
    dossier = dossier_in(org, version, "in_progress")
    first, second = portal_rows(dossier)
    portal_server.statuses = [500]
    report = deliver(channels=["portal"])
    assert (report.sent, report.failed) == (0, 1)
    first.refresh_from_db()
    assert first.status == Status.FAILED and "HTTP 500" in first.last_error
    assert portal_server.events == [first.event_id]  # the second waits for the first

    report = deliver(channels=["portal"], now=first.next_attempt_at)
    assert report.sent == 2
    assert portal_server.events == [first.event_id, first.event_id, second.event_id]
    keys = [r["headers"]["Idempotency-Key"] for r in portal_server.requests]
    assert keys == [first.key, first.key, second.key]
    assert [r.status for r in portal_rows(dossier)] == [Status.SENT, Status.SENT]


@pytest.mark.django_db
def test_http_order_holds_per_dossier_while_other_dossiers_go_ahead(org, version, portal_server):
    a = dossier_in(org, version, "awaiting_approval")  # 4 portal messages
    b = dossier_in(org, version, "in_progress")  # 2 portal messages
    portal_server.statuses = [503]  # the very first request (a's first message) fails
    deliver(channels=["portal"])
    seen = [(r["json"]["dossier"]["code"], r["json"]["sequence"]) for r in portal_server.requests]
    assert seen == [(a.code, 1), (b.code, 1), (b.code, 2)]

    deliver(channels=["portal"], now=portal_rows(a)[0].next_attempt_at)
    for_a = [r["json"]["sequence"] for r in portal_server.requests if r["json"]["dossier"]["code"] == a.code]
    assert for_a == [1, 1, 2, 3, 4]


@pytest.mark.django_db
def test_a_409_means_the_portal_already_has_it(org, version, portal_server):
    dossier = receive(org, version)
    portal_server.statuses = [409]
    assert deliver(channels=["portal"]).sent == 1
    assert portal_rows(dossier)[0].provider_ref.startswith("duplicate:")


@pytest.mark.django_db
def test_a_422_is_given_up_at_once(org, version, portal_server):
    dossier = receive(org, version)
    portal_server.statuses = [422]
    assert deliver(channels=["portal"]).dead == 1
    row = portal_rows(dossier)[0]
    assert (row.status, row.attempts) == (Status.DEAD, 1)
    assert "HTTP 422" in row.last_error


@pytest.mark.django_db
def test_an_unreachable_portal_is_retried(org, version, settings):
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.MOTCUA_PORTAL_ADAPTER = "motcua.integrations.portal.HttpPortalAdapter"
    settings.MOTCUA_PORTAL_URL = f"http://127.0.0.1:{port}/"
    settings.MOTCUA_PORTAL_TIMEOUT = 2.0
    dossier = receive(org, version)
    assert deliver(channels=["portal"]).failed == 1
    row = portal_rows(dossier)[0]
    assert row.status == Status.FAILED and "PortalUnavailable" in row.last_error


@pytest.mark.django_db
def test_a_missing_portal_url_fails_the_message_not_the_worker(org, version, settings):
    settings.MOTCUA_PORTAL_ADAPTER = "motcua.integrations.portal.HttpPortalAdapter"
    settings.MOTCUA_PORTAL_URL = ""
    dossier = receive(org, version)
    assert deliver().failed == 1
    assert "MOTCUA_PORTAL_URL" in portal_rows(dossier)[0].last_error


@pytest.mark.django_db
def test_an_event_recorded_after_a_later_one_was_published_does_not_send_the_portal_back(org, version):
    """The deadline sweep records its bulk letters' messages after the commit: if the officer
    acted in between, the letter's portal message would carry an older status."""
    from dossiers.models import DossierEvent
    from motcua.outbox import outbox_record_events

    dossier = dossier_in(org, version, "in_progress_last")
    apology = DossierEvent.objects.create(  # as the sweep's SQL inserts it
        dossier=dossier, at=timezone.now(), transition="apology", from_state="in_progress",
        to_state="in_progress", data={"new_due_at": "2025-12-08T09:00:00+07:00"},
    )
    dossier = act(dossier, "submit_for_approval", org.officer)  # published at once
    with transaction.atomic():
        outbox_record_events(event_ids=[apology.pk])
    assert not OutboxMessage.objects.filter(event=apology, channel="portal").exists()
    assert set(OutboxMessage.objects.filter(event=apology).values_list("channel", flat=True)) == {
        "sms", "email",
    }
    assert [r.payload["sequence"] for r in portal_rows(dossier)] == [1, 2, 3, 4]



# ---------------------------------------------------------------------------------------------
# Apology letters and the order of a dossier's portal messages (issue 5)
# ---------------------------------------------------------------------------------------------
#
# The deadline sweep writes its letters' events in bulk and records their messages afterwards
# (dossiers.publish_events), so a letter's portal message can be recorded after a later event's.
# The portal must still receive each dossier's messages in the order of their events, with
# sequences 1, 2, 3 … and no status going back.

SWEEP_AT = datetime(2025, 11, 28, 10, 0, tzinfo=TZ)  # < 1 working day before 1/12 09:00


def portal_history(code: str, records) -> list[tuple[int, int, str]]:
    """(event id, sequence, transition) of what the portal received for one dossier."""
    return [(r["event_id"], r["sequence"], r["transition"]) for r in records
            if r["dossier"]["code"] == code]


def assert_event_order(history) -> None:
    event_ids = [event_id for event_id, _, _ in history]
    assert event_ids == sorted(event_ids) and len(set(event_ids)) == len(event_ids), history
    assert [sequence for _, sequence, _ in history] == list(range(1, len(history) + 1)), history


@pytest.mark.django_db
def test_letters_recorded_after_a_later_transition_still_reach_the_portal_in_event_order(org, version, frozen):
    from dossiers.deadlines import deadline_sweep
    from dossiers.models import DossierEvent
    from dossiers.tasks import publish_events

    a = act(receive(org, version), "start", org.officer)
    b = act(receive(org, version), "start", org.officer)
    # The sweep commits its letters; their messages wait for the batch's task (not run yet:
    # on-commit callbacks do not fire inside the test's transaction).
    assert deadline_sweep(at=SWEEP_AT, bulk=True).apologies == 2
    letters = dict(
        DossierEvent.objects.filter(transition="apology").values_list("dossier_id", "id")
    )
    assert not OutboxMessage.objects.filter(event_id__in=letters.values()).exists()
    a = act(a, "forward", org.officer)  # a moves on before the task runs
    publish_events([letters[a.pk], letters[b.pk]])
    deliver()

    records = [r.payload for r in DemoPortalRecord.objects.order_by("id")]
    history_a = portal_history(a.code, records)
    history_b = portal_history(b.code, records)
    assert [t for _, _, t in history_a] == ["receive", "start", "forward"]
    assert [t for _, _, t in history_b] == ["receive", "start", "apology"]
    assert_event_order(history_a)
    assert_event_order(history_b)
    # a's letter still reached the citizen; its portal message was left out (the forward's
    # message already carries the moved appointment), so a's status never went back.
    assert set(OutboxMessage.objects.filter(event_id=letters[a.pk]).values_list("channel", flat=True)) == {"sms", "email"}
    a.refresh_from_db()
    forward = next(r for r in records if r["dossier"]["code"] == a.code and r["transition"] == "forward")
    assert forward["dossier"]["due_at"] == timezone.localtime(a.due_at).isoformat() == (
        "2025-12-08T09:00:00+07:00"
    )
    letter_b = next(r for r in records if r["dossier"]["code"] == b.code and r["transition"] == "apology")
    assert letter_b["dossier"]["due_at"] == "2025-12-08T09:00:00+07:00"


@pytest.mark.django_db
def test_a_failing_letter_message_holds_back_the_dossiers_next_transition(org, version, frozen, providers):
    from dossiers.deadlines import deadline_sweep
    from dossiers.models import DossierEvent
    from dossiers.tasks import publish_events

    dossier = act(receive(org, version), "start", org.officer)
    deliver()  # receive and start are out
    deadline_sweep(at=SWEEP_AT, bulk=True)
    letter = DossierEvent.objects.get(dossier=dossier, transition="apology")
    providers.portal.fail_next(ConnectionError("portal unreachable"))
    publish_events([letter.pk])  # records the letter's messages, tries to send: the portal fails
    dossier = act(dossier, "forward", org.officer)
    deliver()
    sent = [c["payload"]["transition"] for c in providers.portal.calls]
    assert sent == ["receive", "start", "apology"]  # the forward waits behind the letter

    retry_at = OutboxMessage.objects.get(event=letter, channel="portal").next_attempt_at
    deliver(now=retry_at)
    history = portal_history(dossier.code, [c["payload"] for c in providers.portal.calls])
    assert [t for _, _, t in history] == ["receive", "start", "apology", "apology", "forward"]
    delivered = [h for i, h in enumerate(history) if h not in history[:i]]  # the retry is a repeat
    assert_event_order(delivered)


@pytest.mark.django_db
def test_a_leaders_letter_is_published_with_the_moved_appointment_in_order(org, version, frozen):
    from dossiers.services import dossier_issue_apology

    dossier = act(receive(org, version), "start", org.officer)
    dossier_issue_apology(dossier=dossier, actor=org.leader, reason="Chờ ý kiến liên ngành.")
    dossier.refresh_from_db()
    deliver()
    records = [r.payload for r in DemoPortalRecord.objects.order_by("id")]
    history = portal_history(dossier.code, records)
    assert [t for _, _, t in history] == ["receive", "start", "apology"]
    assert_event_order(history)
    assert records[-1]["dossier"]["due_at"] == timezone.localtime(dossier.due_at).isoformat()
    assert records[-1]["dossier"]["status"] == 4


@pytest.mark.django_db
def test_health_warns_about_given_up_messages_without_answering_503(org, version, providers, settings, client):
    settings.MOTCUA_OUTBOX_MAX_ATTEMPTS = 1
    receive(org, version)
    body = client.get("/health/").json()
    assert "warnings" not in body  # nothing given up: the four parts only
    providers.portal.fail_next(ConnectionError("down"))
    deliver()
    response = client.get("/health/")
    assert response.status_code == 200
    body = response.json()
    assert body["database"] == "ok"
    assert body["warnings"] == {"outbox_dead": {"portal": 1}}
    outbox_requeue(messages=OutboxMessage.objects.filter(status=Status.DEAD))
    assert "warnings" not in client.get("/health/").json()
