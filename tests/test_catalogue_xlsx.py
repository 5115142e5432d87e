"""The catalogue as an xlsx workbook: export, import (all or nothing), the staff pages and the
management commands."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.urls import reverse
from openpyxl import load_workbook

from motcua.models import Role
from procedures import importexport
from procedures.models import Procedure, ProcedureVersion
from procedures.schema import DocumentData, FeeData, StepData, TimeLimitData
from procedures.selectors import procedure_search
from procedures.services import procedure_create, procedure_set_active
from tests.test_catalogue_pages import (
    BIRTH_CODE,
    BUILDING_CODE,
    admin,  # noqa: F401  (fixtures)
    admin_client,  # noqa: F401
    birth_registration,
    building_permit,
    numbered,
    org,  # noqa: F401
)

pytestmark = pytest.mark.django_db

SHEETS = ["Thủ tục", "Phí lệ phí", "Thành phần hồ sơ", "Quy trình nội bộ",
          "Thời hạn theo cách thức"]


@pytest.fixture
def catalogue(org, settings, tmp_path):  # noqa: F811
    """Two procedures with the awkward bits: half hours, a fee without amount, text that looks
    like a formula, several lines, a per-channel limit, a template file, and one procedure not
    applied any more."""
    settings.MEDIA_ROOT = tmp_path
    template = default_storage.save("templates/2026/01/mau-01.docx", ContentFile(b"PK-mau"))
    building = procedure_create(data=building_permit(
        documents=[
            DocumentData(name="Đơn đề nghị cấp giấy phép xây dựng", template_name="Mẫu số 01",
                         template=template),
            DocumentData(name="Bản vẽ thiết kế xây dựng", originals=0, copies=2),
        ],
        fees=[
            FeeData(name="Lệ phí cấp giấy phép xây dựng", amount_vnd=150000,
                    description="=Nộp khi nhận kết quả\ndòng hai"),
            FeeData(name="Phí thẩm định", amount_vnd=None, description="Theo Thông tư 38"),
        ],
        steps=[
            StepData(name="Tiếp nhận hồ sơ", unit_code="MC", role=Role.CLERK,
                     hours=Decimal("3.5")),
            StepData(name="Thẩm định hồ sơ", unit_code="QLXD", role=Role.OFFICER,
                     hours=Decimal("100.5")),
            StepData(name="Phê duyệt", unit_code="LD", role=Role.LEADER, hours=Decimal(12)),
            StepData(name="Trả kết quả", unit_code="MC", role=Role.CLERK, hours=Decimal(4)),
        ],
        time_limits=[TimeLimitData(channel="online", amount=Decimal("12.5"),
                                   unit="working_days")],
    ), actor=None)
    birth = procedure_create(data=birth_registration(), actor=None)
    procedure_set_active(procedure=birth, active=False, actor=None)
    return building, birth


def export_all() -> bytes:
    return importexport.export_catalogue(procedure_search(active_only=False))


def cells(content: bytes) -> dict[str, list[tuple]]:
    wb = load_workbook(io.BytesIO(content))
    return {ws.title: [tuple(row) for row in ws.iter_rows(values_only=True)] for ws in wb}


def edited(content: bytes, changes: dict[tuple[str, str], object]) -> io.BytesIO:
    """The workbook with cells changed, by (sheet, "A1")."""
    wb = load_workbook(io.BytesIO(content))
    for (sheet, ref), value in changes.items():
        wb[sheet][ref] = value
    out = io.BytesIO()
    wb.save(out)
    out.seek(0)
    return out


def column_letter(sheet: str, header: str) -> str:
    from openpyxl.utils import get_column_letter

    spec = next(s for s in importexport.SHEETS if s.title == sheet)
    index = [c.header for c in spec.columns].index(header)
    return get_column_letter(index + 1)


def row_of(ws, code: str, position: int) -> int:
    """The sheet row number of the ``position``-th line of procedure ``code``."""
    rows = [i for i, r in enumerate(ws.iter_rows(values_only=True), start=1) if r[0] == code]
    return rows[position - 1]


def wipe_catalogue():
    """Remove every procedure (tests only: the catalogue itself never deletes)."""
    Procedure.objects.update(current_version=None)
    ProcedureVersion.objects.all().delete()
    Procedure.objects.all().delete()


# --- export -----------------------------------------------------------------------------------

def test_export_has_the_five_sheets_with_one_row_per_procedure_and_line(catalogue):
    sheets = cells(export_all())
    assert list(sheets) == SHEETS
    procedures = sheets["Thủ tục"]
    assert procedures[0][:3] == ("Mã thủ tục", "Tên thủ tục", "Mã lĩnh vực")
    assert [row[0] for row in procedures[1:]] == [BIRTH_CODE, BUILDING_CODE]
    header = procedures[0]
    building = dict(zip(header, procedures[2], strict=True))
    assert building["Cấp thực hiện"] == "Cấp tỉnh"
    assert building["Mức độ trực tuyến"] == "Trực tuyến một phần"
    assert building["Đơn vị thời hạn"] == "ngày làm việc"
    assert building["Thời hạn giải quyết"] == 15
    assert building["Nộp trực tuyến"] == "Có" and building["Nộp qua bưu chính"] == "Không"
    assert building["Căn cứ pháp lý"] == "Luật Xây dựng 2014\nNghị định 175/2024/NĐ-CP"
    birth = dict(zip(header, procedures[1], strict=True))
    assert birth["Đang áp dụng"] == "Không"
    steps = [r for r in sheets["Quy trình nội bộ"][1:] if r[0] == BUILDING_CODE]
    assert [(r[1], r[2], r[6]) for r in steps] == [
        (1, "Tiếp nhận hồ sơ", 3.5), (2, "Thẩm định hồ sơ", 100.5), (3, "Phê duyệt", 12),
        (4, "Trả kết quả", 4),
    ]
    documents = [r for r in sheets["Thành phần hồ sơ"][1:] if r[0] == BUILDING_CODE]
    assert documents[0][6:] == ("Mẫu số 01", "templates/2026/01/mau-01.docx")
    fees = [r for r in sheets["Phí lệ phí"][1:] if r[0] == BUILDING_CODE]
    assert fees[1][3] is None  # no fixed amount stays empty, not 0
    assert sheets["Thời hạn theo cách thức"][1] == (BUILDING_CODE, "Trực tuyến", 12.5,
                                                    "ngày làm việc")


def test_text_that_looks_like_a_formula_stays_text(catalogue):
    wb = load_workbook(io.BytesIO(export_all()))
    row = row_of(wb["Phí lệ phí"], BUILDING_CODE, 1)
    cell = wb["Phí lệ phí"][f"E{row}"]
    assert cell.value == "=Nộp khi nhận kết quả\ndòng hai"
    assert cell.data_type == "s"


def test_export_of_a_filtered_list_from_the_staff_page(admin_client, catalogue):  # noqa: F811
    response = admin_client.get(reverse("catalogue-export"), {"field": "XD"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheets = cells(response.content)
    assert [row[0] for row in sheets["Thủ tục"][1:]] == [BUILDING_CODE]
    assert {row[0] for row in sheets["Quy trình nội bộ"][1:]} == {BUILDING_CODE}


# --- round trip -------------------------------------------------------------------------------

def test_round_trip_export_import_export_is_identical_cell_for_cell(catalogue):
    first = export_all()
    result = importexport.import_catalogue(io.BytesIO(first), actor=None)
    assert result.errors == []
    assert sorted(result.unchanged) == sorted([BUILDING_CODE, BIRTH_CODE])
    assert result.created == [] and result.updated == []
    assert ProcedureVersion.objects.count() == 2  # no new version for an unchanged row
    assert cells(export_all()) == cells(first)


def test_round_trip_into_an_empty_catalogue_loses_nothing(catalogue):
    first = export_all()
    wipe_catalogue()
    result = importexport.import_catalogue(io.BytesIO(first), actor=None)
    assert result.errors == []
    assert sorted(result.created) == sorted([BUILDING_CODE, BIRTH_CODE])
    assert not Procedure.objects.get(code=BIRTH_CODE).is_active
    document = Procedure.objects.get(code=BUILDING_CODE).current_version.documents.first()
    assert document.template.read() == b"PK-mau"
    assert cells(export_all()) == cells(first)


# --- import -----------------------------------------------------------------------------------

def test_import_of_a_changed_row_updates_and_versions_a_procedure_in_use(catalogue, admin,  # noqa: F811
                                                                         monkeypatch):
    monkeypatch.setattr(ProcedureVersion, "is_in_use", lambda self: True)
    content = export_all()
    name_col = column_letter("Thủ tục", "Kết quả thực hiện")
    active_col = column_letter("Thủ tục", "Đang áp dụng")
    workbook = edited(content, {
        ("Thủ tục", f"{name_col}3"): "Giấy phép xây dựng (bản điện tử)",
        ("Thủ tục", f"{active_col}2"): "Có",  # apply the birth registration again
    })
    result = importexport.import_catalogue(workbook, actor=admin)
    assert result.errors == []
    assert sorted(result.updated) == sorted([BUILDING_CODE, BIRTH_CODE])
    building = Procedure.objects.get(code=BUILDING_CODE)
    assert building.current_version.number == 2
    assert building.current_version.result == "Giấy phép xây dựng (bản điện tử)"
    assert building.current_version.created_by == admin
    assert building.versions.get(number=1).result == "Giấy phép xây dựng"
    birth = Procedure.objects.get(code=BIRTH_CODE)
    assert birth.is_active and birth.current_version.number == 1


def test_import_accepts_codes_and_other_spellings_of_choices(catalogue):
    content = export_all()
    level = column_letter("Thủ tục", "Cấp thực hiện")
    online = column_letter("Thủ tục", "Nộp trực tuyến")
    role = column_letter("Quy trình nội bộ", "Vai trò")
    step = row_of(load_workbook(io.BytesIO(content))["Quy trình nội bộ"], BUILDING_CODE, 2)
    workbook = edited(content, {
        ("Thủ tục", f"{level}3"): "province",  # the code instead of "Cấp tỉnh"
        ("Thủ tục", f"{online}3"): "x",
        ("Quy trình nội bộ", f"{role}{step}"): "chuyen vien thu ly",  # no diacritics
    })
    result = importexport.import_catalogue(workbook, actor=None)
    assert result.errors == []
    assert sorted(result.unchanged) == sorted([BUILDING_CODE, BIRTH_CODE])


def test_import_with_bad_rows_reports_every_error_and_writes_nothing(catalogue):
    content = export_all()
    before = cells(content)
    new_code = "1.009973.000.00.00.H01"
    level = column_letter("Thủ tục", "Cấp thực hiện")
    result_col = column_letter("Thủ tục", "Kết quả thực hiện")
    amount = column_letter("Phí lệ phí", "Mức thu (đồng)")
    hours = column_letter("Quy trình nội bộ", "Số giờ làm việc")
    workbook = load_workbook(io.BytesIO(content))
    # A new, valid procedure (would be created if the file had no errors).
    procedures = workbook["Thủ tục"]
    procedures.append([new_code, *[c.value for c in procedures[3]][1:]])
    for row in list(workbook["Quy trình nội bộ"].iter_rows(min_row=2, values_only=True)):
        if row[0] == BUILDING_CODE:
            workbook["Quy trình nội bộ"].append([new_code, *row[1:]])
    # The errors.
    assert procedures["A2"].value == BIRTH_CODE and procedures["A3"].value == BUILDING_CODE
    procedures[f"{level}2"] = "Cấp huyện xã"  # unknown level
    fee_row = row_of(workbook["Phí lệ phí"], BIRTH_CODE, 1)
    workbook["Phí lệ phí"][f"{amount}{fee_row}"] = "một trăm"  # not a number
    procedures[f"{result_col}3"] = "Kết quả mới của giấy phép"  # a change that must not land
    first_step = row_of(workbook["Quy trình nội bộ"], BUILDING_CODE, 1)
    workbook["Quy trình nội bộ"][f"{hours}{first_step + 1}"] = 90  # no longer adds up
    workbook["Thành phần hồ sơ"].append(["1.000001.000.00.00.H01", 1, "Giấy lạ", 1, 0, "Có"])
    stream = io.BytesIO()
    workbook.save(stream)
    stream.seek(0)

    result = importexport.import_catalogue(stream, actor=None)

    found = {(e.sheet, e.row, e.column) for e in result.errors}
    docs_rows = workbook["Thành phần hồ sơ"].max_row
    assert found == {
        ("Thủ tục", 2, "Cấp thực hiện"),
        ("Phí lệ phí", fee_row, "Mức thu (đồng)"),
        ("Thành phần hồ sơ", docs_rows, "Mã thủ tục"),
        ("Quy trình nội bộ", first_step, "Số giờ làm việc"),  # the sum of all the steps
    }
    messages = {(e.sheet, e.row): e.message for e in result.errors}
    assert "Cấp huyện xã" in messages[("Thủ tục", 2)]
    assert "“một trăm” không phải là số" in messages[("Phí lệ phí", fee_row)]
    assert "1.000001.000.00.00.H01" in messages[("Thành phần hồ sơ", docs_rows)]
    assert messages[("Quy trình nội bộ", first_step)] == (
        "Tổng thời gian các bước (109,5 giờ) phải bằng thời hạn giải quyết (120 giờ làm việc)."
    )
    # Nothing written: no new procedure, no changed one, no new version.
    assert not Procedure.objects.filter(code=new_code).exists()
    assert ProcedureVersion.objects.count() == 2
    assert cells(export_all()) == before


def test_import_reports_the_step_of_a_service_error_by_its_row(catalogue):
    content = export_all()
    unit = column_letter("Quy trình nội bộ", "Mã đơn vị")
    sheet_rows = cells(content)["Quy trình nội bộ"]
    row = next(i for i, r in enumerate(sheet_rows, start=1)
               if r[0] == BUILDING_CODE and r[1] == 2)
    result = importexport.import_catalogue(
        edited(content, {("Quy trình nội bộ", f"{unit}{row}"): "KHONGCO"}), actor=None
    )
    assert [(e.sheet, e.row, e.column) for e in result.errors] == [
        ("Quy trình nội bộ", row, "Mã đơn vị")
    ]
    assert "KHONGCO" in result.errors[0].message


def test_import_refuses_duplicate_codes_missing_sheets_and_non_xlsx(catalogue):
    content = export_all()
    wb = load_workbook(io.BytesIO(content))
    wb["Thủ tục"].append([c.value for c in wb["Thủ tục"][2]])
    stream = io.BytesIO()
    wb.save(stream)
    stream.seek(0)
    result = importexport.import_catalogue(stream, actor=None)
    assert any("trùng với dòng 2" in e.message for e in result.errors)

    del wb["Quy trình nội bộ"]
    stream = io.BytesIO()
    wb.save(stream)
    stream.seek(0)
    result = importexport.import_catalogue(stream, actor=None)
    assert [(e.sheet, e.message) for e in result.errors] == [
        ("Quy trình nội bộ", "Thiếu trang tính này trong tệp.")
    ]

    result = importexport.import_catalogue(io.BytesIO(b"not a workbook"), actor=None)
    assert "không phải là bảng tính Excel" in result.errors[0].message


def test_import_refuses_a_sheet_without_a_required_column(catalogue):
    wb = load_workbook(io.BytesIO(export_all()))
    wb["Phí lệ phí"].delete_cols(4)  # "Mức thu (đồng)"
    stream = io.BytesIO()
    wb.save(stream)
    stream.seek(0)
    result = importexport.import_catalogue(stream, actor=None)
    assert [(e.sheet, e.row, e.column) for e in result.errors] == [
        ("Phí lệ phí", 1, "Mức thu (đồng)")
    ]


# --- staff pages ------------------------------------------------------------------------------

def test_import_page_shows_counts(admin_client, catalogue):  # noqa: F811
    upload = io.BytesIO(export_all())
    upload.name = "danh-muc.xlsx"
    response = admin_client.post(reverse("catalogue-import"), {"file": upload})
    page = response.content.decode()
    assert response.status_code == 200
    assert "Đã nhập xong" in page
    assert 'data-count="unchanged">2<' in page
    assert 'data-count="created">0<' in page


def test_import_page_over_htmx_answers_with_the_result_only(admin_client, catalogue):  # noqa: F811
    upload = io.BytesIO(export_all())
    upload.name = "danh-muc.xlsx"
    response = admin_client.post(reverse("catalogue-import"), {"file": upload},
                                 headers={"HX-Request": "true"})
    page = response.content.decode()
    assert "Đã nhập xong" in page and "<html" not in page


def test_import_page_shows_the_error_table_and_offers_it_for_download(admin_client, catalogue):  # noqa: F811
    level = column_letter("Thủ tục", "Cấp thực hiện")
    upload = edited(export_all(), {("Thủ tục", f"{level}2"): "Cấp huyện xã"})
    upload.name = "danh-muc.xlsx"
    response = admin_client.post(reverse("catalogue-import"), {"file": upload})
    page = response.content.decode()
    assert "chưa ghi gì vào danh mục" in page
    assert "Cấp huyện xã" in page and "Cấp thực hiện" in page
    token = response.context["report_token"]
    report = admin_client.get(reverse("catalogue-import-errors", args=[token]))
    assert report.status_code == 200
    rows = cells(report.content)["Lỗi"]
    assert rows[0] == ("Trang tính", "Dòng", "Cột", "Lỗi")
    assert rows[1][:3] == ("Thủ tục", 2, "Cấp thực hiện")
    assert admin_client.get(reverse("catalogue-import-errors", args=["khac"])).status_code == 404


def test_import_page_refuses_a_file_that_is_not_xlsx(admin_client, org):  # noqa: F811
    upload = io.BytesIO(b"a,b,c")
    upload.name = "danh-muc.csv"
    response = admin_client.post(reverse("catalogue-import"), {"file": upload})
    assert "Chỉ nhận tệp Excel .xlsx" in response.content.decode()


def test_import_page_has_a_busy_state_for_long_imports(admin_client, org):  # noqa: F811
    page = admin_client.get(reverse("catalogue-import")).content.decode()
    assert 'hx-indicator="#import-progress"' in page
    assert "Đang nhập…" in page


# --- management commands ----------------------------------------------------------------------

def test_export_and_import_commands_round_trip(catalogue, tmp_path):
    path = tmp_path / "danh-muc.xlsx"
    out = io.StringIO()
    call_command("export_catalogue", str(path), stdout=out)
    assert "Đang xuất 2 thủ tục" in out.getvalue()
    out = io.StringIO()
    call_command("import_catalogue", str(path), stdout=out)
    text = out.getvalue()
    assert "Đã đọc 2 thủ tục" in text
    assert "giữ nguyên 2 thủ tục" in text


def test_import_command_fails_with_the_errors_and_writes_nothing(catalogue, tmp_path):
    level = column_letter("Thủ tục", "Cấp thực hiện")
    path = tmp_path / "loi.xlsx"
    path.write_bytes(edited(export_all(), {("Thủ tục", f"{level}2"): "Cấp huyện xã"}).read())
    err = io.StringIO()
    with pytest.raises(CommandError, match="không ghi gì"):
        call_command("import_catalogue", str(path), stdout=io.StringIO(), stderr=err)
    assert "Thủ tục · dòng 2 · Cấp thực hiện" in err.getvalue()


def test_import_command_dry_run_writes_nothing(org, tmp_path):  # noqa: F811
    for n in range(3):
        procedure_create(data=numbered(n), actor=None)
    path = tmp_path / "danh-muc.xlsx"
    call_command("export_catalogue", str(path), stdout=io.StringIO())
    wipe_catalogue()
    out = io.StringIO()
    call_command("import_catalogue", str(path), "--dry-run", stdout=out)
    assert "Sẽ thêm 3" in out.getvalue()
    assert not Procedure.objects.exists()


def test_import_refuses_a_template_that_is_not_a_stored_template(catalogue, tmp_path):
    (tmp_path / "attachments").mkdir()
    (tmp_path / "attachments" / "cccd.pdf").write_bytes(b"%PDF citizen's ID")
    content = export_all()
    column = column_letter("Thành phần hồ sơ", "Tệp mẫu (lưu trữ)")
    result = importexport.import_catalogue(
        edited(content, {("Thành phần hồ sơ", f"{column}2"): "attachments/cccd.pdf"}), actor=None
    )
    assert [(e.sheet, e.row, e.column) for e in result.errors] == [
        ("Thành phần hồ sơ", 2, "Tệp mẫu (lưu trữ)")
    ]
