"""Field kinds: what a field's values can be, one class per kind.

``schemas/fields.toml`` gives every field a ``kind`` (date, nhs_number, list, ...). Everything
the project knows about a kind lives in its class here and nowhere else: how a value is
judged (its *state*), the typed value a notebook sees, the Polars dtype, the checks the kind
brings and the Pandera checks of the typed data. A new kind is one class here and one word in
the catalogue.

**States.** Each value of a field is judged into one small integer, its state, shared by the
engine's checks, the per-field measures, the summary tables and ``fix``:

=============  =====  ==============================================================
``BLANK``      0      null, empty or only white space
``FORMULA``    1      starts like a spreadsheet formula (the DLP rejects it)
``INVALID``    2      not a value of the kind (the kind's main format check)
``NEAR_MISS``  3      defined lists: differs from a listed value in case or punctuation
``RELEASE1``   4      defined lists: a Release 1 value
``INVALID_2``  5      a second way to be invalid, where a kind has one (e.g. a Modulus 11
                      failure of a well-formed NHS number, an unknown council code)
``VALID``      8+     valid; defined lists add the value's position in the list, other
                      kinds may use 9 for a valid value that still deserves a warning
=============  =====  ==============================================================

**Judged once per distinct value.** Most fields hold few distinct values (lists, dates, codes,
costs), so a kind with ``distinct = True`` is judged on each chunk's distinct values, and the
rows take their state (and typed value) by a gather on the value's position: a date is parsed
a few hundred times per chunk instead of a hundred thousand. Kinds whose values are nearly all
different (identifiers, NHS numbers, postcodes) are judged row by row with the same
expressions; for them the judgement is cheap or could not be shared anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cache
from typing import TYPE_CHECKING, ClassVar

import polars as pl

from cld_polars import parse
from cld_polars.checks.registry import Category, Check, Severity
from cld_polars.spec import FieldSpec, Spec

if TYPE_CHECKING:
    import pandera.polars as pa

    from cld_polars.checks.context import Context

BLANK = 0
FORMULA = 1
INVALID = 2
NEAR_MISS = 3
RELEASE1 = 4
INVALID_2 = 5
VALID = 8
#: The state's dtype: one byte per row and field.
STATE_DTYPE = pl.UInt8
#: Judgements remembered across a run's chunks: (field, value) -> (state, suggestion).
Memo = dict[tuple[str, str], tuple[int, str | None]]
#: At most this many are remembered (far more than a real return's list values).
MAX_MEMO = 100_000

#: Leading white space or a formula-like start: the only values that can be blank-but-not-null
#: or formula-like. One anchored regex finds them on row-judged kinds; the detailed tests run
#: on those alone.
ODD_START = r"^(?:$|\s|[=+@]|-(?:[^0-9.]|$))"


class FieldKind:
    """A kind of field. Subclasses say how a readable value is judged and typed.

    ``state`` receives a value that is neither blank nor formula-like (the shared front of the
    judgement, :meth:`judge`, settles those) and returns ``INVALID``..``VALID``+n.
    """

    #: The name in ``schemas/fields.toml``.
    name: ClassVar[str]
    #: The Polars type of the typed value (``Report.data``).
    dtype: ClassVar[pl.DataType] = pl.String()
    #: Judge each chunk's distinct values rather than its rows (few distinct values expected).
    distinct: ClassVar[bool] = False
    #: Whether the engine keeps the typed value as a helper column (dates: the logic compares them).
    typed_helper: ClassVar[bool] = False

    # --- judgement ------------------------------------------------------------------------
    def state(self, value: pl.Expr, f: FieldSpec, spec: Spec) -> pl.Expr:
        """The state of a readable value: ``VALID`` unless the kind says otherwise."""
        return pl.lit(VALID, dtype=STATE_DTYPE)

    def judge(self, value: pl.Expr, f: FieldSpec, spec: Spec) -> pl.Expr:
        """The state of any value (blank, formula-like or the kind's verdict), as UInt8."""
        odd = pl.when(value.str.contains(ODD_START)).then(value)
        blank = value.is_null() | (odd.str.strip_chars() == "").fill_null(False)
        return (
            pl.when(blank)
            .then(pl.lit(BLANK, dtype=STATE_DTYPE))
            .when(parse.is_formula_like(odd))
            .then(pl.lit(FORMULA, dtype=STATE_DTYPE))
            .otherwise(self.state(value, f, spec))
            .cast(STATE_DTYPE)
        )

    def judge_values(
        self, values: pl.Series, f: FieldSpec, spec: Spec, memo: Memo | None = None
    ) -> pl.DataFrame:
        """Distinct values (no nulls) judged: ``value``, ``state`` (+ ``typed``, + ``suggestion``).

        The table the engine gathers rows from. Lists override it: their verdicts need Python
        per value, remembered in ``memo`` across the chunks of a run.
        """
        frame = values.rename("value").to_frame()
        columns = [self.judge(pl.col("value"), f, spec).alias("state")]
        if self.typed_helper:
            columns.append(self.typed(pl.col("value"), f, spec).alias("typed"))
        return frame.with_columns(columns)

    def typed(self, value: pl.Expr, f: FieldSpec, spec: Spec) -> pl.Expr:
        """The value as ``dtype``; null where blank, formula-like or not valid."""
        return (
            pl.when(self.judge(value, f, spec) >= VALID).then(self._convert(value)).cast(self.dtype)
        )

    def _convert(self, value: pl.Expr) -> pl.Expr:
        """A valid value as ``dtype`` (only called where it is valid)."""
        return value

    # --- checks ---------------------------------------------------------------------------
    def checks(self, f: FieldSpec, spec: Spec) -> Iterator[Check]:
        """The kind's own checks on a field (its format or list checks)."""
        return iter(())

    def pandera_checks(self, f: FieldSpec, spec: Spec) -> list[pa.Check]:
        """Pandera checks of the typed value (``data_schema``)."""
        return []


class Text(FieldKind):
    """Free text (names, descriptions): any value is valid."""

    name = "text"


class Identifier(FieldKind):
    """A local identifier (person, event, linked person, CQC location): any value is valid."""

    name = "identifier"


def _format_check(
    f: FieldSpec,
    *,
    code: str,
    message: str,
    fails: Callable[[Context], pl.Expr],
    suggestion: Callable[[Context], pl.Expr] | None = None,
    severity: Severity = "error",
    category: Category = "format",
) -> Check:
    return Check(
        code=code,
        severity=severity,
        fields=(f.name,),
        category=category,
        guidance=f.guidance,
        message=message,
        fails=fails,
        suggestion=suggestion,
    )


def _state_is(name: str, state: int) -> Callable[[Context], pl.Expr]:
    def fails(c: Context) -> pl.Expr:
        return c.state(name) == state

    return fails


def _raw_suggestion(
    name: str, suggest: Callable[[pl.Expr], pl.Expr]
) -> Callable[[Context], pl.Expr]:
    def suggestion(c: Context) -> pl.Expr:
        return suggest(c.raw(name))

    return suggestion


class Date(FieldKind):
    """A date written dd/mm/yyyy: a real calendar date with a four-digit year, no time."""

    name = "date"
    dtype = pl.Date()
    distinct = True
    typed_helper = True

    def state(self, value: pl.Expr, f: FieldSpec, spec: Spec) -> pl.Expr:
        return pl.when(parse.parse_date(value).is_not_null()).then(VALID).otherwise(INVALID)

    def _convert(self, value: pl.Expr) -> pl.Expr:
        return parse.parse_date(value)

    def checks(self, f: FieldSpec, spec: Spec) -> Iterator[Check]:
        n = f.name
        yield _format_check(
            f,
            code=f"{f.key}_FORMAT",
            message=(
                f"{n} is not a date written dd/mm/yyyy. The specification needs a real calendar "
                "date with a four-digit year and no time stamp (e.g. 14/03/2025). Correct the "
                "export so the date is written in that form."
            ),
            fails=_state_is(n, INVALID),
            suggestion=_raw_suggestion(n, parse.suggest_date),
        )


class NhsNumber(FieldKind):
    """Ten digits with a valid Modulus 11 check digit (``INVALID_2``: the check digit fails)."""

    name = "nhs_number"

    def state(self, value: pl.Expr, f: FieldSpec, spec: Spec) -> pl.Expr:
        return (
            pl.when(~value.str.contains(parse.NHS_PATTERN))
            .then(INVALID)
            .when(parse.nhs_number_valid(value))
            .then(VALID)
            .otherwise(INVALID_2)
        )

    def checks(self, f: FieldSpec, spec: Spec) -> Iterator[Check]:
        n = f.name
        yield _format_check(
            f,
            code="NHS_NUMBER_FORMAT",
            message=(
                "NHS Number is not 10 digits. The specification needs the 10-digit number with "
                "no spaces or other characters. Correct it, or leave it blank if it is not known."
            ),
            fails=_state_is(n, INVALID),
            suggestion=_raw_suggestion(n, parse.suggest_nhs_number),
        )
        yield _format_check(
            f,
            code="NHS_NUMBER_CHECK_DIGIT",
            message=(
                "NHS Number fails the Modulus 11 check: its last digit does not match the first "
                "nine, so it is mistyped or not an NHS number. Check it against the case record "
                "and correct it, or leave it blank if the right number is not known."
            ),
            fails=_state_is(n, INVALID_2),
        )


#: A valid council code of a council that no longer exists (a warning).
REPLACED_COUNCIL = VALID + 1


class LaCode(FieldKind):
    """A council's code: digits (``INVALID`` otherwise) that name a known council
    (``INVALID_2`` otherwise); a replaced council's code is valid with a warning."""

    name = "la_code"
    dtype = pl.Int64()
    distinct = True

    def state(self, value: pl.Expr, f: FieldSpec, spec: Spec) -> pl.Expr:
        replaced = [k for k, v in spec.councils.items() if v.status == "replaced"]
        return (
            pl.when(~parse.is_integer(value))
            .then(INVALID)
            .when(~value.is_in(list(spec.councils)))
            .then(INVALID_2)
            .when(value.is_in(replaced))
            .then(REPLACED_COUNCIL)
            .otherwise(VALID)
        )

    def _convert(self, value: pl.Expr) -> pl.Expr:
        return value.cast(pl.Int64, strict=False)

    def checks(self, f: FieldSpec, spec: Spec) -> Iterator[Check]:
        n = f.name

        def known_without_zeros(c: Context) -> pl.Expr:
            stripped = c.raw(n).str.replace(r"^0+", "")
            return pl.when(stripped.is_in(list(c.spec.councils))).then(stripped)

        yield _format_check(
            f,
            code="LA_CODE_FORMAT",
            message=(
                "LA Code is not a whole number. Give the council's three-digit code used in all "
                "social care collections (e.g. 503 for Lincolnshire) on every row."
            ),
            fails=_state_is(n, INVALID),
            suggestion=_raw_suggestion(n, parse.suggest_integer),
        )
        yield _format_check(
            f,
            code="LA_CODE_UNKNOWN",
            category="invalid",
            message=(
                "LA Code is not a known council code. Use the council's code from NHS England's "
                "organisation data service (file 'lauth'), e.g. 503 for Lincolnshire."
            ),
            fails=_state_is(n, INVALID_2),
            suggestion=known_without_zeros,
        )
        yield _format_check(
            f,
            code="LA_CODE_REPLACED",
            severity="warning",
            category="invalid",
            message=(
                "LA Code belongs to a council that no longer exists (Northamptonshire 504 became "
                "940 North and 941 West Northamptonshire; Cumbria 102 became 942 Cumberland and "
                "943 Westmorland and Furness). Use the code of the council submitting the return."
            ),
            fails=_state_is(n, REPLACED_COUNCIL),
        )


class Integer(FieldKind):
    """A whole number: ASCII digits only."""

    name = "integer"
    dtype = pl.Int64()
    distinct = True

    def state(self, value: pl.Expr, f: FieldSpec, spec: Spec) -> pl.Expr:
        return pl.when(parse.is_integer(value)).then(VALID).otherwise(INVALID)

    def _convert(self, value: pl.Expr) -> pl.Expr:
        return value.cast(pl.Int64, strict=False)

    def checks(self, f: FieldSpec, spec: Spec) -> Iterator[Check]:
        yield _format_check(
            f,
            code=f"{f.key}_FORMAT",
            message=f"{f.name} is not a whole number. Give digits only (e.g. 2).",
            fails=_state_is(f.name, INVALID),
            suggestion=_raw_suggestion(f.name, parse.suggest_integer),
        )


class Decimal(FieldKind):
    """A number with at most two decimal places: no sign, currency or thousands separator."""

    name = "decimal"
    dtype = pl.Float64()
    distinct = True

    def state(self, value: pl.Expr, f: FieldSpec, spec: Spec) -> pl.Expr:
        return pl.when(parse.is_decimal(value)).then(VALID).otherwise(INVALID)

    def _convert(self, value: pl.Expr) -> pl.Expr:
        return value.cast(pl.Float64, strict=False)

    def checks(self, f: FieldSpec, spec: Spec) -> Iterator[Check]:
        yield _format_check(
            f,
            code=f"{f.key}_FORMAT",
            message=(
                f"{f.name} is not a number with at most two decimal places. Give digits with an "
                "optional decimal point (e.g. 18.50): no currency sign, thousands separator, "
                "minus sign or text."
            ),
            fails=_state_is(f.name, INVALID),
            suggestion=_raw_suggestion(f.name, parse.suggest_decimal),
        )


class Postcode(FieldKind):
    """A full postcode with one space, an outward code alone, or one of the special values."""

    name = "postcode"

    def state(self, value: pl.Expr, f: FieldSpec, spec: Spec) -> pl.Expr:
        return pl.when(parse.postcode_valid(value)).then(VALID).otherwise(INVALID)

    def checks(self, f: FieldSpec, spec: Spec) -> Iterator[Check]:
        yield _format_check(
            f,
            code="POSTCODE_FORMAT",
            message=(
                "Postcode is not in a format the specification allows: a full postcode in capitals "
                "with one space (LN1 1YL), the outward code alone (LN1), ZZ99 3VZ (no fixed "
                "abode), ZZ99 3CZ (address known, no postcode) or Unknown. Correct the value."
            ),
            fails=_state_is(f.name, INVALID),
            suggestion=_raw_suggestion(f.name, parse.suggest_postcode),
        )


class GpPracticeCode(FieldKind):
    """A GP practice code: a letter then five letters or digits (otherwise a warning)."""

    name = "gp_practice_code"

    def state(self, value: pl.Expr, f: FieldSpec, spec: Spec) -> pl.Expr:
        return pl.when(parse.gp_practice_code_valid(value)).then(VALID).otherwise(INVALID)

    def checks(self, f: FieldSpec, spec: Spec) -> Iterator[Check]:
        yield _format_check(
            f,
            code="GP_PRACTICE_CODE_FORMAT",
            severity="warning",
            message=(
                "GP Practice Code does not look like a practice code (a letter then five letters "
                "or digits, e.g. C83001). Use the practice's code from NHS England's 'epraccur' "
                "file, not the practitioner's, or leave it blank."
            ),
            fails=_state_is(f.name, INVALID),
            suggestion=_raw_suggestion(f.name, parse.suggest_gp_practice_code),
        )


@cache
def list_matcher(spec: Spec, field_name: str) -> parse.ListMatcher:
    """The classifier of one defined-list field's values (built once per specification)."""
    f = spec.field(field_name)
    list_name = f.list_name or ""
    release1 = {k: m.release2 for k, m in spec.release1_for(list_name).items()}
    near = spec.outcome_near_misses if field_name == "Event Outcome" else None
    return parse.ListMatcher(spec.lists[list_name], release1, near)


def release1_possible(spec: Spec, f: FieldSpec) -> bool:
    """Whether a Release 1 value can exist for this list: it has known old values, or a value
    whose colon, "and" or "or" could once have been a dash, ampersand or slash."""
    values = spec.lists[f.list_name or ""]
    markers = (": ", " and ", " or ", "/")
    return bool(spec.release1_for(f.list_name or "")) or any(
        m in v for v in values for m in markers
    )


#: A list's state for each verdict of :meth:`parse.ListMatcher.classify`.
_LIST_STATES = {"invalid": INVALID, "near_miss": NEAR_MISS, "release1": RELEASE1}


class DefinedList(FieldKind):
    """A value of a Release 2 defined list, exactly. The state of a valid value is ``VALID``
    plus its position in the list, so a condition on the value is an integer comparison.

    Telling a Release 1 value from a near miss needs Python string work, done once per
    distinct value (:meth:`judge_values`) and remembered across chunks by the engine.
    """

    name = "list"
    distinct = True

    def judge_values(
        self, values: pl.Series, f: FieldSpec, spec: Spec, memo: Memo | None = None
    ) -> pl.DataFrame:
        listed = spec.values(f.name)
        if len(listed) + VALID > 255:
            raise ValueError(f"{f.name}: too many listed values for a one-byte state")
        memo = {} if memo is None else memo
        states, suggestions = [], []
        for value in values.to_list():  # distinct values only: a few dozen in a real return
            judged = memo.get((f.name, value))
            if judged is None:
                judged = self._classify(value, f, spec, listed)
                if len(memo) < MAX_MEMO:  # a column of garbage is not remembered
                    memo[(f.name, value)] = judged
            states.append(judged[0])
            suggestions.append(judged[1])
        return pl.DataFrame(
            {"value": values, "state": states, "suggestion": suggestions},
            schema={"value": pl.String, "state": STATE_DTYPE, "suggestion": pl.String},
        )

    @staticmethod
    def _classify(
        value: str, f: FieldSpec, spec: Spec, listed: tuple[str, ...]
    ) -> tuple[int, str | None]:
        kind, suggestion = list_matcher(spec, f.name).classify(value)
        if kind is None:
            return (BLANK if not value.strip() else FORMULA), None
        if kind == "valid":
            return VALID + listed.index(value), None
        return _LIST_STATES[kind], suggestion

    def judge(self, value: pl.Expr, f: FieldSpec, spec: Spec) -> pl.Expr:
        """Valid or not, as an expression (``typed`` data; the engine uses ``judge_values``)."""
        listed = spec.values(f.name)
        base = super().judge(value, f, spec)
        position = value.replace_strict(
            list(listed), list(range(len(listed))), default=None, return_dtype=pl.Int64
        )
        return (
            pl.when(base != VALID)
            .then(base)
            .when(position.is_not_null())
            .then(position + VALID)
            .otherwise(INVALID)
            .cast(STATE_DTYPE)
        )

    def checks(self, f: FieldSpec, spec: Spec) -> Iterator[Check]:
        n, k, g = f.name, f.key, f.guidance

        def list_suggestion(c: Context) -> pl.Expr:
            return c.list_suggestion(n)

        if release1_possible(spec, f):
            yield Check(
                code=f"{k}_RELEASE1",
                severity="error",
                fields=(n,),
                category="release1",
                guidance=g,
                message=(
                    f"{n} holds a Release 1 value. Returns must use the Release 2 defined list "
                    "from October 2025; the Data Landing Portal accepts the old value but the data "
                    "quality report flags it. Replace it with the Release 2 value suggested (where "
                    "the suggestion is blank, the value was withdrawn and you must choose a new "
                    "one)."
                ),
                fails=_state_is(n, RELEASE1),
                suggestion=list_suggestion,
            )
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
            fails=_state_is(n, NEAR_MISS),
            suggestion=list_suggestion,
        )
        yield Check(
            code=f"{k}_INVALID",
            severity="error",
            fields=(n,),
            category="invalid",
            guidance=g,
            message=(
                f"{n} is not a value in the Release 2 defined list. Map the local value to one of "
                f"the listed values (see the guidance section '{g}'); the closest listed value is "
                "suggested where one is close."
            ),
            fails=_state_is(n, INVALID),
            # Filled in by the engine from the distinct invalid values (closest listed value).
            suggestion=None,
        )

    def pandera_checks(self, f: FieldSpec, spec: Spec) -> list[pa.Check]:
        import pandera.polars as pa  # only the Pandera schemas need Pandera

        return [pa.Check.isin(list(spec.values(f.name)))]


#: Every kind, by its name in the catalogue.
KINDS: dict[str, FieldKind] = {
    kind.name: kind()
    for kind in (
        Text,
        Identifier,
        Date,
        NhsNumber,
        LaCode,
        Integer,
        Decimal,
        Postcode,
        GpPracticeCode,
        DefinedList,
    )
}


def kind_of(f: FieldSpec) -> FieldKind:
    """The kind of a field (its class declares everything about its values)."""
    return KINDS[f.kind]
