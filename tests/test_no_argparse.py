"""Every command-line entry point, in the package and in benchmarks/, is declared with typer: no argparse.

Read with :mod:`ast` (imports at the top of a module and inside functions alike), as tests/test_layers.py does.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def argparse_imports(path: Path) -> list[int]:
    """Line numbers at which ``path`` imports argparse (``import argparse`` or ``from argparse import ...``)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import) and any(alias.name.split(".")[0] == "argparse" for alias in node.names):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and not node.level and (node.module or "").split(".")[0] == "argparse":
            lines.append(node.lineno)
    return lines


def test_no_module_in_src_or_benchmarks_imports_argparse():
    files = sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "benchmarks").rglob("*.py")])
    assert len(files) > 50  # the walk found the trees
    found = [f"{path.relative_to(ROOT)}:{line}" for path in files for line in argparse_imports(path)]
    assert not found, found


def test_every_import_form_is_seen(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "import os, argparse as ap\nfrom argparse import ArgumentParser\n"
        "def f():\n    import argparse\n\nimport argparsed\nfrom .argparse import x\n"
    )
    assert sorted(argparse_imports(module)) == [1, 2, 4]
