"""The Central view sheet's content, and a plain workbook and terminal summary of it.

``sheet_content(view)`` is everything the sheet says, as data: the sentences that explain the
view in analyst terms and titled tables (Polars frames with display headers). Rendering is
separate (``write_workbook`` here is deliberately plain: the shared presentation module will
render the same content on the validation workbook's sheet).
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from cld_polars.central.derive import (
    BUCKETS,
    OUTCOME_GROUPS,
    category_key,
    service_group,
)
from cld_polars.central.facts import REVIEW_TYPES
from cld_polars.central.view import CentralView
from cld_polars.report import write_atomic_with
from cld_polars.spec import load_spec

SHEET = "Central view"
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


@dataclass(frozen=True)
class Table:
    """One titled table of the sheet. ``line_columns`` hold line numbers of the return (the
    sheet can link them to the rows, in the Rows to fix style)."""

    title: str
    note: str
    frame: pl.DataFrame
    line_columns: tuple[str, ...] = ()


@dataclass(frozen=True)
class SheetContent:
    title: str
    sentences: tuple[str, ...]
    tables: tuple[Table, ...]


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


def sentences(view: CentralView, *, sheet: bool = True) -> tuple[str, ...]:
    """The plain sentences above the tables (``sheet=False``: for the terminal, which points
    to the workbook for the lists)."""
    listed = "listed below" if sheet else "listed in the --xlsx workbook"
    f = view.figures
    rows = f["rows_in"]
    kept = sum(f["events_in_period"].values())
    dropped = rows - kept
    people = f["person_id"]
    merged = sum(f["rows_merged_by_dedup"].values())
    unique = sum(f["unique_events"].values())
    start, end = view.reporting_period
    out = [period_sentence(view), selection_sentence(view)]
    if dropped:
        out.append(
            f"Of the {rows:,} rows, {kept:,} are events in {_span(start, end)}; DHSC's period "
            f"filter drops the other {dropped:,} (why, by event type: 'Rows dropped by the "
            f"period filter'{'' if sheet else ' in the --xlsx workbook'})."
        )
    else:
        out.append(f"All {rows:,} rows are events in {_span(start, end)}.")
    if people["rows_dropped_no_person_id"]:
        out.append(
            f"{_rows(people['rows_dropped_no_person_id'])} in the period "
            f"{'has' if people['rows_dropped_no_person_id'] == 1 else 'have'} neither an NHS "
            f"Number nor an LA Person Unique Identifier: DHSC drops them ({listed})."
        )
    out.append(
        f"DHSC identifies people by NHS Number where given ({people['rows_from_nhs_number']:,} "
        f"rows), else by LA Code and LA Person Unique Identifier "
        f"({people['rows_from_la_identifier']:,} rows), ignoring case: "
        f"{people['people']:,} people."
    )
    if merged:
        out.append(
            f"DHSC takes {merged:,} records as repeats of another record's event and keeps one "
            f"record per event ({unique:,} in all): the open or latest-ending one, then the "
            f"outcome highest in its hierarchy, then the later row ({listed}, with the row "
            "kept)."
        )
    else:
        out.append(f"No two records are the same event by DHSC's definition: {unique:,} events.")
    return tuple(out)


def _rows(n: int) -> str:
    return f"{n:,} row" if n == 1 else f"{n:,} rows"


def _labels(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    return {**{category_key(v): v for v in values}, "null": NOT_MAPPED}


def _category_table(counts: dict[str, int], labels: dict[str, str], header: str) -> pl.DataFrame:
    return pl.DataFrame(
        {header: [labels[k] for k in counts], "Count": list(counts.values())},
        schema={header: pl.String, "Count": pl.Int64},
    )


def sheet_content(view: CentralView) -> SheetContent:
    """Everything the Central view sheet shows: sentences, then titled tables."""
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
    months = view.months.select(
        pl.col("month").alias("Month"),
        pl.col("events").alias("Events ending"),
        pl.col("share").alias("Share of events"),
        pl.col("event_types").alias("Event types"),
        pl.col("meets_share").alias("At least 2%"),
        pl.col("meets_types").alias("Enough event types"),
        pl.col("qualifies").alias("Counts towards the derived period"),
    )
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
    no_person = view.no_person_id.select(
        pl.col("line").cast(pl.Int64).alias("Line"),
        pl.col("event_type").replace_strict(EVENT_TYPES).alias("Event type"),
    )
    merged = view.merged.select(
        pl.col("line").cast(pl.Int64).alias("Line"),
        pl.col("kept_line").cast(pl.Int64).alias("Kept instead: line"),
        pl.col("event_type").replace_strict(EVENT_TYPES).alias("Event type"),
        pl.col("start").alias("Event Start Date"),
        pl.col("end").alias("End date (DHSC's)"),
        pl.col("why_kept").alias("Why that row is kept"),
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
    costs = _costs_table(f, service_types)
    tables = (
        Table(
            "Reporting period",
            f"The return states {f['stated_period_count']} distinct reporting period(s). Months "
            "are DHSC's rounded length (days / 30.436875).",
            periods,
        ),
        Table(
            "Events ending by month, before the import month",
            f"{inputs['events_ending_before_import_month']:,} events end before "
            f"{view.import_date.replace(day=1).strftime('%B %Y')} (the import month); at most "
            f"{inputs['event_types_in_file']} event types end in one month. "
            + (
                "Fewer than 100 in all: every month counts."
                if inputs["under_100_events"]
                else "A month counts with at least 2% of them and at least the most types less one."
            ),
            months,
        ),
        Table(
            "Rows by event type",
            "Event type as written (any case); 'Other or blank' holds any other value.",
            buckets,
        ),
        Table(
            "Rows dropped by the period filter",
            "Each dropped row under the first reason that applies. DHSC's end date is the date "
            "of death where that comes first or the end date is blank.",
            dropped,
        ),
        Table("Person IDs, rows in the period", "Distinct IDs, ignoring case.", person_table),
        Table(
            "Rows with no person ID",
            "Rows in the period with neither NHS Number nor LA Person Unique Identifier.",
            no_person,
            ("Line",),
        ),
        Table(
            "Records merged as repeats of one event",
            "Same LA code, person, start date, event type, client type and the type's own "
            "fields (end date too, except for services; for services also delivery mechanism "
            "and the cost fields), ignoring case.",
            merged,
            ("Line", "Kept instead: line"),
        ),
        Table("Services by service type", "Unique service events.", services),
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
                f["requests_by_outcome_grouped"], _labels(list(OUTCOME_GROUPS)), "Outcome group"
            ),
        ),
        Table(
            "Assessments by type",
            "Unique assessments.",
            _category_table(
                f["assessments_by_type"], _labels(spec.values("Assessment Type")), "Assessment type"
            ),
        ),
        Table(
            "Reviews by reason",
            "Unique reviews.",
            _category_table(
                f["reviews_by_reason"], _labels(spec.values("Review Reason")), "Review reason"
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
            "Events whose start falls in one of the same person's long-term services (DHSC's "
            "LTS flag).",
            flags,
        ),
        Table(
            "Costs in the quarter",
            f"Services active from {_day(quarter[0])} to {_day(quarter[1])} with a cost; "
            "weekly cost from the cost frequency (SQL Server's factors, e.g. monthly x "
            "0.230769) or the planned units.",
            costs,
        ),
    )
    return SheetContent(
        title="Central view: what DHSC's pipeline will make of this return",
        sentences=sentences(view),
        tables=tables,
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


# --- rendering ------------------------------------------------------------------------------


#: Rows of one table the plain workbook writes (the merged-record list can run to the
#: return's size); the rest are counted in a note under the table.
MAX_TABLE_ROWS = 10_000
_WIDTHS = (46, 16, 16, 16, 16, 16, 34)
_HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")


def _cell_format(column: str, value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, datetime.date):
        return "MMM YYYY" if column == "Month" else "DD/MM/YYYY"
    if column.startswith("Share"):
        return "0.0%"
    if "(£)" in column:
        return "£#,##0.00"
    if isinstance(value, int):
        return "#,##0"
    return None


def write_workbook(view: CentralView, path: Path) -> Path:
    """The sheet's content as a plain one-sheet workbook, written whole or not at all. Text
    cells are always text (never a formula); long tables are cut at ``MAX_TABLE_ROWS``."""
    content = sheet_content(view)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = SHEET
    # Printed (and rendered) one page wide, as many long as it takes.
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    for i, width in enumerate(_WIDTHS, 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    line_chars = sum(_WIDTHS) * 0.95
    at = 0

    def put(
        values: list[object],
        *,
        font: Font | None = None,
        fill: PatternFill | None = None,
        header: bool = False,
        columns: list[str] | None = None,
    ) -> None:
        nonlocal at
        at += 1
        for i, value in enumerate(values, 1):
            if isinstance(value, bool):
                value = "yes" if value else "no"
            cell = ws.cell(row=at, column=i, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the text
            fmt = _cell_format(columns[i - 1], value) if columns else None
            if fmt:
                cell.number_format = fmt
            if font is not None:
                cell.font = font
            if fill is not None:
                cell.fill = fill
            if header:
                cell.alignment = Alignment(wrap_text=True, vertical="top")

    def paragraph(text: str, font: Font | None = None) -> None:
        put([text], font=font)
        ws.merge_cells(start_row=at, start_column=1, end_row=at, end_column=len(_WIDTHS))
        ws.cell(row=at, column=1).alignment = Alignment(wrap_text=True, vertical="top")
        ws.row_dimensions[at].height = 15 * max(1, math.ceil(len(text) / line_chars))

    put([content.title], font=Font(bold=True, size=14))
    put([f"Return: {view.source}"], font=Font(italic=True, color="555555"))
    for sentence in content.sentences:
        paragraph(sentence)
    for table in content.tables:
        at += 1
        put([table.title], font=Font(bold=True, size=12))
        paragraph(table.note, Font(italic=True, color="555555"))
        columns = table.frame.columns
        put(list(columns), font=Font(bold=True), fill=_HEADER_FILL, header=True, columns=None)
        lines = max(math.ceil(len(c) / (w * 0.7)) for c, w in zip(columns, _WIDTHS, strict=False))
        ws.row_dimensions[at].height = 15 * max(1, lines)
        for values in table.frame.head(MAX_TABLE_ROWS).rows():
            put(list(values), columns=columns)
        if table.frame.height == 0:
            put(["(none)"], font=Font(italic=True))
        elif table.frame.height > MAX_TABLE_ROWS:
            paragraph(
                f"The first {MAX_TABLE_ROWS:,} of {table.frame.height:,} rows are shown.",
                Font(italic=True),
            )

    def save(tmp: Path) -> None:
        wb.save(tmp)

    return write_atomic_with(path, save)


def terminal_summary(view: CentralView) -> str:
    """A few lines for the terminal, in analyst terms."""
    f = view.figures
    lines = [f"{view.source}: the central view (what DHSC's pipeline would make of it)"]
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
    "SHEET",
    "SheetContent",
    "Table",
    "period_sentence",
    "selection_sentence",
    "sentences",
    "sheet_content",
    "terminal_summary",
    "write_workbook",
]
