"""Reads of dossiers that more than one caller needs (API, staff screens, PDFs). Query counts do
not grow with the rows: lists use ``select_related`` only, details prefetch."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from dossiers import permissions
from dossiers.models import (
    OPEN_STATES,
    Attachment,
    Dossier,
    DossierDocument,
    DossierEvent,
    DossierStep,
    State,
)
from motcua.text import fold

__all__ = [
    "DossierFilters",
    "dossier_get",
    "dossier_queue",
    "dossier_search",
    "dossier_timeline",
    "dossier_visible_to",
]

_DIGITS = re.compile(r"^\+?[\d\s.\-]+$")
ORDERINGS = {
    "due": ("due_at", "id"),
    "-due": ("-due_at", "-id"),
    "newest": ("-created_at", "-id"),
    "oldest": ("created_at", "id"),
}


@dataclass
class DossierFilters:
    """What a list can be narrowed by. ``unit`` is a unit id; ``procedure`` a procedure code;
    ``q`` matches the code, the applicant's name (diacritics ignored), ID number or phone."""

    state: list[str] | str | None = None
    overdue: bool | None = None
    due_soon: bool | None = None
    unit: int | None = None
    procedure: str | None = None
    agency: str | None = None
    q: str = ""
    ordering: str | None = None
    to_assign: bool = False

    @classmethod
    def of(cls, filters) -> DossierFilters:
        if filters is None:
            return cls()
        if isinstance(filters, cls):
            return filters
        return cls(**{k: v for k, v in dict(filters).items() if v not in (None, "")})


def _list_qs() -> QuerySet[Dossier]:
    return Dossier.objects.select_related(
        "procedure_version__procedure", "agency", "current_unit", "current_handler",
    )


def dossier_visible_to(user) -> QuerySet[Dossier]:
    """Every dossier ``user`` may see; anything else answers 404 (not 403), so that staff of
    other units cannot even learn that a code exists."""
    q = permissions.visible_filter(user)
    qs = _list_qs()
    return qs if q is None else qs.filter(q)


def _apply(qs: QuerySet[Dossier], f: DossierFilters, *, default: str) -> QuerySet[Dossier]:
    if f.state:
        states = [f.state] if isinstance(f.state, str) else list(f.state)
        qs = qs.filter(state__in=[s for s in states if s in State.values])
    if f.overdue is not None:
        qs = qs.filter(is_overdue=bool(f.overdue))
    if f.due_soon is not None:
        qs = qs.filter(is_due_soon=bool(f.due_soon))
    if f.unit:
        qs = qs.filter(current_unit_id=f.unit)
    if f.procedure:
        qs = qs.filter(procedure_version__procedure__code=f.procedure)
    if f.agency:
        qs = qs.filter(agency__code=f.agency)
    q = (f.q or "").strip()
    if q:
        qs = qs.filter(_search(q))
    return qs.order_by(*ORDERINGS.get(f.ordering or default, ORDERINGS[default]))


def _search(q: str) -> Q:
    """The code (exact or as a prefix/part), the folded applicant name (every word), the ID
    number or the phone (any spelling of it: +84, spaces, dots)."""
    condition = Q(code__iexact=q) | Q(provisional_code__iexact=q) | Q(code__icontains=q)
    if _DIGITS.match(q):
        digits = re.sub(r"\D", "", q)
        if q.startswith("+84") or (digits.startswith("84") and len(digits) == 11):
            digits = "0" + digits[2:]
        if digits:
            condition |= Q(applicant_id_number__startswith=digits) | Q(
                applicant_phone__endswith=digits
            )
    words = fold(q).split()
    if words:
        name = Q()
        for word in words:
            name &= Q(applicant_name_folded__contains=word)
        condition |= name
    return condition


def dossier_search(*, user, filters=None) -> QuerySet[Dossier]:
    """The dossiers ``user`` may see, filtered (the API list; newest first by default)."""
    f = DossierFilters.of(filters)
    return _apply(dossier_visible_to(user), f, default="newest")


def dossier_queue(*, user, filters=None) -> QuerySet[Dossier]:
    """The open dossiers waiting for ``user``: at a step held in their unit with that step's
    role, plus, for clerks, the desk's work (online submissions to check, received dossiers to
    hand over, supplements awaited, results to hand back). Soonest appointment first unless
    ``ordering`` says otherwise. ``to_assign`` (leaders): officer steps with nobody assigned."""
    f = DossierFilters.of(filters)
    qs = _list_qs().filter(state__in=OPEN_STATES).filter(
        permissions.queue_filter(user, to_assign=f.to_assign)
    )
    return _apply(qs, f, default="due")


def dossier_get(*, code: str, user, details: bool = True) -> Dossier:
    """One dossier by its code (or provisional code) if ``user`` may see it; ``Http404``
    otherwise (unknown and forbidden look the same). ``details``: with steps, documents,
    attachments and events prefetched (what the detail page shows)."""
    code = (code or "").strip()
    qs = dossier_visible_to(user)
    if details:
        qs = _with_details(qs)
    dossier = qs.filter(Q(code=code) | Q(provisional_code=code)).first() if code else None
    if dossier is None:
        raise Http404("Không tìm thấy hồ sơ.")
    return dossier


def _with_details(qs: QuerySet[Dossier]) -> QuerySet[Dossier]:
    return qs.select_related("current_step").prefetch_related(
        Prefetch(
            "steps",
            queryset=DossierStep.objects.select_related("unit", "agency", "handler").order_by(
                "position", "attempt"
            ),
        ),
        Prefetch("documents", queryset=DossierDocument.objects.order_by("position", "id")),
        Prefetch(
            "attachments",
            queryset=Attachment.objects.select_related("uploaded_by").order_by("uploaded_at", "id"),
        ),
        Prefetch("events", queryset=_timeline_qs()),
    )


def _timeline_qs() -> QuerySet[DossierEvent]:
    return DossierEvent.objects.select_related(
        "actor", "step__unit", "step__agency"
    ).order_by("at", "id")


def dossier_timeline(dossier: Dossier) -> QuerySet[DossierEvent]:
    """The dossier's events in order, with actor and step (for the timeline and Mẫu 06)."""
    return _timeline_qs().filter(dossier=dossier)
