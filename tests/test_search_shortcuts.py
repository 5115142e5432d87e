"""The dossier search's exact shortcuts (dossiers.selectors._search): a whole code, a whole
mobile number, a whole citizen ID number find the same dossiers as the substring search, by
equality on their own indexes instead of the trigram index (which cannot narrow them over ten
million dossiers: docs/bulk-data.md "Ten million dossiers")."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dossiers.selectors import dossier_search
from tests.dossier_factories import APPLICANT, frozen, org, receive, version  # noqa: F401

pytestmark = pytest.mark.django_db


def found(user, q: str) -> tuple[set[str], str]:
    with CaptureQueriesContext(connection) as ctx:
        codes = set(dossier_search(user=user, filters={"q": q}).values_list("code", flat=True))
    return codes, ctx.captured_queries[-1]["sql"]


def test_whole_codes_phones_and_id_numbers_are_found_by_equality(org, version, frozen):
    mine = receive(org, version)
    other = receive(org, version, applicant={**APPLICANT, "phone": "0987654321",
                                            "id_number": "089185000456"})
    for q in (mine.code, mine.code.lower(), f"  {mine.code} ", "0912345678", "0912 345 678",
              "+84912345678", "089085000123"):
        codes, sql = found(org.superuser, q)
        assert codes == {mine.code}, q
        assert " LIKE " not in sql.upper(), (q, sql)
    assert found(org.superuser, other.code)[0] == {other.code}


def test_parts_still_go_through_the_substring_search(org, version, frozen):
    mine = receive(org, version)
    for q in (mine.code.rsplit("-", 1)[0], "0912345", "08908500", "Nguyễn Văn", "van an"):
        codes, sql = found(org.superuser, q)
        assert mine.code in codes, q
        assert " LIKE " in sql.upper(), (q, sql)


def test_a_whole_code_of_a_dossier_out_of_sight_finds_nothing(org, version, frozen):
    mine = receive(org, version)
    assert found(org.leader_b, mine.code)[0] == set()  # another agency's leader
    assert found(org.leader_b, "0912345678")[0] == set()


def test_the_api_list_counts_up_to_its_cap_and_says_more_beyond(org, version, frozen, monkeypatch):
    from rest_framework.test import APIClient

    from dossiers.api.pagination import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "COUNT_CAP", 3)
    for _ in range(5):
        receive(org, version)
    client = APIClient()
    client.force_authenticate(org.superuser)
    with CaptureQueriesContext(connection) as ctx:
        body = client.get("/api/v1/dossiers/").json()
    assert body["count"] == 4  # the cap + 1: "more than 3"
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT 4" in sql for sql in counts), counts
    assert len(body["results"]) == 4  # pages end at the cap: narrow the filter for the rest
    assert client.get("/api/v1/dossiers/", {"page": 2}).status_code == 404
