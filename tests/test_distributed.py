"""The Dask runner (``--scheduler``) on a ``LocalCluster``: the same per-return results and
JSON as the single-machine run, a dead worker is one crashed return, reruns skip up-to-date
returns, and the plain install works without Dask.

One cluster serves the module (2 worker processes of 1 thread: the CI machine has 2 cores).
Processes, not threads, so a worker can die without taking the tests with it; the
scheduler gives up on a task at its first dead worker (``allowed_failures=0``) to keep the
test short and a worker holds only the task it runs, as with ``--scheduler local``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import dask
import polars as pl
import pytest
from distributed import Client, LocalCluster
from factory import clean_rows, row, write_csv

from cld_polars import batch, validate
from cld_polars.batch import BatchOptions, output_stems, validate_many
from cld_polars.cli import main
from cld_polars.distributed import ONE_TASK_PER_THREAD, run_on_cluster, validate_on_cluster
from cld_polars.generate import write_return
from cld_polars.report import Report
from cld_polars.rollup import write_rollup

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three generated returns of ~2,000 rows, one with a fault, and one broken file."""
    where = tmp_path_factory.mktemp("returns")
    for i, code in enumerate(("503", "805", "104")):
        write_return(where / f"council_{code}.csv", 2_000, seed=i, la_code=code)
    write_csv(where / "faulty.csv", [*clean_rows(), row("request", 9, Gender="Femal")])
    (where / "broken.csv.gz").write_bytes(os.urandom(512))
    return where


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[LocalCluster, Client]]:
    with (
        dask.config.set({"distributed.scheduler.worker-saturation": ONE_TASK_PER_THREAD}),
        LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            scheduler_kwargs={"allowed_failures": 0},
        ) as local,
        Client(local) as client,
    ):
        yield local, client


def _paths(folder: Path) -> list[Path]:
    return sorted(folder.iterdir())


def _without(records: list[dict[str, object]], *keys: str) -> list[dict[str, object]]:
    return [{k: v for k, v in r.items() if k not in keys} for r in records]


def test_cluster_run_matches_the_single_machine_run(
    folder: Path, cluster: tuple[LocalCluster, Client], tmp_path: Path
) -> None:
    local, _ = cluster
    paths = _paths(folder)
    here = validate_many(paths, tmp_path / "here", workers=1, xlsx=True)
    there = validate_on_cluster(paths, tmp_path / "there", local.scheduler_address, xlsx=True)
    assert [r.status for r in there] == ["unreadable", "pass", "pass", "pass", "fail"]
    assert _without([r.as_dict() for r in there], "seconds") == _without(
        [r.as_dict() for r in here], "seconds"
    )
    for path in paths:
        if path.name == "broken.csv.gz":
            continue
        mine = (tmp_path / "there" / f"{path.stem}.json").read_bytes()
        assert mine == (tmp_path / "here" / f"{path.stem}.json").read_bytes()
        assert json.loads(mine) == validate(path).to_json_dict()
        assert (tmp_path / "there" / f"{path.stem}.xlsx").is_file()
    for name in ("index.json", "index.csv"):
        assert (tmp_path / "there" / name).is_file()
    rollups = [pl.read_parquet(tmp_path / d / "national.parquet") for d in ("here", "there")]
    assert rollups[0].equals(rollups[1])
    assert rollups[1].filter(pl.col("status") == "unreadable")["message"].to_list() == [
        there[0].message
    ]


def write_or_die(report: Report, out_dir: Path, stem: str) -> Path:
    """Kills its worker process on the return named ``boom``, as the out-of-memory killer would.
    Sent to the workers by reference (this module is importable there: spawned workers get the
    client's ``sys.path``)."""
    if stem == "boom":
        os._exit(9)
    return batch.write_json(report, out_dir, stem)


def test_a_dead_worker_is_one_crashed_return(
    folder: Path, cluster: tuple[LocalCluster, Client], tmp_path: Path
) -> None:
    _, client = cluster
    boom = tmp_path / "boom.csv"
    boom.write_bytes((folder / "council_805.csv").read_bytes())
    # Five tasks on two one-thread workers: more than twice the threads, so the scheduler
    # queues them and a worker holds only the return it runs (see ONE_TASK_PER_THREAD).
    names = ("council_503.csv", "boom", "faulty.csv", "council_104.csv", "council_805.csv")
    paths = [boom if n == "boom" else folder / n for n in names]
    out = tmp_path / "out"
    out.mkdir()
    options = BatchOptions(writers=(("json", write_or_die),))
    outcomes = run_on_cluster(client, paths, output_stems(paths), out, options)
    assert [o.result.status for o in outcomes] == ["pass", "crashed", "fail", "pass", "pass"]
    crashed = outcomes[1].result
    assert "worker checking it died" in str(crashed.message) and str(boom) in str(crashed.message)
    assert outcomes[1].counts is None and all(o.counts for i, o in enumerate(outcomes) if i != 1)
    assert not (out / "boom.json").exists()
    # The roll-up lists it among the returns that could not be checked, with the reason.
    counts = {o.result.stem: o.counts for o in outcomes if o.counts}
    write_rollup(out, [o.result for o in outcomes], counts)
    frame = pl.read_parquet(out / "national.parquet")
    assert frame.filter(pl.col("status") == "crashed")["message"].to_list() == [crashed.message]
    assert frame.filter(pl.col("status") != "crashed")["pct_valid: Gender"].null_count() == 0


def test_rerun_on_the_cluster_skips_up_to_date_returns(
    folder: Path, cluster: tuple[LocalCluster, Client], tmp_path: Path
) -> None:
    local, _ = cluster
    paths = _paths(folder)
    first = validate_on_cluster(paths, tmp_path, local.scheduler_address)
    stamp = (tmp_path / "council_503.json").stat().st_mtime_ns
    again = validate_on_cluster(paths, tmp_path, local.scheduler_address)
    assert [r.skipped for r in again] == [False, True, True, True, True]  # broken: tried again
    assert (tmp_path / "council_503.json").stat().st_mtime_ns == stamp
    assert _without([r.as_dict() for r in again], "seconds", "skipped") == _without(
        [r.as_dict() for r in first], "seconds", "skipped"
    )
    # The roll-up of a run that skipped everything still has every council's counts.
    frame = pl.read_parquet(tmp_path / "national.parquet")
    assert frame.filter(pl.col("status") == "pass")["pct_valid: Gender"].null_count() == 0
    forced = validate_on_cluster(paths, tmp_path, local.scheduler_address, reuse=False)
    assert not any(r.skipped for r in forced)


def test_cli_folder_on_a_scheduler_address(
    folder: Path,
    cluster: tuple[LocalCluster, Client],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    local, _ = cluster
    out = tmp_path / "reports"
    status = main([str(folder), "--out-dir", str(out), "--scheduler", local.scheduler_address])
    assert status == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "broken.csv.gz" in captured.err
    assert "5 returns: 3 pass, 1 fail, 1 unreadable" in captured.out
    assert sorted(p.name for p in out.glob("national.*")) == ["national.parquet", "national.xlsx"]
    assert main([str(folder), "--out-dir", str(out), "--scheduler", "x", "--workers", "2"]) == 2
    assert "remote cluster" in capsys.readouterr().err


def write_worker_facts(report: Report, out_dir: Path, stem: str) -> Path:
    """Records which process wrote the return and the thread count Polars got there."""
    target = out_dir / f"{stem}.worker.json"
    facts = {"pid": os.getpid(), "threads": pl.thread_pool_size()}
    target.write_text(json.dumps(facts), encoding="utf-8")
    return target


def test_scheduler_local_starts_a_cluster_here(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(batch.OUTPUTS, "xlsx", write_worker_facts)
    paths = [folder / "council_503.csv", folder / "faulty.csv"]
    results = validate_on_cluster(paths, tmp_path, "local", workers=2, xlsx=True)
    assert [r.status for r in results] == ["pass", "fail"]
    facts = [json.loads((tmp_path / f"{p.stem}.worker.json").read_text()) for p in paths]
    assert all(f["pid"] != os.getpid() for f in facts)
    assert all(f["threads"] == max(1, batch.usable_cores() // 2) for f in facts)


def test_without_dask_the_scheduler_is_one_line(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    one = str(folder / "council_503.csv")
    assert main([one, "--out-dir", str(tmp_path / "out"), "--scheduler", "local"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'cld_polars[dask]'" in err
    assert not (tmp_path / "out").exists()  # nothing started


def test_plain_install_runs_without_dask(folder: Path, tmp_path: Path) -> None:
    # A fresh interpreter where Dask cannot be imported: the CLI and the local batch work.
    code = (
        "import sys; sys.modules['dask'] = sys.modules['distributed'] = None\n"
        "from cld_polars.cli import main\n"
        f"status = main([{str(folder / 'council_503.csv')!r}, '--out-dir', sys.argv[1], '-q'])\n"
        "assert 'distributed' not in {m.split('.')[0] for m in sys.modules if sys.modules[m]}\n"
        "sys.exit(status)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "national.parquet").is_file()
