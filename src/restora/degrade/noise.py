"""Noise operators. σ is on the 0–255 scale throughout (docs/conventions.md)."""

from __future__ import annotations

import numpy as np

from restora.degrade.base import Degradation, uniform
from restora.degrade.camera import linear_to_srgb, srgb_to_linear


class GaussianNoise(Degradation):
    r"""Additive white Gaussian noise: :math:`y = x + n,\ n \sim \mathcal N(0, \sigma^2)` (σ/255 scale).

    ``sigma``: range of σ (0–255 scale), drawn uniformly per image; default (0, 55) covers clean to very
    noisy phone shots and the σ = 15/25/50 benchmarks. ``gray_prob``: probability that one noise field is
    shared by all channels (luminance-only noise, as after a camera's chroma denoising).
    ``channel_spread``: per-channel σ multipliers drawn in [1 − s, 1 + s] (sensors differ per channel).
    Not clipped.

    >>> x = np.zeros((256, 256, 3), np.float32)
    >>> y = GaussianNoise(sigma=(25, 25))(x, np.random.default_rng(0))
    >>> round(float(y.std() * 255))  # the sample σ of 196,608 draws: 24.95
    25
    """

    def __init__(self, sigma=(0.0, 55.0), gray_prob: float = 0.0, channel_spread: float = 0.0):
        self.sigma, self.gray_prob, self.channel_spread = tuple(sigma), gray_prob, channel_spread

    def __call__(self, image, rng):
        s = uniform(rng, self.sigma) / 255.0
        h, w, c = image.shape
        if rng.random() < self.gray_prob:
            n = rng.standard_normal((h, w, 1), dtype=np.float32) * s
        else:
            scale = (
                1.0 + rng.uniform(-self.channel_spread, self.channel_spread, size=c)
                if self.channel_spread
                else np.ones(c)
            )
            n = rng.standard_normal((h, w, c), dtype=np.float32) * (s * scale).astype(np.float32)
        return (image + n).astype(np.float32)


class PoissonGaussianNoise(Degradation):
    r"""Signal-dependent sensor noise: :math:`y = x + n,\ \operatorname{Var}(n) = a\,x + b` (heteroscedastic
    Gaussian approximation of shot + read noise, Foi et al. 2008).

    ``shot``: range of :math:`a` (variance per unit signal; 0.0001–0.01 spans base ISO to ISO 6400 on the
    [0, 1] scale). ``read``: range of read-noise σ on the 0–255 scale (0.5–8). Drawn log-uniformly for
    ``shot`` because sensor gain is multiplicative. Not clipped.

    >>> x = np.concatenate([np.full((128, 128, 3), 0.1, np.float32), np.full((128, 128, 3), 0.9, np.float32)])
    >>> y = PoissonGaussianNoise(shot=(0.004, 0.004), read=(0, 0))(x, np.random.default_rng(0)) - x
    >>> bool(y[128:].std() > 2.5 * y[:128].std())  # brighter → noisier
    True
    """

    def __init__(self, shot=(1e-4, 1e-2), read=(0.5, 8.0)):
        self.shot, self.read = tuple(shot), tuple(read)

    def __call__(self, image, rng):
        a = float(np.exp(uniform(rng, tuple(np.log(self.shot)))))
        b = (uniform(rng, self.read) / 255.0) ** 2
        std = np.sqrt(a * np.clip(image, 0.0, None) + b).astype(np.float32)
        return (image + rng.standard_normal(image.shape, dtype=np.float32) * std).astype(np.float32)


def shaped_noise(shape: tuple[int, int, int], exponent: float, cutoff: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-variance Gaussian noise whose power spectrum is :math:`P(f) \\propto (f^2 + f_c^2)^{-\\alpha/2}`.

    ``exponent`` α: 0 white, 1 pink, 2 brown; ``cutoff`` f_c (cycles/pixel) keeps low frequencies finite.
    Made by filtering white noise in the Fourier domain, one field per channel.
    """
    h, w, c = shape
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    amplitude = (fx**2 + fy**2 + cutoff**2) ** (-exponent / 4.0)
    white = rng.standard_normal((c, h, w), dtype=np.float32)
    field = np.fft.irfft2(np.fft.rfft2(white) * amplitude, s=(h, w)).astype(np.float32)
    field /= field.std(axis=(1, 2), keepdims=True) + 1e-12
    return np.moveaxis(field, 0, -1)


class CorrelatedNoise(Degradation):
    r"""Spatially correlated Gaussian noise with a controlled power spectrum ("noise in the right frequency").

    Real photo noise is not white: demosaicing, denoising in camera and resampling concentrate it at
    mid/low frequencies. :math:`P(f) \propto (f^2 + f_c^2)^{-\alpha/2}` with ``exponent`` α in [0.5, 2]
    and ``cutoff`` f_c in [0.02, 0.2]; ``sigma`` range on the 0–255 scale; ``chroma`` is the weight of
    independent per-channel fields against one shared luminance field. Not clipped.

    >>> y = CorrelatedNoise(sigma=(10, 10))(np.zeros((64, 64, 3), np.float32), np.random.default_rng(0))
    >>> round(float(y.std() * 255))
    10
    """

    def __init__(self, sigma=(1.0, 20.0), exponent=(0.5, 2.0), cutoff=(0.02, 0.2), chroma=(0.0, 1.0)):
        self.sigma, self.exponent, self.cutoff, self.chroma = (
            tuple(sigma),
            tuple(exponent),
            tuple(cutoff),
            tuple(chroma),
        )

    def __call__(self, image, rng):
        h, w, _ = image.shape
        alpha, fc, chroma = uniform(rng, self.exponent), uniform(rng, self.cutoff), uniform(rng, self.chroma)
        luma = shaped_noise((h, w, 1), alpha, fc, rng)
        colour = shaped_noise((h, w, 3), alpha, fc, rng)
        field = np.sqrt(1.0 - chroma) * luma + np.sqrt(chroma) * colour
        return (image + field * (uniform(rng, self.sigma) / 255.0)).astype(np.float32)


class FilmGrain(Degradation):
    r"""Film or scan grain: luminance-weighted, slightly blurred, mostly monochrome noise.

    Grain is strongest in mid-tones (silver density), so its amplitude follows
    :math:`4\,x(1-x)`; grain size is a Gaussian blur of ``size`` ∈ [0.5, 1.5] px on white noise;
    ``sigma`` ∈ [2, 20] (0–255 scale) at mid-grey; ``colour`` fraction ∈ [0, 0.3]. Not clipped.
    """

    def __init__(self, sigma=(2.0, 20.0), size=(0.5, 1.5), colour=(0.0, 0.3)):
        self.sigma, self.size, self.colour = tuple(sigma), tuple(size), tuple(colour)

    def __call__(self, image, rng):
        import cv2

        h, w, _ = image.shape
        size, colour = uniform(rng, self.size), uniform(rng, self.colour)
        white = rng.standard_normal((h, w, 4), dtype=np.float32)
        grain = cv2.GaussianBlur(white, (0, 0), size)
        grain /= grain.std(axis=(0, 1), keepdims=True) + 1e-12
        field = np.sqrt(1 - colour) * grain[:, :, :1] + np.sqrt(colour) * grain[:, :, 1:]
        lum = image.mean(axis=2, keepdims=True)
        amp = 4.0 * np.clip(lum, 0, 1) * (1.0 - np.clip(lum, 0, 1)) * 0.8 + 0.2
        return (image + field * amp * (uniform(rng, self.sigma) / 255.0)).astype(np.float32)


class LowLight(Degradation):
    r"""Low-light capture: exposure scaled down by ``k``, sensor noise at that exposure, gain back up.

    :math:`y = \frac{1}{k}\big(kx + n\big),\ \operatorname{Var}(n) = a\,kx + b`: dividing the exposure by
    ``k`` ∈ [1, 16] (up to 4 stops) and amplifying afterwards multiplies relative shot noise by √k and
    read noise by k, as a phone's night shot does. Applied in linear light (sRGB decoded first).
    Clipped like a sensor, then re-encoded.
    """

    def __init__(self, factor=(1.0, 16.0), shot=(1e-4, 2e-3), read=(0.2, 2.0)):
        self.factor, self.shot, self.read = tuple(factor), tuple(shot), tuple(read)

    def __call__(self, image, rng):
        k = float(np.exp(uniform(rng, tuple(np.log(self.factor)))))
        a = float(np.exp(uniform(rng, tuple(np.log(self.shot)))))
        b = (uniform(rng, self.read) / 255.0) ** 2
        dark = srgb_to_linear(np.clip(image, 0, 1)) / k
        noisy = dark + rng.standard_normal(image.shape, dtype=np.float32) * np.sqrt(a * dark + b).astype(np.float32)
        return linear_to_srgb(np.clip(noisy * k, 0.0, 1.0))
