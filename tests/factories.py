"""Factories shared by every test module: the organisation, staff and the catalogue.

Values are explicit and readable on purpose: a test that reads ``agency__code="000.00.10.H01"``
or ``time_limit_amount=Decimal(3)`` says what it is about. The catalogue factories build what
the services would (a procedure, its current version with a valid internal process whose hours
add up to the time limit, the folded search text).

Typical use::

    agency = DepartmentFactory()                          # Sở Tư pháp with units MC, HCTP, LD
    procedure = ProcedureFactory(agency=agency)           # 3 working days, 4 steps (2+16+4+2 h)
    officer = StaffRoleFactory(unit=agency.units.get(code="HCTP"), role=Role.OFFICER).user
"""

from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone
from factory.django import DjangoModelFactory

from motcua.models import Agency, Role, StaffRole, Unit
from procedures.models import (
    Channel,
    FeeLine,
    Field,
    Level,
    OnlineLevel,
    Procedure,
    ProcedureVersion,
    ProcessStep,
    RequiredDocument,
    TimeLimit,
    TimeUnit,
)
from procedures.schema import DocumentData, FeeData, ProcedureData, StepData, TimeLimitData

DEFAULT_PASSWORD = "MatKhau@2026"

# ---------------------------------------------------------------------------------------------
# Organisation and staff
# ---------------------------------------------------------------------------------------------


class AgencyFactory(DjangoModelFactory):
    """A department of the province (a sở); codes 000.00.50.H01, 000.00.51.H01, …"""

    class Meta:
        model = Agency
        django_get_or_create = ["code"]
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"000.00.{50 + n}.H01")
    name = factory.Sequence(lambda n: f"Sở Thử nghiệm số {n + 1} tỉnh An Giang")
    short_name = factory.Sequence(lambda n: f"Sở TN {n + 1}")
    kind = Agency.Kind.DEPARTMENT


class UnitFactory(DjangoModelFactory):
    class Meta:
        model = Unit
        django_get_or_create = ["agency", "code"]

    agency = factory.SubFactory(AgencyFactory)
    code = "CM"
    name = "Phòng Chuyên môn"
    is_reception = False


class DepartmentFactory(AgencyFactory):
    """Sở Tư pháp (000.00.10.H01) with its desk MC, its specialist unit HCTP and its leaders
    LD, the shape of every department of the demo province."""

    code = "000.00.10.H01"
    name = "Sở Tư pháp tỉnh An Giang"
    short_name = "Sở Tư pháp"

    @factory.post_generation
    def units(agency, create, extracted, **kwargs):
        if not create:
            return
        specialist = extracted or ("HCTP", "Phòng Hành chính tư pháp")
        UnitFactory(agency=agency, code="MC", name="Bộ phận tiếp nhận và trả kết quả",
                    is_reception=True)
        UnitFactory(agency=agency, code=specialist[0], name=specialist[1])
        UnitFactory(agency=agency, code="LD", name="Ban Lãnh đạo")


#: The units of a commune in the demo province: code → (name, is the one-stop desk).
COMMUNE_UNITS = {
    "MC": ("Bộ phận tiếp nhận và trả kết quả", True),
    "VHXH": ("Phòng Văn hóa - Xã hội", False),
    "KT": ("Phòng Kinh tế", False),
    "LD": ("Ban Lãnh đạo", False),
}


class CommuneFactory(AgencyFactory):
    """A commune's people's committee with MC, VHXH, KT and LD, as in the demo province;
    codes 000.20.50.H01, 000.20.51.H01, … ``units=["MC", "LD"]`` gives it only those."""

    code = factory.Sequence(lambda n: f"000.20.{50 + n}.H01")
    name = factory.Sequence(lambda n: f"Ủy ban nhân dân xã Thử Nghiệm {n + 1}")
    short_name = factory.Sequence(lambda n: f"UBND xã TN {n + 1}")
    kind = Agency.Kind.COMMUNE

    @factory.post_generation
    def units(agency, create, extracted, **kwargs):
        if not create:
            return
        for code in extracted or COMMUNE_UNITS:
            name, is_reception = COMMUNE_UNITS[code]
            UnitFactory(agency=agency, code=code, name=name, is_reception=is_reception)


class UserFactory(DjangoModelFactory):
    """A staff user ``canbo1``, ``canbo2``, … whose password is `DEFAULT_PASSWORD`."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"canbo{n + 1}")
    first_name = "Lan"
    last_name = "Nguyễn Thị"
    email = factory.LazyAttribute(lambda u: f"{u.username}@motcua.example.gov.vn")
    password = factory.django.Password(DEFAULT_PASSWORD)


class StaffRoleFactory(DjangoModelFactory):
    """A user holding a role in a unit (by default: an officer of a department's HCTP)."""

    class Meta:
        model = StaffRole

    user = factory.SubFactory(UserFactory)
    unit = factory.LazyFunction(lambda: DepartmentFactory().units.get(code="HCTP"))
    role = Role.OFFICER
    title = ""


def catalogue_admin(username: str = "kiemsoat1"):
    """A catalogue admin (cán bộ kiểm soát TTHC) of the province's office."""
    province = AgencyFactory(code="000.00.00.H01", name="Ủy ban nhân dân tỉnh An Giang",
                             short_name="UBND tỉnh", kind=Agency.Kind.PROVINCE)
    unit = UnitFactory(agency=province, code="KSTTHC", name="Phòng Kiểm soát thủ tục hành chính")
    return StaffRoleFactory(user=UserFactory(username=username), unit=unit,
                            role=Role.CATALOGUE_ADMIN).user


# ---------------------------------------------------------------------------------------------
# Catalogue
# ---------------------------------------------------------------------------------------------


class FieldFactory(DjangoModelFactory):
    class Meta:
        model = Field
        django_get_or_create = ["code"]

    code = "HOTICH"
    name = "Hộ tịch"


#: The standard internal process of a 3-working-day (24 h) procedure of a `DepartmentFactory`:
#: (name, unit code, role, hours).
STANDARD_STEPS = [
    ("Tiếp nhận hồ sơ", "MC", Role.CLERK, Decimal(2)),
    ("Thẩm định, xử lý hồ sơ", "HCTP", Role.OFFICER, Decimal(16)),
    ("Phê duyệt, ký kết quả", "LD", Role.LEADER, Decimal(4)),
    ("Trả kết quả", "MC", Role.CLERK, Decimal(2)),
]


class ProcedureVersionFactory(DjangoModelFactory):
    """A version with one fee line, one document and the internal process ``steps`` (default
    `STANDARD_STEPS`, as ``(name, unit_code, role, hours)``); it becomes its procedure's
    current version when the procedure has none."""

    class Meta:
        model = ProcedureVersion
        skip_postgeneration_save = True

    procedure = factory.SubFactory("tests.factories.ProcedureFactory", version=False)  # no v1
    number = 1
    effective_from = factory.LazyFunction(timezone.now)
    name = "Cấp bản sao trích lục hộ tịch"
    field = factory.SubFactory(FieldFactory)
    level = Level.PROVINCE
    agency = factory.SubFactory(DepartmentFactory)
    agency_text = ""
    accepts_in_person = True
    accepts_online = True
    accepts_post = False
    online_level = OnlineLevel.PARTIAL
    time_limit_amount = Decimal(3)
    time_limit_unit = TimeUnit.WORKING_DAYS
    result = "Bản sao trích lục hộ tịch"

    @factory.post_generation
    def steps(version, create, extracted, **kwargs):
        if not create:
            return
        for position, (name, unit_code, role, hours) in enumerate(
            STANDARD_STEPS if extracted is None else extracted, start=1
        ):
            ProcessStep.objects.create(version=version, position=position, name=name,
                                       unit_code=unit_code, role=role, hours=Decimal(hours))
        FeeLine.objects.create(version=version, position=1, name="Lệ phí", amount_vnd=8000)
        RequiredDocument.objects.create(version=version, position=1, name="Tờ khai theo mẫu",
                                        originals=1, copies=0)
        version.search_text = version.build_search_text()
        version.save(update_fields=["search_text"])
        if version.procedure.current_version_id is None:
            version.procedure.current_version = version
            version.procedure.save(update_fields=["current_version"])


class ProcedureFactory(DjangoModelFactory):
    """A procedure of a department with its current version 1: 3 working days, in person and
    online (partly), one fee line, one document and the four `STANDARD_STEPS` (24 h).

    ``ProcedureFactory(agency=commune, level=Level.COMMUNE, time_limit_amount=Decimal(5),
    steps=[...])`` changes the agency, the level, the limit or the steps;
    ``version__<field>=...`` any other field of the version.
    """

    class Meta:
        model = Procedure
        skip_postgeneration_save = True

    code = factory.Sequence(lambda n: f"1.{900001 + n:06d}.000.00.00.H01")
    is_active = True
    # For the version (taken off before the procedure is created):
    agency = factory.SubFactory(DepartmentFactory)
    field = factory.SubFactory(FieldFactory)
    name = "Cấp bản sao trích lục hộ tịch"
    level = Level.PROVINCE
    time_limit_amount = Decimal(3)
    time_limit_unit = TimeUnit.WORKING_DAYS
    steps = STANDARD_STEPS

    _VERSION_KEYS = ("agency", "field", "name", "level", "time_limit_amount", "time_limit_unit",
                     "steps")

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        version_values = {key: kwargs.pop(key) for key in cls._VERSION_KEYS}
        procedure = super()._create(model_class, *args, **kwargs)
        procedure._factory_version_values = version_values
        return procedure

    @factory.post_generation
    def version(procedure, create, extracted, **overrides):
        if not create or extracted is False:
            return
        ProcedureVersionFactory(procedure=procedure, **procedure._factory_version_values,
                                **overrides)


def add_channel_limit(version: ProcedureVersion, *, channel: str = Channel.ONLINE,
                      amount: Decimal = Decimal(2), unit: str = TimeUnit.WORKING_DAYS) -> TimeLimit:
    return TimeLimit.objects.create(version=version, channel=channel, amount=amount, unit=unit)


def procedure_data(**overrides) -> ProcedureData:
    """A valid `ProcedureData` for a procedure of Sở Tư pháp (`DepartmentFactory`, which must
    exist): 3 working days = 24 h = 2 + 16 + 4 + 2 in four steps. Override any attribute."""
    values = {
        "code": "1.001193.000.00.00.H01",
        "name": "Cấp Giấy phép hành nghề thử nghiệm",
        "field_code": "HOTICH",
        "field_name": "Hộ tịch",
        "level": Level.PROVINCE,
        "agency_code": "000.00.10.H01",
        "time_limit_amount": Decimal(3),
        "time_limit_unit": TimeUnit.WORKING_DAYS,
        "accepts_in_person": True,
        "accepts_online": True,
        "online_level": OnlineLevel.PARTIAL,
        "fees": [FeeData(name="Lệ phí", amount_vnd=50000)],
        "documents": [DocumentData(name="Đơn đề nghị theo mẫu", originals=1, copies=0)],
        "steps": [StepData(name=n, unit_code=u, role=r, hours=h) for n, u, r, h in STANDARD_STEPS],
        "time_limits": [],
    }
    values.update(overrides)
    return ProcedureData(**values)


__all__ = [
    "COMMUNE_UNITS",
    "DEFAULT_PASSWORD",
    "STANDARD_STEPS",
    "AgencyFactory",
    "CommuneFactory",
    "DepartmentFactory",
    "FieldFactory",
    "ProcedureFactory",
    "ProcedureVersionFactory",
    "StaffRoleFactory",
    "TimeLimitData",
    "UnitFactory",
    "UserFactory",
    "add_channel_limit",
    "catalogue_admin",
    "procedure_data",
]
