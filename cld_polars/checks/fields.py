"""Checks generated from the field table: formula-like values, data types, defined lists,
mandatory fields and fields given where they do not apply.

These are declared once per field *kind*; ``schemas/fields.toml`` decides which fields get
them, so a new field in a future release needs no code here.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from cld_polars import parse
from cld_polars.checks.context import Context
from cld_polars.checks.registry import Check
from cld_polars.spec import FieldSpec, Spec


def _readable(ctx: Context, name: str) -> pl.Expr:
    """Present and not formula-like: the rows on which a type check has something to judge."""
    return ctx.present(name) & ~ctx.formula(name)


def _type_checks(spec: Spec, f: FieldSpec) -> Iterator[Check]:
    n, k, g = f.name, f.key, f.guidance
    if f.kind == "date":
        yield Check(
            code=f"{k}_FORMAT",
            severity="error",
            fields=(n,),
            category="format",
            guidance=g,
            message=(
                f"{n} is not a date written dd/mm/yyyy. The specification needs a real calendar "
                "date with a four-digit year and no time stamp (e.g. 14/03/2025). Correct the "
                "export so the date is written in that form."
            ),
            fails=lambda c, n=n: _readable(c, n) & c.date(n).is_null(),
            suggestion=lambda c, n=n: parse.suggest_date(c.raw(n)),
        )
    elif f.kind == "nhs_number":
        yield Check(
            code="NHS_NUMBER_FORMAT",
            severity="error",
            fields=(n,),
            category="format",
            guidance=g,
            message=(
                "NHS Number is not 10 digits. The specification needs the 10-digit number with "
                "no spaces or other characters. Correct it, or leave it blank if it is not known."
            ),
            fails=lambda c, n=n: _readable(c, n) & ~c.raw(n).str.contains(parse.NHS_PATTERN),
            suggestion=lambda c, n=n: parse.suggest_nhs_number(c.raw(n)),
        )
        yield Check(
            code="NHS_NUMBER_CHECK_DIGIT",
            severity="error",
            fields=(n,),
            category="format",
            guidance=g,
            message=(
                "NHS Number fails the Modulus 11 check: its last digit does not match the first "
                "nine, so it is mistyped or not an NHS number. Check it against the case record "
                "and correct it, or leave it blank if the right number is not known."
            ),
            # The Modulus 11 test itself ran once, for the field's validity column.
            fails=lambda c, n=n: (
                _readable(c, n) & c.raw(n).str.contains(parse.NHS_PATTERN) & ~c.valid(n)
            ),
        )
    elif f.kind == "la_code":
        yield Check(
            code="LA_CODE_FORMAT",
            severity="error",
            fields=(n,),
            category="format",
            guidance=g,
            message=(
                "LA Code is not a whole number. Give the council's three-digit code used in all "
                "social care collections (e.g. 503 for Lincolnshire) on every row."
            ),
            fails=lambda c, n=n: _readable(c, n) & ~parse.is_integer(c.raw(n)),
            suggestion=lambda c, n=n: parse.suggest_integer(c.raw(n)),
        )
        yield Check(
            code="LA_CODE_UNKNOWN",
            severity="error",
            fields=(n,),
            category="invalid",
            guidance=g,
            message=(
                "LA Code is not a known council code. Use the council's code from NHS England's "
                "organisation data service (file 'lauth'), e.g. 503 for Lincolnshire."
            ),
            fails=lambda c, n=n: (
                _readable(c, n)
                & parse.is_integer(c.raw(n))
                & ~c.raw(n).is_in(list(c.spec.councils))
            ),
            suggestion=lambda c, n=n: pl.when(
                c.raw(n).str.replace(r"^0+", "").is_in(list(c.spec.councils))
            ).then(c.raw(n).str.replace(r"^0+", "")),
        )
        yield Check(
            code="LA_CODE_REPLACED",
            severity="warning",
            fields=(n,),
            category="invalid",
            guidance=g,
            message=(
                "LA Code belongs to a council that no longer exists (Northamptonshire 504 became "
                "940 North and 941 West Northamptonshire; Cumbria 102 became 942 Cumberland and "
                "943 "
                "Westmorland and Furness). Use the code of the council submitting the return."
            ),
            fails=lambda c, n=n: c.raw(n).is_in(
                [k for k, v in c.spec.councils.items() if v.status == "replaced"]
            ),
        )
    elif f.kind in ("integer", "decimal"):
        integer = f.kind == "integer"
        yield Check(
            code=f"{k}_FORMAT",
            severity="error",
            fields=(n,),
            category="format",
            guidance=g,
            message=(
                f"{n} is not a whole number. Give digits only (e.g. 2)."
                if integer
                else f"{n} is not a number with at most two decimal places. Give digits with an "
                "optional decimal point (e.g. 18.50): no currency sign, thousands separator, "
                "minus sign or text."
            ),
            fails=lambda c, n=n, integer=integer: (
                _readable(c, n)
                & ~(parse.is_integer(c.raw(n)) if integer else parse.is_decimal(c.raw(n)))
            ),
            suggestion=lambda c, n=n, integer=integer: (
                parse.suggest_integer(c.raw(n)) if integer else parse.suggest_decimal(c.raw(n))
            ),
        )
    elif f.kind == "postcode":
        yield Check(
            code="POSTCODE_FORMAT",
            severity="error",
            fields=(n,),
            category="format",
            guidance=g,
            message=(
                "Postcode is not in a format the specification allows: a full postcode in capitals "
                "with one space (LN1 1YL), the outward code alone (LN1), ZZ99 3VZ (no fixed "
                "abode), ZZ99 3CZ (address known, no postcode) or Unknown. Correct the value."
            ),
            fails=lambda c, n=n: _readable(c, n) & ~parse.postcode_valid(c.raw(n)),
            suggestion=lambda c, n=n: parse.suggest_postcode(c.raw(n)),
        )
    elif f.kind == "gp_practice_code":
        yield Check(
            code="GP_PRACTICE_CODE_FORMAT",
            severity="warning",
            fields=(n,),
            category="format",
            guidance=g,
            message=(
                "GP Practice Code does not look like a practice code (a letter then five letters "
                "or digits, e.g. C83001). Use the practice's code from NHS England's 'epraccur' "
                "file, not the practitioner's, or leave it blank."
            ),
            fails=lambda c, n=n: _readable(c, n) & ~parse.gp_practice_code_valid(c.raw(n)),
            suggestion=lambda c, n=n: parse.suggest_gp_practice_code(c.raw(n)),
        )
    elif f.kind == "list":
        yield from _list_checks(spec, f)


def release1_possible(spec: Spec, f: FieldSpec) -> bool:
    """Whether a Release 1 value can exist for this list: it has known old values, or a value
    whose colon, "and" or "or" could once have been a dash, ampersand or slash."""
    values = spec.lists[f.list_name or ""]
    markers = (": ", " and ", " or ", "/")
    return bool(spec.release1_for(f.list_name or "")) or any(
        m in v for v in values for m in markers
    )


def _list_checks(spec: Spec, f: FieldSpec) -> Iterator[Check]:
    if release1_possible(spec, f):
        yield from _release1_check(f)
    yield from _other_list_checks(f)


def _release1_check(f: FieldSpec) -> Iterator[Check]:
    n, k, g = f.name, f.key, f.guidance
    yield Check(
        code=f"{k}_RELEASE1",
        severity="error",
        fields=(n,),
        category="release1",
        guidance=g,
        message=(
            f"{n} holds a Release 1 value. Returns must use the Release 2 defined list from "
            "October 2025; the Data Landing Portal accepts the old value but the data quality "
            "report flags it. Replace it with the Release 2 value suggested (where the suggestion "
            "is blank, the value was withdrawn and you must choose a new one)."
        ),
        fails=lambda c, n=n: c.is_list_class(n, "release1"),
        suggestion=lambda c, n=n: c.list_suggestion(n),
    )


def _other_list_checks(f: FieldSpec) -> Iterator[Check]:
    n, k, g = f.name, f.key, f.guidance
    yield Check(
        code=f"{k}_NEAR_MISS",
        severity="error",
        fields=(n,),
        category="near_miss",
        guidance=g,
        message=(
            f"{n} differs from a Release 2 value only in capitals, spaces or punctuation. The "
            "Data Landing Portal matches values exactly: replace it with the value suggested."
        ),
        fails=lambda c, n=n: c.is_list_class(n, "near_miss"),
        suggestion=lambda c, n=n: c.list_suggestion(n),
    )
    yield Check(
        code=f"{k}_INVALID",
        severity="error",
        fields=(n,),
        category="invalid",
        guidance=g,
        message=(
            f"{n} is not a value in the Release 2 defined list. Map the local value to one of the "
            f"listed values (see the guidance section '{g}'); the closest listed value is "
            "suggested where one is close."
        ),
        fails=lambda c, n=n: c.is_list_class(n, "invalid"),
        # Filled in by the engine from the distinct invalid values (see engine.closest_values).
        suggestion=None,
    )


def _formula_check(f: FieldSpec) -> Check:
    n = f.name
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
        fails=lambda c, n=n: c.present(n) & c.formula(n),
    )


def _mandatory_check(ctx: Context, f: FieldSpec) -> Check | None:
    n, k, g = f.name, f.key, f.guidance
    if f.mandatory == "always":
        return Check(
            code=f"{k}_MISSING",
            severity="error",
            fields=(n,),
            category="mandatory",
            guidance=g,
            message=f"{n} is blank but is mandatory on every row. Fill it in"
            + (
                " ('Unknown' is a valid value where it was not recorded)."
                if f.kind == "list" and "Unknown" in ctx.spec.lists.get(f.list_name or "", ())
                else "."
            ),
            fails=lambda c, n=n: c.blank(n),
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
                f"{n} is blank but is mandatory for this row ({_describe(cond, ctx)}, Annex A). "
                "Fill it in"
                + (
                    " ('Unknown' is a valid value where it was not recorded)."
                    if f.kind == "list" and "Unknown" in ctx.spec.lists.get(f.list_name or "", ())
                    else "."
                )
            ),
            fails=lambda c, n=n, cond=cond: c.blank(n) & c.condition(cond).fill_null(False),
            requires=(n, *sorted(ctx.condition_fields(cond))),
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
            fails=lambda c, n=n: c.blank(n),
        )
    return None


def _not_applicable_check(ctx: Context, f: FieldSpec) -> Check | None:
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
            f"{_describe(cond, ctx)}). Check the row's event type and client type, or leave "
            f"{n} blank."
        ),
        fails=lambda c, n=n, cond=cond: c.present(n) & ~c.condition(cond).fill_null(True),
        requires=(n, *sorted(ctx.condition_fields(cond))),
    )


def _describe(condition: object, ctx: Context) -> str:
    """A condition in words, for messages: "Event Type is Service and Service Type is ..."."""
    parts = []
    for alternative in condition:  # type: ignore[attr-defined]
        terms = []
        for key, value in alternative.items():
            if key == "condition":
                terms.append(_describe(ctx.spec.conditions[value], ctx))
            elif key == "age_at_event_start":
                terms.append(f"aged {value[0]} to {value[1]} at the event start")
            else:
                terms.append(f"{key} is " + " or ".join(f"'{v}'" for v in value))
        parts.append(" and ".join(terms))
    return "; or ".join(parts)


def checks(spec: Spec) -> Iterator[Check]:
    ctx = Context(spec)
    for f in spec.fields:
        yield _formula_check(f)
        yield from _type_checks(spec, f)
        mandatory = _mandatory_check(ctx, f)
        if mandatory:
            yield mandatory
        not_applicable = _not_applicable_check(ctx, f)
        if not_applicable:
            yield not_applicable
