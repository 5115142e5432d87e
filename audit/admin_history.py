"""The admin's history pages for the catalogue and the settings (django-simple-history), read-only.

``SIMPLE_HISTORY_REVERT_DISABLED`` only hides simple_history's "Revert" button: a POST to a
past version's page would still save it, past the services and their rules. Here that page
shows the version and refuses any POST.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from simple_history.admin import SimpleHistoryAdmin


class HistoryAdmin(SimpleHistoryAdmin):
    """SimpleHistoryAdmin whose past versions are shown, never restored."""

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        if request.method != "GET":
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def revert_disabled(self, request, obj=None):
        return True
