"""Ratings in a real browser (Chromium through Playwright): a citizen rates a returned dossier
on a phone from the receipt's link; at the desk, the kiosk takes a scanned code, shows the
criteria as very large buttons, thanks the citizen and starts again by itself — also when
nobody touches it."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from ratings.models import Rating
from tests.dossier_factories import APPLICANT, build_org, dossier_in, make_procedure

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("RATING_SCREENSHOTS")
PHONE = APPLICANT["phone"]


@pytest.fixture(autouse=True)
def _clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def returned(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    org = build_org()
    version = make_procedure(agency=org.a, name="Cấp giấy phép hoạt động thử nghiệm")
    return dossier_in(org, version, "returned")


@pytest.fixture
def quick_kiosk(monkeypatch):
    """The kiosk's pauses, shortened so that the test waits seconds, not minutes."""
    from ratings import views

    monkeypatch.setattr(views, "KIOSK_THANKS_SECONDS", 2)
    monkeypatch.setattr(views, "KIOSK_IDLE_SECONDS", 3)


def shot(page, name: str, tmp_path) -> None:
    folder = SHOTS or str(tmp_path)
    page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_citizen_rates_a_returned_dossier_on_a_phone_from_the_receipt_link(
    page, live_server, returned, tmp_path
):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/danh-gia/?ma={returned.code}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Đánh giá mức độ hài lòng")
    expect(page.get_by_label("Mã hồ sơ")).to_have_value(returned.code)
    assert no_sideways_scroll(page)

    # Sent without the main criterion: the page says what is missing, focus on the message.
    page.get_by_label("Số điện thoại đã đăng ký").fill(PHONE)
    page.get_by_role("button", name="Gửi đánh giá").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Phiếu đánh giá chưa hợp lệ")
    expect(alert).to_be_focused()
    overall = page.get_by_role("group", name=re.compile("Mức độ hài lòng chung"))
    expect(overall).to_contain_text("Vui lòng chọn mức độ hài lòng chung.")

    # The phone is not kept in the address bar; the code is.
    assert PHONE not in page.url
    page.get_by_label("Số điện thoại đã đăng ký").fill(PHONE)
    overall.get_by_text("Rất hài lòng").click()
    expect(overall.get_by_role("radio", name="Rất hài lòng")).to_be_checked()

    # Keyboard: a radio group is one tab stop; arrows move the choice.
    attitude = page.get_by_role("group", name=re.compile("Thái độ của cán bộ"))
    attitude.get_by_role("radio", name="Rất hài lòng").focus()
    page.keyboard.press("ArrowRight")
    expect(attitude.get_by_role("radio", name="Hài lòng", exact=True)).to_be_checked()

    page.get_by_label("Góp ý thêm").fill("Cán bộ một cửa hướng dẫn <b>tận tình</b>.")
    assert no_sideways_scroll(page)
    shot(page, "rating-phone-form", tmp_path)
    page.get_by_role("button", name="Gửi đánh giá").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Cảm ơn ông/bà đã đánh giá")
    expect(page.get_by_role("status")).to_contain_text(returned.code)
    assert PHONE not in page.url
    shot(page, "rating-phone-thanks", tmp_path)
    rating = Rating.objects.get(dossier=returned)
    assert (rating.overall, rating.attitude, rating.source) == (
        "very_satisfied", "satisfied", "link")
    assert rating.comment == "Cán bộ một cửa hướng dẫn <b>tận tình</b>."

    # Rated once: the same link now says so.
    page.goto(f"{live_server.url}/danh-gia/?ma={returned.code}")
    page.get_by_label("Số điện thoại đã đăng ký").fill(PHONE)
    page.get_by_role("group", name=re.compile("Mức độ hài lòng chung")).get_by_text(
        "Không hài lòng").click()
    page.get_by_role("button", name="Gửi đánh giá").click()
    expect(page.get_by_role("alert")).to_contain_text("Hồ sơ này đã được đánh giá")
    assert Rating.objects.get(dossier=returned).overall == "very_satisfied"


def test_kiosk_rates_a_scanned_dossier_thanks_and_starts_again(
    page, live_server, returned, quick_kiosk, tmp_path
):
    page.set_viewport_size({"width": 800, "height": 1280})
    kiosk = f"{live_server.url}/danh-gia/quay/"
    page.goto(kiosk)
    code = page.get_by_label("Mã hồ sơ")
    expect(code).to_be_focused()
    assert page.locator("nav.mainnav a").count() == 0  # no way away from the kiosk

    # The QR code on the receipt: a keyboard-wedge scanner types the tracking URL and Enter.
    code.press_sequentially(f"https://motcua.example.vn/tra-cuu/?ma={returned.code}", delay=2)
    code.press("Enter")
    phone = page.get_by_label("Số điện thoại đã đăng ký")
    expect(phone).to_be_focused()
    expect(code).to_have_value(returned.code)
    phone.press_sequentially(PHONE, delay=5)
    phone.press("Enter")

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Ông/bà hài lòng với việc giải quyết hồ sơ?")
    expect(page.locator(".kiosk-lead")).to_contain_text("Cấp giấy phép hoạt động thử nghiệm")
    overall = page.get_by_role("group", name=re.compile("Mức độ hài lòng chung"))
    big = overall.locator("label.rate-level").first.bounding_box()
    assert big["height"] >= 180 and big["width"] >= 200  # very large targets
    shot(page, "rating-kiosk-criteria", tmp_path)
    overall.get_by_text("Hài lòng", exact=True).click()
    page.get_by_role("group", name=re.compile("Thời gian giải quyết")).get_by_text(
        "Không hài lòng").click()
    page.get_by_role("button", name="Gửi đánh giá").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Cảm ơn ông/bà đã đánh giá!")
    shot(page, "rating-kiosk-thanks", tmp_path)
    rating = Rating.objects.get(dossier=returned)
    assert (rating.source, rating.overall, rating.time) == ("kiosk", "satisfied", "dissatisfied")

    # Starts again by itself: the first screen, empty, ready for the next citizen.
    page.wait_for_url(kiosk, timeout=10_000)
    expect(page.get_by_label("Mã hồ sơ")).to_have_value("")
    expect(page.get_by_label("Mã hồ sơ")).to_be_focused()
    expect(page.get_by_label("Số điện thoại đã đăng ký")).to_have_value("")
    assert returned.code not in page.content()


def test_kiosk_clears_what_was_left_when_nobody_touches_it(
    page, live_server, returned, quick_kiosk
):
    page.set_viewport_size({"width": 800, "height": 1280})
    kiosk = f"{live_server.url}/danh-gia/quay/"
    page.goto(kiosk)
    page.get_by_label("Mã hồ sơ").fill(returned.code)
    page.get_by_label("Số điện thoại đã đăng ký").fill("0987654321")
    page.get_by_role("button", name="Tiếp tục").click()
    expect(page.get_by_role("alert")).to_contain_text("Không tìm thấy hồ sơ")
    # Left half-done: after the idle time the first screen is empty again.
    expect(page.get_by_label("Mã hồ sơ")).to_have_value("", timeout=8_000)
    expect(page.get_by_role("alert")).to_have_count(0)

    # Left on the criteria screen: back to the first screen, nothing stored.
    page.get_by_label("Mã hồ sơ").fill(returned.code)
    page.get_by_label("Số điện thoại đã đăng ký").fill(PHONE)
    page.get_by_role("button", name="Tiếp tục").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Ông/bà hài lòng với việc giải quyết hồ sơ?")
    page.get_by_role("group", name=re.compile("Mức độ hài lòng chung")).get_by_text(
        "Rất hài lòng").click()
    expect(page.get_by_label("Mã hồ sơ")).to_have_value("", timeout=10_000)
    assert page.url == kiosk
    assert not Rating.objects.exists()
