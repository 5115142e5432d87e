"""Django admin for dossiers: read-only. Every write goes through dossiers.services (the admin
would otherwise bypass the state machine, the log and the permissions)."""

from django.contrib import admin

from dossiers.models import (
    Apology,
    Attachment,
    Dossier,
    DossierDocument,
    DossierEvent,
    DossierStep,
)
from motcua.admin import ReadOnlyMixin


class StepInline(ReadOnlyMixin, admin.TabularInline):
    model = DossierStep
    extra = 0
    fields = ["position", "attempt", "name", "unit", "role", "hours", "started_at", "due_at",
              "finished_at", "handler", "on_time"]
    readonly_fields = fields


class DocumentInline(ReadOnlyMixin, admin.TabularInline):
    model = DossierDocument
    extra = 0
    fields = ["position", "name", "originals", "copies", "received"]
    readonly_fields = fields


class AttachmentInline(ReadOnlyMixin, admin.TabularInline):
    model = Attachment
    extra = 0
    fields = ["kind", "original_name", "content_type", "size", "sha256", "uploaded_by", "uploaded_at"]
    readonly_fields = fields


class EventInline(ReadOnlyMixin, admin.TabularInline):
    model = DossierEvent
    extra = 0
    fields = ["at", "actor", "transition", "from_state", "to_state", "step", "comment", "on_time"]
    readonly_fields = fields


@admin.register(Dossier)
class DossierAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["code", "state", "applicant_name", "agency", "channel", "received_at", "due_at",
                    "is_overdue"]
    list_filter = ["state", "channel", "is_overdue", "is_due_soon"]
    search_fields = ["code", "provisional_code", "applicant_name", "applicant_id_number",
                     "applicant_phone"]
    list_select_related = ["agency"]
    date_hierarchy = "created_at"
    inlines = [StepInline, DocumentInline, AttachmentInline, EventInline]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(DossierEvent)
class DossierEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["at", "dossier", "transition", "from_state", "to_state", "actor", "on_time"]
    list_filter = ["transition", "to_state"]
    search_fields = ["dossier__code"]
    list_select_related = ["dossier", "actor"]
    date_hierarchy = "at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]


@admin.register(Apology)
class ApologyAdmin(ReadOnlyMixin, admin.ModelAdmin):
    """Apology letters: seen and searched, never added, changed or deleted here (the sweep and
    ``dossier_issue_apology`` issue them; the model and a database trigger refuse the rest)."""

    list_display = ["issued_at", "dossier", "number", "kind", "for_due_at", "new_due_at",
                    "at_fault_unit", "at_fault_officer"]
    list_filter = ["kind", "state"]
    search_fields = ["dossier__code"]
    list_select_related = ["dossier", "at_fault_unit__agency", "at_fault_officer"]
    date_hierarchy = "issued_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions
