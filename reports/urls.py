"""Pages (``urlpatterns``) and API endpoints (``api_urlpatterns``) of this part; wired in
``motcua/urls.py``."""

from django.urls import path, re_path

from reports import api, views

urlpatterns = [
    path("so-lieu/", views.public_figures, name="public-figures"),
    path("staff/reports/", views.dashboard, name="reports-dashboard"),
    path("staff/reports/xuat.xlsx", views.summary_export, name="reports-summary-export"),
    path("staff/reports/ho-so/", views.dossiers, name="reports-dossiers"),
    path("staff/reports/ho-so/xuat.xlsx", views.dossiers_export, name="reports-dossiers-export"),
    path("staff/reports/can-bo/", views.staff, name="reports-staff"),
    path("staff/reports/so-theo-doi/", views.register, name="reports-register"),
    path("staff/reports/tuan/", views.weekly, name="reports-weekly"),
    re_path(r"^staff/reports/tuan/(?P<year>\d{4})-W(?P<week>\d{2})\.(?P<ext>pdf|xlsx)$",
            views.weekly_file, name="reports-weekly-file"),
    re_path(r"^staff/reports/phieu-kiem-soat/(?P<code>[0-9A-Za-z][0-9A-Za-z.\-]{0,63})\.xlsx$",
            views.control_sheet_xlsx, name="reports-control-sheet"),
]
api_urlpatterns = [
    path("reports/summary/", api.ReportSummaryView.as_view(), name="api-report-summary"),
    re_path(r"^reports/weekly/(?P<year>\d{4})-W(?P<week>\d{2})\.(?P<ext>pdf|xlsx)$",
            api.WeeklyReportFileView.as_view(), name="api-report-weekly"),
]
