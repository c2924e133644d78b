"""Refit the reliability predictor (``reliability.json``) for a denoising model.

    python -m restora.explain.fit --model restora-denoise [--out src/restora/explain/reliability.json]

Data: the held-out slices of the training sets of ``configs/denoise-diverse.yaml`` (the last 16 of
``train/CBSD432``, 16 of ``train/DreamBooth158`` and 10 of ``train/Urban100``; no training config trains on them),
never ``test/`` or ``real/``. Each photo is degraded ``DRAWS`` times with the training degradations (Gaussian σ
drawn in 1–55 and the ``camera``, ``camera-isp`` (demosaiced, denoised in camera, tone-mapped: correlated like
real camera noise), ``poisson``, ``correlated`` and ``practical`` pipelines of :mod:`restora.degrade`, seeded),
restored with the model as users run it (σ estimated, the real-noise path chosen automatically), and measured: features from the input and output alone, and the true PSNR gain against the clean
photo. Then :func:`fit_predictor` fits the gain model, its error model and the flag limits
(module docstring of :mod:`restora.explain.reliability`). Runs single-threaded; about 1–2 s per sample
for the shipped model on one CPU core.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
import yaml

from restora.explain.features import FEATURES, analyse
from restora.explain.reliability import COVERAGE, DISTANCE_FEATURES, MODEL_PATH, design, flag_values
from restora.degrade import GaussianNoise, get_pipeline
from restora.engine import run_restore
from restora.engine.catalogue import get_spec
from restora.eval.metrics import psnr, to_uint8
from restora.io import write_bytes
from restora.models.modelfile import read_metadata
from restora.train.config import DataConfig, TrainConfig
from restora.train.data import load_rgb, split_train_val

# (pipeline name, count per photo); "gaussian" draws σ uniformly in GAUSSIAN_RANGE.
DRAWS = (("gaussian", 4), ("camera", 3), ("camera-isp", 3), ("poisson", 1), ("correlated", 1), ("practical", 2))
# The photos: the held-out slices of the diverse denoising recipe's sets (no file of them is trained on).
SETS_CONFIG = Path(__file__).resolve().parents[3] / "configs" / "denoise-diverse.yaml"
GAUSSIAN_RANGE = (1.0, 55.0)
RIDGE = 1.0  # in standardised units; a few hundred samples, eighteen features
CLIP_Z = 4.0
# Flag limits: at least the floor, and a margin above the in-range set's 99th percentile.
FLAG_RULES: dict[str, dict[str, Any]] = {
    "noise_beyond_range": {"floor": 60.0, "margin": 1.1, "why": "trained on σ ≤ 55 (Gaussian) plus camera-like noise"},
    "heavy_jpeg": {
        "floor": 1.0,
        "margin": 1.25,
        "why": "trained on JPEG quality ≥ 50; the score reaches 1 near quality 20",
    },
    "clipped_highlights": {
        "floor": 0.4,
        "margin": 1.5,
        "why": "photos with blown skies (up to ~30% of the frame) are common and in range",
    },
    "unusual_statistics": {
        "floor": 30.0,
        "margin": 2.0,
        "why": f"squared Mahalanobis distance of {len(DISTANCE_FEATURES)} input features",
    },
}
SHRINK = 0.1  # covariance shrinkage toward the identity (standardised features) for the Mahalanobis distance


def validation_files() -> list[Path]:
    data = (
        TrainConfig.model_validate(yaml.safe_load(SETS_CONFIG.read_text())).data
        if SETS_CONFIG.exists()
        else DataConfig()
    )
    return split_train_val(data)[1]


def degrade(clean: np.ndarray, name: str, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    if name == "gaussian":
        sigma = float(rng.uniform(*GAUSSIAN_RANGE))
        return GaussianNoise(sigma=(sigma, sigma))(clean, rng), f"gaussian σ={sigma:.1f}"
    return get_pipeline(name)(clean, rng), name


def measure(noisy: np.ndarray, clean: np.ndarray, model: str, device: str = "cpu") -> dict:
    """Restore ``noisy`` with ``model`` and return its features, flag values and true gain (dB)."""
    result = run_restore(noisy, model=model, sigma="auto", tile=0, device=device)
    analysis = analyse(noisy, result.image.pixels, result.sigma)
    clean8 = to_uint8(clean, 1.0)
    gain = psnr(clean8, to_uint8(result.image.pixels, 1.0)) - psnr(clean8, to_uint8(noisy, 1.0))
    return {"features": analysis.features, "flag_values": flag_values(analysis), "gain": float(gain)}


def collect(model: str, seed: int = 0, limit: int | None = None, progress: bool = True) -> list[dict]:
    records = []
    files = validation_files()[:limit]
    for i, path in enumerate(files):
        clean = load_rgb(path).astype(np.float32) / 255.0
        rng = np.random.default_rng([seed, i])
        for name, count in DRAWS:
            for _ in range(count):
                noisy, what = degrade(clean, name, rng)
                rec = measure(noisy.astype(np.float32), clean, model)
                rec.update(image=path.name, degradation=what)
                records.append(rec)
                if progress:
                    print(f"{len(records):4d} {path.name} {what:22s} gain {rec['gain']:+6.2f} dB", flush=True)
    return records


def _ridge(x: np.ndarray, y: np.ndarray, ridge: float = RIDGE) -> np.ndarray:
    penalty = ridge * np.eye(x.shape[1])
    penalty[0, 0] = 0.0  # never shrink the intercept
    return np.linalg.solve(x.T @ x + penalty, x.T @ y)


def fit_predictor(records: list[dict], model_info: dict | None = None) -> dict:
    """Fit gain, error-size and flag limits from measured records (see module docstring)."""
    from scipy.stats import spearmanr

    x = np.array([[r["features"][f] for f in FEATURES] for r in records], np.float64)
    y = np.array([r["gain"] for r in records], np.float64)
    groups = np.array([r.get("image", str(i)) for i, r in enumerate(records)])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.clip((x - mean) / scale, -CLIP_Z, CLIP_Z)
    d = design(z)
    # Leave-one-photo-out predictions: honest errors for the interval and the reported fit quality.
    if len(np.unique(groups)) < 2:
        raise ValueError("fitting needs records from at least two photos")
    cv = np.empty_like(y)
    for g in np.unique(groups):
        held = groups == g
        cv[held] = d[held] @ _ridge(d[~held], y[~held])
    gain = _ridge(d, y)
    err = np.abs(cv - y)
    spread = _ridge(d, np.log(err + 0.05), ridge=10 * RIDGE)
    ratio = err / np.exp(d @ spread)
    interval_scale = float(np.quantile(ratio, COVERAGE))

    zd = z[:, [FEATURES.index(name) for name in DISTANCE_FEATURES]]
    zc = zd - zd.mean(axis=0)
    cov = (1 - SHRINK) * (zc.T @ zc / len(zd)) + SHRINK * np.eye(zd.shape[1])
    precision = np.linalg.inv(cov)
    d2 = np.einsum("ij,jk,ik->i", zc, precision, zc)
    values = {
        name: np.array([r["flag_values"][name] for r in records]) for name in FLAG_RULES if name != "unusual_statistics"
    }
    values["unusual_statistics"] = d2
    flags = {}
    for name, rule in FLAG_RULES.items():
        q99 = float(np.quantile(values[name], 0.99))
        flags[name] = {
            "limit": round(max(rule["floor"], rule["margin"] * q99), 4),
            "in_range_q99": round(q99, 4),
            "in_range_max": round(float(values[name].max()), 4),
            "rule": f"max(floor {rule['floor']}, {rule['margin']} × in-range 99th percentile)",
            "why": rule["why"],
        }
    return {
        "version": 1,
        "features": list(FEATURES),
        "model": model_info or {},
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "clip_z": CLIP_Z,
        "gain": gain.tolist(),
        "spread": spread.tolist(),
        "interval_scale": interval_scale,
        "coverage": COVERAGE,
        "in_range": {
            "features": list(DISTANCE_FEATURES),
            "mean": zd.mean(axis=0).tolist(),
            "precision": precision.tolist(),
        },
        "flags": flags,
        "fit": {
            "samples": len(records),
            "photos": int(len(np.unique(groups))),
            "data": "held-out slices of configs/denoise-diverse.yaml's sets (last 16 of train/CBSD432, 16 of DreamBooth158, 10 of Urban100)",
            "degradations": [f"{n} ×{c}" for n, c in DRAWS] + [f"gaussian σ uniform in {GAUSSIAN_RANGE}"],
            "ridge": RIDGE,
            "cv_spearman": round(float(spearmanr(cv, y).statistic), 4),
            "cv_mae_db": round(float(err.mean()), 4),
            "cv_coverage": round(float(np.mean(err <= interval_scale * np.exp(d @ spread))), 4),
            "gain_range_db": [round(float(y.min()), 2), round(float(y.max()), 2)],
        },
    }


def model_info(model: str) -> dict:
    spec = get_spec(model)
    info = {"name": spec.name}
    if spec.path is not None:
        card = read_metadata(spec.path)["card"]
        info.update(
            steps=card.get("steps"),
            file=spec.path.name,
            sha256=hashlib.sha256(Path(spec.path).read_bytes()).hexdigest()[:16],
        )
    return info


fitting = typer.Typer(add_completion=False, help=(__doc__ or "").splitlines()[0])


@fitting.command()
def fit(
    model: Annotated[str, typer.Option(help="model name or .safetensors path")],
    out: Annotated[Path, typer.Option()] = MODEL_PATH,
    records_file: Annotated[
        Path | None, typer.Option("--records", help="JSON file to cache measured records (reused when it exists)")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="use only the first N validation photos (quick runs)")] = None,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Fit the reliability predictor for ``model`` and write it to ``out``."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    start = time.perf_counter()
    if records_file and records_file.exists():
        records = json.loads(records_file.read_text())
    else:
        records = collect(model, seed, limit)
        if records_file:
            records_file.write_text(json.dumps(records))
    predictor = fit_predictor(records, model_info(model))
    write_bytes(out, (json.dumps(predictor, indent=1) + "\n").encode())
    fit = predictor["fit"]
    print(
        f"wrote {out}: {fit['samples']} samples, leave-one-photo-out Spearman {fit['cv_spearman']:.3f}, "
        f"MAE {fit['cv_mae_db']:.2f} dB, {COVERAGE:.0%}-interval coverage {fit['cv_coverage']:.2f} "
        f"({time.perf_counter() - start:.0f} s)"
    )


def main(argv: list[str] | None = None) -> None:
    fitting(argv, prog_name="python -m restora.explain.fit")


if __name__ == "__main__":
    main()
