"""The validation engine: every declared check evaluated in one Polars plan over one read.

The return is read once; typed columns are added once; every row and frame check becomes a
boolean column in a single ``select``; counts per rule, per field and per row come from those
columns; findings are gathered from the failing rows only.
"""

from __future__ import annotations

import collections
import difflib
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import polars as pl

from cld_polars.central import NEEDS as CENTRAL_NEEDS
from cld_polars.central import CentralError, CentralView, Collector, finish
from cld_polars.checks import FAMILIES, FILE_RULES, all_checks, crossrow
from cld_polars.checks.context import (
    LINE,
    Context,
    blank_col,
    code_col,
    date_col,
    formula_col,
    valid_col,
)
from cld_polars.checks.registry import Check, FileFinding
from cld_polars.reader import BYTES, ExactReadNeeded, ReturnSource, frame_source, read_return
from cld_polars.report import Report
from cld_polars.safety import temp_dir
from cld_polars.spec import FieldSpec, Spec, load_spec
from cld_polars.summary import summary_columns

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


#: Rows per chunk of the streaming pass. Each chunk is read, given its helper columns and
#: checked, then dropped: peak memory follows the chunk, not the return. Measured on 1M rows
#: (2 cores, CLI without the workbook): 50,000 rows per chunk peaked at 1.01-1.03 GB in
#: 6.1-6.6 s, 100,000 at 1.06-1.10 GB in 5.6 s, 200,000 at 1.24-1.28 GB in 5.2 s, one chunk
#: at 1.86 GB in 4.9 s: each chunk pays about 44 ms of planning its queries.
CHUNK_ROWS = 100_000


def validate(
    source: str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame,
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
            report = run_checks(opened, spec, started, chunk_rows, progress)
        except ExactReadNeeded:
            report = None
    if report is None:
        # A quote out of place, found only once the rows were read: read it the exact way.
        with read_return(source, spec, quick=False) as opened:
            report = run_checks(opened, spec, started, chunk_rows, progress)
    report.source = source
    return report


#: Findings held in memory before they are written to disk. A return with a fault on every
#: row can have tens of millions of findings (about 150 bytes each in memory): beyond this
#: many, each chunk's findings go to a Parquet file and ``Report.findings`` scans them.
SPILL_ROWS = 2_000_000
ORDER = "__order"
#: ``ORDER`` is line x this + the check's place in the declarations (fewer than this).
_ORDER_STRIDE = 4096


class _FindingStore:
    """Findings in line order, check order within a line, from the chunks as they come.

    Each part carries ``ORDER`` (line and check) and is sorted by it; parts come in line
    order, so the row checks' findings are in order as they are appended. The frame checks'
    findings, known at the end, are merged in by ``ORDER``. Past ``SPILL_ROWS`` the parts go
    to Parquet in a temporary folder that the report keeps alive.
    """

    def __init__(self, checks: Sequence[Check]) -> None:
        if len(checks) >= _ORDER_STRIDE:
            raise ValueError("too many checks for the findings' order key")
        self.order = {c.code: i for i, c in enumerate(checks)}
        self.held: list[pl.DataFrame] = []
        self.held_rows = 0
        self.files: list[Path] = []
        self.folder: tempfile.TemporaryDirectory[str] | None = None

    def ordered(self, part: pl.DataFrame) -> pl.DataFrame:
        code = pl.col("code").replace_strict(self.order, return_dtype=pl.Int64)
        return part.with_columns((pl.col("line") * _ORDER_STRIDE + code).alias(ORDER)).sort(ORDER)

    def add(self, part: pl.DataFrame) -> None:
        self.held.append(self.ordered(part))
        self.held_rows += part.height
        if self.held_rows > SPILL_ROWS:
            self._spill()

    def _spill(self) -> None:
        if self.folder is None:
            self.folder = temp_dir("findings")  # registered, as the reader's
        target = Path(self.folder.name) / f"part{len(self.files):05d}.parquet"
        pl.concat(self.held).write_parquet(target)
        self.files.append(target)
        self.held, self.held_rows = [], 0

    def finish(
        self, frame_part: pl.DataFrame | None, invalid_checks: Sequence[Check]
    ) -> pl.DataFrame | pl.LazyFrame:
        """Every finding, in order, with closest listed values suggested: a DataFrame, or a
        LazyFrame over one Parquet file when the findings were written to disk."""
        rows = [pl.scan_parquet(f, glob=False) for f in self.files] + [h.lazy() for h in self.held]
        if not rows and frame_part is None:
            return pl.DataFrame(schema=FINDINGS_SCHEMA)
        schema = {**FINDINGS_SCHEMA, ORDER: pl.Int64}
        found = pl.concat(rows) if rows else pl.LazyFrame(schema=schema)
        if frame_part is not None:
            found = found.merge_sorted(self.ordered(frame_part).lazy(), key=ORDER)
        found = _closest_values(found, invalid_checks).drop(ORDER)
        if self.folder is None:
            return found.collect()
        final = Path(self.folder.name) / "findings.parquet"
        found.sink_parquet(final)
        for part in self.files:
            part.unlink()
        return pl.scan_parquet(final, glob=False)


class _Totals:
    """Counts summed over the chunks: per check, per ``severity:field``, per measure."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()

    def add(self, row: dict[str, object]) -> None:
        for key, value in row.items():
            self.counts[key] += int(value or 0)  # type: ignore[call-overload]


def run_checks(
    src: ReturnSource,
    spec: Spec,
    started: float | None = None,
    chunk_rows: int = CHUNK_ROWS,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Check a return in one streaming pass, chunk by chunk, then the cross-row checks.

    Each chunk gets its helper columns and its row checks, per-field measures and findings;
    what outlives the chunk is a narrow projection (the identifiers and the fields the
    cross-row checks and summary counts read, with each row's error flags), so memory
    follows the chunk size plus a few columns of the whole return. Frame checks (duplicates,
    one person's details, the council and period being single) then run over that
    projection, and their flags are combined with the row checks' per row.
    """
    started = started if started is not None else time.perf_counter()
    checks = all_checks(spec)
    active = [c for c in checks if set(c.needs) <= src.present]
    skipped = [c for c in checks if not set(c.needs) <= src.present]
    row_checks = [c for c in active if c.scope == "row"]
    frame_checks = [c for c in active if c.scope == "frame"]
    ctx = Context(spec)
    # Fields a frame check names: the row checks' flags on them are kept per row, so that a
    # row failing both kinds counts once.
    joint = [f for f in spec.header if any(f in c.fields for c in frame_checks)]
    # Every frame check's fields, active or not: the frame families' helpers read them all
    # (a missing column is a column of nulls).
    kept = _kept_fields(spec, [c for c in checks if c.scope == "frame"])
    totals = _Totals()
    narrow_parts: list[pl.DataFrame] = []
    summary_parts: list[pl.DataFrame] = []
    store = _FindingStore(checks)
    byte_parts: list[pl.DataFrame] = []
    present_fields = [f for f in spec.fields if f.name in src.present]
    text = pl.Categorical(pl.Categories.random())  # this run's own: see _compact
    plans: list[list[pl.Expr]] | None = None
    row_plans = _row_flag_plans(row_checks, spec, joint)
    central = Collector(spec)
    seen = 0
    for raw in _chunks(src, chunk_rows):
        if BYTES in raw.columns:
            byte_parts.append(raw.select(LINE, BYTES))
            raw = raw.drop(BYTES)
        row_hash = _row_hash(raw, spec)
        data = prepare_frame(raw, ctx)
        if plans is None:  # the same expressions serve every chunk: built once
            names = data.collect_schema().names()
            plans = [
                [pl.col(LINE), *[c.fails(ctx).fill_null(False).alias(c.code) for c in row_checks]],
                [field_state(ctx, f) for f in present_fields],
                _compact(data, [pl.col(c) for c in _kept_columns(names, kept)], text),
                _compact(data, summary_columns(names, spec), text),
            ]
        flags, validity, narrow, summary, central_part = pl.collect_all(
            [*(data.select(p) for p in plans), _central_query(central, raw)]
        )
        central.add(central_part)
        per_row = flags.select(row_plans[0])
        sums = flags.select(row_plans[1]).row(0, named=True)
        totals.add(sums)
        totals.add(validity_counts(validity))
        narrow_parts.append(narrow.hstack([row_hash, *per_row.get_columns()]))
        summary_parts.append(summary)
        fired = [c for c in row_checks if sums[c.code]]
        if fired:
            store.add(_finding_rows(data, flags, fired, ctx))
        seen += raw.height
        if progress and src.rows:
            progress(f"checking ({seen:,} of {src.rows:,} rows)")
        # Let this chunk go before the next is read: otherwise two are held at the peak.
        del raw, data, flags, validity, narrow, summary, per_row, row_hash, central_part
    if byte_parts and src.finisher is not None:
        src.findings.extend(src.finisher(pl.concat(byte_parts)))  # may ask for the exact read
        src.finisher = None
    del byte_parts  # the reader's per-line figures are done with: free them for what follows
    narrow = pl.concat(narrow_parts)
    summary_base = pl.concat(summary_parts)

    # The cross-row checks, over the narrow projection of the whole return.
    if progress:
        progress("cross-row checks")
    frame_data = narrow.lazy().with_columns(_frame_helpers(narrow, ctx))
    frame_flags = frame_data.select(
        LINE, *[c.fails(ctx).fill_null(False).alias(c.code) for c in frame_checks]
    ).collect()
    joined = narrow.select(LINE, *[c for c in narrow.columns if c.startswith("__row:")]).hstack(
        frame_flags.drop(LINE)
    )
    totals.add(joined.select(*[pl.col(c.code).sum() for c in frame_checks]).row(0, named=True))
    totals.add(_joint_counts(joined, frame_checks, joint))
    fired_frame = [c for c in frame_checks if totals.counts[c.code]]
    frame_part = _finding_rows(frame_data, frame_flags, fired_frame, ctx) if fired_frame else None
    counts = totals.counts

    file_findings: list[FileFinding] = list(src.findings)
    file_findings.extend(_missing_column_findings(src, skipped))
    fired = [c for c in active if counts[c.code]]
    findings = store.finish(
        frame_part, [c for c in fired if c.category == "invalid" and c.field in ctx.matchers]
    )
    file_findings.extend(_coverage_findings(narrow.lazy(), ctx))
    submission = _submission(narrow)
    # The projection is done with: free it before the central view's own finishing step,
    # all but the identifiers of the rows the view will list (looked up, then let go).
    identifiers = narrow.select(LINE, PID, REF)
    del narrow, narrow_parts, frame_data, frame_flags, joined
    central_result, central_problem = _central_stage(central, src)
    if central_result is not None:
        central_result.keep_identifiers(identifiers, line=LINE)
    del identifiers
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
            "errors": [counts[f"error:{f}"] for f in spec.header],
            "warnings": [counts[f"warning:{f}"] for f in spec.header],
            **{
                measure: [counts[f"{measure}:{f}"] for f in spec.header]
                for measure in (*VALIDITY_MEASURES, *DQ_MEASURES)
            },
        },
        schema_overrides={"errors": pl.Int64, "warnings": pl.Int64}
        | dict.fromkeys((*VALIDITY_MEASURES, *DQ_MEASURES), pl.Int64),
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
        errors=counts["__errors"],
        warnings=counts["__warnings"],
        fields=fields,
        rules=rules,
        findings_data=findings,
        spill=store.folder,
        file_findings=file_findings,
        skipped_checks=[c.code for c in skipped],
        encoding=src.encoding,
        seconds=time.perf_counter() - started,
        checks=tuple(active),
        summary_base=summary_base,
        submission=submission,
        central=central_result,
        central_problem=central_problem,
    )


# --- the central view, from the same pass (cld_polars.central) -------------------------------


def _central_query(collector: Collector, raw: pl.DataFrame) -> pl.LazyFrame:
    """The central view's plan for a chunk: its 20 columns of the chunk already read, turned
    into the compact per-row state it keeps (codes, dates, ids of the run's categories)."""
    return collector.query(raw.lazy().select(LINE, *CENTRAL_NEEDS))


def _central_stage(
    collector: Collector, src: ReturnSource
) -> tuple[CentralView | None, str | None]:
    """The central view with the contract's default parameters, or why there is none (the
    return states no valid period end, so the import date would have to be given). Its
    unique events are not kept (memory): ``cld_polars.central(path)`` gives them."""
    try:
        return finish(collector, source=str(src.path), keep_events=False), None
    except CentralError as exc:
        return None, str(exc)


#: Rows the streaming scan hands over at a time. The scan reads a few of these ahead, so
#: they are kept smaller than a chunk (memory), and gathered into chunks (speed).
BATCH_ROWS = 10_000


def _chunks(src: ReturnSource, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """The return's rows, about ``chunk_rows`` at a time, from one streaming scan."""
    pending: list[pl.DataFrame] = []
    held, given = 0, False
    try:
        for batch in src.frame.collect_batches(chunk_size=min(BATCH_ROWS, chunk_rows)):
            pending.append(batch)
            held += batch.height
            if held >= chunk_rows:
                yield pl.concat(pending)
                pending, held, given = [], 0, True
    except pl.exceptions.ComputeError as exc:
        # A quote out of place can stop the scan of a file that took the reader's quick
        # path; the exact path rewrites such lines first.
        if src.finisher is not None:
            raise ExactReadNeeded(src.path) from exc
        raise
    if pending:
        yield pl.concat(pending)
    elif not given:  # a return with no rows is checked as one empty chunk, like any other
        yield src.frame.clear().collect()


#: Kept as text in the narrow projection: the one kept field whose values are nearly all
#: distinct, for which a dictionary would cost more than it saves.
UNIQUE_TEXT = ("Event Reference",)


def _compact(data: pl.LazyFrame, columns: list[pl.Expr], text: pl.DataType) -> list[pl.Expr]:
    """``columns``, with those that are text cast to the run's categorical type ``text``.

    They outlive the chunk. Polars holds every string in a 16-byte view, null or short as it
    may be, so the twelve text columns of the projection cost about 290 bytes a row (2.9 GB
    at 10M rows); a categorical costs 4 bytes a row plus each distinct value once. The
    categories are the run's own (``Categories.random``), not the process-wide ones, so they
    are freed with the report: a batch run of many returns does not accumulate every
    identifier it met. Cast inside the chunk's plan: a separate pass cost twice as much.
    """
    schema = data.select(columns).collect_schema()
    return [
        e.cast(text)
        if schema[e.meta.output_name()] == pl.String and e.meta.output_name() not in UNIQUE_TEXT
        else e
        for e in columns
    ]


#: Fields whose helper columns (codes, dates, validity) the narrow projection keeps besides
#: those of the frame checks' fields: the period and event dates for the coverage check.
ALWAYS_KEPT = (
    "Reporting Period Start Date",
    "Reporting Period End Date",
    "Event Start Date",
    "Event End Date",
)
#: Fields whose text every finding shows.
IDS = (PID, REF, TYPE)
ROW_HASH = crossrow.ROW_HASH


def _row_hash(raw: pl.DataFrame, spec: Spec) -> pl.Series:
    """Each row's hash of its 48 values, by which the duplicate checks tell rows apart."""
    return raw.select(spec.header).hash_rows().alias(ROW_HASH)


def _kept_fields(spec: Spec, frame_checks: Sequence[Check]) -> tuple[list[str], list[str]]:
    """(fields kept as text, fields whose helper columns are kept) in the narrow projection.

    Text only where a frame check compares or shows it (its ``fields``) and for the
    identifiers; the rest of what the frame families read (``requires``, ``FRAME_FIELDS``)
    they read through helper columns. Text is most of the projection's memory.
    """
    text = set(IDS)
    helpers = set(ALWAYS_KEPT)
    for check in frame_checks:
        text |= set(check.fields)
        helpers |= set(check.needs)
    for family in FAMILIES:
        helpers |= set(getattr(family, "FRAME_FIELDS", ()))
    helpers |= text
    return [f for f in spec.header if f in text], [f for f in spec.header if f in helpers]


def _kept_columns(columns: Sequence[str], kept: tuple[list[str], list[str]]) -> list[str]:
    """The kept fields' text and helper columns, in the frame's order."""
    text, helpers = kept
    wanted = {LINE, *text}
    for name in helpers:
        wanted |= {code_col(name), blank_col(name), valid_col(name), formula_col(name)}
        wanted.add(date_col(name))
    return [c for c in columns if c in wanted]


def _codes(checks: Sequence[Check], severity: str, field: str | None = None) -> list[str]:
    """The codes of the checks of this severity (naming ``field``, when one is given)."""
    return [
        c.code for c in checks if c.severity == severity and (field is None or field in c.fields)
    ]


def _row_flag_plans(
    row_checks: Sequence[Check], spec: Spec, joint: Sequence[str]
) -> tuple[list[pl.Expr], list[pl.Expr]]:
    """Over a chunk's flags: per row, whether a row check failed (by severity, and on each
    field a frame check also names); and the chunk's counts that need no frame check, per
    check and per field. Built once, used for every chunk."""

    def failed(sev: str, field: str | None = None) -> pl.Expr:
        return _any(_codes(row_checks, sev, field))

    per_row = [failed(sev).alias(f"__row:{sev}") for sev in SEVERITIES] + [
        failed(sev, f).alias(f"__row:{sev}:{f}") for f in joint for sev in SEVERITIES
    ]
    sums = [pl.col(c.code).sum() for c in row_checks] + [
        failed(sev, f).sum().alias(f"{sev}:{f}")
        for f in spec.header
        if f not in joint
        for sev in SEVERITIES
    ]
    return per_row, sums


def _joint_counts(
    joined: pl.DataFrame, frame_checks: Sequence[Check], joint: Sequence[str]
) -> dict[str, object]:
    """Rows with an error / a warning, and per joint field, from both kinds of flag."""

    def either(prefix: str, sev: str, field: str | None) -> pl.Expr:
        return pl.any_horizontal(pl.col(prefix), _any(_codes(frame_checks, sev, field)))

    return joined.select(
        *[either(f"__row:{sev}", sev, None).sum().alias(f"__{sev}s") for sev in SEVERITIES],
        *[
            either(f"__row:{sev}:{f}", sev, f).sum().alias(f"{sev}:{f}")
            for f in joint
            for sev in SEVERITIES
        ],
    ).row(0, named=True)


def prepare_whole(raw: pl.DataFrame, ctx: Context) -> pl.LazyFrame:
    """Every helper column, row and frame, on a frame held whole in memory (the Pandera
    schema's checks run this way on a user's frame)."""
    collected = prepare_frame(raw, ctx).collect().with_columns(_row_hash(raw, ctx.spec))
    return collected.lazy().with_columns(_frame_helpers(collected, ctx))


def _frame_helpers(narrow: pl.DataFrame, ctx: Context) -> list[pl.Expr]:
    helpers: list[pl.Expr] = []
    for family in FAMILIES:
        prepare = getattr(family, "prepare_frame", None)
        if prepare is not None:
            helpers.extend(prepare(narrow, ctx))
    return helpers


def _submission(narrow: pl.DataFrame) -> dict[str, str | None]:
    """The council and period as most rows give them (one stray row does not hide whose
    return it is: the NOT_SINGLE checks report the stray)."""
    names = ("LA Code", "Reporting Period Start Date", "Reporting Period End Date")
    if not narrow.height:
        return dict.fromkeys(names)
    present = [n for n in names if n in narrow.columns]
    found = narrow.select(pl.col(n).drop_nulls().mode().sort().first() for n in present)
    values = found.row(0, named=True)
    return {n: values.get(n) for n in names}


SEVERITIES = ("error", "warning")


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


#: The same rows in DHSC's data-quality vocabulary (create_GetDQValues_procedure.sql lines
#: 36-49, the FieldStatus and FieldValidity of its DQ report): every row of a field has one
#: status and one validity, so each group of columns adds up to the rows checked. The status
#: is "Undetermined" where we cannot tell whether the field applies (a blank or invalid event
#: type) or whether it is mandatory (a condition on a field that cannot be read); those rows
#: are "not applicable" and "optional" in ``VALIDITY_MEASURES``. Near misses (a listed value
#: in the wrong case or spacing) are "Failed: Invalid", as the DLP rejects them; the
#: ``near_miss`` column says how many of those they are. A blank is "Failed: Blank
#: (Mandatory)" only where the field is known to be mandatory.
DQ_STATUS = {
    "dq_mandatory": "Mandatory",
    "dq_applicable_not_mandatory": "Applicable but not mandatory",
    "dq_not_applicable": "Not applicable",
    "dq_undetermined": "Undetermined",
}
DQ_VALIDITY = {
    "dq_passed_valid": "Passed: Valid",
    "dq_passed_blank": "Passed: Blank (Not Mandatory)",
    "dq_failed_blank": "Failed: Blank (Mandatory)",
    "dq_failed_invalid": "Failed: Invalid",
    "dq_failed_release1": "Failed: Release 1",
}
#: ``Report.fields`` columns of DHSC's vocabulary, and the label DHSC gives each.
DQ_LABELS = DQ_STATUS | DQ_VALIDITY
DQ_MEASURES = tuple(DQ_LABELS)


#: A field's state on a row (:func:`field_state`): how the field applies times ``_KINDS``
#: plus what it holds. Counting states per chunk gives every measure with one small column
#: per field, instead of ten sums per field (480 expressions, which cost more to plan than to
#: run on a chunk). ``unsure`` is a field that applies where whether it is mandatory cannot
#: be told.
_APPLIES = ("mandatory", "optional", "not_applicable", "cannot_tell", "unsure")
_HOLDS = ("valid", "blank", "invalid", "release1", "near_miss")
_KINDS = 8


def field_state(ctx: Context, f: FieldSpec) -> pl.Expr:
    """The field's state on each row (UInt8), from which ``VALIDITY_MEASURES`` are counted.

    Where the field's applicability cannot be judged (the event type is blank, as on a
    'known by association' row, or invalid) the row counts as not applicable, so the
    denominators hold only rows the field is known to apply to; a value given there is not
    counted as "given where not applicable", because the specification cannot say it is.
    """
    n = f.name
    if f.applies_when:
        judged = ctx.condition(f.applies_when)
    else:
        judged = pl.lit(True)
    if f.mandatory == "always":
        mandatory = pl.lit(True)
    elif f.mandatory == "conditional" and f.mandatory_when:
        mandatory = ctx.condition(f.mandatory_when)
    else:
        mandatory = pl.lit(False)
    applies = (
        pl.when(judged.is_null())
        .then(_APPLIES.index("cannot_tell"))
        .when(~judged)
        .then(_APPLIES.index("not_applicable"))
        .when(mandatory.is_null())
        .then(_APPLIES.index("unsure"))
        .when(mandatory)
        .then(_APPLIES.index("mandatory"))
        .otherwise(_APPLIES.index("optional"))
    )
    holds = pl.when(ctx.blank(n)).then(_HOLDS.index("blank")).when(ctx.valid(n))
    holds = holds.then(_HOLDS.index("valid"))
    if f.kind == "list" and n in ctx.matchers:
        holds = holds.when(ctx.is_list_class(n, "release1")).then(_HOLDS.index("release1"))
        holds = holds.when(ctx.is_list_class(n, "near_miss")).then(_HOLDS.index("near_miss"))
    holds = holds.otherwise(_HOLDS.index("invalid"))
    return (applies * _KINDS + holds).cast(pl.UInt8).alias(n)


def validity_counts(states: pl.DataFrame) -> dict[str, int]:
    """``measure:field`` counts (``VALIDITY_MEASURES``) from a chunk's :func:`field_state`
    columns: a count of each state per field, then the measures from the few states seen."""
    counts: dict[str, int] = {}
    for name in states.columns:
        seen = states.get_column(name).value_counts()
        for state, count in zip(seen[name].to_list(), seen["count"].to_list(), strict=True):
            applies, holds = _APPLIES[state // _KINDS], _HOLDS[state % _KINDS]
            for measure in _measures(applies, holds):
                key = f"{measure}:{name}"
                counts[key] = counts.get(key, 0) + count
    return counts


def _measures(applies: str, holds: str) -> list[str]:
    """The measures a row in this state counts towards (``VALIDITY_MEASURES``, where a field
    whose mandatory condition cannot be judged counts as optional, and ``DQ_MEASURES``)."""
    out = [_dq_status(applies), _dq_validity(applies, holds)]
    if applies == "unsure":
        applies = "optional"
    if applies in ("mandatory", "optional"):
        out.append(f"{applies}_rows")
        if holds == "blank":
            out.append(f"blank_{applies}")
        else:
            out.append(holds)
    else:
        out.append("not_applicable_rows")
        if applies == "not_applicable" and holds != "blank":
            out.append("given_not_applicable")
    return out


def _dq_status(applies: str) -> str:
    return {
        "mandatory": "dq_mandatory",
        "optional": "dq_applicable_not_mandatory",
        "not_applicable": "dq_not_applicable",
    }.get(applies, "dq_undetermined")


def _dq_validity(applies: str, holds: str) -> str:
    if holds == "blank":
        return "dq_failed_blank" if applies == "mandatory" else "dq_passed_blank"
    return {"valid": "dq_passed_valid", "release1": "dq_failed_release1"}.get(
        holds, "dq_failed_invalid"
    )


def prepare_frame(raw: pl.DataFrame, ctx: Context) -> pl.LazyFrame:
    """Add the helper columns the row checks read to one chunk (or a whole frame), and return
    the plan that adds the row-local family helpers (small lookups computed here) on top.

    Returned lazy so that callers select only what they need: widening a frame with more
    columns costs a copy each time.
    """
    # Not rechunked: the helper columns are only ever combined in lazy selects, where Polars
    # aligns the chunks of the (cheap, boolean) operands; a rechunk copied every string.
    data = ctx.prepare(raw.lazy(), ctx.classify(raw)).collect()
    helpers: list[pl.Expr] = []
    for family in FAMILIES:
        prepare = getattr(family, "prepare", None)
        if prepare is not None:
            helpers.extend(prepare(data, ctx))
    return data.lazy().with_columns(helpers)


def _any(codes: Sequence[str]) -> pl.Expr:
    """Any of these flag columns is true; with none, false on every row (a column as long as
    the frame, empty ones included, where a literal would be one row)."""
    if not codes:
        return pl.repeat(False, pl.len())
    return pl.any_horizontal([pl.col(c) for c in codes])


def _finding_rows(
    data: pl.LazyFrame, flags: pl.DataFrame, fired: Sequence[Check], ctx: Context
) -> pl.DataFrame:
    """One row per (row, check) failure of a chunk (or of the frame checks), with value and
    suggestion; put in order with the others by :class:`_FindingStore`."""
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
                # Text again where the projection held them as categoricals.
                pl.col(PID).cast(pl.String).alias("person_id"),
                pl.col(REF).cast(pl.String).alias("event_reference"),
                pl.col(TYPE).cast(pl.String).alias("event_type"),
                pl.lit(check.field if check.fields else "(whole row)").alias("field"),
                pl.lit(check.code).alias("code"),
                pl.lit(check.severity).alias("severity"),
                value.cast(pl.String).alias("value"),
                suggestion.cast(pl.String).alias("suggestion"),
            )
        )
    return pl.concat(pl.collect_all(parts), how="vertical")


def _closest_values(findings: pl.LazyFrame, invalid_checks: Sequence[Check]) -> pl.LazyFrame:
    """Suggest the closest listed value for invalid defined-list values, where one is close.

    Runs over distinct invalid values (not rows), most frequent first, capped.
    """
    if not invalid_checks:
        return findings
    spec = load_spec()
    pieces = []
    codes = [c.code for c in invalid_checks]
    counted = findings.filter(pl.col("code").is_in(codes)).group_by("code", "value").len().collect()
    for check in invalid_checks:
        values = spec.values(check.field)
        distinct = (
            counted.filter(pl.col("code") == check.code)
            .sort(["len", "value"], descending=[True, False])
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
    table = pl.DataFrame(pieces, schema=["code", "value", "__closest"], orient="row").lazy()
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
