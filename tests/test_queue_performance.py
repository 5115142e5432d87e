"""The officer queue at scale and its one gap: received dossiers wait for the officer of the
first processing step; counts stop at a cap; the procedure filter comes from the catalogue; the
search follows one trigram index; a page merges the queue's parts in order; the query count
stays flat."""

# ruff: noqa: F811 - pytest fixtures imported from tests.test_dossier_screens

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from dossiers import selectors
from dossiers.models import OPEN_STATES, Dossier, State
from dossiers.selectors import DossierFilters, dossier_queue, dossier_queue_procedures
from dossiers.views import lists
from motcua import calendar
from motcua.models import Role
from tests.test_dossier_screens import (  # noqa: F401  (fixtures)
    AN,
    BUSINESS_CODE,
    EXTRACT_CODE,
    NGOC,
    NOTARY_CODE,
    act,
    at_officer,
    fast_passwords,
    login,
    receive,
    world,
)


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The queue keeps its counts and filter choices per user for a few seconds."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def codes(qs) -> list[str]:
    return [d.code for d in qs]


def page_codes(html: str) -> list[str]:
    rows = html.split("<tbody>")[1].split("</tbody>")[0].split("<tr ")[1:] if "<tbody>" in html else []
    return [r.split('class="code-link"')[1].split(">")[1].split("<")[0] for r in rows]


# ---------------------------------------------------------------------------------------------
# The gap: a dossier received at the desk waits for the first step's officers too
# ---------------------------------------------------------------------------------------------


def test_received_dossier_waits_in_the_queue_of_the_first_step_officers(world):
    received = receive(world)
    assert received.state == State.RECEIVED
    assert received.code in codes(dossier_queue(user=world.officer))
    assert received.code in codes(dossier_queue(user=world.officer2))
    # the desk still has it to hand over
    assert received.code in codes(dossier_queue(user=world.clerk))


def test_received_dossier_is_not_in_other_units_or_leaders_queues(world):
    received = receive(world)
    assert received.code not in codes(dossier_queue(user=world.officer_b))
    assert received.code not in codes(dossier_queue(user=world.leader))
    assert received.code not in codes(
        dossier_queue(user=world.leader, filters=DossierFilters(to_assign=True))
    )


def test_officer_takes_a_received_dossier_from_the_queue_and_becomes_its_handler(client, world):
    received = receive(world)
    login(client, world.officer)
    html = client.get(reverse("dossier-queue"), {"state": "received"}).content.decode()
    assert page_codes(html) == [received.code]
    assert 'Mới tiếp nhận <span class="count">1</span>' in html
    assert '<option value="start">Chuyển xử lý</option>' in html
    assert "Mới tiếp nhận" in html  # the officer's name for the tab
    response = client.post(reverse("dossier-bulk"), {
        "action": "start", "pick": [f"{received.code}@{received.version}"],
        "next": reverse("dossier-queue"),
    })
    after = client.get(response["Location"]).content.decode()
    assert "Chuyển xử lý: 1 thành công" in after
    # the user's own action forgets the cached tab counts
    assert 'Mới tiếp nhận <span class="count">0</span>' in after
    assert 'Đang xử lý <span class="count">1</span>' in after
    received.refresh_from_db()
    assert received.state == State.IN_PROGRESS and received.current_handler == world.officer
    # now at the officer's step: only the handler has it
    assert received.code in codes(dossier_queue(user=world.officer))
    assert received.code not in codes(dossier_queue(user=world.officer2))


def test_received_dossier_whose_first_step_is_another_units_is_not_offered(world):
    from procedures.services import procedure_create
    from tests.test_dossier_screens import SO_TU_PHAP, _steps, civil_extract

    data = civil_extract()
    data.code = "9.000001.000.00.00.H01"
    # the first processing step is the leader's (a direct signature), then HCTP's officer
    data.steps = _steps(
        ("Tiếp nhận hồ sơ", "MC", "clerk", 2), ("Ký duyệt", "LD", "leader", 4),
        ("Xử lý hồ sơ", "HCTP", "officer", 16), ("Trả kết quả", "MC", "clerk", 2),
    )
    data.agency_code = SO_TU_PHAP
    version = procedure_create(data=data, actor=None).current_version
    received = receive(world, version=version)
    assert received.code not in codes(dossier_queue(user=world.officer))


def test_an_officer_who_is_also_the_desk_sees_a_received_dossier_once(world):
    from motcua.models import Role, StaffRole, Unit
    from tests.test_dossier_screens import SO_TU_PHAP

    StaffRole.objects.create(user=world.officer, role=Role.CLERK,
                             unit=Unit.objects.get(agency__code=SO_TU_PHAP, code="MC"))
    received = receive(world)
    parts = selectors.dossier_queue_parts(user=world.officer)
    found = [d.code for part in parts for d in part]
    assert found.count(received.code) == 1
    assert codes(dossier_queue(user=world.officer)).count(received.code) == 1


# ---------------------------------------------------------------------------------------------
# A page merges the queue's parts in the queue's order
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("sort", ["due", "newest"])
def test_queue_page_merges_received_and_in_progress_rows_in_order(client, world, monkeypatch, sort):
    import time_machine

    from tests.test_dossier_screens import MONDAY_9

    monkeypatch.setattr(lists, "PAGE_SIZE", 3)
    with time_machine.travel(MONDAY_9 - timedelta(days=7), tick=False):
        at_officer(world, version=world.extract)
    with time_machine.travel(MONDAY_9 - timedelta(days=3), tick=False):
        receive(world, version=world.extract, applicant=NGOC)
    with time_machine.travel(MONDAY_9 - timedelta(days=1), tick=False):
        at_officer(world)
        receive(world)
    with time_machine.travel(MONDAY_9, tick=False):
        receive(world, version=world.extract)
        expected = codes(dossier_queue(user=world.officer, filters=DossierFilters(ordering=sort)))
        login(client, world.officer)
        params = {} if sort == "due" else {"sort": "newest"}
        first = client.get(reverse("dossier-queue"), params).content.decode()
        second = client.get(reverse("dossier-queue"), {**params, "page": 2}).content.decode()
    assert len(expected) == 5
    assert page_codes(first) + page_codes(second) == expected
    assert "Trang 2/2" in second


# ---------------------------------------------------------------------------------------------
# Counts stop at the cap
# ---------------------------------------------------------------------------------------------


def test_counts_above_the_cap_read_more_than_and_pages_go_on(client, world, monkeypatch):
    monkeypatch.setattr(lists, "COUNT_CAP", 3)
    monkeypatch.setattr(lists, "PAGE_SIZE", 2)
    made = [at_officer(world, applicant={**AN, "name": f"Người nộp {i}"}) for i in range(5)]
    login(client, world.officer)
    html = client.get(reverse("dossier-queue")).content.decode()
    assert "Hơn <strong>3</strong> hồ sơ" in html
    assert 'Đang xử lý <span class="count">hơn 3</span>' in html
    assert "Trang 1<" in html and 'rel="next"' in html  # no total page count
    last = client.get(reverse("dossier-queue"), {"page": 3}).content.decode()
    assert len(page_codes(last)) == 1 and 'rel="next"' not in last and 'rel="prev"' in last
    seen = set()
    for number in (1, 2, 3):
        seen |= set(page_codes(client.get(reverse("dossier-queue"), {"page": number}).content.decode()))
    assert seen == {d.code for d in made}


def test_counts_under_the_cap_are_exact(client, world, monkeypatch):
    monkeypatch.setattr(lists, "COUNT_CAP", 3)
    at_officer(world)
    receive(world)
    login(client, world.officer)
    html = client.get(reverse("dossier-queue")).content.decode()
    assert "<strong>2</strong> hồ sơ" in html
    assert "{#" not in html and "{%" not in html  # no template syntax leaks into the page
    assert 'Tất cả <span class="count">2</span>' in html
    assert 'Mới tiếp nhận <span class="count">1</span>' in html
    searched = client.get(reverse("dossier-queue"), {"q": "nguyen van an"}).content.decode()
    assert "<strong>2</strong> hồ sơ" in searched


def test_capped_counts_answer_several_querysets_in_one_query(world, django_assert_num_queries):
    for _ in range(4):
        at_officer(world)
    receive(world)
    parts = {
        "all": Dossier.objects.all(),
        "in_progress": Dossier.objects.filter(state=State.IN_PROGRESS),
        "none": Dossier.objects.none().filter(pk=-1),
    }
    with django_assert_num_queries(1):
        counts = selectors.capped_counts(parts, cap=3)
    assert counts == {"all": 4, "in_progress": 4, "none": 0}


# ---------------------------------------------------------------------------------------------
# The procedure filter, from the catalogue
# ---------------------------------------------------------------------------------------------


def test_procedure_choices_are_the_procedures_of_the_users_units(world, django_assert_num_queries):
    with django_assert_num_queries(2):  # the roles, then the choices
        officer = [code for code, _name in dossier_queue_procedures(user=world.officer)]
    assert set(officer) == {NOTARY_CODE, EXTRACT_CODE}
    assert [c for c, _n in dossier_queue_procedures(user=world.officer_b)] == [BUSINESS_CODE]
    assert {c for c, _n in dossier_queue_procedures(user=world.clerk)} == {NOTARY_CODE, EXTRACT_CODE}
    assert {c for c, _n in dossier_queue_procedures(user=world.leader)} == {NOTARY_CODE, EXTRACT_CODE}


def test_every_procedure_in_a_queue_is_among_its_filter_choices(world):
    at_officer(world)
    receive(world, version=world.extract)
    for user in (world.officer, world.clerk, world.leader, world.officer_b, world.clerk_b):
        offered = {code for code, _n in dossier_queue_procedures(user=user)}
        waiting = set(dossier_queue(user=user).values_list(
            "procedure_version__procedure__code", flat=True))
        assert waiting <= offered


def test_a_procedure_choice_filters_the_queue(client, world):
    notary = at_officer(world)
    extract = receive(world, version=world.extract)
    login(client, world.officer)
    html = client.get(reverse("dossier-queue"), {"procedure": EXTRACT_CODE}).content.decode()
    assert page_codes(html) == [extract.code] and notary.code not in page_codes(html)


# ---------------------------------------------------------------------------------------------
# Search: one expression, one trigram index
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", [
    "+84 912 345 678", "0912.345.678", "345678", "089085", "nguyen an", "NGUYỄN VĂN", "-0001",
])
def test_search_finds_by_phone_id_name_or_code_part(world, query):
    found = at_officer(world)
    other = at_officer(world, applicant=NGOC)
    query = query if query != "-0001" else found.code[-8:]
    result = codes(dossier_queue(user=world.officer, filters=DossierFilters(q=query)))
    assert found.code in result and other.code not in result


def test_search_by_whole_code_in_lower_case(world):
    found = at_officer(world)
    result = codes(dossier_queue(user=world.officer, filters=DossierFilters(q=found.code.lower())))
    assert result == [found.code]


def test_search_with_like_wildcards_matches_them_literally(world):
    at_officer(world)
    assert codes(dossier_queue(user=world.officer, filters=DossierFilters(q="%"))) == []
    assert codes(dossier_queue(user=world.officer, filters=DossierFilters(q="_"))) == []


def test_queue_search_uses_the_trigram_index(world):
    at_officer(world)
    # The search condition alone: whatever else the queue's plan reads on a tiny table, the
    # expression must be the index's (else PostgreSQL could not use it at all).
    qs = Dossier.objects.filter(state__in=OPEN_STATES).filter(
        selectors._search("0912345678")).values("pk")
    sql, params = qs.query.sql_with_params()
    with connection.cursor() as cursor:
        # On a table of a few rows any index would do: drop the others
        # (the test's transaction puts them back).
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'dossiers_dossier' "
            "AND indexdef NOT LIKE 'CREATE UNIQUE%%' AND indexname <> 'dossier_search_trgm_idx'"
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "dossier_search_trgm_idx" in plan, plan


def _closed(dossier: Dossier) -> Dossier:
    Dossier.objects.filter(pk=dossier.pk).update(state=State.RETURNED)
    return dossier


def test_the_last_digits_of_a_phone_or_id_number_find_closed_dossiers_too(world):
    """A run of digits: anywhere in an open dossier's code, phone or ID number; at the end of
    the phone or ID number of any dossier (the staff search reads closed ones too)."""
    open_an = at_officer(world)  # AN: phone 0912345678, ID 089085000123
    closed_an = _closed(at_officer(world))
    closed_ngoc = _closed(at_officer(world, applicant=NGOC))  # phone 0987654321
    closed_other = _closed(at_officer(world, applicant={**NGOC, "phone": "0934567890",
                                                        "id_number": "089190001111"}))

    def search(q):
        return set(codes(selectors.dossier_search(user=world.supervisor,
                                                  filters=DossierFilters(q=q))))

    assert search("345678") == {open_an.code, closed_an.code}  # AN's phone ends so
    assert search("000123") == {open_an.code, closed_an.code}  # AN's ID number ends so
    assert search("654321") == {closed_ngoc.code}
    # "3456" is inside AN's phone and the third one's: open dossiers only
    assert search("3456") == {open_an.code}
    assert closed_other.code not in search("4567") and closed_other.code in search("7890")
    assert search("8") == {open_an.code, closed_an.code}  # any run: the same rule


def test_the_last_digits_are_read_through_the_suffix_indexes(world):
    at_officer(world)
    qs = selectors.dossier_search(user=world.supervisor, filters=DossierFilters(q="345678"))
    sql, params = qs.values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        # On a table of a few rows any plan would do: no sequential or whole-index read, so
        # that the plan shows whether every branch has an index (else it could not be used).
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "BitmapOr" in plan, plan
    # (the open dossiers' branch takes whichever open-dossier index is cheapest on a few rows;
    # over ten million, the trigram one)
    for index in ("dossier_phone_suffix_idx", "dossier_id_number_suffix_idx"):
        assert index in plan, plan


def test_received_part_of_the_queue_uses_its_index(world):
    receive(world)
    part = selectors.dossier_queue_parts(user=world.officer)[1]
    sql, params = part.values("pk")[:26].query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # A range of the received dossiers by their first officer unit: no probe of the steps.
    assert "dossier_received_unit_due_idx" in plan, plan
    assert "dossierstep" not in plan, plan


def test_reception_records_the_first_officer_unit(world):
    received = receive(world)
    first = received.steps.order_by("position").exclude(pk=received.current_step_id).first()
    assert first.role == Role.OFFICER
    assert received.first_officer_unit_id == first.unit_id
    received.refresh_from_db()
    assert received.first_officer_unit_id == first.unit_id


def test_an_online_submission_gets_its_first_officer_unit_when_the_desk_receives_it(world):
    from dossiers.services import dossier_submit_online

    submitted = dossier_submit_online(procedure_version=world.notary, applicant=NGOC)
    assert submitted.first_officer_unit_id is None  # no process yet
    assert submitted.code not in codes(dossier_queue(user=world.officer))
    received = act(submitted, "receive", world.clerk)
    received.refresh_from_db()
    assert received.state == State.RECEIVED
    assert received.first_officer_unit.code == "HCTP"
    assert received.code in codes(dossier_queue(user=world.officer))


# ---------------------------------------------------------------------------------------------
# Query counts: flat in the rows, for every variant of the page
# ---------------------------------------------------------------------------------------------

VARIANTS = [
    {}, {"sort": "newest"}, {"state": "in_progress"}, {"state": "received"}, {"due": "overdue"},
    {"q": "nguyen"}, {"procedure": NOTARY_CODE}, {"page": 2},
]


def _queries(client, params, **headers) -> int:
    from django.core.cache import cache
    from django.test.utils import CaptureQueriesContext

    cache.clear()  # the worst case: tab counts and procedure choices read again
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("dossier-queue"), params, **headers).status_code == 200
    return len(captured.captured_queries)


def test_queue_page_query_counts_do_not_grow_with_rows(client, world, settings,
                                                       django_assert_max_num_queries):
    # The calendar asks whether an admin changed a day off every 2 s: a query that depends on
    # the clock, not on the rows (bench/queue.py pins it the same way).
    settings.MOTCUA_CALENDAR_RECHECK_SECONDS = 3600
    calendar.invalidate()  # the next request reads the calendar, then not for an hour
    login(client, world.officer)
    client.get(reverse("dossier-queue"))  # the calendar's cache
    at_officer(world)
    receive(world)
    small = {str(p): _queries(client, p) for p in VARIANTS}
    for i in range(30):
        at_officer(world, applicant={**AN, "name": f"Người nộp {i}"})
        receive(world, applicant={**NGOC, "name": f"Người nộp {i}"})
    large = {str(p): _queries(client, p) for p in VARIANTS}
    assert large == small
    # session, user, roles (2), procedure choices, tab counts, the two parts' keys, the rows
    from django.core.cache import cache

    cache.clear()
    with django_assert_max_num_queries(9):
        client.get(reverse("dossier-queue"))
    # the htmx refresh of a search: no tab counts, one capped count instead
    with django_assert_max_num_queries(9):
        client.get(reverse("dossier-queue"), {"q": "nguyen"},
                   HTTP_HX_REQUEST="true", HTTP_HX_TARGET="dossier-results")


# ---------------------------------------------------------------------------------------------
# Overdue / due soon: the appointment, or the sweep's flag; each an index range of its own
# ---------------------------------------------------------------------------------------------


def _due(dossier, *, delta: timedelta, overdue=False, due_soon=False) -> Dossier:
    Dossier.objects.filter(pk=dossier.pk).update(
        due_at=timezone.now() + delta, is_overdue=overdue, is_due_soon=due_soon)
    return dossier


def test_due_soon_lists_appointments_within_a_working_day_and_flagged_ones(client, world):
    soon = _due(at_officer(world), delta=timedelta(minutes=5))
    flagged = _due(at_officer(world), delta=timedelta(days=30), due_soon=True)
    later = _due(at_officer(world), delta=timedelta(days=30))
    late = _due(at_officer(world), delta=timedelta(days=-1), overdue=True)
    received = _due(receive(world), delta=timedelta(minutes=5))
    paused = _due(act(at_officer(world), "request_supplement", world.officer,
                      reasons=["Thiếu bản sao"]), delta=timedelta(minutes=5))
    html = login(client, world.officer).get(reverse("dossier-queue"), {"due": "soon"}).content.decode()
    assert set(page_codes(html)) == {soon.code, flagged.code, received.code}
    assert "<strong>3</strong> hồ sơ" in html
    assert later.code not in html and late.code not in html and paused.code not in html


def test_overdue_lists_passed_appointments_and_flagged_ones(client, world):
    passed = _due(at_officer(world), delta=timedelta(hours=-2))
    flagged = _due(at_officer(world), delta=timedelta(days=3), overdue=True)
    on_time = _due(at_officer(world), delta=timedelta(days=3))
    received = _due(receive(world), delta=timedelta(days=-1))
    html = login(client, world.officer).get(reverse("dossier-queue"), {"due": "overdue"}).content.decode()
    assert page_codes(html) == [received.code, passed.code, flagged.code]  # appointment order
    assert "<strong>3</strong> hồ sơ" in html and on_time.code not in html


def test_due_filters_of_the_export_match_the_page(client, world):
    passed = _due(at_officer(world), delta=timedelta(hours=-2))
    flagged = _due(at_officer(world), delta=timedelta(days=3), overdue=True)
    _due(at_officer(world), delta=timedelta(days=3))
    login(client, world.officer)
    listing = lists._listing(
        type("R", (), {"GET": {"due": "overdue"}, "user": world.officer})(), "queue", export=True)
    assert sorted(codes(listing.queryset)) == sorted([passed.code, flagged.code])


def test_a_filtered_total_is_kept_and_forgotten_by_the_users_own_bulk_action(client, world,
                                                                           monkeypatch):
    # A search the walk leaves to the trigram index (a rare word: tests/test_queue_walk.py),
    # counted once and kept; a walked search tells its total afresh on every page.
    monkeypatch.setattr(selectors, "WALK_BUDGET", 1)
    monkeypatch.setattr(selectors, "WALK_ROWS_PER_ROW", 0)
    received = receive(world, applicant={**AN, "name": "Hoàng Thị Yến"})
    login(client, world.officer)
    search = {"q": "hoang thi yen"}
    html = client.get(reverse("dossier-queue"), search).content.decode()
    assert page_codes(html) == [received.code] and "<strong>1</strong> hồ sơ" in html
    other = receive(world, applicant={**AN, "name": "Hoàng Thị Yến"})
    kept = client.get(reverse("dossier-queue"), search).content.decode()
    # the rows are read again, the total is the one counted a moment ago (15 s per user)
    assert set(page_codes(kept)) == {received.code, other.code}
    assert "<strong>1</strong> hồ sơ" in kept
    client.post(reverse("dossier-bulk"), {
        "action": "start", "pick": [f"{received.code}@{received.version}"],
        "next": reverse("dossier-queue"),
    })
    after = client.get(reverse("dossier-queue"), search).content.decode()
    assert "<strong>2</strong> hồ sơ" in after  # counted again


def test_rows_beyond_a_kept_total_still_show_with_a_next_link(client, world, monkeypatch):
    monkeypatch.setattr(lists, "PAGE_SIZE", 2)
    made = [receive(world, applicant={**AN, "name": "Đinh Văn Khoa"}) for _ in range(2)]
    login(client, world.officer)
    search = {"q": "dinh van khoa"}
    html = client.get(reverse("dossier-queue"), search).content.decode()
    assert 'rel="next"' not in html and len(page_codes(html)) == 2
    made.append(receive(world, applicant={**AN, "name": "Đinh Văn Khoa"}))  # within the 15 s
    html = client.get(reverse("dossier-queue"), search).content.decode()
    assert 'rel="next"' in html and "page=2" in html
    second = client.get(reverse("dossier-queue"), {**search, "page": 2})
    assert second.status_code == 200
