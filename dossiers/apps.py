from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.utils.translation import gettext_lazy as _


def _allow_event_truncate_in_test_databases(sender, connection, **kwargs):
    """Let the test framework empty the append-only event table between transactional tests
    (it TRUNCATEs every table). Only on a connection to a test database: one whose name is the
    configured TEST name, or Django's default ``test_`` + name while the suite runs."""
    if connection.vendor != "postgresql":
        return
    settings_dict = connection.settings_dict
    name = settings_dict.get("NAME") or ""
    test_name = (settings_dict.get("TEST") or {}).get("NAME")
    if (test_name and name == test_name) or (not test_name and name.startswith("test_")):
        with connection.cursor() as cursor:
            cursor.execute("SET motcua.allow_event_truncate = 'on'")


class DossiersConfig(AppConfig):
    name = "dossiers"
    verbose_name = _("Hồ sơ")

    def ready(self):
        connection_created.connect(
            _allow_event_truncate_in_test_databases, dispatch_uid="dossiers.event_truncate"
        )
