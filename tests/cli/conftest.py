"""Fixtures for the command-line tests: a CliRunner on the real app and tiny images made on the fly."""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage
from typer.testing import CliRunner

import restora.commands  # noqa: F401  (registers the commands on the app)
from restora.cli import app


def noisy_array(height: int = 32, width: int = 48, sigma: float = 20.0, seed: int = 0) -> np.ndarray:
    """A smooth colour ramp plus Gaussian noise of ``sigma`` (0–255 scale), uint8 (H, W, 3)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    clean = np.stack([60 + 120 * xx / width, 80 + 100 * yy / height, 140 - 60 * xx / width], axis=2)
    return np.clip(np.rint(clean + rng.normal(0, sigma, clean.shape)), 0, 255).astype(np.uint8)


def write_image_file(path: Path, seed: int = 0, size: tuple[int, int] = (32, 48)) -> Path:
    """A small noisy photo in the format of ``path``'s extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    PILImage.fromarray(noisy_array(*size, seed=seed)).save(path)
    return path


class Run:
    """Result of one command: exit code, stdout, stderr; fails the test on a Python traceback."""

    def __init__(self, result):
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"command raised {result.exception!r}") from result.exception
        self.code = result.exit_code
        self.out = result.stdout
        self.err = result.stderr

    def __repr__(self) -> str:
        return f"<exit {self.code}\nstdout:\n{self.out}\nstderr:\n{self.err}>"


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """``cli("denoise", "a.png", "-o", "b.png")`` runs in ``tmp_path`` and returns a :class:`Run`."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args) -> Run:
        return Run(runner.invoke(app, [str(a) for a in args]))

    return invoke
