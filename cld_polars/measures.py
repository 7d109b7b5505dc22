"""Per-field data-quality measures, as the central data-quality report counts them.

Every row is split, per field, by whether the field is mandatory there, applies but is
optional, or does not apply; the rows where it applies are split again by what the field
holds (valid, blank, invalid, a Release 1 value, a near miss); and values given where the
field does not apply are counted too. ``Report.fields`` carries the measures, and
``pct_valid`` is derived from them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from cld_polars import kinds
from cld_polars.checks.context import Context
from cld_polars.checks.registry import Severity
from cld_polars.spec import FieldSpec

#: The measures, per field, in the order reports show them.
VALIDITY_MEASURES = (
    "mandatory_rows",
    "optional_rows",
    "not_applicable_rows",
    "valid",
    "blank_optional",
    "blank_mandatory",
    "invalid",
    "release1",
    "near_miss",
    "given_not_applicable",
)

#: The same rows in DHSC's data-quality vocabulary (create_GetDQValues_procedure.sql lines
#: 36-49, the FieldStatus and FieldValidity of its DQ report): every row of a field has one
#: status and one validity, so each group of columns adds up to the rows checked. The status
#: is "Undetermined" where we cannot tell whether the field applies (a blank or invalid event
#: type) or whether it is mandatory (a condition on a field that cannot be read); those rows
#: are "not applicable" and "optional" in ``VALIDITY_MEASURES``. Near misses (a listed value
#: in the wrong case or spacing) are "Failed: Invalid", as the DLP rejects them; the
#: ``near_miss`` column says how many of those they are. A blank is "Failed: Blank
#: (Mandatory)" only where the field is known to be mandatory.
DQ_STATUS = {
    "dq_mandatory": "Mandatory",
    "dq_applicable_not_mandatory": "Applicable but not mandatory",
    "dq_not_applicable": "Not applicable",
    "dq_undetermined": "Undetermined",
}
DQ_VALIDITY = {
    "dq_passed_valid": "Passed: Valid",
    "dq_passed_blank": "Passed: Blank (Not Mandatory)",
    "dq_failed_blank": "Failed: Blank (Mandatory)",
    "dq_failed_invalid": "Failed: Invalid",
    "dq_failed_release1": "Failed: Release 1",
}
#: ``Report.fields`` columns of DHSC's vocabulary, and the label DHSC gives each.
DQ_LABELS = DQ_STATUS | DQ_VALIDITY
DQ_MEASURES = tuple(DQ_LABELS)

#: A field's state on a row (:func:`field_state`): how the field applies times ``_KINDS``
#: plus what it holds. Counting states per chunk gives every measure with one small column
#: per field, instead of ten sums per field (480 expressions, which cost more to plan than to
#: run on a chunk). ``unsure`` is a field that applies where whether it is mandatory cannot
#: be told.
_APPLIES = ("mandatory", "optional", "not_applicable", "cannot_tell", "unsure")
_HOLDS = ("valid", "blank", "invalid", "release1", "near_miss")
_KINDS = 8
#: What a field holds, for each state (``cld_polars.kinds``; every valid state is ``VALID``).
_HOLDS_OF_STATE = pl.Series(
    [
        _HOLDS.index(
            {
                kinds.BLANK: "blank",
                kinds.RELEASE1: "release1",
                kinds.NEAR_MISS: "near_miss",
                kinds.VALID: "valid",
            }.get(state, "invalid")
        )
        for state in range(kinds.VALID + 1)
    ],
    dtype=pl.UInt8,
)

#: Counts by (measure, field name).
MeasureCounts = Counter[tuple[str, str]]


@dataclass
class Totals:
    """Rows counted over a run: by the streaming pass, then the cross-row pass."""

    #: Rows failing each check, by code.
    by_check: Counter[str] = field(default_factory=Counter)
    #: Rows with at least one finding of a severity naming a field, by (severity, field).
    by_field: Counter[tuple[Severity, str]] = field(default_factory=Counter)
    #: Rows with at least one finding of a severity.
    flagged: Counter[Severity] = field(default_factory=Counter)
    #: The data-quality measures, by (measure, field).
    measures: MeasureCounts = field(default_factory=Counter)


def field_state(ctx: Context, f: FieldSpec) -> pl.Expr:
    """The field's state on each row (UInt8), from which ``VALIDITY_MEASURES`` are counted.

    Where the field's applicability cannot be judged (the event type is blank, as on a
    'known by association' row, or invalid) the row counts as not applicable, so the
    denominators hold only rows the field is known to apply to; a value given there is not
    counted as "given where not applicable", because the specification cannot say it is.
    """
    n = f.name
    judged = ctx.condition(f.applies_when) if f.applies_when else pl.lit(True)
    if f.mandatory == "always":
        mandatory = pl.lit(True)
    elif f.mandatory == "conditional" and f.mandatory_when:
        mandatory = ctx.condition(f.mandatory_when)
    else:
        mandatory = pl.lit(False)
    applies = (
        pl.when(judged.is_null())
        .then(_APPLIES.index("cannot_tell"))
        .when(~judged)
        .then(_APPLIES.index("not_applicable"))
        .when(mandatory.is_null())
        .then(_APPLIES.index("unsure"))
        .when(mandatory)
        .then(_APPLIES.index("mandatory"))
        .otherwise(_APPLIES.index("optional"))
    )
    holds = pl.lit(_HOLDS_OF_STATE).gather(ctx.state(n).cast(pl.Int64).clip(0, kinds.VALID))
    return (applies * _KINDS + holds).cast(pl.UInt8).alias(n)


def count_states(states: pl.DataFrame) -> MeasureCounts:
    """The measures of a chunk's :func:`field_state` columns: a count of each state per field
    (one query for every field), then the measures from the few states seen."""
    counts: MeasureCounts = Counter()
    if not states.width:
        return counts
    seen = states.select(pl.col(c).value_counts().implode() for c in states.columns).row(0)
    for name, pairs in zip(states.columns, seen, strict=True):
        for pair in pairs:
            applies, holds = _APPLIES[pair[name] // _KINDS], _HOLDS[pair[name] % _KINDS]
            for measure in _measures(applies, holds):
                counts[(measure, name)] += pair["count"]
    return counts


def _measures(applies: str, holds: str) -> list[str]:
    """The measures a row in this state counts towards (``VALIDITY_MEASURES``, where a field
    whose mandatory condition cannot be judged counts as optional, and ``DQ_MEASURES``)."""
    out = [_dq_status(applies), _dq_validity(applies, holds)]
    if applies == "unsure":
        applies = "optional"
    if applies in ("mandatory", "optional"):
        out.append(f"{applies}_rows")
        out.append(f"blank_{applies}" if holds == "blank" else holds)
    else:
        out.append("not_applicable_rows")
        if applies == "not_applicable" and holds != "blank":
            out.append("given_not_applicable")
    return out


def _dq_status(applies: str) -> str:
    return {
        "mandatory": "dq_mandatory",
        "optional": "dq_applicable_not_mandatory",
        "not_applicable": "dq_not_applicable",
    }.get(applies, "dq_undetermined")


def _dq_validity(applies: str, holds: str) -> str:
    if holds == "blank":
        return "dq_failed_blank" if applies == "mandatory" else "dq_passed_blank"
    return {"valid": "dq_passed_valid", "release1": "dq_failed_release1"}.get(
        holds, "dq_failed_invalid"
    )
