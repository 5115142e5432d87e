"""Pages (``urlpatterns``) and API endpoints (``api_urlpatterns``) of this part; wired in
``motcua/urls.py`` under ``""`` and ``"api/public/"``."""

from django.urls import path

from dossiers.public import tracking

urlpatterns = [
    # The receipt's QR code links here with ?ma=<code> (dossiers.documents.tracking_url).
    path("tra-cuu/", tracking.track_page, name="public-track"),
]
api_urlpatterns = [
    path("track/<str:code>/", tracking.track_api, name="public-track-api"),
]
