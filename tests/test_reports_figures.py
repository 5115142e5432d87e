"""The reports' summary tables (reports/figures.py, reports/stored.py): figures read from them
equal the live reference definition for every period and slice; the incremental run catches
what changed; the rebuild is idempotent and one at a time."""

from __future__ import annotations

import random
from datetime import date, timedelta

import psycopg2
import pytest
import time_machine
from django.db import connection

from reports.figures import LOCK_KEY, figures_rebuild, figures_refresh
from reports.models import DailyFigure, FigureState, MonthlyStock
from reports.selectors import (
    Period,
    Scope,
    report_summaries,
    report_summary,
    weekly_trend,
)
from tests.dossier_factories import act, eager_celery, org, version  # noqa: F401
from tests.reports_factories import NOW, awkward_data

SLICES = (["agency"], ["procedure"], ["field"], ["channel"], ["agency", "field", "procedure"])


@pytest.fixture
def data(org, version):  # noqa: F811
    d = awkward_data(org, version)
    with time_machine.travel(NOW, tick=False):
        figures_rebuild()
    return d


def _both(period: Period, group_bys, **kw):
    stored = report_summaries(period=period, group_bys=group_bys, now=NOW, **kw)
    live = report_summaries(period=period, group_bys=group_bys, now=NOW, live=True, **kw)
    return stored, live


def _assert_same(period, group_bys, **kw):
    stored, live = _both(period, group_bys, **kw)
    for g in group_bys:
        assert stored[g].figures_at is not None, "the stored path was not taken"
        assert live[g].figures_at is None
        assert stored[g].totals == live[g].totals, (period, g)
        assert stored[g].rows == live[g].rows, (period, g)


def test_rebuild_fills_flows_and_the_monthly_stock(data):
    state = FigureState.objects.get(pk=1)
    assert state.built_through == date(2025, 12, 2)  # yesterday of NOW
    assert DailyFigure.objects.filter(day=date(2025, 11, 24)).exists()
    # 1/12: received in November and still running at its start (all but refused/withdrawn
    # and the one resolved on 26/11).
    december = sum(MonthlyStock.objects.filter(month=date(2025, 12, 1))
                   .values_list("in_progress", flat=True))
    live = report_summary(period=Period(date(2025, 12, 1), date(2025, 12, 3)), now=NOW,
                          live=True)
    assert december == live.totals["carried_over"]


def test_stored_figures_equal_the_live_definition_for_the_story_weeks(data):
    for period in (Period.iso_week(2025, 48), Period.iso_week(2025, 49),
                   Period(date(2025, 11, 1), date(2025, 12, 3)),
                   Period(date(2025, 12, 3), date(2025, 12, 3)),
                   Period(date(2025, 12, 1), date(2025, 12, 31))):
        for group_bys in SLICES:
            _assert_same(period, group_bys)


def test_stored_figures_equal_the_live_definition_for_random_periods(data, org):  # noqa: F811
    rng = random.Random(8)
    first = date(2025, 11, 10)
    for _round in range(25):
        a = first + timedelta(days=rng.randrange(0, 24))
        b = a + timedelta(days=rng.randrange(0, 20))
        period = Period(a, b)
        if a > date(2025, 12, 3):
            continue
        _assert_same(period, rng.choice(SLICES))
        agency = rng.choice([org.a.pk, org.b.pk, None])
        stored = report_summary(period=period, agency_id=agency, now=NOW, group_by="channel")
        live = report_summary(period=period, agency_id=agency, now=NOW, group_by="channel",
                              live=True)
        assert stored.totals == live.totals and stored.rows == live.rows


def test_whole_period_summary_and_agency_filter_match(data):
    period = Period(date(2025, 11, 20), date(2025, 12, 3))
    stored = report_summary(period=period, now=NOW)
    live = report_summary(period=period, now=NOW, live=True)
    assert stored.figures_at is not None and stored.totals == live.totals
    for row in live.rows or report_summary(period=period, now=NOW, group_by="agency",
                                           live=True).rows:
        one = report_summary(period=period, now=NOW, agency_id=row["key"])
        assert one.totals == report_summary(period=period, now=NOW, agency_id=row["key"],
                                            live=True).totals


def test_stored_summary_query_count_does_not_grow_with_rows(data,
                                                          django_assert_max_num_queries):
    # state, stored days, live tail, month stock, month's days before, pending, versions,
    # labels
    with django_assert_max_num_queries(8):
        summary = report_summary(period=Period(date(2025, 11, 26), date(2025, 12, 3)),
                                 group_by="procedure", now=NOW)
    assert summary.figures_at is not None


def test_weekly_trend_from_the_tables_equals_the_scan(data):
    with time_machine.travel(NOW, tick=False):
        stored = weekly_trend(weeks=4, today=date(2025, 12, 3))
        live = weekly_trend(weeks=4, today=date(2025, 12, 3), live=True)
    assert stored == live
    assert sum(w["received"] for w in stored) > 0


def test_unit_leaders_and_uncovered_periods_are_counted_live(data, org):  # noqa: F811
    unit = Scope(unit_ids=(org.units_a["CM"].pk,))
    assert report_summary(period=Period.iso_week(2025, 49), scope=unit, now=NOW).figures_at \
        is None
    FigureState.objects.filter(pk=1).update(built_through=date(2025, 11, 20))
    assert report_summary(period=Period.iso_week(2025, 49), now=NOW).figures_at is None


def test_incremental_run_catches_a_change_to_an_old_day(data, org):  # noqa: F811
    """A supplement asked today for a dossier received last week changes the ``supplements``
    of its day of reception: the event log leads the incremental run to that day."""
    later = NOW + timedelta(hours=2)
    with time_machine.travel(later, tick=False):
        act(data.overdue, "request_supplement", org.officer,
            missing_documents=["Bản sao giấy khai sinh"])
    period = Period.iso_week(2025, 48)
    with time_machine.travel(later + timedelta(minutes=10), tick=False):
        done = figures_refresh()
        assert done is not None
        assert any(a <= date(2025, 11, 24) <= b for a, b in done["ranges"])
        now = later + timedelta(minutes=10)
        stored = report_summary(period=period, now=now, group_by="agency")
        live = report_summary(period=period, now=now, group_by="agency", live=True)
    assert stored.totals == live.totals and stored.rows == live.rows


def test_rebuilding_twice_gives_the_same_rows(data):
    def rows():
        return sorted(DailyFigure.objects.values_list(
            "day", "agency_id", "procedure_version_id", "channel", "received", "resolved_late",
            "exits", "ratings"))

    before = rows()
    with time_machine.travel(NOW, tick=False):
        figures_rebuild()
        figures_refresh()
    assert rows() == before


def test_a_second_rebuild_while_one_runs_skips_or_waits(data, settings):
    db = connection.settings_dict
    other = psycopg2.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"] or None,
                             port=db["PORT"] or None, password=db["PASSWORD"] or None)
    try:
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
        with time_machine.travel(NOW, tick=False):
            assert figures_refresh() is None  # the beat's run: skips
            assert figures_rebuild(wait=False) is None
        with other.cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])
        with time_machine.travel(NOW, tick=False):
            assert figures_rebuild(wait=False) is not None  # free again: it runs
    finally:
        other.close()


def test_dashboard_staff_figures_from_the_table_equal_the_steps(data):
    from reports.selectors import staff_performances

    for period in (Period.iso_week(2025, 48), Period(date(2025, 11, 20), date(2025, 12, 3)),
                   Period(date(2025, 12, 2), date(2025, 12, 3))):
        stored = staff_performances(period=period, with_dossiers=False, with_ratings=False)
        live = staff_performances(period=period)
        assert stored["unit"], period
        for by in ("unit", "officer"):
            keep = ("key", "label", "handled", "on_time", "late", "on_time_share", "apologies")
            assert [{k: r[k] for k in keep} for r in stored[by]] == \
                [{k: r[k] for k in keep} for r in live[by]], (period, by)


def test_rebuilding_an_old_range_does_not_skip_days_never_rebuilt(data):
    """The task was stopped after 26/11; a manual rebuild of 20–22/11 leaves the table final
    through 26/11 only (27/11–2/12 are counted live), and the next incremental run fills the
    gap."""
    FigureState.objects.filter(pk=1).update(built_through=date(2025, 11, 26))
    with time_machine.travel(NOW, tick=False):
        figures_rebuild(start=date(2025, 11, 20), end=date(2025, 11, 22))
        assert FigureState.objects.get(pk=1).built_through == date(2025, 11, 26)
        _assert_same(Period(date(2025, 11, 24), date(2025, 12, 3)), ["agency"])
        done = figures_refresh()
    assert any(a <= date(2025, 11, 27) and b >= date(2025, 12, 2) for a, b in done["ranges"])
    assert FigureState.objects.get(pk=1).built_through == date(2025, 12, 2)


def test_command_rebuilds_with_progress_and_the_task_refreshes(data):
    from io import StringIO

    from django.core.management import call_command

    from reports.tasks import refresh_figures

    out = StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("rebuild_report_figures", "--from", "2025-11-24", "--to", "2025-11-30",
                     stdout=out)
        assert "01/11/2025–30/11/2025" in out.getvalue()  # whole months, a line each
        assert "dòng" in out.getvalue()
        assert refresh_figures().endswith(" s")
        out = StringIO()
        call_command("rebuild_report_figures", "--incremental", stdout=out)
    _assert_same(Period.iso_week(2025, 48), ["procedure"])


def test_public_page_says_when_its_figures_were_built(data, rf):
    from django.core.cache import cache

    from reports.views import public_figures

    cache.clear()
    with time_machine.travel(NOW, tick=False):
        response = public_figures(rf.get("/so-lieu/"))
    cache.clear()
    assert response.status_code == 200
    assert "Số liệu đến 12:00 ngày 03/12/2025" in response.content.decode()


def test_the_dashboard_counts_todays_live_figures_once(data, org, client, monkeypatch):  # noqa: F811
    """The dashboard's table and its weekly trend both end today, which the tables do not
    hold yet: the live count of today runs once per page (figures.shared_live_flows), and the
    page shows what two separate counts showed."""
    import contextlib

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from motcua.models import Role
    from tests.dossier_factories import staff

    live = "CROSS JOIN LATERAL (VALUES"
    client.force_login(staff("giamsat_live", (org.units_a["LD"], Role.SUPERVISOR)))
    with time_machine.travel(NOW, tick=False):
        with CaptureQueriesContext(connection) as shared:
            once = client.get("/staff/reports/")
        monkeypatch.setattr("reports.views.shared_live_flows", contextlib.nullcontext)
        with CaptureQueriesContext(connection) as separate:
            twice = client.get("/staff/reports/")
    assert sum(live in q["sql"] for q in shared.captured_queries) == 1
    assert sum(live in q["sql"] for q in separate.captured_queries) == 2
    assert once.status_code == twice.status_code == 200
    tables = [r.content.decode().split('id="report-table"', 1)[1] for r in (once, twice)]
    assert tables[0] == tables[1]
