"""Who may do what with a dossier: the one place (docs/dossier-lifecycle.md, "Permissions").

The staff's roles are read once per user object (one query) into a :class:`Staff` and kept on
it. Three questions are answered here:

- :func:`can_transition` — may this user ask for this transition on this dossier? ``False``
  means 403. A user who is the right person but asks at the wrong moment (a leader approving a
  dossier still being appraised) passes here and is refused by the state machine (400).
- :func:`visible_filter` — which dossiers may the user see at all (others are 404);
- :func:`queue_filter` — which dossiers wait for the user now.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Exists, OuterRef, Q

from dossiers.models import Dossier, DossierStep, State, Transition
from motcua.db import execute_prepared
from motcua.models import Agency, Role, StaffRole, Unit

CLERK_TRANSITIONS = {
    Transition.RECEIVE, Transition.REFUSE, Transition.SUPPLEMENT, Transition.RETURN_RESULT,
    Transition.WITHDRAW,
}
OFFICER_TRANSITIONS = {
    Transition.FORWARD, Transition.REQUEST_SUPPLEMENT, Transition.SUBMIT_FOR_APPROVAL,
}
LEADER_TRANSITIONS = {Transition.APPROVE, Transition.DENY, Transition.SEND_BACK}


@dataclass
class Staff:
    """What one user holds: ``units[role]`` = unit ids, ``agencies[role]`` = agency ids of those
    units; ``reception_agencies``: agencies whose reception unit the user serves as clerk;
    ``center_clerk``: clerk of a Public Administration Service Center (serves every agency)."""

    user_id: int | None
    superuser: bool = False
    units: dict[str, set[int]] = field(default_factory=dict)
    agencies: dict[str, set[int]] = field(default_factory=dict)
    reception_agencies: set[int] = field(default_factory=set)
    #: The units of a set of agencies, once read (``_units_of_agencies``).
    agency_units: dict[tuple[int, ...], tuple[int, ...]] = field(default_factory=dict)
    center_clerk: bool = False

    def units_for(self, role: str) -> set[int]:
        return self.units.get(role, set())

    def agencies_for(self, role: str) -> set[int]:
        return self.agencies.get(role, set())

    def holds(self, role: str, unit_id: int | None) -> bool:
        return unit_id is not None and unit_id in self.units_for(role)

    @property
    def all_units(self) -> set[int]:
        return set().union(*self.units.values()) if self.units else set()

    @property
    def supervisor(self) -> bool:
        return bool(self.units_for(Role.SUPERVISOR))


def staff_of(user) -> Staff:
    if not user or not getattr(user, "is_authenticated", False):
        return Staff(user_id=None)
    cached = getattr(user, "_dossier_staff", None)
    if cached is not None:
        return cached
    staff = Staff(user_id=user.pk, superuser=bool(user.is_superuser))
    for role, unit_id, agency_id, is_reception, agency_kind in _role_rows(user.pk):
        staff.units.setdefault(role, set()).add(unit_id)
        staff.agencies.setdefault(role, set()).add(agency_id)
        if role == Role.CLERK:
            if agency_kind == Agency.Kind.CENTER:
                staff.center_clerk = True
            if is_reception:
                staff.reception_agencies.add(agency_id)
    user._dossier_staff = staff
    return staff


def _role_rows(user_id: int):
    """(role, unit, agency, unit is the desk, agency kind) of every active unit the user holds
    a role in. Read on every staff request: on PostgreSQL one plain statement, without the
    ORM's compilation (the same rows as the queryset below)."""
    if connection.vendor != "postgresql":
        return StaffRole.objects.filter(user_id=user_id, unit__is_active=True).values_list(
            "role", "unit_id", "unit__agency_id", "unit__is_reception", "unit__agency__kind"
        )
    with connection.cursor() as cursor:
        execute_prepared(cursor, "motcua_staff_roles", _ROLE_ROWS_SQL, [user_id])
        return cursor.fetchall()


_ROLE_ROWS_SQL = (
    "SELECT r.role, u.id, u.agency_id, u.is_reception, a.kind FROM motcua_staffrole r "
    "JOIN motcua_unit u ON u.id = r.unit_id JOIN motcua_agency a ON a.id = u.agency_id "
    "WHERE r.user_id = %s AND u.is_active"
)


def forget(user) -> None:
    """Drop the cached roles (after changing a user's StaffRole rows in the same request)."""
    if hasattr(user, "_dossier_staff"):
        del user._dossier_staff


# ---------------------------------------------------------------------------------------------
# Capacities
# ---------------------------------------------------------------------------------------------


def is_clerk_for_agency(user, agency_id: int) -> bool:
    """Clerk of the agency's reception unit, or of a service center (which receives for all)."""
    staff = staff_of(user)
    return staff.superuser or staff.center_clerk or agency_id in staff.reception_agencies


def can_receive_for(user, agency: Agency) -> bool:
    return is_clerk_for_agency(user, agency.pk)


def is_clerk_for(user, dossier: Dossier) -> bool:
    if is_clerk_for_agency(user, dossier.agency_id):
        return True
    # A clerk holding the current clerk step (e.g. the return desk of another agency).
    return dossier.current_role == Role.CLERK and staff_of(user).holds(
        Role.CLERK, dossier.current_unit_id
    )


def _holds_current(user, dossier: Dossier, role: str) -> bool:
    return dossier.current_role == role and staff_of(user).holds(role, dossier.current_unit_id)


def _holds_any_step(user, dossier: Dossier, role: str) -> bool:
    units = staff_of(user).units_for(role)
    if not units:
        return False
    return DossierStep.objects.filter(dossier=dossier, role=role, unit_id__in=units).exists()


def is_officer_for(user, dossier: Dossier) -> bool:
    """At an officer step: the officer of that step's unit, and only the assigned handler when
    there is one. At any other moment: an officer of one of the dossier's officer steps (who
    is then told "not in this state" rather than "not yours")."""
    staff = staff_of(user)
    if staff.superuser:
        return True
    if dossier.current_role == Role.OFFICER:
        if not _holds_current(user, dossier, Role.OFFICER):
            return False
        return dossier.current_handler_id is None or dossier.current_handler_id == user.pk
    return _holds_any_step(user, dossier, Role.OFFICER)


def is_leader_for(user, dossier: Dossier) -> bool:
    """At a leader step: a leader of that step's unit. Otherwise: a leader of one of the
    dossier's leader steps."""
    staff = staff_of(user)
    if staff.superuser:
        return True
    if dossier.current_role == Role.LEADER:
        return _holds_current(user, dossier, Role.LEADER)
    return _holds_any_step(user, dossier, Role.LEADER)


def is_agency_leader_for(user, dossier: Dossier) -> bool:
    """A leader of the receiving agency, or of the agency now holding the dossier."""
    staff = staff_of(user)
    if staff.superuser:
        return True
    leader_agencies = staff.agencies_for(Role.LEADER)
    if dossier.agency_id in leader_agencies:
        return True
    step = dossier.current_step
    return step is not None and step.agency_id in leader_agencies


def can_start(user, dossier: Dossier, first_processing_step: DossierStep | None) -> bool:
    """The desk hands the dossier over, or an officer of the first processing step takes it."""
    if is_clerk_for(user, dossier):
        return True
    return first_processing_step is not None and staff_of(user).holds(
        first_processing_step.role, first_processing_step.unit_id
    )


def can_transition(
    user, dossier: Dossier, transition: str, *, first_processing_step: DossierStep | None = None
) -> bool:
    if staff_of(user).superuser:
        return True
    if transition == Transition.START:
        return can_start(user, dossier, first_processing_step)
    if transition == Transition.STOP:
        return is_agency_leader_for(user, dossier)
    if transition in CLERK_TRANSITIONS:
        return is_clerk_for(user, dossier)
    if transition in OFFICER_TRANSITIONS:
        return is_officer_for(user, dossier)
    if transition in LEADER_TRANSITIONS:
        return is_leader_for(user, dossier)
    return False


def can_assign(user, dossier: Dossier) -> bool:
    """A leader of the agency holding the current step assigns its officers."""
    staff = staff_of(user)
    if staff.superuser:
        return True
    step = dossier.current_step
    return step is not None and step.agency_id in staff.agencies_for(Role.LEADER)


def can_attach(user, dossier: Dossier, kind: str) -> bool:
    """Scans and supplements: the desk. The result: whoever holds the current step, or the
    desk. Online uploads come from the citizen (``user`` None) while the dossier is submitted."""
    from dossiers.models import Attachment

    if user is None:
        return kind == Attachment.Kind.UPLOAD and dossier.state == State.SUBMITTED
    staff = staff_of(user)
    if staff.superuser:
        return True
    if kind == Attachment.Kind.RESULT:
        return is_clerk_for(user, dossier) or (
            bool(dossier.current_role)
            and staff.holds(dossier.current_role, dossier.current_unit_id)
        )
    return is_clerk_for(user, dossier)


def can_open_attachments(user) -> bool:
    """Files are personal papers: the people who work on dossiers (clerk, officer, leader) open
    them, once the dossier is visible to them; supervisors see that files exist, not their
    content."""
    staff = staff_of(user)
    return staff.superuser or any(staff.units_for(r) for r in (Role.CLERK, Role.OFFICER, Role.LEADER))


# ---------------------------------------------------------------------------------------------
# Query filters
# ---------------------------------------------------------------------------------------------

NOTHING = Q(pk__in=[])


def visible_filter(user) -> Q | None:
    """``None`` = everything (superuser, supervisor); else a Q over Dossier.

    Clerks see their agencies' dossiers (a center's clerks: all); officers and leaders see
    dossiers whose process passes through a unit where they hold that step's role; leaders also
    see their agencies' dossiers; a handler sees what is assigned to them.
    """
    staff = staff_of(user)
    if staff.user_id is None:
        return NOTHING
    if staff.superuser or staff.supervisor:
        return None
    if staff.center_clerk:
        return None
    q = Q(current_handler_id=staff.user_id)
    if staff.reception_agencies:
        q |= Q(agency_id__in=staff.reception_agencies)
    leader_agencies = staff.agencies_for(Role.LEADER)
    if leader_agencies:
        q |= Q(agency_id__in=leader_agencies)
    step_q = Q()
    has_steps = False
    for role in (Role.CLERK, Role.OFFICER, Role.LEADER):
        units = staff.units_for(role)
        if units:
            step_q |= Q(role=role, unit_id__in=units)
            has_steps = True
    if has_steps:
        q |= Exists(DossierStep.objects.filter(step_q, dossier=OuterRef("pk")))
    return q


def queue_filter(user, *, to_assign: bool = False) -> Q:
    """The dossiers waiting for ``user`` now (open ones only; the caller adds the state filter).

    - at a step held in one of the user's units with that step's role (officers: unassigned
      or assigned to them);
    - clerks, for the agencies they receive for: online submissions to check, received
      dossiers to hand over, supplements awaited at the desk, results to hand back;
    - ``to_assign``: for a leader, the officer steps of their agencies with nobody assigned.

    The same dossiers as the pieces of :func:`queue_pieces`, as one condition.
    """
    q = NOTHING
    for piece in _queue_terms(user, to_assign=to_assign):
        q |= piece.condition
    return q


@dataclass(frozen=True)
class QueuePiece:
    """A part of a queue: ``where`` and, when ``unit_field`` is set, that field in ``units``.

    Split so that a reader can take the piece one unit at a time: ``field IN (18 units)``
    cannot be read in appointment order from any index, ``field = unit`` can (one ordered
    range per unit, merged; ``dossiers.selectors.queue_page``)."""

    where: Q
    unit_field: str | None = None
    units: tuple[int, ...] = ()

    @property
    def condition(self) -> Q:
        if self.unit_field is None:
            return self.where
        return self.where & Q(**{f"{self.unit_field}__in": self.units})


def _units_of_agencies(staff: Staff, agencies: set[int]) -> tuple[int, ...]:
    """Every unit of ``agencies``, closed ones included (a dossier may still wait at a unit
    closed since), read once per request."""
    if not agencies:
        return ()
    key = tuple(sorted(agencies))
    known = staff.agency_units.get(key)
    if known is None:
        known = staff.agency_units[key] = tuple(sorted(
            Unit.objects.filter(agency_id__in=key).values_list("pk", flat=True)))
    return known


def _queue_terms(user, *, to_assign: bool) -> list[QueuePiece]:
    """The terms :func:`queue_filter` joins with OR (they may overlap: the desk's and a
    clerk's step)."""
    staff = staff_of(user)
    if staff.user_id is None:
        return []
    if to_assign:
        q = Q(current_role=Role.OFFICER, current_handler__isnull=True)
        if staff.superuser:
            return [QueuePiece(q)]
        units = _units_of_agencies(staff, staff.agencies_for(Role.LEADER))
        if not units:
            return []
        # The officer steps of the leader's agencies, by the dossier's current unit (a step's
        # agency is its unit's): read per unit and state, an index-only range each, instead
        # of every unassigned officer step of the province probed for its step's agency
        # (1.2 s for the tab's first count at ten million dossiers, docs/queue-performance.md).
        return [QueuePiece(q, "current_unit_id", units)]
    if staff.superuser:
        return [QueuePiece(Q())]
    terms = []
    officer_units = staff.units_for(Role.OFFICER)
    if officer_units:
        terms.append(QueuePiece(
            Q(current_role=Role.OFFICER)
            & (Q(current_handler__isnull=True) | Q(current_handler_id=staff.user_id)),
            "current_unit_id", tuple(sorted(officer_units)),
        ))
    for role in (Role.LEADER, Role.CLERK):
        units = staff.units_for(role)
        if units:
            terms.append(QueuePiece(Q(current_role=role), "current_unit_id", tuple(sorted(units))))
    desk_states = [
        State.SUBMITTED, State.RECEIVED, State.SUPPLEMENT_REQUESTED, State.RESULT_READY,
    ]
    if staff.center_clerk:
        terms.append(QueuePiece(Q(state__in=desk_states)))
    elif staff.reception_agencies:
        terms.append(QueuePiece(Q(state__in=desk_states, agency_id__in=staff.reception_agencies)))
    return terms


def queue_pieces(user, *, to_assign: bool = False) -> list[QueuePiece]:
    """:func:`queue_filter` as disjoint pieces: the steps of each role the user holds (by
    unit), then the desk's work that is not already among them. Each dossier of the queue is
    in exactly one piece, so a page may read the pieces separately and merge them."""
    terms = _queue_terms(user, to_assign=to_assign)
    steps = [t for t in terms if t.unit_field is not None]
    pieces = list(steps)
    at_steps = Q()
    for term in steps:
        at_steps |= term.condition
    for term in terms:
        if term.unit_field is None:
            # The roles' terms differ by ``current_role``: only the desk's may overlap them.
            pieces.append(QueuePiece(term.where & ~at_steps if steps else term.where))
    return pieces
