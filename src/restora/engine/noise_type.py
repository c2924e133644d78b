r"""Which kind of noise a photo has: Gaussian/camera, salt-and-pepper, periodic or JPEG blocking.

Each kind calls for its own method (:func:`method_for`): the denoiser for Gaussian and camera noise, an adaptive
switching median for impulses (:mod:`restora.engine.impulse`), spectral notches for periodic patterns
(:mod:`restora.engine.periodic`). Three classical features tell them apart, each the signature of one kind:

* **impulse fraction** (:func:`impulse_fraction`): the share of pixel values that are *confident impulses*: at an
  extreme of the range (:func:`restora.engine.impulse.candidates`) and further from the median of their
  uncorrupted neighbours than both :data:`restora.engine.impulse.DEVIATION` and :data:`SPREAD_FACTOR` times the
  local spread of the image around them (mean absolute deviation from the 5×5 mean, averaged over 5×5). ≈ the
  corrupted fraction for salt-and-pepper; ≈ 0 for photos, and for strong Gaussian noise, whose clipped values
  are extreme too but sit among neighbours that are just as spread.
* **periodic score**: the prominence of the strongest sharp peak of the spectrum
  (:func:`restora.engine.periodic.periodic_score`).
* **JPEG step** (:func:`jpeg_step`): the quantisation step of the (1,0) and (1,1) coefficients of the luma's
  8×8 DCT blocks (both 12 in JPEG's luminance table at quality 50): the largest step q ≤ 80 at which the
  coefficients that are not near zero cluster on multiples of q (mean cos(2π c / q) > 0.5, and at least half of
  them reach q/2); 1 for photos and
  noise and where fewer than :data:`MIN_COEFFICIENTS` are not near zero; ≈ 20–60 for JPEG quality 10–30,
  at most 10 for the quality 60–95 of cameras' own files.

Decision, in this order: salt-and-pepper when the impulse fraction is at least :data:`IMPULSE_FRACTION`;
periodic when the periodic score is at least :data:`restora.engine.periodic.PROMINENCE`; JPEG when the
JPEG step is at least :data:`JPEG_STEP`; otherwise Gaussian/camera (which includes clean photos: the
denoiser then has little to do). The thresholds were chosen on ``train/`` images and checked on held-out ones
(``restora bench --task noise-type``; benchmarks/RESULTS.md), as the frequency-domain classifier of
arXiv 2404.10664 was for its three kinds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from restora.engine.filters import luma

KINDS = ("gaussian", "salt-pepper", "periodic", "jpeg")
IMPULSE_FRACTION = 0.01
SPREAD_FACTOR = 5.0
JPEG_STEP = 14
MIN_COEFFICIENTS = 30
MAX_SIDE = 1024  # features are measured on a centre crop at most this large (block-aligned)


@dataclass(frozen=True)
class NoiseType:
    """A photo's noise kind (one of :data:`KINDS`) and the features it was decided on."""

    kind: str
    impulse_fraction: float
    periodic_score: float
    jpeg_step: int

    def as_dict(self) -> dict:
        return asdict(self)


def impulse_fraction(image: np.ndarray) -> float:
    """Share of the pixel values that are confident impulses (the module's first feature)."""
    import cv2

    from restora.engine.impulse import DEVIATION, candidates, fill_from_neighbours

    x = np.asarray(image, np.float32)
    cand = candidates(x)
    filled = fill_from_neighbours(x, cand)
    spared = np.where(cand, filled, x)
    spread = cv2.blur(np.abs(spared - cv2.blur(spared, (5, 5))), (5, 5))
    return float((cand & (np.abs(x - filled) > np.maximum(DEVIATION, SPREAD_FACTOR * spread))).mean())


def _dct_matrix(n: int = 8) -> np.ndarray:
    k = np.arange(n)
    m = np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * np.sqrt(2.0 / n)
    m[0] /= np.sqrt(2.0)
    return m


def jpeg_step(image: np.ndarray, max_step: int = 80) -> int:
    """Quantisation step of the luma's (1,0) and (1,1) DCT coefficients on the 8×8 grid (1: none found)."""
    y = luma(image) * 255.0 - 128.0
    h, w = y.shape[0] // 8 * 8, y.shape[1] // 8 * 8
    blocks = y[:h, :w].reshape(h // 8, 8, w // 8, 8).transpose(0, 2, 1, 3).reshape(-1, 8, 8)
    d = _dct_matrix()
    coef = np.einsum("ij,bjk,lk->bil", d, blocks, d)  # orthonormal 2-D DCT-II, as JPEG's (up to its scaling)
    c = np.concatenate([coef[:, 1, 0], coef[:, 1, 1]])
    c = c[np.abs(c) >= 2.0]  # zeros fit every step
    step = 1
    if c.size < MIN_COEFFICIENTS:
        return step
    for q in range(4, max_step + 1):
        # A step far above the coefficients fits them trivially: most of them must reach half a step.
        if float(np.mean(np.cos(2 * np.pi * c / q))) > 0.5 and float(np.mean(np.abs(c) >= q / 2)) >= 0.5:
            step = q
    return step


def _crop(image: np.ndarray) -> np.ndarray:
    h, w = image.shape[:2]
    top = ((h - min(h, MAX_SIDE)) // 2) // 8 * 8
    left = ((w - min(w, MAX_SIDE)) // 2) // 8 * 8
    return np.asarray(image[top : top + MAX_SIDE, left : left + MAX_SIDE], np.float32)


def decide(impulse: float, periodic_score: float, step: int) -> str:
    """The kind from the three features (the module's decision)."""
    from restora.engine.periodic import PROMINENCE

    if impulse >= IMPULSE_FRACTION:
        return "salt-pepper"
    if periodic_score >= PROMINENCE:
        return "periodic"
    if step >= JPEG_STEP:
        return "jpeg"
    return "gaussian"


def classify_noise(image: np.ndarray) -> NoiseType:
    """The noise kind of an (h, w, 3) float image on [0, 1].

    >>> rng = np.random.default_rng(0)
    >>> photo = np.clip(0.5 + 0.1 * rng.standard_normal((64, 64, 3)), 0, 1).astype(np.float32)
    >>> specks = photo.copy(); specks[rng.random((64, 64)) < 0.1] = 1.0
    >>> classify_noise(photo).kind, classify_noise(specks).kind
    ('gaussian', 'salt-pepper')
    """
    from restora.engine.periodic import periodic_score

    x = _crop(image)
    if x.ndim == 2:
        x = np.repeat(x[:, :, None], 3, axis=2)
    x = np.ascontiguousarray(x[:, :, :3])
    fraction, score, step = impulse_fraction(x), periodic_score(x), jpeg_step(x)
    return NoiseType(decide(fraction, score, step), fraction, score, step)


# The method each kind is restored with; None: the task's default denoiser.
METHOD_FOR = {"gaussian": None, "jpeg": None, "salt-pepper": "impulse", "periodic": "notch"}


def method_for(kind: str) -> str | None:
    """The registered method that restores a photo of this noise kind (None: the default denoiser)."""
    return METHOD_FOR[kind]
