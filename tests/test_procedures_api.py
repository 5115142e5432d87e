"""The catalogue's REST API: /api/v1/procedures/ (list, detail, appointment)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from procedures.models import Channel, Level, OnlineLevel, TimeUnit
from procedures.services import procedure_set_active
from tests.factories import (
    CommuneFactory,
    DepartmentFactory,
    FieldFactory,
    ProcedureFactory,
    UserFactory,
    add_channel_limit,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/procedures/"
CODE = "1.001193.000.00.00.H01"
DETAIL = f"/api/v1/procedures/{CODE}/"
APPOINTMENT = f"/api/v1/procedures/{CODE}/appointment/"


@pytest.fixture
def api():
    client = APIClient()
    client.force_authenticate(UserFactory(username="tiepnhan1"))
    return client


@pytest.fixture
def birth():
    """Đăng ký khai sinh at Sở Tư pháp for the test: 3 working days; online 2 working days."""
    procedure = ProcedureFactory(code=CODE, name="Thủ tục đăng ký khai sinh",
                                 field=FieldFactory(code="HOTICH", name="Hộ tịch"))
    add_channel_limit(procedure.current_version, channel=Channel.ONLINE, amount=Decimal(2))
    return procedure


# --- Authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize("url", [LIST, DETAIL, APPOINTMENT + "?received_at=2026-12-07T09:00:00%2B07:00"])
def test_the_api_needs_a_login(birth, url):
    response = APIClient().get(url)
    assert response.status_code == 401


def test_a_token_from_the_token_endpoint_opens_the_api(birth):
    UserFactory(username="tiepnhan1", password="MatKhau@2026")
    anonymous = APIClient()
    token = anonymous.post("/api/v1/auth/token/", {"username": "tiepnhan1", "password": "MatKhau@2026"},
                           format="json").json()["token"]
    assert token == Token.objects.get(user__username="tiepnhan1").key

    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anonymous.get(LIST).status_code == 200


def test_a_session_login_opens_the_api(client, birth):
    client.force_login(UserFactory(username="tiepnhan1"))
    assert client.get(LIST).status_code == 200


# --- List --------------------------------------------------------------------------------------


def test_the_list_shows_the_current_versions_paginated(api, birth):
    ProcedureFactory(code="2.000986.000.00.00.H01", name="Liên thông khai sinh, thường trú, BHYT",
                     agency=birth.current_version.agency)

    body = api.get(LIST).json()

    assert body["count"] == 2
    first = body["results"][0]
    assert first == {
        "code": CODE,
        "national_code": "1.001193",
        "name": "Thủ tục đăng ký khai sinh",
        "field": {"code": "HOTICH", "name": "Hộ tịch"},
        "level": "province",
        "level_label": "Cấp tỉnh",
        "agency": {"code": "000.00.10.H01", "name": "Sở Tư pháp tỉnh An Giang",
                   "short_name": "Sở Tư pháp"},
        "agency_text": "",
        "time_limit": {"amount": 3.0, "unit": "working_days", "unit_label": "ngày làm việc",
                       "hours": 24.0},
        "channels": ["in_person", "online"],
        "online_level": "partial",
        "is_inter_agency": False,
        "is_active": True,
        "version": 1,
        "effective_from": first["effective_from"],
    }
    assert [r["code"] for r in body["results"]] == [CODE, "2.000986.000.00.00.H01"]


def test_the_list_searches_without_diacritics(api, birth):
    ProcedureFactory(code="1.013225.000.00.00.H01", name="Cấp giấy phép xây dựng",
                     agency=birth.current_version.agency)

    body = api.get(LIST, {"search": "giay phep xay dung"}).json()

    assert [r["code"] for r in body["results"]] == ["1.013225.000.00.00.H01"]


def test_the_list_filters_by_field_agency_and_level(api, birth):
    commune = CommuneFactory(code="000.20.01.H01")
    ProcedureFactory(code="1.004873.000.00.00.H01", agency=None, level=Level.COMMUNE,
                     field=FieldFactory(code="CHUNGTHUC", name="Chứng thực"),
                     steps=[("Tiếp nhận", "MC", "clerk", 4), ("Xử lý", "VHXH", "officer", 20)])

    def codes(**params):
        return [r["code"] for r in api.get(LIST, params).json()["results"]]

    assert codes(field="CHUNGTHUC") == ["1.004873.000.00.00.H01"]
    assert codes(agency="000.00.10.H01") == [CODE]
    assert codes(agency=commune.code) == ["1.004873.000.00.00.H01"]
    assert codes(level="commune") == ["1.004873.000.00.00.H01"]
    assert codes(level="province", search="khai sinh") == [CODE]


def test_the_list_refuses_an_unknown_level(api, birth):
    response = api.get(LIST, {"level": "huyen"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "Cấp thực hiện “huyen” không hợp lệ" in response.json()["detail"]


def test_the_list_leaves_out_inactive_procedures(api, birth):
    procedure_set_active(procedure=birth, active=False, actor=None)
    assert api.get(LIST).json()["count"] == 0


def test_the_list_query_count_does_not_grow_with_the_page_size(api, django_assert_num_queries):
    agency = DepartmentFactory()
    for n in range(60):
        ProcedureFactory(code=f"1.{100000 + n:06d}.000.00.00.H01", agency=agency)

    with CaptureQueriesContext(connection) as small:
        response = api.get(LIST, {"page_size": 5})
    assert len(response.json()["results"]) == 5

    with django_assert_num_queries(len(small)):
        response = api.get(LIST, {"page_size": 50})
    assert len(response.json()["results"]) == 50


def test_the_page_size_is_at_most_100(api):
    agency = DepartmentFactory()
    for n in range(105):
        ProcedureFactory(code=f"1.{200000 + n:06d}.000.00.00.H01", agency=agency)

    body = api.get(LIST, {"page_size": 500}).json()

    assert (body["count"], len(body["results"])) == (105, 100)


# --- Detail ------------------------------------------------------------------------------------


def test_the_detail_has_fees_documents_steps_and_channel_limits(api, birth):
    body = api.get(DETAIL).json()

    assert body["code"] == CODE
    assert body["version"] == 1
    assert body["effective_from"]
    assert body["fees"] == [{"name": "Lệ phí", "amount_vnd": 8000, "description": ""}]
    assert body["documents"] == [{
        "position": 1, "name": "Tờ khai theo mẫu", "originals": 1, "copies": 0,
        "is_mandatory": True, "template_name": "", "has_template": False,
    }]
    assert [(s["position"], s["unit_code"], s["role"], s["hours"]) for s in body["steps"]] == [
        (1, "MC", "clerk", 2.0), (2, "HCTP", "officer", 16.0), (3, "LD", "leader", 4.0),
        (4, "MC", "clerk", 2.0),
    ]
    assert body["steps"][0]["agency"] is None
    assert body["time_limits"] == [{"channel": "online", "amount": 2.0, "unit": "working_days"}]
    assert body["time_limit_by_channel"] == {
        "in_person": {"amount": 3.0, "unit": "working_days", "unit_label": "ngày làm việc",
                      "hours": 24.0},
        "online": {"amount": 2.0, "unit": "working_days", "unit_label": "ngày làm việc",
                   "hours": 16.0},
    }


def test_the_detail_of_an_unknown_code_is_404(api, birth):
    response = api.get("/api/v1/procedures/9.999999.000.00.00.H01/")
    assert response.status_code == 404
    assert "Không có thủ tục mã" in response.json()["detail"]


# --- Appointment ----------------------------------------------------------------------------


def test_the_appointment_counts_working_days_from_reception(api, birth):
    # Monday 09:00 + 3 working days = Thursday 09:00 (a week of December without holidays).
    response = api.get(APPOINTMENT, {"received_at": "2026-12-07T09:00:00+07:00"})

    assert response.status_code == 200
    body = response.json()
    assert body["due_at"] == "2026-12-10T09:00:00+07:00"
    assert body["channel"] == "in_person"
    assert body["time_limit"]["amount"] == 3.0


def test_the_appointment_counts_over_a_public_holiday(api, birth):
    # Tuesday 24 November 2026 is Vietnam Cultural Day: Monday 09:00 + 3 = Friday 09:00.
    response = api.get(APPOINTMENT, {"received_at": "2026-11-23T09:00:00+07:00"})
    assert response.json()["due_at"] == "2026-11-27T09:00:00+07:00"


def test_the_appointment_uses_the_channel_own_limit(api, birth):
    response = api.get(APPOINTMENT, {"received_at": "2026-12-07T09:00:00+07:00", "channel": "online"})
    assert response.json()["due_at"] == "2026-12-09T09:00:00+07:00"


def test_the_appointment_reads_a_time_without_offset_as_vietnam_time(api, birth):
    response = api.get(APPOINTMENT, {"received_at": "2026-12-07T09:00:00"})
    assert response.json()["due_at"] == "2026-12-10T09:00:00+07:00"


def test_the_appointment_accepts_utc(api, birth):
    response = api.get(APPOINTMENT, {"received_at": "2026-12-07T02:00:00Z"})
    assert response.json()["due_at"] == "2026-12-10T09:00:00+07:00"


def test_a_same_day_procedure_is_due_at_closing_time(api):
    ProcedureFactory(code=CODE, time_limit_amount=Decimal(0),
                     steps=[("Tiếp nhận", "MC", "clerk", 1), ("Chứng thực", "HCTP", "officer", 3)])

    response = api.get(APPOINTMENT, {"received_at": "2026-12-07T09:00:00+07:00"})

    assert response.json()["due_at"] == "2026-12-07T17:00:00+07:00"


def test_a_calendar_day_limit_ends_at_closing_time(api):
    ProcedureFactory(code=CODE, time_limit_amount=Decimal(10), time_limit_unit=TimeUnit.CALENDAR_DAYS,
                     steps=[("Tiếp nhận", "MC", "clerk", 4), ("Xử lý", "HCTP", "officer", 76)])

    response = api.get(APPOINTMENT, {"received_at": "2026-12-07T09:00:00+07:00"})

    assert response.json()["due_at"] == "2026-12-17T17:00:00+07:00"


@pytest.mark.parametrize("value", ["", "hôm nay", "2026-13-40T09:00:00", "23/11/2026 09:00"])
def test_a_bad_reception_time_is_a_400_in_vietnamese(api, birth, value):
    response = api.get(APPOINTMENT, {"received_at": value} if value else {})

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_received_at"
    assert body["detail"].startswith("Thời điểm tiếp nhận (received_at) không hợp lệ")


def test_a_channel_the_procedure_does_not_accept_is_a_400(api, birth):
    response = api.get(APPOINTMENT, {"received_at": "2026-12-07T09:00:00+07:00", "channel": "post"})
    assert response.status_code == 400
    assert response.json()["code"] == "channel_not_accepted"

    response = api.get(APPOINTMENT, {"received_at": "2026-12-07T09:00:00+07:00", "channel": "fax"})
    assert response.json()["code"] == "invalid_channel"


def test_an_online_only_procedure_defaults_to_online(api):
    procedure = ProcedureFactory(code=CODE, version__accepts_in_person=False,
                                 version__online_level=OnlineLevel.FULL)
    add_channel_limit(procedure.current_version, channel=Channel.ONLINE, amount=Decimal(1))

    body = api.get(APPOINTMENT, {"received_at": "2026-12-07T09:00:00+07:00"}).json()

    assert (body["channel"], body["due_at"]) == ("online", "2026-12-08T09:00:00+07:00")


def test_the_schema_documents_the_catalogue_endpoints(api):
    schema = api.get("/api/schema/", {"format": "json"}).json()

    assert "/api/v1/procedures/{code}/appointment/" in schema["paths"]
    parameters = {p["name"] for p in schema["paths"]["/api/v1/procedures/"]["get"]["parameters"]}
    assert {"search", "field", "agency", "level", "page", "page_size"} <= parameters
