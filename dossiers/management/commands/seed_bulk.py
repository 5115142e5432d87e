"""Bulk dossiers for benchmarks, generated inside PostgreSQL (``dossiers.bulk``).

    python manage.py seed_bulk --dossiers 1000000 [--open-share 0.2] [--batch 100000]
                               [--documents] [--seed 2026] [--indexes auto|live|rebuild]
                               [--no-figures]

Needs PostgreSQL and the organisation and catalogue (``manage.py seed_demo``); refuses
otherwise. Adds to what is there: codes continue each agency's daily sequence. One
transaction: the dossier tables are locked against writers while it runs (readers carry on,
except when the indexes are rebuilt: dropping one locks its table until the load commits).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from dossiers.bulk import BulkError, seed_bulk


class Command(BaseCommand):
    help = ("Sinh hàng loạt hồ sơ (kèm các bước, nhật ký, văn bản xin lỗi, đánh giá) ngay trong "
            "PostgreSQL để đo hiệu năng.")

    def add_arguments(self, parser):
        parser.add_argument("--dossiers", type=int, required=True, help="số hồ sơ cần sinh")
        parser.add_argument("--open-share", type=float, default=0.2,
                            help="tỉ lệ hồ sơ còn đang giải quyết (mặc định 0.2)")
        parser.add_argument("--batch", type=int, default=100_000,
                            help="số hồ sơ mỗi lô (mặc định 100000)")
        parser.add_argument("--documents", action="store_true",
                            help="sinh cả danh mục giấy tờ của từng hồ sơ")
        parser.add_argument("--seed", type=int, default=2026, help="hạt giống ngẫu nhiên")
        parser.add_argument("--days", type=int, default=365,
                            help="số ngày gần nhất mà hồ sơ được tiếp nhận (mặc định 365)")
        parser.add_argument(
            "--indexes", choices=["auto", "live", "rebuild"], default="auto",
            help="auto: tạo lại chỉ mục sau khi nạp nếu số hồ sơ nạp ≥ số hồ sơ đang có",
        )
        parser.add_argument("--no-figures", action="store_true",
                            help="không lập lại bảng số liệu báo cáo sau khi nạp")

    def handle(self, *args, dossiers, open_share, batch, documents, seed, days, indexes,
               no_figures=False, **options):
        try:
            result = seed_bulk(
                dossiers=dossiers, open_share=open_share, batch=batch, documents=documents,
                seed=seed, days=days, indexes=indexes, progress=self.stdout.write,
            )
        except BulkError as exc:
            raise CommandError(str(exc)) from exc
        for line in result.skipped_plans:
            self.stderr.write(f"  bỏ qua {line}")
        self.stdout.write(self.style.SUCCESS(
            f"Đã sinh {result.dossiers:,} hồ sơ ({result.open:,} đang giải quyết), "
            f"{result.steps:,} bước, {result.events:,} dòng nhật ký, "
            f"{result.apologies:,} văn bản xin lỗi, {result.ratings:,} đánh giá, "
            f"{result.documents:,} giấy tờ "
            f"trong {result.seconds:.1f} s: {result.rate:,.0f} hồ sơ/s."
        ))
        if not no_figures:
            # The reports read summary tables (docs/reports.md "Summary tables"): bring them
            # up to the loaded history, as the beat's refresh would not go back that far.
            from reports.figures import figures_rebuild

            figures_rebuild(progress=self.stdout.write)
