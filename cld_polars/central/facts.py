"""From the gathered per-row state to the contract's figures: periods, filter, person IDs,
unique events and the LA dashboard's fact tables (contract sections 1 and 3).

Each step cites the SQL it follows (``dhsc-la-dashboard/``, by file and line). Everything is
a Polars query over the compact state of :mod:`cld_polars.central.derive`.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl

from cld_polars.central.contract import CONTRACT_VERSION
from cld_polars.central.derive import (
    BUCKETS,
    FROM_LA,
    FROM_NHS,
    NO_HIERARCHY,
    NO_PERSON,
    OUTCOME_GROUPS,
    OUTCOME_HIERARCHY,
    REVIEW_TYPES,
    SERVICE_GROUPS,
    Collector,
    Lists,
    category_key,
    outcome_group,
    service_group,
)
from cld_polars.central.view import CentralError, CentralView

if TYPE_CHECKING:
    from polars.expr.whenthen import ChainedThen, Then

#: DATEDIFF(DAY, ...) / 30.436875 (create_REF_Submission_Reporting_Periods_table.sql line 31).
DAYS_PER_MONTH = 30.436875
#: @Min_n and @Min_pct (same file, lines 11-12).
MIN_EVENTS, MIN_PERCENT = 100, 2
#: What the single-submission ranking puts in place of a NULL end date
#: (create_GetUniqueEvents_procedure.sql line 74): the string converts to this DATE, so a real
#: end date after it would rank above an open event.
OPEN_END = datetime.date(9999, 1, 1)
#: The weekly factors of 6.Costs_fact.sql lines 54-59 as SQL Server computes them (decimal
#: division, 6 places, truncated: contract rule 5), by the start of the cleaned frequency.
WEEKLY_FACTORS = (
    ("week", 1.0),
    ("fortnight", 0.5),
    ("4-week", 0.25),
    ("month", 0.230769),
    ("quarter", 0.076923),
    ("annual", 0.019230),
)
#: Why the period filter dropped a row (FilterToEventsInPeriod lines 142-154): the first of
#: these that holds is the reason given.
DROP_REASONS = (
    "no Event Type",
    "no valid Event Start Date (dd/mm/yyyy)",
    "started after the period end",
    "not a service, and no end date",
    "ended before the period start",
    "not a service, and ended after the period end",
    "date of death before the period start or the event start",
)
#: Why the record kept for a unique event was kept over a merged one (the ranking of
#: create_GetUniqueEvents_procedure.sql lines 73-77).
KEPT_BECAUSE = (
    "open (no end date) or later end date",
    "outcome higher in the hierarchy",
    "later in the file",
)


def finish(
    collector: Collector,
    *,
    import_date: datetime.date | None = None,
    period_start: datetime.date | None = None,
    period_end: datetime.date | None = None,
    source: str = "",
    keep_events: bool = True,
) -> CentralView:
    """The central view from a return's gathered state and the parameters of section 1.

    Takes the collector's per-row state (it is freed as the steps go): call it once per
    collector. ``keep_events=False`` leaves ``CentralView.unique_events`` empty (a
    validation run does not keep them: memory). Raises :class:`CentralError` when a
    parameter is needed and cannot be taken from the return (no valid stated period end for
    the import date; no period at all).
    """
    if (period_start is None) != (period_end is None):
        raise CentralError("give both --period-start and --period-end, or neither")
    lists = collector.lists
    stated_start, stated_end = collector.stated_start, collector.stated_end
    if import_date is None:
        if stated_end is None:
            raise CentralError(
                "the return has no valid Reporting Period End Date (dd/mm/yyyy), so the "
                "import date cannot be assumed: give --import-date YYYY-MM-DD"
            )
        try:
            import_date = _add_month(stated_end + datetime.timedelta(days=1))
        except (OverflowError, ValueError) as exc:  # a stated end in December 9999
            raise CentralError(
                f"the stated period end {stated_end.isoformat()} leaves no later import date: "
                "give --import-date YYYY-MM-DD"
            ) from exc
    months, derived_inputs = _derived_months(collector, import_date)
    qualifying = months.filter("qualifies")["month"]
    first_month, last_month = qualifying.min(), qualifying.max()
    derived_start = first_month if isinstance(first_month, datetime.date) else None
    derived_end = _month_end(last_month) if isinstance(last_month, datetime.date) else None
    if period_start is not None and period_end is not None:
        start, end = period_start, period_end
    elif stated_start is not None and stated_end is not None:
        start, end = stated_start, stated_end
    elif derived_start is not None and derived_end is not None:
        start, end = derived_start, derived_end
    else:
        raise CentralError(
            "the return states no valid reporting period and none can be derived from its "
            "event end dates: give --period-start and --period-end"
        )
    # GetSubmissions lines 51-61 with @SubmissionReportingPeriod = 'Derived' and the import
    # date as the "as of" date (CONVERT(date, ImportDate) <= it always holds).
    selected = (
        derived_start is not None
        and derived_end is not None
        and derived_start <= start
        and derived_end >= end
        and import_date > end
    )
    quarter_start = _add_months(end.replace(day=1), -2)

    # The rows: the whole state, kept whole; the steps are masks and queries over it, so
    # that no second copy of it is made (the unique events are a filter of it).
    state = collector.take_state()
    kept = _kept(state, start, end)
    rows_by_bucket = _by_bucket(state)
    in_period = _by_bucket(state.filter(kept))
    dropped = _dropped(state, kept, start, end)
    no_person = state.filter(kept & (pl.col("person_from") == NO_PERSON)).select(
        "line", _bucket_name()
    )
    into, people = _person_ids(state, kept)
    del kept
    into_by_bucket = _by_bucket(state.filter(into))
    first, merged = _unique_events(state, into, collector)
    del into
    unique = state.lazy().filter(first)
    unique_by_bucket = _by_bucket(unique)
    facts = _facts(unique, lists, end)
    costs, cost_blocks = _costs(unique, collector, quarter_start, end)
    figures: dict[str, Any] = {
        "contract_version": CONTRACT_VERSION,
        "import_date": import_date.isoformat(),
        "rows_in": collector.rows,
        "stated_period": _period(stated_start, stated_end),
        "stated_period_count": len(collector.stated_pairs),
        "stated_period_length_months": _length(stated_start, stated_end),
        "derived_period": _period(derived_start, derived_end),
        "derived_period_length_months": _length(derived_start, derived_end),
        "derived_period_inputs": derived_inputs,
        "reporting_period": _period(start, end),
        "selected_for_period": bool(selected),
        "events_in_period": in_period,
        "events_dropped_by_period_filter": {b: rows_by_bucket[b] - in_period[b] for b in BUCKETS},
        "person_id": people,
        "unique_events": unique_by_bucket,
        "rows_merged_by_dedup": {b: into_by_bucket[b] - unique_by_bucket[b] for b in BUCKETS},
        **facts,
        "costs_quarter": _period(quarter_start, end),
        **cost_blocks,
    }
    return CentralView(
        figures=figures,
        source=source,
        months=months,
        dropped=dropped,
        no_person_id=no_person,
        merged=merged,
        unique_events=_unique_table(unique, lists) if keep_events else pl.LazyFrame(),
        costs=costs,
    )


def _by_bucket(frame: pl.DataFrame | pl.LazyFrame) -> dict[str, int]:
    counts = _count_by(frame, "bucket")
    return {b: counts.get(i, 0) for i, b in enumerate(BUCKETS)}


# --- periods -------------------------------------------------------------------------------


def _add_months(day: datetime.date, months: int) -> datetime.date:
    """DATEADD(MONTH, n, day): the same day of the month, or the month's last day."""
    year, month = divmod(day.year * 12 + day.month - 1 + months, 12)
    first = datetime.date(year, month + 1, 1)
    return min(first + datetime.timedelta(days=day.day - 1), _month_end(first))


def _add_month(day: datetime.date) -> datetime.date:
    return _add_months(day, 1)


def _month_end(day: datetime.date) -> datetime.date:
    """EOMONTH(day)."""
    following = datetime.date(day.year + day.month // 12, day.month % 12 + 1, 1)
    return following - datetime.timedelta(days=1)


def _period(start: datetime.date | None, end: datetime.date | None) -> dict[str, str | None]:
    return {
        "start": None if start is None else start.isoformat(),
        "end": None if end is None else end.isoformat(),
    }


def _length(start: datetime.date | None, end: datetime.date | None) -> int | None:
    """CAST(ROUND(DATEDIFF(DAY, start, end) / 30.436875, 0) AS INT). The quotient is never
    within 1e-5 of a half (30.436875 = 48699/1600 and 48699 is odd), so rounding the double
    is SQL Server's rounding of its 9-place decimal."""
    if start is None or end is None:
        return None
    days = (end - start).days
    quotient = days / DAYS_PER_MONTH
    return int(math.copysign(math.floor(abs(quotient) + 0.5), quotient))


def _derived_months(
    collector: Collector, import_date: datetime.date
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Events_Ending_by_Month and the thresholds (create_REF_Submission_Reporting_Periods
    lines 14-27, 54-89): rows whose raw Event_End_Date is before the import month, by month;
    a month qualifies with at least 2% of them and at least the most event types of any month
    less one, or always when there are fewer than 100 in all."""
    cutoff = import_date.replace(day=1)
    schema = {"month": pl.Date, "_type": pl.String, "len": pl.UInt32}
    parts = collector.month_parts or [pl.DataFrame(schema=schema)]
    per_month = (
        pl.concat(parts)
        .lazy()
        .filter(pl.col("month") < cutoff)
        .group_by("month")
        .agg(
            pl.col("len").sum().cast(pl.Int64).alias("events"),
            # COUNT(DISTINCT Event_Type): NULL is not counted.
            pl.col("_type").drop_nulls().n_unique().cast(pl.Int64).alias("event_types"),
        )
        .sort("month")
        .collect()
    )
    total = int(per_month["events"].sum()) if per_month.height else 0
    most_types = int(per_month.select(pl.col("event_types").max()).item() or 0)
    few = total < MIN_EVENTS
    months = per_month.with_columns(
        (pl.col("events") / total if total else pl.lit(None, dtype=pl.Float64)).alias("share"),
        (100 * pl.col("events") >= MIN_PERCENT * total).alias("meets_share"),
        (pl.col("event_types") >= most_types - 1).alias("meets_types"),
    ).with_columns(
        (pl.lit(few) | (pl.col("meets_share") & pl.col("meets_types"))).alias("qualifies")
    )
    inputs = {
        "events_ending_before_import_month": total,
        "event_types_in_file": most_types,
        "months_with_events": per_month.height,
        "months_meeting_thresholds": int(months["qualifies"].sum()),
        "under_100_events": few,
    }
    return months, inputs


# --- the rows: filter, person IDs, unique events -------------------------------------------


def _kept(state: pl.DataFrame, start: datetime.date, end: datetime.date) -> pl.Series:
    """FilterToEventsInPeriod lines 142-154, per row (NULL as not kept)."""
    first, last, death = pl.col("start"), pl.col("end"), pl.col("death")
    service = pl.col("service_like")
    ok = (
        (~service & last.is_between(start, end) & (first <= end))
        | (service & ((last >= start) | last.is_null()) & (first <= end))
    ) & (death.is_null() | ((death >= start) & (death >= first)))
    return state.select(ok.fill_null(False)).to_series()


def _dropped(
    state: pl.DataFrame, kept: pl.Series, start: datetime.date, end: datetime.date
) -> pl.DataFrame:
    """Rows the period filter drops, by the first reason that holds and event type."""
    first, last, death = pl.col("start"), pl.col("end"), pl.col("death")
    service = pl.col("service_like")
    tests = (
        service.is_null(),
        first.is_null(),
        first > end,
        ~service & last.is_null(),
        last < start,
        ~service & (last > end),
        death.is_not_null() & ((death < start) | (death < first)),
    )
    reason: Then | ChainedThen = pl.when(tests[0]).then(pl.lit(DROP_REASONS[0]))
    for test, text in zip(tests[1:], DROP_REASONS[1:], strict=True):
        reason = reason.when(test).then(pl.lit(text))
    counted = state.filter(~kept).group_by(reason.alias("reason"), "bucket").len()
    cells = {(r, b): n for r, b, n in counted.rows()}  # at most 7 x 5 cells
    table = pl.DataFrame(
        {
            "reason": list(DROP_REASONS),
            **{b: [cells.get((r, i), 0) for r in DROP_REASONS] for i, b in enumerate(BUCKETS)},
        },
        schema={"reason": pl.String, **dict.fromkeys(BUCKETS, pl.Int64)},
    )
    return table.with_columns(pl.sum_horizontal(*BUCKETS).alias("rows")).filter(pl.col("rows") > 0)


def _person_ids(state: pl.DataFrame, kept: pl.Series) -> tuple[pl.Series, dict[str, int]]:
    """GetDerivedFields lines 101-105 and 121-122 over the kept rows: where each row's person
    ID comes from, the distinct IDs of each kind, and (a mask) the rows going on to
    deduplication."""
    source = pl.col("person_from")
    people = (
        state.lazy()
        .filter(kept)
        .select(
            (source == FROM_NHS).sum().alias("rows_from_nhs_number"),
            (source == FROM_LA).sum().alias("rows_from_la_identifier"),
            (source == NO_PERSON).sum().alias("rows_dropped_no_person_id"),
            pl.col("person").filter(source == FROM_NHS).n_unique().alias("people_from_nhs_number"),
            pl.col("person")
            .filter(source == FROM_LA)
            .n_unique()
            .alias("people_from_la_identifier"),
            pl.col("person").drop_nulls().n_unique().alias("people"),
        )
        .collect()
        .row(0, named=True)
    )
    into = kept & state.select(source != NO_PERSON).to_series()
    return into, {k: int(v) for k, v in people.items()}


def _hierarchy(lists: Lists) -> pl.Expr:
    """Event_Outcome_Hierarchy of the cleaned outcome; NULL (no match) ranks as 999."""
    return pl.col("outcome").replace_strict(
        list(range(len(lists.outcome))),
        [OUTCOME_HIERARCHY.get(v, NO_HIERARCHY) for v in lists.outcome],
        default=NO_HIERARCHY,
        return_dtype=pl.Int64,
    )


#: Bits of the record order (``_unique_events``): the rank end date's days from 0001-01-01
#: (under 2**22 up to 9999-12-31), the outcome hierarchy (capped at 511: only its order
#: matters) and the line (under 2**32).
_DAY_ZERO = datetime.date(1, 1, 1)
_LINE_BITS, _HIERARCHY_BITS, _DAY_BITS = 32, 9, 22


def _unique_events(
    state: pl.DataFrame, into: pl.Series, collector: Collector
) -> tuple[pl.Series, pl.DataFrame]:
    """GetUniqueEvents('Single') over the rows ``into`` (in the period, with a person ID): a
    mask of the record kept for each unique event, the first by end date (NULL as
    9999-01-01) descending, outcome hierarchy ascending, record ID (the row) descending
    (Der_Conversation is NULL on every row: rule 3); and the merged records, each with the
    row kept in its place.

    The three sort keys are packed into one Int64 that is larger for the record ranked
    first, so each event's kept record is the one holding its maximum (one window, no sort).
    Rows outside ``into`` form partitions of their own (the mask is part of the key).
    """
    days = (pl.col("end").fill_null(OPEN_END) - pl.lit(_DAY_ZERO)).dt.total_days()
    hierarchy = pl.min_horizontal(_hierarchy(collector.lists), 2**_HIERARCHY_BITS - 1)
    order = (
        days * 2**_HIERARCHY_BITS + (2**_HIERARCHY_BITS - 1 - hierarchy)
    ) * 2**_LINE_BITS + pl.col("line").cast(pl.Int64)
    # Unit cost and planned units compare as NUMERIC(18,2) (their VARCHAR form is one per
    # value): the rank of each raw value's hundredths among all values met.
    amount = pl.lit(collector.values.get_column("cents").rank("dense").cast(pl.UInt32))
    # The unique-event partition (GetDerivedFields lines 54-66, GetUniqueEvents lines 67-72):
    # the LA code, the raw text fields (``kind``), the person, the start date, the end date of
    # events that are not services, and for services the cleaned delivery mechanism and
    # frequency, unit cost and planned units (NULL on other rows: ``derive.row_state``).
    key = [
        pl.col("la"),
        pl.col("kind"),
        pl.col("person"),
        pl.col("start"),
        pl.when(~pl.col("service_like")).then(pl.col("end")),
        pl.col("delivery"),
        amount.gather(pl.col("cost")),
        pl.col("frequency"),
        amount.gather(pl.col("units")),
        pl.col("_into"),
    ]
    ranked = (
        state.lazy()
        .with_columns(into.alias("_into"))
        .select(order.alias("_order"), order.max().over(key).alias("_best"))
        .collect()
    )
    is_best = ranked.select(pl.col("_order") == pl.col("_best")).to_series()
    first, repeats = into & is_best, into & ~is_best
    merged = pl.concat(
        [
            state.filter(repeats).select("line", _bucket_name(), "start", "end"),
            ranked.filter(repeats).select(
                (pl.col("_best") % 2**_LINE_BITS).cast(pl.UInt32).alias("kept_line"),
                _why_kept(),
            ),
        ],
        how="horizontal",
    ).select("line", "kept_line", "event_type", "start", "end", "why_kept")
    return first, merged


def _why_kept() -> pl.Expr:
    """The first ranking rule on which the kept record (``_best``) beats a merged one."""
    return (
        pl.when(
            _rank(pl.col("_best"), _LINE_BITS + _HIERARCHY_BITS)
            != _rank(pl.col("_order"), _LINE_BITS + _HIERARCHY_BITS)
        )
        .then(pl.lit(KEPT_BECAUSE[0]))
        .when(_rank(pl.col("_best"), _LINE_BITS) != _rank(pl.col("_order"), _LINE_BITS))
        .then(pl.lit(KEPT_BECAUSE[1]))
        .otherwise(pl.lit(KEPT_BECAUSE[2]))
        .alias("why_kept")
    )


def _rank(order: pl.Expr, bits: int) -> pl.Expr:
    """The packed order without its lowest ``bits`` (the keys after the one compared)."""
    return order // 2**bits


def _bucket_name() -> pl.Expr:
    return (
        pl.col("bucket")
        .replace_strict(list(range(len(BUCKETS))), list(BUCKETS), return_dtype=pl.String)
        .alias("event_type")
    )


# --- fact tables ------------------------------------------------------------------------------


def _count_by(frame: pl.DataFrame | pl.LazyFrame, column: str) -> dict[int | None, int]:
    """Rows per value of a code column (None: NULL)."""
    counted = frame.lazy().group_by(column).len().collect()
    return {
        k: int(v) for k, v in zip(counted[column].to_list(), counted["len"].to_list(), strict=True)
    }


def _category_map(counts: dict[int | None, int], values: Sequence[str]) -> dict[str, int]:
    """Every listed value's key (zeros included), then ``null``."""
    out = {category_key(v): counts.get(i, 0) for i, v in enumerate(values)}
    out["null"] = counts.get(None, 0)
    return out


def _grouped_map(
    counts: dict[int | None, int], values: Sequence[str], groups: Sequence[str], group_of: Any
) -> dict[str, int]:
    out = dict.fromkeys((category_key(g) for g in groups), 0)
    out["null"] = counts.get(None, 0)
    for i, value in enumerate(values):
        out[category_key(group_of(value))] += counts.get(i, 0)
    return out


def _codes(values: Sequence[str], keep: Any) -> list[int]:
    return [i for i, v in enumerate(values) if keep(v)]


def _facts(unique: pl.LazyFrame, lists: Lists, period_end: datetime.date) -> dict[str, Any]:
    """The services, requests, assessments and reviews facts (2-5.*_fact.sql), from the
    unique events (a lazy filter of the state: each query reads only its columns)."""
    bucket = pl.col("bucket")
    # 2.Services_fact.sql line 38: Event_Type = 'Service' (under the collation).
    services = unique.filter(bucket == BUCKETS.index("service"))
    by_type = _count_by(services, "category")
    long_term = _codes(lists.service_type, lambda v: service_group(v) == "Long term support")
    # #LTS_Events (3.Requests_fact.sql lines 50-60): Service_Type_Grouped = 'Long Term Support'.
    lts = (
        services.filter(pl.col("category").is_in(long_term))
        .select("la", "person", "start", "end", "category")
        .collect()
    )
    first, last = pl.col("start"), pl.col("end")
    at_end = lts.filter((first <= period_end) & ((last >= period_end) | last.is_null()))
    by_setting = {
        category_key(lists.service_type[i]): int(
            at_end.filter(pl.col("category") == i)["person"].n_unique()
        )
        for i in long_term
    }
    out: dict[str, Any] = {
        "services_by_service_type": _category_map(by_type, lists.service_type),
        "services_by_service_type_grouped": _grouped_map(
            by_type, lists.service_type, SERVICE_GROUPS, service_group
        ),
        "people_in_long_term_support_at_period_end": {
            "total": int(at_end["person"].n_unique()),
            "by_setting": by_setting,
        },
    }
    events = unique.filter(bucket.is_in(_FLAGGED)).select("bucket", "la", "person", "start")
    flagged = _lts_flags(events.collect(), _lts_reach(lts))
    for name, key in (
        ("request", "requests"),
        ("assessment", "assessments"),
        ("review", "reviews"),
    ):
        rows = unique.filter(bucket == BUCKETS.index(name))
        category = _count_by(rows, "category")
        values = lists.category(name)
        if name == "request":
            out["requests_by_route_of_access"] = _category_map(category, values)
            outcomes = _count_by(rows, "outcome")
            out["requests_by_outcome_grouped"] = _grouped_map(
                outcomes, lists.outcome, OUTCOME_GROUPS, outcome_group
            )
        elif name == "assessment":
            out["assessments_by_type"] = _category_map(category, values)
        else:
            out["reviews_by_reason"] = _category_map(category, values)
            out["reviews_by_review_type"] = _review_types(category, values)
        yes = flagged.get(BUCKETS.index(name), 0)
        out[f"{key}_lts_flag"] = {"yes": yes, "no": sum(category.values()) - yes}
    return out


#: The buckets whose facts carry an LTS flag.
_FLAGGED = [BUCKETS.index(b) for b in ("request", "assessment", "review")]


def _review_type(reason: str) -> str | None:
    """Review_Type (GetDerivedFields lines 89-97) of a cleaned Review_Reason."""
    lowered = reason.lower()
    if lowered.startswith("unplanned"):
        return "Unplanned"
    if lowered.startswith("planned"):
        return "Planned review of long term support"
    if lowered == "review of short term support":
        return "Review of short term support"
    return None


def _review_types(counts: dict[int | None, int], reasons: Sequence[str]) -> dict[str, int]:
    out = {category_key(t): 0 for t in REVIEW_TYPES}
    out["null"] = counts.get(None, 0)
    for i, reason in enumerate(reasons):
        review_type = _review_type(reason)
        out[category_key(review_type) if review_type else "null"] += counts.get(i, 0)
    return out


def _lts_reach(lts: pl.DataFrame) -> pl.DataFrame:
    """Per (LA code, person) and long-term service start: the latest end (NULL as never) of
    that person's long-term services starting on or before it. An event starting on day D
    is in a long-term service (``D BETWEEN start AND end``, or ``D >= start`` with no end,
    3.Requests_fact.sql lines 71-75) exactly when the reach at the last start on or before D
    is D or later. A NULL LA code never matches (the join's ``t1.LA_Code = t2.LA_Code``).

    The running maximum within each person is one running maximum over the whole frame: in
    (LA code, person, start) order, each person's ends are offset by a number above every
    earlier person's, so no earlier person's reach can exceed a later one's.
    """
    days = (pl.col("end").fill_null(datetime.date.max) - pl.lit(_DAY_ZERO)).dt.total_days()
    by_start = (
        lts.filter(pl.col("la").is_not_null())
        .group_by(
            pl.col("la").to_physical().alias("_la"),
            pl.col("person").to_physical().alias("_person"),
            pl.col("start").alias("_service_start"),
        )
        .agg(days.max().alias("_days"))
        .sort("_la", "_person", "_service_start")
    )
    new_person = (pl.col("_la") != pl.col("_la").shift()) | (
        pl.col("_person") != pl.col("_person").shift()
    )
    offset = new_person.fill_null(True).cum_sum().cast(pl.Int64) * 2**_DAY_BITS
    reach = (offset + pl.col("_days")).cum_max() - offset
    return by_start.select(
        "_la",
        "_person",
        "_service_start",
        (pl.lit(_DAY_ZERO) + pl.duration(days=reach)).alias("_reach"),
    ).sort("_service_start")


def _person_key(la: pl.Expr, person: pl.Expr) -> pl.Expr:
    """(LA code, person) as one UInt64, from their ids in the run's categories."""
    return (la.cast(pl.UInt64) * 2**32 + person.cast(pl.UInt64)).alias("_key")


def _lts_flags(events: pl.DataFrame, reach: pl.DataFrame) -> dict[int, int]:
    """Per bucket, the events whose LTS_Flag is 'Yes' (3/4/5.*_fact.sql, the FULL JOIN and
    DupRank): one as-of join of the events on their start date to the person's reach."""
    if not events.height or not reach.height:
        return {}
    ids = _person_key(pl.col("la").to_physical(), pl.col("person").to_physical())
    left = events.select("bucket", ids, pl.col("start")).sort("start")
    joined = left.join_asof(
        reach.select(_person_key(pl.col("_la"), pl.col("_person")), "_service_start", "_reach"),
        left_on="start",
        right_on="_service_start",
        by="_key",
        strategy="backward",
        check_sortedness=False,
    )
    yes = joined.group_by("bucket").agg((pl.col("_reach") >= pl.col("start")).sum().alias("n"))
    return {int(b): int(n) for b, n in zip(yes["bucket"], yes["n"], strict=True)}


# --- costs ----------------------------------------------------------------------------------


def _costs(
    unique: pl.LazyFrame,
    collector: Collector,
    quarter_start: datetime.date,
    quarter_end: datetime.date,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """LA_PBI_Costs_Fact (6.Costs_fact.sql lines 23-141) and its per-service-type blocks."""
    lists = collector.lists
    cents = collector.values.get_column("cents")
    first, last = pl.col("start"), pl.col("end")
    frequency = pl.col("frequency").replace_strict(
        list(range(len(lists.frequency))),
        [v.lower() for v in lists.frequency],
        default=None,
        return_dtype=pl.String,
    )
    factor: Any = pl
    for prefix, value in WEEKLY_FACTORS:
        factor = factor.when(frequency.str.starts_with(prefix)).then(pl.lit(value))
    factor = factor.otherwise(pl.lit(cents).gather(pl.col("units")).abs() / 100)
    one_off = (frequency == "one-off").fill_null(False)
    unit_cost = pl.lit(cents).gather(pl.col("cost")).abs() / 100
    days = (
        pl.when((first >= quarter_start) & (last <= quarter_end))
        .then(last - first)
        .when((first < quarter_start) & (last <= quarter_end))
        .then(last - pl.lit(quarter_start))
        .when((first >= quarter_start) & ((last > quarter_end) | last.is_null()))
        .then(pl.lit(quarter_end) - first)
        .when(first < quarter_start)
        .then(pl.lit(quarter_end - quarter_start))
        .dt.total_days()
    )
    # (DATEDIFF + 1) / 7.0: 6 decimal places, truncated towards zero (rule 5).
    micro = (days + 1) * 1_000_000
    truncated = pl.when(micro >= 0).then(micro // 7).otherwise(-((-micro) // 7))
    weeks = truncated / 1_000_000
    rows = (
        unique.filter(
            (pl.col("bucket") == BUCKETS.index("service"))
            & ((last >= quarter_start) | last.is_null())
            & (first <= quarter_end)
        )
        .select("line", "start", "end", "category", "cost", "frequency", "units")
        .collect()
        .with_columns(
            unit_cost.alias("unit_cost"), factor.alias("factor"), one_off.alias("_one_off")
        )
        .filter(
            pl.col("unit_cost").is_not_null()
            & (pl.col("unit_cost") != 0)
            & (pl.col("_one_off") | (pl.col("factor").is_not_null() & (pl.col("factor") != 0)))
        )
        .with_columns(
            pl.when(~pl.col("_one_off"))
            .then(pl.col("unit_cost") * pl.col("factor"))
            .alias("cost_per_week"),
            pl.when(~pl.col("_one_off")).then(weeks).alias("weeks_of_service"),
        )
        .with_columns(
            pl.when(~pl.col("_one_off"))
            .then(pl.col("cost_per_week") * pl.col("weeks_of_service"))
            .otherwise(pl.col("unit_cost"))
            .alias("total_cost_period")
        )
    )
    blocks = rows.group_by("category").agg(
        pl.len().alias("services"),
        pl.col("cost_per_week").count().alias("services_with_weekly_cost"),
        pl.col("cost_per_week").sum().alias("weekly_cost_total"),
        pl.col("cost_per_week").mean().alias("weekly_cost_mean"),
        pl.col("total_cost_period").sum().alias("period_cost_total"),
    )
    by_code = {r["category"]: r for r in blocks.to_dicts()}
    total = rows.select(
        pl.len().alias("services"),
        pl.col("cost_per_week").count().alias("services_with_weekly_cost"),
        pl.col("cost_per_week").sum().alias("weekly_cost_total"),
        pl.col("cost_per_week").mean().alias("weekly_cost_mean"),
        pl.col("total_cost_period").sum().alias("period_cost_total"),
    ).row(0, named=True)
    per_type = {category_key(v): _block(by_code.get(i)) for i, v in enumerate(lists.service_type)}
    per_type["null"] = _block(by_code.get(None))
    table = rows.select(
        "line",
        pl.col("category")
        .replace_strict(
            list(range(len(lists.service_type))),
            list(lists.service_type),
            default=None,
            return_dtype=pl.String,
        )
        .alias("service_type"),
        "unit_cost",
        frequency.alias("frequency"),
        "factor",
        "cost_per_week",
        "weeks_of_service",
        "total_cost_period",
    ).sort("line")
    return table, {"costs_by_service_type": per_type, "costs_total": _block(total)}


def _money(value: float | None) -> float:
    rounded = round(float(value or 0.0), 2)
    return 0.0 if rounded == 0 else rounded


def _block(row: dict[str, Any] | None) -> dict[str, Any]:
    if row is None or not row.get("services"):
        return {
            "services": 0,
            "services_with_weekly_cost": 0,
            "weekly_cost_total": 0.0,
            "weekly_cost_mean": None,
            "period_cost_total": 0.0,
        }
    with_weekly = int(row["services_with_weekly_cost"])
    return {
        "services": int(row["services"]),
        "services_with_weekly_cost": with_weekly,
        "weekly_cost_total": _money(row["weekly_cost_total"]),
        "weekly_cost_mean": _money(row["weekly_cost_mean"]) if with_weekly else None,
        "period_cost_total": _money(row["period_cost_total"]),
    }


def _unique_table(unique: pl.LazyFrame, lists: Lists) -> pl.LazyFrame:
    """The unique events with their fact-table fields named (named when collected; only the
    columns named are held)."""

    def named(column: str, values: Sequence[str]) -> pl.Expr:
        return pl.col(column).replace_strict(
            list(range(len(values))), list(values), default=None, return_dtype=pl.String
        )

    bucket = pl.col("bucket")
    category = pl.lit(None, dtype=pl.String)
    for name in ("request", "assessment", "service", "review"):
        category = (
            pl.when(bucket == BUCKETS.index(name))
            .then(named("category", lists.category(name)))
            .otherwise(category)
        )
    held = unique.select("line", "bucket", "person", "start", "end", "outcome", "category")
    return (
        held.collect()
        .lazy()
        .select(
            "line",
            _bucket_name(),
            "person",
            "start",
            "end",
            named("outcome", lists.outcome).alias("outcome"),
            category.alias("category"),
        )
    )
