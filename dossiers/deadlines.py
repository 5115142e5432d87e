"""Deadlines that enforce themselves: the deadline sweep and the apology letters (Mẫu 04).

- :func:`deadline_sweep` — what Celery beat runs every few minutes (``dossiers.sweep_deadlines``)
  and ``manage.py sweep_deadlines`` runs by hand: it issues the apology letters that are due and
  then marks, set-based, which open dossiers are *due soon* and which are *overdue*.
- :func:`dossier_issue_apology` — the one-road service for one letter of one dossier (a leader's
  request, or the sweep on a database without the bulk path).

The rules (DOMAIN.md "Time", docs/deadlines.md):

- A running dossier (received, in progress, awaiting approval) is **due soon** when less than
  ``MOTCUA_DUE_SOON_HOURS`` working hours remain before its appointment, and **overdue** once it
  has missed an appointment: its own, or an earlier one it was apologised for (an extension does
  not make a late dossier punctual). A dossier paused for a supplement, or whose result is
  ready, is neither.
- It is **predicted late** when less than ``MOTCUA_APOLOGY_LEAD_HOURS`` working hours remain and
  it has not reached ``awaiting_approval``: it gets its letter then; any running dossier gets
  it at the latest once the appointment has passed.
- One letter per missed appointment, exactly: ``Apology(dossier, for_due_at)`` is unique. The
  letter names the step, unit and officer holding the dossier and gives a new appointment
  (:func:`new_appointment`); the dossier's appointment moves there and an ``apology`` event is
  logged (the citizen is told through the event, like every other one).

"Less than N working hours left" is not an interval of clock time, but it is one moment per
sweep: ``working_hours_between(at, due_at) < N`` ⇔ ``due_at < add_working_hours(at, N)``.
:class:`Thresholds` computes those moments once, and the SQL compares ``due_at`` with them.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, Max, Min, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _

from dossiers import permissions
from dossiers.models import (
    OPEN_STATES,
    Apology,
    Dossier,
    DossierEvent,
    EventKind,
    State,
    Transition,
)
from dossiers.services._common import append_event
from motcua import calendar
from motcua.errors import (
    ConcurrentChange,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationError,
)
from motcua.outbox import outbox_record_events
from procedures.models import ProcedureVersion, TimeUnit
from procedures.selectors import procedure_time_limit

__all__ = [
    "APOLOGY_EVENT",
    "PREDICTABLE_STATES",
    "RUNNING_STATES",
    "ApologyTerms",
    "Candidate",
    "SweepResult",
    "Thresholds",
    "apology_terms",
    "deadline_sweep",
    "dossier_apologies",
    "dossier_issue_apology",
    "new_appointment",
    "parse_moment",
]

logger = logging.getLogger(__name__)

APOLOGY_EVENT = EventKind.APOLOGY.value  # dossiers.documents.APOLOGY_EVENT reads it back
#: Dossiers whose clock runs and on whose appointment the agency is still working.
RUNNING_STATES: tuple[str, ...] = (
    State.RECEIVED.value, State.IN_PROGRESS.value, State.AWAITING_APPROVAL.value,
)
#: Running dossiers that can be *predicted* late: they have not reached approval yet.
PREDICTABLE_STATES: tuple[str, ...] = (State.RECEIVED.value, State.IN_PROGRESS.value)
OPEN: tuple[str, ...] = tuple(s.value for s in OPEN_STATES)

DEFAULT_BATCH_SIZE = 5000
#: How long before an appointment a predicted-late letter can be issued, in calendar time (the
#: lead in working hours, stretched by weekends and the longest holidays), with a margin.
PREDICTION_SPAN = timedelta(days=30)


# ---------------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------------


def _hours_setting(name: str, default: int) -> Decimal:
    value = getattr(settings, name, default)
    try:
        hours = Decimal(str(value))
    except ArithmeticError:
        raise ImproperlyConfigured(f"{name} must be a number of working hours, got {value!r}") from None
    if not hours.is_finite() or hours < 0:
        raise ImproperlyConfigured(f"{name} must be a number of working hours ≥ 0, got {value!r}")
    return hours


def due_soon_hours() -> Decimal:
    """``MOTCUA_DUE_SOON_HOURS`` (default 8: less than one working day left)."""
    return _hours_setting("MOTCUA_DUE_SOON_HOURS", 8)


def apology_lead_hours() -> Decimal:
    """``MOTCUA_APOLOGY_LEAD_HOURS`` (default 8): predicted late below this many hours left."""
    return _hours_setting("MOTCUA_APOLOGY_LEAD_HOURS", 8)


def apology_extension() -> tuple[Decimal, str] | None:
    """``MOTCUA_APOLOGY_EXTENSION``: ``None`` (the procedure's own time limit again) or
    ``(amount, unit)`` with a calendar unit, e.g. ``(5, "working_days")``."""
    value = getattr(settings, "MOTCUA_APOLOGY_EXTENSION", None)
    if value is None:
        return None
    try:
        amount, unit = value
        amount = Decimal(str(amount))
    except (TypeError, ValueError, ArithmeticError):
        raise ImproperlyConfigured(
            f"MOTCUA_APOLOGY_EXTENSION must be None or (amount, unit), got {value!r}"
        ) from None
    if unit not in calendar.UNITS or not amount.is_finite() or amount < 0:
        raise ImproperlyConfigured(f"MOTCUA_APOLOGY_EXTENSION: bad amount or unit in {value!r}")
    return amount, unit


def parse_moment(value: str) -> datetime:
    """An ISO moment from the command line or a task argument; without an offset it is taken
    in Asia/Ho_Chi_Minh (``2025-12-01T09:00``), a bare date is its midnight there."""
    text = (value or "").strip()
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise ValueError(f"not an ISO date or datetime: {value!r}")
        moment = datetime(day.year, day.month, day.day)
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=calendar.TZ)
    return moment


def batch_size_setting() -> int:
    return int(getattr(settings, "MOTCUA_SWEEP_BATCH_SIZE", DEFAULT_BATCH_SIZE))


def workers_setting() -> int:
    """``MOTCUA_SWEEP_WORKERS`` (default 2): connections issuing letters side by side (they
    split the candidates with ``SKIP LOCKED``, like concurrent sweeps); PostgreSQL only."""
    return max(1, int(getattr(settings, "MOTCUA_SWEEP_WORKERS", 2)))


def lookback() -> timedelta:
    """``MOTCUA_SWEEP_LOOKBACK_DAYS`` (default 31): how far back a sweep looks for what time
    alone changed since (a predicted-late letter's old appointment passing, a dossier back from
    a supplement, a letter whose messages were never recorded). A sweep runs at least daily; the
    margin covers a beat stopped for weeks."""
    return timedelta(days=float(getattr(settings, "MOTCUA_SWEEP_LOOKBACK_DAYS", 31)))


def announce_grace() -> timedelta:
    """``MOTCUA_SWEEP_ANNOUNCE_GRACE_SECONDS`` (default 600): how long the worker has to record
    a batch's messages before the next sweep does it instead."""
    return timedelta(seconds=float(getattr(settings, "MOTCUA_SWEEP_ANNOUNCE_GRACE_SECONDS", 600)))


# ---------------------------------------------------------------------------------------------
# The moments a sweep compares appointments with
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """The moments one sweep compares appointments with.

    ``due_soon_before``: a running dossier is due soon when ``at <= due_at < due_soon_before``
    (and it is not overdue). ``predicted_late_before``: a dossier not yet awaiting approval is
    predicted late when ``due_at < predicted_late_before``. Both are
    ``add_working_hours(at, N)``: the first moment at which N working hours will have passed
    since ``at`` (counted from the next opening when the office is closed at ``at``).
    """

    at: datetime
    due_soon_before: datetime
    predicted_late_before: datetime
    due_soon_hours: Decimal
    lead_hours: Decimal

    @classmethod
    def at_moment(cls, at: datetime) -> Thresholds:
        if timezone.is_naive(at):
            raise ValueError(f"naive datetime {at.isoformat()}: give a timezone-aware datetime")
        soon, lead = due_soon_hours(), apology_lead_hours()
        return cls(
            at=at,
            due_soon_before=calendar.add_working_hours(at, soon),
            predicted_late_before=calendar.add_working_hours(at, lead),
            due_soon_hours=soon,
            lead_hours=lead,
        )

    def needs_apology(self, state: str, due_at: datetime | None) -> bool:
        """Predicted late, or past its appointment (the same rule as the sweep's query)."""
        if due_at is None or state not in RUNNING_STATES:
            return False
        if state in PREDICTABLE_STATES:
            return due_at < self.predicted_late_before
        return due_at < self.at

    def is_due_soon(self, due_at: datetime | None, *, overdue: bool) -> bool:
        return not overdue and due_at is not None and self.at <= due_at < self.due_soon_before


# ---------------------------------------------------------------------------------------------
# The terms of one letter: shared by the per-dossier service and the set-based sweep
# ---------------------------------------------------------------------------------------------


@dataclass(slots=True)
class Candidate:
    """What a letter is computed from: the dossier as it stands when it is locked."""

    dossier_id: int
    state: str
    due_at: datetime
    version_id: int
    channel: str
    step_id: int | None
    unit_id: int | None
    officer_id: int | None

    #: The columns, in order, as the sweep's query reads them.
    COLUMNS = (
        "pk", "state", "due_at", "procedure_version_id", "channel", "current_step_id",
        "current_unit_id", "current_handler_id",
    )

    @classmethod
    def of(cls, dossier: Dossier) -> Candidate:
        return cls(*(getattr(dossier, name) for name in cls.COLUMNS))


class _Limits:
    """Time limits by (procedure version, channel), read once per sweep."""

    def __init__(self):
        self._limits: dict[tuple[int, str], tuple[Decimal, str]] = {}

    def load(self, keys: Iterable[tuple[int, str]]) -> None:
        missing = {version_id for version_id, _channel in keys} - {
            version_id for version_id, _channel in self._limits
        }
        if missing:
            versions = ProcedureVersion.objects.filter(pk__in=missing).prefetch_related(
                "time_limits"
            )
            for version in versions:
                for channel in ("in_person", "online", "post", ""):
                    amount, unit = procedure_time_limit(version=version, channel=channel or None)
                    self._limits[(version.pk, channel)] = (Decimal(amount), unit)

    def get(self, version_id: int, channel: str) -> tuple[Decimal, str]:
        key = (version_id, channel)
        if key not in self._limits:
            self.load([key])
        return self._limits.get(key) or self._limits[(version_id, "")]


def new_appointment(
    *, for_due_at: datetime, thresholds: Thresholds, limit: tuple[Decimal, str]
) -> datetime:
    """The new appointment an apology gives for ``for_due_at`` (DOMAIN.md "Time").

    Counted from the later of the missed appointment and the letter (``thresholds.at``): the
    extension ``MOTCUA_APOLOGY_EXTENSION``, by default the procedure's own time limit again
    (``limit``), at least one working day, and never so close that the new appointment would
    itself be "predicted late" at once (which would issue a second letter in the same sweep).
    """
    start = max(for_due_at, thresholds.at)
    amount, unit = apology_extension() or limit
    due = calendar.deadline(start, amount, unit)
    floor = calendar.deadline(start, 1, TimeUnit.WORKING_DAYS)
    return max(due, floor, thresholds.predicted_late_before)


def default_reason(*, already_late: bool, thresholds: Thresholds) -> str:
    if already_late:
        return _("hồ sơ chưa được giải quyết xong khi đã hết thời hạn giải quyết theo quy định")
    return _(
        "hồ sơ chưa được giải quyết xong khi thời hạn giải quyết chỉ còn dưới %(hours)s giờ "
        "làm việc"
    ) % {"hours": _hours_text(thresholds.lead_hours)}


def _hours_text(hours: Decimal) -> str:
    return f"{hours.normalize():f}".replace(".", ",")


@dataclass(slots=True)
class ApologyTerms:
    """Everything one letter says and does, computed before anything is written."""

    candidate: Candidate
    number: int
    kind: str
    issued_at: datetime
    for_due_at: datetime
    new_due_at: datetime
    reason: str
    #: The dossier's flags once the letter moved its appointment.
    is_overdue: bool
    is_due_soon: bool

    @property
    def already_late(self) -> bool:
        return self.issued_at >= self.for_due_at

    def event_data(self, apology_id: int | None = None) -> dict:
        """The ``data`` of the ``apology`` event: the keys ``dossiers.documents`` reads
        (``previous_due_at``, ``new_due_at``, ``step``, ``unit``, ``reason``) and more."""
        data = {
            "apology_number": self.number,
            "kind": self.kind,
            "previous_due_at": _iso(self.for_due_at),
            "new_due_at": _iso(self.new_due_at),
            "already_late": self.already_late,
            "step": self.candidate.step_id,
            "unit": self.candidate.unit_id,
            "officer": self.candidate.officer_id,
            "reason": self.reason,
        }
        if apology_id is not None:
            data["apology"] = apology_id
        return data


@functools.lru_cache(maxsize=4096)
def _iso(moment: datetime) -> str:
    return moment.astimezone(calendar.TZ).isoformat()


def apology_terms(
    candidate: Candidate,
    *,
    number: int,
    thresholds: Thresholds,
    limit: tuple[Decimal, str],
    first_missed: datetime | None = None,
    reason: str = "",
    kind: str = Apology.Kind.AUTO,
    memo: dict | None = None,
) -> ApologyTerms:
    """The terms of the letter for ``candidate``'s current appointment.

    ``number``: the letter's number among the dossier's letters; ``first_missed``: the earliest
    appointment apologised for before (it makes the dossier overdue once passed); ``limit``:
    the procedure's time limit for the dossier's channel. ``memo``: a dict kept for one sweep
    (the letters of appointments already passed all count from the sweep's moment, so they
    share their new appointment per time limit; the default reasons are the same words).
    """
    memo = {} if memo is None else memo
    at = thresholds.at
    for_due_at = candidate.due_at
    key = (max(for_due_at, at), limit)
    new_due_at = memo.get(key)
    if new_due_at is None:
        new_due_at = memo[key] = new_appointment(
            for_due_at=for_due_at, thresholds=thresholds, limit=limit
        )
    earliest = min(for_due_at, first_missed) if first_missed else for_due_at
    overdue = earliest < at
    reason = (reason or "").strip()
    if not reason:
        key = ("reason", at >= for_due_at)
        reason = memo.get(key) or memo.setdefault(
            key, default_reason(already_late=at >= for_due_at, thresholds=thresholds)
        )
    return ApologyTerms(
        candidate=candidate, number=number, kind=str(kind), issued_at=at, for_due_at=for_due_at,
        new_due_at=new_due_at, reason=reason, is_overdue=overdue,
        is_due_soon=thresholds.is_due_soon(new_due_at, overdue=overdue),
    )


# ---------------------------------------------------------------------------------------------
# One letter, one dossier: the service
# ---------------------------------------------------------------------------------------------


def dossier_issue_apology(
    *,
    dossier: Dossier,
    at: datetime | None = None,
    reason: str = "",
    actor=None,
    for_due_at: datetime | None = None,
) -> Apology:
    """Issue the apology and extension letter (Mẫu 04) for the dossier's current appointment,
    or return the one already issued for it: exactly one per appointment.

    Without ``actor`` (the system), only when the rules call for it: the dossier is predicted
    late or past its appointment (``TransitionNotAllowed`` otherwise). With ``actor``, a leader
    of the receiving agency or of the agency holding the dossier (``PermissionDenied``
    otherwise) may issue it at any time while the dossier runs, giving the ``reason``
    (``ValidationError`` without one). Paused, finished and closed
    dossiers get none (``TransitionNotAllowed``).

    In one transaction: lock the dossier, re-check, create the :class:`Apology` (a unique
    constraint on the appointment makes a duplicate impossible even for a writer that skipped
    the lock), move the appointment, append the ``apology`` event (its publication and the
    citizen's notification follow the event). ``apology.created`` says whether it was new.

    ``for_due_at``: the appointment the caller means (what a leader's screen showed). A letter
    already issued for it is returned (a second click issues nothing); if the appointment has
    changed otherwise, ``ConcurrentChange`` (409).
    """
    at = at or timezone.now()
    thresholds = Thresholds.at_moment(at)
    with transaction.atomic():
        locked = (
            Dossier.objects.select_for_update(of=("self",))
            .select_related("current_step")
            .get(pk=dossier.pk)
        )
        if actor is not None and not permissions.is_agency_leader_for(actor, locked):
            raise PermissionDenied(
                _("Chỉ lãnh đạo cơ quan tiếp nhận hoặc đang giải quyết hồ sơ được lập văn bản "
                  "xin lỗi.")
            )
        if locked.state not in RUNNING_STATES or locked.due_at is None:
            raise TransitionNotAllowed(
                _("Hồ sơ %(code)s đang ở trạng thái “%(state)s”: không lập văn bản xin lỗi.")
                % {"code": locked.code, "state": locked.get_state_display()}
            )
        existing = Apology.objects.filter(
            dossier=locked, for_due_at=for_due_at or locked.due_at
        ).first()
        if existing is not None:
            existing.created = False
            return existing
        if for_due_at is not None and for_due_at != locked.due_at:
            raise ConcurrentChange()
        if actor is not None and not (reason or "").strip():
            raise ValidationError(
                _("Vui lòng ghi rõ lý do chậm giải quyết hồ sơ."), code="required",
                errors={"reason": [_("Bắt buộc.")]},
            )
        if actor is None and not thresholds.needs_apology(locked.state, locked.due_at):
            raise TransitionNotAllowed(
                _("Hồ sơ %(code)s chưa trễ hạn và chưa có nguy cơ trễ hạn.") % {"code": locked.code}
            )
        candidate = Candidate.of(locked)
        history = _history([locked.pk]).get(locked.pk, (0, None))
        terms = apology_terms(
            candidate, number=history[0] + 1, first_missed=history[1], thresholds=thresholds,
            limit=_Limits().get(candidate.version_id, candidate.channel), reason=reason,
            kind=Apology.Kind.AUTO if actor is None else Apology.Kind.MANUAL,
        )
        try:
            with transaction.atomic():
                apology = Apology.objects.create(
                    dossier=locked, number=terms.number, kind=terms.kind, issued_at=at,
                    issued_by=actor, for_due_at=terms.for_due_at, new_due_at=terms.new_due_at,
                    state=locked.state, at_fault_step_id=candidate.step_id,
                    at_fault_unit_id=candidate.unit_id, at_fault_officer_id=candidate.officer_id,
                    reason=terms.reason,
                )
        except IntegrityError:
            # Someone wrote it without the row lock (raw SQL, another tool): already issued.
            existing = Apology.objects.filter(dossier=locked, for_due_at=locked.due_at).first()
            if existing is None:
                raise
            existing.created = False
            return existing
        locked.due_at = terms.new_due_at
        locked.is_overdue = terms.is_overdue
        locked.is_due_soon = terms.is_due_soon
        locked.save(update_fields=["due_at", "is_overdue", "is_due_soon", "updated_at"])
        append_event(
            dossier=locked, at=at, actor=actor, transition=APOLOGY_EVENT,
            from_state=locked.state, to_state=locked.state, step=locked.current_step,
            comment=terms.reason, data=terms.event_data(apology.pk),
        )
    apology.created = True
    return apology


def dossier_apologies(*, dossier: Dossier) -> list[Apology]:
    """Every letter of ``dossier``, first to last, with the step, unit and people they name
    (one query, however many letters): what the dossier page and the API detail list, each
    letter re-printable by its number. Letters are never changed or deleted, so this is the
    complete history. Uses the ``apologies`` prefetch when the caller made one."""
    cache = getattr(dossier, "_prefetched_objects_cache", {})
    if "apologies" in cache:
        return sorted(cache["apologies"], key=lambda letter: letter.number)
    return list(
        Apology.objects.filter(dossier_id=dossier.pk)
        .select_related("at_fault_step", "at_fault_unit", "at_fault_officer", "issued_by")
        .order_by("number")
    )


def _history(dossier_ids: Sequence[int]) -> dict[int, tuple[int, datetime | None]]:
    """Per dossier: (the last letter's number, the earliest appointment apologised for)."""
    if connection.vendor == "postgresql":
        # One array parameter rather than thousands of IN parameters (the sweep's batches).
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT dossier_id, max(number), min(for_due_at) FROM dossiers_apology "
                "WHERE dossier_id = ANY(%s) GROUP BY dossier_id",
                [list(dossier_ids)],
            )
            rows = cursor.fetchall()
    else:
        rows = (
            Apology.objects.filter(dossier_id__in=dossier_ids)
            .values("dossier_id")
            .annotate(last=Max("number"), first_missed=Min("for_due_at"))
            .values_list("dossier_id", "last", "first_missed")
        )
    return {dossier_id: (last, first) for dossier_id, last, first in rows}


# ---------------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------------


@dataclass
class SweepResult:
    """What one sweep did (counts of dossiers), for the task's log and the command's output."""

    at: datetime
    apologies: int = 0
    already_issued: int = 0
    marked_overdue: int = 0
    cleared_overdue: int = 0
    marked_due_soon: int = 0
    cleared_due_soon: int = 0
    #: Letters whose outbox messages this sweep recorded (their batch's task was lost).
    announced_late: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        data = asdict(self)
        data["at"] = _iso(self.at)
        return data


def apology_candidates(thresholds: Thresholds) -> QuerySet:
    """Running dossiers that need a letter now and have none for their current appointment."""
    issued = Apology.objects.filter(dossier=OuterRef("pk"), for_due_at=OuterRef("due_at"))
    return Dossier.objects.filter(
        Q(state__in=PREDICTABLE_STATES, due_at__lt=thresholds.predicted_late_before)
        | Q(state=State.AWAITING_APPROVAL, due_at__lt=thresholds.at),
        # Implied by the two cases; said once outside the OR so that it bounds the index scan.
        state__in=RUNNING_STATES,
        due_at__lt=max(thresholds.predicted_late_before, thresholds.at),
    ).filter(~Exists(issued))


def deadline_sweep(
    *, at: datetime | None = None, batch_size: int | None = None, bulk: bool | None = None,
    workers: int | None = None,
) -> SweepResult:
    """Issue the apology letters that are due, then mark due-soon and overdue dossiers.

    Idempotent and safe to run concurrently: letters are issued in batches, each batch in its
    own transaction over rows locked with ``FOR UPDATE SKIP LOCKED`` (two sweeps share the
    work instead of queueing), and the unique ``(dossier, for_due_at)`` of the letters makes a
    second one for an appointment impossible. A crash loses at most the batch in flight, which
    rolls back whole and the next sweep issues. ``at``: run as of that moment (default: now).
    ``bulk``: set-based batches (PostgreSQL, the default there) or one service call per dossier.
    ``workers``: bulk batches issued by that many connections at once (``MOTCUA_SWEEP_WORKERS``;
    always one inside a caller's transaction, whose data other connections cannot see).
    """
    started = time.monotonic()
    at = at or timezone.now()
    thresholds = Thresholds.at_moment(at)
    result = SweepResult(at=at)
    if bulk is None:
        bulk = connection.vendor == "postgresql"
    size = max(1, batch_size or batch_size_setting())
    workers = max(1, workers or workers_setting())
    if bulk and workers > 1 and not connection.in_atomic_block:
        _apologise_in_parallel(thresholds, result, size, workers)
    elif bulk:
        _apologise_in_bulk(thresholds, result, size)
    else:
        _apologise_one_by_one(thresholds, result, size)
    _mark_flags(thresholds, result)
    if bulk:
        _record_unannounced(thresholds, result, size)
    result.seconds = time.monotonic() - started
    logger.info("deadline sweep %s", result.as_dict())
    return result


def _apologise_one_by_one(thresholds: Thresholds, result: SweepResult, size: int) -> None:
    done: set[int] = set()
    while True:
        ids = [
            pk for pk in apology_candidates(thresholds).order_by("due_at", "id")
            .values_list("pk", flat=True)[: size + len(done)]
            if pk not in done
        ][:size]
        if not ids:
            return
        for pk in ids:
            done.add(pk)
            try:
                apology = dossier_issue_apology(dossier=Dossier(pk=pk), at=thresholds.at)
            except (TransitionNotAllowed, Dossier.DoesNotExist):
                continue  # it moved on (approved, paused, closed) since it was read
            if apology.created:
                result.apologies += 1
            else:
                result.already_issued += 1


def _apologise_in_bulk(thresholds: Thresholds, result: SweepResult, size: int) -> None:
    limits, memo = _Limits(), {}
    while True:
        with transaction.atomic():
            rows = list(
                apology_candidates(thresholds)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("due_at", "id")
                .values_list(*Candidate.COLUMNS)[:size]
            )
            if not rows:
                return
            candidates = [Candidate(*row) for row in rows]
            event_ids = _issue_batch(
                candidates, thresholds=thresholds, limits=limits, memo=memo
            )
            transaction.on_commit(partial(_announce, event_ids))
        result.apologies += len(event_ids)
        result.already_issued += len(candidates) - len(event_ids)
        if len(rows) < size or not event_ids:
            # A short batch was the last one; an empty result means another sweep holds the rest.
            return


def _apologise_in_parallel(
    thresholds: Thresholds, result: SweepResult, size: int, workers: int
) -> None:
    """``workers`` threads, each with its own connection, run the batch loop side by side:
    Python computes one batch's letters while PostgreSQL writes another's. They split the
    candidates exactly as concurrent sweeps do (``SKIP LOCKED``). An error in one is raised
    here once all have stopped; what the others committed stands."""

    def work(part: SweepResult) -> SweepResult:
        try:
            _apologise_in_bulk(thresholds, part, size)
            return part
        finally:
            connection.close()

    parts = [SweepResult(at=thresholds.at) for _ in range(workers)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sweep") as pool:
        futures = [pool.submit(work, part) for part in parts]
        wait(futures)
    for part in parts:
        result.apologies += part.apologies
        result.already_issued += part.already_issued
    for future in futures:
        future.result()  # re-raises the first failure


_ISSUE_SQL = """
WITH input AS (
    SELECT *
    FROM unnest(
        %(dossier)s::bigint[], %(number)s::integer[], %(for_due)s::timestamptz[],
        %(new_due)s::timestamptz[], %(state)s::text[], %(step)s::bigint[], %(unit)s::bigint[],
        %(officer)s::bigint[], %(reason)s::text[], %(overdue)s::boolean[],
        %(due_soon)s::boolean[], %(data)s::jsonb[]
    ) AS t(dossier_id, number, for_due_at, new_due_at, state, step_id, unit_id, officer_id,
           reason, overdue, due_soon, data)
),
issued AS (
    INSERT INTO dossiers_apology (
        dossier_id, number, kind, issued_at, issued_by_id, for_due_at, new_due_at, state,
        at_fault_step_id, at_fault_unit_id, at_fault_officer_id, reason
    )
    SELECT dossier_id, number, %(kind)s, %(at)s, NULL, for_due_at, new_due_at, state,
           step_id, unit_id, officer_id, reason
    FROM input
    ORDER BY dossier_id
    ON CONFLICT (dossier_id, for_due_at) DO NOTHING
    RETURNING id, dossier_id
),
moved AS (
    UPDATE dossiers_dossier AS d
    SET due_at = i.new_due_at, is_overdue = i.overdue, is_due_soon = i.due_soon,
        updated_at = now()
    FROM input AS i JOIN issued USING (dossier_id)
    WHERE d.id = i.dossier_id
    RETURNING d.id
)
INSERT INTO dossiers_dossierevent (
    dossier_id, at, actor_id, transition, from_state, to_state, step_id, comment, on_time, data
)
SELECT i.dossier_id, %(at)s, NULL, %(transition)s, i.state, i.state, i.step_id, i.reason, NULL,
       i.data || jsonb_build_object('apology', issued.id)
FROM input AS i JOIN issued USING (dossier_id)
ORDER BY i.dossier_id
RETURNING id
"""


def _issue_batch(
    candidates: Sequence[Candidate], *, thresholds: Thresholds, limits: _Limits,
    memo: dict | None = None,
) -> list[int]:
    """Issue the letters of a batch of locked dossiers in one statement (PostgreSQL): the
    letters (``ON CONFLICT DO NOTHING`` on the appointment: exactly once), the new
    appointments and the events of exactly the letters inserted. Returns the event ids.

    The events' outbox messages (SMS, e-mail, portal) are not written here: rendering them
    costs a millisecond a letter, ten times the letter itself. ``dossiers.publish_events``
    records and sends them once the batch commits, and :func:`_record_unannounced` (every
    sweep) records those of any letter whose task was lost."""
    memo = {} if memo is None else memo
    limits.load((c.version_id, c.channel) for c in candidates)
    # Written in id order: the heap and the indexes are touched in one sweep, not at random.
    candidates = sorted(candidates, key=lambda c: c.dossier_id)
    history = _history([c.dossier_id for c in candidates])
    terms = []
    for candidate in candidates:
        last, first_missed = history.get(candidate.dossier_id, (0, None))
        terms.append(apology_terms(
            candidate, number=last + 1, first_missed=first_missed, thresholds=thresholds,
            limit=limits.get(candidate.version_id, candidate.channel), memo=memo,
        ))
    params = {
        "dossier": [t.candidate.dossier_id for t in terms],
        "number": [t.number for t in terms],
        "for_due": [t.for_due_at for t in terms],
        "new_due": [t.new_due_at for t in terms],
        "state": [t.candidate.state for t in terms],
        "step": [t.candidate.step_id for t in terms],
        "unit": [t.candidate.unit_id for t in terms],
        "officer": [t.candidate.officer_id for t in terms],
        "reason": [t.reason for t in terms],
        "overdue": [t.is_overdue for t in terms],
        "due_soon": [t.is_due_soon for t in terms],
        "data": [json.dumps(t.event_data()) for t in terms],
        "kind": Apology.Kind.AUTO.value,
        "at": thresholds.at,
        "transition": APOLOGY_EVENT,
    }
    with connection.cursor() as cursor:
        # The statement materialises its input three times: keep it in memory.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(_ISSUE_SQL, params)
        return sorted(row[0] for row in cursor.fetchall())


def _announce(event_ids: list[int]) -> None:
    """After a batch commits: one task message for its letters (``dossiers.publish_events``:
    record their outbox messages, then send them). Best effort: a broker outage is logged,
    never raised — the letters stand, and the next sweep records what this did not
    (:func:`_record_unannounced`)."""
    if not event_ids:
        return
    from dossiers.tasks import publish_events

    try:
        publish_events.delay(event_ids)
    except Exception:
        logger.exception("Could not enqueue dossiers.publish_events for %s events", len(event_ids))


def _mark_flags(thresholds: Thresholds, result: SweepResult) -> None:
    """Set-based: a few UPDATEs, each driven by an index and bounded by what can have changed,
    touching only the rows whose flags change.

    Overdue is sticky: a running dossier that missed an appointment stays overdue until it is
    finished, whatever new appointment its letter gave. It becomes overdue when its own
    appointment passes, when the old appointment of a predicted-late letter passes, or — back
    from a supplement, which cleared the flag — again if it had missed one before. Nothing
    else ever makes a running dossier punctual again, so clearing concerns the states that are
    neither (paused, result ready).
    """
    at = thresholds.at
    since = at - lookback()
    running = Q(state__in=RUNNING_STATES)
    paused_or_done = [s for s in OPEN if s not in RUNNING_STATES]
    due_soon = running & Q(
        is_overdue=False, due_at__gte=at, due_at__lt=thresholds.due_soon_before
    )
    with transaction.atomic():
        # Past its own appointment: an index range on due_at.
        result.marked_overdue = Dossier.objects.filter(
            running, is_overdue=False, due_at__lt=at
        ).update(is_overdue=True)
        # Past the old appointment of a letter issued before it (predicted late). Such a
        # letter is issued at most the lead (in working hours: days around Tết) before that
        # appointment; letters of this sweep are left out (issued with the right flags).
        lapsed = Apology.objects.filter(
            issued_at__gte=since - PREDICTION_SPAN, issued_at__lt=at,
            for_due_at__gte=since, for_due_at__lt=at,
        )
        result.marked_overdue += Dossier.objects.filter(
            running, is_overdue=False, pk__in=lapsed.values("dossier_id")
        ).update(is_overdue=True)
        # Back from a supplement after having missed an appointment.
        resumed = DossierEvent.objects.filter(
            transition=Transition.SUPPLEMENT, at__gte=since, at__lte=at
        )
        result.marked_overdue += Dossier.objects.filter(
            running, Exists(Apology.objects.filter(dossier=OuterRef("pk"), for_due_at__lt=at)),
            is_overdue=False, pk__in=resumed.values("dossier_id"),
        ).update(is_overdue=True)
        result.cleared_overdue = Dossier.objects.filter(
            state__in=paused_or_done, is_overdue=True
        ).update(is_overdue=False)
        result.marked_due_soon = Dossier.objects.filter(due_soon, is_due_soon=False).update(
            is_due_soon=True
        )
        result.cleared_due_soon = (
            Dossier.objects.filter(state__in=OPEN, is_due_soon=True).exclude(due_soon)
            .update(is_due_soon=False)
        )


_UNANNOUNCED_SQL = """
SELECT e.id, e.dossier_id
FROM dossiers_apology AS a
JOIN dossiers_dossierevent AS e
  ON e.dossier_id = a.dossier_id AND e.at = a.issued_at AND e.transition = %(transition)s
WHERE a.kind = %(kind)s AND a.issued_at >= %(since)s AND a.issued_at < %(until)s
  AND (e.data ->> 'apology')::bigint = a.id
  AND NOT EXISTS (SELECT 1 FROM motcua_outboxmessage AS o WHERE o.event_id = e.id)
ORDER BY e.id
LIMIT %(limit)s
"""


def _record_unannounced(thresholds: Thresholds, result: SweepResult, size: int) -> None:
    """The safety net of the bulk path: letters issued by a sweep (within the look-back, and
    more than the grace period ago) whose events have no outbox message yet — their batch's
    task was lost (broker down, worker killed) — get their messages recorded now, their
    dossiers locked as every writer of messages has them. Idempotent (unique message keys)."""
    at = thresholds.at
    params = {
        "transition": APOLOGY_EVENT, "kind": Apology.Kind.AUTO.value,
        "since": at - lookback(), "until": at - announce_grace(), "limit": size,
    }
    while True:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(_UNANNOUNCED_SQL, params)
                rows = cursor.fetchall()
            if not rows:
                return
            locked = set(
                Dossier.objects.select_for_update(skip_locked=True)
                .filter(pk__in={dossier_id for _, dossier_id in rows})
                .order_by("pk").values_list("pk", flat=True)
            )
            event_ids = [event_id for event_id, dossier_id in rows if dossier_id in locked]
            if event_ids:
                outbox_record_events(event_ids=event_ids)
                transaction.on_commit(partial(_announce, event_ids))
        result.announced_late += len(event_ids)
        if len(rows) < size or not event_ids:
            return

