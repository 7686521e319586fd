"""Export a report table as CSV, XLSX (openpyxl) or PDF (fpdf2).

Every text cell that a spreadsheet could read as a formula (one starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return) is written with a leading apostrophe,
in CSV and XLSX alike (OWASP's advice against CSV injection): customers' names and
subjects come from outside, and ``=HYPERLINK(...)`` in a subject must stay text. Numbers
stay numbers.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hub.reports import Column, Table

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
# A Unicode font for Polish and Ukrainian in PDFs (Debian's fonts-dejavu-core).
PDF_FONTS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)


def neutralise(value: str) -> str:
    """``value`` made inert for spreadsheets: a leading ``'`` before a formula start."""
    if value and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _cell(value: Any, tz: ZoneInfo) -> Any:
    """A value as a spreadsheet cell: numbers as numbers, times local, text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "✓" if value else ""
    if isinstance(value, int | float):
        return value
    if isinstance(value, dt.datetime):
        return value.astimezone(tz).replace(tzinfo=None)
    return neutralise(str(value))


def _text(value: Any, tz: ZoneInfo) -> str:
    cell = _cell(value, tz)
    if isinstance(cell, dt.datetime):
        return cell.strftime("%Y-%m-%d %H:%M:%S")
    return str(cell)


def to_csv(table: Table, tz: ZoneInfo) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([neutralise(c.label) for c in table.columns])
    for row in table.rows:
        writer.writerow([_text(row.get(c.key), tz) for c in table.columns])
    # A BOM so that spreadsheet programs read the file as UTF-8 (Polish, Ukrainian).
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(table: Table, tz: ZoneInfo, title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    # Sheet titles may not hold []:*?/\ and are at most 31 characters.
    ws.title = "".join(ch for ch in title if ch not in "[]:*?/\\")[:31] or "Report"
    ws.append([neutralise(c.label) for c in table.columns])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in table.rows:
        ws.append([_cell(row.get(c.key), tz) for c in table.columns])
    for i, column in enumerate(table.columns, start=1):
        if column.kind == "datetime":
            for (cell,) in ws.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = "yyyy-mm-dd hh:mm:ss"
        width = max([len(column.label)] + [len(_text(r.get(column.key), tz)) for r in table.rows])
        ws.column_dimensions[cell_letter(i)].width = min(60, width + 2)
    # Text cells that start like a formula are stored as text, never as formulas.
    for row_cells in ws.iter_rows():
        for cell in row_cells:
            if isinstance(cell.value, str) and cell.data_type == "f":
                cell.data_type = "s"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def cell_letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return str(get_column_letter(index))


def _pdf_font(pdf: Any) -> str:
    for path in PDF_FONTS:
        bold = path.with_name("DejaVuSans-Bold.ttf")
        if path.is_file() and bold.is_file():
            pdf.add_font("report", "", str(path))
            pdf.add_font("report", "B", str(bold))
            return "report"
    return "helvetica"


def to_pdf(table: Table, tz: ZoneInfo, title: str, subtitle: str = "") -> bytes:
    """A landscape A4 table. Without a Unicode font text outside Latin-1 shows as ``?``."""
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    font = _pdf_font(pdf)

    def txt(value: str) -> str:
        if font == "helvetica":
            return value.encode("latin-1", "replace").decode("latin-1")
        return value

    pdf.set_font(font, size=14)
    pdf.cell(0, 8, txt(title), new_x="LMARGIN", new_y="NEXT")
    if subtitle:
        pdf.set_font(font, size=9)
        pdf.cell(0, 6, txt(subtitle), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(font, size=8)
    columns: list[Column] = table.columns
    with pdf.table(
        text_align="LEFT", first_row_as_headings=True, line_height=4.5, padding=0.8
    ) as t:
        head = t.row()
        for c in columns:
            head.cell(txt(c.label))
        for row in table.rows:
            r = t.row()
            for c in columns:
                r.cell(txt(_text(row.get(c.key), tz)))
    return bytes(pdf.output())


def export(table: Table, fmt: str, tz: ZoneInfo, title: str, subtitle: str = "") -> bytes:
    if fmt == "csv":
        return to_csv(table, tz)
    if fmt == "xlsx":
        return to_xlsx(table, tz, title)
    if fmt == "pdf":
        return to_pdf(table, tz, title, subtitle)
    raise ValueError(f"unknown export format: {fmt!r}")
