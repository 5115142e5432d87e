"""Pages (``urlpatterns``) and API endpoints (``api_urlpatterns``) of this part; wired in
``motcua/urls.py``."""

from django.urls import path

from dossiers.public import online
from payments import views as payment_views

urlpatterns = [
    path("nop-truc-tuyen/", online.submit_start, name="public-submit-start"),
    path("nop-truc-tuyen/da-nop/<str:code>/", online.submit_done, name="public-submit-done"),
    path("nop-truc-tuyen/da-nop/<str:code>/thanh-toan/", payment_views.pay,
         name="public-submit-pay"),
    path("nop-truc-tuyen/<str:code>/", online.submit, name="public-submit"),
    path("thanh-toan/", payment_views.pay_by_proof, name="public-pay"),
    path("thanh-toan/ket-qua/", payment_views.payment_return, name="payment-return"),
    path("cong-thanh-toan-demo/<str:reference>/", payment_views.demo_gateway,
         name="payment-demo-gateway"),
]
api_urlpatterns = [
    path("dossiers/", online.PublicSubmissionView.as_view(), name="api-public-submit"),
    path("payments/callback/", payment_views.PaymentCallbackView.as_view(),
         name="api-payment-callback"),
]
