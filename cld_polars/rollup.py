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
* ``national.xlsx``: the same, a sheet per measure (Instructions, Councils, % valid by field,
  Errors by field, Release 1 values, Rule counts, Not read), laid out by
  :mod:`cld_polars.presentation` like the per-return workbook.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cld_polars.safety import utf8_text, write_atomic_with
from cld_polars.spec import load_spec

if TYPE_CHECKING:
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
LEAD: dict[str, pl.DataType] = {
    "council_code": pl.String(),
    "council_name": pl.String(),
    "stem": pl.String(),
    "file": pl.String(),
    "status": pl.String(),
    "message": pl.String(),
    "skipped": pl.Boolean(),
    "period_start": pl.String(),
    "period_end": pl.String(),
    "rows": pl.Int64(),
    "people": pl.Int64(),
    "errors": pl.Int64(),
    "warnings": pl.Int64(),
    "file_errors": pl.Int64(),
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
            value = record.get(name)
            columns[name].append(utf8_text(value) if isinstance(value, str) else value)
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

#: The key columns every table starts with: column, then header.
_KEYS = {"council_code": "LA Code", "council_name": "Council", "stem": "Return"}
#: Fill of a Status cell, by value.
_STATUS_FILLS = {"pass": "green", "fail": "red", "unreadable": "amber", "crashed": "red"}
_MEASURE_NOTES = {
    "pct_valid": "Of the rows where the field applies, the share whose value is valid (green "
    "95% or more, amber 80% or more, red below).",
    "errors": "Rows with an error in the field.",
    "release1": "Rows holding a Release 1 value where Release 2 has a different one.",
}


def _write_workbook(frame: pl.DataFrame, severities: Mapping[str, str], path: Path) -> None:
    """The roll-up workbook, laid out like the per-return workbook
    (:mod:`cld_polars.presentation`)."""
    from cld_polars._version import __version__
    from cld_polars.presentation import COUNT, DATE, DATETIME, PERCENT, Book, Column, Fact

    keys = {name: Column(header=header) for name, header in _KEYS.items()}
    # The creator is how a later run knows the workbook is ours.
    book = Book("CLD national data-quality roll-up", f"cld_polars {__version__}")
    checked = frame.filter(pl.col("status").is_in(CHECKED))
    not_read = frame.filter(~pl.col("status").is_in(CHECKED))
    statuses = frame["status"].value_counts(sort=True).rows()
    tally = ", ".join(f"{n} {status}" for status, n in statuses)
    measures = [(m, title) for m, title in FIELD_MEASURES]

    sheet = book.sheet("Instructions", gridlines=False)
    sheet.title(
        "National data-quality roll-up: read this first",
        "Every council's return in one workbook: councils as rows, fields and checks as "
        "columns, to see which councils have poor data in which fields.",
    )
    sheet.heading("What is in it")
    sheet.facts(
        [
            Fact("Returns", f"{frame.height} ({tally})"),
            Fact("Tool", f"cld_polars {__version__}"),
            Fact("Made at", datetime.datetime.now().replace(microsecond=0), DATETIME),
            Fact(
                "Up to date returns",
                "Returns whose reports were already in the folder (same file, same tool "
                "version) were not checked again; their counts are those reports'.",
            ),
        ]
    )
    sheet.heading("How to read each sheet")
    guide = pl.DataFrame(
        {
            "Sheet": ["Councils", *(t for _, t in measures), "Rule counts", "Not read"],
            "What it shows": [
                "One row per return: council, period, status (pass, fail, unreadable, "
                "crashed), rows, people, rows with errors and warnings, file-level errors.",
                *(_MEASURE_NOTES[m] + " One column per field." for m, _ in measures),
                "Rows affected by each check that fired in any return, errors first; 0 "
                "where it did not fire in that return.",
                "Returns that could not be read or checked, and why.",
            ],
        }
    )
    sheet.table(guide, {"Sheet": Column(link=True), "What it shows": Column(width=90, wrap=True)})
    sheet.heading("Each council's own report")
    sheet.paragraph(
        "Each checked return has its own workbook beside this one (<Return>.xlsx): the rows "
        "to fix and what to do. The JSON reports and index.csv hold the same figures for "
        "scripts; national.parquet holds this roll-up."
    )

    sheet = book.sheet("Councils")
    sheet.title("Councils", f"{frame.height} returns ({tally}), councils in LA Code order.")
    lead: dict[str, Column | str] = {
        **keys,
        "period_start": Column(header="Period start", format=DATE),
        "period_end": Column(header="Period end", format=DATE),
        "status": Column(header="Status", fills=_STATUS_FILLS),
        "rows": Column(header="Rows", format=COUNT),
        "people": Column(header="People", format=COUNT),
        "errors": Column(header="Rows with errors", format=COUNT),
        "warnings": Column(header="Rows with warnings", format=COUNT),
        "file_errors": Column(header="File-level errors", format=COUNT),
        "skipped": Column(header="Up to date (not checked again)"),
        "file": Column(header="File"),
    }
    sheet.table(frame, lead, freeze=True, key_columns=3)

    for measure, title in measures:
        prefix = f"{measure}: "
        names = [c for c in frame.columns if c.startswith(prefix)]
        fmt = PERCENT if measure == "pct_valid" else COUNT
        spec: dict[str, Column | str] = dict(keys)
        for name in names:
            field = name.removeprefix(prefix)
            # The LA Code field's column is not the LA Code key column.
            header = f"{field} (field)" if field in _KEYS.values() else field
            spec[name] = Column(header=header, format=fmt, rag=measure == "pct_valid")
        sheet = book.sheet(title)
        sheet.title(title)
        sheet.table(
            checked,
            spec,
            note=_MEASURE_NOTES[measure] + " Returns that could not be read are left out.",
            freeze=True,
            key_columns=3,
            empty="No return was read.",
        )

    sheet = book.sheet("Rule counts")
    sheet.title("Rule counts")
    spec = dict(keys)
    for code, severity in severities.items():
        spec[f"rule: {code}"] = Column(header=f"{code} ({severity})", format=COUNT)
    sheet.table(
        checked,
        spec,
        note="Rows affected by each check: errors first, then warnings; 0 where the check did "
        "not fire in that return.",
        freeze=True,
        key_columns=3,
        empty="No return was read.",
    )

    sheet = book.sheet("Not read")
    sheet.title("Not read")
    sheet.table(
        not_read,
        {
            **keys,
            "status": Column(header="Status", fills=_STATUS_FILLS),
            "file": Column(header="File"),
            "message": Column(header="Reason", width=80, wrap=True),
        },
        note="Unreadable: the file is not a return the tool can read (the reason says what to "
        "fix). Crashed: the tool or its worker failed; run again, with --debug for details.",
        freeze=True,
        key_columns=3,
        empty="None: every return was read and checked.",
    )
    book.write_to(path)
