"""The event log is append-only: the ORM refuses to change or delete a row, and on PostgreSQL
the database itself refuses UPDATE, DELETE and TRUNCATE, whoever asks. Every write publishes its
event once committed."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import logging

import pytest
from django.db import DatabaseError, connection, transaction

from dossiers.models import AppendOnlyError, Dossier, DossierEvent
from dossiers.tasks import deliver_events, publish_event
from tests.dossier_factories import act, eager_celery, frozen, org, receive, version  # noqa: F401

postgres_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="the trigger is PostgreSQL's"
)


@pytest.fixture
def event(org, version, frozen):
    return act(receive(org, version), "start", org.clerk).events.latest("id")


@pytest.mark.django_db
class TestTheOrmRefuses:
    def test_saving_a_changed_event(self, event):
        event.comment = "sửa lại nhật ký"
        with pytest.raises(AppendOnlyError):
            event.save()

    def test_deleting_an_event(self, event):
        with pytest.raises(AppendOnlyError):
            event.delete()

    def test_queryset_update_and_delete(self, event):
        events = DossierEvent.objects.filter(pk=event.pk)
        with pytest.raises(AppendOnlyError):
            events.update(comment="x")
        with pytest.raises(AppendOnlyError):
            events.delete()
        with pytest.raises(AppendOnlyError):
            DossierEvent.objects.bulk_update([event], ["comment"])
        with pytest.raises(AppendOnlyError):
            event.dossier.events.all().delete()

    def test_deleting_a_dossier_with_events(self, event):
        from django.db.models import ProtectedError

        with pytest.raises(ProtectedError):
            Dossier.objects.filter(pk=event.dossier_id).delete()

    def test_nothing_changed(self, event):
        for attempt in (lambda: event.save(), lambda: event.delete()):
            with pytest.raises(AppendOnlyError):
                attempt()
        assert DossierEvent.objects.get(pk=event.pk).comment == ""


def raw(sql: str, params=()) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


@postgres_only
@pytest.mark.django_db
class TestTheDatabaseRefuses:
    def test_raw_update(self, event):
        with pytest.raises(DatabaseError, match="append-only"):
            raw("UPDATE dossiers_dossierevent SET comment = 'x' WHERE id = %s", [event.pk])
        assert DossierEvent.objects.get(pk=event.pk).comment == ""

    def test_raw_update_of_every_row(self, event):
        with pytest.raises(DatabaseError, match="append-only"):
            raw("UPDATE dossiers_dossierevent SET to_state = 'returned'")

    def test_raw_delete(self, event):
        with pytest.raises(DatabaseError, match="append-only"):
            raw("DELETE FROM dossiers_dossierevent WHERE id = %s", [event.pk])
        assert DossierEvent.objects.filter(pk=event.pk).exists()

    @pytest.mark.django_db(transaction=True)  # committed rows: nothing pending in the table
    def test_truncate(self, event):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cursor:
                # Test databases let the framework empty tables between tests; not here.
                cursor.execute("SET LOCAL motcua.allow_event_truncate = 'off'")
                cursor.execute("TRUNCATE dossiers_dossierevent CASCADE")
        assert DossierEvent.objects.filter(pk=event.pk).exists()

    def test_insert_still_works(self, event):
        raw(
            "INSERT INTO dossiers_dossierevent (dossier_id, at, transition, from_state, to_state,"
            " comment, data) VALUES (%s, now(), 'note', '', '', '', '{}')",
            [event.dossier_id],
        )
        assert DossierEvent.objects.filter(dossier_id=event.dossier_id).count() == 3


@pytest.mark.django_db
def test_publish_event_task_is_idempotent(event, caplog):
    with caplog.at_level(logging.INFO, logger="dossiers.tasks"):
        publish_event(event.pk)
        publish_event(event.pk)
        publish_event(10**12)  # unknown (a rolled back write): logged, not an error
    published = [r for r in caplog.records if event.dossier.code in r.getMessage()]
    assert len(published) == 2
    assert "national status 4" in published[0].getMessage()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_celery")
def test_each_committed_write_publishes_its_event_once(org, version, caplog):
    with caplog.at_level(logging.INFO, logger="dossiers.tasks"):
        dossier = receive(org, version)
        act(dossier, "start", org.clerk)
    messages = [r.getMessage() for r in caplog.records if r.name == "dossiers.tasks"]
    assert len(messages) == 2
    assert "receive ∅→received" in messages[0] and "start received→in_progress" in messages[1]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("eager_celery")
def test_a_rolled_back_write_publishes_nothing(org, version, caplog):
    with caplog.at_level(logging.INFO, logger="dossiers.tasks"):
        with pytest.raises(RuntimeError), transaction.atomic():
            receive(org, version)
            raise RuntimeError
    assert not [r for r in caplog.records if r.name == "dossiers.tasks"]
    assert not DossierEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_broker_outage_does_not_undo_a_committed_write(org, version, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(deliver_events, "delay", broken)
    with caplog.at_level(logging.ERROR):
        dossier = receive(org, version)
    assert Dossier.objects.filter(pk=dossier.pk).exists()
    assert any("Could not publish" in r.getMessage() for r in caplog.records)
