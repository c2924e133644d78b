"""The model file: one ``.safetensors`` per network, weights plus three metadata entries (never pickles).

``restora.arch`` (registry name), ``restora.config`` (JSON of the architecture's keyword arguments),
``restora.card`` (JSON model card: task, data and terms, steps, validation, the run it continues, ...).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from restora.errors import ModelError

# The architectures a model file may name: importing them registers them (the one list of what exists).
from restora.models import allinone, denoiserep, mimounet, nafnet, repairnet, stylenet  # noqa: F401
from restora.models.registry import ARCHITECTURES


def read_metadata(path: Path) -> dict:
    """``{"arch", "config", "card"}`` of a model file, without loading its weights."""
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


def architecture(arch: str) -> type:
    """The registered class of an architecture name."""
    if arch not in ARCHITECTURES:
        raise ModelError(f"unknown architecture '{arch}' (known: {', '.join(sorted(ARCHITECTURES))})")
    return ARCHITECTURES[arch]


def build_module(arch: str, config: dict) -> torch.nn.Module:
    return architecture(arch)(**config)


def save_model(module: torch.nn.Module, path: Path, card: dict) -> None:
    """Write weights plus architecture, config and card; atomic (temporary name, then rename)."""
    meta = {
        # arch_name: a class attribute (register_arch), which Module.__getattr__ types Tensor | Module.
        "restora.arch": str(module.arch_name),
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


def file_describes(path: Path) -> bool:
    """True for a model file whose architecture describes whole images (an all-in-one model), without loading
    its weights; False for a missing file."""
    return file_arch_has(path, "describe")


def file_arch_has(path: Path, attribute: str) -> bool:
    """True for a model file whose architecture has the method ``attribute`` (``describe``, ``norm_stats``),
    without loading its weights; False for a missing file."""
    path = Path(path)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        return False
    return _file_arch_has(str(path), stamp, attribute)


@lru_cache(maxsize=64)
def _file_arch_has(path: str, stamp: int, attribute: str) -> bool:
    cls = ARCHITECTURES.get(read_metadata(Path(path))["arch"])
    return callable(getattr(cls, attribute, None))
