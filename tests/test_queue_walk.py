"""A search by words in the queue, read by walking the queue in appointment order
(``selectors.queue_walk``): the same rows in the same order as the whole queue searched as one
query, a total that is exact or says "more than", and the trigram path when the walk gives up
(docs/queue-performance.md, "Searching by a common name")."""

# ruff: noqa: F811 - pytest fixtures imported from tests.test_dossier_screens

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from dossiers import selectors
from dossiers.selectors import DossierFilters, dossier_queue, is_word_search, queue_walk
from dossiers.views import lists
from tests.test_dossier_screens import (  # noqa: F401  (fixtures)
    fast_passwords,
    login,
    world,
)
from tests.test_queue_per_unit import _pages, many  # noqa: F401  (fixture)
from tests.test_queue_performance import _fresh_cache, page_codes  # noqa: F401  (fixture)


def _expected(user, params: dict) -> list[str]:
    filters = DossierFilters(state=params.get("state") or None, q=params.get("q", ""),
                             ordering="newest" if params.get("sort") == "newest" else "due")
    qs = dossier_queue(user=user, filters=filters)
    if params.get("due"):
        qs = lists._due_filter(qs, params["due"])
    return [d.code for d in qs]


def _listing(user, params: dict):
    request = type("R", (), {"GET": params, "user": user})()
    return lists._listing(request, "queue")


# "nguoi nop": 15 dossiers at the officer's steps; "moi nhan": 6 received for the first step
# (the queue's second part only); "nop 1": "nop" and a "1" anywhere (a code, a phone);
# "khong co ai": none.
WORDS = ["nguoi nop", "moi nhan", "nop 1", "Người Nộp", "khong co ai"]
VARIANTS = [{}, {"due": "overdue"}, {"due": "soon"}, {"state": "in_progress"},
            {"state": "received"}, {"sort": "newest"}]


@pytest.mark.parametrize("words", WORDS)
@pytest.mark.parametrize("params", VARIANTS, ids=[str(v) for v in VARIANTS])
def test_a_search_pages_through_the_same_rows_as_one_query(client, world, many, monkeypatch,
                                                           words, params):
    monkeypatch.setattr(lists, "PAGE_SIZE", 3)
    login(client, world.officer)
    params = {**params, "q": words}
    shown = [code for page in _pages(client, params) for code in page]
    assert shown == _expected(world.officer, params)


def test_the_fixture_puts_matches_in_both_parts_of_the_queue(world, many):
    parts = selectors.dossier_queue_parts(user=world.officer,
                                          filters=DossierFilters(q="moi nhan"))
    assert len(parts) == 2 and not parts[0].exists() and parts[1].count() == 6
    assert len(_expected(world.officer, {"q": "nguoi nop"})) == 15


@pytest.mark.parametrize("start,stop", [(0, 1), (0, 4), (2, 5), (3, 7), (12, 16), (14, 30)])
def test_any_slice_of_a_walk_is_the_slice_of_the_single_query(world, many, start, stop):
    listing = _listing(world.officer, {"q": "nguoi nop"})
    walked = listing.walk(start=start, stop=stop)
    expected = _expected(world.officer, {"q": "nguoi nop"})
    assert [d.code for d in walked.rows] == expected[start:stop]
    if stop <= len(expected):  # a part filled the slice: rows may follow
        assert not walked.exact and walked.count == stop - 1
    else:  # read to the end: the total is known
        assert walked.exact and walked.count == len(expected)


def test_a_walk_read_to_the_end_counts_exactly(world, many):
    walked = _listing(world.officer, {"q": "moi nhan"}).walk(start=0, stop=26)
    assert walked.exact and walked.count == 6 and len(walked.rows) == 6
    nothing = _listing(world.officer, {"q": "khong co ai"}).walk(start=0, stop=26)
    assert nothing.exact and nothing.count == 0 and nothing.rows == []


def test_the_walk_gives_up_when_its_budget_runs_out_and_the_page_is_counted_as_before(
        client, world, many, monkeypatch):
    monkeypatch.setattr(selectors, "WALK_BUDGET", 1)
    monkeypatch.setattr(selectors, "WALK_ROWS_PER_ROW", 1)
    listing = _listing(world.officer, {"q": "nop 1"})
    # four rows read do not settle a page of four: the walk gives up
    assert listing.walk(start=0, stop=4) is None
    monkeypatch.setattr(lists, "PAGE_SIZE", 3)
    login(client, world.officer)
    shown = [code for page in _pages(client, {"q": "nop 1"}) for code in page]
    expected = _expected(world.officer, {"q": "nop 1"})
    assert shown == expected
    html = client.get(reverse("dossier-queue"), {"q": "nop 1"}).content.decode()
    count = re.search(r'class="results-count"[^>]*>(.*?)</p>', html, re.S).group(1)
    assert f"<strong>{len(expected)}</strong> hồ sơ" in count, count  # counted, exactly


def test_a_common_name_shows_more_than_the_page_without_counting(client, world, many,
                                                                 monkeypatch, settings):
    from django.core.cache import cache

    monkeypatch.setattr(lists, "PAGE_SIZE", 3)
    login(client, world.officer)
    client.get(reverse("dossier-queue"))  # the tab counts, kept 15 s
    with CaptureQueriesContext(connection) as captured:
        html = client.get(reverse("dossier-queue"), {"q": "nguoi nop"}).content.decode()
    assert "Hơn <strong>3</strong> hồ sơ" in html
    assert 'rel="next"' in html and len(page_codes(html)) == 3
    statements = [q["sql"] for q in captured.captured_queries]
    assert sum("WITH walk AS MATERIALIZED" in sql for sql in statements) == 2  # one per part
    assert not [sql for sql in statements if "capped_" in sql]  # nothing counted
    cache.clear()
    html = client.get(reverse("dossier-queue"), {"q": "moi nhan", "page": 2}).content.decode()
    assert "Hơn <strong>6</strong> hồ sơ" not in html and 'rel="next"' not in html


def test_searches_by_a_whole_code_phone_or_id_number_are_not_walked(world, many):
    dossier_code = _expected(world.officer, {})[0]
    assert _listing(world.officer, {"q": dossier_code}).walk is None
    assert _listing(world.officer, {"q": "nguoi nop"}).walk is not None
    assert _listing(world.officer, {}).walk is None


@pytest.mark.parametrize("q,words", [
    ("nguyen hoang", True), ("Lê Văn", True), ("an 0912", True),
    ("0912", False), ("345678", False),
    ("0912345678", False), ("0912 345 678", False), ("+84912345678", False),
    ("84912345678", False), ("089085000123", False), ("000.00.01.H30-251124-0001", False),
    ("TT-251124-AB12CD34", False), ("", False), ("   ", False),
])
def test_which_searches_are_by_words(q, words):
    assert is_word_search(q) is words


def test_the_walk_reads_only_in_appointment_order(world, many):
    parts = selectors.dossier_queue_parts(user=world.officer,
                                          filters=DossierFilters(ordering="newest"))
    assert queue_walk(parts, "nguoi nop", order=("-created_at", "-id"), start=0, stop=4) is None
