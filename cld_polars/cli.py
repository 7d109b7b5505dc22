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
from cld_polars.engine import validate
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
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but problems")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    parser.add_argument("--version", action="version", version=f"cld_polars {__version__}")
    return parser


def _output_for(option: Path | None, source: Path, several: bool, suffix: str) -> Path | None:
    if option is None:
        return None
    if several or option.is_dir():
        return option / f"{source.name.split('.')[0]}{suffix}"
    return option


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
        examples = {r["code"]: r for r in report.findings.unique("code", keep="first").to_dicts()}
        for rule in report.rules.head(TOP_RULES).to_dicts():
            fields = ", ".join(rule["fields"]) or "whole row"
            lines.append(f"    {rule['rows']:>9,}  {rule['severity']:<7} {rule['code']} ({fields})")
            example = examples.get(rule["code"])
            if example:
                hint = f" -> '{example['suggestion']}'" if example["suggestion"] else ""
                lines.append(
                    f"               e.g. line {example['line']}: '{example['value']}'{hint}"
                )
        if report.rules.height > TOP_RULES:
            lines.append(f"    ... and {report.rules.height - TOP_RULES} more rules (see --json)")
    verdict = "FAIL: errors to fix" if report.exit_code else "PASS: no errors"
    lines.append(f"  {verdict}")
    return "\n".join(lines)


def _run_one(path: Path, args: argparse.Namespace, several: bool) -> int:
    try:
        report = validate(path)
    except ReturnReadError as exc:
        print(f"cld-validate: {exc}", file=sys.stderr)
        return 2
    json_path = _output_for(args.json, path, several, ".json")
    errors_path = _output_for(
        args.errors,
        path,
        several,
        "_findings" + (args.errors.suffix if args.errors and args.errors.suffix else ".csv"),
    )
    try:
        if json_path:
            report.to_json(json_path)
        if errors_path:
            report.write_findings(errors_path)
    except (OSError, ValueError) as exc:
        print(f"cld-validate: cannot write output: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(_summary(report))
    return report.exit_code


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


def main(argv: Sequence[str] | None = None) -> int:
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
    several = len(paths) > 1
    for option in (args.json, args.errors):
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


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
