"""The system's own health, for /health/ and `manage.py health` (container health checks)."""

import logging
from datetime import timedelta

from django.db import connection
from django.utils import timezone

HEARTBEAT_STALE_AFTER = timedelta(minutes=3)
logger = logging.getLogger(__name__)


def _broker_status() -> str:
    from motcua.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:  # the text goes to the orchestrator, never a stack trace
        return f"error: {type(exc).__name__}"


def dead_outbox_messages() -> dict[str, int]:
    """Messages the outbox gave up on (``dead``: an admin must look, and a dead portal message
    holds back its dossier's later ones), counted per channel. Cheap: the partial index
    ``outbox_attention_idx`` holds only failed and dead rows."""
    from django.db.models import Count

    from motcua.models import OutboxMessage

    rows = (
        OutboxMessage.objects.filter(status=OutboxMessage.Status.DEAD)
        .values("channel").annotate(n=Count("id")).order_by("channel")
    )
    return {row["channel"]: row["n"] for row in rows}


def health_status() -> dict:
    """Each of database, broker, worker, beat: "ok" or a short error text (no personal data).

    Only when something needs a person's attention without the system being down, a
    ``warnings`` object is added (it never makes /health/ answer 503): ``outbox_dead``, the
    number of given-up outbox messages per channel (``{"portal": 2}``)."""
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
    try:
        dead = dead_outbox_messages()
    except Exception:  # a warning must never take the health check down
        logger.exception("health: could not count dead outbox messages")
        dead = {}
    if dead:
        status["warnings"] = {"outbox_dead": dead}
    return status
