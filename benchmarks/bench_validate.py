"""Time ``cld-validate`` on generated returns next to a bare Polars scan of the same file.

Why this exists: the validator's promise is "seconds, on returns of any size". The honest
yardstick for that is not an absolute number (machines differ, and ours are shared and noisy)
but how far the full validation is from the least work any Polars program must do on the same
file: read every column as text and touch every value. That is the "floor". The target is the
full validation at most 3x the floor at 1,000,000 rows.

How it measures, and why that way:

* Both the floor and the CLI run in a fresh child process, timed as the wall time of the whole
  process (interpreter start, imports, read, work, output). That is what a user waits for,
  and measuring both the same way keeps the ratio fair. The floor child also reports the time
  of the scan alone (no start-up, no imports), printed as "floor scan in-process".
* Peak memory is the child's own ``ru_maxrss`` from ``os.wait4`` (KiB on Linux), not a delta
  of ``RUSAGE_CHILDREN``, which only ever reports the largest child so far.
* Figures are medians over ``--repeats`` runs (default 3); floor and CLI runs alternate so slow
  spells of a shared machine hit both alike. One untimed floor run first warms the page cache
  so every timed run reads the file from memory.
* Nothing here asserts on time: the target is printed as a statement, and the exit status
  says only whether the runs themselves worked (0), or a run failed or timed out (1).

Inputs come from the project's own generator (``cld_polars.generate.write_return``) and are
kept in ``benchmarks/data/`` (git-ignored) as ``return_<rows>_seed<seed>.csv``; a file there
with the right number of rows is reused.

With ``--xlsx`` each repeat also runs the CLI with ``--xlsx`` (validation, JSON and the Excel
workbook) and a child that validates in-process and times ``Report.to_excel`` alone, so the
workbook's share of the whole run is printed from both sides: the difference of the CLI
medians, and the workbook's own seconds.

Usage::

    python benchmarks/bench_validate.py                      # 100,000, 1M and 10M rows
    python benchmarks/bench_validate.py --xlsx --frictionless fl.json   # the scale targets
    python benchmarks/bench_validate.py --sizes 100000 --repeats 5 --json results.json
    python benchmarks/bench_validate.py --xlsx               # also time the Excel workbook
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import select
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_DATA = HERE / "data"
DEFAULT_SIZES = (100_000, 1_000_000, 10_000_000)
TARGET_ROWS = 1_000_000
TARGET_RATIO = 3.0
#: The scale targets (issue 16) for everything, workbook included (``--xlsx``): rows ->
#: (at most this many times the floor, peak memory under this many MB).
SCALE_TARGETS = {1_000_000: (2.0, 800), 10_000_000: (2.5, 2_500)}
MB = 1_000_000  # file sizes and memory are given in decimal megabytes

# The floor, run with ``python -c``: only what is needed, so its start-up is the minimum any
# Polars program pays. A streaming scan (bounded memory at any size, as the issue asks of the
# floor) that touches every column. It prints the seconds of the scan alone on stdout.
FLOOR_CODE = """\
import sys, time
import polars as pl
began = time.perf_counter()
(
    pl.scan_csv(sys.argv[1], infer_schema=False)
    .select(pl.all().str.len_bytes().sum())
    .collect(engine="streaming")
)
print(time.perf_counter() - began)
"""


# The workbook alone, run with ``python -c`` on the same file: validate, then time the summary
# counts and the workbook (``Report.to_excel``) in-process. Prints JSON on stdout.
WORKBOOK_CODE = """\
import json, sys, time
from cld_polars import validate
began = time.perf_counter()
report = validate(sys.argv[1])
validated = time.perf_counter()
report.summary
summarised = time.perf_counter()
written = report.to_excel(sys.argv[2])
done = time.perf_counter()
print(json.dumps({
    "validate_seconds": validated - began,
    "summary_seconds": summarised - validated,
    "sheets_seconds": done - summarised,
    "workbook_seconds": done - validated,
    "findings": written.findings,
    "findings_written": written.findings_written,
}))
"""


class RunFailed(RuntimeError):
    """A child process failed or ran out of time: the figures would be meaningless."""


@dataclass
class Run:
    """One child process: wall seconds, peak RSS in KiB, exit status, and what it printed."""

    seconds: float
    cpu_seconds: float
    max_rss_kib: int
    exit_code: int
    stdout: str
    stderr: str


@dataclass
class SizeResult:
    """Every run at one size, kept whole so the JSON shows the spread, not only medians."""

    rows: int
    seed: int
    file: str
    file_bytes: int
    floor_seconds: list[float] = field(default_factory=list)
    floor_scan_seconds: list[float] = field(default_factory=list)
    floor_cpu_seconds: list[float] = field(default_factory=list)
    floor_max_rss_kib: list[int] = field(default_factory=list)
    cli_seconds: list[float] = field(default_factory=list)
    cli_cpu_seconds: list[float] = field(default_factory=list)
    cli_max_rss_kib: list[int] = field(default_factory=list)
    cli_exit_codes: list[int] = field(default_factory=list)
    source_digests: list[str] = field(default_factory=list)
    cli_result: dict[str, Any] = field(default_factory=dict)
    #: With ``--xlsx``: the CLI run with ``--xlsx`` too, and the in-process workbook timings.
    xlsx_seconds: list[float] = field(default_factory=list)
    xlsx_cpu_seconds: list[float] = field(default_factory=list)
    xlsx_max_rss_kib: list[int] = field(default_factory=list)
    xlsx_bytes: int = 0
    workbook_seconds: list[float] = field(default_factory=list)
    workbook_summary_seconds: list[float] = field(default_factory=list)
    workbook_sheets_seconds: list[float] = field(default_factory=list)
    workbook_findings: int = 0

    def medians(self) -> dict[str, float]:
        """The figures the table prints; rows/s and the ratio are taken from the medians."""
        floor = statistics.median(self.floor_seconds)
        cli = statistics.median(self.cli_seconds)
        xlsx = {}
        if self.xlsx_seconds:
            with_xlsx = statistics.median(self.xlsx_seconds)
            xlsx = {
                "cli_xlsx_seconds": with_xlsx,
                "cli_xlsx_cpu_seconds": statistics.median(self.xlsx_cpu_seconds),
                "cli_xlsx_peak_rss_mb": statistics.median(self.xlsx_max_rss_kib) * 1024 / MB,
                "xlsx_minus_cli_seconds": with_xlsx - cli,
                "workbook_seconds": statistics.median(self.workbook_seconds),
                "workbook_summary_seconds": statistics.median(self.workbook_summary_seconds),
                "workbook_sheets_seconds": statistics.median(self.workbook_sheets_seconds),
                "workbook_share": statistics.median(self.workbook_seconds) / with_xlsx,
                "xlsx_mb": self.xlsx_bytes / MB,
            }
        return {
            "file_mb": self.file_bytes / MB,
            "floor_seconds": floor,
            "floor_rows_per_s": self.rows / floor,
            "floor_scan_seconds": statistics.median(self.floor_scan_seconds),
            "floor_cpu_seconds": statistics.median(self.floor_cpu_seconds),
            "cli_cpu_seconds": statistics.median(self.cli_cpu_seconds),
            "cli_seconds": cli,
            "cli_rows_per_s": self.rows / cli,
            "ratio_cli_to_floor": cli / floor,
            "floor_peak_rss_mb": statistics.median(self.floor_max_rss_kib) * 1024 / MB,
            "cli_peak_rss_mb": statistics.median(self.cli_max_rss_kib) * 1024 / MB,
            **xlsx,
        }


# ---------------------------------------------------------------------------------------------
# Machine and inputs
# ---------------------------------------------------------------------------------------------


def machine() -> dict[str, object]:
    """What the figures were measured on: without it a number means little on shared hosts."""
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = os.cpu_count() or 0
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "mem_total_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "polars": pl.__version__,
        "platform": platform.platform(),
        "polars_max_threads": os.environ.get("POLARS_MAX_THREADS"),
    }


def source_digest() -> str:
    """A short hash of the package's code and specification as they are on disk now.

    Why: the CLI children import this working tree, which may be edited while a benchmark
    runs. Taken before every CLI run, it shows whether all repeats timed the same code.
    """
    digest = hashlib.sha256()
    for folder in ("cld_polars", "schemas"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".toml", ".csv") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def count_rows(path: Path) -> int:
    """Data rows of a generated return: its lines minus the header.

    Good enough for our own files, which never quote a line break; it reads in blocks, so a
    1M-row file is checked in well under a second instead of being parsed.
    """
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 24):
            lines += block.count(b"\n")
            last = block[-1:]
    if last != b"\n":
        lines += 1
    return lines - 1


def ensure_return(data_dir: Path, rows: int, seed: int, *, regenerate: bool) -> Path:
    """The generated return for (rows, seed), written only when missing or of the wrong size.

    Generating 1M rows costs more than a benchmark run, so files are kept between runs; the
    seed is in the name because the generator is deterministic per seed.
    """
    path = data_dir / f"return_{rows}_seed{seed}.csv"
    if path.exists() and not regenerate:
        found = count_rows(path)
        if found == rows:
            print(f"reusing {path} ({found:,} rows)", flush=True)
            return path
        print(f"{path} has {found:,} rows, not {rows:,}: regenerating", flush=True)
    if str(ROOT) not in sys.path:  # the package is used from the checkout, installed or not
        sys.path.insert(0, str(ROOT))
    from cld_polars.generate import write_return

    began = time.perf_counter()
    write_return(path, rows, seed=seed)
    print(f"generated {path} ({rows:,} rows) in {time.perf_counter() - began:.1f} s", flush=True)
    return path


# ---------------------------------------------------------------------------------------------
# Running children
# ---------------------------------------------------------------------------------------------


def child_env() -> dict[str, str]:
    """The environment for children: the checkout first on PYTHONPATH, so the code under test
    is this working tree's even when an older copy of the package is installed."""
    env = dict(os.environ)
    old = env.get("PYTHONPATH")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + old if old else "")
    return env


def _wait(pid: int, timeout: float) -> tuple[int, resource.struct_rusage] | None:
    """Reap ``pid`` with its own rusage, or return None when it outlives ``timeout`` seconds.

    A pidfd lets us wait with a timeout and then reap exactly once, with no race against a
    killer thread and no polling delay added to the measured time.
    """
    if hasattr(os, "pidfd_open"):
        fd = os.pidfd_open(pid)
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            if not poller.poll(timeout * 1000):
                return None
        finally:
            os.close(fd)
        _, status, usage = os.wait4(pid, 0)
        return status, usage
    deadline = time.perf_counter() + timeout
    while True:  # fallback: 5 ms polls
        reaped, status, usage = os.wait4(pid, os.WNOHANG)
        if reaped:
            return status, usage
        if time.perf_counter() > deadline:
            return None
        time.sleep(0.005)


def run_child(argv: Sequence[str], timeout: float) -> Run:
    """Run one child; wall time from just before the fork to the moment it has been reaped."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=ROOT, env=child_env())
        waited = _wait(proc.pid, timeout)
        seconds = time.perf_counter() - began
        if waited is None:
            proc.kill()  # our own child, by its id
            proc.wait()
            raise RunFailed(f"timed out after {timeout:.0f} s: {' '.join(argv)}")
        status, usage = waited
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
        out.seek(0)
        err.seek(0)
        return Run(
            seconds=seconds,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            max_rss_kib=usage.ru_maxrss,
            exit_code=proc.returncode,
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def run_floor(python: str, path: Path, timeout: float) -> tuple[Run, float]:
    """The bare scan in a fresh interpreter: the process run, and the scan's own seconds."""
    run = run_child([python, "-c", FLOOR_CODE, str(path)], timeout)
    if run.exit_code != 0:
        raise RunFailed(f"floor scan exited {run.exit_code}:\n{run.stderr[-2000:]}")
    return run, float(run.stdout.strip().splitlines()[-1])


def run_cli(
    python: str, path: Path, json_out: Path, timeout: float, xlsx_out: Path | None = None
) -> Run:
    """``python -m cld_polars.cli FILE --json OUT --quiet [--xlsx BOOK]``; 0 (clean) and 1
    (errors) are both a finished validation, anything else means the run did not do the work."""
    argv = [python, "-m", "cld_polars.cli", str(path), "--json", str(json_out), "--quiet"]
    if xlsx_out is not None:
        argv += ["--xlsx", str(xlsx_out)]
    run = run_child(argv, timeout)
    if run.exit_code not in (0, 1):
        raise RunFailed(f"cld-validate exited {run.exit_code}:\n{run.stderr[-2000:]}")
    return run


def run_workbook(python: str, path: Path, book: Path, timeout: float) -> dict[str, float]:
    """The in-process workbook timings (see ``WORKBOOK_CODE``)."""
    run = run_child([python, "-c", WORKBOOK_CODE, str(path), str(book)], timeout)
    if run.exit_code != 0:
        raise RunFailed(f"the workbook child exited {run.exit_code}:\n{run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def bench_size(
    path: Path,
    rows: int,
    seed: int,
    repeats: int,
    python: str,
    timeout: float,
    *,
    xlsx: bool = False,
) -> SizeResult:
    """All runs at one size: a warm-up floor, then floor and CLI alternately (with ``xlsx``,
    then the CLI with ``--xlsx`` and the in-process workbook child in the same repeat)."""
    result = SizeResult(rows=rows, seed=seed, file=str(path), file_bytes=path.stat().st_size)
    run_floor(python, path, timeout)  # warm the page cache; not counted
    with tempfile.TemporaryDirectory(prefix="cld_bench_") as tmp:
        json_out = Path(tmp) / "result.json"
        book = Path(tmp) / "report.xlsx"
        for i in range(repeats):
            floor, scan = run_floor(python, path, timeout)
            result.floor_seconds.append(floor.seconds)
            result.floor_scan_seconds.append(scan)
            result.floor_cpu_seconds.append(floor.cpu_seconds)
            result.floor_max_rss_kib.append(floor.max_rss_kib)
            result.source_digests.append(source_digest())
            cli = run_cli(python, path, json_out, timeout)
            result.cli_seconds.append(cli.seconds)
            result.cli_cpu_seconds.append(cli.cpu_seconds)
            result.cli_max_rss_kib.append(cli.max_rss_kib)
            result.cli_exit_codes.append(cli.exit_code)
            print(
                f"  {rows:>10,} rows  run {i + 1}/{repeats}: floor {floor.seconds:7.2f} s "
                f"(scan {scan:6.2f} s, {floor.max_rss_kib * 1024 / MB:7.0f} MB)   "
                f"cli {cli.seconds:7.2f} s ({cli.max_rss_kib * 1024 / MB:7.0f} MB, "
                f"exit {cli.exit_code}, code {result.source_digests[-1]})",
                flush=True,
            )
            if xlsx:
                with_book = run_cli(python, path, json_out, timeout, xlsx_out=book)
                result.xlsx_seconds.append(with_book.seconds)
                result.xlsx_cpu_seconds.append(with_book.cpu_seconds)
                result.xlsx_max_rss_kib.append(with_book.max_rss_kib)
                result.xlsx_bytes = book.stat().st_size
                timed = run_workbook(python, path, Path(tmp) / "inprocess.xlsx", timeout)
                result.workbook_seconds.append(timed["workbook_seconds"])
                result.workbook_summary_seconds.append(timed["summary_seconds"])
                result.workbook_sheets_seconds.append(timed["sheets_seconds"])
                result.workbook_findings = int(timed["findings"])
                print(
                    f"  {'':>10}       run {i + 1}/{repeats}: "
                    f"cli --xlsx {with_book.seconds:7.2f} s "
                    f"({with_book.max_rss_kib * 1024 / MB:7.0f} MB)   workbook in-process "
                    f"{timed['workbook_seconds']:6.2f} s "
                    f"(summary {timed['summary_seconds']:.2f} s, "
                    f"sheets {timed['sheets_seconds']:.2f} s, {int(timed['findings']):,} findings)",
                    flush=True,
                )
        report = json.loads(json_out.read_text(encoding="utf-8"))
    # Proof the CLI did the whole job: it saw every row, and a clean return gives no errors.
    result.cli_result = {
        "rows": report.get("rows"),
        "errors": report.get("errors"),
        "warnings": report.get("warnings"),
        "rules": [(r["code"], r["rows"]) for r in report.get("rules", [])],
        "file_findings": [f.get("code") for f in report.get("file_findings", [])],
    }
    return result


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------


def size_table(result: SizeResult) -> str:
    """One size: every figure as median, min and max over the repeats."""
    n = result.rows

    def line(name: str, values: Sequence[float], unit: str, fmt: str) -> str:
        cells = [statistics.median(values), min(values), max(values)]
        return f"  {name:<26}" + "".join(f"{format(v, fmt):>14}" for v in cells) + f"  {unit}"

    mb = [k * 1024 / MB for k in result.floor_max_rss_kib]
    cli_mb = [k * 1024 / MB for k in result.cli_max_rss_kib]
    ratios = [c / f for c, f in zip(result.cli_seconds, result.floor_seconds, strict=True)]
    out = [
        f"{n:,} rows, {result.file_bytes / MB:,.1f} MB ({result.file}), "
        f"{len(result.cli_seconds)} repeats",
        f"  {'':<26}{'median':>14}{'min':>14}{'max':>14}",
        line("floor (process)", result.floor_seconds, "s", ".2f"),
        line("floor scan in-process", result.floor_scan_seconds, "s", ".2f"),
        line("floor CPU (user+sys)", result.floor_cpu_seconds, "s", ".2f"),
        line("floor rows/s", [n / s for s in result.floor_seconds], "rows/s", ",.0f"),
        line("CLI (process)", result.cli_seconds, "s", ".2f"),
        line("CLI CPU (user+sys)", result.cli_cpu_seconds, "s", ".2f"),
        line("CLI rows/s", [n / s for s in result.cli_seconds], "rows/s", ",.0f"),
        line("ratio CLI/floor (per run)", ratios, "x", ".2f"),
        line("floor peak RSS", mb, "MB", ",.0f"),
        line("CLI peak RSS", cli_mb, "MB", ",.0f"),
    ]
    if result.xlsx_seconds:
        with_mb = [k * 1024 / MB for k in result.xlsx_max_rss_kib]
        extra = [x - c for x, c in zip(result.xlsx_seconds, result.cli_seconds, strict=True)]
        share = [w / x for w, x in zip(result.workbook_seconds, result.xlsx_seconds, strict=True)]
        out += [
            line("CLI --xlsx (process)", result.xlsx_seconds, "s", ".2f"),
            line("CLI --xlsx CPU (user+sys)", result.xlsx_cpu_seconds, "s", ".2f"),
            line("CLI --xlsx minus CLI", extra, "s", ".2f"),
            line("workbook in-process", result.workbook_seconds, "s", ".2f"),
            line("  summary counts", result.workbook_summary_seconds, "s", ".2f"),
            line("  sheets and save", result.workbook_sheets_seconds, "s", ".2f"),
            line("workbook share of --xlsx", [100 * v for v in share], "%", ".0f"),
            line("CLI --xlsx peak RSS", with_mb, "MB", ",.0f"),
        ]
        out.append(
            f"  workbook: {result.xlsx_bytes / MB:,.2f} MB, "
            f"{result.workbook_findings:,} findings on Rows to fix"
        )
    res = result.cli_result
    rules = ", ".join(f"{code} {rows:,}" for code, rows in res.get("rules", [])) or "none"
    out.append(
        f"  CLI result: rows {res.get('rows'):,}, rows with errors {res.get('errors'):,}, "
        f"warnings {res.get('warnings'):,}, exit {sorted(set(result.cli_exit_codes))}; "
        f"rules fired: {rules}; file findings: {res.get('file_findings') or 'none'}"
    )
    if len(set(result.source_digests)) > 1:
        out.append(
            "  WARNING: the package code changed between runs (digests "
            f"{', '.join(result.source_digests)}): these runs timed different code"
        )
    return "\n".join(out)


def xlsx_table(results: Sequence[SizeResult]) -> str:
    """With ``--xlsx``: validation alone next to validation plus workbook, from the medians."""
    head = (
        f"{'rows':>10} {'CLI s':>8} {'CLI --xlsx s':>13} {'difference s':>13} "
        f"{'CPU diff s':>10} {'workbook s':>11} {'share':>6} {'CLI RSS MB':>10} "
        f"{'--xlsx RSS MB':>13}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        if not r.xlsx_seconds:
            continue
        m = r.medians()
        lines.append(
            f"{r.rows:>10,} {m['cli_seconds']:>8.2f} {m['cli_xlsx_seconds']:>13.2f} "
            f"{m['xlsx_minus_cli_seconds']:>13.2f} "
            f"{m['cli_xlsx_cpu_seconds'] - m['cli_cpu_seconds']:>10.2f} "
            f"{m['workbook_seconds']:>11.2f} "
            f"{100 * m['workbook_share']:>5.0f}% {m['cli_peak_rss_mb']:>10,.0f} "
            f"{m['cli_xlsx_peak_rss_mb']:>13,.0f}"
        )
    return "\n".join(lines)


def summary_table(results: Sequence[SizeResult]) -> str:
    """All sizes side by side, from the medians (ratio = median CLI / median floor)."""
    head = (
        f"{'rows':>10} {'file MB':>8} {'floor s':>8} {'floor rows/s':>13} {'CLI s':>8} "
        f"{'CLI rows/s':>11} {'CLI/floor':>9} {'floor RSS MB':>12} {'CLI RSS MB':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        m = r.medians()
        lines.append(
            f"{r.rows:>10,} {m['file_mb']:>8,.1f} {m['floor_seconds']:>8.2f} "
            f"{m['floor_rows_per_s']:>13,.0f} {m['cli_seconds']:>8.2f} "
            f"{m['cli_rows_per_s']:>11,.0f} {m['ratio_cli_to_floor']:>8.2f}x "
            f"{m['floor_peak_rss_mb']:>12,.0f} {m['cli_peak_rss_mb']:>10,.0f}"
        )
    return "\n".join(lines)


def target_statement(results: Sequence[SizeResult]) -> tuple[str, bool | None]:
    """The target as a sentence and a verdict (None when 1M rows was not measured)."""
    wanted = (
        f"target: full validation at most {TARGET_RATIO:g}x the bare scan at {TARGET_ROWS:,} rows"
    )
    at = [r for r in results if r.rows == TARGET_ROWS]
    if not at:
        return f"{wanted}: not evaluated ({TARGET_ROWS:,} rows not in --sizes)", None
    ratio = at[0].medians()["ratio_cli_to_floor"]
    holds = ratio <= TARGET_RATIO
    verdict = "HOLDS" if holds else "DOES NOT HOLD"
    return f"{wanted}: {verdict} (median ratio {ratio:.2f}x)", holds


def scale_statements(results: Sequence[SizeResult]) -> list[str]:
    """The scale targets (validation, JSON and workbook: the ``--xlsx`` run), one line each."""
    lines = []
    for rows, (ratio, peak) in SCALE_TARGETS.items():
        wanted = f"target at {rows:,} rows: everything in at most {ratio:g}x the floor, peak under"
        wanted += f" {peak:,} MB"
        at = [r for r in results if r.rows == rows and r.xlsx_seconds]
        if not at:
            lines.append(f"{wanted}: not evaluated (needs --xlsx and {rows:,} in --sizes)")
            continue
        m = at[0].medians()
        got = m["cli_xlsx_seconds"] / m["floor_seconds"]
        rss = m["cli_xlsx_peak_rss_mb"]
        lines.append(
            f"{wanted}: time {'HOLDS' if got <= ratio else 'DOES NOT HOLD'} ({got:.2f}x), "
            f"memory {'HOLDS' if rss < peak else 'DOES NOT HOLD'} ({rss:,.0f} MB)"
        )
    return lines


def frictionless_lines(results: Sequence[SizeResult], path: Path) -> list[str]:
    """Our rows/s over Frictionless's (from ``bench_frictionless.py --json``), per size.

    Frictionless validates a row at a time in Python, so its rows/s hardly depends on the
    size and is measured on a slice; ours is taken at each size from this run.
    """
    payload = json.loads(path.read_text(encoding="utf-8"))
    theirs = [r for r in payload.get("runs", []) if r.get("tool") == "frictionless"]
    if not theirs:
        return [f"{path}: no Frictionless figures in it"]
    best = max(theirs, key=lambda r: r["rows"])
    rate = best["medians"]["rows_per_s"]
    lines = [
        f"Frictionless {payload.get('frictionless')}: {rate:,.0f} rows/s (whole process, "
        f"{best['rows']:,} rows, median of {len(best['seconds'])}; {path})"
    ]
    for r in results:
        m = r.medians()
        ours = r.rows / m.get("cli_xlsx_seconds", m["cli_seconds"])
        what = "CLI --xlsx" if r.xlsx_seconds else "CLI"
        lines.append(f"  {r.rows:>10,} rows: {what} {ours:,.0f} rows/s = {ours / rate:.1f}x")
    return lines


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part.replace("_", "")) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a list of row counts: {text!r}") from exc
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"row counts must be positive: {text!r}")
    return sizes


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Options; the defaults are the README's figures (100k and 1M rows, 3 repeats)."""
    parser = argparse.ArgumentParser(
        description="Time cld-validate on generated returns next to a bare Polars scan.",
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=list(DEFAULT_SIZES),
        help="comma-separated row counts (default 100000,1000000,10000000)",
    )
    parser.add_argument(
        "--repeats", type=_positive, default=3, help="timed runs per size (default 3)"
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every figure as JSON")
    parser.add_argument(
        "--data-dir", type=Path, default=DEFAULT_DATA, help="where returns are kept"
    )
    parser.add_argument(
        "--regenerate", action="store_true", help="write the returns again even if present"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="seconds one child may take before the benchmark stops (default 600)",
    )
    parser.add_argument(
        "--python", default=sys.executable, help="interpreter for the children (default: this)"
    )
    parser.add_argument(
        "--xlsx",
        action="store_true",
        help="also time the CLI with --xlsx and the workbook alone (in-process)",
    )
    parser.add_argument(
        "--frictionless",
        type=Path,
        metavar="JSON",
        help="figures from bench_frictionless.py --json: print our rows/s over Frictionless's",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every run worked, 1 when one failed (never on time)."""
    args = parse_args(argv)
    info = machine()
    print(
        f"machine: {info['cpu_count']} CPUs ({info['cpus_usable']} usable), "
        f"{info['mem_total_gib']} GiB RAM, Python {info['python']}, Polars {info['polars']}, "
        f"{info['platform']}"
        + (
            f", POLARS_MAX_THREADS={info['polars_max_threads']}"
            if info["polars_max_threads"]
            else ""
        )
    )
    print(f"sizes {args.sizes}, {args.repeats} repeats, seed {args.seed}\n", flush=True)

    results: list[SizeResult] = []
    failure: str | None = None
    for rows in args.sizes:
        path = ensure_return(args.data_dir, rows, args.seed, regenerate=args.regenerate)
        try:
            results.append(
                bench_size(
                    path,
                    rows,
                    args.seed,
                    args.repeats,
                    args.python,
                    args.timeout,
                    xlsx=args.xlsx,
                )
            )
        except RunFailed as exc:
            failure = f"{rows:,} rows: {exc}"
            print(f"stopped: {failure}", file=sys.stderr)
            break

    print()
    for result in results:
        print(size_table(result) + "\n")
    if results:
        print("Medians (ratio = median CLI / median floor; process wall times):")
        print(summary_table(results) + "\n")
        if any(r.xlsx_seconds for r in results):
            print(
                "Excel workbook (medians; difference = CLI --xlsx s - CLI s, CPU diff the same\n"
                "for CPU seconds, steadier on a busy machine; workbook s = summary counts +\n"
                "sheets + save, timed in-process; share = workbook s / CLI --xlsx s):"
            )
            print(xlsx_table(results) + "\n")
    statement, holds = target_statement(results)
    print(statement)
    for line in scale_statements(results):
        print(line)
    if args.frictionless is not None and results:
        print()
        print("\n".join(frictionless_lines(results, args.frictionless)))

    if args.json:
        payload = {
            "machine": info,
            "repeats": args.repeats,
            "seed": args.seed,
            "target": {"rows": TARGET_ROWS, "max_ratio": TARGET_RATIO, "holds": holds},
            "xlsx": args.xlsx,
            "failure": failure,
            "sizes": [{**asdict(r), "medians": r.medians()} for r in results],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}")
    return 1 if failure else 0


if __name__ == "__main__":
    sys.exit(main())
