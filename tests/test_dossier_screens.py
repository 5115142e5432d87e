"""The staff dossier screens: the reception desk, the queues and search (with bulk actions and
xlsx export), the dossier page with its actions. Data is built through the services only."""

from __future__ import annotations

import io
import shutil
import subprocess
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from dossiers.models import Attachment, Dossier, State
from dossiers.services import dossier_receive_at_desk, dossier_submit_online, dossier_transition
from motcua.demo import seed_organisation
from motcua.models import Role, StaffRole, Unit
from procedures.models import Procedure
from procedures.schema import DocumentData, FeeData, ProcedureData, StepData
from procedures.services import procedure_create

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
PASSWORD = "Mot-Cua-man-hinh-2025"
#: Monday 24 November 2025, 09:00: a plain working morning, no holiday for two weeks.
MONDAY_9 = datetime(2025, 11, 24, 9, 0, tzinfo=TZ)

SO_TU_PHAP = "000.00.10.H01"  # demo agency with units MC (desk), HCTP (officers), LD
SO_TAI_CHINH = "000.00.11.H01"  # another agency: units MC, DKKD, LD
NOTARY_CODE = "2.001035.000.00.00.H01"
EXTRACT_CODE = "2.000635.000.00.00.H10"
BUSINESS_CODE = "2.001610.000.00.00.H01"

AN = {  # in the demo citizen directory
    "name": "Nguyễn Văn An", "id_number": "089085000123", "phone": "0912345678",
    "email": "an.nguyen@example.vn", "address": "12 Trần Hưng Đạo, phường Long Xuyên, tỉnh An Giang",
}
NGOC = {
    "name": "Trần Thị Bích Ngọc", "id_number": "089190004567", "phone": "0987654321",
    "email": "", "address": "45 Nguyễn Huệ, phường Long Xuyên, tỉnh An Giang",
}

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def pdf_file(name="ban-quet.pdf"):
    return SimpleUploadedFile(name, PDF_BYTES, content_type="application/pdf")


# ---------------------------------------------------------------------------------------------
# The world: the demo organisation, four procedures, one person per role
# ---------------------------------------------------------------------------------------------


def _steps(*rows) -> list[StepData]:
    return [StepData(name=n, unit_code=u, role=r, hours=Decimal(h)) for n, u, r, h in rows]


def notary_office() -> ProcedureData:
    """Sở Tư pháp, 10 working days (80 h), two officer steps, in person, online and by post."""
    return ProcedureData(
        code=NOTARY_CODE, name="Thủ tục đăng ký hoạt động Văn phòng công chứng",
        field_code="CONGCHUNG", field_name="Công chứng", level="province",
        agency_code=SO_TU_PHAP, time_limit_amount=Decimal(10), time_limit_unit="working_days",
        accepts_in_person=True, accepts_online=True, accepts_post=True, online_level="partial",
        result="Giấy đăng ký hoạt động Văn phòng công chứng",
        fees=[FeeData(name="Phí thẩm định điều kiện hoạt động", amount_vnd=1000000)],
        documents=[
            DocumentData(name="Đơn đề nghị đăng ký hoạt động (Mẫu TP-CC-08)"),
            DocumentData(name="Quyết định cho phép thành lập Văn phòng công chứng",
                         originals=0, copies=1),
            DocumentData(name="Giấy tờ chứng minh về trụ sở của Văn phòng công chứng",
                         originals=0, copies=1),
            DocumentData(name="Giấy ủy quyền (trường hợp nộp thay)", is_mandatory=False),
        ],
        steps=_steps(
            ("Tiếp nhận hồ sơ", "MC", Role.CLERK, 4),
            ("Thẩm định hồ sơ", "HCTP", Role.OFFICER, 48),
            ("Dự thảo kết quả", "HCTP", Role.OFFICER, 16),
            ("Phê duyệt, ký kết quả", "LD", Role.LEADER, 8),
            ("Trả kết quả", "MC", Role.CLERK, 4),
        ),
    )


def civil_extract() -> ProcedureData:
    """Sở Tư pháp, 3 working days (24 h): short, to get dossiers due soon or overdue."""
    return ProcedureData(
        code=EXTRACT_CODE, name="Cấp bản sao Trích lục hộ tịch", field_code="HOTICH",
        field_name="Hộ tịch", level="province", agency_code=SO_TU_PHAP,
        time_limit_amount=Decimal(3), time_limit_unit="working_days", accepts_online=True,
        online_level="full", result="Bản sao trích lục hộ tịch",
        fees=[FeeData(name="Lệ phí", amount_vnd=8000)],
        documents=[DocumentData(name="Tờ khai cấp bản sao trích lục hộ tịch")],
        steps=_steps(
            ("Tiếp nhận hồ sơ", "MC", Role.CLERK, 2),
            ("Xử lý hồ sơ", "HCTP", Role.OFFICER, 16),
            ("Ký bản sao", "LD", Role.LEADER, 4),
            ("Trả kết quả", "MC", Role.CLERK, 2),
        ),
    )


def private_business() -> ProcedureData:
    """Sở Tài chính: another agency, whose officers must see nothing of Sở Tư pháp's work."""
    return ProcedureData(
        code=BUSINESS_CODE, name="Đăng ký thành lập doanh nghiệp tư nhân", field_code="DOANHNGHIEP",
        field_name="Thành lập và hoạt động của doanh nghiệp", level="province",
        agency_code=SO_TAI_CHINH, time_limit_amount=Decimal(3), time_limit_unit="working_days",
        documents=[DocumentData(name="Giấy đề nghị đăng ký doanh nghiệp")],
        steps=_steps(
            ("Tiếp nhận hồ sơ", "MC", Role.CLERK, 2),
            ("Thẩm định hồ sơ", "DKKD", Role.OFFICER, 16),
            ("Phê duyệt", "LD", Role.LEADER, 4),
            ("Trả kết quả", "MC", Role.CLERK, 2),
        ),
    )


def _user(username: str, full_name: str, *grants):
    family, _, given = full_name.rpartition(" ")
    user = get_user_model().objects.create_user(
        username, password=PASSWORD, first_name=given, last_name=family
    )
    for agency_code, unit_code, role in grants:
        StaffRole.objects.create(
            user=user, role=role, unit=Unit.objects.get(agency__code=agency_code, code=unit_code)
        )
    return user


def build_world() -> SimpleNamespace:
    seed_organisation()
    world = SimpleNamespace(
        notary=procedure_create(data=notary_office(), actor=None).current_version,
        extract=procedure_create(data=civil_extract(), actor=None).current_version,
        business=procedure_create(data=private_business(), actor=None).current_version,
        clerk=_user("tiepnhan", "Nguyễn Thị Lan", (SO_TU_PHAP, "MC", Role.CLERK)),
        officer=_user("chuyenvien", "Trần Văn Minh", (SO_TU_PHAP, "HCTP", Role.OFFICER)),
        officer2=_user("chuyenvien2", "Đỗ Thị Hoa", (SO_TU_PHAP, "HCTP", Role.OFFICER)),
        leader=_user("lanhdao", "Lê Hoàng Phúc", (SO_TU_PHAP, "LD", Role.LEADER)),
        officer_b=_user("chuyenvien_tc", "Phạm Quốc Huy", (SO_TAI_CHINH, "DKKD", Role.OFFICER)),
        clerk_b=_user("tiepnhan_tc", "Võ Thị Mai", (SO_TAI_CHINH, "MC", Role.CLERK)),
        supervisor=_user("giamsat", "Võ Quốc Bảo", ("000.00.00.H01", "VP", Role.SUPERVISOR)),
    )
    return world


def receive(world, *, version=None, applicant=None, actor=None, **kwargs) -> Dossier:
    return dossier_receive_at_desk(
        procedure_version=version or world.notary, applicant=applicant or AN,
        actor=actor or world.clerk, **kwargs,
    )


def act(dossier, transition, actor, **kwargs) -> Dossier:
    return dossier_transition(dossier=dossier, transition=transition, actor=actor, **kwargs)


def at_officer(world, **kwargs) -> Dossier:
    """Received and handed to the officers (first officer step)."""
    return act(receive(world, **kwargs), "start", world.clerk)


def awaiting_approval(world, **kwargs) -> Dossier:
    dossier = act(at_officer(world, **kwargs), "forward", world.officer)
    return act(dossier, "submit_for_approval", world.officer)


def login(client, user):
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """Seven staff per test: a fast hasher keeps the suite quick (passwords are not the
    subject here)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_cache():
    """The queue keeps tab counts and filter choices per user for a few seconds: each test
    starts without them."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def world(db):
    return build_world()


@pytest.fixture
def frozen():
    import time_machine

    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return tmp_path


def htmx(**extra):
    return {"HTTP_HX_REQUEST": "true", **extra}


def desk_post(world, *, documents="mandatory", applicant=None, **extra) -> dict:
    """The desk form as the browser sends it."""
    version = extra.pop("version", world.notary)
    data = {"procedure": version.procedure.code, "channel": "in_person"}
    person = AN if applicant is None else applicant
    data.update({k: v for k, v in person.items()})
    data["id_type"] = "citizen_id"
    docs = list(version.documents.all())
    if documents == "mandatory":
        chosen = [d for d in docs if d.is_mandatory]
    else:
        chosen = [d for d in docs if d.name in documents]
    for doc in chosen:
        data[f"doc-{doc.pk}"] = "on"
    for doc in docs:
        data[f"orig-{doc.pk}"] = str(doc.originals)
        data[f"copy-{doc.pk}"] = str(doc.copies)
    data.update(extra)
    return data


# ---------------------------------------------------------------------------------------------
# Who sees what
# ---------------------------------------------------------------------------------------------


def test_clerk_sees_the_desk_and_nav_links(client, world):
    response = login(client, world.clerk).get(reverse("desk"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Tiếp nhận hồ sơ" in html
    assert 'id="procedure-q"' in html
    for link in (reverse("desk"), reverse("dossier-queue"), reverse("dossier-search")):
        assert f'href="{link}"' in html
    home = client.get(reverse("staff-home")).content.decode()
    assert "Hồ sơ trực tuyến chờ tiếp nhận" in home


def test_officer_cannot_open_the_desk_and_sees_no_desk_link(client, world):
    login(client, world.officer)
    assert client.get(reverse("desk")).status_code == 403
    assert client.get(reverse("desk-procedures"), {"procedure_q": "cong chung"}).status_code == 403
    home = client.get(reverse("staff-home")).content.decode()
    assert f'href="{reverse("desk")}"' not in home
    assert "Hồ sơ cần xử lý" in home


def test_anonymous_is_sent_to_login(client, world):
    response = client.get(reverse("dossier-queue"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_supervisor_searches_but_has_no_queue(client, world):
    receive(world)
    login(client, world.supervisor)
    assert client.get(reverse("dossier-queue")).status_code == 403
    response = client.get(reverse("dossier-search"))
    assert response.status_code == 200
    assert "Nguyễn Văn An" in response.content.decode()


def test_officer_of_another_agency_gets_404_on_a_dossier_page(client, world):
    dossier = at_officer(world)
    login(client, world.officer_b)
    assert client.get(reverse("dossier-page", args=[dossier.code])).status_code == 404
    post = client.post(reverse("dossier-act", args=[dossier.code, "forward"]),
                       {"forward-expected_version": dossier.version})
    assert post.status_code == 404
    login(client, world.officer)
    assert client.get(reverse("dossier-page", args=[dossier.code])).status_code == 200


def test_wrong_unit_officer_has_an_empty_queue(client, world):
    at_officer(world)
    at_officer(world, applicant=NGOC)
    login(client, world.officer_b)
    html = client.get(reverse("dossier-queue")).content.decode()
    assert "Không có hồ sơ nào đang chờ bạn xử lý" in html
    assert "Nguyễn Văn An" not in html
    login(client, world.officer)
    html = client.get(reverse("dossier-queue")).content.decode()
    assert "Nguyễn Văn An" in html and "Trần Thị Bích Ngọc" in html


# ---------------------------------------------------------------------------------------------
# The desk
# ---------------------------------------------------------------------------------------------


def test_desk_search_ignores_diacritics_and_keeps_to_the_clerks_agency(client, world):
    login(client, world.clerk)
    html = client.get(reverse("desk-procedures"), {"procedure_q": "van phong cong chung"},
                      **htmx()).content.decode()
    assert "Thủ tục đăng ký hoạt động Văn phòng công chứng" in html
    assert 'role="option"' in html and f'data-code="{NOTARY_CODE}"' in html
    # Sở Tài chính's procedure is not offered at Sở Tư pháp's desk.
    html = client.get(reverse("desk-procedures"), {"procedure_q": "doanh nghiep"}).content.decode()
    assert "Không tìm thấy thủ tục nào" in html


def test_desk_panel_shows_channels_fees_and_the_checklist(client, world):
    login(client, world.clerk)
    html = client.get(reverse("desk-procedure", args=[NOTARY_CODE])).content.decode()
    assert f'name="procedure" value="{NOTARY_CODE}"' in html
    assert "Qua dịch vụ bưu chính công ích" in html
    assert "1.000.000 đ" in html
    for doc in world.notary.documents.all():
        assert f'name="doc-{doc.pk}"' in html
    assert html.count("data-mandatory") == 3
    assert client.get(reverse("desk-procedure", args=["9.999999"])).status_code == 404


def test_citizen_lookup_prefills_a_known_person(client, world):
    login(client, world.clerk)
    html = client.get(reverse("desk-citizen"), {"id_number": "089085000123"}).content.decode()
    assert "data-citizen" in html
    assert 'data-name="Nguyễn Văn An"' in html
    assert 'data-phone="0912345678"' in html
    assert "12 Trần Hưng Đạo" in html


def test_citizen_lookup_says_not_found_clearly(client, world):
    login(client, world.clerk)
    html = client.get(reverse("desk-citizen"), {"id_number": "089099999999"}).content.decode()
    assert "Không tìm thấy" in html and "data-citizen" not in html
    hint = client.get(reverse("desk-citizen"), {"id_number": "0890"}).content.decode()
    assert "Nhập đủ 12 chữ số" in hint
    passport = client.get(reverse("desk-citizen"),
                          {"id_number": "089085000123", "id_type": "passport"}).content.decode()
    assert "data-citizen" not in passport


def test_desk_shows_the_appointment_before_confirming(client, world, frozen):
    login(client, world.clerk)
    html = client.get(reverse("desk-appointment"),
                      {"procedure": NOTARY_CODE, "channel": "in_person"}).content.decode()
    # Monday 24/11/2025 09:00 + 10 working days = Monday 08/12/2025 09:00.
    assert "09:00" in html and "Thứ Hai, 08/12/2025" in html
    assert "10 ngày làm việc" in html
    frozen.move_to(datetime(2025, 11, 24, 18, 0, tzinfo=TZ))
    login(client, world.clerk)  # the session of the morning has expired
    late = client.get(reverse("desk-appointment"),
                      {"procedure": EXTRACT_CODE, "channel": "in_person"}).content.decode()
    assert "nhận ngoài giờ" in late
    # The clock starts on Tuesday 07:30; 3 working days end on Thursday at closing time.
    assert "17:00" in late and "Thứ Năm, 27/11/2025" in late


def test_desk_receives_a_complete_dossier_with_scans(client, world, media):
    login(client, world.clerk)
    data = desk_post(world, attachments=[pdf_file("don.pdf"), pdf_file("quyet-dinh.pdf")])
    response = client.post(reverse("desk"), data, **htmx())
    assert response.status_code == 200
    dossier = Dossier.objects.get()
    assert response["HX-Redirect"] == reverse("dossier-page", args=[dossier.code]) + "?tiep-nhan=1"
    assert dossier.state == State.RECEIVED
    assert dossier.applicant_name == "Nguyễn Văn An"
    assert sorted(dossier.attachments.values_list("original_name", flat=True)) == [
        "don.pdf", "quyet-dinh.pdf"]
    assert dossier.documents.filter(received=True).count() == 3
    page = client.get(response["HX-Redirect"]).content.decode()
    assert "In giấy tiếp nhận (Mẫu 01)" in page
    assert reverse("dossier-document", args=[dossier.code, "receipt"]) in page


def test_desk_without_htmx_redirects_to_the_dossier(client, world):
    login(client, world.clerk)
    response = client.post(reverse("desk"), desk_post(world, channel="post"))
    dossier = Dossier.objects.get()
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("dossier-page", args=[dossier.code]))
    assert dossier.channel == "post"


def test_incomplete_dossier_is_not_received_and_everything_missing_is_listed(client, world):
    login(client, world.clerk)
    data = desk_post(world, documents=["Đơn đề nghị đăng ký hoạt động (Mẫu TP-CC-08)"])
    response = client.post(reverse("desk"), data, **htmx())
    assert response.status_code == 200
    html = response.content.decode()
    assert not Dossier.objects.exists()
    assert "Hồ sơ chưa đủ thành phần — chưa tiếp nhận." in html
    assert "Quyết định cho phép thành lập Văn phòng công chứng" in html
    assert "Giấy tờ chứng minh về trụ sở của Văn phòng công chứng" in html
    assert "Giấy ủy quyền" not in html  # optional: not missing
    assert reverse("desk-supplement-slip") in html
    assert "HX-Redirect" not in response


def test_errors_come_next_to_fields_and_nothing_typed_is_lost(client, world):
    login(client, world.clerk)
    data = desk_post(world, applicant={**AN, "phone": "12345", "name": "  "})
    # htmx: only the feedback and the error slots are sent back
    html = client.post(reverse("desk"), data, **htmx()).content.decode()
    assert 'id="err-applicant-phone" hx-swap-oob="true">Số điện thoại di động không hợp lệ' in html
    assert 'id="err-applicant-name" hx-swap-oob="true">Vui lòng nhập họ và tên người nộp' in html
    assert 'id="f-applicant-phone"' not in html  # the inputs stay as typed in the page
    # without htmx: the whole page, with what was typed and what was ticked
    response = client.post(reverse("desk"), data)
    page = response.content.decode()
    assert response.status_code == 400
    assert 'value="12345"' in page and 'value="089085000123"' in page
    assert "Số điện thoại di động không hợp lệ" in page
    for doc in world.notary.documents.filter(is_mandatory=True):
        assert f'name="doc-{doc.pk}" id="doc-{doc.pk}" checked' in page
    assert not Dossier.objects.exists()


def test_bad_upload_is_refused_in_vietnamese_and_nothing_is_stored(client, world, media):
    login(client, world.clerk)
    fake = SimpleUploadedFile("virus.pdf", b"MZ\x90\x00 not a pdf", content_type="application/pdf")
    html = client.post(reverse("desk"), desk_post(world, attachments=[fake]), **htmx()).content.decode()
    assert 'id="err-attachments" hx-swap-oob="true">Tệp “virus.pdf” không đúng định dạng' in html
    assert not Dossier.objects.exists()
    assert not Attachment.objects.exists()


def test_desk_without_a_procedure_asks_for_one(client, world):
    login(client, world.clerk)
    data = desk_post(world)
    data["procedure"] = ""
    html = client.post(reverse("desk"), data, **htmx()).content.decode()
    assert "Vui lòng chọn thủ tục hành chính." in html


def test_supplement_slip_lists_every_missing_document(client, world):
    login(client, world.clerk)
    data = desk_post(world, documents=[])
    response = client.post(reverse("desk-supplement-slip"), data)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert not Dossier.objects.exists()
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-", "-"], input=response.content,
                              capture_output=True, check=True).stdout.decode()
        flat = " ".join(text.split())
        assert "Quyết định cho phép thành lập Văn phòng công chứng" in flat
        assert "Giấy tờ chứng minh về trụ sở" in flat
        assert "Nguyễn Văn An" in flat
    complete = client.post(reverse("desk-supplement-slip"), desk_post(world))
    assert complete.status_code == 400
    assert "không cần lập phiếu" in complete.content.decode()


def birth_registration() -> ProcedureData:
    """Commune level, no agency: every UBND xã, phường, đặc khu receives it."""
    return ProcedureData(
        code="1.001193.000.00.00.H01", name="Thủ tục đăng ký khai sinh", field_code="HOTICH",
        field_name="Hộ tịch", level="commune", time_limit_amount=Decimal(1),
        time_limit_unit="working_days", documents=[DocumentData(name="Giấy chứng sinh")],
        steps=_steps(
            ("Tiếp nhận hồ sơ", "MC", Role.CLERK, 1),
            ("Thẩm định", "VHXH", Role.OFFICER, 5),
            ("Ký Giấy khai sinh", "LD", Role.LEADER, 2),
        ),
    )


def test_commune_desk_receives_for_its_commune_and_the_center_chooses(client, world):
    procedure_create(data=birth_registration(), actor=None)
    long_xuyen = _user("motcua_lx", "Ngô Thị Yến", ("000.20.01.H01", "MC", Role.CLERK))
    center = _user("trungtam", "Mai Văn Tài", ("000.00.01.H01", "QT", Role.CLERK))
    login(client, long_xuyen)
    panel = client.get(reverse("desk-procedure", args=["1.001193.000.00.00.H01"])).content.decode()
    assert panel.count("<option value=") == 1 and "Ủy ban nhân dân phường Long Xuyên" in panel
    html = client.get(reverse("desk-procedures"), {"procedure_q": "khai sinh"}).content.decode()
    assert "Thủ tục đăng ký khai sinh" in html
    version = Procedure.objects.get(code="1.001193.000.00.00.H01").current_version
    response = client.post(reverse("desk"), desk_post(world, version=version,
                                                      agency="000.20.01.H01"), **htmx())
    assert response.status_code == 200 and "HX-Redirect" in response
    assert Dossier.objects.get().code.startswith("000.20.01.H01-")
    login(client, center)
    panel = client.get(reverse("desk-procedure", args=["1.001193.000.00.00.H01"])).content.decode()
    assert "— Chọn UBND xã, phường, đặc khu —" in panel and "Ủy ban nhân dân đặc khu Phú Quốc" in panel
    html = client.post(reverse("desk"), desk_post(world, version=version), **htmx()).content.decode()
    assert 'id="err-agency" hx-swap-oob="true">Vui lòng chọn cơ quan tiếp nhận' in html
    assert Dossier.objects.count() == 1


# ---------------------------------------------------------------------------------------------
# Queues
# ---------------------------------------------------------------------------------------------


def test_queue_sorts_by_deadline_and_flags_overdue_and_due_soon_rows(client, world):
    import time_machine

    with time_machine.travel(datetime(2025, 11, 17, 9, 0, tzinfo=TZ), tick=False):
        overdue = at_officer(world, version=world.extract, applicant=NGOC)  # due Thu 20/11
    with time_machine.travel(datetime(2025, 11, 19, 9, 0, tzinfo=TZ), tick=False):
        soon = at_officer(world, version=world.extract)  # due Mon 24/11 09:00
    with time_machine.travel(MONDAY_9 - timedelta(hours=2), tick=False):
        fine = at_officer(world)  # 10 working days
    with time_machine.travel(datetime(2025, 11, 21, 16, 0, tzinfo=TZ), tick=False):
        login(client, world.officer)
        html = client.get(reverse("dossier-queue")).content.decode()
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("<tr ")[1:]
    assert [r.split('class="code-link"')[1].split(">")[1].split("<")[0] for r in rows] == [
        overdue.code, soon.code, fine.code]
    assert 'class="row-late"' in rows[0] and "Quá hạn" in rows[0]
    assert 'class="row-soon"' in rows[1] and "Sắp đến hạn" in rows[1]
    assert 'class=""' in rows[2] and "Trong hạn" in rows[2]
    with time_machine.travel(datetime(2025, 11, 21, 16, 0, tzinfo=TZ), tick=False):
        newest = client.get(reverse("dossier-queue"), {"sort": "newest"}).content.decode()
        late_only = client.get(reverse("dossier-queue"), {"due": "overdue"}).content.decode()
        soon_only = client.get(reverse("dossier-queue"), {"due": "soon"}).content.decode()
    assert newest.index(fine.code) < newest.index(soon.code) < newest.index(overdue.code)
    assert overdue.code in late_only and soon.code not in late_only and fine.code not in late_only
    assert soon.code in soon_only and overdue.code not in soon_only and fine.code not in soon_only


def test_queue_filters_by_state_procedure_and_search(client, world):
    first = at_officer(world)
    second = at_officer(world, applicant=NGOC, version=world.extract)
    login(client, world.clerk)
    received = receive(world, applicant={**NGOC, "name": "Hoàng Thị Thu"})
    html = client.get(reverse("dossier-queue"), {"state": "received"}).content.decode()
    assert received.code in html and first.code not in html
    login(client, world.officer)
    queue = reverse("dossier-queue")
    html = client.get(queue, {"q": "tran thi bich ngoc"}).content.decode()  # no diacritics
    assert second.code in html and first.code not in html
    html = client.get(queue, {"q": "0912 345 678"}).content.decode()  # the phone as typed
    assert first.code in html and second.code not in html
    html = client.get(queue, {"q": "089190004567"}).content.decode()  # the ID number
    assert second.code in html and first.code not in html
    html = client.get(queue, {"q": first.code}).content.decode()
    assert first.code in html and second.code not in html
    html = client.get(queue, {"procedure": EXTRACT_CODE}).content.decode()
    assert second.code in html and first.code not in html
    partial = client.get(queue, {"q": "an"}, **htmx(HTTP_HX_TARGET="dossier-results"))
    assert "<html" not in partial.content.decode() and first.code in partial.content.decode()


@pytest.mark.parametrize("rows", [3, 30])
def test_queue_query_count_does_not_grow_with_rows(client, world, rows,
                                                    django_assert_max_num_queries):
    for i in range(rows):
        at_officer(world, applicant={**AN, "name": f"Người nộp số {i}"})
    for user in (world.officer, world.leader, world.clerk):
        login(client, user)
        client.get(reverse("dossier-queue"))  # warm the calendar's cache
        with django_assert_max_num_queries(10):
            response = client.get(reverse("dossier-queue"))
        assert response.status_code == 200
    login(client, world.officer)
    with django_assert_max_num_queries(10):
        response = client.get(reverse("dossier-queue"))
    assert response.content.decode().count('class="code-link"') == min(rows, 25)
    if rows > 25:
        second = client.get(reverse("dossier-queue"), {"page": 2}).content.decode()
        assert second.count('class="code-link"') == rows - 25
        assert "Trang 2/2" in second


@pytest.mark.parametrize("rows", [2, 30])
def test_search_and_export_query_counts_do_not_grow_with_rows(client, world, rows,
                                                               django_assert_max_num_queries):
    for i in range(rows):
        receive(world, applicant={**AN, "name": f"Người nộp {i}"})
    login(client, world.leader)
    client.get(reverse("dossier-search"))
    with django_assert_max_num_queries(8):
        assert client.get(reverse("dossier-search")).status_code == 200
    with django_assert_max_num_queries(8):
        assert client.get(reverse("dossier-search-export")).status_code == 200


def test_leader_assigns_several_dossiers_to_an_officer(client, world):
    first, second = at_officer(world), at_officer(world, applicant=NGOC)
    login(client, world.leader)
    html = client.get(reverse("dossier-queue"), {"tab": "phan-cong"}).content.decode()
    assert first.code in html and second.code in html
    assert "Đỗ Thị Hoa — Phòng Hành chính tư pháp" in html
    response = client.post(reverse("dossier-bulk"), {
        "action": "assign", "officer": str(world.officer2.pk),
        "pick": [f"{first.code}@{first.version}", f"{second.code}@{second.version}"],
        "next": reverse("dossier-queue") + "?tab=phan-cong",
    })
    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.current_handler == world.officer2 and second.current_handler == world.officer2
    html = client.get(response["Location"]).content.decode()
    assert "Phân công cho chuyên viên: 2 thành công, 0 không thực hiện được" in html
    # only the assigned officer sees them now
    login(client, world.officer)
    assert first.code not in client.get(reverse("dossier-queue")).content.decode()


def test_bulk_forward_reports_success_and_failure_row_by_row(client, world):
    fresh = at_officer(world)
    stale = at_officer(world, applicant=NGOC)
    last_step = act(at_officer(world, applicant={**AN, "name": "Lý Thị Mỹ"}), "forward", world.officer)
    moved_meanwhile = act(stale, "forward", world.officer)  # someone acted after the page loaded
    login(client, world.officer)
    response = client.post(reverse("dossier-bulk"), {
        "action": "forward",
        "pick": [f"{fresh.code}@{fresh.version}", f"{stale.code}@{stale.version}",
                 f"{last_step.code}@{last_step.version}", "000.00.99.H01-251124-0001@1"],
        "next": reverse("dossier-queue"),
    })
    html = client.get(response["Location"]).content.decode()
    assert "Chuyển bước tiếp theo: 1 thành công, 3 không thực hiện được" in html
    fresh.refresh_from_db()
    assert fresh.current_step.name == "Dự thảo kết quả"
    result = html.split('class="card bulk-result')[1].split("</section>")[0]
    assert "Hồ sơ vừa được người khác thay đổi" in result  # stale version: 409 for that row
    assert "bước phê duyệt" in result  # last officer step: forward not allowed
    assert "Không tìm thấy hồ sơ." in result
    assert moved_meanwhile.version + 0 == Dossier.objects.get(pk=stale.pk).version


def test_clerk_hands_several_received_dossiers_over_at_once(client, world):
    first, second = receive(world), receive(world, applicant=NGOC)
    login(client, world.clerk)
    html = client.get(reverse("dossier-queue"), {"state": "received"}).content.decode()
    assert '<option value="start">Chuyển xử lý</option>' in html
    assert '<option value="approve">' not in html  # a clerk does not approve
    response = client.post(reverse("dossier-bulk"), {
        "action": "start", "pick": [f"{first.code}@{first.version}", f"{second.code}@{second.version}"],
        "next": reverse("dossier-queue") + "?state=received",
    })
    html = client.get(response["Location"]).content.decode()
    assert "Chuyển xử lý: 2 thành công, 0 không thực hiện được" in html
    assert set(Dossier.objects.values_list("state", flat=True)) == {State.IN_PROGRESS}
    evil = client.post(reverse("dossier-bulk"), {
        "action": "start", "pick": [first.code], "next": "https://example.com/"})
    assert evil["Location"] == reverse("dossier-queue")


def test_leader_bulk_approves(client, world):
    first, second = awaiting_approval(world), awaiting_approval(world, applicant=NGOC)
    login(client, world.leader)
    response = client.post(reverse("dossier-bulk"), {
        "action": "approve", "pick": [f"{first.code}@{first.version}", f"{second.code}@{second.version}"],
    })
    assert response.status_code == 302
    assert set(Dossier.objects.values_list("state", flat=True)) == {State.RESULT_READY}
    # an officer has no approve action: refused whole, nothing done
    officer_try = login(client, world.officer).post(reverse("dossier-bulk"), {
        "action": "approve", "pick": [f"{first.code}@{first.version}"]})
    assert officer_try.status_code == 302
    assert "Vui lòng chọn thao tác." in client.get(officer_try["Location"]).content.decode()


def test_xlsx_export_has_the_filtered_rows(client, world):
    from openpyxl import load_workbook

    first = at_officer(world)
    second = at_officer(world, applicant=NGOC, version=world.extract)
    login(client, world.officer)
    response = client.get(reverse("dossier-queue-export"))
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert "ho-so-can-xu-ly" in response["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][:5] == ("STT", "Mã hồ sơ", "Thủ tục", "Mã thủ tục", "Người nộp")
    codes = [row[1] for row in rows[2:]]
    assert sorted(codes) == sorted([first.code, second.code])
    filtered = client.get(reverse("dossier-queue-export"), {"procedure": EXTRACT_CODE})
    rows = list(load_workbook(io.BytesIO(filtered.content)).active.iter_rows(values_only=True))
    assert [row[1] for row in rows[2:]] == [second.code]
    assert rows[2][4] == "Trần Thị Bích Ngọc" and rows[2][8] == "Đang xử lý"
    assert isinstance(rows[2][9], datetime)


# ---------------------------------------------------------------------------------------------
# The dossier page
# ---------------------------------------------------------------------------------------------


def test_dossier_page_shows_header_steps_timeline_and_actions(client, world, frozen):
    dossier = at_officer(world)
    login(client, world.officer)
    response = client.get(reverse("dossier-page", args=[dossier.code]))
    html = response.content.decode()
    assert dossier.code in html and "Đang xử lý" in html
    assert "Thủ tục đăng ký hoạt động Văn phòng công chứng" in html
    assert "09:00 Thứ Hai, 08/12/2025" in html  # the appointment
    assert "còn 10 ngày" in html  # time left in working hours
    assert "Thẩm định hồ sơ" in html and "Phê duyệt, ký kết quả" in html  # steps
    assert "Chuyển xử lý" in html  # the timeline: the clerk's hand-over
    # actions = dossier_available_transitions, each carrying the version
    assert reverse("dossier-act", args=[dossier.code, "forward"]) in html
    assert reverse("dossier-act", args=[dossier.code, "request_supplement"]) in html
    assert reverse("dossier-act", args=[dossier.code, "approve"]) not in html
    assert f'name="forward-expected_version" value="{dossier.version}"' in html
    assert reverse("dossier-document", args=[dossier.code, "receipt"]) in html
    assert reverse("dossier-document", args=[dossier.code, "control-sheet"]) in html
    assert reverse("dossier-document", args=[dossier.code, "refusal"]) not in html


def test_dossier_page_query_count_is_bounded(client, world, django_assert_max_num_queries,
                                            monkeypatch):
    from motcua import calendar

    # The calendar asks its change stamp at most every 2 s of real time: hold that clock still
    # so that a slow machine does not add the stamp's read to the count.
    still = calendar._monotonic()
    monkeypatch.setattr(calendar, "_monotonic", lambda: still)
    dossier = awaiting_approval(world)
    login(client, world.leader)
    client.get(reverse("dossier-page", args=[dossier.code]))
    with django_assert_max_num_queries(12):
        assert client.get(reverse("dossier-page", args=[dossier.code])).status_code == 200


def test_forward_from_the_page_then_the_leader_approves(client, world):
    dossier = at_officer(world)
    login(client, world.officer)
    url = reverse("dossier-act", args=[dossier.code, "forward"])
    response = client.post(url, {"forward-expected_version": dossier.version,
                                 "forward-comment": "Hồ sơ hợp lệ"})
    assert response.status_code == 302
    dossier.refresh_from_db()
    response = client.post(reverse("dossier-act", args=[dossier.code, "submit_for_approval"]), {
        "submit_for_approval-expected_version": dossier.version,
        "submit_for_approval-result_text": "Cấp Giấy đăng ký hoạt động",
    })
    dossier.refresh_from_db()
    assert dossier.state == State.AWAITING_APPROVAL
    assert dossier.result_text == "Cấp Giấy đăng ký hoạt động"
    login(client, world.leader)
    page = client.get(reverse("dossier-page", args=[dossier.code])).content.decode()
    # the leader reads the draft, and finds it in the approval form to sign or amend
    assert "Dự thảo kết quả" in page
    assert 'name="approve-result_text"' in page and "Cấp Giấy đăng ký hoạt động</textarea>" in page
    client.post(reverse("dossier-act", args=[dossier.code, "approve"]),
                {"approve-expected_version": dossier.version})
    dossier.refresh_from_db()
    assert dossier.state == State.RESULT_READY
    html = client.get(reverse("dossier-page", args=[dossier.code])).content.decode()
    assert "Phê duyệt: đã thực hiện với hồ sơ" in html


def test_a_concurrent_change_is_refused_with_a_clear_message(client, world):
    dossier = at_officer(world)
    seen = dossier.version
    act(dossier, "request_supplement", world.officer2, missing_documents=["Bản sao điều lệ"])
    login(client, world.officer)
    response = client.post(reverse("dossier-act", args=[dossier.code, "forward"]), {
        "forward-expected_version": seen, "forward-comment": "Đủ điều kiện, chuyển dự thảo",
    })
    assert response.status_code == 409
    html = response.content.decode()
    assert "Hồ sơ vừa được người khác thay đổi" in html
    assert "Đủ điều kiện, chuyển dự thảo" in html  # what was typed is shown, not lost
    dossier.refresh_from_db()
    assert dossier.state == State.SUPPLEMENT_REQUESTED


def test_concurrent_change_keeps_the_form_with_the_new_version(client, world):
    dossier = at_officer(world)
    seen = dossier.version
    from dossiers.services import dossier_assign

    dossier = dossier_assign(dossier=dossier, officer=world.officer, actor=world.leader)
    login(client, world.officer)
    response = client.post(reverse("dossier-act", args=[dossier.code, "forward"]), {
        "forward-expected_version": seen, "forward-comment": "Ý kiến thẩm định",
    })
    assert response.status_code == 409
    html = response.content.decode()
    assert f'name="forward-expected_version" value="{dossier.version}"' in html
    assert "Ý kiến thẩm định</textarea>" in html


def test_refusing_an_online_submission_needs_reasons(client, world):
    submitted = dossier_submit_online(procedure_version=world.notary, applicant=NGOC)
    login(client, world.clerk)
    url = reverse("dossier-act", args=[submitted.code, "refuse"])
    response = client.post(url, {"refuse-expected_version": submitted.version})
    assert response.status_code == 400
    assert "This field is required" not in response.content.decode()
    assert "Trường này là bắt buộc" in response.content.decode() or "bắt buộc" in response.content.decode()
    response = client.post(url, {"refuse-expected_version": submitted.version,
                                 "refuse-reasons": "Không thuộc thẩm quyền\nThiếu chữ ký"})
    assert response.status_code == 302
    submitted.refresh_from_db()
    assert submitted.state == State.REFUSED
    html = client.get(reverse("dossier-page", args=[submitted.code])).content.decode()
    assert reverse("dossier-document", args=[submitted.code, "refusal"]) in html
    assert "Không thuộc thẩm quyền; Thiếu chữ ký" in html


def test_clerk_receives_an_online_submission_after_checking_papers(client, world):
    submitted = dossier_submit_online(procedure_version=world.notary, applicant=NGOC)
    login(client, world.clerk)
    html = client.get(reverse("dossier-queue"), {"state": "submitted"}).content.decode()
    assert submitted.code in html
    page = client.get(reverse("dossier-page", args=[submitted.code])).content.decode()
    docs = list(world.notary.documents.all())
    assert f'name="receive-doc-{docs[0].pk}"' in page
    data = {"receive-expected_version": submitted.version}
    data[f"receive-doc-{docs[0].pk}"] = "on"
    response = client.post(reverse("dossier-act", args=[submitted.code, "receive"]), data)
    assert response.status_code == 400  # incomplete: not received
    assert "Hồ sơ chưa đủ thành phần" in response.content.decode()
    for doc in docs[:3]:
        data[f"receive-doc-{doc.pk}"] = "on"
    response = client.post(reverse("dossier-act", args=[submitted.code, "receive"]), data)
    submitted.refresh_from_db()
    assert submitted.state == State.RECEIVED
    assert response["Location"] == reverse("dossier-page", args=[submitted.code])
    assert submitted.code.startswith(SO_TU_PHAP)


def test_clerk_records_a_supplement_with_its_scan(client, world, media):
    dossier = act(at_officer(world), "request_supplement", world.officer,
                  missing_documents=["Bản sao điều lệ", "Danh sách công chứng viên"])
    login(client, world.clerk)
    page = client.get(reverse("dossier-page", args=[dossier.code])).content.decode()
    assert "Đang chờ bổ sung" in page and "Danh sách công chứng viên" in page
    response = client.post(reverse("dossier-act", args=[dossier.code, "supplement"]), {
        "supplement-expected_version": dossier.version,
        "supplement-documents_pick": ["Bản sao điều lệ", "Danh sách công chứng viên"],
        "supplement-files": [pdf_file("bo-sung.pdf")],
    })
    assert response.status_code == 302
    dossier.refresh_from_db()
    assert dossier.state == State.IN_PROGRESS
    scan = dossier.attachments.get()
    assert scan.kind == Attachment.Kind.SUPPLEMENT and scan.original_name == "bo-sung.pdf"
    event = dossier.events.filter(transition="supplement").get()
    assert event.data["documents"] == ["Bản sao điều lệ", "Danh sách công chứng viên"]


def test_leader_stops_processing_and_the_notice_is_offered(client, world):
    dossier = at_officer(world)
    login(client, world.leader)
    page = client.get(reverse("dossier-page", args=[dossier.code])).content.decode()
    assert reverse("dossier-act", args=[dossier.code, "stop"]) in page
    response = client.post(reverse("dossier-act", args=[dossier.code, "stop"]), {
        "stop-expected_version": dossier.version,
        "stop-legal_basis": "Khoản 3 Điều 20 Nghị định 118/2025/NĐ-CP",
    })
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert "Dừng xử lý" in html
    assert reverse("dossier-document", args=[dossier.code, "stop-notice"]) in html


def test_clerk_hands_back_the_result_and_the_citizen_can_withdraw(client, world):
    ready = act(awaiting_approval(world), "approve", world.leader)
    login(client, world.clerk)
    html = client.get(reverse("dossier-queue"), {"state": "result_ready"}).content.decode()
    assert ready.code in html
    client.post(reverse("dossier-act", args=[ready.code, "return_result"]),
                {"return_result-expected_version": ready.version})
    ready.refresh_from_db()
    assert ready.state == State.RETURNED
    other = receive(world, applicant=NGOC)
    client.post(reverse("dossier-act", args=[other.code, "withdraw"]), {
        "withdraw-expected_version": other.version, "withdraw-reason": "Công dân xin rút để bổ sung",
    })
    other.refresh_from_db()
    assert other.state == State.WITHDRAWN


def test_attachments_open_for_staff_not_for_supervisors(client, world, media):
    dossier = receive(world, attachments=[pdf_file("don.pdf")])
    scan = dossier.attachments.get()
    url = reverse("dossier-file", args=[dossier.code, scan.pk])
    login(client, world.officer)
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert b"".join(response.streaming_content) == PDF_BYTES
    assert "sandbox" in response["Content-Security-Policy"]
    login(client, world.supervisor)
    page = client.get(reverse("dossier-page", args=[dossier.code])).content.decode()
    assert "don.pdf" in page and url not in page
    assert client.get(url).status_code == 404
    login(client, world.officer_b)
    assert client.get(url).status_code == 404


def test_clerk_attaches_a_scan_later(client, world, media):
    dossier = receive(world)
    login(client, world.clerk)
    response = client.post(reverse("dossier-attach", args=[dossier.code]), {
        "kind": "scan", "files": [pdf_file("to-khai.pdf")],
    })
    assert response.status_code == 302
    assert dossier.attachments.get().original_name == "to-khai.pdf"
    bad = client.post(reverse("dossier-attach", args=[dossier.code]), {
        "kind": "scan", "files": [SimpleUploadedFile("a.exe", b"MZ\x90\x00")],
    })
    assert bad.status_code == 400
    assert "không đúng định dạng" in bad.content.decode()


def test_script_in_a_name_is_escaped_everywhere(client, world):
    dossier = at_officer(world, applicant={**AN, "name": "<script>alert(1)</script> An"})
    login(client, world.officer)
    for url in (reverse("dossier-queue"), reverse("dossier-page", args=[dossier.code]),
                reverse("dossier-search")):
        html = client.get(url).content.decode()
        assert "<script>alert(1)</script>" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt; An" in html

