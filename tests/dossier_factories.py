"""Fixtures for the dossier tests, on top of the shared factories (tests/factories.py): a small
organisation with its staff, a procedure with a five-step internal process, and helpers to
bring a dossier to any state through the services (never by writing the models)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import factory
import pytest
from django.utils import timezone

from motcua.models import Agency, Role, StaffRole, Unit
from procedures.models import (
    Field,
    Procedure,
    ProcedureVersion,
    ProcessStep,
    RequiredDocument,
    TimeLimit,
)
from tests.factories import AgencyFactory, UnitFactory, UserFactory

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
#: Monday 24 November 2025, 09:00 — a plain working morning (no holiday that week or the next).
MONDAY_9 = datetime(2025, 11, 24, 9, 0, tzinfo=TZ)
PASSWORD = "Mot-Cua-test-2025"

APPLICANT = {
    "name": "Nguyễn Văn An",
    "id_number": "089085000123",
    "phone": "0912345678",
    "email": "an.nguyen@example.vn",
    "address": "12 Trần Hưng Đạo, phường Long Xuyên, An Giang",
}


@lru_cache(maxsize=1)
def _password_hash() -> str:
    from django.contrib.auth.hashers import make_password

    return make_password(PASSWORD)


def staff(username: str, *grants: tuple[Unit, str], **extra):
    # One hash for everybody: hashing per user (PBKDF2) would cost a third of a second each.
    user = UserFactory(
        username=username, password=factory.Transformer.Force(_password_hash()), **extra
    )
    for unit, role in grants:
        StaffRole.objects.get_or_create(user=user, unit=unit, role=role)
    return user


def field() -> Field:
    return Field.objects.get_or_create(code="G01", defaults={"name": "Lĩnh vực thử nghiệm"})[0]


STANDARD_STEPS = [
    # (name, unit code, role, hours, agency override)
    ("Tiếp nhận hồ sơ", "MC", Role.CLERK, Decimal(2), None),
    ("Thẩm định hồ sơ", "CM", Role.OFFICER, Decimal(24), None),
    ("Dự thảo kết quả", "CM", Role.OFFICER, Decimal(6), None),
    ("Phê duyệt, ký kết quả", "LD", Role.LEADER, Decimal(6), None),
    ("Trả kết quả", "MC", Role.CLERK, Decimal(2), None),
]


def make_procedure(
    *,
    code: str = "1.000001.000.00.00.H01",
    agency: Agency | None,
    name: str = "Cấp giấy phép thử nghiệm",
    steps=STANDARD_STEPS,
    amount: Decimal = Decimal(5),
    unit: str = "working_days",
    level: str = "province",
    accepts_online: bool = True,
    accepts_post: bool = False,
    supplement_clock: str = "pause",
    documents=(("Đơn đề nghị cấp phép", True), ("Bản sao giấy tờ pháp lý", True),
               ("Giấy ủy quyền (nếu có)", False)),
    channel_limits=(),
    active: bool = True,
) -> ProcedureVersion:
    procedure = Procedure.objects.create(code=code, is_active=active)
    version = ProcedureVersion.objects.create(
        procedure=procedure, number=1, effective_from=timezone.now(), name=name,
        field=field(), level=level, agency=agency, time_limit_amount=amount,
        time_limit_unit=unit, accepts_in_person=True, accepts_online=accepts_online,
        accepts_post=accepts_post, supplement_clock=supplement_clock,
    )
    for position, (step_name, unit_code, role, hours, step_agency) in enumerate(steps, start=1):
        ProcessStep.objects.create(
            version=version, position=position, name=step_name, agency=step_agency,
            unit_code=unit_code, role=role, hours=hours,
        )
    for position, (doc_name, mandatory) in enumerate(documents, start=1):
        RequiredDocument.objects.create(
            version=version, position=position, name=doc_name, is_mandatory=mandatory,
            originals=1, copies=0,
        )
    for channel, limit_amount, limit_unit in channel_limits:
        TimeLimit.objects.create(version=version, channel=channel, amount=limit_amount, unit=limit_unit)
    procedure.current_version = version
    procedure.save(update_fields=["current_version"])
    return version


def build_org():
    """Agency A (a department) with its desk MC, specialist unit CM, leaders LD; agency B with
    the same units (another agency: its staff must see nothing of A's dossiers); a service
    center whose clerk receives for everyone."""
    a = AgencyFactory(code="000.00.10.H01", name="Sở Tư pháp thử nghiệm", short_name="STP")
    b = AgencyFactory(code="000.00.11.H01", name="Sở Tài chính thử nghiệm", short_name="STC")
    center = AgencyFactory(
        code="000.00.01.H01", name="Trung tâm Phục vụ hành chính công", short_name="TTPVHCC",
        kind=Agency.Kind.CENTER,
    )
    units = {}
    for agency in (a, b):
        units[agency.code] = {
            "MC": UnitFactory(agency=agency, code="MC", name="Bộ phận một cửa", is_reception=True),
            "CM": UnitFactory(agency=agency, code="CM", name="Phòng chuyên môn"),
            "LD": UnitFactory(agency=agency, code="LD", name="Ban Lãnh đạo"),
        }
    qt = UnitFactory(agency=center, code="QT", name="Quầy tiếp nhận", is_reception=True)
    ua, ub = units[a.code], units[b.code]
    org = SimpleNamespace(
        a=a, b=b, center=center, units_a=ua, units_b=ub,
        clerk=staff("clerk_a", (ua["MC"], Role.CLERK)),
        officer=staff("officer_a", (ua["CM"], Role.OFFICER)),
        officer2=staff("officer_a2", (ua["CM"], Role.OFFICER)),
        leader=staff("leader_a", (ua["LD"], Role.LEADER)),
        clerk_b=staff("clerk_b", (ub["MC"], Role.CLERK)),
        officer_b=staff("officer_b", (ub["CM"], Role.OFFICER)),
        leader_b=staff("leader_b", (ub["LD"], Role.LEADER)),
        center_clerk=staff("clerk_center", (qt, Role.CLERK)),
        admin=staff("catalogue_admin", (ua["CM"], Role.CATALOGUE_ADMIN)),
        superuser=staff("root", is_superuser=True, is_staff=True),
    )
    return org


@pytest.fixture
def org(db):
    """The organisation; on-commit tasks run inline meanwhile (no broker files)."""
    from motcua.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield build_org()
    app.conf.task_always_eager = previous


@pytest.fixture
def version(org):
    return make_procedure(agency=org.a)


@pytest.fixture
def frozen():
    """Time stands still on Monday 24/11/2025 09:00 (Asia/Ho_Chi_Minh) unless moved."""
    import time_machine

    with time_machine.travel(MONDAY_9, tick=False) as traveller:
        yield traveller


@pytest.fixture
def eager_celery():
    """Run on-commit tasks inline instead of writing to the embedded broker's folder."""
    from motcua.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = previous


# ---------------------------------------------------------------------------------------------
# Bringing a dossier to a state, through the services only
# ---------------------------------------------------------------------------------------------


def receive(org, version, *, actor=None, applicant=None, **kwargs):
    from dossiers.services import dossier_receive_at_desk

    return dossier_receive_at_desk(
        procedure_version=version, channel=kwargs.pop("channel", "in_person"),
        applicant=applicant or APPLICANT, actor=actor or org.clerk, **kwargs,
    )


def client_for(user):
    """A DRF test client authenticated as ``user`` (no token, no session)."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(user)
    return client


def submit_online(org, version, **kwargs):
    from dossiers.services import dossier_submit_online

    return dossier_submit_online(
        procedure_version=version, applicant=kwargs.pop("applicant", APPLICANT), **kwargs
    )


def act(dossier, transition, actor, **kwargs):
    from dossiers.services import dossier_transition

    return dossier_transition(dossier=dossier, transition=transition, actor=actor, **kwargs)


#: How to reach each state from a fresh reception (actor attribute of ``org``, transition,
#: payload). ``in_progress_last`` is in_progress at the last officer step (before the leader).
PATHS = {
    "submitted": [],
    "received": [],
    "in_progress": [("clerk", "start", {})],
    "in_progress_last": [("clerk", "start", {}), ("officer", "forward", {})],
    "supplement_requested": [
        ("clerk", "start", {}),
        ("officer", "request_supplement", {"missing_documents": ["Bản sao sổ hộ khẩu"]}),
    ],
    "awaiting_approval": [
        ("clerk", "start", {}), ("officer", "forward", {}), ("officer", "submit_for_approval", {}),
    ],
    "result_ready": [
        ("clerk", "start", {}), ("officer", "forward", {}), ("officer", "submit_for_approval", {}),
        ("leader", "approve", {}),
    ],
    "returned": [
        ("clerk", "start", {}), ("officer", "forward", {}), ("officer", "submit_for_approval", {}),
        ("leader", "approve", {}), ("clerk", "return_result", {}),
    ],
    "refused": [("clerk", "refuse", {"reasons": ["Không thuộc thẩm quyền"]})],
    "withdrawn": [("clerk", "withdraw", {"reason": "Công dân xin rút"})],
    "stopped": [("leader", "stop", {"legal_basis": "Khoản 2 Điều 20 Nghị định 118/2025/NĐ-CP"})],
}


def dossier_in(org, version, state: str):
    dossier = submit_online(org, version) if state in ("submitted", "refused") else receive(org, version)
    for who, transition, payload in PATHS[state]:
        dossier = act(dossier, transition, getattr(org, who), **payload)
    return dossier
