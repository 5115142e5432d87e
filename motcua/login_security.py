"""Staff login lock-out (django-axes) on our own pages: the web login, the admin, the API token.

The rule (settings ``AXES_*``, docs/deploy.md "Login security"): ``LOGIN_MAX_FAILURES`` wrong
passwords for one user name from one address lock that pair for ``LOGIN_LOCK_MINUTES``; while
locked even the right password is refused; a successful login before the limit clears the count.
Another address, or another user name from the same address, is not affected.
"""

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth import password_validation, user_logged_in
from django.contrib.auth.backends import BaseBackend, ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.response import Response

from motcua import twofactor

LOCKED_CODE = "login_locked"


class LockoutBackend(AxesStandaloneBackend, BaseBackend):
    """Refuses every login of a locked user name + address before the password is checked.

    ``authenticate()`` without a request is not a login over the network (the test client's
    ``login()``, a shell, a management command): there is no address to lock, so it passes to
    the next backend instead of failing as axes' own backend does.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id):
        # Being first in AUTHENTICATION_BACKENDS, this is the backend a session names when
        # none is given (the test client's force_login): find the user as Django's does.
        return ModelBackend().get_user(user_id)


class MinimumLengthValidator(password_validation.MinimumLengthValidator):
    """Django's length rule with a Vietnamese message of our own: Django 5.2 changed this
    message's text and its Vietnamese catalogue has not caught up, so it would read English."""

    def get_error_message(self) -> str:
        return _("Mật khẩu quá ngắn: cần ít nhất %(min_length)d ký tự.") % {
            "min_length": self.min_length
        }


def lockout_minutes() -> int:
    """The lock's length in whole minutes (``AXES_COOLOFF_TIME``), for the message."""
    return max(1, int(settings.AXES_COOLOFF_TIME.total_seconds() // 60))


def lockout_message() -> str:
    """What a locked-out person reads: why, for how long, and whom to ask."""
    return _(
        "Đăng nhập bị tạm khoá vì mật khẩu đã nhập sai %(limit)d lần liên tiếp. "
        "Vui lòng thử lại sau %(minutes)d phút, hoặc liên hệ quản trị viên để mở khoá."
    ) % {"limit": settings.AXES_FAILURE_LIMIT, "minutes": lockout_minutes()}


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: our login page with the lock-out message (HTTP 429), or for
    the API and scripts a JSON body with a stable code, instead of axes' plain English text."""
    status = settings.AXES_HTTP_RESPONSE_CODE
    # Locked by wrong second-factor codes (motcua.twofactor): the message names them too.
    message = (
        twofactor.code_lockout_message() if getattr(request, "twofactor_step", False)
        else lockout_message()
    )
    wants_json = request.path.startswith("/api/") or "json" in request.headers.get("Accept", "")
    if wants_json:
        return JsonResponse({"code": LOCKED_CODE, "detail": message}, status=status)
    form = AuthenticationForm(request, data=request.POST or None)
    context = {
        "form": form,
        "lockout_message": message,
        "next": request.POST.get("next", request.GET.get("next", "")),
    }
    return render(request, "registration/login.html", context, status=status)


class TokenLoginView(ObtainAuthToken):
    """``POST /api/v1/auth/token/``: DRF's token login under the same lock-out as the web login.

    DRF authenticates with its own request object, so axes' middleware never sees the lock; this
    view answers 429 itself, and counts a success as a login so the failures are cleared.

    A user with an authenticator device (motcua.twofactor) sends the current 6-digit code as
    ``otp`` beside the password: missing or wrong, 400 with a stable code (``otp_required``,
    ``otp_invalid``); a wrong code counts toward the lock-out like a wrong password; after
    several misses in a row the device makes the next try wait (429 ``otp_throttled``). In
    ``TWO_FACTOR=required`` a leader or admin without a device gets no token (400
    ``otp_enrolment_required``): the enrolment is on the web.
    """

    def post(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        try:
            serializer.is_valid(raise_exception=True)
        except serializers.ValidationError:
            if getattr(request, "axes_locked_out", False):
                return Response({"code": LOCKED_CODE, "detail": lockout_message()}, status=429)
            raise
        user = serializer.validated_data["user"]
        refusal = self.second_factor_refusal(request, user)
        if refusal is not None:
            return refusal
        # Axes clears the failures (and records the access) on the login signal.
        user_logged_in.send(sender=user.__class__, request=request, user=user)
        token, _created = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})

    def second_factor_refusal(self, request, user) -> Response | None:
        state = twofactor.login_state(user)
        if state is None:
            return None
        if state == twofactor.ENROL:
            return _otp_refusal(twofactor.CODE_ENROLMENT_REQUIRED, 400)
        raw = request.data.get("otp")
        if raw in (None, ""):
            return _otp_refusal(twofactor.CODE_OTP_REQUIRED, 400)
        code = twofactor.normalise_code(str(raw))
        result = twofactor.two_factor_verify(user=user, code=code) if code else None
        if result is not None and result.ok:
            return None
        if result is not None and result.wait_until is not None:
            return Response(
                {"code": twofactor.CODE_OTP_THROTTLED,
                 "detail": twofactor.wait_message(result.wait_seconds)},
                status=429, headers={"Retry-After": str(result.wait_seconds)},
            )
        django_request = request._request
        django_request.twofactor_step = True
        if twofactor.count_failure(django_request, user.get_username()):
            return Response(
                {"code": LOCKED_CODE, "detail": twofactor.code_lockout_message()}, status=429
            )
        return _otp_refusal(twofactor.CODE_OTP_INVALID, 400)


def _otp_refusal(code: str, status: int) -> Response:
    return Response({"code": code, "detail": twofactor.api_message(code)}, status=status)


def axes_username(request, credentials=None) -> str | None:
    """The user name axes records and locks: at most the model's 150 characters (a longer one
    is no user name of ours, and axes' own column holds 255 — a longer one failed the login
    with a 500). Otherwise as axes' default: from the credentials, else the request's
    (DRF: ``request.data``) ``username``."""
    source = credentials or getattr(request, "data", None) or request.POST
    value = source.get("username")
    return None if value is None else str(value)[:150]
