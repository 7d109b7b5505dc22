"""The central view at the edges of DHSC's rules: period boundaries, exact thresholds, the
service fields of the unique-event key, the long-term-support test's ends, identifiers that
differ only in spacing or case. Hand-made returns, every figure worked out from the SQL in the
comments (audit of issue 15 against central-view-contract.md).

Every return states 01/10/2024 to 30/09/2025 (factory.PERIOD): import date 2025-11-01,
reporting period 2024-10-01 to 2025-09-30, costs quarter 2025-07-01 to 2025-09-30.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from factory import row, write_csv

from cld_polars import central
from cld_polars.central import CentralError
from cld_polars.cli import main

TYPES = {"Request": "request", "Assessment": "assessment", "Service": "residential"}
TYPES["Review"] = "review"
ALL = tuple(TYPES)


def _request(i: int, day: str, **changes: str) -> dict[str, str]:
    return row("request", i, **{"Event Start Date": day, "Event End Date": day, **changes})


def _service(i: int, **changes: str) -> dict[str, str]:
    """An open long-term community service from 01/01/2025 costing 100.00 a week."""
    base = {
        "Event Start Date": "01/01/2025",
        "Event End Date": "",
        "Unit Cost": "100",
        "Cost Frequency (Unit Type)": "Weekly",
        "Planned units per week": "",
    }
    return row("community", i, **{**base, **changes})


def _month(
    month: int, year: int, first: int, types: tuple[str, ...], n: int
) -> list[dict[str, str]]:
    """n events ending on the 10th of a month, cycling through the event types."""
    day = f"10/{month:02d}/{year}"
    return [
        row(
            TYPES[types[k % len(types)]],
            first + k,
            **{"Event Start Date": day, "Event End Date": day},
        )
        for k in range(n)
    ]


def test_period_boundaries_and_dates_of_death(tmp_path: Path) -> None:
    # FilterToEventsInPeriod lines 132-152, period 2024-10-01 .. 2025-09-30:
    rows = [
        _request(1, "01/10/2024"),  # line 2: ends on the period start: kept
        _request(2, "30/09/2025"),  # line 3: ends on the period end: kept
        _request(3, "30/09/2024"),  # line 4: the day before: dropped
        _request(4, "01/10/2025"),  # line 5: the day after: dropped
        # line 6: a service starting on the period end, open: kept (start <= end)
        _service(5, **{"Event Start Date": "30/09/2025"}),
        # line 7: starting the day after: dropped
        _service(6, **{"Event Start Date": "01/10/2025"}),
        # line 8: ending on the period start: kept; line 9: the day before: dropped
        _service(7, **{"Event Start Date": "01/01/2024", "Event End Date": "01/10/2024"}),
        _service(8, **{"Event Start Date": "01/01/2024", "Event End Date": "30/09/2024"}),
        # line 10: died on the period start: DoD >= period start: kept, end = DoD
        _service(9, **{"Event Start Date": "01/01/2024", "Date of Death": "01/10/2024"}),
        # line 11: died the day before: dropped
        _service(10, **{"Event Start Date": "01/01/2024", "Date of Death": "30/09/2024"}),
        # line 12: died on the day it started, no end: DoD > start fails, so the end stays
        # NULL (open), and DoD >= start keeps it
        _service(11, **{"Event Start Date": "01/03/2025", "Date of Death": "01/03/2025"}),
        # line 13: died the day before it started: dropped
        _service(12, **{"Event Start Date": "01/03/2025", "Date of Death": "28/02/2025"}),
        # line 14: a request with no end date and a later death: end = DoD 05/03/2025: kept
        _request(13, "", **{"Event Start Date": "01/03/2025", "Date of Death": "05/03/2025"}),
        # line 15: a request ending after the period, the person died within it: end = DoD
        _request(
            14, "05/10/2025", **{"Event Start Date": "01/09/2025", "Date of Death": "20/09/2025"}
        ),
    ]
    view = central(write_csv(tmp_path / "r.csv", rows))
    assert view["events_in_period"]["request"] == 4  # lines 2, 3, 14, 15
    assert view["events_in_period"]["service"] == 4  # lines 6, 8, 10, 12
    assert view["events_dropped_by_period_filter"]["request"] == 2  # lines 4, 5
    assert view["events_dropped_by_period_filter"]["service"] == 4  # lines 7, 9, 11, 13
    # Open on 30/09/2025: line 6 (started that day) and line 12 (still open); line 10 ended
    # on 01/10/2024 (the death), line 8 on 01/10/2024.
    assert view["people_in_long_term_support_at_period_end"]["total"] == 2
    ends = {r["line"]: r["end"] for r in view.unique_events.collect().to_dicts()}
    assert ends[10].isoformat() == "2024-10-01" and ends[12] is None
    assert ends[14].isoformat() == "2025-03-05" and ends[15].isoformat() == "2025-09-20"


def test_a_month_with_exactly_2_percent_and_exactly_the_types_needed_counts(
    tmp_path: Path,
) -> None:
    # Oct 2024 to Mar 2025: 6 months x 24 events of all 4 types = 144. Apr 2025: 3 events of
    # 3 types; May 2025: 2 events of 2 types; Jun 2025: 1 request. N = 144 + 3 + 2 + 1 = 150,
    # T = 4. April: 100 x 3 = 300 >= 2 x 150 = 300 (exactly 2%) and 3 types >= T - 1 = 3
    # (exactly): it qualifies. May: 200 < 300. June: 100 < 300. Derived period
    # 2024-10-01 .. 2025-04-30 (DATEDIFF 211 days / 30.436875 = 6.93 -> 7 months).
    rows = []
    for k, (month, year) in enumerate(
        [(10, 2024), (11, 2024), (12, 2024), (1, 2025), (2, 2025), (3, 2025)]
    ):
        rows += _month(month, year, 1000 + 100 * k, ALL, 24)
    rows += _month(4, 2025, 3000, ("Request", "Assessment", "Service"), 3)
    rows += _month(5, 2025, 4000, ("Request", "Assessment"), 2)
    rows += _month(6, 2025, 5000, ("Request",), 1)
    view = central(write_csv(tmp_path / "r.csv", rows))
    assert view["derived_period"] == {"start": "2024-10-01", "end": "2025-04-30"}
    assert view["derived_period_length_months"] == 7
    assert view["derived_period_inputs"] == {
        "events_ending_before_import_month": 150,
        "event_types_in_file": 4,
        "months_with_events": 9,
        "months_meeting_thresholds": 7,
        "under_100_events": False,
    }
    months = {r["month"].isoformat(): r for r in view.months.to_dicts()}
    assert months["2025-04-01"]["meets_share"] and months["2025-04-01"]["meets_types"]
    assert not months["2025-05-01"]["meets_share"]


def test_events_ending_in_the_import_month_or_later_are_not_counted(tmp_path: Path) -> None:
    # Import date 2025-11-01: only end dates before 2025-11-01 count. 4 end in Sep 2025, 4 in
    # Oct 2025, 4 in Nov 2025 (not counted). N = 8 < 100: every month qualifies, so the
    # derived period is 2025-09-01 .. 2025-10-31, across the stated end.
    rows = _month(9, 2025, 1, ALL, 4) + _month(10, 2025, 10, ALL, 4) + _month(11, 2025, 20, ALL, 4)
    view = central(write_csv(tmp_path / "r.csv", rows))
    assert view["derived_period"] == {"start": "2025-09-01", "end": "2025-10-31"}
    assert view["derived_period_inputs"]["events_ending_before_import_month"] == 8
    assert view["derived_period_inputs"]["months_with_events"] == 2


def test_the_service_fields_of_the_unique_event_key(tmp_path: Path) -> None:
    # GetUniqueEvents lines 65-77 ('Single'): services are one event when Der_Unique_Event_Ref
    # and ISNULL(cleaned delivery mechanism, ''), Unit_Cost as NUMERIC(18,2),
    # ISNULL(cleaned frequency, ''), planned units as NUMERIC(18,2) are all equal; the end
    # date is not in a service's key. Person k's rows:
    rows = [
        # p1 (lines 2-4): 100 and 100.001 are both 100.00: one event; 100.01 another.
        _service(1),
        _service(1, **{"Unit Cost": "100.001"}),
        _service(1, **{"Unit Cost": "100.01"}),
        # p2 (lines 5-7): 'foo', 'bar' and blank all clean to NULL -> '': one event.
        _service(2, **{"Delivery Mechanism": "foo"}),
        _service(2, **{"Delivery Mechanism": "bar"}),
        _service(2, **{"Delivery Mechanism": ""}),
        # p3 (lines 8-9): planned units '' (NULL -> '') vs '0' ('0.00'): two events;
        # '0' and '0.00' (line 10) are one.
        _service(3, **{"Planned units per week": ""}),
        _service(3, **{"Planned units per week": "0"}),
        _service(3, **{"Planned units per week": "0.00"}),
        # p4 (lines 11-13): other end dates, one event; the kept record is the one ending
        # 31/12/9999, which ranks above an open one (NULL ranks as 9999-01-01).
        _service(4, **{"Event End Date": "01/06/2025"}),
        _service(4),
        _service(4, **{"Event End Date": "31/12/9999"}),
        # p5 (lines 14-16): Service Component is raw: 'foo' and 'FOO ' are one (collation,
        # trimmed), 'bar' another.
        _service(5, **{"Service Component": "foo"}),
        _service(5, **{"Service Component": "FOO "}),
        _service(5, **{"Service Component": "bar"}),
    ]
    view = central(write_csv(tmp_path / "r.csv", rows))
    # Events: p1 2, p2 1, p3 2, p4 1, p5 2 = 8 of 15 rows.
    assert view["unique_events"]["service"] == 8
    assert view["rows_merged_by_dedup"]["service"] == 7
    kept = dict(view.merged.select("line", "kept_line").iter_rows())
    assert kept == {2: 3, 5: 7, 6: 7, 9: 10, 11: 13, 12: 13, 14: 15}
    # In long-term support on 30/09/2025: all five (p4's kept record ends 31/12/9999).
    assert view["people_in_long_term_support_at_period_end"]["total"] == 5


def test_long_term_support_flag_at_the_ends_of_a_service(tmp_path: Path) -> None:
    # 3.Requests_fact.sql lines 152-165: 'Yes' when the request starts BETWEEN the service's
    # start and end (inclusive), or on/after the start of an open service, for the same
    # person and LA code (case-insensitive; a NULL LA code never matches).
    rows = [
        _service(1, **{"Event End Date": "31/03/2025"}),  # 01/01/2025 .. 31/03/2025
        _request(1, "01/01/2025"),  # Yes (the start)
        _request(1, "31/03/2025"),  # Yes (the end)
        _request(1, "01/04/2025"),  # No
        _request(1, "31/12/2024"),  # No
        _service(2, **{"LA Code": "", "NHS Number": ""}),  # no LA code: never matches
        _request(2, "05/02/2025", **{"LA Code": "", "NHS Number": ""}),  # No
        _service(3, **{"LA Code": "E503"}),
        _request(3, "05/02/2025", **{"LA Code": "e503"}),  # Yes (E503 = e503)
        # Two services 01/01-31/01 and 01/03-31/03: a request in the gap is No, one in
        # the second Yes.
        _service(4, **{"Event End Date": "31/01/2025"}),
        _service(4, **{"Event Start Date": "01/03/2025", "Event End Date": "31/03/2025"}),
        _request(4, "15/02/2025"),  # No
        _request(4, "15/03/2025"),  # Yes
        # A service 01/01-30/06 holding a shorter one 01/02-10/02: 01/05 is Yes.
        _service(5, **{"Event End Date": "30/06/2025"}),
        _service(5, **{"Event Start Date": "01/02/2025", "Event End Date": "10/02/2025"}),
        _request(5, "01/05/2025"),  # Yes
        # Event Type 'Services' is not in the services fact (Event_Type = 'Service').
        _service(6, **{"Event Type": "Services"}),
        _request(6, "05/02/2025"),  # No
    ]
    view = central(write_csv(tmp_path / "r.csv", rows))
    assert view["requests_lts_flag"] == {"yes": 5, "no": 5}
    # Open on 30/09/2025: p2 (counted: the measure has no LA code test) and p3.
    assert view["people_in_long_term_support_at_period_end"]["total"] == 2


def test_identifiers_as_given_ignoring_case_and_surrounding_spaces(tmp_path: Path) -> None:
    # Der_NHS_Number_Pseudo is the NHS Number as submitted (rule 3): '943 476 5919' and
    # '9434765919' are two people; ' 9434765919 ' is trimmed (rule 2) into the second; 'ABC'
    # and 'abc' are one (rule 1). No NHS number: LA code 'E503' and 'e503' with P2 are one
    # person 'e503_p2'; a blank LA code gives '_p3'. The NHS number '503_x' and LA code 503
    # with identifier X ('503_x') are the same person ID, and the same request.
    rows = [
        _request(1, "05/10/2024", **{"NHS Number": "943 476 5919"}),
        _request(1, "05/10/2024", **{"NHS Number": "9434765919"}),
        _request(1, "05/10/2024", **{"NHS Number": " 9434765919 "}),
        _request(2, "05/10/2024", **{"NHS Number": "", "LA Code": "E503"}),
        _request(2, "05/10/2024", **{"NHS Number": "", "LA Code": "e503"}),
        _request(3, "05/10/2024", **{"NHS Number": "", "LA Code": ""}),
        _request(4, "05/10/2024", **{"NHS Number": "ABC"}),
        _request(4, "05/10/2024", **{"NHS Number": "abc"}),
        _request(5, "05/10/2024", **{"NHS Number": "", "LA Person Unique Identifier": "X"}),
        _request(5, "05/10/2024", **{"NHS Number": "503_x"}),
    ]
    view = central(write_csv(tmp_path / "r.csv", rows))
    assert view["person_id"] == {
        "rows_from_nhs_number": 6,
        "rows_from_la_identifier": 4,
        "rows_dropped_no_person_id": 0,
        "people_from_nhs_number": 4,  # '943 476 5919', '9434765919', 'abc', '503_x'
        "people_from_la_identifier": 3,  # 'e503_p2', '_p3', '503_x'
        "people": 6,
    }
    assert view["unique_events"]["request"] == 6
    assert view["rows_merged_by_dedup"]["request"] == 4


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_validation_json_holds_the_same_central_object(
    tmp_path: Path, newline: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The last field of every row holds a value (Planned units per week), so a line cut
    # short at a chunk's end would show in the costs.
    rows = [
        _service(
            i, **{"Cost Frequency (Unit Type)": "Hourly", "Planned units per week": f"{i + 1}"}
        )
        for i in range(6)
    ]
    path = write_csv(tmp_path / "r.csv", rows, newline=newline)
    assert main([str(path), "--json", str(tmp_path / "v.json"), "--quiet"]) in (0, 1)
    assert main(["central", str(path), "--json", str(tmp_path / "c.json"), "--quiet"]) == 0
    capsys.readouterr()
    validated = json.loads((tmp_path / "v.json").read_text(encoding="utf-8"))["central"]
    alone = json.loads((tmp_path / "c.json").read_text(encoding="utf-8"))
    assert validated == alone
    # 100.00 x (i + 1) hours a week for i = 0..5: 100 x 21 = 2100.00 a week.
    assert alone["costs_total"]["weekly_cost_total"] == 2100.0


# --- where the contract is silent (docs/central-view.md, "Decisions where the contract is
# silent"): these pin our decisions.


def test_blank_lines_and_lines_of_separators(tmp_path: Path) -> None:
    # A line of spaces and tabs is blank: skipped. A line of separators only is a row of
    # blank fields: counted (bucket 'other') and dropped by the filter (no Event Type).
    path = write_csv(tmp_path / "r.csv", [_request(1, "05/10/2024"), _request(2, "06/10/2024")])
    header, first, second = path.read_text(encoding="utf-8").splitlines(keepends=True)
    commas = "," * (header.count(",")) + "\n"
    path.write_text(header + first + " \t \n" + commas + second + "\n", encoding="utf-8")
    view = central(path)
    assert view["rows_in"] == 3
    assert view["events_in_period"]["request"] == 2
    assert view["events_dropped_by_period_filter"] == {
        "request": 0,
        "assessment": 0,
        "service": 0,
        "review": 0,
        "other": 1,
    }


def test_nothing_ending_before_the_import_month(tmp_path: Path) -> None:
    # The one request ends on 05/11/2025, in the import month (November 2025): N = 0, T = 0
    # (not NULL), every month qualifies (N < 100) but there is none, so no derived period.
    view = central(write_csv(tmp_path / "r.csv", [_request(1, "05/11/2025")]))
    assert view["derived_period"] == {"start": None, "end": None}
    assert view["derived_period_length_months"] is None
    assert view["derived_period_inputs"] == {
        "events_ending_before_import_month": 0,
        "event_types_in_file": 0,
        "months_with_events": 0,
        "months_meeting_thresholds": 0,
        "under_100_events": True,
    }
    assert view["selected_for_period"] is False


def test_a_reversed_period_is_used_as_given(tmp_path: Path) -> None:
    # Period 2025-03-01 .. 2025-01-31: no request can end BETWEEN them; an open service that
    # started by 31/01/2025 is kept (end NULL, start <= period end). Costs quarter: the month
    # two before January 2025 to the period end: 2024-11-01 .. 2025-01-31.
    rows = [_request(1, "05/02/2025"), _service(2)]
    view = central(
        write_csv(tmp_path / "r.csv", rows), period_start="2025-03-01", period_end="2025-01-31"
    )
    assert view["events_in_period"]["request"] == 0
    assert view["events_in_period"]["service"] == 1
    assert view["costs_quarter"] == {"start": "2024-11-01", "end": "2025-01-31"}


def test_unicode_case_folding(tmp_path: Path) -> None:
    # LA Person Unique Identifiers 'É1' and 'é1' (no NHS number) are one person, one request.
    rows = [
        _request(1, "05/10/2024", **{"NHS Number": "", "LA Person Unique Identifier": "É1"}),
        _request(1, "05/10/2024", **{"NHS Number": "", "LA Person Unique Identifier": "é1"}),
    ]
    view = central(write_csv(tmp_path / "r.csv", rows))
    assert view["person_id"]["people"] == 1
    assert view["unique_events"]["request"] == 1


def test_a_half_cent_weekly_cost_rounds_as_its_double(tmp_path: Path) -> None:
    # Fortnightly 10.01: 10.01 x 0.500000 = 5.005 a week, whose double is 5.00499999...:
    # round(x, 2) gives 5.0. Weeks in the quarter (open from 01/01/2025): trunc6(92 / 7) =
    # 13.142857; 5.005 x 13.142857 = 65.779999... -> 65.78.
    rows = [_service(1, **{"Unit Cost": "10.01", "Cost Frequency (Unit Type)": "Fortnightly"})]
    total = central(write_csv(tmp_path / "r.csv", rows))["costs_total"]
    assert total["weekly_cost_total"] == 5.0
    assert total["weekly_cost_mean"] == 5.0
    assert total["period_cost_total"] == 65.78


def test_a_frame_is_read_as_text_and_no_period_needs_parameters(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "r.csv", [_request(1, "05/10/2024")])
    as_text = pl.read_csv(path, infer_schema=False)
    assert central(as_text).to_dict() == central(path).to_dict()
    # Dates parsed by Polars become '2024-10-01' as text: not dd/mm/yyyy, so NULL, and the
    # return then states no valid period end.
    typed = pl.read_csv(path, try_parse_dates=True)
    assert typed.schema["Reporting Period End Date"] == pl.Date
    with pytest.raises(CentralError, match="--import-date"):
        central(typed)
    # With an import date but no valid stated dates and no event ending before the import
    # month, the period must be given.
    with pytest.raises(CentralError, match="--period-start and --period-end"):
        central(typed, import_date="2024-10-01")
    view = central(
        typed, import_date="2024-10-01", period_start="2024-01-01", period_end="2024-12-31"
    )
    assert view["events_in_period"]["request"] == 0  # its dates are NULL too
