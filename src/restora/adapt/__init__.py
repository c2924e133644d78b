"""Adapt a denoiser to a user's own camera from noisy photos alone (``restora adapt``).

See :mod:`restora.adapt.trainer` for the objective (recorrupted-to-recorrupted with the photos' own noise
model, :mod:`restora.adapt.noise_model`) and how the model is kept from drifting.
"""

from restora.adapt.noise_model import CameraNoise, estimate_camera_noise
from restora.adapt.trainer import AdaptConfig, AdaptResult, adapt

__all__ = ["AdaptConfig", "AdaptResult", "CameraNoise", "adapt", "estimate_camera_noise"]
