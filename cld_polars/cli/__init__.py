"""``cld-validate``: the command line, one module per command.

* ``cld-validate RETURN ...`` checks returns (:mod:`cld_polars.cli.check`);
* ``cld-validate compare PREVIOUS CURRENT`` (:mod:`cld_polars.cli.compare`);
* ``cld-validate fix RETURN --out FIXED.csv`` (:mod:`cld_polars.cli.fix`);
* ``cld-validate central RETURN`` (:mod:`cld_polars.cli.central`).

Each module parses its command's options and prints its lines; the work is the library's
(:func:`cld_polars.validate`, :func:`cld_polars.compare`, :func:`cld_polars.fix_return`,
:func:`cld_polars.central`), which notebooks call the same way.

Exit status: 0 no errors, 1 errors found, 2 an input could not be read (or bad usage).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import polars as pl

from cld_polars import safety
from cld_polars.cli import central, check, compare, fix
from cld_polars.data import sample_path
from cld_polars.safety import say, shown

__all__ = ["COMMANDS", "entry", "main", "sample_path"]

#: The named commands, each its module's ``main`` (no name: ``check``, the validation).
COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "compare": compare.main,
    "fix": fix.main,
    "central": central.main,
}


def _subcommand(argv: list[str]) -> int:
    """A named command; an unexpected error is one line, as for validation."""
    try:
        return int(COMMANDS[argv[0]](argv[1:]))
    except KeyboardInterrupt:
        say("cld-validate: interrupted", sys.stderr)
        return 130
    except (Exception, pl.exceptions.PanicException) as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        say(
            f"cld-validate {argv[0]}: unexpected error "
            f"({type(exc).__name__}: {shown(first)}). Report it.",
            sys.stderr,
        )
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """The command line. SIGTERM, SIGINT and SIGHUP remove every temporary file of the run
    and exit with 128 + the signal's number (``safety.cleanup_on_signals``)."""
    given = list(sys.argv[1:] if argv is None else argv)
    subcommand = bool(given) and given[0] in COMMANDS
    program = f"cld-validate {given[0]}" if subcommand else "cld-validate"
    with safety.cleanup_on_signals(program):
        if subcommand:
            return _subcommand(given)
        return check.main(given)


def entry() -> None:
    sys.exit(main())
