"""One test per check: the catalogue injects each fault into a clean row and the check must
flag exactly the expected rows, with nothing else on them but the declared extras."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from catalogue import Fault, all_faults, build
from factory import clean_rows, write_csv

from cld_polars import validate
from cld_polars.checks.families import all_checks
from cld_polars.report import Report

FAULTS = all_faults()


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, dict[str, Fault]]:
    path, faults = build(tmp_path_factory.mktemp("catalogue") / "catalogue.csv")
    report = validate(path)
    return report, {f"{f.code}:{f.label}": f for f in faults}


def _id(fault: Fault) -> str:
    return f"{fault.code}:{fault.label}"


@pytest.mark.parametrize("key", [_id(f) for f in FAULTS])
def test_check_flags_exactly_the_faulty_rows(
    catalogue: tuple[Report, dict[str, Fault]], key: str
) -> None:
    report, faults = catalogue
    fault = faults[key]
    on_lines = report.finding_rows.filter(pl.col("line").is_in(fault.lines))
    flagged = on_lines.filter(pl.col("code") == fault.code)
    assert flagged.height == fault.expected, on_lines
    others = set(on_lines["code"]) - {fault.code} - fault.extras
    assert not others, f"unexpected findings on lines {fault.lines}: {on_lines}"
    if fault.suggestion is not None and fault.expected:
        assert flagged["suggestion"].to_list() == [fault.suggestion or None] * fault.expected


def test_every_check_has_a_fault_in_the_catalogue() -> None:
    covered = {f.code for f in FAULTS}
    missing = [c.code for c in all_checks() if c.code not in covered]
    assert not missing, f"checks without a test fault: {missing}"


def test_clean_rows_give_no_findings(tmp_path: Path) -> None:
    report = validate(write_csv(tmp_path / "clean.csv", clean_rows()))
    assert report.errors == 0
    assert report.warnings == 0
    assert report.finding_rows.height == 0
    assert all(f.severity == "warning" for f in report.file_findings)


def test_rule_counts_match_findings(catalogue: tuple[Report, dict[str, Fault]]) -> None:
    report, _ = catalogue
    per_code = report.finding_rows.group_by("code").len()
    counted = dict(zip(per_code["code"], per_code["len"], strict=True))
    for rule in report.rules.to_dicts():
        assert counted[rule["code"]] == rule["rows"]


def test_field_counts_are_rows_with_a_finding_naming_the_field(
    catalogue: tuple[Report, dict[str, Fault]],
) -> None:
    report, _ = catalogue
    rules = {r["code"]: r for r in report.rules.to_dicts()}
    for field in ("Gender", "Event Start Date", "NHS Number"):
        for severity in ("error", "warning"):
            codes = [
                c for c, r in rules.items() if field in r["fields"] and r["severity"] == severity
            ]
            rows = report.finding_rows.filter(pl.col("code").is_in(codes))["line"].n_unique()
            got = report.fields.filter(pl.col("field") == field)[f"{severity}s"].item()
            assert got == rows, (field, severity)


def test_messages_say_where_what_and_what_to_do(catalogue: tuple[Report, dict[str, Fault]]) -> None:
    report, faults = catalogue
    fault = faults["GENDER_INVALID:close to a value"]
    messages = report.findings_with_messages().filter(pl.col("line").is_in(fault.lines))
    text = messages["message"][0]
    assert text.startswith(f"Line {fault.lines[0]}, Gender = 'Femal':")
    assert "defined list" in text and "Suggested value: 'Female'." in text
