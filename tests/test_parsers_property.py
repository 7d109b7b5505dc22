"""Property-based tests of the value parsers (``cld_polars.parse``).

Each parser is a Polars expression; each property compares it with a plain-Python reference
written from the specification's wording, over many generated values at once (one Polars
call per Hypothesis example keeps the suite fast). Text strategies mix ASCII, Unicode
digits, white space and punctuation, since council returns hold all of them.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cld_polars import parse
from cld_polars.spec import load_spec

#: Fixed examples by default, so the suite is repeatable; PROPERTY_EXAMPLES=2000 explores
#: afresh (random examples) when changing a parser.
EXPLORE = os.environ.get("PROPERTY_EXAMPLES")
SETTINGS = settings(
    max_examples=int(EXPLORE or 60),
    derandomize=EXPLORE is None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

#: Characters returns really hold, plus the awkward ones: Unicode digits (Arabic-Indic,
#: full-width), non-breaking and other spaces, currency, dashes and quotes.
AWKWARD = "0123456789/-.,:; £$€ \t\u00a0\u2007\u3000١٢٣٤٥６７８９'\"=+@AZaz"
awkward_text = st.text(alphabet=st.sampled_from(AWKWARD), max_size=14)
any_text = st.one_of(awkward_text, st.text(max_size=14))
texts = st.lists(any_text, min_size=1, max_size=40)
dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2099, 12, 31))


def apply(fn: Callable[[pl.Expr], pl.Expr], values: Sequence[str | None]) -> list[Any]:
    """Evaluate a parser expression on values held as text, as a return's column is."""
    frame = pl.DataFrame({"v": list(values)}, schema={"v": pl.String})
    return frame.select(fn(pl.col("v")).alias("out"))["out"].to_list()


# --- references from the specification's wording ----------------------------------------


def ref_date(value: str) -> dt.date | None:
    """dd/mm/yyyy exactly (ASCII digits), a real calendar date."""
    if not re.fullmatch(r"[0-9]{2}/[0-9]{2}/[0-9]{4}", value):
        return None
    try:
        return dt.datetime.strptime(value, "%d/%m/%Y").date()
    except ValueError:
        return None


def ref_nhs(value: str) -> bool:
    """10 digits, the tenth the Modulus 11 check digit of the first nine (10 is invalid)."""
    if not re.fullmatch(r"[0-9]{10}", value):
        return False
    total = sum(int(d) * w for d, w in zip(value[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(value[9])


def with_check_digit(nine: str) -> str | None:
    total = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return None if check == 10 else nine + str(check)


def ref_postcode(value: str) -> bool:
    return bool(
        re.fullmatch(r"[A-Z]{1,2}[0-9][A-Z0-9]? [0-9][A-Z]{2}", value)
        or re.fullmatch(r"[A-Z]{1,2}[0-9][A-Z0-9]?", value)
        or value in ("ZZ99 3VZ", "ZZ99 3CZ", "Unknown")
    )


def ref_decimal(value: str) -> bool:
    """Digits, at most two decimal places; no sign, currency or separators."""
    return bool(re.fullmatch(r"[0-9]+(\.[0-9]{1,2})?", value))


def ref_integer(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9]+", value))


# --- dates -------------------------------------------------------------------------------


@SETTINGS
@given(texts)
def test_parse_date_matches_the_reference(values: list[str]) -> None:
    parsed = apply(lambda e: parse.parse_date(e).dt.strftime("%d/%m/%Y"), values)
    for value, got in zip(values, parsed, strict=True):
        expected = ref_date(value)
        assert (got is not None) == (expected is not None), value
        if got is not None:
            assert got == value  # a date that parses reads back as the same text


digits = st.text(alphabet="0123456789", min_size=2, max_size=2)
date_like = st.builds(
    lambda d, m, y: f"{d}/{m}/{y}",
    digits,
    digits,
    st.one_of(st.text(alphabet="0123456789", min_size=4, max_size=4), st.just("0000")),
)


@SETTINGS
@given(st.lists(date_like, min_size=1, max_size=40))
def test_date_shaped_values_parse_only_when_real(values: list[str]) -> None:
    """Every dd/mm/yyyy-shaped value: a date exactly when the calendar has that day."""
    parsed = apply(lambda e: parse.parse_date(e).is_not_null(), values)
    assert parsed == [ref_date(v) is not None for v in values]


@SETTINGS
@given(st.lists(dates, min_size=1, max_size=40))
def test_every_real_date_parses_and_other_forms_are_suggested(days: list[dt.date]) -> None:
    written = [d.strftime("%d/%m/%Y") for d in days]
    assert apply(parse.parse_date, written) == days
    assert apply(parse.suggest_date, written) == written
    for form in ("%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y", "%Y-%m-%d 00:00:00"):
        other = [d.strftime(form) for d in days]
        assert apply(parse.parse_date, other) == [None] * len(days)
        assert apply(parse.suggest_date, other) == written, form
    unpadded = [f"{d.day}/{d.month}/{d.year}" for d in days]
    assert apply(parse.suggest_date, unpadded) == written


@SETTINGS
@given(texts)
def test_suggested_dates_are_valid(values: list[str]) -> None:
    for value, suggestion in zip(values, apply(parse.suggest_date, values), strict=True):
        if suggestion is not None:
            assert ref_date(suggestion) is not None, (value, suggestion)


@SETTINGS
@given(st.lists(st.tuples(dates, dates), min_size=1, max_size=40))
def test_age_in_years(pairs: list[tuple[dt.date, dt.date]]) -> None:
    frame = pl.DataFrame({"b": [p[0] for p in pairs], "o": [p[1] for p in pairs]})
    ages = frame.select(parse.age_in_years(pl.col("b"), pl.col("o")).alias("age"))["age"].to_list()
    for (birth, on), age in zip(pairs, ages, strict=True):
        expected = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
        assert age == expected


# --- NHS numbers ---------------------------------------------------------------------------


@SETTINGS
@given(texts)
def test_nhs_number_matches_the_reference(values: list[str]) -> None:
    assert apply(parse.nhs_number_valid, values) == [ref_nhs(v) for v in values]


@SETTINGS
@given(st.lists(st.text(alphabet="0123456789", min_size=9, max_size=9), min_size=1, max_size=40))
def test_nhs_check_digit_catches_every_single_digit_error(nines: list[str]) -> None:
    numbers = [n for n in (with_check_digit(x) for x in nines) if n is not None]
    if not numbers:
        return
    assert all(apply(parse.nhs_number_valid, numbers))
    changed = [n[:i] + str((int(n[i]) + 1) % 10) + n[i + 1 :] for n in numbers for i in range(10)]
    assert not any(apply(parse.nhs_number_valid, changed))
    spaced = [f"{n[:3]} {n[3:6]} {n[6:]}" for n in numbers] + [f"{n[:3]}-{n[3:]}" for n in numbers]
    assert apply(parse.suggest_nhs_number, spaced) == numbers + numbers


@SETTINGS
@given(texts)
def test_suggested_nhs_numbers_are_valid(values: list[str]) -> None:
    for value, suggestion in zip(values, apply(parse.suggest_nhs_number, values), strict=True):
        if suggestion is not None:
            assert ref_nhs(suggestion) and suggestion != value


# --- postcodes -----------------------------------------------------------------------------

letters = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=1)
digit = st.text(alphabet="0123456789", min_size=1, max_size=1)
postcodes = st.builds(
    lambda area, d, extra, sector, unit: f"{area}{d}{extra} {sector}{unit}",
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=2),
    digit,
    st.one_of(st.just(""), letters, digit),
    digit,
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=2, max_size=2),
)


@SETTINGS
@given(texts)
def test_postcode_matches_the_reference(values: list[str]) -> None:
    assert apply(parse.postcode_valid, values) == [ref_postcode(v) for v in values]
    for value, suggestion in zip(values, apply(parse.suggest_postcode, values), strict=True):
        if suggestion is not None:
            assert ref_postcode(suggestion) and suggestion != value
        if ref_postcode(value):
            assert suggestion is None


@SETTINGS
@given(st.lists(postcodes, min_size=1, max_size=30))
def test_postcode_variants_get_the_right_suggestion(codes: list[str]) -> None:
    assert all(apply(parse.postcode_valid, codes))
    for variant in (
        lambda p: p.lower(),
        lambda p: p.replace(" ", ""),
        lambda p: p.replace(" ", "  "),
        lambda p: f" {p.lower()} ",
    ):
        assert apply(parse.suggest_postcode, [variant(p) for p in codes]) == codes


# --- numbers and codes ----------------------------------------------------------------------


@SETTINGS
@given(texts)
def test_numbers_match_the_reference(values: list[str]) -> None:
    assert apply(parse.is_decimal, values) == [ref_decimal(v) for v in values]
    assert apply(parse.is_integer, values) == [ref_integer(v) for v in values]
    parsed = apply(parse.parse_decimal, values)
    assert parsed == [float(v) if ref_decimal(v) else None for v in values]
    for value, suggestion in zip(values, apply(parse.suggest_decimal, values), strict=True):
        if suggestion is not None:
            assert ref_decimal(suggestion) and suggestion != value
    for value, suggestion in zip(values, apply(parse.suggest_integer, values), strict=True):
        if suggestion is not None:
            assert ref_integer(suggestion) and suggestion != value


@SETTINGS
@given(st.lists(st.integers(min_value=0, max_value=10**7), min_size=1, max_size=40))
def test_money_written_for_people_is_suggested_plainly(pence: list[int]) -> None:
    plain = [f"{p // 100}.{p % 100:02d}" for p in pence]
    written = [f"£{p / 100:,.2f}" for p in pence]
    assert apply(parse.suggest_decimal, written) == [
        None if w == s else s for w, s in zip(written, plain, strict=True)
    ]
    assert apply(parse.suggest_integer, [f"{p:,}" for p in pence]) == [
        None if p < 1000 else str(p) for p in pence
    ]


@SETTINGS
@given(texts)
def test_gp_codes_formulas_and_blanks(values: list[str]) -> None:
    gp = [bool(re.fullmatch(r"[A-Z][A-Z0-9]{5}", v)) for v in values]
    assert apply(parse.gp_practice_code_valid, values) == gp
    for value, suggestion in zip(
        values, apply(parse.suggest_gp_practice_code, values), strict=True
    ):
        if suggestion is not None:
            assert re.fullmatch(r"[A-Z][A-Z0-9]{5}", suggestion) and suggestion != value
    formula = [bool(re.match(parse.FORMULA_PATTERN, v)) for v in values]
    assert apply(parse.is_formula_like, values) == formula
    blank = apply(parse.is_blank, [*values, None])
    assert blank[-1] is True
    for value, is_blank in zip(values, blank[:-1], strict=True):
        if any(c.isalnum() for c in value):
            assert is_blank is False
        if value == "" or set(value) <= {" ", "\t"}:
            assert is_blank is True


@SETTINGS
@given(st.lists(st.tuples(any_text, st.one_of(st.none(), any_text)), min_size=1, max_size=30))
def test_text_formats_like_python(pairs: list[tuple[str, str | None]]) -> None:
    frame = pl.DataFrame(
        {"a": [p[0] for p in pairs], "b": [p[1] for p in pairs]},
        schema={"a": pl.String, "b": pl.String},
    )
    got = frame.select(parse.text("{} = '{}'.", pl.col("a"), pl.col("b")))["a"].to_list()
    assert got == [f"{a} = '{b or ''}'." for a, b in pairs]


# --- defined lists --------------------------------------------------------------------------

SPEC = load_spec()
MATCHERS = {
    name: parse.ListMatcher(values, {k: m.release2 for k, m in SPEC.release1_for(name).items()})
    for name, values in SPEC.lists.items()
}
list_values = st.sampled_from(
    [(name, value) for name, values in SPEC.lists.items() for value in values]
)


@SETTINGS
@given(st.lists(list_values, min_size=1, max_size=20))
def test_listed_values_are_valid_and_variants_are_near_misses(
    picks: list[tuple[str, str]],
) -> None:
    for name, value in picks:
        matcher = MATCHERS[name]
        assert matcher.classify(value) == ("valid", None)
        for variant in (value.upper(), value.lower(), f" {value}  ", value.replace(" ", "  ")):
            if variant == value:
                continue
            kind, suggestion = matcher.classify(variant)
            assert kind in ("near_miss", "release1"), (variant, kind)
            assert suggestion == value, (variant, suggestion)


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(sorted(MATCHERS)), any_text), min_size=1, max_size=40))
def test_list_classification_of_any_text(picks: list[tuple[str, str]]) -> None:
    for name, value in picks:
        matcher = MATCHERS[name]
        kind, suggestion = matcher.classify(value)
        if not value.strip() or re.match(parse.FORMULA_PATTERN, value):
            assert (kind, suggestion) == (None, None)
            continue
        assert kind in ("valid", "release1", "near_miss", "invalid")
        assert (kind == "valid") == (value in matcher.values)
        if suggestion is not None:
            assert suggestion in matcher.values
        if kind == "near_miss":
            assert parse.near_key(value) == parse.near_key(suggestion or "")


@SETTINGS
@given(any_text)
def test_systematic_release2_leaves_no_release1_punctuation(value: str) -> None:
    """Ampersands and slashes become words, spacing is single, and folding is its lower case.

    (Not idempotent, and need not be: '-/' gives '- or', whose dash a second pass would turn
    into a colon; the matcher applies it once to a value and once to each listed value.)
    """
    once = parse.systematic_release2(value)
    assert "&" not in once and "/" not in once
    assert once == once.strip() and "  " not in once
    assert parse.fold(value) == once.lower()
