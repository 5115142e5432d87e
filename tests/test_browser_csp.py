"""The main pages in Chromium under the Content Security Policy: nothing refused (no console
message about the policy), and where a page has an htmx interaction, it still works."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from motcua.models import Role, StaffRole, Unit
from tests.test_dossier_screens import NOTARY_CODE, PASSWORD, at_officer, build_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

REFUSALS = ("Content Security Policy", "Refused to")


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    world = build_world()
    world.catalogue_admin = get_user_model().objects.create_user("kiemsoat", password=PASSWORD)
    StaffRole.objects.create(
        user=world.catalogue_admin, role=Role.CATALOGUE_ADMIN,
        unit=Unit.objects.get(agency__code="000.00.00.H01", code="VP"),
    )
    world.dossier = at_officer(world)
    return world


@pytest.fixture
def refusals(page):
    """Every console line and page error that speaks of the policy."""
    found: list[str] = []
    page.on("console", lambda message: found.append(f"console {message.type}: {message.text}")
            if any(word in message.text for word in REFUSALS) else None)
    page.on("pageerror", lambda error: found.append(f"page error: {error}"))
    return found


def log_in(page, live_server, user):
    page.goto(f"{live_server.url}/staff/login/")
    page.get_by_label("Tên đăng nhập").fill(user.username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server.url}/staff/")


def visit(page, url):
    response = page.goto(url)
    assert response.status == 200, url
    assert "default-src 'self'" in response.headers["content-security-policy"], url
    page.wait_for_load_state("networkidle")


def bell_loads(page):
    """Every staff page loads the notices bell with htmx (hx-trigger="load")."""
    expect(page.locator("#notice-bell")).to_have_attribute("hx-get", re.compile("chuong"))


def test_public_pages_run_under_the_policy(page, live_server, world, refusals):
    base = live_server.url
    # Home: the procedure search reloads the results with htmx as one types.
    visit(page, f"{base}/")
    with page.expect_response(lambda r: "q=" in r.url and r.request.headers.get("hx-request")):
        page.locator("#q").fill("cong chung")
    expect(page.locator("#public-results")).to_contain_text("công chứng", ignore_case=True)

    visit(page, f"{base}/tra-cuu/")
    visit(page, f"{base}/danh-gia/")
    visit(page, f"{base}/nop-truc-tuyen/{NOTARY_CODE}/")
    # static/js/submit.js ran: it moved the focus nowhere (no error) and found its button.
    expect(page.locator("#submit-button")).to_be_enabled()
    visit(page, f"{base}/thanh-toan/")
    visit(page, f"{base}/admin/login/")
    assert refusals == []


def test_staff_pages_run_under_the_policy(page, live_server, world, refusals):
    base = live_server.url
    log_in(page, live_server, world.clerk)

    # Desk: the procedure search (htmx) lists the notary procedure.
    visit(page, f"{base}/staff/dossiers/tiep-nhan/")
    bell_loads(page)
    search = page.get_by_role("combobox", name=re.compile("Tìm thủ tục"))
    search.press_sequentially("van phong cong chung", delay=10)
    expect(page.get_by_role("option", name=re.compile("Văn phòng công chứng"))).to_be_visible()

    page.context.clear_cookies()
    log_in(page, live_server, world.officer)
    # Queue: a filter's change reloads the rows with htmx (no trigger filter expression).
    visit(page, f"{base}/staff/dossiers/")
    with page.expect_response(lambda r: "due=" in r.url and r.request.headers.get("hx-request")):
        page.locator("#id_due").select_option(index=1)
    visit(page, f"{base}/staff/dossiers/{world.dossier.code}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text(world.dossier.code)

    page.context.clear_cookies()
    log_in(page, live_server, world.supervisor)
    # Reports: charts (SVG) and the print button's script, no inline handler.
    visit(page, f"{base}/staff/reports/")
    expect(page.locator("svg.chart").first).to_be_visible()
    expect(page.locator("[data-print]")).to_be_visible()

    page.context.clear_cookies()
    log_in(page, live_server, world.catalogue_admin)
    visit(page, f"{base}/staff/catalogue/{NOTARY_CODE}/sua/")
    visit(page, f"{base}/staff/calendar/")
    bell_loads(page)
    visit(page, f"{base}/staff/calendar/tinh-han/")
    assert refusals == []


def test_the_indicator_and_bell_are_styled_from_our_files(page, live_server, world, refusals):
    log_in(page, live_server, world.officer)
    visit(page, f"{live_server.url}/staff/dossiers/")
    # No style element injected by htmx; the bell's layout comes from cspops.css.
    assert page.evaluate("document.querySelectorAll('style').length") == 0
    # (A flex item's inline-flex computes to "flex"; the gap is ours alone.)
    expect(page.locator("#notice-bell")).to_have_css("gap", "4px")
    expect(page.locator("#notice-bell")).to_have_css("align-items", "center")
    assert refusals == []


def test_the_api_docs_run_under_their_relaxed_policy(page, live_server, world, refusals):
    page.goto(f"{live_server.url}/admin/login/?next=/api/docs/")
    get_user_model().objects.create_superuser("quantri", password=PASSWORD)
    page.locator("#id_username").fill("quantri")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    visit(page, f"{live_server.url}/api/docs/")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Một Cửa API")
    assert refusals == []


def test_the_check_sees_a_refused_inline_script(page, live_server, refusals):
    """The detector itself: a page under the same policy with an inline script and a style
    attribute is reported (else every test above would pass whatever the pages held)."""
    from django.conf import settings

    policy = "; ".join(
        f"{name} {' '.join(values)}"
        for name, values in settings.CONTENT_SECURITY_POLICY["DIRECTIVES"].items()
    )
    page.route(f"{live_server.url}/csp-probe/", lambda route: route.fulfill(
        status=200, headers={"Content-Security-Policy": policy, "Content-Type": "text/html"},
        body='<p style="color:red">x</p><script>document.title = "ran";</script>',
    ))
    page.goto(f"{live_server.url}/csp-probe/")
    page.wait_for_timeout(200)
    assert page.title() != "ran"
    assert any("script" in line for line in refusals)
    assert any("style" in line for line in refusals)
