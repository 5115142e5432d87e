from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

from motcua import views

api_v1 = [
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("", include("procedures.api.urls")),
    path("", include("dossiers.api.urls")),
]

urlpatterns = [
    path("", include("procedures.public_urls")),
    path("staff/login/", views.LoginView.as_view(), name="login"),
    path("staff/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("staff/", views.staff_home, name="staff-home"),
    path("staff/calendar/", include("motcua.calendar_urls")),
    path("staff/catalogue/", include("procedures.staff_urls")),
    path("staff/dossiers/", include("dossiers.staff_urls")),
    path("staff/notices/", include("motcua.notices.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("health/", views.health, name="health"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
]
