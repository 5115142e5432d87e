"""``seed_demo``'s dossiers (dossiers/demo.py): every state, some overdue, made by the services
(codes, steps, events), idempotent, deterministic; and the demo users can carry a fresh dossier
of every single-agency demo procedure through its whole process (CONTRACT.md, seed_demo)."""

import io
import re
from collections import defaultdict
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from dossiers.demo import WINDOW, applicant_pool, plan_dossiers
from dossiers.models import (
    OPEN_STATES,
    Dossier,
    DossierCounter,
    DossierEvent,
    DossierStep,
    State,
    Transition,
)
from dossiers.services import (
    dossier_available_transitions,
    dossier_receive_at_desk,
    dossier_submit_online,
    dossier_transition,
)
from motcua import calendar
from motcua.models import Agency
from procedures.models import Level, ProcedureVersion

pytestmark = pytest.mark.django_db

COUNT = 60
TZ = ZoneInfo("Asia/Ho_Chi_Minh")
CODE = re.compile(r"^(?P<agency>\d{3}\.\d{2}\.\d{2}\.H\d{2})-(?P<day>\d{6})-(?P<seq>\d{4})$")


def seed(count=COUNT) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--password", "demo-pass-123", "--dossiers", str(count), stdout=out)
    return out.getvalue()


@pytest.fixture(scope="class")
def seeded(django_db_setup, django_db_blocker):
    """One seed of COUNT dossiers for the tests of the class, rolled back after them (each
    test still runs in its own savepoint)."""
    with django_db_blocker.unblock(), transaction.atomic():
        started = timezone.now()
        output = seed()
        yield started, output
        transaction.set_rollback(True)


def snapshot():
    return {
        "dossiers": sorted(Dossier.objects.values_list("code", "state", "version", "due_at")),
        "events": DossierEvent.objects.count(),
        "steps": DossierStep.objects.count(),
        "counters": sorted(DossierCounter.objects.values_list("agency_id", "day", "last")),
    }


class TestSeededDemo:
    """seed_demo --dossiers 60, once for the class."""

    def test_seed_demo_creates_the_dossiers_in_every_state_and_channel(self, seeded):
        _started, output = seeded

        assert Dossier.objects.count() == COUNT
        assert set(Dossier.objects.values_list("state", flat=True)) == set(State.values)
        assert set(Dossier.objects.values_list("channel", flat=True)) == {"in_person", "online", "post"}
        communes = Agency.objects.filter(kind=Agency.Kind.COMMUNE, dossiers__isnull=False).distinct()
        assert communes.count() >= 3
        assert Dossier.objects.values("procedure_version").distinct().count() >= 10
        assert "đã tạo 50/60 hồ sơ mẫu" in output and "đã tạo 60/60 hồ sơ mẫu" in output


    def test_some_open_dossiers_are_overdue_and_some_due_within_a_working_day(self, seeded):
        started, _output = seeded
        open_dossiers = Dossier.objects.filter(state__in=OPEN_STATES).exclude(state=State.SUBMITTED)

        overdue = open_dossiers.filter(due_at__lt=started)
        due_soon = open_dossiers.filter(
            due_at__gt=started, due_at__lte=calendar.add_working_hours(started, 8)
        )

        assert overdue.filter(state=State.IN_PROGRESS).exists()
        assert due_soon.filter(state__in=[State.IN_PROGRESS, State.AWAITING_APPROVAL]).exists()
        assert open_dossiers.filter(due_at__gt=calendar.add_working_hours(started, 8)).exists()


    def test_results_are_early_on_time_and_late_and_some_supplements_were_supplied(self, seeded):
        returned = Dossier.objects.filter(state=State.RETURNED)

        assert {d.timeliness for d in returned} == {"early", "on_time", "late"}
        assert {d.outcome for d in returned} == {"granted", "denied"}
        transitions = set(DossierEvent.objects.values_list("transition", flat=True))
        assert {"request_supplement", "supplement", "send_back", "assign", "refuse", "withdraw",
                "stop", "deny", "submit", "receive", "return_result"} <= transitions
        supplied = Dossier.objects.filter(events__transition=Transition.SUPPLEMENT).distinct()
        assert supplied.filter(state=State.RETURNED).exists()
        assert supplied.filter(paused_hours__gt=0).exists()


    def test_dossier_codes_are_gapless_per_agency_and_day_in_order_of_reception(self, seeded):
        by_day = defaultdict(list)
        for code, received_at, agency_code in Dossier.objects.exclude(received_at=None).values_list(
            "code", "received_at", "agency__code"
        ):
            match = CODE.match(code)
            assert match, code
            assert match["agency"] == agency_code
            assert match["day"] == f"{received_at.astimezone(TZ):%y%m%d}"
            by_day[(agency_code, match["day"])].append((received_at, int(match["seq"])))

        assert len(by_day) > 10
        for key, rows in by_day.items():
            numbers = [seq for _at, seq in sorted(rows)]
            assert numbers == list(range(1, len(rows) + 1)), key
        counters = {
            (agency, f"{day:%y%m%d}"): last
            for agency, day, last in DossierCounter.objects.values_list("agency__code", "day", "last")
        }
        assert counters == {key: len(rows) for key, rows in by_day.items()}
        # Submissions never received (waiting, refused, withdrawn) keep their provisional code.
        assert not Dossier.objects.filter(received_at=None).exclude(code__startswith="TT-").exists()


    def test_every_demo_dossier_has_the_event_log_of_the_services(self, seeded):
        started, _output = seeded
        demo_users = set(get_user_model().objects.filter(
            username__in=["clerk1", "officer1", "leader1"]).values_list("pk", flat=True))
        oldest = started - WINDOW - timedelta(days=3)

        for dossier in Dossier.objects.prefetch_related("events"):
            events = list(dossier.events.all())
            assert events[0].transition in ("receive", "submit") and events[0].from_state == ""
            state = ""
            for event in events:
                assert event.from_state == state or event.transition == "assign", dossier.code
                state = event.to_state
                assert event.actor_id in demo_users or (event.transition == "submit"
                                                        and event.actor_id is None)
            assert state == dossier.state
            moments = [e.at for e in events]
            assert moments == sorted(moments)
            assert oldest < moments[0] and moments[-1] <= timezone.now()
            assert dossier.created_at == dossier.submitted_at or dossier.submitted_at is None
            # Staff act in office hours; only citizens submit online at any hour.
            for event in events:
                if event.transition != "submit":
                    assert calendar.next_opening(event.at) == event.at, (dossier.code, event.at)
        assert not Dossier.objects.filter(
            ~Q(state=State.SUBMITTED), ~Q(state=State.REFUSED), ~Q(state=State.WITHDRAWN),
            due_at=None,
        ).exists()


    def test_demo_applicants_have_valid_ids_mobile_numbers_and_addresses_in_an_giang(self, seeded):
        for name, id_number, phone, address in Dossier.objects.values_list(
            "applicant_name", "applicant_id_number", "applicant_phone", "applicant_address"
        ):
            assert re.fullmatch(r"\d{12}", id_number)
            assert id_number[3] in "0123"  # sex and century of birth
            assert re.fullmatch(r"0[35789]\d{8}", phone)
            assert address.endswith("tỉnh An Giang")
            assert len(name.split()) >= 2
        assert Dossier.objects.values("applicant_id_number").distinct().count() > COUNT / 2


    def test_seeded_history_tells_nobody(self, seeded):
        from motcua.models import OutboxMessage

        assert DossierEvent.objects.count() > COUNT
        assert not OutboxMessage.objects.exists()

    def test_running_seed_demo_twice_changes_nothing(self, seeded):
        before = snapshot()

        output = seed()

        assert snapshot() == before
        assert "hồ sơ mẫu đã có, không tạo thêm" in output


def test_seed_demo_with_no_dossiers_creates_none_and_a_later_run_creates_them():
    seed(count=0)
    assert Dossier.objects.count() == 0

    seed(count=20)

    assert Dossier.objects.count() == 20


def test_the_plan_is_the_same_for_the_same_moment_and_seed():
    seed(count=0)
    now = datetime(2026, 11, 18, 10, 15, tzinfo=TZ)

    first = plan_dossiers(count=COUNT, now=now)
    again = plan_dossiers(count=COUNT, now=now)
    other = plan_dossiers(count=COUNT, now=now, seed="another")

    assert first == again
    assert first != other
    assert {row[8] for row in first} <= {p.id_number for p in applicant_pool()}
    assert all(now - WINDOW - timedelta(days=3) < row[0] <= now for row in first)


# ---------------------------------------------------------------------------------------------
# CONTRACT: officer1 and leader1 can carry any single-agency demo procedure through all of
# its steps.
# ---------------------------------------------------------------------------------------------



def _single_agency_versions():
    versions = (
        ProcedureVersion.objects.filter(procedure__current_version=F("pk"))
        .select_related("procedure", "agency").prefetch_related("steps")
        .order_by("procedure__code")
    )
    return [
        v for v in versions
        if all(s.agency_id in (None, v.agency_id) for s in v.steps.all())
    ]


def _carry_to_returned(version, users) -> list[str]:
    agency = None
    if version.level == Level.COMMUNE and version.agency_id is None:
        agency = Agency.objects.get(code="000.20.03.H01")  # xã Mỹ Hòa Hưng
    applicant = {"name": "Nguyễn Văn Thử", "id_number": "089085123456", "phone": "0912000111"}
    if version.accepts_in_person or version.accepts_post:
        dossier = dossier_receive_at_desk(
            procedure_version=version, agency=agency, actor=users["clerk1"], applicant=applicant,
            channel="in_person" if version.accepts_in_person else "post",
        )
    else:  # fully online: the desk receives the submission
        dossier = dossier_submit_online(
            procedure_version=version, agency=agency, applicant=applicant
        )
        dossier = dossier_transition(
            dossier=dossier, transition=Transition.RECEIVE, actor=users["clerk1"]
        )
    wanted = {
        State.RECEIVED: ("officer1", [Transition.START]),
        State.IN_PROGRESS: ("officer1", [Transition.FORWARD, Transition.SUBMIT_FOR_APPROVAL]),
        State.AWAITING_APPROVAL: ("leader1", [Transition.APPROVE]),
        State.RESULT_READY: ("clerk1", [Transition.RETURN_RESULT]),
    }
    done = []
    for _ in range(3 * version.steps.count() + 2):
        if dossier.state == State.RETURNED:
            return done
        username, choices = wanted[dossier.state]
        available = dossier_available_transitions(dossier=dossier, user=users[username])
        move = next((t for t in choices if t in available), None)
        assert move, (
            f"{version.procedure.code}: {username} cannot go on from {dossier.state} at step "
            f"“{dossier.current_step}” (available: {available})"
        )
        dossier = dossier_transition(dossier=dossier, transition=move, actor=users[username])
        done.append(move)
    raise AssertionError(f"{version.procedure.code}: not returned after {done}")


def test_officer1_and_leader1_carry_every_single_agency_demo_procedure_to_returned():
    seed(count=0)
    users = {u.username: u for u in get_user_model().objects.all()}
    versions = _single_agency_versions()
    assert len(versions) >= 30

    for version in versions:
        moves = _carry_to_returned(version, users)
        dossier = Dossier.objects.filter(procedure_version=version).get()
        steps = list(dossier.steps.select_related("handler"))
        assert dossier.state == State.RETURNED and moves[-1] == Transition.RETURN_RESULT
        assert all(s.finished_at for s in steps), version.procedure.code
        handlers = {s.role: s.handler.username for s in steps}
        assert handlers["officer"] == "officer1" and handlers["leader"] == "leader1"


def test_officer1_and_leader1_carry_the_inter_agency_birth_registration_to_returned():
    seed(count=0)
    users = {u.username: u for u in get_user_model().objects.all()}
    version = ProcedureVersion.objects.get(
        procedure__code="2.000986.000.00.00.H01", procedure__current_version=F("pk")
    )

    _carry_to_returned(version, users)
