"""The streaming workbook reader reads what Excel and other tools write (issue 13).

openpyxl writes inline strings; Excel and LibreOffice write shared strings, typed numbers
and dates as serial numbers under a date style. These workbooks are built part by part
(``rawxlsx``) the way Excel writes them, with the variations other tools bring (namespace
prefixes, rows and cells without positions, the 1904 date system, rich and phonetic text,
escapes), and each must validate exactly as the CSV of the same rows.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
import rawxlsx
from factory import HEADER, clean_rows, row, write_csv

from cld_polars import validate

ROWS = [*clean_rows(), row("request", 77, Gender="Femal"), row("review", 78)]
EPOCH_1900 = dt.date(1899, 12, 30)
EPOCH_1904 = dt.date(1904, 1, 1)


def _excel_workbook(path: Path, *, date1904: bool = False, variant: str = "") -> Path:
    """The rows as Excel stores them: text in the shared strings, LA Code and NHS Number as
    numbers, dates as serial numbers under a date style (style 1)."""
    strings: dict[str, int] = {}

    def shared(value: str) -> int:
        return strings.setdefault(value, len(strings))

    epoch = EPOCH_1904 if date1904 else EPOCH_1900
    xml_rows = []
    for number, values in enumerate([list(HEADER), *([r[h] for h in HEADER] for r in ROWS)], 1):
        cells = []
        for col, value in enumerate(values):
            ref = f"{rawxlsx.column(col)}{number}"
            if not value:
                if variant == "positionless":
                    cells.append("<c/>")  # without positions, an empty cell must be there
                continue
            if number > 1 and re.fullmatch(r"\d{2}/\d{2}/\d{4}", value):
                day, month, year = map(int, value.split("/"))
                serial = (dt.date(year, month, day) - epoch).days
                cells.append(f'<c r="{ref}" s="1"><v>{serial}</v></c>')
            elif number > 1 and HEADER[col] in ("LA Code", "NHS Number") and value.isdigit():
                cells.append(f'<c r="{ref}"><v>{value}</v></c>')
            else:
                cells.append(f'<c r="{ref}" t="s"><v>{shared(value)}</v></c>')
        xml_rows.append(f'<row r="{number}">{"".join(cells)}</row>')
    texts = [f"<si><t>{escape(s)}</t></si>" for s in strings]
    if variant == "rich":
        # Excel writes formatted text as runs, and Japanese readings as phonetic runs.
        texts = [
            re.sub(r"<t>(.)(.*)</t>", r"<r><t>\1</t></r><r><rPr><b/></rPr><t>\2</t></r>", t)
            + ("<rPh sb='0' eb='1'><t>ヨミ</t></rPh>" if i % 2 else "")
            for i, t in enumerate(texts)
        ]
        texts = [t.replace("</si>", "") + "</si>" for t in texts]
    sheet = "".join(xml_rows)
    if variant == "prefixed":
        sheet = re.sub(r"<(/?)(row|c|v)\b", r"<\1x:\2", sheet)
    if variant == "positionless":
        sheet = re.sub(r' r="[A-Z]*\d+"', "", sheet)  # rows and cells follow each other
    shared_xml = [
        f'<?xml version="1.0"?><sst xmlns="{rawxlsx.MAIN}" count="{len(texts)}">'.encode(),
        "".join(texts).encode(),
        b"</sst>",
    ]
    if variant == "prefixed":
        head = (
            f'<?xml version="1.0"?><x:worksheet xmlns:x="{rawxlsx.MAIN}"><x:sheetData>'
        ).encode()
        parts = [head, sheet.encode(), b"</x:sheetData></x:worksheet>"]
    else:
        parts = list(rawxlsx.sheet([sheet], dimension="A1"))
    book = rawxlsx.write(path, parts, shared=shared_xml)
    if date1904:
        import zipfile

        patched = path.with_suffix(".tmp")
        with zipfile.ZipFile(path) as old, zipfile.ZipFile(patched, "w") as new:
            for item in old.infolist():
                data = old.read(item)
                if item.filename == "xl/workbook.xml":
                    data = data.replace(b"<sheets>", b'<workbookPr date1904="1"/><sheets>')
                new.writestr(item, data)
        patched.replace(path)
    return book


def _rules(path: Path) -> list[dict[str, object]]:
    return json.loads(validate(path).to_json())["rules"]


@pytest.mark.parametrize("variant", ["", "rich", "prefixed", "positionless", "1904"])
def test_an_excel_workbook_validates_as_its_csv(tmp_path: Path, variant: str) -> None:
    csv_rules = _rules(write_csv(tmp_path / "same.csv", ROWS))
    book = _excel_workbook(
        tmp_path / "r.xlsx", date1904=variant == "1904", variant=variant.replace("1904", "")
    )
    report = validate(book)
    assert report.rows == len(ROWS)
    assert json.loads(report.to_json())["rules"] == csv_rules
    codes = {f.code for f in report.file_findings}
    assert {"FILE_NOT_CSV", "XLSX_DATES_CONVERTED"} <= codes
    dates = next(f for f in report.file_findings if f.code == "XLSX_DATES_CONVERTED")
    assert "(first at row 2, 'Reporting Period Start Date')" in dates.message


def test_escapes_are_decoded(tmp_path: Path) -> None:
    """XML entities, numeric references and Excel's _xHHHH_ escapes give the text shown."""
    values = dict(clean_rows()[1])
    cells = []
    for col, name in enumerate(HEADER):
        value = values[name]
        if name == "First Name":
            xml = "Ann &amp; Bo &#233;&#xe9;_x0041__x005F_x0042_"
        elif name == "Last Name":
            xml = "O&apos;Neil &lt;x&gt;"
        elif not value:
            continue
        else:
            xml = escape(value)
        cells.append(f'<c r="{rawxlsx.column(col)}2" t="inlineStr"><is><t>{xml}</t></is></c>')
    book = rawxlsx.write(
        tmp_path / "r.xlsx",
        rawxlsx.sheet([rawxlsx.header_row(), f'<row r="2">{"".join(cells)}</row>']),
    )
    from cld_polars.reader import read_return

    with read_return(book) as source:
        frame = source.frame.collect()
    assert frame["First Name"][0] == "Ann & Bo ééA_x0042_"
    assert frame["Last Name"][0] == "O'Neil <x>"
