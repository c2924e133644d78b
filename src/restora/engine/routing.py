"""The routing head of ``--task auto``: which degradation a photo has, told from the all-in-one model's
description *and* the photo's own noise, so that real camera noise goes to denoising.

The all-in-one model's classifier (``AllInOneNet.classify``) learnt noise as white Gaussian noise on a
downscaled copy. Real camera noise is correlated and soft after demosaicing, in-camera noise reduction and
JPEG, and downscaling averages it away: the classifier reads most real noisy photos as blurred (36 of the 52
photos of ``real/CC52``). The routing head is a multinomial logistic regression on

* the all-in-one model's embedding of the view (the same 64 numbers its own classifier reads), and
* two noise measurements of the whole photo at full resolution, which blur and haze do not fake together:
  :func:`~restora.engine.noise.estimate_sigma` (the patch-PCA σ, mean over channels) and
  :func:`~restora.engine.noise.stride_ratio` (how much louder the noise reads in the stride-2 sub-images:
  ≈ 1 for white noise, 2–6 for camera noise),

standardised, then ``softmax(W f + b)`` over :data:`restora.tasks`' five restore tasks. It is fitted by
``python -m restora.train.routing_fit`` (docs/tasks.md: the samples, the validation and the figures) and
stored in ``routing.json`` beside this module, plain JSON with its card. It belongs to one all-in-one model
file: the JSON records that file's SHA-256, and with any other detector the detector's own classifier is used.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from restora.engine.noise import estimate_sigma, stride_ratio

ROUTING_PATH = Path(__file__).with_name("routing.json")
NOISE_FEATURES = ("log_sigma", "log_stride_ratio")


def noise_features(pixels: np.ndarray) -> np.ndarray:
    """The photo's two noise measurements (:data:`NOISE_FEATURES`): log(σ + 0.1), σ the patch-PCA estimate on
    the 0–255 scale (mean over channels), and log of the stride ratio clipped to 0.5–30 (flat photos read 0)."""
    x = np.asarray(pixels, np.float32)
    sigma = float(np.mean(estimate_sigma(x)))
    ratio = float(np.clip(np.mean(stride_ratio(x)), 0.5, 30.0))
    return np.array([np.log(sigma + 0.1), np.log(ratio)], np.float32)


@dataclass(frozen=True)
class RoutingHead:
    """``softmax(W · (f − mean) / scale + b)`` over ``tasks``; ``f`` = embedding ++ noise features."""

    tasks: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weight: np.ndarray  # (len(tasks), F)
    bias: np.ndarray  # (len(tasks),)
    detector_sha256: str  # the all-in-one model file whose embedding it reads
    card: dict

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(N, F) features → (N, len(tasks)) probabilities."""
        z = (np.atleast_2d(np.asarray(features, np.float64)) - self.mean) / self.scale
        logits = z @ self.weight.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def to_json(self) -> str:
        return json.dumps(
            {
                "tasks": list(self.tasks),
                "mean": self.mean.tolist(),
                "scale": self.scale.tolist(),
                "weight": self.weight.tolist(),
                "bias": self.bias.tolist(),
                "detector_sha256": self.detector_sha256,
                "card": self.card,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> RoutingHead:
        d = json.loads(text)
        a = lambda k: np.asarray(d[k], np.float64)  # noqa: E731
        return cls(tuple(d["tasks"]), a("mean"), a("scale"), a("weight"), a("bias"), d["detector_sha256"], d["card"])


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@lru_cache(maxsize=4)
def _head_for(detector_path: str, stamp: int) -> RoutingHead | None:
    if not ROUTING_PATH.is_file():
        return None
    head = RoutingHead.from_json(ROUTING_PATH.read_text())
    return head if head.detector_sha256 == file_sha256(Path(detector_path)) else None


def routing_head(detector_path: str | Path | None) -> RoutingHead | None:
    """The shipped routing head when it was fitted for this all-in-one model file, else None."""
    if detector_path is None or not Path(detector_path).is_file():
        return None
    path = Path(detector_path)
    return _head_for(str(path.resolve()), path.stat().st_mtime_ns)
