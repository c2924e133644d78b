import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def tiny_data(tmp_path):
    """Eight 48² striped RGB images in a training folder (shared by the trainer tests)."""
    folder = tmp_path / "train"
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:48, 0:48]
    for i in range(8):
        stripes = 0.5 + 0.4 * np.sin(xx * (0.2 + 0.05 * i) + yy * 0.1 * i)
        img = np.dstack([stripes, np.roll(stripes, i, 0), stripes[::-1]]) + 0.02 * rng.standard_normal((48, 48, 3))
        Image.fromarray(np.clip(img * 255, 0, 255).astype(np.uint8)).save(folder / f"{i:02d}.png")
    return folder
