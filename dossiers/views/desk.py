"""The reception desk (bàn tiếp nhận): a clerk finds the procedure, checks the papers against
its list, enters the applicant (prefilled from the citizen directory), sees the appointment and
receives — or, when a mandatory paper is missing, prints the supplement slip instead (DOMAIN.md:
at the desk an incomplete dossier is not received).

The form posts through htmx so that nothing typed (scans included) is lost on an error: the
answer only fills the error slots. Without JavaScript it is a plain form post.
"""

from __future__ import annotations

import re

from django.contrib import messages
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from dossiers import permissions
from dossiers.documents import pdf_response, render_desk_supplement
from dossiers.forms import DESK_CHANNELS, DeskForm, lines, read_checklist
from dossiers.models import State
from dossiers.selectors import dossier_queue
from dossiers.services import checklist_missing, dossier_appointment, dossier_receive_at_desk
from dossiers.validators import clean_applicant
from dossiers.views._common import error_map, merge_errors, staff_required
from motcua import calendar
from motcua.errors import DomainError, ValidationError
from motcua.integrations.citizens import CitizenDirectoryUnavailable, citizen_lookup
from motcua.models import Agency, Role
from procedures.models import Channel, Level, ProcedureVersion, TimeUnit
from procedures.selectors import procedure_get, procedure_search, procedure_time_limit

SEARCH_LIMIT = 8
#: The error slots of the desk form, in the order of the page (ids: ``err-<slot with ->``).
SLOTS = [
    "procedure", "documents", "channel", "agency", "applicant.id_type", "applicant.id_number",
    "applicant.name", "applicant.phone", "applicant.email", "applicant.address",
    "extra_documents", "attachments",
]
FIELD_SLOTS = {
    "procedure": "procedure", "channel": "channel", "agency": "agency",
    "id_type": "applicant.id_type", "id_number": "applicant.id_number",
    "name": "applicant.name", "phone": "applicant.phone", "email": "applicant.email",
    "address": "applicant.address", "extra_documents": "extra_documents",
    "attachments": "attachments",
}
SLOT_LABELS = {
    "procedure": gettext_lazy("Thủ tục"), "documents": gettext_lazy("Thành phần hồ sơ"), "channel": gettext_lazy("Cách thức nộp"),
    "agency": gettext_lazy("Cơ quan tiếp nhận"), "applicant.id_type": gettext_lazy("Loại giấy tờ"),
    "applicant.id_number": gettext_lazy("Số định danh"), "applicant.name": gettext_lazy("Họ và tên"),
    "applicant.phone": gettext_lazy("Số điện thoại"), "applicant.email": gettext_lazy("Thư điện tử"),
    "applicant.address": gettext_lazy("Địa chỉ"), "extra_documents": gettext_lazy("Giấy tờ khác"),
    "attachments": gettext_lazy("Bản quét"),
}
UPLOAD_CODES = {"upload_type", "upload_too_large", "empty_upload"}


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _version(code: str | None) -> ProcedureVersion | None:
    code = (code or "").strip()
    if not code:
        return None
    try:
        return procedure_get(code=code, active_only=True)
    except ProcedureVersion.DoesNotExist:
        return None


def _clerk_agency(user) -> Agency | None:
    """The one agency a desk clerk receives for (None: a service center, or several): the
    procedure search then shows that agency's procedures only."""
    staff = permissions.staff_of(user)
    if staff.superuser or staff.center_clerk or len(staff.reception_agencies) != 1:
        return None
    return Agency.objects.filter(pk=next(iter(staff.reception_agencies))).first()


def _desk_channels(version: ProcedureVersion | None) -> list[tuple[str, str]]:
    if version is None:
        return []
    accepted = set(version.channels)
    return [(value, label) for value, label in DESK_CHANNELS if value in accepted]


def _agency_choices(user, version: ProcedureVersion | None) -> list[tuple[str, str]]:
    """Agencies the clerk may receive this procedure for, when the catalogue names none (a
    commune-level procedure every commune performs)."""
    if version is None or version.agency_id:
        return []
    staff = permissions.staff_of(user)
    agencies = Agency.objects.filter(is_active=True).exclude(kind=Agency.Kind.CENTER)
    if version.level == Level.COMMUNE:
        agencies = agencies.filter(kind=Agency.Kind.COMMUNE)
    if not (staff.superuser or staff.center_clerk):
        agencies = agencies.filter(pk__in=staff.reception_agencies)
    return list(agencies.order_by("name").values_list("code", "name"))


def _desk_counts(user) -> dict[str, int]:
    """How much desk work waits, by state (one query)."""
    rows = (
        dossier_queue(user=user).order_by().values("state").annotate(n=Count("id"))
    )
    return {row["state"]: row["n"] for row in rows}


def _context(request, *, form, version, rows=None, errors=None, missing=None,
             page: bool = True) -> dict:
    """What the desk templates need; ``page``: the whole page (counts, no-JS search results),
    not only a fragment."""
    if rows is None and version is not None:
        rows, _payload, _ok = read_checklist(version.documents.all(), None)
    channels = _desk_channels(version)
    chosen_channel = (form.data.get("channel") if form.is_bound else None) or (
        channels[0][0] if channels else Channel.IN_PERSON
    )
    procedure_q = request.GET.get("procedure_q", "") if page else ""
    return {
        "form": form, "version": version, "rows": rows or [], "errors": errors or {},
        "missing": missing or [], "channels": channels, "chosen_channel": chosen_channel,
        "agency_choices": _agency_choices(request.user, version),
        "slots": SLOTS, "slot_labels": SLOT_LABELS,
        "counts": _desk_counts(request.user) if page else {}, "states": State,
        "procedure_q": procedure_q, "search_results": _search(request, procedure_q),
    }


def _search(request, q: str):
    q = (q or "").strip()[:100]
    if not q:
        return []
    agency = _clerk_agency(request.user)
    return list(procedure_search(q=q, agency=agency)[:SEARCH_LIMIT])


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------


@staff_required(Role.CLERK)
def desk(request):
    """The desk: GET shows the form (``?procedure=<code>`` preselects one), POST receives."""
    if request.method == "POST":
        return _receive(request)
    version = _version(request.GET.get("procedure"))
    form = DeskForm(initial={"procedure": version.procedure.code if version else ""})
    return render(request, "dossiers/desk.html", _context(request, form=form, version=version))


@require_GET
@staff_required(Role.CLERK)
def desk_procedures(request):
    """Type-ahead: the procedures matching what the clerk typed (diacritics ignored)."""
    q = request.GET.get("procedure_q", request.GET.get("q", ""))
    return render(request, "dossiers/_procedure_results.html", {
        "results": _search(request, q), "q": q.strip(),
    })


@require_GET
@staff_required(Role.CLERK)
def desk_procedure(request, code):
    """The chosen procedure: its summary, channels and the checklist of its documents."""
    version = _version(code)
    if version is None:
        raise Http404(_("Không tìm thấy thủ tục."))
    form = DeskForm(initial={"procedure": version.procedure.code})
    return render(request, "dossiers/_procedure_panel.html",
                  _context(request, form=form, version=version, page=False))


@require_GET
@staff_required(Role.CLERK)
def desk_citizen(request):
    """Look the applicant up in the citizen directory by the 12-digit ID number."""
    number = re.sub(r"[\s.\-]", "", request.GET.get("id_number", ""))
    context = {"number": number, "status": "hint"}
    if request.GET.get("id_type", "citizen_id") != "citizen_id":
        context["status"] = "none"
    elif re.fullmatch(r"\d{12}", number):
        try:
            citizen = citizen_lookup(number)
        except CitizenDirectoryUnavailable:
            context["status"] = "unavailable"
        else:
            context["status"] = "found" if citizen else "absent"
            context["citizen"] = citizen
    elif len(number) > 12 or (number and not number.isdigit()):
        context["status"] = "malformed"
    return render(request, "dossiers/_citizen_status.html", context)


@require_GET
@staff_required(Role.CLERK)
def desk_appointment(request):
    """The appointment the dossier would get if received now (shown before confirming)."""
    version = _version(request.GET.get("procedure"))
    channel = request.GET.get("channel") or Channel.IN_PERSON
    context = {"version": version, "channel": channel}
    if version is not None and channel in Channel.values:
        now = timezone.now()
        try:
            context["due_at"] = dossier_appointment(
                procedure_version=version, channel=channel, received_at=now
            )
        except DomainError as exc:
            context["error"] = str(exc.message)
        else:
            amount, unit = procedure_time_limit(version=version, channel=channel)
            context.update({
                "now": now, "clock_start": calendar.next_opening(now),
                "limit_amount": amount, "limit_unit": unit,
                "limit_unit_label": TimeUnit(unit).label if unit in TimeUnit.values else unit,
            })
    return render(request, "dossiers/_appointment.html", context)


# ---------------------------------------------------------------------------------------------
# Receiving
# ---------------------------------------------------------------------------------------------


def _read(request):
    """The posted desk form: (form, version, rows, documents payload, errors)."""
    form = DeskForm(request.POST, request.FILES)
    form.is_valid()
    errors: dict[str, list[str]] = {}
    for name, messages_ in form.errors.items():
        merge_errors(errors, {FIELD_SLOTS.get(name, "__all__"): messages_})
    code = form.data.get("procedure", "")
    version = _version(code)
    rows, documents = [], []
    if version is None:
        errors["procedure"] = [
            _("Vui lòng chọn thủ tục hành chính.") if not code.strip()
            else _("Không tìm thấy thủ tục “%(code)s” hoặc thủ tục không còn áp dụng.")
            % {"code": code}
        ]
    else:
        rows, documents, ok = read_checklist(version.documents.all(), request.POST)
        if not ok:
            errors["documents"] = [_("Số bản chính, bản sao phải là số nguyên từ 0 đến 100.")]
        documents += [
            {"name": name, "received": True, "originals": 1, "copies": 0}
            for name in lines(form.cleaned_data.get("extra_documents", ""))
        ]
    return form, version, rows, documents, errors


def _receive(request):
    form, version, rows, documents, errors = _read(request)
    missing = []
    if version is not None and "documents" not in errors:
        missing = checklist_missing(procedure_version=version, documents=documents)
    if missing or errors:
        # Report everything at once: the applicant's mistakes too.
        try:
            clean_applicant(form.applicant())
        except ValidationError as exc:
            merge_errors(errors, error_map(exc))
        return _invalid(request, form=form, version=version, rows=rows, errors=errors,
                        missing=missing)
    try:
        dossier = dossier_receive_at_desk(
            procedure_version=version, agency=form.cleaned_data.get("agency") or None,
            channel=form.cleaned_data.get("channel") or Channel.IN_PERSON,
            applicant=form.applicant(), documents=documents,
            attachments=form.cleaned_data.get("attachments") or [], actor=request.user,
        )
    except DomainError as exc:
        if exc.code == "incomplete_dossier":
            missing = list((exc.errors or {}).get("documents") or [])
        elif exc.code in UPLOAD_CODES:
            errors["attachments"] = [str(exc.message)]
        else:
            merge_errors(errors, error_map(exc))
        return _invalid(request, form=form, version=version, rows=rows, errors=errors,
                        missing=missing)
    messages.success(request, _("Đã tiếp nhận hồ sơ %(code)s.") % {"code": dossier.code})
    url = reverse("dossier-page", args=[dossier.code]) + "?tiep-nhan=1"
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _invalid(request, *, form, version, rows, errors, missing):
    # Errors under a key the page has no slot for go to the summary.
    general = []
    for key in list(errors):
        if key not in SLOTS:
            general.extend(errors.pop(key))
    context = _context(request, form=form, version=version, rows=rows, errors=errors,
                       missing=missing, page=not request.htmx)
    context["general_errors"] = general
    context["oob"] = bool(request.htmx)
    # Slots inside the procedure panel exist only when a procedure is on the page.
    present = set(SLOTS) - {"channel", "documents", "agency"}
    if version is not None:
        present |= {"channel", "documents"} | ({"agency"} if context["agency_choices"] else set())
    context["oob_slots"] = [slot for slot in SLOTS if slot in present]
    if request.htmx:
        # Only the feedback and the error slots change: what was typed and the chosen scans
        # stay in the page.
        return render(request, "dossiers/_desk_feedback.html", context)
    return render(request, "dossiers/desk.html", context, status=400)


# ---------------------------------------------------------------------------------------------
# The supplement slip for a dossier the desk cannot receive yet
# ---------------------------------------------------------------------------------------------


@require_POST
@staff_required(Role.CLERK)
def desk_supplement_slip(request):
    """Mẫu 02 for the citizen at the desk: every missing mandatory document at once, from the
    form as it stands (nothing is stored; the dossier is not received)."""
    form, version, rows, documents, errors = _read(request)
    if version is None or "documents" in errors:
        return render(request, "dossiers/desk_slip_error.html",
                      {"errors": errors}, status=400)
    missing = checklist_missing(procedure_version=version, documents=documents)
    if not missing:
        return render(request, "dossiers/desk_slip_error.html", {"complete": True}, status=400)
    agency = version.agency
    if agency is None:
        code = form.cleaned_data.get("agency") or ""
        agency = Agency.objects.filter(code=code).first() if code else _clerk_agency(request.user)
    if agency is None:
        return render(request, "dossiers/desk_slip_error.html", {"errors": {
            "agency": [_("Vui lòng chọn cơ quan tiếp nhận hồ sơ.")],
        }}, status=400)
    pdf = render_desk_supplement(
        procedure_version=version, agency=agency, applicant=form.applicant(),
        missing_documents=missing, actor=request.user,
    )
    return pdf_response(pdf, "phieu-yeu-cau-bo-sung.pdf")
