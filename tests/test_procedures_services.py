"""Writes to the catalogue: create, update with versioning, activate, and the inverse to data."""

from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.files.base import ContentFile

from motcua.errors import PermissionDenied, ValidationError
from motcua.models import Role
from procedures import models as procedure_models
from procedures.models import (
    FeeLine,
    Field,
    Procedure,
    ProcedureVersion,
    ProcessStep,
    RequiredDocument,
    TimeLimit,
)
from procedures.schema import StepData, TimeLimitData
from procedures.services import (
    procedure_create,
    procedure_set_active,
    procedure_to_data,
    procedure_update,
    procedure_version_in_use,
)
from tests.factories import (
    DepartmentFactory,
    StaffRoleFactory,
    UserFactory,
    catalogue_admin,
    procedure_data,
)

pytestmark = pytest.mark.django_db
VN = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture(autouse=True)
def department():
    return DepartmentFactory()


@pytest.fixture
def admin_user():
    return catalogue_admin()


@pytest.fixture
def in_use(monkeypatch):
    """Make every version count as used by a dossier."""
    monkeypatch.setattr(ProcedureVersion, "is_in_use", lambda self: True)


def test_create_adds_the_procedure_with_version_one_as_current(admin_user):
    procedure = procedure_create(data=procedure_data(), actor=admin_user)

    version = procedure.current_version
    assert procedure.code == "1.001193.000.00.00.H01"
    assert (version.number, version.procedure_id, version.created_by) == (1, procedure.pk, admin_user)
    assert [(s.position, s.unit_code, s.hours) for s in version.steps.all()] == [
        (1, "MC", Decimal(2)), (2, "HCTP", Decimal(16)), (3, "LD", Decimal(4)), (4, "MC", Decimal(2)),
    ]
    assert version.fees.get().amount_vnd == 50000
    assert version.documents.get().name == "Đơn đề nghị theo mẫu"


def test_create_maintains_the_folded_search_text(admin_user):
    procedure = procedure_create(data=procedure_data(name="Cấp giấy phép XÂY DỰNG"), actor=admin_user)

    text = procedure.current_version.search_text
    assert text == ("1.001193.000.00.00.h01 cap giay phep xay dung ho tich "
                    "so tu phap tinh an giang so tu phap 000.00.10.h01")


def test_create_stores_composed_unicode_without_surrounding_spaces(admin_user):
    decomposed = "Đăng ky\u0301 khai sinh"  # "ký" as k + y + combining acute
    procedure = procedure_create(data=procedure_data(name=f"  {decomposed} "), actor=admin_user)
    assert procedure.current_version.name == "Đăng ký khai sinh"


def test_create_refuses_a_code_already_in_the_catalogue(admin_user):
    procedure_create(data=procedure_data(), actor=admin_user)

    with pytest.raises(ValidationError) as caught:
        procedure_create(data=procedure_data(name="Khác"), actor=admin_user)

    assert caught.value.errors == {"code": ["Mã thủ tục “1.001193.000.00.00.H01” đã có trong danh mục."]}
    assert Procedure.objects.count() == 1


def test_create_adds_a_new_field_by_code_and_name(admin_user):
    procedure_create(data=procedure_data(field_code="GDDT", field_name="Giáo dục và Đào tạo"),
                     actor=admin_user)
    assert Field.objects.get(code="GDDT").name == "Giáo dục và Đào tạo"


def test_create_writes_nothing_when_the_data_is_invalid(admin_user):
    with pytest.raises(ValidationError):
        procedure_create(data=procedure_data(time_limit_amount=Decimal(5)), actor=admin_user)
    assert not Procedure.objects.exists()
    assert not ProcedureVersion.objects.exists()


def test_only_a_catalogue_admin_edits_the_catalogue(department):
    officer = StaffRoleFactory(unit=department.units.get(code="HCTP"), role=Role.OFFICER).user
    with pytest.raises(PermissionDenied):
        procedure_create(data=procedure_data(), actor=officer)

    superuser = UserFactory(username="quantri", is_superuser=True)
    procedure = procedure_create(data=procedure_data(), actor=superuser)
    with pytest.raises(PermissionDenied):
        procedure_set_active(procedure=procedure, active=False, actor=officer)
    with pytest.raises(PermissionDenied):
        procedure_update(procedure=procedure, data=procedure_data(name="Khác"), actor=officer)


def test_the_system_itself_may_write_without_a_user():
    procedure = procedure_create(data=procedure_data(), actor=None)
    assert procedure.current_version.created_by is None


# --- Versioning --------------------------------------------------------------------------------


def test_editing_an_unused_version_changes_it_in_place(admin_user):
    procedure = procedure_create(data=procedure_data(), actor=admin_user)
    first = procedure.current_version
    new_steps = [
        StepData(name="Tiếp nhận", unit_code="MC", role=Role.CLERK, hours=Decimal(4)),
        StepData(name="Xử lý", unit_code="HCTP", role=Role.OFFICER, hours=Decimal(20)),
    ]

    version = procedure_update(
        procedure=procedure, data=procedure_data(name="Tên mới", steps=new_steps), actor=admin_user,
    )

    assert (version.pk, version.number) == (first.pk, 1)
    assert ProcedureVersion.objects.count() == 1
    version.refresh_from_db()
    assert version.name == "Tên mới"
    assert "ten moi" in version.search_text
    assert list(version.steps.values_list("position", "name", "hours")) == [
        (1, "Tiếp nhận", Decimal(4)), (2, "Xử lý", Decimal(20)),
    ]


def test_editing_a_version_in_use_makes_the_next_version_current_from_now(admin_user, in_use):
    with time_machine.travel(datetime(2026, 1, 5, 8, 0, tzinfo=VN), tick=False):
        procedure = procedure_create(data=procedure_data(), actor=admin_user)
    first = procedure.current_version

    with time_machine.travel(datetime(2026, 3, 2, 9, 30, tzinfo=VN), tick=False):
        data = procedure_data(name="Tên mới", time_limit_amount=Decimal(4), steps=[
            StepData(name="Tiếp nhận", unit_code="MC", role=Role.CLERK, hours=Decimal(2)),
            StepData(name="Xử lý", unit_code="HCTP", role=Role.OFFICER, hours=Decimal(30)),
        ])
        second = procedure_update(procedure=procedure, data=data, actor=admin_user)

    procedure.refresh_from_db()
    first.refresh_from_db()
    assert second.number == 2
    assert procedure.current_version == second
    assert second.effective_from == datetime(2026, 3, 2, 9, 30, tzinfo=VN)
    assert second.steps.count() == 2
    # The old version is what its dossiers keep: untouched.
    assert (first.name, first.time_limit_amount) == ("Cấp Giấy phép hành nghề thử nghiệm", Decimal(3))
    assert first.effective_from == datetime(2026, 1, 5, 8, 0, tzinfo=VN)
    assert list(first.steps.values_list("hours", flat=True)) == [2, 16, 4, 2]


def test_each_edit_of_a_used_version_adds_one_version(admin_user, in_use):
    procedure = procedure_create(data=procedure_data(), actor=admin_user)
    procedure_update(procedure=procedure, data=procedure_data(name="Lần 2"), actor=admin_user)
    third = procedure_update(procedure=procedure, data=procedure_data(name="Lần 3"), actor=admin_user)

    assert third.number == 3
    assert list(procedure.versions.order_by("number").values_list("name", flat=True)) == [
        "Cấp Giấy phép hành nghề thử nghiệm", "Lần 2", "Lần 3",
    ]


def test_saving_without_a_change_writes_no_version_even_when_in_use(admin_user, in_use):
    procedure = procedure_create(data=procedure_data(), actor=admin_user)
    current = procedure.current_version
    same = procedure_to_data(current)
    same.effective_from = None  # when it takes effect is not content
    same.legal_basis = "  \n"

    assert procedure_update(procedure=procedure, data=same, actor=admin_user) == current
    assert ProcedureVersion.objects.count() == 1


def test_the_code_of_a_procedure_cannot_change(admin_user):
    procedure = procedure_create(data=procedure_data(), actor=admin_user)
    with pytest.raises(ValidationError) as caught:
        procedure_update(procedure=procedure, data=procedure_data(code="1.001194.000.00.00.H01"),
                         actor=admin_user)
    assert list(caught.value.errors) == ["code"]


def test_an_invalid_edit_changes_nothing(admin_user):
    procedure = procedure_create(data=procedure_data(), actor=admin_user)
    with pytest.raises(ValidationError):
        procedure_update(procedure=procedure,
                         data=procedure_data(name="Mới", time_limit_amount=Decimal(5)),
                         actor=admin_user)
    procedure.current_version.refresh_from_db()
    assert procedure.current_version.name == "Cấp Giấy phép hành nghề thử nghiệm"


def test_a_version_is_in_use_when_another_model_refers_to_it_or_to_its_parts(monkeypatch, admin_user):
    """The check walks the reverse relations Django knows: here the steps' relation is made to
    count as an outside reference, as a dossier's current step would be."""
    procedure = procedure_create(data=procedure_data(), actor=admin_user)
    version = procedure.current_version
    assert procedure_version_in_use(version) is False

    monkeypatch.setattr(procedure_models, "VERSION_PARTS", (TimeLimit, FeeLine, RequiredDocument))
    assert procedure_version_in_use(version) is True
    ProcessStep.objects.filter(version=version).delete()
    assert procedure_version_in_use(version) is False


def test_a_document_template_file_stays_with_its_document_across_versions(admin_user, in_use, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    procedure = procedure_create(data=procedure_data(), actor=admin_user)
    document = procedure.current_version.documents.get()
    document.template.save("mau-don.docx", ContentFile(b"mau"), save=True)

    data = procedure_to_data(procedure.current_version)
    data.name = "Tên mới"
    second = procedure_update(procedure=procedure, data=data, actor=admin_user)

    assert second.number == 2
    assert second.documents.get().template.name == document.template.name


# --- Active, and the inverse to data ----------------------------------------------------------


def test_set_active_stops_and_resumes_a_procedure(admin_user):
    procedure = procedure_create(data=procedure_data(), actor=admin_user)

    procedure_set_active(procedure=procedure, active=False, actor=admin_user)
    assert Procedure.objects.get(pk=procedure.pk).is_active is False
    assert procedure.is_active is False

    procedure_set_active(procedure=procedure, active=True, actor=admin_user)
    assert Procedure.objects.get(pk=procedure.pk).is_active is True


def test_to_data_gives_back_what_was_stored(admin_user):
    data = procedure_data(
        accepts_post=True, legal_basis="Luật Hộ tịch 2014\nNghị định 123/2015/NĐ-CP",
        time_limits=[TimeLimitData(channel="online", amount=Decimal(2), unit="working_days")],
    )
    procedure = procedure_create(data=data, actor=admin_user)

    back = procedure_to_data(procedure.current_version)

    assert replace(back, effective_from=None) == replace(data, effective_from=None)
    assert back.steps[1] == StepData(name="Thẩm định, xử lý hồ sơ", unit_code="HCTP",
                                     role="officer", hours=Decimal(16), agency_code="")
