"""The Excel workbook: an AGEM-style validation report plus the summary counts.

Why this exists: analysts know the AGEM Excel tool (instructions, flagged records, data items
to address, basic summary statistics). This writes the workbook they would want instead, from
a :class:`~cld_polars.report.Report`. What goes on each sheet is decided here; how it looks
(widths, wrapping, formats, frozen headers, filters, charts) is :mod:`cld_polars.presentation`,
shared with the compare and national workbooks.

Sheets, in order: ``Instructions`` (what was checked, how to read each sheet, what to fix
first, the verdict, how to re-run), ``Summary`` (the return, the run, the verdict, what to fix
first, % valid by module), ``Central view`` (what DHSC's pipeline will make of the return:
:mod:`cld_polars.central.sheet`, with the listed rows linked to Rows to fix), ``Field validity
by module`` (each field's rows in DHSC's data-quality vocabulary, then our extras, with
red/amber/green by % valid), ``Rule errors`` (one row per check that
fired), ``Rows to fix`` (one row per finding, in line order) and ``Summary counts`` (the
tables of :mod:`cld_polars.summary`, with charts beside the tables they plot).

Values from the return are always text cells, and counts are numbers, percentages fractions
with a % format, money in pounds, dates dates (see :mod:`cld_polars.presentation`).

The workbook is written to a temporary file beside the target and renamed into place when it
is complete, so a failure leaves no half-written file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from openpyxl.utils import quote_sheetname

from cld_polars._version import __version__
from cld_polars.central import sheet as central_sheet
from cld_polars.checks.filerules import RULES as FILE_RULES
from cld_polars.measures import DQ_STATUS, DQ_VALIDITY
from cld_polars.presentation import (
    COUNT,
    DATE,
    DATETIME,
    EXCEL_MAX_ROWS,
    INTEGER,
    MONTH,
    PERCENT,
    RAG_THRESHOLDS,
    SECONDS,
    SEVERITY_FILLS,
    SHEET_GUIDE,
    Book,
    Column,
    Fact,
)
from cld_polars.safety import command_arg, write_atomic_with
from cld_polars.spec import MODULES
from cld_polars.summary import TABLES

if TYPE_CHECKING:
    from cld_polars.report import Report

__all__ = [
    "EXCEL_MAX_ROWS",
    "MAX_FINDING_ROWS",
    "RAG_THRESHOLDS",
    "SHEETS",
    "WorkbookResult",
    "overflow_path",
    "write_workbook",
]

#: Rows above the findings on the Rows to fix sheet: the notice and the header.
ROWS_TO_FIX_TOP_ROWS = 2
#: The most findings one Rows to fix sheet can hold; the rest go to a file beside the workbook.
MAX_FINDING_ROWS = EXCEL_MAX_ROWS - ROWS_TO_FIX_TOP_ROWS
#: Rules listed under "What to fix first" on the Summary sheet.
FIX_FIRST = 10
#: The specification the checks come from.
SPECIFICATION = "Adult Social Care Client Level Data, Release 2 (DHSC guidance, January 2025)"
#: Width of the columns holding advice (messages, what to do): wide enough to read, wrapped.
ADVICE_WIDTH = 70.0

INSTRUCTIONS = "Instructions"
SUMMARY = "Summary"
CENTRAL = central_sheet.SHEET
VALIDITY = "Field validity by module"
RULES_SHEET = "Rule errors"
FINDINGS_SHEET = "Rows to fix"
COUNTS = "Summary counts"
SHEETS = (INSTRUCTIONS, SUMMARY, CENTRAL, VALIDITY, RULES_SHEET, FINDINGS_SHEET, COUNTS)
#: Chart titles on the Summary counts sheet: each is the title of the table it plots.
MONTHS_TITLE = TABLES["events_by_month"].title
UNDATED_TITLE = "Events with no end date, or an end date that is not a date"


@dataclass(frozen=True)
class WorkbookResult:
    """What was written: the workbook, how many findings it lists of how many, and the file
    that holds them all when the Rows to fix sheet could not (else ``None``)."""

    path: Path
    findings: int
    findings_written: int
    overflow: Path | None = None

    @property
    def findings_left_out(self) -> int:
        return self.findings - self.findings_written


def _verdict(report: Report) -> str:
    return "FAIL: errors to fix" if report.exit_code else "PASS: no errors"


def _file_facts(report: Report) -> list[Fact]:
    """The return's file name and, where it has one, its folder (a long path reads badly)."""
    from cld_polars.data import sample_path

    path = Path(report.file)
    facts = [Fact("File", path.name or report.file)]
    if report.file == str(sample_path()):
        facts.append(Fact("Folder", "(inside cld_polars: the bundled synthetic sample)"))
    elif str(path.parent) not in ("", "."):
        facts.append(Fact("Folder", str(path.parent)))
    return facts


def _rerun_command(report: Report, workbook: Path) -> str:
    from cld_polars.data import sample_path

    target = command_arg(workbook.name, "report.xlsx")
    if report.file == str(sample_path()):
        return f"cld-validate --sample --xlsx {target}"
    return f"cld-validate {command_arg(report.file)} --xlsx {target}"


# --- Instructions -------------------------------------------------------------------------


def _instructions_sheet(book: Book, report: Report, result: WorkbookResult) -> None:
    sheet = book.sheet(INSTRUCTIONS, gridlines=False)
    failed = bool(report.exit_code)
    sheet.title(
        "CLD validation report: read this first",
        "This workbook is what cld_polars found in one Client Level Data return, before it "
        "goes to the Data Landing Portal: the rows and values to correct, and counts to "
        "sense-check.",
    )
    sheet.heading("What was checked")
    sheet.facts(
        [
            *_file_facts(report),
            Fact("Specification", SPECIFICATION),
            Fact(
                "Checks",
                f"{len(report.checks):,} checks of rows and values (formats, defined lists, "
                "Annex A's mandatory fields, cross-field and cross-row logic) and "
                f"{len(FILE_RULES)} file rules of the Data Landing Portal",
            ),
            Fact("Rows checked", report.rows, COUNT),
            Fact("Tool", f"cld_polars {__version__}"),
            Fact("Validated at", report.validated_at.replace(microsecond=0), DATETIME),
        ]
    )
    sheet.heading("The verdict")
    sheet.facts(
        [
            Fact("Result", _verdict(report), fill="red" if failed else "green", bold=True),
            Fact(
                "Exit status",
                f"{report.exit_code}: "
                + (
                    "errors to fix before the return is submitted"
                    if failed
                    else "no errors (warnings, if any, are worth a look)"
                )
                + ". The command line exits 0 with no errors, 1 with errors, 2 when a file "
                "cannot be read at all.",
            ),
            Fact("Rows with at least one error", report.errors, COUNT),
            Fact("Rows with at least one warning", report.warnings, COUNT),
        ]
    )
    sheet.heading("What to fix first")
    for step in (
        "1. File-level findings (the Summary sheet, and Scope 'file' on Rule errors): the "
        "portal reads the whole file differently, or not at all, until they are fixed.",
        "2. Errors, the checks that affect the most rows first (the Summary's 'What to fix "
        "first'; Rule errors is sorted that way). One fix in the extract often clears "
        "thousands of rows.",
        "3. Warnings: allowed by the specification but probably wrong, or against its advice. "
        "Check them; correct those that are wrong.",
        "4. Work through Rows to fix: filter on Check or Field to take one problem at a time. "
        "Line is the line of the CSV (the header is line 1); Suggested value is the correct "
        "form where one can be worked out.",
        "5. Correct the source system or the extract, export the return again and re-run "
        "(below) until the result is PASS.",
    ):
        sheet.paragraph(step)
    sheet.heading("How to read each sheet")
    guide = pl.DataFrame(
        {
            "Sheet": list(SHEETS[1:]),
            "What it shows": [
                "The return (council, period, rows, people, events), the run, the verdict, "
                "findings by severity, file-level findings, the ten checks to fix first and "
                "% valid by module.",
                central_sheet.GUIDE[0],
                "For each of the 48 fields, by module, in the words of DHSC's data-quality "
                "report: how many rows it is Mandatory, Applicable but not mandatory, Not "
                "applicable or Undetermined on, and how many Passed (Valid, or Blank where not "
                "mandatory) or Failed (Blank where mandatory, Invalid, Release 1); then our "
                "extras: near misses, values given where not applicable, % valid in red, "
                "amber or green, rows with errors and warnings.",
                "One row per check that fired: its code, severity, fields, rows affected, "
                "what is wrong and what to do, and the guidance section it comes from. "
                "File-level findings come first.",
                "One row per problem found in a row, in line order: the line, the person and "
                "event, the field, the value as given, the check, what is wrong and the "
                "suggested value.",
                "Counts to sense-check before submitting: events by type and month, "
                "requests, assessments, services, reviews, people, long term support and "
                "weekly costs, with charts.",
            ],
            "How to use it": [
                "Start here after this sheet: is the return a PASS, and what are the biggest "
                "problems?",
                central_sheet.GUIDE[1],
                "Find the fields with poor data quality (red: under "
                f"{RAG_THRESHOLDS[1]:.0%} valid). DHSC's DQ report will show the same "
                "statuses and validity for the return.",
                "Filter on Severity or Category; read Message for what to change.",
                "Filter on Check or Field; fix the rows in your system, not in the CSV.",
                "Compare with what you expect: an empty month, a service type at zero or a "
                "cost 100 times too high is worth a look even when every row is valid.",
            ],
        }
    )
    sheet.table(guide, SHEET_GUIDE)
    sheet.heading("Where the rules come from")
    sheet.paragraph(
        "The checks follow DHSC's Client Level Data Release 2 specification (January 2025): "
        "the data items and their defined lists, the formats, and Annex A's rules on which "
        "fields are mandatory for which event type and client type; and the file rules of "
        "NHS England's Data Landing Portal (encoding, header, one record per line). Each "
        "check's 'Guidance section' on Rule errors names the part of the specification it "
        "comes from. Where the guidance is ambiguous, the choice made is listed in the "
        "project's docs/checks.md. The Central view follows DHSC's published LA dashboard "
        "code (DataS-DHSC/ASC-CLD-LA-Dashboard) as central-view-contract.md, version 1, "
        "defines it (the project's docs/central-view.md explains it)."
    )
    green, amber = RAG_THRESHOLDS
    sheet.paragraph(
        f"Colours: % valid is green at {green:.0%} or more, amber from {amber:.0%} to under "
        f"{green:.0%}, red under {amber:.0%}. Severity: error (the row does not meet the "
        "specification) is red, warning (allowed, but probably wrong) amber."
    )
    sheet.heading("How to re-run")
    sheet.facts(
        [
            Fact("Command", _rerun_command(report, result.path)),
            Fact(
                "Also useful",
                "cld-validate fix RETURN.csv --out FIXED.csv writes a copy with Release 1 "
                "values, near misses and postcodes corrected; cld-validate compare "
                "PREVIOUS.csv CURRENT.csv --xlsx diff.xlsx shows what changed since last "
                "quarter; cld-validate --help lists every option.",
            ),
        ]
    )


# --- Summary ------------------------------------------------------------------------------


def _summary_sheet(
    book: Book, report: Report, tables: dict[str, pl.DataFrame], result: WorkbookResult
) -> None:
    sheet = book.sheet(SUMMARY, gridlines=False, tab_color="red" if report.exit_code else "green")
    overview = tables["overview"].row(0, named=True) if tables["overview"].height else {}
    sheet.title(
        "CLD validation report",
        "Adult Social Care Client Level Data, Release 2: what the validator found and the "
        "counts to sense-check. Start with the verdict and 'What to fix first'.",
    )
    sheet.heading("The return")
    facts = [
        *_file_facts(report),
        Fact("LA Code", overview.get("LA Code")),
        Fact("Council", overview.get("Council") or "(not a listed council code)"),
        Fact("Reporting period start", overview.get("Reporting Period Start Date"), DATE),
        Fact("Reporting period end", overview.get("Reporting Period End Date"), DATE),
        Fact("Rows", report.rows, COUNT),
        Fact("People (distinct LA Person Unique Identifiers)", overview.get("People"), COUNT),
        Fact("Events", overview.get("Events"), COUNT),
    ]
    by_type = tables["events_by_type"].select("Event Type", "Rows").rows()
    for label, rows in by_type:
        name = "Rows without an event" if label == "(blank)" else f"  {label}"
        facts.append(Fact(name, rows, COUNT))
    sheet.facts(facts)

    sheet.heading("The run")
    run = [
        Fact("Tool", f"cld_polars {__version__}"),
        Fact("Specification", SPECIFICATION),
        Fact("Validated at", report.validated_at.replace(microsecond=0), DATETIME),
        Fact("Validation took (seconds)", round(report.seconds, 2), SECONDS),
        Fact("Encoding", report.encoding),
        Fact("Checks run", len(report.checks), COUNT),
    ]
    if report.skipped_checks:
        run.append(Fact("Checks skipped (column missing)", ", ".join(report.skipped_checks)))
    sheet.facts(run)

    sheet.heading("The verdict")
    sheet.facts(_verdict_facts(report))

    files = pl.DataFrame(
        {
            "Severity": [f.severity for f in report.file_findings],
            "Code": [f.code for f in report.file_findings],
            "Line": [f.line for f in report.file_findings],
            "Field": [f.field for f in report.file_findings],
            "Message": [f.message for f in report.file_findings],
        },
        schema={"Severity": pl.String, "Code": pl.String, "Line": pl.Int64}
        | {
            "Field": pl.String,
            "Message": pl.String,
        },
    )
    sheet.table(
        files,
        {
            "Severity": Column(fills=SEVERITY_FILLS),
            "Code": Column(),
            "Line": Column(format=INTEGER),
            "Field": Column(),
            "Message": Column(width=ADVICE_WIDTH, wrap=True),
        },
        title="File-level findings (fix these first)",
        empty="None: the file's encoding, header and structure are as the portal expects.",
    )

    fix_first = report.rules.head(FIX_FIRST).select(
        pl.col("code").alias("Check"),
        pl.col("severity").alias("Severity"),
        pl.col("rows").alias("Rows affected"),
        pl.col("fields").list.join(", ").replace("", "whole row").alias("Fields"),
        pl.col("message").alias("What to do"),
    )
    more = report.rules.height - FIX_FIRST
    sheet.table(
        fix_first,
        {
            "Check": Column(),
            "Severity": Column(fills=SEVERITY_FILLS),
            "Rows affected": COUNT,
            "Fields": Column(wrap=True, width=24),
            "What to do": Column(width=ADVICE_WIDTH, wrap=True),
        },
        title="What to fix first",
        note="File-level errors first (above), then the checks that affect the most rows, "
        "errors before warnings."
        + (
            f" {more:,} more {'check is' if more == 1 else 'checks are'} on the Rule errors sheet."
            if more > 0
            else ""
        ),
        empty="No row-level findings.",
    )

    modules = _modules_frame(report)
    table = sheet.table(
        modules,
        {
            "Module": Column(),
            "% valid": Column(format=PERCENT, rag=True),
            "Valid": COUNT,
            "Values judged": COUNT,
        },
        title="% valid by module",
        note="Of the values the fields of each module need or were given where they apply, "
        "the share that is valid (the Field validity sheet has each field).",
    )
    if modules.height:
        sheet.chart(
            table, categories="Module", values=["% valid"], kind="bar", percent=True, height=8.0
        )
    sheet.heading("Rows to fix")
    sheet.note(_rows_to_fix_notice(result), strong=result.overflow is not None)


def _verdict_facts(report: Report) -> list[Fact]:
    """The verdict and the counts behind it, by severity (each a number, to sum or compare)."""
    findings = dict(report.findings.group_by("severity").len().collect().rows())
    fired = dict(report.rules.group_by("severity").len().rows())
    failed = bool(report.exit_code)
    facts = [
        Fact("Result", _verdict(report), fill="red" if failed else "green", bold=True),
        Fact("Rows with at least one error", report.errors, COUNT),
        Fact("Rows with at least one warning", report.warnings, COUNT),
    ]
    for severity, plural in (("error", "errors"), ("warning", "warnings")):
        facts += [
            Fact(f"Checks that found {plural}", int(fired.get(severity, 0)), COUNT),
            Fact(f"Findings (row and check): {plural}", int(findings.get(severity, 0)), COUNT),
            Fact(
                f"File-level {plural}",
                sum(1 for f in report.file_findings if f.severity == severity),
                COUNT,
            ),
        ]
    return facts


def _modules_frame(report: Report) -> pl.DataFrame:
    """% valid pooled over each module's fields (module order of the specification)."""
    judged = pl.col("mandatory_rows") + pl.col("optional_rows") - pl.col("blank_optional")
    order = {m: i for i, m in enumerate(MODULES)}
    return (
        report.fields.group_by("module")
        .agg(
            judged.sum().alias("Values judged"),
            pl.col("valid").sum().alias("Valid"),
        )
        .filter(pl.col("Values judged") > 0)
        .with_columns((pl.col("Valid") / pl.col("Values judged")).alias("% valid"))
        .sort(pl.col("module").replace_strict(order, default=len(order)))
        .select(pl.col("module").alias("Module"), "% valid", "Valid", "Values judged")
    )


def _rows_to_fix_notice(result: WorkbookResult) -> str:
    if not result.findings:
        return "No findings: there are no rows to fix."
    if result.overflow is None:
        return (
            f"All {result.findings:,} findings are on the Rows to fix sheet, one row per "
            "(row, check), in line order."
        )
    return (
        f"The first {result.findings_written:,} of {result.findings:,} findings (in line order) "
        f"are on the Rows to fix sheet: {result.findings_left_out:,} were left out because an "
        f"Excel sheet holds at most {EXCEL_MAX_ROWS:,} rows. The full list is in "
        f"{result.overflow.name}, beside this workbook."
    )


# --- Central view ---------------------------------------------------------------------------


def _central_sheet(book: Book, report: Report, frame: pl.DataFrame, result: WorkbookResult) -> None:
    """What DHSC's pipeline will make of the return (:mod:`cld_polars.central.sheet`), its
    listed rows linked to their findings on Rows to fix; or why it cannot be shown."""
    sheet = book.sheet(CENTRAL)
    view = report.central
    if view is None:
        central_sheet.render_unavailable(
            sheet, report.file, report.central_problem or "it could not be worked out"
        )
        return
    places = central_sheet.FindingPlaces(
        _finding_places(report, frame, view.listed_lines()),
        result.overflow.name if result.overflow is not None else None,
    )
    central_sheet.render(sheet, central_sheet.sheet_content(view, places))


def _finding_places(report: Report, frame: pl.DataFrame, lines: pl.Series) -> pl.DataFrame:
    """For each of ``lines`` with findings: how many, and the cell of its first finding on
    Rows to fix (``frame``, the findings that sheet lists, in line order), null where the
    sheet could not hold it."""
    wanted = pl.col("line").cast(pl.Int64).is_in(lines.implode())
    counts = (
        report.findings.filter(wanted)
        .group_by(pl.col("line").cast(pl.Int64))
        .agg(pl.len().cast(pl.Int64).alias("findings"))
        .collect()
    )
    first_data_row = ROWS_TO_FIX_TOP_ROWS + 1
    on_sheet = (
        frame.select(pl.col("line").cast(pl.Int64))
        .with_row_index("at")
        .filter(wanted)
        .group_by("line")
        .agg(pl.col("at").min())
        .select(
            "line",
            pl.concat_str(
                [
                    pl.lit(f"{quote_sheetname(FINDINGS_SHEET)}!A"),
                    (pl.col("at").cast(pl.Int64) + first_data_row).cast(pl.String),
                ]
            ).alias("target"),
        )
    )
    return (
        counts.join(on_sheet, on="line", how="left")
        .select(list(central_sheet.PLACES_SCHEMA))
        .cast(central_sheet.PLACES_SCHEMA)
        .sort("line")
    )


# --- Field validity -------------------------------------------------------------------------

#: The Field validity sheet's columns: DHSC's data-quality vocabulary (``measures.DQ_LABELS``)
#: for what DHSC's DQ report has, then our own measures that it does not. The validator's
#: other per-field measures (``measures.VALIDITY_MEASURES``) are the same rows counted another
#: way (only where the field applies): shown once, under DHSC's names, not twice.
_KEYS = {"module": "Module", "field": "Field"}
_OUR_EXTRAS = {
    "near_miss": "Near miss (of Failed: Invalid)",
    "given_not_applicable": "Given where not applicable",
    "pct_valid": "% valid",
    "errors": "Rows with errors",
    "warnings": "Rows with warnings",
    "present": "Column in the return",
}
VALIDITY_BANDS = (
    ("DHSC status of the rows (each row has one)", DQ_STATUS),
    ("DHSC validity of the rows (each row has one)", DQ_VALIDITY),
    ("Our extras", _OUR_EXTRAS),
)


def _validity_sheet(book: Book, report: Report) -> None:
    sheet = book.sheet(VALIDITY)
    order = {m: i for i, m in enumerate(MODULES)}
    headers = _KEYS | DQ_STATUS | DQ_VALIDITY | _OUR_EXTRAS
    frame = (
        report.fields.with_columns(
            pl.col("module").replace_strict(order, default=len(order)).alias("__order"),
            pl.col("pct_valid").fill_nan(None),
        )
        .sort("__order", maintain_order=True)
        .select(list(headers))
    )
    green, amber = RAG_THRESHOLDS
    sheet.title("Field validity by module")
    columns: dict[str, Column | str] = {name: Column(header=h) for name, h in headers.items()}
    columns["pct_valid"] = Column(header="% valid", format=PERCENT, rag=True)
    columns["present"] = Column(header=_OUR_EXTRAS["present"], align="center")
    bands = [(label, next(iter(group)), list(group)[-1]) for label, group in VALIDITY_BANDS]
    sheet.table(
        frame,
        columns,
        note="Each row of the return has one status and one validity for each field, as "
        "DHSC's data-quality report labels them: each group adds up to the rows. "
        "Undetermined: whether the field applies (the Event Type is blank or not valid) or "
        "is mandatory cannot be told. Failed: Invalid includes near misses (a listed value "
        "in the wrong case or spacing; the DLP rejects them too). % valid = of the values "
        "the field needs or was given where it is known to apply, the share valid (a blank "
        f"where it is optional is left out). Green: {green:.0%} or more; amber: {amber:.0%} "
        f"to under {green:.0%}; red: under {amber:.0%}; no colour: no rows to judge.",
        freeze=True,
        key_columns=2,
        bands=bands,
    )


# --- Rule errors ----------------------------------------------------------------------------


def _rules_sheet(book: Book, report: Report) -> None:
    sheet = book.sheet(RULES_SHEET)
    n = len(report.file_findings)
    file_rows = pl.DataFrame(
        {
            "Code": [f.code for f in report.file_findings],
            "Severity": [f.severity for f in report.file_findings],
            "Scope": ["file"] * n,
            "Fields": [f.field or "" for f in report.file_findings],
            "Rows affected": [None] * n,
            "Message": [f.message for f in report.file_findings],
            "Guidance section": ["Data Landing Portal file rules"] * n,
            "Category": ["file"] * n,
        },
        schema={
            "Code": pl.String,
            "Severity": pl.String,
            "Scope": pl.String,
            "Fields": pl.String,
            "Rows affected": pl.Int64,
            "Message": pl.String,
            "Guidance section": pl.String,
            "Category": pl.String,
        },
    )
    rule_rows = report.rules.select(
        pl.col("code").alias("Code"),
        pl.col("severity").alias("Severity"),
        pl.lit("rows").alias("Scope"),
        pl.col("fields").list.join(", ").alias("Fields"),
        pl.col("rows").cast(pl.Int64).alias("Rows affected"),
        pl.col("message").alias("Message"),
        pl.col("guidance").alias("Guidance section"),
        pl.col("category").alias("Category"),
    )
    frame = pl.concat([file_rows, rule_rows], how="vertical")
    sheet.title("Rule errors")
    sheet.table(
        frame,
        {
            "Code": Column(),
            "Severity": Column(fills=SEVERITY_FILLS),
            "Scope": Column(),
            "Fields": Column(width=24, wrap=True),
            "Rows affected": COUNT,
            "Message": Column(width=ADVICE_WIDTH, wrap=True),
            "Guidance section": Column(width=30, wrap=True),
            "Category": Column(),
        },
        note="One row per check that fired: file-level findings first, then errors and "
        "warnings, most rows first. Message says what is wrong and what to do; Rows to fix "
        "lists the rows.",
        freeze=True,
        key_columns=1,
        empty="No checks fired.",
    )


# --- Rows to fix ----------------------------------------------------------------------------

_FINDING_COLUMNS: dict[str, Column | str] = {
    "line": Column(header="Line", format=INTEGER),
    "person_id": Column(header="LA Person Unique Identifier"),
    "event_reference": Column(header="Event Reference"),
    "event_type": Column(header="Event Type"),
    "field": Column(header="Field", wrap=True, width=22),
    "value": Column(header="Value", width=30),
    "severity": Column(header="Severity", fills=SEVERITY_FILLS),
    "code": Column(header="Check"),
    "what": Column(header="What is wrong", width=ADVICE_WIDTH, wrap=True),
    "suggestion": Column(header="Suggested value", width=30),
}


def _findings_frame(report: Report, limit: int) -> pl.DataFrame:
    """The first ``limit`` findings in line order, with the rule's message."""
    messages = report.rules.select("code", pl.col("message").alias("what"))
    return (
        report.findings.sort("line", maintain_order=True)
        .head(limit)
        .join(messages.lazy(), on="code", how="left", maintain_order="left")
        .select(list(_FINDING_COLUMNS))
        .collect()
    )


def _findings_sheet(book: Book, frame: pl.DataFrame, result: WorkbookResult) -> None:
    """The notice, then one row per finding (written by Polars as the sheet's XML)."""
    sheet = book.sheet(FINDINGS_SHEET)
    sheet.note(_rows_to_fix_notice(result), strong=result.overflow is not None)
    sheet.table(
        frame,
        _FINDING_COLUMNS,
        freeze=True,
        key_columns=1,
        flag_column="what",
        empty="No findings.",
    )


# --- Summary counts -------------------------------------------------------------------------


def _months(table: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Events by month split: the months (as dates, to chart) and the rest (no end date, not
    a date), so that a chart covers a whole table."""
    is_month = pl.col("Month").str.contains(r"^\d{4}-\d{2}$")
    months = table.filter(is_month).with_columns(
        pl.concat_str([pl.col("Month"), pl.lit("-01")]).str.to_date("%Y-%m-%d")
    )
    rest = table.filter(~is_month).rename({"Month": "End date"})
    return months, rest


def _counts_sheet(book: Book, tables: dict[str, pl.DataFrame]) -> None:
    sheet = book.sheet(COUNTS)
    sheet.title(
        "Summary counts",
        "Sense-check counts from the return as read. Defined-list values are counted only "
        "where valid; '(blank)' and '(not valid)' rows hold the rest, so every table adds up.",
    )
    for name, info in TABLES.items():
        if name not in tables:
            continue
        table = tables[name]
        if name == "events_by_month":
            months, rest = _months(table)
            placed = sheet.table(
                months,
                {c: MONTH if c == "Month" else COUNT for c in months.columns},
                title=info.title,
                note=info.note,
            )
            types = [c for c in months.columns if c not in ("Month", "Events")]
            if months.height and types:
                sheet.chart(
                    placed,
                    categories="Month",
                    values=types,
                    stacked=True,
                    y_title="Events",
                    width=20.0,
                    height=9.0,
                )
            sheet.table(
                rest,
                title=UNDATED_TITLE,
                note="Open events have no end date; an end date that is not a valid date is "
                "counted here rather than in a month.",
                empty="None.",
            )
            continue
        placed = sheet.table(table, title=info.title, note=info.note)
        if name == "events_by_type" and table.height:
            sheet.chart(placed, categories="Event Type", values=["Rows"], y_title="Rows")
        elif name == "people_by_age_band" and table.height:
            sheet.chart(placed, categories="Age band", values=["People"], y_title="People")
        elif name == "services_in_period" and table.height:
            sheet.chart(
                placed,
                categories="Service Type",
                values=["Open at period end"],
                kind="bar",
                y_title="Services open at period end",
            )


# --- the workbook -------------------------------------------------------------------------


def overflow_path(path: Path, suffix: str = ".csv") -> Path:
    """Where the full list of findings goes when the sheet cannot hold it."""
    return path.with_name(f"{path.stem}_findings{suffix}")


def build_book(report: Report, frame: pl.DataFrame, result: WorkbookResult) -> Book:
    """The sheets of the validation workbook (``frame``: the findings it lists)."""
    book = Book(
        title=f"CLD validation report: {Path(report.file).name}",
        creator=f"cld_polars {__version__}",
    )
    tables = report.summary
    _instructions_sheet(book, report, result)
    _summary_sheet(book, report, tables, result)
    _central_sheet(book, report, frame, result)
    _validity_sheet(book, report)
    _rules_sheet(book, report)
    _findings_sheet(book, frame, result)
    _counts_sheet(book, tables)
    return book


def write_workbook(
    report: Report,
    path: str | os.PathLike[str],
    *,
    max_rows: int = MAX_FINDING_ROWS,
    overflow_format: str = "csv",
) -> WorkbookResult:
    """Write the workbook for ``report`` to ``path`` (whole, or not at all).

    When there are more findings than ``max_rows`` (default: as many as a sheet holds), the
    first ``max_rows`` in line order go on the Rows to fix sheet and every finding is written
    beside the workbook as ``<stem>_findings.csv`` (or ``.parquet``); the sheet and Summary
    say so. Tests pass a small ``max_rows`` to exercise that for real.
    """
    if max_rows < 0:
        raise ValueError("max_rows must be 0 or more")
    if overflow_format not in ("csv", "parquet"):
        raise ValueError("overflow_format must be 'csv' or 'parquet'")
    target = Path(path)
    total = report.findings.select(pl.len()).collect().item()
    frame = _findings_frame(report, max_rows)
    overflow = overflow_path(target, f".{overflow_format}") if total > max_rows else None
    result = WorkbookResult(target, total, frame.height, overflow)

    def write(tmp: Path) -> None:
        build_book(report, frame, result).write_to(tmp)

    if overflow is not None:
        report.write_findings(overflow)
    try:
        write_atomic_with(target, write)
    except BaseException:
        if overflow is not None:
            overflow.unlink(missing_ok=True)
        raise
    return result
