"""cld_polars: validate and summarise Adult Social Care Client Level Data (CLD) returns."""

from __future__ import annotations

import os
import sys
import types

# Before Polars is first imported: give memory that Polars frees back to the system within
# half a second, from a background thread, instead of keeping it for ten seconds. A run
# frees large working sets stage after stage (a chunk's columns, a cross-row group-by); kept,
# they add up to the run's peak. Measured on a 1M-row return (--json --xlsx, 2 cores): peak
# RSS 860-865 MB -> 765-770 MB, the same time (5.6-5.8 s). Returning it at once (0 ms) took
# 600 MB but cost 4 s of system time. Set _RJEM_MALLOC_CONF yourself to choose otherwise; it
# has no effect where Polars was imported first (a notebook that imported it already).
os.environ.setdefault(
    "_RJEM_MALLOC_CONF", "background_thread:true,dirty_decay_ms:500,muzzy_decay_ms:0"
)

from cld_polars._version import __version__
from cld_polars.central import CentralView, central
from cld_polars.compare import Comparison, compare
from cld_polars.engine import validate
from cld_polars.fix import FixResult, fix_return
from cld_polars.reader import ReturnReadError
from cld_polars.report import Report
from cld_polars.spec import load_spec

__all__ = [
    "CentralView",
    "Comparison",
    "FixResult",
    "Report",
    "ReturnReadError",
    "__version__",
    "central",
    "compare",
    "data_schema",
    "fix_return",
    "load_spec",
    "pandera_schema",
    "validate",
]


def __getattr__(name: str) -> object:
    # Pandera is imported only when its schema is asked for: the CLI does not need it.
    if name == "pandera_schema":
        from cld_polars.pandera_schema import pandera_schema

        return pandera_schema
    if name == "data_schema":
        from cld_polars.pandera_schema import data_schema

        return data_schema
    raise AttributeError(f"module 'cld_polars' has no attribute {name!r}")


class _Package(types.ModuleType):
    """Keeps ``cld_polars.pandera_schema`` and ``cld_polars.central`` the functions once their
    modules are imported.

    Importing a submodule binds it to the package attribute of the same name, which would
    hide the function of that name (then ``cld_polars.pandera_schema()`` fails with "module
    is not callable", depending on what was imported first). The module stays importable
    (``from cld_polars.pandera_schema import ...``).
    """

    def __setattr__(self, name: str, value: object) -> None:
        if name in ("pandera_schema", "central") and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
