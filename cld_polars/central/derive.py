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
    return pl.when(expr.is_null()).then(pl.lit("-")).otherwise(
        pl.concat_str(expr.str.len_chars().cast(pl.String), pl.lit(":"), expr)
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


def row_state(chunk: pl.LazyFrame, lists: Lists, text: pl.DataType) -> pl.LazyFrame:
    """A chunk's compact per-row state, plus four columns used by :meth:`Collector.add` for
    the chunk's tallies and then dropped (``_stated_start``, ``_stated_end``, ``_end_raw``,
    ``_type``).

    Kept per row: ``line``; ``la`` (LA code), ``person`` (Der_NHS_LA_Combined_Person_ID) and
    ``kind`` (the text part of the unique-event key) as categoricals of ``text``, all folded
    to lower case; ``person_from`` (``NO_PERSON``, ``FROM_NHS``, ``FROM_LA``); ``bucket``;
    ``service_like`` (Event_Type LIKE '%service%'); ``start``, ``end`` (Der_Event_End_Date)
    and ``death``; ``outcome`` (its position in the list); ``category`` (the list value the
    bucket's fact tables count: route of access, assessment type, service type, review
    reason); and, for service-like rows only, ``delivery``, ``cost``, ``frequency`` and
    ``units`` (the unique-event partition's extras; costs in hundredths).
    """
    event_type = folded(TYPE)
    service_like = event_type.str.contains("service", literal=True)
    request_like = event_type.str.contains("request", literal=True)
    assessment_like = event_type.str.contains("assessment", literal=True)
    bucket = event_type.replace_strict(
        list(BUCKETS[:OTHER]), list(range(OTHER)), default=OTHER, return_dtype=pl.UInt8
    )
    start, end, death = pl.col("_start"), pl.col("_end_raw"), pl.col("_death")
    # FilterToEventsInPeriod lines 134-138: the date of death replaces the end date when it
    # falls between start and end, or after the start of an event with no end date.
    der_end = (
        pl.when(death.is_between(start, end) | ((death > start) & end.is_null()))
        .then(death)
        .otherwise(end)
    )
    nhs, pid, la = cell(NHS), cell(PID), cell(LA_CODE)
    # GetDerivedFields lines 101-105 (no traced NHS number: rule 3).
    person = (
        pl.when(nhs.is_not_null())
        .then(nhs)
        .when(pid.is_not_null())
        .then(pl.concat_str(la.fill_null(""), pl.lit("_"), pid))
        .str.to_lowercase()
    )
    person_from = (
        pl.when(nhs.is_not_null())
        .then(FROM_NHS)
        .when(pid.is_not_null())
        .then(FROM_LA)
        .otherwise(NO_PERSON)
        .cast(pl.UInt8)
    )
    # GetDerivedFields lines 54-66: the raw fields of the DENSE_RANK, case-insensitively.
    kind = pl.concat_str(
        _piece(folded(CLIENT_TYPE)),
        _piece(event_type),
        _piece(pl.when(request_like).then(folded(ROUTE))),
        _piece(pl.when(assessment_like).then(folded(ASSESSMENT))),
        _piece(pl.when(service_like).then(folded(SERVICE_TYPE))),
        _piece(pl.when(service_like).then(folded(COMPONENT))),
    )
    category = (
        pl.when(bucket == BUCKETS.index("request"))
        .then(list_code(ROUTE, lists.route))
        .when(bucket == BUCKETS.index("assessment"))
        .then(list_code(ASSESSMENT, lists.assessment))
        .when(bucket == BUCKETS.index("service"))
        .then(list_code(SERVICE_TYPE, lists.service_type))
        .when(bucket == BUCKETS.index("review"))
        .then(list_code(REASON, lists.reason))
    )

    def if_service(expr: pl.Expr) -> pl.Expr:
        return pl.when(service_like).then(expr)

    dated = chunk.select(
        pl.col(LINE),
        date(START).alias("_start"),
        date(END).alias("_end_raw"),
        date(DEATH).alias("_death"),
        date(PERIOD_START).alias("_stated_start"),
        date(PERIOD_END).alias("_stated_end"),
        *[pl.col(n) for n in NEEDS if n not in (START, END, DEATH, PERIOD_START, PERIOD_END)],
    )
    return dated.select(
        pl.col(LINE).cast(pl.UInt32).alias("line"),
        la.str.to_lowercase().cast(text).alias("la"),
        person.cast(text).alias("person"),
        person_from.alias("person_from"),
        kind.cast(text).alias("kind"),
        bucket.alias("bucket"),
        # NULL where Event_Type is blank: NOT LIKE and LIKE are both unknown there.
        service_like.alias("service_like"),
        start.alias("start"),
        der_end.alias("end"),
        death.alias("death"),
        list_code(OUTCOME, lists.outcome).alias("outcome"),
        category.alias("category"),
        if_service(list_code(DELIVERY, lists.delivery)).alias("delivery"),
        if_service(cents(COST)).alias("cost"),
        if_service(list_code(FREQUENCY, lists.frequency)).alias("frequency"),
        if_service(cents(UNITS)).alias("units"),
        pl.col("_stated_start"),
        pl.col("_stated_end"),
        pl.col("_end_raw"),
        event_type.alias("_type"),
    )


TALLY_COLUMNS = ("_stated_start", "_stated_end", "_end_raw", "_type")


@dataclass
class Collector:
    """The central view's state, gathered chunk by chunk from one pass over a return.

    ``query(chunk)`` is the chunk's plan (run it with the caller's other plans in one
    ``pl.collect_all``), ``add(result)`` keeps its per-row state and folds its tallies, and
    :func:`cld_polars.central.facts.finish` computes the figures from what was gathered.
    """

    spec: Spec = field(default_factory=load_spec)
    #: The run's own categories (not the process-wide ones): freed with the collector.
    text: pl.DataType = field(default_factory=lambda: pl.Categorical(pl.Categories.random()))
    parts: list[pl.DataFrame] = field(default_factory=list)
    #: Events_Ending_by_Month's raw material: rows per (end month, Event_Type), summed.
    month_parts: list[pl.DataFrame] = field(default_factory=list)
    #: The distinct CONCAT(start, end) of the stated periods, and their MIN / MAX.
    stated_pairs: set[str] = field(default_factory=set)
    stated_start: object = None
    stated_end: object = None
    rows: int = 0

    def __post_init__(self) -> None:
        self.lists = Lists.of(self.spec)

    def query(self, chunk: pl.LazyFrame) -> pl.LazyFrame:
        """The plan of one chunk (its columns: ``__line`` and the fields of ``NEEDS``)."""
        return row_state(chunk, self.lists, self.text)

    def add(self, result: pl.DataFrame) -> None:
        """Keep a chunk's state; fold its tallies (stated period, events ending by month)."""
        self.rows += result.height
        start, end = pl.col("_stated_start"), pl.col("_stated_end")
        # COUNT(DISTINCT CONCAT(start, end)): dates as yyyy-mm-dd, NULL as '' (so a lone
        # start and a lone end of the same date are one value, as in SQL).
        pairs, bounds = pl.collect_all(
            [
                result.lazy().select(
                    pl.concat_str(
                        start.cast(pl.String).fill_null(""), end.cast(pl.String).fill_null("")
                    )
                    .unique()
                    .alias("pair")
                ),
                result.lazy().select(start.min().alias("min"), end.max().alias("max")),
            ]
        )
        self.stated_pairs.update(pairs["pair"].to_list())
        low, high = bounds.row(0)
        if low is not None and (self.stated_start is None or low < self.stated_start):
            self.stated_start = low
        if high is not None and (self.stated_end is None or high > self.stated_end):
            self.stated_end = high
        self.month_parts.append(
            result.filter(pl.col("_end_raw").is_not_null())
            .group_by(pl.col("_end_raw").dt.month_start().alias("month"), "_type")
            .len()
        )
        self.parts.append(result.drop(TALLY_COLUMNS))

    def state(self) -> pl.DataFrame:
        """The per-row state of every chunk so far, as one frame."""
        if self.parts:
            return pl.concat(self.parts)
        empty = pl.LazyFrame(schema={LINE: pl.Int64, **dict.fromkeys(NEEDS, pl.String)})
        return self.query(empty).collect().drop(TALLY_COLUMNS)
