"""The demo's Celery worker and beat really run on the embedded broker, with no services."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from motcua.models import Heartbeat

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db(transaction=True)


def database_url() -> str:
    db = settings.DATABASES["default"]
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{db['USER']}@{host}:{db['PORT'] or 5432}/{db['NAME']}"


def test_worker_and_beat_run_on_the_embedded_broker(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CELERY_TASK_ALWAYS_EAGER")}
    env.update(DATABASE_URL=database_url(), BROKER_DIR=str(tmp_path / "broker"), HEARTBEAT_SECONDS="1")
    celery = [sys.executable, "-m", "celery", "-A", "motcua"]
    worker = subprocess.Popen(
        [*celery, "worker", "--pool=solo", "--loglevel=WARNING"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    beat = subprocess.Popen(
        [*celery, "beat", "--loglevel=WARNING", "--schedule", str(tmp_path / "schedule")],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if Heartbeat.objects.filter(name__in=["worker", "beat"]).count() == 2:
                break
            time.sleep(0.5)
        assert set(Heartbeat.objects.values_list("name", flat=True)) == {"worker", "beat"}
        assert list((tmp_path / "broker").iterdir()), "the embedded broker's folder was not used"
        from motcua.health import health_status

        status = health_status()
        assert (status["worker"], status["beat"]) == ("ok", "ok")
    finally:
        for proc in (beat, worker):
            proc.terminate()
        for proc in (beat, worker):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
