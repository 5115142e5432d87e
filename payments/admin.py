"""Django admin for online payments: read-only. Payments change only through
``payments.services`` (the gateway's signed answer); the callback log is the audit trail."""

from django.contrib import admin

from motcua.admin import ReadOnlyMixin
from payments.models import Payment, PaymentCallback


@admin.register(Payment)
class PaymentAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["reference", "dossier", "amount_vnd", "state", "gateway", "gateway_reference",
                    "created_at", "paid_at"]
    list_filter = ["state", "gateway", "created_at"]
    search_fields = ["reference", "gateway_reference", "dossier__code", "dossier__provisional_code"]
    list_select_related = ["dossier"]
    date_hierarchy = "created_at"


@admin.register(PaymentCallback)
class PaymentCallbackAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["received_at", "source", "outcome", "reason", "payment", "remote_addr"]
    list_filter = ["outcome", "source", "reason", "received_at"]
    search_fields = ["payment__reference"]
    list_select_related = ["payment"]
    date_hierarchy = "received_at"
