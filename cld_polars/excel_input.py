"""Reading a return kept in an Excel workbook (``.xlsx``, ``.xlsm``).

Returns are often kept in Excel, or pasted into a council's template, before they are saved
as CSV for the Data Landing Portal. The workbook is read as the CSV saved from it would be:
the sheet whose header row holds the specification's column names, every cell as text.
Excel stores dates as numbers shown through a format, so a date cell is converted to
``dd/mm/yyyy`` and reported (``XLSX_DATES_CONVERTED``): the CSV that Excel writes shows each
date in its cell's display format, which may not be the ``dd/mm/yyyy`` the DLP needs.

openpyxl hands over one cell at a time, so this is the one place where Python loops over the
rows of a return; the sheet is streamed (``read_only``) and the values go into Polars once.
Line numbers are Excel's row numbers, so an analyst finds the row in the sheet.
"""

from __future__ import annotations

import datetime as dt
import warnings
from pathlib import Path

import polars as pl

from cld_polars.checks.context import LINE
from cld_polars.checks.filerules import RULES
from cld_polars.checks.registry import FileFinding
from cld_polars.reader import (
    ReturnReadError,
    ReturnSource,
    _head,
    header_hits,
    match_header,
    not_text,
    one_line,
)
from cld_polars.spec import Spec

#: The header row is looked for in this many first rows of each sheet (a template's title
#: rows come above it).
HEADER_SEARCH_ROWS = 20


def read_workbook(path: Path, spec: Spec) -> ReturnSource:
    """Open the sheet of a workbook that holds the return, every cell as text."""
    if not _head(path, 4).startswith(b"PK\x03\x04"):
        problem = not_text(path)
        if problem is None:
            raise ReturnReadError(
                f"{path}: is a text file, not an Excel workbook, despite its name. "
                "Name it .csv to check it."
            )
        raise ReturnReadError(
            f"{path}: is {problem[0]}, not an Excel workbook (.xlsx). {problem[1]}"
        )
    # Imported here: only workbooks need openpyxl, and it takes a moment to load.
    import openpyxl

    try:
        with warnings.catch_warnings():
            # openpyxl warns about workbook features it ignores (data validation, styles).
            warnings.simplefilter("ignore")
            book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a damaged workbook fails in zipfile, zlib, XML or openpyxl
        raise ReturnReadError(
            f"{path}: is not a readable Excel workbook ({one_line(exc)}). "
            "Open it in Excel and save it again, or save the return as CSV."
        ) from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _read_sheet(path, book, spec)
    except ReturnReadError:
        raise
    except Exception as exc:  # the sheet's XML is read as it streams: damage shows here
        raise ReturnReadError(
            f"{path}: the workbook could not be read ({one_line(exc)}). "
            "Open it in Excel and save it again, or save the return as CSV."
        ) from exc
    finally:
        book.close()


def _find_header(book: object, spec: Spec) -> tuple[object, int, list[str]] | None:
    """The sheet, row and names of the row that holds the most specification names."""
    best: tuple[int, object, int, list[str]] | None = None
    for sheet in book.worksheets:  # type: ignore[attr-defined]
        rows = sheet.iter_rows(min_row=1, max_row=HEADER_SEARCH_ROWS, values_only=True)
        for number, row in enumerate(rows, start=1):
            names = [_header_text(v) for v in row]
            while names and not names[-1].strip():
                names.pop()
            hits = header_hits(names, spec)
            filled = sum(1 for n in names if n.strip())
            # Mostly names: a data row can hold a value that reads like a column name.
            if hits and 2 * hits >= filled and (best is None or hits > best[0]):
                best = (hits, sheet, number, names)
    return None if best is None else best[1:]


def _header_text(value: object) -> str:
    return "" if value is None else str(value).strip("\ufeff")


def _read_sheet(path: Path, book: object, spec: Spec) -> ReturnSource:
    found = _find_header(book, spec)
    if found is None:
        sheets = ", ".join(f"'{s}'" for s in book.sheetnames)  # type: ignore[attr-defined]
        raise ReturnReadError(
            f"{path}: no sheet holds the Release 2 column names in its first "
            f"{HEADER_SEARCH_ROWS} rows (sheets: {sheets}). Put the header row (LA Code, "
            "Reporting Period Start Date, ...) above the data, or save the return as CSV."
        )
    sheet, header_row, names = found
    width = len(names)
    mapping, header_findings = match_header(names, spec, line=header_row)
    findings: list[FileFinding] = [
        RULES["FILE_NOT_CSV"].finding(
            kind=f"an Excel workbook (sheet '{sheet.title}', header row {header_row})"  # type: ignore[attr-defined]
        )
    ]
    if header_row > 1:
        findings.append(
            RULES["HEADER_NOT_FIRST"].finding(
                line=header_row, header=header_row, count=header_row - 1
            )
        )
    findings.extend(header_findings)

    records: list[list[str | None]] = []
    lines: list[int] = []
    blank_rows: list[int] = []
    dates = 0
    first_date: tuple[int, int] | None = None
    rows = sheet.iter_rows(min_row=header_row + 1, values_only=True)  # type: ignore[attr-defined]
    for number, row in enumerate(rows, start=header_row + 1):
        values: list[str | None] = []
        for column, value in enumerate(row[:width]):
            if isinstance(value, dt.date | dt.datetime):
                dates += 1
                first_date = first_date or (number, column)
            values.append(_cell_text(value))
        if not any(v is not None and v.strip() for v in values):
            blank_rows.append(number)
            continue
        values.extend([None] * (width - len(values)))
        records.append(values)
        lines.append(number)
    last = lines[-1] if lines else header_row
    blank = [n for n in blank_rows if n < last]  # empty rows below the data are not lines
    if blank:
        findings.append(RULES["BLANK_LINES"].finding(count=len(blank), first=blank[0]))
    if first_date is not None:
        row_number, column = first_date
        name = names[column] or f"column {column + 1}"
        findings.append(
            RULES["XLSX_DATES_CONVERTED"].finding(field=name, count=dates, first=row_number)
        )
    if not records:
        findings.append(RULES["FILE_HEADER_ONLY"].finding())

    positional = [f"__c{i}" for i in range(width)]
    data = pl.DataFrame(
        records, schema={c: pl.String for c in positional}, orient="row"
    ).with_columns(pl.Series(LINE, lines, dtype=pl.Int64))
    by_field = {target: f"__c{i}" for i, target in mapping.items()}
    columns = [
        (pl.col(by_field[f]) if f in by_field else pl.lit(None, dtype=pl.String)).alias(f)
        for f in spec.header
    ]
    frame = data.lazy().select(LINE, *columns)
    return ReturnSource(
        path, frame, names, frozenset(mapping.values()), findings, "n/a", len(records)
    )


def _cell_text(value: object) -> str | None:
    """A cell's value as the text Excel would write for it in 'General' format.

    Dates become dd/mm/yyyy (with the time where there is one, so that the date checks flag
    it as the time stamp it is); whole numbers lose Excel's '.0'; other numbers keep up to 15
    significant digits, as Excel shows them.
    """
    if value is None or isinstance(value, str):
        return value or None  # an empty cell, as the CSV scan reads an empty field
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.strftime("%d/%m/%Y")
        return value.strftime("%d/%m/%Y %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    return str(value)
