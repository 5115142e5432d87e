"""Reads of the procedure catalogue that more than one caller needs (API, staff and public pages,
dossiers). Each returns querysets whose query count does not grow with the number of rows."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db import connection, transaction
from django.db.models import F, Prefetch, Q, QuerySet
from django.db.models.signals import post_delete, post_save

from motcua import calendar as office_calendar
from motcua.models import Agency
from motcua.text import fold
from procedures.models import (
    Channel,
    Field,
    Level,
    Procedure,
    ProcedureVersion,
    ProcessStep,
    RequiredDocument,
    TimeLimit,
)

__all__ = [
    "procedure_due_at",
    "procedure_get",
    "procedure_search",
    "procedure_time_limit",
    "procedure_version_plan",
    "procedure_versions",
]


def _with_details(qs: QuerySet[ProcedureVersion]) -> QuerySet[ProcedureVersion]:
    return qs.prefetch_related(
        "fees", "documents", "time_limits",
        Prefetch("steps", queryset=ProcessStep.objects.select_related("agency")),
    )


def _current_versions() -> QuerySet[ProcedureVersion]:
    return ProcedureVersion.objects.filter(procedure__current_version=F("pk")).select_related(
        "procedure", "field", "agency"
    )


def procedure_search(*, q: str = "", field: Field | str | None = None,
                     agency: Agency | str | None = None, level: str | None = None,
                     active_only: bool = True, with_details: bool = False,
                     ) -> QuerySet[ProcedureVersion]:
    """The current versions of the catalogue's procedures, ordered by code.

    ``q`` ignores case and Vietnamese diacritics ("giay phep xay dung" finds "Cấp giấy phép xây
    dựng"): every word must appear in the version's folded `search_text` (code, name, field,
    agency). ``field`` and ``agency`` are instances or codes. An agency that is a commune also
    gets the commune-level procedures every commune performs (those with no agency).
    ``with_details`` prefetches fees, documents, time limits and steps.
    """
    qs = _current_versions()
    if active_only:
        qs = qs.filter(procedure__is_active=True)
    for word in fold(q).split():
        qs = qs.filter(search_text__contains=word)
    if field:
        qs = qs.filter(field=field) if isinstance(field, Field) else qs.filter(field__code=field)
    if agency:
        if not isinstance(agency, Agency):
            agency = Agency.objects.filter(code=agency).first()
        if agency is None:
            return qs.none()
        scope = Q(agency=agency)
        if agency.kind == Agency.Kind.COMMUNE:
            scope |= Q(agency__isnull=True, level=Level.COMMUNE)
        qs = qs.filter(scope)
    if level:
        qs = qs.filter(level=level)
    if with_details:
        qs = _with_details(qs)
    return qs.order_by("procedure__code")


def procedure_get(*, code: str, active_only: bool = False) -> ProcedureVersion:
    """The current version of the procedure ``code`` with everything prefetched (its procedure,
    field, agency, fees, documents, steps and per-channel limits).

    Raises `ProcedureVersion.DoesNotExist` for an unknown code (or an inactive one when
    ``active_only``).
    """
    qs = _with_details(_current_versions()).filter(procedure__code=code)
    if active_only:
        qs = qs.filter(procedure__is_active=True)
    return qs.get()


def procedure_versions(*, procedure: Procedure) -> QuerySet[ProcedureVersion]:
    """Every version of a procedure, newest first."""
    return (
        ProcedureVersion.objects.filter(procedure=procedure)
        .select_related("procedure", "field", "agency", "created_by")
        .order_by("-number")
    )


def procedure_time_limit(*, version: ProcedureVersion, channel: str | None = None,
                         ) -> tuple[Decimal, str]:
    """The time limit ``(amount, unit)`` for a dossier submitted through ``channel``: the
    channel's own limit when the catalogue has one, else the version's limit. Reads the
    prefetched limits when there are some (no query per dossier)."""
    if channel and channel in Channel.values:
        for limit in version.time_limits.all():
            if limit.channel == channel:
                return limit.amount, limit.unit
    return version.time_limit_amount, version.time_limit_unit


def procedure_due_at(*, version: ProcedureVersion, received_at: datetime,
                     channel: str | None = None) -> datetime:
    """The appointment (ngày hẹn trả) of a dossier received at ``received_at`` (aware) through
    ``channel``, by the office calendar."""
    amount, unit = procedure_time_limit(version=version, channel=channel)
    return office_calendar.deadline(received_at, amount, unit)


# ---------------------------------------------------------------------------------------------
# What a reception copies from a version, cached once the version is in use
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanDocument:
    """A required document (thành phần hồ sơ) as the reception's checklist copies it."""

    id: int
    position: int
    name: str
    originals: int
    copies: int
    is_mandatory: bool


@dataclass(frozen=True)
class PlanStep:
    """A step of the internal process as the reception copies it (its unit still to resolve:
    the step's agency, or the receiving agency when ``agency_id`` is None)."""

    id: int
    position: int
    name: str
    agency_id: int | None
    unit_code: str
    role: str
    hours: Decimal


@dataclass(frozen=True)
class VersionPlan:
    """The parts of one procedure version a dossier is received with: required documents and
    internal-process steps in order, and the per-channel time limits."""

    version_id: int
    documents: tuple[PlanDocument, ...]
    steps: tuple[PlanStep, ...]
    time_limits: dict[str, tuple[Decimal, str]]

    def time_limit(self, version: ProcedureVersion, channel: str) -> tuple[Decimal, str]:
        """As :func:`procedure_time_limit`: the channel's own limit, else the version's."""
        if channel in self.time_limits:
            return self.time_limits[channel]
        return version.time_limit_amount, version.time_limit_unit


#: version id → its plan (a plan is only kept for a version that is in use, see below).
_PLANS: dict[int, VersionPlan] = {}
_PLANS_LOCK = threading.Lock()
_PLANS_MAX = 4096


def procedure_version_plan(*, version: ProcedureVersion) -> VersionPlan:
    """The documents, steps and per-channel time limits of ``version``, for a reception.

    Rule: a version that dossiers use never changes again (``procedure_update`` makes a new
    version instead of editing it, under the procedure's row lock), so its plan is read once
    per process and kept, keyed by the version id: a reception then reads none of these three
    tables. A version not yet in use may still be edited in place, so its plan is read every
    time and not kept. The check that decides runs under a share lock on the procedure's row,
    which waits for an edit in progress to commit: a plan is kept only if no edit can follow.
    """
    plan = _PLANS.get(version.pk)
    if plan is not None:
        return plan
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT 1 FROM procedures_procedure WHERE id = %s FOR SHARE",
                    [version.procedure_id],
                )
        in_use = version.is_in_use()
        plan = _read_plan(version)
    if in_use:
        with _PLANS_LOCK:
            if len(_PLANS) >= _PLANS_MAX:
                _PLANS.clear()
            _PLANS[version.pk] = plan
    return plan


def forget_version_plans() -> None:
    """Drop every kept plan (tests that reuse version ids after a database flush)."""
    with _PLANS_LOCK:
        _PLANS.clear()


def _forget_plan(sender, instance, **kwargs) -> None:
    # A version in use is never edited through the services; this only keeps the cache honest
    # when something writes a part directly (the shell, a data fix, a test).
    version_id = instance.pk if sender is ProcedureVersion else instance.version_id
    with _PLANS_LOCK:
        _PLANS.pop(version_id, None)


for _model in (ProcedureVersion, RequiredDocument, ProcessStep, TimeLimit):
    post_save.connect(_forget_plan, sender=_model, dispatch_uid=f"plan-{_model.__name__}")
    post_delete.connect(_forget_plan, sender=_model, dispatch_uid=f"plan-del-{_model.__name__}")


def _read_plan(version: ProcedureVersion) -> VersionPlan:
    documents = tuple(
        PlanDocument(*row)
        for row in RequiredDocument.objects.filter(version_id=version.pk)
        .order_by("position", "id")
        .values_list("id", "position", "name", "originals", "copies", "is_mandatory")
    )
    steps = tuple(
        PlanStep(*row)
        for row in ProcessStep.objects.filter(version_id=version.pk)
        .order_by("position", "id")
        .values_list("id", "position", "name", "agency_id", "unit_code", "role", "hours")
    )
    limits = {
        channel: (amount, unit)
        for channel, amount, unit in TimeLimit.objects.filter(version_id=version.pk)
        .values_list("channel", "amount", "unit")
    }
    return VersionPlan(version_id=version.pk, documents=documents, steps=steps, time_limits=limits)
