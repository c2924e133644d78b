"""How well the reliability predictor (``restora.explain``) does on data it was not fitted on.

1. **Calibration** on the benchmark sets: CBSD68 and Kodak24 with Gaussian σ 15, 25, 50 (benchmark
   protocol: ``default_rng(0)`` per set and σ, sorted order, unclipped) and the real pairs of PolyU50:
   predicted against measured PSNR gain, Spearman and MAE (``reliability_calibration``), and how often the
   measured gain falls inside the predicted 80% interval.
2. **False alarms**: how often any out-of-range flag fires on in-range inputs — the benchmark sets above and
   CBSD68 photos degraded with the training degradations (the ``denoise-mix`` pipeline, seeded).
3. **Out-of-range sets**, seeded, one per flag, built from CBSD68 photos: noise σ 75–150
   (``noise_beyond_range``), noise then JPEG quality 5–12 (``heavy_jpeg``), over-exposure until at least half
   the frame clips (``clipped_highlights``), and inputs no training case resembles — salt-and-pepper impulses or
   noise in one channel only, 40–80 σ (``unusual_statistics``). Reports how often each set's flag fires.

    OMP_NUM_THREADS=1 python benchmarks/reliability_eval.py --model /tmp/snap.safetensors --limit 20 \
        --records /tmp/reliability-records.json
    OMP_NUM_THREADS=1 python benchmarks/reliability_eval.py --model restora-denoise --sets CC52 --no-range-checks
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import typer

import numpy as np

OOR_SETS = ("noise_beyond_range", "heavy_jpeg", "clipped_highlights", "unusual_statistics")


def out_of_range(kind: str, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from restora.degrade.compression import encode_jpeg

    if kind == "noise_beyond_range":
        return clean + rng.normal(0, rng.uniform(75, 150) / 255, clean.shape).astype(np.float32)
    if kind == "heavy_jpeg":
        noisy = clean + rng.normal(0, rng.uniform(5, 20) / 255, clean.shape).astype(np.float32)
        return encode_jpeg(noisy, int(rng.integers(5, 13)))
    if kind == "clipped_highlights":  # sensor noise, then over-exposed until at least half the frame saturates
        noisy = clean + rng.normal(0, rng.uniform(3, 10) / 255, clean.shape)
        return np.clip(noisy * rng.uniform(1.0, 1.3) / max(float(np.median(clean.max(axis=2))), 0.05), 0, 1).astype(
            np.float32
        )
    if kind == "unusual_statistics":
        x = clean.copy()
        if rng.random() < 0.5:  # impulse noise: a share of pixels set to black or white
            hit = rng.random(x.shape[:2]) < rng.uniform(0.05, 0.2)
            x[hit] = rng.integers(0, 2, (int(hit.sum()), 1)).astype(np.float32)
        else:  # strong noise in one channel only
            c = int(rng.integers(3))
            x[..., c] += rng.normal(0, rng.uniform(40, 80) / 255, x.shape[:2]).astype(np.float32)
        return x
    raise ValueError(kind)


def record(noisy, clean8, model, group, name, extra=None):
    from restora.engine import run_restore
    from restora.eval.metrics import psnr, to_uint8
    from restora.explain import analyse, predict

    result = run_restore(noisy, model=model, sigma="auto", tile=0, device="cpu")
    analysis = analyse(noisy, result.image.pixels, result.sigma)
    r = predict(analysis, result.model)
    gain = psnr(clean8, to_uint8(result.image.pixels, 1.0)) - psnr(clean8, to_uint8(noisy, 1.0))
    return {
        "set": group,
        "image": name,
        "predicted_gain": r.gain_db,
        "low_db": r.low_db,
        "high_db": r.high_db,
        "confidence": r.confidence,
        "measured_gain": float(gain),
        "flags": sorted(r.flags),
        "features": analysis.features,
        **(extra or {}),
    }


def collect(
    model: str, limit: int | None, sets: list[str], sigmas: list[float], range_checks: bool = True
) -> list[dict]:
    from restora.degrade import get_pipeline
    from restora.eval.datasets import find_set, samples
    from restora.settings import data_dir

    data = data_dir()
    rows = []
    for set_name in sets:
        bench_set = find_set(data, set_name)
        for sigma in sigmas if bench_set.kind == "synthetic" else [None]:
            for sample in samples(bench_set, sigma, limit):
                group = f"{set_name} σ={sigma:g}" if sigma else set_name
                rows.append(
                    record(
                        (sample.noisy / 255.0).astype(np.float32),
                        sample.clean,
                        model,
                        group,
                        sample.name,
                        {"kind": "bench"},
                    )
                )
                print(
                    f"{len(rows):4d} {group:18s} {sample.name:24s} pred {rows[-1]['predicted_gain']:+6.2f} "
                    f"meas {rows[-1]['measured_gain']:+6.2f} {','.join(rows[-1]['flags'])}",
                    flush=True,
                )
    cbsd = find_set(data, "CBSD68").clean[:limit] if range_checks else []
    mix = get_pipeline("denoise-mix")
    from restora.eval.datasets import read_rgb8

    for i, path in enumerate(cbsd):
        clean8 = read_rgb8(path)
        clean = clean8.astype(np.float32) / 255.0
        rng = np.random.default_rng([7, i])
        rows.append(
            record(mix(clean, rng).astype(np.float32), clean8, model, "in-range mix", path.name, {"kind": "in-range"})
        )
        for kind in OOR_SETS:
            noisy = out_of_range(kind, clean, rng)
            rows.append(
                record(noisy.astype(np.float32), clean8, model, f"out-of-range {kind}", path.name, {"kind": kind})
            )
        print(f"{len(rows):4d} {path.name}: in-range mix and out-of-range sets", flush=True)
    return rows


def summarise(rows: list[dict]) -> dict:
    from restora.explain import reliability_calibration

    bench = [r for r in rows if r["kind"] == "bench"]
    in_range = [r for r in rows if r["kind"] in ("bench", "in-range")]
    confident_misses = [
        r for r in bench if r.get("confidence") == "high" and abs(r["predicted_gain"] - r["measured_gain"]) > 2
    ]
    out = {
        "calibration": reliability_calibration(bench),
        "high_confidence": {
            "n": sum(r.get("confidence") == "high" for r in bench),
            "off_by_more_than_2_db": len(confident_misses),
        },
        "false_alarms": {
            "any_flag": float(np.mean([bool(r["flags"]) for r in in_range])),
            "n": len(in_range),
            "per_flag": {f: float(np.mean([f in r["flags"] for r in in_range])) for f in OOR_SETS},
            "per_set": {
                s: float(np.mean([bool(r["flags"]) for r in in_range if r["set"] == s]))
                for s in sorted({r["set"] for r in in_range})
            },
        },
        "out_of_range": {
            k: {
                "fires": float(np.mean([k in r["flags"] for r in rows if r["kind"] == k])),
                "any_flag": float(np.mean([bool(r["flags"]) for r in rows if r["kind"] == k])),
                "n": sum(r["kind"] == k for r in rows),
            }
            for k in OOR_SETS
        },
    }
    return out


def main(
    model: str = typer.Option(...),
    limit: int | None = typer.Option(None, help="first N images of each set"),
    sets: str = typer.Option("CBSD68,Kodak24,PolyU50"),
    sigmas: str = typer.Option("15,25,50"),
    records: Path | None = typer.Option(None, help="cache of measured records (reused when it exists)"),
    range_checks: bool = typer.Option(True, help="also the in-range and out-of-range sets built from CBSD68"),
    out: Path | None = typer.Option(None),
) -> None:
    """Reliability of MODEL's per-image estimate on SETS at SIGMAS; optional JSON to --out."""
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    if records and records.exists():
        rows = json.loads(records.read_text())
    else:
        rows = collect(model, limit, sets.split(","), [float(s) for s in sigmas.split(",")], range_checks)
        if records:
            records.write_text(json.dumps(rows))
    summary = summarise(rows)
    print(json.dumps(summary, indent=1))
    print(f"({time.perf_counter() - start:.0f} s)")
    if out:
        out.write_text(json.dumps(summary, indent=1))


if __name__ == "__main__":
    typer.run(main)
