"""Dossiers (hồ sơ) and their life: the state machine, the internal-process steps, the documents
received, attachments and the append-only event log (docs/dossier-lifecycle.md).

Nothing here writes by itself: every change goes through ``dossiers.services``. The transition
methods on :class:`Dossier` only declare the graph (django-fsm); they have no side effects.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import GET_STATE, ConcurrentTransitionMixin, FSMField, transition

from motcua.models import Agency, Role, Unit
from procedures.models import Channel, ProcedureVersion, ProcessStep, RequiredDocument


class State(models.TextChoices):
    """The states of DOMAIN.md "The dossier and its life", with their Vietnamese labels."""

    SUBMITTED = "submitted", _("Mới đăng ký")
    RECEIVED = "received", _("Đã tiếp nhận")
    IN_PROGRESS = "in_progress", _("Đang xử lý")
    SUPPLEMENT_REQUESTED = "supplement_requested", _("Yêu cầu bổ sung")
    AWAITING_APPROVAL = "awaiting_approval", _("Chờ phê duyệt")
    RESULT_READY = "result_ready", _("Có kết quả, chờ trả")
    RETURNED = "returned", _("Đã trả kết quả")
    REFUSED = "refused", _("Từ chối tiếp nhận")
    WITHDRAWN = "withdrawn", _("Công dân rút hồ sơ")
    STOPPED = "stopped", _("Dừng xử lý")


TERMINAL_STATES = (State.RETURNED, State.REFUSED, State.WITHDRAWN, State.STOPPED)
OPEN_STATES = tuple(s for s in State if s not in TERMINAL_STATES)
#: Open and already received: the clock runs (or is paused) and an appointment exists.
PROCESSING_STATES = tuple(s for s in OPEN_STATES if s != State.SUBMITTED)

#: National public-service portal status codes (DOMAIN.md "National portal status codes").
NATIONAL_STATUS = {
    State.SUBMITTED: 1,
    State.RECEIVED: 2,
    State.REFUSED: 3,
    State.IN_PROGRESS: 4,
    State.AWAITING_APPROVAL: 4,
    State.SUPPLEMENT_REQUESTED: 5,
    State.WITHDRAWN: 7,
    State.STOPPED: 8,
    State.RESULT_READY: 9,
    State.RETURNED: 10,
}
NATIONAL_CHANNEL = {Channel.IN_PERSON: 1, Channel.ONLINE: 2, Channel.POST: 3}


class Transition(models.TextChoices):
    """Transition names (CONTRACT.md) and how people call them."""

    RECEIVE = "receive", _("Tiếp nhận hồ sơ")
    REFUSE = "refuse", _("Từ chối tiếp nhận")
    START = "start", _("Chuyển xử lý")
    FORWARD = "forward", _("Chuyển bước tiếp theo")
    REQUEST_SUPPLEMENT = "request_supplement", _("Yêu cầu bổ sung hồ sơ")
    SUPPLEMENT = "supplement", _("Nhận hồ sơ bổ sung")
    SUBMIT_FOR_APPROVAL = "submit_for_approval", _("Trình phê duyệt")
    APPROVE = "approve", _("Phê duyệt")
    DENY = "deny", _("Từ chối giải quyết")
    SEND_BACK = "send_back", _("Trả lại để xử lý lại")
    RETURN_RESULT = "return_result", _("Trả kết quả")
    WITHDRAW = "withdraw", _("Rút hồ sơ theo yêu cầu của công dân")
    STOP = "stop", _("Dừng xử lý hồ sơ")


class EventKind(models.TextChoices):
    """What an event row records: a transition, or one of the other writes of the log."""

    SUBMIT = "submit", _("Nộp hồ sơ trực tuyến")
    ASSIGN = "assign", _("Phân công xử lý")
    ATTACH = "attach", _("Đính kèm tệp")
    APOLOGY = "apology", _("Văn bản xin lỗi và đề nghị gia hạn thời gian giải quyết")
    PAYMENT = "payment", _("Thanh toán phí, lệ phí trực tuyến")


class Outcome(models.TextChoices):
    GRANTED = "granted", _("Giải quyết")
    DENIED = "denied", _("Từ chối giải quyết")


class IdType(models.TextChoices):
    CITIZEN_ID = "citizen_id", _("Số định danh cá nhân (CCCD)")
    PASSPORT = "passport", _("Hộ chiếu")


def _after_approval(dossier, *args, to=None, **kwargs):
    """The service decides where an approval leads (docs: multi-level and inter-agency)."""
    return to


def _after_forward(dossier, *args, to=None, **kwargs):
    """Usually the next processing step; after the last one, once a leader has approved
    (inter-agency follow-up after the signature), the desk's result."""
    return to or State.IN_PROGRESS


class Dossier(ConcurrentTransitionMixin, models.Model):
    """A dossier (hồ sơ) received under one procedure version by one agency."""

    # Unique through constraints in Meta, not ``unique=True``: on PostgreSQL that would add a
    # second, ``varchar_pattern_ops`` index for LIKE 'prefix%' searches that nothing makes,
    # and every reception would pay for it (migration 0008_drop_like_indexes).
    code = models.CharField(
        _("mã hồ sơ"), max_length=64,
        help_text=_("<mã định danh cơ quan>-<yymmdd>-<số thứ tự>; mã tạm khi mới đăng ký."),
    )
    provisional_code = models.CharField(
        _("mã tạm (nộp trực tuyến)"), max_length=64, null=True, blank=True
    )
    # No index of their own on these foreign keys (nor on current_unit, the steps' dossier and
    # unit, the events' dossier): each is the first column of a composite index below, which
    # answers the same lookups, and every reception would pay for a second one
    # (migration 0006_reception_speed, docs/dossier-lifecycle.md "Reception performance").
    procedure_version = models.ForeignKey(
        ProcedureVersion, on_delete=models.PROTECT, related_name="dossiers",
        verbose_name=_("thủ tục (phiên bản)"), db_index=False,
    )
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="dossiers",
        verbose_name=_("cơ quan tiếp nhận"), db_index=False,
    )
    channel = models.CharField(_("cách thức nộp"), max_length=16, choices=Channel.choices)

    applicant_name = models.CharField(_("người nộp"), max_length=255)
    applicant_name_folded = models.CharField(max_length=255, editable=False, default="")
    applicant_id_type = models.CharField(
        _("loại giấy tờ"), max_length=16, choices=IdType.choices, default=IdType.CITIZEN_ID
    )
    applicant_id_number = models.CharField(_("số giấy tờ"), max_length=20)
    applicant_phone = models.CharField(_("số điện thoại"), max_length=15)
    applicant_email = models.EmailField(_("thư điện tử"), blank=True)
    applicant_address = models.CharField(_("địa chỉ"), max_length=500, blank=True)

    state = FSMField(
        _("trạng thái"), max_length=32, choices=State.choices, default=State.SUBMITTED,
        protected=True,
    )
    submitted_at = models.DateTimeField(_("ngày nộp"), null=True, blank=True)
    received_at = models.DateTimeField(_("ngày tiếp nhận"), null=True, blank=True)
    clock_started_at = models.DateTimeField(_("bắt đầu tính thời hạn"), null=True, blank=True)
    due_at = models.DateTimeField(_("ngày hẹn trả"), null=True, blank=True)
    original_due_at = models.DateTimeField(_("ngày hẹn trả ban đầu"), null=True, blank=True)

    current_step = models.ForeignKey(
        "DossierStep", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=_("bước hiện tại"),
    )
    # Copied from current_step so that the queue is one indexed scan of this table.
    current_unit = models.ForeignKey(
        Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("đơn vị đang xử lý"), db_index=False,
    )
    current_role = models.CharField(max_length=20, choices=Role.choices, blank=True)
    current_handler = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", verbose_name=_("cán bộ thụ lý"),
    )
    # The unit of the first processing step when that step is an officer's (set at reception):
    # its officers may take the received dossier themselves (``permissions.can_start``), so it
    # waits in their queue. Read while the dossier is received only (``dossiers.selectors``);
    # a column so that this part of a queue is an index range (migration 0007).
    first_officer_unit = models.ForeignKey(
        Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("đơn vị thụ lý đầu tiên"), db_index=False, editable=False,
    )

    outcome = models.CharField(_("kết quả"), max_length=16, choices=Outcome.choices, blank=True)
    result_text = models.TextField(_("nội dung kết quả"), blank=True)
    result_ready_at = models.DateTimeField(_("có kết quả lúc"), null=True, blank=True)
    returned_at = models.DateTimeField(_("trả kết quả lúc"), null=True, blank=True)
    closed_at = models.DateTimeField(_("kết thúc lúc"), null=True, blank=True)
    paused_at = models.DateTimeField(_("tạm dừng từ"), null=True, blank=True)
    paused_hours = models.DecimalField(
        _("số giờ tạm dừng"), max_digits=9, decimal_places=2, default=0
    )
    supplement_requests = models.PositiveSmallIntegerField(_("số lần yêu cầu bổ sung"), default=0)

    # Set by the deadline sweep (a later issue); indexed for open dossiers only.
    is_due_soon = models.BooleanField(_("sắp đến hạn"), default=False)
    is_overdue = models.BooleanField(_("quá hạn"), default=False)

    version = models.PositiveIntegerField(
        _("phiên bản"), default=1, help_text=_("Tăng 1 sau mỗi thao tác (kiểm tra ghi đồng thời).")
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("hồ sơ")
        verbose_name_plural = _("hồ sơ")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["current_unit", "state", "due_at"], name="dossier_queue_idx"),
            models.Index(fields=["agency", "state", "due_at"], name="dossier_agency_queue_idx"),
            models.Index(fields=["-created_at", "-id"], name="dossier_newest_idx"),
            models.Index(fields=["procedure_version", "state"], name="dossier_version_state_idx"),
            models.Index(fields=["applicant_id_number"], name="dossier_applicant_id_idx"),
            models.Index(fields=["applicant_phone"], name="dossier_applicant_phone_idx"),
            models.Index(
                fields=["due_at"], name="dossier_open_due_idx",
                condition=Q(state__in=OPEN_STATES),
            ),
            models.Index(
                fields=["current_unit", "due_at"], name="dossier_overdue_idx",
                condition=Q(is_overdue=True, state__in=OPEN_STATES),
            ),
            models.Index(
                fields=["current_unit", "due_at"], name="dossier_due_soon_idx",
                condition=Q(is_due_soon=True, state__in=OPEN_STATES),
            ),
            # The reports' summary tables and live tail read dossiers by the moment they were
            # received, became ready or closed (docs/reports.md "Summary tables"); a dossier
            # enters the last two only when it gets there.
            models.Index(fields=["received_at"], name="dossier_received_at_idx",
                         condition=Q(received_at__isnull=False)),
            models.Index(fields=["result_ready_at"], name="dossier_result_ready_at_idx",
                         condition=Q(result_ready_at__isnull=False)),
            models.Index(fields=["closed_at"], name="dossier_closed_at_idx",
                         condition=Q(closed_at__isnull=False)),
        ]
        constraints = [
            models.UniqueConstraint(fields=["code"], name="dossiers_dossier_code_key"),
            models.UniqueConstraint(
                fields=["provisional_code"], name="dossiers_dossier_provisional_code_key"
            ),
            models.CheckConstraint(
                condition=Q(state__in=[s.value for s in State]), name="dossier_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(outcome__in=["", *Outcome.values]), name="dossier_outcome_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.code

    # ------------------------------------------------------------------------------------------
    # The graph. Bodies are empty on purpose: dossiers.services does the work around them.
    # ------------------------------------------------------------------------------------------

    @transition(field=state, source=State.SUBMITTED, target=State.RECEIVED)
    def receive(self):
        pass

    @transition(field=state, source=State.SUBMITTED, target=State.REFUSED)
    def refuse(self):
        pass

    @transition(field=state, source=State.RECEIVED, target=State.IN_PROGRESS)
    def start(self):
        pass

    @transition(
        field=state, source=State.IN_PROGRESS,
        target=GET_STATE(_after_forward, states=[State.IN_PROGRESS, State.RESULT_READY]),
    )
    def forward(self, *, to=None):
        pass

    @transition(field=state, source=State.IN_PROGRESS, target=State.SUPPLEMENT_REQUESTED)
    def request_supplement(self):
        pass

    @transition(field=state, source=State.SUPPLEMENT_REQUESTED, target=State.IN_PROGRESS)
    def supplement(self):
        pass

    @transition(field=state, source=State.IN_PROGRESS, target=State.AWAITING_APPROVAL)
    def submit_for_approval(self):
        pass

    @transition(
        field=state, source=State.AWAITING_APPROVAL,
        target=GET_STATE(
            _after_approval,
            states=[State.RESULT_READY, State.AWAITING_APPROVAL, State.IN_PROGRESS],
        ),
    )
    def approve(self, *, to):
        pass

    @transition(field=state, source=State.AWAITING_APPROVAL, target=State.RESULT_READY)
    def deny(self):
        pass

    @transition(field=state, source=State.AWAITING_APPROVAL, target=State.IN_PROGRESS)
    def send_back(self):
        pass

    @transition(field=state, source=State.RESULT_READY, target=State.RETURNED)
    def return_result(self):
        pass

    @transition(field=state, source=list(OPEN_STATES), target=State.WITHDRAWN)
    def withdraw(self):
        pass

    @transition(field=state, source=list(PROCESSING_STATES), target=State.STOPPED)
    def stop(self):
        pass

    # ------------------------------------------------------------------------------------------

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def is_paused(self) -> bool:
        return self.state == State.SUPPLEMENT_REQUESTED

    @property
    def national_status(self) -> int:
        return NATIONAL_STATUS[State(self.state)]

    @property
    def national_channel(self) -> int:
        return NATIONAL_CHANNEL[Channel(self.channel)]

    @property
    def timeliness(self) -> str | None:
        """``early`` / ``on_time`` / ``late`` once the result is ready (result_ready_at against
        the appointment, to the minute and by calendar day for "early"); ``None`` before."""
        if not self.result_ready_at or not self.due_at:
            return None
        if self.result_ready_at > self.due_at:
            return "late"
        tz = timezone.get_default_timezone()
        if self.result_ready_at.astimezone(tz).date() < self.due_at.astimezone(tz).date():
            return "early"
        return "on_time"


class DossierStep(models.Model):
    """One step of the internal process for one dossier, with its unit resolved.

    Copied from the version's :class:`ProcessStep` when the dossier is received. A step done
    again (the leader sent the dossier back) gets a new row with the next ``attempt``.
    """

    dossier = models.ForeignKey(
        Dossier, on_delete=models.CASCADE, related_name="steps", db_index=False
    )  # dossier_step_unique starts with it
    process_step = models.ForeignKey(
        ProcessStep, null=True, blank=True, on_delete=models.PROTECT,
        related_name="dossier_steps",
    )
    position = models.PositiveSmallIntegerField(_("thứ tự"))
    attempt = models.PositiveSmallIntegerField(_("lần"), default=1)
    name = models.CharField(_("tên bước"), max_length=255)
    # No index: nothing reads steps by agency (a delete of an agency, refused by PROTECT, is
    # the only query that would), and it cost every reception four entries (migration 0011).
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+", db_index=False)
    unit = models.ForeignKey(
        Unit, on_delete=models.PROTECT, related_name="dossier_steps", db_index=False
    )  # dossier_step_unit_idx starts with it
    role = models.CharField(_("vai trò"), max_length=20, choices=Role.choices)
    hours = models.DecimalField(_("thời gian (giờ làm việc)"), max_digits=7, decimal_places=2)
    started_at = models.DateTimeField(_("bắt đầu"), null=True, blank=True)
    due_at = models.DateTimeField(_("hạn xử lý"), null=True, blank=True)
    finished_at = models.DateTimeField(_("hoàn thành"), null=True, blank=True)
    handler = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", verbose_name=_("người xử lý"),
    )
    on_time = models.BooleanField(_("đúng hạn"), null=True, blank=True)

    class Meta:
        verbose_name = _("bước xử lý hồ sơ")
        verbose_name_plural = _("bước xử lý hồ sơ")
        ordering = ["dossier_id", "position", "attempt"]
        constraints = [
            models.UniqueConstraint(
                fields=["dossier", "position", "attempt"], name="dossier_step_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["unit", "dossier"], name="dossier_step_unit_idx"),
            # The reports' summary tables and live tail: steps finished in a period
            # (docs/reports.md "Summary tables"); an unfinished step has no entry.
            models.Index(fields=["finished_at"], name="dossier_step_finished_idx",
                         condition=Q(finished_at__isnull=False)),
        ]

    def __str__(self) -> str:
        suffix = f" (lần {self.attempt})" if self.attempt > 1 else ""
        return f"{self.position}. {self.name}{suffix}"


class DossierDocument(models.Model):
    """One line of the checklist of documents (thành phần hồ sơ) received with the dossier."""

    dossier = models.ForeignKey(Dossier, on_delete=models.CASCADE, related_name="documents")
    required_document = models.ForeignKey(
        RequiredDocument, null=True, blank=True, on_delete=models.PROTECT,
        related_name="dossier_documents",
    )
    position = models.PositiveSmallIntegerField(default=0)
    name = models.TextField(_("tên giấy tờ"))
    originals = models.PositiveSmallIntegerField(_("số bản chính"), default=0)
    copies = models.PositiveSmallIntegerField(_("số bản sao"), default=0)
    received = models.BooleanField(_("đã nhận"), default=False)

    class Meta:
        verbose_name = _("giấy tờ trong hồ sơ")
        verbose_name_plural = _("giấy tờ trong hồ sơ")
        ordering = ["dossier_id", "position", "id"]

    def __str__(self) -> str:
        return self.name


def attachment_path(instance: Attachment, filename: str) -> str:
    """A path nobody can guess or read meaning into: no name, no code, no applicant."""
    import secrets

    ext = instance.extension or "bin"
    now = timezone.localtime()
    return f"dossiers/{now:%Y/%m}/{secrets.token_urlsafe(24)}.{ext}"


class Attachment(models.Model):
    """A stored file of a dossier: a scan at the desk, an online upload, a supplement, the
    signed result. Served only through a view that checks permissions (path not guessable)."""

    class Kind(models.TextChoices):
        SCAN = "scan", _("Bản quét tại quầy")
        UPLOAD = "upload", _("Tệp nộp trực tuyến")
        SUPPLEMENT = "supplement", _("Tài liệu bổ sung")
        RESULT = "result", _("Kết quả giải quyết")

    dossier = models.ForeignKey(Dossier, on_delete=models.PROTECT, related_name="attachments")
    kind = models.CharField(_("loại"), max_length=16, choices=Kind.choices)
    file = models.FileField(_("tệp"), upload_to=attachment_path, max_length=255)
    original_name = models.CharField(_("tên tệp gốc"), max_length=255)
    content_type = models.CharField(_("kiểu nội dung"), max_length=100)
    size = models.PositiveBigIntegerField(_("kích thước (byte)"))
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    uploaded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("tệp đính kèm")
        verbose_name_plural = _("tệp đính kèm")
        ordering = ["dossier_id", "uploaded_at", "id"]

    def __str__(self) -> str:
        return self.original_name

    @property
    def extension(self) -> str:
        from dossiers.validators import EXTENSIONS

        return EXTENSIONS.get(self.content_type, "")


class AppendOnlyError(Exception):
    """Someone tried to change or delete a row of the event log."""


class WrittenOnce(models.Model):
    """Rows written once, never changed or deleted (a PostgreSQL trigger enforces it too)."""

    refusal = AppendOnlyError
    refusal_message = "The dossier event log is append-only."

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise self.refusal(self.refusal_message)
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise self.refusal(self.refusal_message)


class AppendOnlyQuerySet(models.QuerySet):
    """Queryset writes other than inserts refuse, with the model's own error (WrittenOnce)."""

    def _refuse(self, *args, **kwargs):
        raise self.model.refusal(self.model.refusal_message)

    update = delete = bulk_update = update_or_create = _update = _refuse


class DossierEvent(WrittenOnce):
    """One line of the dossier's log: who, when, from/to, the step, a comment, on time or not.

    Append-only, enforced three times: ``save()`` refuses to update, ``delete()`` and queryset
    writes refuse, and on PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE (migration
    0002).
    """

    dossier = models.ForeignKey(
        Dossier, on_delete=models.PROTECT, related_name="events", db_index=False
    )  # dossier_event_dossier_idx starts with it
    at = models.DateTimeField(_("thời điểm"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", verbose_name=_("người thực hiện"),
        help_text=_("Để trống: hệ thống hoặc công dân (nộp trực tuyến)."),
    )
    transition = models.CharField(_("thao tác"), max_length=32)
    from_state = models.CharField(_("từ trạng thái"), max_length=32, blank=True)
    to_state = models.CharField(_("đến trạng thái"), max_length=32, blank=True)
    step = models.ForeignKey(
        DossierStep, null=True, blank=True, on_delete=models.PROTECT, related_name="events",
        verbose_name=_("bước"),
    )
    comment = models.TextField(_("ý kiến"), blank=True)
    on_time = models.BooleanField(_("đúng hạn"), null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("nhật ký hồ sơ")
        verbose_name_plural = _("nhật ký hồ sơ")
        ordering = ["dossier_id", "at", "id"]
        base_manager_name = "objects"
        indexes = [
            models.Index(fields=["dossier", "at"], name="dossier_event_dossier_idx"),
            models.Index(fields=["at"], name="dossier_event_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.dossier_id} {self.transition} {self.from_state}→{self.to_state}"

    @property
    def transition_label(self) -> str:
        for choices in (Transition, EventKind):
            if self.transition in choices.values:
                return str(choices(self.transition).label)
        return self.transition


class DossierCounter(models.Model):
    """The last sequence number an agency gave on a day. Incremented inside the reception
    transaction (``dossiers.codes``), so numbers have no gaps and no duplicates."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("bộ đếm mã hồ sơ")
        verbose_name_plural = _("bộ đếm mã hồ sơ")
        constraints = [
            models.UniqueConstraint(fields=["agency", "day"], name="dossier_counter_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.agency_id} {self.day}: {self.last}"


class ApologyImmutable(AppendOnlyError):
    """Someone tried to change or delete an apology letter."""


class Apology(WrittenOnce):
    """An apology and extension letter (Mẫu 04, văn bản xin lỗi và đề nghị gia hạn) for one
    appointment of one dossier that was missed, or was about to be (docs/deadlines.md).

    Exactly one per missed appointment: ``(dossier, for_due_at)`` is unique, so no race can
    issue two. The letter names the step, unit and officer at fault (they count against them in
    reports) and the new appointment it gives. Immutable, enforced like the event log: ``save()``
    refuses to update, ``delete()`` and queryset writes refuse, and on PostgreSQL a trigger
    refuses UPDATE, DELETE and TRUNCATE (migration ``*_apology``). The PDF is rendered from
    this row on demand (``documents.render_dossier_document(kind="apology", apology=...)``).
    """

    refusal = ApologyImmutable
    refusal_message = "An apology letter is never changed or deleted."

    class Kind(models.TextChoices):
        AUTO = "auto", _("Tự động (hệ thống)")
        MANUAL = "manual", _("Do lãnh đạo lập")

    dossier = models.ForeignKey(
        Dossier, on_delete=models.PROTECT, related_name="apologies", db_index=False,
        verbose_name=_("hồ sơ"),
    )
    number = models.PositiveSmallIntegerField(
        _("lần thứ"), help_text=_("Thứ tự văn bản xin lỗi của hồ sơ: 1, 2, …")
    )
    kind = models.CharField(_("cách lập"), max_length=8, choices=Kind.choices, default=Kind.AUTO)
    issued_at = models.DateTimeField(_("ngày ban hành"))
    # Indexes cost every one of the sweep's bulk inserts; those two columns are never searched
    # (users and steps are never deleted, so PROTECT never has to look them up).
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", db_index=False, verbose_name=_("người lập"),
        help_text=_("Để trống: hệ thống."),
    )
    for_due_at = models.DateTimeField(_("ngày hẹn trả bị trễ"))
    new_due_at = models.DateTimeField(_("ngày hẹn trả mới"))
    state = models.CharField(_("trạng thái khi lập"), max_length=32, choices=State.choices)
    at_fault_step = models.ForeignKey(
        DossierStep, null=True, blank=True, on_delete=models.PROTECT, related_name="apologies",
        db_index=False, verbose_name=_("bước chậm giải quyết"),
    )
    at_fault_unit = models.ForeignKey(
        Unit, null=True, blank=True, on_delete=models.PROTECT, related_name="apologies",
        db_index=False, verbose_name=_("đơn vị chậm giải quyết"),
    )
    at_fault_officer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="apologies", db_index=False, verbose_name=_("cán bộ thụ lý"),
    )
    reason = models.TextField(_("lý do"), blank=True)

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        verbose_name = _("văn bản xin lỗi")
        verbose_name_plural = _("văn bản xin lỗi")
        ordering = ["dossier_id", "number"]
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(
                fields=["dossier", "for_due_at"], name="apology_once_per_appointment"
            ),
            models.UniqueConstraint(fields=["dossier", "number"], name="apology_number_unique"),
            models.CheckConstraint(
                condition=Q(new_due_at__gt=models.F("for_due_at")), name="apology_new_due_later"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["auto", "manual"]), name="apology_kind_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["at_fault_unit", "issued_at"], name="apology_unit_idx"),
            models.Index(fields=["at_fault_officer", "issued_at"], name="apology_officer_idx"),
            models.Index(fields=["issued_at"], name="apology_issued_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.dossier_id} #{self.number}"

    @property
    def already_late(self) -> bool:
        """Issued after the appointment had passed (else: predicted late, issued before it)."""
        return self.issued_at >= self.for_due_at
