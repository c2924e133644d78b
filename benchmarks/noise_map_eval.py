"""Error of the per-pixel noise-level map (``restora.explain.noise_map``) on synthetic noise of known σ.

* Gaussian: σ in 5, 10, 15, 25, 35, 50, drawn as in the benchmark protocol (one ``default_rng(0)`` per set
  and σ, images in sorted order, float noise added to the 8-bit clean image, not clipped). Error: mean over
  images of the mean absolute difference between the map and σ over all pixels and channels (0–255 units).
* Signal-dependent: Var = a·x + b on the [0, 1] scale (``restora.degrade.PoissonGaussianNoise``) for a few
  shot/read pairs; the true σ map is √(a·x + b)·255 from the clean image x. Error: mean over pixels of
  |map − σ| / σ.

The reference images carry noise of their own (BSD photos are film scans: the global estimator reads a
median σ ≈ 2 on the "clean" CBSD68), which adds to the synthetic noise, so low-σ errors include it; with
``--half`` the clean images are first reduced 2× (area averaging halves their own noise).

    OMP_NUM_THREADS=1 python benchmarks/noise_map_eval.py --sets CBSD68,Kodak24
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import typer

GAUSSIAN = (5, 10, 15, 25, 35, 50)
SIGNAL_DEPENDENT = ((1e-3, 2.0), (4e-3, 4.0), (1e-2, 6.0))


def load(set_name: str, half: bool, limit: int | None):
    import cv2

    from restora.eval.datasets import find_set, read_rgb8
    from restora.settings import data_dir

    images = []
    for path in find_set(data_dir(), set_name).clean[:limit]:
        x = read_rgb8(path).astype(np.float64)
        if half:
            x = cv2.resize(x, (x.shape[1] // 2, x.shape[0] // 2), interpolation=cv2.INTER_AREA)
        images.append(x)
    return images


def main(
    sets: str = typer.Option("CBSD68"),
    limit: int | None = typer.Option(None),
    half: bool = typer.Option(False, "--half", help="reduce the clean images 2× first (less noise of their own)"),
    out: Path | None = typer.Option(None),
) -> None:
    """Score the noise map on SETS; optional JSON to --out."""
    from restora.degrade import PoissonGaussianNoise
    from restora.explain import noise_map

    results = {}
    for set_name in sets.split(","):
        images = load(set_name, half, limit)
        rows, seconds, pixels = {}, 0.0, 0
        for sigma in GAUSSIAN:
            rng = np.random.default_rng(0)
            errors = []
            for clean in images:
                noisy = ((clean + rng.normal(0.0, sigma, clean.shape)) / 255.0).astype(np.float32)
                start = time.perf_counter()
                m = noise_map(noisy)
                seconds += time.perf_counter() - start
                pixels += noisy.shape[0] * noisy.shape[1]
                errors.append(float(np.abs(m - sigma).mean()))
            rows[f"gaussian σ={sigma}"] = {"mae": float(np.mean(errors)), "worst_image": float(np.max(errors))}
        for shot, read in SIGNAL_DEPENDENT:
            rng = np.random.default_rng(0)
            op = PoissonGaussianNoise(shot=(shot, shot), read=(read, read))
            rel = []
            for clean in images:
                x = (clean / 255.0).astype(np.float32)
                truth = np.sqrt(shot * x + (read / 255.0) ** 2) * 255.0
                m = noise_map(op(x, rng))
                rel.append(float(np.mean(np.abs(m - truth) / truth)))
            rows[f"shot a={shot:g}, read σ={read:g}"] = {
                "relative": float(np.mean(rel)),
                "worst_image": float(np.max(rel)),
            }
        rows["gaussian mean MAE"] = float(np.mean([rows[f"gaussian σ={s}"]["mae"] for s in GAUSSIAN]))
        rows["signal-dependent mean relative"] = float(
            np.mean([v["relative"] for k, v in rows.items() if k.startswith("shot")])
        )
        rows["seconds per megapixel"] = seconds / (pixels / 1e6)
        results[set_name + (" (half size)" if half else "")] = rows
        print(f"\n{set_name}{' (half size)' if half else ''}: {len(images)} images")
        for k, v in rows.items():
            print(f"  {k:32s} {v if not isinstance(v, dict) else ', '.join(f'{a} {b:.3f}' for a, b in v.items())}")
    if out:
        out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    typer.run(main)
