"""Reading a period's figures from the summary tables (docs/reports.md, "Summary tables").

A period's flows are the stored days up to ``FigureState.built_through`` plus the later days
counted live by the same SQL (:func:`reports.figures.flows`); ``carried_over`` is the month's
stock plus the month's received − exits before the period; ``pending`` is counted live over the
open dossiers and those resolved or closed since the "as of" moment (partial and range indexes;
never the history). A handful of queries, none of which reads a dossier older than the period
except the pending ones that are still open.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from django.db.models import Count, Q, Sum
from django.utils import timezone

from dossiers.models import OPEN_STATES
from motcua.db import replica_alias
from procedures.models import Channel, ProcedureVersion
from reports.figures import _month_start, flows
from reports.models import FLOW_COLUMNS, DailyFigure, FigureState, MonthlyStock

Group = tuple[int, int, str]  # agency, procedure version, channel


def summary_state(period, scope) -> FigureState | None:
    """The state of the summary tables if they can serve ``period`` for ``scope``: built, and
    covering every day before the period's start (the carried-over stock). Unit-scoped readers
    (unit leaders) are counted live: the tables are not kept per unit."""
    if scope.unit_ids is not None:
        return None
    state = FigureState.objects.using(replica_alias()).filter(pk=1).first()
    if state is None or state.built_through is None or state.built_at is None:
        return None
    if period.start > state.built_through + timedelta(days=1):
        return None
    return state


def _agency_filter(qs, scope, agency_id, column: str = "agency_id"):
    if scope.agency_ids is not None:
        qs = qs.filter(**{f"{column}__in": scope.agency_ids})
    if agency_id is not None:
        qs = qs.filter(**{column: agency_id})
    return qs


def _allowed(agency: int, scope, agency_id) -> bool:
    return (scope.agency_ids is None or agency in scope.agency_ids) and (
        agency_id is None or agency == agency_id)


def _add(into: dict, group: Group, values: dict) -> None:
    row = into.setdefault(group, {})
    for name, value in values.items():
        row[name] = row.get(name, 0) + (value or 0)


def group_flows(start: date, end: date, bt: date, scope, agency_id) -> dict[Group, dict]:
    """The flows of ``start``–``end`` per group: stored days, then the live tail."""
    out: dict[Group, dict] = {}
    alias = replica_alias()
    stored_end = min(end, bt)
    if start <= stored_end:
        qs = DailyFigure.objects.using(alias).filter(day__gte=start, day__lte=stored_end)
        qs = _agency_filter(qs, scope, agency_id)
        for row in (qs.order_by().values("agency_id", "procedure_version_id", "channel")
                    .annotate(**{f"s_{c}": Sum(c) for c in FLOW_COLUMNS})):
            _add(out, (row["agency_id"], row["procedure_version_id"], row["channel"]),
                 {c: row[f"s_{c}"] for c in FLOW_COLUMNS})
    live_start = max(start, bt + timedelta(days=1))
    if live_start <= end:
        for row in flows(live_start, end, using=alias):
            if _allowed(row[1], scope, agency_id):
                _add(out, (row[1], row[2], row[3]), dict(zip(FLOW_COLUMNS, row[4:], strict=True)))
    return out


def carried_over(start: date, scope, agency_id) -> dict[Group, int]:
    """Dossiers in progress at the start of ``start``: the month's stock, plus the month's
    received minus exits before ``start`` (all stored: ``start`` ≤ built_through + 1)."""
    alias = replica_alias()
    month = _month_start(start)
    out: dict[Group, int] = {}
    stock = _agency_filter(MonthlyStock.objects.using(alias).filter(month=month), scope,
                           agency_id)
    for a, v, c, n in stock.values_list("agency_id", "procedure_version_id", "channel",
                                        "in_progress"):
        out[(a, v, c)] = n
    if start > month:
        qs = _agency_filter(
            DailyFigure.objects.using(alias).filter(day__gte=month, day__lt=start), scope,
            agency_id)
        for row in (qs.order_by().values("agency_id", "procedure_version_id", "channel")
                    .annotate(r=Sum("received"), x=Sum("exits"))):
            k = (row["agency_id"], row["procedure_version_id"], row["channel"])
            out[k] = out.get(k, 0) + row["r"] - row["x"]
    return out


def pending_counts(period, scope, agency_id, now: datetime | None, *, using: str | None = None
                   ) -> dict[Group, dict]:
    """``pending_in_time`` / ``pending_overdue`` at the period's "as of", with the very filters
    of :func:`reports.selectors.figure_filters`, over the dossiers that can be pending then:
    open now, or resolved or closed since (an open-state partial index and two range
    indexes, OR-ed)."""
    from reports.selectors import dossier_base, figure_filters

    as_of = period.as_of(now)
    filters = figure_filters(period, now=now)
    qs = dossier_base(scope, agency_id=agency_id).using(using or replica_alias()).filter(
        Q(received_at__lt=as_of)
        & (Q(state__in=OPEN_STATES) | Q(result_ready_at__gte=as_of) | Q(closed_at__gte=as_of))
    )
    out: dict[Group, dict] = {}
    for row in (qs.order_by().values("agency_id", "procedure_version_id", "channel").annotate(
            pending_in_time=Count("id", filter=filters["pending_in_time"]),
            pending_overdue=Count("id", filter=filters["pending_overdue"]))):
        _add(out, (row["agency_id"], row["procedure_version_id"], row["channel"]),
             {"pending_in_time": row["pending_in_time"],
              "pending_overdue": row["pending_overdue"]})
    return out


def open_counts(period, scope, agency_id, now: datetime | None, state: FigureState
                ) -> dict[Group, dict]:
    """Pending at the period's "as of": for a period not over yet, the figures of the last
    rebuild (:class:`~reports.models.OpenFigure`, as of ``state.built_at``); for a period that
    has ended, counted live at its end."""
    from django.utils import timezone

    from reports.models import OpenFigure

    if period.end_at <= (now or timezone.now()):
        return pending_counts(period, scope, agency_id, now)
    qs = _agency_filter(OpenFigure.objects.using(replica_alias()), scope, agency_id)
    return {
        (a, v, c): {"pending_in_time": n, "pending_overdue": m}
        for a, v, c, n, m in qs.values_list("agency_id", "procedure_version_id", "channel",
                                            "pending_in_time", "pending_overdue")
    }


def _figures(values: dict, channel: str) -> dict:
    """A group's stored/live counts as the figures of ``reports.selectors``."""
    received = values.get("received", 0)
    out = {name: values.get(name, 0) for name in FLOW_COLUMNS if name not in ("exits",)}
    out["received_in_person"] = received if channel == Channel.IN_PERSON else 0
    out["received_online"] = received if channel == Channel.ONLINE else 0
    out["received_post"] = received if channel == Channel.POST else 0
    for name in ("carried_over", "pending_in_time", "pending_overdue"):
        out[name] = values.get(name, 0)
    return out


def _key_of(group_bys: Sequence[str], versions: dict):
    def key(group: Group) -> tuple:
        agency, version, channel = group
        procedure, field = versions.get(version, (None, None))
        by = {"agency": agency, "procedure": procedure, "field": field, "channel": channel}
        return tuple(by[g] for g in group_bys)

    return key


def stored_counts(period, scope, agency_id, group_bys: Sequence[str], now: datetime | None,
                  state: FigureState) -> dict:
    """``{key tuple: figures}`` as :func:`reports.selectors._live_counts` gives them."""
    groups = group_flows(period.start, period.end, state.built_through, scope, agency_id)
    for group, n in carried_over(period.start, scope, agency_id).items():
        _add(groups, group, {"carried_over": n})
    for group, values in open_counts(period, scope, agency_id, now, state).items():
        _add(groups, group, values)
    versions = {}
    if {"procedure", "field"} & set(group_bys):
        versions = {
            v: (p, f) for v, p, f in ProcedureVersion.objects.using(replica_alias())
            .filter(id__in={g[1] for g in groups})
            .values_list("id", "procedure_id", "field_id")
        }
    key = _key_of(group_bys, versions)
    merged: dict = {}
    for group, values in groups.items():
        _add(merged, key(group), _figures(values, group[2]))
    return merged


def stored_trend(first: date, last: date, scope, state: FigureState) -> dict[date, dict]:
    """Received, resolved and resolved late per day of ``first``–``last``."""
    alias = replica_alias()
    out: dict[date, dict] = {}
    bt = state.built_through
    if first <= min(last, bt):
        qs = _agency_filter(
            DailyFigure.objects.using(alias).filter(day__gte=first, day__lte=min(last, bt)),
            scope, None)
        for row in qs.order_by().values("day").annotate(
                received=Sum("received"), early=Sum("resolved_early"),
                on_time=Sum("resolved_on_time"), late=Sum("resolved_late")):
            out[row["day"]] = {"received": row["received"],
                               "resolved": row["early"] + row["on_time"] + row["late"],
                               "resolved_late": row["late"]}
    live_start = max(first, bt + timedelta(days=1))
    # Nothing is dated after today: counting to today asks for the same days as the summary
    # of a period ending today, which a dashboard then counts once (figures.shared_live_flows).
    last = min(last, timezone.localdate())
    if live_start <= last:
        idx = {c: i + 4 for i, c in enumerate(FLOW_COLUMNS)}
        for row in flows(live_start, last, using=alias):
            if not _allowed(row[1], scope, None):
                continue
            day = out.setdefault(row[0], {"received": 0, "resolved": 0, "resolved_late": 0})
            day["received"] += row[idx["received"]]
            day["resolved"] += (row[idx["resolved_early"]] + row[idx["resolved_on_time"]]
                                + row[idx["resolved_late"]])
            day["resolved_late"] += row[idx["resolved_late"]]
    return out



def stored_staff(period, state: FigureState) -> dict[str, dict]:
    """Steps finished in the period per officer and per unit (``handled``, ``n_on_time``,
    ``n_late``; ``dossiers`` 0): stored days plus the live tail."""
    from reports.figures import staff_flows
    from reports.models import DailyStaffFigure

    alias = replica_alias()
    rows: list[tuple] = []
    bt = state.built_through
    if period.start <= min(period.end, bt):
        rows += list(
            DailyStaffFigure.objects.using(alias)
            .filter(day__gte=period.start, day__lte=min(period.end, bt)).order_by()
            .values_list("unit_id", "handler_id").annotate(
                Sum("handled"), Sum("on_time"), Sum("late"))
        )
    live_start = max(period.start, bt + timedelta(days=1))
    if live_start <= period.end:
        rows += staff_flows(live_start, period.end, using=alias)
    out: dict[str, dict] = {"officer": {}, "unit": {}}
    for unit, handler, n, on_time, late in rows:
        for by, k in (("unit", unit), ("officer", handler)):
            if k is None:
                continue
            row = out[by].setdefault(k, {"handled": 0, "n_on_time": 0, "n_late": 0,
                                         "dossiers": 0})
            row["handled"] += n
            row["n_on_time"] += on_time
            row["n_late"] += late
    return out
