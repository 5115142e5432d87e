"""Online submission by a citizen without an account: the start page, the form of one procedure
(uploads checked by content and size, errors next to the fields, accepted files kept), the
confirmation with the provisional code, and ``POST /api/public/dossiers/``."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from dossiers.models import Attachment, Dossier, DossierEvent, EventKind, State
from procedures.models import Procedure
from procedures.schema import DocumentData, ProcedureData, StepData
from procedures.services import procedure_create
from tests.test_dossier_screens import (
    BUSINESS_CODE,
    EXTRACT_CODE,
    NOTARY_CODE,
    PDF_BYTES,
    PNG_BYTES,
    TZ,
    build_world,
    civil_extract,
)

pytestmark = pytest.mark.django_db

AN = {
    "name": "Nguyễn Văn An", "id_number": "089085000123", "phone": "0912345678",
    "email": "an.nguyen@example.vn", "address": "12 Trần Hưng Đạo, phường Long Xuyên",
}
EXE_BYTES = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200  # a Windows program


@pytest.fixture(autouse=True)
def fresh_cache():
    """Throttle counters and form tokens live in the cache: each test starts clean."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return build_world()


def pdf(name="don.pdf", content=PDF_BYTES):
    return SimpleUploadedFile(name, content, content_type="application/pdf")


def notary_docs(world):
    return list(world.notary.documents.all())  # 3 mandatory, the 4th optional


def form_data(world, token, **overrides):
    data = {**AN, "token": token, "declaration": "1"}
    docs = notary_docs(world)
    for doc in docs[:3]:
        data[f"doc_{doc.pk}"] = pdf(f"giay-to-{doc.position}.pdf")
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def open_form(client, code=NOTARY_CODE) -> str:
    response = client.get(reverse("public-submit", args=[code]))
    assert response.status_code == 200
    return re.search(r'name="token" value="([0-9a-f]{32})"', response.content.decode()).group(1)


# ---------------------------------------------------------------------------------------------
# Start page and procedure page
# ---------------------------------------------------------------------------------------------


def test_start_page_lists_only_procedures_that_accept_online_submission(client, world):
    html = client.get(reverse("public-submit-start")).content.decode()
    assert NOTARY_CODE in html and EXTRACT_CODE in html
    assert BUSINESS_CODE not in html  # in person only
    assert "1.000.000 đ" in html  # the declared fee


def test_start_page_search_ignores_diacritics(client, world):
    html = client.get(reverse("public-submit-start"), {"q": "trich luc"}).content.decode()
    assert EXTRACT_CODE in html
    assert NOTARY_CODE not in html


def test_start_page_query_count_does_not_grow_with_the_procedures(client, world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as two:
        client.get(reverse("public-submit-start"), {"q": "ho tich"})
    for n in range(5):
        procedure_create(data=replace(civil_extract(), code=f"2.00063{n}.000.00.00.H99"), actor=None)
    with CaptureQueriesContext(connection) as seven:
        html = client.get(reverse("public-submit-start"), {"q": "ho tich"}).content.decode()
    assert html.count("submit-card") == 6
    assert len(seven) == len(two)


def test_procedure_page_offers_online_submission_only_when_the_procedure_accepts_it(client, world):
    notary = client.get(reverse("public-procedure", args=[NOTARY_CODE])).content.decode()
    business = client.get(reverse("public-procedure", args=[BUSINESS_CODE])).content.decode()
    assert reverse("public-submit", args=[NOTARY_CODE]) in notary
    assert reverse("public-submit", args=[BUSINESS_CODE]) not in business


def test_form_shows_the_required_documents_and_the_declared_fee(client, world):
    html = client.get(reverse("public-submit", args=[NOTARY_CODE])).content.decode()
    for doc in notary_docs(world):
        assert f'name="doc_{doc.pk}"' in html
    assert "Phí thẩm định điều kiện hoạt động" in html
    assert "1.000.000 đ" in html


# ---------------------------------------------------------------------------------------------
# The form: success
# ---------------------------------------------------------------------------------------------


def test_citizen_submits_online_with_uploads_and_gets_a_provisional_code(client, world):
    token = open_form(client)
    response = client.post(reverse("public-submit", args=[NOTARY_CODE]), form_data(world, token))
    dossier = Dossier.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("public-submit-done", args=[dossier.provisional_code])
    assert dossier.state == State.SUBMITTED
    assert dossier.channel == "online"
    assert re.fullmatch(r"TT-\d{6}-[2-9A-HJ-NP-Z]{8}", dossier.code)
    assert dossier.applicant_name == "Nguyễn Văn An"
    uploads = list(dossier.attachments.all())
    assert [a.kind for a in uploads] == [Attachment.Kind.UPLOAD] * 3
    assert [a.content_type for a in uploads] == ["application/pdf"] * 3
    received = {d.required_document_id: d.received for d in dossier.documents.all()}
    docs = notary_docs(world)
    assert [received[d.pk] for d in docs] == [True, True, True, False]
    assert DossierEvent.objects.filter(dossier=dossier, transition=EventKind.SUBMIT).count() == 1

    page = client.get(response["Location"]).content.decode()
    assert dossier.provisional_code in page
    assert "Mới đăng ký" in page
    assert "Thanh toán trực tuyến" in page  # the fee can be paid at once


def test_staged_files_are_removed_once_the_dossier_is_stored(client, world, tmp_path):
    token = open_form(client)
    client.post(reverse("public-submit", args=[NOTARY_CODE]), form_data(world, token))
    staging = tmp_path / "media" / "online-staging"
    assert not staging.exists() or not any(staging.iterdir())


def test_confirmation_page_is_only_for_the_browser_that_submitted(client, world):
    token = open_form(client)
    client.post(reverse("public-submit", args=[NOTARY_CODE]), form_data(world, token))
    code = Dossier.objects.get().provisional_code
    other = Client()
    assert other.get(reverse("public-submit-done", args=[code])).status_code == 404
    assert client.get(reverse("public-submit-done", args=[code])).status_code == 200


def test_sending_the_same_form_twice_stores_one_dossier(client, world):
    token = open_form(client)
    url = reverse("public-submit", args=[NOTARY_CODE])
    first = client.post(url, form_data(world, token))
    second = client.post(url, form_data(world, token))  # double click / back and resend
    assert Dossier.objects.count() == 1
    assert first["Location"] == second["Location"]
    assert Attachment.objects.count() == 3


def test_the_desk_receiving_it_sends_the_real_code_and_appointment_by_sms_and_email(client, world):
    from dossiers.services import dossier_transition
    from motcua.models import OutboxMessage

    token = open_form(client)
    client.post(reverse("public-submit", args=[NOTARY_CODE]), form_data(world, token))
    dossier = Dossier.objects.get()
    provisional = dossier.provisional_code
    dossier = dossier_transition(dossier=dossier, transition="receive", actor=world.clerk,
                                 documents=[d.pk for d in notary_docs(world)[:3]])
    assert dossier.code != provisional and dossier.code.startswith("000.00.10.H01-")
    sms = OutboxMessage.objects.get(dossier=dossier, channel="sms", topic="received")
    email = OutboxMessage.objects.get(dossier=dossier, channel="email", topic="received")
    assert sms.recipient == AN["phone"] and email.recipient == AN["email"]
    for message in (sms, email):
        assert dossier.code in message.body
    assert dossier.due_at.astimezone(TZ).strftime("%d/%m/%Y") in email.body
    page = client.get(reverse("public-submit-done", args=[provisional])).content.decode()
    assert dossier.code in page  # the confirmation page shows the real code too


def test_files_staged_for_a_form_never_sent_are_swept_after_a_day(client, world, tmp_path):
    import os
    import time as clock

    docs = notary_docs(world)
    token = open_form(client)
    url = reverse("public-submit", args=[NOTARY_CODE])
    client.post(url, {**AN, "token": token, f"doc_{docs[0].pk}": pdf()})  # abandoned
    staging = tmp_path / "media" / "online-staging"
    (old,) = list(staging.iterdir())
    day_ago = clock.time() - 25 * 3600
    os.utime(old, (day_ago, day_ago))
    cache.delete("online-submit:staging-sweep")
    client.post(url, {**AN, "token": open_form(Client()), f"doc_{docs[0].pk}": pdf()})
    assert not old.exists()
    assert len(list(staging.iterdir())) == 1


# ---------------------------------------------------------------------------------------------
# The form: bad input
# ---------------------------------------------------------------------------------------------


def test_errors_are_shown_next_to_the_fields_and_nothing_is_stored(client, world):
    token = open_form(client)
    response = client.post(
        reverse("public-submit", args=[NOTARY_CODE]),
        form_data(world, token, phone="12345", id_number="123456789", name=""),
    )
    html = response.content.decode()
    assert response.status_code == 400
    assert Dossier.objects.count() == 0
    assert 'id="e-phone"' in html and "Số điện thoại di động không hợp lệ" in html
    assert "Chứng minh nhân dân 9 số đã hết giá trị" in html
    assert 'id="e-name"' in html
    assert 'aria-invalid="true"' in html
    assert 'value="Nguyễn' not in html  # the emptied name stays empty
    assert 'value="12345"' in html  # what was typed is kept to be corrected


def test_accepted_files_are_kept_after_an_error_and_refused_ones_are_named(client, world):
    docs = notary_docs(world)
    token = open_form(client)
    url = reverse("public-submit", args=[NOTARY_CODE])
    first = client.post(url, {
        **AN, "token": token, "declaration": "1", "phone": "0912",
        f"doc_{docs[0].pk}": pdf("don-de-nghi.pdf"),
        f"doc_{docs[1].pk}": pdf("quyet-dinh.pdf", content=b"just text, not a PDF"),
    })
    html = first.content.decode()
    assert first.status_code == 400
    assert "don-de-nghi.pdf" in html  # kept, listed
    assert "Tệp “quyet-dinh.pdf” không đúng định dạng cho phép" in html
    assert "Vui lòng đính kèm giấy tờ bắt buộc này." in html  # the third one
    assert Dossier.objects.count() == 0

    second = client.post(url, {
        **AN, "token": token, "declaration": "1",
        f"doc_{docs[1].pk}": pdf("quyet-dinh.pdf"),
        f"doc_{docs[2].pk}": SimpleUploadedFile("tru-so.png", PNG_BYTES, content_type="image/png"),
    })
    assert second.status_code == 302
    dossier = Dossier.objects.get()
    assert sorted(a.original_name for a in dossier.attachments.all()) == [
        "don-de-nghi.pdf", "quyet-dinh.pdf", "tru-so.png"]


def test_a_kept_file_can_be_removed_before_sending(client, world):
    docs = notary_docs(world)
    token = open_form(client)
    url = reverse("public-submit", args=[NOTARY_CODE])
    first = client.post(url, {**AN, "token": token, f"doc_{docs[3].pk}": pdf("uy-quyen.pdf")})
    path = re.search(r'name="remove" value="([^"]+)"', first.content.decode()).group(1)
    response = client.post(url, form_data(world, token, remove=path))
    assert response.status_code == 302
    names = [a.original_name for a in Dossier.objects.get().attachments.all()]
    assert "uy-quyen.pdf" not in names and len(names) == 3


def test_a_program_renamed_to_pdf_is_refused_by_its_content(client, world):
    docs = notary_docs(world)
    token = open_form(client)
    response = client.post(reverse("public-submit", args=[NOTARY_CODE]), form_data(
        world, token, **{f"doc_{docs[0].pk}": pdf("don.pdf", content=EXE_BYTES)}))
    assert response.status_code == 400
    assert "Tệp “don.pdf” không đúng định dạng cho phép (PDF, JPEG, PNG, DOCX)" in response.content.decode()
    assert Dossier.objects.count() == 0


def test_an_oversize_file_is_refused_with_the_limit(client, world, settings):
    settings.MOTCUA_UPLOAD_MAX_BYTES = 1024 * 1024
    docs = notary_docs(world)
    token = open_form(client)
    big = PDF_BYTES + b"0" * (1024 * 1024)
    response = client.post(reverse("public-submit", args=[NOTARY_CODE]), form_data(
        world, token, **{f"doc_{docs[0].pk}": pdf("lon.pdf", content=big)}))
    assert response.status_code == 400
    assert "Tệp “lon.pdf” vượt quá dung lượng cho phép (1 MB)." in response.content.decode()
    assert Attachment.objects.count() == 0


def test_an_empty_file_is_refused(client, world):
    docs = notary_docs(world)
    token = open_form(client)
    response = client.post(reverse("public-submit", args=[NOTARY_CODE]), form_data(
        world, token, **{f"doc_{docs[0].pk}": pdf("rong.pdf", content=b"")}))
    assert response.status_code == 400
    assert Dossier.objects.count() == 0


def test_a_missing_mandatory_document_is_asked_for(client, world):
    docs = notary_docs(world)
    token = open_form(client)
    response = client.post(reverse("public-submit", args=[NOTARY_CODE]), form_data(
        world, token, **{f"doc_{docs[2].pk}": None}))
    html = response.content.decode()
    assert response.status_code == 400
    assert f'id="e-doc-{docs[2].pk}"' in html
    assert Dossier.objects.count() == 0


def test_the_declaration_must_be_ticked(client, world):
    token = open_form(client)
    response = client.post(reverse("public-submit", args=[NOTARY_CODE]),
                           form_data(world, token, declaration=None))
    assert response.status_code == 400
    assert "Vui lòng xác nhận lời cam đoan" in response.content.decode()


def test_a_huge_name_is_refused_with_its_limit(client, world):
    token = open_form(client)
    response = client.post(reverse("public-submit", args=[NOTARY_CODE]),
                           form_data(world, token, name="A" * 5000))
    assert response.status_code == 400
    assert "Họ và tên người nộp dài quá 255 ký tự." in response.content.decode()
    assert Dossier.objects.count() == 0


def test_script_tags_in_the_name_are_stored_as_typed_and_escaped_on_the_page(client, world):
    token = open_form(client)
    name = '<script>alert("x")</script>'
    bad = client.post(reverse("public-submit", args=[NOTARY_CODE]),
                      form_data(world, token, name=name, phone="1"))
    html = bad.content.decode()
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    ok = client.post(reverse("public-submit", args=[NOTARY_CODE]), form_data(world, token, name=name))
    assert ok.status_code == 302
    assert Dossier.objects.get().applicant_name == name


@pytest.mark.parametrize("code", ["<script>alert(1)</script>", "TT-000000-AAAAAAAA", "x" * 500, "%00"])
def test_malformed_or_unknown_codes_on_the_confirmation_and_pay_pages_are_404(client, world, code):
    from urllib.parse import quote

    base = f"/nop-truc-tuyen/da-nop/{quote(code, safe='')}/"
    assert client.get(base).status_code == 404
    assert client.post(f"{base}thanh-toan/").status_code == 404


def test_unknown_procedure_is_a_404(client, world):
    assert client.get(reverse("public-submit", args=["9.999999.000.00.00.H01"])).status_code == 404
    assert client.get(reverse("public-submit", args=["<script>"])).status_code == 404


def test_a_procedure_without_the_online_channel_explains_where_to_submit(client, world):
    url = reverse("public-submit", args=[BUSINESS_CODE])
    response = client.get(url)
    assert response.status_code == 404
    assert "Thủ tục này chưa nhận hồ sơ trực tuyến" in response.content.decode()
    assert client.post(url, {**AN, "declaration": "1"}).status_code == 404
    assert Dossier.objects.count() == 0


def test_an_inactive_procedure_takes_no_submission(client, world):
    Procedure.objects.filter(code=NOTARY_CODE).update(is_active=False)
    assert client.get(reverse("public-submit", args=[NOTARY_CODE])).status_code == 404


def test_a_commune_procedure_asks_which_commune_receives_it(client, world):
    data = ProcedureData(
        code="1.001193.000.00.00.H01", name="Đăng ký khai sinh", field_code="HOTICH",
        field_name="Hộ tịch", level="commune", time_limit_amount=Decimal(1),
        time_limit_unit="working_days", accepts_online=True, online_level="full",
        documents=[DocumentData(name="Tờ khai đăng ký khai sinh")],
        steps=[StepData(name="Tiếp nhận", unit_code="MC", role="clerk", hours=Decimal(2)),
               StepData(name="Xử lý", unit_code="VHXH", role="officer", hours=Decimal(4)),
               StepData(name="Trả kết quả", unit_code="MC", role="clerk", hours=Decimal(2))],
    )
    version = procedure_create(data=data, actor=None).current_version
    doc = version.documents.get()
    token = open_form(client, code=data.code)
    url = reverse("public-submit", args=[data.code])
    missing = client.post(url, {**AN, "token": token, "declaration": "1", f"doc_{doc.pk}": pdf()})
    assert missing.status_code == 400
    assert "Vui lòng chọn UBND xã, phường, đặc khu nơi nộp hồ sơ." in missing.content.decode()
    ok = client.post(url, {**AN, "token": token, "declaration": "1", "agency": "000.20.01.H01"})
    assert ok.status_code == 302
    assert Dossier.objects.get().agency.code == "000.20.01.H01"


def test_submissions_from_one_client_are_throttled(client, world, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                                   "public_submit": "2/min"},
    }
    url = reverse("public-submit", args=[NOTARY_CODE])
    for _ in range(2):
        assert client.post(url, {"phone": "1"}).status_code == 400
    response = client.post(url, {"phone": "1"})
    assert response.status_code == 429
    assert "Bạn đã gửi quá nhiều lần" in response.content.decode()


# ---------------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------------

API = "/api/public/dossiers/"


def post_json(client, body, **headers):
    return client.post(API, json.dumps(body), content_type="application/json", **headers)


def test_api_json_submission_answers_201_submitted_with_the_provisional_code(client, world):
    response = post_json(client, {"procedure": NOTARY_CODE, "channel": "online", "applicant": AN})
    body = response.json()
    assert response.status_code == 201
    dossier = Dossier.objects.get()
    assert body["code"] == dossier.code == body["provisional_code"]
    assert body["state"] == "submitted"
    assert body["procedure"] == NOTARY_CODE
    assert body["fees"] == {"total_vnd": 1000000, "payable_online": True}


def test_api_multipart_submission_stores_the_files(client, world):
    docs = notary_docs(world)
    response = client.post(API, {
        "procedure": NOTARY_CODE, "applicant": json.dumps(AN),
        "documents": json.dumps([d.pk for d in docs[:3]]),
        "files": [pdf("a.pdf"), pdf("b.pdf")],
        f"document_{docs[2].pk}": SimpleUploadedFile("c.png", PNG_BYTES),
    })
    assert response.status_code == 201, response.content
    dossier = Dossier.objects.get()
    assert dossier.attachments.count() == 3
    assert response.json()["attachments"] == 3


def test_api_refuses_a_file_by_its_content_and_stores_nothing(client, world):
    response = client.post(API, {
        "procedure": NOTARY_CODE, "applicant": json.dumps(AN),
        "files": [pdf("virus.pdf", content=EXE_BYTES)],
    })
    assert response.status_code == 400
    assert response.json()["code"] == "upload_type"
    assert Dossier.objects.count() == 0 and Attachment.objects.count() == 0


def test_api_refuses_an_oversize_file(client, world, settings):
    settings.MOTCUA_UPLOAD_MAX_BYTES = 1024
    response = client.post(API, {
        "procedure": NOTARY_CODE, "applicant": json.dumps(AN),
        "files": [pdf("lon.pdf", content=PDF_BYTES + b"0" * 2048)],
    })
    assert response.status_code == 400
    assert response.json()["code"] == "upload_too_large"
    assert Dossier.objects.count() == 0


@pytest.mark.parametrize(
    "body, code",
    [
        ({"procedure": "9.999999.000.00.00.H01", "applicant": AN}, "unknown_procedure"),
        ({"procedure": "", "applicant": AN}, "unknown_procedure"),
        ({"procedure": ["x"], "applicant": AN}, "unknown_procedure"),
        ({"procedure": BUSINESS_CODE, "applicant": AN}, "channel_not_accepted"),
        ({"procedure": NOTARY_CODE, "channel": "in_person", "applicant": AN}, "channel_not_accepted"),
        ({"procedure": NOTARY_CODE, "applicant": "Nguyễn Văn An"}, "invalid_applicant"),
        ({"procedure": NOTARY_CODE, "applicant": {**AN, "phone": "12"}}, "invalid_applicant"),
        ({"procedure": NOTARY_CODE, "applicant": {**AN, "name": "x" * 100000}}, "invalid_applicant"),
        ({"procedure": NOTARY_CODE, "applicant": {**AN, "is_staff": True}}, "invalid_applicant"),
        ({"procedure": NOTARY_CODE, "applicant": {**AN, "address": "đ" * 100000}}, "invalid_applicant"),
        ({"procedure": NOTARY_CODE, "applicant": {**AN, "name": "An\u202eRLO"}}, "invalid_applicant"),
        ({"procedure": NOTARY_CODE, "applicant": AN, "documents": "all"}, "invalid_documents"),
        ({"procedure": NOTARY_CODE, "applicant": AN, "documents": [999999]}, "invalid_documents"),
    ],
)
def test_api_bad_input_is_a_400_with_a_stable_code_and_stores_nothing(client, world, body, code):
    response = post_json(client, body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["detail"]
    assert Dossier.objects.count() == 0


def test_api_refuses_malformed_json_in_multipart(client, world):
    response = client.post(API, {"procedure": NOTARY_CODE, "applicant": "{not json"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_json"


def test_api_refuses_a_body_that_is_not_an_object(client, world):
    response = client.post(API, "[1, 2]", content_type="application/json")
    assert response.status_code == 400


def test_api_escapes_markup_in_its_answer(client, world):
    name = "<script>alert(1)</script>"
    response = post_json(client, {"procedure": NOTARY_CODE, "applicant": {**AN, "name": name},
                                  "documents": [{"name": "<b>giấy</b>"}]})
    assert response.status_code == 201
    assert b"<" not in response.content
    assert Dossier.objects.get().applicant_name == name


def test_api_idempotency_key_makes_a_retry_answer_the_same_dossier(client, world):
    body = {"procedure": NOTARY_CODE, "applicant": AN}
    first = post_json(client, body, HTTP_IDEMPOTENCY_KEY="app-42-retry")
    second = post_json(client, body, HTTP_IDEMPOTENCY_KEY="app-42-retry")
    assert first.status_code == second.status_code == 201
    assert first.json()["code"] == second.json()["code"]
    assert Dossier.objects.count() == 1
    bad = post_json(client, body, HTTP_IDEMPOTENCY_KEY="<bad key>")
    assert bad.status_code == 400


def test_api_needs_no_login_and_is_throttled(client, world, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
                                   "public_submit": "3/min"},
    }
    codes = [post_json(client, {"procedure": "x", "applicant": AN}).status_code for _ in range(4)]
    assert codes == [400, 400, 400, 429]


