"""The validation engine: every declared check evaluated in one Polars plan over one read.

The return is read once; typed columns are added once; every row and frame check becomes a
boolean column in a single ``select``; counts per rule, per field and per row come from those
columns; findings are gathered from the failing rows only.
"""

from __future__ import annotations

import difflib
import os
import time
from collections.abc import Callable, Sequence

import polars as pl

from cld_polars.checks import FAMILIES, FILE_RULES, all_checks
from cld_polars.checks.context import LINE, Context, date_col
from cld_polars.checks.registry import Check, FileFinding
from cld_polars.reader import ExactReadNeeded, ReturnSource, frame_source, read_return
from cld_polars.report import Report
from cld_polars.spec import FieldSpec, Spec, load_spec

PID, REF, TYPE = "LA Person Unique Identifier", "Event Reference", "Event Type"
#: Invalid values for which a closest listed value is looked up (most frequent first).
MAX_CLOSEST_LOOKUPS = 5000

FINDINGS_SCHEMA = {
    "line": pl.Int64,
    "person_id": pl.String,
    "event_reference": pl.String,
    "event_type": pl.String,
    "field": pl.String,
    "code": pl.String,
    "severity": pl.String,
    "value": pl.String,
    "suggestion": pl.String,
}


def validate(
    source: str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame,
    spec: Spec | None = None,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Validate a return (a CSV path, or a frame with the specification's columns).

    ``progress``, when given, is told each stage ("reading", "checking") as it starts, for a
    display on the terminal. Raises :class:`cld_polars.reader.ReturnReadError` when a path
    cannot be read at all.
    """
    spec = spec or load_spec()
    started = time.perf_counter()
    if progress:
        progress("reading")
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        opened = frame_source(source, spec)
    else:
        opened = read_return(source, spec)
    with opened:
        if progress:
            progress("checking")
        try:
            report = run_checks(opened, spec, started)
        except ExactReadNeeded:
            report = None
    if report is None:
        # A quote out of place, found only once the rows were read: read it the exact way.
        with read_return(source, spec, quick=False) as opened:
            report = run_checks(opened, spec, started)
    report.source = source
    return report


def run_checks(src: ReturnSource, spec: Spec, started: float | None = None) -> Report:
    started = started if started is not None else time.perf_counter()
    checks = all_checks(spec)
    active = [c for c in checks if set(c.needs) <= src.present]
    skipped = [c for c in checks if not set(c.needs) <= src.present]
    ctx = Context(spec)
    data = prepare_frame(src.frame, ctx, src)
    file_findings: list[FileFinding] = list(src.findings)
    file_findings.extend(_missing_column_findings(src, skipped))
    # The check columns are computed once into a narrow frame (line and one boolean per
    # check); counts and findings are read from it, never by widening the data frame.
    flags, validity = pl.collect_all(
        [
            data.select(LINE, *[c.fails(ctx).fill_null(False).alias(c.code) for c in active]),
            data.select(
                *[e for f in spec.fields if f.name in src.present for e in field_validity(ctx, f)]
            ),
        ]
    )

    error_codes = [c.code for c in active if c.severity == "error"]
    warning_codes = [c.code for c in active if c.severity == "warning"]
    counts = flags.select(
        *[pl.col(c.code).sum().alias(c.code) for c in active],
        _any(error_codes).sum().alias("__errors"),
        _any(warning_codes).sum().alias("__warnings"),
        *[
            _any([c.code for c in active if f in c.fields and c.severity == sev])
            .sum()
            .alias(f"{sev}:{f}")
            for f in spec.header
            for sev in ("error", "warning")
        ],
    ).row(0, named=True)
    if validity.width:
        counts.update(validity.row(0, named=True))

    fired = [c for c in active if counts[c.code]]
    findings = _findings(data, flags, fired, ctx)
    file_findings.extend(_coverage_findings(data, ctx))
    file_findings.sort(key=lambda f: (f.severity != "error", f.line or 0))

    rules = pl.DataFrame(
        {
            "code": [c.code for c in fired],
            "severity": [c.severity for c in fired],
            "fields": [list(c.fields) for c in fired],
            "rows": [int(counts[c.code]) for c in fired],
            "message": [c.message for c in fired],
            "guidance": [c.guidance for c in fired],
            "category": [c.category for c in fired],
        },
        schema={
            "code": pl.String,
            "severity": pl.String,
            "fields": pl.List(pl.String),
            "rows": pl.Int64,
            "message": pl.String,
            "guidance": pl.String,
            "category": pl.String,
        },
    ).sort(["severity", "rows", "code"], descending=[False, True, False])
    fields = pl.DataFrame(
        {
            "field": list(spec.header),
            "module": [f.module for f in spec.fields],
            "present": [f.name in src.present for f in spec.fields],
            "errors": [int(counts[f"error:{f}"] or 0) for f in spec.header],
            "warnings": [int(counts[f"warning:{f}"] or 0) for f in spec.header],
            **{
                measure: [int(counts.get(f"{measure}:{f}") or 0) for f in spec.header]
                for measure in VALIDITY_MEASURES
            },
        }
    ).with_columns(
        # Of the values that are required or were given where the field applies, the share that
        # is valid: blanks where the field is optional neither help nor hurt.
        (
            pl.col("valid")
            / (pl.col("mandatory_rows") + pl.col("optional_rows") - pl.col("blank_optional"))
        )
        .fill_nan(None)
        .alias("pct_valid")
    )
    return Report(
        file=str(src.path),
        rows=src.rows,
        release=spec.release,
        errors=int(counts["__errors"] or 0),
        warnings=int(counts["__warnings"] or 0),
        fields=fields,
        rules=rules,
        finding_rows=findings,
        file_findings=file_findings,
        skipped_checks=[c.code for c in skipped],
        encoding=src.encoding,
        seconds=time.perf_counter() - started,
        checks=tuple(active),
        raw=data.select(LINE, *spec.header).collect(),
    )


#: Per-field counts of rows, as the central data-quality report has them. The first three
#: split every row by whether the field is mandatory, applies but is optional, or does not
#: apply; the rest split the applicable rows by what they hold, plus values given where the
#: field does not apply.
VALIDITY_MEASURES = (
    "mandatory_rows",
    "optional_rows",
    "not_applicable_rows",
    "valid",
    "blank_optional",
    "blank_mandatory",
    "invalid",
    "release1",
    "near_miss",
    "given_not_applicable",
)


def field_validity(ctx: Context, f: FieldSpec) -> list[pl.Expr]:
    """Aggregations for ``VALIDITY_MEASURES`` of one field (aliased ``measure:field``).

    Where the field's applicability cannot be judged (the event type is blank, as on a
    'known by association' row, or invalid) the row counts as not applicable, so the
    denominators hold only rows the field is known to apply to; a value given there is not
    counted as "given where not applicable", because the specification cannot say it is.
    """
    n = f.name
    every_row = pl.col(LINE).is_not_null()  # a literal would sum to 1, not to the row count
    if f.applies_when:
        judged = ctx.condition(f.applies_when)
        applies, surely_not = judged.fill_null(False), ~judged.fill_null(True)
    else:
        applies, surely_not = every_row, ~every_row
    if f.mandatory == "always":
        mandatory = every_row
    elif f.mandatory == "conditional" and f.mandatory_when:
        mandatory = ctx.condition(f.mandatory_when).fill_null(False)
    else:
        mandatory = ~every_row
    mandatory = mandatory & applies
    optional = applies & ~mandatory
    blank, valid = ctx.blank(n), ctx.valid(n)
    if f.kind == "list" and n in ctx.matchers:
        release1 = ctx.is_list_class(n, "release1").fill_null(False)
        near_miss = ctx.is_list_class(n, "near_miss").fill_null(False)
    else:
        release1 = near_miss = ~every_row
    invalid = ~blank & ~valid & ~release1 & ~near_miss
    measures = {
        "mandatory_rows": mandatory,
        "optional_rows": optional,
        "not_applicable_rows": ~applies,
        "valid": applies & valid,
        "blank_optional": optional & blank,
        "blank_mandatory": mandatory & blank,
        "invalid": applies & invalid,
        "release1": applies & release1,
        "near_miss": applies & near_miss,
        "given_not_applicable": surely_not & ~blank,
    }
    return [expr.sum().alias(f"{name}:{n}") for name, expr in measures.items()]


def prepare_frame(
    frame: pl.LazyFrame, ctx: Context, source: ReturnSource | None = None
) -> pl.LazyFrame:
    """Read the return once, add the helper columns the checks read, and return the plan that
    adds the families' cross-row helpers (small lookups computed here) on top.

    Returned lazy so that callers select only what they need: widening a million-row frame
    with more columns costs a copy each time.
    """
    # Not rechunked: the helper columns are only ever combined in lazy selects, where Polars
    # aligns the chunks of the (cheap, boolean) operands; a rechunk copied every string.
    try:
        raw = frame.collect()
    except pl.exceptions.ComputeError as exc:
        # A quote out of place can stop the scan of a file that took the reader's quick
        # path; the exact path rewrites such lines first.
        if source is not None and source.finisher is not None:
            raise ExactReadNeeded(source.path) from exc
        raise
    if source is not None:
        raw = source.finish(raw)  # the reader's findings that needed the rows
    data = ctx.prepare(raw.lazy(), ctx.classify(raw)).collect()
    helpers: list[pl.Expr] = []
    for family in FAMILIES:
        prepare = getattr(family, "prepare", None)
        if prepare is not None:
            helpers.extend(prepare(data, ctx))
    return data.lazy().with_columns(helpers)


def _any(codes: Sequence[str]) -> pl.Expr:
    if not codes:
        return pl.lit(False)
    return pl.any_horizontal([pl.col(c) for c in codes])


def _findings(
    data: pl.LazyFrame, flags: pl.DataFrame, fired: Sequence[Check], ctx: Context
) -> pl.DataFrame:
    """One row per (row, check) failure, in line order, with value and suggestion."""
    parts = []
    for check in fired:
        value = (
            check.value(ctx)
            if check.value
            else (ctx.raw(check.field) if check.fields else pl.lit("(whole row)"))
        )
        suggestion = check.suggestion(ctx) if check.suggestion else pl.lit(None, dtype=pl.String)
        mask = pl.lit(flags[check.code])
        # Frame checks compare rows: their value and suggestion must see every row, so they
        # are computed before the failing rows are picked out.
        if check.scope == "frame":
            base = data.with_columns(
                value.cast(pl.String).alias("__value"), suggestion.cast(pl.String).alias("__sugg")
            ).filter(mask)
            value, suggestion = pl.col("__value"), pl.col("__sugg")
        else:
            base = data.filter(mask)
        parts.append(
            base.select(
                pl.col(LINE).alias("line"),
                pl.col(PID).alias("person_id"),
                pl.col(REF).alias("event_reference"),
                pl.col(TYPE).alias("event_type"),
                pl.lit(check.field if check.fields else "(whole row)").alias("field"),
                pl.lit(check.code).alias("code"),
                pl.lit(check.severity).alias("severity"),
                value.cast(pl.String).alias("value"),
                suggestion.cast(pl.String).alias("suggestion"),
            )
        )
    if not parts:
        return pl.DataFrame(schema=FINDINGS_SCHEMA)
    order = {c.code: i for i, c in enumerate(fired)}
    out = pl.concat(pl.collect_all(parts), how="vertical")
    out = _closest_values(
        out, [c for c in fired if c.category == "invalid" and c.field in ctx.matchers]
    )
    return out.sort(["line", pl.col("code").replace_strict(order, return_dtype=pl.Int32)])


def _closest_values(findings: pl.DataFrame, invalid_checks: Sequence[Check]) -> pl.DataFrame:
    """Suggest the closest listed value for invalid defined-list values, where one is close.

    Runs over distinct invalid values (not rows), most frequent first, capped.
    """
    if not invalid_checks:
        return findings
    spec = load_spec()
    pieces = []
    for check in invalid_checks:
        values = spec.values(check.field)
        distinct = (
            findings.filter(pl.col("code") == check.code)
            .group_by("value")
            .len()
            .sort("len", descending=True)
            .head(MAX_CLOSEST_LOOKUPS)["value"]
            .to_list()
        )
        lowered = {v.lower(): v for v in values}
        for raw in distinct:
            if raw is None:
                continue
            match = difflib.get_close_matches(raw.lower().strip(), list(lowered), n=1, cutoff=0.75)
            if match:
                pieces.append((check.code, raw, lowered[match[0]]))
    if not pieces:
        return findings
    table = pl.DataFrame(pieces, schema=["code", "value", "__closest"], orient="row")
    return (
        findings.join(table, on=["code", "value"], how="left", maintain_order="left")
        .with_columns(pl.coalesce("suggestion", "__closest").alias("suggestion"))
        .drop("__closest")
    )


def _missing_column_findings(src: ReturnSource, skipped: Sequence[Check]) -> list[FileFinding]:
    if not src.header:
        return []
    out = []
    for name in src.missing:
        codes = [c.code for c in skipped if name in c.needs]
        out.append(
            FILE_RULES["HEADER_MISSING_COLUMN"].finding(
                line=1, field=name, skipped=", ".join(codes) if codes else "none"
            )
        )
    return out


def _coverage_findings(data: pl.LazyFrame, ctx: Context) -> list[FileFinding]:
    """Warn where the events do not fill the stated 12 months or an event type is absent.

    A month counts the requests, assessments and reviews completed in it and the services that
    started in it; a month holding under 2% of those is reported.
    """
    spec = ctx.spec
    p_start, p_end = (
        data.select(
            pl.col(date_col(f"Reporting Period {which} Date")).drop_nulls().mode().first()
            for which in ("Start", "End")
        )
        .collect()
        .row(0)
    )
    if p_start is None or p_end is None or p_start > p_end:
        return []
    event_type = pl.when(ctx.valid(TYPE)).then(pl.col(TYPE))
    when = (
        pl.when(event_type == "Service")
        .then(pl.col(date_col("Event Start Date")))
        .otherwise(pl.col(date_col("Event End Date")))
    )
    months = (
        data.lazy()
        .select(when.alias("d"))
        .filter(pl.col("d").is_between(p_start, p_end))
        .group_by(pl.col("d").dt.truncate("1mo").alias("month"))
        .len()
        .collect()
    )
    expected = pl.date_range(p_start, p_end, "1mo", eager=True).dt.truncate("1mo")
    total = int(months["len"].sum()) if months.height else 0
    per_month = dict(zip(months["month"].to_list(), months["len"].to_list(), strict=True))
    sparse = [m for m in expected.to_list() if per_month.get(m, 0) < 0.02 * total]
    types = set(data.select(event_type.drop_nulls().unique()).collect().to_series().to_list())
    absent = [t for t in spec.lists["event_type"] if t not in types]
    details = []
    if sparse:
        details.append(
            "months with under 2% of the events: " + ", ".join(m.strftime("%b %Y") for m in sparse)
        )
    if absent:
        details.append("no " + ", no ".join(f"{t} rows" for t in absent))
    if not details:
        return []
    return [FILE_RULES["PERIOD_COVERAGE"].finding(detail="; ".join(details))]
