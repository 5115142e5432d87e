"""Indexes and statistics for the staff queue (``dossier_queue``) at a province's scale.

Each one earns its place with a figure measured by bench/queue.py on 1,000,000 dossiers
(docs/bulk-data.md, "Indexes for the queue"):

- ``dossier_queue_stats`` — extended statistics on (state, current_role, current_unit_id). The
  three are strongly correlated (an officer step is in progress or paused, a leader step is
  awaiting approval); without them the planner expects ~2,000 rows in an officer's queue where
  there are 100,000, and sorts the whole queue for a 25-row page instead of reading it in order.
- ``dossier_open_role_due_idx`` — open dossiers by (current_role, due_at, id): the queue's own
  order, so a page reads its 25 rows from the index. ``(due_at, id)`` and not ``due_at`` alone:
  thousands of open dossiers share one appointment (every same-day procedure is due at 17:00),
  and ordering by ``id`` among them otherwise sorts them all.
- ``dossier_open_queue_idx`` — open dossiers by (current_role, current_unit_id, state), carrying
  what the queue's filters and counts read: the page's total, the tab counts and the
  overdue/due-soon filters are index-only scans instead of visits to every row of the queue.

Partial (open states only: a fifth of the table, never the ten years of history) and built
CONCURRENTLY, so applying this to a live table does not block reception (hence
``atomic = False``). PostgreSQL only, like the event-log trigger of 0002: SQLite (the
zero-setup demo) has neither INCLUDE nor CREATE STATISTICS and does not need them. They are
database objects only (``RunPython``, no state change): the model may adopt them later in
``Meta.indexes`` through ``SeparateDatabaseAndState``.
"""

from django.db import migrations

from motcua.pg_indexes import build_concurrently

OPEN = (
    "('submitted', 'received', 'in_progress', 'supplement_requested', 'awaiting_approval', "
    "'result_ready')"
)

INDEXES = {
    "dossier_open_role_due_idx": (
        'ON dossiers_dossier ("current_role", due_at, id) WHERE state IN ' + OPEN
    ),
    "dossier_open_queue_idx": (
        'ON dossiers_dossier ("current_role", current_unit_id, state) '
        "INCLUDE (current_handler_id, procedure_version_id, id, due_at, is_overdue, is_due_soon) "
        "WHERE state IN " + OPEN
    ),
}
STATISTICS = (
    "CREATE STATISTICS IF NOT EXISTS dossier_queue_stats (dependencies, mcv) "
    'ON state, "current_role", current_unit_id FROM dossiers_dossier'
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name, definition in INDEXES.items():
            build_concurrently(cursor, name, definition)  # rebuilds one a failed build left
        cursor.execute(STATISTICS)
        cursor.execute("ANALYZE dossiers_dossier")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP STATISTICS IF EXISTS dossier_queue_stats")
        for name in INDEXES:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("dossiers", "0003_apology")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
