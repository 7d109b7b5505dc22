"""Reading real files and running the CLI on them: header matching, encodings, structure,
exit codes and the JSON contract."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from factory import HEADER, clean_csv_bytes, clean_rows, row, write_csv

from cld_polars import Report, validate
from cld_polars.cli import main


def codes(report: Report) -> set[str]:
    return {f.code for f in report.file_findings}


def test_header_variants_are_recognised_and_reported(tmp_path: Path) -> None:
    header = list(HEADER)
    header[header.index("Event Start Date")] = "event_start_date"
    header[header.index("Autism Spectrum Disorder (ASD)")] = "Autism Spectrum Disorder"
    rows = [dict(zip(header, [r[h] for h in HEADER], strict=True)) for r in clean_rows()]
    report = validate(write_csv(tmp_path / "r.csv", rows, header=header))
    variants = [f for f in report.file_findings if f.code == "HEADER_VARIANT"]
    assert {f.field for f in variants} == {"Event Start Date", "Autism Spectrum Disorder (ASD)"}
    assert report.errors == 0  # the data under the variant headers was validated and is clean
    assert report.exit_code == 1  # but the DLP would reject the header


def test_missing_extra_and_dropped_columns(tmp_path: Path) -> None:
    header = [h for h in HEADER if h != "Gender"] + ["My Notes", "GP Practice Name"]
    rows = [{**r, "My Notes": "x", "GP Practice Name": "Surgery"} for r in clean_rows()]
    report = validate(write_csv(tmp_path / "r.csv", rows, header=header))
    found = {f.code: f for f in report.file_findings}
    assert "GENDER_MISSING" in found["HEADER_MISSING_COLUMN"].message
    assert found["HEADER_EXTRA_COLUMN"].severity == "warning"
    assert found["HEADER_DROPPED_COLUMN"].severity == "error"
    assert "GENDER_MISSING" in report.skipped_checks
    assert report.fields.filter(pl.col("field") == "Gender")["errors"].item() == 0


def test_duplicate_column(tmp_path: Path) -> None:
    header = [*HEADER, "Gender"]
    report = validate(write_csv(tmp_path / "r.csv", clean_rows(), header=header))
    assert "HEADER_DUPLICATE_COLUMN" in codes(report)


def test_bom_is_an_error_but_the_file_is_read(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", clean_rows(), encoding="utf-8-sig")
    report = validate(path)
    assert "FILE_BOM" in codes(report)
    assert "HEADER_VARIANT" not in codes(report)
    assert report.errors == 0


def test_windows_1252_is_read_correctly(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[4]["First Name"] = "Zoë"
    rows[5]["Unit Cost"] = "£18.50"
    path = write_csv(tmp_path / "r.csv", rows, encoding="cp1252")
    report = validate(path)
    assert report.encoding == "windows-1252"
    flagged = report.finding_rows.filter(pl.col("code") == "UNIT_COST_FORMAT")
    assert flagged["value"].to_list() == ["£18.50"]
    assert flagged["suggestion"].to_list() == ["18.50"]


def test_bytes_valid_in_neither_encoding(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", clean_rows())
    data = path.read_bytes().replace(b"Adult contact", b"Adult \x81contact", 1)
    path.write_bytes(data)
    report = validate(path)
    finding = next(f for f in report.file_findings if f.code == "FILE_ENCODING")
    assert "line" in finding.message.lower()


def test_crlf_and_gzip(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", clean_rows(), newline="\r\n")
    assert validate(path).errors == 0
    gz = tmp_path / "r.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    report = validate(gz)
    assert report.errors == 0 and report.rows == len(clean_rows())


def test_line_numbers_follow_multiline_values_and_blank_lines(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[0]["Event Description"] = "first line\nsecond line"
    path = write_csv(tmp_path / "r.csv", rows)
    text = path.read_text().splitlines(keepends=True)
    text.insert(3, "\n")  # a blank line after the row spanning lines 2-3
    path.write_text("".join(text))
    # Put a fault on the last data row: its line number must count the extra lines.
    bad = row("request", 7, Gender="Femal")
    with path.open("a") as handle:
        handle.write(",".join(bad[h] for h in HEADER) + "\n")
    report = validate(path)
    last_line = len(path.read_text().splitlines())
    flagged = report.finding_rows.filter(pl.col("code") == "GENDER_INVALID")
    assert flagged["line"].to_list() == [last_line]
    assert "BLANK_LINES" in codes(report)
    assert report.rows == len(rows) + 1


def test_ragged_rows(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", clean_rows())
    lines = path.read_text().splitlines()
    lines[2] = lines[2] + ",extra"
    lines[3] = lines[3].rsplit(",", 2)[0]
    path.write_text("\n".join(lines) + "\n")
    report = validate(path)
    finding = next(f for f in report.file_findings if f.code == "ROW_FIELD_COUNT")
    assert finding.line == 3
    assert "2 row(s)" in finding.message


def test_empty_and_header_only(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "FILE_EMPTY" in codes(validate(empty))
    header_only = write_csv(tmp_path / "h.csv", [])
    report = validate(header_only)
    assert "FILE_HEADER_ONLY" in codes(report) and report.rows == 0


def test_validate_accepts_frames() -> None:
    frame = pl.DataFrame(clean_rows(), schema=list(HEADER)).with_columns(pl.all().replace("", None))
    report = validate(frame.lazy())
    assert report.errors == 0 and report.rows == frame.height


# --- CLI -------------------------------------------------------------------------------


def test_cli_exit_codes_and_json_contract(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = write_csv(tmp_path / "clean.csv", clean_rows())
    out = tmp_path / "clean.json"
    assert main([str(clean), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result) == {
        "file",
        "rows",
        "release",
        "errors",
        "warnings",
        "fields",
        "rules",
        "file_findings",
        "central",  # issue 15: the central view's contract object (central-view-contract.md)
    }
    assert list(result["fields"]) == list(HEADER)
    assert (
        result["errors"] == 0 and result["release"] == "2" and result["rows"] == len(clean_rows())
    )

    bad = write_csv(tmp_path / "bad.csv", [*clean_rows(), row("request", 9, Gender="Femal")])
    out = tmp_path / "bad.json"
    findings = tmp_path / "bad.parquet"
    assert main([str(bad), "--json", str(out), "--errors", str(findings)]) == 1
    result = json.loads(out.read_text())
    assert result["errors"] == 1
    assert result["fields"]["Gender"] == {"errors": 1, "warnings": 0}
    assert result["rules"][0]["code"] == "GENDER_INVALID" and result["rules"][0]["rows"] == 1
    assert set(result["rules"][0]) == {"code", "severity", "fields", "rows", "message"}
    frame = pl.read_parquet(findings)
    assert frame["suggestion"].to_list() == ["Female"]
    assert "GENDER_INVALID" in capsys.readouterr().out


def test_cli_unreadable_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.csv")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main([str(tmp_path)]) == 2
    assert "folder" in capsys.readouterr().err
    assert main([]) == 2


def test_cli_output_folder_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = write_csv(tmp_path / "clean.csv", clean_rows())
    assert main([str(clean), "--json", str(tmp_path / "no" / "r.json")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert list((tmp_path).iterdir()) == [clean]


def test_input_file_is_unchanged(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [*clean_rows(), row("request", 9, Postcode="ln1 1yl")])
    before = path.read_bytes()
    main([str(path), "--json", str(tmp_path / "r.json"), "--quiet"])
    assert path.read_bytes() == before


def test_installed_console_script_runs_the_sample() -> None:
    """`cld-validate --sample` as a new user runs it: the sample has faults (exit 1)."""
    result = subprocess.run(
        [sys.executable, "-m", "cld_polars.cli", "--sample"], capture_output=True, text=True
    )
    assert result.returncode == 1, result.stderr
    assert "rows checked" in result.stdout and "Traceback" not in result.stderr


def test_json_file_findings_keep_the_contract_keys(tmp_path: Path) -> None:
    header = [h if h != "Gender" else "gender" for h in HEADER]
    rows = [{("gender" if k == "Gender" else k): v for k, v in r.items()} for r in clean_rows()]
    path = write_csv(tmp_path / "r.csv", rows, header=header)
    out = tmp_path / "r.json"
    assert main([str(path), "--json", str(out), "--quiet"]) == 1
    result = json.loads(out.read_text())
    assert result["errors"] == 0
    assert all(set(f) == {"code", "severity", "message"} for f in result["file_findings"])
    assert result["file_findings"][0]["code"] == "HEADER_VARIANT"
    assert result["file_findings"][0]["message"].startswith("Line 1: Column 'gender'")


def test_outputs_get_the_usual_file_permissions(tmp_path: Path) -> None:
    """Reports go on shared drives: not the private 0600 of a temporary file."""
    import os

    source = write_csv(tmp_path / "r.csv", clean_rows())
    out = tmp_path / "r.json"
    old = os.umask(0o022)
    try:
        assert main([str(source), "--json", str(out), "--quiet"]) == 0
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("cut", range(1, 12))
def test_utf8_check_across_chunk_boundaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cut: int
) -> None:
    """ASCII chunks skip the decoder; a character split between chunks must still count."""
    from cld_polars.reader import csv as reader

    monkeypatch.setattr(reader, "CHUNK", cut)
    good = tmp_path / "good.csv"
    good.write_bytes("ab,cd\nJosé,Zoë\n".encode())
    assert reader._bytes_pass(good, tmp_path, [])[1] == "utf-8"
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"ab,cd\nJos\xc3,x\n")
    assert reader._bytes_pass(bad, tmp_path, [])[1] == "windows-1252"


@pytest.mark.parametrize("name", ["r[1].csv", "r*.csv", "r?.csv", "r{a,b}.csv"])
def test_file_names_are_names_not_patterns(tmp_path: Path, name: str) -> None:
    """Characters a glob would read as a pattern are part of the name: the return, a gzip or a
    Windows-1252 copy of it, in a folder whose name has them too, is read and checked."""
    folder = tmp_path / "council [north]"
    folder.mkdir()
    rows = clean_rows()
    plain = write_csv(folder / name, rows)
    cp1252 = folder / ("w" + name)
    cp1252.write_bytes(plain.read_bytes().replace(b"Smith", "Sm\u00eeth".encode("cp1252")))
    zipped = folder / (name + ".gz")
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, cp1252, zipped):
        out = folder / ("out " + path.name + ".json")
        assert main([str(path), "--json", str(out), "--quiet"]) == 0, path
        assert json.loads(out.read_text())["rows"] == len(rows)


def test_no_header_and_stray_quotes_in_the_first_row(tmp_path: Path) -> None:
    """A piece of a return cut from the middle (no header, the last line cut short) whose
    first row has quotes that do not pair up: the scan would take that row's fields as the
    file's columns and stop. The rows are read the exact way instead and the damage is
    reported by line (a case the fuzz test found)."""
    lines = clean_csv_bytes().decode().splitlines()[7:12]
    values = lines[0].split(",")
    lines[0] = '","'.join(values[:11]) + "," + ",".join(values[11:])
    lines[-1] = lines[-1][:8]
    path = tmp_path / "r.csv"
    path.write_text("\n".join(lines) + "\n")
    out = tmp_path / "r.json"
    assert main([str(path), "--json", str(out), "--quiet"]) == 1
    found = {f["code"] for f in json.loads(out.read_text())["file_findings"]}
    assert {"HEADER_NOT_FOUND", "ROW_QUOTES"} <= found
