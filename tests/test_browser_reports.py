"""The supervisor's dashboard in a real browser (Chromium through Playwright): supervisor1 logs
in, opens the reports, chooses two weeks, sees the charts and the table, drills down from the
"late" figure to the dossier behind it and downloads the list as xlsx."""

from __future__ import annotations

import io
import os

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from motcua.models import Role
from tests.dossier_factories import PASSWORD, build_org, make_procedure, staff
from tests.reports_factories import awkward_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("REPORT_SCREENSHOTS")


@pytest.fixture
def world(settings, tmp_path):
    from motcua.celery import app

    settings.MEDIA_ROOT = str(tmp_path / "media")
    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    org = build_org()
    version = make_procedure(agency=org.a)
    data = awkward_data(org, version)
    supervisor = staff("supervisor1", (org.units_a["LD"], Role.SUPERVISOR),
                       first_name="Giám sát", last_name="Lê Văn")
    yield org, data, supervisor
    app.conf.task_always_eager = previous


def shot(page, name: str, tmp_path) -> None:
    folder = SHOTS or str(tmp_path)
    page.screenshot(path=os.path.join(folder, f"{name}.png"), full_page=True)


def test_supervisor_drills_down_from_the_late_figure_and_downloads_the_list(
    page, live_server, world, tmp_path
):
    org, data, supervisor = world
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{live_server.url}/staff/login/")
    page.get_by_label("Tên đăng nhập").fill("supervisor1")
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server.url}/staff/")

    page.goto(f"{live_server.url}/staff/reports/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Báo cáo tổng hợp")
    page.get_by_label("Từ ngày").fill("2025-11-24")
    page.get_by_label("Đến ngày").fill("2025-12-07")
    page.get_by_role("button", name="Xem").click()
    page.wait_for_url("**start=2025-11-24**")

    # A chart (server-side SVG) and the table beside it.
    chart = page.get_by_role("img", name="Kết quả giải quyết")
    expect(chart).to_be_visible()
    table = page.locator("#report-table")
    expect(table).to_contain_text(org.a.name)
    total = table.locator("tr.total")
    expect(total).to_contain_text("Tổng cộng")
    shot(page, "reports-dashboard", tmp_path)

    # Drill down from the late figure of the totals to the dossier behind it.
    total.locator('a[data-figure="resolved_late"]').click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Giải quyết quá hạn")
    rows = page.locator("#drill-table tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(data.apologised.code)
    shot(page, "reports-drill-down", tmp_path)

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Tải xlsx").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    book = load_workbook(io.BytesIO(open(download.path(), "rb").read()))
    codes = [row[1] for row in book.worksheets[0].iter_rows(min_row=3, values_only=True)]
    assert codes == [data.apologised.code]


def test_public_figures_page_reads_on_a_phone(page, live_server, world, tmp_path):
    from django.core.cache import cache

    cache.clear()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/so-lieu/")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Số liệu giải quyết thủ tục hành chính")
    for label in ("Hồ sơ giải quyết đúng hạn", "Người dân hài lòng", "Hồ sơ nộp trực tuyến"):
        expect(page.get_by_text(label, exact=True)).to_be_visible()
    # Nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "public-figures-phone", tmp_path)
