"""The bounds on what is read from an input, and the guards that keep to them.

A return is a file a council exported: 48 columns, at most 4 GB (the Data Landing Portal's
limit), made by a database export or by Excel (1,048,576 rows, 16,384 columns, 32,767
characters a cell). Anything far beyond those figures is not a return, however it came to
be: a damaged copy, a device or pipe given by mistake, or a file built to exhaust the
machine (a compression bomb). Each bound below is such a figure with room to spare, so no
real return comes near it, and a file that passes it is read in time and memory that
follow the return's size, not what the file claims or expands to.

The readers (:mod:`cld_polars.reader.csv`, :mod:`cld_polars.reader.excel`,
:mod:`cld_polars.reader.parquet`) check them before handing anything to a library that would
load it whole; what is past a bound is refused with one sentence naming the file, where in
it and the bound.

The memory this process may use is probed here too (:func:`available_memory`,
:func:`usable_memory`): the readers refuse a return too big for it, and the batch runner
plans its workers with it.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from cld_polars.reader.source import ReturnReadError

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
#: A value longer than this is reported (``FIELD_TOO_LONG``): Excel's limit for one cell, which
#: no value of a real return comes near.
LONG_VALUE = EXCEL_MAX_CELL_CHARS
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
#: Sheets searched for the header row. A return's workbook has a few (the return, perhaps
#: instructions or lookups); each sheet searched costs a few milliseconds, so a workbook of
#: thousands of tiny sheets (10,000 parts fit in the archive bound) is refused up front.
MAX_SHEETS = 256
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

# --- memory --------------------------------------------------------------------------------
#: Where the kernel tells this process's control group its memory limit and use.
CGROUP = Path("/sys/fs/cgroup")


def memory_for_rows(rows: int) -> int:
    """Peak memory of checking a return of ``rows`` rows (see ``ENGINE_BYTES_PER_ROW``)."""
    return ENGINE_BASE_BYTES + ENGINE_BYTES_PER_ROW * rows


def available_memory() -> int | None:
    """Bytes that can be used without swapping: MemAvailable, capped by a cgroup limit."""
    found: int | None = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    if found is None:
        try:
            found = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            return None
    for limit_file, usage_file in (
        ("memory.max", "memory.current"),  # cgroup v2
        ("memory/memory.limit_in_bytes", "memory/memory.usage_in_bytes"),  # cgroup v1
    ):
        try:
            limit = (CGROUP / limit_file).read_text().strip()
            usage = int((CGROUP / usage_file).read_text().strip())
        except (OSError, ValueError):
            continue
        if limit.isdigit() and int(limit) < 2**60:
            found = min(found, max(0, int(limit) - usage))
        break
    return found


def usable_memory() -> int | None:
    """Bytes this process can still use: the machine's available memory (and its cgroup's,
    see :func:`available_memory`), and this process's address-space limit (``ulimit -v``)
    less what it holds. None when neither is known."""
    import resource  # Unix only: imported where it is used

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


def check_memory(name: Path, rows: int, unit: str, usable: int | None = -1) -> None:
    """Refuse a return of ``rows`` rows (or lines) that needs more memory to check than this
    process can use (:func:`memory_for_rows`): one clear line now rather than running out of
    memory part way. ``usable`` is looked up unless given."""
    needed = memory_for_rows(rows)
    usable = usable_memory() if usable == -1 else usable
    if usable is not None and needed > usable:
        raise ReturnReadError(
            f"{name}: holds {rows:,} {unit}; checking that many rows needs about "
            f"{needed / 1024**3:,.1f} GB of memory and {usable / 1024**3:,.1f} GB is available. "
            "Check it on a machine with more memory, or split the return."
        )


def line_too_long(name: Path, line: int, length: int) -> ReturnReadError:
    """The error for a line found to be at least ``length`` bytes, over ``MAX_LINE_BYTES``."""
    return ReturnReadError(
        f"{name}: line {line} runs on for more than {MAX_LINE_BYTES // 1024**2} MB without a "
        "line break; no record of a return comes near that (48 values at Excel's 32,767 "
        "characters are 6 MB at most). Check that this is the return and that its lines end "
        "with line breaks."
    )


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
