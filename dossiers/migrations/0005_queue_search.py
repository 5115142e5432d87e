"""Indexes for the staff queue's search and for the received dossiers in an officer's queue.

Each earns its place with a figure from bench/queue.py on 1,000,000 dossiers
(docs/queue-performance.md):

- ``dossier_search_trgm_idx`` — a trigram GIN index on the queue's search text
  (``dossiers.selectors.SearchText``: folded applicant name, phone, ID number, lower-cased code
  and provisional code). ``?q=`` was a scan of the whole queue with ``LIKE '%…%'``; with it, a
  selective search (a phone, an ID number, a code) reads the matching rows only. The expression
  must stay the one ``SearchText`` renders, word for word, or the planner ignores the index
  (tests/test_queue_performance.py checks the plan). Open dossiers only: the queue's rows.
- ``dossier_received_due_idx`` — received dossiers in appointment order. Officers see the
  dossiers received for their first processing step (``dossier_queue_parts``); that part of the
  queue is read in this order, 25 rows at a time, instead of all 20,000 received dossiers.

PostgreSQL only, like 0002 and 0004 (nothing on SQLite, the zero-setup demo). Built
``CONCURRENTLY`` (``atomic = False``) so that applying it to a live table does not block
reception. pg_trgm is created when missing (procedures/0002 does the same); where that right is
refused the trigram index is skipped with a warning: search works, only unindexed.
"""

import logging

from django.db import DatabaseError, migrations

from motcua.pg_indexes import build_concurrently

logger = logging.getLogger(__name__)

OPEN = (
    "('submitted', 'received', 'in_progress', 'supplement_requested', 'awaiting_approval', "
    "'result_ready')"
)
SEARCH_TEXT = (
    "(applicant_name_folded || ' ' || applicant_phone || ' ' || applicant_id_number || ' ' || "
    "lower(code) || ' ' || lower(COALESCE(provisional_code, '')))"
)
INDEXES = {
    "dossier_received_due_idx": "ON dossiers_dossier (due_at, id) WHERE state = 'received'",
    "dossier_search_trgm_idx": (
        f"ON dossiers_dossier USING gin ({SEARCH_TEXT} gin_trgm_ops) WHERE state IN {OPEN}"
    ),
}


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        build_concurrently(cursor, "dossier_received_due_idx", INDEXES["dossier_received_due_idx"])
        try:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        except DatabaseError as exc:
            logger.warning("No trigram index for the queue search (%s); search works unindexed.", exc)
            return
        build_concurrently(cursor, "dossier_search_trgm_idx", INDEXES["dossier_search_trgm_idx"])
        cursor.execute("ANALYZE dossiers_dossier")


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in INDEXES:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("dossiers", "0004_queue_indexes")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
