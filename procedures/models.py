"""The procedure catalogue (danh mục thủ tục hành chính, TTHC).

A ``Procedure`` is the stable identity (its national code); everything a citizen or a clerk reads
lives in a ``ProcedureVersion``. Editing a procedure that dossiers already use creates a new
version, so a dossier keeps the rules it was received under.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from motcua.models import Agency, Role
from motcua.text import fold

#: Hours in one working day of the office calendar (07:30–11:30, 13:00–17:00).
HOURS_PER_DAY = Decimal(8)


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


#: Roles that can hold a step of an internal process (the others do not handle dossiers).
STEP_ROLES = (Role.CLERK, Role.OFFICER, Role.LEADER)


def limit_in_hours(amount: Decimal, unit: str) -> Decimal:
    """A time limit in working hours: working days and calendar days count 8 hours a day.

    For calendar days this is a nominal figure (the internal process is planned in working hours);
    the appointment itself always comes from ``motcua.calendar.deadline``.
    """
    amount = Decimal(amount)
    if unit == TimeUnit.WORKING_HOURS:
        return amount
    return amount * HOURS_PER_DAY


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
        validators=[MinValueValidator(0)], help_text=_("0 = giải quyết ngay trong ngày."),
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
            models.CheckConstraint(
                condition=Q(time_limit_amount__gte=0), name="procedure_version_limit_not_negative"
            ),
        ]
        indexes = [
            # Filters of the catalogue; the trigram index on search_text is in migration 0002
            # (PostgreSQL only).
            models.Index(fields=["level"], name="procedure_version_level_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.procedure.code} v{self.number} — {self.name}"

    @property
    def time_limit_hours(self) -> Decimal:
        """The time limit in working hours, which the step allotments must add up to
        (working days × 8, working hours as they are, calendar days × 8)."""
        return limit_in_hours(self.time_limit_amount, self.time_limit_unit)

    @property
    def is_current(self) -> bool:
        return self.procedure.current_version_id == self.pk

    @property
    def channels(self) -> list[str]:
        """The channels this version accepts, in the national portal's order."""
        accepted = {
            Channel.IN_PERSON: self.accepts_in_person,
            Channel.ONLINE: self.accepts_online,
            Channel.POST: self.accepts_post,
        }
        return [channel for channel, ok in accepted.items() if ok]

    @property
    def legal_basis_lines(self) -> list[str]:
        return [line.strip() for line in self.legal_basis.splitlines() if line.strip()]

    def is_in_use(self) -> bool:
        """Whether anything outside the catalogue refers to this version or to one of its parts
        (a dossier received under it, a dossier's step...). Found through the reverse relations
        Django knows, so the catalogue need not import the apps that use it."""
        if self.pk is None:
            return False
        own = {ProcedureVersion, *VERSION_PARTS}
        for model, lookup in [(ProcedureVersion, "pk"), *[(m, "version") for m in VERSION_PARTS]]:
            for rel in model._meta.related_objects:
                if rel.related_model in own:
                    continue
                field_name = rel.field.name
                path = field_name if lookup == "pk" else f"{field_name}__version"
                if rel.related_model._base_manager.filter(**{path: self.pk}).exists():
                    return True
        return False

    def build_search_text(self) -> str:
        """What `procedure_search` matches: code, name, field and agency, folded (no diacritics,
        lower case). Kept up to date by the services."""
        parts = [self.procedure.code, self.name, self.field.name, self.agency_text]
        if self.agency_id:
            parts += [self.agency.name, self.agency.short_name, self.agency.code]
        return fold(" ".join(p for p in parts if p))


class TimeLimit(models.Model):
    """A time limit for one channel where it differs from the version's default."""

    version = models.ForeignKey(ProcedureVersion, on_delete=models.CASCADE, related_name="time_limits")
    channel = models.CharField(_("cách thức"), max_length=16, choices=Channel.choices)
    amount = models.DecimalField(
        _("thời hạn"), max_digits=6, decimal_places=2, validators=[MinValueValidator(0)]
    )
    unit = models.CharField(_("đơn vị"), max_length=16, choices=TimeUnit.choices)

    class Meta:
        verbose_name = _("thời hạn theo cách thức nộp")
        verbose_name_plural = _("thời hạn theo cách thức nộp")
        ordering = ["channel"]
        constraints = [
            models.UniqueConstraint(fields=["version", "channel"], name="time_limit_channel_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="time_limit_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.amount} {self.get_unit_display()}"


class FeeLine(models.Model):
    """One line of fees and charges (phí, lệ phí)."""

    version = models.ForeignKey(ProcedureVersion, on_delete=models.CASCADE, related_name="fees")
    position = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(_("loại phí, lệ phí"), max_length=500)
    amount_vnd = models.BigIntegerField(
        _("mức thu (đồng)"), null=True, blank=True, validators=[MinValueValidator(0)],
        help_text=_("Để trống nếu mức thu không cố định (xem mô tả)."),
    )
    description = models.TextField(_("mô tả"), blank=True)

    class Meta:
        verbose_name = _("phí, lệ phí")
        verbose_name_plural = _("phí, lệ phí")
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount_vnd__isnull=True) | Q(amount_vnd__gte=0),
                name="fee_line_not_negative",
            ),
        ]

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
    hours = models.DecimalField(
        _("thời gian (giờ làm việc)"), max_digits=7, decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )

    class Meta:
        verbose_name = _("bước quy trình nội bộ")
        verbose_name_plural = _("quy trình nội bộ")
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["version", "position"], name="process_step_position_unique"),
            models.CheckConstraint(condition=Q(hours__gt=0), name="process_step_hours_positive"),
            models.CheckConstraint(condition=Q(position__gte=1), name="process_step_position_from_one"),
        ]

    def __str__(self) -> str:
        return f"{self.position}. {self.name}"


#: The rows a version is made of; editing a version in place rewrites them.
VERSION_PARTS = (TimeLimit, FeeLine, RequiredDocument, ProcessStep)
