"""The official forms of Circular 03/2025/TT-VPCP as PDFs (dossiers.documents).

Each form is rendered for a dossier brought to the right state through the services, and the
PDF is read back with poppler (``pdftotext``, ``pdffonts``, ``pdfinfo``, ``pdftoppm``): the
dossier code, the applicant's name with its diacritics, the hours and dates as the forms
write them, the embedded bundled font, one A4 page for the receipt. A form that does not apply
to the dossier's state or history is a domain error; staff who cannot see the dossier get 404.
"""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import re
import subprocess
import unicodedata
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.http import Http404
from django.template.loader import render_to_string
from django.test import RequestFactory, override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIRequestFactory

from dossiers import documents
from dossiers.api.documents import DossierDocumentView
from dossiers.documents import (
    DocumentNotApplicable,
    dossier_document,
    person_name,
    render_dossier_document,
    tracking_url,
    vn_date,
    vn_moment,
    vn_time,
)
from dossiers.selectors import dossier_get
from motcua.errors import DomainError
from motcua.models import Agency
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    MONDAY_9,
    TZ,
    act,
    dossier_in,
    frozen,
    org,
    receive,
    submit_online,
    version,
)

pytestmark = pytest.mark.django_db

TITLES = {
    "receipt": "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
    "supplement": "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ",
    "refusal": "PHIẾU TỪ CHỐI TIẾP NHẬN GIẢI QUYẾT HỒ SƠ",
    "apology": "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT HỒ SƠ",
    "stop-notice": "THÔNG BÁO Về việc dừng giải quyết hồ sơ",
    "control-sheet": "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ",
}
#: The state (tests.dossier_factories.PATHS) each form is made for.
STATE_OF = {
    "receipt": "received",
    "supplement": "supplement_requested",
    "refusal": "refused",
    "apology": "in_progress",
    "stop-notice": "stopped",
    "control-sheet": "returned",
}
APOLOGY_DUE = datetime(2025, 12, 5, 16, 30, tzinfo=TZ)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """The organisation fixture gives a dozen users a password; nothing here logs in with it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# ---------------------------------------------------------------------------------------------
# Reading PDFs back
# ---------------------------------------------------------------------------------------------


def pdf_text(pdf: bytes, tmp_path: Path, name: str = "doc") -> str:
    """The PDF's text, whitespace collapsed (lines wrap anywhere)."""
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True
    ).stdout.decode("utf-8")
    return " ".join(out.split())


def pdf_tool(tool: str, pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "tool.pdf"
    path.write_bytes(pdf)
    return subprocess.run([tool, str(path)], check=True, capture_output=True).stdout.decode()


def render(org, dossier, kind: str) -> bytes:
    """As the view does: the dossier through the selector (prefetched), then the form."""
    fetched = dossier_get(code=dossier.code, user=org.superuser)
    options = {}
    if kind == "apology":
        options = {
            "at_fault_unit_or_step": fetched.current_step,
            "new_due_at": APOLOGY_DUE,
            "reason": "Cần xác minh thêm thông tin với cơ quan liên quan",
        }
    return render_dossier_document(dossier=fetched, kind=kind, **options)


# ---------------------------------------------------------------------------------------------
# Each form, for a dossier in its state
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(TITLES))
def test_each_form_renders_for_a_dossier_in_its_state(org, version, frozen, tmp_path, kind):
    dossier = dossier_in(org, version, STATE_OF[kind])
    pdf = render(org, dossier, kind)

    assert pdf.startswith(b"%PDF-")
    text = pdf_text(pdf, tmp_path)
    assert TITLES[kind] in text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in text
    assert "Độc lập - Tự do - Hạnh phúc" in text
    assert dossier.code in text
    assert "Nguyễn Văn An" in text  # the applicant, diacritics intact
    assert "SỞ TƯ PHÁP THỬ NGHIỆM" in text  # the receiving agency heads every form
    assert "ngày 24 tháng 11 năm 2025" in text  # reception or issue date, as forms write it


def test_receipt_has_every_field_of_form_01(org, version, frozen, tmp_path):
    dossier = receive(org, version)
    text = pdf_text(render(org, dossier, "receipt"), tmp_path)

    assert f"Mã hồ sơ: {dossier.code}" in text
    assert "Ông/Bà: Nguyễn Văn An" in text
    assert "Số định danh cá nhân: 089085000123" in text
    assert "Địa chỉ: 12 Trần Hưng Đạo, phường Long Xuyên, An Giang" in text
    assert "Số điện thoại: 0912345678" in text
    assert "an.nguyen@example.vn" in text
    assert "Nội dung yêu cầu giải quyết: Cấp giấy phép thử nghiệm" in text
    assert version.procedure.code in text
    # 1. the documents received (the optional one was not), originals and copies
    assert "1. Thành phần hồ sơ nộp gồm:" in text
    assert "Đơn đề nghị cấp phép" in text
    assert "Bản sao giấy tờ pháp lý" in text
    assert "Giấy ủy quyền (nếu có)" not in text
    assert "2. Số lượng hồ sơ: 01 (bộ)" in text
    assert "3. Thời gian giải quyết hồ sơ theo quy định là: 05 ngày làm việc" in text
    assert "4. Thời gian nhận hồ sơ: 09 giờ 00 phút, ngày 24 tháng 11 năm 2025" in text
    # Monday 09:00 + 5 working days = next Monday 09:00 (DOMAIN.md "Time")
    assert "5. Thời gian trả kết quả giải quyết hồ sơ: 09 giờ 00 phút, ngày 01 tháng 12 năm 2025" in text
    assert "6. Đăng ký nhận kết quả tại: Bộ phận một cửa – Sở Tư pháp thử nghiệm" in text
    assert "trực tiếp" in text  # the channel
    assert tracking_url(dossier.code) in text
    assert "đánh giá mức độ hài lòng" in text
    assert "NGƯỜI NỘP HỒ SƠ" in text and "NGƯỜI TIẾP NHẬN HỒ SƠ" in text
    assert "(Ký và ghi rõ họ tên)" in text
    assert person_name(org.clerk) in text  # the receiving clerk
    assert person_name(org.clerk) == f"{org.clerk.last_name} {org.clerk.first_name}"


def test_receipt_carries_the_qr_code_of_the_tracking_page(org, version, frozen):
    dossier = receive(org, version)
    context = documents.receipt_context(dossier_get(code=dossier.code, user=org.clerk))

    assert context["tracking_url"] == tracking_url(dossier.code)
    assert context["qr"].startswith("data:image/png;base64,")
    html = render_to_string("pdf/receipt.html", context)
    assert f'<img src="{context["qr"]}"' in html


@override_settings(MOTCUA_PUBLIC_BASE_URL="https://dichvucong.angiang.gov.vn/")
def test_tracking_url_is_the_public_page_with_the_code():
    assert (
        tracking_url("000.00.10.H01-251124-0007")
        == "https://dichvucong.angiang.gov.vn/tra-cuu/?ma=000.00.10.H01-251124-0007"
    )


def test_receipt_fits_one_a4_page_and_renders_to_an_image(org, version, frozen, tmp_path):
    pdf = render(org, receive(org, version), "receipt")

    info = pdf_tool("pdfinfo", pdf, tmp_path)
    assert re.search(r"Pages:\s+1\b", info)
    assert "(A4)" in info
    (tmp_path / "receipt.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "70", "-png", "-singlefile", str(tmp_path / "receipt.pdf"),
         str(tmp_path / "receipt")],
        check=True,
    )
    png = (tmp_path / "receipt.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000


def test_fonts_are_the_bundled_serif_embedded(org, version, frozen, tmp_path):
    fonts = pdf_tool("pdffonts", render(org, receive(org, version), "receipt"), tmp_path)
    rows = fonts.splitlines()[2:]

    assert rows, fonts
    # subset names ABCDEF+MC-Serif, -Bold, -Italic…: nothing but the bundled family
    assert all(re.match(r"[A-Z]{6}\+MC-Serif(-[A-Za-z-]+)?\s", row) for row in rows), fonts
    # columns: name type encoding emb sub uni object ID — every font embedded (and subset)
    assert all(re.search(r"\byes\s+yes\s+yes\b", row) for row in rows), fonts


def test_a_script_tag_in_a_name_prints_as_text(org, version, frozen, tmp_path):
    name = "<script>alert('x')</script> Lê Thị Ánh"
    dossier = receive(org, version, applicant={**APPLICANT, "name": name,
                                               "address": "<b>12</b> Nguyễn Huệ"})
    fetched = dossier_get(code=dossier.code, user=org.clerk)

    html = render_to_string("pdf/receipt.html", documents.receipt_context(fetched))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Lê Thị Ánh" in html
    text = pdf_text(render_dossier_document(dossier=fetched, kind="receipt"), tmp_path)
    assert name in text
    assert "<b>12</b> Nguyễn Huệ" in text


def test_vietnamese_text_is_composed_as_typed(org, version, frozen, tmp_path):
    """The applicant's name comes back from the PDF as the same (NFC) characters, not as
    letters with loose combining marks or missing glyphs."""
    name = "Trịnh Thị Ngọc Hương Đặng"
    dossier = receive(org, version, applicant={**APPLICANT, "name": name})
    text = pdf_text(render(org, dossier, "receipt"), tmp_path)

    assert unicodedata.normalize("NFC", text) == text
    assert name in text


# ---------------------------------------------------------------------------------------------
# Forms 02–06: their content
# ---------------------------------------------------------------------------------------------


def test_supplement_lists_what_is_missing_why_who_and_when(org, version, frozen, tmp_path):
    dossier = dossier_in(org, version, "in_progress")
    frozen.move_to(MONDAY_9 + timedelta(hours=5, minutes=30))  # 14:30
    dossier = act(
        dossier, "request_supplement", org.officer,
        missing_documents=["Bản sao sổ hộ khẩu", "Giấy xác nhận cư trú"],
        reasons=["Giấy tờ pháp lý đã nộp hết hiệu lực"],
    )
    text = pdf_text(render(org, dossier, "supplement"), tmp_path)

    assert "Bản sao sổ hộ khẩu" in text and "Giấy xác nhận cư trú" in text
    assert "Lý do:" in text and "Giấy tờ pháp lý đã nộp hết hiệu lực" in text
    assert f"{person_name(org.officer)}, Phòng chuyên môn" in text  # who asked, their unit
    assert "14 giờ 30 phút, ngày 24 tháng 11 năm 2025" in text
    assert "NGƯỜI HƯỚNG DẪN" in text
    assert "không tính vào thời hạn giải quyết" in text  # the clock pauses (default policy)


def test_desk_supplement_slip_needs_no_dossier(org, version, frozen, tmp_path):
    pdf = documents.render_desk_supplement(
        procedure_version=version, agency=org.a, applicant=APPLICANT,
        missing_documents=["Đơn đề nghị cấp phép"], actor=org.clerk,
    )
    text = pdf_text(pdf, tmp_path)

    assert TITLES["supplement"] in text
    assert "Nguyễn Văn An" in text and "Đơn đề nghị cấp phép" in text
    assert "Mã hồ sơ" not in text  # not received: no code yet


def test_refusal_gives_the_reasons(org, version, frozen, tmp_path):
    dossier = submit_online(org, version)
    dossier = act(dossier, "refuse", org.clerk,
                  reasons=["Không thuộc thẩm quyền giải quyết", "Hồ sơ giả mạo"])
    text = pdf_text(render(org, dossier, "refusal"), tmp_path)

    assert "Không thuộc thẩm quyền giải quyết" in text and "Hồ sơ giả mạo" in text
    assert "không tiếp nhận, giải quyết hồ sơ này" in text
    assert "trực tuyến" in text


def test_apology_names_the_step_at_fault_and_the_new_appointment(org, version, frozen, tmp_path):
    dossier = dossier_in(org, version, "in_progress")
    text = pdf_text(render(org, dossier, "apology"), tmp_path)

    assert "Kính gửi: Ông/Bà Nguyễn Văn An" in text
    assert "bước “Thẩm định hồ sơ”, Phòng chuyên môn" in text
    assert "Cần xác minh thêm thông tin với cơ quan liên quan" in text
    assert "09 giờ 00 phút, ngày 01 tháng 12 năm 2025" in text  # the appointment missed
    assert "16 giờ 30 phút, ngày 05 tháng 12 năm 2025" in text  # the new one
    assert "không thể trả kết quả" in text  # issued before the appointment: predicted late
    assert "xin lỗi" in text


def test_apology_from_the_recorded_event(org, version, frozen, tmp_path):
    """The apology task (a later issue) records an ``apology`` event; the form reads it."""
    from dossiers.models import DossierEvent

    dossier = dossier_in(org, version, "in_progress")
    frozen.move_to(datetime(2025, 12, 1, 10, 0, tzinfo=TZ))  # after the appointment
    DossierEvent.objects.create(
        dossier=dossier, transition=documents.APOLOGY_EVENT, from_state="in_progress",
        to_state="in_progress", data={
            "new_due_at": APOLOGY_DUE.isoformat(), "previous_due_at": dossier.due_at.isoformat(),
            "step": dossier.current_step_id, "reason": "Thiếu cán bộ thụ lý",
        },
    )
    fetched = dossier_get(code=dossier.code, user=org.superuser)
    text = pdf_text(render_dossier_document(dossier=fetched, kind="apology"), tmp_path)

    assert "Thiếu cán bộ thụ lý" in text
    assert "chưa trả kết quả giải quyết hồ sơ cho Ông/Bà đúng thời hạn" in text
    assert "16 giờ 30 phút, ngày 05 tháng 12 năm 2025" in text
    assert "ngày 01 tháng 12 năm 2025" in text  # dated when issued


def test_stop_notice_gives_the_legal_grounds_and_the_leader_signs(org, version, frozen, tmp_path):
    dossier = dossier_in(org, version, "supplement_requested")
    dossier = act(dossier, "stop", org.leader,
                  legal_basis="Khoản 2 Điều 20 Nghị định số 118/2025/NĐ-CP",
                  comment="Quá thời hạn bổ sung hồ sơ")
    text = pdf_text(render(org, dossier, "stop-notice"), tmp_path)

    assert "Căn cứ Khoản 2 Điều 20 Nghị định số 118/2025/NĐ-CP" in text
    assert "Lý do: Quá thời hạn bổ sung hồ sơ" in text
    assert "thông báo dừng giải quyết hồ sơ" in text
    assert "GIÁM ĐỐC" in text and person_name(org.leader) in text  # the leader signs
    assert "Nơi nhận:" in text


def test_control_sheet_lists_each_hand_over_early_on_time_late(org, version, frozen, tmp_path):
    dossier = receive(org, version)
    frozen.move_to(MONDAY_9 + timedelta(minutes=30))  # reception step (2 h): on time
    dossier = act(dossier, "start", org.clerk)
    frozen.move_to(datetime(2025, 11, 28, 16, 0, tzinfo=TZ))  # appraisal (24 h) due Thu: late
    dossier = act(dossier, "forward", org.officer, comment="Đủ điều kiện")
    frozen.move_to(datetime(2025, 11, 28, 16, 30, tzinfo=TZ))  # drafting (6 h): early
    dossier = act(dossier, "submit_for_approval", org.officer)
    frozen.move_to(datetime(2025, 12, 1, 8, 0, tzinfo=TZ))  # approval (6 h) due Mon 14:00
    dossier = act(dossier, "approve", org.leader)
    frozen.move_to(datetime(2025, 12, 1, 8, 30, tzinfo=TZ))
    dossier = act(dossier, "return_result", org.clerk)
    fetched = dossier_get(code=dossier.code, user=org.superuser)

    context = documents.control_sheet_context(fetched)
    rows = [(r.giver, r.receiver, r.result) for r in context["rows"]]
    assert rows == [
        ("Người nộp hồ sơ", "Bộ phận một cửa", ""),
        ("Bộ phận một cửa", "Phòng chuyên môn", "Đúng hạn"),
        ("Phòng chuyên môn", "Phòng chuyên môn", "Quá hạn"),
        ("Phòng chuyên môn", "Ban Lãnh đạo", "Trước hạn"),
        ("Ban Lãnh đạo", "Bộ phận một cửa", "Đúng hạn"),  # before the deadline, same day
        # the return row: the dossier against its appointment (ready Mon 08:00, due 09:00)
        ("Bộ phận một cửa", "Người nộp hồ sơ", "Đúng hạn"),
    ]
    text = pdf_text(render_dossier_document(dossier=fetched, kind="control-sheet"), tmp_path)
    assert "16 giờ 00 phút, ngày 28 tháng 11 năm 2025" in text
    assert f"Người giao: {person_name(org.officer)}" in text  # the officer who forwarded
    assert "Đủ điều kiện" in text
    assert "Quá hạn" in text and "Trước hạn" in text and "Đúng hạn" in text


# ---------------------------------------------------------------------------------------------
# Forms that do not apply
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "kind"),
    [
        ("received", "refusal"),
        ("returned", "refusal"),
        ("submitted", "receipt"),
        ("refused", "receipt"),
        ("received", "supplement"),
        ("in_progress", "stop-notice"),
        ("withdrawn", "stop-notice"),
        ("submitted", "control-sheet"),
        ("in_progress", "apology"),  # no letter recorded, none given
    ],
)
def test_a_form_that_does_not_apply_is_a_domain_error(org, version, frozen, state, kind):
    dossier = dossier_get(code=dossier_in(org, version, state).code, user=org.superuser)

    with pytest.raises(DocumentNotApplicable) as caught:
        render_dossier_document(dossier=dossier, kind=kind)
    assert isinstance(caught.value, DomainError)
    assert caught.value.code == "document_not_applicable"
    assert dossier.code in str(caught.value.message)


def test_an_unknown_kind_is_refused(org, version, frozen):
    with pytest.raises(DomainError):
        render_dossier_document(dossier=receive(org, version), kind="invoice")


# ---------------------------------------------------------------------------------------------
# The views: staff site and API
# ---------------------------------------------------------------------------------------------


def staff_get(user, code: str, kind: str):
    request = RequestFactory().get(f"/staff/dossiers/{code}/documents/{kind}.pdf")
    request.user = user
    return dossier_document(request, code=code, kind=kind)


def api_get(user, code: str, kind: str, *, accept: str = "application/pdf"):
    headers = {"HTTP_ACCEPT": accept}
    if user is not None:
        headers["HTTP_AUTHORIZATION"] = f"Token {Token.objects.get_or_create(user=user)[0].key}"
    request = APIRequestFactory().get(
        f"/api/v1/dossiers/{code}/documents/{kind}.pdf", **headers
    )
    response = DossierDocumentView.as_view()(request, code=code, kind=kind)
    if hasattr(response, "render"):  # a DRF Response (the errors); the PDF is plain Django
        response.render()
    return response


def test_staff_view_serves_the_pdf_inline(org, version, frozen):
    dossier = receive(org, version)
    response = staff_get(org.clerk, dossier.code, "receipt")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'inline; filename="{dossier.code}-receipt.pdf"'
    assert "no-store" in response["Cache-Control"]
    assert response.content.startswith(b"%PDF-")


def test_control_sheet_queries_do_not_grow_with_the_hand_overs(org, version, frozen):
    short = dossier_in(org, version, "in_progress")  # 2 events
    long = dossier_in(org, version, "returned")  # 6 events, every step done

    staff_get(org.superuser, short.code, "control-sheet")  # the user's roles are read once
    counts = []
    for dossier in (short, long):
        with CaptureQueriesContext(connection) as queries:
            response = staff_get(org.superuser, dossier.code, "control-sheet")
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 8, counts


def test_staff_of_another_agency_get_404(org, version, frozen):
    dossier = receive(org, version)

    with pytest.raises(Http404):
        staff_get(org.clerk_b, dossier.code, "receipt")
    with pytest.raises(Http404):
        staff_get(org.clerk, "000.00.10.H01-991231-9999", "receipt")  # unknown alike


def test_staff_view_needs_a_login(org, version, frozen):
    dossier = receive(org, version)
    response = staff_get(AnonymousUser(), dossier.code, "receipt")

    assert response.status_code == 302
    assert "/staff/login/" in response["Location"]


def test_staff_view_answers_400_for_a_form_that_does_not_apply(org, version, frozen):
    dossier = receive(org, version)
    response = staff_get(org.clerk, dossier.code, "refusal")

    assert response.status_code == 400
    assert "không bị từ chối tiếp nhận" in response.content.decode()


def test_api_serves_the_pdf_with_token_auth(org, version, frozen):
    dossier = dossier_in(org, version, "in_progress")
    response = api_get(org.officer, dossier.code, "control-sheet")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'inline; filename="{dossier.code}-control-sheet.pdf"'
    )
    assert response.content.startswith(b"%PDF-")


def test_api_answers_404_to_who_cannot_see_the_dossier(org, version, frozen):
    dossier = receive(org, version)
    response = api_get(org.officer_b, dossier.code, "receipt")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert b'"not_found"' in response.content


def test_api_answers_400_json_for_a_form_that_does_not_apply(org, version, frozen):
    dossier = receive(org, version)
    response = api_get(org.clerk, dossier.code, "refusal")

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert b'"document_not_applicable"' in response.content


def test_api_needs_authentication(org, version, frozen):
    dossier = receive(org, version)
    response = api_get(None, dossier.code, "receipt", accept="*/*")

    assert response.status_code in (401, 403)


# ---------------------------------------------------------------------------------------------
# Words on paper
# ---------------------------------------------------------------------------------------------


def test_dates_and_hours_are_written_as_the_forms_write_them():
    moment = datetime(2025, 3, 5, 1, 7, tzinfo=TZ)

    assert vn_date(moment) == "ngày 05 tháng 03 năm 2025"
    assert vn_time(moment) == "01 giờ 07 phút"
    assert vn_moment(moment) == "01 giờ 07 phút, ngày 05 tháng 03 năm 2025"


def test_hours_are_local_time_whatever_the_zone_given():
    from datetime import UTC

    evening_utc = datetime(2025, 11, 24, 18, 30, tzinfo=UTC)  # 01:30 next day in Vietnam
    assert vn_moment(evening_utc) == "01 giờ 30 phút, ngày 25 tháng 11 năm 2025"


@override_settings(MOTCUA_PROVINCE_NAME="Tỉnh An Giang")
def test_header_lines_for_a_department_a_commune_and_the_province():
    province = Agency(name="Ủy ban nhân dân tỉnh An Giang", kind=Agency.Kind.PROVINCE)
    department = Agency(name="Sở Tư pháp tỉnh An Giang", kind=Agency.Kind.DEPARTMENT,
                        parent=province)
    orphan = Agency(name="Sở Y tế tỉnh An Giang", kind=Agency.Kind.DEPARTMENT)
    ward = Agency(name="Ủy ban nhân dân phường Long Xuyên", kind=Agency.Kind.COMMUNE,
                  parent=province)

    def lines(agency):
        head = documents.header(agency, doc_date=MONDAY_9)
        return head["agency_parent"], head["agency_name"], head["place"]

    assert lines(department) == ("UBND TỈNH AN GIANG", "SỞ TƯ PHÁP", "An Giang")
    assert lines(orphan) == ("UBND TỈNH AN GIANG", "SỞ Y TẾ", "An Giang")
    assert lines(ward) == ("UBND TỈNH AN GIANG", "ỦY BAN NHÂN DÂN PHƯỜNG LONG XUYÊN",
                           "Long Xuyên")
    assert lines(province) == ("", "ỦY BAN NHÂN DÂN TỈNH AN GIANG", "An Giang")


def test_signing_authority_follows_the_agency_and_the_title():
    department = Agency(kind=Agency.Kind.DEPARTMENT)
    commune = Agency(kind=Agency.Kind.COMMUNE)

    assert documents.authority_lines(department) == ["GIÁM ĐỐC"]
    assert documents.authority_lines(department, "Phó Giám đốc") == [
        "KT. GIÁM ĐỐC", "PHÓ GIÁM ĐỐC"
    ]
    assert documents.authority_lines(commune) == ["TM. ỦY BAN NHÂN DÂN", "CHỦ TỊCH"]
    assert documents.authority_lines(commune, "Phó Chủ tịch") == [
        "TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"
    ]


def test_fonts_are_subset_by_harfbuzz_here():
    """The machines that run this suite install libharfbuzz-subset0 (scripts/test), as the
    production image does: without it WeasyPrint falls back to fontTools and a receipt takes
    several times longer (bench/receipt_pdf.py)."""
    from weasyprint.text import ffi

    from motcua.pdf import harfbuzz_subset_available

    assert harfbuzz_subset_available()
    assert ffi.harfbuzz_subset is not None


def test_system_check_warns_when_harfbuzz_subset_is_missing(monkeypatch):
    from django.core import checks

    from motcua import pdf

    assert not [m for m in checks.run_checks() if m.id == "motcua.W001"]
    monkeypatch.setattr(pdf.ctypes.util, "find_library", lambda name: None)
    (warning,) = [m for m in checks.run_checks() if m.id == "motcua.W001"]
    assert warning.level == checks.WARNING
    assert "libharfbuzz-subset0" in warning.hint
