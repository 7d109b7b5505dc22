"""cld_polars: validate and summarise Adult Social Care Client Level Data (CLD) returns."""

from __future__ import annotations

__version__ = "0.1.0"

from cld_polars.compare import Comparison, compare
from cld_polars.engine import validate
from cld_polars.fix import FixResult, fix_return
from cld_polars.reader import ReturnReadError
from cld_polars.report import Report
from cld_polars.spec import load_spec

__all__ = [
    "Comparison",
    "FixResult",
    "Report",
    "ReturnReadError",
    "__version__",
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
