"""Fuzzing the command line: random bytes and random damage to a valid return.

Whatever arrives, ``cld-validate`` ends with exit status 0, 1 or 2, never a traceback and
never an 'unexpected error' (that message means a path the reader did not foresee); an input
that cannot be read gets exactly one line; the input file is never changed. The cases come
from a fixed seed, so a failure reproduces; ``FUZZ_CASES`` runs more of them.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import random
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from factory import HEADER, clean_csv_bytes, clean_rows, write_workbook

from cld_polars import cli

ROOT = Path(__file__).resolve().parent.parent
CASES = int(os.environ.get("FUZZ_CASES", "120"))
#: Bytes that trouble CSV readers: quotes, delimiters, line ends, NUL, bytes invalid in
#: UTF-8, a byte-order mark, formula starts.
AWKWARD = [
    b'"',
    b",",
    b"\n",
    b"\r",
    b"\r\n",
    b"\x00",
    b"\xff",
    b"\x81",
    b"\xe9",
    b"\xc3",
    b"\xef\xbb\xbf",
    b";",
    b"\t",
    b'""',
    b"=",
    b"-",
    "é".encode(),
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One to six random edits of the kinds hand edits and broken exports make."""
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(9)
        at = rng.randrange(len(data) + 1)
        if op == 0:
            data = data[:at] + rng.choice(AWKWARD) + data[at:]
        elif op == 1:
            data = data[:at] + data[at + rng.randint(1, 200) :]
        elif op == 2:
            data = data[:at] + rng.randbytes(rng.randint(1, 20)) + data[at:]
        elif op == 3:
            lines = data.split(b"\n")
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(lines))
            data = b"\n".join(lines)
        elif op == 4:
            data = data[:at]
        elif op == 5:
            data = data[:at] + rng.choice(AWKWARD) + data[at + 1 :]
        elif op == 6:
            lines = data.split(b"\n")
            rng.shuffle(lines)
            data = b"\n".join(lines)
        elif op == 7:
            swap = rng.choice([b";", b"\t", b",,", b'","'])
            data = data.replace(b",", swap, rng.randint(1, 50))
        else:
            data += b"x" * rng.randint(1, 70_000)
    return data


def cases(seed: int, count: int, workbook: bytes, parquet: bytes) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    base = clean_csv_bytes()
    out: list[tuple[str, bytes]] = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.06:
            out.append(("r.xlsx", mutate(rng, workbook)))
            continue
        if kind < 0.1:
            out.append(("r.parquet", mutate(rng, parquet)))
            continue
        kind = rng.random()
        if kind < 0.15:
            data = rng.randbytes(rng.randint(0, 5000))
        elif kind < 0.2:
            data = bytes(rng.choice(b'",\n\r ab1;') for _ in range(rng.randint(0, 3000)))
        else:
            data = mutate(rng, base)
        name = "r.csv"
        wrap = rng.random()
        if wrap < 0.05:
            data, name = gzip.compress(data), "r.csv.gz"
        elif wrap < 0.08:
            data = data.decode("utf-8", "replace").encode("utf-16")
        out.append((name, data))
    return out


@pytest.fixture(scope="module")
def originals(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    folder = tmp_path_factory.mktemp("originals")
    workbook = write_workbook(folder / "r.xlsx", clean_rows()).read_bytes()
    pl.DataFrame(clean_rows(), schema=list(HEADER)).write_parquet(folder / "r.parquet")
    return workbook, (folder / "r.parquet").read_bytes()


def test_random_bytes_and_damaged_returns(tmp_path: Path, originals: tuple[bytes, bytes]) -> None:
    failures: list[str] = []
    statuses: set[int] = set()
    for n, (name, data) in enumerate(cases(20250301, CASES, *originals)):
        folder = tmp_path / str(n)
        folder.mkdir()
        path = folder / name
        path.write_bytes(data)
        out, err = io.StringIO(), io.StringIO()
        args = [str(path), "--json", str(folder / "r.json"), "--errors", str(folder / "f.csv")]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main([*args, "--quiet"])
        message = err.getvalue()
        statuses.add(code)
        problems = [
            code not in (0, 1, 2) and f"exit status {code}",
            "Traceback" in message and "traceback",
            "unexpected error" in message and "unexpected error",
            code == 2 and len(message.strip().splitlines()) != 1 and "not one line",
            path.read_bytes() != data and "input changed",
            code != 2 and not (folder / "r.json").is_file() and "no JSON result",
        ]
        if any(problems):
            keep = tmp_path / f"failing_{n}_{name}"
            keep.write_bytes(data)
            failures.append(f"case {n} ({keep}): {[p for p in problems if p]} {message[:300]}")
    assert not failures, "\n".join(failures)
    assert {1, 2} <= statuses  # damaged returns are read and reported, garbage refused


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("random.csv", random.Random(7).randbytes(3000)),
        ("quote.csv", clean_csv_bytes().replace(b",Ann,", b',"Ann,', 1)),
        ("cut.csv.gz", gzip.compress(clean_csv_bytes())[:-40]),
    ],
    ids=["random-bytes", "unterminated-quote", "cut-gzip"],
)
def test_no_traceback_from_a_real_process(tmp_path: Path, name: str, data: bytes) -> None:
    """The console command as an analyst runs it: a whole process, stderr as they see it."""
    path = tmp_path / name
    path.write_bytes(data)
    result = subprocess.run(
        [sys.executable, "-m", "cld_polars.cli", str(path), "--json", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr + result.stdout
    if result.returncode == 2:
        assert len(result.stderr.strip().splitlines()) == 1
    assert path.read_bytes() == data
