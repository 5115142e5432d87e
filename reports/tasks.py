"""Background work of the reports: the weekly report (beat, Monday 07:00) and its e-mail."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="reports.build_weekly_report", acks_late=True, ignore_result=True)
def build_weekly_report(week: str | None = None, email: bool = True) -> str:
    """Build the previous ISO week's report (or ``week``, ``2026-W47``). Idempotent: a second
    run rebuilds the same report in place and never e-mails it twice."""
    from reports.services import parse_iso_week, previous_week, weekly_report_build

    year, number = parse_iso_week(week) if week else previous_week()
    return weekly_report_build(year=year, week=number, email=email).iso


@shared_task(name="reports.email_weekly_report", acks_late=True, ignore_result=True)
def email_weekly_report(report_id: int) -> None:
    """E-mail one built report to the supervisors, once (enqueued on commit of the build)."""
    from reports.services import weekly_report_email

    weekly_report_email(report_id=report_id)


@shared_task(name="reports.refresh_figures", acks_late=True, ignore_result=True)
def refresh_figures() -> str:
    """Keep the summary tables current (beat, every 10 minutes): yesterday, today and the days
    the event log says changed. Idempotent; a run that finds another one going skips."""
    from reports.figures import figures_refresh

    done = figures_refresh()
    if done is None:
        return "skipped: another rebuild is running"
    return f"{done['rows']} rows, {len(done['ranges'])} ranges, {done['seconds']:.1f} s"
