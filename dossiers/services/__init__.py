"""Writes to dossiers: every caller (views, API, admin, tasks, commands) goes through these.

- :func:`dossier_receive_at_desk` — a complete dossier received at the desk (``received``);
- :func:`dossier_submit_online` — an online submission (``submitted``, provisional code);
- :func:`dossier_transition` — every transition of the state machine;
- :func:`dossier_assign` — a leader assigns the current officer step;
- :func:`dossier_attach` — a stored file.

Read-only helpers for the screens: :func:`dossier_appointment` (the appointment before
confirming), :func:`checklist_missing` (what the supplement slip lists),
:func:`dossier_available_transitions` (which buttons to show).
"""

from dossiers.services.attachments import dossier_attach
from dossiers.services.reception import (
    checklist_missing,
    dossier_appointment,
    dossier_receive_at_desk,
    dossier_submit_online,
)
from dossiers.services.transitions import (
    TRANSITION_PAYLOAD,
    dossier_assign,
    dossier_available_transitions,
    dossier_transition,
)

__all__ = [
    "TRANSITION_PAYLOAD",
    "checklist_missing",
    "dossier_appointment",
    "dossier_assign",
    "dossier_attach",
    "dossier_available_transitions",
    "dossier_receive_at_desk",
    "dossier_submit_online",
    "dossier_transition",
]
