"""Delete staff access records past the retention period — the access log's only deleter.

    python manage.py prune_access_log                      # older than AUDIT_ACCESS_RETENTION_DAYS
    python manage.py prune_access_log --before 2024-01-01 # older than that day (Asia/Ho_Chi_Minh)
    python manage.py prune_access_log --dry-run            # only count

``--before`` may not be later than the retention cutoff: rows younger than the retention period
(2 years by default) are never deleted. Run it monthly from cron; it deletes in batches.
"""

from __future__ import annotations

from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from audit.models import AccessRecord
from audit.services import access_log_prune, access_retention_cutoff
from motcua.errors import DomainError


def _moment(value: str) -> datetime:
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise CommandError(f"--before: not a date or moment: {value!r}")
        moment = datetime.combine(day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    help = "Delete staff access records older than the retention period (the only deleter)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--before", help="delete records before this date or ISO moment "
            "(default: the retention cutoff, AUDIT_ACCESS_RETENTION_DAYS ago)",
        )
        parser.add_argument("--dry-run", action="store_true", help="count, delete nothing")

    def handle(self, *args, before=None, dry_run=False, **options):
        moment = _moment(before) if before else access_retention_cutoff()
        if dry_run:
            n = AccessRecord.objects.filter(at__lt=moment).count()
            self.stdout.write(f"{n} access records before {moment.isoformat()} (dry run)")
            return
        try:
            n = access_log_prune(before=moment)
        except DomainError as exc:
            raise CommandError(str(exc.message)) from None
        self.stdout.write(f"Deleted {n} access records before {moment.isoformat()}")
