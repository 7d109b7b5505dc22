"""The code's structure. The reader's quick structure pass (lengths instead of delimiter
counts) must find exactly what the exact pass finds, on every shape of line it accepts; the
package's modules import each other without cycles; every package is installed."""

from __future__ import annotations

import ast
import itertools
import tomllib
from collections.abc import Collection
from pathlib import Path

import pytest
from factory import clean_csv_bytes

from cld_polars import validate
from cld_polars.names import LINE
from cld_polars.reader import BYTES, read_return
from cld_polars.reader.csv import _layout
from cld_polars.reader.records import exact_structure as _structure
from cld_polars.reader.records import quick_structure as _quick_structure
from cld_polars.spec import load_spec


def _lines(newline: str = "\n") -> list[bytes]:
    return clean_csv_bytes(newline).split(newline.encode())


def _variants() -> dict[str, bytes]:
    lines = _lines()
    header, first, second = lines[0], lines[1], lines[2]
    rest = b"\n".join(lines[3:])
    return {
        "clean": b"\n".join(lines),
        "one field too many": b"\n".join([header, first + b",x", second, rest]),
        "one field too few": b"\n".join([header, first.rsplit(b",", 1)[0], second, rest]),
        "trailing delimiter on every row": b"\n".join(
            [header] + [line + b"," for line in lines[1:] if line]
        )
        + b"\n",
        "quoted comma": b"\n".join([header, first.replace(b",Female,", b',"Fe,male",', 1), rest]),
        "long value": b"\n".join(
            [header, first.replace(b",Female,", b"," + b"x" * 40_000 + b",", 1), rest]
        ),
        "crlf": clean_csv_bytes("\r\n"),
    }


@pytest.mark.parametrize("name", list(_variants()))
def test_quick_pass_agrees_with_exact_pass(name: str, tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(_variants()[name])
    spec = load_spec()
    layout = _layout(path, spec, path)
    assert layout is not None
    exact: list = []
    _structure(path, layout, exact)
    quick = _quick_structure(path, layout)
    assert quick is not None, "these files all take the quick path"
    with read_return(path, spec) as source:
        raw = source.frame.collect()
        source.finish([raw.select(LINE, BYTES)])
        found = [f for f in source.findings if f.code.startswith(("ROW_", "FIELD_", "BLANK"))]
    assert [(f.code, f.line, f.message) for f in found] == [
        (f.code, f.line, f.message) for f in exact
    ]
    if name != "clean":
        assert found or name in ("quoted comma", "crlf")


def test_quick_pass_declines_odd_quotes(tmp_path: Path) -> None:
    lines = _lines()
    path = tmp_path / "r.csv"
    path.write_bytes(
        b"\n".join([lines[0], lines[1].replace(b",Female,", b',Fe"male,', 1), *lines[2:]])
    )
    layout = _layout(path, load_spec(), path)
    assert layout is not None and _quick_structure(path, layout) is None
    assert any(f.code.startswith("ROW_") for f in validate(path).file_findings)


def test_doubled_quotes_are_counted_exactly(tmp_path: Path) -> None:
    lines = _lines()
    path = tmp_path / "r.csv"
    doubled = lines[1].replace(b",Female,", b',"Fe""male",', 1)
    path.write_bytes(b"\n".join([lines[0], doubled, *lines[2:]]))
    report = validate(path)
    assert not [f for f in report.file_findings if f.code.startswith("ROW_")]
    assert report.finding_rows.filter(report.finding_rows["line"] == 2)["value"].to_list() == [
        'Fe"male'
    ]


@pytest.mark.parametrize("value", [b'Fe"ma"le', b'"Fe"male', b'x"Fe"', b'"Fe"ma"le"', b'"F"e"m"'])
def test_quotes_out_of_place_are_read_again_exactly(tmp_path: Path, value: bytes) -> None:
    """Quotes out of place: caught by the quick pass's check or given away by the rows (the
    file is then read again the exact way); either way the findings are the exact pass's."""
    lines = _lines()
    path = tmp_path / "r.csv"
    path.write_bytes(
        b"\n".join([lines[0], lines[1].replace(b",Female,", b"," + value + b",", 1), *lines[2:]])
    )
    layout = _layout(path, load_spec(), path)
    assert layout is not None
    exact: list = []
    _structure(path, layout, exact)
    report = validate(path)
    assert (
        [f.code for f in report.file_findings if f.code.startswith("ROW_")]
        == [f.code for f in exact]
        == ["ROW_QUOTES"]
    )


# --- imports: no cycles -----------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "cld_polars"


def _is_type_checking(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _modules(root: Path) -> dict[str, tuple[Path, bool]]:
    """Every module of the package: dotted name -> (file, whether it is a package's
    ``__init__``). The files under ``cld_polars/``, and the packages pyproject.toml installs
    from elsewhere (``cld_polars.schemas`` from ``schemas/``)."""
    found: dict[str, tuple[Path, bool]] = {}
    for path in sorted((root / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    for name, folder in config["tool"]["setuptools"]["package-dir"].items():
        if name not in found and (root / folder / "__init__.py").is_file():
            found[name] = (root / folder / "__init__.py", True)
    return found


def _imported(source: str, name: str, is_package: bool) -> list[tuple[str, int]]:
    """The dotted names a module imports at run time, with their lines: at module level and
    inside functions and classes, but not under ``if TYPE_CHECKING:`` (its ``else`` counts).
    ``from a.b import c`` gives ``a.b.c`` (resolved to a module later); relative imports are
    made absolute."""
    found: list[tuple[str, int]] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.orelse:
                    visit_one(statement)
            else:
                visit_one(child)

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, *([base] if base else [])])
            found.extend((f"{base}.{alias.name}", node.lineno) for alias in node.names)
        visit(node)

    visit(ast.parse(source))
    return found


def _resolve(dotted: str, modules: Collection[str]) -> str | None:
    """The module a dotted name imports: itself if it is one, else the longest module it
    starts with (``cld_polars.reader.ReturnSource`` -> ``cld_polars.reader``); None outside
    the package."""
    while dotted and dotted not in modules:
        dotted = dotted.rpartition(".")[0]
    return dotted or None


def import_graph(root: Path = ROOT) -> tuple[dict[str, dict[str, int]], dict[str, list[int]]]:
    """The package's run-time imports: module -> {module it imports: line}, and the modules
    that import the package's top (``cld_polars``), with the lines.

    An edge counts what Python runs. Importing ``a.b.c`` first runs ``a/__init__.py`` and
    ``a/b/__init__.py``, so the edge to ``a.b.c`` comes with edges to those packages, except
    two: a package the importer is itself inside (it was already being imported when the
    importer started), and the top, ``cld_polars``, which imports the public API and so
    every part of it. A package's ``__init__`` therefore makes a cycle only when what it
    imports leads back to the importer: ``cld_polars.kinds`` importing
    ``cld_polars.checks.registry`` is fine while ``checks/__init__.py`` imports nothing that
    imports ``kinds``. Explicit imports of the top are returned apart: a module inside the
    package must not need it (the version is in ``cld_polars._version``).
    """
    modules = _modules(root)
    graph: dict[str, dict[str, int]] = {}
    of_top: dict[str, list[int]] = {}
    for name, (path, is_package) in modules.items():
        edges: dict[str, int] = {}
        for dotted, line in _imported(path.read_text(encoding="utf-8"), name, is_package):
            target = _resolve(dotted, modules)
            if target is None or target == name:
                continue
            if target == PACKAGE:
                if name != PACKAGE:
                    of_top.setdefault(name, []).append(line)
                continue
            parts = target.split(".")
            implied = [".".join(parts[:i]) for i in range(2, len(parts))]
            for module in [*implied, target]:
                if module != name and not name.startswith(module + "."):
                    edges.setdefault(module, line)
        graph[name] = edges
    graph[PACKAGE] = {}  # the top imports everything; nothing may import it back
    return graph, of_top


def _groups(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The groups of two or more modules that import each other, directly or not (Tarjan's
    strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, {}):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(groups)


def find_cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """One cycle for each group of modules that import each other: a shortest chain of
    imports from the group's first module back to it (that module at both ends)."""
    cycles = []
    for group in _groups(graph):
        start, members = group[0], set(group)
        paths = {start: [start]}
        queue = [start]
        while queue:
            node = queue.pop(0)
            if start in graph[node]:
                cycles.append([*paths[node], start])
                break
            for target in sorted(graph[node]):
                if target in members and target not in paths:
                    paths[target] = [*paths[node], target]
                    queue.append(target)
    return cycles


def _shown(cycle: list[str], graph: dict[str, dict[str, int]]) -> str:
    """``a line 3 -> b line 9 -> a``: each module and the line of its import of the next."""
    steps = [f"{a} line {graph[a][b]}" for a, b in itertools.pairwise(cycle)]
    return " -> ".join([*steps, cycle[-1]])


def test_no_import_cycles() -> None:
    """No module imports itself back, through any chain of imports, deferred ones (inside
    functions) included; see ``import_graph`` for what an edge is."""
    graph, of_top = import_graph()
    assert len(graph) > 40, "the package's modules were not found"
    problems = [
        f"{_shown(cycle, graph)}\n  (modules in this loop: {', '.join(group)})"
        for cycle, group in zip(find_cycles(graph), _groups(graph), strict=True)
    ]
    assert not problems, "import cycles:\n" + "\n".join(problems)
    assert not of_top, (
        "modules importing the package's top (cld_polars/__init__.py, which imports them "
        f"all): {of_top}; import from the module that defines the name"
    )


def test_cycle_finder_sees_deferred_and_implied_imports(tmp_path: Path) -> None:
    """The analysis on a made-up package: a deferred import closing a loop and a package
    ``__init__`` leading back are cycles; an import under TYPE_CHECKING, a sibling in the
    same package and the top are not."""
    (tmp_path / "pyproject.toml").write_text('[tool.setuptools.package-dir]\n"x" = "x"\n')
    files = {
        "__init__.py": "from cld_polars import a\n",
        "_version.py": "",
        "a.py": "from cld_polars.pkg.leaf import f\n",
        "b.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cld_polars import c\n"
            "def g():\n    from cld_polars.c import h\n"
        ),
        "c.py": "from cld_polars._version import v\nimport cld_polars.d\n",
        "d.py": "from . import b\n",
        "pkg/__init__.py": "from cld_polars.pkg import user\n",
        "pkg/leaf.py": "",
        "pkg/user.py": "from cld_polars.pkg.leaf import f\nfrom cld_polars import a\n",
    }
    for name, text in files.items():
        (tmp_path / PACKAGE / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / PACKAGE / name).write_text(text)
    graph, of_top = import_graph(tmp_path)
    assert graph["cld_polars.a"] == {"cld_polars.pkg": 1, "cld_polars.pkg.leaf": 1}
    assert graph["cld_polars.pkg.user"] == {"cld_polars.pkg.leaf": 1, "cld_polars.a": 2}
    assert graph["cld_polars.b"] == {"cld_polars.c": 5}
    assert graph["cld_polars.d"] == {"cld_polars.b": 1}
    assert of_top == {}
    assert find_cycles(graph) == [
        ["cld_polars.a", "cld_polars.pkg", "cld_polars.pkg.user", "cld_polars.a"],
        ["cld_polars.b", "cld_polars.c", "cld_polars.d", "cld_polars.b"],
    ]
    (tmp_path / PACKAGE / "d.py").write_text("from cld_polars import __version__\n")
    assert import_graph(tmp_path)[1] == {"cld_polars.d": [1]}


def test_every_package_is_installed() -> None:
    """A regular install (``pip install .``, as CI does) copies only the packages listed in
    pyproject.toml: every folder of the package with an ``__init__.py`` must be one."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    listed = set(config["tool"]["setuptools"]["packages"])
    folders = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / PACKAGE).rglob("__init__.py")
    }
    assert folders <= listed, sorted(folders - listed)
