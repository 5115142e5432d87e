"""The staff page of the office calendar: who may see it, adding and removing overrides."""

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.urls import reverse

from motcua import calendar, errors, services
from motcua.calendar import deadline, is_working_day
from motcua.models import CalendarDay
from tests.factories_calendar import CalendarDayFactory, catalogue_admin, clerk

pytestmark = pytest.mark.django_db

VN = ZoneInfo("Asia/Ho_Chi_Minh")
URL = reverse("calendar-days")


def at(year, month, day, hour=0, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=VN)


@pytest.fixture
def admin_client(client):
    client.force_login(catalogue_admin())
    return client


@pytest.fixture
def clerk_client(client):
    client.force_login(clerk())
    return client


def add(client, day="2026-03-10", kind="day_off", note="Công văn 123/UBND-VP", **extra):
    return client.post(f"{URL}?year=2026", {"date": day, "kind": kind, "note": note}, **extra)


# --- Who may ------------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_to_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_clerk_gets_403_on_the_page_and_cannot_add_or_delete(clerk_client):
    CalendarDayFactory(date=date(2026, 3, 11), kind="day_off")
    assert clerk_client.get(URL).status_code == 403
    assert add(clerk_client).status_code == 403
    assert clerk_client.post(reverse("calendar-day-delete", args=["2026-03-11"])).status_code == 403
    assert clerk_client.get(reverse("calendar-day-edit", args=["2026-03-11"])).status_code == 403
    assert list(CalendarDay.objects.values_list("date", flat=True)) == [date(2026, 3, 11)]


def test_service_refuses_a_clerk_as_actor():
    with pytest.raises(errors.PermissionDenied):
        services.calendar_day_set(date=date(2026, 3, 10), kind="day_off", note="x", actor=clerk())
    with pytest.raises(errors.PermissionDenied):
        services.calendar_day_clear(date=date(2026, 3, 10), actor=clerk("tiepnhan2"))
    assert not CalendarDay.objects.exists()


def test_superuser_may_use_the_page(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("quantri", password=None))
    assert client.get(URL).status_code == 200


# --- Reading ------------------------------------------------------------------------------------


def test_page_lists_the_state_holidays_and_overrides_of_the_chosen_year(admin_client):
    CalendarDayFactory(date=date(2026, 3, 10), kind="day_off", note="Lễ hội Bà Chúa Xứ")
    html = admin_client.get(URL, {"year": 2026}).content.decode()
    assert "Năm 2026" in html
    assert "Tết Nguyên Đán" in html and "16/02/2026" in html
    assert "Giỗ Tổ Hùng Vương" in html and "27/04/2026" in html
    assert "22/08/2026" in html and "Ngày làm việc bù" in html  # the make-up Saturday
    assert "Lễ hội Bà Chúa Xứ" in html and "10/03/2026" in html


def test_page_lists_upcoming_days_off_and_make_up_days_from_today(admin_client):
    CalendarDayFactory(date=date(2026, 3, 10), kind="day_off", note="Lễ hội Bà Chúa Xứ")
    with time_machine.travel(at(2026, 2, 2, 9), tick=False):
        html = admin_client.get(URL).content.decode()
    upcoming = html.split('id="upcoming-title"')[1].split("</section>")[0]
    assert "16/02/2026" in upcoming and "Giao thừa Tết Nguyên Đán" in upcoming
    assert "10/03/2026" in upcoming and "Lễ hội Bà Chúa Xứ" in upcoming
    assert "01/01/2026" not in upcoming  # past


def test_page_shows_a_cancelled_holiday_as_cancelled(admin_client):
    CalendarDayFactory(date=date(2026, 11, 24), kind="working_day", note="Không nghỉ")
    html = admin_client.get(URL, {"year": 2026}).content.decode()
    assert "tỉnh điều chỉnh" in html


def test_page_query_count_does_not_grow_with_overrides(admin_client, django_assert_max_num_queries):
    for day in range(2, 28):
        if date(2026, 3, day).weekday() < 5:
            CalendarDayFactory(date=date(2026, 3, day), kind="day_off")
    with django_assert_max_num_queries(10):
        assert admin_client.get(URL, {"year": 2026}).status_code == 200


# --- Adding and removing ------------------------------------------------------------------------


def test_catalogue_admin_adds_a_day_off_and_the_deadline_moves_at_once(admin_client):
    start = at(2026, 3, 9, 9)
    assert deadline(start, 1, "working_days") == at(2026, 3, 10, 9)

    response = add(admin_client, day="2026-03-10", kind="day_off")

    assert response.status_code == 302
    assert response["Location"] == f"{URL}?year=2026"
    day = CalendarDay.objects.get(date=date(2026, 3, 10))
    assert day.kind == "day_off" and day.note == "Công văn 123/UBND-VP"
    assert day.updated_by.username == "kiemsoat1"
    assert deadline(start, 1, "working_days") == at(2026, 3, 11, 9)


def test_catalogue_admin_removes_the_day_off_and_the_deadline_moves_back_at_once(admin_client):
    add(admin_client, day="2026-03-10", kind="day_off")
    assert deadline(at(2026, 3, 9, 9), 1, "working_days") == at(2026, 3, 11, 9)

    response = admin_client.post(reverse("calendar-day-delete", args=["2026-03-10"]))

    assert response.status_code == 302
    assert not CalendarDay.objects.exists()
    assert deadline(at(2026, 3, 9, 9), 1, "working_days") == at(2026, 3, 10, 9)


def test_catalogue_admin_adds_a_make_up_saturday(admin_client):
    response = add(admin_client, day="07/03/2026", kind="working_day", note="Làm bù ngày 30/4")
    assert response.status_code == 302
    assert is_working_day(date(2026, 3, 7))
    assert deadline(at(2026, 3, 6, 16), 1, "working_days") == at(2026, 3, 7, 16)


def test_catalogue_admin_cancels_a_holiday(admin_client):
    assert add(admin_client, day="2026-11-24", kind="working_day").status_code == 302
    assert deadline(at(2026, 11, 23, 9), 1, "working_days") == at(2026, 11, 24, 9)


def test_catalogue_admin_edits_an_override(admin_client):
    CalendarDayFactory(date=date(2026, 3, 10), kind="day_off", note="Cũ")
    url = reverse("calendar-day-edit", args=["2026-03-10"])
    assert "Sửa điều chỉnh ngày 10/03/2026" in admin_client.get(url).content.decode()

    response = admin_client.post(url, {"kind": "day_off", "note": "Quyết định 45/QĐ-UBND"})

    assert response.status_code == 302
    assert CalendarDay.objects.get(date=date(2026, 3, 10)).note == "Quyết định 45/QĐ-UBND"


def test_with_htmx_adding_returns_the_panel_with_the_new_row(admin_client):
    response = add(admin_client, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html and 'id="calendar-panel"' in html
    assert "Đã lưu điều chỉnh ngày 10/03/2026" in html
    assert 'id="override-2026-03-10"' in html


def test_with_htmx_deleting_returns_the_panel_without_the_row(admin_client):
    CalendarDayFactory(date=date(2026, 3, 10), kind="day_off")
    response = admin_client.post(
        reverse("calendar-day-delete", args=["2026-03-10"]), HTTP_HX_REQUEST="true"
    )
    html = response.content.decode()
    assert "Đã xóa điều chỉnh ngày 10/03/2026" in html
    assert 'id="override-2026-03-10"' not in html


def test_deleting_a_day_without_override_says_so(admin_client):
    response = admin_client.post(reverse("calendar-day-delete", args=["2026-03-10"]), follow=True)
    assert "Ngày 10/03/2026 không có điều chỉnh nào" in response.content.decode()


def test_delete_needs_post(admin_client):
    assert admin_client.get(reverse("calendar-day-delete", args=["2026-03-10"])).status_code == 405


# --- Bad input ----------------------------------------------------------------------------------


def test_day_already_overridden_is_refused_with_a_hint_to_edit(admin_client):
    CalendarDayFactory(date=date(2026, 3, 10), kind="day_off")
    html = add(admin_client, day="2026-03-10", kind="day_off").content.decode()
    assert "Ngày 10/03/2026 đã được điều chỉnh (Ngày nghỉ)" in html
    assert "Hãy sửa hoặc xóa điều chỉnh đó thay vì thêm mới" in html
    assert reverse("calendar-day-edit", args=["2026-03-10"]) in html
    assert CalendarDay.objects.count() == 1


@pytest.mark.parametrize(
    "data, message",
    [
        ({"date": "", "kind": "day_off", "note": "x"}, "Vui lòng nhập ngày."),
        ({"date": "31/02/2026", "kind": "day_off", "note": "x"}, "Ngày không hợp lệ"),
        ({"date": "2026-03-10", "kind": "", "note": "x"}, "Vui lòng chọn loại điều chỉnh."),
        ({"date": "2026-03-10", "kind": "holiday", "note": "x"}, "Loại điều chỉnh không hợp lệ."),
        ({"date": "2026-03-10", "kind": "day_off", "note": ""},
         "Vui lòng ghi lý do hoặc căn cứ điều chỉnh."),
        ({"date": "2026-03-10", "kind": "day_off", "note": "x" * 256}, "Lý do dài quá 255 ký tự."),
        ({"date": "1999-12-31", "kind": "day_off", "note": "x"},
         "Ngày phải nằm trong khoảng năm 2000–2099."),
        ({"date": "2026-03-08", "kind": "day_off", "note": "x"},
         "Ngày 08/03/2026 vốn đã là ngày nghỉ theo lịch nhà nước"),
        ({"date": "2026-03-10", "kind": "working_day", "note": "x"},
         "Ngày 10/03/2026 vốn đã là ngày làm việc theo lịch nhà nước"),
    ],
    ids=["no-date", "bad-date", "no-kind", "unknown-kind", "no-note", "long-note",
         "out-of-range", "sunday-already-off", "tuesday-already-working"],
)
def test_invalid_input_shows_a_vietnamese_error_and_saves_nothing(admin_client, data, message):
    response = admin_client.post(URL, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not CalendarDay.objects.exists()


def test_invalid_input_with_htmx_returns_the_panel_with_the_error(admin_client):
    response = add(admin_client, day="2026-03-08", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "vốn đã là ngày nghỉ theo lịch nhà nước" in html


def test_bad_date_in_the_address_is_404(admin_client):
    assert admin_client.post(reverse("calendar-day-delete", args=["30-02-2026"])).status_code == 404
    assert admin_client.get(reverse("calendar-day-edit", args=["2026-03-10"])).status_code == 404


# --- The checker --------------------------------------------------------------------------------


def test_checker_shows_the_deadline_under_the_current_calendar(admin_client):
    CalendarDayFactory(date=date(2026, 3, 10), kind="day_off")
    response = admin_client.get(
        reverse("calendar-check"),
        {"start": "2026-03-09T09:00", "amount": "1", "unit": "working_days"},
        HTTP_HX_REQUEST="true",
    )
    assert "Hết hạn lúc 09:00, Thứ 4 11/03/2026" in response.content.decode()


def test_checker_refuses_a_fractional_number_of_calendar_days(admin_client):
    response = admin_client.get(
        reverse("calendar-check"),
        {"start": "2026-03-09T09:00", "amount": "1.5", "unit": "calendar_days"},
    )
    assert "Thời hạn tính theo ngày lịch phải là số nguyên." in response.content.decode()


# --- In the browser -----------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_catalogue_admin_adds_and_removes_a_day_off_in_the_browser(
    page, live_server, client, request
):
    # The tables are emptied without signals after a transactional test: start the next test
    # from a clean calendar cache.
    request.addfinalizer(calendar.invalidate)
    client.force_login(catalogue_admin())
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(f"{live_server.url}{URL}?year=2026")
    panel = page.locator("#calendar-panel")

    page.get_by_label("Ngày", exact=True).fill("2026-03-10")
    page.get_by_label("Ngày nghỉ — nghỉ thêm, hoặc hủy một ngày làm bù").check()
    page.get_by_label("Lý do, căn cứ").fill("Công văn 123/UBND-VP")
    page.get_by_role("button", name="Lưu điều chỉnh").click()

    panel.get_by_text("Đã lưu điều chỉnh ngày 10/03/2026").wait_for()
    assert page.locator("#override-2026-03-10").is_visible()
    assert deadline(at(2026, 3, 9, 9), 1, "working_days") == at(2026, 3, 11, 9)

    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#override-2026-03-10").get_by_role("button", name="Xóa").click()

    panel.get_by_text("Đã xóa điều chỉnh ngày 10/03/2026").wait_for()
    assert page.locator("#override-2026-03-10").count() == 0
    assert deadline(at(2026, 3, 9, 9), 1, "working_days") == at(2026, 3, 10, 9)
