"""Value parsers as Polars expressions.

Every check reads raw text (the return is scanned with every column as a string) and these
expressions turn it into typed values or verdicts without leaving Polars. A parser returns
null where the value cannot be read, so "present but unreadable" is ``raw not blank and
parsed is null``. Each ``suggest_*`` expression gives the corrected value where one can be
derived, else null.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import polars as pl

DATE_FORMAT = "%d/%m/%Y"
DATE_PATTERN = r"^\d{2}/\d{2}/\d{4}$"
NHS_PATTERN = r"^\d{10}$"
#: ASCII digits only: in Polars (Rust regex) ``\d`` also matches other scripts' digits.
INTEGER_PATTERN = r"^[0-9]+$"
DECIMAL_PATTERN = r"^[0-9]+(\.[0-9]{1,2})?$"
#: A full postcode: outward code (area letters, district digit, optional letter/digit), one
#: space, inward code (digit and two letters).
POSTCODE_FULL = r"^[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}$"
POSTCODE_OUTWARD = r"^[A-Z]{1,2}[0-9][A-Z0-9]?$"
POSTCODE_SPECIAL = ("ZZ99 3VZ", "ZZ99 3CZ", "Unknown")
GP_PRACTICE_PATTERN = r"^[A-Z][A-Z0-9]{5}$"
#: The DLP rejects values that a spreadsheet could take as a formula: a leading =, + or @, or a
#: leading - that does not begin a number.
FORMULA_PATTERN = r"^(?:[=+@]|-(?:[^0-9.]|$))"


def text(template: str, *values: pl.Expr) -> pl.Expr:
    """``pl.format`` built on ``concat_str``: nulls print as empty text.

    Polars 2.1's ``pl.format`` panics on some filtered string-view frames; ``concat_str`` does not.
    """
    pieces = template.split("{}")
    if len(pieces) != len(values) + 1:
        raise ValueError(f"{template!r} needs {len(pieces) - 1} values")
    parts: list[pl.Expr] = []
    for piece, value in zip(pieces, [*values, None], strict=True):
        if piece:
            parts.append(pl.lit(piece))
        if value is not None:
            parts.append(value.cast(pl.String).fill_null(""))
    return pl.concat_str(parts)


def is_blank(expr: pl.Expr) -> pl.Expr:
    """Null, empty or only white space: the DLP stores all three as a missing value."""
    return expr.is_null() | (expr.str.strip_chars() == "")


def is_formula_like(expr: pl.Expr) -> pl.Expr:
    return expr.str.contains(FORMULA_PATTERN).fill_null(False)


# --- dates -------------------------------------------------------------------------------


def parse_date(expr: pl.Expr) -> pl.Expr:
    """The date of a ``dd/mm/yyyy`` value, null for anything else (including 31/02/2025).

    Polars 2 has no string-to-date cast; ``str.to_date(strict=False)`` gives null for a value
    that is not a real calendar date, and the pattern rejects the lenient forms chrono accepts.
    """
    date = expr.str.to_date(DATE_FORMAT, strict=False)
    # chrono's proleptic calendar has a year 0; the Gregorian calendar (and Python) does not.
    return pl.when(expr.str.contains(DATE_PATTERN) & (date.dt.year() > 0)).then(date)


def suggest_date(expr: pl.Expr) -> pl.Expr:
    """The dd/mm/yyyy form of a date written another unambiguous way (ISO, time stamp, d/m/yyyy).

    Two-digit years are ambiguous and get no suggestion.
    """
    text = expr.str.strip_chars()
    first = text.str.extract(r"^(\S+)", 1)
    candidates = [
        pl.when(first.str.contains(r"^\d{4}-\d{2}-\d{2}$")).then(
            first.str.to_date("%Y-%m-%d", strict=False)
        ),
        pl.when(first.str.contains(r"^\d{1,2}/\d{1,2}/\d{4}$")).then(
            first.str.to_date("%d/%m/%Y", strict=False)
        ),
        pl.when(first.str.contains(r"^\d{1,2}-\d{1,2}-\d{4}$")).then(
            first.str.to_date("%d-%m-%Y", strict=False)
        ),
        pl.when(first.str.contains(r"^\d{1,2}\.\d{1,2}\.\d{4}$")).then(
            first.str.to_date("%d.%m.%Y", strict=False)
        ),
    ]
    return pl.coalesce(candidates).dt.strftime(DATE_FORMAT)


def age_in_years(birth: pl.Expr, on: pl.Expr) -> pl.Expr:
    """Whole years between two dates (the age on the later date), null if either is null."""
    years = on.dt.year().cast(pl.Int32) - birth.dt.year().cast(pl.Int32)
    before_birthday = (on.dt.month() < birth.dt.month()) | (
        (on.dt.month() == birth.dt.month()) & (on.dt.day() < birth.dt.day())
    )
    return years - before_birthday.cast(pl.Int32)


# --- numbers and codes ------------------------------------------------------------------


def _weighted_digits(weights: tuple[int, int, int]) -> pl.Series:
    """For each three-digit group 000..999: its digits times ``weights``, summed."""
    return pl.Series(
        [sum(int(d) * w for d, w in zip(f"{i:03d}", weights, strict=True)) for i in range(1000)],
        dtype=pl.UInt16,
    )


#: Modulus 11 in lookups: the first nine digits of an NHS number weigh 10 down to 2; the
#: number is split into three three-digit groups whose weighted digit sums are looked up,
#: and the check digit of each possible sum (at most 486) is looked up too.
_NHS_GROUP_SUMS = (
    _weighted_digits((10, 9, 8)),
    _weighted_digits((7, 6, 5)),
    _weighted_digits((4, 3, 2)),
)
_NHS_CHECK_DIGIT = pl.Series([(11 - s % 11) % 11 for s in range(487)], dtype=pl.UInt8)


def nhs_number_valid(expr: pl.Expr) -> pl.Expr:
    """Ten digits whose tenth is the Modulus 11 check digit of the first nine.

    A check digit of 10 means no valid number has these nine digits. Peeling off nine digits
    one by one costs eighteen integer divisions a row; three groups of three and table
    lookups cost four (``_NHS_GROUP_SUMS``). A value that is not ten digits casts to null or
    fails the pattern, and either way is not valid.
    """
    number = expr.cast(pl.Int64, strict=False)
    # Any number gives in-range lookups (a negative group casts to null): only ten digits,
    # which the pattern requires, can be valid.
    groups = [
        (number // divisor % 1000).cast(pl.UInt32, strict=False)
        for divisor in (10_000_000, 10_000, 10)
    ]
    total = sum(
        (pl.lit(table).gather(group) for table, group in zip(_NHS_GROUP_SUMS, groups, strict=True)),
        start=pl.lit(0, dtype=pl.UInt16),
    )
    check = pl.lit(_NHS_CHECK_DIGIT).gather(total)
    return (
        expr.str.contains(NHS_PATTERN)
        & (check != 10)
        & (check == (number % 10).cast(pl.UInt8, strict=False))
    ).fill_null(False)


def suggest_nhs_number(expr: pl.Expr) -> pl.Expr:
    """The number without its spaces or hyphens, where that makes it valid."""
    cleaned = expr.str.replace_all(r"[\s-]", "")
    return pl.when((cleaned != expr) & nhs_number_valid(cleaned)).then(cleaned)


def is_integer(expr: pl.Expr) -> pl.Expr:
    return expr.str.contains(INTEGER_PATTERN)


def is_decimal(expr: pl.Expr) -> pl.Expr:
    return expr.str.contains(DECIMAL_PATTERN)


def parse_decimal(expr: pl.Expr) -> pl.Expr:
    return pl.when(is_decimal(expr)).then(expr.cast(pl.Float64, strict=False))


def suggest_decimal(expr: pl.Expr) -> pl.Expr:
    """The number without currency sign, thousands separators or spaces, at 2 decimals."""
    cleaned = expr.str.replace_all(r"[£,\s]", "")
    rounded = (
        pl.when(cleaned.str.contains(r"^\d+\.\d{3,}$"))
        .then(cleaned.cast(pl.Float64, strict=False).round(2).cast(pl.String))
        .otherwise(cleaned)
    )
    return pl.when(is_decimal(rounded) & (rounded != expr)).then(rounded)


def suggest_integer(expr: pl.Expr) -> pl.Expr:
    cleaned = expr.str.replace_all(r"[\s,]", "").str.replace(r"\.0+$", "")
    return pl.when(is_integer(cleaned) & (cleaned != expr)).then(cleaned)


def postcode_valid(expr: pl.Expr) -> pl.Expr:
    return (
        expr.str.contains(POSTCODE_FULL)
        | expr.str.contains(POSTCODE_OUTWARD)
        | expr.is_in(list(POSTCODE_SPECIAL))
    )


def suggest_postcode(expr: pl.Expr) -> pl.Expr:
    """Upper case with exactly one space before the inward code (``ln11yl`` -> ``LN1 1YL``)."""
    squashed = expr.str.to_uppercase().str.replace_all(r"\s+", "")
    full = squashed.str.replace(r"^(.+)([0-9][A-Z]{2})$", "$1 $2")
    candidate = (
        pl.when(expr.str.strip_chars().str.to_lowercase() == "unknown")
        .then(pl.lit("Unknown"))
        .when(full.str.contains(POSTCODE_FULL))
        .then(full)
        .when(squashed.str.contains(POSTCODE_OUTWARD))
        .then(squashed)
    )
    return pl.when(candidate != expr).then(candidate)


def gp_practice_code_valid(expr: pl.Expr) -> pl.Expr:
    return expr.str.contains(GP_PRACTICE_PATTERN)


def suggest_gp_practice_code(expr: pl.Expr) -> pl.Expr:
    cleaned = expr.str.strip_chars().str.to_uppercase()
    return pl.when(gp_practice_code_valid(cleaned) & (cleaned != expr)).then(cleaned)


# --- defined lists ----------------------------------------------------------------------

_DASH = re.compile(r"\s*-\s+")
_SPACES = re.compile(r"\s+")


def systematic_release2(value: str) -> str:
    """Apply Release 2's systematic punctuation changes to a Python string.

    Colons for dashes as sub-classification markers, "and" for "&", "or" for "/".
    """
    value = _DASH.sub(": ", value)
    value = value.replace("&", " and ")
    value = value.replace("/", " or ")
    return _SPACES.sub(" ", value).strip()


def fold(value: str) -> str:
    """Release 1 folding: systematic changes plus case folding."""
    return systematic_release2(value).lower()


def near_key(value: str) -> str:
    """Letters and digits only, lower case: equal keys differ in case, spacing or punctuation."""
    return re.sub(r"[^a-z0-9]", "", value.lower())


class ListMatcher:
    """Classifies the values of one defined-list field into the four kinds the report uses.

    Built once per list from the specification and applied to the distinct values of a column
    (a few dozen in a real return); the engine maps the verdicts back onto rows with a lookup.
    """

    def __init__(
        self,
        values: Iterable[str],
        release1: Mapping[str, str],
        near_misses: Mapping[str, str] | None = None,
    ) -> None:
        self.values = tuple(values)
        self.release1 = dict(release1)
        self.folded = {fold(v): v for v in self.values}
        self.near = {near_key(v): v for v in self.values}
        self.explicit_near = dict(near_misses or {})
        self._value_set = frozenset(self.values)

    def classify(self, value: str) -> tuple[str | None, str | None]:
        """(class, suggestion) of one distinct value: valid, release1, near_miss or invalid.

        Called once per distinct value of a column (a few dozen in a real return), never per row.
        """
        if not value.strip() or re.match(FORMULA_PATTERN, value):
            return None, None
        if value in self._value_set:
            return "valid", None
        release1 = self.release1.get(value)
        if release1 is None:
            systematic = systematic_release2(value)
            if systematic != value.strip():
                release1 = self.folded.get(systematic.lower())
        if release1 is not None:
            return "release1", release1 or None
        near = self.explicit_near.get(value) or self.near.get(near_key(value))
        if near is not None:
            return "near_miss", near
        return "invalid", None
