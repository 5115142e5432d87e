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

from collections.abc import Iterator
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
