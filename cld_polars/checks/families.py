"""All checks, gathered from their family modules (the engine's and Pandera's list).

Add a family by writing a module that declares its ``FAMILY`` (``registry.Family``: its
checks and the hooks the engine calls) and naming it in ``FAMILIES``.
"""

from __future__ import annotations

from functools import cache

from cld_polars.checks import crossrow, fields, logic, submission
from cld_polars.checks.filerules import RULES as FILE_RULES
from cld_polars.checks.registry import Check, Family, FileFinding, Severity
from cld_polars.spec import Spec, load_spec

FAMILIES: tuple[Family, ...] = (fields.FAMILY, submission.FAMILY, logic.FAMILY, crossrow.FAMILY)

__all__ = ["FAMILIES", "FILE_RULES", "Check", "Family", "FileFinding", "Severity", "all_checks"]


@cache
def _checks_for(spec: Spec) -> tuple[Check, ...]:
    found: list[Check] = []
    for family in FAMILIES:
        found.extend(family.checks(spec))
    codes = [c.code for c in found]
    duplicates = {c for c in codes if codes.count(c) > 1}
    if duplicates or set(codes) & set(FILE_RULES):
        raise ValueError(f"check codes declared twice: {sorted(duplicates)}")
    return tuple(found)


def all_checks(spec: Spec | None = None) -> tuple[Check, ...]:
    """Every row and frame check for a specification, in declaration order."""
    return _checks_for(spec or load_spec())
