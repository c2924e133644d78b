"""The quality loop of ``restora bench``, for every restoration task: degrade, restore through the engine, score.

Each input goes through :func:`restora.engine.run_restore` as a float array on [0, 1] scale that is
*not* clipped (the engine passes it on as is; only the output is clipped), with the engine's default
tile size, so methods behave as they do for users. The output is clipped and rounded to 8 bits and
scored by :mod:`restora.eval.metrics`. :func:`run_quality` runs denoising (every method on every set and
σ); :func:`run_task_quality` the other restoration tasks, with the scoring protocols, fingerprints and
method kinds of :mod:`restora.eval.task_bench`.

Peer scores are cached per image in ``<cache>/<method>-<set>-<tag>.json`` (denoising: tag ``s25`` for
synthetic σ=25, ``est`` for real pairs at the estimated σ, ``oracle-s15`` for a grid σ; other tasks: the
task's name), keyed by a hash of the method's fingerprint (denoising:
:func:`restora.eval.peers.method_version`: code, library version, weights; other tasks:
:func:`restora.eval.task_bench.peer_version`), the metric definitions, what the method is given (the σ, for
``sigma="auto"`` the estimator's code; other tasks: the task's scoring protocol), the clean image, the exact
degraded input and the true kernel where there is one, so a re-run recomputes only what changed. Crops of
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
from restora.eval.datasets import BenchSet, read_rgb8, samples
from restora.eval.metrics import METRICS_VERSION, gradient_energy, gradient_magnitude, psnr, score, to_uint8
from restora.eval.peers import ORACLE_GRID, BenchMethod, method_version
from restora.eval.task_bench import MODE, TASK_PROTOCOL, oracle_method, peer_version, task_score
from restora.eval.task_sets import TaskSet, task_samples
from restora.engine import run_restore
from restora.tasks import RESTORE_TASKS

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


@dataclass
class TaskRun:
    """What to run for a restoration task other than denoising; ``crops`` images per set get crop panels."""

    task: str
    sets: list[TaskSet]
    methods: list[BenchMethod]
    limit: int | None = None
    device: str = "auto"
    cache_dir: Path | None = None
    crops: int = 2
    log: Callable[[str], None] = print
    # (set, task) → image name → row label → uint8 crop; filled while running.
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


def sigma_given(sigma_arg) -> str:
    """The σ a method is given, as it enters the cache key; with ``"auto"`` it comes from our estimator, so
    the estimator's code is part of it."""
    return f"auto:{_estimator_version()}" if sigma_arg == "auto" else str(sigma_arg)


def sample_key(version: str, given: str, sample) -> str:
    """Cache key of one input: the method's fingerprint, the metrics, what the method is given (σ or the task's
    protocol), the clean image, the exact degraded input and the true kernel where the sample has one."""
    h = hashlib.sha256(f"{version}|{METRICS_VERSION}|{given}".encode())
    h.update(sample.clean.tobytes())
    h.update(np.ascontiguousarray(sample.input, dtype=np.float64).tobytes())
    kernel = getattr(sample, "kernel", None)
    if kernel is not None:
        h.update(np.ascontiguousarray(kernel, np.float32).tobytes())
    return h.hexdigest()[:24]


def restore_input(method: BenchMethod, sample, task: str, device: str, model=None, sigma="auto", **options):
    """One method on one input (0–255 scale) through the engine: the uint8 output and the engine's result."""
    result = run_restore(
        sample.input / 255.0,
        task=task,
        model=method.engine_name if model is None else model,
        sigma=sigma,
        device=device,
        self_ensemble=method.self_ensemble,
        **options,
    )
    return to_uint8(result.image.pixels, scale=1.0), result


def _write_png(path: Path, pixels: np.ndarray) -> None:
    from PIL import Image as PILImage

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    PILImage.fromarray(pixels).save(tmp)
    tmp.replace(path)


def evaluate(
    run: QualityRun | TaskRun,
    method: BenchMethod,
    set_name: str,
    tag: str,
    items,
    restore_fn,
    score_fn,
    crop_key: tuple | None,
    fingerprint: Callable[[str], str],
    given: Callable[[], str],
    cached_kinds: tuple[str, ...] = ("peer",),
    input_label: str = "noisy",
) -> list[dict]:
    """Per-image rows of ``method`` on ``items``, the inputs of one set; uses and fills the cache for the
    methods of ``cached_kinds`` (keyed by :func:`sample_key` of ``fingerprint(engine name)`` and ``given()``)."""
    use_cache = method.kind in cached_kinds and run.cache_dir is not None
    cache = ScoreCache(run.cache_dir, method.label, set_name, tag) if use_cache else None
    version, what = (fingerprint(method.engine_name), given()) if use_cache else ("", "")
    return score_samples(
        items,
        method,
        cache,
        lambda sample: sample_key(version, what, sample),
        restore_fn,
        score_fn,
        run.crop_panels,
        crop_key,
        run.crops,
        input_label,
    )


def evaluate_denoise(
    run: QualityRun,
    method: BenchMethod,
    bench_set: BenchSet,
    sigma: float | None,
    sigma_arg,
    tag: str,
    crop_key: tuple | None,
) -> list[dict]:
    """Per-image scores of ``method`` on ``bench_set`` given ``sigma_arg``; uses and fills the cache."""

    def restore(sample):
        output, result = restore_input(
            method,
            sample,
            "denoise",
            run.device,
            sigma=sigma_arg,
            real_noise=method.real_noise if method.kind == "ours" else "off",
        )
        used = None if result.sigma is None else [round(float(v), 4) for v in np.ravel(result.sigma)]
        extra = {"sigma_used": used}
        if method.kind == "ours" and run.image_reliability is not None:  # predicted gain beside the measured one
            extra["reliability"] = run.image_reliability(sample.noisy, sample.clean, output, used, method.engine_name)
        return output, extra

    noise = run.noise if bench_set.kind == "synthetic" else "gaussian"
    return evaluate(
        run,
        method,
        bench_set.name,
        tag,
        samples(bench_set, sigma, run.limit, noise),
        restore,
        lambda sample, output: score(sample.clean, output),
        crop_key,
        method_version,
        lambda: sigma_given(sigma_arg),
    )


def evaluate_task(run: TaskRun, method: BenchMethod, task_set: TaskSet, items: list) -> list[dict]:
    """Per-image rows of one method on one set of a task; uses and fills the cache for classical peers."""

    def restore(sample):
        model = oracle_method(method.engine_name, sample.kernel) if method.kind == "oracle" else None
        output, result = restore_input(method, sample, run.task, run.device, model=model)
        return output, {"seconds": round(result.seconds, 4)}

    return evaluate(
        run,
        method,
        task_set.name,
        run.task,
        items,
        restore,
        lambda sample, output: task_score(task_set, sample, output),
        (task_set.name, run.task),
        peer_version,
        lambda: f"task-protocol-{TASK_PROTOCOL.get(run.task, 1)}",
        cached_kinds=("peer", "oracle"),
        input_label="input",
    )


def score_samples(
    items,
    method: BenchMethod,
    cache: ScoreCache | None,
    key_fn,
    restore_fn,
    score_fn,
    crop_panels: dict,
    crop_key: tuple | None,
    crops: int,
    input_label: str = "noisy",
) -> list[dict]:
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


# Means an entry holds: RGB scores always, a published protocol's where its rows have them.
ENTRY_METRICS = (
    "psnr",
    "ssim",
    "detail",
    "psnr_y",
    "ssim_y",
    "psnr_aligned",
    "ssim_aligned",
    "psnr_gtmean",
    "ssim_gtmean",
)


def mean_entry(set_name: str, kind: str, sigma: float | None, method: BenchMethod, mode: str, rows: list[dict]) -> dict:
    """One (set, σ, method, mode) entry: the means over the images, then the per-image rows."""
    entry = {
        "set": set_name,
        "kind": kind,
        "sigma": sigma,
        "method": method.label,
        "engine": method.engine_name,
        "mode": mode,
    }
    for key in ENTRY_METRICS:
        if key in ("psnr", "ssim", "detail") or (rows and key in rows[0]):
            entry[key] = float(np.mean([r[key] for r in rows]))
    entry["n_images"] = len(rows)
    entry["images"] = rows
    return entry


def log_entry(log: Callable[[str], None], entry: dict) -> None:
    extra = "".join(f", {k} {entry[k]:.2f}" for k in ("psnr_y", "psnr_aligned", "psnr_gtmean") if k in entry)
    log(
        f"  {entry['method']} ({entry['mode']}): PSNR {entry['psnr']:.2f} dB, SSIM {entry['ssim']:.4f}, "
        f"detail {entry['detail']:.4f}{extra}"
    )


def _denoise_entry(
    run: QualityRun, bench_set: BenchSet, sigma: float | None, method: BenchMethod, mode: str, rows: list[dict]
) -> dict:
    entry = mean_entry(bench_set.name, bench_set.kind, sigma, method, mode, rows)
    calibration = (
        run.entry_reliability(rows) if run.entry_reliability is not None else None
    )  # images with a predicted gain (our models): how well it ranks and fits
    if calibration is not None:
        entry["reliability"] = calibration
    return entry


def run_quality(run: QualityRun) -> list[dict]:
    """All denoising (set, σ, method) entries; each holds means and the per-image rows."""
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
                    rows = evaluate_denoise(run, method, bench_set, sigma, sigma_arg, tag, crop_key)
                    entries.append(_denoise_entry(run, bench_set, sigma, method, mode, rows))
                    log_entry(run.log, entries[-1])
                if sigma is None and not other_noise and method.kind == "peer" and method.label in run.oracle:
                    entries.append(oracle_entry(run, method, bench_set))
                    run.log(f"  {method.label} ({entries[-1]['mode']}): PSNR {entries[-1]['psnr']:.2f} dB")
    return entries


def oracle_entry(run: QualityRun, method: BenchMethod, bench_set: BenchSet) -> dict:
    """The peer at the single grid σ with the best mean PSNR on the whole real set (knowing the truth)."""
    by_sigma = {}
    for s in ORACLE_GRID:
        by_sigma[s] = evaluate_denoise(run, method, bench_set, None, s, f"oracle-s{s:g}", None)
        run.log(f"    oracle grid σ={s:g}: {np.mean([r['psnr'] for r in by_sigma[s]]):.2f} dB")
    best = max(ORACLE_GRID, key=lambda s: np.mean([r["psnr"] for r in by_sigma[s]]))
    entry = _denoise_entry(run, bench_set, None, method, f"oracle σ={best:g}", by_sigma[best])
    entry["oracle_grid"] = {f"{s:g}": float(np.mean([r["psnr"] for r in by_sigma[s]])) for s in ORACLE_GRID}
    return entry


def run_task_quality(run: TaskRun) -> list[dict]:
    """All (set, method) entries of a restoration task other than denoising; means and per-image rows."""
    entries = []
    for task_set in run.sets:
        items = list(task_samples(task_set, run.limit))
        for method in run.methods:
            if method.kind == "oracle" and not task_set.has_kernels:
                run.log(f"{task_set.name}: {method.label} skipped (no true kernel for this set)")
                continue
            run.log(f"{task_set.name} {run.task}: {method.label} ...")
            rows = evaluate_task(run, method, task_set, items)
            entries.append(mean_entry(task_set.name, task_set.kind, None, method, MODE[method.kind], rows))
            log_entry(run.log, entries[-1])
    return entries


def run_detection(run: TaskRun) -> list[dict]:
    """``--task auto``: per all-in-one model, detection on the mixed set and the quality of its restorations."""
    entries = []
    items = [s for task_set in run.sets for s in task_samples(task_set, run.limit)]
    labels = list(RESTORE_TASKS)
    for method in run.methods:
        run.log(f"auto: {method.label} on {len(items)} images ...")
        rows = []
        for sample in items:
            result = run_restore(sample.degraded / 255.0, task="auto", model=method.engine_name, device=run.device)
            d = result.detection
            output = to_uint8(result.image.pixels, scale=1.0)
            rows.append(
                {
                    "image": sample.name,
                    "label": sample.label,
                    "detected": d.task,
                    "found": d.detected,
                    "probabilities": {k: round(v, 4) for k, v in d.probabilities.items()},
                    "strengths": {k: round(v, 4) for k, v in d.strengths.items()},
                    "model": result.model,
                    "detect_seconds": round(d.seconds, 4),
                    "input_psnr": psnr(sample.clean, to_uint8(sample.degraded)),
                    **score(sample.clean, output),
                }
            )
        confusion = {
            a: {b: sum(1 for r in rows if r["label"] == a and r["detected"] == b) for b in labels} for a in labels
        }
        per_label = {}
        for a in labels:
            mine = [r for r in rows if r["label"] == a]
            if mine:
                per_label[a] = {
                    "n": len(mine),
                    "accuracy": float(np.mean([r["detected"] == a for r in mine])),
                    "input_psnr": float(np.mean([r["input_psnr"] for r in mine])),
                    "psnr": float(np.mean([r["psnr"] for r in mine])),
                    "ssim": float(np.mean([r["ssim"] for r in mine])),
                }
        accuracy = float(np.mean([r["detected"] == r["label"] for r in rows])) if rows else 0.0
        entries.append(
            {
                "method": method.label,
                "engine": method.engine_name,
                "sets": [s.name for s in run.sets],
                "n_images": len(rows),
                "accuracy": accuracy,
                "labels": labels,
                "confusion": confusion,
                "per_label": per_label,
                "detect_seconds": float(np.mean([r["detect_seconds"] for r in rows])),
                "images": rows,
            }
        )
        run.log(f"  {method.label}: detection accuracy {100 * accuracy:.1f}% on {len(rows)} images")
    return entries
