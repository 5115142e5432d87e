"""Codes unique through constraints of the same names, without the ``varchar_pattern_ops``
"LIKE" indexes that ``unique=True`` adds on PostgreSQL: nothing searches codes by prefix, and
every reception paid for two more index entries (docs/dossier-lifecycle.md, "Reception
performance"). The unique constraints themselves are not touched: same names, same indexes."""

from django.db import migrations, models


def drop_like_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS dossiers_dossier_code_6d68c351_like")
        schema_editor.execute("DROP INDEX IF EXISTS dossiers_dossier_provisional_code_8c0017c9_like")


def create_like_indexes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS dossiers_dossier_code_6d68c351_like "
            "ON dossiers_dossier (code varchar_pattern_ops)"
        )
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS dossiers_dossier_provisional_code_8c0017c9_like "
            "ON dossiers_dossier (provisional_code varchar_pattern_ops)"
        )


class Migration(migrations.Migration):

    dependencies = [
        ("dossiers", "0007_dossier_first_officer_unit"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="dossier",
                    name="code",
                    field=models.CharField(help_text="<mã định danh cơ quan>-<yymmdd>-<số thứ tự>; mã tạm khi mới đăng ký.", max_length=64, verbose_name="mã hồ sơ"),
                ),
                migrations.AlterField(
                    model_name="dossier",
                    name="provisional_code",
                    field=models.CharField(blank=True, max_length=64, null=True, verbose_name="mã tạm (nộp trực tuyến)"),
                ),
                migrations.AddConstraint(
                    model_name="dossier",
                    constraint=models.UniqueConstraint(fields=("code",), name="dossiers_dossier_code_key"),
                ),
                migrations.AddConstraint(
                    model_name="dossier",
                    constraint=models.UniqueConstraint(fields=("provisional_code",), name="dossiers_dossier_provisional_code_key"),
                ),
            ],
            database_operations=[migrations.RunPython(drop_like_indexes, create_like_indexes)],
        ),
    ]
