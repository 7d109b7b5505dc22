"""Generated returns: clean output validates clean; injected faults are counted exactly."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from cld_polars import validate
from cld_polars.generate import generate_return
from cld_polars.sample import FAULTS, make_sample

ROWS = 5000


@pytest.fixture(scope="module")
def generated() -> pl.DataFrame:
    return generate_return(ROWS, seed=7)


def test_generated_return_is_clean(generated: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "clean.csv"
    generated.write_csv(path)
    report = validate(path)
    assert report.rows == ROWS
    assert report.errors == 0, report.rules
    assert not [f for f in report.file_findings if f.severity == "error"]
    # The only warning the generator gives on purpose: NHS numbers left blank.
    assert set(report.rules["code"]) <= {"NHS_NUMBER_MISSING"}


def _inject(frame: pl.DataFrame, rows: list[int], field: str, value: str) -> pl.DataFrame:
    index = pl.int_range(pl.len())
    return frame.with_columns(
        pl.when(index.is_in(rows)).then(pl.lit(value)).otherwise(pl.col(field)).alias(field)
    )


def test_injected_faults_are_counted_exactly(generated: pl.DataFrame, tmp_path: Path) -> None:
    persons = generated["LA Person Unique Identifier"]
    # Rows whose person has a single row, so a changed DOB is not also a person inconsistency.
    single = (
        generated.with_row_index("i")
        .filter(pl.len().over("LA Person Unique Identifier") == 1)["i"]
        .head(40)
        .to_list()
    )
    assert len(single) == 40 and persons.null_count() == 0
    faulty = _inject(generated, single[:7], "Gender", "female")
    faulty = _inject(faulty, single[7:18], "Postcode", "not a postcode")
    faulty = _inject(faulty, single[18:21], "Date of Birth", "1950-13-45")
    faulty = _inject(faulty, single[21:26], "LA Code", "=1+1")
    path = tmp_path / "faulty.csv"
    faulty.write_csv(path)
    report = validate(path)
    rules = dict(zip(report.rules["code"], report.rules["rows"], strict=True))
    assert rules["GENDER_NEAR_MISS"] == 7
    assert rules["POSTCODE_FORMAT"] == 11
    assert rules["DATE_OF_BIRTH_FORMAT"] == 3
    assert rules["LA_CODE_FORMULA"] == 5
    assert report.errors == 26
    assert set(rules) - {"NHS_NUMBER_MISSING"} == {
        "GENDER_NEAR_MISS",
        "POSTCODE_FORMAT",
        "DATE_OF_BIRTH_FORMAT",
        "LA_CODE_FORMULA",
    }
    lines = report.finding_rows.filter(pl.col("code") == "GENDER_NEAR_MISS")["line"].to_list()
    assert lines == [i + 2 for i in single[:7]]


def test_bundled_sample_is_current_and_has_its_faults() -> None:
    from cld_polars.cli import sample_path

    bundled = pl.read_csv(sample_path(), infer_schema=False)
    assert bundled.equals(make_sample())
    report = validate(sample_path())
    assert report.errors == len(FAULTS)
    assert report.finding_rows.filter(pl.col("severity") == "error").height == len(FAULTS)
