"""The weekly report (báo cáo tuần), kept for download: one row per ISO week."""

from django.conf import settings
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


#: The count columns of :class:`DailyFigure`: they add up over days (docs/reports.md,
#: "Summary tables").
FLOW_COLUMNS = (
    "received", "supplements", "digitised", "paid_online",
    "resolved_early", "resolved_on_time", "resolved_late",
    "refusals", "withdrawals", "stops", "exits", "apologies", "ratings",
    "satisfied_overall", "satisfied_time", "satisfied_attitude", "satisfied_guidance",
    "satisfied_publicity",
    "answered_overall", "answered_time", "answered_attitude", "answered_guidance",
    "answered_publicity",
)


def _count(label: str) -> models.PositiveIntegerField:
    return models.PositiveIntegerField(label, default=0)


class DailyFigure(models.Model):
    """The report figures of one day for one agency × procedure version × channel: what
    happened that day (a *flow*: received, resolved, closed, letters issued, ratings given),
    counted once and summed over the days of any period. Written only by
    ``reports.services.figures_rebuild`` (set-based, delete-and-insert per day range).

    "Carried over" at any day = the month's :class:`MonthlyStock` + the month's
    ``received − exits`` before that day.
    """

    day = models.DateField(_("ngày"))
    agency = models.ForeignKey(
        "motcua.Agency", on_delete=models.CASCADE, related_name="+", db_constraint=False,
        db_index=False,
    )
    procedure_version = models.ForeignKey(
        "procedures.ProcedureVersion", on_delete=models.CASCADE, related_name="+",
        db_constraint=False, db_index=False,
    )
    channel = models.CharField(max_length=16)
    received = _count(_("tiếp nhận"))
    supplements = _count(_("yêu cầu bổ sung (theo ngày tiếp nhận)"))
    digitised = _count(_("số hóa (theo ngày tiếp nhận)"))
    paid_online = _count(_("thanh toán trực tuyến (theo ngày tiếp nhận)"))
    resolved_early = _count(_("giải quyết trước hạn"))
    resolved_on_time = _count(_("giải quyết đúng hạn"))
    resolved_late = _count(_("giải quyết quá hạn"))
    refusals = _count(_("từ chối tiếp nhận"))
    withdrawals = _count(_("rút hồ sơ"))
    stops = _count(_("dừng xử lý"))
    exits = _count(_("ra khỏi số đang giải quyết"))
    apologies = _count(_("văn bản xin lỗi"))
    ratings = _count(_("lượt đánh giá"))
    satisfied_overall = _count("satisfied_overall")
    satisfied_time = _count("satisfied_time")
    satisfied_attitude = _count("satisfied_attitude")
    satisfied_guidance = _count("satisfied_guidance")
    satisfied_publicity = _count("satisfied_publicity")
    answered_overall = _count("answered_overall")
    answered_time = _count("answered_time")
    answered_attitude = _count("answered_attitude")
    answered_guidance = _count("answered_guidance")
    answered_publicity = _count("answered_publicity")

    class Meta:
        verbose_name = _("số liệu ngày")
        verbose_name_plural = _("số liệu ngày")
        constraints = [
            # Also the index every read uses: a range of days.
            models.UniqueConstraint(
                fields=["day", "agency", "procedure_version", "channel"],
                name="daily_figure_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.agency_id}/{self.procedure_version_id}/{self.channel}"


class FigureState(models.Model):
    """One row (``pk=1``): how far :class:`DailyFigure` goes. Days up to ``built_through`` were
    rebuilt after they ended; later days are counted live. ``built_at`` is the moment of the
    last rebuild (the dashboard's "số liệu đến"); ``events_seen_at`` is where the next
    incremental rebuild starts reading the event log."""

    built_through = models.DateField(null=True, blank=True)
    built_at = models.DateTimeField(null=True, blank=True)
    events_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("trạng thái số liệu ngày")
        verbose_name_plural = _("trạng thái số liệu ngày")

    def __str__(self) -> str:
        return f"{self.built_through} ({self.built_at})"


class MonthlyStock(models.Model):
    """The dossiers in progress at the start of a month (received before its first day,
    neither resolved nor closed before it), per agency × procedure version × channel. A month's
    stock never changes once the month has begun: it is built from the month before (stock +
    received − exits). Written only by ``reports.figures.figures_rebuild``."""

    month = models.DateField(_("tháng (ngày đầu)"))
    agency = models.ForeignKey(
        "motcua.Agency", on_delete=models.CASCADE, related_name="+", db_constraint=False,
        db_index=False,
    )
    procedure_version = models.ForeignKey(
        "procedures.ProcedureVersion", on_delete=models.CASCADE, related_name="+",
        db_constraint=False, db_index=False,
    )
    channel = models.CharField(max_length=16)
    in_progress = models.IntegerField(_("đang giải quyết"))

    class Meta:
        verbose_name = _("tồn đầu tháng")
        verbose_name_plural = _("tồn đầu tháng")
        constraints = [
            models.UniqueConstraint(
                fields=["month", "agency", "procedure_version", "channel"],
                name="monthly_stock_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.agency_id}/{self.procedure_version_id}/{self.channel}"


class DailyStaffFigure(models.Model):
    """The steps of the internal process finished on one day, per unit × handler: how many,
    on time and late (each step against its own deadline). Written only by
    ``reports.figures.figures_rebuild``; the staff figures sum it over a period."""

    day = models.DateField(_("ngày"))
    unit = models.ForeignKey(
        "motcua.Unit", on_delete=models.CASCADE, related_name="+", db_constraint=False,
        db_index=False,
    )
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
        related_name="+", db_constraint=False, db_index=False, null=True,
    )
    handled = models.PositiveIntegerField(default=0)
    on_time = models.PositiveIntegerField(default=0)
    late = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("số liệu ngày theo cán bộ")
        verbose_name_plural = _("số liệu ngày theo cán bộ")
        indexes = [models.Index(fields=["day"], name="daily_staff_day_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.unit_id}/{self.handler_id}"


class OpenFigure(models.Model):
    """The dossiers pending at the last rebuild (``FigureState.built_at``), in time and
    overdue, per agency × procedure version × channel: what "pending" shows for a period that
    is not over yet (a few minutes old, like the rest). Replaced whole at every rebuild."""

    agency = models.ForeignKey(
        "motcua.Agency", on_delete=models.CASCADE, related_name="+", db_constraint=False,
        db_index=False,
    )
    procedure_version = models.ForeignKey(
        "procedures.ProcedureVersion", on_delete=models.CASCADE, related_name="+",
        db_constraint=False, db_index=False,
    )
    channel = models.CharField(max_length=16)
    pending_in_time = models.PositiveIntegerField(default=0)
    pending_overdue = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("hồ sơ đang giải quyết (lần lập gần nhất)")
        verbose_name_plural = _("hồ sơ đang giải quyết (lần lập gần nhất)")

    def __str__(self) -> str:
        return f"{self.agency_id}/{self.procedure_version_id}/{self.channel}"
