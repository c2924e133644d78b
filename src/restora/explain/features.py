"""No-reference measurements of one restoration (input, output), the inputs of the reliability model.

Everything here is computed from the noisy input and the output alone (never a clean reference), so it
can run on a user's photo. See :data:`FEATURES` for the list and :func:`measure` for how each is defined.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

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
HIGHLIGHT_LEVEL = 0.97  # smoothed brightest channel at or above this is a clipped (or all but clipped) highlight
HIGHLIGHT_SMOOTHING = 2.0  # Gaussian σ (px): averages away noise added after clipping

# Order matters: it is the order of the fitted model's coefficients.
FEATURES = (
    "log_sigma",          # log(1 + σ̄), σ̄ the mean over channels of the σ the model ran with (0–255)
    "sigma_spread",       # log(max/min) of the per-channel σ of the noise model
    "signal_dependence",  # log of the noise level function's max/min σ (0: same noise at every brightness)
    "removed_ratio",      # log(RMS of the residual / σ̄): how much was removed against how much noise was seen
    "whiteness",          # spectral flatness of the residual relative to white noise (1 = white)
    "low_high_ratio",     # log of residual power below 0.15 over above 0.3 cycles/px
    "residual_lag",       # lag-1 autocorrelation of the residual's luma
    "input_lag",          # lag-1 autocorrelation of the input's fine detail (input − 3×3 median): noise correlation
    "risk_fraction",      # share of the textured area where the residual follows the picture (detail at risk)
    "risk_correlation",   # texture-weighted mean local correlation of residual and output
    "textured_fraction",  # share of the photo whose structure stands above the noise
    "log_texture",        # log(1 + mean gradient magnitude of the output's luma, 0–255)
    "blockiness",         # log of the 8×8 JPEG block-edge ratio of the input (0 = no blocking)
    "highlights",         # share of the photo in clipped highlights
    "shadows",            # share of the photo in crushed shadows (smoothed darkest channel ≤ 0.03)
    "brightness",         # mean input luma (0–1)
)


def blockiness(pixels: np.ndarray) -> float:
    """How much an 8×8 grid stands out: log of (mean |difference| across the strongest grid line offset) over
    (median over the 8 offsets), averaged over horizontal and vertical. 0 without blocking; JPEG at low
    quality reaches 0.3–1. The offset is searched, so a cropped JPEG counts too."""
    y = luma(np.clip(pixels, 0, 1)) * 255.0
    ratios = []
    for diffs in (np.abs(np.diff(y, axis=1)).mean(axis=0), np.abs(np.diff(y, axis=0)).mean(axis=1)):
        n = len(diffs) // JPEG_BLOCK * JPEG_BLOCK
        if n < 2 * JPEG_BLOCK:
            return 0.0
        by_offset = diffs[:n].reshape(-1, JPEG_BLOCK).mean(axis=0)
        ratios.append(np.log(max(by_offset.max(), 1e-6) / max(np.median(by_offset), 1e-6)))
    return float(np.mean(ratios))


def highlight_fraction(pixels: np.ndarray) -> float:
    """Share of pixels in clipped highlights (smoothed brightest channel ≥ HIGHLIGHT_LEVEL)."""
    brightest = cv2.GaussianBlur(np.ascontiguousarray(np.max(pixels, axis=2), np.float32), (0, 0), HIGHLIGHT_SMOOTHING)
    return float(np.mean(brightest >= HIGHLIGHT_LEVEL))


def shadow_fraction(pixels: np.ndarray) -> float:
    """Share of pixels in crushed shadows (smoothed darkest channel ≤ 1 − HIGHLIGHT_LEVEL)."""
    darkest = cv2.GaussianBlur(np.ascontiguousarray(np.min(pixels, axis=2), np.float32), (0, 0), HIGHLIGHT_SMOOTHING)
    return float(np.mean(darkest <= 1.0 - HIGHLIGHT_LEVEL))


def fine_detail_lag(pixels: np.ndarray) -> float:
    """Lag-1 autocorrelation of the input's luma minus its 3×3 median: ≈ 0 for white noise, > 0 for noise
    spread over neighbouring pixels (demosaicing, resampling, JPEG)."""
    y = luma(np.clip(pixels, 0, 1))
    return lag_correlation(y - cv2.medianBlur(np.ascontiguousarray(y, np.float32), 3))


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
    the benchmarks); ``sigma``: the per-channel σ (0–255) the model was given, when it takes one.
    """
    noisy = np.asarray(noisy, np.float32)
    restored = np.asarray(restored, np.float32)
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
    features = {
        "log_sigma": float(np.log1p(sigma_mean)),
        "sigma_spread": float(np.log(channel.max() / channel.min())),
        "signal_dependence": float(np.log(max(model.signal_dependence, 1.0))),
        "removed_ratio": float(np.log(max(rms, 0.05) / max(sigma_mean, 0.5))),
        "whiteness": spectrum.whiteness,
        "low_high_ratio": float(np.log(max(spectrum.low_high_ratio, 1e-3))),
        "residual_lag": lag_correlation(r),
        "input_lag": fine_detail_lag(noisy),
        "risk_fraction": risk.at_risk_fraction,
        "risk_correlation": risk.mean_correlation,
        "textured_fraction": risk.textured_fraction,
        "log_texture": float(np.log1p(np.mean(np.hypot(gx, gy)))),
        "blockiness": blockiness(noisy),
        "highlights": highlight_fraction(noisy),
        "shadows": shadow_fraction(noisy),
        "brightness": float(np.mean(luma(np.clip(noisy, 0, 1)))),
    }
    return Analysis(noisy, restored, sig, model, smap, r, spectrum, risk, features)
