"""A trigram index on ProcedureVersion.search_text, so that the catalogue search (every word with
LIKE '%word%') uses an index on PostgreSQL. Nothing on SQLite (the zero-setup demo).

The project does not install django.contrib.postgres, hence plain SQL. Creating the pg_trgm
extension needs the right to create a trusted extension (the database owner has it on
PostgreSQL 13+); where it is refused the migration logs it and goes on without the index:
search still works, only slower on a large catalogue.
"""

import logging

from django.db import DatabaseError, migrations, transaction

logger = logging.getLogger(__name__)

INDEX = "procedures_version_search_trgm"


def create_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            cursor.execute(
                f"CREATE INDEX IF NOT EXISTS {INDEX} ON procedures_procedureversion "
                "USING gin (search_text gin_trgm_ops)"
            )
    except DatabaseError as exc:
        logger.warning("No trigram index for the catalogue search (%s); search works unindexed.", exc)


def drop_index(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):

    dependencies = [
        ("procedures", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_index, drop_index, elidable=False),
    ]
