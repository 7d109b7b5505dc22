"""Hostile inputs: each small on disk, each built to cost a naive reader time or memory.

One builder per case of issue 13, at two sizes: ``full`` is the issue's own (a 20 GB gzip of
zeros, a 2 GiB cell, 60 million shared strings, 40 million Parquet rows), built streaming so
that building costs little; the test size has the same shape but stays quick, and still
goes past the bound that stops it (so the test fails if the bound goes). The tests
(``test_hostile_input.py``) run the command line on the test size under an address-space
limit and a timeout; ``benchmarks/bench_hostile.py`` runs the full size and prints time
and peak memory.

Run the command line with :func:`run_limited`: a child process with ``RLIMIT_AS`` and a
timeout, two Polars threads and two malloc arenas (so its address space does not grow with
the machine's cores), its peak resident memory taken from ``wait4``.
"""

from __future__ import annotations

import bz2
import csv
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import rawxlsx
from factory import HEADER, Quoting, clean_csv_bytes, clean_rows

MiB = 1024**2
GiB = 1024**3

#: The command line, as the installed console script runs it.
CLI = [sys.executable, "-c", "from cld_polars.cli import entry; entry()"]


@dataclass
class Outcome:
    status: int | None  # None: killed by the timeout
    seconds: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_limited(
    args: list[str],
    *,
    address_space: int = 4 * GiB,
    timeout: float = 120,
    file_size: int | None = None,
    cwd: Path | None = None,
) -> Outcome:
    """Run ``cld-validate args`` in a child with an address-space limit (0: none; and
    optionally a file-size limit, ``ulimit -f``) and a timeout."""

    def limits() -> None:
        if address_space:
            resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        if file_size is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))

    env = dict(os.environ, POLARS_MAX_THREADS="2", MALLOC_ARENA_MAX="2")
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            [*CLI, *args], stdout=out, stderr=err, preexec_fn=limits, env=env, cwd=cwd
        )
        # Its peak resident memory is its own high-water mark (VmHWM, which starts again at
        # exec), read until it ends: ``ru_maxrss`` would count the pages it shared with this
        # process between fork and exec.
        peak_kb = 0
        while True:
            peak_kb = max(peak_kb, _high_water_kb(child.pid))
            pid, wait_status, usage = os.wait4(child.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() - started > timeout:
                child.kill()
                pid, wait_status, usage = os.wait4(child.pid, 0)
                wait_status = -1
                break
            time.sleep(0.01)
        seconds = time.perf_counter() - started
        child.returncode = 0  # reaped here: keep Popen from waiting on it again
        status = None if wait_status == -1 else os.waitstatus_to_exitcode(wait_status)
        out.seek(0)
        err.seek(0)
        return Outcome(
            status,
            seconds,
            (peak_kb or usage.ru_maxrss) / 1024,
            out.read().decode(errors="replace"),
            err.read().decode(errors="replace"),
        )


def _high_water_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


# --- builders ------------------------------------------------------------------------------


def _csv_line(values: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue().encode()


HEADER_LINE = _csv_line(list(HEADER))


def _gzip_member(size: int) -> bytes:
    """One gzip member of ``size`` zero bytes (a member of 1 GiB is about 1 MB)."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    block = bytes(min(size, 16 * MiB))
    out, left = [], size
    while left:
        piece = block[: min(left, len(block))]
        out.append(packer.compress(piece))
        left -= len(piece)
    out.append(packer.flush())
    return b"".join(out)


def _zeros_gzip(path: Path, total: int, prefix: bytes = b"") -> Path:
    """Concatenated gzip members decompress to one stream: ``prefix`` then ``total`` zeros."""
    size = min(total, GiB)
    member = _gzip_member(size)
    with path.open("wb") as handle:
        if prefix:
            handle.write(_gzip_bytes(prefix))
        for _ in range(total // size):
            handle.write(member)
    return path


def _gzip_bytes(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    return packer.compress(data) + packer.flush()


def gzip_zeros(folder: Path, full: bool) -> Path:
    return _zeros_gzip(folder / "return.csv.gz", 20 * GiB if full else 128 * MiB)


def gzip_text_then_zeros(folder: Path, full: bool) -> Path:
    """A return's first rows (more than the first bytes looked at), then zeros."""
    rows = clean_csv_bytes().split(b"\n", 1)[1]
    prefix = clean_csv_bytes() + rows * 10
    return _zeros_gzip(folder / "return.csv.gz", 20 * GiB if full else 128 * MiB, prefix)


def gzip_temp_full(folder: Path, full: bool) -> Path:
    """A good return of a few megabytes, gzipped: run with a file-size limit below it."""
    rows = clean_csv_bytes().split(b"\n", 1)[1]
    data = clean_csv_bytes() + rows * 400
    (folder / "return.csv.gz").write_bytes(_gzip_bytes(data))
    return folder / "return.csv.gz"


def fifo(folder: Path, full: bool) -> Path:
    path = folder / "return.csv"
    os.mkfifo(path)
    return path


def dev_zero(folder: Path, full: bool) -> Path:
    path = folder / "return.csv"
    path.symlink_to("/dev/zero")
    return path


def _lines(path: Path, parts: Iterator[bytes]) -> Path:
    with path.open("wb") as handle:
        for part in parts:
            handle.write(part)
    return path


def _repeat(block: bytes, total: int) -> Iterator[bytes]:
    left = total
    while left > 0:
        yield block[: min(left, len(block))]
        left -= len(block)


def long_line(folder: Path, full: bool) -> Path:
    """One line of 500 MB (test: 40 MB) after the header: no record is that long."""
    size = 500 * MiB if full else 40 * MiB
    return _lines(
        folder / "return.csv",
        iter([HEADER_LINE, *_repeat(b"x" * MiB, size), b"\n"]),
    )


def cr_only_long_line(folder: Path, full: bool) -> Path:
    """Old Macintosh line endings (carriage returns only) and one huge line."""
    size = 500 * MiB if full else 40 * MiB
    header = HEADER_LINE.replace(b"\n", b"\r")
    return _lines(folder / "return.csv", iter([header, *_repeat(b"x" * MiB, size), b"\r"]))


def header_empty_names(folder: Path, full: bool) -> Path:
    """A header of a million empty names (test: a hundred thousand)."""
    count = 1_000_000 if full else 100_000
    return _lines(folder / "return.csv", iter([b"," * count, b"\n", b"a\n"]))


def header_named_columns(folder: Path, full: bool) -> Path:
    """A header of a million named columns (test: two hundred thousand)."""
    count = 1_000_000 if full else 200_000
    names = ",".join(f"column{i}" for i in range(count)).encode()
    return _lines(folder / "return.csv", iter([names, b"\n", b"a\n"]))


def quoted_record_over_lines(folder: Path, full: bool) -> Path:
    """A quoted value running over many short lines: one record of 500 MB (test: 40 MB)."""
    size = 500 * MiB if full else 40 * MiB
    first = clean_rows()[0]
    start = _csv_line([first[h] for h in HEADER]).rstrip(b"\n") + b',"'
    return _lines(
        folder / "return.csv",
        iter([HEADER_LINE, start, *_repeat((b"y" * 99 + b"\n") * 10_000, size), b'"\n']),
    )


def long_value_first(folder: Path, full: bool) -> Path:
    """A quoted value of 140,000 characters (over Python's csv limit) on the first row."""
    rows = clean_rows()
    rows[0] = dict(rows[0], **{"First Name": "x" * 140_000})
    return _write_rows(folder / "return.csv", rows, quoting=csv.QUOTE_ALL)


def long_value_later(folder: Path, full: bool) -> Path:
    rows = clean_rows() * 20
    rows.append(dict(rows[0], **{"First Name": "x" * 140_000}))
    return _write_rows(folder / "return.csv", rows, quoting=csv.QUOTE_ALL)


def _write_rows(path: Path, rows: list[dict[str, str]], quoting: Quoting) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, quoting=quoting, lineterminator="\n")
        writer.writerow(HEADER)
        for r in rows:
            writer.writerow([r.get(h, "") for h in HEADER])
    return path


def gzip_many_lines(folder: Path, full: bool) -> Path:
    """A .csv.gz of a header and 2 billion one-letter lines (test: 20 million): a few
    megabytes that would be as many rows to hold."""
    count = 2_000_000_000 if full else 20_000_000
    block = b"a\n" * (8 * MiB)
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)
    member = packer.compress(block) + packer.flush()
    path = folder / "return.csv.gz"
    with path.open("wb") as handle:
        handle.write(_gzip_bytes(HEADER_LINE))
        for _ in range(max(1, count // (8 * MiB))):
            handle.write(member)
    return path


def bzip2_named_csv(folder: Path, full: bool) -> Path:
    path = folder / "return.csv"
    path.write_bytes(bz2.compress(clean_csv_bytes()))
    return path


# --- workbooks -------------------------------------------------------------------------------


def _data_row(number: int, **changes: str) -> str:
    r = dict(clean_rows()[1], **changes)
    return rawxlsx.row_xml(number, [r[h] for h in HEADER])


def xlsx_big_cell(folder: Path, full: bool) -> Path:
    """One cell of 2 GiB (test: 64 MiB) in a workbook of a few megabytes."""
    size = 2 * GiB if full else 64 * MiB

    def rows() -> Iterator[str]:
        yield rawxlsx.header_row()
        yield '<row r="2"><c r="A2" t="inlineStr"><is><t>'
        block = "x" * (16 * MiB)
        left = size
        while left > 0:
            yield block[: min(left, len(block))]
            left -= len(block)
        yield "</t></is></c></row>"

    return rawxlsx.write(folder / "return.xlsx", rawxlsx.sheet(rows()))


def xlsx_whitespace(folder: Path, full: bool) -> Path:
    """Gigabytes of white space between two rows (3 GiB: a sheet under the 4 GB bound on
    its size; test: 64 MiB), a few megabytes zipped."""
    size = 3 * GiB if full else 64 * MiB

    def rows() -> Iterator[str]:
        yield rawxlsx.header_row()
        block = " " * (16 * MiB)
        left = size
        while left > 0:
            yield block[: min(left, len(block))]
            left -= len(block)
        yield _data_row(2)

    return rawxlsx.write(folder / "return.xlsx", rawxlsx.sheet(rows()))


def xlsx_shared_strings(folder: Path, full: bool) -> Path:
    """60 million shared strings (test: 2 million), the sheet referring to the last."""
    count = 60_000_000 if full else 2_000_000
    row = f'<row r="2"><c r="A2" t="s"><v>{count - 1}</v></c></row>'
    return rawxlsx.write(
        folder / "return.xlsx",
        rawxlsx.sheet([rawxlsx.header_row(), row]),
        shared=rawxlsx.shared_strings((str(i) for i in range(count)), count),
    )


def xlsx_shared_strings_unused(folder: Path, full: bool) -> Path:
    """As many shared strings, the sheet referring to the first only: read no further."""
    count = 60_000_000 if full else 2_000_000
    row = '<row r="2"><c r="A2" t="s"><v>0</v></c></row>'
    return rawxlsx.write(
        folder / "return.xlsx",
        rawxlsx.sheet([rawxlsx.header_row(), row]),
        shared=rawxlsx.shared_strings((str(i) for i in range(count)), count),
    )


def xlsx_too_many_rows(folder: Path, full: bool) -> Path:
    """1.1 million rows (Excel stops at 1,048,576); test: a row numbered past the limit."""
    if full:
        rows: Iterator[str] = (
            _data_row(i) if i > 1 else rawxlsx.header_row() for i in range(1, 1_100_001)
        )
    else:
        rows = iter([rawxlsx.header_row(), _data_row(2), _data_row(1_048_577)])
    return rawxlsx.write(folder / "return.xlsx", rawxlsx.sheet(rows, dimension="A1:AV3"))


def xlsx_rows_without_numbers(folder: Path, full: bool) -> Path:
    """A sheet bomb of empty rows without numbers: ``<row/>`` past Excel's last row."""
    count = 50_000_000 if full else 1_100_000

    def rows() -> Iterator[str]:
        yield rawxlsx.header_row()
        for _ in range(count // 10_000):
            yield "<row/>" * 10_000

    return rawxlsx.write(folder / "return.xlsx", rawxlsx.sheet(rows()))


def xlsx_wide_rows(folder: Path, full: bool) -> Path:
    """Rows padded with empty cells far past the return's columns: 10,000 rows of 80,000
    cells, 3.2 GB of XML (test: 1,000 rows of 10,000)."""
    rows, pad = (10_000, 80_000) if full else (1_000, 10_000)

    def xml() -> Iterator[str]:
        yield rawxlsx.header_row()
        for i in range(2, rows + 2):
            yield _data_row(i).replace("</row>", "<c/>" * pad + "</row>")

    return rawxlsx.write(folder / "return.xlsx", rawxlsx.sheet(xml()))


def xlsx_stale_dimension(folder: Path, full: bool) -> Path:
    """999 data rows under a ``<dimension>`` that says three rows (other tools write it)."""
    rows = [rawxlsx.header_row(), *(_data_row(i) for i in range(2, 1001))]
    return rawxlsx.write(folder / "return.xlsx", rawxlsx.sheet(rows, dimension="A1:AV3"))


def xlsx_zip_entries(folder: Path, full: bool) -> Path:
    """A workbook whose archive lists 100,000 parts (test: 20,000)."""
    path = xlsx_stale_dimension(folder, False)
    with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as archive:
        for i in range(100_000 if full else 20_000):
            archive.writestr(f"xl/media/pad{i}.bin", b"")
    return path


# --- Parquet -------------------------------------------------------------------------------


def _constant_parquet(path: Path, rows: int, columns: list[str], group: int) -> Path:
    """``rows`` rows of one repeated value per column, written a row group at a time."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    def batch(n: int) -> pa.Table:
        codes = pa.array(np.zeros(n, dtype=np.int8))
        value = pa.array(["503"])
        return pa.table({c: pa.DictionaryArray.from_arrays(codes, value) for c in columns})

    with pq.ParquetWriter(path, batch(1).schema) as writer:
        left = rows
        while left:
            n = min(left, group)
            writer.write_table(batch(n), row_group_size=n)
            left -= n
    return path


def parquet_constant_rows(folder: Path, full: bool) -> Path:
    """40 million copies of one row (test: 20 million, one column), a few megabytes."""
    columns = list(HEADER) if full else ["LA Code"]
    rows = 40_000_000 if full else 20_000_000
    return _constant_parquet(folder / "return.parquet", rows, columns, 1_000_000 if full else 10**7)


def parquet_declared_rows(folder: Path, full: bool) -> Path:
    """More rows (100 million) than fit in the DLP's 4 GB even if every value is blank."""
    return _constant_parquet(folder / "return.parquet", 100_000_000, ["LA Code"], 10**7)


def parquet_wide(folder: Path, full: bool) -> Path:
    """20,000 columns: more than Excel's 16,384."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    count = 1_000_000 if full else 20_000
    table = pa.table({f"c{i}": pa.array([None], pa.int8()) for i in range(count)})
    pq.write_table(table, folder / "return.parquet")
    return folder / "return.parquet"


# --- the audit's cases: what is not a regular file, empty, encoded or packed otherwise ---------


def directory(folder: Path, full: bool) -> Path:
    path = folder / "return.csv"
    path.mkdir()
    return path


def socket_file(folder: Path, full: bool) -> Path:
    import socket

    path = folder / "return.csv"
    with socket.socket(socket.AF_UNIX) as bound:
        bound.bind(str(path))  # the socket file stays after the socket is closed
    return path


def broken_link(folder: Path, full: bool) -> Path:
    path = folder / "return.csv"
    path.symlink_to(folder / "gone.csv")
    return path


def link_loop(folder: Path, full: bool) -> Path:
    path, other = folder / "return.csv", folder / "other.csv"
    path.symlink_to(other)
    other.symlink_to(path)
    return path


def only_line_breaks(folder: Path, full: bool) -> Path:
    """200 MB of line feeds (test: 20 MB): tens of millions of empty lines."""
    size = 200 * MiB if full else 20 * MiB
    return _lines(folder / "return.csv", _repeat(b"\n" * MiB, size))


def header_then_commas(folder: Path, full: bool) -> Path:
    """A header, then 50 million rows of a single comma (test: 12 million)."""
    rows = 50_000_000 if full else 12_000_000
    return _lines(folder / "return.csv", iter([HEADER_LINE, *_repeat(b",\n" * MiB, 2 * rows)]))


def empty_workbook_file(folder: Path, full: bool) -> Path:
    path = folder / "return.xlsx"
    path.write_bytes(b"")
    return path


def utf32_with_bom(folder: Path, full: bool) -> Path:
    """UTF-32 (little-endian, with its byte-order mark, which starts like UTF-16's)."""
    path = folder / "return.csv"
    path.write_bytes(clean_csv_bytes().decode().encode("utf-32"))
    return path


def utf32_without_bom(folder: Path, full: bool) -> Path:
    path = folder / "return.csv"
    path.write_bytes(clean_csv_bytes().decode().encode("utf-32-be"))
    return path


def xz_named_csv(folder: Path, full: bool) -> Path:
    import lzma

    path = folder / "return.csv"
    path.write_bytes(lzma.compress(clean_csv_bytes()))
    return path


def gzip_of_gzip(folder: Path, full: bool) -> Path:
    path = folder / "return.csv.gz"
    path.write_bytes(_gzip_bytes(_gzip_bytes(clean_csv_bytes())))
    return path


def gzip_cut_short(folder: Path, full: bool) -> Path:
    data = _gzip_bytes(clean_csv_bytes() * 3)
    path = folder / "return.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    return path


def gzip_members(folder: Path, full: bool) -> Path:
    """A return gzipped as two members (``cat a.gz b.gz``): one stream, as gzip reads it."""
    header, rows = clean_csv_bytes().split(b"\n", 1)
    path = folder / "return.csv.gz"
    path.write_bytes(_gzip_bytes(header + b"\n") + _gzip_bytes(rows))
    return path


def non_utf8_name(folder: Path, full: bool) -> Path:
    """A return whose file name holds bytes that are not UTF-8 (Latin-1 from an old share)."""
    path = Path(os.fsdecode(os.fsencode(folder) + b"/r\xe9turn\xff.csv"))
    path.write_bytes(clean_csv_bytes())
    return path


def xlsx_styles_bomb(folder: Path, full: bool) -> Path:
    """A workbook whose styles part (not the sheet) decompresses to 1 GiB (test: 96 MiB)."""
    size = GiB if full else 96 * MiB
    styles = iter([rawxlsx.STYLES.encode(), *_repeat(b" " * (16 * MiB), size)])
    rows = [rawxlsx.header_row(), *(_data_row(i) for i in range(2, 5))]
    return rawxlsx.write(folder / "return.xlsx", rawxlsx.sheet(rows), styles=styles)


def xlsx_many_sheets(folder: Path, full: bool) -> Path:
    """A workbook of 3,000 one-cell sheets before the return's (test: 300)."""
    sheets = [rawxlsx.sheet([rawxlsx.row_xml(1, ["x"])]) for _ in range(3000 if full else 300)]
    rows = [rawxlsx.header_row(), *(_data_row(i) for i in range(2, 5))]
    return rawxlsx.write(folder / "return.xlsx", rawxlsx.sheet(rows), extra_sheets=sheets)


def xlsx_shared_strings_count(folder: Path, full: bool) -> Path:
    """Shared strings whose count attributes claim 4 billion strings; a few are there."""
    values = [clean_rows()[1][h] for h in HEADER]
    cells = "".join(f'<c r="{rawxlsx.column(i)}2" t="s"><v>{i}</v></c>' for i in range(len(values)))
    return rawxlsx.write(
        folder / "return.xlsx",
        rawxlsx.sheet([rawxlsx.header_row(), f'<row r="2">{cells}</row>']),
        shared=rawxlsx.shared_strings(values, 4_000_000_000),
    )


def parquet_nested(folder: Path, full: bool) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {h: pa.array(["x"] * 3) for h in HEADER}
    columns["LA Code"] = pa.array([[503], [503], [503]], pa.list_(pa.int64()))
    pq.write_table(pa.table(columns), folder / "return.parquet")
    return folder / "return.parquet"


# --- the table of cases ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    #: The case as the issue gives it (the full size).
    what: str
    build: Callable[[Path, bool], Path]
    #: The exit status expected (2: the file cannot be read) and words the output must hold.
    status: int
    says: str
    file_size: int | None = None
    #: Where the issue's full size meets another bound than the test size.
    full_status: int | None = None
    full_says: str | None = None

    def expected(self, full: bool) -> tuple[int, str]:
        if full and self.full_status is not None:
            return self.full_status, self.full_says or self.says
        return self.status, self.says


CASES: tuple[Case, ...] = (
    Case("fifo", "a named pipe (FIFO) as the return", fifo, 2, "named pipe"),
    Case("dev_zero", "a link to /dev/zero as the return", dev_zero, 2, "character device"),
    Case("gzip_zeros", "a .csv.gz of 20 GB of zeros", gzip_zeros, 2, "nothing but zero bytes"),
    Case(
        "gzip_text_then_zeros",
        "a .csv.gz of a header and 20 GB of zeros",
        gzip_text_then_zeros,
        2,
        "without a line break",
    ),
    Case(
        "gzip_temp_full",
        "a .csv.gz when the temporary folder cannot take it (ulimit -f 1 MB)",
        gzip_temp_full,
        2,
        "ran out of space",
        file_size=MiB,
    ),
    Case(
        "gzip_many_lines",
        "a .csv.gz of 2 billion one-letter lines",
        gzip_many_lines,
        2,
        "GB of memory",
    ),
    Case("long_line", "a 500 MB line", long_line, 2, "without a line break"),
    Case(
        "cr_only_long_line",
        "a 500 MB line, carriage returns only",
        cr_only_long_line,
        2,
        "without a line break",
    ),
    Case(
        "quoted_record_over_lines",
        "a quoted value of 500 MB over many lines",
        quoted_record_over_lines,
        2,
        "one quoted value",
    ),
    Case(
        "header_empty_names",
        "a header of 1M empty names",
        header_empty_names,
        2,
        "more than any return has",
    ),
    Case(
        "header_named_columns",
        "a header of 1M named columns",
        header_named_columns,
        2,
        "cannot be the header row",
    ),
    Case(
        "long_value_first",
        "a quoted value of 140,000 characters on the first row",
        long_value_first,
        0,
        "FIELD_TOO_LONG",
    ),
    Case(
        "long_value_later",
        "a quoted value of 140,000 characters further down",
        long_value_later,
        0,
        "FIELD_TOO_LONG",
    ),
    Case("bzip2_named_csv", "a bzip2 file named .csv", bzip2_named_csv, 2, "bzip2"),
    Case("xlsx_big_cell", "an .xlsx with one 2 GiB cell", xlsx_big_cell, 2, "32,767"),
    Case(
        "xlsx_whitespace",
        "an .xlsx of 3 MB holding 3 GiB of white space in its sheet",
        xlsx_whitespace,
        2,
        "padded",
    ),
    Case(
        "xlsx_shared_strings",
        "an .xlsx of 60M shared strings, the sheet using the last",
        xlsx_shared_strings,
        1,
        "rows checked",
        full_status=2,
        full_says="shared strings part holds over",
    ),
    Case(
        "xlsx_shared_strings_unused",
        "an .xlsx of 60M shared strings, the sheet using the first",
        xlsx_shared_strings_unused,
        1,
        "rows checked",
    ),
    Case(
        "xlsx_too_many_rows",
        "an .xlsx of 1.1M rows (past Excel's 1,048,576)",
        xlsx_too_many_rows,
        2,
        "past Excel's last row",
    ),
    Case(
        "xlsx_rows_without_numbers",
        "an .xlsx of 50M empty <row/> elements",
        xlsx_rows_without_numbers,
        2,
        "past Excel's last row",
    ),
    Case(
        "xlsx_wide_rows",
        "an .xlsx whose 10,000 rows have 80,000 empty cells each (3.2 GB of XML)",
        xlsx_wide_rows,
        0,
        "rows checked",
    ),
    Case(
        "xlsx_stale_dimension",
        "an .xlsx of 999 rows whose <dimension> says 3",
        xlsx_stale_dimension,
        0,
        "999 rows checked",
    ),
    Case(
        "xlsx_zip_entries",
        "an .xlsx whose archive lists 100,000 parts",
        xlsx_zip_entries,
        2,
        "ZIP directory lists",
    ),
    Case(
        "parquet_constant_rows",
        "a Parquet file of 40M constant rows",
        parquet_constant_rows,
        2,
        "GB of memory",
    ),
    Case(
        "parquet_declared_rows",
        "a Parquet file of 100M rows (over 4 GB as CSV even if blank)",
        parquet_declared_rows,
        2,
        "declares 100,000,000 rows",
    ),
    Case(
        "parquet_wide",
        "a Parquet file of 1M columns",
        parquet_wide,
        2,
        "columns, more than",
        full_status=2,
        full_says="its footer",
    ),
    Case("directory", "a folder named as the return", directory, 2, "is a folder"),
    Case("socket", "a Unix socket named as the return", socket_file, 2, "is a socket"),
    Case("broken_link", "a link to a file that is gone", broken_link, 2, "does not exist"),
    Case("link_loop", "two links to each other", link_loop, 2, "a loop of links"),
    Case(
        "only_line_breaks",
        "200 MB of nothing but line feeds",
        only_line_breaks,
        2,
        "GB of memory",
    ),
    Case(
        "header_then_commas",
        "a header and 50M rows of a single comma",
        header_then_commas,
        2,
        "GB of memory",
    ),
    Case("empty_workbook_file", "an empty file named .xlsx", empty_workbook_file, 2, "is empty"),
    Case("utf32_with_bom", "UTF-32 with its byte-order mark", utf32_with_bom, 2, "UTF-32"),
    Case("utf32_without_bom", "UTF-32 without a mark", utf32_without_bom, 2, "UTF-32"),
    Case("xz_named_csv", "an xz file named .csv", xz_named_csv, 2, "xz-compressed"),
    Case("gzip_of_gzip", "a gzip of a gzip", gzip_of_gzip, 2, "inside the gzip file"),
    Case("gzip_cut_short", "a gzip cut in half", gzip_cut_short, 2, "damaged or cut short"),
    Case("gzip_members", "a return gzipped as two members", gzip_members, 0, "rows checked"),
    Case("non_utf8_name", "a file name that is not UTF-8", non_utf8_name, 0, "rows checked"),
    Case(
        "xlsx_styles_bomb",
        "an .xlsx whose styles part decompresses to 1 GiB",
        xlsx_styles_bomb,
        2,
        "styles part",
    ),
    Case("xlsx_many_sheets", "an .xlsx of 3,000 sheets", xlsx_many_sheets, 2, "sheets; a workbook"),
    Case(
        "xlsx_shared_strings_count",
        "an .xlsx whose shared strings claim 4 billion",
        xlsx_shared_strings_count,
        0,
        "rows checked",
    ),
    Case("parquet_nested", "a Parquet file of list columns", parquet_nested, 2, "List(Int64)"),
)
