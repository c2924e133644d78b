r"""Classical deconvolution: Wiener and Richardson–Lucy given a kernel, and a parametric blind deconvolution.

**Given the kernel** (benchmark-only upper references: a photo never comes with its true blur kernel):

* Wiener–Hunt deconvolution, ``skimage.restoration.wiener`` (Laplacian regulariser, ``balance`` 0.01);
* Richardson–Lucy, ``skimage.restoration.richardson_lucy`` (20 iterations).

``balance`` and the iteration count are the best of a grid (balance 0.002–0.05; 10–50 iterations) on 5 CBSD432
training images blurred by seeded camera-shake kernels (:class:`restora.degrade.MotionBlur`) with 1% noise.

Both work in the Fourier domain or with 'same' convolutions that assume zeros or periodicity outside the
image, which rings at the borders; the image is reflect-padded by the kernel size first and cropped after.
Kernels are *convolution* kernels (``degraded = clean ∗ k``, the orientation of :func:`restora.degrade.blur.convolve`).

**Blind** (``deconv-blind``, runs from the CLI): parametric blur identification by generalised
cross-validation (GCV; Reeves & Mersereau, "Blur identification by the method of generalized cross-validation",
IEEE TIP 1992), then Wiener deconvolution. The blur is searched in a small family of 49 kernels — none
(identity), Gaussian σ ∈ {0.8, 1.2, 1.8, 2.7, 4} px, defocus disks r ∈ {1.5, 2.5, 3.5, 5, 7} px and straight
camera motion of length {5, 9, 13, 19, 27} px at 8 angles (0°–157.5°) — jointly with the regularisation weight
λ ∈ {10⁻⁴, 3·10⁻⁴, …, 3·10⁻²}: for the luma y of the central 384² crop (mirrored to be periodic), the pair
minimising :math:`\mathrm{GCV}(k, λ) = \frac1N\lVert (I - A)\,y\rVert^2 / \big(\frac1N \operatorname{tr}(I - A)\big)^2`,
:math:`A = H (H^\top H + λ C^\top C)^{-1} H^\top` (:math:`H` the blur, :math:`C` the Laplacian; diagonal in the
Fourier domain) predicts left-out pixels best. The whole image is then deconvolved by the chosen kernel with
``balance`` = max(λ, 0.01). GCV only picks a blur the data support, so where the true blur is outside the family (real
camera shake follows curved paths) it chooses a small kernel or none and changes the photo little. (We first
tried the normalised-sparsity criterion ‖∇x‖₁/‖∇x‖₂ of Krishnan et al. 2011 for the choice: with Wiener
deconvolution it preferred large, ringing kernels and lowered PSNR by 3–10 dB on CBSD432 training images.)
The search sees the whole image, so it runs on the whole image at once.
"""

from __future__ import annotations

from typing import Literal

from functools import lru_cache

import cv2
import numpy as np

from restora.engine.filters import luma
from restora.engine.methods import Method
from restora.degrade.blur import disk_kernel
from restora.degrade.rain import line_kernel

WIENER_BALANCE = 0.01
RL_ITERATIONS = 20
SEARCH_LAMBDAS = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
SEARCH_CROP = 384
GAUSSIAN_SIGMAS = (0.8, 1.2, 1.8, 2.7, 4.0)
DISK_RADII = (1.5, 2.5, 3.5, 5.0, 7.0)
MOTION_LENGTHS = (5, 9, 13, 19, 27)
MOTION_ANGLES = tuple(22.5 * i for i in range(8))


def _pad(image: np.ndarray, kernel: np.ndarray) -> tuple[np.ndarray, int]:
    p = int(max(kernel.shape))
    mode: Literal["reflect", "symmetric"] = "reflect" if min(image.shape[:2]) > p else "symmetric"
    widths = ((p, p), (p, p)) + ((0, 0),) * (image.ndim - 2)
    return np.pad(image, widths, mode=mode), p


def _channels_equal(image: np.ndarray) -> bool:
    return (
        image.ndim == 3
        and np.array_equal(image[:, :, 0], image[:, :, 1])
        and np.array_equal(image[:, :, 0], image[:, :, 2])
    )


def _per_channel(fn, image: np.ndarray) -> np.ndarray:
    """Apply ``fn`` (2-D → 2-D) to each channel; once for grey images stored as RGB."""
    if image.ndim == 2:
        return fn(image)
    if _channels_equal(image):
        return np.repeat(fn(image[:, :, 0])[:, :, None], image.shape[2], axis=2)
    return np.dstack([fn(image[:, :, c]) for c in range(image.shape[2])])


def wiener_deconvolve(image: np.ndarray, kernel: np.ndarray, balance: float = WIENER_BALANCE) -> np.ndarray:
    """Wiener–Hunt deconvolution (scikit-image) of an (h, w) or (h, w, c) image by a convolution kernel."""
    from skimage.restoration import wiener

    kernel = np.asarray(kernel, np.float64) / float(np.sum(kernel))

    def one(channel):
        padded, p = _pad(channel.astype(np.float64), kernel)
        return wiener(padded, kernel, balance, clip=False)[p:-p, p:-p]

    return _per_channel(one, np.asarray(image)).astype(np.float32)


def richardson_lucy_deconvolve(image: np.ndarray, kernel: np.ndarray, iterations: int = RL_ITERATIONS) -> np.ndarray:
    """Richardson–Lucy deconvolution (scikit-image) of an (h, w) or (h, w, c) image by a convolution kernel."""
    from skimage.restoration import richardson_lucy

    kernel = np.asarray(kernel, np.float64) / float(np.sum(kernel))

    def one(channel):
        padded, p = _pad(np.clip(channel, 0.0, 1.0).astype(np.float64), kernel)
        return richardson_lucy(padded, kernel, num_iter=iterations, clip=False)[p:-p, p:-p]

    return _per_channel(one, np.asarray(image)).astype(np.float32)


def gaussian_kernel(sigma: float) -> np.ndarray:
    g = cv2.getGaussianKernel(2 * int(np.ceil(3 * sigma)) + 1, sigma)
    return (g @ g.T).astype(np.float32)


def motion_kernel(length: float, angle: float) -> np.ndarray:
    """A straight motion blur of ``length`` px at ``angle`` degrees from vertical, antialiased, sums to 1."""
    k = line_kernel(length, angle, 1)
    return (k / k.sum()).astype(np.float32)


@lru_cache(maxsize=1)
def candidate_kernels() -> tuple[tuple[str, np.ndarray], ...]:
    """The blind search's kernel family: (description, convolution kernel)."""
    family = [("none", np.ones((1, 1), np.float32))]
    family += [(f"gaussian σ={s:g}", gaussian_kernel(s)) for s in GAUSSIAN_SIGMAS]
    family += [(f"disk r={r:g}", disk_kernel(r)) for r in DISK_RADII]
    family += [(f"motion {n} px at {a:g}°", motion_kernel(n, a)) for n in MOTION_LENGTHS for a in MOTION_ANGLES]
    return tuple(family)


def _otf(kernel: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Fourier transform of a convolution kernel centred on pixel (0, 0) of an array of ``shape``."""
    pad = np.zeros(shape)
    kh, kw = kernel.shape
    pad[:kh, :kw] = kernel
    return np.fft.fft2(np.roll(pad, (-(kh // 2), -(kw // 2)), axis=(0, 1)))


def estimate_kernel(image: np.ndarray) -> tuple[str, np.ndarray, float]:
    """(description, kernel, λ) of the family's blur that minimises GCV on the central crop's luma."""
    grey = luma(image) if image.ndim == 3 else np.asarray(image, np.float32)
    h, w = grey.shape
    c = min(SEARCH_CROP, h, w)
    y0, x0 = (h - c) // 2, (w - c) // 2
    y = grey[y0 : y0 + c, x0 : x0 + c].astype(np.float64)
    y = np.concatenate([y, y[::-1]], axis=0)
    y = np.concatenate([y, y[:, ::-1]], axis=1)  # mirrored: periodic without jumps, as the FFT assumes
    y_power = np.abs(np.fft.fft2(y - y.mean())) ** 2
    laplacian = np.array([[0, -1, 0], [-1, 4, -1], [0, -1, 0]], np.float64)
    c_power = np.abs(_otf(laplacian, y.shape)) ** 2
    best = None
    for name, kernel in candidate_kernels():
        h_power = np.abs(_otf(kernel.astype(np.float64), y.shape)) ** 2
        for lam in SEARCH_LAMBDAS:
            residual = 1.0 - h_power / (h_power + lam * c_power)
            gcv = float(np.mean(residual**2 * y_power) / np.mean(residual) ** 2)
            if best is None or gcv < best[0]:
                best = (gcv, name, kernel, lam)
    assert best is not None  # there are always candidate kernels and λs
    return best[1], best[2], best[3]


class KernelGivenMethod(Method):
    """Deconvolution given the true kernel (benchmarks only: ``rl`` Richardson–Lucy, ``wiener`` Wiener)."""

    whole_image = True
    halo = 0

    def __init__(self, name: str, kernel: np.ndarray):
        deconvolvers = {"rl": richardson_lucy_deconvolve, "wiener": wiener_deconvolve}
        self.name, self.deconvolve, self.kernel = name, deconvolvers[name], np.asarray(kernel, np.float32)

    def process(self, tile, sigma, context=None):
        return self.deconvolve(tile, self.kernel)


class BlindDeconvolution(Method):
    """Parametric blind deconvolution: blur identified by GCV in a small family, then Wiener."""

    name = "deconv-blind"
    whole_image = True
    halo = 0
    default_tile = 0

    def process(self, tile, sigma, context=None):
        _, kernel, lam = estimate_kernel(tile)
        return tile.copy() if kernel.size == 1 else wiener_deconvolve(tile, kernel, max(lam, WIENER_BALANCE))
