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
