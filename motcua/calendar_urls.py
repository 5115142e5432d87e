from django.urls import path

from motcua import calendar_views

urlpatterns = [
    path("", calendar_views.calendar_days, name="calendar-days"),
    path("tinh-han/", calendar_views.calendar_check, name="calendar-check"),
    path("<str:day>/sua/", calendar_views.calendar_day_edit, name="calendar-day-edit"),
    path("<str:day>/xoa/", calendar_views.calendar_day_delete, name="calendar-day-delete"),
]
