"""Pack a config's training sets into a small folder that travels with the working tree to a GPU machine.

A device machine sees only the repository (64 MiB in all, weights included), not the data folder, so the sets
travel as one seeded crop per image, written as JPEG quality 95 without chroma subsampling, until a byte
budget is spent. Sets are filled in proportion to their weights; each keeps its held-out files (a centre crop
each, named so they sort last) so the packed config validates on the same slices. Returns the packed config:
the same run with ``sets`` pointing at the packed folders (relative to the folder ``RESTORA_DATA`` will name).

    python -m restora.train.pack configs/denoise-diverse-gpu.yaml .carry/data --budget-mb 9
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import typer
import yaml
from PIL import Image as PILImage

from restora.errors import RestoraError
from restora.io.write import write_bytes
from restora.train.config import TrainConfig, TrainSet
from restora.train.data import load_rgb, set_of, split_train_val


def encode_crop(image: np.ndarray, size: int, rng: np.random.Generator | None) -> bytes:
    """A ``size``² crop of ``image`` (random with ``rng``, else centred; the whole side where smaller) as JPEG q95 4:4:4."""
    h, w = image.shape[:2]
    ch, cw = min(size, h), min(size, w)
    if rng is None:
        y, x = (h - ch) // 2, (w - cw) // 2
    else:
        y, x = int(rng.integers(h - ch + 1)), int(rng.integers(w - cw + 1))
    buf = io.BytesIO()
    PILImage.fromarray(np.ascontiguousarray(image[y : y + ch, x : x + cw])).save(buf, "JPEG", quality=95, subsampling=0)
    return buf.getvalue()


def pack_sets(cfg: TrainConfig, dest: Path, budget_bytes: int, crop: int = 256, seed: int = 0) -> TrainConfig:
    """Write ``cfg``'s sets into ``dest/<set name>/`` within ``budget_bytes`` and return the packed config."""
    if not cfg.data.sets:
        raise RestoraError("pack needs a config with data.sets")
    if crop < cfg.data.patch:
        raise RestoraError(f"crops of {crop} px are smaller than the training patch {cfg.data.patch}")
    train, val = split_train_val(cfg.data)
    rng = np.random.default_rng(seed)
    members, val_members = set_of(cfg.data, train), set_of(cfg.data, val)
    held_out = [[f for f, m in zip(val, val_members) if m == k] for k in range(len(cfg.data.sets))]
    pool = [[f for f, m in zip(train, members) if m == k] for k in range(len(cfg.data.sets))]
    written = 0
    for k, t in enumerate(cfg.data.sets):  # the held-out slices first: they must travel whole
        folder = dest / t.name
        folder.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(held_out[k]):
            data = encode_crop(load_rgb(f), max(crop, cfg.data.val_crop), None)
            write_bytes(folder / f"v{i:04d}.jpg", data)
            written += len(data)
    if written > budget_bytes:
        raise RestoraError(f"the held-out slices alone take {written / 2**20:.1f} MiB, over the budget")
    weights = np.array([t.weight for t in cfg.data.sets], float)
    order = [list(rng.permutation(len(p))) for p in pool]
    counts = [0] * len(pool)
    while written < budget_bytes and any(order):
        # the set furthest below its share of the packed crops goes next
        open_sets = [k for k in range(len(pool)) if order[k]]
        k = min(open_sets, key=lambda j: counts[j] / weights[j])
        f = pool[k][order[k].pop(0)]
        data = encode_crop(load_rgb(f), crop, rng)
        if written + len(data) > budget_bytes:
            break
        write_bytes(dest / cfg.data.sets[k].name / f"t{counts[k]:04d}.jpg", data)
        written += len(data)
        counts[k] += 1
    if min(counts) == 0:
        raise RestoraError("the budget leaves a set without training crops: raise --budget-mb")
    sets = [TrainSet(dir=t.name, weight=t.weight, val_count=t.val_count) for t in cfg.data.sets]
    data = cfg.data.model_copy(update={"sets": sets, "val_real": None})
    return cfg.model_copy(update={"data": data})


def main(
    config: Path = typer.Argument(..., help="A config with data.sets."),
    dest: Path = typer.Argument(..., help="Folder to write (e.g. .carry/data); the device sets RESTORA_DATA to it."),
    budget_mb: float = typer.Option(9.0, "--budget-mb", min=0.1, help="Bytes the packed sets may take, in MiB."),
    crop: int = typer.Option(256, "--crop", min=16, help="Side of each packed crop."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Pack CONFIG's training sets into DEST and write DEST/config.yaml, the packed run's config."""
    packed = pack_sets(TrainConfig.from_yaml(config), dest, int(budget_mb * 2**20), crop, seed)
    text = yaml.safe_dump(packed.model_dump(mode="json", exclude_none=True), sort_keys=False)
    write_bytes(dest / "config.yaml", text.encode())
    sizes = sum(f.stat().st_size for f in dest.rglob("*.jpg"))
    counts = {t.name: len(list((dest / t.name).glob("t*.jpg"))) for t in packed.data.sets}
    typer.echo(f"packed {sizes / 2**20:.1f} MiB into {dest}: training crops {counts}")


if __name__ == "__main__":
    typer.run(main)
