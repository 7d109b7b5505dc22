"""Field kinds (``cld_polars.kinds``): one class per kind, judged per distinct value.

The engine judges the values of a ``distinct`` kind once per run and gives rows their
judgement by the value's code; the other kinds are judged row by row with the same
expressions. These tests hold the two ways to the same answers, and the run's codes to the
same values however the frames come and go.
"""

from __future__ import annotations

import gc

import polars as pl
import pytest

from cld_polars import kinds
from cld_polars.checks.context import Context, date_col, state_col
from cld_polars.spec import load_spec

SPEC = load_spec()
#: Awkward values every kind meets: blanks of several sorts, formula-like starts, a number
#: that only looks like a formula, padding, and one valid value of each kind.
COMMON = [None, "", " ", "\t", "=SUM(A1)", "+44", "@x", "-x", "-5", " 503", "503 ", "Unknown"]
VALID = {
    "date": ["14/03/2025", "29/02/2024"],
    "nhs_number": ["9434765919"],
    "la_code": ["503", "504"],
    "integer": ["2", "0"],
    "decimal": ["12.50", "3"],
    "postcode": ["LN1 1YL", "LN1", "ZZ99 3VZ"],
    "gp_practice_code": ["C83001"],
    "list": [],  # filled per field below
    "identifier": ["P1", "E-1"],
    "text": ["Ann", "O'Neil"],
}
INVALID = ["31/02/2025", "2025-03-14", "9434765918", "12.345", "ln1 1yl", "1,000", "0503"]


def _field_of(kind: str) -> str:
    return next(f.name for f in SPEC.fields if f.kind == kind)


@pytest.mark.parametrize("kind", sorted(kinds.KINDS))
def test_rows_and_distinct_values_are_judged_alike(kind: str) -> None:
    """A kind's expression over rows and its judgement of distinct values agree on every
    value, awkward ones included (the engine uses one or the other by kind)."""
    name = _field_of(kind)
    f = SPEC.field(name)
    values = [*COMMON, *VALID[kind], *INVALID]
    if kind == "list":
        listed = SPEC.values(name)
        values += [listed[0], listed[0].upper(), listed[0] + " "]
    column = pl.Series(name, values, dtype=pl.String)
    by_row = pl.DataFrame(column).select(kinds.KINDS[kind].judge(pl.col(name), f, SPEC))
    distinct = column.drop_nulls().unique(maintain_order=True)
    table = kinds.KINDS[kind].judge_values(distinct, f, SPEC)
    by_value = dict(zip(table["value"].to_list(), table["state"].to_list(), strict=True))
    expected = [kinds.BLANK if v is None else by_value[v] for v in values]
    got = by_row.to_series().to_list()
    if kind == "list":  # the expression says valid or not (typed data); the table also says
        # which listed value, or which kind of wrong value (Release 1, near miss)
        wrong = (kinds.INVALID, kinds.NEAR_MISS, kinds.RELEASE1)
        got = ["valid" if s >= kinds.VALID else "wrong" if s in wrong else s for s in got]
        expected = ["valid" if s >= kinds.VALID else "wrong" if s in wrong else s for s in expected]
    assert got == expected
    assert by_value.get("", kinds.BLANK) == kinds.BLANK
    assert by_value[" "] == kinds.BLANK
    assert by_value["=SUM(A1)"] == kinds.FORMULA
    for v in VALID[kind]:
        assert by_value[v] >= kinds.VALID, v


def test_a_runs_codes_hold_while_frames_come_and_go() -> None:
    """Polars numbers a run's categories afresh once no column holds them. The context holds
    them, so a value keeps its code, and its judgement, from one frame to the next, in
    whatever order the values come."""
    dates = ["01/02/2024", "not a date", "14/03/2025", None]
    reused = Context(SPEC)
    first = pl.DataFrame({"Event Start Date": dates})
    reused.prepare(first).collect()
    del first
    gc.collect()
    second = pl.DataFrame({"Event Start Date": ["14/03/2025", "bad", "01/02/2024", "not a date"]})
    columns = [state_col("Event Start Date"), date_col("Event Start Date")]
    again = reused.prepare(second).select(columns).collect()
    fresh = Context(SPEC).prepare(second).select(columns).collect()
    assert again.equals(fresh)
    assert again[columns[0]].to_list() == [kinds.VALID, kinds.INVALID, kinds.VALID, kinds.INVALID]
