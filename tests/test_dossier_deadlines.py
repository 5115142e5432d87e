"""Time (DOMAIN.md "Time"): the appointment, the clock outside office hours, step deadlines, the
supplement pause (and the restart policy), one supplement per agency, early/on time/late."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from dossiers.models import State
from motcua import calendar
from motcua.models import Role
from tests.dossier_factories import (  # noqa: F401
    MONDAY_9,
    TZ,
    act,
    dossier_in,
    frozen,
    make_procedure,
    org,
    receive,
    version,
)

pytestmark = pytest.mark.django_db


def at(day: int, hour: int, minute: int = 0, month: int = 11, year: int = 2025) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def test_received_on_saturday_the_clock_starts_monday_opening(org, version, frozen):
    frozen.move_to(at(29, 10))  # Saturday
    dossier = receive(org, version)
    assert dossier.code.endswith("-251129-0001")  # the day it was received
    assert dossier.received_at == at(29, 10)
    assert dossier.clock_started_at == at(1, 7, 30, month=12)
    assert dossier.due_at == at(5, 17, month=12)  # Monday 07:30 + 5 working days
    reception = dossier.current_step
    assert reception.started_at == at(1, 7, 30, month=12)
    assert reception.due_at == at(1, 9, 30, month=12)


def test_received_at_lunch_counts_from_13_00(org, version, frozen):
    frozen.move_to(at(24, 12))
    dossier = receive(org, version)
    assert dossier.clock_started_at == at(24, 13)
    # 40 working hours from Monday 13:00 are used up at 11:30 the next Monday.
    assert dossier.due_at == at(1, 11, 30, month=12)


def test_appointment_skips_public_holidays(org, frozen):
    version = make_procedure(agency=org.a, amount=Decimal(2))
    frozen.move_to(at(29, 9, month=8))  # Friday before National Day (1–2/9/2025 off)
    dossier = receive(org, version)
    assert dossier.due_at == calendar.deadline(at(29, 9, month=8), Decimal(2), "working_days")
    # Friday 09:00 + 16 working hours, with Monday 1 and Tuesday 2 off: Thursday 09:00.
    assert dossier.due_at == at(4, 9, month=9)


def test_supplement_pause_moves_the_appointment_by_the_paused_working_hours(org, version, frozen):
    dossier = act(receive(org, version), "start", org.clerk)
    assert dossier.due_at == at(1, 9, month=12)
    assert dossier.current_step.due_at == at(27, 9)

    frozen.move_to(at(24, 10))
    dossier = act(dossier, "request_supplement", org.officer, missing_documents=["Bản sao CCCD"])
    assert dossier.state == State.SUPPLEMENT_REQUESTED and dossier.paused_at == at(24, 10)
    frozen.move_to(at(26, 10))  # Wednesday: 16 working hours later
    dossier = act(dossier, "supplement", org.clerk, documents=["Bản sao CCCD"])

    assert dossier.state == State.IN_PROGRESS and dossier.paused_at is None
    assert dossier.paused_hours == Decimal(16)
    assert dossier.due_at == at(3, 9, month=12)
    assert dossier.original_due_at == at(1, 9, month=12)  # the receipt's first appointment
    assert dossier.current_step.due_at == at(1, 9, month=12)
    event = dossier.events.latest("id")
    assert event.data["paused_hours"] == "16"
    assert event.data["mode"] == "pause"
    assert event.data["due_at"] == at(3, 9, month=12).isoformat()


def test_a_pause_over_a_weekend_counts_only_office_hours(org, version, frozen):
    dossier = act(receive(org, version), "start", org.clerk)
    frozen.move_to(at(28, 16))  # Friday 16:00
    dossier = act(dossier, "request_supplement", org.officer, comment="Thiếu bản vẽ")
    frozen.move_to(at(1, 8, 30, month=12))  # Monday 08:30
    dossier = act(dossier, "supplement", org.clerk)
    assert dossier.paused_hours == Decimal(2)
    assert dossier.due_at == calendar.add_working_hours(at(1, 9, month=12), Decimal(2))
    assert dossier.due_at == at(1, 11, month=12)


def test_paused_hours_add_up_over_several_supplements(org, version, frozen):
    dossier = act(receive(org, version), "start", org.clerk)
    for day in (24, 25):
        frozen.move_to(at(day, 9))
        dossier = act(dossier, "request_supplement", org.officer, comment="Thiếu giấy tờ")
        frozen.move_to(at(day, 11))
        dossier = act(dossier, "supplement", org.clerk)
    assert dossier.paused_hours == Decimal(4)
    assert dossier.due_at == at(1, 14, 30, month=12)  # 09:00 + 4 h across the lunch break


def test_restart_policy_counts_the_whole_limit_again_from_the_supplement(org, frozen):
    version = make_procedure(agency=org.a, supplement_clock="restart")
    dossier = act(receive(org, version), "start", org.clerk)
    frozen.move_to(at(24, 10))
    dossier = act(dossier, "request_supplement", org.officer, comment="Thiếu giấy tờ")
    frozen.move_to(at(26, 10))
    dossier = act(dossier, "supplement", org.clerk)
    assert dossier.due_at == at(3, 10, month=12)  # Wednesday 10:00 + 5 working days
    assert dossier.current_step.due_at == at(1, 10, month=12)  # + 24 working hours
    assert dossier.events.latest("id").data["mode"] == "restart"


def test_a_second_supplement_request_by_the_same_agency_is_flagged_late(org, version, frozen):
    dossier = act(receive(org, version), "start", org.clerk)
    dossier = act(dossier, "request_supplement", org.officer, missing_documents=["Bản vẽ"])
    assert dossier.events.latest("id").data["counts_late"] is False
    dossier = act(dossier, "supplement", org.clerk)
    dossier = act(dossier, "request_supplement", org.officer, missing_documents=["Bản đồ"])
    data = dossier.events.latest("id").data
    assert data["counts_late"] is True and data["request_number"] == 2
    assert dossier.supplement_requests == 2


def test_supplement_requests_count_per_agency(org, frozen):
    steps = [
        ("Tiếp nhận", "MC", Role.CLERK, Decimal(1), None),
        ("Thẩm định Sở A", "CM", Role.OFFICER, Decimal(19), None),
        ("Thẩm định Sở B", "CM", Role.OFFICER, Decimal(10), org.b),
        ("Phê duyệt", "LD", Role.LEADER, Decimal(9), None),
        ("Trả kết quả", "MC", Role.CLERK, Decimal(1), None),
    ]
    version = make_procedure(agency=org.a, steps=steps)
    dossier = act(receive(org, version), "start", org.clerk)
    dossier = act(dossier, "request_supplement", org.officer, comment="Thiếu bản vẽ")
    dossier = act(act(dossier, "supplement", org.clerk), "forward", org.officer)
    dossier = act(dossier, "request_supplement", org.officer_b, comment="Thiếu ý kiến")
    data = dossier.events.latest("id").data
    assert data["counts_late"] is False and data["agency"] == org.b.code


def test_result_early_on_time_and_late(org, version, frozen):
    early = dossier_in(org, version, "result_ready")
    assert early.timeliness == "early"

    dossier = dossier_in(org, version, "awaiting_approval")
    frozen.move_to(at(1, 9, month=12))  # exactly the appointment
    assert act(dossier, "approve", org.leader).timeliness == "on_time"

    frozen.move_to(MONDAY_9)
    late = dossier_in(org, version, "awaiting_approval")
    frozen.move_to(at(1, 9, 1, month=12))
    late = act(late, "approve", org.leader)
    assert late.timeliness == "late"
    assert late.events.latest("id").data["timeliness"] == "late"
    assert late.events.latest("id").on_time is False  # the leader's step too


def test_overdue_flag_is_cleared_when_a_dossier_closes(org, version, frozen):
    dossier = dossier_in(org, version, "in_progress")
    from dossiers.models import Dossier

    Dossier.objects.filter(pk=dossier.pk).update(is_overdue=True, is_due_soon=True)
    withdrawn = act(dossier, "withdraw", org.clerk, reason="Rút")
    assert withdrawn.is_overdue is False and withdrawn.is_due_soon is False


def test_due_at_never_moves_backwards_with_a_zero_pause(org, version, frozen):
    dossier = act(receive(org, version), "start", org.clerk)
    frozen.move_to(at(24, 17, 30))
    dossier = act(dossier, "request_supplement", org.officer, comment="Thiếu")
    frozen.move_to(at(24, 20))
    dossier = act(dossier, "supplement", org.clerk)
    assert dossier.paused_hours == 0
    assert dossier.due_at == at(1, 9, month=12)


def test_deadlines_are_aware_and_in_vietnam_time(org, version, frozen):
    dossier = receive(org, version)
    assert dossier.due_at.utcoffset() is not None
    assert dossier.due_at - dossier.received_at == timedelta(days=7)
