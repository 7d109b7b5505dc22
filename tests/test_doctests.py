"""The examples in the API's docstrings run, so the documentation cannot drift from the code."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "cld_polars.report",
    "cld_polars.typed",
    "cld_polars.pandera_schema",
    "cld_polars.compare",
    "cld_polars.fix",
    "cld_polars.presentation",
    "cld_polars.safety",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0
