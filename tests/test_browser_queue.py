"""Queues and the dossier page in a real browser: the officer works the unit's queue (overdue
and due-soon rows stand out), forwards one dossier and several at once, submits for approval;
the leader approves; the clerk hands the result back."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from playwright.sync_api import expect

from dossiers.models import Dossier, State
from motcua import calendar
from tests.test_dossier_screens import AN, NGOC, PASSWORD, at_officer, build_world, receive

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = os.environ.get("DOSSIER_SCREENSHOTS")


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def shot(page, name: str, tmp_path) -> None:
    folder = SHOTS or str(tmp_path)
    page.screenshot(path=os.path.join(folder, f"{name}.png"))
    page.screenshot(path=os.path.join(folder, f"{name}-full.png"), full_page=True)


def log_in(page, live_server, user):
    page.goto(f"{live_server.url}/staff/login/")
    page.get_by_label("Tên đăng nhập").fill(user.username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"{live_server.url}/staff/")


def log_out(page):
    page.get_by_role("button", name="Đăng xuất").click()


def _received_for(*, left_between: tuple[int, int], amount: int = 3):
    """A past moment at which a dossier of ``amount`` working days, received then, has between
    ``left_between`` working hours left now (searched hour by hour, whatever the clock says)."""
    from decimal import Decimal

    now = timezone.now()
    low, high = (Decimal(v) for v in left_between)
    for hours in range(1, 24 * 14):
        start = now - timedelta(hours=hours)
        left = calendar.working_hours_between(now, calendar.deadline(start, amount, "working_days"))
        if low <= left < high:
            return start
    raise AssertionError("no such moment")


def _working_days_ago(days: int):
    """A working-day morning ``days`` working days before now (office calendar)."""
    moment = timezone.localtime().replace(hour=9, minute=0, second=0, microsecond=0)
    while days > 0 or not calendar.is_working_day(moment.date()):
        moment -= timedelta(days=1)
        if calendar.is_working_day(moment.date()):
            days -= 1
    return moment


@pytest.fixture
def queue_world(settings, tmp_path):
    """The officers' queue: one overdue, one due soon, three on track."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    from django.core.cache import cache

    cache.clear()  # the queue's cached tab counts and filter choices of earlier tests
    world = build_world()
    with time_machine.travel(_working_days_ago(5), tick=False):
        world.overdue = at_officer(world, version=world.extract, applicant=NGOC)
    with time_machine.travel(_received_for(left_between=(2, 7)), tick=False):
        world.soon = at_officer(world, version=world.extract,
                                applicant={**AN, "name": "Lê Thị Thu Trang"})
    world.fresh = [
        at_officer(world, applicant=AN),
        at_officer(world, applicant={**AN, "name": "Huỳnh Minh Khoa", "phone": "0832456789"}),
        at_officer(world, applicant={**NGOC, "name": "Phạm Thị Thu Hà"}),
    ]
    return world


def test_officer_and_leader_carry_a_dossier_to_the_desk(page, live_server, queue_world, tmp_path):
    world = queue_world
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server, world.officer)
    page.get_by_role("link", name="Hồ sơ cần xử lý").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hồ sơ cần xử lý")

    rows = page.locator("table.dossier-table tbody tr")
    expect(rows).to_have_count(5)
    # Soonest appointment first; overdue and due soon are marked in words, not colour alone.
    expect(rows.nth(0)).to_contain_text(world.overdue.code)
    expect(rows.nth(0)).to_contain_text("Quá hạn")
    expect(rows.nth(0)).to_have_class(re.compile("row-late"))
    expect(rows.nth(1)).to_contain_text(world.soon.code)
    expect(rows.nth(1)).to_contain_text("Sắp đến hạn")
    expect(rows.nth(2)).to_contain_text("Trong hạn")

    # Search without diacritics, through htmx.
    page.get_by_label("Tìm kiếm").fill("huynh minh")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Huỳnh Minh Khoa")
    page.get_by_label("Tìm kiếm").fill("")
    expect(rows).to_have_count(5)
    shot(page, "queue", tmp_path)

    # Several at once: forward two fresh dossiers to their next step.
    first, second = world.fresh[0], world.fresh[1]
    page.get_by_role("checkbox", name=f"Chọn hồ sơ {first.code}").check()
    page.get_by_role("checkbox", name=f"Chọn hồ sơ {second.code}").check()
    page.locator("#bulk-action").select_option("forward")
    page.get_by_role("button", name=re.compile(r"Thực hiện \(2\)")).click()
    result = page.locator(".bulk-result")
    expect(result).to_contain_text("Chuyển bước tiếp theo: 2 thành công, 0 không thực hiện được")
    for dossier in (first, second):
        dossier.refresh_from_db()
        assert dossier.current_step.name == "Dự thảo kết quả"

    # One dossier by hand: open it, forward with a comment, then submit for approval.
    target = world.fresh[2]
    page.get_by_role("link", name=target.code).click()
    expect(page.locator(".dossier-head")).to_contain_text(target.code)
    expect(page.locator(".dossier-head")).to_contain_text("Phạm Thị Thu Hà")
    shot(page, "dossier", tmp_path)
    forward = page.locator("#act-forward")
    expect(forward).to_have_attribute("open", "")
    forward.get_by_label("Ý kiến").fill("Hồ sơ đủ điều kiện; chuyển dự thảo kết quả.")
    forward.get_by_role("button", name="Chuyển bước tiếp theo").click()
    expect(page.locator(".messages")).to_contain_text("Chuyển bước tiếp theo: đã thực hiện")
    submit = page.locator("#act-submit_for_approval")
    expect(submit).to_have_attribute("open", "")
    submit.get_by_label("Dự thảo kết quả").fill("Cấp Giấy đăng ký hoạt động Văn phòng công chứng.")
    submit.get_by_role("button", name="Trình phê duyệt").click()
    expect(page.locator(".dossier-head")).to_contain_text("Chờ phê duyệt")
    expect(page.locator("ol.timeline")).to_contain_text("Hồ sơ đủ điều kiện; chuyển dự thảo kết quả.")
    log_out(page)

    # The leader approves from the queue.
    log_in(page, live_server, world.leader)
    page.get_by_role("link", name="Hồ sơ cần xử lý").first.click()
    page.get_by_role("link", name=re.compile("Chờ phê duyệt")).click()
    page.get_by_role("link", name=target.code).click()
    approve = page.locator("#act-approve")
    expect(approve).to_have_attribute("open", "")
    approve.get_by_role("button", name="Phê duyệt").click()
    expect(page.locator(".dossier-head")).to_contain_text("Có kết quả, chờ trả")
    log_out(page)

    # The clerk hands it back.
    log_in(page, live_server, world.clerk)
    page.goto(f"{live_server.url}/staff/dossiers/{target.code}/")
    page.locator("#act-return_result").get_by_role("button", name="Trả kết quả").click()
    expect(page.locator(".dossier-head")).to_contain_text("Đã trả kết quả")
    target.refresh_from_db()
    assert target.state == State.RETURNED
    assert [e.transition for e in target.events.all()][-4:] == [
        "forward", "submit_for_approval", "approve", "return_result"]


def test_concurrent_change_is_shown_not_overwritten(page, live_server, queue_world, tmp_path):
    world = queue_world
    target = world.fresh[0]
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server, world.officer)
    page.goto(f"{live_server.url}/staff/dossiers/{target.code}/")
    expect(page.locator("#act-forward")).to_have_attribute("open", "")
    # Meanwhile a colleague asks the citizen for a supplement.
    from dossiers.services import dossier_transition

    dossier_transition(dossier=target, transition="request_supplement", actor=world.officer2,
                       missing_documents=["Bản sao điều lệ Văn phòng công chứng"])
    forward = page.locator("#act-forward")
    forward.get_by_label("Ý kiến").fill("Đủ điều kiện")
    forward.get_by_role("button", name="Chuyển bước tiếp theo").click()
    alert = page.get_by_role("alert").first
    expect(alert).to_contain_text("Hồ sơ vừa được người khác thay đổi")
    expect(alert).to_contain_text("Đủ điều kiện")  # what was typed is still there
    expect(page.locator(".dossier-head")).to_contain_text("Yêu cầu bổ sung")
    shot(page, "dossier-conflict", tmp_path)
    assert Dossier.objects.get(pk=target.pk).state == State.SUPPLEMENT_REQUESTED


def test_officer_takes_a_dossier_just_received_at_the_desk(page, live_server, queue_world, tmp_path):
    """A dossier received at the desk waits in the first step's officers' queue too: the
    officer finds it under "Mới tiếp nhận", among the others in appointment order, and takes it
    without waiting for the desk to hand it over."""
    world = queue_world
    received = receive(world, applicant={**NGOC, "name": "Đặng Văn Lộc"})
    page.set_viewport_size({"width": 1366, "height": 768})
    log_in(page, live_server, world.officer)
    page.get_by_role("link", name="Hồ sơ cần xử lý").first.click()
    rows = page.locator("table.dossier-table tbody tr")
    expect(rows).to_have_count(6)
    expect(page.locator(".results-count")).to_contain_text("6 hồ sơ")
    # a fresh appointment (10 working days): after the dossiers already being worked on
    expect(rows.nth(5)).to_contain_text(received.code)
    expect(rows.nth(5)).to_contain_text("Đã tiếp nhận")

    tab = page.get_by_role("link", name=re.compile("Mới tiếp nhận"))
    expect(tab).to_contain_text("1")
    tab.click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Đặng Văn Lộc")
    shot(page, "queue-received", tmp_path)
    page.get_by_role("checkbox", name=f"Chọn hồ sơ {received.code}").check()
    page.locator("#bulk-action").select_option("start")
    page.get_by_role("button", name=re.compile(r"Thực hiện \(1\)")).click()
    expect(page.locator(".bulk-result")).to_contain_text(
        "Chuyển xử lý: 1 thành công, 0 không thực hiện được")
    expect(page.get_by_role("link", name=re.compile("Mới tiếp nhận"))).to_contain_text("0")
    received.refresh_from_db()
    assert received.state == State.IN_PROGRESS and received.current_handler == world.officer
