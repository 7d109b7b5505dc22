"""What every workbook cld_polars writes must be, checked on the saved file with openpyxl and a
strict XML parser: the same checks for the validation, compare and national workbooks.

The bounds here are deliberately simple (characters, not font metrics), so that they hold
for any sensible layout and fail for a broken one: text that cannot fit its column must wrap
in a row tall enough for it; a number must fit its column (no ######); every used column has
a width; every table has filter buttons; every chart plots exactly the table its title names.
"""

from __future__ import annotations

import datetime
import math
import re
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
from openpyxl.utils import column_index_from_string, get_column_letter, range_boundaries
from openpyxl.worksheet.worksheet import Worksheet

#: The narrowest a character of the body font can be, in Excel's width unit (a digit).
NARROWEST = 0.45
LINE = 15.0
HEADER_FILL = "FFD9E1F2"
DATE_FORMATS = ("dd/mm/yyyy", "mmm yyyy", "dd/mm/yyyy hh:mm:ss")


def strict_xml(path: Path) -> None:
    """Every XML part parses with expat, which refuses what Excel refuses (U+FFFF, controls)."""
    with zipfile.ZipFile(path) as z:
        for name in z.namelist():
            if name.endswith((".xml", ".rels", ".vml")):
                ET.fromstring(z.read(name))


def width(ws: Worksheet, column: int) -> float:
    dim = ws.column_dimensions.get(get_column_letter(column))
    return float(dim.width) if dim is not None and dim.width else 0.0


def merged_width(ws: Worksheet, row: int, column: int) -> float:
    for merged in ws.merged_cells.ranges:
        if merged.min_row == row and merged.min_col == column:
            return sum(width(ws, c) for c in range(merged.min_col, merged.max_col + 1))
    return width(ws, column)


def formatted(value: float, number_format: str) -> str:
    """How Excel shows ``value`` in ``number_format`` (the formats the workbooks use)."""
    if "%" in number_format:
        return f"{value:.1%}"
    if "£" in number_format:
        return f"£{value:,.2f}"
    if number_format in ("#,##0.00",):
        return f"{value:,.2f}"
    if number_format == "0.00":
        return f"{value:.2f}"
    if "," in number_format:
        return f"{value:,.0f}"
    return str(int(value)) if float(value).is_integer() else str(value)


def check_sheet(ws: Worksheet) -> None:
    title = ws.title
    assert ws.freeze_panes, f"{title}: no frozen rows"
    used: set[int] = set()
    for row in ws.iter_rows():
        for cell in row:
            value = cell.value
            if value is None:
                continue
            where = f"{title}!{cell.coordinate}"
            used.add(cell.column)
            assert cell.data_type not in ("f", "e"), f"{where}: a formula or error"
            w = merged_width(ws, cell.row, cell.column)
            if isinstance(value, bool):
                continue
            if isinstance(value, int | float):
                assert cell.number_format != "General", f"{where}: {value} has no number format"
                shown = formatted(value, cell.number_format)
                assert len(shown) <= w - 0.5, f"{where}: {shown} does not fit width {w} (####)"
            elif isinstance(value, datetime.datetime):
                assert cell.number_format in DATE_FORMATS, f"{where}: date as {cell.number_format}"
                assert len(cell.number_format) <= w, f"{where}: date wider than width {w}"
            elif isinstance(value, str):
                need = len(value) * NARROWEST
                # Text that cannot fit on one line, whatever its letters, runs into the next
                # column: cut off there unless the next cell is empty, so it must wrap.
                spills = ws.cell(cell.row, cell.column + 1).value is None and not any(
                    cell.coordinate in m and m.max_col > cell.column for m in ws.merged_cells.ranges
                )
                if need > w - 1 and (not spills or cell.alignment.wrap_text):
                    assert cell.alignment.wrap_text, f"{where}: {value[:40]!r} cut off, not wrapped"
                    lines = sum(math.ceil(len(p) * NARROWEST / w) or 1 for p in value.split("\n"))
                    height = ws.row_dimensions[cell.row].height or LINE
                    assert height >= min(lines * LINE, 409) - 0.1, (
                        f"{where}: {lines} lines of text in a row {height} points high"
                    )
    for column in used:
        assert width(ws, column) >= 4, f"{title}: column {get_column_letter(column)} has no width"


@dataclass
class SheetTable:
    ref: str
    header_row: int
    last_row: int
    min_col: int
    max_col: int


def tables(ws: Worksheet) -> list[SheetTable]:
    """The Excel tables of a sheet; each has filter buttons over exactly its range, and its
    column names are its header cells."""
    found = []
    for table in ws.tables.values():
        assert table.autoFilter is not None and table.autoFilter.ref == table.ref, table.name
        min_col, min_row, max_col, max_row = range_boundaries(table.ref)
        header = [ws.cell(min_row, c).value for c in range(min_col, max_col + 1)]
        assert header == [c.name for c in table.tableColumns], table.name
        assert all(ws.cell(min_row, c).font.b for c in range(min_col, max_col + 1))
        found.append(SheetTable(table.ref, min_row, max_row, min_col, max_col))
    return found


#: Columns that show values as the return gave them: text that looks like a number or a date
#: is right there, and nowhere else.
AS_GIVEN = {"Value", "Suggested value", "Previous value", "Current value"}
LOOKS_TYPED = re.compile(
    r"^(\d{2}/\d{2}/\d{4}|-?\d{1,3}(,\d{3})+(\.\d+)?|-?\d+(\.\d+)?%|£[\d,.]+)$"
)


def check_typed(ws: Worksheet, placed: list[SheetTable]) -> None:
    """Counts, percentages, money and dates are stored as numbers and dates, not as text that
    looks like them (which would not sort, filter or sum), outside the columns of values as
    given."""
    as_given = {
        (table.header_row, column)
        for table in placed
        for column in range(table.min_col, table.max_col + 1)
        if ws.cell(table.header_row, column).value in AS_GIVEN
    }
    given_columns: dict[int, list[tuple[int, int]]] = {}
    for table in placed:
        for header_row, column in as_given:
            if header_row == table.header_row:
                given_columns.setdefault(column, []).append((table.header_row, table.last_row))
    for row in ws.iter_rows():
        for cell in row:
            if not isinstance(cell.value, str) or not LOOKS_TYPED.match(cell.value.strip()):
                continue
            spans = given_columns.get(cell.column, [])
            assert any(a < cell.row <= b for a, b in spans), (
                f"{ws.title}!{cell.coordinate}: {cell.value!r} is text, not a number or date"
            )


def check_tables(ws: Worksheet) -> list[SheetTable]:
    """Every header row (the header fill) heads an Excel table, or an empty table's one row."""
    placed = tables(ws)
    check_typed(ws, placed)
    heads = {t.header_row for t in placed}
    for row in ws.iter_rows():
        header = [c for c in row if c.fill.fgColor.rgb == HEADER_FILL and c.value is not None]
        if not header or header[0].row in heads:
            continue
        below = [c.value for c in ws[header[0].row + 1] if c.value is not None]
        assert len(below) == 1 and isinstance(below[0], str), (
            f"{ws.title} row {header[0].row}: a table without filter buttons"
        )
    return placed


_REF = re.compile(
    r"^'?(?P<sheet>.+?)'?!\$?(?P<c1>[A-Z]+)\$?(?P<r1>\d+)(?::\$?(?P<c2>[A-Z]+)\$?(?P<r2>\d+))?$"
)


def resolve(ref: str) -> tuple[str, int, int, int, int]:
    """``'Sheet'!$B$6:$B$10`` as (sheet, first column, first row, last column, last row)."""
    m = _REF.match(ref)
    assert m, ref
    c1, r1 = column_index_from_string(m["c1"]), int(m["r1"])
    c2 = column_index_from_string(m["c2"]) if m["c2"] else c1
    r2 = int(m["r2"]) if m["r2"] else r1
    return m["sheet"].replace("''", "'"), c1, r1, c2, r2


def chart_title(chart: object) -> str:
    title = chart.title  # type: ignore[attr-defined]
    return "".join(r.t for p in title.tx.rich.p for r in (p.r or []))


def check_charts(ws: Worksheet, placed: list[SheetTable]) -> list[str]:
    """Every chart plots exactly the table under the heading that is its title: categories
    are the table's rows, each series is one of its columns over the same rows, named by
    the header. Returns the titles."""
    titles = []
    headings = {c.value: c.row for c in ws["A"] if isinstance(c.value, str) and c.font.b}
    for chart in ws._charts:
        title = chart_title(chart)
        titles.append(title)
        assert title in headings, f"{ws.title}: chart {title!r} names no table on the sheet"
        heading = headings[title]
        table = min((t for t in placed if t.header_row > heading), key=lambda t: t.header_row)
        assert table.header_row - heading <= 2, f"{title!r}: the table is not under its title"
        assert chart.series, title
        for series in chart.series:
            cat = series.cat.numRef or series.cat.strRef
            sheet, c1, r1, c2, r2 = resolve(cat.f)
            assert sheet == ws.title and c1 == c2, (title, cat.f)
            assert table.min_col <= c1 <= table.max_col, (title, cat.f, table.ref)
            assert (r1, r2) == (table.header_row + 1, table.last_row), (title, cat.f, table.ref)
            sheet, c1, r1, c2, r2 = resolve(series.val.numRef.f)
            assert sheet == ws.title and c1 == c2, (title, series.val.numRef.f)
            assert table.min_col <= c1 <= table.max_col, (title, series.val.numRef.f, table.ref)
            assert (r1, r2) == (table.header_row + 1, table.last_row), (title, table.ref)
            assert resolve(series.tx.strRef.f)[1:3] == (c1, table.header_row), title
    return titles


def check_links(book: openpyxl.Workbook) -> None:
    """Every link within the workbook goes to a cell that exists: a sheet of the workbook,
    within the rows and columns it uses."""
    for ws in book:
        for cell in (c for row in ws.iter_rows() for c in row if c.hyperlink is not None):
            where, location = f"{ws.title}!{cell.coordinate}", cell.hyperlink.location
            assert location, f"{where}: a link to nowhere"
            sheet, column, row, _, _ = resolve(location)
            assert sheet in book.sheetnames, f"{where}: no sheet {sheet!r}"
            target = book[sheet]
            assert row <= target.max_row and column <= target.max_column, (
                f"{where}: {location} is beyond the sheet's cells"
            )
            assert cell.value is not None, f"{where}: a link on no value"


BAND_FILL = "FFB4C6E7"


def check_bands(ws: Worksheet, placed: list[SheetTable]) -> None:
    """A header band (a label over a group of columns) sits on the row just above a table's
    header, merged across columns of that table only."""
    for row in ws.iter_rows():
        for cell in row:
            if cell.fill.fgColor.rgb != BAND_FILL or cell.value is None:
                continue
            table = next((t for t in placed if t.header_row == cell.row + 1), None)
            assert table is not None, f"{ws.title}!{cell.coordinate}: a band over no table"
            span = next(
                (m for m in ws.merged_cells.ranges if cell.coordinate in m),
                None,
            )
            last = span.max_col if span is not None else cell.column
            assert table.min_col <= cell.column <= last <= table.max_col, (
                f"{ws.title}!{cell.coordinate}: the band runs beyond its table"
            )


def check_workbook(path: Path) -> dict[str, list[str]]:
    """Every check above on every sheet; returns the chart titles by sheet."""
    strict_xml(path)
    book = openpyxl.load_workbook(path)
    assert book.sheetnames[0] == "Instructions"
    quick = openpyxl.load_workbook(path, read_only=True)  # trusts each sheet's dimension
    for ws in book:
        assert quick[ws.title].max_row >= ws.max_row, f"{ws.title}: dimension too small"
        assert quick[ws.title].max_column >= ws.max_column, f"{ws.title}: dimension too small"
    quick.close()
    charts = {}
    check_links(book)
    for ws in book:
        check_sheet(ws)
        placed = check_tables(ws)
        check_bands(ws, placed)
        charts[ws.title] = check_charts(ws, placed)
        if ws.title != "Instructions" and placed:
            first = min(placed, key=lambda t: t.header_row)
            frozen = ws.freeze_panes
            row = int(re.sub(r"[A-Z]+", "", frozen))
            assert row in (2, first.header_row + 1), f"{ws.title}: frozen at {frozen}"
    return charts


def column_values(ws: Worksheet, header: str, header_row: int | None = None) -> list[Any]:
    """The values under ``header`` in the sheet's first table that has it."""
    for table in ws.tables.values():
        min_col, min_row, _max_col, max_row = range_boundaries(table.ref)
        names = [c.name for c in table.tableColumns]
        if header in names and (header_row is None or header_row == min_row):
            at = min_col + names.index(header)
            return [ws.cell(r, at).value for r in range(min_row + 1, max_row + 1)]
    raise KeyError(header)


def column_cells(ws: Worksheet, header: str) -> list[openpyxl.cell.Cell]:
    for table in ws.tables.values():
        min_col, min_row, _max_col, max_row = range_boundaries(table.ref)
        names = [c.name for c in table.tableColumns]
        if header in names:
            at = min_col + names.index(header)
            return [ws.cell(r, at) for r in range(min_row + 1, max_row + 1)]
    raise KeyError(header)
