"""The catalogue in a real browser: a catalogue admin fixes an internal process with the live
total; a citizen on a phone finds a procedure."""

from __future__ import annotations

import os
import re

import pytest
from playwright.sync_api import expect

from motcua.demo import seed_organisation
from motcua.models import Role, StaffRole, Unit
from procedures.models import Procedure
from procedures.services import procedure_create
from tests.test_catalogue_pages import BUILDING_CODE, birth_registration, building_permit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "mat-khau-an-toan-9"
#: Set to a directory to keep screenshots of the pages (for looking at them, not for asserting).
SHOTS = os.environ.get("CATALOGUE_SCREENSHOTS")


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


@pytest.fixture
def catalogue():
    seed_organisation()
    procedure_create(data=building_permit(), actor=None)
    procedure_create(data=birth_registration(), actor=None)


def test_catalogue_admin_fixes_step_hours_with_the_live_total(page, live_server, catalogue,
                                                              django_user_model):
    admin = django_user_model.objects.create_user("kstthc", password=PASSWORD,
                                                  first_name="Hà")
    StaffRole.objects.create(user=admin, role=Role.CATALOGUE_ADMIN,
                             unit=Unit.objects.get(agency__code="000.00.00.H01", code="KSTTHC"))

    page.goto(f"{live_server.url}/staff/login/")
    page.get_by_label("Tên đăng nhập").fill("kstthc")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server.url}/staff/")

    page.get_by_role("link", name="Danh mục TTHC").click()
    page.get_by_label("Tìm kiếm").fill("giay phep xay dung")
    results = page.locator("#catalogue-results")
    expect(results).to_contain_text("1 thủ tục")  # htmx replaced the results as we typed
    expect(results).not_to_contain_text("đăng ký khai sinh")
    results.get_by_role("link", name=re.compile("Cấp giấy phép xây dựng")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Cấp giấy phép xây dựng")
    page.get_by_role("link", name="Sửa", exact=True).click()

    total = page.locator("[data-steps-total]")
    expect(total).to_contain_text("120 / 120")
    expect(total).to_contain_text("khớp thời hạn")
    appraisal = page.locator("input[name='steps-1-hours']")
    appraisal.fill("90")
    expect(total).to_contain_text("110 / 120")
    expect(total).to_contain_text("còn thiếu 10 giờ")
    shot(page, "staff-form-live-total")

    page.get_by_role("button", name="Lưu thay đổi").click()
    errors = page.locator("#form-errors")
    expect(errors).to_contain_text(
        "Tổng thời gian các bước (110 giờ) phải bằng thời hạn giải quyết (120 giờ làm việc)"
    )
    expect(page.locator("#steps-section")).to_contain_text("phải bằng thời hạn giải quyết")
    expect(page.locator("input[name='steps-1-hours']")).to_have_value("90")  # kept
    expect(total).to_contain_text("còn thiếu 10 giờ")
    shot(page, "staff-form-error")

    # The fix: a new step of 10 hours for the site visit.
    page.get_by_role("button", name="Thêm bước").click()
    new_row = page.locator("[data-step-row]").last
    new_row.locator("input[name$='-name']").fill("Kiểm tra thực địa")
    new_row.locator("input[name$='-unit_code']").fill("QLXD")
    new_row.locator("select[name$='-role']").select_option("officer")
    new_row.locator("input[name$='-hours']").fill("10")
    expect(total).to_contain_text("120 / 120")
    expect(total).to_contain_text("khớp thời hạn")
    page.get_by_role("button", name="Lưu thay đổi").click()

    expect(page.locator(".messages")).to_contain_text("Đã lưu thủ tục")
    expect(page.locator("main")).to_contain_text("Kiểm tra thực địa")
    steps = Procedure.objects.get(code=BUILDING_CODE).current_version.steps.all()
    assert [(s.name, s.hours) for s in steps][-2:] == [("Trả kết quả", 4), ("Kiểm tra thực địa", 10)]
    assert sum(s.hours for s in steps) == 120


def test_citizen_on_a_phone_finds_a_procedure(page, live_server, catalogue):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/")
    search = page.get_by_role("searchbox")
    search.fill("giay phep xay dung")
    search.press("Enter")
    results = page.locator("#public-results")
    expect(results).to_contain_text("Tìm thấy 1 thủ tục")
    expect(results).to_contain_text("Trực tuyến một phần")
    shot(page, "public-results-phone")
    results.get_by_role("link", name=re.compile("Cấp giấy phép xây dựng")).click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Cấp giấy phép xây dựng")
    main = page.locator("main")
    expect(main).to_contain_text("Giấy tờ cần chuẩn bị")
    expect(main).to_contain_text("Đơn đề nghị cấp giấy phép xây dựng")
    expect(main).to_contain_text("150.000 đ")
    expect(main).to_contain_text("15 ngày làm việc")
    expect(main).to_contain_text("Sở Xây dựng tỉnh An Giang")
    # Phone-first: nothing sticks out sideways.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    shot(page, "public-procedure-phone")
