"""In CSV, ``""`` and an empty field are the same value: blank, everywhere (issue 13).

SQL Server, SSIS and many case-management exports quote every field, so a blank comes as
``""``. The fault catalogue (one fault per check) is written twice, as usual and with every
field quoted, and every consumer of the values must give the same answer for both: each
check family, the JSON result, the findings, the summary tables, the typed data, ``compare``
and ``fix``. A property test does the same for generated returns with random blanks.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import polars as pl
import pytest
from catalogue import build
from factory import HEADER, TEMPLATES, Quoting, clean_rows, row
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cld_polars import compare, fix_return, validate
from cld_polars.checks.families import FAMILIES, Family
from cld_polars.cli import main
from cld_polars.compare import TABLES
from cld_polars.report import Report
from cld_polars.spec import load_spec

SPEC = load_spec()


def all_quoted(source: Path, target: Path) -> Path:
    """The same records with every field quoted (``quote_style="always"``)."""
    with source.open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle))
    with target.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows(records)
    return target


def _json(report: Report) -> dict[str, object]:
    result = json.loads(report.to_json())
    result.pop("file")
    return result


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Report, Report]:
    folder = tmp_path_factory.mktemp("quoting")
    plain, _ = build(folder / "plain.csv")
    quoted = all_quoted(plain, folder / "quoted.csv")
    assert b',"",' in quoted.read_bytes()  # blanks really are written as ""
    return plain, quoted, validate(plain), validate(quoted)


def _family_rules(report: Report, family: Family) -> pl.DataFrame:
    codes = [c.code for c in family.checks(SPEC)]
    return report.rules.filter(pl.col("code").is_in(codes)).select("code", "rows").sort("code")


def _family_findings(report: Report, family: Family) -> pl.DataFrame:
    codes = [c.code for c in family.checks(SPEC)]
    return report.finding_rows.filter(pl.col("code").is_in(codes)).drop("person_id")


@pytest.mark.parametrize("family", FAMILIES, ids=[f.name for f in FAMILIES])
def test_every_check_family_reads_quoted_blanks_as_blank(
    pair: tuple[Path, Path, Report, Report], family: Family
) -> None:
    _, _, plain, quoted = pair
    rules = _family_rules(plain, family)
    assert rules.height, "the catalogue fires checks of every family"
    assert _family_rules(quoted, family).equals(rules)
    assert _family_findings(quoted, family).equals(_family_findings(plain, family))


def test_the_whole_result_is_the_same(pair: tuple[Path, Path, Report, Report]) -> None:
    plain_path, quoted_path, plain, quoted = pair
    assert _json(quoted) == _json(plain)
    assert quoted.finding_rows.equals(plain.finding_rows)
    # Through the command line too: same exit status, same JSON but for the file's name.
    out = plain_path.parent / "out"
    out.mkdir(exist_ok=True)
    codes = [main([str(p), "--json", str(out / f"{p.stem}.json"), "-q"]) for p in pair[:2]]
    assert codes[0] == codes[1] == 1
    results = [json.loads((out / f"{p.stem}.json").read_text()) for p in (plain_path, quoted_path)]
    for result in results:
        result.pop("file")
    assert results[0] == results[1]


def test_quoted_blank_names_and_identifiers_are_missing(
    pair: tuple[Path, Path, Report, Report],
) -> None:
    _, _, plain, quoted = pair
    for code in (
        "FIRST_NAME_MISSING",
        "LAST_NAME_MISSING",
        "LA_PERSON_UNIQUE_IDENTIFIER_MISSING",
        "NHS_NUMBER_MISSING",
    ):
        lines = quoted.finding_rows.filter(pl.col("code") == code)["line"].to_list()
        assert lines, code
        assert lines == plain.finding_rows.filter(pl.col("code") == code)["line"].to_list()
    # Blanks are never format errors (an NHS number of "" is not a malformed number).
    assert not quoted.finding_rows.filter(
        pl.col("code").str.ends_with("_FORMAT") & pl.col("value").is_null()
    ).height


def test_quoted_blank_identifiers_are_not_one_person(tmp_path: Path) -> None:
    """Rows whose LA Person Unique Identifier is "" are not grouped into one person."""
    rows = [
        *clean_rows(),
        row("request", 801, **{"LA Person Unique Identifier": "", "Date of Birth": "01/02/1950"}),
        row("request", 802, **{"LA Person Unique Identifier": "", "Date of Birth": "03/04/1960"}),
    ]
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows([r.get(h, "") for h in HEADER] for r in rows)
    path = tmp_path / "quoted.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    codes = set(validate(path).finding_rows["code"].to_list())
    assert "LA_PERSON_UNIQUE_IDENTIFIER_MISSING" in codes
    assert not {c for c in codes if c.startswith("PERSON_")}


def test_summary_and_typed_data_are_the_same(pair: tuple[Path, Path, Report, Report]) -> None:
    _, _, plain, quoted = pair
    plain_tables, quoted_tables = plain.summary, quoted.summary
    assert plain_tables.keys() == quoted_tables.keys()
    for name, table in plain_tables.items():
        assert quoted_tables[name].equals(table), name
    assert quoted.data.collect().equals(plain.data.collect())


def test_compare_gives_the_same_tables(tmp_path: Path) -> None:
    """Last quarter's return against this quarter's, written plain or all quoted."""
    from cld_polars.generate import generate_pair

    previous, current, _ = generate_pair(600, seed=5)
    previous.write_csv(tmp_path / "q2.csv")
    current.write_csv(tmp_path / "q3.csv")
    current.write_csv(tmp_path / "q3_quoted.csv", quote_style="always")
    assert b',"",' in (tmp_path / "q3_quoted.csv").read_bytes()
    plain = compare(tmp_path / "q2.csv", tmp_path / "q3.csv")
    quoted = compare(tmp_path / "q2.csv", tmp_path / "q3_quoted.csv")
    for name in TABLES:
        assert getattr(quoted, name).equals(getattr(plain, name)), name


def test_fix_corrects_the_same_values_and_keeps_the_quoting(
    pair: tuple[Path, Path, Report, Report],
) -> None:
    plain_path, quoted_path, _, _ = pair
    folder = plain_path.parent
    plain_fix = fix_return(plain_path, folder / "plain_fixed.csv")
    quoted_fix = fix_return(quoted_path, folder / "quoted_fixed.csv")
    assert plain_fix.changes.height
    assert quoted_fix.changes.equals(plain_fix.changes)
    before = quoted_path.read_bytes().split(b"\n")
    after = (folder / "quoted_fixed.csv").read_bytes().split(b"\n")
    changed = {line - 1 for line in quoted_fix.changes["line"].to_list()}
    assert len(before) == len(after)
    for i, (old, new) in enumerate(zip(before, after, strict=True)):
        if i not in changed:
            assert old == new, f"line {i + 1} was rewritten"
        else:
            assert new.count(b'""') >= 1 and new.startswith(b'"')  # still quoted throughout


def test_an_empty_workbook_cell_is_blank(tmp_path: Path) -> None:
    """A workbook's empty text (an inline or shared string of no characters) is blank too."""
    import rawxlsx

    values = [clean_rows()[1][h] for h in HEADER]
    first = HEADER.index("First Name")
    cells = "".join(
        rawxlsx.cell(2, i, v) if i != first else f'<c r="{rawxlsx.column(i)}2" t="s"><v>0</v></c>'
        for i, v in enumerate(values)
    )
    last = HEADER.index("Last Name")
    cells = cells.replace(
        rawxlsx.cell(2, last, values[last]),
        f'<c r="{rawxlsx.column(last)}2" t="inlineStr"><is><t></t></is></c>',
    )
    book = rawxlsx.write(
        tmp_path / "r.xlsx",
        rawxlsx.sheet([rawxlsx.header_row(), f'<row r="2">{cells}</row>']),
        shared=rawxlsx.shared_strings([""], 1),
    )
    codes = set(validate(book).finding_rows["code"].to_list())
    assert {"FIRST_NAME_MISSING", "LAST_NAME_MISSING"} <= codes


# --- property: any return and its all-quoted copy ---------------------------------------------

_ROWS = clean_rows()
_TEMPLATES = [row(t, 900 + i) for i, t in enumerate(TEMPLATES)]
_VALUES = st.sampled_from(["", " ", "x", "0", "01/01/2025", "Female", "=1", '"', ",", "a\nb"])


@st.composite
def returns(draw: st.DrawFn) -> list[dict[str, str]]:
    """Rows of the clean return and of each event type, some fields blanked or replaced."""
    rows = [dict(r) for r in draw(st.lists(st.sampled_from(_ROWS + _TEMPLATES), max_size=12))]
    for r in rows:
        for name in draw(st.lists(st.sampled_from(HEADER), max_size=6)):
            r[name] = draw(_VALUES)
    return rows


@settings(
    max_examples=15,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(returns(), st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_NONNUMERIC]))
def test_any_return_and_its_all_quoted_copy_give_the_same_json(
    rows: list[dict[str, str]], base: Quoting
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name, quoting in (("base", base), ("quoted", csv.QUOTE_ALL)):
            path = Path(folder) / f"{name}.csv"
            with path.open("w", encoding="utf-8", newline="") as handle:
                writer = csv.writer(handle, quoting=quoting, lineterminator="\n")
                writer.writerow(HEADER)
                writer.writerows([r.get(h, "") for h in HEADER] for r in rows)
            paths.append(path)
        first, second = (validate(p) for p in paths)
        assert _json(second) == _json(first)
        assert second.finding_rows.equals(first.finding_rows)
