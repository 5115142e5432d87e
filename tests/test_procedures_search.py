"""Reads of the catalogue: search without diacritics, filters, one procedure, per-channel limits."""

from decimal import Decimal

import pytest

from procedures.models import Channel, Level, OnlineLevel, ProcedureVersion, TimeUnit
from procedures.selectors import procedure_get, procedure_search, procedure_time_limit
from procedures.services import procedure_create, procedure_set_active, procedure_update
from tests.factories import (
    CommuneFactory,
    DepartmentFactory,
    FieldFactory,
    ProcedureFactory,
    add_channel_limit,
    procedure_data,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalogue():
    """Three procedures: a construction permit (Sở Xây dựng), a birth registration (every
    commune) and a judicial record certificate (Công an tỉnh)."""
    xay_dung = DepartmentFactory(code="000.00.12.H01", name="Sở Xây dựng tỉnh An Giang",
                                 short_name="Sở Xây dựng", units=("QLXD", "Phòng Quản lý xây dựng"))
    cong_an = DepartmentFactory(code="000.00.14.H01", name="Công an tỉnh An Giang",
                                short_name="Công an tỉnh", units=("LLTP", "Phòng Lý lịch tư pháp"))
    commune = CommuneFactory(code="000.20.01.H01", name="Ủy ban nhân dân phường Long Xuyên")
    steps = [("Tiếp nhận", "MC", "clerk", 2), ("Xử lý", "QLXD", "officer", 22)]
    return {
        "permit": ProcedureFactory(
            code="1.013225.000.00.00.H01", name="Cấp giấy phép xây dựng mới đối với nhà ở riêng lẻ",
            agency=xay_dung, field=FieldFactory(code="XAYDUNG", name="Hoạt động xây dựng"),
            steps=steps,
        ),
        "birth": ProcedureFactory(
            code="1.001193.000.00.00.H01", name="Thủ tục đăng ký khai sinh", agency=None,
            level=Level.COMMUNE, field=FieldFactory(code="HOTICH", name="Hộ tịch"),
            steps=[("Tiếp nhận", "MC", "clerk", 2), ("Xử lý", "VHXH", "officer", 22)],
        ),
        "record": ProcedureFactory(
            code="3.000333.000.00.00.H01", name="Cấp Phiếu Lý lịch tư pháp", agency=cong_an,
            field=FieldFactory(code="LLTP", name="Lý lịch tư pháp"),
            steps=[("Tiếp nhận", "MC", "clerk", 2), ("Xử lý", "LLTP", "officer", 22)],
        ),
        "commune": commune,
    }


def codes(queryset) -> list[str]:
    return [v.procedure.code for v in queryset]


@pytest.mark.parametrize("query", [
    "giay phep xay dung",
    "Giấy phép xây dựng",
    "GIẤY PHÉP XÂY DỰNG",
    "  xây   DUNG  giấy ",
    "nha o rieng le",
])
def test_search_ignores_case_diacritics_and_word_order(catalogue, query):
    assert codes(procedure_search(q=query)) == ["1.013225.000.00.00.H01"]


def test_search_needs_every_word(catalogue):
    assert codes(procedure_search(q="giay phep khai sinh")) == []


def test_search_matches_code_field_and_agency(catalogue):
    assert codes(procedure_search(q="1.001193")) == ["1.001193.000.00.00.H01"]
    assert codes(procedure_search(q="ho tich")) == ["1.001193.000.00.00.H01"]
    assert codes(procedure_search(q="cong an tinh")) == ["3.000333.000.00.00.H01"]


def test_search_treats_like_wildcards_as_plain_text(catalogue):
    assert codes(procedure_search(q="%")) == []
    assert codes(procedure_search(q="_")) == []


def test_empty_search_lists_the_active_catalogue_by_code(catalogue):
    assert codes(procedure_search()) == [
        "1.001193.000.00.00.H01", "1.013225.000.00.00.H01", "3.000333.000.00.00.H01",
    ]


def test_filters_by_field_agency_and_level(catalogue):
    assert codes(procedure_search(field="LLTP")) == ["3.000333.000.00.00.H01"]
    assert codes(procedure_search(field=FieldFactory(code="HOTICH"))) == ["1.001193.000.00.00.H01"]
    assert codes(procedure_search(agency="000.00.12.H01")) == ["1.013225.000.00.00.H01"]
    assert codes(procedure_search(level=Level.COMMUNE)) == ["1.001193.000.00.00.H01"]
    assert codes(procedure_search(agency="000.99.99.H99")) == []


def test_a_commune_also_lists_the_procedures_every_commune_performs(catalogue):
    assert codes(procedure_search(agency=catalogue["commune"])) == ["1.001193.000.00.00.H01"]


def test_inactive_procedures_are_hidden_unless_asked_for(catalogue):
    procedure_set_active(procedure=catalogue["record"], active=False, actor=None)

    assert "3.000333.000.00.00.H01" not in codes(procedure_search())
    assert "3.000333.000.00.00.H01" in codes(procedure_search(active_only=False))


def test_search_lists_only_the_current_version(monkeypatch):
    DepartmentFactory()
    procedure = procedure_create(data=procedure_data(name="Tên cũ"), actor=None)
    monkeypatch.setattr(ProcedureVersion, "is_in_use", lambda self: True)
    procedure_update(procedure=procedure, data=procedure_data(name="Tên mới"), actor=None)

    found = list(procedure_search(q="ten"))
    assert [(v.number, v.name) for v in found] == [(2, "Tên mới")]
    assert list(procedure_search(q="ten cu")) == []


def test_procedure_get_prefetches_everything(catalogue, django_assert_num_queries):
    add_channel_limit(catalogue["permit"].current_version)

    with django_assert_num_queries(5):  # the version + fees, documents, limits, steps
        version = procedure_get(code="1.013225.000.00.00.H01")
    with django_assert_num_queries(0):
        assert version.procedure.code == "1.013225.000.00.00.H01"
        assert version.field.name == "Hoạt động xây dựng"
        assert version.agency.code == "000.00.12.H01"
        assert [s.agency for s in version.steps.all()] == [None, None]
        assert len(version.fees.all()) == len(version.documents.all()) == 1
        assert procedure_time_limit(version=version, channel=Channel.ONLINE) == (Decimal(2), "working_days")


def test_procedure_get_raises_for_an_unknown_code(catalogue):
    with pytest.raises(ProcedureVersion.DoesNotExist):
        procedure_get(code="9.999999.000.00.00.H01")


def test_time_limit_per_channel_falls_back_to_the_general_limit():
    version = ProcedureFactory(
        version__accepts_post=True, version__online_level=OnlineLevel.PARTIAL,
    ).current_version
    add_channel_limit(version, channel=Channel.POST, amount=Decimal(20), unit=TimeUnit.CALENDAR_DAYS)

    assert procedure_time_limit(version=version, channel=Channel.POST) == (Decimal(20), "calendar_days")
    assert procedure_time_limit(version=version, channel=Channel.ONLINE) == (Decimal(3), "working_days")
    assert procedure_time_limit(version=version, channel=Channel.IN_PERSON) == (Decimal(3), "working_days")
    assert procedure_time_limit(version=version) == (Decimal(3), "working_days")
