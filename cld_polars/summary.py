"""Summary counts of a return: the sense-check tables an analyst and the central team look at.

Why this exists: a return can meet the specification and still be wrong (a month with no
reviews, every service open, costs a hundred times too high). The AGEM tool gave analysts
"basic summary statistics which can be used as a sense check"; these tables are that, computed
from the return as read (every column text) with Polars expressions: the columns every table
reads are computed per chunk as the return streams past (``summary_columns``), then all tables
from them in one ``pl.collect_all`` (``summary_from_base``): 0.53 s on a million rows.

Conventions every table follows:

* A table about a defined list counts only values on the Release 2 list under their own name;
  a blank value is counted as ``(blank)`` and anything else (Release 1 values, near misses,
  typos) as ``(not valid)``, so that the rows of a table always add up to its total. One-way
  tables list every defined value, zeros included (a missing category is itself a finding);
  ``(blank)`` and ``(not valid)`` appear only where they occur. Cross tables list the
  combinations that occur, in the defined lists' order.
* Event tables count rows (one row is one event) of the named Event Type; a row counts as a
  Request only where Event Type is exactly ``Request`` (likewise the others).
* People are distinct non-blank LA Person Unique Identifiers. A person is counted once, with
  the details on their first row in the file (people whose details differ across rows are
  reported by the cross-row checks).
* The reporting period is the most common valid value of Reporting Period Start Date and of
  Reporting Period End Date (the submission checks report rows that differ).
* A service is *open at period end* where its Event Start Date is on or before the period end
  and its Event End Date is blank or after the period end (an end date that is not a valid
  date is not counted as open: it cannot be judged). It *started in the period* where its
  start date is within the period (both ends included), and *ended in the period* likewise.

The tables are returned as a dict of table name to ``pl.DataFrame`` (``TABLES`` gives each a
title and a one-line note for the workbook); ``overview`` is a one-row frame of the return's
headline facts (council, period, rows, people, events) used by the workbook's Summary sheet.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from cld_polars import kinds
from cld_polars.checks.context import date_col, state_col
from cld_polars.parse import age_in_years, is_blank, parse_date, parse_decimal
from cld_polars.spec import Spec, load_spec

LINE = "__line"
PID = "LA Person Unique Identifier"
TYPE = "Event Type"
START, END = "Event Start Date", "Event End Date"
PERIOD_START, PERIOD_END = "Reporting Period Start Date", "Reporting Period End Date"
SERVICE_TYPE = "Service Type"

BLANK = "(blank)"
NOT_VALID = "(not valid)"
SPECIAL = (BLANK, NOT_VALID)
NO_END_DATE = "(no end date)"
UNKNOWN_AGE = "Unknown"
AGE_BANDS = ("Under 18", "18-64", "65-74", "75-84", "85-94", "95+", UNKNOWN_AGE)
#: Long term support settings, highest first: a person with open services in several settings
#: at period end is counted once, in the first of these (the DHSC monthly statistics' order).
LTS_SETTINGS = (
    "Long term support: Nursing care",
    "Long term support: Residential care",
    "Long term support: Community",
    "Long term support: Prison",
)
#: Weeks in one unit of each time-based cost frequency: weekly cost = unit cost / weeks.
#: Unit-based frequencies (hourly, daily, per session) use Planned units per week instead;
#: a one-off cost has no weekly equivalent.
WEEKS_PER_FREQUENCY = {
    "Weekly": 1.0,
    "Fortnightly": 2.0,
    "4-weekly": 4.0,
    "Monthly": 52.0 / 12.0,
    "Quarterly": 52.0 / 4.0,
    "Annually": 52.0,
}
UNIT_FREQUENCIES = ("Hourly", "Daily", "Per session")
ONE_OFF = "One-off"
#: Months of the reporting period shown even when no event ended in them; a longer stated
#: period (a typo such as 2205) is not spelled out month by month.
MAX_PERIOD_MONTHS = 60


@dataclass(frozen=True)
class TableInfo:
    """How a table is presented: a title and one line saying what is counted."""

    title: str
    note: str


#: Every summary table in the order the workbook shows them.
TABLES: dict[str, TableInfo] = {
    "events_by_type": TableInfo(
        "Events by type",
        "Rows by Event Type; (blank) rows carry no event (unpaid carers known by association).",
    ),
    "requests_by_route_and_outcome": TableInfo(
        "Requests by route of access and outcome", "Request rows."
    ),
    "assessments_by_type_outcome_eligibility": TableInfo(
        "Assessments by type, outcome and eligibility",
        "Assessment rows. Event Outcome does not apply to financial assessments and Eligible "
        "Needs Identified only to long term assessments: (blank) is expected there.",
    ),
    "services_by_type_and_component": TableInfo(
        "Services by type and component", "Service rows, and the distinct people they are for."
    ),
    "services_by_delivery_mechanism": TableInfo(
        "Services by delivery mechanism",
        "Service rows. Delivery Mechanism is mandatory only for long term community support.",
    ),
    "services_in_period": TableInfo(
        "Services started, ended and open at period end, by service type",
        "Open at period end: start on or before the period end and end date blank or after it. "
        "Started / ended: the date falls within the reporting period.",
    ),
    "reviews_by_reason_and_outcome": TableInfo(
        "Reviews by reason and outcomes achieved", "Review rows."
    ),
    "people_by_client_type": TableInfo(
        "People by client type", "Distinct people, with the details on their first row."
    ),
    "people_by_gender": TableInfo(
        "People by gender", "Distinct people, with the details on their first row."
    ),
    "people_by_age_band": TableInfo(
        "People by age band",
        "Age on the period end date, or on the date of death if earlier. Unknown: no valid "
        "date of birth, no valid period end, or a birth date after it.",
    ),
    "people_by_ethnicity_group": TableInfo(
        "People by ethnicity group", "The group is the part of the Ethnicity value before ':'."
    ),
    "people_by_primary_support_reason": TableInfo(
        "People by primary support reason",
        "Distinct people, with the details on their first row.",
    ),
    "long_term_support_at_period_end": TableInfo(
        "People receiving long term support at period end, by setting",
        "Long term support services open at period end. A person in several settings is "
        "counted once, in the highest: nursing, residential, community, prison.",
    ),
    "planned_weekly_cost_by_service_type": TableInfo(
        "Planned weekly cost by service type",
        "Weekly cost = unit cost x planned units per week (hourly, daily, per session) or unit "
        "cost / weeks per unit (weekly 1, fortnightly 2, 4-weekly 4, monthly 52/12, quarterly "
        "13, annually 52). One-off costs and services without a valid cost are counted apart.",
    ),
    "events_by_month": TableInfo(
        "Events by month of end date",
        "Every month of the reporting period is listed; open services have no end date.",
    ),
}


def _label(expr: pl.Expr, values: Sequence[str]) -> pl.Expr:
    """The value where it is on the defined list, else ``(blank)`` or ``(not valid)``, as an
    Enum in the list's order so that tables sort the way the specification lists them."""
    categories = pl.Enum([*values, BLANK, NOT_VALID])
    return (
        pl.when(is_blank(expr))
        .then(pl.lit(BLANK))
        .when(expr.is_in(list(values)))
        .then(expr)
        .otherwise(pl.lit(NOT_VALID))
        .cast(categories)
    )


def _label_from_state(state: pl.Expr, values: Sequence[str]) -> pl.Expr:
    """``_label`` from the engine's one-byte state (``cld_polars.kinds``): the same label
    without comparing strings again."""
    categories = pl.Enum([*values, BLANK, NOT_VALID])
    position = (
        pl.when(state >= kinds.VALID)
        .then(state.cast(pl.Int32) - kinds.VALID)
        .when(state == kinds.BLANK)
        .then(len(values))
        .otherwise(len(values) + 1)
    )
    return pl.lit(pl.Series([*values, BLANK, NOT_VALID], dtype=categories)).gather(position)


def _mode(expr: pl.Expr) -> pl.Expr:
    """The most common non-null value (the earliest of tied ones), broadcast to every row."""
    return expr.drop_nulls().mode().sort().first()


def _count(name: str) -> pl.Expr:
    return pl.len().cast(pl.Int64).alias(name)


def _people(name: str = "People") -> pl.Expr:
    return pl.col(PID).drop_nulls().n_unique().cast(pl.Int64).alias(name)


def _one_way(
    frame: pl.LazyFrame,
    key: str,
    categories: Sequence[str],
    aggs: Sequence[pl.Expr],
    *,
    always: Sequence[str] | None = None,
) -> pl.LazyFrame:
    """Counts by one labelled column (an Enum of ``categories``): every category in ``always``
    (default: all but ``(blank)`` and ``(not valid)``) is listed even when zero."""
    enum = pl.Enum(list(categories))
    shown = list(always if always is not None else [c for c in categories if c not in SPECIAL])
    every = pl.LazyFrame({key: list(categories)}, schema={key: enum})
    counted = frame.group_by(key).agg(*aggs)
    count_names = [a.meta.output_name() for a in aggs]
    return (
        every.join(counted, on=key, how="left")
        .with_columns(pl.col(count_names).fill_null(0))
        .filter(pl.col(key).cast(pl.String).is_in(shown) | (pl.col(count_names[0]) > 0))
        .sort(key)
        .with_columns(pl.col(key).cast(pl.String))
    )


def _cross(frame: pl.LazyFrame, keys: Sequence[str], aggs: Sequence[pl.Expr]) -> pl.LazyFrame:
    """Counts by several labelled (Enum) columns: the combinations that occur, in list order."""
    return (
        frame.group_by(list(keys))
        .agg(*aggs)
        .sort(list(keys))
        .with_columns(pl.col(list(keys)).cast(pl.String))
    )


#: The per-row columns of the summary that the engine's projection already holds (in its
#: own form): :func:`shared_columns` makes them from it, so the engine keeps them once.
SHARED = (
    LINE,
    PID,
    "__la_code",
    "__dob",
    "__start",
    "__end",
    "__period_start_row",
    "__period_end_row",
)


def shared_columns(columns: Sequence[str]) -> list[pl.Expr]:
    """The columns of :data:`SHARED`, from a frame holding the fields (text or categorical)
    and, where the engine has added them, their states and parsed dates (``columns``: its
    column names). Identifiers stay in the dtype they have (a categorical stays one)."""
    present = set(columns)

    def value(name: str) -> pl.Expr:  # the value, null where blank
        if name not in present:
            return pl.lit(None, dtype=pl.String)
        if state_col(name) in present:
            return pl.when(pl.col(state_col(name)) != kinds.BLANK).then(pl.col(name))
        return pl.when(~is_blank(pl.col(name).cast(pl.String))).then(pl.col(name))

    def date(name: str) -> pl.Expr:
        if date_col(name) in present:
            return pl.col(date_col(name))
        if name in present:
            return parse_date(pl.col(name).cast(pl.String))
        return pl.lit(None, dtype=pl.Date)

    return [
        pl.col(LINE),
        # Null where blank, so that the tables ask ``is_not_null`` (which a categorical, as
        # the streaming engine keeps these, answers as cheaply as text).
        value(PID).alias(PID),
        value("LA Code").alias("__la_code"),
        date("Date of Birth").alias("__dob"),
        date(START).alias("__start"),
        date(END).alias("__end"),
        date(PERIOD_START).alias("__period_start_row"),
        date(PERIOD_END).alias("__period_end_row"),
    ]


def summary_columns(
    columns: Sequence[str], spec: Spec | None = None, *, shared: bool = True
) -> list[pl.Expr]:
    """The per-row columns every table reads, from the return as read (``columns``: the
    frame's column names, the specification's all text, and the engine's list codes, parsed
    dates and blank flags where it has added them: those are not computed twice).

    Computed chunk by chunk as the return streams past (the streaming engine keeps only these,
    not the 48 text columns); the reporting period, a most-common value over the whole return,
    is left to :func:`summary_from_base`. Dates are kept parsed (a person is described by
    their first row's date, null where it cannot be read), never as text. ``shared=False``
    leaves out the columns the engine's projection holds anyway (:data:`SHARED`).
    """
    spec = spec or load_spec()
    present = set(columns)

    def column(name: str) -> pl.Expr:
        if name in present:  # as text: the engine holds some as categoricals
            return pl.col(name).cast(pl.String)
        return pl.lit(None, dtype=pl.String).alias(name)

    col = {name: column(name) for name in spec.header}
    values = spec.values

    def date(name: str) -> pl.Expr:  # parsed once by the engine where it has run
        return pl.col(date_col(name)) if date_col(name) in present else parse_date(col[name])

    def blank(name: str) -> pl.Expr:  # the engine's flag where it has computed one
        if state_col(name) in present:
            return pl.col(state_col(name)) == kinds.BLANK
        return is_blank(col[name])

    def given(name: str) -> pl.Expr:  # the value, null where blank
        return pl.when(~blank(name)).then(col[name])

    # A service's weekly cost, null where it cannot be derived: only valid values are used
    # (Unit Cost and Planned units per week as ``parse_decimal`` reads them, Cost Frequency
    # exactly as listed).
    unit = parse_decimal(col["Unit Cost"])
    units = parse_decimal(col["Planned units per week"])
    frequency = col["Cost Frequency (Unit Type)"]
    # The frequencies are exclusive: the first (only) one that applies gives the cost.
    weekly = pl.coalesce(
        pl.when(frequency.is_in(list(UNIT_FREQUENCIES))).then(unit * units),
        *[
            pl.when(frequency == name).then(unit / weeks)
            for name, weeks in WEEKS_PER_FREQUENCY.items()
        ],
    )
    return [
        *(shared_columns(columns) if shared else []),
        date("Date of Death").alias("__dod"),
        blank(END).alias("__end_blank"),
        *[
            (
                _label_from_state(pl.col(state_col(name)), values(name))
                if state_col(name) in present
                else _label(col[name], values(name))
            ).alias(name)
            for name in LABELLED
        ],
        weekly.alias("__weekly"),
        (frequency == ONE_OFF).fill_null(False).alias("__one_off"),
    ]


#: Defined-list fields the tables count by (as labels: the value, ``(blank)`` or ``(not valid)``).
LABELLED = (
    TYPE,
    "Event Outcome",
    "Request: Route of Access",
    "Assessment Type",
    "Eligible Needs Identified",
    SERVICE_TYPE,
    "Service Component",
    "Delivery Mechanism",
    "Review Reason",
    "Review Outcomes Achieved",
    "Client Type",
    "Gender",
    "Ethnicity",
    "Primary Support Reason",
)


def summary_tables(data: pl.DataFrame | None, spec: Spec | None = None) -> dict[str, pl.DataFrame]:
    """Every table of ``TABLES`` plus ``overview``, computed from the return as read.

    ``data`` is ``__line`` and the specification's columns, all text. ``None`` or an empty
    frame gives tables with no rows (and zeros for listed values).
    """
    spec = spec or load_spec()
    if data is None:
        data = pl.DataFrame(schema={LINE: pl.Int64, **dict.fromkeys(spec.header, pl.String)})
    return summary_from_base(
        data.lazy().select(summary_columns(data.columns, spec)).collect(), spec
    )


def summary_from_base(base: pl.DataFrame, spec: Spec | None = None) -> dict[str, pl.DataFrame]:
    """The tables from :func:`summary_columns`' rows (of one frame, or of every chunk)."""
    spec = spec or load_spec()
    values = spec.values
    event_types = values(TYPE)
    period_start, period_end = base.select(
        _mode(pl.col("__period_start_row")), _mode(pl.col("__period_end_row"))
    ).row(0)
    rows = base.lazy().with_columns(
        pl.lit(period_start, dtype=pl.Date).alias("__period_start"),
        pl.lit(period_end, dtype=pl.Date).alias("__period_end"),
    )
    in_period_start = pl.col("__start").is_between("__period_start", "__period_end")
    in_period_end = pl.col("__end").is_between("__period_start", "__period_end")
    open_at_end = (pl.col("__start") <= pl.col("__period_end")) & (
        pl.col("__end_blank") | (pl.col("__end") > pl.col("__period_end"))
    )
    rows = rows.with_columns(open_at_end.fill_null(False).alias("__open"))
    # Every table reads these columns: compute them once, then the tables in one collect_all
    # (common-subplan elimination alone still re-evaluated part of them per table).
    rows = rows.collect().lazy()

    def of_type(event_type: str) -> pl.LazyFrame:
        return rows.filter(pl.col(TYPE) == event_type)

    services = of_type("Service")
    type_cats = [*event_types, BLANK, NOT_VALID]
    plans: dict[str, pl.LazyFrame] = {
        "events_by_type": _one_way(
            rows, TYPE, type_cats, [_count("Rows"), _people()], always=event_types
        ),
        "requests_by_route_and_outcome": _cross(
            of_type("Request"), ["Request: Route of Access", "Event Outcome"], [_count("Requests")]
        ),
        "assessments_by_type_outcome_eligibility": _cross(
            of_type("Assessment"),
            ["Assessment Type", "Event Outcome", "Eligible Needs Identified"],
            [_count("Assessments")],
        ),
        "services_by_type_and_component": _cross(
            services, [SERVICE_TYPE, "Service Component"], [_count("Services"), _people()]
        ),
        "services_by_delivery_mechanism": _one_way(
            services,
            "Delivery Mechanism",
            [*values("Delivery Mechanism"), BLANK, NOT_VALID],
            [_count("Services"), _people()],
        ),
        "services_in_period": _one_way(
            services,
            SERVICE_TYPE,
            [*values(SERVICE_TYPE), BLANK, NOT_VALID],
            [
                _count("Services"),
                in_period_start.fill_null(False).sum().cast(pl.Int64).alias("Started in period"),
                in_period_end.fill_null(False).sum().cast(pl.Int64).alias("Ended in period"),
                pl.col("__open").sum().cast(pl.Int64).alias("Open at period end"),
                pl.col(PID)
                .filter(pl.col("__open") & pl.col(PID).is_not_null())
                .n_unique()
                .cast(pl.Int64)
                .alias("People with an open service"),
            ],
        ),
        "reviews_by_reason_and_outcome": _cross(
            of_type("Review"),
            ["Review Reason", "Review Outcomes Achieved"],
            [_count("Reviews")],
        ),
        **_people_tables(rows, spec),
        "long_term_support_at_period_end": _long_term_support(services),
        "planned_weekly_cost_by_service_type": _weekly_costs(services, values(SERVICE_TYPE)),
        "events_by_month": _events_by_month(rows, event_types),
        "overview": rows.select(
            _mode(pl.col("__la_code").drop_nulls()).cast(pl.String).alias("LA Code"),
            pl.col("__period_start").first().alias(PERIOD_START),
            pl.col("__period_end").first().alias(PERIOD_END),
            pl.len().cast(pl.Int64).alias("Rows"),
            _people(),
            (pl.col(TYPE).cast(pl.String) != BLANK).sum().cast(pl.Int64).alias("Events"),
        ),
    }
    names = list(plans)
    frames = dict(zip(names, pl.collect_all([plans[n] for n in names]), strict=True))
    frames["events_by_month"] = _fill_months(
        frames["events_by_month"], frames["overview"], event_types
    )
    frames["overview"] = _overview(frames["overview"], spec)
    return frames


def _people_tables(base: pl.LazyFrame, spec: Spec) -> dict[str, pl.LazyFrame]:
    """One row per person (their first row in the file), counted by five characteristics."""
    details = ["Client Type", "Gender", "Ethnicity", "Primary Support Reason"]
    people = (
        base.filter(pl.col(PID).is_not_null())
        .group_by(PID)
        .agg(pl.col(*details, "__dob", "__dod", "__period_end").sort_by(LINE).first())
    )
    dob, dod = pl.col("__dob"), pl.col("__dod")
    on = pl.min_horizontal(dod, pl.col("__period_end"))
    on = pl.when(pl.col("__period_end").is_null()).then(None).otherwise(on)
    age = age_in_years(dob, on)
    band = (
        pl.when(age.is_null() | (age < 0))
        .then(pl.lit(UNKNOWN_AGE))
        .when(age < 18)
        .then(pl.lit("Under 18"))
        .when(age <= 64)
        .then(pl.lit("18-64"))
        .when(age <= 74)
        .then(pl.lit("65-74"))
        .when(age <= 84)
        .then(pl.lit("75-84"))
        .when(age <= 94)
        .then(pl.lit("85-94"))
        .otherwise(pl.lit("95+"))
        .cast(pl.Enum(list(AGE_BANDS)))
        .alias("Age band")
    )
    ethnicities = spec.values("Ethnicity")
    groups = list(dict.fromkeys(v.split(":")[0] for v in ethnicities))
    group = (
        pl.col("Ethnicity")
        .cast(pl.String)
        .replace_strict(
            [*ethnicities, BLANK, NOT_VALID],
            [*(v.split(":")[0] for v in ethnicities), BLANK, NOT_VALID],
            return_dtype=pl.Enum([*groups, BLANK, NOT_VALID]),
        )
        .alias("Ethnicity group")
    )
    people = people.with_columns(band, group)

    def table(key: str, categories: Sequence[str]) -> pl.LazyFrame:
        return _one_way(people, key, categories, [pl.len().cast(pl.Int64).alias("People")])

    values = spec.values
    return {
        "people_by_client_type": table("Client Type", [*values("Client Type"), *SPECIAL]),
        "people_by_gender": table("Gender", [*values("Gender"), *SPECIAL]),
        "people_by_age_band": table("Age band", AGE_BANDS),
        "people_by_ethnicity_group": table("Ethnicity group", [*groups, *SPECIAL]),
        "people_by_primary_support_reason": table(
            "Primary Support Reason", [*values("Primary Support Reason"), *SPECIAL]
        ),
    }


def _long_term_support(services: pl.LazyFrame) -> pl.LazyFrame:
    """People with a long term support service open at period end, each in their highest
    setting (``LTS_SETTINGS`` order), next to the open services of each setting."""
    open_lts = services.filter(
        pl.col("__open") & pl.col(SERVICE_TYPE).cast(pl.String).is_in(list(LTS_SETTINGS))
    ).with_columns(pl.col(SERVICE_TYPE).cast(pl.String).cast(pl.Enum(list(LTS_SETTINGS))))
    people = (
        open_lts.filter(pl.col(PID).is_not_null())
        .group_by(PID)
        .agg(pl.col(SERVICE_TYPE).min().alias("Setting"))
        .group_by("Setting")
        .agg(pl.len().cast(pl.Int64).alias("People"))
    )
    services_open = open_lts.group_by(SERVICE_TYPE).agg(_count("Open services"))
    every = pl.LazyFrame({"Setting": list(LTS_SETTINGS)}, schema={"Setting": pl.Enum(LTS_SETTINGS)})
    return (
        every.join(people, on="Setting", how="left")
        .join(services_open.rename({SERVICE_TYPE: "Setting"}), on="Setting", how="left")
        .with_columns(pl.col("People", "Open services").fill_null(0))
        .sort("Setting")
        .with_columns(pl.col("Setting").cast(pl.String))
    )


def _weekly_costs(services: pl.LazyFrame, service_types: Sequence[str]) -> pl.LazyFrame:
    """Per service type: services, how many have a weekly cost, one-off and no valid cost
    (these three add up to the services), and the total, mean and median weekly cost (£)."""
    has_cost = pl.col("__weekly").is_not_null()
    return _one_way(
        services,
        SERVICE_TYPE,
        [*service_types, *SPECIAL],
        [
            _count("Services"),
            has_cost.sum().cast(pl.Int64).alias("With a weekly cost"),
            pl.col("__one_off").sum().cast(pl.Int64).alias("One-off cost"),
            (~has_cost & ~pl.col("__one_off")).sum().cast(pl.Int64).alias("No valid cost"),
            pl.col("__weekly").sum().alias("Total weekly cost (£)"),
            pl.col("__weekly").mean().alias("Mean weekly cost (£)"),
            pl.col("__weekly").median().alias("Median weekly cost (£)"),
        ],
    ).with_columns(
        # A service type with no costed service has no mean or median: keep those blank,
        # not the zero that the listing's fill gave them.
        pl.when(pl.col("With a weekly cost") > 0)
        .then(pl.col("Mean weekly cost (£)", "Median weekly cost (£)"))
        .otherwise(None),
        pl.col("Total weekly cost (£)").cast(pl.Float64),
    )


def _events_by_month(base: pl.LazyFrame, event_types: Sequence[str]) -> pl.LazyFrame:
    """Events (rows with an Event Type) by month of Event End Date, one column per type."""
    events = base.filter(pl.col(TYPE).cast(pl.String) != BLANK)
    month = (
        pl.when(pl.col("__end_blank"))
        .then(pl.lit(NO_END_DATE))
        .when(pl.col("__end").is_null())
        .then(pl.lit(NOT_VALID))
        .otherwise(pl.col("__end").dt.strftime("%Y-%m"))
        .alias("Month")
    )
    event_type = pl.col(TYPE).cast(pl.String)
    return (
        events.group_by(month)
        .agg(
            *[(event_type == t).sum().cast(pl.Int64).alias(t) for t in event_types],
            (event_type == NOT_VALID).sum().cast(pl.Int64).alias("Event Type not valid"),
            _count("Events"),
        )
        .sort("Month")
    )


def _fill_months(
    table: pl.DataFrame, overview: pl.DataFrame, event_types: Sequence[str]
) -> pl.DataFrame:
    """Every month of the reporting period (zeros where nothing ended), months in order, then
    ``(no end date)`` and ``(not valid)``; the not-valid-type column only where it is used."""
    start, end = overview[PERIOD_START][0], overview[PERIOD_END][0]
    months = pl.DataFrame({"Month": []}, schema={"Month": pl.String})
    if isinstance(start, datetime.date) and isinstance(end, datetime.date) and start <= end:
        span = (end.year - start.year) * 12 + end.month - start.month + 1
        if span <= MAX_PERIOD_MONTHS:
            months = pl.DataFrame(
                {
                    "Month": pl.date_range(
                        start.replace(day=1), end, "1mo", eager=True
                    ).dt.strftime("%Y-%m")
                }
            )
    counts = [c for c in table.columns if c != "Month"]
    out = (
        months.join(table, on="Month", how="full", coalesce=True)
        .with_columns(pl.col(counts).fill_null(0))
        .sort(
            pl.col("Month").is_in([NO_END_DATE, NOT_VALID]),
            pl.col("Month") == NOT_VALID,
            "Month",
        )
    )
    if not out["Event Type not valid"].sum():
        out = out.drop("Event Type not valid")
    return out


def _overview(raw: pl.DataFrame, spec: Spec) -> pl.DataFrame:
    """The headline facts, with the council's name looked up from its code."""
    code = raw["LA Code"][0] if raw.height else None
    council = spec.councils.get(code) if code is not None else None
    name = council.name if council else None
    return raw.with_columns(pl.lit(name, dtype=pl.String).alias("Council")).select(
        "LA Code", "Council", PERIOD_START, PERIOD_END, "Rows", "People", "Events"
    )
