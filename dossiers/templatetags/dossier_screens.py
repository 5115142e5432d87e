"""Presentation helpers of the staff dossier screens: dates the Vietnamese way, the time left
before an appointment in working hours, state badges. Pure functions of what the page already
loaded: no query per row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from dossiers.models import State
from motcua import calendar
from motcua.text import person_name

register = template.Library()

WEEKDAYS = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ nhật")
HOURS_PER_DAY = Decimal(8)

#: Badge colour of each state (the label always comes with it: colour is never alone).
STATE_CSS = {
    State.SUBMITTED: "st-new",
    State.RECEIVED: "st-received",
    State.IN_PROGRESS: "st-progress",
    State.SUPPLEMENT_REQUESTED: "st-paused",
    State.AWAITING_APPROVAL: "st-approval",
    State.RESULT_READY: "st-ready",
    State.RETURNED: "st-done",
    State.REFUSED: "st-closed",
    State.WITHDRAWN: "st-closed",
    State.STOPPED: "st-closed",
}


def due_soon_hours() -> Decimal:
    """Working hours left under which an open dossier is "due soon" (DOMAIN.md: one working
    day, configurable)."""
    return Decimal(str(getattr(settings, "MOTCUA_DUE_SOON_HOURS", 8)))


@register.filter
def weekday(value) -> str:
    if not value:
        return ""
    if isinstance(value, datetime):
        value = timezone.localtime(value)
    return WEEKDAYS[value.weekday()]


@register.filter
def when(value) -> str:
    """``09:00 Thứ Hai, 01/12/2025``."""
    if not value:
        return ""
    local = timezone.localtime(value)
    return f"{local:%H:%M} {WEEKDAYS[local.weekday()]}, {local:%d/%m/%Y}"


@register.filter
def short_when(value) -> str:
    """``09:00 01/12/2025``."""
    if not value:
        return ""
    return f"{timezone.localtime(value):%H:%M %d/%m/%Y}"


def hours_text(hours: Decimal) -> str:
    """Working hours for people: ``2 ngày 3 giờ``, ``5 giờ 30 phút``, ``45 phút``."""
    hours = abs(Decimal(hours))
    minutes_total = int((hours * 60).to_integral_value())
    days, minutes_left = divmod(minutes_total, int(HOURS_PER_DAY * 60))
    whole_hours, minutes = divmod(minutes_left, 60)
    parts = []
    if days:
        parts.append(_("%(n)d ngày") % {"n": days})
    if whole_hours:
        parts.append(_("%(n)d giờ") % {"n": whole_hours})
    if minutes and not days:
        parts.append(_("%(n)d phút") % {"n": minutes})
    return " ".join(parts) or _("dưới 1 phút")


register.filter("hours_text", hours_text)


@dataclass(frozen=True)
class Deadline:
    """Where an open dossier stands against its appointment, for a badge and a line of text.

    ``kind``: ``waiting`` (not received yet), ``on_track``, ``due_soon``, ``overdue``,
    ``paused`` (waiting for a supplement), ``early`` / ``on_time`` / ``late`` (result ready or
    returned), ``closed`` (refused, withdrawn, stopped), ``none``.
    """

    kind: str
    label: str
    text: str
    hours_left: Decimal | None = None

    @property
    def css(self) -> str:
        return {
            "on_track": "dl-ok", "early": "dl-ok", "on_time": "dl-ok",
            "due_soon": "dl-soon", "overdue": "dl-late", "late": "dl-late",
            "paused": "dl-paused",
        }.get(self.kind, "dl-none")

    @property
    def row_css(self) -> str:
        return {"due_soon": "row-soon", "overdue": "row-late"}.get(self.kind, "")


def deadline_of(dossier, now: datetime | None = None) -> Deadline:
    """The dossier against its appointment now, counted in working hours (office calendar).

    Live from ``due_at`` (the sweep's ``is_overdue`` / ``is_due_soon`` flags also count, so a
    row flagged by the sweep is never shown as on track)."""
    now = now or timezone.now()
    state = dossier.state
    if state == State.SUBMITTED:
        return Deadline("waiting", _("Chờ tiếp nhận"), "")
    if state in (State.RESULT_READY, State.RETURNED):
        timeliness = dossier.timeliness
        labels = {"early": _("Sớm hạn"), "on_time": _("Đúng hạn"), "late": _("Trễ hạn")}
        if timeliness:
            return Deadline(timeliness, labels[timeliness], "")
        return Deadline("none", "", "")
    if state in (State.REFUSED, State.WITHDRAWN, State.STOPPED):
        return Deadline("closed", _("Đã kết thúc"), "")
    if not dossier.due_at:
        return Deadline("none", "", "")
    if state == State.SUPPLEMENT_REQUESTED:
        since = dossier.paused_at or now
        left = calendar.working_hours_between(since, dossier.due_at)
        return Deadline(
            "paused", _("Tạm dừng, chờ bổ sung"),
            _("còn %(t)s khi tính tiếp") % {"t": hours_text(left)}, left,
        )
    left = calendar.working_hours_between(now, dossier.due_at)
    if now >= dossier.due_at or dossier.is_overdue:
        return Deadline("overdue", _("Quá hạn"), _("quá %(t)s") % {"t": hours_text(left)}, left)
    text = _("còn %(t)s") % {"t": hours_text(left)}
    if left < due_soon_hours() or dossier.is_due_soon:
        return Deadline("due_soon", _("Sắp đến hạn"), text, left)
    return Deadline("on_track", _("Trong hạn"), text, left)


@register.simple_tag
def deadline(dossier, now=None) -> Deadline:
    return deadline_of(dossier, now)


@register.filter
def state_css(state: str) -> str:
    return STATE_CSS.get(state, "")


@register.filter
def filesize(size) -> str:
    """``1,2 MB``, ``340 KB``."""
    if size is None:
        return ""
    size = int(size)
    if size >= 1024 * 1024:
        return f"{size / 1024 / 1024:.1f} MB".replace(".", ",")
    return f"{max(1, round(size / 1024))} KB"


register.filter("person", person_name)


@register.filter
def get(mapping, key):
    """``errors|get:"applicant.name"``."""
    if not mapping:
        return None
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.filter
def slot_id(slot: str) -> str:
    """An error slot name as an id fragment: ``applicant.name`` → ``applicant-name``."""
    return str(slot).replace(".", "-").replace("_", "-")


@register.filter
def state_label(value: str) -> str:
    if value in State.values:
        return str(State(value).label)
    return value or ""


#: What an event's ``data`` says that people want to read, in the timeline.
EVENT_DATA = [
    ("reasons", gettext_lazy("Lý do")),
    ("missing_documents", gettext_lazy("Giấy tờ cần bổ sung")),
    ("documents", gettext_lazy("Giấy tờ đã bổ sung")),
    ("reason", gettext_lazy("Lý do")),
    ("legal_basis", gettext_lazy("Căn cứ pháp lý")),
    ("officer_name", gettext_lazy("Phân công cho")),
    ("name", gettext_lazy("Tệp")),
]


@register.filter
def event_details(event) -> list[tuple[str, str]]:
    data = event.data or {}
    out = []
    for key, label in EVENT_DATA:
        value = data.get(key)
        if not value or (key == "documents" and not isinstance(value, list)):
            continue
        if isinstance(value, list | tuple):
            value = "; ".join(str(v) for v in value)
        out.append((str(label), str(value)))
    if data.get("paused_hours") not in (None, "", "0", "0.00"):
        out.append((
            str(_("Thời gian tạm dừng")),
            hours_text(Decimal(str(data["paused_hours"]))) + " " + str(_("làm việc")),
        ))
    if data.get("counts_late"):
        out.append((str(_("Lưu ý")), str(_("Yêu cầu bổ sung lần thứ hai: tính là trễ hạn."))))
    return out


@register.filter
def vnd(amount) -> str:
    """150000 → ``150.000`` (Vietnamese thousands separator)."""
    if amount in (None, ""):
        return ""
    return f"{int(amount):,}".replace(",", ".")


@register.filter
def brief(value) -> str:
    """``07:30 25/11`` (the year of the dossier is in its header)."""
    if not value:
        return ""
    return f"{timezone.localtime(value):%H:%M %d/%m}"
