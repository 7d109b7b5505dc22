"""Where the time and memory of one whole run go, stage by stage.

Why this exists: ``bench_validate.py`` says how far the whole run is from the floor; this
says which stage to blame. Each repeat runs a fresh child process that validates a generated
return in-process, with the engine's own functions wrapped in timers, writes the workbook
and the JSON, and reports per stage:

* the seconds spent in it (medians over ``--repeats``), and its share of the whole;
* the peak resident memory while it ran: anonymous RSS sampled every 5 ms by a thread
  (file-backed pages, such as a memory-mapped input, are not counted), and the process's
  own ``ru_maxrss`` at the end for the whole run.

The stages, in the order they run:

reading            bytes pass (encoding, NUL bytes, line endings) and the line-structure scan
scan               waiting for the streaming CSV scan to hand over the next chunk
row hash           each row's hash of its 48 values (for the duplicate checks)
helper columns     list codes, parsed dates, blank/formula/validity flags (``prepare_frame``)
checks             the row checks' flags, per-field states, projection and summary columns
                   (the projection's text cast to categoricals in the same plan)
measures           per-field counts from the states (``validity_counts``)
findings           the failing rows of each chunk, with value and suggestion
central per chunk  the central view's per-chunk state from the chunk's plan (its own plan
                   runs in the "checks" collect)
cross-row          after the pass: duplicates, one person's details, linked IDs, coverage
central finish     the central view's figures from the state (``engine._central_stage``)
summary            the summary tables (from the kept per-row columns)
workbook           the Excel workbook (``Report.to_excel``), summary excluded
json               the JSON result

Nothing here asserts on time. Usage::

    python benchmarks/bench_stages.py                        # 1M rows, 3 repeats
    python benchmarks/bench_stages.py --sizes 1000000,10000000 --json stages.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_validate import (  # noqa: E402  (the benchmarks folder is not a package)
    DEFAULT_DATA,
    child_env,
    ensure_return,
    machine,
)

STAGES = (
    "reading",
    "scan",
    "row hash",
    "helper columns",
    "checks",
    "measures",
    "findings",
    "central per chunk",
    "cross-row",
    "central finish",
    "summary",
    "workbook",
    "json",
)

# Run in the child: times the engine's own functions by wrapping them where the engine looks
# them up, so the figures are of the code as shipped. "checks" is what is left of the chunk
# loop once the other chunk stages are taken out (its one collect of four plans).
CHILD_CODE = r"""
import json, resource, sys, threading, time
from pathlib import Path
import cld_polars.engine as engine
import cld_polars.reader as reader

current = ["reading"]
seconds = {}
peaks = {}

def anon_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon"):
                return int(line.split()[1]) * 1024 / 1e6
    return 0.0

def sample():
    while True:
        stage, now = current[0], anon_mb()
        if now > peaks.get(stage, 0.0):
            peaks[stage] = now
        time.sleep(0.005)

threading.Thread(target=sample, daemon=True).start()

def add(stage, took):
    seconds[stage] = seconds.get(stage, 0.0) + took

def timed(stage, fn):
    def wrapper(*args, **kwargs):
        outer, current[0] = current[0], stage
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            add(stage, time.perf_counter() - began)
            current[0] = outer
    return wrapper

engine.prepare_frame = timed("helper columns", engine.prepare_frame)
engine.row_hash = timed("row hash", engine.row_hash)
engine.count_states = timed("measures", engine.count_states)
engine.Collector.add = timed("central per chunk", engine.Collector.add)
engine.central_stage = timed("central finish", engine.central_stage)
original_chunks = engine._chunks

def chunks(*args):
    it = original_chunks(*args)
    while True:
        current[0] = "scan"
        began = time.perf_counter()
        try:
            chunk = next(it)
        except StopIteration:
            add("scan", time.perf_counter() - began)
            return
        add("scan", time.perf_counter() - began)
        current[0] = "checks"
        yield chunk

engine._chunks = chunks
finding_rows = engine.finding_rows

def findings(data, flags, fired, ctx):
    stage = "findings" if current[0] == "checks" else current[0]
    return timed(stage, finding_rows)(data, flags, fired, ctx)

engine.finding_rows = findings
marks = {}

def progress(message):
    if message == "checking":
        marks["pass"] = time.perf_counter()
    elif message == "cross-row checks":
        marks["cross"] = time.perf_counter()
        current[0] = "cross-row"

began = time.perf_counter()
report = engine.validate(sys.argv[1], progress=progress)
ended = time.perf_counter()
seconds["reading"] = marks["pass"] - began
chunk_stages = ("scan", "row hash", "helper columns", "measures", "findings", "central per chunk")
seconds["checks"] = marks["cross"] - marks["pass"] - sum(seconds.get(s, 0) for s in chunk_stages)
seconds["cross-row"] = ended - marks["cross"] - seconds.get("central finish", 0)
current[0] = "summary"
t = time.perf_counter(); report.summary; seconds["summary"] = time.perf_counter() - t
current[0] = "workbook"
t = time.perf_counter(); report.to_excel(Path(sys.argv[2]))
seconds["workbook"] = time.perf_counter() - t
current[0] = "json"
t = time.perf_counter(); report.to_json(); seconds["json"] = time.perf_counter() - t
total = time.perf_counter() - began
print(json.dumps({
    "seconds": seconds, "peaks_mb": peaks, "total": total, "rows": report.rows,
    "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6,
}))
"""


def run_once(python: str, path: Path, book: Path, timeout: float) -> dict[str, object]:
    done = subprocess.run(
        [python, "-c", CHILD_CODE, str(path), str(book)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=child_env(),
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the child failed on {path.name}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def stage_table(rows: int, runs: Sequence[dict[str, object]]) -> tuple[str, dict[str, object]]:
    """The medians of the runs, as a Markdown table and as data."""

    def median(key: str, stage: str) -> float:
        return statistics.median(float(r[key].get(stage, 0.0)) for r in runs)  # type: ignore[attr-defined]

    total = statistics.median(float(r["total"]) for r in runs)  # type: ignore[arg-type]
    maxrss = statistics.median(float(r["maxrss_mb"]) for r in runs)  # type: ignore[arg-type]
    lines = [
        f"### {rows:,} rows: {total:.2f} s in-process ({rows / total:,.0f} rows/s), "
        f"peak RSS {maxrss:,.0f} MB (medians of {len(runs)})",
        "",
        "| stage | seconds | share | peak anonymous RSS during it |",
        "|---|---:|---:|---:|",
    ]
    data: dict[str, object] = {"rows": rows, "total": total, "maxrss_mb": maxrss, "stages": {}}
    for stage in STAGES:
        took, peak = median("seconds", stage), median("peaks_mb", stage)
        shown = f"{peak:,.0f} MB" if peak else "(too short to sample)"
        lines.append(f"| {stage} | {took:.2f} | {took / total:.0%} | {shown} |")
        data["stages"][stage] = {"seconds": took, "peak_mb": peak}  # type: ignore[index]
    slowest = max(STAGES, key=lambda s: median("seconds", s))
    fullest = max(STAGES, key=lambda s: median("peaks_mb", s))
    lines += [
        "",
        f"Slowest stage: {slowest}. Memory peaks during: {fullest}.",
    ]
    data["slowest"], data["fullest"] = slowest, fullest
    return "\n".join(lines), data


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000", help="rows, comma-separated")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the figures as JSON")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    args = parser.parse_args(argv)
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    out: list[dict[str, object]] = []
    info = machine()
    print(f"machine: {info}")
    for rows in sizes:
        # Reusing a file counts its lines, and generating one writes it: either way the timed
        # runs read it from the page cache.
        path = ensure_return(args.data_dir, rows, args.seed, regenerate=False)
        book = args.data_dir.parent / "results" / f"stages_{rows}.xlsx"
        book.parent.mkdir(exist_ok=True)
        runs = [run_once(sys.executable, path, book, args.timeout) for _ in range(args.repeats)]
        text, data = stage_table(rows, runs)
        print(text, flush=True)
        out.append(data)
        book.unlink(missing_ok=True)
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "sizes": out}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
