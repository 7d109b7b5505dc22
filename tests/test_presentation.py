"""The presentation every workbook shares (cld_polars.presentation), on real files: the
sample's workbook through the CLI, a return holding a fault for every check, characters an
Excel file cannot hold in values and in file names (all three workbooks), and the checks of
tests/workbook_checks.py shown to catch what they are for."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from catalogue import build
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from workbook_checks import check_workbook, column_cells, column_values

from cld_polars import presentation, validate
from cld_polars.batch import BatchResult
from cld_polars.cli import main
from cld_polars.compare import compare
from cld_polars.generate import generate_pair, generate_return
from cld_polars.presentation import (
    EXCEL_MAX_CHARS,
    REPLACED_NOTE,
    Book,
    Column,
    clean_expr,
    clean_text,
)
from cld_polars.rollup import return_counts, write_rollup
from cld_polars.summary import TABLES
from cld_polars.workbook import MONTHS_TITLE

#: Characters XML 1.0 forbids (a Polars string cannot hold a lone surrogate; a file name can).
FORBIDDEN = ("\uffff", "\ufffe", "\x01", "\x0b", "\x1f")


def test_the_sample_workbook(tmp_path: Path) -> None:
    out = tmp_path / "sample_report.xlsx"
    assert main(["--sample", "--xlsx", str(out), "--quiet"]) == 1
    charts = check_workbook(out)
    assert MONTHS_TITLE in charts["Summary counts"]
    book = openpyxl.load_workbook(out)
    instructions = [c.value for row in book["Instructions"].iter_rows() for c in row if c.value]
    text = " ".join(str(v) for v in instructions)
    for sheet in book.sheetnames[1:]:
        assert sheet in instructions  # each sheet is explained (and linked)
    assert "FAIL: errors to fix" in text and "Release 2" in text
    assert 'cld-validate --sample --xlsx "sample_report.xlsx"' in text  # how to re-run
    links = {c.value: c.hyperlink.location for c in book["Instructions"]["A"] if c.hyperlink}
    assert links == {s: f"'{s}'!A1" for s in book.sheetnames[1:]}


def test_a_return_with_a_fault_for_every_check(tmp_path: Path) -> None:
    """Every check's message on Rule errors and Rows to fix: long advice, long values."""
    source, _ = build(tmp_path / "faults.csv")
    report = validate(source)
    assert report.rules.height > 100
    result = report.to_excel(tmp_path / "faults.xlsx")
    check_workbook(result.path)
    book = openpyxl.load_workbook(result.path)
    months = column_cells(book["Summary counts"], "Month")
    assert months and all(c.number_format == "mmm yyyy" for c in months)  # dates, as months
    weekly = column_cells(book["Summary counts"], "Total weekly cost (£)")
    assert all(c.number_format.startswith("£") for c in weekly)
    assert column_values(book["Rule errors"], "Rows affected")[-1] >= 1  # numbers, not text


def write_odd_return(path: Path) -> Path:
    """A return whose values hold characters XML forbids, planted where they are reported
    (a Gender near miss, an identifier in a duplicate check) and where nothing is."""
    frame = generate_return(300, seed=1).with_row_index("i")
    frame = frame.with_columns(
        pl.when(pl.col("i") == 3)
        .then(pl.lit("Fe\uffffmale"))
        .otherwise(pl.col("Gender"))
        .alias("Gender"),
        pl.when(pl.col("i") == 5)
        .then(pl.lit("P\ufffe\x01"))
        .otherwise(pl.col("LA Person Unique Identifier"))
        .alias("LA Person Unique Identifier"),
        pl.when(pl.col("i") == 7)
        .then(pl.lit("bad\x0bdescription\x1f"))
        .otherwise(pl.col("Event Description"))
        .alias("Event Description"),
    ).drop("i")
    frame.write_csv(path)
    return path


def libreoffice_converts(path: Path, tmp_path: Path) -> None:
    """LibreOffice opens the workbook and prints every sheet (where it is installed)."""
    if shutil.which("soffice") is None:
        return
    profile = tmp_path / "lo-profile"
    done = subprocess.run(
        [
            "soffice",
            f"-env:UserInstallation=file://{profile}",
            "--headless",
            "--convert-to",
            "pdf",
            "--outdir",
            str(tmp_path),
            str(path),
        ],
        capture_output=True,
        timeout=180,
    )
    pdf = tmp_path / f"{path.stem}.pdf"
    assert done.returncode == 0 and pdf.stat().st_size > 1000, done.stderr


def test_characters_xml_cannot_hold_in_values_and_file_names(tmp_path: Path) -> None:
    folder = tmp_path / "returns"
    folder.mkdir()
    odd = write_odd_return(folder / "r\uffffeturn.csv")
    generate_return(200, seed=2, la_code="805").write_csv(folder / "surrey.csv")

    # The validation workbook, through the CLI.
    single = tmp_path / "single.xlsx"
    assert main([str(odd), "--xlsx", str(single), "--quiet"]) == 1
    check_workbook(single)  # every XML part parses strictly; openpyxl reads it back
    book = openpyxl.load_workbook(single)
    rows = list(book["Rows to fix"].iter_rows(min_row=3, values_only=True))
    gender = next(r for r in rows if r[4] == "Gender" and r[5] == "Fe\ufffdmale")
    assert gender[8].endswith(REPLACED_NOTE)  # the finding says so
    person = next(r for r in rows if r[1] == "P\ufffd\ufffd")
    assert person[8].endswith(REPLACED_NOTE)
    summary = [c.value for row in book["Summary"].iter_rows() for c in row if c.value]
    assert f"r\ufffdeturn.csv ({REPLACED_NOTE})" in summary  # the file name, and a note
    libreoffice_converts(single, tmp_path)

    # The national roll-up and each return's workbook, through --out-dir.
    out = tmp_path / "reports"
    assert main([str(folder), "--out-dir", str(out), "--quiet"]) == 1
    for workbook in (out / "national.xlsx", *out.glob("r*eturn.xlsx")):
        check_workbook(workbook)
    national = openpyxl.load_workbook(out / "national.xlsx")
    files = column_values(national["Councils"], "File")
    assert any(f.endswith("r\ufffdeturn.csv") for f in files)
    libreoffice_converts(out / "national.xlsx", tmp_path)

    # A file name a file system can hold but text cannot (a lone surrogate, from bytes that
    # are not UTF-8), in the roll-up.
    report = validate(odd)
    odd_name = BatchResult(file="returns/\udcff\udcfe.csv", stem="odd", status="fail", exit_code=1)
    write_rollup(tmp_path, [odd_name], {"odd": return_counts(report)})
    check_workbook(tmp_path / "national.xlsx")

    # The compare workbook: values and the returns' names.
    previous, current, _ = generate_pair(400, seed=3)
    result = compare(previous, current)
    result = dataclasses.replace(
        result,
        previous="q\uffff2.csv",
        current="q3\udcff.csv",
        disappeared=result.disappeared.with_columns(pl.lit("P\x01\uffff").alias("person_id")),
    )
    result.to_excel(tmp_path / "diff.xlsx")
    check_workbook(tmp_path / "diff.xlsx")
    gone = openpyxl.load_workbook(tmp_path / "diff.xlsx")["Events gone"]
    assert {c.value for c in column_cells(gone, "LA Person Unique Identifier")} == {"P\ufffd\ufffd"}
    note = gone.cell(2, 1).value
    assert REPLACED_NOTE in note  # the table's note says how many rows
    libreoffice_converts(tmp_path / "diff.xlsx", tmp_path)


# --- the layout itself ------------------------------------------------------------------------


def test_a_long_value_is_cut_to_fit_a_cell(tmp_path: Path) -> None:
    book = Book("t", "t")
    sheet = book.sheet("Long")
    sheet.title("Long")
    sheet.table(pl.DataFrame({"Value": ["x" * 40_000, "short"]}), freeze=True)
    book.save(tmp_path / "long.xlsx")
    check_workbook_without_instructions(tmp_path / "long.xlsx")
    cells = column_cells(openpyxl.load_workbook(tmp_path / "long.xlsx")["Long"], "Value")
    assert len(cells[0].value) == EXCEL_MAX_CHARS and cells[0].value.endswith("characters]")
    assert cells[0].alignment.wrap_text
    sheet_again = openpyxl.load_workbook(tmp_path / "long.xlsx")["Long"]
    assert sheet_again.row_dimensions[cells[0].row].height == 409  # Excel's tallest row


def check_workbook_without_instructions(path: Path) -> None:
    """check_workbook on a workbook made here (which has no Instructions sheet)."""
    book = openpyxl.load_workbook(path)
    from workbook_checks import check_charts, check_sheet, check_tables, strict_xml

    strict_xml(path)
    for ws in book:
        check_sheet(ws)
        check_charts(ws, check_tables(ws))


def test_an_empty_table_says_so_and_a_table_has_filters(tmp_path: Path) -> None:
    book = Book("t", "t")
    sheet = book.sheet("Tables")
    sheet.title("Tables")
    sheet.table(
        pl.DataFrame({"Name": [], "Rows": []}, schema={"Name": pl.String, "Rows": pl.Int64}),
        title="Nothing",
        empty="Nothing to show.",
    )
    sheet.table(pl.DataFrame({"Name": ["a", "b"], "Rows": [1, 2_000_000]}), title="Something")
    book.save(tmp_path / "t.xlsx")
    check_workbook_without_instructions(tmp_path / "t.xlsx")
    ws = openpyxl.load_workbook(tmp_path / "t.xlsx")["Tables"]
    values = [c.value for row in ws.iter_rows() for c in row if c.value is not None]
    assert "Nothing to show." in values
    assert [t.ref for t in ws.tables.values()] == ["A8:B10"]
    assert [c.number_format for c in column_cells(ws, "Rows")] == ["#,##0", "#,##0"]


def test_chart_checks_catch_a_chart_one_row_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bug of issue 14 (a chart over the rows of another table) put back on purpose:
    the checks every workbook gets must fail."""
    real = presentation.Reference

    def slipped(ws: object, **kw: int) -> object:
        kw["min_row"] += 1
        kw["max_row"] += 1
        return real(ws, **kw)

    report = validate(generate_return(300, seed=1))
    monkeypatch.setattr(presentation, "Reference", slipped)
    report.to_excel(tmp_path / "slipped.xlsx")
    with pytest.raises(AssertionError, match=r"Events by type|% valid by module"):
        check_workbook(tmp_path / "slipped.xlsx")


def default_widths(table: presentation.Table) -> None:
    """Every column at Excel's default width, as openpyxl leaves them."""
    for col in table.columns:
        col.natural = 8.43
        col.width = 8.43


@pytest.mark.parametrize(
    ("name", "broken", "failure"),
    [
        ("_wraps", lambda col: False, "cut off, not wrapped"),
        ("_fit", default_widths, "cut off, not wrapped|does not fit|date wider than width"),
    ],
)
def test_layout_checks_catch_unwrapped_advice_and_default_widths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, broken: object, failure: str
) -> None:
    report = validate(generate_return(300, seed=1))
    monkeypatch.setattr(presentation, name, broken)
    report.to_excel(tmp_path / "broken.xlsx")
    with pytest.raises(AssertionError, match=failure):
        check_workbook(tmp_path / "broken.xlsx")


def test_the_tables_on_summary_counts_are_all_there(tmp_path: Path) -> None:
    report = validate(generate_return(300, seed=1))
    book = openpyxl.load_workbook(report.to_excel(tmp_path / "r.xlsx").path)
    headings = {c.value for c in book["Summary counts"]["A"] if c.font.b}
    assert {info.title for info in TABLES.values()} <= headings


# --- cleaning text, in Python and in Polars -----------------------------------------------------

ODD = st.text(
    alphabet=st.one_of(
        st.sampled_from([*FORBIDDEN, "\t", "\n", "\r", "\ufffd", "£", "é", "\U0001f600", "a"]),
        st.characters(exclude_categories=["Cs"]),
    ),
    max_size=30,
)
EXPLORE = os.environ.get("PROPERTY_EXAMPLES")


@settings(
    max_examples=int(EXPLORE or 80),
    derandomize=EXPLORE is None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.lists(ODD, min_size=1, max_size=20))
def test_python_and_polars_clean_text_alike(values: list[str]) -> None:
    cleaned = pl.Series(values).to_frame("v").select(clean_expr(pl.col("v")))["v"].to_list()
    assert cleaned == [clean_text(v) for v in values]
    for text in cleaned:
        assert not any(ch in text for ch in FORBIDDEN)
        assert len(text) <= EXCEL_MAX_CHARS


def test_column_headers_must_be_distinct() -> None:
    sheet = Book("t", "t").sheet("S")
    frame = pl.DataFrame({"a": [1], "b": [2]})
    with pytest.raises(ValueError, match="distinct"):
        sheet.table(frame, {"a": Column(header="Rows"), "b": Column(header="rows")})


@pytest.mark.parametrize(
    "value",
    ["x" * 40_000, "\U0001f600" * 16_384, "a\U0001f600" * 12_000, "\x01" * 33_000],
    ids=["long", "emoji", "mixed", "controls"],
)
def test_a_long_value_fits_excel_counting_utf16(value: str) -> None:
    """Excel's 32,767 a cell are UTF-16 units: an emoji is two."""
    python = clean_text(value)
    polars = pl.DataFrame({"v": [value]}).select(clean_expr(pl.col("v"))).item()
    assert python == polars
    assert len(python.encode("utf-16-le")) // 2 <= EXCEL_MAX_CHARS
    assert python.endswith("characters]")


@pytest.mark.parametrize("text", ["01/10/2024", "1,234", "5.0%", "£12.50"])
def test_layout_checks_catch_numbers_and_dates_stored_as_text(tmp_path: Path, text: str) -> None:
    book = Book("t", "t")
    sheet = book.sheet("Typed")
    sheet.title("Typed")
    sheet.table(pl.DataFrame({"Period start": [text]}), freeze=True)
    sheet.table(pl.DataFrame({"Value": [text]}), title="As given")  # right here
    book.save(tmp_path / "t.xlsx")
    with pytest.raises(AssertionError, match="is text, not a number or date"):
        check_workbook_without_instructions(tmp_path / "t.xlsx")


def test_a_text_column_is_as_wide_as_its_widest_value(tmp_path: Path) -> None:
    """The width is measured on each distinct value once; the four measures of a value (its
    characters and how many are wide, medium or narrow) must be of the same value. With the
    distinct values in no fixed order they were not, and a column of council names came out
    narrower than 'Westmorland and Furness' (the national workbook)."""
    import random

    from cld_polars.presentation import Book, text_units

    rng = random.Random(7)
    names = ["Leeds", "Lincolnshire", "Surrey", "Westmorland and Furness", "Isle of Wight", None]
    for attempt in range(20):
        shuffled = rng.sample(names * 3, len(names) * 3)
        book = Book("widths", "cld_polars test")
        book.sheet("S").table(pl.DataFrame({"Council": shuffled}), {"Council": "Council"})
        path = book.save(tmp_path / f"w{attempt}.xlsx")
        width = openpyxl.load_workbook(path)["S"].column_dimensions["A"].width
        assert width >= text_units("Westmorland and Furness"), (attempt, width)
