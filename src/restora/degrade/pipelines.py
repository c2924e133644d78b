"""Named degradation pipelines, used by training configs and by ``restora degrade``.

``practical`` mixes blur, resampling, one of the noise models and JPEG in random order and strength,
as BSRGAN/SCUNet and Real-ESRGAN do for blind training; ``denoise-mix`` is the training mixture of the
shipped denoisers: half synthetic Gaussian (the benchmarks' noise, σ 0–55), half realistic noise;
``denoise-mix-isp`` moves a share of its camera noise to ``camera-isp`` (after in-camera noise reduction).
``motion-blur``, ``defocus``, ``rain``, ``haze`` and ``lowlight-dark`` are the single-degradation training
sets of the other tasks; ``all-in-one`` mixes them with ``denoise-mix``, one type per image.
``salt-pepper`` (1–30 %, and ``salt-pepper-5/10/20`` at fixed fractions) and ``periodic`` are the damage of
scans: dust specks and scanner or interference patterns.
"""

from __future__ import annotations

from collections.abc import Callable

from restora.degrade.base import Clip, Compose, Degradation, Maybe, OneOf, RandomOrder
from restora.degrade.blur import DefocusBlur, MotionBlur
from restora.degrade.camera import CameraPipeline
from restora.degrade.compression import JPEG, Downscale, GaussianBlur
from restora.degrade.exposure import Underexpose
from restora.degrade.haze import Haze
from restora.degrade.impulse import SaltPepperNoise
from restora.degrade.noise import CorrelatedNoise, FilmGrain, GaussianNoise, LowLight, PoissonGaussianNoise
from restora.degrade.periodic import PeriodicNoise
from restora.degrade.rain import Rain
from restora.errors import RestoraError

PIPELINES: dict[str, Callable[[], Degradation]] = {}


def register_pipeline(name: str):
    def wrap(fn):
        PIPELINES[name] = fn
        return fn

    return wrap


def get_pipeline(name: str) -> Degradation:
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


@register_pipeline("camera-isp")
def camera_isp() -> Degradation:
    """Camera noise after the camera's own noise reduction: low-frequency, blotchy (most JPEGs)."""
    return CameraPipeline(isp_nr_prob=1.0)


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
        [
            GaussianNoise(sigma=(1, 40), gray_prob=0.3, channel_spread=0.3),
            PoissonGaussianNoise(),
            CorrelatedNoise(),
            FilmGrain(),
            CameraPipeline(jpeg_prob=0.0),
        ],
        weights=[2, 2, 2, 1, 3],
    )
    return Compose(
        [
            RandomOrder([Maybe(GaussianBlur(sigma=(0.3, 1.0)), 0.2), Maybe(Downscale(factor=(1.0, 1.5)), 0.2), noise]),
            Maybe(JPEG(quality=(50, 95)), 0.5),
            Clip(),
        ]
    )


@register_pipeline("denoise-mix")
def denoise_mix() -> Degradation:
    return OneOf([gaussian(), camera(), poisson(), correlated(), practical()], weights=[0.5, 0.2, 0.1, 0.1, 0.1])


@register_pipeline("denoise-mix-isp")
def denoise_mix_isp() -> Degradation:
    """``denoise-mix`` with a share of its camera noise after in-camera noise reduction (``camera-isp``)."""
    return OneOf(
        [gaussian(), camera(), camera_isp(), poisson(), correlated(), practical()],
        weights=[0.5, 0.15, 0.15, 0.07, 0.07, 0.06],
    )


def light_sensor_noise() -> Degradation:
    """The little sensor noise a blurred photo also carries: Gaussian σ ≤ 5 or mild shot + read noise."""
    return OneOf([GaussianNoise(sigma=(0.0, 5.0)), PoissonGaussianNoise(shot=(1e-4, 1e-3), read=(0.5, 3.0))])


@register_pipeline("motion-blur")
def motion_blur() -> Degradation:
    """Camera shake (random trajectories, 7–31 px) plus a little sensor noise."""
    return Compose([MotionBlur(), light_sensor_noise(), Clip()])


@register_pipeline("defocus")
def defocus() -> Degradation:
    """Defocus disk (radius 1–6 px) or Gaussian blur (σ 0.5–3 px), plus a little sensor noise."""
    return Compose(
        [OneOf([DefocusBlur(), GaussianBlur(sigma=(0.5, 3.0))], weights=[3, 1]), light_sensor_noise(), Clip()]
    )


@register_pipeline("rain")
def rain() -> Degradation:
    """Rain streak layers and accumulation veil, sometimes JPEG-compressed."""
    return Compose([Rain(), Maybe(JPEG(quality=(70, 95)), 0.3), Clip()])


@register_pipeline("haze")
def haze() -> Degradation:
    """Scattering-model haze with a smooth random transmission, plus a little sensor noise."""
    return Compose([Haze(), Maybe(light_sensor_noise(), 0.5), Clip()])


@register_pipeline("lowlight-dark")
def lowlight_dark() -> Degradation:
    """A dark, noisy night shot: low-light sensor noise, under-exposure with gamma, sometimes JPEG."""
    return Compose([LowLight(), Underexpose(), Maybe(JPEG(quality=(70, 95)), 0.3), Clip()])


@register_pipeline("all-in-one")
def all_in_one() -> Degradation:
    """One of blur, rain, haze, low light or noise per image, each type equally likely (blur split in two)."""
    return OneOf([motion_blur(), defocus(), rain(), haze(), lowlight_dark(), denoise_mix()], weights=[1, 1, 2, 2, 2, 2])


@register_pipeline("salt-pepper")
def salt_pepper() -> Degradation:
    """Salt-and-pepper specks on 1–30 % of the pixels, a quarter of the images with colour (per-channel) specks."""
    return OneOf(
        [SaltPepperNoise(amount=(0.01, 0.3)), SaltPepperNoise(amount=(0.01, 0.3), independent=True)], weights=[3, 1]
    )


def _salt_pepper_at(fraction: float):
    def pipeline() -> Degradation:
        return SaltPepperNoise(amount=(fraction, fraction))

    pipeline.__doc__ = f"Salt-and-pepper specks on exactly {100 * fraction:g} % of the pixels (benchmarks)."
    return pipeline


for _percent in (5, 10, 20):
    register_pipeline(f"salt-pepper-{_percent}")(_salt_pepper_at(_percent / 100))


@register_pipeline("periodic")
def periodic() -> Degradation:
    """One to three sinusoidal patterns of amplitude 8–30 (0–255 scale), then clipped."""
    return Compose([PeriodicNoise(), Clip()])
