"""Blur operators: camera shake, measured (Levin) kernels and defocus, each a convolution with a kernel.

Every kernel is non-negative and sums to 1, so a blur keeps the image's mean (its DC term) and only
moves energy from high to low frequencies. Convolution is true convolution (the kernel is flipped, as
in MATLAB's ``conv2``) with reflected borders. Gaussian blur is :class:`restora.degrade.GaussianBlur`.
Sensor noise after the blur is added by the pipelines (``motion-blur``, ``defocus``), not here.

>>> import numpy as np
>>> k = shake_kernel(15, np.random.default_rng(0))
>>> k.shape, round(float(k.sum()), 6), bool(k.min() >= 0)
((15, 15), 1.0, True)
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from restora.degrade.base import Degradation, uniform
from restora.errors import RestoraError
from restora.settings import data_dir


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """:math:`y = x * k` per channel, reflected borders (``cv2.filter2D`` correlates, hence the flip)."""
    flipped = np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float32)
    return cv2.filter2D(image.astype(np.float32), -1, flipped, borderType=cv2.BORDER_REFLECT).astype(np.float32)


def shake_kernel(
    size: int, rng: np.random.Generator, inertia: float = 0.8, jerk_prob: float = 0.05, steps: int = 64
) -> np.ndarray:
    r"""A camera-shake kernel of ``size`` × ``size`` px from a random trajectory (after Boracchi & Foi 2012).

    The camera's image-plane position follows a random walk with inertia,
    :math:`v_{t+1} = \rho\,v_t + (1-\rho)\,\varepsilon_t - c\,p_t,\ p_{t+1} = p_t + v_{t+1}`, with
    :math:`\varepsilon_t \sim \mathcal N(0, I)`, ``inertia`` ρ (smooth, hand-held paths), a weak pull
    :math:`c` back to the start (hands correct drift) and, with probability ``jerk_prob`` per step, an
    impulsive jerk of 5× the usual step. The path is scaled so its larger extent spans ``size − 2`` px,
    centred, densely resampled in time (≤ 0.25 px per sample, so equal time gives equal weight: slow parts
    of the path are brighter) and rasterised by bilinear sub-pixel splatting; the kernel is normalised to
    sum 1.
    """
    velocity, position = np.zeros(2), np.zeros(2)
    path = [position.copy()]
    for _ in range(steps - 1):
        step = rng.standard_normal(2) * (5.0 if rng.random() < jerk_prob else 1.0)
        velocity = inertia * velocity + (1.0 - inertia) * step - 0.05 * position
        position = position + velocity
        path.append(position.copy())
    points = np.asarray(path)
    points -= (points.max(axis=0) + points.min(axis=0)) / 2.0
    extent = float(np.ptp(points, axis=0).max())
    points = points * ((size - 2) / extent if extent > 0 else 0.0) + (size - 1) / 2.0
    # Resample uniformly in time so each splat carries the same exposure.
    longest = float(np.linalg.norm(np.diff(points, axis=0), axis=1).max())
    per_step = max(1, int(np.ceil(longest / 0.25)))
    t = np.linspace(0, steps - 1, (steps - 1) * per_step + 1)
    xs, ys = np.interp(t, np.arange(steps), points[:, 0]), np.interp(t, np.arange(steps), points[:, 1])
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    fx, fy = xs - x0, ys - y0
    kernel = np.zeros((size, size), np.float64)
    for dy, dx, w in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx), (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        np.add.at(kernel, (np.clip(y0 + dy, 0, size - 1), np.clip(x0 + dx, 0, size - 1)), w)
    return (kernel / kernel.sum()).astype(np.float32)


def disk_kernel(radius: float, supersample: int = 8) -> np.ndarray:
    r"""Antialiased defocus disk: each tap is the fraction of its pixel inside the circle of ``radius`` px.

    A thin lens out of focus images a point as a uniform disk (the circle of confusion). Coverage is
    measured on a ``supersample``² grid of sub-pixel centres placed symmetrically, so the kernel is
    exactly symmetric under flips and 90° rotations. Size :math:`2\lceil r \rceil + 1`; sums to 1.

    >>> k = disk_kernel(2.5)
    >>> k.shape, bool(np.allclose(k, k.T) and np.allclose(k, k[::-1]))
    ((7, 7), True)
    """
    half = int(np.ceil(radius))
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    centres = np.arange(-half, half + 1)
    sub = (centres[:, None] + offsets[None, :]).ravel()
    inside = (sub[:, None] ** 2 + sub[None, :] ** 2) <= radius**2
    n = 2 * half + 1
    coverage = inside.reshape(n, supersample, n, supersample).mean(axis=(1, 3))
    return (coverage / coverage.sum()).astype(np.float32)


class KernelBlur(Degradation):
    """A blur by a kernel drawn per image: subclasses implement ``kernel(rng)``."""

    def kernel(self, rng: np.random.Generator) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, image, rng):
        return convolve(image, self.kernel(rng))


class MotionBlur(KernelBlur):
    """Camera shake: a :func:`shake_kernel` of odd ``size`` ∈ [7, 31] px, ``inertia`` ∈ [0.5, 0.95],
    ``jerk_prob`` ∈ [0, 0.1]. Hand-held shots at slow shutter speeds blur along a wandering path, not a
    straight line, so random trajectories cover real shake better than linear kernels.

    >>> x = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
    >>> y = MotionBlur(size=(11, 11))(x, np.random.default_rng(1))
    >>> y.shape, bool(y.std() < x.std()), bool(abs(y.mean() - x.mean()) < 0.01)
    ((32, 32, 3), True, True)
    """

    def __init__(self, size=(7, 31), inertia=(0.5, 0.95), jerk_prob=(0.0, 0.1)):
        self.size, self.inertia, self.jerk_prob = tuple(size), tuple(inertia), tuple(jerk_prob)

    def kernel(self, rng):
        size = int(round(uniform(rng, self.size))) | 1  # odd, so the kernel has a centre tap
        return shake_kernel(size, rng, inertia=uniform(rng, self.inertia), jerk_prob=uniform(rng, self.jerk_prob))


class DefocusBlur(KernelBlur):
    """Out-of-focus blur: an antialiased :func:`disk_kernel` of ``radius`` ∈ [1, 6] px. Missed focus and
    shallow depth of field blur with a flat disk, whose ringing spectrum a Gaussian does not reproduce.

    >>> y = DefocusBlur(radius=(3, 3))(np.full((16, 16, 3), 0.5, np.float32), np.random.default_rng(0))
    >>> bool(np.allclose(y, 0.5))
    True
    """

    def __init__(self, radius=(1.0, 6.0)):
        self.radius = tuple(radius)

    def kernel(self, rng):
        return disk_kernel(uniform(rng, self.radius))


class LevinKernels(KernelBlur):
    """One of the eight measured camera-shake kernels of Levin et al. 2009 (13–27 px), drawn uniformly.

    Read from ``kernels/levin09.npz`` in :func:`restora.settings.data_dir` (or ``path``); each kernel is
    renormalised to sum 1. These are the kernels of the ``test/Levin`` benchmark, so they serve
    evaluation and kernel-given baselines; the training pipelines use :class:`MotionBlur` to keep the
    benchmark unseen.
    """

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path) if path is not None else data_dir() / "kernels" / "levin09.npz"
        if not self.path.is_file():
            raise RestoraError(
                f"Levin kernels not found at {self.path} (see shared/data/MANIFEST.md, kernels/levin09.npz)"
            )
        with np.load(self.path) as data:
            names = sorted(data.files, key=lambda n: (len(n), n))  # k1 … k8 in numeric order
            self.kernels = [(data[n] / data[n].sum()).astype(np.float32) for n in names]

    def __repr__(self) -> str:
        return f"LevinKernels(path={str(self.path)!r})"

    def kernel(self, rng):
        return self.kernels[int(rng.integers(len(self.kernels)))]
