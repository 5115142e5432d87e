"""Background work on dossiers. Tasks take ids, are idempotent and safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task(name="dossiers.publish_event", acks_late=True, ignore_result=True)
def publish_event(event_id: int) -> None:
    """Deliver the messages of one committed dossier event now: :func:`deliver_events` of
    one event (kept for messages queued by an earlier release)."""
    deliver_events([event_id])


@shared_task(name="dossiers.deliver_events", acks_late=True, ignore_result=True)
def deliver_events(event_ids: list[int], request_ids: list[str] | None = None) -> None:
    """Deliver the messages of committed dossier events now. ``append_event`` gathers the
    events a web process commits within a quarter of a second into one such message
    (``motcua.outbox.publication``).

    The messages themselves were written to the outbox in each event's transaction; this only
    sends what is due for the events' dossiers (``motcua.outbox.outbox_deliver``), so a
    dossier's earlier portal messages go first. Running it twice sends nothing twice; if it
    never runs (broker down, web process killed), ``motcua.deliver_outbox`` on the beat sends
    the same rows. ``request_ids``: the request that wrote each event, logged with it (one
    message serves the requests of a window: the worker's own log lines carry the task's id).
    """
    from dossiers.models import NATIONAL_STATUS, DossierEvent, State
    from motcua.outbox import outbox_deliver

    events = list(
        DossierEvent.objects.select_related("dossier")
        .filter(pk__in=list(event_ids))
        .only("id", "transition", "from_state", "to_state", "at", "dossier__code")
        .order_by("id")
    )
    missing = len(set(event_ids)) - len(events)
    if missing:
        logger.warning("dossiers.deliver_events: %s of %s events not found (rolled back?)",
                       missing, len(set(event_ids)))
    if not events:
        return
    requests = dict(zip(event_ids, request_ids or (), strict=False))
    for event in events:
        status = NATIONAL_STATUS.get(State(event.to_state)) if event.to_state in State.values else None
        logger.info(
            "dossier %s: %s %s→%s (national status %s) at %s%s",
            event.dossier.code, event.transition, event.from_state or "∅", event.to_state,
            status, event.at.isoformat(),
            f" (request {requests[event.pk]})" if requests.get(event.pk) else "",
        )
    outbox_deliver(dossier_ids={event.dossier_id for event in events})


@shared_task(name="dossiers.publish_events", acks_late=True, ignore_result=True)
def publish_events(event_ids: list[int]) -> None:
    """Record and send the messages of a batch of events written in bulk: the deadline sweep
    issues thousands of letters at once (one task message per batch, not one per letter), and
    leaves their outbox messages (SMS, e-mail, portal) to this task — rendering them costs ten
    times the letter itself (docs/deadlines.md). Idempotent: message keys are unique, so
    recording twice adds nothing and ``outbox_deliver`` never sends a message twice.

    If this task is lost (broker down when the batch committed, worker killed), the next sweep
    records the missing messages itself (``dossiers.deadlines._record_unannounced``).
    Recording happens under the dossiers' row locks, as every writer of messages holds them.
    """
    from django.db import transaction

    from dossiers.models import Dossier, DossierEvent
    from motcua.outbox import outbox_deliver, outbox_record_events

    dossier_ids = set(
        DossierEvent.objects.filter(pk__in=event_ids).values_list("dossier_id", flat=True)
    )
    if not dossier_ids:
        logger.warning("dossiers.publish_events: none of %s events exists", len(event_ids))
        return
    with transaction.atomic():
        list(
            Dossier.objects.select_for_update().filter(pk__in=dossier_ids)
            .order_by("pk").values_list("pk", flat=True)
        )
        recorded = outbox_record_events(event_ids=event_ids)
    logger.info("dossiers.publish_events: %s messages recorded", recorded)
    logger.info("publishing %s events of %s dossiers", len(event_ids), len(dossier_ids))
    outbox_deliver(dossier_ids=dossier_ids)


@shared_task(name="dossiers.sweep_deadlines", acks_late=True, ignore_result=True)
def sweep_deadlines(at: str | None = None) -> dict:
    """The deadline sweep (``dossiers.deadlines.deadline_sweep``): due-soon and overdue flags,
    apology letters. Idempotent: a second run, a concurrent one, or a re-delivery after a worker
    died mid-sweep (``acks_late``) issues no letter twice and loses none. ``at``: ISO moment to
    run as of (default: now)."""
    from dossiers.deadlines import deadline_sweep, parse_moment

    result = deadline_sweep(at=parse_moment(at) if at else None)
    return result.as_dict()
