"""Apology letters under real concurrency on PostgreSQL (threads, each with its own connection):
exactly one letter per missed appointment, whatever runs at the same time or dies half-way.

- two sweeps at once split the work (``SKIP LOCKED``) and issue every letter once;
- several callers issuing the letter of one dossier at once: one letter;
- a sweep that dies after some batches, or inside one, then runs again: every letter once,
  none lost, no letter without its event or its new appointment;
- a batch computed from stale rows (as if the lock had been skipped) inserts nothing twice.
"""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from django.db import connection, transaction

from dossiers import deadlines
from dossiers.deadlines import Candidate, Thresholds, deadline_sweep, dossier_issue_apology
from dossiers.models import Apology, Dossier, DossierEvent
from motcua.errors import TransitionNotAllowed
from tests.dossier_factories import TZ, act, eager_celery, org, receive, version  # noqa: F401

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs PostgreSQL"),
    pytest.mark.usefixtures("eager_celery"),
]

#: Two days after the appointment (Monday 1/12/2025 09:00) of dossiers received on 24/11.
LATE = datetime(2025, 12, 3, 10, 0, tzinfo=TZ)
RECEIVED = datetime(2025, 11, 24, 9, 0, tzinfo=TZ)


class Crash(Exception):
    """A worker dying mid-sweep."""


def in_thread(fn):
    def run(*args):
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            return exc
        finally:
            connection.close()

    return run


@pytest.fixture
def late_dossiers(org, version):
    import time_machine

    def make(n: int) -> list[Dossier]:
        with time_machine.travel(RECEIVED, tick=False):
            return [act(receive(org, version), "start", org.officer) for _ in range(n)]

    return make


def assert_each_letter_once(dossiers: list[Dossier]) -> None:
    """One letter per dossier, each with its event and its moved appointment, nothing else."""
    ids = sorted(d.pk for d in dossiers)
    letters = list(Apology.objects.order_by("dossier_id").values_list("dossier_id", "number"))
    assert letters == [(pk, 1) for pk in ids]
    events = sorted(
        DossierEvent.objects.filter(transition="apology").values_list("dossier_id", flat=True)
    )
    assert events == ids
    for letter in Apology.objects.select_related("dossier"):
        assert letter.dossier.due_at == letter.new_due_at
        event = DossierEvent.objects.get(dossier_id=letter.dossier_id, transition="apology")
        assert event.data["apology"] == letter.pk


def test_two_sweeps_at_once_issue_every_letter_exactly_once(late_dossiers):
    dossiers = late_dossiers(24)
    barrier = threading.Barrier(2)

    @in_thread
    def sweep(_):
        barrier.wait(timeout=10)
        return deadline_sweep(at=LATE, batch_size=3)

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(sweep, range(2)))

    for result in results:
        assert not isinstance(result, Exception), result
    assert sum(r.apologies for r in results) == 24
    assert_each_letter_once(dossiers)
    # And a third run finds nothing to do.
    assert deadline_sweep(at=LATE).apologies == 0


def test_one_sweep_with_parallel_workers_issues_every_letter_once(late_dossiers):
    dossiers = late_dossiers(17)
    result = deadline_sweep(at=LATE, batch_size=2, workers=3)
    assert result.apologies == 17 and result.already_issued == 0
    assert_each_letter_once(dossiers)


def test_a_worker_that_dies_stops_the_sweep_and_loses_nothing(late_dossiers, monkeypatch):
    """With parallel workers, one failing: the sweep raises once all have stopped; whatever
    was committed stands, and the re-run issues the rest."""
    dossiers = late_dossiers(12)
    real = deadlines._issue_batch
    calls = {"n": 0}
    lock = threading.Lock()

    def dies_once(*args, **kwargs):
        with lock:
            calls["n"] += 1
            n = calls["n"]
        if n == 3:
            raise Crash("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(deadlines, "_issue_batch", dies_once)
    with pytest.raises(Crash):
        deadline_sweep(at=LATE, batch_size=2, workers=2)
    monkeypatch.setattr(deadlines, "_issue_batch", real)
    deadline_sweep(at=LATE, batch_size=2, workers=2)
    assert_each_letter_once(dossiers)


def test_many_sweeps_at_once_with_one_by_one_service_calls(late_dossiers):
    """The per-dossier path (SQLite's, and a leader's button) under the same race."""
    dossiers = late_dossiers(10)
    barrier = threading.Barrier(4)

    @in_thread
    def sweep(_):
        barrier.wait(timeout=10)
        return deadline_sweep(at=LATE, batch_size=4, bulk=False)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(sweep, range(4)))

    for result in results:
        assert not isinstance(result, Exception), result
    assert sum(r.apologies for r in results) == 10
    assert_each_letter_once(dossiers)


def test_callers_issuing_one_dossiers_letter_at_once_get_the_same_letter(late_dossiers):
    (dossier,) = late_dossiers(1)
    barrier = threading.Barrier(6)

    @in_thread
    def issue(_):
        barrier.wait(timeout=10)
        # Each caller names the appointment it saw: the later ones get the letter issued.
        return dossier_issue_apology(
            dossier=Dossier(pk=dossier.pk), at=LATE, for_due_at=dossier.due_at
        )

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(issue, range(6)))

    for result in results:
        assert not isinstance(result, Exception), result
    assert len({r.pk for r in results}) == 1
    assert sum(r.created for r in results) == 1
    assert_each_letter_once([dossier])


def test_a_sweep_and_a_service_call_racing_on_one_dossier_issue_one_letter(late_dossiers):
    dossiers = late_dossiers(6)
    barrier = threading.Barrier(2)

    @in_thread
    def sweep(_):
        barrier.wait(timeout=10)
        return deadline_sweep(at=LATE, batch_size=1)

    def issue(dossier) -> bool:
        try:
            return dossier_issue_apology(dossier=dossier, at=LATE).created
        except TransitionNotAllowed:
            return False  # the sweep got there first and moved the appointment

    @in_thread
    def issue_all(_):
        barrier.wait(timeout=10)
        return [issue(d) for d in reversed(dossiers)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        swept = pool.submit(sweep, 0)
        issued = pool.submit(issue_all, 0)
        result, created = swept.result(), issued.result()

    assert not isinstance(result, Exception), result
    assert not isinstance(created, Exception), created
    assert result.apologies + sum(created) == 6
    assert_each_letter_once(dossiers)


def test_a_sweep_that_dies_between_batches_loses_nothing_when_run_again(
    late_dossiers, monkeypatch
):
    dossiers = late_dossiers(10)
    real = deadlines._issue_batch
    calls = {"n": 0}

    def dies_after_two_batches(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 2:
            raise Crash("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(deadlines, "_issue_batch", dies_after_two_batches)
    with pytest.raises(Crash):
        deadline_sweep(at=LATE, batch_size=3, workers=1)
    assert Apology.objects.count() == 6  # two batches committed, each whole
    assert DossierEvent.objects.filter(transition="apology").count() == 6

    monkeypatch.setattr(deadlines, "_issue_batch", real)
    result = deadline_sweep(at=LATE, batch_size=3, workers=1)  # re-delivered (acks_late)
    assert result.apologies == 4
    assert_each_letter_once(dossiers)


def test_a_sweep_that_dies_inside_a_batch_rolls_the_batch_back_whole(late_dossiers, monkeypatch):
    dossiers = late_dossiers(7)
    real = deadlines._issue_batch
    calls = {"n": 0}

    def dies_after_writing(*args, **kwargs):
        event_ids = real(*args, **kwargs)  # letters, appointments and events written …
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash("worker killed before commit")  # … and never committed
        return event_ids

    monkeypatch.setattr(deadlines, "_issue_batch", dies_after_writing)
    with pytest.raises(Crash):
        deadline_sweep(at=LATE, batch_size=3, workers=1)
    assert Apology.objects.count() == 3
    assert DossierEvent.objects.filter(transition="apology").count() == 3
    moved = Dossier.objects.filter(pk__in=[d.pk for d in dossiers]).exclude(
        due_at=dossiers[0].due_at
    )
    assert moved.count() == 3  # only the committed batch's appointments moved

    monkeypatch.setattr(deadlines, "_issue_batch", real)
    assert deadline_sweep(at=LATE, batch_size=3, workers=1).apologies == 4
    assert_each_letter_once(dossiers)


def test_a_stale_batch_cannot_issue_a_second_letter(late_dossiers):
    """Two writers with the same rows (as if one had not waited for the lock): the unique
    appointment and ON CONFLICT DO NOTHING keep it to one letter, one event, one move."""
    dossiers = late_dossiers(3)
    thresholds = Thresholds.at_moment(LATE)
    stale = [Candidate.of(d) for d in Dossier.objects.filter(pk__in=[d.pk for d in dossiers])]
    limits = deadlines._Limits()
    with transaction.atomic():
        first = deadlines._issue_batch(stale, thresholds=thresholds, limits=limits)
    with transaction.atomic():
        second = deadlines._issue_batch(stale, thresholds=thresholds, limits=limits)
    assert len(first) == 3 and second == []
    assert_each_letter_once(dossiers)
