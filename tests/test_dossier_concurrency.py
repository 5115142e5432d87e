"""Concurrency on PostgreSQL, with real threads (each with its own connection):

- two officers act on the same dossier at the same moment with the version they both saw: one
  wins, the other gets ``ConcurrentChange`` (409) and nothing of theirs is written;
- 50 receptions at once in one agency: 50 distinct codes without gaps;
- a reception that rolls back gives its number back, also to a reception waiting behind it.
"""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, transaction

from dossiers.models import Dossier, DossierCounter, DossierEvent, DossierStep
from motcua.errors import ConcurrentChange
from tests.dossier_factories import APPLICANT, act, dossier_in, eager_celery, org, receive, version  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs PostgreSQL"),
    pytest.mark.usefixtures("eager_celery"),
]


def in_thread(fn):
    """Run ``fn`` with a connection of its own, closed afterwards; return its result or the
    exception it raised."""

    def run(*args):
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            return exc
        finally:
            connection.close()

    return run


def wait_for_lock_waiter(seconds: float = 10) -> bool:
    """Whether another session is (or comes to be) waiting for a row lock."""
    import time

    deadline = time.monotonic() + seconds
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


def test_two_officers_acting_at_once_one_wins_the_other_gets_409(org, version):
    dossier = dossier_in(org, version, "in_progress")
    seen = dossier.version
    events_before = DossierEvent.objects.filter(dossier=dossier).count()
    steps_before = DossierStep.objects.filter(dossier=dossier).count()
    barrier = threading.Barrier(2)

    @in_thread
    def officer_acts(who, transition, payload):
        barrier.wait(timeout=10)
        return act(
            Dossier.objects.get(pk=dossier.pk), transition, getattr(org, who),
            expected_version=seen, **payload,
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(
            officer_acts,
            ["officer", "officer2"],
            ["forward", "request_supplement"],
            [{}, {"missing_documents": ["Bản sao giấy phép kinh doanh"]}],
        ))

    winners = [r for r in results if isinstance(r, Dossier)]
    losers = [r for r in results if isinstance(r, ConcurrentChange)]
    assert len(winners) == 1 and len(losers) == 1, results
    assert losers[0].status == 409 and losers[0].code == "concurrent_change"
    stored = Dossier.objects.get(pk=dossier.pk)
    assert stored.version == seen + 1
    assert stored.state == winners[0].state
    events = DossierEvent.objects.filter(dossier=dossier)
    assert events.count() == events_before + 1
    assert events.latest("id").actor in (org.officer, org.officer2)
    # The loser's work left no trace: no extra step, no pause, no supplement count.
    if stored.state == "in_progress":  # the forward won
        assert DossierStep.objects.filter(dossier=dossier).count() == steps_before
        assert stored.supplement_requests == 0 and stored.paused_at is None
        assert stored.current_step.position == 3
    else:  # the supplement request won
        assert stored.current_step.position == 2
        assert DossierStep.objects.get(dossier=dossier, position=2).finished_at is None


def test_same_transition_twice_at_once_without_expected_version_runs_once(org, version):
    """Without a version the row lock still serialises them: the second sees the new state
    and is refused by the state machine, never applied twice."""
    dossier = dossier_in(org, version, "awaiting_approval")
    barrier = threading.Barrier(2)

    @in_thread
    def approve(_):
        barrier.wait(timeout=10)
        return act(Dossier.objects.get(pk=dossier.pk), "approve", org.leader)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(approve, range(2)))
    assert sum(isinstance(r, Dossier) for r in results) == 1, results
    assert DossierEvent.objects.filter(dossier=dossier, transition="approve").count() == 1


def test_fifty_concurrent_receptions_get_fifty_gapless_codes(org, version):
    count = 50
    barrier = threading.Barrier(count)

    @in_thread
    def reception(i):
        barrier.wait(timeout=30)
        applicant = {**APPLICANT, "name": f"Người nộp số {i}"}
        return receive(org, version, applicant=applicant).code

    with ThreadPoolExecutor(max_workers=count) as pool:
        codes = list(pool.map(reception, range(count)))

    errors = [c for c in codes if not isinstance(c, str)]
    assert not errors, errors
    assert len(set(codes)) == count
    prefix = {c.rsplit("-", 1)[0] for c in codes}
    assert len(prefix) == 1
    assert sorted(int(c.rsplit("-", 1)[1]) for c in codes) == list(range(1, count + 1))
    assert Dossier.objects.count() == count
    assert DossierCounter.objects.get(agency=org.a).last == count


def test_a_reception_rolled_back_gives_its_number_to_the_one_waiting_behind_it(org, version):
    holding = threading.Event()
    release = threading.Event()

    class Abort(Exception):
        pass

    @in_thread
    def first():
        with transaction.atomic():
            code = receive(org, version).code
            holding.set()
            release.wait(timeout=10)
            raise Abort(code)

    @in_thread
    def second():
        holding.wait(timeout=10)
        return receive(org, version).code

    with ThreadPoolExecutor(max_workers=2) as pool:
        f1 = pool.submit(first)
        f2 = pool.submit(second)
        holding.wait(timeout=10)
        assert wait_for_lock_waiter(), "the second reception never queued on the counter row"
        release.set()
        aborted, code = f1.result(timeout=20), f2.result(timeout=20)
    assert isinstance(aborted, Abort) and str(aborted).endswith("-0001")
    assert code.endswith("-0001"), code
    assert Dossier.objects.count() == 1
