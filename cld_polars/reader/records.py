"""How a delimited file's lines become records, and what is wrong with them.

A CSV record is usually one line, but a quoted value can span lines and a stray quote can
swallow the rest of the file. This module finds where each record starts and how many
values it holds, before Polars scans the file: blank lines, quotes that do not pair up,
rows with the wrong number of fields, trailing delimiters and over-long values each become
a file-level finding naming the first line to look at.

Two passes, one cheap and one exact. :func:`quick_structure` reads only per-line numbers and
leaves the field counts to be confirmed from the scan's own byte counts
(:func:`finish_structure`); a line it cannot vouch for sends the file to
:func:`exact_structure`, which groups lines into records and reads damaged ones leniently
(:func:`split_record`). Both give the same findings (``tests/test_structure.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from cld_polars.checks.filerules import RULES
from cld_polars.checks.registry import FileFinding
from cld_polars.names import LINE
from cld_polars.reader.bounds import LONG_VALUE, MAX_LINE_BYTES
from cld_polars.reader.source import BYTES, ReturnReadError

#: Delimiters a return may have been saved with, and their names for messages.
DELIMITERS = {",": "commas", ";": "semicolons", "\t": "tabs", "|": "vertical bars"}
_IN_CLASS = {",": ",", ";": ";", "\t": r"\t", "|": r"\|"}


def record_pattern(sep: str) -> str:
    """A regular expression for one well-formed CSV record (RFC 4180): each value either
    wrapped in double quotes with inner quotes doubled, or holding no quote at all.

    The same pattern serves Python's ``re`` and Polars (Rust ``regex``); both match it in
    linear time.
    """
    value = rf'(?:"(?:[^"]|"")*"|[^{_IN_CLASS[sep]}"]*)'
    return rf"^{value}(?:{re.escape(sep)}{value})*$"


def _token_pattern(sep: str) -> str:
    """One value and its delimiter, read leniently: a quoted value counts only where its
    closing quote is followed by the delimiter or the end of the line; anything else is
    read up to the next delimiter with its quotes as ordinary characters. (Rust ``regex``
    has no look-ahead; leftmost-first alternation gives the same reading.)"""
    return rf'(?:"(?:[^"]|"")*"|[^{_IN_CLASS[sep]}]*)(?:{re.escape(sep)}|$)'


def _py_value(sep: str) -> str:
    """One CSV value for Python's ``re``: quoted (inner quotes doubled) or free of quotes.

    Possessive repeats, so a value of any length is matched in one linear step without the
    backtracking stack a plain ``(?:[^"]|"")*`` builds per character. (Python's ``csv``
    module is not used: it refuses values over 131,072 characters.)
    """
    return rf'"[^"]*+(?:""[^"]*+)*+"|[^{_IN_CLASS[sep]}"]*+'


def split_record(line: str, sep: str = ",") -> tuple[list[str], bool]:
    """The values of one record, and whether its quotes were well formed.

    A record whose quotes are not well formed is read leniently (see ``_token_pattern``):
    values that are properly quoted keep their meaning, stray quotes are kept as ordinary
    characters. This is the reading the reader gives damaged lines.
    """
    if '"' not in line:
        return line.split(sep), True
    value = _py_value(sep)
    ok = re.fullmatch(rf"(?:{value})(?:{re.escape(sep)}(?:{value}))*+", line) is not None
    token = re.compile(
        value if ok else rf'"[^"]*+(?:""[^"]*+)*+"(?={re.escape(sep)}|$)|[^{_IN_CLASS[sep]}]*+'
    )
    values = []
    pos = 0
    while True:
        match = token.match(line, pos)
        assert match is not None  # both alternatives can match the empty string
        raw = match.group(0)
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2 and (ok or _quoted(raw)):
            raw = raw[1:-1].replace('""', '"')
        values.append(raw)
        pos = match.end()
        if pos >= len(line) or line[pos] != sep:
            break
        pos += 1
    return values, ok


def _quoted(raw: str) -> bool:
    return re.fullmatch(r'"[^"]*+(?:""[^"]*+)*+"', raw) is not None


def _lenient(sep: str) -> tuple[pl.Expr, pl.Expr]:
    """For damaged lines: the number of values and the line rewritten as well-formed CSV,
    read as ``split_record`` reads them (properly quoted values kept, stray quotes literal).
    """
    text = pl.col("text")
    tokens = text.str.extract_all(_token_pattern(sep))
    value = pl.element().str.strip_suffix(sep)
    quoted = value.str.contains(r'^"(?:[^"]|"")*"$')
    literal = pl.concat_str(
        pl.lit('"'), value.str.replace_all('"', '""', literal=True), pl.lit('"')
    )
    ends = text.str.ends_with(sep)
    fields = tokens.list.len().cast(pl.Int64) + ends.cast(pl.Int64)
    fixed = pl.concat_str(
        tokens.list.eval(pl.when(quoted).then(value).otherwise(literal)).list.join(sep),
        pl.when(ends).then(pl.lit(sep)).otherwise(pl.lit("")),
    )
    return fields, fixed


@dataclass
class Layout:
    """Where the header is, what it holds and how values are separated."""

    #: The line of the header row; 0 when the file has none (columns in specification order).
    header_line: int
    names: list[str]
    sep: str = ","
    #: The header's quotes are malformed (its names were read with the quotes removed).
    damaged: bool = False
    findings: list[FileFinding] = field(default_factory=list)

    @property
    def start(self) -> int:
        """The first line of data."""
        return self.header_line + 1

    @property
    def trailing(self) -> bool:
        """The header row ends with a delimiter (an unnamed last column)."""
        return len(self.names) > 1 and not self.names[-1].strip()


@dataclass
class Structure:
    #: Per record (data rows and blank lines, in order): its first line and whether it is
    #: blank. None when every line is one non-blank record.
    lines: pl.DataFrame | None
    rows: int
    #: The records' text for a clean copy (damaged lines rewritten); None when the file can
    #: be scanned as it is.
    records: pl.Series | None = None
    #: Quick path only: per line its size in bytes (newline aside), whether it is blank or
    #: ends with the delimiter, and the byte count its values must add up to if it has
    #: exactly the header's number of fields (see ``quick_structure``).
    pending: pl.DataFrame | None = None


def _fields_and_misplaced(sep: str) -> tuple[pl.Expr, pl.Expr]:
    """A line's (``text``) number of fields, and whether a quote in it is out of place.

    Each quoted stretch becomes one marker byte: the delimiters left are those between
    values, and a well-formed line has markers only next to delimiters (or each other, for
    doubled quotes) and no quote left over. One pass, as cheap as counting the delimiters.
    """
    marked = pl.col("text").str.replace_all(r'"[^"]*"', "\x01")
    cls = _IN_CLASS[sep]
    fields = marked.str.count_matches(sep, literal=True) + 1
    return fields, marked.str.contains(rf'"|[^{cls}\x01]\x01|\x01[^{cls}\x01]')


class ExactReadNeeded(Exception):
    """The quick structure pass met a quote out of place: read the file again, exactly."""


def quick_structure(path: Path, layout: Layout) -> Structure | None:
    """The usual file in one cheap pass over its lines, or None when the exact pass is needed.

    Counting a line's fields means counting its ~47 delimiters, which costs more than the CSV
    scan itself. Instead: a line whose quotes all open or close values has exactly the
    header's number of fields if and only if its length equals the bytes of its values as
    the CSV scan reads them, plus its quote characters, plus one delimiter fewer than the
    fields. The scan sums the values' bytes (``BYTES``) and ``finish_structure`` compares;
    only lines that differ (wrong field count, doubled or stray quotes, which the scan keeps
    in the values) are looked at again, exactly. A line with an odd number of quotes (a
    value spanning lines, or a quote never closed), a quote out of place among several, or
    a blank line sends the file to the exact pass at once.
    """
    if layout.damaged:
        return None
    sep = layout.sep
    text = pl.col("text")
    quotes = text.str.count_matches('"', literal=True)
    # The line scan drops a CRLF's CR with its LF: a line's bytes are its text's bytes.
    length = text.str.len_bytes().cast(pl.Int64)
    # With two quoted stretches or more, the scan can join a value from pieces (`"Fe"ma"le"`
    # reads as `Femle`) without changing the byte count: there, a quote must touch a
    # delimiter or the line's end, checked on those lines only (a separate, filtered query:
    # masking the others would copy every line). With one, a stray pair is kept in the value
    # (the bytes differ) or stops the scan; both are caught later.
    cls = _IN_CLASS[sep]
    lines = (
        pl.scan_lines(path, name="text", glob=False)
        .with_row_index("line", offset=1)
        .filter(pl.col("line") >= layout.start)
    )
    per_line, stray = pl.collect_all(
        [
            lines.select(
                # Narrow types: this table is kept for the whole pass (a few bytes a line).
                pl.col("line").cast(pl.UInt32),
                (quotes % 2 == 1).alias("odd"),
                pl.when(length < len(layout.names))
                .then(text)
                .str.contains(r"^\s*$")
                .fill_null(False)
                .alias("blank"),
                text.str.ends_with(sep).alias("trailing"),
                (length - quotes - (len(layout.names) - 1)).cast(pl.Int32).alias("target"),
                # The line's bytes, newline aside: its length for the long-value finding, and
                # where each line starts, for reading the rows a chunk at a time
                # (``reader.csv.LineChunks``).
                length.cast(pl.UInt32).alias("size"),
            ),
            lines.filter(quotes >= 4).select(
                text.str.contains(rf'[^{cls}]"[^{cls}]').any().alias("stray")
            ),
        ],
        # Streamed: the lines' text is never held whole, only the per-line numbers.
        engine="streaming",
    )
    if stray.height and stray["stray"][0]:
        return None
    if per_line.height and (per_line["odd"].any() or per_line["blank"].any()):
        return None
    return Structure(None, per_line.height, pending=per_line.drop("odd"))


def finish_structure(
    raw: pl.DataFrame, pending: pl.DataFrame, path: Path, layout: Layout
) -> list[FileFinding]:
    """The quick path's row findings, once the scan has summed each row's value bytes.

    Lines whose bytes do not add up are counted exactly (normally none are); every other
    line has the header's number of fields. A line whose quotes are out of place raises
    :class:`ExactReadNeeded`: the exact pass reads such lines its own, lenient way.
    """
    n = len(layout.names)
    if raw.height == pending.height:
        differs = pending.filter(raw[BYTES].fill_null(0).cast(pl.Int64) != pending["target"])
    else:  # cannot happen with one record per line, but never guess
        joined = pending.join(
            raw.select(pl.col(LINE).cast(pl.UInt32), BYTES),
            left_on="line",
            right_on=LINE,
            how="left",
        )
        differs = joined.filter(pl.col(BYTES).fill_null(0).cast(pl.Int64) != pl.col("target"))
    fields = pl.lit(n, dtype=pl.Int64)
    if differs.height:
        counted, misplaced = _fields_and_misplaced(layout.sep)
        exact = (
            pl.scan_lines(path, name="text", glob=False)
            .with_row_index("line", offset=1)
            .filter(pl.col("line").is_in(differs["line"].implode()))
            .select(
                pl.col("line").cast(pl.UInt32),
                counted.cast(pl.Int64).alias("exact"),
                misplaced.alias("bad"),
            )
            .collect()
        )
        if exact["bad"].any():
            raise ExactReadNeeded(path)
        fields = pl.col("line").replace_strict(
            exact["line"], exact["exact"], default=n, return_dtype=pl.Int64
        )
    records = pending.select(
        "line", "blank", "trailing", pl.col("size").alias("length"), fields.alias("fields")
    )
    found: list[FileFinding] = []
    _record_findings(records, layout, found, path)
    return found


def exact_structure(
    path: Path, layout: Layout, findings: list[FileFinding], name: Path | None = None
) -> Structure:
    """Find where each record starts, blank lines, quotes that do not pair up and rows with
    the wrong number of fields.

    Works on physical lines with Polars. In the usual file every line is a well-formed record
    and this is a single cheap pass. Otherwise a line starts a record unless an odd number of
    quote characters came before it (a quoted value spanning lines). A quote never closed is
    isolated to its own line, so one stray quote does not swallow the rest of the file; a
    record whose quotes are not well formed is read line by line, leniently (values properly
    quoted keep their meaning, stray quotes are ordinary characters: ``split_record``), and
    the records are written to a clean copy for Polars to scan.
    """
    sep = layout.sep
    text = pl.col("text")
    quotes = text.str.count_matches('"', literal=True)
    fields, misplaced = _fields_and_misplaced(sep)
    well_formed = text.str.contains(record_pattern(sep))
    lines = pl.scan_lines(path, name="text", glob=False).with_row_index("line", offset=1)
    lines = lines.filter(pl.col("line") >= layout.start).with_columns(pl.col("line").cast(pl.Int64))
    per_line = lines.select(
        "line",
        misplaced.alias("bad"),
        (text.str.strip_chars() == "").alias("blank"),
        fields.alias("fields"),
        text.str.ends_with(sep).alias("trailing"),
        text.str.len_bytes().alias("length"),
        quotes.alias("quotes"),
    ).collect(engine="streaming")  # per line numbers only: the text is never held whole
    if not per_line["line"].is_sorted():
        per_line = per_line.sort("line")
    if not per_line["bad"].any() and not layout.damaged:
        per_line = per_line.drop("quotes")
        _record_findings(per_line, layout, findings, path)
        blank = per_line["blank"]
        rows = per_line.height - int(blank.sum())
        if not blank.any():
            return Structure(None, rows)
        return Structure(per_line.select("line", "blank"), rows)

    # Records: group lines by quote parity, isolate an unclosed quote, split damaged records.
    # The records' sizes are checked on the per-line numbers, before any text is held.
    grouped = per_line.select("line", "quotes", "length")
    odd = (pl.col("quotes") % 2 == 1).cast(pl.Int64)
    grouped = grouped.with_columns(
        record=(~(odd.cum_sum().shift(1, fill_value=0) % 2 == 1)).cast(pl.Int64).cum_sum()
    )
    unclosed: int | None = None
    if int(grouped["quotes"].sum() or 0) % 2 == 1:
        last = grouped["record"].max()
        unclosed = int(grouped.filter(pl.col("record") == last)["line"][0])
        grouped = grouped.with_columns(
            record=pl.when(pl.col("line") >= unclosed)
            .then(pl.col("line") + grouped.height + 1)
            .otherwise(pl.col("record"))
        )
    _check_record_sizes(grouped, name or path)
    grouped = grouped.hstack(lines.select(text).collect())
    merged = (
        grouped.group_by("record", maintain_order=True)
        .agg("line", "text")
        .with_columns(joined=pl.col("text").list.join("\n"))
        .with_columns(
            bad=pl.col("joined").str.contains('"', literal=True)
            & ~pl.col("joined").str.contains(record_pattern(sep))
        )
    )
    whole = merged.filter(~pl.col("bad")).select(
        pl.col("line").list.first(), pl.col("joined").alias("text"), "bad"
    )
    split = (
        merged.filter(pl.col("bad"))
        .select("line", "text")
        .explode("line", "text")
        .with_columns(bad=(quotes > 0) & ~well_formed)
    )
    records = (
        pl.concat([whole, split])
        .sort("line")
        .with_columns(
            (text.str.strip_chars() == "").alias("blank"),
            fields.alias("fields"),
            text.str.ends_with(sep).alias("trailing"),
            text.str.len_bytes().alias("length"),
        )
    )
    lenient_fields, lenient_text = _lenient(sep)
    records = records.with_columns(
        pl.when(pl.col("bad")).then(lenient_fields).otherwise(pl.col("fields")).alias("fields")
    )
    _quote_findings(records, layout, unclosed, grouped.height, findings)
    _record_findings(records, layout, findings, path)
    copy = None
    if records["bad"].any() or layout.damaged:
        fixed = pl.when(pl.col("bad")).then(lenient_text).otherwise(text)
        copy = records.select(fixed.alias("text"))["text"]
    rows = int((~records["blank"]).sum())
    return Structure(records.select("line", "blank"), rows, copy)


def _check_record_sizes(grouped: pl.DataFrame, name: Path) -> None:
    """A record (a quoted value spanning lines) longer than ``MAX_LINE_BYTES`` stops the read
    before its lines are joined: no record of a return is that long."""
    sizes = (
        grouped.group_by("record")
        .agg(
            pl.col("line").min().alias("first"),
            pl.col("line").max().alias("last"),
            (pl.col("length").cast(pl.Int64).sum() + pl.len() - 1).alias("bytes"),
        )
        .filter(pl.col("bytes") > MAX_LINE_BYTES)
        .sort("first")
    )
    if sizes.height:
        first, last, size = sizes.select("first", "last", "bytes").row(0)
        raise ReturnReadError(
            f"{name}: lines {first} to {last} are one quoted value of {size / 1024**2:,.0f} MB "
            f"(a quote opened on line {first} closes only on line {last}); no record of a "
            f"return comes near that (the most read is {MAX_LINE_BYTES // 1024**2} MB). Check "
            f"the quotes on line {first}."
        )


def _quote_findings(
    records: pl.DataFrame,
    layout: Layout,
    unclosed: int | None,
    data_lines: int,
    findings: list[FileFinding],
) -> None:
    if unclosed is not None:
        after = layout.start + data_lines - 1 - unclosed
        consequence = (
            f", so the {after} line(s) after it would be read as part of that value (they "
            "were read as rows of their own)"
            if after
            else ""
        )
        findings.append(
            RULES["ROW_UNTERMINATED_QUOTE"].finding(line=unclosed, consequence=consequence)
        )
    bad = records.filter(pl.col("bad") & (pl.col("line") != (unclosed or 0)))["line"].to_list()
    if layout.damaged:
        bad.insert(0, layout.header_line)
    if bad:
        findings.append(RULES["ROW_QUOTES"].finding(line=bad[0], count=len(bad), first=bad[0]))


def _record_findings(
    records: pl.DataFrame, layout: Layout, findings: list[FileFinding], path: Path
) -> None:
    """Blank lines, trailing delimiters, wrong numbers of fields and very long values."""
    n = len(layout.names)
    blank = records.filter(pl.col("blank"))
    if blank.height:
        findings.append(RULES["BLANK_LINES"].finding(count=blank.height, first=blank["line"][0]))
    filled = pl.col("fields") == n
    if layout.trailing:
        # Rows without the trailing delimiter lack only the unnamed column: nothing is lost.
        expected = pl.col("fields").is_in([n, n - 1])
        row_trailing = pl.lit(False)
        with_value = records.filter(~pl.col("blank") & filled & ~pl.col("trailing"))
        detail = ""
        if with_value.height:
            detail = (
                f" ({with_value.height} row(s) have a value in it, "
                f"first at line {with_value['line'][0]})"
            )
        findings.append(
            RULES["HEADER_TRAILING_DELIMITER"].finding(
                line=layout.header_line, last=layout.names[-2], filled=detail
            )
        )
    else:
        # Rows ending with a delimiter the header lacks: an export setting when it is most
        # rows; on a few rows the extra field more likely comes from an unquoted comma.
        expected = filled
        row_trailing = pl.col("trailing") & (pl.col("fields") == n + 1)
        values = records.filter(~pl.col("blank"))
        if values.height and values.filter(row_trailing).height * 2 <= values.height:
            row_trailing = pl.lit(False)
    trailing = records.filter(~pl.col("blank") & row_trailing)
    if trailing.height:
        first = int(trailing["line"][0])
        findings.append(
            RULES["ROW_TRAILING_DELIMITER"].finding(
                line=first, count=trailing.height, first=first, fields=n + 1, expected=n
            )
        )
    ragged = records.filter(~pl.col("blank") & ~expected & ~row_trailing)
    if ragged.height:
        findings.append(
            RULES["ROW_FIELD_COUNT"].finding(
                line=ragged["line"][0],
                count=ragged.height,
                first=ragged["line"][0],
                fields=ragged["fields"][0],
                expected=n,
            )
        )
    long = records.filter(pl.col("length") > LONG_VALUE)
    if long.height:
        first = int(long["line"][0])
        name, length = _longest_value(path, first, layout)
        findings.append(
            RULES["FIELD_TOO_LONG"].finding(
                line=first,
                field=name,
                count=long.height,
                first=first,
                limit=LONG_VALUE,
                length=length,
            )
        )


def _longest_value(path: Path, line: int, layout: Layout) -> tuple[str, int]:
    """The column and length of the longest value on one line (the first very long one)."""
    text = (
        pl.scan_lines(path, name="text", glob=False)
        .with_row_index("line", offset=1)
        .filter(pl.col("line") == line)
        .collect()["text"][0]
    )
    values, _ = split_record(text, layout.sep)
    index = max(range(len(values)), key=lambda i: len(values[i]))
    name = layout.names[index] if index < len(layout.names) else ""
    return name.strip() or f"column {index + 1}", len(values[index])
