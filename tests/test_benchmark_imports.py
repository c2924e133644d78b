"""The scripts in benchmarks/ use restora as a user of the package does: no private (underscore) name of it.

Read with :mod:`ast` (imports at the top of a module and inside functions alike), as tests/test_layers.py does.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(path: Path) -> list[str]:
    """``line: name`` for each private restora module or name that ``path`` imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [
                f"{node.lineno}: {a.name}"
                for a in node.names
                if a.name.split(".")[0] == "restora" and any(map(private, a.name.split(".")))
            ]
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "restora":
            if any(map(private, node.module.split("."))):
                found.append(f"{node.lineno}: {node.module}")
            found += [f"{node.lineno}: {node.module}.{a.name}" for a in node.names if private(a.name)]
    return found


SCRIPTS = sorted((ROOT / "benchmarks").rglob("*.py"))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_benchmark_imports_no_private_name_of_restora(path):
    assert private_imports(path) == []


def test_every_private_import_form_is_seen(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "import restora.eval._hidden\nfrom restora.eval.speed import _Load, set_threads\n"
        "from restora._private import x\nfrom restora import __version__\nimport os._x\n"
        "def f():\n    from restora.io import _read\n"
    )
    assert len(SCRIPTS) > 10  # the walk finds the scripts
    assert private_imports(module) == [
        "1: restora.eval._hidden",
        "2: restora.eval.speed._Load",
        "3: restora._private",
        "7: restora.io._read",
    ]
