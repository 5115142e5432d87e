"""Reads of ratings: who sees which, the staff list with its filters, the summary of a list.

A rating reaches the people and units who handled its dossier (DOMAIN.md "Satisfaction"):

- supervisors, catalogue admins (kiểm soát TTHC) and superusers see every rating;
- a clerk, officer or leader sees the ratings of dossiers that passed through one of their
  units (a step of the internal process in that unit) or a step they handled themselves;
- a leader also sees those of every unit of their agencies (a department's leadership
  answers for its departments' service).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from dossiers.models import DossierStep
from dossiers.permissions import staff_of
from motcua.models import Role
from ratings.models import CRITERIA, SATISFIED_LEVELS, Level, Rating

#: Roles that see every rating.
ALL_RATINGS_ROLES = (Role.SUPERVISOR, Role.CATALOGUE_ADMIN)
#: Roles that see the ratings of what their units handled.
UNIT_ROLES = (Role.CLERK, Role.OFFICER, Role.LEADER)
#: Level filter value: any criterion answered "Không hài lòng".
ANY_DISSATISFIED = "any_dissatisfied"


@dataclass(frozen=True)
class RatingFilters:
    """The staff list's filters: ``level`` an overall level (or :data:`ANY_DISSATISFIED`),
    ``date_from``/``date_to`` days of the rating (inclusive, office time zone), ``code`` part
    of the dossier code, ``with_comment`` only ratings with a comment."""

    level: str = ""
    date_from: date | None = None
    date_to: date | None = None
    code: str = ""
    with_comment: bool = False


def can_see_ratings(user) -> bool:
    staff = staff_of(user)
    return staff.superuser or any(staff.units_for(r) for r in (*ALL_RATINGS_ROLES, *UNIT_ROLES))


def ratings_visible_filter(user) -> Q | None:
    """``None`` = every rating; else a Q over :class:`Rating` (nothing for a user without a
    role)."""
    staff = staff_of(user)
    if staff.user_id is None:
        return Q(pk__in=[])
    if staff.superuser or any(staff.units_for(r) for r in ALL_RATINGS_ROLES):
        return None
    units: set[int] = set()
    for role in UNIT_ROLES:
        units |= staff.units_for(role)
    step_q = Q(handler_id=staff.user_id)
    if units:
        step_q |= Q(unit_id__in=units)
    leader_agencies = staff.agencies_for(Role.LEADER)
    if leader_agencies:
        step_q |= Q(agency_id__in=leader_agencies)
    q = Exists(DossierStep.objects.filter(step_q, dossier_id=OuterRef("dossier_id")))
    if leader_agencies:
        q |= Q(dossier__agency_id__in=leader_agencies)
    return Q(q)


def rating_list(*, user, filters: RatingFilters | None = None) -> QuerySet[Rating]:
    """The ratings ``user`` may see, filtered, newest first, with what the list shows loaded
    in a fixed number of queries (dossier, procedure, agency; the steps' units and handlers)."""
    filters = filters or RatingFilters()
    ratings = Rating.objects.all()
    visible = ratings_visible_filter(user)
    if visible is not None:
        ratings = ratings.filter(visible)
    if filters.level == ANY_DISSATISFIED:
        q = Q()
        for name, _label in CRITERIA:
            q |= Q(**{name: Level.DISSATISFIED})
        ratings = ratings.filter(q)
    elif filters.level in Level.values:
        ratings = ratings.filter(overall=filters.level)
    tz = timezone.get_default_timezone()
    if filters.date_from:
        ratings = ratings.filter(
            created_at__gte=datetime.combine(filters.date_from, time.min, tzinfo=tz)
        )
    if filters.date_to:
        ratings = ratings.filter(
            created_at__lte=datetime.combine(filters.date_to, time.max, tzinfo=tz)
        )
    if filters.code:
        ratings = ratings.filter(dossier__code__icontains=filters.code.strip())
    if filters.with_comment:
        ratings = ratings.exclude(comment="")
    steps = DossierStep.objects.select_related("unit", "handler").order_by("position", "attempt")
    return (
        ratings.select_related("dossier__procedure_version", "dossier__agency")
        .prefetch_related(Prefetch("dossier__steps", queryset=steps))
        .order_by("-created_at", "-id")
    )


def rating_summary(ratings: QuerySet[Rating]) -> dict:
    """Counts of a list by overall level and the satisfied share (very satisfied + satisfied,
    in percent, one decimal; ``None`` for no ratings): one query."""
    counts = ratings.order_by().aggregate(
        total=Count("id"),
        **{level: Count("id", filter=Q(overall=level)) for level in Level.values},
    )
    total = counts.pop("total")
    satisfied = sum(counts[level] for level in SATISFIED_LEVELS)
    return {
        "total": total,
        "levels": [(Level(level), counts[level]) for level in Level.values],
        "satisfied_share": round(100 * satisfied / total, 1) if total else None,
    }


def rating_handled_by(rating: Rating) -> tuple[list[str], list[str]]:
    """(units, handlers) of the rating's dossier, in the order of its steps, from the
    prefetched steps (no query)."""
    from motcua.text import person_name

    units: dict[int, str] = {}
    people: dict[int, str] = {}
    for step in rating.dossier.steps.all():
        units.setdefault(step.unit_id, step.unit.name)
        if step.handler_id:
            people.setdefault(step.handler_id, person_name(step.handler))
    return list(units.values()), list(people.values())
