"""``cld-validate fix``: Release 1 values, near misses and postcodes corrected, nothing else."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import polars as pl
import pytest
from factory import HEADER, Quoting, clean_rows, row

from cld_polars import validate
from cld_polars.cli import main

AFRICAN = "Black, Black British, Caribbean or African: African"


def _rows() -> list[dict[str, str]]:
    return [
        *clean_rows(),
        row("request", 1, **{"Client Type": "Service User"}),  # Release 1
        row("request", 2, Gender="female", Postcode="ln1 1yl"),  # near miss, postcode
        row("request", 3, Ethnicity=AFRICAN.lower()),  # near miss; the fix needs quotes
        row("community", 4, Postcode="LN11YL", **{"First Name": 'Ann "Nan"'}),
        row("request", 5, Gender="Robot", **{"Event Start Date": "2024-11-01"}),  # not fixed
        row("review", 6, **{"Event Description": "Comma, inside", "Postcode": " ln1"}),
    ]


EXPECTED_LOG = [
    (row_line, field, old, new, change)
    for row_line, field, old, new, change in [
        (0, "Client Type", "Service User", "Service user", "release1"),
        (1, "Gender", "female", "Female", "near_miss"),
        (1, "Postcode", "ln1 1yl", "LN1 1YL", "postcode"),
        (2, "Ethnicity", AFRICAN.lower(), AFRICAN, "near_miss"),
        (3, "Postcode", "LN11YL", "LN1 1YL", "postcode"),
        (5, "Postcode", " ln1", "LN1", "postcode"),
    ]
]


def _write(path: Path, quoting: Quoting, newline: str, encoding: str = "utf-8") -> Path:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=quoting, lineterminator=newline)
    writer.writerow(HEADER)
    for r in _rows():
        writer.writerow([r.get(h, "") for h in HEADER])
    path.write_bytes(buffer.getvalue().encode(encoding))
    return path


def _records(data: bytes, encoding: str = "utf-8") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def _release1_or_near_miss(report_path: Path) -> pl.DataFrame:
    return (
        validate(report_path)
        .findings.filter(
            pl.col("code").str.ends_with("_RELEASE1")
            | pl.col("code").str.ends_with("_NEAR_MISS")
            | (pl.col("code") == "POSTCODE_FORMAT")
        )
        .collect()
    )


@pytest.mark.parametrize(
    ("quoting", "newline"), [(csv.QUOTE_MINIMAL, "\n"), (csv.QUOTE_ALL, "\r\n")]
)
def test_fix_changes_only_what_it_logs(
    tmp_path: Path, quoting: Quoting, newline: str, capsys: pytest.CaptureFixture[str]
) -> None:
    original = _write(tmp_path / "return.csv", quoting, newline)
    before = original.read_bytes()
    fixed = tmp_path / "fixed.csv"
    assert main(["fix", str(original), "--out", str(fixed)]) == 0
    assert "6 changes" in capsys.readouterr().out
    assert hashlib.sha256(original.read_bytes()).digest() == hashlib.sha256(before).digest()

    first = len(clean_rows()) + 2  # line of _rows()'s first planted row
    log = pl.read_csv(tmp_path / "fixed_changes.csv", infer_schema=False)
    assert log.columns == ["line", "field", "old", "new", "change"]
    expected = [(str(first + i), f, o, n, c) for i, f, o, n, c in EXPECTED_LOG]
    assert log.rows() == expected

    after = fixed.read_bytes()
    old_lines, new_lines = before.split(b"\n"), after.split(b"\n")
    assert len(old_lines) == len(new_lines)
    changed_lines = {int(line) for line in log["line"]}
    for number, (old, new) in enumerate(zip(old_lines, new_lines, strict=True), start=1):
        if number not in changed_lines:
            assert old == new, number  # every byte of an unchanged line
    # On changed lines, every field the log does not name reads exactly as before.
    changed = {(int(r[0]), HEADER.index(r[1])): (r[2], r[3]) for r in log.rows()}
    old_records, new_records = _records(before), _records(after)
    assert old_records[0] == new_records[0] == list(HEADER)
    for number, (old_record, new_record) in enumerate(
        zip(old_records, new_records, strict=True), start=1
    ):
        for i, (a, b) in enumerate(zip(old_record, new_record, strict=True)):
            if (number, i) in changed:
                assert (a, b) == changed[number, i]
            else:
                assert a == b, (number, HEADER[i])
    if quoting == csv.QUOTE_ALL:  # a rewritten value keeps the quoting of the one it replaces
        assert b',"Female",' in new_lines[first]
        assert all(line.endswith(b"\r") for line in new_lines[:-1])

    # Re-validating shows no Release 1, near-miss or postcode-format errors; the rest remain.
    assert _release1_or_near_miss(fixed).height == 0
    assert _release1_or_near_miss(original).height == 6
    left = validate(fixed).rules.select("code", "rows")
    assert left.filter(pl.col("code").is_in(["GENDER_INVALID", "EVENT_START_DATE_FORMAT"])).height


def test_fixed_copy_keeps_windows_1252(tmp_path: Path) -> None:
    original = _write(tmp_path / "cp.csv", csv.QUOTE_MINIMAL, "\n", encoding="cp1252")
    original.write_bytes(original.read_bytes().replace(b"Ann", b"Zo\xeb"))
    fixed = tmp_path / "fixed.csv"
    assert main(["fix", str(original), "--out", str(fixed), "-q"]) == 0
    data = fixed.read_bytes()
    assert b"Zo\xeb" in data and "Zoë".encode() not in data
    assert validate(fixed).encoding == "windows-1252"
    assert _release1_or_near_miss(fixed).height == 0


def test_bom_dropped_and_header_variant_renamed(tmp_path: Path) -> None:
    original = _write(tmp_path / "bom.csv", csv.QUOTE_MINIMAL, "\n")
    data = original.read_bytes().replace(b"Event Start Date", b"event_start_date", 1)
    original.write_bytes(b"\xef\xbb\xbf" + data)
    fixed, log = tmp_path / "fixed.csv", tmp_path / "log.csv"
    assert main(["fix", str(original), "--out", str(fixed), "--log", str(log), "-q"]) == 0
    out = fixed.read_bytes()
    assert not out.startswith(b"\xef\xbb\xbf")
    assert out.split(b"\n")[0].decode() == ",".join(f'"{h}"' if "," in h else h for h in HEADER)
    changes = pl.read_csv(log, infer_schema=False)
    assert changes.filter(pl.col("change") == "header").rows() == [
        ("1", "Event Start Date", "event_start_date", "Event Start Date", "header")
    ]
    assert changes.filter(pl.col("change") == "byte-order mark").height == 1
    codes = {f.code for f in validate(fixed).file_findings}
    assert not codes & {"FILE_BOM", "HEADER_VARIANT"}


def test_a_value_over_several_lines_is_left_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        *clean_rows(),
        row("request", 1, Gender="female", **{"Event Description": "two\nlines"}),
        row("request", 2, Gender="female"),
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows([[r.get(h, "") for h in HEADER] for r in rows])
    original = tmp_path / "multi.csv"
    original.write_text(buffer.getvalue(), encoding="utf-8")
    fixed = tmp_path / "fixed.csv"
    assert main(["fix", str(original), "--out", str(fixed)]) == 0
    captured = capsys.readouterr()
    assert "1 changes" in captured.out
    assert "1 corrections left alone" in captured.err
    records = _records(fixed.read_bytes())
    assert [r[HEADER.index("Gender")] for r in records[-2:]] == ["female", "Female"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.csv", "missing.csv"),
        (lambda p: (p / "r.xlsx").write_bytes(b"PK") and p / "r.xlsx", "fix works on CSV"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    tmp_path: Path, make: object, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make(tmp_path)  # type: ignore[operator]
    fixed = tmp_path / "fixed.csv"
    assert main(["fix", str(source), "--out", str(fixed)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not fixed.exists()


def test_output_over_the_original_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original = _write(tmp_path / "return.csv", csv.QUOTE_MINIMAL, "\n")
    before = original.read_bytes()
    assert main(["fix", str(original), "--out", str(original)]) == 2
    assert "never modified" in capsys.readouterr().err
    assert original.read_bytes() == before
