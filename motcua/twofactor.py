"""Second factor (TOTP) at the staff login, for leaders and admins (docs/deploy.md "Login security").

The rule, set by ``TWO_FACTOR`` (settings block "Two-factor login"):

* ``off``: no code is ever asked; devices stay in the database but are ignored.
* ``optional`` (the default): anyone logged in may enrol an authenticator app; whoever has a
  confirmed device must give a code at every login (web and API token).
* ``required``: as ``optional``, and the covered users (``TWO_FACTOR_ROLES``, plus Django admin
  users: ``is_staff`` / ``is_superuser``) who have no device are sent to the enrolment page right
  after their password and can do nothing else until they have confirmed one.

The password step is the existing login (and its axes lock-out); a user with a device is then
*not* logged in yet: the session holds a pending login for ``TWO_FACTOR_PENDING_SECONDS`` and the
code page finishes it (``login`` + django-otp's ``otp_login``, so ``user.is_verified()``). Wrong
codes count toward the same axes lock-out as wrong passwords (user name + address), and the device
throttles itself (django-otp: a wait of 1, 2, 4, 8 … seconds after each consecutive miss, for that
user from any address), so six digits cannot be guessed. A code that was accepted once is refused
afterwards: the device keeps the time step of the last accepted code (``last_t``) and the check
runs with the device row locked.

Every authenticated request passes ``TwoFactorMiddleware``: a session whose user must give a code
(or enrol) and has not is sent to the code (or enrolment) page, the Django admin included; JSON
403 for the API. What a session needs is computed at login and kept in the session, so ordinary
requests cost no query.
"""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass
from datetime import datetime

import segno
from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import (
    SESSION_KEY,
    get_user_model,
    login,
    logout,
    user_logged_in,
    user_login_failed,
)
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models.signals import post_delete
from django.dispatch import receiver
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from motcua.permissions import roles_of

log = logging.getLogger("motcua.twofactor")

OFF, OPTIONAL, REQUIRED = "off", "optional", "required"
MODES = (OFF, OPTIONAL, REQUIRED)
# What a session still needs: a code (the user has a device) or an enrolment (required mode).
VERIFY, ENROL = "verify", "enrol"

STATE_SESSION_KEY = "motcua_2fa_state"
PENDING_SESSION_KEY = "motcua_2fa_pending"
DEVICE_NAME = "authenticator"

# Stable codes of the API token endpoint's refusals (docs/deploy.md "Login security").
CODE_OTP_REQUIRED = "otp_required"
CODE_OTP_INVALID = "otp_invalid"
CODE_OTP_THROTTLED = "otp_throttled"
CODE_ENROLMENT_REQUIRED = "otp_enrolment_required"


# --- policy -----------------------------------------------------------------------------------

def mode() -> str:
    return settings.TWO_FACTOR


def is_covered(user) -> bool:
    """Leaders and admins: the users ``required`` mode obliges to enrol."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_staff or user.is_superuser:
        return True
    return bool(roles_of(user) & set(settings.TWO_FACTOR_ROLES))


def confirmed_device(user) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).order_by("-pk").first()


def login_state(user) -> str | None:
    """What this user must do after the right password: VERIFY, ENROL or nothing (None)."""
    if mode() == OFF:
        return None
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return VERIFY
    if mode() == REQUIRED and is_covered(user):
        return ENROL
    return None


def remember_state(request: HttpRequest, state: str | None) -> None:
    # The mode is kept beside the state: a restart with another TWO_FACTOR recomputes it.
    request.session[STATE_SESSION_KEY] = f"{mode()}:{state or ''}"


def session_state(request: HttpRequest) -> str | None:
    """The state of this logged-in session, from the session when it was computed at login.

    A session logged in some other way (the admin's own login form, a shell, a session older
    than this feature) is computed once for the users it can concern and then remembered.
    """
    stored = request.session.get(STATE_SESSION_KEY)
    if stored is not None:
        stored_mode, _sep, state = stored.partition(":")
        if stored_mode == mode():
            return state or None
    user = request.user
    if stored is None and not is_covered(user):
        # Not a leader or admin and nothing recorded at login: only a user who enrolled of
        # their own accord could need a code, and every login records that.
        return None
    state = login_state(user)
    remember_state(request, state)
    return state


@receiver(user_logged_in, dispatch_uid="motcua.twofactor.state_at_login")
def _state_at_login(sender, request, user, **kwargs):
    """Every login (ours, the admin's, the test client's) records what the session still needs,
    so the middleware needs no query on ordinary requests."""
    session = getattr(request, "session", None)
    if session is None or getattr(request, "_motcua_2fa_login", False):
        return
    if session.get(SESSION_KEY) != str(user.pk):
        return  # a login that opens no session (the API token): nothing to record
    state = login_state(user)
    if state == VERIFY and getattr(user, "otp_device", None) is not None:
        state = None  # logged in together with its device (django-otp's own forms)
    session[STATE_SESSION_KEY] = f"{mode()}:{state or ''}"


@receiver(post_delete, sender=TOTPDevice, dispatch_uid="motcua.twofactor.device_deleted")
def _device_deleted(sender, instance, **kwargs):
    # However a device goes (the reset command, the admin action, the admin's device page),
    # it is in the log.
    log.warning(
        "two-factor device %s of user id %s removed (confirmed: %s)",
        instance.pk, instance.user_id, instance.confirmed,
    )


# --- services ----------------------------------------------------------------------------------

def normalise_code(raw: str | None) -> str | None:
    """Six digits, spaces and dashes allowed between them (``123 456``); None otherwise."""
    code = "".join((raw or "").split()).replace("-", "")
    if len(code) != 6 or not code.isdigit() or not code.isascii():
        return None
    return code


@dataclass(frozen=True)
class Verification:
    device: TOTPDevice | None = None
    # When the device refuses to check any code for now (too many consecutive misses).
    wait_until: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.device is not None

    @property
    def wait_seconds(self) -> int:
        if self.wait_until is None:
            return 0
        return max(1, int((self.wait_until - timezone.now()).total_seconds() + 0.999))


def two_factor_verify(*, user, code: str) -> Verification:
    """Checks ``code`` against the user's confirmed device.

    Rule: a code is accepted once (the device's ``last_t`` only moves forward, under a row lock,
    so two requests with the same code cannot both pass); after a miss the device refuses to
    check anything for 1, 2, 4, 8 … seconds (``OTP_TOTP_THROTTLE_FACTOR``), a miss counts.
    """
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=user, confirmed=True).order_by("-pk").first()
        )
        if device is None:
            return Verification()
        allowed, info = device.verify_is_allowed()
        if not allowed:
            return Verification(wait_until=(info or {}).get("locked_until"))
        if device.verify_token(code):
            return Verification(device=device)
    return Verification()


def two_factor_start_enrolment(*, user) -> TOTPDevice:
    """The user's device waiting for its first code: the same secret until it is confirmed,
    so reloading the page does not invalidate what the phone has already scanned."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).order_by("-pk").first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)
    return device


def two_factor_confirm(*, user, device_id: int, code: str) -> TOTPDevice | None:
    """Activates the device with its first code.

    Rule: a device counts only once a code from it was accepted (proof the phone has the
    secret). Any other device of the user goes, and so do the user's API tokens: a token issued
    with the password alone must not outlive the switch to two factors.
    """
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(pk=device_id, user=user, confirmed=False).first()
        )
        if device is None or not device.verify_token(code):
            return None
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        Token.objects.filter(user=user).delete()
    log.info("two-factor enrolled: user %s, device %s", user.get_username(), device.pk)
    return device


def two_factor_reset(*, user, actor: str) -> int:
    """Removes every authenticator device of ``user`` (lost or replaced phone).

    Rule: the next login then asks for no code (``optional``) or for a new enrolment
    (``required``); sessions verified with the old device stop counting as verified.
    """
    with transaction.atomic():
        count, _details = TOTPDevice.objects.filter(user=user).delete()
    log.warning(
        "two-factor reset: user %s, %d device(s) removed by %s",
        user.get_username(), count, actor,
    )
    return count


@admin.action(description=gettext_lazy("Đặt lại xác thực hai bước (mất hoặc đổi điện thoại)"))
def reset_two_factor_action(modeladmin, request, queryset):
    """For the user admin (``actions``): the same reset as ``manage.py reset_two_factor``."""
    actor = f"admin:{request.user.get_username()}"
    reset = [user for user in queryset if two_factor_reset(user=user, actor=actor)]
    modeladmin.message_user(
        request,
        _("Đã đặt lại xác thực hai bước cho %(count)d tài khoản.") % {"count": len(reset)},
        messages.SUCCESS,
    )


def secret_groups(device: TOTPDevice) -> str:
    """The secret in base32, in groups of four, for typing into the app by hand."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))


def qr_svg(device: TOTPDevice) -> str:
    """The ``otpauth://`` link as an inline SVG: drawn here, no outside service sees the secret."""
    code = segno.make(device.config_url, error="m")
    return code.svg_inline(
        scale=5, border=2, dark="#000", light="#fff", svgclass="twofactor-qr",
        title=_("Mã QR để thêm tài khoản vào ứng dụng xác thực"),
    )


# --- the pending login -------------------------------------------------------------------------

def begin_pending(request: HttpRequest, user, redirect_to: str) -> None:
    """After the right password of a user with a device: remember who, not log in yet."""
    request.session[PENDING_SESSION_KEY] = {
        "user": user.pk,
        "backend": getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[-1]),
        "next": redirect_to,
        "since": int(time.time()),
    }


def _pending_user(request: HttpRequest):
    """The user waiting for the code in this session, or None (none, or it expired)."""
    pending = request.session.get(PENDING_SESSION_KEY)
    if not pending:
        return None, None
    if time.time() - pending["since"] > settings.TWO_FACTOR_PENDING_SECONDS:
        del request.session[PENDING_SESSION_KEY]
        return None, None
    user = get_user_model()._default_manager.filter(pk=pending["user"], is_active=True).first()
    return user, pending


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse(settings.LOGIN_REDIRECT_URL)


def code_lockout_message() -> str:
    from motcua.login_security import lockout_minutes

    return _(
        "Đăng nhập bị tạm khoá vì mật khẩu hoặc mã xác thực đã nhập sai %(limit)d lần liên "
        "tiếp. Vui lòng thử lại sau %(minutes)d phút, hoặc liên hệ quản trị viên để mở khoá."
    ) % {"limit": settings.AXES_FAILURE_LIMIT, "minutes": lockout_minutes()}


def wait_message(seconds: int) -> str:
    return _(
        "Mã xác thực đã nhập sai nhiều lần liên tiếp. Vui lòng đợi %(seconds)d giây rồi thử lại."
    ) % {"seconds": seconds}


def count_failure(request: HttpRequest, username: str) -> bool:
    """A wrong code counts like a wrong password (axes, user name + address). True when this
    miss reached the limit: the login is locked."""
    user_login_failed.send(
        sender=__name__, credentials={"username": username}, request=request
    )
    log.warning("two-factor code refused for %s", username)
    return bool(getattr(request, "axes_locked_out", False))


# --- pages -------------------------------------------------------------------------------------

class CodeForm(forms.Form):
    otp = forms.CharField(label=gettext_lazy("Mã xác thực"), max_length=20, required=False)

    def clean_otp(self):
        code = normalise_code(self.cleaned_data.get("otp"))
        if code is None:
            raise forms.ValidationError(_("Vui lòng nhập đủ 6 chữ số của mã xác thực."))
        return code


@sensitive_post_parameters("otp")
@csrf_protect
@never_cache
def code_view(request: HttpRequest) -> HttpResponse:
    """The second page of the login: the 6-digit code of a user with a device."""
    if mode() == OFF:
        raise Http404
    logged_in = request.user.is_authenticated
    if logged_in:
        user, pending = request.user, None
        redirect_to = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
        if user.is_verified():
            return redirect(redirect_to)
        # Computed afresh: the device may have been reset since the session recorded it.
        state = login_state(user)
        remember_state(request, state)
        if state != VERIFY:
            return redirect(redirect_to)
    else:
        user, pending = _pending_user(request)
        if user is None:
            messages.warning(request, _("Phiên đăng nhập đã hết hạn. Vui lòng đăng nhập lại."))
            return redirect("login")
        if login_state(user) != VERIFY:  # reset (or TWO_FACTOR turned off) meanwhile
            request.session.pop(PENDING_SESSION_KEY, None)
            return redirect("login")
        redirect_to = _safe_next(request, pending.get("next"))

    if request.method == "POST" and "cancel" in request.POST:
        request.session.pop(PENDING_SESSION_KEY, None)
        if logged_in:
            logout(request)
        return redirect("login")

    credentials = {"username": user.get_username()}
    error = ""
    status = 200
    form = CodeForm(request.POST or None)
    if request.method == "POST":
        request.twofactor_step = True  # the lock-out page then speaks of codes too
        if AxesProxyHandler.is_locked(request, credentials):
            request.session.pop(PENDING_SESSION_KEY, None)
            return _locked_page(request)
        if form.is_valid():
            result = two_factor_verify(user=user, code=form.cleaned_data["otp"])
            if result.ok:
                return _finish(request, user, pending, result.device, redirect_to)
            if result.wait_until is not None:
                error, status = wait_message(result.wait_seconds), 429
            else:
                if count_failure(request, user.get_username()):
                    request.session.pop(PENDING_SESSION_KEY, None)
                    return _locked_page(request)
                error = _(
                    "Mã xác thực không đúng hoặc đã được dùng. Hãy nhập mã đang hiện "
                    "trên ứng dụng (mã đổi sau mỗi 30 giây)."
                )
    context = {"form": form, "error": error, "username": user.get_username(),
               "logged_in": logged_in, "next": redirect_to if logged_in else ""}
    return render(request, "registration/two_factor_code.html", context, status=status)


def _locked_page(request: HttpRequest) -> HttpResponse:
    from motcua.login_security import lockout_response

    if request.user.is_authenticated:
        logout(request)
    return lockout_response(request)


def _finish(request, user, pending, device, redirect_to: str) -> HttpResponse:
    if pending is not None:
        request.session.pop(PENDING_SESSION_KEY, None)
        user.backend = pending["backend"]
        request._motcua_2fa_login = True  # this login records its own state below
        login(request, user, backend=pending["backend"])  # axes clears the failures here
    else:
        request.session.cycle_key()  # more rights now: a new session key
    otp_login(request, device)
    remember_state(request, VERIFY)
    return redirect(redirect_to)


class EnrolForm(CodeForm):
    device = forms.IntegerField(widget=forms.HiddenInput)


@sensitive_post_parameters("otp")
@login_required
@never_cache
def enrol_view(request: HttpRequest) -> HttpResponse:
    """Adds an authenticator app: QR code and secret, then one code to confirm it."""
    if mode() == OFF:
        raise Http404
    user = request.user
    redirect_to = _safe_next(request, request.POST.get("next") or request.GET.get("next"))
    current = confirmed_device(user)
    if current is not None:
        return render(request, "registration/two_factor_enrol.html",
                      {"enrolled": current, "required": mode() == REQUIRED and is_covered(user)})
    error = ""
    form = EnrolForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = two_factor_confirm(
            user=user, device_id=form.cleaned_data["device"], code=form.cleaned_data["otp"]
        )
        if device is not None:
            request.session.cycle_key()
            otp_login(request, device)
            remember_state(request, VERIFY)
            messages.success(request, _(
                "Đã bật xác thực hai bước. Từ lần đăng nhập sau, hãy nhập mã trên ứng dụng "
                "sau mật khẩu."
            ))
            return redirect(redirect_to)
        error = _("Mã chưa đúng. Hãy kiểm tra giờ trên điện thoại và nhập mã đang hiện.")
    device = two_factor_start_enrolment(user=user)
    context = {
        "form": form, "error": error, "device": device, "qr": mark_safe(qr_svg(device)),
        "secret": secret_groups(device), "next": request.GET.get("next", ""),
        "required": session_state(request) == ENROL,
        "issuer": settings.OTP_TOTP_ISSUER, "username": user.get_username(),
    }
    return render(request, "registration/two_factor_enrol.html", context)


# --- the middleware ----------------------------------------------------------------------------

class TwoFactorMiddleware:
    """Refuses every page to a session that still owes a code (or an enrolment), the admin
    included: the code or enrolment page instead, 403 JSON for the API. After django-otp's
    OTPMiddleware (it sets ``user.is_verified``)."""

    # Paths such a session may still open: its own way out and what the pages need to show.
    ALWAYS_OPEN = ("/static/", "/i18n/", "/health/", "/favicon.ico")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = self.refusal(request)
        return refusal if refusal is not None else self.get_response(request)

    def refusal(self, request: HttpRequest) -> HttpResponse | None:
        if mode() == OFF or not request.user.is_authenticated:
            return None
        if request.path.startswith(self.ALWAYS_OPEN) or request.path == reverse("logout"):
            return None
        state = session_state(request)
        if state is None:
            return None
        if state == VERIFY:
            if request.user.is_verified():
                return None
            target = reverse("login-code")
        else:
            if request.user.is_verified():
                return None
            target = reverse("two-factor-enrol")
        if request.path == target:
            return None
        if request.path.startswith("/api/"):
            code = CODE_OTP_REQUIRED if state == VERIFY else CODE_ENROLMENT_REQUIRED
            return JsonResponse({"code": code, "detail": api_message(code)}, status=403)
        return redirect(f"{target}?next={_quote(request.get_full_path())}")


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


def api_message(code: str) -> str:
    return {
        CODE_OTP_REQUIRED: _(
            "Tài khoản này dùng xác thực hai bước: gửi kèm mã 6 chữ số trong trường \"otp\"."
        ),
        CODE_OTP_INVALID: _("Mã xác thực không đúng hoặc đã được dùng."),
        CODE_OTP_THROTTLED: _(
            "Mã xác thực đã nhập sai nhiều lần liên tiếp. Vui lòng đợi rồi thử lại."
        ),
        CODE_ENROLMENT_REQUIRED: _(
            "Tài khoản này phải bật xác thực hai bước trên trang đăng nhập web trước khi "
            "dùng API."
        ),
    }[code]

