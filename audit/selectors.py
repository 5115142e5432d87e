"""Reads of the access log and of the change history.

Who may read: the access log of a dossier — leaders (of a dossier they may see) and admins;
the whole access log and the change history — admins (superusers), in the Django admin and on
``/staff/audit/``.

The change history is django-simple-history's tables, one per registered model
(``audit.history.TRACKED``). The staff page reads them as one list: a UNION of the few columns
every historical table has, ordered by time and paged; then, for the page's rows only, each
table is read once for the rows and once for the version before each (what the diff compares
with). The query count depends on how many kinds of record a page shows, not on its rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import CharField, OuterRef, Q, QuerySet, Subquery, Value
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit.history import TRACKED
from audit.models import AccessRecord
from motcua.models import Role
from motcua.text import person_name

# ---------------------------------------------------------------------------------------------
# Access log
# ---------------------------------------------------------------------------------------------


def may_read_dossier_access(user) -> bool:
    """Leaders and admins see who read a dossier (of the dossiers they may see)."""
    from dossiers import permissions

    if not getattr(user, "is_authenticated", False):
        return False
    staff = permissions.staff_of(user)
    return bool(staff.superuser or staff.units_for(Role.LEADER))


def may_read_audit(user) -> bool:
    """The whole access log and the change history: admins."""
    return bool(getattr(user, "is_authenticated", False) and user.is_superuser)


def dossier_access_records(*, dossier) -> QuerySet[AccessRecord]:
    """Who read ``dossier``, newest first (``access_dossier_at_idx``)."""
    return (
        AccessRecord.objects.filter(dossier=dossier)
        .select_related("user").order_by("-at", "-id")
    )


def access_records(*, user_id: int | None = None, since: datetime | None = None,
                   until: datetime | None = None, kind: str | None = None,
                   dossier_code: str | None = None) -> QuerySet[AccessRecord]:
    """The access log filtered, newest first."""
    qs = AccessRecord.objects.select_related("user").order_by("-at", "-id")
    if user_id:
        qs = qs.filter(user_id=user_id)
    if since:
        qs = qs.filter(at__gte=since)
    if until:
        qs = qs.filter(at__lt=until)
    if kind:
        qs = qs.filter(kind=kind)
    if dossier_code:
        qs = qs.filter(dossier_code=dossier_code)
    return qs


def access_detail_text(record: AccessRecord) -> str:
    """What exactly was read, in words (the form, the file, the list's filters)."""
    data = record.data or {}
    parts = []
    if data.get("api"):
        parts.append("API")
    if data.get("document"):
        parts.append(str(data["document"]) + (f" #{data['number']}" if data.get("number") else ""))
    if data.get("attachment"):
        parts.append(f"{data.get('name', '')} (#{data['attachment']})")
    if data.get("list"):
        parts.append(str(data["list"]))
    filters = data.get("filters") or {}
    if filters:
        parts.append(", ".join(f"{k}={v}" for k, v in sorted(filters.items())))
    return " · ".join(p for p in parts if p)


ACCESS_COLUMNS = [
    (_("Thời điểm"), 18), (_("Cán bộ"), 26), (_("Tên đăng nhập"), 18), (_("Cách truy cập"), 24),
    (_("Mã hồ sơ"), 28), (_("Số hồ sơ"), 10), (_("Chi tiết"), 40), (_("Địa chỉ IP"), 16),
    (_("Mã yêu cầu"), 24),
]


def access_rows(records: Iterable[AccessRecord]) -> Iterator[list]:
    """The xlsx rows of ``records`` (``ACCESS_COLUMNS``)."""
    for r in records:
        yield [
            r.at, person_name(r.user), r.user.get_username(), r.get_kind_display(),
            r.dossier_code, r.count, access_detail_text(r), r.ip or "", r.request_id,
        ]


# ---------------------------------------------------------------------------------------------
# Change history
# ---------------------------------------------------------------------------------------------

#: Each tracked model by its key in URLs and filters (``procedureversion``…), catalogue first.
HISTORY_MODELS = {model._meta.model_name: model for model in TRACKED}
GROUPS = {
    "catalogue": ("procedure", "procedureversion", "timelimit", "feeline", "requireddocument",
                  "processstep", "field"),
    "settings": ("agency", "unit", "staffrole", "calendarday"),
    "accounts": ("user",),
}
TYPE_LABELS = {"+": _("Thêm"), "~": _("Sửa"), "-": _("Xóa")}
#: Fields a diff does not show: bookkeeping, not content.
HIDDEN_FIELDS = {"id", "created_at", "updated_at", "date_joined"}


def history_model_label(key: str) -> str:
    return str(HISTORY_MODELS[key]._meta.verbose_name).capitalize()


@dataclass
class HistoryFilters:
    what: str = ""  # a model key or a group ("catalogue", "settings", "accounts"); "" = all
    user_ids: tuple[int, ...] | None = None  # None: anyone; (): nobody matched
    type: str = ""  # "+", "~", "-"
    since: date | None = None
    until: date | None = None  # inclusive (a day)


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def change_history(*, filters: HistoryFilters) -> QuerySet | None:
    """The history rows matching ``filters`` as one ordered queryset of ``(model, history_id,
    history_date)`` (a UNION; slice it to page), or None when nothing can match."""
    if filters.what in GROUPS:
        keys = GROUPS[filters.what]
    elif filters.what in HISTORY_MODELS:
        keys = (filters.what,)
    else:
        keys = tuple(HISTORY_MODELS)
    if filters.user_ids is not None and not filters.user_ids:
        return None
    parts = []
    for key in keys:
        qs = HISTORY_MODELS[key].history.all()
        if filters.user_ids is not None:
            qs = qs.filter(history_user_id__in=filters.user_ids)
        if filters.type:
            qs = qs.filter(history_type=filters.type)
        if filters.since:
            qs = qs.filter(history_date__gte=_day_start(filters.since))
        if filters.until:
            qs = qs.filter(history_date__lt=_day_start(filters.until + timedelta(days=1)))
        parts.append(
            qs.order_by().annotate(model=Value(key, output_field=CharField()))
            .values_list("model", "history_id", "history_date")
        )
    first, *rest = parts
    union = first.union(*rest, all=True) if rest else first
    return union.order_by("-history_date", "-history_id")


@dataclass
class Change:
    """One row of the history page: who changed what, when, and the fields that changed."""

    key: str
    model_label: str
    record: object
    type: str
    type_label: str
    at: datetime
    user: object
    label: str
    changes: list[tuple[str, str, str]] = field(default_factory=list)


# What each historical row needs joined to name its object without a query per row.
_RELATED = {
    "procedureversion": ("procedure",),
    "timelimit": ("version__procedure",),
    "feeline": ("version__procedure",),
    "requireddocument": ("version__procedure",),
    "processstep": ("version__procedure",),
    "unit": ("agency",),
    "staffrole": ("user", "unit"),
}


def _version_label(version) -> str:
    if version is None:
        return "?"
    code = version.procedure.code if version.procedure_id and version.procedure else "?"
    return f"{code} v{version.number}"


def _label(key: str, r) -> str:
    if key == "procedure":
        return r.code
    if key == "procedureversion":
        code = r.procedure.code if r.procedure else "?"
        return f"{code} v{r.number} — {r.name}"
    if key == "timelimit":
        return f"{_version_label(r.version)}: {r.get_channel_display()}"
    if key in ("feeline", "requireddocument", "processstep"):
        return f"{_version_label(r.version)}: {r.name}"
    if key == "field":
        return f"{r.code} — {r.name}"
    if key == "agency":
        return f"{r.code} — {r.name}"
    if key == "unit":
        return f"{r.agency.name if r.agency else '?'} / {r.name}"
    if key == "staffrole":
        who = person_name(r.user) if r.user else f"#{r.user_id}"
        return f"{who} — {r.get_role_display()} — {r.unit.name if r.unit else '?'}"
    if key == "calendarday":
        return f"{r.date:%d/%m/%Y} — {r.get_kind_display()}"
    if key == "user":
        return r.username
    return str(r.id)


def _shown(field_, value) -> str:
    if value is None or value == "":
        return "—"
    if field_.choices:
        return str(dict(field_.flatchoices).get(value, value))
    if isinstance(value, bool):
        return str(_("Có") if value else _("Không"))
    if isinstance(value, datetime):
        return f"{timezone.localtime(value):%d/%m/%Y %H:%M}"
    if field_.is_relation:
        return f"#{value}"
    text = str(value)
    return text if len(text) <= 200 else text[:199] + "…"


def _diff(model, new, old) -> list[tuple[str, str, str]]:
    """(field label, before, after) of each tracked field that differs."""
    out = []
    for f in model.tracked_fields:
        if f.name in HIDDEN_FIELDS:
            continue
        after = getattr(new, f.attname)
        before = getattr(old, f.attname) if old is not None else None
        if old is not None and before == after:
            continue
        if old is None and after in (None, "", False):
            continue  # a new record: what it was given, not its empty fields
        out.append((str(f.verbose_name), _shown(f, before) if old is not None else "",
                    _shown(f, after)))
    return out


def history_changes(rows: Iterable[tuple[str, int, datetime]]) -> list[Change]:
    """The page's rows (``change_history`` slices) as ``Change``s, in the same order:
    per kind of record, one query for the rows and one for the versions before them."""
    rows = list(rows)
    by_key: dict[str, list[int]] = {}
    for key, history_id, _at in rows:
        by_key.setdefault(key, []).append(history_id)
    found = {}
    for key, ids in by_key.items():
        model = HISTORY_MODELS[key].history.model
        before = (
            model.objects.filter(id=OuterRef("id"))
            .filter(Q(history_date__lt=OuterRef("history_date"))
                    | Q(history_date=OuterRef("history_date"), history_id__lt=OuterRef("history_id")))
            .order_by("-history_date", "-history_id").values("history_id")[:1]
        )
        records = list(
            model.objects.filter(history_id__in=ids)
            .select_related("history_user", *_RELATED.get(key, ()))
            .annotate(previous_id=Subquery(before))
        )
        previous = {
            p.history_id: p
            for p in model.objects.filter(
                history_id__in=[r.previous_id for r in records if r.previous_id]
            )
        }
        for r in records:
            old = previous.get(r.previous_id) if r.history_type == "~" else None
            changes = [] if r.history_type == "-" else _diff(model, r, old)
            found[(key, r.history_id)] = Change(
                key=key, model_label=history_model_label(key), record=r, type=r.history_type,
                type_label=str(TYPE_LABELS.get(r.history_type, r.history_type)),
                at=r.history_date, user=r.history_user, label=_label(key, r), changes=changes,
            )
    return [found[(key, hid)] for key, hid, _at in rows if (key, hid) in found]


HISTORY_COLUMNS = [
    (_("Thời điểm"), 18), (_("Người thay đổi"), 26), (_("Loại"), 22), (_("Bản ghi"), 50),
    (_("Thao tác"), 10), (_("Thay đổi"), 80),
]


def history_rows(changes: Iterable[Change]) -> Iterator[list]:
    for c in changes:
        who = (person_name(c.user) if c.user else str(_("Hệ thống")))
        diff = "; ".join(f"{name}: {old} → {new}" if old else f"{name}: {new}"
                         for name, old, new in c.changes)
        yield [c.at, who, c.model_label, c.label, c.type_label, diff]
