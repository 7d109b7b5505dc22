"""The return as typed columns, for analysis in a notebook (``Report.data``).

The validator reads every column as text, because a value it cannot read is a finding, not a
reason to stop. An analyst exploring a return wants the opposite: dates to group by month,
costs to sum. This module gives the same rows with each field typed by its specification kind
and every value the validator would reject set to null, so a sum or a count by month never
includes a value that the findings already say is wrong.

Typing uses the validator's own parsers (``cld_polars.parse``) and defined lists, so a value
is null here exactly when it is invalid there (Release 1 values and near misses included).
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl

from cld_polars.checks.context import LINE
from cld_polars.kinds import kind_of
from cld_polars.reader import ReturnSource, frame_source, read_return
from cld_polars.spec import FieldSpec, Spec, load_spec

__all__ = ["read_typed", "typed_columns", "typed_schema"]


def _dtype(f: FieldSpec) -> pl.DataType:
    return kind_of(f).dtype


def typed_schema(spec: Spec | None = None) -> pl.Schema:
    """The schema of ``Report.data``: ``__line`` then the 48 fields by kind.

    >>> schema = typed_schema()
    >>> schema["__line"], schema["Event Start Date"], schema["Unit Cost"], schema["Gender"]
    (Int64, Date, Float64, String)
    >>> len(schema)
    49
    """
    spec = spec or load_spec()
    return pl.Schema({LINE: pl.Int64(), **{f.name: _dtype(f) for f in spec.fields}})


def _typed(f: FieldSpec, spec: Spec) -> pl.Expr:
    """One field, typed by its kind; null where blank, formula-like or not valid for it."""
    return kind_of(f).typed(pl.col(f.name), f, spec).alias(f.name)


def typed_columns(frame: pl.LazyFrame, spec: Spec | None = None) -> pl.LazyFrame:
    """Type a frame of text columns (``__line`` and the 48 fields, as the reader gives them).

    >>> text = pl.LazyFrame({"__line": [2], "Event Start Date": ["05/10/2024"],
    ...                      "Unit Cost": ["12.50"], "Gender": ["female"]})
    >>> row = typed_columns(text).select("Event Start Date", "Unit Cost", "Gender").collect()
    >>> row.row(0)  # "female" is a near miss: a finding, so null here
    (datetime.date(2024, 10, 5), 12.5, None)
    """
    spec = spec or load_spec()
    names = frame.collect_schema().names()
    columns = [
        _typed(f, spec) if f.name in names else pl.lit(None, dtype=_dtype(f)).alias(f.name)
        for f in spec.fields
    ]
    return frame.select(pl.col(LINE).cast(pl.Int64), *columns)


def _reads_original(source: ReturnSource) -> bool:
    """Whether the source's scan reads the file itself rather than a temporary copy (made for
    a Windows-1252, gzip or damaged file, and removed when the source is closed)."""
    temp = source._temp
    return temp is None or not any(Path(temp.name).iterdir())


def read_typed(
    source: str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame, spec: Spec | None = None
) -> pl.LazyFrame:
    """The return at ``source`` (a path, or a frame with the specification's columns), typed.

    A path is read again, the exact way (every quote honoured), so this costs one more read of
    the file. The plan stays lazy over the file where the reader scans it directly (a UTF-8
    CSV); a file that had to be copied first (Windows-1252, gzip, damaged lines, a workbook)
    is read into memory here, because its temporary copy does not outlive the read.
    """
    spec = spec or load_spec()
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        with frame_source(source, spec) as opened:
            return typed_columns(opened.frame, spec)
    with read_return(source, spec, quick=False) as opened:
        plan = typed_columns(opened.frame, spec)
        if _reads_original(opened):
            return plan
        return plan.collect().lazy()
