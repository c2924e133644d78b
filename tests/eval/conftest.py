"""A tiny data folder laid out like RESTORA_DATA: test/Tiny (2 clean images) and real/TinyReal pairs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image


def textured_image(rng: np.random.Generator, height: int = 48, width: int = 64) -> np.ndarray:
    """Smooth colour blobs with fine grain-like texture in the lower half: flat parts and texture."""
    import cv2

    base = cv2.resize(rng.uniform(0, 255, (6, 8, 3)), (width, height), interpolation=cv2.INTER_CUBIC)
    grain = cv2.resize(rng.normal(0, 12, (height // 2, width // 2)), (width, height), interpolation=cv2.INTER_LINEAR)
    base[height // 2 :] += grain[height // 2 :, :, None]
    return np.clip(np.rint(base), 0, 255).astype(np.uint8)


@pytest.fixture
def make_textured():
    return textured_image


@pytest.fixture
def data_dir(tmp_path):
    rng = np.random.default_rng(7)
    root = tmp_path / "data"
    (root / "test" / "Tiny").mkdir(parents=True)
    for sub in ("noisy", "clean"):
        (root / "real" / "TinyReal" / sub).mkdir(parents=True)
    for i in range(2):
        clean = textured_image(rng)
        Image.fromarray(clean).save(root / "test" / "Tiny" / f"img{i}.png")
        noisy = np.clip(np.rint(clean + rng.normal(0, 6, clean.shape)), 0, 255).astype(np.uint8)
        Image.fromarray(clean).save(root / "real" / "TinyReal" / "clean" / f"p{i}.png")
        Image.fromarray(noisy).save(root / "real" / "TinyReal" / "noisy" / f"p{i}.png")
    return root


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
