"""Reading a return: the one package that opens the input, checks it and matches its header.

Whatever the input looks like, :func:`read_return` hands back a
:class:`~cld_polars.reader.source.ReturnSource`: a lazy frame with the 48 specification
columns as text (blank columns where the return lacks them), a ``__line`` column giving the
line in the file where each row starts, and the file-level findings met on the way. What
cannot be read (a missing file, a folder, an image or archive named ``.csv``, a file with no
header row) raises :class:`~cld_polars.reader.source.ReturnReadError` with one sentence
saying what the file is and what to do.

The modules, from the general to the particular (each imports only those above it):

* :mod:`~cld_polars.reader.source`: what every reader hands back, and the header matching
  every format shares (also :func:`frame_source`, a frame a notebook holds);
* :mod:`~cld_polars.reader.bounds`: the bounds on what is read (sizes, lines, memory) and
  the guards that keep to them;
* :mod:`~cld_polars.reader.archive` and :mod:`~cld_polars.reader.sniff`: what a file is
  before it is opened (a regular file, text or not, a workbook in a ZIP archive);
* :mod:`~cld_polars.reader.records` and :mod:`~cld_polars.reader.csv`: delimited text;
  :mod:`~cld_polars.reader.excel`: workbooks; :mod:`~cld_polars.reader.parquet`: Parquet.

The input file is only ever opened for reading. Temporary copies (a transcoded or
decompressed CSV, a workbook's sheet as text columns) go to a registered temporary folder
removed when the source is closed, or on a signal.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import polars as pl

from cld_polars.reader.bounds import LONG_VALUE, is_disk_full, os_reason
from cld_polars.reader.csv import read_csv
from cld_polars.reader.records import ExactReadNeeded
from cld_polars.reader.sniff import check_path, input_kind
from cld_polars.reader.source import (
    BYTES,
    ReturnReadError,
    ReturnSource,
    frame_source,
    match_header,
    one_line,
)
from cld_polars.safety import note_input, temp_dir
from cld_polars.spec import Spec, load_spec

__all__ = [
    "BYTES",
    "LONG_VALUE",
    "ExactReadNeeded",
    "ReturnReadError",
    "ReturnSource",
    "frame_source",
    "match_header",
    "read_problem",
    "read_return",
]


def read_return(
    path: str | os.PathLike[str], spec: Spec | None = None, *, quick: bool = True
) -> ReturnSource:
    """Open a return for validation. Raises :class:`ReturnReadError` if it cannot be read.

    ``.csv`` (or any other name) is read as delimited text, ``.csv.gz`` decompressed first,
    ``.xlsx``/``.xlsm`` from the sheet holding the header row, ``.parquet`` column by column.
    Whatever the file holds, what is read stays within the bounds of
    :mod:`cld_polars.reader.bounds` and every failure is one :class:`ReturnReadError` naming
    this file. ``quick=False`` checks a CSV's records the exact way at once (see
    :mod:`cld_polars.reader.records`).
    """
    spec = spec or load_spec()
    path = Path(path)
    check_path(path)
    note_input(path)  # no output of this process may be written over it
    kind = input_kind(path)
    if kind in ("xlsx", "parquet", "gzip") and path.stat().st_size == 0:
        raise ReturnReadError(
            f"{path}: is empty (0 bytes), not a {_KIND_NAMES[kind]}: it was never written or was "
            "cut short when copied. Save or copy it again."
        )
    if kind == "xls":
        raise ReturnReadError(
            f"{path}: is an old-format Excel workbook (.xls), which cannot be read. "
            "Open it in Excel and save it as .xlsx or as 'CSV UTF-8 (Comma delimited)'."
        )
    try:
        tmp = temp_dir("read")  # registered: removed on signals, swept after kill -9
    except OSError as exc:
        raise ReturnReadError(
            f"{path}: a temporary folder could not be made in {tempfile.gettempdir()} "
            f"({os_reason(exc)}). Set TMPDIR to a folder you can write to, and run again."
        ) from exc
    readable = path
    try:
        readable = _utf8_name(path, kind, Path(tmp.name))
        if kind == "xlsx":
            # Imported here: only workbooks need it.
            from cld_polars.reader.excel import read_workbook

            source = read_workbook(readable, spec, tmp)
        elif kind == "parquet":
            from cld_polars.reader.parquet import read_parquet

            source = read_parquet(readable, spec, tmp)
        else:
            source = read_csv(readable, spec, tmp, gzipped=kind == "gzip", quick=quick)
        source.path = path
        return source
    except ReturnReadError as exc:
        tmp.cleanup()
        if readable is not path:  # name the file the user gave, never the link
            raise ReturnReadError(str(exc).replace(str(readable), str(path))) from None
        raise
    except BaseException as exc:
        tmp.cleanup()
        error = read_problem(path, exc, Path(tmp.name))
        if error is None:
            raise
        raise error from exc


_KIND_NAMES = {"xlsx": "workbook", "parquet": "Parquet file", "gzip": "gzip file"}
#: The name a return is read under when its own name is not UTF-8 (see :func:`_utf8_name`).
_ALIAS_SUFFIX = {"xlsx": ".xlsx", "parquet": ".parquet", "gzip": ".csv.gz", "csv": ".csv"}


def _utf8_name(path: Path, kind: str, tmpdir: Path) -> Path:
    """``path``, or a link to it in ``tmpdir`` when its name is not UTF-8 (bytes a Linux file
    name may hold, read by Python as lone surrogates): Polars takes paths as UTF-8 text only.
    The link is read, never written; messages name ``path``."""
    try:
        str(path).encode("utf-8")
        return path
    except UnicodeEncodeError:
        link = tmpdir / f"return{_ALIAS_SUFFIX.get(kind, '.csv')}"
        link.symlink_to(os.path.abspath(path))
        return link


def read_problem(path: Path, exc: BaseException, tmpdir: Path) -> ReturnReadError | None:
    """The one sentence for an error met while reading ``path`` (None: not a reading error,
    let it through). The cause is named as it is: no permission, a full temporary folder,
    not enough memory; the file named is the one the user gave, never a temporary copy."""
    if isinstance(exc, PermissionError):
        return ReturnReadError(f"{path}: permission denied. Ask for read access.")
    if is_disk_full(exc):
        return ReturnReadError(
            f"{path}: the temporary folder {tmpdir.parent} ran out of space (or hit a file-size "
            "limit) while the return was being read: it needs about the return's uncompressed "
            "size. Free space there, or set TMPDIR to a folder on a bigger disk, and run again."
        )
    if isinstance(exc, MemoryError):
        return ReturnReadError(
            f"{path}: there was not enough memory to read it. Close other programs or run it "
            "on a machine with more memory; if the file is not a return, check its contents."
        )
    if isinstance(exc, OSError):
        return ReturnReadError(
            f"{path}: could not be read ({os_reason(exc)}). Check that the file is complete "
            "and the disk it is on is working."
        )
    if isinstance(exc, pl.exceptions.PolarsError | UnicodeError):
        text = re.sub(re.escape(str(tmpdir)) + r"[^\s'\"]*", str(path), one_line(exc))
        return ReturnReadError(
            f"{path}: could not be read as a CSV file ({text}). "
            "Run again with --debug for details and report it."
        )
    return None
