"""A camera pipeline in the style of "unprocessing" (Brooks et al., CVPR 2019).

Real photo noise is born in the raw mosaic, where it is white and signal-dependent per photosite; the
camera's demosaicing, white balance, colour matrix, tone curve and JPEG then make it coloured, spatially
correlated and level-dependent. So we invert the processing of a clean sRGB image to an approximate raw
mosaic, add sensor noise there, and process it forward again:

sRGB → linear (inverse sRGB curve) → camera RGB (inverse colour matrix) → inverse white balance →
RGGB mosaic → shot + read noise → demosaic → white balance → colour matrix → sRGB curve → clip → JPEG.
"""

from __future__ import annotations

import cv2
import numpy as np

from restora.degrade.base import Degradation, uniform
from restora.degrade.compression import encode_jpeg


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """The sRGB transfer function's inverse (IEC 61966-2-1)."""
    x = np.asarray(x, np.float32)
    return np.where(x <= 0.04045, x / 12.92, ((np.clip(x, 0.04045, None) + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(np.asarray(x, np.float32), 0.0, None)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055).astype(
        np.float32
    )


def random_colour_matrix(rng: np.random.Generator, spread: float = 0.25) -> np.ndarray:
    """A camera-to-sRGB-like matrix: identity plus random cross-talk, rows summing to 1 (greys stay grey)."""
    m = np.eye(3) + rng.uniform(-spread, spread, (3, 3)) * (1 - np.eye(3))
    m[np.diag_indices(3)] += 1 - m.sum(axis=1)
    return m.astype(np.float32)


def mosaic_rggb(x: np.ndarray) -> np.ndarray:
    """(H, W, 3) → (H, W) Bayer RGGB mosaic (H, W even)."""
    out = np.empty(x.shape[:2], np.float32)
    out[0::2, 0::2] = x[0::2, 0::2, 0]
    out[0::2, 1::2] = x[0::2, 1::2, 1]
    out[1::2, 0::2] = x[1::2, 0::2, 1]
    out[1::2, 1::2] = x[1::2, 1::2, 2]
    return out


def demosaic_rggb(bayer: np.ndarray, method: str = "bilinear") -> np.ndarray:
    """RGGB mosaic in [0, 1] → (H, W, 3) with OpenCV (``bilinear`` or edge-aware ``ea``), 16-bit internally."""
    u16 = np.rint(np.clip(bayer, 0, 1) * 65535).astype(np.uint16)
    # OpenCV names Bayer patterns by the second row's first two pixels: RGGB is "BayerBG" there.
    code = cv2.COLOR_BayerBG2RGB_EA if method == "ea" else cv2.COLOR_BayerBG2RGB
    return cv2.cvtColor(u16, code).astype(np.float32) / 65535.0


def camera_noise_reduction(noise: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a camera's noise reduction leaves of processed noise (H, W, 3): CameraPipeline's docstring."""
    luma = noise.mean(axis=2, keepdims=True)
    chroma = noise - luma
    s = uniform(rng, (0.7, 2.5))
    s_c = s * uniform(rng, (1.5, 3.0))
    k, k_c = uniform(rng, (0.1, 0.5)), uniform(rng, (0.0, 0.2))
    luma_lf = cv2.GaussianBlur(luma[..., 0], (0, 0), s)[..., None]
    chroma_lf = cv2.GaussianBlur(chroma, (0, 0), s_c)
    return (k * luma + (1 - k) * luma_lf + k_c * chroma + (1 - k_c) * chroma_lf).astype(np.float32)


class CameraPipeline(Degradation):
    """Unprocess → raw sensor noise → reprocess → optional JPEG (module docstring has the chain).

    Parameters (drawn per image): ``shot`` a ∈ [1e-4, 1.2e-2] (log-uniform; ISO 100–6400 on a phone
    sensor), read σ from the log-linear shot/read relation of Brooks et al. with scatter; red/blue white
    balance gains ∈ [1.6, 2.4] / [1.3, 1.9]; colour cross-talk ±0.25; demosaic bilinear or edge-aware;
    JPEG with probability ``jpeg_prob`` at quality ∈ [60, 95]. Output clipped to [0, 1].

    In-camera noise reduction (probability ``isp_nr_prob``): a camera's JPEG engine smooths the noise it
    sees and keeps edges, so what survives in its JPEGs is low-frequency, blotchy noise, chroma most of all.
    We model its result on the processed noise :math:`n` = noisy − clean (both through the same pipeline),
    split into luminance :math:`n_Y` (channel mean) and chroma :math:`n_C = n - n_Y`:
    :math:`n' = k\\,n_Y + (1-k)\\,G_s * n_Y + k_C\\,n_C + (1-k_C)\\,G_{s_C} * n_C`, with kept high-frequency
    share k ∈ [0.1, 0.5], blur s ∈ [0.7, 2.5] px, chroma k_C ∈ [0, 0.2] and s_C = s × [1.5, 3]. The image's
    detail is untouched (an ideal edge-preserving filter), so a model learns that these blotches are noise.
    """

    def __init__(self, shot=(1e-4, 1.2e-2), jpeg_prob: float = 0.5, jpeg_quality=(60, 95), isp_nr_prob: float = 0.0):
        self.shot, self.jpeg_prob, self.jpeg_quality = tuple(shot), jpeg_prob, tuple(jpeg_quality)
        self.isp_nr_prob = isp_nr_prob

    def __call__(self, image, rng):
        h, w, _ = image.shape
        ph, pw = h % 2, w % 2
        x = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="edge") if (ph or pw) else image
        ccm = random_colour_matrix(rng)
        gains = np.array([uniform(rng, (1.6, 2.4)), 1.0, uniform(rng, (1.3, 1.9))], np.float32)
        lin = srgb_to_linear(np.clip(x, 0, 1))
        cam = np.clip(lin @ np.linalg.inv(ccm).T.astype(np.float32), 0, 1) / gains
        raw = mosaic_rggb(cam)
        log_a = uniform(rng, tuple(np.log(self.shot)))
        a = np.exp(log_a)
        read = np.exp(2.18 * log_a + 1.2 + rng.normal(0, 0.26))  # variance, Brooks et al.'s fit
        noisy = raw + rng.standard_normal(raw.shape, dtype=np.float32) * np.sqrt(
            a * np.clip(raw, 0, None) + read
        ).astype(np.float32)
        method = "ea" if rng.random() < 0.5 else "bilinear"

        def develop(mosaic):
            rgb = demosaic_rggb(np.clip(mosaic, 0, 1), method)
            return linear_to_srgb(np.clip((rgb * gains) @ ccm.T, 0, 1))[:h, :w]

        out = develop(noisy)
        if self.isp_nr_prob and rng.random() < self.isp_nr_prob:
            clean = develop(raw)
            out = np.clip(clean + camera_noise_reduction(out - clean, rng), 0, 1)
        if rng.random() < self.jpeg_prob:
            out = encode_jpeg(out, int(round(uniform(rng, self.jpeg_quality))))
        return out
