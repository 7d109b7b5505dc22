"""The reader's quick structure pass (lengths instead of delimiter counts) must find exactly
what the exact pass finds, on every shape of line it accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from factory import clean_csv_bytes

from cld_polars import validate
from cld_polars.reader import read_return
from cld_polars.reader.csv import _layout
from cld_polars.reader.records import exact_structure as _structure
from cld_polars.reader.records import quick_structure as _quick_structure
from cld_polars.spec import load_spec


def _lines(newline: str = "\n") -> list[bytes]:
    return clean_csv_bytes(newline).split(newline.encode())


def _variants() -> dict[str, bytes]:
    lines = _lines()
    header, first, second = lines[0], lines[1], lines[2]
    rest = b"\n".join(lines[3:])
    return {
        "clean": b"\n".join(lines),
        "one field too many": b"\n".join([header, first + b",x", second, rest]),
        "one field too few": b"\n".join([header, first.rsplit(b",", 1)[0], second, rest]),
        "trailing delimiter on every row": b"\n".join(
            [header] + [line + b"," for line in lines[1:] if line]
        )
        + b"\n",
        "quoted comma": b"\n".join([header, first.replace(b",Female,", b',"Fe,male",', 1), rest]),
        "long value": b"\n".join(
            [header, first.replace(b",Female,", b"," + b"x" * 40_000 + b",", 1), rest]
        ),
        "crlf": clean_csv_bytes("\r\n"),
    }


@pytest.mark.parametrize("name", list(_variants()))
def test_quick_pass_agrees_with_exact_pass(name: str, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(_variants()[name])
    spec = load_spec()
    layout = _layout(path, spec, path)
    assert layout is not None
    exact: list = []
    _structure(path, layout, exact)
    quick = _quick_structure(path, layout)
    assert quick is not None, "these files all take the quick path"
    with read_return(path, spec) as source:
        raw = source.frame.collect()
        source.finish(raw)
        found = [f for f in source.findings if f.code.startswith(("ROW_", "FIELD_", "BLANK"))]
    assert [(f.code, f.line, f.message) for f in found] == [
        (f.code, f.line, f.message) for f in exact
    ]
    if name != "clean":
        assert found or name in ("quoted comma", "crlf")


def test_quick_pass_declines_odd_quotes(tmp_path: Path) -> None:
    lines = _lines()
    path = tmp_path / "r.csv"
    path.write_bytes(
        b"\n".join([lines[0], lines[1].replace(b",Female,", b',Fe"male,', 1), *lines[2:]])
    )
    layout = _layout(path, load_spec(), path)
    assert layout is not None and _quick_structure(path, layout) is None
    assert any(f.code.startswith("ROW_") for f in validate(path).file_findings)


def test_doubled_quotes_are_counted_exactly(tmp_path: Path) -> None:
    lines = _lines()
    path = tmp_path / "r.csv"
    doubled = lines[1].replace(b",Female,", b',"Fe""male",', 1)
    path.write_bytes(b"\n".join([lines[0], doubled, *lines[2:]]))
    report = validate(path)
    assert not [f for f in report.file_findings if f.code.startswith("ROW_")]
    assert report.finding_rows.filter(report.finding_rows["line"] == 2)["value"].to_list() == [
        'Fe"male'
    ]


@pytest.mark.parametrize("value", [b'Fe"ma"le', b'"Fe"male', b'x"Fe"', b'"Fe"ma"le"', b'"F"e"m"'])
def test_quotes_out_of_place_are_read_again_exactly(tmp_path: Path, value: bytes) -> None:
    """Quotes out of place: caught by the quick pass's check or given away by the rows (the
    file is then read again the exact way); either way the findings are the exact pass's."""
    lines = _lines()
    path = tmp_path / "r.csv"
    path.write_bytes(
        b"\n".join([lines[0], lines[1].replace(b",Female,", b"," + value + b",", 1), *lines[2:]])
    )
    layout = _layout(path, load_spec(), path)
    assert layout is not None
    exact: list = []
    _structure(path, layout, exact)
    report = validate(path)
    assert (
        [f.code for f in report.file_findings if f.code.startswith("ROW_")]
        == [f.code for f in exact]
        == ["ROW_QUOTES"]
    )
