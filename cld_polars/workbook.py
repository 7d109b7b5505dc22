"""The Excel workbook: an AGEM-style validation report plus the summary counts.

Why this exists: analysts know the AGEM Excel tool (flagged records, data items to address,
basic summary statistics). This writes the workbook they would want instead, from a
:class:`~cld_polars.report.Report`, with openpyxl in write-only mode (rows are streamed to the
file, so a sheet of a million findings does not sit in memory as cell objects).

Sheets, in order: ``Summary`` (the return, the run, the verdict and what to fix first),
``Field validity by module`` (the central data-quality report's per-field measures with
red/amber/green by % valid), ``Rule errors`` (one row per check that fired), ``Rows to fix``
(one row per finding, in line order) and ``Summary counts`` (the tables of
:mod:`cld_polars.summary`, with a chart of events by month).

Two rules hold for every cell:

* Values from the return are always text. openpyxl writes a string starting with ``=`` as a
  formula and one equal to an Excel error code (``#N/A``) as an error, so such values are
  written as explicit string cells (``data_type = "s"``); a return holding
  ``=HYPERLINK(...)`` can never put a live formula in the analyst's workbook. Control
  characters that XML cannot hold (``openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE``) are replaced
  by U+FFFD rather than crashing the write.
* Counts are numbers (int), percentages are fractions with a ``%`` number format, money has a
  ``£`` format, dates are dates.

The workbook is written to a temporary file beside the target and renamed into place when it
is complete (``report.write_atomic_with``), so a failure leaves no half-written file.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from cld_polars import __version__
from cld_polars.report import write_atomic_with
from cld_polars.spec import MODULES
from cld_polars.summary import TABLES

if TYPE_CHECKING:
    from cld_polars.report import Report

#: Excel's rows per sheet (2**20).
EXCEL_MAX_ROWS = 1_048_576
#: Rows above the findings on the Rows to fix sheet: the notice and the header.
ROWS_TO_FIX_TOP_ROWS = 2
#: The most findings one Rows to fix sheet can hold; the rest go to a file beside the workbook.
MAX_FINDING_ROWS = EXCEL_MAX_ROWS - ROWS_TO_FIX_TOP_ROWS
#: % valid at or above the first is green, at or above the second amber, below it red.
RAG_THRESHOLDS = (0.95, 0.80)
#: Column widths follow the longest value (in characters), within these bounds.
MIN_COLUMN_WIDTH, MAX_COLUMN_WIDTH = 8, 60
#: Rules listed under "What to fix first" on the Summary sheet.
FIX_FIRST = 10

SHEETS = (
    "Summary",
    "Field validity by module",
    "Rule errors",
    "Rows to fix",
    "Summary counts",
)

_BOLD = Font(bold=True)
_TITLE = Font(bold=True, size=14)
_ITALIC = Font(italic=True, color="555555")
_HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")
_GREEN = PatternFill("solid", fgColor="C6EFCE")
_AMBER = PatternFill("solid", fgColor="FFEB9C")
_RED = PatternFill("solid", fgColor="FFC7CE")
_WRAP = Alignment(wrap_text=True, vertical="top")
_PERCENT = "0.0%"
_MONEY = "£#,##0.00"
_DATE = "DD/MM/YYYY"
_DATETIME = "DD/MM/YYYY HH:MM:SS"
_COUNT = "#,##0"
#: The same control characters as openpyxl's ILLEGAL_CHARACTERS_RE, for Polars' regex engine.
_ILLEGAL_PATTERN = r"[\x00-\x08\x0b\x0c\x0e-\x1f]"
_REPLACEMENT = "\ufffd"


@dataclass(frozen=True)
class WorkbookResult:
    """What was written: the workbook, how many findings it lists of how many, and the file
    that holds them all when the Rows to fix sheet could not (else ``None``)."""

    path: Path
    findings: int
    findings_written: int
    overflow: Path | None = None

    @property
    def findings_left_out(self) -> int:
        return self.findings - self.findings_written


# --- cells --------------------------------------------------------------------------------


def _needs_string_cell(value: str) -> bool:
    """Would openpyxl write this text as something other than text (a formula, an error)?"""
    return (len(value) > 1 and value.startswith("=")) or value in ERROR_CODES


def text_cell(ws: WriteOnlyWorksheet, value: str) -> Cell:
    """An explicit string cell: openpyxl infers a formula from a leading '='; setting the data
    type after the value makes the writer emit the text as an inline string."""
    cell = WriteOnlyCell(ws, value=ILLEGAL_CHARACTERS_RE.sub(_REPLACEMENT, value))
    cell.data_type = "s"
    return cell


def _value(ws: WriteOnlyWorksheet, value: object) -> object:
    """A value ready for ``ws.append``: text made safe, everything else as it is."""
    if isinstance(value, str):
        if _needs_string_cell(value):
            return text_cell(ws, value)
        if ILLEGAL_CHARACTERS_RE.search(value):
            return ILLEGAL_CHARACTERS_RE.sub(_REPLACEMENT, value)
    return value


def _styled(
    ws: WriteOnlyWorksheet,
    value: object,
    *,
    font: Font | None = None,
    fill: PatternFill | None = None,
    number_format: str | None = None,
    alignment: Alignment | None = None,
) -> Cell:
    if isinstance(value, str):
        cell = text_cell(ws, value)
    else:
        cell = WriteOnlyCell(ws, value=value)
    if font is not None:
        cell.font = font
    if fill is not None:
        cell.fill = fill
    if number_format is not None:
        cell.number_format = number_format
    if alignment is not None:
        cell.alignment = alignment
    return cell


def _header(ws: WriteOnlyWorksheet, names: Iterable[str]) -> list[Cell]:
    return [_styled(ws, n, font=_BOLD, fill=_HEADER_FILL, alignment=_WRAP) for n in names]


def _number_format(column: str, dtype: pl.DataType) -> str | None:
    if "(£)" in column:
        return _MONEY
    if dtype.is_integer():
        return _COUNT
    if dtype == pl.Date:
        return _DATE
    return None


def rag_fill(fraction: float | None) -> PatternFill | None:
    """Green, amber or red by ``RAG_THRESHOLDS``; no colour where there is nothing to judge."""
    if fraction is None:
        return None
    green, amber = RAG_THRESHOLDS
    return _GREEN if fraction >= green else _AMBER if fraction >= amber else _RED


def _widths(ws: WriteOnlyWorksheet, widths: Sequence[float]) -> None:
    """Column widths; write-only sheets take them only before the first row is written."""
    for i, width in enumerate(widths, 1):
        bounded = max(MIN_COLUMN_WIDTH, min(MAX_COLUMN_WIDTH, width + 2))
        ws.column_dimensions[get_column_letter(i)].width = bounded


def _frame_widths(frame: pl.DataFrame, headers: Sequence[str] | None = None) -> list[float]:
    """The longest text of each column (header included), measured by Polars, not a loop."""
    headers = list(headers or frame.columns)
    if frame.height == 0:
        return [float(len(h)) for h in headers]
    longest = frame.select(
        pl.col(c).cast(pl.String).str.len_chars().max().fill_null(0) for c in frame.columns
    ).row(0)
    return [float(max(len(h), n)) for h, n in zip(headers, longest, strict=True)]


def _table_rows(ws: WriteOnlyWorksheet, frame: pl.DataFrame) -> Iterator[list[object]]:
    """The rows of a small frame as cells: formats by column, text made safe."""
    formats = [_number_format(c, frame.schema[c]) for c in frame.columns]
    for row in frame.iter_rows():
        out: list[object] = []
        for value, fmt in zip(row, formats, strict=True):
            if fmt is not None and value is not None:
                out.append(_styled(ws, value, number_format=fmt))
            else:
                out.append(_value(ws, value))
        yield out


def _freeze(ws: WriteOnlyWorksheet, header_row: int, columns: int = 0) -> None:
    """Keep the rows down to the header (and ``columns`` columns) in view. Write-only sheets
    write their view with the first row, so this must come before any ``append``."""
    ws.freeze_panes = f"{get_column_letter(columns + 1)}{header_row + 1}"


def _filter(ws: WriteOnlyWorksheet, header_row: int, columns: int, last_row: int) -> None:
    """An autofilter on the header row over the table (written with the sheet's tail)."""
    ws.auto_filter.ref = f"A{header_row}:{get_column_letter(columns)}{max(last_row, header_row)}"


# --- sheets -------------------------------------------------------------------------------


def _summary_sheet(
    wb: Workbook, report: Report, tables: dict[str, pl.DataFrame], result: WorkbookResult
) -> None:
    ws = wb.create_sheet("Summary")
    _widths(ws, [34, 40, 14, 30, 100])
    _freeze(ws, 1)
    overview = tables["overview"].row(0, named=True) if tables["overview"].height else {}

    def title(text: str) -> None:
        ws.append([])
        ws.append([_styled(ws, text, font=_BOLD)])

    def fact(label: str, value: object, number_format: str | None = None) -> None:
        cell = _styled(ws, value, number_format=number_format) if value is not None else None
        ws.append([label, cell if cell is not None else "(not known)"])

    ws.append([_styled(ws, "CLD validation report", font=_TITLE)])
    ws.append(
        [
            _styled(
                ws,
                "Adult Social Care Client Level Data, Release 2: what the validator found and "
                "the counts to sense-check. Start with the verdict and 'What to fix first'.",
                font=_ITALIC,
            )
        ]
    )
    title("The return")
    fact("File", report.file)
    fact("LA Code", overview.get("LA Code"))
    fact("Council", overview.get("Council") or "(not a listed council code)")
    fact("Reporting period start", overview.get("Reporting Period Start Date"), _DATE)
    fact("Reporting period end", overview.get("Reporting Period End Date"), _DATE)
    fact("Rows", report.rows, _COUNT)
    fact("People (distinct LA Person Unique Identifiers)", overview.get("People"), _COUNT)
    fact("Events", overview.get("Events"), _COUNT)
    for row in tables["events_by_type"].iter_rows(named=True):
        label = row["Event Type"]
        name = "Rows without an event" if label == "(blank)" else f"  {label}"
        fact(name, row["Rows"], _COUNT)

    title("The run")
    fact("Tool", f"cld_polars {__version__}")
    fact("Specification", f"CLD Release {report.release} (DHSC guidance, January 2025)")
    fact("Validated at", report.validated_at.replace(microsecond=0), _DATETIME)
    fact("Validation took (seconds)", round(report.seconds, 2), "0.00")
    fact("Encoding", report.encoding)
    fact("Checks run", len(report.checks), _COUNT)
    if report.skipped_checks:
        fact("Checks skipped (column missing)", ", ".join(report.skipped_checks))

    title("The verdict")
    failed = bool(report.exit_code)
    ws.append(
        [
            "Result",
            _styled(
                ws,
                "FAIL: errors to fix" if failed else "PASS: no errors",
                font=_BOLD,
                fill=_RED if failed else _GREEN,
            ),
        ]
    )
    fact("Rows with at least one error", report.errors, _COUNT)
    fact("Rows with at least one warning", report.warnings, _COUNT)
    ws.append([])
    ws.append(_header(ws, ["Severity", "Checks fired", "Rows affected", "Findings", ""]))
    by_severity = dict(report.findings.group_by("severity").len().collect().iter_rows())
    fired = dict(report.rules.group_by("severity").len().iter_rows())
    file_counts = {
        sev: sum(1 for f in report.file_findings if f.severity == sev)
        for sev in ("error", "warning")
    }
    rows_by_severity = {"error": report.errors, "warning": report.warnings}
    for sev in ("error", "warning"):
        ws.append(
            [
                sev,
                _styled(ws, int(fired.get(sev, 0)), number_format=_COUNT),
                _styled(ws, int(rows_by_severity[sev]), number_format=_COUNT),
                _styled(ws, int(by_severity.get(sev, 0)), number_format=_COUNT),
                f"and {file_counts[sev]} file-level" if file_counts[sev] else None,
            ]
        )

    title("File-level findings (fix these first)")
    if report.file_findings:
        ws.append(_header(ws, ["Severity", "Code", "Line", "Field", "Message"]))
        for f in report.file_findings:
            ws.append([f.severity, f.code, f.line, _value(ws, f.field), _value(ws, f.message)])
    else:
        ws.append(["None: the file's encoding, header and structure are as the DLP expects."])

    title("What to fix first")
    if report.rules.height:
        ws.append(["File-level errors first, then the checks that affect the most rows:"])
        ws.append(_header(ws, ["Severity", "Check", "Rows affected", "Fields", "What to do"]))
        for rule in report.rules.head(FIX_FIRST).iter_rows(named=True):
            ws.append(
                [
                    rule["severity"],
                    rule["code"],
                    _styled(ws, int(rule["rows"]), number_format=_COUNT),
                    ", ".join(rule["fields"]) or "whole row",
                    _value(ws, rule["message"]),
                ]
            )
        if report.rules.height > FIX_FIRST:
            ws.append(
                [f"... and {report.rules.height - FIX_FIRST} more checks on the Rule errors sheet."]
            )
    else:
        ws.append(["No row-level findings."])

    title("Rows to fix")
    ws.append([_rows_to_fix_notice(result)])


def _rows_to_fix_notice(result: WorkbookResult) -> str:
    if not result.findings:
        return "No findings: there are no rows to fix."
    if result.overflow is None:
        return (
            f"All {result.findings:,} findings are on the Rows to fix sheet, one row per "
            "(row, check), in line order."
        )
    return (
        f"The first {result.findings_written:,} of {result.findings:,} findings (in line order) "
        f"are on the Rows to fix sheet: {result.findings_left_out:,} were left out because an "
        f"Excel sheet holds at most {EXCEL_MAX_ROWS:,} rows. The full list is in "
        f"{result.overflow.name}, beside this workbook."
    )


_VALIDITY_COLUMNS = {
    "module": "Module",
    "field": "Field",
    "mandatory_rows": "Rows where mandatory",
    "optional_rows": "Rows where optional",
    "not_applicable_rows": "Rows where not applicable",
    "valid": "Valid",
    "blank_optional": "Blank where optional",
    "blank_mandatory": "Blank where mandatory",
    "invalid": "Invalid",
    "release1": "Release 1 value",
    "near_miss": "Near miss",
    "given_not_applicable": "Given where not applicable",
    "pct_valid": "% valid",
    "errors": "Rows with errors",
    "warnings": "Rows with warnings",
    "present": "Column in the return",
}


def _validity_sheet(wb: Workbook, report: Report) -> None:
    ws = wb.create_sheet("Field validity by module")
    order = {m: i for i, m in enumerate(MODULES)}
    frame = (
        report.fields.with_columns(
            pl.col("module").replace_strict(order, default=len(order)).alias("__order")
        )
        .sort("__order", maintain_order=True)
        .select(list(_VALIDITY_COLUMNS))
    )
    headers = list(_VALIDITY_COLUMNS.values())
    widths = _frame_widths(frame.with_columns(pl.col("present").cast(pl.String)), headers)
    widths = [min(w, 16) if i >= 2 else w for i, w in enumerate(widths)]  # wrapped headers
    _widths(ws, widths)
    _freeze(ws, 2, columns=2)
    green, amber = RAG_THRESHOLDS
    ws.append(
        [
            _styled(
                ws,
                "% valid = valid / (rows where mandatory + rows where optional - blank where "
                f"optional). Green: {green:.0%} or more; amber: {amber:.0%} to under "
                f"{green:.0%}; red: under {amber:.0%}; no colour: no rows to judge.",
                font=_ITALIC,
            )
        ]
    )
    ws.append(_header(ws, headers))
    pct_at = list(_VALIDITY_COLUMNS).index("pct_valid")
    present_at = list(_VALIDITY_COLUMNS).index("present")
    for row in frame.iter_rows():
        cells: list[object] = []
        for i, value in enumerate(row):
            if i == pct_at:
                cells.append(
                    _styled(ws, value, number_format=_PERCENT, fill=rag_fill(value))
                    if value is not None
                    else None
                )
            elif i == present_at:
                cells.append("Yes" if value else "No")
            elif isinstance(value, int):
                cells.append(_styled(ws, value, number_format=_COUNT))
            else:
                cells.append(_value(ws, value))
        ws.append(cells)
    _filter(ws, 2, len(headers), 2 + frame.height)


def _rules_sheet(wb: Workbook, report: Report) -> None:
    ws = wb.create_sheet("Rule errors")
    headers = [
        "Code",
        "Severity",
        "Scope",
        "Fields",
        "Rows affected",
        "Message",
        "Guidance section",
        "Category",
    ]
    file_rows = pl.DataFrame(
        {
            "Code": [f.code for f in report.file_findings],
            "Severity": [f.severity for f in report.file_findings],
            "Scope": ["file"] * len(report.file_findings),
            "Fields": [f.field or "" for f in report.file_findings],
            "Rows affected": [None] * len(report.file_findings),
            "Message": [f.message for f in report.file_findings],
            "Guidance section": ["Data Landing Portal file rules"] * len(report.file_findings),
            "Category": ["file"] * len(report.file_findings),
        },
        schema=dict.fromkeys(headers, pl.String) | {"Rows affected": pl.Int64},
    )
    rule_rows = report.rules.select(
        pl.col("code").alias("Code"),
        pl.col("severity").alias("Severity"),
        pl.lit("rows").alias("Scope"),
        pl.col("fields").list.join(", ").alias("Fields"),
        pl.col("rows").cast(pl.Int64).alias("Rows affected"),
        pl.col("message").alias("Message"),
        pl.col("guidance").alias("Guidance section"),
        pl.col("category").alias("Category"),
    )
    frame = pl.concat([file_rows, rule_rows], how="vertical")
    _widths(ws, _frame_widths(frame))
    _freeze(ws, 1)
    ws.append(_header(ws, headers))
    for row in _table_rows(ws, frame):
        ws.append(row)
    _filter(ws, 1, len(headers), 1 + frame.height)


FINDINGS_SHEET = "Rows to fix"
_FINDING_COLUMNS = {
    "line": "Line",
    "person_id": "LA Person Unique Identifier",
    "event_reference": "Event Reference",
    "event_type": "Event Type",
    "field": "Field",
    "value": "Value",
    "severity": "Severity",
    "code": "Check",
    "what": "What is wrong",
    "suggestion": "Suggested value",
}


def _findings_frame(report: Report, limit: int) -> pl.DataFrame:
    """The first ``limit`` findings in line order, with the rule's message and text made safe
    in Polars (control characters replaced)."""
    messages = report.rules.select("code", pl.col("message").alias("what"))
    text = [c for c in _FINDING_COLUMNS if c != "line"]
    return (
        report.findings.sort("line", maintain_order=True)
        .head(limit)
        .join(messages.lazy(), on="code", how="left", maintain_order="left")
        .select(list(_FINDING_COLUMNS))
        .with_columns(pl.col(text).str.replace_all(_ILLEGAL_PATTERN, _REPLACEMENT))
        .collect()
    )


#: The Rows to fix sheet's first data row (under the notice and the header).
_FIRST_FINDING_ROW = 3
#: Findings turned into sheet XML at a time (a few MB of text each).
_XML_BATCH = 50_000


def _findings_sheet(wb: Workbook, frame: pl.DataFrame, result: WorkbookResult) -> None:
    """The notice and header of Rows to fix; its rows are added by :func:`_add_finding_rows`
    once openpyxl has saved the workbook."""
    ws = wb.create_sheet(FINDINGS_SHEET)
    headers = list(_FINDING_COLUMNS.values())
    _widths(ws, _frame_widths(frame, headers))
    _freeze(ws, 2)
    ws.append([_styled(ws, _rows_to_fix_notice(result), font=_BOLD if result.overflow else None)])
    ws.append(_header(ws, headers))
    _filter(ws, 2, len(headers), _FIRST_FINDING_ROW - 1 + frame.height)


def _rows_xml(frame: pl.DataFrame, first_row: int) -> pl.Series:
    """Each finding as a sheet row in SpreadsheetML, built by Polars expressions.

    Why not openpyxl: it writes about 10,000 rows a second, a cell at a time; a return with
    hundreds of thousands of findings spent minutes here. Every text value is an inline
    string (never a formula or an error value, whatever it starts with), escaped for XML;
    the line is a number; a null is an absent cell.
    """
    row = pl.int_range(first_row, first_row + pl.len(), dtype=pl.Int64).cast(pl.String)
    cells = []
    for i, name in enumerate(_FINDING_COLUMNS, 1):
        ref = pl.concat_str([pl.lit(f'<c r="{get_column_letter(i)}'), row])
        value = pl.col(name).cast(pl.String)
        if frame.schema[name].is_numeric():
            cell = pl.concat_str([ref, pl.lit('"><v>'), value, pl.lit("</v></c>")])
        else:
            escaped = (
                value.str.replace_all("&", "&amp;", literal=True)
                .str.replace_all("<", "&lt;", literal=True)
                .str.replace_all(">", "&gt;", literal=True)
            )
            cell = pl.concat_str(
                [
                    ref,
                    pl.lit('" t="inlineStr"><is><t xml:space="preserve">'),
                    escaped,
                    pl.lit("</t></is></c>"),
                ]
            )
        cells.append(cell.fill_null(""))
    xml = pl.concat_str([pl.lit('<row r="'), row, pl.lit('">'), *cells, pl.lit("</row>")])
    return frame.select(xml.alias("xml")).to_series()


def _add_finding_rows(saved: Path, target: Path, sheet: int, frame: pl.DataFrame) -> None:
    """Copy the workbook openpyxl saved to ``target``, with the findings' rows written into
    the Rows to fix sheet (the ``sheet``-th worksheet) as they are turned into XML."""
    part = f"xl/worksheets/sheet{sheet}.xml"
    with (
        zipfile.ZipFile(saved) as source,
        # Fast deflate for the rows, most of the file: level 1 packs this repetitive XML
        # nearly as small as the default level, in a third of the time.
        zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as out,
    ):
        for info in source.infolist():
            if info.filename != part:
                out.writestr(info, source.read(info.filename))
                continue
            xml = source.read(part).decode("utf-8")
            head, closing, tail = xml.partition("</sheetData>")
            if not closing:
                raise ValueError(f"{part}: no sheetData to add the findings to")
            with out.open(part, "w", force_zip64=True) as sink:
                sink.write(head.encode("utf-8"))
                for start in range(0, frame.height, _XML_BATCH):
                    rows = _rows_xml(frame.slice(start, _XML_BATCH), _FIRST_FINDING_ROW + start)
                    sink.write(rows.str.join("").item().encode("utf-8"))
                sink.write((closing + tail).encode("utf-8"))


def _counts_sheet(wb: Workbook, tables: dict[str, pl.DataFrame]) -> None:
    ws = wb.create_sheet("Summary counts")
    shown = [(name, tables[name]) for name in TABLES if name in tables]
    columns = max((t.width for _, t in shown), default=1)
    widths = [10.0] * columns
    for _, table in shown:
        for i, w in enumerate(_frame_widths(table)):
            widths[i] = max(widths[i], w)
    widths[0] = min(widths[0], MAX_COLUMN_WIDTH)
    _widths(ws, widths)
    _freeze(ws, 1)
    ws.append(
        [
            _styled(
                ws,
                "Sense-check counts from the return as read. Defined-list values are counted "
                "only where valid; '(blank)' and '(not valid)' rows hold the rest, so every "
                "table adds up.",
                font=_ITALIC,
            )
        ]
    )
    row = 1
    chart_at: tuple[int, int, int] | None = None  # header row, last month row, series
    for name, table in shown:
        info = TABLES[name]
        ws.append([])
        ws.append([_styled(ws, info.title, font=_BOLD)])
        ws.append([_styled(ws, info.note, font=_ITALIC)])
        header_row = row + 3
        ws.append(_header(ws, table.columns))
        for cells in _table_rows(ws, table):
            ws.append(cells)
        if name == "events_by_month":
            months = table.filter(pl.col("Month").str.contains(r"^\d{4}-\d{2}$")).height
            series = len([c for c in table.columns if c not in ("Month", "Events")])
            if months:
                chart_at = (header_row, header_row + months, series)
        row = header_row + table.height
    if chart_at is not None:
        header_row, last_row, series = chart_at
        chart = BarChart()
        chart.type = "col"
        chart.grouping = "stacked"
        chart.overlap = 100
        chart.title = "Events by month of end date"
        chart.y_axis.title = "Events"
        chart.x_axis.title = "Month"
        chart.width, chart.height = 24, 12
        data = Reference(ws, min_col=2, max_col=1 + series, min_row=header_row, max_row=last_row)
        chart.add_data(data, titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=header_row + 1, max_row=last_row))
        ws.add_chart(chart, f"{get_column_letter(columns + 2)}{header_row}")


# --- the workbook -------------------------------------------------------------------------


def _discard(wb: Workbook) -> None:
    """Close and delete the temporary files that write-only sheets stream their rows into.

    Why: a failed write must leave nothing behind; openpyxl only removes them at interpreter
    exit, which for a long-running notebook or service may be days away.
    """
    for ws in wb.worksheets:
        writer = getattr(ws, "_writer", None)
        if writer is None:
            continue
        rows = getattr(ws, "_rows", None)
        for step in (rows.close if rows is not None else None, writer.close, writer.cleanup):
            if step is not None:
                with suppress(Exception):
                    step()


def overflow_path(path: Path, suffix: str = ".csv") -> Path:
    """Where the full list of findings goes when the sheet cannot hold it."""
    return path.with_name(f"{path.stem}_findings{suffix}")


def write_workbook(
    report: Report,
    path: str | os.PathLike[str],
    *,
    max_rows: int = MAX_FINDING_ROWS,
    overflow_format: str = "csv",
) -> WorkbookResult:
    """Write the workbook for ``report`` to ``path`` (whole, or not at all).

    When there are more findings than ``max_rows`` (default: as many as a sheet holds), the
    first ``max_rows`` in line order go on the Rows to fix sheet and every finding is written
    beside the workbook as ``<stem>_findings.csv`` (or ``.parquet``); the sheet and Summary
    say so. Tests pass a small ``max_rows`` to exercise that for real.
    """
    if max_rows < 0:
        raise ValueError("max_rows must be 0 or more")
    if overflow_format not in ("csv", "parquet"):
        raise ValueError("overflow_format must be 'csv' or 'parquet'")
    target = Path(path)
    tables = report.summary
    total = report.findings.select(pl.len()).collect().item()
    frame = _findings_frame(report, max_rows)
    overflow = overflow_path(target, f".{overflow_format}") if total > max_rows else None
    result = WorkbookResult(target, total, frame.height, overflow)

    def write(tmp: Path) -> None:
        wb = Workbook(write_only=True)
        wb.properties.creator = f"cld_polars {__version__}"
        wb.properties.title = f"CLD validation report: {Path(report.file).name}"
        saved = tmp.with_name(tmp.name + ".openpyxl")
        try:
            _summary_sheet(wb, report, tables, result)
            _validity_sheet(wb, report)
            _rules_sheet(wb, report)
            _findings_sheet(wb, frame, result)
            _counts_sheet(wb, tables)
            sheet = wb.sheetnames.index(FINDINGS_SHEET) + 1
            wb.save(saved)
            _add_finding_rows(saved, tmp, sheet, frame)
        except BaseException:
            _discard(wb)
            raise
        finally:
            saved.unlink(missing_ok=True)

    if overflow is not None:
        report.write_findings(overflow)
    try:
        write_atomic_with(target, write)
    except BaseException:
        if overflow is not None:
            overflow.unlink(missing_ok=True)
        raise
    return result
