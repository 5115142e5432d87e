"""Writes of the reports: the weekly report (built, kept, e-mailed once) and the rendering of
the report documents (PDF, xlsx) they and the pages share."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from motcua.errors import ValidationError
from motcua.xlsx import Sheet, xlsx_bytes
from reports import charts
from reports.exports import indicators_sheet, register_sheet, staff_sheet, summary_sheet
from reports.models import WeeklyReport
from reports.selectors import (
    FIGURE_LABELS,
    Period,
    Scope,
    recent_apologies,
    recent_comments,
    register_entries,
    report_summaries,
    staff_performances,
    weekly_trend,
)

ISO_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$")


def parse_iso_week(text: str) -> tuple[int, int]:
    """``2026-W47`` → ``(2026, 47)``; ``ValidationError`` for anything else."""
    match = ISO_WEEK.match((text or "").strip())
    if not match:
        raise ValidationError(
            _("Tuần phải có dạng 2026-W47 (năm, “W”, số tuần ISO)."), code="invalid_week"
        )
    year, week = int(match[1]), int(match[2])
    Period.iso_week(year, week)  # validates the week number
    return year, week


def previous_week(today: date | None = None) -> tuple[int, int]:
    """The ISO week before the one ``today`` falls in."""
    today = today or timezone.localdate()
    year, week, _day = (today - timedelta(days=7)).isocalendar()
    return year, week


def _province_place() -> str:
    return re.sub(r"^(tỉnh|thành phố)\s+", "", settings.MOTCUA_PROVINCE_NAME.strip(),
                  flags=re.IGNORECASE)


def _header(doc_date: date) -> dict:
    from dossiers.documents import vn_date

    return {
        "agency_parent": f"UBND {settings.MOTCUA_PROVINCE_NAME}".upper(),
        "agency_name": "VĂN PHÒNG",
        "place": _province_place(),
        "doc_date_text": vn_date(doc_date),
    }


def _pct(value) -> str:
    return "—" if value is None else f"{value * 100:.1f}%".replace(".", ",")


@dataclass
class WeeklyContent:
    year: int
    week: int
    period: Period
    summary: object
    by_agency: object
    by_field: object
    late_procedures: list
    late_units: list
    trend: list
    apologies: list
    comments: list
    officers: list

    def context(self) -> dict:
        t = self.summary.totals
        resolved_chart = charts.stacked_bar(
            [(str(FIGURE_LABELS["resolved_early"]), t["resolved_early"], charts.PALETTE["early"]),
             (str(FIGURE_LABELS["resolved_on_time"]), t["resolved_on_time"],
              charts.PALETTE["on_time"]),
             (str(FIGURE_LABELS["resolved_late"]), t["resolved_late"], charts.PALETTE["late"])],
            title=_("Kết quả giải quyết"),
        )
        trend_chart = charts.line_chart(
            [w["label"] for w in self.trend],
            [(_("Tiếp nhận"), [w["received"] for w in self.trend], charts.PALETTE["received"]),
             (_("Đã giải quyết"), [w["resolved"] for w in self.trend], charts.PALETTE["resolved"]),
             (_("Quá hạn"), [w["resolved_late"] for w in self.trend], charts.PALETTE["late"])],
            title=_("Xu hướng theo tuần"),
        )
        return {
            **_header(timezone.localdate()),
            "hide_number": False, "doc_number": "…/BC-VP",
            "week": self.week, "year": self.year, "period": self.period, "t": t,
            "pct": {k: _pct(t[k]) for k in t if k.endswith("share") or "share_" in k},
            "by_agency": self.by_agency.rows, "by_field": self.by_field.rows,
            "late_procedures": self.late_procedures, "late_units": self.late_units,
            "apologies": self.apologies, "comments": self.comments, "officers": self.officers[:15],
            "resolved_chart": resolved_chart, "trend_chart": trend_chart,
            "province": settings.MOTCUA_PROVINCE_NAME,
        }


def weekly_content(year: int, week: int, *, now: datetime | None = None) -> WeeklyContent:
    """Everything the weekly report shows, for the whole province."""
    period = Period.iso_week(year, week)
    scope = Scope()
    slices = report_summaries(period=period, scope=scope, now=now,
                              group_bys=["agency", "field", "procedure"])
    by_procedure, by_agency = slices["procedure"], slices["agency"]

    def most_late(rows):
        return sorted((r for r in rows if r["resolved_late"] or r["pending_overdue"]),
                      key=lambda r: (-r["resolved_late"] - r["pending_overdue"],
                                     str(r["label"])))[:10]

    staff = staff_performances(period=period, scope=scope)
    return WeeklyContent(
        year=year, week=week, period=period, summary=by_agency,
        by_agency=by_agency,
        by_field=slices["field"],
        late_procedures=most_late(by_procedure.rows),
        late_units=sorted(
            (r for r in staff["unit"]
             if r["late"] or r["apologies"]),
            key=lambda r: (-r["late"] - r["apologies"], str(r["label"])))[:10],
        trend=weekly_trend(weeks=8, scope=scope, today=period.end),
        apologies=recent_apologies(period=period, scope=scope, limit=30),
        comments=recent_comments(period=period, scope=scope, limit=30),
        officers=staff["officer"],
    )


def weekly_pdf(content: WeeklyContent) -> bytes:
    from motcua.pdf import render_pdf

    with translation.override("vi"):
        return render_pdf("pdf/weekly_report.html", content.context())


def weekly_xlsx(content: WeeklyContent) -> bytes:
    with translation.override("vi"):
        heading = _("Báo cáo tuần %(week)02d/%(year)d") % {"week": content.week,
                                                            "year": content.year}
        sheets: list[Sheet] = [
            indicators_sheet(content.summary),
            summary_sheet(content.by_agency, title=_("Theo cơ quan")),
            summary_sheet(content.by_field, title=_("Theo lĩnh vực")),
            Sheet(
                title=_("Thủ tục trễ hạn"), heading=heading,
                columns=[(_("Thủ tục"), 60), (_("Giải quyết quá hạn"), 14),
                         (_("Đang quá hạn"), 14), (_("Văn bản xin lỗi"), 14)],
                rows=[[r["label"], r["resolved_late"], r["pending_overdue"], r["apologies"]]
                      for r in content.late_procedures],
            ),
            Sheet(
                title=_("Văn bản xin lỗi"), heading=heading,
                columns=[(_("Mã hồ sơ"), 28), (_("Lần"), 6), (_("Ngày ban hành"), 17),
                         (_("Hẹn trả mới"), 17), (_("Đơn vị chậm"), 30), (_("Lý do"), 60)],
                rows=[[a.dossier.code, a.number, a.issued_at, a.new_due_at,
                       a.at_fault_unit.name if a.at_fault_unit_id else "", a.reason]
                      for a in content.apologies],
            ),
            staff_sheet(content.officers, by="officer", heading=heading),
        ]
        return xlsx_bytes(*sheets)


def weekly_report_build(*, year: int, week: int, email: bool = True,
                        now: datetime | None = None) -> WeeklyReport:
    """Build the report of ISO week ``year``-W``week``: its figures, PDF and xlsx, kept for
    download; e-mail it to the supervisors once.

    Idempotent: ``(year, week)`` is unique, so a second run (the beat, the command, a retried
    task) rebuilds the same row in place — the files are replaced, never duplicated — and a
    report already e-mailed is not e-mailed again. The figures are computed before the
    transaction; the row is locked while its files change.
    """
    content = weekly_content(year, week, now=now)
    pdf = weekly_pdf(content)
    xlsx = weekly_xlsx(content)
    period = content.period
    try:
        with transaction.atomic():
            report, created = WeeklyReport.objects.get_or_create(
                year=year, week=week,
                defaults={"period_start": period.start, "period_end": period.end},
            )
    except IntegrityError:  # a concurrent build created it first
        created = False
    with transaction.atomic():
        report = WeeklyReport.objects.select_for_update().get(year=year, week=week)
        old = [f.name for f in (report.pdf, report.xlsx) if f]
        report.totals = content.summary.totals
        report.built_at = timezone.now()
        if not created:
            report.builds += 1
        base = f"bao-cao-tuan-{year}-W{week:02d}"
        report.pdf.save(f"{base}.pdf", ContentFile(pdf), save=False)
        report.xlsx.save(f"{base}.xlsx", ContentFile(xlsx), save=False)
        report.save()
        new = {report.pdf.name, report.xlsx.name}
        stale = [name for name in old if name not in new]
        storage = report.pdf.storage
        transaction.on_commit(lambda: [storage.delete(n) for n in stale])
        if email and report.emailed_at is None:
            from reports.tasks import email_weekly_report

            report_id = report.pk
            transaction.on_commit(lambda: email_weekly_report.delay(report_id))
    return report


def supervisor_emails() -> list[str]:
    from django.contrib.auth import get_user_model

    from motcua.models import Role

    return sorted(set(
        get_user_model().objects.filter(
            is_active=True, staff_roles__role=Role.SUPERVISOR,
        ).exclude(email="").values_list("email", flat=True)
    ))


def weekly_report_email(*, report_id: int) -> WeeklyReport:
    """E-mail the report (PDF and xlsx attached) to every active supervisor with an address,
    once: the row is locked and ``emailed_at`` checked first, and set in the same
    transaction as the sending (a failure leaves it unset, so a retry sends)."""
    from django.core.mail import EmailMessage

    with transaction.atomic():
        report = WeeklyReport.objects.select_for_update().get(pk=report_id)
        if report.emailed_at is not None:
            return report
        recipients = supervisor_emails()
        if not recipients:
            return report
        with translation.override("vi"):
            subject = _("Báo cáo tuần %(week)02d/%(year)d — %(province)s") % {
                "week": report.week, "year": report.year,
                "province": settings.MOTCUA_PROVINCE_NAME,
            }
            t = report.totals
            body = _(
                "Kính gửi lãnh đạo,\n\nĐính kèm báo cáo tình hình giải quyết thủ tục hành chính "
                "tuần %(week)02d/%(year)d (từ %(start)s đến %(end)s).\n\n"
                "Tiếp nhận: %(received)s hồ sơ; đã giải quyết: %(resolved)s (quá hạn: "
                "%(late)s); tỉ lệ đúng hạn: %(on_time)s; tỉ lệ hài lòng: %(satisfied)s.\n\n"
                "Hệ thống Một Cửa"
            ) % {
                "week": report.week, "year": report.year,
                "start": report.period_start.strftime("%d/%m/%Y"),
                "end": report.period_end.strftime("%d/%m/%Y"),
                "received": t.get("received", 0), "resolved": t.get("resolved", 0),
                "late": t.get("resolved_late", 0), "on_time": _pct(t.get("on_time_share")),
                "satisfied": _pct(t.get("satisfied_share")),
            }
        message = EmailMessage(subject=subject, body=body, to=recipients)
        base = f"bao-cao-tuan-{report.year}-W{report.week:02d}"
        for field_file, ext, mime in (
            (report.pdf, "pdf", "application/pdf"),
            (report.xlsx, "xlsx", "application/vnd.openxmlformats-officedocument."
                                  "spreadsheetml.sheet"),
        ):
            with field_file.open("rb") as handle:
                message.attach(f"{base}.{ext}", handle.read(), mime)
        message.send()
        report.emailed_at = timezone.now()
        report.emailed_to = recipients
        report.save(update_fields=["emailed_at", "emailed_to"])
    return report


# ---------------------------------------------------------------------------------------------
# Registers (Mẫu 07)
# ---------------------------------------------------------------------------------------------


def register_context(*, period: Period, scope: Scope, agency=None) -> dict:
    entries = register_entries(period=period, scope=scope,
                               agency_id=agency.id if agency else None, limit=5000)
    header = _header(timezone.localdate())
    if agency is not None:
        from dossiers.documents import agency_name_line, agency_parent_line

        parent = agency_parent_line(agency)
        header.update(agency_parent=parent, agency_name=agency_name_line(agency, parent))
    return {**header, "hide_number": True, "entries": entries, "period": period,
            "truncated": len(entries) >= 5000}


def register_pdf(*, period: Period, scope: Scope, agency=None) -> bytes:
    from motcua.pdf import render_pdf

    with translation.override("vi"):
        return render_pdf("pdf/register.html", register_context(
            period=period, scope=scope, agency=agency))


def register_xlsx(*, period: Period, scope: Scope, agency=None) -> bytes:
    entries = register_entries(period=period, scope=scope,
                               agency_id=agency.id if agency else None)
    with translation.override("vi"):
        heading = _("Sổ theo dõi hồ sơ (Mẫu 07) — từ %(start)s đến %(end)s") % {
            "start": period.start.strftime("%d/%m/%Y"), "end": period.end.strftime("%d/%m/%Y")}
        if agency is not None:
            heading = f"{heading} — {agency.name}"
        return xlsx_bytes(register_sheet(entries, heading=heading))
