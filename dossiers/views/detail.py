"""The dossier page: header, the actions this person may take now (each a small form from
TRANSITION_PAYLOAD, carrying the version they saw), the steps with their deadlines, the
timeline, the documents received, attachments and the official documents to print."""

from __future__ import annotations

import mimetypes

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from audit.models import AccessKind
from audit.selectors import may_read_dossier_access
from audit.services import access_record
from dossiers import permissions
from dossiers.deadlines import dossier_apologies
from dossiers.forms import WITH_FILES, AssignForm, AttachForm, TransitionForm
from dossiers.models import Attachment, Dossier, State, Transition
from dossiers.selectors import dossier_get
from dossiers.services import (
    TRANSITION_PAYLOAD,
    dossier_assign,
    dossier_attach,
    dossier_available_transitions,
    dossier_transition,
)
from dossiers.templatetags.dossier_screens import deadline_of, person_name
from dossiers.validators import check_upload
from dossiers.views._common import document_url, printable_documents
from motcua.errors import ConcurrentChange, DomainError, PermissionDenied
from motcua.models import Role, StaffRole

#: The usual next step first: it is shown open and in the primary colour.
PRIMARY_ORDER = [
    Transition.RECEIVE, Transition.START, Transition.SUPPLEMENT, Transition.FORWARD,
    Transition.SUBMIT_FOR_APPROVAL, Transition.APPROVE, Transition.RETURN_RESULT,
]
#: Shown as warnings (they end or set back the dossier).
DANGER = {
    Transition.REFUSE, Transition.DENY, Transition.WITHDRAW, Transition.STOP,
    Transition.SEND_BACK,
}
#: Sentences under each action's title: what it does, in the clerk's words.
HELP = {
    Transition.RECEIVE: gettext_lazy("Kiểm tra thành phần hồ sơ nộp trực tuyến; hồ sơ được cấp mã và ngày hẹn trả."),
    Transition.REFUSE: gettext_lazy("Hồ sơ không đủ điều kiện tiếp nhận: ghi rõ lý do (Mẫu 03)."),
    Transition.START: gettext_lazy("Chuyển hồ sơ cho đơn vị thụ lý theo quy trình nội bộ."),
    Transition.FORWARD: gettext_lazy("Hoàn thành bước hiện tại, chuyển sang bước tiếp theo của quy trình."),
    Transition.REQUEST_SUPPLEMENT: gettext_lazy("Thời hạn tạm dừng cho đến khi công dân bổ sung (Mẫu 02)."),
    Transition.SUPPLEMENT: gettext_lazy("Công dân đã mang giấy tờ bổ sung: thời hạn được tính tiếp."),
    Transition.SUBMIT_FOR_APPROVAL: gettext_lazy("Trình lãnh đạo phê duyệt kết quả."),
    Transition.APPROVE: gettext_lazy("Phê duyệt kết quả giải quyết."),
    Transition.DENY: gettext_lazy("Từ chối giải quyết: công dân nhận văn bản trả lời tại quầy."),
    Transition.SEND_BACK: gettext_lazy("Trả lại chuyên viên để xử lý lại."),
    Transition.RETURN_RESULT: gettext_lazy("Công dân đã nhận kết quả."),
    Transition.WITHDRAW: gettext_lazy("Công dân có yêu cầu rút hồ sơ."),
    Transition.STOP: gettext_lazy("Dừng giải quyết hồ sơ theo quy định (Thông báo Mẫu 05)."),
}
CONFLICT = gettext_lazy("Thao tác của bạn chưa được thực hiện. Thông tin dưới đây đã được cập nhật; "
             "vui lòng xem lại rồi thực hiện lại nếu vẫn cần.")


def _get(request, code: str) -> Dossier:
    return dossier_get(code=code, user=request.user, details=True)


def _last_supplement_request(events) -> list[str]:
    for event in reversed(events):
        if event.transition == Transition.REQUEST_SUPPLEMENT:
            return list((event.data or {}).get("missing_documents") or [])
    return []


def _transition_form(name: str, dossier: Dossier, events, documents, *, data=None, files=None):
    kwargs = {}
    if name == Transition.RECEIVE:
        kwargs["documents"] = list(dossier.procedure_version.documents.all())
        kwargs["checklist_initial"] = {
            d.required_document_id: d.received for d in documents if d.required_document_id
        }
    elif name == Transition.SUPPLEMENT:
        kwargs["choices"] = _last_supplement_request(events)
    elif name == Transition.REQUEST_SUPPLEMENT:
        kwargs["choices"] = [d.name for d in documents]
    initial = {"expected_version": dossier.version}
    if "result_text" in TRANSITION_PAYLOAD.get(name, {}):
        initial["result_text"] = dossier.result_text  # the draft so far, to approve or amend
    form = TransitionForm(data, files, transition=name, initial=initial, **kwargs)
    form.help = HELP.get(name, "")
    form.danger = name in DANGER
    return form


def _officers(dossier: Dossier):
    rows = (
        StaffRole.objects.filter(role=Role.OFFICER, unit_id=dossier.current_unit_id)
        .select_related("user").order_by("user__last_name", "user__first_name")
    )
    return [(row.user, person_name(row.user)) for row in rows]


def _can_assign(user, dossier: Dossier) -> bool:
    return (
        dossier.state in (State.IN_PROGRESS, State.SUPPLEMENT_REQUESTED)
        and dossier.current_role == Role.OFFICER
        and permissions.can_assign(user, dossier)
    )


def _attach_kinds(user, dossier: Dossier) -> list[str]:
    if not dossier.is_open:
        return []
    kinds = (Attachment.Kind.SCAN, Attachment.Kind.SUPPLEMENT, Attachment.Kind.RESULT)
    return [k for k in kinds if permissions.can_attach(user, dossier, k)]


def _apology_letters(dossier: Dossier) -> list:
    """The dossier's apology letters (Mẫu 04), first to last, each with the address that
    re-prints exactly that letter (``?number=N``), not only the latest."""
    letters = dossier_apologies(dossier=dossier)
    base = document_url(dossier.code, "apology")
    for letter in letters:
        letter.pdf_url = f"{base}?number={letter.number}"
    return letters


def render_detail(request, dossier: Dossier, *, bound: dict | None = None, alert=None,
                  status: int = 200, kept: dict | None = None):
    """The page. ``bound``: forms to show as submitted (with their errors); ``alert``: a
    (level, message) above everything; ``kept``: what the person typed into an action that is
    no longer available (shown so that it is not lost)."""
    events = list(dossier.events.all())
    documents = list(dossier.documents.all())
    available = dossier_available_transitions(dossier=dossier, user=request.user)
    bound = bound or {}
    forms = []
    for name in available:
        form = bound.get(name) or _transition_form(name, dossier, events, documents)
        forms.append(form)
    forms.sort(key=lambda f: (
        PRIMARY_ORDER.index(f.transition) if f.transition in PRIMARY_ORDER else 99,
        f.transition in DANGER,
    ))
    primary = forms[0].transition if forms and forms[0].transition in PRIMARY_ORDER else None
    open_action = next(iter(bound), None) or primary
    assign_form = None
    if _can_assign(request.user, dossier):
        assign_form = bound.get("assign") or AssignForm(
            officers=_officers(dossier),
            initial={"expected_version": dossier.version, "officer": dossier.current_handler_id},
        )
    kinds = _attach_kinds(request.user, dossier)
    attach_form = bound.get("attach") or (AttachForm(kinds=kinds) if kinds else None)
    printables = printable_documents(dossier, events)
    context = {
        "dossier": dossier,
        "deadline": deadline_of(dossier),
        "events": events,
        "steps": list(dossier.steps.all()),
        "apologies": _apology_letters(dossier),
        "documents": documents,
        "attachments": list(dossier.attachments.all()),
        "forms": forms,
        "primary": primary,
        "open_action": open_action,
        "assign_form": assign_form,
        "attach_form": attach_form,
        "can_download": permissions.can_open_attachments(request.user),
        "printables": printables,
        "receipt": next((p for p in printables if p["kind"] == "receipt"), None),
        "just_received": request.GET.get("tiep-nhan") == "1" and dossier.state == State.RECEIVED,
        "alert": alert,
        "kept": kept,
        "supplement_requested": _last_supplement_request(events),
        "states": State,
        # "Ai đã xem hồ sơ này" (templates/audit/_dossier_link.html), for leaders and admins.
        "access_log_url": (
            reverse("audit-dossier-access", args=[dossier.code])
            if may_read_dossier_access(request.user) else None
        ),
    }
    response = render(request, "dossiers/detail.html", context, status=status)
    # After the page's own queries: one INSERT, and only for a page that was rendered.
    access_record(request=request, kind=AccessKind.PAGE, dossier=dossier)
    return response


@require_GET
@login_required
def detail(request, code):
    return render_detail(request, _get(request, code))


@require_POST
@login_required
def act(request, code, transition):
    """Apply one transition from the dossier page, with the version the person saw."""
    if transition not in Transition.values:
        raise Http404
    dossier = _get(request, code)
    events = list(dossier.events.all())
    documents = list(dossier.documents.all())
    form = _transition_form(transition, dossier, events, documents,
                            data=request.POST, files=request.FILES)
    if not form.is_valid():
        return render_detail(request, dossier, bound={transition: form}, status=400)
    files = form.uploads()
    try:
        for file in files:
            check_upload(file)  # before anything is written
        updated = dossier_transition(
            dossier=dossier, transition=transition, actor=request.user,
            comment=form.cleaned_data.get("comment", ""),
            expected_version=form.cleaned_data.get("expected_version"), **form.payload(),
        )
    except ConcurrentChange:
        return _conflict(request, code, transition, form)
    except PermissionDenied as exc:
        return render_detail(request, dossier, alert=("error", str(exc.message)), status=403)
    except DomainError as exc:
        if not form.add_service_errors(exc.errors):
            form.add_error(None, str(exc.message))
        return render_detail(request, dossier, bound={transition: form}, status=400)
    for file in files:
        try:
            dossier_attach(dossier=updated, file=file, kind=WITH_FILES[transition],
                           actor=request.user)
        except DomainError as exc:
            messages.warning(request, str(exc.message))
    messages.success(request, _("%(action)s: đã thực hiện với hồ sơ %(code)s.") % {
        "action": Transition(transition).label, "code": updated.code,
    })
    return redirect("dossier-page", updated.code)


def _conflict(request, code: str, transition: str, form: TransitionForm):
    """Someone acted first: show the dossier as it is now, and keep what was typed."""
    fresh = _get(request, code)
    available = dossier_available_transitions(dossier=fresh, user=request.user)
    bound, kept = {}, None
    if transition in available:
        data = request.POST.copy()
        data[form.add_prefix("expected_version")] = str(fresh.version)
        rebound = _transition_form(transition, fresh, list(fresh.events.all()),
                                   list(fresh.documents.all()), data=data)
        rebound.is_valid()
        bound[transition] = rebound
    else:
        typed = {
            str(form.fields[name].label): value
            for name, value in form.cleaned_data.items()
            if name in form.fields and isinstance(value, str) and value.strip()
            and name != "expected_version"
        }
        kept = {"action": form.label, "typed": typed} if typed else None
    return render_detail(request, fresh, bound=bound, alert=("conflict", CONFLICT),
                         status=409, kept=kept)


@require_POST
@login_required
def assign(request, code):
    dossier = _get(request, code)
    if not _can_assign(request.user, dossier):
        return render_detail(request, dossier, status=403, alert=(
            "error", _("Chỉ lãnh đạo cơ quan đang xử lý hồ sơ được phân công."),
        ))
    officers = _officers(dossier)
    form = AssignForm(request.POST, officers=officers)
    if not form.is_valid():
        return render_detail(request, dossier, bound={"assign": form}, status=400)
    officer = next(user for user, _label in officers if user.pk == form.cleaned_data["officer"])
    try:
        dossier_assign(dossier=dossier, officer=officer, actor=request.user,
                       expected_version=form.cleaned_data.get("expected_version"))
    except ConcurrentChange:
        return render_detail(request, _get(request, code), alert=("conflict", CONFLICT),
                             status=409)
    except DomainError as exc:
        form.add_error(None, str(exc.message))
        return render_detail(request, dossier, bound={"assign": form}, status=exc.status)
    messages.success(request, _("Đã phân công %(name)s xử lý hồ sơ.") % {
        "name": person_name(officer)
    })
    return redirect("dossier-page", dossier.code)


@require_POST
@login_required
def attach(request, code):
    dossier = _get(request, code)
    kinds = _attach_kinds(request.user, dossier)
    if not kinds:
        return render_detail(request, dossier, status=403, alert=(
            "error", _("Bạn không được đính kèm tệp vào hồ sơ này."),
        ))
    form = AttachForm(request.POST, request.FILES, kinds=kinds)
    if not form.is_valid() or not form.cleaned_data["files"]:
        if form.is_valid():
            form.add_error("files", _("Vui lòng chọn tệp."))
        return render_detail(request, dossier, bound={"attach": form}, status=400)
    stored, failed = 0, []
    for file in form.cleaned_data["files"]:
        try:
            dossier_attach(dossier=dossier, file=file, kind=form.cleaned_data["kind"],
                           actor=request.user)
        except DomainError as exc:
            failed.append(str(exc.message))
        else:
            stored += 1
    if failed:
        for message in failed:
            form.add_error("files", message)
        if stored:
            messages.success(request, _("Đã đính kèm %(n)d tệp.") % {"n": stored})
        return render_detail(request, _get(request, code), bound={"attach": form}, status=400)
    messages.success(request, _("Đã đính kèm %(n)d tệp.") % {"n": stored})
    return redirect(reverse("dossier-page", args=[dossier.code]) + "#tep")


@require_GET
@login_required
def attachment(request, code, pk):
    """A file of the dossier, for those who may see the dossier and work on dossiers."""
    dossier = dossier_get(code=code, user=request.user, details=False)
    if not permissions.can_open_attachments(request.user):
        raise Http404
    item = Attachment.objects.filter(dossier=dossier, pk=pk).first()
    if item is None:
        raise Http404
    inline = item.content_type in ("application/pdf", "image/jpeg", "image/png")
    response = FileResponse(
        item.file.open("rb"), as_attachment=not inline, filename=item.original_name,
        content_type=item.content_type or mimetypes.guess_type(item.original_name)[0],
    )
    access_record(request=request, kind=AccessKind.ATTACHMENT, dossier=dossier,
                  data={"attachment": item.pk, "name": item.original_name})
    # A scan opened in the browser runs nothing of ours and nothing of its own.
    response["Content-Security-Policy"] = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
    response["Cache-Control"] = "private, no-store"
    return response
