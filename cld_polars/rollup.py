"""The national roll-up: every council's return in one table, for a central data-quality team.

Why this exists: the central team receives about 150 returns a quarter. One workbook per
return answers a council's question ("what do we fix?"); the team's question is across
councils ("which councils have poor Ethnicity, who still sends Release 1 values, whose return
could not be read at all?"). That needs councils as rows and fields as columns.

What it is built from: each return's *counts* (:func:`return_counts`), a few kilobytes taken
from the report where it was validated (a worker process or a Dask worker) and sent back or
recorded beside the outputs, never the returns themselves. So the roll-up costs nothing
next to the validation, and a run that skips up-to-date returns still has their counts.

Two files, written whole or not at all, next to ``index.json``:

* ``national.parquet``: one row per return. Lead columns (council, period, status, reason it
  could not be read, rows, people, rows with errors and warnings), then per field
  ``pct_valid: <field>``, ``errors: <field>``, ``release1: <field>`` (the measures of
  ``Report.fields``), then ``rule: <code>`` rows affected per check that fired anywhere.
* ``national.xlsx``: the same, a sheet per measure (Councils, % valid by field, Errors by
  field, Release 1 values, Rule counts, Not read), in the style of the per-return workbook.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cld_polars.report import write_atomic_with
from cld_polars.spec import load_spec

if TYPE_CHECKING:
    from openpyxl.worksheet._write_only import WriteOnlyWorksheet

    from cld_polars.batch import BatchResult
    from cld_polars.report import Report

#: One return's counts: ``{"rows", "people", "fields": {field: {...}}, "rules": {code: {...}}}``
#: (plain JSON, so it can be recorded on disk and sent between processes as it is).
Counts = dict[str, Any]

ROLLUP_STEM = "national"
#: The per-field measures of the roll-up: column of ``Report.fields``, then its sheet's name.
FIELD_MEASURES = (
    ("pct_valid", "% valid by field"),
    ("errors", "Errors by field"),
    ("release1", "Release 1 values"),
)
#: Per-field numbers kept in the counts (``warnings`` and ``valid`` for notebooks).
FIELD_COUNTS = ("errors", "warnings", "valid", "release1", "pct_valid")
#: The lead columns of the roll-up, from the index line and the counts.
LEAD = {
    "council_code": pl.String,
    "council_name": pl.String,
    "stem": pl.String,
    "file": pl.String,
    "status": pl.String,
    "message": pl.String,
    "skipped": pl.Boolean,
    "period_start": pl.String,
    "period_end": pl.String,
    "rows": pl.Int64,
    "people": pl.Int64,
    "errors": pl.Int64,
    "warnings": pl.Int64,
    "file_errors": pl.Int64,
}
CHECKED = ("pass", "fail")


def return_counts(report: Report) -> Counts:
    """The small per-field and per-rule counts of one return, as plain JSON values.

    People come from the summary's overview (distinct LA Person Unique Identifiers), the same
    figure as the workbook's; when the workbook is written too the summary is computed once
    for both (``Report.summary`` is cached).
    """
    fields = report.fields.select(
        "field", *FIELD_COUNTS[:-1], pl.col("pct_valid").fill_nan(None)
    ).to_dicts()
    rules = report.rules.select("code", "severity", "rows").to_dicts()
    overview = report.summary["overview"]
    people = overview["People"][0] if overview.height and "People" in overview.columns else None
    return {
        "rows": report.rows,
        "people": None if people is None else int(people),
        "fields": {f["field"]: {k: f[k] for k in FIELD_COUNTS} for f in fields},
        "rules": {r["code"]: {"severity": r["severity"], "rows": r["rows"]} for r in rules},
    }


def _field_order(counts: Sequence[Counts]) -> list[str]:
    """The specification's order, then any other field a return's counts name."""
    order = list(load_spec().header)
    known = set(order)
    for c in counts:
        for name in c["fields"]:
            if name not in known:
                known.add(name)
                order.append(name)
    return order


def rule_severities(counts: Sequence[Counts]) -> dict[str, str]:
    """Every check that fired in any return, by code, with its severity (errors first)."""
    found: dict[str, str] = {}
    for c in counts:
        for code, rule in c["rules"].items():
            found.setdefault(code, rule["severity"])
    return dict(sorted(found.items(), key=lambda item: (item[1] != "error", item[0])))


def rollup_frame(results: Sequence[BatchResult], counts: Mapping[str, Counts]) -> pl.DataFrame:
    """One row per return (councils by LA Code, then file), the columns of the module doc.

    A return without counts (unreadable, crashed, or checked by an older run whose record is
    gone) has its lead columns and nulls elsewhere.
    """
    present = [counts[r.stem] for r in results if r.stem in counts]
    fields = _field_order(present)
    rules = rule_severities(present)
    columns: dict[str, list[object]] = {name: [] for name in LEAD}
    for measure, _ in FIELD_MEASURES:
        for name in fields:
            columns[f"{measure}: {name}"] = []
    for code in rules:
        columns[f"rule: {code}"] = []
    for result in results:  # one iteration per return, not per row of a return
        own = counts.get(result.stem)
        record = result.as_dict()
        for name in LEAD:
            columns[name].append(record.get(name))
        if own is not None:
            columns["rows"][-1] = own["rows"]
            columns["people"][-1] = own["people"]
        for measure, _ in FIELD_MEASURES:
            for name in fields:
                value = own["fields"].get(name, {}).get(measure) if own else None
                columns[f"{measure}: {name}"].append(value)
        for code in rules:
            rule = own["rules"].get(code) if own else None
            columns[f"rule: {code}"].append(rule["rows"] if rule else (0 if own else None))
    schema: dict[str, pl.DataType] = {}
    for name in columns:
        if name in LEAD:
            schema[name] = LEAD[name]
        elif name.startswith("pct_valid: "):
            schema[name] = pl.Float64()
        else:
            schema[name] = pl.Int64()
    frame = pl.DataFrame(columns, schema=schema)
    return frame.sort("council_code", "file", nulls_last=True, maintain_order=True)


def write_rollup(
    out_dir: Path, results: Sequence[BatchResult], counts: Mapping[str, Counts]
) -> tuple[Path, Path]:
    """``national.parquet`` and ``national.xlsx`` in ``out_dir``, each written whole."""
    frame = rollup_frame(results, counts)
    parquet = write_atomic_with(out_dir / f"{ROLLUP_STEM}.parquet", frame.write_parquet)
    severities = rule_severities([counts[r.stem] for r in results if r.stem in counts])
    xlsx = write_atomic_with(
        out_dir / f"{ROLLUP_STEM}.xlsx", lambda tmp: _write_workbook(frame, severities, tmp)
    )
    return parquet, xlsx


# --- the workbook -------------------------------------------------------------------------

_COUNT = "#,##0"
_PERCENT = "0.0%"
_KEYS = ("council_code", "council_name", "stem")
_KEY_LABELS = ("LA Code", "Council", "Return")


def _write_workbook(frame: pl.DataFrame, severities: Mapping[str, str], path: Path) -> None:
    """The roll-up workbook (openpyxl write-only, like :mod:`cld_polars.workbook`)."""
    from openpyxl import Workbook

    from cld_polars import __version__

    wb = Workbook(write_only=True)
    wb.properties.creator = f"cld_polars {__version__}"  # how a later run knows it is ours
    checked = frame.filter(pl.col("status").is_in(CHECKED))
    not_read = frame.filter(~pl.col("status").is_in(CHECKED))

    statuses = frame["status"].value_counts(sort=True).iter_rows()
    tally = ", ".join(f"{n} {status}" for status, n in statuses)
    ws, top = _sheet(
        wb,
        "Councils",
        "National data-quality roll-up",
        [
            f"{frame.height} returns ({tally}). cld_polars {__version__}, "
            f"{datetime.datetime.now().replace(microsecond=0):%d/%m/%Y %H:%M}.",
            "One row per return. 'Up to date' returns were not checked again: their input and the "
            "tool version are those of the reports already in the folder.",
        ],
    )
    lead = [
        ("period_start", "Period start", None),
        ("period_end", "Period end", None),
        ("status", "Status", None),
        ("rows", "Rows", _COUNT),
        ("people", "People", _COUNT),
        ("errors", "Rows with errors", _COUNT),
        ("warnings", "Rows with warnings", _COUNT),
        ("file_errors", "File-level errors", _COUNT),
        ("skipped", "Up to date (not checked again)", None),
        ("file", "File", None),
    ]
    _table(ws, top, frame, lead, widths=[10, 28, 24, 12, 12, 10, 12, 12, 12, 12, 12, 14, 60])

    for measure, title in FIELD_MEASURES:
        prefix = f"{measure}: "
        names = [c for c in frame.columns if c.startswith(prefix)]
        note = {
            "pct_valid": "Share of the rows where the field applies whose value is valid "
            "(green 95% or more, amber 80% or more, red below).",
            "errors": "Rows with an error in the field.",
            "release1": "Rows holding a Release 1 value where Release 2 has a different one.",
        }[measure]
        ws, top = _sheet(wb, title, title, [note + " Returns that could not be read are left out."])
        fmt = _PERCENT if measure == "pct_valid" else _COUNT
        spec = [(c, c.removeprefix(prefix), fmt) for c in names]
        _table(ws, top, checked, spec, widths=[10, 28, 24] + [14] * len(names), rag=measure)

    ws, top = _sheet(
        wb,
        "Rule counts",
        "Rows affected by each check",
        [
            "Errors first, then warnings; 0 where the check did not fire in that return.",
        ],
    )
    spec = [(f"rule: {code}", f"{code} ({sev})", _COUNT) for code, sev in severities.items()]
    _table(ws, top, checked, spec, widths=[10, 28, 24] + [16] * len(spec))

    ws, top = _sheet(
        wb,
        "Not read",
        "Returns that could not be checked",
        [
            "Unreadable: the file is not a return the tool can read (the reason says what to fix). "
            "Crashed: the tool or its worker failed; run again, with --debug for details.",
        ],
    )
    if not_read.height:
        spec = [("status", "Status", None), ("file", "File", None), ("message", "Reason", None)]
        _table(ws, top, not_read, spec, widths=[10, 28, 24, 12, 50, 100])
    else:
        ws.append(["None: every return was read and checked."])
    wb.save(path)


def _sheet(wb: Any, name: str, title: str, notes: Sequence[str]) -> tuple[WriteOnlyWorksheet, int]:
    """A sheet with its title and notes; returns it and the row its table's header goes on."""
    from openpyxl.styles import Font

    from cld_polars.workbook import text_cell

    ws = wb.create_sheet(name)
    header_row = len(notes) + 3
    ws.freeze_panes = f"D{header_row + 1}"  # write-only sheets: before the first row
    cell = text_cell(ws, title)
    cell.font = Font(bold=True, size=14)
    ws.append([cell])
    for note in notes:
        cell = text_cell(ws, note)
        cell.font = Font(italic=True, color="555555")
        ws.append([cell])
    ws.append([])
    return ws, header_row


def _table(
    ws: WriteOnlyWorksheet,
    header_row: int,
    frame: pl.DataFrame,
    spec: Sequence[tuple[str, str, str | None]],
    *,
    widths: Sequence[float],
    rag: str | None = None,
) -> None:
    """The key columns (LA Code, Council, Return) then ``spec``'s: (column, header, format).

    Text is always written as text cells (a council code or file name from a return can never
    become a formula); % valid gets the per-return workbook's red/amber/green.
    """
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    from cld_polars.workbook import rag_fill, text_cell

    for i, width in enumerate(widths, 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    header = []
    for label in (*_KEY_LABELS, *(h for _, h, _ in spec)):
        cell = text_cell(ws, label)
        cell.font = Font(bold=True)
        cell.fill = PatternFill("solid", fgColor="D9E1F2")
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        header.append(cell)
    ws.append(header)
    columns = [*_KEYS, *(c for c, _, _ in spec)]
    formats = [None] * len(_KEYS) + [f for _, _, f in spec]
    for row in frame.select(columns).iter_rows():  # one row per return
        out: list[object] = []
        for value, fmt in zip(row, formats, strict=True):
            if value is None:
                out.append(None)
            elif isinstance(value, str):
                out.append(text_cell(ws, value))
            elif isinstance(value, bool):
                out.append("yes" if value else "no")
            else:
                cell = WriteOnlyCell(ws, value=value)
                if fmt:
                    cell.number_format = fmt
                if rag == "pct_valid":
                    fill = rag_fill(value)
                    if fill is not None:
                        cell.fill = fill
                out.append(cell)
        ws.append(out)
    if frame.height:
        last = get_column_letter(len(columns))
        ws.auto_filter.ref = f"A{header_row}:{last}{header_row + frame.height}"
