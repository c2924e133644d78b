"""Snapshots of the shipped models: each network's output for one fixed, seeded 32×32 input.

tests/models/test_model_snapshots.py compares every model in ``src/restora/weights/`` with its reference in
``tests/data/model-snapshots/`` (``<model>.npy``: the output; ``snapshots.json``: the weights file's SHA-256,
so a re-shipped model is told apart from a changed code path). After shipping a model, make its reference:

    PYTHONPATH=src python tests/models/model_snapshots.py restora-damage      # or no name: every model
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

from restora.models.modelfile import load_module
from restora.models.registry import WEIGHTS_DIR

REFERENCES = Path(__file__).resolve().parents[1] / "data" / "model-snapshots"
INDEX = REFERENCES / "snapshots.json"
SIZE = 32
SEED = 0
REGENERATE = "PYTHONPATH=src python tests/models/model_snapshots.py"


def shipped_models() -> list[str]:
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def weights_sha256(name: str) -> str:
    return hashlib.sha256((WEIGHTS_DIR / f"{name}.safetensors").read_bytes()).hexdigest()


def _photo(rng: np.random.Generator) -> torch.Tensor:
    """(1, 3, SIZE, SIZE) in [0, 1]: smooth colour gradients plus Gaussian noise σ=25 (on 0–255)."""
    yy, xx = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32) / SIZE
    scene = np.stack([0.2 + 0.6 * xx, 0.3 + 0.5 * yy, 0.5 + 0.3 * np.sin(6 * xx) * np.cos(4 * yy)])
    noisy = scene + rng.normal(0, 25 / 255, scene.shape)
    return torch.from_numpy(np.clip(noisy, 0, 1).astype(np.float32))[None]


def _hole() -> torch.Tensor:
    """(1, 1, SIZE, SIZE): a square hole (1 = fill) off the centre."""
    mask = torch.zeros(1, 1, SIZE, SIZE)
    mask[..., 10:22, 6:18] = 1
    return mask


def snapshot_output(name: str) -> np.ndarray:
    """The network's output for the fixed input, as float32 (C, H, W); each architecture called as it is run."""
    module, meta = load_module(WEIGHTS_DIR / f"{name}.safetensors")
    rng = np.random.default_rng(SEED)
    x = _photo(rng)
    arch = meta["arch"]
    with torch.no_grad():
        if arch == "nafnet":
            out = module(x, torch.full_like(x, 25 / 255) if getattr(module, "uses_sigma", False) else None)
        elif arch == "inpaintnet":
            out = module(x, _hole())
        elif arch == "resshift":
            y0 = _photo(rng)
            out = module(x, y0, _hole(), torch.tensor([module.steps]))
        elif arch in ("allinone", "mimounet", "damagenet", "stylenet"):
            out = module(x)
        else:
            raise ValueError(f"{name}: no snapshot input for architecture '{arch}' (add one in {Path(__file__).name})")
    return out[0].float().numpy()


def regenerate(names: list[str]) -> None:
    REFERENCES.mkdir(parents=True, exist_ok=True)
    index = json.loads(INDEX.read_text()) if INDEX.exists() else {}
    for name in names:
        output = snapshot_output(name)
        np.save(REFERENCES / f"{name}.npy", output)
        index[name] = {"weights_sha256": weights_sha256(name), "shape": list(output.shape), "size": SIZE, "seed": SEED}
        print(f"{name}: {output.shape}, mean {output.mean():.4f}, std {output.std():.4f}")
    shipped = set(shipped_models())
    for gone in sorted(set(index) - shipped):  # a model no longer shipped: its reference goes too
        del index[gone]
        (REFERENCES / f"{gone}.npy").unlink(missing_ok=True)
    INDEX.write_text(json.dumps(dict(sorted(index.items())), indent=1) + "\n")


if __name__ == "__main__":
    torch.set_num_threads(1)
    asked = sys.argv[1:] or shipped_models()
    unknown = sorted(set(asked) - set(shipped_models()))
    if unknown:
        raise SystemExit(f"not shipped: {', '.join(unknown)} (models: {', '.join(shipped_models())})")
    regenerate(asked)
