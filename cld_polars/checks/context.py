"""What a check expression can ask about a row: raw text, typed values, validity, conditions.

The engine adds the typed columns once (``prepare``) so that the dozens of checks that read,
say, the Event Start Date share one parse instead of each parsing it again.
"""

from __future__ import annotations

import polars as pl

from cld_polars import kinds, parse
from cld_polars.spec import AgeBetween, Condition, FieldSpec, Named, Spec

LINE = "__line"
AGE_AT_EVENT_START = "__age_at_event_start"


def date_col(name: str) -> str:
    """A date field's parsed value (``pl.Date``, null where blank or not a valid date)."""
    return f"__date:{name}"


def state_col(name: str) -> str:
    """A field's state on each row (``cld_polars.kinds``: blank, formula-like, invalid, ...,
    valid + the listed value's position)."""
    return f"__state:{name}"


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


class Context:
    """Expression builders bound to one specification, over the helper columns of
    :meth:`prepare`: every check asks its questions through here (``blank``, ``valid``,
    ``date``, ``is_value``, ...), so none parses a value itself.

    A context also remembers, across the chunks of one run, each distinct value it judged
    (``cld_polars.kinds``): a streamed return's later chunks meet mostly values the earlier
    ones met.
    """

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        #: (field, value) -> judgement, for kinds whose judgement runs in Python per value.
        self.memo: kinds.Memo = {}
        #: The ``distinct`` kinds' fields: each value's code and judgement, over the run. The
        #: categories are the run's own (``Categories.random``), freed with it.
        self._dictionaries: dict[str, Dictionary] = {}
        self.categories = pl.Categories.random()
        self.codes: pl.DataType = pl.Categorical(self.categories)
        # Polars keeps a run's categories only while some column holds them: without one,
        # the next cast numbers the values afresh and the judgements would not match. This
        # empty column holds them for as long as the context lives.
        self._holder = pl.Series(dtype=self.codes)

    # --- states (computed once per field by ``prepare``) ---------------------------------
    def state(self, name: str) -> pl.Expr:
        """The field's state (``cld_polars.kinds``) on each row."""
        return pl.col(state_col(name))

    def blank(self, name: str) -> pl.Expr:
        """Null, empty or only white space."""
        return self.state(name) == kinds.BLANK

    def present(self, name: str) -> pl.Expr:
        return self.state(name) != kinds.BLANK

    def formula(self, name: str) -> pl.Expr:
        """Starts like a spreadsheet formula."""
        return self.state(name) == kinds.FORMULA

    def valid(self, name: str) -> pl.Expr:
        """True where the field holds a readable, valid value; false where blank or invalid."""
        return self.state(name) >= kinds.VALID

    def is_value(self, name: str, *values: str) -> pl.Expr:
        """The field equals one of ``values``; null where it cannot be read. On a defined list
        (the usual case: conditions name list fields) an integer comparison of states."""
        if self.spec.field(name).kind != "list":
            return pl.when(self.valid(name)).then(pl.col(name).is_in(list(values)))
        listed = self.spec.values(name)
        unknown = [v for v in values if v not in listed]
        if unknown:
            raise ValueError(f"{name}: {unknown} are not in its defined list")
        states = [kinds.VALID + listed.index(v) for v in values]
        return pl.when(self.valid(name)).then(self.state(name).is_in(states))

    def list_suggestion(self, name: str) -> pl.Expr:
        """The Release 2 value for a Release 1 value or near miss (evaluated on findings only)."""
        known = self.dictionary(self.spec.field(name))
        if not known.suggestions:
            return pl.lit(None, dtype=pl.String)
        return (
            pl.col(name)
            .to_physical()
            .replace_strict(
                list(known.suggestions),
                list(known.suggestions.values()),
                default=None,
                return_dtype=pl.String,
            )
        )

    # --- raw and typed values -------------------------------------------------------------
    def raw(self, name: str) -> pl.Expr:
        """The value as given, as text (a ``distinct`` kind's column is held as a categorical
        of its dictionary: cast back where a check reads the text)."""
        if name in self.spec.by_name and kinds.kind_of(self.spec.field(name)).distinct:
            return pl.col(name).cast(pl.String)
        return pl.col(name)

    def date(self, name: str) -> pl.Expr:
        return pl.col(date_col(name))

    @property
    def age_at_event_start(self) -> pl.Expr:
        return pl.col(AGE_AT_EVENT_START)

    # --- conditions from the specification ---------------------------------------------
    def condition(self, condition: Condition) -> pl.Expr:
        """A specification condition as a three-valued expression (null: cannot tell).

        Alternatives are joined with Kleene OR and their terms with Kleene AND, so a term on a
        field that cannot be read only matters where the other terms do not settle it.
        """
        alternatives = []
        for alternative in condition:
            terms: list[pl.Expr] = []
            for term in alternative:
                if isinstance(term, Named):
                    terms.append(self.condition(self.spec.conditions[term.name]))
                elif isinstance(term, AgeBetween):
                    age = self.age_at_event_start
                    terms.append(
                        pl.when(age.is_not_null()).then(age.is_between(term.low, term.high))
                    )
                else:
                    terms.append(self.is_value(term.field, *term.values))
            expr = terms[0]
            for more in terms[1:]:
                expr = expr & more
            alternatives.append(expr)
        out = alternatives[0]
        for alt in alternatives[1:]:
            out = out | alt
        return out

    # --- the helper columns ------------------------------------------------------------
    def dictionary(self, f: FieldSpec) -> Dictionary:
        """The run's judgements of a ``distinct`` kind's field (made on first use)."""
        known = self._dictionaries.get(f.name)
        if known is None:
            known = self._dictionaries[f.name] = Dictionary(f, self.spec, self.memo)
        return known

    def categorical(self) -> dict[str, pl.DataType]:
        """The dtype each ``distinct`` kind's column is read as in this run: a categorical of
        the run's own categories, shared by these fields, so that a value's code is the same
        in every chunk (and in every such field: the central view reads the same codes)."""
        return {f.name: self.codes for f in self.spec.fields if kinds.kind_of(f).distinct}

    def prepare(self, frame: pl.DataFrame) -> pl.LazyFrame:
        """The chunk with the columns every check reads, each computed once per field however
        many checks read it: the field's state (one byte), a date field's parsed value, and
        the age at the event start.

        Fields of a ``distinct`` kind arrive as categoricals of the run's categories (the
        streaming scan casts them: :meth:`categorical`; a frame of text is cast here). Each
        value is judged once per run, when its code first appears, and the rows gather their
        judgement by the code: a date is parsed once per distinct date, not once per row.
        """
        spec = self.spec
        types = self.categorical()
        frame = frame.with_columns(
            pl.col(name).cast(dtype)
            for name, dtype in types.items()
            if name in frame.columns and frame.schema[name] != dtype
        )
        present = set(frame.columns)
        fields = [f for f in spec.fields if f.name in present]
        distinct = [f for f in fields if f.name in types]
        codes = frame.select(
            pl.col(f.name).to_physical().unique().drop_nulls().implode() for f in distinct
        )
        columns: list[pl.Expr] = []
        for f in distinct:
            known = self.dictionary(f)
            new = known.new(codes.get_column(f.name)[0])
            if new.len():
                # The text of each new code, from the rows that hold it (the categories'
                # own list is not indexed by code while other threads are adding to it).
                found = (
                    frame.lazy()
                    .select(
                        pl.col(f.name).to_physical().alias("code"),
                        pl.col(f.name).cast(pl.String).alias("value"),
                    )
                    .filter(pl.col("code").is_in(new.implode()))
                    .unique("code")
                    .collect()
                )
                known.learn(found["code"], found["value"])
            code = pl.col(f.name).to_physical()
            columns.append(
                pl.lit(known.state).gather(code).fill_null(kinds.BLANK).alias(state_col(f.name))
            )
            if known.typed is not None:
                columns.append(pl.lit(known.typed).gather(code).alias(date_col(f.name)))
        for f in fields:
            kind = kinds.kind_of(f)
            if not kind.distinct:
                columns.append(kind.judge(pl.col(f.name), f, spec).alias(state_col(f.name)))
        data = frame.lazy().with_columns(columns)
        if not {"Date of Birth", "Event Start Date"} <= present:  # a partial frame
            return data
        return data.with_columns(
            parse.age_in_years(self.date("Date of Birth"), self.date("Event Start Date")).alias(
                AGE_AT_EVENT_START
            )
        )


class Dictionary:
    """A ``distinct`` kind's field over one run: the judgement of each code of the run's
    categories that the field has held (``state``, and ``typed`` or ``suggestion``), indexed
    by the code.

    Codes are judged when they first appear in one of the field's chunks, from the text the
    chunk's rows hold.
    """

    def __init__(self, f: FieldSpec, spec: Spec, memo: kinds.Memo) -> None:
        self.field, self.spec, self.memo = f, spec, memo
        self.kind = kinds.kind_of(f)
        self.judged = pl.Series(dtype=pl.Boolean)
        self.state = pl.Series(dtype=kinds.STATE_DTYPE)
        self.typed: pl.Series | None = (
            pl.Series(dtype=self.kind.dtype) if self.kind.typed_helper else None
        )
        #: The suggested value of the few codes that have one (Release 1 values, near
        #: misses): a table indexed by code would hold a text view for every value of every
        #: low-cardinality field.
        self.suggestions: dict[int, str] = {}

    def new(self, codes: pl.Series) -> pl.Series:
        """Of a chunk's codes of this field (distinct, no nulls), those not judged yet."""
        size = self.state.len()
        if not size:
            return codes
        seen = self.judged.gather(codes.clip(upper_bound=size - 1))
        return codes.filter((codes >= size) | ~seen)

    def learn(self, codes: pl.Series, values: pl.Series) -> None:
        """Judge ``values``, the text of ``codes``."""
        top = int(codes.max()) + 1  # type: ignore[arg-type]  # a UInt32's max is an int
        size = self.state.len()
        if top > size:
            grow = top - size
            self.judged.append(pl.Series([False] * grow, dtype=pl.Boolean))
            self.state.append(pl.Series([kinds.BLANK] * grow, dtype=kinds.STATE_DTYPE))
            if self.typed is not None:
                self.typed.append(pl.Series([None] * grow, dtype=self.typed.dtype))
            for series in (self.judged, self.state, self.typed):
                if series is not None:
                    series.rechunk(in_place=True)
        table = self.kind.judge_values(values, self.field, self.spec, self.memo)
        self.judged.scatter(codes, True)
        self.state.scatter(codes, table["state"])
        if self.typed is not None:
            self.typed.scatter(codes, table["typed"])
        if "suggestion" in table.columns:
            given = table.select(codes.alias("code"), "suggestion").drop_nulls()
            self.suggestions.update(
                zip(given["code"].to_list(), given["suggestion"].to_list(), strict=True)
            )
