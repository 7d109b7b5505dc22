"""The synthetic return generator: shape, determinism, and spec-clean content.

These checks are written independently of the validator (plain polars over the frame), so
that a generator bug and a validator bug cannot hide each other.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

import polars as pl
import pytest

from cld_polars.generate import generate_return, main, write_return
from cld_polars.spec import load_spec

SPEC = load_spec()
PERIOD_START = datetime.date(2024, 10, 1)
PERIOD_END = datetime.date(2025, 9, 30)
EVENT_FIELDS = [
    "Event Type",
    "Event Reference",
    "Event Start Date",
    "Event End Date",
    "Event Description",
    "Event Outcome",
    "Request: Route of Access",
    "Assessment Type",
    "Eligible Needs Identified",
    "Method of Assessment",
    "Service Type",
    "Service Component",
    "Delivery Mechanism",
    "Provider CQC Location ID",
    "Review Reason",
    "Review Outcomes Achieved",
    "Method of Review",
    "Unit Cost",
    "Cost Frequency (Unit Type)",
    "Planned units per week",
]
CARER_FIELDS = [
    "Total Hrs Caring per week",
    "No. of adults being cared for",
    "Adult 1 Linked Person_ID",
    "Adult 2 Linked Person_ID",
    "Adult 3 Linked Person_ID",
]
CARER_TYPES = ["Unpaid carer", "Unpaid carer known by association"]
PID = "LA Person Unique Identifier"


def _date(col: str) -> pl.Expr:
    return pl.col(col).str.strptime(pl.Date, "%d/%m/%Y", strict=True)


@pytest.fixture(scope="module")
def frame() -> pl.DataFrame:
    return generate_return(20_000, seed=11)


@pytest.fixture(scope="module")
def dated(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame with its dates parsed (strictly: a bad date raises here)."""
    return frame.with_columns(
        _date("Event Start Date").alias("start"),
        _date("Event End Date").alias("end"),
        _date("Date of Birth").alias("dob"),
        _date("Date of Death").alias("dod"),
    )


def _count(df: pl.DataFrame, expr: pl.Expr) -> int:
    return int(df.select(expr.fill_null(False).sum()).item())


# --- shape -------------------------------------------------------------------------------


@pytest.mark.parametrize("n_rows", [0, 1, 2, 3, 10, 39, 40, 41, 1000])
def test_exact_rows_header_and_string_dtypes(n_rows: int) -> None:
    df = generate_return(n_rows, seed=n_rows)
    assert df.height == n_rows
    assert tuple(df.columns) == SPEC.header
    assert all(dtype == pl.String for dtype in df.dtypes)


@pytest.mark.parametrize("n_rows", [1, 2, 10, 57])
def test_tiny_returns_are_complete(n_rows: int) -> None:
    """Even one row carries every always-mandatory field and only Release 2 values."""
    for seed in range(5):
        df = generate_return(n_rows, seed=seed)
        _assert_values_and_mandatory(df)


def _assert_values_and_mandatory(df: pl.DataFrame) -> None:
    for f in SPEC.fields:
        col = df[f.name]
        if f.mandatory == "always":
            assert col.null_count() == 0, f.name
        if f.kind == "list":
            extra = set(col.drop_nulls().unique()) - set(SPEC.values(f.name))
            assert not extra, (f.name, extra)
        if f.kind == "date":
            parsed = col.str.strptime(pl.Date, "%d/%m/%Y", strict=False)
            assert parsed.null_count() == col.null_count(), f.name
            assert col.drop_nulls().str.contains(r"^\d{2}/\d{2}/\d{4}$").all(), f.name
    event_rows = df.filter(pl.col("Client Type") != "Unpaid carer known by association")
    for name in ("Event Type", "Event Start Date"):
        assert event_rows[name].null_count() == 0, name


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    a = generate_return(3000, seed=5)
    assert a.equals(generate_return(3000, seed=5))
    assert not a.equals(generate_return(3000, seed=6))


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="LA Code"):
        generate_return(10, la_code="999")
    with pytest.raises(ValueError, match="quarter end"):
        generate_return(10, period_end=datetime.date(2025, 9, 29))
    with pytest.raises(ValueError):
        generate_return(-1)


def test_other_period_and_council() -> None:
    df = generate_return(500, seed=1, la_code="940", period_end=datetime.date(2025, 3, 31))
    assert set(df["LA Code"]) == {"940"}
    assert set(df["Reporting Period Start Date"]) == {"01/04/2024"}
    assert set(df["Reporting Period End Date"]) == {"31/03/2025"}
    _assert_values_and_mandatory(df)


# --- content -----------------------------------------------------------------------------


def test_submission_fields(frame: pl.DataFrame) -> None:
    assert set(frame["LA Code"]) == {"503"}
    assert set(frame["Reporting Period Start Date"]) == {"01/10/2024"}
    assert set(frame["Reporting Period End Date"]) == {"30/09/2025"}
    _assert_values_and_mandatory(frame)


def test_no_value_looks_like_a_formula(frame: pl.DataFrame) -> None:
    for name in frame.columns:
        assert not frame[name].drop_nulls().str.contains(r"^[=+@-]").any(), name


def test_proportions(frame: pl.DataFrame) -> None:
    clients = frame["Client Type"].value_counts(normalize=True)
    share = dict(zip(clients["Client Type"], clients["proportion"], strict=True))
    assert 0.80 <= share["Service user"] <= 0.90
    assert 0.07 <= share["Unpaid carer"] <= 0.13
    assert 0.015 <= share["Unpaid carer known by association"] <= 0.035
    assert 0.005 <= share.get("Unknown", 0) <= 0.04

    events = frame.filter(pl.col("Event Type").is_not_null())
    types = events["Event Type"].value_counts(normalize=True)
    share = dict(zip(types["Event Type"], types["proportion"], strict=True))
    assert 0.25 <= share["Request"] <= 0.35
    assert 0.20 <= share["Assessment"] <= 0.30
    assert 0.25 <= share["Service"] <= 0.35
    assert 0.10 <= share["Review"] <= 0.20
    assert set(events["Assessment Type"].drop_nulls()) == set(SPEC.values("Assessment Type"))

    per_person = events.height / events[PID].n_unique()
    assert 3.0 <= per_person <= 6.0

    services = events.filter(pl.col("Event Type") == "Service")
    open_share = services["Event End Date"].null_count() / services.height
    assert 0.25 <= open_share <= 0.42

    people = frame.group_by(PID).agg(pl.col("NHS Number").first().is_null().alias("blank"))
    assert 0.005 <= people["blank"].mean() <= 0.04  # type: ignore[operator]


def test_events_spread_over_every_month(dated: pl.DataFrame) -> None:
    events = dated.filter(pl.col("Event Type").is_not_null())
    for column in ("start", "end"):
        months = (
            events.filter(pl.col(column).is_between(PERIOD_START, PERIOD_END))
            .group_by(pl.col(column).dt.strftime("%Y-%m"))
            .len()
        )
        assert months.height == 12
        assert months["len"].min() / events.height >= 0.04  # type: ignore[operator]


def test_person_details_are_consistent(frame: pl.DataFrame) -> None:
    fields = ["Date of Birth", "NHS Number", "Gender", "First Name", "Last Name", "Date of Death"]
    per_person = frame.group_by(PID).agg(pl.col(f).n_unique() for f in fields)
    for f in fields:
        assert per_person[f].max() == 1, f
    nhs = (
        frame.filter(pl.col("NHS Number").is_not_null())
        .group_by("NHS Number")
        .agg(pl.col(PID).n_unique())
    )
    assert nhs[PID].max() == 1


def _mod11_ok(number: str) -> bool:
    if not re.fullmatch(r"\d{10}", number):
        return False
    total = sum(int(d) * w for d, w in zip(number[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        check = 0
    return check != 10 and check == int(number[9])


def test_nhs_numbers_pass_modulus_11(frame: pl.DataFrame) -> None:
    numbers = frame["NHS Number"].drop_nulls().unique().to_list()
    assert len(numbers) > 1000
    assert all(_mod11_ok(n) for n in numbers)
    assert not _mod11_ok("4010232137"[:9] + "8")  # the checker itself rejects a wrong digit


def test_dates_meet_the_period_and_life_rules(dated: pl.DataFrame) -> None:
    et = pl.col("Event Type")
    start, end, dob, dod = pl.col("start"), pl.col("end"), pl.col("dob"), pl.col("dod")
    completed = et.is_in(["Request", "Assessment", "Review"])
    assert _count(dated, start > end) == 0
    assert _count(dated, completed & (end.is_null() | (end < PERIOD_START))) == 0
    assert _count(dated, (start > PERIOD_END) | (end > PERIOD_END)) == 0
    assert _count(dated, (et == "Service") & (end < PERIOD_START)) == 0
    assert _count(dated, (start > dod) | (end > dod) | (dod < dob) | (end < dob)) == 0
    assert _count(dated, dob > PERIOD_END) == 0

    def month_day(day: pl.Expr) -> pl.Expr:  # month and day are Int8: widen first
        return day.dt.month().cast(pl.Int32) * 100 + day.dt.day().cast(pl.Int32)

    age = dated.select(
        (
            start.dt.year() - dob.dt.year() - (month_day(start) < month_day(dob)).cast(pl.Int32)
        ).alias("age")
    )["age"]
    assert age.min() >= 18  # type: ignore[operator]
    assert dated.select((PERIOD_END - dob).dt.total_days().max()).item() < 115 * 365
    assert dated["dod"].null_count() < dated.height  # some people have died...
    deceased_outcome = dated.filter(pl.col("Event Outcome") == "NFA: Deceased")
    assert deceased_outcome.height > 0 and deceased_outcome["dod"].null_count() == 0
    open_services = dated.filter((et == "Service") & end.is_null())
    assert set(open_services["Event Outcome"]) == {"Continuation of support or services"}


def test_outcomes_follow_the_typical_table(frame: pl.DataFrame) -> None:
    pairs = (
        frame.filter(pl.col("Event Outcome").is_not_null())
        .select("Event Type", "Event Outcome")
        .unique()
    )
    for event_type, outcome in pairs.iter_rows():
        assert event_type in SPEC.typical_outcomes[outcome], (event_type, outcome)
    financial = frame.filter(pl.col("Assessment Type") == "Financial assessment")
    assert financial.height > 0
    assert financial["Event Outcome"].null_count() == financial.height
    assert financial["Method of Assessment"].null_count() == financial.height


def test_fields_only_where_they_apply(frame: pl.DataFrame) -> None:
    et = pl.col("Event Type")
    only = {
        "Request: Route of Access": et == "Request",
        "Assessment Type": et == "Assessment",
        "Eligible Needs Identified": pl.col("Assessment Type") == "Long term assessment",
        "Method of Assessment": et == "Assessment",
        "Service Type": et == "Service",
        "Service Component": et == "Service",
        "Delivery Mechanism": et == "Service",
        "Provider CQC Location ID": et == "Service",
        "Unit Cost": et == "Service",
        "Cost Frequency (Unit Type)": et == "Service",
        "Planned units per week": pl.col("Cost Frequency (Unit Type)").is_in(
            ["Hourly", "Daily", "Per session"]
        ),
        "Review Reason": et == "Review",
        "Review Outcomes Achieved": et == "Review",
        "Method of Review": et == "Review",
    }
    for name, where in only.items():
        assert _count(frame, pl.col(name).is_not_null() & ~where.fill_null(False)) == 0, name
    mandatory = {
        "Event End Date": et.is_in(["Request", "Assessment", "Review"]),
        "Request: Route of Access": et == "Request",
        "Assessment Type": et == "Assessment",
        "Method of Assessment": pl.col("Assessment Type").is_in(
            ["Short term assessment", "Long term assessment"]
        ),
        "Service Type": et == "Service",
        "Service Component": et == "Service",
        "Delivery Mechanism": pl.col("Service Type") == "Long term support: Community",
        "Review Reason": et == "Review",
        "Method of Review": et == "Review",
        "Review Outcomes Achieved": pl.col("Review Reason")
        == "Planned review of long term care and support plan",
        "Client Funding Status": pl.col("Client Type") == "Service user",
        "Employment Status": (pl.col("Client Type") == "Service user")
        & (pl.col("Primary Support Reason") == "Learning disability support"),
        "Event Outcome": et.is_in(["Request", "Service", "Review"])
        | pl.col("Assessment Type").is_in(["Short term assessment", "Long term assessment"]),
    }
    for name, where in mandatory.items():
        assert _count(frame, pl.col(name).is_null() & where) == 0, name
    prison_dp = (pl.col("Service Type") == "Long term support: Prison") & (
        pl.col("Delivery Mechanism") == "Direct payment"
    )
    assert _count(frame, prison_dp) == 0


def test_costs(frame: pl.DataFrame) -> None:
    costed = (pl.col("Event Type") == "Service") & (
        pl.col("Service Type").is_in(
            ["Long term support: Nursing care", "Long term support: Residential care"]
        )
        | pl.col("Service Component").is_in(
            [
                "Short term nursing care",
                "Short term residential care",
                "Long term nursing care",
                "Long term residential care",
            ]
        )
        | (
            (pl.col("Service Type") == "Long term support: Community")
            & (pl.col("Delivery Mechanism") == "CASSR managed personal budget")
        )
    )
    unit_based = pl.col("Cost Frequency (Unit Type)").is_in(["Hourly", "Daily", "Per session"])
    assert _count(frame, costed) > 500
    for name in ("Unit Cost", "Cost Frequency (Unit Type)"):
        assert _count(frame, costed & pl.col(name).is_null()) == 0, name
    assert _count(frame, unit_based & pl.col("Planned units per week").is_null()) == 0
    number = r"^\d+(\.\d{1,2})?$"
    for name in ("Unit Cost", "Planned units per week"):
        assert frame[name].drop_nulls().str.contains(number).all(), name
    units = pl.col("Planned units per week").cast(pl.Float64)
    freq = pl.col("Cost Frequency (Unit Type)")
    assert _count(frame, (freq == "Hourly") & (units > 168)) == 0
    assert _count(frame, (freq == "Daily") & (units > 7)) == 0


def test_known_by_association_rows_have_no_event_fields(frame: pl.DataFrame) -> None:
    uckba = frame.filter(pl.col("Client Type") == "Unpaid carer known by association")
    assert uckba.height > 100
    for name in EVENT_FIELDS:
        assert uckba[name].null_count() == uckba.height, name
    assert set(uckba["Primary Support Reason"]) == {"Social support: Support to unpaid carer"}
    filled = uckba.select(pl.any_horizontal(pl.col(CARER_FIELDS).is_not_null()).mean()).item()
    assert filled > 0.5


def test_unpaid_carer_fields(frame: pl.DataFrame) -> None:
    carers = pl.col("Client Type").is_in(CARER_TYPES)
    for name in CARER_FIELDS:
        assert _count(frame, ~carers & pl.col(name).is_not_null()) == 0, name
    carer_rows = frame.filter(carers)
    assert set(carer_rows["Primary Support Reason"]) == {"Social support: Support to unpaid carer"}
    service_users = set(frame.filter(pl.col("Client Type") == "Service user")[PID])
    links = [f"Adult {i} Linked Person_ID" for i in (1, 2, 3)]
    linked = carer_rows.select(pl.concat_list(links).alias("ids"))["ids"].explode().drop_nulls()
    assert linked.len() > 100
    assert set(linked) <= service_users
    n_links = sum(pl.col(c).is_not_null().cast(pl.Int32) for c in links)
    adults = pl.col("No. of adults being cared for").cast(pl.Int32)
    assert _count(carer_rows, (n_links > 0) & adults.is_null()) == 0
    assert _count(carer_rows, adults < n_links) == 0
    # a later link is only given with the earlier ones, and never repeats one
    assert _count(carer_rows, pl.col(links[1]).is_not_null() & pl.col(links[0]).is_null()) == 0
    assert _count(carer_rows, pl.col(links[0]) == pl.col(links[1])) == 0
    assert _count(carer_rows, pl.col(links[1]) == pl.col(links[2])) == 0


def test_references_and_identifiers(frame: pl.DataFrame) -> None:
    events = frame.filter(pl.col("Event Type").is_not_null())
    assert events["Event Reference"].null_count() == 0
    assert not events.select(
        pl.struct("Event Type", "Event Reference").is_duplicated().any()
    ).item()
    assert not frame.is_duplicated().any()
    # some Request + Assessment pairs share a reference (guidance, Annex B)
    shared = (
        events.group_by("Event Reference")
        .agg(pl.col("Event Type").sort())
        .filter(pl.col("Event Type").list.len() > 1)
    )
    assert shared.height > 50
    assert set(shared["Event Type"].list.join(",")) == {"Assessment,Request"}
    # identifiers carry no date of birth, postcode or name
    for name in (PID, "Event Reference"):
        ids = pl.col(name)
        assert frame[name].drop_nulls().str.contains(r"^[A-Z][A-Z0-9]+$").all()
        assert not frame[name].drop_nulls().str.contains(r"\d{8}").any()
        dob = pl.col("Date of Birth")
        personal = [
            dob,
            dob.str.replace_all("/", ""),
            pl.concat_str(dob.str.slice(6, 4), dob.str.slice(3, 2), dob.str.slice(0, 2)),
            pl.col("Postcode").str.replace_all(" ", ""),
            pl.col("First Name").str.to_uppercase(),
            pl.col("Last Name").str.to_uppercase(),
        ]
        for value in personal:
            assert _count(frame, ids.str.contains(value, literal=True)) == 0, name


def test_postcodes_and_gp_codes(frame: pl.DataFrame) -> None:
    postcode = r"^([A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}|[A-Z]{1,2}\d[A-Z\d]?|ZZ99 3VZ|ZZ99 3CZ|Unknown)$"
    assert frame["Postcode"].str.contains(postcode).all()
    special = ["ZZ99 3VZ", "ZZ99 3CZ", "Unknown"]
    code = pl.col("Postcode")
    kind = (
        pl.when(code.is_in(special))
        .then(code)
        .when(code.str.contains(" "))
        .then(pl.lit("full"))
        .otherwise(pl.lit("outward"))
    )
    kinds = frame.select(kind.alias("kind"))["kind"].value_counts(normalize=True)
    share = dict(zip(kinds["kind"], kinds["proportion"], strict=True))
    assert set(share) == {"full", "outward", *special}
    assert share["full"] > 0.9
    assert frame["GP Practice Code"].drop_nulls().str.contains(r"^[A-Z][A-Z0-9]{5}$").all()


def test_service_types_fit_components_and_client_types(frame: pl.DataFrame) -> None:
    services = frame.filter(pl.col("Event Type") == "Service")
    carer_type = pl.col("Service Type").str.starts_with("Unpaid carer support")
    carer_component = pl.col("Service Component").str.starts_with("Unpaid carer") | (
        pl.col("Service Component") == "Other unpaid carer support"
    )
    assert _count(services, carer_component & ~carer_type) == 0
    assert _count(services, carer_type & (pl.col("Client Type") != "Unpaid carer")) == 0
    assert _count(services, ~carer_type & (pl.col("Client Type") != "Service user")) == 0
    nursing = pl.col("Service Component").str.contains("nursing care")
    assert (
        _count(
            services,
            nursing & ~pl.col("Service Type").str.contains("Nursing care|Other short term"),
        )
        == 0
    )


# --- writing -----------------------------------------------------------------------------


def test_write_return_round_trips(tmp_path: Path) -> None:
    path = write_return(tmp_path / "return.csv", 2000, seed=3)
    assert path == tmp_path / "return.csv"
    raw = path.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw
    assert raw.split(b"\n", 1)[0].decode("utf-8") == ",".join(SPEC.header)
    assert b'""' not in raw  # blanks are empty, not quoted
    back = pl.read_csv(path, infer_schema=False)
    assert back.equals(generate_return(2000, seed=3))
    assert [p.name for p in tmp_path.iterdir()] == ["return.csv"]  # no temporary file left


def test_write_return_tiny(tmp_path: Path) -> None:
    path = write_return(tmp_path / "one.csv", 1)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == ",".join(SPEC.header) and len(lines) == 3 and lines[2] == ""


def test_command_line(tmp_path: Path) -> None:
    out = tmp_path / "cli.csv"
    assert main([str(out), "--rows", "25", "--seed", "4"]) == 0
    assert pl.read_csv(out, infer_schema=False).equals(generate_return(25, seed=4))
