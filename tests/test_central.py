"""The central view on small hand-made returns, every figure worked out by hand below.

Every return states the period 01/10/2024 to 30/09/2025 (factory.PERIOD), so unless a test
says otherwise: import date = (30/09/2025 + 1 day) + 1 month = 2025-11-01, reporting period
= 2024-10-01 to 2025-09-30, costs quarter = 2025-07-01 to 2025-09-30.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from factory import row, write_csv

from cld_polars import central
from cld_polars.central import CentralError
from cld_polars.cli import main

D = dt.date


def _request(i: int, end: str, **changes: str) -> dict[str, str]:
    return row("request", i, **{"Event Start Date": end, "Event End Date": end, **changes})


def test_duplicate_merged_keeping_the_better_outcome(tmp_path: Path) -> None:
    # Lines 2 and 3 are the same request (same LA code, person, dates, client type, route);
    # line 2's outcome 'Progress to assessment, review or reassessment' is 2nd in DHSC's
    # hierarchy, line 3's 'NFA: Other' 17th: line 2 is kept though line 3 is later.
    # Line 4 is the same person's request on another day: its own event.
    rows = [
        _request(1, "05/10/2024"),
        _request(1, "05/10/2024", **{"Event Outcome": "NFA: Other", "Event Reference": "E9"}),
        _request(1, "06/10/2024"),
    ]
    view = central(write_csv(tmp_path / "r.csv", rows))
    assert view["events_in_period"]["request"] == 3
    assert view["unique_events"]["request"] == 2  # 3 rows - 1 merged
    assert view["rows_merged_by_dedup"]["request"] == 1
    # The kept records' outcomes: both 'Progress to assessment, ...' (NFA: Other went).
    assert view["requests_by_outcome_grouped"]["progress_to_assessment_review_or_reassessment"] == 2
    assert view["requests_by_outcome_grouped"]["nfa"] == 0
    assert view.merged.select("line", "kept_line", "event_type", "why_kept").to_dicts() == [
        {
            "line": 3,
            "kept_line": 2,
            "event_type": "request",
            "why_kept": "outcome higher in the hierarchy",
        }
    ]


def test_an_event_outside_the_period_is_dropped(tmp_path: Path) -> None:
    # Line 2 ends 15/09/2024, before the period starts on 01/10/2024: dropped. Line 3 starts
    # 29/09/2025 and ends 01/10/2025, after the period end: dropped. Line 4 is a service that
    # ended 15/09/2024: dropped (a service must end on or after the period start). Line 5 is
    # a service that started 01/02/2024 and ended 15/10/2024: kept (services need only
    # overlap).
    rows = [
        _request(1, "15/09/2024"),
        _request(2, "01/10/2025", **{"Event Start Date": "29/09/2025"}),
        row("residential", 3, **{"Event End Date": "15/09/2024"}),
        row("residential", 4, **{"Event End Date": "15/10/2024"}),
    ]
    view = central(write_csv(tmp_path / "r.csv", rows))
    assert view["events_in_period"] == {
        "request": 0,
        "assessment": 0,
        "service": 1,
        "review": 0,
        "other": 0,
    }
    assert view["events_dropped_by_period_filter"]["request"] == 2
    assert view["events_dropped_by_period_filter"]["service"] == 1
    dropped = {r["reason"]: r["rows"] for r in view.dropped.to_dicts()}
    assert dropped == {
        "ended before the period start": 2,  # lines 2 and 4
        "not a service, and ended after the period end": 1,  # line 3
    }


def test_no_nhs_number_and_no_person_id_at_all(tmp_path: Path) -> None:
    # Line 2: NHS number given -> person ID is the NHS number.
    # Line 3: no NHS number -> CONCAT(LA_Code, '_', LA_Person_Unique_Identifier) = '503_p2'.
    # Line 4: neither -> dropped from the unique events (GetDerivedFields line 122).
    rows = [
        _request(1, "05/10/2024"),
        _request(2, "05/11/2024", **{"NHS Number": ""}),
        _request(3, "05/12/2024", **{"NHS Number": "", "LA Person Unique Identifier": ""}),
    ]
    view = central(write_csv(tmp_path / "r.csv", rows))
    assert view["person_id"] == {
        "rows_from_nhs_number": 1,
        "rows_from_la_identifier": 1,
        "rows_dropped_no_person_id": 1,
        "people_from_nhs_number": 1,
        "people_from_la_identifier": 1,
        "people": 2,
    }
    assert view["events_in_period"]["request"] == 3
    assert view["unique_events"]["request"] == 2  # line 4 never reaches deduplication
    assert view["rows_merged_by_dedup"]["request"] == 0  # 2 rows in, 2 events out
    assert view.no_person_id.to_dicts() == [{"line": 4, "event_type": "request"}]
    people = view.unique_events.select(pl.col("person").cast(pl.String)).collect()
    assert set(people.to_series().to_list()) == {row("request", 1)["NHS Number"], "503_p2"}


def test_person_ids_differing_only_in_case_are_one_person(tmp_path: Path) -> None:
    # No NHS numbers: IDs '503_AB1' and '503_ab1' are one person under DHSC's collation, so
    # the two rows of the same request are one event, and the review is that person's too.
    rows = [
        _request(1, "05/10/2024", **{"NHS Number": "", "LA Person Unique Identifier": "AB1"}),
        _request(1, "05/10/2024", **{"NHS Number": "", "LA Person Unique Identifier": "ab1"}),
        row("review", 1, **{"NHS Number": "", "LA Person Unique Identifier": "Ab1"}),
    ]
    view = central(write_csv(tmp_path / "r.csv", rows))
    assert view["person_id"]["rows_from_la_identifier"] == 3
    assert view["person_id"]["people"] == 1
    assert view["unique_events"]["request"] == 1
    assert view["rows_merged_by_dedup"]["request"] == 1
    # Equal records: the later row (line 3) is kept.
    assert view.merged.select("line", "kept_line", "why_kept").row(0) == (2, 3, "later in the file")


def test_an_open_service_closed_by_a_date_of_death(tmp_path: Path) -> None:
    # A long-term community service from 01/01/2025 with no end date, weekly £100.00; the
    # person died on 15/08/2025. DHSC's end date becomes 15/08/2025 (death after the start,
    # no end date: FilterToEventsInPeriod line 136), so the service is not open at the
    # period end (30/09/2025), and its weeks in the quarter are those to the death:
    #   start 01/01/2025 < quarter start 01/07/2025, end 15/08/2025 <= 30/09/2025, so
    #   days = 15/08/2025 - 01/07/2025 = 45; weeks = trunc6((45 + 1) / 7) = 6.571428;
    #   cost in the quarter = 100.00 x 1.0 x 6.571428 = 657.1428 -> 657.14.
    # A second person's identical service without a death stays open: weeks to the quarter
    # end = trunc6((91 + 1) / 7) = 13.142857, cost 1314.2857 -> 1314.29.
    service = {
        "Event End Date": "",
        "Unit Cost": "100.00",
        "Cost Frequency (Unit Type)": "Weekly",
        "Planned units per week": "",
    }
    rows = [
        row("community", 1, **service, **{"Date of Death": "15/08/2025"}),
        row("community", 2, **service),
    ]
    view = central(write_csv(tmp_path / "r.csv", rows))
    assert view["events_in_period"]["service"] == 2
    lts = view["people_in_long_term_support_at_period_end"]
    assert lts["total"] == 1  # only the second person
    assert lts["by_setting"]["long_term_support_community"] == 1
    community = view["costs_by_service_type"]["long_term_support_community"]
    assert community == {
        "services": 2,
        "services_with_weekly_cost": 2,
        "weekly_cost_total": 200.0,  # 100.00 + 100.00
        "weekly_cost_mean": 100.0,
        "period_cost_total": 1971.43,  # 657.1428 + 1314.2857 = 1971.4285
    }
    unique = view.unique_events.collect()
    ends = dict(zip(unique["line"], unique["end"], strict=True))
    assert ends == {2: D(2025, 8, 15), 3: None}


def test_an_annual_cost_shows_sql_servers_truncated_weekly_factor(tmp_path: Path) -> None:
    # Annually: SQL Server's 1.0/52.0 is 0.019230 (6 places, truncated), not 1/52. A cost of
    # £52,000.00 a year is 52000 x 0.019230 = £999.96 a week (not £1,000.00), and over the
    # whole quarter (weeks = trunc6(92 / 7) = 13.142857) 999.96 x 13.142857 = 13142.3313
    # -> 13142.33 (not 13142.86).
    rows = [
        row(
            "residential",
            1,
            **{
                "Event End Date": "",
                "Unit Cost": "52000",
                "Cost Frequency (Unit Type)": "Annually",
            },
        )
    ]
    view = central(write_csv(tmp_path / "r.csv", rows))
    block = view["costs_by_service_type"]["long_term_support_residential_care"]
    assert block["weekly_cost_total"] == 999.96
    assert block["period_cost_total"] == 13142.33
    assert view["costs_total"] == block
    assert view.costs["factor"].to_list() == [0.01923]
    assert view.costs["weeks_of_service"].to_list() == [13.142857]


def _month_rows(
    month: int, year: int, start_i: int, types: tuple[str, ...], n: int
) -> list[dict[str, str]]:
    """n events ending on the 10th of a month, cycling through the given event types."""
    templates = {
        "Request": "request",
        "Assessment": "assessment",
        "Service": "residential",
        "Review": "review",
    }
    out = []
    day = f"10/{month:02d}/{year}"
    for k in range(n):
        kind = types[k % len(types)]
        out.append(
            row(templates[kind], start_i + k, **{"Event Start Date": day, "Event End Date": day})
        )
    return out


def test_months_excluded_for_under_2_percent_and_for_too_few_event_types(tmp_path: Path) -> None:
    # Oct 2024 to Jul 2025: 10 months x 10 events of all 4 types = 100 events.
    # Aug 2025: 12 requests only (1 type). Sep 2025: 1 review.
    # N = 100 + 12 + 1 = 113 events end before November 2025 (the import month); T = 4.
    # Aug 2025: 100 x 12 = 1200 >= 2 x 113 = 226 (share met), but 1 type < T - 1 = 3: out.
    # Sep 2025: 100 x 1 = 100 < 226 (under 2%), and 1 type: out.
    # Derived period: 2024-10-01 to 2025-07-31; DATEDIFF = 303 days, 303 / 30.436875 = 9.955
    # -> 10 months. It does not cover the stated period to 30/09/2025: not selected.
    all_types = ("Request", "Assessment", "Service", "Review")
    rows = []
    for k, (month, year) in enumerate(
        [(m, 2024) for m in (10, 11, 12)] + [(m, 2025) for m in range(1, 8)]
    ):
        rows += _month_rows(month, year, 1000 + 10 * k, all_types, 10)
    rows += _month_rows(8, 2025, 2000, ("Request",), 12)
    rows += _month_rows(9, 2025, 3000, ("Review",), 1)
    view = central(write_csv(tmp_path / "r.csv", rows))
    assert view["derived_period"] == {"start": "2024-10-01", "end": "2025-07-31"}
    assert view["derived_period_length_months"] == 10
    assert view["derived_period_inputs"] == {
        "events_ending_before_import_month": 113,
        "event_types_in_file": 4,
        "months_with_events": 12,
        "months_meeting_thresholds": 10,
        "under_100_events": False,
    }
    assert view["selected_for_period"] is False
    months = {r["month"]: r for r in view.months.to_dicts()}
    assert (months[D(2025, 8, 1)]["meets_share"], months[D(2025, 8, 1)]["meets_types"]) == (
        True,
        False,
    )
    assert (months[D(2025, 9, 1)]["meets_share"], months[D(2025, 9, 1)]["meets_types"]) == (
        False,
        False,
    )
    sentence = view.summary()
    assert "DHSC will take your period as 1 October 2024 to 31 July 2025" in sentence
    assert "Aug 2025 (1 of the 3 event types needed)" in sentence
    # 1 / 113 = 0.9%
    assert "Sep 2025 (0.9% of the events and 1 of the 3 event types needed)" in sentence


def test_fewer_than_100_events_every_month_counts(tmp_path: Path) -> None:
    # 3 events in all (< 100): no thresholds, so one stray request ending 15/01/2023 widens
    # the derived period to 2023-01-01 (contract section 5.1: the code, not the docs' "stated
    # period instead"). The last month with an event is Mar 2025 (the review).
    # DATEDIFF(2023-01-01, 2025-03-31) = 820 days; 820 / 30.436875 = 26.94 -> 27 months.
    rows = [_request(1, "15/01/2023"), _request(2, "05/10/2024"), row("review", 3)]
    view = central(write_csv(tmp_path / "r.csv", rows))
    assert view["derived_period"] == {"start": "2023-01-01", "end": "2025-03-31"}
    assert view["derived_period_length_months"] == 27
    assert view["derived_period_inputs"]["under_100_events"] is True
    assert view["derived_period_inputs"]["months_meeting_thresholds"] == 3
    # Covers the start, not the end (30/09/2025): not selected.
    assert view["selected_for_period"] is False
    assert view["stated_period_length_months"] == 12  # 364 / 30.436875 = 11.96


def test_case_insensitive_collation_maps_values_and_long_term_support(tmp_path: Path) -> None:
    # ' service ' (padded) and 'SERVICE' are services; 'long term support: community' maps to
    # 'Long term support: Community' (rule 4); the request starts during that long-term
    # service, so its LTS flag is 'Yes'; 'weekly' matches LIKE 'week%'.
    rows = [
        row(
            "community",
            1,
            **{
                "Event Type": " SERVICE\t",
                "Service Type": "long term support: community",
                "Cost Frequency (Unit Type)": "weekly",
                "Unit Cost": "10",
                "Planned units per week": "",
            },
        ),
        _request(1, "05/02/2025"),
        _request(2, "05/02/2025"),  # another person: no long-term service
    ]
    view = central(write_csv(tmp_path / "r.csv", rows))
    assert view["services_by_service_type"]["long_term_support_community"] == 1
    assert view["requests_lts_flag"] == {"yes": 1, "no": 1}
    assert view["costs_total"]["weekly_cost_total"] == 10.0


def test_costs_follow_the_numeric_rules(tmp_path: Path) -> None:
    # Unit Cost '£12.50' is not a number (rule 2): NULL, so the row has no cost and is left
    # out; '12.345' is NUMERIC(18,2) 12.35 (half away from zero); '-10.005' is -10.01,
    # ABS 10.01. Hourly, 10 planned units: weekly 123.5 and 100.1; all open over the quarter.
    base = {
        "Event End Date": "",
        "Cost Frequency (Unit Type)": "Hourly",
        "Planned units per week": "10",
    }
    rows = [
        row("community", 1, **base, **{"Unit Cost": "£12.50"}),
        row("community", 2, **base, **{"Unit Cost": "12.345"}),
        row("community", 3, **base, **{"Unit Cost": "-10.005"}),
    ]
    view = central(write_csv(tmp_path / "r.csv", rows))
    total = view["costs_total"]
    assert total["services"] == 2
    assert total["weekly_cost_total"] == 223.6  # 123.5 + 100.1
    assert total["weekly_cost_mean"] == 111.8


def test_no_valid_stated_end_needs_an_import_date(tmp_path: Path) -> None:
    rows = [_request(1, "05/10/2024", **{"Reporting Period End Date": "2025-09-30"})]
    path = write_csv(tmp_path / "r.csv", rows)
    with pytest.raises(CentralError, match="--import-date"):
        central(path)
    far = write_csv(
        tmp_path / "f.csv",
        [_request(1, "05/10/2024", **{"Reporting Period End Date": "31/12/9999"})],
    )
    with pytest.raises(CentralError, match="--import-date"):
        central(far)
    # With it, the period is derived: the one request ends in Oct 2024.
    view = central(path, import_date="2025-11-01")
    assert view["reporting_period"] == {"start": "2024-10-01", "end": "2024-10-31"}
    assert view["stated_period"] == {"start": "2024-10-01", "end": None}
    assert view["stated_period_length_months"] is None


# --- the command line, through real files -------------------------------------------------


def test_command_writes_json_and_workbook(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [_request(1, "05/10/2024"), _request(1, "05/10/2024"), row("community", 2)]
    path = write_csv(tmp_path / "r.csv", rows)
    out, book = tmp_path / "c.json", tmp_path / "c.xlsx"
    code = main(["central", str(path), "--json", str(out), "--xlsx", str(book)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "DHSC derives" in printed or "DHSC will take" in printed
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data == central(path).to_dict()
    assert list(data)[:3] == ["contract_version", "import_date", "rows_in"]
    sheet = openpyxl.load_workbook(book, read_only=True)["Central view"]
    cells = [c for r in sheet.iter_rows(values_only=True) for c in r if c is not None]
    assert "Records merged as repeats of one event" in cells
    assert "Rows by event type" in cells


def test_command_parameters_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_csv(tmp_path / "r.csv", [_request(1, "05/10/2024")])
    out = tmp_path / "c.json"
    code = main(
        [
            "central",
            str(path),
            "--import-date",
            "15/08/2025",
            "--period-start",
            "2025-01-01",
            "--period-end",
            "30/06/2025",
            "--json",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0 and capsys.readouterr().out == ""
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["import_date"] == "2025-08-15"
    assert data["reporting_period"] == {"start": "2025-01-01", "end": "2025-06-30"}
    assert data["costs_quarter"] == {"start": "2025-04-01", "end": "2025-06-30"}

    def error(*args: str) -> str:
        assert main(["central", *args]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err  # one line
        return err

    assert "no such file" in error(str(tmp_path / "missing.csv"))
    assert "not a date" in error(str(path), "--import-date", "31/02/2025")
    assert "--period-end" in error(str(path), "--period-start", "2025-01-01")
    assert "does not exist" in error(str(path), "--json", str(tmp_path / "nope" / "c.json"))
    assert "would overwrite the return" in error(str(path), "--json", str(path))
    no_end = write_csv(
        tmp_path / "e.csv", [_request(1, "05/10/2024", **{"Reporting Period End Date": ""})]
    )
    assert "--import-date" in error(str(no_end))


def test_frame_input_equals_path_input(tmp_path: Path) -> None:
    rows = [_request(1, "05/10/2024"), _request(1, "05/10/2024"), row("community", 2)]
    path = write_csv(tmp_path / "r.csv", rows)
    frame = pl.read_csv(path, infer_schema=False)
    assert central(frame).to_dict() == central(path).to_dict()


def test_every_input_kind_and_header_spelling_gives_the_same_view(tmp_path: Path) -> None:
    import gzip
    import shutil

    from factory import HEADER, clean_rows, write_workbook

    rows = clean_rows()
    rows[0]["First Name"] = "Zoë"  # not ASCII: the Windows-1252 copy differs in bytes
    path = write_csv(tmp_path / "r.csv", rows)
    want = central(path).to_dict()
    assert central(write_csv(tmp_path / "w.csv", rows, encoding="cp1252")).to_dict() == want
    assert central(write_workbook(tmp_path / "r.xlsx", rows)).to_dict() == want
    with path.open("rb") as src, gzip.open(tmp_path / "r.csv.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert central(tmp_path / "r.csv.gz").to_dict() == want
    pl.read_csv(path, infer_schema=False).write_parquet(tmp_path / "r.parquet")
    assert central(tmp_path / "r.parquet").to_dict() == want
    # The SQL's column names (LA_Person_Unique_Identifier, ...) are matched as the headers.
    sql_names = [
        "_".join(h.replace(":", " ").replace("(", " ").replace(")", " ").split()) for h in HEADER
    ]
    renamed = [{s: r[h] for s, h in zip(sql_names, HEADER, strict=True)} for r in rows]
    underscored = write_csv(tmp_path / "u.csv", renamed, header=sql_names)
    assert central(underscored).to_dict() == want
