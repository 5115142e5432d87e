"""Change history of the catalogue and the settings (issue 9): every write of the catalogue
services — their bulk inserts included — and every admin edit leaves history rows naming who
changed; admins read them in the Django admin and on /staff/audit/ (filtered, paged, xlsx);
nobody else does."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from audit.history import history_actor
from audit.selectors import HistoryFilters, change_history, history_changes
from motcua.models import Agency, CalendarDay, Role
from procedures.models import (
    FeeLine,
    Procedure,
    ProcedureVersion,
    ProcessStep,
    RequiredDocument,
    TimeLimit,
)
from procedures.schema import FeeData, TimeLimitData
from procedures.services import procedure_create, procedure_set_active, procedure_update
from tests.factories import (
    DepartmentFactory,
    ProcedureFactory,
    StaffRoleFactory,
    UserFactory,
    catalogue_admin,
    procedure_data,
)
from tests.test_procedures_admin import change_url, post_data

pytestmark = pytest.mark.django_db
HISTORY = "/staff/audit/"


@pytest.fixture(autouse=True)
def department():
    return DepartmentFactory()


@pytest.fixture
def kiemsoat():
    return catalogue_admin()


@pytest.fixture
def root():
    return UserFactory(username="quantri", is_staff=True, is_superuser=True)


def history_of(model, **filters):
    return list(model.history.filter(**filters).order_by("history_date", "history_id"))


# ---------------------------------------------------------------------------------------------
# The services leave history, bulk inserts included, naming the actor
# ---------------------------------------------------------------------------------------------


def test_creating_a_procedure_leaves_history_for_it_and_every_part(kiemsoat):
    data = procedure_data(time_limits=[TimeLimitData(channel="online", amount=2, unit="working_days")])
    procedure = procedure_create(data=data, actor=kiemsoat)  # no request: the actor is named
    version = procedure.current_version
    for model, n in ((ProcedureVersion, 1), (TimeLimit, 1), (FeeLine, 1), (RequiredDocument, 1),
                     (ProcessStep, 4)):
        rows = history_of(model)
        assert len(rows) == n, model
        assert {(r.history_type, r.history_user) for r in rows} == {("+", kiemsoat)}, model
    assert {r.version_id for r in history_of(ProcessStep)} == {version.pk}
    assert [(r.history_type, r.history_user) for r in history_of(Procedure)] == [
        ("+", kiemsoat), ("~", kiemsoat),  # created, then pointed at its first version
    ]


def test_an_in_place_edit_records_the_old_parts_removed_and_the_new_ones_added(kiemsoat):
    procedure = procedure_create(data=procedure_data(), actor=kiemsoat)
    procedure_update(procedure=procedure, actor=kiemsoat, data=procedure_data(
        name="Cấp Giấy phép hành nghề (sửa)", fees=[FeeData(name="Lệ phí", amount_vnd=70000)],
    ))
    fees = history_of(FeeLine)
    assert [(r.history_type, r.amount_vnd) for r in fees] == [("+", 50000), ("-", 50000), ("+", 70000)]
    assert {r.history_user for r in fees} == {kiemsoat}
    [change] = history_changes(change_history(filters=HistoryFilters(what="procedureversion", type="~")))
    assert change.user == kiemsoat and change.type_label == "Sửa"
    assert ("tên thủ tục", "Cấp Giấy phép hành nghề thử nghiệm", "Cấp Giấy phép hành nghề (sửa)") in change.changes
    assert all(name != "search_text" for name, _old, _new in change.changes)


def test_an_unchanged_update_leaves_no_history(kiemsoat):
    procedure = procedure_create(data=procedure_data(), actor=kiemsoat)
    before = sum(len(history_of(m)) for m in (Procedure, ProcedureVersion, FeeLine))
    procedure_update(procedure=procedure, data=procedure_data(), actor=kiemsoat)
    assert sum(len(history_of(m)) for m in (Procedure, ProcedureVersion, FeeLine)) == before


def test_setting_active_records_the_flag_and_who(kiemsoat):
    procedure = procedure_create(data=procedure_data(), actor=kiemsoat)
    procedure_set_active(procedure=procedure, active=False, actor=kiemsoat)
    last = history_of(Procedure)[-1]
    assert (last.history_type, last.is_active, last.history_user) == ("~", False, kiemsoat)


def test_a_system_write_without_actor_or_request_names_nobody():
    with history_actor(None):
        procedure = procedure_create(data=procedure_data(), actor=None)
    assert {r.history_user for r in history_of(Procedure, id=procedure.pk)} == {None}


# ---------------------------------------------------------------------------------------------
# The admin: its writes name the person; admins read the history there; no revert
# ---------------------------------------------------------------------------------------------


def test_an_admin_edit_of_a_version_names_the_admin(client, root):
    procedure = ProcedureFactory(code="1.013225.000.00.00.H01", name="Cấp giấy phép xây dựng")
    version = procedure.current_version
    client.force_login(root)
    response = client.post(change_url(version), post_data(version, name="Cấp giấy phép xây dựng (mới)",
                                                          step_hours={1: "14", 2: "6"}))
    assert response.status_code == 302
    last = history_of(ProcedureVersion, id=version.pk)[-1]
    assert (last.history_type, last.name, last.history_user) == ("~", "Cấp giấy phép xây dựng (mới)", root)
    steps = history_of(ProcessStep, history_type="+", history_user=root)
    assert len(steps) == 4  # the bulk insert of the service, inside the admin's request


def test_an_admin_edit_of_an_agency_names_the_admin_and_its_history_page_shows_it(client, root):
    agency = Agency.objects.get(code="000.00.10.H01")
    client.force_login(root)
    url = reverse("admin:motcua_agency_change", args=[agency.pk])
    form = client.get(url).context["adminform"].form
    data = {name: (value if value is not None else "") for name, value in form.initial.items()}
    data.update({"name": "Sở Tư pháp (đổi tên)", "units-TOTAL_FORMS": 0, "units-INITIAL_FORMS": 0,
                 "units-MIN_NUM_FORMS": 0, "units-MAX_NUM_FORMS": 1000, "is_active": "on"})
    data["parent"] = data.get("parent") or ""
    response = client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    last = history_of(Agency, id=agency.pk)[-1]
    assert (last.history_type, last.name, last.history_user) == ("~", "Sở Tư pháp (đổi tên)", root)
    page = client.get(reverse("admin:motcua_agency_history", args=[agency.pk]))
    assert page.status_code == 200 and "Sở Tư pháp (đổi tên)" in page.content.decode()


def test_the_admin_history_cannot_revert(client, root, kiemsoat):
    procedure = procedure_create(data=procedure_data(), actor=kiemsoat)
    client.force_login(root)
    first = history_of(Procedure, id=procedure.pk)[0]
    url = reverse("admin:procedures_procedure_simple_history", args=[procedure.pk, first.history_id])
    page = client.get(url)
    assert page.status_code == 200 and 'name="_change_history"' not in page.content.decode()
    assert client.post(url, {"code": procedure.code, "_change_history": "1"}).status_code == 403
    history = client.get(reverse("admin:procedures_procedure_history", args=[procedure.pk]))
    assert history.status_code == 200


# ---------------------------------------------------------------------------------------------
# Accounts
# ---------------------------------------------------------------------------------------------


def test_a_login_is_not_a_change_but_deactivating_and_groups_are(client, root):
    user = UserFactory(username="canbo_x")
    created = len(history_of(type(user), id=user.pk))
    client.force_login(user)  # saves last_login only
    assert len(history_of(type(user), id=user.pk)) == created
    with history_actor(root):
        user.is_active = False
        user.save()
        user.groups.add(Group.objects.create(name="Kiểm soát"))
    rows = history_of(type(user), id=user.pk)[created:]
    assert rows[0].is_active is False and {r.history_user for r in rows} == {root}
    assert len(rows) == 2  # the flag, then the group
    assert not hasattr(rows[0], "password")


# ---------------------------------------------------------------------------------------------
# The staff page
# ---------------------------------------------------------------------------------------------


def test_only_admins_open_the_history_page(client, root, kiemsoat):
    leader = StaffRoleFactory(user=UserFactory(username="lanhdao"), role=Role.LEADER).user
    for user, status in ((kiemsoat, 403), (leader, 403), (root, 200)):
        client.force_login(user)
        assert client.get(HISTORY).status_code == status, user
        assert client.get(HISTORY + "xuat.xlsx").status_code == status, user
    client.logout()
    assert client.get(HISTORY).status_code == 302


def test_the_history_page_shows_who_changed_which_fields(client, root, kiemsoat):
    procedure = procedure_create(data=procedure_data(), actor=kiemsoat)
    procedure_set_active(procedure=procedure, active=False, actor=kiemsoat)
    client.force_login(root)
    html = client.get(HISTORY, {"what": "procedure"}).content.decode()
    assert "1.001193.000.00.00.H01" in html and "kiemsoat1" in html
    assert "<del>Có</del> → <ins>Không</ins>" in html  # đang áp dụng: yes → no


def test_the_history_page_filters_by_kind_person_action_and_days(client, root, kiemsoat):
    procedure_create(data=procedure_data(), actor=kiemsoat)
    CalendarDay.objects.create(date=timezone.localdate() + timedelta(days=30), kind="day_off",
                               note="Nghỉ thử")
    client.force_login(root)

    def shown(**params):
        return [c.key for c in client.get(HISTORY, params).context["page"].object_list]

    settings_rows = set(shown(what="settings"))
    assert "calendarday" in settings_rows and not settings_rows & {"procedure", "processstep"}
    assert "calendarday" not in shown(what="catalogue")
    assert set(shown(user="KIEMSOAT1")) >= {"procedure", "processstep"}
    assert "calendarday" not in shown(user="kiemsoat1")
    assert shown(user="nobody") == []
    assert set(shown(type="~")) == {"procedure"}
    tomorrow = (timezone.localdate() + timedelta(days=1)).isoformat()
    assert shown(since=tomorrow) == []
    assert len(shown(until=timezone.localdate().isoformat())) > 0


def test_the_history_page_pages_and_its_query_count_does_not_grow_with_rows(
    client, root, kiemsoat, django_assert_max_num_queries
):
    client.force_login(root)
    before = client.get(HISTORY).context["page"].paginator.count  # the organisation, the users
    for i in range(3):
        procedure_create(data=procedure_data(code=f"1.{100000 + i}.000.00.00.H01"), actor=kiemsoat)
    with django_assert_max_num_queries(20):
        page = client.get(HISTORY).context["page"]
    # Each: procedure (+, ~), version, fee, document, 4 steps; the field once.
    assert page.paginator.count == before + 3 * (2 + 1 + 1 + 1 + 4) + 1
    for i in range(15):
        procedure_create(data=procedure_data(code=f"1.{200000 + i}.000.00.00.H01"), actor=kiemsoat)
    with django_assert_max_num_queries(20):
        page = client.get(HISTORY, {"page": 2}).context["page"]
    assert page.number == 2 and len(page.object_list) == 50


def test_the_history_exports_to_xlsx_with_the_filters(client, root, kiemsoat):
    procedure = procedure_create(data=procedure_data(), actor=kiemsoat)
    procedure_set_active(procedure=procedure, active=False, actor=kiemsoat)
    client.force_login(root)
    response = client.get(HISTORY + "xuat.xlsx", {"what": "procedure"})
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.content)).active.iter_rows(values_only=True))
    assert rows[1][:3] == ("Thời điểm", "Người thay đổi", "Loại")
    assert [r[4] for r in rows[2:]] == ["Sửa", "Sửa", "Thêm"]
    assert "Không" in rows[2][5] and rows[2][1] == "Nguyễn Thị Lan"
