"""``cld-validate compare PREVIOUS CURRENT``: what changed since last quarter
(:func:`cld_polars.compare.compare`), printed and written as a workbook with ``--xlsx``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from cld_polars import safety
from cld_polars.compare import CompareError, compare
from cld_polars.reader import ReturnReadError
from cld_polars.safety import clash, say, shown, sweep, sweep_note, system_temp


def _parser() -> argparse.ArgumentParser:
    parser = safety.ArgumentParser(  # messages escaped
        prog="cld-validate compare",
        description="Compare last quarter's return with this quarter's over the nine months "
        "they share: events gone or new, services re-dated, unit costs and person details "
        "changed, counts by event type.",
        epilog="Example: cld-validate compare 2025Q2.csv 2025Q3.csv --xlsx diff.xlsx. "
        "Exit status: 0 compared, 2 a return could not be read or the two cannot be compared.",
    )
    parser.add_argument("previous", type=Path, metavar="PREVIOUS", help="last quarter's return")
    parser.add_argument("current", type=Path, metavar="CURRENT", help="this quarter's return")
    parser.add_argument(
        "--xlsx",
        type=Path,
        metavar="PATH",
        help="write the comparison workbook here (Instructions, then a sheet per table)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but problems")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``cld-validate compare``: one line on stderr and exit status 2 for bad input."""
    args = _parser().parse_args(argv)
    if args.xlsx is not None:
        problem = clash([args.previous, args.current], [("--xlsx", args.xlsx)], folder=None)
        if problem:  # by path, symlink or hard link, before either return is read
            _error(problem)
            return 2
        problem = safety.output_problem("--xlsx", args.xlsx)
        if problem:
            _error(problem)
            return 2
    swept = sweep([system_temp(), *([args.xlsx.parent] if args.xlsx is not None else [])])
    if swept:
        say(f"cld-validate compare: {sweep_note(swept)}", sys.stderr)
    try:
        result = compare(args.previous, args.current)
        if args.xlsx is not None:
            result.to_excel(args.xlsx)
    except (ReturnReadError, CompareError) as exc:
        _error(exc)
        return 2
    except OSError as exc:
        _error(f"cannot write {args.xlsx}: {exc}")
        return 2
    if not args.quiet:
        say(result.summary())
        # Every column, no dtypes or shape: a table an analyst reads, not a debugging view.
        with pl.Config(
            tbl_cols=-1,
            tbl_width_chars=200,
            tbl_hide_dataframe_shape=True,
            tbl_hide_column_data_types=True,
            tbl_formatting="ASCII_MARKDOWN",
        ):
            say(str(result.counts))
        if args.xlsx is not None:
            say(f"  workbook: {shown(args.xlsx)}")
    return 0


def _error(problem: object) -> None:
    """One line on stderr, escaped (a file name can hold ESC or a newline)."""
    say(f"cld-validate compare: {shown(problem)}", sys.stderr)
