"""What a check expression can ask about a row: raw text, typed values, validity, conditions.

The engine adds the typed columns once (``prepare``) so that the dozens of checks that read,
say, the Event Start Date share one parse instead of each parsing it again.
"""

from __future__ import annotations

from functools import cached_property

import polars as pl

from cld_polars import parse
from cld_polars.spec import Condition, FieldSpec, Spec

LINE = "__line"
AGE_AT_EVENT_START = "__age_at_event_start"


def date_col(name: str) -> str:
    return f"__date:{name}"


def valid_col(name: str) -> str:
    return f"__valid:{name}"


def blank_col(name: str) -> str:
    return f"__blank:{name}"


def formula_col(name: str) -> str:
    return f"__formula:{name}"


#: Codes of a defined-list field's code column. A list column holds a few dozen distinct
#: values, so each distinct value is judged once (blank, formula-like, Release 1, near miss,
#: invalid, or which listed value) and the rows carry a one-byte code: conditions and
#: validity become integer comparisons instead of string matching on a million rows.
LIST_CLASSES = {"blank": 0, "formula": 1, "invalid": 2, "near_miss": 3, "release1": 4}
#: A valid value is coded ``VALID_BASE + its position in the list``.
VALID_BASE = 8
#: Leading white space or a formula-like start: the only values that can be blank-but-not-null
#: or formula-like. One anchored regex finds them; the detailed tests run on those alone.
ODD_START = r"^(?:\s|[=+@]|-(?:[^0-9.]|$))"


#: Distinct list values remembered across chunks (far more than any real return has).
MAX_JUDGED = 100_000


def row_index() -> pl.Expr:
    """Each row's position: how rows found by a side query are flagged in the main plan."""
    return pl.int_range(pl.len(), dtype=pl.UInt32)


def among(expr: pl.Expr, found: pl.Series) -> pl.Expr:
    """``expr`` is one of the values a side query found (usually none: then no set is built).

    Never null, so a flag made this way can be combined without ``fill_null``.
    """
    if not found.len():
        return pl.lit(False)
    return expr.is_in(found.implode()).fill_null(False)


def code_col(name: str) -> str:
    """For a defined-list field: the code of its value (see ``LIST_CLASSES``, ``VALID_BASE``)."""
    return f"__code:{name}"


class Context:
    """Expression builders bound to one specification."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._lists: dict[str, pl.DataFrame] = {}
        #: (field, value) -> (code, suggestion): each chunk of a streamed return meets mostly
        #: the values earlier chunks met, and judging a near miss is not free.
        self._judged: dict[tuple[str, str], tuple[int, str | None]] = {}

    def is_coded(self, name: str) -> bool:
        """Whether the field is a defined list with a code column."""
        return name in self._lists

    def _code(self, name: str) -> pl.Expr:
        return pl.col(code_col(name))

    def is_list_class(self, name: str, kind: str) -> pl.Expr:
        """The defined-list value is of this kind (valid, release1, near_miss, invalid)."""
        if name not in self._lists:
            raise RuntimeError(f"{name}: prepare() was not given the classified list values")
        if kind == "valid":
            return self._code(name) >= VALID_BASE
        return self._code(name) == LIST_CLASSES[kind]

    def list_suggestion(self, name: str) -> pl.Expr:
        """The Release 2 value for a Release 1 value or near miss (evaluated on findings only)."""
        table = self._lists[name]
        return pl.col(name).replace_strict(
            table[name].to_list(),
            table["suggestion"].to_list(),
            default=None,
            return_dtype=pl.String,
        )

    # --- raw values -------------------------------------------------------------------
    def raw(self, name: str) -> pl.Expr:
        return pl.col(name)

    def blank(self, name: str) -> pl.Expr:
        """Null or only white space (computed once per field by ``prepare``)."""
        if self.is_coded(name):
            return self._code(name) == LIST_CLASSES["blank"]
        return pl.col(blank_col(name))

    def present(self, name: str) -> pl.Expr:
        return ~self.blank(name)

    def formula(self, name: str) -> pl.Expr:
        """Starts like a spreadsheet formula (computed once per field by ``prepare``)."""
        if self.is_coded(name):
            return self._code(name) == LIST_CLASSES["formula"]
        return pl.col(formula_col(name))

    # --- typed values (computed once by ``prepare``) ----------------------------------
    def date(self, name: str) -> pl.Expr:
        return pl.col(date_col(name))

    def valid(self, name: str) -> pl.Expr:
        """True where the field holds a readable, valid value; false where blank or invalid."""
        if self.is_coded(name):
            return self._code(name) >= VALID_BASE
        return pl.col(valid_col(name))

    def is_value(self, name: str, *values: str) -> pl.Expr:
        """The field equals one of ``values``; null where the field cannot be read."""
        if self.is_coded(name):
            listed = self.spec.values(name)
            unknown = [v for v in values if v not in listed]
            if unknown:
                raise ValueError(f"{name}: {unknown} are not in its defined list")
            codes = [VALID_BASE + listed.index(v) for v in values]
            return pl.when(self.valid(name)).then(self._code(name).is_in(codes))
        return pl.when(self.valid(name)).then(pl.col(name).is_in(list(values)))

    @property
    def age_at_event_start(self) -> pl.Expr:
        return pl.col(AGE_AT_EVENT_START)

    @cached_property
    def matchers(self) -> dict[str, parse.ListMatcher]:
        near = {"Event Outcome": self.spec.outcome_near_misses}
        out = {}
        for f in self.spec.fields:
            if f.kind == "list" and f.list_name:
                release1 = {k: m.release2 for k, m in self.spec.release1_for(f.list_name).items()}
                out[f.name] = parse.ListMatcher(
                    self.spec.lists[f.list_name], release1, near.get(f.name)
                )
        return out

    # --- conditions from the specification ---------------------------------------------
    def condition(self, condition: Condition) -> pl.Expr:
        """A specification condition as a three-valued expression (null: cannot tell).

        Alternatives are joined with Kleene OR and their terms with Kleene AND, so a term on a
        field that cannot be read only matters where the other terms do not settle it.
        """
        alternatives = []
        for alternative in condition:
            terms: list[pl.Expr] = []
            for key, value in alternative.items():
                if key == "condition":
                    terms.append(self.condition(self.spec.conditions[str(value)]))
                elif key == "age_at_event_start":
                    low, high = value  # type: ignore[misc]
                    age = self.age_at_event_start
                    terms.append(pl.when(age.is_not_null()).then(age.is_between(low, high)))
                else:
                    terms.append(self.is_value(key, *value))  # type: ignore[arg-type]
            expr = terms[0]
            for term in terms[1:]:
                expr = expr & term
            alternatives.append(expr)
        out = alternatives[0]
        for alt in alternatives[1:]:
            out = out | alt
        return out

    def condition_fields(self, condition: Condition | None) -> set[str]:
        """The fields a condition reads (for skipping checks when a column is missing)."""
        found: set[str] = set()
        for alternative in condition or []:
            for key, value in alternative.items():
                if key == "condition":
                    found |= self.condition_fields(self.spec.conditions[str(value)])
                elif key == "age_at_event_start":
                    found |= {"Date of Birth", "Event Start Date"}
                else:
                    found.add(key)
        return found

    # --- validity, by kind -------------------------------------------------------------
    def validity(self, f: FieldSpec) -> pl.Expr:
        """True where a non-blank value meets the field's data type or defined list."""
        col = pl.col(f.name)
        if f.kind == "date":
            ok = parse.parse_date(col).is_not_null()
        elif f.kind == "nhs_number":
            ok = parse.nhs_number_valid(col)
        elif f.kind == "la_code":
            ok = parse.is_integer(col) & col.is_in(list(self.spec.councils))
        elif f.kind == "integer":
            ok = parse.is_integer(col)
        elif f.kind == "decimal":
            ok = parse.is_decimal(col)
        elif f.kind == "postcode":
            ok = parse.postcode_valid(col)
        elif f.kind == "gp_practice_code":
            ok = parse.gp_practice_code_valid(col)
        elif f.kind == "list":
            return self.is_list_class(f.name, "valid")
        else:
            ok = pl.lit(True)
        return (self.present(f.name) & ~self.formula(f.name) & ok).fill_null(False)

    def classify(self, frame: pl.DataFrame) -> dict[str, pl.DataFrame]:
        """Judge the distinct values of each defined-list field: their code and suggestion.

        A list column holds few distinct values, so telling a Release 1 value from a near miss
        runs once per distinct value rather than once per row.
        """
        names = [n for n in self.matchers if n in frame.columns]
        uniques = frame.select([pl.col(n).unique().drop_nulls().implode() for n in names])
        out = {}
        for name in names:
            listed = self.spec.values(name)
            if len(listed) + VALID_BASE > 255:
                raise ValueError(f"{name}: too many listed values for a one-byte code")
            values = uniques[name][0].to_list()
            codes, suggestions = [], []
            for value in values:
                judged = self._judged.get((name, value))
                if judged is None:
                    kind, suggestion = self.matchers[name].classify(value)
                    if kind is None:
                        kind = "blank" if not value.strip() else "formula"
                    code = (
                        VALID_BASE + listed.index(value) if kind == "valid" else LIST_CLASSES[kind]
                    )
                    judged = (code, suggestion)
                    if len(self._judged) < MAX_JUDGED:  # garbage in a list column: no cache
                        self._judged[(name, value)] = judged
                codes.append(judged[0])
                suggestions.append(judged[1])
            out[name] = pl.DataFrame(
                {name: values, "code": codes, "suggestion": suggestions},
                schema={name: pl.String, "code": pl.UInt8, "suggestion": pl.String},
            )
        return out

    def prepare(self, frame: pl.LazyFrame, lists: dict[str, pl.DataFrame]) -> pl.LazyFrame:
        """Add the columns every check reads, each computed once per field however many checks
        read it: a one-byte code for defined lists; for other fields blank and formula flags,
        the parsed date, and validity; and the age at the event start.

        Blank-but-not-null and formula-like values are rare, so one anchored regex picks the
        values that start oddly and the detailed tests run on those alone (null elsewhere,
        which costs nothing). A date that parses is neither, so dates skip even the regex.
        """
        self._lists = lists
        first: list[pl.Expr] = []
        for f in self.spec.fields:
            col = pl.col(f.name)
            if f.name in lists:
                table = lists[f.name]
                # Cast to an Enum of the column's own distinct values (its physical value is
                # the distinct value's position) and pick the code: half the cost of a
                # string-keyed replace.
                position = col.cast(pl.Enum(table[f.name])).to_physical()
                first.append(
                    pl.lit(table["code"])
                    .gather(position)
                    .fill_null(LIST_CLASSES["blank"])
                    .cast(pl.UInt8)
                    .alias(code_col(f.name))
                )
                continue
            if f.kind == "date":
                parsed = parse.parse_date(col)
                first.append(parsed.alias(date_col(f.name)))
                odd = pl.when(parsed.is_null()).then(col)
            else:
                odd = pl.when(col.str.contains(ODD_START)).then(col)
            first.append(
                (col.is_null() | (odd.str.strip_chars() == "").fill_null(False)).alias(
                    blank_col(f.name)
                )
            )
            first.append(parse.is_formula_like(odd).alias(formula_col(f.name)))
        frame = frame.with_columns(first)
        valid = [
            self.validity(f).alias(valid_col(f.name))
            for f in self.spec.fields
            if f.name not in lists
        ]
        frame = frame.with_columns(valid)
        return frame.with_columns(
            parse.age_in_years(self.date("Date of Birth"), self.date("Event Start Date")).alias(
                AGE_AT_EVENT_START
            )
        )
