"""The documents describe the product: no talk of how the work was organised, no citation of files outside the
repository, and every results folder and config they name exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = sorted(
    [
        ROOT / "README.md",
        ROOT / "CHANGELOG.md",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "benchmarks").glob("*.md"),
        *(ROOT / "configs").glob("*.yaml"),
    ]
)


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documents_speak_of_the_product(path):
    text = path.read_text()
    assert not re.search(r"\bsessions?\b", text, re.I), "speaks of work sessions"
    assert not re.search(r"\bissues? #?\d+|\(#\d+\)", text, re.I), "cites an issue number"
    assert "CONVENTIONS.md" not in text, "cites a file outside the repository (docs/conventions.md has it)"


RECORDS = sorted([ROOT / "CHANGELOG.md", *(ROOT / "benchmarks").glob("*.md")])  # docs/ also shows example --out paths


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: str(p.relative_to(ROOT)))
def test_named_results_folders_and_configs_exist(path):
    text = path.read_text()
    for name in re.findall(r"benchmarks/results/([A-Za-z0-9._-]+)", text):
        assert (ROOT / "benchmarks" / "results" / name).exists(), name
    for name in re.findall(r"configs/([A-Za-z0-9._-]+\.yaml)", text):
        assert (ROOT / "configs" / name).is_file(), name
