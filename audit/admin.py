"""The access log in the Django admin: read-only, filtered by person, kind and a date range
(the per-user view: pick a person in the filter), exported to xlsx. The historical tables are
read through each model's own admin ("Lịch sử" button; SimpleHistoryAdmin, revert disabled)
and the staff page /staff/audit/."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.contrib import admin
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext_lazy as _

from audit.models import AccessRecord
from audit.selectors import ACCESS_COLUMNS, access_detail_text, access_rows
from motcua.admin import ReadOnlyMixin
from motcua.xlsx import Sheet, xlsx_bytes, xlsx_response


class DateRangeFilter(admin.FieldListFilter):
    """From–to days (inclusive), typed in two date boxes (``<field>__from``, ``<field>__to``)."""

    template = "audit/admin_date_range_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.from_key = f"{field_path}__from"
        self.to_key = f"{field_path}__to"
        super().__init__(field, request, params, model, model_admin, field_path)
        self.from_value = self._day(self.used_parameters.get(self.from_key))
        self.to_value = self._day(self.used_parameters.get(self.to_key))

    @staticmethod
    def _day(value):
        if isinstance(value, list):
            value = value[-1] if value else None
        try:
            return parse_date(value) if value else None
        except ValueError:
            return None

    def expected_parameters(self):
        return [self.from_key, self.to_key]

    def has_output(self):
        return True

    def queryset(self, request, queryset):
        if self.from_value:
            start = timezone.make_aware(datetime.combine(self.from_value, time.min))
            queryset = queryset.filter(**{f"{self.field_path}__gte": start})
        if self.to_value:
            end = timezone.make_aware(datetime.combine(self.to_value + timedelta(days=1), time.min))
            queryset = queryset.filter(**{f"{self.field_path}__lt": end})
        return queryset

    def choices(self, changelist):
        # One "choice": the form itself, carrying the other filters as hidden fields.
        keep = {
            k: v for k, v in changelist.filter_params.items()
            if k not in (self.from_key, self.to_key, "p", "e")
        }
        hidden = []
        for key, value in keep.items():
            for item in value if isinstance(value, list) else [value]:
                hidden.append((key, item))
        yield {
            "from_key": self.from_key, "to_key": self.to_key,
            "from_value": self.from_value.isoformat() if self.from_value else "",
            "to_value": self.to_value.isoformat() if self.to_value else "",
            "hidden": hidden,
            "reset": changelist.get_query_string(remove=[self.from_key, self.to_key]),
        }


class UsernameFilter(admin.FieldListFilter):
    """One person by user name, typed (a province has too many staff for a list of links)."""

    template = "audit/admin_username_filter.html"

    def __init__(self, field, request, params, model, model_admin, field_path):
        self.key = f"{field_path}__username"
        super().__init__(field, request, params, model, model_admin, field_path)
        value = self.used_parameters.get(self.key)
        if isinstance(value, list):
            value = value[-1] if value else None
        self.value = (value or "").strip()

    def expected_parameters(self):
        return [self.key]

    def has_output(self):
        return True

    def queryset(self, request, queryset):
        if self.value:
            return queryset.filter(**{f"{self.field_path}__username__iexact": self.value})
        return queryset

    def choices(self, changelist):
        hidden = []
        for key, value in changelist.filter_params.items():
            if key in (self.key, "p", "e"):
                continue
            for item in value if isinstance(value, list) else [value]:
                hidden.append((key, item))
        yield {"key": self.key, "value": self.value, "hidden": hidden,
               "reset": changelist.get_query_string(remove=[self.key])}


@admin.action(description=_("Xuất Excel các dòng đã chọn"))
def export_xlsx(modeladmin, request, queryset):
    now = timezone.now()
    records = queryset.select_related("user").order_by("-at", "-id").iterator(chunk_size=2000)
    sheet = Sheet(
        title=str(_("Truy cập")), columns=ACCESS_COLUMNS, rows=access_rows(records), freeze="C3",
        heading=f"{_('Nhật ký truy cập hồ sơ')} — {timezone.localtime(now):%H:%M %d/%m/%Y}",
    )
    return xlsx_response(xlsx_bytes(sheet), f"nhat-ky-truy-cap-{timezone.localtime(now):%Y%m%d-%H%M}.xlsx")


@admin.register(AccessRecord)
class AccessRecordAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["at", "user", "kind", "dossier_code", "count", "detail", "ip", "request_id"]
    list_filter = [("user", UsernameFilter), ("at", DateRangeFilter), "kind"]
    search_fields = ["dossier_code", "user__username", "user__last_name", "user__first_name"]
    list_select_related = ["user"]
    actions = [export_xlsx]
    show_full_result_count = False  # a count of the whole log on each page is not needed
    fields = ["at", "user", "kind", "dossier", "dossier_code", "count", "data", "ip", "request_id"]
    readonly_fields = fields
    raw_id_fields = ["dossier"]

    def lookup_allowed(self, lookup, value, request=None):
        return lookup == "user__username" or super().lookup_allowed(lookup, value, request)

    @admin.display(description=_("chi tiết"))
    def detail(self, obj: AccessRecord) -> str:
        return access_detail_text(obj)
