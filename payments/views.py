"""Pages and endpoints of online payment: start (from the confirmation page), the return from
the gateway, the gateway's server-to-server callback, and the demo gateway that plays the bank.
Views parse and answer; ``payments.services`` decides."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from dossiers.api.serializers import ErrorSerializer
from dossiers.public.online import owned_dossier, owns, tracking_link
from motcua.errors import DomainError
from motcua.integrations import payment as gateway_api
from payments.models import PaymentCallback, PaymentState
from payments.selectors import vnd
from payments.services import PaymentRefused, payment_confirm, payment_start

logger = logging.getLogger(__name__)


def _client_ip(request) -> str | None:
    from dossiers.public.proof import client_ip

    return client_ip(request) or None


@require_http_methods(["GET", "POST"])
def pay_by_proof(request):
    """Pay a dossier's fee from any browser, with the proof the tracking page asks for: its
    code (or provisional code) and the applicant's phone number. Also for dossiers received at
    the desk. Wrong code and wrong phone answer alike, and count towards the lock-out."""
    from dossiers.public.proof import dossier_by_proof, normalise_code

    form = {"code": normalise_code(request.GET.get("ma") or request.POST.get("code")),
            "phone": ""}
    if request.method == "GET":
        return render(request, "payments/pay.html", {"form": form})
    form["phone"] = (request.POST.get("phone") or "")[:20]
    dossier = dossier_by_proof(
        code=request.POST.get("code"), phone=request.POST.get("phone"), ip=_client_ip(request) or "",
    )
    if dossier is None:
        return render(request, "payments/pay.html", {
            "form": form,
            "error": _("Không tìm thấy hồ sơ có mã và số điện thoại này (hoặc đã thử sai quá nhiều "
                       "lần; vui lòng thử lại sau)."),
        }, status=404)
    try:
        _payment, url = payment_start(dossier=dossier, base_url=request.build_absolute_uri("/"))
    except DomainError as exc:
        return render(request, "payments/pay.html", {"form": form, "error": str(exc.message)},
                      status=400)
    return HttpResponseRedirect(url)


@require_POST
def pay(request, code):
    """Send the citizen to the gateway for the dossier they submitted from this browser."""
    dossier = owned_dossier(request, code)
    try:
        _payment, url = payment_start(dossier=dossier, base_url=request.build_absolute_uri("/"))
    except DomainError as exc:
        messages.error(request, str(exc.message))
        return redirect("public-submit-done", code)
    return HttpResponseRedirect(url)


@require_http_methods(["GET"])
def payment_return(request):
    """The gateway sends the browser back here with the signed result: apply it (the callback
    may have done so already: then nothing changes) and show where the payment stands."""
    try:
        confirmation = payment_confirm(
            data=request.GET, source=PaymentCallback.Source.RETURN, remote_addr=_client_ip(request)
        )
    except PaymentRefused:
        return render(request, "payments/result.html", {"refused": True}, status=400)
    payment = confirmation.payment
    code = payment.dossier.provisional_code or ""
    if code and owns(request, code):
        if payment.state == PaymentState.PAID:
            messages.success(request, _("Đã thanh toán %(amount)s đồng. Cảm ơn ông/bà.")
                             % {"amount": vnd(payment.amount_vnd)})
        elif payment.state == PaymentState.CANCELLED:
            messages.warning(request, _("Ông/bà đã hủy thanh toán; có thể thanh toán lại bất cứ lúc nào."))
        elif payment.state == PaymentState.FAILED:
            messages.error(request, _("Thanh toán không thành công; vui lòng thử lại."))
        return redirect("public-submit-done", code)
    return render(request, "payments/result.html", {
        "payment": payment, "amount": vnd(payment.amount_vnd),
        "tracking_url": tracking_link(payment.dossier.code),
    })


class CallbackThrottle(AnonRateThrottle):
    scope = "public"


class PaymentResultSerializer(serializers.Serializer):
    """The gateway's signed result (``motcua.integrations.payment.RESULT_FIELDS`` + ``sig``)."""

    ref = serializers.CharField()
    amount = serializers.CharField()
    status = serializers.ChoiceField(choices=list(gateway_api.OUTCOMES))
    txn = serializers.CharField()
    sig = serializers.CharField(help_text="HMAC-SHA256 (hex) với khóa bí mật dùng chung.")


class PaymentCallbackAnswerSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    reference = serializers.CharField()
    state = serializers.CharField(help_text="pending, paid, failed, cancelled")
    changed = serializers.BooleanField()


class PaymentCallbackView(APIView):
    """``POST /api/public/payments/callback/``: the gateway's server-to-server answer (JSON or
    form fields ``ref, amount, status, txn, sig``). 200 ``{ok, state, changed}``; 400
    ``{code: "payment_refused"}`` for a forged, altered or unknown answer (logged)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [CallbackThrottle]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        summary="Cổng thanh toán báo kết quả (máy chủ tới máy chủ)",
        request=PaymentResultSerializer,
        responses={200: PaymentCallbackAnswerSerializer, 400: ErrorSerializer},
    )
    def post(self, request):
        data = request.data if hasattr(request.data, "get") else {}
        confirmation = payment_confirm(
            data=data, source=PaymentCallback.Source.CALLBACK, remote_addr=_client_ip(request)
        )
        return Response({
            "ok": True, "reference": confirmation.payment.reference,
            "state": confirmation.payment.state, "changed": confirmation.changed,
        })


# ---------------------------------------------------------------------------------------------
# The demo gateway: our page plays the bank (only while the demo gateway is configured)
# ---------------------------------------------------------------------------------------------


def _demo_gateway() -> gateway_api.DemoPaymentGateway:
    if getattr(settings, "PAYMENT_GATEWAY", "") != getattr(settings, "PAYMENT_DEMO_GATEWAY", None):
        raise Http404
    gateway = gateway_api.get_gateway()
    if not isinstance(gateway, gateway_api.DemoPaymentGateway):
        raise Http404
    return gateway


@require_http_methods(["GET", "POST"])
def demo_gateway(request, reference):
    """Shows the order (only if we signed it) with "Thanh toán" and "Hủy". On a choice it
    sends the signed result as the bank would: first the server-to-server callback (here a
    direct call of the same service the callback endpoint uses), then the browser back to the
    return URL with the same signed result."""
    gateway = _demo_gateway()
    source = request.POST if request.method == "POST" else request.GET
    try:
        order = gateway.read_order(source)
    except (gateway_api.InvalidSignature, gateway_api.MalformedMessage):
        logger.warning("Demo gateway: order with a bad signature for %s", reference)
        return render(request, "payments/demo_gateway.html", {"invalid": True}, status=400)
    if order["ref"] != reference:
        raise Http404
    context = {"order": order, "amount": vnd(order["amount"]), "reference": reference}
    if request.method == "GET":
        return render(request, "payments/demo_gateway.html", context)
    choice = request.POST.get("choice")
    if choice not in ("pay", "cancel"):
        context["error"] = _("Vui lòng chọn Thanh toán hoặc Hủy.")
        return render(request, "payments/demo_gateway.html", context, status=400)
    status = gateway_api.PAID if choice == "pay" else gateway_api.CANCELLED
    result = gateway.result(reference=reference, amount_vnd=order["amount"], status=status)
    try:
        payment_confirm(data=result, source=PaymentCallback.Source.CALLBACK, remote_addr="127.0.0.1")
    except PaymentRefused:
        # The bank's callback failing does not stop the bank: the return URL still carries it.
        logger.warning("Demo gateway: our callback was refused for %s", reference)
    from urllib.parse import urlencode

    separator = "&" if "?" in order["return"] else "?"
    return HttpResponseRedirect(f"{order['return']}{separator}{urlencode(result)}")
