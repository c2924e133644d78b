"""Restora's subpackages import one way: no circle, and never a layer "up".

The graph is read from the source with :mod:`ast` (imports at the top of a module and inside functions alike),
so a circle that only an import deferred into a function hides still fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "restora"

# Lower layers first. A unit may import any unit of a lower layer and its own layer's peers as long as the
# graph stays acyclic; never one of a higher layer. Root modules shared by everybody: errors, settings, tasks,
# and the package's ``__version__``. Every ``cli`` module (restora.cli, restora.train.cli, ...) is where a
# command enters: it belongs to the top layer, whichever subpackage holds it.
LAYERS = [
    {"errors", "settings", "tasks", "__version__"},
    {"io"},
    {"degrade", "models", "losses"},
    {"engine"},
    {"train", "eval", "explain", "adapt", "audit"},
    {"commands", "style_cli", "inpaint_cli", "batch", "server", "cli", "__init__"},
]
LAYER_OF = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def unit_of(module: str) -> str | None:
    """``restora.engine.neural`` → ``engine``; ``restora`` → ``__init__``; other packages → None."""
    parts = module.split(".")
    if parts[0] != "restora":
        return None
    if parts[-1] in ("cli", "__main__"):
        return "cli"
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every ``restora...`` module that ``path`` imports, anywhere in its body."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    return {m for m in found if m.split(".")[0] == "restora"}


def unit_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        src = unit_of(module_name(path))
        edges = graph.setdefault(src, set())
        for target in imported_modules(path):
            dst = unit_of(target)
            if dst is not None and dst != src and dst != "__init__":
                edges.add(dst)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_every_unit_has_a_layer():
    assert set(unit_graph()) <= set(LAYER_OF), sorted(set(unit_graph()) - set(LAYER_OF))


def test_no_import_circle_between_subpackages():
    cycle = find_cycle(unit_graph())
    assert cycle is None, " → ".join(cycle)


def test_no_import_goes_up_a_layer():
    up = sorted(
        f"{src} → {dst}"
        for src, dsts in unit_graph().items()
        for dst in dsts
        if LAYER_OF.get(dst, 0) > LAYER_OF.get(src, 0)
    )
    assert not up, up


def test_the_graph_is_read_from_function_bodies_too(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from restora.engine import neural\n")
    assert "restora.engine" in imported_modules_at(module)


def imported_modules_at(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found
