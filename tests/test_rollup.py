"""The national roll-up (``national.parquet``, ``national.xlsx``) and the up-to-date skip of
the output-folder mode, on the single-machine path (the Dask path is in test_distributed)."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from factory import clean_rows, row, write_csv
from workbook_checks import check_workbook, column_cells, column_values

from cld_polars import batch, validate
from cld_polars.batch import BatchResult, input_sha256, validate_many
from cld_polars.cli import main
from cld_polars.generate import write_return
from cld_polars.rollup import return_counts, rollup_frame, write_rollup


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two clean councils, one return with an error and a Release 1 value, one unreadable."""
    where = tmp_path_factory.mktemp("national")
    write_return(where / "surrey.csv", 600, seed=1, la_code="805")
    write_return(where / "lincs.csv", 400, seed=2, la_code="503")
    planted = [*clean_rows(), row("request", 9, Gender="Femal"), row("request", 8)]
    planted[-1]["Gender"] = "Not known"  # a Release 1 value
    write_csv(where / "planted.csv", planted)
    (where / "broken.csv.gz").write_bytes(b"\x00\x01 not a return")
    return where


def test_counts_are_the_reports_own(folder: Path) -> None:
    report = validate(folder / "planted.csv")
    counts = return_counts(report)
    assert counts["rows"] == report.rows
    assert counts["people"] == report.summary["overview"]["People"][0]
    gender = report.fields.filter(pl.col("field") == "Gender").row(0, named=True)
    assert counts["fields"]["Gender"] == {
        k: gender[k] for k in ("errors", "warnings", "valid", "release1", "pct_valid")
    }
    assert counts["fields"]["Gender"]["errors"] == 2  # the invalid value and the Release 1 one
    assert counts["fields"]["Gender"]["release1"] == 1
    assert {c: r["rows"] for c, r in counts["rules"].items()} == dict(
        report.rules.select("code", "rows").iter_rows()
    )
    json.dumps(counts, allow_nan=False)  # plain JSON: recorded on disk, sent between processes


def test_cli_folder_writes_the_rollup(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports"
    assert main([str(folder), "--out-dir", str(out), "--quiet"]) == 2
    frame = pl.read_parquet(out / "national.parquet")
    # Councils by LA Code (the planted return is 503 too), the unreadable one last.
    assert frame["stem"].to_list() == ["lincs", "planted", "surrey", "broken"]
    assert frame["status"].to_list() == ["pass", "fail", "pass", "unreadable"]
    assert frame["council_name"].to_list() == ["Lincolnshire", "Lincolnshire", "Surrey", None]
    broken = frame.row(3, named=True)
    assert "not a readable gzip file" in broken["message"]
    assert broken["rows"] is None and broken["pct_valid: Gender"] is None
    for stem in ("lincs", "planted", "surrey"):
        report = validate(folder / f"{stem}.csv")
        mine = frame.filter(pl.col("stem") == stem).row(0, named=True)
        assert mine["rows"] == report.rows
        assert mine["people"] == report.summary["overview"]["People"][0]
        assert mine["errors"] == report.errors
        for f in report.fields.iter_rows(named=True):
            assert mine[f"errors: {f['field']}"] == f["errors"]
            assert mine[f"release1: {f['field']}"] == f["release1"]
            assert mine[f"pct_valid: {f['field']}"] == pytest.approx(f["pct_valid"], nan_ok=True)
        rules = dict(report.rules.select("code", "rows").iter_rows())
        fired = [c for c in frame.columns if c.startswith("rule: ")]
        assert {c.removeprefix("rule: "): mine[c] for c in fired if mine[c]} == rules
    planted = frame.filter(pl.col("stem") == "planted").row(0, named=True)
    assert planted["rule: GENDER_INVALID"] == 1 and planted["release1: Gender"] == 1

    check_workbook(out / "national.xlsx")  # widths, wrapping, formats, filters, frozen headers
    full = openpyxl.load_workbook(out / "national.xlsx")
    councils_sheet = full["Councils"]
    starts = column_values(councils_sheet, "Period start")
    assert [d.date().isoformat() if d else None for d in starts] == [
        "2024-10-01",
        "2024-10-01",
        "2024-10-01",
        None,
    ]  # dates, not text
    rows = column_cells(councils_sheet, "Rows")
    assert [c.value for c in rows[:3]] == frame["rows"].to_list()[:3]
    assert all(c.number_format == "#,##0" for c in rows[:3])
    pct = column_cells(full["% valid by field"], "Gender")
    assert all(isinstance(c.value, float) and "%" in c.number_format for c in pct)
    assert full["Councils"].freeze_panes == "D4"
    workbook = openpyxl.load_workbook(out / "national.xlsx", read_only=True)
    assert workbook.sheetnames == [
        "Instructions",
        "Councils",
        "% valid by field",
        "Errors by field",
        "Release 1 values",
        "Rule counts",
        "Not read",
    ]
    councils = list(workbook["Councils"].values)
    header = councils.index(next(r for r in councils if r and r[0] == "LA Code"))
    assert councils[header][:5] == ("LA Code", "Council", "Return", "Period start", "Period end")
    assert [r[2] for r in councils[header + 1 :]] == ["lincs", "planted", "surrey", "broken"]
    errors = list(workbook["Errors by field"].values)
    top = next(i for i, r in enumerate(errors) if r and r[0] == "LA Code")
    gender = errors[top].index("Gender")
    assert [r[gender] for r in errors[top + 1 :]] == [0, 2, 0]  # the unreadable one left out
    not_read = [r for r in workbook["Not read"].values if len(r) > 2 and r[2] == "broken"]
    assert "not a readable gzip file" in not_read[0][5]
    workbook.close()


def test_rollup_text_is_never_a_formula(folder: Path, tmp_path: Path) -> None:
    report = validate(folder / "lincs.csv")
    result = BatchResult(
        file='=HYPERLINK("x")', stem="odd", status="pass", exit_code=0, council_code="=1+1"
    )
    write_rollup(tmp_path, [result], {"odd": return_counts(report)})
    workbook = openpyxl.load_workbook(tmp_path / "national.xlsx")
    values = [c.value for r in workbook["Councils"].iter_rows() for c in r]
    assert "=1+1" in values and all(
        c.data_type == "s" for r in workbook["Councils"].iter_rows() for c in r if c.value == "=1+1"
    )
    assert rollup_frame([result], {})["rows"].to_list() == [None]  # no counts: lead only


def test_rerun_skips_up_to_date_returns(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = [folder / "lincs.csv", folder / "planted.csv", folder / "broken.csv.gz"]
    out = tmp_path / "out"
    first = validate_many(paths, out, workers=1, xlsx=True)
    assert [r.skipped for r in first] == [False, False, False]
    record = json.loads((out / ".cld_polars" / "lincs.json").read_text())
    assert record["input_sha256"] == input_sha256(paths[0])
    assert not (out / ".cld_polars" / "broken.json").exists()  # retried next time
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json") if p.stem != "index"}

    again = validate_many(paths, out, workers=1, xlsx=True)
    assert [r.skipped for r in again] == [True, True, False]
    assert [r.status for r in again] == [r.status for r in first]
    strip = {"seconds", "skipped"}
    assert [{k: v for k, v in r.as_dict().items() if k not in strip} for r in again] == [
        {k: v for k, v in r.as_dict().items() if k not in strip} for r in first
    ]
    assert stamps == {p.name: p.stat().st_mtime_ns for p in out.glob("*.json") if p.stem != "index"}
    assert pl.read_parquet(out / "national.parquet")["skipped"].to_list() == [True, True, False]
    index = json.loads((out / "index.json").read_text())["returns"]
    assert [line["skipped"] for line in index] == [True, True, False]

    # Another version of the tool, other contents, or a missing output: checked again.
    monkeypatch.setattr("cld_polars._version.__version__", "99.0")
    assert [r.skipped for r in validate_many(paths[:1], out, workers=1, xlsx=True)] == [False]
    monkeypatch.undo()
    changed = tmp_path / "lincs.csv"
    write_return(changed, 400, seed=3, la_code="503")
    assert [r.skipped for r in validate_many([changed], out, workers=1, xlsx=True)] == [False]
    (out / "planted.xlsx").unlink()
    rerun = validate_many([paths[1]], out, workers=1, xlsx=True)
    assert [r.skipped for r in rerun] == [False] and (out / "planted.xlsx").exists()
    assert [r.skipped for r in validate_many([paths[1]], out, workers=1, reuse=False)] == [False]


def test_cli_reports_skips_and_recheck(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = str(folder / "surrey.csv")
    assert main([one, "--out-dir", str(tmp_path)]) == 0
    assert main([one, "--out-dir", str(tmp_path)]) == 0
    assert "(1 up to date, not checked again)" in capsys.readouterr().out
    assert main([one, "--out-dir", str(tmp_path), "--recheck"]) == 0
    assert "up to date" not in capsys.readouterr().out.splitlines()[-2]


def test_empty_folder_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "notes.txt").write_text("not a return")
    assert main([str(tmp_path), "--out-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no returns in this folder" in err
    assert not (tmp_path / "out").exists()


def test_national_is_a_reserved_name(tmp_path: Path) -> None:
    national = write_return(tmp_path / "national.csv", 200, seed=4, la_code="104")
    results = validate_many([national], tmp_path / "out", workers=1)
    assert results[0].stem == f"{tmp_path.name}_national"
    assert batch.RESERVED_STEMS >= {"index", "national"}
