"""What the central view costs: ``cld-validate central`` alone, and what it adds to validation.

Each repeat runs, as fresh child processes timed whole (``bench_validate.run_child``: wall
seconds, CPU seconds, peak RSS from ``wait4``):

* ``validate``: ``python -m cld_polars.cli FILE --json OUT --quiet`` (the central view is
  computed in the validation's own pass and written in its JSON);
* ``validate (base)``, with ``--base DIR``: the same command run from DIR, a checkout of the
  code before the central view (e.g. ``git archive <commit> | tar -x -C DIR``): the
  difference from ``validate`` is what the central view adds to a validation;
* ``central``: ``python -m cld_polars.cli central FILE --json OUT --quiet``.

They alternate within each repeat so that a slow spell on a shared machine hits all alike;
the figures are medians. Nothing here asserts on time. Usage::

    python benchmarks/bench_central.py --rows 1000000 --seed 1 --base /tmp/base
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_validate import (  # noqa: E402  (the benchmarks folder is not a package)
    DEFAULT_DATA,
    Run,
    RunFailed,
    ensure_return,
    machine,
    run_child,
)

#: Runs the CLI from another checkout: its folder first on the path (before this one's).
FROM_BASE = (
    "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); sys.argv[0] = 'cld-validate'; "
    "runpy.run_module('cld_polars.cli', run_name='__main__')"
)


def commands(path: Path, out: Path, base: Path | None) -> dict[str, list[str]]:
    python = sys.executable
    validate = [str(path), "--json", str(out / "validate.json"), "--quiet"]
    runs = {"validate": [python, "-m", "cld_polars.cli", *validate]}
    if base is not None:
        runs["validate (base)"] = [python, "-c", FROM_BASE, str(base), *validate]
    runs["central"] = [
        python,
        "-m",
        "cld_polars.cli",
        "central",
        str(path),
        "--json",
        str(out / "central.json"),
        "--quiet",
    ]
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--base", type=Path, help="a checkout without the central view")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every run as JSON")
    args = parser.parse_args(argv)
    path = ensure_return(args.data_dir, args.rows, args.seed, regenerate=False)
    info = machine()
    print(f"machine: {info}", flush=True)
    runs: dict[str, list[Run]] = {}
    with tempfile.TemporaryDirectory(prefix="bench_central_") as folder:
        for repeat in range(args.repeats):
            for name, argv_ in commands(path, Path(folder), args.base).items():
                run = run_child(argv_, args.timeout)
                if run.exit_code not in (0, 1):
                    raise RunFailed(f"{name} exited {run.exit_code}:\n{run.stderr[-2000:]}")
                runs.setdefault(name, []).append(run)
                print(
                    f"repeat {repeat + 1} {name:16s} {run.seconds:6.2f} s  "
                    f"cpu {run.cpu_seconds:6.2f} s  {run.max_rss_kib / 1024:7.0f} MiB",
                    flush=True,
                )

    def median(name: str, key: str) -> float:
        return statistics.median(float(getattr(r, key)) for r in runs[name])

    print(f"\n{args.rows:,} rows, medians of {args.repeats}:\n")
    print("| run | wall s | CPU s | peak RSS MiB |")
    print("|---|---:|---:|---:|")
    for name in runs:
        print(
            f"| {name} | {median(name, 'seconds'):.2f} | {median(name, 'cpu_seconds'):.2f} | "
            f"{median(name, 'max_rss_kib') / 1024:,.0f} |"
        )
    if "validate (base)" in runs:
        added = [
            median("validate", k) - median("validate (base)", k)
            for k in ("seconds", "cpu_seconds", "max_rss_kib")
        ]
        print(
            f"\nThe central view adds to a validation: {added[0]:+.2f} s wall, "
            f"{added[1]:+.2f} s CPU, {added[2] / 1024:+,.0f} MiB peak RSS (difference of medians)."
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": info,
                    "rows": args.rows,
                    "runs": {
                        n: [
                            {"seconds": r.seconds, "cpu": r.cpu_seconds, "rss_kib": r.max_rss_kib}
                            for r in rs
                        ]
                        for n, rs in runs.items()
                    },
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
