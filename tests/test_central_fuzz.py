"""Fuzzing ``cld-validate central`` with the validation fuzz test's cases (random bytes and
random damage to a valid return, as CSV, gzip, UTF-16, workbook and Parquet): exit status 0
or 2, never a traceback or an 'unexpected error', one line for a refusal, the input never
changed, the JSON written whenever the status is 0."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

from test_fuzz import CASES, cases, originals  # noqa: F401  (originals is a fixture)

from cld_polars import cli


def test_central_on_random_bytes_and_damaged_returns(
    tmp_path: Path,
    originals: tuple[bytes, bytes],  # noqa: F811
) -> None:
    failures: list[str] = []
    statuses: set[int] = set()
    for n, (name, data) in enumerate(cases(20250302, CASES, *originals)):
        folder = tmp_path / str(n)
        folder.mkdir()
        path = folder / name
        path.write_bytes(data)
        out, err = io.StringIO(), io.StringIO()
        result = folder / "c.json"
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["central", str(path), "--json", str(result), "--quiet"])
        message = err.getvalue()
        statuses.add(code)
        problems = [
            code not in (0, 2) and f"exit status {code}",
            "Traceback" in message and "traceback",
            "unexpected error" in message and "unexpected error",
            code == 2 and len(message.strip().splitlines()) != 1 and "not one line",
            path.read_bytes() != data and "input changed",
            code == 0 and json.loads(result.read_text())["contract_version"] != "1" and "json",
        ]
        if any(problems):
            failures.append(f"case {n} ({name}): {[p for p in problems if p]} {message[:300]}")
    assert not failures, "\n".join(failures)
    assert statuses == {0, 2}  # damaged returns still get a view; garbage is refused
