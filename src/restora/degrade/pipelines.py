"""Named degradation pipelines, used by training configs and by ``restora degrade``.

``practical`` mixes blur, resampling, one of the noise models and JPEG in random order and strength,
as BSRGAN/SCUNet and Real-ESRGAN do for blind training; ``denoise-mix`` is the training mixture of the
shipped denoisers: half synthetic Gaussian (the benchmarks' noise, σ 0–55), half realistic noise.
"""

from __future__ import annotations

from collections.abc import Callable

from restora.degrade.base import Clip, Compose, Degradation, Maybe, OneOf, RandomOrder
from restora.degrade.camera import CameraPipeline
from restora.degrade.compression import JPEG, Downscale, GaussianBlur
from restora.degrade.noise import CorrelatedNoise, FilmGrain, GaussianNoise, LowLight, PoissonGaussianNoise

PIPELINES: dict[str, Callable[[], Degradation]] = {}


def register_pipeline(name: str):
    def wrap(fn):
        PIPELINES[name] = fn
        return fn

    return wrap


def get_pipeline(name: str) -> Degradation:
    from restora.errors import RestoraError

    if name not in PIPELINES:
        raise RestoraError(f"unknown degradation pipeline '{name}' (known: {', '.join(sorted(PIPELINES))})")
    return PIPELINES[name]()


@register_pipeline("gaussian")
def gaussian() -> Degradation:
    return GaussianNoise(sigma=(0.0, 55.0))


@register_pipeline("poisson")
def poisson() -> Degradation:
    return PoissonGaussianNoise()


@register_pipeline("camera")
def camera() -> Degradation:
    return CameraPipeline()


@register_pipeline("correlated")
def correlated() -> Degradation:
    return Compose([CorrelatedNoise(), Maybe(JPEG(quality=(60, 95)), 0.5), Clip()])


@register_pipeline("grain")
def grain() -> Degradation:
    return Compose([FilmGrain(), Maybe(JPEG(quality=(70, 95)), 0.5), Clip()])


@register_pipeline("lowlight")
def lowlight() -> Degradation:
    return Compose([LowLight(), Maybe(JPEG(quality=(70, 95)), 0.3)])


@register_pipeline("jpeg")
def jpeg() -> Degradation:
    return JPEG()


@register_pipeline("practical")
def practical() -> Degradation:
    noise = OneOf(
        [GaussianNoise(sigma=(1, 40), gray_prob=0.3, channel_spread=0.3), PoissonGaussianNoise(),
         CorrelatedNoise(), FilmGrain(), CameraPipeline(jpeg_prob=0.0)],
        weights=[2, 2, 2, 1, 3],
    )
    return Compose([
        RandomOrder([Maybe(GaussianBlur(sigma=(0.3, 1.0)), 0.2), Maybe(Downscale(factor=(1.0, 1.5)), 0.2), noise]),
        Maybe(JPEG(quality=(50, 95)), 0.5),
        Clip(),
    ])


@register_pipeline("denoise-mix")
def denoise_mix() -> Degradation:
    return OneOf([gaussian(), camera(), poisson(), correlated(), practical()], weights=[0.5, 0.2, 0.1, 0.1, 0.1])
