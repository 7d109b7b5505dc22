"""``python -m cld_polars.cli``: the same as ``cld-validate``."""

from cld_polars.cli import entry

if __name__ == "__main__":
    entry()
