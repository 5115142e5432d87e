"""What to tell whom, for which event (docs/integrations.md has the same table in prose).

=====================  ==============================  =========================================
event                  who                             how
=====================  ==============================  =========================================
``receive``            the citizen                     SMS, and e-mail if they gave one
``request_supplement`` the citizen                     SMS, e-mail
``refuse``             the citizen                     SMS, e-mail
``apology``            the citizen                     SMS, e-mail (the new appointment)
any event reaching     the citizen                     SMS, e-mail (``approve``, ``deny``, or
``result_ready``                                       ``forward`` in a process without approval)
``stop``               the citizen                     SMS, e-mail
``assign``             the officer assigned            in-app notice
a hand-over (the       the staff of the step reached   in-app notice (the handler if the step
event names the step                                   has one, else everyone holding the
it hands to)                                           step's role in its unit; never the actor)
every event but        the national portal             status message (``integrations.portal``)
``attach``/``assign``
due soon (sweep flag)  the staff of the current step   in-app notice, once per appointment
=====================  ==============================  =========================================

This module only decides and renders (texts: ``templates/notify/<topic>.<sms|email|notice>.txt``);
``motcua.outbox`` stores the messages in the event's transaction and delivers them.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.dateparse import parse_datetime

from motcua.models import OutboxMessage, StaffNotice, StaffRole
from motcua.text import person_name

Channel = OutboxMessage.Channel

# Event names as ``dossiers.models`` spells them (strings here: motcua sits below dossiers).
RECEIVE, REFUSE, REQUEST_SUPPLEMENT = "receive", "refuse", "request_supplement"
DENY, STOP = "deny", "stop"
ASSIGN, ATTACH, APOLOGY, SUBMIT, PAYMENT = "assign", "attach", "apology", "submit", "payment"
RESULT_READY = "result_ready"

#: Citizens: event → topic (the template names). Besides these, any event that brings the
#: dossier to ``result_ready`` tells the citizen the result is ready (:func:`citizen_topic`).
CITIZEN_TOPICS = {
    RECEIVE: "received",
    REQUEST_SUPPLEMENT: "supplement",
    REFUSE: "refused",
    APOLOGY: "apology",
    STOP: "stopped",
}
#: Events that never count as a hand-over, even if their data names a step.
NOT_HAND_OVERS = {ASSIGN, ATTACH, APOLOGY, PAYMENT}
#: Events the portal does not see: internal housekeeping, not a change of the dossier's status,
#: step or appointment.
PORTAL_SILENT = {ATTACH, ASSIGN, PAYMENT}


@dataclass(frozen=True)
class Message:
    """One message to store in the outbox."""

    channel: str
    topic: str
    recipient: str
    subject: str = ""
    body: str = ""
    payload: dict = field(default_factory=dict)
    user_id: int | None = None

    def key(self, prefix: str) -> str:
        """The idempotency key: one message per (cause, channel, recipient)."""
        return f"{prefix}:{self.channel}:{self.recipient}"


# ---------------------------------------------------------------------------------------------
# Decisions
# ---------------------------------------------------------------------------------------------


def citizen_topic(event) -> str | None:
    if event.to_state == RESULT_READY and event.from_state != RESULT_READY:
        return "result_ready"
    return CITIZEN_TOPICS.get(event.transition)


def is_hand_over(event) -> bool:
    """The event handed the dossier to a step: the services write the step reached as
    ``data["to"]`` (``start``, ``forward``, ``submit_for_approval``, ``approve``, ``deny``,
    ``send_back``)."""
    return event.transition not in NOT_HAND_OVERS and bool((event.data or {}).get("to"))


def publishes_to_portal(event) -> bool:
    return event.transition not in PORTAL_SILENT


def messages_for_event(
    *, event, dossier, actor=None, portal_sequence: int | None = None, portal: bool = True
) -> list[Message]:
    """Every message one event causes (inside the event's transaction: reads only).
    ``portal_sequence``: the rank of the event's portal message, when the caller counted it
    (a batch); else counted here. ``portal=False``: no portal message (superseded)."""
    messages: list[Message] = []
    if portal and publishes_to_portal(event):
        messages.append(portal_message(event=event, dossier=dossier, sequence=portal_sequence))
    topic = citizen_topic(event)
    if topic:
        messages.extend(citizen_messages(topic=topic, event=event, dossier=dossier))
    actor_id = getattr(actor, "pk", None)
    if event.transition == ASSIGN:
        officer = (event.data or {}).get("officer")
        if officer and officer != actor_id:
            messages.extend(
                staff_notices(StaffNotice.Kind.ASSIGNED, dossier=dossier, users=[officer],
                              event=event, actor=actor)
            )
    elif is_hand_over(event):
        users = [u for u in step_staff(dossier) if u != actor_id]
        messages.extend(
            staff_notices(StaffNotice.Kind.ARRIVED, dossier=dossier, users=users, event=event,
                          actor=actor)
        )
    return messages


def step_staff(dossier) -> list[int]:
    """Who works the dossier's current step: its handler, else everyone holding the step's role
    in the step's unit."""
    if dossier.current_handler_id:
        return [dossier.current_handler_id]
    if not dossier.current_unit_id or not dossier.current_role:
        return []
    return list(
        StaffRole.objects.filter(
            unit_id=dossier.current_unit_id, role=dossier.current_role, user__is_active=True
        ).order_by("user_id").values_list("user_id", flat=True).distinct()
    )


# ---------------------------------------------------------------------------------------------
# Citizens
# ---------------------------------------------------------------------------------------------


def citizen_messages(*, topic: str, event, dossier) -> list[Message]:
    context = citizen_context(event=event, dossier=dossier)
    messages = []
    if dossier.applicant_phone:
        text = render_text(f"notify/{topic}.sms.txt", context)
        messages.append(Message(
            channel=Channel.SMS, topic=topic, recipient=dossier.applicant_phone.strip(),
            body=sms_text(text),
        ))
    if dossier.applicant_email:
        subject, body = render_email(f"notify/{topic}.email.txt", context)
        messages.append(Message(
            channel=Channel.EMAIL, topic=topic, recipient=dossier.applicant_email.strip().lower(),
            subject=subject, body=body,
        ))
    return messages


def citizen_context(*, event, dossier) -> dict:
    from dossiers.documents import tracking_url

    data = event.data or {}
    agency = dossier.agency
    reasons = [str(r) for r in data.get("reasons") or [] if r]
    if not reasons and event.transition in (REFUSE, DENY) and event.comment:
        reasons = [event.comment]
    return {
        "code": dossier.code,
        "applicant": dossier.applicant_name,
        "procedure": dossier.procedure_version.name,
        "agency": agency.name,
        "agency_address": agency.address,
        "agency_phone": agency.phone,
        "province": settings.MOTCUA_PROVINCE_NAME,
        "received_at": when(dossier.received_at),
        "due_at": when(dossier.due_at),
        "new_due_at": when(_moment(data.get("new_due_at")) or dossier.due_at),
        "previous_due_at": when(_moment(data.get("previous_due_at")) or dossier.original_due_at),
        "apology_reason": data.get("reason") or "",
        "reasons": reasons,
        "missing_documents": [str(d) for d in data.get("missing_documents") or [] if d],
        "legal_basis": data.get("legal_basis") or event.comment or "",
        "denied": dossier.outcome == "denied",
        "by_post": dossier.channel == "post",
        "tracking_url": tracking_url(dossier.code),
    }


# ---------------------------------------------------------------------------------------------
# Staff
# ---------------------------------------------------------------------------------------------


def staff_notices(kind: str, *, dossier, users: Iterable[int], event=None, actor=None) -> list[Message]:
    users = list(dict.fromkeys(u for u in users if u))
    if not users:
        return []
    step = dossier.current_step if dossier.current_step_id else None
    context = {
        "code": dossier.code,
        "procedure": dossier.procedure_version.name,
        "applicant": dossier.applicant_name,
        "due_at": when(dossier.due_at),
        "step": step.name if step else "",
        "step_due_at": when(step.due_at) if step else "",
        "actor": _person(actor),
        "comment": event.comment if event is not None else "",
        "transition": event.transition if event is not None else "",
    }
    title, body = render_email(f"notify/{kind}.notice.txt", context)
    url = reverse("dossier-page", args=[dossier.code])
    return [
        Message(
            channel=Channel.NOTICE, topic=kind, recipient=f"user:{user_id}", subject=title,
            body=body, payload={"kind": kind, "url": url}, user_id=user_id,
        )
        for user_id in users
    ]


def _person(user) -> str:
    if user is None or not getattr(user, "pk", None):
        return ""
    return person_name(user)


# ---------------------------------------------------------------------------------------------
# The portal
# ---------------------------------------------------------------------------------------------


def portal_message(*, event, dossier, sequence: int | None = None) -> Message:
    from motcua.integrations.portal import portal_payload

    if sequence is None and not event.from_state and event.transition in (RECEIVE, SUBMIT):
        sequence = 1  # the event that created the dossier: nothing before it to count
    if sequence is None:
        # Under the dossier's row lock (every writer holds it): no gaps, no twins.
        sequence = OutboxMessage.objects.filter(dossier=dossier, channel=Channel.PORTAL).count() + 1
    payload = portal_payload(event=event, dossier=dossier, sequence=sequence)
    return Message(channel=Channel.PORTAL, topic="status", recipient="portal", payload=payload)


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


def render_text(template: str, context: dict) -> str:
    # Citizens read Vietnamese, whatever language the clerk's screen is in.
    with translation.override("vi"):
        text = render_to_string(template, context)
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def render_email(template: str, context: dict) -> tuple[str, str]:
    """(subject, body): the template's first line is the subject, the rest the body."""
    text = render_text(template, context)
    subject, _, body = text.partition("\n")
    return " ".join(subject.split())[:255], body.strip()


def sms_text(text: str) -> str:
    """One line per paragraph; without diacritics when ``MOTCUA_SMS_UNACCENTED`` (carriers
    bill a Unicode SMS by 70 characters instead of 160, and many brandname routes refuse it)."""
    text = " ".join(text.split())
    return unaccent(text) if settings.MOTCUA_SMS_UNACCENTED else text


class _Unaccented(dict):
    """``str.translate`` table filled on first sight of each character: the character without
    its combining marks (đ, Đ → d, D). One dictionary lookup per character afterwards,
    instead of decomposing every message's text again."""

    def __missing__(self, code: int) -> str:
        char = chr(code)
        plain = {"đ": "d", "Đ": "D"}.get(char) or "".join(
            part for part in unicodedata.normalize("NFD", char) if not unicodedata.combining(part)
        )
        self[code] = plain
        return plain


_UNACCENTED = _Unaccented()


def unaccent(text: str) -> str:
    """Vietnamese without diacritics, case kept: "Hồ sơ Đã" → "Ho so Da"."""
    if text.isascii():
        return text
    return unicodedata.normalize("NFC", text.translate(_UNACCENTED))


def when(moment: datetime | None) -> str:
    """``17:00 ngày 01/12/2025`` in the office's time zone; "" for none."""
    if not moment:
        return ""
    local = timezone.localtime(moment)
    return f"{local:%H:%M} ngày {local:%d/%m/%Y}"


def _moment(value) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        return parse_datetime(value)
    return None
