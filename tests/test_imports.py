"""gpun2d's import graph: no cycles, the layering of the house, and a light ``import gpun2d``.

The graph is read statically: every ``gpun2d/**/*.py`` is parsed with :mod:`ast`, and every
``import`` counts wherever it stands (module level, inside functions, under ``try``), as does
``importlib.import_module("literal")``. Names are resolved the way the interpreter does:

* relative imports resolve against the importing module's package;
* ``from pkg import x`` imports the submodule ``pkg.x`` when there is one, else it needs
  ``pkg/__init__.py`` itself (``from . import __version__`` depends on ``gpun2d/__init__.py``);
* importing a package ``gpun2d.x`` means running ``gpun2d/x/__init__.py``, and importing
  ``gpun2d.x.y`` from outside ``gpun2d.x`` runs that ``__init__`` first, so it counts too
  (a module's own enclosing packages are already loading, so they do not);
* imports under ``if TYPE_CHECKING:`` never run: they count for the layering rules (a type
  annotation is still knowledge of the other module) but not for cycles.

Computed names (``import_module(name)``, the registry's ``"module:attr"`` targets) are not seen.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "gpun2d"

#: Libraries that ``import gpun2d`` and ``gpun2d --help`` must not load (seconds of start-up each).
HEAVY = ("torch", "sklearn", "umap", "numba", "cuml")


@dataclass(frozen=True)
class Rule:
    """Modules under ``inside`` (or, with ``outside``, every module not under it) must not import ``forbidden``."""

    id: str
    forbidden: tuple[str, ...]
    why: str
    inside: str | None = None
    outside: str | None = None

    def applies_to(self, module: str) -> bool:
        if self.inside is not None:
            return under(module, self.inside)
        return not under(module, self.outside)


RULES = (
    Rule("datasets-know-no-device", ("gpun2d.devices", "torch"), inside="gpun2d.datasets",
         why="datasets/ is files in, host arrays out; device placement belongs to devices.py and the caller"),
    Rule("nothing-imports-the-cli", ("gpun2d.cli",), outside="gpun2d.cli",
         why="the CLI sits on top of the library; shared code it needs belongs in a library module"),
    Rule("click-only-in-the-cli", ("click",), outside="gpun2d.cli",
         why="click belongs to gpun2d/cli/; library code raises gpun2d.errors and the CLI turns them into exits"),
    Rule("dask-only-in-scale", ("dask", "distributed", "dask_cuda", "dask_cudf"), outside="gpun2d.scale",
         why="Dask is an optional extra ([dask]); gpun2d/scale/ is the one place that runs on it"),
)


@dataclass(frozen=True)
class Edge:
    """``importer`` imports ``target`` (a gpun2d module, or a third-party/stdlib top-level name)."""

    importer: str
    target: str
    file: str
    line: int
    code: str
    type_checking: bool = False

    @property
    def where(self) -> str:
        note = " (under TYPE_CHECKING)" if self.type_checking else ""
        return f"{self.file}:{self.line} `{self.code}`{note}"


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def find_modules(root: Path, package: str) -> dict[str, Path]:
    """Module name -> file, for every ``.py`` under ``root/package`` (a package is its ``__init__.py``)."""
    modules = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST, type_checking: bool = False):
    """(node, under TYPE_CHECKING) for every import statement and literal ``import_module`` call."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from _import_nodes_in(child, True)
            for child in node.orelse:
                yield from _import_nodes_in(child, type_checking)
        else:
            yield from _import_nodes_in(node, type_checking)


def _import_nodes_in(node: ast.AST, type_checking: bool):
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node, type_checking
    elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
          and isinstance(node.args[0].value, str)
          and ((isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
               or (isinstance(node.func, ast.Name) and node.func.id in ("import_module", "__import__")))
          and not node.args[0].value.startswith(".")):
        yield node, type_checking
    yield from _import_nodes(node, type_checking)


def import_edges(root: Path = ROOT) -> tuple[dict[str, Path], list[Edge]]:
    """Every module of ``root/gpun2d`` and every import it makes (see the module docstring for the rules)."""
    modules = find_modules(root, PACKAGE)
    edges = []
    for name, path in modules.items():
        source = path.read_text(encoding="utf-8")
        is_package = path.name == "__init__.py"
        own_package = name if is_package else name.rpartition(".")[0]
        rel = path.relative_to(root).as_posix()
        for node, type_checking in _import_nodes(ast.parse(source, filename=str(path))):
            code = " ".join((ast.get_source_segment(source, node) or "").split())
            for target in _targets(node, name, own_package, modules):
                edges.append(Edge(name, target, rel, node.lineno, code, type_checking))
    return modules, edges


def _targets(node: ast.AST, importer: str, own_package: str, modules: dict[str, Path]) -> list[str]:
    """What one import statement loads, resolved to gpun2d module names or external top-level names."""
    if isinstance(node, ast.Import):
        wanted = [(alias.name, None) for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base_parts = own_package.split(".")
            if node.level - 1 >= len(base_parts):
                raise ValueError(f"{importer}: relative import beyond the top-level package")
            base = ".".join(base_parts[: len(base_parts) - (node.level - 1)])
            base = f"{base}.{node.module}" if node.module else base
        else:
            base = node.module
        wanted = [(base, [alias.name for alias in node.names])]
    else:  # import_module("literal") / __import__("literal")
        wanted = [(node.args[0].value, None)]

    targets: list[str] = []
    for base, names in wanted:
        top = base.split(".")[0]
        if top != PACKAGE:
            targets.append(top)
            continue
        # The enclosing packages of what is imported run first, unless they enclose the importer too.
        parts = base.split(".")
        for i in range(2, len(parts)):
            parent = ".".join(parts[:i])
            if parent in modules and not under(importer, parent):
                targets.append(parent)
        if names is None:
            targets.append(base)  # a name that is no module is reported by test_every_import_resolves
            continue
        needs_init = False
        for name in names:
            if f"{base}.{name}" in modules:
                targets.append(f"{base}.{name}")
            else:
                needs_init = True  # an attribute (or `*`) of base itself
        if needs_init or not under(importer, base):
            targets.append(base)
    return list(dict.fromkeys(t for t in targets if t != importer))


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (the cycles), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def shortest_cycle(graph: dict[str, set[str]], start: str, members: set[str]) -> list[str]:
    """The shortest path start -> ... -> start inside one component (breadth first)."""
    parent: dict[str, str] = {}
    queue = deque([start])
    seen = {start}
    while queue:
        v = queue.popleft()
        for w in sorted(graph.get(v, ()) & members):
            if w == start:
                path = [v]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if w not in seen:
                seen.add(w)
                parent[w] = v
                queue.append(w)
    raise AssertionError(f"{start} is on no cycle")


def runtime_graph(edges: list[Edge], modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for edge in edges:
        if edge.target in modules and not edge.type_checking:
            graph[edge.importer].add(edge.target)
    return graph


def describe_cycles(modules: dict[str, Path], edges: list[Edge]) -> list[str]:
    """One paragraph per cycle group: its shortest cycle, then every import inside the group."""
    graph = runtime_graph(edges, modules)
    messages = []
    for component in strongly_connected(graph):
        members = set(component)
        cycle = shortest_cycle(graph, component[0], members)
        lines = [f"cycle: {' -> '.join(cycle)}"]
        for a, b in pairwise(cycle):
            lines.append(f"    {a} -> {b}: " + "; ".join(
                e.where for e in edges if e.importer == a and e.target == b and not e.type_checking))
        if len(members) > len(cycle) - 1:
            lines.append(f"  the same group also holds {', '.join(sorted(members - set(cycle)))}; "
                         "every import inside it:")
            for e in edges:
                if e.importer in members and e.target in members and not e.type_checking:
                    lines.append(f"    {e.importer} -> {e.target}: {e.where}")
        messages.append("\n".join(lines))
    return messages


def describe_violations(rule: Rule, edges: list[Edge]) -> list[str]:
    return [f"{e.importer} imports {e.target}: {e.where}" for e in edges
            if rule.applies_to(e.importer) and any(under(e.target, f) for f in rule.forbidden)]


@pytest.fixture(scope="module")
def graph():
    return import_edges()


# --- the walker itself, on tiny packages -------------------------------------------------------------


def make_package(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / PACKAGE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_walker_resolves_relative_submodule_and_package_imports(tmp_path):
    root = make_package(tmp_path, {
        "__init__.py": "__version__ = '0'\ndef __getattr__(name):\n    from .est import N2D\n    return N2D\n",
        "est.py": "import torch\nfrom . import util\n",
        "util.py": "from . import __version__\n",
        "sub/__init__.py": "from .leaf import f\n",
        "sub/leaf.py": "from .. import util\nfrom . import other\nimport importlib\nimportlib.import_module('click')\n",
        "sub/other.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from gpun2d.sub.leaf import f\n",
        "user.py": "from .sub.leaf import f\nimport gpun2d.sub.other\n",
    })
    modules, edges = import_edges(root)
    pairs = {(e.importer, e.target, e.type_checking) for e in edges}
    assert set(modules) == {"gpun2d", "gpun2d.est", "gpun2d.util", "gpun2d.sub", "gpun2d.sub.leaf",
                            "gpun2d.sub.other", "gpun2d.user"}
    assert pairs == {
        ("gpun2d", "gpun2d.est", False),              # inside a function: counts
        ("gpun2d.est", "torch", False), ("gpun2d.est", "gpun2d.util", False),
        ("gpun2d.util", "gpun2d", False),             # __version__ lives in __init__.py
        ("gpun2d.sub", "gpun2d.sub.leaf", False),
        ("gpun2d.sub.leaf", "gpun2d.util", False), ("gpun2d.sub.leaf", "gpun2d.sub.other", False),
        ("gpun2d.sub.leaf", "importlib", False), ("gpun2d.sub.leaf", "click", False),
        ("gpun2d.sub.other", "typing", False), ("gpun2d.sub.other", "gpun2d.sub.leaf", True),
        # from outside gpun2d.sub, its __init__ runs first
        ("gpun2d.user", "gpun2d.sub", False), ("gpun2d.user", "gpun2d.sub.leaf", False),
        ("gpun2d.user", "gpun2d.sub.other", False),
    }


def test_walker_reports_the_cycle_path_with_file_and_line(tmp_path):
    root = make_package(tmp_path, {
        "__init__.py": "",
        "a.py": "from . import b\n",
        "b.py": "def f():\n    from .c import g\n",
        "c.py": "from .a import x\n",
        "d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\n",
    })
    modules, edges = import_edges(root)
    (message,) = describe_cycles(modules, edges)
    assert message.splitlines()[0] == "cycle: gpun2d.a -> gpun2d.b -> gpun2d.c -> gpun2d.a"
    assert "gpun2d.b -> gpun2d.c: gpun2d/b.py:2 `from .c import g`" in message


# --- the rules, on gpun2d ------------------------------------------------------------------------------


def test_walker_sees_the_package(graph):
    modules, edges = graph
    assert {"gpun2d", "gpun2d.datasets", "gpun2d.estimator"} <= set(modules)
    assert any(e.importer == "gpun2d" for e in edges), "gpun2d/__init__.py should import N2D (lazily)"


def test_every_import_resolves(graph):
    modules, edges = graph
    broken = [f"{e.importer} imports {e.target}, which is no module of gpun2d: {e.where}"
              for e in edges if under(e.target, PACKAGE) and e.target not in modules]
    assert not broken, "\n".join(broken)


def test_no_import_cycles(graph):
    cycles = describe_cycles(*graph)
    assert not cycles, (
        f"{len(cycles)} import cycle group(s) between gpun2d modules; break one import of each "
        "(move what both sides need into a module below them):\n\n" + "\n\n".join(cycles))


@pytest.mark.parametrize("rule", RULES, ids=[r.id for r in RULES])
def test_layering(graph, rule):
    violations = describe_violations(rule, graph[1])
    scope = f"modules under {rule.inside}" if rule.inside else f"modules outside {rule.outside}"
    assert not violations, (
        f"{scope} must not import {' or '.join(rule.forbidden)} ({rule.why}):\n  " + "\n  ".join(violations))


# --- what importing actually loads ----------------------------------------------------------------------


def python(code: str, *args: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter on this checkout, with ``-X importtime`` on."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300, check=False)


def import_chain(importtime: str, module: str) -> str:
    """``gpun2d -> gpun2d.estimator -> torch``: who first imported ``module``, from ``-X importtime``."""
    rows = []
    for line in importtime.splitlines():
        if line.startswith("import time:") and "|" in line and not line.rstrip().endswith("| imported package"):
            name = line.rsplit("|", 1)[1]
            rows.append((len(name) - len(name.lstrip()), name.strip()))
    for i, (depth, name) in enumerate(rows):
        if name == module:
            chain = [name]
            for later_depth, later in rows[i + 1:]:  # a parent is printed after its children, less indented
                if later_depth < depth:
                    chain.append(later)
                    depth = later_depth
            return " -> ".join(reversed(chain))
    return module


def errors(done: subprocess.CompletedProcess) -> str:
    """stderr without the ``-X importtime`` lines: the traceback, if any."""
    return "\n".join(line for line in done.stderr.splitlines() if not line.startswith("import time:"))[-3000:]


def loaded_heavy(done: subprocess.CompletedProcess) -> list[str]:
    assert done.returncode == 0, errors(done)
    lines = done.stdout.splitlines()
    return [m for m in (lines[-1] if lines else "").split(",") if m]


REPORT = f"import sys; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"


def test_import_gpun2d_loads_no_heavy_library():
    done = python(f"import gpun2d; {REPORT}")
    heavy = loaded_heavy(done)
    assert not heavy, "`import gpun2d` loads " + ", ".join(heavy) + ":\n  " + "\n  ".join(
        import_chain(done.stderr, m) for m in heavy)


def test_import_gpun2d_exact_check_from_the_issue():
    check = "import gpun2d, sys; assert 'torch' not in sys.modules and 'sklearn' not in sys.modules"
    done = subprocess.run(
        [sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert done.returncode == 0, ("`import gpun2d` loads torch or scikit-learn (or fails); "
                                  "test_import_gpun2d_loads_no_heavy_library names the import chain:\n"
                                  + done.stderr[-3000:])


def test_n2d_is_still_importable_from_the_package():
    done = python("import gpun2d; from gpun2d import N2D; assert gpun2d.N2D is N2D and 'N2D' in dir(gpun2d); "
                  "print(N2D.__module__)")
    assert done.returncode == 0, errors(done)


@pytest.mark.parametrize("flag", ["--help", "--version"])
def test_cli_startup_loads_no_heavy_library(flag):
    """The ``gpun2d`` console script, as installed, run in-process so sys.modules can be read afterwards."""
    from importlib.metadata import entry_points

    scripts = entry_points(group="console_scripts", name="gpun2d")
    if not scripts:
        pytest.skip("gpun2d is not installed (pip install -e .), so its console script is unknown")
    (script,) = scripts
    code = (f"import sys; sys.argv = ['gpun2d', {flag!r}]\n"
            f"from {script.module} import {script.attr} as main\n"
            "try:\n    main()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n" + REPORT)
    done = python(code)
    heavy = loaded_heavy(done)
    assert not heavy, f"`gpun2d {flag}` loads " + ", ".join(heavy) + ":\n  " + "\n  ".join(
        import_chain(done.stderr, m) for m in heavy)
