"""What the restoration removed: the residual, its power spectrum, and where it took image detail with it.

* **Residual** r = input − output, exactly, per pixel and channel ([0, 1] scale, float32).
* **Power spectrum**: Welch's estimate on the residual's BT.601 luma: non-overlapping 64×64 blocks, each
  with its mean removed and a Hann window, |FFT|² averaged over blocks. White noise has a flat spectrum.
  Its *whiteness* is the spectral flatness (geometric over arithmetic mean of the 2-D spectrum without the
  DC term) divided by the flatness that white noise reaches with the same number of blocks
  (:math:`e^{\\psi(M)}/M` for M averaged periodograms), so 1 means white whatever the image size.
* **Detail at risk**: at each pixel, the local correlation ρ between the residual's luma and the output's
  luma in a Gaussian window of ``RISK_WINDOW`` px (means removed):
  :math:`\\rho = \\operatorname{cov}_w(r, \\hat x) / \\sqrt{\\operatorname{var}_w(r)\\,\\operatorname{var}_w(\\hat x)}`.
  Noise is independent of the image, so where only noise was removed ρ ≈ 0; where edges or texture were
  taken out with it, the residual repeats the image's structure and ρ > 0 (cf. the "method noise" of
  Buades, Coll & Morel 2005). It is weighted by ``texture``, which is 0 where the output is flat at the
  noise scale (local structure std < ``FLAT_SNR`` · σ) and 1 where it is clearly textured (> ``TEXTURE_SNR`` · σ):
  in flat areas any noise the output kept is correlated with the noise removed, which says nothing about
  detail. Limitation: texture wiped out completely (flat output) shows as flat, not at risk.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.special import digamma

LUMA = np.array([0.299, 0.587, 0.114], np.float32)
WELCH_BLOCK = 64
MAX_WELCH_BLOCKS = 400
RISK_WINDOW = 3.0  # Gaussian σ (px) of the local correlation window
FLAT_SNR, TEXTURE_SNR = 1.0, 3.0
RISK_THRESHOLD = 0.3  # ρ above this (≈ 4 standard deviations of ρ for pure noise in the window) is "at risk"
WHITE_THRESHOLD = 0.85  # whiteness at or above this reads as white noise
STRUCTURE_THRESHOLD = 0.10  # fraction of the textured area at risk above which the residual "contains image structure"
RESIDUAL_GAIN = 4.0  # 8-bit view of the residual: 0.5 + gain · r


def residual(noisy: np.ndarray, restored: np.ndarray) -> np.ndarray:
    """input − output, per pixel and channel, float32 on the [0, 1] scale (exact: no clipping, no offset)."""
    a, b = np.asarray(noisy, np.float32), np.asarray(restored, np.float32)
    if a.shape != b.shape:
        raise ValueError(f"input {a.shape} and output {b.shape} differ in shape")
    return a - b


def residual_view(r: np.ndarray, gain: float = RESIDUAL_GAIN) -> np.ndarray:
    """(H, W, 3) uint8 view of a residual: mid-grey is 0, amplified ``gain`` times."""
    return np.clip(np.rint((0.5 + gain * np.asarray(r, np.float32)) * 255.0), 0, 255).astype(np.uint8)


def luma(pixels: np.ndarray) -> np.ndarray:
    """BT.601 luma of (H, W, 3) values, same scale as the input; (H, W) float32."""
    return np.asarray(pixels, np.float32) @ LUMA


@dataclass
class Spectrum:
    """Radially averaged power spectrum of the residual and what it says.

    ``frequency``: cycles per pixel (0–0.5); ``power``: mean |FFT|² per pixel in (0–255)² units, normalised
    so that white noise of σ has power σ²; ``whiteness``: flatness relative to white noise (module docstring);
    ``low_high_ratio``: power below 0.15 cycles/px over power above 0.3 (1 for white noise, > 1 when the
    residual holds coarse structure or correlated noise).
    """

    frequency: np.ndarray
    power: np.ndarray
    whiteness: float
    low_high_ratio: float
    blocks: int


def power_spectrum(r: np.ndarray, max_blocks: int = MAX_WELCH_BLOCKS) -> Spectrum:
    """Welch power spectrum of a residual's luma (0–255 scale); see :class:`Spectrum`."""
    y = luma(r) * 255.0 if np.asarray(r).ndim == 3 else np.asarray(r, np.float32) * 255.0
    b = WELCH_BLOCK if min(y.shape) >= WELCH_BLOCK else int(2 ** np.floor(np.log2(max(8, min(y.shape)))))
    b = min(b, *y.shape)
    rows, cols = y.shape[0] // b, y.shape[1] // b
    blocks = y[: rows * b, : cols * b].reshape(rows, b, cols, b).transpose(0, 2, 1, 3).reshape(-1, b, b)
    if len(blocks) > max_blocks:  # evenly spread subset keeps the cost bounded on large photos
        blocks = blocks[np.linspace(0, len(blocks) - 1, max_blocks).astype(int)]
    window = np.outer(np.hanning(b), np.hanning(b)).astype(np.float32)
    blocks = (blocks - blocks.mean(axis=(1, 2), keepdims=True)) * window
    psd = (np.abs(np.fft.fft2(blocks)) ** 2).mean(axis=0) / np.sum(window**2)
    fy, fx = np.meshgrid(np.fft.fftfreq(b), np.fft.fftfreq(b), indexing="ij")
    radius = np.hypot(fy, fx)
    valid = radius > 0
    p = psd[valid].astype(np.float64)
    m = len(blocks)
    expected_flatness = float(np.exp(digamma(m)) / m)  # E-flatness of M averaged periodograms of white noise
    flat = float(np.exp(np.mean(np.log(np.maximum(p, 1e-20)))) / max(p.mean(), 1e-20)) if p.mean() > 0 else 1.0
    edges = np.linspace(0, 0.5, b // 2 + 1)
    idx = np.digitize(radius[valid], edges) - 1
    keep = idx < len(edges) - 1
    sums = np.bincount(idx[keep], weights=p[keep], minlength=len(edges) - 1)
    counts = np.bincount(idx[keep], minlength=len(edges) - 1)
    power = sums / np.maximum(counts, 1)
    centres = (edges[:-1] + edges[1:]) / 2
    low = p[radius[valid] < 0.15].mean() if np.any(radius[valid] < 0.15) else np.nan
    high = p[radius[valid] > 0.3].mean() if np.any(radius[valid] > 0.3) else np.nan
    ratio = float(low / high) if high and high > 0 else 1.0
    return Spectrum(centres[counts > 0], power[counts > 0], min(1.0, flat / expected_flatness), ratio, m)


def lag_correlation(r: np.ndarray) -> float:
    """Mean of the horizontal and vertical lag-1 autocorrelation of a residual's luma (0 for white noise)."""
    y = luma(r) if np.asarray(r).ndim == 3 else np.asarray(r, np.float32)
    y = y - y.mean()
    var = float(np.mean(y * y))
    if var <= 0:
        return 0.0
    return float((np.mean(y[:, 1:] * y[:, :-1]) + np.mean(y[1:] * y[:-1])) / (2 * var))


@dataclass
class DetailRisk:
    """``correlation`` ρ (H, W) in [-1, 1]; ``texture`` weight (H, W) in [0, 1]; ``risk`` = max(ρ, 0)·texture;
    ``at_risk_fraction``: share of the textured area (texture-weighted) where ρ > RISK_THRESHOLD;
    ``mean_correlation``: texture-weighted mean of ρ."""

    correlation: np.ndarray
    texture: np.ndarray
    risk: np.ndarray
    at_risk_fraction: float
    mean_correlation: float
    textured_fraction: float


def _smooth(x: np.ndarray) -> np.ndarray:
    return cv2.GaussianBlur(x, (0, 0), RISK_WINDOW, borderType=cv2.BORDER_REFLECT)


def detail_at_risk(restored: np.ndarray, r: np.ndarray, sigma_map: np.ndarray) -> DetailRisk:
    """Where the residual ``r`` repeats the output's structure (module docstring).

    ``restored`` (H, W, 3) in [0, 1]; ``r`` its residual; ``sigma_map`` (H, W, 3) or (H, W) noise σ (0–255).
    """
    o = luma(restored) * 255.0
    e = luma(r) * 255.0
    mo, me = _smooth(o), _smooth(e)
    var_o = np.maximum(_smooth(o * o) - mo * mo, 0.0)
    var_e = np.maximum(_smooth(e * e) - me * me, 0.0)
    cov = _smooth(o * e) - mo * me
    rho = cov / np.sqrt(var_o * var_e + 1e-3)
    s = np.asarray(sigma_map, np.float32)
    sigma_y = s @ LUMA if s.ndim == 3 else s  # luma noise σ if the channels' noise is shared (an upper bound)
    snr = np.sqrt(var_o) / np.maximum(sigma_y, 0.5)
    texture = np.clip((snr - FLAT_SNR) / (TEXTURE_SNR - FLAT_SNR), 0.0, 1.0).astype(np.float32)
    risk = np.clip(rho, 0.0, 1.0) * texture
    weight = float(texture.sum())
    frac = float((texture * (rho > RISK_THRESHOLD)).sum() / weight) if weight > 0 else 0.0
    mean_rho = float((texture * rho).sum() / weight) if weight > 0 else 0.0
    return DetailRisk(rho.astype(np.float32), texture, risk.astype(np.float32), frac, mean_rho, weight / texture.size)


def reading(spectrum: Spectrum, risk: DetailRisk) -> str:
    """One line a person can read: what kind of thing the residual is."""
    if risk.at_risk_fraction > STRUCTURE_THRESHOLD:
        return (
            f"The residual contains image structure: in {risk.at_risk_fraction:.0%} of the textured area the "
            "removed part follows the picture's edges and texture (see the detail-at-risk map)."
        )
    if spectrum.whiteness >= WHITE_THRESHOLD:
        return "The residual is close to white noise: what was removed has a flat spectrum and does not follow the picture."
    return (
        "The residual is spatially correlated noise rather than image structure: its spectrum is not flat (as for "
        "camera noise after demosaicing or JPEG), but it does not follow the picture."
    )
