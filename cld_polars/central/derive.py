"""Loading a return the way DHSC's database holds it, and the compact state kept per row.

Contract section 2 (emulation rules 1 to 4): what ``DHSC_ASC.CLD_Raw`` makes of each cell
(trimmed of spaces, tabs, CR and LF; empty is NULL; strict ``dd/mm/yyyy`` dates; numbers
matching the contract's regex held as NUMERIC(18,2), rounded half away from zero), the fields
NHS England derives (the person ID from the NHS number or the LA identifier), and the identity
mapping tables matched case-insensitively, as the database's collation matches them.

Each chunk of the return becomes a few small columns per row (codes, dates, categoricals of
the run's own categories, integer cents), not its text: :class:`Collector` gathers them as the
return streams past (standalone, or inside the validation engine's pass) and hands them to
:func:`cld_polars.central.facts.finish`. Everything here is a Polars expression over a chunk.
"""

from __future__ import annotations

import datetime
import re
from dataclasses import dataclass, field

import polars as pl

from cld_polars.checks.context import LINE
from cld_polars.spec import Spec, load_spec

LA_CODE = "LA Code"
PERIOD_START, PERIOD_END = "Reporting Period Start Date", "Reporting Period End Date"
NHS, PID = "NHS Number", "LA Person Unique Identifier"
DEATH, CLIENT_TYPE, TYPE = "Date of Death", "Client Type", "Event Type"
START, END, OUTCOME = "Event Start Date", "Event End Date", "Event Outcome"
ROUTE, ASSESSMENT = "Request: Route of Access", "Assessment Type"
SERVICE_TYPE, COMPONENT, DELIVERY = "Service Type", "Service Component", "Delivery Mechanism"
REASON, COST, FREQUENCY, UNITS = (
    "Review Reason",
    "Unit Cost",
    "Cost Frequency (Unit Type)",
    "Planned units per week",
)

#: The return's columns the central view reads: a standalone run scans only these.
NEEDS = (
    LA_CODE,
    PERIOD_START,
    PERIOD_END,
    NHS,
    PID,
    DEATH,
    CLIENT_TYPE,
    TYPE,
    START,
    END,
    OUTCOME,
    ROUTE,
    ASSESSMENT,
    SERVICE_TYPE,
    COMPONENT,
    DELIVERY,
    REASON,
    COST,
    FREQUENCY,
    UNITS,
)

#: Event-type buckets of the contract (section 3): the raw Event Type, case-insensitively.
BUCKETS = ("request", "assessment", "service", "review", "other")
OTHER = BUCKETS.index("other")

#: Person ID kinds (GetDerivedFields lines 101-105): none, the NHS number, the LA identifier.
NO_PERSON, FROM_NHS, FROM_LA = 0, 1, 2

#: Characters the loader trims from every cell (rule 2).
TRIM = " \t\r\n"
DATE_SHAPE = r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$"
#: Rule 2's number: ASCII digits, an optional sign and point; nothing else.
NUMBER = r"^[+-]?([0-9]+([.][0-9]*)?|[.][0-9]+)$"
#: NUMERIC(18,2) holds 16 digits before the point (SQL Server refuses more: overflow). Such a
#: value cannot be loaded as a number, so it is NULL here like any other non-number.
NUMERIC_MAX_CENTS = 10**18

# --- DHSC's tables (methodology 5-data-cleaning.md and 6-deduplication.md) ----------------

#: Event_Outcome_Hierarchy (6-deduplication.md): lower is kept first; unmatched is 999.
OUTCOME_HIERARCHY = {
    "Progress to reablement/ST-Max": 1,
    "Progress to assessment, review or reassessment": 2,
    "Release 1 specification only: Not mapped": 3,
    "Progress to support planning or services": 4,
    "Continuation of support or services": 5,
    "Admitted to hospital": 6,
    "NFA: Responsibility moved to another local authority": 7,
    "NFA: Referral to NHS services or NHS funded social care": 8,
    "NFA: Self-funded client or under 12wk disregard": 9,
    "NFA: Information and advice or signposting": 10,
    "NFA: Referral to other service within the local authority": 11,
    "NFA: Support declined": 12,
    "NFA: Deceased": 13,
    "NFA: Support ended as planned": 14,
    "NFA: Support ended for other reason": 15,
    "NFA: No services offered for other reason": 16,
    "NFA: Other": 17,
}
NO_HIERARCHY = 999
#: Event_Outcome_Grouped (5-data-cleaning.md), for the Release 2 values.
OUTCOME_GROUPS = (
    "Progress to reablement/ST-Max",
    "Progress to assessment, review or reassessment",
    "Progress to support planning or services",
    "Continuation of support or services",
    "Admitted to hospital",
    "NFA",
)
#: Service_Type_Grouped (5-data-cleaning.md): the part before the colon of a Release 2 value.
SERVICE_GROUPS = ("Long term support", "Short term support", "Unpaid carer support")
#: Review_Type (GetDerivedFields lines 89-97): what a cleaned Review_Reason is counted as.
REVIEW_TYPES = (
    "Planned review of long term support",
    "Unplanned",
    "Review of short term support",
)


def outcome_group(value: str) -> str:
    """Event_Outcome_Grouped of a Release 2 Event Outcome (``NFA: ...`` -> ``NFA``)."""
    return "NFA" if value.startswith("NFA:") else value


def service_group(value: str) -> str:
    """Service_Type_Grouped of a Release 2 Service Type."""
    return value.split(":", 1)[0]


def category_key(value: str) -> str:
    """The contract's key of a category (section 4)."""
    return re.sub(r"[^a-z0-9]+", "_", value.lower()).strip("_")


# --- rule 2: loading ------------------------------------------------------------------------


def cell(name: str) -> pl.Expr:
    """The cell as ``CLD_Raw`` holds it: trimmed of spaces, tabs, CR and LF; empty is NULL."""
    trimmed = pl.col(name).cast(pl.String).str.strip_chars(TRIM)
    return pl.when(trimmed != "").then(trimmed)


def folded(name: str) -> pl.Expr:
    """The cell under the database's case-insensitive collation (rule 1): lower case."""
    return cell(name).str.to_lowercase()


def date(name: str) -> pl.Expr:
    """A ``dd/mm/yyyy`` calendar date, else NULL (``2025-03-14``, ``1/2/2025``, ``31/02/2025``)."""
    text = cell(name)
    parsed = text.str.to_date("%d/%m/%Y", strict=False)
    # chrono has a year 0; SQL Server's DATE starts at 0001-01-01.
    return pl.when(text.str.contains(DATE_SHAPE) & (parsed.dt.year() > 0)).then(parsed)


def cents(name: str) -> pl.Expr:
    """A number as NUMERIC(18,2), in hundredths (Int64): rounded half away from zero, as
    ``ALTER COLUMN ... NUMERIC(18, 2)`` does (GetUniqueEvents lines 49-53); NULL unless the
    cell matches the contract's number regex, or when it overflows NUMERIC(18,2)."""
    text = cell(name)
    body = text.str.strip_prefix("-").str.strip_prefix("+")
    parts = body.str.split_exact(".", 1)
    whole = parts.struct.field("field_0").str.strip_chars_start("0")
    fraction = parts.struct.field("field_1").fill_null("")
    hundredths = fraction.str.slice(0, 2).str.pad_end(2, "0").cast(pl.Int64, strict=False)
    up = (fraction.str.slice(2, 1) >= "5").cast(pl.Int64)
    size = (
        pl.when(whole == "").then(0).otherwise(whole.cast(pl.Int64, strict=False)) * 100
        + hundredths
        + up
    )
    signed = pl.when(text.str.starts_with("-")).then(-size).otherwise(size)
    fits = (whole.str.len_chars() <= 16) & (size < NUMERIC_MAX_CENTS)
    return pl.when(text.str.contains(NUMBER) & fits).then(signed)


# --- rule 4: identity mapping tables ---------------------------------------------------------


def list_code(name: str, values: tuple[str, ...]) -> pl.Expr:
    """The position (UInt8) of the cell's value in a Release 2 defined list, matched
    case-insensitively (rule 4: an identity mapping table joined under the collation); NULL
    for any other value, as the mapping table's LEFT JOIN gives."""
    lowered = [v.lower() for v in values]
    return folded(name).replace_strict(
        lowered, list(range(len(values))), default=None, return_dtype=pl.UInt8
    )


def _piece(expr: pl.Expr) -> pl.Expr:
    """A value in a prefix-free form (``<length>:<text>``, ``-`` for NULL), so that pieces
    joined end to end compare equal only when every piece does."""
    return (
        pl.when(expr.is_null())
        .then(pl.lit("-"))
        .otherwise(pl.concat_str(expr.str.len_chars().cast(pl.String), pl.lit(":"), expr))
    )


@dataclass
class Lists:
    """The Release 2 defined lists the central view maps values into."""

    outcome: tuple[str, ...]
    route: tuple[str, ...]
    assessment: tuple[str, ...]
    service_type: tuple[str, ...]
    reason: tuple[str, ...]
    delivery: tuple[str, ...]
    frequency: tuple[str, ...]

    @classmethod
    def of(cls, spec: Spec) -> Lists:
        return cls(
            outcome=spec.values(OUTCOME),
            route=spec.values(ROUTE),
            assessment=spec.values(ASSESSMENT),
            service_type=spec.values(SERVICE_TYPE),
            reason=spec.values(REASON),
            delivery=spec.values(DELIVERY),
            frequency=spec.values(FREQUENCY),
        )

    def category(self, bucket: str) -> tuple[str, ...]:
        """The list a bucket's ``category`` column codes (see :func:`row_state`)."""
        return {
            "request": self.route,
            "assessment": self.assessment,
            "service": self.service_type,
            "review": self.reason,
        }[bucket]


#: Fields read through the run's categorical of raw values: each distinct value is loaded
#: once (trimmed, parsed, mapped: :func:`load_values`) and every row takes its value's result.
#: The identifiers (high-cardinality) are the exception: the person ID is built per row.
BY_VALUE = tuple(n for n in NEEDS if n not in (NHS, PID))
#: The text fields of the unique-event key besides the person (GetDerivedFields lines 54-66).
KIND_FIELDS = (CLIENT_TYPE, TYPE, ROUTE, ASSESSMENT, SERVICE_TYPE, COMPONENT)


def load_values(values: pl.Series, lists: Lists) -> pl.DataFrame:
    """What ``CLD_Raw`` and the mapping tables make of each distinct raw value (one row per
    value, in order): ``folded`` (trimmed, lower case; NULL if empty), ``date``, ``cents``,
    the value's position in each defined list (``code:<list>``), and as an Event Type its
    ``bucket`` and LIKE tests."""
    frame = pl.DataFrame({"v": values.cast(pl.String)})
    event_type = folded("v")
    codes = {
        "outcome": lists.outcome,
        "route": lists.route,
        "assessment": lists.assessment,
        "service_type": lists.service_type,
        "reason": lists.reason,
        "delivery": lists.delivery,
        "frequency": lists.frequency,
    }
    return frame.select(
        folded("v").alias("folded"),
        date("v").alias("date"),
        cents("v").alias("cents"),
        *[list_code("v", listed).alias(f"code:{name}") for name, listed in codes.items()],
        event_type.replace_strict(
            list(BUCKETS[:OTHER]), list(range(OTHER)), default=OTHER, return_dtype=pl.UInt8
        ).alias("bucket"),
        # NULL where Event_Type is blank: NOT LIKE and LIKE are both unknown there.
        event_type.str.contains("service", literal=True).alias("service_like"),
        event_type.str.contains("request", literal=True).alias("request_like"),
        event_type.str.contains("assessment", literal=True).alias("assessment_like"),
    )


def person_columns(text: pl.DataType) -> list[pl.Expr]:
    """Der_NHS_LA_Combined_Person_ID (GetDerivedFields lines 101-105; no traced NHS number:
    rule 3), folded, as a categorical of ``text``; and where it comes from."""
    nhs, pid, la = cell(NHS), cell(PID), cell(LA_CODE)
    person = (
        pl.when(nhs.is_not_null())
        .then(nhs)
        .when(pid.is_not_null())
        .then(pl.concat_str(la.fill_null(""), pl.lit("_"), pid))
        .str.to_lowercase()
    )
    source = (
        pl.when(nhs.is_not_null())
        .then(FROM_NHS)
        .when(pid.is_not_null())
        .then(FROM_LA)
        .otherwise(NO_PERSON)
        .cast(pl.UInt8)
    )
    return [person.cast(text).alias("person"), source.alias("person_from")]


def kind_of(combos: pl.DataFrame, values: pl.DataFrame, text: pl.DataType) -> pl.Series:
    """The text part of the unique-event key for each combination of raw values (columns
    ``KIND_FIELDS`` holding raw value ids), folded and joined prefix-free: client type, event
    type, route of access if a request, assessment type if an assessment, service type and
    component if a service (GetDerivedFields lines 54-66)."""

    def field(name: str, form: str = "folded") -> pl.Series:
        return values[form].gather(combos[name])

    frame = pl.DataFrame(
        {
            **{n: field(n) for n in KIND_FIELDS},
            "service_like": field(TYPE, "service_like"),
            "request_like": field(TYPE, "request_like"),
            "assessment_like": field(TYPE, "assessment_like"),
        }
    )
    service = pl.col("service_like")
    return frame.select(
        pl.concat_str(
            _piece(pl.col(CLIENT_TYPE)),
            _piece(pl.col(TYPE)),
            _piece(pl.when(pl.col("request_like")).then(pl.col(ROUTE))),
            _piece(pl.when(pl.col("assessment_like")).then(pl.col(ASSESSMENT))),
            _piece(pl.when(service).then(pl.col(SERVICE_TYPE))),
            _piece(pl.when(service).then(pl.col(COMPONENT))),
        ).cast(text)
    ).to_series()


def row_state(raw: pl.DataFrame, values: pl.DataFrame, text: pl.DataType) -> pl.DataFrame:
    """A chunk's compact per-row state, from its raw value ids (``Collector.query``) and the
    loaded form of every value (``values``, one row per raw value id).

    Per row: ``line``; ``la`` (LA code), ``person`` (Der_NHS_LA_Combined_Person_ID) and
    ``kind`` (the text part of the unique-event key) as categoricals of ``text``, all folded
    to lower case; ``person_from`` (``NO_PERSON``, ``FROM_NHS``, ``FROM_LA``); ``bucket``;
    ``service_like`` (Event_Type LIKE '%service%'); ``start``, ``end`` (Der_Event_End_Date)
    and ``death``; ``outcome`` (its position in the list); ``category`` (the list value the
    bucket's fact tables count: route of access, assessment type, service type, review
    reason); and, for service-like rows only, ``delivery``, ``cost``, ``frequency`` and
    ``units`` (the unique-event partition's extras; the two amounts as raw value ids, whose
    hundredths are ``values["cents"]``).
    """
    ids = {n: raw.get_column(n).to_physical() for n in BY_VALUE}

    def look(name: str, form: str) -> pl.Series:
        return values.get_column(form).gather(ids[name]).alias(form)

    kinds = raw.select(pl.col(n).to_physical() for n in KIND_FIELDS)
    combos = kinds.unique()
    combos = combos.with_columns(kind_of(combos, values, text).alias("kind"))
    kind = kinds.join(
        combos, on=list(KIND_FIELDS), how="left", nulls_equal=True, maintain_order="left"
    ).get_column("kind")
    frame = pl.DataFrame(
        {
            "line": raw.get_column("line"),
            "la": look(LA_CODE, "folded").cast(text),
            "person": raw.get_column("person"),
            "person_from": raw.get_column("person_from"),
            "kind": kind,
            "bucket": look(TYPE, "bucket").fill_null(OTHER),
            "service_like": look(TYPE, "service_like"),
            "start": look(START, "date"),
            "_end": look(END, "date"),
            "death": look(DEATH, "date"),
            "outcome": look(OUTCOME, "code:outcome"),
            "_route": look(ROUTE, "code:route"),
            "_assessment": look(ASSESSMENT, "code:assessment"),
            "_service_type": look(SERVICE_TYPE, "code:service_type"),
            "_reason": look(REASON, "code:reason"),
            "delivery": look(DELIVERY, "code:delivery"),
            "cost": ids[COST],
            "frequency": look(FREQUENCY, "code:frequency"),
            "units": ids[UNITS],
        }
    )
    start, end, death = pl.col("start"), pl.col("_end"), pl.col("death")
    bucket, service = pl.col("bucket"), pl.col("service_like")

    def if_service(name: str) -> pl.Expr:
        return pl.when(service).then(pl.col(name)).alias(name)

    return frame.select(
        "line",
        "la",
        "person",
        "person_from",
        "kind",
        "bucket",
        "service_like",
        "start",
        # FilterToEventsInPeriod lines 134-138: the date of death replaces the end date when
        # it falls between start and end, or after the start of an event with no end date.
        pl.when(death.is_between(start, end) | ((death > start) & end.is_null()))
        .then(death)
        .otherwise(end)
        .alias("end"),
        "death",
        "outcome",
        pl.when(bucket == BUCKETS.index("request"))
        .then(pl.col("_route"))
        .when(bucket == BUCKETS.index("assessment"))
        .then(pl.col("_assessment"))
        .when(bucket == BUCKETS.index("service"))
        .then(pl.col("_service_type"))
        .when(bucket == BUCKETS.index("review"))
        .then(pl.col("_reason"))
        .alias("category"),
        if_service("delivery"),
        if_service("cost"),
        if_service("frequency"),
        if_service("units"),
    )


@dataclass
class Collector:
    """The central view's state, gathered chunk by chunk from one pass over a return.

    ``query(chunk)`` is the chunk's plan (run it with the caller's other plans in one
    ``pl.collect_all``): the person ID, and the other fields as ids of the run's raw values.
    ``add(result)`` loads the values not met before (:func:`load_values`), keeps the chunk's
    per-row state (:func:`row_state`) and folds its tallies; and
    :func:`cld_polars.central.facts.finish` computes the figures from what was gathered.
    """

    spec: Spec = field(default_factory=load_spec)
    #: The run's own categories (not the process-wide ones): freed with the collector. ``raw``
    #: holds the fields' raw values, ``text`` the folded LA codes, person IDs and event kinds.
    raw: pl.DataType = field(default_factory=lambda: pl.Categorical(pl.Categories.random()))
    text: pl.DataType = field(default_factory=lambda: pl.Categorical(pl.Categories.random()))
    parts: list[pl.DataFrame] = field(default_factory=list)
    #: Events_Ending_by_Month's raw material: rows per (end month, Event_Type), summed.
    month_parts: list[pl.DataFrame] = field(default_factory=list)
    #: The distinct CONCAT(start, end) of the stated periods, and their MIN / MAX.
    stated_pairs: set[str] = field(default_factory=set)
    stated_start: datetime.date | None = None
    stated_end: datetime.date | None = None
    rows: int = 0

    def __post_init__(self) -> None:
        self.lists = Lists.of(self.spec)
        self.values = load_values(pl.Series([], dtype=pl.String), self.lists).with_columns(
            pl.Series("raw", [], dtype=self.raw)
        )
        #: Which rows of ``values`` hold a loaded value (the others are ids of values only
        #: other columns held).
        self.loaded = pl.Series(dtype=pl.Boolean)

    def query(self, chunk: pl.LazyFrame) -> pl.LazyFrame:
        """The plan of one chunk (its columns: ``__line`` and the fields of ``NEEDS``)."""
        return chunk.select(
            pl.col(LINE).cast(pl.UInt32).alias("line"),
            *person_columns(self.text),
            *[pl.col(n).cast(self.raw) for n in BY_VALUE],
        )

    def _load_new(self, raw: pl.DataFrame) -> None:
        """Load the chunk's raw values that no earlier chunk had. ``values`` is indexed by the
        value's id in the run's categories; the categories may be shared with columns this
        collector does not read (the validation engine casts every low-cardinality field to
        one categorical), so an id below the table's height is not necessarily loaded:
        ``loaded`` says which are."""
        size = self.values.height
        news = []
        for name in BY_VALUE:
            column = raw.get_column(name)
            ids = column.to_physical()
            if size:
                seen = self.loaded.gather(ids.clip(upper_bound=size - 1)).fill_null(True)
                column = column.filter((ids >= size) | ~seen)
            news.append(column.drop_nulls())
        new = pl.concat(news).unique()
        if not new.len():
            return
        ids = new.to_physical()
        # The raw value itself stays in the table: a run's categories live only while a
        # column uses them, and the ids must mean the same in every chunk.
        loaded = load_values(new, self.lists).with_columns(new.alias("raw"))
        top = int(ids.max()) + 1  # type: ignore[arg-type]  # a UInt32's max is an int
        if top > size:
            # Room for ids to come, doubling: the table spans the run's categories (every
            # low-cardinality field's values), so it grows a few times, not once a chunk.
            grow = max(top, 2 * size, 1024) - size
            padding = pl.DataFrame(
                {c: pl.Series(c, [None] * grow, dtype=t) for c, t in self.values.schema.items()}
            )
            self.values = pl.concat([self.values, padding], rechunk=True)
            self.loaded.append(pl.Series([False] * grow, dtype=pl.Boolean))
            self.loaded.rechunk(in_place=True)
        columns = {}
        for name in self.values.columns:
            column = self.values.get_column(name).clone()
            column.scatter(ids, loaded.get_column(name))
            columns[name] = column
        self.values = pl.DataFrame(columns)
        self.loaded.scatter(ids, True)

    def add(self, raw: pl.DataFrame) -> None:
        """Keep a chunk's state; fold its tallies (stated period, events ending by month)."""
        self.rows += raw.height
        self._load_new(raw)
        values = self.values
        # COUNT(DISTINCT CONCAT(start, end)): dates as yyyy-mm-dd, NULL as '' (so a lone
        # start and a lone end of the same date are one value, as in SQL).
        pairs = raw.select(
            pl.col(PERIOD_START).to_physical().alias("s"),
            pl.col(PERIOD_END).to_physical().alias("e"),
        ).unique()
        start = values.get_column("date").gather(pairs.get_column("s"))
        end = values.get_column("date").gather(pairs.get_column("e"))
        both = pl.DataFrame({"s": start, "e": end}).select(
            pl.concat_str(
                pl.col("s").cast(pl.String).fill_null(""), pl.col("e").cast(pl.String).fill_null("")
            )
        )
        self.stated_pairs.update(both.to_series().to_list())
        low, high = start.min(), end.max()
        if isinstance(low, datetime.date) and (
            self.stated_start is None or low < self.stated_start
        ):
            self.stated_start = low
        if isinstance(high, datetime.date) and (self.stated_end is None or high > self.stated_end):
            self.stated_end = high
        ending = raw.group_by(
            pl.col(END).to_physical().alias("e"), pl.col(TYPE).to_physical().alias("t")
        ).len()
        self.month_parts.append(
            pl.DataFrame(
                {
                    "month": values.get_column("date").gather(ending.get_column("e")),
                    "_type": values.get_column("folded").gather(ending.get_column("t")),
                    "len": ending.get_column("len"),
                }
            )
            .filter(pl.col("month").is_not_null())
            .with_columns(pl.col("month").dt.month_start())
        )
        self.parts.append(row_state(raw, values, self.text))

    def state(self) -> pl.DataFrame:
        """The per-row state of every chunk so far, as one frame."""
        if self.parts:
            return pl.concat(self.parts)
        empty = pl.LazyFrame(schema={LINE: pl.Int64, **dict.fromkeys(NEEDS, pl.String)})
        return row_state(self.query(empty).collect(), self.values, self.text)

    def take_state(self) -> pl.DataFrame:
        """The per-row state, no longer held here (so that it can be freed once used)."""
        state = self.state()
        self.parts = []
        return state
