"""Read an xlsx workbook in the export format and write it to the catalogue: every row is
checked first; any error and nothing is written."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from procedures.importexport import import_catalogue


class Command(BaseCommand):
    help = (
        "Nhập danh mục thủ tục hành chính từ tệp Excel (.xlsx) theo mẫu của export_catalogue. "
        "Kiểm tra mọi dòng trước; có lỗi thì không ghi gì."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="tệp .xlsx cần nhập")
        parser.add_argument("--user", help="tên đăng nhập của cán bộ ghi nhận là người sửa")
        parser.add_argument("--dry-run", action="store_true",
                            help="chỉ kiểm tra và đếm, không ghi gì")

    def handle(self, *args, file, user, dry_run, **options):
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"Không có người dùng “{user}”.")
        try:
            with open(file, "rb") as handle:
                result = import_catalogue(
                    handle, actor=actor, dry_run=dry_run, progress=self.stdout.write
                )
        except OSError as exc:
            raise CommandError(f"Không mở được tệp {file}: {exc.strerror}") from exc
        if result.errors:
            for error in result.errors:
                where = " · ".join(
                    str(part) for part in (error.sheet, error.row and f"dòng {error.row}",
                                           error.column) if part
                )
                self.stderr.write(f"  {where}: {error.message}")
            raise CommandError(
                f"{len(result.errors)} lỗi; không ghi gì vào danh mục."
            )
        verb = "Sẽ" if dry_run else "Đã"
        self.stdout.write(self.style.SUCCESS(
            f"{verb} thêm {len(result.created)}, cập nhật {len(result.updated)}, "
            f"giữ nguyên {len(result.unchanged)} thủ tục."
            + (" (chạy thử: không ghi gì)" if dry_run else "")
        ))
