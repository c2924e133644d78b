"""A camera's noise, estimated from its noisy photos alone, and fresh samples of it.

Real photo noise is spatially correlated (demosaicing, in-camera noise reduction, JPEG), correlated
across channels, and its level follows brightness. We model it as Gaussian noise with

* a **power spectrum** S(f) (the spatial correlation), shared by the three channels,
* a **channel correlation** matrix R (3×3),
* a **noise level function** σ_c(μ) per channel (σ at local brightness μ, 0–255 scale), known only
  within a **range** [σ_c(μ), σ_c^high(μ)] (below),

and estimate all three from the flattest tiles of the photos: the photos are cut into ``TILE``×``TILE``
tiles (on the 8-pixel JPEG grid), each tile's best-fitting plane is removed (slow shading is not noise),
and within each of ``BINS`` brightness bins (equal counts) the ``FLAT_FRACTION`` of tiles with the least
remaining variance are taken as noise.

Why a range: the flattest tiles give a *low* estimate of the noise of the whole photo. JPEG quantises
noise away in flat 8×8 blocks and keeps it in textured ones, and picking the tiles of least variance also
picks the lowest draws of the noise. On the real pairs of PolyU50 the flattest-fifth σ matches the true
noise of those tiles within a few per cent, but the true noise over all tiles of the same brightness is
1.2–2× larger (more in a few bins). The flatter *half* of the tiles (``HIGH_FRACTION``) gives the upper end
of the range: it includes some texture, so it is read as a high, not an exact, level. Training and
stopping must stay right anywhere in this range (:mod:`restora.adapt.trainer`); the spectrum and the
channel correlation are measured on the flattest fifth only, where texture is least.

A sample is white noise filtered by √S in the Fourier domain, mixed by the Cholesky factor of R and
scaled per pixel by σ at the pixel's local brightness, at a chosen place in the level range. (This is the model of noise that
recorrupted-to-recorrupted training needs: fresh noise with the covariance of the photos' own.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

TILE = 32
BINS = 6
FLAT_FRACTION = 0.2
HIGH_FRACTION = 0.5  # the upper end of the noise level range (module docstring)
MIN_TILES_PER_BIN = 4
BRIGHTNESS_WINDOW = 9  # px: local brightness for the noise level function when sampling


def _plane_basis(t: int) -> np.ndarray:
    yy, xx = np.mgrid[0:t, 0:t].astype(np.float64) / t
    a = np.stack([np.ones(t * t), yy.ravel(), xx.ravel()], axis=1)
    return np.eye(t * t) - a @ np.linalg.pinv(a)  # projects out constant + linear ramps


def _tiles(pixels: np.ndarray, t: int) -> np.ndarray:
    """(n, 3, t·t) non-overlapping tiles, 0–255 scale."""
    h, w, _ = pixels.shape
    x = np.asarray(pixels[: h // t * t, : w // t * t], np.float64) * 255.0
    return x.reshape(h // t, t, w // t, t, 3).transpose(0, 2, 4, 1, 3).reshape(-1, 3, t * t)


@dataclass
class CameraNoise:
    """``levels`` (K,) brightness 0–1; ``sigma`` (3, K) σ (0–255), the low end of the level range, and
    ``sigma_high`` (3, K) its high end (module docstring); ``correlation`` (3, 3); ``spectrum`` (T, T) power
    spectrum (mean 1, unshifted FFT layout); ``tiles``: how many tiles it was measured on."""

    levels: np.ndarray
    sigma: np.ndarray
    correlation: np.ndarray
    spectrum: np.ndarray
    tiles: int
    sigma_high: np.ndarray | None = None  # None: the range is the single level ``sigma``
    _amplitudes: dict = field(default_factory=dict, repr=False, compare=False)  # (h, w) -> √S on that grid

    def sigma_at(self, brightness: np.ndarray, level: float = 0.0) -> np.ndarray:
        """(…, 3) σ (0–255) at (…, 3) brightness in [0, 1]; ``level`` places it in the range: 0 the low end
        (``sigma``), 1 the high end (``sigma_high``), linearly between."""
        table = self.sigma if self.sigma_high is None else self.sigma + level * (self.sigma_high - self.sigma)
        return np.stack([np.interp(brightness[..., c], self.levels, table[c]) for c in range(3)], axis=-1)

    def _amplitude(self, h: int, w: int) -> np.ndarray:
        """√S resampled to an h×w frequency grid (bilinear over the periodic T×T grid); cached per size."""
        if (h, w) not in self._amplitudes:
            self._amplitudes[(h, w)] = self._resample(h, w)
        return self._amplitudes[(h, w)]

    def _resample(self, h: int, w: int) -> np.ndarray:
        t = self.spectrum.shape[0]
        shifted = np.fft.fftshift(self.spectrum).astype(np.float32)
        fy = np.fft.fftfreq(h)[:, None] * t + t // 2
        fx = np.fft.fftfreq(w)[None, :] * t + t // 2
        map_y = np.broadcast_to(fy, (h, w)).astype(np.float32)
        map_x = np.broadcast_to(fx, (h, w)).astype(np.float32)
        s = cv2.remap(shifted, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_WRAP)
        return np.sqrt(np.maximum(s, 0.0))

    def unit_noise(self, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        """(h, w, 3) noise with the model's spectrum and channel correlation, unit variance per channel."""
        white = rng.standard_normal((3, h, w)).astype(np.float32)
        fields = np.fft.irfft2(np.fft.rfft2(white) * self._amplitude(h, w)[:, : w // 2 + 1], s=(h, w))
        fields /= fields.std(axis=(1, 2), keepdims=True) + 1e-8
        return np.einsum("ij,jhw->hwi", np.linalg.cholesky(self.correlation), fields).astype(np.float32)

    def level_map(self, pixels: np.ndarray, level: float = 0.0) -> np.ndarray:
        """(H, W, 3) noise σ on the [0, 1] scale for the photo region ``pixels`` (its local brightness sets it;
        ``level`` as in :meth:`sigma_at`)."""
        brightness = cv2.blur(np.ascontiguousarray(pixels, np.float32), (BRIGHTNESS_WINDOW, BRIGHTNESS_WINDOW))
        return (self.sigma_at(np.clip(brightness, 0, 1), level) / 255.0).astype(np.float32)

    def sample(self, pixels: np.ndarray, rng: np.random.Generator, level: float = 0.0) -> np.ndarray:
        """Fresh noise (H, W, 3) on the [0, 1] scale for the photo region ``pixels`` (its brightness sets the
        σ; ``level`` where in the range, as in :meth:`sigma_at`)."""
        h, w, _ = pixels.shape
        return self.unit_noise(h, w, rng) * self.level_map(pixels, level)

    def to_dict(self) -> dict:
        """Summary for a model card (JSON)."""
        corr_len = float(np.fft.ifft2(self.spectrum).real[0, 1] / max(np.fft.ifft2(self.spectrum).real[0, 0], 1e-9))
        high = self.sigma if self.sigma_high is None else self.sigma_high
        return {
            "brightness": [round(float(v), 3) for v in self.levels],
            "sigma": [[round(float(v), 2) for v in row] for row in self.sigma],
            "sigma_high": [[round(float(v), 2) for v in row] for row in high],
            "channel_correlation": [[round(float(v), 3) for v in row] for row in self.correlation],
            "neighbour_correlation": round(corr_len, 3),
            "tiles": self.tiles,
        }


def estimate_camera_noise(
    photos: list[np.ndarray],
    tile: int = TILE,
    bins: int = BINS,
    flat_fraction: float = FLAT_FRACTION,
    high_fraction: float = HIGH_FRACTION,
) -> CameraNoise:
    """Estimate the noise model from (H, W, 3) float photos in [0, 1] of one camera (module docstring)."""
    project = _plane_basis(tile)
    residuals, brightness = [], []
    for p in photos:
        t = _tiles(np.clip(p, 0, 1), tile)
        if len(t):
            residuals.append(t @ project.T)
            brightness.append(t.mean(axis=2).mean(axis=1) / 255.0)
    if not residuals:
        raise ValueError(f"photos are smaller than one {tile}×{tile} tile")
    res = np.concatenate(residuals)  # (n, 3, t·t)
    bright = np.concatenate(brightness)
    var = res.var(axis=2)  # (n, 3)
    total = var.sum(axis=1)
    k = int(np.clip(len(res) // max(MIN_TILES_PER_BIN, 1) // max(1, round(1 / flat_fraction)), 1, bins))
    edges = np.quantile(bright, np.linspace(0, 1, k + 1))
    levels, sigmas, highs, chosen = [], [], [], np.zeros(len(res), bool)
    for b in range(k):
        in_bin = (bright >= edges[b]) & (bright <= edges[b + 1])
        if not in_bin.any():
            continue
        flat = in_bin & (total <= np.quantile(total[in_bin], flat_fraction))
        chosen |= flat
        levels.append(float(np.median(bright[flat])))
        sigmas.append(np.sqrt(var[flat].mean(axis=0)))
        flatter = in_bin & (total <= np.quantile(total[in_bin], max(high_fraction, flat_fraction)))
        highs.append(np.maximum(np.sqrt(var[flatter].mean(axis=0)), sigmas[-1]))
    order = np.argsort(levels)
    level_values = np.asarray(levels)[order]
    sigma = np.stack(sigmas, axis=1)[:, order]
    sigma_high = np.stack(highs, axis=1)[:, order]
    flat_res = res[chosen]
    cov = np.einsum("nip,njp->ij", flat_res, flat_res) / (flat_res.shape[0] * flat_res.shape[2])
    d = np.sqrt(np.maximum(np.diag(cov), 1e-12))
    corr = cov / np.outer(d, d)
    corr = 0.99 * corr + 0.01 * np.eye(3)  # keep it positive definite
    window = np.outer(np.hanning(tile), np.hanning(tile))
    normalised = flat_res / (d[None, :, None])
    spec = np.abs(np.fft.fft2(normalised.reshape(-1, tile, tile) * window)) ** 2
    spectrum = spec.mean(axis=0) / np.sum(window**2)
    spectrum[0, 0] = np.mean(
        [spectrum[0, 1], spectrum[1, 0], spectrum[0, -1], spectrum[-1, 0]]
    )  # plane removal emptied DC
    spectrum /= spectrum.mean()
    return CameraNoise(
        level_values.astype(np.float32),
        sigma.astype(np.float32),
        corr,
        spectrum.astype(np.float32),
        int(chosen.sum()),
        sigma_high.astype(np.float32),
    )
