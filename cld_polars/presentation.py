"""How every workbook cld_polars writes looks: the validation workbook, the compare workbook
and the national roll-up are all laid out here.

Why one module: an analyst moves between the three workbooks, and each used to have its own
idea of widths, headers, dates and filters (the roll-up had no widths at all, the comparison
none of anything). Here a sheet is a list of blocks, and one layout turns any of them into a
finished sheet:

* :class:`Sheet` collects a title, notes, label/value facts, tables (a Polars frame plus how
  each column is shown, :class:`Column`) and charts (each anchored beside the table it plots,
  its ranges exactly that table's header and rows);
* :class:`Book` lays the sheets out and writes the file whole or not at all: column widths
  fitted to the content (measured by Polars) and capped, text beyond the cap wrapped, row
  heights for wrapped cells, number formats by column (counts with thousands separators,
  fractions as %, dates as dates), frozen header rows, an Excel table with filter buttons on
  every table, red/amber/green where asked, print set-up (landscape, one page wide).

How the cells are written: openpyxl writes the workbook's frame (styles, widths, panes, merged
notes, Excel tables, charts, links) with empty sheets, and every row is SpreadsheetML built by
Polars expressions and spliced into the saved file, sheet by sheet, in batches. So a table of
a million findings costs the same code as a table of five rows, and no row is ever a Python
object.

Two rules hold for every cell:

* Text is always text: an inline string, never a formula or an error value, whatever it starts
  with (``=HYPERLINK(...)``, ``#N/A``).
* Characters XML 1.0 cannot hold (C0 controls other than tab, line feed and carriage return;
  U+FFFE and U+FFFF; lone surrogates, which file names can carry) would make the whole file
  unreadable, and text-direction overrides would make a cell show what it does not hold, so
  they are replaced by U+FFFD, and the workbook says so: in the row's own
  finding where a table has one (``Table.flag_column``), else in the table's note. Text over
  Excel's 32,767 characters a cell is cut, with a note in the cell.
"""

from __future__ import annotations

import datetime
import io
import math
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import polars as pl
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.chart import BarChart, Reference
from openpyxl.chart.marker import DataPoint
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.filters import AutoFilter
from openpyxl.worksheet.table import Table as ExcelTable
from openpyxl.worksheet.table import TableColumn
from openpyxl.worksheet.worksheet import Worksheet

from cld_polars.parse import parse_date
from cld_polars.safety import write_atomic_with

# --- number formats -------------------------------------------------------------------------

COUNT = "#,##0"
INTEGER = "0"
PERCENT = "0.0%"
MONEY = "£#,##0.00"
DECIMAL = "#,##0.00"
SECONDS = "0.00"
DATE = "dd/mm/yyyy"
MONTH = "mmm yyyy"
DATETIME = "dd/mm/yyyy hh:mm:ss"
#: Formats whose cells are dates (a text column given one of these is read as dd/mm/yyyy).
DATE_FORMATS = (DATE, MONTH, DATETIME)

# --- look ---------------------------------------------------------------------------------

FONT = "Calibri"
#: % valid at or above the first is green, at or above the second amber, below it red.
RAG_THRESHOLDS = (0.95, 0.80)
FILLS = {
    "header": "D9E1F2",
    "green": "C6EFCE",
    "amber": "FFEB9C",
    "red": "FFC7CE",
    "label": "F2F2F2",
    "band": "B4C6E7",
}
#: Bars of a chart's highlighted rows, and the rest (``Sheet.chart(highlight=...)``).
HIGHLIGHT, UNHIGHLIGHTED = "2F5597", "BFBFBF"
#: Fill of a Severity cell, by value.
SEVERITY_FILLS = {"error": "red", "warning": "amber"}
#: Column widths (Excel's unit: about one digit of the body font) stay within these bounds;
#: text longer than the cap wraps.
MIN_COLUMN_WIDTH, MAX_COLUMN_WIDTH = 6.0, 50.0
#: A header wraps rather than widening a narrow column past this (but never splits a word).
HEADER_WIDTH = 12.0
#: Text facts up to this long fit column B whole; longer ones spread across the sheet.
FACT_WIDTH = 30
#: Points per line of 11-point text, and of the title.
LINE_HEIGHT, TITLE_HEIGHT = 15.0, 24.0
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_CHARS = 32_767
#: Table rows turned into sheet XML at a time (a few MB of text each).
XML_BATCH = 50_000

# --- text that XML cannot hold ----------------------------------------------------------------

REPLACEMENT = "\ufffd"
#: XML 1.0 allows tab, line feed, carriage return, U+0020-U+D7FF, U+E000-U+FFFD and beyond
#: U+FFFF: everything else (C0 controls, surrogates, U+FFFE, U+FFFF) makes the file unreadable.
#: The text-direction embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) are
#: replaced too: held in a cell they reverse what follows, our own note included, so a value
#: or file name could show as something it is not.
_XML_ILLEGAL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff\u202a-\u202e\u2066-\u2069]"
)
#: The same for Polars' regex engine (a Polars string cannot hold a surrogate).
XML_ILLEGAL_PATTERN = (
    r"[\x00-\x08\x0B\x0C\x0E-\x1F\x{FFFE}\x{FFFF}\x{202A}-\x{202E}\x{2066}-\x{2069}]"
)
#: A table's hidden column: the row held text that had to be cleaned.
DIRTY = "__cleaned"
#: The row number column added to a batch of a table's rows.
ROW = "__row"
#: A table's hidden column: lines of wrapped text in the row.
LINES = "__lines"
REPLACED_NOTE = (
    "Characters that an Excel file cannot hold or that would reverse the text (control "
    f"characters, U+FFFE, U+FFFF, text-direction overrides) are shown as {REPLACEMENT}."
)
_CUT_NOTE = " [cut: an Excel cell holds 32,767 characters]"
#: Characters beyond U+FFFF: two of Excel's 32,767 a cell.
_ASTRAL = re.compile("[\U00010000-\U0010ffff]")
_ASTRAL_PATTERN = r"[\x{10000}-\x{10FFFF}]"


def clean_text(value: str) -> str:
    """``value`` with the characters XML cannot hold replaced, and cut to fit a cell (Excel
    counts UTF-16 units: a character beyond U+FFFF, an emoji, counts twice)."""
    cleaned = _XML_ILLEGAL.sub(REPLACEMENT, value)
    astral = len(_ASTRAL.findall(cleaned))
    if len(cleaned) + astral > EXCEL_MAX_CHARS:
        cleaned = cleaned[: _cut_at(astral)] + _CUT_NOTE
    return cleaned


def _cut_at(astral: int) -> int:
    """Where a value too long for a cell is cut, so that it and the note fit."""
    room = EXCEL_MAX_CHARS - len(_CUT_NOTE)
    return max(room - astral, room // 2)


def needs_cleaning(value: str) -> bool:
    return _XML_ILLEGAL.search(value) is not None


def clean_expr(expr: pl.Expr) -> pl.Expr:
    """:func:`clean_text` as a Polars expression (text in, text out)."""
    cleaned = expr.str.replace_all(XML_ILLEGAL_PATTERN, REPLACEMENT)
    astral = cleaned.str.count_matches(_ASTRAL_PATTERN)
    room = EXCEL_MAX_CHARS - len(_CUT_NOTE)
    cut_at = pl.max_horizontal(pl.lit(room) - astral, pl.lit(room // 2))
    cut = pl.concat_str([cleaned.str.slice(0, cut_at), pl.lit(_CUT_NOTE)])
    too_long = cleaned.str.len_chars() + astral > EXCEL_MAX_CHARS
    return pl.when(too_long).then(cut).otherwise(cleaned)


def _escape(expr: pl.Expr) -> pl.Expr:
    return (
        expr.str.replace_all("&", "&amp;", literal=True)
        .str.replace_all("<", "&lt;", literal=True)
        .str.replace_all(">", "&gt;", literal=True)
    )


def _escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# --- columns and blocks ---------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """How one column of a table is shown; every field is optional.

    ``format`` is an Excel number format (default by type: whole numbers as counts, decimals
    with two places, dates as dates; a text column given a date format is read as dd/mm/yyyy
    and shown as a date where it is one). ``width`` fixes the width (else fitted to the
    content); ``wrap`` wraps the text whatever its length (text over the cap wraps anyway).
    ``rag`` fills a fraction green, amber or red by ``RAG_THRESHOLDS``; ``fills`` fills a text
    cell by its value (a name of ``FILLS``; a yes/no column by "Yes" or "No"). ``link`` makes
    a sheet name a link to that sheet. ``target`` names a column of the frame, not shown,
    holding each row's link from this cell: a place in the workbook such as
    ``'Rows to fix'!A12`` (null: the cell is plain text). ``align`` sets the horizontal
    alignment of the column's cells and header (default: numbers right, text left).
    """

    header: str | None = None
    format: str | None = None
    width: float | None = None
    wrap: bool = False
    rag: bool = False
    fills: Mapping[str, str] | None = None
    link: bool = False
    target: str | None = None
    align: Literal["left", "center", "right"] | None = None


#: How an Instructions sheet's guide to the other sheets is shown: each sheet's name (a link
#: to it), what it shows and how to use it.
SHEET_GUIDE: dict[str, Column | str] = {
    "Sheet": Column(link=True),
    "What it shows": Column(width=60, wrap=True),
    "How to use it": Column(width=50, wrap=True),
}

Kind = Literal["text", "number", "date", "datetime", "date_text", "bool"]


@dataclass
class _Col:
    """A table column resolved for writing."""

    name: str
    header: str
    kind: Kind
    format: str | None
    spec: Column
    width: float = 0.0
    wrap: bool = False
    #: The width of the longest value once formatted (characters).
    natural: float = 0.0


@dataclass
class Table:
    """A table placed on a sheet (returned by :meth:`Sheet.table`): its rows once laid out."""

    frame: pl.DataFrame
    columns: list[_Col]
    title: str | None
    note: str | None
    freeze: bool
    key_columns: int
    empty: str
    flag_column: str | None
    first_column: int = 1
    #: Header bands: (label, first column, last column) of the frame, on a row above the
    #: header (``Sheet.table(bands=...)``).
    bands: list[tuple[str, str, str]] = field(default_factory=list)
    #: Filled in by the layout: the title's row, the header's, the first and last data rows.
    title_row: int = 0
    header_row: int = 0
    first_row: int = 0
    last_row: int = 0
    charts: list[_Chart] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.frame.height

    @property
    def last_column(self) -> int:
        return self.first_column + len(self.columns) - 1

    def column_index(self, name: str) -> int:
        """The sheet column (1-based) of the frame column ``name``."""
        for i, col in enumerate(self.columns):
            if col.name == name:
                return self.first_column + i
        raise KeyError(name)


@dataclass
class _Chart:
    table: Table
    title: str
    categories: str
    values: list[str]
    kind: Literal["col", "bar"]
    stacked: bool
    percent: bool
    x_title: str | None
    y_title: str | None
    width: float
    height: float
    highlight: str | None = None
    below: bool = False
    #: Filled in by the layout for a chart below its table: the row it starts on.
    row: int = 0


@dataclass(frozen=True)
class Fact:
    """One label / value line (``value`` None shows ``missing``)."""

    label: str
    value: object
    format: str | None = None
    fill: str | None = None
    bold: bool = False
    missing: str = "(not known)"


@dataclass
class _Text:
    kind: Literal["title", "subtitle", "heading", "note", "text", "strong", "blank"]
    text: str = ""


@dataclass
class _Facts:
    facts: list[Fact]


Block = _Text | _Facts | Table


# --- the sheet ------------------------------------------------------------------------------


class Sheet:
    """A sheet as a list of blocks, top to bottom; :class:`Book` lays it out.

    >>> import pathlib, tempfile, openpyxl
    >>> book = Book("Example", "cld_polars")
    >>> sheet = book.sheet("Events")
    >>> sheet.title("Events")
    >>> frame = pl.DataFrame({"Type": ["Request", "Review"], "Rows": [3_000, 20]})
    >>> table = sheet.table(frame, title="By type", freeze=True)
    >>> sheet.chart(table, categories="Type", values=["Rows"])
    >>> path = book.save(pathlib.Path(tempfile.mkdtemp()) / "example.xlsx")
    >>> ws = openpyxl.load_workbook(path)["Events"]
    >>> [t.ref for t in ws.tables.values()], ws.freeze_panes, ws["B5"].number_format
    (['A4:B6'], 'A5', '#,##0')
    """

    def __init__(self, name: str, *, gridlines: bool = True, tab_color: str | None = None):
        if len(name) > 31 or re.search(r"[\[\]:*?/\\]", name):
            raise ValueError(f"{name!r} cannot be an Excel sheet name")
        self.name = name
        self.gridlines = gridlines
        self.tab_color = tab_color
        self.blocks: list[Block] = []
        self.widths: dict[int, float] = {}

    # blocks
    def title(self, text: str, subtitle: str | None = None) -> None:
        self.blocks.append(_Text("title", text))
        if subtitle:
            self.blocks.append(_Text("subtitle", subtitle))

    def heading(self, text: str) -> None:
        """A section heading, with a blank line above it unless it opens the sheet."""
        if self.blocks:
            self.blank()
        self.blocks.append(_Text("heading", text))

    def note(self, text: str, *, strong: bool = False) -> None:
        """A line of prose across the sheet's width, wrapped."""
        self.blocks.append(_Text("strong" if strong else "note", text))

    def paragraph(self, text: str) -> None:
        """A line of plain text (instructions, not a side note) across the sheet, wrapped."""
        self.blocks.append(_Text("text", text))

    def blank(self) -> None:
        self.blocks.append(_Text("blank"))

    def facts(self, facts: Iterable[Fact]) -> None:
        self.blocks.append(_Facts(list(facts)))

    def table(
        self,
        frame: pl.DataFrame,
        columns: Mapping[str, Column | str] | None = None,
        *,
        title: str | None = None,
        note: str | None = None,
        freeze: bool = False,
        key_columns: int = 0,
        empty: str = "None.",
        flag_column: str | None = None,
        bands: Sequence[tuple[str, str, str]] = (),
    ) -> Table:
        """A table of ``frame``'s columns (or only those of ``columns``, in its order).

        ``columns`` maps a column to a :class:`Column` or just a number format. ``freeze``
        keeps the rows down to the header (and ``key_columns`` columns) in view. Where a
        text value had to be cleaned (module doc), ``flag_column`` (a text column) says so on
        the row; otherwise the table's note says how many rows. ``bands`` groups columns
        under a label on a row above the header: (label, first column, last column), in
        the table's order, not overlapping.
        """
        specs = {c: Column() for c in frame.columns} if columns is None else dict(columns)
        resolved = [_resolve(frame, name, spec) for name, spec in specs.items()]
        headers = [c.header.casefold() for c in resolved]
        if len(set(headers)) != len(headers) or not all(headers):
            raise ValueError(f"table {title!r}: headers must be distinct and not empty")
        order = [c.name for c in resolved]
        last_end = -1
        for label, first, last in bands:
            if first not in order or last not in order:
                raise ValueError(f"band {label!r}: {first!r} or {last!r} is not a column shown")
            if not last_end < order.index(first) <= order.index(last):
                raise ValueError(f"band {label!r}: bands go left to right and do not overlap")
            last_end = order.index(last)
        targets = [c.spec.target for c in resolved if c.spec.target]
        for target in targets:
            if frame.schema.get(target) != pl.String:
                raise ValueError(f"link target {target!r} must be a text column of the frame")
        texts = [c.name for c in resolved if c.kind in ("text", "date_text")]
        # One pass over the text (each column once, in parallel) says which columns hold
        # characters XML cannot hold or values too long for a cell: only those are cleaned.
        stats = (
            frame.select(
                *(
                    _text_of(frame.schema[t], t).str.contains(XML_ILLEGAL_PATTERN).any().alias(t)
                    for t in texts
                ),
                *(
                    _text_of(frame.schema[t], t).str.len_chars().max().alias(f"{t}\0len")
                    for t in texts
                ),
            ).row(0, named=True)
            if texts and frame.height
            else {}
        )
        dirty_columns = [t for t in texts if stats.get(t)]
        unfit = {t for t in texts if (stats.get(f"{t}\0len") or 0) > EXCEL_MAX_CHARS}
        dirty = (
            pl.any_horizontal(
                _text_of(frame.schema[t], t).str.contains(XML_ILLEGAL_PATTERN)
                for t in dirty_columns
            ).fill_null(False)
            if dirty_columns
            else pl.lit(False)
        )
        needs = set(dirty_columns) | unfit
        frame = frame.select(
            *(_prepared(c, frame.schema[c.name], c.name in needs) for c in resolved),
            dirty.alias(DIRTY),
            *(pl.col(t) for t in dict.fromkeys(targets) if t not in order),
        )
        dirty_rows = int(frame[DIRTY].sum()) if frame.height else 0
        if dirty_rows and flag_column is not None:
            flag = pl.col(flag_column)
            said = pl.concat_str([flag.fill_null(""), pl.lit(" " + REPLACED_NOTE)])
            frame = frame.with_columns(
                pl.when(pl.col(DIRTY)).then(said).otherwise(flag).alias(flag_column)
            )
        elif dirty_rows:
            note = f"{note} " if note else ""
            note += f"{dirty_rows:,} row{'s' if dirty_rows != 1 else ''}: {REPLACED_NOTE}"
        table = Table(frame, resolved, title, note, freeze, key_columns, empty, flag_column)
        table.bands = list(bands)
        previous = self.blocks[-1] if self.blocks else None
        if (
            title
            and previous is not None
            and not (isinstance(previous, _Text) and previous.kind in ("blank", "heading"))
        ):
            self.blank()  # a titled table stands apart from what is above it
        self.blocks.append(table)
        return table

    def chart(
        self,
        table: Table,
        *,
        categories: str,
        values: Sequence[str],
        title: str | None = None,
        kind: Literal["col", "bar"] = "col",
        stacked: bool = False,
        percent: bool = False,
        x_title: str | None = None,
        y_title: str | None = None,
        width: float = 16.0,
        height: float = 7.5,
        highlight: str | None = None,
        below: bool = False,
    ) -> None:
        """A bar chart of ``table`` beside it: ``categories`` down one axis, a series per
        column of ``values``, over exactly the table's rows. Its title is the table's.
        ``highlight`` (one series only) names a yes/no column the table shows: the bars of
        its rows that say yes are dark, the others grey (say so in the table's note).
        ``below`` puts the chart under the table rather than beside it (for a wide table)."""
        chart_title = title or table.title
        if not chart_title or chart_title != table.title:
            raise ValueError("a chart has its table's title, so that the two are read together")
        for name in (categories, *values, *([highlight] if highlight else [])):
            table.column_index(name)  # KeyError for a column the table does not show
        if highlight is not None and (
            len(values) != 1 or table.frame.schema[highlight] != pl.Boolean
        ):
            raise ValueError("highlight: one series, and a yes/no (Boolean) column")
        if kind == "bar":  # room for every category's label, one under another
            height = max(height, 2.5 + 0.8 * table.rows)
            width = max(width, 20.0)
        table.charts.append(
            _Chart(
                table,
                chart_title,
                categories,
                list(values),
                kind,
                stacked,
                percent,
                x_title,
                y_title,
                width,
                height,
                highlight,
                below,
            )
        )


def _default_format(name: str, dtype: pl.DataType) -> str | None:
    if "(£)" in name and dtype.is_numeric():
        return MONEY
    if dtype.is_integer():
        return COUNT
    if dtype.is_float():
        return DECIMAL
    if dtype == pl.Date:
        return DATE
    if isinstance(dtype, pl.Datetime):
        return DATETIME
    return None


def _resolve(frame: pl.DataFrame, name: str, spec: Column | str) -> _Col:
    column = Column(format=spec) if isinstance(spec, str) else spec
    dtype = frame.schema[name]
    fmt = column.format or _default_format(name, dtype)
    kind: Kind
    if dtype == pl.Boolean:
        kind = "bool"
    elif dtype.is_numeric():
        kind = "number"
    elif dtype == pl.Date:
        kind = "date"
    elif isinstance(dtype, pl.Datetime):
        kind = "datetime"
    elif fmt in DATE_FORMATS:
        kind = "date_text"
    else:
        kind = "text"
        fmt = None
    return _Col(name, clean_text(column.header or name), kind, fmt, column)


def _text_of(dtype: pl.DataType, name: str) -> pl.Expr:
    """A column as text (a list's items joined), before cleaning."""
    expr = pl.col(name)
    if isinstance(dtype, pl.List):
        return expr.list.join(", ")
    return expr if dtype == pl.String else expr.cast(pl.String)


def _prepared(col: _Col, dtype: pl.DataType, clean: bool) -> pl.Expr:
    """The column as the writer takes it: text as text (cleaned where ``clean``: see
    :func:`clean_expr`), NaN and infinities blank."""
    if col.kind in ("text", "date_text"):
        text = _text_of(dtype, col.name)
        return (clean_expr(text) if clean else text).alias(col.name)
    expr = pl.col(col.name)
    if col.kind == "number" and dtype.is_float():
        return pl.when(expr.is_finite()).then(expr).alias(col.name)
    return expr


# --- the book -------------------------------------------------------------------------------


class Book:
    """The sheets of one workbook, written whole or not at all by :meth:`save`."""

    def __init__(self, title: str, creator: str) -> None:
        self.title = title
        self.creator = creator
        self.sheets: list[Sheet] = []

    def sheet(self, name: str, *, gridlines: bool = True, tab_color: str | None = None) -> Sheet:
        sheet = Sheet(name, gridlines=gridlines, tab_color=tab_color)
        self.sheets.append(sheet)
        return sheet

    def save(self, path: str | Path) -> Path:
        """Write the workbook to ``path`` through a temporary file renamed into place."""
        return write_atomic_with(Path(path), self.write_to)

    def write_to(self, target: Path) -> None:
        """Write the workbook to ``target`` (not atomically: :meth:`save` is)."""
        wb = Workbook()
        wb.remove(wb.active)
        wb.properties.creator = clean_text(self.creator)
        wb.properties.title = clean_text(self.title)
        layouts: list[_Layout] = []
        styles: _Styles | None = None
        names = _TableNames()
        for sheet in self.sheets:
            ws = wb.create_sheet(sheet.name)
            styles = styles or _Styles(ws)
            layouts.append(_Layout(sheet, ws, styles, names))
        # The frame has no rows (a few kB): kept in memory, so there is no second file to
        # clean up whatever happens.
        frame = io.BytesIO()
        wb.save(frame)
        parts = {f"xl/worksheets/sheet{i}.xml": lay for i, lay in enumerate(layouts, 1)}
        _splice(frame, target, parts)


class _TableNames:
    """Excel table names: unique in the workbook, made of letters, digits and _."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def new(self, hint: str) -> str:
        base = "t_" + (re.sub(r"[^A-Za-z0-9]+", "_", hint).strip("_")[:40] or "table")
        name, n = base, 1
        while name.casefold() in self.used:
            n += 1
            name = f"{base}_{n}"
        self.used.add(name.casefold())
        return name


class _Styles:
    """Cell style ids (``s="…"`` in the sheet XML), registered with openpyxl's workbook so
    that its styles part holds them."""

    def __init__(self, ws: Worksheet) -> None:
        self.ws = ws
        self.cache: dict[tuple[object, ...], int] = {}
        self.border = Border(*(Side(style="thin", color="BFBFBF"),) * 4)
        self.fonts = {
            "body": Font(name=FONT, size=11),
            "bold": Font(name=FONT, size=11, bold=True),
            "title": Font(name=FONT, size=16, bold=True, color="1F3864"),
            "heading": Font(name=FONT, size=12, bold=True, color="1F3864"),
            "note": Font(name=FONT, size=11, italic=True, color="595959"),
            "link": Font(name=FONT, size=11, underline="single", color="0563C1"),
        }

    def id(
        self,
        *,
        font: str = "body",
        fill: str | None = None,
        number_format: str | None = None,
        wrap: bool = False,
        horizontal: str | None = None,
        vertical: str = "top",
        border: bool = False,
    ) -> int:
        key = (font, fill, number_format, wrap, horizontal, vertical, border)
        if key not in self.cache:
            cell = WriteOnlyCell(self.ws)
            cell.font = self.fonts[font]
            if fill:
                cell.fill = PatternFill("solid", fgColor=FILLS.get(fill, fill))
            if number_format:
                cell.number_format = number_format
            cell.alignment = Alignment(wrap_text=wrap, horizontal=horizontal, vertical=vertical)
            if border:
                cell.border = self.border
            self.cache[key] = cell.style_id
        return self.cache[key]


# --- layout ---------------------------------------------------------------------------------


#: Characters by how wide they are next to a digit of Calibri (Excel's width unit): most
#: letters about 0.95, capitals and a few symbols 1.1, r s t f / - ( ) about 0.7, and
#: i l j . , : ; ' ! | and the space about 0.45 (from Calibri's advance widths), all taken
#: 5% wider: measured on LibreOffice's rendering (Carlito, Calibri's metrics), where text
#: wrapped about that much sooner than these widths alone say.
_WIDE = r"[A-Z_#%&@=+mwMW£]"
_MEDIUM = r"[rstf/()\[\]\-]"
_NARROW = r"[ .,;:'!|ilIj]"
_WIDE_RE, _MEDIUM_RE, _NARROW_RE = re.compile(_WIDE), re.compile(_MEDIUM), re.compile(_NARROW)
#: Width lost on each line of wrapped text: the cell's margins, and the part of a word that
#: did not fit on the line before.
_LINE_LOSS = 4.0
#: Bold text is this much wider.
BOLD_WIDTH = 1.08
#: Excel's tallest row, in points, and as many lines.
MAX_ROW_HEIGHT = 409.0
MAX_LINES = math.ceil(MAX_ROW_HEIGHT / 15.0)


def text_units(text: str) -> float:
    """How wide ``text`` is in Excel's width unit (estimated by kind of character)."""
    wide = len(_WIDE_RE.findall(text))
    medium = len(_MEDIUM_RE.findall(text))
    narrow = len(_NARROW_RE.findall(text))
    return len(text) * 1.0 + wide * 0.16 - medium * 0.26 - narrow * 0.53


def text_units_expr(expr: pl.Expr) -> pl.Expr:
    """:func:`text_units` of each value of a text column."""
    wide = expr.str.count_matches(_WIDE)
    medium = expr.str.count_matches(_MEDIUM)
    narrow = expr.str.count_matches(_NARROW)
    return expr.str.len_chars() * 1.0 + wide * 0.16 - medium * 0.26 - narrow * 0.53


def _lines(text: str, width: float) -> int:
    """Lines ``text`` takes wrapped in a column ``width`` wide (greedy, word by word)."""
    per_line = max(1.0, width - 1.5)
    space = text_units(" ")
    total = 0
    for paragraph in text.split("\n"):
        line, count = 0.0, 1
        for word in paragraph.split(" "):
            units = text_units(word)
            if line == 0 or line + space + units <= per_line:
                line = units if line == 0 else line + space + units
                while line > per_line:  # a word longer than the line breaks anywhere
                    count += 1
                    line -= per_line
            else:
                count += 1
                line = units
        total += count
    return max(1, total)


def _lines_expr(expr: pl.Expr, width: float) -> pl.Expr:
    """About :func:`_lines` for a text column, vectorised (words are not followed: each line
    is taken to lose ``_LINE_LOSS`` to the word that did not fit)."""
    per_line = max(1.0, width - _LINE_LOSS)
    units = text_units_expr(expr).fill_null(0)
    breaks = expr.str.count_matches("\n", literal=True).fill_null(0)
    lines = (units / per_line).ceil().cast(pl.Int64) + breaks
    return lines.clip(lower_bound=1)


def _value_width(frame: pl.DataFrame, col: _Col) -> float:
    """How wide a column of numbers, dates or yes/no is once formatted, in characters."""
    if frame.height == 0:
        return 0.0
    series = frame[col.name]
    if col.kind == "bool":
        return 3.0
    if col.kind in ("date", "datetime") or col.format in DATE_FORMATS:
        return {DATE: 10.0, MONTH: 8.0, DATETIME: 19.0}.get(col.format or DATE, 10.0)
    if col.format == PERCENT or col.spec.rag:
        return 6.0
    biggest, lowest = series.abs().max(), series.min()
    if not isinstance(biggest, int | float):  # no value (or not a number)
        return 1.0
    digits = len(str(int(biggest)))
    commas = (digits - 1) // 3 if col.format and "," in col.format else 0
    decimals = 3 if col.format and ".00" in col.format else 0
    money = 1 if col.format and "£" in col.format else 0
    negative = 1 if isinstance(lowest, int | float) and lowest < 0 else 0
    return float(digits + commas + decimals + money + negative)


def _header_width(header: str) -> float:
    """The width a (bold) header asks for: its longest word, and up to ``HEADER_WIDTH`` more
    before it wraps."""
    longest_word = max((text_units(w) for w in header.split()), default=0.0)
    return max(longest_word, min(text_units(header), HEADER_WIDTH)) * BOLD_WIDTH


def _fit(table: Table) -> None:
    """Each column's width: fitted to the header and values, or as the column says."""
    texts = [c.name for c in table.columns if c.kind in ("text", "date_text")]
    widest = (
        table.frame.select(
            text_units_expr(pl.col(t).unique(maintain_order=True)).max().alias(t) for t in texts
        ).row(0, named=True)
        if texts and table.frame.height
        else {}
    )
    for col in table.columns:
        if col.kind in ("text", "date_text"):
            col.natural = float(widest.get(col.name) or 0.0)
            if col.kind == "date_text":
                col.natural = max(col.natural, 10.0)
        else:
            col.natural = _value_width(table.frame, col)
        if col.spec.width is not None:
            col.width = col.spec.width
        else:
            need = max(col.natural, _header_width(col.header)) + 2.5
            col.width = min(max(need, MIN_COLUMN_WIDTH), MAX_COLUMN_WIDTH)


def _wraps(col: _Col) -> bool:
    """Whether a column's cells wrap at its (final) width."""
    return col.spec.wrap or (col.kind == "text" and col.natural + 1.5 > col.width)


class _Layout:
    """One sheet laid out: the openpyxl frame set up on ``ws`` now, rows written later by
    :meth:`chunks` (after openpyxl has saved the workbook)."""

    def __init__(self, sheet: Sheet, ws: Worksheet, styles: _Styles, names: _TableNames):
        self.sheet, self.ws, self.styles = sheet, ws, styles
        tables = [b for b in sheet.blocks if isinstance(b, Table)]
        for table in tables:
            _fit(table)
        widths: dict[int, float] = {}
        for table in tables:
            for i, col in enumerate(table.columns):
                at = table.first_column + i
                widths[at] = max(widths.get(at, 0.0), col.width)
        facts = [f for b in sheet.blocks if isinstance(b, _Facts) for f in b.facts]
        if facts:
            widths[1] = max(
                widths.get(1, 0.0), max(text_units(f.label) for f in facts) * BOLD_WIDTH + 2
            )
            # Column B holds every number and date, and short text, whole; longer text is
            # merged across the sheet's width (see _set_up).
            short = [
                text_units(_fact_text(f)) * BOLD_WIDTH + 2
                for f in facts
                if not isinstance(f.value, str) or len(f.value) <= FACT_WIDTH
            ]
            widths[2] = max(widths.get(2, 0.0), *short, MIN_COLUMN_WIDTH)
        widths.update(sheet.widths)
        if not widths:
            widths[1] = 80.0
        self.last_column = max(max(widths), 2 if facts else 1)
        for at in range(1, self.last_column + 1):
            widths.setdefault(at, MIN_COLUMN_WIDTH + 4)
        self.widths = widths
        self.links: list[str] = []
        for table in tables:  # every column as wide as the sheet's column it is in
            for i, col in enumerate(table.columns):
                col.width = widths[table.first_column + i]
                col.wrap = _wraps(col)
            self._count_lines(table)
        self.full_width = sum(widths.values())
        self.value_width = self.full_width - widths[1]
        self._place()
        self._set_up(names)
        self._build()

    # rows
    def _place(self) -> None:
        """Row numbers of every block, top to bottom; a charted table keeps the rows its chart
        needs below it free."""
        row = 1
        self.rows: list[tuple[Block, int]] = []
        for block in self.sheet.blocks:
            self.rows.append((block, row))
            if isinstance(block, _Text):
                row += 1
            elif isinstance(block, _Facts):
                row += len(block.facts)
            else:
                start = row
                if block.title:
                    block.title_row = row
                    row += 1
                if block.note:
                    row += 1
                if block.bands:
                    row += 1
                block.header_row = row
                block.first_row = row + 1
                block.last_row = row + max(block.rows, 1)
                row = block.last_row + 1
                beside = [c for c in block.charts if not c.below]
                if beside:
                    needed = max(_cm_to_points(c.height) for c in beside)
                    have = self._points(block, start)
                    row += max(0, math.ceil((needed - have) / LINE_HEIGHT) + 1)
                for chart in (c for c in block.charts if c.below and block.rows):
                    chart.row = row + 1
                    row += math.ceil(_cm_to_points(chart.height) / LINE_HEIGHT) + 2
        #: The used range, for the sheet's dimension (readers such as openpyxl's read-only
        #: mode and pandas read only that far).
        self.dimension = f"A1:{get_column_letter(self.last_column)}{max(1, row - 1)}"

    def _points(self, table: Table, start: int) -> float:
        """The height in points of the rows of ``table`` from ``start`` (its title)."""
        body = table.frame.height * LINE_HEIGHT
        if LINES in table.frame.columns:
            body = float(table.frame[LINES].clip(upper_bound=MAX_LINES).sum()) * LINE_HEIGHT
        note = _lines(table.note, self.full_width) * LINE_HEIGHT if table.note else 0.0
        header = self._header_lines(table) * LINE_HEIGHT
        bands = self._band_lines(table) * LINE_HEIGHT if table.bands else 0.0
        return (LINE_HEIGHT if table.title else 0.0) + note + bands + header + body

    @staticmethod
    def _count_lines(table: Table) -> None:
        """How many lines each row's wrapped text takes (``LINES``), worked out once per
        distinct value of each wrapped column (advice repeats on every row of its check)."""
        wrapped = [c for c in table.columns if c.wrap and c.kind == "text"]
        if not wrapped or not table.frame.height:
            return
        per_column = []
        for col in wrapped:
            distinct = table.frame.select(pl.col(col.name).unique().drop_nulls())
            lines = distinct.select(_lines_expr(pl.col(col.name), col.width))
            per_column.append(
                pl.col(col.name).replace_strict(
                    distinct[col.name], lines.to_series(), default=1, return_dtype=pl.Int64
                )
            )
        table.frame = table.frame.with_columns(pl.max_horizontal(per_column).alias(LINES))

    @staticmethod
    def _header_lines(table: Table) -> int:
        return max((_lines(c.header, c.width / BOLD_WIDTH) for c in table.columns), default=1)

    @staticmethod
    def _band_span(table: Table, first: str, last: str) -> tuple[int, int]:
        return table.column_index(first), table.column_index(last)

    def _band_lines(self, table: Table) -> int:
        """Lines of the tallest band label, wrapped across its columns."""
        lines = 1
        for label, first, last in table.bands:
            start, end = self._band_span(table, first, last)
            span = sum(self.widths[c] for c in range(start, end + 1))
            lines = max(lines, _lines(label, span / BOLD_WIDTH))
        return lines

    # the openpyxl frame
    def _set_up(self, names: _TableNames) -> None:
        ws, sheet = self.ws, self.sheet
        for at, width in self.widths.items():
            ws.column_dimensions[get_column_letter(at)].width = round(width, 1)
        ws.sheet_view.showGridLines = sheet.gridlines
        if sheet.tab_color:
            ws.sheet_properties.tabColor = FILLS.get(sheet.tab_color, sheet.tab_color)
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.page_margins.left = ws.page_margins.right = 0.4
        ws.page_margins.top = ws.page_margins.bottom = 0.5
        last = get_column_letter(self.last_column)
        frozen = False
        for block, row in self.rows:
            if isinstance(block, _Text) and block.kind in ("note", "text", "strong", "subtitle"):
                if self.last_column > 1:
                    ws.merged_cells.add(f"A{row}:{last}{row}")
            elif isinstance(block, _Facts):
                for i, fact in enumerate(block.facts):
                    if self._spread(fact):
                        ws.merged_cells.add(f"B{row + i}:{last}{row + i}")
            elif isinstance(block, Table):
                if block.note and self.last_column > 1:
                    note_row = block.header_row - (2 if block.bands else 1)
                    ws.merged_cells.add(f"A{note_row}:{last}{note_row}")
                for _label, first_name, last_name in block.bands:
                    start, end = self._band_span(block, first_name, last_name)
                    if end > start:
                        band_row = block.header_row - 1
                        ws.merged_cells.add(
                            f"{get_column_letter(start)}{band_row}:{get_column_letter(end)}{band_row}"
                        )
                first = get_column_letter(block.first_column)
                end = get_column_letter(block.last_column)
                if not block.rows and block.last_column > block.first_column:
                    ws.merged_cells.add(f"{first}{block.first_row}:{end}{block.first_row}")
                if block.rows:
                    ref = f"{first}{block.header_row}:{end}{block.last_row}"
                    excel = ExcelTable(
                        displayName=names.new(block.title or sheet.name),
                        ref=ref,
                        autoFilter=AutoFilter(ref=ref),
                        tableColumns=[
                            TableColumn(id=i, name=c.header) for i, c in enumerate(block.columns, 1)
                        ],
                    )
                    with warnings.catch_warnings():  # "you must add table columns manually"
                        warnings.simplefilter("ignore", UserWarning)
                        ws.add_table(excel)
                if block.freeze and not frozen:
                    frozen = True
                    column = get_column_letter(block.first_column + block.key_columns)
                    ws.freeze_panes = f"{column}{block.header_row + 1}"
                    top = block.header_row - (1 if block.bands else 0)
                    ws.print_title_rows = f"{top}:{block.header_row}"
                for chart in block.charts:
                    self._chart(chart)
                self._links(block)
        if not frozen:  # no table header to keep: keep the title in view
            ws.freeze_panes = "A2"

    def _spread(self, fact: Fact) -> bool:
        """Whether a fact's value is merged across the sheet (text too long for column B)."""
        text = _fact_text(fact)
        return (
            isinstance(fact.value, str | None)
            and self.last_column > 2
            and text_units(text) * BOLD_WIDTH + 2 > self.widths[2]
        )

    def _links(self, table: Table) -> None:
        """Links from a column of sheet names to those sheets, and from cells whose row has a
        ``Column.target`` (written into the sheet's XML by :func:`_splice`: openpyxl only
        writes the links of cells it wrote itself)."""
        for i, col in enumerate(table.columns):
            letter = get_column_letter(table.first_column + i)
            if col.spec.target and table.rows:
                # Built by Polars: a list of findings can link thousands of rows.
                escaped = _escape(pl.col(col.spec.target)).str.replace_all('"', "&quot;")
                self.links.extend(
                    table.frame.select(
                        pl.concat_str(
                            [
                                pl.lit(f'<hyperlink ref="{letter}'),
                                (pl.int_range(pl.len()) + table.first_row).cast(pl.String),
                                pl.lit('" location="'),
                                escaped,
                                pl.lit('"/>'),
                            ]
                        ).alias("link")
                    )
                    .drop_nulls()
                    .to_series()
                    .to_list()
                )
            if not col.spec.link:
                continue
            for n, name in enumerate(table.frame[col.name].to_list()):  # a few sheet names
                if name:
                    location = _escape_text(f"{quote_sheetname(name)}!A1").replace('"', "&quot;")
                    self.links.append(
                        f'<hyperlink ref="{letter}{table.first_row + n}" location="{location}"/>'
                    )

    def _chart(self, chart: _Chart) -> None:
        table = chart.table
        if not table.rows:
            return
        bar = BarChart()
        bar.type = chart.kind
        bar.title = chart.title
        bar.width, bar.height = chart.width, chart.height
        bar.style = 10
        if chart.stacked:
            bar.grouping = "stacked"
            bar.overlap = 100
        bar.gapWidth = 60

        def column(name: str, first_row: int) -> Reference:
            """One column of the table, from ``first_row`` to its last row."""
            at = table.column_index(name)
            return Reference(
                self.ws, min_col=at, max_col=at, min_row=first_row, max_row=table.last_row
            )

        for name in chart.values:  # each series named by its header
            bar.add_data(column(name, table.header_row), titles_from_data=True)
        if chart.highlight is not None:
            series = bar.series[0]
            series.graphicalProperties.solidFill = UNHIGHLIGHTED
            for idx, lit in enumerate(table.frame[chart.highlight].to_list()):  # a few bars
                if lit:
                    point = DataPoint(idx=idx)
                    point.graphicalProperties.solidFill = HIGHLIGHT
                    series.dPt.append(point)
        bar.set_categories(column(chart.categories, table.first_row))
        bar.x_axis.title = chart.x_title
        bar.y_axis.title = chart.y_title
        bar.x_axis.delete = False
        bar.y_axis.delete = False
        if chart.kind == "bar":
            # The table's order from the top, and the value axis kept at the bottom.
            bar.x_axis.scaling.orientation = "maxMin"
            bar.y_axis.crosses = "max"
        if chart.percent:
            bar.y_axis.scaling.min = 0
            bar.y_axis.scaling.max = 1
            bar.y_axis.numFmt = "0%"
            bar.y_axis.number_format = "0%"
        if len(chart.values) == 1:
            bar.legend = None
        else:
            bar.legend.position = "b"
        if chart.below:
            anchor = f"{get_column_letter(table.first_column)}{chart.row}"
        else:
            anchor = (
                f"{get_column_letter(table.last_column + 2)}{table.title_row or table.header_row}"
            )
        self.ws.add_chart(bar, anchor)

    # the rows, as sheet XML
    def _build(self) -> None:
        """Every row's XML, or for a table's body the expression that builds it: made now,
        before openpyxl saves the workbook, so that every style the rows use is registered."""
        self.pieces: list[str | tuple[Table, pl.Expr]] = []
        for block, row in self.rows:
            if isinstance(block, _Text):
                self.pieces.append(self._text_row(block, row))
            elif isinstance(block, _Facts):
                self.pieces.extend(self._fact_row(f, row + i) for i, f in enumerate(block.facts))
            else:
                self.pieces.extend(self._table_head(block))
                if block.rows:
                    self.pieces.append((block, self._rows_xml(block)))

    def chunks(self) -> Iterator[str]:
        """The sheet's rows as XML, a table's body built by Polars in batches."""
        for piece in self.pieces:
            if isinstance(piece, str):
                yield piece
                continue
            table, expr = piece
            for start in range(0, table.rows, XML_BATCH):
                batch = table.frame.slice(start, XML_BATCH).with_columns(
                    pl.int_range(pl.len(), dtype=pl.Int64).add(table.first_row + start).alias(ROW)
                )
                yield batch.select(expr).item()

    def _text_row(self, block: _Text, row: int) -> str:
        s = self.styles
        if block.kind == "blank":
            return ""
        text = clean_text(block.text)
        if block.kind == "title":
            return _row(row, [(1, text, s.id(font="title", vertical="center"))], TITLE_HEIGHT)
        if block.kind == "heading":
            return _row(row, [(1, text, s.id(font="heading", vertical="bottom"))], 21.0)
        font = {"strong": "bold", "text": "body"}.get(block.kind, "note")
        style = s.id(font=font, wrap=True)
        return _row(row, [(1, text, style)], self._height(text, self.full_width))

    def _height(self, text: str, width: float) -> float | None:
        lines = _lines(text, width)
        return min(lines * LINE_HEIGHT, MAX_ROW_HEIGHT) if lines > 1 else None

    def _fact_row(self, fact: Fact, row: int) -> str:
        s = self.styles
        label = (1, clean_text(fact.label), s.id(font="bold" if fact.bold else "body"))
        value = fact.value
        font = "bold" if fact.bold else "body"
        if value is None:
            value = fact.missing
        if isinstance(value, str):
            text = clean_text(value)
            if text != value and needs_cleaning(value):
                text += f" ({REPLACED_NOTE})"
            style = s.id(font=font, fill=fact.fill, wrap=True, horizontal="left")
            width = self.value_width if self._spread(fact) else self.widths[2]
            height = self._height(text, width)
            return _row(row, [label, (2, text, style)], height)
        style = s.id(font=font, fill=fact.fill, number_format=fact.format, horizontal="left")
        return _row(row, [label, (2, value, style)], None)

    def _table_head(self, table: Table) -> Iterator[str]:
        """The title, note and header rows of a table (or its only row when it is empty)."""
        s = self.styles
        if table.title:
            yield _row(table.title_row, [(1, clean_text(table.title), s.id(font="heading"))], 21.0)
        if table.note:
            text = clean_text(table.note)
            style = s.id(font="note", wrap=True)
            note_row = table.header_row - (2 if table.bands else 1)
            yield _row(note_row, [(1, text, style)], self._height(text, self.full_width))
        if table.bands:
            style = s.id(font="bold", fill="band", wrap=True, border=True, horizontal="center")
            cells: list[tuple[int, object, int]] = []
            for label, first, last in table.bands:
                start, end = self._band_span(table, first, last)
                cells.append((start, clean_text(label), style))
                # The merged cells' borders and fill (a merged range shows its first cell's
                # text and each cell's own border).
                cells.extend((c, None, style) for c in range(start + 1, end + 1))
            lines = self._band_lines(table)
            yield _row(table.header_row - 1, cells, lines * LINE_HEIGHT if lines > 1 else None)
        header = []
        for i, col in enumerate(table.columns):
            right = col.kind == "number"
            style = s.id(
                font="bold",
                fill="header",
                wrap=True,
                border=True,
                vertical="center",
                horizontal=col.spec.align or ("right" if right else "left"),
            )
            header.append((table.first_column + i, col.header, style))
        lines = self._header_lines(table)
        yield _row(table.header_row, header, lines * LINE_HEIGHT if lines > 1 else None)
        if not table.rows:
            style = s.id(font="note", border=True)
            yield _row(table.first_row, [(table.first_column, clean_text(table.empty), style)])
            return

    def _rows_xml(self, table: Table) -> pl.Expr:
        """The table's rows as sheet XML, one string per batch (Polars expressions, no Python
        per row); ``ROW`` is each row's number on the sheet."""
        row = pl.col(ROW).cast(pl.String)
        cells = []
        for i, col in enumerate(table.columns):
            letter = get_column_letter(table.first_column + i)
            cells.append(self._cell_expr(col, letter, row, pl.col(col.name)))
        if LINES in table.frame.columns:
            lines = pl.col(LINES)
            height = (lines * LINE_HEIGHT).clip(upper_bound=MAX_ROW_HEIGHT).cast(pl.String)
            open_row = (
                pl.when(lines > 1)
                .then(
                    pl.concat_str(
                        [
                            pl.lit('<row r="'),
                            row,
                            pl.lit('" ht="'),
                            height,
                            pl.lit('" customHeight="1">'),
                        ]
                    )
                )
                .otherwise(pl.concat_str([pl.lit('<row r="'), row, pl.lit('">')]))
            )
        else:
            open_row = pl.concat_str([pl.lit('<row r="'), row, pl.lit('">')])
        return pl.concat_str([open_row, *cells, pl.lit("</row>")]).str.join("")

    def _cell_expr(self, col: _Col, letter: str, row: pl.Expr, value: pl.Expr) -> pl.Expr:
        s = self.styles
        wrap = col.wrap and col.kind == "text"
        horizontal = col.spec.align
        font = "link" if col.spec.link else "body"

        def style_id(font: str = "body", fill: str | None = None, fmt: str | None = None) -> int:
            """The cell style of this column with a font, fill and number format."""
            return s.id(
                font=font,
                fill=fill,
                number_format=fmt,
                border=True,
                wrap=wrap,
                horizontal=horizontal,
            )

        style: pl.Expr = pl.lit(style_id(font, fmt=col.format))
        if col.spec.target:  # link style where the row has a link
            linked = style_id("link", fmt=col.format)
            style = (
                pl.when(pl.col(col.spec.target).is_not_null()).then(pl.lit(linked)).otherwise(style)
            )
        if col.spec.rag:
            green, amber = RAG_THRESHOLDS
            ids = {f: style_id(fill=f, fmt=col.format) for f in ("green", "amber", "red")}
            style = (
                pl.when(value >= green)
                .then(pl.lit(ids["green"]))
                .when(value >= amber)
                .then(pl.lit(ids["amber"]))
                .when(value.is_not_null())
                .then(pl.lit(ids["red"]))
                .otherwise(style)
            )
        if col.spec.fills:
            shown = (
                pl.when(value).then(pl.lit("Yes")).otherwise(pl.lit("No"))
                if col.kind == "bool"
                else value
            )
            for label, fill in col.spec.fills.items():
                style = (
                    pl.when(shown == label)
                    .then(pl.lit(style_id(fill=fill, fmt=col.format)))
                    .otherwise(style)
                )
        ref = pl.concat_str(
            [pl.lit(f'<c r="{letter}'), row, pl.lit('" s="'), style.cast(pl.String)]
        )
        empty = pl.concat_str([ref, pl.lit('"/>')])

        def text_cell(text: pl.Expr) -> pl.Expr:
            return pl.concat_str(
                [
                    ref,
                    pl.lit('" t="inlineStr"><is><t xml:space="preserve">'),
                    _escape(text),
                    pl.lit("</t></is></c>"),
                ]
            )

        def number_cell(number: pl.Expr) -> pl.Expr:
            return pl.concat_str([ref, pl.lit('"><v>'), number, pl.lit("</v></c>")])

        if col.kind == "text":
            return pl.when(value.is_null() | (value == "")).then(empty).otherwise(text_cell(value))
        if col.kind == "bool":
            yes_no = pl.when(value).then(pl.lit("Yes")).otherwise(pl.lit("No"))
            return pl.when(value.is_null()).then(empty).otherwise(text_cell(yes_no))
        if col.kind == "number":
            return (
                pl.when(value.is_null()).then(empty).otherwise(number_cell(value.cast(pl.String)))
            )
        if col.kind in ("date", "date_text"):
            date = parse_date(value) if col.kind == "date_text" else value
            serial = (date - pl.lit(_EPOCH)).dt.total_days()
            as_date = number_cell(serial.cast(pl.String))
            text = value if col.kind == "date_text" else value.dt.strftime("%d/%m/%Y")
            text_style = pl.lit(style_id()).cast(pl.String)
            as_text = pl.concat_str(
                [
                    pl.lit(f'<c r="{letter}'),
                    row,
                    pl.lit('" s="'),
                    text_style,
                    pl.lit('" t="inlineStr"><is><t xml:space="preserve">'),
                    _escape(text),
                    pl.lit("</t></is></c>"),
                ]
            )
            return (
                pl.when(value.is_null() | (value.cast(pl.String) == ""))
                .then(empty)
                .when(date >= pl.lit(_FIRST_DATE))
                .then(as_date)
                .otherwise(as_text)
            )
        # datetime
        micros = (value - pl.lit(datetime.datetime(1899, 12, 30))).dt.total_microseconds()
        return (
            pl.when(value.is_null())
            .then(empty)
            .otherwise(number_cell((micros / 86_400_000_000).cast(pl.String)))
        )


#: Excel's day 0 (its serial dates count from here, its 1900 leap-year bug included).
_EPOCH = datetime.date(1899, 12, 30)
#: Before this the serial is off by Excel's 1900 leap-year bug: earlier dates are shown as text.
_FIRST_DATE = datetime.date(1900, 3, 1)


def _cm_to_points(cm: float) -> float:
    return cm / 2.54 * 72


def _fact_text(fact: Fact) -> str:
    value = fact.value
    if value is None:
        return fact.missing
    if isinstance(value, datetime.datetime):
        return "00/00/0000 00:00:00"
    if isinstance(value, datetime.date):
        return "00/00/0000"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _row(row: int, cells: Sequence[tuple[int, object, int]], height: float | None = None) -> str:
    """One row of sheet XML from Python values (titles, notes, facts: a few per sheet)."""
    attrs = f' ht="{height:g}" customHeight="1"' if height else ""
    out = [f'<row r="{row}"{attrs}>']
    for column, value, style in cells:
        ref = f"{get_column_letter(column)}{row}"
        if value is None:
            out.append(f'<c r="{ref}" s="{style}"/>')
        elif isinstance(value, bool):
            text = "Yes" if value else "No"
            out.append(f'<c r="{ref}" s="{style}" t="inlineStr"><is><t>{text}</t></is></c>')
        elif isinstance(value, int | float):
            if isinstance(value, float) and not math.isfinite(value):
                out.append(f'<c r="{ref}" s="{style}"/>')
            else:
                out.append(f'<c r="{ref}" s="{style}"><v>{value!r}</v></c>')
        elif isinstance(value, datetime.datetime):
            serial = (value - datetime.datetime(1899, 12, 30)).total_seconds() / 86_400
            out.append(f'<c r="{ref}" s="{style}"><v>{serial!r}</v></c>')
        elif isinstance(value, datetime.date):
            out.append(f'<c r="{ref}" s="{style}"><v>{(value - _EPOCH).days}</v></c>')
        else:
            text = _escape_text(clean_text(str(value)))
            out.append(
                f'<c r="{ref}" s="{style}" t="inlineStr"><is><t xml:space="preserve">{text}'
                "</t></is></c>"
            )
    out.append("</row>")
    return "".join(out)


_DIMENSION = re.compile(r"<dimension [^>]*/>")
_AFTER_HYPERLINKS = re.compile(r"<(printOptions|pageMargins|pageSetup|headerFooter|drawing)\b")
_EMPTY_SHEET_DATA = re.compile(r"<sheetData\s*/>|<sheetData>\s*</sheetData>")


def _splice(saved: io.BytesIO, target: Path, parts: Mapping[str, _Layout]) -> None:
    """Copy the workbook openpyxl saved to ``target`` with each sheet's rows written in."""
    with (
        zipfile.ZipFile(saved) as source,
        # Fast deflate: level 1 packs this repetitive XML nearly as small as the default
        # level, in a third of the time.
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out,
    ):
        for info in source.infolist():
            layout = parts.get(info.filename)
            if layout is None:
                out.writestr(info, source.read(info.filename))
                continue
            xml = source.read(info.filename).decode("utf-8")
            xml = _DIMENSION.sub(f'<dimension ref="{layout.dimension}"/>', xml, count=1)
            if layout.links:
                # Hyperlinks go after the merged cells and before the print settings.
                at = _AFTER_HYPERLINKS.search(xml)
                if at is None:
                    raise ValueError(f"{info.filename}: nowhere to put the links")
                links = "<hyperlinks>" + "".join(layout.links) + "</hyperlinks>"
                xml = xml[: at.start()] + links + xml[at.start() :]
            found = _EMPTY_SHEET_DATA.search(xml)
            if found is None:
                raise ValueError(f"{info.filename}: no empty sheetData to write the rows into")
            with out.open(info.filename, "w", force_zip64=True) as sink:
                sink.write(xml[: found.start()].encode("utf-8"))
                sink.write(b"<sheetData>")
                for chunk in layout.chunks():
                    sink.write(chunk.encode("utf-8"))
                sink.write(b"</sheetData>")
                sink.write(xml[found.end() :].encode("utf-8"))
