"""What keeps the outputs from hurting the data or the person who reads them.

One place for each of the output side's promises (the README's "Reliability" section):

* **No output resolves to an input** (:func:`clash`): every output path of a command is
  compared with every input by resolved path and by ``(st_dev, st_ino)``, so a symlink or a
  hard link to a return counts as the return. Checked before any work; two outputs of one
  command may not be one file either (:func:`collision`). The library's own writers refuse
  any return the process has read (:func:`note_input`, checked in :func:`write_atomic_with`),
  so a notebook cannot write a report over its return either.
* **Output names come from the whole stem** (:func:`output_stem`): ``cld.2025Q2.csv`` and
  ``cld.2025Q3.csv`` get different reports.
* **One run per output folder** (:class:`FolderLock`): a kernel lock (``flock``), so a lock
  left by a killed run is free again and is taken over, with a note.
* **Temporaries are ours by name** (:data:`PREFIX`, the pid and the host in every name):
  registered while they exist, removed on SIGTERM, SIGINT and SIGHUP
  (:func:`cleanup_on_signals`), and swept by the next run once their process is gone
  (:func:`sweep`) when a ``kill -9`` left them behind. Nothing else is ever removed.
* **Outputs are written whole or not at all** (:func:`write_atomic_with`): through a
  temporary file of ours in the output's folder, renamed into place when done.
* **Workers die with their parent** (:func:`worker_setup`).
* **CSV cells cannot run as formulas** (:func:`neutralise`), one Polars expression, and
  one writer of CSV reports that applies it (:func:`write_report_csv`).
* **Terminal output is inert** (:func:`shown`, :func:`say`): control characters, DEL and
  bidirectional overrides from values and file names are printed escaped.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import datetime
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, NoReturn, TextIO, TypeVar

import polars as pl

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


def output_stem(path: Path) -> str:
    """The name a return's outputs are built from: the file name without its last suffix, or
    without both of ``.csv.gz`` (``north.csv.gz`` -> ``north``); every other dot stays
    (``cld.2025Q2.csv`` -> ``cld.2025Q2``), so returns named by period never share a report.

    >>> [output_stem(Path(n)) for n in ("cld.2025Q2.csv", "north.CSV.gz", "r.xlsx", "r")]
    ['cld.2025Q2', 'north', 'r', 'r']
    >>> output_stem(Path("north\\nPASS\\x1b[2J\\u202e.csv"))
    'north_PASS_[2J_'
    """
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    stem = Path(name).stem if "." in name else name
    # A report's name holds no character a terminal or a script acts on (a newline, ESC, a
    # bidirectional override) and none that is not UTF-8: each becomes "_".
    return _UNSAFE.sub("_", stem) or "return"


# ---------------------------------------------------------------------------------------------
# Outputs that resolve to inputs
# ---------------------------------------------------------------------------------------------


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except (OSError, ValueError):
        return None
    return info.st_dev, info.st_ino


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # a symlink loop: compare it as written
        return path.absolute()


def same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` are one file: the same resolved path (symlinks followed), or
    the same device and inode (a hard link, another spelling on a case-insensitive disk)."""
    if _resolved(a) == _resolved(b):
        return True
    first = _identity(a)
    return first is not None and first == _identity(b)


def clash(
    inputs: Sequence[Path], outputs: Iterable[tuple[str, Path]], folder: tuple[str, Path] | None
) -> str | None:
    """One line saying which output would land on which input, or None.

    ``outputs`` are ``(option, path)`` pairs: every file the command may write, including
    those it writes only sometimes (a workbook's overflowing findings list), since the check
    runs before anything is known. ``folder``, ``(option, path)`` of an output folder, must
    not be an input file either.
    """
    by_path: dict[Path, Path] = {}
    by_id: dict[tuple[int, int], Path] = {}
    for source in inputs:
        by_path.setdefault(_resolved(source), source)
        identity = _identity(source)
        if identity is not None:
            by_id.setdefault(identity, source)

    def hit(path: Path) -> Path | None:
        found = by_path.get(_resolved(path))
        if found is None:
            identity = _identity(path)
            found = by_id.get(identity) if identity is not None else None
        return found

    if folder is not None:
        option, path = folder
        landed = hit(path)
        if landed is not None:
            return (
                f"{option} {shown(path)}: is the return {shown(landed)}, not a folder; "
                "give the folder to write the reports in"
            )
    for option, path in outputs:
        landed = hit(path)
        if landed is not None:
            how = "" if path == landed else " (the same file by another name or link)"
            return (
                f"{option} {shown(path)} would overwrite the return {shown(landed)}{how}; "
                "a return is never overwritten: choose another output name or folder"
            )
    return None


def collision(outputs: Iterable[tuple[str, Path]]) -> str | None:
    """One line saying which two outputs of one command are the same file, or None: the
    second written would silently replace the first (``--json r.out --xlsx r.out``)."""
    seen: dict[Path, str] = {}
    for option, path in outputs:
        key = _resolved(path)
        if key in seen and seen[key] != option:
            return (
                f"{seen[key]} and {option} both name {shown(path)}; one would replace the "
                "other: give each output its own name"
            )
        seen.setdefault(key, option)
    return None


def output_problem(flag: str, option: Path, *, is_folder: bool = False) -> str | None:
    """Why an output cannot be written where asked, or None: checked by every command before
    anything is read, so that a run is not wasted on an output it cannot write. ``option`` is
    a file to write, or with ``is_folder`` the folder to write in."""
    folder = option if is_folder else (option.parent if str(option.parent) else Path("."))
    if not folder.exists():
        return f"{flag} {option}: the output folder {folder} does not exist; create it first"
    if not folder.is_dir():
        return f"{flag} {option}: {folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{flag} {option}: the output folder {folder} cannot be written to"
    if not is_folder and option.is_dir():
        return f"{flag} {option}: is a folder; give a file name"
    return None


#: Every return this process has opened (:func:`note_input`), by device and inode with the
#: path it was read under: the last guard, in :func:`write_atomic_with`, so that no output of
#: the library (a notebook's ``report.to_excel(path)``, ``view.to_json(path)``) replaces a
#: return, whatever the caller checked.
_inputs: dict[tuple[int, int], str] = {}


def note_input(path: Path) -> None:
    """Remember ``path`` as a return: no output of this process may be written over it."""
    identity = _identity(path)
    if identity is not None:
        _inputs[identity] = str(path)


class OutputIsInput(ValueError):
    """An output would replace a return this process read."""


def _refuse_input(target: Path) -> None:
    identity = _identity(target)
    if identity is None or identity not in _inputs:
        return
    source = Path(_inputs[identity])
    if _identity(source) != identity:  # that return is gone; its inode was reused
        del _inputs[identity]
        return
    raise OutputIsInput(
        f"{shown(target)} would overwrite the return {shown(source)}; a return is never "
        "overwritten: choose another output name or folder"
    )


# ---------------------------------------------------------------------------------------------
# Terminal text
# ---------------------------------------------------------------------------------------------

#: Characters a terminal acts on instead of showing: C0 controls (ESC, BEL, CR, LF, TAB ...),
#: DEL, C1 controls, the bidirectional marks, embeddings, overrides and isolates (which can
#: make a line read differently from its bytes), the Unicode line separators, and the lone
#: surrogates that stand for a file name's bytes that are not UTF-8 (unprintable as they are).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def shown(value: object) -> str:
    """``value`` as text that is safe to print: every character a terminal would act on
    (see :data:`_UNSAFE`) written as its escape, so a value cannot retitle the window, move
    the cursor or start a line of its own (``'a\\nPASS'`` prints as ``a\\nPASS``).

    >>> shown("north\\x1b]0;owned\\x07.csv"), shown("fine"), shown(None)
    ('north\\\\x1b]0;owned\\\\x07.csv', 'fine', '')
    """
    text = "" if value is None else str(value)
    return _UNSAFE.sub(_escape, text)


#: A file name that reads the same to bash, cmd.exe and PowerShell between double quotes:
#: letters, digits and punctuation none of them expands there (no ``$``, backtick, ``"``,
#: ``%``, ``!``), not starting with ``-``.
_PLAIN_ARGUMENT = re.compile(r"[\w .,/\\:@+=()\[\]{}~#&'-]+")


def command_arg(name: str, placeholder: str = "RETURN.csv") -> str:
    """``name`` double-quoted for a command line a report shows, to be copied into a terminal;
    ``placeholder`` instead when the name holds a character a shell would act on even inside
    the quotes (``$(...)``, a backtick, ``%PATH%``, a newline), so a pasted command can
    never run what a file name holds.

    >>> command_arg("returns/north 2025.csv"), command_arg("x$(rm -rf ~).csv")
    ('"returns/north 2025.csv"', '"RETURN.csv"')
    """
    plain = _PLAIN_ARGUMENT.fullmatch(name) is not None and not name.startswith("-")
    return f'"{name if plain else placeholder}"'


def say(text: str = "", file: TextIO | None = None) -> None:
    """Print our own lines (``text`` split at its line breaks) with each line passed through
    :func:`shown`: the line breaks we put there stay, nothing else can act on the terminal.
    Values inside ``text`` should already be :func:`shown` (that escapes their line breaks)."""
    stream = file if file is not None else sys.stdout
    wait_if_stopping()
    try:
        print("\n".join(shown(line) for line in text.split("\n")), file=stream)
        if stream is sys.stdout:
            stream.flush()  # a closed pipe is met here, not at exit
    except BrokenPipeError:
        # The reader went away (``cld-validate ... | head``): the run goes on, its reports
        # and exit status still count; what it would have printed goes nowhere.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())


def utf8_text(text: str) -> str:
    """Text Polars (and Parquet, Excel and CSV) can hold: a file name's bytes that are not
    UTF-8 (read by Python as lone surrogates) become U+FFFD, rather than failing the whole
    table they are in."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:  # a surrogate that did not come from a byte
        return text.encode("utf-8", "replace").decode("utf-8")


def json_text(value: object, indent: int | None = None) -> str:
    """``json.dumps`` as our JSON outputs write it: characters as they are (not ``\\u``
    escapes), but a lone surrogate (a file name's bytes that are not UTF-8, as Python reads
    them) as its ``\\udcff`` escape, so the text can be written as UTF-8 and reads back as
    the same name.

    >>> json_text({"file": "r\\udcff.csv", "council": "Sa\u00efd"})
    '{"file": "r\\\\udcff.csv", "council": "Sa\u00efd"}'
    """
    text = json.dumps(value, indent=indent, ensure_ascii=False)
    return re.sub("[\ud800-\udfff]", lambda m: f"\\u{ord(m.group()):04x}", text)


class ArgumentParser(argparse.ArgumentParser):
    """``argparse``'s parser with its messages printed through :func:`shown`: a usage error
    repeats the arguments it did not understand, and a shell glob can hand it a file name
    holding ESC."""

    def error(self, message: str) -> NoReturn:
        super().error(shown(message))  # one line: a newline in an argument is escaped too

    def _print_message(self, message: str, file: SupportsWrite[str] | None = None) -> None:
        if message:
            stream = file if file is not None else sys.stderr
            with contextlib.suppress(AttributeError, OSError):
                stream.write("\n".join(shown(line) for line in message.split("\n")))


# ---------------------------------------------------------------------------------------------
# CSV cells a spreadsheet could run
# ---------------------------------------------------------------------------------------------

#: A cell a spreadsheet could read as a formula (OWASP, "CSV Injection"): it starts with TAB,
#: CR or LF, or, after any white space, with = + - @ or their fullwidth (U+FF1D, U+FF0B,
#: U+FF0D, U+FF20) or small (U+FE66, U+FE62, U+FE63, U+FE6B) forms or the minus sign U+2212.
CSV_FORMULA = r"^(?:[\t\r\n]|\s*[=+\-@\uff1d\uff0b\uff0d\uff20\ufe66\ufe62\ufe63\ufe6b\u2212])"
#: A plain number (``-12.50``, ``+3``, ``1e5``): read as that number, never as a formula, so
#: it is written as it is.
PLAIN_NUMBER = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
#: What goes in front of a formula-like cell: a spreadsheet shows the cell as text.
NEUTRALISER = "'"
_Frame = TypeVar("_Frame", pl.DataFrame, pl.LazyFrame)


def neutralise(value: pl.Expr) -> pl.Expr:
    """A text column with every formula-like cell (:data:`CSV_FORMULA`, but not a plain
    number) given a leading ``'``, so that Excel and LibreOffice show it as text instead of
    running it. Null stays null. The one rule of every CSV report we write; Parquet and JSON
    keep exact values.

    >>> values = ["=1+1", "-12.50", " @SUM(A1)", "\\tx", "A-1", None]
    >>> pl.DataFrame({"v": values}).select(neutralise(pl.col("v")))["v"].to_list()
    ["'=1+1", '-12.50', "' @SUM(A1)", "'\\tx", 'A-1', None]
    """
    risky = value.str.contains(CSV_FORMULA) & ~value.str.contains(PLAIN_NUMBER)
    return pl.when(risky).then(value.str.replace("^", NEUTRALISER)).otherwise(value)


def neutralised(frame: _Frame) -> _Frame:
    """``frame`` with :func:`neutralise` applied to every text column (categoricals are
    written as their text), ready for ``write_csv`` / ``sink_csv``."""
    schema = frame.collect_schema() if isinstance(frame, pl.LazyFrame) else frame.schema
    text = [
        name
        for name, dtype in schema.items()
        if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)
    ]
    return frame.with_columns(neutralise(pl.col(name).cast(pl.String)).alias(name) for name in text)


def write_report_csv(frame: pl.DataFrame | pl.LazyFrame, target: Path) -> Path:
    """The one way a CSV report is written: every text cell :func:`neutralised`, the file
    written whole or not at all (:func:`write_atomic_with`); a lazy frame is streamed.
    ``tests/test_output_safety.py`` checks that no other code writes CSV."""

    def write(tmp: Path) -> None:
        if isinstance(frame, pl.LazyFrame):
            neutralised(frame).sink_csv(tmp, line_terminator="\n")
        else:
            neutralised(frame).write_csv(tmp, line_terminator="\n")

    return write_atomic_with(target, write)


# ---------------------------------------------------------------------------------------------
# Temporaries: named as ours, registered, removed on signals, swept after kill -9
# ---------------------------------------------------------------------------------------------

PREFIX = "cld_polars"
#: This machine's name as it goes into temporary names (a shared disk can hold several
#: machines' temporaries; only this machine's processes can be checked for life).
HOST = (re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host")[:40]
_OWN_NAME = re.compile(rf"^\.?{PREFIX}\.(\d+)@([A-Za-z0-9-]+)\.")

#: Paths of this process's temporaries (file or folder) while they exist.
_registered: dict[str, bool] = {}
#: Folders this process makes temporaries in, noted before the first is made: a signal that
#: arrives between a temporary's creation and its registration still finds it by its name.
_folders: dict[str, None] = {}


def tag() -> str:
    """The start of every temporary name of this process: ``cld_polars.<pid>@<host>.``."""
    return f"{PREFIX}.{os.getpid()}@{HOST}."


def register(path: Path, *, folder: bool = False) -> None:
    """Remove ``path`` if this process is stopped by a signal (until :func:`forget`)."""
    _registered[str(path)] = folder


def forget(path: Path) -> None:
    _registered.pop(str(path), None)


def output_temp(directory: Path, name: str) -> Path:
    """A new empty temporary file in ``directory`` for the output ``name``, registered:
    ``.cld_polars.<pid>@<host>.<random>.<name>.tmp`` (hidden, and ours by its name)."""
    _folders[os.path.abspath(directory)] = None
    # The output's name in it only as far as it is plain (Polars takes UTF-8 paths only).
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", name[:100])
    fd, temp = tempfile.mkstemp(prefix=f".{tag()}", suffix=f".{plain}.tmp", dir=directory)
    os.close(fd)
    register(Path(temp))
    return Path(temp)


def write_atomic_with(target: Path, writer: Callable[[Path], object]) -> Path:
    """Write an output whole or not at all: ``writer`` writes a temporary file in the
    target's folder, which is renamed into place when it is done.

    The temporary is named as ours (:func:`output_temp`) and registered, so a signal removes
    it and the next run sweeps it if a ``kill -9`` left it behind. A target that is a return
    this process read (:func:`note_input`: the same file, by any name or link) is refused
    with :class:`OutputIsInput` before anything is written.
    """
    _refuse_input(target)
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise OSError(f"{directory}: the output folder does not exist")
    tmp = output_temp(directory, target.name)
    # mkstemp makes the file private (0600); a report is for sharing, so give it the
    # permissions any new file would get under the user's umask.
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)
        writer(tmp)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        forget(tmp)
    return target


def write_atomic(target: Path, data: bytes) -> Path:
    """``data`` written to ``target`` whole or not at all (:func:`write_atomic_with`)."""
    return write_atomic_with(target, lambda tmp: tmp.write_bytes(data))


class TempDir(tempfile.TemporaryDirectory[str]):
    """A temporary folder of ours (``cld_polars.<pid>@<host>.<kind>.<random>`` in the
    system's temporary folder), registered so that a signal removes it."""

    def __init__(self, kind: str) -> None:
        _folders[os.path.abspath(tempfile.gettempdir())] = None
        super().__init__(prefix=f"{tag()}{kind}.")
        register(Path(self.name), folder=True)
        # Removed by the garbage collector too (TemporaryDirectory's own finalizer): then
        # forgotten as well, so a long notebook session's registry does not grow.
        weakref.finalize(self, forget, Path(self.name))

    def cleanup(self) -> None:
        try:
            super().cleanup()
        finally:
            forget(Path(self.name))


def temp_dir(kind: str) -> TempDir:
    """A registered temporary folder for ``kind`` of data (``read``, ``findings``)."""
    return TempDir(kind)


def _remove(path: str, folder: bool) -> None:
    if folder:
        for _ in range(3):  # another thread may still be writing into it
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.lexists(path):
                return
    else:
        directory, name = os.path.split(path)
        with contextlib.suppress(OSError):
            os.unlink(path)
        with contextlib.suppress(OSError):  # files made beside it (``<temp>.openpyxl``)
            for entry in os.scandir(directory or "."):
                if entry.name.startswith(name):
                    os.unlink(entry.path)


def remove_registered() -> None:
    """Remove every temporary of this process: those registered, those named with this
    process's :func:`tag` in the folders it makes them in, and openpyxl's write-only sheet
    files (they hold the rows of a workbook being written)."""
    for path, folder in dict(_registered).items():  # a copy: the main thread may still run
        _remove(path, folder)
        _registered.pop(path, None)
    mine = (tag(), f".{tag()}")
    for directory in list(_folders):
        with contextlib.suppress(OSError):
            for entry in list(os.scandir(directory)):
                if entry.name.startswith(mine):
                    _remove(entry.path, entry.is_dir(follow_symlinks=False))
    writer = sys.modules.get("openpyxl.worksheet._writer")
    for name in list(getattr(writer, "ALL_TEMP_FILES", [])):
        with contextlib.suppress(OSError):
            os.unlink(name)


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (a zombie counts as gone)."""
    if pid <= 0:
        return False
    # sys.platform, not os.name: type checkers then check each branch on its own platform.
    if sys.platform == "win32":  # os.kill would terminate it there
        kernel = ctypes.windll.kernel32
        handle = kernel.OpenProcess(0x1000 | 0x100000, False, pid)  # query, synchronize
        if not handle:
            return False
        try:
            return bool(kernel.WaitForSingleObject(handle, 0) == 0x102)  # WAIT_TIMEOUT
        finally:
            kernel.CloseHandle(handle)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] not in (["Z"], ["X"])


def sweep(folders: Iterable[Path]) -> list[Path]:
    """Remove temporaries that killed runs of ours left in ``folders``: entries named
    ``[.]cld_polars.<pid>@<this host>.`` whose process is gone, owned by this user. Nothing
    else is touched (another machine's temporaries on a shared disk are left alone)."""
    removed: list[Path] = []
    for folder in dict.fromkeys(folders):
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            match = _OWN_NAME.match(entry.name)
            if match is None or match.group(2) != HOST:
                continue
            pid = int(match.group(1))
            if pid == os.getpid() or pid_alive(pid):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
                if hasattr(os, "getuid") and info.st_uid != os.getuid():
                    continue
                folder_entry = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            _remove(entry.path, folder_entry)
            if not os.path.lexists(entry.path):
                removed.append(Path(entry.path))
    return removed


def sweep_note(removed: Sequence[Path]) -> str | None:
    """One line about what :func:`sweep` removed, or None."""
    if not removed:
        return None
    folders = ", ".join(shown(p) for p in dict.fromkeys(r.parent for r in removed))
    return (
        f"removed {len(removed)} temporary file(s) left by a cld_polars run that was stopped "
        f"(in {folders})"
    )


def system_temp() -> Path:
    return Path(tempfile.gettempdir())


# ---------------------------------------------------------------------------------------------
# Signals
# ---------------------------------------------------------------------------------------------

HANDLED = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGHUP") if hasattr(signal, name)
)
#: Seconds the children get to remove their own temporaries before they are killed.
CHILD_GRACE = 5.0
_stopping = threading.Lock()
_watching = threading.local()
_state: dict[str, object] = {"program": None, "watcher": False, "stopper": None}


def _stop(signum: int) -> None:
    """Stop this process after a signal: children first (they clean up after themselves on
    SIGTERM), then every temporary of ours, then one line on stderr and exit 128 + signal.

    ``os._exit``: the main thread may be deep in a Polars query that would not return for
    minutes, and must not write anything more."""
    if not _stopping.acquire(blocking=False):
        return
    _state["stopper"] = threading.get_ident()
    with contextlib.suppress(Exception):
        children = multiprocessing.active_children()
        for child in children:
            child.terminate()
        _terminate_starting_children({c.pid for c in children})
        deadline = time.monotonic() + CHILD_GRACE
        for child in children:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                child.kill()
    with contextlib.suppress(Exception):
        # Again: the main thread may have started another worker meanwhile.
        _terminate_starting_children({c.pid for c in multiprocessing.active_children()})
        _release_semaphores()
    with contextlib.suppress(Exception):
        remove_registered()
        # A library writing a temporary by its path (Polars' sink) may open it again, and so
        # make it anew, just after it was removed: look once more before exiting.
        time.sleep(0.05)
        remove_registered()
    program = _state["program"]
    if program:
        name = signal.Signals(signum).name
        start = "\n" if _isatty(2) else ""
        line = f"{start}{program}: stopped by {name}; temporary files removed\n"
        with contextlib.suppress(OSError):
            os.write(2, line.encode("utf-8", "replace"))
    os._exit(128 + signum)


def wait_if_stopping() -> None:
    """While a signal is stopping this process, any other thread that would go on waits here
    for the end: the main thread must not start workers again (it sees its workers die), nor
    print an error about a temporary file the stop has just removed, nor put the signal
    handlers back before the stop has printed its line. Called by :func:`say`, before a pool
    is started, and when the handlers are put back."""
    while _stopping.locked() and _state.get("stopper") != threading.get_ident():
        time.sleep(0.1)


def _terminate_starting_children(known: set[int | None]) -> None:
    """SIGTERM to this process's children that ``multiprocessing`` does not list yet: a worker
    being started when the signal came. Left alone, it would find its parent gone half-way
    through starting and print a traceback. (Linux; the resource tracker ignores SIGTERM.)"""
    for task in Path("/proc/self/task").glob("*/children"):
        with contextlib.suppress(OSError, ValueError):
            for pid in map(int, task.read_text().split()):
                if pid not in known:
                    os.kill(pid, signal.SIGTERM)


def _release_semaphores() -> None:
    """Unlink the semaphores ``multiprocessing`` made for the worker pool, as its own exit
    would: ``os._exit`` skips that, and its resource tracker would then print a warning
    about "leaked semaphore objects" after our one line."""
    synchronize = sys.modules.get("multiprocessing.synchronize")
    if synchronize is None:  # never imported: no semaphores were made
        return
    from multiprocessing import util

    cleanup = getattr(synchronize.SemLock, "_cleanup", None)  # private: looked up softly
    registry = getattr(util, "_finalizer_registry", {})
    for finalizer in list(registry.values()):
        if cleanup is not None and getattr(finalizer, "_callback", None) is cleanup:
            finalizer()


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _on_signal(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: the watcher thread does the work as soon as the signal
    arrives; this runs only where there is no watcher (no wakeup descriptor)."""
    if not _state["watcher"]:
        _stop(signum)


def _watch(read_fd: int) -> None:
    """Wait for signal numbers on the wakeup descriptor; 0 means stop watching."""
    while True:
        try:
            data = os.read(read_fd, 1)
        except OSError:
            return
        if not data or data[0] == 0:
            return
        if data[0] in HANDLED:
            _stop(data[0])


class _SignalCleanup:
    """Installs the handlers and the watcher thread; ``close`` puts back what was there."""

    def __init__(self, program: str | None) -> None:
        self.active = threading.current_thread() is threading.main_thread()
        if not self.active:
            return
        self.before = dict(_state)
        _state["program"] = program
        self.previous = {s: signal.signal(s, _on_signal) for s in HANDLED}
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)
        self.previous_fd: int | None
        try:
            self.previous_fd = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        except (ValueError, OSError):  # Windows wants a socket: the handler does the work
            self.previous_fd = None
        self.thread: threading.Thread | None = None
        if self.previous_fd is not None:
            _state["watcher"] = True
            self.thread = threading.Thread(
                target=_watch, args=(self.read_fd,), name="cld-signals", daemon=True
            )
            self.thread.start()

    def close(self) -> None:
        if not self.active:
            return
        wait_if_stopping()
        if self.previous_fd is not None:
            signal.set_wakeup_fd(self.previous_fd)
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        _state.update(self.before)
        if self.thread is not None:
            os.write(self.write_fd, b"\0")
            self.thread.join()
        os.close(self.read_fd)
        os.close(self.write_fd)


@contextlib.contextmanager
def cleanup_on_signals(program: str | None = "cld-validate") -> Iterator[None]:
    """While inside: SIGTERM, SIGINT or SIGHUP removes every registered temporary (and stops
    our child processes, which do the same), prints ``<program>: stopped by SIGTERM;
    temporary files removed`` (nothing with ``program`` None) and exits with 128 + the
    signal's number. Acts at once, even while the main thread is inside a long Polars call
    (a watcher thread woken by ``signal.set_wakeup_fd``). Outside the main thread (where
    handlers cannot be set) it does nothing."""
    installed = _SignalCleanup(program)
    try:
        yield
    finally:
        installed.close()


# ---------------------------------------------------------------------------------------------
# Worker processes
# ---------------------------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1
#: Seconds between the fallback's checks that the parent is still there.
PARENT_POLL = 1.0


def worker_setup(parent: int, *, pdeathsig: bool = True, interval: float = PARENT_POLL) -> None:
    """Initializer of our worker processes: clean up and exit on signals (silently: the
    parent speaks), and die with the parent even if it is killed with ``kill -9``.

    On Linux the kernel sends SIGTERM when the parent dies (``prctl(PR_SET_PDEATHSIG)``;
    ``pdeathsig`` False leaves it out); everywhere a thread checks every ``interval`` seconds
    that the parent is still there (the fallback, and the cover for a parent that died
    before ``prctl`` ran)."""
    _SignalCleanup(None)  # for the process's lifetime: never closed
    if pdeathsig and sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    watch_parent(parent, interval)


def watch_parent(parent: int, interval: float = PARENT_POLL) -> threading.Thread:
    """Start the thread that stops this process (as on SIGTERM) once ``parent`` is gone."""

    def watch() -> None:
        while True:
            if os.getppid() != parent or not pid_alive(parent):
                _stop(signal.SIGTERM)
                return
            time.sleep(interval)

    thread = threading.Thread(target=watch, name="cld-parent", daemon=True)
    thread.start()
    return thread


# ---------------------------------------------------------------------------------------------
# One run per output folder
# ---------------------------------------------------------------------------------------------

LOCK_NAME = ".cld_polars.lock"
#: Where the Windows byte lock sits: past the holder's details, which must stay readable.
_WINDOWS_LOCK_OFFSET = 1 << 20


class FolderBusy(Exception):
    """Another live run holds the output folder."""


def _try_lock(fd: int) -> bool:
    """Take the kernel lock on ``fd``: False when another process holds it. Any other
    failure (a file system without locks) is raised: it is not "another run"."""
    if sys.platform == "win32":
        import msvcrt

        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        if sys.platform == "win32":
            import msvcrt

            os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)


def _holder(fd: int) -> dict[str, object]:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = os.read(fd, 4096)
        found = json.loads(data.decode("utf-8")) if data.strip() else {}
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}


def _who(holder: dict[str, object]) -> str:
    pid, host, started = (holder.get(k, "?") for k in ("pid", "host", "started"))
    return f"pid {shown(pid)} on {shown(host)}, started {shown(started)}"


class FolderLock:
    """``<folder>/.cld_polars.lock`` held for a whole run: a second run into the folder stops
    with :class:`FolderBusy` instead of mixing its reports with this run's.

    The lock is the kernel's (``flock``; a byte-range lock on Windows), so it is released when
    its process dies however it dies: a lock file left by a killed run is taken over, and
    :attr:`took_over` names the run that left it. The file holds the holder's pid, machine
    and start time, for the message the second run prints. Removed when the run ends (and on
    signals)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCK_NAME
        self.took_over: str | None = None
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        for _ in range(10):  # the file may be replaced between open and lock: try again
            fd = self._open()
            try:
                free = _try_lock(fd)
            except OSError:
                os.close(fd)
                raise
            if not free:
                holder = _holder(fd)
                os.close(fd)
                raise FolderBusy(
                    f"{shown(self.folder)}: another cld-validate run is writing its reports "
                    f"here ({_who(holder)}); wait for it to finish or choose another --out-dir"
                )
            try:
                current = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except OSError:
                current = False
            if not current:  # unlinked by the run that just finished: lock the new one
                _unlock(fd)
                os.close(fd)
                continue
            previous = _holder(fd)
            mine = {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": datetime.datetime.now().replace(microsecond=0).isoformat(),
            }
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(mine).encode("utf-8"))
            self._fd = fd
            register(self.path)
            if previous:
                self.took_over = (
                    f"{shown(self.path)}: took over the lock of a run that stopped without "
                    f"releasing it ({_who(previous)}); its process is gone"
                )
            return self
        raise FolderBusy(f"{shown(self.folder)}: cannot take the folder's lock {LOCK_NAME}")

    def _open(self) -> int:
        """The lock file, opened (made if missing) without following a link: the lock is
        written in place (truncated, then our details), so a link or a hard link planted as
        ``.cld_polars.lock`` would make the run overwrite whatever file it leads to."""
        not_ours = (
            f"{shown(self.path)}: is not the lock file cld-validate makes (%s); nothing was "
            "written to it. Remove it, or choose another --out-dir"
        )
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except OSError:
            if self.path.is_symlink():
                link = f"it is a link to {shown(os.readlink(self.path))}"
                raise FolderBusy(not_ours % link) from None
            raise
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
            os.close(fd)
            what = "not a regular file" if not stat.S_ISREG(info.st_mode) else "a hard link"
            raise FolderBusy(not_ours % f"it is {what}")
        return fd

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        forget(self.path)
        with contextlib.suppress(OSError):
            if os.path.samestat(os.fstat(fd), os.stat(self.path)):
                os.unlink(self.path)
        _unlock(fd)
        os.close(fd)


def notify(note: Callable[[str], None] | None, text: str | None) -> None:
    """Hand ``text`` to ``note`` (the CLI prints it on stderr), or warn where none is given."""
    if text is None:
        return
    if note is not None:
        note(text)
    else:
        import warnings

        warnings.warn(text, stacklevel=3)
