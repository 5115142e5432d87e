"""The deadline sweep and the apology letters (DOMAIN.md "Time", docs/deadlines.md).

The standard procedure (tests.dossier_factories) takes 5 working days. Received on Monday
24/11/2025 09:00, a dossier is due on Monday 1/12/2025 09:00. Less than 8 working hours before
that (from Friday 28/11 09:00 on) it is due soon and, if not yet awaiting approval, predicted
late: its apology is issued then.
"""

# ruff: noqa: F811 - pytest fixtures imported from tests.dossier_factories

from __future__ import annotations

import json
import subprocess
from datetime import datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from dossiers import deadlines
from dossiers.deadlines import deadline_sweep, dossier_issue_apology
from dossiers.documents import render_dossier_document
from dossiers.models import (
    Apology,
    ApologyImmutable,
    Dossier,
    DossierEvent,
    State,
)
from dossiers.selectors import dossier_get
from motcua import calendar
from motcua.errors import (
    ConcurrentChange,
    PermissionDenied,
    TransitionNotAllowed,
    ValidationError,
)
from tests.dossier_factories import (  # noqa: F401
    MONDAY_9,
    PASSWORD,
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


DUE = at(1, 9, month=12)  # the appointment of a dossier received at MONDAY_9


def fresh(dossier: Dossier) -> Dossier:
    return Dossier.objects.get(pk=dossier.pk)


def in_progress(org, version) -> Dossier:
    """Taken by officer_a at the appraisal step (so the step has a handler)."""
    return act(receive(org, version), "start", org.officer)


def awaiting_approval(org, version) -> Dossier:
    dossier = act(in_progress(org, version), "forward", org.officer)
    return act(dossier, "submit_for_approval", org.officer)


def pdf_text(pdf: bytes, tmp_path, name: str = "apology") -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True
    ).stdout.decode("utf-8")
    return " ".join(out.split())


# ---------------------------------------------------------------------------------------------
# Thresholds: "less than N working hours left" is one moment per sweep
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "moment",
    [at(28, 9), at(28, 9, 1), at(28, 12), at(29, 10), at(30, 23), at(27, 16, 59), at(1, 8, month=12)],
)
def test_threshold_moment_agrees_with_working_hours_between(moment):
    thresholds = deadlines.Thresholds.at_moment(moment)
    for due in (DUE, at(28, 17), at(1, 7, 30, month=12), at(2, 9, month=12)):
        left = calendar.working_hours_between(moment, due)
        assert (due < thresholds.due_soon_before) == (left < 8), (moment, due, left)


def test_naive_moment_is_refused():
    with pytest.raises(ValueError):
        deadline_sweep(at=datetime(2025, 12, 1, 9, 0))


# ---------------------------------------------------------------------------------------------
# Due soon and overdue flags
# ---------------------------------------------------------------------------------------------


def test_due_soon_is_set_below_one_working_day_left_and_not_at_exactly_one(org, version, frozen):
    dossier = awaiting_approval(org, version)  # awaiting approval: never "predicted late"

    result = deadline_sweep(at=at(28, 9))  # Fri 09:00 → Mon 09:00: exactly 8 working hours
    assert not fresh(dossier).is_due_soon and result.marked_due_soon == 0

    result = deadline_sweep(at=at(28, 9, 1))
    dossier = fresh(dossier)
    assert dossier.is_due_soon and not dossier.is_overdue
    assert result.marked_due_soon == 1 and result.apologies == 0


def test_due_soon_counts_working_hours_over_the_weekend(org, version, frozen):
    dossier = awaiting_approval(org, version)
    deadline_sweep(at=at(27, 16))  # Thursday 16:00: 9 working hours left
    assert not fresh(dossier).is_due_soon
    deadline_sweep(at=at(30, 12))  # Sunday: 1.5 working hours left (Monday 07:30–09:00)
    assert fresh(dossier).is_due_soon


def test_due_soon_is_cleared_when_the_result_is_ready(org, version, frozen):
    dossier = awaiting_approval(org, version)
    deadline_sweep(at=at(28, 10))
    assert fresh(dossier).is_due_soon

    frozen.move_to(at(28, 10, 30))
    act(fresh(dossier), "approve", org.leader)
    result = deadline_sweep(at=at(28, 11))
    dossier = fresh(dossier)
    assert dossier.state == State.RESULT_READY
    assert not dossier.is_due_soon and not dossier.is_overdue
    assert result.cleared_due_soon == 1


def test_due_soon_hours_are_configurable(org, version, frozen, settings):
    settings.MOTCUA_DUE_SOON_HOURS = 16
    dossier = awaiting_approval(org, version)
    deadline_sweep(at=at(27, 10))  # Thursday 10:00: 15 working hours left
    assert fresh(dossier).is_due_soon


def test_awaiting_approval_is_not_predicted_late_but_is_apologised_once_past_due(
    org, version, frozen
):
    dossier = awaiting_approval(org, version)

    result = deadline_sweep(at=at(1, 8, month=12))  # one working hour left
    assert result.apologies == 0 and not Apology.objects.exists()
    assert fresh(dossier).is_due_soon

    result = deadline_sweep(at=at(1, 9, 30, month=12))  # the appointment has passed
    dossier = fresh(dossier)
    letter = Apology.objects.get(dossier=dossier)
    assert result.apologies == 1
    assert letter.for_due_at == DUE and letter.already_late
    assert letter.state == State.AWAITING_APPROVAL
    assert letter.at_fault_step.name == "Phê duyệt, ký kết quả"
    assert letter.at_fault_unit == org.units_a["LD"]
    # 5 working days again from the letter (09:30): Monday 8/12 09:30.
    assert letter.new_due_at == at(8, 9, 30, month=12) == dossier.due_at
    assert dossier.is_overdue and not dossier.is_due_soon
    assert deadline_sweep(at=at(1, 10, month=12)).apologies == 0  # once
    assert Apology.objects.count() == 1


def test_overdue_stays_set_after_the_extension_and_the_pause_clears_it(org, version, frozen):
    """An extension does not make a late dossier punctual: it stays overdue (it missed an
    appointment) until it is finished; paused for a supplement it is neither."""
    dossier = awaiting_approval(org, version)
    deadline_sweep(at=at(1, 10, month=12))
    assert fresh(dossier).is_overdue

    result = deadline_sweep(at=at(2, 10, month=12))  # new appointment still days away
    assert fresh(dossier).is_overdue and result.cleared_overdue == 0

    frozen.move_to(at(2, 11, month=12))
    act(fresh(dossier), "send_back", org.leader, comment="Bổ sung căn cứ pháp lý")
    frozen.move_to(at(2, 14, month=12))
    act(fresh(dossier), "request_supplement", org.officer, missing_documents=["Bản sao CCCD"])
    result = deadline_sweep(at=at(2, 15, month=12))
    assert not fresh(dossier).is_overdue and result.cleared_overdue == 1

    frozen.move_to(at(3, 9, month=12))
    act(fresh(dossier), "supplement", org.clerk, documents=["Bản sao CCCD"])
    assert not fresh(dossier).is_overdue  # the transition looks at the appointment alone
    result = deadline_sweep(at=at(3, 9, 5, month=12))
    assert fresh(dossier).is_overdue and result.marked_overdue == 1


def test_supplement_requested_dossiers_get_no_letter_and_no_flags(org, version, frozen):
    dossier = dossier_in(org, version, "supplement_requested")
    result = deadline_sweep(at=at(3, 9, month=12))  # two days past the (paused) appointment
    dossier = fresh(dossier)
    assert result.apologies == 0 and not Apology.objects.exists()
    assert not dossier.is_overdue and not dossier.is_due_soon


def test_finished_and_closed_dossiers_get_no_letter(org, version, frozen):
    ready = dossier_in(org, version, "result_ready")
    returned = dossier_in(org, version, "returned")
    submitted = dossier_in(org, version, "submitted")
    result = deadline_sweep(at=at(10, 9, month=12))
    assert result.apologies == 0 and not Apology.objects.exists()
    for dossier in (ready, returned, submitted):
        dossier = fresh(dossier)
        assert not dossier.is_overdue and not dossier.is_due_soon


# ---------------------------------------------------------------------------------------------
# Apology letters
# ---------------------------------------------------------------------------------------------


def test_predicted_late_dossier_gets_its_letter_before_the_appointment(org, version, frozen):
    dossier = in_progress(org, version)
    assert deadline_sweep(at=at(27, 16)).apologies == 0  # 9 working hours left

    result = deadline_sweep(at=at(28, 10))  # 7 working hours left, still being appraised
    dossier = fresh(dossier)
    letter = Apology.objects.get(dossier=dossier)
    assert result.apologies == 1
    assert letter.issued_at == at(28, 10) < letter.for_due_at == DUE
    assert not letter.already_late and letter.kind == Apology.Kind.AUTO
    assert letter.number == 1 and letter.issued_by is None
    assert letter.at_fault_step == dossier.current_step
    assert letter.at_fault_step.name == "Thẩm định hồ sơ"
    assert letter.at_fault_unit == org.units_a["CM"]
    assert letter.at_fault_officer == org.officer
    # Extended by the procedure's 5 working days from the appointment it will miss.
    assert letter.new_due_at == at(8, 9, month=12) == dossier.due_at
    assert dossier.original_due_at == DUE
    assert not dossier.is_overdue  # not late yet: the old appointment has not passed
    assert "dưới 8 giờ làm việc" in letter.reason

    event = DossierEvent.objects.filter(dossier=dossier, transition="apology").get()
    assert event.at == at(28, 10) and event.actor is None
    assert event.from_state == event.to_state == State.IN_PROGRESS
    assert event.step_id == letter.at_fault_step_id and event.comment == letter.reason
    assert event.data["apology"] == letter.pk and event.data["apology_number"] == 1
    assert event.data["previous_due_at"] == DUE.isoformat()
    assert event.data["new_due_at"] == at(8, 9, month=12).isoformat()
    assert event.data["step"] == letter.at_fault_step_id
    assert event.data["unit"] == org.units_a["CM"].pk
    assert event.data["officer"] == org.officer.pk
    assert event.data["already_late"] is False

    # Once the old appointment passes with the dossier still open, it is late.
    deadline_sweep(at=at(1, 9, 30, month=12))
    assert fresh(dossier).is_overdue
    assert Apology.objects.count() == 1


def test_past_due_dossier_gets_its_letter_at_the_next_sweep(org, version, frozen):
    dossier = receive(org, version)  # never handed over: the desk's step is at fault
    result = deadline_sweep(at=at(2, 10, month=12))
    letter = Apology.objects.get(dossier=dossier)
    assert result.apologies == 1 and letter.already_late
    assert letter.state == State.RECEIVED
    assert letter.at_fault_step.name == "Tiếp nhận hồ sơ"
    assert letter.at_fault_unit == org.units_a["MC"]
    assert letter.at_fault_officer is None  # nobody assigned: the unit answers for it
    assert "đã hết thời hạn giải quyết" in letter.reason
    # From the letter (Tuesday 10:00), 5 working days: Tuesday 9/12 10:00.
    assert letter.new_due_at == at(9, 10, month=12)
    assert fresh(dossier).is_overdue


def test_exactly_one_letter_per_appointment_across_repeated_sweeps(org, version, frozen):
    dossiers = [in_progress(org, version) for _ in range(3)]
    moments = [at(28, 10), at(28, 10, 5), at(28, 16), at(1, 9, 30, month=12), at(3, 9, month=12)]
    issued = [deadline_sweep(at=moment).apologies for moment in moments]
    assert issued == [3, 0, 0, 0, 0]
    assert Apology.objects.count() == 3
    assert DossierEvent.objects.filter(transition="apology").count() == 3
    for dossier in dossiers:
        assert fresh(dossier).apologies.count() == 1


def test_a_second_letter_when_the_new_appointment_is_missed_too(org, version, frozen):
    dossier = in_progress(org, version)
    deadline_sweep(at=at(28, 10))
    first = Apology.objects.get(dossier=dossier)
    assert first.new_due_at == at(8, 9, month=12)

    assert deadline_sweep(at=at(4, 10, month=12)).apologies == 0  # 15 working hours left
    result = deadline_sweep(at=at(5, 10, month=12))  # 7 left of the new appointment
    second = Apology.objects.get(dossier=dossier, number=2)
    assert result.apologies == 1
    assert second.for_due_at == first.new_due_at
    assert second.new_due_at == at(15, 9, month=12) == fresh(dossier).due_at
    assert second.already_late is False
    # Missed once already (1/12): overdue, even though the new appointment is ahead.
    assert fresh(dossier).is_overdue
    assert deadline_sweep(at=at(9, 10, month=12)).apologies == 0


def test_new_appointment_follows_the_calendar_across_tet(org, frozen):
    """Tết Bính Ngọ 2026: Monday 16 to Friday 20 February are days off."""
    version = make_procedure(agency=org.a, amount=Decimal(2))
    frozen.move_to(at(11, 9, month=2, year=2026))
    dossier = act(receive(org, version), "start", org.officer)
    assert dossier.due_at == at(13, 9, month=2, year=2026)  # Friday before Tết

    deadline_sweep(at=at(13, 10, month=2, year=2026))
    letter = Apology.objects.get(dossier=dossier)
    # Friday 10:00 + 16 working hours: 5.5 on Friday, 8 on Monday 23, 2.5 on Tuesday 24.
    assert letter.new_due_at == at(24, 10, month=2, year=2026)
    assert letter.new_due_at == calendar.deadline(
        at(13, 10, month=2, year=2026), Decimal(2), "working_days"
    )


def test_extension_is_configurable_and_at_least_one_working_day(org, frozen, settings):
    same_day = make_procedure(code="1.000002.000.00.00.H01", agency=org.a, amount=Decimal(0))
    frozen.move_to(at(24, 9))
    dossier = act(receive(org, same_day), "start", org.officer)
    assert dossier.due_at == at(24, 17)
    deadline_sweep(at=at(24, 17, 30))
    # Limit 0 ("within the day") again would end today: at least one working day instead,
    # counted from the next opening.
    assert Apology.objects.get(dossier=dossier).new_due_at == at(25, 17)

    settings.MOTCUA_APOLOGY_EXTENSION = (3, "working_days")
    frozen.move_to(at(24, 9))
    other = act(receive(org, same_day), "start", org.officer)
    deadline_sweep(at=at(25, 9))
    assert Apology.objects.get(dossier=other).new_due_at == at(28, 9)


def test_bad_extension_setting_is_refused(settings):
    settings.MOTCUA_APOLOGY_EXTENSION = (3, "fortnights")
    with pytest.raises(ImproperlyConfigured):
        deadlines.apology_extension()
    settings.MOTCUA_DUE_SOON_HOURS = "a day"
    with pytest.raises(ImproperlyConfigured):
        deadlines.due_soon_hours()


def test_apology_lead_is_configurable(org, version, frozen, settings):
    settings.MOTCUA_APOLOGY_LEAD_HOURS = 4
    dossier = in_progress(org, version)
    result = deadline_sweep(at=at(28, 10))  # 7 working hours left: due soon, not yet late
    assert result.apologies == 0 and fresh(dossier).is_due_soon
    result = deadline_sweep(at=at(28, 14, 30))  # 2.5 on Friday + 1.5 on Monday: exactly 4
    assert result.apologies == 0
    result = deadline_sweep(at=at(28, 14, 31))
    assert result.apologies == 1


def test_both_paths_issue_the_same_letter(org, version, frozen):
    """The set-based batch (the sweep on PostgreSQL) and the one-dossier service compute the
    letter with the same function: same terms, same event data."""
    one, other = in_progress(org, version), in_progress(org, version)
    by_service = dossier_issue_apology(dossier=one, at=at(28, 10))
    deadline_sweep(at=at(28, 10), bulk=connection.vendor == "postgresql")
    by_sweep = Apology.objects.get(dossier=other)
    fields = ["number", "kind", "issued_at", "for_due_at", "new_due_at", "state", "reason",
              "at_fault_unit_id", "at_fault_officer_id"]
    assert [getattr(by_service, f) for f in fields] == [getattr(by_sweep, f) for f in fields]

    def data(dossier):
        event = DossierEvent.objects.get(dossier=dossier, transition="apology")
        return {k: v for k, v in event.data.items() if k not in ("apology", "step")}

    assert data(one) == data(other)
    assert fresh(one).due_at == fresh(other).due_at
    assert (fresh(one).is_overdue, fresh(one).is_due_soon) == (
        fresh(other).is_overdue, fresh(other).is_due_soon
    )


def test_one_by_one_sweep_issues_each_letter_once(org, version, frozen):
    dossiers = [in_progress(org, version) for _ in range(3)]
    assert deadline_sweep(at=at(28, 10), bulk=False, batch_size=2).apologies == 3
    assert deadline_sweep(at=at(28, 11), bulk=False).apologies == 0
    assert sorted(Apology.objects.values_list("dossier_id", flat=True)) == sorted(
        d.pk for d in dossiers
    )


# ---------------------------------------------------------------------------------------------
# The service: by hand, permissions, refusals
# ---------------------------------------------------------------------------------------------


def test_a_leader_may_issue_a_letter_early_and_only_once(org, version, frozen):
    dossier = in_progress(org, version)
    letter = dossier_issue_apology(
        dossier=dossier, at=at(25, 10), actor=org.leader, reason="Cần xin ý kiến Sở Xây dựng"
    )
    assert letter.created and letter.kind == Apology.Kind.MANUAL
    assert letter.issued_by == org.leader and letter.reason == "Cần xin ý kiến Sở Xây dựng"
    # The same request again (a second click): the letter for that appointment, no new one.
    again = dossier_issue_apology(
        dossier=dossier, at=at(25, 11), actor=org.leader, for_due_at=DUE
    )
    assert not again.created and again.pk == letter.pk
    assert fresh(dossier).apologies.count() == 1
    with pytest.raises(ConcurrentChange):  # an appointment the dossier no longer has
        dossier_issue_apology(
            dossier=dossier, at=at(25, 11), actor=org.leader, for_due_at=at(2, 9, month=12)
        )
    event = DossierEvent.objects.get(dossier=dossier, transition="apology")
    assert event.actor == org.leader and event.data["kind"] == "manual"


def test_a_leader_must_give_the_reason(org, version, frozen):
    dossier = in_progress(org, version)
    with pytest.raises(ValidationError) as refused:
        dossier_issue_apology(dossier=dossier, at=at(25, 10), actor=org.leader, reason="  ")
    assert refused.value.code == "required"
    assert not Apology.objects.exists()


def test_an_officer_or_another_agency_may_not_issue_a_letter(org, version, frozen):
    dossier = in_progress(org, version)
    for user in (org.officer, org.leader_b, org.clerk):
        with pytest.raises(PermissionDenied):
            dossier_issue_apology(dossier=dossier, at=at(28, 10), actor=user)
    assert not Apology.objects.exists()


def test_the_system_issues_no_letter_before_it_is_due(org, version, frozen):
    dossier = in_progress(org, version)
    with pytest.raises(TransitionNotAllowed):
        dossier_issue_apology(dossier=dossier, at=at(26, 10))
    paused = dossier_in(org, version, "supplement_requested")
    with pytest.raises(TransitionNotAllowed):
        dossier_issue_apology(dossier=paused, at=at(3, 10, month=12), actor=org.leader)
    assert not Apology.objects.exists()


# ---------------------------------------------------------------------------------------------
# Nobody deletes or changes a letter
# ---------------------------------------------------------------------------------------------


def test_a_letter_cannot_be_changed_or_deleted(org, version, frozen):
    dossier = in_progress(org, version)
    letter = dossier_issue_apology(dossier=dossier, at=at(28, 10))
    with pytest.raises(ApologyImmutable):
        letter.delete()
    with pytest.raises(ApologyImmutable):
        Apology.objects.filter(pk=letter.pk).delete()
    with pytest.raises(ApologyImmutable):
        Apology.objects.filter(pk=letter.pk).update(reason="")
    letter.reason = "sửa"
    with pytest.raises(ApologyImmutable):
        letter.save()
    assert Apology.objects.get(pk=letter.pk).reason != "sửa"


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="PostgreSQL trigger")
@pytest.mark.parametrize(
    "sql",
    [
        "DELETE FROM dossiers_apology",
        "UPDATE dossiers_apology SET new_due_at = new_due_at + interval '1 day'",
        "UPDATE dossiers_apology SET at_fault_unit_id = NULL",
    ],
)
def test_the_database_refuses_to_change_or_delete_a_letter(org, version, frozen, sql):
    dossier = in_progress(org, version)
    dossier_issue_apology(dossier=dossier, at=at(28, 10))
    with pytest.raises(Exception, match="never changed or deleted"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(sql)
    assert Apology.objects.count() == 1


def test_the_database_refuses_a_second_letter_for_the_same_appointment(org, version, frozen):
    dossier = in_progress(org, version)
    letter = dossier_issue_apology(dossier=dossier, at=at(28, 10))
    with pytest.raises(IntegrityError), transaction.atomic():
        Apology.objects.create(
            dossier=dossier, number=2, issued_at=at(28, 11), for_due_at=letter.for_due_at,
            new_due_at=at(20, 9, month=12), state=State.IN_PROGRESS,
        )


def test_admin_shows_letters_read_only(org, version, frozen, client):
    dossier = in_progress(org, version)
    letter = dossier_issue_apology(dossier=dossier, at=at(28, 10))
    client.force_login(org.superuser)
    assert client.get("/admin/dossiers/apology/").status_code == 200
    page = client.get(f"/admin/dossiers/apology/{letter.pk}/change/")
    assert page.status_code == 200
    assert client.post(f"/admin/dossiers/apology/{letter.pk}/delete/").status_code == 403
    assert Apology.objects.filter(pk=letter.pk).exists()


# ---------------------------------------------------------------------------------------------
# The letter as PDF
# ---------------------------------------------------------------------------------------------


def test_the_issued_letter_prints_with_the_step_at_fault_and_the_new_appointment(
    org, version, frozen, tmp_path
):
    dossier = in_progress(org, version)
    deadline_sweep(at=at(28, 10))
    fetched = dossier_get(code=dossier.code, user=org.leader)
    text = pdf_text(render_dossier_document(dossier=fetched, kind="apology"), tmp_path)

    assert "VĂN BẢN XIN LỖI VÀ ĐỀ NGHỊ GIA HẠN THỜI GIAN GIẢI QUYẾT HỒ SƠ" in text
    assert "Kính gửi: Ông/Bà Nguyễn Văn An" in text
    assert dossier.code in text
    assert "bước “Thẩm định hồ sơ”, Phòng chuyên môn" in text
    assert "09 giờ 00 phút, ngày 01 tháng 12 năm 2025" in text  # the appointment it will miss
    assert "09 giờ 00 phút, ngày 08 tháng 12 năm 2025" in text  # the new one
    assert "không thể trả kết quả" in text  # issued before the appointment
    assert "ngày 28 tháng 11 năm 2025" in text  # dated when issued
    assert "dưới 8 giờ làm việc" in text


def test_a_leader_reprints_any_letter_by_its_number(org, version, frozen, client, tmp_path):
    dossier = in_progress(org, version)
    deadline_sweep(at=at(28, 10))
    deadline_sweep(at=at(5, 10, month=12))
    assert fresh(dossier).apologies.count() == 2
    client.force_login(org.leader)
    base = f"/api/v1/dossiers/{dossier.code}/documents/apology.pdf"

    latest = client.get(base)
    assert latest.status_code == 200 and latest["Content-Type"] == "application/pdf"
    assert "ngày 15 tháng 12 năm 2025" in pdf_text(latest.content, tmp_path, "latest")

    first = client.get(base, {"number": 1})
    assert first.status_code == 200
    text = pdf_text(first.content, tmp_path, "first")
    assert "ngày 08 tháng 12 năm 2025" in text and "ngày 15 tháng 12 năm 2025" not in text

    assert client.get(base, {"number": 9}).status_code == 400
    assert client.get(base, {"number": "x"}).status_code == 400

    staff_page = client.get(f"/staff/dossiers/{dossier.code}/documents/apology.pdf?number=1")
    assert staff_page.status_code == 200 and staff_page.content.startswith(b"%PDF-")


# ---------------------------------------------------------------------------------------------
# The citizen is told (through the outbox)
# ---------------------------------------------------------------------------------------------


def citizen_messages(dossier) -> list[tuple[str, str]]:
    from motcua.models import OutboxMessage

    return sorted(
        OutboxMessage.objects.filter(dossier=dossier, topic="apology")
        .values_list("channel", "recipient")
    )


def test_each_letter_is_sent_to_the_citizen_and_the_portal(
    org, version, frozen, django_capture_on_commit_callbacks
):
    from motcua.models import OutboxMessage

    dossier = in_progress(org, version)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        deadline_sweep(at=at(28, 10))  # on commit: dossiers.publish_events (eager here)
    assert len(callbacks) == 1  # one task message for the batch
    event = DossierEvent.objects.get(dossier=dossier, transition="apology")
    assert citizen_messages(dossier) == [("email", "an.nguyen@example.vn"), ("sms", "0912345678")]
    assert OutboxMessage.objects.filter(event=event, channel="portal").count() == 1
    sms = OutboxMessage.objects.get(event=event, channel="sms")
    assert "08/12/2025" in sms.body  # the new appointment

    deadline_sweep(at=at(28, 10, 30))  # nothing new, nothing twice
    assert OutboxMessage.objects.filter(event=event).count() == 3


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the bulk path is PostgreSQL's")
def test_a_lost_batch_task_is_made_up_for_by_the_next_sweep(org, version, frozen, monkeypatch):
    """The broker was down when the batch committed: no task, no message. The next sweep after
    the grace period records the messages itself (and only once)."""
    from motcua.models import OutboxMessage

    monkeypatch.setattr(deadlines, "_announce", lambda event_ids: None)
    dossier = in_progress(org, version)
    deadline_sweep(at=at(28, 10), bulk=True)
    assert citizen_messages(dossier) == []

    result = deadline_sweep(at=at(28, 10, 5), bulk=True)  # within the grace: the task's turn
    assert result.announced_late == 0 and citizen_messages(dossier) == []

    result = deadline_sweep(at=at(28, 10, 15), bulk=True)
    assert result.announced_late == 1
    assert citizen_messages(dossier) == [("email", "an.nguyen@example.vn"), ("sms", "0912345678")]
    assert deadline_sweep(at=at(28, 10, 30), bulk=True).announced_late == 0
    assert OutboxMessage.objects.filter(dossier=dossier, topic="apology").count() == 2


# ---------------------------------------------------------------------------------------------
# The command, the task, the schedule
# ---------------------------------------------------------------------------------------------


def test_sweep_deadlines_command_runs_as_of_the_moment_given(org, version, frozen):
    dossier = in_progress(org, version)
    out = StringIO()
    call_command("sweep_deadlines", "--at", "2025-11-28T10:00", stdout=out)
    assert "văn bản xin lỗi đã lập: 1" in out.getvalue()
    letter = Apology.objects.get(dossier=dossier)
    assert letter.issued_at == at(28, 10)  # no offset given: Asia/Ho_Chi_Minh

    out = StringIO()
    call_command("sweep_deadlines", "--at", "2025-11-28T10:05+07:00", "--json", stdout=out)
    counts = json.loads(out.getvalue())
    assert counts["apologies"] == 0 and counts["at"].startswith("2025-11-28T10:05")


def test_sweep_deadlines_command_refuses_a_bad_moment():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("sweep_deadlines", "--at", "next tuesday", stdout=StringIO())


def test_the_task_runs_the_same_sweep(org, version, frozen):
    from dossiers.tasks import sweep_deadlines

    dossier = in_progress(org, version)
    counts = sweep_deadlines.apply(kwargs={"at": "2025-11-28T10:00:00+07:00"}).get()
    assert counts["apologies"] == 1 and Apology.objects.filter(dossier=dossier).exists()
    assert sweep_deadlines.name == "dossiers.sweep_deadlines"
    assert sweep_deadlines.acks_late is True


def test_beat_runs_the_sweep_in_office_hours_and_after_midnight(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE
    day = schedule["sweep-deadlines"]
    night = schedule["sweep-deadlines-night"]
    assert day["task"] == night["task"] == "dossiers.sweep_deadlines"
    cron = day["schedule"]
    assert cron.minute == set(range(0, 60, 5))
    assert cron.hour == set(range(7, 18))
    assert cron.day_of_week == {1, 2, 3, 4, 5, 6}  # Monday–Saturday (Celery: 0 = Sunday)
    assert night["schedule"].hour == {0} and night["schedule"].minute == {5}
