"""What every staff dossier screen shares: who may open it, how a service's error becomes
messages next to fields, which official documents a dossier can print."""

from __future__ import annotations

from collections.abc import Iterable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from dossiers.models import State, Transition
from motcua.errors import DomainError
from motcua.models import Role
from motcua.permissions import has_role

#: Everyone who works on dossiers (the queue); the search also lets supervisors in.
WORKING_ROLES = (Role.CLERK, Role.OFFICER, Role.LEADER)
SEARCH_ROLES = (*WORKING_ROLES, Role.SUPERVISOR)


def staff_required(*roles: str):
    """Login first (redirect), then only holders of one of ``roles`` (403 otherwise)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapper(request, *args, **kwargs):
            if not has_role(request.user, *roles):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def error_map(exc: DomainError, *, default_slot: str = "__all__") -> dict[str, list[str]]:
    """A service error as ``{slot: [messages]}``: its ``errors`` when they name fields, else
    its message under ``default_slot``."""
    out: dict[str, list[str]] = {}
    errors = exc.errors
    if isinstance(errors, dict) and errors:
        for key, messages in errors.items():
            if isinstance(messages, str):
                messages = [messages]
            out.setdefault(str(key), []).extend(str(m) for m in messages)
    if not out:
        out[default_slot] = [str(exc.message)]
    return out


def merge_errors(into: dict[str, list[str]], more: dict[str, Iterable[str]]) -> None:
    for key, messages in more.items():
        bucket = into.setdefault(key, [])
        bucket.extend(str(m) for m in messages if str(m) not in bucket)


# ---------------------------------------------------------------------------------------------
# Official documents (PDF, dossiers.documents)
# ---------------------------------------------------------------------------------------------

DOCUMENT_LABELS = {
    "receipt": _("Giấy tiếp nhận hồ sơ và hẹn trả kết quả (Mẫu 01)"),
    "supplement": _("Phiếu yêu cầu bổ sung, hoàn thiện hồ sơ (Mẫu 02)"),
    "refusal": _("Phiếu từ chối tiếp nhận giải quyết hồ sơ (Mẫu 03)"),
    "apology": _("Văn bản xin lỗi và hẹn lại ngày trả kết quả (Mẫu 04)"),
    "stop-notice": _("Thông báo dừng giải quyết hồ sơ (Mẫu 05)"),
    "control-sheet": _("Phiếu kiểm soát quá trình giải quyết hồ sơ (Mẫu 06)"),
}


def document_url(code: str, kind: str) -> str:
    return reverse("dossier-document", args=[code, kind])


def printable_documents(dossier, events) -> list[dict]:
    """The official documents that apply to this dossier now, in form order."""
    transitions = {event.transition for event in events}
    kinds = []
    if dossier.received_at:
        kinds.append("receipt")
    if Transition.REQUEST_SUPPLEMENT in transitions:
        kinds.append("supplement")
    if dossier.state == State.REFUSED:
        kinds.append("refusal")
    if "apology" in transitions:
        kinds.append("apology")
    if dossier.state == State.STOPPED:
        kinds.append("stop-notice")
    if dossier.received_at:
        kinds.append("control-sheet")
    return [
        {"kind": kind, "label": DOCUMENT_LABELS[kind], "url": document_url(dossier.code, kind)}
        for kind in kinds
    ]
