"""Pandera schemas generated from the check declarations, for ``schema.validate(df)``.

The engine evaluates every check in one Polars plan; this module offers the same checks as a
``pandera.polars.DataFrameSchema`` for users who already validate their frames with Pandera.
Each Pandera check wraps the declaration's own expression, so the two cannot drift apart.
Pandera evaluates its checks one by one, so use :func:`cld_polars.validate` for whole returns.
"""

from __future__ import annotations

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

from cld_polars.checks.context import Context
from cld_polars.checks.families import all_checks
from cld_polars.checks.registry import Check
from cld_polars.engine import prepare_whole
from cld_polars.kinds import kind_of
from cld_polars.spec import Spec, load_spec


def _prepared(frame: pl.LazyFrame, ctx: Context) -> pl.LazyFrame:
    return prepare_whole(frame.collect(), ctx)


def _pandera_check(check: Check, ctx: Context) -> pa.Check:
    def passes(data: PolarsData) -> pl.LazyFrame:
        prepared = _prepared(data.lazyframe, ctx)
        return prepared.select((~check.fails(ctx).fill_null(False)).alias(check.code))

    return pa.Check(passes, name=check.code, error=f"{check.code}: {check.message}")


def pandera_schema(spec: Spec | None = None) -> pa.DataFrameSchema:
    """A Pandera schema with every check: column checks under their field, the rest on the frame.

    The frame must have the 48 specification columns as text (as :func:`cld_polars.validate`
    reads them); blanks may be null or empty.
    """
    spec = spec or load_spec()
    ctx = Context(spec)
    checks = all_checks(spec)
    by_field: dict[str, list[pa.Check]] = {name: [] for name in spec.header}
    frame_checks: list[pa.Check] = []
    for check in checks:
        if check.fields and check.scope == "row":
            by_field[check.field].append(_pandera_check(check, ctx))
        else:
            frame_checks.append(_pandera_check(check, ctx))
    columns = {
        name: pa.Column(pl.String, checks=by_field[name], nullable=True, required=True)
        for name in spec.header
    }
    return pa.DataFrameSchema(columns, checks=frame_checks, name=f"CLD Release {spec.release}")


def data_schema(spec: Spec | None = None) -> pa.DataFrameSchema:
    """A Pandera schema for typed frames shaped like ``Report.data``: the types by kind and,
    for defined lists, the Release 2 values.

    For analysts who build or transform typed frames themselves (joins, derived returns) and
    want to check them against the specification's types before reusing them.

    >>> from cld_polars import validate
    >>> from cld_polars.generate import generate_return
    >>> typed = validate(generate_return(50, seed=1)).data.collect()
    >>> data_schema().validate(typed).height
    50
    """
    from cld_polars.typed import typed_schema

    spec = spec or load_spec()
    dtypes = typed_schema(spec)
    columns = {"__line": pa.Column(pl.Int64, nullable=False, required=True)}
    for f in spec.fields:
        checks = kind_of(f).pandera_checks(f, spec)
        columns[f.name] = pa.Column(dtypes[f.name], checks=checks, nullable=True, required=True)
    return pa.DataFrameSchema(columns, name=f"CLD Release {spec.release} (typed)")
