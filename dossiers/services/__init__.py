"""Writes to dossiers: every caller (views, API, admin, tasks, commands) goes through these.

- :func:`dossier_receive_at_desk` — a complete dossier received at the desk (``received``);
- :func:`dossier_submit_online` — an online submission (``submitted``, provisional code);
- :func:`dossier_transition` — every transition of the state machine;
- :func:`dossier_assign` — a leader assigns the current officer step;
- :func:`dossier_attach` — a stored file;
- :func:`dossier_issue_apology` — an apology and extension letter (Mẫu 04) for the current
  appointment (the deadline sweep's one-by-one path, or a leader); it lives with the sweep in
  ``dossiers.deadlines``, which shares its terms with the set-based path.

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
    "dossier_issue_apology",
    "dossier_receive_at_desk",
    "dossier_submit_online",
    "dossier_transition",
]


def __getattr__(name: str):
    # ``dossiers.deadlines`` imports ``dossiers.services._common``, which runs this module
    # first: importing it here eagerly would be circular, so it is looked up on first use.
    if name == "dossier_issue_apology":
        from dossiers.deadlines import dossier_issue_apology

        return dossier_issue_apology
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
