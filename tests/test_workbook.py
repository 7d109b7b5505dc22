"""The Excel workbook, read back with openpyxl: its sheets, the counts against an independent
count of the same generated return, the overflow of the Rows to fix sheet, and that values
from the return that look like formulas stay text."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from factory import read_rows, write_csv
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._writer import ALL_TEMP_FILES as openpyxl_temp_files
from openpyxl.worksheet.worksheet import Worksheet
from workbook_checks import check_workbook, column_values

from cld_polars import Report, validate, workbook
from cld_polars.cli import main, sample_path
from cld_polars.generate import write_return
from cld_polars.measures import DQ_LABELS, DQ_STATUS, DQ_VALIDITY
from cld_polars.presentation import REPLACED_NOTE
from cld_polars.spec import MODULES, load_spec
from cld_polars.summary import TABLES
from cld_polars.workbook import (
    EXCEL_MAX_ROWS,
    MAX_FINDING_ROWS,
    MONTHS_TITLE,
    RAG_THRESHOLDS,
    ROWS_TO_FIX_TOP_ROWS,
    SHEETS,
    UNDATED_TITLE,
    WorkbookResult,
    write_workbook,
)

SPEC = load_spec()
#: Values a spreadsheet would take as a formula or an error, planted in the return.
TRAPS = {
    "Event Description": ['=HYPERLINK("http://example.org","click")', "+44 20 7946 0000"],
    "Last Name": ["=1+1", "@SUM(A1)"],
    "Gender": ["#N/A", "Fe\x01male", '<Fe>&"male" '],
}


def plant(path: Path, values: dict[str, list[str]], every: int = 97) -> Path:
    """Put each value on its own row (every ``every``-th), by rewriting the CSV."""
    rows = read_rows(path)
    at = 5
    for field, planted in values.items():
        for value in planted:
            rows[at][field] = value
            at += every
    return write_csv(path, rows, header=list(rows[0]))


#: The report, the workbook written, the workbook read back and the return's rows.
Written = tuple[Report, WorkbookResult, Workbook, list[dict[str, str]]]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> Written:
    folder = tmp_path_factory.mktemp("w")
    source = plant(write_return(folder / "r.csv", 2000, seed=3), TRAPS)
    report = validate(source)
    result = report.to_excel(folder / "report.xlsx")
    book = openpyxl.load_workbook(result.path)
    return report, result, book, read_rows(source)


def values(ws: Worksheet) -> list[tuple[Any, ...]]:
    return [tuple(c.value for c in r) for r in ws.iter_rows()]


def facts(ws: Worksheet) -> dict[str, Any]:
    """The Summary sheet's label / value rows."""
    out = {}
    for r in values(ws):
        filled = [v for v in r if v is not None]
        if len(filled) == 2 and r[0] is not None and r[1] is not None:
            out[str(r[0]).strip()] = r[1]
    return out


def count_tables(ws: Worksheet) -> dict[str, pl.DataFrame]:
    """The Summary counts sheet split back into its tables, by their titles (each title is
    followed by its note, then the header); events by month is its months (as dates) and
    the table of events without a month, put back together."""
    titles = {info.title: name for name, info in TABLES.items()}
    titles[UNDATED_TITLE] = "undated"
    rows = values(ws)
    out: dict[str, pl.DataFrame] = {}
    i = 0
    while i < len(rows):
        name = titles.get(rows[i][0]) if isinstance(rows[i][0], str) else None
        if name is None:
            i += 1
            continue
        header = [h for h in rows[i + 2] if h is not None]
        body = []
        i += 3
        while i < len(rows) and any(v is not None for v in rows[i]):
            body.append(rows[i][: len(header)])
            i += 1
        out[name] = pl.DataFrame(body, schema=header, orient="row", infer_schema_length=None)
    months = out["events_by_month"]
    assert months.schema["Month"] == pl.Datetime  # dates, shown as months
    months = months.with_columns(pl.col("Month").dt.strftime("%Y-%m"))
    undated = out.pop("undated").rename({"End date": "Month"})
    out["events_by_month"] = pl.concat([months, undated.cast(months.schema)])
    return out


# --- the sheets -----------------------------------------------------------------------------


def test_sheets_frozen_filtered_and_readable(written: Written) -> None:
    _, result, book, _ = written
    assert tuple(book.sheetnames) == SHEETS
    assert SHEETS[0] == "Instructions"
    frozen = {ws.title: ws.freeze_panes for ws in book}
    assert frozen == {
        "Instructions": "A2",
        "Summary": "A2",
        "Central view": "A2",
        "Field validity by module": "C5",
        "Rule errors": "B4",
        "Rows to fix": "B3",
        "Summary counts": "A2",
    }
    assert [t.ref for t in book["Field validity by module"].tables.values()] == ["A4:Q52"]
    assert next(t.ref for t in book["Rule errors"].tables.values()).startswith("A3:H")
    assert next(t.ref for t in book["Rows to fix"].tables.values()).startswith("A2:J")
    # Widths, wrapping, row heights, number formats, filters and charts: the checks every
    # workbook gets (tests/workbook_checks.py).
    charts = check_workbook(result.path)
    assert charts["Summary counts"] == [
        "Events by type",
        TABLES["services_in_period"].title,
        "People by age band",
        MONTHS_TITLE,
    ]
    assert charts["Summary"] == ["% valid by module"]


def test_advice_wraps_in_rows_tall_enough(written: Written) -> None:
    _, _, book, _ = written
    for sheet, header in (
        ("Rule errors", "Message"),
        ("Rows to fix", "What is wrong"),
        ("Summary", "What to do"),
    ):
        ws = book[sheet]
        from workbook_checks import column_cells

        advice = column_cells(ws, header)
        assert advice
        for cell in advice:
            assert cell.alignment.wrap_text, (sheet, cell.coordinate)
            width = ws.column_dimensions[cell.column_letter].width
            assert 40 <= width <= 90, (sheet, width)
            if len(cell.value) > 2 * width:
                assert (ws.row_dimensions[cell.row].height or 15) >= 30, (sheet, cell.coordinate)


def test_no_cell_is_a_formula_and_planted_values_stay_text(written: Written) -> None:
    _, _, book, _ = written
    for ws in book:
        for r in ws.iter_rows():
            for c in r:
                assert c.data_type != "f", (ws.title, c.coordinate, c.value)
                assert c.data_type != "e", (ws.title, c.coordinate, c.value)
    cells = {c.value: c for r in book["Rows to fix"].iter_rows(min_row=3) for c in r}
    for planted in (v for vs in TRAPS.values() for v in vs if "\x01" not in v):
        assert cells[planted].data_type == "s", planted
    # A control character XML cannot hold is replaced, not a crash.
    assert "Fe\ufffdmale" in cells


def test_summary_sheet(written: Written) -> None:
    report, _, book, rows = written
    got = facts(book["Summary"])
    assert got["File"] == Path(report.file).name
    assert got["Folder"] == str(Path(report.file).parent)
    assert got["LA Code"] == "503"
    assert got["Council"] == SPEC.councils["503"].name
    assert got["Reporting period start"].date().isoformat() == "2024-10-01"
    assert got["Reporting period end"].date().isoformat() == "2025-09-30"
    assert got["Rows"] == len(rows) == report.rows
    assert got["People (distinct LA Person Unique Identifiers)"] == len(
        {r["LA Person Unique Identifier"] for r in rows}
    )
    by_type = Counter(r["Event Type"] for r in rows)
    for event_type in SPEC.values("Event Type"):
        assert got[event_type] == by_type[event_type]
    assert got["Rows without an event"] == by_type[""]
    assert got["Tool"].startswith("cld_polars ")
    assert got["Result"] == "FAIL: errors to fix"
    assert got["Rows with at least one error"] == report.errors
    assert (
        got["Checks that found errors"] == report.rules.filter(pl.col("severity") == "error").height
    )
    assert (
        got["Findings (row and check): warnings"]
        == report.finding_rows.filter(pl.col("severity") == "warning").height
    )
    assert isinstance(got["Validation took (seconds)"], float)
    text = " ".join(str(v) for r in values(book["Summary"]) for v in r if v is not None)
    assert report.rules["code"][0] in text  # what to fix first
    assert f"All {report.finding_rows.height:,} findings are on the Rows to fix sheet" in text


def test_field_validity_sheet(written: Written) -> None:
    report, _, book, _ = written
    ws = book["Field validity by module"]
    rows = values(ws)
    assert rows[0][0] == "Field validity by module"
    assert "95%" in rows[1][0] and "80%" in rows[1][0]  # the thresholds are stated
    bands, header, body = rows[2], rows[3], rows[4:]
    # DHSC's vocabulary, each group under its band, then our own extras.
    assert header == (
        "Module",
        "Field",
        *DQ_STATUS.values(),
        *DQ_VALIDITY.values(),
        "Near miss (of Failed: Invalid)",
        "Given where not applicable",
        "% valid",
        "Rows with errors",
        "Rows with warnings",
        "Column in the return",
    )
    assert [b for b in bands if b] == [
        "DHSC status of the rows (each row has one)",
        "DHSC validity of the rows (each row has one)",
        "Our extras",
    ]
    assert bands.index("Our extras") == header.index("Near miss (of Failed: Invalid)")
    assert [r[1] for r in body] == list(SPEC.header)  # spec order is module order
    modules = [r[0] for r in body]
    assert modules == sorted(modules, key=MODULES.index)
    expected = {r["field"]: r for r in report.fields.to_dicts()}
    dq = [header.index(label) for label in DQ_LABELS.values()]
    pct_at = header.index("% valid")
    for r, cells in zip(body, ws.iter_rows(min_row=5), strict=True):
        want = expected[r[1]]
        assert [r[i] for i in dq] == [want[k] for k in DQ_LABELS]
        assert all(isinstance(r[i], int) for i in dq)
        assert sum(r[2:6]) == sum(r[6:11]) == report.rows  # each group adds up to the rows
        assert r[header.index("Near miss (of Failed: Invalid)")] == want["near_miss"]
        assert r[header.index("Given where not applicable")] == want["given_not_applicable"]
        assert r[header.index("Rows with errors")] == want["errors"]
        cell = cells[pct_at]
        if want["pct_valid"] is None:
            assert cell.value is None
            continue
        assert cell.value == pytest.approx(want["pct_valid"])
        assert "%" in cell.number_format
        green, amber = RAG_THRESHOLDS
        colour = cell.fill.fgColor.rgb[-6:]
        pct = want["pct_valid"]
        assert colour == ("C6EFCE" if pct >= green else "FFEB9C" if pct >= amber else "FFC7CE")
    gender = next(r for r in body if r[1] == "Gender")
    assert gender[header.index("Near miss (of Failed: Invalid)")] >= 1  # the planted 'Fe\x01male'
    # Shown once: no column of the validator's own measures repeats a DHSC one.
    assert "Rows where mandatory" not in header and "Blank where mandatory" not in header


def test_rule_errors_sheet(written: Written) -> None:
    report, _, book, _ = written
    rows = values(book["Rule errors"])
    header, body = rows[2], rows[3:]
    assert header[:5] == ("Code", "Severity", "Scope", "Fields", "Rows affected")
    file_rows = [r for r in body if r[2] == "file"]
    assert [r[0] for r in file_rows] == [f.code for f in report.file_findings]
    rule_rows = [r for r in body if r[2] == "rows"]
    assert [(r[0], r[1], r[4]) for r in rule_rows] == list(
        report.rules.select("code", "severity", "rows").iter_rows()
    )
    assert body[: len(file_rows)] == file_rows  # file-level findings first


def test_rows_to_fix_sheet(written: Written) -> None:
    report, result, book, _ = written
    rows = values(book["Rows to fix"])
    assert result.overflow is None
    assert result.findings == result.findings_written == report.finding_rows.height
    header, body = rows[1], rows[2:]
    assert header == (
        "Line",
        "LA Person Unique Identifier",
        "Event Reference",
        "Event Type",
        "Field",
        "Value",
        "Severity",
        "Check",
        "What is wrong",
        "Suggested value",
    )
    assert len(body) == report.finding_rows.height
    lines = [r[0] for r in body]
    assert lines == sorted(lines) and all(isinstance(n, int) for n in lines)
    expected = report.finding_rows.sort("line", maintain_order=True)
    assert [(r[0], r[1], r[4], r[7]) for r in body] == list(
        expected.select("line", "person_id", "field", "code").iter_rows()
    )
    messages = dict(report.rules.select("code", "message").iter_rows())
    for r in body:  # the row whose value had a character Excel cannot hold says so
        cleaned = any(isinstance(v, str) and "\ufffd" in v for v in r[:8])
        assert r[8] == messages[r[7]] + (f" {REPLACED_NOTE}" if cleaned else ""), r
    assert sum(REPLACED_NOTE in r[8] for r in body) == 1  # the planted 'Fe\x01male'


def test_summary_counts_sheet_against_an_independent_count(written: Written) -> None:
    report, _, book, rows = written
    tables = count_tables(book["Summary counts"])
    assert set(tables) == set(TABLES)
    for name, frame in report.summary.items():
        if name == "overview":
            continue
        sheet = tables[name]
        assert sheet.columns == frame.columns, name
        assert sheet.height == frame.height, name
        for column in frame.columns:
            want = frame[column].to_list()
            got = sheet[column].to_list()
            if frame.schema[column] == pl.Float64:
                assert got == pytest.approx(want, nan_ok=True), (name, column)
            else:
                assert got == want, (name, column)
    # And straight from the CSV, without the package.
    by_type_sheet = tables["events_by_type"]
    events = dict(zip(by_type_sheet["Event Type"], by_type_sheet["Rows"], strict=True))
    by_type = Counter(r["Event Type"] or "(blank)" for r in rows)
    assert events == dict(by_type)
    first: dict[str, dict[str, str]] = {}
    for r in rows:
        first.setdefault(r["LA Person Unique Identifier"], r)
    gender = Counter(
        g if g in SPEC.values("Gender") else "(not valid)"
        for g in (r["Gender"] for r in first.values())
    )
    people = tables["people_by_gender"]
    assert {k: v for k, v in zip(people["Gender"], people["People"], strict=True) if v} == dict(
        gender
    )
    months = tables["events_by_month"]
    assert months["Events"].sum() == sum(1 for r in rows if r["Event Type"])


# --- overflow ---------------------------------------------------------------------------


def test_default_cap_is_excel_limit_minus_the_rows_above_the_findings() -> None:
    assert EXCEL_MAX_ROWS == 2**20 == 1_048_576
    assert ROWS_TO_FIX_TOP_ROWS == 2  # the notice and the header
    assert MAX_FINDING_ROWS == EXCEL_MAX_ROWS - ROWS_TO_FIX_TOP_ROWS


def test_more_findings_than_the_sheet_holds(tmp_path: Path) -> None:
    source = write_return(tmp_path / "r.csv", 600, seed=5)
    frame = pl.read_csv(source, infer_schema=False)
    frame.with_columns(pl.lit("male").alias("Gender")).write_csv(source)  # 600 near misses
    report = validate(source)
    total = report.finding_rows.height
    assert total >= 600
    result = report.to_excel(tmp_path / "report.xlsx", max_rows=250)
    assert (result.findings, result.findings_written) == (total, 250)
    assert result.overflow == tmp_path / "report_findings.csv"

    book = openpyxl.load_workbook(result.path)
    rows = values(book["Rows to fix"])
    assert len(rows) == ROWS_TO_FIX_TOP_ROWS + 250
    notice = rows[0][0]
    assert f"first 250 of {total:,}" in notice and f"{total - 250:,} were left out" in notice
    assert "report_findings.csv" in notice
    first = report.finding_rows.sort("line", maintain_order=True).head(250)
    assert [r[0] for r in rows[2:]] == first["line"].to_list()  # the first ones, in line order
    summary = " ".join(str(v) for r in values(book["Summary"]) for v in r if v is not None)
    assert f"{total - 250:,} were left out" in summary
    full = pl.read_csv(result.overflow, infer_schema=False)
    assert full.height == total
    assert set(full["code"]) == set(report.finding_rows["code"])

    parquet = write_workbook(report, tmp_path / "p.xlsx", max_rows=10, overflow_format="parquet")
    assert parquet.overflow == tmp_path / "p_findings.parquet"
    assert pl.read_parquet(parquet.overflow).height == total


def test_a_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = validate(sample_path())

    def broken(*args: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(workbook, "_counts_sheet", broken)
    streams = set(openpyxl_temp_files)
    with pytest.raises(RuntimeError):
        report.to_excel(tmp_path / "report.xlsx", max_rows=2)
    assert list(tmp_path.iterdir()) == []  # no workbook, no temporary file, no overflow file
    assert set(openpyxl_temp_files) <= streams  # openpyxl's row streams are gone too


def test_a_return_with_no_rows_still_gets_a_workbook(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    report = validate(empty)
    book = openpyxl.load_workbook(report.to_excel(tmp_path / "e.xlsx").path)
    text = " ".join(str(v) for r in values(book["Summary"]) for v in r if v is not None)
    assert "FILE_EMPTY" in text and "No findings" in text
    assert column_values(book["Rule errors"], "Code") == ["FILE_EMPTY"]


# --- command line -------------------------------------------------------------------------


def test_cli_sample_workbook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sample_report.xlsx"
    assert main(["--sample", "--xlsx", str(out), "--quiet"]) == 1
    assert tuple(openpyxl.load_workbook(out).sheetnames) == SHEETS


def test_cli_several_returns_into_a_folder(tmp_path: Path) -> None:
    a = write_return(tmp_path / "a.csv", 200, seed=1)
    b = write_return(tmp_path / "b.csv", 200, seed=2)
    folder = tmp_path / "out"
    folder.mkdir()
    main([str(a), str(b), "--xlsx", str(folder), "--quiet"])
    assert sorted(p.name for p in folder.iterdir()) == ["a.xlsx", "b.xlsx"]


def test_cli_says_where_the_overflow_went(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workbook, "MAX_FINDING_ROWS", 3)
    out = tmp_path / "s.xlsx"
    main(["--sample", "--xlsx", str(out), "--quiet"])
    said = capsys.readouterr().out
    assert "first 3 of" in said and "s_findings.csv" in said
    assert (tmp_path / "s_findings.csv").is_file()
