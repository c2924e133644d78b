"""Degradation synthesis: seeded, composable operators and named pipelines (see ``base`` for the contract)."""

from restora.degrade.base import Clip, Compose, Degradation, Maybe, OneOf, Quantize, RandomOrder
from restora.degrade.blur import DefocusBlur, LevinKernels, MotionBlur
from restora.degrade.camera import CameraPipeline
from restora.degrade.compression import JPEG, Downscale, GaussianBlur
from restora.degrade.exposure import Underexpose
from restora.degrade.haze import Haze
from restora.degrade.impulse import SaltPepperNoise
from restora.degrade.noise import CorrelatedNoise, FilmGrain, GaussianNoise, LowLight, PoissonGaussianNoise
from restora.degrade.periodic import PeriodicNoise
from restora.degrade.pipelines import PIPELINES, get_pipeline, register_pipeline
from restora.degrade.rain import Rain

__all__ = [
    "CameraPipeline",
    "Clip",
    "Compose",
    "CorrelatedNoise",
    "Degradation",
    "Downscale",
    "FilmGrain",
    "GaussianBlur",
    "GaussianNoise",
    "JPEG",
    "LowLight",
    "Maybe",
    "OneOf",
    "PIPELINES",
    "PoissonGaussianNoise",
    "Quantize",
    "RandomOrder",
    "get_pipeline",
    "register_pipeline",
    "DefocusBlur",
    "Haze",
    "LevinKernels",
    "MotionBlur",
    "PeriodicNoise",
    "Rain",
    "SaltPepperNoise",
    "Underexpose",
]
