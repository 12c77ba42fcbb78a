"""The library's import graph: no cycles, and ``ds2ray`` never imports the code that uses it.

Every module under ``ds2ray/`` is parsed with :mod:`ast`; every ``import`` counts, wherever it
stands (module level, inside a function, under ``if TYPE_CHECKING:``), ``from . import x`` is
resolved against the importing package, and ``from pkg import name`` is an edge to ``pkg.name``
when that is a module, else to ``pkg``. Importing ``a.b.c`` also runs ``a/__init__`` and
``a/b/__init__``; those implicit edges are left out (Python resolves a submodule importing its
half-initialised package), so a cycle here is always one some module wrote.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: what uses the library; the library never imports these
USERS = ("jobs", "serve", "data_upload", "bench", "cluster")
#: the ground floor (see ds2ray/__init__.py): each may import only the modules listed with it
GROUND_FLOOR = {"ds2ray.tarmember": set(), "ds2ray.fileio": {"ds2ray.tarmember"}, "ds2ray.config": set(),
                "ds2ray.metrics": set()}


def module_files(root: Path, package: str) -> dict[str, Path]:
    """``{"pkg.sub.mod": path}`` for every ``.py`` file of ``package`` under ``root``."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def imported_names(name: str, path: Path) -> list[tuple[str, int]]:
    """``(absolute dotted name, line)`` of everything ``name`` (the module at ``path``) imports."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                if node.level - 1 >= len(parts):
                    raise AssertionError(f"{path}:{node.lineno}: relative import beyond the top package")
                base = ".".join(parts[: len(parts) - (node.level - 1)])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module or ""
            # "from pkg import name": pkg.name when that is a module, else pkg (see import_graph)
            found += [(f"{base}.{alias.name}" if alias.name != "*" else base, node.lineno) for alias in node.names]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            found.append((node.args[0].value, node.lineno))
    return found


def import_graph(root: Path, package: str) -> tuple[dict[str, set[str]], dict[str, list[tuple[str, int]]]]:
    """``(edges between the package's modules, every import of each module as written)``."""
    modules = module_files(root, package)
    edges: dict[str, set[str]] = {m: set() for m in modules}
    raw: dict[str, list[tuple[str, int]]] = {}
    for name, path in modules.items():
        raw[name] = imported_names(name, path)
        for target, _ in raw[name]:
            hit = resolve(target, modules)
            if hit and hit != name:
                edges[name].add(hit)
    return edges, raw


def resolve(target: str, modules) -> str:
    """The longest prefix of ``target`` that is one of ``modules`` ("" if none): ``from a import b``
    (recorded as ``a.b``) is an edge to ``a.b`` when that is a module, else to ``a``."""
    parts = target.split(".")
    while parts and ".".join(parts) not in modules:
        parts.pop()
    return ".".join(parts)


def find_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) for each strongly connected component with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []
    counter = [0]

    def visit(v: str) -> None:  # Tarjan; the graphs here are a few hundred nodes deep at most
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.add(w)
                if w == v:
                    break
            components.append(comp)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return [_cycle_in(comp, edges) for comp in components if len(comp) > 1]


def _cycle_in(comp: set[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first back to it)."""
    start = min(comp)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(edges[v] & comp):
                if w == start:
                    path = [v]  # back from v to start along prev
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [*reversed(path), start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(f"no cycle found in component {sorted(comp)}")


def _describe(cycle: list[str], raw: dict[str, list[tuple[str, int]]]) -> str:
    steps = []
    for a, b in zip(cycle, cycle[1:]):
        lines = sorted({line for t, line in raw[a] if resolve(t, raw) == b})
        steps.append(f"{a} (line {', '.join(map(str, lines))}) -> {b}")
    return " | ".join(steps)


# --------------------------------------------------------------------------------------------------
# the graph builder on a small package made for it


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")


def test_graph_sees_lazy_relative_and_from_imports(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/low.py": "def f():\n    from pkg.data import high\n",  # lazy, like fileio -> data.shards was
        "pkg/data/__init__.py": "",
        "pkg/data/high.py": "from .. import low\nfrom ..low import f\n",
        "pkg/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import b\n",
        "pkg/b.py": "import pkg.a\n",
        "pkg/c.py": "from pkg.data import high\nimport serve.app\n",
    })
    edges, raw = import_graph(tmp_path, "pkg")
    assert edges["pkg.low"] == {"pkg.data.high"}
    assert edges["pkg.data.high"] == {"pkg.low"}
    assert edges["pkg.c"] == {"pkg.data.high"}  # not pkg.data as well: from pkg.data import <a module>
    cycles = find_cycles(edges)
    assert sorted(cycles) == [["pkg.a", "pkg.b", "pkg.a"], ["pkg.data.high", "pkg.low", "pkg.data.high"]]
    assert _describe(cycles[1], raw) == "pkg.data.high (line 1, 2) -> pkg.low | pkg.low (line 2) -> pkg.data.high"
    assert any(t == "serve.app" for t, _ in raw["pkg.c"])


def test_graph_sees_import_module_literals(tmp_path):
    _write(tmp_path, {"pkg/__init__.py": "", "pkg/m.py": "import importlib\nimportlib.import_module('jobs.x')\n"})
    _, raw = import_graph(tmp_path, "pkg")
    assert ("jobs.x", 2) in raw["pkg.m"]


# --------------------------------------------------------------------------------------------------
# the library


@pytest.fixture(scope="module")
def library_graph():
    return import_graph(ROOT, "ds2ray")


def test_library_has_no_import_cycles(library_graph):
    edges, raw = library_graph
    assert len(edges) > 50, "found too few ds2ray modules: is ROOT right?"
    cycles = find_cycles(edges)
    assert not cycles, "import cycles in ds2ray (module (line of the import) -> module):\n" + "\n".join(
        _describe(c, raw) for c in cycles)


def test_library_never_imports_its_users(library_graph):
    _, raw = library_graph
    bad = [f"{name}: line {line} imports {target}" for name, imports in sorted(raw.items())
           for target, line in imports if target.split(".")[0] in USERS]
    assert not bad, "ds2ray must not import " + "/".join(USERS) + ":\n" + "\n".join(bad)


def test_ground_floor_imports_nothing_above_it(library_graph):
    edges, _ = library_graph
    above = {name: sorted(edges[name] - allowed) for name, allowed in GROUND_FLOOR.items() if edges[name] - allowed}
    assert not above, f"ground-floor modules import modules above them: {above}"
