"""Periodic noise: the sinusoidal patterns scanners, interference and halftone screens add to a photo."""

from __future__ import annotations

import numpy as np

from restora.degrade.base import Degradation, uniform


class PeriodicNoise(Degradation):
    r"""Additive periodic noise: a sum of :math:`K` plane sinusoids,

    :math:`y = x + \sum_{k=1}^{K} \frac{a_k}{255}\, \cos\!\big(2\pi (u_k c + v_k r) + \varphi_k\big)` at pixel
    column :math:`c`, row :math:`r`.

    ``count``: range of :math:`K` (integers, default 1–3). ``amplitude``: range of :math:`a_k` on the 0–255
    scale (default 8–30; the pattern's RMS is :math:`a_k/\sqrt 2` per component). ``frequency``: range of
    :math:`\sqrt{u_k^2 + v_k^2}` in cycles per pixel (default 0.04–0.45: fine moiré to coarse banding), at
    a uniform orientation; :math:`\varphi_k` uniform. ``colour``: probability that each channel gets its own
    amplitude (0.5–1.5 × :math:`a_k`) instead of one luminance pattern. Not clipped.

    >>> x = np.zeros((256, 256, 3), np.float32)
    >>> op = PeriodicNoise(count=(1, 1), amplitude=(20, 20), colour=0.0)
    >>> y = op(x, np.random.default_rng(0))
    >>> round(float(y.std() * 255 * np.sqrt(2)))  # a sinusoid's RMS is its amplitude / √2
    20
    """

    def __init__(self, count=(1, 3), amplitude=(8.0, 30.0), frequency=(0.04, 0.45), colour: float = 0.2):
        self.count, self.amplitude, self.frequency, self.colour = (
            tuple(count),
            tuple(amplitude),
            tuple(frequency),
            colour,
        )

    def __call__(self, image, rng):
        h, w, c = image.shape
        rows = np.arange(h, dtype=np.float64)[:, None]
        cols = np.arange(w, dtype=np.float64)[None, :]
        k = int(rng.integers(int(self.count[0]), int(self.count[1]) + 1))
        y = np.array(image, np.float32, copy=True)
        for _ in range(k):
            radius, angle = uniform(rng, self.frequency), rng.uniform(0, np.pi)
            u, v = radius * np.cos(angle), radius * np.sin(angle)
            phase = rng.uniform(0, 2 * np.pi)
            wave = np.cos(2 * np.pi * (u * cols + v * rows) + phase).astype(np.float32)
            amp = uniform(rng, self.amplitude) / 255.0
            gains = rng.uniform(0.5, 1.5, size=c) if rng.random() < self.colour else np.ones(c)
            y += wave[:, :, None] * (amp * gains).astype(np.float32)
        return y
