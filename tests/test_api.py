"""The Python API a notebook uses: the same Report from a path or from a frame in memory."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pytest
from factory import HEADER, clean_rows, row, write_csv

import cld_polars
from cld_polars import Report, validate


def _rows() -> list[dict[str, str]]:
    return [
        *clean_rows(),
        row("request", 1, Gender="Femal"),  # near miss: an error, and null in .data
        row("request", 2, Postcode="ln1 1yl"),
        row("community", 3, **{"Unit Cost": "£12.50"}),
        row("review", 4, **{"Event Start Date": "2024-11-01"}),
    ]


@pytest.fixture(scope="module")
def return_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_csv(tmp_path_factory.mktemp("api") / "return.csv", _rows())


@pytest.fixture(scope="module")
def report(return_path: Path) -> Report:
    return validate(return_path)


def _frame() -> pl.DataFrame:
    return pl.DataFrame(_rows(), schema=list(HEADER))


def test_report_tables_are_polars(report: Report) -> None:
    assert isinstance(report.findings, pl.LazyFrame)
    assert isinstance(report.fields, pl.DataFrame) and report.fields.height == 48
    assert isinstance(report.rules, pl.DataFrame)
    assert isinstance(report.summary, dict)
    assert all(isinstance(t, pl.DataFrame) for t in report.summary.values())
    found = report.findings.filter(pl.col("field") == "Gender").collect()
    assert found["value"].to_list() == ["Femal"]
    assert found["suggestion"].to_list() == ["Female"]


def test_frame_gives_the_same_counts_as_the_path(report: Report) -> None:
    for given in (_frame(), _frame().lazy()):
        from_frame = validate(given)
        assert from_frame.errors == report.errors
        assert from_frame.warnings == report.warnings
        assert from_frame.rules.select("code", "rows").equals(report.rules.select("code", "rows"))
        assert (
            from_frame.findings.select("line", "field", "code").collect().sort(pl.all())
        ).equals(report.findings.select("line", "field", "code").collect().sort(pl.all()))


def test_data_is_typed_and_invalid_values_are_null(report: Report) -> None:
    data = report.data
    assert isinstance(data, pl.LazyFrame)
    frame = data.collect()
    assert frame.height == len(_rows())
    assert frame.schema["__line"] == pl.Int64
    assert frame.schema["Event Start Date"] == pl.Date
    assert frame.schema["Unit Cost"] == pl.Float64
    assert frame.schema["LA Code"] == pl.Int64
    assert frame.schema["Gender"] == pl.String
    assert frame["__line"].to_list() == list(range(2, len(_rows()) + 2))
    by_person = {r["LA Person Unique Identifier"]: r for r in frame.to_dicts()}
    assert by_person["P1"]["Gender"] is None
    assert by_person["P2"]["Postcode"] is None
    assert by_person["P3"]["Unit Cost"] is None
    assert by_person["P4"]["Event Start Date"] is None
    assert by_person["P100"]["Gender"] == "Female"
    assert str(by_person["P100"]["Event Start Date"]) == "2024-10-05"


def test_data_from_a_frame_matches_the_path(report: Report) -> None:
    assert validate(_frame()).data.collect().equals(report.data.collect())


def test_data_of_a_windows_1252_file_outlives_its_temporary_copy(tmp_path: Path) -> None:
    rows = [row("request", 1, **{"First Name": "Zoë"}), *clean_rows()]
    path = write_csv(tmp_path / "cp1252.csv", rows, encoding="cp1252")
    report = validate(path)
    assert report.encoding == "windows-1252"
    names = report.data.select("First Name").collect()["First Name"].to_list()
    assert names[0] == "Zoë"


def test_outputs_from_the_api(report: Report, tmp_path: Path) -> None:
    result = json.loads(report.to_json(tmp_path / "r.json"))
    assert result["errors"] == report.errors == 4
    report.to_excel(tmp_path / "r.xlsx")
    assert (tmp_path / "r.xlsx").stat().st_size > 0


def test_pandera_schemas_are_exposed(report: Report) -> None:
    text_schema = cld_polars.pandera_schema()
    assert isinstance(text_schema, pa.DataFrameSchema)
    with pytest.raises(pa.errors.SchemaErrors):
        text_schema.validate(_frame().with_columns(pl.all().replace("", None)), lazy=True)
    typed = cld_polars.data_schema()
    assert typed.validate(report.data.collect()).height == len(_rows())
    with pytest.raises(pa.errors.SchemaError):
        typed.validate(report.data.collect().with_columns(pl.lit("Femal").alias("Gender")))


def test_api_functions_stay_callable_after_their_modules_are_imported() -> None:
    # Importing a submodule binds it to the package attribute of the same name.
    for name in ("pandera_schema", "compare", "fix"):
        importlib.import_module(f"cld_polars.{name}")
    assert callable(cld_polars.pandera_schema) and callable(cld_polars.compare)
    assert callable(cld_polars.data_schema) and callable(cld_polars.fix_return)
