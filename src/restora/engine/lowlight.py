r"""Classical low-light enhancement: CLAHE, an adaptive gamma and a multi-scale Retinex.

* ``clahe`` — contrast-limited adaptive histogram equalisation (Zuiderveld 1994) of the lightness L* of
  CIELAB (``cv2.createCLAHE``, clip limit 2, 8×8 grid, on 16-bit L*), colour (a*, b*) unchanged. Its grid
  spans the whole image, so it runs on the whole image at once (``whole_image``).
* ``gamma`` — :math:`y = x^{\gamma}` with :math:`\gamma = \log 0.5 / \log \bar Y` (within [0.2, 1]),
  :math:`\bar Y` the mean luma of the whole image (from the engine's downscaled copy), so the mean is
  brought to mid-grey; per pixel given γ, so tiles agree exactly.
* ``retinex`` — multi-scale Retinex on the intensity channel with chromaticity preserved (Jobson, Rahman &
  Woodell 1997; the intensity form of Petro, Sbert & Morel, IPOL 2014):
  :math:`R = \frac13 \sum_k \big[\log I - \log (G_{\sigma_k} * I)\big]` with
  :math:`I = (R+G+B)/3`, Gaussian surrounds of σ = 1.5%, 8% and 25% of the image's long side (Jobson et al.'s
  15, 80 and 250 px for a 1000-px image), then :math:`R` is stretched linearly so its 1st and 99th percentiles
  span [0, 1] and each pixel's RGB is scaled by (stretched R) / I, limited so no channel exceeds 1. The
  surrounds are whole-image quantities: they are computed once per image on the engine's downscaled copy
  (long side 256 px, where the smallest surround is still 3.8 px) with the percentiles, and every tile
  samples them bilinearly (:func:`restora.engine.filters.sample_map`), so tiles agree exactly.

None of these removes the noise a dark photo carries; they only brighten (and CLAHE/Retinex amplify it).
"""

from __future__ import annotations

import cv2
import numpy as np

from restora.engine.filters import luma, sample_map
from restora.engine.methods import Method, context_image

CLAHE_CLIP = 2.0
CLAHE_GRID = 8
GAMMA_RANGE = (0.2, 1.0)
RETINEX_SCALES = (0.015, 0.08, 0.25)  # surround σ as a fraction of the long side
RETINEX_PERCENTILES = (1.0, 99.0)
EPS = 1.0 / 255.0


class CLAHEMethod(Method):
    name = "clahe"
    halo = 0
    whole_image = True

    def process(self, tile, sigma, context=None):
        lab = cv2.cvtColor(np.clip(tile, 0.0, 1.0).astype(np.float32), cv2.COLOR_RGB2Lab)
        lightness = np.clip(np.rint(lab[:, :, 0] * (65535.0 / 100.0)), 0, 65535).astype(np.uint16)
        clahe = cv2.createCLAHE(clipLimit=CLAHE_CLIP, tileGridSize=(CLAHE_GRID, CLAHE_GRID))
        lab[:, :, 0] = clahe.apply(lightness).astype(np.float32) * (100.0 / 65535.0)
        return cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)


def adaptive_gamma(small: np.ndarray) -> float:
    """γ that maps the mean luma of the image to 0.5, within :data:`GAMMA_RANGE`."""
    mean = float(np.clip(luma(small).mean(), 1e-4, 0.999))
    return float(np.clip(np.log(0.5) / np.log(mean), *GAMMA_RANGE))


class GammaMethod(Method):
    name = "gamma"
    halo = 0

    def prepare(self, small):
        return adaptive_gamma(small)

    def process(self, tile, sigma, context=None):
        g = context.value if context is not None else adaptive_gamma(context_image(tile))
        return np.power(np.clip(tile, 0.0, 1.0), g, dtype=np.float32)


def _intensity(image: np.ndarray) -> np.ndarray:
    return np.asarray(image, np.float32).mean(axis=2) + EPS


def retinex_context(small: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(mean log-surround map at low resolution, low and high stretch bounds) of a downscaled whole image."""
    intensity = _intensity(np.clip(small, 0.0, 1.0))
    side = max(intensity.shape)
    surround = np.zeros_like(intensity)
    for fraction in RETINEX_SCALES:
        blurred = cv2.GaussianBlur(intensity, (0, 0), fraction * side, borderType=cv2.BORDER_REFLECT)
        surround += np.log(blurred) / len(RETINEX_SCALES)
    r = np.log(intensity) - surround
    lo, hi = np.percentile(r, RETINEX_PERCENTILES)
    return surround, float(lo), float(max(hi, lo + 1e-3))


class RetinexMethod(Method):
    name = "retinex"
    halo = 0

    def prepare(self, small):
        return retinex_context(small)

    def process(self, tile, sigma, context=None):
        if context is None:  # called on its own: the tile is the whole image
            h, w = tile.shape[:2]
            value, region, shape = retinex_context(context_image(tile)), (slice(0, h), slice(0, w)), (h, w)
        else:
            value, region, shape = context.value, context.region, context.shape
        surround, lo, hi = value
        tile = np.clip(tile, 0.0, 1.0)
        h, w = tile.shape[:2]
        local = sample_map(surround, region, shape)[:h, :w]
        rows, cols = local.shape
        intensity = _intensity(tile[:rows, :cols])
        stretched = np.clip((np.log(intensity) - local - lo) / (hi - lo), 0.0, 1.0)
        gain = np.minimum(stretched / intensity, 1.0 / np.maximum(tile[:rows, :cols].max(axis=2), EPS))
        out = tile.copy()
        out[:rows, :cols] = tile[:rows, :cols] * gain[:, :, None]
        return out
