r"""Classical dehazing: the dark channel prior (He, Sun & Tang, CVPR 2009 / TPAMI 2011), refined by a guided filter.

In haze-free outdoor photos most local patches have some pixel that is very dark in at least one colour
channel (shadows, colourful or dark objects); haze adds airlight and lifts that minimum. With the scattering
model :math:`I = J\,t + A\,(1 - t)`:

1. **Airlight** :math:`A` — a whole-image quantity, estimated once per image by :meth:`DarkChannelPrior.prepare`
   on the engine's downscaled copy: among the 0.1% pixels with the brightest dark channel (the most haze-opaque),
   the colour of the one with the highest intensity (He et al.'s rule).
2. **Transmission** :math:`\tilde t = 1 - \omega\,\operatorname{dark}(I / A)` over 15×15 patches, ω = 0.95
   (keeps a little haze for depth perception, as in the paper).
3. **Refinement** by the guided filter with the grey image as guide, r = 40, ε = 10⁻³ (He et al. 2013 replace
   the soft matting of the 2009 paper by it), so :math:`t` follows object edges instead of 15-px blocks.
4. **Recovery** :math:`J = (I - A) / \max(t, t_0) + A`, :math:`t_0 = 0.1`.

Parameters are the papers' defaults, not tuned on our benchmarks. Everything but :math:`A` is local (receptive
radius 7 + 2·40 px, within ``halo``), so tiles with the shared :math:`A` agree with the whole image.
"""

from __future__ import annotations

import cv2
import numpy as np

from restora.engine.filters import guided_filter, luma
from restora.engine.methods import Method, context_image

PATCH = 15
PATCH_SMALL = 7  # dark-channel patch on the ≤256-px copy used for the airlight
OMEGA = 0.95
T0 = 0.1
RADIUS = 40
EPS = 1e-3
BRIGHTEST = 0.001


def dark_channel(image: np.ndarray, patch: int = PATCH) -> np.ndarray:
    """min over colour channels and a ``patch``² window (a grey erosion), (h, w) float32."""
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (patch, patch))
    return cv2.erode(np.ascontiguousarray(np.min(image, axis=2), np.float32), kernel, borderType=cv2.BORDER_REFLECT)


def estimate_airlight(image: np.ndarray, patch: int = PATCH_SMALL) -> np.ndarray:
    """He et al.'s airlight: the brightest pixel (R+G+B) among the 0.1% with the highest dark channel; (3,)."""
    dark = dark_channel(image, patch).ravel()
    n = max(1, int(round(BRIGHTEST * dark.size)))
    candidates = np.argpartition(dark, dark.size - n)[dark.size - n :]
    pixels = image.reshape(-1, 3)[candidates]
    return np.maximum(pixels[np.argmax(pixels.sum(axis=1))].astype(np.float32), 1e-3)


def transmission(image: np.ndarray, airlight: np.ndarray) -> np.ndarray:
    """Guided-filter-refined transmission map (h, w), not yet bounded below by t0."""
    raw = 1.0 - OMEGA * dark_channel(image / airlight.reshape(1, 1, 3))
    return guided_filter(luma(image), raw, RADIUS, EPS)


class DarkChannelPrior(Method):
    name = "dcp"
    halo = PATCH // 2 + 2 * RADIUS + 9  # receptive radius of dark channel + guided filter, rounded up to 96
    default_tile = 2048

    def prepare(self, small):
        return estimate_airlight(small)

    def process(self, tile, sigma, context=None):
        airlight = context.value if context is not None else estimate_airlight(context_image(tile))
        t = np.maximum(transmission(tile, airlight), T0)[:, :, None]
        return ((tile - airlight) / t + airlight).astype(np.float32)
