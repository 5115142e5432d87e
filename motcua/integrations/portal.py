"""The national public-service portal (Cổng Dịch vụ công quốc gia), behind a small interface:
every status change of a dossier is published to it (DOMAIN.md "Beyond the desk").

- :func:`portal_payload` builds the JSON message of one dossier event. The portal's status code
  comes from ``dossiers.models.NATIONAL_STATUS`` and the channel code from
  ``NATIONAL_CHANNEL``: the one table of the mapping, used here and nowhere else.
- ``settings.MOTCUA_PORTAL_ADAPTER`` (a dotted path to a :class:`PortalAdapter` class) chooses
  how it is sent. :class:`DemoPortalAdapter` (the default) records what it would have sent in a
  table (admin: "Bản tin gửi Cổng DVC quốc gia (demo)"); :class:`HttpPortalAdapter` POSTs the
  JSON to ``MOTCUA_PORTAL_URL`` with ``Authorization: Bearer MOTCUA_PORTAL_TOKEN``.

Idempotency: each message carries ``event_id`` (our event, unique) and ``sequence`` (its rank
among the dossier's portal messages, 1, 2, 3 …), and the HTTP adapter sends the outbox key as
the ``Idempotency-Key`` header. Our side never creates two messages for one event; the portal
may receive one message twice (a retry after a lost answer) and must treat a repeated
``event_id`` as already done. Order: the outbox sends a dossier's message only after the one
before it was sent (``motcua.outbox``).
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.module_loading import import_string

from motcua.outbox.errors import PermanentDeliveryError

DEFAULT_ADAPTER = "motcua.integrations.portal.DemoPortalAdapter"
SCHEMA = "motcua.portal-sync/1"
logger = logging.getLogger(__name__)

#: The portal's own names for its status codes (DOMAIN.md "National portal status codes"). Our
#: states map to these codes in ``dossiers.models.NATIONAL_STATUS``.
PORTAL_STATUS_LABELS = {
    1: "Mới đăng ký",
    2: "Được tiếp nhận",
    3: "Không được tiếp nhận",
    4: "Đang xử lý",
    5: "Yêu cầu bổ sung giấy tờ",
    6: "Yêu cầu thực hiện nghĩa vụ tài chính",
    7: "Công dân yêu cầu rút hồ sơ",
    8: "Dừng xử lý",
    9: "Đã xử lý xong",
    10: "Đã trả kết quả",
}

#: HTTP answers that will not change if we ask again: the message is given up (``dead``).
PERMANENT_HTTP = {400, 404, 405, 410, 413, 422}
#: The portal already has this event (a retry after a lost answer): done.
DUPLICATE_HTTP = {409}


class PortalRejected(PermanentDeliveryError):
    """The portal refuses this message for good (malformed, unknown procedure…)."""


class PortalUnavailable(Exception):
    """The portal could not take the message now (network, 5xx, timeout): retried."""


def _iso(value) -> str | None:
    # One way of writing moments in every message: the office's time zone (+07:00).
    return timezone.localtime(value).isoformat() if value else None


def _moment(value):
    return parse_datetime(value) if isinstance(value, str) and value else None


def portal_payload(*, event, dossier, sequence: int) -> dict:
    """The message for one event, as the dossier stands after it. Built once, inside the
    transaction of the event, and stored in the outbox: a retry sends exactly the same bytes."""
    from dossiers.models import NATIONAL_CHANNEL, NATIONAL_STATUS, State
    from procedures.models import Channel

    state = State(event.to_state or dossier.state)
    status = NATIONAL_STATUS[state]
    version = dossier.procedure_version
    step = event.step if event.step_id else None
    data = event.data or {}
    return {
        "schema": SCHEMA,
        "event_id": event.pk,
        "sequence": sequence,
        "occurred_at": _iso(event.at),
        "transition": event.transition,
        "dossier": {
            "code": dossier.code,
            "provisional_code": dossier.provisional_code or "",
            "agency_code": dossier.agency.code,
            "procedure_code": version.procedure.code,
            "procedure_name": version.name,
            "channel": NATIONAL_CHANNEL[Channel(dossier.channel)],
            "status": status,
            "status_label": PORTAL_STATUS_LABELS[status],
            "submitted_at": _iso(dossier.submitted_at),
            "received_at": _iso(dossier.received_at),
            "due_at": _iso(_moment(data.get("new_due_at")) or dossier.due_at),
            "result_ready_at": _iso(dossier.result_ready_at),
            "returned_at": _iso(dossier.returned_at),
            "closed_at": _iso(dossier.closed_at),
            "outcome": dossier.outcome or "",
            # Only what links the dossier to the citizen's portal account.
            "applicant": {
                "name": dossier.applicant_name,
                "id_type": dossier.applicant_id_type,
                "id_number": dossier.applicant_id_number,
            },
        },
        "step": (
            {"position": step.position, "name": step.name, "agency_code": step.agency.code,
             "unit_code": step.unit.code}
            if step is not None else None
        ),
    }


class PortalAdapter(ABC):
    """Publishes one message to the portal."""

    @abstractmethod
    def publish(self, *, payload: dict, idempotency_key: str) -> str:
        """Send ``payload``; return the portal's reference for it. Raise
        :class:`PortalRejected` if it will never be accepted, anything else to be retried."""


class DemoPortalAdapter(PortalAdapter):
    """Records what would have been sent in :class:`motcua.models.DemoPortalRecord` (inside
    the outbox's transaction)."""

    def publish(self, *, payload: dict, idempotency_key: str) -> str:
        from motcua.models import DemoPortalRecord

        record = DemoPortalRecord.objects.create(
            event_id=payload["event_id"], sequence=payload["sequence"],
            dossier_code=payload["dossier"]["code"], status=payload["dossier"]["status"],
            payload=payload, key=idempotency_key,
        )
        return f"demo-portal-{record.pk}"


class HttpPortalAdapter(PortalAdapter):
    """POSTs the JSON to ``MOTCUA_PORTAL_URL``. 2xx: sent (the answer's ``id`` is kept as the
    reference); 409: the portal already has it, also sent; 400/404/405/410/413/422: given up;
    anything else (5xx, 401/403/429, network, timeout): retried with back-off."""

    def __init__(self, url: str | None = None, token: str | None = None, timeout: float | None = None):
        self.url = url if url is not None else settings.MOTCUA_PORTAL_URL
        self.token = token if token is not None else settings.MOTCUA_PORTAL_TOKEN
        self.timeout = timeout if timeout is not None else settings.MOTCUA_PORTAL_TIMEOUT
        if not self.url:
            raise ImproperlyConfigured("HttpPortalAdapter needs MOTCUA_PORTAL_URL.")

    def publish(self, *, payload: dict, idempotency_key: str) -> str:
        body = json.dumps(payload, ensure_ascii=False, sort_keys=True).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Accept": "application/json",
            "Idempotency-Key": idempotency_key,
            "User-Agent": "motcua-portal-sync/1",
        }
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                answer = response.read(64 * 1024)
                status = response.status
        except urllib.error.HTTPError as exc:
            detail = exc.read(2048).decode("utf-8", "replace") if exc.fp else ""
            if exc.code in DUPLICATE_HTTP:
                return f"duplicate:{payload.get('event_id')}"
            if exc.code in PERMANENT_HTTP:
                raise PortalRejected(f"HTTP {exc.code}: {detail[:500]}") from exc
            raise PortalUnavailable(f"HTTP {exc.code}: {detail[:500]}") from exc
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise PortalUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return _reference(answer) or f"HTTP {status}"


def _reference(answer: bytes) -> str:
    try:
        data = json.loads(answer.decode("utf-8") or "{}")
    except (UnicodeDecodeError, ValueError):
        return ""
    if isinstance(data, dict) and data.get("id") is not None:
        return str(data["id"])[:255]
    return ""


@lru_cache(maxsize=4)
def _adapter(path: str, url: str, token: str, timeout: float) -> PortalAdapter:
    return import_string(path)()


def get_portal_adapter() -> PortalAdapter:
    """The configured adapter (``MOTCUA_PORTAL_ADAPTER``), one instance per process and
    configuration."""
    return _adapter(
        getattr(settings, "MOTCUA_PORTAL_ADAPTER", DEFAULT_ADAPTER),
        getattr(settings, "MOTCUA_PORTAL_URL", ""),
        getattr(settings, "MOTCUA_PORTAL_TOKEN", ""),
        getattr(settings, "MOTCUA_PORTAL_TIMEOUT", 10.0),
    )


def publish_to_portal(*, payload: dict, idempotency_key: str) -> str:
    return get_portal_adapter().publish(payload=payload, idempotency_key=idempotency_key)
