"""Old-photo repair: find damage (scratches, dust, blotches, creases, torn corners) and fill it.

- :func:`read_mask` / :func:`find_mask`: a mask image (white = fill), or the mask of a folder matched by name;
- :func:`detect_damage`: the damage detector (``restora-damage``, :class:`restora.models.repairnet.DamageNet`)
  run in tiles, its probability above the threshold chosen on validation, grown by a pixel or two;
- :func:`inpaint`: fill the masked pixels with a network (``restora-inpaint`` in one pass, or
  ``restora-inpaint-resshift`` in ``steps`` residual-shifting steps from ``seed``) or OpenCV's Telea or
  Navier–Stokes inpainting (``telea``, ``ns``). Pixels outside the mask are returned unchanged, bit for bit.
"""

from __future__ import annotations

from typing import Any

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from restora.errors import BadInputError, ModelError, RestoraError

DETECTOR = "restora-damage"
INPAINTERS = {"fast": "restora-inpaint", "resshift": "restora-inpaint-resshift"}
CLASSICAL = ("telea", "ns")  # cv2.inpaint's two methods
CLASSICAL_RADIUS = 3  # cv2.inpaint's neighbourhood radius (px), as OpenCV's sample uses
DEFAULT_THRESHOLD = 0.5
DEFAULT_GROW = 1  # px: the detector's mask grown so a fill also covers a damage's faint edge
TILE, HALO = 512, 48


def read_mask(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """The mask image at ``path`` as bool (H, W): white (above mid-grey) = fill. Any readable image format;
    its size must be the photo's ``shape`` (height, width), as displayed."""
    from restora.io import read_image

    image = read_image(path)
    if (image.height, image.width) != tuple(shape):
        raise BadInputError(f"{path}: mask is {image.width} × {image.height}, the photo {shape[1]} × {shape[0]}")
    grey = image.pixels.mean(axis=2)
    if image.alpha is not None:
        grey = grey * image.alpha  # transparent = keep
    return grey > 0.5


def find_mask(masks: Path, photo: Path) -> Path:
    """The mask for ``photo`` in the folder ``masks``: the file named like the photo (any image extension),
    or like it with ``_mask`` or ``.mask`` added (``a.jpg`` → ``a.png``, ``a_mask.png``, ``a.mask.png``)."""
    import glob

    from restora.io import SUPPORTED_READ_EXTENSIONS

    stem = photo.stem
    wanted = (stem, f"{stem}_mask", f"{stem}.mask", f"{stem}-mask")
    for name in wanted:
        for f in sorted(masks.glob(f"{glob.escape(name)}.*")):
            if f.suffix.lower() in SUPPORTED_READ_EXTENSIONS and f.is_file():
                return f
    raise BadInputError(f"{photo.name}: no mask named {stem}.* or {stem}_mask.* in {masks}")


@dataclass(frozen=True)
class RepairModel:
    module: Any  # DamageNet, InpaintNet or ResShiftNet
    name: str
    card: dict


@lru_cache(maxsize=4)
def load_repair_model(name_or_path: str, arch: str) -> RepairModel:
    """A shipped repair network (by name) or a ``.safetensors`` file of architecture ``arch``."""
    from restora.models.modelfile import load_module
    from restora.models.registry import WEIGHTS_DIR

    path = Path(name_or_path)
    if path.suffix != ".safetensors":
        path = WEIGHTS_DIR / f"{name_or_path}.safetensors"
        if not path.is_file():
            raise ModelError(f"model '{name_or_path}' is not shipped (no {path.name} in {WEIGHTS_DIR})")
    elif not path.is_file():
        raise ModelError(f"{path}: model file not found")
    module, meta = load_module(path)
    if meta["arch"] != arch:
        raise ModelError(f"{path}: a '{meta['arch']}' network, not a {arch}")
    module.requires_grad_(False)
    return RepairModel(module, path.stem, meta["card"])


def _tiled(pixels: np.ndarray, fn, tile: int | None) -> np.ndarray:
    from restora.engine.tiling import process_tiled

    if tile == 0 or max(pixels.shape[:2]) <= (tile or TILE):
        return fn(pixels, (slice(0, pixels.shape[0]), slice(0, pixels.shape[1])))
    return process_tiled(pixels, fn, tile or TILE, overlap=32, halo=HALO, multiple=4)


def damage_probability(pixels: np.ndarray, model: str = DETECTOR, tile: int | None = None) -> np.ndarray:
    """The detector's probability (H, W) float32 that each pixel is damaged."""
    import torch

    net = load_repair_model(model, "damagenet").module

    def run(window, region):
        x = torch.from_numpy(np.ascontiguousarray(window[..., :3])).permute(2, 0, 1)[None]
        with torch.no_grad():
            p = torch.sigmoid(net(x))[0, 0].numpy()
        return np.repeat(p[..., None], window.shape[2], axis=2)

    return _tiled(np.asarray(pixels, np.float32), run, tile)[..., 0]


def detection_threshold(model: str = DETECTOR) -> float:
    """The threshold on the detector's probability chosen on validation (its card), else 0.5."""
    return float(load_repair_model(model, "damagenet").card.get("threshold", DEFAULT_THRESHOLD))


def detect_damage(
    pixels: np.ndarray,
    model: str = DETECTOR,
    threshold: float | None = None,
    grow: int = DEFAULT_GROW,
    tile: int | None = None,
) -> np.ndarray:
    """The damage mask (H, W) bool that the detector finds, grown by ``grow`` px."""
    from restora.degrade.damage import dilate

    t = detection_threshold(model) if threshold is None else threshold
    return dilate(damage_probability(pixels, model, tile) > t, grow)


def _classical(pixels: np.ndarray, mask: np.ndarray, method: str) -> np.ndarray:
    import cv2

    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    eight = np.clip(np.rint(pixels * 255.0), 0, 255).astype(np.uint8)  # cv2.inpaint takes 8-bit photos
    return cv2.inpaint(eight, mask.astype(np.uint8), CLASSICAL_RADIUS, flag).astype(np.float32) / 255.0


def inpaint(
    pixels: np.ndarray,
    mask: np.ndarray,
    method: str = "fast",
    steps: int | None = None,
    seed: int = 0,
    tile: int | None = None,
) -> np.ndarray:
    """``pixels`` (H, W, 3) float in [0, 1] with the pixels of ``mask`` (H, W) bool filled; every other pixel
    is returned exactly as given.

    ``method``: ``fast`` (restora-inpaint), ``resshift`` (restora-inpaint-resshift: ``steps`` sampling steps, at
    most its chain's length, noise from ``seed``), ``telea`` or ``ns`` (OpenCV), or a ``.safetensors`` path of
    an inpaintnet or resshift network."""
    import torch

    pixels = np.asarray(pixels, np.float32)
    mask = np.asarray(mask, bool)
    if mask.shape != pixels.shape[:2]:
        raise RestoraError(
            f"mask is {mask.shape[1]} × {mask.shape[0]}, the photo {pixels.shape[1]} × {pixels.shape[0]}"
        )
    if not mask.any():
        return pixels.copy()
    if method in CLASSICAL:
        filled = _classical(pixels, mask, method)
    else:
        name = INPAINTERS.get(method, method)
        from restora.models.modelfile import read_metadata

        path = Path(name) if name.endswith(".safetensors") else None
        arch = (
            read_metadata(path)["arch"]
            if path is not None and path.is_file()
            else ("resshift" if method == "resshift" else "inpaintnet")
        )
        net = load_repair_model(name, arch).module
        if arch == "resshift" and steps is not None and not 1 <= steps <= net.steps:
            raise RestoraError(f"--steps must be 1 to {net.steps} for {name}")

        def run(window, region):
            x = torch.from_numpy(np.ascontiguousarray(window)).permute(2, 0, 1)[None]
            rgb, m = x[:, :3], (x[:, 3:4] > 0.5).float()
            if not m.any():
                return window
            with torch.no_grad():
                if arch == "resshift":  # noise drawn per tile from (seed, tile position): order-independent
                    key = np.random.SeedSequence([seed, region[0].start, region[1].start]).generate_state(1)[0]
                    g = torch.Generator().manual_seed(int(key))
                    out = net.sample(rgb, m, steps, generator=g)
                else:
                    out = net(rgb, m)
            out = out.clamp(0, 1)[0].permute(1, 2, 0).numpy()
            return np.concatenate([out, window[..., 3:]], 2)

        stacked = np.concatenate([pixels, mask[..., None].astype(np.float32)], 2)
        filled = _tiled(stacked, run, tile)[..., :3]
    return np.where(mask[..., None], filled, pixels).astype(np.float32)


def damage_fraction(pixels: np.ndarray, model: str = DETECTOR, size: int = 384) -> float:
    """The share of the photo the detector finds damaged, measured on a copy at most ``size`` px long (quick)."""
    import cv2

    h, w = pixels.shape[:2]
    scale = min(1.0, size / max(h, w))
    small = (
        pixels
        if scale == 1.0
        else cv2.resize(
            np.asarray(pixels, np.float32),
            (max(1, round(w * scale)), max(1, round(h * scale))),
            interpolation=cv2.INTER_AREA,
        )
    )
    return float(detect_damage(small, model, grow=0, tile=0).mean())
