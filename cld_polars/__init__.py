"""cld_polars: validate and summarise Adult Social Care Client Level Data (CLD) returns."""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING

# First, before anything imports Polars: how Polars gives memory back (see the module).
from cld_polars import _allocator  # noqa: F401
from cld_polars._version import __version__
from cld_polars.central import CentralView, central
from cld_polars.compare import Comparison, compare
from cld_polars.engine import validate
from cld_polars.fix import FixResult, fix_return
from cld_polars.reader import ReturnReadError
from cld_polars.report import Report
from cld_polars.spec import load_spec

if TYPE_CHECKING:  # imported at run time only when asked for (``__getattr__``)
    from cld_polars.pandera_schema import data_schema, pandera_schema

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
