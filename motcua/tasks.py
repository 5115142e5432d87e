from celery import shared_task
from django.utils import timezone

from motcua.models import Heartbeat


@shared_task(name="motcua.heartbeat", acks_late=True, ignore_result=True)
def heartbeat() -> None:
    """Beat sends this every minute; the worker stamps its own sign of life."""
    Heartbeat.objects.update_or_create(name="worker", defaults={"at": timezone.now()})
