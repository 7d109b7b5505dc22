"""What the command line says: its help (every command with an example, every option with a
sentence), ``--quiet`` (one verdict line for a return that fails or cannot be read, nothing
for one that passes) and the terminal summary (the workbook named, short names)."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest

from cld_polars.cli import main, sample_path
from cld_polars.generate import generate_return, write_return


def test_help_lists_the_commands_with_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for example in (
        "cld-validate RETURN.csv --xlsx report.xlsx",
        "cld-validate --sample --xlsx sample_report.xlsx",
        "cld-validate returns/ --out-dir reports/",
        "cld-validate compare 2025Q2.csv 2025Q3.csv --xlsx diff.xlsx",
        "cld-validate fix RETURN.csv --out FIXED.csv",
    ):
        assert example in text, example
    out_dir = text[text.index("--out-dir DIR") :]
    assert "workbook" in out_dir and "national.xlsx" in out_dir  # what --out-dir writes


@pytest.mark.parametrize("name", ["cli.check", "cli.compare", "cli.fix", "cli.central"])
def test_every_option_has_help(name: str) -> None:
    module = importlib.import_module(f"cld_polars.{name}")
    parser: argparse.ArgumentParser = module._parser()
    for action in parser._actions:
        assert action.help and action.help != argparse.SUPPRESS, action.option_strings
        assert len(action.help) > 10, action.option_strings


def test_quiet_prints_one_line_for_a_failing_return(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "r.xlsx"
    assert main(["--sample", "--quiet", "--xlsx", str(out)]) == 1
    said = capsys.readouterr()
    lines = said.out.splitlines()
    assert len(lines) == 1 and said.err == ""
    assert lines[0].startswith("sample_return.csv (the bundled sample): FAIL: 10 rows with errors")
    assert str(out) in lines[0] and "Rule errors sheet" in lines[0]


def test_quiet_prints_nothing_for_a_passing_return(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    clean = tmp_path / "clean.csv"
    generate_return(200, seed=3).write_csv(clean)
    code = main([str(clean), "--quiet"])
    said = capsys.readouterr()
    assert code == 0 and said.out == "" and said.err == ""


def test_quiet_prints_one_line_for_an_unreadable_return(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.csv.gz"
    broken.write_bytes(b"\x00\x01 not a return")
    assert main([str(broken), "--quiet"]) == 2
    said = capsys.readouterr()
    assert said.out == "" and len(said.err.splitlines()) == 1 and "broken.csv.gz" in said.err


def test_quiet_with_an_output_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "returns"
    folder.mkdir()
    write_return(folder / "clean.csv", 200, seed=1)
    (folder / "sample.csv").write_bytes(sample_path().read_bytes())
    (folder / "broken.csv.gz").write_bytes(b"\x00\x01 not a return")
    assert main([str(folder), "--out-dir", str(tmp_path / "out"), "--quiet"]) == 2
    said = capsys.readouterr()
    workbook = tmp_path / "out" / "sample.xlsx"
    assert said.out.splitlines() == [
        f"{folder / 'sample.csv'}: FAIL: 10 rows with errors; see {workbook}"
    ]
    assert len(said.err.splitlines()) == 1 and "broken.csv.gz" in said.err


def test_summary_names_the_workbook(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "sample_report.xlsx"
    assert main(["--sample", "--xlsx", str(out)]) == 1
    text = capsys.readouterr().out
    assert text.startswith("sample_return.csv (the bundled sample): 500 rows checked")
    assert str(sample_path()) not in text  # not the path inside the installed package
    assert "... and 1 more check: see the Rule errors sheet of " + str(out) in text
    assert f"Workbook: {out}" in text
    assert "--json" not in text and "more rules" not in text


def test_summary_without_a_workbook_says_how_to_get_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--sample"]) == 1
    text = capsys.readouterr().out
    assert "... and 1 more check: --xlsx REPORT.xlsx writes them all to a workbook" in text
    assert "Workbook:" not in text
