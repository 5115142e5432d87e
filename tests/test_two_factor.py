"""The second factor (TOTP) at the staff login: enrolment, the code after the password, replay,
attempt limits, the three modes, the admin, the API token and the reset (motcua/twofactor.py)."""

import base64
import datetime as dt
import logging
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.authtoken.models import Token

from motcua import twofactor
from motcua.models import Role
from tests.factories import StaffRoleFactory, UnitFactory

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "MotCua@2026"
NOW = dt.datetime(2026, 11, 23, 9, 0, 5, tzinfo=dt.timezone(dt.timedelta(hours=7)))
WRONG_CODE_TEXT = "Mã xác thực không đúng hoặc đã được dùng"
CODE_LOCKED_TEXT = "mật khẩu hoặc mã xác thực đã nhập sai 5 lần liên tiếp"

pytestmark = pytest.mark.django_db


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def unit():
    return UnitFactory()


def staff_user(django_user_model, username, role=None, unit=None, **extra):
    user = django_user_model.objects.create_user(username, password=PASSWORD, **extra)
    if role:
        StaffRoleFactory(user=user, unit=unit, role=role)
    return user


@pytest.fixture
def leader(django_user_model, unit):
    return staff_user(django_user_model, "lanhdao1", Role.LEADER, unit, first_name="Hà")


@pytest.fixture
def officer(django_user_model, unit):
    return staff_user(django_user_model, "chuyenvien1", Role.OFFICER, unit)


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("quantri1", password=PASSWORD)


def enrol(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)


def code_for(device: TOTPDevice, shift_steps: int = 0) -> str:
    device.refresh_from_db()
    value = totp(device.bin_key, step=device.step, t0=device.t0 - shift_steps * device.step,
                 digits=device.digits, drift=device.drift)
    return f"{value:06d}"


def wrong_code(device: TOTPDevice) -> str:
    # Not the code of this step nor of the steps the tolerance accepts either side.
    accepted = {code_for(device, shift) for shift in (-1, 0, 1)}
    return next(c for c in ("000000", "111111", "222222", "333333") if c not in accepted)


def password_step(client, username, next_url=None, address="10.0.0.1"):
    data = {"username": username, "password": PASSWORD}
    if next_url:
        data["next"] = next_url
    return client.post(reverse("login"), data, REMOTE_ADDR=address)


def code_step(client, code, address="10.0.0.1"):
    return client.post(reverse("login-code"), {"otp": code}, REMOTE_ADDR=address)


def is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def is_verified(client) -> bool:
    return DEVICE_ID_SESSION_KEY in client.session


def token_login(client, username, otp=None, address="10.0.0.1"):
    data = {"username": username, "password": PASSWORD}
    if otp is not None:
        data["otp"] = otp
    return client.post(reverse("api-token"), data, REMOTE_ADDR=address)


# --- the login with a code ---------------------------------------------------------------------

def test_right_password_of_an_enrolled_leader_asks_for_the_code_before_logging_in(
    client, leader, frozen
):
    enrol(leader)
    response = password_step(client, "lanhdao1")
    assert response.status_code == 302
    assert response.url == reverse("login-code")
    assert not is_logged_in(client)
    page = client.get(reverse("login-code"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Xác thực hai bước" in html and "lanhdao1" in html
    assert 'inputmode="numeric"' in html
    assert 'autocomplete="one-time-code"' in html
    assert "autofocus" in html
    assert "<script" not in html.split("</head>")[1].replace('<script src=', '')


def test_right_code_finishes_the_login_with_a_verified_session(client, leader, frozen):
    device = enrol(leader)
    password_step(client, "lanhdao1", next_url=reverse("dossier-search"))
    response = code_step(client, code_for(device))
    assert response.status_code == 302
    assert response.url == reverse("dossier-search")
    assert is_logged_in(client) and is_verified(client)
    assert client.get(reverse("staff-home")).status_code == 200


def test_code_with_a_space_in_the_middle_is_accepted(client, leader, frozen):
    device = enrol(leader)
    password_step(client, "lanhdao1")
    code = code_for(device)
    assert code_step(client, f"{code[:3]} {code[3:]}").status_code == 302
    assert is_verified(client)


def test_wrong_code_is_refused_in_vietnamese_and_does_not_log_in(client, leader, frozen):
    device = enrol(leader)
    password_step(client, "lanhdao1")
    response = code_step(client, wrong_code(device))
    assert response.status_code == 200
    assert WRONG_CODE_TEXT in response.content.decode()
    assert not is_logged_in(client)
    assert client.get(reverse("staff-home")).status_code == 302


def test_code_of_five_digits_is_a_form_error_not_a_miss(client, leader, frozen):
    device = enrol(leader)
    password_step(client, "lanhdao1")
    response = code_step(client, "12345")
    assert "Vui lòng nhập đủ 6 chữ số" in response.content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == 0


def test_code_used_once_cannot_be_used_again(client, leader, frozen):
    device = enrol(leader)
    password_step(client, "lanhdao1")
    code = code_for(device)
    assert code_step(client, code).status_code == 302
    client.logout()
    password_step(client, "lanhdao1")
    response = code_step(client, code)  # same 30 seconds, same code
    assert WRONG_CODE_TEXT in response.content.decode()
    assert not is_logged_in(client)
    frozen.shift(dt.timedelta(seconds=30))
    assert code_step(client, code_for(device)).status_code == 302  # the next code is fine
    assert is_verified(client)


def test_code_of_the_previous_step_is_refused_after_a_newer_one_was_used(client, leader, frozen):
    device = enrol(leader)
    password_step(client, "lanhdao1")
    old = code_for(device)
    frozen.shift(dt.timedelta(seconds=30))
    assert code_step(client, code_for(device)).status_code == 302
    client.logout()
    password_step(client, "lanhdao1")
    assert WRONG_CODE_TEXT in code_step(client, old).content.decode()


def test_rapid_guesses_must_wait_even_with_the_right_code(client, leader, frozen):
    device = enrol(leader)
    password_step(client, "lanhdao1")
    code_step(client, wrong_code(device))
    response = code_step(client, wrong_code(device))  # at once: the device waits 1 s
    assert response.status_code == 429
    assert "Vui lòng đợi 1 giây rồi thử lại" in response.content.decode()
    frozen.shift(dt.timedelta(seconds=0.5))
    assert code_step(client, code_for(device)).status_code == 429
    assert not is_logged_in(client)
    frozen.shift(dt.timedelta(seconds=1))
    assert code_step(client, code_for(device)).status_code == 302


def test_the_device_wait_doubles_with_each_miss_from_any_address(client, leader, frozen):
    device = enrol(leader)
    for index in range(4):
        password_step(client, "lanhdao1", address=f"10.0.1.{index}")
        frozen.shift(dt.timedelta(seconds=2 ** index + 0.1))  # past the previous wait
        assert code_step(client, wrong_code(device), address=f"10.0.1.{index}").status_code == 200
    device.refresh_from_db()
    assert device.throttling_failure_count == 4
    password_step(client, "lanhdao1", address="10.0.1.9")
    frozen.shift(dt.timedelta(seconds=3))  # the fourth miss asks for 8 s
    response = code_step(client, code_for(device), address="10.0.1.9")
    assert response.status_code == 429


def test_five_wrong_codes_lock_the_login_like_wrong_passwords(client, leader, frozen):
    device = enrol(leader)
    password_step(client, "lanhdao1")
    for _ in range(4):
        frozen.shift(dt.timedelta(seconds=20))  # past the device's own wait
        assert WRONG_CODE_TEXT in code_step(client, wrong_code(device)).content.decode()
    frozen.shift(dt.timedelta(seconds=20))
    fifth = code_step(client, wrong_code(device))
    assert fifth.status_code == 429
    assert CODE_LOCKED_TEXT in fifth.content.decode()
    assert "thử lại sau 30 phút" in fifth.content.decode()
    assert not is_logged_in(client)
    # The pending login is gone and the right password is refused for the lock's length.
    assert code_step(client, code_for(device)).status_code == 302
    assert client.get(reverse("login-code")).url == reverse("login")
    assert password_step(client, "lanhdao1").status_code == 429
    frozen.shift(dt.timedelta(minutes=31))
    assert password_step(client, "lanhdao1").url == reverse("login-code")


def test_wrong_passwords_and_wrong_codes_add_up(client, leader, frozen):
    device = enrol(leader)
    for _ in range(3):
        client.post(reverse("login"), {"username": "lanhdao1", "password": "sai"},
                    REMOTE_ADDR="10.0.0.1")
    password_step(client, "lanhdao1")
    code_step(client, wrong_code(device))
    frozen.shift(dt.timedelta(seconds=5))
    assert code_step(client, wrong_code(device)).status_code == 429


def test_the_right_code_clears_the_count_of_misses(client, leader, frozen):
    from axes.models import AccessAttempt

    device = enrol(leader)
    password_step(client, "lanhdao1")
    code_step(client, wrong_code(device))
    frozen.shift(dt.timedelta(seconds=5))
    assert code_step(client, code_for(device)).status_code == 302
    assert not AccessAttempt.objects.filter(username="lanhdao1").exists()


def test_recorded_failures_do_not_keep_the_code(client, leader, frozen):
    from axes.models import AccessAttempt

    device = enrol(leader)
    password_step(client, "lanhdao1")
    code = wrong_code(device)
    code_step(client, code)
    assert code not in AccessAttempt.objects.get(username="lanhdao1").post_data


def test_pending_login_expires_after_five_minutes(client, leader, frozen):
    device = enrol(leader)
    password_step(client, "lanhdao1")
    frozen.shift(dt.timedelta(minutes=5, seconds=1))
    response = code_step(client, code_for(device))
    assert response.status_code == 302 and response.url == reverse("login")
    assert not is_logged_in(client)
    assert "Phiên đăng nhập đã hết hạn" in client.get(reverse("login")).content.decode()


def test_code_page_without_a_password_first_goes_back_to_the_login(client, leader, frozen):
    enrol(leader)
    assert client.get(reverse("login-code")).url == reverse("login")


def test_cancel_drops_the_pending_login(client, leader, frozen):
    device = enrol(leader)
    password_step(client, "lanhdao1")
    assert client.post(reverse("login-code"), {"cancel": "1"}).url == reverse("login")
    assert code_step(client, code_for(device)).url == reverse("login")
    assert not is_logged_in(client)


def test_next_to_another_site_is_not_followed_after_the_code(client, leader, frozen):
    device = enrol(leader)
    password_step(client, "lanhdao1", next_url="https://evil.example/")
    assert code_step(client, code_for(device)).url == reverse("staff-home")


# --- who: the three modes ----------------------------------------------------------------------

def test_optional_officer_without_device_logs_in_with_the_password_alone(client, officer):
    response = password_step(client, "chuyenvien1")
    assert response.url == reverse("staff-home")
    assert client.get(reverse("staff-home")).status_code == 200


def test_optional_leader_without_device_is_not_forced_to_enrol(client, leader):
    assert password_step(client, "lanhdao1").url == reverse("staff-home")
    assert client.get(reverse("staff-home")).status_code == 200


def test_optional_officer_who_enrolled_must_give_the_code_too(client, officer, frozen):
    enrol(officer)
    assert password_step(client, "chuyenvien1").url == reverse("login-code")


def test_required_leader_without_device_must_enrol_before_anything_else(
    client, leader, settings, frozen
):
    settings.TWO_FACTOR = "required"
    response = password_step(client, "lanhdao1")
    assert response.url.startswith(reverse("two-factor-enrol"))
    for url in (reverse("staff-home"), reverse("dossier-search"), "/admin/"):
        refused = client.get(url)
        assert refused.status_code == 302
        assert refused.url.startswith(reverse("two-factor-enrol"))
    page = client.get(reverse("two-factor-enrol"))
    assert "phải bật xác thực hai bước" in page.content.decode()
    device = TOTPDevice.objects.get(user=leader, confirmed=False)
    confirmed = client.post(reverse("two-factor-enrol"), {"device": device.pk,
                                                          "otp": code_for(device)})
    assert confirmed.url == reverse("staff-home")
    assert is_verified(client)
    assert client.get(reverse("staff-home")).status_code == 200


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.CATALOGUE_ADMIN])
def test_required_covers_people_committee_leaders_and_catalogue_admins(
    client, django_user_model, unit, settings, role
):
    settings.TWO_FACTOR = "required"
    staff_user(django_user_model, "nguoi1", role, unit)
    assert password_step(client, "nguoi1").url.startswith(reverse("two-factor-enrol"))


def test_required_covers_django_admins(client, superuser, settings):
    settings.TWO_FACTOR = "required"
    assert password_step(client, "quantri1").url.startswith(reverse("two-factor-enrol"))


def test_required_does_not_oblige_officers(client, officer, settings):
    settings.TWO_FACTOR = "required"
    assert password_step(client, "chuyenvien1").url == reverse("staff-home")
    assert client.get(reverse("staff-home")).status_code == 200


def test_required_roles_follow_the_setting(client, officer, settings):
    settings.TWO_FACTOR = "required"
    settings.TWO_FACTOR_ROLES = ["officer"]
    assert password_step(client, "chuyenvien1").url.startswith(reverse("two-factor-enrol"))


def test_required_leader_logged_in_elsewhere_is_sent_to_enrol(client, leader, settings):
    settings.TWO_FACTOR = "required"
    client.force_login(leader)
    response = client.get(reverse("staff-home"))
    assert response.url.startswith(reverse("two-factor-enrol"))


def test_off_asks_no_code_even_with_a_device(client, leader, settings):
    settings.TWO_FACTOR = "off"
    enrol(leader)
    assert password_step(client, "lanhdao1").url == reverse("staff-home")
    assert client.get(reverse("staff-home")).status_code == 200
    assert client.get(reverse("login-code")).status_code == 404
    assert client.get(reverse("two-factor-enrol")).status_code == 404
    assert token_login(client, "lanhdao1").status_code == 200


def test_changing_the_mode_recomputes_what_an_open_session_needs(client, leader, settings):
    password_step(client, "lanhdao1")
    assert client.get(reverse("staff-home")).status_code == 200
    settings.TWO_FACTOR = "required"
    assert client.get(reverse("staff-home")).url.startswith(reverse("two-factor-enrol"))


# --- enrolment ---------------------------------------------------------------------------------

def test_enrolment_page_shows_a_qr_code_and_the_secret_in_groups(client, leader, frozen):
    client.force_login(leader)
    html = client.get(reverse("two-factor-enrol")).content.decode()
    device = TOTPDevice.objects.get(user=leader)
    assert not device.confirmed
    assert '<svg' in html and 'class="twofactor-qr"' in html
    secret = base64.b32encode(device.bin_key).decode()
    grouped = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    assert grouped in html
    assert 'inputmode="numeric"' in html and 'autocomplete="one-time-code"' in html
    assert "http" not in html.split('class="twofactor-qr"')[1].split("</svg>")[0]


def test_reloading_the_enrolment_page_keeps_the_same_secret(client, leader):
    client.force_login(leader)
    client.get(reverse("two-factor-enrol"))
    client.get(reverse("two-factor-enrol"))
    assert TOTPDevice.objects.filter(user=leader).count() == 1


def test_qr_code_carries_the_provinces_name_and_the_user(leader):
    device = twofactor.two_factor_start_enrolment(user=leader)
    assert device.config_url.startswith("otpauth://totp/")
    assert "lanhdao1" in device.config_url
    assert "issuer=M%E1%BB%99t%20C%E1%BB%ADa" in device.config_url


def test_wrong_code_does_not_activate_the_device(client, leader, frozen):
    client.force_login(leader)
    client.get(reverse("two-factor-enrol"))
    device = TOTPDevice.objects.get(user=leader)
    response = client.post(reverse("two-factor-enrol"),
                           {"device": device.pk, "otp": wrong_code(device)})
    assert response.status_code == 200
    assert "Mã chưa đúng" in response.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    # Still no code at the next login.
    client.logout()
    assert password_step(client, "lanhdao1").url == reverse("staff-home")


def test_confirmed_enrolment_is_used_at_the_next_login(client, leader, frozen):
    Token.objects.create(user=leader)
    client.force_login(leader)
    client.get(reverse("two-factor-enrol"))
    device = TOTPDevice.objects.get(user=leader)
    response = client.post(reverse("two-factor-enrol"),
                           {"device": device.pk, "otp": code_for(device)})
    assert response.url == reverse("staff-home")
    device.refresh_from_db()
    assert device.confirmed
    assert is_verified(client)
    # A token issued with the password alone does not outlive the switch.
    assert not Token.objects.filter(user=leader).exists()
    client.logout()
    assert password_step(client, "lanhdao1").url == reverse("login-code")


def test_enrolment_code_cannot_log_in_afterwards(client, leader, frozen):
    client.force_login(leader)
    client.get(reverse("two-factor-enrol"))
    device = TOTPDevice.objects.get(user=leader)
    code = code_for(device)
    client.post(reverse("two-factor-enrol"), {"device": device.pk, "otp": code})
    client.logout()
    password_step(client, "lanhdao1")
    assert WRONG_CODE_TEXT in code_step(client, code).content.decode()


def test_enrolled_user_sees_the_status_not_a_new_secret(client, leader, frozen):
    device = enrol(leader)
    password_step(client, "lanhdao1")
    code_step(client, code_for(device))
    html = client.get(reverse("two-factor-enrol")).content.decode()
    assert "Xác thực hai bước đang bật" in html
    assert "<svg" not in html
    assert TOTPDevice.objects.filter(user=leader).count() == 1


def test_someone_elses_pending_device_cannot_be_confirmed(client, leader, officer, frozen):
    other = twofactor.two_factor_start_enrolment(user=officer)
    client.force_login(leader)
    client.post(reverse("two-factor-enrol"), {"device": other.pk, "otp": code_for(other)})
    other.refresh_from_db()
    assert not other.confirmed


def test_enrolment_page_needs_a_login(client):
    response = client.get(reverse("two-factor-enrol"))
    assert response.url.startswith(reverse("login"))


# --- sessions that did not give the code: the admin and the staff pages ------------------------

def test_admin_refuses_a_session_that_only_gave_the_password(client, superuser, frozen):
    device = enrol(superuser)
    # The admin's own login form checks the password only.
    client.post("/admin/login/", {"username": "quantri1", "password": PASSWORD},
                REMOTE_ADDR="10.0.0.1")
    assert is_logged_in(client) and not is_verified(client)
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response.url == f"{reverse('login-code')}?next={quote('/admin/')}"
    finished = client.post(f"{reverse('login-code')}?next=/admin/",
                           {"otp": code_for(device), "next": "/admin/"}, REMOTE_ADDR="10.0.0.1")
    assert finished.url == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_staff_pages_refuse_an_unverified_session_of_an_enrolled_user(client, leader, frozen):
    enrol(leader)
    client.force_login(leader)
    for url in (reverse("staff-home"), reverse("dossier-search")):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login-code"))


def test_session_api_refuses_an_unverified_session_with_json(client, leader, frozen):
    enrol(leader)
    client.force_login(leader)
    response = client.get("/api/v1/dossiers/")
    assert response.status_code == 403
    assert response.json()["code"] == "otp_required"


def test_logout_stays_open_to_an_unverified_session(client, leader, frozen):
    enrol(leader)
    client.force_login(leader)
    client.post(reverse("logout"))
    assert not is_logged_in(client)


def test_public_pages_stay_open_to_visitors(client):
    assert client.get(reverse("public-home")).status_code == 200


def test_ordinary_staff_request_costs_no_extra_query(client, officer, django_assert_num_queries):
    client.force_login(officer)
    client.get(reverse("staff-home"))
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        client.get(reverse("staff-home"))
    assert not any("otp_totp" in q["sql"] for q in queries.captured_queries)


# --- the API token -----------------------------------------------------------------------------

def test_api_token_of_an_enrolled_user_needs_the_code(client, leader, frozen):
    device = enrol(leader)
    missing = token_login(client, "lanhdao1")
    assert missing.status_code == 400
    assert missing.json()["code"] == "otp_required"
    assert "otp" in missing.json()["detail"]
    wrong = token_login(client, "lanhdao1", otp=wrong_code(device))
    assert wrong.status_code == 400
    assert wrong.json()["code"] == "otp_invalid"
    assert "Mã xác thực không đúng" in wrong.json()["detail"]
    frozen.shift(dt.timedelta(seconds=5))
    code = code_for(device)
    right = token_login(client, "lanhdao1", otp=code)
    assert right.status_code == 200
    assert right.json()["token"] == Token.objects.get(user=leader).key
    replay = token_login(client, "lanhdao1", otp=code)
    assert replay.status_code == 400 and replay.json()["code"] == "otp_invalid"


def test_api_token_wrong_password_is_refused_before_the_code(client, leader, frozen):
    device = enrol(leader)
    response = client.post(reverse("api-token"), {"username": "lanhdao1", "password": "sai",
                                                  "otp": code_for(device)})
    assert response.status_code == 400
    device.refresh_from_db()
    assert device.last_t == -1  # the code was not spent


def test_api_token_codes_count_toward_the_lockout(client, leader, frozen):
    device = enrol(leader)
    for _ in range(4):
        frozen.shift(dt.timedelta(seconds=20))
        assert token_login(client, "lanhdao1", otp=wrong_code(device)).status_code == 400
    frozen.shift(dt.timedelta(seconds=20))
    fifth = token_login(client, "lanhdao1", otp=wrong_code(device))
    assert fifth.status_code == 429
    assert fifth.json()["code"] == "login_locked"
    assert CODE_LOCKED_TEXT in fifth.json()["detail"]
    assert token_login(client, "lanhdao1", otp=code_for(device)).status_code == 429


def test_api_token_rapid_guesses_wait(client, leader, frozen):
    device = enrol(leader)
    token_login(client, "lanhdao1", otp=wrong_code(device))
    response = token_login(client, "lanhdao1", otp=code_for(device))
    assert response.status_code == 429
    assert response.json()["code"] == "otp_throttled"
    assert response["Retry-After"] == "1"


def test_api_token_of_a_required_leader_without_device_is_refused(client, leader, settings):
    settings.TWO_FACTOR = "required"
    response = token_login(client, "lanhdao1")
    assert response.status_code == 400
    assert response.json()["code"] == "otp_enrolment_required"
    assert not Token.objects.filter(user=leader).exists()


def test_api_token_of_a_user_without_device_needs_no_code(client, officer):
    assert token_login(client, "chuyenvien1").status_code == 200


# --- recovery: the reset -----------------------------------------------------------------------

def test_reset_command_removes_the_device_and_logs_it(client, leader, frozen, caplog):
    enrol(leader)
    with caplog.at_level(logging.WARNING, logger="motcua.twofactor"):
        call_command("reset_two_factor", "lanhdao1", "--by", "phiếu 42")
    assert not TOTPDevice.objects.filter(user=leader).exists()
    assert any("reset" in r.getMessage() and "lanhdao1" in r.getMessage()
               and "phiếu 42" in r.getMessage() for r in caplog.records)
    assert password_step(client, "lanhdao1").url == reverse("staff-home")


def test_reset_command_refuses_an_unknown_user():
    with pytest.raises(CommandError):
        call_command("reset_two_factor", "khong-co")


def test_reset_ends_the_verified_state_of_open_sessions(client, leader, settings, frozen):
    settings.TWO_FACTOR = "required"
    device = enrol(leader)
    password_step(client, "lanhdao1")
    code_step(client, code_for(device))
    assert client.get(reverse("staff-home")).status_code == 200
    twofactor.two_factor_reset(user=leader, actor="test")
    response = client.get(reverse("staff-home"), follow=True)
    assert response.redirect_chain[-1][0].startswith(reverse("two-factor-enrol"))


def test_admin_action_resets_the_chosen_users(leader, officer, superuser, rf, caplog):
    enrol(leader)
    enrol(officer)
    sent = []

    class UserAdmin:
        def message_user(self, request, message, level):
            sent.append(str(message))

    request = rf.post("/admin/auth/user/")
    request.user = superuser
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(pk=leader.pk)
    with caplog.at_level(logging.WARNING, logger="motcua.twofactor"):
        twofactor.reset_two_factor_action(UserAdmin(), request, users)
    assert not TOTPDevice.objects.filter(user=leader).exists()
    assert TOTPDevice.objects.filter(user=officer).exists()
    assert sent == ["Đã đặt lại xác thực hai bước cho 1 tài khoản."]
    assert any("admin:quantri1" in r.getMessage() for r in caplog.records)


# --- settings ----------------------------------------------------------------------------------

def test_default_mode_is_optional_for_leaders_supervisors_and_catalogue_admins():
    from django.conf import settings

    assert settings.TWO_FACTOR == "optional"
    assert set(settings.TWO_FACTOR_ROLES) == {"leader", "supervisor", "catalogue_admin"}
    assert "motcua.twofactor.TwoFactorMiddleware" in settings.MIDDLEWARE
    middleware = settings.MIDDLEWARE
    assert middleware.index("motcua.twofactor.TwoFactorMiddleware") == (
        middleware.index("django_otp.middleware.OTPMiddleware") + 1
    )


def test_the_settings_role_list_knows_every_role():
    source = (ROOT / "motcua" / "settings.py").read_text()
    block = source.split("_unknown_roles = set(TWO_FACTOR_ROLES) - {")[1].split("}")[0]
    for value in Role.values:
        assert f'"{value}"' in block


@pytest.mark.parametrize("env", [{"TWO_FACTOR": "sometimes"}, {"TWO_FACTOR_ROLES": "boss"}])
def test_a_mistyped_setting_stops_the_start(env):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "motcua.settings", **env},
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr


def test_token_login_records_no_login_state_in_a_session(client, leader, frozen):
    device = enrol(leader)
    response = token_login(client, "lanhdao1", otp=code_for(device))
    assert response.status_code == 200
    assert twofactor.STATE_SESSION_KEY not in client.session
    assert not is_logged_in(client)


@pytest.mark.django_db(transaction=True)
def test_the_same_code_sent_twice_at_once_is_accepted_once(django_user_model):
    import threading

    from django.db import connection

    leader = django_user_model.objects.create_user("lanhdao2", password=PASSWORD)
    device = enrol(leader)
    code = code_for(device)
    barrier = threading.Barrier(2)
    results = []

    def attempt():
        try:
            barrier.wait()
            results.append(twofactor.two_factor_verify(user=leader, code=code).ok)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
