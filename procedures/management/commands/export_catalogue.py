"""Write the catalogue (current versions) to an xlsx workbook, the format `import_catalogue`
reads."""

from django.core.management.base import BaseCommand

from procedures.importexport import export_catalogue
from procedures.selectors import procedure_search


class Command(BaseCommand):
    help = "Xuất danh mục thủ tục hành chính ra tệp Excel (.xlsx)."

    def add_arguments(self, parser):
        parser.add_argument("file", help="đường dẫn tệp .xlsx sẽ ghi")
        parser.add_argument("--active-only", action="store_true",
                            help="chỉ các thủ tục đang áp dụng")
        parser.add_argument("--field", help="chỉ một lĩnh vực (mã lĩnh vực)")
        parser.add_argument("--agency", help="chỉ một cơ quan (mã định danh)")
        parser.add_argument("--level", help="chỉ một cấp (province, commune, ...)")

    def handle(self, *args, file, active_only, field, agency, level, **options):
        versions = procedure_search(
            q="", field=field or None, agency=agency or None, level=level or None,
            active_only=active_only,
        )
        total = versions.count()
        self.stdout.write(f"Đang xuất {total} thủ tục…")
        export_catalogue(versions, file, progress=self.stdout.write)
        self.stdout.write(self.style.SUCCESS(f"Đã ghi {file}."))
