"""Building and dropping PostgreSQL indexes CONCURRENTLY from a migration (``atomic = False``):
on a province's decade of dossiers a plain ``CREATE INDEX`` would lock the table for minutes.
Other databases (the demo's SQLite) are left alone."""

from __future__ import annotations


def create_concurrently(schema_editor, indexes: dict[str, str], *, analyze: str = "") -> None:
    """``CREATE INDEX CONCURRENTLY IF NOT EXISTS <name> <definition>`` for each item; a
    concurrent build that failed earlier leaves an invalid index behind, which is dropped and
    built again. ``analyze``: a table to ``ANALYZE`` afterwards (statistics of expressions)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name, definition in indexes.items():
            cursor.execute(
                "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                "WHERE c.relname = %s", [name],
            )
            row = cursor.fetchone()
            if row is not None and not row[0]:
                cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")
        if analyze:
            cursor.execute(f"ANALYZE {analyze}")


def drop_concurrently(schema_editor, names) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
