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
        "FILE_UTF16",
        "error",
        "The file is saved as UTF-16 text (Excel's 'Unicode Text'), which the Data Landing "
        "Portal does not read; it was converted to check the rest.",
        "Save it as 'CSV UTF-8 (Comma delimited)' or 'CSV (Comma delimited)' instead.",
    ),
    FileRule(
        "FILE_MIXED_ENCODING",
        "error",
        "The file mixes UTF-8 and Windows-1252 characters: {count} line(s) hold UTF-8 "
        "characters (first at line {first}) among Windows-1252 ones; it was read as "
        "Windows-1252, so those characters show as two or three odd characters (such as 'Ã©').",
        "Retype the accented letters and symbols on those lines and save the whole file in "
        "one encoding (UTF-8 without BOM).",
    ),
    FileRule(
        "FILE_NUL_BYTES",
        "error",
        "{count} line(s) hold NUL bytes (first at line {first}), which are not text; the "
        "Data Landing Portal may cut values short at them.",
        "Remove them: they usually come from fixed-width CHAR columns in a database export, "
        "so trim those values in the export query.",
    ),
    FileRule(
        "FILE_LINE_ENDINGS",
        "error",
        "Lines end with a carriage return alone (the old Macintosh format), so other "
        "programs may read the whole file as one line; it was read line by line to check it.",
        "Save it as 'CSV UTF-8 (Comma delimited)' or 'CSV (Comma delimited)', not "
        "'CSV (Macintosh)'.",
    ),
    FileRule(
        "FILE_DELIMITER",
        "error",
        "Values are separated by {name}, not commas; the Data Landing Portal reads "
        "comma-separated files only. The file was read with {name} to check the rest.",
        "Export it again as comma-separated CSV (in Excel: 'CSV UTF-8 (Comma delimited)').",
    ),
    FileRule(
        "HEADER_NOT_FIRST",
        "error",
        "The header row is line {header}, not line 1; the {count} line(s) above it were ignored.",
        "Delete the lines above the header row: the Data Landing Portal reads line 1 as the "
        "column names.",
    ),
    FileRule(
        "HEADER_NOT_FOUND",
        "error",
        "Line 1 holds data, not the column names; the {count} columns were read in the "
        "specification's order and line 1 was checked as a data row.",
        "Add the Release 2 header row as line 1 (the 48 column names, spelt exactly as in the "
        "specification).",
    ),
    FileRule(
        "HEADER_TRAILING_DELIMITER",
        "warning",
        "The header row ends with a delimiter, which adds an unnamed column after "
        "'{last}'{filled}; it was not checked.",
        "Remove the delimiter at the end of each line (an export's column list or an Excel "
        "range one column too wide usually causes it).",
    ),
    FileRule(
        "ROW_TRAILING_DELIMITER",
        "error",
        "{count} row(s) end with a delimiter that the header row does not have (first at line "
        "{first}: {fields} fields, expected {expected}); the empty last field was ignored.",
        "Remove the delimiter at the end of those lines (or the export setting that adds it).",
    ),
    FileRule(
        "ROW_UNTERMINATED_QUOTE",
        "error",
        "A double quote on this line opens a value that is never closed{consequence}. The "
        "stray quote was read as an ordinary character.",
        "Add the closing double quote (or remove the stray one): a value that holds a comma, "
        "a quote or a line break is wrapped in double quotes, and a quote inside it is "
        'doubled ("").',
    ),
    FileRule(
        "ROW_QUOTES",
        "error",
        "{count} line(s) have double quotes that do not wrap whole values as CSV requires "
        "(first at line {first}); those quotes were read as ordinary characters.",
        "Wrap a value that holds a comma, a quote or a line break in double quotes and double "
        'any quote inside it (""); remove stray quotes.',
    ),
    FileRule(
        "FIELD_TOO_LONG",
        "warning",
        "{count} row(s) hold a value longer than {limit:,} characters, the most a spreadsheet "
        "cell holds (first at line {first}: '{field}', {length:,} characters).",
        "Check that value for a missing closing quote or text pasted by mistake, and shorten it.",
    ),
    FileRule(
        "FILE_NOT_CSV",
        "warning",
        "The return was read from {kind}; the Data Landing Portal accepts CSV files only.",
        "Save it as CSV ('CSV UTF-8 (Comma delimited)') for the upload, and check that CSV "
        "too: the conversion can change dates and numbers.",
    ),
    FileRule(
        "XLSX_DATES_CONVERTED",
        "warning",
        "{count} cell(s) hold Excel dates rather than text (first at row {first}, '{field}'); "
        "they were converted to dd/mm/yyyy to be checked. Saved as CSV, Excel writes them in "
        "each cell's display format, which may not be dd/mm/yyyy.",
        "Format those columns as Text holding dd/mm/yyyy (or set the date format to "
        "dd/mm/yyyy) before saving the CSV: the Data Landing Portal needs text dates.",
    ),
    FileRule(
        "PARQUET_TYPED_COLUMNS",
        "warning",
        "Column(s) {columns} are stored as {types}, not text; they were converted to text "
        "(dates as dd/mm/yyyy) to be checked.",
        "Export the CSV for the upload with every value as text and dates as dd/mm/yyyy.",
    ),
    FileRule(
        "PERIOD_COVERAGE",
        "warning",
        "The events do not fill the stated 12-month period: {detail}.",
        "Check that the extract covers the whole period and every event type.",
    ),
]

RULES: dict[str, FileRule] = {r.code: r for r in _RULES}
