from django.urls import path

from motcua.notices import views

urlpatterns = [
    path("", views.notice_list, name="notice-list"),
    path("chuong/", views.notice_bell, name="notice-bell"),
    path("da-doc/", views.notice_read_all, name="notice-read-all"),
    path("<int:pk>/mo/", views.notice_open, name="notice-open"),
]
