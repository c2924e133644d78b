r"""Haze: the atmospheric scattering model :math:`I = J\,t + A\,(1 - t)` (Koschmieder; He et al. 2009).

:math:`J` is the clear image, :math:`t \in (0, 1]` the per-pixel transmission (the fraction of scene
light that reaches the camera, :math:`t = e^{-\beta d}` at depth :math:`d`) and :math:`A` the airlight
colour. Applied to the stored sRGB values, as the RESIDE haze sets are, so :func:`invert_scatter` undoes
it exactly given :math:`t` and :math:`A`. No depth data is needed: pseudo-depth comes from smooth random
fields and the image's luminance.

>>> import numpy as np
>>> x = np.random.default_rng(0).random((24, 24, 3)).astype(np.float32)
>>> hazy, t, a = Haze().synthesize(x, np.random.default_rng(1))
>>> bool(np.allclose(invert_scatter(hazy, t, a), x, atol=1e-5))
True
"""

from __future__ import annotations

import cv2
import numpy as np

from restora.degrade.base import Degradation, uniform
from restora.degrade.noise import shaped_noise


def scatter(clear: np.ndarray, transmission: np.ndarray, airlight: np.ndarray) -> np.ndarray:
    """:math:`I = J\\,t + A\\,(1 - t)`; ``transmission`` (H, W) or (H, W, 1), ``airlight`` (3,)."""
    t = transmission.reshape(transmission.shape[:2] + (1,)).astype(np.float32)
    return (clear * t + np.asarray(airlight, np.float32) * (1.0 - t)).astype(np.float32)


def invert_scatter(hazy: np.ndarray, transmission: np.ndarray, airlight: np.ndarray) -> np.ndarray:
    """:math:`J = (I - A\\,(1 - t)) / t`: the clear image when :math:`t` and :math:`A` are known."""
    t = transmission.reshape(transmission.shape[:2] + (1,)).astype(np.float32)
    a = np.asarray(airlight, np.float32)
    return ((hazy - a * (1.0 - t)) / t).astype(np.float32)


def _unit_range(field: np.ndarray) -> np.ndarray:
    lo, hi = float(field.min()), float(field.max())
    return (field - lo) / (hi - lo) if hi > lo else np.zeros_like(field)


def pseudo_depth(
    image: np.ndarray, rng: np.random.Generator, luminance_weight: float, exponent: float = 3.0
) -> np.ndarray:
    r"""A smooth pseudo-depth map in [0, 1] (H, W): a mix of a smooth random field and blurred luminance.

    The random field has power spectrum :math:`P(f) \propto (f^2 + f_c^2)^{-\alpha/2}` with α = ``exponent``
    (3: large, soft blobs, like depth layers of a landscape), lightly blurred; the luminance term (blurred at 1/16 of the
    image size) makes bright regions (sky, distant light) far, as in most outdoor photos.
    ``luminance_weight`` is the weight of the latter.
    """
    h, w, _ = image.shape
    # The 1/f^α field alone is rough at pixel scale; a light blur (1/32 of the size) keeps t smooth.
    field = cv2.GaussianBlur(
        shaped_noise((h, w, 1), exponent, 0.01, rng)[:, :, 0], (0, 0), max(h, w) / 32.0, borderType=cv2.BORDER_REFLECT
    )
    field = _unit_range(field)
    luma = image.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    luma = _unit_range(cv2.GaussianBlur(luma, (0, 0), max(h, w) / 16.0, borderType=cv2.BORDER_REFLECT))
    return ((1.0 - luminance_weight) * field + luminance_weight * luma).astype(np.float32)


class Haze(Degradation):
    r"""Haze by the scattering model with a smooth random transmission map and a random airlight.

    :math:`t = t_\text{near}\,(t_\text{far}/t_\text{near})^{d}` over a pseudo-depth :math:`d \in [0, 1]`
    (:func:`pseudo_depth`, luminance weight drawn in ``luminance_weight`` ∈ [0, 0.7]), i.e.
    :math:`t = e^{-\beta d}` pinned to :math:`t_\text{near}` ∈ ``near`` = [0.6, 0.95] and
    :math:`t_\text{far}` ∈ ``far`` = [0.2, 0.6] (never above :math:`t_\text{near}`): light to dense haze,
    never opaque. Airlight brightness ∈ ``airlight`` = [0.7, 1.0] with a per-channel tint ∈ ±``tint``
    (0.05: bluish to warm skies), capped at 1. Landscapes and city views lose contrast to scattered light
    in exactly this way. Output stays in [0, 1] when the input does.
    """

    def __init__(
        self, near=(0.6, 0.95), far=(0.2, 0.6), airlight=(0.7, 1.0), tint: float = 0.05, luminance_weight=(0.0, 0.7)
    ):
        self.near, self.far, self.airlight, self.tint = tuple(near), tuple(far), tuple(airlight), tint
        self.luminance_weight = tuple(luminance_weight)

    def synthesize(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(hazy, t, A)``: the hazy image, the (H, W) transmission and the (3,) airlight."""
        clear = np.clip(image, 0.0, 1.0).astype(np.float32)
        t_near = uniform(rng, self.near)
        t_far = min(uniform(rng, self.far), t_near)
        depth = pseudo_depth(clear, rng, uniform(rng, self.luminance_weight))
        transmission = (t_near * (t_far / t_near) ** depth).astype(np.float32)
        brightness = uniform(rng, self.airlight)
        airlight = np.clip(brightness * (1.0 + rng.uniform(-self.tint, self.tint, size=3)), 0.0, 1.0).astype(np.float32)
        return scatter(clear, transmission, airlight), transmission, airlight

    def __call__(self, image, rng):
        return self.synthesize(image, rng)[0]
