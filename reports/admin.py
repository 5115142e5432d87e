from django.contrib import admin

from reports.models import WeeklyReport


@admin.register(WeeklyReport)
class WeeklyReportAdmin(admin.ModelAdmin):
    """Read-only: reports are built by ``reports.services.weekly_report_build`` only."""

    list_display = ("__str__", "period_start", "period_end", "built_at", "builds", "emailed_at")
    readonly_fields = [f.name for f in WeeklyReport._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
