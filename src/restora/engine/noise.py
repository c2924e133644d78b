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

import numpy as np

PATCH = 7
# Fewer 7×7 patches than this (2 per dimension of patch space) leave the patch covariance, and so σ,
# undetermined: 16 × 16 pixels is the smallest square that has enough.
MIN_PATCHES = 2 * PATCH * PATCH
MAX_PATCHES = 60_000
KEEP_FRACTION = 0.5
SELECTION_BIAS = 1.083  # σ_true / σ_estimated on pure Gaussian noise with KEEP_FRACTION = 0.5


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


def _weak_texture(p: np.ndarray) -> np.ndarray:
    """The KEEP_FRACTION of patches with the lowest mean squared horizontal + vertical differences."""
    q = p.reshape(-1, PATCH, PATCH)
    energy = (np.diff(q, axis=1) ** 2).mean(axis=(1, 2)) + (np.diff(q, axis=2) ** 2).mean(axis=(1, 2))
    return p[energy <= np.quantile(energy, KEEP_FRACTION)]


def _sigma_from_eigenvalues(eig: np.ndarray) -> float:
    eig = np.sort(np.clip(eig, 0.0, None))
    for i in range(len(eig), 0, -1):
        tail = eig[:i]
        tau = tail.mean()
        # Large image eigenvalues pull the mean above the median; once they are dropped, mean ≤ median.
        if np.sum(tail > tau) >= np.sum(tail < tau):
            return float(np.sqrt(tau))
    return float(np.sqrt(eig[0]))


def estimate_sigma(pixels: np.ndarray, seed: int = 0, max_patches: int = MAX_PATCHES) -> np.ndarray:
    """Per-channel noise σ (0–255 scale) of an (H, W, C) float image in [0, 1]; shape (C,).

    ``max_patches`` bounds the work per channel (fewer patches: faster, noisier estimate).

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
        p = _weak_texture(_patches(x[:, :, c] * 255.0, rng, max_patches).astype(np.float64))
        p -= p.mean(axis=0, keepdims=True)
        cov = p.T @ p / max(1, len(p) - 1)
        out.append(SELECTION_BIAS * _sigma_from_eigenvalues(np.linalg.eigvalsh(cov)))
    return np.asarray(out, dtype=np.float32)


def _strided_blocks(x: np.ndarray, step: int, block: int = 64) -> np.ndarray:
    """Keep every `step`-th block of `block` pixels along each axis (full-resolution pixels, fewer of them)."""
    h, w = x.shape[:2]
    rows = [x[i : i + block] for i in range(0, h - block + 1, block * step)]
    y = np.concatenate(rows, axis=0)
    cols = [y[:, j : j + block] for j in range(0, w - block + 1, block * step)]
    return np.ascontiguousarray(np.concatenate(cols, axis=1))
