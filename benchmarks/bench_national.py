"""Time a national run: many returns one after another, in local worker processes, and as
tasks on a Dask ``LocalCluster``.

Why this exists: the central team checks about 150 returns a quarter. The question is what
each way of running them buys on one machine: ``--workers 1`` (sequential), the local
multi-return mode (``--out-dir``: worker processes chosen from memory and cores) and
``--scheduler local`` (the same per-return task on a Dask ``LocalCluster``, which is what a
real cluster runs). On one machine the Dask path cannot beat the local mode by much (same
cores); the figure to watch is its overhead, and that it scales out where the local mode
cannot.

How it measures, and why that way:

* Every mode runs in-process through the public API (``validate_many`` and
  ``validate_on_cluster``) with the CLI's outputs (JSON and workbook per return, index,
  national roll-up) into a fresh output folder, with the up-to-date skip off: every return
  is checked every time. Wall time of the whole call; the cluster's start-up and shutdown
  are part of it (a user waits for them), and are also timed on their own.
* Figures are medians over ``--repeats`` runs (default 3); the modes alternate within each
  repeat so a slow spell of a shared machine hits them alike. The files are read once
  before timing so every run reads them from the page cache.
* Nothing asserts on time; the exit status says whether every run checked every return.

Inputs come from the project's generator, one council per return (the first ``--returns``
current councils of the specification), cached in ``benchmarks/data/national_<rows>/``
(git-ignored) and reused when present.

Usage::

    python benchmarks/bench_national.py                          # 20 returns x 200,000 rows
    python benchmarks/bench_national.py --returns 3 --rows 20000 --repeats 1
    python benchmarks/bench_national.py --json results.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # run from a checkout without installing

import polars as pl  # noqa: E402

from cld_polars.batch import BatchResult, choose_workers, usable_cores, validate_many  # noqa: E402
from cld_polars.generate import write_return  # noqa: E402
from cld_polars.spec import load_spec  # noqa: E402

DEFAULT_DATA = HERE / "data"
MB = 1_000_000
MODES = ("sequential", "local", "cluster")


def returns_for(rows: int, count: int, data: Path) -> list[Path]:
    """``count`` generated returns of ``rows`` rows, one council each, made once and kept."""
    councils = [c.code for c in load_spec().councils.values() if c.status == "current"]
    if count > len(councils):
        raise SystemExit(f"at most {len(councils)} returns (one per current council)")
    folder = data / f"national_{rows}"
    paths = []
    for i, code in enumerate(councils[:count]):
        path = folder / f"return_{i:03d}_{code}.csv"
        if not path.is_file():  # written whole (temporary file, then renamed) or not at all
            began = time.perf_counter()
            write_return(path, rows, seed=i, la_code=code)
            print(f"generated {path.name} in {time.perf_counter() - began:.1f} s", flush=True)
        paths.append(path)
    return paths


def warm(paths: Sequence[Path]) -> None:
    for path in paths:
        with path.open("rb") as handle:
            while handle.read(1 << 24):
                pass


def run_mode(mode: str, paths: Sequence[Path], out: Path, workers: int | None) -> float:
    """Seconds for one run of ``mode``; raises if a return was not checked."""
    began = time.perf_counter()
    results: list[BatchResult]
    if mode == "sequential":
        results = validate_many(paths, out, workers=1, xlsx=True, reuse=False)
    elif mode == "local":
        results = validate_many(paths, out, workers=workers, xlsx=True, reuse=False)
    else:
        from cld_polars.distributed import validate_on_cluster

        results = validate_on_cluster(paths, out, "local", workers=workers, xlsx=True, reuse=False)
    seconds = time.perf_counter() - began
    bad = [r for r in results if r.status not in ("pass", "fail")]
    if bad:
        raise RuntimeError(f"{mode}: {len(bad)} returns not checked: {bad[0].message}")
    return seconds


def cluster_start_stop(workers: int | None, count: int) -> float:
    """Seconds to start and stop the LocalCluster alone (no tasks)."""
    from cld_polars.distributed import connect

    began = time.perf_counter()
    with connect("local", workers=workers or min(count, usable_cores())):
        pass
    return time.perf_counter() - began


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--returns", type=int, default=20)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--modes", default=",".join(MODES), help="comma-separated: " + ", ".join(MODES)
    )
    parser.add_argument("--workers", type=int, help="local and cluster workers (default: chosen)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    args = parser.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    unknown = set(modes) - set(MODES)
    if unknown:
        parser.error(f"unknown modes: {', '.join(sorted(unknown))}")

    paths = returns_for(args.rows, args.returns, args.data)
    total_rows = args.rows * len(paths)
    size = sum(p.stat().st_size for p in paths)
    chosen = args.workers or choose_workers(paths)
    print(
        f"{len(paths)} returns x {args.rows:,} rows = {total_rows:,} rows, {size / MB:,.0f} MB; "
        f"{usable_cores()} cores; local workers {chosen}; {args.repeats} repeats",
        flush=True,
    )
    warm(paths)
    times: dict[str, list[float]] = {m: [] for m in modes}
    starts: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench_national_") as scratch:
        for repeat in range(args.repeats):
            for mode in modes:
                out = Path(scratch) / f"{mode}_{repeat}"
                seconds = run_mode(mode, paths, out, args.workers)
                shutil.rmtree(out, ignore_errors=True)
                times[mode].append(seconds)
                print(f"  repeat {repeat + 1}: {mode:<10} {seconds:7.2f} s", flush=True)
            if "cluster" in modes:
                starts.append(cluster_start_stop(args.workers, len(paths)))

    base = statistics.median(times[modes[0]])
    rows_out = []
    print()
    print(f"{'mode':<12} {'median s':>9} {'min-max s':>15} {'rows/s':>11} {'speed-up':>9}")
    for mode in modes:
        med = statistics.median(times[mode])
        line = {
            "mode": mode,
            "median_seconds": round(med, 3),
            "min_seconds": round(min(times[mode]), 3),
            "max_seconds": round(max(times[mode]), 3),
            "rows_per_second": round(total_rows / med),
            "speed_up": round(base / med, 2),
            "runs": [round(t, 3) for t in times[mode]],
        }
        rows_out.append(line)
        spread = f"{line['min_seconds']:.2f}-{line['max_seconds']:.2f}"
        print(
            f"{mode:<12} {med:9.2f} {spread:>15} {line['rows_per_second']:>11,} "
            f"{line['speed_up']:>8.2f}x"
        )
    if starts:
        print(f"LocalCluster start + stop alone: median {statistics.median(starts):.2f} s")
    print(f"(speed-up against {modes[0]}; cluster times include starting the cluster)")
    if args.json:
        payload = {
            "returns": len(paths),
            "rows_per_return": args.rows,
            "megabytes": round(size / MB, 1),
            "cores": usable_cores(),
            "local_workers": chosen,
            "repeats": args.repeats,
            "cluster_start_stop_median": round(statistics.median(starts), 3) if starts else None,
            "python": platform.python_version(),
            "polars": pl.__version__,
            "modes": rows_out,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":  # the guard matters: worker processes are spawned
    os.environ.setdefault("PYTHONPATH", str(ROOT))
    sys.exit(main())
