"""Shared helpers for the explain tests: clean synthetic scenes (no noise of their own) and tiny models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from restora.models.modelfile import save_model
from restora.models.nafnet import NAFNet


def scene(height: int = 160, width: int = 192, seed: int = 0) -> np.ndarray:
    """A noise-free colour scene in [0.1, 0.9]: smooth shading, two discs, a patch of fine stripes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack(
        [0.2 + 0.6 * xx / width, 0.25 + 0.5 * yy / height, 0.5 + 0.3 * np.sin(xx / 17) * np.cos(yy / 23)], axis=2
    )
    for cy, cx, r in ((0.3, 0.3, 0.18), (0.7, 0.65, 0.22)):
        disc = (yy - cy * height) ** 2 + (xx - cx * width) ** 2 < (r * min(height, width)) ** 2
        img[disc] = rng.uniform(0.2, 0.8, 3)
    band = slice(height // 3, 2 * height // 3), slice(width // 8, width // 3)
    img[band] = (0.5 + 0.3 * np.sin(xx[band] * 1.3))[..., None]
    return np.clip(img, 0.1, 0.9).astype(np.float32)


def tiny_model_file(path, seed: int = 0, perturb: float = 0.02):
    """A small NAFNet with a σ-map input saved as .safetensors; ``perturb`` makes its output differ from its input."""
    torch.manual_seed(seed)
    net = NAFNet(width=8, enc_blocks=(1,), mid_blocks=1, dec_blocks=(1,), uses_sigma=True)
    with torch.no_grad():
        net.ending.weight.normal_(0, perturb)
    save_model(net, path, {"name": path.stem, "task": "denoise", "tasks": ["denoise"], "steps": 0})
    return path


@pytest.fixture
def tiny_model(tmp_path):
    return tiny_model_file(tmp_path / "tiny.safetensors")


@pytest.fixture(name="scene")
def scene_fixture():
    """The :func:`scene` maker."""
    return scene
