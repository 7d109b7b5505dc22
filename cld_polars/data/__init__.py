"""Data files shipped with the package: the synthetic sample return."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def sample_path() -> Path:
    """The synthetic sample return shipped with the package (no real personal data)."""
    return Path(str(resources.files("cld_polars") / "data" / "sample_return.csv"))
