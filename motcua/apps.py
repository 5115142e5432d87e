from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MotcuaConfig(AppConfig):
    name = "motcua"
    verbose_name = _("Tổ chức và lịch làm việc")

    def ready(self):
        # Connect their signals: CalendarDay changes; logins and removed devices.
        from django.core import checks

        from motcua import calendar, twofactor  # noqa: F401
        from motcua.pdf import check_pdf_libraries

        checks.register(check_pdf_libraries)
