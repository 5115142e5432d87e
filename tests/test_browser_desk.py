"""The reception desk in a real browser (Chromium through Playwright): a clerk receives a
simple dossier with the keyboard — procedure found without diacritics, papers ticked, the ID
number prefilling the applicant, the appointment seen before confirming — prints the receipt,
and later hands the result back."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from dossiers.models import Dossier, State
from tests.test_dossier_screens import (
    NOTARY_CODE,
    PASSWORD,
    PDF_BYTES,
    act,
    build_world,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

#: Set to a directory to keep the screenshots (they are taken in any case).
SHOTS = os.environ.get("DOSSIER_SCREENSHOTS")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return build_world()


def shot(page, name: str, tmp_path) -> str:
    """The viewport as the clerk sees it (1366×768), and the whole page beside it."""
    folder = SHOTS or str(tmp_path)
    path = os.path.join(folder, f"{name}.png")
    page.screenshot(path=path)
    page.screenshot(path=os.path.join(folder, f"{name}-full.png"), full_page=True)
    return path


def log_in(page, live_server, user):
    page.goto(f"{live_server.url}/staff/login/")
    page.get_by_label("Tên đăng nhập").fill(user.username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server.url}/staff/")


def test_clerk_receives_a_dossier_prints_the_receipt_and_later_returns_the_result(
    page, live_server, world, tmp_path
):
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server, world.clerk)
    page.get_by_role("link", name="Tiếp nhận hồ sơ").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Tiếp nhận hồ sơ")

    # 1. The procedure, typed without diacritics, picked with the keyboard.
    search = page.get_by_role("combobox", name=re.compile("Tìm thủ tục"))
    expect(search).to_be_focused()
    search.press_sequentially("van phong cong chung", delay=10)
    option = page.get_by_role("option", name=re.compile("Văn phòng công chứng"))
    expect(option).to_be_visible()
    expect(option).to_have_attribute("aria-selected", "true")
    shot(page, "desk-search", tmp_path)
    search.press("Enter")
    panel = page.locator("#desk-procedure")
    expect(panel).to_contain_text("Thủ tục đăng ký hoạt động Văn phòng công chứng")
    expect(panel).to_contain_text(NOTARY_CODE)
    appointment = page.locator("#desk-appointment")
    expect(appointment).to_contain_text(re.compile(r"\d\d:\d\d (Thứ|Chủ)"))  # before confirming
    expect(appointment).to_contain_text("10 ngày làm việc")

    # 2. Papers: focus is on the first one; Space ticks it. One mandatory paper is missing.
    first = panel.get_by_role("checkbox").first
    expect(first).to_be_focused()
    page.keyboard.press("Space")
    page.keyboard.press("Enter")  # next paper
    page.keyboard.press("Space")
    expect(panel.get_by_role("checkbox", name=re.compile("Quyết định cho phép thành lập"))).to_be_checked()
    completeness = page.locator("[data-completeness]")
    expect(completeness).to_contain_text("Còn thiếu 1 / 3 giấy tờ bắt buộc")

    # 3. The applicant: the 12-digit number fills the rest from the citizen directory.
    page.keyboard.press("Alt+2")
    id_number = page.get_by_label("Số định danh cá nhân")
    expect(id_number).to_be_focused()
    id_number.press_sequentially("089099999999", delay=5)
    expect(page.locator("#citizen-status")).to_contain_text("Không tìm thấy")
    id_number.fill("")
    id_number.press_sequentially("089085000123", delay=5)
    expect(page.locator("#citizen-status")).to_contain_text("Đã tìm thấy")
    expect(page.get_by_label("Họ và tên")).to_have_value("Nguyễn Văn An")
    expect(page.get_by_label("Số điện thoại di động")).to_have_value("0912345678")
    expect(page.get_by_label("Địa chỉ")).to_have_value(re.compile("Trần Hưng Đạo"))

    # 4. A scan.
    page.get_by_label("Bản quét hồ sơ").set_input_files(files=[{
        "name": "ho-so-van-phong-cong-chung.pdf", "mimeType": "application/pdf",
        "buffer": PDF_BYTES,
    }])
    expect(page.locator("[data-scan-list]")).to_contain_text("ho-so-van-phong-cong-chung.pdf")

    # 5. Confirm with a paper missing: not received; everything missing listed; nothing lost.
    page.keyboard.press("Control+Enter")
    feedback = page.locator("#desk-feedback")
    expect(feedback).to_contain_text("Hồ sơ chưa đủ thành phần — chưa tiếp nhận.")
    expect(feedback).to_contain_text("Giấy tờ chứng minh về trụ sở của Văn phòng công chứng")
    expect(feedback.get_by_role("button", name="In phiếu yêu cầu bổ sung (Mẫu 02)")).to_be_visible()
    expect(page.get_by_label("Họ và tên")).to_have_value("Nguyễn Văn An")
    assert page.get_by_label("Bản quét hồ sơ").evaluate("input => input.files.length") == 1
    assert not Dossier.objects.exists()

    # The citizen finds the missing paper: tick it, the desk is complete.
    panel.get_by_role("checkbox", name=re.compile("Giấy tờ chứng minh về trụ sở")).check()
    expect(completeness).to_contain_text("Đủ 3 giấy tờ bắt buộc")
    shot(page, "desk", tmp_path)

    page.keyboard.press("Control+Enter")
    page.wait_for_url(re.compile(r"/staff/dossiers/000\.00\.10\.H01-\d{6}-\d{4}/\?tiep-nhan=1$"))
    dossier = Dossier.objects.get()
    assert dossier.state == State.RECEIVED
    assert dossier.attachments.count() == 1
    expect(page.locator(".received-banner")).to_contain_text(dossier.code)
    receipt = page.get_by_role("link", name="In giấy tiếp nhận (Mẫu 01)")
    expect(receipt).to_be_focused()  # Enter prints
    shot(page, "dossier-received", tmp_path)

    # 6. The receipt: a PDF in a new tab.
    href = receipt.get_attribute("href")
    assert href.endswith(f"/{dossier.code}/documents/receipt.pdf")
    pdf = page.request.get(f"{live_server.url}{href}")
    assert pdf.status == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.body().startswith(b"%PDF")
    with page.context.expect_page() as new_tab:
        receipt.click()
    assert new_tab.value.url.endswith("/documents/receipt.pdf")
    new_tab.value.close()

    # Later: the dossier went through the unit and is back at the desk with its result.
    dossier = act(dossier, "start", world.clerk)
    dossier = act(dossier, "forward", world.officer)
    dossier = act(dossier, "submit_for_approval", world.officer)
    act(dossier, "approve", world.leader)
    page.goto(f"{live_server.url}/staff/dossiers/")
    page.get_by_role("link", name=re.compile("Chờ trả kết quả")).click()
    row = page.locator("tr", has_text=dossier.code)
    expect(row).to_contain_text("Có kết quả, chờ trả")
    row.get_by_role("link", name=dossier.code).click()
    action = page.locator("#act-return_result")
    expect(action).to_have_attribute("open", "")
    action.get_by_label("Ý kiến").fill("Công dân đã nhận Giấy đăng ký hoạt động")
    action.get_by_role("button", name="Trả kết quả").click()
    expect(page.locator(".messages")).to_contain_text("Trả kết quả: đã thực hiện")
    expect(page.locator(".dossier-head")).to_contain_text("Đã trả kết quả")
    dossier.refresh_from_db()
    assert dossier.state == State.RETURNED


def test_clerk_refuses_an_online_submission_with_reasons(page, live_server, world, tmp_path):
    from dossiers.services import dossier_submit_online
    from tests.test_dossier_screens import NGOC

    submitted = dossier_submit_online(procedure_version=world.notary, applicant=NGOC)
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server, world.clerk)
    page.goto(f"{live_server.url}/staff/dossiers/tiep-nhan/")
    page.get_by_role("link", name=re.compile("Trực tuyến chờ tiếp nhận")).click()
    page.get_by_role("link", name=submitted.code).click()
    expect(page.locator("#act-receive")).to_have_attribute("open", "")  # the usual next step
    refuse = page.locator("#act-refuse")
    refuse.locator("summary").click()
    refuse.get_by_role("button", name="Từ chối tiếp nhận").click()
    expect(page.locator("#act-refuse .field-error")).to_be_visible()  # reasons required
    page.locator("#act-refuse").get_by_label("Lý do từ chối tiếp nhận").fill(
        "Thủ tục không thuộc thẩm quyền của Sở Tư pháp")
    page.locator("#act-refuse").get_by_role("button", name="Từ chối tiếp nhận").click()
    expect(page.locator(".dossier-head")).to_contain_text("Từ chối tiếp nhận")
    expect(page.get_by_role("link", name=re.compile("Mẫu 03"))).to_be_visible()
    submitted.refresh_from_db()
    assert submitted.state == State.REFUSED
