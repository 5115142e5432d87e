"""Index changes for the reception write path (docs/dossier-lifecycle.md, "Reception
performance").

Every reception inserts one dossier, its steps (4 for most procedures) and an event, so each
index on those tables is paid on every reception. Six foreign-key indexes were duplicates: the
column is the first column of a composite index that answers the same lookups (the foreign-key
checks of a delete, ``filter(fk=…)`` and ``fk__in``) just as well:

- ``dossiers_dossier.agency_id`` — ``dossier_agency_queue_idx (agency_id, state, due_at)``;
- ``dossiers_dossier.current_unit_id`` — ``dossier_queue_idx (current_unit_id, state, due_at)``;
- ``dossiers_dossier.procedure_version_id`` — ``dossier_version_state_idx
  (procedure_version_id, state)`` (also what ``ProcedureVersion.is_in_use`` asks);
- ``dossiers_dossierstep.dossier_id`` — ``dossier_step_unique (dossier_id, position, attempt)``;
- ``dossiers_dossierstep.unit_id`` — ``dossier_step_unit_idx (unit_id, dossier_id)``;
- ``dossiers_dossierevent.dossier_id`` — ``dossier_event_dossier_idx (dossier_id, at)``.

Those composite indexes must stay while these foreign keys have no index of their own.

On the database side this is only a ``DROP INDEX`` of each such index, found by introspection
(whatever its generated name): a plain ``AlterField`` would also drop and re-add each foreign
key, which re-checks every row of the table under lock — minutes on a province's history, for
nothing. Backwards, the indexes are built again under Django's names.
"""

import django.db.models.deletion
from django.db import migrations, models

#: (model, field) whose own single-column index goes.
FIELDS = [
    ("dossier", "agency"),
    ("dossier", "current_unit"),
    ("dossier", "procedure_version"),
    ("dossierevent", "dossier"),
    ("dossierstep", "dossier"),
    ("dossierstep", "unit"),
]


def _single_column_indexes(schema_editor, table: str, column: str) -> list[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return [
        name for name, info in constraints.items()
        if info["index"] and not info["unique"] and not info["primary_key"]
        and info["columns"] == [column]
    ]


def drop_indexes(apps, schema_editor):
    for model_name, field_name in FIELDS:
        model = apps.get_model("dossiers", model_name)
        column = model._meta.get_field(field_name).column
        for name in _single_column_indexes(schema_editor, model._meta.db_table, column):
            schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def create_indexes(apps, schema_editor):
    for model_name, field_name in FIELDS:
        model = apps.get_model("dossiers", model_name)
        field = model._meta.get_field(field_name)
        if not _single_column_indexes(schema_editor, model._meta.db_table, field.column):
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))


class Migration(migrations.Migration):
    dependencies = [("dossiers", "0005_queue_search")]

    state_operations = [
        migrations.AlterField(
            model_name="dossier",
            name="agency",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT,
                related_name="dossiers", to="motcua.agency", verbose_name="cơ quan tiếp nhận",
            ),
        ),
        migrations.AlterField(
            model_name="dossier",
            name="current_unit",
            field=models.ForeignKey(
                blank=True, db_index=False, null=True,
                on_delete=django.db.models.deletion.PROTECT, related_name="+",
                to="motcua.unit", verbose_name="đơn vị đang xử lý",
            ),
        ),
        migrations.AlterField(
            model_name="dossier",
            name="procedure_version",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT,
                related_name="dossiers", to="procedures.procedureversion",
                verbose_name="thủ tục (phiên bản)",
            ),
        ),
        migrations.AlterField(
            model_name="dossierevent",
            name="dossier",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT,
                related_name="events", to="dossiers.dossier",
            ),
        ),
        migrations.AlterField(
            model_name="dossierstep",
            name="dossier",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.CASCADE,
                related_name="steps", to="dossiers.dossier",
            ),
        ),
        migrations.AlterField(
            model_name="dossierstep",
            name="unit",
            field=models.ForeignKey(
                db_index=False, on_delete=django.db.models.deletion.PROTECT,
                related_name="dossier_steps", to="motcua.unit",
            ),
        ),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(drop_indexes, create_indexes)],
            state_operations=state_operations,
        )
    ]
