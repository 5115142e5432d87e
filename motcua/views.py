from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from motcua.health import health_status
from motcua.models import StaffRole


class LoginView(auth_views.LoginView):
    """The staff login. Repeated wrong passwords lock the user name at that address: axes'
    middleware then answers with this page and ``lockout_message`` (motcua.login_security)."""

    template_name = "registration/login.html"
    redirect_authenticated_user = True


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
