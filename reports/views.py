"""Staff report pages under /staff/reports/ and the public figures page /so-lieu/."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from motcua.errors import DomainError
from motcua.models import Role
from motcua.permissions import has_role
from motcua.xlsx import xlsx_bytes, xlsx_response
from ratings.models import CRITERIA
from reports import charts
from reports.exports import dossier_sheet, staff_sheet, summary_sheet
from reports.figures import shared_live_flows
from reports.forms import ReportFilterForm, default_period
from reports.models import WeeklyReport
from reports.selectors import (
    DRILL_FIGURES,
    FIGURE_LABELS,
    GROUPS,
    Period,
    Scope,
    can_see_reports,
    figure_dossiers,
    recent_apologies,
    recent_comments,
    report_scope_for,
    report_summaries,
    report_summary,
    staff_performance,
    staff_performances,
    weekly_trend,
)

#: Columns of the dashboard's table: (figure, drill-down allowed).
TABLE_FIGURES = (
    "received", "received_online", "carried_over", "resolved_early", "resolved_on_time",
    "resolved_late", "pending_in_time", "pending_overdue", "supplements", "refusals",
    "withdrawals", "apologies", "ratings", "on_time_share", "satisfied_share",
)


def reports_required(view):
    """Login first; then supervisors and unit leaders only (403 for anyone else)."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not can_see_reports(request.user):
            raise DjangoPermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def supervisors_required(view):
    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not (request.user.is_superuser or has_role(request.user, Role.SUPERVISOR)):
            raise DjangoPermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _filters(request) -> tuple[ReportFilterForm, Period, Scope, int | None, str]:
    form = ReportFilterForm(request.GET or None)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        period = data["period"]
        agency_id = data["agency"].pk if data.get("agency") else None
        group_by = data["group_by"]
    else:
        period, agency_id, group_by = default_period(), None, "agency"
        if not form.is_bound:
            form = ReportFilterForm(initial={"start": period.start, "end": period.end,
                                             "group_by": group_by})
    return form, period, report_scope_for(request.user), agency_id, group_by


def _query(period: Period, agency_id, group_by, **extra) -> str:
    params = {"start": period.start.isoformat(), "end": period.end.isoformat(),
              "group_by": group_by}
    if agency_id:
        params["agency"] = agency_id
    params.update({k: v for k, v in extra.items() if v is not None})
    return urlencode(params)


def _pct(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%".replace(".", ",")


def _table(summary, period, agency_id, group_by) -> list[dict]:
    """The summary's rows with, for each figure, its value shown and its drill-down link."""
    base = reverse("reports-dossiers")
    out = []
    for row in [*summary.rows, {**summary.totals, "key": None, "label": _("Tổng cộng")}]:
        cells = []
        for figure in TABLE_FIGURES:
            value = row[figure]
            if figure.endswith("share"):
                cells.append({"text": _pct(value), "url": None, "figure": figure})
                continue
            url = None
            if value and figure in DRILL_FIGURES:
                url = f"{base}?{_query(period, agency_id, group_by, figure=figure, key=row['key'])}"
            cells.append({"text": f"{value:,}".replace(",", "."), "url": url, "figure": figure})
        out.append({"label": row["label"], "cells": cells, "total": row["key"] is None})
    return out


@require_safe
@reports_required
def dashboard(request):
    with shared_live_flows():  # the table and the weekly trend count today once
        return _dashboard(request)


def _dashboard(request):
    form, period, scope, agency_id, group_by = _filters(request)
    try:
        if GROUPS[group_by][2]:  # unit, officer: a dossier in several rows
            summary = report_summary(period=period, scope=scope, agency_id=agency_id,
                                     group_by=group_by)
            by_procedure = report_summary(period=period, scope=scope, agency_id=agency_id,
                                          group_by="procedure")
        else:  # one pass for the table and the most late procedures
            slices = report_summaries(period=period, scope=scope, agency_id=agency_id,
                                      group_bys=list(dict.fromkeys([group_by, "procedure"])))
            summary, by_procedure = slices[group_by], slices["procedure"]
    except DomainError as exc:
        return render(request, "reports/dashboard.html", {"form": form, "error": exc.message},
                      status=400)
    t = summary.totals

    def most_late(rows):
        return sorted((r for r in rows if r["resolved_late"] or r["pending_overdue"]),
                      key=lambda r: (-r["resolved_late"] - r["pending_overdue"],
                                     str(r["label"])))[:10]

    late_procedures = most_late(by_procedure.rows)
    # Units at fault: their own steps finished late, and the apology letters charged to them.
    late_units = sorted(
        (r for r in staff_performances(period=period, scope=scope, bys=("unit",),
                                       with_dossiers=False, with_ratings=False)["unit"]
         if r["late"] or r["apologies"]),
        key=lambda r: (-r["late"] - r["apologies"], str(r["label"])))[:10]
    trend = weekly_trend(weeks=12, scope=scope, today=period.end)
    tiles = [
        ("received", t["received"], None), ("resolved", t["resolved"], None),
        ("resolved_late", t["resolved_late"], "late"),
        ("pending_overdue", t["pending_overdue"], "late"),
        ("apologies", t["apologies"], "warn"),
        ("on_time_share", _pct(t["on_time_share"]), "ok"),
        ("online_share", _pct(t["online_share"]), None),
        ("satisfied_share", _pct(t["satisfied_share"]), "ok"),
    ]
    drill = reverse("reports-dossiers")
    context = {
        "form": form, "period": period, "summary": summary, "t": t, "group_by": group_by,
        "group_label": dict(ReportFilterForm.base_fields["group_by"].choices).get(group_by),
        "tiles": [
            {"label": FIGURE_LABELS[f], "value": v if isinstance(v, str) else
             f"{v:,}".replace(",", "."), "tone": tone,
             "url": f"{drill}?{_query(period, agency_id, group_by, figure=f)}"
             if f in DRILL_FIGURES else None}
            for f, v, tone in tiles
        ],
        "columns": [FIGURE_LABELS[f] for f in TABLE_FIGURES],
        "table": _table(summary, period, agency_id, group_by),
        "resolved_chart": charts.stacked_bar(
            [(str(FIGURE_LABELS["resolved_early"]), t["resolved_early"], charts.PALETTE["early"]),
             (str(FIGURE_LABELS["resolved_on_time"]), t["resolved_on_time"],
              charts.PALETTE["on_time"]),
             (str(FIGURE_LABELS["resolved_late"]), t["resolved_late"], charts.PALETTE["late"])],
            title=_("Kết quả giải quyết"),
        ),
        "group_chart": charts.bar_chart(
            [(str(r["label"]), r["received"]) for r in summary.rows[:12]],
            title=_("Hồ sơ tiếp nhận theo %(group)s") % {
                "group": str(dict(ReportFilterForm.base_fields["group_by"].choices)
                             .get(group_by, "")).lower()},
        ),
        "late_chart": charts.bar_chart(
            [(str(r["label"]), r["resolved_late"] + r["pending_overdue"])
             for r in late_procedures], title=_("Thủ tục có nhiều hồ sơ quá hạn"),
            color=charts.PALETTE["late"],
        ),
        "trend": trend,
        "trend_chart": charts.line_chart(
            [w["label"] for w in trend],
            [(_("Tiếp nhận"), [w["received"] for w in trend], charts.PALETTE["received"]),
             (_("Đã giải quyết"), [w["resolved"] for w in trend], charts.PALETTE["resolved"]),
             (_("Quá hạn"), [w["resolved_late"] for w in trend], charts.PALETTE["late"])],
            title=_("Xu hướng theo tuần"),
        ),
        "late_procedures": [
            {**r, "url": f"{drill}?{_query(period, agency_id, 'procedure', figure='resolved_late', key=r['key'])}"}
            for r in late_procedures
        ],
        "late_units": [
            {**r, "url": f"{drill}?{_query(period, agency_id, 'unit', figure='apologies', key=r['key'])}"
             if r["apologies"] else None}
            for r in late_units
        ],
        "apologies": recent_apologies(period=period, scope=scope),
        "comments": recent_comments(period=period, scope=scope),
        "criteria": [(FIGURE_LABELS.get("satisfied_share"), _pct(t["satisfied_share"]))] + [
            (label, _pct(t[f"satisfied_share_{code}"]))
            for code, label in CRITERIA
            if code != "overall"
        ],
        "export_url": f"{reverse('reports-summary-export')}?{_query(period, agency_id, group_by)}",
        "whole_province": scope.whole_province,
    }
    return render(request, "reports/dashboard.html", context)


@require_safe
@reports_required
def summary_export(request):
    _form, period, scope, agency_id, group_by = _filters(request)
    summary = report_summary(period=period, scope=scope, agency_id=agency_id, group_by=group_by)
    data = xlsx_bytes(summary_sheet(summary, title=_("Tổng hợp")))
    return xlsx_response(data, f"bao-cao-{period.start:%Y%m%d}-{period.end:%Y%m%d}.xlsx")


def _drill(request):
    _form, period, scope, agency_id, group_by = _filters(request)
    figure = request.GET.get("figure", "")
    key = request.GET.get("key") or None
    if figure not in DRILL_FIGURES:
        raise Http404(_("Không có chỉ số này."))
    if key is not None and group_by not in GROUPS:
        raise Http404
    qs = figure_dossiers(period=period, figure=figure, scope=scope, agency_id=agency_id,
                         group_by=group_by if key is not None else None, key=key)
    title = f"{FIGURE_LABELS[figure]} — {period.start:%d/%m/%Y}–{period.end:%d/%m/%Y}"
    return qs, title, period, agency_id, group_by, figure, key


@require_safe
@reports_required
def dossiers(request):
    try:
        qs, title, period, agency_id, group_by, figure, key = _drill(request)
    except DomainError as exc:
        raise Http404(str(exc.message)) from exc
    page = Paginator(qs, 50).get_page(request.GET.get("page"))
    query = _query(period, agency_id, group_by, figure=figure, key=key)
    return render(request, "reports/dossiers.html", {
        "title": title, "page": page, "query": query,
        "export_url": f"{reverse('reports-dossiers-export')}?{query}",
        "back_url": f"{reverse('reports-dashboard')}?{_query(period, agency_id, group_by)}",
        "now": timezone.now(),
    })


@require_safe
@reports_required
def dossiers_export(request):
    try:
        qs, title, period, *_rest = _drill(request)
    except DomainError as exc:
        raise Http404(str(exc.message)) from exc
    data = xlsx_bytes(dossier_sheet(qs, heading=title))
    return xlsx_response(data, f"ho-so-{period.start:%Y%m%d}-{period.end:%Y%m%d}.xlsx")


@require_safe
@reports_required
def staff(request):
    form, period, scope, _agency_id, _group_by = _filters(request)
    by = "unit" if request.GET.get("by") == "unit" else "officer"
    rows = staff_performance(period=period, by=by, scope=scope)
    if request.GET.get("format") == "xlsx":
        heading = _("Hiệu quả xử lý — %(start)s–%(end)s") % {
            "start": f"{period.start:%d/%m/%Y}", "end": f"{period.end:%d/%m/%Y}"}
        return xlsx_response(xlsx_bytes(staff_sheet(rows, by=by, heading=heading)),
                             f"can-bo-{period.start:%Y%m%d}-{period.end:%Y%m%d}.xlsx")
    for row in rows:
        row["on_time_text"] = _pct(row["on_time_share"])
        row["satisfied_text"] = _pct(row["satisfied_share"])
    query = _query(period, None, "agency", by=by)
    return render(request, "reports/staff.html", {
        "form": form, "rows": rows, "by": by, "period": period,
        "export_url": f"{reverse('reports-staff')}?{query}&format=xlsx",
        "chart": charts.bar_chart([(r["label"], r["handled"]) for r in rows[:15]],
                                  title=_("Số bước đã xử lý")),
    })


@require_safe
@supervisors_required
def weekly(request):
    reports = WeeklyReport.objects.all()[:60]
    return render(request, "reports/weekly.html", {"reports": reports})


@require_safe
@supervisors_required
def weekly_file(request, year: int, week: int, ext: str):
    report = get_object_or_404(WeeklyReport, year=int(year), week=int(week))
    return weekly_file_response(report, ext)


def weekly_file_response(report: WeeklyReport, ext: str) -> FileResponse:
    field = report.pdf if ext == "pdf" else report.xlsx
    if not field:
        raise Http404(_("Báo cáo chưa có tệp này."))
    filename = f"bao-cao-tuan-{report.year}-W{report.week:02d}.{ext}"
    response = FileResponse(field.open("rb"), as_attachment=ext == "xlsx", filename=filename)
    response["Cache-Control"] = "private, no-store"
    return response


@require_safe
@reports_required
def register(request):
    from reports.services import register_pdf, register_xlsx

    form, period, scope, agency_id, _group_by = _filters(request)
    agency = form.cleaned_data.get("agency") if form.is_bound and form.is_valid() else None
    fmt = request.GET.get("format")
    stamp = f"{period.start:%Y%m%d}-{period.end:%Y%m%d}"
    if fmt == "pdf":
        from dossiers.documents import pdf_response

        return pdf_response(register_pdf(period=period, scope=scope, agency=agency),
                            f"so-theo-doi-ho-so-{stamp}.pdf")
    if fmt == "xlsx":
        return xlsx_response(register_xlsx(period=period, scope=scope, agency=agency),
                             f"so-theo-doi-ho-so-{stamp}.xlsx")
    from reports.selectors import register_entries

    entries = register_entries(period=period, scope=scope, agency_id=agency_id, limit=200)
    query = _query(period, agency_id, "agency")
    return render(request, "reports/register.html", {
        "form": form, "entries": entries, "period": period,
        "pdf_url": f"{reverse('reports-register')}?{query}&format=pdf",
        "xlsx_url": f"{reverse('reports-register')}?{query}&format=xlsx",
    })


@require_safe
@login_required
def control_sheet_xlsx(request, code: str):
    """Mẫu 06 of one dossier as xlsx, for whoever may see the dossier (404 otherwise)."""
    from dossiers.selectors import dossier_get
    from reports.exports import control_sheet_xlsx as build

    dossier = dossier_get(code=code, user=request.user)
    try:
        data = build(dossier)
    except DomainError as exc:
        return HttpResponse(str(exc.message), status=exc.status,
                            content_type="text/plain; charset=utf-8")
    from audit.services import access_record_document

    access_record_document(request=request, dossier=dossier, kind="control-sheet.xlsx")
    return xlsx_response(data, f"{dossier.code}-phieu-kiem-soat.xlsx")


PUBLIC_CACHE_SECONDS = 600


def public_figures_data(today=None) -> dict:
    """The province's headline figures: this year so far, by agency. Cached ten minutes; when
    the copy expires, one request recomputes it (a short lock) while the others are served the
    previous copy, so a burst of visitors never starts a burst of year-long scans."""
    today = today or timezone.localdate()
    fresh_key, stale_key = f"reports:public:{today.isoformat()}", "reports:public:last"
    data = cache.get(fresh_key)
    if data is not None:
        return data
    stale = cache.get(stale_key)
    if stale is not None and not cache.add("reports:public:lock", 1, 120):
        return stale
    try:
        period = Period(today.replace(month=1, day=1), today)
        summary = report_summary(period=period, group_by="agency")
        data = {"period": period, "totals": summary.totals, "rows": summary.rows[:30],
                "figures_at": summary.figures_at}
        cache.set(fresh_key, data, PUBLIC_CACHE_SECONDS)
        cache.set(stale_key, data, 7 * 24 * 3600)
    finally:
        cache.delete("reports:public:lock")
    return data


@require_safe
def public_figures(request):
    data = public_figures_data()
    t = data["totals"]
    return render(request, "reports/public.html", {
        "period": data["period"], "t": t, "figures_at": data.get("figures_at"),
        "headline": [
            (_("Hồ sơ giải quyết đúng hạn"), _pct(t["on_time_share"]), "ok"),
            (_("Người dân hài lòng"), _pct(t["satisfied_share"]), "ok"),
            (_("Hồ sơ nộp trực tuyến"), _pct(t["online_share"]), None),
        ],
        "rows": [{**r, "on_time_text": _pct(r["on_time_share"]),
                  "satisfied_text": _pct(r["satisfied_share"]),
                  "online_text": _pct(r["online_share"])} for r in data["rows"]],
    })
