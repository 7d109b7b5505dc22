"""How Polars' allocator gives memory back to the system: set before Polars is imported.

A run frees large working sets stage after stage (a chunk's columns, a cross-row group-by).
Polars' allocator (jemalloc) keeps freed memory for a while before returning it, and what it
keeps adds up to the run's peak. Here it returns it within half a second, from a background
thread. Measured on a 1M-row return (``--json --xlsx``, 2 cores): peak RSS 860-865 MB with
Polars' own settings, 750-770 MB with these, in the same time (5.6-5.8 s); returning memory at
once (0 ms) took 600 MB but cost 4 s of system time.

Polars writes its own defaults into the same variable when it is imported, so a process
started by one that imported Polars inherits them: those, or nothing, are replaced; a value
of your own is kept. It has no effect once Polars is imported (a notebook that imported it
before cld_polars keeps Polars' settings).
"""

from __future__ import annotations

import os

ALLOCATOR = "background_thread:true,dirty_decay_ms:500,muzzy_decay_ms:0"
#: What Polars puts in ``_RJEM_MALLOC_CONF`` itself when it is imported (Polars 2.1).
POLARS_DEFAULT = "dirty_decay_ms:500,muzzy_decay_ms:1000"

if os.environ.get("_RJEM_MALLOC_CONF", "") in ("", POLARS_DEFAULT):
    os.environ["_RJEM_MALLOC_CONF"] = ALLOCATOR
