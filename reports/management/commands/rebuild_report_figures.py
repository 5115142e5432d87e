"""``manage.py rebuild_report_figures [--from 2024-01-01] [--to 2026-12-31] [--incremental]``
— rebuild the reports' summary tables (docs/reports.md, "Summary tables"). Default: the whole
history, from the first day anything happened to today. Safe to run twice at once: the second
waits for the first (advisory lock)."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"Ngày không hợp lệ: {text} (dạng YYYY-MM-DD)") from exc


class Command(BaseCommand):
    help = "Lập lại bảng số liệu ngày của báo cáo (toàn bộ, một khoảng ngày, hoặc phần mới)."

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="start", default=None, help="từ ngày YYYY-MM-DD")
        parser.add_argument("--to", dest="end", default=None, help="đến ngày YYYY-MM-DD")
        parser.add_argument("--incremental", action="store_true",
                            help="như tác vụ định kỳ: hôm qua, hôm nay và các ngày có thay đổi")

    def handle(self, *args, start=None, end=None, incremental=False, **options):
        from reports.figures import figures_rebuild, figures_refresh

        def say(message: str) -> None:
            self.stdout.write(message)
            self.stdout.flush()

        if incremental:
            if start or end:
                raise CommandError("--incremental không đi cùng --from/--to.")
            done = figures_refresh()
            if done is None:
                raise CommandError("Đang có một lần lập lại khác chạy; thử lại sau.")
        else:
            a, b = (_day(start) if start else None), (_day(end) if end else None)
            if a and b and b < a:
                raise CommandError("--to phải sau hoặc bằng --from.")
            say("Lập lại số liệu ngày …")
            done = figures_rebuild(start=a, end=b, progress=say)
        self.stdout.write(self.style.SUCCESS(
            f"{done['rows']:,} dòng, {len(done['ranges'])} khoảng ngày, {done['months']} tháng tồn,"
            f" {done['seconds']:.1f} s."
        ))
