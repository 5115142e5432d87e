"""Reading the rating forms (public page, kiosk) and the staff list's filters.

The rating form is not a Django form: the rules live in ``ratings.services`` and this module
only reads what the browser sent into the service's arguments, so the page, the kiosk and the
API refuse exactly the same things with the same words."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from django import forms
from django.utils.translation import gettext_lazy as _

from ratings.models import CRITERIA, Level
from ratings.selectors import ANY_DISSATISFIED, RatingFilters

#: Longest code field read from a form (a scanned QR code is a whole URL).
RAW_CODE_MAX = 500


def extract_code(value) -> str:
    """The dossier code from what was typed or scanned: the receipt's QR code holds the
    tracking URL (``…/tra-cuu/?ma=<code>``), a keyboard-wedge scanner types all of it."""
    raw = (value if isinstance(value, str) else "")[:RAW_CODE_MAX].strip()
    if "ma=" in raw:
        found = parse_qs(urlsplit(raw).query).get("ma")
        if found:
            return found[0].strip()
    return raw


@dataclass
class RatingInput:
    """What a rating form sent: the service's arguments, and what to show again on error."""

    code: str = ""
    phone: str = ""
    answers: dict[str, str] = field(default_factory=dict)
    comment: str = ""

    @classmethod
    def from_post(cls, data) -> RatingInput:
        answers = {}
        for name, _label in CRITERIA:
            value = data.get(name, "")
            if value:
                answers[name] = value
        return cls(
            code=extract_code(data.get("code", "")),
            phone=(data.get("phone", "") or "")[:40],
            answers=answers,
            comment=data.get("comment", "") or "",
        )


def criteria_rows(answers: dict[str, str], errors: dict[str, list[str]]) -> list[dict]:
    """The criteria as the templates draw them: name, label, required, the level chosen, the
    errors, and the levels of the scale."""
    return [
        {
            "name": name, "label": label, "required": name == "overall",
            "chosen": answers.get(name, ""), "errors": errors.get(name, []),
            "levels": Level.choices,
        }
        for name, label in CRITERIA
    ]


LEVEL_FILTER_CHOICES = [
    ("", _("Tất cả mức độ")),
    *Level.choices,
    (ANY_DISSATISFIED, _("Có tiêu chí không hài lòng")),
]


class RatingFilterForm(forms.Form):
    """The staff list's filters (GET); invalid values are ignored, never an error page."""

    muc = forms.ChoiceField(label=_("Mức độ hài lòng chung"), choices=LEVEL_FILTER_CHOICES,
                            required=False)
    tu = forms.DateField(label=_("Từ ngày"), required=False,
                         widget=forms.DateInput(attrs={"type": "date"}))
    den = forms.DateField(label=_("Đến ngày"), required=False,
                          widget=forms.DateInput(attrs={"type": "date"}))
    ma = forms.CharField(label=_("Mã hồ sơ"), required=False, max_length=64)
    gop_y = forms.BooleanField(label=_("Chỉ đánh giá có góp ý"), required=False)

    def clean(self):
        data = super().clean()
        start, end = data.get("tu"), data.get("den")
        if start and end and start > end:
            self.add_error("den", _("“Đến ngày” phải sau “Từ ngày”."))
        return data

    def filters(self) -> RatingFilters:
        self.is_valid()
        data = getattr(self, "cleaned_data", {}) or {}
        errors = self.errors
        return RatingFilters(
            level=(data.get("muc") or "") if "muc" not in errors else "",
            date_from=data.get("tu") if "tu" not in errors else None,
            date_to=data.get("den") if "den" not in errors else None,
            code=(data.get("ma") or "") if "ma" not in errors else "",
            with_comment=bool(data.get("gop_y")),
        )
