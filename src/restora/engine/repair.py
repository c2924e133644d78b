"""Task ``repair`` in the restore engine: an old photo's damage masked (given, or found by the damage
detector) and filled by an inpainting network; every pixel outside the mask is kept bit for bit."""

from __future__ import annotations

import numpy as np

from restora.engine.inpaint import INPAINTERS, detect_damage, inpaint
from restora.errors import BadInputError, ModelError

DEFAULT_INPAINTER = INPAINTERS["fast"]


def inpainter_method(model: str | None) -> str:
    """The ``inpaint`` method of a repair model name: ``restora-inpaint`` (fast, the default) or
    ``restora-inpaint-resshift``."""
    name = model or DEFAULT_INPAINTER
    for method, shipped in INPAINTERS.items():
        if name == shipped:
            return method
    raise ModelError(f"model '{name}' does not repair (repair models: {', '.join(INPAINTERS.values())})")


def repair_pixels(
    pixels: np.ndarray, mask: np.ndarray | None = None, model: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(repaired pixels, the mask filled): ``mask`` (H, W) bool, white = fill, or None for the detector's."""
    pixels = np.asarray(pixels, np.float32)
    method = inpainter_method(model)
    if mask is None:
        mask = detect_damage(pixels)
    elif mask.shape != pixels.shape[:2]:
        raise BadInputError(
            f"the mask is {mask.shape[1]} × {mask.shape[0]}, the photo "
            f"{pixels.shape[1]} × {pixels.shape[0]}: they must be the same size"
        )
    return inpaint(pixels, mask, method), mask
