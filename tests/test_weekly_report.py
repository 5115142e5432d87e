"""The weekly report: built from the week's figures, kept as PDF and xlsx, e-mailed once to the
supervisors, idempotent (the beat, the command and a retried task may all run it)."""

from __future__ import annotations

import io
import os

import pytest
import time_machine
from django.core import mail
from django.core.management import call_command

from motcua.errors import ValidationError
from motcua.models import Role, StaffRole
from reports.models import WeeklyReport
from reports.services import parse_iso_week, previous_week, weekly_report_build
from tests.dossier_factories import eager_celery, org, staff, version  # noqa: F401
from tests.reports_factories import NOW, awkward_data


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def supervisor(org):  # noqa: F811
    return staff("giamsat", (org.units_a["LD"], Role.SUPERVISOR), email="giamsat@example.vn")


def test_iso_week_text_is_parsed_and_bad_weeks_refused():
    assert parse_iso_week("2026-W47") == (2026, 47)
    for bad in ("2026-47", "2026-W54", "W47", ""):
        with pytest.raises(ValidationError):
            parse_iso_week(bad)


def test_previous_week_of_a_monday_is_the_week_before():
    from datetime import date

    assert previous_week(date(2026, 11, 23)) == (2026, 47)
    assert previous_week(date(2026, 1, 1)) == (2025, 52)


def test_weekly_report_keeps_pdf_and_xlsx_with_the_weeks_figures(org, version, supervisor):  # noqa: F811
    from openpyxl import load_workbook

    awkward_data(org, version)
    with time_machine.travel(NOW, tick=False):
        report = weekly_report_build(year=2025, week=49)
    assert (report.period_start.isoformat(), report.period_end.isoformat()) == (
        "2025-12-01", "2025-12-07")
    assert report.totals["resolved_late"] == 1 and report.totals["apologies"] == 1
    with report.pdf.open("rb") as handle:
        pdf = handle.read()
    assert pdf[:5] == b"%PDF-"
    if os.environ.get("REPORT_SAMPLES"):  # docs/samples: look at it
        with open(os.path.join(os.environ["REPORT_SAMPLES"], "weekly-report.pdf"), "wb") as out:
            out.write(pdf)
    with report.xlsx.open("rb") as handle:
        book = load_workbook(io.BytesIO(handle.read()))
    assert "Chỉ số" in book.sheetnames and "Theo cơ quan" in book.sheetnames
    values = [row for row in book["Chỉ số"].iter_rows(values_only=True)]
    assert ("Giải quyết quá hạn", 1) in values


def test_running_it_twice_keeps_one_report_and_emails_once(
    org, version, supervisor, django_capture_on_commit_callbacks,  # noqa: F811
):
    awkward_data(org, version)
    with time_machine.travel(NOW, tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            first = weekly_report_build(year=2025, week=48)
        with django_capture_on_commit_callbacks(execute=True):
            second = weekly_report_build(year=2025, week=48)
    assert WeeklyReport.objects.filter(year=2025, week=48).count() == 1
    assert second.pk == first.pk and second.builds == 2
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["giamsat@example.vn"]
    assert "48/2025" in message.subject
    names = sorted(name for name, _content, _mime in message.attachments)
    assert names == ["bao-cao-tuan-2025-W48.pdf", "bao-cao-tuan-2025-W48.xlsx"]
    second.refresh_from_db()
    assert second.emailed_at is not None and second.emailed_to == ["giamsat@example.vn"]


def test_rebuilding_replaces_the_files_instead_of_adding_new_ones(
    org, version, supervisor, settings, django_capture_on_commit_callbacks,  # noqa: F811
):
    from pathlib import Path

    with time_machine.travel(NOW, tick=False):
        for _run in range(3):
            with django_capture_on_commit_callbacks(execute=True):
                report = weekly_report_build(year=2025, week=48, email=False)
    files = sorted(p for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file())
    assert sorted(p.suffix for p in files) == [".pdf", ".xlsx"]
    assert {str(p.relative_to(settings.MEDIA_ROOT)) for p in files} == {
        report.pdf.name, report.xlsx.name}


def test_no_email_without_supervisors_with_an_address(
    org, version, django_capture_on_commit_callbacks,  # noqa: F811
):
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        report = weekly_report_build(year=2025, week=48)
    assert mail.outbox == []
    report.refresh_from_db()
    assert report.emailed_at is None


def test_command_builds_the_given_week(org, supervisor):  # noqa: F811
    out = io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("weekly_report", "--week", "2025-W48", "--no-email", stdout=out)
    assert "2025-W48" in out.getvalue()
    assert WeeklyReport.objects.get().emailed_at is None
    assert mail.outbox == []


def test_command_refuses_a_bad_week(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("weekly_report", "--week", "2025-48")


def test_beat_task_builds_the_previous_week(org, supervisor):  # noqa: F811
    from reports.tasks import build_weekly_report

    with time_machine.travel(NOW, tick=False):  # Wednesday of 2025-W49
        assert build_weekly_report.apply().get() == "2025-W48"
    assert WeeklyReport.objects.filter(year=2025, week=48).exists()


def test_beat_schedule_runs_it_monday_at_seven(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["weekly-report"]
    assert entry["task"] == "reports.build_weekly_report"
    schedule = entry["schedule"]
    assert schedule.hour == {7} and schedule.minute == {0} and schedule.day_of_week == {1}


def test_supervisors_download_the_files_others_may_not(org, supervisor, client):  # noqa: F811
    with time_machine.travel(NOW, tick=False):
        weekly_report_build(year=2025, week=48, email=False)
    client.force_login(supervisor)
    response = client.get("/api/v1/reports/weekly/2025-W48.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    response = client.get("/api/v1/reports/weekly/2025-W48.xlsx")
    assert response.status_code == 200
    assert b"".join(response.streaming_content)[:2] == b"PK"
    assert client.get("/api/v1/reports/weekly/2025-W47.pdf").status_code == 404
    assert client.get("/staff/reports/tuan/").status_code == 200
    assert client.get("/staff/reports/tuan/2025-W48.pdf").status_code == 200
    client.force_login(org.leader)
    assert client.get("/api/v1/reports/weekly/2025-W48.pdf").status_code == 403
    assert client.get("/staff/reports/tuan/2025-W48.pdf").status_code == 403
    StaffRole.objects.filter(user=supervisor).delete()


def test_bulk_ratings_rate_returned_dossiers_once(org, version):  # noqa: F811
    from dossiers.bulk import seed_bulk_ratings
    from ratings.models import Rating
    from tests.dossier_factories import dossier_in

    returned = [dossier_in(org, version, "returned") for _i in range(3)]
    dossier_in(org, version, "in_progress")
    assert seed_bulk_ratings(share=1.0) == 3
    assert seed_bulk_ratings(share=1.0) == 0
    for rating in Rating.objects.all():
        rating.full_clean()
        assert rating.dossier_id in {d.id for d in returned}
        assert rating.created_at >= rating.dossier.returned_at
