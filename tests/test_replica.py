"""Reads that may lag go to the read replica (motcua.db, motcua.db_router; docs/scaling.md).

The replica here is a second database alias reading the default test database (Django's
``TEST: {"MIRROR": "default"}``, as settings.py configures it when ``DATABASE_REPLICA_URL``
is set): a separate connection, so it sees committed rows only, as a real replica does. The
tests that use it are transactional for that reason. Which connection ran a query is read
from ``CaptureQueriesContext`` on each alias.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from dossiers.models import Dossier
from motcua.db import REPLICA, lagging, lagging_allowed, replica_alias, replica_configured
from motcua.db_router import ReplicaRouter
from motcua.models import Role
from reports.selectors import Period, report_summary, staff_performances, weekly_trend
from tests.dossier_factories import org, receive, staff, version  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
BOTH = [DEFAULT_DB_ALIAS, REPLICA]
with_replica = pytest.mark.django_db(transaction=True, databases=BOTH)


@pytest.fixture(scope="module", autouse=True)
def replica_alias_on_test_database(django_db_setup, django_db_blocker):
    """A ``replica`` alias for this module's tests, reading the default test database (one
    configured by ``DATABASE_REPLICA_URL`` is put back afterwards)."""
    configured = connections.settings.get(REPLICA)
    default = connections[DEFAULT_DB_ALIAS].settings_dict
    replica = copy.deepcopy(default)
    replica["TEST"] = {**default["TEST"], "MIRROR": DEFAULT_DB_ALIAS}

    def forget() -> None:
        with django_db_blocker.unblock():
            connections[REPLICA].close()
        del connections[REPLICA]

    if configured is not None:
        forget()
    connections.settings[REPLICA] = replica
    yield
    forget()
    if configured is not None:
        connections.settings[REPLICA] = configured
    else:
        del connections.settings[REPLICA]


@pytest.fixture
def captured():
    """Queries of each alias while the test runs its block: ``with captured() as q: …``."""

    class Both:
        def __enter__(self):
            self.default = CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]).__enter__()
            self.replica = CaptureQueriesContext(connections[REPLICA]).__enter__()
            return self

        def __exit__(self, *exc):
            self.replica.__exit__(*exc)
            self.default.__exit__(*exc)

    return Both


def _sql(context) -> list[str]:
    return [q["sql"] for q in context.captured_queries]


def _this_month() -> Period:
    today = timezone.localdate()
    return Period(today - timedelta(days=30), today)


# --- the summary reads ------------------------------------------------------------------------


@with_replica
def test_report_summary_reads_from_the_replica_and_nothing_from_default(
    org, version, captured  # noqa: F811
):
    receive(org, version)
    receive(org, version)
    with captured() as q:
        summary = report_summary(period=_this_month(), group_by="agency")
    assert summary.totals["received"] == 2
    assert _sql(q.replica), "the summary ran no query on the replica"
    assert _sql(q.default) == []


@with_replica
def test_dashboard_reads_trend_and_staff_figures_from_the_replica(
    org, version, captured  # noqa: F811
):
    receive(org, version)
    with captured() as q:
        trend = weekly_trend(weeks=4)
        staff_performances(period=_this_month())
    assert trend[-1]["received"] == 1
    assert len(q.replica.captured_queries) >= 2
    assert _sql(q.default) == []


@with_replica
def test_public_figures_page_reads_from_the_replica(client, org, version, captured):  # noqa: F811
    receive(org, version)
    cache.clear()
    try:
        with captured() as q:
            response = client.get("/so-lieu/")
    finally:
        cache.clear()
    assert response.status_code == 200
    assert any("dossiers_dossier" in sql for sql in _sql(q.replica))
    assert not any("dossiers_dossier" in sql for sql in _sql(q.default))


@with_replica
def test_reports_dashboard_takes_its_figures_from_the_replica(client, org, version, captured):  # noqa: F811
    receive(org, version)
    client.force_login(staff("giamsat", (org.units_a["LD"], Role.SUPERVISOR)))
    with captured() as q:
        response = client.get("/staff/reports/")
    assert response.status_code == 200
    on_replica = " ".join(_sql(q.replica))
    for table in ("dossiers_dossier", "dossiers_dossierstep", "dossiers_apology",
                  "ratings_rating"):
        assert table in on_replica, table
    # The primary still answers the request's own reads (session, user, roles), not figures.
    assert not any("COUNT(" in sql and "dossiers_dossier" in sql for sql in _sql(q.default))


# --- what must stay on default ---------------------------------------------------------------


@with_replica
def test_writes_inside_a_lagging_block_go_to_default(org, version, captured):  # noqa: F811
    with captured() as q, lagging() as alias:
        assert alias == REPLICA
        dossier = receive(org, version)
    assert any(sql.startswith("INSERT") for sql in _sql(q.default))
    assert not any(sql.startswith(("INSERT", "UPDATE", "DELETE")) for sql in _sql(q.replica))
    assert Dossier.objects.filter(pk=dossier.pk).exists()


@with_replica
def test_an_object_read_from_the_replica_is_saved_on_default(org, version, captured):  # noqa: F811
    receive(org, version)
    with lagging():
        dossier = Dossier.objects.get()
    assert dossier._state.db == REPLICA
    with captured() as q:
        Dossier.objects.filter(pk=dossier.pk).update(applicant_address="Số 1, phố Hàng Bài")
        dossier.applicant_address = "Số 2, phố Tràng Tiền"
        dossier.save(update_fields=["applicant_address"])
    assert [sql.split()[0] for sql in _sql(q.default)] == ["UPDATE", "UPDATE"]
    assert _sql(q.replica) == []


@with_replica
def test_reads_inside_a_transaction_stay_on_default_and_see_its_own_writes(
    org, version, captured  # noqa: F811
):
    with transaction.atomic():
        receive(org, version)  # not committed: a replica could not know it yet
        with captured() as q, lagging() as alias:
            assert alias == DEFAULT_DB_ALIAS
            summary = report_summary(period=_this_month())
    assert summary.totals["received"] == 1
    assert _sql(q.replica) == []
    assert _sql(q.default)


@with_replica
def test_a_transaction_opened_inside_a_lagging_block_brings_its_reads_back_to_default(
    org, version, captured  # noqa: F811
):
    receive(org, version)
    with lagging(), captured() as q:
        Dossier.objects.count()
        with transaction.atomic():
            Dossier.objects.select_for_update().get()
            Dossier.objects.count()
        Dossier.objects.count()
    assert len(q.replica.captured_queries) == 2
    assert any("FOR UPDATE" in sql for sql in _sql(q.default))
    assert sum("COUNT" in sql for sql in _sql(q.default)) == 1


@with_replica
def test_reads_outside_a_lagging_block_stay_on_default(org, version, captured):  # noqa: F811
    receive(org, version)
    with captured() as q:
        assert Dossier.objects.count() == 1
        assert Dossier.objects.get().code
    assert _sql(q.replica) == []


def test_lagging_block_ends_with_its_exception_and_nests():
    assert not lagging_allowed()
    with pytest.raises(RuntimeError), lagging():
        with lagging():
            assert lagging_allowed()
        assert lagging_allowed()
        raise RuntimeError("boom")
    assert not lagging_allowed()


def test_a_lagging_block_does_not_leak_into_other_threads():
    import threading

    seen = []
    with lagging():
        thread = threading.Thread(target=lambda: seen.append(lagging_allowed()))
        thread.start()
        thread.join()
    assert seen == [False]


# --- no replica configured -------------------------------------------------------------------


@pytest.mark.django_db
def test_without_a_replica_lagging_reads_use_default(org, version, monkeypatch):  # noqa: F811
    receive(org, version)
    monkeypatch.delitem(connections.settings, REPLICA)
    assert not replica_configured()
    with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as q, lagging() as alias:
        summary = report_summary(period=_this_month())
    assert alias == DEFAULT_DB_ALIAS == replica_alias()
    assert summary.totals["received"] == 1
    assert q.captured_queries


@pytest.mark.django_db
def test_a_test_not_allowed_the_replica_would_fail_on_any_replica_read(org, version):  # noqa: F811
    """The guard the other tests rely on: without the replica in ``databases`` a query there
    raises, so the default-only tests above prove that nothing went there by accident."""
    with pytest.raises(AssertionError, match="replica"):
        connections[REPLICA].cursor()


# --- the router's rules ----------------------------------------------------------------------


def test_router_sends_every_write_to_default_even_from_a_replica_object():
    router = ReplicaRouter()
    obj = Dossier()
    obj._state.db = REPLICA
    with lagging():
        assert router.db_for_write(Dossier, instance=obj) == DEFAULT_DB_ALIAS
    assert router.db_for_read(Dossier, instance=obj) == DEFAULT_DB_ALIAS


def test_router_never_migrates_the_replica_and_relates_objects_of_both():
    router = ReplicaRouter()
    assert router.allow_migrate(REPLICA, "dossiers") is False
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "dossiers") is None
    a, b, c = Dossier(), Dossier(), Dossier()
    a._state.db, b._state.db, c._state.db = DEFAULT_DB_ALIAS, REPLICA, "elsewhere"
    assert router.allow_relation(a, b) is True
    assert router.allow_relation(a, c) is None


# --- settings ----------------------------------------------------------------------------------


def _databases_with(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = ("import django, json; django.setup(); from django.conf import settings; "
            "print(json.dumps({k: [v['ENGINE'], v['NAME'], v['TEST']['MIRROR'] if 'TEST' in v "
            "else None] for k, v in settings.DATABASES.items()})); "
            "print(settings.DATABASE_ROUTERS)")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**clean, "DJANGO_SETTINGS_MODULE": "motcua.settings",
             "DATABASE_URL": "postgres://u@db.example:5432/motcua", **env},
    )


def test_settings_add_the_replica_alias_only_when_the_url_is_set():
    without = _databases_with({})
    assert without.returncode == 0, without.stderr
    assert '"replica"' not in without.stdout
    assert "motcua.db_router.ReplicaRouter" in without.stdout

    with_url = _databases_with({"DATABASE_REPLICA_URL": "postgres://ro@replica.example:5432/motcua"})
    assert with_url.returncode == 0, with_url.stderr
    assert ('"replica": ["django.db.backends.postgresql", "motcua", "default"]'
            in with_url.stdout)


def test_settings_refuse_a_replica_that_is_not_postgresql():
    result = _databases_with({"DATABASE_REPLICA_URL": "sqlite:////tmp/replica.sqlite3"})
    assert result.returncode != 0
    assert "DATABASE_REPLICA_URL must be a PostgreSQL database" in result.stderr
