"""Degradation operators: small, seeded, composable maps from a clean image to a degraded one.

Every operator takes a float32 (H, W, 3) image in [0, 1] (linear in nothing: display-referred sRGB
values, as photos are stored) and a :class:`numpy.random.Generator`, and returns a new float32 image of
the same shape. Operators draw their own random parameters from the generator, so a pipeline is
reproducible from one seed. Noise operators do not clip (clipping is a separate, explicit step), so
the statistics of added noise are exact; camera-like operators clip where a real camera would.

>>> import numpy as np
>>> from restora.degrade import GaussianNoise, JPEG, Compose
>>> x = np.full((32, 32, 3), 0.5, np.float32)
>>> y = Compose([GaussianNoise(sigma=(10, 10)), JPEG(quality=(90, 90))])(x, np.random.default_rng(0))
>>> y.shape, y.dtype
((32, 32, 3), dtype('float32'))
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Degradation:
    """Base class: ``__call__(image, rng) -> degraded image``."""

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


def uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    return float(lo) if lo == hi else float(rng.uniform(lo, hi))


class Compose(Degradation):
    """Apply operators in the given order."""

    def __init__(self, ops: Sequence[Degradation]):
        self.ops = list(ops)

    def __call__(self, image, rng):
        for op in self.ops:
            image = op(image, rng)
        return image


class RandomOrder(Degradation):
    """Apply operators in a random order (BSRGAN's shuffled degradation order)."""

    def __init__(self, ops: Sequence[Degradation]):
        self.ops = list(ops)

    def __call__(self, image, rng):
        for i in rng.permutation(len(self.ops)):
            image = self.ops[i](image, rng)
        return image


class Maybe(Degradation):
    """Apply ``op`` with probability ``p``."""

    def __init__(self, op: Degradation, p: float):
        self.op, self.p = op, p

    def __call__(self, image, rng):
        return self.op(image, rng) if rng.random() < self.p else image


class OneOf(Degradation):
    """Apply one operator chosen at random with the given weights."""

    def __init__(self, ops: Sequence[Degradation], weights: Sequence[float] | None = None):
        self.ops = list(ops)
        w = np.ones(len(self.ops)) if weights is None else np.asarray(weights, float)
        self.weights = (w / w.sum()).tolist()

    def __call__(self, image, rng):
        return self.ops[rng.choice(len(self.ops), p=self.weights)](image, rng)


class Clip(Degradation):
    """Clip to [0, 1], as any stored 8/16-bit photo is."""

    def __call__(self, image, rng):
        return np.clip(image, 0.0, 1.0)


class Quantize(Degradation):
    """Round to ``bits`` per channel (8 for most photos): the last step of any file written to disk."""

    def __init__(self, bits: int = 8):
        self.bits = bits

    def __call__(self, image, rng):
        levels = 2**self.bits - 1
        return (np.rint(np.clip(image, 0.0, 1.0) * levels) / levels).astype(np.float32)
