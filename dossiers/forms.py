"""Forms of the staff dossier screens. They only shape what people type (text, lists, numbers,
files); every rule of the domain (ID numbers, phones, completeness, permissions, states) is the
services' and comes back from them as Vietnamese messages next to the fields."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.utils.translation import gettext_lazy as _

from dossiers.models import Attachment, IdType, State, Transition
from dossiers.services import TRANSITION_PAYLOAD
from procedures.models import Channel, RequiredDocument

DESK_CHANNELS = [
    (Channel.IN_PERSON, _("Nộp trực tiếp tại quầy")),
    (Channel.POST, _("Qua dịch vụ bưu chính công ích")),
]
MAX_COPIES = 100


# ---------------------------------------------------------------------------------------------
# Files
# ---------------------------------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input; the services check each one's type and size by content."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={
            "accept": ".pdf,.jpg,.jpeg,.png,.docx,application/pdf,image/jpeg,image/png",
        }))
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(item, initial) for item in data if item]
        return [super().clean(data, initial)] if data else []


# ---------------------------------------------------------------------------------------------
# The checklist of documents (desk reception, receiving an online submission)
# ---------------------------------------------------------------------------------------------


@dataclass
class ChecklistRow:
    doc: RequiredDocument
    received: bool
    originals: str
    copies: str
    error: str = ""

    @property
    def key(self) -> int:
        return self.doc.pk


def _count(raw, default: int) -> tuple[int | None, str]:
    raw = (raw or "").strip()
    if raw == "":
        return default, str(default)
    if not raw.isdigit() or int(raw) > MAX_COPIES:
        return None, raw
    return int(raw), raw


def read_checklist(
    documents, data=None, *, prefix: str = "", initial: dict[int, bool] | None = None
) -> tuple[list[ChecklistRow], list[dict], bool]:
    """The checklist rows to show and the ``documents`` payload the services take.

    Inputs per required document: ``<prefix>doc-<id>`` (checkbox: received),
    ``<prefix>orig-<id>`` and ``<prefix>copy-<id>`` (numbers of originals and copies).
    ``data`` None: not submitted yet, rows ticked as ``initial`` says (nothing by default: the
    clerk ticks each paper as they check it). Returns (rows, payload, ok)."""
    rows, payload, ok = [], [], True
    for doc in documents:
        if data is None:
            received = bool((initial or {}).get(doc.pk, False))
            rows.append(ChecklistRow(doc, received, str(doc.originals), str(doc.copies)))
            continue
        received = data.get(f"{prefix}doc-{doc.pk}") in ("on", "1", "true")
        originals, originals_raw = _count(data.get(f"{prefix}orig-{doc.pk}"), doc.originals)
        copies, copies_raw = _count(data.get(f"{prefix}copy-{doc.pk}"), doc.copies)
        error = ""
        if originals is None or copies is None:
            error = str(_("Số bản phải là số nguyên từ 0 đến %(n)d.") % {"n": MAX_COPIES})
            ok = False
        rows.append(ChecklistRow(doc, received, originals_raw, copies_raw, error))
        if error:
            continue
        payload.append({
            "required_document": doc.pk, "received": received,
            "originals": originals if received else 0, "copies": copies if received else 0,
        })
    return rows, payload, ok


def lines(text: str) -> list[str]:
    """One item per non-empty line (a textarea of reasons or documents)."""
    items = [line.strip().lstrip("-•*").strip() for line in (text or "").splitlines()]
    return [item for item in items if item]


# ---------------------------------------------------------------------------------------------
# Reception desk
# ---------------------------------------------------------------------------------------------


class DeskForm(forms.Form):
    """The desk's form, apart from the checklist (dynamic, see :func:`read_checklist`)."""

    procedure = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    channel = forms.ChoiceField(
        label=_("Cách thức nộp"), choices=DESK_CHANNELS, required=False,
        initial=Channel.IN_PERSON, widget=forms.RadioSelect,
    )
    agency = forms.CharField(label=_("Cơ quan tiếp nhận"), required=False, max_length=32)
    id_type = forms.ChoiceField(
        label=_("Loại giấy tờ"), choices=IdType.choices, initial=IdType.CITIZEN_ID, required=False
    )
    id_number = forms.CharField(label=_("Số định danh cá nhân"), required=False, max_length=40)
    name = forms.CharField(label=_("Họ và tên"), required=False, max_length=400)
    phone = forms.CharField(label=_("Số điện thoại di động"), required=False, max_length=40)
    email = forms.CharField(label=_("Thư điện tử"), required=False, max_length=300)
    address = forms.CharField(label=_("Địa chỉ"), required=False, max_length=600)
    extra_documents = forms.CharField(
        label=_("Giấy tờ khác nhận thêm"), required=False, max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Không bắt buộc. Mỗi dòng một giấy tờ."),
    )
    attachments = MultipleFileField(label=_("Bản quét hồ sơ"))

    def applicant(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data.get("name", ""), "id_type": data.get("id_type") or IdType.CITIZEN_ID,
            "id_number": data.get("id_number", ""), "phone": data.get("phone", ""),
            "email": data.get("email", ""), "address": data.get("address", ""),
        }


# ---------------------------------------------------------------------------------------------
# Queues and search
# ---------------------------------------------------------------------------------------------

OPEN_STATE_CHOICES = [
    (s.value, s.label) for s in State
    if s in (State.SUBMITTED, State.RECEIVED, State.IN_PROGRESS, State.SUPPLEMENT_REQUESTED,
             State.AWAITING_APPROVAL, State.RESULT_READY)
]
DUE_CHOICES = [("", _("Tất cả")), ("soon", _("Sắp đến hạn")), ("overdue", _("Quá hạn"))]
SORT_CHOICES = [("due", _("Hạn trả gần nhất")), ("newest", _("Mới nhất"))]


class ListFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Tìm kiếm"), required=False, max_length=100,
        widget=forms.TextInput(attrs={
            "type": "search", "autocomplete": "off",
            "placeholder": _("Mã hồ sơ, tên, số định danh, điện thoại"),
        }),
    )
    state = forms.ChoiceField(label=_("Trạng thái"), required=False)
    due = forms.ChoiceField(label=_("Thời hạn"), choices=DUE_CHOICES, required=False)
    procedure = forms.ChoiceField(label=_("Thủ tục"), required=False)
    sort = forms.ChoiceField(label=_("Sắp xếp"), choices=SORT_CHOICES, required=False)

    def __init__(self, *args, states, procedures, default_sort: str = "due", **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["state"].choices = [("", _("Tất cả"))] + list(states)
        self.fields["procedure"].choices = [("", _("Tất cả"))] + list(procedures)
        self.fields["sort"].initial = default_sort
        self.default_sort = default_sort

    def values(self) -> dict:
        """The valid filters (a stale value in one field does not drop the others)."""
        if not self.is_bound:
            return {"sort": self.default_sort}
        self.is_valid()
        data = {k: v for k, v in self.cleaned_data.items() if v}
        data.setdefault("sort", self.default_sort)
        return data


# ---------------------------------------------------------------------------------------------
# Transitions: one small form per transition, from TRANSITION_PAYLOAD
# ---------------------------------------------------------------------------------------------

LIST_HELP = _("Mỗi dòng một mục.")

#: How each payload key is asked for: (label, kind, help). ``lines`` = textarea split into a
#: list; ``text`` = textarea; ``checklist`` = the required documents with counts;
#: ``choose`` = tick from the dossier's documents, plus other lines.
PAYLOAD_FIELDS = {
    "reasons": (_("Lý do"), "lines", LIST_HELP),
    "missing_documents": (_("Giấy tờ cần bổ sung, hoàn thiện"), "choose", LIST_HELP),
    "result_text": (_("Nội dung kết quả giải quyết"), "text", ""),
    "reason": (_("Lý do rút hồ sơ (theo yêu cầu của công dân)"), "text", ""),
    "legal_basis": (_("Căn cứ pháp lý của việc dừng xử lý"), "text", ""),
}
#: Per transition overrides (the same key means different things).
TRANSITION_FIELDS = {
    (Transition.RECEIVE, "documents"): (_("Thành phần hồ sơ đã kiểm tra"), "checklist", ""),
    (Transition.SUPPLEMENT, "documents"): (_("Giấy tờ công dân đã bổ sung"), "choose", LIST_HELP),
    (Transition.REFUSE, "reasons"): (_("Lý do từ chối tiếp nhận"), "lines", LIST_HELP),
    (Transition.DENY, "reasons"): (_("Lý do từ chối giải quyết"), "lines", LIST_HELP),
    (Transition.REQUEST_SUPPLEMENT, "reasons"): (_("Lý do, hướng dẫn"), "lines", LIST_HELP),
    (Transition.SUBMIT_FOR_APPROVAL, "result_text"): (_("Dự thảo kết quả"), "text", ""),
}
#: What the services require (their own messages remain the authority); asked again here so
#: that the mistake shows next to the field before anything is sent.
REQUIRED = {
    (Transition.REFUSE, "reasons"), (Transition.DENY, "reasons"),
    (Transition.WITHDRAW, "reason"), (Transition.STOP, "legal_basis"),
    (Transition.SEND_BACK, "comment"),
}
COMMENT_LABELS = {
    Transition.SEND_BACK: _("Ý kiến (lý do trả lại)"),
}
#: Which transitions take scanned documents with them (attached after the transition).
WITH_FILES = {Transition.SUPPLEMENT: Attachment.Kind.SUPPLEMENT}


class TransitionForm(forms.Form):
    """The small form of one transition: its payload (TRANSITION_PAYLOAD), a comment and the
    dossier version the person saw (``expected_version``: a concurrent change is refused)."""

    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    comment = forms.CharField(
        label=_("Ý kiến"), required=False, max_length=4000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args, transition: str, choices: list[str] | None = None,
                 documents=None, checklist_initial=None, **kwargs):
        prefix = kwargs.pop("prefix", transition)
        super().__init__(*args, prefix=prefix, **kwargs)
        self.transition = transition
        self.label = Transition(transition).label
        self.documents = list(documents or [])
        self.checklist_rows: list[ChecklistRow] = []
        self.checklist_payload: list[dict] | None = None
        self.specs: dict[str, tuple[str, str]] = {}
        self.fields["comment"].label = COMMENT_LABELS.get(transition, _("Ý kiến"))
        self.fields["comment"].required = (transition, "comment") in REQUIRED
        for key in TRANSITION_PAYLOAD.get(transition, {}):
            label, kind, help_text = TRANSITION_FIELDS.get(
                (transition, key), PAYLOAD_FIELDS.get(key, (key, "text", ""))
            )
            self.specs[key] = (kind, str(label))
            required = (transition, key) in REQUIRED
            if kind == "checklist":
                rows, _payload, _ok = read_checklist(
                    self.documents, None, prefix=self.add_prefix(""), initial=checklist_initial
                )
                self.checklist_rows = rows
                continue
            if kind == "choose":
                self.fields[f"{key}_pick"] = forms.MultipleChoiceField(
                    label=label, required=False, choices=[(c, c) for c in (choices or [])],
                    widget=forms.CheckboxSelectMultiple,
                )
                self.fields[key] = forms.CharField(
                    label=_("Giấy tờ khác") if choices else label, required=False,
                    max_length=20000, help_text=help_text,
                    widget=forms.Textarea(attrs={"rows": 2}),
                )
                continue
            self.fields[key] = forms.CharField(
                label=label, required=required, max_length=20000, help_text=help_text,
                widget=forms.Textarea(attrs={"rows": 3 if kind == "text" else 2}),
            )
        if transition in WITH_FILES:
            self.fields["files"] = MultipleFileField(label=_("Bản quét giấy tờ bổ sung"))
        self.order_fields([
            *[k for key in self.specs for k in (f"{key}_pick", key)], "comment", "files",
        ])

    def full_clean(self):
        super().full_clean()
        if self.is_bound and any(kind == "checklist" for kind, _label in self.specs.values()):
            rows, payload, ok = read_checklist(
                self.documents, self.data, prefix=self.add_prefix("")
            )
            self.checklist_rows = rows
            self.checklist_payload = payload
            if not ok:
                self.add_error(None, _("Số bản giấy tờ không hợp lệ."))

    def payload(self) -> dict:
        """The keyword arguments for ``dossier_transition``."""
        out = {}
        for key, (kind, _label) in self.specs.items():
            if kind == "checklist":
                out[key] = self.checklist_payload
            elif kind == "choose":
                out[key] = list(self.cleaned_data.get(f"{key}_pick") or []) + lines(
                    self.cleaned_data.get(key, "")
                )
            elif kind == "lines":
                out[key] = lines(self.cleaned_data.get(key, ""))
            else:
                out[key] = self.cleaned_data.get(key, "")
        return out

    def uploads(self) -> list:
        return list(self.cleaned_data.get("files") or []) if "files" in self.fields else []

    def add_service_errors(self, errors) -> bool:
        """Put a service's ``errors`` next to the fields they name; returns whether any did."""
        placed = False
        if not isinstance(errors, dict):
            return False
        for key, messages in errors.items():
            target = key if key in self.fields else None
            if key in self.specs and self.specs[key][0] == "checklist":
                target = None
            if target is None:
                continue
            for message in messages if isinstance(messages, list | tuple) else [messages]:
                self.add_error(target, str(message))
                placed = True
        return placed


class AssignForm(forms.Form):
    officer = forms.TypedChoiceField(label=_("Phân công cho chuyên viên"), coerce=int)
    expected_version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, officers, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["officer"].choices = [("", _("— Chọn chuyên viên —"))] + [
            (user.pk, label) for user, label in officers
        ]


class AttachForm(forms.Form):
    kind = forms.ChoiceField(label=_("Loại tệp"))
    files = MultipleFileField(label=_("Tệp (PDF, JPEG, PNG, DOCX)"))

    def __init__(self, *args, kinds, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [(k, Attachment.Kind(k).label) for k in kinds]
