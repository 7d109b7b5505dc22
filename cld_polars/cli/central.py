"""``cld-validate central RETURN``: the central view (:func:`cld_polars.central.central`) on
the command line.

Exit status 0 when the view was computed (and written); 2 with one line on stderr when the
return cannot be read, a parameter is missing or malformed, or an output cannot be written
(checked before the return is read, so nothing is half done).
"""

from __future__ import annotations

import argparse
import sys
import traceback
from pathlib import Path
from typing import NoReturn

from cld_polars import safety
from cld_polars.central import CentralError, central, parse_day
from cld_polars.reader import ReturnReadError
from cld_polars.safety import say, shown

PROG = "cld-validate central"


class _Parser(argparse.ArgumentParser):
    """Bad usage is one line on stderr and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{PROG}: {shown(message)} (see --help)\n")


def _day(text: str) -> str:
    try:
        parse_day(text)
    except CentralError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="What DHSC's central pipeline and LA dashboard would make of a return: "
        "the derived reporting period, the events kept, person IDs, the records merged as "
        "one event and the dashboard's headline figures (central-view-contract.md, version 1).",
        epilog="Dates as YYYY-MM-DD or dd/mm/yyyy. Exit status: 0 done, 2 the return or an "
        "option could not be used.",
    )
    parser.add_argument("return_", metavar="RETURN", type=Path, help="the return file")
    parser.add_argument(
        "--import-date",
        type=_day,
        metavar="D",
        help="the date DHSC imports the file (default: stated period end + 1 day + 1 month)",
    )
    parser.add_argument(
        "--period-start",
        type=_day,
        metavar="D",
        help="the reporting period to count (with --period-end; default: the period the "
        "return states, else the one derived from its event end dates)",
    )
    parser.add_argument("--period-end", type=_day, metavar="D", help="see --period-start")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the contract's JSON here")
    parser.add_argument(
        "--xlsx", type=Path, metavar="PATH", help="write the central view's tables as a workbook"
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="print nothing but problems")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of unexpected errors")
    return parser


def _error(problem: object) -> None:
    """One line on stderr, every value in it escaped (a file name can hold ESC or a newline)."""
    say(f"{PROG}: {shown(problem)}", sys.stderr)


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or bad usage (2, its line already printed)
        return int(exc.code or 0)
    if (args.period_start is None) != (args.period_end is None):
        _error("give both --period-start and --period-end, or neither")
        return 2
    given = (("--json", args.json), ("--xlsx", args.xlsx))
    outputs = [(flag, path) for flag, path in given if path is not None]
    problem = safety.clash([args.return_], outputs, folder=None) or safety.collision(outputs)
    for flag, option in outputs:
        problem = problem or safety.output_problem(flag, option)
    if problem:  # before the return is read, so that nothing is half done
        _error(problem)
        return 2
    # Temporaries of ours that a kill -9 left behind, as every command sweeps them.
    swept = safety.sweep([safety.system_temp(), *(path.parent for _, path in outputs)])
    if swept:
        say(f"{PROG}: {safety.sweep_note(swept)}", sys.stderr)
    try:
        view = central(
            args.return_,
            import_date=args.import_date,
            period_start=args.period_start,
            period_end=args.period_end,
        )
        if args.json is not None:
            view.to_json(args.json)
        if args.xlsx is not None:
            view.to_excel(args.xlsx)
    except ReturnReadError as exc:
        if args.debug:
            traceback.print_exc()
        _error(exc)
        return 2
    except CentralError as exc:
        _error(f"{args.return_}: {exc}")
        return 2
    except (OSError, ValueError) as exc:
        if args.debug:
            traceback.print_exc()
        _error(f"cannot write output: {exc}")
        return 2
    if not args.quiet:
        say(view.summary())
        for flag, option in (("JSON", args.json), ("workbook", args.xlsx)):
            if option is not None:
                say(f"  {flag}: {shown(option)}")
    return 0
