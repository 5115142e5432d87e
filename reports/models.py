"""The weekly report (báo cáo tuần), kept for download: one row per ISO week."""

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def report_path(instance: "WeeklyReport", filename: str) -> str:
    ext = filename.rsplit(".", 1)[-1]
    return f"reports/weekly/{instance.year}/bao-cao-tuan-{instance.year}-W{instance.week:02d}.{ext}"


class WeeklyReport(models.Model):
    """The report of one ISO week (Monday–Sunday) for the whole province: its figures as built,
    the PDF and xlsx files, and when it was e-mailed. Built again, the row and its files are
    replaced in place: ``(year, week)`` is unique."""

    year = models.PositiveSmallIntegerField(_("năm"))
    week = models.PositiveSmallIntegerField(_("tuần"))
    period_start = models.DateField(_("từ ngày"))
    period_end = models.DateField(_("đến ngày"))
    totals = models.JSONField(_("số liệu tổng hợp"), default=dict)
    pdf = models.FileField(_("tệp PDF"), upload_to=report_path, max_length=255, blank=True)
    xlsx = models.FileField(_("tệp xlsx"), upload_to=report_path, max_length=255, blank=True)
    built_at = models.DateTimeField(_("lập lúc"), default=timezone.now)
    builds = models.PositiveIntegerField(_("số lần lập"), default=1)
    emailed_at = models.DateTimeField(_("gửi thư lúc"), null=True, blank=True)
    emailed_to = models.JSONField(_("đã gửi tới"), default=list, blank=True)

    class Meta:
        verbose_name = _("báo cáo tuần")
        verbose_name_plural = _("báo cáo tuần")
        ordering = ["-year", "-week"]
        constraints = [
            models.UniqueConstraint(fields=["year", "week"], name="weekly_report_once"),
            models.CheckConstraint(
                condition=models.Q(week__gte=1, week__lte=53), name="weekly_report_week_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def iso(self) -> str:
        return f"{self.year}-W{self.week:02d}"
