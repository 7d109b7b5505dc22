"""Outputs never land on inputs, get whole-stem names, hold their folder while a run writes
them, are re-checked when tampered with, neutralise formula-like CSV cells and print every
value escaped (issue 13, the output half). Real files through the command line."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from factory import clean_rows, row, write_csv, write_workbook
from hypothesis import given
from hypothesis import strategies as st

from cld_polars import safety, validate
from cld_polars.cli import main
from cld_polars.generate import generate_pair, write_return
from cld_polars.progress import Progress

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
CLI = [sys.executable, "-m", "cld_polars.cli"]


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def ret(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "R.csv", [*clean_rows(), row("request", 9, Gender="Femal")])


# ---------------------------------------------------------------------------------------------
# No output resolves to an input
# ---------------------------------------------------------------------------------------------

ALIASES: dict[str, Callable[[Path], Path]] = {
    "same path": lambda source: source,
    "other spelling": lambda source: source.parent / "." / source.name,
    "symlink": lambda source: _symlink(source),
    "hard link": lambda source: _hardlink(source),
}


def _symlink(source: Path) -> Path:
    link = source.with_name("link.csv")
    link.symlink_to(source)
    return link


def _hardlink(source: Path) -> Path:
    link = source.with_name("hard.csv")
    os.link(source, link)
    return link


@pytest.mark.parametrize("option", ["--errors", "--json", "--xlsx"])
@pytest.mark.parametrize("alias", list(ALIASES))
def test_an_output_onto_the_return_is_refused_before_anything_runs(
    ret: Path, option: str, alias: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ret.read_bytes()
    target = ALIASES[alias](ret)
    listing = sorted(p.name for p in ret.parent.iterdir())
    assert main([str(ret), option, str(target)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert line.startswith(f"cld-validate: {option} ") and "would overwrite the return" in line
    assert str(target.name) in line and str(ret.name) in line  # names both
    assert ret.read_bytes() == before
    assert sorted(p.name for p in ret.parent.iterdir()) == listing  # nothing written


def test_the_workbook_overflow_beside_it_may_not_land_on_a_return(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / "R_findings.csv", clean_rows())
    assert main([str(source), "--xlsx", str(tmp_path / "R.xlsx")]) == 2
    assert "R_findings.csv" in _one_line(capsys.readouterr().err)
    assert not (tmp_path / "R.xlsx").exists()


def test_out_dir_given_as_the_return_file(ret: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = ret.read_bytes()
    assert main([str(ret), "--out-dir", str(ret)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "--out-dir" in line and "not a folder" in line
    assert ret.read_bytes() == before


def test_out_dir_in_the_returns_folder_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Reports written among the returns: never over a return, never read back as one."""
    folder = tmp_path / "returns"
    north = write_return(folder / "north.csv", 150, seed=1, la_code="503")
    south = write_csv(folder / "south.csv", [*clean_rows(), row("request", 9, Gender="Femal")])
    originals = {p: p.read_bytes() for p in (north, south)}
    command = [str(folder), "--out-dir", str(folder), "--findings", "csv"]
    assert main([*command, "--quiet"]) == 1
    first = json.loads((folder / "index.json").read_text(encoding="utf-8"))["returns"]
    assert [r["stem"] for r in first] == ["north", "south"]
    written = {p.name for p in folder.iterdir()} - {"north.csv", "south.csv"}
    assert {"index.csv", "north_findings.csv", "national.parquet", "south.xlsx"} <= written
    capsys.readouterr()

    assert main(command) == 1  # the folder again, and as a glob of everything in it
    err = capsys.readouterr().err
    assert "left out" in err and "index.csv" in err
    second = json.loads((folder / "index.json").read_text(encoding="utf-8"))["returns"]
    assert [(r["stem"], r["skipped"]) for r in second] == [("north", True), ("south", True)]
    every_file = sorted(str(p) for p in folder.iterdir() if p.is_file())
    assert main([*every_file, "--out-dir", str(folder), "--findings", "csv", "--quiet"]) == 1
    third = json.loads((folder / "index.json").read_text(encoding="utf-8"))["returns"]
    assert [r["file"] for r in third] == [str(north), str(south)]
    assert {p: p.read_bytes() for p in originals} == originals


def test_out_dir_refused_when_an_output_would_be_a_return(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A council's workbook ``north.xlsx`` among the returns: our ``north.xlsx`` would replace
    it; a return named ``south_findings.csv``: ``south``'s findings would."""
    folder = tmp_path / "returns"
    folder.mkdir()
    book = write_workbook(folder / "north.xlsx", clean_rows())
    write_csv(folder / "south.csv", clean_rows())
    before = book.read_bytes()
    assert main([str(folder), "--out-dir", str(folder)]) == 2
    line = _one_line(capsys.readouterr().err)
    assert "north.xlsx would overwrite the return" in line
    assert book.read_bytes() == before and not (folder / "index.json").exists()
    book.unlink()
    findings = write_csv(folder / "south_findings.csv", clean_rows())
    assert main([str(folder), "--out-dir", str(folder), "--findings", "csv"]) == 2
    assert "south_findings.csv would overwrite the return" in capsys.readouterr().err
    assert findings.read_bytes() == (folder / "south.csv").read_bytes()


def test_compare_xlsx_onto_a_return_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    previous, current, _ = generate_pair(200, seed=2)
    q2, q3 = tmp_path / "q2.csv", tmp_path / "q3.csv"
    previous.write_csv(q2)
    current.write_csv(q3)
    before = q3.read_bytes()
    for target in (q3, _hardlink(q3), _symlink(q2)):
        assert main(["compare", str(q2), str(q3), "--xlsx", str(target)]) == 2
        line = _one_line(capsys.readouterr().err)
        assert line.startswith("cld-validate compare: --xlsx") and "overwrite the return" in line
    assert q3.read_bytes() == before


@pytest.mark.parametrize("alias", ["same path", "symlink", "hard link"])
def test_fix_out_and_log_onto_the_return_are_refused(
    ret: Path, alias: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = ret.read_bytes()
    target = ALIASES[alias](ret)
    assert main(["fix", str(ret), "--out", str(target)]) == 2
    assert "never modified" in _one_line(capsys.readouterr().err)
    fixed = ret.with_name("fixed.csv")
    assert main(["fix", str(ret), "--out", str(fixed), "--log", str(target)]) == 2
    assert "--log" in _one_line(capsys.readouterr().err)
    assert ret.read_bytes() == before and not fixed.exists()


# ---------------------------------------------------------------------------------------------
# Names from the whole stem
# ---------------------------------------------------------------------------------------------


def test_dotted_names_get_their_own_reports(tmp_path: Path) -> None:
    q2 = write_return(tmp_path / "cld.2025Q2.csv", 120, seed=1)
    q3 = write_return(tmp_path / "cld.2025Q3.csv", 130, seed=2)
    out = tmp_path / "out"
    out.mkdir()
    assert main([str(q2), str(q3), "--json", str(out), "--errors", str(out), "--quiet"]) == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "cld.2025Q2.json",
        "cld.2025Q2_findings.csv",
        "cld.2025Q3.json",
        "cld.2025Q3_findings.csv",
    ]
    for path in (q2, q3):
        payload = json.loads((out / f"{path.stem}.json").read_text(encoding="utf-8"))
        assert payload["file"] == str(path) and payload["rows"] == validate(path).rows
    single = tmp_path / "single"
    single.mkdir()
    assert main([str(q2), "--errors", str(single), "--quiet"]) == 0
    assert [p.name for p in single.iterdir()] == ["cld.2025Q2_findings.csv"]
    batch = tmp_path / "batch"
    assert main([str(q2), str(q3), "--out-dir", str(batch), "--quiet"]) == 0
    assert {"cld.2025Q2.xlsx", "cld.2025Q3.xlsx"} <= {p.name for p in batch.iterdir()}
    assert main(["fix", str(q2), "--out", str(tmp_path / "fixed.2025Q2.csv"), "-q"]) == 0
    assert (tmp_path / "fixed.2025Q2_changes.csv").is_file()


def test_same_names_in_two_folders_with_output_folders(tmp_path: Path) -> None:
    north = write_return(tmp_path / "north" / "r.csv", 100, seed=1)
    south = write_return(tmp_path / "south" / "r.csv", 100, seed=2)
    out = tmp_path / "out"
    out.mkdir()
    assert main([str(north), str(south), "--json", str(out), "--quiet"]) == 0
    files = {p.name: json.loads(p.read_text())["file"] for p in out.iterdir()}
    assert files == {"north_r.json": str(north), "south_r.json": str(south)}


# ---------------------------------------------------------------------------------------------
# One run per output folder; up-to-date means the outputs are as written
# ---------------------------------------------------------------------------------------------


def test_a_second_run_into_the_folder_is_refused_while_the_first_runs(tmp_path: Path) -> None:
    source = write_return(tmp_path / "big.csv", 20_000, seed=3)
    out = tmp_path / "out"
    lock = out / safety.LOCK_NAME
    first = subprocess.Popen(
        [*CLI, str(source), "--out-dir", str(out), "--quiet"],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not _holds(lock, first.pid) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.002)
        first.send_signal(signal.SIGSTOP)  # holds the folder for as long as the test needs
        assert _holds(lock, first.pid), "the first run never took the folder"
        second = subprocess.run(
            [*CLI, str(source), "--out-dir", str(out)], env=ENV, capture_output=True, text=True
        )
        assert second.returncode == 2 and second.stdout == ""
        line = _one_line(second.stderr)
        assert "another cld-validate run is writing its reports here" in line
        assert f"pid {first.pid}" in line
    finally:
        first.send_signal(signal.SIGCONT)
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert not lock.exists()
    assert json.loads((out / "index.json").read_text())["returns"][0]["status"] == "pass"


def _holds(lock: Path, pid: int) -> bool:
    """Whether the lock file names ``pid`` (written once the kernel lock is taken)."""
    try:
        return f'"pid": {pid},' in lock.read_text()
    except OSError:
        return False


def test_a_lock_left_by_a_killed_run_is_taken_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    out = tmp_path / "out"
    out.mkdir()
    holder = {"pid": gone.pid, "host": "vm", "started": "2025-01-01T00:00:00"}
    (out / safety.LOCK_NAME).write_text(json.dumps(holder))
    source = write_csv(tmp_path / "r.csv", clean_rows())
    assert main([str(source), "--out-dir", str(out), "--quiet"]) == 0
    line = _one_line(capsys.readouterr().err)
    assert "took over the lock" in line and f"pid {gone.pid}" in line
    assert not (out / safety.LOCK_NAME).exists()


@pytest.mark.parametrize("output", ["r.json", "r.xlsx", "r_findings.parquet"])
def test_a_tampered_output_is_written_again(tmp_path: Path, output: str) -> None:
    source = write_csv(tmp_path / "r.csv", [*clean_rows(), row("request", 9, Gender="Femal")])
    out = tmp_path / "out"
    command = [str(source), "--out-dir", str(out), "--findings", "parquet", "--quiet"]
    assert main(command) == 1
    pristine = (out / output).read_bytes()
    assert main(command) == 1
    assert json.loads((out / "index.json").read_text())["returns"][0]["skipped"] is True
    tampered = bytearray(pristine)
    tampered[len(tampered) // 2] ^= 0xFF  # same size, same name: only its hash tells
    (out / output).write_bytes(bytes(tampered))
    assert main(command) == 1
    assert json.loads((out / "index.json").read_text())["returns"][0]["skipped"] is False
    if output.endswith(".json"):
        assert (out / output).read_bytes() == pristine
    assert (out / output).read_bytes() != bytes(tampered)


# ---------------------------------------------------------------------------------------------
# Formula-like CSV cells
# ---------------------------------------------------------------------------------------------

#: Values a spreadsheet would run, and values it reads as plain numbers or text.
FORMULAS = [
    '=HYPERLINK("http://example.com","x")',
    "+cmd|' /C calc'!A0",
    "@SUM(A1)",
    "-2+3+cmd|' /C calc'!A0",
    "\t=1+1",
    "\n=1+1",
    " =1+1",
    "\u00a0@SUM(A1)",
    "\uff1d1+1",
    "\uff0bcmd",
    "\uff0d1+1",
    "\uff20SUM(A1)",
]
HARMLESS = ["-12.50", "+44", "1e5", "A=1", "Fem-ale", "-\u0663"]
PLAIN = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
#: Unicode White_Space (what the expression's ``\s`` matches).
WHITE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000" + "".join(
    chr(c) for c in range(0x2000, 0x200B)
)
TRIGGERS = "=+-@\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b\u2212"


def _formula_like(value: str) -> bool:
    """The rule, written independently of the expression under test."""
    if PLAIN.fullmatch(value):
        return False
    if value[:1] and value[0] in "\t\r\n":
        return True
    rest = value.lstrip(WHITE)
    return bool(rest) and rest[0] in TRIGGERS


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _check_column(written: list[str], exact: list[str]) -> None:
    """Each written cell is the exact value, with ``'`` in front where it is formula-like."""
    assert len(written) == len(exact)
    for cell, value in zip(written, exact, strict=True):
        assert cell == ("'" + value if _formula_like(value) else value), (cell, value)


@pytest.fixture
def risky_return(tmp_path: Path) -> Path:
    rows = clean_rows()
    values = FORMULAS + HARMLESS
    rows += [row("request", 200 + i, Gender=v) for i, v in enumerate(values)]
    return write_csv(tmp_path / "risky.csv", rows)


def test_errors_csv_neutralises_and_parquet_keeps_exact_values(
    risky_return: Path, tmp_path: Path
) -> None:
    csv_out, parquet_out = tmp_path / "f.csv", tmp_path / "f.parquet"
    assert main([str(risky_return), "--errors", str(csv_out), "--quiet"]) == 1
    assert main([str(risky_return), "--errors", str(parquet_out), "--quiet"]) == 1
    exact = pl.read_parquet(parquet_out)
    assert set(FORMULAS + HARMLESS) <= set(exact["value"].drop_nulls())  # nothing vacuous
    written = _read_csv(csv_out)
    for column in ("value", "suggestion", "person_id", "field", "message"):
        _check_column([r[column] for r in written], [v or "" for v in exact[column].to_list()])
    assert any(r["value"] == "'" + FORMULAS[0] for r in written)
    assert any(r["value"] == "-12.50" for r in written)


def test_the_workbook_overflow_csv_is_neutralised(risky_return: Path, tmp_path: Path) -> None:
    report = validate(risky_return)
    written = report.to_excel(tmp_path / "r.xlsx", max_rows=1)
    assert written.overflow is not None
    exact = report.finding_rows
    _check_column(
        [r["value"] for r in _read_csv(written.overflow)], [v or "" for v in exact["value"]]
    )


def test_index_csv_neutralises_file_names_and_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    names = ["=HYPERLINK(1)", "+cmd", "@SUM(A1)", "\t=1", "\r=1", " =1", "\uff1d1", "-12.50"]
    names.append("plain")
    for name in names:
        write_csv(tmp_path / f"{name}.csv", clean_rows())
    missing = "=missing.csv"
    assert main(["--out-dir", "out", "-q", "--", *(f"{n}.csv" for n in names), missing]) == 2
    records = json.loads(Path("out/index.json").read_text(encoding="utf-8"))["returns"]
    assert [r["file"] for r in records] == [f"{n}.csv" for n in names] + [missing]  # exact
    table = _read_csv(Path("out/index.csv"))
    for column in ("file", "stem", "message"):
        _check_column([r[column] for r in table], [r[column] or "" for r in records])
    assert table[0]["file"] == "'=HYPERLINK(1).csv" and table[-2]["stem"] == "plain"
    assert table[-1]["message"].startswith("'=missing.csv")
    national = pl.read_parquet("out/national.parquet")
    assert set(national["file"]) == {r["file"] for r in records}  # Parquet keeps them exact


def test_fix_change_log_is_neutralised_but_the_fixed_return_is_exact(tmp_path: Path) -> None:
    rows = clean_rows()
    rows += [
        row("request", 300, Gender=" =Male", **{"First Name": '=HYPERLINK("x")'}),
        row("request", 301, Gender="\tfemale", Postcode="\tln1 1yl"),
        row("request", 302, Gender="\uff1dFemale"),
    ]
    source = write_csv(tmp_path / "r.csv", rows)
    fixed, log = tmp_path / "fixed.csv", tmp_path / "fixed_changes.csv"
    assert main(["fix", str(source), "--out", str(fixed), "--quiet"]) == 0
    changes = _read_csv(log)
    olds = [c["old"] for c in changes]
    assert {"' =Male", "'\tfemale", "'\uff1dFemale", "'\tln1 1yl"} <= set(olds)
    first_names = [r["First Name"] for r in _read_csv(fixed)]
    assert '=HYPERLINK("x")' in first_names  # the council's data, exactly as it was


@given(st.text(max_size=12))
def test_neutralise_matches_the_rule_for_any_text(value: str) -> None:
    out = pl.DataFrame({"v": [value]}).select(safety.neutralise(pl.col("v"))).item()
    assert out == ("'" + value if _formula_like(value) else value)


# ---------------------------------------------------------------------------------------------
# Terminal output
# ---------------------------------------------------------------------------------------------

#: ESC and BEL retitle the window, ESC c resets the terminal, U+202E reverses the text and
#: the newline starts a fake verdict. (No "[": Polars reads a path holding one as a glob.)
NASTY = "a\x1b]0;owned\x07\x1bc\u202e\nPASS: no errors"


def _assert_inert(text: str) -> None:
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", text)
    assert "\\x1b" in text and "\\x07" in text and "\\u202e" in text and "\\nPASS" in text
    assert not any(line.startswith("PASS") for line in text.splitlines())


def test_values_and_file_names_print_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_csv(tmp_path / f"{NASTY}.csv", [*clean_rows(), row("request", 9, Gender=NASTY)])
    assert main([str(source)]) == 1
    captured = capsys.readouterr()
    _assert_inert(captured.out)
    assert ": 'a\\x1b]0;owned\\x07\\x1bc\\u202e\\nPASS: no errors'" in captured.out
    assert main([str(tmp_path / f"missing{NASTY}.csv")]) == 2
    _assert_inert(_one_line(capsys.readouterr().err))
    out = tmp_path / "out"
    assert main([str(source), "--out-dir", str(out)]) == 1
    _assert_inert(capsys.readouterr().out)


def test_compare_and_fix_print_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    previous, current, _ = generate_pair(200, seed=2)
    q2, q3 = tmp_path / f"q2{NASTY}.csv", tmp_path / "q3.csv"
    previous.write_csv(q2)
    current.write_csv(q3)
    assert main(["compare", str(q2), str(q3)]) == 0
    _assert_inert(capsys.readouterr().out)
    source = write_csv(tmp_path / f"r{NASTY}.csv", [*clean_rows(), row("request", 5, Gender="f")])
    assert main(["fix", str(source), "--out", str(tmp_path / f"x{NASTY}.csv")]) == 0
    _assert_inert(capsys.readouterr().out)
    assert main(["fix", str(tmp_path / f"missing{NASTY}.csv"), "--out", str(tmp_path / "y")]) == 2
    _assert_inert(_one_line(capsys.readouterr().err))


def test_progress_line_is_escaped() -> None:
    import io

    stream = io.StringIO()
    with Progress(stream, enabled=True, delay=0, interval=60) as progress:
        progress(f"checking {NASTY}.csv")
    _assert_inert(stream.getvalue().replace("\r", ""))


def test_shown_escapes_every_control_and_bidi_character() -> None:
    unsafe = [chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))]
    unsafe += [chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))]
    for char in unsafe:
        assert safety.shown(f"x{char}y").isprintable(), repr(char)
    assert safety.shown("C:\\returns\\Zoë.csv") == "C:\\returns\\Zoë.csv"


@pytest.mark.parametrize(
    "command", [[], ["compare", "a.csv", "b.csv"], ["fix", "a.csv", "--out", "b.csv"]]
)
def test_usage_errors_print_the_arguments_escaped(
    command: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([*command, "--x\x1b]0;owned\x07\u202e\nPASS"])  # no space: read as an option
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments: --x\\x1b]0;owned\\x07\\u202e\\nPASS" in err
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", err)
