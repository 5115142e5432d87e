"""Online fee payment: the redirect to the (demo) gateway, its signed answer by callback and by
return URL, and everything that must change nothing — a replay, a forged or altered answer, a
wrong amount, a second click."""

from __future__ import annotations

import logging
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from dossiers.services import dossier_submit_online, dossier_transition
from motcua.errors import TransitionNotAllowed, ValidationError
from motcua.integrations import payment as gateway_api
from payments.models import Payment, PaymentCallback, PaymentState
from payments.services import PaymentRefused, payment_confirm, payment_start
from procedures.models import FeeLine
from tests.test_dossier_screens import AN, build_world
from tests.test_setup import PROD_ENV, run_manage

pytestmark = pytest.mark.django_db

CALLBACK = "/api/public/payments/callback/"
FEE = 1_000_000  # the notary procedure's fee


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return build_world()


@pytest.fixture
def dossier(world):
    return dossier_submit_online(procedure_version=world.notary, applicant=AN)


@pytest.fixture
def owner(client, dossier):
    """The browser that submitted the dossier (its session holds the provisional code)."""
    session = client.session
    session["online_codes"] = [dossier.provisional_code]
    session.save()
    return client


def gateway():
    return gateway_api.get_gateway()


def signed_result(payment, *, status="paid", amount=None):
    return gateway().result(
        reference=payment.reference, amount_vnd=amount or payment.amount_vnd, status=status
    )


def start(dossier) -> Payment:
    payment, _url = payment_start(dossier=dossier)
    return payment


# ---------------------------------------------------------------------------------------------
# The whole flow, through the pages
# ---------------------------------------------------------------------------------------------


def test_citizen_pays_on_the_demo_gateway_and_sees_paid(owner, dossier):
    done = reverse("public-submit-done", args=[dossier.provisional_code])
    to_gateway = owner.post(reverse("public-submit-pay", args=[dossier.provisional_code]))
    assert to_gateway.status_code == 302
    gateway_url = to_gateway["Location"]
    payment = Payment.objects.get()
    assert gateway_url.startswith(reverse("payment-demo-gateway", args=[payment.reference]))
    assert payment.state == PaymentState.PENDING
    assert payment.amount_vnd == FEE
    assert payment.fee_lines == [{"name": "Phí thẩm định điều kiện hoạt động", "amount_vnd": FEE}]

    bank = owner.get(gateway_url)
    assert bank.status_code == 200
    assert "1.000.000 đ" in bank.content.decode()
    order = {k: v[0] for k, v in parse_qs(urlsplit(gateway_url).query).items()}
    back = owner.post(gateway_url, {**order, "choice": "pay"})
    assert back.status_code == 302
    assert urlsplit(back["Location"]).path == reverse("payment-return")

    payment.refresh_from_db()
    assert payment.state == PaymentState.PAID  # by the callback, before the browser is back
    assert payment.paid_at is not None and payment.gateway_reference.startswith("DEMO")

    home = owner.get(back["Location"])
    assert home.status_code == 302 and home["Location"] == done
    page = owner.get(done).content.decode()
    assert "Đã thanh toán" in page
    assert "Thanh toán trực tuyến" not in page  # no second payment offered
    outcomes = list(PaymentCallback.objects.order_by("id").values_list("source", "outcome"))
    assert outcomes == [("callback", "applied"), ("return", "replay")]


def test_citizen_cancels_on_the_gateway_and_can_pay_again_later(owner, dossier):
    to_gateway = owner.post(reverse("public-submit-pay", args=[dossier.provisional_code]))
    order = {k: v[0] for k, v in parse_qs(urlsplit(to_gateway["Location"]).query).items()}
    back = owner.post(to_gateway["Location"], {**order, "choice": "cancel"})
    owner.get(back["Location"])
    first = Payment.objects.get()
    assert first.state == PaymentState.CANCELLED and first.paid_at is None
    page = owner.get(reverse("public-submit-done", args=[dossier.provisional_code])).content.decode()
    assert "Đã hủy thanh toán" in page and "Thanh toán trực tuyến" in page

    again = owner.post(reverse("public-submit-pay", args=[dossier.provisional_code]))
    assert again.status_code == 302
    second = Payment.objects.exclude(pk=first.pk).get()
    assert second.reference != first.reference and second.state == PaymentState.PENDING


def test_only_the_submitting_browser_may_start_a_payment(dossier):
    response = Client().post(reverse("public-submit-pay", args=[dossier.provisional_code]))
    assert response.status_code == 404
    assert Payment.objects.count() == 0


# ---------------------------------------------------------------------------------------------
# Replays, forgeries, wrong amounts
# ---------------------------------------------------------------------------------------------


def test_a_replayed_callback_changes_nothing(client, dossier):
    payment = start(dossier)
    result = signed_result(payment)
    assert client.post(CALLBACK, result).json()["changed"] is True
    payment.refresh_from_db()
    paid_at = payment.paid_at
    for _ in range(3):
        response = client.post(CALLBACK, result)
        assert response.status_code == 200 and response.json()["changed"] is False
    payment.refresh_from_db()
    assert payment.state == PaymentState.PAID and payment.paid_at == paid_at
    assert PaymentCallback.objects.filter(outcome="applied").count() == 1
    assert PaymentCallback.objects.filter(outcome="replay").count() == 3


def test_a_forged_signature_is_refused_and_logged(client, dossier, caplog):
    payment = start(dossier)
    forged = {**signed_result(payment), "sig": "0" * 64}
    with caplog.at_level(logging.WARNING, logger="payments.services"):
        response = client.post(CALLBACK, forged)
    assert response.status_code == 400
    assert response.json()["code"] == "payment_refused"
    payment.refresh_from_db()
    assert payment.state == PaymentState.PENDING
    log = PaymentCallback.objects.get()
    assert (log.outcome, log.reason) == ("refused", "bad_signature")
    assert "Refused payment answer (bad_signature)" in caplog.text


def test_an_answer_signed_with_another_key_is_refused(client, dossier, settings):
    payment = start(dossier)
    settings.PAYMENT_SECRET = "someone-else-s-key-" + "x" * 20
    forged = signed_result(payment)
    settings.PAYMENT_SECRET = "dev-only-payment-secret-not-for-production"
    assert client.post(CALLBACK, forged).status_code == 400
    payment.refresh_from_db()
    assert payment.state == PaymentState.PENDING


def test_an_amount_changed_after_signing_is_refused(client, dossier):
    payment = start(dossier)
    altered = {**signed_result(payment), "amount": "1000"}
    assert client.post(CALLBACK, altered).status_code == 400
    assert PaymentCallback.objects.get().reason == "bad_signature"
    payment.refresh_from_db()
    assert payment.state == PaymentState.PENDING


def test_a_signed_answer_with_the_wrong_amount_is_refused(client, dossier):
    payment = start(dossier)
    response = client.post(CALLBACK, signed_result(payment, amount=1000))
    assert response.status_code == 400
    assert PaymentCallback.objects.get().reason == "wrong_amount"
    payment.refresh_from_db()
    assert payment.state == PaymentState.PENDING


def test_an_answer_for_an_unknown_reference_is_refused(client, dossier):
    result = gateway().result(reference="PAYNOSUCHORDER", amount_vnd=FEE, status="paid")
    assert client.post(CALLBACK, result).status_code == 400
    assert PaymentCallback.objects.get().reason == "unknown_reference"


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "-5"}, {"amount": "abc"}, {"status": "refunded"}, {"ref": "<script>"},
        {"txn": ""}, {"sig": ""},
    ],
)
def test_malformed_answers_are_refused(client, dossier, change):
    payment = start(dossier)
    fields = {**signed_result(payment), **change}
    # Re-signed, so that only the malformed field is wrong (a gateway bug, or a leaked key).
    if "sig" not in change:
        fields["sig"] = gateway_api.sign(fields, names=gateway_api.RESULT_FIELDS)
    response = client.post(CALLBACK, fields, content_type="application/json")
    assert response.status_code == 400
    payment.refresh_from_db()
    assert payment.state == PaymentState.PENDING


def test_a_late_cancel_after_payment_changes_nothing(client, dossier):
    payment = start(dossier)
    client.post(CALLBACK, signed_result(payment, status="paid"))
    response = client.post(CALLBACK, signed_result(payment, status="cancelled"))
    assert response.status_code == 200 and response.json()["changed"] is False
    payment.refresh_from_db()
    assert payment.state == PaymentState.PAID
    assert PaymentCallback.objects.filter(reason="conflict").count() == 1


def test_a_forged_return_url_shows_a_refusal_and_changes_nothing(owner, dossier):
    payment = start(dossier)
    forged = {**signed_result(payment), "sig": "f" * 64}
    response = owner.get(reverse("payment-return"), forged)
    assert response.status_code == 400
    assert "không hợp lệ" in response.content.decode()
    payment.refresh_from_db()
    assert payment.state == PaymentState.PENDING


def test_the_demo_gateway_refuses_an_order_whose_amount_was_changed(owner, dossier):
    url = owner.post(reverse("public-submit-pay", args=[dossier.provisional_code]))["Location"]
    tampered = re.sub(r"amount=\d+", "amount=1000", url)
    assert owner.get(tampered).status_code == 400
    order = {k: v[0] for k, v in parse_qs(urlsplit(tampered).query).items()}
    assert owner.post(tampered, {**order, "choice": "pay"}).status_code == 400
    assert Payment.objects.get().state == PaymentState.PENDING


# ---------------------------------------------------------------------------------------------
# Starting a payment: one per fee
# ---------------------------------------------------------------------------------------------


def test_a_double_click_on_pay_makes_one_payment(owner, dossier):
    url = reverse("public-submit-pay", args=[dossier.provisional_code])
    first, second = owner.post(url), owner.post(url)
    assert first["Location"] == second["Location"]
    assert Payment.objects.count() == 1


def test_the_database_refuses_a_second_live_payment(dossier):
    payment = start(dossier)
    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(
            dossier=dossier, reference="PAYSECOND", idempotency_key="other", amount_vnd=FEE,
            gateway="demo",
        )
    assert Payment.objects.get() == payment


def test_a_paid_dossier_is_not_charged_again(dossier):
    payment = start(dossier)
    payment_confirm(data=signed_result(payment))
    with pytest.raises(ValidationError) as caught:
        payment_start(dossier=dossier)
    assert caught.value.code == "already_paid"


def test_a_closed_dossier_takes_no_payment(world, dossier):
    dossier_transition(dossier=dossier, transition="refuse", actor=world.clerk,
                       reasons=["Hồ sơ không thuộc thẩm quyền"])
    with pytest.raises(TransitionNotAllowed) as caught:
        payment_start(dossier=dossier)
    assert caught.value.code == "dossier_closed"


def test_a_procedure_without_fee_or_with_a_variable_fee_is_paid_at_the_desk(world, dossier):
    FeeLine.objects.filter(version=world.notary).update(amount_vnd=0)
    with pytest.raises(ValidationError) as free:
        payment_start(dossier=dossier)
    assert free.value.code == "no_fee"
    FeeLine.objects.create(version=world.notary, name="Lệ phí theo diện tích", amount_vnd=None)
    with pytest.raises(ValidationError) as variable:
        payment_start(dossier=dossier)
    assert variable.value.code == "fee_not_fixed"
    assert Payment.objects.count() == 0


def test_payment_off_without_a_gateway(owner, dossier, settings):
    settings.PAYMENT_GATEWAY = ""
    with pytest.raises(ValidationError) as caught:
        payment_start(dossier=dossier)
    assert caught.value.code == "payments_disabled"
    page = owner.get(reverse("public-submit-done", args=[dossier.provisional_code])).content.decode()
    assert "Thanh toán trực tuyến" not in page
    assert owner.get(reverse("payment-demo-gateway", args=["PAYX"])).status_code == 404


def test_payment_confirm_raises_for_a_refused_answer(dossier):
    payment = start(dossier)
    with pytest.raises(PaymentRefused):
        payment_confirm(data={**signed_result(payment), "sig": "bad"})


# ---------------------------------------------------------------------------------------------
# Production settings
# ---------------------------------------------------------------------------------------------


@pytest.mark.django_db(False)
@pytest.mark.parametrize(
    "override, complaint",
    [
        ({"PAYMENT_GATEWAY": "motcua.integrations.payment.DemoPaymentGateway"}, "demo PAYMENT_GATEWAY"),
        ({"PAYMENT_GATEWAY": "motcua.integrations.payment.HttpPaymentGateway"}, "PAYMENT_SECRET"),
        ({"PAYMENT_GATEWAY": "motcua.integrations.payment.HttpPaymentGateway",
          "PAYMENT_SECRET": "short"}, "PAYMENT_SECRET"),
    ],
)
def test_production_refuses_an_insecure_payment_configuration(override, complaint):
    result = run_manage("check", env={**PROD_ENV, **override})
    assert result.returncode != 0
    assert complaint in result.stderr


# ---------------------------------------------------------------------------------------------
# Paying with code + phone (any browser, also dossiers received at the desk)
# ---------------------------------------------------------------------------------------------


def test_a_dossier_received_at_the_desk_can_be_paid_with_code_and_phone(client, world):
    from dossiers.services import dossier_receive_at_desk

    dossier = dossier_receive_at_desk(procedure_version=world.notary, applicant=AN, actor=world.clerk)
    form = client.get(reverse("public-pay"), {"ma": dossier.code})
    assert dossier.code in form.content.decode()
    response = client.post(reverse("public-pay"), {"code": dossier.code.lower(), "phone": "+84 912 345 678"})
    assert response.status_code == 302
    payment = Payment.objects.get()
    assert payment.dossier == dossier
    assert response["Location"].startswith(reverse("payment-demo-gateway", args=[payment.reference]))
    back = client.get(reverse("payment-return"), signed_result(payment))
    assert back.status_code == 200  # not this browser's submission: a result page
    assert "Đã thanh toán" in back.content.decode()


def test_a_wrong_phone_or_code_answers_alike_and_starts_nothing(client, dossier):
    wrong_phone = client.post(reverse("public-pay"), {"code": dossier.code, "phone": "0987000000"})
    wrong_code = client.post(reverse("public-pay"), {"code": "TT-000000-AAAAAAAA", "phone": AN["phone"]})
    garbage = client.post(reverse("public-pay"), {"code": "<script>", "phone": "x" * 5000})
    assert wrong_phone.status_code == wrong_code.status_code == garbage.status_code == 404
    assert "<script>" not in garbage.content.decode()
    assert Payment.objects.count() == 0


# ---------------------------------------------------------------------------------------------
# Concurrency: two clicks at once, the callback and the return at once
# ---------------------------------------------------------------------------------------------


def _at_once(*calls):
    """Run the calls in threads released together; return their results (or exceptions)."""
    import threading

    from django.db import connection

    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        try:
            barrier.wait()
            results[i] = call()
        except Exception as exc:  # noqa: BLE001 - reported to the test
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.django_db(transaction=True)
def test_two_pay_clicks_at_the_same_moment_make_one_payment(world):
    dossier = dossier_submit_online(procedure_version=world.notary, applicant=AN)
    results = _at_once(*[lambda: payment_start(dossier=dossier)] * 4)
    assert not [r for r in results if isinstance(r, Exception)]
    assert len({payment.reference for payment, _url in results}) == 1
    assert Payment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_callback_and_the_return_at_the_same_moment_apply_once(world):
    dossier = dossier_submit_online(procedure_version=world.notary, applicant=AN)
    payment, _url = payment_start(dossier=dossier)
    result = signed_result(payment)
    outcomes = _at_once(
        lambda: payment_confirm(data=result, source="callback"),
        lambda: payment_confirm(data=result, source="return"),
        lambda: payment_confirm(data=result, source="callback"),
    )
    assert sorted(o.changed for o in outcomes) == [False, False, True]
    assert PaymentCallback.objects.filter(outcome="applied").count() == 1
    payment.refresh_from_db()
    assert payment.state == PaymentState.PAID


def test_payments_are_read_only_in_the_admin(admin_client, dossier):
    payment = start(dossier)
    assert admin_client.get(reverse("admin:payments_payment_changelist")).status_code == 200
    page = admin_client.get(reverse("admin:payments_payment_change", args=[payment.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    assert admin_client.post(
        reverse("admin:payments_payment_delete", args=[payment.pk]), {"post": "yes"}
    ).status_code == 403
    assert Payment.objects.filter(pk=payment.pk).exists()


def test_a_failed_payment_leaves_the_fee_open_for_another_attempt(dossier):
    payment = start(dossier)
    outcome = payment_confirm(data=signed_result(payment, status="failed"))
    assert outcome.changed and outcome.payment.state == PaymentState.FAILED
    assert outcome.payment.paid_at is None
    again = start(dossier)
    assert again.pk != payment.pk and again.state == PaymentState.PENDING


def test_paid_online_tells_which_dossiers_paid_in_one_query(world, django_assert_num_queries):
    from dossiers.models import Dossier
    from payments.selectors import paid_online

    dossiers = [dossier_submit_online(procedure_version=world.notary, applicant=AN) for _ in range(3)]
    payment_confirm(data=signed_result(start(dossiers[1])))
    start(dossiers[2])  # pending: not paid
    with django_assert_num_queries(1):
        flags = dict(Dossier.objects.annotate(paid=paid_online()).values_list("pk", "paid"))
    assert flags == {dossiers[0].pk: False, dossiers[1].pk: True, dossiers[2].pk: False}
