"""The progress display: drawn on a terminal only, after a delay, erased when done; silent
when stderr is not a terminal or with ``--quiet``."""

from __future__ import annotations

import io
import sys
import time
from pathlib import Path

import pytest
from factory import clean_rows, write_csv

from cld_polars import progress as progress_module
from cld_polars.cli import main
from cld_polars.progress import Progress, for_terminal


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_on_a_terminal_after_the_delay() -> None:
    screen, clock = FakeTerminal(), FakeClock()
    progress = Progress(screen, delay=2.0, clock=clock)
    assert progress.enabled
    progress("checking north.csv")
    progress.tick()
    assert screen.getvalue() == ""  # a short run shows nothing
    clock.now += 3
    progress.tick()
    assert screen.getvalue() == "\rchecking north.csv (3 s)"
    progress("writing north.csv")  # a new stage is drawn at once; one space covers the g
    assert screen.getvalue().endswith("\rwriting north.csv (3 s) ")
    progress("done")  # a shorter line blanks the rest of the longer one
    assert screen.getvalue().endswith("\rdone (3 s)" + " " * 13)
    progress.stop()
    assert screen.getvalue().endswith("\r" + " " * len("done (3 s)") + "\r")


def test_progress_is_silent_off_a_terminal_and_when_quiet() -> None:
    pipe = io.StringIO()
    with Progress(pipe, delay=0) as progress:
        progress("checking")
        progress.tick()
    assert not progress.enabled and pipe.getvalue() == ""
    screen = FakeTerminal()
    with for_terminal(True, screen) as progress:
        progress("checking")
        progress.tick()
    assert screen.getvalue() == ""
    assert for_terminal(False, FakeTerminal()).enabled


def test_cli_prints_no_progress_when_stderr_is_not_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = write_csv(tmp_path / "a.csv", clean_rows())
    b = write_csv(tmp_path / "b.csv", clean_rows())
    assert main([str(a), str(b), "--out-dir", str(tmp_path / "out")]) == 0
    assert main([str(a), "--json", str(tmp_path / "one.json")]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "\r" not in captured.out


def test_the_thread_redraws_while_the_work_runs() -> None:
    screen = FakeTerminal()
    with Progress(screen, delay=0, interval=0.01) as progress:
        progress("checking")
        for _ in range(200):  # up to 2 s on a busy machine; usually one pass
            if screen.getvalue().count("\r") >= 2:
                break
            time.sleep(0.01)
    assert screen.getvalue().startswith("\rchecking (0 s)")
    assert screen.getvalue().count("\rchecking (") >= 2
    assert screen.getvalue().endswith("\r" + " " * len("checking (0 s)") + "\r")


def test_cli_shows_stages_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(tmp_path / "north.csv", clean_rows())
    screen = FakeTerminal()
    monkeypatch.setattr(progress_module, "DEFAULT_DELAY", 0.0)
    monkeypatch.setattr(sys, "stderr", screen)
    assert main([str(path), "--json", str(tmp_path / "north.json")]) == 0
    shown = screen.getvalue()
    for stage in ("reading", "checking", "writing"):
        assert f"\r{stage} north.csv (0 s)" in shown
    assert shown.endswith("\r")  # erased before the summary went to stdout
    assert "rows checked" in capsys.readouterr().out
    quiet_screen = FakeTerminal()
    monkeypatch.setattr(sys, "stderr", quiet_screen)
    assert main([str(path), "--quiet"]) == 0
    assert quiet_screen.getvalue() == ""
