"""Measure ``restora adapt`` honestly on real noisy/clean pairs (PolyU50).

For each camera (the file names start with it), the denoiser is adapted on that camera's *noisy* photos
only — the clean ones are never read until scoring — then the unadapted and the adapted model denoise the
same noisy photos and both are scored against the clean ones (PSNR, CONVENTIONS.md: 8-bit RGB, no crop).
This is the use the command is made for: a user adapts to their photos and then denoises them.
``--split`` also reports a harder reading: adapt on half of each camera's photos, score on the other half.

    OMP_NUM_THREADS=1 python benchmarks/adapt_polyu.py --model /tmp/snap.safetensors --minutes 2 --threads 1

Writes a JSON of every number (``--out``) and prints a Markdown table for benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def camera(name: str) -> str:
    return name.split("_")[0]


def score(model: str, noisy: list[Path], clean_dir: Path) -> list[float]:
    from restora.engine import run_restore
    from restora.eval.datasets import read_rgb8
    from restora.eval.metrics import psnr, to_uint8

    out = []
    for path in noisy:
        y = read_rgb8(path).astype("float32") / 255.0
        result = run_restore(y, model=model, sigma="auto", tile=0, device="cpu")
        out.append(psnr(read_rgb8(clean_dir / path.name), to_uint8(result.image.pixels, 1.0)))
    return out


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="base model (name or .safetensors)")
    parser.add_argument("--minutes", type=float, default=2.0, help="adaptation budget per camera")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cameras", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--split", action="store_true", help="adapt on half of each camera's photos, score on the rest")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/cache/adapt-polyu.json"))
    parser.add_argument("--lr", type=float)
    parser.add_argument("--anchor", type=float)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from restora.adapt import AdaptConfig, adapt
    from restora.engine.neural import read_metadata
    from restora.models.registry import get_spec
    from restora.settings import data_dir

    root = data_dir() / "real" / "PolyU50"
    groups: dict[str, list[Path]] = defaultdict(list)
    for p in sorted((root / "noisy").iterdir()):
        groups[camera(p.name)].append(p)
    chosen = [c for c in args.cameras.split(",") if c] or sorted(groups)
    spec = get_spec(args.model)
    steps = read_metadata(spec.path)["card"].get("steps") if spec.path else None
    cfg_kwargs = {"minutes": args.minutes}
    if args.lr:
        cfg_kwargs["lr"] = args.lr
    if args.anchor is not None:
        cfg_kwargs["anchor"] = args.anchor
    rows, work = [], Path(tempfile.mkdtemp(prefix="adapt-polyu-"))
    for cam in chosen:
        photos = groups[cam]
        adapt_on = photos[::2] if args.split else photos
        scored = photos[1::2] if args.split else photos
        out = work / f"{cam}.safetensors"
        start = time.perf_counter()
        result = adapt(adapt_on, out, base=args.model, cfg=AdaptConfig(**cfg_kwargs), progress=False)
        minutes = (time.perf_counter() - start) / 60
        base_psnr, adapted_psnr = score(args.model, scored, root / "clean"), score(str(out), scored, root / "clean")
        row = {"camera": cam, "adapted_on": len(adapt_on), "scored": len(scored), "minutes": round(minutes, 2),
               "steps": result.steps, "best_step": result.best_step, "improved_held_out": result.improved,
               "held_out_base": result.base_loss, "held_out_adapted": result.best_loss,
               "psnr_base": sum(base_psnr) / len(base_psnr), "psnr_adapted": sum(adapted_psnr) / len(adapted_psnr),
               "per_image": [{"base": b, "adapted": a} for b, a in zip(base_psnr, adapted_psnr)]}
        row["gain"] = row["psnr_adapted"] - row["psnr_base"]
        rows.append(row)
        print(f"{cam:10s} {len(adapt_on):2d} photos {minutes:5.2f} min {result.steps:4d} steps (best {result.best_step}) "
              f"base {row['psnr_base']:.2f} → adapted {row['psnr_adapted']:.2f} dB ({row['gain']:+.2f})", flush=True)
    n = sum(r["scored"] for r in rows)
    base_all = sum(r["psnr_base"] * r["scored"] for r in rows) / n
    adapted_all = sum(r["psnr_adapted"] * r["scored"] for r in rows) / n
    summary = {"model": spec.name, "model_steps": steps, "minutes_per_camera": args.minutes, "threads": args.threads,
               "split": args.split, "psnr_base": base_all, "psnr_adapted": adapted_all, "gain": adapted_all - base_all,
               "total_minutes": sum(r["minutes"] for r in rows), "cameras": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1))
    print(f"\n| camera | photos adapted on / scored | minutes | steps (best) | PSNR unadapted | PSNR adapted | gain |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['camera']} | {r['adapted_on']} / {r['scored']} | {r['minutes']:.1f} | {r['steps']} ({r['best_step']}) | "
              f"{r['psnr_base']:.2f} | {r['psnr_adapted']:.2f} | {r['gain']:+.2f} |")
    print(f"| **all {n}** | | {summary['total_minutes']:.1f} | | {base_all:.2f} | {adapted_all:.2f} | **{summary['gain']:+.2f}** |")


if __name__ == "__main__":
    main()
