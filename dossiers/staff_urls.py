"""Staff screens under /staff/dossiers/. Fixed paths first: a dossier code never contains "/"."""

from django.urls import path

from dossiers import views
from dossiers.documents import dossier_document

urlpatterns = [
    path("", views.queue, name="dossier-queue"),
    path("xuat.xlsx", views.queue_export, name="dossier-queue-export"),
    path("hang-loat/", views.bulk, name="dossier-bulk"),
    path("tra-cuu/", views.search, name="dossier-search"),
    path("tra-cuu/xuat.xlsx", views.search_export, name="dossier-search-export"),
    path("tiep-nhan/", views.desk, name="desk"),
    path("tiep-nhan/thu-tuc/", views.desk_procedures, name="desk-procedures"),
    path("tiep-nhan/thu-tuc/<str:code>/", views.desk_procedure, name="desk-procedure"),
    path("tiep-nhan/cong-dan/", views.desk_citizen, name="desk-citizen"),
    path("tiep-nhan/hen-tra/", views.desk_appointment, name="desk-appointment"),
    path("tiep-nhan/phieu-bo-sung.pdf", views.desk_supplement_slip, name="desk-supplement-slip"),
    path("<str:code>/", views.detail, name="dossier-page"),
    path("<str:code>/thao-tac/<str:transition>/", views.act, name="dossier-act"),
    path("<str:code>/phan-cong/", views.assign, name="dossier-assign"),
    path("<str:code>/dinh-kem/", views.attach, name="dossier-attach"),
    path("<str:code>/tep/<int:pk>/", views.attachment, name="dossier-file"),
    # The official forms as PDF (dossiers.documents): receipt, supplement, refusal, apology,
    # stop-notice, control-sheet.
    path("<str:code>/documents/<str:kind>.pdf", dossier_document, name="dossier-document"),
]
