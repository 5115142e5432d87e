"""The citizen portal in a real browser (Chromium through Playwright) at phone size (390×844):
a citizen finds a procedure, submits it online with uploads, gets a provisional code, pays the
fee on the demo gateway and comes back paid; then the desk (clerk1, through the staff login)
receives the dossier and it gets its real code."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from dossiers.models import Dossier, State
from motcua.demo import DEFAULT_DEMO_PASSWORD, seed_organisation, seed_users
from payments.models import Payment, PaymentState
from procedures.services import procedure_create
from tests.test_dossier_screens import PDF_BYTES, PNG_BYTES, notary_office

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("SUBMISSION_SCREENSHOTS")


@pytest.fixture
def portal(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    seed_organisation()
    seed_users(password=DEFAULT_DEMO_PASSWORD)
    return procedure_create(data=notary_office(), actor=None).current_version


def shot(page, name: str, tmp_path) -> None:
    folder = SHOTS or str(tmp_path)
    page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def test_citizen_submits_online_pays_the_fee_and_the_desk_receives_it(
    page, live_server, portal, tmp_path
):
    page.set_viewport_size({"width": 390, "height": 844})

    # 1. Find the procedure among those that accept online submission (no diacritics typed).
    page.goto(f"{live_server.url}/nop-truc-tuyen/")
    page.get_by_role("searchbox", name="Tên thủ tục cần tìm").fill("van phong cong chung")
    page.get_by_role("button", name="Tìm").click()
    page.get_by_role("link", name="Thủ tục đăng ký hoạt động Văn phòng công chứng", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thủ tục đăng ký hoạt động Văn phòng công chứng")
    page.get_by_role("link", name="Nộp hồ sơ trực tuyến").last.click()

    # 2. The form: an error first (a mistyped phone), the accepted file is kept.
    page.get_by_label("Họ và tên").fill("Trần Thị Bích Ngọc")
    page.get_by_label("Số định danh cá nhân (CCCD)").fill("089190004567")
    page.get_by_label("Số điện thoại di động").fill("098765432")
    files = page.locator("input[type=file]")
    files.nth(0).set_input_files(
        files=[{"name": "don-de-nghi.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}])
    page.get_by_label(re.compile("Tôi cam đoan")).check()
    page.get_by_role("button", name="Nộp hồ sơ").click()
    alert = page.get_by_role("alert")
    expect(alert).to_be_focused()
    expect(alert).to_contain_text("Số điện thoại di động không hợp lệ")
    expect(page.locator(".kept-file")).to_contain_text("don-de-nghi.pdf")
    shot(page, "submit-error", tmp_path)

    page.get_by_label("Số điện thoại di động").fill("0987654321")
    files = page.locator("input[type=file]")
    files.nth(1).set_input_files(
        files=[{"name": "quyet-dinh.pdf", "mimeType": "application/pdf", "buffer": PDF_BYTES}])
    files.nth(2).set_input_files(
        files=[{"name": "tru-so.png", "mimeType": "image/png", "buffer": PNG_BYTES}])
    page.get_by_role("button", name="Nộp hồ sơ").click()

    # 3. The confirmation: the provisional code.
    code = page.locator("#provisional-code")
    expect(code).to_have_text(re.compile(r"^TT-\d{6}-[0-9A-Z]{8}$"))
    provisional = code.inner_text()
    expect(page.get_by_text("Mới đăng ký")).to_be_visible()
    shot(page, "submit-done", tmp_path)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll

    # 4. Pay on the demo gateway, come back paid.
    page.get_by_role("button", name="Thanh toán trực tuyến").click()
    expect(page.locator("#bank-amount")).to_have_text("1.000.000 đ")
    shot(page, "demo-gateway", tmp_path)
    page.get_by_role("button", name="Thanh toán", exact=True).click()
    expect(page.locator("#payment-status")).to_contain_text("Đã thanh toán")
    expect(page.locator("#provisional-code")).to_have_text(provisional)
    expect(page.get_by_role("button", name="Thanh toán trực tuyến")).to_have_count(0)
    shot(page, "paid", tmp_path)
    dossier = Dossier.objects.get(provisional_code=provisional)
    assert dossier.state == State.SUBMITTED
    assert Payment.objects.get(dossier=dossier).state == PaymentState.PAID
    assert dossier.attachments.count() == 3

    # 5. The desk: clerk1 logs in and receives it; the dossier gets its real code.
    page.goto(f"{live_server.url}/staff/login/")
    page.get_by_label("Tên đăng nhập").fill("clerk1")
    page.get_by_label("Mật khẩu").fill(DEFAULT_DEMO_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server.url}/staff/")
    page.goto(f"{live_server.url}/staff/dossiers/tiep-nhan/")
    page.get_by_role("link", name=re.compile("Trực tuyến chờ tiếp nhận")).click()
    page.get_by_role("link", name=provisional).click()
    receive = page.locator("#act-receive")
    expect(receive).to_have_attribute("open", "")
    receive.get_by_role("button", name="Tiếp nhận hồ sơ").click()
    expect(page.locator(".dossier-head")).to_contain_text("Đã tiếp nhận")
    dossier.refresh_from_db()
    assert dossier.state == State.RECEIVED
    assert re.fullmatch(r"000\.00\.10\.H01-\d{6}-\d{4}", dossier.code)
    assert dossier.provisional_code == provisional
    expect(page.locator(".dossier-head")).to_contain_text(dossier.code)
