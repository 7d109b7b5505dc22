"""The Pandera schema reports the same failures as the engine, from the same declarations."""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
import pytest
from factory import HEADER, clean_rows, row

from cld_polars import validate
from cld_polars.pandera_schema import pandera_schema


@pytest.fixture(scope="module")
def schema() -> pa.DataFrameSchema:
    return pandera_schema()


def _frame(rows: list[dict[str, str]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=list(HEADER)).with_columns(pl.all().replace("", None))


def test_clean_frame_passes(schema: pa.DataFrameSchema) -> None:
    frame = _frame(clean_rows())
    assert schema.validate(frame).height == frame.height


def test_failures_match_the_engine(schema: pa.DataFrameSchema) -> None:
    rows = [
        *clean_rows(),
        row("request", 1, Gender="Femal"),
        row("request", 2, Postcode="ln1 1yl"),
        row("community", 3, **{"Event Start Date": "01/10/2025"}),
    ]
    frame = _frame(rows)
    with pytest.raises(pa.errors.SchemaErrors) as caught:
        schema.validate(frame, lazy=True)
    failures = caught.value.failure_cases
    from_pandera = failures.group_by("check").len()
    codes = [c.split(":")[0] for c in from_pandera["check"].to_list()]
    pandera_counts = dict(zip(codes, from_pandera["len"].to_list(), strict=True))
    report = validate(frame)
    engine_counts = dict(zip(report.rules["code"], report.rules["rows"], strict=True))
    assert pandera_counts == engine_counts
    assert engine_counts == {
        "GENDER_INVALID": 1,
        "POSTCODE_FORMAT": 1,
        "EVENT_START_AFTER_PERIOD_END": 1,
    }
