"""Reading a return kept in an Excel workbook (``.xlsx``, ``.xlsm``).

Returns are often kept in Excel, or pasted into a council's template, before they are saved
as CSV for the Data Landing Portal. The workbook is read as the CSV saved from it would be:
the sheet whose header row holds the specification's column names, every cell as text.
Excel stores dates as numbers shown through a format, so a date cell is converted to
``dd/mm/yyyy`` and reported (``XLSX_DATES_CONVERTED``): the CSV that Excel writes shows each
date in its cell's display format, which may not be the ``dd/mm/yyyy`` the DLP needs.
Line numbers are Excel's row numbers, so an analyst finds the row in the sheet.

A workbook is a ZIP archive of XML parts, and both layers can be built to explode (a 2 MB
file with one 2 GiB cell, megabytes of white space, 60 million shared strings, a stale
``<dimension>`` that hides most of the rows from readers that trust it). So the sheet is
not handed to a library that loads it whole. Instead:

* the archive's directory is checked before it is read (entries, compression, each part's
  declared size, which ``zipfile`` then holds the part to) against :mod:`cld_polars.reader.bounds`;
* the sheet's XML is decompressed a few megabytes at a time, cut at row boundaries, and each
  piece parsed with Polars' (Rust) regular expressions: rows, cells, their type, style and
  value. No ``<dimension>`` is trusted: the rows are whatever ``<row>`` elements there are;
* a row's XML is bounded, rows past Excel's 1,048,576 are refused, and the shared strings
  are read only as far as the sheet refers to them;
* the rows read go to a temporary Parquet file of text columns that the engine scans like a
  CSV, so memory follows a piece of the sheet, not the sheet.

Cell values are what openpyxl gave before this reader replaced it (same rules for numbers,
dates and booleans; the tests check that a workbook validates as its CSV): numbers in
'General' form, dates from the styles' number formats (the 1900 and 1904 date systems),
booleans as TRUE/FALSE, formulas as their cached result, rich or phonetic text reduced to
the text shown. Excel's ``_xHHHH_`` escapes are decoded as Excel shows them.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
import tempfile
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

import polars as pl

from cld_polars.checks.filerules import RULES
from cld_polars.checks.registry import FileFinding
from cld_polars.names import LINE
from cld_polars.reader.archive import Refused, member, open_archive
from cld_polars.reader.bounds import (
    EXCEL_MAX_COLUMNS,
    EXCEL_MAX_ROWS,
    LONG_VALUE,
    MAX_PART_BYTES,
    MAX_ROW_XML_BYTES,
    MAX_SHARED_STRINGS,
    MAX_SHARED_STRINGS_XML_BYTES,
    MAX_SHEET_XML_BYTES,
    MAX_SHEETS,
    MB,
)
from cld_polars.reader.sniff import first_bytes, not_text
from cld_polars.reader.source import (
    ReturnReadError,
    ReturnSource,
    header_hits,
    match_header,
    one_line,
)
from cld_polars.spec import Spec

#: The header row is looked for in this many first rows of each sheet (a template's title
#: rows come above it).
HEADER_SEARCH_ROWS = 20
#: Decompressed XML parsed at a time: memory per piece is a small multiple of this.
XML_CHUNK = 4 * MB

# --- the XML, as Polars (Rust) regular expressions -------------------------------------------
# Excel writes the main namespace as the default; other tools give it a prefix (``x:row``).
# A piece has its tags' prefixes dropped and each ``<row``, ``<c`` and ``<si`` tag made to
# start "<name " (``_plain``), so that rows, cells and strings are cut apart with a plain
# string split, many times faster than matching each element.
_P = r"(?:[\w.-]+:)?"
_PREFIXED = re.compile(r"</?[A-Za-z_][\w.-]*:[A-Za-z]")
_WS = r"[ \t\r\n]"
_VALUE = rf"<v(?:{_WS}[^>]*)?>([^<]*)</v{_WS}*>"
_PHONETIC = rf"(?s)<rPh\b.*?</rPh{_WS}*>"
_TEXT = rf"(?s)<t(?:{_WS}[^>]*)?>.*?</t{_WS}*>"
_ONE_TEXT = rf"<t(?:{_WS}[^>]*)?>([^<]*)</t{_WS}*>"
_TEXT_START = rf"<t(?:{_WS}|>|/>)"
_ROW_END = re.compile(rf"</{_P}row\s*>|<{_P}row\b[^>]*/>".encode())
_SI_END = re.compile(rf"</{_P}si\s*>|<{_P}si\b[^>]*/>".encode())
#: Escapes the vectorised decoding leaves to Python: numeric character references and
#: Excel's ``_xHHHH_`` (a control character or an escaped underscore).
_RARE_ESCAPE = r"&#|_x[0-9A-Fa-f]{4}_"
_ESCAPE = re.compile(r"&#([0-9]+);|&#x([0-9A-Fa-f]+);|&(lt|gt|amp|quot|apos);")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}
_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _attr(name: str, value: str = r"[^\"']*") -> str:
    """An attribute's value in an opening tag cut after its name (``r="A2" t="s"``)."""
    return rf"(?:^|{_WS}){name}{_WS}*={_WS}*[\"']({value})"


def _plain(piece: str, names: tuple[str, ...]) -> pl.Series:
    """A piece of XML as a one-value Series, namespace prefixes dropped from its tags and
    the tags of ``names`` (those that are split on) written ``<row ``, ``<c ``, ``<si ``."""
    text = pl.Series("xml", [piece])
    # Looked for in Rust: a Python regex search costs ten times as much on megabytes.
    if text.str.contains(_PREFIXED.pattern).any():
        text = text.str.replace_all(r"<(/?)[A-Za-z_][\w.-]*:", "<$1")
    for name in names:  # literal replacements: a regex with captures is slow
        for end in (">", "/>"):
            if text.str.contains(f"<{name}{end}", literal=True).any():
                text = text.str.replace_all(f"<{name}{end}", f"<{name} {end}", literal=True)
    unspaced = f"<({'|'.join(names)})[\t\r\n]"
    if text.str.contains(unspaced).any():
        text = text.str.replace_all(unspaced, "<$1 ")
    return text


def _tag(element: pl.Expr) -> pl.Expr:
    """An element cut after its name, up to the end of its opening tag (its attributes)."""
    return element.str.split_exact(">", 1).struct.field("field_0")


def _elements(piece: str, name: str) -> pl.Series:
    """The ``name`` elements of a piece, each cut after its name (``r="2" ...>...``)."""
    names = ("row", "c") if name == "row" else (name,)
    parts = _plain(piece, names).str.split(f"<{name} ").list.slice(1).explode().drop_nulls()
    return parts.str.split(f"</{name}>").list.first()


def _column_letters() -> dict[str, int]:
    """Excel's column letters (A ... XFD) to 0-based positions."""
    letters: dict[str, int] = {}
    for i in range(EXCEL_MAX_COLUMNS):
        n, name = i + 1, ""
        while n:
            n, rest = divmod(n - 1, 26)
            name = chr(65 + rest) + name
        letters[name] = i
    return letters


_LETTERS = _column_letters()


def _part(archive: zipfile.ZipFile, name: str, what: str) -> ET.Element:
    """A small part (workbook, relationships, styles) parsed whole, after the size check."""
    data = archive.read(member(archive, name, MAX_PART_BYTES, what))
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise Refused(f"its {what} declares a document type, which Excel never writes")
    return ET.fromstring(data)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _rels(archive: zipfile.ZipFile, owner: str) -> dict[str, tuple[str, str]]:
    """A part's relationships: id -> (type's last word, member name)."""
    folder = PurePosixPath(owner).parent
    rels = str(folder / "_rels" / (PurePosixPath(owner).name + ".rels"))
    if rels not in archive.namelist():
        return {}
    out = {}
    for rel in _part(archive, rels, "relationships").iter():
        if _local(rel.tag) != "Relationship" or rel.get("TargetMode") == "External":
            continue
        target = rel.get("Target", "")
        name = target.lstrip("/") if target.startswith("/") else str(folder / target)
        out[rel.get("Id", "")] = (rel.get("Type", "").rsplit("/", 1)[-1], _normalise(name))
    return out


def _normalise(name: str) -> str:
    parts: list[str] = []
    for piece in name.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece not in ("", "."):
            parts.append(piece)
    return "/".join(parts)


@dataclass
class _Book:
    """What the workbook's small parts say: its sheets, date system and date styles."""

    sheets: list[tuple[str, str]]
    shared: str | None
    date1904: bool
    date_styles: frozenset[int]
    timedelta_styles: frozenset[int]


def _book(archive: zipfile.ZipFile) -> _Book:
    main = "xl/workbook.xml"
    for rel in _rels(archive, "").values():
        if rel[0] == "officeDocument":
            main = rel[1]
    root = _part(archive, main, "workbook part")
    rels = _rels(archive, main)
    sheets = []
    date1904 = False
    for element in root.iter():
        tag = _local(element.tag)
        if tag == "workbookPr":
            date1904 = element.get("date1904", "").lower() in ("1", "true")
        elif tag == "sheet":
            rid = next((v for k, v in element.attrib.items() if _local(k) == "id"), "")
            kind, target = rels.get(rid, ("", ""))
            if kind == "worksheet":
                sheets.append((element.get("name", ""), target))
    shared = next((t for k, t in rels.values() if k == "sharedStrings"), None)
    styles = next((t for k, t in rels.values() if k == "styles"), None)
    dates, deltas = _date_styles(archive, styles) if styles else (frozenset(), frozenset())
    return _Book(sheets, shared, date1904, dates, deltas)


def _date_styles(archive: zipfile.ZipFile, name: str) -> tuple[frozenset[int], frozenset[int]]:
    """The cell styles whose number format shows a date (or a duration), decided as
    openpyxl decides them."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format, is_timedelta_format

    root = _part(archive, name, "styles part")
    custom: dict[int, str] = {}
    formats: list[int] = []
    for element in root.iter():
        tag = _local(element.tag)
        if tag == "numFmt":
            custom[_int(element.get("numFmtId"))] = element.get("formatCode", "")
        elif tag == "cellXfs":
            formats = [_int(xf.get("numFmtId")) for xf in element if _local(xf.tag) == "xf"]
    dates, deltas = set(), set()
    for index, number in enumerate(formats):
        code = custom.get(number, BUILTIN_FORMATS.get(number))
        if is_date_format(code):
            dates.add(index)
        if is_timedelta_format(code):
            deltas.add(index)
    return frozenset(dates), frozenset(deltas)


def _int(text: str | None) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


# --- streaming XML ----------------------------------------------------------------------------


def _pieces(stream: IO[bytes], end: re.Pattern[bytes], what: str) -> Iterator[str]:
    """The part's XML a few megabytes at a time, each piece cut after an element's end (a
    row, a shared string), so no element is split. An element longer than
    ``MAX_ROW_XML_BYTES`` (or that much text between elements) is refused."""
    carry = b""
    while True:
        chunk = stream.read(XML_CHUNK)
        buffer = carry + chunk if carry else chunk
        if not chunk:
            if buffer.strip():
                yield buffer.decode("utf-8", errors="replace")
            return
        if not carry and buffer[:2] in (b"\xff\xfe", b"\xfe\xff"):
            raise Refused(f"its {what} is written in UTF-16, which Excel never does")
        cut = _last_end(buffer, end)
        if cut is None:
            if len(buffer) > MAX_ROW_XML_BYTES:
                raise Refused(
                    f"its {what} holds {len(buffer) / MB:,.0f} MB without the end of a row or "
                    f"value; no row of a return comes near that (at most "
                    f"{MAX_ROW_XML_BYTES // MB} MB is read): a cell holds far more than "
                    "Excel's 32,767 characters, or the sheet is padded"
                )
            carry = buffer
            continue
        yield buffer[:cut].decode("utf-8", errors="replace")
        carry = buffer[cut:]


def _last_end(buffer: bytes, end: re.Pattern[bytes]) -> int | None:
    """Where the last element ending in ``buffer`` ends (its tail looked at first)."""
    for window in (64 * 1024, len(buffer)):
        last = None
        for match in end.finditer(buffer, max(0, len(buffer) - window)):
            last = match.end()
        if last is not None:
            return last
        if window >= len(buffer):
            break
    return None


def _decode(expr: pl.Expr) -> pl.Expr:
    """XML's named entities decoded (``&amp;`` last, so ``&amp;lt;`` stays ``&lt;``)."""
    for entity in ("lt", "gt", "quot", "apos", "amp"):
        expr = expr.str.replace_all(f"&{entity};", _ENTITIES[entity], literal=True)
    return expr


def _decode_rare(text: str) -> str:
    """Every escape in one pass (the Python fallback for the rare values that need it)."""

    def entity(match: re.Match[str]) -> str:
        number, hexa, name = match.groups()
        try:
            if number:
                return chr(int(number))
            if hexa:
                return chr(int(hexa, 16))
        except (ValueError, OverflowError):
            return match.group(0)
        return _ENTITIES[name]

    decoded = _ESCAPE.sub(entity, text)
    return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), decoded)


def _texts(xml: pl.Series) -> pl.Series:
    """The text each ``<is>`` or ``<si>`` shows, escapes still in (see ``_finish_text``).

    Nearly always one ``<t>``; rich text (runs of ``<t>``) is joined and phonetic runs
    (``<rPh>``) left out, on the few values that have them.
    """
    frame = pl.DataFrame({"xml": xml})
    single = frame.select(pl.col("xml").str.extract(_ONE_TEXT, 1).alias("text"))["text"]
    rich = frame.select(
        (pl.col("xml").str.count_matches(_TEXT_START) > 1)
        | pl.col("xml").str.contains("<rPh", literal=True)
    )["xml"]
    if not rich.any():
        return single
    runs = frame.filter(rich).select(
        pl.col("xml")
        .str.replace_all(_PHONETIC, "")
        .str.extract_all(_TEXT)
        .list.eval(
            pl.element().str.replace(rf"^<t(?:{_WS}[^>]*)?>", "").str.replace(rf"</t{_WS}*>$", "")
        )
        .list.join("")
    )["xml"]
    return single.scatter(rich.arg_true(), runs)


#: Conversions remembered across pieces (a real sheet has a few thousand distinct dates and
#: costs; a sheet of millions of distinct values is converted without filling memory).
MAX_REMEMBERED = 100_000


class _Distinct:
    """Values turned to text in Python, once per distinct value, remembered across pieces:
    the rare escapes, dates from Excel's serial numbers, numbers with a fraction."""

    def __init__(self, book: _Book) -> None:
        self.book = book
        self.known: dict[tuple[str, str], tuple[str | None, bool]] = {}

    def apply(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` has ``how`` (which conversion) and ``raw``; adds ``py`` and ``py_date``."""
        wanted = frame.filter(pl.col("how").is_not_null()).select("how", "raw").unique()
        rows = []
        for how, raw in wanted.iter_rows():
            key = (how, raw)
            known = self.known.get(key)
            if known is None:
                known = self._convert(how, raw)
                if len(self.known) < MAX_REMEMBERED:  # a sheet of distinct values: no cache
                    self.known[key] = known
            rows.append((how, raw, *known))
        table = pl.DataFrame(
            rows,
            schema={"how": pl.String, "raw": pl.String, "py": pl.String, "py_date": pl.Boolean},
            orient="row",
        )
        return frame.join(table, on=["how", "raw"], how="left", maintain_order="left")

    def _convert(self, how: str, raw: str) -> tuple[str | None, bool]:
        if how == "escaped":
            return _decode_rare(raw), False
        if how == "number":
            return _number_text(raw), False
        if how == "iso":
            from openpyxl.utils.datetime import from_ISO8601

            try:
                return _cell_text(from_ISO8601(raw)), True
            except (ValueError, TypeError):
                return raw, False
        from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

        epoch = CALENDAR_MAC_1904 if self.book.date1904 else CALENDAR_WINDOWS_1900
        try:
            value = from_excel(float(raw), epoch, timedelta=how == "duration")
        except (OverflowError, ValueError):
            return "#VALUE!", False
        return _cell_text(value), isinstance(value, dt.date)


def _number_text(raw: str) -> str | None:
    """A number cell as openpyxl read it (int unless it has a point or exponent), shown in
    Excel's 'General' form."""
    try:
        value: object = float(raw) if any(c in raw for c in ".Ee") else int(raw)
    except ValueError:
        return raw
    return _cell_text(value)


def _cell_text(value: object) -> str | None:
    """A cell's value as the text Excel would write for it in 'General' format.

    Dates become dd/mm/yyyy (with the time where there is one, so that the date checks flag
    it as the time stamp it is); whole numbers lose Excel's '.0'; other numbers keep up to 15
    significant digits, as Excel shows them.
    """
    if value is None or isinstance(value, str):
        return value or None  # an empty cell, as the CSV scan reads an empty field
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.strftime("%d/%m/%Y")
        return value.strftime("%d/%m/%Y %H:%M:%S")
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(value, ".15g")
    return str(value)


class _SharedStrings:
    """The workbook's shared strings, read as far as the sheet has referred to them."""

    def __init__(self, archive: zipfile.ZipFile, name: str | None, convert: _Distinct) -> None:
        self.parts: list[pl.Series] = []
        self.count = 0
        self.convert = convert
        self._table: pl.Series | None = None
        self._pieces: Iterator[str] | None = None
        if name is not None and name in archive.namelist():
            info = member(archive, name, MAX_SHARED_STRINGS_XML_BYTES, "shared strings part")
            self._pieces = _pieces(archive.open(info), _SI_END, "shared strings part")

    def table(self, needed: int) -> pl.Series:
        """At least the first ``needed`` strings (all there are, if fewer)."""
        while self.count < needed and self._pieces is not None:
            piece = next(self._pieces, None)
            if piece is None:
                self._pieces = None
                break
            frame = pl.DataFrame({"raw": _texts(_elements(piece, "si"))})
            self.parts.append(_finish_text(frame, self.convert)["text"])
            self.count += frame.height
            self._table = None
            if self.count > MAX_SHARED_STRINGS:
                raise Refused(
                    f"its shared strings part holds over {MAX_SHARED_STRINGS:,} values, more "
                    "than a sheet of a return (1,048,576 rows of 48 cells) can use"
                )
        if self._table is None:
            self._table = (
                pl.concat(self.parts).rechunk() if self.parts else pl.Series([], dtype=pl.String)
            )
        return self._table


def _finish_text(frame: pl.DataFrame, convert: _Distinct) -> pl.DataFrame:
    """``raw`` XML text (escapes in) as ``text``: decoded in Polars, the rare escapes in
    Python once per distinct value."""
    raw = pl.col("raw")
    rare = raw.str.contains(_RARE_ESCAPE)
    escaped, has_rare = frame.select(
        raw.str.contains("&", literal=True).any().alias("escaped"), rare.any().alias("rare")
    ).row(0)
    text = _decode(raw) if escaped else raw
    if has_rare:
        frame = convert.apply(
            frame.with_columns(pl.when(rare).then(pl.lit("escaped")).alias("how"))
        )
        text = pl.when(rare).then(pl.col("py")).otherwise(text)
    return frame.select(pl.when(text != "").then(text).alias("text"))


# --- cells ---------------------------------------------------------------------------------


@dataclass
class _Cells:
    """A piece of a sheet: its cells (``row``, ``col``, ``text``, ``date``), the last row's
    number, and the row numbers in order (to find rows out of order)."""

    cells: pl.DataFrame
    last_row: int
    rows: pl.Series


def _parse_rows(
    piece: str, after: int, keep: int, shared: _SharedStrings, convert: _Distinct
) -> _Cells:
    """The cells of the rows in one piece of sheet XML, with their text.

    Rows and cells without an ``r`` attribute follow the one before (``after`` is the row
    before the piece). Only cells of the first ``keep`` columns are kept.
    """
    rows = pl.DataFrame(_elements(piece, "row")).with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("k")
    )
    explicit = _tag(pl.col("xml")).str.extract(_attr("r", "[0-9]+"), 1).cast(pl.Int64, strict=False)
    rows = rows.with_columns(
        ((explicit - pl.col("k")).forward_fill().fill_null(after + 1) + pl.col("k")).alias("row")
    )
    if rows.height == 0:
        return _Cells(_empty_cells(), after, pl.Series([], dtype=pl.Int64))
    # A row's cells are in column order, so the n-th cell is in column n or further on:
    # cells past the first ``keep`` are past the columns wanted, and are not looked at.
    rows = _trim(rows, keep)
    cells = (
        rows.select("row", pl.col("xml").str.split("<c ").list.slice(1, keep).alias("c"))
        .explode("c")
        .drop_nulls("c")
        .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over("row").alias("k"))
    )
    cells = cells.with_columns(_tag(pl.col("c")).alias("tag"))
    letters = (
        pl.col("tag")
        .str.extract(_attr("r", "[A-Za-z]{1,3}"), 1)
        .str.to_uppercase()
        .replace_strict(_LETTERS, default=None, return_dtype=pl.Int64)
    )
    cells = cells.with_columns(
        ((letters - pl.col("k")).forward_fill().over("row").fill_null(0) + pl.col("k")).alias("col")
    ).filter(pl.col("col") < keep)
    kind = pl.col("tag").str.extract(_attr("t", "[A-Za-z]+"), 1).fill_null("n")
    style = pl.col("tag").str.extract(_attr("s", "[0-9]+"), 1).cast(pl.Int64, strict=False)
    value = pl.col("c").str.extract(_VALUE, 1)
    cells = cells.select(
        "row",
        "col",
        "c",
        kind.alias("t"),
        style.fill_null(0).alias("s"),
        pl.when(value != "").then(value).alias("v"),
    )
    inline = cells["t"] == "inlineStr"
    text = pl.Series("inline", [None] * cells.height, dtype=pl.String)
    if inline.any():
        text = text.scatter(inline.arg_true(), _texts(cells.filter(inline)["c"]))
    cells = cells.drop("c").with_columns(text)
    return _Cells(_cell_texts(cells, shared, convert), int(rows["row"][-1]), rows["row"])


#: A row's XML longer than this (a return's row is 2 to 5 KB) is cut after its first cells
#: before it is split into cells: a row padded with thousands of cells costs no more.
LONG_ROW_BYTES = 16 * 1024
#: Up to this many columns kept, long rows are cut with ``splitn`` (beyond, in the search
#: for the header, all cells are split).
TRIM_COLUMNS = 1024


def _trim(rows: pl.DataFrame, keep: int) -> pl.DataFrame:
    """Long rows cut after their first ``keep`` cells (``splitn`` stops there, where
    ``split`` would cut every cell of the row)."""
    long = pl.col("xml").str.len_bytes() > LONG_ROW_BYTES
    if keep > TRIM_COLUMNS or not rows.select(long.any()).item():
        return rows
    parts = pl.col("xml").str.splitn("<c ", keep + 2)
    first = pl.concat_str(
        [parts.struct.field(f"field_{i}") for i in range(keep + 1)],
        separator="<c ",
        ignore_nulls=True,
    )
    return rows.with_columns(pl.when(long).then(first).otherwise(pl.col("xml")).alias("xml"))


def _empty_cells() -> pl.DataFrame:
    return pl.DataFrame(
        schema={"row": pl.Int64, "col": pl.Int64, "text": pl.String, "date": pl.Boolean}
    )


def _cell_texts(cells: pl.DataFrame, shared: _SharedStrings, convert: _Distinct) -> pl.DataFrame:
    """Each cell's text by its type: shared string, inline string, formula string or error,
    boolean, ISO date, or number (a date where its style's number format shows one)."""
    book = convert.book
    t, v = pl.col("t"), pl.col("v")
    index = pl.when(t == "s").then(v.cast(pl.Int64, strict=False))
    needed = cells.select(index.max()).item()
    table = None
    if needed is not None:
        table = shared.table(int(needed) + 1)
        if needed >= len(table):
            raise Refused(
                f"a cell refers to shared string {needed + 1:,} but the workbook holds only "
                f"{len(table):,}: it is damaged"
            )
    styles = pl.col("s")
    numeric = t == "n"
    dates = styles.is_in(list(book.date_styles)) & numeric
    durations = dates & styles.is_in(list(book.timedelta_styles))
    whole = v.str.contains(r"^-?[0-9]+$")
    textual = t.is_in(["str", "e", "inlineStr"]) | ~t.is_in(["s", "b", "d", "n"])
    raw = pl.when(t == "inlineStr").then(pl.col("inline")).otherwise(v)
    how = (
        pl.when(v.is_null() & (t != "inlineStr"))
        .then(None)
        .when(durations)
        .then(pl.lit("duration"))
        .when(dates)
        .then(pl.lit("serial"))
        .when(t == "d")
        .then(pl.lit("iso"))
        .when(numeric & ~whole)
        .then(pl.lit("number"))
        .when(textual & raw.str.contains(_RARE_ESCAPE))
        .then(pl.lit("escaped"))
    )
    cells = convert.apply(cells.with_columns(raw.alias("raw"), how.alias("how")))
    # Most pieces hold no '&' at all: then there is nothing to decode.
    escaped = cells.select(pl.col("raw").str.contains("&", literal=True).any()).item()
    shown = _decode(raw) if escaped else raw
    integer = v.cast(pl.Int64, strict=False).cast(pl.String)
    text = (
        pl.when(pl.col("how").is_not_null())
        .then(pl.col("py"))
        .when(t == "s")
        .then(pl.lit(table).gather(index) if table is not None else pl.lit(None, pl.String))
        .when(t == "b")
        .then(
            pl.when(v.cast(pl.Int64, strict=False) != 0)
            .then(pl.lit("TRUE"))
            .when(v.cast(pl.Int64, strict=False) == 0)
            .then(pl.lit("FALSE"))
            .otherwise(v)
        )
        .when(numeric)
        .then(pl.coalesce(integer, v))
        .otherwise(shown)
    )
    return cells.select(
        "row",
        "col",
        pl.when(text != "").then(text).alias("text"),
        pl.col("py_date").fill_null(False).alias("date"),
    )


# --- the sheet -------------------------------------------------------------------------------


@dataclass
class _Sheet:
    title: str
    member: zipfile.ZipInfo


def _rows(
    archive: zipfile.ZipFile,
    sheet: _Sheet,
    keep: int,
    shared: _SharedStrings,
    convert: _Distinct,
    stop_after: int | None = None,
) -> Iterator[_Cells]:
    """The sheet's cells, a piece at a time, checking the rows' numbers as they come:
    in order, and none past Excel's last row."""
    last = 0
    with archive.open(sheet.member) as stream:
        for piece in _pieces(stream, _ROW_END, f"sheet '{sheet.title}'"):
            parsed = _parse_rows(piece, last, keep, shared, convert)
            if parsed.rows.len():
                previous = pl.concat([pl.Series([last], dtype=pl.Int64), parsed.rows])
                if not previous.is_sorted() or previous.n_unique() < previous.len():
                    raise Refused(
                        f"the rows of sheet '{sheet.title}' are out of order or repeated "
                        f"(after row {last:,}), which Excel never writes: it is damaged"
                    )
                if parsed.last_row > EXCEL_MAX_ROWS:
                    raise Refused(
                        f"sheet '{sheet.title}' has a row numbered {parsed.last_row:,}, past "
                        f"Excel's last row ({EXCEL_MAX_ROWS:,}): it was not saved by Excel"
                    )
            last = parsed.last_row
            yield parsed
            if stop_after is not None and last > stop_after:
                return


def _find_header(
    archive: zipfile.ZipFile,
    sheets: list[_Sheet],
    shared: _SharedStrings,
    convert: _Distinct,
    spec: Spec,
) -> tuple[_Sheet, int, list[str]] | None:
    """The sheet, row and names of the row that holds the most specification names, among
    the first rows of each sheet."""
    best: tuple[int, _Sheet, int, list[str]] | None = None
    for sheet in sheets:
        parts = [
            p.cells
            for p in _rows(archive, sheet, EXCEL_MAX_COLUMNS, shared, convert, HEADER_SEARCH_ROWS)
        ]
        head = pl.concat([_empty_cells(), *parts]).filter(pl.col("row") <= HEADER_SEARCH_ROWS)
        for (number,), row in head.sort("row", "col").group_by("row", maintain_order=True):
            texts = dict(zip(row["col"].to_list(), row["text"].to_list(), strict=True))
            width = max(texts) + 1
            names = [(texts.get(i) or "").strip("\ufeff") for i in range(width)]
            while names and not names[-1].strip():
                names.pop()
            hits = header_hits(names, spec)
            filled = sum(1 for n in names if n.strip())
            # Mostly names: a data row can hold a value that reads like a column name.
            if hits and 2 * hits >= filled and (best is None or hits > best[0]):
                best = (hits, sheet, int(number), names)
        if best is not None and best[0] >= len(spec.header):
            break  # every field named: no later sheet can hold a better header row
    return None if best is None else best[1:]


@dataclass
class _Tally:
    """What the data rows tell, summed over the pieces."""

    rows: int = 0
    lines: list[pl.Series] = field(default_factory=list)
    dates: int = 0
    first_date: tuple[int, int] | None = None
    long: int = 0
    first_long: tuple[int, int, int] | None = None  # row, column, length

    def add(self, cells: pl.DataFrame, lines: pl.Series) -> None:
        dates = cells.filter(pl.col("date"))
        if dates.height:
            self.dates += dates.height
            first = dates.sort("row", "col").row(0)
            self.first_date = self.first_date or (first[0], first[1])
        long = cells.filter(pl.col("text").str.len_chars() > LONG_VALUE)
        if long.height:
            self.long += long["row"].n_unique()
            if self.first_long is None:
                first = long.sort("row", "col").row(0)
                self.first_long = (first[0], first[1], len(first[2]))
        self.rows += lines.len()
        self.lines.append(lines)


def read_workbook(path: Path, spec: Spec, tmp: tempfile.TemporaryDirectory[str]) -> ReturnSource:
    """Open the sheet of a workbook that holds the return, every cell as text."""
    if not first_bytes(path, 4).startswith(b"PK\x03\x04"):
        problem = not_text(path)
        if problem is None:
            raise ReturnReadError(
                f"{path}: is a text file, not an Excel workbook, despite its name. "
                "Name it .csv to check it."
            )
        raise ReturnReadError(
            f"{path}: is {problem[0]}, not an Excel workbook (.xlsx). {problem[1]}"
        )
    try:
        with open_archive(path) as archive:
            return _read(path, archive, spec, tmp)
    except Refused as exc:
        raise ReturnReadError(
            f"{path}: is not a readable Excel workbook: {exc}. Open it in Excel and save it "
            "again, or save the return as CSV."
        ) from exc
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        ET.ParseError,
        RuntimeError,
        NotImplementedError,
        struct.error,
        pl.exceptions.PolarsError,
    ) as exc:
        raise ReturnReadError(
            f"{path}: is not a readable Excel workbook ({one_line(exc)}). "
            "Open it in Excel and save it again, or save the return as CSV."
        ) from exc


def _read(
    path: Path, archive: zipfile.ZipFile, spec: Spec, tmp: tempfile.TemporaryDirectory[str]
) -> ReturnSource:
    book = _book(archive)
    if len(book.sheets) > MAX_SHEETS:
        raise Refused(
            f"it has {len(book.sheets):,} sheets; a workbook holding a return has a few (at "
            f"most {MAX_SHEETS} are searched for the header row)"
        )
    sheets = [
        _Sheet(title, member(archive, name, MAX_SHEET_XML_BYTES, f"sheet '{title}'"))
        for title, name in book.sheets
    ]
    convert = _Distinct(book)
    shared = _SharedStrings(archive, book.shared, convert)
    found = _find_header(archive, sheets, shared, convert, spec)
    if found is None:
        titles = ", ".join(f"'{s.title}'" for s in sheets)
        raise ReturnReadError(
            f"{path}: no sheet holds the Release 2 column names in its first "
            f"{HEADER_SEARCH_ROWS} rows (sheets: {titles}). Put the header row (LA Code, "
            "Reporting Period Start Date, ...) above the data, or save the return as CSV."
        )
    sheet, header_row, names = found
    width = len(names)
    mapping, header_findings = match_header(names, spec, line=header_row)
    findings: list[FileFinding] = [
        RULES["FILE_NOT_CSV"].finding(
            kind=f"an Excel workbook (sheet '{sheet.title}', header row {header_row})"
        )
    ]
    if header_row > 1:
        findings.append(
            RULES["HEADER_NOT_FIRST"].finding(
                line=header_row, header=header_row, count=header_row - 1
            )
        )
    findings.extend(header_findings)
    by_field = {target: i for i, target in mapping.items()}
    target = Path(tmp.name) / "sheet.parquet"
    tally = _Tally()
    write = _writer(target, spec)
    try:
        for part in _rows(archive, sheet, width, shared, convert):
            cells = part.cells.filter(pl.col("row") > header_row)
            wide = _wide(cells, width)
            data = wide.filter(
                pl.any_horizontal(
                    pl.col(str(i)).str.strip_chars().str.len_bytes() > 0 for i in range(width)
                )
            )
            tally.add(cells.filter(pl.col("row").is_in(data["row"].implode())), data["row"])
            columns = [
                (pl.col(str(by_field[f])) if f in by_field else pl.lit(None, pl.String)).alias(f)
                for f in spec.header
            ]
            write(data.select(pl.col("row").alias(LINE), *columns))
    finally:
        write(None)
    _tally_findings(tally, names, header_row, findings)
    frame = pl.scan_parquet(target, glob=False)
    return ReturnSource(
        path, frame, names, frozenset(mapping.values()), findings, "n/a", tally.rows, tmp
    )


def _wide(cells: pl.DataFrame, width: int) -> pl.DataFrame:
    """Cells as one row per sheet row and one text column per position ("0", "1", ...)."""
    if cells.height == 0:
        wide = pl.DataFrame(schema={"row": pl.Int64})
    else:
        wide = cells.pivot(on="col", index="row", values="text", aggregate_function="first")
    missing = [pl.lit(None, pl.String).alias(str(i)) for i in range(width) if str(i) not in wide]
    return wide.with_columns(missing).select("row", *[pl.col(str(i)) for i in range(width)])


def _writer(target: Path, spec: Spec) -> Callable[[pl.DataFrame | None], None]:
    """Appends frames to one Parquet file (``None`` closes it; an empty file has the
    schema)."""
    import pyarrow.parquet as pq

    schema = pl.DataFrame(schema={LINE: pl.Int64, **dict.fromkeys(spec.header, pl.String)})
    writer = pq.ParquetWriter(target, schema.to_arrow().schema)

    def write(frame: pl.DataFrame | None) -> None:
        if frame is None:
            writer.close()
        elif frame.height:
            writer.write_table(frame.cast(schema.schema).to_arrow())

    return write


def _tally_findings(
    tally: _Tally, names: list[str], header_row: int, findings: list[FileFinding]
) -> None:
    # Blank rows between the header and the last row of data (Excel leaves empty rows out
    # of the XML, or writes them with empty cells): the gaps between the rows read.
    lines = pl.concat([pl.Series([header_row], dtype=pl.Int64), *tally.lines])
    gaps = pl.DataFrame({"before": lines.head(-1), "after": lines.tail(-1)}).filter(
        pl.col("after") - pl.col("before") > 1
    )
    if gaps.height:
        count = int((gaps["after"] - gaps["before"] - 1).sum())
        findings.append(RULES["BLANK_LINES"].finding(count=count, first=gaps["before"][0] + 1))
    if tally.first_date is not None:
        row_number, column = tally.first_date
        name = names[column] or f"column {column + 1}"
        findings.append(
            RULES["XLSX_DATES_CONVERTED"].finding(field=name, count=tally.dates, first=row_number)
        )
    if tally.first_long is not None:
        row_number, column, length = tally.first_long
        findings.append(
            RULES["FIELD_TOO_LONG"].finding(
                line=row_number,
                field=names[column].strip() or f"column {column + 1}",
                count=tally.long,
                first=row_number,
                limit=LONG_VALUE,
                length=length,
            )
        )
    if tally.rows == 0:
        findings.append(RULES["FILE_HEADER_ONLY"].finding())
