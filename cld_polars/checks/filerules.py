"""File-level rules: what the Data Landing Portal checks of the file as a whole.

Each rule is declared here once with its code, severity and the advice an analyst needs; the
reader and the engine raise findings from these declarations by code.
"""

from __future__ import annotations

from dataclasses import dataclass

from cld_polars.checks.registry import FileFinding, Severity


@dataclass(frozen=True)
class FileRule:
    code: str
    severity: Severity
    #: What failed; may hold ``{placeholders}`` filled in when the finding is raised.
    what: str
    #: What to do about it.
    action: str

    def finding(
        self, *, line: int | None = None, field: str | None = None, **details: object
    ) -> FileFinding:
        text = self.what.format(field=field, **details)
        where = f"Line {line}: " if line is not None else ""
        action = self.action.format(field=field, **details)
        return FileFinding(self.code, self.severity, f"{where}{text} {action}", line, field)


_RULES = [
    FileRule(
        "FILE_EMPTY",
        "error",
        "The file is empty.",
        "Export the return again: it needs the header row and one row per event.",
    ),
    FileRule(
        "FILE_HEADER_ONLY",
        "error",
        "The file has a header row but no data rows.",
        "Export the return again with its event rows.",
    ),
    FileRule(
        "FILE_TOO_LARGE",
        "error",
        "The file is {size} uncompressed; the Data Landing Portal rejects files over 4 GB.",
        "Check for duplicated rows or split the upload as the DLP guide describes.",
    ),
    FileRule(
        "FILE_BOM",
        "error",
        "The file starts with a UTF-8 byte-order mark, which the Data Landing Portal reads "
        "into the first column name.",
        "Save the CSV as UTF-8 without BOM (in Excel: 'CSV (Comma delimited)') or as Windows-1252.",
    ),
    FileRule(
        "FILE_ENCODING",
        "error",
        "{count} line(s) hold bytes that are neither UTF-8 nor Windows-1252 "
        "(first at line {first}); "
        "they were read as replacement characters.",
        "Find the characters on those lines and retype them, then save as UTF-8 without BOM.",
    ),
    FileRule(
        "HEADER_VARIANT",
        "error",
        "Column '{found}' is taken to be '{field}', but the Data Landing Portal matches "
        "column names exactly and would reject it.",
        "Rename the column to '{field}' exactly (spaces and underscores are not interchangeable).",
    ),
    FileRule(
        "HEADER_MISSING_COLUMN",
        "error",
        "Column '{field}' is missing. Checks that need it were skipped: {skipped}.",
        "Add the column with this exact name (blank where there is no data): the Data "
        "Landing Portal needs all 48 columns.",
    ),
    FileRule(
        "HEADER_EXTRA_COLUMN",
        "warning",
        "Column '{found}' is not in the Release 2 specification and was not checked.",
        "Remove it before uploading.",
    ),
    FileRule(
        "HEADER_DROPPED_COLUMN",
        "error",
        "Column '{found}' was dropped from the specification in Release 2 and the Data "
        "Landing Portal rejects returns that contain it.",
        "Remove the column.",
    ),
    FileRule(
        "HEADER_DUPLICATE_COLUMN",
        "error",
        "Column '{found}' appears more than once (columns {positions}); "
        "only the first was checked.",
        "Remove the repeated column.",
    ),
    FileRule(
        "ROW_FIELD_COUNT",
        "error",
        "{count} row(s) have a different number of fields from the header (first at line "
        "{first}: {fields} fields, expected {expected}). Missing fields were read as blank "
        "and extra fields were ignored.",
        "Check for unquoted commas in values and quote them, or remove stray delimiters.",
    ),
    FileRule(
        "BLANK_LINES",
        "error",
        "{count} blank line(s) in the file (first at line {first}); they were skipped.",
        "Remove the blank lines.",
    ),
    FileRule(
        "PERIOD_COVERAGE",
        "warning",
        "The events do not fill the stated 12-month period: {detail}.",
        "Check that the extract covers the whole period and every event type.",
    ),
]

RULES: dict[str, FileRule] = {r.code: r for r in _RULES}
