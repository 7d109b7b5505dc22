"""Checks that compare rows: duplicates, one person's details across rows, linked people.

These compare rows anywhere in the return (``scope="frame"``): the engine runs them after the
streaming pass, over its narrow projection of the whole return (the fields these checks name,
``FRAME_FIELDS``, and each row's hash), with helpers from group-bys (``prepare_frame``).
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from cld_polars.checks.context import Context, among, date_col, row_index
from cld_polars.checks.registry import Check, ExprFn, Family, Rules
from cld_polars.names import DOB, GENDER, LINKED, NHS_NUMBER, PID, REF, START, TYPE
from cld_polars.parse import text
from cld_polars.spec import Spec

ROW_HASH = "__row_hash"
PERSON_FIELDS = (DOB, NHS_NUMBER, GENDER)
SHARED_REFERENCE = "__shared_reference"
REPEATED_ROW = "__repeated_row"
SHARED_NHS_NUMBER = "__shared_nhs_number"


RULES = Rules()


def consensus_col(name: str) -> str:
    return f"__consensus:{name}"


#: Fields read here besides those the checks name (their helper columns, not their text):
#: the start date is part of the key of rows with no reference.
FRAME_FIELDS = (START,)


def prepare_frame(data: pl.DataFrame, ctx: Context) -> list[pl.Expr]:
    """Add the helper columns the cross-row checks compare against, using group-bys and hash
    lookups (far cheaper than window expressions on a million rows):

    - whether a row repeats an earlier identical row;
    - for people whose rows disagree on DOB, NHS Number or Gender, the value most of their rows
      give (ties: the smallest);
    - whether an Event Type and Event Reference pair is on more than one different row.
    """
    helpers = [
        *_duplicates(data, ctx),
        _shared_nhs_numbers(data, ctx),
        *_linked_not_service_users(data, ctx),
    ]
    # One group-by finds the people whose rows disagree on any of the three (usually none,
    # compared by the values' codes); only their rows are looked at again, field by field.
    given = {
        name: pl.when(ctx.valid(name) & ctx.present(PID)).then(pl.col(name).to_physical())
        for name in PERSON_FIELDS
    }
    disagreeing = (
        data.lazy()
        .group_by(PID)
        .agg(value.drop_nulls().n_unique().alias(name) for name, value in given.items())
        .filter(pl.any_horizontal(pl.col(n) > 1 for n in PERSON_FIELDS))
        .select(PID)
        .collect()
        .to_series()
    )
    people = data.lazy().filter(among(pl.col(PID), disagreeing))
    for name in PERSON_FIELDS:
        value = pl.when(ctx.valid(name) & ctx.present(PID)).then(ctx.raw(name)).alias("__v")
        top = (
            people.select(PID, value)
            .drop_nulls()
            .group_by(PID, "__v")
            .len()
            .filter(pl.len().over(PID) > 1)
            .sort([PID, "len", "__v"], descending=[False, True, False])
            .unique(PID, keep="first")
            .collect()
        )
        helpers.append(_lookup(PID, top[PID], top["__v"]).alias(consensus_col(name)))
    return helpers


def _duplicates(data: pl.DataFrame, ctx: Context) -> list[pl.Expr]:
    """Repeated rows and references shared by different rows.

    Each row's hash of its 48 values (``ROW_HASH``) was taken as it streamed past; only
    candidate rows are compared by it: identical rows share person, event type, reference and
    start date, and shared references share event type and reference; both are rare.
    """
    pair_ok = ctx.present("Event Reference") & ctx.valid("Event Type")
    indexed = data.lazy().with_columns(row_index().alias("__i"), pair_ok.alias("__pair_ok"))
    # Rows with a reference: identical rows share it, so one key covers both kinds. Nearly
    # every reference is distinct: a hash of the pair (one integer a row) finds the few
    # that may repeat, and their text decides (a hash table of a million texts cost 180 MB
    # at its peak; of their hashes, a tenth). Collected in two steps on purpose: Polars
    # would merge the filters into one predicate and compare the text of every row. The few
    # rows without a reference are compared on person, event type, reference and start date.
    pair_hash = pl.struct(pl.col("Event Type").to_physical(), "Event Reference").hash()
    maybe = indexed.filter(pl.col("__pair_ok") & pair_hash.is_duplicated()).collect()
    with_reference = maybe.lazy().filter(pl.struct("Event Type", "Event Reference").is_duplicated())
    without = indexed.filter(~pl.col("__pair_ok")).filter(
        # The parsed date is enough to find candidates: identical rows have identical dates.
        pl.struct(
            PID, "Event Type", "Event Reference", date_col("Event Start Date")
        ).is_duplicated()
    )
    candidates = (
        pl.concat([with_reference, without])
        .select("__i", "__pair_ok", "Event Type", "Event Reference", ROW_HASH)
        .collect()
        .sort("__i")
    )
    repeats = candidates.filter(~pl.col(ROW_HASH).is_first_distinct())["__i"]
    shared = (
        candidates.filter(pl.col("__pair_ok"))
        .group_by("Event Type", "Event Reference")
        .agg(pl.col(ROW_HASH).n_unique().alias("__distinct"))
        .filter(pl.col("__distinct") > 1)
    )
    pair = pl.concat_str(["Event Type", "Event Reference"], separator="\x1f")
    return [
        among(row_index(), repeats).alias(REPEATED_ROW),
        among(pair, shared.select(pair).to_series()).alias(SHARED_REFERENCE),
    ]


def _shared_nhs_numbers(data: pl.DataFrame, ctx: Context) -> pl.Expr:
    """Rows whose (valid) NHS Number is given for more than one person: a group-by finds the
    numbers (usually none), and only rows holding one of them are flagged."""
    nhs = "NHS Number"
    shared = (
        data.lazy()
        .filter(ctx.valid(nhs) & ctx.present(PID))
        .group_by(nhs)
        .agg(pl.col(PID).n_unique().alias("__people"))
        .filter(pl.col("__people") > 1)
        .collect()[nhs]
    )
    return among(pl.col(nhs), shared).alias(SHARED_NHS_NUMBER)


def not_service_user_col(name: str) -> str:
    return f"__not_service_user:{name}"


def _linked_not_service_users(data: pl.DataFrame, ctx: Context) -> list[pl.Expr]:
    """Linked person IDs that are no service user's ID: compared as distinct values (a few
    carers' links against the service users' IDs), then flagged on the rows holding them."""
    users = (
        data.lazy()
        .filter(ctx.is_value("Client Type", "Service user").fill_null(False))
        .select(pl.col(PID).unique())
    )
    queries = [
        data.lazy()
        .filter(ctx.valid(name))
        .select(pl.col(name).unique().alias(PID))
        .join(users, on=PID, how="anti")
        for name in LINKED
    ]
    return [
        among(pl.col(name), unknown[PID]).alias(not_service_user_col(name))
        for name, unknown in zip(LINKED, pl.collect_all(queries), strict=True)
    ]


def _lookup(key: str, keys: pl.Series, values: pl.Series) -> pl.Expr:
    """``values`` for the rows whose ``key`` is in ``keys``, null elsewhere (a hash lookup)."""
    if keys.len() == 0:
        return pl.lit(None, dtype=pl.String)
    return pl.col(key).replace_strict(keys, values, default=None, return_dtype=pl.String)


def _duplicate_row_value(c: Context) -> pl.Expr:
    return pl.lit("(whole row)")


@RULES.rule(
    code="DUPLICATE_ROW",
    severity="warning",
    fields=(),
    scope="frame",
    guidance="Events (All); General principles and definitions",
    message=(
        "This row is identical to an earlier row in the return. Central processing joins "
        "and deduplicates events, and a repeated row counts the event twice: remove the "
        "repeat."
    ),
    value=_duplicate_row_value,
    requires=(),
)
def duplicate_row(c: Context) -> pl.Expr:
    return pl.col(REPEATED_ROW)


def _duplicate_event_reference_value(c: Context) -> pl.Expr:
    return text("{} {}", c.raw(TYPE), c.raw(REF))


@RULES.rule(
    code="DUPLICATE_EVENT_REFERENCE",
    severity="warning",
    fields=("Event Reference", "Event Type"),
    scope="frame",
    guidance="Events (All): Event Reference",
    message=(
        "The same Event Type and Event Reference appear on more than one (different) row. "
        "Each event should have a unique reference that stays the same between returns. If "
        "these rows are one service split at a change of start date, as the guidance allows, "
        "this can stand; otherwise give each event its own reference."
    ),
    value=_duplicate_event_reference_value,
)
def duplicate_event_reference(c: Context) -> pl.Expr:
    return c.present(REF) & c.valid(TYPE) & pl.col(SHARED_REFERENCE).fill_null(False)


@RULES.rule(
    code="NHS_NUMBER_ON_SEVERAL_PEOPLE",
    severity="warning",
    fields=("NHS Number", PID),
    scope="frame",
    guidance="Person Details: NHS Number, LA Person Unique Identifier",
    message=(
        "This NHS Number is given for more than one LA Person Unique Identifier. One person "
        "should have one local identifier: check for duplicate client records or a mistyped "
        "NHS number."
    ),
)
def nhs_number_on_several_people(c: Context) -> pl.Expr:
    return c.valid(NHS_NUMBER) & c.present(PID) & pl.col(SHARED_NHS_NUMBER)


def _inconsistent(name: str) -> ExprFn:
    def fails(c: Context) -> pl.Expr:
        return c.valid(name) & c.present(PID) & (c.raw(name) != pl.col(consensus_col(name)))

    return fails


def _consensus(name: str) -> ExprFn:
    def suggestion(c: Context) -> pl.Expr:
        return pl.col(consensus_col(name))

    return suggestion


def _linked_unknown(name: str) -> ExprFn:
    def fails(c: Context) -> pl.Expr:
        return c.valid(name) & pl.col(not_service_user_col(name))

    return fails


def _person_checks(spec: Spec) -> Iterator[Check]:
    for name in PERSON_FIELDS:
        yield Check(
            code=f"PERSON_{spec.field(name).key}_INCONSISTENT",
            severity="warning",
            fields=(name, PID),
            scope="frame",
            guidance="Person Details",
            message=(
                f"The same LA Person Unique Identifier has a different {name} on other rows. A "
                f"person's {name} should be the same on all their rows: the value on most of the "
                "person's rows is suggested. Check which is right on the case record."
            ),
            fails=_inconsistent(name),
            suggestion=_consensus(name),
        )


def _linked_checks(spec: Spec) -> Iterator[Check]:
    for name in LINKED:
        yield Check(
            code=f"{spec.field(name).key}_NOT_A_SERVICE_USER",
            severity="warning",
            fields=(name,),
            scope="frame",
            guidance="Events (Unpaid carers only): Adult 1/2/3 Linked Person_ID",
            message=(
                f"{name} is not the LA Person Unique Identifier of a service user in this return. "
                "Linked IDs are for cared-for adults known to the council as service users in "
                "CLD: check the ID, or leave it blank."
            ),
            fails=_linked_unknown(name),
            requires=(name, PID, "Client Type"),
        )


def checks(spec: Spec) -> Iterator[Check]:
    """In the order the reports have always listed them: duplicates, people, links."""
    rules = list(RULES)
    yield from rules[:2]
    yield from _person_checks(spec)
    yield from rules[2:]
    yield from _linked_checks(spec)


FAMILY = Family(
    name="crossrow", checks=checks, prepare_frame=prepare_frame, frame_fields=FRAME_FIELDS
)
