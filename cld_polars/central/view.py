"""The central view of one return: the contract's figures, the tables behind them, its JSON."""

from __future__ import annotations

import datetime
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from cld_polars.central import contract
from cld_polars.safety import json_text, write_atomic

#: The return's fields whose values :meth:`CentralView.keep_identifiers` looks up.
PERSON_ID, EVENT_REFERENCE = "LA Person Unique Identifier", "Event Reference"


class CentralError(Exception):
    """The central view cannot be computed as asked (one sentence saying what to give)."""


@dataclass
class CentralView:
    """What DHSC's central pipeline would make of one return (central-view-contract.md v1).

    ``figures`` is the contract's JSON object, key for key (Python values: ints, floats
    rounded to 2 decimals, ISO date strings, None); the attributes below it are the same
    figures as Python values and the tables behind them as Polars frames, for notebooks and
    the workbook's Central view sheet.

    The validation JSON embeds the same object in full under its ``central`` key (computed
    with the default parameters from the validation's own pass), not a pointer to a second
    file: one result file per return, and scripts read the figures where they read the rest;
    ``null`` there means the return states no valid period end (see
    ``Report.central_problem``).
    """

    figures: dict[str, Any]
    #: The file (or ``<frame>``) the view is of.
    source: str = ""
    #: Events_Ending_by_Month: one row per month with an event ending before the import month:
    #: ``month``, ``events``, ``event_types``, ``share`` (of all such events),
    #: ``meets_share`` (at least 2%), ``meets_types`` (at least the most types of any month
    #: less one), ``qualifies`` (both, or fewer than 100 events in all).
    months: pl.DataFrame = field(default_factory=pl.DataFrame)
    #: Rows dropped by the period filter: ``reason`` (the first rule the row fails, in the
    #: order of ``facts.DROP_REASONS``), then one count column per event-type bucket and ``rows``.
    dropped: pl.DataFrame = field(default_factory=pl.DataFrame)
    #: Rows kept by the period filter that have no person ID (dropped there): ``line``,
    #: ``event_type`` (bucket).
    no_person_id: pl.DataFrame = field(default_factory=pl.DataFrame)
    #: Records merged into another as the same unique event: ``line`` (the merged row),
    #: ``kept_line`` (the row DHSC keeps), ``event_type`` (bucket), ``start``, ``end``
    #: (Der_Event_End_Date), ``why_kept`` (the first ordering rule that chose the kept row).
    merged: pl.DataFrame = field(default_factory=pl.DataFrame)
    #: One row per unique event (GetUniqueEvents' output, the LA_PBI_Master_Table rows), in
    #: line order: ``line`` of the kept record, ``event_type``, ``person`` (the folded person
    #: ID, categorical), ``start``, ``end``, ``outcome`` and ``category`` (route of access,
    #: assessment type, service type or review reason). Lazy: collect what you need.
    unique_events: pl.LazyFrame = field(default_factory=pl.LazyFrame, repr=False)
    #: LA_PBI_Costs_Fact's rows: ``line``, ``service_type``, ``unit_cost``, ``frequency``,
    #: ``factor``, ``cost_per_week``, ``weeks_of_service``, ``total_cost_period``.
    costs: pl.DataFrame = field(default_factory=pl.DataFrame, repr=False)
    #: The LA Person Unique Identifier and Event Reference as given (``line``,
    #: ``person_id``, ``event_reference``) of the rows the Central view sheet lists: the
    #: merged records, the rows kept in their place and the rows with no person ID (the
    #: first ``contract.LISTED_ROWS`` of each list). A validation fills it from its own pass
    #: (:meth:`keep_identifiers`); a standalone view reads only the 20 columns it counts
    #: by, so it is empty there and the sheet lists line numbers.
    identifiers: pl.DataFrame = field(default_factory=pl.DataFrame, repr=False)

    def listed_lines(self) -> pl.Series:
        """The lines of the rows the sheet lists (see ``identifiers``), each once."""
        merged = self.merged.sort("line").head(contract.LISTED_ROWS) if self.merged.height else None
        parts = [
            pl.Series("line", [], dtype=pl.Int64),
            *(
                [merged["line"].cast(pl.Int64), merged["kept_line"].cast(pl.Int64)]
                if merged is not None
                else []
            ),
            *(
                [self.no_person_id.sort("line").head(contract.LISTED_ROWS)["line"].cast(pl.Int64)]
                if self.no_person_id.height
                else []
            ),
        ]
        return pl.concat(parts).unique().sort()

    def keep_identifiers(self, rows: pl.DataFrame | pl.LazyFrame, line: str = "line") -> None:
        """Look up ``identifiers`` in ``rows``: the return's rows with the line in column
        ``line`` and the two fields as given (text or categorical). Keeps only the listed
        rows' values."""
        lines = self.listed_lines()
        self.identifiers = (
            rows.lazy()
            .filter(pl.col(line).cast(pl.Int64).is_in(lines.implode()))
            .select(
                pl.col(line).cast(pl.Int64).alias("line"),
                pl.col(PERSON_ID).cast(pl.String).alias("person_id"),
                pl.col(EVENT_REFERENCE).cast(pl.String).alias("event_reference"),
            )
            .collect()
        )

    # --- the figures as Python values --------------------------------------------------
    def _date(self, key: str, part: str) -> datetime.date | None:
        value = self.figures[key][part]
        return None if value is None else datetime.date.fromisoformat(value)

    @property
    def import_date(self) -> datetime.date:
        return datetime.date.fromisoformat(self.figures["import_date"])

    @property
    def stated_period(self) -> tuple[datetime.date | None, datetime.date | None]:
        return self._date("stated_period", "start"), self._date("stated_period", "end")

    @property
    def derived_period(self) -> tuple[datetime.date | None, datetime.date | None]:
        return self._date("derived_period", "start"), self._date("derived_period", "end")

    @property
    def reporting_period(self) -> tuple[datetime.date, datetime.date]:
        start, end = self._date("reporting_period", "start"), self._date("reporting_period", "end")
        assert start is not None and end is not None
        return start, end

    @property
    def selected_for_period(self) -> bool:
        return bool(self.figures["selected_for_period"])

    def __getitem__(self, key: str) -> Any:
        """A figure by its contract key (``view["unique_events"]["service"]``)."""
        return self.figures[key]

    # --- JSON --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The contract's object (a deep copy: changing it does not change the view)."""
        return json.loads(json.dumps(self.figures))

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The contract's JSON; written whole to ``path`` (via a temporary file) when given."""
        text = json_text(self.figures, indent=2)
        if path is not None:
            write_atomic(Path(path), text.encode("utf-8"))
        return text

    def to_excel(self, path: str | os.PathLike[str]) -> Path:
        """The Instructions and Central view sheets as a workbook, written whole or not at
        all (:mod:`cld_polars.central.sheet`)."""
        from cld_polars.central.sheet import write_workbook

        return write_workbook(self, Path(path))

    def summary(self) -> str:
        """A few lines for the terminal, in analyst terms."""
        from cld_polars.central.sheet import terminal_summary

        return terminal_summary(self)
