"""The exploration notebook runs top to bottom on a generated return; it is kept without outputs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat", reason="the notebook test needs '.[test]'")
nbclient = pytest.importorskip("nbclient", reason="the notebook test needs '.[test]'")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "explore_return.ipynb"


def test_notebook_is_stored_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code
    assert all(not c.outputs and c.execution_count is None for c in code)


def test_notebook_runs_top_to_bottom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel imports cld_polars from this source tree (as the tests do) and generates
    # its own return: CLD_RETURN, if set by the user, is not used here.
    monkeypatch.delenv("CLD_RETURN", raising=False)
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    monkeypatch.setenv("PYTHONPATH", path)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell fails
    last = notebook.cells[-1].outputs[-1]["data"]["text/plain"]
    assert last.startswith("(0, "), last  # the corrected copy has no Release 1 or near misses
    charts = [
        o
        for c in notebook.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert len(charts) == 2  # events by month, services by type: drawn here, as images
    everything = str([c.outputs for c in notebook.cells if c.cell_type == "code"])
    assert "vega" not in everything.lower() and "https://" not in everything  # nothing online
    person = notebook.cells[11].outputs[-1]["data"]["text/plain"]
    assert "error" in person  # the example person has errors, not only warnings
