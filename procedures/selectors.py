"""Reads of the procedure catalogue that more than one caller needs (API, staff and public pages,
dossiers). Each returns querysets whose query count does not grow with the number of rows."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db.models import F, Prefetch, Q, QuerySet

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
)

__all__ = [
    "procedure_due_at",
    "procedure_get",
    "procedure_search",
    "procedure_time_limit",
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
