"""The bundled sample return: a small synthetic return with a few faults of common kinds.

``cld-validate --sample`` validates it, so a new user sees real findings on a fresh machine.
It is generated (no real personal data) and can be rebuilt with
``python -m cld_polars.sample cld_polars/data/sample_return.csv``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import polars as pl

from cld_polars.generate import generate_return
from cld_polars.safety import write_atomic_with

SAMPLE_ROWS = 500
SAMPLE_SEED = 2025
PERSON_IDS = ("NHS Number", "LA Person Unique Identifier")

#: (row position, field, value): faults analysts meet most often.
FAULTS: tuple[tuple[int, str, str], ...] = (
    (3, "Client Type", "Service User"),  # Release 1 value
    (10, "Gender", "female"),  # near miss
    (17, "Event Start Date", "2025-01-14"),  # ISO date
    (24, "Postcode", "ln1 1yl"),  # lower case postcode
    (31, "NHS Number", "9434765918"),  # fails Modulus 11
    (38, "Ethnicity", "White - Irish"),  # Release 1 punctuation
    (45, "Event Description", '=HYPERLINK("http://example.org")'),  # formula-like
    (52, "Accommodation Status", "Rough sleeper / squatting"),  # Release 1 value
    (59, "Primary Support Reason", "Physical support"),  # invalid
    (66, "Date of Birth", "31/02/1950"),  # not a calendar date
)


def make_sample() -> pl.DataFrame:
    """The sample return as a frame (deterministic)."""
    frame = generate_return(SAMPLE_ROWS, seed=SAMPLE_SEED).with_row_index("__i")
    for position, field, value in FAULTS:
        frame = frame.with_columns(
            pl.when(pl.col("__i") == position)
            .then(pl.lit(value))
            .otherwise(pl.col(field))
            .alias(field)
        )
    return frame.drop("__i")


def misread_return(rows: int = 3000, seed: int = 5) -> pl.DataFrame:
    """A generated return that DHSC's pipeline would read differently from what it states,
    to show (and test) the Central view: the stated period starts six months before its
    first events and few events end in its last month (so DHSC derives a shorter period and
    would not select it), every 211th row has no NHS Number nor LA Person Unique Identifier,
    and every 97th row's request or review is sent twice, the copy under a new reference
    (``-R``), which DHSC merges."""
    frame = generate_return(rows, seed=seed).with_row_index("__i")
    late = pl.col("Event End Date").str.ends_with("/09/2025")
    frame = frame.filter(~late | (pl.col("__i") % 20 == 0))
    no_id = pl.col("__i") % 211 == 5
    frame = frame.with_columns(
        pl.lit("01/04/2024").alias("Reporting Period Start Date"),
        *(pl.when(no_id).then(None).otherwise(pl.col(f)).alias(f) for f in PERSON_IDS),
    )
    repeats = frame.filter(
        (pl.col("__i") % 97 == 3) & pl.col("Event Type").is_in(["Request", "Review"])
    ).with_columns((pl.col("Event Reference") + "-R").alias("Event Reference"))
    return pl.concat([frame, repeats]).sort("__i", maintain_order=True).drop("__i")


def write_sample(path: str | Path) -> Path:
    target = Path(path)
    sample = make_sample()
    # Whole or not at all, and never over a return this process read, as every output.
    return write_atomic_with(target, lambda tmp: sample.write_csv(tmp, line_terminator="\n"))


if __name__ == "__main__":
    print(write_sample(sys.argv[1] if len(sys.argv) > 1 else "sample_return.csv"))
