"""The trust audit of issue 13: new cases of each kind the issue names, tried on the landed
code (the hostile inputs are in ``hostile.CASES``; the rest are here).

* Outputs onto a return from the Python API (a notebook's ``report.to_json(path)``), and two
  outputs of one command that are one file.
* File names that are not UTF-8, or that hold control and bidirectional characters, through
  every output; commands shown in workbooks that a shell would run a file name's ``$(...)`` in.
* Every CSV written through one writer that neutralises formulas (found by reading the
  source, so a new writer cannot skip it).
* The terminal: ``central`` prints escaped; a closed stdout pipe (``| head``) is not an error.
* Signals during ``compare``, ``fix``, ``central`` and a batch of several workers: exit
  128 + signal, one line, nothing left behind.
* Quoting variants (CRLF, no final line break, quoted on some rows, blanks as one space
  quoted or not) give the same result.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import openpyxl
import polars as pl
import pytest
from factory import Quoting, clean_csv_bytes, clean_rows, write_cp1252, write_csv

from cld_polars import central, compare, safety, validate
from cld_polars.cli import main
from cld_polars.generate import generate_pair, generate_return

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "cld_polars.cli"]


def _state(*paths: Path) -> list[tuple[bytes, int]]:
    return [(p.read_bytes(), p.stat().st_mtime_ns) for p in paths]


# --- outputs onto inputs -------------------------------------------------------------------


def test_the_api_never_writes_over_a_return(tmp_path: Path) -> None:
    """Writers of the library refuse a return this process read, by any name or link."""
    previous, current, _ = generate_pair(200, seed=4)
    prev_path, path = tmp_path / "q2.csv", tmp_path / "q3.csv"
    previous.write_csv(prev_path)
    current.write_csv(path)
    (tmp_path / "link.csv").symlink_to(path)
    os.link(path, tmp_path / "hard.csv")
    before = _state(prev_path, path)
    report = validate(path)
    view = central(path)
    changes = compare(prev_path, path)
    attempts = [
        lambda: report.to_json(path),
        lambda: report.write_findings(tmp_path / "hard.csv"),
        lambda: report.to_excel(tmp_path / "link.csv"),
        lambda: view.to_json(str(path)),
        lambda: view.to_excel(tmp_path / "hard.csv"),
        lambda: changes.to_excel(prev_path),
    ]
    for attempt in attempts:
        with pytest.raises(safety.OutputIsInput, match="would overwrite the return"):
            attempt()
    assert _state(prev_path, path) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".cld_polars")]
    report.to_json(tmp_path / "r.json")  # anything else is written as before


def test_two_outputs_of_one_command_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "r.csv", clean_rows())
    for args in (
        [str(path), "--json", str(tmp_path / "x.out"), "--xlsx", str(tmp_path / "x.out")],
        [str(path), "--errors", str(tmp_path / "x.csv"), "--json", f"{tmp_path}/./x.csv"],
        ["central", str(path), "--json", str(tmp_path / "z"), "--xlsx", f"{tmp_path}//z"],
    ):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "one would replace the other" in err, err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["r.csv"]
    # The workbook's overflowing findings list and --errors may be the same file: one list.
    args = [
        str(path),
        "--xlsx",
        str(tmp_path / "q.xlsx"),
        "--errors",
        str(tmp_path / "q_findings.csv"),
    ]
    assert main([*args, "-q"]) == 0


# --- file names ----------------------------------------------------------------------------


def test_a_file_name_that_is_not_utf8_through_every_output(tmp_path: Path) -> None:
    """Read through a link Polars can take; the JSON gives the name back byte for byte; the
    tables (index, roll-up) show U+FFFD; report names are plain."""
    raw = os.fsencode(tmp_path) + b"/in/north\xe9\xff.csv"
    (tmp_path / "in").mkdir()
    path = Path(os.fsdecode(raw))
    path.write_bytes(clean_csv_bytes())
    out = tmp_path / "out"
    out.mkdir()
    single = [str(path), "--json", str(out / "r.json"), "--errors", str(out / "r.parquet")]
    assert main([*single, "--xlsx", str(out / "r.xlsx"), "-q"]) == 0
    assert os.fsencode(json.loads((out / "r.json").read_text("utf-8"))["file"]) == raw
    assert main(["central", str(path), "--json", str(out / "c.json"), "-q"]) == 0
    batch = tmp_path / "batch"
    assert main([str(tmp_path / "in"), "--out-dir", str(batch), "--findings", "csv", "-q"]) == 0
    index = json.loads((batch / "index.json").read_text("utf-8"))
    assert os.fsencode(index["returns"][0]["file"]) == raw
    assert "north\ufffd\ufffd.csv" in (batch / "index.csv").read_text("utf-8")
    for name in os.listdir(batch):
        name.encode("utf-8")  # every report's name is UTF-8
    assert (batch / "north__.xlsx").is_file()


def test_report_names_hold_no_control_or_bidi_characters(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_csv(inputs / "north\nPASS\x1b[2J\u202e.csv", clean_rows())
    out = tmp_path / "out"
    assert main([str(inputs), "--out-dir", str(out), "-q"]) == 0
    assert (out / "north_PASS_[2J_.xlsx").is_file() and (out / "north_PASS_[2J_.json").is_file()


def test_commands_in_workbooks_never_run_what_a_file_name_holds(tmp_path: Path) -> None:
    """The command to run again, shown for copying into a terminal, never carries a file
    name a shell would expand inside double quotes (``$(...)``, backticks, ``%VAR%``)."""
    path = write_csv(tmp_path / "north$(touch pwned)`id`%PATH%.csv", clean_rows())
    plain = write_csv(tmp_path / "north 2025 (Q2).csv", clean_rows())
    for source, expected in ((path, '"RETURN.csv"'), (plain, f'"{plain}"')):
        for args, book in (
            ([str(source), "--xlsx", str(tmp_path / "r.xlsx")], tmp_path / "r.xlsx"),
            (["central", str(source), "--xlsx", str(tmp_path / "c.xlsx")], tmp_path / "c.xlsx"),
        ):
            main([*args, "-q"])
            cells = [
                str(value)
                for sheet in openpyxl.load_workbook(book, read_only=True)
                for row in sheet.iter_rows(values_only=True)
                for value in row
                if isinstance(value, str) and value.startswith("cld-validate ") and '"' in value
            ]
            assert cells, book
            assert all(expected in c and "$(" not in c and "`" not in c for c in cells), cells


# --- every CSV writer ----------------------------------------------------------------------

#: The modules that may write CSV without ``safety.write_report_csv``, and why: none of them
#: writes a report.
CSV_WRITERS_ALLOWED = {
    "cld_polars/safety.py": "write_report_csv itself",
    "cld_polars/reader/csv.py": "the reader's temporary copy of the records, scanned and removed",
    "cld_polars/sample.py": "the bundled synthetic return (a return, not a report)",
    "cld_polars/generate.py": "generated test returns (returns, not reports)",
}


def _csv_writers(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            name = node.func.attr
            if name in ("write_csv", "sink_csv") or (
                name in ("writer", "DictWriter")
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "csv"
            ):
                lines.append(node.lineno)
    return lines


def test_every_csv_report_is_written_through_the_neutralising_writer() -> None:
    """A CSV written anywhere else in the package fails this test: route it through
    ``safety.write_report_csv`` (or say here why it is not a report)."""
    found = {}
    for path in sorted((ROOT / "cld_polars").rglob("*.py")):
        lines = _csv_writers(ast.parse(path.read_text(encoding="utf-8")))
        if lines:
            found[path.relative_to(ROOT).as_posix()] = lines
    unexpected = {name: lines for name, lines in found.items() if name not in CSV_WRITERS_ALLOWED}
    assert not unexpected, f"CSV written without safety.write_report_csv: {unexpected}"
    assert set(found) == set(CSV_WRITERS_ALLOWED)  # the list stays exact


# --- the terminal --------------------------------------------------------------------------


def test_central_prints_file_names_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "north\x1b]0;owned\x07\nPASS\u202e.csv", clean_rows())
    assert main(["central", str(path)]) == 0
    assert main(["central", str(tmp_path / "gone\x1b[2J\n.csv")]) == 2
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert not any(c in text for c in "\x1b\x07\u202e")
    assert "north\\x1b]0;owned\\x07\\nPASS\\u202e.csv" in captured.out
    assert not any(line.startswith("PASS") for line in text.splitlines())
    assert captured.err.count("\n") == 1


def test_a_closed_stdout_pipe_is_not_an_error(tmp_path: Path) -> None:
    """``cld-validate a.csv b.csv | head -1``: the reader goes away; the returns are still
    checked (exit status 0 for clean ones), nothing is reported as an unexpected error."""
    paths = [str(write_csv(tmp_path / f"r{i}.csv", clean_rows())) for i in range(3)]
    for args in (paths, ["central", paths[0]]):
        run = subprocess.Popen(
            [*CLI, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        assert run.stdout is not None and run.stderr is not None
        run.stdout.readline()
        run.stdout.close()
        err = run.stderr.read().decode()
        assert run.wait(timeout=120) == 0, err
        assert err == ""


# --- signals -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def returns(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Last quarter's return and this quarter's, and a folder of three returns."""
    folder = tmp_path_factory.mktemp("signals")
    previous, current, _ = generate_pair(30_000, seed=9)
    previous.write_csv(folder / "q2.csv")
    write_cp1252(current, folder / "q3.csv")
    for name, seed in (("a", 6), ("b", 7), ("c", 8)):
        write_cp1252(generate_return(30_000, seed=seed), folder / "batch" / f"{name}.csv")
    return folder


@pytest.mark.skipif(sys.platform != "linux", reason="signals and /proc: Linux")
@pytest.mark.parametrize("command", ["compare", "fix", "central", "batch"])
def test_a_signal_stops_every_command_cleanly(returns: Path, tmp_path: Path, command: str) -> None:
    temp, out = tmp_path / "tmp", tmp_path / "out"
    temp.mkdir()
    out.mkdir()
    arguments = {
        "compare": ["compare", str(returns / "q2.csv"), str(returns / "q3.csv")],
        "fix": ["fix", str(returns / "q3.csv"), "--out", str(out / "f.csv")],
        "central": ["central", str(returns / "q3.csv"), "--xlsx", str(out / "c.xlsx")],
        "batch": [str(returns / "batch"), "--out-dir", str(out), "--workers", "2"],
    }[command]
    if command == "compare":
        arguments += ["--xlsx", str(out / "d.xlsx")]
    run = subprocess.Popen(
        [*CLI, *arguments],
        env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(temp)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not any(d.is_dir() and any(d.glob("from_cp1252*")) for d in temp.iterdir()):
        assert run.poll() is None, run.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 128 + signal.SIGTERM, err
    program = "cld-validate" if command == "batch" else f"cld-validate {command}"
    time.sleep(0.5)  # a worker still starting, or the resource tracker, would print by now
    assert err == f"{program}: stopped by SIGTERM; temporary files removed\n"
    assert list(temp.iterdir()) == []
    assert list(out.iterdir()) == []  # no report, no hidden temporary, the lock released


def test_direction_overrides_are_shown_replaced_in_workbooks(tmp_path: Path) -> None:
    """A right-to-left override in a value or a file name would reverse the cell's text
    (and the note after it): it is shown as U+FFFD, and the finding says so."""
    rows = clean_rows()
    rows[1] = dict(rows[1], **{"Gender": "Fe\u202emale", "Ethnicity": "White\u2066"})
    path = write_csv(tmp_path / "north\u202evsc.csv", rows)
    book = tmp_path / "r.xlsx"
    main([str(path), "--xlsx", str(book), "-q"])
    texts = [
        value
        for sheet in openpyxl.load_workbook(book, read_only=True)
        for row in sheet.iter_rows(values_only=True)
        for value in row
        if isinstance(value, str)
    ]
    assert not any(c in t for t in texts for c in "\u202e\u2066")
    assert any("Fe\ufffdmale" in t for t in texts) and any("White\ufffd" in t for t in texts)
    assert any(t.startswith("north\ufffdvsc.csv (Characters") for t in texts)


def test_a_batch_of_the_audits_hostile_files(tmp_path: Path) -> None:
    """Each is its return's own ``unreadable`` line with the one-line message; the good
    return is checked; the index and the roll-up are written; nothing is printed twice."""
    from hostile import (
        empty_workbook_file,
        gzip_cut_short,
        run_limited,
        socket_file,
        utf32_with_bom,
        xlsx_many_sheets,
    )

    inputs = tmp_path / "in"
    inputs.mkdir()
    write_csv(inputs / "good.csv", clean_rows())
    builders = (socket_file, utf32_with_bom, xlsx_many_sheets, empty_workbook_file, gzip_cut_short)
    bad = []
    for build in builders:
        folder = inputs / build.__name__
        folder.mkdir()
        bad.append(build(folder, False))
    out = tmp_path / "out"
    outcome = run_limited(
        [str(inputs / "good.csv"), *map(str, bad), "--out-dir", str(out), "--workers", "2"],
        timeout=120,
    )
    assert outcome.status == 2, outcome.stderr
    assert "Traceback" not in outcome.stdout + outcome.stderr
    rows = json.loads((out / "index.json").read_text())["returns"]
    statuses = {Path(r["file"]).parent.name: r["status"] for r in rows}
    assert statuses == {"in": "pass", **{b.__name__: "unreadable" for b in builders}}
    assert all(r["message"].count("\n") == 0 for r in rows if r["message"])
    assert len(outcome.stderr.strip().splitlines()) == len(builders)
    assert (out / "national.parquet").is_file() and (out / "national.xlsx").is_file()


def test_quoting_variants_give_the_same_result(tmp_path: Path) -> None:
    """The fault catalogue with every field quoted and CRLF line ends, without a final line
    break, quoted on every other row only; and blanks written as one space, quoted or not:
    the same JSON and findings as the plain file (as its own plain form, for the spaces)."""
    from catalogue import build

    plain, _ = build(tmp_path / "plain.csv")
    with plain.open(encoding="utf-8", newline="") as handle:
        records = list(csv.reader(handle))

    def write(
        name: str,
        rows: list[list[str]],
        quoting: Quoting | Callable[[int], Quoting],
        end: str = "\n",
    ) -> Path:
        buffer = io.StringIO()
        for i, record in enumerate(rows):
            style = quoting(i) if callable(quoting) else quoting
            csv.writer(buffer, quoting=style, lineterminator=end).writerow(record)
        path = tmp_path / name
        path.write_text(buffer.getvalue(), encoding="utf-8", newline="")
        return path

    def result(path: Path) -> tuple[dict[str, object], pl.DataFrame]:
        report = validate(path)
        found = json.loads(report.to_json())
        found.pop("file")
        return found, report.finding_rows

    crlf = write("crlf.csv", records, csv.QUOTE_ALL, "\r\n")
    unended = tmp_path / "unended.csv"
    unended.write_bytes(write("quoted.csv", records, csv.QUOTE_ALL).read_bytes()[:-1])
    mixed = write("mixed.csv", records, lambda i: csv.QUOTE_ALL if i % 2 else csv.QUOTE_MINIMAL)
    expected = result(plain)
    for path in (crlf, unended, mixed):
        found = result(path)
        assert found[0] == expected[0], path.name
        assert found[1].equals(expected[1]), path.name
    spaced = [records[0], *([v or " " for v in r] for r in records[1:])]
    bare = result(write("spaces.csv", spaced, csv.QUOTE_MINIMAL))
    quoted = result(write("spaces_q.csv", spaced, csv.QUOTE_ALL))
    assert quoted[0] == bare[0] and quoted[1].equals(bare[1])


@pytest.mark.skipif(sys.platform == "win32", reason="links as Unix makes them")
def test_a_planted_lock_or_records_link_is_never_written_through(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lock file is written in place and the run records are removed and written: a link
    (or hard link) planted in their place must not make the run overwrite what it leads to."""
    path = write_csv(tmp_path / "r.csv", clean_rows())
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "r.json").write_text("keep")
    plants = {
        "link": lambda out: (out / ".cld_polars.lock").symlink_to(victim),
        "hard": lambda out: os.link(victim, out / ".cld_polars.lock"),
        "records": lambda out: (out / ".cld_polars").symlink_to(foreign),
    }
    for name, plant in plants.items():
        out = tmp_path / name
        out.mkdir()
        plant(out)
        assert main([str(path), "--out-dir", str(out), "-q"]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "cld-validate makes" in err, err
        assert victim.read_text() == "precious" and (foreign / "r.json").read_text() == "keep"
        assert sorted(p.name for p in out.iterdir()) in ([".cld_polars.lock"], [".cld_polars"])
