"""Data files shipped with the package: the synthetic sample return."""
