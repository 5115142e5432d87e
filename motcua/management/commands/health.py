"""Exit 0 when the named parts are healthy: the containers' health checks call this."""

import json

from django.core.management.base import BaseCommand, CommandError

from motcua.health import health_status


class Command(BaseCommand):
    help = "Kiểm tra tình trạng hệ thống (database, broker, worker, beat)."

    def add_arguments(self, parser):
        parser.add_argument("parts", nargs="*", default=["database", "broker", "worker", "beat"])

    def handle(self, *args, parts, **options):
        status = health_status()
        self.stdout.write(json.dumps(status, ensure_ascii=False))
        bad = [p for p in parts if status.get(p) != "ok"]
        if bad:
            raise CommandError(f"không ổn: {', '.join(bad)}")
