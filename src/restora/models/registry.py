"""The architecture registry (BasicSR-style): name → ``nn.Module`` class, filled by :func:`register_arch`.

The architectures themselves are listed once, in :mod:`restora.models.modelfile`, which imports them.
"""

from __future__ import annotations

from pathlib import Path

ARCHITECTURES: dict[str, type] = {}
# The shipped model files (package data).
WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"


def register_arch(name: str):
    """Class decorator: make an architecture constructible by name from a model file's metadata."""

    def wrap(cls):
        ARCHITECTURES[name] = cls
        cls.arch_name = name
        return cls

    return wrap
