"""Report figures against hand-computed expectations (tests/reports_factories.py tells the
story of each dossier; docs/reports.md defines each figure)."""

from __future__ import annotations

from datetime import date

import pytest

from motcua.errors import PermissionDenied, ValidationError
from reports.selectors import (
    Period,
    Scope,
    figure_dossiers,
    report_scope_for,
    report_summary,
    staff_performance,
    weekly_trend,
)
from tests.dossier_factories import eager_celery, org, version  # noqa: F401
from tests.reports_factories import NOW, awkward_data

W48 = Period.iso_week(2025, 48)
W49 = Period.iso_week(2025, 49)


@pytest.fixture
def data(org, version):  # noqa: F811
    return awkward_data(org, version)


def test_iso_week_period_runs_monday_to_sunday():
    assert (W48.start, W48.end) == (date(2025, 11, 24), date(2025, 11, 30))
    assert W48.end_at.isoformat() == "2025-12-01T00:00:00+07:00"


def test_a_period_ending_before_it_starts_is_refused():
    with pytest.raises(ValidationError):
        Period(date(2025, 12, 2), date(2025, 12, 1))


def test_data_set_is_as_the_story_says(data):
    assert data.early.timeliness == "early"
    assert data.apologised.due_at > data.apologised.original_due_at
    assert data.apologised.result_ready_at < data.apologised.due_at  # within the extension
    assert data.boundary.channel == "online"
    assert data.second_rating_refused
    assert data.refused.received_at is None


def test_week_48_totals_match_hand_computed_figures(data):
    t = report_summary(period=W48, now=NOW).totals
    assert t["received"] == 8
    assert (t["received_in_person"], t["received_online"], t["received_post"]) == (7, 1, 0)
    assert t["carried_over"] == 0
    assert (t["resolved_early"], t["resolved_on_time"], t["resolved_late"]) == (1, 0, 0)
    # Measured at the week's end (1/12 00:00): on_time, apologised, overdue, supplement (paused),
    # boundary, other — none past its appointment yet.
    assert (t["pending_in_time"], t["pending_overdue"]) == (6, 0)
    assert (t["supplements"], t["refusals"], t["withdrawals"], t["stops"]) == (1, 1, 1, 0)
    assert t["apologies"] == 0
    assert t["ratings"] == 1  # the second attempt was refused
    assert t["satisfied_share"] == 1.0
    assert t["satisfied_share_time"] == 1.0
    assert t["satisfied_share_attitude"] == 0.0
    assert t["satisfied_share_guidance"] is None  # nobody answered it
    assert t["online_share"] == round(1 / 8, 4)
    assert t["on_time_share"] == 1.0
    assert t["digitised"] == 0 and t["digitised_share"] == 0.0


def test_week_49_counts_the_apologised_dossier_late_and_the_carried_over(data):
    t = report_summary(period=W49, now=NOW).totals
    assert t["received"] == 0
    assert t["carried_over"] == 6
    # boundary: early (ready 2/12, due 5/12); on_time: same day as the appointment, before it;
    # apologised: ready within its new appointment, still late against the first.
    assert (t["resolved_early"], t["resolved_on_time"], t["resolved_late"]) == (1, 1, 1)
    assert t["on_time_share"] == round(2 / 3, 4)
    # As of now (Wed 3/12 12:00): overdue is past 1/12 14:00 and other past 2/12 09:00; the
    # supplement's clock was paused five days, its appointment moved past now.
    assert (t["pending_in_time"], t["pending_overdue"]) == (1, 2)
    assert t["apologies"] == 1
    assert t["ratings"] == 0 and t["satisfied_share"] is None


def test_pending_of_one_week_is_carried_over_into_the_next(data):
    w48 = report_summary(period=W48, now=NOW).totals
    w49 = report_summary(period=W49, now=NOW).totals
    assert w48["pending"] == w49["carried_over"]


def test_summary_by_agency_splits_rows_and_rows_add_up_to_totals(data, org):  # noqa: F811
    summary = report_summary(period=W48, group_by="agency", now=NOW)
    rows = {row["key"]: row for row in summary.rows}
    assert rows[org.a.id]["received"] == 7
    assert rows[org.a.id]["label"] == org.a.name
    assert rows[org.b.id]["received"] == 1
    for figure in ("received", "pending_in_time", "refusals", "withdrawals", "ratings"):
        assert sum(r[figure] for r in summary.rows) == summary.totals[figure]


def test_summary_by_channel_and_procedure(data, version):  # noqa: F811
    by_channel = {r["key"]: r for r in report_summary(period=W48, group_by="channel").rows}
    assert by_channel["online"]["received"] == 1
    assert by_channel["in_person"]["received"] == 7
    by_procedure = {r["key"]: r for r in report_summary(period=W49, group_by="procedure",
                                                          now=NOW).rows}
    assert by_procedure[version.procedure_id]["resolved_late"] == 1
    assert by_procedure[version.procedure_id]["label"].startswith(version.procedure.code)


def test_summary_by_unit_counts_a_dossier_once_per_unit(data, org):  # noqa: F811
    rows = {r["key"]: r for r in report_summary(period=W48, group_by="unit", now=NOW).rows}
    cm = org.units_a["CM"].id
    assert rows[cm]["received"] == 7  # each dossier of A passes CM once or more
    # The apology letter is charged to the unit at fault.
    w49 = {r["key"]: r for r in report_summary(period=W49, group_by="unit", now=NOW).rows}
    assert sum(r["apologies"] for r in w49.values()) == 1


def test_unknown_group_by_is_refused(db):
    with pytest.raises(ValidationError) as caught:
        report_summary(period=W48, group_by="colour")
    assert caught.value.code == "invalid_group_by"


def test_drill_down_lists_exactly_the_dossiers_behind_a_figure(data, org):  # noqa: F811
    late = list(figure_dossiers(period=W49, figure="resolved_late", now=NOW))
    assert late == [data.apologised]
    overdue = list(figure_dossiers(period=W49, figure="pending_overdue", now=NOW))
    assert overdue == [data.other, data.overdue]  # newest reception first
    received_b = figure_dossiers(period=W48, figure="received", group_by="agency",
                                 key=org.b.id, now=NOW)
    assert list(received_b) == [data.other]
    assert list(figure_dossiers(period=W49, figure="apologies")) == [data.apologised]
    assert list(figure_dossiers(period=W48, figure="ratings")) == [data.early]


def test_drill_down_count_equals_the_figure_for_every_figure(data):
    from reports.selectors import DOSSIER_FIGURES

    for period in (W48, W49):
        totals = report_summary(period=period, now=NOW).totals
        for figure in DOSSIER_FIGURES:
            assert figure_dossiers(period=period, figure=figure, now=NOW).count() == \
                totals[figure], (period, figure)


def test_unit_leader_sees_only_dossiers_through_their_unit(data, org):  # noqa: F811
    scope = report_scope_for(org.leader)
    assert scope.unit_ids == (org.units_a["LD"].id,)
    assert report_summary(period=W48, scope=scope, now=NOW).totals["received"] == 7
    scope_b = report_scope_for(org.leader_b)
    assert report_summary(period=W48, scope=scope_b, now=NOW).totals["received"] == 1


def test_clerk_and_officer_may_not_see_reports(org):  # noqa: F811
    for user in (org.clerk, org.officer, org.admin):
        with pytest.raises(PermissionDenied):
            report_scope_for(user)


def test_supervisor_and_superuser_see_the_whole_province(org):  # noqa: F811
    from motcua.models import Role, StaffRole

    StaffRole.objects.create(user=org.officer2, unit=org.units_a["LD"], role=Role.SUPERVISOR)
    assert report_scope_for(org.officer2).whole_province
    assert report_scope_for(org.superuser).whole_province


def test_summary_query_count_does_not_grow_with_rows(data, django_assert_max_num_queries):
    # One more than the counts: the look-up of the summary tables' state (not built here).
    with django_assert_max_num_queries(7):
        report_summary(period=W48, group_by="procedure", now=NOW)
    with django_assert_max_num_queries(12):
        report_summary(period=W48, group_by="unit", now=NOW)


def test_staff_performance_per_officer(data, org):  # noqa: F811
    rows = {r["key"]: r for r in staff_performance(period=Period(date(2025, 11, 24),
                                                                  date(2025, 12, 7)))}
    officer = rows[org.officer.id]
    # officer_a finished the appraisal and drafting steps of early, on_time, apologised and
    # boundary (2 each); all within their step deadlines except the apologised dossier's.
    assert officer["handled"] == officer["on_time"] + officer["late"]
    assert officer["dossiers"] == 4
    assert officer["ratings"] == 1 and officer["satisfied_share"] == 1.0
    by_unit = {r["key"]: r for r in staff_performance(
        period=Period(date(2025, 11, 24), date(2025, 12, 7)), by="unit")}
    assert by_unit[org.units_a["CM"].id]["dossiers"] == 4


def test_weekly_trend_puts_figures_in_their_weeks(data):
    trend = weekly_trend(weeks=2, today=date(2025, 12, 3))
    assert [w["label"] for w in trend] == ["48/2025", "49/2025"]
    assert [w["received"] for w in trend] == [8, 0]
    assert [w["resolved"] for w in trend] == [1, 3]
    assert [w["resolved_late"] for w in trend] == [0, 1]


def test_scope_restricts_by_agency(data, org):  # noqa: F811
    scope = Scope(agency_ids=(org.b.id,))
    assert report_summary(period=W48, scope=scope).totals["received"] == 1
    assert report_summary(period=W48, agency_id=org.a.id, now=NOW).totals["received"] == 7


def test_one_pass_slices_equal_the_slices_taken_one_by_one(data, django_assert_max_num_queries):
    from reports.selectors import report_summaries

    with django_assert_max_num_queries(9):
        slices = report_summaries(period=W49, group_bys=["agency", "field", "procedure",
                                                         "channel"], now=NOW)
    for group_by, summary in slices.items():
        alone = report_summary(period=W49, group_by=group_by, now=NOW)
        assert summary.rows == alone.rows, group_by
        assert summary.totals == alone.totals == report_summary(period=W49, now=NOW).totals


def test_one_pass_refuses_multi_row_slices(db):
    from reports.selectors import report_summaries

    with pytest.raises(ValidationError):
        report_summaries(period=W48, group_bys=["agency", "unit"])


def test_staff_views_read_together_equal_each_read_alone(data):
    from reports.selectors import staff_performances

    period = Period(date(2025, 11, 24), date(2025, 12, 7))
    both = staff_performances(period=period)
    for by in ("officer", "unit"):
        assert both[by] == staff_performance(period=period, by=by)


def test_staff_performance_of_a_leader_stays_in_their_unit(data, org):  # noqa: F811
    period = Period(date(2025, 11, 24), date(2025, 12, 7))
    rows = staff_performance(period=period, by="unit", scope=report_scope_for(org.leader))
    assert {r["key"] for r in rows} == {org.units_a["LD"].id}
    # approvals of early, on_time, apologised and boundary
    assert rows[0]["handled"] == 4


def test_online_payment_share_counts_paid_payments_of_received_dossiers(data):
    from django.apps import apps

    try:
        payment = apps.get_model("payments", "Payment")
    except LookupError:  # pragma: no cover - the payments app has no model yet
        assert report_summary(period=W48, now=NOW).totals["online_payment_share"] is None
        return
    common = {"amount_vnd": 50_000, "gateway": "demo", "paid_at": NOW}
    payment.objects.create(dossier=data.boundary, state="paid", reference="R1",
                           idempotency_key="K1", **common)
    payment.objects.create(dossier=data.supplement, state="failed", reference="R2",
                           idempotency_key="K2", **{**common, "paid_at": None})
    t = report_summary(period=W48, now=NOW).totals
    assert t["paid_online"] == 1
    assert t["online_payment_share"] == round(1 / 8, 4)
    assert list(figure_dossiers(period=W48, figure="paid_online", now=NOW)) == [data.boundary]
