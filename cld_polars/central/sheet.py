"""The Central view sheet: what it says (as data) and how it is written.

``sheet_content(view)`` is everything the sheet says: the facts at its top, then parts, each
a heading, the plain sentences that explain it in analyst terms and titled tables (Polars
frames with display headers, how each column is shown, and a chart where one helps). The
same content is written by :func:`render` on the validation workbook's sheet (after the
Summary, with each listed row's identifiers and a link to its findings on Rows to fix) and by
:func:`write_workbook` for ``cld-validate central --xlsx`` (an Instructions sheet and this
one): one way of writing it, through :mod:`cld_polars.presentation`.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from cld_polars._version import __version__
from cld_polars.central import contract
from cld_polars.central.contract import CONTRACT_VERSION
from cld_polars.central.derive import (
    BUCKETS,
    OUTCOME_GROUPS,
    REVIEW_TYPES,
    category_key,
    service_group,
)
from cld_polars.presentation import (
    COUNT,
    DATE,
    INTEGER,
    MONTH,
    PERCENT,
    SHEET_GUIDE,
    Book,
    Column,
    Fact,
    Sheet,
)
from cld_polars.safety import command_arg, shown
from cld_polars.spec import load_spec

if TYPE_CHECKING:
    from cld_polars.central.view import CentralView

SHEET = "Central view"
INSTRUCTIONS = "Instructions"
NOT_MAPPED = "(blank, or not a Release 2 value)"
EVENT_TYPES = {
    "request": "Request",
    "assessment": "Assessment",
    "service": "Service",
    "review": "Review",
    "other": "Other or blank",
}
#: How many months a sentence names before "and N more".
MONTHS_NAMED = 4
#: Months with no event ending are listed in the months table between the first and last
#: month of the stated and derived periods, when those span at most this many months.
MAX_GAP_MONTHS = 240
MERGED_TITLE = "Records merged as repeats of one event"
NO_PERSON_TITLE = "Rows with no person ID"
MONTHS_TITLE = "Events ending by month, before the import month"
SERVICES_TITLE = "Services by service type"
#: Width of a table's first column of labels (service types, reasons: some run to 60
#: characters), wrapped beyond it: the sheet's tables share column A.
LABEL_WIDTH = 46.0
#: The column of a listed row's findings on the validation workbook's Rows to fix sheet.
FINDINGS_HEADER = "Findings on Rows to fix"
#: ``FindingPlaces.frame``'s columns.
PLACES_SCHEMA = pl.Schema({"line": pl.Int64(), "findings": pl.Int64(), "target": pl.String()})
#: What the Central view sheet shows and how to use it (the Instructions sheets' guide row).
GUIDE = (
    "What DHSC's pipeline will make of the return, from its published dashboard code: the "
    "reporting period it derives from the event end dates (and the months behind it), "
    "whether it would select the return, the rows its period filter drops and why, person "
    "IDs, the records it merges as one event (listed by line), and the dashboard's headline "
    "counts and costs.",
    "Read the sentence under each heading: where DHSC's figures will differ from yours it "
    "says why. Check the derived period against the one you state, and look up the merged "
    "records and rows with no person ID (at the foot of the sheet) in your system.",
)


@dataclass(frozen=True)
class FindingPlaces:
    """Where the listed rows' findings are in the validation workbook: ``frame`` has a row
    per listed line with findings, ``line``, ``findings`` (how many) and ``target`` (the
    first finding's cell, such as ``'Rows to fix'!A12``; null where the sheet could not hold
    it, and the findings are in the file named ``overflow``)."""

    frame: pl.DataFrame
    overflow: str | None = None


@dataclass(frozen=True)
class Chart:
    """A chart beside a table: ``categories`` against ``values``; ``highlight`` a yes/no
    column whose rows' bars are dark (the others grey)."""

    categories: str
    values: tuple[str, ...]
    kind: Literal["col", "bar"] = "col"
    highlight: str | None = None
    y_title: str | None = None
    below: bool = False


@dataclass(frozen=True)
class Table:
    """One titled table of the sheet. ``line_columns`` hold line numbers of the return;
    ``columns`` says how each column is shown (``None``: all, by type)."""

    title: str
    note: str
    frame: pl.DataFrame
    line_columns: tuple[str, ...] = ()
    columns: Mapping[str, Column | str] | None = None
    chart: Chart | None = None
    empty: str = "None."


@dataclass(frozen=True)
class Part:
    """A heading, the sentences under it and its tables."""

    heading: str
    sentences: tuple[str, ...]
    tables: tuple[Table, ...] = ()


@dataclass(frozen=True)
class SheetContent:
    title: str
    subtitle: str
    facts: tuple[Fact, ...]
    parts: tuple[Part, ...]

    @property
    def sentences(self) -> tuple[str, ...]:
        return tuple(s for part in self.parts for s in part.sentences)

    @property
    def tables(self) -> tuple[Table, ...]:
        return tuple(t for part in self.parts for t in part.tables)


def _day(value: datetime.date | None) -> str:
    return "(none)" if value is None else value.strftime("%-d %B %Y")


def _month(value: datetime.date) -> str:
    return value.strftime("%b %Y")


def _span(start: datetime.date | None, end: datetime.date | None) -> str:
    return f"{_day(start)} to {_day(end)}"


def _months_between(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    """The first days of the months from ``first``'s to ``last``'s, both included."""
    out, month = [], first.replace(day=1)
    while month <= last:
        out.append(month)
        month = (month + datetime.timedelta(days=32)).replace(day=1)
    return out


def _why_not(month: datetime.date, rows: dict[datetime.date, dict[str, Any]], needed: int) -> str:
    """Why a month does not count towards the derived period."""
    row = rows.get(month)
    if row is None:
        return "no event ends in it"
    reasons = []
    if not row["meets_share"]:
        reasons.append(f"{row['share']:.1%} of the events")
    if not row["meets_types"]:
        reasons.append(f"{row['event_types']} of the {needed} event types needed")
    return " and ".join(reasons)


def _short_months(months: list[datetime.date], why: list[str]) -> str:
    """'Apr to Jun 2024 (no event ends in them), Aug 2025 (...)': runs of consecutive months
    with the same reason as one range; at most ``MONTHS_NAMED`` of them, then how many more."""
    runs: list[tuple[datetime.date, datetime.date, str]] = []
    for month, reason in zip(months, why, strict=True):
        if runs and runs[-1][2] == reason and _months_between(runs[-1][1], month)[1:] == [month]:
            runs[-1] = (runs[-1][0], month, reason)
        else:
            runs.append((month, month, reason))
    parts = []
    for first, last, reason in runs[:MONTHS_NAMED]:
        if first == last:
            parts.append(f"{_month(first)} ({reason})")
        else:
            label = f"{first.strftime('%b')} to {_month(last)}"
            if first.year != last.year:
                label = f"{_month(first)} to {_month(last)}"
            parts.append(f"{label} ({reason.replace('in it', 'in them')})")
    if len(runs) > MONTHS_NAMED:
        parts.append(f"{len(runs) - MONTHS_NAMED} more")
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]


def _falls_short(
    where: str, months: list[datetime.date], rows: dict[datetime.date, dict[str, Any]], needed: int
) -> str:
    verb = "falls" if len(months) == 1 else "fall"
    named = _short_months(months, [_why_not(m, rows, needed) for m in months])
    return f"{where}, {named} {verb} short"


def period_sentence(view: CentralView) -> str:
    """'DHSC will take your period as ..., because ...' (or that it matches the stated one)."""
    figures = view.figures
    inputs = figures["derived_period_inputs"]
    stated, derived = view.stated_period, view.derived_period
    cutoff = view.import_date.replace(day=1)
    before = f"before {cutoff.strftime('%B %Y')} (the import month)"
    if derived[0] is None or derived[1] is None:
        return (
            f"DHSC cannot derive a reporting period from this return: no event ends {before}, "
            "so it would not select the return for any period."
        )
    if stated == derived:
        return (
            "DHSC derives the same period from your event end dates as your return states: "
            f"{_span(*derived)}."
        )
    if stated[0] is None or stated[1] is None:
        return (
            "Your return states no valid reporting period; DHSC will take it as "
            f"{_span(*derived)}, from its event end dates."
        )
    if inputs["under_100_events"]:
        because = (
            f"only {inputs['events_ending_before_import_month']} events end {before} (fewer "
            "than 100), so DHSC counts every month in which one ends, however few"
        )
    else:
        rows = {r["month"]: r for r in view.months.to_dicts()}
        needed = max(inputs["event_types_in_file"] - 1, 0)
        reasons = []
        if derived[0] > stated[0]:
            early = _months_between(stated[0], derived[0] - datetime.timedelta(days=1))
            reasons.append(_falls_short("at the start", early, rows, needed))
        if derived[1] < stated[1]:
            late = _months_between(derived[1] + datetime.timedelta(days=1), stated[1])
            reasons.append(_falls_short("at the end", late, rows, needed))
        if derived[0] < stated[0]:
            reasons.append(
                f"events ending before your stated start ({_month(derived[0])} onwards) meet "
                "the thresholds"
            )
        if derived[1] > stated[1]:
            reasons.append(
                f"events ending after your stated end (up to {_month(derived[1])}) meet the "
                "thresholds"
            )
        because = (
            "a month counts only with at least 2% of the "
            f"{inputs['events_ending_before_import_month']:,} events ending {before} and at "
            f"least {needed} event types (the most in any month, less one); " + "; ".join(reasons)
        )
    return (
        f"DHSC will take your period as {_span(*derived)}, not {_span(*stated)} as your return "
        f"states, because {because}."
    )


def selection_sentence(view: CentralView) -> str:
    start, end = view.reporting_period
    derived = view.derived_period
    period = _span(start, end)
    if view.selected_for_period:
        return (
            f"DHSC would select this return for {period}: its derived period covers it and it "
            f"is imported ({_day(view.import_date)}) after the period ends."
        )
    reasons = []
    if derived[0] is None or derived[1] is None:
        reasons.append("no period can be derived from it")
    elif derived[0] > start or derived[1] < end:
        reasons.append(f"its derived period ({_span(*derived)}) does not cover it")
    if view.import_date <= end:
        reasons.append(f"it is imported ({_day(view.import_date)}) before the period has ended")
    return (
        f"DHSC would not select this return for {period}: {' and '.join(reasons)}. The figures "
        "here are what it would give if DHSC added it by hand."
    )


def _dropped_sentence(view: CentralView, sheet: bool) -> str:
    f = view.figures
    rows = f["rows_in"]
    kept = sum(f["events_in_period"].values())
    period = _span(*view.reporting_period)
    if rows == kept:
        return f"All {rows:,} rows are events in {period}."
    where = "'Rows dropped by the period filter'" + ("" if sheet else " in the --xlsx workbook")
    return (
        f"Of the {rows:,} rows, {kept:,} are events in {period}; DHSC's period filter drops "
        f"the other {rows - kept:,} (why, by event type: {where})."
    )


def _no_person_sentence(view: CentralView, sheet: bool) -> str | None:
    n = view.figures["person_id"]["rows_dropped_no_person_id"]
    if not n:
        return None
    listed = "listed at the foot of this sheet" if sheet else "listed in the --xlsx workbook"
    return (
        f"{_rows(n)} in the period {'has' if n == 1 else 'have'} neither an NHS Number nor "
        f"an LA Person Unique Identifier: DHSC drops them ({listed})."
    )


def _people_sentence(view: CentralView) -> str:
    people = view.figures["person_id"]
    return (
        f"DHSC identifies people by NHS Number where given ({people['rows_from_nhs_number']:,} "
        f"rows), else by LA Code and LA Person Unique Identifier "
        f"({people['rows_from_la_identifier']:,} rows), ignoring case: "
        f"{people['people']:,} people."
    )


def _merged_sentence(view: CentralView, sheet: bool) -> str:
    f = view.figures
    merged = sum(f["rows_merged_by_dedup"].values())
    unique = sum(f["unique_events"].values())
    if not merged:
        return f"No two records are the same event by DHSC's definition: {unique:,} events."
    listed = "listed at the foot of this sheet" if sheet else "listed in the --xlsx workbook"
    return (
        f"DHSC takes {merged:,} records as repeats of another record's event and keeps one "
        f"record per event ({unique:,} in all): the open or latest-ending one, then the "
        f"outcome highest in its hierarchy, then the later row ({listed}, with the row kept)."
    )


def sentences(view: CentralView, *, sheet: bool = True) -> tuple[str, ...]:
    """The plain sentences of the sheet, in order (``sheet=False``: for the terminal, which
    points to the workbook for the lists)."""
    no_person = _no_person_sentence(view, sheet)
    return (
        period_sentence(view),
        selection_sentence(view),
        _dropped_sentence(view, sheet),
        *([no_person] if no_person else []),
        _people_sentence(view),
        _merged_sentence(view, sheet),
    )


def _rows(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


def _labels(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {**{category_key(v): v for v in values}, "null": NOT_MAPPED}


def _category_table(counts: dict[str, int], labels: dict[str, str], header: str) -> pl.DataFrame:
    return pl.DataFrame(
        {header: [labels[k] for k in counts], "Count": list(counts.values())},
        schema={header: pl.String, "Count": pl.Int64},
    )


def _add_months(day: datetime.date, months: int) -> datetime.date:
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    return datetime.date(year, month + 1, 1)


def _months_table(view: CentralView) -> pl.DataFrame:
    """Events_Ending_by_Month with the thresholds, whether each month is in the derived
    period, and the months of the stated and derived periods in which no event ends (at 0),
    so that a gap shows on the sheet and in the chart."""
    months = view.months
    derived = view.derived_period
    spans = [
        (start, end)
        for start, end in (view.stated_period, derived)
        if start is not None and end is not None
    ]
    if spans:
        first = min(start for start, _ in spans).replace(day=1)
        last = max(end for _, end in spans).replace(day=1)
        cutoff = view.import_date.replace(day=1)
        if last >= cutoff:
            last = _add_months(cutoff, -1)
        count = (last.year - first.year) * 12 + last.month - first.month + 1
        if 0 < count <= MAX_GAP_MONTHS:
            all_months = pl.DataFrame(
                {"month": [_add_months(first, i) for i in range(count)]},
                schema={"month": pl.Date},
            )
            missing = all_months.join(months.select("month"), on="month", how="anti")
            if missing.height:
                filler = missing.with_columns(
                    pl.lit(0, pl.Int64).alias("events"),
                    pl.lit(0, pl.Int64).alias("event_types"),
                    pl.lit(0.0).alias("share"),
                    pl.lit(False).alias("meets_share"),
                    pl.lit(False).alias("meets_types"),
                    pl.lit(False).alias("qualifies"),
                )
                months = pl.concat(
                    [months, filler.select(months.columns).cast(months.schema)]
                ).sort("month")
    inside = (
        pl.col("month").is_between(derived[0], derived[1])
        if derived[0] is not None and derived[1] is not None
        else pl.lit(False)
    )
    return months.select(
        pl.col("month").alias("Month"),
        pl.col("events").alias("Events ending"),
        pl.col("share").alias("Share of events"),
        pl.col("event_types").alias("Event types"),
        pl.col("meets_share").alias("At least 2%"),
        pl.col("meets_types").alias("Enough event types"),
        pl.col("qualifies").alias("Month counts"),
        inside.alias("In the derived period"),
    )


def _findings_column(
    frame: pl.DataFrame,
    places: FindingPlaces,
    line: str = "Line",
    header: str = FINDINGS_HEADER,
) -> pl.DataFrame:
    """``frame`` and, for the line in its column ``line``, how many findings it has on Rows to
    fix (column ``header``) and a link to the first (hidden column ``__link:<header>``)."""
    return frame.join(
        places.frame.select(
            pl.col("line").alias(line),
            pl.col("findings").alias(header),
            pl.col("target").alias(f"__link:{header}"),
        ),
        on=line,
        how="left",
        maintain_order="left",
    ).with_columns(pl.col(header).fill_null(0))


def _findings_note(places: FindingPlaces) -> str:
    note = " A number of findings links to the line's first finding on Rows to fix"
    if places.overflow:
        return note + f" (or, beyond what that sheet holds, they are in {places.overflow})."
    return note + "."


def _listed(frame: pl.DataFrame) -> tuple[pl.DataFrame, str]:
    """The first ``LISTED_ROWS`` rows, and what the note says when that is not all."""
    limit = contract.LISTED_ROWS
    if frame.height <= limit:
        return frame, ""
    return frame.head(limit), (
        f" The first {limit:,} of {frame.height:,}, in line order, are listed (in Python, "
        "report.central.merged and .no_person_id hold them all)."
    )


def _list_columns(frame: pl.DataFrame, lines: tuple[str, ...]) -> dict[str, Column | str]:
    """How a list of rows is shown: line numbers as plain integers, findings as counts linked
    to Rows to fix (their hidden ``__link:`` columns are not shown)."""
    columns: dict[str, Column | str] = {}
    for name in frame.columns:
        if name.startswith("__link:"):
            continue
        if name in lines:
            columns[name] = INTEGER
        elif f"__link:{name}" in frame.columns:
            columns[name] = Column(format=COUNT, target=f"__link:{name}")
        else:
            columns[name] = Column()
    return columns


#: The merged records' columns, in order, where the workbook has them: the merged row, then
#: the row kept in its place, then why.
KEPT_FINDINGS = "Kept: findings on Rows to fix"
_MERGED_ORDER = (
    "Event type",
    "Line",
    "LA Person Unique Identifier",
    "Event Reference",
    "Event Start Date",
    "End date (DHSC's)",
    FINDINGS_HEADER,
    "Kept instead: line",
    "Kept: LA Person Unique Identifier",
    "Kept: Event Reference",
    KEPT_FINDINGS,
    "Why that row is kept",
)


def _identified(view: CentralView) -> bool:
    """Whether the listed rows' identifiers were looked up (by a validation: there may be
    no rows to list)."""
    return "event_reference" in view.identifiers.columns


def _merged_table(view: CentralView, places: FindingPlaces | None) -> Table:
    frame = view.merged.sort("line").select(
        pl.col("event_type").replace_strict(EVENT_TYPES).alias("Event type"),
        pl.col("line").cast(pl.Int64).alias("Line"),
        pl.col("start").alias("Event Start Date"),
        pl.col("end").alias("End date (DHSC's)"),
        pl.col("kept_line").cast(pl.Int64).alias("Kept instead: line"),
        pl.col("why_kept").alias("Why that row is kept"),
    )
    frame, more = _listed(frame)
    note = (
        "Same LA code, person, start date, event type, client type and the type's own fields "
        "(end date too, except for services; for services also delivery mechanism and the "
        "cost fields), ignoring case. Line is the line of the return (the header is line 1)."
    )
    ids = view.identifiers
    if _identified(view):
        for line, prefix in (("Line", ""), ("Kept instead: line", "Kept: ")):
            frame = frame.join(
                ids.select(
                    pl.col("line").alias(line),
                    pl.col("person_id").alias(f"{prefix}LA Person Unique Identifier"),
                    pl.col("event_reference").alias(f"{prefix}Event Reference"),
                ),
                on=line,
                how="left",
                maintain_order="left",
            )
    else:
        note += (
            " The validation workbook's Central view sheet (cld-validate RETURN --xlsx) also "
            "gives each row's LA Person Unique Identifier and Event Reference."
        )
    if places is not None:
        frame = _findings_column(frame, places)
        frame = _findings_column(frame, places, "Kept instead: line", KEPT_FINDINGS)
        note += _findings_note(places)
    shown = [c for c in _MERGED_ORDER if c in frame.columns]
    frame = frame.select(*shown, *(c for c in frame.columns if c.startswith("__link:")))
    lines = ("Line", "Kept instead: line")
    return Table(
        MERGED_TITLE,
        note + more,
        frame,
        lines,
        _list_columns(frame, lines),
        empty="None: no two records are the same event by DHSC's definition.",
    )


def _no_person_table(view: CentralView, places: FindingPlaces | None) -> Table:
    frame = view.no_person_id.sort("line").select(
        pl.col("event_type").replace_strict(EVENT_TYPES).alias("Event type"),
        pl.col("line").cast(pl.Int64).alias("Line"),
    )
    frame, more = _listed(frame)
    if _identified(view):
        refs = view.identifiers.select(
            pl.col("line").alias("Line"), pl.col("event_reference").alias("Event Reference")
        )
        frame = frame.join(refs, on="Line", how="left", maintain_order="left")
    note = "Rows in the period with neither NHS Number nor LA Person Unique Identifier."
    if places is not None:
        frame = _findings_column(frame, places)
        note += _findings_note(places)
    return Table(
        NO_PERSON_TITLE,
        note + more,
        frame,
        ("Line",),
        _list_columns(frame, ("Line",)),
        empty="None: every row in the period has a person ID.",
    )


def _facts(view: CentralView) -> tuple[Fact, ...]:
    f = view.figures
    rows_in = f["rows_in"]
    in_period = sum(f["events_in_period"].values())
    no_person = f["person_id"]["rows_dropped_no_person_id"]
    merged = sum(f["rows_merged_by_dedup"].values())
    selected = view.selected_for_period
    return (
        Fact("Import date", view.import_date, DATE),
        Fact(
            "Selected for its reporting period",
            "Yes" if selected else "No",
            fill="green" if selected else "amber",
            bold=True,
        ),
        Fact("Rows in the return", rows_in, COUNT),
        Fact("Dropped by the period filter", rows_in - in_period, COUNT),
        Fact("Dropped: no person ID", no_person, COUNT),
        Fact("Merged as repeats of an event", merged, COUNT),
        Fact("Unique events DHSC counts", sum(f["unique_events"].values()), COUNT),
        Fact("People", f["person_id"]["people"], COUNT),
    )


def sheet_content(view: CentralView, places: FindingPlaces | None = None) -> SheetContent:
    """Everything the Central view sheet shows. ``places``: where each listed row's findings
    are on the workbook's Rows to fix sheet, when it has one (:class:`FindingPlaces`)."""
    spec = load_spec()
    f = view.figures
    service_types = spec.values("Service Type")
    stated, derived = view.stated_period, view.derived_period
    used = view.reporting_period
    quarter = (
        datetime.date.fromisoformat(f["costs_quarter"]["start"]),
        datetime.date.fromisoformat(f["costs_quarter"]["end"]),
    )
    periods = pl.DataFrame(
        {
            "Period": [
                "Stated in the return",
                "Derived from the event end dates",
                "Used for the figures here",
                "Costs quarter (last 3 months)",
            ],
            "Start": [stated[0], derived[0], used[0], quarter[0]],
            "End": [stated[1], derived[1], used[1], quarter[1]],
            "Months": [
                f["stated_period_length_months"],
                f["derived_period_length_months"],
                None,
                None,
            ],
        },
        schema={"Period": pl.String, "Start": pl.Date, "End": pl.Date, "Months": pl.Int64},
    )
    inputs = f["derived_period_inputs"]
    months = _months_table(view)
    buckets = pl.DataFrame(
        {
            "Event type": [EVENT_TYPES[b] for b in BUCKETS],
            "Rows in the period": [f["events_in_period"][b] for b in BUCKETS],
            "Dropped by the period filter": [
                f["events_dropped_by_period_filter"][b] for b in BUCKETS
            ],
            "Unique events": [f["unique_events"][b] for b in BUCKETS],
            "Merged as repeats": [f["rows_merged_by_dedup"][b] for b in BUCKETS],
        }
    )
    dropped = view.dropped.rename(
        {"reason": "Reason (the first that applies)", "rows": "Rows"}
        | {b: EVENT_TYPES[b] for b in BUCKETS}
    )
    people = f["person_id"]
    person_table = pl.DataFrame(
        {
            "Person ID from": [
                "NHS Number",
                "LA Code and LA Person Unique Identifier",
                "Neither (row dropped)",
                "All",
            ],
            "Rows": [
                people["rows_from_nhs_number"],
                people["rows_from_la_identifier"],
                people["rows_dropped_no_person_id"],
                sum(f["events_in_period"].values()),
            ],
            "People": [
                people["people_from_nhs_number"],
                people["people_from_la_identifier"],
                None,
                people["people"],
            ],
        },
        schema={"Person ID from": pl.String, "Rows": pl.Int64, "People": pl.Int64},
    )
    by_type = f["services_by_service_type"]
    services = pl.DataFrame(
        {
            "Service type": [*service_types, NOT_MAPPED],
            "Group": [*(service_group(v) for v in service_types), None],
            "Services": [by_type[category_key(v)] for v in service_types] + [by_type["null"]],
        },
        schema={"Service type": pl.String, "Group": pl.String, "Services": pl.Int64},
    )
    lts = f["people_in_long_term_support_at_period_end"]
    lts_table = pl.DataFrame(
        {
            "Setting": [*(_labels(service_types)[k] for k in lts["by_setting"]), "Any setting"],
            "People": [*lts["by_setting"].values(), lts["total"]],
        }
    )
    flags = pl.DataFrame(
        {
            "Events": ["Requests", "Assessments", "Reviews"],
            "In long-term support then": [
                f[f"{k}_lts_flag"]["yes"] for k in ("requests", "assessments", "reviews")
            ],
            "Not": [f[f"{k}_lts_flag"]["no"] for k in ("requests", "assessments", "reviews")],
        }
    )
    cutoff = view.import_date.replace(day=1).strftime("%B %Y")
    period_part = Part(
        "The reporting period DHSC will use",
        (period_sentence(view),),
        (
            Table(
                "Reporting period",
                f"The return states {f['stated_period_count']} distinct reporting period(s). "
                "Months are DHSC's rounded length (days / 30.436875).",
                periods,
            ),
            Table(
                MONTHS_TITLE,
                f"{inputs['events_ending_before_import_month']:,} events end before {cutoff} "
                f"(the import month); at most {inputs['event_types_in_file']} event types end "
                "in one month. "
                + (
                    "Fewer than 100 in all: every month in which one ends counts."
                    if inputs["under_100_events"]
                    else "A month counts with at least 2% of them and at least the most types "
                    "less one."
                )
                + " The derived period runs from the first month that counts to the last. In "
                "the chart below, its months are dark blue; the others grey.",
                months,
                columns={
                    "Month": MONTH,
                    "Events ending": COUNT,
                    "Share of events": PERCENT,
                    "Event types": COUNT,
                    "At least 2%": Column(fills={"No": "amber"}, align="center"),
                    "Enough event types": Column(fills={"No": "amber"}, align="center"),
                    "Month counts": Column(fills={"Yes": "green", "No": "amber"}, align="center"),
                    "In the derived period": Column(align="center"),
                },
                chart=Chart(
                    "Month",
                    ("Events ending",),
                    highlight="In the derived period",
                    y_title="Events",
                    below=True,
                ),
                empty="No event ends before the import month.",
            ),
        ),
    )
    no_person = _no_person_sentence(view, True)
    parts = (
        period_part,
        Part("Will DHSC select this return?", (selection_sentence(view),)),
        Part(
            "Rows DHSC keeps and drops",
            (_dropped_sentence(view, True),),
            (
                Table(
                    "Rows by event type",
                    "Event type as written (any case); 'Other or blank' holds any other value.",
                    buckets,
                ),
                Table(
                    "Rows dropped by the period filter",
                    "Each dropped row under the first reason that applies. DHSC's end date is "
                    "the date of death where that comes first or the end date is blank.",
                    dropped,
                    columns={
                        c: Column() if c == dropped.columns[0] else COUNT for c in dropped.columns
                    },
                    empty="None: every row is an event in the period.",
                ),
            ),
        ),
        Part(
            "People",
            (*([no_person] if no_person else []), _people_sentence(view)),
            (
                Table(
                    "Person IDs, rows in the period", "Distinct IDs, ignoring case.", person_table
                ),
            ),
        ),
        Part("Records DHSC merges as one event", (_merged_sentence(view, True),)),
        Part(
            "The dashboard's headline figures",
            (
                "Counted over the unique events DHSC keeps, as its LA dashboard's fact tables "
                "count them.",
            ),
            (
                Table(
                    SERVICES_TITLE,
                    "Unique service events.",
                    services,
                    chart=Chart("Service type", ("Services",), kind="bar", y_title="Services"),
                ),
                Table(
                    "People in long-term support at the period end",
                    f"Distinct people with a long-term service covering {_day(used[1])}.",
                    lts_table,
                ),
                Table(
                    "Requests by route of access",
                    "Unique requests.",
                    _category_table(
                        f["requests_by_route_of_access"],
                        _labels(spec.values("Request: Route of Access")),
                        "Route of access",
                    ),
                ),
                Table(
                    "Requests by outcome group",
                    "Unique requests, by the outcome of the record DHSC keeps.",
                    _category_table(
                        f["requests_by_outcome_grouped"],
                        _labels(list(OUTCOME_GROUPS)),
                        "Outcome group",
                    ),
                ),
                Table(
                    "Assessments by type",
                    "Unique assessments.",
                    _category_table(
                        f["assessments_by_type"],
                        _labels(spec.values("Assessment Type")),
                        "Assessment type",
                    ),
                ),
                Table(
                    "Reviews by reason",
                    "Unique reviews.",
                    _category_table(
                        f["reviews_by_reason"],
                        _labels(spec.values("Review Reason")),
                        "Review reason",
                    ),
                ),
                Table(
                    "Reviews by type",
                    "DHSC's grouping of the review reason.",
                    _category_table(
                        f["reviews_by_review_type"], _labels(list(REVIEW_TYPES)), "Review type"
                    ),
                ),
                Table(
                    "Events starting during a long-term service",
                    "Events whose start falls in one of the same person's long-term services "
                    "(DHSC's LTS flag).",
                    flags,
                ),
                Table(
                    "Costs in the quarter",
                    f"Services active from {_day(quarter[0])} to {_day(quarter[1])} with a cost; "
                    "weekly cost from the cost frequency (SQL Server's factors, e.g. monthly x "
                    "0.230769) or the planned units.",
                    _costs_table(f, service_types),
                ),
            ),
        ),
        Part(
            "The rows behind these figures",
            (
                "Each row DHSC drops for want of a person ID, and each record it merges into "
                "another, by its line in the return (the header is line 1).",
            ),
            (_no_person_table(view, places), _merged_table(view, places)),
        ),
    )
    return SheetContent(
        title="Central view: what DHSC's pipeline will make of this return",
        subtitle=(
            f"{Path(view.source).name or view.source}: DHSC's published dashboard code "
            f"(central-view-contract.md, version {CONTRACT_VERSION}) run on your own file, "
            "before you submit it."
        ),
        facts=_facts(view),
        parts=parts,
    )


def _costs_table(f: dict[str, Any], service_types: tuple[str, ...]) -> pl.DataFrame:
    blocks = f["costs_by_service_type"]
    labels = _labels(service_types)
    rows = [(labels[k], b) for k, b in blocks.items()] + [("All services", f["costs_total"])]
    return pl.DataFrame(
        {
            "Service type": [r[0] for r in rows],
            "Services": [r[1]["services"] for r in rows],
            "With a weekly cost": [r[1]["services_with_weekly_cost"] for r in rows],
            "Weekly cost, total (£)": [r[1]["weekly_cost_total"] for r in rows],
            "Weekly cost, mean (£)": [r[1]["weekly_cost_mean"] for r in rows],
            "Cost in the quarter (£)": [r[1]["period_cost_total"] for r in rows],
        },
        schema={
            "Service type": pl.String,
            "Services": pl.Int64,
            "With a weekly cost": pl.Int64,
            "Weekly cost, total (£)": pl.Float64,
            "Weekly cost, mean (£)": pl.Float64,
            "Cost in the quarter (£)": pl.Float64,
        },
    )


# --- writing it -------------------------------------------------------------------------------


def render(sheet: Sheet, content: SheetContent) -> None:
    """Write ``content`` on ``sheet`` (a sheet of a :class:`~cld_polars.presentation.Book`)."""
    sheet.title(content.title, content.subtitle)
    sheet.heading("At a glance")
    sheet.facts(content.facts)
    for part in content.parts:
        sheet.heading(part.heading)
        for sentence in part.sentences:
            sheet.paragraph(sentence)
        for table in part.tables:
            columns = dict(table.columns or {c: Column() for c in table.frame.columns})
            first = table.frame.columns[0]
            if table.frame.schema[first] == pl.String and columns.get(first) == Column():
                columns[first] = Column(width=LABEL_WIDTH, wrap=True)
            placed = sheet.table(
                table.frame, columns, title=table.title, note=table.note, empty=table.empty
            )
            chart = table.chart
            if chart is not None and table.frame.height:
                sheet.chart(
                    placed,
                    categories=chart.categories,
                    values=list(chart.values),
                    kind=chart.kind,
                    highlight=chart.highlight,
                    y_title=chart.y_title,
                    below=chart.below,
                    width=24.0 if chart.below else 16.0,
                    height=9.0 if chart.kind == "col" else 7.5,
                )


def central_command(source: str, workbook: str = "central.xlsx", import_date: str = "") -> str:
    """The ``cld-validate central`` command line for a return."""
    date = f" --import-date {import_date}" if import_date else ""
    return (
        f"cld-validate central {command_arg(source)}{date} "
        f"--xlsx {command_arg(workbook, 'central.xlsx')}"
    )


def render_unavailable(sheet: Sheet, source: str, problem: str) -> None:
    """The sheet when the view cannot be worked out from the return alone (no valid stated
    period end, so no import date to assume): one paragraph saying why and how to get it."""
    sheet.title("Central view: what DHSC's pipeline will make of this return")
    reason, _, _ = problem.partition(": give ")
    command = central_command(source, import_date="YYYY-MM-DD")
    if "--period-start" in problem:
        command = command.replace(" --xlsx", " --period-start D --period-end D --xlsx")
    sheet.paragraph(
        "The central view cannot be worked out from this return alone: "
        f"{reason}. DHSC imports a return about a month after its period ends and derives the "
        "reporting period from the events ending before the month it imports it, so that "
        "date has to be known. Correct the Reporting Period End Date (see Rows to fix), or "
        f"run {command} with the date DHSC will import the file (for a period ending "
        "30/09/2025, 2025-11-01)."
    )


def _rerun(view: CentralView, workbook: Path) -> str:
    command = central_command(view.source, workbook.name, view.import_date.isoformat())
    if view.reporting_period != view.stated_period:
        start, end = view.reporting_period
        command += f" --period-start {start.isoformat()} --period-end {end.isoformat()}"
    return command


def _instructions(book: Book, view: CentralView, workbook: Path) -> None:
    sheet = book.sheet(INSTRUCTIONS, gridlines=False)
    sheet.title(
        "The central view: read this first",
        "This workbook is what DHSC's central pipeline and LA dashboard will make of one "
        "Client Level Data return, worked out from your own file before you submit it.",
    )
    sheet.heading("What was worked out")
    sheet.facts(
        [
            Fact("File", Path(view.source).name or view.source),
            Fact(
                "Method",
                "DHSC's published dashboard code (DataS-DHSC/ASC-CLD-LA-Dashboard), as "
                f"central-view-contract.md, version {CONTRACT_VERSION}, defines it",
            ),
            Fact("Import date", view.import_date, DATE),
            Fact("Reporting period counted", _span(*view.reporting_period)),
            Fact("Rows in the return", view.figures["rows_in"], COUNT),
            Fact("Tool", f"cld_polars {__version__}"),
        ]
    )
    sheet.heading("How to read the sheet")
    guide = pl.DataFrame(
        {"Sheet": [SHEET], "What it shows": [GUIDE[0]], "How to use it": [GUIDE[1]]}
    )
    sheet.table(guide, SHEET_GUIDE)
    sheet.heading("What DHSC does to a return")
    for step in (
        "1. It derives the months the return covers from the event end dates: a month counts "
        "with at least 2% of the events ending before the import month and nearly as many "
        "event types as the busiest month.",
        "2. It selects the return for a 12-month period only if the derived period covers it "
        "and the file was imported after it ended.",
        "3. It keeps the events in the period, identifies each person by NHS Number, else by "
        "LA Code and LA Person Unique Identifier (ignoring case), and drops rows with neither.",
        "4. It merges records it takes for one event, keeping one, and only then counts: "
        "services, long-term support, requests, assessments, reviews and costs.",
    ):
        sheet.paragraph(step)
    sheet.paragraph(
        "Values are compared as DHSC's database compares them (ignoring case and surrounding "
        "spaces); a value that is not a Release 2 value counts as blank. Dates must be "
        "dd/mm/yyyy. The validation workbook (cld-validate RETURN --xlsx) has the same sheet, "
        "with each listed row's identifiers and findings."
    )
    sheet.heading("How to re-run")
    sheet.facts([Fact("Command", _rerun(view, workbook))])


def write_workbook(view: CentralView, path: Path) -> Path:
    """The Instructions and Central view sheets as a workbook, written whole or not at all."""
    path = Path(path)
    book = Book(
        title=f"CLD central view: {Path(view.source).name or view.source}",
        creator=f"cld_polars {__version__}",
    )
    _instructions(book, view, path)
    render(book.sheet(SHEET), sheet_content(view))
    return book.save(path)


def terminal_summary(view: CentralView) -> str:
    """A few lines for the terminal, in analyst terms."""
    f = view.figures
    lines = [f"{shown(view.source)}: the central view (what DHSC's pipeline would make of it)"]
    lines += [f"  {s}" for s in sentences(view, sheet=False)]
    lines.append(
        "  Unique events: "
        + ", ".join(f"{EVENT_TYPES[b].lower()} {f['unique_events'][b]:,}" for b in BUCKETS)
    )
    lts = f["people_in_long_term_support_at_period_end"]["total"]
    total = f["costs_total"]
    lines.append(
        f"  People in long-term support at the period end: {lts:,}. Costs in the quarter "
        f"{f['costs_quarter']['start']} to {f['costs_quarter']['end']}: "
        f"{total['services']:,} services, weekly £{total['weekly_cost_total']:,.2f}, "
        f"quarter £{total['period_cost_total']:,.2f}."
    )
    return "\n".join(lines)


__all__ = [
    "GUIDE",
    "PLACES_SCHEMA",
    "SHEET",
    "FindingPlaces",
    "Part",
    "SheetContent",
    "Table",
    "period_sentence",
    "render",
    "render_unavailable",
    "selection_sentence",
    "sentences",
    "sheet_content",
    "terminal_summary",
    "write_workbook",
]
