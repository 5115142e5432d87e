"""The rules a procedure version must satisfy before the catalogue stores it.

`procedure_validate` checks a `ProcedureData` (the one shape the staff form, the xlsx import, the
admin and the demo seed all produce) and raises one `motcua.errors.ValidationError` listing every
problem at once, in Vietnamese, keyed by the `ProcedureData` attribute it concerns:

- ``"code"``, ``"time_limit_amount"`` ... for the scalar attributes;
- ``"steps"``, ``"fees"`` ... for a rule about a whole list (e.g. the sum of the step hours);
- ``"steps.2.hours"`` for one item of a list: the index is 0-based into the list (the third step),
  the message itself says "Bước 3".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext as _

from motcua.errors import ValidationError
from motcua.models import Agency, Unit
from procedures.models import (
    STEP_ROLES,
    Channel,
    Field,
    Level,
    OnlineLevel,
    SupplementClock,
    TimeUnit,
    limit_in_hours,
)
from procedures.schema import ProcedureData

#: The long national form of a province's procedure code: the national procedure number
#: (``1.001193``) followed by the code of the catalogue that publishes it (``000.00.00.H01``).
CODE_RE = re.compile(r"^\d\.\d{6}\.\d{3}\.\d{2}\.\d{2}\.[A-Z]\d{2}$")
#: The short national form, accepted only by `normalize_code` (importers), never stored.
SHORT_CODE_RE = re.compile(r"^\d\.\d{6}$")
#: A limit of 0 ("giải quyết trong ngày") leaves at most one working day for the steps.
SAME_DAY_HOURS = Decimal(8)

# Sizes of the database columns, checked here so that a long value is a message, not a crash.
_MAX = {
    "code": 64, "field_code": 32, "field_name": 255, "fee_name": 500, "step_name": 255,
    "unit_code": 32, "template_name": 255,
}
_AMOUNT_MAX = Decimal("9999.99")  # DecimalField(max_digits=6, decimal_places=2)
_HOURS_MAX = Decimal("99999.99")  # DecimalField(max_digits=7, decimal_places=2)
_COUNT_MAX = 32767  # PositiveSmallIntegerField
_VND_MAX = 10**15


def normalize_code(code: str, *, catalogue_suffix: str) -> str:
    """``1.001193`` → ``1.001193.000.00.00.H01`` for a province whose catalogue suffix is
    ``000.00.00.H01``; a long code is returned as it is. For importers of national data."""
    code = (code or "").strip()
    if SHORT_CODE_RE.match(code):
        return f"{code}.{catalogue_suffix}"
    return code


def format_hours(value: Decimal) -> str:
    """``Decimal("36.00")`` → ``"36"``, ``Decimal("2.50")`` → ``"2,5"`` (Vietnamese comma)."""
    return f"{Decimal(value).normalize():f}".replace(".", ",")


class _Errors:
    def __init__(self):
        self.items: dict[str, list[str]] = {}

    def add(self, key: str, message: str) -> None:
        self.items.setdefault(key, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.items)


def procedure_validate(data: ProcedureData) -> None:
    """Check every rule of the catalogue on ``data``; raise one `ValidationError` naming them all.

    The rules: a long national code; name, field, level, agency present and known; at least one
    way to submit, and an online level that agrees with online submission; non-negative time
    limits, fees and copies; per-channel limits only for accepted channels, once each; an
    internal process of at least one step, each step held by a clerk, an officer or a leader of a
    unit that exists where the step happens; steps in more than one agency only for an
    inter-agency (liên thông) procedure; and THE RULE: the step hours add up exactly to the time
    limit in working hours (`limit_in_hours`), or to at most 8 hours for a limit of 0.

    Uniqueness of the code is not checked here (the import validates rows of existing
    procedures too): `procedure_create` checks it.
    """
    errors = _Errors()
    _check_identity(data, errors)
    agency = _check_agency(data, errors)
    _check_channels(data, errors)
    limit = _check_time_limits(data, errors)
    _check_fees(data, errors)
    _check_documents(data, errors)
    _check_steps(data, errors, agency=agency, limit=limit)
    if errors:
        raise ValidationError(_summary(errors.items), code="invalid", errors=errors.items)


def _summary(items: dict[str, list[str]]) -> str:
    messages = [m for msgs in items.values() for m in msgs]
    if len(messages) == 1:
        return messages[0]
    return _("Thông tin thủ tục chưa hợp lệ (%(count)s lỗi): %(list)s") % {
        "count": len(messages), "list": " ".join(messages),
    }


def _text(value) -> str:
    return (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()


def _check_identity(data: ProcedureData, errors: _Errors) -> None:
    code = _text(data.code)
    if not code:
        errors.add("code", _("Mã thủ tục là bắt buộc."))
    elif not CODE_RE.match(code):
        errors.add("code", _(
            "Mã thủ tục “%(code)s” không đúng định dạng mã quốc gia đầy đủ, "
            "ví dụ 1.001193.000.00.00.H01."
        ) % {"code": code})
    if not _text(data.name):
        errors.add("name", _("Tên thủ tục là bắt buộc."))

    field_code, field_name = _text(data.field_code), _text(data.field_name)
    if not field_code:
        errors.add("field_code", _("Mã lĩnh vực là bắt buộc."))
    elif len(field_code) > _MAX["field_code"]:
        errors.add("field_code", _("Mã lĩnh vực dài quá %(n)s ký tự.") % {"n": _MAX["field_code"]})
    elif not field_name and not Field.objects.filter(code=field_code).exists():
        errors.add("field_name", _(
            "Lĩnh vực “%(code)s” chưa có trong danh mục: cần nhập tên lĩnh vực để thêm mới."
        ) % {"code": field_code})
    if len(field_name) > _MAX["field_name"]:
        errors.add("field_name", _("Tên lĩnh vực dài quá %(n)s ký tự.") % {"n": _MAX["field_name"]})

    if data.level not in Level.values:
        errors.add("level", _("Cấp thực hiện “%(value)s” không hợp lệ; chọn một trong: %(choices)s.")
                   % {"value": data.level, "choices": ", ".join(str(c) for c in Level.labels)})
    if data.supplement_clock not in SupplementClock.values:
        errors.add("supplement_clock", _("Cách tính thời hạn khi chờ bổ sung không hợp lệ."))


def _check_agency(data: ProcedureData, errors: _Errors) -> Agency | None:
    """The implementing agency: required except for commune-level procedures, where an empty
    agency means every commune; a commune-level procedure names only a commune."""
    code = _text(data.agency_code)
    if not code:
        if data.level in Level.values and data.level != Level.COMMUNE:
            errors.add("agency_code", _(
                "Cần chọn cơ quan thực hiện (chỉ thủ tục cấp xã được để trống: mọi UBND xã, "
                "phường, đặc khu cùng thực hiện)."
            ))
        return None
    agency = Agency.objects.filter(code=code).first()
    if agency is None:
        errors.add("agency_code", _("Không có cơ quan mã “%(code)s”.") % {"code": code})
        return None
    if not agency.is_active:
        errors.add("agency_code", _("Cơ quan “%(name)s” đã ngừng hoạt động.") % {"name": agency.name})
    if data.level == Level.COMMUNE and agency.kind != Agency.Kind.COMMUNE:
        errors.add("agency_code", _(
            "Thủ tục cấp xã do UBND xã, phường, đặc khu thực hiện; “%(name)s” không phải UBND cấp xã."
        ) % {"name": agency.name})
    return agency


def _check_channels(data: ProcedureData, errors: _Errors) -> None:
    if not (data.accepts_in_person or data.accepts_online or data.accepts_post):
        errors.add("accepts_in_person", _(
            "Cần ít nhất một cách thức nộp hồ sơ (trực tiếp, trực tuyến hoặc bưu chính)."
        ))
    if data.online_level not in OnlineLevel.values:
        errors.add("online_level", _("Mức độ trực tuyến “%(value)s” không hợp lệ.")
                   % {"value": data.online_level})
    elif data.accepts_online and data.online_level == OnlineLevel.NONE:
        errors.add("online_level", _(
            "Thủ tục nhận hồ sơ trực tuyến phải có mức độ trực tuyến toàn trình hoặc một phần."
        ))
    elif not data.accepts_online and data.online_level != OnlineLevel.NONE:
        errors.add("online_level", _(
            "Thủ tục không nhận hồ sơ trực tuyến thì mức độ trực tuyến phải là “Không trực tuyến”."
        ))


def _decimal(value) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _check_amount(value, *, key: str, label: str, errors: _Errors) -> Decimal | None:
    amount = _decimal(value)
    if amount is None:
        errors.add(key, _("%(label)s phải là một số.") % {"label": label})
        return None
    if amount < 0:
        errors.add(key, _("%(label)s không được âm.") % {"label": label})
        return None
    if amount > _AMOUNT_MAX or amount != amount.quantize(Decimal("0.01")):
        errors.add(key, _("%(label)s tối đa %(max)s, với không quá 2 chữ số thập phân.")
                   % {"label": label, "max": _AMOUNT_MAX})
        return None
    return amount


def _check_time_limits(data: ProcedureData, errors: _Errors) -> Decimal | None:
    """The default limit (in person) and the per-channel ones; returns the default in hours."""
    amount = _check_amount(data.time_limit_amount, key="time_limit_amount",
                           label=_("Thời hạn giải quyết"), errors=errors)
    unit_ok = data.time_limit_unit in TimeUnit.values
    if not unit_ok:
        errors.add("time_limit_unit", _("Đơn vị thời hạn “%(value)s” không hợp lệ.")
                   % {"value": data.time_limit_unit})
    accepted = {
        Channel.IN_PERSON: data.accepts_in_person,
        Channel.ONLINE: data.accepts_online,
        Channel.POST: data.accepts_post,
    }
    seen = set()
    for i, limit in enumerate(data.time_limits):
        key = f"time_limits.{i}"
        if limit.channel not in Channel.values:
            errors.add(f"{key}.channel", _("Cách thức nộp “%(value)s” không hợp lệ.")
                       % {"value": limit.channel})
        else:
            label = Channel(limit.channel).label
            if limit.channel in seen:
                errors.add(f"{key}.channel", _("Thời hạn cho cách thức “%(channel)s” bị nhập hai lần.")
                           % {"channel": label})
            elif not accepted[limit.channel]:
                errors.add(f"{key}.channel", _(
                    "Thủ tục không nhận hồ sơ theo cách thức “%(channel)s” nên không thể có thời "
                    "hạn riêng cho cách thức này."
                ) % {"channel": label})
            seen.add(limit.channel)
        _check_amount(limit.amount, key=f"{key}.amount", label=_("Thời hạn theo cách thức nộp"),
                      errors=errors)
        if limit.unit not in TimeUnit.values:
            errors.add(f"{key}.unit", _("Đơn vị thời hạn “%(value)s” không hợp lệ.")
                       % {"value": limit.unit})
        elif limit.unit == TimeUnit.CALENDAR_DAYS and not _whole(limit.amount):
            errors.add(f"{key}.amount", _calendar_whole_message())
    if amount is None or not unit_ok:
        return None
    if data.time_limit_unit == TimeUnit.CALENDAR_DAYS and not _whole(amount):
        errors.add("time_limit_amount", _calendar_whole_message())
        return None
    return limit_in_hours(amount, data.time_limit_unit)


def _whole(value) -> bool:
    number = _decimal(value)
    return number is None or number == number.to_integral()


def _calendar_whole_message() -> str:
    return _("Thời hạn tính theo ngày lịch phải là số ngày nguyên.")


def _check_fees(data: ProcedureData, errors: _Errors) -> None:
    for i, fee in enumerate(data.fees):
        name = _text(fee.name)
        if not name:
            errors.add(f"fees.{i}.name", _("Phí, lệ phí dòng %(n)s: cần ghi tên.") % {"n": i + 1})
        elif len(name) > _MAX["fee_name"]:
            errors.add(f"fees.{i}.name", _("Phí, lệ phí dòng %(n)s: tên dài quá %(max)s ký tự.")
                       % {"n": i + 1, "max": _MAX["fee_name"]})
        if fee.amount_vnd is None:
            continue
        if isinstance(fee.amount_vnd, bool) or _decimal(fee.amount_vnd) is None:
            errors.add(f"fees.{i}.amount_vnd", _("Phí, lệ phí dòng %(n)s: mức thu phải là một số.")
                       % {"n": i + 1})
            continue
        value = _decimal(fee.amount_vnd)
        if value < 0:
            errors.add(f"fees.{i}.amount_vnd", _("Phí, lệ phí dòng %(n)s: mức thu không được âm.")
                       % {"n": i + 1})
        elif value != value.to_integral() or value >= _VND_MAX:
            errors.add(f"fees.{i}.amount_vnd", _(
                "Phí, lệ phí dòng %(n)s: mức thu phải là số đồng nguyên, hợp lý."
            ) % {"n": i + 1})


def _count(value) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number == _decimal(value) else None


def _check_documents(data: ProcedureData, errors: _Errors) -> None:
    for i, doc in enumerate(data.documents):
        key = f"documents.{i}"
        if not _text(doc.name):
            errors.add(f"{key}.name", _("Thành phần hồ sơ %(n)s: cần ghi tên giấy tờ.") % {"n": i + 1})
        originals, copies = _count(doc.originals), _count(doc.copies)
        for attr, value in (("originals", originals), ("copies", copies)):
            if value is None or value < 0 or value > _COUNT_MAX:
                errors.add(f"{key}.{attr}", _(
                    "Thành phần hồ sơ %(n)s: số bản phải là số nguyên không âm."
                ) % {"n": i + 1})
        if originals is not None and copies is not None and originals == 0 and copies == 0:
            errors.add(f"{key}.originals", _(
                "Thành phần hồ sơ %(n)s: cần ít nhất một bản chính hoặc một bản sao."
            ) % {"n": i + 1})
        if len(_text(doc.template_name)) > _MAX["template_name"]:
            errors.add(f"{key}.template_name", _("Thành phần hồ sơ %(n)s: tên mẫu dài quá %(max)s ký tự.")
                       % {"n": i + 1, "max": _MAX["template_name"]})


def _check_steps(data: ProcedureData, errors: _Errors, *, agency: Agency | None,
                 limit: Decimal | None) -> None:
    if not data.steps:
        errors.add("steps", _(
            "Cần khai báo quy trình nội bộ: ít nhất một bước, tổng thời gian bằng thời hạn giải quyết."
        ))
        return
    total = Decimal(0)
    hours_ok = True
    step_agencies: set[str] = set()
    units = _UnitLookup()
    for i, step in enumerate(data.steps):
        key, n = f"steps.{i}", i + 1
        name = _text(step.name)
        if not name:
            errors.add(f"{key}.name", _("Bước %(n)s: cần ghi tên bước.") % {"n": n})
        elif len(name) > _MAX["step_name"]:
            errors.add(f"{key}.name", _("Bước %(n)s: tên bước dài quá %(max)s ký tự.")
                       % {"n": n, "max": _MAX["step_name"]})
        if step.role not in STEP_ROLES:
            errors.add(f"{key}.role", _(
                "Bước %(n)s: vai trò “%(value)s” không hợp lệ; chọn cán bộ tiếp nhận và trả kết "
                "quả, chuyên viên thụ lý hoặc lãnh đạo."
            ) % {"n": n, "value": step.role})
        hours = _decimal(step.hours)
        if hours is None:
            errors.add(f"{key}.hours", _("Bước %(n)s: thời gian phải là một số giờ.") % {"n": n})
            hours_ok = False
        elif hours <= 0 or hours > _HOURS_MAX or hours != hours.quantize(Decimal("0.01")):
            errors.add(f"{key}.hours", _(
                "Bước %(n)s: thời gian phải lớn hơn 0 giờ, với không quá 2 chữ số thập phân."
            ) % {"n": n})
            hours_ok = False
        else:
            total += hours
        _check_step_unit(step, key=key, n=n, agency=agency, level=data.level, units=units,
                         errors=errors, step_agencies=step_agencies)

    if len(step_agencies) > 1 and not data.is_inter_agency:
        errors.add("is_inter_agency", _(
            "Quy trình có bước ở nhiều cơ quan: thủ tục phải được đánh dấu liên thông."
        ))
    if not hours_ok or limit is None:
        return
    if limit == 0:
        if total > SAME_DAY_HOURS:
            errors.add("steps", _(
                "Thủ tục giải quyết trong ngày: tổng thời gian các bước (%(total)s giờ) không được "
                "quá %(max)s giờ làm việc."
            ) % {"total": format_hours(total), "max": format_hours(SAME_DAY_HOURS)})
    elif total != limit:
        errors.add("steps", _(
            "Tổng thời gian các bước (%(total)s giờ) phải bằng thời hạn giải quyết "
            "(%(limit)s giờ làm việc)."
        ) % {"total": format_hours(total), "limit": format_hours(limit)})


class _UnitLookup:
    """Units by agency, read once per validation."""

    def __init__(self):
        self._agencies: dict[str, Agency | None] = {}
        self._units: dict[int, set[str]] | None = None
        self._communes: list[Agency] | None = None

    def agency(self, code: str) -> Agency | None:
        if code not in self._agencies:
            self._agencies[code] = Agency.objects.filter(code=code).first()
        return self._agencies[code]

    def codes(self, agency: Agency) -> set[str]:
        if self._units is None:
            self._units = {}
            for agency_id, code in Unit.objects.filter(is_active=True).values_list("agency_id", "code"):
                self._units.setdefault(agency_id, set()).add(code)
        return self._units.get(agency.pk, set())

    def communes(self) -> list[Agency]:
        if self._communes is None:
            self._communes = list(
                Agency.objects.filter(kind=Agency.Kind.COMMUNE, is_active=True).order_by("code")
            )
        return self._communes


def _check_step_unit(step, *, key: str, n: int, agency: Agency | None, level: str,
                     units: _UnitLookup, errors: _Errors, step_agencies: set[str]) -> None:
    """The step's unit exists where the step happens: in the agency the step names, else in the
    implementing agency, else (commune level, empty agency) in every commune."""
    unit_code = _text(step.unit_code)
    agency_code = _text(step.agency_code)
    if not unit_code:
        errors.add(f"{key}.unit_code", _("Bước %(n)s: cần chọn đơn vị thực hiện.") % {"n": n})
        return
    if len(unit_code) > _MAX["unit_code"]:
        errors.add(f"{key}.unit_code", _("Bước %(n)s: mã đơn vị dài quá %(max)s ký tự.")
                   % {"n": n, "max": _MAX["unit_code"]})
        return
    if agency_code:
        step_agency = units.agency(agency_code)
        if step_agency is None:
            errors.add(f"{key}.agency_code", _("Bước %(n)s: không có cơ quan mã “%(code)s”.")
                       % {"n": n, "code": agency_code})
            return
        targets = [step_agency]
        step_agencies.add(step_agency.code)
    elif agency is not None:
        targets = [agency]
        step_agencies.add(agency.code)
    elif level == Level.COMMUNE:
        targets = units.communes()
        step_agencies.add("*commune*")
    else:
        return  # the agency itself is missing or wrong: reported once, on agency_code
    missing = [a for a in targets if unit_code not in units.codes(a)]
    if not missing:
        return
    if len(targets) == 1:
        errors.add(f"{key}.unit_code", _(
            "Bước %(n)s: cơ quan “%(agency)s” không có đơn vị mã “%(unit)s”."
        ) % {"n": n, "agency": targets[0].name, "unit": unit_code})
    else:
        errors.add(f"{key}.unit_code", _(
            "Bước %(n)s: đơn vị mã “%(unit)s” phải có ở mọi UBND cấp xã; chưa có ở: %(list)s."
        ) % {"n": n, "unit": unit_code, "list": _names(missing)})


def _names(agencies: Iterable[Agency], limit: int = 5) -> str:
    agencies = list(agencies)
    names = ", ".join(a.name for a in agencies[:limit])
    if len(agencies) > limit:
        names += _(" và %(n)s cơ quan khác") % {"n": len(agencies) - limit}
    return names
