"""A corrected copy of a return (``cld-validate fix RETURN --out FIXED.csv`` runs it:
:mod:`cld_polars.cli.fix`).

Only the corrections nobody needs to think about are made: a Release 1 value or a near miss in
a defined-list field becomes the Release 2 value the validator names, a postcode is written the
specification's way (outward code, one space, inward code, capitals), and a header spelled as
a recognised variant gets the exact name the Data Landing Portal (DLP) matches. Everything else
is a judgement for the council and is left exactly as it was.

Why the copy is safe to upload in place of the original:

* The corrections are the validator's own: list values are judged by the same
  ``Context.classify`` the checks use, postcodes by the same ``suggest_postcode``, so a fixed
  copy cannot disagree with a re-validation.
* Every other byte stays: only the lines that hold a correction are rewritten, and on them
  only the corrected values. The line is cut into its raw values (quotes kept) and joined
  again, so untouched values keep their quoting, spacing and line ending. A line that is not
  one well-formed CSV record (a value spread over several lines, a stray quote), or whose raw
  value is not what the reader read, is left alone and listed, not guessed at.
* The copy is in the return's own encoding where the DLP reads it (UTF-8 or Windows-1252;
  UTF-16 becomes UTF-8), without a byte-order mark (the DLP reads one into the first header).
* The original is only read. The copy and the change log are each written whole or not at all.
"""

from __future__ import annotations

import codecs
import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cld_polars import kinds, parse
from cld_polars.checks.context import LINE
from cld_polars.reader import match_header, read_return
from cld_polars.reader.records import record_pattern, split_record
from cld_polars.reader.sniff import BOM, UTF16_BOMS
from cld_polars.safety import (
    clash,
    output_stem,
    write_atomic_with,
    write_report_csv,
)
from cld_polars.spec import Spec, load_spec

__all__ = ["FixError", "FixResult", "fix_return", "planned_changes"]

SEP = ","
LOG_SCHEMA = pl.Schema(
    {
        "line": pl.Int64,
        "field": pl.String,
        "old": pl.String,
        "new": pl.String,
        "change": pl.String,
    }
)
#: Token of a line with a separator put in front: each token is a separator and one raw value.
_TOKEN = r',(?:"(?:[^"]|"")*"|[^,"]*)'
#: How many first lines are searched for the header row (as the reader does).
HEADER_SEARCH_LINES = 20


class FixError(Exception):
    """The return cannot be fixed (not a CSV, an encoding it cannot keep, bad output path)."""


@dataclass
class FixResult:
    """What ``fix_return`` did: the change log and the corrections it could not make."""

    source: Path
    output: Path
    log_path: Path
    encoding: str
    #: One row per change: line, field, old, new, change (release1, near_miss, postcode,
    #: header, byte-order mark).
    changes: pl.DataFrame
    #: Corrections that were found but not made, with the reason (same columns, ``change``
    #: holding why): these lines need a hand edit.
    left_alone: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=LOG_SCHEMA))

    def counts(self) -> pl.DataFrame:
        """Changes by field and kind, most first: the terminal summary."""
        return (
            self.changes.group_by("field", "change")
            .len("changes")
            .sort(["changes", "field"], descending=[True, False])
        )


def _distinct_values(frame: pl.LazyFrame, names: list[str]) -> dict[str, pl.Series]:
    """Each list column's distinct values (no nulls), so that the validator's own judgement
    (``cld_polars.kinds``) runs on them without the rows being collected."""
    if not names:
        return {}
    uniques = frame.select([pl.col(n).unique().drop_nulls().implode() for n in names]).collect()
    return {n: uniques[n][0] for n in names}


def planned_changes(
    frame: pl.LazyFrame, present: set[str], spec: Spec | None = None
) -> pl.DataFrame:
    """The corrections for a return read as text (``__line`` and the fields): line, field,
    old, new, change. Same judgements as the validator's Release 1, near-miss and postcode
    checks, so ``fix`` and validation cannot disagree.

    >>> text = pl.LazyFrame({"__line": [2, 3], "Gender": ["female", "Female"],
    ...     "Client Type": ["Service User", "Carer"], "Postcode": ["ln1 1yl", None]})
    >>> for change in planned_changes(text, {"Gender", "Client Type", "Postcode"}).rows():
    ...     print(change)
    (2, 'Gender', 'female', 'Female', 'near_miss')
    (2, 'Client Type', 'Service User', 'Service user', 'release1')
    (3, 'Client Type', 'Carer', 'Unpaid carer', 'release1')
    (2, 'Postcode', 'ln1 1yl', 'LN1 1YL', 'postcode')
    """
    spec = spec or load_spec()
    names = [f.name for f in spec.fields if f.kind == "list" and f.name in present]
    distinct = _distinct_values(frame, names)
    changes = {kinds.RELEASE1: "release1", kinds.NEAR_MISS: "near_miss"}
    parts: list[pl.LazyFrame] = []
    for name in names:
        f = spec.field(name)
        table = (
            kinds.kind_of(f)
            .judge_values(distinct[name], f, spec)
            .filter(pl.col("state").is_in(list(changes)) & pl.col("suggestion").is_not_null())
            .select(
                pl.col("value").alias(name),
                pl.col("suggestion").alias("new"),
                pl.col("state").replace_strict(changes, return_dtype=pl.String).alias("change"),
            )
        )
        if table.height:
            parts.append(
                frame.select(LINE, name)
                .join(table.lazy(), on=name, how="inner", maintain_order="left")
                .select(
                    pl.col(LINE).cast(pl.Int64).alias("line"),
                    pl.lit(name).alias("field"),
                    pl.col(name).alias("old"),
                    "new",
                    "change",
                )
            )
    for f in spec.fields:
        if f.kind != "postcode" or f.name not in present:
            continue
        col = pl.col(f.name)
        wrong = ~parse.is_blank(col) & ~parse.is_formula_like(col) & ~parse.postcode_valid(col)
        parts.append(
            frame.select(LINE, f.name)
            .with_columns(parse.suggest_postcode(col).alias("new"))
            .filter(wrong & pl.col("new").is_not_null())
            .select(
                pl.col(LINE).cast(pl.Int64).alias("line"),
                pl.lit(f.name).alias("field"),
                col.alias("old"),
                "new",
                pl.lit("postcode").alias("change"),
            )
        )
    if not parts:
        return pl.DataFrame(schema=LOG_SCHEMA)
    return pl.concat(parts).collect().cast(LOG_SCHEMA)


def _read_text(path: Path) -> tuple[str, str, bool]:
    """The file's text, the encoding to write it in, and whether it had a
    UTF-8 byte-order mark. Raises FixError for bytes that are neither UTF-8 nor Windows-1252."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data.startswith(UTF16_BOMS):
        return data.decode("utf-16"), "utf-8", False
    bom = data.startswith(BOM)
    body = data[len(BOM) :] if bom else data
    try:
        return body.decode("utf-8"), "utf-8", bom
    except UnicodeDecodeError:
        pass
    try:
        return body.decode("cp1252"), "cp1252", bom
    except UnicodeDecodeError as exc:
        line = body[: exc.start].count(b"\n") + 1
        raise FixError(
            f"{path}: line {line} has bytes that are neither UTF-8 nor Windows-1252, so a copy "
            "cannot keep them unchanged. Correct the encoding first (cld-validate names the lines)."
        ) from exc


def _header_line(lines: list[str], header: list[str]) -> int:
    """The 1-based line of the header the reader matched (a title may sit above it)."""
    wanted = [h.strip("\ufeff") for h in header]
    for i, line in enumerate(lines[:HEADER_SEARCH_LINES]):
        values, _ = split_record(line.removesuffix("\r"), SEP)
        if [v.strip("\ufeff") for v in values] == wanted:
            return i + 1
    raise FixError("the header row was not found in the first lines")


def _quote(value: pl.Expr, was_quoted: pl.Expr) -> pl.Expr:
    """A value as CSV text: quoted if it needs it or if the value it replaces was quoted."""
    needs = value.str.contains(r'[,"\r\n]') | was_quoted
    quoted = pl.concat_str(pl.lit('"'), value.str.replace_all('"', '""', literal=True), pl.lit('"'))
    return pl.when(needs).then(quoted).otherwise(value)


def _unquote(token: pl.Expr) -> pl.Expr:
    return (
        pl.when(token.str.starts_with('"'))
        .then(token.str.slice(1).str.strip_suffix('"').str.replace_all('""', '"', literal=True))
        .otherwise(token)
    )


def _rewrite(
    lines: pl.DataFrame, changes: pl.DataFrame, positions: dict[str, int], width: int
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """Rewrite the changed lines: (new text of those lines, changes made, changes left alone).

    Each changed line is cut into ``width`` raw tokens; a token is replaced only where the
    line is a well-formed record of the header's width and the token reads as the old value.
    """
    wide = changes.with_columns(
        pl.col("field").replace_strict(positions, return_dtype=pl.Int64).alias("pos")
    )
    per_line = wide.pivot(on="pos", index="line", values="new", aggregate_function="first")
    per_line = per_line.rename({c: f"new:{c}" for c in per_line.columns if c != "line"})
    body = pl.col("text").str.strip_suffix("\r")
    cut = (
        lines.join(per_line, on="line", how="inner")
        .with_columns(
            body.alias("body"),
            pl.col("text").str.ends_with("\r").alias("cr"),
            (pl.lit(SEP) + body).str.extract_all(_TOKEN).alias("tokens"),
        )
        .with_columns(
            (
                pl.col("body").str.contains(record_pattern(SEP))
                & (pl.col("tokens").list.len() == width)
            ).alias("record_ok")
        )
    )
    checks = []
    for pos in sorted(wide["pos"].unique().to_list()):
        raw = pl.col("tokens").list.get(pos, null_on_oob=True).str.slice(1)
        checks.append(
            cut.select(
                "line",
                pl.lit(pos, dtype=pl.Int64).alias("pos"),
                pl.col("record_ok"),
                _unquote(raw).alias("raw_value"),
                raw.str.starts_with('"').fill_null(False).alias("was_quoted"),
            )
        )
    verdict = (
        wide.join(pl.concat(checks), on=["line", "pos"], how="left")
        .with_columns(
            pl.when(~pl.col("record_ok"))
            .then(pl.lit("left alone: not one well-formed CSV record of the header's width"))
            .when(pl.col("raw_value") != pl.col("old"))
            .then(pl.lit("left alone: the raw value differs from the value read"))
            .alias("why")
        )
        .with_columns(
            pl.when(pl.col("why").is_null())
            .then(_quote(pl.col("new"), pl.col("was_quoted")))
            .alias("token")
        )
    )
    made = verdict.filter(pl.col("why").is_null())
    left = verdict.filter(pl.col("why").is_not_null()).with_columns(pl.col("why").alias("change"))
    tokens = made.pivot(on="pos", index="line", values="token", aggregate_function="first")
    tokens = tokens.rename({c: f"tok:{c}" for c in tokens.columns if c != "line"})
    rebuilt = cut.join(tokens, on="line", how="inner")
    pieces = []
    for pos in range(width):
        original = pl.col("tokens").list.get(pos)
        name = f"tok:{pos}"
        if name in rebuilt.columns:
            pieces.append(
                pl.when(pl.col(name).is_not_null())
                .then(pl.lit(SEP) + pl.col(name))
                .otherwise(original)
            )
        else:
            pieces.append(original)
    fixed = rebuilt.select(
        "line",
        pl.concat_str(
            pl.concat_str(pieces).str.slice(1),
            pl.when(pl.col("cr")).then(pl.lit("\r")).otherwise(pl.lit("")),
        ).alias("text"),
    )
    columns = list(LOG_SCHEMA)
    return fixed, made.select(columns), left.select(columns)


def default_log_path(output: Path) -> Path:
    """The change log beside the copy, named from its whole stem: ``FIXED.csv`` ->
    ``FIXED_changes.csv``, ``cld.2025Q2.csv`` -> ``cld.2025Q2_changes.csv``."""
    return output.with_name(f"{output_stem(output)}_changes.csv")


def fix_return(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    log: str | os.PathLike[str] | None = None,
    spec: Spec | None = None,
) -> FixResult:
    """Write a corrected copy of the return at ``path`` to ``output``, and its change log.

    Raises :class:`cld_polars.reader.ReturnReadError` when the return cannot be read and
    :class:`FixError` when it cannot be fixed safely (then nothing is written).
    """
    spec = spec or load_spec()
    path, output = Path(path), Path(output)
    log_path = Path(log) if log is not None else default_log_path(output)
    problem = clash([path], [("--out", output), ("--log", log_path)], folder=None)
    if problem:  # by path, symlink or hard link
        raise FixError(f"{problem} (the original is never modified)")
    if output == log_path:
        raise FixError(f"{output}: the copy and the change log need different names")
    lowered = path.name.lower()
    if lowered.endswith((".xlsx", ".xlsm", ".xls", ".parquet")):
        raise FixError(
            f"{path}: fix works on CSV returns (the file you upload). Save it as "
            "'CSV UTF-8 (Comma delimited)' and run fix on that."
        )
    with read_return(path, spec, quick=False) as opened:
        if not opened.header:
            raise FixError(f"{path}: has no header row, so there is nothing to fix")
        if any(f.code == "FILE_DELIMITER" for f in opened.findings):
            raise FixError(
                f"{path}: values are not separated by commas; export it as comma-separated first"
            )
        mapping, _ = match_header(opened.header, spec)
        changes = planned_changes(opened.frame, set(opened.present), spec)
    text, out_encoding, bom = _read_text(path)
    lines = text.split("\n")  # split in C; "\r" stays on each line's end and is kept
    header_line = _header_line(lines, opened.header)
    width = len(opened.header)
    # The exact header names, where a recognised variant was used.
    renames = [
        (header_line, name, opened.header[i].strip("\ufeff"), name, "header")
        for i, name in mapping.items()
        if opened.header[i].strip("\ufeff") != name
    ]
    header_changes = pl.DataFrame(renames, schema=LOG_SCHEMA, orient="row")
    positions = {name: i for i, name in mapping.items()}
    all_changes = pl.concat([header_changes, changes])
    frame = pl.DataFrame({"text": lines}).with_row_index("line", offset=1)
    frame = frame.with_columns(pl.col("line").cast(pl.Int64))
    if all_changes.height:
        fixed, made, left = _rewrite(frame, all_changes, positions, width)
        frame = frame.update(fixed, on="line")
    else:
        made, left = all_changes, all_changes.clear()
    if bom:
        note = (1, "(byte-order mark)", "UTF-8 byte-order mark", "", "byte-order mark")
        made = pl.concat([pl.DataFrame([note], schema=LOG_SCHEMA, orient="row"), made])
    made = made.sort("line", maintain_order=True)
    data = "\n".join(frame["text"].to_list()).encode(out_encoding)

    # The log is a report: its formula-like cells are neutralised. The copy is the
    # council's data and keeps every value exactly (validation flags formula-like ones).
    write_report_csv(made, log_path)
    write_atomic_with(output, lambda tmp: tmp.write_bytes(data))
    return FixResult(path, output, log_path, codecs.lookup(out_encoding).name, made, left)
