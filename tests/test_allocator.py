"""cld_polars sets how Polars' allocator returns memory before Polars is imported, unless the
user chose otherwise (``cld_polars._allocator``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from cld_polars._allocator import ALLOCATOR, POLARS_DEFAULT

SHOW = "import os, cld_polars; print(os.environ['_RJEM_MALLOC_CONF'])"


def _seen(value: str | None) -> str:
    env = dict(os.environ)
    env.pop("_RJEM_MALLOC_CONF", None)
    if value is not None:
        env["_RJEM_MALLOC_CONF"] = value
    done = subprocess.run(
        [sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.mark.parametrize("inherited", [None, "", POLARS_DEFAULT])
def test_ours_unless_the_user_chose(inherited: str | None) -> None:
    """Unset, or what a parent that imported Polars passes down: ours comes last, so it wins
    over the defaults Polars puts in front of it."""
    assert _seen(inherited).endswith(ALLOCATOR)


def test_a_users_own_setting_is_kept() -> None:
    mine = "dirty_decay_ms:2000"
    assert _seen(mine).endswith(mine)
    assert ALLOCATOR not in _seen(mine)
