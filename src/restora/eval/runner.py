"""Quality part of ``restora bench``: every method on every set and σ, through the engine.

Each input goes through :func:`restora.engine.run_restore` as a float array on [0, 1] scale that is
*not* clipped (the engine passes it on as is; only the output is clipped), with the engine's default
tile size, so methods behave as they do for users. The output is clipped and rounded to 8 bits and
scored by :mod:`restora.eval.metrics`.

Peer scores are cached per image in ``<cache>/<method>-<set>-<tag>.json`` (tag ``s25`` for synthetic
σ=25, ``est`` for real pairs at the estimated σ, ``oracle-s15`` for a grid σ), keyed by a hash of the
method's fingerprint (:func:`restora.eval.peers.method_version`: code, library version, weights), the
metric definitions, the σ given (for ``sigma="auto"``: the estimator's code), the clean image and the
exact noisy input, so a re-run recomputes only what changed. Crops of
cached outputs are kept beside them as PNG, so the crop panels need no recomputation either.
"""

from __future__ import annotations

import hashlib
import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

import restora.engine.noise
from restora.eval.datasets import BenchSet, Sample, read_rgb8, samples
from restora.eval.metrics import METRICS_VERSION, gradient_energy, gradient_magnitude, score, to_uint8
from restora.eval.peers import ORACLE_GRID, BenchMethod, method_version
from restora.engine import run_restore

CROP = 96


@dataclass
class QualityRun:
    """What to run; ``crops`` images per (set, σ) get side-by-side crop panels."""

    sets: list[BenchSet]
    sigmas: list[float]
    methods: list[BenchMethod]
    limit: int | None = None
    device: str = "auto"
    cache_dir: Path | None = None
    oracle: frozenset[str] = frozenset({"bm3d", "nlm", "ffdnet"})  # peers also run at the oracle σ on real pairs
    crops: int = 2
    log: Callable[[str], None] = print
    # Optional per-image and per-entry fields for our models (the command adds restora.explain's reliability:
    # image_reliability(noisy, clean8, output8, sigma_used, model) -> dict, entry_reliability(rows) -> dict | None).
    image_reliability: Callable[..., dict] | None = None
    entry_reliability: Callable[[list[dict]], dict | None] | None = None
    noise: str = "gaussian"  # or a degradation pipeline applied to synthetic sets instead (datasets.samples)
    # (set, σ tag) → image name → row label → uint8 crop; filled while running.
    crop_panels: dict = field(default_factory=dict)


def choose_crop(clean: np.ndarray, size: int = CROP) -> tuple[int, int, int]:
    """(y, x, size) of the square window with the highest mean gradient energy of the clean image."""
    from scipy.ndimage import uniform_filter

    size = min(size, *clean.shape[:2])
    energy = uniform_filter(gradient_energy(gradient_magnitude(clean)), size=size, mode="constant")
    half = size // 2
    h, w = energy.shape
    # uniform_filter centres the window; keep centres whose window lies inside the image.
    valid = energy[half : h - (size - half) + 1, half : w - (size - half) + 1]
    y, x = np.unravel_index(int(np.argmax(valid)), valid.shape)
    return int(y), int(x), size


def _crop(image: np.ndarray, box: tuple[int, int, int]) -> np.ndarray:
    y, x, s = box
    return np.ascontiguousarray(image[y : y + s, x : x + s])


class ScoreCache:
    """Per-image scores of one (method, set, tag), stored as JSON and written after every image."""

    def __init__(self, folder: Path | None, method: str, set_name: str, tag: str):
        self.path = None if folder is None else folder / f"{method}-{set_name}-{tag}.json"
        self.crops = None if folder is None else folder / "crops"
        self.entries: dict = {}
        if self.path is not None and self.path.is_file():
            self.entries = json.loads(self.path.read_text())

    def get(self, key: str) -> dict | None:
        return self.entries.get(key)

    def put(self, key: str, value: dict) -> None:
        if self.path is None:
            return
        self.entries[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
        tmp.replace(self.path)

    def crop_path(self, key: str, box: tuple[int, int, int]) -> Path | None:
        return None if self.crops is None else self.crops / f"{key}-{box[0]}-{box[1]}-{box[2]}.png"


@lru_cache(maxsize=1)
def _estimator_version() -> str:
    return hashlib.sha256(inspect.getsource(restora.engine.noise).encode()).hexdigest()[:16]


def _sample_key(version: str, sigma_arg, sample: Sample) -> str:
    # With sigma="auto" the σ a peer is given comes from our estimator, so its code is part of the key.
    given = f"auto:{_estimator_version()}" if sigma_arg == "auto" else str(sigma_arg)
    h = hashlib.sha256(f"{version}|{METRICS_VERSION}|{given}".encode())
    h.update(sample.clean.tobytes())
    h.update(np.ascontiguousarray(sample.noisy, dtype=np.float64).tobytes())
    return h.hexdigest()[:24]


def restore_sample(method: BenchMethod, sample: Sample, sigma_arg, device: str) -> tuple[np.ndarray, list | None]:
    """Run one method on one noisy input through the engine; uint8 output and the σ it used."""
    result = run_restore(sample.noisy / 255.0, task="denoise", model=method.engine_name, sigma=sigma_arg, device=device,
                         self_ensemble=method.self_ensemble,
                         real_noise=method.real_noise if method.kind == "ours" else "off")
    used = None if result.sigma is None else [round(float(v), 4) for v in np.ravel(result.sigma)]
    return to_uint8(result.image.pixels, scale=1.0), used


def _write_png(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image as PILImage

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    PILImage.fromarray(pixels).save(tmp)
    tmp.replace(path)


def evaluate(run: QualityRun, method: BenchMethod, bench_set: BenchSet, sigma: float | None, sigma_arg, tag: str,
             crop_key: tuple | None) -> list[dict]:
    """Per-image scores of ``method`` on ``bench_set`` given ``sigma_arg``; uses and fills the cache."""
    use_cache = method.kind == "peer" and run.cache_dir is not None
    cache = ScoreCache(run.cache_dir, method.label, bench_set.name, tag) if use_cache else None
    version = method_version(method.engine_name) if use_cache else ""

    def restore(sample):
        output, used = restore_sample(method, sample, sigma_arg, run.device)
        extra = {"sigma_used": used}
        if method.kind == "ours" and run.image_reliability is not None:  # predicted gain beside the measured one
            extra["reliability"] = run.image_reliability(sample.noisy, sample.clean, output, used, method.engine_name)
        return output, extra

    noise = run.noise if bench_set.kind == "synthetic" else "gaussian"
    return score_samples(samples(bench_set, sigma, run.limit, noise), method, cache,
                         lambda sample: _sample_key(version, sigma_arg, sample), restore,
                         lambda sample, output: score(sample.clean, output), run.crop_panels, crop_key, run.crops)


def score_samples(items, method: BenchMethod, cache: ScoreCache | None, key_fn, restore_fn, score_fn, crop_panels: dict,
                  crop_key: tuple | None, crops: int, input_label: str = "noisy") -> list[dict]:
    """Score ``method`` on each sample of ``items`` (anything with ``name``, ``clean`` and ``input``).

    ``restore_fn(sample) -> (uint8 output, extra row fields)``; ``score_fn(sample, output) -> metrics``. With a
    ``cache``, rows (and crops) stored under ``key_fn(sample)`` are reused instead of restoring again. The first
    ``crops`` samples add crops of clean, input and output to ``crop_panels[crop_key]``.
    """
    rows = []
    for i, sample in enumerate(items):
        want_crop = crop_key is not None and i < crops
        box = choose_crop(sample.clean) if want_crop else None
        key = key_fn(sample) if cache is not None else ""
        cached = cache.get(key) if cache is not None else None
        crop_file = cache.crop_path(key, box) if (cache is not None and want_crop) else None
        crop = None
        if cached is not None and (not want_crop or (crop_file is not None and crop_file.is_file())):
            row = dict(cached)
            if want_crop:
                crop = read_rgb8(crop_file)
        else:
            output, extra = restore_fn(sample)
            row = {**score_fn(sample, output), **extra}
            if want_crop:
                crop = _crop(output, box)
                if crop_file is not None:
                    _write_png(crop_file, crop)
            if cache is not None:
                cache.put(key, row)
        row["image"] = sample.name
        rows.append(row)
        if want_crop:
            panel = crop_panels.setdefault(crop_key, {}).setdefault(sample.name, {})
            panel.setdefault("clean", _crop(sample.clean, box))
            panel.setdefault(input_label, _crop(to_uint8(sample.input), box))
            if method.kind != "baseline":  # identity's output is the input panel already
                panel[method.label] = crop
    return rows


def _entry(run: QualityRun, bench_set: BenchSet, sigma: float | None, method: BenchMethod, mode: str,
           rows: list[dict]) -> dict:
    entry = {
        "set": bench_set.name,
        "kind": bench_set.kind,
        "sigma": sigma,
        "method": method.label,
        "engine": method.engine_name,
        "mode": mode,
        "psnr": float(np.mean([r["psnr"] for r in rows])),
        "ssim": float(np.mean([r["ssim"] for r in rows])),
        "detail": float(np.mean([r["detail"] for r in rows])),
        "n_images": len(rows),
        "images": rows,
    }
    calibration = run.entry_reliability(rows) if run.entry_reliability is not None else None  # images with a predicted gain (our models): how well it ranks and fits
    if calibration is not None:
        entry["reliability"] = calibration
    return entry


def run_quality(run: QualityRun) -> list[dict]:
    """All (set, σ, method) entries; each holds means and the per-image rows."""
    entries = []
    for bench_set in run.sets:
        other_noise = bench_set.kind == "synthetic" and run.noise != "gaussian"
        levels = run.sigmas if bench_set.kind == "synthetic" and not other_noise else [None]
        for sigma in levels:
            crop_key = (bench_set.name, run.noise if other_noise else "real" if sigma is None else f"s{sigma:g}")
            for method in run.methods:
                run.log(f"{bench_set.name} {crop_key[1]}: {method.label} ...")
                if method.kind == "baseline":
                    variants = [("input", "auto", crop_key[1])]
                elif method.blind:
                    variants = [("blind", "auto", crop_key[1])]
                elif sigma is not None:
                    variants = [("told σ", sigma, crop_key[1])]
                else:
                    variants = [("est. σ", "auto", run.noise if other_noise else "est")]
                for mode, sigma_arg, tag in variants:
                    rows = evaluate(run, method, bench_set, sigma, sigma_arg, tag, crop_key)
                    entries.append(_entry(run, bench_set, sigma, method, mode, rows))
                    run.log(f"  {method.label} ({mode}): PSNR {entries[-1]['psnr']:.2f} dB, "
                            f"SSIM {entries[-1]['ssim']:.4f}, detail {entries[-1]['detail']:.4f}")
                if sigma is None and not other_noise and method.kind == "peer" and method.label in run.oracle:
                    entries.append(oracle_entry(run, method, bench_set))
                    run.log(f"  {method.label} ({entries[-1]['mode']}): PSNR {entries[-1]['psnr']:.2f} dB")
    return entries


def oracle_entry(run: QualityRun, method: BenchMethod, bench_set: BenchSet) -> dict:
    """The peer at the single grid σ with the best mean PSNR on the whole real set (knowing the truth)."""
    by_sigma = {}
    for s in ORACLE_GRID:
        by_sigma[s] = evaluate(run, method, bench_set, None, s, f"oracle-s{s:g}", None)
        run.log(f"    oracle grid σ={s:g}: {np.mean([r['psnr'] for r in by_sigma[s]]):.2f} dB")
    best = max(ORACLE_GRID, key=lambda s: np.mean([r["psnr"] for r in by_sigma[s]]))
    entry = _entry(run, bench_set, None, method, f"oracle σ={best:g}", by_sigma[best])
    entry["oracle_grid"] = {f"{s:g}": float(np.mean([r["psnr"] for r in by_sigma[s]])) for s in ORACLE_GRID}
    return entry
