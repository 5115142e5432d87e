"""Idempotent demo data: the province's organisation, one user per role, the catalogue, dossiers."""

from django.core.management.base import BaseCommand
from django.db import transaction

from motcua.demo import DEFAULT_DEMO_PASSWORD, seed_organisation, seed_users


class Command(BaseCommand):
    help = "Nạp dữ liệu mẫu (chạy lại nhiều lần vẫn an toàn)."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEFAULT_DEMO_PASSWORD,
                            help="mật khẩu cho các tài khoản mẫu")

    def handle(self, *args, password, **options):
        with transaction.atomic():
            agencies = seed_organisation()
            self.stdout.write(f"  cơ quan, đơn vị: {len(agencies)} cơ quan")
            users = seed_users(password=password)
        self._seed_catalogue()
        self.stdout.write(self.style.SUCCESS("Dữ liệu mẫu đã sẵn sàng. Tài khoản đăng nhập:"))
        for username, role in users:
            self.stdout.write(f"  {username:<12} {role:<40} mật khẩu: {password}")

    def _seed_catalogue(self):
        try:
            from procedures.demo import seed_catalogue
        except ImportError:
            return
        count = seed_catalogue(progress=lambda msg: self.stdout.write(f"  {msg}"))
        self.stdout.write(f"  thủ tục hành chính: {count}")
