"""The checks: each family of checks in its own module, each check one named declaration.

* :mod:`~cld_polars.checks.registry`: what a check is (``Check``, ``Rules``, ``Family``);
* :mod:`~cld_polars.checks.context`: what checks are written with (a field's state, typed
  values, the specification);
* :mod:`~cld_polars.checks.fields`, :mod:`~cld_polars.checks.submission`,
  :mod:`~cld_polars.checks.logic`, :mod:`~cld_polars.checks.crossrow`: the families of row
  and frame checks; :mod:`~cld_polars.checks.filerules`: the file-level rules;
* :mod:`~cld_polars.checks.families`: all of them gathered (``FAMILIES``, ``all_checks``).

This module imports nothing, so that importing one of them (the field kinds import the
registry) does not import every family.
"""
