from django.urls import path

from procedures import views

urlpatterns = [
    path("", views.public_home, name="public-home"),
    path("thu-tuc/<str:code>/", views.public_procedure, name="public-procedure"),
    path("thu-tuc/<str:code>/mau/<int:pk>/", views.public_document_template,
         name="public-document-template"),
]
