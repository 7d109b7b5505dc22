"""The installed package finds its specification data and sample without the source tree."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROBE = (
    "import cld_polars, cld_polars.spec as s, cld_polars.cli as c;"
    "print(cld_polars.__file__); print(s._schema_dir()); print(len(s.load_spec().header));"
    "print(c.sample_path().is_file())"
)


def test_installed_copy_finds_its_data(tmp_path: Path) -> None:
    # Run from an empty folder so that the source tree is not importable.
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=tmp_path, capture_output=True, text=True
    )
    if "No module named 'cld_polars'" in result.stderr:
        pytest.skip("cld_polars is not installed (run the README's install command)")
    assert result.returncode == 0, result.stderr
    module, schemas, fields, sample = result.stdout.split()
    assert fields == "48" and sample == "True"
    if not Path(module).is_relative_to(ROOT):  # a regular (not editable) install
        assert not Path(schemas).is_relative_to(ROOT), "installed copy reads the source tree"
