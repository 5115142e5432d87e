"""The outbox key unique through a constraint of the same name, without the
``varchar_pattern_ops`` index ``unique=True`` adds on PostgreSQL (nothing searches keys by
prefix; every event's messages paid for it)."""

from django.db import migrations, models


def drop_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS motcua_outboxmessage_key_08d02b79_like")


def create_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "CREATE INDEX IF NOT EXISTS motcua_outboxmessage_key_08d02b79_like "
            "ON motcua_outboxmessage (key varchar_pattern_ops)"
        )


class Migration(migrations.Migration):

    dependencies = [
        ("motcua", "0003_alter_staffnotice_kind"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="outboxmessage",
                    name="key",
                    field=models.CharField(max_length=320, verbose_name="khóa chống trùng"),
                ),
                migrations.AddConstraint(
                    model_name="outboxmessage",
                    constraint=models.UniqueConstraint(fields=("key",), name="motcua_outboxmessage_key_key"),
                ),
            ],
            database_operations=[migrations.RunPython(drop_like_index, create_like_index)],
        ),
    ]
