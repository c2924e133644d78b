r"""Rain: streak layers added or screen-blended over the image, optionally with the veil of rain accumulation.

Streaks follow the usual photographic model (Garg & Nayar 2006): sparse random drops are smeared along the
fall direction by a line kernel and softened by a Gaussian; depth layers merge by their maximum (a pixel
shows its brightest drop), giving a grey streak layer :math:`S`. It is composited in one of two ways, drawn
per image: *additive*, :math:`I = \min(1, J + S)`, the composite of Yang et al. 2017 ("Deep joint rain
detection and removal", the Rain100H synthesis; its test pairs satisfy it exactly: ``rainy − clean`` is equal
in R, G and B wherever nothing clips), or *screen*, :math:`I = 1 - (1 - J)(1 - S)`, which dims streaks
over bright areas as photographed rain does. Both only brighten (a drop adds light, never removes it).
Distant rain that no longer resolves into streaks scatters light like fog (Li et al. 2019, "heavy rain"):
half the images also get a uniform veil :math:`I = J\,t + A\,(1 - t)` (:func:`restora.degrade.haze.scatter`)
with high transmission.

>>> import numpy as np
>>> x = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
>>> y = Rain()(x, np.random.default_rng(1))
>>> y.shape, bool(y.min() >= 0 and y.max() <= 1), bool(y.mean() > x.mean())
((32, 32, 3), True, True)
"""

from __future__ import annotations

import cv2
import numpy as np

from restora.degrade.base import Degradation, uniform
from restora.degrade.blur import convolve
from restora.degrade.haze import scatter


def screen(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Screen blend :math:`1 - (1 - a)(1 - b)`: never darker than either input on [0, 1]."""
    return (1.0 - (1.0 - a) * (1.0 - b)).astype(np.float32)


def line_kernel(length: float, angle: float, width: int) -> np.ndarray:
    """An antialiased line of ``length`` px and ``width`` px at ``angle`` degrees from vertical, peak 1.

    Not normalised to sum 1: a streak keeps its drop's brightness along its length, as a drop falling
    during the exposure does.
    """
    half = int(np.ceil(length / 2)) + width
    size = 2 * half + 1
    dx, dy = np.sin(np.radians(angle)) * length / 2, np.cos(np.radians(angle)) * length / 2
    shift = 4  # cv2.line's fixed-point sub-pixel bits
    scale = 1 << shift
    p0 = (int(round((half - dx) * scale)), int(round((half - dy) * scale)))
    p1 = (int(round((half + dx) * scale)), int(round((half + dy) * scale)))
    canvas = np.zeros((size, size), np.uint8)
    cv2.line(canvas, p0, p1, 255, thickness=int(width), lineType=cv2.LINE_AA, shift=shift)
    return canvas.astype(np.float32) / 255.0


def streak_layer(
    shape: tuple[int, int],
    rng: np.random.Generator,
    density: float,
    length: float,
    angle: float,
    width: int,
    blur: float,
    brightness: float,
) -> np.ndarray:
    """One rain layer (H, W) in [0, 1]: a fraction ``density`` of pixels seeds a drop of brightness
    ``brightness`` × U[0.5, 1], smeared by :func:`line_kernel` and softened by a Gaussian of std ``blur`` px."""
    h, w = shape
    drops = (rng.random((h, w)) < density) * rng.uniform(0.5, 1.0, (h, w)) * brightness
    streaks = convolve(drops.astype(np.float32), line_kernel(length, angle, width))
    if blur > 0:
        streaks = cv2.GaussianBlur(streaks, (0, 0), blur, borderType=cv2.BORDER_REFLECT)
    return np.clip(streaks, 0.0, 1.0).astype(np.float32)


class Rain(Degradation):
    """Rain streaks in ``layers`` ∈ {1, 2, 3} depth layers, added or screen-blended, plus an optional veil.

    Per image: a fall ``angle`` ∈ [−30°, 30°] from vertical (wind), each layer within ±``spread`` = 15° of
    it (gusts cross the streaks, as in Rain100H). Per layer: ``density`` ∈ [0.0003, 0.008] drops per pixel
    (log-uniform: drizzle to downpour), ``length`` ∈ [10, 200] px, ``width`` ∈ {1, 2} px, softening
    ``blur`` ∈ [0.3, 1] px (out-of-focus drops) and ``brightness`` ∈ [0.3, 0.8]; the k-th (farther) layer
    is shorter and fainter by 1/√k. These ranges bracket Rain100H's: its rain brightens the image by 0.22 on
    average and streaks cover 70 % of pixels by more than 0.1 (our draws on its clean images, veil aside: 0.03–0.42 and 11–87 %, mean 0.12 and 39 %).
    Composite: additive with probability ``additive`` = 0.5, else screen. Veil with probability
    ``veil_prob`` = 0.5: transmission ∈ ``veil`` = [0.75, 1.0] towards a grey airlight ∈ [0.7, 1.0]; it
    keeps the model from mistaking heavy rain for haze-free contrast. Input clipped to [0, 1] first;
    output stays in [0, 1].
    """

    def __init__(
        self,
        layers=(1, 3),
        density=(0.0003, 0.008),
        length=(10.0, 200.0),
        angle=(-30.0, 30.0),
        spread=15.0,
        width=(1, 2),
        blur=(0.3, 1.0),
        brightness=(0.3, 0.8),
        additive=0.5,
        veil_prob=0.5,
        veil=(0.75, 1.0),
        airlight=(0.7, 1.0),
    ):
        self.layers, self.density, self.length, self.angle = tuple(layers), tuple(density), tuple(length), tuple(angle)
        self.spread, self.width, self.blur, self.brightness = (
            float(spread),
            tuple(width),
            tuple(blur),
            tuple(brightness),
        )
        self.additive, self.veil_prob = float(additive), float(veil_prob)
        self.veil, self.airlight = tuple(veil), tuple(airlight)

    def __call__(self, image, rng):
        out = np.clip(image, 0.0, 1.0).astype(np.float32)
        h, w, _ = out.shape
        base_angle = uniform(rng, self.angle)
        streaks = np.zeros((h, w), np.float32)
        for k in range(1, int(rng.integers(self.layers[0], self.layers[1] + 1)) + 1):
            layer = streak_layer(
                (h, w),
                rng,
                density=float(np.exp(uniform(rng, tuple(np.log(self.density))))),
                length=uniform(rng, self.length) / np.sqrt(k),
                angle=base_angle + uniform(rng, (-self.spread, self.spread)),
                width=int(rng.integers(self.width[0], self.width[1] + 1)),
                blur=uniform(rng, self.blur),
                brightness=uniform(rng, self.brightness) / np.sqrt(k),
            )
            streaks = np.maximum(streaks, layer)
        if rng.random() < self.additive:
            out = np.minimum(out + streaks[:, :, None], 1.0)
        else:
            out = screen(out, streaks[:, :, None])
        if rng.random() < self.veil_prob:
            out = scatter(
                out,
                np.full((h, w), uniform(rng, self.veil), np.float32),
                np.full(3, uniform(rng, self.airlight), np.float32),
            )
        return out.astype(np.float32)
