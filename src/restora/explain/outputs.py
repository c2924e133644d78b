"""Writing the noise map and the residual to files (``restora denoise --noise-map PATH --residual PATH``).

The extension chooses what is written:

* ``.npy`` or ``.tif``/``.tiff``: the exact values as float32 (H, W, 3) — the noise map's σ per channel on
  the 0–255 scale; the residual input − output on the [0, 1] scale (negative values kept).
* any other image extension (``.png``, ``.jpg``, ...): an 8-bit picture for looking at — the noise map as an
  inferno heat map of the RMS σ over channels from 0 to the photo's own scale
  (:func:`restora.explain.noise_map.noise_map_scale`, printed with the file: a camera JPEG's σ 3 shows as
  clearly as a scan's σ 30); the residual as mid-grey + ``RESIDUAL_GAIN`` × (input − output).

Files appear atomically (temporary name in the same folder, then rename).

:func:`explain_outputs` is what ``restora denoise``/``restora batch`` run per photo: the files asked for and
the reliability, from one analysis.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from restora.explain.core import analyse_restoration, full_noise_map
from restora.explain.features import TooSmallToAnalyse
from restora.explain.noise_map import noise_map, noise_map_scale, overall_sigma
from restora.explain.reliability import Reliability, predict
from restora.explain.residual import residual, residual_view
from restora.io.image import Image
from restora.io import write_bytes, write_image

EXACT_EXTENSIONS = (".npy", ".tif", ".tiff")


def heat_map(sigma: np.ndarray, vmax: float | None = None) -> np.ndarray:
    """(H, W) σ → (H, W, 3) uint8 inferno colours, 0 (black) to ``vmax`` (pale yellow; default the map's own
    scale, :func:`~restora.explain.noise_map.noise_map_scale`)."""
    from matplotlib import colormaps

    vmax = noise_map_scale(sigma) if vmax is None else vmax
    rgba = colormaps["inferno"](np.clip(np.asarray(sigma, np.float32) / vmax, 0.0, 1.0))
    return np.rint(rgba[..., :3] * 255).astype(np.uint8)


def _write_exact(path: Path, values: np.ndarray) -> None:
    buf = io.BytesIO()
    values = np.ascontiguousarray(values, np.float32)
    if path.suffix.lower() == ".npy":
        np.save(buf, values)
    else:
        import tifffile

        tifffile.imwrite(buf, values, photometric="rgb" if values.ndim == 3 else "minisblack")
    write_bytes(path, buf.getvalue())


def _write_view(path: Path, rgb8: np.ndarray) -> None:
    write_image(path, Image.from_array(rgb8))


def write_noise_map(path, image_pixels: np.ndarray, sigma_map: np.ndarray | None = None) -> np.ndarray:
    """Estimate the input's noise map and write it to ``path`` (module docstring); returns the (H, W, 3) map.

    ``image_pixels``: the *input* (noisy) photo, (H, W, 3) float in [0, 1]; ``sigma_map``: a map already
    computed, to write it without estimating again.
    """
    path = Path(path)
    smap = noise_map(image_pixels) if sigma_map is None else np.asarray(sigma_map, np.float32)
    if path.suffix.lower() in EXACT_EXTENSIONS:
        _write_exact(path, smap)
    else:
        _write_view(path, heat_map(overall_sigma(smap)))
    return smap


def write_residual(path, noisy: np.ndarray, restored: np.ndarray) -> np.ndarray:
    """Write input − output to ``path`` (module docstring); returns the exact residual."""
    path = Path(path)
    r = residual(noisy, restored)
    if path.suffix.lower() in EXACT_EXTENSIONS:
        _write_exact(path, r)
    else:
        _write_view(path, residual_view(r))
    return r


def explain_outputs(
    noisy: np.ndarray,
    restored: np.ndarray,
    sigma: np.ndarray | None = None,
    model: str = "",
    noise_map_path=None,
    residual_path=None,
    reliability: bool = True,
    notes: list[str] | None = None,
) -> tuple[Reliability | None, str | None]:
    """Write the noise map and the residual where asked; return the reliability (when ``reliability``) and, when
    it was asked for but cannot be predicted (a photo too small to analyse), the one-line reason instead.
    ``notes`` gets the noise-map view's colour scale (``noise map NAME: σ 0–S (0–255 scale)``).

    ``noisy``/``restored``: (H, W, 3) float in [0, 1]; ``sigma``: the σ the model ran with (``RestoreResult.sigma``);
    ``model``: its name, so the reliability says when the predictor was fitted for another one. The analysis
    behind the reliability is computed once and its noise map reused for the file.
    """
    analysis, why_not = None, None
    if reliability:
        try:
            analysis = analyse_restoration(noisy, restored, sigma)
        except TooSmallToAnalyse as exc:
            why_not = str(exc)
    if noise_map_path is not None:
        smap = write_noise_map(noise_map_path, noisy, sigma_map=full_noise_map(noisy, analysis))
        if notes is not None and Path(noise_map_path).suffix.lower() not in EXACT_EXTENSIONS:
            notes.append(
                f"noise map {Path(noise_map_path).name}: σ 0–{noise_map_scale(overall_sigma(smap)):g} "
                "(0–255 scale, black to pale yellow)"
            )
    if residual_path is not None:
        write_residual(residual_path, noisy, restored)
    return (predict(analysis, model) if analysis is not None else None), why_not
