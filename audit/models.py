"""Who saw which citizen's dossier, and who changed the catalogue and settings.

``AccessRecord`` is the staff access log: one row each time a member of staff reads a dossier's
personal data (its page, a file, an official document, an API detail) or exports a list of
dossiers (one row for the export, with its filters and its count). It is append-only three
times over: ``save()`` refuses to update, ``delete()`` and queryset writes refuse, and on
PostgreSQL a trigger refuses UPDATE, DELETE and TRUNCATE (migration 0002). The one deleter is
``manage.py prune_access_log`` (retention, docs/operations.md "Staff access log"), which the trigger lets
through only inside its own transaction.

The change history of the catalogue and the settings is django-simple-history's: the
historical tables live in this app (``audit.history`` registers them, at the end of this
module, so that their migrations are ours and no other app's models change).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class AppendOnlyError(Exception):
    """A write that would change or remove a row of the access log."""


class AccessKind(models.TextChoices):
    PAGE = "page", _("Xem trang hồ sơ")
    ATTACHMENT = "attachment", _("Mở tệp đính kèm")
    DOCUMENT = "document", _("In / tải văn bản (PDF, Excel)")
    EXPORT = "export", _("Xuất danh sách (Excel)")
    API_DETAIL = "api_detail", _("API: đọc chi tiết hồ sơ")


class AccessRecordQuerySet(models.QuerySet):
    """Reads and inserts only: every other queryset write refuses."""

    def _refuse(self, *args, **kwargs):
        raise AppendOnlyError("The staff access log is append-only.")

    update = delete = bulk_update = update_or_create = _update = _refuse


class AccessRecord(models.Model):
    """One reading of a citizen's personal data by a member of staff: who, what, how, when,
    from which address, in which request. Rows are written once and never changed."""

    at = models.DateTimeField(_("thời điểm"), default=timezone.now)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("cán bộ"), db_index=False,
    )  # access_user_at_idx starts with it
    kind = models.CharField(_("cách truy cập"), max_length=16, choices=AccessKind.choices)
    dossier = models.ForeignKey(
        "dossiers.Dossier", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
        verbose_name=_("hồ sơ"), db_index=False,
    )  # access_dossier_at_idx starts with it
    #: The code as it was when read: a provisional online code becomes the official one.
    dossier_code = models.CharField(_("mã hồ sơ"), max_length=64, blank=True)
    #: Rows in an export; empty for a single dossier.
    count = models.PositiveIntegerField(_("số hồ sơ"), null=True, blank=True)
    #: What exactly: ``document`` (form kind), ``attachment`` (id, file name), ``list`` and
    #: ``filters`` (export), ``api`` (true when read through the API).
    data = models.JSONField(_("chi tiết"), default=dict, blank=True)
    ip = models.GenericIPAddressField(_("địa chỉ IP"), null=True, blank=True)
    request_id = models.CharField(_("mã yêu cầu"), max_length=64, blank=True)

    objects = AccessRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("lượt truy cập hồ sơ")
        verbose_name_plural = _("nhật ký truy cập hồ sơ")
        ordering = ["-at", "-id"]
        base_manager_name = "objects"
        indexes = [
            models.Index(fields=["dossier", "at"], name="access_dossier_at_idx"),
            models.Index(fields=["user", "at"], name="access_user_at_idx"),
            models.Index(fields=["at"], name="access_at_idx"),
        ]

    def __str__(self) -> str:
        what = self.dossier_code or self.data.get("list", "")
        return f"{self.at:%Y-%m-%d %H:%M} {self.user_id} {self.kind} {what}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("The staff access log is append-only.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("The staff access log is append-only.")


# The historical models of the catalogue and the settings (django-simple-history).
from audit import history  # noqa: E402, F401
