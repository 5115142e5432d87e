"""Staff pages of the audit app, under /staff/audit/."""

from django.urls import path

from audit import views

urlpatterns = [
    path("", views.history, name="audit-history"),
    path("xuat.xlsx", views.history_export, name="audit-history-export"),
    path("ho-so/<str:code>/", views.dossier_access, name="audit-dossier-access"),
    path("ho-so/<str:code>/xuat.xlsx", views.dossier_access_export,
         name="audit-dossier-access-export"),
]
