from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache

from motcua import twofactor
from motcua.health import health_status
from motcua.models import StaffRole


class LoginView(auth_views.LoginView):
    """The staff login. Repeated wrong passwords lock the user name at that address: axes'
    middleware then answers with this page and ``lockout_message`` (motcua.login_security).

    The right password of a user with an authenticator device does not log in yet: the code
    page (motcua.twofactor) finishes the login. In ``TWO_FACTOR=required`` a leader or admin
    without a device is logged in and sent to enrol one before anything else.
    """

    template_name = "registration/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        state = twofactor.login_state(user)
        if state == twofactor.VERIFY:
            twofactor.begin_pending(self.request, user, self.get_success_url())
            return redirect("login-code")
        self.request._motcua_2fa_login = True  # the state is recorded just below
        response = super().form_valid(form)
        twofactor.remember_state(self.request, state)
        if state == twofactor.ENROL:
            return redirect(f"{reverse('two-factor-enrol')}?{urlencode({'next': response.url})}")
        return response


@login_required
def staff_home(request):
    roles = (
        StaffRole.objects.filter(user=request.user)
        .select_related("unit__agency")
        .order_by("unit__agency__code", "role")
    )
    return render(request, "staff/home.html", {"roles": roles})


@never_cache
def health(request):
    """For the orchestrator: database, broker, worker and beat. No login, no personal data."""
    status = health_status()
    return JsonResponse(status, status=200 if status["database"] == "ok" else 503)
