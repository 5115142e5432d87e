"""Delivering the outbox (docs/integrations.md, "Delivery").

One message per transaction: lock the row (``SELECT … FOR UPDATE SKIP LOCKED``, so workers
running side by side never take the same message), call the provider while holding the lock,
then in the same transaction mark it ``sent`` — or count the failed attempt and set the next
one with exponential back-off, or give it up (``dead``) after ``MOTCUA_OUTBOX_MAX_ATTEMPTS`` or
on a :class:`PermanentDeliveryError`.

At the provider boundary this is *at least once*: if the process dies after the provider
accepted a message and before our commit, the row is still pending and the message is sent
again. Each provider receives the message's key (``idempotency_key``: the SMS gateway's client
request id, the e-mail's ``Message-ID``, the portal's ``Idempotency-Key`` header and the
``event_id`` in the payload) so that it can drop the repeat. Where the provider is our own
database (staff notices, the demo tables) the write and the mark commit together: exactly once.

Portal messages go out in order per dossier: a dossier's portal message is due only when every
earlier portal message of that dossier is sent (a dead one holds the rest back until an admin
sends it again). Other dossiers, and other channels, are not held back.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.mail import EmailMessage
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from motcua.models import OutboxMessage, StaffNotice
from motcua.outbox.errors import PermanentDeliveryError
from motcua.outbox.services import retry_delay

logger = logging.getLogger("motcua.outbox")
Channel = OutboxMessage.Channel
Status = OutboxMessage.Status


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    keys: list[str] = field(default_factory=list)

    @property
    def attempted(self) -> int:
        return self.sent + self.failed + self.dead

    def as_dict(self) -> dict:
        return {"sent": self.sent, "failed": self.failed, "dead": self.dead}


def due_messages(
    *, now: datetime, dossier_ids: Iterable[int] | None = None,
    channels: Iterable[str] | None = None,
) -> QuerySet:
    """Messages to send now: pending or failed, due, and — for the portal — with every earlier
    portal message of their dossier sent."""
    earlier_unsent = OutboxMessage.objects.filter(
        channel=Channel.PORTAL, dossier_id=OuterRef("dossier_id"), pk__lt=OuterRef("pk"),
    ).exclude(status=Status.SENT)
    messages = OutboxMessage.objects.filter(
        status__in=[Status.PENDING, Status.FAILED], next_attempt_at__lte=now,
    ).filter(~Q(channel=Channel.PORTAL) | ~Exists(earlier_unsent))
    if dossier_ids is not None:
        messages = messages.filter(dossier_id__in=list(dossier_ids))
    if channels is not None:
        messages = messages.filter(channel__in=list(channels))
    return messages.order_by("id")


def outbox_deliver(
    *, dossier_id: int | None = None, dossier_ids: Iterable[int] | None = None,
    channels: Iterable[str] | None = None, now: datetime | None = None,
    limit: int | None = None,
) -> DeliveryReport:
    """Send what is due (of one dossier, of some dossiers, of some channels, or all), one
    message per transaction, until nothing is due or ``limit`` (``MOTCUA_OUTBOX_BATCH``)
    messages were tried. Idempotent: a message sent is never taken again, so running it twice
    (or on two workers at once) sends nothing twice."""
    report = DeliveryReport()
    limit = limit or settings.MOTCUA_OUTBOX_BATCH
    channels = list(channels) if channels is not None else None
    if dossier_id is not None:
        dossier_ids = [dossier_id]
    dossier_ids = list(dossier_ids) if dossier_ids is not None else None
    while report.attempted < limit:
        moment = now or timezone.now()
        with transaction.atomic():
            message = (
                due_messages(now=moment, dossier_ids=dossier_ids, channels=channels)
                .select_for_update(skip_locked=True, of=("self",))
                .first()
            )
            if message is None:
                break
            _deliver(message, now=moment, report=report)
    if report.attempted:
        logger.info("outbox: %s", report.as_dict())
    return report


def _deliver(message: OutboxMessage, *, now: datetime, report: DeliveryReport) -> None:
    try:
        # A savepoint: a provider writing to our database (demo tables, notices) and failing
        # leaves the transaction usable to record the failure.
        with transaction.atomic():
            reference = send(message)
    except PermanentDeliveryError as exc:
        record_failure(message, exc, now=now, permanent=True)
        report.dead += 1
    except Exception as exc:
        record_failure(message, exc, now=now)
        if message.status == Status.DEAD:
            report.dead += 1
        else:
            report.failed += 1
    else:
        mark_sent(message, reference, now=now)
        report.sent += 1
        report.keys.append(message.key)


def mark_sent(message: OutboxMessage, reference: str, *, now: datetime) -> None:
    """In the transaction that holds the row lock: the provider accepted the message."""
    message.status = Status.SENT
    message.attempts += 1
    message.sent_at = now
    message.provider_ref = (reference or "")[:255]
    message.save(update_fields=["status", "attempts", "sent_at", "provider_ref"])


def record_failure(message: OutboxMessage, exc: BaseException, *, now: datetime, permanent=False) -> None:
    message.attempts += 1
    message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    if permanent or message.attempts >= settings.MOTCUA_OUTBOX_MAX_ATTEMPTS:
        message.status = Status.DEAD
        logger.error(
            "outbox: giving up %s after %s attempt(s): %s", message.key, message.attempts,
            message.last_error,
        )
    else:
        message.status = Status.FAILED
        message.next_attempt_at = now + retry_delay(message.attempts)
        logger.warning(
            "outbox: %s failed (attempt %s, next at %s): %s", message.key, message.attempts,
            message.next_attempt_at.isoformat(), message.last_error,
        )
    message.save(update_fields=["status", "attempts", "last_error", "next_attempt_at"])


# ---------------------------------------------------------------------------------------------
# The channels
# ---------------------------------------------------------------------------------------------


def send(message: OutboxMessage) -> str:
    """Hand one message to its provider; returns the provider's reference."""
    if message.channel == Channel.SMS:
        from motcua.integrations.sms import send_sms

        return send_sms(to=message.recipient, text=message.body, idempotency_key=message.key)
    if message.channel == Channel.EMAIL:
        return send_email(message)
    if message.channel == Channel.PORTAL:
        from motcua.integrations.portal import publish_to_portal

        return publish_to_portal(payload=message.payload, idempotency_key=message.key)
    if message.channel == Channel.NOTICE:
        return create_notice(message)
    raise PermanentDeliveryError(f"Unknown channel {message.channel!r}")


def message_id(key: str) -> str:
    """A ``Message-ID`` derived from the key: a resent e-mail carries the same id, which mail
    servers and clients use to drop duplicates."""
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip("> ") or "motcua.local"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain}>"


def send_email(message: OutboxMessage) -> str:
    try:
        validate_email(message.recipient)
    except DjangoValidationError:
        raise PermanentDeliveryError(f"Địa chỉ thư không hợp lệ: {message.recipient!r}") from None
    msgid = message_id(message.key)
    email = EmailMessage(
        subject=message.subject, body=message.body, to=[message.recipient],
        headers={"Message-ID": msgid, "X-Motcua-Idempotency-Key": message.key},
    )
    try:
        count = email.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentDeliveryError(str(exc)) from exc
    if not count:
        raise RuntimeError("the mail backend sent nothing")
    return msgid


def create_notice(message: OutboxMessage) -> str:
    if not message.user_id:
        raise PermanentDeliveryError("the member of staff no longer exists")
    payload = message.payload or {}
    notice, _created = StaffNotice.objects.get_or_create(
        message=message,
        defaults={
            "user_id": message.user_id, "kind": payload.get("kind") or message.topic,
            "dossier_id": message.dossier_id, "title": message.subject, "body": message.body,
            "url": payload.get("url", ""), "created_at": message.created_at,
        },
    )
    return f"notice-{notice.pk}"
