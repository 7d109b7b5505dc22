"""``compare``: two consecutive returns with planted differences give exactly those counts."""

from __future__ import annotations

import csv
import dataclasses
import datetime
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from workbook_checks import check_workbook, column_cells, column_values

from cld_polars.cli import main
from cld_polars.compare import TABLES, Comparison, compare
from cld_polars.generate import generate_pair


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, int]]:
    folder = tmp_path_factory.mktemp("compare")
    previous, current, planted = generate_pair(1500, seed=4)
    previous.write_csv(folder / "q2.csv")
    current.write_csv(folder / "q3.csv")
    return folder / "q2.csv", folder / "q3.csv", planted


@pytest.fixture(scope="module")
def result(pair: tuple[Path, Path, dict[str, int]]) -> Comparison:
    return compare(pair[0], pair[1])


def test_planted_differences_are_found_exactly(
    result: Comparison, pair: tuple[Path, Path, dict[str, int]]
) -> None:
    planted = pair[2]
    assert planted == {
        "disappeared": 7,
        "new_in_old_period": 5,
        "start_moved": 4,
        "cost_changes": 6,
        "person_changes": 5,
    }
    for name, expected in planted.items():
        assert getattr(result, name).height == expected, name
    assert set(result.start_moved["days"].to_list()) == {-14}
    assert set(result.cost_changes["percent"].to_list()) == {5.0}
    assert result.person_changes.group_by("field").len().sort("field").rows() == [
        ("Date of Birth", 3),
        ("NHS Number", 2),
    ]
    assert str(result.previous_period[1]) == "2025-09-30"
    assert str(result.overlap[0]) == "2025-01-01"


def _events_by_type(path: Path) -> dict[str, int]:
    with path.open(encoding="utf-8", newline="") as handle:
        counts: dict[str, int] = {}
        for record in csv.DictReader(handle):
            if record["Event Type"]:
                counts[record["Event Type"]] = counts.get(record["Event Type"], 0) + 1
    return counts


def test_counts_side_by_side(result: Comparison, pair: tuple[Path, Path, dict[str, int]]) -> None:
    counts = {r["event_type"]: r for r in result.counts.to_dicts()}
    for column, path in (("previous", pair[0]), ("current", pair[1])):
        by_type = _events_by_type(path)
        for event_type, n in by_type.items():
            assert counts[event_type][column] == n
        assert counts["All events"][column] == sum(by_type.values())
    total = counts["All events"]
    assert total["disappeared"] == 7 and total["new_in_old_period"] == 5
    # Every previous event inside the overlap is either matched or reported as gone.
    assert total["previous_in_overlap"] == total["matched"] + total["disappeared"]


def test_frames_give_the_same_tables(result: Comparison) -> None:
    previous, current, _ = generate_pair(1500, seed=4)
    from_frames = compare(previous.lazy(), current)
    for name in TABLES:
        assert getattr(from_frames, name).equals(getattr(result, name)), name


def test_cli_writes_the_workbook(
    pair: tuple[Path, Path, dict[str, int]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "diff.xlsx"
    assert main(["compare", str(pair[0]), str(pair[1]), "--xlsx", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "7  events gone though still inside the overlap" in printed
    check_workbook(out)  # widths, wrapping, formats, filters, frozen headers
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == [
        "Instructions",
        "Counts by event type",
        "Events gone",
        "New in old period",
        "Start dates moved",
        "Unit costs changed",
        "Person details changed",
    ]
    assert len(column_values(book["Events gone"], "Event Reference")) == 7
    starts = column_values(book["Events gone"], "Event Start Date")
    assert all(isinstance(d, datetime.datetime) for d in starts)  # dates, not text
    change = column_cells(book["Unit costs changed"], "Change (%)")
    assert [c.value for c in change] == [pytest.approx(0.05)] * 6
    assert all(c.number_format == "0.0%" for c in change)  # 5%, not 5
    moved = column_values(book["Start dates moved"], "Days moved")
    assert moved == [-14] * 4
    counts = column_cells(book["Counts by event type"], "Previous return")
    assert all(isinstance(c.value, int) and c.number_format == "#,##0" for c in counts)
    assert book["Events gone"].freeze_panes == "B4"


def test_values_from_returns_are_text_cells(result: Comparison, tmp_path: Path) -> None:
    odd = dataclasses.replace(
        result, disappeared=result.disappeared.with_columns(pl.lit("=1+1").alias("person_id"))
    )
    odd.to_excel(tmp_path / "odd.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "odd.xlsx")["Events gone"]
    person = column_cells(sheet, "LA Person Unique Identifier")
    assert {c.value for c in person} == {"=1+1"} and {c.data_type for c in person} == {"s"}


def test_returns_given_the_wrong_way_round(
    pair: tuple[Path, Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["compare", str(pair[1]), str(pair[0])]) == 2
    err = capsys.readouterr().err
    assert "give the older return first" in err and len(err.strip().splitlines()) == 1


def test_unreadable_return_is_one_line(
    pair: tuple[Path, Path, dict[str, int]], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.csv"
    out = tmp_path / "diff.xlsx"
    assert main(["compare", str(pair[0]), str(missing), "--xlsx", str(out)]) == 2
    err = capsys.readouterr().err
    assert "nope.csv" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_different_councils_are_refused(tmp_path: Path) -> None:
    previous, current, _ = generate_pair(400, seed=1)
    current = current.with_columns(pl.lit("940").alias("LA Code"))
    with pytest.raises(Exception, match="different councils"):
        compare(previous, current)
