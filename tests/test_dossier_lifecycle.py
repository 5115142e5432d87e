"""A dossier's life through the services: reception, the internal process (also across
agencies and with several approval levels), send-back, denial, online submission, the event
log, assignment."""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from dossiers import selectors
from dossiers.models import Dossier, DossierCounter, DossierDocument, DossierStep, State
from dossiers.services import (
    checklist_missing,
    dossier_appointment,
    dossier_assign,
    dossier_available_transitions,
)
from motcua.errors import PermissionDenied, TransitionNotAllowed, ValidationError
from motcua.models import Role
from tests.dossier_factories import (  # noqa: F401
    APPLICANT,
    MONDAY_9,
    act,
    dossier_in,
    frozen,
    make_procedure,
    org,
    receive,
    submit_online,
    version,
)

pytestmark = pytest.mark.django_db


def events_of(dossier):
    return list(dossier.events.order_by("at", "id").values_list("transition", "from_state", "to_state"))


def test_desk_reception_issues_code_appointment_and_copies_the_process(org, version, frozen):
    dossier = receive(org, version)

    assert dossier.code == "000.00.10.H01-251124-0001"
    assert dossier.state == State.RECEIVED
    assert dossier.received_at == MONDAY_9 == dossier.clock_started_at == dossier.submitted_at
    assert dossier.due_at == MONDAY_9 + timedelta(days=7)  # 5 working days: next Monday 09:00
    assert dossier.original_due_at == dossier.due_at
    assert dossier.provisional_code is None
    steps = list(DossierStep.objects.filter(dossier=dossier).order_by("position"))
    assert [(s.position, s.unit.code, s.unit.agency_id, s.role) for s in steps] == [
        (1, "MC", org.a.pk, Role.CLERK), (2, "CM", org.a.pk, Role.OFFICER),
        (3, "CM", org.a.pk, Role.OFFICER), (4, "LD", org.a.pk, Role.LEADER),
        (5, "MC", org.a.pk, Role.CLERK),
    ]
    reception = steps[0]
    assert dossier.current_step_id == reception.pk
    assert (dossier.current_unit, dossier.current_role) == (org.units_a["MC"], Role.CLERK)
    assert reception.started_at == MONDAY_9
    assert reception.due_at == MONDAY_9 + timedelta(hours=2)
    assert reception.handler == org.clerk
    assert all(s.started_at is None for s in steps[1:])
    documents = list(DossierDocument.objects.filter(dossier=dossier).order_by("position"))
    assert [(d.name, d.received) for d in documents] == [
        ("Đơn đề nghị cấp phép", True), ("Bản sao giấy tờ pháp lý", True),
        ("Giấy ủy quyền (nếu có)", False),
    ]
    assert events_of(dossier) == [("receive", "", "received")]
    event = dossier.events.get()
    assert event.actor == org.clerk and event.step == reception
    assert event.data["code"] == dossier.code


def test_codes_count_per_agency_and_day(org, version, frozen):
    first = receive(org, version)
    second = receive(org, version)
    other_version = make_procedure(code="1.000002.000.00.00.H01", agency=org.b)
    other_agency = receive(org, other_version, actor=org.clerk_b)
    frozen.move_to(MONDAY_9 + timedelta(days=1))
    next_day = receive(org, version)
    assert [first.code, second.code, other_agency.code, next_day.code] == [
        "000.00.10.H01-251124-0001", "000.00.10.H01-251124-0002",
        "000.00.11.H01-251124-0001", "000.00.10.H01-251125-0001",
    ]
    assert DossierCounter.objects.get(agency=org.a, day=MONDAY_9.date()).last == 2


def test_the_code_date_is_the_date_in_vietnam(org, version, frozen):
    # 23:30 UTC on Sunday is 06:30 on Monday in Hà Nội.
    frozen.move_to(MONDAY_9.replace(hour=6, minute=30))
    dossier = receive(org, version)
    assert dossier.code.endswith("-251124-0001")


def test_main_path_from_desk_to_return(org, version, frozen):
    dossier = receive(org, version)
    dossier = act(dossier, "start", org.clerk)
    assert (dossier.state, dossier.current_role, dossier.current_unit) == (
        State.IN_PROGRESS, Role.OFFICER, org.units_a["CM"],
    )
    dossier = act(dossier, "forward", org.officer, comment="Hồ sơ hợp lệ")
    dossier = act(dossier, "submit_for_approval", org.officer2, result_text="Dự thảo giấy phép")
    assert (dossier.state, dossier.current_role) == (State.AWAITING_APPROVAL, Role.LEADER)
    dossier = act(dossier, "approve", org.leader)
    assert dossier.state == State.RESULT_READY
    assert dossier.outcome == "granted" and dossier.result_ready_at == MONDAY_9
    assert dossier.result_text == "Dự thảo giấy phép"
    assert (dossier.current_role, dossier.current_unit) == (Role.CLERK, org.units_a["MC"])
    dossier = act(dossier, "return_result", org.clerk)
    assert dossier.state == State.RETURNED
    assert dossier.returned_at == dossier.closed_at == MONDAY_9
    assert dossier.current_step is None and dossier.current_role == ""
    assert dossier.version == 6
    assert events_of(dossier) == [
        ("receive", "", "received"), ("start", "received", "in_progress"),
        ("forward", "in_progress", "in_progress"),
        ("submit_for_approval", "in_progress", "awaiting_approval"),
        ("approve", "awaiting_approval", "result_ready"),
        ("return_result", "result_ready", "returned"),
    ]
    steps = DossierStep.objects.filter(dossier=dossier).order_by("position")
    assert [(s.finished_at is not None, s.on_time) for s in steps] == [(True, True)] * 5
    assert [s.handler for s in steps] == [org.clerk, org.officer, org.officer2, org.leader, org.clerk]
    assert dossier.timeliness == "early"


def test_every_event_records_the_step_handed_over_and_whether_it_was_on_time(org, version, frozen):
    dossier = act(receive(org, version), "start", org.clerk)
    frozen.move_to(MONDAY_9 + timedelta(days=7))  # 24 working hours allotted, 40 spent
    dossier = act(dossier, "forward", org.officer)
    event = dossier.events.latest("id")
    assert event.step.position == 2 and event.on_time is False
    assert event.data["from"]["position"] == 2 and event.data["to"]["position"] == 3
    assert event.data["to"]["unit"] == "CM" and event.data["to"]["agency"] == org.a.code
    start_event = dossier.events.get(transition="start")
    assert start_event.step.position == 1 and start_event.on_time is True


def test_an_officer_taking_the_dossier_from_the_desk_becomes_its_handler(org, version, frozen):
    dossier = act(receive(org, version), "start", org.officer)
    assert dossier.current_handler == org.officer
    with pytest.raises(PermissionDenied):
        act(dossier, "forward", org.officer2)


def test_step_deadlines_come_from_their_allotments(org, version, frozen):
    dossier = receive(org, version)
    frozen.move_to(MONDAY_9 + timedelta(hours=1))  # Monday 10:00
    dossier = act(dossier, "start", org.clerk)
    step = dossier.current_step
    # 24 working hours from Monday 10:00 = Thursday 10:00.
    assert step.started_at == MONDAY_9 + timedelta(hours=1)
    assert step.due_at == MONDAY_9 + timedelta(days=3, hours=1)


def test_online_submission_gets_a_provisional_code_then_the_desk_receives_it(org, version, frozen):
    dossier = submit_online(org, version)
    assert dossier.state == State.SUBMITTED
    assert dossier.code.startswith("TT-251124-") and dossier.provisional_code == dossier.code
    assert dossier.received_at is None and dossier.due_at is None
    assert not DossierStep.objects.filter(dossier=dossier).exists()
    assert not DossierCounter.objects.exists()  # no official number taken
    provisional = dossier.code

    frozen.move_to(MONDAY_9 + timedelta(hours=2))
    dossier = act(dossier, "receive", org.clerk)
    assert dossier.state == State.RECEIVED
    assert dossier.code == "000.00.10.H01-251124-0001"
    assert dossier.provisional_code == provisional
    assert dossier.received_at == MONDAY_9 + timedelta(hours=2)
    assert dossier.due_at == MONDAY_9 + timedelta(days=7, hours=2)
    assert DossierStep.objects.filter(dossier=dossier).count() == 5
    assert dossier.current_role == Role.CLERK
    assert events_of(dossier) == [("submit", "", "submitted"), ("receive", "submitted", "received")]
    # Both codes find it.
    assert selectors.dossier_get(code=provisional, user=org.clerk).pk == dossier.pk
    assert selectors.dossier_get(code=dossier.code, user=org.clerk).pk == dossier.pk


def test_refusing_an_online_submission_takes_no_number(org, version, frozen):
    dossier = act(submit_online(org, version), "refuse", org.clerk, reasons=["Sai thẩm quyền"])
    assert dossier.state == State.REFUSED and dossier.closed_at == MONDAY_9
    assert dossier.events.latest("id").data["reasons"] == ["Sai thẩm quyền"]
    assert receive(org, version).code.endswith("-0001")


def test_online_channel_limit_applies(org, frozen):
    version = make_procedure(
        agency=org.a, channel_limits=[("online", Decimal(3), "working_days")]
    )
    dossier = act(submit_online(org, version), "receive", org.clerk)
    assert dossier.due_at == MONDAY_9 + timedelta(days=3)


def test_inter_agency_process_goes_to_the_next_agency_after_the_first_approval(org, frozen):
    """Liên thông: agency A appraises and its leader signs, then agency B works on it, its
    leader signs, and A's desk hands the result back."""
    steps = [
        ("Tiếp nhận", "MC", Role.CLERK, Decimal(1), None),
        ("Thẩm định tại Sở A", "CM", Role.OFFICER, Decimal(12), None),
        ("Lãnh đạo Sở A ký", "LD", Role.LEADER, Decimal(4), None),
        ("Thẩm định tại Sở B", "CM", Role.OFFICER, Decimal(12), org.b),
        ("Lãnh đạo Sở B ký", "LD", Role.LEADER, Decimal(10), org.b),
        ("Trả kết quả", "MC", Role.CLERK, Decimal(1), None),
    ]
    version = make_procedure(agency=org.a, steps=steps)
    dossier = act(receive(org, version), "start", org.clerk)
    assert selectors.dossier_queue(user=org.officer_b).count() == 0
    dossier = act(dossier, "submit_for_approval", org.officer)
    dossier = act(dossier, "approve", org.leader)
    assert dossier.state == State.IN_PROGRESS
    assert (dossier.current_unit, dossier.current_role) == (org.units_b["CM"], Role.OFFICER)
    assert dossier.outcome == ""
    handover = dossier.events.latest("id")
    assert handover.data["inter_agency"] is True and handover.data["final"] is False
    # B's officer now has it in the queue, and A's officer can no longer act.
    assert list(selectors.dossier_queue(user=org.officer_b)) == [dossier]
    with pytest.raises(PermissionDenied):
        act(dossier, "submit_for_approval", org.officer)
    with pytest.raises(TransitionNotAllowed):  # A's leader, but nothing to approve now
        act(dossier, "approve", org.leader)
    dossier = act(dossier, "submit_for_approval", org.officer_b)
    with pytest.raises(PermissionDenied):
        act(dossier, "approve", org.leader)
    dossier = act(dossier, "approve", org.leader_b)
    assert dossier.state == State.RESULT_READY and dossier.outcome == "granted"
    assert dossier.current_unit == org.units_a["MC"]
    dossier = act(dossier, "return_result", org.clerk)
    assert dossier.state == State.RETURNED


def test_forward_hands_over_to_another_unit(org, frozen):
    steps = [
        ("Tiếp nhận", "MC", Role.CLERK, Decimal(1), None),
        ("Thẩm định", "CM", Role.OFFICER, Decimal(10), None),
        ("Lấy ý kiến Sở B", "CM", Role.OFFICER, Decimal(10), org.b),
        ("Phê duyệt", "LD", Role.LEADER, Decimal(2), None),
    ]
    version = make_procedure(agency=org.a, steps=steps, amount=Decimal(23), unit="working_hours")
    dossier = act(act(receive(org, version), "start", org.clerk), "forward", org.officer)
    assert dossier.current_unit == org.units_b["CM"]
    assert dossier.events.latest("id").data["inter_agency"] is True
    dossier = act(dossier, "submit_for_approval", org.officer_b)
    dossier = act(dossier, "approve", org.leader)
    # No return step in this process: the result waits at the receiving agency's desk.
    assert dossier.state == State.RESULT_READY and dossier.current_step is None
    assert dossier in selectors.dossier_queue(user=org.clerk)
    assert act(dossier, "return_result", org.clerk).state == State.RETURNED


def test_two_approval_levels(org, frozen):
    steps = [
        ("Tiếp nhận", "MC", Role.CLERK, Decimal(1), None),
        ("Thẩm định", "CM", Role.OFFICER, Decimal(20), None),
        ("Trưởng phòng duyệt", "CM", Role.LEADER, Decimal(8), None),
        ("Giám đốc ký", "LD", Role.LEADER, Decimal(10), None),
        ("Trả kết quả", "MC", Role.CLERK, Decimal(1), None),
    ]
    version = make_procedure(agency=org.a, steps=steps)
    head = org.officer2
    from motcua.models import StaffRole

    StaffRole.objects.create(user=head, unit=org.units_a["CM"], role=Role.LEADER)
    dossier = act(act(receive(org, version), "start", org.clerk), "submit_for_approval", org.officer)
    assert dossier.current_unit == org.units_a["CM"] and dossier.current_role == Role.LEADER
    with pytest.raises(PermissionDenied):
        act(dossier, "approve", org.leader)  # not the unit of this leader step
    dossier = act(dossier, "approve", head)
    assert dossier.state == State.AWAITING_APPROVAL
    assert dossier.current_unit == org.units_a["LD"]
    dossier = act(dossier, "approve", org.leader)
    assert dossier.state == State.RESULT_READY


def test_send_back_reopens_the_officer_step_for_the_same_officer(org, version, frozen):
    dossier = dossier_in(org, version, "awaiting_approval")
    with pytest.raises(ValidationError):
        act(dossier, "send_back", org.leader)  # a comment is required
    frozen.move_to(MONDAY_9 + timedelta(hours=3))
    dossier = act(dossier, "send_back", org.leader, comment="Bổ sung căn cứ pháp lý")
    assert dossier.state == State.IN_PROGRESS
    step = dossier.current_step
    assert (step.position, step.attempt) == (3, 2)
    assert step.started_at == MONDAY_9 + timedelta(hours=3)
    # Sent back at 12:00 (lunch): 13:00–17:00 then 07:30–09:30 the next morning.
    assert step.due_at == MONDAY_9.replace(day=25, hour=9, minute=30)
    assert dossier.current_handler == org.officer  # who did step 3 the first time
    with pytest.raises(PermissionDenied):
        act(dossier, "submit_for_approval", org.officer2)
    dossier = act(dossier, "submit_for_approval", org.officer)
    assert dossier.current_step.position == 4 and dossier.current_step.attempt == 2
    assert DossierStep.objects.filter(dossier=dossier).count() == 7


def test_denial_ends_as_a_result_to_collect(org, version, frozen):
    dossier = dossier_in(org, version, "awaiting_approval")
    with pytest.raises(ValidationError):
        act(dossier, "deny", org.leader)  # reasons required
    dossier = act(dossier, "deny", org.leader, reasons=["Không đủ điều kiện cấp phép"])
    assert dossier.state == State.RESULT_READY and dossier.outcome == "denied"
    assert dossier.current_unit == org.units_a["MC"]
    assert dossier.events.latest("id").data["reasons"] == ["Không đủ điều kiện cấp phép"]


def test_the_process_decides_between_forward_and_submit_for_approval(org, version, frozen):
    dossier = dossier_in(org, version, "in_progress")
    with pytest.raises(TransitionNotAllowed, match="chưa phải bước phê duyệt"):
        act(dossier, "submit_for_approval", org.officer)
    dossier = act(dossier, "forward", org.officer)
    with pytest.raises(TransitionNotAllowed, match="là bước phê duyệt"):
        act(dossier, "forward", org.officer)


def test_a_refused_transition_names_the_state(org, version, frozen):
    dossier = receive(org, version)
    with pytest.raises(TransitionNotAllowed) as info:
        act(dossier, "return_result", org.clerk)
    assert "Đã tiếp nhận" in str(info.value.message)
    assert dossier.code in str(info.value.message)


def test_withdraw_and_stop_need_their_reasons_and_close_the_dossier(org, version, frozen):
    dossier = dossier_in(org, version, "supplement_requested")
    with pytest.raises(ValidationError):
        act(dossier, "withdraw", org.clerk)
    withdrawn = act(dossier, "withdraw", org.clerk, comment="Công dân xin rút")
    assert withdrawn.state == State.WITHDRAWN and withdrawn.closed_at == MONDAY_9
    assert withdrawn.events.latest("id").data == {"reason": "Công dân xin rút"}

    other = dossier_in(org, version, "in_progress")
    with pytest.raises(ValidationError):
        act(other, "stop", org.leader)
    with pytest.raises(PermissionDenied):
        act(other, "stop", org.clerk, legal_basis="x")
    stopped = act(other, "stop", org.leader, legal_basis="Quá hạn bổ sung theo Phiếu số 12")
    assert stopped.state == State.STOPPED and stopped.current_step is None


def test_available_transitions_match_what_the_user_may_do(org, version, frozen):
    dossier = receive(org, version)
    assert dossier_available_transitions(dossier=dossier, user=org.clerk) == ["start", "withdraw"]
    assert dossier_available_transitions(dossier=dossier, user=org.officer) == ["start"]
    assert dossier_available_transitions(dossier=dossier, user=org.leader) == ["stop"]
    assert dossier_available_transitions(dossier=dossier, user=org.officer_b) == []
    dossier = act(dossier, "start", org.clerk)
    assert dossier_available_transitions(dossier=dossier, user=org.officer) == [
        "forward", "request_supplement",
    ]


def test_leader_assigns_an_officer_of_the_step_unit(org, version, frozen):
    dossier = dossier_in(org, version, "in_progress")
    with pytest.raises(PermissionDenied):
        dossier_assign(dossier=dossier, officer=org.officer2, actor=org.officer)
    with pytest.raises(ValidationError):
        dossier_assign(dossier=dossier, officer=org.officer_b, actor=org.leader)
    dossier = dossier_assign(dossier=dossier, officer=org.officer2, actor=org.leader)
    assert dossier.current_handler == org.officer2 and dossier.version == 3
    assert dossier.current_step.handler == org.officer2
    event = dossier.events.latest("id")
    assert (event.transition, event.from_state, event.to_state) == ("assign", "in_progress", "in_progress")
    # Only the assigned officer acts now; the queue shows it to them and not to the others.
    with pytest.raises(PermissionDenied):
        act(dossier, "forward", org.officer)
    assert dossier not in selectors.dossier_queue(user=org.officer)
    assert dossier in selectors.dossier_queue(user=org.officer2)
    dossier = act(dossier, "forward", org.officer2)
    assert dossier.current_handler is None
    awaiting = dossier_in(org, version, "awaiting_approval")
    with pytest.raises(TransitionNotAllowed):
        dossier_assign(dossier=awaiting, officer=org.officer, actor=org.leader)


def test_the_desk_sees_the_appointment_and_the_missing_documents_before_receiving(org, version, frozen):
    assert dossier_appointment(procedure_version=version, channel="in_person") == MONDAY_9 + timedelta(days=7)
    mandatory = list(version.documents.filter(is_mandatory=True).values_list("pk", flat=True))
    assert checklist_missing(procedure_version=version, documents=[mandatory[0]]) == [
        "Bản sao giấy tờ pháp lý"
    ]
    assert checklist_missing(procedure_version=version, documents=None) == []


def test_caller_instance_is_not_what_changes(org, version, frozen):
    dossier = receive(org, version)
    updated = act(dossier, "start", org.clerk)
    assert updated is not dossier and dossier.state == State.RECEIVED
    assert Dossier.objects.get(pk=dossier.pk).state == State.IN_PROGRESS


def test_applicant_is_stored_clean(org, version, frozen):
    dossier = receive(org, version, applicant={**APPLICANT, "phone": "+84 912 345 678"})
    assert dossier.applicant_phone == "0912345678"
    assert dossier.applicant_name_folded == "nguyen van an"


def test_a_state_changed_under_the_lock_is_a_concurrent_change(org, version, frozen, monkeypatch):
    """django-fsm's own guard (the UPDATE filters on the state read) maps to 409 as well, and
    the whole transition rolls back."""
    from dossiers.services import transitions
    from motcua.errors import ConcurrentChange

    dossier = receive(org, version)
    real_plan = transitions.Plan.of

    def plan_then_interfere(locked):
        Dossier.objects.filter(pk=locked.pk).update(state=State.STOPPED)  # a stray raw write
        return real_plan(locked)

    monkeypatch.setattr(transitions.Plan, "of", plan_then_interfere)
    with pytest.raises(ConcurrentChange):
        act(dossier, "start", org.clerk)
    stored = Dossier.objects.get(pk=dossier.pk)
    assert (stored.state, stored.version, stored.events.count()) == (State.RECEIVED, 1, 1)


def test_the_admin_shows_dossiers_read_only(org, version, frozen, client):
    dossier = act(receive(org, version), "start", org.clerk)
    client.force_login(org.superuser)
    assert client.get("/admin/dossiers/dossier/").status_code == 200
    page = client.get(f"/admin/dossiers/dossier/{dossier.pk}/change/")
    assert page.status_code == 200 and dossier.code.encode() in page.content
    assert client.get("/admin/dossiers/dossierevent/").status_code == 200
    assert client.get("/admin/dossiers/dossier/add/").status_code == 403
    response = client.post(f"/admin/dossiers/dossier/{dossier.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Dossier.objects.filter(pk=dossier.pk).exists()
