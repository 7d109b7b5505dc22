"""Reading a return: the one place that opens the file, checks its bytes and matches its header.

Whatever the input looks like, the result is a lazy frame with the 48 specification columns
as text (blank columns where the return lacks them), a ``__line`` column giving the line in
the file where each row starts, and the file-level findings met on the way.

Council returns come out of SQL exports, Excel and hand edits, so the reader expects damage:
a file that can be read at all is read as far as it can be, and each problem becomes a
file-level finding naming the line to look at (see ``checks/filerules.py``). What cannot be
read (a missing file, a folder, an image or archive named ``.csv``, a file with no header
row) raises :class:`ReturnReadError` with one sentence saying what the file is and what to do.

The input file is only ever opened for reading. Where it must be transcoded (Windows-1252,
UTF-16, gzip, old Macintosh line endings) or has lines a CSV parser cannot read (quotes that
do not pair up), a temporary UTF-8 copy is scanned instead and removed when the source is
closed. Excel workbooks are read by :mod:`cld_polars.excel_input`.
"""

from __future__ import annotations

import codecs
import gzip
import os
import re
import shutil
import tempfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cld_polars.checks.context import LINE
from cld_polars.checks.filerules import RULES
from cld_polars.checks.registry import FileFinding
from cld_polars.limits import (
    CHUNK,
    DLP_MAX_BYTES,
    EXCEL_MAX_CELL_CHARS,
    MAX_COLUMNS,
    MAX_LINE_BYTES,
    LineLengths,
    file_kind,
    is_disk_full,
    memory_for_rows,
    os_reason,
    usable_memory,
)
from cld_polars.safety import temp_dir
from cld_polars.spec import Spec, load_spec

BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
#: Bytes that Windows-1252 leaves undefined: valid in neither encoding the DLP reads.
CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
#: A UTF-8 encoded character beyond ASCII. In a file that is not valid UTF-8 as a whole it
#: means two encodings were mixed (a UTF-8 export edited in a Windows-1252 editor).
UTF8_CHARACTER = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
#: Control bytes that text never holds (tab, line feed, form feed and carriage return aside).
CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")
#: How much of a file is looked at to tell text from binary, and the share of control bytes
#: in it above which the file is binary (text has none; random bytes about one in eight).
SNIFF_BYTES = 8192
BINARY_SHARE = 0.01
#: The header row is looked for in this many first lines (a title above it, blank lines).
HEADER_SEARCH_LINES = 20
HEADER_SEARCH_BYTES = 1024 * 1024
#: Excel's limit for one cell: no value of a real return comes near it.
LONG_VALUE = EXCEL_MAX_CELL_CHARS
#: Delimiters a return may have been saved with, and their names for messages.
DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}
_IN_CLASS = {",": ",", ";": ";", "\t": r"\t", "|": r"\|"}

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

    def finish(self, raw: pl.DataFrame) -> pl.DataFrame:
        """Called with the collected frame: adds the findings that needed the rows, and
        returns the frame without the reader's helper columns."""
        if self.finisher is not None:
            self.findings.extend(self.finisher(raw))
            self.finisher = None
        return raw.drop(BYTES, strict=False)

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


def _header_keys(spec: Spec) -> dict[str, str]:
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
    keys = keys if keys is not None else _header_keys(spec)
    return sum(1 for n in names if n.strip("\ufeff") in spec.by_name or header_key(n) in keys)


def _check_path(path: Path) -> None:
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
        raise ReturnReadError(f"{path}: cannot be looked at ({os_reason(exc)}).") from None
    if kind == "a folder":
        raise ReturnReadError(f"{path}: is a folder, not a return file. Give the CSV file's path.")
    if kind is not None:
        raise ReturnReadError(
            f"{path}: is {kind}, not a return file: only regular files are read (a pipe or "
            "device can go on for ever). Save the return to a file and give that file's path."
        )
    if not os.access(path, os.R_OK):
        raise ReturnReadError(f"{path}: permission denied. Ask for read access to the file.")


def _head(path: Path, size: int = SNIFF_BYTES) -> bytes:
    with path.open("rb") as handle:
        return handle.read(size)


def not_text(path: Path) -> tuple[str, str] | None:
    """What a file that is not text is, and what to do; None for a text file.

    Known signatures name the file (an image, a workbook, an archive); otherwise a file whose
    first 8 KB hold more than a few control bytes is binary. UTF-16 text is recognised by its
    byte-order mark, or by every other byte being zero when it has none.
    """
    return sniff(_head(path), path)


def sniff(head: bytes, path: Path | None = None) -> tuple[str, str] | None:
    """``not_text`` for a file's first bytes (``path`` is only needed to look inside a ZIP
    archive for a workbook)."""
    if head.startswith(UTF16_BOMS):
        return None
    for signature, what, action in _SIGNATURES:
        if head.startswith(signature):
            if signature == b"PK\x03\x04" and path is not None and _is_workbook(path):
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


def _utf16_without_bom(head: bytes) -> bool:
    """Every other byte zero and the bytes between them mostly not: ASCII text in UTF-16
    (little- or big-endian). A run of zeros is not UTF-16, it is binary."""
    half = len(head) / 2
    for zeros, chars in ((head[1::2], head[0::2]), (head[0::2], head[1::2])):
        if zeros.count(0) > 0.4 * half and chars.count(0) < 0.1 * half:
            return True
    return False


def _is_workbook(path: Path) -> bool:
    from cld_polars.excel_input import is_workbook

    return is_workbook(path)


def _input_kind(path: Path) -> str:
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


# --- bytes --------------------------------------------------------------------------------


class _LineTally:
    """The distinct lines on which a byte pattern occurs, counted chunk by chunk.

    Newlines are counted from one match to the next, never from the chunk's start, so a file
    full of matches (every accented letter of a UTF-8 file) stays one linear pass.
    """

    def __init__(self, pattern: re.Pattern[bytes]) -> None:
        self.pattern = pattern
        self.count = 0
        self.first = 0
        self._last = 0

    def add(self, chunk: bytes, line: int) -> None:
        """Count the matches in a chunk whose first byte is on ``line``."""
        at, pos = line, 0
        for match in self.pattern.finditer(chunk):
            at += chunk.count(b"\n", pos, match.start())
            pos = match.start()
            if at != self._last:
                self.count += 1
                self._last = at
                self.first = self.first or at


def _lines_matching(path: Path, pattern: re.Pattern[bytes]) -> _LineTally:
    """Where a byte pattern occurs in a file. Only run on a file already known to hold it,
    so the common file pays nothing for it."""
    tally = _LineTally(pattern)
    line = 1
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            tally.add(chunk, line)
            line += chunk.count(b"\n")
    return tally


def _bytes_pass(
    path: Path, tmpdir: Path, findings: list[FileFinding], name: Path | None = None
) -> tuple[Path, str]:
    """Check the bytes: size, byte-order marks, encoding, NUL bytes, line endings and line
    lengths.

    Returns the UTF-8 file to scan and the encoding the return was read in. UTF-8 is validated
    incrementally; a file that is not valid UTF-8 is read as Windows-1252 (the DLP's
    encoding) into a temporary UTF-8 copy, and UTF-16 likewise. A line longer than
    ``MAX_LINE_BYTES`` stops the read (``name`` is the file the user gave, for the message).
    """
    size = path.stat().st_size
    if size > DLP_MAX_BYTES:
        findings.append(RULES["FILE_TOO_LARGE"].finding(size=f"{size / 1024**3:.1f} GB"))
    head = _head(path, 4)
    encoding = "utf-8"
    if head.startswith(UTF16_BOMS):
        findings.append(RULES["FILE_UTF16"].finding())
        target = tmpdir / "from_utf16.csv"
        with (
            path.open("r", encoding="utf-16", errors="replace", newline="") as src,
            target.open("w", encoding="utf-8", newline="") as dst,
        ):
            shutil.copyfileobj(src, dst, CHUNK)
        path, encoding = target, "utf-16"
    elif head.startswith(BOM):
        findings.append(RULES["FILE_BOM"].finding(line=1))
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8, has_lf, has_cr, has_nul = True, False, False, False
    lengths = LineLengths()
    usable = usable_memory()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            lengths.add(chunk)
            if lengths.over is not None:
                raise _line_too_long(name or path, *lengths.over)
            check_memory(name or path, lengths.line, "lines or more", usable)
            # ASCII is valid UTF-8 and far cheaper to recognise than to decode; a chunk is
            # decoded only if it has other bytes or follows an unfinished sequence.
            if utf8 and not (chunk.isascii() and not decoder.getstate()[0]):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8 = False
            has_lf = has_lf or b"\n" in chunk
            has_cr = has_cr or b"\r" in chunk
            has_nul = has_nul or b"\x00" in chunk
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if not utf8:
        path = _from_cp1252(path, tmpdir / "from_cp1252.csv", findings)
        encoding = "windows-1252"
    if has_cr and not has_lf:
        findings.append(RULES["FILE_LINE_ENDINGS"].finding())
        target = tmpdir / "line_feeds.csv"
        with path.open("rb") as src, target.open("wb") as dst:
            while chunk := src.read(CHUNK):
                dst.write(chunk.replace(b"\r", b"\n"))
        path = target
    # Every line may be a row, and rows cost memory however short they are (a gzip of a
    # few kilobytes can hold a hundred million of them): more than there is memory for are
    # refused before they are read.
    check_memory(name or path, lengths.line, "lines", usable)
    if has_nul:
        nul = _lines_matching(path, re.compile(rb"\x00"))
        findings.append(RULES["FILE_NUL_BYTES"].finding(count=nul.count, first=nul.first))
    return path, encoding


def check_memory(name: Path, rows: int, unit: str, usable: int | None = -1) -> None:
    """Refuse a return of ``rows`` rows (or lines) that needs more memory to check than this
    process can use (:func:`cld_polars.limits.memory_for_rows`): one clear line now rather
    than running out of memory part way. ``usable`` is looked up unless given."""
    needed = memory_for_rows(rows)
    usable = usable_memory() if usable == -1 else usable
    if usable is not None and needed > usable:
        raise ReturnReadError(
            f"{name}: holds {rows:,} {unit}; checking that many rows needs about "
            f"{needed / 1024**3:,.1f} GB of memory and {usable / 1024**3:,.1f} GB is available. "
            "Check it on a machine with more memory, or split the return."
        )


def _line_too_long(name: Path, line: int, length: int) -> ReturnReadError:
    """The error for a line found to be at least ``length`` bytes, over ``MAX_LINE_BYTES``."""
    return ReturnReadError(
        f"{name}: line {line} runs on for more than {MAX_LINE_BYTES // 1024**2} MB without a "
        "line break; no record of a return comes near that (48 values at Excel's 32,767 "
        "characters are 6 MB at most). Check that this is the return and that its lines end "
        "with line breaks."
    )


def _from_cp1252(path: Path, target: Path, findings: list[FileFinding]) -> Path:
    """A UTF-8 copy of a Windows-1252 file, noting bytes valid in neither encoding and
    UTF-8 characters mixed in (they are read as Windows-1252 and come out garbled)."""
    undefined, mixed = _LineTally(CP1252_UNDEFINED), _LineTally(UTF8_CHARACTER)
    line = 1
    with path.open("rb") as src, target.open("w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(CHUNK):
            undefined.add(chunk, line)
            mixed.add(chunk, line)
            dst.write(chunk.decode("cp1252", errors="replace"))
            line += chunk.count(b"\n")
    if undefined.count:
        findings.append(
            RULES["FILE_ENCODING"].finding(count=undefined.count, first=undefined.first)
        )
    if mixed.count:
        findings.append(RULES["FILE_MIXED_ENCODING"].finding(count=mixed.count, first=mixed.first))
    return target


# --- header -------------------------------------------------------------------------------


def _record_pattern(sep: str) -> str:
    """A regular expression for one well-formed CSV record (RFC 4180): each value either
    wrapped in double quotes with inner quotes doubled, or holding no quote at all.

    The same pattern serves Python's ``re`` and Polars (Rust ``regex``); both match it in
    linear time.
    """
    value = rf'(?:"(?:[^"]|"")*"|[^{_IN_CLASS[sep]}"]*)'
    return rf"^{value}(?:{re.escape(sep)}{value})*$"


def _token_pattern(sep: str) -> str:
    """One value and its delimiter, read leniently: a quoted value counts only where its
    closing quote is followed by the delimiter or the end of the line; anything else is
    read up to the next delimiter with its quotes as ordinary characters. (Rust ``regex``
    has no look-ahead; leftmost-first alternation gives the same reading.)"""
    return rf'(?:"(?:[^"]|"")*"|[^{_IN_CLASS[sep]}]*)(?:{re.escape(sep)}|$)'


def _py_value(sep: str) -> str:
    """One CSV value for Python's ``re``: quoted (inner quotes doubled) or free of quotes.

    Possessive repeats, so a value of any length is matched in one linear step without the
    backtracking stack a plain ``(?:[^"]|"")*`` builds per character. (Python's ``csv``
    module is not used: it refuses values over 131,072 characters.)
    """
    return rf'"[^"]*+(?:""[^"]*+)*+"|[^{_IN_CLASS[sep]}"]*+'


def split_record(line: str, sep: str = ",") -> tuple[list[str], bool]:
    """The values of one record, and whether its quotes were well formed.

    A record whose quotes are not well formed is read leniently (see ``_token_pattern``):
    values that are properly quoted keep their meaning, stray quotes are kept as ordinary
    characters. This is the reading the reader gives damaged lines.
    """
    if '"' not in line:
        return line.split(sep), True
    value = _py_value(sep)
    ok = re.fullmatch(rf"(?:{value})(?:{re.escape(sep)}(?:{value}))*+", line) is not None
    token = re.compile(
        value if ok else rf'"[^"]*+(?:""[^"]*+)*+"(?={re.escape(sep)}|$)|[^{_IN_CLASS[sep]}]*+'
    )
    values = []
    pos = 0
    while True:
        match = token.match(line, pos)
        assert match is not None  # both alternatives can match the empty string
        raw = match.group(0)
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2 and (ok or _quoted(raw)):
            raw = raw[1:-1].replace('""', '"')
        values.append(raw)
        pos = match.end()
        if pos >= len(line) or line[pos] != sep:
            break
        pos += 1
    return values, ok


def _quoted(raw: str) -> bool:
    return re.fullmatch(r'"[^"]*+(?:""[^"]*+)*+"', raw) is not None


def _lenient(sep: str) -> tuple[pl.Expr, pl.Expr]:
    """For damaged lines: the number of values and the line rewritten as well-formed CSV,
    read as ``split_record`` reads them (properly quoted values kept, stray quotes literal).
    """
    text = pl.col("text")
    tokens = text.str.extract_all(_token_pattern(sep))
    value = pl.element().str.strip_suffix(sep)
    quoted = value.str.contains(r'^"(?:[^"]|"")*"$')
    literal = pl.concat_str(
        pl.lit('"'), value.str.replace_all('"', '""', literal=True), pl.lit('"')
    )
    ends = text.str.ends_with(sep)
    fields = tokens.list.len().cast(pl.Int64) + ends.cast(pl.Int64)
    fixed = pl.concat_str(
        tokens.list.eval(pl.when(quoted).then(value).otherwise(literal)).list.join(sep),
        pl.when(ends).then(pl.lit(sep)).otherwise(pl.lit("")),
    )
    return fields, fixed


@dataclass
class _Layout:
    """Where the header is, what it holds and how values are separated."""

    #: The line of the header row; 0 when the file has none (columns in specification order).
    header_line: int
    names: list[str]
    sep: str = ","
    #: The header's quotes are malformed (its names were read with the quotes removed).
    damaged: bool = False
    findings: list[FileFinding] = field(default_factory=list)

    @property
    def start(self) -> int:
        """The first line of data."""
        return self.header_line + 1

    @property
    def trailing(self) -> bool:
        """The header row ends with a delimiter (an unnamed last column)."""
        return len(self.names) > 1 and not self.names[-1].strip()


def _layout(path: Path, spec: Spec, name: Path) -> _Layout | None:
    """Find the header row: the line among the first 20, read with the delimiter, that holds
    the most specification names (and mostly them). None for a file of white space only.

    A first line holding no name but exactly 48 values is data without a header: the columns
    are taken in specification order. Anything else without a header cannot be checked.
    """
    with path.open("r", encoding="utf-8", errors="replace", newline="") as handle:
        head = handle.read(HEADER_SEARCH_BYTES)
    head = head.removeprefix("\ufeff")
    if not head.strip():
        return None
    lines = head.split("\n", HEADER_SEARCH_LINES)
    if len(head) == HEADER_SEARCH_BYTES:
        if len(lines) == 1:
            raise ReturnReadError(
                f"{name}: its first line is longer than {HEADER_SEARCH_BYTES // 1024**2} MB, so "
                "it cannot be the header row (the 48 column names take about 1.5 KB). Check "
                "that this is the return and that its lines end with line breaks."
            )
        lines = lines[:-1]  # cut short by the read
    lines = [line.removesuffix("\r") for line in lines[:HEADER_SEARCH_LINES]]
    keys = _header_keys(spec)
    best: tuple[int, int, str] = (0, 0, ",")
    too_wide: dict[int, tuple[int, str]] = {}  # line index -> (values, delimiter)
    for index, line in enumerate(lines):
        for sep in DELIMITERS:
            if line.count(sep) >= MAX_COLUMNS:  # not a header: and too costly to split
                too_wide.setdefault(index, (line.count(sep) + 1, sep))
                continue
            if sep == "," or sep in line:
                names = split_record(line, sep)[0]
                hits = header_hits(names, spec, keys)
                # At least half the names: a data row can hold a value that reads like a
                # column name ('Eligible needs identified').
                if hits > best[0] and 2 * hits >= sum(1 for n in names if n.strip()):
                    best = (hits, index, sep)
    hits, index, sep = best
    findings: list[FileFinding] = []
    if hits == 0 and 0 in too_wide:
        count, wide = too_wide[0]
        raise ReturnReadError(
            f"{name}: line 1 holds {count:,} values separated by {DELIMITERS[wide]}, more than "
            f"any return has (a CLD return has 48 columns; Excel's limit is {MAX_COLUMNS:,}). "
            "Check that this is the return and that it was exported with one value per column."
        )
    if hits == 0:
        first = lines[0]
        counts = {s: len(split_record(first, s)[0]) for s in DELIMITERS}
        sep = next((s for s, n in counts.items() if n == len(spec.header)), "")
        if not sep:
            snippet = "".join(c if c.isprintable() else "?" for c in first.strip()[:60])
            raise ReturnReadError(
                f"{name}: does not look like a CLD return: none of its first {len(lines)} "
                f"line(s) holds a Release 2 column name and line 1 has {counts[',']} "
                f"comma-separated value(s), not {len(spec.header)} (it starts '{snippet}'). "
                "Check that this is the return: its first line must be the header row "
                "(LA Code,Reporting Period Start Date,...)."
            )
        findings.append(RULES["HEADER_NOT_FOUND"].finding(line=1, count=len(spec.header)))
        if sep != ",":
            findings.append(RULES["FILE_DELIMITER"].finding(name=DELIMITERS[sep]))
        return _Layout(0, list(spec.header), sep, False, findings)
    names, ok = split_record(lines[index], sep)
    if not ok:
        names = [n.replace('"', "") for n in names]
    if index > 0:
        findings.append(
            RULES["HEADER_NOT_FIRST"].finding(line=index + 1, header=index + 1, count=index)
        )
    if sep != ",":
        findings.append(RULES["FILE_DELIMITER"].finding(name=DELIMITERS[sep]))
    return _Layout(index + 1, [n.strip("\ufeff") for n in names], sep, not ok, findings)


def match_header(
    header: list[str], spec: Spec, line: int = 1
) -> tuple[dict[int, str], list[FileFinding]]:
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


# --- structure ----------------------------------------------------------------------------


@dataclass
class _Structure:
    #: Per record (data rows and blank lines, in order): its first line and whether it is
    #: blank. None when every line is one non-blank record.
    lines: pl.DataFrame | None
    rows: int
    #: The records' text for a clean copy (damaged lines rewritten); None when the file can
    #: be scanned as it is.
    records: pl.Series | None = None
    #: Quick path only: per line its length, quote count and the byte count its values must
    #: add up to if it has exactly the header's number of fields (see ``_quick_structure``).
    pending: pl.DataFrame | None = None


#: Bytes per line of the values' lengths, summed by the CSV scan (quick path only).
BYTES = "__bytes"


def _fields_and_misplaced(sep: str) -> tuple[pl.Expr, pl.Expr]:
    """A line's (``text``) number of fields, and whether a quote in it is out of place.

    Each quoted stretch becomes one marker byte: the delimiters left are those between
    values, and a well-formed line has markers only next to delimiters (or each other, for
    doubled quotes) and no quote left over. One pass, as cheap as counting the delimiters.
    """
    marked = pl.col("text").str.replace_all(r'"[^"]*"', "\x01")
    cls = _IN_CLASS[sep]
    fields = marked.str.count_matches(sep, literal=True) + 1
    return fields, marked.str.contains(rf'"|[^{cls}\x01]\x01|\x01[^{cls}\x01]')


class ExactReadNeeded(Exception):
    """The quick structure pass met a quote out of place: read the file again, exactly."""


def _quick_structure(path: Path, layout: _Layout) -> _Structure | None:
    """The usual file in one cheap pass over its lines, or None when the exact pass is needed.

    Counting a line's fields means counting its ~47 delimiters, which costs more than the CSV
    scan itself. Instead: a line whose quotes all open or close values has exactly the
    header's number of fields if and only if its length equals the bytes of its values as
    the CSV scan reads them, plus its quote characters, plus one delimiter fewer than the
    fields. The scan sums the values' bytes (``BYTES``) and ``finish_structure`` compares;
    only lines that differ (wrong field count, doubled or stray quotes, which the scan keeps
    in the values) are looked at again, exactly. A line with an odd number of quotes (a
    value spanning lines, or a quote never closed), a quote out of place among several, or
    a blank line sends the file to the exact pass at once.
    """
    if layout.damaged:
        return None
    sep = layout.sep
    text = pl.col("text")
    quotes = text.str.count_matches('"', literal=True)
    length = text.str.len_bytes().cast(pl.Int64) - text.str.ends_with("\r").cast(pl.Int64)
    # With two quoted stretches or more, the scan can join a value from pieces (`"Fe"ma"le"`
    # reads as `Femle`) without changing the byte count: there, a quote must touch a
    # delimiter or the line's end, checked on those lines only (a separate, filtered query:
    # masking the others would copy every line). With one, a stray pair is kept in the value
    # (the bytes differ) or stops the scan; both are caught later.
    cls = _IN_CLASS[sep]
    lines = (
        pl.scan_lines(path, name="text", glob=False)
        .with_row_index("line", offset=1)
        .filter(pl.col("line") >= layout.start)
    )
    per_line, stray = pl.collect_all(
        [
            lines.select(
                pl.col("line").cast(pl.Int64),
                (quotes % 2 == 1).alias("odd"),
                pl.when(length < len(layout.names))
                .then(text)
                .str.contains(r"^\s*$")
                .fill_null(False)
                .alias("blank"),
                text.str.ends_with(sep).alias("trailing"),
                length.alias("length"),
                (length - quotes - (len(layout.names) - 1)).alias("target"),
            ),
            lines.filter(quotes >= 4).select(
                text.str.contains(rf'[^{cls}]"[^{cls}]').any().alias("stray")
            ),
        ],
        # Streamed: the lines' text is never held whole, only the per-line numbers.
        engine="streaming",
    )
    if stray.height and stray["stray"][0]:
        return None
    if per_line.height and (per_line["odd"].any() or per_line["blank"].any()):
        return None
    return _Structure(None, per_line.height, pending=per_line.drop("odd"))


def finish_structure(
    raw: pl.DataFrame, pending: pl.DataFrame, path: Path, layout: _Layout
) -> list[FileFinding]:
    """The quick path's row findings, once the scan has summed each row's value bytes.

    Lines whose bytes do not add up are counted exactly (normally none are); every other
    line has the header's number of fields. A line whose quotes are out of place raises
    :class:`ExactReadNeeded`: the exact pass reads such lines its own, lenient way.
    """
    n = len(layout.names)
    if raw.height == pending.height:
        differs = pending.filter(raw[BYTES].fill_null(0).cast(pl.Int64) != pending["target"])
    else:  # cannot happen with one record per line, but never guess
        joined = pending.join(raw.select(LINE, BYTES), left_on="line", right_on=LINE, how="left")
        differs = joined.filter(pl.col(BYTES).fill_null(0).cast(pl.Int64) != pl.col("target"))
    fields = pl.lit(n, dtype=pl.Int64)
    if differs.height:
        counted, misplaced = _fields_and_misplaced(layout.sep)
        exact = (
            pl.scan_lines(path, name="text", glob=False)
            .with_row_index("line", offset=1)
            .filter(pl.col("line").is_in(differs["line"].implode()))
            .select(
                pl.col("line").cast(pl.Int64),
                counted.cast(pl.Int64).alias("exact"),
                misplaced.alias("bad"),
            )
            .collect()
        )
        if exact["bad"].any():
            raise ExactReadNeeded(path)
        fields = pl.col("line").replace_strict(
            exact["line"], exact["exact"], default=n, return_dtype=pl.Int64
        )
    records = pending.select("line", "blank", "trailing", "length", fields.alias("fields"))
    found: list[FileFinding] = []
    _record_findings(records, layout, found, path)
    return found


def _structure(
    path: Path, layout: _Layout, findings: list[FileFinding], name: Path | None = None
) -> _Structure:
    """Find where each record starts, blank lines, quotes that do not pair up and rows with
    the wrong number of fields.

    Works on physical lines with Polars. In the usual file every line is a well-formed record
    and this is a single cheap pass. Otherwise a line starts a record unless an odd number of
    quote characters came before it (a quoted value spanning lines). A quote never closed is
    isolated to its own line, so one stray quote does not swallow the rest of the file; a
    record whose quotes are not well formed is read line by line, leniently (values properly
    quoted keep their meaning, stray quotes are ordinary characters: ``split_record``), and
    the records are written to a clean copy for Polars to scan.
    """
    sep = layout.sep
    text = pl.col("text")
    quotes = text.str.count_matches('"', literal=True)
    fields, misplaced = _fields_and_misplaced(sep)
    well_formed = text.str.contains(_record_pattern(sep))
    lines = pl.scan_lines(path, name="text", glob=False).with_row_index("line", offset=1)
    lines = lines.filter(pl.col("line") >= layout.start).with_columns(pl.col("line").cast(pl.Int64))
    per_line = lines.select(
        "line",
        misplaced.alias("bad"),
        (text.str.strip_chars() == "").alias("blank"),
        fields.alias("fields"),
        text.str.ends_with(sep).alias("trailing"),
        text.str.len_bytes().alias("length"),
        quotes.alias("quotes"),
    ).collect(engine="streaming")  # per line numbers only: the text is never held whole
    if not per_line["line"].is_sorted():
        per_line = per_line.sort("line")
    if not per_line["bad"].any() and not layout.damaged:
        per_line = per_line.drop("quotes")
        _record_findings(per_line, layout, findings, path)
        blank = per_line["blank"]
        rows = per_line.height - int(blank.sum())
        if not blank.any():
            return _Structure(None, rows)
        return _Structure(per_line.select("line", "blank"), rows)

    # Records: group lines by quote parity, isolate an unclosed quote, split damaged records.
    # The records' sizes are checked on the per-line numbers, before any text is held.
    grouped = per_line.select("line", "quotes", "length")
    odd = (pl.col("quotes") % 2 == 1).cast(pl.Int64)
    grouped = grouped.with_columns(
        record=(~(odd.cum_sum().shift(1, fill_value=0) % 2 == 1)).cast(pl.Int64).cum_sum()
    )
    unclosed: int | None = None
    if int(grouped["quotes"].sum() or 0) % 2 == 1:
        last = grouped["record"].max()
        unclosed = int(grouped.filter(pl.col("record") == last)["line"][0])
        grouped = grouped.with_columns(
            record=pl.when(pl.col("line") >= unclosed)
            .then(pl.col("line") + grouped.height + 1)
            .otherwise(pl.col("record"))
        )
    _check_record_sizes(grouped, name or path)
    grouped = grouped.hstack(lines.select(text).collect())
    merged = (
        grouped.group_by("record", maintain_order=True)
        .agg("line", "text")
        .with_columns(joined=pl.col("text").list.join("\n"))
        .with_columns(
            bad=pl.col("joined").str.contains('"', literal=True)
            & ~pl.col("joined").str.contains(_record_pattern(sep))
        )
    )
    whole = merged.filter(~pl.col("bad")).select(
        pl.col("line").list.first(), pl.col("joined").alias("text"), "bad"
    )
    split = (
        merged.filter(pl.col("bad"))
        .select("line", "text")
        .explode("line", "text")
        .with_columns(bad=(quotes > 0) & ~well_formed)
    )
    records = (
        pl.concat([whole, split])
        .sort("line")
        .with_columns(
            (text.str.strip_chars() == "").alias("blank"),
            fields.alias("fields"),
            text.str.ends_with(sep).alias("trailing"),
            text.str.len_bytes().alias("length"),
        )
    )
    lenient_fields, lenient_text = _lenient(sep)
    records = records.with_columns(
        pl.when(pl.col("bad")).then(lenient_fields).otherwise(pl.col("fields")).alias("fields")
    )
    _quote_findings(records, layout, unclosed, grouped.height, findings)
    _record_findings(records, layout, findings, path)
    copy = None
    if records["bad"].any() or layout.damaged:
        fixed = pl.when(pl.col("bad")).then(lenient_text).otherwise(text)
        copy = records.select(fixed.alias("text"))["text"]
    rows = int((~records["blank"]).sum())
    return _Structure(records.select("line", "blank"), rows, copy)


def _check_record_sizes(grouped: pl.DataFrame, name: Path) -> None:
    """A record (a quoted value spanning lines) longer than ``MAX_LINE_BYTES`` stops the read
    before its lines are joined: no record of a return is that long."""
    sizes = (
        grouped.group_by("record")
        .agg(
            pl.col("line").min().alias("first"),
            pl.col("line").max().alias("last"),
            (pl.col("length").cast(pl.Int64).sum() + pl.len() - 1).alias("bytes"),
        )
        .filter(pl.col("bytes") > MAX_LINE_BYTES)
        .sort("first")
    )
    if sizes.height:
        first, last, size = sizes.select("first", "last", "bytes").row(0)
        raise ReturnReadError(
            f"{name}: lines {first} to {last} are one quoted value of {size / 1024**2:,.0f} MB "
            f"(a quote opened on line {first} closes only on line {last}); no record of a "
            f"return comes near that (the most read is {MAX_LINE_BYTES // 1024**2} MB). Check "
            f"the quotes on line {first}."
        )


def _quote_findings(
    records: pl.DataFrame,
    layout: _Layout,
    unclosed: int | None,
    data_lines: int,
    findings: list[FileFinding],
) -> None:
    if unclosed is not None:
        after = layout.start + data_lines - 1 - unclosed
        consequence = (
            f", so the {after} line(s) after it would be read as part of that value (they "
            "were read as rows of their own)"
            if after
            else ""
        )
        findings.append(
            RULES["ROW_UNTERMINATED_QUOTE"].finding(line=unclosed, consequence=consequence)
        )
    bad = records.filter(pl.col("bad") & (pl.col("line") != (unclosed or 0)))["line"].to_list()
    if layout.damaged:
        bad.insert(0, layout.header_line)
    if bad:
        findings.append(RULES["ROW_QUOTES"].finding(line=bad[0], count=len(bad), first=bad[0]))


def _record_findings(
    records: pl.DataFrame, layout: _Layout, findings: list[FileFinding], path: Path
) -> None:
    """Blank lines, trailing delimiters, wrong numbers of fields and very long values."""
    n = len(layout.names)
    blank = records.filter(pl.col("blank"))
    if blank.height:
        findings.append(RULES["BLANK_LINES"].finding(count=blank.height, first=blank["line"][0]))
    filled = pl.col("fields") == n
    if layout.trailing:
        # Rows without the trailing delimiter lack only the unnamed column: nothing is lost.
        expected = pl.col("fields").is_in([n, n - 1])
        row_trailing = pl.lit(False)
        with_value = records.filter(~pl.col("blank") & filled & ~pl.col("trailing"))
        detail = ""
        if with_value.height:
            detail = (
                f" ({with_value.height} row(s) have a value in it, "
                f"first at line {with_value['line'][0]})"
            )
        findings.append(
            RULES["HEADER_TRAILING_DELIMITER"].finding(
                line=layout.header_line, last=layout.names[-2], filled=detail
            )
        )
    else:
        # Rows ending with a delimiter the header lacks: an export setting when it is most
        # rows; on a few rows the extra field more likely comes from an unquoted comma.
        expected = filled
        row_trailing = pl.col("trailing") & (pl.col("fields") == n + 1)
        values = records.filter(~pl.col("blank"))
        if values.height and values.filter(row_trailing).height * 2 <= values.height:
            row_trailing = pl.lit(False)
    trailing = records.filter(~pl.col("blank") & row_trailing)
    if trailing.height:
        first = int(trailing["line"][0])
        findings.append(
            RULES["ROW_TRAILING_DELIMITER"].finding(
                line=first, count=trailing.height, first=first, fields=n + 1, expected=n
            )
        )
    ragged = records.filter(~pl.col("blank") & ~expected & ~row_trailing)
    if ragged.height:
        findings.append(
            RULES["ROW_FIELD_COUNT"].finding(
                line=ragged["line"][0],
                count=ragged.height,
                first=ragged["line"][0],
                fields=ragged["fields"][0],
                expected=n,
            )
        )
    long = records.filter(pl.col("length") > LONG_VALUE)
    if long.height:
        first = int(long["line"][0])
        name, length = _longest_value(path, first, layout)
        findings.append(
            RULES["FIELD_TOO_LONG"].finding(
                line=first,
                field=name,
                count=long.height,
                first=first,
                limit=LONG_VALUE,
                length=length,
            )
        )


def _longest_value(path: Path, line: int, layout: _Layout) -> tuple[str, int]:
    """The column and length of the longest value on one line (the first very long one)."""
    text = (
        pl.scan_lines(path, name="text", glob=False)
        .with_row_index("line", offset=1)
        .filter(pl.col("line") == line)
        .collect()["text"][0]
    )
    values, _ = split_record(text, layout.sep)
    index = max(range(len(values)), key=lambda i: len(values[i]))
    name = layout.names[index] if index < len(layout.names) else ""
    return name.strip() or f"column {index + 1}", len(values[index])


# --- reading ------------------------------------------------------------------------------


def read_return(
    path: str | os.PathLike[str], spec: Spec | None = None, *, quick: bool = True
) -> ReturnSource:
    """Open a return for validation. Raises :class:`ReturnReadError` if it cannot be read.

    ``.csv`` (or any other name) is read as delimited text, ``.csv.gz`` decompressed first,
    ``.xlsx``/``.xlsm`` from the sheet holding the header row, ``.parquet`` column by column.
    Whatever the file holds, what is read stays within the bounds of :mod:`cld_polars.limits`
    and every failure is one :class:`ReturnReadError` naming this file.
    """
    spec = spec or load_spec()
    path = Path(path)
    _check_path(path)
    kind = _input_kind(path)
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
    try:
        if kind == "xlsx":
            # Imported here: only workbooks need it.
            from cld_polars.excel_input import read_workbook

            return read_workbook(path, spec, tmp)
        if kind == "parquet":
            from cld_polars.parquet_input import read_parquet

            return read_parquet(path, spec, tmp)
        source = path
        if kind == "gzip":
            source = _gunzip(path, Path(tmp.name))
        else:
            problem = not_text(source)
            if problem is not None:
                what, action = problem
                raise ReturnReadError(f"{path}: is {what}, not a text CSV file. {action}")
        return _read_csv(path, source, tmp, spec, quick)
    except ReturnReadError:
        tmp.cleanup()
        raise
    except BaseException as exc:
        tmp.cleanup()
        problem = read_problem(path, exc, Path(tmp.name))
        if problem is None:
            raise
        raise problem from exc


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


#: Decompressed bytes of a ``.csv.gz`` written to the temporary folder at most: the DLP's
#: limit. Past it the return could not be uploaded anyway, and the disk is not filled.
MAX_GUNZIP_BYTES = DLP_MAX_BYTES


def _gunzip(path: Path, tmpdir: Path) -> Path:
    """Decompress a ``.csv.gz`` to the temporary folder, streaming.

    Its first bytes are looked at before anything is written: what is not text (zeros, an
    image, another archive) is refused at once, however large it would decompress to. The
    copy stops at a line longer than ``MAX_LINE_BYTES`` (text followed by gigabytes of
    zeros) and at ``MAX_GUNZIP_BYTES``.
    """
    head = _head(path, 4)
    if not head.startswith(b"\x1f\x8b"):
        problem = sniff(_head(path), path)
        hint = (
            "it is plain text: name it .csv."
            if problem is None
            else f"it is {problem[0]}. {problem[1]}"
        )
        raise ReturnReadError(f"{path}: not a readable gzip file despite its name; {hint}")
    target = tmpdir / "decompressed.csv"
    written = 0

    def damaged(exc: BaseException) -> ReturnReadError:
        return ReturnReadError(
            f"{path}: not a readable gzip file: it is damaged or cut short "
            f"({one_line(exc)}, after {written:,} bytes of text). Compress the CSV again, "
            "or give the CSV itself."
        )

    with gzip.open(path, "rb") as src:
        try:
            first = src.read(SNIFF_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            raise damaged(exc) from exc
        problem = sniff(first)
        if problem is not None:
            what, action = problem
            raise ReturnReadError(
                f"{path}: is {what} (inside the gzip file), not a text CSV file. {action}"
            )
        lengths, usable = LineLengths(), usable_memory()
        with target.open("wb") as dst:
            chunk = first
            while chunk:
                lengths.add(chunk)
                if lengths.over is not None:  # zeros or binary: no line breaks
                    raise _line_too_long(path, *lengths.over)
                # Millions of short lines in a few kilobytes: stopped before they are written.
                check_memory(path, lengths.line, "lines or more", usable)
                written += len(chunk)
                if written > MAX_GUNZIP_BYTES:
                    raise ReturnReadError(
                        f"{path}: decompresses to more than {MAX_GUNZIP_BYTES // 1024**3} GB, "
                        "the most the Data Landing Portal accepts, so it is not checked. "
                        "Split the return, or check that the right file was compressed."
                    )
                dst.write(chunk)
                try:
                    chunk = src.read(CHUNK)
                except (OSError, EOFError, zlib.error) as exc:
                    raise damaged(exc) from exc
    return target


def _read_csv(
    path: Path, source: Path, tmp: tempfile.TemporaryDirectory[str], spec: Spec, quick: bool
) -> ReturnSource:
    tmpdir = Path(tmp.name)
    findings: list[FileFinding] = []
    scan_path, encoding = _bytes_pass(source, tmpdir, findings, path)
    layout = _layout(scan_path, spec, path)
    if layout is None:
        findings.append(RULES["FILE_EMPTY"].finding())
        return ReturnSource(path, _empty_frame(spec), [], frozenset(), findings, encoding, 0, tmp)
    findings.extend(layout.findings)
    named = layout.names[:-1] if layout.trailing else layout.names
    mapping, header_findings = match_header(named, spec, max(layout.header_line, 1))
    if layout.header_line:
        findings.extend(header_findings)
    structure = (_quick_structure(scan_path, layout) if quick else None) or _structure(
        scan_path, layout, findings, path
    )
    positional = [f"__c{i}" for i in range(len(layout.names))]
    has_header, skip = layout.header_line > 0, max(layout.header_line - 1, 0)
    if structure.records is not None:
        # Damaged lines were rewritten: scan the clean copy (a neutral header, then records).
        scan_path = tmpdir / "records.csv"
        header = pl.Series("text", [layout.sep.join(["x"] * len(positional))])
        pl.DataFrame(header.append(structure.records)).write_csv(
            scan_path, include_header=False, quote_style="never"
        )
        has_header, skip = True, 0
    scan = pl.scan_csv(
        scan_path,
        glob=False,  # a file name is a name: "[1]" in it is not a pattern
        has_header=has_header,
        skip_lines=skip,
        separator=layout.sep,
        new_columns=positional,
        infer_schema=False,
        truncate_ragged_lines=True,
        quote_char='"',
        # A quoted empty field ("") is the same value as an empty one: blank, as null. SQL
        # Server and SSIS exports quote every field, so it is as common as the bare form.
        null_values=[""],
        encoding="utf8-lossy",
        row_index_name="__record",
    )
    by_field = {name: f"__c{i}" for i, name in mapping.items()}
    columns = [
        (pl.col(by_field[f]) if f in by_field else pl.lit(None, dtype=pl.String)).alias(f)
        for f in spec.header
    ]
    if structure.lines is None:
        # One record per line: the line number is the record number plus the lines above.
        extra = []
        if structure.pending is not None:
            extra.append(
                pl.sum_horizontal(pl.col(c).str.len_bytes() for c in positional)
                .fill_null(0)
                .alias(BYTES)
            )
        frame = scan.select(
            (pl.col("__record").cast(pl.Int64) + layout.start).alias(LINE), *columns, *extra
        )
    else:
        lines = structure.lines.with_row_index("__record").lazy()
        frame = (
            scan.select("__record", *columns)
            .join(lines, on="__record", how="left", maintain_order="left")
            .filter(~pl.col("blank").fill_null(False))
            .select(pl.col("line").cast(pl.Int64).alias(LINE), *spec.header)
        )
    if structure.rows == 0:
        findings.append(RULES["FILE_HEADER_ONLY"].finding())
    source_ = ReturnSource(
        path,
        frame,
        layout.names,
        frozenset(mapping.values()),
        findings,
        encoding,
        structure.rows,
        tmp,
    )
    if structure.pending is not None:
        pending = structure.pending
        source_.finisher = lambda raw: finish_structure(raw, pending, scan_path, layout)
    return source_


# --- frames -------------------------------------------------------------------------------


def _empty_as_null(expr: pl.Expr) -> pl.Expr:
    """An empty string as null, as the CSV scan reads an empty field: one blank, one form."""
    return pl.when(expr != "").then(expr)


def _empty_frame(spec: Spec) -> pl.LazyFrame:
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
            _empty_as_null(pl.col(by_field[f]).cast(pl.String))
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
