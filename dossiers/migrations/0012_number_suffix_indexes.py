"""Indexes for "the last digits of a phone or ID number" over every dossier, closed ones
included (``dossiers.selectors._search``; docs/queue-performance.md, round 4).

A run of digits was found only through the trigram index, which holds the open dossiers:
the staff search (the whole table) read every closed dossier's search text, 9.3 s over ten
million dossiers for the last six digits of a phone. Reversed, "ends with" becomes "starts
with", a range of a btree (``text_pattern_ops``: ``LIKE 'prefix%'`` whatever the collation).

PostgreSQL only and built CONCURRENTLY (``atomic = False``), like 0004, 0007 and 0010.
"""

from django.db import migrations

from motcua.pg_indexes import create_concurrently, drop_concurrently

INDEXES = {
    "dossier_phone_suffix_idx":
        "ON dossiers_dossier (reverse(applicant_phone::text) text_pattern_ops)",
    "dossier_id_number_suffix_idx":
        "ON dossiers_dossier (reverse(applicant_id_number::text) text_pattern_ops)",
}


def forwards(apps, schema_editor):
    create_concurrently(schema_editor, INDEXES, analyze="dossiers_dossier")


def backwards(apps, schema_editor):
    drop_concurrently(schema_editor, INDEXES)


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("dossiers", "0011_index_audit")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
