"""seed_bulk: bulk dossiers written inside PostgreSQL look like the services wrote them.

One module-wide data set (the demo organisation and catalogue, then 2,000 dossiers as of a
Wednesday afternoon) is committed once and flushed at the end; each test runs in its own
transaction on top of it, so the tests that write (a reception, a second load) leave nothing.
"""

# ruff: noqa: F811 - pytest fixtures

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import override_settings

from dossiers import bulk
from dossiers.models import (
    OPEN_STATES,
    Dossier,
    DossierCounter,
    DossierEvent,
    DossierStep,
    State,
)
from motcua import calendar
from procedures.selectors import procedure_time_limit

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
#: Wednesday 18 November 2026, 15:00: the data set is "now" then.
NOW = datetime(2026, 11, 18, 15, 0, tzinfo=TZ)
N = 2000
CODE = re.compile(r"^(?P<agency>\d{3}\.\d{2}\.\d{2}\.H\d{2})-(?P<day>\d{6})-(?P<seq>\d{4,})$")
LOADED = ["dossiers_dossier", "dossiers_dossierstep", "dossiers_dossierevent",
          "dossiers_dossierdocument", "dossiers_apology", "ratings_rating"]

postgres_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="seed_bulk writes with PostgreSQL's SQL"
)
pytestmark = [postgres_only, pytest.mark.django_db]


def _schema() -> list[tuple]:
    """Indexes, constraints and triggers of the loaded tables, as PostgreSQL defines them."""
    with connection.cursor() as cur:
        cur.execute(
            "SELECT tablename, indexname, indexdef FROM pg_indexes "
            "WHERE tablename = ANY(%s) ORDER BY 1, 2", [LOADED]
        )
        rows = [("index", *r) for r in cur.fetchall()]
        cur.execute(
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated "
            "FROM pg_constraint WHERE conrelid = ANY(%s::regclass[]) ORDER BY 1, 2", [LOADED]
        )
        rows += [("constraint", *r) for r in cur.fetchall()]
        cur.execute(
            "SELECT tgrelid::regclass::text, tgname, tgenabled FROM pg_trigger "
            "WHERE tgrelid = ANY(%s::regclass[]) AND NOT tgisinternal ORDER BY 1, 2", [LOADED]
        )
        rows += [("trigger", *r) for r in cur.fetchall()]
    return rows


@pytest.fixture(scope="module")
def data(django_db_setup, django_db_blocker):
    """The demo organisation and catalogue, then N bulk dossiers, committed; flushed after."""
    from motcua.demo import seed_organisation, seed_users
    from procedures.demo import seed_catalogue

    with django_db_blocker.unblock():
        try:
            with override_settings(
                PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"]
            ):
                with transaction.atomic():
                    seed_organisation()
                    seed_users(password="Mot-Cua-test-2026")
                seed_catalogue()
            schema_before = _schema()
            result = bulk.seed_bulk(dossiers=N, open_share=0.2, batch=700, now=NOW)
            yield {"result": result, "schema_before": schema_before}
        finally:
            call_command("flush", interactive=False, verbosity=0)


def official(dossiers) -> list[Dossier]:
    return [d for d in dossiers if not d.code.startswith("TT-")]


# ---------------------------------------------------------------------------------------------
# What was written
# ---------------------------------------------------------------------------------------------


def test_writes_the_dossiers_with_their_steps_and_events(data):
    result = data["result"]
    assert result.dossiers == N == Dossier.objects.count()
    assert result.steps == DossierStep.objects.count()
    assert result.events == DossierEvent.objects.count()
    assert result.mode == "rebuild"  # the load more than doubled an empty table
    per_dossier = result.events / result.dossiers
    assert 4.0 <= per_dossier <= 6.5, per_dossier
    received = Dossier.objects.exclude(state__in=[State.SUBMITTED, State.REFUSED]).count()
    assert 4 * received <= result.steps <= 5 * received
    assert not DossierStep.objects.filter(dossier__state__in=[State.SUBMITTED, State.REFUSED]).exists()


def test_every_state_is_present(data):
    states = Counter(Dossier.objects.values_list("state", flat=True))
    assert set(states) == set(State.values), states
    assert states[State.RETURNED] > states[State.WITHDRAWN] + states[State.STOPPED]


def test_the_open_share_is_about_what_was_asked(data):
    open_count = Dossier.objects.filter(state__in=OPEN_STATES).count()
    assert data["result"].open == open_count
    assert 0.17 <= open_count / N <= 0.23, open_count / N


def test_channels_are_mostly_at_the_desk(data):
    channels = Counter(Dossier.objects.values_list("channel", flat=True))
    assert channels["in_person"] > channels["online"] > channels["post"] > 0
    assert 0.55 <= channels["in_person"] / N <= 0.85


def test_received_over_the_last_year_in_office_hours(data):
    for received_at in Dossier.objects.exclude(received_at=None).values_list(
        "received_at", flat=True
    ):
        local = received_at.astimezone(TZ)
        assert calendar.is_working_day(local.date())
        clock = (local.hour, local.minute)
        assert (7, 30) <= clock < (11, 30) or (13, 0) <= clock < (17, 0), local
        assert (NOW - received_at).days <= 366 and received_at <= NOW


# ---------------------------------------------------------------------------------------------
# Codes and the counter
# ---------------------------------------------------------------------------------------------


def _sequences() -> dict[tuple[str, str], list[tuple[int, datetime]]]:
    seqs: dict[tuple[str, str], list[tuple[int, datetime]]] = defaultdict(list)
    rows = Dossier.objects.exclude(received_at=None).values_list(
        "code", "agency__code", "received_at"
    )
    for code, agency_code, received_at in rows:
        match = CODE.match(code)
        assert match, code
        assert match["agency"] == agency_code
        assert match["day"] == f"{received_at.astimezone(TZ):%y%m%d}"
        seqs[(agency_code, match["day"])].append((int(match["seq"]), received_at))
    return seqs


def test_codes_are_unique_and_gapless_per_agency_and_day(data):
    seqs = _sequences()
    assert seqs
    for key, numbers in seqs.items():
        ordered = sorted(numbers)
        assert [n for n, _ in ordered] == list(range(1, len(ordered) + 1)), key
        received = [at for _, at in ordered]
        assert received == sorted(received), f"{key}: numbers follow the order of reception"


def test_the_counter_table_agrees_with_the_codes(data):
    seqs = _sequences()
    counters = {
        (c.agency.code, f"{c.day:%y%m%d}"): c.last
        for c in DossierCounter.objects.select_related("agency")
    }
    assert counters == {key: len(numbers) for key, numbers in seqs.items()}


def test_online_dossiers_keep_a_unique_provisional_code(data):
    codes = list(Dossier.objects.filter(channel="online").values_list("provisional_code", flat=True))
    assert all(c and re.match(r"^TT-\d{6}-[2-9A-HJ-NP-Z]{8}$", c) for c in codes)
    assert len(set(codes)) == len(codes)
    refused = Dossier.objects.filter(state__in=[State.REFUSED, State.SUBMITTED])
    assert all(d.code == d.provisional_code and d.received_at is None for d in refused)


def test_a_real_reception_afterwards_gets_the_next_number(data):
    import time_machine

    from dossiers.services import dossier_receive_at_desk
    from motcua.models import Agency

    commune_codes = set(Agency.objects.filter(kind=Agency.Kind.COMMUNE).values_list("code", flat=True))
    (agency_code, day), numbers = max(
        ((k, v) for k, v in _sequences().items() if k[0] in commune_codes),
        key=lambda kv: len(kv[1]),
    )
    last = max(n for n, _ in numbers)
    moment = datetime.strptime(day, "%y%m%d").replace(hour=16, minute=30, tzinfo=TZ)
    from django.contrib.auth import get_user_model

    clerk = get_user_model().objects.get(username="clerk1")
    with time_machine.travel(moment, tick=False):
        dossier = dossier_receive_at_desk(
            procedure="2.000815.000.00.00.H01", agency=agency_code, channel="in_person",
            applicant={"name": "Trần Thị Bình", "id_number": "089185000321",
                       "phone": "0912000111"},
            actor=clerk,
        )
    assert dossier.code == f"{agency_code}-{day}-{last + 1:04d}"
    assert DossierCounter.objects.get(agency__code=agency_code, day=moment.date()).last == last + 1


def test_a_second_load_continues_every_sequence(data):
    before = Dossier.objects.count()
    result = bulk.seed_bulk(dossiers=300, now=NOW, seed=7)
    assert result.mode == "live"  # 300 new on top of 2,000: the indexes stay in place
    assert Dossier.objects.count() == before + 300
    test_codes_are_unique_and_gapless_per_agency_and_day(data)
    test_the_counter_table_agrees_with_the_codes(data)


# ---------------------------------------------------------------------------------------------
# The rows as the services would have left them
# ---------------------------------------------------------------------------------------------


def test_appointments_come_from_the_office_calendar(data):
    dossiers = Dossier.objects.exclude(received_at=None).select_related(
        "procedure_version"
    ).prefetch_related("procedure_version__time_limits")
    for d in dossiers:
        amount, unit = procedure_time_limit(version=d.procedure_version, channel=d.channel)
        assert d.original_due_at == calendar.deadline(d.received_at, amount, unit), d.code
        assert d.clock_started_at == d.received_at
        assert d.due_at >= d.original_due_at


def test_step_deadlines_come_from_their_allotment(data):
    steps = DossierStep.objects.exclude(started_at=None).select_related("dossier")
    for step in steps:
        expected = calendar.add_working_hours(step.started_at, step.hours)
        if step.dossier.supplement_requests and step.dossier.paused_hours and (
            step.dossier.state != State.SUPPLEMENT_REQUESTED
        ):
            assert step.due_at >= expected
        else:
            assert step.due_at == expected, (step.dossier.code, step.position)
        if step.finished_at:
            assert step.finished_at >= step.started_at
            assert step.on_time == (step.finished_at <= step.due_at)


def test_open_dossiers_stand_at_their_current_step(data):
    for d in Dossier.objects.filter(state__in=OPEN_STATES).exclude(state=State.SUBMITTED):
        step = d.current_step
        assert step is not None and step.dossier_id == d.pk, d.code
        assert (d.current_unit_id, d.current_role) == (step.unit_id, step.role)
        assert step.started_at is not None and step.finished_at is None
        expected_role = {
            State.RECEIVED: "clerk", State.IN_PROGRESS: "officer",
            State.SUPPLEMENT_REQUESTED: "officer", State.AWAITING_APPROVAL: "leader",
            State.RESULT_READY: "clerk",
        }[d.state]
        assert step.role == expected_role, (d.code, d.state, step.role)
    closed = Dossier.objects.exclude(state__in=OPEN_STATES)
    assert not closed.exclude(current_step=None).exists()
    assert not closed.exclude(current_role="").exists()


def test_the_event_log_tells_each_dossier_story_in_order(data):
    events: dict[int, list[DossierEvent]] = defaultdict(list)
    for e in DossierEvent.objects.order_by("dossier_id", "at", "id"):
        events[e.dossier_id].append(e)
    for d in Dossier.objects.all():
        story = [e for e in events[d.pk] if e.transition != "apology"]
        assert story, d.code
        assert story[-1].to_state == d.state, (d.code, [e.transition for e in story])
        for earlier, later in zip(story, story[1:], strict=False):
            assert later.from_state == earlier.to_state, (d.code, earlier.transition, later.transition)
        assert all(e.at <= NOW for e in events[d.pk])
        if d.channel == "online":
            assert story[0].transition == "submit"
        else:
            assert story[0].transition == "receive"


def test_timestamps_are_in_order(data):
    for d in Dossier.objects.exclude(received_at=None):
        if d.result_ready_at:
            assert d.received_at <= d.result_ready_at <= NOW
        if d.returned_at:
            assert d.result_ready_at <= d.returned_at == d.closed_at <= NOW
        if d.state in (State.WITHDRAWN, State.STOPPED):
            assert d.received_at <= d.closed_at <= NOW
        if d.submitted_at:
            assert d.submitted_at <= d.received_at


def test_some_are_late_and_get_their_apology_letters(data):
    """A dossier whose appointment passed while it was being worked on has one letter per
    missed appointment (the first ones written), and carries the last appointment given."""
    from dossiers.models import Apology

    letters = defaultdict(list)
    for a in Apology.objects.order_by("dossier_id", "number"):
        letters[a.dossier_id].append(a)
    resolved = list(Dossier.objects.filter(state__in=[State.RESULT_READY, State.RETURNED]))
    late = [d for d in resolved if letters[d.pk]]
    assert 0.04 <= len(late) / len(resolved) <= 0.14, len(late) / len(resolved)
    for d in resolved:
        chain = letters[d.pk]
        if not chain:
            assert d.result_ready_at <= d.due_at, d.code
            continue
        assert [a.number for a in chain] == list(range(1, len(chain) + 1))
        assert chain[0].for_due_at < d.result_ready_at, d.code
        assert chain[0].for_due_at >= d.original_due_at
        for a, b in zip(chain, chain[1:], strict=False):
            assert b.for_due_at == a.new_due_at
        assert all(a.issued_at == a.for_due_at and a.already_late for a in chain)
        assert d.due_at >= chain[-1].new_due_at and d.due_at >= d.result_ready_at
    events = DossierEvent.objects.filter(transition="apology").count()
    assert events == sum(len(c) for c in letters.values())


def test_overdue_and_due_soon_flags_are_as_the_sweep_sets_them(data):
    from dossiers.models import Apology

    apologised = set(Apology.objects.values_list("dossier_id", flat=True))
    running = Dossier.objects.filter(
        state__in=[State.RECEIVED, State.IN_PROGRESS, State.AWAITING_APPROVAL]
    )
    assert running.filter(is_overdue=True).exists()
    for d in running:
        assert d.is_overdue == (d.pk in apologised or d.due_at <= NOW), d.code
    assert not Dossier.objects.exclude(
        state__in=[State.RECEIVED, State.IN_PROGRESS, State.AWAITING_APPROVAL]
    ).filter(is_overdue=True).exists()


def test_the_officer_queue_reads_the_bulk_data(data, django_assert_max_num_queries):
    from django.contrib.auth import get_user_model

    from dossiers.selectors import dossier_queue

    officer = get_user_model().objects.get(username="officer1")
    with django_assert_max_num_queries(2):
        rows = list(dossier_queue(user=officer)[:25])
    assert rows and all(r.current_role == "officer" for r in rows)
    assert all(r.current_handler_id in (None, officer.pk) for r in rows)


def test_returned_dossiers_are_rated_by_about_three_in_ten(data):
    """Ratings come with the load (same draws as ``seed_bulk_ratings``, which then finds
    nothing left to rate), given after the return and never after now."""
    from ratings.models import Rating

    returned = Dossier.objects.filter(state=State.RETURNED).count()
    ratings = list(Rating.objects.select_related("dossier"))
    assert data["result"].ratings == len(ratings)
    assert 0.22 <= len(ratings) / returned <= 0.38, len(ratings) / returned
    levels = Counter(r.overall for r in ratings)
    assert levels["very_satisfied"] > levels["satisfied"] > levels["dissatisfied"] > 0
    for r in ratings:
        assert r.dossier.state == State.RETURNED
        assert r.dossier.returned_at <= r.created_at <= max(NOW, r.dossier.returned_at)
    assert bulk.seed_bulk_ratings() == 0


# ---------------------------------------------------------------------------------------------
# What must not change
# ---------------------------------------------------------------------------------------------


def test_indexes_constraints_and_triggers_are_as_before(data):
    assert _schema() == data["schema_before"]


def test_partial_and_expression_indexes_are_rebuilt_not_kept_live(data):
    """Their definitions round-trip (Django's ``IN`` words), so a large load builds them once
    at the end instead of updating them row by row."""
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(
            "SELECT i.indexrelid::regclass::text FROM pg_index i WHERE i.indrelid = "
            "'dossiers_dossier'::regclass AND (i.indpred IS NOT NULL OR i.indexprs IS NOT NULL)"
        )
        special = {name for (name,) in cur.fetchall()}
        window = bulk.LoadWindow(cur, tables=bulk.loaded_tables(), rebuild=True)
        window.open()
        rebuilt = {d.split()[2] if d.split()[1] == "INDEX" else d.split()[3]
                   for d in window.indexes}
        transaction.set_rollback(True)
    assert len(special) >= 5
    assert special <= rebuilt, special - rebuilt


def test_the_event_log_stays_append_only(data):
    event = DossierEvent.objects.order_by("id").first()
    for sql in ("UPDATE dossiers_dossierevent SET comment = 'x' WHERE id = %s",
                "DELETE FROM dossiers_dossierevent WHERE id = %s"):
        with pytest.raises(DatabaseError, match="append-only"):
            with transaction.atomic(), connection.cursor() as cur:
                cur.execute(sql, [event.pk])
    assert DossierEvent.objects.get(pk=event.pk).comment == event.comment


# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------


def test_refuses_on_a_database_other_than_postgresql(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(bulk.BulkError, match="PostgreSQL"):
        bulk.seed_bulk(dossiers=10)
    with pytest.raises(CommandError, match="PostgreSQL"):
        call_command("seed_bulk", "--dossiers", "10")


def test_refuses_without_a_catalogue():
    from procedures.models import Procedure

    # Whatever another test left committed, nothing can be received in this transaction.
    Procedure.objects.update(is_active=False)
    with pytest.raises(bulk.BulkError, match="seed_demo"):
        bulk.seed_bulk(dossiers=10, now=NOW)


@pytest.mark.parametrize(
    "kwargs", [{"dossiers": -1}, {"dossiers": 1, "open_share": 1.5}, {"dossiers": 1, "batch": 0},
               {"dossiers": 1, "indexes": "sometimes"}],
)
def test_refuses_bad_arguments(kwargs):
    with pytest.raises(bulk.BulkError):
        bulk.seed_bulk(**kwargs)


# ---------------------------------------------------------------------------------------------
# The pieces the statement is built from
# ---------------------------------------------------------------------------------------------


def test_sql_positions_turn_into_the_calendars_moments_at_every_boundary(data):
    """The inlined SQL conversions (the last office period is the CASE's ELSE) agree with the
    Python twin at openings, lunch, closings and in between, for both conventions."""
    from datetime import date

    axis = bulk.Axis.build(date(2026, 11, 2), date(2026, 12, 31))
    day = axis.day_sec
    positions = [0, 1, 59, 14399, 14400, 14401, 28799, day, day + 1, day + 14400, 5 * day - 1,
                 5 * day + 20000]
    with connection.cursor() as cur:
        for statement in axis.functions_sql():
            cur.execute(statement)
        for pos in positions:
            cur.execute("SELECT pg_temp.bulk_ts(%s), pg_temp.bulk_te(%s)", [pos, pos])
            starting, ending = cur.fetchone()
            assert starting == axis.moment(pos), pos
            if pos > 0:
                assert ending == axis.moment(pos, ending=True), pos
    # a count that ends exactly at lunch or at the closing ends there, not at the next opening
    assert axis.moment(14400, ending=True).astimezone(TZ).strftime("%H:%M") == "11:30"
    assert axis.moment(day, ending=True).astimezone(TZ).strftime("%H:%M") == "17:00"
    assert axis.moment(14400).astimezone(TZ).strftime("%H:%M") == "13:00"


def test_calibration_opens_about_the_asked_number_of_dossiers():
    from datetime import date

    cells = [bulk.Cell(agency=None, slot=0, k=k, day=date(2026, 1, 1), weight=1.0, avail=28800,
                       wall_max=0, age=float(age), n=n)
             for k, (age, n) in enumerate([(a % 250, 3 + a % 7) for a in range(2000)])]
    total = sum(c.n for c in cells)
    for target in (0, 1, total // 5, total // 2, total):
        bulk._calibrate(cells, target)
        expected = sum(c.n * c.p_open for c in cells)
        assert abs(expected - target) <= max(1.0, 0.001 * total), (target, expected)
        young, old = min(cells, key=lambda c: c.age), max(cells, key=lambda c: c.age)
        assert young.p_open >= old.p_open


def test_small_tables_are_filled_from_one_json_document():
    from decimal import Decimal

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("CREATE TEMP TABLE bulk_fill_check (a int, b text, c numeric[], d bool[], "
                    "e timestamptz, f int[]) ON COMMIT DROP")
        bulk._fill(cur, "bulk_fill_check", ["a", "b", "c", "d", "e", "f"], [
            (1, "Nguyễn Thị \"Bé\" 'Ba'", [Decimal("6.5"), Decimal("0")], [True, False], NOW,
             [None, 3]),
            (2, None, [], [], None, None),
        ])
        cur.execute("SELECT * FROM bulk_fill_check ORDER BY a")
        rows = cur.fetchall()
        transaction.set_rollback(True)
    assert rows == [
        (1, "Nguyễn Thị \"Bé\" 'Ba'", [Decimal("6.5"), Decimal("0")], [True, False], NOW,
         [None, 3]),
        (2, None, [], [], None, None),
    ]


def test_the_load_window_times_every_index_and_key_it_puts_back(data):
    with transaction.atomic(), connection.cursor() as cur:
        window = bulk.LoadWindow(cur, tables=bulk.loaded_tables(), rebuild=True)
        window.open()
        dropped = len(window.indexes) + len(window.constraints) + len(window.foreign_keys)
        window.restore()
        timings = list(window.timings)
        transaction.set_rollback(True)
    assert len(timings) == dropped > 20
    assert {kind for kind, *_ in timings} == {"index", "unique", "foreign key"}
    assert {table for _k, table, _n, _s in timings} <= set(LOADED)
    assert all(seconds >= 0 for *_, seconds in timings)
    assert ("index", "dossiers_dossier", "dossier_search_trgm_idx") in {t[:3] for t in timings}


def test_the_command_reports_its_progress_and_what_it_wrote(data):
    from io import StringIO

    out = StringIO()
    before = Dossier.objects.count()
    call_command("seed_bulk", "--dossiers", "120", "--batch", "50", "--seed", "11",
                 "--no-figures", stdout=out)
    text = out.getvalue()
    assert Dossier.objects.count() == before + 120
    assert "chế độ chỉ mục: live" in text
    assert re.search(r"lô 1/\d+: [\d,]+/120 hồ sơ", text), text
    assert "Đã sinh 120 hồ sơ" in text
