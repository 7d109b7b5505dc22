"""``cld-validate``: check CLD returns from the command line.

Exit status: 0 no errors, 1 errors found, 2 an input could not be read (or bad usage).
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import polars as pl

from cld_polars import __version__
from cld_polars.batch import BatchError, BatchResult, exit_status, validate_many
from cld_polars.engine import validate
from cld_polars.progress import for_terminal
from cld_polars.reader import ReturnReadError
from cld_polars.report import Report

TOP_RULES = 10


def sample_path() -> Path:
    """The synthetic sample return shipped with the package (no real personal data)."""
    return Path(str(resources.files("cld_polars") / "data" / "sample_return.csv"))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cld-validate",
        description="Validate Adult Social Care Client Level Data (CLD) Release 2 returns.",
        epilog="Exit status: 0 no errors, 1 errors found, 2 an input could not be read.",
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
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but problems")
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
        help="write each return's JSON (and findings) here, plus index.json and index.csv; "
        "created if missing",
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


def _output_for(option: Path | None, source: Path, several: bool, suffix: str) -> Path | None:
    if option is None:
        return None
    if several or option.is_dir():
        return option / f"{source.name.split('.')[0]}{suffix}"
    return option


def _clip(value: object, limit: int = 80) -> str:
    """A value short enough for one terminal line (a field can hold a megabyte)."""
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _summary(report: Report) -> str:
    lines = [
        f"{report.file}: {report.rows:,} rows checked in {report.seconds:.1f} s",
        f"  rows with errors: {report.errors:,}   rows with warnings: {report.warnings:,}"
        f"   file-level findings: {len(report.file_findings)}",
    ]
    for finding in report.file_findings:
        lines.append(f"  [{finding.severity}] {finding.code}: {finding.message}")
    if report.rules.height:
        lines.append("  Top problems (rows affected, first example):")
        examples = {
            r["code"]: r
            for r in report.findings.unique("code", keep="first", maintain_order=True)
            .collect()
            .to_dicts()
        }
        for rule in report.rules.head(TOP_RULES).to_dicts():
            fields = ", ".join(rule["fields"]) or "whole row"
            lines.append(f"    {rule['rows']:>9,}  {rule['severity']:<7} {rule['code']} ({fields})")
            example = examples.get(rule["code"])
            if example:
                hint = f" -> '{_clip(example['suggestion'])}'" if example["suggestion"] else ""
                lines.append(
                    f"               e.g. line {example['line']}: '{_clip(example['value'])}'{hint}"
                )
        if report.rules.height > TOP_RULES:
            lines.append(f"    ... and {report.rules.height - TOP_RULES} more rules (see --json)")
    verdict = "FAIL: errors to fix" if report.exit_code else "PASS: no errors"
    lines.append(f"  {verdict}")
    return "\n".join(lines)


def _run_one(path: Path, args: argparse.Namespace, several: bool) -> int:
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
            problem, notes = _write_outputs(report, path, args, several)
    # Printed once the progress line is gone, so the two never share a line.
    if problem is not None or report is None:
        print(f"cld-validate: {problem}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(_summary(report))
    for note in notes:
        print(note)
    return report.exit_code


def _write_outputs(
    report: Report, path: Path, args: argparse.Namespace, several: bool
) -> tuple[str | None, list[str]]:
    """Writes ``--json``, ``--errors`` and ``--xlsx``. Returns the problem as a sentence if one
    cannot be written, and notes for the analyst (where an overflowing findings list went)."""
    json_path = _output_for(args.json, path, several, ".json")
    errors_path = _output_for(
        args.errors,
        path,
        several,
        "_findings" + (args.errors.suffix if args.errors and args.errors.suffix else ".csv"),
    )
    xlsx_path = _output_for(args.xlsx, path, several, ".xlsx")
    notes: list[str] = []
    try:
        if json_path:
            report.to_json(json_path)
        if errors_path:
            report.write_findings(errors_path)
        if xlsx_path:
            written = report.to_excel(xlsx_path)
            if written.overflow is not None:
                notes.append(
                    f"  {xlsx_path}: the Rows to fix sheet holds the first "
                    f"{written.findings_written:,} of {written.findings:,} findings; "
                    f"all of them are in {written.overflow}"
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
        folder = option
    else:
        folder = option.parent if str(option.parent) else Path(".")
        if flag == "--errors" and option.suffix.lower() not in (".csv", ".parquet"):
            return f"{flag} {option}: findings are written as .csv or .parquet; name it so"
    if not folder.exists():
        return f"{flag} {option}: the output folder {folder} does not exist; create it first"
    if not folder.is_dir():
        return f"{flag} {option}: {folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{flag} {option}: the output folder {folder} cannot be written to"
    return None


SUBCOMMANDS = ("compare", "fix", "central")


def _subcommand(argv: list[str]) -> int:
    """``compare`` and ``fix`` parse their own options (see their modules); an unexpected
    error is one line, as for validation."""
    import importlib

    module = importlib.import_module(f"cld_polars.{argv[0]}")
    try:
        return int(module.main(argv[1:]))
    except KeyboardInterrupt:
        print("cld-validate: interrupted", file=sys.stderr)
        return 130
    except (Exception, pl.exceptions.PanicException) as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        print(
            f"cld-validate {argv[0]}: unexpected error ({type(exc).__name__}: {first}). Report it.",
            file=sys.stderr,
        )
        return 2


#: What a folder given as input is searched for (not its subfolders).
RETURN_SUFFIXES = (".csv", ".csv.gz", ".xlsx", ".parquet")


def _expand_folders(paths: Sequence[Path]) -> tuple[list[Path], str | None]:
    """With ``--out-dir``, a folder stands for the returns in it (by name, hidden files and
    Excel's ``~$`` lock files left out), so a scheduled job can give ``returns/`` instead of a
    shell glob. (Without it a folder is still an input error: one return was meant.)"""
    expanded: list[Path] = []
    for path in paths:
        if not path.is_dir():
            expanded.append(path)
            continue
        found = sorted(
            p
            for p in path.iterdir()
            if p.name.lower().endswith(RETURN_SUFFIXES)
            and not p.name.startswith((".", "~$"))
            and p.is_file()
        )
        if not found:
            kinds = ", ".join(RETURN_SUFFIXES)
            return [], f"{path}: no returns in this folder ({kinds}); give the files instead"
        expanded.extend(found)
    return expanded, None


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] and given[0] in SUBCOMMANDS:
        return _subcommand(given)
    args = _parser().parse_args(argv)
    paths: list[Path] = list(args.returns)
    if args.sample:
        paths.insert(0, sample_path())
    if not paths:
        _parser().print_usage(sys.stderr)
        print(
            "cld-validate: give a return file, or --sample to try the bundled one", file=sys.stderr
        )
        return 2
    batch_options = (args.workers, args.findings, args.scheduler)
    if args.out_dir is not None or any(o is not None for o in batch_options) or args.recheck:
        return _run_batch(paths, args)
    several = len(paths) > 1
    for option in (args.json, args.errors, args.xlsx):
        if several and option is not None and not option.is_dir():
            print(
                f"cld-validate: with several returns, {option} must be an existing folder",
                file=sys.stderr,
            )
            return 2
    outputs = [("--json", args.json), ("--errors", args.errors)]
    outputs.append(("--xlsx", getattr(args, "xlsx", None)))  # the workbook, where there is one
    for flag, option in outputs:
        problem = _output_problem(option, flag, several)
        if problem:  # checked before any validation, so that nothing is half done
            print(f"cld-validate: {problem}", file=sys.stderr)
            return 2
    status = 0
    for path in paths:
        try:
            code = _run_one(path, args, several)
        except KeyboardInterrupt:
            print("cld-validate: interrupted", file=sys.stderr)
            return 130
        except (Exception, pl.exceptions.PanicException) as exc:  # the last resort: one line
            # (a Polars panic is a BaseException: caught by name so it too is one line)
            if args.debug:
                traceback.print_exc()
            first = (str(exc).strip().splitlines() or [""])[0][:200]  # library errors run long
            print(
                f"cld-validate: {path}: unexpected error ({type(exc).__name__}: {first}). "
                "Run again with --debug for details and report it.",
                file=sys.stderr,
            )
            code = 2
        status = max(status, code)
    return status


def _run_batch(paths: list[Path], args: argparse.Namespace) -> int:
    """``--out-dir``: every return checked (in parallel where memory allows), one index."""
    if args.out_dir is None:
        print(
            "cld-validate: --workers, --findings, --scheduler and --recheck go with --out-dir DIR",
            file=sys.stderr,
        )
        return 2
    if args.json is not None or args.errors is not None or args.xlsx is not None:
        print(
            "cld-validate: --out-dir writes each return's JSON and workbook itself (and "
            "findings with --findings): leave out --json, --errors and --xlsx",
            file=sys.stderr,
        )
        return 2
    paths, problem = _expand_folders(paths)
    if problem:
        print(f"cld-validate: {problem}", file=sys.stderr)
        return 2
    if args.scheduler is not None:
        problem = _scheduler_problem(args)
        if problem:
            print(f"cld-validate: {problem}", file=sys.stderr)
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
            }
            if args.scheduler is not None:
                from cld_polars.distributed import validate_on_cluster

                results = validate_on_cluster(paths, args.out_dir, args.scheduler, **options)
            else:
                results = validate_many(paths, args.out_dir, **options)
    except KeyboardInterrupt:
        print("cld-validate: interrupted", file=sys.stderr)
        return 130
    except (BatchError, OSError) as exc:
        print(f"cld-validate: {exc}", file=sys.stderr)
        return 2
    for result in results:
        if result.message:
            print(f"cld-validate: {result.message}", file=sys.stderr)
    if not args.quiet:
        print(_batch_table(results, args.out_dir))
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
        council = f"{r.council_code or '-'} {r.council_name or ''}".strip()
        lines.append(
            f"{r.status:<10} {_count(r.rows):>10} {_count(r.errors):>9} {_count(r.warnings):>9}"
            f"  {council}  {r.file}"
        )
    counts = {s: sum(r.status == s for r in results) for s in ("pass", "fail", "unreadable")}
    counts["crashed"] = sum(r.status == "crashed" for r in results)
    totals = ", ".join(f"{n} {s}" for s, n in counts.items() if n)
    skipped = sum(r.skipped for r in results)
    if skipped:
        totals += f" ({skipped} up to date, not checked again)"
    lines.append(f"{len(results)} returns: {totals}. Index: {out_dir / 'index.csv'}")
    lines.append(f"National roll-up: {out_dir / 'national.xlsx'} and national.parquet")
    return "\n".join(lines)


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
