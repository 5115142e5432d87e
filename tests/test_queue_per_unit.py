"""The queue of a person who holds many units, read one unit (and state) at a time: a page is
the same rows in the same order as the whole queue read as one query (``dossier_queue``),
for every filter, sort and page, with ties on the appointment, without a dossier twice, in
a number of statements that does not depend on the units (docs/queue-performance.md,
round 3)."""

# ruff: noqa: F811 - pytest fixtures imported from tests.test_dossier_screens

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from dossiers import permissions, selectors
from dossiers.models import Dossier, State
from dossiers.selectors import DossierFilters, QueuePart, dossier_queue
from dossiers.views import lists
from motcua import calendar
from motcua.models import Role, StaffRole, Unit
from tests.test_dossier_screens import (  # noqa: F401  (fixtures)
    AN,
    SO_TU_PHAP,
    act,
    at_officer,
    fast_passwords,
    login,
    receive,
    world,
)
from tests.test_queue_performance import _fresh_cache, page_codes  # noqa: F401  (fixture)


def _units(n: int) -> list[Unit]:
    """``n`` processing units of different agencies (HCTP, the world's officer unit, first)."""
    hctp = Unit.objects.get(agency__code=SO_TU_PHAP, code="HCTP")
    others = Unit.objects.filter(is_reception=False).exclude(code__in=["LD", "HCTP", "VP"])
    return [hctp, *others.order_by("agency__code", "code")[: n - 1]]


def _hold(user, role: str, units: list[Unit]) -> None:
    for unit in units:
        StaffRole.objects.get_or_create(user=user, role=role, unit=unit)
    permissions.forget(user)


def _shape(dossier: Dossier, **values) -> Dossier:
    """Put a dossier where the test wants it (unit, appointment, flags): the queue reads these
    columns only."""
    Dossier.objects.filter(pk=dossier.pk).update(**values)
    dossier.refresh_from_db()
    return dossier


@pytest.fixture
def many(world):
    """``world.officer`` holds the officer role in five units; dossiers wait in each of them at
    the officer's step (in progress, paused, assigned to someone else), received for their
    first step, overdue, due soon, flagged by the sweep, with shared appointments."""
    units = _units(5)
    _hold(world.officer, Role.OFFICER, units)
    now = timezone.now()
    soon = calendar.add_working_hours(now, 1)
    shared = now + timedelta(days=3)  # many dossiers due at the same moment
    made = []
    for i in range(15):
        unit = units[i % len(units)]
        d = at_officer(world, applicant={**AN, "name": f"Người nộp {i}"})
        due = {0: shared, 1: now - timedelta(days=2 + i), 2: soon, 3: now + timedelta(days=10 + i),
               4: shared}[i % 5]
        made.append(_shape(d, current_unit=unit, due_at=due, is_overdue=(i % 7 == 0),
                           is_due_soon=(i % 4 == 0)))
    # paused: in the queue, never overdue or due soon
    for i in range(2):
        paused = act(at_officer(world), "request_supplement", world.officer,
                     reasons=["Thiếu bản sao"])
        made.append(_shape(paused, current_unit=units[i + 1], due_at=now - timedelta(days=1)))
    # another officer's: not in this officer's queue
    _shape(at_officer(world), current_unit=units[2], current_handler=world.officer2,
           due_at=now - timedelta(days=9))
    for i in range(6):
        d = receive(world, applicant={**AN, "name": f"Mới nhận {i}"})
        due = [shared, now - timedelta(hours=5 + i), soon][i % 3]
        made.append(_shape(d, first_officer_unit=units[i % len(units)], due_at=due,
                           is_overdue=(i == 2)))
    # received for a unit the officer does not hold
    _shape(receive(world), first_officer_unit=Unit.objects.get(agency__code=SO_TU_PHAP, code="LD"))
    return units


def _expected(user, params: dict) -> list[str]:
    filters = DossierFilters(state=params.get("state") or None,
                             ordering="newest" if params.get("sort") == "newest" else "due")
    qs = dossier_queue(user=user, filters=filters)
    if params.get("due"):
        qs = lists._due_filter(qs, params["due"])
    return [d.code for d in qs]


def _pages(client, params: dict) -> list[list[str]]:
    pages, number = [], 1
    while True:
        html = client.get(reverse("dossier-queue"), {**params, "page": number}).content.decode()
        pages.append(page_codes(html))
        if 'rel="next"' not in html or number > 30:
            return pages
        number += 1


VARIANTS = [
    {}, {"sort": "newest"}, {"due": "overdue"}, {"due": "soon"}, {"state": "in_progress"},
    {"state": "received"}, {"state": "supplement_requested"},
    {"state": "in_progress", "due": "overdue"}, {"sort": "newest", "due": "overdue"},
    {"state": "supplement_requested", "due": "overdue"},
]


@pytest.mark.parametrize("params", VARIANTS, ids=[str(v) for v in VARIANTS])
def test_an_officer_of_many_units_pages_through_the_same_rows_as_one_query(
        client, world, many, monkeypatch, params):
    monkeypatch.setattr(lists, "PAGE_SIZE", 3)
    login(client, world.officer)
    pages = _pages(client, params)
    expected = _expected(world.officer, params)
    assert [code for page in pages for code in page] == expected
    assert all(len(page) == 3 for page in pages[:-1])


def test_the_many_units_fixture_reaches_deep_pages_and_both_due_groups(world, many):
    everything = _expected(world.officer, {})
    overdue = _expected(world.officer, {"due": "overdue"})
    assert len(everything) == 23  # 15 + 2 paused + 6 received: eight pages of three
    assert len(overdue) >= 8
    flagged_later = Dossier.objects.filter(
        code__in=overdue, is_overdue=True, due_at__gt=timezone.now())
    assert flagged_later.exists()  # the page crosses from the first group into the second


@pytest.mark.parametrize("start,stop", [(0, 1), (0, 26), (2, 5), (5, 12), (20, 23), (22, 40)])
def test_any_slice_of_the_queue_is_the_slice_of_the_single_query(world, many, start, stop):
    request = type("R", (), {"GET": {}, "user": world.officer})()
    rows = lists._listing(request, "queue").rows
    expected = _expected(world.officer, {})
    assert [d.code for d in rows[start:stop]] == expected[start:stop]


def test_ties_on_the_appointment_follow_the_id_across_units(world, monkeypatch):
    units = _units(4)
    _hold(world.officer, Role.OFFICER, units)
    due = timezone.now() + timedelta(days=2)
    made = [_shape(at_officer(world), current_unit=units[(7 - i) % 4], due_at=due)
            for i in range(8)]
    received = _shape(receive(world), first_officer_unit=units[3], due_at=due)
    request = type("R", (), {"GET": {}, "user": world.officer})()
    rows = lists._listing(request, "queue").rows
    ids = sorted(d.pk for d in [*made, received])
    assert [d.pk for d in rows[0:9]] == ids
    assert [d.pk for d in rows[3:6]] == ids[3:6]


def test_a_dossier_in_two_pieces_of_the_queue_is_shown_once(client, world, monkeypatch):
    # Officer of HCTP and of another unit, and clerk of Sở Tư pháp's desk: a received dossier
    # is at the desk's step (clerk), in the desk's work, and waiting for the first step; a
    # paused one is at the officer's step and awaited at the desk.
    units = _units(2)
    _hold(world.officer, Role.OFFICER, units)
    _hold(world.officer, Role.CLERK, [Unit.objects.get(agency__code=SO_TU_PHAP, code="MC")])
    received = receive(world)
    paused = act(at_officer(world), "request_supplement", world.officer,
                 reasons=["Thiếu bản sao"])
    working = _shape(at_officer(world), current_unit=units[1])
    monkeypatch.setattr(lists, "PAGE_SIZE", 2)
    login(client, world.officer)
    for params in ({}, {"state": "received"}, {"state": "supplement_requested"},
                   {"due": "overdue"}):
        shown = [code for page in _pages(client, params) for code in page]
        assert len(shown) == len(set(shown)), params
        assert shown == _expected(world.officer, params), params
    everything = [code for page in _pages(client, {}) for code in page]
    assert sorted(everything) == sorted([received.code, paused.code, working.code])
    pieces = selectors.dossier_queue_pieces(user=world.officer)
    found = [d.code for part in pieces for d in part.whole]
    assert sorted(found) == sorted(everything)


def test_a_leader_of_many_units_sees_the_same_rows_as_one_query(client, world, monkeypatch):
    units = _units(3)
    _hold(world.leader, Role.LEADER, units)
    base = timezone.now() + timedelta(days=1)
    for i in range(5):
        d = act(act(at_officer(world), "forward", world.officer), "submit_for_approval",
                world.officer)
        _shape(d, current_unit=units[i % 3], due_at=base + timedelta(hours=i % 2))
    monkeypatch.setattr(lists, "PAGE_SIZE", 2)
    login(client, world.leader)
    shown = [code for page in _pages(client, {}) for code in page]
    assert shown == _expected(world.leader, {}) and len(shown) == 5


def _page_queries(client, params=None) -> list[str]:
    from django.core.cache import cache

    cache.clear()
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("dossier-queue"), params or {}).status_code == 200
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize("params", [{}, {"due": "overdue"}, {"state": "in_progress"},
                                    {"page": 3}])
def test_a_page_reads_its_rows_in_one_statement_whatever_the_units(client, world, settings,
                                                                   params):
    settings.MOTCUA_CALENDAR_RECHECK_SECONDS = 3600
    calendar.invalidate()
    login(client, world.officer)
    client.get(reverse("dossier-queue"))  # the calendar's cache
    for i in range(4):
        at_officer(world, applicant={**AN, "name": f"Người nộp {i}"})
        receive(world)
    one_unit = _page_queries(client, params)
    units = _units(6)
    _hold(world.officer, Role.OFFICER, units)
    for i, unit in enumerate(units):
        _shape(at_officer(world), current_unit=unit, due_at=timezone.now() - timedelta(hours=i))
        _shape(receive(world), first_officer_unit=unit)
    six_units = _page_queries(client, params)
    assert len(six_units) == len(one_unit)
    # the rows of the page: one statement, every unit in it
    rows = [sql for sql in six_units if "LATERAL" in sql]
    assert len(rows) == 1
    assert "unnest" in rows[0] and "dossiers_dossier" in rows[0]


def test_the_per_unit_reads_follow_their_indexes(world):
    units = _units(3)
    _hold(world.officer, Role.OFFICER, units)
    at_officer(world)
    receive(world)
    request = type("R", (), {"GET": {}, "user": world.officer})()
    rows = lists._listing(request, "queue").rows
    with CaptureQueriesContext(connection) as captured:
        rows[0:26]
    sql = next(q["sql"] for q in captured.captured_queries if "LATERAL" in q["sql"])
    wanted = ("dossier_open_unit_state_due_idx", "dossier_received_unit_due_idx")
    with connection.cursor() as cursor:
        # On a table of a few rows any index would do: drop the others (the test's
        # transaction puts them back), and ask for no sort of a unit's rows.
        cursor.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'dossiers_dossier' "
            "AND indexdef NOT LIKE 'CREATE UNIQUE%%' AND indexname <> ALL(%s)", [list(wanted)]
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    # one range per unit and state, in appointment order (no sort below the LATERAL's Limit)
    assert "state = queue_state.state" in plan and "current_unit_id = queue_unit.id" in plan, plan
    assert "Index Only Scan using dossier_open_unit_state_due_idx" in plan, plan
    assert "first_officer_unit_id = queue_unit_1.id" in plan, plan
    assert "dossier_received_unit_due_idx" in plan, plan
    lines = plan.splitlines()
    under_limits = [below.strip() for line, below in zip(lines, lines[1:], strict=False)
                    if "->  Limit" in line]
    assert any(b.startswith("->  Index Only Scan using dossier_open_unit_state_due_idx")
               for b in under_limits), plan
    assert any(b.startswith("->  Index Scan using dossier_received_unit_due_idx")
               for b in under_limits), plan


def test_a_later_due_group_is_read_only_for_the_rows_the_first_lacks(world):
    units = _units(2)
    _hold(world.officer, Role.OFFICER, units)
    now = timezone.now()
    passed = [_shape(at_officer(world), current_unit=units[i % 2],
                     due_at=now - timedelta(hours=i + 1)) for i in range(3)]
    flagged = _shape(at_officer(world), current_unit=units[1], due_at=now + timedelta(days=2),
                     is_overdue=True)
    request = type("R", (), {"GET": {"due": "overdue"}, "user": world.officer})()
    rows = lists._listing(request, "queue").rows
    assert [d.pk for d in rows[0:2]] == [d.pk for d in sorted(passed, key=lambda d: d.due_at)][:2]
    assert [d.pk for d in rows[2:4]] == [passed[0].pk, flagged.pk]
    assert [d.pk for d in rows[3:10]] == [flagged.pk]
    with CaptureQueriesContext(connection) as captured:
        rows[0:2]
    sql = next(q["sql"] for q in captured.captured_queries if "LATERAL" in q["sql"])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + sql)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "never executed" in plan, plan  # the flagged ones: not needed for two rows


def test_without_lateral_the_parts_merged_are_the_same_page(world, many):
    """The road SQLite (the demo) takes: the same rows."""
    request = type("R", (), {"GET": {"due": "overdue"}, "user": world.officer})()
    rows = lists._listing(request, "queue").rows
    parts = [part for group in rows.groups for part in group]
    assert any(part.unit_field for part in parts)
    for start, stop in [(0, 3), (3, 9), (6, 40)]:
        merged = selectors._page_merged(parts, order=rows.order, start=start, stop=stop)
        assert [d.pk for d in merged] == [d.pk for d in rows[start:stop]]


def test_a_part_narrowed_to_no_state_holds_no_row(world):
    part = QueuePart(Dossier.objects.all(), "current_unit_id", (1, 2), (State.SUPPLEMENT_REQUESTED,))
    narrowed = part.filter(states=[State.IN_PROGRESS])
    assert narrowed.states == ()
    assert list(narrowed.whole) == []
    assert selectors.queue_page([[narrowed]], order=("due_at", "id"), start=0, stop=5) == []


def test_the_leaders_to_assign_tab_holds_every_unit_of_their_agency_read_per_unit(client, world):
    """Unassigned officer steps of the leader's agency (Sở Tư pháp): in any of its units, a
    closed one included; not another agency's, not an assigned one. Read per unit and state
    (index-only ranges), not by probing each dossier's step for its agency."""
    so_tu_phap = Unit.objects.filter(agency__code=SO_TU_PHAP, is_reception=False)
    hctp = so_tu_phap.get(code="HCTP")
    other_unit = Unit.objects.create(agency=hctp.agency, code="BTTP", name="Phòng Bổ trợ tư pháp")
    elsewhere = Unit.objects.filter(is_reception=False).exclude(agency__code=SO_TU_PHAP).first()
    base = timezone.now() + timedelta(days=1)
    waiting = _shape(at_officer(world), due_at=base)
    moved = _shape(at_officer(world), current_unit=other_unit, due_at=base + timedelta(hours=1))
    closed = _shape(at_officer(world), current_unit=other_unit, due_at=base + timedelta(hours=2))
    Unit.objects.filter(pk=other_unit.pk).update(is_active=False)  # closed since
    _shape(at_officer(world), current_unit=elsewhere)  # another agency's: not this leader's
    _shape(at_officer(world), current_handler=world.officer)  # assigned already
    assert waiting.current_unit_id == hctp.pk
    pieces = permissions.queue_pieces(world.leader, to_assign=True)
    assert len(pieces) == 1 and pieces[0].unit_field == "current_unit_id"
    assert {hctp.pk, other_unit.pk} <= set(pieces[0].units)
    assert elsewhere.pk not in pieces[0].units
    login(client, world.leader)
    with CaptureQueriesContext(connection) as captured:
        html = client.get(reverse("dossier-queue"), {"tab": "phan-cong"}).content.decode()
    assert page_codes(html) == [waiting.code, moved.code, closed.code]
    rows = [q["sql"] for q in captured.captured_queries if "LATERAL" in q["sql"]]
    assert len(rows) == 1 and "dossiers_dossierstep" not in rows[0]
