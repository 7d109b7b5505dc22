"""The Central view sheet, read back with openpyxl: in the validation workbook (after the
Summary) and in ``cld-validate central --xlsx`` (the same sheet, built by the same code), its
numbers against ``report.central``'s figures, the merged records of a hand-made return with
its links to Rows to fix, and the paragraph shown when the return states no period end."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import openpyxl
import polars as pl
import pytest
from factory import row, write_csv
from openpyxl.cell import Cell
from openpyxl.utils import range_boundaries
from openpyxl.worksheet.worksheet import Worksheet
from workbook_checks import check_workbook, resolve

from cld_polars import CentralView, Report, validate
from cld_polars.central import contract
from cld_polars.central.derive import BUCKETS
from cld_polars.central.sheet import (
    EVENT_TYPES,
    FINDINGS_HEADER,
    KEPT_FINDINGS,
    MERGED_TITLE,
    MONTHS_TITLE,
    NO_PERSON_TITLE,
    SERVICES_TITLE,
)
from cld_polars.cli import main, sample_path
from cld_polars.sample import misread_return
from cld_polars.spec import load_spec

SHEET = "Central view"


def table_cells(ws: Worksheet) -> dict[str, list[dict[str, Cell]]]:
    """The sheet's titled tables as rows of {header: cell}; every table's title is two rows
    above its header (the note between). A table with no rows shows one line, not a table."""
    out: dict[str, list[dict[str, Cell]]] = {}
    for table in ws.tables.values():
        min_col, min_row, max_col, max_row = range_boundaries(table.ref)
        header = [ws.cell(min_row, c).value for c in range(min_col, max_col + 1)]
        title = ws.cell(min_row - 2, 1).value
        out[str(title)] = [
            dict(zip(header, (ws.cell(r, c) for c in range(min_col, max_col + 1)), strict=True))
            for r in range(min_row + 1, max_row + 1)
        ]
    return out


def tables(ws: Worksheet) -> dict[str, list[dict[str, Any]]]:
    """:func:`table_cells`' values."""
    return {
        title: [{h: c.value for h, c in r.items()} for r in rows]
        for title, rows in table_cells(ws).items()
    }


def facts(ws: Worksheet) -> dict[str, Any]:
    """The label / value lines under 'At a glance'."""
    out: dict[str, Any] = {}
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] == "At a glance") + 1
    for r in rows[start:]:
        if r[0] is None or r[1] is None:
            break
        out[str(r[0])] = r[1]
    return out


def text(ws: Worksheet) -> str:
    return " ".join(str(v) for r in ws.iter_rows(values_only=True) for v in r if v is not None)


def day(value: Any) -> dt.date | None:
    return value.date() if isinstance(value, dt.datetime) else value


def assert_matches_figures(ws: Worksheet, view: CentralView) -> None:
    """Every number of the sheet's tables is the view's figure (contract keys)."""
    f = view.figures
    got = tables(ws)
    glance = facts(ws)
    assert glance["Rows in the return"] == f["rows_in"]
    assert glance["Dropped by the period filter"] == sum(
        f["events_dropped_by_period_filter"].values()
    )
    assert glance["Dropped: no person ID"] == f["person_id"]["rows_dropped_no_person_id"]
    assert glance["Merged as repeats of an event"] == sum(f["rows_merged_by_dedup"].values())
    assert glance["Unique events DHSC counts"] == sum(f["unique_events"].values())
    assert glance["People"] == f["person_id"]["people"]
    assert glance["Selected for its reporting period"] == (
        "Yes" if f["selected_for_period"] else "No"
    )
    assert day(glance["Import date"]) == view.import_date

    periods = {r["Period"]: r for r in got["Reporting period"]}
    assert (
        day(periods["Stated in the return"]["Start"]),
        day(periods["Stated in the return"]["End"]),
    ) == view.stated_period
    derived = periods["Derived from the event end dates"]
    assert (day(derived["Start"]), day(derived["End"])) == view.derived_period
    assert derived["Months"] == f["derived_period_length_months"]

    months = {day(r["Month"]): r for r in got[MONTHS_TITLE]}
    for m in view.months.iter_rows(named=True):
        shown = months.pop(m["month"])
        assert shown["Events ending"] == m["events"]
        assert shown["Event types"] == m["event_types"]
        assert shown["Share of events"] == pytest.approx(m["share"])
        assert shown["Month counts"] == ("Yes" if m["qualifies"] else "No")
    assert all(r["Events ending"] == 0 for r in months.values())  # the gaps, at 0

    by_type = {r["Event type"]: r for r in got["Rows by event type"]}
    for b in BUCKETS:
        shown = by_type[EVENT_TYPES[b]]
        assert shown["Rows in the period"] == f["events_in_period"][b]
        assert shown["Dropped by the period filter"] == f["events_dropped_by_period_filter"][b]
        assert shown["Unique events"] == f["unique_events"][b]
        assert shown["Merged as repeats"] == f["rows_merged_by_dedup"][b]

    dropped = got.get("Rows dropped by the period filter", [])
    assert sum(r["Rows"] for r in dropped) == sum(f["events_dropped_by_period_filter"].values())

    people = {r["Person ID from"]: r for r in got["Person IDs, rows in the period"]}
    assert people["NHS Number"]["Rows"] == f["person_id"]["rows_from_nhs_number"]
    assert people["All"]["People"] == f["person_id"]["people"]

    spec = load_spec()
    services = [r["Services"] for r in got[SERVICES_TITLE]]
    assert services == list(f["services_by_service_type"].values())
    assert len(services) == len(spec.values("Service Type")) + 1
    lts = got["People in long-term support at the period end"]
    assert lts[-1]["People"] == f["people_in_long_term_support_at_period_end"]["total"]
    for title, key in (
        ("Requests by route of access", "requests_by_route_of_access"),
        ("Requests by outcome group", "requests_by_outcome_grouped"),
        ("Assessments by type", "assessments_by_type"),
        ("Reviews by reason", "reviews_by_reason"),
        ("Reviews by type", "reviews_by_review_type"),
    ):
        assert [r["Count"] for r in got[title]] == list(f[key].values()), title
    costs = got["Costs in the quarter"]
    total = f["costs_total"]
    assert costs[-1]["Services"] == total["services"]
    assert costs[-1]["Weekly cost, total (£)"] == pytest.approx(total["weekly_cost_total"])
    assert costs[-1]["Cost in the quarter (£)"] == pytest.approx(total["period_cost_total"])
    merged = got.get(MERGED_TITLE, [])
    assert [r["Line"] for r in merged] == sorted(view.merged["line"].to_list())


# --- the validation workbook --------------------------------------------------------------


def test_the_samples_workbook_has_it_after_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "sample_report.xlsx"
    assert main(["--sample", "--xlsx", str(out), "--quiet"]) == 1
    charts = check_workbook(out)
    assert charts[SHEET] == [MONTHS_TITLE, SERVICES_TITLE]
    book = openpyxl.load_workbook(out)
    assert book.sheetnames[1:3] == ["Summary", SHEET]
    report = validate(sample_path())
    assert report.central is not None
    assert_matches_figures(book[SHEET], report.central)
    said = text(book[SHEET])
    assert "DHSC derives the same period" in said
    # No record is merged, but the (empty) list has the validation workbook's columns.
    assert "LA Person Unique Identifier Event Reference" in said
    assert "also gives each row's" not in said


#: The validation report, its workbook and the central command's workbook of one return.
Books = tuple[Report, Path, Path]


@pytest.fixture(scope="module")
def messy_books(tmp_path_factory: pytest.TempPathFactory) -> Books:
    folder = tmp_path_factory.mktemp("central_sheet")
    source = folder / "misread.csv"
    misread_return(2000, seed=8).write_csv(source)
    report = validate(source)
    validation = report.to_excel(folder / "report.xlsx").path
    standalone = folder / "central.xlsx"
    assert main(["central", str(source), "--xlsx", str(standalone), "--quiet"]) == 0
    return report, validation, standalone


def test_a_generated_returns_sheet_matches_the_view(messy_books: Books) -> None:
    report, validation, _ = messy_books
    view = report.central
    assert view is not None
    assert view.derived_period[0] == dt.date(2024, 10, 1)  # not the stated April
    assert view.merged.height >= 3 and view.no_person_id.height >= 3
    charts = check_workbook(validation)
    assert charts[SHEET] == [MONTHS_TITLE, SERVICES_TITLE]
    book = openpyxl.load_workbook(validation)
    assert book.sheetnames.index(SHEET) == book.sheetnames.index("Summary") + 1
    ws = book[SHEET]
    assert_matches_figures(ws, view)
    said = text(ws)
    assert "DHSC will take your period as 1 October 2024" in said
    assert "DHSC would not select this return" in said
    # The months of the derived period are the dark bars of the chart beside their table.
    months = tables(ws)[MONTHS_TITLE]
    chart = next(c for c in ws._charts if "Events ending" in str(c.title.tx.rich.p[0].r[0].t))
    dark = [p.idx for p in chart.series[0].dPt]
    assert dark == [i for i, r in enumerate(months) if r["In the derived period"] == "Yes"]
    assert months[0]["Events ending"] == 0 and months[0]["In the derived period"] == "No"
    # Each listed row is identified as on Rows to fix, and its findings are linked.
    merged = tables(ws)[MERGED_TITLE]
    ids = view.identifiers
    assert ids.height <= 2 * view.merged.height + view.no_person_id.height  # bounded
    refs = dict(zip(ids["line"], ids["event_reference"], strict=True))
    findings = report.finding_rows
    for r in merged:
        assert r["Event Reference"] == refs[r["Line"]]
        assert r["Kept: Event Reference"] == refs[r["Kept instead: line"]]
    # A planted repeat is the later row of an identical pair: kept, the original merged.
    planted = [r for r in merged if r["Kept: Event Reference"] == f"{r['Event Reference']}-R"]
    assert planted and all(r["Why that row is kept"] == "later in the file" for r in planted)
    # The repeat kept is the row Rows to fix flags (DUPLICATE_ROW): its findings are linked.
    rows_to_fix = book["Rows to fix"]
    for cells in table_cells(ws)[MERGED_TITLE]:
        for line, header in (("Line", FINDINGS_HEADER), ("Kept instead: line", KEPT_FINDINGS)):
            link, count = cells[header].hyperlink, cells[header].value
            want = findings.filter(pl.col("line") == cells[line].value).height
            assert count == want
            assert (link is not None) == (want > 0)
            if link is not None:
                sheet, _, at, _, _ = resolve(link.location)
                assert sheet == "Rows to fix"
                assert rows_to_fix.cell(at, 1).value == cells[line].value
                assert rows_to_fix.cell(at - 1, 1).value != cells[line].value  # the first
    assert all(r[KEPT_FINDINGS] >= 1 for r in planted)
    no_person = tables(ws)[NO_PERSON_TITLE]
    assert [r["Line"] for r in no_person] == sorted(view.no_person_id["line"].to_list())
    for r in no_person:  # a blank person ID is an error: each has findings, linked
        assert r[FINDINGS_HEADER] == findings.filter(pl.col("line") == r["Line"]).height > 0


def test_the_central_command_writes_the_same_sheet(messy_books: Books) -> None:
    report, validation, standalone = messy_books
    charts = check_workbook(standalone)
    assert charts == {"Instructions": [], SHEET: [MONTHS_TITLE, SERVICES_TITLE]}
    book = openpyxl.load_workbook(standalone)
    assert book.sheetnames == ["Instructions", SHEET]
    ws = book[SHEET]
    assert report.central is not None
    assert_matches_figures(ws, report.central)
    ours, theirs = tables(ws), tables(openpyxl.load_workbook(validation)[SHEET])
    assert ours.keys() == theirs.keys()
    for title, rows in ours.items():  # the validation's lists add identifiers and findings
        assert [{k: r[k] for k in row} for r, row in zip(theirs[title], rows, strict=True)] == rows
    assert "also gives each row's LA Person Unique Identifier" in text(ws)
    instructions = text(book["Instructions"])
    assert "cld-validate central" in instructions and "--import-date 2025-11-01" in instructions
    links = {c.value: c.hyperlink.location for c in book["Instructions"]["A"] if c.hyperlink}
    assert links == {SHEET: f"'{SHEET}'!A1"}


# --- a hand-made return ---------------------------------------------------------------------


def _request(i: int, end: str, **changes: str) -> dict[str, str]:
    return row("request", i, **{"Event Start Date": end, "Event End Date": end, **changes})


def test_merged_records_listed_with_their_lines_and_links(tmp_path: Path) -> None:
    # Lines 2 and 3 are one request to DHSC (same LA code, person, dates, client type and
    # route): line 2's outcome is 2nd in DHSC's hierarchy, line 3's 'NFA: Other' 17th, so
    # line 2 is kept. Line 3 also has an invalid Gender: a finding on Rows to fix. Line 4 is
    # the same person's request on another day. Line 5 has no NHS Number and no LA Person
    # Unique Identifier: dropped, and two errors (the blank identifier is mandatory).
    rows = [
        _request(1, "05/10/2024"),
        _request(1, "05/10/2024", **{"Event Outcome": "NFA: Other", "Event Reference": "E9"})
        | {"Gender": "Robot"},
        _request(1, "06/10/2024", **{"Event Reference": "E4"}),
        _request(2, "07/10/2024", **{"NHS Number": "", "LA Person Unique Identifier": ""}),
    ]
    path = write_csv(tmp_path / "r.csv", rows)
    report = validate(path)
    out = report.to_excel(tmp_path / "r.xlsx").path
    check_workbook(out)
    book = openpyxl.load_workbook(out)
    ws = book[SHEET]
    merged = tables(ws)[MERGED_TITLE]
    assert [
        {k: v for k, v in r.items() if "Date" not in k and "date" not in k} for r in merged
    ] == [
        {
            "Event type": "Request",
            "Line": 3,
            "LA Person Unique Identifier": "P1",
            "Event Reference": "E9",
            FINDINGS_HEADER: 1,
            "Kept instead: line": 2,
            "Kept: LA Person Unique Identifier": "P1",
            "Kept: Event Reference": "E1",
            KEPT_FINDINGS: 0,
            "Why that row is kept": "outcome higher in the hierarchy",
        }
    ]
    assert table_cells(ws)[MERGED_TITLE][0][KEPT_FINDINGS].hyperlink is None  # none to go to
    assert day(merged[0]["Event Start Date"]) == dt.date(2024, 10, 5)
    # The findings cell links to line 3's finding on Rows to fix.
    link = table_cells(ws)[MERGED_TITLE][0][FINDINGS_HEADER].hyperlink
    assert link is not None
    sheet, column, at, _, _ = resolve(link.location)
    assert (sheet, column) == ("Rows to fix", 1)
    assert book["Rows to fix"].cell(at, 1).value == 3
    assert book["Rows to fix"].cell(at, 5).value == "Gender"
    no_person = tables(ws)[NO_PERSON_TITLE]
    assert no_person == [
        {"Event type": "Request", "Line": 5, "Event Reference": "E2", FINDINGS_HEADER: 2}
    ]


def test_long_lists_are_cut_and_say_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(contract, "LISTED_ROWS", 2)
    rows = [_request(1, "05/10/2024", **{"Event Reference": f"E{i}"}) for i in range(5)]
    report = validate(write_csv(tmp_path / "r.csv", rows))
    assert report.central is not None and report.central.merged.height == 4
    out = report.to_excel(tmp_path / "r.xlsx").path
    ws = openpyxl.load_workbook(out)[SHEET]
    merged = tables(ws)[MERGED_TITLE]
    assert [r["Line"] for r in merged] == [2, 3]  # the first, in line order
    assert "The first 2 of 4" in text(ws)
    assert {r["Kept instead: line"] for r in merged} == {6}  # the later row, kept


def test_no_stated_period_end_shows_how_to_get_the_view(tmp_path: Path) -> None:
    rows = [
        _request(1, "05/10/2024", **{"Reporting Period End Date": ""}),
        _request(2, "05/11/2024", **{"Reporting Period End Date": ""}),
    ]
    path = write_csv(tmp_path / "r.csv", rows)
    report = validate(path)
    assert report.central is None and report.central_problem
    out = report.to_excel(tmp_path / "r.xlsx").path
    check_workbook(out)
    ws = openpyxl.load_workbook(out)[SHEET]
    assert not ws.tables
    paragraphs = [r[0] for r in ws.iter_rows(values_only=True) if r[0]]
    assert len(paragraphs) == 2  # the title and one paragraph
    said = paragraphs[1]
    assert "no valid Reporting Period End Date" in said
    assert f'cld-validate central "{path}" --import-date YYYY-MM-DD' in said
