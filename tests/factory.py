"""Hand-built clean rows for tests, independent of the project's generator.

Each template is one spec-clean row; tests copy a template, change the field under test and
write the rows to a real CSV in a temporary folder.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Literal

import polars as pl

from cld_polars.spec import load_spec

#: A ``csv.QUOTE_*`` constant, as ``csv.writer`` types its ``quoting``.
Quoting = Literal[0, 1, 2, 3]

HEADER = load_spec().header
PERIOD = {
    "LA Code": "503",
    "Reporting Period Start Date": "01/10/2024",
    "Reporting Period End Date": "30/09/2025",
}


def nhs_number(i: int) -> str:
    """The i-th valid NHS number of a deterministic sequence (Modulus 11)."""
    base = 400_000_000 + i * 13
    while True:
        digits = [int(d) for d in f"{base:09d}"]
        check = 11 - sum(d * w for d, w in zip(digits, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check != 10:
            return f"{base:09d}{check}"
        base += 1


PERSON = {
    **PERIOD,
    "First Name": "Ann",
    "Last Name": "Smith",
    "GP Practice Code": "C83001",
    "Gender": "Female",
    "Ethnicity": "White: Irish",
    "Date of Birth": "01/02/1950",
    "Client Type": "Service user",
    "Primary Support Reason": "Physical support: Personal care support",
    "Postcode": "LN1 1YL",
    "Accommodation Status": "Owner occupier or shared ownership scheme",
    "Employment Status": "Unknown",
    "Has Unpaid Carer": "Yes",
    "Autism Spectrum Disorder (ASD)": "No",
    "Visual Impairment": "No visual impairment",
    "Hearing Impairment": "No hearing impairment",
    "Dementia": "No",
    "Client Funding Status": "Fully social care funded",
}

TEMPLATES: dict[str, dict[str, str]] = {
    "request": {
        **PERSON,
        "Event Type": "Request",
        "Event Start Date": "05/10/2024",
        "Event End Date": "05/10/2024",
        "Event Description": "Adult contact",
        "Event Outcome": "Progress to assessment, review or reassessment",
        "Request: Route of Access": "Community or other route",
    },
    "assessment": {
        **PERSON,
        "Event Type": "Assessment",
        "Event Start Date": "06/11/2024",
        "Event End Date": "20/11/2024",
        "Event Outcome": "Progress to support planning or services",
        "Assessment Type": "Long term assessment",
        "Eligible Needs Identified": "Eligible needs identified",
        "Method of Assessment": "Service user and unpaid carer",
    },
    "financial": {
        **PERSON,
        "Event Type": "Assessment",
        "Event Start Date": "06/12/2024",
        "Event End Date": "10/12/2024",
        "Assessment Type": "Financial assessment",
    },
    "community": {
        **PERSON,
        "Event Type": "Service",
        "Event Start Date": "01/01/2025",
        "Event Outcome": "Continuation of support or services",
        "Service Type": "Long term support: Community",
        "Service Component": "Home support or domiciliary care",
        "Delivery Mechanism": "CASSR managed personal budget",
        "Provider CQC Location ID": "1-123456789",
        "Unit Cost": "18.50",
        "Cost Frequency (Unit Type)": "Hourly",
        "Planned units per week": "10",
    },
    "residential": {
        **PERSON,
        "Accommodation Status": "Registered care home",
        "Event Type": "Service",
        "Event Start Date": "01/02/2024",
        "Event End Date": "28/02/2025",
        "Event Outcome": "NFA: Support ended as planned",
        "Service Type": "Long term support: Residential care",
        "Service Component": "Long term residential care",
        "Unit Cost": "850.00",
        "Cost Frequency (Unit Type)": "Weekly",
    },
    "review": {
        **PERSON,
        "Event Type": "Review",
        "Event Start Date": "01/03/2025",
        "Event End Date": "15/03/2025",
        "Event Outcome": "Continuation of support or services",
        "Review Reason": "Planned review of long term care and support plan",
        "Review Outcomes Achieved": "Fully met",
        "Method of Review": "Service user only",
    },
    "ld": {
        **PERSON,
        "Date of Birth": "14/06/1990",
        "Primary Support Reason": "Learning disability support",
        "Employment Status": "Paid: Less than 16 hours a week",
        "Event Type": "Request",
        "Event Start Date": "05/04/2025",
        "Event End Date": "05/04/2025",
        "Event Outcome": "NFA: Information and advice or signposting",
        "Request: Route of Access": "Planned transition from children's services",
    },
    "deceased": {
        **PERSON,
        "Date of Death": "30/06/2025",
        "Event Type": "Service",
        "Event Start Date": "01/05/2025",
        "Event End Date": "30/06/2025",
        "Event Outcome": "NFA: Deceased",
        "Service Type": "Short term support: ST-Max",
        "Service Component": "Reablement",
        "Delivery Mechanism": "CASSR commissioned support",
    },
    "carer": {
        **PERSON,
        "First Name": "Bob",
        "Gender": "Male",
        "Client Type": "Unpaid carer",
        "Primary Support Reason": "Social support: Support to unpaid carer",
        "Client Funding Status": "",
        "Event Type": "Assessment",
        "Event Start Date": "06/07/2025",
        "Event End Date": "20/07/2025",
        "Event Outcome": "Progress to support planning or services",
        "Assessment Type": "Short term assessment",
        "Method of Assessment": "Unpaid carer only",
        "Total Hrs Caring per week": "50 or more hours a week",
        "No. of adults being cared for": "3",
        "Adult 1 Linked Person_ID": "SU1",
        "Adult 2 Linked Person_ID": "SU2",
        "Adult 3 Linked Person_ID": "SU3",
    },
    "uckba": {
        **PERSON,
        "First Name": "Cath",
        "Client Type": "Unpaid carer known by association",
        "Primary Support Reason": "Social support: Support to unpaid carer",
        "Client Funding Status": "",
        "Total Hrs Caring per week": "20 to 34 hours a week",
        "No. of adults being cared for": "1",
        "Adult 1 Linked Person_ID": "SU1",
    },
}

#: Service users that the carer templates link to; always written first.
LINK_TARGETS = [
    {
        **TEMPLATES["request"],
        "LA Person Unique Identifier": f"SU{i}",
        "Event Reference": f"L{i}",
        "NHS Number": nhs_number(900 + i),
        "Event Start Date": f"{10 + i:02d}/0{i + 5}/2025",
        "Event End Date": f"{10 + i:02d}/0{i + 5}/2025",
    }
    for i in (1, 2, 3)
]


def row(template: str, i: int, **changes: str) -> dict[str, str]:
    """A clean row from a template, as person ``P{i}`` with event ``E{i}``, plus changes.

    Field names in ``changes`` use the spec names (pass them with ``**{"Event Type": ...}``).
    """
    out = {name: "" for name in HEADER}
    out.update(TEMPLATES[template])
    out["LA Person Unique Identifier"] = f"P{i}"
    out["NHS Number"] = nhs_number(i)
    if out.get("Event Type"):
        out["Event Reference"] = f"E{i}"
    out.update(changes)
    return out


def write_csv(
    path: Path,
    rows: Iterable[Mapping[str, str]],
    header: Iterable[str] = HEADER,
    encoding: str = "utf-8",
    newline: str = "\n",
) -> Path:
    header = list(header)
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.writer(handle, lineterminator=newline)
        writer.writerow(header)
        for r in rows:
            writer.writerow([r.get(h, "") for h in header])
    return path


def clean_rows() -> list[dict[str, str]]:
    """One clean row per template (plus the link targets)."""
    rows = [{name: r.get(name, "") for name in HEADER} for r in LINK_TARGETS]
    rows += [row(name, 100 + n) for n, name in enumerate(TEMPLATES)]
    return rows


def read_rows(path: Path) -> list[dict[str, str]]:
    """A return as plain dicts of text, read with the csv module: the independent reading the
    summary and workbook tests count from (no Polars, nothing of the package)."""
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def clean_csv_bytes(newline: str = "\n") -> bytes:
    """The clean rows as the bytes of a UTF-8 CSV (for tests that damage a file byte-wise)."""
    import io

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator=newline)
    writer.writerow(HEADER)
    for r in clean_rows():
        writer.writerow([r.get(h, "") for h in HEADER])
    return buffer.getvalue().encode("utf-8")


def write_workbook(
    path: Path,
    rows: Iterable[Mapping[str, str]],
    *,
    title_rows: int = 0,
    excel_dates: bool = True,
    sheet: str = "Data",
) -> Path:
    """The rows in an .xlsx sheet as an analyst keeps them: dates and numbers typed by Excel.

    With ``excel_dates``, every dd/mm/yyyy value becomes an Excel date and LA Code, NHS Number
    and Unit Cost become numbers. ``title_rows`` puts a template's title rows above the header.
    An 'Instructions' sheet comes first, as in a council's template.
    """
    import datetime as dt
    import re

    import openpyxl

    book = openpyxl.Workbook()
    book.active.title = "Instructions"
    book.active["A1"] = "Paste the return into the Data sheet."
    data = book.create_sheet(sheet)
    for i in range(title_rows):
        data.append([f"Client Level Data return, title row {i + 1}"])
    data.append(list(HEADER))
    for r in rows:
        values: list[object] = []
        for h in HEADER:
            value: object = r.get(h, "") or None
            if excel_dates and isinstance(value, str):
                if re.fullmatch(r"\d{2}/\d{2}/\d{4}", value):
                    day, month, year = map(int, value.split("/"))
                    value = dt.datetime(year, month, day)
                elif h in ("LA Code", "NHS Number") and value.isdigit():
                    value = int(value)
                elif h == "Unit Cost" and re.fullmatch(r"\d+(\.\d+)?", value):
                    value = float(value)
            values.append(value)
        data.append(values)
    book.save(path)
    return path


def write_cp1252(frame: pl.DataFrame, path: Path) -> Path:
    """A frame (of a generated return) written as Windows-1252 with an accented first name
    every 40 rows: the reader decodes it into a temporary copy (names, NHS numbers), the
    copy a signal must not leave behind."""
    import io

    buffer = io.StringIO(newline="")
    frame.write_csv(buffer)
    rows = list(csv.reader(io.StringIO(buffer.getvalue(), newline="")))
    first = HEADER.index("First Name")
    for r in rows[1::40]:
        r[first] = "Zoë"
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(out.getvalue().encode("cp1252"))
    return path
