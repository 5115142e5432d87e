"""The demo catalogue: 33 real procedures, curated, seeded through the services, idempotent."""

import json
import re
from decimal import Decimal

import pytest

from motcua.demo import seed_organisation
from procedures.demo import DATA_FILE, is_mandatory, parse_copies, record_to_data, seed_catalogue
from procedures.models import Level, Procedure, ProcedureVersion, ProcessStep, TimeUnit
from procedures.selectors import procedure_get, procedure_search
from procedures.services import procedure_to_data
from procedures.validation import procedure_validate

pytestmark = pytest.mark.django_db

SAMPLE_CODES = [record["code"] for record in json.loads(DATA_FILE.read_text(encoding="utf-8"))]


@pytest.fixture
def seeded():
    seed_organisation()
    return seed_catalogue()


def test_the_seed_loads_every_real_procedure_with_its_long_national_code(seeded):
    codes = set(Procedure.objects.values_list("code", flat=True))

    assert seeded == len(SAMPLE_CODES) == 33
    assert codes == {f"{code}.000.00.00.H01" for code in SAMPLE_CODES}
    assert all(re.fullmatch(r"\d\.\d{6}\.000\.00\.00\.H01", code) for code in codes)


def test_the_seeded_procedures_cover_the_demo_main_fields(seeded):
    names = {
        "business registration": "2.001610",   # Đăng ký thành lập doanh nghiệp tư nhân
        "household business": "1.001612",      # Đăng ký thành lập hộ kinh doanh
        "construction permit": "1.013225",     # Cấp giấy phép xây dựng
        "birth registration": "1.001193",      # Đăng ký khai sinh
        "land-use certificate": "1.013978",    # Cấp GCN quyền sử dụng đất lần đầu
        "judicial record": "3.000333",         # Cấp Phiếu Lý lịch tư pháp
    }
    levels = {}
    for code in names.values():
        version = procedure_get(code=f"{code}.000.00.00.H01")
        levels[code] = version.level
    assert set(levels.values()) == {Level.PROVINCE, Level.COMMUNE}
    assert [v.procedure.code for v in procedure_search(q="giay phep xay dung")] == [
        "1.013225.000.00.00.H01"
    ]


def test_seeding_twice_changes_nothing(seeded):
    before = list(ProcedureVersion.objects.order_by("pk").values_list(
        "pk", "procedure__code", "number", "search_text"))
    steps_before = list(ProcessStep.objects.order_by("pk").values_list("pk", flat=True))

    assert seed_catalogue() == 33

    after = list(ProcedureVersion.objects.order_by("pk").values_list(
        "pk", "procedure__code", "number", "search_text"))
    assert after == before
    assert list(ProcessStep.objects.order_by("pk").values_list("pk", flat=True)) == steps_before
    assert Procedure.objects.count() == 33


def test_every_seeded_procedure_passes_the_catalogue_rules(seeded):
    for version in procedure_search(with_details=True):
        procedure_validate(procedure_to_data(version))
        total = sum(step.hours for step in version.steps.all())
        if version.time_limit_amount == 0:
            assert total <= 8
        else:
            assert total == version.time_limit_hours, version.procedure.code


def test_the_seed_has_an_inter_agency_procedure_with_steps_in_two_agencies(seeded):
    version = procedure_get(code="1.013978.000.00.00.H01")

    assert version.is_inter_agency
    assert version.level == Level.COMMUNE and version.agency is None
    assert [(s.agency.code if s.agency else "", s.unit_code) for s in version.steps.all()] == [
        ("", "MC"), ("", "KT"), ("000.00.13.H01", "VPDKDD"), ("", "LD"), ("", "MC"),
    ]


def test_the_seed_fixes_the_known_defects_of_the_sample(seeded):
    assert [f.amount_vnd for f in procedure_get(code="2.001610.000.00.00.H01").fees.all()] == \
        [100000, 100000]
    for code in ("3.000347", "3.000353"):
        assert [f.amount_vnd for f in procedure_get(code=f"{code}.000.00.00.H01").fees.all()] == [135000]
    # A unit-less limit becomes working days; "trong ngày" procedures get a limit of 0.
    birth = procedure_get(code="1.001193.000.00.00.H01")
    assert (birth.time_limit_amount, birth.time_limit_unit) == (Decimal(1), TimeUnit.WORKING_DAYS)
    copy = procedure_get(code="2.000815.000.00.00.H01")
    assert copy.time_limit_amount == 0
    # The crawl's summary line is not a document.
    permit = procedure_get(code="1.013225.000.00.00.H01")
    assert not any(d.name.startswith("(và") for d in permit.documents.all())
    assert "6 giấy tờ khác" in permit.requirements


def test_the_seed_keeps_different_limits_per_channel(seeded):
    version = procedure_get(code="1.013978.000.00.00.H01")
    assert (version.time_limit_amount, version.time_limit_unit) == (Decimal(27), "working_days")
    assert {(t.channel, t.amount) for t in version.time_limits.all()} == {
        ("online", Decimal(17)), ("post", Decimal(20)),
    }


def test_the_seed_maps_ministry_level_procedures_to_the_province_police(seeded):
    version = procedure_get(code="3.000347.000.00.00.H01")
    assert (version.level, version.agency.code) == (Level.PROVINCE, "000.00.14.H01")


def test_the_seed_reports_its_progress():
    seed_organisation()
    messages = []
    seed_catalogue(progress=messages.append)
    assert messages == [f"đã nạp {n}/33 thủ tục" for n in (10, 20, 30, 33)]


@pytest.mark.parametrize("text, expected", [
    ("1 bản chính", (1, 0)),
    ("1 bản sao", (0, 1)),
    ("1 bản chính, 1 bản sao", (1, 1)),
    ("2 bản chính", (2, 0)),
])
def test_copies_are_read_from_the_sample_text(text, expected):
    assert parse_copies(text) == expected


@pytest.mark.parametrize("name, mandatory", [
    ("Giấy chứng sinh", True),
    ("Trường hợp trẻ em bị bỏ rơi thì phải có biên bản …", False),
    ("Văn bản ủy quyền (nếu có)", False),
    ("Đối với hồ sơ đề nghị cấp giấy phép xây dựng công trình tín ngưỡng …", False),
])
def test_documents_for_some_cases_only_are_not_mandatory(name, mandatory):
    assert is_mandatory(name) is mandatory


def test_every_sample_record_has_a_curation():
    records = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    for record in records:
        data = record_to_data(record)
        assert data.code.startswith(record["code"])
        assert data.steps
