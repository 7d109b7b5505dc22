"""The CLD specification as data: installed as ``cld_polars.schemas`` so the package finds it."""
