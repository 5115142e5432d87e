"""The catalogue pages: staff list, detail, versions, create and edit (catalogue admins only),
and the public catalogue (no login)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from motcua.demo import seed_organisation
from motcua.models import Role, StaffRole, Unit
from procedures.models import Procedure, ProcedureVersion
from procedures.schema import DocumentData, FeeData, ProcedureData, StepData, TimeLimitData
from procedures.services import procedure_create, procedure_set_active, procedure_to_data

pytestmark = pytest.mark.django_db

BUILDING_CODE = "1.009972.000.00.00.H01"
BIRTH_CODE = "1.001193.000.00.00.H01"
SO_XAY_DUNG = "000.00.12.H01"
PASSWORD = "mat-khau-du-dai-1"


def building_permit(**overrides) -> ProcedureData:
    """A province-level procedure of Sở Xây dựng: 15 working days = 120 working hours."""
    data = ProcedureData(
        code=BUILDING_CODE,
        name="Cấp giấy phép xây dựng mới đối với công trình cấp đặc biệt, cấp I, cấp II",
        field_code="XD", field_name="Hoạt động xây dựng", level="province",
        agency_code=SO_XAY_DUNG, agency_text="Sở Xây dựng",
        subjects="Tổ chức, cá nhân", accepts_in_person=True, accepts_online=True,
        accepts_post=False, online_level="partial", is_inter_agency=False,
        time_limit_amount=Decimal("15"), time_limit_unit="working_days",
        time_limit_text="15 ngày làm việc kể từ ngày nhận đủ hồ sơ hợp lệ",
        supplement_clock="pause",
        procedure_steps_text="Bước 1: nộp hồ sơ.\nBước 2: nhận kết quả.",
        requirements="Phù hợp quy hoạch xây dựng.",
        result="Giấy phép xây dựng",
        legal_basis="Luật Xây dựng 2014\nNghị định 175/2024/NĐ-CP",
        source="Cổng dịch vụ công quốc gia",
        fees=[FeeData(name="Lệ phí cấp giấy phép xây dựng", amount_vnd=150000,
                      description="Nộp khi nhận kết quả")],
        documents=[
            DocumentData(name="Đơn đề nghị cấp giấy phép xây dựng", originals=1, copies=0,
                         is_mandatory=True, template_name="Mẫu số 01"),
            DocumentData(name="Bản vẽ thiết kế xây dựng", originals=0, copies=2,
                         is_mandatory=True),
        ],
        steps=[
            StepData(name="Tiếp nhận hồ sơ", unit_code="MC", role=Role.CLERK, hours=Decimal(4)),
            StepData(name="Thẩm định hồ sơ", unit_code="QLXD", role=Role.OFFICER,
                     hours=Decimal(100)),
            StepData(name="Phê duyệt", unit_code="LD", role=Role.LEADER, hours=Decimal(12)),
            StepData(name="Trả kết quả", unit_code="MC", role=Role.CLERK, hours=Decimal(4)),
        ],
        time_limits=[TimeLimitData(channel="online", amount=Decimal(14), unit="working_days")],
    )
    return dataclasses.replace(data, **overrides)


def birth_registration(**overrides) -> ProcedureData:
    """A commune-level procedure every commune performs: 1 working day."""
    data = ProcedureData(
        code=BIRTH_CODE, name="Thủ tục đăng ký khai sinh", field_code="HT",
        field_name="Hộ tịch", level="commune", agency_code="",
        time_limit_amount=Decimal(1), time_limit_unit="working_days",
        accepts_online=True, online_level="full", result="Giấy khai sinh",
        fees=[FeeData(name="Lệ phí đăng ký khai sinh", amount_vnd=0, description="Miễn phí")],
        documents=[DocumentData(name="Giấy chứng sinh")],
        steps=[
            StepData(name="Tiếp nhận", unit_code="MC", role=Role.CLERK, hours=Decimal(1)),
            StepData(name="Thẩm định", unit_code="VHXH", role=Role.OFFICER, hours=Decimal(5)),
            StepData(name="Ký giấy khai sinh", unit_code="LD", role=Role.LEADER,
                     hours=Decimal(2)),
        ],
    )
    return dataclasses.replace(data, **overrides)


def numbered(n: int) -> ProcedureData:
    """The n-th of many similar procedures (for pagination and query counts)."""
    return building_permit(
        code=f"1.{900000 + n:06d}.000.00.00.H01", name=f"Thủ tục thử số {n}",
        field_code=f"F{n % 3}", field_name=f"Lĩnh vực {n % 3}",
    )


def staff_user(django_user_model, username: str, role: str, *, agency=None, unit="KSTTHC"):
    user = django_user_model.objects.create_user(username, password=PASSWORD)
    unit_obj = Unit.objects.get(agency__code=agency or "000.00.00.H01", code=unit)
    StaffRole.objects.create(user=user, unit=unit_obj, role=role)
    return user


@pytest.fixture
def org():
    return seed_organisation()


@pytest.fixture
def admin(org, django_user_model):
    return staff_user(django_user_model, "kstthc", Role.CATALOGUE_ADMIN)


@pytest.fixture
def clerk(org, django_user_model):
    return staff_user(django_user_model, "motcua", Role.CLERK, agency=SO_XAY_DUNG, unit="MC")


@pytest.fixture
def admin_client(client, admin):
    client.force_login(admin)
    return client


@pytest.fixture
def building(org):
    return procedure_create(data=building_permit(), actor=None)


@pytest.fixture
def birth(org):
    return procedure_create(data=birth_registration(), actor=None)


def form_payload(data: ProcedureData, *, extra: dict | None = None) -> dict:
    """What the browser posts for ``data`` on the create/edit page."""
    payload = {
        "code": data.code, "name": data.name, "field_code": data.field_code,
        "field_name": data.field_name, "level": data.level, "agency_code": data.agency_code,
        "agency_text": data.agency_text, "subjects": data.subjects,
        "online_level": data.online_level,
        "time_limit_amount": str(data.time_limit_amount), "time_limit_unit": data.time_limit_unit,
        "time_limit_text": data.time_limit_text, "supplement_clock": data.supplement_clock,
        "procedure_steps_text": data.procedure_steps_text, "requirements": data.requirements,
        "result": data.result, "legal_basis": data.legal_basis, "source": data.source,
        "effective_from": "",
    }
    for flag in ("accepts_in_person", "accepts_online", "accepts_post", "is_inter_agency"):
        if getattr(data, flag):
            payload[flag] = "on"
    sections = {
        "fees": [{"name": f.name, "amount_vnd": "" if f.amount_vnd is None else f.amount_vnd,
                  "description": f.description} for f in data.fees],
        "documents": [{"name": d.name, "originals": d.originals, "copies": d.copies,
                       "template_name": d.template_name,
                       **({"is_mandatory": "on"} if d.is_mandatory else {})}
                      for d in data.documents],
        "steps": [{"position": i, "name": s.name, "agency_code": s.agency_code,
                   "unit_code": s.unit_code, "role": s.role, "hours": str(s.hours)}
                  for i, s in enumerate(data.steps, start=1)],
        "time_limits": [{"channel": t.channel, "amount": str(t.amount), "unit": t.unit}
                        for t in data.time_limits],
    }
    for prefix, rows in sections.items():
        payload.update({
            f"{prefix}-TOTAL_FORMS": len(rows), f"{prefix}-INITIAL_FORMS": 0,
            f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000,
        })
        for i, row in enumerate(rows):
            payload.update({f"{prefix}-{i}-{k}": v for k, v in row.items()})
    payload.update(extra or {})
    return payload


def html(response) -> str:
    return response.content.decode()


# --- permissions ------------------------------------------------------------------------------

STAFF_PAGES = [
    ("catalogue-list", {}), ("catalogue-create", {}), ("catalogue-import", {}),
    ("catalogue-export", {}), ("catalogue-detail", {"code": BUILDING_CODE}),
    ("catalogue-edit", {"code": BUILDING_CODE}),
    ("catalogue-version", {"code": BUILDING_CODE, "number": 1}),
]


@pytest.mark.parametrize("name, kwargs", STAFF_PAGES)
def test_anonymous_visitor_is_sent_to_login_from_catalogue_pages(client, building, name, kwargs):
    url = reverse(name, kwargs=kwargs)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize("name, kwargs", STAFF_PAGES)
def test_clerk_is_refused_catalogue_pages(client, clerk, building, name, kwargs):
    client.force_login(clerk)
    assert client.get(reverse(name, kwargs=kwargs)).status_code == 403


def test_clerk_cannot_deactivate_or_edit_by_posting(client, clerk, building):
    client.force_login(clerk)
    response = client.post(reverse("catalogue-set-active", args=[BUILDING_CODE]), {"active": "0"})
    assert response.status_code == 403
    response = client.post(reverse("catalogue-edit", args=[BUILDING_CODE]),
                           form_payload(building_permit(name="Tên bị sửa trộm")))
    assert response.status_code == 403
    building.refresh_from_db()
    assert building.is_active
    assert building.current_version.name == building_permit().name


def test_superuser_without_role_gets_in(client, org, building, django_user_model):
    root = django_user_model.objects.create_superuser("root", password=PASSWORD)
    client.force_login(root)
    assert client.get(reverse("catalogue-list")).status_code == 200


# --- list -------------------------------------------------------------------------------------

def test_list_search_ignores_diacritics(admin_client, building, birth):
    response = admin_client.get(reverse("catalogue-list"), {"q": "giay phep xay dung"})
    page = html(response)
    assert BUILDING_CODE in page
    assert BIRTH_CODE not in page


def test_list_filters_by_field_level_agency_and_state(admin_client, building, birth, admin):
    url = reverse("catalogue-list")
    assert BIRTH_CODE not in html(admin_client.get(url, {"field": "XD"}))
    assert BUILDING_CODE in html(admin_client.get(url, {"field": "XD"}))
    assert BUILDING_CODE not in html(admin_client.get(url, {"level": "commune"}))
    assert BIRTH_CODE in html(admin_client.get(url, {"level": "commune"}))
    assert BIRTH_CODE not in html(admin_client.get(url, {"agency": SO_XAY_DUNG}))
    procedure_set_active(procedure=birth, active=False, actor=admin)
    assert BIRTH_CODE not in html(admin_client.get(url, {"active": "1"}))
    inactive = html(admin_client.get(url, {"active": "0"}))
    assert BIRTH_CODE in inactive and BUILDING_CODE not in inactive
    assert BIRTH_CODE in html(admin_client.get(url))  # all, by default


def test_list_paginates_and_keeps_filters_in_page_links(admin_client, org):
    for n in range(30):
        procedure_create(data=numbered(n), actor=None)
    response = admin_client.get(reverse("catalogue-list"), {"q": "thu tuc thu"})
    page = html(response)
    assert "30 thủ tục" in page
    assert "Trang 1/2" in page
    assert "q=thu+tuc+thu&amp;page=2" in page


def test_list_query_count_does_not_grow_with_rows(admin_client, org,
                                                  django_assert_max_num_queries):
    for n in range(25):
        procedure_create(data=numbered(n), actor=None)
    with django_assert_max_num_queries(10):
        response = admin_client.get(reverse("catalogue-list"))
    assert response.status_code == 200
    assert html(response).count("Thủ tục thử số") == 25


def test_list_answers_htmx_with_the_results_only(admin_client, building):
    response = admin_client.get(
        reverse("catalogue-list"), {"q": "xay dung"},
        headers={"HX-Request": "true", "HX-Target": "catalogue-results"},
    )
    page = html(response)
    assert BUILDING_CODE in page
    assert "<html" not in page


# --- detail and versions ----------------------------------------------------------------------

def test_detail_shows_current_version_with_its_parts(admin_client, building):
    page = html(admin_client.get(reverse("catalogue-detail", args=[BUILDING_CODE])))
    assert building_permit().name in page
    assert "Thẩm định hồ sơ" in page and "QLXD" in page
    assert "120 / 120" in page  # steps total against the limit, in working hours
    assert "150.000" in page
    assert "Đơn đề nghị cấp giấy phép xây dựng" in page
    assert "Phiên bản 1" in page


def test_edit_of_a_version_in_use_creates_the_next_version(admin_client, building,
                                                           monkeypatch):
    # A dossier received under version 1 (dossiers are another app's; the service asks the
    # version whether anything refers to it).
    monkeypatch.setattr(ProcedureVersion, "is_in_use", lambda self: True)
    url = reverse("catalogue-edit", args=[BUILDING_CODE])
    page = html(admin_client.get(url))
    assert "tạo phiên bản 2" in page

    changed = building_permit(fees=[FeeData(name="Lệ phí cấp giấy phép xây dựng",
                                            amount_vnd=200000)])
    response = admin_client.post(url, form_payload(changed), follow=True)
    page = html(response)
    assert "Đã tạo phiên bản mới 2" in page
    building.refresh_from_db()
    assert building.current_version.number == 2
    assert building.current_version.fees.get().amount_vnd == 200000
    old = building.versions.get(number=1)
    assert old.fees.get().amount_vnd == 150000

    history = html(admin_client.get(reverse("catalogue-detail", args=[BUILDING_CODE])))
    assert "Phiên bản 2" in history and "Phiên bản 1" in history
    old_page = html(admin_client.get(reverse("catalogue-version", args=[BUILDING_CODE, 1])))
    assert "phiên bản cũ 1" in old_page
    assert "150.000" in old_page and "200.000" not in old_page


def test_edit_of_a_version_nobody_uses_changes_it_in_place(admin_client, building):
    url = reverse("catalogue-edit", args=[BUILDING_CODE])
    assert "tạo phiên bản 2" not in html(admin_client.get(url))
    response = admin_client.post(url, form_payload(building_permit(result="Giấy phép mới")),
                                 follow=True)
    assert "Đã lưu thủ tục" in html(response)
    building.refresh_from_db()
    assert building.current_version.number == 1
    assert building.current_version.result == "Giấy phép mới"


def test_edit_form_starts_from_the_current_version(admin_client, building):
    page = html(admin_client.get(reverse("catalogue-edit", args=[BUILDING_CODE])))
    for text in ("Thẩm định hồ sơ", "Lệ phí cấp giấy phép xây dựng", "Bản vẽ thiết kế xây dựng",
                 "Phù hợp quy hoạch xây dựng.", 'value="QLXD"', "Nghị định 175/2024/NĐ-CP"):
        assert text in page
    assert 'name="steps-TOTAL_FORMS" value="5"' in page  # four steps and one blank row


def test_edit_cannot_change_the_code(admin_client, building):
    url = reverse("catalogue-edit", args=[BUILDING_CODE])
    other = building_permit(code="1.009999.000.00.00.H01")
    response = admin_client.post(url, form_payload(other))
    assert response.status_code == 302
    assert Procedure.objects.filter(code=BUILDING_CODE).exists()
    assert not Procedure.objects.filter(code="1.009999.000.00.00.H01").exists()


def test_deactivate_and_reactivate(admin_client, building):
    url = reverse("catalogue-set-active", args=[BUILDING_CODE])
    response = admin_client.post(url, {"active": "0"}, follow=True)
    assert "Đã ngừng áp dụng" in html(response)
    building.refresh_from_db()
    assert not building.is_active
    assert admin_client.get(reverse("public-procedure", args=[BUILDING_CODE])).status_code == 404
    admin_client.post(url, {"active": "1"})
    building.refresh_from_db()
    assert building.is_active


def test_set_active_refuses_get(admin_client, building):
    assert admin_client.get(reverse("catalogue-set-active", args=[BUILDING_CODE])).status_code == 405


# --- create -----------------------------------------------------------------------------------

def test_create_stores_everything_the_form_has(admin_client, org):
    data = building_permit()
    response = admin_client.post(reverse("catalogue-create"), form_payload(data))
    assert response.status_code == 302, html(response)
    assert response["Location"] == reverse("catalogue-detail", args=[BUILDING_CODE])
    stored = procedure_to_data(Procedure.objects.get(code=BUILDING_CODE).current_version)
    stored.effective_from = None
    assert stored == dataclasses.replace(data, effective_from=None)


def test_create_with_wrong_step_total_shows_the_error_and_keeps_the_input(admin_client, org):
    data = building_permit(steps=[
        StepData(name="Tiếp nhận hồ sơ XYZ", unit_code="MC", role=Role.CLERK, hours=Decimal(4)),
        StepData(name="Thẩm định hồ sơ XYZ", unit_code="QLXD", role=Role.OFFICER,
                 hours=Decimal(96)),
    ])
    response = admin_client.post(reverse("catalogue-create"), form_payload(data))
    page = html(response)
    assert response.status_code == 200
    assert "Tổng thời gian các bước (100 giờ) phải bằng thời hạn giải quyết (120 giờ làm việc)" in page
    # Everything typed is still there.
    for text in ("Tiếp nhận hồ sơ XYZ", "Thẩm định hồ sơ XYZ", 'value="96"', data.name,
                 "Lệ phí cấp giấy phép xây dựng", 'value="150000"', "Bản vẽ thiết kế xây dựng",
                 "Phù hợp quy hoạch xây dựng.", f'value="{BUILDING_CODE}"'):
        assert text in page, text
    assert not Procedure.objects.exists()


def test_create_puts_service_errors_next_to_their_fields(admin_client, org):
    data = building_permit(code="123", steps=[
        *building_permit().steps[:3],
        StepData(name="Trả kết quả", unit_code="KHONGCO", role=Role.CLERK, hours=Decimal(4)),
    ])
    response = admin_client.post(reverse("catalogue-create"), form_payload(data))
    form = response.context["form"]
    steps = response.context["steps"]
    assert "code" in form.errors
    assert "unit_code" in steps.forms[3].errors
    assert "KHONGCO" in steps.forms[3].errors["unit_code"][0]
    assert "không đúng định dạng" in html(response)


def test_create_with_a_taken_code_says_so(admin_client, building):
    response = admin_client.post(reverse("catalogue-create"), form_payload(building_permit()))
    assert response.status_code == 200
    assert "đã có trong danh mục" in response.context["form"].errors["code"][0]


def test_form_errors_of_the_rows_are_shown_before_calling_the_service(admin_client, org):
    payload = form_payload(building_permit(), extra={"steps-1-hours": "nhiều", "fees-0-amount_vnd": "-5"})
    response = admin_client.post(reverse("catalogue-create"), payload)
    assert response.status_code == 200
    assert response.context["steps"].forms[1].errors["hours"]
    assert response.context["fees"].forms[0].errors["amount_vnd"]
    assert 'value="nhiều"' in html(response)
    assert not Procedure.objects.exists()


def test_blank_and_deleted_rows_are_ignored(admin_client, org):
    data = building_permit()
    payload = form_payload(data, extra={
        # a blank extra fee row, and a deleted document
        "fees-TOTAL_FORMS": 2, "fees-1-name": "", "fees-1-amount_vnd": "", "fees-1-description": "",
        "documents-1-DELETE": "on",
    })
    response = admin_client.post(reverse("catalogue-create"), payload)
    assert response.status_code == 302, html(response)
    version = Procedure.objects.get(code=BUILDING_CODE).current_version
    assert version.fees.count() == 1
    assert [d.name for d in version.documents.all()] == ["Đơn đề nghị cấp giấy phép xây dựng"]


def test_steps_are_stored_in_the_order_of_their_position(admin_client, org):
    payload = form_payload(building_permit(), extra={"steps-0-position": 9})
    response = admin_client.post(reverse("catalogue-create"), payload)
    assert response.status_code == 302, html(response)
    version = Procedure.objects.get(code=BUILDING_CODE).current_version
    assert [s.name for s in version.steps.all()][-1] == "Tiếp nhận hồ sơ"


def zipped(**parts: bytes) -> bytes:
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in parts.items():
            archive.writestr(name.replace("__", "/"), content)
    return buffer.getvalue()


DOCX = zipped(**{"[Content_Types].xml": b"<Types/>", "word__document.xml": b"<w:document/>"})


def test_template_upload_is_kept_through_errors_and_downloadable(admin_client, org, settings,
                                                                 tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("mau-01.docx", DOCX, content_type="application/msword")
    bad = building_permit(name="")
    payload = form_payload(bad, extra={"documents-0-template_file": upload})
    response = admin_client.post(reverse("catalogue-create"), payload)
    assert response.status_code == 200
    kept = response.context["documents"].forms[0]["template"].value()
    assert kept and kept.startswith("templates/")
    # The admin fixes the name; the file rides along in the hidden field.
    payload = form_payload(building_permit(), extra={"documents-0-template": kept})
    assert admin_client.post(reverse("catalogue-create"), payload).status_code == 302
    document = Procedure.objects.get(code=BUILDING_CODE).current_version.documents.first()
    assert document.template.name == kept
    public = admin_client.get(reverse("public-document-template", args=[BUILDING_CODE, document.pk]))
    assert public.status_code == 200
    assert b"".join(public.streaming_content) == DOCX


def test_template_of_the_wrong_type_is_refused(admin_client, org):
    upload = SimpleUploadedFile("virus.exe", b"MZ", content_type="application/octet-stream")
    payload = form_payload(building_permit(), extra={"documents-0-template_file": upload})
    response = admin_client.post(reverse("catalogue-create"), payload)
    assert response.status_code == 200
    assert response.context["documents"].forms[0].errors["template_file"]


@pytest.mark.parametrize("name, content", [
    ("to-khai.pdf", b"%PDF-1.7\n..."),
    ("to-khai.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64),
    ("to-khai.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64),
    ("to-khai.docx", DOCX),
    ("to-khai.xlsx", zipped(**{"[Content_Types].xml": b"<Types/>", "xl__workbook.xml": b"<workbook/>"})),
    ("to-khai.odt", zipped(mimetype=b"application/vnd.oasis.opendocument.text")),
    ("to-khai.ods", zipped(mimetype=b"application/vnd.oasis.opendocument.spreadsheet")),
    ("to-khai.rtf", b"{\\rtf1\\ansi T\\'f4 khai}"),
    ("to-khai.txt", "Tờ khai đăng ký khai sinh".encode()),
])
def test_a_template_whose_content_is_its_kind_is_taken(org, name, content):
    from procedures.forms import DocumentForm

    form = DocumentForm(data={"name": "Tờ khai", "originals": 1, "copies": 0},
                        files={"template_file": SimpleUploadedFile(name, content)})
    assert form.is_valid(), form.errors


@pytest.mark.parametrize("name, content", [
    ("to-khai.pdf", b"<html><script>alert(1)</script></html>"),  # a page dressed as a PDF
    ("to-khai.doc", b"%PDF-1.7"),
    ("to-khai.docx", zipped(**{"xl__workbook.xml": b"<workbook/>"})),  # a workbook named .docx
    ("to-khai.docx", b"PK\x03\x04 not a zip at all"),
    ("to-khai.odt", zipped(mimetype=b"application/vnd.oasis.opendocument.spreadsheet")),
    ("to-khai.xlsx", b"MZ\x90\x00"),
    ("to-khai.rtf", b"<svg onload=alert(1)>"),
    ("to-khai.txt", b"MZ\x90\x00\x03\x00\x00\x00"),  # a program
    ("to-khai.txt", "Tờ khai".encode("utf-16")),
])
def test_a_template_whose_content_is_not_its_kind_is_refused_in_vietnamese(org, name, content):
    from procedures.forms import DocumentForm

    form = DocumentForm(data={"name": "Tờ khai", "originals": 1, "copies": 0},
                        files={"template_file": SimpleUploadedFile(name, content)})
    assert not form.is_valid()
    (message,) = form.errors["template_file"]
    assert "không phải tệp" in message and "kiểm tra nội dung tệp" in message


# --- public catalogue -------------------------------------------------------------------------

def test_public_home_has_the_search_box_and_browsing(client, building, birth):
    page = html(client.get(reverse("public-home")))
    assert 'type="search"' in page
    assert "Hoạt động xây dựng" in page and "Hộ tịch" in page  # by field
    assert "Sở Xây dựng tỉnh An Giang" in page  # by agency


def test_public_search_finds_building_permit_without_diacritics(client, building, birth):
    response = client.get(reverse("public-home"), {"q": "giay phep xay dung"})
    page = html(response)
    assert "Cấp giấy phép xây dựng" in page
    assert reverse("public-procedure", args=[BUILDING_CODE]) in page
    assert "Thủ tục đăng ký khai sinh" not in page
    assert "Trực tuyến một phần" in page  # online level
    assert "15 ngày làm việc" in page  # time limit


def test_public_search_hides_inactive_procedures(client, building, admin):
    procedure_set_active(procedure=building, active=False, actor=admin)
    page = html(client.get(reverse("public-home"), {"q": "xay dung"}))
    assert BUILDING_CODE not in page


def test_public_browse_by_field_and_agency(client, building, birth):
    by_field = html(client.get(reverse("public-home"), {"field": "HT"}))
    assert "Thủ tục đăng ký khai sinh" in by_field and BUILDING_CODE not in by_field
    by_agency = html(client.get(reverse("public-home"), {"agency": SO_XAY_DUNG}))
    assert BUILDING_CODE in by_agency and BIRTH_CODE not in by_agency
    # A commune sees the procedures every commune performs.
    commune = html(client.get(reverse("public-home"), {"agency": "000.20.01.H01"}))
    assert BIRTH_CODE in commune


def test_public_procedure_page_tells_a_citizen_everything(client, building):
    page = html(client.get(reverse("public-procedure", args=[BUILDING_CODE])))
    for text in (
        building_permit().name, BUILDING_CODE, "Sở Xây dựng tỉnh An Giang",  # where
        "Đơn đề nghị cấp giấy phép xây dựng", "2 bản sao", "Bắt buộc",  # documents
        "150.000", "Lệ phí cấp giấy phép xây dựng",  # fees
        "Trực tiếp", "15 ngày làm việc", "Trực tuyến", "14 ngày làm việc",  # per channel
        "Trực tuyến một phần", "Giấy phép xây dựng", "Nghị định 175/2024/NĐ-CP",
        "Phù hợp quy hoạch xây dựng.", "Tổ chức, cá nhân",
    ):
        assert text in page, text


def test_public_procedure_of_a_commune_names_the_commune_people_committee(client, birth):
    page = html(client.get(reverse("public-procedure", args=[BIRTH_CODE])))
    assert "Ủy ban nhân dân xã, phường, đặc khu" in page
    assert "Miễn phí" in page
    assert "Trực tuyến toàn trình" in page


def test_public_procedure_unknown_code_is_404(client, org):
    assert client.get(reverse("public-procedure", args=["1.000000.000.00.00.H01"])).status_code == 404


def test_public_pages_need_no_login_and_are_vietnamese(client, building):
    response = client.get(reverse("public-procedure", args=[BUILDING_CODE]))
    assert response.status_code == 200
    assert 'lang="vi"' in html(response)
    assert "Giấy tờ cần chuẩn bị" in html(response)


def test_public_pages_query_count_does_not_grow_with_rows(client, org,
                                                          django_assert_max_num_queries):
    for n in range(25):
        procedure_create(data=numbered(n), actor=None)
    with django_assert_max_num_queries(4):
        home = client.get(reverse("public-home"))
    assert home.status_code == 200
    with django_assert_max_num_queries(4):
        results = client.get(reverse("public-home"), {"q": "thu tuc thu"})
    assert html(results).count("Thủ tục thử số") == 20  # one page
    with django_assert_max_num_queries(6):
        detail = client.get(reverse("public-procedure", args=[numbered(3).code]))
    assert detail.status_code == 200


def test_form_refuses_a_template_name_outside_the_templates_folder(admin_client, org, settings,
                                                                   tmp_path):
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "attachments").mkdir()
    (tmp_path / "attachments" / "cccd.pdf").write_bytes(b"%PDF citizen's ID")
    payload = form_payload(building_permit(),
                           extra={"documents-0-template": "attachments/cccd.pdf"})
    response = admin_client.post(reverse("catalogue-create"), payload)
    assert response.status_code == 200
    assert response.context["documents"].forms[0].errors["template"]
    assert not Procedure.objects.exists()
