"""Online submission (nộp hồ sơ trực tuyến), without an account: the start page (choose a
procedure that accepts online submission), the form of one procedure, the confirmation with the
provisional code, and ``POST /api/public/dossiers/``. Every submission goes through
``dossiers.services.dossier_submit_online``; this module only reads the form, keeps what the
citizen already got right, and answers.

Rules kept here (docs/citizen-portal.md, "Online submission"):

- one form, one dossier: the form carries a random token; sending it twice (double click, back
  button, a retry after a time-out) shows the dossier already stored instead of a second one;
  the API does the same with an ``Idempotency-Key`` header;
- files the checks accepted are kept between attempts (staged in storage, listed on the form),
  so an error elsewhere never asks for them again; refused files are named with the reason;
- only the browser that submitted sees the confirmation page (its session holds the code);
  anyone else tracks the dossier with its code and phone number;
- submissions are throttled per client (scope ``public_submit``), the page as the API.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from datetime import timedelta

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from dossiers.api.serializers import DossierApplicantInputSerializer, ErrorSerializer
from dossiers.models import Dossier, State
from dossiers.services import dossier_submit_online
from dossiers.validators import (
    ALLOWED_DESCRIPTION,
    EXTENSIONS,
    check_upload,
    upload_max_bytes,
)
from motcua.errors import DomainError, ValidationError
from motcua.models import Agency
from procedures.models import Level, ProcedureVersion
from procedures.selectors import procedure_get, procedure_search

logger = logging.getLogger(__name__)

#: session: provisional codes this browser submitted (it may see their confirmation).
OWNED_KEY = "online_codes"
#: session: per form token, the files already accepted: {doc id: [{path, name, size}]}.
STAGED_KEY = "online_staged"
STAGING_DIR = "online-staging"
MAX_FILES_PER_DOCUMENT = 5
MAX_FILES = 20
PAGE_SIZE = 20
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
_DONE_SECONDS = 24 * 3600
_LOCK_SECONDS = 120
APPLICANT_FIELDS = ("name", "id_number", "phone", "email", "address")


# ---------------------------------------------------------------------------------------------
# Throttling (the page and the API share the scope and the counter)
# ---------------------------------------------------------------------------------------------


class PublicSubmitThrottle(SimpleRateThrottle):
    """Per client address, rate ``DEFAULT_THROTTLE_RATES["public_submit"]`` (read at each
    request, so the setting can change without a restart)."""

    scope = "public_submit"

    def get_rate(self):
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


# ---------------------------------------------------------------------------------------------
# Reads
# ---------------------------------------------------------------------------------------------


def online_procedures(q: str = ""):
    """The active procedures whose current version accepts online submission."""
    return procedure_search(q=q, active_only=True).filter(accepts_online=True).prefetch_related("fees")


def _online_version(code: str) -> ProcedureVersion:
    try:
        return procedure_get(code=code, active_only=True)
    except ProcedureVersion.DoesNotExist:
        raise Http404(_("Không tìm thấy thủ tục.")) from None


def _communes(version: ProcedureVersion) -> list[Agency]:
    """Receiving agencies to choose from: only for commune-level procedures that every commune
    performs (no agency named in the catalogue)."""
    if version.agency_id or version.level != Level.COMMUNE:
        return []
    return list(
        Agency.objects.filter(kind=Agency.Kind.COMMUNE, is_active=True).order_by("name")
    )


def tracking_link(code: str = "") -> str | None:
    """The public tracking page (another part of the portal), if it is installed."""
    try:
        url = reverse("public-track")
    except NoReverseMatch:
        return None
    return f"{url}?ma={code}" if code else url


def owns(request, code: str) -> bool:
    return code in request.session.get(OWNED_KEY, [])


def owned_dossier(request, code: str) -> Dossier:
    """The dossier this browser submitted, else 404 (the same for unknown and not ours)."""
    if not owns(request, code):
        raise Http404(_("Không tìm thấy hồ sơ."))
    dossier = (
        Dossier.objects.select_related("procedure_version__procedure", "agency")
        .prefetch_related("procedure_version__fees")
        .filter(provisional_code=code).first()
    )
    if dossier is None:
        raise Http404(_("Không tìm thấy hồ sơ."))
    return dossier


def _remember(request, code: str) -> None:
    codes = [c for c in request.session.get(OWNED_KEY, []) if c != code]
    request.session[OWNED_KEY] = [*codes[-19:], code]


# ---------------------------------------------------------------------------------------------
# Pages
# ---------------------------------------------------------------------------------------------


def submit_start(request):
    """Choose a procedure that accepts online submission (search without diacritics)."""
    q = (request.GET.get("q") or "").strip()[:100]
    versions = online_procedures(q).order_by("name", "procedure__code")
    page = Paginator(versions, PAGE_SIZE).get_page(request.GET.get("page"))
    from payments.selectors import payable_fees, vnd

    rows = []
    for version in page.object_list:
        fees = payable_fees(version)
        rows.append({"version": version, "fee": vnd(fees.total) if fees.total else ""})
    by_field = []
    if not q:
        by_field = list(
            online_procedures().values("field__name").annotate(n=Count("id")).order_by("field__name")
        )
    return render(request, "public/submit_start.html", {
        "q": q, "page": page, "rows": rows, "by_field": by_field,
        "qs": f"q={q}" if q else "",
    })


@require_http_methods(["GET", "POST"])
def submit(request, code):
    """The form of one procedure; a valid POST stores the dossier and shows its confirmation."""
    version = _online_version(code)
    if not version.accepts_online:
        return render(request, "public/submit_closed.html", {
            "version": version, "procedure": version.procedure,
        }, status=404)
    token = request.POST.get("token", "") if request.method == "POST" else ""
    if not _TOKEN.match(token):
        token = secrets.token_hex(16)
    context = {
        "version": version, "procedure": version.procedure, "token": token,
        "communes": _communes(version), "documents": list(version.documents.all()),
        "values": {}, "errors": {}, "doc_errors": {}, "staged": {},
        "max_mb": f"{upload_max_bytes() / 1024 / 1024:g}", "allowed": ALLOWED_DESCRIPTION,
        "accept": ",".join(f".{ext}" for ext in EXTENSIONS.values()),
    }
    from payments.selectors import payable_fees, vnd

    fees = payable_fees(version)
    context["fees"] = [{"name": f.name, "amount": vnd(f.amount_vnd), "fixed": f.amount_vnd is not None}
                       for f in version.fees.all()]
    context["fee_total"] = vnd(fees.total) if fees.total else ""
    if request.method == "GET":
        return _render_form(request, context)

    done = cache.get(f"online-submit:done:{token}")
    if done:
        _remember(request, done)
        return redirect("public-submit-done", done)
    throttle = PublicSubmitThrottle()
    if not throttle.allow_request(request, None):
        wait = int(throttle.wait() or 60)
        context["values"] = _values(request.POST)
        context["staged"] = _staged_for(request, token)
        context["form_error"] = _(
            "Bạn đã gửi quá nhiều lần trong thời gian ngắn; vui lòng thử lại sau %(n)d giây."
        ) % {"n": wait}
        return _render_form(request, context, status=429)

    result = _handle_post(request, version, context, token)
    if isinstance(result, Dossier):
        return redirect("public-submit-done", result.provisional_code)
    return _render_form(request, context, status=400)


def _render_form(request, context: dict, status: int = 200):
    """The form, each required document with its accepted files and its errors."""
    context["doc_rows"] = [
        {
            "doc": doc,
            "errors": context["doc_errors"].get(doc.pk, []),
            "staged": context["staged"].get(str(doc.pk), []),
        }
        for doc in context["documents"]
    ]
    context["error_count"] = len(context["errors"]) + len(context["doc_errors"])
    return render(request, "public/submit.html", context, status=status)


def _values(post) -> dict:
    values = {name: (post.get(name) or "")[:2000] for name in APPLICANT_FIELDS}
    values["agency"] = (post.get("agency") or "")[:64]
    values["declaration"] = post.get("declaration") == "1"
    return values


def _handle_post(request, version: ProcedureVersion, context: dict, token: str) -> Dossier | None:
    """Check everything, keep every accepted file, and store the dossier if all is well;
    otherwise fill ``context`` with the errors next to their fields."""
    post = request.POST
    values = _values(post)
    context["values"] = values
    errors: dict[str, str] = {}
    doc_errors: dict[int, list[str]] = {}
    documents = context["documents"]

    # Files: drop those the citizen removed, stage the new ones that pass the checks.
    staged = _staged_for(request, token)
    removed = set(post.getlist("remove"))
    for doc_id, items in list(staged.items()):
        kept = [item for item in items if item["path"] not in removed]
        for item in items:
            if item["path"] in removed:
                _delete(item["path"])
        staged[doc_id] = kept
    total = sum(len(items) for items in staged.values())
    for doc in documents:
        key = str(doc.pk)
        for upload in request.FILES.getlist(f"doc_{doc.pk}"):
            if len(staged.get(key, [])) >= MAX_FILES_PER_DOCUMENT or total >= MAX_FILES:
                doc_errors.setdefault(doc.pk, []).append(
                    _("Tệp “%(name)s” không được nhận: mỗi giấy tờ tối đa %(n)d tệp, cả hồ sơ "
                      "tối đa %(m)d tệp.") % {"name": upload.name[:100], "n": MAX_FILES_PER_DOCUMENT,
                                              "m": MAX_FILES}
                )
                continue
            try:
                checked = check_upload(upload)
            except DomainError as exc:
                doc_errors.setdefault(doc.pk, []).append(str(exc.message))
                continue
            path = default_storage.save(
                f"{STAGING_DIR}/{secrets.token_urlsafe(18)}.{EXTENSIONS[checked.content_type]}",
                upload,
            )
            staged.setdefault(key, []).append(
                {"path": path, "name": checked.original_name, "size": checked.size}
            )
            total += 1
    _save_staged(request, token, staged)
    context["staged"] = staged
    _sweep_stale_staging()

    for doc in documents:
        if doc.is_mandatory and not staged.get(str(doc.pk)) and doc.pk not in doc_errors:
            doc_errors[doc.pk] = [_("Vui lòng đính kèm giấy tờ bắt buộc này.")]

    # The applicant: every field checked at once by the same rules as the desk.
    from dossiers.validators import clean_applicant

    applicant = {name: post.get(name, "") for name in APPLICANT_FIELDS}
    try:
        clean_applicant(applicant)
    except ValidationError as exc:
        for field, messages in (exc.errors or {}).items():
            errors[field.removeprefix("applicant.")] = messages[0]
    agency = None
    if context["communes"]:
        agency = next((a for a in context["communes"] if a.code == values["agency"]), None)
        if agency is None:
            errors["agency"] = _("Vui lòng chọn UBND xã, phường, đặc khu nơi nộp hồ sơ.")
    if not values["declaration"]:
        errors["declaration"] = _("Vui lòng xác nhận lời cam đoan trước khi nộp.")

    context["errors"] = errors
    context["doc_errors"] = doc_errors
    if errors or doc_errors:
        context["form_error"] = _(
            "Hồ sơ chưa gửi được: vui lòng sửa các mục được đánh dấu bên dưới. Các tệp đã đính kèm "
            "hợp lệ được giữ lại, không cần chọn lại."
        )
        return None

    if not cache.add(f"online-submit:lock:{token}", 1, _LOCK_SECONDS):
        # The same form is being stored by another request (a double click): wait for it.
        code = _wait_for(token)
        if code:
            _remember(request, code)
            return Dossier.objects.get(provisional_code=code)
        context["form_error"] = _("Hồ sơ đang được gửi; vui lòng chờ trong giây lát rồi tải lại trang.")
        return None
    try:
        attachments = []
        for doc in documents:
            for item in staged.get(str(doc.pk), []):
                with default_storage.open(item["path"], "rb") as handle:
                    attachments.append(ContentFile(handle.read(), name=item["name"]))
        dossier = dossier_submit_online(
            procedure_version=version, agency=agency, applicant=applicant,
            documents=[
                {"required_document": doc.pk, "received": bool(staged.get(str(doc.pk)))}
                for doc in documents
            ],
            attachments=attachments,
        )
    except DomainError as exc:
        cache.delete(f"online-submit:lock:{token}")
        for field, messages in (exc.errors or {}).items():
            errors[field.removeprefix("applicant.")] = str(messages[0]) if messages else ""
        context["form_error"] = str(exc.message)
        return None
    except Exception:
        cache.delete(f"online-submit:lock:{token}")
        raise
    cache.set(f"online-submit:done:{token}", dossier.provisional_code, _DONE_SECONDS)
    for items in staged.values():
        for item in items:
            _delete(item["path"])
    _save_staged(request, token, None)
    _remember(request, dossier.provisional_code)
    return dossier


def _wait_for(token: str, seconds: float = 10.0) -> str | None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        code = cache.get(f"online-submit:done:{token}")
        if code:
            return code
        time.sleep(0.2)
    return None


def _staged_for(request, token: str) -> dict:
    return {k: list(v) for k, v in request.session.get(STAGED_KEY, {}).get(token, {}).items()}


def _save_staged(request, token: str, staged: dict | None) -> None:
    every = dict(request.session.get(STAGED_KEY, {}))
    if staged:
        every[token] = staged
    else:
        every.pop(token, None)
    # A browser keeps the files of its last few forms only.
    request.session[STAGED_KEY] = dict(list(every.items())[-3:])


def _sweep_stale_staging() -> None:
    """Files staged for forms never sent (the citizen gave up) go after a day; at most one
    sweep an hour, by whichever request comes first."""
    if not cache.add("online-submit:staging-sweep", 1, 3600):
        return
    cutoff = timezone.now() - timedelta(seconds=_DONE_SECONDS)
    try:
        _dirs, names = default_storage.listdir(STAGING_DIR)
    except (FileNotFoundError, NotImplementedError, OSError):
        return
    for name in names:
        path = f"{STAGING_DIR}/{name}"
        try:
            if default_storage.get_modified_time(path) < cutoff:
                default_storage.delete(path)
        except (FileNotFoundError, NotImplementedError, OSError):
            continue


def _delete(path: str) -> None:
    if not path.startswith(f"{STAGING_DIR}/"):
        return
    try:
        default_storage.delete(path)
    except OSError:
        logger.exception("Could not remove staged upload %s", path)


def submit_done(request, code):
    """The confirmation: the provisional code, what happens next, tracking, the fee."""
    from motcua.integrations.payment import payments_enabled
    from payments.selectors import dossier_payment, payable_fees, vnd

    dossier = owned_dossier(request, code)
    fees = payable_fees(dossier.procedure_version)
    payment = dossier_payment(dossier=dossier)
    return render(request, "public/submit_done.html", {
        "dossier": dossier, "version": dossier.procedure_version,
        "procedure": dossier.procedure_version.procedure,
        "fees": fees, "fee_total": vnd(fees.total),
        "fee_lines": [{"name": line["name"], "amount": vnd(line["amount_vnd"])} for line in fees.lines],
        "payment": payment,
        "can_pay": (
            payments_enabled() and fees.payable_online and dossier.is_open
            and not (payment and payment.is_paid)
        ),
        "tracking_url": tracking_link(dossier.provisional_code),
        "received": dossier.state != State.SUBMITTED,
    })


# ---------------------------------------------------------------------------------------------
# API
# ---------------------------------------------------------------------------------------------


def _json_field(value, name: str):
    """Multipart sends nested values as JSON text."""
    import json

    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ValidationError(
                _("Trường “%(name)s” phải là JSON hợp lệ.") % {"name": name},
                code="invalid_json", errors={name: [_("JSON không hợp lệ.")]},
            ) from None
    return value


class PublicSubmissionInputSerializer(serializers.Serializer):
    """For the schema only: the view reads the body itself (JSON or multipart)."""

    procedure = serializers.CharField(help_text="Mã thủ tục trong danh mục của tỉnh.")
    channel = serializers.ChoiceField(choices=["online"], required=False)
    agency = serializers.CharField(required=False, help_text="Mã UBND xã với thủ tục cấp xã.")
    applicant = DossierApplicantInputSerializer()
    documents = serializers.ListField(child=serializers.JSONField(), required=False)
    files = serializers.ListField(child=serializers.FileField(), required=False)


class PublicSubmissionSerializer(serializers.Serializer):
    code = serializers.CharField()
    provisional_code = serializers.CharField()
    state = serializers.CharField()
    submitted_at = serializers.DateTimeField()
    procedure = serializers.CharField()
    agency = serializers.CharField()
    attachments = serializers.IntegerField()
    fees = serializers.DictField()
    tracking_url = serializers.CharField(allow_null=True)


class PublicSubmissionView(APIView):
    """``POST /api/public/dossiers/``: an online submission, as the form (CONTRACT.md).

    JSON ``{procedure, channel?: "online", agency?, applicant: {...}, documents?: [...]}``, or
    multipart with the same fields (``applicant`` and ``documents`` as JSON text) and files
    under ``files`` or ``document_<required document id>``. 201 ``{code, state: "submitted",
    ...}``. An ``Idempotency-Key`` header makes a retry answer the dossier already stored."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [PublicSubmitThrottle]
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_renderers(self):
        from dossiers.api.views import EscapedJSONRenderer

        return [EscapedJSONRenderer()]

    @extend_schema(
        summary="Nộp hồ sơ trực tuyến (công khai, không cần đăng nhập)",
        request={"application/json": PublicSubmissionInputSerializer,
                 "multipart/form-data": PublicSubmissionInputSerializer},
        responses={201: PublicSubmissionSerializer, 400: ErrorSerializer, 429: ErrorSerializer},
    )
    def post(self, request):
        key = (request.headers.get("Idempotency-Key") or "").strip()
        if key and (len(key) > 100 or not re.match(r"^[A-Za-z0-9_.:-]+$", key)):
            raise ValidationError(_("Idempotency-Key không hợp lệ."), code="invalid_idempotency_key")
        if key:
            done = cache.get(f"public-submit:idem:{key}")
            if done:
                dossier = Dossier.objects.select_related(
                    "procedure_version__procedure", "agency").get(pk=done)
                return Response(_answer(dossier), status=status.HTTP_201_CREATED)
        data = request.data
        if not hasattr(data, "get"):
            raise ValidationError(_("Dữ liệu gửi lên phải là một đối tượng JSON."), code="invalid")
        channel = data.get("channel") or "online"
        if channel != "online":
            message = _("Cổng công khai chỉ nhận hồ sơ nộp trực tuyến (channel = “online”).")
            raise ValidationError(message, code="channel_not_accepted", errors={"channel": [message]})
        procedure = data.get("procedure")
        if not isinstance(procedure, str) or len(procedure) > 64:
            message = _("Vui lòng chọn thủ tục hành chính.")
            raise ValidationError(message, code="unknown_procedure", errors={"procedure": [message]})
        if request.content_type.startswith("application/json"):
            applicant, documents = data.get("applicant"), data.get("documents")
        else:
            applicant = _json_field(data.get("applicant"), "applicant")
            documents = _json_field(data.get("documents"), "documents")
        if documents is not None and (not isinstance(documents, list) or len(documents) > 100):
            raise ValidationError(_("Danh mục giấy tờ không hợp lệ."), code="invalid_documents")
        agency = data.get("agency") or None
        if agency is not None and not isinstance(agency, str):
            raise ValidationError(_("Mã cơ quan không hợp lệ."), code="unknown_agency")
        files = list(request.FILES.getlist("files")) if request.FILES else []
        for name in list(request.FILES.keys()) if request.FILES else []:
            if name.startswith("document_"):
                files.extend(request.FILES.getlist(name))
        if len(files) > MAX_FILES:
            raise ValidationError(
                _("Tối đa %(n)d tệp cho một hồ sơ.") % {"n": MAX_FILES}, code="too_many_files"
            )
        dossier = dossier_submit_online(
            procedure=procedure.strip(), agency=agency, applicant=applicant,
            documents=documents, attachments=files,
        )
        if key:
            cache.set(f"public-submit:idem:{key}", dossier.pk, _DONE_SECONDS)
        dossier = Dossier.objects.select_related(
            "procedure_version__procedure", "agency").get(pk=dossier.pk)
        return Response(_answer(dossier), status=status.HTTP_201_CREATED)


def _answer(dossier: Dossier) -> dict:
    from payments.selectors import payable_fees

    fees = payable_fees(dossier.procedure_version)
    return {
        "code": dossier.code,
        "provisional_code": dossier.provisional_code,
        "state": dossier.state,
        "submitted_at": dossier.submitted_at.isoformat() if dossier.submitted_at else None,
        "procedure": dossier.procedure_version.procedure.code,
        "agency": dossier.agency.code,
        "attachments": dossier.attachments.count(),
        "fees": {"total_vnd": fees.total, "payable_online": fees.payable_online},
        "tracking_url": tracking_link(dossier.code),
    }

