"""The outbox: every message the system sends (SMS and e-mail to citizens, in-app notices to
staff, status updates to the national portal) is first a row of ``OutboxMessage``, written in
the same transaction as the event that caused it; a Celery task delivers the rows. The table,
not the broker, is the source of truth (docs/integrations.md).

- :func:`outbox_record_event` — the messages of one dossier event (called by
  ``dossiers.services._common.append_event``);
- :func:`outbox_record_events` — the same for a batch of events inserted in bulk (the deadline
  sweep's apology letters), in the batch's transaction;
- :func:`outbox_record_due_soon` — notices for dossiers the sweep flagged due soon;
- :func:`outbox_deliver` — send what is due (tasks ``motcua.deliver_outbox`` and
  ``dossiers.publish_event``);
- :func:`outbox_requeue` — send failed or dead messages again (admin action).
"""

from motcua.outbox.delivery import DeliveryReport, due_messages, outbox_deliver
from motcua.outbox.errors import PermanentDeliveryError
from motcua.outbox.services import (
    outbox_record_due_soon,
    outbox_record_event,
    outbox_record_events,
    outbox_requeue,
    retry_delay,
)

__all__ = [
    "DeliveryReport",
    "PermanentDeliveryError",
    "due_messages",
    "outbox_deliver",
    "outbox_record_due_soon",
    "outbox_record_event",
    "outbox_record_events",
    "outbox_requeue",
    "retry_delay",
]
