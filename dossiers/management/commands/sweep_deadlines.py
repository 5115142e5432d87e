"""Run the deadline sweep now, or as of another moment (CONTRACT.md: ``sweep_deadlines``).

    python manage.py sweep_deadlines                          # as of now
    python manage.py sweep_deadlines --at 2025-12-01T09:00    # as of then (Asia/Ho_Chi_Minh)

The same code the beat schedule runs (``dossiers.sweep_deadlines``): apology letters that are
due, then the due-soon and overdue flags. Safe to run at any time, twice, or beside the worker.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from dossiers.deadlines import deadline_sweep, parse_moment


class Command(BaseCommand):
    help = "Issue due apology letters and mark due-soon / overdue dossiers (the beat's sweep)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--at", help="run as of this ISO moment (default: now); no offset = Asia/Ho_Chi_Minh"
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print the counts as JSON"
        )

    def handle(self, *args, at=None, as_json=False, **options):
        try:
            moment = parse_moment(at) if at else None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        result = deadline_sweep(at=moment)
        counts = result.as_dict()
        if as_json:
            self.stdout.write(json.dumps(counts, ensure_ascii=False, sort_keys=True))
            return
        self.stdout.write(
            f"Quét thời hạn lúc {counts['at']} ({counts['seconds']:.2f} s):\n"
            f"  văn bản xin lỗi đã lập: {counts['apologies']}"
            f" (đã có từ trước: {counts['already_issued']})\n"
            f"  quá hạn: +{counts['marked_overdue']} / -{counts['cleared_overdue']}\n"
            f"  sắp đến hạn: +{counts['marked_due_soon']} / -{counts['cleared_due_soon']}"
        )
