"""A catalogue of faults: for every check, rows that should make it fire and nothing else.

Each fault is injected into a clean template row (``factory.TEMPLATES``) as a person of its
own, so faults do not interact. ``build()`` writes them all into one return and remembers
which lines each fault occupies, so one validation run serves one test per check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from factory import LINK_TARGETS, TEMPLATES, row, write_csv

from cld_polars.kinds import release1_possible
from cld_polars.spec import load_spec

SPEC = load_spec()
ORDER = list(TEMPLATES)


@dataclass
class Fault:
    code: str
    label: str
    rows: list[dict[str, str]]
    #: How many rows the check should flag.
    expected: int = 1
    #: Other checks these rows are expected to trigger as well.
    extras: frozenset[str] = frozenset()
    #: The suggestion expected on the flagged row ("" = no suggestion).
    suggestion: str | None = None
    lines: list[int] = field(default_factory=list)


_counter = iter(range(1000, 100000))


def one(
    code: str,
    template: str,
    label: str = "",
    *,
    extras: frozenset[str] = frozenset(),
    suggestion: str | None = None,
    changes: Mapping[str, str] | None = None,
) -> Fault:
    """A fault of one row: ``template``'s row with ``changes`` (field name to value)."""
    return Fault(
        code,
        label or template,
        [row(template, next(_counter), **(changes or {}))],
        extras=extras,
        suggestion=suggestion,
    )


def _template_with(name: str) -> str:
    return next(t for t in ORDER if row(t, 0).get(name))


def _release1_example(list_name: str) -> tuple[str, str | None]:
    known = SPEC.release1_for(list_name)
    if known:
        old, mapping = next(iter(known.items()))
        return old, mapping.release2 or None
    for value in SPEC.lists[list_name]:
        for new, old in ((": ", " - "), (" and ", " & "), (" or ", " / ")):
            if new in value:
                return value.replace(new, old, 1), value
    raise AssertionError(f"no Release 1 example for {list_name}")


def _field_faults() -> list[Fault]:
    faults: list[Fault] = []
    for f in SPEC.fields:
        n, k = f.name, f.key
        faults.append(one(f"{k}_FORMULA", _template_with(n), changes={n: '=HYPERLINK("x")'}))
        if f.kind == "list":
            tpl = _template_with(n)
            values = SPEC.lists[f.list_name or ""]
            if release1_possible(SPEC, f):
                old, new = _release1_example(f.list_name or "")
                faults.append(one(f"{k}_RELEASE1", tpl, suggestion=new or "", changes={n: old}))
            upper = TEMPLATES[tpl][n].upper()
            faults.append(
                one(f"{k}_NEAR_MISS", tpl, suggestion=TEMPLATES[tpl][n], changes={n: upper})
            )
            faults.append(
                one(f"{k}_INVALID", tpl, suggestion="", changes={n: "Not a listed value"})
            )
            assert TEMPLATES[tpl][n] in values
    return faults


_MANDATORY_TEMPLATE = {
    "Employment Status": "ld",
    "Assessment Type": "assessment",
    "Method of Assessment": "assessment",
    "Service Type": "community",
    "Service Component": "community",
    "Delivery Mechanism": "community",
    "Unit Cost": "community",
    "Cost Frequency (Unit Type)": "community",
    "Planned units per week": "community",
    "Review Reason": "review",
    "Review Outcomes Achieved": "review",
    "Method of Review": "review",
}

_NOT_APPLICABLE = {
    "Event Outcome": ("financial", "Progress to support planning or services"),
    "Request: Route of Access": ("assessment", "Community or other route"),
    "Assessment Type": ("request", "Long term assessment"),
    "Eligible Needs Identified": ("carer", "Eligible needs identified"),
    "Method of Assessment": ("request", "Service user only"),
    "Total Hrs Caring per week": ("request", "1 to 9 hours a week"),
    "No. of adults being cared for": ("request", "1"),
    "Adult 1 Linked Person_ID": ("request", "SU1"),
    "Adult 2 Linked Person_ID": ("request", "SU2"),
    "Adult 3 Linked Person_ID": ("request", "SU3"),
    "Service Type": ("request", "Long term support: Community"),
    "Service Component": ("request", "Reablement"),
    "Delivery Mechanism": ("request", "Direct payment"),
    "Provider CQC Location ID": ("request", "1-101"),
    "Review Reason": ("request", "Unplanned: Other reason"),
    "Review Outcomes Achieved": ("request", "Not met"),
    "Method of Review": ("request", "Service user only"),
    "Unit Cost": ("request", "10.00"),
    "Cost Frequency (Unit Type)": ("request", "Weekly"),
    "Planned units per week": ("residential", "5"),
}


def _mandatory_faults() -> list[Fault]:
    faults = []
    for f in SPEC.fields:
        if f.mandatory in ("always", "conditional") or f.blank_severity == "warning":
            tpl = _MANDATORY_TEMPLATE.get(f.name, "request")
            faults.append(one(f"{f.key}_MISSING", tpl, changes={f.name: ""}))
        if f.applies_when:
            tpl, value = _NOT_APPLICABLE[f.name]
            faults.append(one(f"{f.key}_NOT_APPLICABLE", tpl, changes={f.name: value}))
    return faults


def _type_faults() -> list[Fault]:
    dob, start, end, dod = "Date of Birth", "Event Start Date", "Event End Date", "Date of Death"
    faults = [
        one(
            "DATE_OF_BIRTH_FORMAT",
            "request",
            "ISO date",
            suggestion="01/02/1950",
            changes={dob: "1950-02-01"},
        ),
        one(
            "DATE_OF_BIRTH_FORMAT",
            "request",
            "31 February",
            suggestion="",
            changes={dob: "31/02/1950"},
        ),
        one(
            "DATE_OF_BIRTH_FORMAT",
            "request",
            "two-digit year",
            suggestion="",
            changes={dob: "01/02/50"},
        ),
        one(
            "EVENT_START_DATE_FORMAT",
            "request",
            "time stamp",
            suggestion="05/10/2024",
            changes={start: "05/10/2024 00:00"},
        ),
        one(
            "EVENT_END_DATE_FORMAT",
            "request",
            "d/m/yyyy",
            suggestion="05/10/2024",
            changes={end: "5/10/2024"},
        ),
        one(
            "DATE_OF_DEATH_FORMAT", "deceased", suggestion="30/06/2025", changes={dod: "2025-06-30"}
        ),
        one(
            "REPORTING_PERIOD_START_DATE_FORMAT",
            "request",
            suggestion="01/10/2024",
            changes={"Reporting Period Start Date": "2024-10-01"},
        ),
        one(
            "REPORTING_PERIOD_END_DATE_FORMAT",
            "request",
            suggestion="30/09/2025",
            changes={"Reporting Period End Date": "2025-09-30"},
        ),
        one(
            "NHS_NUMBER_FORMAT",
            "request",
            "spaces",
            suggestion="943 476 5919".replace(" ", ""),
            changes={"NHS Number": "943 476 5919"},
        ),
        one("NHS_NUMBER_CHECK_DIGIT", "request", changes={"NHS Number": "9434765918"}),
        one("LA_CODE_FORMAT", "request", changes={"LA Code": "50A"}),
        one("LA_CODE_UNKNOWN", "request", suggestion="", changes={"LA Code": "999"}),
        one(
            "LA_CODE_REPLACED",
            "request",
            extras=frozenset({"LA_CODE_NOT_SINGLE"}),
            changes={"LA Code": "504"},
        ),
        one("LA_CODE_NOT_SINGLE", "request", suggestion="503", changes={"LA Code": "506"}),
        one(
            "NO_OF_ADULTS_BEING_CARED_FOR_FORMAT",
            "carer",
            suggestion="",
            changes={"No. of adults being cared for": "three"},
        ),
        one(
            "UNIT_COST_FORMAT",
            "community",
            "currency",
            suggestion="18.50",
            changes={"Unit Cost": "£18.50"},
        ),
        one(
            "UNIT_COST_FORMAT",
            "community",
            "thousands",
            suggestion="1850.00",
            changes={"Unit Cost": "1,850.00"},
        ),
        one(
            "PLANNED_UNITS_PER_WEEK_FORMAT",
            "community",
            "negative",
            suggestion="",
            changes={"Planned units per week": "-3"},
        ),
        one(
            "POSTCODE_FORMAT",
            "request",
            "lower case",
            suggestion="LN1 1YL",
            changes={"Postcode": "ln1 1yl"},
        ),
        one(
            "POSTCODE_FORMAT",
            "request",
            "no space",
            suggestion="LN1 1YL",
            changes={"Postcode": "LN11YL"},
        ),
        one(
            "POSTCODE_FORMAT",
            "request",
            "double space",
            suggestion="LN1 1YL",
            changes={"Postcode": "LN1  1YL"},
        ),
        one("GP_PRACTICE_CODE_FORMAT", "request", changes={"GP Practice Code": "12345"}),
        one(
            "GENDER_INVALID",
            "request",
            "close to a value",
            suggestion="Female",
            changes={"Gender": "Femal"},
        ),
        one(
            "EVENT_OUTCOME_NEAR_MISS",
            "residential",
            "guidance table spelling",
            suggestion="NFA: Self-funded client or under 12wk disregard",
            changes={
                "Event Outcome": "NFA: Self funded client or under 12 week property disregard"
            },
        ),
    ]
    return faults


def _logic_faults() -> list[Fault]:
    faults = [
        one("EVENT_START_AFTER_END", "request", changes={"Event Start Date": "06/10/2024"}),
        one("EVENT_END_AFTER_PERIOD_END", "review", changes={"Event End Date": "01/10/2025"}),
        one(
            "EVENT_START_AFTER_PERIOD_END", "community", changes={"Event Start Date": "01/10/2025"}
        ),
        one(
            "EVENT_END_BEFORE_PERIOD_START",
            "review",
            changes={"Event Start Date": "01/09/2024", "Event End Date": "30/09/2024"},
        ),
        one(
            "EVENT_AFTER_DEATH",
            "deceased",
            extras=frozenset({"EVENT_START_AFTER_END"}),
            changes={"Event Start Date": "01/07/2025"},
        ),
        one(
            "DEATH_BEFORE_BIRTH",
            "deceased",
            extras=frozenset({"EVENT_AFTER_DEATH", "EVENT_END_AFTER_DEATH"}),
            changes={"Date of Death": "01/01/1940", "Event End Date": "30/06/2025"},
        ),
        one(
            "EVENT_END_BEFORE_BIRTH",
            "request",
            extras=frozenset({"AGE_UNDER_18"}),
            changes={"Date of Birth": "01/01/2025"},
        ),
        one("BIRTH_AFTER_PERIOD_END", "uckba", changes={"Date of Birth": "01/01/2026"}),
        one(
            "DIRECT_PAYMENT_IN_PRISON",
            "community",
            changes={
                "Service Type": "Long term support: Prison",
                "Delivery Mechanism": "Direct payment",
            },
        ),
        one("AGE_OVER_115", "request", changes={"Date of Birth": "01/01/1900"}),
        one("AGE_UNDER_18", "carer", changes={"Date of Birth": "01/01/2010"}),
        one(
            "EVENT_END_AFTER_DEATH",
            "deceased",
            suggestion="30/06/2025",
            changes={"Event End Date": "15/07/2025"},
        ),
        one(
            "OPEN_SERVICE_OUTCOME",
            "community",
            suggestion="Continuation of support or services",
            changes={"Event Outcome": "Admitted to hospital"},
        ),
        one(
            "OUTCOME_ATYPICAL",
            "residential",
            changes={"Event Outcome": "NFA: Information and advice or signposting"},
        ),
        one("DECEASED_WITHOUT_DATE_OF_DEATH", "deceased", changes={"Date of Death": ""}),
        one(
            "UNPAID_CARER_PSR",
            "carer",
            suggestion="Social support: Support to unpaid carer",
            changes={"Primary Support Reason": "Mental health support"},
        ),
        one(
            "ADULTS_CARED_FOR_BELOW_LINKED",
            "carer",
            suggestion="3",
            changes={"No. of adults being cared for": "2"},
        ),
        one(
            "PLANNED_UNITS_OVER_WEEK",
            "community",
            "hourly",
            changes={"Planned units per week": "168.5"},
        ),
        one(
            "PLANNED_UNITS_OVER_WEEK",
            "community",
            "daily",
            changes={"Cost Frequency (Unit Type)": "Daily", "Planned units per week": "8"},
        ),
        one(
            "LA_PERSON_UNIQUE_IDENTIFIER_PERSONAL_DATA",
            "request",
            "date of birth",
            changes={"LA Person Unique Identifier": "X01021950"},
        ),
        one(
            "LA_PERSON_UNIQUE_IDENTIFIER_PERSONAL_DATA",
            "request",
            "surname",
            changes={"LA Person Unique Identifier": "SMITH77"},
        ),
        one(
            "EVENT_REFERENCE_PERSONAL_DATA",
            "request",
            "postcode",
            changes={"Event Reference": "LN11YL-4"},
        ),
        one(
            "REPORTING_PERIOD_END_NOT_QUARTER_END",
            "request",
            extras=frozenset(
                {"REPORTING_PERIOD_NOT_12_MONTHS", "REPORTING_PERIOD_END_DATE_NOT_SINGLE"}
            ),
            changes={"Reporting Period End Date": "31/08/2025"},
        ),
        one(
            "REPORTING_PERIOD_NOT_12_MONTHS",
            "request",
            suggestion="01/10/2024",
            extras=frozenset({"REPORTING_PERIOD_START_DATE_NOT_SINGLE"}),
            changes={"Reporting Period Start Date": "30/09/2024"},
        ),
        one(
            "REPORTING_PERIOD_START_DATE_NOT_SINGLE",
            "request",
            suggestion="01/10/2024",
            extras=frozenset(
                {"REPORTING_PERIOD_END_DATE_NOT_SINGLE", "EVENT_END_BEFORE_PERIOD_START"}
            ),
            changes={
                "Reporting Period Start Date": "01/07/2024",
                "Reporting Period End Date": "30/06/2025",
            },
        ),
        one(
            "REPORTING_PERIOD_END_DATE_NOT_SINGLE",
            "request",
            suggestion="30/09/2025",
            extras=frozenset({"REPORTING_PERIOD_START_DATE_NOT_SINGLE"}),
            changes={
                "Reporting Period Start Date": "01/01/2025",
                "Reporting Period End Date": "31/12/2025",
                "Event Start Date": "05/01/2025",
                "Event End Date": "05/01/2025",
            },
        ),
    ]
    return faults


def _pair(
    code: str,
    first: dict[str, str],
    second: dict[str, str],
    expected: int,
    label: str = "",
    suggestion: str | None = None,
) -> Fault:
    return Fault(code, label or code, [first, second], expected=expected, suggestion=suggestion)


def _crossrow_faults() -> list[Fault]:
    i = next(_counter)
    dup = row("review", i)
    faults = [_pair("DUPLICATE_ROW", dup, dict(dup), 1)]
    i, j = next(_counter), next(_counter)
    faults.append(
        _pair(
            "DUPLICATE_EVENT_REFERENCE",
            row("request", i, **{"Event Reference": f"D{i}"}),
            row("request", j, **{"Event Reference": f"D{i}"}),
            2,
        )
    )
    i = next(_counter)
    # A Request and an Assessment may share a reference (Annex B): no finding expected.
    faults.append(
        Fault(
            "SHARED_REFERENCE_ALLOWED",
            "Annex B pair",
            [
                row("request", i, **{"Event Reference": f"B{i}"}),
                row("assessment", i, **{"Event Reference": f"B{i}"}),
            ],
            expected=0,
        )
    )
    for name, other in (("Date of Birth", "02/02/1950"), ("NHS Number", None), ("Gender", "Male")):
        i = next(_counter)
        first = row("request", i)
        third = row("assessment", i)
        second = row("review", i, **{name: other or row("request", i + 50000)["NHS Number"]})
        faults.append(
            Fault(
                f"PERSON_{SPEC.field(name).key}_INCONSISTENT",
                name,
                [first, third, second],
                expected=1,
                suggestion=first[name],
                extras=frozenset({"NHS_NUMBER_ON_SEVERAL_PEOPLE"})
                if name == "NHS Number"
                else frozenset(),
            )
        )
    i, j = next(_counter), next(_counter)
    a = row("request", i)
    faults.append(
        _pair(
            "NHS_NUMBER_ON_SEVERAL_PEOPLE",
            a,
            row("request", j, **{"NHS Number": a["NHS Number"]}),
            2,
        )
    )
    for n in (1, 2, 3):
        name = f"Adult {n} Linked Person_ID"
        faults.append(
            one(f"{SPEC.field(name).key}_NOT_A_SERVICE_USER", "carer", changes={name: "NOBODY"})
        )
    return faults


def all_faults() -> list[Fault]:
    return (
        _field_faults()
        + _mandatory_faults()
        + _type_faults()
        + _logic_faults()
        + _crossrow_faults()
    )


def build(path: Path) -> tuple[Path, list[Fault]]:
    """Write every fault into one return; record each fault's line numbers."""
    faults = all_faults()
    rows = list(LINK_TARGETS)
    line = 1 + len(rows)
    for fault in faults:
        for r in fault.rows:
            line += 1
            fault.lines.append(line)
            rows.append(r)
    write_csv(path, rows)
    return path, faults
