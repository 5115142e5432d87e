"""Online fee payments (the national payment gateway adapter, a demo gateway).

A :class:`Payment` is one attempt to pay a dossier's fees online: created ``pending`` when the
citizen is sent to the gateway, then ``paid``, ``failed`` or ``cancelled`` once, by the
gateway's signed answer (``payments.services``). Every answer received, good or forged, is kept
in :class:`PaymentCallback`.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PaymentState(models.TextChoices):
    PENDING = "pending", _("Chờ thanh toán")
    PAID = "paid", _("Đã thanh toán")
    FAILED = "failed", _("Thanh toán không thành công")
    CANCELLED = "cancelled", _("Đã hủy thanh toán")


#: A dossier has at most one payment in these states (no fee is paid twice).
LIVE_STATES = (PaymentState.PENDING, PaymentState.PAID)


class Payment(models.Model):
    """One online payment of a dossier's fees (all its fixed fee lines, in VND)."""

    dossier = models.ForeignKey(
        "dossiers.Dossier", on_delete=models.PROTECT, related_name="payments",
        verbose_name=_("hồ sơ"),
    )
    reference = models.CharField(
        _("mã giao dịch"), max_length=32, unique=True,
        help_text=_("Mã đơn hàng gửi cổng thanh toán (không đoán được)."),
    )
    idempotency_key = models.CharField(
        _("khóa chống trùng"), max_length=64, unique=True,
        help_text=_("Hồ sơ và lần thanh toán: một lần bấm đúp không tạo hai giao dịch."),
    )
    amount_vnd = models.BigIntegerField(_("số tiền (đồng)"))
    fee_lines = models.JSONField(_("các khoản phí, lệ phí"), default=list)
    state = models.CharField(
        _("trạng thái"), max_length=16, choices=PaymentState.choices,
        default=PaymentState.PENDING,
    )
    gateway = models.CharField(_("cổng thanh toán"), max_length=32)
    gateway_reference = models.CharField(_("mã giao dịch của cổng"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("tạo lúc"), default=timezone.now)
    paid_at = models.DateTimeField(_("thanh toán lúc"), null=True, blank=True)
    finished_at = models.DateTimeField(_("kết thúc lúc"), null=True, blank=True)

    class Meta:
        verbose_name = _("thanh toán trực tuyến")
        verbose_name_plural = _("thanh toán trực tuyến")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["dossier"], condition=Q(state__in=["pending", "paid"]),
                name="payment_one_live_per_dossier",
            ),
            models.CheckConstraint(condition=Q(amount_vnd__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "paid", "failed", "cancelled"]),
                name="payment_state_valid",
            ),
            models.CheckConstraint(
                condition=~Q(state="paid") | Q(paid_at__isnull=False),
                name="payment_paid_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference} ({self.get_state_display()})"

    @property
    def is_paid(self) -> bool:
        return self.state == PaymentState.PAID


class PaymentCallback(models.Model):
    """Every answer that claimed to come from the gateway (callback or return URL), with what
    we did with it: applied, a replay (no change), or refused (forged, wrong amount, unknown
    reference). Kept for audit; never changed."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", _("Đã ghi nhận")
        REPLAY = "replay", _("Lặp lại, không thay đổi")
        REFUSED = "refused", _("Từ chối")

    class Source(models.TextChoices):
        CALLBACK = "callback", _("Cổng gọi lại")
        RETURN = "return", _("Trình duyệt quay về")

    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="callbacks"
    )
    received_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=16, choices=Source.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.CharField(max_length=64, blank=True)
    data = models.JSONField(default=dict)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        verbose_name = _("phản hồi của cổng thanh toán")
        verbose_name_plural = _("phản hồi của cổng thanh toán")
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M} {self.outcome} {self.reason}"
