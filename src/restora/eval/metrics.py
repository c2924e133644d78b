"""Image-quality measures used by ``restora bench``.

All three compare an output with the clean reference, both as 8-bit RGB (H, W, 3) ``uint8`` arrays:
a method's float output is first clipped to [0, 255] and rounded (:func:`to_uint8`), as in
docs/conventions.md. No border is cropped; a set's figure is the mean over its images.

**PSNR** — ``skimage.metrics.peak_signal_noise_ratio`` over all RGB pixels, data range 255:
``10·log10(255² / MSE)``. Identical images have MSE 0 and an infinite PSNR; we cap every per-image
value at :data:`PSNR_CAP` = 100 dB so that means and JSON stay finite (8-bit images that differ in a
single pixel by one level already score far below the cap, so the cap never touches a real result).

**SSIM** — ``skimage.metrics.structural_similarity(channel_axis=2, data_range=255,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False)``: the Gaussian-window SSIM of Wang et
al. 2004 (11×11 window, σ=1.5, K1=0.01, K2=0.03), computed per RGB channel and averaged.

**Detail** — gradient similarity inside the textured regions of the clean image. With ``Y`` the
BT.601 luma on the 0–255 scale and ``g = (Y_x, Y_y)`` its Prewitt gradient (3×3 kernels divided by 3, as
in GMSD), ``g_r`` for the clean image and ``g_d`` for the output, the per-pixel similarity is::

    GS = (2·g_r·g_d + c) / (|g_r|² + |g_d|² + c),   c = 170  (GMSD's constant on the 0–255 scale)

and the detail score is the mean of GS over the :data:`TEXTURE_FRACTION` = 25% of pixels with the
highest local gradient energy of the clean image (``|g_r|²`` averaged over a 7×7 box). This is the
gradient-magnitude similarity (GMS) map of Xue et al. 2014 ("Gradient Magnitude Similarity
Deviation") with the product of magnitudes ``|g_r|·|g_d|`` replaced by the dot product ``g_r·g_d``.
GS is 1 only when the output's gradients equal the clean ones, and it falls both when fine structure is
smoothed away (``|g_d| < |g_r|``) and when noise is left in or invented: noise adds a random vector to
``g_d``, which raises the denominator at first order, while it changes a *magnitude* only at second
order — with plain GMS a σ=25 noisy input still scored ≈0.91 inside texture, above an over-smoothed
non-local-means result, so it hardly counted leftover noise. (A ratio of high-frequency energy would
even reward leftover noise.) Restricting it to textured pixels keeps flat sky and walls, where every
decent denoiser scores alike, from diluting the difference in fine detail. Range [-1, 1]; in practice
≈0.8 for σ=25 noise left in, ≈0.85 for a light blur (Gaussian σ=0.7 px), ≈0.9 for a good denoiser.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.ndimage import uniform_filter
from skimage.filters import prewitt_h, prewitt_v
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

METRICS_VERSION = "psnr-cap100/ssim-gauss1.5/gs-prewitt-c170-top25-box7"  # part of every cache key
PSNR_CAP = 100.0
GS_C = 170.0
TEXTURE_FRACTION = 0.25
ENERGY_WINDOW = 7
_LUMA = np.array([0.299, 0.587, 0.114])


def to_uint8(pixels: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """Clip to the valid range and round to 8 bits; ``scale`` is the value of full white in ``pixels``."""
    return np.clip(np.rint(np.asarray(pixels, dtype=np.float64) * (255.0 / scale)), 0, 255).astype(np.uint8)


def psnr(clean: np.ndarray, output: np.ndarray) -> float:
    """PSNR in dB of two uint8 RGB images, capped at :data:`PSNR_CAP` (identical images)."""
    if np.array_equal(clean, output):
        return PSNR_CAP
    return min(PSNR_CAP, float(peak_signal_noise_ratio(clean, output, data_range=255)))


def _structural_similarity(clean: np.ndarray, output: np.ndarray, full: bool = False):
    """scikit-image's SSIM with Wang et al.'s (2004) settings: 11×11 Gaussian window σ 1.5, population covariance;
    the mean over channels, and with ``full`` the (H, W, 3) map too."""
    return structural_similarity(
        clean.astype(np.float64),
        output.astype(np.float64),
        channel_axis=2,
        data_range=255,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        full=full,
    )


def ssim(clean: np.ndarray, output: np.ndarray) -> float:
    """Gaussian-window SSIM (Wang et al. 2004) of two uint8 RGB images, mean over channels."""
    return float(_structural_similarity(clean, output))


def gradient(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prewitt gradient (horizontal-edge, vertical-edge responses) of the BT.601 luma, 0–255 scale."""
    luma = np.asarray(image, dtype=np.float64) @ _LUMA
    return prewitt_h(luma), prewitt_v(luma)


def gradient_magnitude(image: np.ndarray) -> np.ndarray:
    """Prewitt gradient magnitude of the BT.601 luma of a uint8 RGB image (0–255 scale)."""
    return np.hypot(*gradient(image))


def gradient_energy(magnitude: np.ndarray) -> np.ndarray:
    """Local gradient energy: squared gradient magnitude averaged over a 7×7 box."""
    return uniform_filter(magnitude**2, size=ENERGY_WINDOW, mode="reflect")


def texture_mask(magnitude: np.ndarray) -> np.ndarray:
    """True on the :data:`TEXTURE_FRACTION` of pixels with the highest local gradient energy."""
    energy = gradient_energy(magnitude)
    return energy >= np.quantile(energy, 1.0 - TEXTURE_FRACTION)


def detail(clean: np.ndarray, output: np.ndarray) -> float:
    """Mean gradient similarity inside the clean image's textured regions (1 = perfect)."""
    (hr, vr), (hd, vd) = gradient(clean), gradient(output)
    energy_r, energy_d = hr**2 + vr**2, hd**2 + vd**2
    gs = (2.0 * (hr * hd + vr * vd) + GS_C) / (energy_r + energy_d + GS_C)
    return float(gs[texture_mask(np.sqrt(energy_r))].mean())


def score(clean: np.ndarray, output: np.ndarray) -> dict[str, float]:
    """PSNR, SSIM and detail of ``output`` (uint8 RGB) against ``clean`` (uint8 RGB)."""
    if clean.shape != output.shape:
        raise ValueError(f"output shape {output.shape} differs from the reference's {clean.shape}")
    return {"psnr": psnr(clean, output), "ssim": ssim(clean, output), "detail": detail(clean, output)}


# ---------------------------------------------------------------------------------------------------
# Protocols of published figures, computed beside the RGB ones and labelled (docs/conventions.md).


def y_channel(image: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 studio-range luma of a uint8 RGB image, as MATLAB's ``rgb2ycbcr``: Y ∈ [16, 235], float64."""
    rgb = np.asarray(image, np.float64) / 255.0
    return 16.0 + rgb @ np.array([65.481, 128.553, 24.966])


def psnr_ssim_y(clean: np.ndarray, output: np.ndarray) -> dict[str, float]:
    """PSNR and SSIM on the Y channel (deraining papers' protocol: PReNet, MSPFN, RCDNet evaluate on Y).

    Y as MATLAB's ``rgb2ycbcr`` (not rounded), PSNR with peak 255 and SSIM as :func:`ssim` (Gaussian window,
    data range 255) on Y alone.
    """
    yc, yo = y_channel(clean), y_channel(output)
    mse = float(np.mean((yc - yo) ** 2))
    value = PSNR_CAP if mse == 0 else min(PSNR_CAP, 10.0 * np.log10(255.0**2 / mse))
    s = structural_similarity(yc, yo, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    return {"psnr_y": float(value), "ssim_y": float(s)}


def gt_mean_psnr_ssim(clean: np.ndarray, output: np.ndarray) -> dict[str, float]:
    """PSNR and SSIM after scaling ``output`` so its mean BT.601 grey level equals the reference's ("GT-mean",
    the low-light papers' second protocol, e.g. LLFlow and Retinexformer).

    A blind enhancer cannot know the exposure the reference was taken at, and plain PSNR charges a global
    brightness error to every pixel; this scores what the method restores apart from that one number. The
    scaled output is clipped and rounded to 8 bits as every output is.

    >>> clean = np.full((16, 16, 3), 100, np.uint8)
    >>> round(gt_mean_psnr_ssim(clean, np.full((16, 16, 3), 50, np.uint8))["psnr_gtmean"], 1)
    100.0
    """
    scaled = gt_mean_scaled(clean, output)
    return {"psnr_gtmean": psnr(clean, scaled), "ssim_gtmean": ssim(clean, scaled)}


def gt_mean_scaled(clean: np.ndarray, output: np.ndarray) -> np.ndarray:
    """``output`` (uint8 RGB, any leading shape) scaled so its mean BT.601 grey equals ``clean``'s, clipped and
    rounded to 8 bits: the GT-mean protocol's output, shared by the bench and the trainer's validation."""
    grey = np.array([0.299, 0.587, 0.114])
    mean_clean = float((np.asarray(clean, np.float64) @ grey).mean())
    mean_out = float((np.asarray(output, np.float64) @ grey).mean())
    return to_uint8(np.asarray(output, np.float64) * (mean_clean / max(mean_out, 1e-6)), scale=255.0)


LEVIN_CROP = 15
LEVIN_MAX_SHIFT = 10
LEVIN_SHIFT_STEP = 0.25


def _shifted(image: np.ndarray, dy: float, dx: float, y0: int, x0: int, h: int, w: int) -> np.ndarray | None:
    """Bilinear samples of ``image`` at rows y0+dy … and columns x0+dx … (h × w), or None if out of range."""
    iy, ix = int(np.floor(dy)), int(np.floor(dx))
    fy, fx = dy - iy, dx - ix
    top, left = y0 + iy, x0 + ix
    if top < 0 or left < 0 or top + h + 1 > image.shape[0] or left + w + 1 > image.shape[1]:
        return None
    a = image[top : top + h, left : left + w]
    b = image[top : top + h, left + 1 : left + w + 1]
    c = image[top + 1 : top + h + 1, left : left + w]
    d = image[top + 1 : top + h + 1, left + 1 : left + w + 1]
    return (1 - fy) * ((1 - fx) * a + fx * b) + fy * ((1 - fx) * c + fx * d)


def aligned_grey(
    clean: np.ndarray,
    output: np.ndarray,
    max_shift: int = LEVIN_MAX_SHIFT,
    step: float = LEVIN_SHIFT_STEP,
    crop: int = LEVIN_CROP,
) -> dict[str, float]:
    """Levin et al.'s deblurring protocol (``comp_upto_shift.m``, as used by SelfDeblur and most blind-deblurring papers).

    Greyscale (BT.601 luma of the 8-bit images, 0–255, not rounded), ``crop`` px cut from every border of the
    reference, and the output shifted by the sub-pixel (dy, dx) that minimises the squared error (bilinear
    interpolation): a blind method cannot know where its kernel is centred, and Levin's blurred photos are
    offset from the sharp ones by a few pixels, so a pure shift is not counted. The shift is searched over the
    integers in [−``max_shift``, ``max_shift``] (10, as SelfDeblur's evaluation uses), then in ``step`` (0.25 px)
    steps within ±1 px of the best integer shift. Returns the PSNR and SSIM at that shift and the shift.
    """
    weights = np.array([0.299, 0.587, 0.114])
    ref = np.asarray(clean, np.float64) @ weights
    out = np.asarray(output, np.float64) @ weights
    h, w = ref.shape
    target = ref[crop : h - crop, crop : w - crop]
    th, tw = target.shape

    def search(shifts):
        best = None
        for dy in shifts[0]:
            for dx in shifts[1]:
                shifted = _shifted(out, dy, dx, crop, crop, th, tw)
                if shifted is not None:
                    sse = float(np.sum((shifted - target) ** 2))
                    if best is None or sse < best[0]:
                        best = (sse, float(dy), float(dx), shifted)
        return best

    whole = np.arange(-max_shift, max_shift + 1, dtype=np.float64)
    _, y, x, _ = search((whole, whole))
    fine = np.arange(-1.0, 1.0 + step / 2, step)
    sse, dy, dx, shifted = search((y + fine, x + fine))
    mse = sse / target.size
    value = PSNR_CAP if mse == 0 else min(PSNR_CAP, 10.0 * np.log10(255.0**2 / mse))
    s = structural_similarity(
        target, shifted, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    return {"psnr_aligned": float(value), "ssim_aligned": float(s), "shift": [dy, dx]}


def hole_error(clean: np.ndarray, output: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    """(sum of squared errors, number of values) of two uint8 RGB images over the pixels where ``mask`` (H, W) is
    true (an inpainting's holes): what :func:`pooled_psnr` adds up over a set."""
    err = (clean[mask].astype(np.float64) - output[mask].astype(np.float64)) ** 2
    return float(err.sum()), int(err.size)


def pooled_psnr(errors: list[tuple[float, int]]) -> float:
    """PSNR in dB (8-bit) of the mean squared error over every hole value of a set (:func:`hole_error` per image),
    capped at :data:`PSNR_CAP`; NaN when no image has a hole. Pooling, not a mean of per-image PSNRs: a hole that
    one method fills exactly (a flat, clipped sky) would put :data:`PSNR_CAP` into that mean and drown the rest.

    >>> round(pooled_psnr([(0.0, 10), (20 * 255.0**2 / 100, 10)]), 2)  # MSE 255² / 100 over the 20 values
    20.0
    """
    sse, count = sum(e for e, _ in errors), sum(n for _, n in errors)
    if count == 0:
        return float("nan")
    return PSNR_CAP if sse == 0 else min(PSNR_CAP, float(10.0 * np.log10(255.0**2 * count / sse)))


def masked_ssim(clean: np.ndarray, output: np.ndarray, mask: np.ndarray) -> float:
    """Mean of the SSIM map (as :func:`ssim`) over the pixels where ``mask`` is true; NaN for an empty mask."""
    if not mask.any():
        return float("nan")
    _, full = _structural_similarity(clean, output, full=True)
    return float(full.mean(axis=2)[mask].mean())


def mask_f1(truth: np.ndarray, found: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of a found binary mask against the true one (pixel counts; 1.0 when both empty)."""
    tp = float(np.logical_and(truth, found).sum())
    fp, fn = float(found.sum()) - tp, float(truth.sum()) - tp
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# Training-time forms: torch tensors on the [0, 1] scale.


def psnr_8bit(pred: torch.Tensor, target: torch.Tensor) -> float:
    """PSNR of (B, 3, H, W) tensors in [0, 1] after clipping and rounding both to 8 bits; one MSE over the
    batch, infinite for identical inputs (training validation: its figures are logged with this formula)."""
    p = torch.round(pred.clamp(0, 1) * 255)
    t = torch.round(target.clamp(0, 1) * 255)
    mse = torch.mean((p - t) ** 2).item()
    return float("inf") if mse == 0 else 10 * math.log10(255**2 / mse)


def gt_mean_psnr_8bit(pred: torch.Tensor, target: torch.Tensor) -> float:
    """:func:`psnr_8bit` of ``pred`` brought to the target's mean grey by the low-light bench's own GT-mean
    protocol (:func:`restora.eval.metrics.gt_mean_scaled`), on (B, 3, H, W) in [0, 1]."""

    def as_uint8(x: torch.Tensor) -> np.ndarray:
        return to_uint8(x.detach().float().cpu().permute(0, 2, 3, 1).numpy(), scale=1.0)

    scaled = gt_mean_scaled(as_uint8(target), as_uint8(pred))
    return psnr_8bit(torch.from_numpy(scaled).permute(0, 3, 1, 2).float() / 255.0, target)


def input_psnr(degraded: np.ndarray, clean: np.ndarray) -> float:
    """PSNR in dB of the degraded patch (clipped to [0, 1]) against the clean one, capped at 60 dB."""
    mse = float(np.mean((np.clip(degraded, 0.0, 1.0) - clean) ** 2))
    return 60.0 if mse < 1e-6 else min(60.0, 10.0 * np.log10(1.0 / mse))
