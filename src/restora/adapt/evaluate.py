"""Measuring adaptation honestly on real noisy/clean pairs (PolyU50), for ``benchmarks/adapt_polyu.py`` and the bench.

For each camera (file names start with it: ``Canon5D2_…``), the model is adapted on that camera's *noisy*
photos only; the clean ones are read only to score. Both the unadapted and the adapted model then denoise
the same noisy photos (σ estimated, whole image) and are scored against the clean ones (PSNR, docs/conventions.md).
With ``split`` the model is adapted on every other photo and scored on the rest (photos it never saw).
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from pathlib import Path

from restora.adapt.trainer import AdaptConfig, adapt
from restora.engine import run_restore
from restora.eval.datasets import IMAGE_SUFFIXES, read_rgb8
from restora.eval.metrics import psnr, to_uint8


def camera_of(name: str) -> str:
    return name.split("_")[0]


def photos_by_camera(noisy_dir: Path) -> dict[str, list[Path]]:
    groups: dict[str, list[Path]] = defaultdict(list)
    for p in sorted(Path(noisy_dir).iterdir()):
        if p.suffix.lower() in IMAGE_SUFFIXES:
            groups[camera_of(p.name)].append(p)
    return dict(groups)


def score(model: str, noisy: list[Path], clean_dir: Path, device: str = "cpu") -> list[float]:
    """PSNR (dB) of ``model``'s output on each noisy photo against the clean photo of the same name."""
    out = []
    for path in noisy:
        y = read_rgb8(path).astype("float32") / 255.0
        result = run_restore(y, model=model, sigma="auto", tile=0, device=device)
        out.append(psnr(read_rgb8(Path(clean_dir) / path.name), to_uint8(result.image.pixels, 1.0)))
    return out


def evaluate_adaptation(
    model: str,
    pairs_dir: Path,
    cfg: AdaptConfig,
    cameras: list[str] | None = None,
    split: bool = False,
    work_dir: Path | None = None,
    log=print,
) -> dict:
    """Adapt per camera and score; returns every number (per camera and per photo) and the overall gain."""
    groups = photos_by_camera(Path(pairs_dir) / "noisy")
    work = Path(work_dir or tempfile.mkdtemp(prefix="restora-adapt-eval-"))
    rows = []
    for cam in cameras or sorted(groups):
        photos = groups[cam]
        adapt_on = photos[::2] if split else photos
        scored = photos[1::2] if split else photos
        out = work / f"{cam}-{int(time.time())}.safetensors"  # a new name: the engine caches models by name
        start = time.perf_counter()
        result = adapt(adapt_on, out, base=model, cfg=cfg, progress=False)
        minutes = (time.perf_counter() - start) / 60
        base = score(model, scored, Path(pairs_dir) / "clean")
        adapted = score(str(out), scored, Path(pairs_dir) / "clean")
        row = {
            "camera": cam,
            "adapted_on": len(adapt_on),
            "scored": len(scored),
            "minutes": round(minutes, 2),
            "steps": result.steps,
            "best_step": result.best_step,
            "improved_held_out": result.improved,
            "held_out_base": result.base_loss,
            "held_out_adapted": result.best_loss,
            "criterion": result.improvement,
            "removed_structure": result.card.get("adaptation", {}).get("removed_structure"),
            "psnr_base": sum(base) / len(base),
            "psnr_adapted": sum(adapted) / len(adapted),
            "per_image": [{"photo": p.name, "base": b, "adapted": a} for p, b, a in zip(scored, base, adapted)],
        }
        row["gain"] = row["psnr_adapted"] - row["psnr_base"]
        rows.append(row)
        log(
            f"{cam:10s} {len(adapt_on):2d} photos {minutes:5.2f} min {result.steps:4d} steps (best {result.best_step}) "
            f"base {row['psnr_base']:.2f} → adapted {row['psnr_adapted']:.2f} dB ({row['gain']:+.2f})"
        )
    n = sum(r["scored"] for r in rows)
    base_all = sum(r["psnr_base"] * r["scored"] for r in rows) / n
    adapted_all = sum(r["psnr_adapted"] * r["scored"] for r in rows) / n
    return {
        "psnr_base": base_all,
        "psnr_adapted": adapted_all,
        "gain": adapted_all - base_all,
        "worst_camera_gain": min(r["gain"] for r in rows),
        "total_minutes": sum(r["minutes"] for r in rows),
        "split": split,
        "cameras": rows,
    }


def markdown_table(summary: dict) -> str:
    lines = [
        "| camera | photos adapted on / scored | minutes | steps (best) | PSNR unadapted | PSNR adapted | gain |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in summary["cameras"]:
        lines.append(
            f"| {r['camera']} | {r['adapted_on']} / {r['scored']} | {r['minutes']:.1f} | {r['steps']} ({r['best_step']}) | "
            f"{r['psnr_base']:.2f} | {r['psnr_adapted']:.2f} | {r['gain']:+.2f} |"
        )
    n = sum(r["scored"] for r in summary["cameras"])
    lines.append(
        f"| **all {n}** | | {summary['total_minutes']:.1f} | | {summary['psnr_base']:.2f} | "
        f"{summary['psnr_adapted']:.2f} | **{summary['gain']:+.2f}** |"
    )
    return "\n".join(lines)
