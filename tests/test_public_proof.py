"""Proof by code + phone (dossiers.public.proof): one answer for every kind of failure, and the
lock-out of repeated guessing by client address, by code and by phone number."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import RequestFactory
from django.urls import reverse

from dossiers.public.proof import (
    client_ip,
    code_is_well_formed,
    dossier_by_proof,
    is_kiosk,
    max_failures,
    normalise_code,
    proof_locked,
)
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    dossier_in,
    org,
    receive,
    submit_online,
    version,
)

pytestmark = pytest.mark.django_db

PHONE = APPLICANT["phone"]
WRONG_PHONE = "0987000111"


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    settings.PUBLIC_PROOF_MAX_FAILURES = 5
    settings.PUBLIC_PROOF_TARGET_MAX_FAILURES = 10
    settings.PUBLIC_PROOF_LOCK_SECONDS = 900
    settings.PUBLIC_KIOSK_ADDRESSES = []
    settings.PUBLIC_PROOF_KIOSK_MAX_FAILURES = 50
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def dossier(org, version):
    return receive(org, version)


def fail(n: int, *, ip: str, code: str, phone: str = WRONG_PHONE) -> None:
    for _ in range(n):
        assert dossier_by_proof(code=code, phone=phone, ip=ip) is None


# --- the one answer -----------------------------------------------------------------------------


def test_right_code_and_phone_give_the_dossier(dossier):
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.1") == dossier


def test_any_spelling_of_the_phone_and_of_the_code_matches(dossier):
    spaced = " " + dossier.code.lower().replace("-", " - ") + " "
    assert dossier_by_proof(code=spaced, phone="+84 912 345 678", ip="10.0.0.1") == dossier
    assert dossier_by_proof(code=dossier.code, phone="0912.345.678", ip="10.0.0.1") == dossier


def test_provisional_code_of_an_online_submission_matches(org, version):
    submitted = submit_online(org, version)
    assert submitted.provisional_code
    assert dossier_by_proof(code=submitted.provisional_code, phone=PHONE, ip="10.0.0.1") == submitted


def test_wrong_phone_wrong_code_malformed_phone_and_malformed_code_all_give_none(
    dossier, django_assert_num_queries
):
    with django_assert_num_queries(1):
        assert dossier_by_proof(code=dossier.code, phone=WRONG_PHONE, ip="10.0.0.1") is None
    with django_assert_num_queries(1):  # the same single query: nothing to time apart
        assert dossier_by_proof(code=dossier.code + "9", phone=PHONE, ip="10.0.0.2") is None
    with django_assert_num_queries(0):
        assert dossier_by_proof(code=dossier.code, phone="12345", ip="10.0.0.3") is None
        assert dossier_by_proof(code="<script>alert(1)</script>", phone=PHONE, ip="10.0.0.4") is None
        assert dossier_by_proof(code="", phone=PHONE, ip="10.0.0.5") is None
        assert dossier_by_proof(code=None, phone=None, ip="10.0.0.6") is None
        assert dossier_by_proof(code=["x"], phone={"a": 1}, ip="10.0.0.7") is None
        assert dossier_by_proof(code="A" * 10_000, phone=PHONE, ip="10.0.0.8") is None


def test_phone_of_another_dossier_does_not_open_this_one(org, version, dossier):
    other = receive(org, version, applicant={**APPLICANT, "phone": "0977111222"})
    assert dossier_by_proof(code=dossier.code, phone="0977111222", ip="10.0.0.1") is None
    assert dossier_by_proof(code=other.code, phone="0977111222", ip="10.0.0.1") == other


def test_a_callers_own_lookup_gets_clean_input_and_its_misses_count(dossier):
    seen = []

    def lookup(code, phone):
        seen.append((code, phone))
        return "found" if (code, phone) == (dossier.code, PHONE) else None

    spaced = dossier.code.lower().replace("-", " - ")
    assert dossier_by_proof(code=spaced, phone="+84912345678", ip="10.0.0.1", lookup=lookup) == "found"
    assert seen == [(dossier.code, PHONE)]
    fail(5, ip="10.0.0.2", code=dossier.code)
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.2", lookup=lookup) is None
    assert len(seen) == 1  # locked: not even asked


# --- lock-out -----------------------------------------------------------------------------------


def test_client_is_locked_out_after_five_failures_even_with_the_right_pair(dossier):
    fail(4, ip="10.0.0.1", code="000.00.10.H01-000000-0001")
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.1") == dossier
    fail(1, ip="10.0.0.1", code="000.00.10.H01-000000-0002")
    assert proof_locked(ip="10.0.0.1", code=dossier.code)
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.1") is None
    # Another client is not concerned.
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.2") == dossier


def test_a_locked_client_makes_no_query(dossier, django_assert_num_queries):
    fail(5, ip="10.0.0.1", code="000.00.10.H01-000000-0001")
    with django_assert_num_queries(0):
        assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.1") is None


def test_a_code_is_locked_after_ten_failures_from_many_addresses(dossier):
    for n in range(10):
        fail(1, ip=f"10.0.1.{n}", code=dossier.code, phone=f"09870001{n:02d}")
    assert proof_locked(ip="10.9.9.9", code=dossier.code)
    # The right pair from a fresh address does not reveal that the guesser just found it.
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.9.9.9") is None


def test_a_phone_is_locked_after_ten_failures_on_many_codes(org, version, dossier):
    for n in range(10):
        fail(1, ip=f"10.0.2.{n}", code=f"{dossier.code[:-4]}{9000 + n}", phone=PHONE)
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.9.9.9") is None
    other = receive(org, version, applicant={**APPLICANT, "phone": "0977111222"})
    assert dossier_by_proof(code=other.code, phone="0977111222", ip="10.9.9.9") == other


def test_a_success_does_not_reset_the_client_counter(dossier):
    fail(4, ip="10.0.0.1", code="000.00.10.H01-000000-0001")
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.1") == dossier
    fail(1, ip="10.0.0.1", code="000.00.10.H01-000000-0003")
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.1") is None


def test_malformed_input_counts_against_the_client(dossier):
    for _ in range(5):
        assert dossier_by_proof(code="<b>", phone="x", ip="10.0.0.1") is None
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.1") is None


def test_the_lock_ends_after_the_lock_period(dossier, settings):
    import time_machine

    with time_machine.travel("2026-11-23 09:00 +0700", tick=False) as traveller:
        fail(5, ip="10.0.0.1", code=dossier.code)
        assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.1") is None
        traveller.shift(14 * 60)
        assert proof_locked(ip="10.0.0.1", code=dossier.code)
        traveller.shift(2 * 60)
        assert not proof_locked(ip="10.0.0.1", code=dossier.code)
        assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.0.0.1") == dossier


def test_cache_keys_hold_no_code_phone_or_address(dossier):
    fail(1, ip="10.0.0.1", code=dossier.code)
    keys = list(cache._cache.keys()) if hasattr(cache, "_cache") else []
    if not keys:
        pytest.skip("the cache backend does not list its keys")
    text = " ".join(str(k) for k in keys)
    assert dossier.code not in text and WRONG_PHONE not in text and "10.0.0.1" not in text


# --- the rating kiosk at the desk ---------------------------------------------------------------

KIOSK = "10.20.0.7"


@pytest.fixture
def kiosk(settings):
    settings.PUBLIC_KIOSK_ADDRESSES = [KIOSK, "192.168.5.0/28"]


def slips(n: int, *, ip: str, first: int = 0) -> None:
    """``n`` different citizens each mistype their own code once (each code and phone missed
    once: only the address's counter grows)."""
    for k in range(first, first + n):
        fail(1, ip=ip, code=f"000.00.10.H01-000000-{k:04d}", phone=f"0987{k:06d}")


def test_a_kiosk_is_not_locked_by_five_different_citizens_mistakes(dossier, kiosk):
    slips(5, ip=KIOSK)
    assert not proof_locked(ip=KIOSK, code=dossier.code)
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip=KIOSK) == dossier
    # The same five slips lock an ordinary address.
    slips(5, ip="10.20.0.8")
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.20.0.8") is None


def test_a_kiosk_is_locked_after_its_own_larger_allowance(dossier, kiosk, settings):
    settings.PUBLIC_PROOF_KIOSK_MAX_FAILURES = 12
    slips(11, ip=KIOSK)
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip=KIOSK) == dossier
    slips(1, ip=KIOSK, first=11)
    assert proof_locked(ip=KIOSK)
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip=KIOSK) is None
    # Another kiosk of the listed network keeps its own counter.
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="192.168.5.3") == dossier


def test_the_kiosk_allowance_defaults_to_fifty_misses(dossier, kiosk, settings):
    del settings.PUBLIC_PROOF_KIOSK_MAX_FAILURES
    assert max_failures(KIOSK) == 50
    slips(49, ip=KIOSK)
    assert not proof_locked(ip=KIOSK)
    slips(1, ip=KIOSK, first=49)
    assert proof_locked(ip=KIOSK)


def test_at_a_kiosk_a_code_is_still_locked_after_ten_misses(dossier, kiosk):
    fail(10, ip=KIOSK, code=dossier.code)
    assert not proof_locked(ip=KIOSK)  # the kiosk itself is not locked...
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip=KIOSK) is None  # ...the code is
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip="10.9.9.9") is None


def test_at_a_kiosk_a_phone_is_still_locked_after_ten_misses(org, version, dossier, kiosk):
    for n in range(10):
        fail(1, ip=KIOSK, code=f"{dossier.code[:-4]}{9000 + n}", phone=PHONE)
    assert not proof_locked(ip=KIOSK)
    assert dossier_by_proof(code=dossier.code, phone=PHONE, ip=KIOSK) is None
    other = receive(org, version, applicant={**APPLICANT, "phone": "0977111222"})
    assert dossier_by_proof(code=other.code, phone="0977111222", ip=KIOSK) == other


def test_kiosk_addresses_match_addresses_networks_and_ipv4_written_as_ipv6(kiosk, settings):
    assert is_kiosk(KIOSK)
    assert is_kiosk("192.168.5.15") and not is_kiosk("192.168.5.16")
    assert is_kiosk(f"::ffff:{KIOSK}")
    assert not is_kiosk("10.20.0.70")
    for nothing in ("", "-", "not an address", "10.20.0.7.1", "::1"):
        assert not is_kiosk(nothing)
    assert max_failures(KIOSK) == 50 and max_failures("10.20.0.70") == 5 and max_failures() == 5
    settings.PUBLIC_KIOSK_ADDRESSES = f" {KIOSK} , 2001:db8::/64"  # one string, as in the env
    assert is_kiosk(KIOSK) and is_kiosk("2001:db8::42") and not is_kiosk("2001:db8:1::42")


def test_without_kiosk_addresses_no_address_is_a_kiosk(dossier):
    assert not is_kiosk(KIOSK) and max_failures(KIOSK) == 5
    slips(5, ip=KIOSK)
    assert proof_locked(ip=KIOSK)


def test_the_rating_kiosk_page_serves_the_sixth_citizen_after_five_slips(org, version, kiosk,
                                                                           client):
    """Through the kiosk's own page (``/danh-gia/quay/``), as the tablet at the desk posts."""
    returned = dossier_in(org, version, "returned")
    url = reverse("public-rate-kiosk")
    for k in range(5):
        answer = client.post(url, {"code": f"000.00.10.H01-000000-{k:04d}",
                                   "phone": f"0987{k:06d}"}, REMOTE_ADDR=KIOSK)
        assert answer.status_code == 404
        assert "Không tìm thấy hồ sơ" in answer.content.decode()
    answer = client.post(url, {"code": returned.code, "phone": PHONE}, REMOTE_ADDR=KIOSK)
    assert answer.status_code == 200
    assert "Ông/bà hài lòng với việc giải quyết hồ sơ?" in answer.content.decode()
    # The same five slips from a tablet not listed lock it out.
    for k in range(5):
        client.post(url, {"code": f"000.00.10.H01-000000-{k:04d}", "phone": f"0987{k:06d}"},
                    REMOTE_ADDR="10.20.0.99")
    answer = client.post(url, {"code": returned.code, "phone": PHONE}, REMOTE_ADDR="10.20.0.99")
    assert answer.status_code == 404


@pytest.mark.parametrize(("value", "message"), [
    ("10.20.0.7,192.168.5.0/28,2001:db8::/64", None),
    ("", None),
    ("10.20.0.300", "is not an IP address or network"),
    ("quay-1", "is not an IP address or network"),
    ("10.20.0.0/16", "wider than a /24"),
    ("0.0.0.0/0", "wider than a /24"),
    ("2001:db8::/48", "wider than a /24 (IPv4) or /64 (IPv6)"),
])
def test_kiosk_addresses_are_checked_when_the_settings_load(value, message, tmp_path):
    """A typo or a network that would cover strangers stops the start, with the reason."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PUBLIC_KIOSK_ADDRESSES": value}
    run = subprocess.run(
        [sys.executable, "-c", "import motcua.settings as s; print(s.PUBLIC_KIOSK_ADDRESSES)"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    if message is None:
        assert run.returncode == 0, run.stderr
    else:
        assert run.returncode != 0
        assert "ImproperlyConfigured" in run.stderr and message in run.stderr


# --- helpers ------------------------------------------------------------------------------------


def test_code_format():
    assert normalise_code(" 000.00.00.h30 - 251123 - 0007 ") == "000.00.00.H30-251123-0007"
    assert code_is_well_formed("000.00.00.H30-251123-0007")
    assert code_is_well_formed("TT-251123-AB3D5F7H")
    assert not code_is_well_formed("")
    assert not code_is_well_formed("-ABC")
    assert not code_is_well_formed("<SCRIPT>")
    assert not code_is_well_formed("A" * 65)


def test_client_address_ignores_forwarded_for_unless_proxies_are_configured(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    assert client_ip(request) == "10.0.0.9"
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert client_ip(request) == "1.2.3.4"
    spoofed = RequestFactory().get(
        "/", REMOTE_ADDR="10.0.0.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 1.2.3.4"
    )
    assert client_ip(spoofed) == "1.2.3.4"
