"""Which database a read may use: the primary, or a PostgreSQL replica for reads that may lag.

A replica receives the primary's changes a moment later. Reports, dashboards and the public
figures can live with figures a few seconds old; a screen that shows what its user just did
cannot. So nothing goes to the replica unless its caller says so, explicitly::

    from motcua.db import lagging

    with lagging():                      # or @lagging() on a function
        summary = report_summary(...)    # its reads go to the replica when there is one

Raw SQL takes the alias itself: ``connections[replica_alias()].cursor()``.

The rules (enforced by :class:`motcua.db_router.ReplicaRouter` and :func:`replica_alias`):

- no ``replica`` alias configured (``DATABASE_REPLICA_URL`` unset) → everything uses
  ``default``;
- writes (``save``, ``update``, ``delete``, ``select_for_update``, ``get_or_create``) always
  go to ``default``, inside a ``lagging()`` block too, and so do objects read from the replica
  and saved later;
- a read inside a transaction on ``default`` stays on ``default``: the transaction may have
  written rows the replica has not got, and a transaction wants one consistent view;
- a read outside a ``lagging()`` block stays on ``default``.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

from django.db import DEFAULT_DB_ALIAS, connections

#: The alias of the read replica in ``settings.DATABASES`` (present only when
#: ``DATABASE_REPLICA_URL`` is set).
REPLICA = "replica"

_may_lag: ContextVar[bool] = ContextVar("motcua_reads_may_lag", default=False)


def replica_configured() -> bool:
    """Whether a ``replica`` database alias exists."""
    return REPLICA in connections.settings


def lagging_allowed() -> bool:
    """Whether the current code runs inside a :func:`lagging` block."""
    return _may_lag.get()


def replica_alias() -> str:
    """The alias a read that may lag should use now: ``replica`` when one is configured and
    no transaction is open on ``default``; ``default`` otherwise."""
    if not replica_configured():
        return DEFAULT_DB_ALIAS
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return REPLICA


@contextmanager
def lagging() -> Iterator[str]:
    """Mark the reads inside the block (or the decorated function) as allowed to lag: the
    router sends them to the replica when :func:`replica_alias` says so, query by query (a
    transaction opened inside the block brings its reads back to ``default``). Yields the
    alias the block's reads use at its start. Nests; thread- and task-local."""
    token = _may_lag.set(True)
    try:
        yield replica_alias()
    finally:
        _may_lag.reset(token)


# ---------------------------------------------------------------------------------------------
# Statements prepared once per PostgreSQL session
# ---------------------------------------------------------------------------------------------

#: The PostgreSQL sessions (psycopg2 connections) and the statement names prepared in each.
_prepared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def execute_prepared(cursor, name: str, sql: str, params: Sequence = (), *,
                     types: str = "") -> None:
    """Run ``sql`` on ``cursor`` as the session's prepared statement ``name``: ``PREPARE`` the
    first time a session meets it, ``EXECUTE`` always. Placeholders: ``%s`` (numbered here; no
    ``%%`` then), or PostgreSQL's own ``$1``… with their ``types`` (``"text, text"``).

    For the few fixed statements of the hottest requests (the reception's look-ups, public
    tracking), where PostgreSQL's planning costs more than running them: a prepared statement
    is planned once per session, not on every call (docs/dossier-lifecycle.md "Reception
    performance"). Prepared statements are session state, not undone by a rollback; they do
    not survive pgbouncer's transaction pooling (docs/scaling.md "Connection pooling"). On
    another database the statement simply runs."""
    wrapper = cursor.db
    if wrapper.vendor != "postgresql":
        if "$1" in sql:
            raise ValueError("execute_prepared: $n placeholders are PostgreSQL's own")
        cursor.execute(sql, params)
        return
    session = wrapper.connection  # the session the cursor runs in
    names = _prepared.get(session)
    if names is None:
        names = _prepared[session] = set()
    if name not in names:
        if "%%" in sql:
            raise ValueError("execute_prepared: no literal % in the statement")
        pieces = sql.split("%s")
        numbered = pieces[0] + "".join(f"${i}{piece}" for i, piece in enumerate(pieces[1:], 1))
        cursor.execute(f"PREPARE {name}{f'({types})' if types else ''} AS {numbered}")
        names.add(name)
    if params:
        cursor.execute(f"EXECUTE {name}({', '.join(['%s'] * len(params))})", params)
    else:
        cursor.execute(f"EXECUTE {name}")
