import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_staff_member_logs_in_through_our_page(page, live_server, django_user_model):
    django_user_model.objects.create_user("officer9", password="mat-khau-an-toan-9", first_name="An")
    page.goto(f"{live_server.url}/staff/login/")
    page.get_by_label("Tên đăng nhập").fill("officer9")
    page.get_by_label("Mật khẩu").fill("mat-khau-an-toan-9")
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server.url}/staff/")
    assert "Xin chào" in page.content()
