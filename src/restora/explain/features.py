"""No-reference measurements of one restoration (input, output), the inputs of the reliability model.

Everything here is computed from the noisy input and the output alone (never a clean reference), so it
can run on a user's photo. See :data:`FEATURES` for the list and :func:`measure` for how each is defined.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from restora.engine.noise import MIN_PATCHES, patch_count
from restora.errors import RestoraError
from restora.explain.noise_map import NoiseModel, estimate_noise_model, noise_map
from restora.explain.residual import (
    DetailRisk,
    Spectrum,
    detail_at_risk,
    lag_correlation,
    luma,
    power_spectrum,
    residual,
)

JPEG_BLOCK = 8
BLOCK_JUMP, BLOCK_RATIO = 2.5, 0.5  # grey levels, log ratio: see jpeg_blocking()
SATURATED = 254.5 / 255  # a channel at the top 8-bit level (or above, for unclipped float input) is clipped
CLIP_WINDOW = 5  # px: a pixel is in a clipped area when most of its 5×5 neighbourhood is clipped
OUTLIER_SPREADS, OUTLIER_LEVELS = 6.0, 50.0  # |luma − 3×3 median| above 6 robust spreads + 50 grey levels: outlier

# Order matters: it is the order of the fitted model's coefficients.
FEATURES = (
    "log_sigma",  # log(1 + σ̄), σ̄ the mean over channels of the σ the model ran with (0–255)
    "sigma_spread",  # log(max/min) of the per-channel σ of the noise model
    "signal_dependence",  # log of the noise level function's (max + 1)/(min + 1) σ (0: same noise at every brightness)
    "removed_ratio",  # log(RMS of the residual / σ̄): how much was removed against how much noise was seen
    "whiteness",  # spectral flatness of the residual relative to white noise (1 = white)
    "low_high_ratio",  # log of residual power below 0.15 over above 0.3 cycles/px
    "residual_lag",  # lag-1 autocorrelation of the residual's luma
    "input_lag",  # lag-1 autocorrelation of the input's fine detail (input − 3×3 median): noise correlation
    "outliers",  # log10 of the share of impulse-like pixels (far from their 3×3 median; not Gaussian noise)
    "risk_fraction",  # share of the textured area where the residual follows the picture (detail at risk)
    "risk_correlation",  # texture-weighted mean local correlation of residual and output
    "textured_fraction",  # share of the photo whose structure stands above the noise
    "log_texture",  # log(1 + mean gradient magnitude of the output's luma, 0–255)
    "blockiness",  # log(1 + 8×8 JPEG block-edge jump of the input in grey levels)
    "block_ratio",  # log of the block-edge differences over the typical neighbour difference
    "highlights",  # share of the photo in clipped highlights (some channel at the top level)
    "shadows",  # share of the photo in crushed shadows (some channel at 0)
    "brightness",  # mean input luma (0–1)
)


def blockiness(pixels: np.ndarray) -> tuple[float, float]:
    """How much an 8×8 grid stands out: (jump, log ratio).

    Per direction, the mean |difference| between neighbouring pixels is taken for each of the 8 offsets of
    the grid; *jump* is the strongest offset's minus the median (grey levels, 0–255) and *log ratio* the log
    of strongest over median; both are averaged over columns and rows. The offset is searched, so a cropped
    JPEG counts too. Measured on natural photos with noise: no JPEG ≈ (0.5, 0.05); camera JPEGs of
    near-noise-free scenes (PolyU50) (1–1.7, 0.15–0.75); quality 50 (2–4, 0.2–0.4); quality 10–20 (4–11,
    0.5–1). Heavy blocking needs both a large jump and a large ratio (:func:`jpeg_blocking`).
    """
    y = luma(np.clip(pixels, 0, 1)) * 255.0
    jumps, ratios = [], []
    for diffs in (np.abs(np.diff(y, axis=1)).mean(axis=0), np.abs(np.diff(y, axis=0)).mean(axis=1)):
        n = len(diffs) // JPEG_BLOCK * JPEG_BLOCK
        if n < 2 * JPEG_BLOCK:
            return 0.0, 0.0
        by_offset = diffs[:n].reshape(-1, JPEG_BLOCK).mean(axis=0)
        jumps.append(by_offset.max() - np.median(by_offset))
        ratios.append(np.log(max(by_offset.max(), 1e-6) / max(np.median(by_offset), 1e-6)))
    return float(np.mean(jumps)), float(np.mean(ratios))


def jpeg_blocking(jump: float, log_ratio: float) -> float:
    """Heavy-blocking score: ≥ 1 when the grid's jump reaches BLOCK_JUMP grey levels *and* its log ratio
    reaches BLOCK_RATIO (JPEG quality ≲ 20 on natural photos); the smaller of the two relative amounts."""
    return float(min(jump / BLOCK_JUMP, log_ratio / BLOCK_RATIO))


def _clipped_area(clipped: np.ndarray) -> float:
    """Share of pixels where, for some channel, most of the 5×5 neighbourhood is clipped ((H, W, 3) booleans)."""
    share = cv2.blur(clipped.astype(np.float32), (CLIP_WINDOW, CLIP_WINDOW), borderType=cv2.BORDER_REFLECT)
    return float(np.mean(np.max(share, axis=2) > 0.5))


def highlight_fraction(pixels: np.ndarray) -> float:
    """Share of pixels in clipped highlights: for some channel, most of the 5×5 neighbourhood is at the top
    level. (Per channel and by majority: noise added after clipping, as in the benchmarks, leaves about half of
    a blown area above the top, and the brightest of three noisy channels would be above it far more often.)"""
    return _clipped_area(np.asarray(pixels) >= SATURATED)


def shadow_fraction(pixels: np.ndarray) -> float:
    """Share of pixels in crushed shadows: for some channel, most of the 5×5 neighbourhood is at 0."""
    return _clipped_area(np.asarray(pixels) <= 1.0 - SATURATED)


def outlier_share(pixels: np.ndarray) -> float:
    """Share of pixels whose luma d = |Y − 3×3 median| exceeds 6 robust spreads (1.4826 · median d) + 50 grey
    levels: impulse noise (dead or hot pixels, salt and pepper). Gaussian noise almost never goes so far, and
    the median-based spread is not inflated by the impulses themselves."""
    y = np.ascontiguousarray(luma(np.clip(pixels, 0, 1)) * 255.0, np.float32)
    d = np.abs(y - cv2.medianBlur(y, 3))
    spread = 1.4826 * float(np.median(d))
    return float(np.mean(d > OUTLIER_SPREADS * spread + OUTLIER_LEVELS))


def fine_detail_lag(pixels: np.ndarray) -> float:
    """Lag-1 autocorrelation of the input's luma minus its 3×3 median: ≈ 0 for white noise, > 0 for noise
    spread over neighbouring pixels (demosaicing, resampling, JPEG)."""
    y = luma(np.clip(pixels, 0, 1))
    return lag_correlation(y - cv2.medianBlur(np.ascontiguousarray(y, np.float32), 3))


class TooSmallToAnalyse(RestoraError):
    """The photo has too few pixels for its noise, and so everything derived from it, to be measured."""


def check_analysable(height: int, width: int) -> None:
    """Raise :class:`TooSmallToAnalyse` unless the photo has enough 7×7 patches to measure its noise."""
    if patch_count(height, width) < MIN_PATCHES:
        raise TooSmallToAnalyse(
            f"the photo is too small to analyse ({width} × {height} px; its noise can be measured from 16 × 16 px)"
        )


@dataclass
class Analysis:
    """Everything :mod:`restora.explain` derives from one (input, output) pair."""

    noisy: np.ndarray
    restored: np.ndarray
    sigma: np.ndarray  # (3,) σ the model ran with (0–255), or the noise model's per-channel σ
    noise_model: NoiseModel
    sigma_map: np.ndarray  # (H, W, 3) σ (0–255)
    residual: np.ndarray
    spectrum: Spectrum
    risk: DetailRisk
    features: dict


def analyse(noisy: np.ndarray, restored: np.ndarray, sigma: np.ndarray | None = None) -> Analysis:
    """Measure a restoration: noise model and map of the input, residual, its spectrum, detail at risk, features.

    ``noisy`` and ``restored``: (H, W, 3) float32 in [0, 1] (the input may exceed it: noise is not clipped in
    the benchmarks); ``sigma``: the per-channel σ (0–255) the model was given, when it takes one. Raises
    :class:`TooSmallToAnalyse` for photos with too few pixels to measure (under 16 × 16 px for a square).
    """
    noisy = np.asarray(noisy, np.float32)
    restored = np.asarray(restored, np.float32)
    check_analysable(*noisy.shape[:2])
    model = estimate_noise_model(noisy)
    smap = noise_map(noisy, model)
    sig = np.asarray(sigma, np.float32).reshape(-1) if sigma is not None else model.channel_sigma.astype(np.float32)
    if sig.size == 1:
        sig = np.repeat(sig, 3)
    r = residual(noisy, restored)
    spectrum = power_spectrum(r)
    risk = detail_at_risk(restored, r, smap)
    sigma_mean = float(np.mean(sig))
    channel = np.maximum(model.channel_sigma, 0.25)
    gx = cv2.Sobel(luma(restored) * 255.0, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(luma(restored) * 255.0, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    rms = float(np.sqrt(np.mean(np.square(r, dtype=np.float64))) * 255.0)
    jump, block_ratio = blockiness(noisy)
    features = {
        "log_sigma": float(np.log1p(sigma_mean)),
        "sigma_spread": float(np.log(channel.max() / channel.min())),
        "signal_dependence": float(np.log(max(model.signal_dependence, 1.0))),
        "removed_ratio": float(np.log(max(rms, 0.05) / max(sigma_mean, 0.5))),
        "whiteness": spectrum.whiteness,
        "low_high_ratio": float(np.log(max(spectrum.low_high_ratio, 1e-3))),
        "residual_lag": lag_correlation(r),
        "input_lag": fine_detail_lag(noisy),
        "outliers": float(np.log10(outlier_share(noisy) + 1e-4)),
        "risk_fraction": risk.at_risk_fraction,
        "risk_correlation": risk.mean_correlation,
        "textured_fraction": risk.textured_fraction,
        "log_texture": float(np.log1p(np.mean(np.hypot(gx, gy)))),
        "blockiness": float(np.log1p(jump)),
        "block_ratio": block_ratio,
        "highlights": highlight_fraction(noisy),
        "shadows": shadow_fraction(noisy),
        "brightness": float(np.mean(luma(np.clip(noisy, 0, 1)))),
    }
    return Analysis(noisy, restored, sig, model, smap, r, spectrum, risk, features)
