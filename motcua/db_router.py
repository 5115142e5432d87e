"""The database router: reads marked as allowed to lag go to the replica, everything else to
``default`` (the rules are in :mod:`motcua.db`). Installed by ``DATABASE_ROUTERS``; without a
``replica`` alias it sends everything to ``default``."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS

from motcua.db import REPLICA, lagging_allowed, replica_alias


class ReplicaRouter:
    def db_for_read(self, model, **hints) -> str | None:
        """Inside ``lagging()``: the replica unless a transaction is open on ``default`` (or
        there is no replica). Outside: ``default``, for the related objects of an instance
        read from the replica too."""
        if lagging_allowed():
            return replica_alias()
        return DEFAULT_DB_ALIAS

    def db_for_write(self, model, **hints) -> str:
        """Always the primary, even for an object read from the replica (Django would
        otherwise write it back to the database it came from)."""
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        """The replica holds the same rows as the primary: objects from either may be
        related."""
        aliases = {DEFAULT_DB_ALIAS, REPLICA}
        if obj1._state.db in aliases and obj2._state.db in aliases:
            return True
        return None

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool | None:
        """Migrations run on the primary only; the replica gets them by replication."""
        if db == REPLICA:
            return False
        return None
