from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from audit.admin_history import HistoryAdmin
from motcua.models import Agency, CalendarDay, StaffRole, Unit
from motcua.twofactor import reset_two_factor_action


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
class AgencyAdmin(HistoryAdmin):
    list_display = ["code", "name", "kind", "parent", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["code", "name", "short_name"]
    inlines = [UnitInline]


@admin.register(Unit)
class UnitAdmin(HistoryAdmin):
    list_display = ["code", "name", "agency", "is_reception", "is_active"]
    list_filter = ["is_reception", "agency__kind"]
    search_fields = ["code", "name", "agency__name"]
    list_select_related = ["agency"]


@admin.register(StaffRole)
class StaffRoleAdmin(HistoryAdmin):
    list_display = ["user", "role", "unit", "title"]
    list_filter = ["role"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "unit__name"]
    list_select_related = ["user", "unit__agency"]
    autocomplete_fields = ["unit"]


@admin.register(CalendarDay)
class CalendarDayAdmin(HistoryAdmin):
    list_display = ["date", "kind", "note", "updated_by", "updated_at"]
    list_filter = ["kind"]
    date_hierarchy = "date"


# Accounts: Django's own admin, plus the history of who changed an account (active, staff,
# groups…; the audit app registers it). Reverting is disabled (SIMPLE_HISTORY_REVERT_DISABLED).
User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class UserAdmin(HistoryAdmin, DjangoUserAdmin):
    # "Đặt lại xác thực hai bước": a lost or replaced phone (docs/deploy.md "Login security").
    actions = [reset_two_factor_action]


# The outbox, staff notices and demo integration tables register themselves.
from motcua.outbox import admin as _outbox_admin  # noqa: E402, F401
