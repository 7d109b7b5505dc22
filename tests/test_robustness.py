"""Bad input: every malformed return gets a clear message, never a traceback (issue 4).

Each test writes a real file in a temporary folder, runs the command line on it and checks
the exit status, the message an analyst reads and that the input is byte-for-byte unchanged.
Where the file can be read at all, the rest of it is still validated: a fault planted on a
later row is found at its line.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from factory import HEADER, clean_csv_bytes, clean_rows, row, write_csv, write_workbook

from cld_polars import safety, validate
from cld_polars.cli import check as cli
from cld_polars.reader import LONG_VALUE, read_return

ROWS = len(clean_rows())
#: The clean file's lines: the header, then one line per clean row.
LINES = clean_csv_bytes().split(b"\n")[:-1]


def bad_row(line_fault: str = "Femal") -> bytes:
    """One more request row whose Gender is a near miss: the fault to find after damage."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(
        [row("request", 77, Gender=line_fault).get(h, "") for h in HEADER]
    )
    return out.getvalue().encode().rstrip(b"\n")


@dataclass
class Run:
    code: int
    out: str
    err: str
    result: dict[str, object] | None

    @property
    def findings(self) -> dict[str, str]:
        """File-level findings from the JSON result: code -> message."""
        assert self.result is not None
        found = self.result["file_findings"]
        assert isinstance(found, list)
        assert all(set(f) == {"code", "severity", "message"} for f in found)
        return {f["code"]: f["message"] for f in found}

    def severity(self, code: str) -> str:
        assert self.result is not None
        found = self.result["file_findings"]
        assert isinstance(found, list)
        return next(f["severity"] for f in found if f["code"] == code)


def run(path: Path, capsys: pytest.CaptureFixture[str], *extra: str, json_out: bool = True) -> Run:
    """Run the CLI on a file and check the promises every run keeps: the input is unchanged,
    there is no traceback, an unreadable input gets exactly one line."""
    before = path.read_bytes() if path.is_file() else None
    out_path = path.parent / "out" / "result.json"
    args = [str(path), *extra]
    if json_out:
        out_path.parent.mkdir(exist_ok=True)
        out_path.unlink(missing_ok=True)
        args += ["--json", str(out_path)]
    code = cli.main(args)
    captured = capsys.readouterr()
    if before is not None:
        assert path.read_bytes() == before, "the input file was changed"
    assert "Traceback" not in captured.err + captured.out
    assert code in (0, 1, 2)
    result = None
    if code == 2:
        assert len(captured.err.strip().splitlines()) == 1, captured.err
        assert captured.err.startswith("cld-validate: ")
    elif json_out:
        result = json.loads(out_path.read_text())
    return Run(code, captured.out, captured.err, result)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def gender_lines(path: Path) -> list[int]:
    """Lines where the CLI's validation found the planted Gender fault."""
    report = validate(path)
    return report.finding_rows.filter(pl.col("code").str.starts_with("GENDER_"))["line"].to_list()


def value_on_line(path: Path, line: int, field: str) -> str | None:
    """The value the reader gives a field on a line of the file."""
    with read_return(path) as source:
        frame = source.frame.filter(pl.col("__line") == line).collect()
    return frame[field].item()


# --- empty and header-only ------------------------------------------------------------


def test_empty_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run(write(tmp_path / "r.csv", b""), capsys)
    assert r.code == 1
    assert "The file is empty" in r.findings["FILE_EMPTY"]
    assert "FILE_EMPTY" in r.out


def test_white_space_only_is_empty(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run(write(tmp_path / "r.csv", b"\r\n  \n\n"), capsys)
    assert r.code == 1 and "FILE_EMPTY" in r.findings


def test_header_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run(write(tmp_path / "r.csv", LINES[0] + b"\n"), capsys)
    assert r.code == 1
    assert "no data rows" in r.findings["FILE_HEADER_ONLY"]
    assert r.result is not None and r.result["rows"] == 0


# --- ragged rows, quotes, blank lines -------------------------------------------------


def test_ragged_rows_too_many_and_too_few(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = list(LINES)
    lines[2] = lines[2] + b",extra"
    lines[3] = lines[3].rsplit(b",", 5)[0]
    path = write(tmp_path / "r.csv", b"\n".join([*lines, bad_row()]) + b"\n")
    r = run(path, capsys)
    assert r.code == 1
    message = r.findings["ROW_FIELD_COUNT"]
    assert message.startswith("Line 3: 2 row(s)") and "expected 48" in message
    assert gender_lines(path) == [len(lines) + 1]


def test_unterminated_quote_is_isolated_to_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = list(LINES)
    lines[3] = lines[3].replace(b",Ann,", b',"Ann,', 1)
    path = write(tmp_path / "r.csv", b"\n".join([*lines, bad_row()]) + b"\n")
    r = run(path, capsys)
    assert r.code == 1
    message = r.findings["ROW_UNTERMINATED_QUOTE"]
    assert message.startswith("Line 4: A double quote on this line opens a value")
    assert "never closed" in message and "closing double quote" in message
    # The rest of the file is read row by row: every row is there, the fault after it found.
    assert r.result is not None and r.result["rows"] == ROWS + 1
    assert gender_lines(path) == [len(lines) + 1]
    assert "ROW_FIELD_COUNT" not in r.findings  # the well-quoted values kept their commas
    # The stray quote is kept as a character of the value: nothing is dropped.
    assert value_on_line(path, 4, "First Name") == '"Ann'
    assert (
        value_on_line(path, 4, "Event Outcome") == "Progress to assessment, review or reassessment"
    )


def test_unterminated_quote_on_the_last_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "r.csv", b"\n".join([*LINES, b'503,"01/10/2024,30/09/2025']) + b"\n")
    r = run(path, capsys)
    assert r.code == 1
    assert r.findings["ROW_UNTERMINATED_QUOTE"].startswith(f"Line {len(LINES) + 1}:")
    assert r.result is not None and r.result["rows"] == ROWS + 1


def test_misplaced_quotes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = list(LINES)
    lines[2] = lines[2].replace(b",Ann,", b',"Ann"ie,', 1)  # text after a closing quote
    lines[4] = lines[4].replace(b",Smith,", b',O"Brien,', 1)  # a lone quote inside a value
    path = write(tmp_path / "r.csv", b"\n".join([*lines, bad_row()]) + b"\n")
    r = run(path, capsys)
    assert r.code == 1
    message = r.findings["ROW_QUOTES"]
    assert message.startswith("Line 3: ") and "first at line 3" in message
    assert gender_lines(path) == [len(lines) + 1]
    assert value_on_line(path, 3, "First Name") == '"Ann"ie'
    assert value_on_line(path, 5, "Last Name") == 'O"Brien'


def test_quoted_values_across_lines_are_not_damage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = clean_rows()
    rows[0]["Event Description"] = 'first line\nsecond "quoted" line'
    path = write_csv(tmp_path / "r.csv", rows)
    with path.open("ab") as handle:
        handle.write(bad_row() + b"\n")
    r = run(path, capsys)
    assert not {"ROW_QUOTES", "ROW_UNTERMINATED_QUOTE", "ROW_FIELD_COUNT"} & set(r.findings)
    assert gender_lines(path) == [len(path.read_bytes().splitlines())]


def test_blank_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [*LINES[:3], b"", b"   ", *LINES[3:], bad_row(), b""]
    path = write(tmp_path / "r.csv", b"\n".join(lines) + b"\n")
    r = run(path, capsys)
    assert r.code == 1
    assert r.findings["BLANK_LINES"].startswith("3 blank line(s) in the file (first at line 4)")
    assert gender_lines(path) == [len(lines) - 1]
    assert r.result is not None and r.result["rows"] == ROWS + 1


def test_duplicate_header_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header = [*HEADER, "Gender"]
    rows = [{**r, "Gender": r["Gender"]} for r in clean_rows()]
    r = run(write_csv(tmp_path / "r.csv", rows, header=header), capsys)
    assert r.code == 1
    message = r.findings["HEADER_DUPLICATE_COLUMN"]
    assert message.startswith("Line 1: Column 'Gender' appears more than once (columns 9, 49)")


# --- encodings and bytes --------------------------------------------------------------


def test_utf8_byte_order_mark(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run(write(tmp_path / "r.csv", b"\xef\xbb\xbf" + clean_csv_bytes()), capsys)
    assert r.code == 1 and r.severity("FILE_BOM") == "error"
    assert "without BOM" in r.findings["FILE_BOM"]
    assert r.result is not None and r.result["errors"] == 0  # the data itself was read cleanly


def test_windows_1252_is_read_correctly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = clean_rows()
    rows[4]["First Name"] = "Zoë"
    rows[5]["Unit Cost"] = "£18.50"
    path = write_csv(tmp_path / "r.csv", rows, encoding="cp1252")
    r = run(path, capsys)
    assert r.code == 1
    assert not {"FILE_ENCODING", "FILE_MIXED_ENCODING"} & set(r.findings)
    report = validate(path)
    flagged = report.finding_rows.filter(pl.col("code") == "UNIT_COST_FORMAT")
    assert flagged["value"].to_list() == ["£18.50"] and flagged["line"].to_list() == [7]


def test_bytes_valid_in_neither_encoding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = clean_csv_bytes().replace(b"Adult contact", b"Adult \x81contact", 1)
    r = run(write(tmp_path / "r.csv", data), capsys)
    assert r.code == 1
    assert "neither UTF-8 nor Windows-1252 (first at line 2)" in r.findings["FILE_ENCODING"]


def test_utf8_and_windows_1252_mixed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = list(LINES)
    lines[2] = lines[2].replace(b"Ann", "Zoë".encode(), 1)
    lines[5] = lines[5].replace(b"Ann", "Zoë".encode("cp1252"), 1)
    r = run(write(tmp_path / "r.csv", b"\n".join(lines) + b"\n"), capsys)
    assert r.code == 1
    assert "(first at line 3)" in r.findings["FILE_MIXED_ENCODING"]


def test_utf16_is_converted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (b"\n".join([*LINES, bad_row()]) + b"\n").decode()
    path = write(tmp_path / "r.csv", text.replace(",", "\t").encode("utf-16"))
    r = run(path, capsys)
    assert r.code == 1
    assert "UTF-16" in r.findings["FILE_UTF16"] and "tabs" in r.findings["FILE_DELIMITER"]
    assert gender_lines(path) == [len(LINES) + 1]


def test_nul_bytes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = clean_csv_bytes().replace(b"Adult contact", b"Adult contact\x00\x00", 1)
    r = run(write(tmp_path / "r.csv", data), capsys)
    assert r.code == 1
    assert r.findings["FILE_NUL_BYTES"].startswith("1 line(s) hold NUL bytes (first at line 2)")


@pytest.mark.parametrize(
    ("name", "data", "what"),
    [
        ("png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "is a PNG image"),
        ("pdf", b"%PDF-1.7\n" + bytes(range(256)) * 8, "is a PDF document"),
        ("xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "old-format Excel workbook"),
        ("random", random.Random(4).randbytes(20_000), "is binary data"),
        ("utf16-no-bom", "LA Code,Gender\n503,Female\n".encode("utf-16-le") * 5, "UTF-16 text"),
    ],
)
def test_binary_files_named_csv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, data: bytes, what: str
) -> None:
    r = run(write(tmp_path / f"{name}.csv", data), capsys)
    assert r.code == 2
    assert what in r.err and "not a text CSV file" in r.err
    assert r.out == ""


def test_zip_and_workbook_named_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("return.csv", clean_csv_bytes())
    r = run(write(tmp_path / "zip.csv", buffer.getvalue()), capsys)
    assert r.code == 2 and "is a ZIP archive, not a text CSV file" in r.err
    book = write_workbook(tmp_path / "book.xlsx", clean_rows())
    renamed = write(tmp_path / "book.csv", book.read_bytes())
    r = run(renamed, capsys)
    assert r.code == 2 and "is an Excel workbook, not a text CSV file" in r.err
    assert "name it .xlsx" in r.err


def test_a_megabyte_in_one_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = clean_rows()
    rows[4]["Event Description"] = "x" * 1024 * 1024
    path = write_csv(tmp_path / "r.csv", rows)
    with path.open("ab") as handle:
        handle.write(bad_row() + b"\n")
    r = run(path, capsys)
    assert r.code == 1  # the planted Gender fault; the long value itself is a warning
    message = r.findings["FIELD_TOO_LONG"]
    assert message.startswith(f"Line 6: 1 row(s) hold a value longer than {LONG_VALUE:,}")
    assert "'Event Description', 1,048,576 characters" in message
    assert gender_lines(path) == [ROWS + 2]


def test_crlf_line_endings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = write(tmp_path / "clean.csv", clean_csv_bytes("\r\n"))
    r = run(clean, capsys)
    assert r.code == 0 and r.result is not None and r.result["errors"] == 0
    path = write(tmp_path / "r.csv", clean_csv_bytes("\r\n") + bad_row() + b"\r\n")
    r = run(path, capsys)
    assert r.code == 1 and gender_lines(path) == [ROWS + 2]
    assert not {"ROW_FIELD_COUNT", "BLANK_LINES", "ROW_QUOTES"} & set(r.findings)


def _one_crlf_no_final_newline(data: bytes) -> bytes:
    """The third data line ends CRLF, the others LF, and the last line has no line break."""
    lines = data.split(b"\n")[:-1]
    lines[3] += b"\r"
    return b"\n".join(lines)


def test_crlf_read_a_chunk_at_a_time_keeps_every_value(tmp_path: Path) -> None:
    # The line scan drops the CR of a CRLF with the LF, so a chunk of lines is one byte a
    # line longer than the lines' text says: each chunk must still end at its last line's
    # newline. Cut short, a chunk of 4 lines lost the end of its last line (Planned units
    # per week '13' read as '1') and the next chunk started inside it. Every row ends in a
    # value; faults planted on lines 5 and 12 (the last lines of chunks).
    rows = [row("community", i, **{"Planned units per week": f"{10 + i}"}) for i in range(14)]
    rows[3]["Gender"] = rows[10]["Gender"] = "Femal"
    lf = write_csv(tmp_path / "lf.csv", rows)
    want = validate(lf, chunk_rows=4)
    assert want.central is not None
    # The weekly costs use each row's own planned units: 18.50 x (10 + i) a week.
    assert sorted(want.central.costs["factor"].to_list()) == [float(10 + i) for i in range(14)]
    crlf = lf.read_bytes().replace(b"\n", b"\r\n")
    for name, data in (
        ("crlf.csv", crlf),
        ("mixed.csv", lf.read_bytes().replace(b"\n", b"\r\n", 5)),
        ("no_final_newline.csv", crlf.rstrip(b"\r\n")),
        # One CRLF and no final line break: the newlines' bytes add up to one a line, as in
        # an all-LF file with a final line break; the reader must not take it for one.
        ("one_crlf_no_final_newline.csv", _one_crlf_no_final_newline(lf.read_bytes())),
    ):
        got = validate(write(tmp_path / name, data), chunk_rows=4)
        assert (got.rows, got.errors, got.warnings) == (want.rows, want.errors, want.warnings)
        assert got.finding_rows.equals(want.finding_rows), name
        assert got.central is not None and got.central.figures == want.central.figures, name
        assert got.central.costs.equals(want.central.costs), name


def test_carriage_returns_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path / "r.csv", (b"\n".join([*LINES, bad_row()]) + b"\n").replace(b"\n", b"\r")
    )
    r = run(path, capsys)
    assert r.code == 1
    assert "carriage return alone" in r.findings["FILE_LINE_ENDINGS"]
    assert gender_lines(path) == [ROWS + 2]


def test_trailing_delimiter_on_every_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An export that ends every line, the header too, with a comma: the DLP would see an
    unnamed extra column, which the rules make a warning like any extra column."""
    path = write(tmp_path / "r.csv", b"".join(line + b",\n" for line in LINES))
    r = run(path, capsys)
    assert r.code == 0
    assert r.severity("HEADER_TRAILING_DELIMITER") == "warning"
    assert r.findings["HEADER_TRAILING_DELIMITER"].startswith(
        "Line 1: The header row ends with a delimiter, which adds an unnamed column after "
        "'Planned units per week'; it was not checked."
    )
    assert not {"HEADER_EXTRA_COLUMN", "ROW_FIELD_COUNT"} & set(r.findings)


def test_trailing_delimiter_on_rows_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows one field longer than the header: the rules make that a ragged row (error)."""
    data = LINES[0] + b"\n" + b"".join(line + b",\n" for line in [*LINES[1:], bad_row()])
    path = write(tmp_path / "r.csv", data)
    r = run(path, capsys)
    assert r.code == 1 and r.severity("ROW_TRAILING_DELIMITER") == "error"
    assert r.findings["ROW_TRAILING_DELIMITER"].startswith(
        f"Line 2: {ROWS + 1} row(s) end with a delimiter that the header row does not have"
    )
    assert "ROW_FIELD_COUNT" not in r.findings
    assert gender_lines(path) == [ROWS + 2]


def test_unnamed_column_in_the_middle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    header = list(HEADER)
    header.insert(5, "")
    rows = [{**r, "": ""} for r in clean_rows()]
    r = run(write_csv(tmp_path / "r.csv", rows, header=header), capsys)
    assert r.code == 0 and r.severity("HEADER_EXTRA_COLUMN") == "warning"
    assert r.findings["HEADER_EXTRA_COLUMN"].startswith(
        "Line 1: Column '(unnamed, column 6)' is not in the Release 2 specification"
    )


def test_semicolons(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (b"\n".join([*LINES, bad_row()]) + b"\n").decode()
    rows = list(csv.reader(io.StringIO(text)))
    out = io.StringIO()
    csv.writer(out, delimiter=";", lineterminator="\n").writerows(rows)
    path = write(tmp_path / "r.csv", out.getvalue().encode())
    r = run(path, capsys)
    assert r.code == 1 and "separated by semicolons" in r.findings["FILE_DELIMITER"]
    assert "HEADER_MISSING_COLUMN" not in r.findings
    assert gender_lines(path) == [ROWS + 2]


def test_header_below_title_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = b"Client Level Data return Q2,,,\n\n" + b"\n".join([*LINES, bad_row()]) + b"\n"
    path = write(tmp_path / "r.csv", data)
    r = run(path, capsys)
    assert r.code == 1
    assert r.findings["HEADER_NOT_FIRST"].startswith(
        "Line 3: The header row is line 3, not line 1; the 2 line(s) above it were ignored."
    )
    assert gender_lines(path) == [ROWS + 4]


def test_no_header_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "r.csv", b"\n".join([*LINES[1:], bad_row()]) + b"\n")
    r = run(path, capsys)
    assert r.code == 1
    assert r.findings["HEADER_NOT_FOUND"].startswith("Line 1: Line 1 holds data")
    assert gender_lines(path) == [ROWS + 1]
    assert r.result is not None and r.result["rows"] == ROWS + 1


def test_not_a_return(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "r.csv", b"name,amount\nwidgets,3\n")
    r = run(path, capsys)
    assert r.code == 2 and "does not look like a CLD return" in r.err
    assert "it starts 'name,amount'" in r.err


# --- other formats --------------------------------------------------------------------


def test_gzip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "r.csv.gz", gzip.compress(clean_csv_bytes() + bad_row() + b"\n"))
    r = run(path, capsys)
    assert r.code == 1 and gender_lines(path) == [ROWS + 2]
    plain = write(tmp_path / "plain.csv.gz", clean_csv_bytes())
    r = run(plain, capsys)
    assert r.code == 2 and "not a readable gzip file despite its name; it is plain" in r.err
    cut = write(tmp_path / "cut.csv.gz", gzip.compress(clean_csv_bytes())[:-30])
    r = run(cut, capsys)
    assert r.code == 2 and "damaged or cut short" in r.err
    png = write(tmp_path / "png.csv.gz", gzip.compress(b"\x89PNG\r\n\x1a\n" + bytes(300)))
    r = run(png, capsys)
    assert r.code == 2 and "is a PNG image (inside the gzip file)" in r.err


def test_gzip_named_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run(write(tmp_path / "r.csv", gzip.compress(clean_csv_bytes())), capsys)
    assert r.code == 2 and "is gzip-compressed" in r.err and "Name it .csv.gz" in r.err


def test_workbook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [*clean_rows(), row("request", 77, Gender="Femal")]
    path = write_workbook(tmp_path / "r.xlsx", rows)
    r = run(path, capsys)
    assert r.code == 1  # the planted fault; the workbook's own findings are warnings
    assert r.severity("FILE_NOT_CSV") == "warning"
    assert "an Excel workbook (sheet 'Data', header row 1)" in r.findings["FILE_NOT_CSV"]
    dates = r.findings["XLSX_DATES_CONVERTED"]
    assert "(first at row 2, 'Reporting Period Start Date')" in dates
    assert "dd/mm/yyyy" in dates and r.severity("XLSX_DATES_CONVERTED") == "warning"
    assert gender_lines(path) == [ROWS + 2]
    # Dates, numbers and text read from the sheet validate exactly like the CSV's values.
    assert r.result is not None and r.result["errors"] == 1
    csv_result = validate(write_csv(tmp_path / "same.csv", rows))
    assert r.result["rules"] == json.loads(csv_result.to_json())["rules"]


def test_workbook_pasted_into_a_template(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [*clean_rows(), row("request", 77, Gender="Femal")]
    path = write_workbook(tmp_path / "r.xlsx", rows, title_rows=2, excel_dates=False)
    r = run(path, capsys)
    assert r.code == 1
    assert r.findings["HEADER_NOT_FIRST"].startswith("Line 3: The header row is line 3")
    assert "XLSX_DATES_CONVERTED" not in r.findings
    assert gender_lines(path) == [ROWS + 4]  # Excel's row number


def test_unreadable_workbooks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    r = run(write(tmp_path / "text.xlsx", clean_csv_bytes()), capsys)
    assert r.code == 2 and "is a text file, not an Excel workbook" in r.err
    r = run(write(tmp_path / "broken.xlsx", b"PK\x03\x04" + bytes(200)), capsys)
    assert r.code == 2 and "is not a readable Excel workbook" in r.err
    r = run(write(tmp_path / "old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200)), capsys)
    assert r.code == 2 and "old-format Excel workbook (.xls)" in r.err
    empty = write_workbook(tmp_path / "other.xlsx", [])
    import openpyxl

    book = openpyxl.load_workbook(empty)
    book["Data"].delete_rows(1)
    book.save(empty)
    r = run(empty, capsys)
    assert r.code == 2 and "no sheet holds the Release 2 column names" in r.err


def test_parquet(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = [*clean_rows(), row("request", 77, Gender="Femal")]
    frame = pl.DataFrame(rows, schema=list(HEADER)).with_columns(
        pl.col("Date of Birth").str.to_date("%d/%m/%Y", strict=False),
        pl.col("LA Code").cast(pl.Int64),
    )
    path = tmp_path / "r.parquet"
    frame.write_parquet(path)
    r = run(path, capsys)
    assert r.code == 1
    assert "a Parquet file" in r.findings["FILE_NOT_CSV"]
    typed = r.findings["PARQUET_TYPED_COLUMNS"]
    assert "'LA Code', 'Date of Birth'" in typed and "Date" in typed and "Int64" in typed
    assert r.result is not None and r.result["errors"] == 1  # dates read back as dd/mm/yyyy
    assert gender_lines(path) == [ROWS + 2]
    r = run(write(tmp_path / "fake.parquet", clean_csv_bytes()), capsys)
    assert r.code == 2 and "is not a Parquet file" in r.err


# --- paths and outputs ----------------------------------------------------------------


def test_missing_path_folder_and_permission(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    r = run(tmp_path / "nope.csv", capsys)
    assert r.code == 2 and "nope.csv: no such file" in r.err
    r = run(tmp_path, capsys, json_out=False)
    assert r.code == 2 and "is a folder, not a return file" in r.err
    locked = write(tmp_path / "locked.csv", clean_csv_bytes())
    locked.chmod(0)
    try:
        if os.geteuid() == 0:  # root reads anything: take the permission away by hand
            real = os.access
            monkeypatch.setattr(
                os, "access", lambda p, mode, **kw: False if Path(p) == locked else real(p, mode)
            )
        r = run(locked, capsys, json_out=False)
    finally:
        locked.chmod(0o644)
    assert r.code == 2 and "locked.csv: permission denied" in r.err


def test_output_folder_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path / "r.csv", clean_csv_bytes())
    for flag, target in (("--json", "no/r.json"), ("--errors", "no/r.csv")):
        code = cli.main([str(path), flag, str(tmp_path / target)])
        err = capsys.readouterr().err
        assert code == 2 and "does not exist; create it first" in err
        assert len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]


def test_output_folder_not_writable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "r.csv", clean_csv_bytes())
    assert cli.main([str(path), "--json", str(path / "r.json")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o500)
    try:
        if os.geteuid() == 0:
            real = os.access
            monkeypatch.setattr(  # every command's output check (safety.output_problem)
                safety.os,
                "access",
                lambda p, mode, **kw: False if Path(p) == out else real(p, mode),
            )
        code = cli.main([str(path), "--json", str(out / "r.json")])
    finally:
        out.chmod(0o700)
    err = capsys.readouterr().err
    assert code == 2 and "cannot be written to" in err
    assert list(out.iterdir()) == []
    assert cli.main([str(path), "--errors", str(tmp_path / "r.xlsx")]) == 2
    assert "written as .csv or .parquet" in capsys.readouterr().err


def test_a_failed_write_leaves_nothing_behind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up half way through: no output, no temporary file, exit 2."""
    path = write(tmp_path / "r.csv", clean_csv_bytes() + bad_row() + b"\n")
    out = tmp_path / "out"
    out.mkdir()

    def half_then_fail(self: pl.LazyFrame, file: Path, **kwargs: object) -> None:
        Path(file).write_bytes(b"PAR1 half")
        raise OSError(28, "No space left on device")

    # Findings are streamed to the file (they can be millions).
    monkeypatch.setattr(pl.LazyFrame, "sink_parquet", half_then_fail)
    code = cli.main([str(path), "--errors", str(out / "f.parquet"), "--json", str(out / "r.json")])
    err = capsys.readouterr().err
    assert code == 2 and "cannot write output" in err and "No space left" in err
    assert sorted(p.name for p in out.iterdir()) == ["r.json"]  # written whole, before
    assert json.loads((out / "r.json").read_text())["errors"] == 1


# --- error paths ----------------------------------------------------------------------


def test_unexpected_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "r.csv", clean_csv_bytes())

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("engine failure\nwith a second line of detail")

    monkeypatch.setattr(cli, "validate", broken)
    assert cli.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"cld-validate: {path}: unexpected error (RuntimeError: engine failure). "
        "Run again with --debug for details and report it."
    )
    assert cli.main([str(path), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "with a second line of detail" in err

    def panics(*args: object, **kwargs: object) -> None:
        raise pl.exceptions.PanicException("assertion `left == right` failed")

    monkeypatch.setattr(cli, "validate", panics)  # a Rust panic is no Exception in Python
    assert cli.main([str(path)]) == 2
    err = capsys.readouterr().err
    assert "unexpected error (PanicException" in err and len(err.strip().splitlines()) == 1


def test_one_bad_return_does_not_stop_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path / "good.csv", clean_csv_bytes())
    bad = write(tmp_path / "bad.csv", b"\x89PNG\r\n\x1a\n" + bytes(100))
    out = tmp_path / "out"
    out.mkdir()
    assert cli.main([str(bad), str(good), "--json", str(out), "--quiet"]) == 2
    assert "bad.csv: is a PNG image" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["good.json"]
