"""Background work of the shared core. Tasks are named, ``acks_late`` and safe to run twice."""

from celery import shared_task
from django.utils import timezone

from motcua.models import Heartbeat


@shared_task(name="motcua.heartbeat", acks_late=True, ignore_result=True)
def heartbeat() -> None:
    """Beat sends this every minute; the worker stamps its own sign of life."""
    Heartbeat.objects.update_or_create(name="worker", defaults={"at": timezone.now()})


@shared_task(name="motcua.deliver_outbox", acks_late=True, ignore_result=True)
def deliver_outbox(dossier_id: int | None = None) -> dict:
    """Send every outbox message that is due (beat: every minute, the safety net behind the
    on-commit ``dossiers.publish_event``). Rows are locked one at a time with SKIP LOCKED, so
    two runs at once, or a run repeated after a lost worker (``acks_late``), send nothing
    twice."""
    from motcua.outbox import outbox_deliver

    return outbox_deliver(dossier_id=dossier_id).as_dict()


@shared_task(name="motcua.notice_due_soon", acks_late=True, ignore_result=True)
def notice_due_soon() -> dict:
    """In-app notices for dossiers the deadline sweep flagged due soon, once per dossier and
    appointment, then deliver them."""
    from motcua.models import OutboxMessage
    from motcua.outbox import outbox_deliver, outbox_record_due_soon

    marked = outbox_record_due_soon()
    report = outbox_deliver(channels=[OutboxMessage.Channel.NOTICE])
    return {"dossiers": marked, **report.as_dict()}
