"""``cld-validate RETURN ...``: check returns, the command line's default command.

One return or several (``--json``, ``--errors``, ``--xlsx`` name files, or folders for
several), or a folder of returns with ``--out-dir`` (:mod:`cld_polars.batch`, or a Dask
cluster with ``--scheduler``). ``cld-validate --help`` lists the other commands too.

Exit status: 0 no errors, 1 errors found, 2 an input could not be read (or bad usage).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from cld_polars import safety
from cld_polars._version import __version__
from cld_polars.batch import (
    BatchError,
    BatchResult,
    exit_status,
    output_stems,
    validate_many,
    written_by_us,
)
from cld_polars.data import sample_path
from cld_polars.engine import validate
from cld_polars.progress import for_terminal
from cld_polars.reader import ReturnReadError
from cld_polars.report import Report
from cld_polars.safety import say, shown

TOP_RULES = 10


USAGE = """cld-validate RETURN [RETURN ...] [--xlsx PATH] [--json PATH] [--errors PATH] [-q]
       cld-validate RETURN_OR_FOLDER [...] --out-dir DIR [--findings csv|parquet] [--workers N]
       cld-validate compare PREVIOUS CURRENT [--xlsx PATH]
       cld-validate fix RETURN --out FIXED.csv [--log PATH]"""

DESCRIPTION = """\
Check Adult Social Care Client Level Data (CLD) Release 2 returns against DHSC's
specification before they go to the Data Landing Portal.

commands, with examples:
  cld-validate RETURN.csv --xlsx report.xlsx
      check a return; the workbook says what to fix, row by row
  cld-validate --sample --xlsx sample_report.xlsx
      try it on the bundled synthetic return (it has deliberate faults)
  cld-validate returns/ --out-dir reports/
      every return in a folder: a JSON report and a workbook each, index.csv, and the
      national roll-up (national.xlsx, national.parquet)
  cld-validate compare 2025Q2.csv 2025Q3.csv --xlsx diff.xlsx
      what changed since last quarter (cld-validate compare --help)
  cld-validate fix RETURN.csv --out FIXED.csv
      a copy with Release 1 values, near misses and postcodes corrected
      (cld-validate fix --help)"""


def _parser() -> argparse.ArgumentParser:
    parser = safety.ArgumentParser(  # messages escaped
        prog="cld-validate",
        usage=USAGE,
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit status: 0 no errors, 1 errors found, 2 an input could not be read (or "
        "an output written).",
    )
    parser.add_argument(
        "returns",
        nargs="*",
        type=Path,
        help="return files (.csv, .csv.gz, or .xlsx/.parquet to check before saving as CSV)",
    )
    parser.add_argument("--sample", action="store_true", help="validate the bundled sample return")
    parser.add_argument(
        "--json",
        type=Path,
        metavar="PATH",
        help="write the JSON result here (a folder when several returns are given)",
    )
    parser.add_argument(
        "--errors",
        type=Path,
        metavar="PATH",
        help="write every finding as .csv or .parquet (a folder when several returns are given)",
    )
    parser.add_argument(
        "--xlsx",
        type=Path,
        metavar="PATH",
        help="write the Excel workbook (validation report and summary counts) here "
        "(a folder when several returns are given)",
    )
    parser.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="print only problems: one line for each return that fails or cannot be read",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    parser.add_argument("--version", action="version", version=f"cld_polars {__version__}")
    _add_batch_options(parser)
    return parser


def _add_batch_options(parser: argparse.ArgumentParser) -> None:
    """Options of the output-folder mode (``--out-dir``): several returns, one index."""
    group = parser.add_argument_group("output folder (several returns, scheduled runs)")
    group.add_argument(
        "--out-dir",
        type=Path,
        metavar="DIR",
        help="write each return's JSON report and Excel workbook here (and its findings with "
        "--findings), plus index.json, index.csv and the national roll-up of every return "
        "(national.xlsx, national.parquet); created if missing",
    )
    group.add_argument(
        "--findings",
        choices=("csv", "parquet"),
        help="with --out-dir: also write each return's findings as <name>_findings.csv/.parquet",
    )
    group.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="with --out-dir: returns checked at once (default: as many as memory and cores "
        "allow; 1: one after another)",
    )
    group.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="with --out-dir: check each return as a task on the Dask cluster whose scheduler "
        "is at ADDRESS (tcp://host:8786), or 'local' to start one on this machine; the "
        "returns and DIR must be at paths the workers can reach (needs cld_polars[dask])",
    )
    group.add_argument(
        "--recheck",
        action="store_true",
        help="with --out-dir: check every return again, even those whose reports are up to "
        "date (same file contents, same cld_polars version)",
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _output_for(option: Path | None, stem: str, several: bool, suffix: str) -> Path | None:
    """The file an output option names for one return: the option itself, or, when it is a
    folder, ``<stem><suffix>`` inside it (the stem is the whole name: ``cld.2025Q2``)."""
    if option is None:
        return None
    if several or option.is_dir():
        return option / f"{stem}{suffix}"
    return option


def _planned(args: argparse.Namespace, stem: str, several: bool) -> dict[str, Path]:
    """``--json``, ``--errors`` and ``--xlsx`` of one return, by option (those given)."""
    errors_suffix = ".csv"
    if args.errors is not None and not (several or args.errors.is_dir()):
        errors_suffix = args.errors.suffix or ".csv"
    found = {
        "--json": _output_for(args.json, stem, several, ".json"),
        "--errors": _output_for(args.errors, stem, several, "_findings" + errors_suffix),
        "--xlsx": _output_for(args.xlsx, stem, several, ".xlsx"),
    }
    return {flag: path for flag, path in found.items() if path is not None}


def _every_output(planned: dict[str, Path]) -> list[tuple[str, Path]]:
    """Every file the outputs may write: the workbook's overflowing findings list too."""
    outputs = list(planned.items())
    if "--xlsx" in planned:
        from cld_polars.workbook import overflow_path

        overflow = overflow_path(planned["--xlsx"])
        # ``--errors`` may name that very file: both write the same findings list.
        if "--errors" not in planned or not safety.same_file(overflow, planned["--errors"]):
            outputs.append(("--xlsx", overflow))
    return outputs


def _error(problem: object) -> None:
    """One line on stderr, every value in it escaped (a file name can hold ESC or a newline)."""
    say(f"cld-validate: {shown(problem)}", sys.stderr)


def _note(text: str | None) -> None:
    if text:
        say(f"cld-validate: {text}", sys.stderr)


def _clip(value: object, limit: int = 80) -> str:
    """A value short enough for one terminal line (a field can hold a megabyte), escaped."""
    text = "" if value is None else str(value)
    return shown(text if len(text) <= limit else text[: limit - 3] + "...")


def _display(path: Path | str) -> str:
    """How a return is named on the terminal: the bundled sample by its name, not the path
    inside the installed package."""
    if Path(path) == sample_path():
        return f"{sample_path().name} (the bundled sample)"
    return str(path)


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def _summary(report: Report, workbook: Path | None = None) -> str:
    lines = [
        f"{shown(_display(report.file))}: {report.rows:,} rows checked in {report.seconds:.1f} s",
        f"  rows with errors: {report.errors:,}   rows with warnings: {report.warnings:,}"
        f"   file-level findings: {len(report.file_findings)}",
    ]
    for finding in report.file_findings:
        lines.append(f"  [{finding.severity}] {finding.code}: {shown(finding.message)}")
    if report.rules.height:
        lines.append("  Top problems (rows affected, first example):")
        examples = {
            r["code"]: r
            for r in report.findings.unique("code", keep="first", maintain_order=True)
            .collect()
            .to_dicts()
        }
        for rule in report.rules.head(TOP_RULES).to_dicts():
            fields = ", ".join(shown(f) for f in rule["fields"]) or "whole row"
            lines.append(f"    {rule['rows']:>9,}  {rule['severity']:<7} {rule['code']} ({fields})")
            example = examples.get(rule["code"])
            if example:
                hint = f" -> '{_clip(example['suggestion'])}'" if example["suggestion"] else ""
                lines.append(
                    f"               e.g. line {example['line']}: '{_clip(example['value'])}'{hint}"
                )
        more = report.rules.height - TOP_RULES
        if more > 0:
            where = (
                f"see the Rule errors sheet of {workbook}"
                if workbook is not None
                else "--xlsx REPORT.xlsx writes them all to a workbook"
            )
            lines.append(f"    ... and {_plural(more, 'more check')}: {where}")
    verdict = "FAIL: errors to fix" if report.exit_code else "PASS: no errors"
    lines.append(f"  {verdict}")
    if workbook is not None:
        lines.append(
            f"  Workbook: {workbook} (every check on its Rule errors sheet, every row on "
            "Rows to fix)"
        )
    return "\n".join(lines)


def _verdict_line(report: Report, workbook: Path | None) -> str:
    """The one line ``--quiet`` prints for a return that fails."""
    line = (
        f"{shown(_display(report.file))}: FAIL: {_plural(report.errors, 'row')} with errors, "
        f"{_plural(report.file_errors, 'file-level error')}"
    )
    return line + (f"; see the Rule errors sheet of {workbook}" if workbook is not None else "")


def _run_one(path: Path, args: argparse.Namespace, outputs: dict[str, Path]) -> int:
    report: Report | None = None
    notes: list[str] = []
    with for_terminal(args.quiet) as progress:
        try:
            report = validate(path, progress=lambda stage: progress(f"{stage} {path.name}"))
        except ReturnReadError as exc:
            if args.debug:
                traceback.print_exc()
            problem: str | None = str(exc)
        else:
            progress(f"writing {path.name}")
            problem, notes = _write_outputs(report, outputs)
    # Printed once the progress line is gone, so the two never share a line.
    if problem is not None or report is None:
        _error(problem)
        return 2
    workbook = outputs.get("--xlsx")
    if not args.quiet:
        say(_summary(report, workbook))
    elif report.exit_code:
        say(_verdict_line(report, workbook))
    for note in notes:
        say(note)
    return report.exit_code


def _write_outputs(report: Report, outputs: dict[str, Path]) -> tuple[str | None, list[str]]:
    """Writes ``--json``, ``--errors`` and ``--xlsx``. Returns the problem as a sentence if one
    cannot be written, and notes for the analyst (where an overflowing findings list went)."""
    notes: list[str] = []
    try:
        if "--json" in outputs:
            report.to_json(outputs["--json"])
        if "--errors" in outputs:
            report.write_findings(outputs["--errors"])
        if "--xlsx" in outputs:
            xlsx_path = outputs["--xlsx"]
            written = report.to_excel(xlsx_path)
            if written.overflow is not None:
                notes.append(
                    f"  {shown(xlsx_path)}: the Rows to fix sheet holds the first "
                    f"{written.findings_written:,} of {written.findings:,} findings; "
                    f"all of them are in {shown(written.overflow)}"
                )
    except (OSError, ValueError) as exc:
        return f"cannot write output: {exc}", notes
    return None, notes


def _output_problem(option: Path | None, flag: str, several: bool) -> str | None:
    """Why an output path cannot be written, checked before any return is validated."""
    if option is None:
        return None
    if several or option.is_dir():
        if not option.is_dir():
            return f"with several returns, {flag} {option} must be an existing folder"
        return safety.output_problem(flag, option, is_folder=True)
    if flag == "--errors" and option.suffix.lower() not in (".csv", ".parquet"):
        return f"{flag} {option}: findings are written as .csv or .parquet; name it so"
    return safety.output_problem(flag, option)


#: What a folder given as input is searched for (not its subfolders).
RETURN_SUFFIXES = (".csv", ".csv.gz", ".xlsx", ".parquet")


def _expand_folders(paths: Sequence[Path]) -> tuple[list[Path], list[Path], str | None]:
    """With ``--out-dir``, a folder stands for the returns in it (by name, hidden files and
    Excel's ``~$`` lock files left out), so a scheduled job can give ``returns/`` instead of a
    shell glob. (Without it a folder is still an input error: one return was meant.)

    Reports this tool wrote (``batch.written_by_us``: findings lists, indexes, roll-ups,
    workbooks) are left out, from a folder or a glob alike, so that reports written into the
    returns' own folder are never read back as returns. Returns (the returns, the reports
    left out, a problem)."""
    expanded: list[Path] = []
    ours: list[Path] = []
    for path in paths:
        if not path.is_dir():
            (ours if path.is_file() and written_by_us(path) else expanded).append(path)
            continue
        found = sorted(
            p
            for p in path.iterdir()
            if p.name.lower().endswith(RETURN_SUFFIXES)
            and not p.name.startswith((".", "~$"))
            and p.is_file()
        )
        returns = [p for p in found if not written_by_us(p)]
        ours += [p for p in found if p not in returns]
        if not returns:
            kinds = ", ".join(RETURN_SUFFIXES)
            held = " (only reports written by cld_polars)" if found else ""
            return [], ours, f"{path}: no returns in this folder{held} ({kinds}); give the files"
        expanded.extend(returns)
    if not expanded:
        return [], ours, "no returns to check: the files given are reports written by cld_polars"
    return expanded, ours, None


def main(argv: list[str]) -> int:
    """Check the returns named in ``argv`` (the command line after ``cld-validate``)."""
    args = _parser().parse_args(argv)
    paths: list[Path] = list(args.returns)
    if args.sample:
        paths.insert(0, sample_path())
    if not paths:
        _parser().print_usage(sys.stderr)
        _error("give a return file, or --sample to try the bundled one")
        return 2
    batch_options = (args.workers, args.findings, args.scheduler)
    if args.out_dir is not None or any(o is not None for o in batch_options) or args.recheck:
        return _run_batch(paths, args)
    several = len(paths) > 1
    for option in (args.json, args.errors, args.xlsx):
        if several and option is not None and not option.is_dir():
            _error(f"with several returns, {option} must be an existing folder")
            return 2
    stems = output_stems(paths) if several else [safety.output_stem(paths[0])]
    planned = [_planned(args, stem, several) for stem in stems]
    every = [output for outputs in planned for output in _every_output(outputs)]
    problem = safety.clash(paths, every, folder=None) or next(
        filter(None, (safety.collision(_every_output(o)) for o in planned)), None
    )
    if problem:  # checked before any validation, so that nothing is half done
        _error(problem)
        return 2
    for flag, option in (("--json", args.json), ("--errors", args.errors), ("--xlsx", args.xlsx)):
        problem = _output_problem(option, flag, several)
        if problem:
            _error(problem)
            return 2
    swept = safety.sweep([safety.system_temp(), *(p.parent for _, p in every)])
    _note(safety.sweep_note(swept))
    status = 0
    for path, outputs in zip(paths, planned, strict=True):
        try:
            code = _run_one(path, args, outputs)
        except KeyboardInterrupt:
            _error("interrupted")
            return 130
        except (Exception, pl.exceptions.PanicException) as exc:  # the last resort: one line
            # (a Polars panic is a BaseException: caught by name so it too is one line)
            if args.debug:
                traceback.print_exc()
            first = (str(exc).strip().splitlines() or [""])[0][:200]  # library errors run long
            _error(
                f"{path}: unexpected error ({type(exc).__name__}: {first}). "
                "Run again with --debug for details and report it."
            )
            code = 2
        status = max(status, code)
    return status


def _run_batch(paths: list[Path], args: argparse.Namespace) -> int:
    """``--out-dir``: every return checked (in parallel where memory allows), one index."""
    if args.out_dir is None:
        _error("--workers, --findings, --scheduler and --recheck go with --out-dir DIR")
        return 2
    if args.json is not None or args.errors is not None or args.xlsx is not None:
        _error(
            "--out-dir writes each return's JSON and workbook itself (and "
            "findings with --findings): leave out --json, --errors and --xlsx"
        )
        return 2
    paths, ours, problem = _expand_folders(paths)
    if problem:
        _error(problem)
        return 2
    if ours and not args.quiet:
        names = ", ".join(shown(p.name) for p in ours[:5]) + (", ..." if len(ours) > 5 else "")
        _note(f"left out {len(ours)} report(s) written by cld_polars, not returns: {names}")
    if args.scheduler is not None:
        problem = _scheduler_problem(args)
        if problem:
            _error(problem)
            return 2
    try:
        with for_terminal(args.quiet) as progress:
            options = {
                "workers": args.workers,
                "xlsx": True,
                "errors_format": args.findings,
                "progress": progress,
                "debug": args.debug,
                "reuse": not args.recheck,
                "note": _note,
            }
            if args.scheduler is not None:
                from cld_polars.distributed import validate_on_cluster

                results = validate_on_cluster(paths, args.out_dir, args.scheduler, **options)
            else:
                results = validate_many(paths, args.out_dir, **options)
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except (BatchError, OSError) as exc:
        _error(exc)
        return 2
    except (Exception, pl.exceptions.PanicException) as exc:  # the last resort: one line
        if args.debug:
            traceback.print_exc()
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        _error(
            f"{args.out_dir}: unexpected error ({type(exc).__name__}: {first}). "
            "Run again with --debug for details and report it."
        )
        return 2
    for result in results:
        if result.message:
            _error(result.message)
        elif args.quiet and result.status == "fail":
            say(
                f"{shown(_display(result.file))}: FAIL: {_plural(result.errors or 0, 'row')} "
                f"with errors; see {shown(args.out_dir / (result.stem + '.xlsx'))}"
            )
    if not args.quiet:
        say(_batch_table(results, args.out_dir))
    return exit_status(results)


def _scheduler_problem(args: argparse.Namespace) -> str | None:
    """Why ``--scheduler`` cannot be used as given (checked before any return), or None."""
    from cld_polars.distributed import dask_missing

    if args.workers is not None and args.scheduler != "local":
        return (
            "--workers sets the size of a --scheduler local cluster; a remote cluster has the "
            "workers it was started with"
        )
    return dask_missing()


def _batch_table(results: list[BatchResult], out_dir: Path) -> str:
    """One line per return, then the totals and where the index is."""
    head = f"{'status':<10} {'rows':>10} {'errors':>9} {'warnings':>9}  council  file"
    lines = [head]
    for r in results:
        council = shown(f"{r.council_code or '-'} {r.council_name or ''}".strip())
        lines.append(
            f"{r.status:<10} {_count(r.rows):>10} {_count(r.errors):>9} {_count(r.warnings):>9}"
            f"  {council}  {shown(r.file)}"
        )
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "unreadable")}
    counts["crashed"] = sum(r.status == "crashed" for r in results)
    totals = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    skipped = sum(r.skipped for r in results)
    if skipped:
        totals += f" ({skipped} up to date, not checked again)"
    lines.append(f"{len(results)} returns: {totals}. Index: {shown(out_dir / 'index.csv')}")
    lines.append(f"National roll-up: {shown(out_dir / 'national.xlsx')} and national.parquet")
    return "\n".join(lines)


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"
