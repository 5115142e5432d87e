"""The first processing step's officer unit on the dossier, and two partial indexes for the
staff queue (docs/queue-performance.md, "Round 2").

- ``Dossier.first_officer_unit`` — the unit of the first processing step when that step is an
  officer's, set at reception (``dossiers.services.reception``). The received dossiers waiting
  for an officer's first step were found by probing the steps of every received dossier of the
  province (a correlated subquery per row, ~20,000 probes); now they are the rows with this
  column in the officer's units. Filled in here, in one statement, for the dossiers that are
  received now: the only rows anything reads it for (closed dossiers keep NULL; rewriting ten
  years of history for a value nobody reads would cost minutes of a live table).
- ``dossier_received_unit_due_idx`` — received dossiers by (first_officer_unit_id, due_at, id):
  the received part of one unit's officer's queue is an index range in appointment order.
- ``dossier_running_role_due_idx`` — running dossiers (received, in progress, awaiting
  approval: the clock is running) by (current_role, due_at, id): the "overdue" and "due soon"
  filters leave out paused dossiers (supplement requested); through the open dossiers' index
  a page skipped ~17,000 of them before reaching the first overdue row.
- ``dossier_running_unit_due_idx`` — running dossiers by (current_role, current_unit_id,
  due_at), carrying the handler and the sweep's flags: the capped count of an "overdue" or
  "due soon" list is an index-only range per unit (the appointment order of the index above
  mixes every unit's rows, most of them other officers' assignments: ~17,000 read per count).
- ``dossier_received_due_idx`` (0005) goes: the received part is now read through
  ``dossier_received_unit_due_idx``, and without the older index no variant of the page
  changes (bench/queue.py, docs/queue-performance.md) while every reception paid for it.

Indexes: PostgreSQL only and built CONCURRENTLY (``atomic = False``), like 0004 and 0005.
"""

import django.db.models.deletion
from django.db import migrations, models

from motcua.pg_indexes import build_concurrently

RUNNING = "('received', 'in_progress', 'awaiting_approval')"
INDEXES = {
    "dossier_received_unit_due_idx": (
        "ON dossiers_dossier (first_officer_unit_id, due_at, id) WHERE state = 'received'"
    ),
    "dossier_running_role_due_idx": (
        f'ON dossiers_dossier ("current_role", due_at, id) WHERE state IN {RUNNING}'
    ),
    "dossier_running_unit_due_idx": (
        'ON dossiers_dossier ("current_role", current_unit_id, due_at) '
        f"INCLUDE (current_handler_id, is_overdue, is_due_soon) WHERE state IN {RUNNING}"
    ),
}
#: Superseded by ``dossier_received_unit_due_idx`` (built again backwards).
DROPPED = {
    "dossier_received_due_idx": "ON dossiers_dossier (due_at, id) WHERE state = 'received'",
}

# The first step other than the current (reception) one, by position: what
# ``Plan.first_processing`` is for a received dossier. One statement (SQLite and PostgreSQL).
BACKFILL = """
UPDATE dossiers_dossier SET first_officer_unit_id = (
    SELECT CASE WHEN s.role = 'officer' THEN s.unit_id END
    FROM dossiers_dossierstep s
    WHERE s.dossier_id = dossiers_dossier.id
      AND s.id <> COALESCE(dossiers_dossier.current_step_id, 0)
    ORDER BY s.position, s.attempt
    LIMIT 1
)
WHERE state = 'received'
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name, definition in INDEXES.items():
            build_concurrently(cursor, name, definition)  # rebuilds one a failed build left
        for name in DROPPED:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
        cursor.execute("ANALYZE dossiers_dossier")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name, definition in DROPPED.items():
            cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")
        for name in INDEXES:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("dossiers", "0006_reception_speed"),
        ("motcua", "0003_alter_staffnotice_kind"),
    ]

    operations = [
        migrations.AddField(
            model_name="dossier",
            name="first_officer_unit",
            field=models.ForeignKey(
                blank=True, db_index=False, editable=False, null=True,
                on_delete=django.db.models.deletion.PROTECT, related_name="+",
                to="motcua.unit", verbose_name="đơn vị thụ lý đầu tiên",
            ),
        ),
        migrations.RunSQL(BACKFILL, migrations.RunSQL.noop, elidable=False),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
