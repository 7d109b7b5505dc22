"""Temporaries: removed on SIGTERM, SIGINT and SIGHUP; swept after ``kill -9`` once their
process is gone (and only then); worker processes die with their parent. Real runs in
subprocesses, each with its own temporary folder (``TMPDIR``) so that what is left is ours."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from factory import HEADER, clean_rows, write_cp1252

from cld_polars import safety
from cld_polars.generate import generate_return

ROOT = Path(__file__).resolve().parent.parent
CLI = [sys.executable, "-m", "cld_polars.cli"]

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="signals and /proc: Linux")


@pytest.fixture(scope="module")
def windows_1252(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Windows-1252 return of 40,000 rows with accented names: the reader decodes it into
    a temporary copy (names, NHS numbers), the copy a signal must not leave behind."""
    return write_cp1252(
        generate_return(40_000, seed=5), tmp_path_factory.mktemp("cp1252") / "return.csv"
    )


def _env(temp: Path) -> dict[str, str]:
    temp.mkdir(exist_ok=True)
    return {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(temp)}


def _start(arguments: list[str], temp: Path) -> subprocess.Popen[str]:
    """``cld-validate ARGUMENTS`` in a subprocess whose temporary folder is ``temp``."""
    return subprocess.Popen(
        [*CLI, *arguments],
        env=_env(temp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _ours(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.lstrip(".").startswith("cld_polars.")]


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], limit: float) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert process.poll() is None, "the run ended before the moment the test waits for"
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def _gone(pid: int) -> bool:
    return not safety.pid_alive(pid)


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_signal_during_a_run_leaves_no_temporaries(
    windows_1252: Path, tmp_path: Path, name: str
) -> None:
    temp, out = tmp_path / "tmp", tmp_path / "out"
    out.mkdir()
    run = _start(
        [str(windows_1252), "--xlsx", str(out / "r.xlsx"), "--json", str(out / "r.json")], temp
    )

    def decoded_copy_exists() -> bool:
        return any(any(d.glob("from_cp1252*")) for d in _ours(temp) if d.is_dir())

    _wait_for(decoded_copy_exists, run, 60)
    number = getattr(signal, name)
    run.send_signal(number)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 128 + number
    assert err == f"cld-validate: stopped by {name}; temporary files removed\n"
    assert list(temp.iterdir()) == []
    assert list(out.iterdir()) == []


def test_a_signal_while_an_output_is_written_leaves_no_temporary(
    windows_1252: Path, tmp_path: Path
) -> None:
    temp, out = tmp_path / "tmp", tmp_path / "out"
    out.mkdir()
    run = _start(
        [str(windows_1252), "--errors", str(out / "f.csv"), "--xlsx", str(out / "r.xlsx")], temp
    )
    _wait_for(lambda: any(p.name.endswith(".tmp") for p in out.iterdir()), run, 60)
    run.send_signal(signal.SIGTERM)
    run.communicate(timeout=60)
    assert run.returncode == 143
    assert [p for p in out.iterdir() if p.name.startswith(".")] == []  # whole files only
    assert list(temp.iterdir()) == []


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


#: Every command sweeps: the arguments after the return (``R``) and before the output folder.
COMMANDS: dict[str, Callable[[Path, Path], list[str]]] = {
    "validate": lambda source, out: [str(source), "--json", str(out / "r.json")],
    "central": lambda source, out: ["central", str(source), "--json", str(out / "r.json")],
    "compare": lambda source, out: [
        "compare",
        str(source),
        str(source),
        "--xlsx",
        str(out / "c.xlsx"),
    ],
    "fix": lambda source, out: ["fix", str(source), "--out", str(out / "fixed.csv")],
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_stale_temporaries_are_swept_and_live_ones_kept(tmp_path: Path, command: str) -> None:
    temp, out = tmp_path / "tmp", tmp_path / "out"
    env = _env(temp)
    out.mkdir()
    dead, alive = _dead_pid(), os.getpid()
    host = safety.HOST
    stale_file = out / f".cld_polars.{dead}@{host}.abc123.r.json.tmp"
    stale_sheet = out / f".cld_polars.{dead}@{host}.abc123.r.xlsx.tmp.openpyxl"
    stale_dir = temp / f"cld_polars.{dead}@{host}.read.xyz"
    kept = [
        out / f".cld_polars.{alive}@{host}.def456.r.json.tmp",  # a live run's
        out / f".cld_polars.{dead}@other-machine.ghi.r.json.tmp",  # cannot be checked
        out / f".r.json.{dead}.tmp",  # not named as ours
        temp / f"cld_polars.{alive}@{host}.read.live",
        temp / f"other.{dead}@{host}.x",
    ]
    for path in (stale_file, stale_sheet, *kept[:3]):
        path.write_text("partial report")
    for folder in (stale_dir, *kept[3:]):
        folder.mkdir()
        (folder / "from_cp1252.csv").write_text("NHS Number\n4010232137\n")
    source = tmp_path / "r.csv"
    with source.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(clean_rows())
    result = subprocess.run(
        [*CLI, *COMMANDS[command](source, out), "--quiet"],
        env=env,
        capture_output=True,
        text=True,
    )
    # The sweep comes first, whatever the run finds: compare refuses a return given as both
    # the previous and the current one (its period is not later), after sweeping.
    assert result.returncode == (2 if command == "compare" else 0), result.stderr
    assert "removed 3 temporary file(s) left by a cld_polars run that was stopped" in (
        result.stderr
    )
    assert not stale_file.exists() and not stale_sheet.exists() and not stale_dir.exists()
    assert all(path.exists() for path in kept)


def test_batch_workers_die_with_their_parent(windows_1252: Path, tmp_path: Path) -> None:
    """``kill -9`` of the run: its workers get SIGTERM from the kernel, remove their decoded
    copies and exit; the next run takes over the lock the killed run could not remove."""
    temp, out = tmp_path / "tmp", tmp_path / "out"
    second = tmp_path / "second.csv"
    second.write_bytes(windows_1252.read_bytes())
    run = _start([str(windows_1252), str(second), "--out-dir", str(out), "--workers", "2"], temp)

    def workers_reading() -> bool:
        owners = {int(p.name.split(".")[1].split("@")[0]) for p in _ours(temp)}
        return bool(owners & set(_children(run.pid)))

    _wait_for(workers_reading, run, 60)
    workers = [
        pid
        for pid in _children(run.pid)
        if b"multiprocessing.spawn" in Path(f"/proc/{pid}/cmdline").read_bytes()
    ]
    assert len(workers) == 2
    run.kill()
    run.communicate(timeout=60)
    deadline = time.monotonic() + 20
    while not all(_gone(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(_gone(pid) for pid in workers), "a worker outlived its parent"
    assert _ours(temp) == []  # each worker removed its decoded copy on the way out
    assert (out / safety.LOCK_NAME).exists()
    again = subprocess.run(
        [*CLI, str(second), "--out-dir", str(out), "--quiet"],
        env=_env(temp),
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0 and "took over the lock" in again.stderr


def test_the_fallback_stops_a_worker_whose_parent_is_gone(tmp_path: Path) -> None:
    """Without the kernel's help (``pdeathsig=False``), the watching thread notices."""
    worker = (
        "import os, sys, time\n"
        "from cld_polars import safety\n"
        "safety.worker_setup(os.getppid(), pdeathsig=False, interval=0.1)\n"
        "held = safety.temp_dir('read')\n"
        "print(os.getpid(), held.name, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {worker!r}])\n"
        "time.sleep(60)\n"
    )
    run = subprocess.Popen(
        [sys.executable, "-c", parent],
        env=_env(tmp_path / "tmp"),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert run.stdout is not None
    pid_text, folder = run.stdout.readline().split()
    assert Path(folder).is_dir()
    run.kill()
    run.wait()
    deadline = time.monotonic() + 10
    while not _gone(int(pid_text)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _gone(int(pid_text)) and not Path(folder).exists()
