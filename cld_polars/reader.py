"""Reading a return: the one place that opens the file, checks its bytes and matches its header.

Whatever the input looks like, the result is a lazy frame with the 48 specification columns
as text (blank columns where the return lacks them), a ``__line`` column giving the line in
the file where each row starts, and the file-level findings met on the way. The input file is
only ever opened for reading; where it must be transcoded (Windows-1252, gzip) a temporary
UTF-8 copy is scanned instead and removed when the source is closed.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cld_polars.checks.context import LINE
from cld_polars.checks.filerules import RULES
from cld_polars.checks.registry import FileFinding
from cld_polars.spec import Spec, load_spec

CHUNK = 16 * 1024 * 1024
DLP_MAX_BYTES = 4 * 1024**3
BOM = b"\xef\xbb\xbf"
#: Bytes that Windows-1252 leaves undefined: valid in neither encoding the DLP reads.
CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")


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


def header_key(name: str) -> str:
    """A header folded for matching variants: case, spaces, underscores and punctuation go."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _header_keys(spec: Spec) -> dict[str, str]:
    """Folded header variants to specification names (the name, without parentheses, etc.)."""
    keys: dict[str, str] = {}
    for f in spec.fields:
        variants = {f.name, re.sub(r"\s*\(.*?\)", "", f.name), f.name.split(":")[-1]}
        variants |= set(f.aliases)
        for v in variants:
            keys.setdefault(header_key(v), f.name)
    return keys


def _check_path(path: Path) -> None:
    if not path.exists():
        raise ReturnReadError(f"{path}: no such file. Check the path and try again.")
    if path.is_dir():
        raise ReturnReadError(f"{path}: is a folder, not a return file. Give the CSV file's path.")
    if not os.access(path, os.R_OK):
        raise ReturnReadError(f"{path}: permission denied. Ask for read access to the file.")


def _bytes_pass(path: Path, tmpdir: Path, findings: list[FileFinding]) -> tuple[Path, str, int]:
    """Check the bytes once: BOM, encoding, size. Returns the UTF-8 file to scan.

    UTF-8 is validated incrementally; at the first invalid byte the file is read as
    Windows-1252 (the DLP's encoding) into a temporary UTF-8 copy.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(len(BOM))
    if head == BOM:
        findings.append(RULES["FILE_BOM"].finding(line=1))
    decoder = codecs.getincrementaldecoder("utf-8")()
    newlines = 0
    utf8 = True
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
                break
            newlines += chunk.count(b"\n")
        else:
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                utf8 = False
    if size > DLP_MAX_BYTES:
        findings.append(RULES["FILE_TOO_LARGE"].finding(size=f"{size / 1024**3:.1f} GB"))
    if utf8:
        return path, "utf-8", newlines
    target = tmpdir / "transcoded.csv"
    bad_lines: list[int] = []
    line = 1
    with path.open("rb") as src, target.open("w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(CHUNK):
            for match in CP1252_UNDEFINED.finditer(chunk):
                bad_lines.append(line + chunk.count(b"\n", 0, match.start()))
            dst.write(chunk.decode("cp1252", errors="replace"))
            line += chunk.count(b"\n")
    if bad_lines:
        findings.append(
            RULES["FILE_ENCODING"].finding(count=len(set(bad_lines)), first=bad_lines[0])
        )
    return target, "windows-1252", line - 1


def _read_header(path: Path) -> list[str] | None:
    with path.open("r", encoding="utf-8", newline="") as handle:
        first = handle.read(1024 * 1024)
    if not first.strip():
        return None
    first = first.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(first))
    try:
        return next(reader)
    except (StopIteration, csv.Error):
        return None


def match_header(header: list[str], spec: Spec) -> tuple[dict[int, str], list[FileFinding]]:
    """Map column positions to specification fields, with the header's file-level findings."""
    keys = _header_keys(spec)
    dropped = {header_key(d): d for d in spec.dropped_columns}
    mapping: dict[int, str] = {}
    findings: list[FileFinding] = []
    positions: dict[str, list[int]] = {}
    for i, raw in enumerate(header):
        name = raw.strip("\ufeff")
        if name in spec.by_name:
            target = name
        elif header_key(name) in dropped:
            findings.append(RULES["HEADER_DROPPED_COLUMN"].finding(line=1, found=name))
            continue
        elif header_key(name) in keys:
            target = keys[header_key(name)]
            findings.append(RULES["HEADER_VARIANT"].finding(line=1, found=name, field=target))
        else:
            findings.append(RULES["HEADER_EXTRA_COLUMN"].finding(line=1, found=name))
            continue
        positions.setdefault(target, []).append(i + 1)
        if len(positions[target]) == 1:
            mapping[i] = target
    for target, cols in positions.items():
        if len(cols) > 1:
            findings.append(
                RULES["HEADER_DUPLICATE_COLUMN"].finding(
                    line=1, field=target, found=target, positions=", ".join(map(str, cols))
                )
            )
    return mapping, findings


def _structure(
    path: Path, n_fields: int, findings: list[FileFinding]
) -> tuple[pl.DataFrame | None, int]:
    """Find where each record starts, blank lines and rows with the wrong number of fields.

    Works on physical lines with Polars. In the usual file no line has an odd number of quote
    characters, so every line is one record and this is a single cheap pass; returns None to
    say "line = record number + 1". Otherwise a line starts a record unless an odd number of
    quote characters came before it (a quoted value spanning lines), and the result gives, per
    record, its first line and whether it is blank.
    """
    quotes = pl.col("text").str.count_matches('"', literal=True)
    commas = pl.col("text").str.count_matches(",", literal=True)
    quoted_commas = (
        pl.col("text").str.replace_all(r'"[^"]*"', "").str.count_matches(",", literal=True)
    )
    per_line = (
        pl.scan_lines(path, name="text")
        .with_row_index("line", offset=1)
        .filter(pl.col("line") > 1)
        .select(
            "line",
            (quotes % 2 == 1).alias("odd"),
            (pl.col("text").str.strip_chars() == "").alias("blank"),
            (pl.when(quotes > 0).then(quoted_commas).otherwise(commas) + 1).alias("fields"),
        )
        .collect()
    )
    multiline = bool(per_line["odd"].any())
    if multiline:
        lines = (
            pl.scan_lines(path, name="text")
            .with_row_index("line", offset=1)
            .with_columns(
                inside=(quotes % 2).cum_sum().shift(1, fill_value=0) % 2 == 1,
            )
            .with_columns(record=(~pl.col("inside")).cum_sum())
            .filter(pl.col("record") > 1)  # the header is record 1
            .group_by("record", maintain_order=True)
            .agg(line=pl.col("line").first(), text=pl.col("text").str.join("\n"))
            .select(
                "line",
                (pl.col("text").str.strip_chars() == "").alias("blank"),
                (quoted_commas + 1).alias("fields"),
            )
            .collect()
        )
    else:
        lines = per_line.drop("odd")
    blank = lines.filter(pl.col("blank"))
    if blank.height:
        findings.append(RULES["BLANK_LINES"].finding(count=blank.height, first=blank["line"][0]))
    ragged = lines.filter(~pl.col("blank") & (pl.col("fields") != n_fields))
    if ragged.height:
        findings.append(
            RULES["ROW_FIELD_COUNT"].finding(
                line=ragged["line"][0],
                count=ragged.height,
                first=ragged["line"][0],
                fields=ragged["fields"][0],
                expected=n_fields,
            )
        )
    if not multiline and not blank.height:
        return None, per_line.height
    return lines.select("line", "blank"), int(lines.filter(~pl.col("blank")).height)


def read_return(path: str | os.PathLike[str], spec: Spec | None = None) -> ReturnSource:
    """Open a return for validation. Raises :class:`ReturnReadError` if it cannot be read."""
    spec = spec or load_spec()
    path = Path(path)
    _check_path(path)
    findings: list[FileFinding] = []
    tmp = tempfile.TemporaryDirectory(prefix="cld_polars_")
    tmpdir = Path(tmp.name)
    try:
        source = path
        if path.suffix.lower() == ".gz":
            source = tmpdir / "decompressed.csv"
            try:
                with gzip.open(path, "rb") as src, source.open("wb") as dst:
                    shutil.copyfileobj(src, dst, CHUNK)
            except (OSError, EOFError) as exc:
                raise ReturnReadError(f"{path}: not a readable gzip file ({exc}).") from exc
        scan_path, encoding, _ = _bytes_pass(source, tmpdir, findings)
        header = _read_header(scan_path)
        if header is None:
            findings.append(RULES["FILE_EMPTY"].finding())
            return ReturnSource(
                path, _empty_frame(spec), [], frozenset(), findings, encoding, 0, tmp
            )
        mapping, header_findings = match_header(header, spec)
        findings.extend(header_findings)
        structure, rows = _structure(scan_path, len(header), findings)
        positional = [f"__c{i}" for i in range(len(header))]
        scan = pl.scan_csv(
            scan_path,
            has_header=True,
            new_columns=positional,
            infer_schema=False,
            truncate_ragged_lines=True,
            quote_char='"',
            encoding="utf8-lossy",
            row_index_name="__record",
        )
        by_field = {name: f"__c{i}" for i, name in mapping.items()}
        columns = [
            (pl.col(by_field[f]) if f in by_field else pl.lit(None, dtype=pl.String)).alias(f)
            for f in spec.header
        ]
        if structure is None:
            # One record per line: the line number is the record number plus the header.
            frame = scan.select((pl.col("__record").cast(pl.Int64) + 2).alias(LINE), *columns)
        else:
            lines = structure.with_row_index("__record").lazy()
            frame = (
                scan.select("__record", *columns)
                .join(lines, on="__record", how="left", maintain_order="left")
                .filter(~pl.col("blank").fill_null(False))
                .select(pl.col("line").cast(pl.Int64).alias(LINE), *spec.header)
            )
        if rows == 0:
            findings.append(RULES["FILE_HEADER_ONLY"].finding())
        return ReturnSource(
            path, frame, header, frozenset(mapping.values()), findings, encoding, rows, tmp
        )
    except ReturnReadError:
        tmp.cleanup()
        raise
    except (pl.exceptions.PolarsError, OSError, UnicodeError) as exc:
        tmp.cleanup()
        raise ReturnReadError(f"{path}: could not be read as a CSV file ({exc}).") from exc


def _empty_frame(spec: Spec) -> pl.LazyFrame:
    return pl.LazyFrame(schema={LINE: pl.Int64, **{f: pl.String for f in spec.header}})


def frame_source(
    frame: pl.DataFrame | pl.LazyFrame, spec: Spec | None = None, name: str = "<frame>"
) -> ReturnSource:
    """Wrap a frame a notebook already holds as a return (columns matched like a header)."""
    spec = spec or load_spec()
    lazy = frame.lazy()
    header = lazy.collect_schema().names()
    mapping, findings = match_header(header, spec)
    by_field = {name_: header[i] for i, name_ in mapping.items()}
    columns = [
        (
            pl.col(by_field[f]).cast(pl.String) if f in by_field else pl.lit(None, dtype=pl.String)
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
