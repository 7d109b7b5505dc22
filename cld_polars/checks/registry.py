"""The check registry: one declaration per check, from which engine and reports are built.

A check is a Polars expression that is true on the rows that fail it, plus what an analyst
needs to read the result: a stable code, a severity, the fields it names, a message that says
what failed, why and what to do, and the guidance section. Families of checks live in their
own modules and contribute declarations through ``checks(spec)``; nothing else needs editing
to add one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import polars as pl

if TYPE_CHECKING:
    from cld_polars.checks.context import Context

Severity = Literal["error", "warning"]
#: Row checks look at one row at a time; frame checks compare rows (duplicates, people).
Scope = Literal["row", "frame"]
#: The kind of problem, used by the field validity report (issue 3) to put counts in columns.
Category = Literal[
    "format", "release1", "near_miss", "invalid", "mandatory", "not_applicable", "logic", "file"
]

ExprFn = Callable[["Context"], pl.Expr]


@dataclass(frozen=True)
class Check:
    """A declared check. ``fails`` gives a boolean expression, true where the row fails."""

    code: str
    severity: Severity
    fields: tuple[str, ...]
    message: str
    guidance: str
    fails: ExprFn
    category: Category = "logic"
    scope: Scope = "row"
    #: The value shown in findings (default: the first field's raw text).
    value: ExprFn | None = None
    #: The corrected value where one can be derived (null elsewhere).
    suggestion: ExprFn | None = None
    #: Fields that must be present in the return for the check to run (default: ``fields``).
    requires: tuple[str, ...] | None = None

    @property
    def field(self) -> str:
        """The field a finding is listed under: the first one the check names."""
        return self.fields[0]

    @property
    def needs(self) -> tuple[str, ...]:
        return self.requires if self.requires is not None else self.fields


@dataclass(frozen=True)
class FileFinding:
    """A finding about the return as a whole (header, encoding, structure, coverage)."""

    code: str
    severity: Severity
    message: str
    line: int | None = None
    field: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The JSON contract's three keys; the line, where there is one, leads the message."""
        return {"code": self.code, "severity": self.severity, "message": self.message}
