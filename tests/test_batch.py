"""Several returns in one run (``--out-dir``): per-return JSON, the index, parallel workers,
bad files among good ones, output names that clash, the memory model."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from factory import clean_rows, row, write_csv

from cld_polars import batch, validate
from cld_polars.batch import BatchResult, choose_workers, output_stems, validate_many
from cld_polars.cli import main
from cld_polars.generate import write_return
from cld_polars.report import Report

ROOT = Path(__file__).resolve().parent.parent
COUNCILS = {"503": "Lincolnshire", "805": "Surrey", "104": "Northumberland"}


@pytest.fixture(scope="module")
def returns(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three clean generated returns of different councils, one with a fault, two unreadable."""
    folder = tmp_path_factory.mktemp("returns")
    paths = {
        code: write_return(folder / f"council_{code}.csv", 300, seed=i, la_code=code)
        for i, code in enumerate(COUNCILS)
    }
    paths["faulty"] = write_csv(
        folder / "faulty.csv", [*clean_rows(), row("request", 9, Gender="Femal")]
    )
    paths["missing"] = folder / "missing.csv"
    paths["garbage"] = folder / "garbage.csv.gz"
    paths["garbage"].write_bytes(b"this is not gzip data")
    return paths


def _index(out_dir: Path) -> list[dict[str, object]]:
    payload = json.loads((out_dir / "index.json").read_text(encoding="utf-8"))
    return payload["returns"]


def _without_seconds(records: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in records]


def _expected(path: Path, stem: str) -> dict[str, object]:
    """The index line of a readable return, from a single run of the engine."""
    report = validate(path)
    code = {"faulty.csv": "503"}.get(path.name, path.stem.removeprefix("council_"))
    return {
        "file": str(path),
        "stem": stem,
        "status": "fail" if report.exit_code else "pass",
        "exit_code": report.exit_code,
        "council_code": code,
        "council_name": COUNCILS[code],
        "period_start": "01/10/2024",
        "period_end": "30/09/2025",
        "rows": report.rows,
        "errors": report.errors,
        "warnings": report.warnings,
        "file_errors": report.file_errors,
        "message": None,
        "outputs": [f"{stem}.json", f"{stem}.xlsx"],
        "skipped": False,
    }


def test_cli_mixed_returns_index_and_outputs(
    returns: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    order = ["503", "805", "missing", "faulty", "104", "garbage"]
    out = tmp_path / "reports" / "q2"  # created, parents too
    status = main([*(str(returns[k]) for k in order), "--out-dir", str(out), "--workers", "1"])
    assert status == 2  # the worst: two returns could not be read
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    err_lines = captured.err.strip().splitlines()
    assert len(err_lines) == 2 and all(line.startswith("cld-validate: ") for line in err_lines)
    assert "6 returns: 3 pass, 1 fail, 2 unreadable" in captured.out

    records = _index(out)
    assert [r["status"] for r in records] == [
        "pass",
        "pass",
        "unreadable",
        "fail",
        "pass",
        "unreadable",
    ]
    readable = [k for k in order if k not in ("missing", "garbage")]
    by_key = dict(zip(order, _without_seconds(records), strict=True))
    for key in readable:
        stem = returns[key].stem
        assert by_key[key] == _expected(returns[key], stem)
        written = json.loads((out / f"{stem}.json").read_text(encoding="utf-8"))
        assert written == validate(returns[key]).to_json_dict()
    assert by_key["faulty"]["errors"] == 1 and by_key["faulty"]["exit_code"] == 1
    for key, words in (("missing", "no such file"), ("garbage", "not a readable gzip file")):
        line = by_key[key]
        assert line["exit_code"] == 2 and line["outputs"] == [] and line["rows"] is None
        assert words in str(line["message"]) and "\n" not in str(line["message"])
    payload = json.loads((out / "index.json").read_text(encoding="utf-8"))
    assert payload["exit_code"] == 2
    assert payload["statuses"] == {"pass": 3, "fail": 1, "unreadable": 2, "crashed": 0}

    # The CSV index has the same lines, blanks for missing values.
    with (out / "index.csv").open(encoding="utf-8", newline="") as handle:
        table = list(csv.DictReader(handle))
    assert list(table[0]) == list(batch.INDEX_COLUMNS)
    for line, record in zip(table, records, strict=True):
        for name in batch.INDEX_COLUMNS:
            value = record[name]
            if name == "outputs":
                value = ";".join(value)  # type: ignore[arg-type]
            assert line[name] == ("" if value is None else str(value)), name
    # Nothing else in the folder: no temporary files left behind.
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["index.json", "index.csv", "national.parquet", "national.xlsx", ".cld_polars"]
        + [f"{returns[k].stem}{suffix}" for k in readable for suffix in (".json", ".xlsx")]
    )


def test_subprocess_run_in_worker_processes(returns: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    paths = [str(returns["503"]), str(returns["faulty"]), str(returns["missing"])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "cld_polars.cli", *paths, "--out-dir", str(out)]
    result = subprocess.run(
        [*command, "--workers", "2", "--findings", "parquet"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "no such file" in result.stderr
    assert [r["status"] for r in _index(out)] == ["pass", "fail", "unreadable"]
    findings = pl.read_parquet(out / "faulty_findings.parquet")
    assert findings["code"].to_list() == ["GENDER_INVALID"]


# A writer sent to the worker processes by reference: it must be importable there.
def write_worker_facts(report: Report, out_dir: Path, stem: str) -> Path:
    """Records which process wrote the return and the thread count Polars got there."""
    target = out_dir / f"{stem}.worker.json"
    facts = {"pid": os.getpid(), "threads": pl.thread_pool_size()}
    target.write_text(json.dumps(facts), encoding="utf-8")
    return target


def write_or_die(report: Report, out_dir: Path, stem: str) -> Path:
    """Kills its worker process on the return named ``boom``, as the out-of-memory killer would."""
    if stem == "boom":
        os._exit(9)
    return batch.write_json(report, out_dir, stem)


def test_workers_run_in_processes_and_match_sequential(
    returns: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Replaces the workbook writer: the hook for outputs works in workers and in-process.
    monkeypatch.setitem(batch.OUTPUTS, "xlsx", write_worker_facts)
    paths = [returns["503"], returns["805"], returns["faulty"], returns["garbage"]]
    parallel = validate_many(paths, tmp_path / "parallel", workers=2, xlsx=True)
    sequential = validate_many(paths, tmp_path / "sequential", workers=1, xlsx=True)
    assert _without_seconds([r.as_dict() for r in parallel]) == _without_seconds(
        [r.as_dict() for r in sequential]
    )
    facts = [
        json.loads((tmp_path / "parallel" / f"{p.stem}.worker.json").read_text()) for p in paths[:3]
    ]
    assert all(f["pid"] != os.getpid() for f in facts)
    assert all(f["threads"] == max(1, batch.usable_cores() // 2) for f in facts)
    here = json.loads((tmp_path / "sequential" / "faulty.worker.json").read_text())
    assert here["pid"] == os.getpid()
    for p in paths[:3]:
        assert (tmp_path / "parallel" / f"{p.stem}.json").read_bytes() == (
            tmp_path / "sequential" / f"{p.stem}.json"
        ).read_bytes()


def test_a_worker_that_dies_marks_only_its_return(
    returns: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boom = tmp_path / "boom.csv"
    boom.write_bytes(returns["805"].read_bytes())
    monkeypatch.setitem(batch.OUTPUTS, "xlsx", write_or_die)
    results = validate_many(
        [returns["503"], boom, returns["faulty"]], tmp_path / "out", workers=2, xlsx=True
    )
    assert [r.status for r in results] == ["pass", "crashed", "fail"]
    assert "worker process stopped unexpectedly" in str(results[1].message)
    assert batch.exit_status(results) == 2


def test_an_engine_exception_is_contained(
    returns: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = batch.validate

    def flaky(path: Path, **kwargs: object) -> Report:
        if Path(path).name == "council_805.csv":
            raise RuntimeError("a bug in a check")
        return real(path, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(batch, "validate", flaky)
    results = validate_many([returns["503"], returns["805"], returns["104"]], tmp_path, workers=1)
    assert [r.status for r in results] == ["pass", "crashed", "pass"]
    assert results[1].message == (
        f"{returns['805']}: unexpected error (RuntimeError: a bug in a check)"
    )
    assert [r["status"] for r in _index(tmp_path)] == ["pass", "crashed", "pass"]


def test_clashing_names_do_not_overwrite(tmp_path: Path) -> None:
    north = write_return(tmp_path / "north" / "return.csv", 200, seed=1, la_code="503")
    south = write_return(tmp_path / "south" / "return.csv", 200, seed=2, la_code="805")
    index = write_return(tmp_path / "index.csv", 200, seed=3, la_code="104")
    out = tmp_path / "out"
    assert main([str(north), str(south), str(index), "--out-dir", str(out), "--quiet"]) == 0
    stems = [r["stem"] for r in _index(out)]
    assert stems == ["north_return", "south_return", f"{tmp_path.name}_index"]
    for stem, path in zip(stems, (north, south, index), strict=True):
        assert json.loads((out / f"{stem}.json").read_text())["file"] == str(path)


def test_output_stems_are_deterministic() -> None:
    paths = [
        Path("/a/x/return.csv"),
        Path("/b/x/return.csv"),
        Path("/c/Return.csv.gz"),
        Path("/d/other.csv"),
        Path("/e/q2.2025.csv"),
        Path("/x_return.csv"),  # takes the name the first clash would have wanted
    ]
    assert output_stems(paths) == [
        "x_return-2",
        "x_return-3",
        "c_Return",
        "other",
        "q2.2025",
        "x_return",
    ]
    assert output_stems(paths) == output_stems(list(paths))


def test_same_file_twice_is_checked_once(returns: dict[str, Path], tmp_path: Path) -> None:
    path = returns["503"]
    results = validate_many([path, path.parent / ".." / path.parent.name / path.name], tmp_path)
    assert [r.stem for r in results] == ["council_503"]


def test_out_dir_that_cannot_be_created(
    returns: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert main([str(returns["503"]), "--out-dir", str(blocker / "reports")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot create or write the output folder" in err
    assert "Traceback" not in err


def test_option_combinations(returns: dict[str, Path], tmp_path: Path) -> None:
    one = str(returns["503"])
    assert main([one, "--workers", "2"]) == 2  # --workers needs --out-dir
    assert main([one, "--out-dir", str(tmp_path), "--json", str(tmp_path / "r.json")]) == 2
    with pytest.raises(SystemExit):
        main([one, "--out-dir", str(tmp_path), "--workers", "0"])
    assert not (tmp_path / "index.json").exists()
    # One return with --out-dir works like several.
    assert main([one, "--out-dir", str(tmp_path / "single"), "--quiet"]) == 0
    assert [r["status"] for r in _index(tmp_path / "single")] == ["pass"]


def test_out_dir_writes_a_workbook_per_return(returns: dict[str, Path], tmp_path: Path) -> None:
    import openpyxl

    assert main([str(returns["faulty"]), "--out-dir", str(tmp_path), "--quiet"]) == 1
    workbook = openpyxl.load_workbook(tmp_path / "faulty.xlsx", read_only=True)
    assert "Rows to fix" in workbook.sheetnames
    workbook.close()
    assert main([str(returns["503"]), "--out-dir", str(tmp_path), "--xlsx", "x.xlsx"]) == 2


# --- memory model ------------------------------------------------------------------------


def test_choose_workers_from_memory_and_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def sparse(name: str, megabytes: int) -> Path:  # its size counts, not its blocks
        path = tmp_path / name
        with path.open("wb") as handle:
            handle.truncate(megabytes * batch.MB)
        return path

    tiny, medium, big = sparse("tiny.csv", 1), sparse("medium.csv", 60), sparse("big.csv", 500)
    gb = 1_000 * batch.MB
    assert choose_workers([tiny] * 8, available=64 * gb, cores=4) == 1  # not worth a worker
    assert choose_workers([medium] * 8, available=64 * gb, cores=4) == 4
    assert choose_workers([medium] * 2, available=64 * gb, cores=4) == 2
    monkeypatch.setattr(batch, "available_memory", lambda: None)
    assert choose_workers([medium] * 8, cores=4) == 1  # memory unknown: one at a time
    # Each big return is planned at 400 MB + 1.5 x 500 MB = 1.15 GB; 80% of memory is used.
    assert batch.estimate_peak_bytes(big) == 1_150 * batch.MB
    assert choose_workers([big, tiny, big], available=3_000 * batch.MB, cores=4) == 2
    assert choose_workers([big, tiny, big], available=2 * gb, cores=4) == 1
    assert choose_workers([big, big], available=100 * gb, cores=1) == 1


def test_gzip_size_is_the_uncompressed_size(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "r.csv.gz"
    path.write_bytes(gzip.compress(b"a" * 1_000_000))
    assert batch.uncompressed_size(path) == 1_000_000
    assert batch.uncompressed_size(tmp_path / "none.csv") == 0


def test_batch_result_round_trips() -> None:
    result = BatchResult(file="a.csv", stem="a", status="pass", exit_code=0, outputs=("a.json",))
    assert result.as_dict()["outputs"] == ["a.json"]
    assert list(result.as_dict()) == list(batch.INDEX_COLUMNS)
