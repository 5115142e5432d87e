"""Shared core models: the province's organisation, staff roles and the office calendar."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Agency(models.Model):
    """A provincial agency (sở, ban, ngành), the province itself, or a commune.

    ``code`` is the national identifier code (mã định danh), e.g. ``000.00.00.H30``; it
    starts every dossier code the agency issues.
    """

    class Kind(models.TextChoices):
        PROVINCE = "province", _("UBND tỉnh")
        DEPARTMENT = "department", _("Sở, ban, ngành")
        CENTER = "center", _("Trung tâm Phục vụ hành chính công")
        COMMUNE = "commune", _("UBND xã, phường, đặc khu")
        OTHER = "other", _("Cơ quan khác")

    code = models.CharField(_("mã định danh"), max_length=32, unique=True)
    name = models.CharField(_("tên cơ quan"), max_length=255)
    short_name = models.CharField(_("tên viết tắt"), max_length=64, blank=True)
    kind = models.CharField(_("loại"), max_length=16, choices=Kind.choices)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children",
        verbose_name=_("cơ quan cấp trên"),
    )
    address = models.CharField(_("địa chỉ"), max_length=255, blank=True)
    phone = models.CharField(_("điện thoại"), max_length=32, blank=True)
    is_active = models.BooleanField(_("đang hoạt động"), default=True)

    class Meta:
        verbose_name = _("cơ quan")
        verbose_name_plural = _("cơ quan")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class Unit(models.Model):
    """A unit (phòng, bộ phận) inside an agency; staff belong to units."""

    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="units", verbose_name=_("cơ quan")
    )
    code = models.CharField(_("mã đơn vị"), max_length=32)
    name = models.CharField(_("tên đơn vị"), max_length=255)
    is_reception = models.BooleanField(
        _("bộ phận một cửa"), default=False,
        help_text=_("Bộ phận tiếp nhận và trả kết quả của cơ quan."),
    )
    is_active = models.BooleanField(_("đang hoạt động"), default=True)

    class Meta:
        verbose_name = _("đơn vị")
        verbose_name_plural = _("đơn vị")
        ordering = ["agency__code", "code"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "code"], name="unit_code_unique_in_agency"),
        ]

    def __str__(self) -> str:
        return f"{self.name} — {self.agency.short_name or self.agency.name}"


class Role(models.TextChoices):
    CLERK = "clerk", _("Cán bộ tiếp nhận và trả kết quả")
    OFFICER = "officer", _("Chuyên viên thụ lý")
    LEADER = "leader", _("Lãnh đạo")
    CATALOGUE_ADMIN = "catalogue_admin", _("Cán bộ kiểm soát TTHC")
    SUPERVISOR = "supervisor", _("Lãnh đạo UBND / Văn phòng UBND")


class StaffRole(models.Model):
    """Ties a user to a unit in a role. A person may hold several roles, in several units."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_roles",
        verbose_name=_("người dùng"),
    )
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="staff_roles", verbose_name=_("đơn vị")
    )
    role = models.CharField(_("vai trò"), max_length=20, choices=Role.choices)
    title = models.CharField(_("chức vụ"), max_length=128, blank=True)

    class Meta:
        verbose_name = _("vai trò cán bộ")
        verbose_name_plural = _("vai trò cán bộ")
        constraints = [
            models.UniqueConstraint(
                fields=["user", "unit", "role"], name="staff_role_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} — {self.unit}"


class CalendarDay(models.Model):
    """An admin's word on one day, which wins over the `holidays` calendar.

    ``day_off``: an extra day off (e.g. a province's own holiday) or cancelling a make-up
    working Saturday. ``working_day``: a make-up working day, or cancelling a holiday.
    """

    class Kind(models.TextChoices):
        DAY_OFF = "day_off", _("Ngày nghỉ")
        WORKING_DAY = "working_day", _("Ngày làm việc")

    date = models.DateField(_("ngày"), unique=True)
    kind = models.CharField(_("loại"), max_length=16, choices=Kind.choices)
    note = models.CharField(_("ghi chú"), max_length=255, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        verbose_name = _("ngày điều chỉnh lịch làm việc")
        verbose_name_plural = _("ngày điều chỉnh lịch làm việc")
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date:%d/%m/%Y} — {self.get_kind_display()}"


class Heartbeat(models.Model):
    """The last sign of life of a background process (worker, beat), for /health/."""

    name = models.CharField(max_length=32, primary_key=True)
    at = models.DateTimeField()

    class Meta:
        verbose_name = _("tín hiệu hoạt động")
        verbose_name_plural = _("tín hiệu hoạt động")

    def __str__(self) -> str:
        return f"{self.name}: {self.at.isoformat()}"
