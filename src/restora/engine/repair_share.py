"""When ``--task auto`` sends a photo to old-photo repair: the share of its pixels the damage detector finds.

The damage detector (``restora-damage``, :func:`restora.engine.inpaint.detect_damage` at its card's threshold,
not grown) runs on the downscaled copy the all-in-one model describes (long side at most 256 px). A photo
whose damaged share is at least the *share threshold* is repaired (the detector's mask at full resolution, then
the fast inpainter); below it, the five-way routing decides as before.

The threshold is fitted on validation by ``python -m restora.train.repair_share`` (held-out train/ slices,
synthetic damage against clean and otherwise-degraded photos; docs/tasks.md) and stored in
``repair_share.json`` beside this module with its validation figures and the SHA-256 of the detector file it
was fitted for: with any other detector file, or without the file, auto never routes to repair.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from restora.engine.inpaint import DETECTOR, detect_damage
from restora.engine.routing import file_sha256
from restora.errors import ModelError

SHARE_PATH = Path(__file__).with_name("repair_share.json")


@dataclass(frozen=True)
class ShareThreshold:
    """A photo goes to repair when its damaged share is at least ``threshold`` (0–1)."""

    threshold: float
    detector_sha256: str  # the damage detector file it was fitted for
    card: dict  # how it was chosen and its validation figures

    def to_json(self) -> str:
        return json.dumps(
            {"threshold": self.threshold, "detector_sha256": self.detector_sha256, "card": self.card}, indent=1
        )

    @classmethod
    def from_json(cls, text: str) -> ShareThreshold:
        d = json.loads(text)
        return cls(float(d["threshold"]), str(d["detector_sha256"]), dict(d["card"]))


def detector_path(model: str = DETECTOR) -> Path | None:
    """The damage detector's model file, or None when it is not shipped."""
    from restora.models.registry import WEIGHTS_DIR

    path = Path(model) if model.endswith(".safetensors") else WEIGHTS_DIR / f"{model}.safetensors"
    return path if path.is_file() else None


@lru_cache(maxsize=4)
def _threshold_for(detector: str, stamp: int) -> ShareThreshold | None:
    if not SHARE_PATH.is_file():
        return None
    fitted = ShareThreshold.from_json(SHARE_PATH.read_text())
    return fitted if fitted.detector_sha256 == file_sha256(Path(detector)) else None


def share_threshold(model: str = DETECTOR) -> ShareThreshold | None:
    """The fitted share threshold when it belongs to the shipped detector file, else None (no repair routing)."""
    path = detector_path(model)
    if path is None:
        return None
    return _threshold_for(str(path.resolve()), path.stat().st_mtime_ns)


def damaged_share(small: np.ndarray, model: str = DETECTOR) -> float:
    """The share (0–1) of ``small``'s pixels that the detector finds damaged (its card's threshold, not grown)."""
    return float(detect_damage(np.asarray(small, np.float32)[..., :3], model, grow=0, tile=0).mean())


def repair_reading(small: np.ndarray, model: str = DETECTOR) -> tuple[float, float] | None:
    """(damaged share, share threshold) of a downscaled photo, or None when no fitted threshold or no detector
    is there (auto then routes among the restore tasks only)."""
    fitted = share_threshold(model)
    if fitted is None:
        return None
    try:
        return damaged_share(small, model), fitted.threshold
    except ModelError:
        return None
