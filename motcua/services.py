"""Writes of the shared core. Views, the API, admin actions and commands all come through here."""

from __future__ import annotations

import logging
from datetime import date as Date
from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from motcua import calendar
from motcua.errors import PermissionDenied, ValidationError
from motcua.models import CalendarDay, Role
from motcua.permissions import has_role

logger = logging.getLogger(__name__)

CALENDAR_FIRST_YEAR, CALENDAR_LAST_YEAR = 2000, 2099
NOTE_MAX_LENGTH = CalendarDay._meta.get_field("note").max_length


def _require_calendar_admin(actor) -> None:
    if not has_role(actor, Role.CATALOGUE_ADMIN):
        raise PermissionDenied(_("Chỉ cán bộ kiểm soát TTHC được điều chỉnh lịch làm việc."))


def calendar_day_set(*, date: Date, kind: str, note: str, actor) -> CalendarDay:
    """Record an admin's word on one day; it wins over the state calendar at once.

    ``kind`` ``day_off``: an extra day off, or cancelling a make-up working day;
    ``working_day``: a make-up working day, or cancelling a holiday. Replaces the day's earlier
    override if there is one. Rules enforced:

    - only a catalogue admin (or a superuser) may do it (``PermissionDenied``);
    - the date lies in 2000–2099, ``kind`` is one of the two, and ``note`` (the reason, e.g.
      the decision's number) is given and fits (``ValidationError``, codes
      ``calendar_day_out_of_range``, ``calendar_day_kind``, ``calendar_day_note``);
    - the override must change something: a day off on a day the state calendar already has
      off, or a working day on a day it already works, is refused
      (``calendar_day_redundant``) — a redundant row would silently change meaning if the
      state calendar changed.

    Deadlines computed afterwards, in this process at once and in others within
    ``calendar.RECHECK_SECONDS``, follow the new calendar; deadlines already stored (printed
    appointments) are not recomputed.
    """
    _require_calendar_admin(actor)
    if (
        not isinstance(date, Date)
        or isinstance(date, datetime)
        or not CALENDAR_FIRST_YEAR <= date.year <= CALENDAR_LAST_YEAR
    ):
        raise ValidationError(
            _("Ngày phải nằm trong khoảng năm %(first)s–%(last)s.")
            % {"first": CALENDAR_FIRST_YEAR, "last": CALENDAR_LAST_YEAR},
            code="calendar_day_out_of_range",
        )
    if kind not in CalendarDay.Kind.values:
        raise ValidationError(
            _("Loại ngày không hợp lệ: chọn “Ngày nghỉ” hoặc “Ngày làm việc”."),
            code="calendar_day_kind",
        )
    note = (note or "").strip()
    if not note or len(note) > NOTE_MAX_LENGTH:
        raise ValidationError(
            _("Vui lòng ghi lý do điều chỉnh (tối đa %(n)s ký tự), ví dụ số văn bản.")
            % {"n": NOTE_MAX_LENGTH},
            code="calendar_day_note",
        )
    working = kind == CalendarDay.Kind.WORKING_DAY
    if calendar.statutory_is_working_day(date) == working:
        if working:
            message = _(
                "Ngày %(day)s vốn đã là ngày làm việc theo lịch nhà nước; không cần điều chỉnh."
            )
        else:
            message = _("Ngày %(day)s vốn đã là ngày nghỉ theo lịch nhà nước; không cần điều chỉnh.")
        raise ValidationError(message % {"day": f"{date:%d/%m/%Y}"}, code="calendar_day_redundant")

    with transaction.atomic():
        day, created = CalendarDay.objects.update_or_create(
            date=date, defaults={"kind": kind, "note": note, "updated_by": actor}
        )
        transaction.on_commit(calendar.invalidate)
    calendar.invalidate()
    logger.info(
        "calendar day %s: %s %s by %s (%s)",
        "added" if created else "changed", date.isoformat(), kind, actor, note,
    )
    return day


def calendar_day_clear(*, date: Date, actor) -> bool:
    """Remove the admin's override of ``date``: the state calendar decides that day again.

    Only a catalogue admin (or a superuser) may (``PermissionDenied``). Returns whether there
    was an override; clearing a day twice is harmless. Takes effect like
    :func:`calendar_day_set`.
    """
    _require_calendar_admin(actor)
    with transaction.atomic():
        deleted, _rows = CalendarDay.objects.filter(date=date).delete()
        if deleted:
            transaction.on_commit(calendar.invalidate)
    if deleted:
        calendar.invalidate()
        logger.info("calendar day cleared: %s by %s", date.isoformat(), actor)
    return bool(deleted)
