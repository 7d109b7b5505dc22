"""The per-field measures in DHSC's data-quality vocabulary (create_GetDQValues_procedure.sql):
every row of a field has one status and one validity."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from factory import row, write_csv

from cld_polars import validate
from cld_polars.generate import write_return
from cld_polars.measures import DQ_LABELS, DQ_STATUS, DQ_VALIDITY


def _field(path: Path, name: str) -> dict[str, object]:
    return validate(path).fields.filter(pl.col("field") == name).row(0, named=True)


def test_every_row_has_one_status_and_one_validity(tmp_path: Path) -> None:
    report = validate(write_return(tmp_path / "r.csv", 2000, seed=5))
    f = report.fields.filter("present")
    assert set(DQ_LABELS) <= set(f.columns)
    assert (f.select(pl.sum_horizontal(*DQ_STATUS)).to_series() == report.rows).all()
    assert (f.select(pl.sum_horizontal(*DQ_VALIDITY)).to_series() == report.rows).all()
    # The measures agree with ours where the vocabularies overlap.
    assert (f["dq_mandatory"] == f["mandatory_rows"]).all()
    assert (f["dq_failed_blank"] == f["blank_mandatory"]).all()
    assert (f["dq_failed_release1"] == f["release1"]).all()
    assert (
        f["dq_applicable_not_mandatory"] + f["dq_not_applicable"] + f["dq_undetermined"]
        == f["optional_rows"] + f["not_applicable_rows"]
    ).all()


def test_labels_are_dhscs() -> None:
    assert list(DQ_STATUS.values()) == [
        "Mandatory",
        "Applicable but not mandatory",
        "Not applicable",
        "Undetermined",
    ]
    assert list(DQ_VALIDITY.values()) == [
        "Passed: Valid",
        "Passed: Blank (Not Mandatory)",
        "Failed: Blank (Mandatory)",
        "Failed: Invalid",
        "Failed: Release 1",
    ]


def test_undetermined_where_the_event_type_cannot_be_read(tmp_path: Path) -> None:
    # Request: Route of Access applies to requests. Line 2 is a request (mandatory, valid);
    # line 3 an assessment (not applicable, blank); line 4 has an invalid Event Type, so
    # whether the route applies cannot be told: Undetermined (and, being blank, Passed:
    # Blank); line 5 is a request whose route is a near miss (wrong case): Failed: Invalid;
    # line 6 a request with a blank route: Failed: Blank (Mandatory).
    rows = [
        row("request", 1),
        row("assessment", 2),
        row("request", 3, **{"Event Type": "Referral", "Request: Route of Access": ""}),
        row("request", 4, **{"Request: Route of Access": "community or other route"}),
        row("request", 5, **{"Request: Route of Access": ""}),
    ]
    route = _field(write_csv(tmp_path / "r.csv", rows), "Request: Route of Access")
    assert [route[k] for k in DQ_STATUS] == [3, 0, 1, 1]
    assert [route[k] for k in DQ_VALIDITY] == [1, 2, 1, 1, 0]
    assert route["near_miss"] == 1  # our own split of the one Failed: Invalid
    # Unchanged: the undetermined row is "not applicable" in our own measures.
    assert route["not_applicable_rows"] == 2
