"""Attachments: files stored through Django's storage under a path nobody can guess."""

from __future__ import annotations

import logging

from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from dossiers import permissions
from dossiers.models import Attachment, Dossier, EventKind
from dossiers.services._common import append_event
from dossiers.validators import CheckedUpload, check_upload
from motcua.errors import PermissionDenied, TransitionNotAllowed, ValidationError

logger = logging.getLogger(__name__)

__all__ = ["dossier_attach"]


def dossier_attach(*, dossier: Dossier, file, kind: str, actor) -> Attachment:
    """Attach a file to an open dossier and log it.

    Rules: the type is read from the content (PDF, JPEG, PNG, DOCX), the size is at most
    ``MOTCUA_UPLOAD_MAX_BYTES``; scans and supplements come from the desk, the result from
    whoever holds the current step (or the desk), uploads from the citizen while the dossier is
    submitted (``actor`` None). Attaching does not change the dossier's version: it does not
    conflict with a transition.
    """
    if kind not in Attachment.Kind.values:
        raise ValidationError(_("Loại tệp đính kèm không hợp lệ."), code="invalid_kind")
    checked = check_upload(file)
    stored: list[Attachment] = []
    try:
        with transaction.atomic():
            locked = Dossier.objects.select_for_update().get(pk=dossier.pk)
            if not permissions.can_attach(actor, locked, kind):
                raise PermissionDenied()
            if not locked.is_open:
                raise TransitionNotAllowed(
                    _("Hồ sơ %(code)s đã kết thúc (“%(state)s”), không đính kèm thêm tệp.")
                    % {"code": locked.code, "state": locked.get_state_display()},
                    code="dossier_closed",
                )
            attachment = store_attachment(locked, file, checked, kind=kind, actor=actor)
            stored.append(attachment)
            append_event(
                dossier=locked, at=timezone.now(), actor=actor, transition=EventKind.ATTACH,
                from_state=locked.state, to_state=locked.state, step=locked.current_step,
                data={
                    "attachment": attachment.pk, "kind": kind, "name": attachment.original_name,
                    "size": attachment.size, "sha256": attachment.sha256,
                },
            )
    except BaseException:
        discard_files(stored)
        raise
    return attachment


def store_attachment(dossier: Dossier, file, checked: CheckedUpload, *, kind: str, actor) -> Attachment:
    """Write the (already checked) file to storage and its row (inside the caller's
    transaction; the caller removes the file if that transaction fails)."""
    if checked is None:
        checked = check_upload(file)
    file.seek(0)
    attachment = Attachment(
        dossier=dossier, kind=kind, original_name=checked.original_name,
        content_type=checked.content_type, size=checked.size, sha256=checked.sha256,
        uploaded_by=actor if getattr(actor, "pk", None) else None,
    )
    attachment.file.save("upload", file if isinstance(file, File) else File(file), save=False)
    attachment.save()
    return attachment


def discard_files(stored: list[Attachment]) -> None:
    """Remove files written by a transaction that did not commit."""
    for attachment in stored:
        try:
            attachment.file.storage.delete(attachment.file.name)
        except Exception:
            logger.exception("Could not remove orphan upload %s", attachment.file.name)
