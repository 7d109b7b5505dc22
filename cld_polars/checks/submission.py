"""Submission information: the council and the 12-month reporting period.

The period dates and LA Code must be on every row and the same on every row; the end date is
a quarter end and the start date the day after the same date a year earlier.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from cld_polars.checks.context import Context
from cld_polars.checks.registry import Check, ExprFn, Family, Rules
from cld_polars.names import PERIOD_END as P_END
from cld_polars.names import PERIOD_START as P_START
from cld_polars.names import SUBMISSION
from cld_polars.spec import Spec

QUARTER_ENDS = ("30/06", "30/09", "31/12", "31/03")

RULES = Rules()


def expected_start(end: pl.Expr) -> pl.Expr:
    """The first day of the 12 months ending on ``end``."""
    return end.dt.offset_by("-1y").dt.offset_by("1d")


def _most_common(c: Context, name: str) -> pl.Expr:
    """The return's most common valid value of a field (ties: the smallest), on every row."""
    # A hashed mode, broadcast: a window count over a million strings costs several times more.
    return c.raw(name).filter(c.valid(name)).mode().min()


@RULES.rule(
    code="REPORTING_PERIOD_END_NOT_QUARTER_END",
    severity="error",
    fields=(P_END,),
    guidance="Collection schedule; Submission Information: Reporting Period End Date",
    message=(
        "Reporting Period End Date is not a quarter end. Quarterly returns end on 30/06, "
        "30/09, 31/12 or 31/03: use the last day of the quarter the return covers."
    ),
)
def reporting_period_end_not_quarter_end(c: Context) -> pl.Expr:
    return c.valid(P_END) & ~c.raw(P_END).str.slice(0, 5).is_in(list(QUARTER_ENDS))


def _reporting_period_not_12_months_suggestion(c: Context) -> pl.Expr:
    return expected_start(c.date(P_END)).dt.strftime("%d/%m/%Y")


@RULES.rule(
    code="REPORTING_PERIOD_NOT_12_MONTHS",
    severity="error",
    fields=(P_START, P_END),
    guidance="Collection schedule; Submission Information: Reporting Period Start Date",
    message=(
        "Reporting Period Start Date is not the day after the same date a year before the "
        "end date: a return covers a rolling 12 months (e.g. 01/10/2024 to 30/09/2025). "
        "Use the start date suggested."
    ),
    suggestion=_reporting_period_not_12_months_suggestion,
)
def reporting_period_not_12_months(c: Context) -> pl.Expr:
    return c.date(P_START) != expected_start(c.date(P_END))


def _not_most_common(name: str) -> ExprFn:
    def fails(c: Context) -> pl.Expr:
        return c.valid(name) & (c.raw(name) != _most_common(c, name))

    return fails


def _most_common_value(name: str) -> ExprFn:
    def suggestion(c: Context) -> pl.Expr:
        return _most_common(c, name)

    return suggestion


def _single_value_checks(spec: Spec) -> Iterator[Check]:
    for name in SUBMISSION:
        yield Check(
            code=f"{spec.field(name).key}_NOT_SINGLE",
            severity="error",
            fields=(name,),
            scope="frame",
            guidance=spec.field(name).guidance,
            message=(
                f"{name} differs from the value on most rows of the return. A return is one "
                f"council's 12 months: {name} must be the same on every row. Use the value "
                "suggested, or split the file if it holds two returns."
            ),
            fails=_not_most_common(name),
            suggestion=_most_common_value(name),
        )


def checks(spec: Spec) -> Iterator[Check]:
    yield from RULES
    yield from _single_value_checks(spec)


FAMILY = Family(name="submission", checks=checks)
