# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories
"""The web processes' publication window (motcua.outbox.publication): the events committed
within ``MOTCUA_PUBLISH_WINDOW`` go to the workers as one task message."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

import pytest
from django.test import override_settings

from dossiers.services import _common
from dossiers.tasks import deliver_events
from motcua.outbox.publication import Coalescer, publish_window
from tests.dossier_factories import act, org, receive, version  # noqa: F401


class Sent:
    def __init__(self, fail: bool = False):
        self.batches: list[list] = []
        self.threads: list[str] = []
        self.fail = fail
        self.done = threading.Event()

    def __call__(self, items):
        self.threads.append(threading.current_thread().name)
        if self.fail:
            raise ConnectionError("broker down")
        self.batches.append(list(items))
        self.done.set()


def test_items_added_within_the_window_go_out_once_together():
    sent = Sent()
    coalescer = Coalescer(sent, name="test", window=lambda: 0.2)
    for item in range(5):
        coalescer.add(item)
    assert sent.batches == [] and coalescer.pending == 5  # nothing went out yet
    assert sent.done.wait(5)
    time.sleep(0.05)
    assert sent.batches == [[0, 1, 2, 3, 4]]
    assert sent.threads == ["test-publish"]  # the timer's thread, not the request's
    assert coalescer.pending == 0


def test_a_new_window_opens_after_the_last_one_went_out():
    sent = Sent()
    coalescer = Coalescer(sent, name="test", window=lambda: 0.05)
    coalescer.add("a")
    assert sent.done.wait(5)
    sent.done.clear()
    coalescer.add("b")
    assert sent.done.wait(5)
    assert sent.batches == [["a"], ["b"]]


def test_without_a_window_each_item_goes_out_at_once_in_the_callers_thread():
    sent = Sent()
    coalescer = Coalescer(sent, name="test", window=lambda: 0)
    coalescer.add(1)
    coalescer.add(2)
    assert sent.batches == [[1], [2]]
    assert sent.threads == [threading.current_thread().name] * 2


def test_flush_sends_what_is_held_now_and_stops_the_timer():
    sent = Sent()
    coalescer = Coalescer(sent, name="test", window=lambda: 30)
    coalescer.add(1)
    coalescer.flush()
    assert sent.batches == [[1]]
    assert not [t for t in threading.enumerate() if t.name == "test-publish" and t.is_alive()]


def test_a_broker_outage_is_logged_not_raised(caplog):
    sent = Sent(fail=True)
    coalescer = Coalescer(sent, name="test.task", window=lambda: 0)
    with caplog.at_level(logging.ERROR):
        coalescer.add(1)  # no exception: the write is saved, the outbox holds its messages
    assert any("Could not publish test.task (1 items)" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork only")
def test_a_forked_child_starts_empty():
    sent = Sent()
    coalescer = Coalescer(sent, name="test", window=lambda: 30)
    coalescer.add("parent's")
    pid = os.fork()
    if pid == 0:  # the child: what the parent holds is not its to send
        os._exit(0 if coalescer.pending == 0 else 1)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert coalescer.pending == 1
    coalescer.flush()
    assert sent.batches == [["parent's"]]


def test_an_exiting_process_sends_what_it_holds_first(tmp_path):
    """A web worker restarting (max requests, deploy) exits normally: the interpreter waits for
    the window's timer, which sends the last events."""
    out = tmp_path / "sent.txt"
    script = (
        "import os, sys, django\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'motcua.settings')\n"
        "django.setup()\n"
        "from motcua.outbox.publication import Coalescer\n"
        f"out = open({str(out)!r}, 'w')\n"
        "c = Coalescer(lambda items: (out.write(','.join(items)), out.flush()), name='t',"
        " window=lambda: 0.3)\n"
        "c.add('a'); c.add('b')\n"
        "sys.exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=30,
                   cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert out.read_text() == "a,b"


def test_the_window_is_the_setting_except_eager_and_inside_a_task(settings):
    from motcua.celery import app

    settings.MOTCUA_PUBLISH_WINDOW = 0.25
    previous = app.conf.task_always_eager
    try:
        app.conf.task_always_eager = False
        assert publish_window() == 0.25
        app.conf.task_always_eager = True
        assert publish_window() == 0  # inline tasks: nothing to gather
    finally:
        app.conf.task_always_eager = previous


@pytest.mark.django_db(transaction=True)
def test_the_events_of_several_writes_go_to_the_workers_in_one_message(org, version, monkeypatch):
    """Through the services: three commits in a window, one ``dossiers.deliver_events`` message
    with the three events, in commit order; the task then delivers their messages."""
    from motcua.celery import app

    published: list[list[int]] = []
    done = threading.Event()

    def delay(event_ids, request_ids):
        published.append(list(event_ids))
        assert len(request_ids) == len(event_ids)
        done.set()

    monkeypatch.setattr(deliver_events, "delay", delay)
    app.conf.task_always_eager = False  # (the org fixture puts it back)
    with override_settings(MOTCUA_PUBLISH_WINDOW=3):
        first = receive(org, version)
        second = receive(org, version)
        started = act(first, "start", org.clerk)
        assert published == []  # still gathering
        assert done.wait(10)
    received, start = first.events.order_by("id").values_list("pk", flat=True)
    assert published == [[received, second.events.get().pk, start]]
    assert started.state == "in_progress"
    assert _common._publications.pending == 0


@pytest.mark.django_db
def test_deliver_events_logs_each_event_and_skips_unknown_ones(org, version, caplog):
    dossier = receive(org, version)
    event = dossier.events.get()
    with caplog.at_level(logging.INFO, logger="dossiers.tasks"):
        deliver_events([event.pk, 10**12])
    messages = [r.getMessage() for r in caplog.records if r.name == "dossiers.tasks"]
    assert any("1 of 2 events not found" in m for m in messages)
    assert any(dossier.code in m and "receive ∅→received" in m for m in messages)


@pytest.mark.django_db
def test_deliver_events_logs_the_request_that_wrote_each_event(org, version, caplog):
    dossier = receive(org, version)
    event = dossier.events.get()
    with caplog.at_level(logging.INFO, logger="dossiers.tasks"):
        deliver_events([event.pk], ["req-42"])
    assert any(dossier.code in r.getMessage() and "(request req-42)" in r.getMessage()
               for r in caplog.records)
