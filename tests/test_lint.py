"""The codebase stays clean: ruff's lint rules and format, and mypy's type check.

Run with the interpreter running the tests (``sys.executable -m ...``), so the check cannot be
skipped for want of a command on the PATH: the test extra installs all three tools.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def test_ruff_check_clean() -> None:
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_clean() -> None:
    result = _run("ruff", "format", "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean() -> None:
    """Configured in pyproject.toml ([tool.mypy]): the package, tests and benchmarks, every
    function annotated, every ignore verified."""
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr
