"""Reading a delimited text return (``.csv``, ``.csv.gz``, or any name that is not another
format's): its bytes, its header row, its records, then one streaming scan.

Council returns come out of SQL exports, Excel and hand edits, so this reader expects
damage: a file that can be read at all is read as far as it can be, and each problem becomes
a file-level finding naming the line to look at (see ``checks/filerules.py``).

1. The bytes (:func:`_bytes_pass`): size, byte-order marks, encoding, NUL bytes, line endings
   and line lengths. Where the file must be transcoded (Windows-1252, UTF-16, old Macintosh
   line endings) or decompressed (gzip), a temporary UTF-8 copy is scanned instead. The
   input file is only ever opened for reading.
2. The layout (:func:`_layout`): which line is the header, and the delimiter.
3. The records (:mod:`cld_polars.reader.records`): where each starts, and what is wrong.
4. The scan (:func:`read_csv`): Polars reads every column as text, lazily; the header's
   names are matched to the specification (:func:`cld_polars.reader.source.match_header`).
"""

from __future__ import annotations

import codecs
import gzip
import re
import shutil
import tempfile
import zlib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

from cld_polars.checks.filerules import RULES
from cld_polars.checks.registry import FileFinding
from cld_polars.names import LINE
from cld_polars.reader.bounds import (
    CHUNK,
    DLP_MAX_BYTES,
    MAX_COLUMNS,
    LineLengths,
    check_memory,
    line_too_long,
    usable_memory,
)
from cld_polars.reader.records import (
    DELIMITERS,
    Layout,
    exact_structure,
    finish_structure,
    quick_structure,
    split_record,
)
from cld_polars.reader.sniff import BOM, SNIFF_BYTES, UTF16_BOMS, first_bytes, not_text, sniff
from cld_polars.reader.source import (
    BYTES,
    ReturnReadError,
    ReturnSource,
    empty_frame,
    header_hits,
    header_keys,
    match_header,
    one_line,
)
from cld_polars.spec import Spec

#: Bytes that Windows-1252 leaves undefined: valid in neither encoding the DLP reads.
CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
#: A UTF-8 encoded character beyond ASCII. In a file that is not valid UTF-8 as a whole it
#: means two encodings were mixed (a UTF-8 export edited in a Windows-1252 editor).
UTF8_CHARACTER = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
#: The header row is looked for in this many first lines (a title above it, blank lines).
HEADER_SEARCH_LINES = 20
HEADER_SEARCH_BYTES = 1024 * 1024


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
    head = first_bytes(path, 4)
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
                raise line_too_long(name or path, *lengths.over)
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


def _layout(path: Path, spec: Spec, name: Path) -> Layout | None:
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
    keys = header_keys(spec)
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
        return Layout(0, list(spec.header), sep, False, findings)
    names, ok = split_record(lines[index], sep)
    if not ok:
        names = [n.replace('"', "") for n in names]
    if index > 0:
        findings.append(
            RULES["HEADER_NOT_FIRST"].finding(line=index + 1, header=index + 1, count=index)
        )
    if sep != ",":
        findings.append(RULES["FILE_DELIMITER"].finding(name=DELIMITERS[sep]))
    return Layout(index + 1, [n.strip("\ufeff") for n in names], sep, not ok, findings)


# --- reading ------------------------------------------------------------------------------


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
    head = first_bytes(path, 4)
    if not head.startswith(b"\x1f\x8b"):
        problem = sniff(first_bytes(path), path)
        hint = (
            "it is plain text: name it .csv."
            if problem is None
            else f"it is {problem[0]}. {problem[1]}"
        )
        raise ReturnReadError(f"{path}: not a readable gzip file despite its name; {hint}")
    target = tmpdir / "decompressed.csv"
    written = 0

    def damaged(exc: BaseException) -> ReturnReadError:
        where = f", after {written:,} bytes of text" if written else ""
        return ReturnReadError(
            f"{path}: not a readable gzip file: it is damaged or cut short "
            f"({one_line(exc)}{where}). Compress the CSV again, or give the CSV itself."
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
                    raise line_too_long(path, *lengths.over)
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


def read_csv(
    path: Path,
    spec: Spec,
    tmp: tempfile.TemporaryDirectory[str],
    *,
    gzipped: bool = False,
    quick: bool = True,
) -> ReturnSource:
    """A delimited text return (``gzipped``: a ``.csv.gz``, decompressed into ``tmp`` first),
    scanned lazily with every column as text. Temporary copies go to ``tmp``, which the
    source removes when closed. ``quick``: try the quick structure pass first (see
    :mod:`cld_polars.reader.records`); False goes straight to the exact one."""
    tmpdir = Path(tmp.name)
    if gzipped:
        source = _gunzip(path, tmpdir)
    else:
        source = path
        problem = not_text(path)
        if problem is not None:
            what, action = problem
            raise ReturnReadError(f"{path}: is {what}, not a text CSV file. {action}")
    findings: list[FileFinding] = []
    scan_path, encoding = _bytes_pass(source, tmpdir, findings, path)
    layout = _layout(scan_path, spec, path)
    if layout is None:
        findings.append(RULES["FILE_EMPTY"].finding())
        return ReturnSource(path, empty_frame(spec), [], frozenset(), findings, encoding, 0, tmp)
    findings.extend(layout.findings)
    named = layout.names[:-1] if layout.trailing else layout.names
    mapping, header_findings = match_header(named, spec, max(layout.header_line, 1))
    if layout.header_line:
        findings.extend(header_findings)
    structure = (quick_structure(scan_path, layout) if quick else None) or exact_structure(
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
        source_.chunker = LineChunks(
            scan_path, layout, pending.get_column("size"), positional, by_field, spec
        )
    return source_


#: Chunks read ahead of the one being checked: one, so that reading and checking overlap
#: while memory holds two chunks at most.
READ_AHEAD = 1


class LineChunks:
    """A CSV of one record per line read a chunk of lines at a time, each chunk's bytes
    parsed on their own, one chunk ahead of the caller.

    A streaming scan reads ahead of a slow consumer without bound: with the checks slower
    than parsing, it held most of a 500 MB file at once. Here the quick structure pass has
    measured every line, so a chunk's lines are a known range of bytes, and at most
    ``READ_AHEAD`` chunks are parsed before they are asked for. Fields read as categoricals
    (the engine's low-cardinality fields) are parsed into them directly.
    """

    def __init__(
        self,
        path: Path,
        layout: Layout,
        sizes: pl.Series,
        positional: list[str],
        by_field: dict[str, str],
        spec: Spec,
    ) -> None:
        self.path, self.layout, self.sizes = path, layout, sizes
        self.positional, self.by_field, self.spec = positional, by_field, spec

    def _first_offset(self) -> int:
        """The byte where the first data line starts (after the header and any lines above)."""
        with self.path.open("rb") as handle:
            for _ in range(self.layout.start - 1):
                handle.readline()
            return handle.tell()

    def __call__(
        self, chunk_rows: int, dtypes: Mapping[str, pl.DataType]
    ) -> Iterator[pl.DataFrame]:
        count = self.sizes.len()
        if not count:
            return
        first = self._first_offset()
        size = self.path.stat().st_size
        # Each chunk's lines and their bytes, newlines aside. The line scan drops the CR of a
        # CRLF ending with the LF, so a line's newline is one byte or two: a chunk takes at
        # least its bytes plus one a line and at most one more a line. Each read starts where
        # the one before ended and ends after the newline of its chunk's last line.
        last_lines = list(range(chunk_rows - 1, count, chunk_rows))
        if not last_lines or last_lines[-1] != count - 1:
            last_lines.append(count - 1)
        ends = self.sizes.cast(pl.UInt64).cum_sum().gather(last_lines).to_list()
        spans = [
            (int(e) - int(b), last - before)
            for e, b, last, before in zip(
                ends, [0, *ends[:-1]], last_lines, [-1, *last_lines[:-1]], strict=True
            )
        ]
        offset = [first]
        # Where every newline is one byte (the usual file), the file's size says so: a
        # chunk's range is then exact, and its bytes need not be searched for line ends.
        with self.path.open("rb") as handle:
            handle.seek(size - 1)
            last_ended = handle.read(1) == b"\n"  # the last line may have no line break
        one_byte_newlines = size - first - int(ends[-1]) == count - (not last_ended)
        schema = {c: dtypes.get(f, pl.String()) for f, c in self.by_field.items()}
        schema = {c: schema.get(c, pl.String()) for c in self.positional}
        columns = [
            (
                pl.col(self.by_field[f])
                if f in self.by_field
                else pl.lit(None, dtype=dtypes.get(f, pl.String()))
            ).alias(f)
            for f in self.spec.header
        ]
        # The values' bytes as the scan read them, for the structure check (BYTES).
        value_bytes = (
            pl.sum_horizontal(pl.col(c).cast(pl.String).str.len_bytes() for c in self.positional)
            .fill_null(0)
            .alias(BYTES)
        )
        with (
            self.path.open("rb") as handle,
            ThreadPoolExecutor(1, thread_name_prefix="cld_polars_read") as pool,
        ):

            def read(k: int) -> pl.DataFrame:
                # Read, not memory-mapped: a mapped file's pages count as the process's
                # memory for as long as they stay mapped.
                # Reads run in order (one worker), so the previous chunk's end is known.
                text_bytes, lines = spans[k]
                handle.seek(offset[k])
                data = handle.read(min(text_bytes + lines, size - offset[k]))
                if not one_byte_newlines and (
                    data.count(b"\n") != lines or not data.endswith(b"\n")
                ):
                    # Not all LF: read on to the most the lines can take, cut after the
                    # newline of the chunk's last line (or at the end of the file).
                    data += handle.read(min(lines, size - offset[k] - len(data)))
                    newlines, end = data.count(b"\n"), len(data)
                    if newlines >= lines:
                        for _ in range(newlines - lines + 1):
                            end = data.rfind(b"\n", 0, end)
                        end += 1
                    data = data[:end]
                offset.append(offset[k] + len(data))
                raw = pl.read_csv(
                    data,
                    has_header=False,
                    schema=schema,
                    missing_columns="insert",
                    separator=self.layout.sep,
                    truncate_ragged_lines=True,
                    quote_char='"',
                    null_values=[""],
                    encoding="utf8-lossy",
                )
                line = pl.int_range(pl.len(), dtype=pl.Int64) + (self.layout.start + k * chunk_rows)
                return raw.select(line.alias(LINE), *columns, value_bytes)

            chunks = len(spans)
            ahead = [pool.submit(read, k) for k in range(min(READ_AHEAD + 1, chunks))]
            try:
                for k in range(chunks):
                    chunk = ahead.pop(0).result()
                    if k + READ_AHEAD + 1 < chunks:
                        ahead.append(pool.submit(read, k + READ_AHEAD + 1))
                    yield chunk
            finally:
                for future in ahead:
                    future.cancel()
