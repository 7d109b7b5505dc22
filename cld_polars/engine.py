"""The validation engine: a return is read once, checked chunk by chunk, then across rows.

Follow one return through :func:`validate`; each stage is a function below, in order:

1. **read** (``reader``): the return as a lazy frame of text columns, one per field.
2. **plan** (:func:`plan_checks`): which checks run, which are skipped for a missing column,
   and what the projection kept for the cross-row checks holds.
3. **stream** (:func:`stream_rows`): one streaming scan; each chunk gets its fields' states
   (``Context.prepare``), its row checks, per-field measures and findings, then is dropped.
   What outlives it is a narrow projection (identifiers, the fields the cross-row checks
   compare, each row's error flags) and the summary counts' per-row columns.
4. **cross-row** (:func:`check_frame`): duplicates, one person's details, the council and
   period being single, over the projection of the whole return.
5. **central view** (:func:`central_stage`): what DHSC's pipeline makes of the return
   (``cld_polars.central``), from the compact state its collector kept from each chunk.
6. **assemble** (:func:`assemble`): the rules and fields tables (``report``) and the report.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from cld_polars.central import NEEDS as CENTRAL_NEEDS
from cld_polars.central import CentralError, CentralView, Collector, finish
from cld_polars.checks.context import LINE, Context, date_col, state_col
from cld_polars.checks.crossrow import ROW_HASH
from cld_polars.checks.families import FAMILIES, FILE_RULES, all_checks
from cld_polars.checks.registry import Check, FileFinding, Severity
from cld_polars.findings import FindingStore, finding_rows
from cld_polars.measures import Totals, count_states, field_state
from cld_polars.names import IDS, PERIOD_END, PERIOD_START, PID, REF, SUBMISSION, TYPE
from cld_polars.reader import BYTES, ExactReadNeeded, ReturnSource, frame_source, read_return
from cld_polars.report import Report, fields_table, rules_table
from cld_polars.spec import Spec, load_spec
from cld_polars.summary import shared_columns, summary_columns

#: Rows per chunk of the streaming pass. Each chunk is read, given its helper columns and
#: checked, then dropped: peak memory follows the chunk, not the return. Each chunk also pays
#: a fixed cost of planning its queries, so larger chunks are faster and hold more.
CHUNK_ROWS = 100_000
#: Rows the streaming scan hands over at a time. The scan reads a few of these ahead, so
#: they are kept smaller than a chunk (memory), and gathered into chunks (speed).
BATCH_ROWS = 10_000
SEVERITIES: tuple[Severity, ...] = ("error", "warning")

Source = str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame


def validate(
    source: Source,
    spec: Spec | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> Report:
    """Validate a return (a CSV path, or a frame with the specification's columns).

    ``progress``, when given, is told each stage ("reading", "checking") as it starts, for a
    display on the terminal. ``chunk_rows`` sets the rows the streaming pass holds at once
    (the results do not depend on it). Raises :class:`cld_polars.reader.ReturnReadError`
    when a path cannot be read at all.
    """
    spec = spec or load_spec()
    started = time.perf_counter()
    try:
        with _open(source, spec, progress, quick=True) as src:
            report = check_return(src, spec, started, chunk_rows, progress)
    except ExactReadNeeded:
        # A quote out of place, found only once the rows were read: read it the exact way.
        with _open(source, spec, progress, quick=False) as src:
            report = check_return(src, spec, started, chunk_rows, progress)
    report.source = source
    return report


def _open(
    source: Source, spec: Spec, progress: Callable[[str], None] | None, *, quick: bool
) -> ReturnSource:
    if progress:
        progress("reading")
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        return frame_source(source, spec)
    return read_return(source, spec, quick=quick)


def check_return(
    src: ReturnSource,
    spec: Spec,
    started: float | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """The stages after reading: plan, stream, cross-row, assemble."""
    started = started if started is not None else time.perf_counter()
    if progress:
        progress("checking")
    plan = plan_checks(spec, src.present)
    rows = stream_rows(src, plan, chunk_rows, progress)
    if progress:
        progress("cross-row checks")
    frame = check_frame(rows, plan)
    # The projection is done with: freed before the central view's own finishing step, all
    # but the identifiers of the rows the view will list (looked up, then let go).
    identifiers = rows.projection.select(LINE, PID, REF)
    rows.projection = pl.DataFrame()
    central, central_problem = central_stage(rows.central, src)
    if central is not None:
        central.keep_identifiers(identifiers, line=LINE)
    del identifiers
    return assemble(src, plan, rows, frame, started, central, central_problem)


# --- plan ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """The checks of one run, and what the streaming pass keeps for the cross-row checks."""

    spec: Spec
    #: The specification's fields the return has (the others read as blank).
    present: frozenset[str]
    #: Every declared check, in declaration order (the findings' order within a line).
    checks: tuple[Check, ...]
    #: The checks that run (every column they need is in the return), in declaration order,
    #: and those of them that look at one row, and those that compare rows.
    active: tuple[Check, ...]
    row: tuple[Check, ...]
    frame: tuple[Check, ...]
    #: The checks that cannot run, for want of a column.
    skipped: tuple[Check, ...]
    #: Fields a frame check names: the row checks' flags on them are kept per row, so that a
    #: row failing both kinds counts once.
    joint: tuple[str, ...]
    #: The projection's text columns, and the fields whose helper columns it keeps.
    kept_text: tuple[str, ...]
    kept_helpers: tuple[str, ...]


#: Fields whose helper columns the projection keeps besides those the frame checks read: the
#: period and event dates, for the period coverage check.
ALWAYS_KEPT = (PERIOD_START, PERIOD_END, "Event Start Date", "Event End Date")


def plan_checks(spec: Spec, present: frozenset[str] | set[str]) -> Plan:
    """Which checks run on a return with these columns, and what the projection keeps.

    Text is kept only where a frame check compares or shows it (its ``fields``) and for the
    identifiers findings show; the rest of what the frame families read (``requires``,
    ``Family.frame_fields``) they read through helper columns. Text is most of the
    projection's memory.
    """
    checks = all_checks(spec)
    active = [c for c in checks if set(c.needs) <= present]
    frame_checks = [c for c in active if c.scope == "frame"]
    every_frame_check = [c for c in checks if c.scope == "frame"]
    text = set(IDS)
    helpers = set(ALWAYS_KEPT)
    for check in every_frame_check:  # active or not: a missing column is a column of nulls
        text |= set(check.fields)
        helpers |= set(check.needs)
    for family in FAMILIES:
        helpers |= set(family.frame_fields)
    helpers |= text
    return Plan(
        spec=spec,
        present=frozenset(present),
        checks=checks,
        active=tuple(active),
        row=tuple(c for c in active if c.scope == "row"),
        frame=tuple(frame_checks),
        skipped=tuple(c for c in checks if not set(c.needs) <= present),
        joint=tuple(f for f in spec.header if any(f in c.fields for c in frame_checks)),
        kept_text=tuple(f for f in spec.header if f in text),
        kept_helpers=tuple(f for f in spec.header if f in helpers),
    )


def _codes(checks: Sequence[Check], severity: str, field: str | None = None) -> list[str]:
    """The codes of the checks of this severity (naming ``field``, when one is given)."""
    return [
        c.code for c in checks if c.severity == severity and (field is None or field in c.fields)
    ]


def _any(codes: Sequence[str]) -> pl.Expr:
    """Any of these flag columns is true; with none, false on every row (a column as long as
    the frame, empty ones included, where a literal would be one row)."""
    if not codes:
        return pl.repeat(False, pl.len())
    return pl.any_horizontal([pl.col(c) for c in codes])


def _row_flag(severity: str, field: str | None = None) -> str:
    """The projection's column: the row failed a row check of this severity (on ``field``)."""
    return f"__row:{severity}" if field is None else f"__row:{severity}:{field}"


# --- stream -------------------------------------------------------------------------------


@dataclass
class RowPass:
    """What the streaming pass leaves for the stages after it."""

    totals: Totals
    #: The narrow projection of the whole return the cross-row checks run on.
    projection: pl.DataFrame
    #: The summary counts' per-row columns.
    summary_base: pl.DataFrame
    findings: FindingStore
    ctx: Context
    file_findings: list[FileFinding]
    #: The central view's compact state of every row (``cld_polars.central``).
    central: Collector


class _ChunkPlan:
    """The expressions every chunk is checked with, built once (from the first chunk's
    columns) and reused for each."""

    def __init__(self, plan: Plan, ctx: Context, data: pl.LazyFrame) -> None:
        spec = plan.spec
        columns = data.collect_schema().names()
        self.flags = [
            pl.col(LINE),
            *[c.fails(ctx).fill_null(False).alias(c.code) for c in plan.row],
        ]
        self.states = [field_state(ctx, f) for f in spec.fields if f.name in plan.present]
        text = pl.Categorical(pl.Categories.random())  # this run's own: see _compact
        kept = {LINE, *plan.kept_text}
        for name in plan.kept_helpers:
            kept |= {state_col(name), date_col(name)}
        self.projection = _compact(data, [pl.col(c) for c in columns if c in kept], text)
        # The summary's own columns: those the projection holds are taken from it at the end.
        self.summary = _compact(data, summary_columns(columns, spec, shared=False), text)
        # Over a chunk's flags: per row, whether a row check failed (by severity, and on each
        # field a frame check also names), and the counts that need no frame check.
        self.per_row = [_any(_codes(plan.row, sev)).alias(_row_flag(sev)) for sev in SEVERITIES]
        self.per_row += [
            _any(_codes(plan.row, sev, f)).alias(_row_flag(sev, f))
            for f in plan.joint
            for sev in SEVERITIES
        ]
        self.field_sums = [
            (sev, f) for f in spec.header if f not in plan.joint for sev in SEVERITIES
        ]
        self.sums = [pl.col(c.code).sum() for c in plan.row] + [
            _any(_codes(plan.row, sev, f)).sum().alias(f"{sev}:{f}") for sev, f in self.field_sums
        ]


def stream_rows(
    src: ReturnSource,
    plan: Plan,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[str], None] | None = None,
) -> RowPass:
    """Check a return in one streaming pass, chunk by chunk (the row checks).

    Each chunk gets its helper columns and its row checks, per-field measures and findings;
    what outlives the chunk is the narrow projection and the summary columns, so memory
    follows the chunk size plus a few columns of the whole return.
    """
    ctx = Context(plan.spec)
    totals = Totals()
    store = FindingStore(plan.checks)
    projection: list[pl.DataFrame] = []
    summary: list[pl.DataFrame] = []
    byte_counts: list[pl.DataFrame] = []
    chunk_plan: _ChunkPlan | None = None
    # The central view reads the same codes of the run's categories as the checks.
    central = Collector(plan.spec, raw=ctx.codes)
    # The low-cardinality fields are read as categoricals of the run's categories, so a
    # value's code is the same in every chunk and is judged once.
    codes = ctx.categorical()
    seen = 0
    for raw in _chunks(src, chunk_rows, codes):
        if BYTES in raw.columns:
            byte_counts.append(raw.select(LINE, pl.col(BYTES).cast(pl.UInt32)))
            raw = raw.drop(BYTES)
        hashes = row_hash(raw, plan.spec)
        data = prepare_frame(raw, ctx)
        if chunk_plan is None:
            chunk_plan = _ChunkPlan(plan, ctx, data)
        flags, states, kept, summary_part, central_part = pl.collect_all(
            [
                data.select(chunk_plan.flags),
                data.select(chunk_plan.states),
                data.select(chunk_plan.projection),
                data.select(chunk_plan.summary),
                # The central view's columns of the chunk as read, to its compact state.
                central.query(raw.lazy().select(LINE, *CENTRAL_NEEDS)),
            ]
        )
        central.add(central_part)
        per_row = flags.select(chunk_plan.per_row)
        sums = flags.select(chunk_plan.sums).row(0, named=True)
        for check in plan.row:
            totals.by_check[check.code] += sums[check.code]
        for sev, f in chunk_plan.field_sums:
            totals.by_field[(sev, f)] += sums[f"{sev}:{f}"]
        totals.measures.update(count_states(states))
        projection.append(kept.hstack([hashes, *per_row.get_columns()]))
        summary.append(summary_part)
        fired = [c for c in plan.row if sums[c.code]]
        if fired:
            store.add(finding_rows(data, flags, fired, ctx))
        seen += raw.height
        if progress and src.rows:
            progress(f"checking ({seen:,} of {src.rows:,} rows)")
        # Let this chunk go before the next is read: otherwise two are held at the peak.
        del raw, data, flags, states, kept, summary_part, per_row, hashes, central_part
    src.finish(byte_counts)  # may ask for the exact read
    findings = list(src.findings)
    projection_frame = pl.concat(projection)
    del projection
    return RowPass(
        totals=totals,
        projection=projection_frame,
        summary_base=_summary_base(projection_frame, summary),
        findings=store,
        ctx=ctx,
        file_findings=findings,
        central=central,
    )


def _summary_base(projection: pl.DataFrame, own: list[pl.DataFrame]) -> pl.DataFrame:
    """The summary counts' per-row columns: those the projection holds anyway (the same
    buffers, not copies, where they are its columns as they are), beside the summary's own."""
    shared = projection.select(shared_columns(projection.columns))
    return shared.hstack(pl.concat(own).get_columns())


def _chunks(
    src: ReturnSource, chunk_rows: int, dtypes: Mapping[str, pl.DataType]
) -> Iterator[pl.DataFrame]:
    """The return's rows, about ``chunk_rows`` at a time, the fields of ``dtypes`` read as
    those: from the reader's own chunks where it has them (memory bounded by the chunk), or
    from one streaming scan of its frame."""
    given = False
    try:
        if src.chunker is not None:
            for chunk in src.chunker(chunk_rows, dtypes):
                given = True
                yield chunk
        else:
            frame = src.frame.with_columns(pl.col(n).cast(d) for n, d in dtypes.items())
            pending: list[pl.DataFrame] = []
            held = 0
            for batch in frame.collect_batches(chunk_size=min(BATCH_ROWS, chunk_rows)):
                pending.append(batch)
                held += batch.height
                if held >= chunk_rows:
                    given = True
                    yield pl.concat(pending)
                    pending, held = [], 0
            if pending:
                given = True
                yield pl.concat(pending)
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError) as exc:
        # A quote out of place can stop the scan of a file that took the reader's quick
        # path (or, on a file with no header, make it count another number of columns); the
        # exact path rewrites such lines first.
        if src.finisher is not None:
            raise ExactReadNeeded(src.path) from exc
        raise
    if not given:  # a return with no rows is checked as one empty chunk, like any other
        yield src.frame.with_columns(pl.col(n).cast(d) for n, d in dtypes.items()).clear().collect()


#: Kept as text in the projection: the one kept field whose values are nearly all distinct,
#: for which a dictionary would cost more than it saves.
UNIQUE_TEXT = ("Event Reference",)


def _compact(data: pl.LazyFrame, columns: list[pl.Expr], text: pl.DataType) -> list[pl.Expr]:
    """``columns``, with those that are text cast to the run's categorical type ``text``.

    They outlive the chunk. Polars holds every string in a 16-byte view, null or short as it
    may be; a categorical costs 4 bytes a row plus each distinct value once. The categories
    are the run's own (``Categories.random``), not the process-wide ones, so they are freed
    with the report: a batch run of many returns does not accumulate every identifier it met.
    Cast inside the chunk's plan: a separate pass cost twice as much.
    """
    schema = data.select(columns).collect_schema()
    return [
        e.cast(text)
        if schema[e.meta.output_name()] == pl.String and e.meta.output_name() not in UNIQUE_TEXT
        else e
        for e in columns
    ]


def row_hash(raw: pl.DataFrame, spec: Spec) -> pl.Series:
    """Each row's hash of its 48 values, by which the duplicate checks tell rows apart."""
    return raw.select(spec.header).hash_rows().alias(ROW_HASH)


def prepare_frame(raw: pl.DataFrame, ctx: Context) -> pl.LazyFrame:
    """A chunk (or a whole frame) with the helper columns the row checks read: the fields'
    states and parsed dates, then the families' row-local helpers (small lookups).

    Returned lazy so that callers select only what they need: widening a frame with more
    columns costs a copy each time.
    """
    data = ctx.prepare(raw).collect()
    helpers: list[pl.Expr] = []
    for family in FAMILIES:
        if family.prepare is not None:
            helpers.extend(family.prepare(data, ctx))
    return data.lazy().with_columns(helpers)


def prepare_whole(raw: pl.DataFrame, ctx: Context) -> pl.LazyFrame:
    """Every helper column, row and frame, on a frame held whole in memory (the Pandera
    schema's checks run this way on a user's frame)."""
    collected = prepare_frame(raw, ctx).collect().with_columns(row_hash(raw, ctx.spec))
    return collected.lazy().with_columns(_frame_helpers(collected, ctx))


# --- cross-row ----------------------------------------------------------------------------


@dataclass
class FramePass:
    """What the cross-row checks found."""

    #: Their failing rows' findings (None when none fired).
    findings: pl.DataFrame | None
    file_findings: list[FileFinding]
    #: The council and period as most rows give them.
    submission: dict[str, str | None]


def check_frame(rows: RowPass, plan: Plan) -> FramePass:
    """The cross-row checks over the projection of the whole return; their flags are
    combined with the row checks' per row, so a row failing both kinds counts once."""
    projection, ctx, totals = rows.projection, rows.ctx, rows.totals
    data = projection.lazy().with_columns(_frame_helpers(projection, ctx))
    flags = data.select(
        LINE, *[c.fails(ctx).fill_null(False).alias(c.code) for c in plan.frame]
    ).collect()
    joined = projection.select(LINE, *[c for c in projection.columns if c.startswith("__row:")])
    joined = joined.hstack(flags.drop(LINE))

    def either(flag: str, sev: Severity, f: str | None) -> pl.Expr:
        return pl.any_horizontal(pl.col(flag), _any(_codes(plan.frame, sev, f)))

    counted = joined.select(
        *[pl.col(c.code).sum() for c in plan.frame],
        *[either(_row_flag(sev), sev, None).sum().alias(sev) for sev in SEVERITIES],
        *[
            either(_row_flag(sev, f), sev, f).sum().alias(f"{sev}:{f}")
            for f in plan.joint
            for sev in SEVERITIES
        ],
    ).row(0, named=True)
    for check in plan.frame:
        totals.by_check[check.code] += counted[check.code]
    for sev in SEVERITIES:
        totals.flagged[sev] += counted[sev]
        for f in plan.joint:
            totals.by_field[(sev, f)] += counted[f"{sev}:{f}"]
    fired = [c for c in plan.frame if counted[c.code]]
    return FramePass(
        findings=finding_rows(data, flags, fired, ctx) if fired else None,
        file_findings=coverage_findings(projection.lazy(), ctx),
        submission=_submission(projection),
    )


def _frame_helpers(projection: pl.DataFrame, ctx: Context) -> list[pl.Expr]:
    helpers: list[pl.Expr] = []
    for family in FAMILIES:
        if family.prepare_frame is not None:
            helpers.extend(family.prepare_frame(projection, ctx))
    return helpers


def _submission(projection: pl.DataFrame) -> dict[str, str | None]:
    """The council and period as most rows give them (one stray row does not hide whose
    return it is: the NOT_SINGLE checks report the stray)."""
    if not projection.height:
        return dict.fromkeys(SUBMISSION)
    present = [n for n in SUBMISSION if n in projection.columns]
    found = projection.select(pl.col(n).drop_nulls().mode().sort().first() for n in present)
    values = found.row(0, named=True)
    return {n: values.get(n) for n in SUBMISSION}


def missing_column_findings(src: ReturnSource, skipped: Sequence[Check]) -> list[FileFinding]:
    """A finding per specification column the return lacks, naming the checks skipped."""
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


def coverage_findings(data: pl.LazyFrame, ctx: Context) -> list[FileFinding]:
    """Warn where the events do not fill the stated 12 months or an event type is absent.

    A month counts the requests, assessments and reviews completed in it and the services that
    started in it; a month holding under 2% of those is reported.
    """
    spec = ctx.spec
    p_start, p_end = (
        data.select(
            pl.col(date_col(name)).drop_nulls().mode().first()
            for name in (PERIOD_START, PERIOD_END)
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
        data.select(when.alias("d"))
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


# --- central view -------------------------------------------------------------------------


def central_stage(collector: Collector, src: ReturnSource) -> tuple[CentralView | None, str | None]:
    """The central view with the contract's default parameters, or why there is none (the
    return states no valid period end, so the import date would have to be given). Its
    unique events are not kept (memory): ``cld_polars.central(path)`` gives them."""
    try:
        return finish(collector, source=str(src.path), keep_events=False), None
    except CentralError as exc:
        return None, str(exc)


# --- assemble -----------------------------------------------------------------------------


def assemble(
    src: ReturnSource,
    plan: Plan,
    rows: RowPass,
    frame: FramePass,
    started: float,
    central: CentralView | None = None,
    central_problem: str | None = None,
) -> Report:
    """The report: every finding in order, the file-level findings, the rules and fields."""
    totals = rows.totals
    fired = [c for c in plan.active if totals.by_check[c.code]]
    closest = [
        c for c in fired if c.category == "invalid" and plan.spec.field(c.field).kind == "list"
    ]
    file_findings = [
        *rows.file_findings,
        *missing_column_findings(src, plan.skipped),
        *frame.file_findings,
    ]
    file_findings.sort(key=lambda f: (f.severity != "error", f.line or 0))
    return Report(
        file=str(src.path),
        rows=src.rows,
        release=plan.spec.release,
        errors=totals.flagged["error"],
        warnings=totals.flagged["warning"],
        fields=fields_table(plan.spec, plan.present, totals),
        rules=rules_table(fired, totals),
        findings_data=rows.findings.finish(frame.findings, closest, plan.spec),
        spill=rows.findings.folder,
        file_findings=file_findings,
        skipped_checks=[c.code for c in plan.skipped],
        encoding=src.encoding,
        seconds=time.perf_counter() - started,
        checks=plan.active,
        summary_base=rows.summary_base,
        submission=frame.submission,
        central=central,
        central_problem=central_problem,
    )
