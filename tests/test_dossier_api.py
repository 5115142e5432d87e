"""The dossier REST API (CONTRACT.md): reception, list with filters, detail with events,
transitions; the 400 / 403 / 404 / 409 mapping; JSON escaping; query counts."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from dossiers.models import Dossier
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    PASSWORD,
    act,
    client_for,
    dossier_in,
    frozen,
    org,
    receive,
    submit_online,
    version,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/dossiers/"


def transitions_url(dossier) -> str:
    return f"/api/v1/dossiers/{dossier.code}/transitions/"


def create_body(version, **applicant):
    return {
        "procedure": version.procedure.code, "channel": "in_person",
        "applicant": {**APPLICANT, **applicant},
    }


def test_a_clerk_receives_through_the_api(org, version, frozen):
    response = client_for(org.clerk).post(LIST, create_body(version), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["code"] == "000.00.10.H01-251124-0001"
    assert body["state"] == "received" and body["state_label"] == "Đã tiếp nhận"
    assert body["received_at"] == "2025-11-24T09:00:00+07:00"
    assert body["due_at"] == "2025-12-01T09:00:00+07:00"
    assert body["national_status"] == 2
    assert body["applicant"]["phone"] == "0912345678"
    assert body["current_unit"] == "MC" and body["version"] == 1
    detail = client_for(org.clerk).get(f"/api/v1/dossiers/{body['code']}/").json()
    assert [e["transition"] for e in detail["events"]] == ["receive"]
    assert len(detail["steps"]) == 5 and len(detail["documents"]) == 3
    assert detail["available_transitions"] == ["start", "withdraw"]


def test_token_authentication(org, version, frozen):
    client = APIClient()
    token = client.post("/api/v1/auth/token/", {"username": "clerk_a", "password": PASSWORD}).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.post(LIST, create_body(version), format="json").status_code == 201
    assert APIClient().get(LIST).status_code in (401, 403)


def test_reception_errors(org, version, frozen):
    clerk = client_for(org.clerk)
    response = clerk.post(LIST, {**create_body(version), "procedure": "0.000000"}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_procedure"
    response = clerk.post(LIST, create_body(version, phone="12345", id_number="123456789"), format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_applicant"
    assert set(body["errors"]) == {"applicant.phone", "applicant.id_number"}
    response = clerk.post(LIST, {"channel": "in_person"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert {"procedure", "applicant"} <= set(response.json()["errors"])
    response = client_for(org.officer).post(LIST, create_body(version), format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert not Dossier.objects.exists()


def test_script_tags_come_back_json_escaped(org, version, frozen):
    name = "<script>alert('x')</script> & Lê Văn C"
    response = client_for(org.clerk).post(LIST, create_body(version, name=name), format="json")
    assert response.status_code == 201
    assert response["Content-Type"].startswith("application/json")
    assert b"<script>" not in response.content and b"\\u003cscript\\u003e" in response.content
    assert json.loads(response.content)["applicant"]["name"] == name
    listed = client_for(org.clerk).get(LIST)
    assert b"<script>" not in listed.content
    assert json.loads(listed.content)["results"][0]["applicant_name"] == name


def test_list_is_paginated_newest_first_and_scoped_to_what_the_user_may_see(org, version, frozen):
    first = receive(org, version)
    second = receive(org, version)
    online = submit_online(org, version)
    body = client_for(org.clerk).get(LIST).json()
    assert body["count"] == 3
    assert [d["code"] for d in body["results"]] == [online.code, second.code, first.code]
    assert client_for(org.officer_b).get(LIST).json()["count"] == 0
    assert client_for(org.clerk_b).get(LIST).json()["count"] == 0
    assert client_for(org.admin).get(LIST).json()["count"] == 0
    # Officers of the process see the dossiers that pass through their unit.
    assert client_for(org.officer).get(LIST).json()["count"] == 2


def test_list_filters(org, version, frozen):
    a = receive(org, version)
    b = act(receive(org, version, applicant={**APPLICANT, "name": "Trần Thị Bích Ngọc",
                                             "phone": "0987654321", "id_number": "089190004567"}),
            "start", org.clerk)
    Dossier.objects.filter(pk=b.pk).update(is_overdue=True)
    clerk = client_for(org.clerk)

    def codes(**params):
        response = clerk.get(LIST, params)
        assert response.status_code == 200, response.content
        return {d["code"] for d in response.json()["results"]}

    assert codes(state="received") == {a.code}
    assert codes(state="received,in_progress") == {a.code, b.code}
    assert codes(overdue="true") == {b.code} and codes(overdue="false") == {a.code}
    assert codes(q="tran thi bich") == {b.code}
    assert codes(q="Bích Ngọc") == {b.code}
    assert codes(q="+84 987 654 321") == {b.code}
    assert codes(q="089190") == {b.code}
    assert codes(q=a.code) == {a.code}
    assert codes(procedure=version.procedure.code) == {a.code, b.code}
    assert codes(procedure="0.000") == set()
    assert codes(unit=org.units_a["CM"].pk) == {b.code}
    assert codes(queue="true", ordering="due") == {a.code}  # the clerk's own work: hand-over
    officer_queue = client_for(org.officer).get(LIST, {"queue": "1"}).json()["results"]
    assert [d["code"] for d in officer_queue] == [a.code, b.code]
    for bad in ({"state": "lost"}, {"overdue": "maybe"}, {"unit": "x"}, {"ordering": "random"}):
        response = clerk.get(LIST, bad)
        assert response.status_code == 400 and response.json()["code"] == "invalid"


def test_list_query_count_does_not_grow_with_rows(org, version, frozen):
    from django.contrib.auth import get_user_model

    def queries() -> int:
        # A fresh user object per request, as in production (roles are cached on it).
        client = client_for(get_user_model().objects.get(pk=org.officer.pk))
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LIST).status_code == 200
        return len(captured)

    for _ in range(2):
        act(receive(org, version), "start", org.clerk)
    few = queries()
    for _ in range(12):
        dossier = act(receive(org, version), "start", org.clerk)
    act(dossier, "forward", org.officer)
    assert queries() == few
    assert few <= 5


def test_detail_with_steps_and_events_and_constant_queries(org, version, frozen):
    dossier = dossier_in(org, version, "in_progress")
    clerk = client_for(org.clerk)
    with CaptureQueriesContext(connection) as short:
        body = clerk.get(f"/api/v1/dossiers/{dossier.code}/").json()
    assert [e["transition"] for e in body["events"]] == ["receive", "start"]
    event = body["events"][1]
    assert event["actor"]["username"] == "clerk_a"
    assert event["step"] == {"position": 1, "name": "Tiếp nhận hồ sơ", "unit": "MC", "agency": org.a.code}
    assert event["on_time"] is True and event["transition_label"] == "Chuyển xử lý"
    assert body["steps"][1]["started_at"] == "2025-11-24T09:00:00+07:00"
    assert body["steps"][1]["due_at"] == "2025-11-27T09:00:00+07:00"
    dossier = act(dossier, "forward", org.officer)
    act(dossier, "request_supplement", org.officer, comment="Thiếu")
    with CaptureQueriesContext(connection) as longer:
        body = clerk.get(f"/api/v1/dossiers/{dossier.code}/").json()
    assert len(body["events"]) == 4
    assert len(longer) == len(short)


def test_unknown_and_invisible_dossiers_are_404(org, version, frozen):
    dossier = receive(org, version)
    assert client_for(org.clerk).get("/api/v1/dossiers/000.00.10.H01-251124-9999/").status_code == 404
    response = client_for(org.officer_b).get(f"/api/v1/dossiers/{dossier.code}/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    response = client_for(org.officer_b).post(transitions_url(dossier), {"transition": "start"}, format="json")
    assert response.status_code == 404


def test_transition_through_the_api(org, version, frozen):
    dossier = receive(org, version)
    response = client_for(org.clerk).post(
        transitions_url(dossier), {"transition": "start", "comment": "Chuyển phòng chuyên môn",
                                   "expected_version": 1}, format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["state"] == "in_progress" and body["version"] == 2
    assert body["events"][-1]["comment"] == "Chuyển phòng chuyên môn"
    response = client_for(org.officer).post(
        transitions_url(dossier),
        {"transition": "request_supplement", "missing_documents": ["Bản vẽ thiết kế"]}, format="json",
    )
    assert response.status_code == 200
    assert response.json()["events"][-1]["data"]["missing_documents"] == ["Bản vẽ thiết kế"]


def test_transition_errors_map_to_400_403_409(org, version, frozen):
    dossier = receive(org, version)
    url = transitions_url(dossier)
    response = client_for(org.clerk).post(url, {"transition": "approve"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    response = client_for(org.clerk).post(url, {"transition": "return_result"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "transition_not_allowed" and "Đã tiếp nhận" in body["detail"]
    response = client_for(org.clerk).post(url, {"transition": "fly"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    response = client_for(org.clerk).post(url, {"transition": "withdraw"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "required"
    act(dossier, "start", org.clerk)
    response = client_for(org.officer).post(
        url, {"transition": "forward", "expected_version": 1}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "concurrent_change"
    assert Dossier.objects.get(pk=dossier.pk).version == 2


def test_a_clerk_cannot_approve(org, version, frozen):
    dossier = dossier_in(org, version, "awaiting_approval")
    response = client_for(org.clerk).post(transitions_url(dossier), {"transition": "approve"}, format="json")
    assert response.status_code == 403
    response = client_for(org.leader).post(transitions_url(dossier), {"transition": "approve"}, format="json")
    assert response.status_code == 200 and response.json()["state"] == "result_ready"


def test_provisional_code_in_the_url(org, version, frozen):
    dossier = submit_online(org, version)
    response = client_for(org.clerk).post(transitions_url(dossier), {"transition": "receive"}, format="json")
    assert response.status_code == 200
    assert response.json()["code"].startswith("000.00.10.H01-")
    assert response.json()["provisional_code"] == dossier.code


def test_upload_through_the_api(org, version, frozen, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = str(tmp_path)
    dossier = receive(org, version)
    url = f"/api/v1/dossiers/{dossier.code}/attachments/"
    good = SimpleUploadedFile("scan.pdf", b"%PDF-1.4\n%%EOF\n", content_type="application/pdf")
    response = client_for(org.clerk).post(url, {"file": good, "kind": "scan"}, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["content_type"] == "application/pdf"
    bad = SimpleUploadedFile("scan.pdf", b"MZ\x90\x00 not a pdf", content_type="application/pdf")
    response = client_for(org.clerk).post(url, {"file": bad, "kind": "scan"}, format="multipart")
    assert response.status_code == 400 and response.json()["code"] == "upload_type"


def test_schema_documents_the_dossier_endpoints(org):
    response = client_for(org.clerk).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = json.loads(response.content)["paths"]
    for path in ("/api/v1/dossiers/", "/api/v1/dossiers/{code}/", "/api/v1/dossiers/{code}/transitions/"):
        assert path in paths
    assert "post" in paths["/api/v1/dossiers/"] and "get" in paths["/api/v1/dossiers/"]
    assert "409" in paths["/api/v1/dossiers/{code}/transitions/"]["post"]["responses"]
