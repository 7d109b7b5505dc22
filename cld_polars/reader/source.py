"""What every reader hands back, whatever the format: the opened return and its header.

A return is read into a :class:`ReturnSource`: a lazy frame of the 48 specification columns
as text (blank columns where the return lacks them), a ``__line`` column giving the line (or
sheet row) where each row starts, and the file-level findings met on the way. What cannot be
read at all is one :class:`ReturnReadError`.

The header is matched here for every format (a CSV's header row, a workbook's, a Parquet
file's column names, a notebook's frame): exact names, then recognised variants, so a
column is found the same way wherever the return was kept.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cld_polars.checks.filerules import RULES
from cld_polars.checks.registry import FileFinding
from cld_polars.names import LINE
from cld_polars.spec import Spec, load_spec

#: Bytes per line of the values' lengths, summed by the CSV scan (its quick structure path,
#: :func:`cld_polars.reader.records.quick_structure`); dropped by :meth:`ReturnSource.finish`.
BYTES = "__bytes"


class ReturnReadError(Exception):
    """The input cannot be read at all (missing, a directory, unreadable, not text)."""


@dataclass
class ReturnSource:
    """A return opened for validation."""

    path: Path
    frame: pl.LazyFrame
    header: list[str]
    #: Specification fields found in the header (exactly or as a recognised variant).
    present: frozenset[str]
    findings: list[FileFinding] = field(default_factory=list)
    encoding: str = "utf-8"
    rows: int = 0
    _temp: tempfile.TemporaryDirectory[str] | None = None
    #: Findings that need the rows in memory (the quick structure pass): see ``finish``.
    finisher: Callable[[pl.DataFrame], list[FileFinding]] | None = None
    #: Where the rows can be read a chunk at a time with memory bounded by the chunk (a CSV
    #: of one record per line): given the rows a chunk and the dtypes some fields are read
    #: as, the chunks of ``frame``'s rows in order. None: stream ``frame`` itself.
    chunker: Callable[[int, Mapping[str, pl.DataType]], Iterator[pl.DataFrame]] | None = None

    def finish(self, byte_counts: Sequence[pl.DataFrame]) -> None:
        """Once every row has been read: add to ``findings`` those that needed each row's
        value bytes (the quick structure pass), from the rows' ``LINE`` and ``BYTES`` columns
        (one frame a chunk). Raises :class:`ExactReadNeeded` where a line was not split as the
        exact read would split it. Nothing to do for a source read the exact way."""
        if self.finisher is not None and byte_counts:
            self.findings.extend(self.finisher(pl.concat(byte_counts)))
            self.finisher = None

    @property
    def missing(self) -> list[str]:
        spec = load_spec()
        return [f for f in spec.header if f not in self.present]

    def close(self) -> None:
        if self._temp is not None:
            self._temp.cleanup()
            self._temp = None

    def __enter__(self) -> ReturnSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def one_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's text, cut to ``limit`` characters.

    Library errors (Polars' especially) run to many lines with advice meant for programmers;
    an analyst gets one line and ``--debug`` shows the rest.
    """
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def header_key(name: str) -> str:
    """A header folded for matching variants: case, spaces, underscores and punctuation go."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def header_keys(spec: Spec) -> dict[str, str]:
    """Folded header variants to specification names (the name, without parentheses, etc.)."""
    keys: dict[str, str] = {}
    for f in spec.fields:
        variants = {f.name, re.sub(r"\s*\(.*?\)", "", f.name), f.name.split(":")[-1]}
        variants |= set(f.aliases)
        for v in variants:
            keys.setdefault(header_key(v), f.name)
    return keys


def header_hits(names: list[str], spec: Spec, keys: dict[str, str] | None = None) -> int:
    """How many names are specification fields (exactly or as a recognised variant)."""
    keys = keys if keys is not None else header_keys(spec)
    return sum(1 for n in names if n.strip("\ufeff") in spec.by_name or header_key(n) in keys)


def match_header(
    header: list[str], spec: Spec, line: int = 1
) -> tuple[dict[int, str], list[FileFinding]]:
    """Map column positions to specification fields, with the header's file-level findings."""
    keys = header_keys(spec)
    dropped = {header_key(d): d for d in spec.dropped_columns}
    mapping: dict[int, str] = {}
    findings: list[FileFinding] = []
    positions: dict[str, list[int]] = {}
    for i, raw in enumerate(header):
        name = raw.strip("\ufeff")
        if name in spec.by_name:
            target = name
        elif header_key(name) in dropped:
            findings.append(RULES["HEADER_DROPPED_COLUMN"].finding(line=line, found=name))
            continue
        elif header_key(name) in keys:
            target = keys[header_key(name)]
            findings.append(RULES["HEADER_VARIANT"].finding(line=line, found=name, field=target))
        else:
            shown = name if name.strip() else f"(unnamed, column {i + 1})"
            findings.append(RULES["HEADER_EXTRA_COLUMN"].finding(line=line, found=shown))
            continue
        positions.setdefault(target, []).append(i + 1)
        if len(positions[target]) == 1:
            mapping[i] = target
    for target, cols in positions.items():
        if len(cols) > 1:
            findings.append(
                RULES["HEADER_DUPLICATE_COLUMN"].finding(
                    line=line, field=target, found=target, positions=", ".join(map(str, cols))
                )
            )
    return mapping, findings


def empty_as_null(expr: pl.Expr) -> pl.Expr:
    """An empty string as null, as the CSV scan reads an empty field: one blank, one form."""
    return pl.when(expr != "").then(expr)


def empty_frame(spec: Spec) -> pl.LazyFrame:
    """A return with no rows: the line column and every specification column, as text."""
    return pl.LazyFrame(schema={LINE: pl.Int64, **{f: pl.String for f in spec.header}})


def frame_source(
    frame: pl.DataFrame | pl.LazyFrame, spec: Spec | None = None, name: str = "<frame>"
) -> ReturnSource:
    """Wrap a frame a notebook already holds as a return (columns matched like a header).

    Values are cast to text and empty strings read as null, as the CSV scan reads them.
    """
    spec = spec or load_spec()
    lazy = frame.lazy()
    header = lazy.collect_schema().names()
    mapping, findings = match_header(header, spec)
    by_field = {name_: header[i] for i, name_ in mapping.items()}
    columns = [
        (
            empty_as_null(pl.col(by_field[f]).cast(pl.String))
            if f in by_field
            else pl.lit(None, dtype=pl.String)
        ).alias(f)
        for f in spec.header
    ]
    out = lazy.with_row_index("__i").select(
        (pl.col("__i").cast(pl.Int64) + 2).alias(LINE), *columns
    )
    rows = int(lazy.select(pl.len()).collect().item())
    if rows == 0:
        findings.append(RULES["FILE_HEADER_ONLY"].finding())
    return ReturnSource(Path(name), out, header, frozenset(mapping.values()), findings, "n/a", rows)
