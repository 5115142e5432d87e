"""Public tracking by code + phone: the page /tra-cuu/ and GET /api/public/track/{code}/ —
what the citizen sees in each state, what he never sees, one answer for every wrong guess,
throttling, lock-out, bad input and the number of queries."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import re
import time
from dataclasses import fields

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import NoReverseMatch, reverse

from dossiers.public import tracking as tracking_module
from dossiers.public.tracking import Tracking, rate_url, tracking_by_proof
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    act,
    dossier_in,
    org,
    receive,
    submit_online,
    version,
)

pytestmark = pytest.mark.django_db

PHONE = APPLICANT["phone"]
WRONG_PHONE = "0987000111"
PAGE = "/tra-cuu/"
OFFICER_NAME = ("Bình", "Trần Văn")
INTERNAL = "Ghi chú nội bộ: hồ sơ của người quen"


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    settings.PUBLIC_PROOF_MAX_FAILURES = 5
    settings.PUBLIC_PROOF_TARGET_MAX_FAILURES = 10
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "public_track": "1000/min",
        },
    }
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def named_officer(org):
    org.officer.first_name, org.officer.last_name = OFFICER_NAME
    org.officer.save(update_fields=["first_name", "last_name"])
    return org.officer


def api(client, code, phone=PHONE, **extra):
    query = {} if phone is None else {"phone": phone}
    return client.get(f"/api/public/track/{code}/", query, **extra)


def post(client, code, phone=PHONE, **extra):
    return client.post(PAGE, {"code": code, "phone": phone}, **extra)


def text(response) -> str:
    """The page's visible text, roughly (tags removed, spaces collapsed)."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def without_token(response) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", response.content.decode())


# --- the page -----------------------------------------------------------------------------------


def test_qr_link_prefills_the_code_and_asks_for_the_phone(client, org, version):
    dossier = receive(org, version)
    response = client.get(PAGE, {"ma": dossier.code})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'value="{dossier.code}"' in html
    assert 'name="phone"' in html and 'type="tel"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'method="post"' in html
    assert response["Cache-Control"] == "no-store"
    assert 'aria-current="page"' in html and reverse("public-track") == PAGE
    # Nothing about the dossier before the phone is given.
    assert version.name not in html


def test_prefill_ignores_what_cannot_be_a_code(client, db):
    response = client.get(PAGE, {"ma": '"><script>alert(1)</script>'})
    assert response.status_code == 200
    assert "<script>alert(1)" not in response.content.decode()
    assert 'id="track-code" name="code" type="text" value=""' in response.content.decode()


def test_right_code_and_phone_show_state_appointment_and_timeline(
    client, org, version, named_officer
):
    dossier = dossier_in(org, version, "in_progress_last")
    response = post(client, dossier.code)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert not response.has_header("Location")
    page = text(response)
    assert dossier.code in page
    assert version.name in page
    assert org.a.name in page
    assert "Đang xử lý" in page
    assert "Ngày hẹn trả kết quả" in page
    assert "Hồ sơ được tiếp nhận" in page
    assert "Chuyển hồ sơ đến đơn vị giải quyết" in page
    assert "Hoàn thành bước “Thẩm định hồ sơ”" in page
    assert "Phòng chuyên môn" in page
    assert "Chưa cần làm gì" in page


def test_no_personal_data_staff_names_or_internal_comments(client, org, version, named_officer):
    dossier = receive(org, version)
    act(dossier, "start", org.clerk, comment=INTERNAL)
    dossier = act(dossier, "forward", org.officer, comment=INTERNAL)
    response = post(client, dossier.code)
    html = response.content.decode()
    assert response.status_code == 200
    for secret in (
        APPLICANT["name"], APPLICANT["id_number"], APPLICANT["email"], APPLICANT["address"],
        PHONE, "0912 345 678", "Trần Văn Bình", INTERNAL, org.officer.username,
        org.clerk.username,
    ):
        assert secret not in html, secret


def test_wrong_phone_and_wrong_code_give_the_same_answer(client, org, version):
    dossier = receive(org, version)
    wrong_phone = post(client, dossier.code, WRONG_PHONE)
    wrong_code = post(Client(), dossier.code[:-1] + "9", PHONE)
    assert wrong_phone.status_code == wrong_code.status_code == 404
    assert "Không tìm thấy hồ sơ với mã và số điện thoại này" in text(wrong_phone)
    # Same words; only what was typed (echoed back in the form to correct it) differs.
    assert without_token(wrong_phone).replace(dossier.code, "C").replace(
        WRONG_PHONE, "P"
    ) == without_token(wrong_code).replace(dossier.code[:-1] + "9", "C").replace(PHONE, "P")
    assert version.name not in wrong_phone.content.decode()


def test_bad_input_gets_clear_errors_next_to_the_fields(client, db):
    response = post(client, "<script>alert(1)</script>", "12345")
    assert response.status_code == 400
    html = response.content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;" in html  # echoed, escaped, so the citizen sees what he typed
    assert "Mã hồ sơ chỉ gồm chữ cái không dấu" in html
    assert "Số điện thoại di động không hợp lệ" in html
    assert 'aria-invalid="true"' in html and 'id="track-phone-error"' in html
    missing = post(client, "", "")
    assert missing.status_code == 400
    assert "Vui lòng nhập mã hồ sơ" in missing.content.decode()
    assert "Vui lòng nhập số điện thoại di động" in missing.content.decode()
    huge = post(client, "A" * 100_000, PHONE)
    assert huge.status_code == 400
    assert "Mã hồ sơ quá dài" in huge.content.decode()
    assert "A" * 200 not in huge.content.decode()


def test_form_needs_the_csrf_token(org, version):
    dossier = receive(org, version)
    strict = Client(enforce_csrf_checks=True)
    assert post(strict, dossier.code).status_code == 403


def test_only_get_and_post(client, db):
    assert client.put(PAGE).status_code == 405


def test_lock_out_after_five_wrong_phones_then_even_the_right_one_fails(client, org, version):
    dossier = receive(org, version)
    for n in range(5):
        assert post(client, dossier.code, f"09870002{n:02d}").status_code == 404
    locked = post(client, dossier.code)
    assert locked.status_code == 404
    assert "tạm khóa 15 phút" in text(locked)
    assert version.name not in locked.content.decode()
    # The API shares the lock-out.
    assert api(client, dossier.code).status_code == 404


def test_page_and_api_share_one_throttle_allowance(client, org, version, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "public_track": "3/min",
        },
    }
    dossier = receive(org, version)
    assert post(client, dossier.code).status_code == 200
    assert api(client, dossier.code).status_code == 200
    assert client.get(PAGE).status_code == 200  # showing the form costs nothing
    assert post(client, dossier.code).status_code == 200
    throttled = post(client, dossier.code)
    assert throttled.status_code == 429
    assert int(throttled["Retry-After"]) > 0
    assert "Bạn đã tra cứu quá nhiều lần" in text(throttled)
    assert version.name not in throttled.content.decode()
    answer = api(client, dossier.code)
    assert answer.status_code == 429
    assert answer.json()["code"] == "throttled"
    assert int(answer["Retry-After"]) > 0
    # Another address has its own allowance.
    assert post(Client(REMOTE_ADDR="10.1.2.3"), dossier.code).status_code == 200


def test_forwarded_for_does_not_buy_a_fresh_allowance(client, org, version, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "public_track": "2/min",
        },
    }
    dossier = receive(org, version)
    for n in range(2):
        assert api(client, dossier.code, HTTP_X_FORWARDED_FOR=f"1.1.1.{n}").status_code == 200
    assert api(client, dossier.code, HTTP_X_FORWARDED_FOR="1.1.1.9").status_code == 429


# --- what to do next, per state ------------------------------------------------------------------


def test_submitted_online_says_wait_for_the_desk(client, org, version):
    dossier = submit_online(org, version)
    page = text(post(client, dossier.provisional_code))
    assert "Mới đăng ký" in page
    assert "Nộp hồ sơ trực tuyến" in page
    assert "Bộ phận một cửa sẽ kiểm tra hồ sơ" in page


def test_supplement_requested_lists_the_documents_to_bring(client, org, version):
    dossier = dossier_in(org, version, "supplement_requested")
    page = text(post(client, dossier.code))
    assert "Yêu cầu bổ sung" in page
    assert "Bổ sung giấy tờ" in page
    assert "Bản sao sổ hộ khẩu" in page
    assert "Bộ phận tiếp nhận và trả kết quả" in page


def test_result_ready_says_where_to_collect_with_id(client, org, version):
    org.a.address = "15 Lê Lợi, phường Long Xuyên"
    org.a.phone = "0296 3852 000"
    org.a.save(update_fields=["address", "phone"])
    dossier = dossier_in(org, version, "result_ready")
    response = post(client, dossier.code)
    page = text(response)
    assert "Có kết quả, chờ trả" in page
    assert "Đến nhận kết quả" in page
    assert "căn cước" in page
    assert "Bộ phận một cửa" in page  # the return step's unit
    assert "15 Lê Lợi, phường Long Xuyên" in page
    assert 'href="tel:0296 3852 000"' in response.content.decode()


def test_returned_invites_a_rating_when_the_rating_page_exists(client, org, version):
    dossier = dossier_in(org, version, "returned")
    response = post(client, dossier.code)
    page = text(response)
    assert "Đã trả kết quả" in page
    assert "Đánh giá mức độ hài lòng" in page
    link = f"{reverse('public-rate')}?ma={dossier.code}&amp;nguon=tra-cuu"
    assert f'href="{link}"' in response.content.decode()


def test_rate_url_is_empty_without_the_rating_page(monkeypatch):
    def missing(name, *args, **kwargs):
        raise NoReverseMatch(name)

    monkeypatch.setattr(tracking_module, "reverse", missing)
    tracking_module._rate_path.cache_clear()
    try:
        assert rate_url("000.00.10.H01-251124-0001") == ""
    finally:
        tracking_module._rate_path.cache_clear()


def test_returned_and_rated_thanks_instead(client, org, version):
    from ratings.models import Rating

    dossier = dossier_in(org, version, "returned")
    Rating.objects.create(dossier=dossier, overall="satisfied", source="tracking")
    page = text(post(client, dossier.code))
    assert "Cảm ơn bạn đã đánh giá" in page


def test_refused_shows_the_reasons(client, org, version):
    dossier = dossier_in(org, version, "refused")
    page = text(post(client, dossier.provisional_code))
    assert "Từ chối tiếp nhận" in page
    assert "Lý do: Không thuộc thẩm quyền" in page
    assert "Hoàn thiện và nộp lại" in page


def test_stopped_shows_the_legal_basis(client, org, version):
    dossier = dossier_in(org, version, "stopped")
    page = text(post(client, dossier.code))
    assert "Dừng xử lý" in page
    assert "Căn cứ: Khoản 2 Điều 20 Nghị định 118/2025/NĐ-CP" in page


def test_apology_shows_the_reason_and_the_new_and_original_appointments(client, org, version):
    from django.utils import timezone

    from dossiers.deadlines import dossier_issue_apology

    dossier = dossier_in(org, version, "in_progress")
    original = dossier.due_at
    dossier_issue_apology(dossier=dossier, actor=org.leader, reason="Phải xác minh thêm tại địa phương")
    dossier.refresh_from_db()
    assert dossier.due_at != original
    response = post(client, dossier.code)
    page = text(response)
    assert "Văn bản xin lỗi" in page
    assert "Phải xác minh thêm tại địa phương" in page
    assert "hẹn ban đầu:" in page
    assert timezone.localtime(original).strftime("%d/%m/%Y") in page
    assert timezone.localtime(dossier.due_at).strftime("%H:%M %d/%m/%Y") in page


def test_fees_of_the_procedure_are_listed(client, org, version):
    from procedures.models import FeeLine

    FeeLine.objects.create(version=version, position=1, name="Lệ phí cấp giấy phép", amount_vnd=1_500_000)
    FeeLine.objects.create(version=version, position=2, name="Phí thẩm định", amount_vnd=None)
    dossier = receive(org, version)
    page = text(post(client, dossier.code))
    assert "Phí, lệ phí" in page
    assert "Lệ phí cấp giấy phép" in page and "1.500.000 đồng" in page
    assert "Theo quy định" in page


# --- the API ------------------------------------------------------------------------------------


def test_api_gives_the_tracking_without_personal_data(client, org, version, named_officer):
    dossier = dossier_in(org, version, "supplement_requested")
    response = api(client, dossier.code)
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert set(body) == {f.name for f in fields(Tracking)}  # nothing left out, nothing more
    assert body["code"] == dossier.code
    assert body["state"] == "supplement_requested"
    assert body["state_label"] == "Yêu cầu bổ sung"
    assert body["procedure_name"] == version.name
    assert body["due_at"].endswith("+07:00")
    assert body["next_step"]["kind"] == "supplement"
    assert "Bản sao sổ hộ khẩu" in body["next_step"]["items"]
    assert [item["event"] for item in body["timeline"]] == [
        "receive", "start", "request_supplement",
    ]
    raw = response.content.decode()
    for secret in (APPLICANT["name"], APPLICANT["id_number"], APPLICANT["email"],
                   APPLICANT["address"], PHONE, "Trần Văn", "officer_a"):
        assert secret not in raw, secret


def test_api_wrong_code_and_wrong_phone_are_the_same_404(client, org, version):
    dossier = receive(org, version)
    wrong_phone = api(client, dossier.code, WRONG_PHONE)
    wrong_code = api(client, dossier.code[:-1] + "9")
    assert wrong_phone.status_code == wrong_code.status_code == 404
    assert wrong_phone.json() == wrong_code.json()
    assert wrong_phone.json()["code"] == "not_found"


def test_api_bad_input_is_400_with_a_stable_code(client, db):
    missing = api(client, "000.00.10.H01-251124-0001", phone=None)
    assert missing.status_code == 400
    assert missing.json()["code"] == "invalid_phone"
    assert "Vui lòng nhập số điện thoại" in missing.json()["errors"]["phone"][0]
    malformed = api(client, "%3Cscript%3E", PHONE)
    assert malformed.status_code == 400
    assert malformed.json()["code"] == "invalid_code"
    assert b"<script>" not in malformed.content
    huge = api(client, "A" * 5000, PHONE)
    assert huge.status_code == 400


def test_api_needs_no_login_and_ignores_a_staff_session(client, org, version):
    dossier = receive(org, version)
    client.force_login(org.clerk)
    assert api(client, dossier.code, WRONG_PHONE).status_code == 404
    assert api(client, dossier.code).status_code == 200


def test_api_is_in_the_openapi_schema(client, db):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"/api/public/track/{code}/" in schema.content


# --- queries ------------------------------------------------------------------------------------


def test_one_query_whatever_the_history(
    client, org, version, django_assert_num_queries, django_assert_max_num_queries
):
    from dossiers.deadlines import dossier_issue_apology
    from procedures.models import FeeLine

    FeeLine.objects.create(version=version, position=1, name="Lệ phí", amount_vnd=50_000)
    short = receive(org, version)
    long = dossier_in(org, version, "in_progress")
    dossier_issue_apology(dossier=long, actor=org.leader, reason="Chờ xác minh")
    for transition in ("forward", "submit_for_approval", "approve", "return_result"):
        actor = {"approve": org.leader, "return_result": org.clerk}.get(transition, org.officer)
        long = act(long, transition, actor)
    tracking_by_proof(code=short.code, phone=PHONE, ip="10.0.0.9")  # prepares the statement
    for dossier in (short, long):
        with django_assert_num_queries(1):
            assert tracking_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.1") is not None
        with django_assert_max_num_queries(1):
            assert post(client, dossier.code).status_code == 200
        with django_assert_max_num_queries(1):
            assert api(client, dossier.code).status_code == 200


def test_the_portable_loader_reads_the_same_as_the_postgresql_one(org, version):
    """The SQLite demo reads through the ORM; PostgreSQL through one prepared statement."""
    from dossiers.deadlines import dossier_issue_apology
    from dossiers.public.tracking import _load, _load_portable
    from procedures.models import FeeLine
    from ratings.models import Rating

    FeeLine.objects.create(version=version, position=1, name="Lệ phí", amount_vnd=50_000)
    FeeLine.objects.create(version=version, position=2, name="Phí khác", amount_vnd=None)
    dossier = dossier_in(org, version, "supplement_requested")
    dossier = act(dossier, "supplement", org.clerk)
    dossier_issue_apology(dossier=dossier, actor=org.leader, reason="Chờ xác minh")
    for transition, actor in (("forward", org.officer), ("submit_for_approval", org.officer),
                              ("approve", org.leader), ("return_result", org.clerk)):
        dossier = act(dossier, transition, actor)
    Rating.objects.create(dossier=dossier, overall="satisfied", source="tracking")
    for code in (dossier.code, dossier_in(org, version, "result_ready").code):
        fast, portable = _load(code, PHONE), _load_portable(code, PHONE)
        assert fast is not None and fast == portable
    assert _load(dossier.code, WRONG_PHONE) is None and _load_portable(dossier.code, WRONG_PHONE) is None


# --- what is kept in the process ------------------------------------------------------------------
# Agencies, units and procedure versions are read by id from a store in each web process
# (dossiers.public.tracking._Reference), not joined into every query.


def test_an_agency_or_unit_edit_shows_at_once_in_the_process_that_saved_it(client, org, version):
    dossier = dossier_in(org, version, "in_progress_last")
    before = api(client, dossier.code).json()
    assert before["agency"]["agency"] == org.a.name
    org.a.name, org.a.address = "Sở Tư pháp (tên mới)", "Số 9 đường Mới"
    org.a.save()
    unit = dossier.current_step.unit
    unit.name = "Phòng Hành chính tư pháp (tên mới)"
    unit.save()
    after = api(client, dossier.code).json()
    assert after["agency"]["agency"] == "Sở Tư pháp (tên mới)"
    assert after["agency"]["address"] == "Số 9 đường Mới"
    assert after["current_unit"] == "Phòng Hành chính tư pháp (tên mới)"
    assert "Phòng Hành chính tư pháp (tên mới)" in {item["unit"] for item in after["timeline"]}


def test_an_edit_saved_by_another_process_shows_after_the_reference_period(client, org, version):
    from motcua.models import Agency

    dossier = receive(org, version)
    assert api(client, dossier.code).json()["agency"]["address"] == org.a.address
    # Another process's save sends no signal here (an update() sends none either).
    Agency.objects.filter(pk=org.a.pk).update(address="Số 1 đường Khác")
    assert api(client, dossier.code).json()["agency"]["address"] == org.a.address
    tracking_module._ref().born -= tracking_module.REFERENCE_SECONDS + 1
    assert api(client, dossier.code).json()["agency"]["address"] == "Số 1 đường Khác"


def test_an_agency_the_process_has_not_seen_yet_is_read_at_once(client, org, version):
    dossier = receive(org, version)
    reference = tracking_module._ref()
    reference.agency(org.a.pk)
    del reference.agencies[org.a.pk]  # as if created elsewhere after this process read them
    assert api(client, dossier.code).json()["agency"]["agency"] == org.a.name


def test_a_fee_line_added_to_a_version_shows_at_once(client, org, version):
    from procedures.models import FeeLine

    dossier = receive(org, version)
    assert api(client, dossier.code).json()["fees"]["lines"] == []
    FeeLine.objects.create(version=version, position=1, name="Lệ phí", amount_vnd=20_000)
    lines = api(client, dossier.code).json()["fees"]["lines"]
    assert lines == [{"name": "Lệ phí", "amount_vnd": 20_000, "amount_text": "20.000"}]


def test_labels_and_titles_follow_the_active_language(org, version):
    from django.utils import translation

    dossier = receive(org, version)
    with translation.override("vi"):
        vi = tracking_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.2")
    with translation.override("en"):
        en = tracking_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.2")
    assert vi.timeline[0].title == "Hồ sơ được tiếp nhận"
    assert en.timeline[0].title == "Dossier received"
    assert vi.state_label != en.state_label


# --- the kept database connection -----------------------------------------------------------------


def _new_request(connection) -> None:
    """What Django does between two requests on a kept connection (request_started)."""
    connection.close_if_unusable_or_obsolete()
    assert connection.connection is not None and not connection.health_check_done


@pytest.mark.django_db(transaction=True)
def test_the_lookup_is_its_own_health_check_and_survives_a_dead_connection(
    org, version, monkeypatch
):
    import psycopg2
    from django.db import connection

    dossier = receive(org, version)
    assert tracking_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.3") is not None
    checks = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or True)
    # The session's connection may be older than CONN_MAX_AGE by now (it is kept across
    # tests): that age, not the health check, would close it between the two "requests".
    monkeypatch.setattr(connection, "close_at", None)

    _new_request(connection)
    assert tracking_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.3") is not None
    assert checks == []  # no SELECT 1 round trip before the query

    _new_request(connection)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    connection.health_check_done = False
    other = psycopg2.connect(**connection.get_connection_params())
    other.autocommit = True
    with other.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        # The signal is asynchronous: wait (bounded) until the session is really gone.
        for _attempt in range(200):
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.05)
    other.close()
    found = tracking_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.3")
    assert found is not None and found.code == dossier.code
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != pid  # a new session, with the statement prepared again


def test_inside_a_transaction_the_usual_health_check_runs(org, version, monkeypatch):
    from django.db import connection

    dossier = receive(org, version)
    tracking_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.4")
    checks = []
    monkeypatch.setattr(connection, "is_usable", lambda: checks.append(1) or True)
    connection.health_check_done = False
    assert tracking_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.4") is not None
    assert checks == [1]
