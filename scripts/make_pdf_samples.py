#!/usr/bin/env python
"""Makes docs/samples/: one PDF of each official form and a PNG of its first page.

    .venv/bin/python scripts/make_pdf_samples.py [--out docs/samples] [--dpi 100]

Works in a throwaway test database (Django's test-database machinery: the configured
PostgreSQL's ``test_…`` database, or an in-memory SQLite without DATABASE_URL), so it never
touches real data. Builds a small province (Sở Xây dựng and a ward's people's committee with
their one-stop desks, officers and leaders), then walks dossiers through the services with the
clock frozen at chosen moments (time-machine), so that every sample shows realistic hours,
a send-back, a supplement and a late step. Needs ``pdftoppm`` (poppler-utils) for the PNGs.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "motcua.settings")
# The QR code and the tracking line print this address (not the development server's).
os.environ.setdefault("MOTCUA_PUBLIC_BASE_URL", "https://motcua.angiang.example.vn")

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
KINDS = ["receipt", "supplement", "refusal", "apology", "stop-notice", "control-sheet"]


def at(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A moment of November–December 2025 in the province's time zone."""
    return datetime(2025, month, day, hour, minute, tzinfo=TZ)


class Org:
    """The sample organisation (attributes: agencies, units, people)."""


def build_org() -> Org:
    from django.contrib.auth import get_user_model

    from motcua.models import Agency, Role, StaffRole, Unit

    user_model = get_user_model()
    org = Org()
    org.province = Agency.objects.create(
        code="000.00.00.H01", name="Ủy ban nhân dân tỉnh An Giang", short_name="UBND tỉnh",
        kind=Agency.Kind.PROVINCE,
    )
    org.dept = Agency.objects.create(
        code="000.00.12.H01", name="Sở Xây dựng tỉnh An Giang", short_name="Sở Xây dựng",
        kind=Agency.Kind.DEPARTMENT, parent=org.province,
        address="Số 2 Lê Triệu Kiết, phường Long Xuyên, tỉnh An Giang", phone="0296 3 852 000",
    )
    org.ward = Agency.objects.create(
        code="000.20.01.H01", name="Ủy ban nhân dân phường Long Xuyên",
        short_name="UBND P. Long Xuyên", kind=Agency.Kind.COMMUNE, parent=org.province,
        address="Số 10 Nguyễn Huệ, phường Long Xuyên, tỉnh An Giang", phone="0296 3 841 000",
    )
    units = {}
    for agency, rows in (
        (org.dept, [("MC", "Bộ phận tiếp nhận và trả kết quả", True),
                    ("QLXD", "Phòng Quản lý hoạt động xây dựng", False),
                    ("LD", "Ban Giám đốc", False)]),
        (org.ward, [("MC", "Bộ phận Một cửa", True),
                    ("VHXH", "Phòng Văn hóa - Xã hội", False),
                    ("LD", "Lãnh đạo UBND phường", False)]),
    ):
        for code, name, reception in rows:
            units[(agency.code, code)] = Unit.objects.create(
                agency=agency, code=code, name=name, is_reception=reception
            )
    org.units = units

    def person(username, family, given, unit, role, title=""):
        user = user_model.objects.create(username=username, last_name=family, first_name=given)
        StaffRole.objects.create(user=user, unit=unit, role=role, title=title)
        return user

    d, w = org.dept.code, org.ward.code
    org.clerk = person("mai.tt", "Trần Thị", "Mai", units[(d, "MC")], Role.CLERK)
    org.officer = person("hung.lv", "Lê Văn", "Hùng", units[(d, "QLXD")], Role.OFFICER)
    org.officer2 = person("thao.pt", "Phạm Thu", "Thảo", units[(d, "QLXD")], Role.OFFICER)
    org.leader = person("phuc.nh", "Nguyễn Hoàng", "Phúc", units[(d, "LD")], Role.LEADER,
                        "Phó Giám đốc")
    org.ward_clerk = person("lan.nt", "Nguyễn Thị", "Lan", units[(w, "MC")], Role.CLERK)
    return org


def build_procedures(org: Org):
    from django.utils import timezone

    from motcua.models import Role
    from procedures.models import (
        Field,
        Procedure,
        ProcedureVersion,
        ProcessStep,
        RequiredDocument,
    )

    def make(*, code, name, agency, level, field, amount, steps, documents, online=False):
        procedure = Procedure.objects.create(code=code, is_active=True)
        version = ProcedureVersion.objects.create(
            procedure=procedure, number=1, effective_from=timezone.now(), name=name,
            field=field, level=level, agency=agency, time_limit_amount=Decimal(amount),
            time_limit_unit="working_days", accepts_in_person=True, accepts_online=online,
        )
        for position, (step_name, unit_code, role, hours) in enumerate(steps, start=1):
            ProcessStep.objects.create(
                version=version, position=position, name=step_name, unit_code=unit_code,
                role=role, hours=Decimal(hours),
            )
        for position, (doc_name, originals, copies, mandatory) in enumerate(documents, start=1):
            RequiredDocument.objects.create(
                version=version, position=position, name=doc_name, originals=originals,
                copies=copies, is_mandatory=mandatory,
            )
        procedure.current_version = version
        procedure.save(update_fields=["current_version"])
        return version

    building = Field.objects.create(code="HDXD", name="Hoạt động xây dựng")
    civil = Field.objects.create(code="HOTICH", name="Hộ tịch")
    architect = make(
        code="1.008891.000.00.00.H01", name="Cấp chứng chỉ hành nghề kiến trúc",
        agency=org.dept, level="province", field=building, amount=10,
        steps=[("Tiếp nhận hồ sơ", "MC", Role.CLERK, 4),
               ("Thẩm định hồ sơ", "QLXD", Role.OFFICER, 48),
               ("Dự thảo chứng chỉ", "QLXD", Role.OFFICER, 12),
               ("Phê duyệt, ký chứng chỉ", "LD", Role.LEADER, 12),
               ("Trả kết quả", "MC", Role.CLERK, 4)],
        documents=[
            ("Đơn đề nghị cấp chứng chỉ hành nghề kiến trúc theo mẫu", 1, 0, True),
            ("02 ảnh màu nền trắng cỡ 4 x 6 cm được chụp không quá 06 tháng", 2, 0, True),
            ("Bản sao văn bằng được đào tạo liên quan đến lĩnh vực hành nghề", 0, 1, True),
            ("Giấy xác nhận kinh nghiệm hành nghề kiến trúc", 1, 0, True),
            ("Giấy chứng nhận kết quả sát hạch (nếu có)", 0, 1, False),
        ],
    )
    birth = make(
        code="1.001193.000.00.00.H01", name="Thủ tục đăng ký khai sinh", agency=org.ward,
        level="commune", field=civil, amount=1, online=True,
        steps=[("Tiếp nhận hồ sơ", "MC", Role.CLERK, 1),
               ("Thẩm định, xử lý hồ sơ", "VHXH", Role.OFFICER, 4),
               ("Phê duyệt", "LD", Role.LEADER, 2),
               ("Trả kết quả", "MC", Role.CLERK, 1)],
        documents=[("Tờ khai đăng ký khai sinh theo mẫu", 1, 0, True),
                   ("Giấy chứng sinh", 1, 0, True)],
    )
    return architect, birth


APPLICANT = {
    "name": "Nguyễn Thị Hồng Nhung",
    "id_number": "089185001234",
    "phone": "0912345678",
    "email": "hongnhung.nguyen@example.vn",
    "address": "Số 15 đường Trần Hưng Đạo, khóm Đông Thịnh 6, phường Long Xuyên, tỉnh An Giang",
}


def build_dossiers(org: Org, architect, birth) -> dict:
    """One dossier per form, each brought to its state through the services."""
    import time_machine

    from dossiers.services import dossier_receive_at_desk, dossier_submit_online
    from dossiers.services import dossier_transition as act

    def travel(moment):
        return time_machine.travel(moment, tick=False)

    def receive(moment, applicant=APPLICANT):
        with travel(moment):
            return dossier_receive_at_desk(
                procedure_version=architect, channel="in_person", applicant=applicant,
                actor=org.clerk,
            )

    def step(dossier, moment, transition, actor, **kw):
        with travel(moment):
            return act(dossier=dossier, transition=transition, actor=actor, **kw)

    out = {}
    out["receipt"] = receive(at(24, 9, 15))

    d = receive(at(24, 10, 5), {**APPLICANT, "name": "Lê Minh Khoa", "id_number": "089090004567",
                                 "phone": "0987654321", "email": ""})
    d = step(d, at(24, 14, 0), "start", org.clerk)
    d = step(d, at(26, 9, 30), "request_supplement", org.officer,
             missing_documents=[
                 "Giấy xác nhận kinh nghiệm hành nghề kiến trúc có xác nhận của tổ chức nơi "
                 "Ông/Bà đã làm việc (bản chính)",
                 "Bản sao có chứng thực văn bằng tốt nghiệp đại học chuyên ngành kiến trúc",
             ],
             reasons=["Giấy xác nhận kinh nghiệm đã nộp không có chữ ký, đóng dấu của tổ chức "
                      "xác nhận; thời gian kinh nghiệm kê khai chưa đủ 03 năm."])
    out["supplement"] = d

    with travel(at(24, 16, 40)):
        online = dossier_submit_online(
            procedure_version=birth, agency=org.ward,
            applicant={"name": "Võ Thanh Tâm", "id_number": "089095007890", "phone": "0905123456",
                       "address": "Tổ 12, khóm Bình Khánh 3, phường Long Xuyên, tỉnh An Giang"},
        )
    out["refusal"] = step(online, at(25, 8, 10), "refuse", org.ward_clerk, reasons=[
        "Trẻ được sinh tại phường Mỹ Thới; việc đăng ký khai sinh thuộc thẩm quyền của Ủy ban "
        "nhân dân nơi cư trú của cha hoặc mẹ, hồ sơ chưa có giấy tờ chứng minh nơi cư trú.",
        "Giấy chứng sinh đính kèm bị mờ, không đọc được họ tên người mẹ.",
    ])

    d = receive(at(10, 8, 0, month=11), {**APPLICANT, "name": "Đặng Quốc Bảo",
                                          "id_number": "089088002468", "phone": "0934567890",
                                          "email": "quocbao@example.vn"})
    d = step(d, at(10, 9, 0, month=11), "start", org.officer)
    out["apology"] = d

    d = receive(at(3, 9, 0, month=11), {**APPLICANT, "name": "Huỳnh Thị Kim Ngân",
                                         "id_number": "089192003579", "phone": "0968123123"})
    d = step(d, at(3, 10, 0, month=11), "start", org.clerk)
    d = step(d, at(5, 15, 0, month=11), "request_supplement", org.officer,
             missing_documents=["Bản sao văn bằng được đào tạo có chứng thực"])
    d = step(d, at(24, 15, 30), "stop", org.leader,
             legal_basis="Nghị định số 118/2025/NĐ-CP ngày 09 tháng 6 năm 2025 của Chính phủ về "
                         "thực hiện thủ tục hành chính theo cơ chế một cửa, một cửa liên thông "
                         "tại Bộ phận Một cửa và Cổng Dịch vụ công quốc gia",
             comment="Đã quá thời hạn bổ sung, hoàn thiện hồ sơ ghi trên Phiếu yêu cầu bổ sung, "
                     "hoàn thiện hồ sơ ngày 05/11/2025 nhưng Ông/Bà chưa bổ sung hồ sơ theo yêu "
                     "cầu.")
    out["stop-notice"] = d

    d = receive(at(10, 8, 20, month=11), {**APPLICANT, "name": "Trương Văn Lộc",
                                           "id_number": "089087001122", "phone": "0977001122"})
    d = step(d, at(10, 9, 5, month=11), "start", org.clerk)
    d = step(d, at(12, 10, 0, month=11), "request_supplement", org.officer,
             missing_documents=["Giấy xác nhận kinh nghiệm hành nghề kiến trúc (bản chính)"])
    d = step(d, at(14, 8, 45, month=11), "supplement", org.clerk,
             documents=["Giấy xác nhận kinh nghiệm hành nghề kiến trúc (bản chính)"])
    d = step(d, at(20, 16, 30, month=11), "forward", org.officer,
             comment="Hồ sơ đủ điều kiện, đề nghị dự thảo chứng chỉ.")
    d = step(d, at(21, 11, 0, month=11), "submit_for_approval", org.officer2)
    d = step(d, at(21, 15, 0, month=11), "send_back", org.leader,
             comment="Kiểm tra lại hạng chứng chỉ đề nghị cấp.")
    d = step(d, at(24, 10, 0), "submit_for_approval", org.officer2)
    d = step(d, at(24, 15, 30), "approve", org.leader)
    d = step(d, at(25, 8, 15), "return_result", org.clerk)
    out["control-sheet"] = d
    return out


def render_all(out_dir: Path, dpi: int) -> list[Path]:
    import time_machine
    from django.contrib.auth.models import AnonymousUser  # noqa: F401

    from dossiers.documents import render_dossier_document
    from dossiers.selectors import dossier_get

    org = build_org()
    architect, birth = build_procedures(org)
    dossiers = build_dossiers(org, architect, birth)
    root = _superuser()
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for kind in KINDS:
        dossier = dossier_get(code=dossiers[kind].code, user=root)
        options = {}
        moment = at(24, 16, 0)
        if kind == "apology":
            from motcua.calendar import deadline

            # Predicted late: the appointment is Monday 24/11 08:00 and the dossier is still
            # at its appraisal step on Friday afternoon. Extension: the time limit again.
            moment = at(21, 15, 0)
            options = {
                "at_fault_unit_or_step": dossier.current_step,
                "new_due_at": deadline(dossier.due_at, 10, "working_days"),
                "reason": "hồ sơ cần xác minh thông tin văn bằng với cơ sở đào tạo nhưng cơ sở "
                          "đào tạo chưa có văn bản trả lời",
                "issued_at": moment,
                "signer": org.leader,
            }
        elif kind == "control-sheet":
            options = {"printed_at": at(25, 9, 0)}
        with time_machine.travel(moment, tick=False):
            pdf = render_dossier_document(dossier=dossier, kind=kind, **options)
        path = out_dir / f"{kind}.pdf"
        path.write_bytes(pdf)
        png_base = out_dir / kind
        subprocess.run(
            ["pdftoppm", "-r", str(dpi), "-png", "-f", "1", "-l", "1", "-singlefile",
             str(path), str(png_base)],
            check=True,
        )
        png = png_base.with_suffix(".png")
        _to_grey(png)
        written += [path, png]
    return written


def _to_grey(png: Path) -> None:
    """The forms are black on white: a grey-scale PNG is a third of the size."""
    from PIL import Image

    with Image.open(png) as image:
        grey = image.convert("L")
    grey.save(png, optimize=True)


def _superuser():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create(username="samples-root", is_superuser=True)


def main() -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "samples"))
    parser.add_argument("--dpi", type=int, default=100)
    args = parser.parse_args()

    with throwaway_database():
        for path in render_all(Path(args.out), args.dpi):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


class throwaway_database:
    """A fresh test database for the duration of the block (migrated, then destroyed)."""

    def __enter__(self):
        import django

        django.setup()
        from motcua.celery import app

        # Events are published on commit: run that inline rather than look for a broker,
        # and keep the publisher's log lines out of the output.
        app.conf.task_always_eager = True
        logging.disable(logging.WARNING)
        from django.db import connection
        from django.test.utils import setup_test_environment

        setup_test_environment()
        suffix = f"samples_{os.getpid()}"
        test = connection.settings_dict.setdefault("TEST", {})
        test["NAME"] = (
            None if connection.vendor == "sqlite" else f"test_{connection.settings_dict['NAME']}_{suffix}"
        )
        self.old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
        return self

    def __exit__(self, *exc):
        from django.db import connection

        connection.creation.destroy_test_db(self.old_name, verbosity=0)
        return False


if __name__ == "__main__":
    sys.exit(main())
