"""Spreadsheets (xlsx) of every list staff export: one writer, one look (a bold title row, a red
header row, frozen panes, dates as dates) and one rule — text typed by people (names, comments)
is written as text, never as a formula (CSV/formula injection)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.http import HttpResponse
from django.utils import timezone
from django.utils.functional import Promise

#: A cell starting with one of these is a formula to a spreadsheet.
FORMULA_PREFIXES = ("=", "+", "-", "@")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Sheet:
    """One sheet: ``columns`` are (label, width); ``rows`` any iterable of sequences (a
    generator streams: the workbook is write-only)."""

    title: str
    heading: str
    columns: Sequence[tuple[str, int]]
    rows: Iterable[Sequence] = field(default_factory=list)
    percent_columns: frozenset[int] = frozenset()
    footer: str = ""
    freeze: str = "B3"


def _cell(sheet, index: int, value, spec: Sheet):
    from openpyxl.cell import WriteOnlyCell

    if isinstance(value, Promise):  # lazy translations
        value = str(value)
    if isinstance(value, datetime):
        cell = WriteOnlyCell(sheet, value=timezone.localtime(value).replace(tzinfo=None))
        cell.number_format = "dd/mm/yyyy hh:mm"
        return cell
    if isinstance(value, str) and value[:1] in FORMULA_PREFIXES:
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"
        return cell
    if index in spec.percent_columns and value is not None:
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = "0.0%"
        return cell
    return "" if value is None else value


def xlsx_bytes(*sheets: Sheet) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=True)
    for spec in sheets:
        sheet = book.create_sheet(title=str(spec.title)[:31])
        for index, (_label, width) in enumerate(spec.columns, start=1):
            sheet.column_dimensions[get_column_letter(index)].width = width
        sheet.freeze_panes = spec.freeze
        heading = WriteOnlyCell(sheet, value=str(spec.heading))
        heading.font = Font(bold=True, size=13)
        sheet.append([heading])
        header = []
        for label, _width in spec.columns:
            cell = WriteOnlyCell(sheet, value=str(label))
            cell.font = Font(bold=True, color="FFFFFF")
            cell.fill = PatternFill("solid", fgColor="B3261E")
            cell.alignment = Alignment(vertical="center", wrap_text=True)
            header.append(cell)
        sheet.append(header)
        for row in spec.rows:
            sheet.append([_cell(sheet, index, value, spec) for index, value in enumerate(row)])
        if spec.footer:
            sheet.append([str(spec.footer)])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def xlsx_response(data: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
