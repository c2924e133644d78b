"""Noise-level estimation from a single noisy image.

Method: PCA of image patches (Chen, Zhu & Heng, "An Efficient Statistical Method for Image Noise
Level Estimation", ICCV 2015). For i.i.d. noise of variance σ², every direction of patch space carries
at least σ²; natural images occupy a low-dimensional subspace, so the smallest eigenvalues of the patch
covariance are noise only. We sort the eigenvalues and take the largest tail whose mean equals its
median (a tail of pure noise has symmetric eigenvalue spread); σ² is that mean. Unlike wavelet MAD it is
not inflated by texture, which matters on real photos. Before the PCA we keep the half of the patches
with the least gradient energy (weak-texture selection, as Liu et al. 2013 do), which removes most of
the texture that would otherwise read as noise at low σ; selecting on the noisy patches biases σ low by
a fixed factor for Gaussian noise, measured on pure noise and undone by ``SELECTION_BIAS``.

σ is returned per channel on the 0–255 scale (see docs/conventions.md) whatever the bit depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

PATCH = 7
# Fewer 7×7 patches than this (2 per dimension of patch space) leave the patch covariance, and so σ,
# undetermined: 16 × 16 pixels is the smallest square that has enough.
MIN_PATCHES = 2 * PATCH * PATCH
MAX_PATCHES = 60_000
KEEP_FRACTION = 0.5
SELECTION_BIAS = 1.083  # σ_true / σ_estimated on pure Gaussian noise with KEEP_FRACTION = 0.5
# 0.99 quantile of `_texture_energy` of 7×7 patches of unit Gaussian noise (measured on 200,000 patches); keeping
# the patches below it biases σ by 0.2 %, which is left uncorrected.
TEXTURE_ENERGY = 6.58
TEXTURE_ITERATIONS = 8


def _patches(channel: np.ndarray, rng: np.random.Generator, max_patches: int = MAX_PATCHES) -> np.ndarray:
    """(n, PATCH²) sample of overlapping patches of one channel."""
    view = np.lib.stride_tricks.sliding_window_view(channel, (PATCH, PATCH))
    h, w = view.shape[:2]
    n = h * w
    if n <= max_patches:
        return view.reshape(n, PATCH * PATCH)
    idx = rng.choice(n, size=max_patches, replace=False)
    return view[idx // w, idx % w].reshape(-1, PATCH * PATCH)


def patch_count(height: int, width: int) -> int:
    """How many overlapping 7×7 patches an image of this size has."""
    return max(0, height - PATCH + 1) * max(0, width - PATCH + 1)


def _texture_energy(p: np.ndarray) -> np.ndarray:
    """Mean squared horizontal + vertical differences of each patch (4σ² on average for white noise σ)."""
    q = p.reshape(-1, PATCH, PATCH)
    return (np.diff(q, axis=1) ** 2).mean(axis=(1, 2)) + (np.diff(q, axis=2) ** 2).mean(axis=(1, 2))


def _sigma_from_eigenvalues(eig: np.ndarray) -> float:
    eig = np.sort(np.clip(eig, 0.0, None))
    for i in range(len(eig), 0, -1):
        tail = eig[:i]
        tau = tail.mean()
        # Large image eigenvalues pull the mean above the median; once they are dropped, mean ≤ median.
        if np.sum(tail > tau) >= np.sum(tail < tau):
            return float(np.sqrt(tau))
    return float(np.sqrt(eig[0]))


def _eigen_sigma(p: np.ndarray) -> float:
    q = p - p.mean(axis=0, keepdims=True)
    return _sigma_from_eigenvalues(np.linalg.eigvalsh(q.T @ q / max(1, len(q) - 1)))


def _half_selection_sigma(p: np.ndarray) -> float:
    """Patch-PCA σ of the KEEP_FRACTION of patches with the least texture energy, corrected for that selection."""
    energy = _texture_energy(p)
    return SELECTION_BIAS * _eigen_sigma(p[energy <= np.quantile(energy, KEEP_FRACTION)])


def _pca_sigma(p: np.ndarray) -> float:
    """Patch-PCA σ of white noise with iterative weak-texture selection (Liu, Tanaka & Okutomi 2013): start from
    the half of the patches with the least texture energy, then keep the patches whose energy pure noise of the
    current σ would reach with probability 0.99, re-estimate, and repeat to a fixed point. On photos with
    little flat area the half is still texture; the noise-level threshold discards it."""
    energy = _texture_energy(p)
    sigma = _half_selection_sigma(p)
    for _ in range(TEXTURE_ITERATIONS):
        keep = energy <= TEXTURE_ENERGY * sigma**2
        if keep.sum() < MIN_PATCHES:
            break
        new = _eigen_sigma(p[keep])
        done = abs(new - sigma) <= 1e-3 * sigma
        sigma = new
        if done:
            break
    return float(sigma)


def estimate_sigma(
    pixels: np.ndarray, seed: int = 0, max_patches: int = MAX_PATCHES, iterative: bool = False
) -> np.ndarray:
    """Per-channel noise σ (0–255 scale) of an (H, W, C) float image in [0, 1]; shape (C,).

    ``max_patches`` bounds the work per channel (fewer patches: faster, noisier estimate). ``iterative``: the
    iterative weak-texture selection of :func:`_pca_sigma` (less inflated by texture at low σ); without it, the
    fixed half selection, which is the σ hint the shipped networks were trained with (``noise_hint``).

    >>> rng = np.random.default_rng(1)
    >>> clean = np.tile(np.linspace(0, 1, 256, dtype=np.float32), (256, 1))[..., None].repeat(3, 2)
    >>> s = estimate_sigma(clean + rng.normal(0, 25 / 255, clean.shape).astype(np.float32))
    >>> bool(np.all(np.abs(s - 25) < 2.5))
    True
    """
    x = np.asarray(pixels, dtype=np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    if min(x.shape[:2]) < PATCH:
        return np.zeros(x.shape[2], dtype=np.float32)
    # Huge images: a strided crop grid keeps cost bounded without changing the statistics.
    step = max(1, int(np.sqrt(x.shape[0] * x.shape[1] / 4e6)))
    if step > 1:
        x = _strided_blocks(x, step)
    rng = np.random.default_rng(seed)
    out = []
    for c in range(x.shape[2]):
        p = _patches(x[:, :, c] * 255.0, rng, max_patches).astype(np.float64)
        if iterative:
            out.append(_pca_sigma(p))
        else:
            out.append(_half_selection_sigma(p))
    return np.asarray(out, dtype=np.float32)


def _strided_blocks(x: np.ndarray, step: int, block: int = 64) -> np.ndarray:
    """Keep every `step`-th block of `block` pixels along each axis (full-resolution pixels, fewer of them)."""
    h, w = x.shape[:2]
    rows = [x[i : i + block] for i in range(0, h - block + 1, block * step)]
    y = np.concatenate(rows, axis=0)
    cols = [y[:, j : j + block] for j in range(0, w - block + 1, block * step)]
    return np.ascontiguousarray(np.concatenate(cols, axis=1))


# --- The noise of real photos: level per brightness and spatial correlation -------------------------------------
#
# Real camera noise after demosaicing, in-camera noise reduction and JPEG is signal-dependent and spatially
# correlated (neighbour correlation 0.5–0.8 on camera JPEGs), so most of its variance sits at frequencies a 7×7
# PCA cannot tell from image structure: `estimate_sigma` reads only its whitest part (a fifth of the σ on
# real/CC52). `measure_noise` measures the marginal standard deviation instead, from the flattest blocks:
#
# 1. Every BLOCK² window (on a grid of step BLOCK_STEP) gets its brightness μ (mean) and the variance v of its
#    pixels about their least-squares plane (so smooth shading does not count as noise).
# 2. The noise's normalised autocovariance ρ(dx, dy), |dx|, |dy| ≤ MAX_LAG, is measured on the residuals of the
#    flattest FLAT_QUANTILE of windows (its shape barely depends on which flat windows are used).
# 3. Windows are split into brightness bins of equal counts. In each, the FLAT_QUANTILE quantile of v is the
#    noise plus the least texture; for Gaussian noise of covariance σ²·R (R from ρ) the plane residual's
#    variance is a quadratic form whose distribution is close to (m/k)·χ²_k with m = tr(PR)/N and
#    k = tr(PR)²/tr((PR)²) (Satterthwaite), P the projection off the plane: σ²_bin = quantile / (m·χ²_k(q)/k).
#    Correlated noise has fewer degrees of freedom per window, so its low quantile lies further below σ²:
#    this is what keeps the estimate right for white and correlated noise alike.
#    Where the noise is white (`stride_ratio` < WHITE_STRIDE_RATIO) the bins' patch-PCA σ is used
#    instead: for white noise it is the std itself and far less inflated by texture.
# 4. σ of the channel = √(mean of σ²_bin) (bins hold equal numbers of windows, so this is the photo's noise
#    std); the bins' (μ, σ) are its noise level function.

BLOCK = 12
BLOCK_STEP = 4
MAX_LAG = 4
FLAT_QUANTILE = 0.2
NOISE_BINS = 6
MIN_BIN_WINDOWS = 150
TRUSTED_BINS = 3
LOW_QUANTILES = (0.05, 0.35)  # the two quantiles of window variance that give the spread of the noise variance
MIN_SHAPE = 0.5
# Below this mean `stride_ratio` the noise is white (held-out train/ photos with white noise σ 5–50: at most 1.19;
# real/CC52: at least 1.7).
WHITE_STRIDE_RATIO = 1.4
STRIDE_PATCHES = 10_000


@dataclass
class NoiseProfile:
    """The measured noise of a photo, per channel, on the 0–255 scale.

    ``sigma`` (C,): the noise's standard deviation over the photo. ``levels`` (C, K) brightness (0–1) and
    ``level_sigma`` (C, K) σ at that brightness (the noise level function). ``correlation`` (C, MAX_LAG + 1):
    normalised autocorrelation at horizontal/vertical lags 0..MAX_LAG (1 at lag 0; 0 for white noise).
    """

    sigma: np.ndarray
    levels: np.ndarray
    level_sigma: np.ndarray
    correlation: np.ndarray
    stride_ratio: np.ndarray

    @property
    def white(self) -> bool:
        """Whether the noise is white by the stride test (see :func:`stride_ratio`)."""
        return float(np.mean(self.stride_ratio)) < WHITE_STRIDE_RATIO

    @property
    def neighbour_correlation(self) -> float:
        """Mean lag-1 correlation over channels: ≈0 for white noise, 0.5–0.8 for camera JPEGs."""
        return float(np.mean(self.correlation[:, 1]))

    @property
    def correlation_length(self) -> float:
        """Pixels over which the noise stays correlated: Σ over lags ≥ 1 of ρ (both sides), +1; 1 for white."""
        return float(1.0 + 2.0 * np.clip(self.correlation[:, 1:], 0, None).sum(axis=1).mean())

    @property
    def signal_dependence(self) -> float:
        """Largest over smallest σ of the noise level function, worst channel, each +1 grey level (1: flat)."""
        return float(np.max((self.level_sigma.max(axis=1) + 1.0) / (self.level_sigma.min(axis=1) + 1.0)))

    def decorrelating_stride(self, threshold: float) -> int:
        """The smallest pixel-shuffle stride s (1, 2, 3, ..., MAX_LAG) at which the noise's correlation at
        lag s falls below ``threshold``: sub-images taken every s pixels then carry nearly white noise."""
        rho = self.correlation.mean(axis=0)
        for s in range(1, MAX_LAG):
            if rho[s] < threshold:
                return s
        return MAX_LAG

    def to_dict(self) -> dict:
        r = lambda a, n=3: [round(float(v), n) for v in a]  # noqa: E731
        return {
            "sigma": r(self.sigma, 2),
            "neighbour_correlation": round(self.neighbour_correlation, 3),
            "correlation_length_px": round(self.correlation_length, 2),
            "correlation": [r(c) for c in self.correlation],
            "signal_dependence": round(self.signal_dependence, 3),
            "stride_ratio": r(self.stride_ratio),
            "white": self.white,
            "nlf": [{"brightness": r(lv, 4), "sigma": r(sg)} for lv, sg in zip(self.levels, self.level_sigma)],
        }


def stride_ratio(pixels: np.ndarray) -> np.ndarray:
    """Per channel: patch-PCA σ of the four stride-2 sub-images (median) over that of the image itself.

    The PCA reads the noise's flattest spectral part. Sub-sampling folds the spectrum, so correlated (low-passed)
    noise reads much louder in the sub-images (2–3× on camera JPEGs) while white noise reads the same (1.0–1.2,
    a little more from texture, which sub-sampling sharpens). Unlike the neighbour correlation of the flattest
    windows, which texture at low σ makes look like correlated noise, this tells the two apart.
    """
    x = np.asarray(pixels, dtype=np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    if min(x.shape[:2]) < 4 * PATCH:
        return np.ones(x.shape[2], np.float32)
    whole = estimate_sigma(x, max_patches=STRIDE_PATCHES, iterative=True)
    subs = np.median(
        [estimate_sigma(x[i::2, j::2], max_patches=STRIDE_PATCHES, iterative=True) for i in (0, 1) for j in (0, 1)], 0
    )
    return (subs / np.maximum(whole, 0.05)).astype(np.float32)


def _window_moments(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(mean, plane-residual variance, top, left) of every BLOCK² window whose corner is on the BLOCK_STEP grid."""
    h, w = x.shape
    u = np.arange(BLOCK, dtype=np.float64) - (BLOCK - 1) / 2
    suu = BLOCK * np.sum(u * u)  # Σ over the window of the centred coordinate squared
    cols = np.broadcast_to(np.arange(w, dtype=np.float64), (h, w))
    rows = np.broadcast_to(np.arange(h, dtype=np.float64)[:, None], (h, w))

    def box(a: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(
            np.ascontiguousarray(a),
            cv2.CV_64F,
            (BLOCK, BLOCK),
            normalize=False,
            anchor=(0, 0),
            borderType=cv2.BORDER_CONSTANT,
        )

    x = x.astype(np.float64)
    s, s2, sx, sy = box(x), box(x * x), box(x * cols), box(x * rows)
    top = np.arange(0, h - BLOCK + 1, BLOCK_STEP)
    left = np.arange(0, w - BLOCK + 1, BLOCK_STEP)
    tt, ll = np.meshgrid(top, left, indexing="ij")
    s, s2, sx, sy = (a[tt, ll] for a in (s, s2, sx, sy))
    n = BLOCK * BLOCK
    mean = s / n
    cx = sx - (ll + (BLOCK - 1) / 2) * s  # Σ x·(column − window centre)
    cy = sy - (tt + (BLOCK - 1) / 2) * s
    resid = (s2 - s * mean - cx * cx / suu - cy * cy / suu) / n
    return mean.ravel(), np.clip(resid.ravel(), 0, None), tt.ravel(), ll.ravel()


def _plane_projection() -> np.ndarray:
    u = np.arange(BLOCK, dtype=np.float64) - (BLOCK - 1) / 2
    yy, xx = np.meshgrid(u, u, indexing="ij")
    a = np.stack([np.ones(BLOCK * BLOCK), xx.ravel(), yy.ravel()], axis=1)
    return np.eye(BLOCK * BLOCK) - a @ np.linalg.pinv(a)


def _autocorrelation(x: np.ndarray, tops: np.ndarray, lefts: np.ndarray, proj: np.ndarray) -> np.ndarray:
    """ρ(dy, dx) for |dy|, |dx| ≤ MAX_LAG, shape (2·MAX_LAG+1,)², from the plane residuals of the given windows."""
    idx = (
        tops[:, None, None] + np.arange(BLOCK)[None, :, None],
        lefts[:, None, None] + np.arange(BLOCK)[None, None, :],
    )
    r = (x[idx].reshape(len(tops), -1) @ proj).reshape(-1, BLOCK, BLOCK)
    k = MAX_LAG
    acf = np.zeros((2 * k + 1, 2 * k + 1))
    for dy in range(0, k + 1):
        for dx in range(-k, k + 1):
            a = r[:, dy:, max(dx, 0) : BLOCK + min(dx, 0)]
            b = r[:, : BLOCK - dy, max(-dx, 0) : BLOCK + min(-dx, 0)]
            acf[k + dy, k + dx] = acf[k - dy, k - dx] = np.mean(a * b)
    # Removing each window's plane makes the residuals' correlation dip below zero at lags of a third of the
    # window, which the noise itself does not do (camera noise is low-passed, never sharpened): clip at zero.
    return np.clip(acf / max(acf[k, k], 1e-12), 0.0, None)


def _window_noise_model(acf: np.ndarray, proj: np.ndarray) -> tuple[float, float]:
    """(m, k) of a window's plane-residual variance per unit noise variance, for noise of autocorrelation ``acf``:
    mean m = tr(PR)/N and Satterthwaite degrees of freedom k = tr(PR)²/tr((PR)²), so that it is ≈ (m/k)·χ²_k."""
    k = MAX_LAG
    pos = np.stack(np.meshgrid(np.arange(BLOCK), np.arange(BLOCK), indexing="ij"), -1).reshape(-1, 2)
    d = pos[:, None, :] - pos[None, :, :]
    inside = (np.abs(d) <= k).all(-1)
    cov = np.where(inside, acf[np.clip(d[..., 0] + k, 0, 2 * k), np.clip(d[..., 1] + k, 0, 2 * k)], 0.0)
    pr = proj @ cov @ proj
    m = np.trace(pr)
    dof = max(m * m / max(np.sum(pr * pr), 1e-12), 1.0)
    return float(m / (BLOCK * BLOCK)), float(dof)


def _gamma_shape(ratio: float, max_shape: float) -> float:
    """Shape a of the unit-mean gamma law whose LOW_QUANTILES quantiles have this ratio (low / high), at most
    ``max_shape``. A smaller ratio means a wider law: windows whose noise variance itself varies."""
    from scipy.optimize import brentq
    from scipy.stats import gamma

    lo, hi = LOW_QUANTILES
    f = lambda a: gamma.ppf(lo, a) / gamma.ppf(hi, a) - ratio  # noqa: E731  (increases with a)
    if not np.isfinite(ratio) or f(max_shape) <= 0:
        return max_shape
    if f(MIN_SHAPE) >= 0:
        return MIN_SHAPE
    return float(brentq(f, MIN_SHAPE, max_shape, xtol=1e-3))


def _bin_noise_variance(var: np.ndarray, m: float, dof: float, quantile: float) -> float:
    """Noise variance of one brightness bin from its windows' plane-residual variances ``var``.

    A window's variance is σ_w²·m·χ²_k/k; in real photos σ_w² itself varies inside a bin (the noise of one
    channel follows all three channels' brightness, in-camera processing varies over the photo), so the law of
    the variances is wider than χ²_k. We model it as σ²·m·Gamma(a)/a, a ≤ k/2, and read a from the ratio of two
    low quantiles, which texture (that only adds variance, and only to some windows) hardly reaches; σ² is then
    the ``quantile`` quantile over its expected value. For homogeneous noise a = k/2 and this is the χ² rule."""
    from scipy.stats import gamma

    q_lo, q_hi = np.quantile(var, LOW_QUANTILES)
    a = _gamma_shape(float(q_lo / max(q_hi, 1e-12)), dof / 2.0)
    return float(np.quantile(var, quantile) / (m * gamma.ppf(quantile, a) / a))


def _white_part_by_bin(channel: np.ndarray, edges: np.ndarray, rng: np.random.Generator, white: bool) -> np.ndarray:
    """`estimate_sigma`'s PCA σ (the noise's whitest part, which texture hardly inflates) per brightness bin."""
    p = _patches(channel, rng, MAX_PATCHES).astype(np.float64)
    centre = p.mean(axis=1)
    out = []
    for b in range(len(edges) - 1):
        q = p[(centre >= edges[b]) & (centre <= edges[b + 1])]
        if len(q) < 4 * PATCH * PATCH:
            out.append(np.nan)
            continue
        if white:
            out.append(_pca_sigma(q))
        else:  # the cap of correlated noise (`_texture_capped`) was set with the fixed half selection
            out.append(_half_selection_sigma(q))
    return np.asarray(out)


def _texture_capped(flat_sigma: np.ndarray, white_sigma: np.ndarray) -> np.ndarray:
    """Bins whose flattest windows are still texture read far too high; the ratio of total to white σ is a
    property of the noise's spectrum, about equal in every bin, so each bin is capped at its white part times
    the ratio of the TRUSTED_BINS bins where that ratio is lowest (the flattest ones)."""
    ratio = flat_sigma / np.maximum(white_sigma, 0.3)
    ok = np.isfinite(ratio)
    if ok.sum() < 2:
        return flat_sigma
    trusted = float(np.mean(np.sort(ratio[ok])[:TRUSTED_BINS]))
    cap = np.where(ok, trusted * np.maximum(white_sigma, 0.3), np.inf)
    return np.minimum(flat_sigma, cap)


def measure_noise(pixels: np.ndarray, quantile: float = FLAT_QUANTILE) -> NoiseProfile:
    """Noise std, noise level function and spatial correlation per channel of an (H, W, C) float image in [0, 1].

    >>> rng = np.random.default_rng(2)
    >>> clean = np.tile(np.linspace(0.1, 0.9, 256, dtype=np.float32), (256, 1))[..., None].repeat(3, 2)
    >>> p = measure_noise(clean + rng.normal(0, 10 / 255, clean.shape).astype(np.float32))
    >>> bool(np.all(np.abs(p.sigma - 10) < 1.5)), p.decorrelating_stride(0.2)
    (True, 1)
    """
    x = np.asarray(pixels, dtype=np.float32)
    if x.ndim == 2:
        x = x[:, :, None]
    channels = x.shape[2]
    if min(x.shape[:2]) < 2 * BLOCK:
        zeros = np.zeros((channels, 1), np.float32)
        acf = np.zeros((channels, MAX_LAG + 1), np.float32)
        acf[:, 0] = 1
        return NoiseProfile(
            np.zeros(channels, np.float32),
            np.full((channels, 1), 0.5, np.float32),
            zeros,
            acf,
            np.ones(channels, np.float32),
        )
    step = max(1, int(np.sqrt(x.shape[0] * x.shape[1] / 4e6)))
    if step > 1:
        x = _strided_blocks(x, step)
    proj = _plane_projection()
    rng = np.random.default_rng(0)
    ratio = stride_ratio(x)
    is_white = float(np.mean(ratio)) < WHITE_STRIDE_RATIO
    sigmas, levels, level_sigmas, corrs = [], [], [], []
    for c in range(channels):
        ch = x[:, :, c].astype(np.float64) * 255.0
        mean, var, tops, lefts = _window_moments(ch)
        bins = int(np.clip(len(var) // MIN_BIN_WINDOWS, 1, NOISE_BINS))
        edges = np.quantile(mean, np.linspace(0, 1, bins + 1))
        which = np.clip(np.searchsorted(edges, mean, side="right") - 1, 0, bins - 1)
        counts = np.bincount(which, minlength=bins)
        if np.any(counts == 0):  # many windows of one brightness (blown-out or flat areas) leave bins empty
            keep = np.flatnonzero(counts)
            which = (np.cumsum(counts > 0) - 1)[which]
            edges = np.concatenate([edges[keep], edges[-1:]])
            bins = len(keep)
        flat = np.zeros(len(var), bool)
        for b in range(bins):
            sel = np.flatnonzero(which == b)
            flat[sel[var[sel] <= np.quantile(var[sel], quantile)]] = True
        chosen = np.flatnonzero(flat)
        if len(chosen) > 2000:
            chosen = chosen[np.linspace(0, len(chosen) - 1, 2000).astype(int)]
        acf = _autocorrelation(ch, tops[chosen], lefts[chosen], proj)
        m, dof = _window_noise_model(acf, proj)
        lv, flat_sigma = [], []
        for b in range(bins):
            sel = which == b
            lv.append(float(np.median(mean[sel])) / 255.0)
            flat_sigma.append(float(np.sqrt(_bin_noise_variance(var[sel], m, dof, quantile))))
        white = _white_part_by_bin(ch, edges, rng, is_white)
        if is_white and np.all(np.isfinite(white)):
            sg = white  # white noise: the patch-PCA σ is its std, and texture hardly inflates it
        else:
            sg = _texture_capped(np.asarray(flat_sigma), white)
        total = float(np.sqrt(np.mean(sg**2)))
        # Flat white noise: per-bin PCA has fewer patches to pick flat ones from, the whole channel's reads less
        # texture (with signal-dependent noise the whole channel's would pick the quietest band: not then).
        if sg is white and (sg.max() + 1.0) / (sg.min() + 1.0) < 1.5:
            total = min(total, float(estimate_sigma(x[:, :, c : c + 1], iterative=True)[0]))
        sigmas.append(total)
        levels.append(lv)
        level_sigmas.append(sg)
        k = MAX_LAG
        corrs.append(0.5 * (acf[k, k:] + acf[k:, k]))
    kmax = max(len(v) for v in levels)
    pad = lambda a: np.concatenate([np.asarray(a), np.repeat(np.asarray(a)[-1:], kmax - len(a))])  # noqa: E731
    return NoiseProfile(
        sigma=np.asarray(sigmas, np.float32),
        levels=np.stack([pad(v) for v in levels]).astype(np.float32),
        level_sigma=np.stack([pad(v) for v in level_sigmas]).astype(np.float32),
        correlation=np.stack(corrs).astype(np.float32),
        stride_ratio=ratio.astype(np.float32),
    )
