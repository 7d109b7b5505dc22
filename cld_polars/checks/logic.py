"""Cross-field checks on one row: dates against each other and the reporting period, ages,
outcomes against event types, costs against their frequency, unpaid carer details.

Each compares values that are individually valid: where a date is blank or unreadable, the
comparisons that need it are skipped (the date's own check reports it), so one mistake is
one finding. Every check is a named function declared with its code, severity, fields and
message (``RULES``).
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from cld_polars.checks.context import Context, among, row_index
from cld_polars.checks.registry import Check, ExprFn, Family, Rules
from cld_polars.names import (
    ADULTS_CARED_FOR,
    DOB,
    DOD,
    END,
    FIRST_NAME,
    LAST_NAME,
    LINKED,
    PID,
    POSTCODE,
    REF,
    START,
)
from cld_polars.names import PERIOD_END as P_END
from cld_polars.names import PERIOD_START as P_START
from cld_polars.parse import age_in_years, text
from cld_polars.spec import Spec

CONTINUATION = "Continuation of support or services"
CARER_PSR = "Social support: Support to unpaid carer"
IDENTIFIERS = (PID, REF)
#: An identifier can only hold a date of birth, postcode or name (3+ letters) if it has eight
#: digits, a slash or two letters in a row, white space aside. Most system references do not,
#: so the costly comparison runs on the few that do.
PERSONAL_DATA_CANDIDATE = r"(?:\d\s*){8}|/|[A-Za-z]\s*[A-Za-z]"

RULES = Rules()


def personal_data_col(name: str) -> str:
    return f"__personal_data:{name}"


def prepare(data: pl.DataFrame, ctx: Context) -> list[pl.Expr]:
    """Flag identifiers holding personal data, comparing only candidate rows (see above)."""
    flags = []
    for name in IDENTIFIERS:
        # Collected in two steps on purpose: Polars would merge two filters into one
        # predicate and compare every row.
        candidates = (
            data.lazy()
            .with_columns(row_index().alias("__i"))
            .filter(ctx.raw(name).str.contains(PERSONAL_DATA_CANDIDATE).fill_null(False))
            .collect()
        )
        hits = candidates.filter(_contains_personal_data(ctx, name))["__i"]
        flags.append(among(row_index(), hits).alias(personal_data_col(name)))
    return flags


def _event_start_after_end_value(c: Context) -> pl.Expr:
    return text("{} to {}", c.raw(START), c.raw(END))


@RULES.rule(
    code="EVENT_START_AFTER_END",
    severity="error",
    fields=(START, END),
    guidance="Events (All): Event Start Date, Event End Date",
    message=(
        "Event Start Date is after Event End Date. An event cannot end before it starts: "
        "check both dates on the case record (a same-day event has equal dates)."
    ),
    value=_event_start_after_end_value,
)
def event_start_after_end(c: Context) -> pl.Expr:
    return c.date(START) > c.date(END)


@RULES.rule(
    code="EVENT_END_AFTER_PERIOD_END",
    severity="error",
    fields=(END, P_END),
    guidance="Events (All): Event End Date",
    message=(
        "Event End Date is after the Reporting Period End Date. A return describes events up "
        "to the period end: a service still running then must have a blank end date; other "
        "events that end later belong to a later return."
    ),
)
def event_end_after_period_end(c: Context) -> pl.Expr:
    return c.date(END) > c.date(P_END)


@RULES.rule(
    code="EVENT_START_AFTER_PERIOD_END",
    severity="error",
    fields=(START, P_END),
    guidance="Events (All)",
    message=(
        "Event Start Date is after the Reporting Period End Date. Events that start after the "
        "period belong to a later return: remove the row or correct the date."
    ),
)
def event_start_after_period_end(c: Context) -> pl.Expr:
    return c.date(START) > c.date(P_END)


@RULES.rule(
    code="EVENT_END_BEFORE_PERIOD_START",
    severity="error",
    fields=(END, P_START),
    guidance="Events (All)",
    message=(
        "Event End Date is before the Reporting Period Start Date. Requests, assessments and "
        "reviews must be completed within the 12-month period, and services must be active "
        "during some part of it: remove the row or correct the date."
    ),
)
def event_end_before_period_start(c: Context) -> pl.Expr:
    return c.date(END) < c.date(P_START)


def _event_after_death_value(c: Context) -> pl.Expr:
    return text("start {}, died {}", c.raw(START), c.raw(DOD))


@RULES.rule(
    code="EVENT_AFTER_DEATH",
    severity="error",
    fields=(START, DOD),
    guidance="Person Details: Date of Death",
    message=(
        "Event Start Date is after the person's Date of Death. Check the date of death and "
        "the event dates on the case record."
    ),
    value=_event_after_death_value,
)
def event_after_death(c: Context) -> pl.Expr:
    return c.date(START) > c.date(DOD)


def _death_before_birth_value(c: Context) -> pl.Expr:
    return text("born {}, died {}", c.raw(DOB), c.raw(DOD))


@RULES.rule(
    code="DEATH_BEFORE_BIRTH",
    severity="error",
    fields=(DOD, DOB),
    guidance="Person Details: Date of Birth, Date of Death",
    message="Date of Death is before Date of Birth. Correct whichever date is wrong.",
    value=_death_before_birth_value,
)
def death_before_birth(c: Context) -> pl.Expr:
    return c.date(DOD) < c.date(DOB)


def _event_end_before_birth_value(c: Context) -> pl.Expr:
    return text("ended {}, born {}", c.raw(END), c.raw(DOB))


@RULES.rule(
    code="EVENT_END_BEFORE_BIRTH",
    severity="error",
    fields=(END, DOB),
    guidance="Person Details: Date of Birth",
    message=(
        "Event End Date is before the person's Date of Birth. Check the date of birth (leave "
        "it blank rather than estimate it) and the event dates."
    ),
    value=_event_end_before_birth_value,
)
def event_end_before_birth(c: Context) -> pl.Expr:
    return c.date(END) < c.date(DOB)


@RULES.rule(
    code="BIRTH_AFTER_PERIOD_END",
    severity="error",
    fields=(DOB, P_END),
    guidance="Person Details: Date of Birth",
    message=(
        "Date of Birth is after the Reporting Period End Date. Correct the date of birth, or "
        "leave it blank if it is not known."
    ),
)
def birth_after_period_end(c: Context) -> pl.Expr:
    return c.date(DOB) > c.date(P_END)


@RULES.rule(
    code="DIRECT_PAYMENT_IN_PRISON",
    severity="error",
    fields=("Delivery Mechanism", "Service Type"),
    guidance="Events (Services only): Delivery Mechanism",
    message=(
        "Delivery Mechanism is 'Direct payment' on a 'Long term support: Prison' service. "
        "People in prison cannot receive direct payments: use 'CASSR managed personal "
        "budget' or 'CASSR commissioned support'."
    ),
)
def direct_payment_in_prison(c: Context) -> pl.Expr:
    return c.is_value("Delivery Mechanism", "Direct payment") & c.is_value(
        "Service Type", "Long term support: Prison"
    )


@RULES.rule(
    code="AGE_OVER_115",
    severity="warning",
    fields=(DOB, P_END),
    guidance="Person Details: Date of Birth",
    message=(
        "The person would be over 115 at the Reporting Period End Date: the Date of Birth is "
        "probably a dummy value. Give the real date, or leave it blank rather than estimate."
    ),
)
def age_over_115(c: Context) -> pl.Expr:
    return age_in_years(c.date(DOB), c.date(P_END)) > 115


@RULES.rule(
    code="AGE_UNDER_18",
    severity="warning",
    fields=(DOB, START),
    guidance="Person Details: Date of Birth",
    message=(
        "The person is under 18 at the Event Start Date. This is allowed for transitions from "
        "children's services and for young unpaid carers; otherwise check the date of birth."
    ),
)
def age_under_18(c: Context) -> pl.Expr:
    return c.age_at_event_start < 18


def _event_end_after_death_suggestion(c: Context) -> pl.Expr:
    return c.raw(DOD)


@RULES.rule(
    code="EVENT_END_AFTER_DEATH",
    severity="warning",
    fields=(END, DOD),
    guidance="Events (All): Event End Date",
    message=(
        "Event End Date is after the person's Date of Death. When a person has died, the "
        "guidance asks for the event end date to be the date of death."
    ),
    suggestion=_event_end_after_death_suggestion,
)
def event_end_after_death(c: Context) -> pl.Expr:
    return c.date(END) > c.date(DOD)


def _open_service_outcome_suggestion(c: Context) -> pl.Expr:
    return pl.lit(CONTINUATION)


@RULES.rule(
    code="OPEN_SERVICE_OUTCOME",
    severity="warning",
    fields=("Event Outcome", END),
    guidance="Events (All): Event Outcome",
    message=(
        "An open service (no Event End Date) has an outcome other than 'Continuation of "
        "support or services', which the guidance asks for on services continuing at the "
        "period end. Change the outcome, or give the end date if the service has ended."
    ),
    suggestion=_open_service_outcome_suggestion,
    requires=("Event Outcome", END, "Event Type"),
)
def open_service_outcome(c: Context) -> pl.Expr:
    return (
        c.is_value("Event Type", "Service")
        & c.blank(END)
        & c.valid("Event Outcome")
        & (c.raw("Event Outcome") != CONTINUATION)
    )


def _outcome_atypical_value(c: Context) -> pl.Expr:
    return text("{} on a {}", c.raw("Event Outcome"), c.raw("Event Type"))


@RULES.rule(
    code="OUTCOME_ATYPICAL",
    severity="warning",
    fields=("Event Outcome", "Event Type"),
    guidance="Events (All): Event Outcome (table of outcomes by event type)",
    message=(
        "Event Outcome is not one the guidance's table shows as typical for this event type "
        "(e.g. 'NFA: Information and advice or signposting' on a Service). Records are not "
        "rejected for this: check that the event type and outcome are right."
    ),
    value=_outcome_atypical_value,
)
def outcome_atypical(c: Context) -> pl.Expr:
    return (
        c.valid("Event Outcome")
        & c.valid("Event Type")
        & ~pl.concat_str([c.raw("Event Outcome"), c.raw("Event Type")], separator="|").is_in(
            [f"{o}|{t}" for o, types in c.spec.typical_outcomes.items() for t in types]
        )
    )


@RULES.rule(
    code="DECEASED_WITHOUT_DATE_OF_DEATH",
    severity="warning",
    fields=("Event Outcome", DOD),
    guidance="Person Details: Date of Death",
    message=(
        "Event Outcome is 'NFA: Deceased' but Date of Death is blank. Give the date of death "
        "where it is known."
    ),
)
def deceased_without_date_of_death(c: Context) -> pl.Expr:
    return c.is_value("Event Outcome", "NFA: Deceased") & c.blank(DOD)


def _unpaid_carer_psr_suggestion(c: Context) -> pl.Expr:
    return pl.lit(CARER_PSR)


@RULES.rule(
    code="UNPAID_CARER_PSR",
    severity="warning",
    fields=("Primary Support Reason", "Client Type"),
    guidance="Person Details: Primary Support Reason",
    message=(
        "An unpaid carer's row has a Primary Support Reason other than 'Social support: "
        "Support to unpaid carer', which the guidance asks for on unpaid carer events."
    ),
    suggestion=_unpaid_carer_psr_suggestion,
)
def unpaid_carer_psr(c: Context) -> pl.Expr:
    return (
        c.is_value("Client Type", "Unpaid carer", "Unpaid carer known by association")
        & c.valid("Primary Support Reason")
        & (c.raw("Primary Support Reason") != CARER_PSR)
    )


def _adults_cared_for_below_linked_suggestion(c: Context) -> pl.Expr:
    return pl.sum_horizontal([c.present(x).cast(pl.Int64) for x in LINKED]).cast(pl.String)


@RULES.rule(
    code="ADULTS_CARED_FOR_BELOW_LINKED",
    severity="warning",
    fields=(ADULTS_CARED_FOR, *LINKED),
    guidance="Events (Unpaid carers only): No. of adults being cared for",
    message=(
        "No. of adults being cared for is smaller than the number of Adult Linked Person_IDs "
        "given. The number counts every adult cared for, including those linked: check both."
    ),
    suggestion=_adults_cared_for_below_linked_suggestion,
    requires=(ADULTS_CARED_FOR,),
)
def adults_cared_for_below_linked(c: Context) -> pl.Expr:
    return c.raw(ADULTS_CARED_FOR).cast(pl.Int64, strict=False) < pl.sum_horizontal(
        [c.present(x).cast(pl.Int64) for x in LINKED]
    )


@RULES.rule(
    code="PLANNED_UNITS_OVER_WEEK",
    severity="warning",
    fields=("Planned units per week", "Cost Frequency (Unit Type)"),
    guidance="Costs (Services only): Planned units per week",
    message=(
        "Planned units per week is more than a week holds for the cost frequency (168 hours "
        "or 7 days). Check whether the figure is per week rather than per period or in total."
    ),
)
def planned_units_over_week(c: Context) -> pl.Expr:
    return (
        c.is_value("Cost Frequency (Unit Type)", "Hourly")
        & (c.raw("Planned units per week").cast(pl.Float64, strict=False) > 168)
    ) | (
        c.is_value("Cost Frequency (Unit Type)", "Daily")
        & (c.raw("Planned units per week").cast(pl.Float64, strict=False) > 7)
    )


def _has_personal_data(name: str) -> ExprFn:
    def fails(c: Context) -> pl.Expr:
        return pl.col(personal_data_col(name))

    return fails


def _personal_data_checks(spec: Spec) -> Iterator[Check]:
    for name in IDENTIFIERS:
        yield Check(
            code=f"{spec.field(name).key}_PERSONAL_DATA",
            severity="warning",
            fields=(name,),
            guidance="Protecting personal data; " + spec.field(name).guidance,
            message=(
                f"{name} contains the person's date of birth, postcode or name from the same row. "
                "The guidance forbids personal data, in full or in part, in identifiers: use a "
                "system-generated reference instead."
            ),
            fails=_has_personal_data(name),
            requires=(name,),
        )


def checks(spec: Spec) -> Iterator[Check]:
    yield from RULES
    yield from _personal_data_checks(spec)


def _contains_personal_data(c: Context, name: str) -> pl.Expr:
    """The identifier contains the DOB (ddmmyyyy, yyyymmdd, dd/mm/yyyy), postcode or a name."""
    ident = c.raw(name).str.to_lowercase().str.replace_all(r"[\s]", "")
    dob = c.date(DOB)
    pieces = [
        c.raw(DOB),
        dob.dt.strftime("%d%m%Y"),
        dob.dt.strftime("%Y%m%d"),
        pl.when(
            c.valid(POSTCODE)
            & (c.raw(POSTCODE).str.len_chars() >= 5)
            & ~c.raw(POSTCODE).is_in(["ZZ99 3VZ", "ZZ99 3CZ", "Unknown"])
        ).then(c.raw(POSTCODE).str.to_lowercase().str.replace_all(r"\s", "")),
        pl.when(c.raw(FIRST_NAME).str.len_chars() >= 3).then(
            c.raw(FIRST_NAME).str.to_lowercase().str.strip_chars()
        ),
        pl.when(c.raw(LAST_NAME).str.len_chars() >= 3).then(
            c.raw(LAST_NAME).str.to_lowercase().str.strip_chars()
        ),
    ]
    hits = [ident.str.contains(p, literal=True).fill_null(False) for p in pieces]
    return c.present(name) & pl.any_horizontal(hits)


FAMILY = Family(name="logic", checks=checks, prepare=prepare)
