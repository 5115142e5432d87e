"""Satisfaction ratings (issue 6, DOMAIN.md "Satisfaction"): the service's rules, the public
API, the citizen's page, the kiosk at the desk, the staff list and its export, the snippet of
the dossier page, the notices to the staff who handled the dossier, and the demo seed."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from rest_framework.test import APIClient

from dossiers.models import Dossier, State
from motcua.errors import ValidationError
from motcua.models import OutboxMessage, Role, StaffNotice
from motcua.outbox import outbox_deliver
from ratings.models import Level, Rating, Source
from ratings.services import DossierNotFound, rating_submit
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    PASSWORD,
    dossier_in,
    frozen,
    make_procedure,
    org,
    staff,
    version,
)
from tests.factories import UnitFactory

pytestmark = pytest.mark.django_db

PHONE = APPLICANT["phone"]
IP = "203.0.113.7"
API = "/api/public/ratings/"
GOOD = {"overall": "very_satisfied", "time": "satisfied", "attitude": "very_satisfied",
        "guidance": "dissatisfied", "publicity": "satisfied"}


@pytest.fixture(autouse=True)
def _clean_cache():
    """Throttles and the proof lock-out live in the cache: every test starts afresh."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def returned(org, version, frozen):  # noqa: F811
    return dossier_in(org, version, "returned")


def submit(dossier, **overrides):
    kwargs = {"code": dossier.code, "phone": PHONE, "answers": {"overall": "satisfied"},
              "comment": "", "source": Source.LINK, "ip": IP}
    kwargs.update(overrides)
    return rating_submit(**kwargs)


def refused_with(code: str, dossier, **overrides) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        submit(dossier, **overrides)
    assert caught.value.code == code
    return caught.value


# ---------------------------------------------------------------------------------------------
# The service: the rules
# ---------------------------------------------------------------------------------------------


def test_citizen_rates_a_returned_dossier_on_every_criterion_with_a_comment(returned):
    rating = submit(returned, answers=GOOD, comment="  Cán bộ hướng dẫn tận tình.  ",
                    source=Source.KIOSK)
    rating.refresh_from_db()
    assert rating.dossier_id == returned.pk
    assert (rating.overall, rating.time, rating.attitude, rating.guidance, rating.publicity) == (
        "very_satisfied", "satisfied", "very_satisfied", "dissatisfied", "satisfied")
    assert rating.comment == "Cán bộ hướng dẫn tận tình."
    assert rating.source == Source.KIOSK
    assert rating.has_dissatisfied


def test_only_overall_is_required_the_other_criteria_stay_blank(returned):
    rating = submit(returned, answers={"overall": "dissatisfied", "time": ""})
    assert rating.answers() == {"overall": "dissatisfied"}
    assert (rating.time, rating.attitude, rating.guidance, rating.publicity) == ("", "", "", "")


def test_a_rating_without_overall_is_refused_and_nothing_is_stored(returned):
    error = refused_with("invalid_answers", returned, answers={"time": "satisfied"})
    assert error.errors == {"overall": ["Vui lòng chọn mức độ hài lòng chung."]}
    assert not Rating.objects.exists()


@pytest.mark.parametrize("answers, slot", [
    ({"overall": "satisfied", "speed": "satisfied"}, "answers"),
    ({"overall": "happy"}, "overall"),
    ({"overall": "satisfied", "attitude": 3}, "attitude"),
    ({"overall": ["satisfied"]}, "overall"),
    ("very_satisfied", "answers"),
    (None, "answers"),
    ([["overall", "satisfied"]], "answers"),
])
def test_unknown_criteria_levels_and_shapes_are_refused(returned, answers, slot):
    error = refused_with("invalid_answers", returned, answers=answers)
    assert slot in error.errors
    assert not Rating.objects.exists()


def test_the_comment_is_trimmed_normalised_and_stripped_of_control_characters(returned):
    decomposed = "Ca\u0301n bo\u0323\u0302 nhie\u0323\u0302t ti\u0300nh"  # "Cán bộ nhiệt tình", NFD
    rating = submit(returned, comment=f"\n  {decomposed}\x00\x07 rất tốt\r\n ")
    assert rating.comment == "Cán bộ nhiệt tình rất tốt"


def test_a_comment_of_exactly_2000_characters_is_kept(returned):
    rating = submit(returned, comment="  " + "ạ" * 2000 + "  ")
    assert len(rating.comment) == 2000


def test_a_huge_comment_is_refused_with_its_length_and_nothing_is_stored(returned):
    error = refused_with("comment_too_long", returned, comment="x" * 2001)
    assert "2001" in str(error.message) and "2000" in str(error.message)
    refused_with("comment_too_long", returned, comment="y" * 1_000_000)
    refused_with("invalid_comment", returned, comment={"text": "hi"})
    assert not Rating.objects.exists()


def test_a_script_tag_in_the_comment_is_stored_as_text(returned):
    rating = submit(returned, comment="<script>alert('x')</script>")
    rating.refresh_from_db()
    assert rating.comment == "<script>alert('x')</script>"


def test_wrong_phone_and_unknown_code_give_the_same_answer(returned):
    with pytest.raises(DossierNotFound) as wrong_phone:
        submit(returned, phone="0987654321")
    with pytest.raises(DossierNotFound) as unknown_code:
        submit(returned, code="000.00.10.H01-251124-9999")
    assert wrong_phone.value.code == unknown_code.value.code == "not_found"
    assert wrong_phone.value.status == 404
    assert str(wrong_phone.value.message) == str(unknown_code.value.message)
    assert not Rating.objects.exists()


@pytest.mark.parametrize("code, phone", [
    ("", PHONE), ("   ", PHONE), ("<script>alert(1)</script>", PHONE), ("x" * 10_000, PHONE),
    (None, PHONE), (12345, PHONE), ("'; DROP TABLE ratings_rating; --", PHONE),
])
def test_malformed_codes_give_the_generic_not_found(returned, code, phone):
    with pytest.raises(DossierNotFound):
        submit(returned, code=code, phone=phone)
    assert not Rating.objects.exists()


def test_a_returned_dossier_code_in_lower_case_with_spaces_is_found(returned):
    rating = submit(returned, code=f"  {returned.code.lower()} ", phone="+84 912 345 678")
    assert rating.dossier_id == returned.pk


def test_repeated_guessing_locks_the_client_out_even_with_the_right_phone(returned):
    for _attempt in range(5):
        with pytest.raises(DossierNotFound):
            submit(returned, phone="0987654321")
    with pytest.raises(DossierNotFound):
        submit(returned)
    assert submit(returned, ip="198.51.100.20") is not None  # another client is not locked out


@pytest.mark.parametrize("state", ["received", "in_progress", "awaiting_approval", "result_ready"])
def test_a_dossier_not_yet_returned_cannot_be_rated(org, version, frozen, state):  # noqa: F811
    dossier = dossier_in(org, version, state)
    error = refused_with("not_returned", dossier)
    assert "chưa trả kết quả" in str(error.message)
    assert not Rating.objects.exists()


@pytest.mark.parametrize("state", ["refused", "withdrawn", "stopped"])
def test_a_dossier_closed_without_a_result_cannot_be_rated(org, version, frozen, state):  # noqa: F811
    dossier = dossier_in(org, version, state)
    error = refused_with("not_returned", dossier)
    assert "kết thúc mà không trả kết quả" in str(error.message)


def test_a_second_rating_is_refused_and_the_first_stays_as_it_was(returned):
    first = submit(returned, answers={"overall": "very_satisfied"}, comment="Tốt")
    error = refused_with("already_rated", returned, answers={"overall": "dissatisfied"},
                         comment="Đổi ý")
    assert "đã được đánh giá" in str(error.message)
    assert Rating.objects.count() == 1
    first.refresh_from_db()
    assert (first.overall, first.comment) == ("very_satisfied", "Tốt")


def test_the_unique_key_refuses_a_rating_that_slipped_past_the_check(returned, monkeypatch):
    """Two submits can both pass the "already rated?" read; the database's unique dossier then
    refuses the second insert, and the citizen gets ``already_rated``, not an error page."""
    from ratings import services

    first = submit(returned, answers={"overall": "very_satisfied"})
    monkeypatch.setattr(services, "rating_check", lambda **kwargs: returned)
    refused_with("already_rated", returned, answers={"overall": "dissatisfied"})
    assert list(Rating.objects.values_list("pk", "overall")) == [(first.pk, "very_satisfied")]
    assert not OutboxMessage.objects.filter(topic="rated").exclude(
        key__startswith=f"rating:{first.pk}:").exists()


def test_an_unknown_source_is_refused(returned):
    refused_with("invalid_source", returned, source="phone-call")


def test_the_database_refuses_a_level_outside_the_scale(returned):
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(dossier=returned, overall="ecstatic", source=Source.LINK)
    with pytest.raises(IntegrityError), transaction.atomic():
        Rating.objects.create(dossier=returned, overall="satisfied", source=Source.LINK,
                              comment="z" * 2001)


@pytest.mark.django_db(transaction=True)
def test_two_submits_at_the_same_moment_store_one_rating_and_refuse_the_other(
    org, version  # noqa: F811
):
    dossier = dossier_in(org, version, "returned")
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def rate(level: str) -> None:
        try:
            barrier.wait(timeout=10)
            submit(dossier, answers={"overall": level}, ip=f"198.51.100.{len(level)}")
            outcomes.append("stored")
        except ValidationError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=rate, args=(level,))
               for level in ("very_satisfied", "dissatisfied")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["already_rated", "stored"]
    assert Rating.objects.filter(dossier=dossier).count() == 1
    # Exactly one set of notices: the refused submit wrote none.
    keys = set(OutboxMessage.objects.filter(topic="rated").values_list("key", flat=True))
    rating = Rating.objects.get(dossier=dossier)
    assert keys and all(key.startswith(f"rating:{rating.pk}:") for key in keys)


# ---------------------------------------------------------------------------------------------
# The staff who handled the dossier are told
# ---------------------------------------------------------------------------------------------


def test_the_staff_who_handled_the_dossier_get_a_notice_after_the_commit(
    org, returned, django_capture_on_commit_callbacks  # noqa: F811
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        submit(returned, answers={"overall": "dissatisfied"}, comment="<b>Trễ hẹn</b>")
    assert callbacks, "delivery is enqueued on commit"
    outbox_deliver()  # whether or not a worker ran the enqueued task: idempotent
    notices = StaffNotice.objects.filter(kind="rated")
    told = {n.user_id for n in notices}
    assert told == {org.clerk.pk, org.officer.pk, org.leader.pk}
    notice = notices.get(user=org.officer)
    assert notice.dossier_id == returned.pk
    assert notice.url == reverse("dossier-page", args=[returned.code])
    assert returned.code in notice.title and "Không hài lòng" in notice.title
    assert "<b>Trễ hẹn</b>" in notice.body  # plain text; the notice list escapes it
    assert "không hài lòng" in notice.body.lower()


def test_a_refused_rating_tells_nobody(returned):
    submit(returned)
    before = OutboxMessage.objects.count()
    with pytest.raises(ValidationError):
        submit(returned)
    with pytest.raises(DossierNotFound):
        submit(returned, phone="0987654321")
    assert OutboxMessage.objects.count() == before


def test_the_notice_list_escapes_the_comment(client, org, returned):  # noqa: F811
    submit(returned, comment="<script>alert('x')</script>")
    outbox_deliver()
    client.force_login(org.officer)
    body = client.get(reverse("notice-list")).content.decode()
    assert "<script>alert(" not in body
    assert "&lt;script&gt;" in body


# ---------------------------------------------------------------------------------------------
# The public API
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def api():
    return APIClient(enforce_csrf_checks=True)


def test_api_rates_a_returned_dossier_without_login_or_csrf(api, returned):
    response = api.post(API, {"code": returned.code, "phone": PHONE, "answers": GOOD,
                              "comment": "<script>x</script> Rất tốt"}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["code"] == returned.code
    assert body["answers"] == GOOD
    assert body["comment"] == "<script>x</script> Rất tốt"
    assert body["source"] == "api"
    assert "phone" not in body and PHONE not in response.content.decode()
    assert Rating.objects.get().source == Source.API


def test_api_answers_a_repeated_rating_with_already_rated(api, returned):
    payload = {"code": returned.code, "phone": PHONE, "answers": {"overall": "satisfied"}}
    assert api.post(API, payload, format="json").status_code == 201
    again = api.post(API, payload, format="json")
    assert again.status_code == 400
    assert again.json()["code"] == "already_rated"
    assert Rating.objects.count() == 1


@pytest.mark.parametrize("payload, code", [
    ({"answers": {"time": "satisfied"}}, "invalid_answers"),
    ({"answers": {"overall": "satisfied", "speed": "satisfied"}}, "invalid_answers"),
    ({"answers": {"overall": "ok"}}, "invalid_answers"),
    ({"answers": "satisfied"}, "invalid_answers"),
    ({"answers": {"overall": "satisfied"}, "comment": "x" * 2001}, "comment_too_long"),
    ({"answers": {"overall": "satisfied"}, "comment": 42}, "invalid_comment"),
    ({"answers": {"overall": "satisfied"}, "phone": ""}, "invalid_request"),
    ({"answers": {"overall": "satisfied"}, "code": ["a"]}, "invalid_request"),
])
def test_api_refuses_bad_input_with_a_stable_code_and_a_vietnamese_message(
    api, returned, payload, code
):
    body = {"code": returned.code, "phone": PHONE, **payload}
    response = api.post(API, body, format="json")
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == code
    assert answer["detail"] and "Traceback" not in answer["detail"]
    assert not Rating.objects.exists()


def test_api_refuses_a_body_that_is_not_an_object(api):
    response = api.post(API, ["code", "phone"], format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert api.post(API, "{not json", content_type="application/json").status_code == 400


def test_api_answers_not_returned_for_a_dossier_in_progress(api, org, version, frozen):  # noqa: F811
    dossier = dossier_in(org, version, "in_progress")
    response = api.post(API, {"code": dossier.code, "phone": PHONE,
                              "answers": {"overall": "satisfied"}}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "not_returned"


def test_api_gives_the_same_404_for_a_wrong_code_and_a_wrong_phone(api, returned):
    wrong_phone = api.post(API, {"code": returned.code, "phone": "0987654321",
                                 "answers": {"overall": "satisfied"}}, format="json")
    wrong_code = api.post(API, {"code": "000.00.10.H01-251124-9999", "phone": PHONE,
                                "answers": {"overall": "satisfied"}}, format="json")
    assert wrong_phone.status_code == wrong_code.status_code == 404
    assert wrong_phone.json() == wrong_code.json()
    assert wrong_phone.json()["code"] == "not_found"


def test_api_is_throttled_per_client(api, returned):
    payload = {"code": "000.00.10.H01-251124-9999", "phone": PHONE,
               "answers": {"overall": "satisfied"}}
    responses = [api.post(API, payload, format="json") for _ in range(11)]
    assert [r.status_code for r in responses[:10]] == [404] * 10
    last = responses[-1]
    assert last.status_code == 429
    assert last.json()["code"] == "throttled" and "thử lại sau 1 phút" in last.json()["detail"]
    assert int(last["Retry-After"]) >= 1
    # Another client is not held back.
    other = APIClient(REMOTE_ADDR="198.51.100.99")
    assert other.post(API, payload, format="json").status_code == 404


def test_the_page_and_the_api_share_one_allowance_per_client(api, client, returned):
    payload = {"code": returned.code, "phone": PHONE, "overall": "satisfied"}
    for _ in range(5):
        api.post(API, {"code": "X-1", "phone": PHONE, "answers": {"overall": "satisfied"}},
                 format="json")
    for _ in range(5):
        client.post(reverse("public-rate"), {**payload, "overall": ""})
    page = client.post(reverse("public-rate"), payload)
    assert page.status_code == 429
    assert "Ông/bà đã gửi quá nhiều lần" in page.content.decode()
    kiosk = client.post(reverse("public-rate-kiosk"), {"step": "check", **payload})
    assert kiosk.status_code == 429 and "Retry-After" in kiosk
    assert not Rating.objects.exists()


def test_api_schema_documents_the_rating_endpoint(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/public/ratings/" in response.content


# ---------------------------------------------------------------------------------------------
# The citizen's page
# ---------------------------------------------------------------------------------------------


def test_rate_page_prefills_the_code_from_the_link_and_asks_for_the_phone(client, returned):
    response = client.get(reverse("public-rate"), {"ma": returned.code})
    assert response.status_code == 200
    body = response.content.decode()
    assert f'value="{returned.code}"' in body
    assert 'name="phone"' in body and 'type="tel"' in body
    assert 'method="post"' in body and "csrfmiddlewaretoken" in body
    assert body.count("<fieldset") >= 6 and body.count("<legend") >= 6  # proof + 5 criteria
    assert "Mức độ hài lòng chung" in body and "Công khai thủ tục hành chính" in body
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_rate_page_stores_the_rating_and_shows_thanks_once(client, returned):
    response = client.post(reverse("public-rate"), {
        "code": returned.code, "phone": PHONE, "overall": "very_satisfied", "attitude": "satisfied",
        "time": "", "comment": "Rất hài lòng", "source": "tracking",
    })
    assert response.status_code == 302
    assert response["Location"] == reverse("public-rate-thanks")
    assert PHONE not in response["Location"]
    rating = Rating.objects.get()
    assert (rating.overall, rating.attitude, rating.time, rating.source) == (
        "very_satisfied", "satisfied", "", Source.TRACKING)
    thanks = client.get(response["Location"])
    assert "Cảm ơn ông/bà đã đánh giá" in thanks.content.decode()
    assert returned.code in thanks.content.decode()
    assert client.get(reverse("public-rate-thanks")).status_code == 302  # shown once


def test_rate_page_from_a_link_records_the_link_as_the_source(client, returned):
    page = client.get(reverse("public-rate"), {"ma": returned.code}).content.decode()
    assert 'name="source" value="link"' in page
    client.post(reverse("public-rate"), {"code": returned.code, "phone": PHONE,
                                         "overall": "satisfied", "source": "link"})
    assert Rating.objects.get().source == Source.LINK


def test_rate_page_shows_what_is_missing_and_keeps_what_was_typed(client, returned):
    response = client.post(reverse("public-rate"), {
        "code": returned.code, "phone": PHONE, "attitude": "dissatisfied",
        "comment": "Chờ lâu <i>quá</i>",
    })
    assert response.status_code == 400
    body = response.content.decode()
    assert "Vui lòng chọn mức độ hài lòng chung." in body
    assert 'role="alert"' in body
    assert "Chờ lâu &lt;i&gt;quá&lt;/i&gt;" in body
    assert 'value="dissatisfied" checked' in body
    assert not Rating.objects.exists()


def test_rate_page_wrong_phone_gets_the_generic_answer(client, returned):
    response = client.post(reverse("public-rate"), {
        "code": returned.code, "phone": "0987654321", "overall": "satisfied",
    })
    assert response.status_code == 404
    assert "Không tìm thấy hồ sơ với mã và số điện thoại này" in response.content.decode()


def test_rate_page_tells_a_second_rating_that_it_was_rated_already(client, returned):
    submit(returned)
    response = client.post(reverse("public-rate"), {"code": returned.code, "phone": PHONE,
                                                    "overall": "dissatisfied"})
    assert response.status_code == 400
    assert "Hồ sơ này đã được đánh giá" in response.content.decode()
    assert Rating.objects.get().overall == "satisfied"


def test_rate_page_refuses_a_post_without_the_csrf_token(returned):
    strict = Client(enforce_csrf_checks=True)
    response = strict.post(reverse("public-rate"), {"code": returned.code, "phone": PHONE,
                                                    "overall": "satisfied"})
    assert response.status_code == 403
    assert not Rating.objects.exists()


def test_rate_page_escapes_a_script_in_the_code_from_the_link(client, db):
    body = client.get(reverse("public-rate"), {"ma": '"><script>alert(1)</script>'}).content.decode()
    assert "<script>alert(1)</script>" not in body


def test_the_public_menu_links_to_the_rating_page(client, db):
    body = client.get(reverse("public-home")).content.decode()
    assert f'href="{reverse("public-rate")}"' in body


# ---------------------------------------------------------------------------------------------
# The kiosk at the desk
# ---------------------------------------------------------------------------------------------


def test_kiosk_start_screen_has_no_way_out_and_keeps_nothing(client, db):
    response = client.get(reverse("public-rate-kiosk"))
    body = response.content.decode()
    assert response.status_code == 200
    assert 'autocomplete="off"' in body
    assert f'href="{reverse("public-home")}"' not in body  # no menu: the brand leads back here
    assert f'href="{reverse("public-rate")}"' not in body
    assert f'class="brand" href="{reverse("public-rate-kiosk")}"' in body
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_kiosk_checks_the_proof_then_asks_the_criteria_then_thanks_and_starts_again(
    client, returned
):
    kiosk = reverse("public-rate-kiosk")
    screen = client.post(kiosk, {"step": "check", "code": returned.code, "phone": PHONE})
    assert screen.status_code == 200
    body = screen.content.decode()
    assert returned.procedure_version.name in body
    assert 'name="step" value="rate"' in body
    assert not Rating.objects.exists()
    done = client.post(kiosk, {"step": "rate", "code": returned.code, "phone": PHONE,
                               "overall": "very_satisfied", "guidance": "satisfied"})
    assert done.status_code == 302
    assert done["Location"] == reverse("public-rate-kiosk-thanks")
    rating = Rating.objects.get()
    assert (rating.source, rating.overall, rating.guidance) == ("kiosk", "very_satisfied",
                                                                "satisfied")
    thanks = client.get(done["Location"]).content.decode()
    assert "Cảm ơn ông/bà đã đánh giá!" in thanks
    assert f'http-equiv="refresh" content="8;url={kiosk}"' in thanks
    assert returned.code not in thanks and PHONE not in thanks


def test_kiosk_takes_the_code_from_a_scanned_qr_code(client, returned):
    scanned = f"http://127.0.0.1:8000/tra-cuu/?ma={returned.code}"
    screen = client.post(reverse("public-rate-kiosk"),
                         {"step": "check", "code": scanned, "phone": PHONE})
    assert screen.status_code == 200
    assert f'name="code" value="{returned.code}"' in screen.content.decode()


def test_kiosk_wrong_phone_stays_on_the_first_screen_with_the_generic_answer(client, returned):
    screen = client.post(reverse("public-rate-kiosk"),
                         {"step": "check", "code": returned.code, "phone": "0987654321"})
    assert screen.status_code == 404
    body = screen.content.decode()
    assert "Không tìm thấy hồ sơ" in body and 'name="step" value="check"' in body
    assert "0987654321" not in body  # the phone is never shown back


def test_kiosk_already_rated_goes_back_to_an_empty_first_screen(client, returned):
    submit(returned)
    kiosk = reverse("public-rate-kiosk")
    checked = client.post(kiosk, {"step": "check", "code": returned.code, "phone": PHONE})
    assert checked.status_code == 400
    assert "Hồ sơ này đã được đánh giá" in checked.content.decode()
    raced = client.post(kiosk, {"step": "rate", "code": returned.code, "phone": PHONE,
                                "overall": "dissatisfied"})
    assert raced.status_code == 400
    body = raced.content.decode()
    assert 'name="step" value="check"' in body and returned.code not in body
    assert Rating.objects.get().overall == "satisfied"


def test_kiosk_without_overall_stays_on_the_criteria_with_the_error(client, returned):
    screen = client.post(reverse("public-rate-kiosk"), {
        "step": "rate", "code": returned.code, "phone": PHONE, "time": "satisfied",
    })
    assert screen.status_code == 400
    body = screen.content.decode()
    assert "Vui lòng chọn mức độ hài lòng chung." in body
    assert 'name="step" value="rate"' in body and 'value="satisfied" checked' in body


def test_kiosk_criteria_screen_with_forged_proof_falls_back_to_the_first_screen(client, returned):
    screen = client.post(reverse("public-rate-kiosk"), {
        "step": "rate", "code": returned.code, "phone": "0987654321", "time": "satisfied",
    })
    assert screen.status_code == 400
    assert 'name="step" value="check"' in screen.content.decode()


# ---------------------------------------------------------------------------------------------
# Staff: the list, who sees what, the export, the dossier page
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def rated(org, returned):  # noqa: F811
    """A's returned dossier rated with a script in the comment."""
    return submit(returned, answers={"overall": "dissatisfied", "time": "dissatisfied"},
                  comment="<script>alert('xss')</script> Chờ quá lâu")


@pytest.fixture
def supervisor(org):  # noqa: F811
    centre = UnitFactory(agency=org.a, code="VP", name="Văn phòng")
    return staff("supervisor_x", (centre, Role.SUPERVISOR))


def test_staff_list_shows_the_rating_to_the_units_that_handled_it(client, org, rated, supervisor):  # noqa: F811
    for user in (org.officer, org.leader, org.clerk, org.officer2, supervisor, org.admin,
                 org.superuser):
        client.force_login(user)
        body = client.get(reverse("staff-ratings")).content.decode()
        assert rated.dossier.code in body, user.username


def test_an_officer_of_another_unit_or_agency_does_not_see_the_rating(client, org, rated):  # noqa: F811
    other_unit = UnitFactory(agency=org.a, code="KT", name="Phòng Kế toán")
    outsider = staff("officer_kt", (other_unit, Role.OFFICER))
    for user in (outsider, org.officer_b, org.leader_b, org.clerk_b):
        client.force_login(user)
        response = client.get(reverse("staff-ratings"))
        assert response.status_code == 200
        assert rated.dossier.code not in response.content.decode(), user.username
        export = client.get(reverse("staff-ratings-export"))
        sheet = load_workbook(io.BytesIO(export.content)).active
        assert sheet.max_row == 2, user.username  # title and header only


def test_the_staff_list_needs_a_login_and_a_role(client, org, rated):  # noqa: F811
    response = client.get(reverse("staff-ratings"))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    nobody = staff("no_role")
    client.force_login(nobody)
    assert client.get(reverse("staff-ratings")).status_code == 403
    assert client.get(reverse("staff-ratings-export")).status_code == 403


def test_a_script_in_the_comment_is_escaped_on_the_staff_list(client, org, rated):  # noqa: F811
    client.force_login(org.officer)
    body = client.get(reverse("staff-ratings")).content.decode()
    assert "<script>alert('xss')</script>" not in body
    assert "&lt;script&gt;alert(&#x27;xss&#x27;)&lt;/script&gt; Chờ quá lâu" in body
    assert "Không hài lòng" in body


def test_staff_list_filters_by_level_period_code_and_comment(
    client, org, version, frozen, supervisor  # noqa: F811
):
    dossiers = [dossier_in(org, version, "returned") for _ in range(3)]
    submit(dossiers[0], answers={"overall": "very_satisfied"}, comment="Tốt")
    frozen.shift(timedelta(days=3))
    submit(dossiers[1], answers={"overall": "satisfied", "attitude": "dissatisfied"})
    frozen.shift(timedelta(days=3))
    submit(dossiers[2], answers={"overall": "dissatisfied"})
    client.force_login(supervisor)
    url = reverse("staff-ratings")

    def codes(**params):
        body = client.get(url, params).content.decode()
        return [d.code for d in dossiers if d.code in body]

    assert codes() == [d.code for d in dossiers]
    assert codes(muc="very_satisfied") == [dossiers[0].code]
    assert codes(muc="any_dissatisfied") == [dossiers[1].code, dossiers[2].code]
    start = timezone.localtime(timezone.now() - timedelta(days=4)).date()
    assert codes(tu=start.isoformat()) == [dossiers[1].code, dossiers[2].code]
    assert codes(den=start.isoformat()) == [dossiers[0].code]
    assert codes(ma=dossiers[2].code[-4:]) == [dossiers[2].code]
    assert codes(gop_y="on") == [dossiers[0].code]
    assert codes(muc="nonsense", tu="not-a-date") == [d.code for d in dossiers]  # ignored
    body = client.get(url).content.decode()
    # Newest first, and the summary counts the list.
    assert body.index(dossiers[2].code) < body.index(dossiers[1].code) < body.index(dossiers[0].code)
    assert "3 đánh giá" in body
    assert "66,7%" in body or "66.7%" in body


def test_staff_list_paginates(client, org, version, frozen, supervisor, settings):  # noqa: F811
    from ratings import views

    settings.DEBUG = False
    dossiers = [dossier_in(org, version, "returned") for _ in range(3)]
    for dossier in dossiers:
        submit(dossier)
    client.force_login(supervisor)
    original = views.PAGE_SIZE
    views.PAGE_SIZE = 2
    try:
        first = client.get(reverse("staff-ratings"), {"muc": "satisfied"}).content.decode()
        second = client.get(reverse("staff-ratings"), {"muc": "satisfied", "page": 2}).content.decode()
    finally:
        views.PAGE_SIZE = original
    assert "Trang 1/2" in first and "muc=satisfied&amp;page=2" in first
    assert sum(d.code in first for d in dossiers) == 2
    assert sum(d.code in second for d in dossiers) == 1


def test_staff_list_query_count_does_not_grow_with_the_rows(
    client, org, version, frozen, supervisor, django_assert_max_num_queries  # noqa: F811
):
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    submit(dossier_in(org, version, "returned"))
    client.force_login(supervisor)
    client.get(reverse("staff-ratings"))  # warm the session
    with CaptureQueriesContext(conn) as one:
        client.get(reverse("staff-ratings"))
    for _ in range(6):
        submit(dossier_in(org, version, "returned"))
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(reverse("staff-ratings"))
    assert response.content.decode().count("code-link") == 7


def test_export_has_the_filtered_ratings_and_keeps_comments_as_text(
    client, org, version, frozen, supervisor  # noqa: F811
):
    a, b = dossier_in(org, version, "returned"), dossier_in(org, version, "returned")
    submit(a, answers=GOOD, comment="=HYPERLINK(\"http://evil.example\",\"bấm\")")
    submit(b, answers={"overall": "dissatisfied"})
    client.force_login(supervisor)
    response = client.get(reverse("staff-ratings-export"), {"muc": "very_satisfied"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert "attachment;" in response["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][:3] == ("STT", "Mã hồ sơ", "Thủ tục")
    assert len(rows) == 3
    row = rows[2]
    assert row[1] == a.code
    assert row[7:12] == ("Rất hài lòng", "Hài lòng", "Rất hài lòng", "Không hài lòng", "Hài lòng")
    comment_cell = sheet.cell(row=3, column=13)
    assert comment_cell.value.startswith("=HYPERLINK") and comment_cell.data_type == "s"
    assert "Phòng chuyên môn" in row[13]


def test_dossier_snippet_shows_the_rating_escaped(rf, org, rated):  # noqa: F811
    from django.template.loader import render_to_string

    html = render_to_string("ratings/_dossier_rating.html", {"dossier": rated.dossier})
    assert "Đánh giá của công dân" in html
    assert "Không hài lòng" in html
    assert "&lt;script&gt;" in html and "<script>alert" not in html


def test_dossier_snippet_invites_a_rating_when_none_and_is_silent_before_return(
    org, version, frozen  # noqa: F811
):
    from django.template.loader import render_to_string

    done = dossier_in(org, version, "returned")
    html = render_to_string("ratings/_dossier_rating.html", {"dossier": done})
    assert "Công dân chưa đánh giá hồ sơ này." in html
    assert f"?ma={done.code}" in html
    running = dossier_in(org, version, "in_progress")
    assert render_to_string("ratings/_dossier_rating.html", {"dossier": running}).strip() == ""


# ---------------------------------------------------------------------------------------------
# Demo data
# ---------------------------------------------------------------------------------------------


def test_seed_ratings_rates_some_returned_dossiers_once_and_tells_nobody(org, version):  # noqa: F811
    import random

    from dossiers.demo import seed_ratings

    dossiers = [dossier_in(org, version, "returned") for _ in range(12)]
    now = timezone.now() + timedelta(days=3)
    before = OutboxMessage.objects.count()
    created = seed_ratings(dossiers, rng=random.Random("t:ratings"), now=now)
    ratings = list(Rating.objects.select_related("dossier"))
    assert created == len(ratings) and 4 <= created <= 12
    assert OutboxMessage.objects.count() == before
    for rating in ratings:
        assert rating.dossier.state == State.RETURNED
        assert rating.dossier.returned_at < rating.created_at <= now
        assert rating.overall in Level.values
    again = seed_ratings(dossiers, rng=random.Random("t:ratings"), now=now)
    assert again == 0 and Rating.objects.count() == created


def test_seed_demo_rates_some_returned_dossiers_with_mixed_levels_and_is_idempotent():
    from django.core.management import call_command

    def seed():
        call_command("seed_demo", "--password", "demo-pass-123", "--dossiers", "60",
                     stdout=io.StringIO())

    seed()
    ratings = list(Rating.objects.select_related("dossier"))
    returned_count = Dossier.objects.filter(state=State.RETURNED).count()
    assert 0 < len(ratings) < returned_count
    assert {r.overall for r in ratings} == set(Level.values)
    assert any(r.comment for r in ratings) and any(not r.comment for r in ratings)
    assert all(r.created_at > r.dossier.returned_at for r in ratings)
    assert len({r.source for r in ratings}) > 1
    assert not OutboxMessage.objects.filter(topic="rated").exists()
    seed()
    assert Rating.objects.count() == len(ratings)


def test_the_django_admin_lists_ratings_read_only(client, org, rated):  # noqa: F811
    client.force_login(org.superuser)
    listing = client.get("/admin/ratings/rating/")
    assert listing.status_code == 200 and rated.dossier.code in listing.content.decode()
    assert client.get("/admin/ratings/rating/add/").status_code == 403
    page = client.get(f"/admin/ratings/rating/{rated.pk}/change/").content.decode()
    assert "&lt;script&gt;" in page and "<script>alert('xss')" not in page
    assert client.post(f"/admin/ratings/rating/{rated.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Rating.objects.filter(pk=rated.pk).exists()


def test_the_thanks_page_answers_a_dissatisfied_citizen(client, returned):
    client.post(reverse("public-rate"), {"code": returned.code, "phone": PHONE,
                                         "overall": "dissatisfied"})
    body = client.get(reverse("public-rate-thanks")).content.decode()
    assert "Chúng tôi rất tiếc vì ông/bà chưa hài lòng" in body
