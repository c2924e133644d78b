"""Per-pixel noise-level map from the noisy photo alone, through the photo's noise level function.

Method (a robust local estimator, no network): the *noise level function* (NLF) σ_c(μ) of each channel —
noise σ as a function of local brightness μ, which is how real sensor noise varies across a photo
(shot noise grows with signal; the tone curve and JPEG reshape it) — is estimated from the photo's
patches, then read off at every pixel's local brightness:

1. Sample up to ``MAX_PATCHES`` overlapping 7×7 patches per channel; each patch's mean is its brightness μ.
2. Split the patches into ``BINS`` brightness bins of equal counts (quantiles of μ).
3. In each bin, find the noise σ from *weak-texture* patches by PCA (the eigenvalue-tail estimator of
   :mod:`restora.engine.noise`, Chen et al. ICCV 2015), selecting patches iteratively as Liu, Tanaka &
   Okutomi do ("Single-image noise level estimation for blind denoising", TIP 2013): start from the half
   with the least gradient energy, then keep the patches whose gradient energy is below what pure noise
   of the current σ reaches in ``NOISE_QUANTILE`` of patches (``ENERGY_PER_VARIANCE`` · σ²), re-estimate,
   repeat until σ settles. Texture stronger than noise never passes, so low σ in textured photos is not
   read high. The selection's small downward bias on pure noise is undone by ``SELECTION_BIAS``.
4. The map at a pixel is the NLF (linear interpolation between bin centres, constant beyond the ends)
   at that pixel's local 7×7 mean, per channel.

The map therefore varies with brightness (as signal-dependent noise does) but not otherwise across the
frame: noise that changes between regions of equal brightness (a composite) is averaged. σ is on the
0–255 scale. For spatially correlated noise the estimator, like the one the denoiser is trained with,
sees the part of the noise that 7×7 patches can tell from image structure, i.e. less than the marginal σ.
Measured errors on synthetic noise of known σ: ``benchmarks/noise_map_eval.py`` and ``benchmarks/RESULTS.md``.

The noise model reported with the map is a weighted least-squares fit of the NLF to the heteroscedastic
Gaussian model of raw sensors, Var = a·μ + b on the [0, 1] scale (Foi et al. 2008; ``a`` is the *shot*
parameter, √b·255 the *read* σ), as used by :class:`restora.degrade.PoissonGaussianNoise`.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.optimize import nnls

from restora.engine.noise import MIN_PATCHES, PATCH, _patches, _sigma_from_eigenvalues, patch_count

MAX_PATCHES = 40_000  # per channel; bounds the cost on large photos
BINS = 8
MIN_BIN_PATCHES = (
    2000  # fewer patches per bin than this: fewer bins (the PCA tail over 49 dimensions is biased low on few)
)
NOISE_QUANTILE = 0.9
ITERATIONS = 5
# Gradient energy of a 7×7 patch of unit white noise (mean squared horizontal + vertical differences):
# its NOISE_QUANTILE quantile, and the σ bias of keeping patches below it (1 / estimate on pure noise).
# Measured by `_calibrate_selection()` on 40 000–160 000 patches of N(0, 1) noise (spread between draws:
# ±0.03 for the energy, ±0.002 for the bias, ±0.008 for the starting half's bias, which only seeds the loop).
ENERGY_PER_VARIANCE = 5.24
SELECTION_BIAS = 1.020
HALF_SELECTION_BIAS = 1.085  # same, for the starting selection (the half with least energy)


def _gradient_energy(p: np.ndarray) -> np.ndarray:
    q = p.reshape(-1, PATCH, PATCH)
    return (np.diff(q, axis=1) ** 2).mean(axis=(1, 2)) + (np.diff(q, axis=2) ** 2).mean(axis=(1, 2))


def _pca_sigma(p: np.ndarray) -> float:
    # The 49×49 covariance with OpenCV rather than ``q.T @ q``: it is computed dozens of times per photo, and
    # multithreaded BLAS on such small products slows down by 10–100× when the cores are busy with other work.
    cov = cv2.mulTransposed(np.ascontiguousarray(p, np.float64), True, delta=p.mean(axis=0, keepdims=True))
    return _sigma_from_eigenvalues(np.linalg.eigvalsh(cov / max(1, len(p) - 1)))


def _bin_sigma(p: np.ndarray, energy: np.ndarray) -> float:
    """σ of one brightness bin's patches by iterative weak-texture selection (module docstring, step 3)."""
    sigma = HALF_SELECTION_BIAS * _pca_sigma(p[energy <= np.quantile(energy, 0.5)])
    for _ in range(ITERATIONS):
        keep = energy <= ENERGY_PER_VARIANCE * sigma * sigma
        if keep.sum() < MIN_PATCHES:
            break
        new = SELECTION_BIAS * _pca_sigma(p[keep])
        settled = abs(new - sigma) <= 0.01 * sigma
        sigma = new
        if settled:
            break
    return float(sigma)


@dataclass
class NoiseModel:
    """The estimated noise of a photo.

    ``levels`` (C, K): brightness of each NLF point (0–1); ``sigma`` (C, K): noise σ there (0–255).
    ``shot`` (C,): a of Var = a·μ + b on the [0, 1] scale; ``read`` (C,): √b on the 0–255 scale.
    ``fit_r2`` (C,): how much of the NLF's variation the shot/read model explains (1 = all; NaN when the
    NLF is flat, i.e. signal-independent noise).
    """

    levels: np.ndarray
    sigma: np.ndarray
    shot: np.ndarray
    read: np.ndarray
    fit_r2: np.ndarray

    def sigma_at(self, brightness: np.ndarray, channel: int) -> np.ndarray:
        """σ (0–255) of ``channel`` at the given brightness values (0–1)."""
        return np.interp(brightness, self.levels[channel], self.sigma[channel]).astype(np.float32)

    @property
    def channel_sigma(self) -> np.ndarray:
        """One σ per channel: the NLF's median over its (equal-count) brightness bins."""
        return np.median(self.sigma, axis=1)

    @property
    def signal_dependence(self) -> float:
        """Ratio of the NLF's largest to smallest σ, worst channel (1 = the same noise at every brightness).
        Each σ counts one grey level more, so noise far below one level (8-bit rounding alone is σ 0.29)
        does not make huge ratios out of tiny differences."""
        return float(np.max((self.sigma.max(axis=1) + 1.0) / (self.sigma.min(axis=1) + 1.0)))

    def to_dict(self) -> dict:
        return {
            "channel_sigma": [round(float(s), 3) for s in self.channel_sigma],
            "shot": [float(f"{a:.4g}") for a in self.shot],
            "read": [round(float(r), 3) for r in self.read],
            "fit_r2": [None if not np.isfinite(r) else round(float(r), 3) for r in self.fit_r2],
            "nlf": [
                {"brightness": [round(float(v), 4) for v in lv], "sigma": [round(float(v), 3) for v in sg]}
                for lv, sg in zip(self.levels, self.sigma)
            ],
        }


def _fit_shot_read(levels: np.ndarray, sigma: np.ndarray, weights: np.ndarray) -> tuple[float, float, float]:
    """Non-negative weighted least squares of (σ/255)² = a·μ + b; returns (a, √b·255, R²)."""
    var = (sigma / 255.0) ** 2
    w = np.sqrt(weights)
    (a, b), _ = nnls(np.stack([levels, np.ones_like(levels)], axis=1) * w[:, None], var * w)
    pred = a * levels + b
    total = np.sum(weights * (var - np.average(var, weights=weights)) ** 2)
    r2 = 1.0 - np.sum(weights * (var - pred) ** 2) / total if total > 1e-14 else float("nan")
    return float(a), float(np.sqrt(b) * 255.0), float(r2)


def estimate_noise_model(pixels: np.ndarray, seed: int = 0, max_patches: int = MAX_PATCHES) -> NoiseModel:
    """The noise level function of each channel of an (H, W, C) float image in [0, 1] (module docstring)."""
    x = np.asarray(pixels, dtype=np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    channels = x.shape[2]
    if patch_count(*x.shape[:2]) < MIN_PATCHES:  # too small to measure: no noise seen
        zeros = np.zeros((channels, 1), np.float32)
        return NoiseModel(
            np.full((channels, 1), 0.5, np.float32),
            zeros,
            np.zeros(channels),
            np.zeros(channels),
            np.full(channels, np.nan),
        )
    rng = np.random.default_rng(seed)
    levels, sigmas, fits = [], [], []
    for c in range(channels):
        p = _patches(x[:, :, c] * 255.0, rng, max_patches).astype(np.float64)
        mean, energy = p.mean(axis=1), _gradient_energy(p)
        bins = int(np.clip(len(p) // MIN_BIN_PATCHES, 1, BINS))
        edges = np.quantile(mean, np.linspace(0.0, 1.0, bins + 1))
        bin_levels, bin_sigmas, bin_counts = [], [], []
        for k in range(bins):
            sel = (mean >= edges[k]) & (mean <= edges[k + 1])
            if sel.sum() < MIN_PATCHES:
                continue
            bin_levels.append(np.median(mean[sel]) / 255.0)
            bin_sigmas.append(_bin_sigma(p[sel], energy[sel]))
            bin_counts.append(sel.sum())
        lv, sg = np.asarray(bin_levels), np.asarray(bin_sigmas)
        levels.append(lv)
        sigmas.append(sg)
        fits.append(_fit_shot_read(lv, sg, np.asarray(bin_counts, np.float64)))
    k = max(len(lv) for lv in levels)
    # Channels can end with different bin counts (ties in flat images): pad by repeating the last point.
    pad = lambda a: np.concatenate([a, np.repeat(a[-1:], k - len(a))])  # noqa: E731
    return NoiseModel(
        levels=np.stack([pad(lv) for lv in levels]).astype(np.float32),
        sigma=np.stack([pad(sg) for sg in sigmas]).astype(np.float32),
        shot=np.array([f[0] for f in fits]),
        read=np.array([f[1] for f in fits]),
        fit_r2=np.array([f[2] for f in fits]),
    )


def local_brightness(pixels: np.ndarray) -> np.ndarray:
    """Each pixel's 7×7 mean (the brightness the NLF is indexed by), per channel; (H, W, C) float32."""
    x = np.ascontiguousarray(pixels, dtype=np.float32)
    out = cv2.blur(x, (PATCH, PATCH), borderType=cv2.BORDER_REFLECT)
    return out.reshape(x.shape)


def noise_map(pixels: np.ndarray, model: NoiseModel | None = None) -> np.ndarray:
    """Per-pixel, per-channel noise σ (0–255 scale) of an (H, W, 3) float image in [0, 1]; (H, W, 3) float32.

    >>> rng = np.random.default_rng(0)
    >>> clean = np.tile(np.linspace(0.1, 0.9, 200, dtype=np.float32), (200, 1))[..., None].repeat(3, 2)
    >>> m = noise_map(clean + rng.normal(0, 20 / 255, clean.shape).astype(np.float32))
    >>> bool(abs(float(m.mean()) - 20) < 1.5)
    True
    """
    x = np.asarray(pixels, dtype=np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    model = model or estimate_noise_model(x)
    brightness = local_brightness(x)
    out = np.empty(x.shape, np.float32)
    for c in range(x.shape[2]):
        out[:, :, c] = model.sigma_at(brightness[:, :, c], c)
    return out


def overall_sigma(sigma_map: np.ndarray) -> np.ndarray:
    """(H, W) σ of the colour noise at each pixel: root mean square of the per-channel σ."""
    return np.sqrt(np.mean(np.square(sigma_map, dtype=np.float32), axis=2))


NOISE_SCALE_MIN = 2.0  # the colour scale of a noise-map view reaches at least this σ


def noise_map_scale(overall: np.ndarray) -> float:
    """The top of a noise-map view's colour scale for this photo: σ on the 0–255 scale, 1.2 × the map's 99.5th
    percentile rounded up to a whole grey level, at least :data:`NOISE_SCALE_MIN`. Per photo, so that a camera
    JPEG's σ 2–6 fills the colours as a σ 40 scan does; every view states its scale.

    >>> noise_map_scale(np.full((4, 4), 10.0))
    12.0
    >>> noise_map_scale(np.zeros((4, 4)))
    2.0
    """
    top = 1.2 * float(np.percentile(np.asarray(overall, np.float32), 99.5))
    return max(NOISE_SCALE_MIN, float(np.ceil(round(top, 6))))  # round: 1.2 × 25 is 30, not 31


def noise_map_overall(image) -> np.ndarray:
    """Drop-in for the web page's ``noise_map(image) -> (H, W) σ``: an Image or (H, W[, 3]) float array in [0, 1]."""
    pixels = getattr(image, "pixels", image)
    pixels = np.asarray(pixels, dtype=np.float32)
    if pixels.ndim == 2:
        pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    return np.ascontiguousarray(overall_sigma(noise_map(pixels)))


def _calibrate_selection(samples: int = 40_000, seed: int = 5) -> tuple[float, float, float]:
    """Re-measure (ENERGY_PER_VARIANCE, SELECTION_BIAS, HALF_SELECTION_BIAS) on unit white noise."""
    rng = np.random.default_rng(seed)
    side = int(np.sqrt(samples)) + PATCH
    p = _patches(rng.standard_normal((side, side)), rng, samples).astype(np.float64)
    energy = _gradient_energy(p)
    threshold = float(np.quantile(energy, NOISE_QUANTILE))
    return (
        threshold,
        1.0 / _pca_sigma(p[energy <= threshold]),
        1.0 / _pca_sigma(p[energy <= np.quantile(energy, 0.5)]),
    )
