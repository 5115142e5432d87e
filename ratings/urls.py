"""Pages (``urlpatterns``) and API endpoints (``api_urlpatterns``) of this part; wired in
``motcua/urls.py``."""

from django.urls import path

from ratings import views
from ratings.api import RatingCreateAPI

urlpatterns = [
    path("danh-gia/", views.rate, name="public-rate"),
    path("danh-gia/cam-on/", views.rate_thanks, name="public-rate-thanks"),
    path("danh-gia/quay/", views.kiosk, name="public-rate-kiosk"),
    path("danh-gia/quay/cam-on/", views.kiosk_thanks, name="public-rate-kiosk-thanks"),
    path("staff/ratings/", views.staff_ratings, name="staff-ratings"),
    path("staff/ratings/xuat.xlsx", views.staff_ratings_export, name="staff-ratings-export"),
]

api_urlpatterns = [
    path("ratings/", RatingCreateAPI.as_view(), name="api-public-ratings"),
]
