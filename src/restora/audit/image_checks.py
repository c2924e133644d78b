"""Checks of one reference image: residual noise, blur, JPEG blocking and clipping.

Each check measures one number on the image (:func:`measure_image`); the decision against a threshold is
made afterwards (:func:`image_findings`), because blur is judged relative to the image's set. The
thresholds are calibrated on the clean training sets (docs/data-audit.md gives the distributions):

* **residual-noise** — σ (0–255 scale, mean over channels) from :func:`restora.engine.noise.estimate_sigma`
  on a centre crop of at most :data:`WORK` px. Flagged above :data:`NOISE_SIGMA`.
* **blurred** — re-blur sharpness (Crété et al. 2007): with ``Y`` the luma and ``G`` a Gaussian of
  σ = :data:`REBLUR_SIGMA` px, ``1 − E|∇(G∗Y)|² / E|∇Y|²``, the share of gradient energy that a further blur
  removes: near 1 for a sharp photo, near 0 for one that is already blurred, whatever its content (a flat
  photo has little gradient energy but a sharp one still loses most of it). Flagged when below both
  :data:`SHARPNESS` and, for sets of at least :data:`SET_MIN` images, the set's median minus
  :data:`SHARPNESS_MADS` robust deviations.
* **jpeg-blocking** — mean absolute luma step (capped at :data:`STEP_CAP`) across each column (and row) position, grouped by position
  mod 8; the strongest group over the next strongest, geometric mean of the two axes. A JPEG's block grid
  makes one phase stand out (whatever the crop offset); periodic texture of period 2 or 4 raises several
  phases together and does not. Flagged above :data:`BLOCKING`.
* **clipped** — share of the image in saturated (brightest channel ≥ 254/255) or crushed (every channel
  ≤ 1/255) areas that hold a :data:`AREA` × :data:`AREA` square (a morphological opening drops specular
  points and thin lines). Flagged above :data:`CLIPPED`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import cv2

from restora.audit.findings import Finding
from restora.engine.noise import estimate_sigma

WORK = 512  # side of the centre crop that noise, blur and blocking are measured on
NOISE_PATCHES = 2000  # patches per channel for the noise estimate (bounds its cost; see docs/data-audit.md)
REBLUR_SIGMA = 1.0
BLOCK = 8
STEP_CAP = 20.0  # luma steps are capped so that a few strong object edges cannot make a phase stand out

# Thresholds, calibrated on train/CBSD432, train/DreamBooth158 and train/Urban100 (docs/data-audit.md).
NOISE_SIGMA = 12.0
SHARPNESS = 0.55
SHARPNESS_MADS = 3.0
SET_MIN = 8
BLOCKING = 1.15
CLIPPED = 0.40
SATURATED = 254.0 / 255.0
CRUSHED = 1.0 / 255.0
AREA = 5

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass(frozen=True)
class ImageMeasures:
    """The numbers the single-image checks decide on."""

    sigma: float
    sharpness: float
    blocking: float
    clipped: float


def luma(pixels: np.ndarray) -> np.ndarray:
    """BT.601 luma on the 0–255 scale (float32) of an (H, W, 3) float image in [0, 1]."""
    return (np.asarray(pixels, np.float32) @ _LUMA) * np.float32(255.0)


def centre_crop(x: np.ndarray, side: int = WORK) -> np.ndarray:
    """Centre crop of at most ``side`` px per axis, its corner on the 8-px grid (a JPEG's blocks stay aligned)."""
    h, w = x.shape[:2]
    top = max(0, (h - side) // 2) // BLOCK * BLOCK
    left = max(0, (w - side) // 2) // BLOCK * BLOCK
    return x[top : top + side, left : left + side]


def sharpness(y: np.ndarray) -> float:
    """Re-blur sharpness of a luma image: the share of gradient energy a σ=1 px blur removes (1 sharp, 0 blurred)."""
    y = np.asarray(y, np.float32)

    def energy(z):
        return float((np.diff(z, axis=0) ** 2).mean() + (np.diff(z, axis=1) ** 2).mean())

    e = energy(y)
    if e <= 1e-6:
        return 0.0
    return float(1.0 - energy(cv2.GaussianBlur(y, (0, 0), REBLUR_SIGMA)) / e)


def _phase_contrast(steps: np.ndarray) -> float:
    """Strongest of the 8 phase means of ``steps`` (1-D, indexed by position) over the second strongest."""
    n = len(steps) // BLOCK * BLOCK
    if n < 2 * BLOCK:
        return 1.0
    means = np.sort(steps[:n].reshape(-1, BLOCK).mean(axis=0))
    return float(means[-1] / max(means[-2], 1e-3))


def blocking(y: np.ndarray) -> float:
    """8×8 blockiness of a luma image: ≈1 without a block grid, above it with one."""
    horizontal = np.minimum(np.abs(np.diff(y, axis=1)), STEP_CAP).mean(axis=0)
    vertical = np.minimum(np.abs(np.diff(y, axis=0)), STEP_CAP).mean(axis=1)
    return float(np.sqrt(_phase_contrast(horizontal) * _phase_contrast(vertical)))


def clipped_fraction(pixels: np.ndarray) -> float:
    """Share of the image in saturated or crushed areas at least :data:`AREA` px across."""
    brightest = np.maximum(np.maximum(pixels[..., 0], pixels[..., 1]), pixels[..., 2])
    mask = ((brightest >= SATURATED) | (brightest <= CRUSHED)).astype(np.uint8)
    areas = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((AREA, AREA), np.uint8))
    return float(areas.mean())


def measure_image(pixels: np.ndarray) -> ImageMeasures:
    """Every single-image measure of an (H, W, 3) float32 image in [0, 1]."""
    crop = centre_crop(pixels)
    y = luma(crop)
    sigma = float(np.mean(estimate_sigma(crop, max_patches=NOISE_PATCHES)))
    return ImageMeasures(sigma=sigma, sharpness=sharpness(y), blocking=blocking(y), clipped=clipped_fraction(pixels))


def sharpness_limit(set_values: list[float]) -> float:
    """The sharpness below which an image of this set is flagged as blurred."""
    if len(set_values) < SET_MIN:
        return SHARPNESS
    v = np.asarray(set_values, np.float64)
    median = float(np.median(v))
    mad = 1.4826 * float(np.median(np.abs(v - median)))
    return min(SHARPNESS, median - SHARPNESS_MADS * mad)


def image_findings(path: str, m: ImageMeasures, sharpness_below: float = SHARPNESS) -> list[Finding]:
    """The findings for one image's measures; ``sharpness_below`` from :func:`sharpness_limit` of its set."""
    out = []
    if m.sigma > NOISE_SIGMA:
        out.append(
            Finding(
                "residual-noise",
                path,
                None,
                m.sigma,
                f"noise σ {m.sigma:.1f} (0–255) in the reference, above {NOISE_SIGMA}",
            )
        )
    if m.sharpness < sharpness_below:
        out.append(
            Finding(
                "blurred",
                path,
                None,
                m.sharpness,
                f"sharpness {m.sharpness:.2f}, below {sharpness_below:.2f} for its set",
            )
        )
    if m.blocking > BLOCKING:
        out.append(
            Finding(
                "jpeg-blocking",
                path,
                None,
                m.blocking,
                f"8×8 block edges {m.blocking:.2f}× the strongest other phase, above {BLOCKING}",
            )
        )
    if m.clipped > CLIPPED:
        out.append(
            Finding(
                "clipped",
                path,
                None,
                m.clipped,
                f"{100 * m.clipped:.0f}% of the image saturated or crushed, above {100 * CLIPPED:.0f}%",
            )
        )
    return out
