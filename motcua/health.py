"""The system's own health, for /health/ and `manage.py health` (container health checks)."""

from datetime import timedelta

from django.db import connection
from django.utils import timezone

HEARTBEAT_STALE_AFTER = timedelta(minutes=3)


def _broker_status() -> str:
    from motcua.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:  # the text goes to the orchestrator, never a stack trace
        return f"error: {type(exc).__name__}"


def health_status() -> dict[str, str]:
    """Each of database, broker, worker, beat: "ok" or a short error text (no personal data)."""
    from motcua.models import Heartbeat

    status = {"database": "ok", "broker": "unknown", "worker": "unknown", "beat": "unknown"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        beats = dict(Heartbeat.objects.values_list("name", "at"))
    except Exception as exc:
        status["database"] = f"error: {type(exc).__name__}"
        return status
    status["broker"] = _broker_status()
    now = timezone.now()
    for name in ("worker", "beat"):
        at = beats.get(name)
        if at is None:
            status[name] = "error: no heartbeat yet"
        elif now - at > HEARTBEAT_STALE_AFTER:
            status[name] = f"error: last heartbeat {at.isoformat()}"
        else:
            status[name] = "ok"
    return status
