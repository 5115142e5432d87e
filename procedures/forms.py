"""Staff forms for the procedure catalogue.

The forms do not save anything: they turn what the catalogue admin typed into a `ProcedureData`
(the one shape every way in produces) and put the service's `ValidationError` messages back next
to the fields they concern, so that nothing typed is lost.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from motcua.models import Agency, Role, Unit
from procedures.models import (
    STEP_ROLES,
    Channel,
    Field,
    Level,
    OnlineLevel,
    SupplementClock,
    TimeUnit,
    limit_in_hours,
)
from procedures.schema import DocumentData, FeeData, ProcedureData, StepData, TimeLimitData

TEXTAREA = {"rows": 3}
SHORT_TEXTAREA = {"rows": 2}
MAX_TEMPLATE_BYTES = 10 * 1024 * 1024
TEMPLATE_EXTENSIONS = {".pdf", ".doc", ".docx", ".xls", ".xlsx", ".odt", ".ods", ".rtf", ".txt"}


TEMPLATE_DIR = "templates/"

_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .doc and .xls (Office 97–2003)
#: What a zip must hold to be each Office Open XML / OpenDocument kind.
_ZIPPED = {
    ".docx": lambda names, _zip: "word/document.xml" in names,
    ".xlsx": lambda names, _zip: "xl/workbook.xml" in names,
    ".odt": lambda names, z: "mimetype" in names
    and z.read("mimetype") == b"application/vnd.oasis.opendocument.text",
    ".ods": lambda names, z: "mimetype" in names
    and z.read("mimetype") == b"application/vnd.oasis.opendocument.spreadsheet",
}


def template_content_matches(upload, suffix: str) -> bool:
    """Whether the file's content is what its extension says (a template is served to the
    public as that type): PDF, Office 97–2003, Office Open XML and OpenDocument by their
    signatures and parts, RTF by its header, TXT as UTF-8 text without NUL bytes."""
    upload.seek(0)
    head = upload.read(65536)
    upload.seek(0)
    try:
        if suffix == ".pdf":
            return head.startswith(b"%PDF-")
        if suffix in (".doc", ".xls"):
            return head.startswith(_OLE2)
        if suffix == ".rtf":
            return head.startswith(b"{\\rtf")
        if suffix == ".txt":
            if b"\x00" in head:
                return False
            try:
                head.decode("utf-8")
            except UnicodeDecodeError as exc:  # a character cut at the 64 KiB boundary is fine
                return exc.start >= len(head) - 3
            return True
        if suffix in _ZIPPED and head.startswith(b"PK\x03\x04"):
            with zipfile.ZipFile(upload) as archive:
                return bool(_ZIPPED[suffix](set(archive.namelist()), archive))
        return False
    except (zipfile.BadZipFile, OSError, ValueError, KeyError):
        return False
    finally:
        upload.seek(0)


def is_template_name(name: str) -> bool:
    """Whether ``name`` may be a document template: a stored file under ``templates/``.
    Anything else (another app's files, a path with "..") could be served to the public
    through the template download, so it is refused wherever a name comes in."""
    from django.core.files.storage import default_storage

    return (
        bool(name) and name.startswith(TEMPLATE_DIR) and ".." not in name.split("/")
        and "\\" not in name and default_storage.exists(name)
    )


def agency_choices(blank_label) -> list[tuple[str, str]]:
    agencies = Agency.objects.filter(is_active=True).order_by("code").values_list("code", "name")
    return [("", blank_label), *[(code, f"{name} ({code})") for code, name in agencies]]


class ProcedureForm(forms.Form):
    """The scalar fields of a procedure version."""

    code = forms.CharField(
        label=_("Mã thủ tục"), max_length=64,
        help_text=_("Mã trong CSDL quốc gia về TTHC, ví dụ 1.004227.000.00.00.H12."),
    )
    name = forms.CharField(label=_("Tên thủ tục"), widget=forms.Textarea(attrs=SHORT_TEXTAREA))
    field_code = forms.CharField(
        label=_("Mã lĩnh vực"), max_length=32,
        widget=forms.TextInput(attrs={"list": "field-codes", "autocomplete": "off"}),
    )
    field_name = forms.CharField(
        label=_("Tên lĩnh vực"), max_length=255, required=False,
        help_text=_("Để trống nếu chọn lĩnh vực đã có; bắt buộc với lĩnh vực mới."),
    )
    level = forms.ChoiceField(label=_("Cấp thực hiện"), choices=Level.choices)
    agency_code = forms.ChoiceField(label=_("Cơ quan thực hiện"), required=False)
    agency_text = forms.CharField(
        label=_("Cơ quan thực hiện (theo công bố)"), required=False,
        widget=forms.Textarea(attrs=SHORT_TEXTAREA),
    )
    subjects = forms.CharField(
        label=_("Đối tượng thực hiện"), required=False, widget=forms.Textarea(attrs=SHORT_TEXTAREA)
    )
    accepts_in_person = forms.BooleanField(label=_("Nộp trực tiếp"), required=False)
    accepts_online = forms.BooleanField(label=_("Nộp trực tuyến"), required=False)
    accepts_post = forms.BooleanField(label=_("Nộp qua bưu chính"), required=False)
    online_level = forms.ChoiceField(label=_("Mức độ trực tuyến"), choices=OnlineLevel.choices)
    is_inter_agency = forms.BooleanField(label=_("Thủ tục liên thông"), required=False)
    time_limit_amount = forms.DecimalField(
        label=_("Thời hạn giải quyết"), max_digits=6, decimal_places=2, min_value=0,
        help_text=_("0 = giải quyết ngay trong ngày."),
        widget=forms.NumberInput(attrs={"step": "0.5", "data-time-limit-amount": ""}),
    )
    time_limit_unit = forms.ChoiceField(
        label=_("Đơn vị thời hạn"), choices=TimeUnit.choices,
        widget=forms.Select(attrs={"data-time-limit-unit": ""}),
    )
    time_limit_text = forms.CharField(
        label=_("Thời hạn (theo công bố)"), required=False,
        widget=forms.Textarea(attrs=SHORT_TEXTAREA),
    )
    supplement_clock = forms.ChoiceField(
        label=_("Thời hạn khi chờ bổ sung hồ sơ"), choices=SupplementClock.choices
    )
    procedure_steps_text = forms.CharField(
        label=_("Trình tự thực hiện"), required=False, widget=forms.Textarea(attrs=TEXTAREA)
    )
    requirements = forms.CharField(
        label=_("Yêu cầu, điều kiện"), required=False, widget=forms.Textarea(attrs=TEXTAREA)
    )
    result = forms.CharField(
        label=_("Kết quả thực hiện"), required=False, widget=forms.Textarea(attrs=SHORT_TEXTAREA)
    )
    legal_basis = forms.CharField(
        label=_("Căn cứ pháp lý"), required=False, widget=forms.Textarea(attrs=TEXTAREA),
        help_text=_("Mỗi văn bản một dòng."),
    )
    source = forms.CharField(
        label=_("Nguồn"), required=False, widget=forms.Textarea(attrs=SHORT_TEXTAREA)
    )
    effective_from = forms.DateTimeField(
        label=_("Hiệu lực từ"), required=False,
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Để trống: có hiệu lực ngay khi lưu."),
    )

    def __init__(self, *args, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agency_code"].choices = agency_choices(
            _("— Không ghi (thủ tục cấp xã: mọi UBND xã, phường, đặc khu) —")
        )
        if editing:
            # The code is the procedure's identity; a different code is a different procedure.
            self.fields["code"].disabled = True
            self.fields["code"].help_text = _("Mã thủ tục không đổi được khi sửa.")

    def clean_code(self):
        return self.cleaned_data["code"].strip()

    def clean_field_code(self):
        return self.cleaned_data["field_code"].strip()

    def clean(self):
        cleaned = super().clean()
        code = cleaned.get("field_code")
        if code and not cleaned.get("field_name"):
            existing = Field.objects.filter(code=code).values_list("name", flat=True).first()
            if existing:
                cleaned["field_name"] = existing
            else:
                self.add_error("field_name", _("Lĩnh vực mới: hãy nhập tên lĩnh vực."))
        return cleaned


class FeeForm(forms.Form):
    name = forms.CharField(label=_("Loại phí, lệ phí"), max_length=500)
    amount_vnd = forms.IntegerField(label=_("Mức thu (đồng)"), required=False, min_value=0)
    description = forms.CharField(
        label=_("Mô tả"), required=False, widget=forms.Textarea(attrs={"rows": 1})
    )


class DocumentForm(forms.Form):
    name = forms.CharField(label=_("Tên giấy tờ"), widget=forms.Textarea(attrs={"rows": 2}))
    originals = forms.IntegerField(label=_("Bản chính"), min_value=0, initial=1)
    copies = forms.IntegerField(label=_("Bản sao"), min_value=0, initial=0)
    is_mandatory = forms.BooleanField(label=_("Bắt buộc"), required=False, initial=True)
    template_name = forms.CharField(label=_("Tên mẫu đơn, tờ khai"), max_length=255, required=False)
    template_file = forms.FileField(label=_("Tệp mẫu"), required=False)
    # The stored file of the version being edited: it carries over unless replaced or removed.
    template = forms.CharField(required=False, widget=forms.HiddenInput)
    template_clear = forms.BooleanField(label=_("Bỏ tệp mẫu"), required=False)

    def clean_template(self):
        name = (self.cleaned_data.get("template") or "").strip()
        if name and not is_template_name(name):
            raise forms.ValidationError(_("Tệp mẫu đã lưu không còn; hãy tải lên lại."))
        return name

    def clean_template_file(self):
        upload = self.cleaned_data.get("template_file")
        if upload:
            suffix = "." + upload.name.rsplit(".", 1)[-1].lower() if "." in upload.name else ""
            if suffix not in TEMPLATE_EXTENSIONS:
                raise forms.ValidationError(
                    _("Tệp mẫu phải là PDF, Word, Excel, ODF, RTF hoặc TXT.")
                )
            if upload.size > MAX_TEMPLATE_BYTES:
                raise forms.ValidationError(_("Tệp mẫu không được lớn hơn 10 MB."))
            if not template_content_matches(upload, suffix):
                raise forms.ValidationError(
                    _("Nội dung tệp “%(name)s” không phải tệp %(kind)s như phần mở rộng ghi; "
                      "hệ thống kiểm tra nội dung tệp, không chỉ tên tệp.")
                    % {"name": upload.name, "kind": suffix[1:].upper()}
                )
        return upload


class StepForm(forms.Form):
    position = forms.IntegerField(
        label=_("Thứ tự"), min_value=1, widget=forms.NumberInput(attrs={"class": "num-narrow"})
    )
    name = forms.CharField(label=_("Tên bước"), max_length=255)
    agency_code = forms.ChoiceField(label=_("Cơ quan"), required=False)
    unit_code = forms.CharField(
        label=_("Mã đơn vị"), max_length=32,
        widget=forms.TextInput(attrs={"list": "unit-codes", "autocomplete": "off"}),
    )
    role = forms.ChoiceField(
        label=_("Vai trò"), choices=[(r.value, r.label) for r in STEP_ROLES], initial=Role.OFFICER
    )
    hours = forms.DecimalField(
        label=_("Số giờ"), max_digits=7, decimal_places=2, min_value=0,
        widget=forms.NumberInput(attrs={"step": "0.5", "data-step-hours": ""}),
    )

    def __init__(self, *args, agencies=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agency_code"].choices = agencies or agency_choices(_("Cơ quan tiếp nhận"))

    def clean_unit_code(self):
        return self.cleaned_data["unit_code"].strip()


class TimeLimitForm(forms.Form):
    channel = forms.ChoiceField(label=_("Cách thức"), choices=Channel.choices)
    amount = forms.DecimalField(label=_("Thời hạn"), max_digits=6, decimal_places=2, min_value=0)
    unit = forms.ChoiceField(label=_("Đơn vị"), choices=TimeUnit.choices)


class BaseLineFormSet(forms.BaseFormSet):
    """Rows left blank are ignored; rows ticked "Xoá" are dropped."""

    def _construct_form(self, i, **kwargs):
        form = super()._construct_form(i, **kwargs)
        # A row the admin emptied is dropped like a blank extra row, not a "required" error.
        form.empty_permitted = True
        return form

    def live_forms(self) -> list[forms.Form]:
        return [
            f for f in self.forms
            if f.has_changed() and not (self.can_delete and self._should_delete_form(f))
        ]


class StepFormSet(BaseLineFormSet):
    def get_form_kwargs(self, index):
        kwargs = super().get_form_kwargs(index)
        # One query for the agencies, shared by every row.
        if not hasattr(self, "_agencies"):
            self._agencies = agency_choices(_("Cơ quan tiếp nhận"))
        kwargs["agencies"] = self._agencies
        return kwargs

    def clean(self):
        super().clean()
        positions = [f.cleaned_data.get("position") for f in self.live_forms() if f.is_valid()]
        duplicates = {p for p in positions if p is not None and positions.count(p) > 1}
        if duplicates:
            raise forms.ValidationError(
                _("Thứ tự bước bị trùng: %(list)s.")
                % {"list": ", ".join(str(p) for p in sorted(duplicates))}
            )


class TimeLimitFormSet(BaseLineFormSet):
    def clean(self):
        super().clean()
        channels = [f.cleaned_data.get("channel") for f in self.live_forms() if f.is_valid()]
        if len(channels) != len(set(channels)):
            raise forms.ValidationError(_("Mỗi cách thức nộp chỉ có một thời hạn."))


FeeFormSet = forms.formset_factory(FeeForm, formset=BaseLineFormSet, extra=1, can_delete=True)
DocumentFormSet = forms.formset_factory(
    DocumentForm, formset=BaseLineFormSet, extra=1, can_delete=True
)
StepFormSetClass = forms.formset_factory(StepForm, formset=StepFormSet, extra=1, can_delete=True)
TimeLimitFormSetClass = forms.formset_factory(
    TimeLimitForm, formset=TimeLimitFormSet, extra=0, can_delete=True, max_num=len(Channel.choices)
)

SECTIONS = ("fees", "documents", "steps", "time_limits")


@dataclass
class ProcedureBundle:
    """The main form and its four formsets, edited together on one page."""

    main: ProcedureForm
    fees: BaseLineFormSet
    documents: BaseLineFormSet
    steps: BaseLineFormSet
    time_limits: BaseLineFormSet
    top_errors: list[str] = field(default_factory=list)
    section_errors: dict[str, list[str]] = field(default_factory=dict)
    # For each list of the ProcedureData, the form each item came from (service errors name the
    # item by its index in the list).
    origin: dict[str, list[forms.Form]] = field(default_factory=dict)

    @classmethod
    def build(cls, *, data=None, files=None, initial: ProcedureData | None = None,
              editing: bool = False) -> ProcedureBundle:
        init = data_to_initial(initial) if initial is not None else {}
        return cls(
            main=ProcedureForm(data, files, initial=init.get("main"), editing=editing,
                               prefix=None),
            fees=FeeFormSet(data, files, initial=init.get("fees"), prefix="fees"),
            documents=DocumentFormSet(data, files, initial=init.get("documents"),
                                      prefix="documents"),
            steps=StepFormSetClass(data, files, initial=init.get("steps"), prefix="steps"),
            time_limits=TimeLimitFormSetClass(data, files, initial=init.get("time_limits"),
                                              prefix="time_limits"),
        )

    def formsets(self):
        return {name: getattr(self, name) for name in SECTIONS}

    def is_valid(self) -> bool:
        # Evaluate every part so that every error shows at once.
        results = [self.main.is_valid()] + [fs.is_valid() for fs in self.formsets().values()]
        return all(results)

    @property
    def has_errors(self) -> bool:
        return bool(
            self.top_errors or self.section_errors or self.main.errors
            or any(fs.total_error_count() for fs in self.formsets().values())
        )

    def to_data(self) -> ProcedureData:
        """The ProcedureData of a valid bundle. Template uploads are left to the caller, which
        stores them and fills ``DocumentData.template``."""
        c = self.main.cleaned_data
        fees, documents, steps, limits = [], [], [], []
        self.origin = {name: [] for name in SECTIONS}
        for form in self.fees.live_forms():
            d = form.cleaned_data
            fees.append(FeeData(name=d["name"].strip(), amount_vnd=d["amount_vnd"],
                                description=d["description"].strip()))
            self.origin["fees"].append(form)
        for form in self.documents.live_forms():
            d = form.cleaned_data
            documents.append(DocumentData(
                name=d["name"].strip(), originals=d["originals"], copies=d["copies"],
                is_mandatory=d["is_mandatory"], template_name=d["template_name"].strip(),
                **template_kwargs(form),
            ))
            self.origin["documents"].append(form)
        step_forms = sorted(
            enumerate(self.steps.live_forms()),
            key=lambda pair: (pair[1].cleaned_data["position"], pair[0]),
        )
        for _index, form in step_forms:
            d = form.cleaned_data
            steps.append(StepData(
                name=d["name"].strip(), unit_code=d["unit_code"], role=d["role"],
                hours=d["hours"], agency_code=d["agency_code"] or "",
            ))
            self.origin["steps"].append(form)
        for form in self.time_limits.live_forms():
            d = form.cleaned_data
            limits.append(TimeLimitData(channel=d["channel"], amount=d["amount"], unit=d["unit"]))
            self.origin["time_limits"].append(form)
        return ProcedureData(
            code=c["code"],
            name=c["name"].strip(),
            field_code=c["field_code"],
            field_name=c["field_name"].strip(),
            level=c["level"],
            time_limit_amount=c["time_limit_amount"],
            time_limit_unit=c["time_limit_unit"],
            agency_code=c["agency_code"] or "",
            agency_text=c["agency_text"].strip(),
            subjects=c["subjects"].strip(),
            accepts_in_person=c["accepts_in_person"],
            accepts_online=c["accepts_online"],
            accepts_post=c["accepts_post"],
            online_level=c["online_level"],
            is_inter_agency=c["is_inter_agency"],
            time_limit_text=c["time_limit_text"].strip(),
            supplement_clock=c["supplement_clock"],
            procedure_steps_text=c["procedure_steps_text"].strip(),
            requirements=c["requirements"].strip(),
            result=c["result"].strip(),
            legal_basis=c["legal_basis"].strip(),
            source=c["source"].strip(),
            effective_from=c["effective_from"],
            fees=fees, documents=documents, steps=steps, time_limits=limits,
        )

    def apply_service_errors(self, message: str, errors: dict | list | None) -> None:
        """Put a service ValidationError next to the fields it names.

        Keys are ProcedureData attribute names (``time_limit_amount``), list names (``steps``)
        or items of a list (``steps.2.hours``, ``steps[2].hours``, ``steps.2``). Whatever cannot
        be placed goes to the top of the page, so no message is ever dropped.
        """
        if isinstance(errors, list | tuple):
            errors = {"__all__": list(errors)}
        summary = []
        for key, messages in (errors or {}).items():
            messages = [str(m) for m in (messages if isinstance(messages, list | tuple)
                                         else [messages])]
            self._place(str(key), messages)
            summary.extend(messages)
        # The summary at the top lists every message once (each also sits by its field); the
        # service's one-line message is used only when it gave no details.
        for text in summary or [str(message)]:
            if text not in self.top_errors:
                self.top_errors.append(text)

    _ITEM_KEY = re.compile(r"^(?P<section>[a-z_]+)(?:\.|\[)(?P<index>\d+)\]?(?:\.(?P<attr>\w+))?$")

    def _place(self, key: str, messages: list[str]) -> bool:
        if key in self.main.fields:
            self._add(self.main, key, messages)
            return True
        if key in SECTIONS:
            self.section_errors.setdefault(key, []).extend(messages)
            return True
        match = self._ITEM_KEY.match(key)
        if match and match["section"] in SECTIONS:
            section, index, attr = match["section"], int(match["index"]), match["attr"]
            forms_ = self.origin.get(section) or []
            if index < len(forms_):
                form = forms_[index]
                self._add(form, attr if attr in form.fields else None, messages)
                return True
            self.section_errors.setdefault(section, []).extend(messages)
            return True
        return False

    @staticmethod
    def _add(form, name, messages):
        for msg in messages:
            if name and msg in form.errors.get(name, []):
                continue
            # add_error drops the field from cleaned_data; the bound value, which is what the
            # page shows, stays.
            form.add_error(name, msg)


def template_kwargs(form) -> dict:
    """DocumentData's template reference: the kept file of the edited version, or nothing.
    An upload replaces it (the view stores the upload and fills it in)."""
    d = form.cleaned_data
    if d.get("template_clear"):
        return {"template": ""}
    return {"template": d.get("template") or ""}


def _plain(value):
    """Decimal("15.00") → "15", Decimal("2.50") → "2.5": what a person would type."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return value


def data_to_initial(data: ProcedureData) -> dict:
    main = {
        name: _plain(getattr(data, name))
        for name in ProcedureForm.base_fields if hasattr(data, name)
    }
    main["effective_from"] = None  # a new save takes effect when saved, unless the admin says
    return {
        "main": main,
        "fees": [
            {"name": f.name, "amount_vnd": f.amount_vnd, "description": f.description}
            for f in data.fees
        ],
        "documents": [
            {"name": d.name, "originals": d.originals, "copies": d.copies,
             "is_mandatory": d.is_mandatory, "template_name": d.template_name,
             "template": d.template}
            for d in data.documents
        ],
        "steps": [
            {"position": i, "name": s.name, "agency_code": s.agency_code,
             "unit_code": s.unit_code, "role": s.role, "hours": _plain(s.hours)}
            for i, s in enumerate(data.steps, start=1)
        ],
        "time_limits": [
            {"channel": t.channel, "amount": _plain(t.amount), "unit": t.unit}
            for t in data.time_limits
        ],
    }


def unit_code_choices() -> list[str]:
    return sorted(set(Unit.objects.filter(is_active=True).values_list("code", flat=True)))


def field_choices() -> list[tuple[str, str]]:
    return list(Field.objects.order_by("code").values_list("code", "name"))


def hours_of(amount: Decimal | None, unit: str | None) -> Decimal | None:
    """The time limit in working hours, as the step allotments must add up to."""
    if amount is None:
        return None
    return limit_in_hours(amount, unit)


class CatalogueFilterForm(forms.Form):
    q = forms.CharField(label=_("Tìm kiếm"), required=False)
    field = forms.ChoiceField(label=_("Lĩnh vực"), required=False)
    agency = forms.ChoiceField(label=_("Cơ quan"), required=False)
    level = forms.ChoiceField(
        label=_("Cấp"), required=False, choices=[("", _("Mọi cấp")), *Level.choices]
    )
    active = forms.ChoiceField(
        label=_("Trạng thái"), required=False,
        choices=[("", _("Tất cả")), ("1", _("Đang áp dụng")), ("0", _("Ngừng áp dụng"))],
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field"].choices = [("", _("Mọi lĩnh vực")), *field_choices()]
        self.fields["agency"].choices = agency_choices(_("Mọi cơ quan"))


class ImportForm(forms.Form):
    file = forms.FileField(
        label=_("Tệp Excel (.xlsx)"),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if not upload.name.lower().endswith(".xlsx"):
            raise forms.ValidationError(_("Chỉ nhận tệp Excel .xlsx."))
        if upload.size > 20 * 1024 * 1024:
            raise forms.ValidationError(_("Tệp quá lớn (tối đa 20 MB)."))
        return upload
