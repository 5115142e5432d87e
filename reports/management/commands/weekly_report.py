"""``manage.py weekly_report [--week 2026-W47] [--no-email]`` — the weekly report, as the beat
builds it every Monday at 07:00 (default: the previous ISO week)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from motcua.errors import DomainError


class Command(BaseCommand):
    help = "Lập (và gửi thư) báo cáo tuần: mặc định tuần trước; chạy lại thì lập lại, không trùng."

    def add_arguments(self, parser):
        parser.add_argument("--week", default=None, help="tuần ISO, ví dụ 2026-W47")
        parser.add_argument("--no-email", action="store_true", help="không gửi thư cho lãnh đạo")

    def handle(self, *args, week=None, no_email=False, **options):
        from reports.services import parse_iso_week, previous_week, weekly_report_build

        try:
            year, number = parse_iso_week(week) if week else previous_week()
            report = weekly_report_build(year=year, week=number, email=not no_email)
        except DomainError as exc:
            raise CommandError(str(exc.message)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"Báo cáo tuần {report.iso} ({report.period_start:%d/%m/%Y}–"
            f"{report.period_end:%d/%m/%Y}): {report.pdf.name}, {report.xlsx.name} "
            f"(lập lần {report.builds})."
        ))
