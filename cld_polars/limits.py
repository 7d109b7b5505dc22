"""The bounds on what is read from an input, and the guards that keep to them.

A return is a file a council exported: 48 columns, at most 4 GB (the Data Landing Portal's
limit), made by a database export or by Excel (1,048,576 rows, 16,384 columns, 32,767
characters a cell). Anything far beyond those figures is not a return, however it came to
be: a damaged copy, a device or pipe given by mistake, or a file built to exhaust the
machine (a compression bomb). Each bound below is such a figure with room to spare, so no
real return comes near it, and a file that passes it is read in time and memory that
follow the return's size, not what the file claims or expands to.

The readers (:mod:`cld_polars.reader`, :mod:`cld_polars.excel_input`,
:mod:`cld_polars.parquet_input`) check them before handing anything to a library that would
load it whole; what is past a bound is refused with one sentence naming the file, where in
it and the bound.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MB = 1024**2
GB = 1024**3

#: The Data Landing Portal rejects files over 4 GB uncompressed. A plain CSV over it is
#: still checked (and told so: ``FILE_TOO_LARGE``); what must be expanded first (gzip,
#: Parquet, a workbook's sheet) is not expanded past it, which bounds the temporary space.
DLP_MAX_BYTES = 4 * GB
#: Excel's sheet limits: no workbook Excel saved goes past them, so a sheet that does was
#: not made by Excel and is not read further.
EXCEL_MAX_ROWS = 1_048_576
EXCEL_MAX_COLUMNS = 16_384
#: Excel's limit for one cell. A longer value in a CSV is reported (``FIELD_TOO_LONG``) and
#: the rest of the return checked.
EXCEL_MAX_CELL_CHARS = 32_767
#: A CLD return has 48 columns and an export may add some of its own; a header wider than
#: Excel's 16,384 columns is not a return (a 100,000-name header cost Polars 5 GB).
MAX_COLUMNS = EXCEL_MAX_COLUMNS
#: The longest line (or record over several lines) read. 48 values of Excel's 32,767
#: characters, at up to 4 bytes a character (UTF-8), quoted, are 6.3 MB; one value can be
#: over-long (reported, the rest read), but a line of hundreds of megabytes is not a record
#: (a 500 MB line cost 12 times its size in Polars before it failed). At least ``CHUNK``,
#: which the line check relies on.
MAX_LINE_BYTES = 16 * MB
#: Bytes read at a time from a file (and the most a line check looks past at once).
CHUNK = 16 * MB
assert MAX_LINE_BYTES >= CHUNK

# --- workbooks (.xlsx) -------------------------------------------------------------------
#: A workbook is a ZIP archive of a few dozen parts; its central directory is read whole by
#: any ZIP reader, so an archive claiming more entries than this is refused before that.
MAX_ZIP_ENTRIES = 10_000
#: The XML of one sheet. A full sheet (1,048,576 rows of 48 cells) is about 2.5 GB of XML;
#: past the DLP's 4 GB the sheet holds more than any return.
MAX_SHEET_XML_BYTES = DLP_MAX_BYTES
#: The shared strings part (the workbook's distinct text values): read only as far as the
#: sheet refers to it, and never past this size.
MAX_SHARED_STRINGS_XML_BYTES = DLP_MAX_BYTES
#: Distinct text values: at most one per cell of a full sheet of a return (1,048,576 rows x
#: 48 columns). Held in memory as far as the sheet needs them.
MAX_SHARED_STRINGS = EXCEL_MAX_ROWS * 48
#: Any other part read (the workbook's list of sheets, relationships, styles): these are
#: kilobytes in real workbooks, a few megabytes with thousands of styles.
MAX_PART_BYTES = 64 * MB
#: The longest run of XML text between two tags: one cell's value at Excel's 32,767
#: characters, each written as up to 6 bytes (``&quot;``), is 196,602 bytes. A longer run
#: (a 2 GiB cell, megabytes of white space between tags) is not an Excel sheet.
MAX_XML_TEXT_BYTES = 256 * 1024
#: The XML of one row: 16,384 cells (Excel's columns) of about 60 bytes of markup, or 48
#: cells at Excel's longest values. A row's XML is held whole while it is read.
MAX_ROW_XML_BYTES = 16 * MB

# --- Parquet -------------------------------------------------------------------------------
#: Even with every value blank, each row of a return is 48 bytes as CSV (47 commas and the
#: line break): a Parquet file declaring more rows than fit in the DLP's 4 GB that way is
#: refused from its footer, before anything is read.
MIN_CSV_ROW_BYTES = 48
MAX_PARQUET_ROWS = DLP_MAX_BYTES // MIN_CSV_ROW_BYTES
#: Memory the engine needs for a return of so many rows: it keeps a narrow projection of
#: every row for the cross-row checks. Measured with ``cld-validate`` on generated returns
#: (Polars 2.1, chunks of 100,000 rows): 4.2 GB peak at 10M rows, 0.97 GB at 1M, so about
#: 400 MB plus 420 bytes a row. A Parquet file gives its rows in its footer: one whose rows
#: need more memory than there is is refused before it is read, not left to run out.
ENGINE_BASE_BYTES = 400 * MB
ENGINE_BYTES_PER_ROW = 420
#: A Parquet file's footer (its schema and the index of its row groups), read whole by any
#: reader: a return's is kilobytes (48 columns, some row groups), megabytes with thousands
#: of small row groups. A footer of a million columns (200 MB) cost pyarrow 2.9 GB.
MAX_PARQUET_FOOTER_BYTES = 64 * MB
#: Rows converted at a time from Parquet: memory follows this, not the file.
PARQUET_BATCH_ROWS = 65_536
#: A row group's declared size once decompressed: a whole return of 4 GB as CSV is about
#: that much as Parquet's plain encoding, so more in one group is a compression bomb or a
#: damaged footer.
MAX_PARQUET_ROW_GROUP_BYTES = DLP_MAX_BYTES


def memory_for_rows(rows: int) -> int:
    """Peak memory of checking a return of ``rows`` rows (see ``ENGINE_BYTES_PER_ROW``)."""
    return ENGINE_BASE_BYTES + ENGINE_BYTES_PER_ROW * rows


def usable_memory() -> int | None:
    """Bytes this process can still use: the machine's available memory (and its cgroup's,
    see :func:`cld_polars.batch.available_memory`), and this process's address-space limit
    (``ulimit -v``) less what it holds. None when neither is known."""
    import resource

    from cld_polars.batch import available_memory

    found = available_memory()
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        try:
            held = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            held = 0
        left = max(0, soft - held)
        found = left if found is None else min(found, left)
    return found


def file_kind(path: Path) -> str | None:
    """What a path that exists but is not a regular file is ("a named pipe (FIFO)"), or None
    for a regular file. Links are followed: a link to a device is a device.

    Only regular files are returns: a pipe blocks until something writes to it, a device
    such as ``/dev/zero`` never ends. Raises ``OSError`` when the path cannot be looked at.
    """
    mode = path.stat().st_mode
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def is_regular_file(path: Path) -> bool:
    """Whether ``path`` is a regular file (following links); False when it cannot be seen."""
    try:
        return file_kind(path) is None
    except OSError:
        return False


def os_reason(exc: OSError) -> str:
    """An operating-system error as its reason alone ("No space left on device"), without
    the file name the library put in it: that is often a temporary file the user never
    named."""
    return exc.strerror or os.strerror(exc.errno or 0) or type(exc).__name__


def is_disk_full(exc: BaseException) -> bool:
    """No space left, a quota reached, or a file-size limit (``ulimit -f``) hit."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class LineLengths:
    """Finds the first line longer than ``MAX_LINE_BYTES`` while a file is read in chunks.

    A line ends at a line feed or a carriage return (old Macintosh files have only the
    latter). Only the lines that cross a chunk's edges are measured: a line inside one chunk
    is shorter than the chunk, so shorter than the bound. Costs two ``find`` and two
    ``rfind`` a chunk.
    """

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self.limit = limit
        self.run = 0
        self.breaks_lf = 0
        self.breaks_cr = 0
        #: (line, length so far) of the first line over the limit, once found.
        self.over: tuple[int, int] | None = None

    def add(self, chunk: bytes) -> None:
        if self.over is not None:
            return
        lf, cr = chunk.find(b"\n"), chunk.find(b"\r")
        first = min(i for i in (lf, cr, len(chunk)) if i >= 0)
        if self.run + first > self.limit:
            self.over = (self.line, self.run + first)
            return
        if first == len(chunk):
            self.run += len(chunk)
            return
        self.breaks_lf += chunk.count(b"\n")
        self.breaks_cr += chunk.count(b"\r")
        self.run = len(chunk) - 1 - max(chunk.rfind(b"\n"), chunk.rfind(b"\r"))

    @property
    def line(self) -> int:
        """The line now being read (lines counted by line feeds, or by carriage returns in a
        file without line feeds)."""
        return (self.breaks_lf or self.breaks_cr) + 1
