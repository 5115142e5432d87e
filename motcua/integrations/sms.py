"""SMS to citizens, behind a small interface (DOMAIN.md "Beyond the desk").

``settings.MOTCUA_SMS_BACKEND`` (a dotted path to an :class:`SmsBackend` class) chooses the
gateway; the default, :class:`DemoSmsBackend`, records each message in a table (admin: "Tin nhắn
SMS (demo)") so the demo and the tests work offline. :class:`ConsoleSmsBackend` prints them.
A real gateway (a carrier's brandname SMS API) implements :meth:`SmsBackend.send`:

- raise :class:`SmsRejected` when the message can never go (malformed number, number on the
  do-not-contact list): the outbox marks it ``dead`` at once;
- raise anything else when it could not go now (network, gateway busy): the outbox retries
  with back-off;
- pass ``idempotency_key`` to the gateway as its client request id, so that the rare resend
  after a crash (docs/integrations.md, "At least once") is dropped by the gateway.

The outbox calls the backend while it holds the message's row lock and marks the row sent in
the same transaction; backends must not open transactions of their own that outlive the call.
"""

from __future__ import annotations

import logging
import re
import sys
from abc import ABC, abstractmethod
from functools import lru_cache

from django.conf import settings
from django.utils.module_loading import import_string

from motcua.outbox.errors import PermanentDeliveryError

DEFAULT_BACKEND = "motcua.integrations.sms.DemoSmsBackend"
logger = logging.getLogger(__name__)

# Vietnamese mobile numbers: 0 + 9 digits (03x, 05x, 07x, 08x, 09x), or +84 / 84 + 9 digits.
_MOBILE = re.compile(r"^(?:\+?84|0)([35789]\d{8})$")


class SmsRejected(PermanentDeliveryError):
    """The gateway will never deliver this message (bad number, blocked, too long)."""


def normalize_phone(phone: str) -> str:
    """The number in national form (``0912345678``); raises :class:`SmsRejected` if it is not a
    Vietnamese mobile number."""
    digits = re.sub(r"[\s.\-()]", "", phone or "")
    match = _MOBILE.match(digits)
    if not match:
        raise SmsRejected(f"Số điện thoại không nhận được tin nhắn: {phone!r}")
    return "0" + match.group(1)


class SmsBackend(ABC):
    """Sends one text message."""

    @abstractmethod
    def send(self, *, to: str, text: str, idempotency_key: str) -> str:
        """Send ``text`` to the mobile number ``to``; return the gateway's message id.

        ``idempotency_key`` is stable across retries of the same message: give it to the gateway
        so that a message sent twice (a crash between the gateway's answer and our commit) is
        delivered once."""


class DemoSmsBackend(SmsBackend):
    """Records every message in :class:`motcua.models.DemoSms` (inside the outbox's
    transaction: a message rolled back is not recorded either)."""

    def send(self, *, to: str, text: str, idempotency_key: str) -> str:
        from motcua.models import DemoSms

        record = DemoSms.objects.create(to=normalize_phone(to), text=text, key=idempotency_key)
        return f"demo-sms-{record.pk}"


class ConsoleSmsBackend(SmsBackend):
    """Prints every message on standard output (development)."""

    stream = None

    def send(self, *, to: str, text: str, idempotency_key: str) -> str:
        number = normalize_phone(to)
        stream = self.stream or sys.stdout
        stream.write(f"SMS to {number} [{idempotency_key}]\n{text}\n{'-' * 60}\n")
        stream.flush()
        return f"console:{idempotency_key}"


@lru_cache(maxsize=4)
def _backend(path: str) -> SmsBackend:
    return import_string(path)()


def get_sms_backend() -> SmsBackend:
    """The configured gateway (``MOTCUA_SMS_BACKEND``), one instance per process."""
    return _backend(getattr(settings, "MOTCUA_SMS_BACKEND", DEFAULT_BACKEND))


def send_sms(*, to: str, text: str, idempotency_key: str) -> str:
    return get_sms_backend().send(to=to, text=text, idempotency_key=idempotency_key)
