"""Checks generated from the field table: formula-like values, each field kind's own checks
(data types, defined lists: ``cld_polars.kinds``), mandatory fields and fields given where
they do not apply.

These are declared once per field; ``schemas/fields.toml`` decides which fields get them, so a
new field in a future release needs no code here.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from cld_polars.checks.context import Context
from cld_polars.checks.registry import Check, ExprFn, Family
from cld_polars.kinds import kind_of
from cld_polars.names import DOB, START
from cld_polars.spec import AgeBetween, Condition, FieldSpec, Named, Spec


def _formula_check(f: FieldSpec) -> Check:
    n = f.name

    def fails(c: Context) -> pl.Expr:
        return c.formula(n)

    return Check(
        code=f"{f.key}_FORMULA",
        severity="error",
        fields=(n,),
        category="format",
        guidance="Data Landing Portal file rules",
        message=(
            f"{n} starts with =, +, @ or - and the Data Landing Portal rejects such values as "
            "possible spreadsheet formulas. Remove the leading character or correct the value."
        ),
        fails=fails,
    )


def _unknown_allowed(spec: Spec, f: FieldSpec) -> str:
    """The end of a "fill it in" message: where 'Unknown' is a listed value, say so."""
    if f.kind == "list" and "Unknown" in spec.lists.get(f.list_name or "", ()):
        return " ('Unknown' is a valid value where it was not recorded)."
    return "."


def _blank(n: str) -> ExprFn:
    def fails(c: Context) -> pl.Expr:
        return c.blank(n)

    return fails


def _blank_where(n: str, cond: Condition) -> ExprFn:
    def fails(c: Context) -> pl.Expr:
        return c.blank(n) & c.condition(cond).fill_null(False)

    return fails


def _given_where_not_applicable(n: str, cond: Condition) -> ExprFn:
    def fails(c: Context) -> pl.Expr:
        return c.present(n) & ~c.condition(cond).fill_null(True)

    return fails


def _mandatory_check(spec: Spec, f: FieldSpec) -> Check | None:
    n, k, g = f.name, f.key, f.guidance
    if f.mandatory == "always":
        return Check(
            code=f"{k}_MISSING",
            severity="error",
            fields=(n,),
            category="mandatory",
            guidance=g,
            message=f"{n} is blank but is mandatory on every row. Fill it in"
            + _unknown_allowed(spec, f),
            fails=_blank(n),
        )
    if f.mandatory == "conditional" and f.mandatory_when:
        cond = f.mandatory_when
        return Check(
            code=f"{k}_MISSING",
            severity="error",
            fields=(n,),
            category="mandatory",
            guidance=f"{g}; Annex A",
            message=(
                f"{n} is blank but is mandatory for this row ({describe(cond, spec)}, Annex A). "
                "Fill it in" + _unknown_allowed(spec, f)
            ),
            fails=_blank_where(n, cond),
            requires=(n, *sorted(condition_fields(cond, spec))),
        )
    if f.mandatory == "where_known" and f.blank_severity == "warning":
        return Check(
            code=f"{k}_MISSING",
            severity="warning",
            fields=(n,),
            category="mandatory",
            guidance=g,
            message=(
                f"{n} is blank. It may be left blank where it is not known, but it is counted as "
                "missing in the data quality report and is needed to link to health records: "
                "provide it where the case record has it."
            ),
            fails=_blank(n),
        )
    return None


def _not_applicable_check(spec: Spec, f: FieldSpec) -> Check | None:
    if not f.applies_when:
        return None
    n, cond = f.name, f.applies_when
    return Check(
        code=f"{f.key}_NOT_APPLICABLE",
        severity="warning",
        fields=(n,),
        category="not_applicable",
        guidance=f"{f.guidance}; Annex A",
        message=(
            f"{n} is given on a row where it does not apply (it applies to "
            f"{describe(cond, spec)}). Check the row's event type and client type, or leave "
            f"{n} blank."
        ),
        fails=_given_where_not_applicable(n, cond),
        requires=(n, *sorted(condition_fields(cond, spec))),
    )


def condition_fields(condition: Condition | None, spec: Spec) -> set[str]:
    """The fields a condition reads (for skipping checks when a column is missing)."""
    found: set[str] = set()
    for alternative in condition or ():
        for term in alternative:
            if isinstance(term, Named):
                found |= condition_fields(spec.conditions[term.name], spec)
            elif isinstance(term, AgeBetween):
                found |= {DOB, START}
            else:
                found.add(term.field)
    return found


def describe(condition: Condition, spec: Spec) -> str:
    """A condition in words, for messages: "Event Type is Service and Service Type is ..."."""
    parts = []
    for alternative in condition:
        terms = []
        for term in alternative:
            if isinstance(term, Named):
                terms.append(describe(spec.conditions[term.name], spec))
            elif isinstance(term, AgeBetween):
                terms.append(f"aged {term.low} to {term.high} at the event start")
            else:
                terms.append(f"{term.field} is " + " or ".join(f"'{v}'" for v in term.values))
        parts.append(" and ".join(terms))
    return "; or ".join(parts)


def checks(spec: Spec) -> Iterator[Check]:
    for f in spec.fields:
        yield _formula_check(f)
        yield from kind_of(f).checks(f, spec)
        mandatory = _mandatory_check(spec, f)
        if mandatory:
            yield mandatory
        not_applicable = _not_applicable_check(spec, f)
        if not_applicable:
            yield not_applicable


FAMILY = Family(name="fields", checks=checks)
