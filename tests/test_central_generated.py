"""The central view on generated returns, made messy: against a naive second implementation
(``central_reference.py``), and for consistency (buckets, chunking, frame vs path, the
validation JSON's ``central`` vs ``cld-validate central``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from central_reference import central as reference

import cld_polars
from cld_polars.central import central
from cld_polars.cli import main
from cld_polars.generate import generate_return

BUCKETS = ("request", "assessment", "service", "review", "other")


def _messy(rows: int, seed: int) -> pl.DataFrame:
    """A generated return with the things DHSC's loading and dedup treat specially: case and
    space variants, blank and unknown event types, dates it cannot read, dates of death, odd
    costs and frequencies, missing IDs, repeated events with other outcomes or end dates."""
    frame = generate_return(rows, seed=seed)
    rng = np.random.default_rng(seed)
    n = frame.height

    def pick(share: float) -> pl.Series:
        return pl.Series(rng.random(n) < share)

    def vary(column: str, share: float, values: list[str | None]) -> None:
        nonlocal frame
        chosen = pick(share)
        choice = pl.Series(rng.integers(0, len(values), n))
        replacement = pl.Series(values, dtype=pl.String).gather(choice)
        frame = frame.with_columns(
            pl.when(chosen).then(replacement).otherwise(pl.col(column)).alias(column)
        )

    def transform(column: str, share: float, expr: pl.Expr) -> None:
        nonlocal frame
        frame = frame.with_columns(
            pl.when(pick(share)).then(expr).otherwise(pl.col(column)).alias(column)
        )

    transform("Event Type", 0.05, pl.col("Event Type").str.to_uppercase())
    transform("Event Type", 0.05, pl.concat_str(pl.lit(" "), pl.col("Event Type"), pl.lit("\t")))
    vary("Event Type", 0.01, [None, "Referral", "Services", "request assessment"])
    transform("Service Type", 0.05, pl.col("Service Type").str.to_lowercase())
    transform(
        "LA Person Unique Identifier",
        0.03,
        pl.col("LA Person Unique Identifier").str.to_lowercase(),
    )
    vary("NHS Number", 0.05, [None])
    vary("LA Person Unique Identifier", 0.02, [None])
    vary("LA Code", 0.005, [None])
    vary("Event End Date", 0.01, ["2025-03-14", "1/2/2025", "31/02/2025", "31/12/9999"])
    vary("Event Start Date", 0.005, [None, "2025-13-01"])
    vary("Date of Death", 0.02, ["15/03/2025", "01/01/2024", "20/09/2025", "05/11/2024"])
    vary("Unit Cost", 0.05, ["£12.50", "12.345", "-40", "1e3", " 7.5 ", "0", ".5", "5.", "12.005"])
    vary(
        "Cost Frequency (Unit Type)",
        0.05,
        ["monthly", "Annually", "One-off", "ONE-OFF", "Per session", "Quarterly", "4-weekly", "x"],
    )
    vary("Planned units per week", 0.03, ["0", "-3.5", "abc", "10.125"])
    vary("Event Outcome", 0.03, ["nfa: other", "Not an outcome", None])
    vary("Review Reason", 0.03, ["unplanned: other reason", "Other"])
    vary("Client Type", 0.02, ["SERVICE USER"])
    vary("Reporting Period Start Date", 0.01, ["01/04/2024"])
    # Repeats: copies of some rows with another outcome or end date (DHSC merges them).
    copies = frame.filter(pick(0.06)).with_columns(
        pl.lit("NFA: Other").alias("Event Outcome"),
    )
    later = frame.filter(pick(0.03)).with_columns(
        pl.when(pl.col("Event Type").str.to_lowercase().str.contains("service"))
        .then(pl.lit(None, dtype=pl.String))
        .otherwise(pl.col("Event End Date"))
        .alias("Event End Date")
    )
    return pl.concat([frame, copies, later])


def _close(ours: Any, theirs: Any, path: str = "") -> None:
    """Equal, costs within a penny (the contract's doubles: sums in another order)."""
    if isinstance(ours, dict):
        assert list(ours) == list(theirs), path
        for k in ours:
            _close(ours[k], theirs[k], f"{path}.{k}")
    elif isinstance(ours, float) or isinstance(theirs, float):
        assert type(ours) is type(theirs), path
        assert math.isclose(ours, theirs, abs_tol=0.011), (path, ours, theirs)
    else:
        assert ours == theirs and type(ours) is type(theirs), (path, ours, theirs)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_matches_an_independent_implementation(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "messy.csv"
    _messy(1500, seed).write_csv(path)
    ours = central(path, chunk_rows=700).to_dict()
    _close(ours, reference(path))
    assert sum(ours["rows_merged_by_dedup"].values()) > 0  # the repeats were merged


def test_matches_with_given_period_and_import_date(tmp_path: Path) -> None:
    import datetime as dt

    path = tmp_path / "messy.csv"
    _messy(1200, 7).write_csv(path)
    ours = central(
        path, import_date="2025-08-15", period_start="01/01/2025", period_end="2025-06-30"
    )
    theirs = reference(path, dt.date(2025, 8, 15), (dt.date(2025, 1, 1), dt.date(2025, 6, 30)))
    _close(ours.to_dict(), theirs)


@pytest.fixture(scope="module")
def messy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("central") / "messy.csv"
    _messy(2500, 11).write_csv(path)
    return path


def test_every_row_is_in_one_bucket_and_unique_events_never_exceed_rows(messy_file: Path) -> None:
    f = central(messy_file).to_dict()
    for b in BUCKETS:
        kept, dropped = f["events_in_period"][b], f["events_dropped_by_period_filter"][b]
        assert kept >= 0 and dropped >= 0
        assert f["unique_events"][b] + f["rows_merged_by_dedup"][b] <= kept
    assert (
        sum(f["events_in_period"].values()) + sum(f["events_dropped_by_period_filter"].values())
        == f["rows_in"]
    )
    people = f["person_id"]
    into = people["rows_from_nhs_number"] + people["rows_from_la_identifier"]
    assert into + people["rows_dropped_no_person_id"] == sum(f["events_in_period"].values())
    assert sum(f["unique_events"].values()) + sum(f["rows_merged_by_dedup"].values()) == into
    assert (
        people["people"] <= people["people_from_nhs_number"] + people["people_from_la_identifier"]
    )
    assert sum(f["services_by_service_type"].values()) == f["unique_events"]["service"]
    assert sum(f["services_by_service_type_grouped"].values()) == f["unique_events"]["service"]
    for name, bucket in (
        ("requests", "request"),
        ("assessments", "assessment"),
        ("reviews", "review"),
    ):
        assert sum(f[f"{name}_lts_flag"].values()) == f["unique_events"][bucket]
    assert sum(f["requests_by_route_of_access"].values()) == f["unique_events"]["request"]
    assert sum(f["reviews_by_review_type"].values()) == f["unique_events"]["review"]
    lts = f["people_in_long_term_support_at_period_end"]
    assert lts["total"] <= sum(lts["by_setting"].values())
    blocks = f["costs_by_service_type"].values()
    assert sum(b["services"] for b in blocks) == f["costs_total"]["services"]


def test_chunked_runs_equal_one_chunk_and_frame_equals_path(messy_file: Path) -> None:
    whole = central(messy_file, chunk_rows=10_000_000)
    assert central(messy_file, chunk_rows=333).to_dict() == whole.to_dict()
    frame = pl.read_csv(messy_file, infer_schema=False)
    assert central(frame).to_dict() == whole.to_dict()
    assert central(frame.lazy()).to_dict() == whole.to_dict()
    # The same tables behind the figures, however the return was read.
    chunked = central(messy_file, chunk_rows=333)
    assert chunked.merged.equals(whole.merged)
    assert chunked.dropped.equals(whole.dropped)
    assert chunked.months.equals(whole.months)


def test_validation_json_holds_the_same_contract_as_the_command(
    messy_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "central.json"
    assert main(["central", str(messy_file), "--json", str(out), "--quiet"]) == 0
    command = json.loads(out.read_text(encoding="utf-8"))
    result = tmp_path / "validation.json"
    main([str(messy_file), "--json", str(result), "--quiet"])
    validation = json.loads(result.read_text(encoding="utf-8"))
    assert validation["central"] == command
    # The validation JSON's own keys are unchanged, the new one is last.
    assert list(validation) == [
        "file",
        "rows",
        "release",
        "errors",
        "warnings",
        "fields",
        "rules",
        "file_findings",
        "central",
    ]
    # The engine's chunks give the same view as one chunk.
    small = cld_polars.validate(messy_file, chunk_rows=600)
    assert small.central is not None and small.central.to_dict() == command
