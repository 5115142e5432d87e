"""The rules a procedure version must satisfy (procedures.validation.procedure_validate)."""

from dataclasses import replace
from decimal import Decimal

import pytest

from motcua.errors import ValidationError
from motcua.models import Role
from procedures.models import Level, OnlineLevel, TimeUnit
from procedures.schema import DocumentData, FeeData, StepData, TimeLimitData
from procedures.validation import normalize_code, procedure_validate
from tests.factories import CommuneFactory, DepartmentFactory, FieldFactory, procedure_data

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def department():
    return DepartmentFactory()  # Sở Tư pháp 000.00.10.H01 with MC, HCTP, LD


def errors_of(data) -> dict:
    with pytest.raises(ValidationError) as caught:
        procedure_validate(data)
    return caught.value.errors


def steps(*hours, unit_code="HCTP"):
    """Steps with these hours: the desk, then the specialist unit for the rest."""
    out = [StepData(name="Tiếp nhận hồ sơ", unit_code="MC", role=Role.CLERK, hours=Decimal(hours[0]))]
    out += [StepData(name=f"Xử lý {i}", unit_code=unit_code, role=Role.OFFICER, hours=Decimal(h))
            for i, h in enumerate(hours[1:], start=2)]
    return out


def test_a_complete_procedure_is_valid():
    procedure_validate(procedure_data())


# --- THE RULE: step hours add up to the time limit -------------------------------------------


def test_step_hours_that_do_not_add_up_to_the_limit_give_the_clear_message():
    data = procedure_data(time_limit_amount=Decimal(5), steps=steps(4, 32))

    with pytest.raises(ValidationError) as caught:
        procedure_validate(data)

    message = "Tổng thời gian các bước (36 giờ) phải bằng thời hạn giải quyết (40 giờ làm việc)."
    assert caught.value.errors == {"steps": [message]}
    assert str(caught.value) == message


def test_working_days_count_eight_hours_each():
    procedure_validate(procedure_data(time_limit_amount=Decimal(5), steps=steps(4, 36)))


def test_a_limit_in_working_hours_counts_as_it_is():
    procedure_validate(procedure_data(
        time_limit_amount=Decimal(4), time_limit_unit=TimeUnit.WORKING_HOURS, steps=steps(1, 3),
    ))
    assert "steps" in errors_of(procedure_data(
        time_limit_amount=Decimal(4), time_limit_unit=TimeUnit.WORKING_HOURS, steps=steps(1, 7),
    ))


def test_a_limit_in_calendar_days_counts_eight_hours_a_day():
    procedure_validate(procedure_data(
        time_limit_amount=Decimal(10), time_limit_unit=TimeUnit.CALENDAR_DAYS, steps=steps(4, 76),
    ))
    assert errors_of(procedure_data(
        time_limit_amount=Decimal(10), time_limit_unit=TimeUnit.CALENDAR_DAYS, steps=steps(4, 52),
    )) == {"steps": [
        "Tổng thời gian các bước (56 giờ) phải bằng thời hạn giải quyết (80 giờ làm việc)."
    ]}


def test_half_hours_are_allowed_and_shown_with_a_comma():
    procedure_validate(procedure_data(steps=steps("0.5", "23.5")))
    assert errors_of(procedure_data(steps=steps("0.5", "20"))) == {"steps": [
        "Tổng thời gian các bước (20,5 giờ) phải bằng thời hạn giải quyết (24 giờ làm việc)."
    ]}


def test_a_same_day_limit_lets_the_steps_share_at_most_eight_hours():
    procedure_validate(procedure_data(time_limit_amount=Decimal(0), steps=steps(1, 3)))
    procedure_validate(procedure_data(time_limit_amount=Decimal(0), steps=steps(1, 7)))

    assert errors_of(procedure_data(time_limit_amount=Decimal(0), steps=steps(1, 8))) == {
        "steps": ["Thủ tục giải quyết trong ngày: tổng thời gian các bước (9 giờ) không được "
                  "quá 8 giờ làm việc."]
    }


def test_a_procedure_without_an_internal_process_is_invalid():
    assert list(errors_of(procedure_data(steps=[]))) == ["steps"]


def test_a_calendar_day_limit_is_a_whole_number_of_days():
    errors = errors_of(procedure_data(
        time_limit_amount=Decimal("2.5"), time_limit_unit=TimeUnit.CALENDAR_DAYS, steps=steps(4, 16),
    ))
    assert errors["time_limit_amount"] == ["Thời hạn tính theo ngày lịch phải là số ngày nguyên."]


# --- Code and required fields -----------------------------------------------------------------


@pytest.mark.parametrize("code", [
    "1.001193.000.00.00.H01", "2.000986.000.00.00.H12", "3.000333.000.00.00.H30",
])
def test_the_long_national_code_is_accepted(code):
    procedure_validate(procedure_data(code=code))


@pytest.mark.parametrize("code", [
    "1.001193",                    # the short form: a province's catalogue stores the long one
    "1.001193.000.00.00",          # no catalogue code
    "1.001193.000.00.00.h01",      # lower case
    "1.01193.000.00.00.H01",       # five digits
    "TTHC-001",
    "1.001193.000.00.00.H01 x",
])
def test_a_code_not_in_the_long_national_form_is_rejected(code):
    errors = errors_of(procedure_data(code=code))
    assert list(errors) == ["code"]
    assert "không đúng định dạng mã quốc gia đầy đủ" in errors["code"][0]


def test_normalize_code_turns_the_short_national_form_into_the_long_one():
    assert normalize_code("1.001193", catalogue_suffix="000.00.00.H01") == "1.001193.000.00.00.H01"
    assert normalize_code(" 1.001193.000.00.00.H12 ", catalogue_suffix="000.00.00.H01") == \
        "1.001193.000.00.00.H12"


@pytest.mark.parametrize("attr, message", [
    ("code", "Mã thủ tục là bắt buộc."),
    ("name", "Tên thủ tục là bắt buộc."),
    ("field_code", "Mã lĩnh vực là bắt buộc."),
])
def test_required_fields_are_named(attr, message):
    assert errors_of(replace(procedure_data(), **{attr: "  "}))[attr] == [message]


def test_a_new_field_needs_its_name_but_a_known_field_does_not():
    assert "field_name" in errors_of(procedure_data(field_code="MOI", field_name=""))
    FieldFactory(code="HOTICH", name="Hộ tịch")
    procedure_validate(procedure_data(field_code="HOTICH", field_name=""))


@pytest.mark.parametrize("attr, value", [
    ("level", "huyen"),
    ("online_level", "level4"),
    ("time_limit_unit", "weeks"),
    ("supplement_clock", "stop"),
])
def test_values_outside_their_choices_are_rejected(attr, value):
    assert attr in errors_of(replace(procedure_data(), **{attr: value}))


# --- Agency and units -------------------------------------------------------------------------


def test_an_unknown_agency_is_rejected():
    assert errors_of(procedure_data(agency_code="000.00.99.H01")) == {
        "agency_code": ["Không có cơ quan mã “000.00.99.H01”."]
    }


def test_a_province_level_procedure_needs_an_agency():
    assert "agency_code" in errors_of(procedure_data(agency_code=""))


def test_a_commune_level_procedure_does_not_name_a_department():
    errors = errors_of(procedure_data(level=Level.COMMUNE))
    assert "không phải UBND cấp xã" in errors["agency_code"][0]


def test_a_step_in_a_unit_the_agency_does_not_have_is_rejected():
    data = procedure_data()
    data.steps[1].unit_code = "QLXD"

    assert errors_of(data) == {"steps.1.unit_code": [
        "Bước 2: cơ quan “Sở Tư pháp tỉnh An Giang” không có đơn vị mã “QLXD”."
    ]}


def test_a_step_in_an_unknown_agency_is_rejected():
    data = procedure_data(is_inter_agency=True)
    data.steps[1].agency_code = "000.00.98.H01"

    assert errors_of(data) == {"steps.1.agency_code": ["Bước 2: không có cơ quan mã “000.00.98.H01”."]}


def test_a_commune_level_step_unit_must_exist_in_every_commune():
    CommuneFactory(name="Ủy ban nhân dân xã Mỹ Hòa Hưng")
    CommuneFactory(name="Ủy ban nhân dân phường Châu Đốc", units=["MC", "VHXH", "LD"])
    data = procedure_data(level=Level.COMMUNE, agency_code="", steps=steps(2, 22, unit_code="KT"))

    assert errors_of(data) == {"steps.1.unit_code": [
        "Bước 2: đơn vị mã “KT” phải có ở mọi UBND cấp xã; chưa có ở: "
        "Ủy ban nhân dân phường Châu Đốc."
    ]}
    procedure_validate(replace(data, steps=steps(2, 22, unit_code="VHXH")))


def test_steps_in_two_agencies_make_an_inter_agency_procedure():
    DepartmentFactory(code="000.00.13.H01", name="Sở Nông nghiệp và Môi trường",
                      units=("VPDKDD", "Văn phòng Đăng ký đất đai"))
    data = procedure_data()
    data.steps[1] = StepData(name="Trích đo địa chính", unit_code="VPDKDD", role=Role.OFFICER,
                             hours=Decimal(16), agency_code="000.00.13.H01")

    assert list(errors_of(data)) == ["is_inter_agency"]
    procedure_validate(replace(data, is_inter_agency=True))


def test_a_step_is_held_by_a_clerk_an_officer_or_a_leader():
    data = procedure_data()
    data.steps[2].role = Role.CATALOGUE_ADMIN
    assert list(errors_of(data)) == ["steps.2.role"]


@pytest.mark.parametrize("hours", [Decimal(0), Decimal(-2), "abc", Decimal("1.005")])
def test_a_step_takes_a_positive_number_of_hours(hours):
    data = procedure_data()
    data.steps[0].hours = hours
    assert "steps.0.hours" in errors_of(data)


# --- Channels, limits, fees, documents --------------------------------------------------------


def test_at_least_one_way_to_submit():
    data = procedure_data(accepts_in_person=False, accepts_online=False, accepts_post=False,
                          online_level=OnlineLevel.NONE)
    assert list(errors_of(data)) == ["accepts_in_person"]


def test_online_submission_and_online_level_agree():
    assert list(errors_of(procedure_data(accepts_online=True, online_level=OnlineLevel.NONE))) == \
        ["online_level"]
    assert list(errors_of(procedure_data(accepts_online=False, online_level=OnlineLevel.FULL))) == \
        ["online_level"]


def test_a_negative_time_limit_is_rejected():
    errors = errors_of(procedure_data(time_limit_amount=Decimal(-1)))
    assert errors["time_limit_amount"] == ["Thời hạn giải quyết không được âm."]


def test_a_channel_limit_needs_an_accepted_channel_and_appears_once():
    data = procedure_data(time_limits=[
        TimeLimitData(channel="online", amount=Decimal(2), unit=TimeUnit.WORKING_DAYS),
        TimeLimitData(channel="online", amount=Decimal(1), unit=TimeUnit.WORKING_DAYS),
        TimeLimitData(channel="post", amount=Decimal(4), unit=TimeUnit.WORKING_DAYS),
        TimeLimitData(channel="fax", amount=Decimal(-1), unit="weeks"),
    ])
    errors = errors_of(data)
    assert set(errors) == {"time_limits.1.channel", "time_limits.2.channel",
                           "time_limits.3.channel", "time_limits.3.amount", "time_limits.3.unit"}
    assert "bị nhập hai lần" in errors["time_limits.1.channel"][0]


def test_fees_are_not_negative_but_may_have_no_fixed_amount():
    procedure_validate(procedure_data(fees=[FeeData(name="Phí theo trang", amount_vnd=None)]))
    assert errors_of(procedure_data(fees=[FeeData(name="Lệ phí", amount_vnd=-5000)])) == {
        "fees.0.amount_vnd": ["Phí, lệ phí dòng 1: mức thu không được âm."]
    }


def test_a_document_has_a_name_and_at_least_one_original_or_copy():
    errors = errors_of(procedure_data(documents=[
        DocumentData(name="Tờ khai", originals=0, copies=0),
        DocumentData(name="", originals=1, copies=-1),
    ]))
    assert set(errors) == {"documents.0.originals", "documents.1.name", "documents.1.copies"}


def test_every_problem_is_reported_at_once():
    data = procedure_data(code="abc", name="", time_limit_amount=Decimal(5))
    data.steps[1].unit_code = "XYZ"

    with pytest.raises(ValidationError) as caught:
        procedure_validate(data)

    assert set(caught.value.errors) == {"code", "name", "steps.1.unit_code", "steps"}
    assert str(caught.value).startswith("Thông tin thủ tục chưa hợp lệ (4 lỗi):")
