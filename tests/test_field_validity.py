"""The per-field data-quality measures (the workbook's "Field validity" sheet) against an
independent count of the same generated return."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from cld_polars import Report, validate
from cld_polars.generate import write_return
from cld_polars.measures import VALIDITY_MEASURES


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    path = write_return(tmp_path_factory.mktemp("v") / "r.csv", 3000, seed=11)
    return validate(path)


def test_every_row_is_mandatory_optional_or_not_applicable(report: Report) -> None:
    f = report.fields
    total = f["mandatory_rows"] + f["optional_rows"] + f["not_applicable_rows"]
    assert (total == report.rows).all()
    applicable = f["mandatory_rows"] + f["optional_rows"]
    states = f.select(
        pl.sum_horizontal(
            "valid", "blank_optional", "blank_mandatory", "invalid", "release1", "near_miss"
        )
    ).to_series()
    assert (states == applicable).all()
    assert set(VALIDITY_MEASURES) <= set(f.columns)


def test_counts_match_an_independent_count(report: Report) -> None:
    data = pl.read_csv(report.file, infer_schema=False)
    by = {r["field"]: r for r in report.fields.to_dicts()}
    requests = data.filter(pl.col("Event Type") == "Request")
    route = by["Request: Route of Access"]
    assert route["mandatory_rows"] == requests.height
    # Rows with no event type ('known by association') cannot be judged: not applicable.
    assert route["not_applicable_rows"] == data.height - requests.height
    assert route["valid"] == requests["Request: Route of Access"].is_not_null().sum()
    services = data.filter(pl.col("Event Type") == "Service")
    cost = by["Unit Cost"]
    assert cost["mandatory_rows"] + cost["optional_rows"] == services.height
    assert cost["blank_optional"] + cost["valid"] == services.height  # a clean return
    death = by["Date of Death"]
    assert death["valid"] == data["Date of Death"].is_not_null().sum()
    assert death["pct_valid"] == 1.0
    assert by["NHS Number"]["blank_optional"] == data["NHS Number"].is_null().sum()


def test_release1_and_near_miss_are_counted_apart(tmp_path: Path) -> None:
    path = write_return(tmp_path / "r.csv", 200, seed=3)
    frame = pl.read_csv(path, infer_schema=False)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 3)
        .then(pl.lit("male"))
        .when(pl.int_range(pl.len()) < 5)
        .then(pl.lit("Not known"))
        .when(pl.int_range(pl.len()) < 6)
        .then(pl.lit("Robot"))
        .otherwise(pl.col("Gender"))
        .alias("Gender")
    )
    frame.write_csv(path)
    gender = validate(path).fields.filter(pl.col("field") == "Gender").row(0, named=True)
    counts = [gender[k] for k in ("valid", "release1", "near_miss", "invalid")]
    assert counts == [194, 2, 3, 1]
    assert gender["pct_valid"] == pytest.approx(194 / 200)
