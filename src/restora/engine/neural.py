"""Our networks as engine methods, loaded from one ``.safetensors`` file each (never pickles).

The file format is :mod:`restora.models.modelfile` (see docs/conventions.md); what the engine needs of a
network is its :class:`~restora.models.descriptor.ModelDescriptor`.
"""

from __future__ import annotations

from typing import Any

import sys
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from restora.engine.methods import Method, MethodSpec, context_image
from restora.errors import ModelError
from restora.models.descriptor import ModelDescriptor
from restora.models.device import resolve_device
from restora.models.modelfile import file_arch_has, file_describes, load_module, read_metadata


class NeuralMethod(Method):
    """Runs a restoration network on tiles; fp16/bf16 autocast on CUDA.

    A network with a ``describe`` method (the all-in-one model: a degradation-aware representation of the
    whole image) gets it computed once per image by :meth:`prepare`, on the engine's downscaled copy of the
    whole image, and every tile is restored with that embedding (``forward(x, embedding=...)``, with the
    network's ``whole_image_context`` where it has one: also the whole image's exposure curve), so tiles
    agree with the whole image about haze, light level and degradation type. That copy is made by the
    network's own ``describe_input`` (the function it was trained with, e.g. antialiased bilinear in
    :mod:`restora.models.allinone`) where it has one, so inference describes what training described.

    A network with shared normalisation (``norm_stats``: the style network, :mod:`restora.models.stylenet`)
    gets its instance-norm statistics computed once per image the same way, on the whole image downscaled to
    its ``stats_side``, and every tile is normalised with them (``forward(x, stats=...)``): tiles agree.
    """

    runtime = "torch"
    default_tile = 512
    supports_self_ensemble = True  # the embedding is global: every orientation of a tile gets the same one

    def __init__(self, module: torch.nn.Module, name: str, device: str = "auto", card: dict | None = None):
        self.device = resolve_device(device)
        # Any: the architecture's own methods (describe, norm_stats, ...) are there as its descriptor says.
        self.module: Any = module.to(self.device).eval()
        if self.device.type == "cpu":
            # Module.to takes memory_format too; torch's overloads leave it out.
            self.module = self.module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.name = name
        self.card = card or {}
        descriptor = ModelDescriptor.of(module)
        self.uses_sigma = descriptor.takes_sigma
        self.size_multiple = descriptor.size_multiple
        self.halo = descriptor.halo
        self.describes = descriptor.whole_image_prior
        self.shrink = own_describe_input(module) if self.describes else None
        self.shares_norm = descriptor.shared_norm

    def _tensor(self, pixels: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1), dtype=np.float32))[None].to(self.device)
        return x.contiguous(memory_format=torch.channels_last) if self.device.type == "cpu" else x

    def _autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16) if self.device.type == "cuda" else nullcontext()

    @torch.inference_mode()
    def describe(self, small: np.ndarray) -> dict[str, torch.Tensor]:
        """The network's description of a whole (downscaled) image: ``embedding``, ``logits``, ``severity``."""
        if not self.describes:
            raise ModelError(f"model '{self.name}' does not describe degradations (it is not an all-in-one model)")
        with self._autocast():
            out = self.module.describe(self._tensor(small))
        return {k: v.float() for k, v in out.items()}

    @property
    def wants_context(self) -> bool:
        return self.describes or self.shares_norm

    @torch.inference_mode()
    def prepare(self, small: np.ndarray):
        """What every tile gets: a style network's shared normalisation statistics; an all-in-one network's
        ``whole_image_context`` of ``small`` where it has one (the embedding and the whole image's exposure
        curve), else the embedding of :meth:`describe`."""
        if self.shares_norm:
            return self.module.norm_stats(self._tensor(small))
        if not self.describes:
            return None
        whole = getattr(self.module, "whole_image_context", None)
        if callable(whole):
            with self._autocast():
                return whole(self._tensor(small))
        return {"embedding": self.describe(small)["embedding"]}

    @torch.inference_mode()
    def context_input(self, pixels: np.ndarray) -> np.ndarray:
        """The whole image downscaled as the network's ``describe_input`` does it (on the CPU, float32)."""
        if self.shares_norm:
            return context_image(pixels, int(self.module.stats_side))
        if self.shrink is None:
            return super().context_input(pixels)
        x = torch.from_numpy(np.asarray(pixels, np.float32)).permute(2, 0, 1)[None]  # a view: no full-size copy
        return np.ascontiguousarray(self.shrink(x)[0].permute(1, 2, 0).numpy())

    @torch.inference_mode()
    def process(self, tile: np.ndarray, sigma: np.ndarray | None, context=None) -> np.ndarray:
        x = self._tensor(tile)
        with self._autocast():
            if self.uses_sigma:
                s = torch.from_numpy(sigma_map(sigma, tile.shape)).permute(2, 0, 1)[None].to(self.device)
                y = self.module(x, s)
            elif context is not None and self.shares_norm:
                y = self.module(x, stats=context.value)
            elif context is not None:
                y = self.module(x, **context.value)
            else:
                y = self.module(x)
        return y.float()[0].permute(1, 2, 0).cpu().numpy()


def own_describe_input(module: torch.nn.Module):
    """The network's ``describe_input(x (B, C, H, W)) -> downscaled x``: an attribute of the network, else a
    function of the Python module that defines its class (:func:`restora.models.allinone.describe_input`);
    None when it has neither."""
    found = getattr(module, "describe_input", None)
    if not callable(found):
        found = getattr(sys.modules.get(type(module).__module__), "describe_input", None)
    return found if callable(found) else None


def sigma_map(sigma: np.ndarray | None, shape: tuple) -> np.ndarray:
    """σ (per channel, 0–255 scale, or a map) → (h, w, 3) float32 map on the [0, 1] scale."""
    s = np.zeros(3, np.float32) if sigma is None else np.asarray(sigma, np.float32)
    if s.ndim == 3:
        return np.ascontiguousarray(s[: shape[0], : shape[1]] / 255.0)
    return np.broadcast_to(s.reshape(1, 1, -1) / 255.0, (shape[0], shape[1], 3)).astype(np.float32)


def spec_from_file(path: Path, name: str | None = None) -> MethodSpec:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    meta = read_metadata(path)
    card = meta["card"]
    tasks = tuple(card.get("tasks", [card.get("task", "denoise")]))
    name = name or path.stem

    def load(device: str, _path=path, _name=name):
        module, m = load_module(_path)
        return NeuralMethod(module, _name, device, m["card"])

    return MethodSpec(name, tasks, card.get("summary", f"{meta['arch']} network"), "ours", load, path)


def describes_degradations(spec: MethodSpec) -> bool:
    """True for a model file whose architecture can describe degradations (an all-in-one model), without loading it."""
    return spec.path is not None and file_describes(Path(spec.path))


def takes_whole_image_context(spec: MethodSpec) -> bool:
    """True for a model file whose tiles need something computed on the whole image (an all-in-one model's
    embedding, the style network's shared normalisation), which an exported ONNX graph cannot take."""
    return spec.path is not None and (file_describes(Path(spec.path)) or file_arch_has(Path(spec.path), "norm_stats"))
