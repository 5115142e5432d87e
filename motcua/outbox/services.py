"""Writing to the outbox: in the transaction of whatever caused the messages."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone

from motcua import notify
from motcua.models import DueSoonNotified, OutboxMessage, StaffNotice, StaffRole

Status = OutboxMessage.Status

#: Dossiers handled per transaction by the due-soon pass.
DUE_SOON_CHUNK = 2000


def outbox_record_event(*, event, dossier, actor=None) -> int:
    """Store every message ``event`` causes (``motcua.notify``), in the caller's transaction:
    the event and its messages commit together or not at all. Keys are ``<event id>:<channel>:
    <recipient>`` and unique, so recording an event again adds nothing. Returns the number of
    messages decided on."""
    messages = notify.messages_for_event(event=event, dossier=dossier, actor=actor)
    return _store(messages, prefix=str(event.pk), dossier_id=dossier.pk, event_id=event.pk)


def outbox_record_events(*, event_ids: Sequence[int]) -> int:
    """:func:`outbox_record_event` for a batch of events written without ``append_event`` (the
    deadline sweep inserts its letters' events with one SQL statement and records their
    messages afterwards, docs/deadlines.md). A handful of queries whatever the batch size; the
    caller holds the dossiers' row locks. Events already recorded add nothing (unique keys).

    Recorded late, an event may already be followed by a later one whose portal message exists:
    its own portal message is then left out (the later one already carries the dossier as it
    stands, moved appointment included), so that the portal never sees a status go back. The
    citizen's and staff's messages are still written. Returns the number of messages written.
    """
    from dossiers.models import DossierEvent

    events = list(
        DossierEvent.objects.filter(pk__in=list(event_ids))
        .select_related(
            "actor", "step__unit", "step__agency", "dossier__agency",
            "dossier__procedure_version__procedure", "dossier__current_step",
        )
        .order_by("id")
    )
    if not events:
        return 0
    portal_rows = (
        OutboxMessage.objects.filter(
            dossier_id__in={e.dossier_id for e in events}, channel=OutboxMessage.Channel.PORTAL,
        ).values("dossier_id").annotate(n=Count("id"), last_event=Max("event_id"))
    )
    counts = {row["dossier_id"]: row["n"] for row in portal_rows}
    published_up_to = {row["dossier_id"]: row["last_event"] or 0 for row in portal_rows}
    recorded = set(
        OutboxMessage.objects.filter(event_id__in=[e.pk for e in events])
        .values_list("event_id", flat=True).distinct()
    )
    rows = []
    for event in events:
        if event.pk in recorded:
            continue
        superseded = event.pk < published_up_to.get(event.dossier_id, 0)
        sequence = None
        if not superseded and notify.publishes_to_portal(event):
            counts[event.dossier_id] = sequence = counts.get(event.dossier_id, 0) + 1
            published_up_to[event.dossier_id] = event.pk
        messages = notify.messages_for_event(
            event=event, dossier=event.dossier, actor=event.actor, portal_sequence=sequence,
            portal=not superseded,
        )
        rows.extend(_rows(messages, prefix=str(event.pk), dossier_id=event.dossier_id,
                          event_id=event.pk))
    OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


def outbox_record_due_soon(*, now: datetime | None = None) -> int:
    """Tell the staff of each open dossier the deadline sweep flagged ``is_due_soon`` — once
    per dossier and appointment (``DueSoonNotified``). Set-based: one query finds the dossiers
    not yet told, one finds the staff of their steps. Safe to run twice or twice at once (the
    marks and the message keys are unique). Returns the number of dossiers marked."""
    from dossiers.models import OPEN_STATES, Dossier

    now = now or timezone.now()
    told = DueSoonNotified.objects.filter(dossier=OuterRef("pk"), due_at=OuterRef("due_at"))
    total = 0
    while True:
        with transaction.atomic():
            dossiers = list(
                Dossier.objects.filter(is_due_soon=True, state__in=OPEN_STATES, due_at__isnull=False)
                .exclude(Exists(told))
                .select_related("procedure_version", "current_step")
                .order_by("id")[:DUE_SOON_CHUNK]
            )
            if not dossiers:
                return total
            staff = _staff_of_steps(d for d in dossiers if not d.current_handler_id)
            messages_by_prefix = []
            for dossier in dossiers:
                users = (
                    [dossier.current_handler_id] if dossier.current_handler_id
                    else staff.get((dossier.current_unit_id, dossier.current_role), [])
                )
                messages = notify.staff_notices(
                    StaffNotice.Kind.DUE_SOON, dossier=dossier, users=users
                )
                prefix = f"due_soon:{dossier.pk}:{int(dossier.due_at.timestamp())}"
                messages_by_prefix.append((prefix, dossier.pk, messages))
            DueSoonNotified.objects.bulk_create(
                [DueSoonNotified(dossier=d, due_at=d.due_at, created_at=now) for d in dossiers],
                ignore_conflicts=True,
            )
            rows = [
                row
                for prefix, dossier_id, messages in messages_by_prefix
                for row in _rows(messages, prefix=prefix, dossier_id=dossier_id, now=now)
            ]
            OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
            total += len(dossiers)
        if len(dossiers) < DUE_SOON_CHUNK:
            return total


def _staff_of_steps(dossiers) -> dict[tuple[int, str], list[int]]:
    pairs = {(d.current_unit_id, d.current_role) for d in dossiers if d.current_unit_id}
    if not pairs:
        return {}
    query = Q()
    for unit_id, role in pairs:
        query |= Q(unit_id=unit_id, role=role)
    staff: dict[tuple[int, str], list[int]] = defaultdict(list)
    rows = (
        StaffRole.objects.filter(query, user__is_active=True)
        .order_by("user_id").values_list("unit_id", "role", "user_id")
    )
    for unit_id, role, user_id in rows:
        if user_id not in staff[(unit_id, role)]:
            staff[(unit_id, role)].append(user_id)
    return staff


def _rows(messages, *, prefix: str, dossier_id, event_id=None, now=None) -> list[OutboxMessage]:
    now = now or timezone.now()
    rows: dict[str, OutboxMessage] = {}
    for message in messages:
        key = message.key(prefix)
        rows.setdefault(key, OutboxMessage(
            key=key, channel=message.channel, topic=message.topic, recipient=message.recipient,
            user_id=message.user_id, subject=message.subject, body=message.body,
            payload=message.payload, dossier_id=dossier_id, event_id=event_id,
            status=Status.PENDING, next_attempt_at=now, created_at=now,
        ))
    return list(rows.values())


def _store(messages, *, prefix: str, dossier_id, event_id=None) -> int:
    rows = _rows(messages, prefix=prefix, dossier_id=dossier_id, event_id=event_id)
    if rows and connection.vendor == "postgresql":
        # One prepared INSERT … ON CONFLICT DO NOTHING: the same statement bulk_create makes,
        # without compiling it again for every event (dossiers.services._common).
        from dossiers.services._common import insert_rows

        insert_rows(rows, ignore_conflicts=True)
    elif rows:
        OutboxMessage.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)


def outbox_requeue(*, messages: QuerySet, now: datetime | None = None) -> int:
    """Give failed or dead messages a fresh set of attempts, due now (the admin's "send
    again"). A sent message is never requeued: that would send it twice."""
    return messages.filter(status__in=[Status.FAILED, Status.DEAD]).update(
        status=Status.PENDING, attempts=0, next_attempt_at=now or timezone.now(),
    )


def retry_delay(attempts: int) -> timedelta:
    """Back-off after the ``attempts``-th failed attempt: base × 2^(attempts − 1), capped."""
    base = settings.MOTCUA_OUTBOX_RETRY_BASE_SECONDS
    cap = settings.MOTCUA_OUTBOX_RETRY_MAX_SECONDS
    return timedelta(seconds=min(base * 2 ** max(attempts - 1, 0), cap))
