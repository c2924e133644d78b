"""All-in-one checkpoints on *whole* held-out photos: the run's validation, but as the engine restores photos.

The trainer validates on 256² centre crops, which the network describes at full resolution. Photos reach it
whole: ``describe()`` sees them shrunk to a long side of 256 px, and the trunk restores hundreds of pixels of
flat sky or water at once. This script scores checkpoints on the same 16 held-out CBSD432 photos (never
``test/``), each whole (481×321) and degraded once per task by the run's own mixture pipelines, drawn by weight
as ``restora.train.data.validation_groups`` draws them but from a seeded stream of this script's own, restored through
``restora.engine.run_restore`` as a user's photo is. Per task: PSNR (8-bit RGB) and, for low light, the GT-mean
PSNR of ``restora.eval.metrics`` (exposure guess set aside).

    python benchmarks/allinone_fullval.py configs/allinone.yaml A.safetensors B.safetensors [--out FILE.json]
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import typer


def degraded_photos(config_path: Path) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """task → [(degraded float32 [0, 1], clean uint8)] for the run's held-out photos, whole."""
    from restora.degrade import get_pipeline
    from restora.train.config import TrainConfig
    from restora.train.data import load_rgb, split_train_val

    cfg = TrainConfig.from_yaml(config_path)
    _, files = split_train_val(cfg.data)
    out = {}
    for t, task in enumerate(cfg.data.tasks):
        items = [m for m in cfg.data.mixture if m.task == task]
        w = np.array([m.weight for m in items], float)
        pairs = []
        for i, f in enumerate(files):
            rng = np.random.default_rng([cfg.seed, 10**9, 7, t, i])  # a stream of its own, not the crops' draw
            clean = load_rgb(f)
            pipe = get_pipeline(items[int(rng.choice(len(items), p=w / w.sum()))].pipeline)
            degraded = np.clip(pipe(clean.astype(np.float32) / 255.0, rng), 0, 1)
            pairs.append((np.rint(degraded * 255) / 255.0, clean))  # stored as an 8-bit photo
        out[task] = pairs
    return out


def main(
    config: Path = typer.Argument(...), models: list[str] = typer.Argument(...), out: Path | None = typer.Option(None)
) -> None:
    """Score each model on the degraded held-out photos of CONFIG; optional JSON to --out."""
    from restora.engine import run_restore
    from restora.eval.metrics import gt_mean_psnr_ssim, psnr, to_uint8

    photos = degraded_photos(config)
    results = {}
    for model in models:
        row = {}
        for task, pairs in photos.items():
            scores, gtmean = [], []
            for degraded, clean in pairs:
                out = to_uint8(run_restore(degraded.astype(np.float32), task=task, model=model).image.pixels, scale=1.0)
                scores.append(psnr(clean, out))
                if task == "lowlight":
                    gtmean.append(gt_mean_psnr_ssim(clean, out)["psnr_gtmean"])
            row[task] = round(float(np.mean(scores)), 3)
            if gtmean:
                row["lowlight_gtmean"] = round(float(np.mean(gtmean)), 3)
        row["mean"] = round(float(np.mean([row[t] for t in photos])), 3)
        results[model] = row
        print(model, json.dumps(row), flush=True)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    typer.run(main)
