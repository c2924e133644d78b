"""``restora bench --task deblur|derain|dehaze|lowlight|auto``: our models beside classical peers, same run.

Every method runs through :func:`restora.engine.run_restore` on the degraded image as a float array on [0, 1]
with the engine's default tile, as users run it; the output is clipped and rounded to 8 bits and scored by
:mod:`restora.eval.metrics` against the clean image (RGB PSNR, SSIM, detail; docs/conventions.md). Beside them,
labelled, the protocols of published figures: Y-channel PSNR/SSIM for deraining, and Levin et al.'s aligned
greyscale PSNR/SSIM (15-px border, best sub-pixel shift) on ``test/Levin``.

Methods (``--methods``): ``ours`` (every registered model of ours for the task; for ``auto`` every all-in-one
model), ``ours:NAME`` / a ``.safetensors`` path, a registered classical method of the task (``deconv-blind``,
``median``, ``guided``, ``dcp``, ``gamma``, ``clahe``, ``retinex``), the deblurring upper references
``rl-oracle`` and ``wiener-oracle`` (Richardson–Lucy / Wiener *given the true kernel*: run only where it is
known, never a usable setting) and ``identity`` (the degraded input). Classical peers' per-image scores are
cached as in the denoising benchmark (``<cache>/<method>-<set>-<task>.json``, keyed by the method's code and
library versions, the metrics, the clean and degraded images and the kernel).

``--task auto`` scores detection instead: each all-in-one model describes every image of a seeded mixed set of
single degradations (:mod:`restora.eval.task_sets`); the detected type is right when it is the one applied.
Results: accuracy, a confusion matrix (rows: applied, columns: detected) and the quality of ``--task auto``'s
restoration per applied type.
"""

from __future__ import annotations

import hashlib
import inspect
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np

from restora.eval.metrics import METRICS_VERSION, aligned_grey, gt_mean_psnr_ssim, psnr, psnr_ssim_y, score, to_uint8
from restora.eval.peers import ORACLES, BenchMethod
from restora.eval.runner import ScoreCache, score_samples
from restora.eval.task_sets import AUTO_DEGRADATIONS, BLUR_NOISE_SIGMA, TASK_SEED, TaskSample, TaskSet, task_samples
from restora.degrade.blur import shake_kernel
from restora.engine import deblur, filters, methods, run_restore
from restora.engine.catalogue import get_spec
from restora.engine.deblur import KernelGivenMethod
from restora.eval.speed import FAST_MP_PER_S, LARGE_SIZE, WARMUP_SIZE, speed_input
from restora.tasks import RESTORE_TASKS

DEFAULT_METHODS = {
    "deblur": "ours,deconv-blind,rl-oracle,wiener-oracle,identity",
    "derain": "ours,median,guided,identity",
    "dehaze": "ours,dcp,identity",
    "lowlight": "ours,gamma,clahe,retinex,identity",
    "auto": "ours",
}
MODE = {"ours": "blind", "peer": "blind", "oracle": "true kernel", "baseline": "input"}
# Published Rain100H figures (Y channel; all 100 test images; trained on real Rain100H training pairs, which we
# do not have). Only figures we could check against a public source are given a number.
PUBLISHED_RAIN100H = (
    {"method": "PReNet", "psnr_y": 29.46, "ssim_y": 0.899,
     "training": "RainTrainH: 1,254 of the 1,800 Rain100H training pairs (546 sharing backgrounds with the test set removed)",
     "source": "Ren et al., 'Progressive Image Deraining Networks: A Better and Simpler Baseline', CVPR 2019; "
               "github.com/csdwren/PReNet (figure as quoted in github.com/Algolzw/image-restoration-sde)"},
    {"method": "MSPFN", "psnr_y": None, "ssim_y": None,
     "training": "13,712 synthetic pairs from several sets",
     "source": "Jiang et al., 'Multi-Scale Progressive Fusion Network for Single Image Deraining', CVPR 2020 "
               "(arXiv:2003.10985), Rain100H row of its comparison table — not found in our reference corpus"},
    {"method": "RCDNet", "psnr_y": None, "ssim_y": None,
     "training": "Rain100H training pairs",
     "source": "Wang et al., 'A Model-Driven Deep Neural Network for Single Image Rain Removal', CVPR 2020 "
               "(arXiv:2005.01333), Rain100H row — not found in our reference corpus"},
)


@dataclass
class TaskRun:
    """What to run; ``crops`` images per set get side-by-side crop panels."""

    task: str
    sets: list[TaskSet]
    methods: list[BenchMethod]
    limit: int | None = None
    device: str = "auto"
    cache_dir: Path | None = None
    crops: int = 2
    log: Callable[[str], None] = print
    crop_panels: dict = field(default_factory=dict)


def oracle_method(name: str, kernel: np.ndarray):
    return KernelGivenMethod(name.removesuffix("-oracle"), kernel)


@cache
def peer_version(engine_name: str) -> str:
    """Fingerprint of a classical peer: its module's code and the versions of the libraries it calls."""
    from importlib.metadata import version

    import cv2

    if engine_name in ORACLES:
        modules = [deblur, filters, methods]
    else:
        method = get_spec(engine_name).load("cpu")
        modules = [sys.modules[type(method).__module__], filters, methods]
    h = hashlib.sha256(engine_name.encode())
    for module in modules:
        h.update(inspect.getsource(module).encode())
    h.update(f"{cv2.__version__}|{version('scikit-image')}|{np.__version__}".encode())
    return h.hexdigest()[:16]


# Bumped per task when its scoring gains a protocol (cached peer scores then lack it and are recomputed).
TASK_PROTOCOL = {"lowlight": 2}  # 2: GT-mean PSNR/SSIM


def _sample_key(version: str, sample: TaskSample, task: str) -> str:
    h = hashlib.sha256(f"{version}|{METRICS_VERSION}|task-protocol-{TASK_PROTOCOL.get(task, 1)}".encode())
    h.update(sample.clean.tobytes())
    h.update(np.ascontiguousarray(sample.degraded, np.float64).tobytes())
    if sample.kernel is not None:
        h.update(np.ascontiguousarray(sample.kernel, np.float32).tobytes())
    return h.hexdigest()[:24]


def task_score(task_set: TaskSet, sample: TaskSample, output: np.ndarray) -> dict:
    """RGB metrics plus the labelled protocols of published figures for this set."""
    row = score(sample.clean, output)
    if task_set.task == "derain":
        row.update(psnr_ssim_y(sample.clean, output))
    if task_set.task == "deblur" and task_set.kind == "pairs":
        row.update(aligned_grey(sample.clean, output))
    if task_set.task == "lowlight":
        row.update(gt_mean_psnr_ssim(sample.clean, output))
    return row


def evaluate_task(run: TaskRun, method: BenchMethod, task_set: TaskSet, items: list[TaskSample]) -> list[dict]:
    """Per-image rows of one method on one set; uses and fills the cache for classical peers."""
    use_cache = method.kind in ("peer", "oracle") and run.cache_dir is not None
    cache = ScoreCache(run.cache_dir, method.label, task_set.name, run.task) if use_cache else None
    version = peer_version(method.engine_name) if use_cache else ""

    def restore(sample: TaskSample):
        model = oracle_method(method.engine_name, sample.kernel) if method.kind == "oracle" else method.engine_name
        result = run_restore(sample.degraded / 255.0, task=run.task, model=model, sigma="auto", device=run.device,
                             self_ensemble=method.self_ensemble)
        return to_uint8(result.image.pixels, scale=1.0), {"seconds": round(result.seconds, 4)}

    return score_samples(items, method, cache, lambda s: _sample_key(version, s, run.task), restore,
                         lambda s, out: task_score(task_set, s, out), run.crop_panels,
                         (task_set.name, run.task), run.crops, input_label="input")


def _entry(task_set: TaskSet, method: BenchMethod, rows: list[dict]) -> dict:
    entry = {"set": task_set.name, "kind": task_set.kind, "sigma": None, "method": method.label,
             "engine": method.engine_name, "mode": MODE[method.kind]}
    for key in ("psnr", "ssim", "detail", "psnr_y", "ssim_y", "psnr_aligned", "ssim_aligned", "psnr_gtmean", "ssim_gtmean"):
        if rows and key in rows[0]:
            entry[key] = float(np.mean([r[key] for r in rows]))
    entry["n_images"] = len(rows)
    entry["images"] = rows
    return entry


def run_task_quality(run: TaskRun) -> list[dict]:
    """All (set, method) entries of a restoration task; each holds means and the per-image rows."""
    entries = []
    for task_set in run.sets:
        items = list(task_samples(task_set, run.limit))
        for method in run.methods:
            if method.kind == "oracle" and not task_set.has_kernels:
                run.log(f"{task_set.name}: {method.label} skipped (no true kernel for this set)")
                continue
            run.log(f"{task_set.name} {run.task}: {method.label} ...")
            entries.append(_entry(task_set, method, evaluate_task(run, method, task_set, items)))
            e = entries[-1]
            extra = "".join(f", {k} {e[k]:.2f}" for k in ("psnr_y", "psnr_aligned", "psnr_gtmean") if k in e)
            run.log(f"  {method.label} ({e['mode']}): PSNR {e['psnr']:.2f} dB, SSIM {e['ssim']:.4f}, "
                    f"detail {e['detail']:.4f}{extra}")
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
            rows.append({"image": sample.name, "label": sample.label, "detected": d.task, "found": d.detected,
                         "probabilities": {k: round(v, 4) for k, v in d.probabilities.items()},
                         "strengths": {k: round(v, 4) for k, v in d.strengths.items()}, "model": result.model,
                         "detect_seconds": round(d.seconds, 4), "input_psnr": psnr(sample.clean, to_uint8(sample.degraded)),
                         **score(sample.clean, output)})
        confusion = {a: {b: sum(1 for r in rows if r["label"] == a and r["detected"] == b) for b in labels} for a in labels}
        per_label = {}
        for a in labels:
            mine = [r for r in rows if r["label"] == a]
            if mine:
                per_label[a] = {"n": len(mine), "accuracy": float(np.mean([r["detected"] == a for r in mine])),
                                "input_psnr": float(np.mean([r["input_psnr"] for r in mine])),
                                "psnr": float(np.mean([r["psnr"] for r in mine])),
                                "ssim": float(np.mean([r["ssim"] for r in mine]))}
        accuracy = float(np.mean([r["detected"] == r["label"] for r in rows])) if rows else 0.0
        entries.append({"method": method.label, "engine": method.engine_name, "sets": [s.name for s in run.sets],
                        "n_images": len(rows), "accuracy": accuracy, "labels": labels, "confusion": confusion,
                        "per_label": per_label, "detect_seconds": float(np.mean([r["detect_seconds"] for r in rows])),
                        "images": rows})
        run.log(f"  {method.label}: detection accuracy {100 * accuracy:.1f}% on {len(rows)} images")
    return entries


def oracle_speed(name: str, sizes: list[int], threads: int, repeats: int, image_path: str | None, log=print) -> list[dict]:
    """Speed of a kernel-given peer, timed in this process (it cannot be loaded by name in a fresh one)."""
    import os
    import statistics

    method = oracle_method(name, shake_kernel(19, np.random.default_rng(0)))
    rows, last = [], None
    for size in sorted(sizes):
        if size >= LARGE_SIZE and (last is None or last <= FAST_MP_PER_S):
            log(f"speed {name} {size}²: skipped (slower than {FAST_MP_PER_S} MP/s)")
            continue
        x = speed_input(size, image_path)
        run_restore(x[:WARMUP_SIZE, :WARMUP_SIZE], task="deblur", model=method)
        seconds, cpu = [], []
        for _ in range(repeats):
            start, cpu_start = time.perf_counter(), time.process_time()
            run_restore(x, task="deblur", model=method)
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - cpu_start)
        median, cpu_median = statistics.median(seconds), statistics.median(cpu)
        last = size * size / 1e6 / median
        rows.append({"method": name, "size": size, "megapixels": size * size / 1e6, "seconds": median, "mp_per_s": last,
                     "runs": seconds, "cpu_seconds": cpu_median, "mp_per_cpu_s": size * size / 1e6 / max(cpu_median, 1e-9),
                     "peak_rss_mb": None, "base_rss_mb": None, "runtime": "numpy/scipy (scikit-image)",
                     "threads": threads, "device": "cpu", "tile": 0, "sigma": None,
                     "kernel": "19×19 camera shake (seed 0)", "load_average": os.getloadavg()[0]})
        log(f"speed {name} {size}²: {last:.3f} MP/s (in-process, 19×19 kernel)")
    return rows


def protocol(task: str, limit: int | None) -> dict:
    generators = {
        "deblur": f"MotionBlur() kernel (random camera-shake trajectory, 7–31 px), true convolution with reflected "
                  f"borders, then Gaussian noise σ={BLUR_NOISE_SIGMA} (0–255 scale)",
        "derain": "the 'rain' pipeline: Rain() streak layers and veil, JPEG with probability 0.3",
        "dehaze": "Haze(): I = J·t + A·(1 − t), smooth random t in [0.2, 0.95], airlight 0.7–1",
        "lowlight": "LowLight() then Underexpose() (the 'lowlight-dark' pipeline without JPEG)",
        "auto": f"256² crop at a seeded position per image, then each of: {AUTO_DEGRADATIONS}",
    }
    return {
        "synthetic": f"numpy.random.default_rng({TASK_SEED}) per (set, task); images in sorted file order; "
                     f"{generators[task]}; clipped and rounded to 8 bits",
        "pairs": "test/Levin: blurred/imI_kernelK_img.png against sharp/imI.png, kernel kK of kernels/levin09.npz "
                 "(flipped: convolution orientation); test/Rain100H: rainy/ against clean/",
        "scoring": "output clipped and rounded to 8 bits; RGB PSNR/SSIM/detail, no border crop, mean over images",
        "derain_y": "psnr_y/ssim_y: Y of MATLAB rgb2ycbcr (16–235), PSNR peak 255, the deraining papers' protocol",
        "levin_aligned": "psnr_aligned/ssim_aligned: Levin et al.'s comp_upto_shift protocol: BT.601 grey, 15-px "
                         "border cut, output shifted by the best dy, dx (integers in [−10, 10], then 0.25-px steps within ±1; bilinear)",
        "lowlight_gtmean": "psnr_gtmean/ssim_gtmean: the output scaled so its mean BT.601 grey equals the reference's "
                           "(the low-light papers' GT-mean protocol): restoration apart from the exposure guess",
        "limit": limit,
    }
