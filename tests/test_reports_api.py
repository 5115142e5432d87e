"""``GET /api/v1/reports/summary/`` (CONTRACT.md): shape, filters, bad input, permissions."""

from __future__ import annotations

import pytest
import time_machine

from motcua.models import Role
from tests.dossier_factories import eager_celery, org, staff, version  # noqa: F401
from tests.reports_factories import NOW, awkward_data

CONTRACT_FIGURES = {
    "received", "received_online", "carried_over", "resolved_early", "resolved_on_time",
    "resolved_late", "pending_in_time", "pending_overdue", "supplements", "refusals",
    "withdrawals", "apologies", "ratings", "satisfied_share", "online_share", "on_time_share",
}


@pytest.fixture
def supervisor(org):  # noqa: F811
    return staff("giamsat", (org.units_a["LD"], Role.SUPERVISOR))


@pytest.fixture
def api(client):
    def get(user, **params):
        client.force_login(user)
        with time_machine.travel(NOW, tick=False):
            return client.get("/api/v1/reports/summary/", params)
    return get


def test_summary_has_the_contract_shape(org, version, supervisor, api):  # noqa: F811
    awkward_data(org, version)
    response = api(supervisor, **{"from": "2025-11-24", "to": "2025-11-30", "group_by": "agency"})
    assert response.status_code == 200
    body = response.json()
    assert body["from"] == "2025-11-24" and body["to"] == "2025-11-30"
    assert CONTRACT_FIGURES <= set(body["totals"])
    assert body["totals"]["received"] == 8
    row = next(r for r in body["rows"] if r["key"] == org.a.id)
    assert row["label"] == org.a.name and row["received"] == 7
    assert CONTRACT_FIGURES <= set(row)


def test_agency_filter_takes_the_national_code(org, version, supervisor, api):  # noqa: F811
    awkward_data(org, version)
    body = api(supervisor, **{"from": "2025-11-24", "to": "2025-11-30",
                              "agency": org.b.code}).json()
    assert body["totals"]["received"] == 1 and body["rows"] == []


@pytest.mark.parametrize("params, code", [
    ({"from": "24/11/2025"}, "invalid_query"),
    ({"group_by": "colour"}, "invalid_query"),
    ({"from": "2025-12-02", "to": "2025-12-01"}, "invalid_period"),
    ({"agency": "999.99.99.H99"}, "unknown_agency"),
])
def test_bad_input_is_refused_with_a_code(org, supervisor, api, params, code):  # noqa: F811
    response = api(supervisor, **params)
    assert response.status_code == 400
    assert response.json()["code"] == code


def test_clerk_gets_403_and_anonymous_401(org, client):  # noqa: F811
    assert client.get("/api/v1/reports/summary/").status_code in (401, 403)
    client.force_login(org.clerk)
    response = client.get("/api/v1/reports/summary/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_leader_gets_only_their_units_dossiers(org, version, api):  # noqa: F811
    awkward_data(org, version)
    body = api(org.leader_b, **{"from": "2025-11-24", "to": "2025-11-30"}).json()
    assert body["totals"]["received"] == 1


def test_token_authentication_works(org, supervisor, client):  # noqa: F811
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=supervisor)
    response = client.get("/api/v1/reports/summary/",
                          HTTP_AUTHORIZATION=f"Token {token.key}")
    assert response.status_code == 200
