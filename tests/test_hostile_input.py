"""Hostile input through the command line, in bounded time and memory (issue 13).

Each case of ``hostile.CASES`` is built at its test size (the issue's shape, past the bound
that stops it) and the CLI runs on it in a child process under an address-space limit and
a timeout: a regression that reads the bomb whole fails the test (the child is killed or
aborts) instead of eating the machine. Every case must end with the expected status and
words; a file that cannot be read gets exactly one line on stderr naming it, no traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from factory import clean_rows, write_csv
from hostile import CASES, Case, GiB, fifo, long_line, run_limited, xlsx_big_cell

#: Address space for the child: a normal run of these small files takes under 3 GB of it
#: (Polars and pyarrow reserve far more than they touch), a bomb read whole far more.
ADDRESS_SPACE = 4 * GiB
TIMEOUT = 90


def _bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() and not path.is_symlink() else None


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_one_clear_line(tmp_path: Path, case: Case) -> None:
    path = case.build(tmp_path, False)
    before = _bytes(path)
    outcome = run_limited(
        [str(path)], address_space=ADDRESS_SPACE, timeout=TIMEOUT, file_size=case.file_size
    )
    assert outcome.status is not None, f"{case.name}: still running after {TIMEOUT} s"
    text = outcome.stdout + outcome.stderr
    assert "Traceback" not in text and "panicked" not in text, text[-2000:]
    assert outcome.status == case.status, text[-2000:]
    assert case.says in text, text[-2000:]
    if case.status == 2:
        lines = outcome.stderr.strip().splitlines()
        assert len(lines) == 1, outcome.stderr
        assert lines[0].startswith(f"cld-validate: {path}: ")
        assert "cld_polars_" not in lines[0]  # never a temporary file's name
    assert _bytes(path) == before, "the input was changed"


def test_batch_marks_each_hostile_return_unreadable(tmp_path: Path) -> None:
    """In a batch run each hostile file is its own ``unreadable`` line: the good return is
    checked, the index and the national roll-up are written."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = write_csv(inputs / "good.csv", clean_rows())
    bad = []
    for name, build in (("pipe", fifo), ("long", long_line), ("book", xlsx_big_cell)):
        folder = inputs / name
        folder.mkdir()
        bad.append(build(folder, False))
    out = tmp_path / "out"
    outcome = run_limited(
        [str(good), *map(str, bad), "--out-dir", str(out), "--workers", "1"],
        address_space=ADDRESS_SPACE,
        timeout=TIMEOUT,
    )
    assert outcome.status == 2, outcome.stderr
    assert "Traceback" not in outcome.stdout + outcome.stderr
    index = json.loads((out / "index.json").read_text())
    rows = index["returns"]
    statuses = {Path(r["file"]).parent.name: r["status"] for r in rows}
    assert statuses == {
        "in": "pass",
        "pipe": "unreadable",
        "long": "unreadable",
        "book": "unreadable",
    }
    messages = [r["message"] for r in rows if r["status"] == "unreadable"]
    assert all(m and str(tmp_path) in m for m in messages)
    assert (out / "national.parquet").is_file()


def test_folder_of_pipes_is_no_returns(tmp_path: Path) -> None:
    """A folder given with ``--out-dir`` is searched for regular files only: pipes in it
    are never opened."""
    folder = tmp_path / "returns"
    folder.mkdir()
    for name in ("a.csv", "b.csv.gz", "c.xlsx"):
        os.mkfifo(folder / name)
    outcome = run_limited(
        [str(folder), "--out-dir", str(tmp_path / "out")],
        address_space=ADDRESS_SPACE,
        timeout=TIMEOUT,
    )
    assert outcome.status == 2
    assert "no returns in this folder" in outcome.stderr
