"""The procedure catalogue (danh mục thủ tục hành chính, TTHC).

A ``Procedure`` is the stable identity (its national code); everything a citizen or a clerk reads
lives in a ``ProcedureVersion``. Editing a procedure that dossiers already use creates a new
version, so a dossier keeps the rules it was received under.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from motcua.models import Agency, Role


class TimeUnit(models.TextChoices):
    WORKING_DAYS = "working_days", _("ngày làm việc")
    WORKING_HOURS = "working_hours", _("giờ làm việc")
    CALENDAR_DAYS = "calendar_days", _("ngày")


class Channel(models.TextChoices):
    """Ways to submit (cách thức thực hiện); national portal codes 1, 2, 3."""

    IN_PERSON = "in_person", _("Trực tiếp")
    ONLINE = "online", _("Trực tuyến")
    POST = "post", _("Dịch vụ bưu chính")


class Level(models.TextChoices):
    PROVINCE = "province", _("Cấp tỉnh")
    COMMUNE = "commune", _("Cấp xã")
    DISTRICT = "district", _("Cấp huyện (trước 7/2025)")
    CENTRAL = "central", _("Cấp trung ương")
    OTHER = "other", _("Cơ quan khác")


class OnlineLevel(models.TextChoices):
    FULL = "full", _("Trực tuyến toàn trình")
    PARTIAL = "partial", _("Trực tuyến một phần")
    NONE = "none", _("Không trực tuyến")


class SupplementClock(models.TextChoices):
    PAUSE = "pause", _("Tạm dừng, tính tiếp khi bổ sung")
    RESTART = "restart", _("Tính lại từ đầu khi bổ sung")


class Field(models.Model):
    """Lĩnh vực: the field a procedure belongs to, coded."""

    code = models.CharField(_("mã lĩnh vực"), max_length=32, unique=True)
    name = models.CharField(_("tên lĩnh vực"), max_length=255)

    class Meta:
        verbose_name = _("lĩnh vực")
        verbose_name_plural = _("lĩnh vực")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Procedure(models.Model):
    """The identity of a procedure: its code in the province's catalogue, e.g.
    ``1.001193.000.00.00.H01``. ``current_version`` is what new dossiers are received under."""

    code = models.CharField(_("mã thủ tục"), max_length=64, unique=True)
    current_version = models.OneToOneField(
        "ProcedureVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("phiên bản hiện hành"),
    )
    is_active = models.BooleanField(_("đang áp dụng"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("thủ tục hành chính")
        verbose_name_plural = _("thủ tục hành chính")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    @property
    def national_code(self) -> str:
        """The short national form, e.g. ``1.001193`` of ``1.001193.000.00.00.H01``."""
        return ".".join(self.code.split(".")[:2])


class ProcedureVersion(models.Model):
    """Everything the catalogue says about a procedure, as of ``effective_from``."""

    procedure = models.ForeignKey(
        Procedure, on_delete=models.PROTECT, related_name="versions", verbose_name=_("thủ tục")
    )
    number = models.PositiveIntegerField(_("phiên bản"))
    effective_from = models.DateTimeField(_("hiệu lực từ"))
    name = models.TextField(_("tên thủ tục"))
    field = models.ForeignKey(
        Field, on_delete=models.PROTECT, related_name="versions", verbose_name=_("lĩnh vực")
    )
    level = models.CharField(_("cấp thực hiện"), max_length=16, choices=Level.choices)
    agency = models.ForeignKey(
        Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="procedure_versions",
        verbose_name=_("cơ quan thực hiện"),
        help_text=_("Để trống với thủ tục cấp xã: mọi UBND xã, phường, đặc khu cùng thực hiện."),
    )
    agency_text = models.TextField(_("cơ quan thực hiện (theo công bố)"), blank=True)
    subjects = models.TextField(_("đối tượng thực hiện"), blank=True)
    accepts_in_person = models.BooleanField(_("nộp trực tiếp"), default=True)
    accepts_online = models.BooleanField(_("nộp trực tuyến"), default=False)
    accepts_post = models.BooleanField(_("nộp qua bưu chính"), default=False)
    online_level = models.CharField(
        _("mức độ trực tuyến"), max_length=16, choices=OnlineLevel.choices, default=OnlineLevel.NONE
    )
    is_inter_agency = models.BooleanField(_("liên thông"), default=False)
    time_limit_amount = models.DecimalField(
        _("thời hạn giải quyết"), max_digits=6, decimal_places=2,
        help_text=_("0 = giải quyết ngay trong ngày."),
    )
    time_limit_unit = models.CharField(
        _("đơn vị thời hạn"), max_length=16, choices=TimeUnit.choices, default=TimeUnit.WORKING_DAYS
    )
    time_limit_text = models.TextField(_("thời hạn (theo công bố)"), blank=True)
    supplement_clock = models.CharField(
        _("khi chờ bổ sung"), max_length=8, choices=SupplementClock.choices,
        default=SupplementClock.PAUSE,
    )
    procedure_steps_text = models.TextField(_("trình tự thực hiện"), blank=True)
    requirements = models.TextField(_("yêu cầu, điều kiện"), blank=True)
    result = models.TextField(_("kết quả thực hiện"), blank=True)
    legal_basis = models.TextField(_("căn cứ pháp lý"), blank=True, help_text=_("Mỗi văn bản một dòng."))
    source = models.TextField(_("nguồn"), blank=True)
    search_text = models.TextField(editable=False, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("phiên bản thủ tục")
        verbose_name_plural = _("phiên bản thủ tục")
        ordering = ["procedure__code", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["procedure", "number"], name="procedure_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.procedure.code} v{self.number} — {self.name}"

    @property
    def time_limit_hours(self) -> Decimal:
        """The time limit in working hours, which the step allotments must add up to."""
        if self.time_limit_unit == TimeUnit.WORKING_HOURS:
            return self.time_limit_amount
        return self.time_limit_amount * 8


class TimeLimit(models.Model):
    """A time limit for one channel where it differs from the version's default."""

    version = models.ForeignKey(ProcedureVersion, on_delete=models.CASCADE, related_name="time_limits")
    channel = models.CharField(_("cách thức"), max_length=16, choices=Channel.choices)
    amount = models.DecimalField(_("thời hạn"), max_digits=6, decimal_places=2)
    unit = models.CharField(_("đơn vị"), max_length=16, choices=TimeUnit.choices)

    class Meta:
        verbose_name = _("thời hạn theo cách thức nộp")
        verbose_name_plural = _("thời hạn theo cách thức nộp")
        constraints = [
            models.UniqueConstraint(fields=["version", "channel"], name="time_limit_channel_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.amount} {self.get_unit_display()}"


class FeeLine(models.Model):
    """One line of fees and charges (phí, lệ phí)."""

    version = models.ForeignKey(ProcedureVersion, on_delete=models.CASCADE, related_name="fees")
    position = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(_("loại phí, lệ phí"), max_length=500)
    amount_vnd = models.BigIntegerField(_("mức thu (đồng)"), null=True, blank=True)
    description = models.TextField(_("mô tả"), blank=True)

    class Meta:
        verbose_name = _("phí, lệ phí")
        verbose_name_plural = _("phí, lệ phí")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class RequiredDocument(models.Model):
    """One item of the dossier's composition (thành phần hồ sơ)."""

    version = models.ForeignKey(ProcedureVersion, on_delete=models.CASCADE, related_name="documents")
    position = models.PositiveSmallIntegerField(default=0)
    name = models.TextField(_("tên giấy tờ"))
    originals = models.PositiveSmallIntegerField(_("số bản chính"), default=1)
    copies = models.PositiveSmallIntegerField(_("số bản sao"), default=0)
    is_mandatory = models.BooleanField(_("bắt buộc"), default=True)
    template = models.FileField(_("mẫu đơn, tờ khai"), upload_to="templates/", blank=True)
    template_name = models.CharField(_("tên mẫu"), max_length=255, blank=True)

    class Meta:
        verbose_name = _("thành phần hồ sơ")
        verbose_name_plural = _("thành phần hồ sơ")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class ProcessStep(models.Model):
    """A step of the internal process (quy trình nội bộ) with its share of the time limit.

    The responsible unit is named by its code inside ``agency``; an empty ``agency`` means the
    agency that received the dossier (so one process serves every commune).
    """

    version = models.ForeignKey(ProcedureVersion, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("thứ tự"))
    name = models.CharField(_("tên bước"), max_length=255)
    agency = models.ForeignKey(
        Agency, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("cơ quan"), help_text=_("Để trống: cơ quan tiếp nhận hồ sơ."),
    )
    unit_code = models.CharField(_("mã đơn vị"), max_length=32)
    role = models.CharField(_("vai trò"), max_length=20, choices=Role.choices)
    hours = models.DecimalField(_("thời gian (giờ làm việc)"), max_digits=7, decimal_places=2)

    class Meta:
        verbose_name = _("bước quy trình nội bộ")
        verbose_name_plural = _("quy trình nội bộ")
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="process_step_position_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"
