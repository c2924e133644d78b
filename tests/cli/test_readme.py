"""README.md: its two opening commands come first, and its tour names every command ``restora --help`` lists."""

from __future__ import annotations

import re
from pathlib import Path

import typer

README = Path(__file__).resolve().parents[2] / "README.md"


def registered_commands() -> set[str]:
    from restora.cli import _register_commands, app

    _register_commands()
    return set(typer.main.get_command(app).commands)


def tour() -> str:
    text = README.read_text()
    start = text.index("## What Restora can do")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def test_the_two_opening_commands_come_first():
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), re.S)
    assert "pip install -e . && .venv/bin/restora denoise examples/noisy.png -o out/denoised.png" in blocks[0]
    assert "pip install -e '.[test,ray,onnx]' && .venv/bin/python -m pytest -q" in blocks[1]
    assert README.read_text().index("## What Restora can do") > README.read_text().index(blocks[1])


def test_the_tour_names_every_command():
    section = tour()
    named = set(re.findall(r"`(?:restora )?([a-z]+)`", section))
    missing = registered_commands() - named
    assert not missing, f"README's tour does not name: {sorted(missing)}"


def test_the_tour_links_exist():
    for link in re.findall(r"\]\(([^)#]+)\)", tour()):
        assert (README.parent / link).is_file(), link
