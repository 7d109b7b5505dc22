"""The Release 2 specification, loaded from the TOML and CSV files in ``schemas/``.

The specification is data so that the next release is an edit to ``schemas/`` rather than to
code. This module only reads and indexes it; nothing here knows what a check is.
"""

from __future__ import annotations

import csv
import io
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

Mandatory = Literal["always", "conditional", "where_known", "voluntary"]
Kind = Literal[
    "date",
    "nhs_number",
    "la_code",
    "integer",
    "decimal",
    "postcode",
    "gp_practice_code",
    "list",
    "identifier",
    "text",
]


@dataclass(frozen=True)
class FieldIs:
    """A term of a condition: the field holds one of these (valid) values."""

    field: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Named:
    """A term of a condition: the named condition (``[conditions]`` in fields.toml) holds."""

    name: str


@dataclass(frozen=True)
class AgeBetween:
    """A term of a condition: the person's age in whole years at the event start."""

    low: int
    high: int


Term = FieldIs | Named | AgeBetween
#: A condition: alternatives (any may hold), each a tuple of terms (all must hold), in the
#: catalogue's order (messages describe them in that order).
Condition = tuple[tuple[Term, ...], ...]


def _condition(raw: Any, where: str) -> Condition:
    """A condition as the catalogue writes it: a list of tables of ``field = [values]``, with
    the special keys ``condition = "name"`` and ``age_at_event_start = [min, max]``."""
    if not isinstance(raw, list) or not raw:
        raise ValueError(f"fields.toml: {where} must be a non-empty list of alternatives")
    alternatives = []
    for alternative in raw:
        if not isinstance(alternative, dict) or not alternative:
            raise ValueError(f"fields.toml: {where} has an alternative that is not a table")
        terms: list[Term] = []
        for key, value in alternative.items():
            if key == "condition":
                terms.append(Named(str(value)))
            elif key == "age_at_event_start":
                low, high = value
                terms.append(AgeBetween(int(low), int(high)))
            else:
                terms.append(FieldIs(key, tuple(str(v) for v in value)))
        alternatives.append(tuple(terms))
    return tuple(alternatives)


MODULES = (
    "Submission",
    "Person",
    "Events (all)",
    "Requests",
    "Assessments",
    "Unpaid carers",
    "Services",
    "Reviews",
    "Costs",
)


@dataclass(frozen=True)
class FieldSpec:
    """One column of the specification."""

    name: str
    module: str
    kind: Kind
    mandatory: Mandatory
    guidance: str
    list_name: str | None = None
    mandatory_when: Condition | None = None
    applies_when: Condition | None = None
    blank_severity: Literal["error", "warning"] = "error"
    #: Header spellings seen in returns that the DLP would reject but that clearly mean this field.
    aliases: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        """An upper-case identifier used in check codes, e.g. ``EVENT_START_DATE``."""
        out = "".join(c if c.isalnum() else "_" for c in self.name.upper())
        return "_".join(p for p in out.split("_") if p)


@dataclass(frozen=True)
class Release1Mapping:
    """An older defined-list value and the Release 2 value that replaced it ("" if none)."""

    list_name: str
    release1: str
    release2: str
    evidence: Literal["published", "inferred"]


@dataclass(frozen=True)
class Council:
    code: str
    name: str
    status: Literal["current", "replaced"]
    replaced_by: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Spec:
    """The whole specification, indexed for the checks and reports."""

    release: str
    fields: tuple[FieldSpec, ...]
    lists: dict[str, tuple[str, ...]]
    conditions: dict[str, Condition]
    release1: tuple[Release1Mapping, ...]
    councils: dict[str, Council]
    typical_outcomes: dict[str, tuple[str, ...]]
    outcome_near_misses: dict[str, str]
    dropped_columns: tuple[str, ...]
    by_name: dict[str, FieldSpec] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})

    @property
    def header(self) -> tuple[str, ...]:
        """The exact header row, in the order the Data Landing Portal expects."""
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> FieldSpec:
        return self.by_name[name]

    def values(self, field_name: str) -> tuple[str, ...]:
        """The Release 2 defined list of a list field."""
        spec = self.by_name[field_name]
        if spec.list_name is None:
            raise KeyError(f"{field_name} has no defined list")
        return self.lists[spec.list_name]

    def release1_for(self, list_name: str) -> dict[str, Release1Mapping]:
        return {m.release1: m for m in self.release1 if m.list_name == list_name}


def _schema_dir() -> Path:
    """Where the specification files are: in the installed package, or the source tree."""
    try:
        packaged = resources.files("cld_polars.schemas")
        path = Path(str(packaged))
        if (path / "fields.toml").is_file():
            return path
    except ModuleNotFoundError:
        pass
    source = Path(__file__).resolve().parent.parent / "schemas"
    if (source / "fields.toml").is_file():
        return source
    raise FileNotFoundError(
        "cld_polars cannot find its specification files (schemas/fields.toml); "
        "reinstall the package with `pip install .`"
    )


def _toml(directory: Path, name: str) -> dict[str, Any]:
    with (directory / name).open("rb") as handle:
        return tomllib.load(handle)


@cache
def load_spec(directory: str | None = None) -> Spec:
    """Read the specification once per process (it is small and immutable)."""
    root = Path(directory) if directory else _schema_dir()
    fields_doc = _toml(root, "fields.toml")
    lists_doc = _toml(root, "lists.toml")
    release1_doc = _toml(root, "release1.toml")
    outcomes_doc = _toml(root, "typical_outcomes.toml")
    dropped_doc = _toml(root, "dropped_columns.toml")

    lists = {name: tuple(body["values"]) for name, body in lists_doc.items()}
    fields = []
    for item in fields_doc["fields"]:
        where = item.get("name", "a field")
        fields.append(
            FieldSpec(
                name=item["name"],
                module=item["module"],
                kind=item["kind"],
                mandatory=item["mandatory"],
                guidance=item["guidance"],
                list_name=item.get("list"),
                mandatory_when=(
                    _condition(item["mandatory_when"], f"{where}: mandatory_when")
                    if "mandatory_when" in item
                    else None
                ),
                applies_when=(
                    _condition(item["applies_when"], f"{where}: applies_when")
                    if "applies_when" in item
                    else None
                ),
                blank_severity=item.get("blank_severity", "error"),
                aliases=tuple(item.get("aliases", ())),
            )
        )
    for f in fields:
        if f.kind == "list" and f.list_name not in lists:
            raise ValueError(f"fields.toml: {f.name} names unknown list {f.list_name!r}")
        if f.module not in MODULES:
            raise ValueError(f"fields.toml: {f.name} has unknown module {f.module!r}")

    release1 = tuple(
        Release1Mapping(m["list"], m["release1"], m["release2"], m["evidence"])
        for m in release1_doc.get("mapping", [])
    )
    text = (root / "councils.csv").read_text(encoding="utf-8")
    councils = {
        row["code"]: Council(
            code=row["code"],
            name=row["name"],
            status="replaced" if row["status"] == "replaced" else "current",
            replaced_by=tuple(c for c in row["replaced_by"].split(";") if c),
        )
        for row in csv.DictReader(io.StringIO(text))
    }
    return Spec(
        release="2",
        fields=tuple(fields),
        lists=lists,
        conditions={
            name: _condition(raw, f"[conditions] {name}")
            for name, raw in fields_doc.get("conditions", {}).items()
        },
        release1=release1,
        councils=councils,
        typical_outcomes={k: tuple(v) for k, v in outcomes_doc["typical"].items()},
        outcome_near_misses=dict(outcomes_doc.get("near_miss", {})),
        dropped_columns=tuple(dropped_doc["dropped"]),
    )
