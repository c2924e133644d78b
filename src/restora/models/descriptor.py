"""What the engine needs to know about a network (spandrel's ``ImageModelDescriptor`` in spirit).

A network states these as attributes (``size_multiple``, ``halo``, ``uses_sigma``, a ``describe`` method);
:meth:`ModelDescriptor.of` reads them once, so the tiled engine and the ONNX export agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Halo assumed for a network that does not state one.
DEFAULT_HALO = 32


@dataclass(frozen=True)
class ModelDescriptor:
    """``size_multiple``: height and width a tile must be a multiple of; ``halo``: pixels of surrounding image
    a tile needs (≥ receptive radius) for seamless tiling; ``takes_sigma``: ``forward(x, sigma_map)``;
    ``whole_image_prior``: the network describes the whole (downscaled) image once (``describe``) and
    restores every tile with that embedding; ``shared_norm``: the network normalises every tile with
    statistics of the whole (downscaled) image (``norm_stats``, the style network); ``channels``: colour
    channels in and out."""

    arch: str
    size_multiple: int = 1
    halo: int = DEFAULT_HALO
    takes_sigma: bool = False
    whole_image_prior: bool = False
    shared_norm: bool = False
    channels: int = 3

    @classmethod
    def of(cls, module: torch.nn.Module) -> ModelDescriptor:
        return cls(
            arch=str(getattr(module, "arch_name", type(module).__name__)),
            size_multiple=int(getattr(module, "size_multiple", 1)),
            halo=int(getattr(module, "halo", DEFAULT_HALO)),
            takes_sigma=bool(getattr(module, "uses_sigma", False)),
            whole_image_prior=callable(getattr(module, "describe", None)),
            shared_norm=callable(getattr(module, "norm_stats", None)),
            channels=int(getattr(module, "config", {}).get("channels", 3)),
        )
