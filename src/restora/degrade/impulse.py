"""Impulse noise: salt-and-pepper specks, as dust and dead sensor or scanner pixels leave them."""

from __future__ import annotations

import numpy as np

from restora.degrade.base import Degradation, uniform


class SaltPepperNoise(Degradation):
    r"""Salt-and-pepper noise: each pixel is replaced, with probability :math:`p`, by 0 or 1 (equally likely).

    :math:`y_i = x_i` with probability :math:`1 - p`, :math:`0` with probability :math:`p/2`, :math:`1` with
    probability :math:`p/2`, independently per pixel. ``amount`` is the range of :math:`p` (a fraction: 0.2 is
    "20 %"), drawn uniformly per image. ``independent``: each channel of a pixel is corrupted on its own
    (a colour speck); otherwise all three channels take the same value (a black or white dust speck, the
    default, as on scans). The values are already in [0, 1].

    >>> x = np.full((200, 200, 3), 0.5, np.float32)
    >>> y = SaltPepperNoise(amount=(0.2, 0.2))(x, np.random.default_rng(0))
    >>> round(float((y[..., 0] != 0.5).mean()), 2), round(float((y == 1).mean() / (y == 0).mean()), 1)
    (0.2, 1.0)
    """

    def __init__(self, amount=(0.01, 0.3), independent: bool = False):
        self.amount, self.independent = tuple(amount), independent

    def __call__(self, image, rng):
        p = uniform(rng, self.amount)
        h, w, c = image.shape
        shape = (h, w, c) if self.independent else (h, w, 1)
        u = rng.random(shape, dtype=np.float32)
        y = np.array(image, np.float32, copy=True)
        pepper = np.broadcast_to(u < p / 2, image.shape)
        salt = np.broadcast_to((u >= p / 2) & (u < p), image.shape)
        y[pepper] = 0.0
        y[salt] = 1.0
        return y
