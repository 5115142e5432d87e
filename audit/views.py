"""Staff pages: "Lịch sử thay đổi" (the change history of the catalogue and the settings, for
admins) and "Ai đã xem hồ sơ này" (a dossier's access log, for leaders and admins).

Reading the access log is not itself recorded: it shows who read, not the citizen's data.
"""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET

from audit.selectors import (
    ACCESS_COLUMNS,
    GROUPS,
    HISTORY_COLUMNS,
    HISTORY_MODELS,
    TYPE_LABELS,
    HistoryFilters,
    access_detail_text,
    access_rows,
    change_history,
    dossier_access_records,
    history_changes,
    history_model_label,
    history_rows,
    may_read_audit,
    may_read_dossier_access,
)
from dossiers.selectors import dossier_get
from motcua.xlsx import Sheet, xlsx_bytes, xlsx_response

HISTORY_PAGE_SIZE = 50
ACCESS_PAGE_SIZE = 50
EXPORT_MAX = 20_000
EXPORT_CHUNK = 500


def _allowed(check):
    """Login first (redirect), then ``check(user)`` or 403."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


# ---------------------------------------------------------------------------------------------
# Lịch sử thay đổi
# ---------------------------------------------------------------------------------------------

GROUP_LABELS = {
    "catalogue": gettext_lazy("Danh mục thủ tục (mọi loại)"),
    "settings": gettext_lazy("Cơ quan, đơn vị, phân quyền, lịch (mọi loại)"),
    "accounts": gettext_lazy("Tài khoản"),
}


def _what_choices():
    choices = [("", _("Tất cả"))]
    choices += [(key, str(label)) for key, label in GROUP_LABELS.items()]
    choices += [(key, f"— {history_model_label(key)}") for key in HISTORY_MODELS if key != "user"]
    return choices


class HistoryFilterForm(forms.Form):
    what = forms.ChoiceField(label=gettext_lazy("Loại bản ghi"), required=False)
    user = forms.CharField(label=gettext_lazy("Người thay đổi (tên đăng nhập)"), required=False,
                           max_length=150)
    type = forms.ChoiceField(
        label=gettext_lazy("Thao tác"), required=False,
        choices=[("", gettext_lazy("Tất cả")), *TYPE_LABELS.items()],
    )
    since = forms.DateField(label=gettext_lazy("Từ ngày"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=gettext_lazy("Đến ngày"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["what"].choices = _what_choices()

    def filters(self) -> HistoryFilters:
        """The valid filters (an invalid field is ignored, not the whole form)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        user_ids = None
        username = (data.get("user") or "").strip()
        if username:
            users = get_user_model().objects.filter(username__iexact=username)
            user_ids = tuple(users.values_list("pk", flat=True))
        what = data.get("what") or ""
        return HistoryFilters(
            what=what if what in GROUPS or what in HISTORY_MODELS else "",
            user_ids=user_ids, type=data.get("type") or "",
            since=data.get("since"), until=data.get("until"),
        )

    def querystring(self) -> str:
        data = getattr(self, "cleaned_data", {})
        return urlencode({k: v for k, v in data.items() if v not in (None, "")})


class _HistoryRows:
    """What the paginator slices: the UNION's keys; ``history_changes`` names each page's rows."""

    def __init__(self, union):
        self.union = union

    def count(self) -> int:
        return self.union.count() if self.union is not None else 0

    def __len__(self):
        return self.count()

    def __getitem__(self, item):
        if self.union is None:
            return []
        return history_changes(self.union[item])


@require_GET
@_allowed(may_read_audit)
def history(request):
    """Lịch sử thay đổi: who changed the catalogue, the settings, the accounts; newest first."""
    form = HistoryFilterForm(request.GET or None)
    union = change_history(filters=form.filters())
    page = Paginator(_HistoryRows(union), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    qs = form.querystring() if form.is_bound else ""
    return render(request, "audit/history.html", {
        "form": form, "page": page, "filter_qs": qs,
    })


@require_GET
@_allowed(may_read_audit)
def history_export(request):
    form = HistoryFilterForm(request.GET or None)
    union = change_history(filters=form.filters())
    now = timezone.now()

    def changes():
        if union is None:
            return
        for start in range(0, EXPORT_MAX, EXPORT_CHUNK):
            chunk = history_changes(union[start:start + EXPORT_CHUNK])
            yield from history_rows(chunk)
            if len(chunk) < EXPORT_CHUNK:
                return
        yield [_("Chỉ xuất %(n)d dòng đầu tiên; hãy lọc thêm.") % {"n": EXPORT_MAX}]

    sheet = Sheet(
        title=_("Lịch sử thay đổi"), columns=HISTORY_COLUMNS, rows=changes(), freeze="C3",
        heading=f"{_('Lịch sử thay đổi')} — {timezone.localtime(now):%H:%M %d/%m/%Y}",
    )
    return xlsx_response(xlsx_bytes(sheet),
                         f"lich-su-thay-doi-{timezone.localtime(now):%Y%m%d-%H%M}.xlsx")


# ---------------------------------------------------------------------------------------------
# Ai đã xem hồ sơ này
# ---------------------------------------------------------------------------------------------


@require_GET
@_allowed(may_read_dossier_access)
def dossier_access(request, code):
    """Who read this dossier's personal data, when, how, from where (a dossier the leader may
    see: 404 otherwise, as for an unknown code)."""
    dossier = dossier_get(code=code, user=request.user, details=False)
    page = Paginator(dossier_access_records(dossier=dossier), ACCESS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    for record in page.object_list:
        record.detail_text = access_detail_text(record)
    return render(request, "audit/dossier_access.html", {"dossier": dossier, "page": page})


@require_GET
@_allowed(may_read_dossier_access)
def dossier_access_export(request, code):
    dossier = dossier_get(code=code, user=request.user, details=False)
    now = timezone.now()
    records = dossier_access_records(dossier=dossier)[:EXPORT_MAX].iterator(chunk_size=2000)
    title = _("Ai đã xem hồ sơ %(code)s") % {"code": dossier.code}
    sheet = Sheet(
        title=_("Truy cập"), columns=ACCESS_COLUMNS, rows=access_rows(records), freeze="C3",
        heading=f"{title} — {timezone.localtime(now):%H:%M %d/%m/%Y}",
    )
    return xlsx_response(
        xlsx_bytes(sheet), f"truy-cap-{dossier.code}-{timezone.localtime(now):%Y%m%d-%H%M}.xlsx"
    )
