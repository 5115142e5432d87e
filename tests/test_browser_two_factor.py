"""A leader turns on the second factor in the browser, then logs in with password and code."""

import base64
import time

import pytest
from django_otp.oath import totp

from motcua.models import Role
from tests.factories import StaffRoleFactory, UnitFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
PASSWORD = "mat-khau-an-toan-9"


def code_from_secret(secret: str, steps_ahead: int = 0) -> str:
    """What the phone would show: the secret as the page printed it, in groups."""
    packed = secret.replace(" ", "")
    key = base64.b32decode(packed + "=" * (-len(packed) % 8))
    return f"{totp(key, t0=-30 * steps_ahead):06d}"


def test_leader_enrols_an_authenticator_and_logs_in_with_a_code(page, live_server,
                                                                django_user_model):
    leader = django_user_model.objects.create_user("lanhdao9", password=PASSWORD,
                                                   first_name="Hà")
    StaffRoleFactory(user=leader, unit=UnitFactory(), role=Role.LEADER)
    page.goto(f"{live_server.url}/staff/login/")
    page.get_by_label("Tên đăng nhập").fill("lanhdao9")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server.url}/staff/")

    page.goto(f"{live_server.url}/staff/two-factor/")
    assert page.locator("svg.twofactor-qr").is_visible()
    secret = page.locator("[data-secret]").inner_text()
    code_input = page.get_by_label("Mã xác thực")
    assert code_input.evaluate("el => el === document.activeElement")
    code_input.fill(code_from_secret(secret))
    page.get_by_role("button", name="Bật xác thực hai bước").click()
    page.wait_for_url(f"{live_server.url}/staff/")
    assert "Đã bật xác thực hai bước" in page.content()

    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url(f"{live_server.url}/staff/login/")
    page.get_by_label("Tên đăng nhập").fill("lanhdao9")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server.url}/staff/login/code/")
    # A wrong code first: refused, in Vietnamese, and the field is ready for the next try.
    page.get_by_label("Mã xác thực").fill("000000" if code_from_secret(secret) != "000000"
                                         else "111111")
    page.get_by_role("button", name="Xác nhận").click()
    assert page.locator("[data-code-error]").is_visible()
    time.sleep(1.1)  # the device waits a second after a miss
    # The enrolment spent this 30 seconds' code: the next one (the tolerance accepts it).
    page.get_by_label("Mã xác thực").fill(code_from_secret(secret, steps_ahead=1))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{live_server.url}/staff/")
    assert "Xin chào, Hà" in page.content()
