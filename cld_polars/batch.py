"""Validate several returns in one run, for scheduled checks of a whole folder.

Why it exists: a regional team or a scheduled job checks many councils' returns at once
(``cld-validate returns/*.csv --out-dir reports/``). It wants one result per return, one
index to read (file, council, period, rows, errors, warnings, status) and a run that
finishes even when one file is missing, garbled or trips a bug: that return is marked
``unreadable`` or ``crashed`` in the index and the others are still checked.

Returns are validated in parallel worker processes when memory allows (one return at a time
can take several times its file size in memory, see :func:`estimate_peak_bytes`), each
worker with its share of the cores for Polars. Outputs go through :data:`OUTPUTS`, a registry
of writers, so another output (the Excel workbook) is one more entry, not a change here.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import functools
import hashlib
import json
import multiprocessing
import os
import struct
import time
import traceback
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Literal, TypedDict

import polars as pl

from cld_polars import safety
from cld_polars.engine import validate
from cld_polars.reader import ReturnReadError
from cld_polars.reader.bounds import available_memory, is_regular_file
from cld_polars.report import Report
from cld_polars.rollup import Counts, return_counts, write_rollup
from cld_polars.safety import write_atomic_with
from cld_polars.spec import load_spec

MB = 1_000_000
#: Peak memory of validating one return: a fixed part (interpreter, Polars, the streaming
#: scan's buffers and one chunk) plus a multiple of the uncompressed file size (the narrow
#: projection the streaming engine keeps). Fitted to measured peak RSS of ``cld-validate
#: --xlsx`` on generated returns (Polars 2.1, 2 threads, chunks of 100,000 rows), highest of
#: three runs: 379 MB at 48.6 MB, 972 MB at 486 MB (1M rows), 4,207 MB at 4,861 MB (10M
#: rows). 400 MB + 1.5x the size is above each of them, with room at 1M for a return with
#: many findings (an earlier engine peaked at 1,101 MB there; 1.2x would leave 11 MB).
BASE_PEAK_BYTES = 400 * MB
PEAK_PER_FILE_BYTE = 1.5
#: Share of the available memory the workers may plan to use: the rest is head room for the
#: parent process, other programs and returns with many findings (findings take memory too).
MEMORY_SHARE = 0.8
#: Below this many bytes in all, the returns are checked one after another in this process:
#: starting a worker (a new interpreter importing Polars) costs about 0.7 s, more than
#: running such a batch in parallel can save (100 MB is about 200,000 rows, 2-3 s of work).
SMALL_BATCH_BYTES = 100 * MB
#: Names a return's outputs may not take: the index and the national roll-up live next to them.
RESERVED_STEMS = frozenset({"index", "national"})

Status = Literal["pass", "fail", "unreadable", "crashed"]
#: A writer of one output of a return: ``(report, out_dir, stem) -> path written``. It must
#: be a module-level function: it is sent to worker processes by reference (pickled by name).
Writer = Callable[[Report, Path, str], Path]
Stage = Callable[[str], None]


class BatchError(Exception):
    """The run cannot start (output folder unusable, unknown output): nothing was checked."""


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


def write_json(report: Report, out_dir: Path, stem: str) -> Path:
    """``<stem>.json``: the JSON result of the contract (``Report.to_json``)."""
    target = out_dir / f"{stem}.json"
    report.to_json(target)
    return target


def write_findings_csv(report: Report, out_dir: Path, stem: str) -> Path:
    """``<stem>_findings.csv``: every finding, as ``--errors`` writes it."""
    return report.write_findings(out_dir / f"{stem}_findings.csv")


def write_findings_parquet(report: Report, out_dir: Path, stem: str) -> Path:
    """``<stem>_findings.parquet``: every finding, for loading into a notebook."""
    return report.write_findings(out_dir / f"{stem}_findings.parquet")


def write_xlsx(report: Report, out_dir: Path, stem: str) -> Path:
    """``<stem>.xlsx``: the workbook (an overflowing findings list goes beside it as CSV)."""
    target = out_dir / f"{stem}.xlsx"
    report.to_excel(target)
    return target


#: Outputs by name. The JSON result is always written; the others on request. Register new
#: outputs here at import time (a worker process only sees what its imports register).
OUTPUTS: dict[str, Writer] = {
    "json": write_json,
    "findings-csv": write_findings_csv,
    "findings-parquet": write_findings_parquet,
    "xlsx": write_xlsx,
}


#: The files each output writes in the folder, as suffixes of the return's name: what the
#: check that no output lands on a return compares (the workbook's findings list overflows
#: into ``<name>_findings.csv`` beside it).
OUTPUT_FILES: dict[str, tuple[str, ...]] = {
    "json": (".json",),
    "findings-csv": ("_findings.csv",),
    "findings-parquet": ("_findings.parquet",),
    "xlsx": (".xlsx", "_findings.csv"),
}
#: Files of the whole run in the folder (``write_index``, ``rollup.write_rollup``).
RUN_FILES = ("index.json", "index.csv", "national.parquet", "national.xlsx")


def planned_outputs(out_dir: Path, stems: Sequence[str], names: Sequence[str]) -> list[Path]:
    """Every file a run may write in ``out_dir``: each return's outputs and run record, the
    index, the roll-up and the folder's lock."""
    files = [out_dir / name for name in RUN_FILES]
    files.append(out_dir / safety.LOCK_NAME)
    for stem in stems:
        files += [out_dir / f"{stem}{suffix}" for n in names for suffix in OUTPUT_FILES[n]]
        files.append(record_path(out_dir, stem))
    return files


def output_names(*, xlsx: bool = False, errors_format: str | None = None) -> list[str]:
    """The outputs a run writes for each return, checked against :data:`OUTPUTS`."""
    names = ["json"]
    if errors_format:
        fmt = errors_format.lower().lstrip(".")
        if fmt not in ("csv", "parquet"):
            raise BatchError(f"findings can be written as csv or parquet, not {errors_format!r}")
        names.append(f"findings-{fmt}")
    if xlsx:
        names.append("xlsx")
    missing = [n for n in names if n not in OUTPUTS]
    if missing:
        raise BatchError(f"output not available in this version: {', '.join(missing)}")
    return names


# ---------------------------------------------------------------------------------------------
# One return
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchOptions:
    """What every return's run needs besides its path: picklable, sent to each worker."""

    writers: tuple[tuple[str, Writer], ...] = (("json", write_json),)
    #: Print the traceback of an unexpected error (to stderr of the process that met it).
    debug: bool = False
    #: Skip a return whose outputs are up to date (same input bytes, same tool version).
    reuse: bool = True


@dataclass(frozen=True)
class BatchResult:
    """One return's line in the index: what was found, and which outputs were written.

    Counts are None when the return could not be checked (``unreadable`` or ``crashed``).
    ``outputs`` are file names inside the output folder, so the folder can be moved whole.
    ``skipped``: the outputs were already up to date (see :func:`run_return`), not rewritten.
    """

    file: str
    stem: str
    status: Status
    exit_code: int
    council_code: str | None = None
    council_name: str | None = None
    period_start: str | None = None
    period_end: str | None = None
    rows: int | None = None
    errors: int | None = None
    warnings: int | None = None
    file_errors: int | None = None
    seconds: float = 0.0
    message: str | None = None
    outputs: tuple[str, ...] = ()
    skipped: bool = False

    def as_dict(self) -> dict[str, object]:
        record = asdict(self)
        record["outputs"] = list(self.outputs)
        return record


INDEX_COLUMNS = tuple(f.name for f in fields(BatchResult))


class Summary(TypedDict):
    """A checked return's figures in the index (:func:`summarise`), by ``BatchResult`` field."""

    council_code: str | None
    council_name: str | None
    period_start: str | None
    period_end: str | None
    rows: int
    errors: int
    warnings: int
    file_errors: int


def summarise(report: Report) -> Summary:
    """The index's view of a report: council and period are the most common values, so one
    stray row does not hide which council's return this is (their checks report the stray)."""
    code, start, end = (
        report.submission.get(c)
        for c in ("LA Code", "Reporting Period Start Date", "Reporting Period End Date")
    )
    council = load_spec().councils.get(code.strip()) if code else None
    return {
        "council_code": code,
        "council_name": council.name if council else None,
        "period_start": start,
        "period_end": end,
        "rows": report.rows,
        "errors": report.errors,
        "warnings": report.warnings,
        "file_errors": report.file_errors,
    }


def run_one(
    path: Path,
    out_dir: Path,
    stem: str,
    options: BatchOptions,
    stage: Stage | None = None,
    on_report: Callable[[Report], None] | None = None,
) -> BatchResult:
    """Validate one return and write its outputs; never raises for a bad file.

    Module level and picklable (with ``stage`` None) so worker processes can run it. Whatever
    goes wrong becomes the result's status and one-line message, so the batch carries on.
    ``on_report`` sees the report before the outputs are written (:func:`run_return` takes
    the roll-up's counts from it); an error there is this return's crash, like the engine's.
    """
    began = time.perf_counter()

    def done(
        status: Status,
        exit_code: int,
        message: str | None = None,
        outputs: tuple[str, ...] = (),
        summary: Summary | None = None,
    ) -> BatchResult:
        result = BatchResult(
            file=str(path),
            stem=stem,
            status=status,
            exit_code=exit_code,
            seconds=round(time.perf_counter() - began, 3),
            message=message,
            outputs=outputs,
        )
        return result if summary is None else dataclasses.replace(result, **summary)

    try:
        report = validate(path, progress=stage)
        summary = summarise(report)
        if on_report is not None:
            on_report(report)
    except ReturnReadError as exc:
        return done("unreadable", 2, str(exc))
    except Exception as exc:  # a bug or exhausted memory: this return only
        if options.debug:
            traceback.print_exc()
        return done("crashed", 2, f"{path}: unexpected error ({type(exc).__name__}: {exc})")
    written: list[str] = []
    for name, writer in options.writers:
        if stage:
            stage("writing")
        try:
            written.append(writer(report, out_dir, stem).name)
        except Exception as exc:
            if options.debug:
                traceback.print_exc()
            message = f"{path}: could not write the {name} output ({type(exc).__name__}: {exc})"
            return done("crashed", 2, message, tuple(written), summary)
    status: Status = "fail" if report.exit_code else "pass"
    return done(status, report.exit_code, None, tuple(written), summary)


# ---------------------------------------------------------------------------------------------
# Names, folders, memory
# ---------------------------------------------------------------------------------------------


#: A return's output name: the whole stem (``cld.2025Q2.csv`` -> ``cld.2025Q2``).
return_stem = safety.output_stem


def output_stems(paths: Sequence[Path]) -> list[str]:
    """One output name per return, distinct even when file names clash.

    Two ``return.csv`` in different folders would overwrite each other's outputs, so every
    member of a clash takes its folder's name as a prefix (``north_return``), with ``-2``,
    ``-3`` added where that still clashes. Case is ignored when comparing (case-insensitive
    file systems). Depends only on the paths and their order: the same command line gives the
    same names on every run, which a scheduled job relies on.
    """
    stems = [return_stem(p) for p in paths]
    counts = collections.Counter(s.casefold() for s in stems)
    clashing = {s for s, n in counts.items() if n > 1} | RESERVED_STEMS
    taken = {s.casefold() for s in stems if s.casefold() not in clashing} | RESERVED_STEMS
    names: list[str] = []
    for path, stem in zip(paths, stems, strict=True):
        if stem.casefold() not in clashing:
            names.append(stem)
            continue
        folder = path.resolve().parent.name
        base = f"{folder}_{stem}" if folder else stem
        name, n = base, 1
        while name.casefold() in taken:
            n += 1
            name = f"{base}-{n}"
        taken.add(name.casefold())
        names.append(name)
    return names


def prepare_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Create the output folder if needed and make sure files can be written in it.

    Checked before any return is validated: finding out after an hour's run that nothing
    could be saved would waste the run.
    """
    target = Path(out_dir)
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = safety.output_temp(target, "write-test")
        probe.unlink()
        safety.forget(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise BatchError(f"{target}: cannot create or write the output folder ({reason})") from exc
    return target


def uncompressed_size(path: Path) -> int:
    """The bytes the reader will see: a ``.gz`` return's size from its gzip trailer."""
    try:
        size = path.stat().st_size
        if path.suffix.lower() == ".gz" and size >= 18 and is_regular_file(path):
            with path.open("rb") as handle:
                handle.seek(-4, os.SEEK_END)
                # ISIZE: the uncompressed size modulo 2**32 (the DLP's limit is 4 GB anyway).
                return max(size, struct.unpack("<I", handle.read(4))[0])
        return size
    except OSError:
        return 0  # missing or unreadable: it will fail fast, using next to no memory


def peak_for_size(size: int) -> int:
    """Planned peak memory of validating a return of ``size`` bytes (:data:`BASE_PEAK_BYTES`)."""
    return int(BASE_PEAK_BYTES + PEAK_PER_FILE_BYTE * size)


def estimate_peak_bytes(path: Path) -> int:
    """Planned peak memory of validating ``path``."""
    return peak_for_size(uncompressed_size(path))


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def choose_workers(
    paths: Sequence[Path], *, available: int | None = None, cores: int | None = None
) -> int:
    """How many returns to validate at once: as many as cores allow and memory holds.

    A small batch runs in this process (:data:`SMALL_BATCH_BYTES`). Memory is planned for the
    worst case, the largest returns running together: the most workers ``w`` such that the
    ``w`` largest estimates fit in :data:`MEMORY_SHARE` of the available memory. Never more
    than the returns, never fewer than one.
    """
    sizes = [uncompressed_size(p) for p in paths]
    if sum(sizes) < SMALL_BATCH_BYTES:
        return 1
    cores = cores if cores is not None else usable_cores()
    available = available if available is not None else available_memory()
    limit = max(1, min(cores, len(paths)))
    if available is None:
        return 1  # unknown memory: one at a time is always safe
    budget = MEMORY_SHARE * available
    planned, workers = 0, 0
    for estimate in sorted((peak_for_size(size) for size in sizes), reverse=True)[:limit]:
        if planned + estimate > budget:
            break
        planned += estimate
        workers += 1
    return max(1, workers)


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """Set an environment variable while worker processes are started, then restore it.

    Polars sizes its thread pool from ``POLARS_MAX_THREADS`` when it is first imported, and a
    spawned worker imports it before any code of ours runs there: the variable has to be in
    the environment the worker inherits.
    """
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


# ---------------------------------------------------------------------------------------------
# Our own reports among the returns
# ---------------------------------------------------------------------------------------------

#: Bytes read to recognise a report: its header line, or a workbook's properties.
SNIFF_BYTES = 64 * 1024


def _own_headers() -> tuple[set[str], list[list[str]]]:
    """The header lines of the CSV reports we write, and the columns of the Parquet ones (the
    roll-up's by its lead columns)."""
    from cld_polars.findings import FINDINGS_SCHEMA
    from cld_polars.fix import LOG_SCHEMA
    from cld_polars.rollup import LEAD

    findings = [*FINDINGS_SCHEMA, "message"]
    csv_headers = {",".join(findings), ",".join(INDEX_COLUMNS), ",".join(LOG_SCHEMA)}
    return csv_headers, [findings, list(LEAD)]


def written_by_us(path: Path) -> bool:
    """Whether ``path`` is a report cld_polars wrote (a findings list, an index, a change
    log, a roll-up, a workbook) rather than a return, so that a folder holding both (reports
    written into the returns' own folder) is read for its returns only.

    Recognised by content, not by name: a CSV by its header line (a return's header is the
    specification's), a Parquet file by its columns, a workbook by its author
    (``cld_polars <version>`` in its properties), a JSON result or index by how it begins
    (a return is never JSON; this only keeps a glob of a whole folder quiet). Reads a few
    kilobytes at most; a file that cannot be read is not ours (the reader then says what is
    wrong with it).
    """
    name = path.name.lower()
    try:
        if name.endswith(".csv"):
            with path.open("rb") as handle:
                first = handle.read(SNIFF_BYTES).split(b"\n", 1)[0]
            header = first.decode("utf-8", "replace").lstrip("\ufeff").rstrip("\r")
            return header in _own_headers()[0]
        if name.endswith(".parquet"):
            columns = list(pl.read_parquet_schema(path))
            return any(columns[: len(own)] == own for own in _own_headers()[1])
        if name.endswith(".xlsx"):
            with zipfile.ZipFile(path) as book, book.open("docProps/core.xml") as core:
                properties = core.read(SNIFF_BYTES)
            return b"<dc:creator>cld_polars " in properties
        if name.endswith(".json"):  # a result (Report.to_json) or an index (write_index)
            with path.open("rb") as handle:
                start = handle.read(32)
            return start.startswith((b'{\n  "file": ', b'{\n  "returns": ['))
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, pl.exceptions.PolarsError):
        return False
    return False


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def _unique(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The returns in the order given, each file once (a glob and a name may both match it,
    and a symlink or a hard link is the file it leads to)."""
    seen: set[object] = set()
    unique: list[Path] = []
    for p in paths:
        path = Path(p)
        keys: set[object] = {path.resolve()}
        with contextlib.suppress(OSError):
            info = path.stat()
            keys.add((info.st_dev, info.st_ino))
        if not keys & seen:
            seen |= keys
            unique.append(path)
    return unique


@dataclass(frozen=True)
class Plan:
    """A run that may start: the returns (each once), their output names and options, and
    the output folder, created, checked and locked for this run."""

    folder: Path
    paths: list[Path]
    stems: list[str]
    options: BatchOptions


@contextlib.contextmanager
def planned_run(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    xlsx: bool = False,
    errors_format: str | None = None,
    debug: bool = False,
    reuse: bool = True,
    note: Callable[[str], None] | None = None,
) -> Iterator[Plan]:
    """Everything checked before any return is, by every runner (here and on a cluster).

    Refuses (:class:`BatchError`, nothing written) when an output would land on a return (by
    path, symlink or hard link: ``safety.clash``), when the folder cannot be written, or when
    another run holds it (``safety.FolderLock``: held until the block ends). A lock left by
    a killed run is taken over and our temporaries it left behind are swept; ``note`` is told
    of both (None: a warning).
    """
    names = output_names(xlsx=xlsx, errors_format=errors_format)
    writers = tuple((n, OUTPUTS[n]) for n in names)
    unique = _unique(paths)
    stems = output_stems(unique)
    target = Path(out_dir)
    outputs = [("--out-dir", p) for p in planned_outputs(target, stems, names)]
    problem = safety.clash(unique, outputs, folder=("--out-dir", target))
    if problem:
        raise BatchError(problem)
    folder = prepare_out_dir(target)
    try:
        lock = safety.FolderLock(folder)
        lock.__enter__()
    except safety.FolderBusy as exc:
        raise BatchError(str(exc)) from exc
    except OSError as exc:
        raise BatchError(f"{folder}: cannot take the folder's lock ({exc})") from exc
    try:
        records = folder / RECORDS_DIR
        if records.is_symlink() or (records.exists() and not records.is_dir()):
            # Records are removed and written there: never in a folder a link leads to.
            raise BatchError(
                f"{safety.shown(records)}: is not the folder of run records cld-validate "
                "makes (it is a link or a file); remove it, or choose another --out-dir"
            )
        safety.notify(note, lock.took_over)
        swept = safety.sweep([folder, records, safety.system_temp()])
        safety.notify(note, safety.sweep_note(swept))
        options = BatchOptions(writers=writers, debug=debug, reuse=reuse)
        yield Plan(folder, unique, stems, options)
    finally:
        lock.__exit__(None, None, None)


def validate_many(
    paths: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    workers: int | None = None,
    xlsx: bool = False,
    errors_format: str | None = None,
    progress: Stage | None = None,
    debug: bool = False,
    reuse: bool = True,
    note: Callable[[str], None] | None = None,
) -> list[BatchResult]:
    """Validate every return, write each one's outputs, the index and the national roll-up
    (:mod:`cld_polars.rollup`); results in input order.

    ``workers``: returns validated at once (None: chosen from memory and cores by
    :func:`choose_workers`; 1: one after another in this process). ``errors_format``:
    ``"csv"`` or ``"parquet"`` to write each return's findings too. ``progress`` is told what
    is happening ("2/5 returns done; checking north.csv"). Raises :class:`BatchError` before
    any work when the output folder or an output is unusable, an output would overwrite a
    return, or another run is writing to the folder (:func:`planned_run`); ``OSError`` if the
    index cannot be written; a bad return never raises, it is a line of the index. ``reuse``:
    skip returns whose outputs are up to date (:func:`run_return`); False checks every return
    again. ``note`` hears about a stale lock taken over and temporaries swept.
    """
    with planned_run(
        paths,
        out_dir,
        xlsx=xlsx,
        errors_format=errors_format,
        debug=debug,
        reuse=reuse,
        note=note,
    ) as plan:
        chosen = workers if workers is not None else choose_workers(plan.paths)
        chosen = max(1, min(chosen, len(plan.paths)))
        run = _run_here if chosen == 1 else functools.partial(_run_in_workers, workers=chosen)
        results = run(plan.paths, plan.stems, plan.folder, plan.options, progress)
        write_index(plan.folder, results)
        write_rollup(plan.folder, results, recorded_counts(plan.folder, results))
    return results


def _run_here(
    paths: Sequence[Path],
    stems: Sequence[str],
    out_dir: Path,
    options: BatchOptions,
    progress: Stage | None,
) -> list[BatchResult]:
    """One return after another in this process: no start-up cost, least memory."""
    results: list[BatchResult] = []
    for done, (path, stem) in enumerate(zip(paths, stems, strict=True)):
        stage = _stage_reporter(progress, f"{done}/{len(paths)} returns done; ", path.name)
        results.append(run_recorded(path, out_dir, stem, options, stage))
    return results


def _stage_reporter(progress: Stage | None, prefix: str, name: str) -> Stage | None:
    """Turns the engine's stage ("checking") into a line naming the return."""
    if progress is None:
        return None
    return lambda what: progress(f"{prefix}{what} {name}")


def _crashed(path: Path, stem: str, message: str) -> BatchResult:
    return BatchResult(file=str(path), stem=stem, status="crashed", exit_code=2, message=message)


def _run_in_workers(
    paths: Sequence[Path],
    stems: Sequence[str],
    out_dir: Path,
    options: BatchOptions,
    progress: Stage | None,
    *,
    workers: int,
) -> list[BatchResult]:
    """Returns in ``workers`` spawned processes, largest first so the run ends evenly.

    Spawned, not forked: forking a process whose Polars threads are running can deadlock. If
    a worker dies (the system ran out of memory and killed it), the pool cannot say whose
    return it was running, so the returns it lost are run again one per fresh worker: the
    one that dies again alone is ``crashed``, the others get their results. Workers die
    with this process, however it ends (``safety.worker_setup``).
    """
    context = multiprocessing.get_context("spawn")
    parent = (os.getpid(),)
    threads = str(max(1, usable_cores() // workers))
    results: dict[int, BatchResult] = {}
    order = sorted(range(len(paths)), key=lambda i: -uncompressed_size(paths[i]))
    lost: list[int] = []

    def report_progress(pending: Sequence[int]) -> None:
        if progress:
            running = ", ".join(paths[i].name for i in pending[:workers])
            progress(f"{len(results)}/{len(paths)} returns done; checking {running}")

    with (
        _environment("POLARS_MAX_THREADS", threads),
        ProcessPoolExecutor(workers, context, safety.worker_setup, parent) as pool,
    ):
        futures: dict[Future[BatchResult], int] = {
            pool.submit(run_recorded, paths[i], out_dir, stems[i], options): i for i in order
        }
        report_progress(order)
        try:
            for future in as_completed(futures):
                i = futures[future]
                try:
                    results[i] = future.result()
                except BrokenProcessPool:
                    lost.append(i)
                except Exception as exc:  # e.g. a writer that cannot be sent to a worker
                    results[i] = _crashed(paths[i], stems[i], f"{paths[i]}: {exc}")
                report_progress([j for j in order if j not in results and j not in lost])
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    for i in sorted(lost):
        safety.wait_if_stopping()  # workers killed by our own stop are not run again
        with (
            _environment("POLARS_MAX_THREADS", str(usable_cores())),
            ProcessPoolExecutor(1, context, safety.worker_setup, parent) as alone,
        ):
            try:
                results[i] = alone.submit(
                    run_recorded, paths[i], out_dir, stems[i], options
                ).result()
            except BrokenProcessPool:
                message = (
                    f"{paths[i]}: the worker process stopped unexpectedly "
                    "(it may have run out of memory; try --workers 1)"
                )
                results[i] = _crashed(paths[i], stems[i], message)
        report_progress([j for j in order if j not in results])
    return [results[i] for i in range(len(paths))]


# ---------------------------------------------------------------------------------------------
# The index
# ---------------------------------------------------------------------------------------------


def exit_status(results: Sequence[BatchResult]) -> int:
    """The run's exit status: the worst of its returns (0 pass, 1 errors, 2 not checked)."""
    return max((r.exit_code for r in results), default=0)


def write_index(out_dir: Path, results: Sequence[BatchResult]) -> tuple[Path, Path]:
    """``index.json`` and ``index.csv``: one line per return, written whole or not at all."""
    records = [r.as_dict() for r in results]
    statuses = collections.Counter(r.status for r in results)
    payload = {
        "returns": records,
        "exit_code": exit_status(results),
        "statuses": {s: statuses.get(s, 0) for s in ("pass", "fail", "unreadable", "crashed")},
    }
    text = safety.json_text(payload, indent=2) + "\n"
    json_path = write_atomic_with(
        out_dir / "index.json", lambda tmp: tmp.write_text(text, encoding="utf-8")
    )
    # Text as the JSON has it (blank for None, outputs joined by ";"), every cell that a
    # spreadsheet could run as a formula neutralised (a file name or message can be "=...").
    cells = {name: [_index_cell(record[name]) for record in records] for name in INDEX_COLUMNS}
    table = pl.DataFrame(cells, schema=dict.fromkeys(INDEX_COLUMNS, pl.String))
    csv_path = safety.write_report_csv(table, out_dir / "index.csv")
    return json_path, csv_path


def _index_cell(value: object) -> str | None:
    if isinstance(value, list):
        value = ";".join(value)
    return None if value is None or value == "" else safety.utf8_text(str(value))


# ---------------------------------------------------------------------------------------------
# Up-to-date returns and the roll-up's counts
# ---------------------------------------------------------------------------------------------

#: Folder (inside the output folder) of the per-return run records: bookkeeping, not reports.
RECORDS_DIR = ".cld_polars"
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class Outcome:
    """What the per-return task hands back: the index line and, when the return was checked,
    the small per-field and per-rule counts the national roll-up is built from."""

    result: BatchResult
    counts: Counts | None = None


def input_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes, read in chunks so a large file never sits in memory."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def record_path(out_dir: Path, stem: str) -> Path:
    """Where a return's run record lives: its input hash, the tool version, result, counts."""
    return out_dir / RECORDS_DIR / f"{stem}.json"


def run_return(
    path: Path, out_dir: Path, stem: str, options: BatchOptions, stage: Stage | None = None
) -> Outcome:
    """The per-return task of every runner (one process, worker processes, a Dask cluster).

    Skips the return when its outputs are up to date: the run record beside them has the
    same SHA-256 of the input, the same ``cld_polars.__version__`` and the same outputs, and
    those files are still there with the SHA-256 they were written with (an output edited,
    replaced or half-copied since is written again). Otherwise :func:`run_one` checks it,
    and a checked return (pass or fail) gets a new record, so the next run can skip it; an
    unreadable or crashed return has none and is tried again next time. Never raises for a
    bad file.
    """
    from cld_polars._version import __version__

    began = time.perf_counter()
    try:
        # A pipe or device is never hashed (it may never end): the reader refuses it.
        digest: str | None = input_sha256(path) if is_regular_file(path) else None
    except OSError:
        digest = None  # run_one says why the file cannot be read, in the usual words
    record = record_path(out_dir, stem)
    names = [name for name, _ in options.writers]
    if digest is not None and options.reuse:
        reused = _reuse(record, path, out_dir, stem, digest, __version__, names, began)
        if reused is not None:
            return reused
    with contextlib.suppress(OSError):
        record.unlink(missing_ok=True)  # stale from now on, whatever happens below
    captured: list[Counts] = []
    result = run_one(path, out_dir, stem, options, stage, on_report=_collect(captured))
    counts = captured[0] if captured and result.status in ("pass", "fail") else None
    if counts is not None and digest is not None:
        try:
            payload = {
                "tool_version": __version__,
                "input_sha256": digest,
                "outputs_requested": names,
                "outputs_sha256": _output_hashes(out_dir, stem, names),
                "result": result.as_dict(),
                "counts": counts,
            }
            text = safety.json_text(payload)
            record.parent.mkdir(exist_ok=True)
            write_atomic_with(record, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        except OSError:
            pass  # without a record the return is only checked again next time
    return Outcome(result, counts)


def run_recorded(
    path: Path, out_dir: Path, stem: str, options: BatchOptions, stage: Stage | None = None
) -> BatchResult:
    """:func:`run_return` for the local runners: the counts stay in the record on disk."""
    return run_return(path, out_dir, stem, options, stage).result


def _output_hashes(out_dir: Path, stem: str, names: Sequence[str]) -> dict[str, str]:
    """SHA-256 of each file the return's outputs left in the folder (the workbook's
    overflowing findings list too), by file name."""
    files = dict.fromkeys(f"{stem}{suffix}" for n in names for suffix in OUTPUT_FILES[n])
    return {f: input_sha256(out_dir / f) for f in files if (out_dir / f).is_file()}


def _collect(into: list[Counts]) -> Callable[[Report], None]:
    return lambda report: into.append(return_counts(report))


def _reuse(
    record: Path,
    path: Path,
    out_dir: Path,
    stem: str,
    digest: str,
    version: str,
    names: list[str],
    began: float,
) -> Outcome | None:
    """The recorded outcome when the record matches and its outputs are as written, else None."""
    try:
        saved = json.loads(record.read_text(encoding="utf-8"))
        if (
            saved["input_sha256"] != digest
            or saved["tool_version"] != version
            or saved["outputs_requested"] != names
        ):
            return None
        kept = {**saved["result"], "outputs": tuple(saved["result"]["outputs"])}
        hashes: dict[str, str] = saved["outputs_sha256"]
        if kept["stem"] != stem or not set(kept["outputs"]) <= set(hashes):
            return None
        if any(input_sha256(out_dir / name) != sha for name, sha in hashes.items()):
            return None  # an output was changed or removed since it was written
        kept.update(file=str(path), seconds=round(time.perf_counter() - began, 3), skipped=True)
        return Outcome(BatchResult(**kept), saved["counts"])
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no record, or one this version cannot use: check the return


def recorded_counts(out_dir: Path, results: Sequence[BatchResult]) -> dict[str, Counts]:
    """The counts of this run's checked returns, from their records (local runners)."""
    counts: dict[str, Counts] = {}
    for result in results:
        if result.status not in ("pass", "fail"):
            continue
        try:
            saved = json.loads(record_path(out_dir, result.stem).read_text(encoding="utf-8"))
            counts[result.stem] = saved["counts"]
        except (OSError, ValueError, KeyError):
            continue  # the roll-up shows the return without its per-field counts
    return counts
