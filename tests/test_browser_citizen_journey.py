"""The citizen's whole journey in a real browser (Chromium through Playwright), the citizen on a
phone (390×844), the staff at a desktop (1366×768): the citizen finds a procedure in the public
catalogue typed without diacritics, submits it online with an upload and gets a provisional
code; clerk1 receives it at the desk (the real code); officer1 starts it, moves it through its
two steps and submits it for approval; leader1 approves; clerk1 hands the result back; the
citizen tracks it with code and phone, sees "Đã trả kết quả" and the timeline, follows the
rating link, rates — and a second rating is refused in plain words.

Every step goes through the browser, as the existing browser tests of each screen do; nothing
is prepared behind the scenes except the demo organisation, the demo users and one procedure.
Waits are on visible text (Playwright's ``expect``), never sleeps."""

from __future__ import annotations

import os
import re

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from dossiers.models import Dossier, State
from motcua.demo import DEFAULT_DEMO_PASSWORD, seed_organisation, seed_users
from procedures.services import procedure_create
from ratings.models import Rating
from tests.test_dossier_screens import PDF_BYTES, PNG_BYTES, notary_office

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: Set to a directory to keep the screenshots (they are taken in any case).
SHOTS = os.environ.get("JOURNEY_SCREENSHOTS")
PHONE_SIZE = {"width": 390, "height": 844}
DESKTOP_SIZE = {"width": 1366, "height": 768}
NAME = "Thủ tục đăng ký hoạt động Văn phòng công chứng"
CITIZEN_PHONE = "0987654321"


@pytest.fixture(autouse=True)
def fresh_cache():
    """Throttles, lock-outs and the queue's cached counts of earlier tests must not leak in."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def portal(settings, tmp_path):
    """The demo organisation and users (clerk1, officer1, leader1) and one procedure of Sở Tư
    pháp that accepts online submission: desk → appraisal → draft → approval → return."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    seed_organisation()
    seed_users(password=DEFAULT_DEMO_PASSWORD)
    return procedure_create(data=notary_office(), actor=None).current_version


def shot(page, name: str, tmp_path) -> None:
    folder = SHOTS or str(tmp_path)
    page.screenshot(path=os.path.join(folder, f"journey-{name}.png"), full_page=True)


def no_sideways_scroll(page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page is {width}px wide"


def staff_log_in(page, live_server, username: str) -> None:
    page.set_viewport_size(DESKTOP_SIZE)
    page.goto(f"{live_server.url}/staff/login/")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(DEFAULT_DEMO_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server.url}/staff/")


def staff_log_out(page) -> None:
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url(re.compile(r"/staff/login/|/$"))


def act(page, transition: str, button: str, *, expect_state: str, **fields: str) -> None:
    """Run one action of the dossier page (its form is the ``#act-<transition>`` panel)."""
    panel = page.locator(f"#act-{transition}")
    if panel.get_attribute("open") is None:
        panel.locator("summary").click()
    for label, value in fields.items():
        panel.get_by_label(label).fill(value)
    panel.get_by_role("button", name=button).click()
    expect(page.locator(".dossier-head")).to_contain_text(expect_state)


def test_citizen_submits_online_tracks_the_returned_result_and_rates_it_once(
    page, live_server, portal, tmp_path
):
    # 1. The citizen, on a phone, searches the public catalogue without diacritics.
    page.set_viewport_size(PHONE_SIZE)
    page.goto(f"{live_server.url}/")
    search = page.get_by_role("searchbox")
    search.fill("van phong cong chung")
    search.press("Enter")
    results = page.locator("#public-results")
    expect(results).to_contain_text("Tìm thấy 1 thủ tục")
    results.get_by_role("link", name=re.compile("Văn phòng công chứng")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(NAME)
    no_sideways_scroll(page)
    shot(page, "1-procedure", tmp_path)

    # 2. It accepts online submission: the form, with the mandatory papers uploaded.
    page.get_by_role("link", name="Nộp hồ sơ trực tuyến").last.click()
    page.get_by_label("Họ và tên").fill("Trần Thị Bích Ngọc")
    page.get_by_label("Số định danh cá nhân (CCCD)").fill("089190004567")
    page.get_by_label("Số điện thoại di động").fill(CITIZEN_PHONE)
    files = page.locator("input[type=file]")
    files.nth(0).set_input_files(
        files=[{"name": "don-de-nghi.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}])
    files.nth(1).set_input_files(
        files=[{"name": "quyet-dinh.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}])
    files.nth(2).set_input_files(
        files=[{"name": "tru-so.png", "mimeType": "image/png", "buffer": PNG_BYTES}])
    page.get_by_label(re.compile("Tôi cam đoan")).check()
    no_sideways_scroll(page)
    page.get_by_role("button", name="Nộp hồ sơ").click()

    # 3. The provisional code.
    code_box = page.locator("#provisional-code")
    expect(code_box).to_have_text(re.compile(r"^TT-\d{6}-[0-9A-Z]{8}$"))
    provisional = code_box.inner_text()
    expect(page.get_by_text("Mới đăng ký")).to_be_visible()
    no_sideways_scroll(page)
    shot(page, "2-submitted", tmp_path)
    dossier = Dossier.objects.get(provisional_code=provisional)
    assert dossier.state == State.SUBMITTED and dossier.attachments.count() == 3

    # 4. clerk1 receives it at the desk: the real code.
    staff_log_in(page, live_server, "clerk1")
    page.goto(f"{live_server.url}/staff/dossiers/tiep-nhan/")
    page.get_by_role("link", name=re.compile("Trực tuyến chờ tiếp nhận")).click()
    page.get_by_role("link", name=provisional).click()
    act(page, "receive", "Tiếp nhận hồ sơ", expect_state="Đã tiếp nhận")
    dossier.refresh_from_db()
    code = dossier.code
    assert re.fullmatch(r"000\.00\.10\.H01-\d{6}-\d{4}", code)
    expect(page.locator(".dossier-head")).to_contain_text(code)
    staff_log_out(page)

    # 5. officer1 (the appraisal unit) takes it from the queue, appraises, drafts the result
    #    and submits it for approval.
    staff_log_in(page, live_server, "officer1")
    page.get_by_role("link", name="Hồ sơ cần xử lý").first.click()
    page.get_by_role("link", name=code).click()
    act(page, "start", "Chuyển xử lý", expect_state="Đang xử lý")
    act(page, "forward", "Chuyển bước tiếp theo", expect_state="Đang xử lý",
        **{"Ý kiến": "Hồ sơ đủ điều kiện; chuyển dự thảo kết quả."})
    expect(page.locator(".messages")).to_contain_text("Chuyển bước tiếp theo: đã thực hiện")
    act(page, "submit_for_approval", "Trình phê duyệt", expect_state="Chờ phê duyệt",
        **{"Dự thảo kết quả": "Cấp Giấy đăng ký hoạt động Văn phòng công chứng."})
    staff_log_out(page)

    # 6. leader1 approves from the "awaiting approval" queue.
    staff_log_in(page, live_server, "leader1")
    page.get_by_role("link", name="Hồ sơ cần xử lý").first.click()
    page.get_by_role("link", name=re.compile("Chờ phê duyệt")).click()
    page.get_by_role("link", name=code).click()
    act(page, "approve", "Phê duyệt", expect_state="Có kết quả, chờ trả")
    staff_log_out(page)

    # 7. The citizen comes with the receipt: clerk1 finds the dossier by its code and hands the
    #    result back. (Not through the queue's "Chờ trả kết quả" tab: clerk1 looked at the
    #    queue a few seconds ago, and its cached counts would hide the new row — see the report
    #    on dossiers/views/lists.py.)
    staff_log_in(page, live_server, "clerk1")
    page.get_by_role("link", name="Tra cứu hồ sơ", exact=True).click()
    page.get_by_label("Tìm kiếm").fill(code)
    page.get_by_label("Tìm kiếm").press("Enter")
    row = page.locator("tr", has_text=code)
    expect(row).to_contain_text("Có kết quả, chờ trả")
    row.get_by_role("link", name=code).click()
    act(page, "return_result", "Trả kết quả", expect_state="Đã trả kết quả",
        **{"Ý kiến": "Công dân đã nhận Giấy đăng ký hoạt động"})
    shot(page, "3-returned-at-the-desk", tmp_path)
    staff_log_out(page)
    dossier.refresh_from_db()
    assert dossier.state == State.RETURNED
    assert [e.transition for e in dossier.events.all()] == [
        "submit", "receive", "start", "forward", "submit_for_approval", "approve",
        "return_result"]

    # 8. The citizen, on the phone again, tracks it with the code and the phone.
    page.context.clear_cookies()  # not the staff's browser any more
    page.set_viewport_size(PHONE_SIZE)
    page.goto(f"{live_server.url}/tra-cuu/")
    page.get_by_label("Mã hồ sơ").fill(code)
    page.get_by_label("Số điện thoại di động").fill("098 765 4321")
    page.get_by_role("button", name="Tra cứu").click()
    result = page.locator(".track-result")
    expect(result.get_by_role("heading", name=code)).to_be_visible()
    expect(result.locator(".track-badge")).to_have_text("Đã trả kết quả")
    timeline = page.get_by_role("region", name="Quá trình giải quyết").locator("ol > li")
    expect(timeline).to_have_count(7)  # one line per event of the log, oldest first
    expect(timeline.first).to_contain_text("Nộp hồ sơ trực tuyến")
    expect(timeline.filter(has_text="Hồ sơ được tiếp nhận")).to_have_count(1)
    expect(timeline.filter(has_text="Trình lãnh đạo phê duyệt")).to_have_count(1)
    expect(timeline.last).to_contain_text("Đã trả kết quả")
    expect(timeline.first.locator("time")).to_have_text(re.compile(r"\d\d:\d\d \d\d/\d\d/\d{4}"))
    # Units only: no staff name, no internal comment of the log.
    assert "Hồ sơ đủ điều kiện" not in result.inner_text()
    body = page.locator("body").inner_text()
    assert "Trần Thị Bích Ngọc" not in body and "089190004567" not in body
    assert "0987" not in page.url
    no_sideways_scroll(page)
    shot(page, "4-tracked", tmp_path)

    # 9. The rating link of the tracking page: code prefilled, the phone typed again.
    rate_link = page.get_by_role("link", name="Đánh giá mức độ hài lòng")
    href = rate_link.get_attribute("href")
    assert f"ma={code}" in href and CITIZEN_PHONE not in href
    rate_link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Đánh giá mức độ hài lòng")
    expect(page.get_by_label("Mã hồ sơ")).to_have_value(code)
    page.get_by_label("Số điện thoại đã đăng ký").fill(CITIZEN_PHONE)
    page.get_by_role("group", name=re.compile("Mức độ hài lòng chung")).get_by_text(
        "Rất hài lòng").click()
    page.get_by_role("group", name=re.compile("Thời gian giải quyết")).get_by_text(
        "Hài lòng", exact=True).click()
    page.get_by_label("Góp ý thêm").fill("Nộp trực tuyến nhanh, cán bộ trả kết quả đúng hẹn.")
    no_sideways_scroll(page)
    page.get_by_role("button", name="Gửi đánh giá").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cảm ơn ông/bà đã đánh giá")
    expect(page.get_by_role("status")).to_contain_text(code)
    assert CITIZEN_PHONE not in page.url
    shot(page, "5-rated", tmp_path)
    rating = Rating.objects.get(dossier=dossier)
    assert (rating.overall, rating.time) == ("very_satisfied", "satisfied")
    assert rating.comment == "Nộp trực tuyến nhanh, cán bộ trả kết quả đúng hẹn."
    # Rated from the tracking page's link, so recorded as given there.
    assert "nguon=tra-cuu" in href
    assert rating.source == "tracking"

    # 10. A second rating of the same dossier is refused, in words; the first one stands.
    page.goto(f"{live_server.url}/danh-gia/?ma={code}")
    page.get_by_label("Số điện thoại đã đăng ký").fill(CITIZEN_PHONE)
    page.get_by_role("group", name=re.compile("Mức độ hài lòng chung")).get_by_text(
        "Không hài lòng").click()
    page.get_by_role("button", name="Gửi đánh giá").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("Hồ sơ này đã được đánh giá")
    expect(alert).to_be_focused()
    no_sideways_scroll(page)
    shot(page, "6-second-rating-refused", tmp_path)
    assert Rating.objects.filter(dossier=dossier).count() == 1
    assert Rating.objects.get(dossier=dossier).overall == "very_satisfied"
