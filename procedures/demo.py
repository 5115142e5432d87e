"""The demo catalogue: the 33 real procedures of ``procedures/data/procedures-sample.json``, fitted
to the demo province of `motcua.demo` (An Giang, two tiers) and given an internal process.

Every fix of the crawled data and every mapping decision is listed, with its reason, in
``docs/catalogue.md`` ("The demo catalogue"); `CURATION` below is the same list in code. The seed
goes through `procedures.services` like every other way in, so it is idempotent: a second run
finds the same content and writes nothing.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from django.db import transaction

from motcua.demo import PROVINCE_CODE
from motcua.text import fold
from procedures.models import Channel, Level, OnlineLevel, Procedure, TimeUnit
from procedures.schema import DocumentData, FeeData, ProcedureData, StepData, TimeLimitData
from procedures.services import procedure_create, procedure_update

DATA_FILE = Path(__file__).resolve().parent / "data" / "procedures-sample.json"
#: The long code of a procedure in this province's catalogue: <national code>.<suffix>.
CODE_SUFFIX = PROVINCE_CODE  # 000.00.00.H01
#: The seeded versions take effect with the two-tier local government (1 July 2025), so demo
#: dossiers received since then have a version to belong to.
EFFECTIVE_FROM = datetime(2025, 7, 1, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))

# Demo agencies (motcua.demo.AGENCIES).
TAI_CHINH = "000.00.11.H01"
XAY_DUNG = "000.00.12.H01"
NONG_NGHIEP_MOI_TRUONG = "000.00.13.H01"
CONG_AN = "000.00.14.H01"
COMMUNES = ""  # empty agency + commune level: every UBND xã, phường, đặc khu
COMMUNE_AGENCY_TEXT = "Ủy ban nhân dân xã, phường, đặc khu"

#: The portal's fields carry no code in the sample: these are the demo's own short codes.
FIELD_CODES = {
    "Hộ tịch": "HOTICH",
    "Chứng thực": "CHUNGTHUC",
    "Lý lịch tư pháp": "LLTP",
    "Đăng ký, quản lý cư trú": "CUTRU",
    "Cấp, quản lý căn cước": "CANCUOC",
    "Quản lý xuất nhập cảnh": "XNC",
    "Sát hạch, cấp giấy phép lái xe": "GPLX",
    "Đăng ký, quản lý phương tiện giao thông cơ giới, xe máy chuyên dùng": "DANGKYXE",
    "Thành lập và hoạt động doanh nghiệp (hộ kinh doanh)": "HKD",
    "Thành lập và hoạt động của doanh nghiệp": "DOANHNGHIEP",
    "Hoạt động xây dựng": "XAYDUNG",
    "Kiến trúc": "KIENTRUC",
    "Đất đai": "DATDAI",
    "Cấp sổ BHXH, thẻ BHYT": "SOBHXH",
    "Thực hiện chính sách BHXH": "CSBHXH",
}

_D = Decimal

# One entry per national code. Keys:
#   level, agency, unit: where the procedure is done in the demo province and its specialist unit;
#   limit: (amount, unit) where the sample has no unit or no amount;
#   online: online level where the sample has none (default: "partial" if online submission is
#           accepted, else "none");
#   fees / result / documents_extra: replacements for defects of the crawl;
#   steps: an internal process other than the standard four steps;
#   inter_agency: liên thông.
CURATION: dict[str, dict] = {
    # Hộ tịch (civil status), commune level, Phòng Văn hóa - Xã hội.
    "1.001193": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "VHXH",
                 "limit": (_D(1), TimeUnit.WORKING_DAYS), "online": OnlineLevel.FULL},
    "1.000894": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "VHXH",
                 "limit": (_D(1), TimeUnit.WORKING_DAYS)},
    "1.000656": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "VHXH",
                 "limit": (_D(1), TimeUnit.WORKING_DAYS), "online": OnlineLevel.FULL},
    "1.004873": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "VHXH",
                 "limit": (_D(3), TimeUnit.WORKING_DAYS)},
    "2.000806": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "VHXH",
                 "limit": (_D(5), TimeUnit.WORKING_DAYS)},
    "2.000635": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "VHXH",
                 "limit": (_D(0), TimeUnit.WORKING_DAYS), "online": OnlineLevel.FULL},
    "2.000986": {
        "level": Level.COMMUNE, "agency": COMMUNES, "unit": "VHXH",
        "limit": (_D(20), TimeUnit.WORKING_DAYS), "inter_agency": True,
        "result": "Giấy khai sinh; thông tin đăng ký thường trú được cập nhật; thẻ bảo hiểm y tế "
                  "của trẻ em dưới 6 tuổi",
        "steps": [
            ("Tiếp nhận hồ sơ", "", "MC", "clerk", 4),
            ("Đăng ký khai sinh", "", "VHXH", "officer", 8),
            ("Ký Giấy khai sinh", "", "LD", "leader", 4),
            ("Liên thông đăng ký thường trú (Công an xã), cấp thẻ BHYT (Bảo hiểm xã hội); "
             "theo dõi, nhận kết quả", "", "VHXH", "officer", 132),
            ("Trả kết quả", "", "MC", "clerk", 12),
        ],
    },
    # Chứng thực (certification), commune level.
    "2.000815": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "VHXH",
                 "limit": (_D(0), TimeUnit.WORKING_DAYS), "drop_fees_without_amount": True},
    "2.000884": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "VHXH",
                 "limit": (_D(0), TimeUnit.WORKING_DAYS), "drop_fees_without_amount": True},
    "2.000913": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "VHXH",
                 "limit": (_D(2), TimeUnit.WORKING_DAYS)},
    # Lý lịch tư pháp: Công an tỉnh since 1 July 2025.
    "3.000333": {"level": Level.PROVINCE, "agency": CONG_AN, "unit": "LLTP",
                 "online": OnlineLevel.FULL,
                 "fees": [FeeData(
                     name="Phí cung cấp thông tin lý lịch tư pháp", amount_vnd=200000,
                     description="200.000 đồng/lần/người; sinh viên, người có công với cách mạng, "
                                 "thân nhân liệt sĩ: 100.000 đồng/lần/người; các trường hợp miễn "
                                 "phí theo Thông tư số 244/2016/TT-BTC.",
                 )]},
    # Cư trú: Công an xã, received at the commune's one-stop desk.
    "1.004222": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "VHXH",
                 "online": OnlineLevel.FULL},
    "1.004194": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "VHXH",
                 "online": OnlineLevel.FULL,
                 "result": "Thông tin về nơi tạm trú được cập nhật vào Cơ sở dữ liệu về cư trú "
                           "(hoặc văn bản từ chối, nêu rõ lý do)"},
    # "Cấp bộ" police procedures, done by the province's police as the province does locally.
    "1.001247": {"level": Level.PROVINCE, "agency": CONG_AN, "unit": "QLXNC"},
    "1.000757": {"level": Level.PROVINCE, "agency": CONG_AN, "unit": "QLXNC"},
    "1.001456": {"level": Level.PROVINCE, "agency": CONG_AN, "unit": "QLXNC"},
    "3.000347": {"level": Level.PROVINCE, "agency": CONG_AN, "unit": "QLXNC",
                 "fees": [FeeData(
                     name="Lệ phí cấp giấy phép lái xe (Trực tuyến, Trực tiếp)", amount_vnd=135000,
                     description="135.000 đồng/lần (từ 01/12/2023 đến hết 31/12/2025 nộp trực "
                                 "tuyến: 115.000 đồng/lần).",
                 )]},
    "3.000353": {"level": Level.PROVINCE, "agency": CONG_AN, "unit": "QLXNC",
                 "fees": [FeeData(
                     name="Lệ phí cấp giấy phép lái xe quốc tế (Trực tuyến, Trực tiếp)",
                     amount_vnd=135000,
                     description="135.000 đồng/lần (từ 01/12/2023 đến hết 31/12/2025 nộp trực "
                                 "tuyến: 115.000 đồng/lần).",
                 )]},
    "1.012575": {"level": Level.PROVINCE, "agency": CONG_AN, "unit": "QLXNC",
                 "online": OnlineLevel.FULL},
    # Hộ kinh doanh: commune level since 1 July 2025, Phòng Kinh tế.
    "1.001612": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "KT",
                 "result": "Giấy chứng nhận đăng ký hộ kinh doanh (hoặc thông báo bằng văn bản "
                           "nội dung cần sửa đổi, bổ sung)"},
    "2.000720": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "KT"},
    "1.001570": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "KT"},
    # Doanh nghiệp: Sở Tài chính (Phòng Đăng ký kinh doanh).
    "2.001610": {"level": Level.PROVINCE, "agency": TAI_CHINH, "unit": "DKKD",
                 "fee_amounts": {0: 100000}},
    # Xây dựng.
    "1.013225": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "KT"},
    "1.008891": {"level": Level.PROVINCE, "agency": XAY_DUNG, "unit": "KT"},
    # Đất đai.
    "1.012753": {"level": Level.PROVINCE, "agency": NONG_NGHIEP_MOI_TRUONG, "unit": "QLDD"},
    "1.013978": {
        "level": Level.COMMUNE, "agency": COMMUNES, "unit": "KT", "inter_agency": True,
        "steps": [
            ("Tiếp nhận hồ sơ", "", "MC", "clerk", 4),
            ("Kiểm tra hồ sơ, xác nhận hiện trạng, niêm yết công khai", "", "KT", "officer", 80),
            ("Trích lục, trích đo bản đồ địa chính; kiểm tra, cập nhật hồ sơ địa chính",
             NONG_NGHIEP_MOI_TRUONG, "VPDKDD", "officer", 96),
            ("Phê duyệt, ký Giấy chứng nhận", "", "LD", "leader", 24),
            ("Trả kết quả", "", "MC", "clerk", 12),
        ],
    },
    "1.012783": {"level": Level.PROVINCE, "agency": NONG_NGHIEP_MOI_TRUONG, "unit": "VPDKDD"},
    "1.012784": {"level": Level.PROVINCE, "agency": NONG_NGHIEP_MOI_TRUONG, "unit": "VPDKDD"},
    "1.012787": {"level": Level.PROVINCE, "agency": NONG_NGHIEP_MOI_TRUONG, "unit": "VPDKDD"},
    "1.013992": {"level": Level.PROVINCE, "agency": NONG_NGHIEP_MOI_TRUONG, "unit": "VPDKDD"},
    # Bảo hiểm xã hội: received at the commune's desk; BHXH is outside the demo organisation.
    "1.002759": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "VHXH",
                 "documents_extra": [DocumentData(
                     name="Tờ khai tham gia, điều chỉnh thông tin bảo hiểm xã hội, bảo hiểm y tế "
                          "(Mẫu TK1-TS)", originals=1, copies=0, template_name="Mẫu TK1-TS",
                 )]},
    "2.000693": {"level": Level.COMMUNE, "agency": COMMUNES, "unit": "VHXH"},
}

#: A limit of 0 ("trong ngày"): the steps share half a working day, so that a dossier received
#: in the morning is done the same day.
SAME_DAY_STEP_HOURS = _D(4)

_CHANNEL_NAMES = {
    "Trực tiếp": Channel.IN_PERSON,
    "Trực tuyến": Channel.ONLINE,
    "Dịch vụ bưu chính": Channel.POST,
}
_UNIT_NAMES = {
    "ngày làm việc": TimeUnit.WORKING_DAYS,
    "ngày": TimeUnit.CALENDAR_DAYS,
    "giờ làm việc": TimeUnit.WORKING_HOURS,
    "giờ": TimeUnit.WORKING_HOURS,
}
_CHANNEL_LIMIT = re.compile(r"^\s*(?P<channel>[^:]+):\s*(?P<amount>\d+(?:[.,]\d+)?)\s*(?P<unit>[^;|]*)$")
_TEMPLATE = re.compile(r"\b[Mm]ẫu\s+(?:số\s+)?(?P<code>[A-Z0-9][A-Za-z0-9./_-]*\d[A-Za-z0-9./_-]*)")
_SUMMARY_DOCUMENT = re.compile(r"^\(và \d+ giấy tờ khác")


def load_records() -> list[dict]:
    """The sample, in composed Unicode (NFC): some of the crawled text is decomposed."""
    with DATA_FILE.open(encoding="utf-8") as handle:
        return _nfc(json.load(handle))


def _nfc(value):
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    if isinstance(value, dict):
        return {k: _nfc(v) for k, v in value.items()}
    return value


def seed_catalogue(progress: Callable[[str], None] = lambda message: None) -> int:
    """Create or bring up to date the demo catalogue; returns the number of procedures seeded.

    Idempotent: an unchanged procedure is left alone by `procedure_update` (no new version).
    """
    records = load_records()
    count = 0
    with transaction.atomic():
        for record in records:
            data = record_to_data(record)
            procedure = Procedure.objects.filter(code=data.code).first()
            if procedure is None:
                procedure_create(data=data, actor=None)
            else:
                procedure_update(procedure=procedure, data=data, actor=None)
            count += 1
            if count % 10 == 0 or count == len(records):
                progress(f"đã nạp {count}/{len(records)} thủ tục")
    return count


def record_to_data(record: dict) -> ProcedureData:
    """One record of the sample, curated, as a `ProcedureData` of the demo province."""
    record = _nfc(record)
    short = record["code"]
    cure = CURATION[short]
    level, agency = cure["level"], cure["agency"]

    channels, channel_limits = _channels(record["time_limit_text"])
    amount, unit = _limit(record, cure)
    online_level = cure.get("online") or _online_level(record, channels)

    # The sample's limit is the in-person one; other channels get their own where it differs.
    per_channel = [
        TimeLimitData(channel=channel, amount=a, unit=u)
        for channel, (a, u) in channel_limits.items()
        if channel != Channel.IN_PERSON and (a, u) != (amount, unit)
    ]
    hours = SAME_DAY_STEP_HOURS if amount == 0 else _limit_hours(amount, unit)
    steps = (
        [StepData(name=n, agency_code=a, unit_code=u, role=r, hours=_D(h))
         for n, a, u, r, h in cure["steps"]]
        if "steps" in cure else standard_steps(hours, specialist_unit=cure["unit"])
    )
    documents, summary = _documents(record.get("documents") or [])
    documents += cure.get("documents_extra", [])
    return ProcedureData(
        code=f"{short}.{CODE_SUFFIX}",
        name=" ".join(record["name"].split()),
        field_code=FIELD_CODES[record["field"]],
        field_name=record["field"],
        level=level,
        agency_code=agency,
        agency_text=(record.get("agency") or "").strip()
        or (COMMUNE_AGENCY_TEXT if level == Level.COMMUNE else ""),
        accepts_in_person=Channel.IN_PERSON in channels,
        accepts_online=Channel.ONLINE in channels,
        accepts_post=Channel.POST in channels,
        online_level=online_level,
        is_inter_agency=cure.get("inter_agency", False),
        time_limit_amount=amount,
        time_limit_unit=unit,
        time_limit_text=record["time_limit_text"],
        requirements=summary,
        result=cure.get("result") or " ".join((record.get("result") or "").split()),
        legal_basis="\n".join(record.get("legal_basis") or []),
        source=record.get("source") or "",
        effective_from=EFFECTIVE_FROM,
        fees=_fees(record, cure),
        documents=documents,
        steps=steps,
        time_limits=per_channel,
    )


def standard_steps(total_hours: Decimal, *, specialist_unit: str) -> list[StepData]:
    """The usual internal process of four steps, whose hours add up to ``total_hours``: the desk
    receives (5 %, ½–4 h), the specialist unit appraises (the rest), the leader approves and
    signs (15 %, 1–16 h), the desk returns the result (5 %, ½–4 h); rounded to half hours."""
    desk = _share(total_hours, _D("0.05"), _D("0.5"), _D(4))
    leader = _share(total_hours, _D("0.15"), _D(1), _D(16))
    return [
        StepData(name="Tiếp nhận hồ sơ", unit_code="MC", role="clerk", hours=desk),
        StepData(name="Thẩm định, xử lý hồ sơ", unit_code=specialist_unit, role="officer",
                 hours=total_hours - 2 * desk - leader),
        StepData(name="Phê duyệt, ký kết quả", unit_code="LD", role="leader", hours=leader),
        StepData(name="Trả kết quả", unit_code="MC", role="clerk", hours=desk),
    ]


def _share(total: Decimal, share: Decimal, low: Decimal, high: Decimal) -> Decimal:
    half_hours = (total * share * 2).quantize(_D(1), rounding=ROUND_HALF_UP) / 2
    return min(max(half_hours, low), high)


def _limit_hours(amount: Decimal, unit: str) -> Decimal:
    return amount if unit == TimeUnit.WORKING_HOURS else amount * 8


def _channels(text: str) -> tuple[list[str], dict[str, tuple[Decimal, str]]]:
    """The accepted channels and, where a unit is written, each channel's own limit, from
    ``"Trực tuyến: 17 Ngày làm việc; Dịch vụ bưu chính: 30 Ngày làm việc; Trực tiếp: 20 …"``.
    A bare number (no unit) is not trusted as a limit."""
    head = text.split("|")[0]
    channels, limits = [], {}
    for part in head.split(";"):
        name, _sep, rest = part.partition(":")
        channel = _CHANNEL_NAMES.get(name.strip())
        if channel is None:
            continue
        channels.append(channel)
        match = _CHANNEL_LIMIT.match(part)
        unit = _UNIT_NAMES.get(match["unit"].strip().lower()) if match else None
        if match and unit:
            limits[channel] = (_D(match["amount"].replace(",", ".")), unit)
    order = [Channel.IN_PERSON, Channel.ONLINE, Channel.POST]
    return sorted(set(channels), key=order.index), limits


def _limit(record: dict, cure: dict) -> tuple[Decimal, str]:
    if "limit" in cure:
        return cure["limit"]
    unit = record.get("time_limit_unit")
    if record.get("time_limit_amount") is None or unit not in TimeUnit.values:
        raise ValueError(f"{record['code']}: no time limit in the sample and none curated")
    return _D(str(record["time_limit_amount"])), unit


def _online_level(record: dict, channels: list[str]) -> str:
    if Channel.ONLINE not in channels:
        return OnlineLevel.NONE
    if "toàn trình" in (record.get("online_level") or "") + record["name"]:
        return OnlineLevel.FULL
    return OnlineLevel.PARTIAL


def _fees(record: dict, cure: dict) -> list[FeeData]:
    if "fees" in cure:
        return list(cure["fees"])
    fixes = cure.get("fee_amounts", {})
    fees = []
    for i, fee in enumerate(record.get("fees") or []):
        amount = fixes.get(i, fee.get("amount_vnd"))
        if amount is None and cure.get("drop_fees_without_amount"):
            continue
        fees.append(FeeData(
            name=" ".join(fee["name"].split()), amount_vnd=amount,
            description=(fee.get("text") or "").strip(),
        ))
    return fees


def _documents(items: list[dict]) -> tuple[list[DocumentData], str]:
    """Documents with their originals and copies ("1 bản chính, 1 bản sao"); the crawl's summary
    line "(và 6 giấy tờ khác …)" is not a document: it becomes a note in the requirements."""
    documents, notes = [], []
    for item in items:
        name = " ".join(item["name"].split())
        if _SUMMARY_DOCUMENT.match(name) or not item.get("copies"):
            notes.append(f"Thành phần hồ sơ còn {name.strip('()')}.")
            continue
        originals, copies = parse_copies(item["copies"])
        template = _TEMPLATE.search(name)
        documents.append(DocumentData(
            name=name, originals=originals, copies=copies, is_mandatory=is_mandatory(name),
            template_name=f"Mẫu {template['code'].rstrip('.')}" if template else "",
        ))
    return documents, "\n".join(notes)


def parse_copies(text: str) -> tuple[int, int]:
    """``"1 bản chính, 1 bản sao"`` → ``(1, 1)``; ``"2 bản chính"`` → ``(2, 0)``."""
    folded = fold(text)
    originals = re.search(r"(\d+)\s*ban chinh", folded)
    copies = re.search(r"(\d+)\s*ban sao", folded)
    return (int(originals[1]) if originals else 0, int(copies[1]) if copies else 0)


def is_mandatory(name: str) -> bool:
    """A document required only in some cases ("Trường hợp …", "… (nếu có)", "Đối với …")
    is not mandatory; the clerk asks for it when the case applies."""
    folded = fold(name)
    return not (
        folded.startswith(("truong hop", "doi voi", "neu "))
        or "(neu " in folded
        or "trong truong hop" in folded[:120]
    )
