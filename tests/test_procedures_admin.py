"""The catalogue in the Django admin: saving a version goes through the service and its rules."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from procedures.models import Procedure, ProcedureVersion
from tests.factories import ProcedureFactory, StaffRoleFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(username="quantri", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def procedure():
    return ProcedureFactory(code="1.013225.000.00.00.H01", name="Cấp giấy phép xây dựng")


def change_url(version: ProcedureVersion) -> str:
    return reverse("admin:procedures_procedureversion_change", args=[version.pk])


def post_data(version: ProcedureVersion, *, step_hours=None, step_positions=None, **changes) -> dict:
    """The admin page of ``version`` as the browser would post it, with some values changed."""
    data = {
        "name": version.name, "field": version.field_id, "level": version.level,
        "agency": version.agency_id or "", "agency_text": version.agency_text,
        "subjects": version.subjects, "online_level": version.online_level,
        "time_limit_amount": version.time_limit_amount, "time_limit_unit": version.time_limit_unit,
        "time_limit_text": version.time_limit_text, "supplement_clock": version.supplement_clock,
        "procedure_steps_text": "", "requirements": "", "result": version.result,
        "legal_basis": "", "source": "",
    }
    for flag in ("accepts_in_person", "accepts_online", "accepts_post", "is_inter_agency"):
        if getattr(version, flag):
            data[flag] = "on"
    data.update(changes)

    def inline(prefix, rows, fields):
        data.update({f"{prefix}-TOTAL_FORMS": len(rows), f"{prefix}-INITIAL_FORMS": len(rows),
                     f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000})
        for i, row in enumerate(rows):
            data[f"{prefix}-{i}-id"] = row.pk
            data[f"{prefix}-{i}-version"] = version.pk
            for name in fields:
                value = getattr(row, name)
                if isinstance(value, bool):
                    if value:
                        data[f"{prefix}-{i}-{name}"] = "on"
                else:
                    data[f"{prefix}-{i}-{name}"] = "" if value is None else value

    inline("time_limits", list(version.time_limits.all()), ["channel", "amount", "unit"])
    inline("fees", list(version.fees.all()), ["position", "name", "amount_vnd", "description"])
    inline("documents", list(version.documents.all()),
           ["position", "name", "originals", "copies", "is_mandatory", "template_name"])
    steps = list(version.steps.all())
    inline("steps", steps, ["position", "name", "unit_code", "role", "hours"])
    for i, step in enumerate(steps):
        data[f"steps-{i}-agency"] = step.agency_id or ""
        if step_hours and i in step_hours:
            data[f"steps-{i}-hours"] = step_hours[i]
        if step_positions and i in step_positions:
            data[f"steps-{i}-position"] = step_positions[i]
    return data


def test_the_version_page_shows_the_inlines(superuser_client, procedure):
    response = superuser_client.get(change_url(procedure.current_version))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Thẩm định, xử lý hồ sơ" in html


def test_saving_steps_that_do_not_add_up_shows_the_rule_and_saves_nothing(superuser_client, procedure):
    version = procedure.current_version

    response = superuser_client.post(
        change_url(version), post_data(version, name="Tên mới", step_hours={1: "12"}),
    )

    assert response.status_code == 200
    assert ("Tổng thời gian các bước (20 giờ) phải bằng thời hạn giải quyết (24 giờ làm việc)."
            in response.content.decode())
    version.refresh_from_db()
    assert version.name == "Cấp giấy phép xây dựng"
    assert list(version.steps.values_list("hours", flat=True)) == [2, 16, 4, 2]


def test_steps_out_of_order_are_refused(superuser_client, procedure):
    version = procedure.current_version

    response = superuser_client.post(change_url(version), post_data(version, step_positions={3: 7}))

    assert response.status_code == 200
    assert "Thứ tự các bước phải liên tục 1, 2, …, 4." in response.content.decode()


def test_saving_an_unused_version_edits_it_in_place_through_the_service(superuser_client, procedure):
    version = procedure.current_version

    response = superuser_client.post(
        change_url(version),
        post_data(version, name="Cấp giấy phép xây dựng nhà ở riêng lẻ",
                  step_hours={1: "14", 2: "6"}),
    )

    assert response.status_code == 302
    version.refresh_from_db()
    assert (version.number, version.name) == (1, "Cấp giấy phép xây dựng nhà ở riêng lẻ")
    assert "nha o rieng le" in version.search_text  # maintained by the service
    assert list(version.steps.values_list("hours", flat=True)) == [2, 14, 6, 2]
    assert ProcedureVersion.objects.count() == 1


def test_saving_a_version_in_use_makes_a_new_version(superuser_client, procedure, monkeypatch):
    monkeypatch.setattr(ProcedureVersion, "is_in_use", lambda self: True)
    first = procedure.current_version

    response = superuser_client.post(
        change_url(first), post_data(first, time_limit_amount=Decimal(4), step_hours={1: "24"}),
    )

    procedure.refresh_from_db()
    second = procedure.current_version
    assert second.number == 2
    assert response.status_code == 302
    assert response["Location"] == change_url(second)
    assert second.time_limit_amount == 4
    first.refresh_from_db()
    assert first.time_limit_amount == 3


def test_old_versions_are_read_only(superuser_client, procedure, monkeypatch):
    monkeypatch.setattr(ProcedureVersion, "is_in_use", lambda self: True)
    first = procedure.current_version
    superuser_client.post(change_url(first), post_data(first, name="Tên mới"))

    response = superuser_client.post(change_url(first), post_data(first, name="Sửa bản cũ"))

    assert response.status_code == 403
    first.refresh_from_db()
    assert first.name == "Cấp giấy phép xây dựng"


def test_staff_without_the_catalogue_role_only_look(client, procedure):
    viewer = StaffRoleFactory(user=UserFactory(username="xem1", is_staff=True)).user  # an officer
    viewer.user_permissions.add(*Permission.objects.filter(codename__endswith="procedureversion"))
    client.force_login(viewer)
    version = procedure.current_version

    response = client.post(change_url(version), post_data(version, name="Tên mới"))

    assert response.status_code == 403


def test_the_procedure_list_searches_without_diacritics(superuser_client, procedure):
    ProcedureFactory(code="1.001193.000.00.00.H01", name="Đăng ký khai sinh")

    response = superuser_client.get(reverse("admin:procedures_procedure_changelist"),
                                    {"q": "giay phep XAY DUNG"})

    html = response.content.decode()
    assert "1.013225.000.00.00.H01" in html
    assert "1.001193.000.00.00.H01" not in html


def test_the_deactivate_action_goes_through_the_service(superuser_client, procedure):
    response = superuser_client.post(reverse("admin:procedures_procedure_changelist"), {
        "action": "deactivate", "_selected_action": [procedure.pk],
    })

    assert response.status_code == 302
    assert Procedure.objects.get(pk=procedure.pk).is_active is False
