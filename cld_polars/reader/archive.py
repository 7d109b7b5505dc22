"""A workbook's ZIP archive, opened within bounds.

A workbook (``.xlsx``) is a ZIP archive of XML parts, and a ZIP archive can be built to
explode: a directory of millions of entries, a part declaring gigabytes. The directory's
size is checked before ``zipfile`` reads it, and each part before it is opened
(:func:`member`), against :mod:`cld_polars.reader.bounds`. Used by the workbook reader
(:mod:`cld_polars.reader.excel`) and to tell a workbook from another archive
(:mod:`cld_polars.reader.sniff`).
"""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

from cld_polars.reader.bounds import MAX_ZIP_ENTRIES, MB


class Refused(Exception):
    """A bound or a damage met inside the workbook: the message's tail after the path."""


def _zip_entries(path: Path) -> int:
    """The number of entries the archive's directory declares, read from its end record
    (zip64 too) before ``zipfile`` reads the directory whole."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        handle.seek(max(0, size - 65_557))
        tail = handle.read()
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise Refused("no ZIP directory at its end: it is damaged or cut short")
        entries = struct.unpack("<H", tail[at + 10 : at + 12])[0]
        locator = tail.rfind(b"PK\x06\x07", 0, at)
        if entries == 0xFFFF and locator >= 0 and len(tail) - locator >= 20:
            offset = struct.unpack("<Q", tail[locator + 8 : locator + 16])[0]
            handle.seek(offset)
            record = handle.read(56)
            if record[:4] == b"PK\x06\x06" and len(record) == 56:
                entries = struct.unpack("<Q", record[32:40])[0]
    return entries


def open_archive(path: Path) -> zipfile.ZipFile:
    """The workbook's ZIP archive, once its directory is known to be of a sensible size."""
    entries = _zip_entries(path)
    if entries > MAX_ZIP_ENTRIES:
        raise Refused(
            f"its ZIP directory lists {entries:,} parts; a workbook has a few dozen "
            f"(at most {MAX_ZIP_ENTRIES:,} are read)"
        )
    return zipfile.ZipFile(path)


def is_workbook(path: Path) -> bool:
    """Whether a ZIP archive holds an Excel workbook (bounded like reading one)."""
    try:
        with open_archive(path) as archive:
            return any(name.startswith("xl/") for name in archive.namelist())
    except (Refused, zipfile.BadZipFile, OSError, ValueError, struct.error):
        return False


def member(archive: zipfile.ZipFile, name: str, limit: int, what: str) -> zipfile.ZipInfo:
    """A part of the archive, checked before it is opened: its compression is one Excel uses
    and its declared size (which ``zipfile`` then holds the part to) is within ``limit``."""
    try:
        info = archive.getinfo(name)
    except KeyError:
        raise Refused(f"its {what} ({name}) is missing") from None
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise Refused(
            f"its {what} is compressed with a method Excel never uses ({info.compress_type})"
        )
    if info.file_size > limit:
        raise Refused(
            f"its {what} ({name}) is {info.file_size / MB:,.0f} MB once decompressed, more "
            f"than a workbook holding a return needs (at most {limit / MB:,.0f} MB is read)"
        )
    return info
