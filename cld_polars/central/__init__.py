"""The central view: what DHSC's pipeline and LA dashboard will make of a return.

DHSC builds its CLD dashboard from a council's return with published SQL
(DataS-DHSC/ASC-CLD-LA-Dashboard) that runs on NHS England's national SQL Server tables: it
derives the reporting period from the event end dates, keeps the events in the period, makes a
person ID from the NHS number or the LA identifier, merges the records it takes for one event,
and only then counts. This package computes the same figures from the council's own file,
before submission, as the contract ``central-view-contract.md`` (version 1) defines them:
:func:`central` returns a :class:`CentralView`, whose ``to_json()`` is the contract's object.

How it is built:

* ``derive``: loading as DHSC's database does (contract section 2) and the compact state kept
  per row (codes, dates, cents, categoricals of the run's own categories: about 50 bytes a row,
  never the return's text), gathered chunk by chunk by a :class:`Collector`.
* ``facts``: the periods, the period filter, person IDs, unique events and the fact tables,
  from that state once the whole return has been seen (the period is known only then).
* ``sheet``: the Central view sheet's content (titled Polars tables and the sentences that
  explain them), written through :mod:`cld_polars.presentation` on the validation workbook
  and by ``cld-validate central --xlsx``, and the terminal summary.

One read. Standalone, :func:`central` scans only the columns of ``derive.NEEDS`` with the
project's reader, streaming. Inside validation the engine gives each chunk it already holds
to the same :class:`Collector` (``engine.central_stage``), so ``cld_polars.validate`` gets
the view from its own single pass; the validation JSON's ``central`` key holds the contract's
object in full (the same object as ``cld-validate central --json`` with default parameters),
or null when the return states no valid period end (the import date is then a required
parameter, which validation does not take).

What comes next plugs in here without a second pass:

* Ages and age bands (GetDerivedFields lines 182-229): DHSC derives them from NHS England's
  birth year and month; a council has the Date of Birth itself. Add the parsed Date of Birth
  (a ``pl.Date``, 4 bytes a row) to ``derive.row_state`` and compute the latest age at
  Der_Event_End_Date (the period end for open services) in ``facts`` on the unique events,
  then ``Der_Age_Band`` / ``Der_Working_Age_Band`` as breakdowns of the fact tables. The
  contract's version would change (new keys), not this structure.
* Waiting times (``Waiting_times/waiting_times_method.sql``): request to assessment and
  request to service are joins of the unique events of one person on dates, the same shape as
  the long-term-support flag (``facts._lts_reach``: an as-of join by person on start dates),
  over ``unique_events``; no new per-row state is needed beyond what the facts keep.
* ASCOF measures (``ASCOF_measures/``) need two consecutive returns (new and existing clients,
  sequels): the ``compare`` pair. Run the collector over each return, then a two-return
  ``finish`` joins the two ``unique_events`` frames by person (the joined-submissions
  ordering of GetUniqueEvents, with the reference period as the first sort key), as
  ``cld_polars.compare`` already pairs the returns.
"""

from __future__ import annotations

import datetime
import os
import re

import polars as pl

from cld_polars.central.contract import CONTRACT_VERSION
from cld_polars.central.derive import NEEDS, Collector
from cld_polars.central.facts import finish
from cld_polars.central.view import CentralError, CentralView
from cld_polars.checks.context import LINE
from cld_polars.reader import (
    BYTES,
    ExactReadNeeded,
    ReturnSource,
    frame_source,
    read_return,
)
from cld_polars.spec import Spec, load_spec

__all__ = [
    "CONTRACT_VERSION",
    "NEEDS",
    "CentralError",
    "CentralView",
    "Collector",
    "central",
    "finish",
    "parse_day",
]

#: Rows a standalone run gathers at a time (the state it keeps is small; the chunk's text is
#: only the central view's 20 columns).
CHUNK_ROWS = 200_000

DateLike = datetime.date | str | None


def parse_day(value: DateLike, what: str = "date") -> datetime.date | None:
    """A date given as a ``datetime.date``, ``YYYY-MM-DD`` or ``dd/mm/yyyy`` (None stays None)."""
    if value is None or isinstance(value, datetime.date):
        return value
    text = str(value).strip()
    for pattern, fmt in ((r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d"), (r"\d{2}/\d{2}/\d{4}", "%d/%m/%Y")):
        if re.fullmatch(pattern, text):
            try:
                return datetime.datetime.strptime(text, fmt).date()
            except ValueError:
                break
    raise CentralError(f"{what} {value!r} is not a date: give it as YYYY-MM-DD or dd/mm/yyyy")


def central(
    source: str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame,
    *,
    import_date: DateLike = None,
    period_start: DateLike = None,
    period_end: DateLike = None,
    spec: Spec | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> CentralView:
    """The central view of a return (a path, or a frame with the specification's columns).

    ``import_date`` defaults to the stated period end + 1 day + 1 month; the reporting period
    to the stated one, else the derived one (contract section 1). Dates may be
    ``datetime.date``, ``YYYY-MM-DD`` or ``dd/mm/yyyy``. Raises
    :class:`~cld_polars.reader.ReturnReadError` when the file cannot be read and
    :class:`CentralError` when a parameter is needed or malformed.

    >>> from cld_polars.generate import generate_return
    >>> view = central(generate_return(300, seed=1))
    >>> view["contract_version"], view["rows_in"]
    ('1', 300)
    """
    imported = parse_day(import_date, "--import-date")
    start = parse_day(period_start, "--period-start")
    end = parse_day(period_end, "--period-end")
    if (start is None) != (end is None):
        raise CentralError("give both --period-start and --period-end, or neither")
    spec = spec or load_spec()
    collector = gather(source, spec, chunk_rows)
    name = "<frame>" if isinstance(source, pl.DataFrame | pl.LazyFrame) else str(source)
    return finish(collector, import_date=imported, period_start=start, period_end=end, source=name)


def gather(
    source: str | os.PathLike[str] | pl.DataFrame | pl.LazyFrame,
    spec: Spec,
    chunk_rows: int = CHUNK_ROWS,
) -> Collector:
    """One streaming pass over the central view's columns of a return, into a collector."""
    if isinstance(source, pl.DataFrame | pl.LazyFrame):
        with frame_source(source, spec) as opened:
            return _gather(opened, spec, chunk_rows)
    try:
        with read_return(source, spec) as opened:
            return _gather(opened, spec, chunk_rows)
    except ExactReadNeeded:
        # A quote out of place, found only once the rows were read: read it the exact way,
        # as validation does, so that both see the same values.
        with read_return(source, spec, quick=False) as opened:
            return _gather(opened, spec, chunk_rows)


def _gather(src: ReturnSource, spec: Spec, chunk_rows: int) -> Collector:
    collector = Collector(spec)
    # The reader's per-line byte counts tell whether the quick read split every line as the
    # exact read would (``reader.records.finish_structure``); they need every column parsed,
    # not kept.
    checked = src.finisher is not None
    frame = src.frame.select(LINE, *NEEDS, *([BYTES] if checked else []))
    byte_parts: list[pl.DataFrame] = []
    try:
        for batch in frame.collect_batches(chunk_size=chunk_rows):
            if checked:
                byte_parts.append(batch.select(LINE, BYTES))
                batch = batch.drop(BYTES)
            collector.add(collector.query(batch.lazy()).collect())
    except pl.exceptions.ComputeError as exc:
        if checked:
            raise ExactReadNeeded(src.path) from exc
        raise
    src.finish(byte_parts)  # raises ExactReadNeeded where the split differs
    return collector
