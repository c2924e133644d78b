r"""Periodic noise removal by spectral notches: find the pattern's sharp peaks in the spectrum, remove them.

A periodic pattern (scanner banding, interference, a screen's moiré) is a few sinusoids, so its spectrum is a
few isolated, very sharp peaks; a photo's own spectrum is smooth around any frequency away from zero, even for
repeated structure (windows, tiles), whose peaks are broadened by its irregularity and the scene's perspective.

1. **Peaks** (:func:`spectral_peaks`): the log-magnitude spectrum of the Hann-windowed, mean-removed luma;
   each frequency's *prominence* is its log magnitude minus the mean log magnitude over a :data:`BACKGROUND`²
   neighbourhood (the smooth background, a geometric mean: fast, and little moved by one sharp peak); candidates are local maxima at least :data:`MIN_FREQUENCY` cycles/pixel from zero.
   A pattern is present when the strongest candidate's prominence is at least :data:`PROMINENCE` (natural
   logarithm units); then every candidate of at least :data:`SECONDARY` is part of it (a pattern's weaker
   components, at low frequencies where the photo's own spectrum is strong, stand out less). Frequencies on the 8-pixel grid of
   JPEG blocks (both components within half a bin of a multiple of 1/8) are left out: block artefacts are not
   a periodic pattern to notch.
2. **Notches** (:func:`remove_periodic`): each peak's frequency is refined below one bin (parabolic fit of the
   log magnitude along each axis, then the frequency of largest projection of the luma within ±½ bin), then the
   sinusoid at that frequency is fitted to every channel by least
   squares (cosine and sine, jointly for all peaks found so far) and subtracted; the residual is searched
   again, one peak at a time. That is a notch of zero width at the refined
   frequency: unlike zeroing FFT bins it removes the pattern's spectral leakage too and leaves the photo's own
   spectrum around the peak untouched.

Without a peak the image is returned unchanged, so a photo without periodic noise loses nothing. The thresholds
were chosen on ``train/`` images (clean photos of CBSD432, Urban100 and DreamBooth158 against the ``periodic``
pipeline; see benchmarks/RESULTS.md). The pattern is a property of the whole image, so the method sees it whole.
"""

from __future__ import annotations

import numpy as np

from restora.engine.filters import luma
from restora.engine.methods import Method

BACKGROUND = 15
MIN_FREQUENCY = 0.025
PROMINENCE = 3.45
SECONDARY = 2.5
MAX_PEAKS = 8
MIN_AMPLITUDE = 1.0
MAX_SIDE = 1024  # peaks are searched on a centre crop at most this large (the pattern covers the whole image)


def peak_prominence(image: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prominence map, frequency rows fy, frequency columns fx) of the luma's spectrum (centred, fftshift)."""
    from scipy.ndimage import uniform_filter

    y = luma(image)
    h, w = y.shape
    y = y[(h - min(h, MAX_SIDE)) // 2 :][: min(h, MAX_SIDE), (w - min(w, MAX_SIDE)) // 2 :][:, : min(w, MAX_SIDE)]
    h, w = y.shape
    window = np.outer(np.hanning(h), np.hanning(w)).astype(np.float32)
    spectrum = np.fft.fftshift(np.abs(np.fft.fft2((y - y.mean()) * window)))
    log = np.log(spectrum + 1e-8)
    prominence = log - uniform_filter(log, size=BACKGROUND, mode="wrap")
    return prominence, np.fft.fftshift(np.fft.fftfreq(h)), np.fft.fftshift(np.fft.fftfreq(w))


def _refine(values: np.ndarray, i: int) -> float:
    """Sub-bin offset of a peak at ``values[i]`` by a parabola through it and its two neighbours."""
    if i <= 0 or i >= len(values) - 1:
        return 0.0
    a, b, c = values[i - 1], values[i], values[i + 1]
    denom = a - 2 * b + c
    return float(np.clip(0.5 * (a - c) / denom, -0.5, 0.5)) if denom < 0 else 0.0


def spectral_peaks(image: np.ndarray, threshold: float = SECONDARY) -> list[tuple[float, float, float]]:
    """Candidate peaks of at least ``threshold``: ``(fy, fx, prominence)`` in cycles/pixel, one per ± pair,
    strongest first (at most :data:`MAX_PEAKS`)."""
    from scipy.ndimage import maximum_filter

    prominence, fy, fx = peak_prominence(image)
    h, w = prominence.shape
    log_peak = prominence == maximum_filter(prominence, size=3, mode="wrap")
    radius = np.hypot(fy[:, None], fx[None, :])
    grid_y = np.abs(fy * 8 - np.round(fy * 8)) * h / 8 < 0.5 + 1e-9
    grid_x = np.abs(fx * 8 - np.round(fx * 8)) * w / 8 < 0.5 + 1e-9
    on_block_grid = grid_y[:, None] & grid_x[None, :]
    # One of each conjugate pair: the upper half plane (fy > 0, or fy == 0 and fx > 0).
    half = (fy[:, None] > 0) | ((fy[:, None] == 0) & (fx[None, :] > 0))
    keep = log_peak & (radius >= MIN_FREQUENCY) & (prominence >= threshold) & ~on_block_grid & half
    rows, cols = np.nonzero(keep)
    order = np.argsort(-prominence[rows, cols])[:MAX_PEAKS]
    peaks = []
    for r, c in zip(rows[order], cols[order]):
        dr, dc = _refine(prominence[:, c], r), _refine(prominence[r, :], c)
        peaks.append((float(fy[r] + dr / h), float(fx[c] + dc / w), float(prominence[r, c])))
    return peaks


def periodic_score(image: np.ndarray) -> float:
    """The strongest candidate peak's prominence (0 when none clears the background): the detector's feature."""
    peaks = spectral_peaks(image, threshold=0.0)
    return peaks[0][2] if peaks else 0.0


def pattern_peaks(image: np.ndarray) -> list[tuple[float, float, float]]:
    """Candidate peaks of the pattern as the spectrum shows them: none unless the strongest is at least
    :data:`PROMINENCE`, then all of at least :data:`SECONDARY`."""
    peaks = spectral_peaks(image, SECONDARY)
    return peaks if peaks and peaks[0][2] >= PROMINENCE else []


def _polish(y: np.ndarray, fy: float, fx: float) -> tuple[float, float]:
    """The frequency near (fy, fx) where the luma ``y``'s projection on the complex sinusoid is largest: a
    search over ±½ bin, then ±⅛ bin, then ±1/32 bin (5 × 5 points each)."""
    h, w = y.shape
    rows, cols = np.arange(h), np.arange(w)
    y = y - y.mean()

    def energy(fy_, fx_):
        return abs(np.exp(-2j * np.pi * fy_ * rows) @ (y @ np.exp(-2j * np.pi * fx_ * cols)))

    for span in (0.5, 0.125, 1 / 32):
        grid = np.linspace(-span, span, 5)
        candidates = [(fy + dy / h, fx + dx / w) for dy in grid for dx in grid]
        fy, fx = max(candidates, key=lambda f: energy(*f))
    return fy, fx


def _fit(x: np.ndarray, peaks: list[tuple[float, float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(least-squares fit of the sinusoids at ``peaks`` to every channel, (K, channels) amplitudes)."""
    h, w, c = x.shape
    rows = np.arange(h, dtype=np.float64)[:, None]
    cols = np.arange(w, dtype=np.float64)[None, :]
    basis = []
    for fy, fx, _ in peaks:
        phase = 2 * np.pi * (fy * rows + fx * cols)
        basis += [np.cos(phase).ravel(), np.sin(phase).ravel()]
    a = np.stack(basis, axis=1)  # (h·w, 2K)
    b = x.reshape(-1, c).astype(np.float64)
    coef, *_ = np.linalg.lstsq(a, b - b.mean(axis=0), rcond=None)
    amplitude = np.hypot(coef[0::2], coef[1::2])
    return (a @ coef).reshape(h, w, c).astype(np.float32), amplitude


def remove_periodic(image: np.ndarray) -> np.ndarray:
    """``image`` minus its periodic pattern (the module's step 2), found one sinusoid at a time.

    The strongest peak must reach :data:`PROMINENCE`; it is fitted and subtracted, and the residual searched
    again for peaks of at least :data:`SECONDARY` (one at a time, so the first one's window leakage is not
    taken for more peaks), until none is left, a new one's fitted amplitude is below :data:`MIN_AMPLITUDE`
    (0–255 scale) or :data:`MAX_PEAKS` are found. No peak: the image comes back unchanged."""
    x = np.asarray(image, np.float32)
    peaks: list[tuple[float, float, float]] = []
    residual, pattern = x, None
    while len(peaks) < MAX_PEAKS:
        found = spectral_peaks(residual, SECONDARY if peaks else PROMINENCE)
        if not found:
            break
        fy, fx = _polish(luma(residual), found[0][0], found[0][1])
        found = [(fy, fx, found[0][2])]
        fit, amplitude = _fit(x, peaks + found)
        if amplitude[-1].max() * 255.0 < MIN_AMPLITUDE:
            break
        peaks.append(found[0])
        pattern = fit
        residual = x - pattern
    return x.copy() if pattern is None else (x - pattern).astype(np.float32)


class NotchMethod(Method):
    """Spectral notch filtering of periodic patterns (module docstring); the whole image at once."""

    name = "notch"
    halo = 0
    whole_image = True

    def process(self, tile, sigma, context=None):
        return remove_periodic(tile)
