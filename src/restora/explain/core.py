"""Restore a photo and explain the result: the object the report, the CLI and the API share."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from restora.explain.features import Analysis, analyse
from restora.explain.noise_map import noise_map
from restora.explain.reliability import Reliability, predict
from restora.io.image import Image
from restora.engine.restore import run_restore
from restora.io import read_image

# Photos larger than this are analysed for reliability on their centred crop of this many pixels: every feature
# is an average or a share over the frame (the noise level function samples at most 40 000 patches, the spectrum
# at most 400 blocks), so a crop this large reads as the whole photo, and time and memory stay bounded.
ANALYSIS_MAX_PIXELS = 8_000_000


@dataclass
class Explanation:
    image: Image  # the input as read
    restored: Image
    model: str
    sigma: np.ndarray | None  # σ given to the model (estimated or the user's), before strength; 0–255
    strength: float
    seconds: float  # restoration time
    analysis: Analysis
    reliability: Reliability
    analysis_seconds: float = 0.0

    @property
    def name(self) -> str:
        return self.image.source.name if self.image.source else "photo"


def centre_window(height: int, width: int, max_pixels: int = ANALYSIS_MAX_PIXELS) -> tuple[slice, slice]:
    """The centred window of the frame's aspect ratio and at most ``max_pixels`` pixels (the frame if smaller)."""
    if height * width <= max_pixels:
        return slice(0, height), slice(0, width)
    scale = float(np.sqrt(max_pixels / (height * width)))
    h, w = max(1, int(height * scale)), max(1, int(width * scale))
    top, left = (height - h) // 2, (width - w) // 2
    return slice(top, top + h), slice(left, left + w)


def analyse_restoration(
    noisy: np.ndarray, restored: np.ndarray, sigma: np.ndarray | None = None, max_pixels: int = ANALYSIS_MAX_PIXELS
) -> Analysis:
    """:func:`~restora.explain.features.analyse` on the photo, or on its centred crop when it has more than
    ``max_pixels`` pixels (``ANALYSIS_MAX_PIXELS``)."""
    height, width = np.shape(noisy)[:2]
    window = centre_window(height, width, max_pixels)
    return analyse(np.asarray(noisy)[window], np.asarray(restored)[window], sigma)


def full_noise_map(pixels: np.ndarray, analysis: Analysis | None = None) -> np.ndarray:
    """The (H, W, 3) noise map of the whole photo: the analysis's own when it covers the photo, else computed."""
    if analysis is not None and analysis.sigma_map.shape == np.shape(pixels):
        return analysis.sigma_map
    return noise_map(pixels)


def assess(
    noisy: np.ndarray,
    restored: np.ndarray,
    sigma: np.ndarray | None = None,
    model: str = "",
    max_pixels: int = ANALYSIS_MAX_PIXELS,
) -> Reliability:
    """Reliability of one restoration from its input and output pixels ((H, W, 3) float in [0, 1])."""
    return predict(analyse_restoration(noisy, restored, sigma, max_pixels), model)


def explain_image(
    image, model: str | None = None, sigma="auto", strength: float = 1.0, tile: int | None = None, device: str = "auto"
) -> Explanation:
    """Denoise ``image`` (an Image, a path or an array) and analyse what was removed and how far to trust it."""
    if isinstance(image, (str, Path)):
        image = read_image(Path(image))
    elif not isinstance(image, Image):
        image = Image.from_array(np.asarray(image))
    result = run_restore(image, "denoise", model, sigma, strength, tile, device)
    start = time.perf_counter()
    analysis = analyse(image.pixels, result.image.pixels, result.sigma)
    reliability = predict(analysis, result.model)
    return Explanation(
        image,
        result.image,
        result.model,
        result.sigma,
        result.strength,
        result.seconds,
        analysis,
        reliability,
        time.perf_counter() - start,
    )
