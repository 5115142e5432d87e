"""An index for reading a queue one unit at a time (docs/queue-performance.md, "Round 3").

- ``dossier_open_unit_state_due_idx`` — open dossiers by (current_role, current_unit_id,
  state, due_at, id), carrying the handler, the procedure version and the sweep's flags.
  A page of the queue reads each of the user's units and states in appointment order
  (``dossiers.selectors.queue_page``: one ordered range per unit and state, merged) instead
  of one read of ``current_unit_id IN (18 units)``, which no index returns in that order.
  None of the existing indexes gives that order: ``dossier_open_queue_idx`` (0004) has the
  same first columns and carries ``due_at`` and ``id`` but not as keys;
  ``dossier_running_unit_due_idx`` (0007) leaves out the paused dossiers and has no ``id``
  to break the ties of the thousands of dossiers due at 17:00 (an incremental sort of a
  unit's ~2,500 overdue rows, 385 ms for 18 units); a (role, unit, due_at, id) index read
  through the paused dossiers of each unit to reach the running ones (the overdue list:
  2,820 skipped per unit, ~40 ms).

It has the columns and the first keys of ``dossier_open_queue_idx``, which it makes
redundant: the tab counts (role, unit, state, counted up to a cap) read it the same way. Not
dropped here (the indexes are being audited as a whole).

PostgreSQL only and built CONCURRENTLY (``atomic = False``), like 0004 and 0007.
"""

from django.db import migrations

from motcua.pg_indexes import create_concurrently, drop_concurrently

OPEN = (
    "('submitted', 'received', 'in_progress', 'supplement_requested', 'awaiting_approval', "
    "'result_ready')"
)
INDEXES = {
    "dossier_open_unit_state_due_idx": (
        'ON dossiers_dossier ("current_role", current_unit_id, state, due_at, id) '
        "INCLUDE (current_handler_id, procedure_version_id, is_overdue, is_due_soon) "
        "WHERE state IN " + OPEN
    ),
}


def forwards(apps, schema_editor):
    create_concurrently(schema_editor, INDEXES, analyze="dossiers_dossier")


def backwards(apps, schema_editor):
    drop_concurrently(schema_editor, INDEXES)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("dossiers", "0009_report_range_indexes")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
