"""Reading the whole dossier list by cursor (``GET /api/v1/dossiers/?pagination=cursor``):
every dossier the user may see, once, in the list's order, whatever the order, ties and empty
appointments included; dossiers arriving meanwhile neither repeat nor hide others; a bad
cursor is a 400 with a Vietnamese message; each page costs the same queries at any depth."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dossiers import selectors
from dossiers.api.pagination import DossierPagination
from dossiers.models import Dossier
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    client_for,
    frozen,
    org,
    receive,
    submit_online,
    version,
)

pytestmark = pytest.mark.django_db

LIST = "/api/v1/dossiers/"


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(DossierPagination, "page_size", 3)


def read_all(client, **params) -> tuple[list[str], int]:
    """Follow the ``next`` links from the first cursor page: (codes in order, pages read)."""
    response = client.get(LIST, {**params, "pagination": "cursor"})
    codes, pages = [], 0
    while True:
        assert response.status_code == 200, response.content
        body = response.json()
        assert body["count"] is None and body["previous"] is None
        codes += [d["code"] for d in body["results"]]
        pages += 1
        if body["next"] is None:
            return codes, pages
        assert pages < 100, "the cursor does not move on"
        response = client.get(body["next"])


@pytest.fixture
def mixed(org, version, frozen):
    """Nine received at three moments (three share each moment, so their reception time
    and appointment tie) and two online submissions without an appointment."""
    for moment in range(3):
        if moment:
            frozen.shift(timedelta(hours=1))
        for _ in range(3):
            receive(org, version)
    submit_online(org, version)
    submit_online(org, version)


@pytest.mark.parametrize("ordering", list(selectors.ORDERINGS))
def test_cursor_reads_every_dossier_once_in_the_lists_order(org, mixed, small_pages, ordering):
    clerk = client_for(org.clerk)
    codes, pages = read_all(clerk, ordering=ordering)
    visible = selectors.dossier_search(user=org.clerk, filters={"ordering": ordering})
    assert codes == [d.code for d in visible]
    assert len(codes) == 11 and len(set(codes)) == 11
    assert pages == 4  # 3 + 3 + 3 + 2


def test_ties_on_the_moment_are_ordered_by_id(org, version, frozen, small_pages):
    # Time stands still: every reception has the same created_at and appointment.
    made = [receive(org, version) for _ in range(8)]
    codes, _pages = read_all(client_for(org.clerk))
    assert codes == [d.code for d in reversed(made)]
    codes, _pages = read_all(client_for(org.clerk), ordering="due")
    assert codes == [d.code for d in made]


def test_dossiers_received_meanwhile_neither_repeat_nor_hide_others(org, version, frozen, small_pages):
    before = [receive(org, version) for _ in range(7)]
    clerk = client_for(org.clerk)
    first = clerk.get(LIST, {"pagination": "cursor"}).json()
    frozen.shift(60)
    arrived = [receive(org, version) for _ in range(4)]  # newer: before the cursor, not after
    codes = [d["code"] for d in first["results"]]
    response = clerk.get(first["next"])
    while True:
        body = response.json()
        codes += [d["code"] for d in body["results"]]
        if not body["next"]:
            break
        response = clerk.get(body["next"])
    assert codes == [d.code for d in reversed(before)]
    assert not {d.code for d in arrived} & set(codes)


def test_filters_and_scope_hold_on_every_cursor_page(org, version, frozen, small_pages):
    other = dict(APPLICANT, name="Trần Thị Bích Ngọc", phone="0987654321", id_number="089190004567")
    mine = [receive(org, version, applicant=other) for _ in range(5)]
    for _ in range(4):
        receive(org, version)
    codes, _pages = read_all(client_for(org.clerk), q="bich ngoc")
    assert codes == [d.code for d in reversed(mine)]
    # Another agency's clerk follows the same kind of link and sees nothing of it.
    assert read_all(client_for(org.clerk_b)) == ([], 1)
    token = client_for(org.clerk).get(LIST, {"pagination": "cursor"}).json()["next"]
    assert client_for(org.clerk_b).get(token).json()["results"] == []


def test_page_mode_is_unchanged_by_default(org, version, frozen):
    receive(org, version)
    body = client_for(org.clerk).get(LIST).json()
    assert body["count"] == 1 and body["next"] is None and body["previous"] is None


@pytest.mark.parametrize("token", [
    "not-base64!", base64.urlsafe_b64encode(b"not json").decode(),
    base64.urlsafe_b64encode(json.dumps({"o": "newest", "v": "yesterday", "id": 1}).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps({"o": "newest", "v": "2025-11-24T09:00:00", "id": 1}).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps({"o": "newest", "v": None, "id": "1"}).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps({"v": None, "id": 1}).encode()).decode(),
    base64.urlsafe_b64encode(json.dumps([1, 2]).encode()).decode(),
])
def test_a_bad_cursor_is_a_400_in_vietnamese(org, version, frozen, token):
    response = client_for(org.clerk).get(LIST, {"cursor": token})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_cursor" and "Con trỏ trang không hợp lệ" in body["detail"]


def test_a_cursor_of_another_order_is_refused(org, version, frozen, small_pages):
    for _ in range(4):
        receive(org, version)
    clerk = client_for(org.clerk)
    link = clerk.get(LIST, {"pagination": "cursor", "ordering": "due"}).json()["next"]
    token = link.split("cursor=")[1].split("&")[0]
    response = clerk.get(LIST, {"cursor": token, "ordering": "newest"})
    assert response.status_code == 400 and response.json()["code"] == "invalid_cursor"


def test_a_cursor_page_costs_the_same_queries_at_any_depth(org, version, frozen, small_pages):
    for _ in range(10):
        receive(org, version)
    clerk = client_for(org.clerk)

    def queries(url, params=None) -> tuple[int, dict]:
        with CaptureQueriesContext(connection) as captured:
            response = clerk.get(url, params)
        return len(captured), response.json(), captured

    first, body, _ = queries(LIST, {"pagination": "cursor"})
    second, body, _ = queries(body["next"])
    third, body, captured = queries(body["next"])
    assert first == second == third
    rows = [q["sql"] for q in captured.captured_queries if 'FROM "dossiers_dossier"' in q["sql"]]
    assert rows and all("COUNT(" not in sql and "OFFSET" not in sql for sql in rows)
    assert any('("dossiers_dossier"."created_at", "dossiers_dossier"."id") <' in sql for sql in rows)


def test_the_schema_names_the_cursor_and_a_count_that_may_be_null(org):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/dossiers/"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"page", "pagination", "cursor"} <= names
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert page["properties"]["count"]["nullable"] is True


def test_after_a_null_appointment_on_this_database(org, version, frozen):
    """The selector alone, both directions, around the online submissions' empty appointment."""
    received = [receive(org, version) for _ in range(2)]
    online = [submit_online(org, version) for _ in range(2)]
    ids = {d.pk for d in received + online}
    for ordering in ("due", "-due"):
        ordered = list(selectors.dossier_search(user=org.clerk, filters={"ordering": ordering}))
        assert {d.pk for d in ordered} == ids
        for i, row in enumerate(ordered):
            rest = selectors.dossiers_after(
                selectors.dossier_search(user=org.clerk, filters={"ordering": ordering}),
                ordering=ordering, value=row.due_at, pk=row.pk,
            )
            assert [d.pk for d in rest] == [d.pk for d in ordered[i + 1:]]
    assert Dossier.objects.filter(due_at__isnull=True).count() == 2
