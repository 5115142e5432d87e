from datetime import timedelta

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache

from motcua.models import Heartbeat, StaffRole

HEARTBEAT_STALE_AFTER = timedelta(minutes=3)


class LoginView(auth_views.LoginView):
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


def _broker_status() -> str:
    from motcua.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return "ok"
    except Exception as exc:  # the text goes to the orchestrator, never a stack trace
        return f"error: {type(exc).__name__}"


@never_cache
def health(request):
    """For the orchestrator: database, broker, worker and beat. No login, no personal data."""
    status = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        status["database"] = "ok"
    except Exception as exc:
        status["database"] = f"error: {type(exc).__name__}"
        return JsonResponse(status | {"broker": "unknown", "worker": "unknown", "beat": "unknown"},
                            status=503)
    status["broker"] = _broker_status()
    beats = dict(Heartbeat.objects.values_list("name", "at"))
    now = timezone.now()
    for name in ("worker", "beat"):
        at = beats.get(name)
        if at is None:
            status[name] = "error: no heartbeat yet"
        elif now - at > HEARTBEAT_STALE_AFTER:
            status[name] = f"error: last heartbeat {at.isoformat()}"
        else:
            status[name] = "ok"
    return JsonResponse(status)
