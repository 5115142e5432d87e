"""Change history of the catalogue and the settings (django-simple-history).

Registered here rather than in each app's models: the historical tables and their migrations
belong to ``audit``, and procedures/motcua models stay as they are. Imported at the end of
``audit.models``.

Who changed: the person of the web request (simple_history's ``HistoryRequestMiddleware``),
or — for services run outside a request (an import command, a Celery task) — the ``actor``
a service names with :func:`history_actor`. Bulk writes of the catalogue services go through
``simple_history.utils.bulk_create_with_history`` (procedures/services.py), so they leave
their rows as ``save()`` does.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager

from django.contrib.auth import get_user_model
from simple_history import register
from simple_history.models import HistoricalRecords

from motcua.models import Agency, CalendarDay, StaffRole, Unit
from procedures.models import (
    FeeLine,
    Field,
    Procedure,
    ProcedureVersion,
    ProcessStep,
    RequiredDocument,
    TimeLimit,
)

_actor: contextvars.ContextVar = contextvars.ContextVar("audit_history_actor", default=None)


@contextmanager
def history_actor(actor) -> Iterator[None]:
    """Within the block, history rows name ``actor`` as who changed (unless ``actor`` is None
    or anonymous: then the request's user, if any)."""
    token = _actor.set(actor if getattr(actor, "pk", None) else None)
    try:
        yield
    finally:
        _actor.reset(token)


def _history_user(request=None, instance=None, **kwargs):
    actor = _actor.get()
    if actor is not None:
        return actor
    user = getattr(request, "user", None)
    return user if getattr(user, "is_authenticated", False) else None


class Records(HistoricalRecords):
    """simple_history's records, minus saves that touch only untracked fields (a login's
    ``last_login``): they change nothing anyone reads in the history."""

    def post_save(self, instance, created, using=None, **kwargs):
        update_fields = kwargs.get("update_fields")
        if not created and update_fields and set(update_fields) <= set(self.excluded_fields):
            return
        super().post_save(instance, created, using=using, **kwargs)


def _register(model, **config) -> None:
    if hasattr(model._meta, "simple_history_manager_attribute"):
        return  # already registered (a module imported twice under tests)
    register(model, app="audit", records_class=Records, get_user=_history_user, **config)


#: The registered models, catalogue first: what the staff history page lists, by label.
CATALOGUE = (Procedure, ProcedureVersion, TimeLimit, FeeLine, RequiredDocument, ProcessStep, Field)
SETTINGS = (Agency, Unit, StaffRole, CalendarDay)

for _model in CATALOGUE:
    # search_text is derived from the other fields; created_at never changes.
    _register(_model, excluded_fields=["search_text"] if _model is ProcedureVersion else [])
for _model in SETTINGS:
    _register(_model)

User = get_user_model()
# Accounts: who is active, staff, superuser, in which groups. Never the password hash, nor the
# time of the last login (each login would be a "change").
_register(User, excluded_fields=["password", "last_login"], m2m_fields=["groups"])

TRACKED = (*CATALOGUE, *SETTINGS, User)
