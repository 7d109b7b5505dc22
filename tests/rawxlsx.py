"""Workbooks written part by part, for what no spreadsheet program writes on purpose.

openpyxl writes well-formed workbooks only; the hostile-input tests and the benchmark need
workbooks built like those other tools (or attackers) make: a stale ``<dimension>``, a cell
of gigabytes, padding between tags, millions of shared strings, rows past Excel's limit.
Parts are streamed into the ZIP archive (deflated, ZIP64 where needed), so a bomb of many
gigabytes once decompressed is built in constant memory.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from factory import HEADER

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/></Types>'
)
ROOT_RELS = (
    f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}">'
    f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
#: Cell style 1 shows a date (number format 14, m/d/yyyy), as Excel stores typed dates.
STYLES = (
    f'<?xml version="1.0" encoding="UTF-8"?><styleSheet xmlns="{MAIN}">'
    '<cellXfs count="2"><xf numFmtId="0"/><xf numFmtId="14" applyNumberFormat="1"/></cellXfs>'
    "</styleSheet>"
)


def column(i: int) -> str:
    """Excel's letters for a 0-based column."""
    name, n = "", i + 1
    while n:
        n, rest = divmod(n - 1, 26)
        name = chr(65 + rest) + name
    return name


def cell(row: int, col: int, value: str) -> str:
    """An inline-string cell (no shared strings needed)."""
    if not value:
        return ""
    return f'<c r="{column(col)}{row}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'


def row_xml(number: int, values: Iterable[str]) -> str:
    return (
        f'<row r="{number}">'
        + "".join(cell(number, i, v) for i, v in enumerate(values))
        + ("</row>")
    )


def sheet(rows: Iterable[str], dimension: str = "A1") -> Iterator[bytes]:
    """A sheet's XML from row elements, with a ``<dimension>`` that may be stale."""
    yield (
        f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN}" '
        f'xmlns:r="{REL}"><dimension ref="{dimension}"/><sheetData>'
    ).encode()
    for row in rows:
        yield row.encode()
    yield b"</sheetData></worksheet>"


def shared_strings(values: Iterable[str], count: int) -> Iterator[bytes]:
    yield (
        f'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="{MAIN}" count="{count}" '
        f'uniqueCount="{count}">'
    ).encode()
    batch: list[str] = []
    for value in values:
        batch.append(f"<si><t>{escape(value)}</t></si>")
        if len(batch) == 10_000:
            yield "".join(batch).encode()
            batch = []
    yield ("".join(batch) + "</sst>").encode()


def header_row() -> str:
    return row_xml(1, HEADER)


def write(
    path: Path,
    sheet_xml: Iterable[bytes],
    shared: Iterable[bytes] | None = None,
    styles: str | Iterable[bytes] = STYLES,
    level: int = 6,
    extra_sheets: Sequence[Iterable[bytes]] = (),
) -> Path:
    """A workbook of one sheet ('Data'), after ``extra_sheets`` ('S1', 'S2' ...), the parts
    streamed into the archive (``styles`` too, when given as pieces)."""
    rels = [f'<Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/sheet1.xml"/>']
    rels.append(f'<Relationship Id="rId2" Type="{REL}/styles" Target="styles.xml"/>')
    if shared is not None:
        rels.append(
            f'<Relationship Id="rId3" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
        )
    entries = []
    for i in range(1, len(extra_sheets) + 1):
        rels.append(
            f'<Relationship Id="rIdS{i}" Type="{REL}/worksheet" Target="worksheets/s{i}.xml"/>'
        )
        entries.append(f'<sheet name="S{i}" sheetId="{i + 1}" r:id="rIdS{i}"/>')
    entries.append('<sheet name="Data" sheetId="1" r:id="rId1"/>')
    workbook = (
        f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{REL}">'
        f"<sheets>{''.join(entries)}</sheets></workbook>"
    )
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}">'
            + "".join(rels)
            + "</Relationships>",
        )
        if isinstance(styles, str):
            archive.writestr("xl/styles.xml", styles)
        else:
            _stream(archive, "xl/styles.xml", styles)
        _stream(archive, "xl/worksheets/sheet1.xml", sheet_xml)
        for i, extra in enumerate(extra_sheets, 1):
            _stream(archive, f"xl/worksheets/s{i}.xml", extra)
        if shared is not None:
            _stream(archive, "xl/sharedStrings.xml", shared)
    return path


def _stream(archive: zipfile.ZipFile, name: str, parts: Iterable[bytes]) -> None:
    with archive.open(name, "w", force_zip64=True) as handle:
        for part in parts:
            handle.write(part)
