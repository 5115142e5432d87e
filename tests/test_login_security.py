"""Staff login security: lock-out after repeated wrong passwords (django-axes, on our own login
page, the admin and the API token endpoint), strong passwords, sessions that expire."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import translation

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "MotCua@2026"
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=7)))
LOCKED_TEXT = "Đăng nhập bị tạm khoá vì mật khẩu đã nhập sai 5 lần liên tiếp"
WRONG_TEXT = "Tên đăng nhập hoặc mật khẩu không đúng"


@pytest.fixture
def officer(django_user_model):
    return django_user_model.objects.create_user("officer7", password=PASSWORD, first_name="Bình")


@pytest.fixture
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def web_login(client, username, password, address="10.0.0.1"):
    return client.post(
        reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address
    )


def token_login(client, username, password, address="10.0.0.1"):
    return client.post(
        reverse("api-token"), {"username": username, "password": password},
        REMOTE_ADDR=address,
    )


def is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


# --- the web login ----------------------------------------------------------------------------

@pytest.mark.django_db
def test_four_wrong_passwords_only_say_wrong_password(client, officer, frozen):
    for _ in range(4):
        response = web_login(client, "officer7", "sai-mat-khau")
        assert response.status_code == 200
        html = response.content.decode()
        assert WRONG_TEXT in html
        assert LOCKED_TEXT not in html


@pytest.mark.django_db
def test_fifth_wrong_password_locks_with_a_clear_vietnamese_message_on_our_page(
    client, officer, frozen
):
    for _ in range(4):
        web_login(client, "officer7", "sai-mat-khau")
    response = web_login(client, "officer7", "sai-mat-khau")
    html = response.content.decode()
    assert response.status_code == 429
    assert LOCKED_TEXT in html
    assert "thử lại sau 30 phút" in html
    assert "Đăng nhập cán bộ" in html  # our page, not axes' plain text
    assert 'value="officer7"' in html


@pytest.mark.django_db
def test_locked_user_is_refused_even_with_the_right_password(client, officer, frozen):
    for _ in range(5):
        web_login(client, "officer7", "sai-mat-khau")
    response = web_login(client, "officer7", PASSWORD)
    assert response.status_code == 429
    assert LOCKED_TEXT in response.content.decode()
    assert not is_logged_in(client)
    assert client.get(reverse("staff-home")).status_code == 302


@pytest.mark.django_db
def test_lock_holds_for_thirty_minutes_then_the_right_password_works(client, officer, frozen):
    for _ in range(5):
        web_login(client, "officer7", "sai-mat-khau")
    frozen.shift(dt.timedelta(minutes=29))
    assert web_login(client, "officer7", PASSWORD).status_code == 429
    frozen.shift(dt.timedelta(minutes=2))
    response = web_login(client, "officer7", PASSWORD)
    assert response.status_code == 302
    assert is_logged_in(client)


@pytest.mark.django_db
def test_tries_during_the_lock_do_not_extend_it(client, officer, frozen):
    for _ in range(5):
        web_login(client, "officer7", "sai-mat-khau")
    for _ in range(5):
        frozen.shift(dt.timedelta(minutes=5))
        web_login(client, "officer7", "sai-mat-khau")
    frozen.shift(dt.timedelta(minutes=6))  # 31 minutes after the fifth failure
    assert web_login(client, "officer7", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_lock_is_for_that_user_at_that_address_only(client, officer, django_user_model, frozen):
    django_user_model.objects.create_user("clerk7", password=PASSWORD)
    for _ in range(5):
        web_login(client, "officer7", "sai-mat-khau", address="10.0.0.1")
    # The same person from another machine, and a colleague at the same machine, still log in.
    assert web_login(client, "officer7", PASSWORD, address="10.0.0.2").status_code == 302
    client.logout()
    assert web_login(client, "clerk7", PASSWORD, address="10.0.0.1").status_code == 302


@pytest.mark.django_db
def test_success_before_the_limit_starts_the_count_again(client, officer, frozen):
    for _ in range(4):
        web_login(client, "officer7", "sai-mat-khau")
    assert web_login(client, "officer7", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        response = web_login(client, "officer7", "sai-mat-khau")
        assert response.status_code == 200
    assert web_login(client, "officer7", PASSWORD).status_code == 302


@pytest.mark.django_db
def test_forwarded_for_header_does_not_escape_the_lock_without_proxies(client, officer, frozen):
    for index in range(5):
        client.post(
            reverse("login"), {"username": "officer7", "password": "sai"},
            REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR=f"203.0.113.{index}",
        )
    response = client.post(
        reverse("login"), {"username": "officer7", "password": PASSWORD},
        REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.99",
    )
    assert response.status_code == 429


@pytest.mark.django_db
def test_admin_login_is_locked_by_the_same_failures(client, officer, frozen):
    officer.is_staff = True
    officer.save()
    for _ in range(5):
        web_login(client, "officer7", "sai-mat-khau")
    response = client.post(
        "/admin/login/", {"username": "officer7", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1"
    )
    assert response.status_code == 429
    assert not is_logged_in(client)


@pytest.mark.django_db
def test_unknown_user_name_is_locked_the_same_way_so_nothing_is_revealed(client, frozen):
    for _ in range(4):
        assert WRONG_TEXT in web_login(client, "khong-ton-tai", "sai").content.decode()
    response = web_login(client, "khong-ton-tai", "sai")
    assert response.status_code == 429
    assert LOCKED_TEXT in response.content.decode()


@pytest.mark.django_db
def test_recorded_attempts_do_not_keep_the_password(client, officer, frozen):
    from axes.models import AccessAttempt

    web_login(client, "officer7", "bi-mat-sai-123")
    attempt = AccessAttempt.objects.get(username="officer7")
    assert attempt.ip_address == "10.0.0.1"
    assert attempt.failures_since_start == 1
    assert "bi-mat-sai-123" not in attempt.post_data


@pytest.mark.django_db
def test_test_client_login_without_a_request_still_works(client, officer):
    assert client.login(username="officer7", password=PASSWORD)


# --- the API token ----------------------------------------------------------------------------

@pytest.mark.django_db
def test_api_token_endpoint_locks_after_five_wrong_passwords(client, officer, frozen):
    for _ in range(4):
        response = token_login(client, "officer7", "sai-mat-khau")
        assert response.status_code == 400
        assert "Không thể đăng nhập" in str(response.json())
    fifth = token_login(client, "officer7", "sai-mat-khau")
    assert fifth.status_code == 429
    assert fifth.json()["code"] == "login_locked"
    assert LOCKED_TEXT in fifth.json()["detail"]
    right = token_login(client, "officer7", PASSWORD)
    assert right.status_code == 429
    assert "token" not in right.json()


@pytest.mark.django_db
def test_api_token_is_issued_from_another_address_during_the_lock(client, officer, frozen):
    for _ in range(5):
        token_login(client, "officer7", "sai-mat-khau")
    response = token_login(client, "officer7", PASSWORD, address="10.0.0.2")
    assert response.status_code == 200
    assert len(response.json()["token"]) == 40


@pytest.mark.django_db
def test_api_token_success_before_the_limit_starts_the_count_again(client, officer, frozen):
    for _ in range(4):
        token_login(client, "officer7", "sai-mat-khau")
    first = token_login(client, "officer7", PASSWORD)
    assert first.status_code == 200
    for _ in range(4):
        assert token_login(client, "officer7", "sai-mat-khau").status_code == 400
    second = token_login(client, "officer7", PASSWORD)
    assert second.status_code == 200
    assert second.json()["token"] == first.json()["token"]


@pytest.mark.django_db
def test_web_and_api_failures_count_together(client, officer, frozen):
    for _ in range(3):
        web_login(client, "officer7", "sai-mat-khau")
    for _ in range(2):
        token_login(client, "officer7", "sai-mat-khau")
    assert web_login(client, "officer7", PASSWORD).status_code == 429
    assert token_login(client, "officer7", PASSWORD).status_code == 429


# --- passwords --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "password, complaint",
    [
        ("Ab@12345", "Mật khẩu quá ngắn: cần ít nhất 10 ký tự"),
        ("12345678901", "hoàn toàn là số"),
        ("password123", "quá phổ biến"),
        ("nguyenvanan2026", "quá giống"),
    ],
)
@pytest.mark.django_db
def test_weak_password_is_refused_with_a_vietnamese_reason(django_user_model, password, complaint):
    user = django_user_model(username="nguyenvanan2026", first_name="An")
    with translation.override("vi"), pytest.raises(ValidationError) as refused:
        validate_password(password, user=user)
    assert any(complaint in message for message in refused.value.messages)


@pytest.mark.django_db
def test_minimum_length_is_ten(django_user_model):
    user = django_user_model(username="clerk8")
    with pytest.raises(ValidationError):
        validate_password("Kq7#mZ2@x", user=user)  # 9 characters
    validate_password("Kq7#mZ2@xw", user=user)  # 10


@pytest.mark.django_db
def test_demo_password_passes_the_validators(django_user_model):
    validate_password(PASSWORD, user=django_user_model(username="clerk1"))


# --- sessions ---------------------------------------------------------------------------------

@pytest.mark.django_db
def test_session_lasts_one_working_day_and_ends_with_the_browser(client, officer, frozen):
    response = web_login(client, "officer7", PASSWORD)
    cookie = response.cookies["sessionid"]
    assert cookie["max-age"] == ""  # a browser-session cookie: closing the browser ends it
    assert client.session.get_expiry_age() == 8 * 3600
    frozen.shift(dt.timedelta(hours=7, minutes=59))
    assert client.get(reverse("staff-home")).status_code == 200
    frozen.shift(dt.timedelta(minutes=2))
    response = client.get(reverse("staff-home"))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def read_settings(env: dict) -> str:
    full_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    full_env.update({"DJANGO_SETTINGS_MODULE": "motcua.settings", **env})
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_AGE, s.SESSION_EXPIRE_AT_BROWSER_CLOSE, s.AXES_FAILURE_LIMIT, "
        "int(s.AXES_COOLOFF_TIME.total_seconds()))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=full_env, capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_defaults_are_a_working_day_five_failures_and_thirty_minutes():
    assert read_settings({}) == "28800 True 5 1800"


def test_limits_come_from_the_environment():
    env = {"SESSION_COOKIE_AGE": "3600", "LOGIN_MAX_FAILURES": "3", "LOGIN_LOCK_MINUTES": "60"}
    assert read_settings(env) == "3600 True 3 3600"


# --- in the browser ---------------------------------------------------------------------------

@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_staff_member_sees_the_lockout_message_in_the_browser(page, live_server, officer):
    page.goto(f"{live_server.url}/staff/login/")
    for _ in range(5):
        page.get_by_label("Tên đăng nhập").fill("officer7")
        page.get_by_label("Mật khẩu").fill("sai-mat-khau")
        page.get_by_role("button", name="Đăng nhập").click()
        page.wait_for_load_state()
    alert = page.locator("[data-lockout]")
    assert LOCKED_TEXT in alert.inner_text()
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_load_state()
    assert "/staff/login/" in page.url
    assert LOCKED_TEXT in page.locator("[data-lockout]").inner_text()
