"""Make ``examples/noisy.png``: a 384×256 crop of Kodak's kodim07 with realistic camera-like noise.

Noise model (Poisson–Gaussian, signal-dependent, mildly correlated across channels as after demosaicing):
``y = x + sqrt(a·x + b) · n`` on the [0, 1] scale, with ``a`` and ``b`` set so σ = 20 (0–255 scale) at
mid grey (12 of it signal-independent read noise), and ``n_c = sqrt(1-ρ)·z_c + sqrt(ρ)·z_shared`` (unit
variance, correlation ρ = 0.3 between channels). Clipped and rounded to 8 bits. Seeded, so reproducible:

    python examples/make_noisy.py  # reads $RESTORA_DATA/test/Kodak24/kodim07.png
"""

from pathlib import Path

import numpy as np
from PIL import Image

from restora.settings import data_dir

CROP = (180, 110, 180 + 384, 110 + 256)  # left, top, right, bottom in the 768×512 original
SIGMA_MID_GREY = 20.0 / 255.0
SIGMA_READ = 12.0 / 255.0
CHANNEL_CORRELATION = 0.3


def add_camera_noise(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    b = SIGMA_READ**2
    a = (SIGMA_MID_GREY**2 - b) / 0.5
    z = rng.standard_normal(clean.shape)
    shared = rng.standard_normal(clean.shape[:2] + (1,))
    n = np.sqrt(1 - CHANNEL_CORRELATION) * z + np.sqrt(CHANNEL_CORRELATION) * shared
    return clean + np.sqrt(a * clean + b) * n


def main() -> None:
    source = data_dir() / "test" / "Kodak24" / "kodim07.png"
    clean = np.asarray(Image.open(source).convert("RGB").crop(CROP), dtype=np.float64) / 255.0
    noisy = add_camera_noise(clean, np.random.default_rng(7))
    out = np.clip(np.rint(noisy * 255.0), 0, 255).astype(np.uint8)
    Image.fromarray(out).save(Path(__file__).with_name("noisy.png"), optimize=True)


if __name__ == "__main__":
    main()
