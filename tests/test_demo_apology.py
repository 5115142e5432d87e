"""Deadlines that enforce themselves, end to end: the demo's real Celery worker and beat, on the
embedded file-system broker (no Redis), issue an apology letter for a dossier whose appointment
passes while they run, and tell the citizen and the national portal — with nobody touching it.

Nothing is frozen: the worker and beat are separate processes on the real clock, sharing this
test's (committed) PostgreSQL database. ``MOTCUA_SWEEP_SECONDS`` gives the beat a sweep every
few seconds instead of the office-hours crontab. The dossiers are built through the services;
only their appointments are then moved to "a few seconds from now" (the office calendar cannot
land an appointment on an arbitrary second, and the test must not depend on the hour it runs).

- ``passing``: awaiting approval (never "predicted late"), its appointment passes ~8 seconds
  after the worker is up: its letter can only come from a sweep after that moment;
- ``predicted``: in appraisal, less than a working day left: its letter comes at once;
- ``calm``: in appraisal with its real appointment days away, and ``paused`` (waiting for a
  supplement, appointment already past): no letter.

Then the letters, their events, the outbox messages (SMS, e-mail, portal) and what the demo
providers received (``DemoSms``, the e-mail file, ``DemoPortalRecord``) must exist exactly
once, and stay so across further sweeps. The processes are stopped in ``finally``.

The same runs a second time on what ``./scripts/demo`` really uses: a fresh SQLite file
(migrated and filled by ``manage.py`` in subprocesses), where the sweep issues each letter
through the service and the event's messages are written with it (docs/deadlines.md).
"""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection  # noqa: F401 - read by skipif
from django.utils import timezone

from dossiers.models import Apology, Dossier, DossierEvent
from motcua.models import DemoPortalRecord, DemoSms, Heartbeat, OutboxMessage
from tests.dossier_factories import APPLICANT, act, org, receive, version  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent

SWEEP_SECONDS = 3
#: Generous bounds: two Django processes start on a loaded 2-core machine.
START_TIMEOUT = 120
LETTER_TIMEOUT = 90
PASSES_IN = timedelta(seconds=8)
CITIZEN_CHANNELS = ("email", "portal", "sms")


def database_url() -> str:
    db = settings.DATABASES["default"]
    host = db["HOST"] or "127.0.0.1"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


class Demo:
    """The demo's worker and beat as ``scripts/demo`` starts them, logging to files."""

    def __init__(self, tmp_path: Path, database: str):
        self.tmp = tmp_path
        self.database = database
        self.mail_dir = tmp_path / "mail"
        self.mail_dir.mkdir()
        self.logs = {name: tmp_path / f"{name}.log" for name in ("worker", "beat")}
        self.procs: dict[str, subprocess.Popen] = {}

    def env(self) -> dict[str, str]:
        env = {
            k: v for k, v in os.environ.items()
            if k not in ("REDIS_URL", "CELERY_TASK_ALWAYS_EAGER") and not k.startswith("MOTCUA_")
        }
        env.update(
            DATABASE_URL=self.database, BROKER_DIR=str(self.tmp / "broker"),
            MOTCUA_SWEEP_SECONDS=str(SWEEP_SECONDS), HEARTBEAT_SECONDS="2",
            EMAIL_URL=f"filemail:///{self.mail_dir}", PYTHONUNBUFFERED="1", LOG_LEVEL="INFO",
        )
        return env

    def start(self) -> None:
        celery = [sys.executable, "-m", "celery", "-A", "motcua"]
        commands = {
            # INFO: the sweep logs one line per run ("deadline sweep {...}"), counted below.
            "worker": [*celery, "worker", "--pool=solo", "--loglevel=INFO", "--without-gossip",
                       "--without-mingle", "--without-heartbeat"],
            "beat": [*celery, "beat", "--loglevel=INFO", "--schedule", str(self.tmp / "schedule")],
        }
        env = self.env()
        for name, command in commands.items():
            with open(self.logs[name], "wb") as log:
                self.procs[name] = subprocess.Popen(
                    command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # its own session: only what it started
                proc.wait(timeout=10)

    def log(self, name: str) -> str:
        path = self.logs[name]
        return path.read_text("utf-8", "replace") if path.exists() else ""

    def sweeps_done(self) -> int:
        return self.log("worker").count("deadline sweep {")

    def letters_reported(self) -> int:
        """Letters the sweeps say they issued (their log lines), all runs together."""
        return sum(
            int(n) for n in re.findall(r"deadline sweep \{[^}]*'apologies': (\d+)", self.log("worker"))
        )

    def diagnosis(self) -> str:
        parts = []
        for name, proc in self.procs.items():
            parts.append(f"--- {name} (exit code {proc.poll()}), last lines:\n"
                         + "\n".join(self.log(name).splitlines()[-25:]))
        return "\n".join(parts)

    def wait_for(self, condition, *, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                assert proc.poll() is None, f"the {name} died\n{self.diagnosis()}"
            if condition():
                return
            time.sleep(0.5)
        raise AssertionError(f"{what} within {timeout} s\n{self.diagnosis()}")

    def emails_with_key(self, key: str) -> int:
        header = f"X-Motcua-Idempotency-Key: {key}"
        return sum(
            path.read_text("utf-8", "replace").count(header) for path in self.mail_dir.iterdir()
        )


def move_appointment(dossier: Dossier, due_at) -> None:
    """Test set-up only (see the module's docstring): the appointment, nothing else."""
    Dossier.objects.filter(pk=dossier.pk).update(due_at=due_at, original_due_at=due_at)


def told(dossier: Dossier) -> bool:
    """The letter, its event, its three messages sent, and the demo providers' records."""
    event = DossierEvent.objects.filter(dossier=dossier, transition="apology").first()
    if event is None or not Apology.objects.filter(dossier=dossier).exists():
        return False
    sent = OutboxMessage.objects.filter(event=event, status=OutboxMessage.Status.SENT)
    if set(sent.values_list("channel", flat=True)) != set(CITIZEN_CHANNELS):
        return False
    sms = sent.get(channel="sms")
    return (
        DemoSms.objects.filter(key=sms.key).exists()
        and DemoPortalRecord.objects.filter(event_id=event.pk).exists()
    )


def assert_told_exactly_once(demo: Demo, dossier: Dossier) -> Apology:
    letters = list(Apology.objects.filter(dossier=dossier))
    assert len(letters) == 1, letters
    [letter] = letters
    events = list(DossierEvent.objects.filter(dossier=dossier, transition="apology"))
    assert len(events) == 1
    [event] = events
    assert event.actor_id is None and event.data["apology"] == letter.pk
    messages = list(OutboxMessage.objects.filter(event=event).order_by("channel"))
    assert [(m.channel, m.topic) for m in messages] == [
        ("email", "apology"), ("portal", "status"), ("sms", "apology"),
    ]
    assert {m.status for m in messages} == {OutboxMessage.Status.SENT}
    by_channel = {m.channel: m for m in messages}
    assert by_channel["sms"].recipient == APPLICANT["phone"]
    assert by_channel["email"].recipient == APPLICANT["email"]
    new_day = timezone.localtime(letter.new_due_at).strftime("%d/%m/%Y")
    assert new_day in by_channel["sms"].body
    assert DemoSms.objects.filter(key=by_channel["sms"].key).count() == 1
    assert demo.emails_with_key(by_channel["email"].key) == 1
    records = list(DemoPortalRecord.objects.filter(event_id=event.pk))
    assert len(records) == 1
    assert records[0].payload["transition"] == "apology"
    assert records[0].payload["dossier"]["due_at"] == timezone.localtime(letter.new_due_at).isoformat()
    # The portal received this dossier's messages in the order of its events.
    sent_order = list(
        DemoPortalRecord.objects.filter(dossier_code=dossier.code)
        .order_by("id").values_list("event_id", "sequence")
    )
    assert [e for e, _ in sent_order] == sorted(e for e, _ in sent_order)
    assert [s for _, s in sent_order] == list(range(1, len(sent_order) + 1))
    fresh = Dossier.objects.get(pk=dossier.pk)
    assert fresh.due_at == letter.new_due_at
    return letter


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the worker shares the test database")
def test_an_appointment_passing_while_the_demo_runs_gets_its_apology_unattended(org, version, tmp_path):
    officer_path = [("start", org.clerk), ("forward", org.officer),
                    ("submit_for_approval", org.officer)]
    passing = receive(org, version)
    for transition, actor in officer_path:
        passing = act(passing, transition, actor)
    predicted = act(receive(org, version), "start", org.officer)
    calm = act(receive(org, version), "start", org.officer)
    paused = act(
        act(receive(org, version), "start", org.officer), "request_supplement", org.officer,
        missing_documents=["Bản sao giấy tờ pháp lý"],
    )
    calm_due = calm.due_at

    demo = Demo(tmp_path, database_url())
    demo.start()
    try:
        demo.wait_for(
            lambda: Heartbeat.objects.filter(name__in=["worker", "beat"]).count() == 2
            and demo.sweeps_done() >= 1,
            timeout=START_TIMEOUT, what="the worker and beat did not start and sweep",
        )
        assert not Apology.objects.exists()  # nothing was late when they started

        now = timezone.now()
        move_appointment(passing, now + PASSES_IN)
        move_appointment(predicted, now + timedelta(hours=1))  # < 1 working day left
        move_appointment(paused, now - timedelta(days=2))  # paused: the clock is stopped

        demo.wait_for(
            lambda: told(passing) and told(predicted), timeout=LETTER_TIMEOUT,
            what="the letters and their messages did not all come",
        )
        # A few more sweeps: still exactly once.
        sweeps = demo.sweeps_done()
        demo.wait_for(
            lambda: demo.sweeps_done() >= sweeps + 2, timeout=LETTER_TIMEOUT,
            what="the beat stopped sweeping",
        )
    finally:
        demo.stop()

    late = assert_told_exactly_once(demo, passing)
    assert late.for_due_at == now + PASSES_IN
    assert late.issued_at >= late.for_due_at  # issued by a sweep after the appointment passed
    assert late.already_late and late.kind == Apology.Kind.AUTO and late.issued_by is None
    assert late.state == "awaiting_approval"
    assert late.at_fault_step.name == "Phê duyệt, ký kết quả"
    assert Dossier.objects.get(pk=passing.pk).is_overdue  # it missed an appointment

    early = assert_told_exactly_once(demo, predicted)
    assert not early.already_late and early.issued_at < early.for_due_at
    assert early.at_fault_unit == org.units_a["CM"]
    assert not Dossier.objects.get(pk=predicted.pk).is_overdue  # not missed (yet)

    for quiet in (calm, paused):
        assert not Apology.objects.filter(dossier=quiet).exists()
        assert not DossierEvent.objects.filter(dossier=quiet, transition="apology").exists()
    assert Dossier.objects.get(pk=calm.pk).due_at == calm_due
    # Through the embedded broker: beat sent the sweeps, the worker ran the batch's
    # notification task it had enqueued itself on commit.
    assert "Sending due task sweep-deadlines" in demo.log("beat")
    assert "Task dossiers.publish_events[" in demo.log("worker")
    assert demo.letters_reported() == 2


# ---------------------------------------------------------------------------------------------
# The zero-setup demo itself: SQLite, the embedded broker, the one-by-one path
# ---------------------------------------------------------------------------------------------

#: Run by ``manage.py shell`` against the demo's SQLite file: the same dossiers, through the
#: services (their own on-commit tasks go to the embedded broker, as at the desk).
SQLITE_SETUP = """
import json
from tests.dossier_factories import act, build_org, make_procedure, receive
org = build_org()
version = make_procedure(agency=org.a)
passing = receive(org, version)
for name, actor in (("start", org.clerk), ("forward", org.officer),
                    ("submit_for_approval", org.officer)):
    passing = act(passing, name, actor)
predicted = act(receive(org, version), "start", org.officer)
calm = act(receive(org, version), "start", org.officer)
print("DOSSIERS=" + json.dumps({"passing": passing.pk, "predicted": predicted.pk,
                                "calm": calm.pk}))
"""


def sqlite_moment(moment) -> str:
    """A moment as Django stores it in SQLite (UTC, naive, ``str()``), so comparisons agree."""
    return str(moment.astimezone(UTC).replace(tzinfo=None))


def manage(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=timeout,
    )
    assert result.returncode == 0, f"manage.py {args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


class SqliteDemo(Demo):
    def __init__(self, tmp_path: Path):
        self.file = tmp_path / "demo.sqlite3"
        super().__init__(tmp_path, f"sqlite:///{self.file}")

    def query(self, sql: str, *params) -> list[tuple]:
        with sqlite3.connect(self.file, timeout=30) as db:
            return db.execute(sql, params).fetchall()

    def one(self, sql: str, *params):
        return self.query(sql, *params)[0][0]

    def letters(self, dossier_id: int) -> list[tuple]:
        return self.query(
            "SELECT id, number, issued_at, for_due_at, new_due_at, kind, issued_by_id "
            "FROM dossiers_apology WHERE dossier_id = ?", dossier_id,
        )

    def letter_events(self, dossier_id: int) -> list[tuple]:
        return self.query(
            "SELECT id, actor_id, data FROM dossiers_dossierevent "
            "WHERE dossier_id = ? AND transition = 'apology'", dossier_id,
        )

    def messages(self, event_id: int) -> list[tuple]:
        return self.query(
            "SELECT channel, topic, status, key FROM motcua_outboxmessage WHERE event_id = ? "
            "ORDER BY channel", event_id,
        )

    def told(self, dossier_id: int) -> bool:
        events = self.letter_events(dossier_id)
        if len(events) != 1 or not self.letters(dossier_id):
            return False
        event_id = events[0][0]
        messages = self.messages(event_id)
        if {(m[0], m[2]) for m in messages} != {(c, "sent") for c in CITIZEN_CHANNELS}:
            return False
        sms_key = next(m[3] for m in messages if m[0] == "sms")
        return (
            self.one("SELECT count(*) FROM motcua_demosms WHERE key = ?", sms_key) >= 1
            and self.one("SELECT count(*) FROM motcua_demoportalrecord WHERE event_id = ?",
                         event_id) >= 1
        )

    def assert_told_exactly_once(self, dossier_id: int) -> tuple:
        letters = self.letters(dossier_id)
        assert len(letters) == 1, letters
        events = self.letter_events(dossier_id)
        assert len(events) == 1, events
        event_id, actor_id, data = events[0]
        assert actor_id is None and json.loads(data)["apology"] == letters[0][0]
        messages = self.messages(event_id)
        assert [(m[0], m[1], m[2]) for m in messages] == [
            ("email", "apology", "sent"), ("portal", "status", "sent"), ("sms", "apology", "sent"),
        ]
        keys = {m[0]: m[3] for m in messages}
        assert self.one("SELECT count(*) FROM motcua_demosms WHERE key = ?", keys["sms"]) == 1
        assert self.emails_with_key(keys["email"]) == 1
        assert self.one(
            "SELECT count(*) FROM motcua_demoportalrecord WHERE event_id = ?", event_id
        ) == 1
        due = self.one("SELECT due_at FROM dossiers_dossier WHERE id = ?", dossier_id)
        assert due == letters[0][4]  # the appointment moved to the letter's new one
        return letters[0]


def test_the_sqlite_demo_apologises_for_a_passing_appointment_unattended(tmp_path):
    demo = SqliteDemo(tmp_path)
    env = demo.env()
    manage(env, "migrate", "--noinput", "-v0")
    out = manage(env, "shell", "-c", SQLITE_SETUP)
    ids = json.loads(next(line for line in out.splitlines() if line.startswith("DOSSIERS="))[9:])
    calm_due = demo.one("SELECT due_at FROM dossiers_dossier WHERE id = ?", ids["calm"])

    demo.start()
    try:
        demo.wait_for(
            lambda: demo.one("SELECT count(*) FROM motcua_heartbeat WHERE name IN "
                             "('worker', 'beat')") == 2 and demo.sweeps_done() >= 1,
            timeout=START_TIMEOUT, what="the worker and beat did not start and sweep",
        )
        assert demo.one("SELECT count(*) FROM dossiers_apology") == 0
        now = timezone.now()
        passes_at = sqlite_moment(now + PASSES_IN)
        with sqlite3.connect(demo.file, timeout=30) as db:
            db.execute("UPDATE dossiers_dossier SET due_at = ?, original_due_at = ? WHERE id = ?",
                       (passes_at, passes_at, ids["passing"]))
            soon = sqlite_moment(now + timedelta(hours=1))
            db.execute("UPDATE dossiers_dossier SET due_at = ?, original_due_at = ? WHERE id = ?",
                       (soon, soon, ids["predicted"]))
        demo.wait_for(
            lambda: demo.told(ids["passing"]) and demo.told(ids["predicted"]),
            timeout=LETTER_TIMEOUT, what="the letters and their messages did not all come",
        )
        sweeps = demo.sweeps_done()
        demo.wait_for(lambda: demo.sweeps_done() >= sweeps + 2, timeout=LETTER_TIMEOUT,
                      what="the beat stopped sweeping")
    finally:
        demo.stop()

    _, number, issued_at, for_due_at, _, kind, issued_by = demo.assert_told_exactly_once(
        ids["passing"]
    )
    assert (number, kind, issued_by) == (1, "auto", None)
    assert for_due_at == passes_at and issued_at >= for_due_at  # after it passed
    _, _, issued_at, for_due_at, _, _, _ = demo.assert_told_exactly_once(ids["predicted"])
    assert issued_at < for_due_at  # predicted late: before the appointment
    assert demo.query("SELECT id FROM dossiers_apology WHERE dossier_id = ?", ids["calm"]) == []
    assert demo.one("SELECT due_at FROM dossiers_dossier WHERE id = ?", ids["calm"]) == calm_due
    assert "Sending due task sweep-deadlines" in demo.log("beat")
    assert demo.letters_reported() == 2
