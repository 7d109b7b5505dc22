"""The streaming engine gives the same results whatever the chunk size.

The engine checks a return chunk by chunk and runs the cross-row checks over a narrow
projection afterwards. These tests validate returns many times larger than a small chunk
and compare everything a user sees (JSON result, findings, field measures, summary counts)
with a run that holds the return in one chunk. Faults are placed so that pairs of rows
(duplicates, one person's details, shared NHS numbers, linked IDs) straddle chunk edges.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from catalogue import build
from factory import clean_csv_bytes

from cld_polars import validate
from cld_polars.generate import generate_return
from cld_polars.report import Report

ONE_CHUNK = 10_000_000


def assert_same(a: Report, b: Report) -> None:
    assert a.to_json_dict() == b.to_json_dict()
    assert a.finding_rows.equals(b.finding_rows)
    assert a.fields.equals(b.fields)
    assert a.submission == b.submission
    assert a.rows == b.rows
    for name, table in a.summary.items():
        assert table.equals(b.summary[name]), name


@pytest.mark.parametrize("chunk_rows", [7, 23])
def test_every_fault_same_in_small_chunks(tmp_path: Path, chunk_rows: int) -> None:
    path, faults = build(tmp_path / "catalogue.csv")
    whole = validate(path, chunk_rows=ONE_CHUNK)
    streamed = validate(path, chunk_rows=chunk_rows)
    assert whole.rows > 10 * chunk_rows
    assert_same(whole, streamed)
    # The catalogue fires (nearly) every check, frame checks among them.
    fired = {r["code"] for r in streamed.to_json_dict()["rules"]}
    assert {"DUPLICATE_ROW", "NHS_NUMBER_ON_SEVERAL_PEOPLE", "LA_CODE_NOT_SINGLE"} <= fired
    assert len(fired) >= len({f.code for f in faults}) - 5


def test_rows_that_pair_across_the_whole_return(tmp_path: Path) -> None:
    """A copy of the first row at the end, and the first person's NHS number and a different
    date of birth given to a person at the end: the pairs are thousands of rows apart."""
    frame = generate_return(3_000, seed=5)
    first = frame.head(1)
    last_pid = frame["LA Person Unique Identifier"][-1]
    frame = pl.concat([frame, first]).with_columns(
        pl.when(pl.col("LA Person Unique Identifier") == last_pid)
        .then(pl.lit(first["NHS Number"][0]))
        .otherwise(pl.col("NHS Number"))
        .alias("NHS Number")
    )
    path = tmp_path / "r.csv"
    frame.write_csv(path)
    whole = validate(path, chunk_rows=ONE_CHUNK)
    streamed = validate(path, chunk_rows=500)
    assert_same(whole, streamed)
    codes = set(streamed.finding_rows["code"].to_list())
    assert {"DUPLICATE_ROW", "NHS_NUMBER_ON_SEVERAL_PEOPLE"} <= codes
    duplicate = streamed.finding_rows.filter(pl.col("code") == "DUPLICATE_ROW")
    assert duplicate["line"].to_list() == [frame.height + 1]  # the copy, not the original


def test_damaged_lines_in_later_chunks(tmp_path: Path) -> None:
    """Rows with a field too few, and a quote out of place that sends the file to the exact
    read part-way through the stream, give the same findings at their own lines."""
    lines = clean_csv_bytes().decode().splitlines()
    header, rows = lines[0], lines[1:]
    body = rows * 8
    body[-3] = body[-3].rsplit(",", 1)[0]  # one field short
    short = tmp_path / "short.csv"
    short.write_text("\n".join([header, *body]) + "\n")
    whole = validate(short, chunk_rows=ONE_CHUNK)
    streamed = validate(short, chunk_rows=5)
    assert_same(whole, streamed)
    assert any(f["code"].startswith("ROW_") for f in streamed.to_json_dict()["file_findings"])

    quoted = list(body)
    cells = quoted[-2].split(",")
    cells[1] = '"Fe"ma"le"'
    quoted[-2] = ",".join(cells)
    stray = tmp_path / "stray.csv"
    stray.write_text("\n".join([header, *quoted]) + "\n")
    assert_same(validate(stray, chunk_rows=ONE_CHUNK), validate(stray, chunk_rows=5))


def test_a_frame_in_chunks(tmp_path: Path) -> None:
    """A frame a notebook holds streams the same way as a file."""
    frame = generate_return(1_000, seed=2)
    assert_same(validate(frame, chunk_rows=ONE_CHUNK), validate(frame.lazy(), chunk_rows=99))


def test_progress_counts_the_rows_as_they_stream(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    generate_return(1_200, seed=3).write_csv(path)
    stages: list[str] = []
    validate(path, chunk_rows=500, progress=stages.append)
    counted = [s for s in stages if s.startswith("checking (")]
    assert stages[:2] == ["reading", "checking"]
    assert counted[-1] == "checking (1,200 of 1,200 rows)"
    assert len(counted) >= 3  # at least one line per chunk
    assert stages[-1] == "cross-row checks"


def test_batches_gathered_into_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scan hands over small batches that are gathered into chunks: same results."""
    from cld_polars import engine

    path, _ = build(tmp_path / "catalogue.csv")
    whole = validate(path, chunk_rows=ONE_CHUNK)
    monkeypatch.setattr(engine, "BATCH_ROWS", 5)
    stages: list[str] = []
    gathered = validate(path, chunk_rows=23, progress=stages.append)
    assert_same(whole, gathered)
    counted = [s for s in stages if s.startswith("checking (")]
    assert len(counted) >= whole.rows // 25  # chunks of about 23 rows, not batches of 5
    assert len(counted) <= whole.rows // 23 + 1


def test_many_findings_go_to_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``SPILL_ROWS`` the findings are written to Parquet chunk by chunk and read back
    lazily, in the same order, with the same suggestions; outputs work from the file, and the
    temporary folder goes with the report."""
    import gc

    from cld_polars import findings

    path, _ = build(tmp_path / "catalogue.csv")
    whole = validate(path, chunk_rows=ONE_CHUNK)
    monkeypatch.setattr(findings, "SPILL_ROWS", 10)
    spilled = validate(path, chunk_rows=23)
    assert isinstance(spilled.findings_data, pl.LazyFrame)  # a scan of the file
    assert spilled.finding_rows.height > 10 * 10
    assert_same(whole, spilled)
    folder = Path(spilled.spill.name)  # type: ignore[attr-defined]
    assert [p.name for p in folder.iterdir()] == ["findings.parquet"]
    spilled.write_findings(tmp_path / "f.csv")
    assert pl.read_csv(tmp_path / "f.csv", infer_schema=False).height == whole.finding_rows.height
    book = spilled.to_excel(tmp_path / "r.xlsx")
    assert book.findings == whole.finding_rows.height
    del spilled, book
    gc.collect()
    assert not folder.exists()


def test_projection_text_as_categoricals_comes_back_as_text(tmp_path: Path) -> None:
    """What outlives a chunk holds its text as categoricals of the run's own categories (4
    bytes a row, where a string view costs 16), but what a user reads is text: findings of
    the frame checks, the summary tables and the council and period."""
    path, _ = build(tmp_path / "catalogue.csv")
    report = validate(path, chunk_rows=50)
    base = report.summary_base
    assert isinstance(base.schema["LA Person Unique Identifier"], pl.Categorical)
    frame_codes = {"DUPLICATE_EVENT_REFERENCE", "PERSON_GENDER_INCONSISTENT", "LA_CODE_NOT_SINGLE"}
    found = report.finding_rows
    assert frame_codes <= set(found["code"].to_list())
    assert all(dtype == pl.String for name, dtype in found.schema.items() if name != "line")
    assert report.summary["overview"].schema["LA Code"] == pl.String
    assert all(isinstance(v, str | None) for v in report.submission.values())
    # Two runs' categories are separate (freed with their reports), and never mixed up.
    again = validate(path, chunk_rows=50)
    assert (
        base.schema["LA Person Unique Identifier"]
        != again.summary_base.schema["LA Person Unique Identifier"]
    )
    assert found.equals(again.finding_rows)
