"""Dossier API routes, included under /api/v1/. Codes hold dots and dashes
(``000.00.10.H01-251124-0007``, provisional ``TT-251124-K7M2QX9A``)."""

from django.urls import path, re_path

from dossiers.api import views
from dossiers.api.documents import DossierApologyDocumentView, DossierDocumentView
from dossiers.documents import KIND_PATTERN

CODE = r"(?P<code>[0-9A-Za-z][0-9A-Za-z.\-]{0,63})"

urlpatterns = [
    path("dossiers/", views.DossierListCreateView.as_view(), name="dossier-list"),
    re_path(rf"^dossiers/{CODE}/$", views.DossierDetailView.as_view(), name="dossier-detail"),
    re_path(
        rf"^dossiers/{CODE}/transitions/$", views.DossierTransitionView.as_view(),
        name="dossier-transitions",
    ),
    re_path(
        rf"^dossiers/{CODE}/attachments/$", views.DossierAttachmentView.as_view(),
        name="dossier-attachments",
    ),
    re_path(
        rf"^dossiers/{CODE}/documents/(?P<kind>{KIND_PATTERN})\.pdf$",
        DossierDocumentView.as_view(), name="api-dossier-document",
    ),
    # One apology letter by its number (a dossier has one per missed appointment).
    re_path(
        rf"^dossiers/{CODE}/documents/apology-(?P<number>[0-9]{{1,4}})\.pdf$",
        DossierApologyDocumentView.as_view(), name="api-dossier-apology",
    ),
]
