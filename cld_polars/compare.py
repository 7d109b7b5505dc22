"""What changed since last quarter (``cld-validate compare PREVIOUS CURRENT --xlsx diff.xlsx``
runs it: :mod:`cld_polars.cli.compare`).

Each quarter's return covers the 12 months to its end, so two consecutive returns overlap by
nine months, and over those months they should tell the same story. Where they do not, either
the council's system changed history (a service re-dated, a person's date of birth corrected)
or one of the returns is wrong (an event dropped by an extract filter, last year's events
loaded late). The comparison finds those differences so that an analyst can tell which.

Matching events. An event is the same in both returns when it has the same person, event type
and Event Reference, provided the reference is *stable*: present, and naming one event of
that person and type in each return (the guidance lets a Request and its Assessment share a
reference, hence the type). Events left over are matched on a key of person, event type,
start date and the fields that describe an event of that type (route of access, assessment
type, service type and component, review reason), the n-th of a key in one return with the
n-th in the other, in line order. A service whose start date moved can only be matched by
reference; without one it shows as one event gone and one new.

What is reported (each a table of ``Comparison``):

* ``disappeared``: events in the previous return, matched by nothing in the current one,
  that were still active inside the overlap (started by the end of the previous period and
  ended, if at all, on or after the start of the current one). Events that ended before the
  current period began drop out legitimately and are not reported.
* ``new_in_old_period``: events in the current return, matched by nothing in the previous
  one, that started by the end of the previous period: the previous return should have had
  them.
* ``start_moved``: matched services whose Event Start Date differs.
* ``cost_changes``: matched events whose Unit Cost differs (uplifts, and the odd cut).
* ``person_changes``: people in both returns whose Date of Birth or NHS Number differs (each
  return's first non-blank value per person).
* ``counts``: events by type side by side, in all and inside the overlap.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from cld_polars import parse
from cld_polars.checks.context import LINE
from cld_polars.presentation import (
    COUNT,
    DATE,
    DATETIME,
    EXCEL_MAX_ROWS,
    INTEGER,
    MONEY,
    PERCENT,
    Book,
    Column,
    Fact,
)
from cld_polars.reader import frame_source, read_return
from cld_polars.safety import shown
from cld_polars.spec import Spec, load_spec

__all__ = ["CompareError", "Comparison", "compare"]

PID, TYPE, REF = "LA Person Unique Identifier", "Event Type", "Event Reference"
START, END = "Event Start Date", "Event End Date"
COST, FREQUENCY = "Unit Cost", "Cost Frequency (Unit Type)"
PERIOD_START, PERIOD_END = "Reporting Period Start Date", "Reporting Period End Date"
EVENT_TYPES = ("Request", "Assessment", "Service", "Review")
#: Fields that describe an event of each type: with person, type and start date, the key of
#: an event that has no stable reference. Blank-or-not-applicable fields read as "".
TYPE_FIELDS = (
    "Request: Route of Access",
    "Assessment Type",
    "Service Type",
    "Service Component",
    "Review Reason",
)
PERSON_FIELDS = ("Date of Birth", "NHS Number")
COLUMNS = (
    LINE,
    "LA Code",
    PERIOD_START,
    PERIOD_END,
    PID,
    *PERSON_FIELDS,
    TYPE,
    REF,
    START,
    END,
    *TYPE_FIELDS,
    COST,
    FREQUENCY,
)
#: The event columns the tables show, as (column in the return, name in the table).
SHOWN = (
    (PID, "person_id"),
    (TYPE, "event_type"),
    (REF, "event_reference"),
    (START, "start_date"),
    (END, "end_date"),
)
TABLES = (
    "counts",
    "disappeared",
    "new_in_old_period",
    "start_moved",
    "cost_changes",
    "person_changes",
)

Source = str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame


class CompareError(Exception):
    """The two returns cannot be compared (different councils, periods in the wrong order)."""


@dataclass(frozen=True)
class Comparison:
    """Two returns compared: the periods and one Polars frame per finding (see the module)."""

    previous: str
    current: str
    previous_period: tuple[datetime.date, datetime.date]
    current_period: tuple[datetime.date, datetime.date]
    counts: pl.DataFrame
    disappeared: pl.DataFrame
    new_in_old_period: pl.DataFrame
    start_moved: pl.DataFrame
    cost_changes: pl.DataFrame
    person_changes: pl.DataFrame

    @property
    def overlap(self) -> tuple[datetime.date, datetime.date]:
        """The months both returns cover: the current start to the previous end."""
        return self.current_period[0], self.previous_period[1]

    def tables(self) -> dict[str, pl.DataFrame]:
        """Every table by name, in the order the workbook shows them."""
        return {name: getattr(self, name) for name in TABLES}

    def summary(self) -> str:
        """A few lines for the terminal: the overlap and how many of each difference."""
        start, end = self.overlap
        lines = [
            f"{shown(self.previous)} ({_period(self.previous_period)}) -> "
            f"{shown(self.current)} ({_period(self.current_period)})",
            f"  overlap {start:%d/%m/%Y} to {end:%d/%m/%Y}",
            f"  {self.disappeared.height:>7,}  events gone though still inside the overlap",
            f"  {self.new_in_old_period.height:>7,}  new events dated in the previous period",
            f"  {self.start_moved.height:>7,}  services whose start date moved",
            f"  {self.cost_changes.height:>7,}  unit costs changed",
            f"  {self.person_changes.height:>7,}  person details changed (DOB, NHS Number)",
        ]
        return "\n".join(lines)

    def to_excel(self, path: str | os.PathLike[str]) -> Path:
        """The tables as an .xlsx workbook (an Instructions sheet, then one sheet per table,
        laid out by :mod:`cld_polars.presentation`), written whole or not at all.

        Values from the returns are text cells, so nothing in a return (a value starting with
        '=') is read by Excel as a formula; dates that are dates are shown as dates.
        """
        return _comparison_book(self).save(Path(path))


def _period(period: tuple[datetime.date, datetime.date]) -> str:
    return f"{period[0]:%d/%m/%Y} to {period[1]:%d/%m/%Y}"


@dataclass(frozen=True)
class _SheetSpec:
    """How one table of ``Comparison`` is shown: its sheet, what it holds, its columns."""

    sheet: str
    what: str
    columns: dict[str, Column]


def _sheet_specs() -> dict[str, _SheetSpec]:
    line = {
        "previous_line": Column(header="Line in previous", format=INTEGER),
        "current_line": Column(header="Line in current", format=INTEGER),
    }
    event = {
        "person_id": Column(header="LA Person Unique Identifier"),
        "event_type": Column(header="Event Type"),
        "event_reference": Column(header="Event Reference"),
        "start_date": Column(header="Event Start Date", format=DATE),
        "end_date": Column(header="Event End Date", format=DATE),
    }
    return {
        "counts": _SheetSpec(
            "Counts by event type",
            "Events of each type in each return, in all and inside the overlap; how many were "
            "matched, gone and new. Inside the overlap, previous = matched + gone.",
            {
                "event_type": Column(header="Event Type"),
                "previous": Column(header="Previous return", format=COUNT),
                "current": Column(header="Current return", format=COUNT),
                "difference": Column(header="Difference (current - previous)", format=COUNT),
                "previous_in_overlap": Column(header="Previous, in the overlap", format=COUNT),
                "current_in_overlap": Column(header="Current, in the overlap", format=COUNT),
                "matched": Column(header="Matched", format=COUNT),
                "disappeared": Column(header="Gone", format=COUNT),
                "new_in_old_period": Column(
                    header="New, dated in the previous period", format=COUNT
                ),
            },
        ),
        "disappeared": _SheetSpec(
            "Events gone",
            "Events of the previous return that the current one does not have, though they "
            "were still open inside the overlap: dropped by the extract, or deleted.",
            {"previous_line": line["previous_line"], **event},
        ),
        "new_in_old_period": _SheetSpec(
            "New in old period",
            "Events of the current return, not in the previous one, that started by the end "
            "of the previous period: the previous return should have had them.",
            {"current_line": line["current_line"], **event},
        ),
        "start_moved": _SheetSpec(
            "Start dates moved",
            "Services in both returns whose Event Start Date changed.",
            {
                **line,
                "person_id": event["person_id"],
                "event_reference": event["event_reference"],
                "previous_start": Column(header="Previous start date", format=DATE),
                "current_start": Column(header="Current start date", format=DATE),
                "days": Column(header="Days moved", format=COUNT),
            },
        ),
        "cost_changes": _SheetSpec(
            "Unit costs changed",
            "Events in both returns whose Unit Cost changed (uplifts, and the odd cut).",
            {
                **line,
                "person_id": event["person_id"],
                "event_type": event["event_type"],
                "event_reference": event["event_reference"],
                "previous_cost": Column(header="Previous unit cost (£)", format=MONEY),
                "current_cost": Column(header="Current unit cost (£)", format=MONEY),
                "change": Column(header="Change (£)", format=MONEY),
                "percent": Column(header="Change (%)", format=PERCENT),
                "previous_frequency": Column(header="Previous cost frequency"),
                "current_frequency": Column(header="Current cost frequency"),
            },
        ),
        "person_changes": _SheetSpec(
            "Person details changed",
            "People in both returns whose Date of Birth or NHS Number differs (each return's "
            "first value given for the person).",
            {
                "person_id": event["person_id"],
                "field": Column(header="Field"),
                "previous": Column(header="Previous value"),
                "current": Column(header="Current value"),
            },
        ),
    }


#: Rows above a table on its sheet: the title, the note and the header.
_TOP_ROWS = 3


def _comparison_book(result: Comparison) -> Book:
    """The compare workbook: Instructions, then a sheet per table of ``Comparison``."""
    from cld_polars._version import __version__

    specs = _sheet_specs()
    tables = result.tables()
    book = Book(
        f"CLD comparison: {Path(result.previous).name} and {Path(result.current).name}",
        f"cld_polars {__version__}",
    )
    sheet = book.sheet("Instructions", gridlines=False)
    sheet.title(
        "What changed since last quarter: read this first",
        "Two consecutive returns cover the same nine months (the overlap); over those months "
        "they should tell the same story. Each sheet lists one kind of difference.",
    )
    sheet.heading("The two returns")
    sheet.facts(
        [
            Fact("Previous return", result.previous),
            Fact("Previous period", _period(result.previous_period)),
            Fact("Current return", result.current),
            Fact("Current period", _period(result.current_period)),
            Fact("Overlap", _period(result.overlap)),
            Fact("Tool", f"cld_polars {__version__}"),
            Fact("Compared at", datetime.datetime.now().replace(microsecond=0), DATETIME),
        ]
    )
    sheet.heading("How to read each sheet")
    guide = pl.DataFrame(
        {
            "Sheet": [specs[name].sheet for name in TABLES],
            "Rows": [tables[name].height for name in TABLES],
            "What it shows": [specs[name].what for name in TABLES],
        }
    )
    sheet.table(
        guide,
        {"Sheet": Column(link=True), "Rows": COUNT, "What it shows": Column(width=90, wrap=True)},
    )
    sheet.heading("How events are matched")
    sheet.paragraph(
        "By person, event type and Event Reference where the reference names one event of "
        "that person and type in each return; the rest by person, event type, start date and "
        "the type's own fields (route of access, assessment type, service type and component, "
        "review reason), in line order. A service whose start date moved can only be matched "
        "by its reference; without one it shows as one event gone and one new."
    )
    sheet.paragraph(
        "Line numbers are lines of each CSV (the header is line 1). Validate each return with "
        "cld-validate for its own workbook of rows to fix."
    )
    for name in TABLES:
        spec = specs[name]
        frame = tables[name]
        if name == "cost_changes":
            frame = frame.with_columns(pl.col("percent") / 100)  # a fraction, shown as %
        note = spec.what
        limit = EXCEL_MAX_ROWS - _TOP_ROWS
        if frame.height > limit:
            note += (
                f" The first {limit:,} of {frame.height:,} rows are shown (an Excel sheet holds "
                f"{EXCEL_MAX_ROWS:,}); cld_polars.compare() in Python gives them all."
            )
            frame = frame.head(limit)
        sheet = book.sheet(spec.sheet)
        sheet.title(spec.sheet)
        sheet.table(frame, spec.columns, note=note, freeze=True, key_columns=1, empty="None.")
    return book


def _read(source: Source, spec: Spec) -> tuple[str, pl.DataFrame]:
    """The columns the comparison needs, read as text (a path the exact way)."""
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        opened = frame_source(source, spec)
        name = "<frame>"
    else:
        opened = read_return(source, spec, quick=False)
        name = str(source)
    with opened:
        return name, opened.frame.select(COLUMNS).collect()


def _period_of(frame: pl.DataFrame, name: str) -> tuple[datetime.date, datetime.date]:
    """The return's reporting period: its most common stated start and end."""
    dates = frame.select(
        parse.parse_date(pl.col(PERIOD_START)).drop_nulls().mode().first().alias("start"),
        parse.parse_date(pl.col(PERIOD_END)).drop_nulls().mode().first().alias("end"),
    ).row(0)
    if dates[0] is None or dates[1] is None:
        raise CompareError(
            f"{name}: has no readable Reporting Period Start and End Date, so the overlap of "
            "the two returns is unknown. Validate it and correct the period dates first."
        )
    return dates[0], dates[1]


def _events(frame: pl.DataFrame) -> pl.DataFrame:
    """Event rows with parsed dates and costs, and whether the reference is stable."""
    key = [PID, TYPE, REF]
    return (
        frame.filter(pl.col(TYPE).is_in(EVENT_TYPES))
        .with_columns(
            parse.parse_date(pl.col(START)).alias("__start"),
            parse.parse_date(pl.col(END)).alias("__end"),
            parse.parse_decimal(pl.col(COST)).alias("__cost"),
        )
        .with_columns(
            (~parse.is_blank(pl.col(REF)) & (pl.len().over(key) == 1)).alias("__stable"),
            *[pl.col(f).fill_null("").alias(f"__key:{f}") for f in TYPE_FIELDS],
        )
    )


def _match(previous: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """Pairs of lines (``previous_line``, ``current_line``) of the same event."""
    by_ref = previous.filter("__stable").select(PID, TYPE, REF, pl.col(LINE).alias("p"))
    by_ref = by_ref.join(
        current.filter("__stable").select(PID, TYPE, REF, pl.col(LINE).alias("c")),
        on=[PID, TYPE, REF],
        how="inner",
    ).select("p", "c")
    key = [PID, TYPE, START, *[f"__key:{f}" for f in TYPE_FIELDS]]

    def rest(frame: pl.DataFrame, used: pl.Series, line: str) -> pl.DataFrame:
        left = frame.filter(~pl.col(LINE).is_in(used.implode()))
        return left.sort(LINE).select(
            *key, pl.int_range(pl.len()).over(key).alias("__nth"), pl.col(LINE).alias(line)
        )

    by_key = rest(previous, by_ref["p"], "p").join(
        rest(current, by_ref["c"], "c"), on=[*key, "__nth"], how="inner", nulls_equal=True
    )
    return pl.concat([by_ref, by_key.select("p", "c")]).rename(
        {"p": "previous_line", "c": "current_line"}
    )


def _shown(frame: pl.DataFrame, line: str) -> list[pl.Expr]:
    return [pl.col(LINE).alias(line), *[pl.col(c).alias(n) for c, n in SHOWN]]


def _first_per_person(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.group_by(PID, maintain_order=True).agg(
        *[pl.col(f).drop_nulls().first() for f in PERSON_FIELDS]
    )


def compare(previous: Source, current: Source, spec: Spec | None = None) -> Comparison:
    """Compare last quarter's return with this quarter's (paths, or frames a notebook holds).

    >>> from cld_polars.generate import generate_pair
    >>> old, new, planted = generate_pair(400, seed=2)
    >>> result = compare(old, new)
    >>> result.disappeared.height == planted["disappeared"]
    True
    >>> result.counts.columns[:3]
    ['event_type', 'previous', 'current']
    """
    spec = spec or load_spec()
    p_name, p_frame = _read(previous, spec)
    c_name, c_frame = _read(current, spec)
    p_period, c_period = _period_of(p_frame, p_name), _period_of(c_frame, c_name)
    if c_period[1] <= p_period[1]:
        raise CompareError(
            f"{c_name}: its period ends {c_period[1]:%d/%m/%Y}, not after the previous "
            f"return's ({p_period[1]:%d/%m/%Y}): give the older return first"
        )
    councils = set(pl.concat([p_frame["LA Code"], c_frame["LA Code"]]).drop_nulls().unique())
    if len(councils) > 1:
        raise CompareError(
            f"{p_name} and {c_name} are returns of different councils "
            f"(LA Code {', '.join(sorted(councils))}): compare two returns of one council"
        )
    overlap_start, overlap_end = c_period[0], p_period[1]
    p_events, c_events = _events(p_frame), _events(c_frame)
    pairs = _match(p_events, c_events)

    def in_overlap() -> pl.Expr:
        return (pl.col("__start") <= overlap_end) & (
            pl.col("__end").is_null() | (pl.col("__end") >= overlap_start)
        )

    matched_p = pairs["previous_line"].implode()
    matched_c = pairs["current_line"].implode()
    disappeared = p_events.filter(~pl.col(LINE).is_in(matched_p) & in_overlap()).select(
        _shown(p_events, "previous_line")
    )
    new_old = c_events.filter(
        ~pl.col(LINE).is_in(matched_c) & (pl.col("__start") <= p_period[1])
    ).select(_shown(c_events, "current_line"))

    def side(events: pl.DataFrame, prefix: str, *shown: pl.Expr) -> pl.DataFrame:
        """A matched event's line, start and cost, named for its return."""
        return events.select(
            pl.col(LINE).alias(f"{prefix}_line"),
            *shown,
            pl.col("__start").alias(f"{prefix}_start"),
            pl.col(START).alias(f"{prefix}_start_text"),
            pl.col("__cost").alias(f"{prefix}_cost"),
            pl.col(FREQUENCY).alias(f"{prefix}_frequency"),
        )

    both = pairs.join(
        side(p_events, "previous", *[pl.col(c).alias(n) for c, n in SHOWN]), on="previous_line"
    ).join(side(c_events, "current"), on="current_line")
    moved = (
        both.filter(
            (pl.col("event_type") == "Service")
            & pl.col("previous_start_text").ne_missing(pl.col("current_start_text"))
        )
        .select(
            "previous_line",
            "current_line",
            "person_id",
            "event_reference",
            pl.col("previous_start_text").alias("previous_start"),
            pl.col("current_start_text").alias("current_start"),
            (pl.col("current_start") - pl.col("previous_start")).dt.total_days().alias("days"),
        )
        .sort("previous_line")
    )
    costs = (
        both.filter(pl.col("previous_cost").ne_missing(pl.col("current_cost")))
        .select(
            "previous_line",
            "current_line",
            "person_id",
            "event_type",
            "event_reference",
            "previous_cost",
            "current_cost",
            (pl.col("current_cost") - pl.col("previous_cost")).round(2).alias("change"),
            ((pl.col("current_cost") / pl.col("previous_cost") - 1) * 100)
            .round(1)
            .alias("percent"),
            "previous_frequency",
            "current_frequency",
        )
        .sort("previous_line")
    )
    p_people, c_people = _first_per_person(p_frame), _first_per_person(c_frame)
    people = p_people.join(c_people, on=PID, how="inner", suffix=":current")
    person_changes = pl.concat(
        [
            people.filter(pl.col(f).ne_missing(pl.col(f"{f}:current"))).select(
                pl.col(PID).alias("person_id"),
                pl.lit(f).alias("field"),
                pl.col(f).alias("previous"),
                pl.col(f"{f}:current").alias("current"),
            )
            for f in PERSON_FIELDS
        ]
    ).sort("person_id", "field")
    counts = _counts(p_events, c_events, pairs, in_overlap(), disappeared, new_old)
    return Comparison(
        previous=p_name,
        current=c_name,
        previous_period=p_period,
        current_period=c_period,
        counts=counts,
        disappeared=disappeared.sort("previous_line"),
        new_in_old_period=new_old.sort("current_line"),
        start_moved=moved,
        cost_changes=costs,
        person_changes=person_changes,
    )


def _counts(
    p_events: pl.DataFrame,
    c_events: pl.DataFrame,
    pairs: pl.DataFrame,
    overlap: pl.Expr,
    disappeared: pl.DataFrame,
    new_old: pl.DataFrame,
) -> pl.DataFrame:
    """Events by type: in each return, inside the overlap, matched, and the two differences."""
    types = pl.DataFrame({"event_type": list(EVENT_TYPES)})

    def by_type(frame: pl.DataFrame, column: str, name: str) -> pl.DataFrame:
        return frame.group_by(pl.col(column).alias("event_type")).agg(pl.len().alias(name))

    matched = pairs.join(
        p_events.select(pl.col(LINE).alias("previous_line"), TYPE), on="previous_line"
    )
    parts = [
        by_type(p_events, TYPE, "previous"),
        by_type(c_events, TYPE, "current"),
        by_type(p_events.filter(overlap), TYPE, "previous_in_overlap"),
        by_type(c_events.filter(overlap), TYPE, "current_in_overlap"),
        by_type(matched, TYPE, "matched"),
        by_type(disappeared, "event_type", "disappeared"),
        by_type(new_old, "event_type", "new_in_old_period"),
    ]
    out = types
    for part in parts:
        out = out.join(part, on="event_type", how="left", maintain_order="left")
    out = out.fill_null(0).cast({c: pl.Int64 for c in out.columns[1:]})
    out = out.with_columns((pl.col("current") - pl.col("previous")).alias("difference"))
    total = out.select(pl.lit("All events").alias("event_type"), pl.exclude("event_type").sum())
    return pl.concat([out, total])
