from django.urls import path

from procedures import views

# Fixed paths first: a procedure code never contains "/", but could in theory read "moi".
urlpatterns = [
    path("", views.catalogue_list, name="catalogue-list"),
    path("moi/", views.catalogue_create, name="catalogue-create"),
    path("xuat.xlsx", views.catalogue_export, name="catalogue-export"),
    path("nhap/", views.catalogue_import, name="catalogue-import"),
    path("nhap/loi-<str:token>.xlsx", views.catalogue_import_errors, name="catalogue-import-errors"),
    path("mau/<int:pk>/", views.staff_document_template, name="catalogue-document-template"),
    path("<str:code>/", views.catalogue_detail, name="catalogue-detail"),
    path("<str:code>/sua/", views.catalogue_edit, name="catalogue-edit"),
    path("<str:code>/phien-ban/<int:number>/", views.catalogue_detail, name="catalogue-version"),
    path("<str:code>/trang-thai/", views.catalogue_set_active, name="catalogue-set-active"),
]
