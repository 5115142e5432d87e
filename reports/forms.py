"""The filters of the report pages: a period, an agency, a slice."""

from __future__ import annotations

from datetime import date

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from motcua.models import Agency
from reports.selectors import GROUP_LABELS, Period


def default_period(today: date | None = None) -> Period:
    """From the first day of the month to today."""
    today = today or timezone.localdate()
    return Period(today.replace(day=1), today)


class ReportFilterForm(forms.Form):
    start = forms.DateField(label=_("Từ ngày"), required=False,
                            widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(label=_("Đến ngày"), required=False,
                          widget=forms.DateInput(attrs={"type": "date"}))
    agency = forms.ModelChoiceField(
        label=_("Cơ quan"), required=False, queryset=Agency.objects.filter(is_active=True),
        empty_label=_("Toàn tỉnh"),
    )
    group_by = forms.ChoiceField(
        label=_("Xem theo"), required=False,
        choices=[(k, v) for k, v in GROUP_LABELS.items()],
    )

    def clean(self):
        data = super().clean()
        fallback = default_period()
        start = data.get("start") or fallback.start
        end = data.get("end") or fallback.end
        if end < start:
            self.add_error("end", _("Ngày kết thúc phải sau hoặc bằng ngày bắt đầu."))
        elif (end - start).days > 3 * 366:
            self.add_error("start", _("Kỳ báo cáo dài tối đa 3 năm."))
        else:
            data["period"] = Period(start, end)
        data["group_by"] = data.get("group_by") or "agency"
        return data

    def query(self, **overrides) -> str:
        """The filters as a query string (for links: drill-down, export)."""
        from urllib.parse import urlencode

        data = self.cleaned_data if self.is_valid() else {}
        period = data.get("period") or default_period()
        params = {"start": period.start.isoformat(), "end": period.end.isoformat(),
                  "group_by": data.get("group_by") or "agency"}
        if data.get("agency"):
            params["agency"] = data["agency"].pk
        params.update({k: v for k, v in overrides.items() if v is not None})
        return urlencode(params)
