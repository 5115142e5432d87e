"""Building and dropping PostgreSQL indexes CONCURRENTLY from a migration (``atomic = False``):
on a province's decade of dossiers a plain ``CREATE INDEX`` would lock the table for minutes.
Other databases (the demo's SQLite) are left alone."""

from __future__ import annotations


def build_concurrently(cursor, name: str, definition: str) -> None:
    """``CREATE INDEX CONCURRENTLY IF NOT EXISTS <name> <definition>`` (PostgreSQL). A
    concurrent build that failed earlier leaves an invalid index behind: it is dropped and
    built again."""
    cursor.execute(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE c.relname = %s", [name],
    )
    row = cursor.fetchone()
    if row is not None and not row[0]:
        cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    cursor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} {definition}")


def create_concurrently(schema_editor, indexes: dict[str, str], *, analyze: str = "") -> None:
    """:func:`build_concurrently` for each ``{name: definition}``; ``analyze``: a table to
    ``ANALYZE`` afterwards (the statistics of new expressions)."""
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name, definition in indexes.items():
            build_concurrently(cursor, name, definition)
        if analyze:
            cursor.execute(f"ANALYZE {analyze}")


def drop_concurrently(schema_editor, names) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        for name in names:
            cursor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
