"""The outbox in the admin: what was sent, what keeps failing, what was given up (``dead``),
and the demo tables of the SMS gateway and the portal. Read-only: the only write is "send
again" for failed or dead messages."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from motcua.models import DemoPortalRecord, DemoSms, OutboxMessage, StaffNotice
from motcua.outbox.services import outbox_requeue


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutboxMessage)
class OutboxMessageAdmin(ReadOnlyAdmin):
    list_display = [
        "id", "created_at", "channel", "topic", "recipient", "dossier", "status", "attempts",
        "next_attempt_at", "sent_at",
    ]
    list_filter = ["status", "channel", "topic"]
    search_fields = ["key", "recipient", "dossier__code"]
    list_select_related = ["dossier"]
    date_hierarchy = "created_at"
    actions = ["requeue"]
    show_full_result_count = False

    @admin.action(description=_("Gửi lại các tin lỗi hoặc đã ngừng gửi"))
    def requeue(self, request, queryset):
        count = outbox_requeue(messages=queryset)
        self.message_user(
            request,
            ngettext("%(n)d tin sẽ được gửi lại.", "%(n)d tin sẽ được gửi lại.", count) % {"n": count},
            messages.SUCCESS,
        )

    def get_actions(self, request):
        # The one write of this page; people who may only look do not get it.
        actions = super().get_actions(request)
        if not request.user.has_perm("motcua.change_outboxmessage"):
            actions.pop("requeue", None)
        return actions


@admin.register(StaffNotice)
class StaffNoticeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "user", "kind", "title", "read_at"]
    list_filter = ["kind"]
    search_fields = ["title", "user__username", "dossier__code"]
    list_select_related = ["user"]


@admin.register(DemoSms)
class DemoSmsAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "to", "text", "key"]
    search_fields = ["to", "text", "key"]


@admin.register(DemoPortalRecord)
class DemoPortalRecordAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "dossier_code", "sequence", "status", "event_id"]
    search_fields = ["dossier_code", "key"]
    list_filter = ["status"]
