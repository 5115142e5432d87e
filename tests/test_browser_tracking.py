"""Public tracking in a real browser (Chromium through Playwright) at phone width (390×844): the
receipt's QR link fills the code, the citizen types the phone with the keyboard and sees the
state, what to do next and the timeline; a wrong phone shows the one generic message."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import os
import re

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from tests.dossier_factories import APPLICANT, dossier_in, make_procedure, org  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = APPLICANT["phone"]
#: Set to a directory to keep the screenshots (they are taken in any case).
SHOTS = os.environ.get("TRACKING_SCREENSHOTS")


@pytest.fixture(autouse=True)
def fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def dossier(org):
    version = make_procedure(agency=org.a)
    return dossier_in(org, version, "supplement_requested")


def shot(page, name: str, tmp_path) -> None:
    folder = SHOTS or str(tmp_path)
    page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width}px wide at phone width"


def test_citizen_tracks_from_the_qr_link_on_a_phone(page, live_server, dossier, tmp_path):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/tra-cuu/?ma={dossier.code}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Tra cứu hồ sơ")
    code = page.get_by_label("Mã hồ sơ")
    expect(code).to_have_value(dossier.code)
    phone = page.get_by_label("Số điện thoại di động")
    expect(phone).to_be_focused()  # the code is there: straight to the phone
    no_sideways_scroll(page)
    shot(page, "track-form", tmp_path)

    phone.press_sequentially("0912 345 678", delay=5)
    phone.press("Enter")

    result = page.locator(".track-result")
    expect(result.get_by_role("heading", name=dossier.code)).to_be_visible()
    expect(result.locator(".track-badge")).to_have_text("Yêu cầu bổ sung")
    next_step = page.get_by_role("region", name="Bạn cần làm gì")
    expect(next_step).to_contain_text("Bổ sung giấy tờ")
    expect(next_step).to_contain_text("Bản sao sổ hộ khẩu")
    timeline = page.get_by_role("region", name="Quá trình giải quyết").get_by_role("listitem")
    expect(timeline.filter(has_text="Hồ sơ được tiếp nhận")).to_have_count(1)
    expect(timeline.filter(has_text="Yêu cầu bổ sung hồ sơ")).to_have_count(1)
    expect(timeline.first.locator("time")).to_have_text(re.compile(r"\d\d:\d\d \d\d/\d\d/\d{4}"))
    # Nothing personal on the screen; the phone is not in the address bar.
    body = page.locator("body").inner_text()
    assert APPLICANT["name"] not in body and APPLICANT["id_number"] not in body
    assert "0912" not in page.url and page.url.endswith("/tra-cuu/")
    no_sideways_scroll(page)
    shot(page, "track-result", tmp_path)


def test_wrong_phone_shows_the_generic_message(page, live_server, dossier, tmp_path):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/tra-cuu/?ma={dossier.code}")
    page.get_by_label("Số điện thoại di động").fill("0987000111")
    page.get_by_role("button", name="Tra cứu").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Không tìm thấy hồ sơ với mã và số điện thoại này")
    expect(page.locator(".track-result")).to_have_count(0)
    # What was typed stays, to correct it.
    expect(page.get_by_label("Mã hồ sơ")).to_have_value(dossier.code)
    no_sideways_scroll(page)
    shot(page, "track-wrong-phone", tmp_path)


def test_keyboard_only_with_a_malformed_phone_gets_an_error_next_to_the_field(
    page, live_server, dossier
):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/tra-cuu/")
    code = page.get_by_label("Mã hồ sơ")
    expect(code).to_be_focused()
    page.keyboard.type(dossier.code)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Số điện thoại di động")).to_be_focused()
    page.keyboard.type("12345")
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Tra cứu")).to_be_focused()
    page.keyboard.press("Enter")
    phone = page.get_by_label("Số điện thoại di động")
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#track-phone-error")).to_contain_text("Số điện thoại di động không hợp lệ")
