"""The check registry: one declaration per check, from which engine and reports are built.

A check is a Polars expression that is true on the rows that fail it, plus what an analyst
needs to read the result: a stable code, a severity, the fields it names, a message that says
what failed, why and what to do, and the guidance section. Families of checks live in their
own modules and contribute declarations through ``checks(spec)``; nothing else needs editing
to add one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import polars as pl

if TYPE_CHECKING:
    from cld_polars.checks.context import Context
    from cld_polars.spec import Spec

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


class Rules:
    """A family's hand-written checks, each declared on the named function that finds it:

    >>> RULES = Rules()
    >>> @RULES.rule(
    ...     code="EXAMPLE", severity="warning", fields=("Gender",), guidance="Person Details",
    ...     message="Gender is 'Unknown'.")
    ... def example(c):
    ...     return c.raw("Gender") == "Unknown"
    >>> [c.code for c in RULES]
    ['EXAMPLE']

    The function stays an ordinary function (it can be called and tested alone); the
    declaration is a :class:`Check` in this family's list, in declaration order.
    """

    def __init__(self) -> None:
        self._checks: list[Check] = []

    def __iter__(self) -> Iterator[Check]:
        return iter(self._checks)

    def add(self, check: Check) -> Check:
        """Declare a check built elsewhere (e.g. one per field of a list)."""
        self._checks.append(check)
        return check

    def rule(
        self,
        *,
        code: str,
        severity: Severity,
        fields: tuple[str, ...],
        message: str,
        guidance: str,
        category: Category = "logic",
        scope: Scope = "row",
        value: ExprFn | None = None,
        suggestion: ExprFn | None = None,
        requires: tuple[str, ...] | None = None,
    ) -> Callable[[ExprFn], ExprFn]:
        """Declare the decorated function as the ``fails`` expression of a check."""

        def declare(fails: ExprFn) -> ExprFn:
            self.add(
                Check(
                    code=code,
                    severity=severity,
                    fields=fields,
                    message=message,
                    guidance=guidance,
                    fails=fails,
                    category=category,
                    scope=scope,
                    value=value,
                    suggestion=suggestion,
                    requires=requires,
                )
            )
            return fails

        return declare


#: Helper columns a family adds: to a chunk (row-local, ``prepare``) or to the narrow
#: projection of the whole return (cross-row, ``prepare_frame``).
HelperFn = Callable[[pl.DataFrame, "Context"], list[pl.Expr]]


@dataclass(frozen=True)
class Family:
    """A family of checks and the hooks the engine calls for it (all optional but ``checks``).

    ``checks`` gives the family's declarations for a specification. ``prepare`` adds
    row-local helper columns to each chunk (after the fields' states); ``prepare_frame`` adds
    cross-row helper columns to the narrow projection that the frame checks run on, and
    ``frame_fields`` names the fields whose helper columns it reads there besides those its
    checks name.
    """

    name: str
    checks: Callable[[Spec], Iterable[Check]]
    prepare: HelperFn | None = None
    prepare_frame: HelperFn | None = None
    frame_fields: tuple[str, ...] = field(default=())
