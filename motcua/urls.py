from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from dossiers.public import online_urls, tracking_urls
from motcua import views
from motcua.login_security import TokenLoginView
from ratings import urls as rating_urls
from reports import urls as report_urls

api_v1 = [
    path("auth/token/", TokenLoginView.as_view(), name="api-token"),
    path("", include("procedures.api.urls")),
    path("", include("dossiers.api.urls")),
    path("", include(report_urls.api_urlpatterns)),
]

# Public, no login, throttled (CONTRACT.md): online submission, tracking, ratings.
api_public = [
    *online_urls.api_urlpatterns,
    *tracking_urls.api_urlpatterns,
    *rating_urls.api_urlpatterns,
]

urlpatterns = [
    # The API first: Django tries the patterns in order, and with the public pages' includes
    # at "" before it every API request tried their ~70 patterns first (resolving
    # /api/v1/dossiers/ 114 → 42 µs; none of those patterns can match a path under api/).
    path("api/v1/", include(api_v1)),
    path("api/public/", include(api_public)),
    path("", include("procedures.public_urls")),
    path("", include(tracking_urls.urlpatterns)),
    path("", include(online_urls.urlpatterns)),
    path("", include(rating_urls.urlpatterns)),
    path("", include(report_urls.urlpatterns)),
    path("staff/login/", views.LoginView.as_view(), name="login"),
    path("staff/", include("motcua.twofactor_urls")),
    path("staff/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("staff/", views.staff_home, name="staff-home"),
    path("staff/calendar/", include("motcua.calendar_urls")),
    path("staff/catalogue/", include("procedures.staff_urls")),
    path("staff/dossiers/", include("dossiers.staff_urls")),
    path("staff/notices/", include("motcua.notices.urls")),
    path("staff/audit/", include("audit.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger's start-up script from its own URL (?script), so the page
    # runs no inline script; Swagger UI styles elements itself, so this page alone allows
    # inline styles (docs/operations.md "Content Security Policy").
    path("api/docs/", csp_update({"style-src": ["'unsafe-inline'"]})(
        SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path("health/", views.health, name="health"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
handler500 = "motcua.errors.server_error"
