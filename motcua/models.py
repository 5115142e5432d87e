"""Shared core models: the province's organisation, staff roles, the office calendar, and the
outbox of messages with the staff notices and demo integration tables it feeds."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
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


# ---------------------------------------------------------------------------------------------
# The outbox, staff notices and the demo integrations (docs/integrations.md)
# ---------------------------------------------------------------------------------------------


class OutboxMessage(models.Model):
    """One message to deliver: an SMS or e-mail to a citizen, a staff notice, a status update
    for the national portal. Written in the same transaction as the event that caused it
    (``motcua.outbox``), delivered by ``motcua.deliver_outbox``; the table, not the broker, is
    the source of truth. ``key`` makes one event's message to one recipient unique."""

    class Channel(models.TextChoices):
        EMAIL = "email", _("Thư điện tử")
        SMS = "sms", _("Tin nhắn SMS")
        PORTAL = "portal", _("Cổng Dịch vụ công quốc gia")
        NOTICE = "notice", _("Thông báo cho cán bộ")

    class Status(models.TextChoices):
        PENDING = "pending", _("Chờ gửi")
        FAILED = "failed", _("Gửi lỗi, sẽ gửi lại")
        SENT = "sent", _("Đã gửi")
        DEAD = "dead", _("Ngừng gửi, cần xử lý")

    # Unique through a constraint in Meta (no LIKE index: nothing searches keys by prefix).
    key = models.CharField(_("khóa chống trùng"), max_length=320)
    channel = models.CharField(_("kênh"), max_length=16, choices=Channel.choices)
    topic = models.CharField(_("nội dung"), max_length=32)
    recipient = models.CharField(_("người nhận"), max_length=320)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("cán bộ nhận"), db_index=False,
    )
    subject = models.CharField(_("tiêu đề"), max_length=255, blank=True)
    body = models.TextField(_("nội dung"), blank=True)
    payload = models.JSONField(_("dữ liệu"), default=dict, blank=True)
    dossier = models.ForeignKey(
        "dossiers.Dossier", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("hồ sơ"),
    )
    event = models.ForeignKey(
        "dossiers.DossierEvent", null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", verbose_name=_("sự kiện"),
    )
    status = models.CharField(
        _("trạng thái"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("số lần gửi"), default=0)
    next_attempt_at = models.DateTimeField(_("gửi lần tới lúc"), default=timezone.now)
    last_error = models.TextField(_("lỗi gần nhất"), blank=True)
    provider_ref = models.CharField(_("mã của nhà cung cấp"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("tạo lúc"), default=timezone.now)
    sent_at = models.DateTimeField(_("gửi lúc"), null=True, blank=True)

    class Meta:
        verbose_name = _("tin chờ gửi (outbox)")
        verbose_name_plural = _("tin chờ gửi (outbox)")
        ordering = ["-id"]
        indexes = [
            # What the delivery task scans: only the rows still to send.
            models.Index(
                fields=["next_attempt_at", "id"], name="outbox_due_idx",
                condition=Q(status__in=["pending", "failed"]),
            ),
            # "Is an earlier portal message of this dossier still unsent?" (in-order delivery)
            models.Index(
                fields=["dossier", "id"], name="outbox_portal_unsent_idx",
                condition=Q(channel="portal") & ~Q(status="sent"),
            ),
            models.Index(
                fields=["status", "channel"], name="outbox_attention_idx",
                condition=Q(status__in=["failed", "dead"]),
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["key"], name="motcua_outboxmessage_key_key"),
            models.CheckConstraint(
                condition=Q(channel__in=["email", "sms", "portal", "notice"]),
                name="outbox_channel_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "failed", "sent", "dead"]),
                name="outbox_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} → {self.recipient} ({self.get_status_display()})"


class StaffNotice(models.Model):
    """An in-app notice for one member of staff (the bell in the top bar). Created by the
    delivery of an outbox message of channel ``notice``, in the same transaction that marks it
    sent: one notice per message, exactly once."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", _("Được phân công")
        ARRIVED = "arrived", _("Hồ sơ chuyển đến")
        DUE_SOON = "due_soon", _("Sắp đến hạn")
        RATED = "rated", _("Có đánh giá mới")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notices",
        verbose_name=_("cán bộ"), db_index=False,  # notice_user_idx starts with it
    )
    message = models.OneToOneField(
        OutboxMessage, null=True, blank=True, on_delete=models.SET_NULL, related_name="notice"
    )
    kind = models.CharField(_("loại"), max_length=16, choices=Kind.choices)
    dossier = models.ForeignKey(
        "dossiers.Dossier", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        verbose_name=_("hồ sơ"),
    )
    title = models.CharField(_("tiêu đề"), max_length=255)
    body = models.TextField(_("nội dung"), blank=True)
    url = models.CharField(_("đường dẫn"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("lúc"), default=timezone.now)
    read_at = models.DateTimeField(_("đã xem lúc"), null=True, blank=True)

    class Meta:
        verbose_name = _("thông báo cho cán bộ")
        verbose_name_plural = _("thông báo cho cán bộ")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="notice_user_idx"),
            models.Index(
                fields=["user"], name="notice_unread_idx", condition=Q(read_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return self.title


class DueSoonNotified(models.Model):
    """Marks that the staff were told a dossier is due soon for this appointment: one notice
    per dossier per appointment (an apology moves the appointment, and a new notice may
    follow)."""

    dossier = models.ForeignKey("dossiers.Dossier", on_delete=models.CASCADE, related_name="+")
    due_at = models.DateTimeField(_("ngày hẹn trả"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("đã báo sắp đến hạn")
        verbose_name_plural = _("đã báo sắp đến hạn")
        constraints = [
            models.UniqueConstraint(fields=["dossier", "due_at"], name="due_soon_once"),
        ]

    def __str__(self) -> str:
        return f"{self.dossier_id} {self.due_at.isoformat()}"


class DemoSms(models.Model):
    """What the demo SMS gateway (``motcua.integrations.sms.DemoSmsBackend``) was asked to
    send: the demo and the tests read it instead of a telephone."""

    to = models.CharField(_("số điện thoại"), max_length=32)
    text = models.TextField(_("nội dung"))
    key = models.CharField(_("khóa chống trùng"), max_length=320, db_index=True)
    created_at = models.DateTimeField(_("lúc"), default=timezone.now)

    class Meta:
        verbose_name = _("tin nhắn SMS (demo)")
        verbose_name_plural = _("tin nhắn SMS (demo)")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.to}: {self.text[:40]}"


class DemoPortalRecord(models.Model):
    """What the demo portal adapter (``motcua.integrations.portal.DemoPortalAdapter``) would
    have sent to the national public-service portal."""

    event_id = models.BigIntegerField(_("sự kiện"))
    sequence = models.PositiveIntegerField(_("số thứ tự của hồ sơ"))
    dossier_code = models.CharField(_("mã hồ sơ"), max_length=64, db_index=True)
    status = models.PositiveSmallIntegerField(_("mã trạng thái quốc gia"))
    payload = models.JSONField(_("dữ liệu"))
    key = models.CharField(_("khóa chống trùng"), max_length=320, db_index=True)
    created_at = models.DateTimeField(_("lúc"), default=timezone.now)

    class Meta:
        verbose_name = _("bản tin gửi Cổng DVC quốc gia (demo)")
        verbose_name_plural = _("bản tin gửi Cổng DVC quốc gia (demo)")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.dossier_code} #{self.sequence}: {self.status}"
