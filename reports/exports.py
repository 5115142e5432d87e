"""Spreadsheets (xlsx, openpyxl write-only) and PDFs of the reports.

The sheets of every list the reports show (summary, staff performance, drill-down, register,
control sheet), written by the project's one xlsx writer (motcua/xlsx.py); lists of dossiers use
the dossier list's column set.
"""

from __future__ import annotations

from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from motcua.xlsx import Sheet, xlsx_bytes
from reports.selectors import CRITERIA, FIGURE_LABELS, GROUP_LABELS, Summary

#: Rows a drill-down or register export writes at most (filter further beyond that).
EXPORT_MAX = 50_000

#: The figures of a summary table, in order: (figure, column width). Shares are percentages.
SUMMARY_COLUMNS = (
    "received", "received_in_person", "received_online", "received_post", "carried_over",
    "resolved_early", "resolved_on_time", "resolved_late", "pending_in_time", "pending_overdue",
    "supplements", "refusals", "withdrawals", "stops", "apologies", "ratings",
    "on_time_share", "online_share", "satisfied_share", "digitised_share",
)
SHARES = {"on_time_share", "online_share", "satisfied_share", "digitised_share",
          "online_payment_share"}


def period_text(summary: Summary) -> str:
    p = summary.period
    return _("Từ %(start)s đến %(end)s") % {
        "start": p.start.strftime("%d/%m/%Y"), "end": p.end.strftime("%d/%m/%Y")
    }


def summary_sheet(summary: Summary, *, title: str) -> Sheet:
    """The summary as one table: one row per slice value, then the totals."""
    label = str(GROUP_LABELS.get(summary.group_by, gettext_lazy("Phạm vi")))
    columns = [(label, 42)] + [(str(FIGURE_LABELS[f]), 13) for f in SUMMARY_COLUMNS]
    percent = frozenset(i + 1 for i, f in enumerate(SUMMARY_COLUMNS) if f in SHARES)
    rows = [[str(r["label"])] + [r[f] for f in SUMMARY_COLUMNS] for r in summary.rows]
    rows.append([_("Tổng cộng")] + [summary.totals[f] for f in SUMMARY_COLUMNS])
    return Sheet(
        title=title, heading=f"{title} — {period_text(summary)}", columns=columns, rows=rows,
        percent_columns=percent,
    )


def indicators_sheet(summary: Summary) -> Sheet:
    """The totals as "indicator — value" lines (Decision 766 and satisfaction per criterion)."""
    t = summary.totals
    rows = [[str(FIGURE_LABELS.get(f, f)), t[f]] for f in SUMMARY_COLUMNS if f not in SHARES]
    rows += [
        [str(FIGURE_LABELS["on_time_share"]), t["on_time_share"]],
        [str(FIGURE_LABELS["online_share"]), t["online_share"]],
        [str(FIGURE_LABELS["digitised_share"]), t["digitised_share"]],
        [str(FIGURE_LABELS["online_payment_share"]), t["online_payment_share"]],
        [str(FIGURE_LABELS["satisfied_share"]), t["satisfied_share"]],
    ]
    rows += [
        [_("Hài lòng — %(criterion)s") % {"criterion": label}, t[f"satisfied_share_{code}"]]
        for code, label in CRITERIA
    ]
    return Sheet(
        title=_("Chỉ số"), heading=f"{_('Chỉ số tổng hợp')} — {period_text(summary)}",
        columns=[(_("Chỉ số"), 48), (_("Giá trị"), 14)], rows=rows,
        footer=_("Các tỉ lệ là phân số từ 0 đến 1 (để trống: chưa có dữ liệu)."),
    )


def staff_sheet(rows: list[dict], *, by: str, heading: str) -> Sheet:
    label = _("Cán bộ") if by == "officer" else _("Đơn vị")
    return Sheet(
        title=label, heading=heading,
        columns=[(label, 36), (_("Bước đã xử lý"), 14), (_("Hồ sơ"), 10), (_("Đúng hạn"), 12),
                 (_("Trễ hạn"), 12), (_("Tỉ lệ đúng hạn"), 14), (_("Văn bản xin lỗi"), 14),
                 (_("Lượt đánh giá"), 14), (_("Tỉ lệ hài lòng"), 14)],
        rows=[[r["label"], r["handled"], r["dossiers"], r["on_time"], r["late"],
               r["on_time_share"], r["apologies"], r["ratings"], r["satisfied_share"]]
              for r in rows],
        percent_columns=frozenset({5, 8}),
    )


def dossier_sheet(queryset, *, heading: str) -> Sheet:
    """Dossiers with the columns of the dossier list's export (dossiers/views/lists.py)."""
    from dossiers.templatetags.dossier_screens import deadline_of
    from dossiers.views.lists import EXPORT_COLUMNS
    from motcua.text import person_name

    now = timezone.now()

    def rows():
        qs = queryset.select_related(
            "procedure_version__procedure", "current_unit", "current_handler"
        )
        for count, d in enumerate(qs[:EXPORT_MAX].iterator(chunk_size=2000), 1):
            status = deadline_of(d, now)
            yield [
                count, d.code, d.procedure_version.name, d.procedure_version.procedure.code,
                d.applicant_name, d.applicant_id_number, d.applicant_phone,
                d.get_channel_display(), d.get_state_display(), d.received_at, d.due_at,
                status.label, status.text, d.current_unit.name if d.current_unit_id else "",
                person_name(d.current_handler) if d.current_handler_id else "",
            ]

    return Sheet(title=_("Hồ sơ"), heading=heading,
                 columns=[(str(label), width) for label, width in EXPORT_COLUMNS], rows=rows())


# ---------------------------------------------------------------------------------------------
# Mẫu 07 — the dossier register, and Mẫu 06 — the control sheet, as xlsx
# ---------------------------------------------------------------------------------------------

REGISTER_COLUMNS = (
    (gettext_lazy("STT"), 6), (gettext_lazy("Mã hồ sơ"), 26), (gettext_lazy("Tên thủ tục hành chính"), 44),
    (gettext_lazy("Số lượng hồ sơ (bộ)"), 10), (gettext_lazy("Tên cá nhân, tổ chức"), 26),
    (gettext_lazy("Địa chỉ, số điện thoại"), 32), (gettext_lazy("Cơ quan chủ trì giải quyết"), 30),
    (gettext_lazy("Nhận hồ sơ"), 17), (gettext_lazy("Hẹn trả kết quả"), 17),
    (gettext_lazy("Chuyển hồ sơ đến cơ quan giải quyết"), 17),
    (gettext_lazy("Nhận kết quả từ cơ quan giải quyết"), 17),
    (gettext_lazy("Trả kết quả cho cá nhân, tổ chức"), 17), (gettext_lazy("Ghi chú"), 24),
)


def register_sheet(entries: list[dict], *, heading: str) -> Sheet:
    return Sheet(
        title=_("Sổ theo dõi hồ sơ"), heading=heading,
        columns=[(str(label), width) for label, width in REGISTER_COLUMNS],
        rows=[[e["n"], e["code"], e["procedure"], 1, e["applicant"], e["contact"],
               e["agency"], e["received_at"], e["due_at"], e["sent_at"], e["result_ready_at"],
               e["returned_at"], e["note"]] for e in entries],
    )


def control_sheet_xlsx(dossier) -> bytes:
    """Mẫu 06 of one dossier as xlsx, from the very context its PDF is drawn from."""
    from dossiers.documents import control_sheet_context

    with translation.override("vi"):
        ctx = control_sheet_context(dossier)
        heading = f"{ctx['title']} — {ctx['code']}"
        facts = Sheet(
            title=_("Thông tin"), heading=heading,
            columns=[(_("Mục"), 32), (_("Nội dung"), 80)],
            rows=[
                [_("Người nộp"), ctx["applicant"]["name"]],
                [_("Thủ tục"), f"{ctx['procedure']['code']} — {ctx['procedure']['name']}"],
                [_("Cơ quan giải quyết"), ctx["agency_full"]],
                [_("Đơn vị"), ctx["units"]],
                [_("Cơ quan phối hợp"), ctx["partners"]],
                [_("Thời hạn giải quyết"), ctx["time_limit"]],
                [_("Nhận hồ sơ"), ctx["received"]],
                [_("Hẹn trả kết quả"), ctx["due"]],
                [_("Hẹn trả ban đầu"), ctx["original_due"]],
                [_("Tình trạng"), f"{ctx['state']} {ctx['timeliness']}".strip()],
            ],
        )
        handovers = Sheet(
            title=_("Giao nhận"), heading=heading,
            columns=[(_("Bên giao"), 30), (_("Người giao"), 22), (_("Bên nhận"), 30),
                     (_("Người nhận"), 22), (_("Thời gian"), 17),
                     (_("Kết quả (trước hạn / đúng hạn / quá hạn)"), 16), (_("Ghi chú"), 50)],
            rows=[[r.giver + (f" ({r.giver_step})" if r.giver_step else ""), r.giver_person,
                   r.receiver + (f" ({r.receiver_step})" if r.receiver_step else ""),
                   r.receiver_person, r.moment, r.result, "; ".join(str(n) for n in r.notes)]
                  for r in ctx["rows"]],
        )
    return xlsx_bytes(facts, handovers)
