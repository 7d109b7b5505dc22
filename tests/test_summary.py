"""The summary counts (``cld_polars.summary``) against an independent count of the same return.

The oracle here reads the CSV with the csv module and counts in plain Python, implementing
each table's documented meaning from scratch; a generated return is dirtied with values that
are blank or not on the defined lists so the ``(blank)`` and ``(not valid)`` rows are exercised.
"""

from __future__ import annotations

import datetime
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from functools import partial
from pathlib import Path

import polars as pl
import pytest
from factory import PERIOD, read_rows, row, write_csv

from cld_polars import validate
from cld_polars.checks.context import LINE
from cld_polars.generate import write_return
from cld_polars.spec import load_spec
from cld_polars.summary import AGE_BANDS, LTS_SETTINGS, TABLES, summary_tables

SPEC = load_spec()
BLANK, NOT_VALID = "(blank)", "(not valid)"

# --- the oracle ---------------------------------------------------------------------------


def label(value: str, field: str) -> str:
    if not value.strip():
        return BLANK
    return value if value in SPEC.values(field) else NOT_VALID


def date(value: str) -> datetime.date | None:
    if not re.fullmatch(r"\d{2}/\d{2}/\d{4}", value):
        return None
    try:
        return datetime.datetime.strptime(value, "%d/%m/%Y").date()
    except ValueError:
        return None


def decimal(value: str) -> float | None:
    return float(value) if re.fullmatch(r"\d+(\.\d{1,2})?", value) else None


def mode(values: list[datetime.date | None]) -> datetime.date | None:
    counts = Counter(v for v in values if v is not None)
    if not counts:
        return None
    top = max(counts.values())
    return min(v for v, n in counts.items() if n == top)


def age(born: datetime.date, on: datetime.date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def band(years: int | None) -> str:
    if years is None or years < 0:
        return "Unknown"
    for upper, name in ((17, "Under 18"), (64, "18-64"), (74, "65-74"), (84, "75-84")):
        if years <= upper:
            return name
    return "85-94" if years <= 94 else "95+"


WEEKS = {"Weekly": 1, "Fortnightly": 2, "4-weekly": 4, "Monthly": 52 / 12}
WEEKS |= {"Quarterly": 13, "Annually": 52}


def weekly_cost(r: dict[str, str]) -> float | None:
    unit, frequency = decimal(r["Unit Cost"]), r["Cost Frequency (Unit Type)"]
    if unit is None:
        return None
    if frequency in ("Hourly", "Daily", "Per session"):
        units = decimal(r["Planned units per week"])
        return None if units is None else unit * units
    return unit / WEEKS[frequency] if frequency in WEEKS else None


class Oracle:
    """Every table's meaning, counted in plain Python from the csv module's rows."""

    def __init__(self, rows: list[dict[str, str]]) -> None:
        self.rows = rows
        self.start = mode([date(r["Reporting Period Start Date"]) for r in rows])
        self.end = mode([date(r["Reporting Period End Date"]) for r in rows])
        self.services = [r for r in rows if r["Event Type"] == "Service"]
        self.first: dict[str, dict[str, str]] = {}
        for r in rows:
            if r["LA Person Unique Identifier"].strip():
                self.first.setdefault(r["LA Person Unique Identifier"], r)

    def is_open(self, r: dict[str, str]) -> bool:
        start, end = date(r["Event Start Date"]), date(r["Event End Date"])
        if start is None or self.end is None or start > self.end:
            return False
        return not r["Event End Date"].strip() or (end is not None and end > self.end)

    def within(self, d: datetime.date | None) -> bool:
        return (
            d is not None
            and self.start is not None
            and self.end is not None
            and self.start <= d <= self.end
        )

    def count(self, rows: list[dict[str, str]], *fields: str) -> Counter[tuple[str, ...]]:
        return Counter(tuple(label(r[f], f) for f in fields) for r in rows)

    def people_by(self, key: Callable[[dict[str, str]], str]) -> Counter[str]:
        return Counter(key(r) for r in self.first.values())

    def age_band(self, r: dict[str, str]) -> str:
        born, died = date(r["Date of Birth"]), date(r["Date of Death"])
        if born is None or self.end is None:
            return "Unknown"
        return band(age(born, min(died, self.end) if died else self.end))

    def lts_people(self) -> Counter[str]:
        best: dict[str, int] = {}
        for r in self.services:
            if self.is_open(r) and r["Service Type"] in LTS_SETTINGS:
                pid = r["LA Person Unique Identifier"]
                rank = LTS_SETTINGS.index(r["Service Type"])
                best[pid] = min(best.get(pid, rank), rank)
        return Counter(LTS_SETTINGS[i] for i in best.values())

    def months(self) -> Counter[tuple[str, str]]:
        out: Counter[tuple[str, str]] = Counter()
        for r in self.rows:
            if not r["Event Type"].strip():
                continue
            end = date(r["Event End Date"])
            month = (
                "(no end date)"
                if not r["Event End Date"].strip()
                else end.strftime("%Y-%m")
                if end
                else NOT_VALID
            )
            out[month, label(r["Event Type"], "Event Type")] += 1
        return out


def counts(frame: pl.DataFrame, keys: list[str], value: str) -> dict[tuple[str, ...], int]:
    """A table as {labels: count}, without its zero rows."""
    return {tuple(r[k] for k in keys): r[value] for r in frame.iter_rows(named=True) if r[value]}


def one(counter: Counter[tuple[str, ...]]) -> dict[tuple[str, ...], int]:
    return dict(counter)


# --- fixtures -----------------------------------------------------------------------------


def dirty(path: Path) -> Path:
    """The generated return with values blank or off the lists, in places each table reads."""
    rows = read_rows(path)
    # Person details on people's first rows (the ones the people tables read).
    first: dict[str, int] = {}
    for i, r in enumerate(rows):
        first.setdefault(r["LA Person Unique Identifier"], i)
    firsts = sorted(first.values())
    services = [i for i, r in enumerate(rows) if r["Event Type"] == "Service" and i > 10]
    requests = [i for i, r in enumerate(rows) if r["Event Type"] == "Request" and i > 10]
    edits = [
        (firsts[0], {"Gender": "male", "Client Type": "Service User"}),
        (firsts[1], {"Ethnicity": "White - Irish", "Date of Birth": "31/02/1950"}),
        (2, {"Event Type": "Servce"}),
        (3, {"Reporting Period End Date": "31/12/2025"}),
        (requests[0], {"Request: Route of Access": "", "Event Outcome": "NFA - Other"}),
        (requests[1], {"Event End Date": "2025-01-14"}),
        (services[0], {"Service Type": "Long Term Support - Community"}),
        (services[1], {"Service Type": "", "Delivery Mechanism": "Cash"}),
        (services[2], {"Unit Cost": "£12.50"}),
        (services[3], {"Event End Date": "1/1/2025"}),
    ]
    for i, change in edits:
        rows[i].update(change)
    return write_csv(path, rows, header=list(rows[0]))


#: The summary tables of a generated return, and the oracle over the same rows.
Generated = tuple[dict[str, pl.DataFrame], "Oracle"]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    path = dirty(write_return(tmp_path_factory.mktemp("s") / "r.csv", 2000, seed=7))
    report = validate(path)
    return report.summary, Oracle(read_rows(path))


# --- against the oracle -------------------------------------------------------------------


def test_every_table_is_there_with_overview(generated: Generated) -> None:
    tables, oracle = generated
    assert set(tables) == {*TABLES, "overview"}
    overview = tables["overview"].row(0, named=True)
    assert overview["LA Code"] == Counter(r["LA Code"] for r in oracle.rows).most_common(1)[0][0]
    assert overview["Council"] == SPEC.councils[overview["LA Code"]].name
    assert overview["Reporting Period Start Date"] == oracle.start
    assert overview["Reporting Period End Date"] == oracle.end
    assert overview["Rows"] == len(oracle.rows)
    assert overview["People"] == len(oracle.first)
    assert overview["Events"] == sum(1 for r in oracle.rows if r["Event Type"].strip())


def test_event_tables(generated: Generated) -> None:
    tables, o = generated
    by_type = tables["events_by_type"]
    assert counts(by_type, ["Event Type"], "Rows") == one(o.count(o.rows, "Event Type"))
    assert by_type["Event Type"].to_list()[:4] == list(SPEC.values("Event Type"))
    assert NOT_VALID in by_type["Event Type"].to_list()  # the dirty 'Servce'
    people = defaultdict(set)
    for r in o.rows:
        if r["LA Person Unique Identifier"].strip():
            people[label(r["Event Type"], "Event Type")].add(r["LA Person Unique Identifier"])
    assert dict(zip(by_type["Event Type"], by_type["People"], strict=True)) == {
        k: len(v) for k, v in people.items()
    }
    requests = [r for r in o.rows if r["Event Type"] == "Request"]
    keys = ["Request: Route of Access", "Event Outcome"]
    table = tables["requests_by_route_and_outcome"]
    assert counts(table, keys, "Requests") == one(o.count(requests, *keys))
    assert (BLANK, NOT_VALID) in counts(table, keys, "Requests")
    assessments = [r for r in o.rows if r["Event Type"] == "Assessment"]
    keys = ["Assessment Type", "Event Outcome", "Eligible Needs Identified"]
    table = tables["assessments_by_type_outcome_eligibility"]
    assert counts(table, keys, "Assessments") == one(o.count(assessments, *keys))
    reviews = [r for r in o.rows if r["Event Type"] == "Review"]
    keys = ["Review Reason", "Review Outcomes Achieved"]
    table = tables["reviews_by_reason_and_outcome"]
    assert counts(table, keys, "Reviews") == one(o.count(reviews, *keys))


def test_service_tables(generated: Generated) -> None:
    tables, o = generated
    keys = ["Service Type", "Service Component"]
    table = tables["services_by_type_and_component"]
    assert counts(table, keys, "Services") == one(o.count(o.services, *keys))
    table = tables["services_by_delivery_mechanism"]
    expected = one(o.count(o.services, "Delivery Mechanism"))
    assert counts(table, ["Delivery Mechanism"], "Services") == expected
    assert table["Services"].sum() == len(o.services)

    in_period = {r["Service Type"]: r for r in tables["services_in_period"].iter_rows(named=True)}
    grouped: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in o.services:
        grouped[label(r["Service Type"], "Service Type")].append(r)
    assert {k for k, v in in_period.items() if v["Services"]} == set(grouped)
    for service_type, rows in grouped.items():
        got = in_period[service_type]
        open_rows = [r for r in rows if o.is_open(r)]
        assert got["Services"] == len(rows)
        assert got["Open at period end"] == len(open_rows)
        assert got["People with an open service"] == len(
            {r["LA Person Unique Identifier"] for r in open_rows}
        )
        assert got["Started in period"] == sum(o.within(date(r["Event Start Date"])) for r in rows)
        assert got["Ended in period"] == sum(o.within(date(r["Event End Date"])) for r in rows)

    lts = tables["long_term_support_at_period_end"]
    assert lts["Setting"].to_list() == list(LTS_SETTINGS)
    assert counts(lts, ["Setting"], "People") == {(k,): v for k, v in o.lts_people().items()}
    open_services = Counter(r["Service Type"] for r in o.services if o.is_open(r))
    assert dict(zip(lts["Setting"], lts["Open services"], strict=True)) == {
        s: open_services.get(s, 0) for s in LTS_SETTINGS
    }


def test_weekly_costs(generated: Generated) -> None:
    tables, o = generated
    table = {r["Service Type"]: r for r in tables["planned_weekly_cost_by_service_type"].to_dicts()}
    grouped: dict[str, list[dict[str, str]]] = defaultdict(list)
    for r in o.services:
        grouped[label(r["Service Type"], "Service Type")].append(r)
    for service_type, rows in grouped.items():
        got = table[service_type]
        costs = [c for c in map(weekly_cost, rows) if c is not None]
        one_off = sum(r["Cost Frequency (Unit Type)"] == "One-off" for r in rows)
        assert got["Services"] == len(rows)
        assert got["With a weekly cost"] == len(costs)
        assert got["One-off cost"] == one_off
        assert got["No valid cost"] == len(rows) - len(costs) - one_off
        assert got["Total weekly cost (£)"] == pytest.approx(sum(costs))
        if costs:
            assert got["Mean weekly cost (£)"] == pytest.approx(statistics.mean(costs))
            assert got["Median weekly cost (£)"] == pytest.approx(statistics.median(costs))
        else:
            assert got["Mean weekly cost (£)"] is None


def _label_of(field: str, r: dict[str, str]) -> str:
    return label(r[field], field)


def test_people_tables(generated: Generated) -> None:
    tables, o = generated
    for name, field in (
        ("people_by_client_type", "Client Type"),
        ("people_by_gender", "Gender"),
        ("people_by_primary_support_reason", "Primary Support Reason"),
    ):
        expected = o.people_by(partial(_label_of, field))
        assert counts(tables[name], [field], "People") == {(k,): v for k, v in expected.items()}
        assert tables[name]["People"].sum() == len(o.first)
        listed = tables[name][field].to_list()
        assert listed[: len(SPEC.values(field))] == list(SPEC.values(field))  # zeros included
    assert NOT_VALID in tables["people_by_gender"]["Gender"].to_list()

    def group(r: dict[str, str]) -> str:
        value = label(r["Ethnicity"], "Ethnicity")
        return value if value in (BLANK, NOT_VALID) else value.split(":")[0]

    expected = o.people_by(group)
    table = tables["people_by_ethnicity_group"]
    assert counts(table, ["Ethnicity group"], "People") == {(k,): v for k, v in expected.items()}
    assert NOT_VALID in table["Ethnicity group"].to_list()
    ages = tables["people_by_age_band"]
    assert ages["Age band"].to_list() == list(AGE_BANDS)
    assert dict(zip(ages["Age band"], ages["People"], strict=True)) == {
        b: o.people_by(o.age_band).get(b, 0) for b in AGE_BANDS
    }


def test_events_by_month(generated: Generated) -> None:
    tables, o = generated
    table = tables["events_by_month"]
    expected = o.months()
    got = {
        (r["Month"], t): r[t]
        for r in table.iter_rows(named=True)
        for t in SPEC.values("Event Type")
        if r[t]
    }
    assert got == {k: v for k, v in expected.items() if k[1] != NOT_VALID}
    assert table["Events"].sum() == sum(expected.values())
    assert table["Event Type not valid"].sum() == 1  # the dirty 'Servce'
    months = table["Month"].to_list()
    assert months[:12] == [f"2024-{m:02d}" for m in (10, 11, 12)] + [
        f"2025-{m:02d}" for m in range(1, 10)
    ]
    assert months[-2:] == ["(no end date)", NOT_VALID]


# --- the definitions, on hand-built rows ---------------------------------------------------


def frame(rows: list[dict[str, str]], tmp_path: Path) -> pl.DataFrame:
    path = write_csv(tmp_path / "r.csv", rows)
    return pl.read_csv(path, infer_schema=False).with_row_index(LINE, offset=2)


def test_open_started_ended_at_the_period_edges(tmp_path: Path) -> None:
    end = PERIOD["Reporting Period End Date"]  # 30/09/2025
    rows = [
        row("community", 1, **{"Event Start Date": end}),  # starts on the last day: open
        row("community", 2, **{"Event Start Date": "01/10/2025"}),  # starts after: not open
        row("residential", 3, **{"Event End Date": end}),  # ends on the last day: ended
        row("residential", 4, **{"Event End Date": "01/10/2025"}),  # ends after: open
        row("residential", 5, **{"Event Start Date": "30/09/2024", "Event End Date": ""}),
    ]
    services = summary_tables(frame(rows, tmp_path))["services_in_period"]
    by_type = {r["Service Type"]: r for r in services.iter_rows(named=True)}
    community = by_type["Long term support: Community"]
    residential = by_type["Long term support: Residential care"]
    assert (community["Open at period end"], community["Started in period"]) == (1, 1)
    assert residential["Open at period end"] == 2  # 4 and 5
    assert residential["Ended in period"] == 1  # 3 (4 ends after the period)
    assert residential["Started in period"] == 0  # all started before 01/10/2024


def test_weekly_cost_by_frequency(tmp_path: Path) -> None:
    nursing_type = "Long term support: Nursing care"

    def cost(i: int, unit: str, frequency: str = "Weekly", units: str = "") -> dict[str, str]:
        return row(
            "residential",
            i,
            **{
                "Service Type": nursing_type,
                "Unit Cost": unit,
                "Cost Frequency (Unit Type)": frequency,
                "Planned units per week": units,
            },
        )

    rows = [
        cost(1, "700.00"),  # 700 a week
        cost(2, "1400", "Fortnightly"),  # 700
        cost(3, "5200", "Annually"),  # 100
        cost(4, "20", "Hourly", "7.5"),  # 150
        cost(5, "99", "One-off"),
        cost(6, "£5"),  # not a valid cost
    ]
    table = summary_tables(frame(rows, tmp_path))["planned_weekly_cost_by_service_type"]
    nursing = table.filter(pl.col("Service Type") == nursing_type).row(0, named=True)
    assert nursing["Services"] == 6
    assert (nursing["With a weekly cost"], nursing["One-off cost"], nursing["No valid cost"]) == (
        4,
        1,
        1,
    )
    assert nursing["Total weekly cost (£)"] == pytest.approx(700 + 700 + 100 + 150)
    assert nursing["Median weekly cost (£)"] == pytest.approx(425)


def test_long_term_support_counts_a_person_once_in_the_highest_setting(tmp_path: Path) -> None:
    nursing = {"Service Type": "Long term support: Nursing care", "Event End Date": ""}
    rows = [
        row("community", 1),
        row("residential", 1, **nursing, **{"Event Reference": "E1b"}),
        row("community", 2),
        row("community", 2, **{"Event Reference": "E2b"}),
    ]
    lts = summary_tables(frame(rows, tmp_path))["long_term_support_at_period_end"]
    got = {r["Setting"]: (r["People"], r["Open services"]) for r in lts.iter_rows(named=True)}
    assert got["Long term support: Nursing care"] == (1, 1)
    assert got["Long term support: Community"] == (1, 3)  # P2 once; three open services


def test_age_bands_at_the_boundaries(tmp_path: Path) -> None:
    births = {
        1: "01/10/2007",  # 17 on 30/09/2025
        2: "30/09/2007",  # 18 on the day
        3: "30/09/1960",  # 65
        4: "01/10/1960",  # 64
        5: "30/09/1930",  # 95
        6: "",  # unknown
    }
    rows = [row("request", i, **{"Date of Birth": b}) for i, b in births.items()]
    # Died at 84 (on 01/01/2025), though 85 at the period end: the age at death counts.
    rows.append(
        row("deceased", 7, **{"Date of Birth": "02/01/1940", "Date of Death": "01/01/2025"})
    )
    rows[-1].update({"Event Start Date": "01/12/2024", "Event End Date": "01/01/2025"})
    ages = summary_tables(frame(rows, tmp_path))["people_by_age_band"]
    got = dict(zip(ages["Age band"], ages["People"], strict=True))
    assert got == {
        "Under 18": 1,
        "18-64": 2,
        "65-74": 1,
        "75-84": 1,
        "85-94": 0,
        "95+": 1,
        "Unknown": 1,
    }


def test_no_data_gives_empty_tables() -> None:
    tables = summary_tables(None)
    assert tables["overview"]["Rows"].item() == 0
    assert tables["events_by_type"]["Rows"].sum() == 0
    assert tables["events_by_type"]["Event Type"].to_list() == list(SPEC.values("Event Type"))
    assert tables["requests_by_route_and_outcome"].height == 0
    assert tables["events_by_month"].height == 0
