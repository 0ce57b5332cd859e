"""The package's shape, read from the source with ``ast`` (docs/ARCHITECTURE.md): imports run
one way, from the edges towards the core, with no loops; modules and functions stay small."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "recsys"


MAX_MODULE_LINES = 400


MAX_FUNCTION_LINES = 60


#: The layers, core first: a module may import its own layer and the layers before it, never
#: a later one (docs/ARCHITECTURE.md, "The map"). Keys are the first part of the module name
#: under ``recsys``.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "rules", "config"),
    ("display", "algorithms"),
    ("datasets",),
    ("db",),
    ("entities",),
    ("models", "evaluation"),
    ("peers",),
    ("training",),
    ("predictions",),
    ("vectors",),
    ("readmodel", "distributed"),
    ("api", "pipeline", "testing"),
    ("cli",),
)


RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}


def module_name(path: Path) -> str:
    parts = ["recsys", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _targets(node: ast.Import | ast.ImportFrom, importer: str, is_package: bool) -> Iterator[str]:
    known = modules()
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = importer.split(".") if is_package else importer.split(".")[:-1]
            base = base[:len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        # ``from package import module`` depends on that module; ``from module import name``
        # on the module
        subs = [f"{source}.{alias.name}" for alias in node.names]
        names = [sub for sub in subs if sub in known] or [source]
        if len(names) < len(subs):
            names.append(source)
    for name in names:
        # importing a.b.c runs a/__init__ and a/b/__init__ first: those count too, except the
        # importer's own packages (already running)
        parts = name.split(".")
        for end in range(2, len(parts) + 1):
            target = ".".join(parts[:end])
            if target in known and target != importer and not importer.startswith(target + "."):
                yield target


@cache
def graph() -> dict[str, frozenset[str]]:
    """Every module's imports of the package's own modules, lazy (in a function) or not;
    ``if TYPE_CHECKING`` blocks are left out (they never run)."""
    out: dict[str, frozenset[str]] = {}
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped: set[int] = set()
        for node in ast.walk(tree):
            if (isinstance(node, ast.If) and isinstance(node.test, ast.Name)
                    and node.test.id == "TYPE_CHECKING"):
                skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
        edges = {target for node in ast.walk(tree)
                 if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skipped
                 for target in _targets(node, name, path.name == "__init__.py")}
        out[name] = frozenset(edges)
    return out


def cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in sorted(edges.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                other = stack.pop()
                component.append(other)
                if other == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def layer(name: str) -> int:
    part = name.split(".")[1] if name.count(".") else ""
    return RANK.get(part, -1)


def test_the_checks_see_a_loop_and_an_upward_import() -> None:
    """The walker is not blind: a two-module loop is found, and layers order as listed."""
    assert cycles({"a": frozenset({"b"}), "b": frozenset({"a"}), "c": frozenset({"a"})}) == [
        ["a", "b"]]
    assert layer("recsys.db.engine") < layer("recsys.api.views")
    assert "recsys.db.engine" in graph()["recsys.db.loading"]
    assert "recsys.models.ranker" in graph()["recsys.models.state"]


def test_every_module_belongs_to_a_layer() -> None:
    lost = [name for name in modules() if name != "recsys" and layer(name) < 0]
    assert not lost, f"add these to LAYERS (and to docs/ARCHITECTURE.md): {lost}"


def test_imports_have_no_loops() -> None:
    assert cycles(graph()) == []


def test_imports_run_from_the_edges_to_the_core() -> None:
    upward = sorted(f"{name} -> {target}" for name, targets in graph().items()
                    for target in targets if layer(target) > layer(name))
    assert upward == []


def test_modules_are_small() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines())
             for name, path in modules().items()}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def test_functions_are_small() -> None:
    long = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {length} lines")
    assert long == []


def test_nothing_at_run_time_imports_the_test_servers() -> None:
    """``recsys.testing`` (throwaway servers) serves tests and benchmarks only."""
    users = sorted(name for name, targets in graph().items()
                   if not name.startswith("recsys.testing")
                   and any(t.startswith("recsys.testing") for t in targets))
    assert users == []


def test_the_built_package_leaves_the_test_servers_out() -> None:
    """What ``pip install .`` (the Docker image) gets: every package but ``recsys.testing``."""
    import tomllib

    from setuptools import find_namespace_packages

    found = tomllib.loads((PACKAGE.parent / "pyproject.toml").read_text())[
        "tool"]["setuptools"]["packages"]["find"]
    packages = find_namespace_packages(str(PACKAGE.parent), include=found["include"],
                                       exclude=found.get("exclude", ()))
    runtime = {p for p in packages if "__pycache__" not in p}
    assert "recsys.api" in runtime and "recsys.readmodel" in runtime
    assert not {p for p in runtime if p.startswith("recsys.testing")}
