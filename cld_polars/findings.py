"""Findings: one row per failing (row, check), gathered in line order as the chunks go by.

A clean return has a few; a return with a fault on every row has tens of millions (about 150
bytes each in memory), so past ``SPILL_ROWS`` they go to Parquet in a temporary folder that
the report keeps alive, and ``Report.findings`` scans it.
"""

from __future__ import annotations

import difflib
import tempfile
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from cld_polars.checks.context import LINE, Context
from cld_polars.checks.registry import Check
from cld_polars.names import PID, REF, TYPE
from cld_polars.safety import temp_dir
from cld_polars.spec import Spec

FINDINGS_SCHEMA = {
    "line": pl.Int64,
    "person_id": pl.String,
    "event_reference": pl.String,
    "event_type": pl.String,
    "field": pl.String,
    "code": pl.String,
    "severity": pl.String,
    "value": pl.String,
    "suggestion": pl.String,
}

#: Findings held in memory before they are written to disk.
SPILL_ROWS = 2_000_000
#: Invalid values for which a closest listed value is looked up (most frequent first).
MAX_CLOSEST_LOOKUPS = 5000
ORDER = "__order"
#: ``ORDER`` is line x this + the check's place in the declarations (fewer than this).
_ORDER_STRIDE = 4096


class FindingStore:
    """Findings in line order, check order within a line, from the chunks as they come.

    Each part carries ``ORDER`` (line and check) and is sorted by it; parts come in line
    order, so the row checks' findings are in order as they are appended. The frame checks'
    findings, known at the end, are merged in by ``ORDER``.
    """

    def __init__(self, checks: Sequence[Check]) -> None:
        if len(checks) >= _ORDER_STRIDE:
            raise ValueError("too many checks for the findings' order key")
        self.order = {c.code: i for i, c in enumerate(checks)}
        self.held: list[pl.DataFrame] = []
        self.held_rows = 0
        self.files: list[Path] = []
        self.folder: tempfile.TemporaryDirectory[str] | None = None

    def ordered(self, part: pl.DataFrame) -> pl.DataFrame:
        code = pl.col("code").replace_strict(self.order, return_dtype=pl.Int64)
        return part.with_columns((pl.col("line") * _ORDER_STRIDE + code).alias(ORDER)).sort(ORDER)

    def add(self, part: pl.DataFrame) -> None:
        self.held.append(self.ordered(part))
        self.held_rows += part.height
        if self.held_rows > SPILL_ROWS:
            self._spill()

    def _spill(self) -> None:
        if self.folder is None:
            self.folder = temp_dir("findings")  # registered: removed on signals, swept later
        target = Path(self.folder.name) / f"part{len(self.files):05d}.parquet"
        pl.concat(self.held).write_parquet(target)
        self.files.append(target)
        self.held, self.held_rows = [], 0

    def finish(
        self, frame_part: pl.DataFrame | None, invalid_checks: Sequence[Check], spec: Spec
    ) -> pl.DataFrame | pl.LazyFrame:
        """Every finding, in order, with closest listed values suggested: a DataFrame, or a
        LazyFrame over one Parquet file when the findings were written to disk."""
        rows = [pl.scan_parquet(f, glob=False) for f in self.files] + [h.lazy() for h in self.held]
        if not rows and frame_part is None:
            return pl.DataFrame(schema=FINDINGS_SCHEMA)
        schema = {**FINDINGS_SCHEMA, ORDER: pl.Int64}
        found = pl.concat(rows) if rows else pl.LazyFrame(schema=schema)
        if frame_part is not None:
            found = found.merge_sorted(self.ordered(frame_part).lazy(), key=ORDER)
        found = closest_values(found, invalid_checks, spec).drop(ORDER)
        if self.folder is None:
            return found.collect()
        final = Path(self.folder.name) / "findings.parquet"
        found.sink_parquet(final)
        for part in self.files:
            part.unlink()
        return pl.scan_parquet(final, glob=False)


def finding_rows(
    data: pl.LazyFrame, flags: pl.DataFrame, fired: Sequence[Check], ctx: Context
) -> pl.DataFrame:
    """One row per (row, check) failure of a chunk (or of the frame checks), with value and
    suggestion; put in order with the others by :class:`FindingStore`."""
    parts = []
    for check in fired:
        value = (
            check.value(ctx)
            if check.value
            else (ctx.raw(check.field) if check.fields else pl.lit("(whole row)"))
        )
        suggestion = check.suggestion(ctx) if check.suggestion else pl.lit(None, dtype=pl.String)
        mask = pl.lit(flags[check.code])
        # Frame checks compare rows: their value and suggestion must see every row, so they
        # are computed before the failing rows are picked out.
        if check.scope == "frame":
            base = data.with_columns(
                value.cast(pl.String).alias("__value"), suggestion.cast(pl.String).alias("__sugg")
            ).filter(mask)
            value, suggestion = pl.col("__value"), pl.col("__sugg")
        else:
            base = data.filter(mask)
        parts.append(
            base.select(
                pl.col(LINE).alias("line"),
                # Text again where the projection held them as categoricals.
                pl.col(PID).cast(pl.String).alias("person_id"),
                pl.col(REF).cast(pl.String).alias("event_reference"),
                pl.col(TYPE).cast(pl.String).alias("event_type"),
                pl.lit(check.field if check.fields else "(whole row)").alias("field"),
                pl.lit(check.code).alias("code"),
                pl.lit(check.severity).alias("severity"),
                value.cast(pl.String).alias("value"),
                suggestion.cast(pl.String).alias("suggestion"),
            )
        )
    return pl.concat(pl.collect_all(parts), how="vertical")


def closest_values(
    findings: pl.LazyFrame, invalid_checks: Sequence[Check], spec: Spec
) -> pl.LazyFrame:
    """Suggest the closest listed value for invalid defined-list values, where one is close.

    Runs over distinct invalid values (not rows), most frequent first, capped.
    """
    if not invalid_checks:
        return findings
    pieces = []
    codes = [c.code for c in invalid_checks]
    counted = findings.filter(pl.col("code").is_in(codes)).group_by("code", "value").len().collect()
    for check in invalid_checks:
        values = spec.values(check.field)
        distinct = (
            counted.filter(pl.col("code") == check.code)
            .sort(["len", "value"], descending=[True, False])
            .head(MAX_CLOSEST_LOOKUPS)["value"]
            .to_list()
        )
        lowered = {v.lower(): v for v in values}
        for raw in distinct:
            if raw is None:
                continue
            match = difflib.get_close_matches(raw.lower().strip(), list(lowered), n=1, cutoff=0.75)
            if match:
                pieces.append((check.code, raw, lowered[match[0]]))
    if not pieces:
        return findings
    table = pl.DataFrame(pieces, schema=["code", "value", "__closest"], orient="row").lazy()
    return (
        findings.join(table, on=["code", "value"], how="left", maintain_order="left")
        .with_columns(pl.coalesce("suggestion", "__closest").alias("suggestion"))
        .drop("__closest")
    )
