"""Report figures, computed in the database (docs/reports.md holds the definitions).

Every figure about dossiers is a ``Q`` built once by :func:`figure_filters`; the summary counts
them with ``COUNT(*) FILTER (WHERE …)`` in one ``GROUP BY`` query, and the drill-down lists the
dossiers behind a figure with the very same ``Q``. Apology letters, ratings, attachments and
payments are rows of their own tables and are counted by one aggregate query each. The number
of queries does not depend on the period, the slice or the rows.

The summaries, the trend, the staff figures and the dashboard lists may lag a few seconds: they
read from the replica when there is one (``@lagging()``, :mod:`motcua.db`).

For the whole province (or an agency) the summaries, the trend and the dashboard's step figures
are read from the summary tables (:mod:`reports.stored`, docs/reports.md "Summary tables") and
lag up to one refresh; ``live=True`` counts them here instead, as the reference definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    F,
    FilteredRelation,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.functions import Trunc
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from dossiers.models import Apology, Attachment, Dossier, DossierStep, State
from motcua.db import lagging, replica_alias
from motcua.errors import PermissionDenied, ValidationError
from motcua.models import Agency, Role, StaffRole, Unit
from motcua.permissions import has_role
from procedures.models import Channel
from procedures.models import Field as ProcedureField
from ratings.models import CRITERIA, SATISFIED_LEVELS, Rating

TZ = ZoneInfo(settings.TIME_ZONE)

#: Figures counted on the dossier table, in the order reports show them.
DOSSIER_FIGURES = (
    "received", "received_in_person", "received_online", "received_post", "carried_over",
    "resolved_early", "resolved_on_time", "resolved_late", "pending_in_time", "pending_overdue",
    "supplements", "refusals", "withdrawals", "stops", "digitised", "paid_online",
)
#: Counted in the one scan of the dossier table; the other two by joins of their own tables.
SCAN_FIGURES = tuple(f for f in DOSSIER_FIGURES if f not in ("digitised", "paid_online"))
#: Every figure of a row: the counts, then the shares (fractions 0–1, ``None`` when the
#: denominator is 0). CONTRACT.md names a subset of them; the others are additions.
FIGURES = (
    *DOSSIER_FIGURES, "resolved", "pending", "apologies", "ratings",
    *(f"satisfied_{code}" for code, _label in CRITERIA),
    "satisfied_share", *(f"satisfied_share_{code}" for code, _label in CRITERIA),
    "online_share", "on_time_share", "digitised_share", "online_payment_share",
)

FIGURE_LABELS = {
    "received": _("Tiếp nhận"),
    "received_in_person": _("Tiếp nhận trực tiếp"),
    "received_online": _("Tiếp nhận trực tuyến"),
    "received_post": _("Tiếp nhận qua bưu chính"),
    "carried_over": _("Kỳ trước chuyển sang"),
    "resolved": _("Đã giải quyết"),
    "resolved_early": _("Giải quyết trước hạn"),
    "resolved_on_time": _("Giải quyết đúng hạn"),
    "resolved_late": _("Giải quyết quá hạn"),
    "pending": _("Đang giải quyết"),
    "pending_in_time": _("Đang giải quyết trong hạn"),
    "pending_overdue": _("Đang giải quyết quá hạn"),
    "supplements": _("Yêu cầu bổ sung"),
    "refusals": _("Từ chối tiếp nhận"),
    "withdrawals": _("Công dân rút hồ sơ"),
    "stops": _("Dừng xử lý"),
    "digitised": _("Hồ sơ được số hóa"),
    "paid_online": _("Thanh toán trực tuyến"),
    "apologies": _("Văn bản xin lỗi"),
    "ratings": _("Lượt đánh giá"),
    "satisfied_share": _("Tỉ lệ hài lòng"),
    "online_share": _("Tỉ lệ trực tuyến"),
    "on_time_share": _("Tỉ lệ đúng hạn"),
    "digitised_share": _("Tỉ lệ số hóa"),
    "online_payment_share": _("Tỉ lệ thanh toán trực tuyến"),
}

GROUPS = {
    # group_by → (key on Dossier, key on Apology, one dossier may fall in several rows)
    "agency": ("agency_id", "dossier__agency_id", False),
    "procedure": ("procedure_version__procedure_id", "dossier__procedure_version__procedure_id",
                  False),
    "field": ("procedure_version__field_id", "dossier__procedure_version__field_id", False),
    "channel": ("channel", "dossier__channel", False),
    "unit": ("steps__unit_id", "at_fault_unit_id", True),
    "officer": ("steps__handler_id", "at_fault_officer_id", True),
}
GROUP_LABELS = {
    "agency": _("Cơ quan"), "procedure": _("Thủ tục"), "field": _("Lĩnh vực"),
    "channel": _("Cách thức nộp"), "unit": _("Đơn vị"), "officer": _("Cán bộ"),
}


# ---------------------------------------------------------------------------------------------
# Period and scope
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Calendar days ``start``–``end`` inclusive, in the province's time zone."""

    start: date
    end: date

    def __post_init__(self):
        if self.end < self.start:
            raise ValidationError(
                _("Ngày kết thúc phải sau hoặc bằng ngày bắt đầu."), code="invalid_period"
            )
        if (self.end - self.start).days > 3 * 366:
            raise ValidationError(
                _("Kỳ báo cáo dài tối đa 3 năm."), code="invalid_period"
            )

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=TZ)

    @property
    def end_at(self) -> datetime:
        """The first moment after the period (exclusive bound)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=TZ)

    def as_of(self, now: datetime | None = None) -> datetime:
        """Where "pending" is measured: the period's end, or now if the period is not over."""
        now = now or timezone.now()
        return min(self.end_at, now)

    @classmethod
    def iso_week(cls, year: int, week: int) -> Period:
        try:
            monday = date.fromisocalendar(year, week, 1)
        except ValueError as exc:
            raise ValidationError(_("Tuần không hợp lệ."), code="invalid_week") from exc
        return cls(monday, monday + timedelta(days=6))


@dataclass(frozen=True)
class Scope:
    """What a reader may see: ``None`` = the whole province; else dossiers of these agencies
    and/or dossiers that passed through these units."""

    agency_ids: tuple[int, ...] | None = None
    unit_ids: tuple[int, ...] | None = None

    @property
    def whole_province(self) -> bool:
        return self.agency_ids is None and self.unit_ids is None

    def dossier_q(self, prefix: str = "") -> Q:
        q = Q()
        if self.agency_ids is not None:
            q &= Q(**{f"{prefix}agency_id__in": self.agency_ids})
        if self.unit_ids is not None:
            steps = DossierStep.objects.filter(
                dossier_id=OuterRef(f"{prefix}id" if prefix else "pk"), unit_id__in=self.unit_ids
            )
            q &= Q(Exists(steps))
        return q


REPORT_ROLES = (Role.SUPERVISOR, Role.LEADER)


def report_scope_for(user) -> Scope:
    """Supervisors (and superusers) see the whole province; a unit leader sees the dossiers
    that passed through the units they lead; nobody else sees reports."""
    if getattr(user, "is_superuser", False) or has_role(user, Role.SUPERVISOR):
        return Scope()
    if has_role(user, Role.LEADER):
        units = tuple(
            StaffRole.objects.filter(user=user, role=Role.LEADER).values_list("unit_id", flat=True)
        )
        return Scope(unit_ids=units)
    raise PermissionDenied(_("Chỉ lãnh đạo và cán bộ giám sát được xem báo cáo."))


def can_see_reports(user) -> bool:
    return bool(getattr(user, "is_superuser", False) or has_role(user, *REPORT_ROLES))


# ---------------------------------------------------------------------------------------------
# The definitions (docs/reports.md)
# ---------------------------------------------------------------------------------------------


#: The dossier's first apology letter, joined once (``LEFT JOIN … ON number = 1``: at most one
#: row per dossier, ``(dossier, number)`` is unique). A letter exists iff the first one does, and
#: the first is the earliest. Every queryset the figures filter carries it
#: (:func:`with_first_apology`); a subquery per figure instead would run once per row or hash
#: the whole letter table once per figure.
FIRST_APOLOGY = "first_apology"


def with_first_apology(qs: QuerySet) -> QuerySet:
    return qs.alias(**{FIRST_APOLOGY: FilteredRelation(
        "apologies", condition=Q(apologies__number=1))})


def _has_apology(before: datetime | None = None) -> Q:
    if before is None:
        return Q(**{f"{FIRST_APOLOGY}__id__isnull": False})
    return Q(**{f"{FIRST_APOLOGY}__issued_at__lt": before})


def late_q() -> Q:
    """Late in the Decision 766 sense: the result was ready after the appointment, or the
    dossier needed an apology letter (an extension does not make it on time), or a second
    supplement was requested."""
    return (
        Q(result_ready_at__gt=F("due_at"))
        | Q(supplement_requests__gte=2)
        | _has_apology()
    )


def figure_filters(period: Period, *, now: datetime | None = None) -> dict[str, Q]:
    """Each dossier figure as a filter on :class:`Dossier` (the one place they are defined)."""
    s, e = period.start_at, period.end_at
    as_of = period.as_of(now)
    received = Q(received_at__gte=s, received_at__lt=e)
    resolved = Q(result_ready_at__gte=s, result_ready_at__lt=e)
    late = late_q()
    # Before the calendar day of the appointment (local time): "early".
    early = Q(result_ready_at__lt=Trunc("due_at", "day", output_field=DateTimeField(), tzinfo=TZ))
    pending = (
        Q(received_at__lt=as_of)
        & (Q(result_ready_at__isnull=True) | Q(result_ready_at__gte=as_of))
        & (Q(closed_at__isnull=True) | Q(closed_at__gte=as_of))
    )
    # A dossier waiting for a supplement has its clock stopped: not overdue while it waits.
    paused = Q(state=State.SUPPLEMENT_REQUESTED, paused_at__lt=as_of)
    overdue = (Q(due_at__lt=as_of) & ~paused) | _has_apology(before=as_of)
    closed_in = Q(closed_at__gte=s, closed_at__lt=e)
    return {
        "received": received,
        "received_in_person": received & Q(channel=Channel.IN_PERSON),
        "received_online": received & Q(channel=Channel.ONLINE),
        "received_post": received & Q(channel=Channel.POST),
        "carried_over": (
            Q(received_at__lt=s)
            & (Q(result_ready_at__isnull=True) | Q(result_ready_at__gte=s))
            & (Q(closed_at__isnull=True) | Q(closed_at__gte=s))
        ),
        "resolved": resolved,
        "resolved_early": resolved & ~late & early,
        "resolved_on_time": resolved & ~late & ~early,
        "resolved_late": resolved & late,
        "pending": pending,
        "pending_in_time": pending & ~overdue,
        "pending_overdue": pending & overdue,
        "supplements": received & Q(supplement_requests__gt=0),
        "refusals": closed_in & Q(state=State.REFUSED),
        "withdrawals": closed_in & Q(state=State.WITHDRAWN),
        "stops": closed_in & Q(state=State.STOPPED),
        # Counted by their own joins in the summary (_attachment_counts); these filters list
        # the dossiers behind them.
        "digitised": received & Q(Exists(Attachment.objects.filter(dossier_id=OuterRef("pk")))),
        "paid_online": received & _paid_online_q(),
    }


def _payment_model():
    """The online payment model, when the payments app has one (docs/reports.md)."""
    from django.apps import apps

    try:
        return apps.get_model("payments", "Payment")
    except LookupError:
        return None


def _paid_online_q() -> Q:
    payment = _payment_model()
    if payment is None:
        return Q(pk__in=[])
    return Q(Exists(payment.objects.filter(dossier_id=OuterRef("pk"), state="paid")))


def relevant_q(period: Period) -> Q:
    """Dossiers that can count in some figure of the period (narrows the scan)."""
    s, e = period.start_at, period.end_at
    return (
        Q(received_at__lt=e)
        & (Q(result_ready_at__isnull=True) | Q(result_ready_at__gte=s))
        & (Q(closed_at__isnull=True) | Q(closed_at__gte=s))
    ) | Q(state=State.REFUSED, closed_at__gte=s, closed_at__lt=e)


# ---------------------------------------------------------------------------------------------
# The summary
# ---------------------------------------------------------------------------------------------


@dataclass
class Summary:
    period: Period
    group_by: str | None
    totals: dict
    rows: list[dict] = field(default_factory=list)
    #: When the stored part of the figures was built (``None``: all counted live).
    figures_at: datetime | None = None

    def as_dict(self) -> dict:
        return {
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            "group_by": self.group_by,
            "figures_at": self.figures_at.isoformat() if self.figures_at else None,
            "totals": self.totals,
            "rows": self.rows,
        }


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _complete(figures: dict) -> dict:
    """Fill the derived figures (sums and shares) of one row."""
    out = {name: int(figures.get(name) or 0) for name in DOSSIER_FIGURES}
    out["resolved"] = out["resolved_early"] + out["resolved_on_time"] + out["resolved_late"]
    out["pending"] = out["pending_in_time"] + out["pending_overdue"]
    out["apologies"] = int(figures.get("apologies") or 0)
    out["ratings"] = int(figures.get("ratings") or 0)
    for code, _label in CRITERIA:
        out[f"satisfied_{code}"] = int(figures.get(f"satisfied_{code}") or 0)
    out["satisfied_share"] = _share(out["satisfied_overall"], out["ratings"])
    for code, _label in CRITERIA:
        out[f"satisfied_share_{code}"] = _share(
            out[f"satisfied_{code}"], int(figures.get(f"answered_{code}") or 0)
        )
    out["online_share"] = _share(out["received_online"], out["received"])
    out["on_time_share"] = _share(
        out["resolved_early"] + out["resolved_on_time"], out["resolved"]
    )
    out["digitised_share"] = _share(out["digitised"], out["received"])
    out["online_payment_share"] = (
        _share(out["paid_online"], out["received"]) if _payment_model() is not None else None
    )
    return out


def dossier_base(scope: Scope, *, agency_id: int | None = None) -> QuerySet:
    qs = with_first_apology(Dossier.objects.filter(scope.dossier_q()))
    if agency_id is not None:
        qs = qs.filter(agency_id=agency_id)
    return qs


Keys = tuple[str, ...]


def _grouped(qs: QuerySet, keys: Keys | None, aggregates: dict) -> dict:
    """``{key tuple: {aggregate: value}}`` of one ``GROUP BY`` over ``keys`` (``{(): …}``
    without keys)."""
    if not keys:
        return {(): qs.aggregate(**aggregates)}
    names = {f"k{i}": F(column) for i, column in enumerate(keys)}
    out = {}
    for row in qs.order_by().values(**names).annotate(**aggregates):
        out[tuple(row.pop(f"k{i}") for i in range(len(keys)))] = row
    return out


def _dossier_counts(period: Period, scope: Scope, agency_id, keys: Keys | None, multi: bool,
                    now: datetime | None) -> dict:
    filters = figure_filters(period, now=now)
    aggregates = {
        name: Count("id", filter=filters[name], distinct=multi) for name in SCAN_FIGURES
    }
    qs = dossier_base(scope, agency_id=agency_id).filter(relevant_q(period))
    return _grouped(qs, keys, aggregates)


def _apology_counts(period: Period, scope: Scope, agency_id, keys: Keys | None) -> dict:
    qs = Apology.objects.filter(
        issued_at__gte=period.start_at, issued_at__lt=period.end_at
    ).filter(scope.dossier_q("dossier__"))
    if agency_id is not None:
        qs = qs.filter(dossier__agency_id=agency_id)
    return _grouped(qs, keys, {"apologies": Count("id")})


def _attachment_counts(period: Period, scope: Scope, agency_id, keys: Keys | None) -> dict:
    """``digitised`` and ``paid_online``: dossiers received in the period with at least one
    attachment / a paid online payment, by joins from those tables (distinct dossiers)."""
    out: dict = {}
    sources = [("digitised", Attachment.objects.all())]
    payment = _payment_model()
    if payment is not None:
        sources.append(("paid_online", payment.objects.filter(state="paid")))
    for name, qs in sources:
        qs = qs.filter(
            dossier__received_at__gte=period.start_at, dossier__received_at__lt=period.end_at
        ).filter(scope.dossier_q("dossier__"))
        if agency_id is not None:
            qs = qs.filter(dossier__agency_id=agency_id)
        for k, row in _grouped(qs, keys, {name: Count("dossier_id", distinct=True)}).items():
            out.setdefault(k, {}).update(row)
    return out


def _rating_counts(period: Period, scope: Scope, agency_id, keys: Keys | None, multi: bool
                   ) -> dict:
    qs = Rating.objects.filter(
        created_at__gte=period.start_at, created_at__lt=period.end_at
    ).filter(scope.dossier_q("dossier__"))
    if agency_id is not None:
        qs = qs.filter(dossier__agency_id=agency_id)
    aggregates = {"ratings": Count("id", distinct=multi)}
    for code, _label in CRITERIA:
        aggregates[f"satisfied_{code}"] = Count(
            "id", filter=Q(**{f"{code}__in": SATISFIED_LEVELS}), distinct=multi
        )
        aggregates[f"answered_{code}"] = Count("id", filter=~Q(**{code: ""}), distinct=multi)
    return _grouped(qs, keys, aggregates)


def _merge(*sources: dict) -> dict:
    merged: dict = {}
    for source in sources:
        for k, values in source.items():
            merged.setdefault(k, {}).update(values)
    return merged


def _sum(rows) -> dict:
    total: dict = {}
    for values in rows:
        for name, value in values.items():
            total[name] = total.get(name, 0) + (value or 0)
    return total


@lagging()
def report_summaries(
    *, period: Period, group_bys: Sequence[str], scope: Scope | None = None,
    agency_id: int | None = None, now: datetime | None = None, live: bool = False,
) -> dict[str, Summary]:
    """Several slices of the same period from one pass: the dossiers are grouped once by all
    the slices' columns together and rolled up per slice in Python (a few hundred groups), so
    the weekly report's agency, field and procedure tables cost one scan, not three. Only for
    the slices where a dossier is in one row (not ``unit`` or ``officer``)."""
    scope = scope or Scope()
    for group_by in group_bys:
        if group_by not in GROUPS or GROUPS[group_by][2]:
            raise ValidationError(
                _("Không thể nhóm theo “%(g)s”.") % {"g": group_by}, code="invalid_group_by"
            )
    merged, figures_at = _counts(period, scope, agency_id, tuple(group_bys), now, live)
    totals = _complete(_sum(merged.values()))
    out = {}
    for i, group_by in enumerate(group_bys):
        rolled: dict = {}
        for k, values in merged.items():
            rolled.setdefault(k[i], []).append(values)
        out[group_by] = _with_rows(
            Summary(period=period, group_by=group_by, totals=totals, figures_at=figures_at),
            group_by, {k: _sum(rows) for k, rows in rolled.items()},
        )
    return out


def _live_counts(period: Period, scope: Scope, agency_id, group_bys: tuple[str, ...],
                 now: datetime | None) -> dict:
    """Every figure counted on the dossier, letter, rating, attachment and payment tables
    (the reference definition; the path of unit-scoped readers and of periods the summary
    tables do not cover)."""
    keys = tuple(GROUPS[g][0] for g in group_bys) or None
    return _merge(
        _dossier_counts(period, scope, agency_id, keys, False, now),
        _apology_counts(period, scope, agency_id,
                        tuple(GROUPS[g][1] for g in group_bys) or None),
        _rating_counts(period, scope, agency_id,
                       tuple(f"dossier__{k}" for k in keys) if keys else None, False),
        _attachment_counts(period, scope, agency_id,
                           tuple(f"dossier__{k}" for k in keys) if keys else None),
    )


def _counts(period: Period, scope: Scope, agency_id, group_bys: tuple[str, ...],
            now: datetime | None, live: bool) -> tuple[dict, datetime | None]:
    """``({key tuple: figures}, when the stored part was built)``: from the summary tables when
    they cover the period's start, else live."""
    from reports.stored import stored_counts, summary_state

    state = None if live else summary_state(period, scope)
    if state is None:
        return _live_counts(period, scope, agency_id, group_bys, now), None
    return stored_counts(period, scope, agency_id, group_bys, now, state), state.built_at


@lagging()
def report_summary(
    *, period: Period, scope: Scope | None = None, agency_id: int | None = None,
    group_by: str | None = None, now: datetime | None = None, live: bool = False,
) -> Summary:
    """The figures of the period, for the whole scope (``totals``) and per ``group_by`` value
    (``rows``, largest intake first). A fixed number of queries whatever the number of rows:
    one scan of the dossiers, one aggregate each of apology letters, ratings, attachments and
    payments, one for the labels (twice the aggregates for ``unit`` and ``officer``, whose
    totals are not the sums of their rows)."""
    scope = scope or Scope()
    if group_by is not None and group_by not in GROUPS:
        raise ValidationError(
            _("Không thể nhóm theo “%(g)s”.") % {"g": group_by}, code="invalid_group_by"
        )
    if group_by is None:
        merged, figures_at = _counts(period, scope, agency_id, (), now, live)
        return Summary(period=period, group_by=None, totals=_complete(_sum(merged.values())),
                       figures_at=figures_at)
    key, apology_key, multi = GROUPS[group_by]
    if not multi:
        return report_summaries(period=period, group_bys=[group_by], scope=scope,
                                agency_id=agency_id, now=now, live=live)[group_by]
    # A dossier is in several rows: the totals are counted on their own.
    merged = _merge(
        _dossier_counts(period, scope, agency_id, (key,), True, now),
        _apology_counts(period, scope, agency_id, (apology_key,)),
        _rating_counts(period, scope, agency_id, (f"dossier__{key}",), True),
        _attachment_counts(period, scope, agency_id, (f"dossier__{key}",)),
    )
    return _with_rows(
        report_summary(period=period, scope=scope, agency_id=agency_id, now=now, live=live),
        group_by, {k[0]: values for k, values in merged.items()},
    )


def _with_rows(summary: Summary, group_by: str, merged: dict) -> Summary:
    summary.group_by = group_by
    labels = group_labels(group_by, [k for k in merged if k is not None])
    rows = []
    for k, values in merged.items():
        row = _complete(values)
        if not any(row[name] for name in (*DOSSIER_FIGURES, "apologies", "ratings")):
            continue
        rows.append({"key": k, "label": labels.get(k, str(_("(chưa xác định)"))), **row})
    rows.sort(key=lambda r: (-r["received"], -r["resolved"], str(r["label"])))
    summary.rows = rows
    return summary


def group_labels(group_by: str, keys: list) -> dict:
    """Readable names of the keys of one slice, in one query."""
    from django.contrib.auth import get_user_model

    from motcua.text import person_name
    from procedures.models import Procedure

    if group_by == "channel":
        return {k: str(Channel(k).label) for k in keys if k in Channel.values}
    if group_by == "agency":
        return dict(Agency.objects.filter(id__in=keys).values_list("id", "name"))
    if group_by == "field":
        return dict(ProcedureField.objects.filter(id__in=keys).values_list("id", "name"))
    if group_by == "procedure":
        return {
            p.id: f"{p.code} — {p.current_version.name if p.current_version else ''}"
            for p in Procedure.objects.filter(id__in=keys).select_related("current_version")
        }
    if group_by == "unit":
        return {
            u.id: f"{u.name} — {u.agency.short_name or u.agency.name}"
            for u in Unit.objects.filter(id__in=keys).select_related("agency")
        }
    if group_by == "officer":
        return {u.id: person_name(u) for u in get_user_model().objects.filter(id__in=keys)}
    return {}


# ---------------------------------------------------------------------------------------------
# Drill-down, trends, lists
# ---------------------------------------------------------------------------------------------

DRILL_FIGURES = (*DOSSIER_FIGURES, "resolved", "pending", "apologies", "ratings")


def figure_dossiers(
    *, period: Period, figure: str, scope: Scope | None = None, agency_id: int | None = None,
    group_by: str | None = None, key: str | None = None, now: datetime | None = None,
) -> QuerySet:
    """The dossiers behind one figure (optionally of one row of a slice), newest first."""
    scope = scope or Scope()
    if figure not in DRILL_FIGURES:
        raise ValidationError(_("Chỉ số không hợp lệ."), code="invalid_figure")
    qs = dossier_base(scope, agency_id=agency_id)
    if figure == "apologies":
        qs = qs.filter(Exists(Apology.objects.filter(
            dossier_id=OuterRef("pk"), issued_at__gte=period.start_at,
            issued_at__lt=period.end_at)))
    elif figure == "ratings":
        qs = qs.filter(rating__created_at__gte=period.start_at,
                       rating__created_at__lt=period.end_at)
    else:
        qs = qs.filter(figure_filters(period, now=now)[figure])
    if group_by and key not in (None, ""):
        if group_by not in GROUPS:
            raise ValidationError(_("Không thể nhóm theo “%(g)s”.") % {"g": group_by},
                                  code="invalid_group_by")
        column, apology_column, multi = GROUPS[group_by]
        if figure == "apologies" and group_by in ("unit", "officer"):
            qs = qs.filter(Exists(Apology.objects.filter(
                dossier_id=OuterRef("pk"), issued_at__gte=period.start_at,
                issued_at__lt=period.end_at, **{apology_column: key})))
        elif multi:
            qs = qs.filter(Exists(DossierStep.objects.filter(
                dossier_id=OuterRef("pk"), **{column.removeprefix("steps__"): key})))
        else:
            qs = qs.filter(**{column: key})
    return qs.select_related(
        "procedure_version", "procedure_version__procedure", "agency", "current_unit"
    ).order_by("-received_at", "-id")


@lagging()
def weekly_trend(*, weeks: int = 12, scope: Scope | None = None, today: date | None = None,
                 live: bool = False) -> list[dict]:
    """Received, resolved, resolved late and on-time share per ISO week, the last ``weeks``
    weeks up to this one: from the summary tables (per day, rolled up by week) when they are
    built and the reader is not unit-scoped; else one scan, three conditional counts a week."""
    scope = scope or Scope()
    today = today or timezone.localdate()
    this_monday = today - timedelta(days=today.weekday())
    first = this_monday - timedelta(weeks=weeks - 1)
    if not live and scope.unit_ids is None:
        from reports.models import FigureState
        from reports.stored import stored_trend

        state = FigureState.objects.filter(pk=1).first()
        if state is not None and state.built_through is not None:
            days = stored_trend(first, first + timedelta(weeks=weeks, days=-1), scope, state)
            out = []
            for i in range(weeks):
                monday = first + timedelta(weeks=i)
                year, week, _day = monday.isocalendar()
                week_days = [days.get(monday + timedelta(days=j), {}) for j in range(7)]
                n = sum(d.get("resolved", 0) for d in week_days)
                late_n = sum(d.get("resolved_late", 0) for d in week_days)
                out.append({
                    "monday": monday, "label": f"{week:02d}/{year}",
                    "received": sum(d.get("received", 0) for d in week_days),
                    "resolved": n, "resolved_late": late_n,
                    "on_time_share": _share(n - late_n, n),
                })
            return out
    bounds = [datetime.combine(first + timedelta(weeks=i), time.min, tzinfo=TZ)
              for i in range(weeks + 1)]
    late = late_q()
    aggregates = {}
    for i in range(weeks):
        received = Q(received_at__gte=bounds[i], received_at__lt=bounds[i + 1])
        resolved = Q(result_ready_at__gte=bounds[i], result_ready_at__lt=bounds[i + 1])
        aggregates[f"r{i}"] = Count("id", filter=received)
        aggregates[f"s{i}"] = Count("id", filter=resolved)
        aggregates[f"l{i}"] = Count("id", filter=resolved & late)
    counts = (
        with_first_apology(Dossier.objects.filter(scope.dossier_q()))
        .filter(Q(received_at__gte=bounds[0], received_at__lt=bounds[-1])
                | Q(result_ready_at__gte=bounds[0], result_ready_at__lt=bounds[-1]))
        .aggregate(**aggregates)
    )
    out = []
    for i in range(weeks):
        monday = first + timedelta(weeks=i)
        year, week, _day = monday.isocalendar()
        n, late_n = counts[f"s{i}"], counts[f"l{i}"]
        out.append({
            "monday": monday, "label": f"{week:02d}/{year}", "received": counts[f"r{i}"],
            "resolved": n, "resolved_late": late_n, "on_time_share": _share(n - late_n, n),
        })
    return out


@lagging()
def recent_comments(*, period: Period, scope: Scope | None = None, limit: int = 20) -> list:
    """The latest ratings with a comment in the period, with their dossier."""
    scope = scope or Scope()
    return list(
        Rating.objects.filter(created_at__gte=period.start_at, created_at__lt=period.end_at)
        .filter(scope.dossier_q("dossier__")).exclude(comment="")
        .select_related("dossier", "dossier__procedure_version")
        .order_by("-created_at", "-id")[:limit]
    )


@lagging()
def recent_apologies(*, period: Period, scope: Scope | None = None, limit: int = 20) -> list:
    scope = scope or Scope()
    return list(
        Apology.objects.filter(issued_at__gte=period.start_at, issued_at__lt=period.end_at)
        .filter(scope.dossier_q("dossier__"))
        .select_related("dossier", "at_fault_unit", "at_fault_officer")
        .order_by("-issued_at", "-id")[:limit]
    )


# ---------------------------------------------------------------------------------------------
# Staff performance
# ---------------------------------------------------------------------------------------------


STAFF_COLUMNS = {"officer": ("handler_id", "at_fault_officer_id"),
                 "unit": ("unit_id", "at_fault_unit_id")}


@lagging()
def staff_performances(*, period: Period, scope: Scope | None = None,
                       bys: Sequence[str] = ("officer", "unit"), with_dossiers: bool = True,
                       with_ratings: bool = True, live: bool = False) -> dict[str, list[dict]]:
    """Per officer and per unit: steps finished in the period, on time and late (each step
    against its own deadline), the dossiers they belong to, apology letters at their charge,
    and the ratings of the dossiers they worked on (a rating counts once per officer or unit).

    The steps are read once for both views (``GROUPING SETS ((unit_id), (handler_id))``: the
    step table is the largest of all). Without ``with_dossiers`` (the dashboard, which shows
    only steps late and letters) the steps come from the summary table
    (:class:`~reports.models.DailyStaffFigure`) and ``dossiers`` is 0; without
    ``with_ratings`` the ratings are not read (0)."""
    from django.contrib.auth import get_user_model
    from django.db import connections

    from motcua.text import person_name

    scope = scope or Scope()
    for by in bys:
        if by not in STAFF_COLUMNS:
            raise ValidationError(_("Chỉ xem theo cán bộ hoặc đơn vị."), code="invalid_group_by")
    s, e = period.start_at, period.end_at
    steps = DossierStep.objects.filter(finished_at__gte=s, finished_at__lt=e).filter(
        scope.dossier_q("dossier__"))
    if scope.unit_ids is not None:
        steps = steps.filter(unit_id__in=scope.unit_ids)
    inner, params = steps.order_by().values(
        "unit_id", "handler_id", "on_time", "dossier_id").query.sql_with_params()
    handled: dict[str, dict] = {"officer": {}, "unit": {}}
    stored = None
    if not (with_dossiers or live) and scope.unit_ids is None:
        from reports.stored import stored_staff, summary_state

        state = summary_state(period, scope)
        stored = stored_staff(period, state) if state is not None else None
    if stored is not None:
        handled = stored
    else:
        with connections[replica_alias()].cursor() as cursor:
            cursor.execute(
                "SELECT unit_id, handler_id, GROUPING(unit_id), count(*), "
                "count(*) FILTER (WHERE on_time), count(*) FILTER (WHERE NOT on_time), "
                "count(DISTINCT dossier_id) "
                f"FROM ({inner}) steps GROUP BY GROUPING SETS ((unit_id), (handler_id))", params,
            )
            for unit_id, handler_id, not_by_unit, n, on_time, late, dossiers in cursor.fetchall():
                by, k = ("officer", handler_id) if not_by_unit else ("unit", unit_id)
                if k is not None:
                    handled[by][k] = {"handled": n, "n_on_time": on_time, "n_late": late,
                                      "dossiers": dossiers}
    out = {}
    for by in bys:
        column, apology_column = STAFF_COLUMNS[by]
        apologies = dict(
            Apology.objects.filter(issued_at__gte=s, issued_at__lt=e)
            .filter(scope.dossier_q("dossier__")).exclude(**{f"{apology_column}__isnull": True})
            .order_by().values_list(apology_column).annotate(n=Count("id"))
        )
        rated = {} if not with_ratings else {
            r["k"]: r for r in Rating.objects.filter(created_at__gte=s, created_at__lt=e)
            .filter(scope.dossier_q("dossier__"))
            .exclude(**{f"dossier__steps__{column}__isnull": True})
            .order_by().values(k=F(f"dossier__steps__{column}")).annotate(
                ratings=Count("id", distinct=True),
                satisfied=Count("id", distinct=True, filter=Q(overall__in=SATISFIED_LEVELS)),
            )
        }
        keys = set(handled[by]) | set(apologies) | set(rated)
        if scope.unit_ids is not None and by == "unit":
            keys &= set(scope.unit_ids)
        if by == "officer":
            names = {u.id: person_name(u) for u in get_user_model().objects.filter(id__in=keys)}
        else:
            names = group_labels("unit", list(keys))
        rows = []
        for k in keys:
            h = handled[by].get(k, {})
            r = rated.get(k, {})
            n = h.get("handled", 0)
            rows.append({
                "key": k, "label": names.get(k, "—"), "handled": n,
                "dossiers": h.get("dossiers", 0), "on_time": h.get("n_on_time", 0),
                "late": h.get("n_late", 0), "on_time_share": _share(h.get("n_on_time", 0), n),
                "apologies": apologies.get(k, 0), "ratings": r.get("ratings", 0),
                "satisfied_share": _share(r.get("satisfied", 0), r.get("ratings", 0)),
            })
        rows.sort(key=lambda row: (-row["handled"], str(row["label"])))
        out[by] = rows
    return out


def staff_performance(*, period: Period, by: str = "officer", scope: Scope | None = None
                      ) -> list[dict]:
    """One view of :func:`staff_performances` (``officer`` or ``unit``)."""
    if by not in STAFF_COLUMNS:
        raise ValidationError(_("Chỉ xem theo cán bộ hoặc đơn vị."), code="invalid_group_by")
    return staff_performances(period=period, scope=scope, bys=(by,))[by]


# ---------------------------------------------------------------------------------------------
# Mẫu 07 — the dossier register (sổ theo dõi hồ sơ)
# ---------------------------------------------------------------------------------------------


def register_entries(*, period: Period, scope: Scope | None = None,
                     agency_id: int | None = None, limit: int = 50_000) -> list[dict]:
    """The lines of the dossier register: every dossier received in the period, in the order
    of reception, with the moments it went to the processing unit, came back with a result and
    was returned. One query."""
    from django.db.models import Min, Subquery

    scope = scope or Scope()
    sent = (
        DossierStep.objects.filter(dossier_id=OuterRef("pk")).exclude(role=Role.CLERK)
        .order_by().values("dossier_id").annotate(first=Min("started_at")).values("first")
    )
    qs = (
        dossier_base(scope, agency_id=agency_id)
        .filter(received_at__gte=period.start_at, received_at__lt=period.end_at)
        .annotate(sent_at=Subquery(sent[:1]))
        .select_related("procedure_version__procedure", "agency")
        .order_by("received_at", "id")
    )
    entries = []
    for n, d in enumerate(qs[:limit], 1):
        note = []
        if d.state in (State.WITHDRAWN, State.STOPPED):
            note.append(str(d.get_state_display()))
        timeliness = d.timeliness
        if timeliness == "late" or (d.due_at and d.original_due_at and d.due_at != d.original_due_at):
            note.append(str(_("Quá hạn / có văn bản xin lỗi")))
        contact = ", ".join(x for x in (d.applicant_address, d.applicant_phone) if x)
        entries.append({
            "n": n, "code": d.code, "procedure": d.procedure_version.name,
            "procedure_code": d.procedure_version.procedure.code,
            "applicant": d.applicant_name, "contact": contact, "agency": d.agency.name,
            "received_at": d.received_at, "due_at": d.due_at, "sent_at": d.sent_at,
            "result_ready_at": d.result_ready_at, "returned_at": d.returned_at,
            "note": "; ".join(note),
        })
    return entries
