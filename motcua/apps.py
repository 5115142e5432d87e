from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MotcuaConfig(AppConfig):
    name = "motcua"
    verbose_name = _("Tổ chức và lịch làm việc")

    def ready(self):
        from motcua import calendar  # noqa: F401  (connects the CalendarDay signals)
        from motcua import twofactor  # noqa: F401  (connects the login and device signals)
