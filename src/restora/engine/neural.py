"""Our networks as engine methods, loaded from one ``.safetensors`` file each (never pickles).

File metadata (see docs/conventions.md): ``restora.arch`` (registry name), ``restora.config`` (JSON of the
architecture's keyword arguments), ``restora.card`` (JSON model card: task, data and terms, steps, ...).
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import nullcontext
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from restora.engine.methods import Method
from restora.errors import ModelError
from restora.models.registry import ARCHITECTURES, METHODS, MethodSpec, register_method


def resolve_device(device: str = "auto") -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("device 'cuda' was asked for but no CUDA GPU is available")
    return torch.device(device)


def read_metadata(path: Path) -> dict:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as exc:  # safetensors raises several types for bad files
        raise ModelError(f"{path}: not a valid .safetensors model file ({exc.__class__.__name__})") from None
    if "restora.arch" not in meta:
        raise ModelError(f"{path}: model file has no 'restora.arch' metadata")
    return {
        "arch": meta["restora.arch"],
        "config": json.loads(meta.get("restora.config", "{}")),
        "card": json.loads(meta.get("restora.card", "{}")),
    }


def build_module(arch: str, config: dict) -> torch.nn.Module:
    from restora.models.registry import _ensure_loaded

    _ensure_loaded()
    if arch not in ARCHITECTURES:
        raise ModelError(f"unknown architecture '{arch}' (known: {', '.join(sorted(ARCHITECTURES))})")
    return ARCHITECTURES[arch](**config)


def save_model(module: torch.nn.Module, path: Path, card: dict) -> None:
    """Write weights plus architecture, config and card; atomic (temporary name, then rename)."""
    meta = {
        "restora.arch": module.arch_name,
        "restora.config": json.dumps(module.config, sort_keys=True),
        "restora.card": json.dumps(card, sort_keys=True),
    }
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    state = {k: v.detach().contiguous().cpu() for k, v in module.state_dict().items()}
    save_file(state, str(tmp), metadata=meta)
    os.chmod(tmp, 0o644)  # a model file is shared data, not a secret
    tmp.replace(path)


def load_module(path: Path) -> tuple[torch.nn.Module, dict]:
    meta = read_metadata(Path(path))
    module = build_module(meta["arch"], meta["config"])
    module.load_state_dict(load_file(str(path)))
    module.eval()
    return module, meta


class NeuralMethod(Method):
    """Runs a restoration network on tiles; fp16/bf16 autocast on CUDA.

    A network with a ``describe`` method (the all-in-one model: a degradation-aware representation of the
    whole image) gets it computed once per image by :meth:`prepare`, on the engine's downscaled copy of the
    whole image, and every tile is restored with that embedding (``forward(x, embedding=...)``), so tiles
    agree with the whole image about haze, light level and degradation type. That copy is made by the
    network's own ``describe_input`` (the function it was trained with, e.g. antialiased bilinear in
    :mod:`restora.models.allinone`) where it has one, so inference describes what training described.
    """

    runtime = "torch"
    default_tile = 512
    supports_self_ensemble = True  # the embedding is global: every orientation of a tile gets the same one

    def __init__(self, module: torch.nn.Module, name: str, device: str = "auto", card: dict | None = None):
        self.device = resolve_device(device)
        self.module = module.to(self.device).eval()
        if self.device.type == "cpu":
            self.module = self.module.to(memory_format=torch.channels_last)
        self.name = name
        self.card = card or {}
        self.uses_sigma = bool(getattr(module, "uses_sigma", False))
        self.size_multiple = int(getattr(module, "size_multiple", 1))
        self.context = int(getattr(module, "context", 32))
        self.describes = callable(getattr(module, "describe", None))
        self.shrink = own_describe_input(module) if self.describes else None

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
        return self.describes

    def prepare(self, small: np.ndarray):
        return self.describe(small)["embedding"] if self.describes else None

    @torch.inference_mode()
    def context_input(self, pixels: np.ndarray) -> np.ndarray:
        """The whole image downscaled as the network's ``describe_input`` does it (on the CPU, float32)."""
        if self.shrink is None:
            return super().context_input(pixels)
        x = torch.from_numpy(np.asarray(pixels, np.float32)).permute(2, 0, 1)[None]  # a view: no full-size copy
        return np.ascontiguousarray(self.shrink(x)[0].permute(1, 2, 0).numpy())

    @torch.inference_mode()
    def process(self, tile: np.ndarray, sigma: np.ndarray | None, context=None) -> np.ndarray:
        x = self._tensor(tile)
        with self._autocast():
            if self.uses_sigma:
                s = torch.from_numpy(_sigma_map(sigma, tile.shape)).permute(2, 0, 1)[None].to(self.device)
                y = self.module(x, s)
            elif context is not None:
                y = self.module(x, embedding=context.value)
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


def _sigma_map(sigma: np.ndarray | None, shape: tuple) -> np.ndarray:
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


def register_shipped_models(folder: Path) -> None:
    """Register every ``.safetensors`` in the package's weights folder under its file stem."""
    for path in sorted(Path(folder).glob("*.safetensors")):
        if path.stem not in METHODS:
            register_method(spec_from_file(path))


def describes_degradations(spec: MethodSpec) -> bool:
    """True for a model file whose architecture can describe degradations (an all-in-one model), without loading it."""
    if spec.path is None:
        return False
    path = Path(spec.path)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return False
    return _file_describes(str(path), stamp)


@lru_cache(maxsize=64)
def _file_describes(path: str, stamp: int) -> bool:
    from restora.models.registry import _ensure_loaded

    _ensure_loaded()
    cls = ARCHITECTURES.get(read_metadata(Path(path))["arch"])
    return callable(getattr(cls, "describe", None))
