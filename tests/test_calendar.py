"""The office calendar (DOMAIN.md "Time"): working days, office hours, deadlines, overrides.

Expected moments are written out in full; the state calendar's facts the tests rely on are
asserted on the `holidays` package itself first, so that a change of the package shows up as
such and not as a mysterious deadline.
"""

import random
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import holidays
import pytest
from django.db import OperationalError, transaction
from django.test import override_settings

from motcua import calendar
from motcua.calendar import (
    add_working_hours,
    closing_time,
    deadline,
    is_working_day,
    next_opening,
    opening_time,
    working_hours_between,
)
from motcua.models import CalendarDay
from tests.factories_calendar import CalendarDayFactory

pytestmark = pytest.mark.django_db

VN = ZoneInfo("Asia/Ho_Chi_Minh")
DAY_OFF, WORKING_DAY = CalendarDay.Kind.DAY_OFF, CalendarDay.Kind.WORKING_DAY


def at(year, month, day, hour=0, minute=0):
    return datetime(year, month, day, hour, minute, tzinfo=VN)


def state(year):
    return holidays.country_holidays("VN", years=year)


# --- The state calendar, as the package gives it ----------------------------------------------


def test_package_gives_tet_2026_as_monday_16_to_friday_20_february():
    february = sorted(d for d in state(2026) if d.month == 2)
    assert february == [date(2026, 2, d) for d in (16, 17, 18, 19, 20)]


def test_tet_2026_days_are_off_and_work_resumes_monday_23_february():
    assert is_working_day(date(2026, 2, 13))
    for day in range(16, 21):
        assert not is_working_day(date(2026, 2, day))
    assert not is_working_day(date(2026, 2, 21))  # Saturday
    assert is_working_day(date(2026, 2, 23))


def test_friday_13_feb_2026_0900_plus_1_working_day_ends_monday_23_feb_0900_after_tet():
    assert deadline(at(2026, 2, 13, 9), 1, "working_days") == at(2026, 2, 23, 9)


def test_friday_13_feb_2026_0900_plus_5_working_days_ends_friday_27_feb_0900():
    assert deadline(at(2026, 2, 13, 9), 5, "working_days") == at(2026, 2, 27, 9)


def test_package_moves_hung_kings_2026_from_sunday_26_to_monday_27_april():
    vn = state(2026)
    assert date(2026, 4, 26).weekday() == 6 and date(2026, 4, 26) in vn
    assert date(2026, 4, 27) in vn
    assert {date(2026, 4, 30), date(2026, 5, 1)} <= set(vn)


def test_friday_24_apr_2026_0900_plus_3_working_days_skips_27_4_30_4_1_5_and_ends_monday_4_may():
    # Tue 28/4 (1), Wed 29/4 (2), then Thu 30/4, Fri 1/5 off, weekend, Mon 4/5 (3).
    assert deadline(at(2026, 4, 24, 9), 3, "working_days") == at(2026, 5, 4, 9)


def test_package_substitutes_30_4_and_1_5_2022_weekend_with_monday_2_and_tuesday_3_may():
    vn = state(2022)
    assert date(2022, 4, 30).weekday() == 5 and date(2022, 5, 1).weekday() == 6
    assert {date(2022, 5, 2), date(2022, 5, 3)} <= set(vn)
    assert not is_working_day(date(2022, 5, 2))
    assert not is_working_day(date(2022, 5, 3))


def test_friday_29_apr_2022_1000_plus_1_working_day_ends_wednesday_4_may_1000():
    assert deadline(at(2022, 4, 29, 10), 1, "working_days") == at(2022, 5, 4, 10)


def test_friday_28_apr_2023_1000_plus_1_working_day_skips_hung_kings_and_30_4_substitutes():
    # Hùng Kings on Sat 29/4 and 30/4 on Sun are made up on Tue 2/5 and Wed 3/5; 1/5 is Monday.
    assert {date(2023, 5, 2), date(2023, 5, 3)} <= set(state(2023))
    assert deadline(at(2023, 4, 28, 10), 1, "working_days") == at(2023, 5, 4, 10)


# --- Make-up working Saturdays ------------------------------------------------------------------


def test_package_makes_saturday_26_apr_2025_a_working_day_for_friday_2_may_off():
    vn = state(2025)
    assert date(2025, 4, 26) in vn.weekend_workdays
    assert date(2025, 5, 2) in vn
    assert is_working_day(date(2025, 4, 26))
    assert not is_working_day(date(2025, 5, 2))


def test_friday_25_apr_2025_1000_plus_1_working_day_ends_on_make_up_saturday_26_apr_1000():
    assert deadline(at(2025, 4, 25, 10), 1, "working_days") == at(2025, 4, 26, 10)


def test_tuesday_29_apr_2025_1000_plus_1_working_day_ends_monday_5_may_1000():
    assert deadline(at(2025, 4, 29, 10), 1, "working_days") == at(2025, 5, 5, 10)


def test_friday_21_aug_2026_1600_plus_1_working_day_ends_on_make_up_saturday_22_aug_1600():
    assert date(2026, 8, 22) in state(2026).weekend_workdays
    assert deadline(at(2026, 8, 21, 16), 1, "working_days") == at(2026, 8, 22, 16)


def test_friday_28_aug_2026_1000_plus_1_working_day_skips_31_8_1_9_2_9_and_ends_thursday_3_sep():
    assert deadline(at(2026, 8, 28, 10), 1, "working_days") == at(2026, 9, 3, 10)


def test_make_up_saturday_added_by_admin_7_mar_2026_moves_friday_1600_deadline_to_saturday():
    start = at(2026, 3, 6, 16)
    assert deadline(start, 1, "working_days") == at(2026, 3, 9, 16)
    CalendarDayFactory(date=date(2026, 3, 7), kind=WORKING_DAY, note="Làm bù")
    assert is_working_day(date(2026, 3, 7))
    assert deadline(start, 1, "working_days") == at(2026, 3, 7, 16)


# --- Admin overrides ----------------------------------------------------------------------------


def test_day_off_added_by_admin_tuesday_10_mar_2026_moves_monday_0900_plus_1_to_wednesday_0900():
    start = at(2026, 3, 9, 9)
    assert deadline(start, 1, "working_days") == at(2026, 3, 10, 9)
    CalendarDayFactory(date=date(2026, 3, 10), kind=DAY_OFF, note="Nghỉ lễ hội của tỉnh")
    assert not is_working_day(date(2026, 3, 10))
    assert deadline(start, 1, "working_days") == at(2026, 3, 11, 9)


def test_cancelling_holiday_24_nov_2026_makes_monday_0900_plus_1_end_tuesday_24_nov_0900():
    assert date(2026, 11, 24) in state(2026)
    start = at(2026, 11, 23, 9)
    assert deadline(start, 1, "working_days") == at(2026, 11, 25, 9)
    CalendarDayFactory(date=date(2026, 11, 24), kind=WORKING_DAY, note="Không nghỉ")
    assert is_working_day(date(2026, 11, 24))
    assert deadline(start, 1, "working_days") == at(2026, 11, 24, 9)


def test_cancelling_make_up_saturday_22_aug_2026_moves_friday_1600_plus_1_to_monday_24_aug():
    CalendarDayFactory(date=date(2026, 8, 22), kind=DAY_OFF, note="Hủy làm bù")
    assert deadline(at(2026, 8, 21, 16), 1, "working_days") == at(2026, 8, 24, 16)


def test_deleting_an_override_restores_the_state_calendar_at_once():
    override = CalendarDayFactory(date=date(2026, 3, 10), kind=DAY_OFF)
    assert not is_working_day(date(2026, 3, 10))
    override.delete()
    assert is_working_day(date(2026, 3, 10))


def test_override_in_a_rolled_back_transaction_is_forgotten():
    with pytest.raises(RuntimeError), transaction.atomic():
        CalendarDay.objects.create(date=date(2026, 3, 10), kind=DAY_OFF, note="thử")
        assert not is_working_day(date(2026, 3, 10))
        raise RuntimeError("rollback")
    assert is_working_day(date(2026, 3, 10))


def test_override_written_by_another_process_is_seen_after_the_recheck_interval(monkeypatch):
    is_working_day(date(2026, 3, 10))  # the cache is fresh now
    # Another process's write: no signal reaches this one.
    CalendarDay.objects.bulk_create([CalendarDay(date=date(2026, 3, 10), kind=DAY_OFF)])
    try:
        later = time.monotonic() + calendar.RECHECK_SECONDS + 1
        monkeypatch.setattr(calendar, "_monotonic", lambda: later)
        assert not is_working_day(date(2026, 3, 10))
    finally:
        monkeypatch.undo()
        calendar.invalidate()  # the row rolls back with the test, unseen by any signal


def test_deadline_does_not_touch_the_database_between_rechecks(django_assert_num_queries):
    deadline(at(2026, 3, 9, 9), 1, "working_days")
    with django_assert_num_queries(0):
        for n in range(200):
            deadline(at(2026, 3, 9, 9), n, "working_days")


def test_calendar_answers_from_the_package_when_the_database_is_unavailable(monkeypatch, caplog):
    def down():
        raise OperationalError("connection refused")

    monkeypatch.setattr(calendar, "_read_stamp", down)
    calendar.invalidate()
    try:
        assert not is_working_day(date(2027, 2, 8))  # Tết 2027
        assert deadline(at(2027, 2, 3, 9), 1, "working_days") == at(2027, 2, 11, 9)
        assert "Calendar overrides unreadable" in caplog.text
    finally:
        monkeypatch.undo()
        calendar.invalidate()


# --- Office hours and the start of the clock ---------------------------------------------------


def test_monday_9_mar_2026_0900_plus_5_working_days_ends_next_monday_16_mar_0900():
    assert deadline(at(2026, 3, 9, 9), 5, "working_days") == at(2026, 3, 16, 9)


def test_monday_9_mar_2026_0730_plus_1_working_day_ends_same_monday_1700_not_tuesday_0730():
    assert deadline(at(2026, 3, 9, 7, 30), 1, "working_days") == at(2026, 3, 9, 17)


def test_count_ending_at_lunch_ends_at_1130_not_1300():
    assert deadline(at(2026, 3, 9, 7, 30), 4, "working_hours") == at(2026, 3, 9, 11, 30)


def test_received_friday_6_mar_2026_1630_plus_1_working_day_ends_monday_9_mar_1630():
    assert deadline(at(2026, 3, 6, 16, 30), 1, "working_days") == at(2026, 3, 9, 16, 30)


def test_received_friday_6_mar_2026_1630_plus_1_working_hour_ends_monday_9_mar_0800():
    assert deadline(at(2026, 3, 6, 16, 30), 1, "working_hours") == at(2026, 3, 9, 8)


def test_received_at_lunch_1200_counts_from_1300_plus_2_hours_ends_1500():
    assert deadline(at(2026, 3, 10, 12), 2, "working_hours") == at(2026, 3, 10, 15)


def test_received_tuesday_10_mar_2026_at_lunch_plus_1_working_day_ends_wednesday_1130():
    assert deadline(at(2026, 3, 10, 12), 1, "working_days") == at(2026, 3, 11, 11, 30)


def test_received_sunday_8_mar_2026_plus_1_working_day_ends_monday_9_mar_1700():
    assert deadline(at(2026, 3, 8, 10), 1, "working_days") == at(2026, 3, 9, 17)


def test_received_sunday_8_mar_2026_plus_2_working_hours_ends_monday_0930():
    assert deadline(at(2026, 3, 8, 10), 2, "working_hours") == at(2026, 3, 9, 9, 30)


def test_received_after_closing_1700_counts_from_next_morning():
    assert deadline(at(2026, 3, 9, 17), 1, "working_hours") == at(2026, 3, 10, 8, 30)


def test_wednesday_31_dec_2025_1000_plus_2_working_days_spans_new_year_and_ends_monday_5_jan():
    assert deadline(at(2025, 12, 31, 10), 2, "working_days") == at(2026, 1, 5, 10)


def test_friday_31_dec_2027_1000_plus_1_working_day_skips_new_year_substitute_to_tuesday_4_jan():
    assert date(2028, 1, 3) in state(2028)  # 1/1/2028 is a Saturday
    assert deadline(at(2027, 12, 31, 10), 1, "working_days") == at(2028, 1, 4, 10)


def test_next_opening_of_moments_outside_office_hours():
    assert next_opening(at(2026, 3, 6, 17)) == at(2026, 3, 9, 7, 30)  # Friday closing
    assert next_opening(at(2026, 3, 9, 11, 30)) == at(2026, 3, 9, 13)  # lunch
    assert next_opening(at(2026, 3, 9, 6)) == at(2026, 3, 9, 7, 30)  # early morning
    assert next_opening(at(2026, 3, 8, 10)) == at(2026, 3, 9, 7, 30)  # Sunday
    assert next_opening(at(2026, 2, 16, 9)) == at(2026, 2, 23, 7, 30)  # Tết


def test_next_opening_during_office_hours_is_the_moment_itself():
    moment = datetime(2026, 3, 9, 10, 15, 30, 123456, tzinfo=VN)
    assert next_opening(moment) == moment
    assert next_opening(at(2026, 3, 9, 7, 30)) == at(2026, 3, 9, 7, 30)


def test_add_working_hours_zero_is_the_next_opening():
    assert add_working_hours(at(2026, 3, 9, 12), Decimal(0)) == at(2026, 3, 9, 13)
    assert add_working_hours(at(2026, 3, 9, 12), Decimal("1.5")) == at(2026, 3, 9, 14, 30)


def test_opening_and_closing_time_of_a_day():
    assert opening_time(date(2026, 3, 9)) == at(2026, 3, 9, 7, 30)
    assert closing_time(date(2026, 3, 9)) == at(2026, 3, 9, 17)


# --- Limit 0 and calendar days ------------------------------------------------------------------


def test_limit_0_working_days_ends_at_closing_of_the_same_day_monday_9_mar_2026_1700():
    assert deadline(at(2026, 3, 9, 9), 0, "working_days") == at(2026, 3, 9, 17)
    assert deadline(at(2026, 3, 9, 9), 0, "working_hours") == at(2026, 3, 9, 17)
    assert deadline(at(2026, 3, 9, 9), 0, "calendar_days") == at(2026, 3, 9, 17)


def test_limit_0_received_on_saturday_or_after_closing_ends_at_closing_of_the_next_working_day():
    assert deadline(at(2026, 3, 7, 10), 0, "working_days") == at(2026, 3, 9, 17)
    assert deadline(at(2026, 3, 9, 17, 30), 0, "working_days") == at(2026, 3, 10, 17)


def test_monday_2_mar_2026_plus_4_calendar_days_ends_friday_6_mar_1700():
    assert deadline(at(2026, 3, 2, 10), 4, "calendar_days") == at(2026, 3, 6, 17)


def test_monday_2_mar_2026_plus_5_calendar_days_lands_on_saturday_and_ends_monday_9_mar_1700():
    assert deadline(at(2026, 3, 2, 10), 5, "calendar_days") == at(2026, 3, 9, 17)


def test_thursday_23_apr_2026_plus_4_calendar_days_lands_on_hung_kings_substitute_ends_28_apr():
    assert deadline(at(2026, 4, 23, 10), 4, "calendar_days") == at(2026, 4, 28, 17)


def test_tuesday_10_feb_2026_plus_7_calendar_days_lands_in_tet_and_ends_monday_23_feb_1700():
    assert deadline(at(2026, 2, 10, 9), 7, "calendar_days") == at(2026, 2, 23, 17)


def test_calendar_days_received_friday_after_closing_count_from_monday():
    # Clock starts Monday 9/3; 1 calendar day later is Tuesday 10/3.
    assert deadline(at(2026, 3, 6, 18), 1, "calendar_days") == at(2026, 3, 10, 17)
    assert deadline(at(2026, 3, 7, 9), 2, "calendar_days") == at(2026, 3, 11, 17)


# --- Fractions, working hours between -----------------------------------------------------------


def test_fractional_working_hours_and_days():
    monday = at(2026, 3, 9, 7, 30)
    assert deadline(monday, Decimal("1.5"), "working_hours") == at(2026, 3, 9, 9)
    assert deadline(monday, Decimal("0.5"), "working_days") == at(2026, 3, 9, 11, 30)
    assert deadline(at(2026, 3, 9, 11), Decimal("2.25"), "working_hours") == at(2026, 3, 9, 14, 45)
    assert deadline(at(2026, 3, 9, 16, 45), Decimal("0.75"), "working_hours") == at(2026, 3, 10, 8)
    assert deadline(monday, Decimal("1.25"), "working_days") == at(2026, 3, 10, 9, 30)


def test_working_hours_between_across_lunch_weekend_and_tet():
    assert working_hours_between(at(2026, 3, 9, 11), at(2026, 3, 9, 13, 30)) == Decimal(1)
    assert working_hours_between(at(2026, 3, 6, 16), at(2026, 3, 9, 8, 30)) == Decimal(2)
    assert working_hours_between(at(2026, 2, 13, 16), at(2026, 2, 23, 8, 30)) == Decimal(2)
    assert working_hours_between(at(2026, 3, 9, 7, 30), at(2026, 3, 14)) == Decimal(40)
    assert working_hours_between(at(2026, 3, 9, 7, 30), at(2026, 3, 9, 7, 45)) == Decimal("0.25")


def test_working_hours_between_outside_office_hours_is_zero():
    assert working_hours_between(at(2026, 3, 9, 11, 45), at(2026, 3, 9, 12, 30)) == 0
    assert working_hours_between(at(2026, 3, 7, 8), at(2026, 3, 8, 16)) == 0


def test_working_hours_between_counts_an_admin_make_up_saturday():
    friday, monday = at(2026, 3, 6, 17), at(2026, 3, 9, 7, 30)
    assert working_hours_between(friday, monday) == 0
    CalendarDayFactory(date=date(2026, 3, 7), kind=WORKING_DAY)
    assert working_hours_between(friday, monday) == 8


def test_working_hours_between_is_negative_when_end_is_before_start():
    assert working_hours_between(at(2026, 3, 9, 14), at(2026, 3, 9, 13)) == Decimal(-1)


def test_working_hours_between_start_and_deadline_is_the_limit_for_any_start():
    rng = random.Random(2026)
    for _ in range(300):
        start = at(2025, 1, 1) + timedelta(minutes=rng.randrange(3 * 365 * 24 * 60))
        hours = Decimal(rng.randrange(1, 400)) / 4
        assert working_hours_between(start, deadline(start, hours, "working_hours")) == hours


def test_limit_far_beyond_the_precomputed_years_still_adds_up():
    start = at(2026, 3, 9, 9)
    end = deadline(start, 2000, "working_days")
    assert end.year in (2033, 2034)
    assert working_hours_between(start, end) == 16000


# --- Inputs -------------------------------------------------------------------------------------


def test_naive_datetime_is_rejected():
    with pytest.raises(ValueError):
        deadline(datetime(2026, 3, 9, 9), 1, "working_days")
    with pytest.raises(ValueError):
        working_hours_between(datetime(2026, 3, 9, 9), at(2026, 3, 9, 10))
    with pytest.raises(ValueError):
        next_opening(datetime(2026, 3, 9, 9))


@pytest.mark.parametrize(
    "amount, unit, error",
    [
        (1, "days", ValueError),
        (-1, "working_days", ValueError),
        (Decimal("-0.5"), "working_hours", ValueError),
        (Decimal("1.5"), "calendar_days", ValueError),
        (Decimal("NaN"), "working_hours", ValueError),
        (1.5, "working_hours", TypeError),
        (True, "working_days", TypeError),
    ],
)
def test_bad_limit_is_rejected(amount, unit, error):
    with pytest.raises(error):
        deadline(at(2026, 3, 9, 9), amount, unit)


def test_aware_start_in_utc_gives_a_deadline_in_ho_chi_minh_time():
    start = datetime(2026, 3, 9, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội
    end = deadline(start, 1, "working_days")
    assert end == at(2026, 3, 10, 9)
    assert end.tzinfo == VN and end.utcoffset() == timedelta(hours=7)


# --- Configuration ------------------------------------------------------------------------------


def test_office_hours_come_from_settings():
    with override_settings(MOTCUA_OFFICE_HOURS=[("08:00", "12:00"), ("13:30", "17:30")]):
        assert deadline(at(2026, 3, 9, 8), 1, "working_days") == at(2026, 3, 9, 17, 30)
        assert next_opening(at(2026, 3, 9, 12, 15)) == at(2026, 3, 9, 13, 30)
    assert deadline(at(2026, 3, 9, 8), 1, "working_days") == at(2026, 3, 10, 8)


def test_working_weekdays_come_from_settings():
    with override_settings(MOTCUA_WORK_WEEKDAYS=[0, 1, 2, 3, 4, 5]):
        assert deadline(at(2026, 3, 6, 16), 1, "working_days") == at(2026, 3, 7, 16)
    assert deadline(at(2026, 3, 6, 16), 1, "working_days") == at(2026, 3, 9, 16)
