"""What a file is, before any reader opens it: a regular file, text or not, which format.

Run on every path given: a pipe or a device is refused before it is opened, and a file
that is not text (an image, a PDF, an archive, a workbook named ``.csv``, zeros) is named
by what it is, with what to do, instead of being read as a garbled CSV.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

from cld_polars.reader.archive import is_workbook
from cld_polars.reader.bounds import file_kind, os_reason
from cld_polars.reader.source import ReturnReadError

BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
UTF32_BOMS = (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")
#: Control bytes that text never holds (tab, line feed, form feed and carriage return aside).
CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
#: How much of a file is looked at to tell text from binary, and the share of control bytes
#: in it above which the file is binary (text has none; random bytes about one in eight).
SNIFF_BYTES = 8192
BINARY_SHARE = 0.01

#: Signatures of files that are not text, with what to call them and what to do.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (
        b"\x89PNG\r\n\x1a\n",
        "a PNG image",
        "Check that you chose the return exported from the case management system.",
    ),
    (b"\xff\xd8\xff", "a JPEG image", "Check that you chose the return file."),
    (b"GIF8", "a GIF image", "Check that you chose the return file."),
    (b"%PDF", "a PDF document", "Check that you chose the return file."),
    (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
        "an old-format Excel workbook (.xls), a password-protected workbook or another "
        "Office document",
        "Open it in Excel and save it as 'CSV UTF-8 (Comma delimited)' or as .xlsx.",
    ),
    (b"PAR1", "a Parquet file", "Name it .parquet to check it, or export it as CSV."),
    (
        b"\x1f\x8b",
        "gzip-compressed",
        "Name it .csv.gz to check it as it is, or decompress it first.",
    ),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", "Extract the CSV from it and check that."),
    (b"Rar!", "a RAR archive", "Extract the CSV from it and check that."),
    (b"PK\x03\x04", "a ZIP archive", "Extract the CSV from it and check that."),
    (b"PK\x05\x06", "an empty ZIP archive", "Check that you chose the return file."),
    (b"BZh", "bzip2-compressed", "Decompress it and check the CSV inside."),
    (b"\xfd7zXZ\x00", "xz-compressed", "Decompress it and check the CSV inside."),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "Decompress it and check the CSV inside."),
)


def check_path(path: Path) -> None:
    """The path names a regular file that can be read; otherwise one sentence why not.

    A pipe, a device (``/dev/zero``) or a socket is refused before it is opened: opening a
    pipe waits for a writer and a device can be endless.
    """
    try:
        kind = file_kind(path)
    except FileNotFoundError:
        if path.is_symlink():
            raise ReturnReadError(
                f"{path}: is a link to {os.readlink(path)}, which does not exist. "
                "Give the return file itself."
            ) from None
        raise ReturnReadError(f"{path}: no such file. Check the path and try again.") from None
    except PermissionError:
        raise ReturnReadError(
            f"{path}: permission denied. Ask for read access to the file."
        ) from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ReturnReadError(
                f"{path}: is a link that leads back to itself (a loop of links), not a return "
                "file. Give the return file itself."
            ) from None
        raise ReturnReadError(
            f"{path}: cannot be looked at ({os_reason(exc)}). Check the path, or copy the "
            "return to a local folder and give that copy."
        ) from None
    if kind == "a folder":
        raise ReturnReadError(f"{path}: is a folder, not a return file. Give the CSV file's path.")
    if kind is not None:
        raise ReturnReadError(
            f"{path}: is {kind}, not a return file: only regular files are read (a pipe or "
            "device can go on for ever). Save the return to a file and give that file's path."
        )
    if not os.access(path, os.R_OK):
        raise ReturnReadError(f"{path}: permission denied. Ask for read access to the file.")


def first_bytes(path: Path, size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes of a file (all of it when shorter)."""
    with path.open("rb") as handle:
        return handle.read(size)


def not_text(path: Path) -> tuple[str, str] | None:
    """What a file that is not text is, and what to do; None for a text file.

    Known signatures name the file (an image, a workbook, an archive); otherwise a file whose
    first 8 KB hold more than a few control bytes is binary. UTF-16 text is recognised by its
    byte-order mark, or by every other byte being zero when it has none.
    """
    return sniff(first_bytes(path), path)


def sniff(head: bytes, path: Path | None = None) -> tuple[str, str] | None:
    """``not_text`` for a file's first bytes (``path`` is only needed to look inside a ZIP
    archive for a workbook)."""
    if head.startswith(UTF32_BOMS) or (len(head) >= 64 and _utf32_without_bom(head)):
        # Before UTF-16: UTF-32's little-endian mark starts with UTF-16's.
        return "UTF-32 text", "Save it as 'CSV UTF-8 (Comma delimited)'."
    if head.startswith(UTF16_BOMS):
        return None
    for signature, what, action in _SIGNATURES:
        if head.startswith(signature):
            if signature == b"PK\x03\x04" and path is not None and is_workbook(path):
                return (
                    "an Excel workbook",
                    "Save it from Excel as 'CSV UTF-8 (Comma delimited)', or name it .xlsx "
                    "to check the workbook itself.",
                )
            return what, action
    if head and head.count(0) == len(head):
        return (
            "nothing but zero bytes",
            "Check that you chose the right file and that it was copied whole: a file of "
            "zeros is a copy that was never written, not a return.",
        )
    if len(head) >= 64 and _utf16_without_bom(head):
        return (
            "UTF-16 text without a byte-order mark",
            "Save it as 'CSV UTF-8 (Comma delimited)'.",
        )
    if head and len(CONTROL.findall(head)) > BINARY_SHARE * len(head):
        return (
            "binary data (it holds bytes that never occur in text)",
            "Check that you chose the right file and that it was not damaged when copied: "
            "a return is a CSV text file.",
        )
    return None


def _utf32_without_bom(head: bytes) -> bool:
    """Three bytes of every four zero and the fourth mostly not: ASCII text in UTF-32
    (little- or big-endian)."""
    quarter = len(head) / 4
    for at in (0, 3):
        chars = head[at::4]
        zeros = sum(head[i::4].count(0) for i in range(4) if i != at)
        if zeros > 0.9 * 3 * quarter and chars.count(0) < 0.1 * quarter:
            return True
    return False


def _utf16_without_bom(head: bytes) -> bool:
    """Every other byte zero and the bytes between them mostly not: ASCII text in UTF-16
    (little- or big-endian). A run of zeros is not UTF-16, it is binary."""
    half = len(head) / 2
    for zeros, chars in ((head[1::2], head[0::2]), (head[0::2], head[1::2])):
        if zeros.count(0) > 0.4 * half and chars.count(0) < 0.1 * half:
            return True
    return False


def input_kind(path: Path) -> str:
    """Which reader a file goes to, by its name: xlsx, xls, parquet, gzip or csv."""
    name = path.name.lower()
    for suffix, kind in (
        (".xlsx", "xlsx"),
        (".xlsm", "xlsx"),
        (".xls", "xls"),
        (".parquet", "parquet"),
        (".pq", "parquet"),
        (".gz", "gzip"),
    ):
        if name.endswith(suffix):
            return kind
    return "csv"
