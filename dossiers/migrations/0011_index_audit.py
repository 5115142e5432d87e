"""Indexes that no longer earn their place (docs/bulk-data.md, "Index audit").

- ``dossier_open_queue_idx`` (0004): (current_role, current_unit_id, state) INCLUDE (…) over
  the open dossiers. ``dossier_open_unit_state_due_idx`` (0010) has the same leading keys and
  carries the same columns; the tab counts read it the same way, index-only (checked with this
  one dropped). One index update less per reception and per transition.
- The steps' ``agency_id`` foreign-key index: nothing reads steps by agency but a delete of
  an agency, which its ``PROTECT`` forbids while any step names it (agencies are closed,
  never deleted). 277 MB at ten million dossiers, 3 % of every bulk load, four index entries
  per reception.

PostgreSQL: the drop is CONCURRENTLY (``atomic = False``), like the builds of 0004 and 0010.
"""

from django.db import migrations, models

OPEN = (
    "('submitted', 'received', 'in_progress', 'supplement_requested', 'awaiting_approval', "
    "'result_ready')"
)
OPEN_QUEUE_IDX = (
    'ON dossiers_dossier ("current_role", current_unit_id, state) '
    "INCLUDE (current_handler_id, procedure_version_id, id, due_at, is_overdue, is_due_soon) "
    "WHERE state IN " + OPEN
)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX CONCURRENTLY IF EXISTS dossier_open_queue_idx")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS dossier_open_queue_idx {OPEN_QUEUE_IDX}"
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("dossiers", "0010_queue_per_unit"),
        ("motcua", "0004_outbox_key_without_like_index"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
        migrations.AlterField(
            model_name="dossierstep",
            name="agency",
            field=models.ForeignKey(
                db_index=False, on_delete=models.deletion.PROTECT, related_name="+",
                to="motcua.agency",
            ),
        ),
    ]
