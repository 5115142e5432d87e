"""Domain errors. Services raise these; the API and the views map them once (motcua.api)."""

from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    """A rule of the domain refused the request. ``code`` is stable; ``message`` is for people."""

    code = "invalid"
    status = 400
    default_message = _("Yêu cầu không hợp lệ.")

    def __init__(self, message=None, *, code: str | None = None, errors: dict | list | None = None):
        self.message = message or self.default_message
        if code:
            self.code = code
        self.errors = errors
        super().__init__(str(self.message))


class ValidationError(DomainError):
    code = "invalid"


class TransitionNotAllowed(DomainError):
    code = "transition_not_allowed"
    default_message = _("Thao tác này không được phép ở trạng thái hiện tại của hồ sơ.")


class PermissionDenied(DomainError):
    code = "permission_denied"
    status = 403
    default_message = _("Bạn không có quyền thực hiện thao tác này.")


class ConcurrentChange(DomainError):
    code = "concurrent_change"
    status = 409
    default_message = _("Hồ sơ vừa được người khác thay đổi. Vui lòng tải lại và thử lại.")


# ---------------------------------------------------------------------------------------------
# Unexpected errors (motcua/urls.py ``handler500``): a clean answer, never a stack trace
# ---------------------------------------------------------------------------------------------

#: Seconds a client is asked to wait after the database went away (a restart, a failover).
RETRY_AFTER_SECONDS = 30


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or what caused it) is the database going away: a dropped connection, a
    server restarting or refusing connections. A bug in a query is not (ProgrammingError)."""
    from django.db import InterfaceError, OperationalError

    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OperationalError | InterfaceError):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def server_error(request, *args, **kwargs):
    """What Django answers for an exception nobody handled (``handler500``): 503 with
    ``Retry-After`` when the database went away (the transaction rolled back, nothing of the
    request is stored, trying again is safe), 500 otherwise; JSON under ``/api/``, a short
    Vietnamese page elsewhere. Built without templates or the database, which may be what
    failed. The traceback goes to the log (``django.request``), not to the person."""
    import sys

    from django.http import HttpResponse, JsonResponse
    from django.utils.html import escape
    from django.utils.translation import gettext

    unavailable = database_unavailable(sys.exc_info()[1])
    if unavailable:
        status, code = 503, "service_unavailable"
        title = gettext("Hệ thống tạm thời gián đoạn")
        detail = gettext(
            "Không kết nối được cơ sở dữ liệu. Yêu cầu chưa được lưu; vui lòng thử lại sau ít phút."
        )
    else:
        status, code = 500, "server_error"
        title = gettext("Đã xảy ra lỗi")
        detail = gettext(
            "Hệ thống gặp lỗi khi xử lý yêu cầu. Vui lòng thử lại; nếu vẫn lỗi, xin báo quản trị viên."
        )
    if request.path.startswith("/api/"):
        response = JsonResponse(
            {"code": code, "detail": detail}, status=status, json_dumps_params={"ensure_ascii": False}
        )
    else:
        home = gettext("Về trang chủ")
        html = (
            f'<!doctype html><html lang="vi"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title></head><body><main>"
            f"<h1>{escape(title)}</h1><p>{escape(detail)}</p>"
            f'<p><a href="/">{escape(home)}</a></p></main></body></html>'
        )
        response = HttpResponse(html, status=status, content_type="text/html; charset=utf-8")
    if unavailable:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
