"""Background work on dossiers. Tasks take ids, are idempotent and safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="dossiers.publish_event", acks_late=True, ignore_result=True)
def publish_event(event_id: int) -> None:
    """Publish one dossier event (status change) to the outside world.

    For now it only logs: the national-portal outbox (a later issue) delivers, retries and
    records delivery in its own table, since the event log itself is never updated. Running it
    twice for the same event does nothing more than log twice.
    """
    from dossiers.models import NATIONAL_STATUS, DossierEvent, State

    event = (
        DossierEvent.objects.select_related("dossier")
        .filter(pk=event_id)
        .only("id", "transition", "from_state", "to_state", "at", "dossier__code")
        .first()
    )
    if event is None:
        logger.warning("dossiers.publish_event: no event %s (rolled back?)", event_id)
        return
    status = NATIONAL_STATUS.get(State(event.to_state)) if event.to_state in State.values else None
    logger.info(
        "dossier %s: %s %s→%s (national status %s) at %s",
        event.dossier.code, event.transition, event.from_state or "∅", event.to_state,
        status, event.at.isoformat(),
    )
