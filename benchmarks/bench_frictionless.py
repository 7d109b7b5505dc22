"""Time Frictionless, a general-purpose validator, next to ``cld-validate`` on the same rows.

Why this exists: an analyst without this project would likely reach for a general tool:
write a Table Schema for the CLD return and run Frictionless over it. This script measures
how much faster the project is than that on the same data, and by how much, so the claim
"seconds, on returns of any size" has a comparison a reader knows.

What is compared, and why that way:

* The Table Schema is built from the project's own specification (``load_spec()``): the 48
  columns as strings (the return is text, and the DLP reads it as text), ``required`` for the
  always-mandatory fields, ``enum`` for the defined lists and council codes, and ``pattern``
  for dates (dd/mm/yyyy), NHS numbers, integers, decimals, postcodes and GP practice codes.
  That is about all a Table Schema can say. It cannot express Annex A's conditional
  mandatory fields, the cross-field dates, the cross-row checks, Modulus 11, Release 1
  values or near misses: ``cld-validate`` does all of those too (over 200 checks), so it
  does more work per row than Frictionless here, never less.
* Frictionless is slow (it validates row by row in Python), so it runs on a slice: the first
  ``--slice`` rows of a generated return (default 20,000 of 100,000). ``cld-validate`` runs on
  the same slice and on the full return, so the table also shows what it does at scale.
* Every run is a fresh child process timed as a whole (start-up and imports included: that
  is what a user waits for), as in ``bench_validate.py``, whose helpers this script uses.
  Both children also report the time of the validation call alone ("in-process"), which
  leaves out interpreter start-up and imports; on a 20,000-row slice those are a large part
  of our time, so both ratios are printed. Figures are medians over ``--repeats`` (default
  3); the runs alternate so a slow spell of a shared machine hits both tools alike.
* Frictionless is not a project dependency. Install it (``pip install frictionless``) only
  to run this benchmark; without it the script says so and exits 0.

Usage::

    python benchmarks/bench_frictionless.py
    python benchmarks/bench_frictionless.py --rows 100000 --slice 20000 --json results.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for folder in (HERE, ROOT):  # bench_validate's helpers; this checkout's package
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import polars as pl  # noqa: E402
from bench_validate import (  # noqa: E402
    DEFAULT_DATA,
    MB,
    Run,
    RunFailed,
    child_env,
    ensure_return,
    machine,
    run_child,
    run_cli,
)

from cld_polars.parse import (  # noqa: E402
    DATE_PATTERN,
    DECIMAL_PATTERN,
    GP_PRACTICE_PATTERN,
    INTEGER_PATTERN,
    NHS_PATTERN,
    POSTCODE_FULL,
    POSTCODE_OUTWARD,
    POSTCODE_SPECIAL,
)
from cld_polars.spec import Spec, load_spec  # noqa: E402

# Frictionless in a fresh interpreter: argv is the schema (JSON), the CSV and the error limit.
# It prints one JSON line: the seconds of the validation call, rows seen, errors by type.
FRICTIONLESS_CODE = """\
import collections, json, sys, time
from pathlib import Path
from frictionless import Resource, Schema
schema = Schema.from_descriptor(json.loads(Path(sys.argv[1]).read_text()))
csv = Path(sys.argv[2])
began = time.perf_counter()
# basepath + a relative path: Frictionless refuses absolute paths as unsafe.
resource = Resource(path=csv.name, basepath=str(csv.parent), schema=schema)
report = resource.validate(limit_errors=int(sys.argv[3]))
seconds = time.perf_counter() - began
task = report.tasks[0]
types = collections.Counter(e.type for e in task.errors)
print(json.dumps({"seconds": seconds, "valid": report.valid, "rows": task.stats.get("rows"),
                  "errors": task.stats.get("errors"), "error_types": dict(types)}))
"""

# Our validation call alone, as the CLI makes it (validate, then the JSON result).
OURS_CODE = """\
import json, sys, time
from cld_polars import validate
began = time.perf_counter()
report = validate(sys.argv[1])
report.to_json(sys.argv[2])
seconds = time.perf_counter() - began
print(json.dumps({"seconds": seconds, "rows": report.rows, "errors": report.errors,
                  "warnings": report.warnings}))
"""

FRICTIONLESS_CHECK = "import frictionless; print(frictionless.__version__)"


def _unanchored(pattern: str) -> str:
    """Table Schema patterns are matched whole (Frictionless adds ``^...$`` itself)."""
    return pattern.removeprefix("^").removesuffix("$")


def table_schema(spec: Spec) -> dict[str, object]:
    """The Table Schema closest to the specification: types, lists and required fields."""
    postcode = "|".join(
        [_unanchored(POSTCODE_FULL), _unanchored(POSTCODE_OUTWARD), *POSTCODE_SPECIAL]
    )
    patterns = {
        "date": DATE_PATTERN,
        "nhs_number": NHS_PATTERN,
        "integer": INTEGER_PATTERN,
        "decimal": DECIMAL_PATTERN,
        "gp_practice_code": GP_PRACTICE_PATTERN,
        # Grouped: Frictionless wraps the pattern in ^...$, which would bind to the
        # first and last alternatives only.
        "postcode": f"(?:{postcode})",
    }
    fields = []
    for f in spec.fields:
        constraints: dict[str, object] = {}
        if f.mandatory == "always":
            constraints["required"] = True
        if f.kind == "list":
            constraints["enum"] = list(spec.values(f.name))
        elif f.kind == "la_code":
            constraints["enum"] = sorted(spec.councils)
        elif f.kind in patterns:
            constraints["pattern"] = _unanchored(patterns[f.kind])
        fields.append({"name": f.name, "type": "string", "constraints": constraints})
    return {"fields": fields, "missingValues": [""]}


def write_slice(source: Path, rows: int, target: Path) -> Path:
    """The first ``rows`` rows of ``source``, written as the generator writes returns."""
    if (
        target.exists()
        and pl.scan_csv(target, infer_schema=False).select(pl.len()).collect().item() == rows
    ):
        return target
    frame = pl.scan_csv(source, infer_schema=False).head(rows).collect()
    frame.write_csv(target, null_value="", quote_style="necessary", line_terminator="\n")
    return target


def frictionless_version(python: str) -> str | None:
    """Frictionless's version in the interpreter the children use, or None if absent."""
    found = subprocess.run(
        [python, "-c", FRICTIONLESS_CHECK], capture_output=True, text=True, env=child_env()
    )
    return found.stdout.strip() if found.returncode == 0 else None


def _child_json(run: Run, what: str) -> dict[str, object]:
    if run.exit_code != 0:
        raise RunFailed(f"{what} exited {run.exit_code}:\n{run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


@dataclass
class Figures:
    """Every run of one tool on one file: process seconds, in-process seconds, peak memory."""

    tool: str
    file: str
    rows: int
    seconds: list[float] = field(default_factory=list)
    inner_seconds: list[float] = field(default_factory=list)
    max_rss_kib: list[int] = field(default_factory=list)
    result: dict[str, object] = field(default_factory=dict)

    def add(self, run: Run, inner: float | None = None) -> None:
        self.seconds.append(run.seconds)
        self.max_rss_kib.append(run.max_rss_kib)
        if inner is not None:
            self.inner_seconds.append(inner)

    def medians(self) -> dict[str, float | None]:
        process = statistics.median(self.seconds)
        inner = statistics.median(self.inner_seconds) if self.inner_seconds else None
        return {
            "seconds": process,
            "rows_per_s": self.rows / process,
            "inner_seconds": inner,
            "inner_rows_per_s": self.rows / inner if inner else None,
            "peak_rss_mb": statistics.median(self.max_rss_kib) * 1024 / MB,
        }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time Frictionless next to cld-validate on a slice of a generated return.",
    )
    parser.add_argument("--rows", type=int, default=100_000, help="full return (default 100000)")
    parser.add_argument("--slice", type=int, default=20_000, help="rows for both (default 20000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs each (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write every figure as JSON")
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="generated returns")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per child")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the children")
    parser.add_argument(
        "--frictionless-full",
        action="store_true",
        help="also time Frictionless on the full return (slow: it goes row by row)",
    )
    args = parser.parse_args(argv)
    if not 0 < args.slice <= args.rows or args.repeats < 1:
        parser.error("need 0 < --slice <= --rows and --repeats >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the comparison; 0 when every run worked (or Frictionless is absent), 1 if one failed."""
    args = parse_args(argv)
    version = frictionless_version(args.python)
    if version is None:
        print(
            f"Frictionless is not installed for {args.python}: nothing to compare.\n"
            "It is not a project dependency; to run this benchmark: pip install frictionless"
        )
        return 0
    info = machine()
    print(
        f"machine: {info['cpu_count']} CPUs, {info['mem_total_gib']} GiB RAM, Python "
        f"{info['python']}, Polars {info['polars']}, Frictionless {version}; "
        f"{args.repeats} repeats, medians\n",
        flush=True,
    )
    args.data_dir.mkdir(parents=True, exist_ok=True)
    full = ensure_return(args.data_dir, args.rows, args.seed, regenerate=False)
    part = write_slice(
        full,
        args.slice,
        args.data_dir / f"return_{args.rows}_seed{args.seed}_first{args.slice}.csv",
    )
    fl = Figures("frictionless", str(part), args.slice)
    ours = Figures("cld-validate", str(part), args.slice)
    fl_full = Figures("frictionless", str(full), args.rows)
    ours_full = Figures("cld-validate", str(full), args.rows)
    failure: str | None = None
    with tempfile.TemporaryDirectory(prefix="cld_bench_fl_") as tmp:
        schema_path = Path(tmp) / "schema.json"
        schema_path.write_text(json.dumps(table_schema(load_spec())), encoding="utf-8")
        out = Path(tmp) / "result.json"

        def frictionless(path: Path, figures: Figures) -> None:
            limit = str(figures.rows * 48 + 1000)  # never stop early: every row is validated
            run = run_child(
                [args.python, "-c", FRICTIONLESS_CODE, str(schema_path), str(path), limit],
                args.timeout,
            )
            figures.result = _child_json(run, "Frictionless")
            figures.add(run, float(figures.result["seconds"]))  # type: ignore[arg-type]

        def ours_cli(path: Path, figures: Figures) -> None:
            figures.add(run_cli(args.python, path, out, args.timeout))
            result = json.loads(out.read_text(encoding="utf-8"))
            figures.result = {k: result[k] for k in ("rows", "errors", "warnings")}

        try:
            for i in range(args.repeats):
                frictionless(part, fl)
                cli = run_cli(args.python, part, out, args.timeout)
                inner = run_child([args.python, "-c", OURS_CODE, str(part), str(out)], args.timeout)
                ours.result = _child_json(inner, "cld_polars.validate")
                ours.add(cli, float(ours.result["seconds"]))  # type: ignore[arg-type]
                ours_cli(full, ours_full)
                if args.frictionless_full:
                    frictionless(full, fl_full)
                print(
                    f"  run {i + 1}/{args.repeats}: slice: Frictionless {fl.seconds[-1]:.2f} s "
                    f"({fl.inner_seconds[-1]:.2f} s in-process), cld-validate {cli.seconds:.2f} s "
                    f"({ours.inner_seconds[-1]:.2f} s in-process); full: cld-validate "
                    f"{ours_full.seconds[-1]:.2f} s"
                    + (f", Frictionless {fl_full.seconds[-1]:.2f} s" if fl_full.seconds else ""),
                    flush=True,
                )
        except RunFailed as exc:
            failure = str(exc)
            print(f"stopped: {failure}", file=sys.stderr)
    measured = [f for f in (fl, ours, fl_full, ours_full) if f.seconds]
    if failure is None:
        print()
        print(report_table(measured))
    if args.json:
        payload = {
            "machine": info,
            "frictionless": version,
            "repeats": args.repeats,
            "seed": args.seed,
            "slice_rows": args.slice,
            "full_rows": args.rows,
            "failure": failure,
            "runs": [{**asdict(f), "medians": f.medians()} for f in measured],
        }
        if failure is None:
            payload["ratio"] = ratios(fl, ours)
            if fl_full.seconds:
                payload["ratio_full"] = ratios(fl_full, ours_full)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {args.json}")
    return 1 if failure else 0


def ratios(fl: Figures, ours: Figures) -> dict[str, float | None]:
    """Our rows/s over Frictionless's rows/s on the same file: whole process, and call alone."""
    a, b = fl.medians(), ours.medians()
    inner = None
    if a["inner_rows_per_s"] and b["inner_rows_per_s"]:
        inner = b["inner_rows_per_s"] / a["inner_rows_per_s"]
    return {"process": b["rows_per_s"] / a["rows_per_s"], "in_process": inner}  # type: ignore[operator]


def report_table(measured: Sequence[Figures]) -> str:
    """The medians side by side, then the ratios and what each tool reported."""
    head = (
        f"{'tool':<14} {'rows':>10} {'process s':>10} {'rows/s':>10} "
        f"{'in-process s':>13} {'rows/s':>10} {'peak MB':>8}"
    )
    lines = [head, "-" * len(head)]
    for f in measured:
        m = f.medians()
        inner = (
            f"{m['inner_seconds']:>13.2f} {m['inner_rows_per_s']:>10,.0f}"
            if m["inner_seconds"]
            else f"{'-':>13} {'-':>10}"
        )
        lines.append(
            f"{f.tool:<14} {f.rows:>10,} {m['seconds']:>10.2f} {m['rows_per_s']:>10,.0f} "
            f"{inner} {m['peak_rss_mb']:>8,.0f}"
        )
    lines.append("")
    for rows in dict.fromkeys(f.rows for f in measured):
        pair = {f.tool: f for f in measured if f.rows == rows}
        if len(pair) < 2:
            continue
        fl, ours = pair["frictionless"], pair["cld-validate"]
        r = ratios(fl, ours)
        alone = f", {r['in_process']:.1f}x (validation call alone)" if r["in_process"] else ""
        lines += [
            f"our rows/s over Frictionless rows/s on {rows:,} rows: "
            f"{r['process']:.1f}x (whole process){alone}",
            f"  Frictionless reported: rows {fl.result.get('rows'):,}, errors "
            f"{fl.result.get('errors'):,} {fl.result.get('error_types') or ''}".rstrip(),
            f"  cld-validate reported: {_counts(ours.result)}",
        ]
    full = [
        f for f in measured if f.tool == "cld-validate" and f.rows == max(m.rows for m in measured)
    ]
    if full and not any(f.tool == "frictionless" and f.rows == full[0].rows for f in measured):
        lines.append(f"cld-validate on the full return: {_counts(full[0].result)}")
    return "\n".join(lines)


def _counts(result: dict[str, object]) -> str:
    return ", ".join(f"{k} {result.get(k):,}" for k in ("rows", "errors", "warnings"))


if __name__ == "__main__":
    sys.exit(main())
