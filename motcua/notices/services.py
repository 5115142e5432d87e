"""Reads and the one write of the notices: a member of staff sees and marks only their own."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from motcua.models import StaffNotice


def notices_of(*, user) -> QuerySet[StaffNotice]:
    return StaffNotice.objects.filter(user=user).select_related("dossier").order_by("-created_at", "-id")


def notice_unread_count(*, user) -> int:
    return StaffNotice.objects.filter(user=user, read_at__isnull=True).count()


def notice_mark_read(*, user, notice_ids: list[int] | None = None) -> int:
    """Mark the user's notices read (``notice_ids``: only those; None: all). Others' notices
    are never touched."""
    notices = StaffNotice.objects.filter(user=user, read_at__isnull=True)
    if notice_ids is not None:
        notices = notices.filter(pk__in=notice_ids)
    return notices.update(read_at=timezone.now())
