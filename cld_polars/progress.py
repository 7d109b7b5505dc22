"""A one-line progress display on the terminal for long runs.

Why it exists: a 1M-row return takes seconds and a folder of returns takes minutes; without a
sign of life an analyst cannot tell a slow run from a hung one. Why it is this small: it must
never get in the way of what scripts read. So it writes to stderr only, only when stderr is a
terminal, never with ``--quiet``, and only once a run has lasted ``delay`` seconds (short
runs print nothing extra). Messages are escaped (``safety.shown``): they carry file names.

The engine cannot report from inside a Polars query, so callers report stages ("reading",
"checking", "writing"; in batch mode "3/10 returns done") by calling the reporter with a
message. A background thread redraws the line with the elapsed time, so the display moves
while Polars is busy (Polars releases the GIL while it works).
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

from cld_polars.safety import shown

#: Seconds before anything is shown: runs shorter than this stay quiet.
DEFAULT_DELAY = 2.0
#: Seconds between redraws of the line.
DEFAULT_INTERVAL = 0.5


def is_terminal(stream: TextIO) -> bool:
    """True when ``stream`` is an interactive terminal (not a pipe, file or captured stream)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or the stream is closed
        return False


class Progress:
    """Shows ``message (12 s)`` on one line of ``stream``, redrawn in place with ``\\r``.

    Use as a context manager; call the instance (or :meth:`update`) with the current stage.
    Disabled (every call a no-op) when ``enabled`` is False, or, by default, when ``stream``
    is not a terminal. The line is erased on exit, so the next output starts on a clean line.
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        enabled: bool | None = None,
        delay: float | None = None,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream: TextIO = stream if stream is not None else sys.stderr
        self.enabled = is_terminal(self.stream) if enabled is None else enabled
        self.delay = DEFAULT_DELAY if delay is None else delay
        self.interval = DEFAULT_INTERVAL if interval is None else interval
        self._clock = clock
        self._started = clock()
        self._message = ""
        self._shown = 0  # characters of the line currently on screen
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __call__(self, message: str) -> None:
        self.update(message)

    def update(self, message: str) -> None:
        """Set the current stage; drawn at once if the run has lasted ``delay`` seconds."""
        if not self.enabled:
            return
        with self._lock:
            self._message = shown(message)  # a file name may hold ESC or a newline
        self.tick()

    def tick(self) -> None:
        """Redraw the line if the run has lasted ``delay`` seconds (the thread calls this)."""
        if not self.enabled:
            return
        with self._lock:
            elapsed = self._clock() - self._started
            if elapsed < self.delay or not self._message:
                return
            width = max(20, shutil.get_terminal_size((80, 24)).columns - 1)
            line = f"{self._message} ({elapsed:.0f} s)"
            if len(line) > width:
                line = line[: width - 3] + "..."
            padding = " " * max(0, self._shown - len(line))
            try:
                self.stream.write(f"\r{line}{padding}")
                self.stream.flush()
            except (OSError, ValueError):  # the terminal went away: stop drawing
                self.enabled = False
                return
            self._shown = len(line)

    def clear(self) -> None:
        """Erase the line, so whatever is printed next starts at the left margin."""
        with self._lock:
            if self._shown:
                try:
                    self.stream.write("\r" + " " * self._shown + "\r")
                    self.stream.flush()
                except (OSError, ValueError):
                    pass
                self._shown = 0

    def start(self) -> Progress:
        """Start the redraw thread (a daemon: it never keeps the process alive)."""
        self._started = self._clock()
        if self.enabled and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="cld-progress", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread and erase the line."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.clear()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def __enter__(self) -> Progress:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def for_terminal(quiet: bool, stream: TextIO | None = None) -> Progress:
    """The CLI's reporter: on stderr, silent with ``--quiet`` or when stderr is not a terminal."""
    stream = stream if stream is not None else sys.stderr
    return Progress(stream, enabled=not quiet and is_terminal(stream))
