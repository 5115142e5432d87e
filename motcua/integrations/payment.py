"""Online fee payment (the national payment platform / a bank gateway), behind a small
interface (DOMAIN.md "Beyond the desk").

The flow every gateway follows:

1. :meth:`PaymentGateway.start` — the citizen's browser is redirected to the gateway with the
   order (our reference, the amount, where to come back), signed with the shared secret so that
   nobody can change the amount on the way;
2. the citizen pays (or cancels) on the gateway's page;
3. the gateway tells us the outcome twice: a server-to-server callback, and the citizen's
   browser redirected back to the return URL. Both carry the same signed result, which
   :meth:`PaymentGateway.verify` checks; ``payments.services.payment_confirm`` applies it once
   (the second one is a replay and changes nothing).

``settings.PAYMENT_GATEWAY`` (a dotted path to a :class:`PaymentGateway` class) chooses the
gateway; the default outside production is :class:`DemoPaymentGateway`, whose "bank" is our own
page ``/cong-thanh-toan-demo/…`` (``payments.views``). Production has no default: online
payment stays off until a real gateway and ``PAYMENT_SECRET`` are configured.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse
from django.utils.module_loading import import_string

#: Outcomes a gateway reports.
PAID, CANCELLED, FAILED = "paid", "cancelled", "failed"
OUTCOMES = (PAID, CANCELLED, FAILED)
#: The fields of a result, all signed.
RESULT_FIELDS = ("ref", "amount", "status", "txn")
#: The fields of an order, all signed.
ORDER_FIELDS = ("ref", "amount", "desc", "return")


class InvalidSignature(Exception):
    """The message was not signed with our secret (forged, altered, or truncated)."""


class MalformedMessage(Exception):
    """A field is missing or is not what it should be."""


@dataclass(frozen=True)
class GatewayResult:
    """What the gateway says happened to one order (already verified)."""

    reference: str
    amount_vnd: int
    status: str  # PAID / CANCELLED / FAILED
    transaction_id: str


def secret() -> bytes:
    value = getattr(settings, "PAYMENT_SECRET", "") or ""
    if not value:
        raise ImproperlyConfigured("PAYMENT_SECRET is not set: online payment is off.")
    return value.encode()


def sign(fields: Mapping[str, object], *, names: tuple[str, ...]) -> str:
    """HMAC-SHA256 (hex) of ``name=value`` lines of ``names`` in that order, with the secret.
    Every field is signed, so none can be changed, added or dropped on the way."""
    text = "\n".join(f"{name}={fields.get(name, '')}" for name in names)
    return hmac.new(secret(), text.encode(), hashlib.sha256).hexdigest()


def check_signature(fields: Mapping[str, object], *, names: tuple[str, ...]) -> None:
    given = fields.get("sig")
    if not isinstance(given, str) or not given:
        raise InvalidSignature("missing signature")
    # As bytes: a forged signature may hold any character (str comparison refuses non-ASCII).
    if not hmac.compare_digest(sign(fields, names=names).encode(), given.encode()):
        raise InvalidSignature("bad signature")


def _amount(value) -> int:
    if isinstance(value, bool):
        raise MalformedMessage("amount")
    if isinstance(value, int):
        amount = value
    elif isinstance(value, str) and value.isdigit() and len(value) <= 15:
        amount = int(value)
    else:
        raise MalformedMessage("amount")
    if amount <= 0:
        raise MalformedMessage("amount")
    return amount


def _short(value, name: str, *, max_length: int = 64) -> str:
    if not isinstance(value, str) or not value or len(value) > max_length:
        raise MalformedMessage(name)
    if not all(ch.isalnum() or ch in "-_." for ch in value):
        raise MalformedMessage(name)
    return value


class PaymentGateway(ABC):
    """One payment gateway. Implementations are stateless (one instance per process)."""

    #: Stored on each payment: which gateway it went through.
    name = "gateway"

    @abstractmethod
    def start(self, *, reference: str, amount_vnd: int, description: str, return_url: str) -> str:
        """The URL to send the citizen's browser to, to pay ``amount_vnd`` for ``reference``.
        The gateway must come back to ``return_url`` with the signed result."""

    def verify(self, data: Mapping[str, object]) -> GatewayResult:
        """The result carried by ``data`` (a callback's body or the return URL's query), if it
        is signed with our secret. Raises :class:`InvalidSignature` or :class:`MalformedMessage`."""
        fields = {name: data.get(name) for name in (*RESULT_FIELDS, "sig")}
        fields = {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in fields.items()}
        check_signature(fields, names=RESULT_FIELDS)
        status = fields["status"]
        if status not in OUTCOMES:
            raise MalformedMessage("status")
        return GatewayResult(
            reference=_short(fields["ref"], "ref"),
            amount_vnd=_amount(fields["amount"]),
            status=status,
            transaction_id=_short(fields["txn"], "txn"),
        )


class DemoPaymentGateway(PaymentGateway):
    """The demo "bank": our own page at ``/cong-thanh-toan-demo/<reference>/`` (only while
    this gateway is configured). It signs with the same secret, as a real gateway would with the
    key shared with the province."""

    name = "demo"

    def start(self, *, reference: str, amount_vnd: int, description: str, return_url: str) -> str:
        order = {"ref": reference, "amount": str(amount_vnd), "desc": description[:200],
                 "return": return_url}
        order["sig"] = sign(order, names=ORDER_FIELDS)
        return f"{reverse('payment-demo-gateway', args=[reference])}?{urlencode(order)}"

    # What the demo bank itself does (payments.views plays the bank with these).

    def read_order(self, data: Mapping[str, object]) -> dict:
        """The order the citizen arrived with, if we signed it (else :class:`InvalidSignature`)."""
        order = {name: data.get(name) for name in (*ORDER_FIELDS, "sig")}
        check_signature(order, names=ORDER_FIELDS)
        order["amount"] = _amount(order["amount"])
        return order

    def result(self, *, reference: str, amount_vnd: int, status: str) -> dict:
        """The signed result the bank sends back (callback and return URL alike)."""
        result = {"ref": reference, "amount": str(amount_vnd), "status": status,
                  "txn": f"DEMO{secrets.token_hex(8).upper()}"}
        result["sig"] = sign(result, names=RESULT_FIELDS)
        return result


class HttpPaymentGateway(PaymentGateway):
    """Skeleton of a real gateway reached over HTTPS (the national payment platform's
    redirect API). ``PAYMENT_GATEWAY_URL`` is its payment page; it receives the same signed
    order fields as the demo and answers with the same signed result fields. A gateway with
    another message format subclasses this and overrides :meth:`start` and :meth:`verify`."""

    name = "http"

    def start(self, *, reference: str, amount_vnd: int, description: str, return_url: str) -> str:
        url = getattr(settings, "PAYMENT_GATEWAY_URL", "")
        if not url:
            raise ImproperlyConfigured("PAYMENT_GATEWAY_URL is not set.")
        order = {"ref": reference, "amount": str(amount_vnd), "desc": description[:200],
                 "return": return_url}
        order["sig"] = sign(order, names=ORDER_FIELDS)
        return f"{url}?{urlencode(order)}"


@lru_cache(maxsize=4)
def _gateway(path: str) -> PaymentGateway:
    return import_string(path)()


def payments_enabled() -> bool:
    return bool(getattr(settings, "PAYMENT_GATEWAY", "")) and bool(
        getattr(settings, "PAYMENT_SECRET", "")
    )


def get_gateway() -> PaymentGateway:
    """The configured gateway (``PAYMENT_GATEWAY``), one instance per process."""
    path = getattr(settings, "PAYMENT_GATEWAY", "")
    if not path:
        raise ImproperlyConfigured("PAYMENT_GATEWAY is not set: online payment is off.")
    return _gateway(path)
