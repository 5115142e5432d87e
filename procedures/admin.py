"""Django admin for the catalogue: browse procedures and their versions, edit the current version.

The admin does not write the catalogue itself. Saving a version assembles the page (the version's
form and its four inlines) into a `ProcedureData`, checks it with `procedure_validate` while the
page can still show the errors, and hands it to `procedure_update`, which edits the version in
place or, when dossiers already use it, makes a new version. Old versions are read-only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from audit.admin_history import HistoryAdmin
from motcua.errors import DomainError
from motcua.errors import ValidationError as DomainValidationError
from motcua.permissions import is_catalogue_admin
from motcua.text import fold
from procedures.models import (
    FeeLine,
    Field,
    Procedure,
    ProcedureVersion,
    ProcessStep,
    RequiredDocument,
    TimeLimit,
)
from procedures.schema import DocumentData, FeeData, ProcedureData, StepData, TimeLimitData
from procedures.services import (
    procedure_set_active,
    procedure_update,
    procedure_validate,
    version_scalars,
)


@admin.register(Field)
class FieldAdmin(HistoryAdmin):
    list_display = ["code", "name"]
    search_fields = ["code", "name"]


def _search_by_folded_words(queryset, term: str, path: str):
    """Diacritics-insensitive search: every folded word in the folded search text."""
    for word in fold(term).split():
        queryset = queryset.filter(**{f"{path}__contains": word})
    return queryset


# ---------------------------------------------------------------------------------------------
# Procedures
# ---------------------------------------------------------------------------------------------


class VersionInline(admin.TabularInline):
    model = ProcedureVersion
    fields = ["number", "effective_from", "name", "time_limit_amount", "time_limit_unit",
              "created_by"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    can_delete = False
    ordering = ["-number"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Procedure)
class ProcedureAdmin(HistoryAdmin):
    list_display = ["code", "current_name", "current_number", "is_active"]
    list_filter = ["is_active", "current_version__level", "current_version__field"]
    list_select_related = ["current_version"]
    search_fields = ["code"]
    fields = ["code", "edit_link", "is_active", "created_at"]
    readonly_fields = fields
    inlines = [VersionInline]
    actions = ["activate", "deactivate"]

    def has_add_permission(self, request):
        # A procedure starts with a whole first version: the staff catalogue page or the import.
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        folded = _search_by_folded_words(queryset, search_term, "current_version__search_text")
        return folded, False

    @admin.display(description=_("tên thủ tục"))
    def current_name(self, obj: Procedure) -> str:
        return obj.current_version.name if obj.current_version_id else "—"

    @admin.display(description=_("phiên bản"))
    def current_number(self, obj: Procedure):
        return obj.current_version.number if obj.current_version_id else None

    @admin.display(description=_("phiên bản hiện hành"))
    def edit_link(self, obj: Procedure):
        if not obj.current_version_id:
            return "—"
        url = reverse("admin:procedures_procedureversion_change", args=[obj.current_version_id])
        return format_html('<a href="{}">{}</a>', url, obj.current_version)

    def _set_active(self, request, queryset, active: bool):
        done = 0
        for procedure in queryset:
            try:
                procedure_set_active(procedure=procedure, active=active, actor=request.user)
            except DomainError as exc:
                self.message_user(request, str(exc.message), messages.ERROR)
                return
            done += 1
        self.message_user(request, ngettext(
            "Đã cập nhật %(count)d thủ tục.", "Đã cập nhật %(count)d thủ tục.", done,
        ) % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Tiếp tục áp dụng các thủ tục đã chọn"))
    def activate(self, request, queryset):
        self._set_active(request, queryset, True)

    @admin.action(description=_("Ngừng áp dụng các thủ tục đã chọn"))
    def deactivate(self, request, queryset):
        self._set_active(request, queryset, False)


# ---------------------------------------------------------------------------------------------
# Versions: the form, the inlines, and the one check over all of them
# ---------------------------------------------------------------------------------------------


class VersionForm(forms.ModelForm):
    class Meta:
        model = ProcedureVersion
        fields = [
            "name", "field", "level", "agency", "agency_text", "subjects", "accepts_in_person",
            "accepts_online", "accepts_post", "online_level", "is_inter_agency",
            "time_limit_amount", "time_limit_unit", "time_limit_text", "supplement_clock",
            "procedure_steps_text", "requirements", "result", "legal_basis", "source",
        ]

    def _post_clean(self):
        super()._post_clean()
        # The inlines' formsets share this instance; the last of them reads the form from it.
        self.instance._admin_version_form = self


class PartFormSet(BaseInlineFormSet):
    """An inline of a version. Registers itself on the version (shared by the form and every
    inline of the page) so that the steps inline, validated last, can see the whole page."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        parts = self.instance.__dict__.setdefault("_admin_parts", {})
        parts[self.model] = self

    def live_forms(self):
        """The forms that stay: not deleted, not blank extra rows; by position."""
        forms_ = [
            f for f in self.forms
            if f.cleaned_data and not f.cleaned_data.get("DELETE")
            and (f.instance.pk or f.has_changed())
        ]
        return sorted(forms_, key=lambda f: (f.cleaned_data.get("position") or 0))


class StepFormSet(PartFormSet):
    def clean(self):
        super().clean()
        version = self.instance
        form = getattr(version, "_admin_version_form", None)
        parts = getattr(version, "_admin_parts", {})
        others = [fs for fs in parts.values() if fs is not self]
        if form is None or form.errors or any(not fs.is_valid() for fs in others):
            return  # their own errors show; the whole check runs once they are fixed
        if any(f.errors for f in self.forms):
            return
        steps = self.live_forms()
        positions = [f.cleaned_data["position"] for f in steps]
        if positions != list(range(1, len(steps) + 1)):
            raise forms.ValidationError(_("Thứ tự các bước phải liên tục 1, 2, …, %(n)s.")
                                        % {"n": len(steps)})
        data = assemble_data(version, parts)
        try:
            procedure_validate(data)
        except DomainValidationError as exc:
            raise forms.ValidationError(
                [str(m) for msgs in (exc.errors or {}).values() for m in msgs]
                or [str(exc.message)]
            ) from exc
        version._admin_data = data


def assemble_data(version: ProcedureVersion, parts: dict) -> ProcedureData:
    """The page as a `ProcedureData`: the version's form (already applied to ``version``) and the
    live rows of each inline, by position."""

    def rows(model):
        formset = parts.get(model)
        return [f.cleaned_data | {"_instance": f.instance} for f in formset.live_forms()] \
            if formset else []

    documents = []
    for d in rows(RequiredDocument):
        documents.append(DocumentData(
            name=d["name"], originals=d["originals"], copies=d["copies"],
            is_mandatory=d["is_mandatory"], template_name=d.get("template_name") or "",
            template=d["_instance"].template.name or "",
        ))
    return ProcedureData(
        **version_scalars(version),
        fees=[FeeData(name=d["name"], amount_vnd=d.get("amount_vnd"),
                      description=d.get("description") or "") for d in rows(FeeLine)],
        documents=documents,
        steps=[StepData(name=d["name"], unit_code=d["unit_code"], role=d["role"],
                        hours=d["hours"], agency_code=d["agency"].code if d.get("agency") else "")
               for d in rows(ProcessStep)],
        time_limits=[TimeLimitData(channel=d["channel"], amount=d["amount"], unit=d["unit"])
                     for d in rows(TimeLimit)],
    )


class TimeLimitInline(admin.TabularInline):
    model = TimeLimit
    formset = PartFormSet
    extra = 0
    fields = ["channel", "amount", "unit"]


class FeeInline(admin.TabularInline):
    model = FeeLine
    formset = PartFormSet
    extra = 0
    fields = ["position", "name", "amount_vnd", "description"]


class DocumentInline(admin.TabularInline):
    model = RequiredDocument
    formset = PartFormSet
    extra = 0
    fields = ["position", "name", "originals", "copies", "is_mandatory", "template_name",
              "template"]
    readonly_fields = ["template"]


class StepInline(admin.TabularInline):
    model = ProcessStep
    formset = StepFormSet
    extra = 0
    fields = ["position", "name", "agency", "unit_code", "role", "hours"]
    autocomplete_fields = ["agency"]


@admin.register(ProcedureVersion)
class ProcedureVersionAdmin(HistoryAdmin):
    form = VersionForm
    list_display = ["procedure", "number", "name", "level", "agency", "effective_from", "current"]
    list_filter = ["level", "field", "online_level", "is_inter_agency"]
    list_select_related = ["procedure", "agency"]
    search_fields = ["procedure__code"]
    readonly_fields = ["procedure", "number", "effective_from", "created_at", "created_by"]
    fieldsets = [
        (None, {"fields": ["procedure", "number", "effective_from", "created_at", "created_by"]}),
        (_("Thủ tục"), {"fields": [
            "name", "field", "level", "agency", "agency_text", "subjects", "result",
            "requirements", "procedure_steps_text", "legal_basis", "source",
        ]}),
        (_("Cách thức nộp, thời hạn"), {"fields": [
            "accepts_in_person", "accepts_online", "accepts_post", "online_level",
            "is_inter_agency", "time_limit_amount", "time_limit_unit", "time_limit_text",
            "supplement_clock",
        ]}),
    ]
    # The steps last: their formset checks the whole page once the others are valid.
    inlines = [TimeLimitInline, FeeInline, DocumentInline, StepInline]

    @admin.display(boolean=True, description=_("hiện hành"))
    def current(self, obj: ProcedureVersion) -> bool:
        return obj.procedure.current_version_id == obj.pk

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        return _search_by_folded_words(queryset, search_term, "search_text"), False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        """Only the current version is edited, and only by a catalogue admin: a version that
        dossiers keep never changes."""
        if not super().has_change_permission(request, obj) or not is_catalogue_admin(request.user):
            return False
        return obj is None or obj.procedure.current_version_id == obj.pk

    def save_model(self, request, obj, form, change):
        """Nothing here: `save_related` hands the whole page to the service."""

    def save_related(self, request, form, formsets, change):
        for formset in formsets:
            formset.save(commit=False)  # records what changed, for the admin's history only
        version = form.instance
        data = getattr(version, "_admin_data", None)
        if data is None:  # the steps inline always validates the page; be loud if it did not
            raise RuntimeError("The procedure version page was not validated.")
        saved = procedure_update(procedure=version.procedure, data=data, actor=request.user)
        request._catalogue_saved_version = saved

    def response_change(self, request, obj):
        saved = getattr(request, "_catalogue_saved_version", None)
        if saved is not None and saved.pk != obj.pk:
            self.message_user(request, _(
                "Phiên bản %(old)s đang được hồ sơ sử dụng: đã tạo phiên bản %(new)s, áp dụng "
                "từ bây giờ."
            ) % {"old": obj.number, "new": saved.number}, messages.SUCCESS)
            return HttpResponseRedirect(
                reverse("admin:procedures_procedureversion_change", args=[saved.pk])
            )
        return super().response_change(request, obj)
