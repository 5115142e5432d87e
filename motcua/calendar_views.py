"""The staff page of the office calendar: the state's holidays, the admins' overrides, a checker.

For catalogue admins (and superusers); everyone else gets 403. Writes go through
``motcua.services``. With htmx the forms swap the panel in place; without it they post and
redirect as usual.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from functools import wraps

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from motcua import calendar, errors, services
from motcua.models import CalendarDay, Role
from motcua.permissions import has_role

UPCOMING_DAYS = 366
UPCOMING_MAX = 8
KIND_CHOICES = [
    (CalendarDay.Kind.DAY_OFF, gettext_lazy("Ngày nghỉ — nghỉ thêm, hoặc hủy một ngày làm bù")),
    (CalendarDay.Kind.WORKING_DAY,
     gettext_lazy("Ngày làm việc — làm bù, hoặc hủy một ngày nghỉ")),
]
UNIT_CHOICES = [
    ("working_days", gettext_lazy("ngày làm việc")),
    ("working_hours", gettext_lazy("giờ làm việc")),
    ("calendar_days", gettext_lazy("ngày (theo lịch)")),
]
DATE_INPUT_FORMATS = ["%Y-%m-%d", "%d/%m/%Y"]


def calendar_admin_required(view):
    """Login first; then only catalogue admins and superusers, others get 403."""

    @wraps(view)
    @login_required
    def wrapped(request, *args, **kwargs):
        if not has_role(request.user, Role.CATALOGUE_ADMIN):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapped


class CalendarDayForm(forms.Form):
    date = forms.DateField(
        label=gettext_lazy("Ngày"),
        input_formats=DATE_INPUT_FORMATS,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={
            "required": gettext_lazy("Vui lòng nhập ngày."),
            "invalid": gettext_lazy("Ngày không hợp lệ. Nhập theo dạng ngày/tháng/năm, "
                                    "ví dụ 30/04/2026."),
        },
    )
    kind = forms.ChoiceField(
        label=gettext_lazy("Loại điều chỉnh"),
        choices=KIND_CHOICES,
        widget=forms.RadioSelect,
        error_messages={
            "required": gettext_lazy("Vui lòng chọn loại điều chỉnh."),
            "invalid_choice": gettext_lazy("Loại điều chỉnh không hợp lệ."),
        },
    )
    note = forms.CharField(
        label=gettext_lazy("Lý do, căn cứ"),
        max_length=services.NOTE_MAX_LENGTH,
        help_text=gettext_lazy("Ví dụ: Công văn số 123/UBND-VP ngày 02/03/2026."),
        error_messages={
            "required": gettext_lazy("Vui lòng ghi lý do hoặc căn cứ điều chỉnh."),
            "max_length": gettext_lazy("Lý do dài quá %(limit_value)d ký tự."),
        },
    )

    def __init__(self, *args, editing: CalendarDay | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.editing = editing
        self.existing: CalendarDay | None = None
        if editing is not None:
            self.fields["date"].disabled = True
            self.fields["date"].initial = editing.date
            self.initial.setdefault("kind", editing.kind)
            self.initial.setdefault("note", editing.note)

    def clean_date(self):
        day = self.cleaned_data["date"]
        if self.editing is None:
            self.existing = CalendarDay.objects.filter(date=day).first()
            if self.existing is not None:
                raise forms.ValidationError(
                    _("Ngày %(day)s đã được điều chỉnh (%(kind)s). Hãy sửa hoặc xóa điều chỉnh "
                      "đó thay vì thêm mới.")
                    % {"day": f"{day:%d/%m/%Y}", "kind": self.existing.get_kind_display()},
                    code="already_overridden",
                )
        return day

    def save(self, actor) -> CalendarDay | None:
        """Through the service; its refusals become form errors (``None`` then)."""
        try:
            return services.calendar_day_set(
                date=self.cleaned_data["date"],
                kind=self.cleaned_data["kind"],
                note=self.cleaned_data["note"],
                actor=actor,
            )
        except errors.ValidationError as exc:
            field = {"calendar_day_redundant": "kind", "calendar_day_kind": "kind",
                     "calendar_day_note": "note", "calendar_day_out_of_range": "date"}.get(exc.code)
            self.add_error(field, str(exc.message))
            return None


class DeadlineCheckForm(forms.Form):
    start = forms.DateTimeField(
        label=gettext_lazy("Thời điểm tiếp nhận"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        error_messages={
            "required": gettext_lazy("Vui lòng nhập thời điểm tiếp nhận."),
            "invalid": gettext_lazy("Thời điểm không hợp lệ, ví dụ 09/03/2026 09:00."),
        },
    )
    amount = forms.DecimalField(
        label=gettext_lazy("Thời hạn"),
        min_value=0, max_value=1000, decimal_places=2,
        error_messages={
            "required": gettext_lazy("Vui lòng nhập thời hạn."),
            "invalid": gettext_lazy("Thời hạn phải là một số."),
            "min_value": gettext_lazy("Thời hạn không được âm."),
            "max_value": gettext_lazy("Thời hạn tối đa là 1000."),
            "max_decimal_places": gettext_lazy("Thời hạn có tối đa 2 chữ số thập phân."),
        },
    )
    unit = forms.ChoiceField(label=gettext_lazy("Đơn vị"), choices=UNIT_CHOICES)

    def clean(self):
        data = super().clean()
        amount, unit = data.get("amount"), data.get("unit")
        if amount is not None and unit == "calendar_days" and amount != int(amount):
            self.add_error("amount", _("Thời hạn tính theo ngày lịch phải là số nguyên."))
        return data

    def result(self) -> datetime:
        start = self.cleaned_data["start"]
        amount: Decimal = self.cleaned_data["amount"]
        if amount == int(amount):
            amount = int(amount)
        return calendar.deadline(start, amount, self.cleaned_data["unit"])


def _year(request) -> int:
    today = timezone.localdate()
    try:
        year = int(request.GET.get("year") or request.POST.get("year") or today.year)
    except (TypeError, ValueError):
        return today.year
    if not services.CALENDAR_FIRST_YEAR <= year <= services.CALENDAR_LAST_YEAR:
        return today.year
    return year


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise Http404 from exc


def _upcoming(today: date) -> list[dict]:
    """The next days that differ from an ordinary week: days off on weekdays, worked weekends."""
    names = {}
    for year in (today.year, today.year + 1):
        names.update({d: name for d, name, _working in calendar.state_holidays(year)})
    notes = dict(
        CalendarDay.objects.filter(
            date__gte=today, date__lte=today + timedelta(days=UPCOMING_DAYS)
        ).values_list("date", "note")
    )
    rows = []
    for offset in range(UPCOMING_DAYS):
        day = today + timedelta(days=offset)
        working = calendar.is_working_day(day)
        ordinary = day.weekday() < 5
        if working != ordinary or day in notes:
            rows.append({
                "date": day,
                "working": working,
                "name": notes.get(day) or names.get(day, ""),
                "by_admin": day in notes,
            })
            if len(rows) >= UPCOMING_MAX:
                break
    return rows


def _panel_context(year: int, form: CalendarDayForm | None = None) -> dict:
    overrides = list(
        CalendarDay.objects.filter(date__year=year).select_related("updated_by").order_by("date")
    )
    by_date = {o.date: o for o in overrides}
    today = timezone.localdate()
    state_rows = [
        {
            "date": day,
            "name": name,
            "working": working,
            "override": by_date.get(day),
            "past": day < today,
        }
        for day, name, working in calendar.state_holidays(year)
    ]
    return {
        "year": year,
        "previous_year": year - 1 if year > services.CALENDAR_FIRST_YEAR else None,
        "next_year": year + 1 if year < services.CALENDAR_LAST_YEAR else None,
        "overrides": overrides,
        "state_rows": state_rows,
        "form": form or CalendarDayForm(),
        "Kind": CalendarDay.Kind,
    }


def _render_panel(request, year: int, form=None, notice: str = "", status: int = 200):
    context = _panel_context(year, form) | {"notice": notice}
    return render(request, "calendar/_panel.html", context, status=status)


@calendar_admin_required
@require_http_methods(["GET", "POST"])
def calendar_days(request):
    """The year's state holidays and overrides; POST adds an override."""
    year = _year(request)
    form = None
    if request.method == "POST":
        form = CalendarDayForm(request.POST)
        if form.is_valid() and (day := form.save(request.user)) is not None:
            notice = _("Đã lưu điều chỉnh ngày %(day)s: %(kind)s.") % {
                "day": f"{day.date:%d/%m/%Y}", "kind": day.get_kind_display()}
            if request.htmx:
                return _render_panel(request, day.date.year, notice=notice)
            messages.success(request, notice)
            return redirect(f"{reverse('calendar-days')}?year={day.date.year}")
        if request.htmx:
            return _render_panel(request, year, form=form)
    context = _panel_context(year, form) | {
        "upcoming": _upcoming(timezone.localdate()),
        "check_form": DeadlineCheckForm(initial={"unit": "working_days"}),
    }
    return render(request, "calendar/days.html", context)


@calendar_admin_required
@require_http_methods(["GET", "POST"])
def calendar_day_edit(request, day: str):
    """Change the kind or the reason of an existing override."""
    override = CalendarDay.objects.filter(date=_day(day)).first()
    if override is None:
        raise Http404
    form = CalendarDayForm(request.POST or None, editing=override)
    if request.method == "POST" and form.is_valid() and form.save(request.user) is not None:
        messages.success(
            request, _("Đã sửa điều chỉnh ngày %(day)s.") % {"day": f"{override.date:%d/%m/%Y}"}
        )
        return redirect(f"{reverse('calendar-days')}?year={override.date.year}")
    return render(request, "calendar/day_edit.html", {"form": form, "override": override})


@calendar_admin_required
@require_POST
def calendar_day_delete(request, day: str):
    """Remove an override: the state calendar decides that day again."""
    target = _day(day)
    if services.calendar_day_clear(date=target, actor=request.user):
        notice = _("Đã xóa điều chỉnh ngày %(day)s.") % {"day": f"{target:%d/%m/%Y}"}
    else:
        notice = _("Ngày %(day)s không có điều chỉnh nào.") % {"day": f"{target:%d/%m/%Y}"}
    if request.htmx:
        return _render_panel(request, target.year, notice=notice)
    messages.success(request, notice)
    return redirect(f"{reverse('calendar-days')}?year={target.year}")


@calendar_admin_required
def calendar_check(request):
    """Try a time limit on the current calendar: when would it end?"""
    form = DeadlineCheckForm(request.GET or None)
    result = None
    if form.is_bound and form.is_valid():
        try:
            result = form.result()
        except (ValueError, InvalidOperation):
            form.add_error(None, _("Không tính được thời hạn này."))
    context = {"check_form": form, "check_result": result}
    if request.htmx:
        return render(request, "calendar/_check.html", context)
    return render(request, "calendar/check.html", context)
