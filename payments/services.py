"""Writes of online payments: start one, apply the gateway's answer.

Rules (docs/citizen-portal.md, "Payments"):

- the fees paid online are the fixed fee lines of the version the dossier was submitted under;
  a version with a fee "as prescribed" (no fixed amount) is paid at the desk;
- a dossier has at most one live payment (pending or paid): a double click, or a second tab,
  gets the same pending payment back, and a paid dossier is not charged again;
- the gateway's answer counts only if it carries our HMAC signature, names a payment we
  started, with its exact amount; the first valid answer decides, any later one (the callback
  after the return, a replay) changes nothing. Every answer is logged, forged ones as refused.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from dossiers.models import Dossier
from motcua.errors import TransitionNotAllowed, ValidationError
from motcua.integrations import payment as gateway_api
from payments.models import Payment, PaymentCallback, PaymentState
from payments.selectors import payable_fees

logger = logging.getLogger(__name__)

__all__ = ["PaymentRefused", "payment_confirm", "payment_start"]

_REFERENCE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


class PaymentRefused(ValidationError):
    """A gateway answer we do not accept (forged, altered, unknown, wrong amount)."""

    code = "payment_refused"


@dataclass(frozen=True)
class Confirmation:
    payment: Payment
    changed: bool  # False: a replay, nothing was written


def payment_start(*, dossier: Dossier, base_url: str = "") -> tuple[Payment, str]:
    """Open (or reuse) the dossier's payment and return it with the gateway URL to send the
    citizen to.

    Rules: online payment is on; the dossier is open (not refused, withdrawn, stopped or
    returned); its fees are fixed and above zero; it is not paid yet. A pending payment is
    reused (same reference, so the gateway never sees two orders for one fee). The dossier's
    row is locked so that two clicks at once make one payment.
    """
    if not gateway_api.payments_enabled():
        raise ValidationError(
            _("Thanh toán trực tuyến chưa được bật; vui lòng nộp phí tại Bộ phận Một cửa."),
            code="payments_disabled",
        )
    gateway = gateway_api.get_gateway()
    with transaction.atomic():
        locked = Dossier.objects.select_for_update().select_related(
            "procedure_version"
        ).get(pk=dossier.pk)
        if not locked.is_open:
            raise TransitionNotAllowed(
                _("Hồ sơ %(code)s đã kết thúc (“%(state)s”), không thanh toán phí.")
                % {"code": locked.code, "state": locked.get_state_display()},
                code="dossier_closed",
            )
        fees = payable_fees(locked.procedure_version)
        if fees.variable:
            raise ValidationError(
                _("Thủ tục có khoản phí chưa xác định được số tiền (“%(name)s”); vui lòng nộp "
                  "phí tại Bộ phận Một cửa.") % {"name": fees.variable[0]},
                code="fee_not_fixed",
            )
        if fees.total <= 0:
            raise ValidationError(_("Thủ tục này không thu phí, lệ phí."), code="no_fee")
        live = list(
            Payment.objects.select_for_update()
            .filter(dossier=locked, state__in=[PaymentState.PENDING, PaymentState.PAID])
        )
        if any(p.state == PaymentState.PAID for p in live):
            raise ValidationError(
                _("Phí, lệ phí của hồ sơ %(code)s đã được thanh toán.") % {"code": locked.code},
                code="already_paid",
            )
        if live:
            payment = live[0]
        else:
            attempt = Payment.objects.filter(dossier=locked).count() + 1
            payment = Payment.objects.create(
                dossier=locked, reference=_new_reference(), amount_vnd=fees.total,
                idempotency_key=_idempotency_key(locked.pk, attempt),
                fee_lines=fees.lines, gateway=gateway.name,
            )
    return_url = (base_url.rstrip("/") if base_url else "") + reverse("payment-return")
    url = gateway.start(
        reference=payment.reference, amount_vnd=payment.amount_vnd,
        description=_("Phí, lệ phí hồ sơ %(code)s") % {"code": locked.code},
        return_url=return_url,
    )
    return payment, url


def payment_confirm(
    *, data: Mapping[str, object], source: str = PaymentCallback.Source.CALLBACK,
    remote_addr: str | None = None,
) -> Confirmation:
    """Apply the gateway's signed answer to its payment, once.

    Refused (:class:`PaymentRefused`, logged, nothing changed): a missing or wrong signature,
    a malformed field, an unknown reference, an amount other than the payment's. A valid answer
    for a payment already decided changes nothing (a replay, or the callback after the return).
    """
    data = _plain(data)
    gateway = gateway_api.get_gateway()
    try:
        result = gateway.verify(data)
    except gateway_api.InvalidSignature:
        _refuse(data, source, remote_addr, reason="bad_signature")
    except gateway_api.MalformedMessage as exc:
        _refuse(data, source, remote_addr, reason=f"malformed:{exc}")

    refusal = None
    dossier_id = (
        Payment.objects.filter(reference=result.reference).values_list("dossier_id", flat=True)
        .first()
    )
    with transaction.atomic():
        if dossier_id is not None:
            # The dossier first, as every writer of a dossier does (no lock-order deadlock).
            Dossier.objects.select_for_update().filter(pk=dossier_id).values_list("pk").first()
        payment = (
            Payment.objects.select_for_update().filter(reference=result.reference).first()
        )
        if payment is None:
            refusal = "unknown_reference"
        elif payment.amount_vnd != result.amount_vnd:
            refusal = "wrong_amount"
        elif payment.state != PaymentState.PENDING:
            same = (
                payment.state == result.status
                and payment.gateway_reference == result.transaction_id
            )
            if not same:
                # A second, different outcome for a decided payment: the first one stands.
                logger.warning(
                    "Payment %s is %s; gateway now says %s (txn %s): ignored",
                    payment.reference, payment.state, result.status, result.transaction_id,
                )
            _log(payment, data, source, remote_addr, PaymentCallback.Outcome.REPLAY,
                 "" if same else "conflict")
            return Confirmation(payment=payment, changed=False)
        else:
            now = timezone.now()
            payment.state = result.status
            payment.gateway_reference = result.transaction_id
            payment.finished_at = now
            if result.status == PaymentState.PAID:
                payment.paid_at = now
            payment.save(update_fields=["state", "gateway_reference", "finished_at", "paid_at"])
            _log(payment, data, source, remote_addr, PaymentCallback.Outcome.APPLIED, "")
            _record_event(payment, now)
            return Confirmation(payment=payment, changed=True)
    _refuse(data, source, remote_addr, reason=refusal, payment=payment)


# ---------------------------------------------------------------------------------------------


def _new_reference() -> str:
    return "PAY" + "".join(secrets.choice(_REFERENCE_ALPHABET) for _ in range(16))


def _idempotency_key(dossier_id: int, attempt: int) -> str:
    return hashlib.sha256(f"dossier:{dossier_id}:payment:{attempt}".encode()).hexdigest()[:64]


def _plain(data: Mapping[str, object]) -> dict:
    """A QueryDict or a JSON body as a plain dict of short strings (what we log and verify)."""
    plain = {}
    getter = data.getlist if hasattr(data, "getlist") else None
    for key in list(data.keys())[:20]:
        value = getter(key) if getter else data[key]
        if isinstance(value, list):
            value = value[0] if len(value) == 1 else value
        if isinstance(value, str):
            value = _storable(value, 200)
        elif not isinstance(value, int | bool) or isinstance(value, bool):
            value = _storable(str(value), 200)
        plain[_storable(str(key), 40)] = value
    return plain


def _storable(value: str, limit: int) -> str:
    """PostgreSQL's text and jsonb hold neither NUL nor lone surrogates: a forged answer carrying
    them is still logged (without them) and refused, instead of failing the request."""
    return value.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")[:limit]


def _log(payment, data, source, remote_addr, outcome, reason) -> None:
    PaymentCallback.objects.create(
        payment=payment, source=source, outcome=outcome, reason=reason[:64], data=data,
        remote_addr=remote_addr or None,
    )


def _refuse(data, source, remote_addr, *, reason: str, payment: Payment | None = None):
    logger.warning(
        "Refused payment answer (%s) from %s via %s: %s", reason, remote_addr or "?", source,
        {k: v for k, v in data.items() if k != "sig"},
    )
    try:
        _log(payment, data, source, remote_addr, PaymentCallback.Outcome.REFUSED, reason)
    except IntegrityError:  # pragma: no cover - logging must never hide the refusal
        logger.exception("Could not log a refused payment answer")
    raise PaymentRefused(
        _("Phản hồi thanh toán không hợp lệ, không được ghi nhận."),
        code="payment_refused", errors={"reason": [reason]},
    )


def _record_event(payment: Payment, at) -> None:
    """The dossier's log gets a line for the payment (who paid what, the gateway's reference)."""
    from dossiers.models import EventKind
    from dossiers.services._common import append_event

    dossier = Dossier.objects.get(pk=payment.dossier_id)  # locked by payment_confirm
    append_event(
        dossier=dossier, at=at, actor=None, transition=EventKind.PAYMENT, from_state=dossier.state,
        to_state=dossier.state,
        data={"payment": payment.reference, "state": payment.state,
              "amount_vnd": payment.amount_vnd, "gateway_reference": payment.gateway_reference},
    )
