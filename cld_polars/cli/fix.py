"""``cld-validate fix RETURN --out FIXED.csv``: a corrected copy of a return and its change
log (:func:`cld_polars.fix.fix_return`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from cld_polars import safety
from cld_polars.fix import FixError, default_log_path, fix_return
from cld_polars.reader import ReturnReadError
from cld_polars.safety import clash, say, shown, sweep, sweep_note, system_temp


def _parser() -> argparse.ArgumentParser:
    parser = safety.ArgumentParser(  # messages escaped
        prog="cld-validate fix",
        description="Write a corrected copy of a return: Release 1 values and near misses "
        "replaced by their Release 2 values, postcodes normalised, exact header names; "
        "nothing else changed. The original is never modified.",
        epilog="Example: cld-validate fix RETURN.csv --out FIXED.csv. "
        "Exit status: 0 copy written, 2 the return could not be read or fixed.",
    )
    parser.add_argument("return_path", type=Path, metavar="RETURN", help="the return (.csv)")
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FIXED.csv",
        help="where to write the corrected copy (required; never the return itself)",
    )
    parser.add_argument(
        "--log",
        type=Path,
        metavar="PATH",
        help="the change log (CSV: line, field, old, new, change); default FIXED_changes.csv",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but problems")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``cld-validate fix``: one line on stderr and exit status 2 for anything it cannot do."""
    args = _parser().parse_args(argv)
    log = args.log if args.log is not None else default_log_path(args.out)
    problem = clash([args.return_path], [("--out", args.out), ("--log", log)], folder=None)
    if problem:  # before anything is read or written
        _error(f"{problem} (the original is never modified)")
        return 2
    for flag, target in (("--out", args.out), ("--log", args.log)):
        problem = safety.output_problem(flag, target) if target is not None else None
        if problem:
            _error(problem)
            return 2
    swept = sweep([system_temp(), args.out.parent, log.parent])
    if swept:
        say(f"cld-validate fix: {sweep_note(swept)}", sys.stderr)
    try:
        result = fix_return(args.return_path, args.out, args.log)
    except (ReturnReadError, FixError) as exc:
        _error(exc)
        return 2
    except OSError as exc:
        _error(f"cannot write the copy: {exc}")
        return 2
    if not args.quiet:
        say(
            f"{shown(result.source)} -> {shown(result.output)} ({result.encoding}): "
            f"{result.changes.height:,} changes, log in {shown(result.log_path)}"
        )
        for r in result.counts().head(15).to_dicts():
            say(f"  {r['changes']:>9,}  {r['change']:<16} {shown(r['field'])}")
    if result.left_alone.height:
        say(
            f"  {result.left_alone.height:,} corrections left alone (fix these lines by hand):",
            sys.stderr,
        )
        for r in result.left_alone.head(5).to_dicts():
            say(f"    line {r['line']}, {shown(r['field'])}: {shown(r['change'])}", sys.stderr)
    return 0


def _error(problem: object) -> None:
    """One line on stderr, escaped (a file name can hold ESC or a newline)."""
    say(f"cld-validate fix: {shown(problem)}", sys.stderr)
