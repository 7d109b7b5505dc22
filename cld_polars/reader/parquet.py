"""Reading a return kept as Parquet (``.parquet``, ``.pq``).

Data engineers keep returns as Parquet between the case-management extract and the CSV
upload. The file is read as the CSV written from it would be: columns matched like a header,
each value as text (dates as ``dd/mm/yyyy``), an empty string as blank.

Parquet compresses well, so a small file can hold an enormous table (7 MB of one repeated
row can be 40 million rows): nothing is read whole. The footer is checked first against the
bounds of :mod:`cld_polars.reader.bounds` (columns, rows, the declared size of each row group);
then pyarrow streams the rows in batches, each converted to text and appended to a
temporary Parquet file of text columns that the engine scans like a CSV. The conversion
stops if the text grows past the DLP's 4 GB. pyarrow reads the user's file because it
reports a damaged one as an error where Polars' reader can panic; Polars scans only the copy
written here.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from cld_polars.checks.filerules import RULES
from cld_polars.names import LINE
from cld_polars.reader.bounds import (
    DLP_MAX_BYTES,
    MAX_COLUMNS,
    MAX_PARQUET_FOOTER_BYTES,
    MAX_PARQUET_ROW_GROUP_BYTES,
    MAX_PARQUET_ROWS,
    MIN_CSV_ROW_BYTES,
    PARQUET_BATCH_ROWS,
    check_memory,
)
from cld_polars.reader.sniff import first_bytes
from cld_polars.reader.source import (
    ReturnReadError,
    ReturnSource,
    empty_as_null,
    match_header,
    one_line,
)
from cld_polars.spec import Spec

if TYPE_CHECKING:
    import pyarrow.parquet as pq


def _as_text(expr: pl.Expr, dtype: pl.DataType, name: str, path: Path) -> pl.Expr:
    """A typed Parquet column as the text a CSV export would hold (dates as dd/mm/yyyy)."""
    if dtype == pl.String:
        return expr
    if dtype == pl.Date:
        return expr.dt.strftime("%d/%m/%Y")
    if isinstance(dtype, pl.Datetime):
        return (
            pl.when(expr.dt.time() == dt.time(0))
            .then(expr.dt.strftime("%d/%m/%Y"))
            .otherwise(expr.dt.strftime("%d/%m/%Y %H:%M:%S"))
        )
    if dtype.is_nested() or dtype == pl.Object:
        raise ReturnReadError(
            f"{path}: column '{name}' holds {dtype} values, which a return cannot hold. "
            "Export the return with one text value per cell."
        )
    if dtype == pl.Binary:
        return expr.cast(pl.String, strict=False)
    return expr.cast(pl.String)


def read_parquet(path: Path, spec: Spec, tmp: tempfile.TemporaryDirectory[str]) -> ReturnSource:
    """A return kept as Parquet, streamed into a temporary file of text columns in ``tmp``."""
    if first_bytes(path, 4) != b"PAR1":
        raise ReturnReadError(
            f"{path}: is not a Parquet file despite its name. "
            "Give the Parquet file, or name a CSV .csv."
        )
    footer = _footer_size(path)
    if footer > MAX_PARQUET_FOOTER_BYTES:
        raise ReturnReadError(
            f"{path}: its footer (the list of its columns and row groups) is "
            f"{footer / 1024**2:,.0f} MB; a return's is a few kilobytes (at most "
            f"{MAX_PARQUET_FOOTER_BYTES // 1024**2} MB is read). Check that this is the return, "
            "or export it again."
        )
    # Imported here: only Parquet input needs pyarrow.
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path, pre_buffer=False)
        meta = file.metadata
        schema = file.schema_arrow
        # An empty table of the file's schema gives each column's Polars type, unread.
        empty = pl.from_arrow(schema.empty_table())
    except pa.ArrowMemoryError as exc:
        raise MemoryError(str(exc)) from exc
    except (pa.ArrowException, OSError, ValueError, pl.exceptions.PolarsError) as exc:
        raise ReturnReadError(
            f"{path}: is not a readable Parquet file ({one_line(exc)}). Export it again."
        ) from exc
    assert isinstance(empty, pl.DataFrame)
    _check_footer(path, meta)
    names = empty.columns
    mapping, findings = match_header(names, spec)
    findings.insert(0, RULES["FILE_NOT_CSV"].finding(kind="a Parquet file"))
    typed: dict[str, str] = {}
    by_field: dict[str, pl.Expr] = {}
    for i, wanted_field in mapping.items():
        dtype = empty.schema[names[i]]
        by_field[wanted_field] = empty_as_null(_as_text(pl.col(names[i]), dtype, names[i], path))
        if dtype != pl.String:
            typed[names[i]] = str(dtype)
    if typed:
        findings.append(
            RULES["PARQUET_TYPED_COLUMNS"].finding(
                columns=", ".join(f"'{n}'" for n in typed),
                types=", ".join(sorted(set(typed.values()))),
            )
        )
    columns = [by_field.get(f, pl.lit(None, dtype=pl.String)).alias(f) for f in spec.header]
    wanted = [names[i] for i in mapping]
    # Only the matched columns are read (by name: with a name given twice, all of them).
    read = wanted if len(set(names)) == len(names) else None
    target = Path(tmp.name) / "text.parquet"
    rows, text_bytes = 0, 0
    writer = None
    try:
        for batch in file.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=read):
            data = pl.from_arrow(batch)
            assert isinstance(data, pl.DataFrame)
            out = data.with_row_index("__i").select(
                (pl.col("__i").cast(pl.Int64) + rows + 2).alias(LINE), *columns
            )
            rows += out.height
            text_bytes += MIN_CSV_ROW_BYTES * out.height + int(
                out.select(pl.sum_horizontal(pl.col(spec.header).str.len_bytes().sum())).item() or 0
            )
            if text_bytes > DLP_MAX_BYTES:
                raise ReturnReadError(
                    f"{path}: as CSV its first {rows:,} rows alone are over "
                    f"{DLP_MAX_BYTES // 1024**3} GB, the most the Data Landing Portal accepts, "
                    "so it is not checked. Split the return, or check that it is the right file."
                )
            table = out.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(target, table.schema)
            writer.write_table(table)
    except ReturnReadError:
        raise
    except (pa.ArrowException, ValueError, pl.exceptions.PolarsError) as exc:
        if isinstance(exc, pa.ArrowMemoryError):
            raise MemoryError(str(exc)) from exc
        raise ReturnReadError(
            f"{path}: is not a readable Parquet file: it is damaged after row {rows + 1:,} "
            f"({one_line(exc)}). Export it again."
        ) from exc
    finally:
        if writer is not None:
            writer.close()
    frame = (
        pl.scan_parquet(target, glob=False)
        if writer is not None
        else pl.LazyFrame(schema={LINE: pl.Int64, **dict.fromkeys(spec.header, pl.String)})
    )
    if rows == 0:
        findings.append(RULES["FILE_HEADER_ONLY"].finding())
    return ReturnSource(path, frame, names, frozenset(mapping.values()), findings, "n/a", rows, tmp)


def _footer_size(path: Path) -> int:
    """The footer's length, from the file's last 8 bytes (length, then ``PAR1``)."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        if handle.tell() < 12:
            return 0
        handle.seek(-8, 2)
        tail = handle.read(8)
    return int.from_bytes(tail[:4], "little") if tail[4:] == b"PAR1" else 0


def _check_footer(path: Path, meta: pq.FileMetaData) -> None:
    """Refuse, from the footer alone, a file that declares more than a return can hold."""
    columns = meta.num_columns
    rows = meta.num_rows
    if columns > MAX_COLUMNS:
        raise ReturnReadError(
            f"{path}: has {columns:,} columns, more than any return has (a CLD return has 48; "
            f"Excel's limit is {MAX_COLUMNS:,}). Check that this is the return."
        )
    if rows > MAX_PARQUET_ROWS:
        raise ReturnReadError(
            f"{path}: declares {rows:,} rows: even with every value blank that is over "
            f"{DLP_MAX_BYTES // 1024**3} GB as CSV, the most the Data Landing Portal accepts, "
            "so it is not checked. Split the return, or check that it is the right file."
        )
    check_memory(path, rows, "rows")
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        if group.total_byte_size > MAX_PARQUET_ROW_GROUP_BYTES:
            raise ReturnReadError(
                f"{path}: row group {i + 1} declares {group.total_byte_size / 1024**3:,.1f} GB "
                f"once decompressed, more than a whole return of "
                f"{DLP_MAX_BYTES // 1024**3} GB holds in one part. Export it again with "
                "smaller row groups, or as CSV."
            )
