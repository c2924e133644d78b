"""Exposure operators: the darkening half of a low-light shot (its noise is :class:`restora.degrade.LowLight`)."""

from __future__ import annotations

import numpy as np

from restora.degrade.base import Degradation, uniform
from restora.degrade.camera import linear_to_srgb, srgb_to_linear


class Underexpose(Degradation):
    r"""Under-exposure: linear light scaled by ``exposure`` e, then a darkening gamma γ on the stored values.

    :math:`y = \operatorname{sRGB}\big(e\cdot\operatorname{sRGB}^{-1}(x)\big)^{\gamma}`, e ∈ [0.05, 0.5]
    (1 to 4.3 stops, drawn log-uniformly because exposure is multiplicative) and γ ∈ [1, 1.5] (a flat
    tone curve crushes shadows more than highlights, as in the LOL low/normal pairs). Applied after
    :class:`restora.degrade.LowLight`, whose noise is that of a k-times shorter exposure gained back up,
    this gives the dark, noisy image a phone records before brightening. Clips to [0, 1].

    >>> y = Underexpose(exposure=(0.25, 0.25), gamma=(1, 1))(np.full((4, 4, 3), 0.8, np.float32), np.random.default_rng(0))
    >>> round(float(y.mean()), 2)  # two stops down: 0.8 → 0.42 in sRGB
    0.42
    """

    def __init__(self, exposure=(0.05, 0.5), gamma=(1.0, 1.5)):
        self.exposure, self.gamma = tuple(exposure), tuple(gamma)

    def __call__(self, image, rng):
        e = float(np.exp(uniform(rng, tuple(np.log(self.exposure)))))
        dark = linear_to_srgb(srgb_to_linear(np.clip(image, 0.0, 1.0)) * e)
        return np.clip(dark, 0.0, 1.0) ** np.float32(uniform(rng, self.gamma))
