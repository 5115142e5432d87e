"""Idempotent demo data: the province's organisation, one user per role, the catalogue, dossiers."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from motcua.demo import DEFAULT_DEMO_PASSWORD, seed_organisation, seed_users


class Command(BaseCommand):
    help = "Nạp dữ liệu mẫu (chạy lại nhiều lần vẫn an toàn)."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEFAULT_DEMO_PASSWORD,
                            help="mật khẩu cho các tài khoản mẫu")
        parser.add_argument("--dossiers", type=int, default=300, metavar="N",
                            help="số hồ sơ mẫu tạo lần đầu (mặc định 300; 0: không tạo)")

    def handle(self, *args, password, dossiers, **options):
        if dossiers < 0:
            raise CommandError("--dossiers phải là số không âm.")
        with transaction.atomic():
            agencies = seed_organisation()
            self.stdout.write(f"  cơ quan, đơn vị: {len(agencies)} cơ quan")
            users = seed_users(password=password)
        self._seed_catalogue()
        self._seed_dossiers(dossiers)
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

    def _seed_dossiers(self, count: int):
        if count == 0:
            return
        try:
            from dossiers.demo import seed_dossiers
        except ImportError:
            return
        started = time.monotonic()
        created = seed_dossiers(count=count, progress=lambda msg: self.stdout.write(f"  {msg}"))
        if created:
            self.stdout.write(
                f"  hồ sơ mẫu: {created} hồ sơ trong 6 tuần qua "
                f"({time.monotonic() - started:.1f} giây)"
            )
