"""Staff screens for dossiers: the reception desk, the queues and search, the dossier page.

Views read through ``dossiers.selectors`` and write only through ``dossiers.services``.
"""

from dossiers.views.desk import (
    desk,
    desk_appointment,
    desk_citizen,
    desk_procedure,
    desk_procedures,
    desk_supplement_slip,
)
from dossiers.views.detail import act, assign, attach, attachment, detail
from dossiers.views.lists import bulk, queue, queue_export, search, search_export

__all__ = [
    "act",
    "assign",
    "attach",
    "attachment",
    "bulk",
    "desk",
    "desk_appointment",
    "desk_citizen",
    "desk_procedure",
    "desk_procedures",
    "desk_supplement_slip",
    "detail",
    "queue",
    "queue_export",
    "search",
    "search_export",
]
