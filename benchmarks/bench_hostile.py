"""Time and peak memory of ``cld-validate`` on each hostile input of issue 13, at full size.

Why this exists: the promise for bad or hostile input is one clear line in bounded time and
memory. The tests (``tests/test_hostile_input.py``) check the line and that each case stays
under an address-space limit, on small files of the same shape; this script builds each
case at the size the issue reports (a 20 GB gzip of zeros, a 2 GiB cell, 60 million shared
strings, 40 million Parquet rows, 500 MB lines) and prints what the command line does with
it: exit status, wall time and the child's peak resident memory.

How it measures: each case is built in ``--data-dir`` (streamed, so a 20 GB bomb costs a
few megabytes of disk and seconds of CPU) and removed after its run unless ``--keep``. The
CLI runs in a child process (``tests/hostile.py``'s ``run_limited``: two Polars threads,
two malloc arenas, an address-space limit of ``--address-space`` GiB and a timeout); its
peak resident memory is its own high-water mark (``VmHWM``, sampled every 10 ms until it
ends; each case is built in a process of its own, so none of the builder's memory counts).
Nothing here asserts on time or memory: the table is the result, and the exit status says
only whether every case ended as expected (0) or not (1).

The Parquet case of 40M rows is refused from its footer when checking that many rows needs
more memory than the process may use (the address-space limit counts); with more memory it
is converted and stopped when its text passes the DLP's 4 GB.

Usage::

    python benchmarks/bench_hostile.py                       # every case, full size
    python benchmarks/bench_hostile.py --cases gzip_zeros,xlsx_big_cell
    python benchmarks/bench_hostile.py --small               # the tests' sizes (quick)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for folder in (ROOT / "tests", ROOT):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import hostile  # noqa: E402


def _size(path: Path) -> int:
    if path.is_symlink() or not path.exists():
        return 0
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.is_file() else 0


def _human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} GB"


def _build(name: str, folder: Path, full: bool) -> Path:
    case = next(c for c in hostile.CASES if c.name == name)
    return case.build(folder, full)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    parser.add_argument("--small", action="store_true", help="the tests' sizes, not the issue's")
    parser.add_argument("--data-dir", type=Path, default=HERE / "data" / "hostile")
    parser.add_argument("--address-space", type=float, default=8.0, help="GiB (default 8; 0: none)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per case")
    parser.add_argument("--keep", action="store_true", help="keep the built files")
    args = parser.parse_args()
    chosen = set(args.cases.split(",")) if args.cases else None
    cases = [c for c in hostile.CASES if chosen is None or c.name in chosen]
    if chosen and len(cases) != len(chosen):
        known = ", ".join(c.name for c in hostile.CASES)
        parser.error(f"unknown case in {args.cases}; known: {known}")
    print(
        f"# bench_hostile: {platform.node()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {'test' if args.small else 'full'} sizes, "
        f"address space {args.address_space:g} GiB, timeout {args.timeout:g} s, "
        f"{time.strftime('%Y-%m-%d %H:%M')}"
    )
    header = "| case | input | on disk | build s | exit | expected | seconds | peak RSS | says |"
    print(header)
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    failures = 0
    for case in cases:
        folder = args.data_dir / case.name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        started = time.perf_counter()
        # Built in a process of its own, so this one stays small (its size at fork would
        # otherwise show in the child's figures and cost in the fork).
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            path = pool.submit(_build, case.name, folder, not args.small).result()
        built = time.perf_counter() - started
        outcome = hostile.run_limited(
            [str(path)],
            address_space=int(args.address_space * hostile.GiB),
            timeout=args.timeout,
            file_size=case.file_size,
        )
        text = (outcome.stderr or outcome.stdout).strip().splitlines()
        said = text[0] if outcome.status == 2 and text else (text[0] if text else "")
        said = said.replace(str(path), "FILE")
        status_wanted, says = case.expected(not args.small)
        ok = outcome.status == status_wanted and says in outcome.stdout + outcome.stderr
        failures += not ok
        status = "timeout" if outcome.status is None else str(outcome.status)
        print(
            f"| {case.name} | {case.what} | {_human(_size(path))} | {built:.1f} | {status} | "
            f"{status_wanted}{'' if ok else ' (NOT MET)'} | {outcome.seconds:.1f} | "
            f"{outcome.peak_rss_mb:,.0f} MB | {said[:150]} |",
            flush=True,
        )
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
