"""Pages of the procedure catalogue: the staff catalogue (catalogue admins) and the public one.

Views only read through the selectors and write through the services; they turn a service's
`ValidationError` back into messages next to the fields.
"""

from __future__ import annotations

import os
import secrets
from decimal import Decimal
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_valid_filename
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from motcua.errors import ValidationError
from motcua.permissions import is_catalogue_admin
from procedures import importexport
from procedures.forms import (
    TEMPLATE_DIR,
    CatalogueFilterForm,
    ImportForm,
    ProcedureBundle,
    field_choices,
    hours_of,
    is_template_name,
    unit_code_choices,
)
from procedures.models import Level, Procedure, ProcedureVersion, RequiredDocument
from procedures.schema import ProcedureData
from procedures.selectors import procedure_get, procedure_search, procedure_versions
from procedures.services import (
    procedure_create,
    procedure_set_active,
    procedure_to_data,
    procedure_update,
    procedure_version_in_use,
)

STAFF_PAGE_SIZE = 25
PUBLIC_PAGE_SIZE = 20
IMPORT_REPORT_SESSION_KEY = "catalogue_import_errors"
MAX_REPORTED_ERRORS = 2000


def catalogue_admin_required(view):
    """Login first; then only catalogue admins (and superusers) get in, everyone else 403."""

    @wraps(view)
    @login_required
    def wrapper(request, *args, **kwargs):
        if not is_catalogue_admin(request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _version_details(queryset):
    return queryset.select_related("procedure", "field", "agency", "created_by").prefetch_related(
        "fees", "documents", "time_limits", "steps__agency"
    )


def _search(params, *, active_only: bool):
    def blank_none(value):
        return value or None

    return procedure_search(
        q=params.get("q") or "", field=blank_none(params.get("field")),
        agency=blank_none(params.get("agency")), level=blank_none(params.get("level")),
        active_only=active_only,
    )


def _querystring(params: dict, **overrides) -> str:
    merged = {k: v for k, v in {**params, **overrides}.items() if v not in (None, "")}
    return urlencode(merged)


# --- staff: list, detail, versions ------------------------------------------------------------

def _staff_filtered(request) -> tuple[CatalogueFilterForm, dict, object]:
    """The staff list's filter form, its values, and the current versions it selects."""
    form = CatalogueFilterForm(request.GET or None)
    params = form.cleaned_data if form.is_valid() else {}
    active = params.get("active", "")
    versions = _search(params, active_only=active == "1")
    if active == "0":
        versions = versions.filter(procedure__is_active=False)
    return form, params, versions


@catalogue_admin_required
def catalogue_list(request):
    form, params, versions = _staff_filtered(request)
    page = Paginator(versions.order_by("procedure__code"), STAFF_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    filters = {k: v for k, v in params.items() if v}
    context = {
        "form": form, "page": page, "filters": filters,
        "filter_qs": _querystring(filters),
        "export_url": reverse("catalogue-export") + ("?" + _querystring(filters) if filters else ""),
    }
    if request.htmx and request.htmx.target == "catalogue-results":
        return render(request, "procedures/staff/_results.html", context)
    return render(request, "procedures/staff/list.html", context)


@catalogue_admin_required
def catalogue_detail(request, code, number=None):
    procedure = get_object_or_404(Procedure, code=code)
    versions = procedure_versions(procedure=procedure)
    if number is None:
        try:
            version = procedure_get(code=code)
        except ProcedureVersion.DoesNotExist:
            raise Http404 from None
    else:
        version = get_object_or_404(_version_details(procedure.versions), number=number)
    return render(request, "procedures/staff/detail.html", {
        "procedure": procedure, "version": version, "versions": versions,
        "is_current": version.pk == procedure.current_version_id,
        "steps_total": sum((s.hours for s in version.steps.all()), Decimal(0)),
        "fees": _fees(version),
    })


def _vnd(amount: int | None) -> str:
    """150000 → "150.000" (Vietnamese thousands separator)."""
    return "" if amount is None else f"{amount:,}".replace(",", ".")


def _fees(version: ProcedureVersion) -> list[dict]:
    return [{"fee": f, "amount": _vnd(f.amount_vnd)} for f in version.fees.all()]


@catalogue_admin_required
@require_POST
def catalogue_set_active(request, code):
    procedure = get_object_or_404(Procedure, code=code)
    active = request.POST.get("active") == "1"
    try:
        procedure_set_active(procedure=procedure, active=active, actor=request.user)
    except ValidationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            _("Đã áp dụng lại thủ tục %(code)s.") % {"code": code} if active
            else _("Đã ngừng áp dụng thủ tục %(code)s.") % {"code": code},
        )
    return redirect("catalogue-detail", code=code)


# --- staff: create and edit -------------------------------------------------------------------

def _store_uploads(bundle: ProcedureBundle) -> None:
    """Keep each uploaded template at once, so that a page shown again with errors still has
    it (a browser cannot refill a file input). The stored name rides in the hidden field."""
    for form in bundle.documents.forms:
        # cleaned_data keeps the fields that passed, even when another field of the row failed.
        upload = getattr(form, "cleaned_data", {}).get("template_file")
        if not upload:
            continue
        stem, ext = os.path.splitext(get_valid_filename(os.path.basename(upload.name)))
        name = default_storage.save(
            f"{TEMPLATE_DIR}{timezone.now():%Y/%m}/{stem[:80] or 'mau'}{ext.lower()}", upload
        )
        form.data[form.add_prefix("template")] = name
        form.data[form.add_prefix("template_clear")] = ""
        form.cleaned_data["template"] = name
        form.cleaned_data["template_clear"] = False
        if not form.cleaned_data.get("template_name"):
            form.cleaned_data["template_name"] = os.path.basename(upload.name)
            form.data[form.add_prefix("template_name")] = os.path.basename(upload.name)


def _form_context(bundle: ProcedureBundle, **extra) -> dict:
    main = bundle.main
    amount = main["time_limit_amount"].value()
    unit = main["time_limit_unit"].value()
    try:
        limit_hours = hours_of(Decimal(str(amount)), unit) if amount not in (None, "") else None
    except ArithmeticError:
        limit_hours = None
    return {
        "bundle": bundle, "form": main, "fees": bundle.fees, "documents": bundle.documents,
        "steps": bundle.steps, "time_limits": bundle.time_limits,
        "field_choices": field_choices(), "unit_codes": unit_code_choices(),
        "limit_hours": limit_hours, **extra,
    }


def _bound_bundle(request, *, editing: bool) -> ProcedureBundle:
    return ProcedureBundle.build(data=request.POST.copy(), files=request.FILES, editing=editing)


def _submit(request, bundle: ProcedureBundle, save) -> object | None:
    """Validate the forms, store uploads, call the service. Returns what the service returned,
    or None with the errors placed in the bundle."""
    valid = bundle.is_valid()
    _store_uploads(bundle)
    if not valid:
        bundle.top_errors.append(_("Hãy sửa các mục được đánh dấu bên dưới."))
        return None
    data = bundle.to_data()
    try:
        return save(data)
    except ValidationError as exc:
        bundle.apply_service_errors(exc.message, exc.errors)
        return None


NEW_PROCEDURE_DEFAULTS = ProcedureData(
    code="", name="", field_code="", field_name="", level="province",
    time_limit_amount=None, time_limit_unit="working_days",
)


@catalogue_admin_required
def catalogue_create(request):
    if request.method == "POST":
        bundle = _bound_bundle(request, editing=False)
        procedure = _submit(
            request, bundle, lambda data: procedure_create(data=data, actor=request.user)
        )
        if procedure is not None:
            messages.success(request, _("Đã thêm thủ tục %(code)s.") % {"code": procedure.code})
            return redirect("catalogue-detail", code=procedure.code)
    else:
        bundle = ProcedureBundle.build(initial=NEW_PROCEDURE_DEFAULTS)
    return render(request, "procedures/staff/form.html", _form_context(
        bundle, title=_("Thêm thủ tục hành chính"), creating=True,
    ))


@catalogue_admin_required
def catalogue_edit(request, code):
    procedure = get_object_or_404(Procedure.objects.select_related("current_version"), code=code)
    current = procedure.current_version
    if current is None:
        raise Http404
    if request.method == "POST":
        bundle = _bound_bundle(request, editing=True)
        bundle.main.initial["code"] = procedure.code
        version = _submit(request, bundle, lambda data: procedure_update(
            procedure=procedure, data=data, actor=request.user,
        ))
        if version is not None:
            if version.pk != current.pk:
                messages.success(request, _(
                    "Đã tạo phiên bản mới %(number)s của thủ tục %(code)s. Hồ sơ đã tiếp nhận "
                    "vẫn giữ phiên bản %(old)s."
                ) % {"number": version.number, "code": code, "old": current.number})
            else:
                messages.success(request, _("Đã lưu thủ tục %(code)s.") % {"code": code})
            return redirect("catalogue-detail", code=code)
    else:
        bundle = ProcedureBundle.build(initial=procedure_to_data(current), editing=True)
    return render(request, "procedures/staff/form.html", _form_context(
        bundle, title=_("Sửa thủ tục %(code)s") % {"code": code}, procedure=procedure,
        current=current, creates_version=procedure_version_in_use(current),
    ))


@login_required
def staff_document_template(request, pk):
    """A document's template file, of any version (staff reading an old version need it)."""
    if not is_catalogue_admin(request.user):
        raise PermissionDenied
    document = get_object_or_404(RequiredDocument, pk=pk)
    return _template_response(document)


def _template_response(document: RequiredDocument) -> FileResponse:
    if not document.template or not is_template_name(document.template.name):
        raise Http404
    try:
        handle = document.template.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    ext = os.path.splitext(document.template.name)[1]
    base = document.template_name or document.name[:60]
    filename = base if base.lower().endswith(ext.lower()) else f"{base}{ext}"
    return FileResponse(handle, as_attachment=True, filename=filename)


# --- staff: xlsx export and import ------------------------------------------------------------

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@catalogue_admin_required
def catalogue_export(request):
    _form, _params, versions = _staff_filtered(request)
    content = importexport.export_catalogue(versions)
    response = HttpResponse(content, content_type=XLSX)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="danh-muc-tthc-{stamp}.xlsx"'
    return response


@catalogue_admin_required
def catalogue_import(request):
    result = None
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        result = importexport.import_catalogue(form.cleaned_data["file"], actor=request.user)
        token = None
        if result.errors:
            token = secrets.token_urlsafe(8)
            request.session[IMPORT_REPORT_SESSION_KEY] = {
                "token": token,
                "errors": [e.as_list() for e in result.errors[:MAX_REPORTED_ERRORS]],
            }
        context = {"form": ImportForm(), "result": result, "report_token": token,
                   "errors_shown": result.errors[:MAX_REPORTED_ERRORS]}
        template = "procedures/staff/_import_result.html" if request.htmx else \
            "procedures/staff/import.html"
        return render(request, template, context)
    if request.htmx and request.method == "POST":
        return render(request, "procedures/staff/_import_form_errors.html", {"form": form})
    return render(request, "procedures/staff/import.html", {"form": form, "result": result})


@catalogue_admin_required
def catalogue_import_errors(request, token):
    report = request.session.get(IMPORT_REPORT_SESSION_KEY) or {}
    if report.get("token") != token:
        raise Http404
    errors = [importexport.RowError(*row) for row in report["errors"]]
    response = HttpResponse(importexport.error_workbook(errors), content_type=XLSX)
    response["Content-Disposition"] = 'attachment; filename="loi-nhap-danh-muc.xlsx"'
    return response


# --- public catalogue -------------------------------------------------------------------------

def public_home(request):
    params = {k: request.GET.get(k, "").strip() for k in ("q", "field", "agency", "level")}
    searching = any(params.values())
    context = {"params": params, "searching": searching}
    if searching:
        versions = _search(params, active_only=True).order_by("name", "procedure__code")
        page = Paginator(versions, PUBLIC_PAGE_SIZE).get_page(request.GET.get("page"))
        context.update(page=page, qs=_querystring(params))
        if params["field"]:
            context["field_name"] = dict(field_choices()).get(params["field"], params["field"])
        if params["agency"]:
            context["agency_name"] = _agency_name(params["agency"])
    else:
        active = procedure_search(q="", field=None, agency=None, level=None, active_only=True)
        context["by_field"] = list(
            active.values("field__code", "field__name").annotate(n=Count("id"))
            .order_by("field__name")
        )
        context["by_agency"] = list(
            active.exclude(agency__isnull=True).values("agency__code", "agency__name")
            .annotate(n=Count("id")).order_by("agency__name")
        )
        context["commune_count"] = active.filter(level=Level.COMMUNE).count()
    if request.htmx and request.htmx.target == "public-results":
        return render(request, "public/_results.html", context)
    return render(request, "public/home.html", context)


def _agency_name(code: str) -> str:
    from motcua.models import Agency

    return Agency.objects.filter(code=code).values_list("name", flat=True).first() or code


def _public_version(code: str) -> ProcedureVersion:
    try:
        return procedure_get(code=code, active_only=True)
    except ProcedureVersion.DoesNotExist:
        raise Http404(_("Không tìm thấy thủ tục.")) from None


def public_procedure(request, code):
    version = _public_version(code)
    return render(request, "public/procedure.html", {
        "version": version, "procedure": version.procedure,
        "channels": _channels(version), "fees": _fees(version),
        "legal_basis": version.legal_basis_lines,
    })


def _channels(version: ProcedureVersion) -> list[dict]:
    """Each accepted way to submit, with its own time limit where one is set."""
    own = {t.channel: t for t in version.time_limits.all()}
    out = []
    for channel, accepted in (("in_person", version.accepts_in_person),
                              ("online", version.accepts_online),
                              ("post", version.accepts_post)):
        limit = own.get(channel)
        if accepted or limit:
            out.append({
                "channel": channel,
                "label": {"in_person": _("Trực tiếp"), "online": _("Trực tuyến"),
                          "post": _("Dịch vụ bưu chính")}[channel],
                "amount": limit.amount if limit else version.time_limit_amount,
                "unit": limit.get_unit_display() if limit else version.get_time_limit_unit_display(),
            })
    return out


def public_document_template(request, code, pk):
    version = _public_version(code)
    document = next((d for d in version.documents.all() if d.pk == pk), None)
    if document is None:
        raise Http404
    return _template_response(document)
