"""The package's version, in a module of its own so that any module can import it without
importing the package's top (``cld_polars/__init__.py`` imports nearly everything)."""

__version__ = "0.1.0"
