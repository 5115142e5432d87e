"""The catalogue as an Excel workbook (xlsx): export, and import of the same format.

One workbook, five sheets. "Thủ tục" has one row per procedure with every scalar field; the four
other sheets have one row per line (fee, document, internal-process step, per-channel time limit),
keyed by the procedure code. Choice columns hold the Vietnamese labels (the codes are accepted
too), yes/no columns hold "Có"/"Không".

Import is all or nothing: every row is parsed into a `ProcedureData` and validated by
`procedure_validate` first; only when no row has an error is anything written, in one
transaction, through the services (`procedure_create`, `procedure_update`,
`procedure_set_active`). A procedure whose rows equal what an export would write is left alone
("unchanged"), so export → import creates no new versions.
"""

from __future__ import annotations

import io
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone, translation
from openpyxl import Workbook, load_workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from motcua.errors import ValidationError
from motcua.models import Role
from motcua.text import fold
from procedures.forms import TEMPLATE_DIR, is_template_name
from procedures.models import (
    Channel,
    Level,
    OnlineLevel,
    Procedure,
    ProcedureVersion,
    SupplementClock,
    TimeUnit,
)
from procedures.schema import DocumentData, FeeData, ProcedureData, StepData, TimeLimitData
from procedures.selectors import procedure_search
from procedures.services import (
    procedure_create,
    procedure_set_active,
    procedure_to_data,
    procedure_update,
    procedure_validate,
)

SHEET_PROCEDURES = "Thủ tục"
SHEET_FEES = "Phí lệ phí"
SHEET_DOCUMENTS = "Thành phần hồ sơ"
SHEET_STEPS = "Quy trình nội bộ"
SHEET_TIME_LIMITS = "Thời hạn theo cách thức"

YES, NO = "Có", "Không"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: str = "text"  # text, int, decimal, bool, choice, datetime, position, code, template
    choices: type | None = None
    required: bool = True  # the column must be present in an imported sheet
    width: int = 18
    nullable: bool = False  # an empty cell is allowed (int, decimal, datetime)


@dataclass(frozen=True)
class Sheet:
    title: str
    section: str  # "" for the procedure sheet, else the ProcedureData list it fills
    columns: tuple[Column, ...]

    def column(self, key: str) -> Column | None:
        return next((c for c in self.columns if c.key == key), None)


CODE = Column("code", "Mã thủ tục", "code", width=26)

PROCEDURES = Sheet(SHEET_PROCEDURES, "", (
    CODE,
    Column("name", "Tên thủ tục", width=60),
    Column("field_code", "Mã lĩnh vực", width=14),
    Column("field_name", "Tên lĩnh vực", width=28),
    Column("level", "Cấp thực hiện", "choice", Level, width=22),
    Column("agency_code", "Mã cơ quan thực hiện", width=18),
    Column("agency_text", "Cơ quan thực hiện (theo công bố)", width=40),
    Column("subjects", "Đối tượng thực hiện", width=30),
    Column("accepts_in_person", "Nộp trực tiếp", "bool", width=10),
    Column("accepts_online", "Nộp trực tuyến", "bool", width=10),
    Column("accepts_post", "Nộp qua bưu chính", "bool", width=10),
    Column("online_level", "Mức độ trực tuyến", "choice", OnlineLevel, width=24),
    Column("is_inter_agency", "Liên thông", "bool", width=10),
    Column("time_limit_amount", "Thời hạn giải quyết", "decimal", width=12),
    Column("time_limit_unit", "Đơn vị thời hạn", "choice", TimeUnit, width=16),
    Column("time_limit_text", "Thời hạn (theo công bố)", width=40),
    Column("supplement_clock", "Khi chờ bổ sung", "choice", SupplementClock, width=30),
    Column("procedure_steps_text", "Trình tự thực hiện", width=50),
    Column("requirements", "Yêu cầu, điều kiện", width=40),
    Column("result", "Kết quả thực hiện", width=30),
    Column("legal_basis", "Căn cứ pháp lý", width=40),
    Column("source", "Nguồn", width=30),
    Column("effective_from", "Hiệu lực từ", "datetime", width=18, nullable=True),
    Column("is_active", "Đang áp dụng", "bool", width=10),
    # Information only: the import ignores it (a changed procedure gets the next number).
    Column("version", "Phiên bản hiện hành", "int", required=False, width=10,
           nullable=True),
))

FEES = Sheet(SHEET_FEES, "fees", (
    CODE,
    Column("position", "STT", "position", width=6),
    Column("name", "Loại phí, lệ phí", width=40),
    Column("amount_vnd", "Mức thu (đồng)", "int", width=14, nullable=True),
    Column("description", "Mô tả", width=50),
))

DOCUMENTS = Sheet(SHEET_DOCUMENTS, "documents", (
    CODE,
    Column("position", "STT", "position", width=6),
    Column("name", "Tên giấy tờ", width=60),
    Column("originals", "Số bản chính", "int", width=10),
    Column("copies", "Số bản sao", "int", width=10),
    Column("is_mandatory", "Bắt buộc", "bool", width=10),
    Column("template_name", "Tên mẫu đơn, tờ khai", width=30),
    # The stored file's name, not the file: the file stays in the media storage; optional so
    # that a sheet typed by hand need not have it.
    Column("template", "Tệp mẫu (lưu trữ)", "template", required=False, width=30),
))

STEPS = Sheet(SHEET_STEPS, "steps", (
    CODE,
    Column("position", "Thứ tự", "position", width=8),
    Column("name", "Tên bước", width=40),
    Column("agency_code", "Mã cơ quan", width=18),
    Column("unit_code", "Mã đơn vị", width=12),
    Column("role", "Vai trò", "choice", Role, width=30),
    Column("hours", "Số giờ làm việc", "decimal", width=10),
))

TIME_LIMITS = Sheet(SHEET_TIME_LIMITS, "time_limits", (
    CODE,
    Column("channel", "Cách thức", "choice", Channel, width=20),
    Column("amount", "Thời hạn", "decimal", width=10),
    Column("unit", "Đơn vị", "choice", TimeUnit, width=16),
))

SHEETS = (PROCEDURES, FEES, DOCUMENTS, STEPS, TIME_LIMITS)
LINE_SHEETS = {s.section: s for s in SHEETS if s.section}
LINE_TYPES = {"fees": FeeData, "documents": DocumentData, "steps": StepData,
              "time_limits": TimeLimitData}


# --- cell values ------------------------------------------------------------------------------

def _label(choices, value: str) -> str:
    with translation.override("vi"):
        for code, label in choices.choices:
            if code == value:
                return str(label)
    return value


def _clean_text(value: str) -> str:
    # Control characters cannot be stored in xlsx; they never carry meaning in the catalogue.
    return ILLEGAL_CHARACTERS_RE.sub("", value)


def _decimal_cell(value: Decimal | None):
    if value is None:
        return None
    value = Decimal(value)
    return int(value) if value == value.to_integral_value() else float(value)


def _local_naive(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.replace(tzinfo=None, second=0, microsecond=0)


def to_cell(column: Column, value):
    """The value written to the workbook for ``value`` of ``column``."""
    if column.kind == "bool":
        return YES if value else NO
    if column.kind == "choice":
        return _label(column.choices, value) if value else None
    if column.kind == "decimal":
        return _decimal_cell(value)
    if column.kind == "datetime":
        return _local_naive(value)
    if column.kind in ("int", "position"):
        return None if value is None else int(value)
    text = "" if value is None else _clean_text(str(value))
    return text or None


class CellError(Exception):
    pass


_TRUE = {"co", "x", "1", "true", "yes", "dung", "c"}
_FALSE = {"khong", "0", "false", "no", "sai", "k", ""}
_DATE_TEXT = re.compile(
    r"^(?P<d>\d{1,2})/(?P<m>\d{1,2})/(?P<y>\d{4})(?:\s+(?P<H>\d{1,2}):(?P<M>\d{2}))?$"
)


def from_cell(column: Column, raw):
    """Parse a cell; raises CellError with a Vietnamese message."""
    if isinstance(raw, str):
        raw = raw.strip()
        if raw == "":
            raw = None
    kind = column.kind
    if kind == "template":
        name = "" if raw is None else str(raw).strip()
        if name and not is_template_name(name):
            raise CellError(
                f"Không có tệp mẫu “{name}” trong kho lưu trữ (chỉ nhận tệp đã tải lên, "
                f"trong thư mục {TEMPLATE_DIR})."
            )
        return name
    if kind in ("text", "code"):
        if raw is None:
            return ""
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        if isinstance(raw, datetime | date):
            raise CellError("Phải là văn bản, không phải ngày tháng.")
        return str(raw)
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        token = fold(str(raw)) if raw is not None else ""
        if token in _TRUE:
            return True
        if token in _FALSE:
            return False
        raise CellError(f"Phải là “{YES}” hoặc “{NO}”.")
    if kind == "choice":
        if raw is None:
            raise CellError("Không được để trống.")
        token = fold(str(raw))
        with translation.override("vi"):
            for code, label in column.choices.choices:
                if token in (fold(code), fold(str(label))):
                    return code
            allowed = "; ".join(str(label) for _code, label in column.choices.choices)
        raise CellError(f"Giá trị “{raw}” không hợp lệ. Chọn một trong: {allowed}.")
    if kind == "decimal":
        if raw is None:
            raise CellError("Không được để trống.")
        if isinstance(raw, bool):
            raise CellError("Phải là số.")
        try:
            text = str(raw).replace(" ", "")
            if isinstance(raw, str) and "," in text:
                text = text.replace(".", "").replace(",", ".") if "." in text else text.replace(",", ".")
            value = Decimal(text)
        except InvalidOperation:
            raise CellError(f"“{raw}” không phải là số.") from None
        if not value.is_finite() or value < 0:
            raise CellError("Phải là số không âm.")
        value = value.quantize(Decimal("0.01"))
        return value
    if kind in ("int", "position"):
        if raw is None:
            if kind == "position" or column.nullable:
                return None
            raise CellError("Không được để trống.")
        if isinstance(raw, bool):
            raise CellError("Phải là số nguyên.")
        try:
            value = Decimal(str(raw).replace(".", "").replace(",", "").replace(" ", "")
                            if isinstance(raw, str) else str(raw))
        except InvalidOperation:
            raise CellError(f"“{raw}” không phải là số nguyên.") from None
        if value != value.to_integral_value() or value < 0:
            raise CellError("Phải là số nguyên không âm.")
        return int(value)
    if kind == "datetime":
        if raw is None:
            return None
        if isinstance(raw, datetime):
            value = raw
        elif isinstance(raw, date):
            value = datetime(raw.year, raw.month, raw.day)
        else:
            match = _DATE_TEXT.match(str(raw))
            if match:
                try:
                    value = datetime(int(match["y"]), int(match["m"]), int(match["d"]),
                                     int(match["H"] or 0), int(match["M"] or 0))
                except ValueError:
                    raise CellError(f"Ngày “{raw}” không có thật.") from None
            else:
                try:
                    value = datetime.fromisoformat(str(raw))
                except ValueError:
                    raise CellError(
                        f"“{raw}” không phải ngày giờ (dạng dd/mm/yyyy hh:mm)."
                    ) from None
        # Minutes are the precision kept; an Excel serial may come back a hair off.
        value = (value + timedelta(seconds=30)).replace(second=0, microsecond=0)
        if timezone.is_naive(value):
            value = timezone.make_aware(value)
        return value
    raise AssertionError(kind)


# --- rows of one procedure -------------------------------------------------------------------

def procedure_rows(data: ProcedureData, *, is_active: bool = True,
                   version: int | None = None) -> dict[str, list[list]]:
    """Every row an export writes for one procedure, by sheet title."""
    scalar = {**{f.name: getattr(data, f.name) for f in fields(data)},
              "is_active": is_active, "version": version}
    out = {PROCEDURES.title: [[to_cell(c, scalar.get(c.key)) for c in PROCEDURES.columns]]}
    for section, sheet in LINE_SHEETS.items():
        rows = []
        for position, item in enumerate(getattr(data, section), start=1):
            values = {"code": data.code, "position": position,
                      **{f.name: getattr(item, f.name) for f in fields(item)}}
            rows.append([to_cell(c, values.get(c.key)) for c in sheet.columns])
        out[sheet.title] = rows
    return out


def _comparable(rows: dict[str, list[list]]) -> dict[str, list[list]]:
    """Rows without what does not make a new version: the effective date, the version number,
    the active flag, and the field's name (the field is shared, `procedure_update` ignores it)."""
    skip = {PROCEDURES.columns.index(PROCEDURES.column(k))
            for k in ("effective_from", "is_active", "version", "field_name")}
    out = dict(rows)
    out[PROCEDURES.title] = [
        [v for i, v in enumerate(row) if i not in skip] for row in rows[PROCEDURES.title]
    ]
    return out


# --- export ----------------------------------------------------------------------------------

def _versions_for_export(versions) -> Iterable[ProcedureVersion]:
    if hasattr(versions, "select_related"):
        versions = (
            versions.select_related("procedure", "field", "agency")
            .prefetch_related("fees", "documents", "steps__agency", "time_limits")
            .order_by("procedure__code")
        )
    return versions


def build_workbook(versions, *, progress: Progress | None = None) -> Workbook:
    """A workbook of the given current versions (a queryset or a list)."""
    wb = Workbook()
    wb.remove(wb.active)
    sheets = {}
    for spec in SHEETS:
        ws = wb.create_sheet(spec.title)
        ws.append([c.header for c in spec.columns])
        for index, column in enumerate(spec.columns, start=1):
            cell = ws.cell(row=1, column=index)
            cell.font = Font(bold=True, color="FFFFFF")
            cell.fill = PatternFill("solid", fgColor="B3261E")
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            ws.column_dimensions[get_column_letter(index)].width = column.width
        ws.freeze_panes = "B2"
        sheets[spec.title] = ws
    count = 0
    for version in _versions_for_export(versions):
        data = procedure_to_data(version)
        rows = procedure_rows(
            data, is_active=version.procedure.is_active, version=version.number
        )
        for title, sheet_rows in rows.items():
            for row in sheet_rows:
                _append(sheets[title], row)
        count += 1
        if progress and count % 50 == 0:
            progress(f"Đã xuất {count} thủ tục…")
    for spec in SHEETS:
        _add_validations(sheets[spec.title], spec)
    if progress:
        progress(f"Đã xuất {count} thủ tục.")
    return wb


def _append(ws, row: list) -> None:
    ws.append(row)
    for cell in ws[ws.max_row]:
        if isinstance(cell.value, str) and cell.data_type == "f":
            # Text that starts with "=" is text, never a formula (nor a formula injection).
            cell.data_type = "s"
        elif isinstance(cell.value, datetime):
            cell.number_format = DATETIME_FORMAT


def _add_validations(ws, spec: Sheet) -> None:
    last = max(ws.max_row, 2) + 500
    for index, column in enumerate(spec.columns, start=1):
        if column.kind == "bool":
            options = [YES, NO]
        elif column.kind == "choice":
            with translation.override("vi"):
                options = [str(label) for _code, label in column.choices.choices]
        else:
            continue
        formula = '"' + ",".join(options) + '"'
        if len(formula) > 255:  # Excel's limit on an inline list
            continue
        letter = get_column_letter(index)
        validation = DataValidation(type="list", formula1=formula, allow_blank=True)
        validation.add(f"{letter}2:{letter}{last}")
        ws.add_data_validation(validation)


def export_catalogue(versions, stream=None, *, progress: Progress | None = None):
    """Write the workbook to ``stream`` (a file or a path); returns the bytes when no stream."""
    wb = build_workbook(versions, progress=progress)
    if stream is None:
        buffer = io.BytesIO()
        wb.save(buffer)
        return buffer.getvalue()
    wb.save(stream)
    return None


# --- import ----------------------------------------------------------------------------------

@dataclass
class RowError:
    sheet: str
    row: int | None
    column: str
    message: str

    def as_list(self) -> list:
        return [self.sheet, self.row, self.column, self.message]


@dataclass
class ParsedProcedure:
    data: ProcedureData
    is_active: bool
    row: int
    line_rows: dict[str, list[int]] = field(default_factory=dict)
    has_errors: bool = False


@dataclass
class ImportResult:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    total: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def _header_map(ws, spec: Sheet, errors: list[RowError]) -> dict[str, int] | None:
    headers = {}
    for index, cell in enumerate(next(ws.iter_rows(min_row=1, max_row=1, values_only=True), ())):
        if cell is not None:
            headers[fold(str(cell))] = index
    found, missing = {}, []
    for column in spec.columns:
        index = headers.get(fold(column.header))
        if index is None:
            if column.required:
                missing.append(column.header)
        else:
            found[column.key] = index
    if missing:
        errors.append(RowError(spec.title, 1, ", ".join(missing), "Thiếu cột trong dòng tiêu đề."))
        return None
    return found


def _rows(ws, spec: Sheet, columns: dict[str, int], errors: list[RowError]):
    """(row number, {key: parsed value}) of each non-empty data row; cell errors recorded."""
    for number, values in enumerate(ws.iter_rows(min_row=2, values_only=True), start=2):
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        parsed, bad = {}, False
        for column in spec.columns:
            index = columns.get(column.key)
            if index is None:
                continue
            raw = values[index] if index < len(values) else None
            try:
                parsed[column.key] = from_cell(column, raw)
            except CellError as exc:
                errors.append(RowError(spec.title, number, column.header, str(exc)))
                bad = True
        yield number, parsed, bad


def read_workbook(source) -> tuple[list[ParsedProcedure], list[RowError]]:
    """Parse a workbook into one ProcedureData per row of "Thủ tục"; nothing is written."""
    errors: list[RowError] = []
    try:
        wb = load_workbook(source, read_only=True, data_only=True)
    except Exception:  # openpyxl raises many kinds for a file that is not xlsx
        return [], [RowError("", None, "", "Tệp không phải là bảng tính Excel (.xlsx) hợp lệ.")]
    try:
        return _read(wb, errors)
    finally:
        wb.close()


def _read(wb, errors: list[RowError]) -> tuple[list[ParsedProcedure], list[RowError]]:
    titles = {fold(t): t for t in wb.sheetnames}
    worksheets = {}
    for spec in SHEETS:
        title = titles.get(fold(spec.title))
        if title is None:
            errors.append(RowError(spec.title, None, "", "Thiếu trang tính này trong tệp."))
        else:
            worksheets[spec.title] = wb[title]
    if errors:
        return [], errors

    procedures: dict[str, ParsedProcedure] = {}
    columns = _header_map(worksheets[PROCEDURES.title], PROCEDURES, errors)
    if columns is not None:
        for number, values, bad in _rows(worksheets[PROCEDURES.title], PROCEDURES, columns, errors):
            code = values.get("code", "")
            if not code:
                errors.append(RowError(PROCEDURES.title, number, CODE.header, "Thiếu mã thủ tục."))
                continue
            if code in procedures:
                errors.append(RowError(
                    PROCEDURES.title, number, CODE.header,
                    f"Mã {code} trùng với dòng {procedures[code].row}.",
                ))
                continue
            scalars = {k: v for k, v in values.items() if k not in ("is_active", "version")}
            data = ProcedureData(**{**scalars, "code": code}) if not bad else ProcedureData(
                code=code, name="", field_code="", field_name="", level="",
                time_limit_amount=Decimal(0), time_limit_unit="",
            )
            procedures[code] = ParsedProcedure(
                data=data, is_active=values.get("is_active", True), row=number, has_errors=bad,
            )

    for section, spec in LINE_SHEETS.items():
        columns = _header_map(worksheets[spec.title], spec, errors)
        if columns is None:
            continue
        lines = defaultdict(list)
        for number, values, bad in _rows(worksheets[spec.title], spec, columns, errors):
            code = values.get("code", "")
            target = procedures.get(code)
            if target is None:
                errors.append(RowError(
                    spec.title, number, CODE.header,
                    f"Mã thủ tục “{code}” không có trong trang “{PROCEDURES.title}”."
                    if code else "Thiếu mã thủ tục.",
                ))
                continue
            if bad:
                target.has_errors = True
                continue
            position = values.pop("position", None)
            values.pop("code")
            lines[code].append((position if position is not None else 10**9, number, values))
        for code, items in lines.items():
            items.sort(key=lambda item: (item[0], item[1]))
            if section == "steps":
                seen = {}
                for position, number, _values in items:
                    if position in seen and position != 10**9:
                        errors.append(RowError(
                            spec.title, number, spec.column("position").header,
                            f"Thứ tự {position} trùng với dòng {seen[position]}.",
                        ))
                        procedures[code].has_errors = True
                    seen[position] = number
            kind = LINE_TYPES[section]
            setattr(procedures[code].data, section, [kind(**values) for _p, _n, values in items])
            procedures[code].line_rows[section] = [number for _p, number, _v in items]
    return list(procedures.values()), errors


def _service_errors(item: ParsedProcedure, exc: ValidationError) -> list[RowError]:
    """Place a service ValidationError on the sheet, row and column it concerns."""
    out = []
    payload = exc.errors
    if isinstance(payload, list | tuple):
        payload = {"": list(payload)}
    if not payload:
        return [RowError(PROCEDURES.title, item.row, "", str(exc.message))]
    for key, messages in payload.items():
        messages = messages if isinstance(messages, list | tuple) else [messages]
        sheet, row, column = _locate(item, str(key))
        out.extend(RowError(sheet, row, column, str(m)) for m in messages)
    return out


_ITEM_KEY = re.compile(r"^(?P<section>[a-z_]+)(?:\.|\[)(?P<index>\d+)\]?(?:\.(?P<attr>\w+))?$")
_LIST_RULE_COLUMN = {"steps": "hours"}


def _locate(item: ParsedProcedure, key: str) -> tuple[str, int | None, str]:
    column = PROCEDURES.column(key)
    if column is not None:
        return PROCEDURES.title, item.row, column.header
    if key in LINE_SHEETS:
        # A rule about the whole list (the sum of the step hours): its first row.
        rows = item.line_rows.get(key) or []
        spec = LINE_SHEETS[key]
        column = spec.column(_LIST_RULE_COLUMN.get(key, ""))
        if rows:
            return spec.title, rows[0], column.header if column else ""
        return PROCEDURES.title, item.row, spec.title
    match = _ITEM_KEY.match(key)
    if match and match["section"] in LINE_SHEETS:
        spec = LINE_SHEETS[match["section"]]
        rows = item.line_rows.get(match["section"]) or []
        index = int(match["index"])
        column = spec.column(match["attr"] or "")
        return (
            spec.title, rows[index] if index < len(rows) else None,
            column.header if column else "",
        )
    return PROCEDURES.title, item.row, key


def import_catalogue(source, *, actor, progress: Progress | None = None,
                     dry_run: bool = False) -> ImportResult:
    """Validate every row, then write everything in one transaction, or nothing."""
    say = progress or (lambda _msg: None)
    result = ImportResult()
    items, result.errors = read_workbook(source)
    result.total = len(items)
    say(f"Đã đọc {len(items)} thủ tục; đang kiểm tra…")
    for index, item in enumerate(items, start=1):
        if item.has_errors:
            continue
        try:
            procedure_validate(item.data)
        except ValidationError as exc:
            result.errors.extend(_service_errors(item, exc))
        if index % 50 == 0:
            say(f"Đã kiểm tra {index}/{len(items)} thủ tục…")
    if result.errors:
        say(f"Có {len(result.errors)} lỗi; không ghi gì vào danh mục.")
        return result

    codes = [i.data.code for i in items]
    # Current versions with their parts in a handful of queries, whatever the file's size.
    currents = {
        v.procedure.code: v
        for v in procedure_search(active_only=False, with_details=True)
        .filter(procedure__code__in=codes)
    }
    existing = {p.code: p for p in Procedure.objects.filter(code__in=codes)}
    for code, version in currents.items():
        existing[code].current_version = version
    try:
        with transaction.atomic():
            for index, item in enumerate(items, start=1):
                procedure = existing.get(item.data.code)
                if procedure is None or procedure.current_version is None:
                    created = procedure_create(data=item.data, actor=actor)
                    if not item.is_active:
                        procedure_set_active(procedure=created, active=False, actor=actor)
                    result.created.append(item.data.code)
                else:
                    _update(item, procedure, actor, result)
                if index % 50 == 0:
                    say(f"Đã ghi {index}/{len(items)} thủ tục…")
            if dry_run:
                transaction.set_rollback(True)
    except ValidationError as exc:
        # The rows were valid one by one but not together (e.g. a code taken meanwhile).
        result.created, result.updated, result.unchanged = [], [], []
        result.errors.append(RowError(PROCEDURES.title, None, "", str(exc.message)))
        for key, messages in (exc.errors or {}).items() if isinstance(exc.errors, dict) else ():
            for message in messages if isinstance(messages, list | tuple) else [messages]:
                result.errors.append(RowError(PROCEDURES.title, None, str(key), str(message)))
        return result
    say(
        f"Xong: {len(result.created)} thêm mới, {len(result.updated)} cập nhật, "
        f"{len(result.unchanged)} không đổi."
    )
    return result


def _update(item: ParsedProcedure, procedure: Procedure, actor, result: ImportResult) -> None:
    version = procedure.current_version
    current = procedure_to_data(version)
    data = item.data
    # One document a line, as `procedure_update` stores it, so that blank lines are no change.
    data.legal_basis = "\n".join(
        line.strip() for line in data.legal_basis.splitlines() if line.strip()
    )
    if data.effective_from is not None and (
        _local_naive(data.effective_from) == _local_naive(version.effective_from)
    ):
        # The exported date of the current version, left as it was: a change made now takes
        # effect now, not on the old version's date.
        data.effective_from = None
    changed = _comparable(procedure_rows(current)) != _comparable(procedure_rows(data))
    if changed:
        procedure_update(procedure=procedure, data=data, actor=actor)
    if procedure.is_active != item.is_active:
        procedure_set_active(procedure=procedure, active=item.is_active, actor=actor)
        changed = True
    (result.updated if changed else result.unchanged).append(data.code)


def error_workbook(errors: list[RowError]) -> bytes:
    """The error report as a small workbook the admin can download."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Lỗi"
    ws.append(["Trang tính", "Dòng", "Cột", "Lỗi"])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for error in errors:
        _append(ws, error.as_list())
    for letter, width in zip("ABCD", (24, 8, 28, 90), strict=True):
        ws.column_dimensions[letter].width = width
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
