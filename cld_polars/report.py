"""The result of validating a return, and its machine-readable forms.

``Report.to_json_dict`` is the contract that scripts and tests outside the project rely on
(``validation-rules.md``): keep its keys and meanings exactly.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from cld_polars.checks.registry import FileFinding
from cld_polars.measures import DQ_MEASURES, VALIDITY_MEASURES
from cld_polars.parse import text
from cld_polars.safety import json_text, write_atomic, write_atomic_with, write_report_csv

if TYPE_CHECKING:
    from cld_polars.central import CentralView
    from cld_polars.checks.registry import Check
    from cld_polars.measures import Totals
    from cld_polars.spec import Spec
    from cld_polars.workbook import WorkbookResult


@dataclass
class Report:
    """Everything a validation run found. Frames are Polars, ready for a notebook."""

    file: str
    rows: int
    release: str
    #: Rows with at least one error / warning (row and frame checks).
    errors: int
    warnings: int
    #: One row per specification field: errors and warnings are counts of rows, then the
    #: data-quality measures of ``measures.VALIDITY_MEASURES``, the same rows in DHSC's
    #: data-quality vocabulary (``measures.DQ_MEASURES``, labelled by ``measures.DQ_LABELS``)
    #: and ``pct_valid`` (0 to 1).
    fields: pl.DataFrame
    #: One row per check that fired: code, severity, fields, rows, message, guidance.
    rules: pl.DataFrame
    #: One row per failing (row, check): line, ids, field, code, severity, value, suggestion,
    #: in line order. In memory, or (a return with millions of findings) a scan of the
    #: Parquet file they were written to: read it through ``findings`` or ``finding_rows``.
    findings_data: pl.DataFrame | pl.LazyFrame
    file_findings: list[FileFinding] = field(default_factory=list)
    skipped_checks: list[str] = field(default_factory=list)
    encoding: str = "utf-8"
    seconds: float = 0.0
    checks: tuple[Check, ...] = ()
    #: The summary counts' per-row columns (``summary.summary_columns``), gathered as the
    #: return streamed past: ``summary`` is computed from them when first asked for.
    summary_base: pl.DataFrame = field(default_factory=pl.DataFrame, repr=False)
    #: The council and period as most rows give them: LA Code, Reporting Period Start Date
    #: and End Date as written (None where no row has one).
    submission: dict[str, str | None] = field(default_factory=dict)
    #: The temporary folder holding findings written to disk (removed with the report).
    spill: object = field(default=None, repr=False)
    #: What was validated: the path, or the frame a notebook passed in.
    source: str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame | None = field(
        default=None, repr=False
    )
    #: When the validation finished (local time): the workbook's Summary shows it.
    validated_at: datetime.datetime = field(default_factory=datetime.datetime.now)
    #: What DHSC's central pipeline would make of the return (``cld_polars.central``, with
    #: the contract's default parameters), from the validation's own pass; None when it
    #: cannot be computed, with the reason in ``central_problem``.
    central: CentralView | None = field(default=None, repr=False)
    central_problem: str | None = None

    @property
    def findings(self) -> pl.LazyFrame:
        """The row-level findings as a LazyFrame, ready to filter and join (for millions of
        findings, a scan of the file they were written to: filter before collecting)."""
        return self.findings_data.lazy()

    @cached_property
    def finding_rows(self) -> pl.DataFrame:
        """The row-level findings, collected into memory."""
        data = self.findings_data
        return data if isinstance(data, pl.DataFrame) else data.collect()

    @property
    def data(self) -> pl.LazyFrame:
        """The return as typed columns: ``__line`` (Int64) and the 48 fields, dates as
        ``pl.Date``, numbers numeric, the rest text; a value the findings report as invalid is
        null, so sums and monthly counts never include it.

        Built from ``source``, not from the validation's own read: a path is read again (one
        more read of the file) and a frame passed in is typed as it is. See
        :func:`cld_polars.typed.read_typed`.

        >>> from cld_polars import validate
        >>> from cld_polars.generate import generate_return
        >>> report = validate(generate_return(50, seed=1))
        >>> report.data.select("__line", "Event Start Date").collect().dtypes
        [Int64, Date]
        """
        from cld_polars.typed import read_typed

        if self.source is None:
            raise ValueError("this report does not know what was validated (source is None)")
        return read_typed(self.source)

    @cached_property
    def summary(self) -> dict[str, pl.DataFrame]:
        """The summary-count tables (``cld_polars.summary``), computed once when asked for."""
        from cld_polars.summary import summary_from_base

        return summary_from_base(self.summary_base)

    def to_excel(self, path: str | os.PathLike[str], max_rows: int | None = None) -> WorkbookResult:
        """The Excel workbook (``cld_polars.workbook``), written whole or not at all.

        ``max_rows`` caps the Rows to fix sheet (default: as many findings as a sheet holds);
        beyond it every finding is also written beside the workbook as ``<stem>_findings.csv``.
        """
        from cld_polars.workbook import MAX_FINDING_ROWS, write_workbook

        return write_workbook(
            self, path, max_rows=MAX_FINDING_ROWS if max_rows is None else max_rows
        )

    @property
    def file_errors(self) -> int:
        return sum(1 for f in self.file_findings if f.severity == "error")

    @property
    def exit_code(self) -> int:
        """0: no errors; 1: errors in rows or in the file (2 is for unreadable input)."""
        return 1 if self.errors or self.file_errors else 0

    def findings_with_messages(self) -> pl.DataFrame:
        """Findings with the analyst-facing sentence: where, what, why, what to do."""
        return self._findings_with_messages().collect()

    def _findings_with_messages(self) -> pl.LazyFrame:
        messages = self.rules.lazy().select("code", pl.col("message").alias("rule_message"))
        return (
            self.findings.join(messages, on="code", how="left", maintain_order="left")
            .with_columns(
                text(
                    "Line {}, {} = '{}': {}",
                    pl.col("line"),
                    pl.col("field"),
                    pl.col("value").fill_null(""),
                    pl.col("rule_message"),
                ).alias("message")
            )
            .with_columns(
                pl.when(pl.col("suggestion").is_not_null())
                .then(text("{} Suggested value: '{}'.", pl.col("message"), pl.col("suggestion")))
                .otherwise(pl.col("message"))
                .alias("message")
            )
            .drop("rule_message")
        )

    def to_json_dict(self) -> dict[str, Any]:
        fields = {
            row["field"]: {"errors": row["errors"], "warnings": row["warnings"]}
            for row in self.fields.to_dicts()
        }
        rules = [
            {
                "code": r["code"],
                "severity": r["severity"],
                "fields": r["fields"],
                "rows": r["rows"],
                "message": r["message"],
            }
            for r in self.rules.to_dicts()
        ]
        return {
            "file": self.file,
            "rows": self.rows,
            "release": self.release,
            "errors": self.errors,
            "warnings": self.warnings,
            "fields": fields,
            "rules": rules,
            "file_findings": [f.as_dict() for f in self.file_findings],
            # The central view's contract object in full (central-view-contract.md), or null
            # when the return states no valid period end (see ``central_problem``).
            "central": self.central.to_dict() if self.central is not None else None,
        }

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The JSON result; written whole to ``path`` (via a temporary file) when given."""
        text = json_text(self.to_json_dict(), indent=2)
        if path is not None:
            write_atomic(Path(path), text.encode("utf-8"))
        return text

    def write_findings(self, path: str | os.PathLike[str]) -> Path:
        """Every finding as CSV or Parquet (by extension), written whole or not at all.

        In the CSV, a value a spreadsheet could run as a formula starts with ``'``
        (``safety.neutralise``); the Parquet file keeps every value exactly."""
        target = Path(path)
        frame = self._findings_with_messages()  # streamed to the file, never held whole
        suffix = target.suffix.lower()
        if suffix not in (".csv", ".parquet"):
            raise ValueError(f"{target}: findings can be written as .csv or .parquet")

        if suffix == ".csv":
            return write_report_csv(frame, target)
        return write_atomic_with(target, lambda tmp: frame.sink_parquet(tmp))


RULES_SCHEMA: dict[str, pl.DataType] = {
    "code": pl.String(),
    "severity": pl.String(),
    "fields": pl.List(pl.String),
    "rows": pl.Int64(),
    "message": pl.String(),
    "guidance": pl.String(),
    "category": pl.String(),
}


def rules_table(fired: Sequence[Check], totals: Totals) -> pl.DataFrame:
    """``Report.rules``: one row per check that fired, errors first, most rows first."""
    return pl.DataFrame(
        {
            "code": [c.code for c in fired],
            "severity": [c.severity for c in fired],
            "fields": [list(c.fields) for c in fired],
            "rows": [totals.by_check[c.code] for c in fired],
            "message": [c.message for c in fired],
            "guidance": [c.guidance for c in fired],
            "category": [c.category for c in fired],
        },
        schema=RULES_SCHEMA,
    ).sort(["severity", "rows", "code"], descending=[False, True, False])


def fields_table(spec: Spec, present: frozenset[str], totals: Totals) -> pl.DataFrame:
    """``Report.fields``: per specification field, rows with errors and warnings naming it,
    the data-quality measures and ``pct_valid``."""
    return pl.DataFrame(
        {
            "field": list(spec.header),
            "module": [f.module for f in spec.fields],
            "present": [f.name in present for f in spec.fields],
            "errors": [totals.by_field[("error", f)] for f in spec.header],
            "warnings": [totals.by_field[("warning", f)] for f in spec.header],
            **{
                measure: [totals.measures[(measure, f)] for f in spec.header]
                for measure in (*VALIDITY_MEASURES, *DQ_MEASURES)
            },
        },
        schema_overrides={"errors": pl.Int64, "warnings": pl.Int64}
        | dict.fromkeys((*VALIDITY_MEASURES, *DQ_MEASURES), pl.Int64),
    ).with_columns(
        # Of the values that are required or were given where the field applies, the share that
        # is valid: blanks where the field is optional neither help nor hurt.
        (
            pl.col("valid")
            / (pl.col("mandatory_rows") + pl.col("optional_rows") - pl.col("blank_optional"))
        )
        .fill_nan(None)
        .alias("pct_valid")
    )
