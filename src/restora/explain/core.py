"""Restore a photo and explain the result: the object the report, the CLI and the API share."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from restora.explain.features import Analysis, analyse
from restora.explain.reliability import Reliability, predict
from restora.io.image import Image


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


def assess(noisy: np.ndarray, restored: np.ndarray, sigma: np.ndarray | None = None, model: str = "") -> Reliability:
    """Reliability of one restoration from its input and output pixels ((H, W, 3) float in [0, 1])."""
    return predict(analyse(noisy, restored, sigma), model)


def explain_image(image, model: str | None = None, sigma="auto", strength: float = 1.0, tile: int | None = None,
                  device: str = "auto") -> Explanation:
    """Denoise ``image`` (an Image, a path or an array) and analyse what was removed and how far to trust it."""
    from restora.engine.restore import run_restore
    from restora.io import read_image

    if isinstance(image, (str, Path)):
        image = read_image(Path(image))
    elif not isinstance(image, Image):
        image = Image.from_array(np.asarray(image))
    result = run_restore(image, "denoise", model, sigma, strength, tile, device)
    start = time.perf_counter()
    analysis = analyse(image.pixels, result.image.pixels, result.sigma)
    reliability = predict(analysis, result.model)
    return Explanation(image, result.image, result.model, result.sigma, result.strength, result.seconds, analysis,
                       reliability, time.perf_counter() - start)
