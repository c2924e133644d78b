"""The interface every restoration method implements for the engine."""

from __future__ import annotations

import numpy as np


class Method:
    """Restores (h, w, 3) float32 tiles in [0, 1].

    ``uses_sigma``: takes a noise level (σ per channel on the 0–255 scale, or a (h, w, 3) map); the
    engine's ``strength`` then scales σ. Methods without it are blended with the input instead.
    ``context``: pixels of surrounding image a tile needs (≥ receptive radius) for seamless tiling.
    """

    name: str = "method"
    uses_sigma: bool = False
    size_multiple: int = 1
    context: int = 16
    default_tile: int = 512
    runtime: str = "numpy"

    def process(self, tile: np.ndarray, sigma: np.ndarray | None) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class IdentityMethod(Method):
    """Returns its input: the 'noisy' baseline in benchmarks and a zero-cost method in tests."""

    name = "identity"
    context = 0

    def process(self, tile, sigma):
        return tile.copy()
