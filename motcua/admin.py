from django.contrib import admin

from motcua.models import Agency, CalendarDay, StaffRole, Unit


class ReadOnlyMixin:
    """Admin pages that only show: records written by their services (dossiers, the event log,
    payments, ratings) are never added, edited or deleted by hand."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class UnitInline(admin.TabularInline):
    model = Unit
    extra = 0


@admin.register(Agency)
class AgencyAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "parent", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["code", "name", "short_name"]
    inlines = [UnitInline]


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "agency", "is_reception", "is_active"]
    list_filter = ["is_reception", "agency__kind"]
    search_fields = ["code", "name", "agency__name"]
    list_select_related = ["agency"]


@admin.register(StaffRole)
class StaffRoleAdmin(admin.ModelAdmin):
    list_display = ["user", "role", "unit", "title"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "unit__name"]
    list_select_related = ["user", "unit__agency"]
    autocomplete_fields = ["unit"]


@admin.register(CalendarDay)
class CalendarDayAdmin(admin.ModelAdmin):
    list_display = ["date", "kind", "note", "updated_by", "updated_at"]
    list_filter = ["kind"]
    date_hierarchy = "date"

# The outbox, staff notices and demo integration tables register themselves.
from motcua.outbox import admin as _outbox_admin  # noqa: E402, F401
